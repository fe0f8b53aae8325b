-- 037_read_model: one read model of table state. tableHealth, runnerStatus, runProgress, the
-- planner's input and `sqp-refresh status` each derived "latest run", "running", "failure
-- streak" and "quality" with their own SQL, and they disagreed (a dead process's `running`
-- row was RUNNING in the graph and "interrupted" in the CLI). Now every one of them reads the
-- views below (src/runner/read-model.ts), and "running" means one thing: the table's refresh
-- lock is held (migration 035's table_locked).

-- FIX 11 (DESIGN.md's fix 6): is_enabled, priority and refresh_frequency_hours were nullable
-- in the seed, but the system relies on them (the claim's `is_enabled AND …` skipped a NULL
-- while the planner's coalesce called it due). NULLs take the defaults, then the columns
-- refuse NULL, so no reader needs a default of its own.
UPDATE sqp.refresh_config SET is_enabled = true WHERE is_enabled IS NULL;
UPDATE sqp.refresh_config SET priority = 100 WHERE priority IS NULL;
UPDATE sqp.refresh_config SET refresh_frequency_hours = 24 WHERE refresh_frequency_hours IS NULL;
ALTER TABLE sqp.refresh_config
    ALTER COLUMN is_enabled SET NOT NULL,
    ALTER COLUMN priority SET NOT NULL,
    ALTER COLUMN refresh_frequency_hours SET NOT NULL;

-- The refresh lock's key, spelled once. Migration 035 spelled (hashtext('sqp-refresh'),
-- hashtext('schema.table')) inside each of its three functions; they are redefined here on
-- these two, with the same values, so a lock taken before 037 applied is still seen and
-- freed. held_table_locks reads pg_locks once for all tables (table_state below): calling
-- table_locked per row read it once per table, 2.6 s for 10,000 tables against ~90 ms.
CREATE OR REPLACE FUNCTION sqp_refresh_work.table_lock_class() RETURNS INTEGER
LANGUAGE sql IMMUTABLE AS $$ SELECT hashtext('sqp-refresh') $$;

CREATE OR REPLACE FUNCTION sqp_refresh_work.table_lock_key(p_schema TEXT, p_table TEXT) RETURNS INTEGER
LANGUAGE sql IMMUTABLE AS $$ SELECT hashtext(p_schema || '.' || p_table) $$;

-- The keys of every table refresh lock held now by any session of this database. Two-key
-- advisory locks show their keys as classid/objid with objsubid 2.
CREATE OR REPLACE FUNCTION sqp_refresh_work.held_table_locks() RETURNS SETOF OID
LANGUAGE sql VOLATILE AS $$
  SELECT objid FROM pg_locks
  WHERE locktype = 'advisory' AND granted AND objsubid = 2
    AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
    AND classid = sqp_refresh_work.table_lock_class()::oid
$$;

CREATE OR REPLACE FUNCTION sqp_refresh_work.try_lock_table(p_schema TEXT, p_table TEXT) RETURNS BOOLEAN
LANGUAGE sql VOLATILE AS $$ SELECT pg_try_advisory_lock(sqp_refresh_work.table_lock_class(), sqp_refresh_work.table_lock_key(p_schema, p_table)) $$;

CREATE OR REPLACE FUNCTION sqp_refresh_work.unlock_table(p_schema TEXT, p_table TEXT) RETURNS BOOLEAN
LANGUAGE sql VOLATILE AS $$ SELECT pg_advisory_unlock(sqp_refresh_work.table_lock_class(), sqp_refresh_work.table_lock_key(p_schema, p_table)) $$;

CREATE OR REPLACE FUNCTION sqp_refresh_work.table_locked(p_schema TEXT, p_table TEXT) RETURNS BOOLEAN
LANGUAGE sql VOLATILE AS $$
  SELECT sqp_refresh_work.table_lock_key(p_schema, p_table)::oid IN (SELECT sqp_refresh_work.held_table_locks())
$$;

-- BigQuery bytes billed to a config's runs started since `p_since` (the start of a UTC day).
CREATE OR REPLACE FUNCTION sqp_refresh_work.bytes_billed_since(p_config_id INTEGER, p_since TIMESTAMPTZ) RETURNS NUMERIC
LANGUAGE sql STABLE AS $$
  SELECT coalesce(sum((b.sync_metadata->>'bytesBilled')::numeric), 0) FROM sqp.refresh_audit_log b
  WHERE b.refresh_config_id = p_config_id AND b.refresh_started_at >= p_since AND b.sync_metadata ? 'bytesBilled'
$$;

-- The latest finished run of each table that has one: the outcome its schedule, retries,
-- quality verdict and blocked dependents follow. A paused slice is not an outcome (the refresh
-- goes on), nor is a cancel (an operator's decision). With it the failure streak (migration
-- 034's function; 0 unless that run failed). The planner reads this narrow view on every
-- runner pass: no pg_locks, no checkpoints; one probe of idx_audit_log_config_id per table.
CREATE OR REPLACE VIEW sqp_refresh_work.latest_finished_run AS
SELECT c.id AS config_id, a.id AS run_id, a.status, a.refresh_completed_at AS finished_at,
       coalesce((a.error_details->>'retryable')::boolean, false) AS retryable,
       CASE WHEN a.status = 'failed' THEN sqp_refresh_work.failure_streak(c.id) ELSE 0 END AS failure_streak
FROM sqp.refresh_config c
CROSS JOIN LATERAL (
  SELECT a.id, a.status, a.refresh_completed_at, a.error_details FROM sqp.refresh_audit_log a
  WHERE a.refresh_config_id = c.id AND a.status <> 'running'
    AND coalesce(a.sync_metadata->>'outcome', '') NOT IN ('paused', 'cancelled')
  ORDER BY a.refresh_started_at DESC, a.id DESC LIMIT 1
) a;

-- Per registered table, what every reader needs, without a clock: the time-dependent facts
-- (due, stale, bytes today) are the reader's, with the `now` it was given.
--   running_now      its refresh lock is held by some session (claimed or running anywhere):
--                    table_locked, for every table at once;
--   running_run_id   its newest audit row still saying `running` — with running_now false,
--                    the row of a dead process: "interrupted" (a runner recovers it);
--   newest_run_id    its newest run, running or finished;
--   latest_*         its latest finished run (the view above), with that run's quality
--                    verdict: pass (every metric within), fail (one outside and the run
--                    failed), warning (one outside, the run published), NULL (no metrics);
--   retry_at         after a failed run that may pass on a retry, when the runner set the
--                    next attempt (the runner alone writes next_refresh_at after a run,
--                    backoff and jitter included: nobody computes it a second time);
--   checkpoint_*     the table's newest active checkpoint: a running run's committed rows.
-- Queue depth is a count over the states readers derive from these rows (read-model.ts).
CREATE OR REPLACE VIEW sqp_refresh_work.table_state AS
WITH held AS MATERIALIZED (SELECT sqp_refresh_work.held_table_locks() AS key)
SELECT c.id AS config_id, c.table_schema, c.table_name, c.is_enabled, c.priority, c.refresh_frequency_hours,
       coalesce(c.custom_sync_params, '{}'::jsonb) <> '{}'::jsonb AS configured,
       c.last_refresh_at, c.next_refresh_at,
       sqp_refresh_work.table_lock_key(c.table_schema, c.table_name)::oid IN (SELECT key FROM held) AS running_now,
       rr.id AS running_run_id, rr.refresh_started_at AS running_started_at,
       nr.id AS newest_run_id,
       lf.run_id AS latest_run_id, lf.status AS latest_status, lf.finished_at AS latest_finished_at,
       coalesce(lf.retryable, false) AS latest_retryable, coalesce(lf.failure_streak, 0) AS failure_streak,
       CASE WHEN q.total = 0 THEN NULL WHEN q.outside = 0 THEN 'pass' WHEN lf.status = 'failed' THEN 'fail' ELSE 'warning' END AS quality_verdict,
       CASE WHEN lf.status = 'failed' AND lf.retryable THEN c.next_refresh_at END AS retry_at,
       k.function_name AS checkpoint_worker, k.last_processed_row AS checkpoint_rows, k.total_rows AS checkpoint_total_rows
FROM sqp.refresh_config c
LEFT JOIN sqp_refresh_work.latest_finished_run lf ON lf.config_id = c.id
LEFT JOIN LATERAL (
  SELECT count(*) AS total, count(*) FILTER (WHERE NOT d.is_within_threshold) AS outside
  FROM sqp.refresh_data_quality d WHERE d.audit_log_id = lf.run_id
) q ON true
LEFT JOIN LATERAL (
  SELECT a.id, a.refresh_started_at FROM sqp.refresh_audit_log a
  WHERE a.refresh_config_id = c.id AND a.status = 'running'
  ORDER BY a.refresh_started_at DESC, a.id DESC LIMIT 1
) rr ON true
LEFT JOIN LATERAL (
  SELECT a.id FROM sqp.refresh_audit_log a
  WHERE a.refresh_config_id = c.id ORDER BY a.refresh_started_at DESC, a.id DESC LIMIT 1
) nr ON true
LEFT JOIN LATERAL (
  SELECT x.function_name, x.last_processed_row, x.total_rows FROM sqp.refresh_checkpoints x
  WHERE x.table_schema = c.table_schema AND x.table_name = c.table_name AND x.status = 'active'
  ORDER BY x.updated_at DESC LIMIT 1
) k ON true;
