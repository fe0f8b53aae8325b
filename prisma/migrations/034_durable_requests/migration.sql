-- 034_durable_requests: a forced or scheduled refresh is a request row of its own that lives
-- until a run has used it. Before, one row per table was overwritten by each force and
-- deleted by whichever claim came next, even a claim that then found the table busy, and a
-- run's final schedule update overwrote the "due now" a force had set meanwhile: forced
-- refreshes were lost. Now each request has an id; a claim reads the requests that are due
-- (run_at passed) without deleting them, the run records their ids in its audit row and
-- deletes them in the transaction that finishes it (or keeps them when it is paused or will
-- be retried), and a table with a pending request is due at that request's time whatever a
-- run writes (src/runner/runner-sql.ts, setNextRefresh).
--
-- Lock order, everywhere (forceRefresh, scheduleRefresh, claim, a run's finish): the
-- refresh_config row first, then refresh_requests rows.

ALTER TABLE sqp_refresh_work.refresh_requests DROP CONSTRAINT refresh_requests_pkey;
ALTER TABLE sqp_refresh_work.refresh_requests ADD COLUMN id BIGSERIAL PRIMARY KEY;  -- existing rows get ids
ALTER TABLE sqp_refresh_work.refresh_requests ADD COLUMN run_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now();
UPDATE sqp_refresh_work.refresh_requests SET run_at = requested_at;
CREATE INDEX refresh_requests_config_run_at ON sqp_refresh_work.refresh_requests (config_id, run_at);

-- The failure streak of a table, in one place (the runner's retry count, the planner and
-- tableHealth read it; they used to spell it three times). Failed runs since the latest
-- success or warning, not counting a cancel (an operator's decision, not a failure) or a
-- paused slice (the refresh goes on).
CREATE OR REPLACE FUNCTION sqp_refresh_work.failure_streak(config_id INTEGER) RETURNS INTEGER
LANGUAGE sql STABLE AS $$
  SELECT count(*)::int FROM sqp.refresh_audit_log f
  WHERE f.refresh_config_id = config_id AND f.status = 'failed'
    AND coalesce(f.sync_metadata->>'outcome', '') <> 'cancelled'
    AND f.refresh_started_at > coalesce((SELECT max(s.refresh_started_at) FROM sqp.refresh_audit_log s
                                         WHERE s.refresh_config_id = config_id AND s.status IN ('success', 'warning')
                                           AND coalesce(s.sync_metadata->>'outcome', '') <> 'paused'), '-infinity')
$$;
