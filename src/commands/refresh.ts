// What operators ask of the runner through the API: refresh a table now (or only plan it and
// estimate its bytes), schedule it, cancel a run. Each writes its request to the database and
// wakes the runners of every replica; whichever claims the table acts on it.
import type pg from 'pg';
import { BudgetExceededError, ConflictError, NotFoundError, ValidationError } from '../errors.ts';
import { bytesBilledToday, lastSuccess } from '../runner/engine/audit-log.ts';
import { loadPlanInput } from '../runner/state/plan-input.ts';
import { planRefreshes, type PlannedRefresh } from '../runner/state/planner.ts';
import { readRunStatus } from '../runner/state/run-state.ts';
import { incrementalSince, readRequest } from '../runner/engine/refresh-inputs.ts';
import type { EventBus } from '../subscriptions/bus.ts';
import type { RefreshEvent } from '../subscriptions/events.ts';
import type { RefreshConfigRow } from '../runner/engine/refresh-types.ts';
import type { Sources } from '../runner/sources/registry.ts';
import { requestCancel, wakeRunners } from '../runner/scheduler/wake.ts';
import { selectConfig } from '../runner/scheduler/sql.ts';
import { insertRequest } from '../runner/state/requests.ts';
import { moveSchedule } from '../runner/state/schedule-writer.ts';
import { SyncParamsError } from '../runner/params/params-error.ts';
import { parseSyncParams, type SyncParams } from '../runner/params/sync-params.ts';

export interface CommandContext {
  pool: pg.Pool;
  /** Sources for dry-run estimates (BigQuery); absent: no estimate. */
  sources?: Sources;
  dailyByteBudget: bigint | null;
  /** Cancels a run of this process directly (the NOTIFY reaches the others). */
  cancelLocal?: (runId: number) => boolean;
  /** Who asked (the token's name), for the audit row. */
  requestedBy: string | null;
  now?: () => Date;
  /** How long forceRefresh/cancelRefresh wait to see the run start/finish (ms). */
  waitMs?: number;
  /**
   * The process's event bus, which carries every replica's run events (subscriptions/
   * event-follower.ts, from the event log): the waits listen to it instead of polling the audit log. Without it
   * (a CLI, a test) they look at the audit log once at the end of the wait.
   */
  bus?: EventBus;
}

export interface ForceRequest {
  tableSchema: string;
  tableName: string;
  cascade: boolean;
  mode: 'full' | 'incremental' | null;
  dryRun: boolean;
}

export interface ForceResult {
  configId: number;
  /** The run that started, when one did within the wait. */
  runId: number | null;
  /** The request row this force wrote (the run that serves it lists it in sync_metadata.requestIds); null for a dry run. */
  requestId: number | null;
  dryRun: boolean;
  /** What will run, in order: the table, then (with cascade) its dependents. */
  plan: PlannedRefresh[];
  /** BigQuery's dry-run estimate of the bytes the query processes; null for other sources. */
  estimatedBytes: bigint | null;
  remainingBudgetBytes: bigint | null;
}

async function configOf(pool: pg.Pool, tableSchema: string, tableName: string): Promise<RefreshConfigRow> {
  const config = await selectConfig(pool, tableSchema, tableName);
  if (!config) throw new NotFoundError('tableName', `${tableSchema}.${tableName}`, `tableName: ${tableSchema}.${tableName} is not registered`);
  return config;
}

function paramsOf(config: RefreshConfigRow, mode: ForceRequest['mode']): SyncParams {
  try {
    const raw = config.customSyncParams as Record<string, unknown> | null;
    return parseSyncParams(mode ? { ...raw, mode } : raw);
  } catch (error) {
    if (error instanceof SyncParamsError) {
      throw new ValidationError(error.issues.map((i) => ({ path: i.path === 'mode' || i.path === 'cursorColumn' ? `mode` : `customSyncParams.${i.path}`, message: i.message })));
    }
    throw error;
  }
}

/**
 * The table a force or a schedule asks to refresh, as a run will need it — registered, enabled,
 * its params (with `mode`, when given) valid, a source among them — or the typed error naming
 * the field. Refused here, a request never waits for a run that cannot serve it.
 */
export async function refreshableConfig(pool: pg.Pool, req: { tableSchema: string; tableName: string }, mode: ForceRequest['mode']): Promise<{ config: RefreshConfigRow; params: SyncParams }> {
  const config = await configOf(pool, req.tableSchema, req.tableName);
  if (!config.isEnabled) throw new ConflictError('tableName', `tableName: ${req.tableSchema}.${req.tableName} is disabled; enable it with updateRefreshConfig first`);
  return { config, params: paramsOf(config, mode) };
}

/** Refreshes a table now: queues the request, wakes the runners and waits briefly for the run. */
export async function forceRefresh(ctx: CommandContext, req: ForceRequest): Promise<ForceResult> {
  const now = ctx.now?.() ?? new Date();
  const { config, params } = await refreshableConfig(ctx.pool, req, req.mode);

  const plan = await planForced(ctx.pool, now, config.id, req.cascade);
  const estimate = await estimateBytes(ctx, config, params, now);
  if (estimate && ctx.dailyByteBudget !== null && estimate.estimated > estimate.remaining) {
    throw new BudgetExceededError(estimate.estimated, estimate.remaining);
  }
  const base = { configId: config.id, plan, estimatedBytes: estimate?.estimated ?? null, remainingBudgetBytes: ctx.dailyByteBudget === null ? null : estimate?.remaining ?? null };
  if (req.dryRun) return { ...base, runId: null, requestId: null, dryRun: true };

  let requestId: number | null = null;
  // Listening before the request exists, so a run that starts at once is not missed.
  const servingRun = async (): Promise<number | null> => {
    const { rows } = await ctx.pool.query<{ id: number }>(
      `SELECT id FROM sqp.refresh_audit_log WHERE refresh_config_id = $1 AND sync_metadata->'requestIds' @> to_jsonb($2::bigint) ORDER BY id LIMIT 1`,
      [config.id, requestId]);
    return rows[0]?.id ?? null;
  };
  const started = waitForEvent(ctx, ctx.waitMs ?? 10_000, (e) => e.type === 'run:started' && e.configId === config.id, servingRun);
  const client = await ctx.pool.connect();
  try {
    await client.query('BEGIN');
    // The config row first, then the request: the lock order of migration 034 (a claim and a
    // run's finish take them in the same order, so they cannot deadlock with this).
    // Due now; a table being refreshed right now runs again afterwards: its run's final
    // schedule update keeps a request it did not serve.
    await moveSchedule(client, config.id, { notLaterThan: now });
    requestId = await insertRequest(client, { configId: config.id, mode: req.mode, cascade: req.cascade, requestedBy: ctx.requestedBy, requestedAt: now, runAt: now });
    await wakeRunners(client); // delivered at commit
    await client.query('COMMIT');
  } catch (error) {
    started.cancel();
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
  // The run that serves this request lists it from its first row on.
  const runId = await started.wait();
  return { ...base, runId, requestId, dryRun: false };
}

/** The plan of a forced refresh: the table now, then its dependents (unless cascade is off). */
async function planForced(pool: pg.Pool, now: Date, configId: number, cascade: boolean): Promise<PlannedRefresh[]> {
  const input = await loadPlanInput(pool, now, 0);
  const configs = input.configs.map((c) => ({ ...c, nextRefreshAt: c.id === configId ? now : new Date(8.64e15) }));
  const edges = cascade ? input.edges : input.edges.filter((e) => e.parentId !== configId);
  return planRefreshes({ ...input, configs, edges }).items;
}

async function estimateBytes(ctx: CommandContext, config: RefreshConfigRow, params: SyncParams, now: Date) {
  if (!ctx.sources?.canEstimateBytes(params.source)) return null;
  const reader = ctx.sources.reader(params.source, { targetSchema: config.tableSchema, deleteMissing: params.deleteMissing });
  const source = 'pages' in reader ? reader.pages : null;
  if (!source?.estimateBytes) return null;
  const client = await ctx.pool.connect();
  try {
    const since = incrementalSince(params, await lastSuccess(client, config.id));
    const estimated = await source.estimateBytes(readRequest(config, params, params.keyColumns ?? [], since));
    const spent = await bytesBilledToday(client, now);
    const remaining = ctx.dailyByteBudget === null ? 0n : ctx.dailyByteBudget - spent > 0n ? ctx.dailyByteBudget - spent : 0n;
    return { estimated, remaining };
  } finally {
    client.release();
  }
}

/**
 * The times scheduleRefresh accepts, from now: a little in the past (the caller's clock may
 * lag ours; a time past means now) up to a year ahead (the longest refresh frequency).
 */
export const SCHEDULE_WINDOW = { pastMinutes: 5, aheadDays: 366 } as const;

/** `at` of scheduleRefresh inside SCHEDULE_WINDOW of `now`, or a ValidationError on `at` saying which bound it crossed. */
function checkScheduleTime(at: Date, now: Date): void {
  if (Number.isNaN(at.getTime())) throw ValidationError.of('at', 'must be a valid date-time');
  if (at.getTime() < now.getTime() - SCHEDULE_WINDOW.pastMinutes * 60_000) {
    throw ValidationError.of('at', `must not be more than ${SCHEDULE_WINDOW.pastMinutes} minutes in the past (${now.toISOString()} now); forceRefresh refreshes now`);
  }
  if (at.getTime() > now.getTime() + SCHEDULE_WINDOW.aheadDays * 86_400_000) {
    throw ValidationError.of('at', `must be at most a year (${SCHEDULE_WINDOW.aheadDays} days) ahead (${now.toISOString()} now)`);
  }
}

/** Sets when a table next refreshes; refuses what forceRefresh refuses, and a time outside SCHEDULE_WINDOW. */
export async function scheduleRefresh(ctx: CommandContext, req: { tableSchema: string; tableName: string; at: Date }): Promise<number> {
  const now = ctx.now?.() ?? new Date();
  const { config } = await refreshableConfig(ctx.pool, req, null);
  checkScheduleTime(req.at, now);
  const client = await ctx.pool.connect();
  try {
    await client.query('BEGIN');
    // next_refresh_at is set as asked (it may postpone); the request makes a run that is going
    // on right now keep this time instead of writing its own (migration 034).
    await moveSchedule(client, config.id, { exactly: req.at });
    await insertRequest(client, { configId: config.id, mode: null, cascade: true, requestedBy: ctx.requestedBy, requestedAt: now, runAt: req.at });
    await wakeRunners(client);
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
  return config.id;
}

/** Asks the replica running `runId` to stop it at the next page boundary; waits briefly for it. */
export async function cancelRefresh(ctx: CommandContext, runId: number): Promise<{ runId: number; finished: boolean }> {
  // Running as the read model says it: a `running` row no live process holds is interrupted,
  // and there is nobody to ask to stop.
  const run = await readRunStatus(ctx.pool, runId);
  if (!run) throw new NotFoundError('runId', String(runId), `runId: run ${runId} does not exist`);
  if (run.status !== 'running') throw new ConflictError('runId', `runId: run ${runId} is not running (it is ${run.status ?? 'unknown'})`);
  const ended = async () => ((await readRunStatus(ctx.pool, runId))?.status !== 'running' ? true : null);
  const finished = waitForEvent(ctx, ctx.waitMs ?? 10_000, (e) => e.type === 'run:finished' && e.runId === runId, ended);
  ctx.cancelLocal?.(runId);
  await requestCancel(ctx.pool, runId);
  return { runId, finished: (await finished.wait()) === true };
}

/**
 * Listens on the bus from now for an event that `matches`; `wait()` then waits up to `ms` for
 * one (or uses one seen already) and asks `check` (the database's word: the event may come
 * from any replica, and one sent before we listened is found there too). Without a bus, or
 * when the time is up, `check` alone answers.
 */
function waitForEvent<T>(ctx: CommandContext, ms: number, matches: (e: RefreshEvent) => boolean, check: () => Promise<T | null>): { wait(): Promise<T | null>; cancel(): void } {
  let onMatch: (() => void) | null = null;
  let seen = false;
  const unsubscribe = ctx.bus?.subscribe((e) => {
    if (!matches(e)) return;
    seen = true;
    onMatch?.();
  });
  const cancel = () => unsubscribe?.();
  return {
    cancel,
    wait: () =>
      new Promise<T | null>((resolve, reject) => {
        let done = false;
        const finish = (value: T | null) => {
          done = true;
          clearTimeout(timer);
          cancel();
          resolve(value);
        };
        const timer = setTimeout(() => check().then(finish, reject), Math.max(0, ms));
        // The event proves the state is committed (persist first, then publish); check it is ours.
        onMatch = () => void check().then((v) => { if (v !== null && !done) finish(v); }, () => undefined);
        if (seen) onMatch();
      }),
  };
}
