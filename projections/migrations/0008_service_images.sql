-- Issue 4 item 2: the catalogue read model lists each service's images. New versions
-- get the table from schema.sql; a catalogue version created before gets it here, with
-- its index, policies and grants, and the live version its view. Nothing to rebuild:
-- no image event predates this migration, so the table is complete empty.
DO $$
DECLARE
    s record;
    live int;
BEGIN
    FOR s IN SELECT nspname FROM pg_namespace WHERE nspname ~ '^rm_catalogue_v[0-9]+$' LOOP
        EXECUTE format('CREATE TABLE IF NOT EXISTS %I.service_images (
            tenant_id uuid NOT NULL, image_id uuid NOT NULL, service_id uuid NOT NULL,
            position bigint NOT NULL, content_type text NOT NULL, size int NOT NULL,
            sha256 text NOT NULL, alt text, PRIMARY KEY (tenant_id, image_id))', s.nspname);
        EXECUTE format('CREATE INDEX IF NOT EXISTS service_images_service
            ON %I.service_images (tenant_id, service_id, position)', s.nspname);
        PERFORM projections.secure_version(s.nspname);
    END LOOP;
    SELECT live_version INTO live FROM projections.registry WHERE name = 'catalogue';
    IF live IS NOT NULL AND EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = 'rm_catalogue_v' || live) THEN
        EXECUTE format('CREATE OR REPLACE VIEW rm.service_images WITH (security_invoker = true) AS SELECT * FROM %I.service_images',
                       'rm_catalogue_v' || live);
        GRANT SELECT ON rm.service_images TO belle_projections, belle_query;
    END IF;
END $$;
