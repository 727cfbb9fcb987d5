-- Projection registry: which version of each read model is live. Versions live in
-- their own schemas (`rm_<name>_v<N>`), owned by belle_projections; the stable schema
-- `rm` holds views onto the live version, so a rebuild switches by replacing views.

CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE SCHEMA projections;
CREATE TABLE projections.registry (
    name         text PRIMARY KEY,
    live_version int NOT NULL,
    switched_at  timestamptz NOT NULL DEFAULT now()
);

CREATE SCHEMA rm AUTHORIZATION belle_projections;

DO $$ BEGIN
    EXECUTE format('GRANT CREATE ON DATABASE %I TO belle_projections', current_database());
END $$;

GRANT USAGE ON SCHEMA projections TO belle_projections, belle_query;
GRANT SELECT, INSERT, UPDATE ON projections.registry TO belle_projections;
GRANT SELECT ON projections.registry TO belle_query;
GRANT USAGE ON SCHEMA rm TO belle_query;
ALTER DEFAULT PRIVILEGES FOR ROLE belle_projections IN SCHEMA rm GRANT SELECT ON TABLES TO belle_query;
