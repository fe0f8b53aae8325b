// The crowd for bench/subscribers.ts: N graphql-ws clients (one socket each, as N dashboards
// would be: graphql-ws spoken at the wire, or the official client over `ws`) in a process of their own, each subscribed to
// `refreshEvents`. Every event received is kept as (log id, receive time, `at`); `collect` then
// checks each client against the run's events as the event log holds them (did it get every one
// that is not progress and the last progress, once, in order, and the same values as the other
// clients of its subscription?) and times each delivery against the event's `at` (the server's clock when the
// state it reports was committed; one machine, one clock) and against the log row's
// `created_at` (when the event was written to the log: what follows is the follower's and the
// fan-out's part). IPC: announces `connected`, and `all-finished` once every client has the
// run's RunFinished; answers `delivered` (deliveries so far), `reset`, `collect` and `stop`.
import { performance } from 'node:perf_hooks';
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { announce, serveIpc } from './ipc-child.ts';
import { subscribeAtTheWire } from './graphql-ws-wire-client.ts';

export interface ClientsArgs {
  /** ws://…/graphql */
  url: string;
  subscribers: number;
  tableSchema: string;
  tableName: string;
  /** Distinct subscriptions the clients are spread over (1: every client sends the same document). */
  filters: number;
  connectionParams: Record<string, unknown>;
  /** `wire` (default): graphql-ws-wire-client.ts; `official`: the graphql-ws client over ws. */
  client: 'wire' | 'official';
}

/** What `collect` is given: the run's events as the log holds them, [id, created_at ms, whether it is progress]. */
export interface CollectArgs {
  events: Array<[id: number, createdAt: number, progress: boolean]>;
}

export interface ClientsResult {
  subscribers: number;
  errors: string[];
  /** Clients that received the run's RunFinished. */
  finished: number;
  /**
   * Clients that received every event of the run that is not progress and its last progress, each
   * once, in the log's order, and the same values as every other client of their subscription
   * (progress may be held within the fan-outs' budget: src/http/fan-out-pacing.ts).
   */
  complete: number;
  /** Events of the run in the log. */
  expected: number;
  /** Of them, progress. */
  expectedProgress: number;
  /** Distinct sequences of ids received among clients of the same subscription, summed over subscriptions (one each: every member got the same values). */
  sequences: number;
  /** Deliveries, summed over every client. */
  deliveries: number;
  /** Deliveries of an event the client had already received. */
  duplicates: number;
  /** Deliveries of an event not of the run (none expected: nothing else runs meanwhile). */
  foreign: number;
  /** Deliveries per client: fewest, median, most. */
  perSubscriber: { min: number; median: number; max: number };
  /** receive time − `at`, ms, over every delivery. */
  latency: Percentiles;
  /** receive time − the log row's created_at, ms, over every delivery. */
  latencyFromLog: Percentiles;
  /** Latency of the first client to receive each event, over events (ms). */
  firstOfEvent: Percentiles;
  /** Spread between the first and the last client receiving the same event (ms). */
  fanoutSpread: Percentiles;
  eventLoopUtilization: number;
  cpuMs: number;
}

export interface Percentiles {
  p50: number;
  p95: number;
  p99: number;
  max: number;
}

/** p50/p95/p99/max of `values` (nearest rank); NaN when empty. */
export function percentiles(values: ArrayLike<number>): Percentiles {
  const sorted = Float64Array.from(values).sort();
  const at = (p: number) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]! : NaN);
  return { p50: at(50), p95: at(95), p99: at(99), max: sorted.length ? sorted[sorted.length - 1]! : NaN };
}

const SELECTION = `{
    __typename
    ... on RefreshEvent { id at }
    ... on RunProgress { page rowsProcessed }
    ... on RunFinished { outcome }
  }`;

/**
 * The filters that match every event of one table's run before its run id is known: by schema,
 * by name, by both. (An empty filter would match too, but also other tables' config changes.)
 */
const MATCHING_FILTERS = (a: ClientsArgs) => [{ tableName: a.tableName }, { tableSchema: a.tableSchema }, { tableSchema: a.tableSchema, tableName: a.tableName }];

/**
 * The subscription of group `g`. One group: the same document for every client (what a fleet of
 * one dashboard sends). Several: each group its own operation and response alias — no two
 * groups share a parse, a validation, an execution result or a serialised message — with the
 * three matching filters spread over them, so that every client still receives every event of
 * the run and the figures compare with the one-document runs.
 */
function subscriptionOf(a: ClientsArgs, g: number): { query: string; variables: Record<string, unknown>; field: string } {
  if (a.filters === 1) {
    return {
      query: `subscription BenchProgress($tableName: String!) {\n  refreshEvents(filter: { tableName: $tableName }) ${SELECTION}\n}`,
      variables: { tableName: a.tableName },
      field: 'refreshEvents',
    };
  }
  const forms = MATCHING_FILTERS(a);
  return {
    query: `subscription BenchProgress${g}($filter: RefreshEventFilter!) {\n  g${g}: refreshEvents(filter: $filter) ${SELECTION}\n}`,
    variables: { filter: forms[g % forms.length] },
    field: `g${g}`,
  };
}

type Event = { __typename: string; id?: string; at?: string };

interface Received {
  /** Triples of (log id, receive ms since the epoch, `at` ms). */
  events: number[];
  finished: boolean;
}

type Next = (payload: { data?: Record<string, unknown> | null; errors?: unknown }, receivedAt: number) => void;

/** One subscriber with the official client (graphql-ws over ws); resolves once connected. */
function subscribeOfficial(args: ClientsArgs, g: number, onNext: Next, onError: (m: string) => void): Promise<{ close(): Promise<void> }> {
  const client: Client = createClient({ url: args.url, webSocketImpl: WebSocket, connectionParams: args.connectionParams, retryAttempts: 0, lazy: false });
  const connected = new Promise<void>((resolve, reject) => {
    client.on('connected', () => resolve());
    client.on('closed', (event) => {
      const { code, reason } = event as { code?: number; reason?: string };
      reject(new Error(`a client closed before it connected: ${code ?? ''} ${reason ?? ''}`));
    });
  });
  const { query, variables } = subscriptionOf(args, g);
  client.subscribe<Record<string, unknown>>(
    { query, variables },
    {
      next: (result) => onNext(result, Date.now()), // first thing: the receive time
      error: (error) => onError(error instanceof Error ? error.message : JSON.stringify(error)),
      complete() {},
    },
  );
  return connected.then(() => ({ close: () => client.dispose() as Promise<void> }));
}

/** One subscriber at the wire (graphql-ws-wire-client.ts); resolves once acknowledged. */
async function subscribeWire(args: ClientsArgs, g: number, onNext: Next, onError: (m: string) => void): Promise<{ close(): Promise<void> }> {
  const { query, variables } = subscriptionOf(args, g);
  const client = await subscribeAtTheWire({ url: args.url, connectionParams: args.connectionParams, query, variables, onNext, onError });
  return { close: async () => client.close() };
}

async function main(): Promise<void> {
  const args = JSON.parse(process.argv[2] ?? '{}') as ClientsArgs;
  const clients: Array<{ close(): Promise<void> }> = [];
  const received: Received[] = [];
  const errors: string[] = [];
  let finished = 0;
  const note = (message: string) => void (errors.length < 5 && errors.push(message));
  const subscribe = args.client === 'official' ? subscribeOfficial : subscribeWire;

  // Connect in batches: thousands of SYNs at once would overflow the listen backlog.
  const BATCH = 100;
  const started = performance.now();
  for (let from = 0; from < args.subscribers; from += BATCH) {
    const batch: Promise<void>[] = [];
    for (let i = from; i < Math.min(args.subscribers, from + BATCH); i++) {
      const mine: Received = { events: [], finished: false };
      received.push(mine);
      const { field } = subscriptionOf(args, i % args.filters);
      const onNext: Next = (result, now) => {
        const e = result.data?.[field] as Event | undefined;
        if (!e?.id || !e.at) return note(JSON.stringify(result.errors ?? result));
        mine.events.push(Number(e.id), now, Date.parse(e.at));
        if (e.__typename === 'RunFinished' && !mine.finished) {
          mine.finished = true;
          if (++finished === args.subscribers) announce('all-finished', { finished });
        }
      };
      batch.push(subscribe(args, i % args.filters, onNext, note).then((c) => void clients.push(c)));
    }
    await Promise.all(batch);
  }
  let cpu = process.cpuUsage();
  let elu = performance.eventLoopUtilization();
  announce('connected', { clients: clients.length, ms: performance.now() - started });

  serveIpc({
    delivered: () => deliveries(received),
    reset() {
      for (const r of received) {
        r.events.length = 0;
        r.finished = false;
      }
      finished = 0;
      cpu = process.cpuUsage();
      elu = performance.eventLoopUtilization();
      return null;
    },
    collect(payload): ClientsResult {
      const cpuUsed = process.cpuUsage(cpu);
      const eventLoopUtilization = performance.eventLoopUtilization(elu).utilization;
      return { ...summarise(received, (payload as CollectArgs).events, args.filters), subscribers: clients.length, errors, finished, eventLoopUtilization, cpuMs: (cpuUsed.user + cpuUsed.system) / 1000 };
    },
    async stop() {
      await Promise.all(clients.map((c) => c.close()));
      setImmediate(() => process.exit(0));
      return null;
    },
  });
}

/** Deliveries received so far, over every client. */
const deliveries = (received: Received[]) => received.reduce((n, r) => n + r.events.length / 3, 0);

/** Every client's deliveries against the run's logged events; client i is of subscription i % filters. */
function summarise(received: Received[], logged: CollectArgs['events'], filters: number) {
  const createdAt = new Map(logged.map(([id, created]) => [id, created]));
  // What every client must have: each event that is not progress, and the run's last progress (the latest state).
  const lastProgress = logged.findLast(([, , progress]) => progress)?.[0];
  const required = logged.filter(([id, , progress]) => !progress || id === lastProgress).map(([id]) => id);
  const total = deliveries(received);
  const latency = new Float64Array(total);
  const fromLog = new Float64Array(total);
  const counts: number[] = [];
  const byEvent = new Map<number, { first: number; last: number; at: number }>();
  const sequences = Array.from({ length: filters }, () => new Set<string>());
  let n = 0;
  let duplicates = 0;
  let foreign = 0;
  let complete = 0;
  received.forEach((r, client) => {
    const seen = new Set<number>();
    let ordered = true;
    let previous = -Infinity;
    const ids: number[] = [];
    for (let i = 0; i < r.events.length; i += 3) {
      const [id, receivedAt, at] = [r.events[i]!, r.events[i + 1]!, r.events[i + 2]!];
      latency[n] = receivedAt - at;
      const logAt = createdAt.get(id);
      fromLog[n++] = logAt === undefined ? NaN : receivedAt - logAt;
      if (seen.has(id)) duplicates++;
      seen.add(id);
      ids.push(id);
      if (id <= previous) ordered = false;
      previous = id;
      if (logAt === undefined) foreign++;
      const e = byEvent.get(id);
      if (!e) byEvent.set(id, { first: receivedAt, last: receivedAt, at });
      else {
        e.first = Math.min(e.first, receivedAt);
        e.last = Math.max(e.last, receivedAt);
      }
    }
    counts.push(r.events.length / 3);
    sequences[client % filters]!.add(ids.join(','));
    if (ordered && seen.size === ids.length && ids.every((id) => createdAt.has(id)) && required.every((id) => seen.has(id))) complete++;
  });
  const sortedCounts = [...counts].sort((a, b) => a - b);
  const events = [...byEvent.values()];
  return {
    complete,
    expected: logged.length,
    expectedProgress: logged.filter(([, , progress]) => progress).length,
    sequences: sequences.reduce((sum, set) => sum + set.size, 0),
    deliveries: total,
    duplicates,
    foreign,
    perSubscriber: { min: sortedCounts[0] ?? 0, median: sortedCounts[Math.floor(sortedCounts.length / 2)] ?? 0, max: sortedCounts.at(-1) ?? 0 },
    latency: percentiles(latency),
    latencyFromLog: percentiles(fromLog.filter((x) => !Number.isNaN(x))),
    firstOfEvent: percentiles(events.map((e) => e.first - e.at)),
    fanoutSpread: percentiles(events.map((e) => e.last - e.first)),
  };
}

main().catch((error: unknown) => {
  console.error('subscribers-clients:', error);
  process.exit(1);
});
