-- SVC-2: the catalogue read model gained its services and the public salon directory.
-- New versions get them from schema.sql; a catalogue version created before (with
-- categories only) gets them here, with their policies and grants, and the views of the
-- live version are made. Its rows fill on the next `projections rebuild catalogue`
-- (services and salons created before this migration are in the log, not yet here).
DO $$
DECLARE
    s record;
    live int;
BEGIN
    FOR s IN SELECT nspname FROM pg_namespace WHERE nspname ~ '^rm_catalogue_v[0-9]+$' LOOP
        EXECUTE format('CREATE TABLE IF NOT EXISTS %I.services (
            tenant_id uuid NOT NULL, service_id uuid NOT NULL, version bigint NOT NULL,
            category_id uuid NOT NULL, name text NOT NULL, published boolean NOT NULL,
            details jsonb NOT NULL, created_at timestamptz NOT NULL,
            updated_at timestamptz NOT NULL, PRIMARY KEY (tenant_id, service_id))', s.nspname);
        EXECUTE format('CREATE TABLE IF NOT EXISTS %I.salon_directory (
            slug text PRIMARY KEY, salon_id uuid NOT NULL UNIQUE, name text NOT NULL)', s.nspname);
        PERFORM projections.secure_version(s.nspname);
    END LOOP;
    SELECT live_version INTO live FROM projections.registry WHERE name = 'catalogue';
    IF live IS NOT NULL AND EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = 'rm_catalogue_v' || live) THEN
        EXECUTE format('CREATE OR REPLACE VIEW rm.services WITH (security_invoker = true) AS SELECT * FROM %I.services',
                       'rm_catalogue_v' || live);
        EXECUTE format('CREATE OR REPLACE VIEW rm.salon_directory WITH (security_invoker = true) AS SELECT * FROM %I.salon_directory',
                       'rm_catalogue_v' || live);
        GRANT SELECT ON rm.services, rm.salon_directory TO belle_projections, belle_query;
    END IF;
END $$;
