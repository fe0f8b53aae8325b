// Events across replicas: every process sends the events of its own runs to PostgreSQL
// (NOTIFY sqp_refresh_events) and publishes the events of other processes, received by LISTEN,
// on its local bus. Payloads are the small event objects themselves (ids, counts, times; no
// rows, no SQL, far below NOTIFY's 8000-byte limit); anything larger is re-read from the
// tables by whoever needs it. Progress is throttled per run before it is sent (the first and
// the last of a run always go). config:changed comes from a trigger in the database, so it
// reaches every replica the same way whoever changed the config.
import pg from 'pg';
import type { Logger } from '../logger.ts';
import type { EventBus } from './bus.ts';
import type { RefreshEvent } from './events.ts';

const EVENTS_CHANNEL = 'sqp_refresh_events';

export interface ReplicaTransport {
  start(): Promise<void>;
  stop(): Promise<void>;
}

export function createReplicaTransport(options: {
  url: string;
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
  let listener: pg.Client | null = null;
  let unsubscribe: (() => void) | null = null;
  let stopped = false;

  // One NOTIFY after the other: the pool's connections would otherwise commit them in any
  // order, and a run's last progress could reach other replicas after its finish.
  let sending: Promise<unknown> = Promise.resolve();
  const send = (event: RefreshEvent) => {
    const payload = JSON.stringify({ ...event, origin });
    sending = sending.then(() =>
      options.pool.query('SELECT pg_notify($1, $2)', [EVENTS_CHANNEL, payload]).catch((err) => {
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

  const onNotification = (n: pg.Notification) => {
    if (n.channel !== EVENTS_CHANNEL || !n.payload) return;
    let parsed: RefreshEvent & { origin?: string };
    try {
      parsed = JSON.parse(n.payload) as RefreshEvent & { origin?: string };
    } catch {
      return;
    }
    if (parsed.origin === origin) return;
    const { origin: _o, ...event } = parsed;
    remote.add(event as RefreshEvent);
    bus.publish(event as RefreshEvent);
  };

  async function connect(): Promise<void> {
    const client = new pg.Client({ connectionString: options.url, application_name: 'sqp-refresh events' });
    client.on('notification', onNotification);
    client.on('error', (err) => {
      logger.warn({ err }, 'event listener lost its connection; reconnecting');
      listener = null;
      if (!stopped) setTimeout(() => void connect().catch((e) => logger.error({ err: e }, 'event listener could not reconnect')), 1000);
    });
    await client.connect();
    await client.query(`LISTEN ${EVENTS_CHANNEL}`);
    listener = client;
  }

  return {
    async start() {
      await connect();
      unsubscribe = bus.subscribe(onLocal);
    },
    async stop() {
      stopped = true;
      unsubscribe?.();
      await sending;
      for (const s of lastSent.values()) if (s.timer) clearTimeout(s.timer);
      await listener?.end().catch(() => undefined);
    },
  };
}
