// Backfill chunks from claim to unlock: after the due tables of a pass, each running backfill
// gets its next chunk run — oldest first, one chunk of a backfill at a time on any replica (the
// backfill's own session lock), never beside a regular run of the same table (the table's
// lock), within the global slots. A chunk is an ordinary run of the engine over its range
// (RefreshOptions.backfill): checkpointed, resumable, audited with the backfill's id and chunk.
// What it did is the audit row's; state/backfills.ts derives the chunk's state from it.
import type pg from 'pg';
import { refreshTable } from '../engine/refresh-table.ts';
import { tryLockTable, unlockTable } from '../engine/table-lock.ts';
import { alertBackfillFailed } from '../../alerts/table-alerts.ts';
import { nextBackfillChunk, readBackfill, runningBackfillIds, type BackfillChunk } from '../state/backfills.ts';
import { engineOptions, type SchedulerContext } from './context.ts';
import { takeSlot } from './slots.ts';
import { selectConfig } from './sql.ts';
import { wakeRunners } from './wake.ts';

/** Runs the next chunk of each running backfill (up to `concurrency` at once); resolves with how many ran. */
export async function runBackfillChunks(ctx: SchedulerContext, concurrency: number, stopping: () => boolean): Promise<number> {
  const queue = await runningBackfillIds(ctx.pool);
  let ran = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, queue.length) }, async () => {
      for (let id = queue.shift(); id !== undefined && !stopping(); id = queue.shift()) if (await runBackfillChunk(ctx, id)) ran++;
    }),
  );
  return ran;
}

/** Runs a backfill's next chunk when a global slot is free and it can run now; resolves with whether one ran. */
export async function runBackfillChunk(ctx: SchedulerContext, backfillId: number): Promise<boolean> {
  const slot = await takeSlot(ctx.pool, ctx.globalConcurrency);
  if (!slot) return false;
  try {
    return await claimAndRunChunk(ctx, backfillId);
  } catch (error) {
    ctx.log.warn({ err: error, backfillId }, 'backfill chunk could not start; the next pass tries again');
    return false;
  } finally {
    await slot.release();
  }
}

/** Takes the backfill's lock, then its next chunk's table lock, on one connection, and runs the chunk on it. */
async function claimAndRunChunk(ctx: SchedulerContext, backfillId: number): Promise<boolean> {
  const client = await ctx.pool.connect();
  let lost: Error | null = null;
  const onError = (err: Error) => (lost ??= err);
  client.on('error', onError);
  let chunk: BackfillChunk | null = null;
  let tableLocked = false;
  let backfillLocked = false;
  try {
    backfillLocked = (await client.query<{ ok: boolean }>(`SELECT sqp_refresh_work.try_lock_backfill($1) AS ok`, [backfillId])).rows[0]!.ok;
    if (!backfillLocked) return false; // its chunk in flight runs elsewhere
    // Read under the lock: no other process moves this backfill on meanwhile.
    chunk = await nextBackfillChunk(client, backfillId, ctx.now());
    if (!chunk) return false;
    tableLocked = await tryLockTable(client, chunk.tableSchema, chunk.tableName);
    if (!tableLocked) return false; // a regular run of the table: the chunk waits for the next pass
    await runChunk(ctx, client, chunk);
    return true;
  } finally {
    if (chunk) ctx.runs.untrack(chunk.configId);
    if (!lost && tableLocked) await unlockTable(client, chunk!.tableSchema, chunk!.tableName).catch((err: Error) => (lost = err));
    if (!lost && backfillLocked) await client.query(`SELECT sqp_refresh_work.unlock_backfill($1)`, [backfillId]).catch((err: Error) => (lost = err));
    client.off('error', onError);
    client.release(lost ?? undefined); // a broken connection leaves the pool, and its locks with it
  }
}

async function runChunk(ctx: SchedulerContext, client: pg.PoolClient, chunk: BackfillChunk): Promise<void> {
  const config = await selectConfig(client, chunk.tableSchema, chunk.tableName);
  if (!config) return;
  const table = `${chunk.tableSchema}.${chunk.tableName}`;
  const run = ctx.runs.track(config, table, ctx.log.child({ table, configId: config.id, backfillId: chunk.backfillId, chunk: chunk.ordinal }));
  const result = await refreshTable(config, {
    ...engineOptions(ctx, client, run.cancel.signal),
    force: true,
    backfill: { from: chunk.from, to: chunk.to },
    metadata: { trigger: 'backfill', backfill: { id: chunk.backfillId, chunk: chunk.ordinal, from: chunk.from, to: chunk.to } },
  });
  run.log[result.status === 'failed' ? 'warn' : 'info'](
    { runId: result.runId, status: result.status, outcome: result.outcome, rows: result.rowsProcessed, error: result.errorMessage },
    `backfill chunk ${chunk.ordinal} ${result.outcome}`,
  );
  if (result.status === 'failed') await tellIfFailed(ctx, chunk, result);
  // The next chunk may be any replica's.
  await wakeRunners(ctx.pool).catch(() => undefined);
}

/** A chunk's failure that failed its backfill (for good, as the read model says) is told: BACKFILL_FAILED, about the backfill's table. */
async function tellIfFailed(ctx: SchedulerContext, chunk: BackfillChunk, result: { runId: number; errorMessage: string | null }): Promise<void> {
  const backfill = await readBackfill(ctx.pool, chunk.backfillId);
  if (backfill?.status !== 'failed') return;
  const table = { configId: backfill.configId, tableSchema: backfill.tableSchema, tableName: backfill.tableName };
  const reason = `chunk ${chunk.ordinal} (${chunk.tableSchema}.${chunk.tableName} from ${chunk.from}) failed: ${result.errorMessage ?? 'unknown error'}`;
  await alertBackfillFailed(ctx.pool, table, { backfillId: backfill.id, runId: result.runId, reason, at: ctx.now() })
    .catch((err) => ctx.log.error({ err, backfillId: backfill.id }, 'could not write the alert of a failed backfill'));
}
