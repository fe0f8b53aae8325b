-- 038_table_state: one definition of a running run, and each table's freshness SLA.
--
-- "Running" was still derived in several places after 037: the read model asked whether a
-- table's lock was held, but RefreshRun.status, cancelRefresh and `sqp-refresh status` read the
-- audit row's `running`, which a dead process leaves behind, and the runner's recovery and the
-- claim's guard (035's hard_parent_pending) spelled their own checks. Now a run is running only
-- when its table's refresh lock is held AND it is the table's newest `running` row: the view
-- live_run below says which runs those are, and every reader asks it (a `running` row that is
-- not in it is "interrupted": its process died, or it outlived its lock).

-- The runs running now: one row per table whose refresh lock is held by some session (on any
-- replica), with the table's newest `running` audit row (null between a claim and its run's
-- first row). held_table_locks reads pg_locks once for the whole statement (037 says why).
CREATE OR REPLACE VIEW sqp_refresh_work.live_run AS
SELECT c.id AS config_id, rr.id AS run_id, rr.refresh_started_at AS started_at
FROM sqp.refresh_config c
LEFT JOIN LATERAL (
  SELECT a.id, a.refresh_started_at FROM sqp.refresh_audit_log a
  WHERE a.refresh_config_id = c.id AND a.status = 'running'
  ORDER BY a.refresh_started_at DESC, a.id DESC LIMIT 1
) rr ON true
WHERE sqp_refresh_work.table_lock_key(c.table_schema, c.table_name)::oid IN (SELECT sqp_refresh_work.held_table_locks());

-- The claim's guard asks the same view whether a hard parent is running (035's argument for
-- why the guard holds is unchanged: "running" still means "its lock is held").
CREATE OR REPLACE FUNCTION sqp_refresh_work.hard_parent_pending(p_config_id INTEGER, p_at TIMESTAMPTZ) RETURNS TEXT
LANGUAGE sql VOLATILE AS $$
  SELECT p.table_schema || '.' || p.table_name || CASE WHEN due THEN ' is due' ELSE ' is running' END
  FROM sqp.refresh_dependencies e
  JOIN sqp.refresh_config p ON p.id = e.parent_config_id
  CROSS JOIN LATERAL (SELECT p.is_enabled AND p.custom_sync_params <> '{}'::jsonb AND p.next_refresh_at <= p_at AS due) d
  WHERE e.dependent_config_id = p_config_id AND coalesce(e.dependency_type, 'hard') = 'hard'
    AND (d.due OR EXISTS (SELECT 1 FROM sqp_refresh_work.live_run l WHERE l.config_id = p.id))
  ORDER BY p.id
  LIMIT 1
$$;

-- Freshness SLA: within how many hours of its latest success a table must succeed again, or it
-- is LATE. NULL: the default, derived from its frequency by the read model
-- (src/runner/state/table-state.ts, the one place that rule is written).
ALTER TABLE sqp.refresh_config ADD COLUMN freshness_sla_hours INTEGER
  CONSTRAINT refresh_config_freshness_sla_hours_range CHECK (freshness_sla_hours BETWEEN 1 AND 17568);

-- table_state as in 037, with running_now read from live_run, and two columns at the end for
-- freshness: the configured SLA (NULL: default) and when the table was registered (a table that
-- never succeeded is late once its SLA has passed since then).
CREATE OR REPLACE VIEW sqp_refresh_work.table_state AS
SELECT c.id AS config_id, c.table_schema, c.table_name, c.is_enabled, c.priority, c.refresh_frequency_hours,
       coalesce(c.custom_sync_params, '{}'::jsonb) <> '{}'::jsonb AS configured,
       c.last_refresh_at, c.next_refresh_at,
       l.config_id IS NOT NULL AS running_now,
       rr.id AS running_run_id, rr.refresh_started_at AS running_started_at,
       nr.id AS newest_run_id,
       lf.run_id AS latest_run_id, lf.status AS latest_status, lf.finished_at AS latest_finished_at,
       coalesce(lf.retryable, false) AS latest_retryable, coalesce(lf.failure_streak, 0) AS failure_streak,
       CASE WHEN q.total = 0 THEN NULL WHEN q.outside = 0 THEN 'pass' WHEN lf.status = 'failed' THEN 'fail' ELSE 'warning' END AS quality_verdict,
       CASE WHEN lf.status = 'failed' AND lf.retryable THEN c.next_refresh_at END AS retry_at,
       k.function_name AS checkpoint_worker, k.last_processed_row AS checkpoint_rows, k.total_rows AS checkpoint_total_rows,
       c.freshness_sla_hours, c.created_at
FROM sqp.refresh_config c
LEFT JOIN sqp_refresh_work.live_run l ON l.config_id = c.id
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
