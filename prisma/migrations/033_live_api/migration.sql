-- 033_live_api: what the live API needs from the database.
--
-- 1. Refresh requests. forceRefresh may ask for a mode or for no cascade; the replica that
--    claims the table reads (and removes) the request in the same statement as the claim, so
--    a request is used exactly once even when the replica that took it is not the one that
--    received the mutation.
CREATE TABLE IF NOT EXISTS sqp_refresh_work.refresh_requests (
    config_id INTEGER PRIMARY KEY REFERENCES sqp.refresh_config(id) ON DELETE CASCADE,
    mode TEXT CHECK (mode IN ('full', 'incremental')),
    cascade BOOLEAN NOT NULL DEFAULT true,
    requested_by TEXT,
    requested_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now()
);

-- 2. Replicas. Each runner records itself on every tick, so runnerStatus can say which
--    replicas are alive and what they run, whichever replica answers the query.
CREATE TABLE IF NOT EXISTS sqp_refresh_work.replicas (
    worker_name TEXT PRIMARY KEY,
    started_at TIMESTAMP WITH TIME ZONE NOT NULL,
    last_seen_at TIMESTAMP WITH TIME ZONE NOT NULL,
    last_tick_at TIMESTAMP WITH TIME ZONE,
    last_tick_ms DOUBLE PRECISION,
    in_flight JSONB NOT NULL DEFAULT '[]'
);

-- 3. Config changes become events on every replica, whoever made them (a mutation, the
--    runner's cascade excluded, or an operator's psql). Only what a person changes counts:
--    next/last refresh times move on every run and are not config changes.
CREATE OR REPLACE FUNCTION sqp_refresh_work.notify_config_changed()
RETURNS TRIGGER AS $$
DECLARE
    r RECORD;
    fields TEXT[] := ARRAY[]::TEXT[];
BEGIN
    IF TG_TABLE_NAME = 'refresh_dependencies' THEN
        r := COALESCE(NEW, OLD);
        SELECT c.id, c.table_schema, c.table_name INTO r FROM sqp.refresh_config c WHERE c.id = r.dependent_config_id;
        IF r.id IS NULL THEN RETURN NULL; END IF;
        fields := ARRAY['dependencies'];
    ELSE
        r := COALESCE(NEW, OLD);
        IF TG_OP = 'UPDATE' THEN
            IF NEW.is_enabled IS DISTINCT FROM OLD.is_enabled THEN fields := array_append(fields, 'isEnabled'); END IF;
            IF NEW.refresh_frequency_hours IS DISTINCT FROM OLD.refresh_frequency_hours THEN fields := array_append(fields, 'refreshFrequencyHours'); END IF;
            IF NEW.priority IS DISTINCT FROM OLD.priority THEN fields := array_append(fields, 'priority'); END IF;
            IF NEW.custom_sync_params IS DISTINCT FROM OLD.custom_sync_params THEN fields := array_append(fields, 'customSyncParams'); END IF;
            IF cardinality(fields) = 0 THEN RETURN NULL; END IF;
        END IF;
    END IF;
    PERFORM pg_notify('sqp_refresh_events', json_build_object(
        'type', 'config:changed', 'configId', r.id, 'tableSchema', r.table_schema, 'tableName', r.table_name,
        'change', CASE WHEN TG_TABLE_NAME = 'refresh_dependencies' THEN 'UPDATE' ELSE TG_OP END,
        'fields', fields, 'at', to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'))::text);
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

DROP TRIGGER IF EXISTS refresh_config_changed ON sqp.refresh_config;
CREATE TRIGGER refresh_config_changed
AFTER INSERT OR DELETE OR UPDATE OF is_enabled, refresh_frequency_hours, priority, custom_sync_params ON sqp.refresh_config
FOR EACH ROW EXECUTE FUNCTION sqp_refresh_work.notify_config_changed();

DROP TRIGGER IF EXISTS refresh_dependencies_changed ON sqp.refresh_dependencies;
CREATE TRIGGER refresh_dependencies_changed
AFTER INSERT OR DELETE OR UPDATE ON sqp.refresh_dependencies
FOR EACH ROW EXECUTE FUNCTION sqp_refresh_work.notify_config_changed();
