// WRITE: the source's rows into the run's staging table, the target untouched. Paged sources
// (bigquery, postgres) hand over pages that are COPYed one by one, each committed together
// with its checkpoint; an in-database source (an sql transform) is one INSERT … SELECT. A
// cancel, a shutdown or the time budget stops at a page boundary and publishes nothing; the
// next slice continues where the checkpoint says. A BigQuery read whose inputs did not change
// since the last success runs no query at all — only while the target is provably as that
// success left it (target-identity.ts); a target changed behind the service's back is read
// again in full, however the table is usually read.
import { closeCheckpoint, advanceCheckpoint, loadIsComplete, type CheckpointState } from './checkpoints.ts';
import { enforceBudget, loadWindow, readRequest } from './refresh-inputs.ts';
import { RefreshFailure } from './refresh-failures.ts';
import type { RefreshOutcome } from './refresh-types.ts';
import { checkTarget, type TargetCheck } from './target-identity.ts';
import type { InDatabaseRead, PagedSource, SourceRead } from '../sources/source.ts';
import type { Run } from './run.ts';
import type { StartedRun } from './start.ts';

/** `loaded`: every page is staged (now or by an earlier slice); otherwise how the run ended. */
export type WriteResult = { loaded: true } | { loaded: false; outcome: RefreshOutcome };

export async function writeLoad(run: Run, started: StartedRun): Promise<WriteResult> {
  // Every page was committed before the previous slice stopped (killed, or its connection
  // lost, in the final phase): only the audit and the publish are left.
  if (loadIsComplete(run.state!)) return { loaded: true };
  const { reader } = started;
  // A new load: is the target as the last publish left it? (A load already under way decided at its start.)
  const targetCheck = run.state!.pagesDone === 0 ? await checkTarget(run.client, started.target, started.previous?.metadata) : null;
  // A backfill chunk keeps to its range: the next regular run repairs a touched target (publish.ts targetFacts).
  if (targetCheck?.state === 'touched' && !run.state!.window) readEverything(run, started);
  if ('inDatabase' in reader) {
    await writeInDatabase(run, started, reader.inDatabase);
    return { loaded: true };
  }
  return writePages(run, started, reader.pages, targetCheck);
}

/**
 * The target was changed outside the service: a read since the watermark would leave what was
 * deleted or edited before it as it is, so this load reads everything and its window is the
 * whole table (with deleteMissing, the publish then deletes every row the source lacks). The
 * checkpoint keeps `since` null from its first page on, so a resumed slice reads on the same way.
 */
function readEverything(run: Run, started: StartedRun): void {
  run.state!.since = null;
  const plan = 'inDatabase' in started.reader ? started.reader.inDatabase : null;
  started.window = loadWindow(plan, started.params, null, started.cursorColumn);
}

/** A transform is one page: computed in PostgreSQL into the staging table. */
async function writeInDatabase(run: Run, started: StartedRun, plan: InDatabaseRead): Promise<void> {
  const state = run.state!;
  const loader = started.staging(plan.columns);
  const watermark = (await run.client.query<{ w: string | null }>(plan.watermark)).rows[0]!.w;
  await run.begin();
  await loader.create();
  const staged = await loader.stageQuery(plan.select, [state.since, state.window?.from ?? null, state.window?.to ?? null]);
  // A backfill chunk recomputes its periods only: the changes after the watermark are still the next regular run's.
  if (!state.window) state.watermarkAfter = watermark ?? state.watermarkAfter;
  await commitStagedPage(run, staged, null);
  run.progress(state.rowsDone);
}

async function writePages(run: Run, started: StartedRun, source: PagedSource, targetCheck: TargetCheck | null): Promise<WriteResult> {
  const { client, config, options } = run;
  const { params, target, keyColumns, previous } = started;
  const state = run.state!;
  const request = { ...readRequest(config, params, keyColumns, state.since, state.window), resume: state.source ?? undefined, signal: options.signal };
  // Nothing the query reads changed since the last successful run read it, and the target is
  // as that run left it: no query, no bytes, the run ends at once (a request always reads; a
  // table can opt out in its params). The target is asked first: it costs no call to the source.
  const previousInputs = previous?.metadata.sourceInputs;
  if (targetCheck?.state === 'untouched' && !options.force && !state.window && previousInputs !== undefined && source.inputsUnchanged
    && (await source.inputsUnchanged(request, previousInputs)).unchanged) {
    return { loaded: false, outcome: await finishUnchanged(run, started) };
  }
  if (options.sources.canEstimateBytes(params.source) && !state.source) {
    await enforceBudget(client, source, request, options, run.now(), (b) => (run.bytes = { ...run.bytes, ...b }));
  }
  let read: SourceRead | null = null;
  try {
    read = await source.open(request);
    run.bytes = { ...run.bytes, processed: read.stats.bytesProcessed, billed: read.stats.bytesBilled, jobId: read.stats.jobId };
    if (read.stats.jobId) state.jobId = read.stats.jobId;
    // A chunk's inputs are its range's: the next regular run must not take them for its own.
    if (read.stats.inputs !== undefined && !state.window) state.sourceInputs = read.stats.inputs;
    run.details = read.details ?? {};
    const missing = read.columns.filter((c) => !target.columns.some((t) => t.name === c));
    if (missing.length) throw new RefreshFailure(`source columns not in ${target.schema}.${target.name}: ${missing.join(', ')}`, { reason: 'columnMismatch', columns: missing, retryable: false });
    if (state.columns && state.columns.join() !== read.columns.join()) {
      throw new RefreshFailure(`the source's columns changed while its load was resumed (${read.columns.join(', ')})`, { reason: 'columnMismatch', expired: true, retryable: true });
    }
    const loader = started.staging(read.columns);
    if (state.pagesDone === 0) {
      await loader.create();
      state.columns = read.columns;
    }
    const deadline = params.maxRunSeconds ? run.clockStart + params.maxRunSeconds * 1000 : Infinity;
    for await (const page of read.pages()) {
      run.sampleMemory();
      await run.begin();
      let staged: number;
      try {
        staged = await loader.stagePage(page);
      } finally {
        page.release?.(); // its COPY text is with PostgreSQL now: the buffer may be reused
      }
      await commitStagedPage(run, staged, page.resumeAfter, read.totalRows);
      run.progress(read.totalRows);
      if (!page.resumeAfter) break;
      const stop = stopAtPageBoundary(run, params.maxRunSeconds, deadline);
      if (stop) return { loaded: false, outcome: await stop() };
    }
    if (options.signal?.aborted && state.source) return { loaded: false, outcome: await cancelled(run, {}) };
    return { loaded: true };
  } finally {
    await read?.close().catch(() => undefined);
  }
}

/** A cancel, a shutdown or the time budget, asked for while a page was staged: how the run ends now (nothing published). */
function stopAtPageBoundary(run: Run, maxRunSeconds: number | undefined, deadline: number): (() => Promise<RefreshOutcome>) | null {
  const { options } = run;
  const page = run.state!.pagesDone;
  if (options.signal?.aborted) return () => cancelled(run, { afterPage: page });
  const pause = (message: string, reason: string) => () =>
    run.finish('warning', 'paused', { message: `${message} after page ${page}; the next run resumes from the checkpoint`, details: { reason, retryable: true, afterPage: page } });
  if (options.shutdownSignal?.aborted) return pause('stopped by shutdown', 'shutdown');
  if (performance.now() >= deadline) return pause(`time budget of ${maxRunSeconds}s reached`, 'timeBudget');
  return null;
}

async function cancelled(run: Run, details: Record<string, unknown>): Promise<RefreshOutcome> {
  await closeCheckpoint(run.client, run.checkpointId!, 'expired');
  return run.finish('failed', 'cancelled', { message: 'cancelled', details: { reason: 'cancelled', retryable: false, ...details } });
}

/** Counts a staged page in the checkpoint and commits both (the run's open transaction). */
async function commitStagedPage(run: Run, staged: number, resumeAfter: Record<string, unknown> | null, totalRows: number | null = null): Promise<void> {
  const state: CheckpointState = run.state!;
  state.pagesDone += 1;
  state.rowsDone += staged;
  state.source = resumeAfter;
  state.loadComplete = resumeAfter === null;
  await advanceCheckpoint(run.client, run.checkpointId!, state, totalRows ?? state.rowsDone, run.ttl);
  await run.commit();
}

/**
 * Ends a run whose source inputs did not change over an untouched target: success with outcome
 * `unchanged`, 0 rows read, 0 bytes, its schedule moved as after a success, the previous
 * success's inputs, target identity and counts carried forward — one transaction.
 */
async function finishUnchanged(run: Run, started: StartedRun): Promise<RefreshOutcome> {
  const { client } = run;
  const previous = started.previous!;
  await run.beginFinal();
  await closeCheckpoint(client, run.checkpointId!, 'completed');
  const result = await run.finish('success', 'unchanged', null, {
    sourceInputs: previous.metadata.sourceInputs, bytesBilled: '0', bytesProcessed: '0', unchangedSince: previous.id,
    targetIdentity: previous.metadata.targetIdentity,
    ...(previous.metadata.targetRows !== undefined ? { targetRows: previous.metadata.targetRows } : {}),
    ...(previous.metadata.watermarkAfter !== undefined ? { watermarkAfter: previous.metadata.watermarkAfter } : {}),
  });
  await run.scheduleAfterSuccess();
  await run.commit();
  return result;
}
