// Waits on events, not on polls: records what a source emits (a runner's `emit`, an event bus,
// a listener's lifecycle, notifications) and resolves when a matching event has come — already
// recorded or yet to come, so a test never races the event it waits for. Conditions with no
// event (a row another process writes) keep the bounded polls of ./until.ts.
import type { RefreshEvent } from '../../src/subscriptions/events.ts';

/** Subscribes `listener` to a source; may return the function that stops listening. */
export type Subscribe<E> = (listener: (event: E) => void) => (() => void) | void;

export interface Recorded<E> {
  /** Everything recorded so far, in order. */
  readonly events: E[];
  /** Records an event: pass it as a runner's `emit` or call it from any handler. */
  push(event: E): void;
  /** The first event matching `predicate`, recorded or yet to come; fails after `timeoutMs` listing what was seen. */
  next<M extends E = E>(predicate: ((event: E) => event is M) | ((event: E) => boolean), timeoutMs?: number, what?: string): Promise<M>;
  /** The `count`th matching event counted from the start of recording (so a loop can wait for each new one). */
  nth<M extends E = E>(count: number, predicate: ((event: E) => event is M) | ((event: E) => boolean), timeoutMs?: number, what?: string): Promise<M>;
  /** Stops listening to the source (waiters still time out on their own). */
  stop(): void;
}

/** Records the events of `subscribe` (or only those given to `push` when there is no source). */
export function recordEvents<E>(subscribe?: Subscribe<E>): Recorded<E> {
  const events: E[] = [];
  const waiters = new Set<() => void>();
  const push = (event: E) => {
    events.push(event);
    for (const check of [...waiters]) check();
  };
  const unsubscribe = subscribe?.(push);

  function nth<M extends E>(count: number, predicate: (event: E) => boolean, timeoutMs = 30_000, what = 'a matching event'): Promise<M> {
    return new Promise<M>((resolve, reject) => {
      const found = () => {
        let n = 0;
        for (const e of events) if (predicate(e) && ++n === count) return e as M;
        return undefined;
      };
      const check = () => {
        const hit = found();
        if (hit === undefined) return;
        clearTimeout(timer);
        waiters.delete(check);
        resolve(hit);
      };
      const timer = setTimeout(() => {
        waiters.delete(check);
        const seen = events.map((e) => `  ${describe(e)}`).slice(-30);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${count > 1 ? `#${count} of ` : ''}${what}; ${events.length} seen${seen.length ? `${events.length > 30 ? ' (last 30)' : ''}:\n${seen.join('\n')}` : ''}`));
      }, timeoutMs);
      waiters.add(check);
      check();
    });
  }

  return {
    events,
    push,
    next: (predicate, timeoutMs, what) => nth(1, predicate, timeoutMs, what),
    nth,
    stop: () => void unsubscribe?.(),
  };
}

function describe(event: unknown): string {
  const text = typeof event === 'string' ? event : JSON.stringify(event);
  return text.length > 200 ? `${text.slice(0, 200)}…` : text;
}

let lastLoggedId = 0n;

/**
 * An event as the log's follower publishes it on a bus: with an id after every one given so far
 * (a stream skips an id at or below the last it delivered), for tests that publish on a bus
 * directly instead of through the event log.
 */
export function logged<E extends RefreshEvent>(event: E): E & { id: string } {
  return { ...event, id: String(++lastLoggedId) };
}
