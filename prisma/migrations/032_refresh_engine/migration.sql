-- 032_refresh_engine: working space of the refresh engine.
--
-- A full refresh that deletes rows the source no longer has must remember every key it has
-- loaded, across pages and across resumed slices (a crash or a time budget may split a run).
-- Those key sets live in ordinary (logged, crash-safe) tables in their own schema, outside
-- `sqp`, so the auto-registration event trigger never sees them.
CREATE SCHEMA IF NOT EXISTS sqp_refresh_work;
COMMENT ON SCHEMA sqp_refresh_work IS
    'sqp-refresh working tables (keys seen by in-progress full refreshes); safe to empty when no refresh runs';

-- The daily BigQuery byte budget sums bytes billed per day from the audit log.
CREATE INDEX IF NOT EXISTS idx_audit_log_started ON sqp.refresh_audit_log (refresh_started_at);
