// The crowd for bench/subscribers.ts: N graphql-ws clients (the `graphql-ws` client over
// `ws`, one socket each, as N dashboards would be) in a process of their own, each subscribed
// to `refreshEvents(filter: { tableName })`. Every RunProgress received is timed against its
// `at` (the server's clock when the page was committed; same machine, same clock) until each
// client has seen the run's RunFinished. IPC: announces `connected`, then answers `collect`
// (the figures of everything received since) and `stop`.
import { performance } from 'node:perf_hooks';
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { announce, serveIpc } from './ipc-child.ts';

export interface ClientsArgs {
  /** ws://…/graphql */
  url: string;
  subscribers: number;
  tableName: string;
  connectionParams: Record<string, unknown>;
  /** The server's least time between two progress events of one run per subscriber (streams.ts). */
  progressIntervalMs: number;
}

export interface ClientsResult {
  /** Clients whose subscription was acknowledged by a first event or still open without error. */
  subscribers: number;
  errors: string[];
  /** Clients that received the run's RunFinished. */
  finished: number;
  /** RunProgress deliveries, summed over every client. */
  deliveries: number;
  /** Deliveries per client: fewest, median, most. */
  perSubscriber: { min: number; median: number; max: number };
  /** receive time − `at`, ms, over every delivery. */
  latency: Percentiles;
  /**
   * receive time − the moment the server's per-subscriber throttle let the event go (at the
   * earliest `at`, or the previous delivery's release + the throttle interval), ms: the
   * delivery's own cost, without the wait that the throttle imposes on purpose.
   */
  latencyAfterThrottle: Percentiles;
  /** Deliveries the throttle held back (released on its timer rather than at once). */
  held: number;
  /** Latency of the first delivery of each page, over pages (ms): the fastest client. */
  firstOfPage: Percentiles;
  /** Spread between the first and the last client receiving the same page (ms). */
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

export function percentiles(values: number[]): Percentiles {
  const sorted = Float64Array.from(values).sort();
  const at = (p: number) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]! : NaN);
  return { p50: at(50), p95: at(95), p99: at(99), max: sorted.length ? sorted[sorted.length - 1]! : NaN };
}

const QUERY = `subscription BenchProgress($tableName: String!) {
  refreshEvents(filter: { tableName: $tableName }) {
    __typename
    ... on RunProgress { at page rowsProcessed }
    ... on RunFinished { at outcome }
  }
}`;

type Payload = { refreshEvents: { __typename: string; at: string; page?: number } };

interface Received {
  /** Pairs of (page, receive ms since the epoch, `at` ms). */
  progress: number[];
  finishedAt: number | null;
}

async function main(): Promise<void> {
  const args = JSON.parse(process.argv[2] ?? '{}') as ClientsArgs;
  const clients: Client[] = [];
  const received: Received[] = [];
  const errors: string[] = [];
  let open = 0;

  // Connect in batches: a thousand SYNs at once would overflow the listen backlog.
  const BATCH = 100;
  const started = performance.now();
  for (let from = 0; from < args.subscribers; from += BATCH) {
    const batch: Promise<void>[] = [];
    for (let i = from; i < Math.min(args.subscribers, from + BATCH); i++) {
      const mine: Received = { progress: [], finishedAt: null };
      received.push(mine);
      const client = createClient({ url: args.url, webSocketImpl: WebSocket, connectionParams: args.connectionParams, retryAttempts: 0, lazy: false });
      clients.push(client);
      batch.push(
        new Promise<void>((resolve, reject) => {
          client.on('connected', () => resolve());
          client.on('closed', (event) => {
            const { code, reason } = event as { code?: number; reason?: string };
            reject(new Error(`client ${i} closed before it connected: ${code ?? ''} ${reason ?? ''}`));
          });
        }),
      );
      client.subscribe<Payload>(
        { query: QUERY, variables: { tableName: args.tableName } },
        {
          next(result) {
            const now = Date.now(); // first thing: the receive time
            const e = result.data?.refreshEvents;
            if (!e) {
              if (errors.length < 5) errors.push(JSON.stringify(result.errors ?? result));
              return;
            }
            if (e.__typename === 'RunProgress') mine.progress.push(e.page ?? -1, now, Date.parse(e.at));
            else if (e.__typename === 'RunFinished') mine.finishedAt = Date.parse(e.at);
          },
          error(error) {
            if (errors.length < 5) errors.push(error instanceof Error ? error.message : JSON.stringify(error));
          },
          complete() {},
        },
      );
      open++;
    }
    await Promise.all(batch);
  }
  let cpu = process.cpuUsage();
  let elu = performance.eventLoopUtilization();
  announce('connected', { clients: open, ms: performance.now() - started });

  serveIpc({
    reset() {
      for (const r of received) {
        r.progress.length = 0;
        r.finishedAt = null;
      }
      cpu = process.cpuUsage();
      elu = performance.eventLoopUtilization();
      return null;
    },
    finished() {
      return received.filter((r) => r.finishedAt !== null).length;
    },
    collect(): ClientsResult {
      const cpuUsed = process.cpuUsage(cpu);
      const latencies: number[] = [];
      const afterThrottle: number[] = [];
      const counts: number[] = [];
      const byPage = new Map<number, { first: number; last: number; at: number }>();
      let held = 0;
      for (const r of received) {
        counts.push(r.progress.length / 3);
        let release = -Infinity;
        for (let i = 0; i < r.progress.length; i += 3) {
          const page = r.progress[i]!;
          const receivedAt = r.progress[i + 1]!;
          const at = r.progress[i + 2]!;
          latencies.push(receivedAt - at);
          // streams.ts lets a run's progress through at once when the previous one went at
          // least the interval ago, else holds the latest until the interval ends (or the run
          // finishes, which releases it at once).
          const earliest = release + args.progressIntervalMs;
          if (earliest > at) held++;
          release = Math.max(at, Math.min(earliest, r.finishedAt ?? Infinity));
          afterThrottle.push(receivedAt - release);
          const p = byPage.get(page);
          if (!p) byPage.set(page, { first: receivedAt, last: receivedAt, at });
          else {
            p.first = Math.min(p.first, receivedAt);
            p.last = Math.max(p.last, receivedAt);
          }
        }
      }
      const sortedCounts = [...counts].sort((a, b) => a - b);
      const pages = [...byPage.values()];
      return {
        subscribers: open,
        errors,
        finished: received.filter((r) => r.finishedAt !== null).length,
        deliveries: latencies.length,
        perSubscriber: { min: sortedCounts[0] ?? 0, median: sortedCounts[Math.floor(sortedCounts.length / 2)] ?? 0, max: sortedCounts.at(-1) ?? 0 },
        latency: percentiles(latencies),
        latencyAfterThrottle: percentiles(afterThrottle),
        held,
        firstOfPage: percentiles(pages.map((p) => p.first - p.at)),
        fanoutSpread: percentiles(pages.map((p) => p.last - p.first)),
        eventLoopUtilization: performance.eventLoopUtilization(elu).utilization,
        cpuMs: (cpuUsed.user + cpuUsed.system) / 1000,
      };
    },
    async stop() {
      await Promise.all(clients.map((c) => c.dispose()));
      setImmediate(() => process.exit(0));
      return null;
    },
  });
}

main().catch((error: unknown) => {
  console.error('subscribers-clients:', error);
  process.exit(1);
});
