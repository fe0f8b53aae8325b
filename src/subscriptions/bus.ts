// One event bus per process: the log's follower (event-follower.ts) publishes every replica's
// events here, in the log's order and with their ids; subscribers (GraphQL subscriptions,
// metrics, the commands' waits) listen. A listener that throws never reaches the publisher.
import { EventEmitter } from 'node:events';
import type { LoggedEvent, RefreshEventType } from './events.ts';

type Listener = (event: LoggedEvent) => void;

export interface EventBus {
  publish(event: LoggedEvent): void;
  /** Listens to every event, or to one type; returns the function that stops listening. */
  subscribe(listener: Listener, type?: RefreshEventType): () => void;
  listenerCount(): number;
}

/** Creates an in-process bus. */
export function createEventBus(onListenerError?: (error: unknown, event: LoggedEvent) => void): EventBus {
  const emitter = new EventEmitter();
  emitter.setMaxListeners(0); // one per subscriber: thousands are expected
  return {
    publish(event) {
      for (const listener of [...emitter.listeners('*'), ...emitter.listeners(event.type)] as Listener[]) {
        try {
          listener(event);
        } catch (error) {
          onListenerError?.(error, event);
        }
      }
    },
    subscribe(listener, type) {
      const channel = type ?? '*';
      emitter.on(channel, listener);
      return () => emitter.off(channel, listener);
    },
    listenerCount: () => emitter.listenerCount('*') + emitter.eventNames().filter((n) => n !== '*').reduce((n, name) => n + emitter.listenerCount(name), 0),
  };
}
