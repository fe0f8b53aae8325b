// Event streams for GraphQL subscriptions: what the log holds after the id a subscriber gives
// (replayed in pages, filtered in SQL), then the bus's live events, with no gap and no duplicate
// at the seam; counted as subscribers while open.
//
// The seam: the stream listens on the bus BEFORE it reads the log. Everything the follower
// publishes from then on is buffered; everything published before is committed, so the replay
// (which reads later) sees it. Events are delivered by id, and a buffered event at or below the
// last id delivered is skipped. The live buffer is bounded: a consumer too slow for it does not
// lose events — the buffer is dropped and the stream reads the log again from its last id.
import type pg from 'pg';
import type { EventBus } from './bus.ts';
import { EventsExpiredError, isAfter, latestRunEventId, matchesFilter, readEventsAfter, type EventFilter } from './event-log.ts';
import type { LoggedEvent } from './events.ts';

export interface EventStreams {
  /**
   * Opens a stream of the events matching `filter`: those after `after` first (null: none, live
   * from now), then live ones. Rejects with EventsExpiredError when `after` is older than the
   * log keeps.
   */
  open(filter: EventFilter, after: string | null): Promise<AsyncIterableIterator<LoggedEvent>>;
  /** The id of the newest logged event of a run; null when there is none. */
  latestOfRun(runId: number): Promise<string | null>;
}

/** The streams of one process: its bus, the log on `pool`, its subscribers counted in `subscribers`. */
export function createEventStreams(options: {
  bus: EventBus;
  pool: Pick<pg.Pool, 'query'>;
  subscribers: { count: number };
  /** Events read per statement while replaying (default 500). */
  pageSize?: number;
  /** Live events buffered at most for a slow consumer (default 1000). */
  maxBuffered?: number;
}): EventStreams {
  return {
    async open(filter, after) {
      const stream = openStream({ pageSize: 500, maxBuffered: 1000, ...options }, filter, after);
      try {
        await stream.fill(); // the first page now: an expired `after` is the subscription's error
      } catch (error) {
        await stream.iterator.return?.();
        throw error;
      }
      return stream.iterator;
    },
    latestOfRun: (runId) => latestRunEventId(options.pool, runId),
  };
}

interface StreamOptions {
  bus: EventBus;
  pool: Pick<pg.Pool, 'query'>;
  subscribers: { count: number };
  pageSize: number;
  maxBuffered: number;
}

function openStream(o: StreamOptions, filter: EventFilter, after: string | null): { fill(): Promise<void>; iterator: AsyncIterableIterator<LoggedEvent> } {
  /** The last id delivered (or asked to follow); null: none yet, live from the start. */
  let cursor = after;
  let replaying = after !== null;
  let page: LoggedEvent[] = [];
  let live: LoggedEvent[] = [];
  let overflowed = false;
  let wake: (() => void) | null = null;
  let closed = false;

  const unsubscribe = o.bus.subscribe((e) => {
    if (!matchesFilter(e, filter)) return;
    if (live.length >= o.maxBuffered) {
      // Read the log again from the last id delivered (or from the first buffered event).
      cursor ??= (BigInt(live[0]!.id) - 1n).toString();
      live = [];
      overflowed = true;
    } else {
      live.push(e);
    }
    wake?.();
  });
  o.subscribers.count++;

  /** Reads the next page of the replay; the replay ends with a page that is not full. */
  const fill = async () => {
    if (!replaying || page.length) return;
    const from = cursor!;
    const read = await readEventsAfter(o.pool, from, filter, o.pageSize);
    if (closed) return;
    if (isAfter(read.prunedThrough, from)) throw new EventsExpiredError(from, read.prunedThrough);
    page = read.events;
    if (read.events.length < o.pageSize) replaying = false;
  };

  const next = async (): Promise<IteratorResult<LoggedEvent>> => {
    while (!closed) {
      await fill();
      const replayed = page.shift();
      if (replayed) return deliver(replayed);
      if (replaying) continue;
      if (overflowed) {
        overflowed = false;
        replaying = true;
        continue;
      }
      const e = live.shift();
      if (e) {
        if (cursor !== null && !isAfter(e.id, cursor)) continue; // replayed already
        return deliver(e);
      }
      await new Promise<void>((resolve) => (wake = resolve));
      wake = null;
    }
    return { value: undefined, done: true };
  };
  const deliver = (e: LoggedEvent): IteratorResult<LoggedEvent> => {
    cursor = e.id;
    return { value: e, done: false };
  };

  const end = () => {
    if (closed) return;
    closed = true;
    unsubscribe();
    o.subscribers.count--;
    page = [];
    live = [];
    wake?.();
  };
  return { fill, iterator: iterate(next, end) };
}

/**
 * The stream's iterator; `end` unsubscribes. A hand-written iterator rather than an async
 * generator: a generator that was never started skips its finally on return(), which would leak
 * the subscription, and its return() would wait behind a pending next().
 */
function iterate(next: () => Promise<IteratorResult<LoggedEvent>>, end: () => void): AsyncIterableIterator<LoggedEvent> {
  const iterator: AsyncIterableIterator<LoggedEvent> = {
    next,
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
