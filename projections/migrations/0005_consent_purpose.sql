-- SEC-5: the customers read model shows the purpose of her privacy-policy acceptance.
-- New versions get the column from schema.sql; versions that already exist get it here,
-- empty, which is also what a rebuild gives them (registrations recorded before the
-- purpose was asked carry none). The live view is re-pointed so it shows the column.
DO $$
DECLARE
    s record;
    live int;
BEGIN
    FOR s IN SELECT nspname FROM pg_namespace WHERE nspname ~ '^rm_customers_v[0-9]+$' LOOP
        EXECUTE format('ALTER TABLE %I.customers ADD COLUMN IF NOT EXISTS privacy_policy_purpose text',
                       s.nspname);
    END LOOP;
    SELECT live_version INTO live FROM projections.registry WHERE name = 'customers';
    IF live IS NOT NULL
       AND EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = 'rm_customers_v' || live)
       AND EXISTS (SELECT 1 FROM pg_views WHERE schemaname = 'rm' AND viewname = 'customers') THEN
        EXECUTE format('CREATE OR REPLACE VIEW rm.customers WITH (security_invoker = true) AS SELECT * FROM %I.customers',
                       'rm_customers_v' || live);
    END IF;
END $$;
