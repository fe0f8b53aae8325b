// What both subscriptions do with the event log: read `after` (or an SSE request's
// Last-Event-ID), open the log's stream through the runtime (the SQL lives in
// src/subscriptions/), turn an `after` the log no longer keeps into EVENTS_EXPIRED, and note the
// id of each thing sent (the `id:` of an SSE event, src/http/sse-event-ids.ts).
import { GraphQLError } from 'graphql';
import { EventsExpiredError, isEventId, type EventFilter } from '../subscriptions/event-log.ts';
import type { LoggedEvent } from '../subscriptions/events.ts';
import type { EventStreams } from '../subscriptions/streams.ts';
import type { Context } from './builder.ts';

/** The process's event streams; a process without them (a test of other routes) says so. */
export function eventStreams(ctx: Context): EventStreams {
  const s = ctx.runtime.events;
  if (!s) throw new GraphQLError('subscriptions are not available in this process', { extensions: { code: 'UNAVAILABLE' } });
  return s;
}

/** The id to resume after: `after`, else the request's Last-Event-ID; null: none (live from now). */
export function resumeAfter(after: string | null | undefined, ctx: Context): string | null {
  const given = after ?? ctx.eventCursor?.lastEventId ?? null;
  if (given === null) return null;
  if (!isEventId(given)) {
    const from = after == null ? 'the Last-Event-ID header' : 'after';
    throw new GraphQLError(`after: ${JSON.stringify(given)} (from ${from}) is not an event id; give the id of an event a subscription sent, or none`, {
      extensions: { code: 'BAD_USER_INPUT', field: 'after' },
    });
  }
  return given;
}

/** Opens the log's stream after `after`; an `after` older than the log keeps is EVENTS_EXPIRED. */
export async function openEvents(ctx: Context, filter: EventFilter, after: string | null): Promise<AsyncIterableIterator<LoggedEvent>> {
  try {
    return await eventStreams(ctx).open(filter, after);
  } catch (error) {
    if (!(error instanceof EventsExpiredError)) throw error;
    throw new GraphQLError(
      `after: the events after ${error.after} are no longer kept (the log keeps EVENT_RETENTION_HOURS); re-read the state you show with a query, then subscribe again without after`,
      { extensions: { code: 'EVENTS_EXPIRED', field: 'after', prunedThrough: error.prunedThrough } },
    );
  }
}

/** What a subscription's value is, for the cursor: its log id, how it may be merged, whether it is a whole state. */
export interface SentValue {
  id: string | null;
  coalesceKey: string | null;
  state: boolean;
}

/** `source`, noting in the request's cursor what each value is as it is sent (its log id for SSE's `id:`, and how a subscription group may merge it). */
export function noteSent<T>(source: AsyncIterator<T>, describe: (value: T) => SentValue, ctx: Context): AsyncIterableIterator<T> {
  const iterator: AsyncIterableIterator<T> = {
    async next() {
      const result = await source.next();
      if (!result.done && ctx.eventCursor) {
        const sent = describe(result.value);
        Object.assign(ctx.eventCursor, { sentId: sent.id, sentCoalesceKey: sent.coalesceKey, sentIsState: sent.state });
      }
      return result;
    },
    return: async () => (await source.return?.()) ?? { done: true, value: undefined },
    async throw(error?: unknown) {
      await source.return?.();
      throw error;
    },
    [Symbol.asyncIterator]: () => iterator,
  };
  return iterator;
}
