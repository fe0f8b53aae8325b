// Health of each registered table, as operators ask it: what state is it in and why (the one
// precedence order of table-state.ts, over the read model's facts and the planner's verdict on
// its next refresh, so it says exactly what the runner will do), is it late beyond its freshness
// SLA, how many failures in a row, the latest quality verdict, bytes billed today. The graph,
// the status page, /metrics and `sqp-refresh status` all show these states.
import type pg from 'pg';
import { loadPlanInputFrom } from './plan-input.ts';
import { planRefreshes, type RetryPolicy } from './planner.ts';
import { readTableFacts, type QualityVerdict, type TableFacts } from './read-model.ts';
import { tableStateOf, type TableState } from './table-state.ts';

export type { QualityVerdict } from './read-model.ts';
export type { TableState } from './table-state.ts';

export interface TableHealth {
  configId: number;
  table: string;
  tableSchema: string;
  tableName: string;
  state: TableState;
  /** Why it is in that state (blocked by which parent, which retry, …). */
  reasons: string[];
  stale: boolean;
  /** Its freshness SLA has passed without a success (enabled, configured tables only). */
  late: boolean;
  /** Its freshness SLA in force, in hours. */
  freshnessSlaHours: number;
  /** When it is late unless it succeeds first. */
  lateAfter: Date;
  /** A runner would start it now (queue depth counts these). */
  queued: boolean;
  lastRefreshAt: Date | null;
  nextRefreshAt: Date | null;
  failureStreak: number;
  qualityVerdict: QualityVerdict | null;
  /** Its newest run, running or finished. */
  latestRunId: number | null;
  bytesBilledToday: bigint;
}

const HOUR = 3_600_000;

/** Health of the given configs (all when `ids` is null): the read model, then the planner over it. */
export async function tableHealth(db: pg.Pool | pg.ClientBase, now: Date, ids: number[] | null, options: { bytes?: boolean; retry?: RetryPolicy } = {}): Promise<TableHealth[]> {
  return healthOf(await readTableFacts(db, now, null, { bytes: options.bytes }), db, now, ids, options.retry);
}

/**
 * Health from facts already read (every table: the planner needs each parent's). The plan has no
 * horizon: each table's next refresh, whenever it comes, gets the planner's verdict, so a table
 * whose next refresh will be blocked is BLOCKED now, as refreshPlan says it.
 */
export async function healthOf(all: TableFacts[], db: pg.Pool | pg.ClientBase, now: Date, ids: number[] | null, retry?: RetryPolicy): Promise<TableHealth[]> {
  const input = await loadPlanInputFrom(db, all, now, Infinity);
  const plan = new Map(planRefreshes({ ...input, retry }).items.map((i) => [i.configId, i]));
  const wanted = ids && new Set(ids);
  return all.filter((f) => !wanted || wanted.has(f.configId)).map((f) => ({
    configId: f.configId,
    table: `${f.tableSchema}.${f.tableName}`,
    tableSchema: f.tableSchema,
    tableName: f.tableName,
    ...tableStateOf(f, plan.get(f.configId), now, retry),
    stale: f.lastRefreshAt === null || f.lastRefreshAt.getTime() < now.getTime() - f.refreshFrequencyHours * HOUR,
    freshnessSlaHours: f.freshnessSlaHours,
    lateAfter: f.lateAfter,
    lastRefreshAt: f.lastRefreshAt,
    nextRefreshAt: f.nextRefreshAt,
    failureStreak: f.failureStreak,
    qualityVerdict: f.qualityVerdict,
    latestRunId: f.newestRunId,
    bytesBilledToday: f.bytesBilledToday,
  }));
}
