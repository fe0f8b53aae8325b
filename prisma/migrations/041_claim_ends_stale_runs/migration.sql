-- 041_claim_ends_stale_runs: a run never outlives its lock.
--
-- A table's refresh lock is held by the connection that runs its refresh (035). When that
-- connection is lost while its process lives on (pg_terminate_backend, a failover), the lock is
-- gone at once, but the run's audit row still said `running` until the process noticed — and
-- another replica could claim the table and start its own run meanwhile: two `running` rows for
-- one table. Now whoever takes a table's lock ends the rows still `running` for it before any
-- run of its own starts (the claim in its one statement, src/runner/scheduler/sql.ts claimDue;
-- a refresh outside the runner and the recovery of dead processes' runs likewise), and a run's
-- own late finish leaves a row that is already ended as it is (src/runner/engine/audit-log.ts).
--
-- The one statement that ends them, spelled once. VOLATILE, so that its UPDATE takes a snapshot
-- of its own: called by a claim after the lock was granted, it sees every row committed before
-- then, even one committed after the claim's statement began (its own snapshot would miss it).
CREATE OR REPLACE FUNCTION sqp_refresh_work.fail_interrupted_runs(p_schema TEXT, p_table TEXT, p_by_run INTEGER) RETURNS SETOF INTEGER
LANGUAGE sql VOLATILE AS $$
  UPDATE sqp.refresh_audit_log
  SET status = 'failed', refresh_completed_at = now(),
      error_message = 'interrupted: the process running this refresh stopped, or lost the table''s lock, before it finished',
      error_details = jsonb_build_object('reason', 'interrupted', 'retryable', true, 'resumedByRunId', p_by_run)
  WHERE table_schema = p_schema AND table_name = p_table AND status = 'running' AND (p_by_run IS NULL OR id <> p_by_run)
  RETURNING id
$$;
