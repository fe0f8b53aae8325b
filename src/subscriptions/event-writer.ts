// The writer of this process's events into the log: the runner's `emit` (each event sent after
// the state it reports is committed) goes to an in-order outbox. A write starts once the event
// loop has had a turn (what is emitted together goes together), one batch is in flight at a
// time and everything queued meanwhile goes into the next, one multi-row statement: under load
// the cost of a round trip and of the log's lock is shared by many events, and the events of
// this process keep the order they were emitted in. Progress is throttled per run before it is
// queued (throttle.ts), so the log holds exactly what subscribers get.
//
// A failed write never blocks or fails a run: it is logged and the same batch is sent again
// with backoff (the database skips a batch it committed already, migration 042, so a lost
// connection after a commit doubles nothing); the queue keeps growing meanwhile up to
// `maxQueued`, beyond which the oldest progress is dropped first, then the oldest event — said
// in the log, and a dashboard re-reads a run's state from the read model (runProgress does).
// Events of a process killed before its queue was written are lost: the log is written after
// the state it reports, not in its transaction. A run's end is the exception: the log keeper
// (event-pruner.ts, migration 042's sweep) logs any run end no process told, from the audit row.
import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import type { Logger } from '../logger.ts';
import { appendEventsWithIds } from './event-log.ts';
import type { LoggedEvent, RefreshEvent } from './events.ts';
import { createProgressThrottle } from './throttle.ts';

export interface EventWriter {
  /** Queues an event of this process (pass it as the runner's `emit`): never throws, never waits. */
  write(event: RefreshEvent): void;
  /** Events waiting to be written (in flight included). */
  pending(): number;
  /** Writes what is queued (held progress too) and stops; gives up after `stopTimeoutMs`, saying how many were lost. */
  stop(): Promise<void>;
}

export interface EventWriterOptions {
  /** Single statements only: may be a transaction pooler. */
  pool: Pick<pg.Pool, 'query'>;
  logger: Logger;
  /** Least time between two progress events of one run (default 250 ms). */
  progressIntervalMs?: number;
  /** Events queued at most while writes fail (default 10,000). */
  maxQueued?: number;
  /** Events in one statement at most (default 500). */
  maxBatch?: number;
  /** Backoff of a failed write: first delay, doubled up to the last (default 200 ms, 10 s). */
  retryMinMs?: number;
  retryMaxMs?: number;
  /** How long stop() waits for the queue to be written (default 10 s). */
  stopTimeoutMs?: number;
  /** Told the events of each batch appended, with their ids (the process's follower publishes them at once when nothing comes between). */
  onWritten?: (events: LoggedEvent[]) => void;
}

/** Creates the writer; it writes as soon as events come. */
export function createEventWriter(options: EventWriterOptions): EventWriter {
  const s = writerState(options);
  const throttle = createProgressThrottle(options.progressIntervalMs ?? 250, (e) => enqueue(s, e));
  return {
    write(event) {
      if (event.type === 'run:progress') return throttle.progress(event);
      throttle.before(event); // a held progress of the run first: the run's order
      enqueue(s, event);
    },
    pending: () => s.queue.length + (s.inFlight?.events.length ?? 0),
    async stop() {
      throttle.flush();
      throttle.stop();
      await drain(s, options.stopTimeoutMs ?? 10_000);
    },
  };
}

interface WriterState {
  readonly o: EventWriterOptions;
  /** Names this writer's batches in the log (one per process). */
  readonly writer: string;
  queue: RefreshEvent[];
  inFlight: { events: RefreshEvent[]; seq: number } | null;
  seq: number;
  failures: number;
  retry: NodeJS.Timeout | null;
  /** A write to start once the event loop has had a turn (enqueue). */
  soon: NodeJS.Immediate | null;
  /** Dropped since the last warning about it. */
  dropped: number;
  /** Called whenever the queue empties. */
  idle: Set<() => void>;
}

function writerState(o: EventWriterOptions): WriterState {
  return { o, writer: randomUUID(), queue: [], inFlight: null, seq: 0, failures: 0, retry: null, soon: null, dropped: 0, idle: new Set() };
}

/** Queues one event (dropping the oldest progress, else the oldest event, beyond the bound) and starts a write. */
function enqueue(s: WriterState, event: RefreshEvent): void {
  if (s.queue.length >= (s.o.maxQueued ?? 10_000)) {
    const i = s.queue.findIndex((q) => q.type === 'run:progress');
    s.queue.splice(i >= 0 ? i : 0, 1);
    if (s.dropped++ === 0) s.o.logger.error({ queued: s.queue.length }, 'the event log cannot be written and its queue is full: dropping the oldest events (progress first)');
  }
  s.queue.push(event);
  // What the runner emits together (a run's end: its quality metrics, then its finish, in one
  // go after the commit) goes in one statement, and reaches subscribers in one write per socket:
  // the write starts once the event loop has had a turn, not with the first of them.
  s.soon ??= setImmediate(() => {
    s.soon = null;
    kick(s);
  });
}

/** Starts the next batch unless one is in flight or waiting to be retried. */
function kick(s: WriterState): void {
  if (s.inFlight || s.retry) return;
  if (!s.queue.length) {
    for (const resolve of [...s.idle]) resolve();
    return;
  }
  s.inFlight = { events: s.queue.splice(0, s.o.maxBatch ?? 500), seq: ++s.seq };
  void send(s);
}

/** Sends the batch in flight; on failure schedules the same batch again with backoff. */
async function send(s: WriterState): Promise<void> {
  const batch = s.inFlight!;
  try {
    const logged = await appendEventsWithIds(s.o.pool, batch.events, { writer: s.writer, seq: batch.seq });
    s.o.onWritten?.(logged);
  } catch (err) {
    s.failures++;
    const ceiling = Math.min(s.o.retryMaxMs ?? 10_000, (s.o.retryMinMs ?? 200) * 2 ** Math.min(s.failures - 1, 16));
    const retryInMs = Math.round(ceiling / 2 + (Math.random() * ceiling) / 2);
    s.o.logger.warn({ err, events: batch.events.length, queued: s.queue.length, attempt: s.failures, retryInMs }, 'could not write events to the event log; retrying');
    s.retry = setTimeout(() => {
      s.retry = null;
      void send(s);
    }, retryInMs);
    return;
  }
  if (s.failures || s.dropped) s.o.logger.info({ attempts: s.failures + 1, dropped: s.dropped }, 'the event log is written again');
  s.failures = 0;
  s.dropped = 0;
  s.inFlight = null;
  kick(s);
}

/** Waits until everything queued is written, or `timeoutMs`; then no retry is left pending. */
async function drain(s: WriterState, timeoutMs: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  let resolveIdle!: () => void;
  const idle = new Promise<void>((resolve) => (resolveIdle = resolve));
  s.idle.add(resolveIdle);
  if (!s.inFlight && !s.retry) kick(s);
  const timedOut = await Promise.race([idle.then(() => false), new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), timeoutMs)))]);
  clearTimeout(timer);
  s.idle.delete(resolveIdle);
  if (!timedOut) return;
  if (s.retry) clearTimeout(s.retry);
  s.retry = null;
  if (s.soon) clearImmediate(s.soon);
  s.soon = null;
  s.o.logger.error({ lost: s.queue.length + (s.inFlight?.events.length ?? 0) }, 'stopping: events that could not be written to the event log are lost');
  s.queue = [];
}
