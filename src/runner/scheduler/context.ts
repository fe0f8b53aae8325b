// What the scheduler's parts share: the services and settings a runner was built with, passed
// to each part explicitly (no closure over one big mutable scope), so each part can be built
// alone in a test with its own clock, randomness and database.
import type pg from 'pg';
import type { Logger } from '../../logger.ts';
import type { RefreshOptions } from '../engine/refresh-types.ts';
import type { Sources } from '../sources/registry.ts';
import type { RetryPolicy } from '../state/planner.ts';
import type { RunRegistry } from './runs.ts';

export interface SchedulerContext {
  pool: pg.Pool;
  sources: Sources;
  log: Logger;
  workerName: string;
  dailyByteBudget: bigint | null;
  retry: RetryPolicy;
  /** The runner's clock (tests inject one). */
  now: () => Date;
  /** Jitter in [0, 1) for retry delays. */
  random: () => number;
  /** Refreshes all replicas together run at once; undefined: no limit beyond each process's. */
  globalConcurrency: number | undefined;
  /** Aborted when the runner stops: running refreshes stop at their next page boundary. */
  shutdown: AbortSignal;
  /** The runs of this process and the due tables it found blocked. */
  runs: RunRegistry;
}

/** What every run the scheduler starts gives the engine: its services, the locked connection, the cancel and shutdown signals. */
export function engineOptions(ctx: SchedulerContext, lockedClient: pg.PoolClient, cancel: AbortSignal): RefreshOptions {
  return {
    pool: ctx.pool,
    lockedClient,
    sources: ctx.sources,
    workerName: ctx.workerName,
    dailyByteBudget: ctx.dailyByteBudget,
    shutdownSignal: ctx.shutdown,
    signal: cancel,
    now: ctx.now,
    emit: ctx.runs.emit,
  };
}
