// SSE on /graphql (yoga's distinct connections) with an `id:` on each event: the event log's id
// of what the event reports, so that a browser's EventSource sends it back as Last-Event-ID when
// it reconnects and the subscription resumes after it (src/schema/subscriptions.ts).
//
// Yoga's own SSE writer (getSSEProcessor) prints only `event:` and `data:` and has no option for
// an id, so this is yoga's documented way to change the format: a plugin whose onResultProcess
// sets a result processor of its own for text/event-stream. It writes what yoga's does (a first
// ping, a ping every 12 s, `next` per result, `complete` at the end) plus the id, for streams
// only; a single result (an error before the stream began) keeps yoga's writer. An event without
// a log id (runProgress's first state of a run with no event yet) carries no `id:`, so it never
// moves the client's Last-Event-ID (WHATWG: the last id seen is kept).
// graphql-sse at /graphql/stream is not touched: its protocol has no event ids (its handler
// prints event and data only, and its client never sends Last-Event-ID); its clients resume
// with the subscription's `after` argument.
import type { ExecutionResult } from 'graphql';
import { isAsyncIterable, type Plugin } from 'graphql-yoga';
import type { EventCursor } from '../schema/builder.ts';
import { serializedResult } from './subscription-groups.ts';

const PING_MS = 12_000;
const EVENT_END = Buffer.from('\n\n');

/** The yoga plugin; `cursorOf` finds the cursor the request's context was built with. */
export function useSseEventIds(cursorOf: (request: Request) => EventCursor | undefined): Plugin {
  return {
    onResultProcess({ request, result, setResultProcessor }) {
      if (!isAsyncIterable(result) || !request.headers.get('accept')?.includes('text/event-stream')) return;
      const cursor = cursorOf(request);
      if (!cursor) return;
      setResultProcessor((results, fetchAPI) => sseResponse(results as AsyncIterable<ExecutionResult>, cursor, fetchAPI), 'text/event-stream');
    },
  };
}

/** The event stream of a subscription's results, each with the id its cursor held when it was made. */
function sseResponse(results: AsyncIterable<ExecutionResult>, cursor: EventCursor, fetchAPI: { ReadableStream: typeof ReadableStream; Response: typeof Response; TextEncoder: typeof TextEncoder }): Response {
  const encoder = new fetchAPI.TextEncoder();
  const iterator = results[Symbol.asyncIterator]();
  let ping: NodeJS.Timeout | undefined;
  const body = new fetchAPI.ReadableStream<Uint8Array>({
    start(controller) {
      // A first comment flushes the headers: some browsers wait for a byte of the body.
      controller.enqueue(encoder.encode(':\n\n'));
      ping = setInterval(() => {
        if (controller.desiredSize === null) return clearInterval(ping);
        if (controller.desiredSize > 0) controller.enqueue(encoder.encode(':\n\n'));
      }, PING_MS);
    },
    async pull(controller) {
      try {
        const { value, done } = await iterator.next();
        // The results are made one at a time, when pulled: the cursor holds this one's id now.
        // The result's JSON is made once however many subscribers share it (subscription-groups.ts).
        if (value) controller.enqueue(Buffer.concat([encoder.encode(`${cursor.sentId ? `id: ${cursor.sentId}\n` : ''}event: next\ndata: `), serializedResult(withoutInternals(value)), EVENT_END]));
        if (done) {
          controller.enqueue(encoder.encode('event: complete\ndata:\n\n'));
          clearInterval(ping);
          controller.close();
        }
      } catch (error) {
        clearInterval(ping);
        controller.error(error);
      }
    },
    async cancel() {
      clearInterval(ping);
      await iterator.return?.();
    },
  });
  return new fetchAPI.Response(body, {
    status: 200,
    headers: { 'Content-Type': 'text/event-stream', Connection: 'keep-alive', 'Cache-Control': 'no-cache', 'Content-Encoding': 'none' },
  });
}

/** A result as yoga prints it: errors without the extensions only the server reads (http, unexpected). */
function withoutInternals(result: ExecutionResult): ExecutionResult {
  if (!result.errors?.length) return result;
  return {
    ...result,
    errors: result.errors.map((e) => {
      const { http: _http, unexpected: _unexpected, ...extensions } = (e.toJSON().extensions ?? {}) as Record<string, unknown>;
      return { ...e.toJSON(), extensions: Object.keys(extensions).length ? extensions : undefined } as never;
    }),
  };
}
