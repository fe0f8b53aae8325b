// engine/ — HOW one table is refreshed, once it is this process's to refresh: start or resume,
// write the source into a staging table, audit, publish (or publish nothing), and the records
// that tell it (the audit log, checkpoints, quality metrics), on the target's catalog. It decides
// nothing about when or where a table runs (scheduler/). May import: sources/ (the registry and
// the source interface), params/ (how a table is refreshed), state/ (the schedule's arithmetic,
// the table lock and the schedule writer), subscriptions/events.ts (event types), pg. Never
// scheduler/, the graph, the commands or the HTTP layer.
//
// Refreshes one table from its source: the job sqp-refresh exists for, in named phases —
// START or resume (start.ts), WRITE the source into the run's staging table (write.ts), AUDIT
// the complete load and PUBLISH it in one transaction, or publish nothing (audit.ts,
// publish.ts). What the phases share is the Run (run.ts); its audit row tells the whole story.
import { describeFailure, isConnectionLoss } from './refresh-failures.ts';
import { closeCheckpoint } from './checkpoints.ts';
import { tryLockTable, unlockTable } from './table-lock.ts';
import { RefreshBusyError, type RefreshConfigRow, type RefreshOptions, type RefreshOutcome } from './refresh-types.ts';
import { auditAndPublish } from './publish.ts';
import { Run } from './run.ts';
import { openRun, startOrResume } from './start.ts';
import { writeLoad } from './write.ts';

export { RefreshBusyError, type RefreshConfigRow, type RefreshOptions, type RefreshOutcome } from './refresh-types.ts';

/** Refreshes one table now; resolves with what happened (it does not throw for run failures). */
export async function refreshTable(config: RefreshConfigRow, options: RefreshOptions): Promise<RefreshOutcome> {
  const own = !options.lockedClient;
  const client = options.lockedClient ?? (await options.pool.connect());
  const lost = new AbortController();
  // The source read stops with a cancel, and with the loss of the run's connection.
  const run = new Run(client, config, { ...options, signal: options.signal ? AbortSignal.any([options.signal, lost.signal]) : lost.signal });
  let ended: Promise<RefreshOutcome> | null = null;
  // The run's connection holds the table's lock. When it is lost (failover, pg_terminate_backend)
  // the lock is gone at once, and another replica may claim the table: the run stops now — its
  // source read is aborted — and its audit row is ended now on a fresh connection, not when the
  // read in flight happens to notice. (Without a listener, the 'error' event would end the process.)
  const onLost = (err?: Error) => {
    if (run.lost) return;
    run.lost = err ?? new Error('Connection terminated');
    lost.abort(run.lost);
    if (run.runId !== null) ended = endLostRun(run);
  };
  client.on('error', onLost);
  client.on('end', onLost);
  try {
    // One refresh per table at a time, across processes: a session lock on the run's
    // connection, released by PostgreSQL itself if this process (or the connection) dies.
    if (own && !(await tryLockTable(client, config.tableSchema, config.tableName))) {
      throw new RefreshBusyError(`${config.tableSchema}.${config.tableName} is being refreshed by another process`);
    }
    return await runPhases(run);
  } catch (error) {
    if (isConnectionLoss(error)) onLost(error as Error);
    if (!run.lost || run.runId === null) throw error;
    return await (ended ??= endLostRun(run));
  } finally {
    client.off('error', onLost);
    client.off('end', onLost);
    if (own) {
      if (!run.lost) await unlockTable(client, config.tableSchema, config.tableName).catch(() => undefined);
      client.release(run.lost ?? undefined); // a broken connection leaves the pool
    }
  }
}

async function runPhases(run: Run): Promise<RefreshOutcome> {
  const checkpoint = await openRun(run);
  try {
    const started = await startOrResume(run, checkpoint);
    const written = await writeLoad(run, started);
    return run.announce(written.loaded ? await auditAndPublish(run, started) : written.outcome);
  } catch (error) {
    if (run.inTransaction) await run.rollback().catch(() => undefined);
    // refreshTable finishes the run on a fresh connection (whatever the error of the statement the loss failed).
    if (run.lost || isConnectionLoss(error)) throw error;
    const failure = describeFailure(error);
    if (run.checkpointId !== null && (failure.details.expired || failure.details.reason === 'params')) {
      await closeCheckpoint(run.client, run.checkpointId, 'expired').catch(() => undefined);
    }
    // Jobs a failed read started still bill (BigQuery: each attempt of a re-run job): they count against the day's budget.
    const billed = billedByJobs(failure.details.jobs);
    return run.announce(await run.finish('failed', 'failed', failure, billed === null ? {} : { bytesBilled: billed.toString() }));
  }
}

/**
 * The run's connection died: what it committed stands (each page with its checkpoint), the
 * rest rolled back with the connection, and its table lock is gone with the session. The
 * audit row is finished on a fresh connection as a retryable failure, so the runner retries
 * it from the checkpoint with backoff — unless whoever took the lock since ended it first
 * (Run.finish leaves that row as it is and reports it). Started, and announced, the moment the
 * loss is seen, while the phases wind down; handled at once, so that a failure here is thrown
 * when the run is over (refreshTable awaits it), never reported as unhandled.
 */
function endLostRun(run: Run): Promise<RefreshOutcome> {
  const ending = finishAfterConnectionLoss(run, run.lost!).then((outcome) => run.announce(outcome));
  ending.catch(() => undefined);
  return ending;
}

async function finishAfterConnectionLoss(run: Run, error: Error): Promise<RefreshOutcome> {
  const failure = describeFailure(error);
  const lost = {
    message: `lost its database connection (${failure.message}); the next run resumes from the checkpoint`,
    details: { ...failure.details, reason: 'connectionLost', retryable: true },
  };
  // What the lost transaction held did not happen: nothing was published, nothing deleted.
  run.deleted = 0;
  if (run.state && run.phase !== 'published') Object.assign(run.state, { inserted: 0, updated: 0 });
  const fresh = await run.options.pool.connect();
  try {
    return await run.finish('failed', 'failed', lost, {}, fresh);
  } finally {
    fresh.release();
  }
}

/** Bytes billed by the jobs a failure lists (`details.jobs[].bytesBilled`), or null when it lists none. */
function billedByJobs(jobs: unknown): bigint | null {
  if (!Array.isArray(jobs)) return null;
  let sum = 0n;
  for (const j of jobs as Array<{ bytesBilled?: unknown }>) if (typeof j?.bytesBilled === 'string' && /^\d+$/.test(j.bytesBilled)) sum += BigInt(j.bytesBilled);
  return sum;
}
