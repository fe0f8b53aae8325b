-- 036_catalog_scan: new tables of sqp are registered without superuser too, and only user
-- tables of the data schema can be registered at all.
--
-- FIX 5 (continued): migration 031 creates the auto-registration event trigger only where the
-- role is superuser, and otherwise says in a NOTICE that "new sqp tables will be registered by
-- the runner's catalog scan instead". No such scan existed; from this migration on it does:
-- on every pass the runner looks for tables of the data schema it has not seen yet
-- (src/runner/catalog-scan.ts, one statement) and registers them through the same function
-- the trigger now calls, so both register a table exactly alike. Where the trigger exists the
-- scan does nothing, so a table is never registered by both.

-- The data schemas: the schemas whose tables are kept fresh. Only their tables can be
-- registered (by the trigger, the scan or the registerTable mutation).
CREATE OR REPLACE FUNCTION sqp.refresh_data_schemas() RETURNS TEXT[]
LANGUAGE sql IMMUTABLE AS $$ SELECT ARRAY['sqp'] $$;

-- Why a table may not be registered for refresh, or NULL when it may. One list for every
-- way of registering (the trigger, the catalog scan, registerTable):
--   system_table    the refresh system's own tables (and Prisma's bookkeeping, wherever it is);
--   system_schema   PostgreSQL's catalogs (pg_catalog, information_schema, pg_toast, pg_temp_n…;
--                   a user cannot create a schema named pg_*);
--   service_schema  sqp-refresh's own schemas: its working tables and the demo source;
--   other_schema    any other schema: not a data schema.
-- Immutable and one expression, so that PostgreSQL inlines it into the catalog scan.
CREATE OR REPLACE FUNCTION sqp.refresh_registration_refusal(p_schema TEXT, p_table TEXT) RETURNS TEXT
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE
        WHEN p_schema = ANY (sqp.refresh_data_schemas()) THEN
            CASE WHEN p_table IN ('refresh_config', 'refresh_audit_log', 'refresh_dependencies', 'refresh_data_quality',
                                  'refresh_checkpoints', 'refresh_dependency_guard', '_prisma_migrations')
                 THEN 'system_table' END
        WHEN p_schema IN ('pg_catalog', 'information_schema') OR p_schema LIKE 'pg\_%' THEN 'system_schema'
        WHEN p_schema IN ('sqp_refresh_work', 'sqp_demo') THEN 'service_schema'
        ELSE 'other_schema'
    END
$$;

-- Registers a table just created, as the auto-registration trigger of migration 031 always
-- has: enabled, every 24 hours, priority 100, first due in 24 hours, no sync params (it stays
-- UNCONFIGURED until someone gives it a source). Nothing happens for a relation that is not a
-- table (relkind r or p: what the trigger's object_type 'table' means), for a table that may
-- not be registered, or for one registered already. Returns whether it registered the table.
CREATE OR REPLACE FUNCTION sqp.register_created_table(p_relid OID) RETURNS BOOLEAN
LANGUAGE plpgsql AS $$
DECLARE
    rel RECORD;
BEGIN
    SELECT n.nspname, c.relname INTO rel
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.oid = p_relid AND c.relkind IN ('r', 'p');
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    IF sqp.refresh_registration_refusal(rel.nspname, rel.relname) IS NOT NULL THEN
        RETURN false;
    END IF;
    INSERT INTO sqp.refresh_config (table_schema, table_name, is_enabled, refresh_frequency_hours, priority, next_refresh_at)
    VALUES (rel.nspname, rel.relname, true, 24, 100, CURRENT_TIMESTAMP + INTERVAL '24 hours')
    ON CONFLICT (table_schema, table_name) DO NOTHING;
    RETURN FOUND;
END;
$$;

-- The trigger function of migration 031, now registering through the function above (same
-- behaviour: the same columns and defaults, the same tables skipped).
CREATE OR REPLACE FUNCTION sqp.auto_register_table_for_refresh()
RETURNS event_trigger AS $$
DECLARE
    obj record;
BEGIN
    FOR obj IN SELECT * FROM pg_event_trigger_ddl_commands()
    LOOP
        IF obj.command_tag IN ('CREATE TABLE', 'CREATE TABLE AS') AND obj.object_type = 'table' THEN
            PERFORM sqp.register_created_table(obj.objid);
        END IF;
    END LOOP;
END;
$$ LANGUAGE plpgsql;

-- The tables of the data schemas the catalog scan has already looked at, by oid. The trigger
-- registers a table once, when it is created; the scan matches that: a table is new only the
-- first time the scan sees it, so a renamed table is not registered again under its new name,
-- and a table whose config an operator deleted stays unregistered. Rows of dropped tables are
-- removed by the scan itself. Empty at first: the first scan after this migration registers
-- the tables created since 031 that its NOTICE promised to register (and also any other
-- unregistered table of sqp, e.g. one whose config was deleted before this migration).
CREATE TABLE IF NOT EXISTS sqp_refresh_work.catalog_scan_seen (
    relid OID PRIMARY KEY
);
