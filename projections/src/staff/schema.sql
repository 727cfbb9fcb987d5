-- Tables of one version of the staff read model (STF-1); run with search_path set to
-- the version's schema. Names are kept (searched, shown); phone and email only masked.

CREATE TABLE staff (
    tenant_id    uuid NOT NULL,
    staff_id     uuid NOT NULL,
    version      bigint NOT NULL,
    name         text NOT NULL,
    gender       text,
    phone_masked text,
    email_masked text,
    position     text NOT NULL,
    level        text NOT NULL,
    hire_date    date NOT NULL,
    skills       uuid[] NOT NULL,
    locations    uuid[] NOT NULL,
    account_id   uuid,
    active       boolean NOT NULL,
    created_at   timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, staff_id)
);

-- Every event of a record: who, when, which fields, why.
CREATE TABLE staff_history (
    tenant_id        uuid NOT NULL,
    staff_id         uuid NOT NULL,
    stream_version   bigint NOT NULL,
    event_type       text NOT NULL,
    occurred_at      timestamptz NOT NULL,
    actor_account_id uuid,
    actor_role       text NOT NULL,
    changed          text[] NOT NULL,
    reason           text,
    PRIMARY KEY (tenant_id, staff_id, stream_version)
);

CREATE TABLE checkpoint (
    id  int PRIMARY KEY CHECK (id = 1),
    seq bigint NOT NULL
);
INSERT INTO checkpoint VALUES (1, 0);
