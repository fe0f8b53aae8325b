// What the schedule does after a run: a completed run cascades to its dependents (the engine
// already moved its own next_refresh_at), a paused one continues at the next pass, a cancelled
// one waits for its regular slot, a retryable failure is retried with exponential backoff and
// jitter up to `retry.maxAttempts`, any other failure waits for the next regular slot — and is
// told (a TABLE_FAILED alert, in the transaction that moves the schedule: src/alerts/).
import type pg from 'pg';
import { alertTableFailed } from '../../alerts/table-alerts.ts';
import type { RefreshConfigRow, RefreshOutcome } from '../engine/refresh-types.ts';
import { retryDelayMs, type RetryPolicy } from '../state/planner.ts';
import { nextRefreshAfterSuccess } from '../state/schedule.ts';
import { finishRequests } from '../state/requests.ts';
import { cascadeToDependents, moveSchedule } from '../state/schedule-writer.ts';
import { failureStreak } from './sql.ts';

export interface RescheduleOptions {
  now: () => Date;
  /** Jitter in [0, 1). */
  random: () => number;
  retry: RetryPolicy;
}

/** Moves the schedule after a run; resolves with how many dependents the run made due. */
export async function reschedule(
  pool: pg.Pool,
  config: RefreshConfigRow,
  result: RefreshOutcome,
  run: { cascade: boolean; requestIds: readonly number[] },
  options: RescheduleOptions,
): Promise<number> {
  const t = options.now();
  const regular = () => nextRefreshAfterSuccess(config.nextRefreshAt, config.refreshFrequencyHours, t);
  if (result.outcome === 'completed') {
    // The engine already moved next_refresh_at; the dependents follow their parent.
    if (run.cascade) return cascadeToDependents(pool, config.id, t);
  } else if (result.outcome === 'paused') {
    await moveSchedule(pool, config.id, { after: t }); // the next slice, at the next pass
  } else if (result.outcome === 'cancelled') {
    // An operator's decision, not a failure: no retry, the regular schedule goes on.
    await moveSchedule(pool, config.id, { after: regular() });
  } else if (result.outcome === 'failed') {
    const attempts = await failureStreak(pool, config.id);
    const retryable = result.errorDetails?.retryable === true;
    if (retryable && attempts < options.retry.maxAttempts) {
      const delay = retryDelayMs(attempts, options.retry) * (0.5 + options.random() / 2);
      await moveSchedule(pool, config.id, { after: new Date(t.getTime() + delay) });
    } else {
      await failForGood(pool, config, result, { regular: regular(), finishRequests: retryable ? run.requestIds : [], at: t });
    }
  }
  return 0;
}

/**
 * Retries are used up, or no retry fixes the error: the requests it served are done (a retryable
 * failure kept them), the table waits for its regular slot, and someone is told — one transaction.
 */
async function failForGood(
  pool: pg.Pool,
  config: RefreshConfigRow,
  result: RefreshOutcome,
  after: { regular: Date; finishRequests: readonly number[]; at: Date },
): Promise<void> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    await finishRequests(client, after.finishRequests);
    await moveSchedule(client, config.id, { after: after.regular });
    const table = { configId: config.id, tableSchema: config.tableSchema, tableName: config.tableName };
    await alertTableFailed(client, table, { runId: result.runId, reason: result.errorMessage ?? 'the refresh failed', at: after.at });
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
}
