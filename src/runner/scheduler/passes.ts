// When the runner passes: every way to ask for a pass (the croner tick, a NOTIFY, the due
// timer, the LISTEN connection's return, a test) comes to `tick`. While a pass runs, or waits
// out a backoff, a request only marks that another pass is wanted: nothing starts a second
// loop beside the backoff's. After a quiet pass it records its heartbeat and sets a timer for
// the next due time when that comes before the next cron tick (a retry in 30 s should not wait).
import { performance } from 'node:perf_hooks';
import { Cron } from 'croner';
import { createPassBackoff, transientPassFailure, type PassBackoff, type TransientPassFailure } from './backoff.ts';
import type { SchedulerContext } from './context.ts';
import { pass } from './pass.ts';
import { nextDueAt, recordHeartbeat } from './sql.ts';
import { createStateWatch } from './watch.ts';

export interface PassLoop {
  /** Asks for a pass; resolves when the passes it joined or started are done. */
  tick(): Promise<void>;
  /** Starts the cron schedule and makes a first pass. */
  start(): void;
  /** The database answers again: the next attempt need not wait out the backoff. */
  cutBackoff(): void;
  /** Stops the schedule and the timer; resolves when the current pass is done. */
  stop(): Promise<void>;
}

/** The pass loop of one runner: `schedule` is the cron pattern of its tick. */
export function createPassLoop(ctx: SchedulerContext, options: { schedule: string; concurrency: number }): PassLoop {
  let stopping = false;
  let started = false;
  let passing: Promise<void> | null = null;
  let again = false;
  /** Passes the database turned away: each waits longer before the next (backoff.ts). */
  const backoff = createPassBackoff({ log: ctx.log, random: ctx.random });
  const dueTimer = createDueTimer(ctx, () => void tick());
  const job = new Cron(options.schedule, { paused: true }, () => void tick());
  const watch = createStateWatch(ctx);

  function tick(): Promise<void> {
    if (passing) {
      again = true;
      return passing;
    }
    passing = passUntilQuiet().finally(() => (passing = null));
    return passing;
  }

  /** Passes until no request came in during the last one; a pass the database turned away is tried again after the backoff. */
  async function passUntilQuiet(): Promise<void> {
    do {
      again = false;
      const failure = await timedPass(ctx, () => pass(ctx, { concurrency: options.concurrency, backoff, stopping: () => stopping }));
      if (failure) {
        if (stopping) return;
        await backoff.wait(failure, ctx.shutdown);
        again = true; // the attempt the warning announced (requests meanwhile are served by it)
      } else {
        await heartbeat(ctx);
        // A database gone since the pass ended is the next pass's to report (once, with its backoff).
        await watch.check().catch((err) => ctx.log[transientPassFailure(err) ? 'debug' : 'warn']({ err }, 'looking for late and blocked tables failed; the next pass looks again'));
        if (!stopping && started) await dueTimer.set(job.nextRun());
      }
    } while (again && !stopping);
  }

  return {
    tick,
    start() {
      started = true;
      job.resume();
      void tick();
    },
    cutBackoff: () => backoff.cut(),
    async stop() {
      stopping = true;
      job.stop();
      dueTimer.clear();
      await passing;
    },
  };
}

/** One pass, timed and counted; resolves with why it failed when another pass after a backoff may succeed. */
async function timedPass(ctx: SchedulerContext, run: () => Promise<void>): Promise<TransientPassFailure | null> {
  const began = performance.now();
  ctx.runs.stats.lastTickAt = ctx.now();
  ctx.runs.stats.ticks++;
  let failure: TransientPassFailure | null = null;
  try {
    await run();
  } catch (err) {
    failure = transientPassFailure(err);
    if (!failure) ctx.log.error({ err }, 'runner pass failed');
  }
  ctx.runs.stats.lastTickMs = performance.now() - began;
  return failure;
}

/** Records this process's status for the other replicas and the graph (a failure only warns). */
async function heartbeat(ctx: SchedulerContext): Promise<void> {
  const s = ctx.runs.status();
  await recordHeartbeat(ctx.pool, { ...s, startedAt: s.startedAt ?? ctx.now() }).catch((err) => ctx.log.warn({ err }, 'heartbeat failed'));
}

/** A pass at the next due time when that comes before the next cron tick (retries in seconds). */
function createDueTimer(ctx: SchedulerContext, onDue: () => void): { set(nextTick: Date | null): Promise<void>; clear(): void } {
  let timer: NodeJS.Timeout | null = null;
  const clear = () => {
    if (timer) clearTimeout(timer);
    timer = null;
  };
  return {
    clear,
    async set(nextTick) {
      const at = await nextDueAt(ctx.pool).catch(() => null);
      clear();
      // Due already (blocked, or busy on another replica): the next tick or wake-up looks again.
      const ms = at ? at.getTime() - ctx.now().getTime() : 0; // the runner's clock may be injected
      if (!at || ms <= 0 || (nextTick && at >= nextTick) || ms > 2 ** 31 - 1) return;
      timer = setTimeout(() => {
        timer = null;
        onDue();
      }, ms);
      timer.unref();
    },
  };
}
