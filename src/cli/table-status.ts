// One statement: every registered table with its schedule, its latest run, and whether a
// refresh of it is running now.
import type pg from 'pg';

export interface TableStatus {
  table: string;
  enabled: boolean;
  priority: number;
  frequencyHours: number;
  /** False while custom_sync_params is empty: the runner skips the table. */
  configured: boolean;
  lastRefreshAt: Date | null;
  nextRefreshAt: Date | null;
  latestRun: {
    id: number;
    status: string;
    /** completed, paused (time budget; resumes from its checkpoint), cancelled or failed; null while running. */
    outcome: string | null;
    startedAt: Date;
    completedAt: Date | null;
    rowsProcessed: number | null;
    rowsInserted: number | null;
    rowsUpdated: number | null;
    rowsDeleted: number | null;
    errorMessage: string | null;
  } | null;
  /** A process holds the table's refresh lock (an audit row saying `running` may be a dead one's). */
  runningNow: boolean;
}

/** Reads the status of every registered table, ordered by schema and name. */
export async function selectTableStatus(db: pg.Pool | pg.ClientBase): Promise<TableStatus[]> {
  // "Running now" is "its refresh lock is held" (migration 035's table_locked reads pg_locks
  // without taking the lock, which would disturb a runner's zombie check).
  const { rows } = await db.query(
    `SELECT c.table_schema || '.' || c.table_name AS table, coalesce(c.is_enabled, true) AS enabled,
            coalesce(c.priority, 100) AS priority, coalesce(c.refresh_frequency_hours, 24) AS "frequencyHours",
            coalesce(c.custom_sync_params, '{}'::jsonb) <> '{}'::jsonb AS configured,
            c.last_refresh_at AS "lastRefreshAt", c.next_refresh_at AS "nextRefreshAt",
            sqp_refresh_work.table_locked(c.table_schema, c.table_name) AS "runningNow",
            CASE WHEN r.id IS NOT NULL THEN json_build_object(
              'id', r.id, 'status', r.status, 'outcome', r.sync_metadata->>'outcome',
              'startedAt', r.refresh_started_at, 'completedAt', r.refresh_completed_at,
              'rowsProcessed', r.rows_processed, 'rowsInserted', r.rows_inserted,
              'rowsUpdated', r.rows_updated, 'rowsDeleted', r.rows_deleted, 'errorMessage', r.error_message
            ) END AS "latestRun"
     FROM sqp.refresh_config c
     LEFT JOIN LATERAL (
       SELECT * FROM sqp.refresh_audit_log a
       WHERE a.refresh_config_id = c.id ORDER BY a.refresh_started_at DESC, a.id DESC LIMIT 1
     ) r ON true
     ORDER BY c.table_schema, c.table_name`,
  );
  return rows.map((row) => ({
    ...row,
    latestRun: row.latestRun && {
      ...row.latestRun,
      startedAt: new Date(row.latestRun.startedAt),
      completedAt: row.latestRun.completedAt ? new Date(row.latestRun.completedAt) : null,
    },
  }));
}
