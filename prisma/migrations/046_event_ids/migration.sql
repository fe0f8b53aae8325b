-- 046_event_ids: the append says which id each event got. The writer of a process hands its
-- own events, with their ids, to its own follower (src/subscriptions/event-follower.ts offer):
-- when they follow without a gap the last id the follower published, they are published at
-- once, without waiting for the NOTIFY and reading them back. The append itself is 044's,
-- once: append_refresh_events now answers from this one.

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
    -- logged is left out (044), so it has no row here.
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
