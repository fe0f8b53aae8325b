// The event log keeps EVENT_RETENTION_HOURS (default 24): older events are deleted in batches
// (one short transaction each, so neither writers nor readers wait long behind it), and the
// horizon moves in the same transaction, so a subscriber asking for what follows a pruned id is
// told to re-read the state instead of being handed a gap. Every replica runs a pruner; one
// prunes at a time (a try-lock in migration 042's prune_refresh_events), the others skip.
// It also completes the log: every minute it logs the end of any run whose process ended it but
// died (or lost the database) before its run:finished was written (migration 042's sweep), so no run's
// end is missing for good; the append refuses a second end, so whichever comes first counts.
import type pg from 'pg';
import type { Logger } from '../logger.ts';
import { logUntoldRunEnds, pruneEventBatch } from './event-log.ts';

export interface EventPruner {
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Prunes everything older than the retention now, batch by batch; resolves with how many went. */
  prune(): Promise<number>;
  /** Logs the ends of runs no process told (ended more than `quietSeconds` ago); resolves with how many. */
  sweep(): Promise<number>;
}

/** Creates the pruner; start() prunes at once, then every `intervalMs`. */
export function createEventPruner(options: {
  pool: Pick<pg.Pool, 'query'>;
  logger: Logger;
  retentionHours: number;
  /** Between two rounds (default 10 minutes). */
  intervalMs?: number;
  /** Events deleted per statement (default 5000). */
  batchSize?: number;
  /** Between two sweeps for untold run ends (default 1 minute). */
  sweepIntervalMs?: number;
  /** How long after a run's end its own process may still log it before the sweep does (default 60 s). */
  quietSeconds?: number;
  now?: () => Date;
}): EventPruner {
  const batchSize = options.batchSize ?? 5000;
  const now = options.now ?? (() => new Date());
  let timer: NodeJS.Timeout | null = null;
  let sweepTimer: NodeJS.Timeout | null = null;
  let sweeping: Promise<number> | null = null;
  let running: Promise<number> | null = null;
  let stopped = false;

  const prune = async (): Promise<number> => {
    const before = new Date(now().getTime() - options.retentionHours * 3_600_000);
    let total = 0;
    while (!stopped) {
      const deleted = await pruneEventBatch(options.pool, before, batchSize);
      if (deleted < 0) break; // another replica is pruning
      total += deleted;
      if (deleted < batchSize) break;
    }
    if (total) options.logger.info({ deleted: total, before }, 'pruned the event log');
    return total;
  };
  const round = () => {
    running ??= prune()
      .catch((err) => {
        options.logger.warn({ err }, 'could not prune the event log; trying again on the next round');
        return 0;
      })
      .finally(() => (running = null));
    return running;
  };

  const sweep = () => {
    const since = new Date(now().getTime() - options.retentionHours * 3_600_000);
    sweeping ??= logUntoldRunEnds(options.pool, since, options.quietSeconds ?? 60)
      .then((n) => {
        if (n) options.logger.warn({ runs: n }, 'logged the end of runs whose process did not (it died or lost the database after the run ended)');
        return n;
      })
      .catch((err) => {
        options.logger.warn({ err }, 'could not look for untold run ends; trying again on the next sweep');
        return 0;
      })
      .finally(() => (sweeping = null));
    return sweeping;
  };

  return {
    async start() {
      void round();
      timer = setInterval(() => void round(), options.intervalMs ?? 600_000);
      timer.unref();
      sweepTimer = setInterval(() => void sweep(), options.sweepIntervalMs ?? 60_000);
      sweepTimer.unref();
    },
    async stop() {
      stopped = true;
      if (timer) clearInterval(timer);
      if (sweepTimer) clearInterval(sweepTimer);
      await Promise.all([running, sweeping]);
    },
    prune: round,
    sweep,
  };
}
