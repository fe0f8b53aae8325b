-- 035_replica_order: parents before dependents on any number of replicas, decided by the
-- database, not by one replica's view.
--
-- A table's refresh lock is a session advisory lock on (hashtext('sqp-refresh'),
-- hashtext('schema.table')), held by the connection that claims and runs the refresh, so
-- PostgreSQL frees it when that process or connection dies. These functions are the one
-- place the key is spelled; "running now" anywhere means "its lock is held".

CREATE OR REPLACE FUNCTION sqp_refresh_work.try_lock_table(p_schema TEXT, p_table TEXT) RETURNS BOOLEAN
LANGUAGE sql VOLATILE AS $$ SELECT pg_try_advisory_lock(hashtext('sqp-refresh'), hashtext(p_schema || '.' || p_table)) $$;

CREATE OR REPLACE FUNCTION sqp_refresh_work.unlock_table(p_schema TEXT, p_table TEXT) RETURNS BOOLEAN
LANGUAGE sql VOLATILE AS $$ SELECT pg_advisory_unlock(hashtext('sqp-refresh'), hashtext(p_schema || '.' || p_table)) $$;

-- Whether any session holds the table's lock (claimed or running on some replica). Two-key
-- advisory locks show their keys as classid/objid with objsubid 2.
CREATE OR REPLACE FUNCTION sqp_refresh_work.table_locked(p_schema TEXT, p_table TEXT) RETURNS BOOLEAN
LANGUAGE sql VOLATILE AS $$
  SELECT EXISTS (
    SELECT 1 FROM pg_locks
    WHERE locktype = 'advisory' AND granted AND objsubid = 2
      AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
      AND classid = hashtext('sqp-refresh')::oid AND objid = hashtext(p_schema || '.' || p_table)::oid)
$$;

-- The first hard parent that keeps config `p_config_id` from starting at `p_at`, with why
-- ('due' or 'running'), or NULL when none does. A claim calls it before it takes the table's
-- lock (src/runner/runner-sql.ts claimDue). Why this holds under any interleaving of claims:
-- a parent P is claimed by one statement that takes P's lock and then moves P's
-- next_refresh_at past now, committing after the lock is granted. A dependent's claim reads
-- P's row in its own snapshot and P's lock live. If that snapshot predates P's commit, P is
-- still due there; if it follows it, P's lock was granted before, and is held until P's run
-- has committed its final state. So at no instant is P both not-due and not-locked while it
-- is claimed or running, and the dependent is refused. After P's run, P is not due (success:
-- next slot; failure: the retry time, and the planner blocks dependents of a failed hard
-- parent) and its lock is free.
CREATE OR REPLACE FUNCTION sqp_refresh_work.hard_parent_pending(p_config_id INTEGER, p_at TIMESTAMPTZ) RETURNS TEXT
LANGUAGE sql VOLATILE AS $$
  SELECT p.table_schema || '.' || p.table_name || CASE WHEN due THEN ' is due' ELSE ' is running' END
  FROM sqp.refresh_dependencies e
  JOIN sqp.refresh_config p ON p.id = e.parent_config_id
  CROSS JOIN LATERAL (SELECT p.is_enabled AND p.custom_sync_params <> '{}'::jsonb AND p.next_refresh_at <= p_at AS due) d
  WHERE e.dependent_config_id = p_config_id AND coalesce(e.dependency_type, 'hard') = 'hard'
    AND (d.due OR sqp_refresh_work.table_locked(p.table_schema, p.table_name))
  ORDER BY p.id
  LIMIT 1
$$;
