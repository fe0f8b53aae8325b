// AUDIT: what the complete load would do to the target and whether it may. Before anything is
// written, one scan of the staged rows (count, NULL keys, newest cursor) and whether the load
// would change the target at all (when it would not, the publish writes nothing — no tuple
// rewritten or even locked); then, inside the publish transaction and before its commit, where
// no reader can see it, the diff as applied (inserted, updated, deleted: exact) and the quality
// of what the target would become, and the verdict: publish, publish with a warning, or — on a
// blocking breach — publish nothing.
import { measureQuality, qualityVerdict, type QualityMetricValue } from './quality.ts';
import type { Run, RunError } from './run.ts';
import type { StartedRun } from './start.ts';
import type { StagedFacts, StagedLoad } from './staging.ts';

export interface LoadAudit extends StagedFacts {
  /** The target has no rows: the publish takes the bulk path (no conflict handling). */
  targetEmpty: boolean;
  /** Whether the load has a row to insert or update (false: the publish writes no row). */
  wouldChange: boolean;
  /** Rows of the target before the publish, when deletes are possible (delete_ratio's base). */
  targetRowsBefore: number | null;
}

/** Measures the staged load and whether it would change the target; writes nothing. */
export async function auditLoad(started: StartedRun, loader: StagedLoad): Promise<LoadAudit> {
  const facts = await loader.facts();
  const targetEmpty = await loader.targetIsEmpty();
  const keyed = facts.staged - Math.max(0, ...Object.values(facts.nullKeys));
  const wouldChange = keyed > 0 && (targetEmpty || (await loader.wouldChange(keyed)));
  const targetRowsBefore = started.params.deleteMissing ? (targetEmpty ? 0 : await loader.targetRows()) : null;
  return { ...facts, targetEmpty, wouldChange, targetRowsBefore };
}

export interface AuditVerdict {
  metrics: QualityMetricValue[];
  status: 'success' | 'warning' | 'failed';
  /** The breached checks, as the run's error (null when none). */
  breach: RunError | null;
  targetRows: number;
  windowRows: number;
}

/** The quality of what the target would become (inside the uncommitted publish transaction), and the verdict. */
export async function judgeLoad(run: Run, started: StartedRun, audit: LoadAudit, applied: { duplicates: number; deleted: number }): Promise<AuditVerdict> {
  const { params, target, keyColumns, cursorColumn, window, previous } = started;
  const quality = await measureQuality(run.client, {
    target, params, keyColumns, cursorColumn,
    sourceRows: audit.staged, duplicates: applied.duplicates, nullKeys: audit.nullKeys, window,
    previousTargetRows: (previous?.metadata.targetRows as number | undefined) ?? null,
    deleted: applied.deleted, targetRowsBefore: audit.targetRowsBefore,
    now: run.now(),
  });
  const verdict = qualityVerdict(quality.metrics);
  const breach = verdict.status === 'success' ? null : {
    message: `quality check${verdict.breaches.length > 1 ? 's' : ''} outside threshold: ${verdict.breaches.join(', ')}`,
    details: { reason: 'quality', blocking: verdict.status === 'failed', breaches: verdict.breaches, retryable: false },
  };
  return { metrics: quality.metrics, status: verdict.status, breach, targetRows: quality.targetRows, windowRows: quality.windowRows };
}
