// Event streams for GraphQL subscriptions: the bus's events as an async iterator, filtered,
// with progress throttled per run (first and last always delivered), bounded so that a slow
// client cannot make the process hold an unbounded backlog, and counted as subscribers.
import type { EventBus } from './bus.ts';
import type { RefreshEvent } from './events.ts';
import { createProgressThrottle } from './throttle.ts';

export interface EventFilter {
  tableSchema?: string | null;
  tableName?: string | null;
  runId?: number | null;
}

const MAX_BACKLOG = 1000;

function matches(event: RefreshEvent, f: EventFilter): boolean {
  if (f.tableSchema && event.tableSchema !== f.tableSchema) return false;
  if (f.tableName && event.tableName !== f.tableName) return false;
  if (f.runId != null && (!('runId' in event) || event.runId !== f.runId)) return false;
  return true;
}

/**
 * Subscribes at once (so nothing published after this call is missed) and yields matching
 * events until the consumer stops, counted in `subscribers` meanwhile. `progressIntervalMs`:
 * least time between two progress events of one run; a run's latest progress is delivered
 * before its finish.
 */
export function eventStream(
  bus: EventBus,
  filter: EventFilter,
  subscribers: { count: number },
  progressIntervalMs = 100,
): AsyncIterableIterator<RefreshEvent> {
  const backlog = createBacklog();
  const throttle = createProgressThrottle(progressIntervalMs, backlog.push);
  const unsubscribe = bus.subscribe((e) => {
    if (!matches(e, filter)) return;
    if (e.type === 'run:progress') return throttle.progress(e);
    throttle.before(e); // a held progress of the run first: commit order
    backlog.push(e);
  });
  subscribers.count++;
  let done = false;
  return iterate(backlog, () => {
    if (done) return;
    done = true;
    unsubscribe();
    throttle.stop();
    subscribers.count--;
    backlog.close();
  });
}

interface Backlog {
  push(event: RefreshEvent): void;
  /** The oldest event, once there is one; done once closed (events still queued are dropped). */
  next(): Promise<IteratorResult<RefreshEvent>>;
  close(): void;
}

/** The events a stream's consumer has yet to take: at most MAX_BACKLOG, progress dropped first. */
function createBacklog(): Backlog {
  const queue: RefreshEvent[] = [];
  let wake: (() => void) | null = null;
  let closed = false;
  return {
    push(e) {
      if (queue.length >= MAX_BACKLOG) {
        const i = queue.findIndex((q) => q.type === 'run:progress');
        queue.splice(i >= 0 ? i : 0, 1); // drop the oldest progress (or oldest event) first
      }
      queue.push(e);
      wake?.();
    },
    async next() {
      while (!closed) {
        if (queue.length) return { value: queue.shift()!, done: false };
        await new Promise<void>((r) => (wake = r));
        wake = null;
      }
      return { value: undefined, done: true };
    },
    close() {
      closed = true;
      wake?.();
    },
  };
}

/**
 * The stream's iterator over its backlog; `end` unsubscribes. A hand-written iterator rather
 * than an async generator: a generator that was never started skips its finally on return(),
 * which would leak the subscription.
 */
function iterate(backlog: Backlog, end: () => void): AsyncIterableIterator<RefreshEvent> {
  const iterator: AsyncIterableIterator<RefreshEvent> = {
    next: () => backlog.next(),
    async return() {
      end();
      return { value: undefined, done: true };
    },
    async throw(error?: unknown) {
      end();
      throw error;
    },
    [Symbol.asyncIterator]() {
      return iterator;
    },
  };
  return iterator;
}
