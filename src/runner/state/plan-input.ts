// Reads what the planner needs from the database: configs, edges and each table's latest
// finished run — the run history from the read model (read-model.ts, migration 037).
import type pg from 'pg';
import type { PlanConfig, PlanEdge, PlanInput } from './planner.ts';
import { readLatestFinishedRuns, readTableFacts, type TableFacts } from './read-model.ts';

type Db = pg.Pool | pg.ClientBase;

/** Loads the planner's input for every table, with who runs now (the read model's facts). */
export async function loadPlanInput(db: Db, now: Date, horizonHours: number): Promise<PlanInput> {
  return loadPlanInputFrom(db, await readTableFacts(db, now, null, { bytes: false }), now, horizonHours);
}

/** The planner's input from facts already read (tableHealth reads them once for both). */
export async function loadPlanInputFrom(db: Db, facts: readonly TableFacts[], now: Date, horizonHours: number): Promise<PlanInput> {
  const edges = await db.query<PlanEdge>(
    `SELECT parent_config_id AS "parentId", dependent_config_id AS "dependentId", coalesce(dependency_type, 'hard') AS type
     FROM sqp.refresh_dependencies WHERE parent_config_id IS NOT NULL AND dependent_config_id IS NOT NULL`,
  );
  const configs = facts.map((f): PlanConfig => ({
    id: f.configId,
    tableSchema: f.tableSchema,
    tableName: f.tableName,
    isEnabled: f.isEnabled,
    priority: f.priority,
    refreshFrequencyHours: f.refreshFrequencyHours,
    // An interrupted run is recovered by the next pass, which makes its table due at once.
    nextRefreshAt: f.interrupted && (f.nextRefreshAt === null || f.nextRefreshAt > now) ? now : f.nextRefreshAt,
    configured: f.configured,
    runningNow: f.runningNow,
  }));
  const latestRuns = new Map(facts.flatMap((f) => (f.latestRun ? [[f.configId, { status: f.latestRun.status, finishedAt: f.latestRun.finishedAt, retryable: f.latestRun.retryable, attempts: f.failureStreak, retryAt: f.retryAt }] as const] : [])));
  return { now, horizonHours, configs, edges: edges.rows, latestRuns };
}

/**
 * The planner's input for one runner pass: the due tables, their direct parents (whose health
 * decides whether a hard dependent may run) and the edges between them. Tables already tried
 * in this pass are passed as not due, so a parent that could not run does not count as about
 * to refresh. No lock is read here: the claim itself checks, in the database, that no hard
 * parent is due or running anywhere (migration 035).
 */
export async function loadDuePlanInput(db: Db, now: Date, dueIds: number[], tried: ReadonlySet<number>): Promise<PlanInput> {
  const [configs, edges] = await Promise.all([
    db.query<PlanConfig>(
      `SELECT id, table_schema AS "tableSchema", table_name AS "tableName", is_enabled AS "isEnabled", priority,
              refresh_frequency_hours AS "refreshFrequencyHours", next_refresh_at AS "nextRefreshAt"
       FROM sqp.refresh_config
       WHERE id = ANY ($1::int[]) OR id IN (SELECT parent_config_id FROM sqp.refresh_dependencies WHERE dependent_config_id = ANY ($1::int[]))`,
      [dueIds],
    ),
    db.query<PlanEdge>(
      `SELECT parent_config_id AS "parentId", dependent_config_id AS "dependentId", coalesce(dependency_type, 'hard') AS type
       FROM sqp.refresh_dependencies WHERE dependent_config_id = ANY ($1::int[]) AND parent_config_id IS NOT NULL`,
      [dueIds],
    ),
  ]);
  const latestRuns = await readLatestFinishedRuns(db, configs.rows.map((c) => c.id));
  const due = new Set(dueIds);
  const planConfigs = configs.rows.map((c) => (due.has(c.id) && !tried.has(c.id) ? c : { ...c, nextRefreshAt: NEVER }));
  return { now, horizonHours: 0, configs: planConfigs, edges: edges.rows, latestRuns };
}

const NEVER = new Date(8.64e15);
