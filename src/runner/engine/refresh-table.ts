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
  // A connection lost while this run holds it (failover, pg_terminate_backend) fails the
  // statement in flight; without a listener its 'error' event would end the process.
  let lostWith: Error | null = null;
  const onError = (err: Error) => (lostWith ??= err);
  client.on('error', onError);
  const run = new Run(client, config, options);
  try {
    // One refresh per table at a time, across processes: a session lock on the run's
    // connection, released by PostgreSQL itself if this process (or the connection) dies.
    if (own && !(await tryLockTable(client, config.tableSchema, config.tableName))) {
      throw new RefreshBusyError(`${config.tableSchema}.${config.tableName} is being refreshed by another process`);
    }
    return await runPhases(run);
  } catch (error) {
    if (!(lostWith || isConnectionLoss(error)) || run.runId === null) throw error;
    return await finishAfterConnectionLoss(run, lostWith ?? (error as Error));
  } finally {
    client.off('error', onError);
    if (own) {
      if (!lostWith) await unlockTable(client, config.tableSchema, config.tableName).catch(() => undefined);
      client.release(lostWith ?? undefined); // a broken connection leaves the pool
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
    if (isConnectionLoss(error)) throw error; // refreshTable finishes the run on a fresh connection
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
 * it from the checkpoint with backoff.
 */
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
    return run.announce(await run.finish('failed', 'failed', lost, {}, fresh));
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
