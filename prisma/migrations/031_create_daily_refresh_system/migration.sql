-- 031_create_daily_refresh_system: the five tables of SEED-daily-refresh-schema.md, their
-- triggers and the initial registration, with the seed's defects fixed. Each fix is marked
-- "FIX n" and says why (n follows the list in DESIGN.md; later numbers are ours).

CREATE SCHEMA IF NOT EXISTS sqp;

-- ---------------------------------------------------------------------------------------
-- 1. refresh_config
-- ---------------------------------------------------------------------------------------
CREATE TABLE sqp.refresh_config (
    id SERIAL PRIMARY KEY,
    table_schema TEXT NOT NULL,
    table_name TEXT NOT NULL,
    is_enabled BOOLEAN DEFAULT true,
    -- FIX 6: a frequency below one hour (or negative) would make a table due forever.
    refresh_frequency_hours INTEGER DEFAULT 24 CHECK (refresh_frequency_hours >= 1),
    -- FIX 7: priorities are compared, so bound them to a range tooling can rely on.
    priority INTEGER DEFAULT 100 CHECK (priority BETWEEN 0 AND 1000),
    last_refresh_at TIMESTAMP WITH TIME ZONE,
    next_refresh_at TIMESTAMP WITH TIME ZONE,
    custom_sync_params JSONB DEFAULT '{}',
    -- FIX 4: derived from sqp.refresh_dependencies (the truth) by the triggers below.
    -- Writing it is still allowed, and is translated into dependency rows, so the two
    -- can never disagree.
    dependencies TEXT[] DEFAULT '{}',
    created_at TIMESTAMP WITH TIME ZONE DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMP WITH TIME ZONE DEFAULT CURRENT_TIMESTAMP,
    UNIQUE(table_schema, table_name)
);

CREATE INDEX idx_refresh_config_next_refresh ON sqp.refresh_config(next_refresh_at) WHERE is_enabled = true;
CREATE INDEX idx_refresh_config_priority ON sqp.refresh_config(priority DESC) WHERE is_enabled = true;

-- ---------------------------------------------------------------------------------------
-- 2. refresh_audit_log (one row per refresh run)
-- ---------------------------------------------------------------------------------------
CREATE TABLE sqp.refresh_audit_log (
    id SERIAL PRIMARY KEY,
    -- FIX 8: the seed's plain REFERENCES made a config with history impossible to delete.
    -- The audit trail outlives its config: it keeps table_schema/table_name, loses the link.
    refresh_config_id INTEGER REFERENCES sqp.refresh_config(id) ON DELETE SET NULL,
    table_schema TEXT NOT NULL,
    table_name TEXT NOT NULL,
    refresh_started_at TIMESTAMP WITH TIME ZONE NOT NULL,
    refresh_completed_at TIMESTAMP WITH TIME ZONE,
    status TEXT CHECK (status IN ('running', 'success', 'failed', 'warning')),
    rows_processed INTEGER,
    rows_inserted INTEGER,
    rows_updated INTEGER,
    rows_deleted INTEGER,
    execution_time_ms INTEGER,
    memory_used_mb DECIMAL(10,2),
    error_message TEXT,
    error_details JSONB,
    bigquery_job_id TEXT,
    sync_metadata JSONB DEFAULT '{}',
    created_at TIMESTAMP WITH TIME ZONE DEFAULT CURRENT_TIMESTAMP
);

CREATE INDEX idx_audit_log_status_time ON sqp.refresh_audit_log(status, refresh_started_at DESC);
CREATE INDEX idx_audit_log_table ON sqp.refresh_audit_log(table_schema, table_name, refresh_started_at DESC);
CREATE INDEX idx_audit_log_config_id ON sqp.refresh_audit_log(refresh_config_id, refresh_started_at DESC);

-- ---------------------------------------------------------------------------------------
-- 3. refresh_dependencies (parent → dependent; the dependent is built from the parent)
-- ---------------------------------------------------------------------------------------
CREATE TABLE sqp.refresh_dependencies (
    id SERIAL PRIMARY KEY,
    parent_config_id INTEGER REFERENCES sqp.refresh_config(id) ON DELETE CASCADE,
    dependent_config_id INTEGER REFERENCES sqp.refresh_config(id) ON DELETE CASCADE,
    dependency_type TEXT DEFAULT 'hard' CHECK (dependency_type IN ('hard', 'soft')),
    created_at TIMESTAMP WITH TIME ZONE DEFAULT CURRENT_TIMESTAMP,
    UNIQUE(parent_config_id, dependent_config_id),
    -- FIX 9: a table cannot depend on itself (the shortest cycle; longer ones: trigger below).
    CONSTRAINT refresh_dependencies_no_self_edge CHECK (parent_config_id <> dependent_config_id)
);

CREATE INDEX idx_dependencies_parent ON sqp.refresh_dependencies(parent_config_id);
CREATE INDEX idx_dependencies_dependent ON sqp.refresh_dependencies(dependent_config_id);

-- ---------------------------------------------------------------------------------------
-- 4. refresh_data_quality
-- ---------------------------------------------------------------------------------------
CREATE TABLE sqp.refresh_data_quality (
    id SERIAL PRIMARY KEY,
    -- FIX 8 (continued): metrics belong to their run and go with it.
    audit_log_id INTEGER REFERENCES sqp.refresh_audit_log(id) ON DELETE CASCADE,
    metric_name TEXT NOT NULL,
    metric_value DECIMAL,
    expected_value DECIMAL,
    threshold_min DECIMAL,
    threshold_max DECIMAL,
    is_within_threshold BOOLEAN,
    created_at TIMESTAMP WITH TIME ZONE DEFAULT CURRENT_TIMESTAMP
);

CREATE INDEX idx_quality_audit_id ON sqp.refresh_data_quality(audit_log_id);
CREATE INDEX idx_quality_threshold ON sqp.refresh_data_quality(is_within_threshold, created_at DESC);

-- ---------------------------------------------------------------------------------------
-- 5. refresh_checkpoints
-- ---------------------------------------------------------------------------------------
CREATE TABLE sqp.refresh_checkpoints (
    id SERIAL PRIMARY KEY,
    function_name TEXT NOT NULL,
    table_schema TEXT NOT NULL,
    table_name TEXT NOT NULL,
    checkpoint_data JSONB NOT NULL,
    last_processed_row BIGINT,
    total_rows BIGINT,
    status TEXT CHECK (status IN ('active', 'completed', 'expired')),
    created_at TIMESTAMP WITH TIME ZONE DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMP WITH TIME ZONE DEFAULT CURRENT_TIMESTAMP,
    expires_at TIMESTAMP WITH TIME ZONE DEFAULT (CURRENT_TIMESTAMP + INTERVAL '1 hour')
    -- FIX 1: the seed's `UNIQUE(...) WHERE status = 'active'` is not valid in a table
    -- constraint; the partial unique index below says the same thing in valid PostgreSQL.
);

CREATE UNIQUE INDEX uq_checkpoints_one_active
    ON sqp.refresh_checkpoints(function_name, table_schema, table_name)
    WHERE status = 'active';
CREATE INDEX idx_checkpoints_active ON sqp.refresh_checkpoints(function_name, status) WHERE status = 'active';
CREATE INDEX idx_checkpoints_expired ON sqp.refresh_checkpoints(expires_at) WHERE status = 'active';

-- Marks active checkpoints past their expiry as expired. Callable on its own (the runner
-- calls it on every tick) and returns how many it expired.
CREATE OR REPLACE FUNCTION sqp.expire_checkpoints()
RETURNS INTEGER AS $$
DECLARE
    n INTEGER;
BEGIN
    UPDATE sqp.refresh_checkpoints
    SET status = 'expired'
    WHERE status = 'active'
    AND expires_at < CURRENT_TIMESTAMP;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END;
$$ LANGUAGE plpgsql;

-- FIX 3: the seed defined this trigger function and attached it to nothing, so nothing ever
-- expired. It now runs BEFORE each insert: an expired-but-still-'active' checkpoint is marked
-- expired first, so it can never block a new active checkpoint through the unique index.
CREATE OR REPLACE FUNCTION sqp.cleanup_expired_checkpoints()
RETURNS TRIGGER AS $$
BEGIN
    PERFORM sqp.expire_checkpoints();
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER cleanup_expired_checkpoints
BEFORE INSERT ON sqp.refresh_checkpoints
FOR EACH ROW
EXECUTE FUNCTION sqp.cleanup_expired_checkpoints();

-- ---------------------------------------------------------------------------------------
-- Timestamps
-- ---------------------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION sqp.update_refresh_config_timestamp()
RETURNS TRIGGER AS $$
BEGIN
    NEW.updated_at = CURRENT_TIMESTAMP;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER update_refresh_config_timestamp
BEFORE UPDATE ON sqp.refresh_config
FOR EACH ROW
EXECUTE FUNCTION sqp.update_refresh_config_timestamp();

-- FIX 10: refresh_checkpoints has an updated_at too, and the seed never moved it.
CREATE TRIGGER update_refresh_checkpoints_timestamp
BEFORE UPDATE ON sqp.refresh_checkpoints
FOR EACH ROW
EXECUTE FUNCTION sqp.update_refresh_config_timestamp();

-- ---------------------------------------------------------------------------------------
-- FIX 4: one truth for dependencies. refresh_dependencies holds the edges; the array
-- refresh_config.dependencies is recomputed from them, and writing the array rewrites the
-- edges. Both directions converge in one round: the recomputed array equals what was written
-- (in canonical form: bare name for the same schema, schema.name otherwise, sorted).
-- ---------------------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION sqp.derived_dependencies(p_config_id INTEGER)
RETURNS TEXT[] AS $$
    SELECT COALESCE(array_agg(
               CASE WHEN p.table_schema = d.table_schema THEN p.table_name
                    ELSE p.table_schema || '.' || p.table_name END
               ORDER BY p.table_schema, p.table_name), '{}')
    FROM sqp.refresh_config d
    JOIN sqp.refresh_dependencies e ON e.dependent_config_id = d.id
    JOIN sqp.refresh_config p ON p.id = e.parent_config_id
    WHERE d.id = p_config_id;
$$ LANGUAGE sql STABLE;

CREATE OR REPLACE FUNCTION sqp.sync_dependencies_array(p_config_id INTEGER)
RETURNS VOID AS $$
BEGIN
    UPDATE sqp.refresh_config c
    SET dependencies = sqp.derived_dependencies(c.id)
    WHERE c.id = p_config_id
    AND c.dependencies IS DISTINCT FROM sqp.derived_dependencies(c.id);
END;
$$ LANGUAGE plpgsql;

-- Edges changed → recompute the arrays of the dependents involved.
CREATE OR REPLACE FUNCTION sqp.refresh_dependencies_changed()
RETURNS TRIGGER AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        PERFORM sqp.sync_dependencies_array(OLD.dependent_config_id);
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        PERFORM sqp.sync_dependencies_array(NEW.dependent_config_id);
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER refresh_dependencies_sync_array
AFTER INSERT OR UPDATE OR DELETE ON sqp.refresh_dependencies
FOR EACH ROW
EXECUTE FUNCTION sqp.refresh_dependencies_changed();

-- Array written (or a config renamed) → rewrite edges / recompute arrays.
CREATE OR REPLACE FUNCTION sqp.refresh_config_dependencies_written()
RETURNS TRIGGER AS $$
DECLARE
    wanted INTEGER[];
    missing TEXT;
BEGIN
    IF TG_OP = 'UPDATE' AND (OLD.table_schema, OLD.table_name) IS DISTINCT FROM (NEW.table_schema, NEW.table_name) THEN
        -- A renamed parent changes how its dependents spell it.
        PERFORM sqp.sync_dependencies_array(e.dependent_config_id)
        FROM sqp.refresh_dependencies e WHERE e.parent_config_id = NEW.id;
    END IF;

    IF TG_OP = 'UPDATE' AND NEW.dependencies IS NOT DISTINCT FROM OLD.dependencies THEN
        -- Renamed or moved, array not written: the edges stay the truth; respell the array
        -- relative to the (possibly new) schema instead of re-reading the old spelling.
        PERFORM sqp.sync_dependencies_array(NEW.id);
        RETURN NULL;
    END IF;

    IF NEW.dependencies IS NOT DISTINCT FROM sqp.derived_dependencies(NEW.id) THEN
        RETURN NULL;
    END IF;

    -- Each entry is `table` (same schema as the config) or `schema.table`.
    SELECT n INTO missing
    FROM unnest(COALESCE(NEW.dependencies, '{}')) AS n
    WHERE NOT EXISTS (
        SELECT 1 FROM sqp.refresh_config p
        WHERE (p.table_schema, p.table_name) =
              (CASE WHEN position('.' IN n) > 0 THEN split_part(n, '.', 1) ELSE NEW.table_schema END,
               CASE WHEN position('.' IN n) > 0 THEN substr(n, position('.' IN n) + 1) ELSE n END))
    LIMIT 1;
    IF missing IS NOT NULL THEN
        RAISE EXCEPTION 'refresh_config.dependencies of %.%: % is not a registered table',
            NEW.table_schema, NEW.table_name, missing
            USING ERRCODE = 'foreign_key_violation';
    END IF;

    SELECT COALESCE(array_agg(p.id), '{}') INTO wanted
    FROM unnest(COALESCE(NEW.dependencies, '{}')) AS n
    JOIN sqp.refresh_config p
      ON (p.table_schema, p.table_name) =
         (CASE WHEN position('.' IN n) > 0 THEN split_part(n, '.', 1) ELSE NEW.table_schema END,
          CASE WHEN position('.' IN n) > 0 THEN substr(n, position('.' IN n) + 1) ELSE n END);

    DELETE FROM sqp.refresh_dependencies
    WHERE dependent_config_id = NEW.id AND NOT (parent_config_id = ANY (wanted));
    INSERT INTO sqp.refresh_dependencies (parent_config_id, dependent_config_id)
    SELECT DISTINCT w, NEW.id FROM unnest(wanted) AS w
    ON CONFLICT (parent_config_id, dependent_config_id) DO NOTHING;
    -- Canonical spelling, in case the edges were already as wanted.
    PERFORM sqp.sync_dependencies_array(NEW.id);
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER refresh_config_dependencies_written
AFTER INSERT OR UPDATE OF dependencies, table_schema, table_name ON sqp.refresh_config
FOR EACH ROW
EXECUTE FUNCTION sqp.refresh_config_dependencies_written();

-- ---------------------------------------------------------------------------------------
-- FIX 9 (continued): dependency cycles are refused by the database, whoever writes them.
-- Writers are serialised on a guard row, so two concurrent inserts (A→B and B→A) cannot
-- each miss the other's edge, whatever their isolation level.
-- ---------------------------------------------------------------------------------------
-- Every writer of an edge updates this one row first. READ COMMITTED writers queue on its row
-- lock and then walk the graph with a fresh snapshot; a REPEATABLE READ or SERIALIZABLE writer
-- whose snapshot predates another writer's commit gets a serialization failure (40001, retry)
-- instead of walking a graph that misses that writer's edge.
CREATE TABLE sqp.refresh_dependency_guard (
    id BOOLEAN PRIMARY KEY DEFAULT true CHECK (id),
    writes BIGINT NOT NULL DEFAULT 0
);
INSERT INTO sqp.refresh_dependency_guard DEFAULT VALUES;

CREATE OR REPLACE FUNCTION sqp.refuse_dependency_cycle()
RETURNS TRIGGER AS $$
DECLARE
    cycle TEXT;
BEGIN
    UPDATE sqp.refresh_dependency_guard SET writes = writes + 1;
    -- Walk from the new dependent down to its dependents; reaching the new parent closes a cycle.
    WITH RECURSIVE walk(id, path) AS (
        SELECT NEW.dependent_config_id, ARRAY[NEW.parent_config_id, NEW.dependent_config_id]
        UNION ALL
        SELECT e.dependent_config_id, w.path || e.dependent_config_id
        FROM walk w
        JOIN sqp.refresh_dependencies e ON e.parent_config_id = w.id
        WHERE e.id IS DISTINCT FROM NEW.id
        AND NOT (e.dependent_config_id = ANY (w.path[2:]))
    )
    SELECT string_agg(c.table_schema || '.' || c.table_name, ' -> ' ORDER BY p.ord)
    INTO cycle
    FROM (SELECT path FROM walk WHERE id = NEW.parent_config_id LIMIT 1) w,
         unnest(w.path) WITH ORDINALITY AS p(config_id, ord)
    JOIN sqp.refresh_config c ON c.id = p.config_id;
    IF cycle IS NOT NULL THEN
        RAISE EXCEPTION 'refresh dependency would create a cycle: %', cycle
            USING ERRCODE = 'check_violation', DETAIL = cycle,
                  CONSTRAINT = 'refresh_dependencies_no_cycle';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER refresh_dependencies_no_cycle
BEFORE INSERT OR UPDATE OF parent_config_id, dependent_config_id ON sqp.refresh_dependencies
FOR EACH ROW
EXECUTE FUNCTION sqp.refuse_dependency_cycle();

-- ---------------------------------------------------------------------------------------
-- Auto-registration of new tables in sqp
-- ---------------------------------------------------------------------------------------
-- FIX 2: the seed registered `obj.object_identity::regclass::text`, which is `sqp.name`, not
-- `name`, and it registered every table created in sqp, including the refresh system's own.
-- The bare relation name now comes from pg_class, and the system's tables are skipped.
CREATE OR REPLACE FUNCTION sqp.auto_register_table_for_refresh()
RETURNS event_trigger AS $$
DECLARE
    obj record;
    rel_name TEXT;
BEGIN
    FOR obj IN SELECT * FROM pg_event_trigger_ddl_commands()
    LOOP
        IF obj.command_tag IN ('CREATE TABLE', 'CREATE TABLE AS')
           AND obj.schema_name = 'sqp'
           AND obj.object_type = 'table' THEN

            SELECT c.relname INTO rel_name FROM pg_class c WHERE c.oid = obj.objid;
            CONTINUE WHEN rel_name IS NULL
                OR rel_name IN ('refresh_config', 'refresh_audit_log', 'refresh_dependencies',
                                'refresh_data_quality', 'refresh_checkpoints', 'refresh_dependency_guard',
                                '_prisma_migrations');

            INSERT INTO sqp.refresh_config (
                table_schema,
                table_name,
                is_enabled,
                refresh_frequency_hours,
                priority,
                next_refresh_at
            ) VALUES (
                obj.schema_name,
                rel_name,
                true,
                24,
                100,
                CURRENT_TIMESTAMP + INTERVAL '24 hours'
            )
            ON CONFLICT (table_schema, table_name) DO NOTHING;
        END IF;
    END LOOP;
END;
$$ LANGUAGE plpgsql;

-- FIX 5: CREATE EVENT TRIGGER needs superuser. On managed databases (Supabase, RDS) the role
-- lacks it; the migration must still apply, so it says so in a NOTICE and the runner
-- registers new tables itself by scanning the catalog.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = current_user AND rolsuper) THEN
        DROP EVENT TRIGGER IF EXISTS auto_register_refresh_tables;
        CREATE EVENT TRIGGER auto_register_refresh_tables
        ON ddl_command_end
        WHEN TAG IN ('CREATE TABLE', 'CREATE TABLE AS')
        EXECUTE FUNCTION sqp.auto_register_table_for_refresh();
    ELSE
        RAISE NOTICE 'sqp-refresh: role % may not create event triggers (needs superuser); new sqp tables will be registered by the runner''s catalog scan instead', current_user;
    END IF;
EXCEPTION WHEN insufficient_privilege THEN
    RAISE NOTICE 'sqp-refresh: could not create the event trigger auto_register_refresh_tables (%); new sqp tables will be registered by the runner''s catalog scan instead', SQLERRM;
END;
$$;

-- ---------------------------------------------------------------------------------------
-- Initial data population (as the seed, unchanged in substance)
-- ---------------------------------------------------------------------------------------
INSERT INTO sqp.refresh_config (table_schema, table_name, priority, next_refresh_at)
SELECT
    'sqp' as table_schema,
    tablename as table_name,
    CASE
        WHEN tablename LIKE '%_data' THEN 90  -- Higher priority for data tables
        WHEN tablename LIKE '%summary%' THEN 80  -- Medium priority for summaries
        ELSE 70  -- Lower priority for others
    END as priority,
    CURRENT_TIMESTAMP + INTERVAL '1 hour' as next_refresh_at
FROM pg_tables
WHERE schemaname = 'sqp'
AND tablename IN (
    'asin_performance_data',
    'search_query_performance',
    'search_performance_summary',
    'daily_sqp_data',
    'weekly_summary',
    'monthly_summary',
    'quarterly_summary',
    'yearly_summary'
)
ON CONFLICT (table_schema, table_name) DO NOTHING;

INSERT INTO sqp.refresh_dependencies (parent_config_id, dependent_config_id)
SELECT
    p.id as parent_config_id,
    d.id as dependent_config_id
FROM sqp.refresh_config p
CROSS JOIN sqp.refresh_config d
WHERE p.table_name = 'asin_performance_data'
AND d.table_name IN ('search_performance_summary', 'weekly_summary', 'monthly_summary')
ON CONFLICT DO NOTHING;
