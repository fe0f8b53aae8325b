// One planned refresh from claim to unlock: take a global slot, claim the table on a connection
// of its own (the claim takes the table's refresh lock on that session, sql.ts claimDue), run
// the engine on it, move the schedule, and only then unlock — so no replica starts a hard
// dependent in between. A connection lost on the way is dropped from the pool, and with it the lock.
import type pg from 'pg';
import { interruptedRunEvents } from '../engine/audit-log.ts';
import { refreshTable } from '../engine/refresh-table.ts';
import type { RefreshConfigRow, RefreshOutcome } from '../engine/refresh-types.ts';
import type { PlannedRefresh } from '../state/planner.ts';
import { engineOptions, type SchedulerContext } from './context.ts';
import { reschedule } from './retries.ts';
import { takeSlot } from './slots.ts';
import { unlockTable } from '../engine/table-lock.ts';
import { hasPendingRequest } from '../state/requests.ts';
import { moveSchedule } from '../state/schedule-writer.ts';
import { claimDue, regularDueAt, type Claim } from './sql.ts';
import { wakeRunners } from './wake.ts';

/** How long a claim keeps a table from other replicas if its process dies silently. */
const LEASE_SECONDS = 3600;

/** Runs one planned refresh if a global slot is free and the claim succeeds; otherwise it stays due. */
export async function runPlanned(ctx: SchedulerContext, row: RefreshConfigRow, item: PlannedRefresh): Promise<void> {
  const slot = await takeSlot(ctx.pool, ctx.globalConcurrency);
  if (!slot) return; // every replica's slots are busy: it stays due for the next pass
  try {
    await claimAndRun(ctx, row, item);
  } finally {
    await slot.release();
  }
}

/** Claims the table on a connection of its own and runs the refresh on it, holding the lock until the schedule is written. */
async function claimAndRun(ctx: SchedulerContext, row: RefreshConfigRow, item: PlannedRefresh): Promise<void> {
  const client = await ctx.pool.connect();
  let lost: Error | null = null;
  const onError = (err: Error) => (lost ??= err);
  client.on('error', onError);
  let claimed = false;
  let cascaded = 0;
  try {
    const claim = await claimDue(client, row.id, ctx.now(), LEASE_SECONDS);
    if (!claim.claimed) {
      // Taken by another replica, or a hard parent is due or running somewhere: it stays due.
      if (claim.waitingFor) ctx.runs.block(row, [`waits for its hard parent: ${claim.waitingFor}`]);
      return;
    }
    claimed = true;
    ctx.runs.unblock(row.id);
    cascaded = await runClaimed(ctx, client, row, item, claim);
  } finally {
    ctx.runs.untrack(row.id);
    if (claimed && !lost) await unlockTable(client, row.tableSchema, row.tableName).catch((err: Error) => (lost = err));
    client.off('error', onError);
    client.release(lost ?? undefined); // a broken connection leaves the pool (and its lock with it)
  }
  // Dependents made due, or a request that came in during the run: any replica may take them now.
  if (cascaded > 0 || (await hasPendingRequest(ctx.pool, row.id).catch(() => false))) await wakeRunners(ctx.pool).catch(() => undefined);
}

/** Runs a claimed table's refresh on the locked connection and moves its schedule; resolves with the dependents it made due. */
async function runClaimed(ctx: SchedulerContext, client: pg.PoolClient, row: RefreshConfigRow, item: PlannedRefresh, claim: Extract<Claim, { claimed: true }>): Promise<number> {
  const table = `${row.tableSchema}.${row.tableName}`;
  // Retries run at their own times, but the schedule stays anchored to the regular slot.
  const anchor = (await regularDueAt(ctx.pool, row.id)) ?? claim.due;
  let config: RefreshConfigRow = { ...row, nextRefreshAt: anchor };
  if (claim.request?.mode) config = { ...config, customSyncParams: { ...(config.customSyncParams as object), mode: claim.request.mode } };
  const cascade = claim.request?.cascade ?? true;
  const requestIds = claim.request?.ids ?? [];
  const run = ctx.runs.track(config, table, ctx.log.child({ table, configId: config.id }));
  if (claim.interrupted.length) {
    run.log.warn({ runs: claim.interrupted }, 'ended runs of this table left running by a process that lost its lock or died');
    for (const e of await interruptedRunEvents(ctx.pool, claim.interrupted, ctx.now())) ctx.runs.emit(e);
  }
  try {
    const result = await refreshTable(config, {
      ...engineOptions(ctx, client, run.cancel.signal),
      requestIds,
      force: claim.request !== null,
      metadata: {
        trigger: claim.request ? 'forced' : 'runner',
        ...(claim.request?.requestedBy ? { requestedBy: claim.request.requestedBy } : {}),
        ...(claim.request && !cascade ? { cascade: false } : {}),
        regularDueAt: anchor.toISOString(),
        ...(item.unhealthySoftParents.length ? { unhealthySoftParents: item.unhealthySoftParents } : {}),
        ...(claim.interrupted.length ? { markedInterrupted: claim.interrupted } : {}),
      },
    });
    // A run that lost its lock, whose row the process that took the lock ended: the schedule is
    // theirs. Otherwise only the requests the run served count: one its read predates stays pending.
    const cascaded = result.superseded ? 0 : await reschedule(ctx.pool, config, result, { cascade, requestIds: result.requestIds ?? [] }, ctx);
    logOutcome(run.log, result);
    return cascaded;
  } catch (error) {
    await moveSchedule(ctx.pool, config.id, { after: claim.due }).catch(() => undefined);
    run.log.error({ err: error }, 'refresh could not start');
    return 0;
  }
}

function logOutcome(log: SchedulerContext['log'], result: RefreshOutcome): void {
  log[result.status === 'failed' ? 'warn' : 'info'](
    { runId: result.runId, status: result.status, outcome: result.outcome, rows: result.rowsProcessed, inserted: result.rowsInserted, updated: result.rowsUpdated, deleted: result.rowsDeleted, error: result.errorMessage },
    `refresh ${result.status}`,
  );
}
