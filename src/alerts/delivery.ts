// The delivery worker: any number of replicas run one each. A pass claims due deliveries (SKIP
// LOCKED, a lease per attempt), POSTs them in parallel, and records each result: delivered;
// failed and retried after a backoff (10 s doubling to 1 h, with jitter); or, after a day of
// failures, its destination disabled and its pending deliveries abandoned. Passes start on a
// NOTIFY (an alert was queued), on the LISTEN connection's return (NOTIFYs may have been missed),
// and on a timer for the next due attempt (a retry, or the end of a dead worker's lease).
import type pg from 'pg';
import type { Logger } from '../logger.ts';
import { retryDelayMs } from '../runner/state/planner.ts';
import { CHANNELS, type DatabaseListener } from '../subscriptions/listener.ts';
import { alertBody, alertHeaders } from './payload.ts';
import { postWebhook } from './post.ts';
import { claimDueDeliveries, nextDueAt, recordDelivered, recordFailed, type AttemptResult, type ClaimedDelivery } from './sql.ts';

/** What the worker does, in order, for tests and logs to follow. */
export type AlertDeliveryEvent =
  /** An attempt was claimed (its lease written) and its POST is about to be sent. */
  | { type: 'attempt:started'; deliveryId: number; attemptId: number; attempt: number; eventId: string; destinationId: number; workerName: string }
  /** An attempt ended and was recorded; `counted`: it still held the delivery (no other worker took over after its lease). */
  | ({ type: 'attempt:finished'; deliveryId: number; attemptId: number; attempt: number; eventId: string; destinationId: number; delivered: boolean; counted: boolean } & Omit<AttemptResult, 'excerpt'>)
  /** A destination failed every attempt for `giveUpAfterMs` and was disabled; its pending deliveries were abandoned. */
  | { type: 'destination:disabled'; destinationId: number; name: string }
  /** A pass met an error (the database unreachable); the timer tries again. */
  | { type: 'pass:failed'; error: string };

export interface AlertDeliveryOptions {
  /** Short transactional work only: a transaction pooler is fine. */
  pool: pg.Pool;
  logger: Logger;
  /** Recorded on each attempt (which replica tried). */
  workerName: string;
  /** The process's LISTEN connection: a queued alert wakes the worker at once. Without it, only the timer does. */
  listener?: DatabaseListener;
  now?: () => Date;
  fetch?: typeof fetch;
  /** Jitter in [0, 1). */
  random?: () => number;
  /** Deliveries claimed at once and POSTed in parallel (default 10). */
  batchSize?: number;
  /** How long a claim holds before another worker may try again (default 60 s; more than timeoutMs). */
  leaseMs?: number;
  /** How long one POST may take, answer included (default 10 s). */
  timeoutMs?: number;
  /** Backoff after failed attempt n: baseDelayMs · 2^(n-1) up to maxDelayMs, then 0.5–1 of it (default 10 s to 1 h). */
  retry?: { baseDelayMs: number; maxDelayMs: number };
  /** A destination failing this long is disabled, a delivery failing this long abandoned (default a day). */
  giveUpAfterMs?: number;
  /** The longest wait between passes with nothing due (default 60 s). */
  idleMs?: number;
  emit?: (event: AlertDeliveryEvent) => void;
}

export interface AlertDelivery {
  /** Listens, and starts the first pass (not waiting for it: a slow receiver must not hold up start-up). */
  start(): Promise<void>;
  /** Claims nothing more and waits for the attempts in flight (each bounded by timeoutMs). */
  stop(): Promise<void>;
  /** Delivers what is due now; resolves when a pass that began after this call has ended. */
  deliverNow(): Promise<void>;
}

type Settings = Required<Omit<AlertDeliveryOptions, 'listener' | 'emit'>> & Pick<AlertDeliveryOptions, 'listener' | 'emit'>;

/** What the worker's parts share: its settings and where its passes stand. */
interface WorkerState {
  readonly o: Settings;
  /** The pass loop now running (it runs once more when `again` is set meanwhile). */
  running: Promise<void> | null;
  again: boolean;
  stopped: boolean;
  timer: NodeJS.Timeout | null;
  unlisten: Array<() => void>;
}

/** Creates a delivery worker; nothing runs until start(). */
export function createAlertDelivery(options: AlertDeliveryOptions): AlertDelivery {
  const s: WorkerState = { o: withDefaults(options), running: null, again: false, stopped: false, timer: null, unlisten: [] };
  // A POST that outlives its lease is sent again by another replica while it still runs.
  if (s.o.leaseMs <= s.o.timeoutMs) throw new Error(`alert delivery: leaseMs (${s.o.leaseMs}) must exceed timeoutMs (${s.o.timeoutMs})`);
  return {
    async start() {
      const { listener } = s.o;
      if (listener) {
        s.unlisten.push(listener.onNotification(CHANNELS.alerts, () => void wake(s)));
        const back = ({ reconnected }: { reconnected: boolean }) => reconnected && void wake(s);
        listener.events.on('listen:success', back);
        s.unlisten.push(() => listener.events.off('listen:success', back));
      }
      void wake(s);
    },
    async stop() {
      s.stopped = true;
      clearTimer(s);
      for (const off of s.unlisten.splice(0)) off();
      await s.running;
    },
    deliverNow: () => wake(s),
  };
}

/** The composition root's step: this process's worker on its pool and LISTEN connection, logging as component "alerts", started. */
export async function startAlertDelivery(options: AlertDeliveryOptions & { listener: DatabaseListener }): Promise<AlertDelivery> {
  const delivery = createAlertDelivery({ ...options, logger: options.logger.child({ component: 'alerts' }) });
  await delivery.start();
  return delivery;
}

function withDefaults(o: AlertDeliveryOptions): Settings {
  return {
    now: () => new Date(),
    fetch: globalThis.fetch,
    random: Math.random,
    batchSize: 10,
    leaseMs: 60_000,
    timeoutMs: 10_000,
    retry: { baseDelayMs: 10_000, maxDelayMs: 3_600_000 },
    giveUpAfterMs: 24 * 3_600_000,
    idleMs: 60_000,
    ...Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)),
  } as Settings;
}

/** Starts the pass loop, or asks the running one for one more pass; resolves when the loop ends. */
function wake(s: WorkerState): Promise<void> {
  if (s.stopped) return s.running ?? Promise.resolve();
  if (s.running) {
    s.again = true;
    return s.running;
  }
  s.running = loop(s).finally(() => (s.running = null));
  return s.running;
}

async function loop(s: WorkerState): Promise<void> {
  do {
    s.again = false;
    clearTimer(s);
    await pass(s);
  } while (s.again && !s.stopped);
  await scheduleNext(s);
}

/** Claims and delivers batch after batch until fewer than a batch are due. */
async function pass(s: WorkerState): Promise<void> {
  try {
    for (;;) {
      const batch = await claimDueDeliveries(s.o.pool, { now: s.o.now(), workerName: s.o.workerName, leaseMs: s.o.leaseMs, limit: s.o.batchSize });
      await Promise.all(batch.map((c) => deliver(s, c)));
      if (batch.length < s.o.batchSize || s.stopped) return;
    }
  } catch (err) {
    s.o.logger.warn({ err }, 'alert delivery pass failed; trying again later');
    emit(s, { type: 'pass:failed', error: String((err as Error)?.message ?? err) });
  }
}

/** The timer for the next due attempt (at most idleMs away); none once stopped. */
async function scheduleNext(s: WorkerState): Promise<void> {
  let delay = s.o.idleMs;
  try {
    const at = await nextDueAt(s.o.pool);
    if (at) delay = Math.min(delay, Math.max(0, at.getTime() - s.o.now().getTime()));
  } catch {
    // the pass has said so; try again after idleMs
  }
  if (s.stopped) return;
  clearTimer(s);
  s.timer = setTimeout(() => void wake(s), delay);
  s.timer.unref();
}

function clearTimer(s: WorkerState): void {
  if (s.timer) clearTimeout(s.timer);
  s.timer = null;
}

/** One attempt: POST, then record its result. A failure to record leaves the lease to expire: the delivery is tried again. */
async function deliver(s: WorkerState, c: ClaimedDelivery): Promise<void> {
  const ids = { deliveryId: c.deliveryId, attemptId: c.attemptId, attempt: c.attempt, eventId: c.alert.eventId, destinationId: c.destinationId };
  emit(s, { type: 'attempt:started', ...ids, workerName: s.o.workerName });
  const body = alertBody(c.alert, c.format);
  const result = await postWebhook(s.o.fetch, { url: c.url, body, headers: alertHeaders(c.alert, body, c.secret, c.attempt, s.o.now()) }, s.o.timeoutMs);
  // Never the URL (a Slack webhook's path is a secret) nor the secret: the destination's name.
  const log = { destination: c.destinationName, eventId: c.alert.eventId, attempt: c.attempt, httpStatus: result.httpStatus, ms: Math.round(result.durationMs) };
  try {
    const counted = result.error === null ? await recorded(s, c, result, log) : await recordedFailure(s, c, result, log);
    emit(s, { type: 'attempt:finished', ...ids, delivered: result.error === null, counted, httpStatus: result.httpStatus, error: result.error, durationMs: result.durationMs });
  } catch (err) {
    s.o.logger.warn({ err, ...log }, 'recording an alert delivery attempt failed; the delivery is tried again when its lease ends');
  }
}

async function recorded(s: WorkerState, c: ClaimedDelivery, result: AttemptResult, log: object): Promise<boolean> {
  const counted = await recordDelivered(s.o.pool, c, result, s.o.now());
  s.o.logger.info(log, 'alert delivered');
  return counted;
}

async function recordedFailure(s: WorkerState, c: ClaimedDelivery, result: AttemptResult, log: object): Promise<boolean> {
  const now = s.o.now();
  const delay = retryDelayMs(c.attempt, { maxAttempts: Infinity, ...s.o.retry });
  // Half fixed, half random: destinations that failed together are not retried in step.
  const retryInMs = Math.round(delay / 2 + (s.o.random() * delay) / 2);
  const r = await recordFailed(s.o.pool, c, result, { now, retryAt: new Date(now.getTime() + retryInMs), giveUpAfterMs: s.o.giveUpAfterMs });
  s.o.logger.warn({ ...log, error: result.error, ...(r.abandoned ? { abandoned: true } : { retryInMs }) }, 'alert delivery failed');
  if (r.disabled) {
    s.o.logger.warn({ destination: c.destinationName, failingForMs: s.o.giveUpAfterMs }, 'alert destination disabled: every attempt failed for too long; its pending deliveries are abandoned');
    emit(s, { type: 'destination:disabled', destinationId: c.destinationId, name: c.destinationName });
  }
  return r.counted;
}

/** Emits to the listener so that a throwing one cannot break a delivery. */
function emit(s: WorkerState, event: AlertDeliveryEvent): void {
  try {
    s.o.emit?.(event);
  } catch (err) {
    s.o.logger.warn({ err, event: event.type }, 'an alert delivery listener failed');
  }
}
