// The one LISTEN connection of a process, for every channel (runner wake-ups, cancels,
// cross-replica events). Managed databases cut connections (failovers, poolers, idle
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
  /** Payload: a refresh event of another replica (src/subscriptions/transport.ts). */
  events: 'sqp_refresh_events',
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
  const log = options.logger;
  const minDelay = options.minDelayMs ?? 500;
  const maxDelay = options.maxDelayMs ?? 30_000;
  const random = options.random ?? Math.random;
  const events = new EventEmitter<ListenerEvents>();
  const handlers = new Map<string, Set<(payload: string) => void>>();
  let client: pg.Client | null = null;
  let ready = false;
  let stopped = false;
  let attempt = 0;
  let everConnected = false;
  let timer: NodeJS.Timeout | null = null;
  let firstReady: (() => void) | null = null;

  const emit = <K extends keyof ListenerEvents>(name: K, arg: ListenerEvents[K][0]) => {
    try {
      (events.emit as (n: string, a: unknown) => boolean)(name, arg);
    } catch (err) {
      log.warn({ err, event: name }, 'a listener lifecycle handler failed');
    }
  };

  function scheduleReconnect(error: Error): void {
    if (stopped || timer) return;
    // Full jitter on an exponential delay: replicas cut at once do not come back in lockstep.
    const ceiling = Math.min(maxDelay, minDelay * 2 ** Math.min(attempt, 16));
    const retryInMs = Math.round(ceiling / 2 + (random() * ceiling) / 2);
    log.warn({ err: error, retryInMs, attempt }, 'LISTEN connection lost; reconnecting');
    emit('listen:error', { error, retryInMs });
    timer = setTimeout(() => {
      timer = null;
      void connect();
    }, retryInMs);
  }

  async function connect(): Promise<void> {
    if (stopped) return;
    attempt++;
    emit('listen:connecting', { attempt });
    const c = new pg.Client(clientConfig(options.url, { application_name: 'sqp-refresh listen' }));
    // pg emits 'error' (and then 'end') more than once for one lost connection: the first
    // one of this client schedules the single reconnect, the rest are ignored.
    let lost = false;
    const onLost = (error: Error) => {
      if (lost) return;
      lost = true;
      if (client === c) {
        client = null;
        ready = false;
      }
      c.removeAllListeners('notification');
      c.end().catch(() => undefined);
      scheduleReconnect(error);
    };
    c.on('error', onLost);
    c.on('end', () => onLost(new Error('LISTEN connection ended')));
    c.on('notification', (n) => {
      for (const h of handlers.get(n.channel) ?? []) {
        try {
          h(n.payload ?? '');
        } catch (err) {
          log.warn({ err, channel: n.channel }, 'a notification handler failed');
        }
      }
    });
    try {
      await c.connect();
      await c.query(Object.values(CHANNELS).map((ch) => `LISTEN ${ch}`).join('; '));
    } catch (err) {
      onLost(err as Error);
      return;
    }
    if (stopped || lost) {
      await c.end().catch(() => undefined);
      return;
    }
    client = c;
    ready = true;
    const reconnected = everConnected;
    everConnected = true;
    attempt = 0;
    if (reconnected) log.info('LISTEN connection is back');
    emit('listen:success', { reconnected });
    firstReady?.();
    firstReady = null;
  }

  return {
    events,
    listening: () => ready,
    onNotification(channel, handler) {
      let set = handlers.get(channel);
      if (!set) handlers.set(channel, (set = new Set()));
      set.add(handler);
      return () => void set.delete(handler);
    },
    start() {
      const started = new Promise<void>((resolve) => (firstReady = resolve));
      void connect();
      return started;
    },
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      timer = null;
      ready = false;
      firstReady?.();
      firstReady = null;
      const c = client;
      client = null;
      if (c) {
        c.removeAllListeners('end');
        await c.end().catch(() => undefined);
      }
    },
  };
}

/** Sends a notification on one of the service's channels (delivered at commit inside a transaction). */
export async function notify(db: pg.Pool | pg.ClientBase, channel: Channel, payload = ''): Promise<void> {
  await db.query('SELECT pg_notify($1, $2)', [channel, payload]);
}
