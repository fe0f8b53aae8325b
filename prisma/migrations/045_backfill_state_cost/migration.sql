-- 045_backfill_state_cost: 043's views, planned cheaply. On tables not yet analyzed (a fresh
-- database, or right after the first runs) the planner priced backfill_state at ~500,000 — the
-- chunk view read twice (once again for finished_at) and live_run's pg_locks scan costed per
-- chunk at the default 1000 rows of a set-returning function — above jit_above_cost, so every
-- read of it compiled with JIT first: ~1 s where the query itself takes ~2 ms. Now each chunk
-- carries its completing run's end (finished_at needs no second pass), the held locks are read
-- once per statement (MATERIALIZED), and held_table_locks says it returns few rows.

ALTER FUNCTION sqp_refresh_work.held_table_locks() ROWS 20;

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
