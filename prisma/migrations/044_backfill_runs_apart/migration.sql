-- 044_backfill_runs_apart: a backfill chunk's run is not its table's outcome. A chunk re-loads an
-- old range beside the table's regular refreshes; whether it failed or succeeded says nothing of
-- the table's current data (a failed chunk published nothing). So the latest finished run — what
-- the table's state, retries, quality verdict and its dependents' blocking follow — and the
-- failure streak (034) leave chunk runs out: a failing backfill no longer turns its table FAILED,
-- retries its regular schedule or blocks its dependents, and a chunk's success does not end a
-- failure of the regular refreshes. The backfill says what its chunks did (043's views).

CREATE OR REPLACE FUNCTION sqp_refresh_work.failure_streak(config_id INTEGER) RETURNS INTEGER
LANGUAGE sql STABLE AS $$
  SELECT count(*)::int FROM sqp.refresh_audit_log f
  WHERE f.refresh_config_id = config_id AND f.status = 'failed'
    AND coalesce(f.sync_metadata->>'outcome', '') <> 'cancelled'
    AND NOT coalesce(f.sync_metadata ? 'backfill', false)
    AND f.refresh_started_at > coalesce((SELECT max(s.refresh_started_at) FROM sqp.refresh_audit_log s
                                         WHERE s.refresh_config_id = config_id AND s.status IN ('success', 'warning')
                                           AND coalesce(s.sync_metadata->>'outcome', '') <> 'paused'
                                           AND NOT coalesce(s.sync_metadata ? 'backfill', false)), '-infinity')
$$;

CREATE OR REPLACE VIEW sqp_refresh_work.latest_finished_run AS
SELECT c.id AS config_id, a.id AS run_id, a.status, a.refresh_completed_at AS finished_at,
       coalesce((a.error_details->>'retryable')::boolean, false) AS retryable,
       CASE WHEN a.status = 'failed' THEN sqp_refresh_work.failure_streak(c.id) ELSE 0 END AS failure_streak
FROM sqp.refresh_config c
CROSS JOIN LATERAL (
  SELECT a.id, a.status, a.refresh_completed_at, a.error_details FROM sqp.refresh_audit_log a
  WHERE a.refresh_config_id = c.id AND a.status <> 'running'
    AND coalesce(a.sync_metadata->>'outcome', '') NOT IN ('paused', 'cancelled')
    AND NOT coalesce(a.sync_metadata ? 'backfill', false)
  ORDER BY a.refresh_started_at DESC, a.id DESC LIMIT 1
) a;
