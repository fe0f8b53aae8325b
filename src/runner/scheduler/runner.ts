// scheduler/ — WHEN and WHERE refreshes run: the pass loop (cron tick, NOTIFY wake-ups, the
// due timer, backoff when the database turns a pass away), claiming a due table across
// replicas, global slots, retries and the schedule after a run, recovery of dead processes'
// runs, and the runs of this process. It decides nothing about table state itself: what is
// due, blocked or running comes from state/ (the read model and the planner), and how one
// table is refreshed is engine/'s. May import: engine/, state/, sources/ (types), subscriptions/
// (events, NOTIFY), logger. Nothing outside imports it but the composition root (service.ts),
// the commands (wake.ts) and the runtime's types.
//
// The runner is a composition of those parts (graphile-worker keeps runner, worker, cron and
// queue apart the same way): createRunner only wires them and owns start/stop.
import type pg from 'pg';
import type { Logger } from '../../logger.ts';
import type { RefreshEvent } from '../../subscriptions/events.ts';
import { CHANNELS, type DatabaseListener } from '../../subscriptions/listener.ts';
import type { Sources } from '../sources/registry.ts';
import { DEFAULT_RETRY, type RetryPolicy } from '../state/planner.ts';
import type { SchedulerContext } from './context.ts';
import { createPassLoop, type PassLoop } from './passes.ts';
import { createRunRegistry, type RunnerStatus } from './runs.ts';
import { runBackfillChunk } from './backfill-chunks.ts';
import { removeHeartbeat } from './sql.ts';

export interface RunnerOptions {
  pool: pg.Pool;
  sources: Sources;
  logger: Logger;
  workerName: string;
  dailyByteBudget: bigint | null;
  /** Cron pattern of the tick; default every minute. */
  schedule?: string;
  /** Refreshes this process runs at once (default 2). */
  concurrency?: number;
  /** Refreshes all replicas together run at once (default: no limit beyond each process's). */
  globalConcurrency?: number;
  retry?: RetryPolicy;
  now?: () => Date;
  /** Jitter in [0, 1) for retry delays (tests inject a constant). */
  random?: () => number;
  emit?: (event: RefreshEvent) => void;
  /**
   * The process's LISTEN connection: wake-ups and cancels from every replica. After it comes
   * back from a loss the runner makes a pass at once (NOTIFYs sent meanwhile are lost).
   * None: the runner only ticks on its schedule.
   */
  listener?: DatabaseListener;
}

export interface Runner {
  start(): Promise<void>;
  status(): RunnerStatus;
  /** Cancels a run of this process at its next page boundary; false when it runs elsewhere. */
  cancel(runId: number): boolean;
  /** Stops claiming; running refreshes stop at their next page boundary, checkpoints kept. */
  stop(): Promise<void>;
  /**
   * One pass: recover, then run everything due until nothing is left. A pass the database turns
   * away (down, restarting, refusing) is tried again after a backoff. Resolves when done, or stopped.
   */
  tick(): Promise<void>;
  /** Asks for a pass as soon as possible (what a NOTIFY does); during a backoff, that is its next attempt. */
  wake(): void;
  /**
   * Runs one backfill's chunks in this process, one after the other, until none can run now
   * (done, paused, failed, waiting out a retry, or its table busy), or the runner stops. What the
   * CLI's `backfill` does; a service's passes do the same for every running backfill.
   */
  runBackfill(backfillId: number): Promise<void>;
}

/** Creates a runner; nothing happens until start() (or tick() in tests). */
export function createRunner(options: RunnerOptions): Runner {
  const now = options.now ?? (() => new Date());
  const shutdown = new AbortController();
  const ctx: SchedulerContext = {
    pool: options.pool,
    sources: options.sources,
    log: options.logger,
    workerName: options.workerName,
    dailyByteBudget: options.dailyByteBudget,
    retry: options.retry ?? DEFAULT_RETRY,
    now,
    random: options.random ?? Math.random,
    globalConcurrency: options.globalConcurrency,
    shutdown: shutdown.signal,
    runs: createRunRegistry({ workerName: options.workerName, log: options.logger, now, emit: options.emit }),
  };
  const loop = createPassLoop(ctx, { schedule: options.schedule ?? '* * * * *', concurrency: Math.max(1, options.concurrency ?? 2) });
  let unlisten: Array<() => void> = [];
  let stopping = false;

  return {
    tick: loop.tick,
    wake: () => void loop.tick(),
    cancel: (runId) => ctx.runs.cancel(runId),
    async runBackfill(backfillId) {
      while (!stopping && (await runBackfillChunk(ctx, backfillId)));
    },
    status: () => ctx.runs.status(),
    async start() {
      ctx.runs.stats.startedAt = now();
      if (options.listener) unlisten = listenForSignals(options.listener, ctx, loop, () => stopping);
      loop.start();
    },
    async stop() {
      stopping = true;
      shutdown.abort();
      await loop.stop();
      for (const u of unlisten.splice(0)) u();
      await removeHeartbeat(options.pool, options.workerName).catch(() => undefined);
    },
  };
}

/** Wake-ups and cancels from every replica, and a pass at once when the LISTEN connection is back; returns the ways to stop listening. */
function listenForSignals(listener: DatabaseListener, ctx: SchedulerContext, loop: PassLoop, stopping: () => boolean): Array<() => void> {
  const onBack = ({ reconnected }: { reconnected: boolean }) => {
    if (!reconnected || stopping()) return;
    loop.cutBackoff(); // the database answers again: no need to wait out the backoff
    void loop.tick(); // wake-ups sent while it was down are lost
  };
  listener.events.on('listen:success', onBack);
  return [
    listener.onNotification(CHANNELS.wake, () => void loop.tick()),
    listener.onNotification(CHANNELS.cancel, (payload) => void ctx.runs.cancel(Number(payload))),
    () => void listener.events.off('listen:success', onBack),
  ];
}
