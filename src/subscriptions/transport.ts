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

export interface ReplicaTransport {
  start(): Promise<void>;
  stop(): Promise<void>;
}

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
  const { bus, origin, logger } = options;
  const interval = options.progressIntervalMs ?? 250;
  const remote = new WeakSet<RefreshEvent>();
  const lastSent = new Map<number, { at: number; pending: RefreshEvent | null; timer: NodeJS.Timeout | null }>();
  let unsubscribe: (() => void) | null = null;
  let unlisten: (() => void) | null = null;
  let stopped = false;

  // One NOTIFY after the other: the pool's connections would otherwise commit them in any
  // order, and a run's last progress could reach other replicas after its finish.
  let sending: Promise<unknown> = Promise.resolve();
  const send = (event: RefreshEvent) => {
    const payload = JSON.stringify({ ...event, origin });
    sending = sending.then(() =>
      notify(options.pool, CHANNELS.events, payload).catch((err) => {
        if (!stopped) logger.warn({ err, event: event.type }, 'could not send an event to other replicas');
      }),
    );
  };

  const onLocal = (event: RefreshEvent) => {
    if (remote.has(event) || event.type === 'config:changed') return;
    if (event.type !== 'run:progress') {
      if (event.type === 'run:finished') flush(event.runId);
      send(event);
      return;
    }
    const t = Date.now();
    const s = lastSent.get(event.runId);
    if (!s || t - s.at >= interval) {
      if (s?.timer) clearTimeout(s.timer);
      lastSent.set(event.runId, { at: t, pending: null, timer: null });
      send(event);
      return;
    }
    s.pending = event; // the latest wins; sent when the interval ends or the run finishes
    s.timer ??= setTimeout(() => flush(event.runId), interval - (t - s.at));
  };

  function flush(runId: number) {
    const s = lastSent.get(runId);
    if (!s) return;
    if (s.timer) clearTimeout(s.timer);
    if (s.pending) send(s.pending);
    lastSent.set(runId, { at: Date.now(), pending: null, timer: null });
  }

  const onNotification = (payload: string) => {
    if (!payload) return;
    let parsed: RefreshEvent & { origin?: string };
    try {
      parsed = JSON.parse(payload) as RefreshEvent & { origin?: string };
    } catch {
      return;
    }
    if (parsed.origin === origin) return;
    const { origin: _o, ...event } = parsed;
    remote.add(event as RefreshEvent);
    bus.publish(event as RefreshEvent);
  };

  return {
    async start() {
      unlisten = options.listener.onNotification(CHANNELS.events, onNotification);
      unsubscribe = bus.subscribe(onLocal);
    },
    async stop() {
      stopped = true;
      unsubscribe?.();
      await sending;
      for (const s of lastSent.values()) if (s.timer) clearTimeout(s.timer);
      unlisten?.();
    },
  };
}
