// One event bus per process: the runner publishes refresh events here; subscribers (GraphQL
// subscriptions, metrics, the status page) listen. A listener that throws never reaches the
// publisher. The cross-replica transport (transport.ts) is one more listener and publisher.
import { EventEmitter } from 'node:events';
import type { RefreshEvent, RefreshEventType } from './events.ts';

type Listener = (event: RefreshEvent) => void;

export interface EventBus {
  publish(event: RefreshEvent): void;
  /** Listens to every event, or to one type; returns the function that stops listening. */
  subscribe(listener: Listener, type?: RefreshEventType): () => void;
  listenerCount(): number;
}

/** Creates an in-process bus. */
export function createEventBus(onListenerError?: (error: unknown, event: RefreshEvent) => void): EventBus {
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
