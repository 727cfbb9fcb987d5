-- Command-side tables written in the same transaction as events (DESIGN §2: consistency
-- rows). They hold no plaintext personal data: logins and phones appear only as
-- blind indexes (HMAC with the tenant's index key).

CREATE SCHEMA iam;

CREATE TABLE iam.tenants (
    tenant_id  uuid PRIMARY KEY,
    slug       text NOT NULL CONSTRAINT tenants_slug_key UNIQUE,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE iam.credentials (
    tenant_id     uuid NOT NULL REFERENCES iam.tenants (tenant_id),
    login_hash    text NOT NULL,
    account_id    uuid NOT NULL UNIQUE,
    password_hash text NOT NULL,
    role          text NOT NULL,
    active        boolean NOT NULL DEFAULT true,
    created_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT credentials_pkey PRIMARY KEY (tenant_id, login_hash)
);

CREATE SCHEMA guard;

-- CUS-2: one customer per phone number within a tenant, enforced under concurrency.
CREATE TABLE guard.customer_phones (
    tenant_id   uuid NOT NULL,
    phone_hash  text NOT NULL,
    customer_id uuid NOT NULL,
    CONSTRAINT customer_phones_pkey PRIMARY KEY (tenant_id, phone_hash)
);

GRANT USAGE ON SCHEMA iam, guard TO belle_command;
GRANT SELECT, INSERT, UPDATE ON iam.tenants, iam.credentials TO belle_command;
GRANT SELECT, INSERT, DELETE ON guard.customer_phones TO belle_command;
