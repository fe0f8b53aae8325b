// Reads what the planner needs from the database: configs, edges and each table's latest run.
import type pg from 'pg';
import type { PlanConfig, PlanEdge, PlanInput, PlanLatestRun } from './planner.ts';

/** Loads the planner's input in three statements (each an index or sequential scan). */
export async function loadPlanInput(db: pg.Pool | pg.ClientBase, now: Date, horizonHours: number): Promise<PlanInput> {
  const [configs, edges, runs] = await Promise.all([
    db.query<PlanConfig>(CONFIG_COLUMNS),
    db.query<PlanEdge>(
      `SELECT parent_config_id AS "parentId", dependent_config_id AS "dependentId", coalesce(dependency_type, 'hard') AS type
       FROM sqp.refresh_dependencies WHERE parent_config_id IS NOT NULL AND dependent_config_id IS NOT NULL`,
    ),
    // One index probe per config (idx_audit_log_config_id), not a scan of the whole log.
    db.query<LatestRunRow>(`SELECT c.id, r.* FROM sqp.refresh_config c CROSS JOIN LATERAL (${LATEST_FINISHED_RUN}) r`),
  ]);
  return { now, horizonHours, configs: configs.rows, edges: edges.rows, latestRuns: latestRunMap(runs.rows) };
}

/**
 * The planner's input for one runner pass: the due tables, their direct parents (whose health
 * decides whether a hard dependent may run) and the edges between them. Tables already tried
 * in this pass are passed as not due, so a parent that could not run does not count as about
 * to refresh.
 */
export async function loadDuePlanInput(
  db: pg.Pool | pg.ClientBase,
  now: Date,
  dueIds: number[],
  tried: ReadonlySet<number>,
): Promise<PlanInput> {
  const [configs, edges] = await Promise.all([
    db.query<PlanConfig>(
      `${CONFIG_COLUMNS} WHERE id = ANY ($1::int[])
          OR id IN (SELECT parent_config_id FROM sqp.refresh_dependencies WHERE dependent_config_id = ANY ($1::int[]))`,
      [dueIds],
    ),
    db.query<PlanEdge>(
      `SELECT parent_config_id AS "parentId", dependent_config_id AS "dependentId", coalesce(dependency_type, 'hard') AS type
       FROM sqp.refresh_dependencies WHERE dependent_config_id = ANY ($1::int[]) AND parent_config_id IS NOT NULL`,
      [dueIds],
    ),
  ]);
  const ids = configs.rows.map((c) => c.id);
  const runs = await db.query<LatestRunRow>(
    `SELECT c.id, r.* FROM unnest($1::int[]) AS c(id) CROSS JOIN LATERAL (${LATEST_FINISHED_RUN}) r`,
    [ids],
  );
  const due = new Set(dueIds);
  const planConfigs = configs.rows.map((c) => (due.has(c.id) && !tried.has(c.id) ? c : { ...c, nextRefreshAt: NEVER }));
  return { now, horizonHours: 0, configs: planConfigs, edges: edges.rows, latestRuns: latestRunMap(runs.rows) };
}

const NEVER = new Date(8.64e15);

const CONFIG_COLUMNS = `
  SELECT id, table_schema AS "tableSchema", table_name AS "tableName", coalesce(is_enabled, true) AS "isEnabled",
         coalesce(priority, 100) AS priority, coalesce(refresh_frequency_hours, 24) AS "refreshFrequencyHours",
         next_refresh_at AS "nextRefreshAt"
  FROM sqp.refresh_config`;

/**
 * The latest finished run of config `c.id` (a paused slice is not an outcome: the refresh goes
 * on; nor is a cancel: an operator's decision), and the table's failure streak.
 */
const LATEST_FINISHED_RUN = `
  SELECT a.status, a.refresh_completed_at AS finished_at, (a.error_details->>'retryable')::boolean AS retryable,
         CASE WHEN a.status = 'failed' THEN sqp_refresh_work.failure_streak(c.id) ELSE 0 END AS attempts
  FROM sqp.refresh_audit_log a
  WHERE a.refresh_config_id = c.id AND a.status <> 'running' AND coalesce(a.sync_metadata->>'outcome', '') NOT IN ('paused', 'cancelled')
  ORDER BY a.refresh_started_at DESC, a.id DESC LIMIT 1`;

interface LatestRunRow {
  id: number;
  status: PlanLatestRun['status'];
  finished_at: Date | null;
  retryable: boolean | null;
  attempts: number;
}

function latestRunMap(rows: LatestRunRow[]): Map<number, PlanLatestRun> {
  return new Map(rows.map((r) => [r.id, { status: r.status, finishedAt: r.finished_at, retryable: r.retryable ?? false, attempts: r.attempts }]));
}
