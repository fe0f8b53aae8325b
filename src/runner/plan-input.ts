// Reads what the planner needs from the database: configs, edges and each table's latest run.
import type pg from 'pg';
import type { PlanConfig, PlanEdge, PlanInput, PlanLatestRun } from './planner.ts';

/** Loads the planner's input in three statements (each an index or sequential scan). */
export async function loadPlanInput(db: pg.Pool | pg.ClientBase, now: Date, horizonHours: number): Promise<PlanInput> {
  const [configs, edges, runs] = await Promise.all([
    db.query<PlanConfig>(
      `SELECT id, table_schema AS "tableSchema", table_name AS "tableName", coalesce(is_enabled, true) AS "isEnabled",
              coalesce(priority, 100) AS priority, coalesce(refresh_frequency_hours, 24) AS "refreshFrequencyHours",
              next_refresh_at AS "nextRefreshAt"
       FROM sqp.refresh_config`,
    ),
    db.query<PlanEdge>(
      `SELECT parent_config_id AS "parentId", dependent_config_id AS "dependentId", coalesce(dependency_type, 'hard') AS type
       FROM sqp.refresh_dependencies WHERE parent_config_id IS NOT NULL AND dependent_config_id IS NOT NULL`,
    ),
    // One index probe per config (idx_audit_log_config_id), not a scan of the whole log.
    db.query<{ id: number; status: PlanLatestRun['status']; finished_at: Date | null; retryable: boolean | null; attempts: number }>(
      `SELECT c.id, r.status, r.refresh_completed_at AS finished_at, (r.error_details->>'retryable')::boolean AS retryable, 1 AS attempts
       FROM sqp.refresh_config c
       CROSS JOIN LATERAL (
         SELECT status, refresh_completed_at, error_details FROM sqp.refresh_audit_log a
         WHERE a.refresh_config_id = c.id ORDER BY a.refresh_started_at DESC LIMIT 1
       ) r`,
    ),
  ]);
  const latestRuns = new Map<number, PlanLatestRun>(
    runs.rows.map((r) => [r.id, { status: r.status, finishedAt: r.finished_at, retryable: r.retryable ?? false, attempts: r.attempts }]),
  );
  return { now, horizonHours, configs: configs.rows, edges: edges.rows, latestRuns };
}
