// Progress throttled per run before it is written to the event log (event-writer.ts), so the log
// holds exactly what subscribers get: a run's first progress, and the first of each phase, pass at
// once, later ones at most one per interval; in between the latest is
// held (it replaces older ones) and passes when the interval ends or before any other event of
// the run (a quality metric, its finish), so the first and the last progress of a run always get
// through and a run's events keep the order they were committed in.
import type { RefreshEvent } from './events.ts';

export type RunProgress = Extract<RefreshEvent, { type: 'run:progress' }>;

export interface ProgressThrottle {
  /** Passes a run's progress now, or holds it until the run's interval ends. */
  progress(event: RunProgress): void;
  /**
   * Call before passing any other event of a run: passes its held progress first (so nothing of
   * the run overtakes it), and forgets the run at its finish.
   */
  before(event: RefreshEvent): void;
  /** Passes every held progress now (a writer that stops flushes them). */
  flush(): void;
  /** Clears the timers (held progress is dropped). */
  stop(): void;
}

/** Creates a throttle that hands what passes to `pass`; `intervalMs`: least time between two progress events of one run. */
export function createProgressThrottle(intervalMs: number, pass: (event: RunProgress) => void): ProgressThrottle {
  const runs = new Map<number, { at: number; phase: RunProgress['phase']; held: RunProgress | null; timer: NodeJS.Timeout | null }>();
  const release = (runId: number) => {
    const run = runs.get(runId);
    if (!run) return;
    if (run.timer) clearTimeout(run.timer);
    run.timer = null;
    const held = run.held;
    run.held = null;
    if (held) {
      run.at = Date.now();
      pass(held);
    }
  };
  return {
    progress(event) {
      const t = Date.now();
      const run = runs.get(event.runId);
      // A new phase (auditing, publishing) passes at once: it says the load is complete, and held
      // it would wait for the publish's commit to end its hold.
      if (!run || t - run.at >= intervalMs || event.phase !== run.phase) {
        release(event.runId);
        runs.set(event.runId, { at: t, phase: event.phase, held: null, timer: null });
        pass(event);
        return;
      }
      run.held = event;
      run.timer ??= setTimeout(() => release(event.runId), intervalMs - (t - run.at));
    },
    before(event) {
      if (!('runId' in event) || event.type === 'run:progress') return;
      release(event.runId);
      if (event.type === 'run:finished') runs.delete(event.runId);
    },
    flush() {
      for (const runId of [...runs.keys()]) release(runId);
    },
    stop() {
      for (const run of runs.values()) if (run.timer) clearTimeout(run.timer);
    },
  };
}
