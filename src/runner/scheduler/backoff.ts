// When the runner passes again after a pass the database turned away — down (ECONNREFUSED),
// starting up or in recovery (57P03), shutting down (57P01, 57P02), a lost or refused
// connection (08xxx), too many connections (53300) — or that met a transient error such as a
// deadlock: after 0.5 s doubling per failed pass up to 30 s, with jitter, and at once again once
// the database answers. A restart of PostgreSQL then meets a few passes and one warning per
// attempt, not a tight loop. The doubling is the one run retries use (planner.ts retryDelayMs),
// the jitter the runner's (0.5–1 of the delay), so replicas cut at once do not return in step.
// Imports: the planner's delay rule, the failure classes of refresh-failures and of the start-up
// preflight (one definition each of a lost connection and of "not now"), the logger type.
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { isTransientConnectError } from '../../database/preflight.ts';
import type { Logger } from '../../logger.ts';
import { retryDelayMs } from '../state/planner.ts';
import { isConnectionLoss, isRetryableSqlState } from '../engine/refresh-failures.ts';

/** Why a pass failed, when another pass after a backoff may well succeed. */
export interface TransientPassFailure {
  /** `unavailable`: the database is down, starting, shutting down or refusing connections; `transient`: an error such as a deadlock. */
  kind: 'unavailable' | 'transient';
  /** Code and message for the one log line, e.g. `57P03 the database system is starting up`. */
  reason: string;
}

/**
 * Classifies the error that ended a pass: the database unavailable (a lost connection, as runs
 * tell it, or a refusal start-up waits out), another transient SQL error, or null (no backoff).
 */
export function transientPassFailure(error: unknown): TransientPassFailure | null {
  // A connection to a name with several addresses fails with an AggregateError of them all.
  const outer = error as { code?: unknown; message?: string; errors?: unknown[] } | null;
  const first = (outer && !outer.message && outer.errors?.length ? outer.errors[0] : outer) as { code?: unknown; message?: string } | null;
  if (!first) return null;
  const code = typeof first.code === 'string' ? first.code : typeof outer?.code === 'string' ? outer.code : '';
  const e = { code, message: first.message ?? '' };
  const reason = [code, e.message].filter(Boolean).join(' ') || String(error);
  if (isConnectionLoss(e) || isTransientConnectError(e)) return { kind: 'unavailable', reason };
  if (code && isRetryableSqlState(code)) return { kind: 'transient', reason };
  return null;
}

/** Delay after the first failed pass (before jitter), doubled per failure up to maxDelayMs. */
const DELAY = { maxAttempts: Infinity, baseDelayMs: 500, maxDelayMs: 30_000 };

export interface PassBackoffOptions {
  /** Where the one warning per attempt and the one line when the database is back go. */
  log: Logger;
  /** Jitter in [0, 1) (tests inject a constant). */
  random?: () => number;
}

export interface PassBackoff {
  /** Says once why the pass failed and when the next comes, then waits that long (until `signal` aborts, or cut()). */
  wait(failure: TransientPassFailure, signal: AbortSignal): Promise<void>;
  /** Ends the current wait early: the database answers again (the LISTEN connection is back). */
  cut(): void;
  /** The database answered a pass: the next failure starts from the first delay, and one line says it is back. */
  succeed(): void;
}

/** Creates the backoff of one runner's passes. */
export function createPassBackoff(options: PassBackoffOptions): PassBackoff {
  const { log } = options;
  const random = options.random ?? Math.random;
  let failures = 0;
  let since = 0;
  let waiting: AbortController | null = null;
  return {
    async wait(failure, signal) {
      if (failures++ === 0) since = performance.now();
      const delayMs = Math.round(retryDelayMs(failures, DELAY) * (0.5 + random() / 2));
      const what = failure.kind === 'unavailable' ? 'database unavailable' : 'transient database error';
      const inSeconds = delayMs < 10_000 ? (delayMs / 1000).toFixed(1) : String(Math.round(delayMs / 1000));
      log.warn({ reason: failure.reason, attempt: failures, retryInMs: delayMs }, `${what} (${failure.reason}): runner passes again in ${inSeconds} s`);
      waiting = new AbortController();
      try {
        await sleep(delayMs, undefined, { signal: AbortSignal.any([signal, waiting.signal]) });
      } catch {
        // stopped, or cut short: the database is back
      } finally {
        waiting = null;
      }
    },
    cut() {
      waiting?.abort();
    },
    succeed() {
      if (!failures) return;
      const downMs = Math.round(performance.now() - since);
      log.info({ failedPasses: failures, downMs }, `database is back after ${failures} failed passes: the runner passes as usual again`);
      failures = 0;
    },
  };
}
