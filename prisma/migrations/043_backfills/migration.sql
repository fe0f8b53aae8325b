-- 043_backfills: a backfill re-loads a range of one table's rows (and, with cascade, the
-- periods of its hard dependents that the range touches) as chunks of ordinary runs, tracked as
-- one object. What is stored is what nothing else knows: the operator's intent (running, paused,
-- cancelled) and the plan (the chunks and their ranges). Everything else — which chunk is done,
-- running or failed, rows, bytes, errors — is read from the chunks' runs in the audit log
-- (each run's sync_metadata.backfill names its backfill and chunk), so a chunk's state cannot
-- disagree with its runs; the views below are its one derivation.

CREATE TABLE sqp_refresh_work.backfills (
    id INTEGER GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    config_id INTEGER NOT NULL REFERENCES sqp.refresh_config(id) ON DELETE CASCADE,
    -- The range [range_from, range_to) of the table's partition column (cursor column).
    range_from DATE NOT NULL,
    range_to DATE NOT NULL,
    chunk_unit TEXT NOT NULL CHECK (chunk_unit IN ('day', 'week', 'month')),
    cascade BOOLEAN NOT NULL,
    -- What the operator wants; the status (views below) says what happened.
    intent TEXT NOT NULL DEFAULT 'running' CHECK (intent IN ('running', 'paused', 'cancelled')),
    requested_by TEXT,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    intent_changed_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    CHECK (range_from < range_to)
);

CREATE TABLE sqp_refresh_work.backfill_chunks (
    backfill_id INTEGER NOT NULL REFERENCES sqp_refresh_work.backfills(id) ON DELETE CASCADE,
    -- Run order: the table's chunks oldest first, then its dependents' (parents first).
    ordinal INTEGER NOT NULL,
    config_id INTEGER NOT NULL REFERENCES sqp.refresh_config(id) ON DELETE CASCADE,
    range_from DATE NOT NULL,
    range_to DATE NOT NULL,
    PRIMARY KEY (backfill_id, ordinal),
    CHECK (range_from < range_to)
);

-- The runs of a chunk, found by what their audit rows say.
CREATE INDEX refresh_audit_log_backfill_chunk ON sqp.refresh_audit_log
    (((sync_metadata->'backfill'->>'id')::int), ((sync_metadata->'backfill'->>'chunk')::int))
    WHERE sync_metadata ? 'backfill';

-- A backfill's own lock: one chunk of a backfill at a time, on any replica (chunks run in
-- order). Held by the session that runs the chunk, with the chunk's table lock; freed by
-- PostgreSQL if that session dies. Keys spelled once, as the table lock's (037).
CREATE OR REPLACE FUNCTION sqp_refresh_work.backfill_lock_class() RETURNS INTEGER
LANGUAGE sql IMMUTABLE AS $$ SELECT hashtext('sqp-refresh backfill') $$;

CREATE OR REPLACE FUNCTION sqp_refresh_work.try_lock_backfill(p_id INTEGER) RETURNS BOOLEAN
LANGUAGE sql VOLATILE AS $$ SELECT pg_try_advisory_lock(sqp_refresh_work.backfill_lock_class(), p_id) $$;

CREATE OR REPLACE FUNCTION sqp_refresh_work.unlock_backfill(p_id INTEGER) RETURNS BOOLEAN
LANGUAGE sql VOLATILE AS $$ SELECT pg_advisory_unlock(sqp_refresh_work.backfill_lock_class(), p_id) $$;

-- Planned cheaply, also on tables not yet analysed (a fresh database, the first runs): priced
-- above jit_above_cost, each read would compile with JIT first (~1 s where the query takes ~2
-- ms). So each chunk carries its completing run's end (finished_at needs no second pass over the
-- chunks), the held locks are read once per statement (MATERIALIZED), and held_table_locks (037)
-- says it returns few rows (the planner's default for a set-returning function is 1000).
ALTER FUNCTION sqp_refresh_work.held_table_locks() ROWS 20;

-- Each chunk with what its runs say. done: a run of it completed (or found its inputs unchanged);
-- running: its newest run is running and its table's lock is held (038's live_run; a running
-- row whose lock is free is a dead process's, and the chunk resumes); failed: its newest run
-- failed for good (not retryable) or it failed 3 times; pending otherwise. Cancelled and paused
-- runs are no failures, and failures before the backfill's latest resume no longer count.
CREATE OR REPLACE VIEW sqp_refresh_work.backfill_chunk_state AS
WITH live AS MATERIALIZED (SELECT run_id FROM sqp_refresh_work.live_run WHERE run_id IS NOT NULL)
SELECT k.backfill_id, k.ordinal, k.config_id, c.table_schema, c.table_name, k.range_from, k.range_to,
       runs.done_run_id, newest.id AS newest_run_id, newest.status AS newest_status,
       newest.refresh_completed_at AS newest_finished_at, newest.error_message AS newest_error,
       runs.failures, runs.runs, coalesce(done.rows_processed, newest.rows_processed, 0) AS rows_processed, runs.bytes_billed,
       CASE
         WHEN runs.done_run_id IS NOT NULL THEN 'done'
         WHEN newest.status = 'running' AND newest.id IN (SELECT run_id FROM live) THEN 'running'
         WHEN newest.status = 'failed' AND coalesce(newest.sync_metadata->>'outcome', 'failed') = 'failed' AND newest.refresh_started_at >= b.intent_changed_at
              AND (coalesce(newest.error_details->>'retryable', 'false') <> 'true' OR runs.failures >= 3) THEN 'failed'
         ELSE 'pending'
       END AS state,
       done.refresh_completed_at AS done_at
FROM sqp_refresh_work.backfill_chunks k
JOIN sqp_refresh_work.backfills b ON b.id = k.backfill_id
JOIN sqp.refresh_config c ON c.id = k.config_id
LEFT JOIN LATERAL (
  SELECT min(a.id) FILTER (WHERE a.status IN ('success', 'warning') AND coalesce(a.sync_metadata->>'outcome', 'completed') IN ('completed', 'unchanged')) AS done_run_id,
         count(*) FILTER (WHERE a.status = 'failed' AND coalesce(a.sync_metadata->>'outcome', 'failed') = 'failed' AND a.refresh_started_at >= b.intent_changed_at)::int AS failures,
         count(*)::int AS runs,
         coalesce(sum((a.sync_metadata->>'bytesBilled')::numeric), 0) AS bytes_billed
  FROM sqp.refresh_audit_log a
  WHERE (a.sync_metadata->'backfill'->>'id')::int = k.backfill_id AND (a.sync_metadata->'backfill'->>'chunk')::int = k.ordinal
    AND a.sync_metadata ? 'backfill'
) runs ON true
LEFT JOIN sqp.refresh_audit_log done ON done.id = runs.done_run_id
LEFT JOIN LATERAL (
  SELECT a.* FROM sqp.refresh_audit_log a
  WHERE (a.sync_metadata->'backfill'->>'id')::int = k.backfill_id AND (a.sync_metadata->'backfill'->>'chunk')::int = k.ordinal
    AND a.sync_metadata ? 'backfill'
  ORDER BY a.id DESC LIMIT 1
) newest ON true;

-- Each backfill with its status: cancelled as asked; completed when every chunk is done;
-- failed when a chunk failed for good; paused as asked (pausing while its chunk in flight ends);
-- running otherwise.
CREATE OR REPLACE VIEW sqp_refresh_work.backfill_state AS
SELECT b.*, c.table_schema, c.table_name,
       s.chunks_total, s.chunks_done, s.chunks_running, s.chunks_failed, s.rows_processed, s.bytes_billed, s.finished_at,
       CASE
         WHEN s.chunks_done = s.chunks_total THEN 'completed'
         WHEN b.intent = 'cancelled' THEN 'cancelled'
         WHEN s.chunks_failed > 0 THEN 'failed'
         WHEN b.intent = 'paused' THEN CASE WHEN s.chunks_running > 0 THEN 'pausing' ELSE 'paused' END
         ELSE 'running'
       END AS status
FROM sqp_refresh_work.backfills b
JOIN sqp.refresh_config c ON c.id = b.config_id
CROSS JOIN LATERAL (
  SELECT count(*)::int AS chunks_total,
         count(*) FILTER (WHERE k.state = 'done')::int AS chunks_done,
         count(*) FILTER (WHERE k.state = 'running')::int AS chunks_running,
         count(*) FILTER (WHERE k.state = 'failed')::int AS chunks_failed,
         coalesce(sum(k.rows_processed), 0)::bigint AS rows_processed,
         coalesce(sum(k.bytes_billed), 0) AS bytes_billed,
         CASE WHEN count(*) FILTER (WHERE k.state = 'done') = count(*) THEN max(k.done_at) END AS finished_at
  FROM sqp_refresh_work.backfill_chunk_state k WHERE k.backfill_id = b.id
) s;
