// Events across replicas: every process sends the events of its own runs to PostgreSQL
// (NOTIFY sqp_refresh_events) and publishes the events of other processes, received by LISTEN,
// on its local bus. Payloads are the small event objects themselves (ids, counts, times; no
// rows, no SQL, far below NOTIFY's 8000-byte limit); anything larger is re-read from the
// tables by whoever needs it. Progress is throttled per run before it is sent (the first and
// the last of a run always go). config:changed comes from a trigger in the database, so it
// reaches every replica the same way whoever changed the config.
import type pg from 'pg';
import type { Logger } from '../logger.ts';
import type { EventBus } from './bus.ts';
import type { RefreshEvent } from './events.ts';
import { CHANNELS, notify, type DatabaseListener } from './listener.ts';
import { createProgressThrottle } from './throttle.ts';

export interface ReplicaTransport {
  start(): Promise<void>;
  stop(): Promise<void>;
}

/** Sends this process's events to the other replicas and publishes theirs on its bus, from start() to stop(). */
export function createReplicaTransport(options: {
  /** The process's one LISTEN connection (it reconnects by itself). */
  listener: DatabaseListener;
  pool: pg.Pool;
  bus: EventBus;
  /** Names this process, so that it ignores its own events coming back. */
  origin: string;
  logger: Logger;
  /** Least time between two progress events of one run sent to other replicas. */
  progressIntervalMs?: number;
}): ReplicaTransport {
  const { bus, origin } = options;
  const remote = new WeakSet<RefreshEvent>();
  const outbox = createOutbox(options.pool, origin, options.logger);
  const throttle = createProgressThrottle(options.progressIntervalMs ?? 250, outbox.send);
  let unsubscribe: (() => void) | null = null;
  let unlisten: (() => void) | null = null;

  const onLocal = (event: RefreshEvent) => {
    if (remote.has(event) || event.type === 'config:changed') return;
    if (event.type === 'run:progress') return throttle.progress(event);
    throttle.before(event); // a held progress of the run first: commit order
    outbox.send(event);
  };
  const onRemote = (payload: string) => {
    const event = receivedEvent(payload, origin);
    if (!event) return;
    remote.add(event);
    bus.publish(event);
  };

  return {
    async start() {
      unlisten = options.listener.onNotification(CHANNELS.events, onRemote);
      unsubscribe = bus.subscribe(onLocal);
    },
    async stop() {
      unsubscribe?.();
      await outbox.stop();
      throttle.stop();
      unlisten?.();
    },
  };
}

/** The NOTIFYs of this process's events, one after the other. */
function createOutbox(pool: pg.Pool, origin: string, logger: Logger) {
  // One NOTIFY after the other: the pool's connections would otherwise commit them in any
  // order, and a run's last progress could reach other replicas after its finish.
  let sending: Promise<unknown> = Promise.resolve();
  let stopped = false;
  return {
    send(event: RefreshEvent): void {
      const payload = JSON.stringify({ ...event, origin });
      sending = sending.then(() =>
        notify(pool, CHANNELS.events, payload).catch((err) => {
          if (!stopped) logger.warn({ err, event: event.type }, 'could not send an event to other replicas');
        }),
      );
    },
    /** Waits for what was sent; a failure from now on is no warning (the process is stopping). */
    async stop(): Promise<void> {
      stopped = true;
      await sending;
    },
  };
}

/** Another replica's event from a notification's payload; null for this process's own, or a payload that is no event. */
function receivedEvent(payload: string, origin: string): RefreshEvent | null {
  if (!payload) return null;
  let parsed: RefreshEvent & { origin?: string };
  try {
    parsed = JSON.parse(payload) as RefreshEvent & { origin?: string };
  } catch {
    return null;
  }
  if (parsed.origin === origin) return null;
  const { origin: _o, ...event } = parsed;
  return event as RefreshEvent;
}
