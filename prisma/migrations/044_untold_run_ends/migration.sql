-- 044_untold_run_ends: a run's end is always in the event log. A process writes its events just
-- after the state they report commits (src/subscriptions/event-writer.ts); killed in between, or
-- cut off from the database for longer than it keeps trying, its run's run:finished would be
-- missing for good and a dashboard following the run (runProgress) would wait forever. The sweep
-- below (run by every replica's event log keeper, src/subscriptions/event-pruner.ts) logs the end
-- of every finished run that has none, from its audit row; and the append refuses a second end of
-- a run, so the writer coming back late doubles nothing.

CREATE OR REPLACE FUNCTION sqp_refresh_work.append_refresh_events(p_events JSONB, p_writer UUID DEFAULT NULL, p_batch BIGINT DEFAULT NULL)
RETURNS BIGINT LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    last_id BIGINT;
BEGIN
    IF p_writer IS NOT NULL THEN
        INSERT INTO sqp_refresh_work.refresh_event_writers AS w (writer, last_batch) VALUES (p_writer, p_batch)
        ON CONFLICT (writer) DO UPDATE SET last_batch = excluded.last_batch, updated_at = now()
        WHERE w.last_batch < excluded.last_batch;
        IF NOT FOUND THEN RETURN NULL; END IF;
    END IF;
    PERFORM pg_advisory_xact_lock(sqp_refresh_work.event_log_lock_key());
    WITH appended AS (
        INSERT INTO sqp_refresh_work.refresh_events (id, type, config_id, table_schema, table_name, run_id, payload)
        SELECT nextval('sqp_refresh_work.refresh_events_id_seq'), e->>'type', (e->>'configId')::int, e->>'tableSchema', e->>'tableName',
               (e->>'runId')::int, e - ARRAY['type', 'configId', 'tableSchema', 'tableName', 'runId']
        -- The subquery fixes the order nextval is called in: the array's.
        FROM (SELECT e FROM jsonb_array_elements(p_events) WITH ORDINALITY AS a(e, n) ORDER BY n) ordered
        -- One end per run (under the log's lock, so two appends cannot both pass).
        WHERE NOT (e->>'type' = 'run:finished' AND EXISTS (
            SELECT 1 FROM sqp_refresh_work.refresh_events x WHERE x.run_id = (e->>'runId')::int AND x.type = 'run:finished'))
        RETURNING id
    )
    SELECT max(id) INTO last_id FROM appended;
    IF last_id IS NOT NULL THEN
        PERFORM pg_notify('sqp_refresh_events', last_id::text);
    END IF;
    RETURN last_id;
END;
$$;

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
