-- 042_event_log: a durable, ordered log of the events the live subscriptions carry (issue 24).
--
-- Before, events were live only (NOTIFY between replicas): a dashboard whose socket dropped lost
-- what happened meanwhile, and two replicas could see the same events in different orders. Now
-- every event is a row with an id in COMMIT order; every replica follows the log and publishes
-- its rows in id order, and a subscriber that comes back asks for what follows the last id it
-- saw (src/subscriptions/event-log.ts reads and writes it; event-writer.ts, event-follower.ts,
-- event-pruner.ts are its parts). The tables live in sqp_refresh_work, outside the data schema:
-- no registration sees them (040 does the same).

-- One row per event. The columns a reader filters by are columns; the rest of the event is
-- `payload` (the event object without them), so a row holds each fact once. No foreign keys:
-- an event outlives its config (config:changed DELETE is about a row that is gone) and its run.
CREATE SEQUENCE sqp_refresh_work.refresh_events_id_seq AS BIGINT;
CREATE TABLE sqp_refresh_work.refresh_events (
    id BIGINT PRIMARY KEY,
    type TEXT NOT NULL,
    config_id INTEGER NOT NULL,
    table_schema TEXT NOT NULL,
    table_name TEXT NOT NULL,
    run_id INTEGER,
    payload JSONB NOT NULL,
    created_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now()
);
ALTER SEQUENCE sqp_refresh_work.refresh_events_id_seq OWNED BY sqp_refresh_work.refresh_events.id;
-- runProgress and refreshEvents(filter: { runId }) replay one run; the pruner takes the oldest.
CREATE INDEX refresh_events_run ON sqp_refresh_work.refresh_events (run_id, id) WHERE run_id IS NOT NULL;
CREATE INDEX refresh_events_created ON sqp_refresh_work.refresh_events (created_at);

-- The highest id pruned so far (one row): every id above it is still in the log, so an `after`
-- below it asks for events that may be gone (EVENTS_EXPIRED: re-read the state).
CREATE TABLE sqp_refresh_work.refresh_event_horizon (
    one BOOLEAN PRIMARY KEY DEFAULT true CHECK (one),
    pruned_through BIGINT NOT NULL DEFAULT 0
);
INSERT INTO sqp_refresh_work.refresh_event_horizon (one) VALUES (true);

-- The last batch each writer (one per process, src/subscriptions/event-writer.ts) appended. A
-- writer whose connection is lost does not know whether its batch committed and sends it again
-- with the same number: the second one is skipped, so a retry never doubles an event.
CREATE TABLE sqp_refresh_work.refresh_event_writers (
    writer UUID PRIMARY KEY,
    last_batch BIGINT NOT NULL,
    updated_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now()
);

-- The lock keys, spelled once (as 037 spells the table locks'). One-key advisory locks
-- (objsubid 1) never meet the two-key table locks that held_table_locks() reads.
CREATE OR REPLACE FUNCTION sqp_refresh_work.event_log_lock_key() RETURNS BIGINT
LANGUAGE sql IMMUTABLE AS $$ SELECT hashtext('sqp-refresh event log')::bigint $$;

CREATE OR REPLACE FUNCTION sqp_refresh_work.event_prune_lock_key() RETURNS BIGINT
LANGUAGE sql IMMUTABLE AS $$ SELECT hashtext('sqp-refresh event prune')::bigint $$;

-- Appends events (a JSON array of event objects, in order) and returns each one's ordinal and
-- the id it got (nothing when this writer's batch was appended already). Ids in COMMIT order:
-- the transaction-level lock is taken before nextval and held until commit, so whoever takes ids
-- next waits until these are committed (or rolled back: a gap, never filled). A reader that has
-- seen id N therefore never later sees a smaller committed id, and following the log by
-- `id > last` misses nothing. Transaction-level only, so it works behind a transaction pooler.
-- The NOTIFY is delivered at commit; its payload is the highest id, a hint (followers read the
-- rows). A run has one end: a run:finished of a run already logged is left out (the sweep below
-- and a writer coming back late may both send it). The writer hands the ids to its own follower
-- (src/subscriptions/event-follower.ts offer), which publishes them at once when nothing came between.
CREATE OR REPLACE FUNCTION sqp_refresh_work.append_refresh_events_ids(p_events JSONB, p_writer UUID DEFAULT NULL, p_batch BIGINT DEFAULT NULL)
RETURNS TABLE (n BIGINT, id BIGINT) LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    last_id BIGINT;
BEGIN
    IF p_writer IS NOT NULL THEN
        INSERT INTO sqp_refresh_work.refresh_event_writers AS w (writer, last_batch) VALUES (p_writer, p_batch)
        ON CONFLICT (writer) DO UPDATE SET last_batch = excluded.last_batch, updated_at = now()
        WHERE w.last_batch < excluded.last_batch;
        IF NOT FOUND THEN RETURN; END IF;
    END IF;
    PERFORM pg_advisory_xact_lock(sqp_refresh_work.event_log_lock_key());
    -- Ordinal and id of each event appended (in the array's order); an end of a run already
    -- logged is left out (see above), so it has no row here.
    RETURN QUERY
    WITH ordered AS (
        SELECT a.e, a.n FROM jsonb_array_elements(p_events) WITH ORDINALITY AS a(e, n)
        WHERE NOT (a.e->>'type' = 'run:finished' AND EXISTS (
            SELECT 1 FROM sqp_refresh_work.refresh_events x WHERE x.run_id = (a.e->>'runId')::int AND x.type = 'run:finished'))
        ORDER BY a.n
    ), numbered AS (
        -- nextval in the array's order (a materialised, ordered step before the insert).
        SELECT o.e, o.n, nextval('sqp_refresh_work.refresh_events_id_seq') AS id FROM ordered o
    ), appended AS (
        INSERT INTO sqp_refresh_work.refresh_events (id, type, config_id, table_schema, table_name, run_id, payload)
        SELECT nb.id, nb.e->>'type', (nb.e->>'configId')::int, nb.e->>'tableSchema', nb.e->>'tableName',
               (nb.e->>'runId')::int, nb.e - ARRAY['type', 'configId', 'tableSchema', 'tableName', 'runId']
        FROM numbered nb
        RETURNING refresh_events.id
    )
    SELECT nb.n, nb.id FROM numbered nb WHERE nb.id IN (SELECT appended.id FROM appended) ORDER BY nb.n;
    SELECT max(e.id) INTO last_id FROM sqp_refresh_work.refresh_events e;
    IF last_id IS NOT NULL THEN
        PERFORM pg_notify('sqp_refresh_events', last_id::text);
    END IF;
END;
$$;

CREATE OR REPLACE FUNCTION sqp_refresh_work.append_refresh_events(p_events JSONB, p_writer UUID DEFAULT NULL, p_batch BIGINT DEFAULT NULL)
RETURNS BIGINT LANGUAGE sql VOLATILE AS $$
    SELECT max(id) FROM sqp_refresh_work.append_refresh_events_ids(p_events, p_writer, p_batch)
$$;

-- Deletes up to p_limit of the oldest events written before p_before, and moves the horizon in
-- the same transaction. -1: another replica is pruning (one at a time; a transaction-level
-- try-lock, so a pooler is fine). Writers gone as long are forgotten with them.
CREATE OR REPLACE FUNCTION sqp_refresh_work.prune_refresh_events(p_before TIMESTAMPTZ, p_limit INTEGER)
RETURNS INTEGER LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    deleted INTEGER;
    through BIGINT;
BEGIN
    IF NOT pg_try_advisory_xact_lock(sqp_refresh_work.event_prune_lock_key()) THEN RETURN -1; END IF;
    WITH gone AS (
        DELETE FROM sqp_refresh_work.refresh_events
        WHERE id IN (SELECT id FROM sqp_refresh_work.refresh_events WHERE created_at < p_before ORDER BY created_at LIMIT p_limit)
        RETURNING id
    )
    SELECT count(*), max(id) INTO deleted, through FROM gone;
    -- GREATEST: the horizon only moves up, so every id above it is still there.
    IF through IS NOT NULL THEN
        UPDATE sqp_refresh_work.refresh_event_horizon SET pruned_through = GREATEST(pruned_through, through);
    END IF;
    DELETE FROM sqp_refresh_work.refresh_event_writers WHERE updated_at < p_before;
    RETURN deleted;
END;
$$;

-- Config changes go into the log in the change's own transaction, whoever made them (a
-- mutation, an operator's psql). What counts as a change is 033's rule, unchanged. The
-- triggers are DEFERRED constraint triggers: the row is appended at commit, so the log's lock
-- is held only while the change commits — an immediate trigger would hold it from the first
-- changed row until commit (an open psql transaction would stall every replica's events), and
-- two transactions changing several configs could deadlock on it behind each other's row locks.
CREATE OR REPLACE FUNCTION sqp_refresh_work.log_config_changed()
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
    PERFORM sqp_refresh_work.append_refresh_events(jsonb_build_array(jsonb_build_object(
        'type', 'config:changed', 'configId', r.id, 'tableSchema', r.table_schema, 'tableName', r.table_name,
        'change', CASE WHEN TG_TABLE_NAME = 'refresh_dependencies' THEN 'UPDATE' ELSE TG_OP END,
        'fields', to_jsonb(fields), 'at', to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'))));
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

DROP TRIGGER IF EXISTS refresh_config_changed ON sqp.refresh_config;
CREATE CONSTRAINT TRIGGER refresh_config_changed
AFTER INSERT OR DELETE OR UPDATE OF is_enabled, refresh_frequency_hours, priority, custom_sync_params ON sqp.refresh_config
DEFERRABLE INITIALLY DEFERRED
FOR EACH ROW EXECUTE FUNCTION sqp_refresh_work.log_config_changed();

DROP TRIGGER IF EXISTS refresh_dependencies_changed ON sqp.refresh_dependencies;
CREATE CONSTRAINT TRIGGER refresh_dependencies_changed
AFTER INSERT OR DELETE OR UPDATE ON sqp.refresh_dependencies
DEFERRABLE INITIALLY DEFERRED
FOR EACH ROW EXECUTE FUNCTION sqp_refresh_work.log_config_changed();

-- 033's NOTIFY-only trigger function has no trigger left.
DROP FUNCTION IF EXISTS sqp_refresh_work.notify_config_changed();

-- A run's end is always in the log. A process writes its events just after the state they
-- report commits (src/subscriptions/event-writer.ts); killed in between, or cut off from the
-- database for longer than it keeps trying, its run's run:finished would be missing for good and
-- a dashboard following the run (runProgress) would wait forever. Every replica's log keeper
-- (src/subscriptions/event-pruner.ts) runs this sweep each minute, logging the end of every
-- finished run that has none, from its audit row.
-- Logs run:finished for every run started since p_since that finished more than p_quiet ago and
-- whose end is not in the log; returns how many. Its outcome is the audit row's (a row without
-- one is completed, or failed).
CREATE OR REPLACE FUNCTION sqp_refresh_work.log_untold_run_ends(p_since TIMESTAMPTZ, p_quiet INTERVAL)
RETURNS INTEGER LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    untold JSONB;
BEGIN
    SELECT jsonb_agg(jsonb_build_object(
             'type', 'run:finished', 'configId', a.refresh_config_id, 'tableSchema', a.table_schema, 'tableName', a.table_name,
             'runId', a.id, 'status', a.status,
             'outcome', coalesce(a.sync_metadata->>'outcome', CASE WHEN a.status = 'failed' THEN 'failed' ELSE 'completed' END),
             'rowsProcessed', coalesce(a.rows_processed, 0), 'errorMessage', a.error_message,
             'at', to_char(a.refresh_completed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'))
           ORDER BY a.refresh_completed_at, a.id)
    INTO untold
    FROM sqp.refresh_audit_log a
    WHERE a.refresh_started_at > p_since AND a.status <> 'running' AND a.refresh_config_id IS NOT NULL
      AND a.refresh_completed_at IS NOT NULL AND a.refresh_completed_at < now() - p_quiet
      AND NOT EXISTS (SELECT 1 FROM sqp_refresh_work.refresh_events x WHERE x.run_id = a.id AND x.type = 'run:finished')
      -- Only runs the log could have told: none from before it existed (or before what it keeps).
      AND a.refresh_started_at > coalesce((SELECT min(created_at) FROM sqp_refresh_work.refresh_events), 'infinity');
    IF untold IS NULL THEN RETURN 0; END IF;
    PERFORM sqp_refresh_work.append_refresh_events(untold);
    RETURN jsonb_array_length(untold);
END;
$$;
