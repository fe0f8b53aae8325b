// PUBLISH: one transaction that makes the complete load the target's — or, when the audit
// finds a blocking breach, publishes nothing. The config row is locked first (the lock order
// of migration 034: config, then requests). Then the audit (audit.ts) measures the load and
// whether it would change anything; the staged rows are applied (nothing when it would not: no
// tuple is written or locked; a plain INSERT into an empty target; otherwise the merge that
// counts inserted and updated rows exactly), the window's missing rows are deleted (deleteMissing), and the
// quality of the result is judged before the commit. Readers see the old rows until the
// commit, then all of the new ones. A kill anywhere in here rolls it all back; the checkpoint
// still says the load is complete, so the next run comes straight back here. Before anything
// is read, the target's version row is locked (target-identity.ts); what identifies the target
// after the publish is recorded in the audit row, which a later run compares before it skips.
import { closeCheckpoint } from './checkpoints.ts';
import { greater } from './refresh-inputs.ts';
import type { RefreshOutcome } from './refresh-types.ts';
import { recordQuality } from './quality.ts';
import { auditLoad, judgeLoad, type LoadAudit } from './audit.ts';
import type { Run } from './run.ts';
import type { StartedRun } from './start.ts';
import { countMissing, deleteMissing, type StagedLoad } from './staging.ts';
import { identityAfterPublish, lockTarget, untrackedFact, type PublishTracking } from './target-identity.ts';

export async function auditAndPublish(run: Run, started: StartedRun): Promise<RefreshOutcome> {
  const { client } = run;
  const state = run.state!;
  const loader = started.staging(state.columns!);
  run.phase = 'auditing';
  run.progress(state.rowsDone);
  const auditStarted = performance.now();
  await run.beginFinal();
  const tracking = await lockTarget(client, started.target, started.previous?.metadata);
  const audit = await auditLoad(started, loader);
  const applyStarted = performance.now();
  const applied = await apply(run, started, loader, audit);
  const judgeStarted = performance.now();
  const verdict = await judgeLoad(run, started, audit, applied);
  // Time measuring (would it change anything, quality) and time writing the target (apply, deletes, records), apart.
  const auditMs = applyStarted - auditStarted + (performance.now() - judgeStarted);
  const writeStarted = performance.now();
  const figures = {
    diff: { inserted: applied.inserted, updated: applied.updated, deleted: applied.deleted },
    auditMs: Math.round(auditMs),
    ...(audit.targetEmpty ? { bulkPath: true } : {}),
  };

  if (verdict.status === 'failed') {
    // Nothing is published: the applied rows and deletes roll back; the staged rows stay for inspection.
    await run.rollback();
    Object.assign(state, { inserted: 0, updated: 0 });
    run.deleted = 0;
    const staged = { table: loader.stage, rows: audit.staged };
    await run.begin();
    await recordQuality(client, run.runId!, verdict.metrics);
    await closeCheckpoint(client, run.checkpointId!, 'expired');
    const blocked = await run.finish('failed', 'failed', {
      message: `${verdict.breach!.message}; nothing was published (the staged rows are kept in ${loader.stage} until the next run)`,
      details: { ...verdict.breach!.details, staged },
    }, { ...figures, notPublished: figures.diff, staged });
    await run.commit();
    run.qualityRecorded(verdict.metrics);
    return blocked;
  }

  run.phase = 'publishing';
  run.progress(state.rowsDone);
  await recordQuality(client, run.runId!, verdict.metrics);
  await closeCheckpoint(client, run.checkpointId!, 'completed');
  const target = await targetFacts(run, started, loader, tracking);
  await loader.drop();
  run.phase = 'published';
  const outcome = await run.finish(verdict.status, 'completed', verdict.breach, {
    ...figures, ...target,
    targetRows: verdict.targetRows, windowRows: verdict.windowRows, duplicates: state.duplicates, sourceRows: audit.staged,
    publishMs: Math.round(judgeStarted - applyStarted + (performance.now() - writeStarted)),
    ...(started.restartedLoad ? { restartedLoad: started.restartedLoad } : {}),
  });
  await run.scheduleAfterSuccess();
  await run.commit();
  run.qualityRecorded(verdict.metrics);
  return outcome;
}

/** Applies the load to the target inside the publish transaction; exact counts. */
async function apply(run: Run, started: StartedRun, loader: StagedLoad, audit: LoadAudit): Promise<{ inserted: number; updated: number; duplicates: number; deleted: number }> {
  const state = run.state!;
  const { params, target, keyColumns, window } = started;
  let counts = { inserted: 0, updated: 0, duplicates: 0 };
  if (audit.wouldChange) {
    counts = await loader.apply(audit.targetEmpty);
  } else if (audit.staged > 0) {
    // Nothing to write: the merge would only lock every row it compares. Repeated keys are
    // still counted (the merge would have found them).
    counts.duplicates = await loader.duplicates();
  }
  Object.assign(state, { inserted: counts.inserted, updated: counts.updated, duplicates: counts.duplicates, nullKeys: audit.nullKeys });
  // A backfill chunk leaves the watermark as it was: the rows changed after it, outside the range, are still to read.
  if (!state.window && audit.maxCursor !== null && (state.watermarkAfter === null || greater(audit.maxCursor, state.watermarkAfter))) state.watermarkAfter = audit.maxCursor;
  // A backfill chunk replaces its range: the range's rows the source lacks go.
  run.deleted = params.deleteMissing || state.window ? await deleteMissing(run.client, target, keyColumns, loader.stage, window) : 0;
  return { ...counts, deleted: run.deleted };
}

/**
 * What the audit row says of the target after the publish: its identity (the next run's proof
 * that it is untouched), or why it cannot have one; and, when it had been changed outside the
 * service, how that was repaired. A read of everything made every source row the target's (and
 * with deleteMissing removed every other row); an incremental load could not bring back what
 * was deleted before its window, so the next run reads everything (and until then never skips).
 * Without deleteMissing the rows a read of everything did not have are kept, as on every run of
 * such a table (they may be rows the source dropped): the audit row counts them.
 */
async function targetFacts(run: Run, started: StartedRun, loader: StagedLoad, tracking: PublishTracking): Promise<Record<string, unknown>> {
  if (!tracking.tracked) return { targetUntracked: untrackedFact(tracking.reason) };
  const targetIdentity = await identityAfterPublish(run.client, started.target);
  if (!tracking.touched) return { targetIdentity };
  const { target, keyColumns, params } = started;
  const readAll = run.state!.since === null && !run.state!.window;
  const kept = readAll && !params.deleteMissing ? { rowsNotInSource: await countMissing(run.client, target, keyColumns, loader.stage) } : {};
  return { targetIdentity, targetTouched: { reason: tracking.touched, repair: readAll ? 'readAll' : 'nextRun', ...kept } };
}
