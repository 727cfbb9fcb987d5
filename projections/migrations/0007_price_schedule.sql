-- SVC-4: the catalogue's services show every price with its effective instant. Versions
-- that exist get the column (empty schedules: `projections rebuild catalogue` fills
-- them from the log), and the live view is re-pointed so it shows it.
DO $$
DECLARE
    s record;
    live int;
BEGIN
    FOR s IN SELECT nspname FROM pg_namespace WHERE nspname ~ '^rm_catalogue_v[0-9]+$' LOOP
        EXECUTE format('ALTER TABLE %I.services ADD COLUMN IF NOT EXISTS price_schedule jsonb NOT NULL DEFAULT ''[]''',
                       s.nspname);
    END LOOP;
    SELECT live_version INTO live FROM projections.registry WHERE name = 'catalogue';
    IF live IS NOT NULL
       AND EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = 'rm_catalogue_v' || live)
       AND EXISTS (SELECT 1 FROM pg_views WHERE schemaname = 'rm' AND viewname = 'services') THEN
        EXECUTE format('CREATE OR REPLACE VIEW rm.services WITH (security_invoker = true) AS SELECT * FROM %I.services',
                       'rm_catalogue_v' || live);
    END IF;
END $$;
