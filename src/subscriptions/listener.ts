// The one LISTEN connection of a process, for every channel (runner wake-ups, cancels, the
// event log's growth, alerts). Managed databases cut connections (failovers, poolers, idle
// timeouts, pg_terminate_backend): when this one is lost it reconnects with exponential
// backoff and jitter for as long as the process lives, re-issues its LISTENs and says so
// through lifecycle events (graphile-worker's `pool:listen:*` is the model). NOTIFYs sent
// while it is down are lost by PostgreSQL's design, so `listen:success` after a loss tells
// the runner to look at the database at once; `/ready` reports `listener` while it is down.
import { EventEmitter } from 'node:events';
import pg from 'pg';
import { clientConfig } from '../database/connection.ts';
import type { Logger } from '../logger.ts';

/** The channels of the service, one name each (every NOTIFY and LISTEN uses these). */
export const CHANNELS = {
  /** Empty payload: some table became due (forced, scheduled): run a pass now. */
  wake: 'sqp_refresh_wake',
  /** Payload: a run id to cancel; the replica running it stops at the next page boundary. */
  cancel: 'sqp_refresh_cancel',
  /** Payload: the highest id just appended to the event log (migration 042): followers read what is new (src/subscriptions/event-follower.ts). */
  events: 'sqp_refresh_events',
  /** Empty payload: alert deliveries were queued (src/alerts/enqueue.ts): deliver now. */
  alerts: 'sqp_refresh_alerts',
} as const;
export type Channel = (typeof CHANNELS)[keyof typeof CHANNELS];

/** Lifecycle events of the listener. */
export interface ListenerEvents {
  /** A connection attempt starts (`attempt` counts from 1 since the last success). */
  'listen:connecting': [{ attempt: number }];
  /** Connected and listening on every channel; `reconnected`: after a loss (notifications may have been missed). */
  'listen:success': [{ reconnected: boolean }];
  /** The connection was lost or an attempt failed; the next one starts after `retryInMs`. */
  'listen:error': [{ error: Error; retryInMs: number }];
}

export interface DatabaseListener {
  /** Connects (retrying in the background if the first attempt fails) and resolves once listening or stopped. */
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Calls `handler` with each notification's payload on `channel`; returns an unsubscribe. */
  onNotification(channel: Channel, handler: (payload: string) => void): () => void;
  /** Whether the LISTENs are in place right now. */
  listening(): boolean;
  events: EventEmitter<ListenerEvents>;
}

export interface ListenerOptions {
  url: string;
  logger: Logger;
  /** First retry delay (ms; default 500), doubled per failed attempt up to `maxDelayMs` (default 30 s). */
  minDelayMs?: number;
  maxDelayMs?: number;
  random?: () => number;
}

/** Creates the process's listener; nothing connects until start(). */
export function createDatabaseListener(options: ListenerOptions): DatabaseListener {
  const s: ListenerState = {
    url: options.url,
    log: options.logger,
    minDelay: options.minDelayMs ?? 500,
    maxDelay: options.maxDelayMs ?? 30_000,
    random: options.random ?? Math.random,
    events: new EventEmitter<ListenerEvents>(),
    handlers: new Map(),
    client: null,
    ready: false,
    stopped: false,
    attempt: 0,
    everConnected: false,
    timer: null,
    firstReady: null,
  };
  return {
    events: s.events,
    listening: () => s.ready,
    onNotification(channel, handler) {
      let set = s.handlers.get(channel);
      if (!set) s.handlers.set(channel, (set = new Set()));
      set.add(handler);
      return () => void set.delete(handler);
    },
    start() {
      const started = new Promise<void>((resolve) => (s.firstReady = resolve));
      void connect(s);
      return started;
    },
    stop: () => stop(s),
  };
}

/** What the listener's parts below share: its settings, its handlers and where its connection stands. */
interface ListenerState {
  readonly url: string;
  readonly log: Logger;
  readonly minDelay: number;
  readonly maxDelay: number;
  readonly random: () => number;
  readonly events: EventEmitter<ListenerEvents>;
  readonly handlers: Map<string, Set<(payload: string) => void>>;
  /** The connection whose LISTENs are in place (null while down). */
  client: pg.Client | null;
  ready: boolean;
  stopped: boolean;
  /** Attempts since the last success. */
  attempt: number;
  everConnected: boolean;
  /** The pending reconnect. */
  timer: NodeJS.Timeout | null;
  /** Resolves start()'s promise (on the first success, or on stop). */
  firstReady: (() => void) | null;
}

const LISTEN_ALL = Object.values(CHANNELS)
  .map((ch) => `LISTEN ${ch}`)
  .join('; ');

/** Emits a lifecycle event so that a throwing handler cannot break the listener. */
function emit<K extends keyof ListenerEvents>(s: ListenerState, name: K, arg: ListenerEvents[K][0]): void {
  try {
    (s.events.emit as (n: string, a: unknown) => boolean)(name, arg);
  } catch (err) {
    s.log.warn({ err, event: name }, 'a listener lifecycle handler failed');
  }
}

/** Connect: one attempt at a connection that LISTENs on every channel; a loss, now or later, schedules the next. */
async function connect(s: ListenerState): Promise<void> {
  if (s.stopped) return;
  s.attempt++;
  emit(s, 'listen:connecting', { attempt: s.attempt });
  const c = new pg.Client(clientConfig(s.url, { application_name: 'sqp-refresh listen' }));
  // pg emits 'error' (and then 'end') more than once for one lost connection: the first
  // one of this client schedules the single reconnect, the rest are ignored.
  let lost = false;
  const onLost = (error: Error) => {
    if (lost) return;
    lost = true;
    if (s.client === c) {
      s.client = null;
      s.ready = false;
    }
    c.removeAllListeners('notification');
    c.end().catch(() => undefined);
    scheduleReconnect(s, error);
  };
  c.on('error', onLost);
  c.on('end', () => onLost(new Error('LISTEN connection ended')));
  c.on('notification', (n) => dispatch(s, n));
  try {
    await c.connect();
    await c.query(LISTEN_ALL);
  } catch (err) {
    onLost(err as Error);
    return;
  }
  if (s.stopped || lost) {
    await c.end().catch(() => undefined);
    return;
  }
  attach(s, c);
}

/** Attach: a connection that is listening becomes the listener's, and says so (after a loss: notifications may have been missed). */
function attach(s: ListenerState, c: pg.Client): void {
  s.client = c;
  s.ready = true;
  const reconnected = s.everConnected;
  s.everConnected = true;
  s.attempt = 0;
  if (reconnected) s.log.info('LISTEN connection is back');
  emit(s, 'listen:success', { reconnected });
  s.firstReady?.();
  s.firstReady = null;
}

/** Reconnect with backoff: one pending attempt at a time, none once stopped. */
function scheduleReconnect(s: ListenerState, error: Error): void {
  if (s.stopped || s.timer) return;
  // Full jitter on an exponential delay: replicas cut at once do not come back in lockstep.
  const ceiling = Math.min(s.maxDelay, s.minDelay * 2 ** Math.min(s.attempt, 16));
  const retryInMs = Math.round(ceiling / 2 + (s.random() * ceiling) / 2);
  s.log.warn({ err: error, retryInMs, attempt: s.attempt }, 'LISTEN connection lost; reconnecting');
  emit(s, 'listen:error', { error, retryInMs });
  s.timer = setTimeout(() => {
    s.timer = null;
    void connect(s);
  }, retryInMs);
}

/** Dispatch: a notification's payload to each handler of its channel; a throwing handler does not stop the others. */
function dispatch(s: ListenerState, n: pg.Notification): void {
  for (const h of s.handlers.get(n.channel) ?? []) {
    try {
      h(n.payload ?? '');
    } catch (err) {
      s.log.warn({ err, channel: n.channel }, 'a notification handler failed');
    }
  }
}

/** Stops for good: no reconnect, start() resolves, the connection is closed. */
async function stop(s: ListenerState): Promise<void> {
  s.stopped = true;
  if (s.timer) clearTimeout(s.timer);
  s.timer = null;
  s.ready = false;
  s.firstReady?.();
  s.firstReady = null;
  const c = s.client;
  s.client = null;
  if (c) {
    c.removeAllListeners('end');
    await c.end().catch(() => undefined);
  }
}

/** Sends a notification on one of the service's channels (delivered at commit inside a transaction). */
export async function notify(db: pg.Pool | pg.ClientBase, channel: Channel, payload = ''): Promise<void> {
  await db.query('SELECT pg_notify($1, $2)', [channel, payload]);
}
