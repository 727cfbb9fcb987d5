-- Tables of one version of the customers read model; run with search_path set to the
-- version's schema. Every value is derived from events only (no now(), no random), so a
-- rebuild reproduces live exactly (G7).

CREATE TABLE customers (
    tenant_id              uuid NOT NULL,
    customer_id            uuid NOT NULL,
    version                bigint NOT NULL,
    name                   text NOT NULL,
    name_pinyin            text NOT NULL,
    name_initials          text NOT NULL,
    phone_hash             text NOT NULL,
    phone_tail_hash        text NOT NULL,
    phone_masked           text NOT NULL,
    id_number_hash         text,
    id_number_masked       text,
    email_masked           text,
    address_masked         text,
    gender                 text,
    birthday_masked        text,
    birth_month            smallint,
    source_channel         text NOT NULL,
    tags                   text[] NOT NULL,
    has_notes              boolean NOT NULL,
    has_allergies          boolean NOT NULL,
    has_conditions         boolean NOT NULL,
    privacy_policy_version text NOT NULL,
    marketing_consent      boolean NOT NULL,
    privacy_policy_purpose text,
    created_at             timestamptz NOT NULL,
    updated_at             timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, customer_id)
);
CREATE TABLE customer_history (
    tenant_id        uuid NOT NULL,
    customer_id      uuid NOT NULL,
    stream_version   bigint NOT NULL,
    seq              bigint NOT NULL,
    event_type       text NOT NULL,
    occurred_at      timestamptz NOT NULL,
    actor_account_id uuid,
    actor_role       text NOT NULL,
    changes          jsonb NOT NULL,
    reason           text,
    PRIMARY KEY (tenant_id, customer_id, stream_version)
);

CREATE TABLE checkpoint (
    id  int PRIMARY KEY CHECK (id = 1),
    seq bigint NOT NULL
);
INSERT INTO checkpoint VALUES (1, 0);
