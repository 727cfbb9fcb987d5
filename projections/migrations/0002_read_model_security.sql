-- Row-level security on every read-model table (SEC-2, DESIGN §5).
--
-- Read-model schemas and tables are created and owned by the administrator (the role of
-- the start-up migrations), never by a service's login role: the login roles own no
-- table, so they cannot ALTER a policy away, and they have no BYPASSRLS. Every table is
-- ENABLE + FORCE ROW LEVEL SECURITY:
--   * rows with a tenant_id are visible to belle_query and belle_projections only when
--     the transaction has set `belle.tenant_id` to that tenant (SET LOCAL / set_config
--     with is_local, so a pooled connection forgets it at commit);
--   * the projection workers write every tenant's rows, so belle_projections (and the
--     administrator, should it not be a superuser) also see all rows of a transaction
--     that has set `belle.projector = on`; belle_query has no such policy;
--   * tables without a tenant_id (a version's checkpoint) hold no tenant data.
-- With nothing set, both roles see no tenant row at all.

CREATE FUNCTION projections.secure_version(version_schema text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    t record;
    admin text := current_user;
BEGIN
    EXECUTE format('ALTER SCHEMA %I OWNER TO %I', version_schema, admin);
    EXECUTE format('GRANT USAGE ON SCHEMA %I TO belle_projections, belle_query', version_schema);
    FOR t IN
        SELECT c.relname,
               EXISTS (SELECT 1 FROM pg_attribute a
                       WHERE a.attrelid = c.oid AND a.attname = 'tenant_id'
                         AND NOT a.attisdropped) AS has_tenant
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = version_schema AND c.relkind IN ('r', 'p')
    LOOP
        EXECUTE format('ALTER TABLE %I.%I OWNER TO %I', version_schema, t.relname, admin);
        EXECUTE format('ALTER TABLE %I.%I ENABLE ROW LEVEL SECURITY', version_schema, t.relname);
        EXECUTE format('ALTER TABLE %I.%I FORCE ROW LEVEL SECURITY', version_schema, t.relname);
        EXECUTE format('DROP POLICY IF EXISTS tenant_rows ON %I.%I', version_schema, t.relname);
        EXECUTE format('DROP POLICY IF EXISTS projector_rows ON %I.%I', version_schema, t.relname);
        EXECUTE format('DROP POLICY IF EXISTS bookkeeping_rows ON %I.%I', version_schema, t.relname);
        EXECUTE format('DROP POLICY IF EXISTS bookkeeping_read ON %I.%I', version_schema, t.relname);
        IF t.has_tenant THEN
            EXECUTE format(
                'CREATE POLICY tenant_rows ON %I.%I TO belle_query, belle_projections
                 USING (tenant_id = nullif(current_setting(''belle.tenant_id'', true), '''')::uuid)
                 WITH CHECK (tenant_id = nullif(current_setting(''belle.tenant_id'', true), '''')::uuid)',
                version_schema, t.relname);
            EXECUTE format(
                'CREATE POLICY projector_rows ON %I.%I TO belle_projections, %I
                 USING (current_setting(''belle.projector'', true) = ''on'')
                 WITH CHECK (current_setting(''belle.projector'', true) = ''on'')',
                version_schema, t.relname, admin);
        ELSE
            EXECUTE format(
                'CREATE POLICY bookkeeping_rows ON %I.%I TO belle_projections, %I USING (true) WITH CHECK (true)',
                version_schema, t.relname, admin);
            EXECUTE format(
                'CREATE POLICY bookkeeping_read ON %I.%I FOR SELECT TO belle_query USING (true)',
                version_schema, t.relname);
        END IF;
        EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %I.%I TO belle_projections',
                       version_schema, t.relname);
        EXECUTE format('GRANT SELECT ON %I.%I TO belle_query', version_schema, t.relname);
    END LOOP;
END $$;
REVOKE ALL ON FUNCTION projections.secure_version(text) FROM PUBLIC;

-- The stable schema of views, and the views already there, change hands too; the views
-- check privileges and policies as the querying role (security_invoker), not as their
-- owner.
DO $$
DECLARE
    s record;
    v record;
BEGIN
    FOR s IN SELECT nspname FROM pg_namespace WHERE nspname ~ '^rm_[a-z_]+_v[0-9]+$' LOOP
        PERFORM projections.secure_version(s.nspname);
    END LOOP;
    EXECUTE format('ALTER SCHEMA rm OWNER TO %I', current_user);
    FOR v IN
        SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'rm' AND c.relkind = 'v'
    LOOP
        EXECUTE format('ALTER VIEW rm.%I OWNER TO %I', v.relname, current_user);
        EXECUTE format('ALTER VIEW rm.%I SET (security_invoker = true)', v.relname);
        EXECUTE format('GRANT SELECT ON rm.%I TO belle_projections, belle_query', v.relname);
    END LOOP;
    EXECUTE format('REVOKE CREATE ON DATABASE %I FROM belle_projections', current_database());
END $$;
ALTER DEFAULT PRIVILEGES FOR ROLE belle_projections IN SCHEMA rm REVOKE SELECT ON TABLES FROM belle_query;
GRANT USAGE ON SCHEMA rm TO belle_projections;

-- Versions come and go with the administrator now. The workers keep UPDATE only because
-- their share lock on the registry row (SELECT … FOR SHARE) requires it.
REVOKE INSERT ON projections.registry FROM belle_projections;
