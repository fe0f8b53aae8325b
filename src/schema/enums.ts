// Enums of the refresh tables. The database stores lower-case text (the seed's CHECK
// constraints); the graph shows conventional upper-case values and maps between them.
import { builder } from './builder.ts';

export const RefreshStatus = builder.enumType('RefreshStatus', {
  description: 'State of a refresh run (refresh_audit_log.status).',
  values: {
    RUNNING: { value: 'running', description: 'Started and not finished.' },
    SUCCESS: { value: 'success', description: 'Finished; every quality check within its threshold.' },
    WARNING: { value: 'warning', description: 'Finished; a non-blocking quality check was outside its threshold.' },
    FAILED: { value: 'failed', description: 'Did not finish: error, interruption, cancel or a blocking quality check.' },
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
  values: {
    ACTIVE: { value: 'active', description: 'A refresh is (or was, until interrupted) in progress here.' },
    COMPLETED: { value: 'completed', description: 'The refresh finished.' },
    EXPIRED: { value: 'expired', description: 'Too old to resume from.' },
  } as const,
});

export type RefreshStatusValue = 'running' | 'success' | 'warning' | 'failed';
export type DependencyTypeValue = 'hard' | 'soft';
export type CheckpointStatusValue = 'active' | 'completed' | 'expired';
