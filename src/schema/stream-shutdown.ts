// Ends a subscription's stream when the server stops, so that yoga closes an SSE response with
// `event: complete` (a client knows to reconnect) instead of the connection being cut.
// graphql-ws sockets are closed with 1001 before this fires (src/http/graphql-ws.ts).

/**
 * `source`, ending (and returned) as soon as `signal` aborts. `source.return()` must work while
 * a next() is pending (eventStream's iterator does; an async generator's would wait behind it).
 */
export function endOnShutdown<T>(source: AsyncIterator<T>, signal: AbortSignal | undefined): AsyncIterableIterator<T> {
  const done: IteratorReturnResult<undefined> = { done: true, value: undefined };
  let onAbort: (() => void) | undefined;
  const aborted = new Promise<IteratorReturnResult<undefined>>((resolve) => {
    if (signal?.aborted) return resolve(done);
    onAbort = () => resolve(done);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
  const finish = async () => {
    if (onAbort) signal?.removeEventListener('abort', onAbort);
    onAbort = undefined;
    await source.return?.();
    return done;
  };
  const iterator: AsyncIterableIterator<T> = {
    async next() {
      const result = await Promise.race([source.next(), aborted]);
      return result.done ? finish() : result;
    },
    return: finish,
    async throw(error?: unknown) {
      await finish();
      throw error;
    },
    [Symbol.asyncIterator]: () => iterator,
  };
  return iterator;
}
