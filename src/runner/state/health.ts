// Health of each registered table, as operators ask it: what state is it in and why (the
// planner's verdict, so it says exactly what the runner will do), is it stale beyond its
// frequency, how many failures in a row, the latest quality verdict, bytes billed today. Every
// fact comes from the read model (read-model.ts); the graph, the status page and
// `sqp-refresh status` all show these states.
import type pg from 'pg';
import { loadPlanInputFrom } from './plan-input.ts';
import { planRefreshes } from './planner.ts';
import { readTableFacts, type QualityVerdict, type TableFacts } from './read-model.ts';

export type { QualityVerdict } from './read-model.ts';
export type TableState = 'disabled' | 'running' | 'interrupted' | 'blocked' | 'retrying' | 'due' | 'scheduled' | 'unconfigured';

export interface TableHealth {
  configId: number;
  table: string;
  state: TableState;
  /** Why it is in that state (blocked by which parent, which retry, …). */
  reasons: string[];
  stale: boolean;
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
export async function tableHealth(db: pg.Pool | pg.ClientBase, now: Date, ids: number[] | null): Promise<TableHealth[]> {
  return healthOf(await readTableFacts(db, now, null), db, now, ids);
}

/** Health from facts already read (every table: the planner needs each parent's). */
export async function healthOf(all: TableFacts[], db: pg.Pool | pg.ClientBase, now: Date, ids: number[] | null): Promise<TableHealth[]> {
  const input = await loadPlanInputFrom(db, all, now, 0);
  const plan = new Map(planRefreshes(input).items.map((i) => [i.configId, i]));
  const wanted = ids && new Set(ids);
  return all.filter((f) => !wanted || wanted.has(f.configId)).map((f) => {
    const item = plan.get(f.configId);
    let state: TableState;
    const reasons: string[] = [];
    if (!f.isEnabled) state = 'disabled';
    else if (f.runningNow) {
      state = 'running';
      reasons.push(f.runningRunId === null ? 'claimed by a runner; its run is starting' : `run ${f.runningRunId} since ${f.runningStartedAt!.toISOString()}`);
    }
    else if (f.interrupted) {
      state = 'interrupted';
      reasons.push(`run ${f.runningRunId} says running but no process holds the table's lock: a runner recovers it and resumes from its checkpoint`);
    } else if (item?.state === 'blocked') {
      state = 'blocked';
      reasons.push(...item.notes);
    } else if (!f.configured) {
      state = 'unconfigured';
      reasons.push('custom_sync_params is empty: nothing says where its rows come from');
    } else if (f.retryAt && f.retryAt > now && f.failureStreak > 0) {
      state = 'retrying';
      reasons.push(`failed ${f.failureStreak} time(s) in a row; next attempt at ${f.retryAt.toISOString()}`);
    } else if (f.nextRefreshAt && f.nextRefreshAt <= now) state = 'due';
    else state = 'scheduled';
    if (item && state !== 'blocked') reasons.push(...item.notes);
    return {
      configId: f.configId,
      table: `${f.tableSchema}.${f.tableName}`,
      state,
      reasons,
      stale: f.lastRefreshAt === null || f.lastRefreshAt.getTime() < now.getTime() - f.refreshFrequencyHours * HOUR,
      lastRefreshAt: f.lastRefreshAt,
      nextRefreshAt: f.nextRefreshAt,
      failureStreak: f.failureStreak,
      qualityVerdict: f.qualityVerdict,
      latestRunId: f.newestRunId,
      bytesBilledToday: f.bytesBilledToday,
    };
  });
}
