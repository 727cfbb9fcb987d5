-- Event store (DESIGN §2) and feed (§3). Owned by the migrating role; the services
-- log in as roles that own nothing here and get only the privileges below.

DO $$ BEGIN CREATE ROLE belle_command LOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$;
DO $$ BEGIN CREATE ROLE belle_projections LOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$;
DO $$ BEGIN CREATE ROLE belle_query LOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$;
-- Roles are cluster-wide and may predate this database: make their attributes exact.
ALTER ROLE belle_command LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
ALTER ROLE belle_projections LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
ALTER ROLE belle_query LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;

CREATE SCHEMA es;

CREATE TABLE es.streams (
    stream_id   text PRIMARY KEY,
    stream_type text NOT NULL,
    tenant_id   uuid NOT NULL,
    version     bigint NOT NULL CHECK (version >= 0)
);

CREATE TABLE es.events (
    global_position bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tx_id           xid8 NOT NULL DEFAULT pg_current_xact_id(),
    event_id        uuid NOT NULL,
    tenant_id       uuid NOT NULL,
    stream_id       text NOT NULL,
    stream_type     text NOT NULL,
    stream_version  bigint NOT NULL CHECK (stream_version >= 1),
    event_type      text NOT NULL,
    schema_version  int NOT NULL,
    payload         jsonb NOT NULL,
    metadata        jsonb NOT NULL,
    recorded_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT events_event_id_key UNIQUE (event_id),
    CONSTRAINT events_stream_version_key UNIQUE (stream_id, stream_version)
);
-- The relay reads in commit-safe order: (tx_id, global_position).
CREATE INDEX events_tx_order ON es.events (tx_id, global_position);

-- Idempotent commands (G3): one row per command id, with the hash of the request that
-- produced it and the response that was returned.
CREATE TABLE es.commands (
    tenant_id    uuid NOT NULL,
    command_id   uuid NOT NULL,
    request_hash text NOT NULL,
    response     jsonb NOT NULL,
    recorded_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT commands_pkey PRIMARY KEY (tenant_id, command_id)
);

-- The feed: the one gap-free total order over committed events (G5).
CREATE TABLE es.feed (
    seq             bigint PRIMARY KEY CHECK (seq >= 1),
    global_position bigint NOT NULL UNIQUE REFERENCES es.events (global_position)
);

-- The relay's checkpoint (last event moved into the feed) and publish watermark.
CREATE TABLE es.relay_state (
    id            int PRIMARY KEY CHECK (id = 1),
    last_tx_id    xid8 NOT NULL,
    last_position bigint NOT NULL,
    last_seq      bigint NOT NULL,
    published_seq bigint NOT NULL
);
INSERT INTO es.relay_state VALUES (1, '0', 0, 0, 0);

-- G1: events and the feed are immutable, whoever asks.
CREATE FUNCTION es.reject_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'es.% is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER events_immutable BEFORE UPDATE OR DELETE ON es.events
    FOR EACH ROW EXECUTE FUNCTION es.reject_change();
CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON es.events
    FOR EACH STATEMENT EXECUTE FUNCTION es.reject_change();
CREATE TRIGGER feed_immutable BEFORE UPDATE OR DELETE ON es.feed
    FOR EACH ROW EXECUTE FUNCTION es.reject_change();
CREATE TRIGGER feed_no_truncate BEFORE TRUNCATE ON es.feed
    FOR EACH STATEMENT EXECUTE FUNCTION es.reject_change();

GRANT USAGE ON SCHEMA es TO belle_command, belle_projections, belle_query;
GRANT SELECT, INSERT ON es.events, es.feed, es.commands TO belle_command;
GRANT SELECT, INSERT, UPDATE ON es.streams TO belle_command;
GRANT SELECT, UPDATE ON es.relay_state TO belle_command;
GRANT SELECT ON es.events, es.feed, es.streams, es.relay_state TO belle_projections, belle_query;
