// One pass of the runner: register tables the catalog shows (where no event trigger does),
// expire checkpoints, recover runs of dead processes, then refresh the due tables one
// dependency depth at a time — parents before dependents, in the planner's order, up to
// `concurrency` at once — until nothing due is left untried; then the backfills' next chunks.
import { loadDuePlanInput } from '../state/plan-input.ts';
import { planRefreshes, type PlannedRefresh } from '../state/planner.ts';
import type { RefreshConfigRow } from '../engine/refresh-types.ts';
import { transientPassFailure, type PassBackoff } from './backoff.ts';
import { registerCreatedTables } from './catalog-scan.ts';
import { runBackfillChunks } from './backfill-chunks.ts';
import { runPlanned } from './claim.ts';
import type { SchedulerContext } from './context.ts';
import { recoverInterruptedRuns } from './recovery.ts';
import { dueDepths, selectDue } from './sql.ts';

type Queued = { row: RefreshConfigRow; item: PlannedRefresh };

/** Makes one pass; resolves when nothing due is left untried, or the runner stops. */
export async function pass(ctx: SchedulerContext, options: { concurrency: number; backoff: PassBackoff; stopping: () => boolean }): Promise<void> {
  await housekeeping(ctx);
  options.backoff.succeed(); // the database answered (before the refreshes, which may take hours)
  await recoverInterruptedRuns(ctx.pool, ctx.now, ctx.log, ctx.runs.emit);
  const tried = new Set<number>();
  while (!options.stopping()) {
    const queue = await nextWave(ctx, tried);
    if (!queue) {
      // Nothing due is left: the backfills' next chunks, then look at what is due again.
      if ((await runBackfillChunks(ctx, options.concurrency, options.stopping)) === 0) return;
      continue;
    }
    await Promise.all(
      Array.from({ length: Math.min(options.concurrency, queue.length) }, async () => {
        for (let next = queue.shift(); next && !options.stopping(); next = queue.shift()) await runPlanned(ctx, next.row, next.item);
      }),
    );
  }
}

/** Registers new tables from the catalog and expires old checkpoints; a database that is not there fails the pass. */
async function housekeeping(ctx: SchedulerContext): Promise<void> {
  // Where no event trigger registers new sqp tables (no superuser), the catalog scan does.
  const found = await registerCreatedTables(ctx.pool).catch((err) => {
    if (transientPassFailure(err)?.kind === 'unavailable') throw err; // the pass cannot go on; the backoff says so once
    ctx.log.warn({ err }, 'catalog scan failed; the next pass scans again');
    return [];
  });
  if (found.length) ctx.log.info({ tables: found.map((t) => `${t.tableSchema}.${t.tableName}`) }, 'registered new tables found in the catalog');
  await ctx.pool.query('SELECT sqp.expire_checkpoints()');
}

/**
 * The next wave: the due tables not tried yet at the lowest dependency depth among them, in the
 * planner's order, with the blocked ones told why; null when nothing due is left untried.
 */
async function nextWave(ctx: SchedulerContext, tried: Set<number>): Promise<Queued[] | null> {
  const due = (await selectDue(ctx.pool, ctx.now(), [...tried])).filter((c) => !tried.has(c.id));
  if (!due.length) return null;
  // One dependency depth at a time, so that a parent always finishes before its dependents
  // are considered; then look again (a success may have made dependents due). Within the
  // wave the planner decides: its order (priority, then overdue) and who is blocked.
  const input = await loadDuePlanInput(ctx.pool, ctx.now(), due.map((c) => c.id), tried);
  const depths = dueDepths(due.map((c) => c.id), input.edges);
  const depth = Math.min(...due.map((c) => depths.get(c.id) ?? 0));
  const rows = new Map(due.filter((c) => (depths.get(c.id) ?? 0) === depth).map((c) => [c.id, c]));
  const plan = planRefreshes({ ...input, retry: ctx.retry });
  for (const c of plan.cycles) ctx.log.warn({ cycle: c }, 'dependency cycle: its tables are skipped');
  const queue: Queued[] = [];
  for (const item of plan.items) {
    const row = rows.get(item.configId);
    if (!row) continue;
    tried.add(row.id);
    if (item.state === 'blocked') ctx.runs.block(row, item.notes);
    else queue.push({ row, item });
  }
  for (const id of rows.keys()) tried.add(id); // anything the planner left out waits for the next pass
  return queue;
}
