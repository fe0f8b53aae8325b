// Enums of the refresh tables. The database stores lower-case text (the seed's CHECK
// constraints); the graph shows conventional upper-case values and maps between them.
import type { RunStatus } from '../runner/state/run-state.ts';
import { builder } from './builder.ts';

export const RunPhase = builder.enumType('RunPhase', {
  description: 'Where a running refresh is: write, audit, publish.',
  values: {
    WRITING: { value: 'writing', description: 'Pages from the source go into the run\'s staging table, each committed with its checkpoint; the target is untouched.' },
    AUDITING: { value: 'auditing', description: 'The load is complete: the diff it would make is measured, applied to the target and its quality measured in one transaction, not yet visible to anyone; on a blocking breach nothing is published.' },
    PUBLISHING: { value: 'publishing', description: 'The audit passed: the quality rows, the checkpoint and the audit row are written and the transaction commits; readers then see all of the new rows at once.' },
  } as const,
});

export const RefreshStatus = builder.enumType('RefreshStatus', {
  description: 'State of a refresh run (refresh_audit_log.status).',
  values: {
    RUNNING: { value: 'running', description: "Started and not finished, and running now: its table's refresh lock is held by the process running it." },
    INTERRUPTED: {
      value: 'interrupted',
      description: "Its row still says running but no process runs it (the process died, or lost its table's lock): a runner recovers it (it then reads FAILED, reason interrupted) and resumes from its checkpoint.",
    },
    SUCCESS: { value: 'success', description: 'Finished; every quality check within its threshold.' },
    WARNING: { value: 'warning', description: 'Finished; a non-blocking quality check was outside its threshold.' },
    FAILED: { value: 'failed', description: 'Did not finish: error, interruption, cancel or a blocking quality check.' },
  } as const,
});

export const RunOutcome = builder.enumType('RunOutcome', {
  description: 'How a finished run ended, beyond its status: a cancel or a pause is not a failure.',
  values: {
    COMPLETED: { value: 'completed', description: 'Every page was read and published.' },
    UNCHANGED: { value: 'unchanged', description: 'The source had not changed since the last success: nothing was read.' },
    PAUSED: { value: 'paused', description: 'Stopped at a page boundary (shutdown or time budget); the next run resumes from its checkpoint.' },
    CANCELLED: { value: 'cancelled', description: 'Stopped at a page boundary because someone cancelled it.' },
    FAILED: { value: 'failed', description: 'An error or a blocking quality check; the target is unchanged by this run.' },
  } as const,
});

export const RefreshMode = builder.enumType('RefreshMode', {
  description: 'How much of the source a refresh reads.',
  values: {
    FULL: { value: 'full', description: 'Read the whole source.' },
    INCREMENTAL: { value: 'incremental', description: 'Read what changed after the last watermark (needs a cursor column).' },
  } as const,
});

export const DependencyType = builder.enumType('DependencyType', {
  description: 'How strictly a dependent waits for its parent.',
  values: {
    HARD: { value: 'hard', description: 'Never runs on data from an unhealthy parent.' },
    SOFT: { value: 'soft', description: 'Runs anyway, and notes the unhealthy parent.' },
  } as const,
});

export const CheckpointStatus = builder.enumType('CheckpointStatus', {
  description: 'Whether a refresh can resume from a checkpoint (refresh_checkpoints.status).',
  values: {
    ACTIVE: { value: 'active', description: 'A refresh is (or was, until interrupted) in progress here.' },
    COMPLETED: { value: 'completed', description: 'The refresh finished.' },
    EXPIRED: { value: 'expired', description: 'Too old to resume from.' },
  } as const,
});

export type RefreshStatusValue = RunStatus;
// A run's outcome is read from sync_metadata through its one schema (src/runner/engine/run-metadata.ts).
export { runOutcome } from '../runner/engine/run-metadata.ts';
export type DependencyTypeValue = 'hard' | 'soft';
export type CheckpointStatusValue = 'active' | 'completed' | 'expired';
