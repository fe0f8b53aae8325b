// Event streams for GraphQL subscriptions: the bus's events as an async iterator, filtered,
// with progress throttled per run (first and last always delivered), bounded so that a slow
// client cannot make the process hold an unbounded backlog, and counted as subscribers.
import type { EventBus } from './bus.ts';
import type { RefreshEvent } from './events.ts';

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
  const queue: RefreshEvent[] = [];
  const lastProgress = new Map<number, number>();
  const held = new Map<number, RefreshEvent>();
  const timers = new Map<number, NodeJS.Timeout>();
  let wake: (() => void) | null = null;
  let done = false;

  const push = (e: RefreshEvent) => {
    if (queue.length >= MAX_BACKLOG) {
      const i = queue.findIndex((q) => q.type === 'run:progress');
      queue.splice(i >= 0 ? i : 0, 1); // drop the oldest progress (or oldest event) first
    }
    queue.push(e);
    wake?.();
  };
  const release = (runId: number) => {
    const timer = timers.get(runId);
    if (timer) clearTimeout(timer);
    timers.delete(runId);
    const e = held.get(runId);
    held.delete(runId);
    if (e) {
      lastProgress.set(runId, Date.now());
      push(e);
    }
  };
  const unsubscribe = bus.subscribe((e) => {
    if (!matches(e, filter)) return;
    if (e.type === 'run:progress') {
      const t = Date.now();
      const last = lastProgress.get(e.runId);
      if (last === undefined || t - last >= progressIntervalMs) {
        release(e.runId);
        held.delete(e.runId);
        lastProgress.set(e.runId, t);
        push(e);
      } else {
        held.set(e.runId, e);
        if (!timers.has(e.runId)) timers.set(e.runId, setTimeout(() => release(e.runId), progressIntervalMs - (t - last)));
      }
      return;
    }
    if (e.type === 'run:finished') {
      release(e.runId);
      lastProgress.delete(e.runId);
    }
    push(e);
  });
  subscribers.count++;

  const cleanup = () => {
    if (done) return;
    done = true;
    unsubscribe();
    for (const t of timers.values()) clearTimeout(t);
    subscribers.count--;
    wake?.();
  };

  // A hand-written iterator rather than an async generator: a generator that was never
  // started skips its finally on return(), which would leak the subscription.
  const iterator: AsyncIterableIterator<RefreshEvent> = {
    async next() {
      while (!done) {
        if (queue.length) return { value: queue.shift()!, done: false };
        await new Promise<void>((r) => (wake = r));
        wake = null;
      }
      return { value: undefined, done: true };
    },
    async return() {
      cleanup();
      return { value: undefined, done: true };
    },
    async throw(error?: unknown) {
      cleanup();
      throw error;
    },
    [Symbol.asyncIterator]() {
      return iterator;
    },
  };
  return iterator;
}
