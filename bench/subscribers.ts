// Live progress at scale: 1,000 graphql-ws subscribers on one server process, each
// receiving the progress of a running refresh. The real service (startService: runner, event
// bus, replica transport, graphql-ws through yoga) runs in one child process, the 1,000
// clients in another, so the server's RSS and CPU are its own; this process only seeds the
// table, forces the refresh (forceRefresh, as the mutation does) and reads the figures.
// Latency of a delivery = the client's receive time − the event's `at` (the server's clock when
// the page was committed; one machine, one clock). Targets: p99 ≤ 100 ms; RSS per subscriber
// is reported.
//
//   BENCH_SUBSCRIBERS      clients (default 1,000; the target assumes it)
//   BENCH_SUBSCRIBER_ROWS  rows of the refreshed table (default 200,000, pages of 2,000)
import pg from 'pg';
import { createToken } from '../src/auth/tokens.ts';
import { forceRefresh } from '../src/commands/refresh.ts';
import { spawnIpcChild, type IpcChild } from './ipc-child.ts';
import type { ClientsArgs, ClientsResult, Percentiles } from './subscribers-clients.ts';
import type { ServerMeasure, ServerSample } from './subscribers-server.ts';
import { fmtInt, fmtMb, fmtSeconds, type Bench, type BenchContext, type Figure, envCount } from './support.ts';

const SUBSCRIBERS = envCount('BENCH_SUBSCRIBERS', 1000);
const ROWS = envCount('BENCH_SUBSCRIBER_ROWS', 200_000);
const PAGE_SIZE = 2000;
const TABLE = 'bench_live_progress';
/** streams.ts: least time between two progress events of one run, per subscriber. */
const PROGRESS_INTERVAL_MS = 100;
const TARGET_P99_MS = 100;

/** Polls `check` every `everyMs` until it returns true; throws after `timeoutMs`. */
async function until(what: string, timeoutMs: number, check: () => Promise<boolean>, everyMs = 100): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** The refreshed table: `ROWS` generated rows from the target database itself (a postgres source). */
async function seed(pool: pg.Pool): Promise<void> {
  // Only this table may run: the seed's own tables stay idle.
  await pool.query(`UPDATE sqp.refresh_config SET is_enabled = false`);
  await pool.query(`CREATE TABLE sqp.${TABLE} (id int PRIMARY KEY, v int)`);
  await pool.query(`INSERT INTO sqp.refresh_config (table_schema, table_name) VALUES ('sqp', $1) ON CONFLICT DO NOTHING`, [TABLE]);
  const params = {
    source: { type: 'postgres', query: `SELECT g AS id, g * 2 AS v FROM generate_series(1, ${ROWS}) g` },
    pageSize: PAGE_SIZE,
    quality: { rowCountChange: { min: -1, max: 1_000_000, severity: 'warning' } },
  };
  // Not due until forced: the runner must not start it before the subscribers are there.
  await pool.query(
    `UPDATE sqp.refresh_config SET is_enabled = true, refresh_frequency_hours = 24, next_refresh_at = now() + interval '10 years',
       custom_sync_params = $2 WHERE table_schema = 'sqp' AND table_name = $1`,
    [TABLE, JSON.stringify(params)],
  );
}

const ms = (n: number) => `${n.toFixed(n < 10 ? 1 : 0)} ms`;
const spread = (p: Percentiles) => `p50 ${ms(p.p50)} · p95 ${ms(p.p95)} · p99 ${ms(p.p99)} · max ${ms(p.max)}`;

async function measure(ctx: BenchContext, pool: pg.Pool) {
  const { token, entry } = createToken('bench-dashboards', 'read');
  const server = spawnIpcChild('subscribers-server.ts', null, {
    nodeArgs: ['--expose-gc'],
    env: {
      ...process.env,
      DATABASE_URL: ctx.databaseUrl,
      HOST: '127.0.0.1',
      PORT: '0',
      LOG_LEVEL: 'warn',
      LOG_PRETTY: 'false',
      API_TOKENS: entry,
      ANONYMOUS_ACCESS: 'none',
      WORKER_NAME: 'bench-server',
      // A tick that never comes by itself: the forced refresh wakes the runner (NOTIFY).
      RUNNER_SCHEDULE: '0 0 1 1 *',
      // A BigQuery project (never called: no table has a bigquery source) so that the service
      // does not build its demo source, which is not what is measured here.
      BIGQUERY_PROJECT_ID: 'sqp-bench',
      BIGQUERY_API_ENDPOINT: 'http://127.0.0.1:9',
    },
  });
  let clients: IpcChild | null = null;
  try {
    const { url } = await server.next<{ url: string }>('ready');
    const before = await server.request<ServerSample>('sample');
    ctx.log(`server at ${url}: RSS ${fmtMb(before.rss)} (heap ${fmtMb(before.heapUsed)}) before subscribers`);

    const args: ClientsArgs = {
      url: url.replace(/^http/, 'ws'),
      subscribers: SUBSCRIBERS,
      tableName: TABLE,
      connectionParams: { authorization: `Bearer ${token}` },
      progressIntervalMs: PROGRESS_INTERVAL_MS,
    };
    clients = spawnIpcChild('subscribers-clients.ts', args);
    const connected = await clients.next<{ clients: number; ms: number }>('connected');
    ctx.log(`${fmtInt(connected.clients)} clients connected in ${fmtSeconds(connected.ms)}; waiting for their subscriptions …`);
    let live = 0;
    await until(`${SUBSCRIBERS} live subscriptions on the server`, 60_000, async () => {
      live = (await server.request<ServerSample>('sample')).subscribers;
      return live >= SUBSCRIBERS;
    }, 250);
    const after = await server.request<ServerSample>('sample');
    ctx.log(`${fmtInt(after.subscribers)} subscriptions: server RSS ${fmtMb(after.rss)} (heap ${fmtMb(after.heapUsed)})`);

    await clients.request('reset');
    await server.request('measure-start');
    const started = performance.now();
    const forced = await forceRefresh({ pool, dailyByteBudget: null, requestedBy: 'bench', waitMs: 30_000 }, {
      tableSchema: 'sqp', tableName: TABLE, cascade: false, mode: 'full', dryRun: false,
    });
    if (forced.runId === null) throw new Error('the forced refresh did not start within 30 s');
    ctx.log(`run ${forced.runId} started; ${fmtInt(ROWS)} rows in pages of ${fmtInt(PAGE_SIZE)} …`);
    const c = clients;
    await until('every client to see the run finish', 600_000, async () => (await c.request<number>('finished')) >= SUBSCRIBERS, 200);
    const wallMs = performance.now() - started;
    const serverRun = await server.request<ServerMeasure>('measure-stop');
    const result = await clients.request<ClientsResult>('collect');
    const { rows: [run] } = await pool.query<{ status: string; rows_processed: number }>(
      `SELECT status, rows_processed FROM sqp.refresh_audit_log WHERE id = $1`, [forced.runId]);
    ctx.log(
      `run ${forced.runId}: ${run?.status}, ${fmtInt(run?.rows_processed ?? 0)} rows, ${serverRun.progressEmitted} progress events emitted, ` +
        `${fmtInt(result.deliveries)} delivered (${result.held} held by the throttle) in ${fmtSeconds(wallMs)}`,
    );
    ctx.log(`latency: ${spread(result.latency)}; after the throttle's hold: ${spread(result.latencyAfterThrottle)}`);
    ctx.log(`first client of each page: ${spread(result.firstOfPage)}; first→last client of a page: ${spread(result.fanoutSpread)}`);
    ctx.log(
      `server: CPU ${fmtSeconds(serverRun.cpuMs)}, event loop ${(serverRun.eventLoopUtilization * 100).toFixed(0)}% busy, ` +
        `loop delay p99 ${ms(serverRun.eventLoopDelayP99Ms)} max ${ms(serverRun.eventLoopDelayMaxMs)}, RSS peak ${fmtMb(serverRun.rssPeak)}; ` +
        `clients: CPU ${fmtSeconds(result.cpuMs)}, event loop ${(result.eventLoopUtilization * 100).toFixed(0)}% busy`,
    );
    if (result.errors.length) ctx.log(`client errors: ${result.errors.join(' | ')}`);
    return { before, after, live, wallMs, serverRun, result, runStatus: run?.status ?? 'missing', pagesEmitted: serverRun.progressEmitted };
  } finally {
    await clients?.request('stop').catch(() => clients?.kill());
    await server.request('stop').catch(() => server.kill());
    const timeout = setTimeout(() => {
      clients?.kill();
      server.kill();
    }, 15_000);
    await Promise.all([clients?.exited, server.exited]);
    clearTimeout(timeout);
  }
}

export const subscribersBench: Bench = {
  name: 'subscribers',
  description: `${fmtInt(SUBSCRIBERS)} graphql-ws subscribers of refreshEvents on one server process, a refresh of ${fmtInt(ROWS)} rows in pages of ${fmtInt(PAGE_SIZE)}`,
  async run(ctx) {
    const pool = new pg.Pool({ connectionString: ctx.databaseUrl, max: 2 });
    pool.on('error', () => undefined);
    try {
      await seed(pool);
      const m = await measure(ctx, pool);
      const r = m.result;
      const perSubscriber = (m.after.rss - m.before.rss) / Math.max(1, m.live);
      const heapPerSubscriber = (m.after.heapUsed - m.before.heapUsed) / Math.max(1, m.live);
      const allServed = r.subscribers === SUBSCRIBERS && r.finished === SUBSCRIBERS && r.errors.length === 0 && m.runStatus !== 'failed';
      const figures: Figure[] = [
        {
          id: 'subs_connected', label: 'graphql-ws subscribers connected and subscribed (server count), all saw the run finish',
          value: m.live, unit: 'subscribers', shown: `${fmtInt(m.live)} · ${fmtInt(r.finished)} saw the finish`,
          target: `${fmtInt(SUBSCRIBERS)}`, pass: allServed,
          note: r.errors.length ? `errors: ${r.errors.join(' | ')}` : `run ${m.runStatus} in ${fmtSeconds(m.wallMs)}`,
        },
        {
          id: 'subs_events_per_subscriber', label: `RunProgress events per subscriber (the runner emitted ${m.pagesEmitted}, one per page; streams.ts lets ≤ 1 per ${PROGRESS_INTERVAL_MS} ms through)`,
          value: r.perSubscriber.median, unit: 'events', shown: `${r.perSubscriber.median} (min ${r.perSubscriber.min}, max ${r.perSubscriber.max})`,
        },
        { id: 'subs_deliveries', label: 'RunProgress deliveries in total', value: r.deliveries, unit: 'deliveries', shown: `${fmtInt(r.deliveries)} (${fmtInt(r.held)} held back by the throttle first)` },
        {
          id: 'subs_latency_p99_ms', label: 'delivery latency (client receive − event `at`), p99', value: Math.round(r.latency.p99), unit: 'ms',
          shown: ms(r.latency.p99), target: `≤ ${TARGET_P99_MS} ms`, pass: allServed && r.latency.p99 <= TARGET_P99_MS,
          note: spread(r.latency),
        },
        { id: 'subs_latency_p50_ms', label: 'delivery latency, p50', value: Math.round(r.latency.p50), unit: 'ms', shown: ms(r.latency.p50) },
        { id: 'subs_latency_p95_ms', label: 'delivery latency, p95', value: Math.round(r.latency.p95), unit: 'ms', shown: ms(r.latency.p95) },
        { id: 'subs_latency_max_ms', label: 'delivery latency, max', value: Math.round(r.latency.max), unit: 'ms', shown: ms(r.latency.max) },
        {
          id: 'subs_latency_after_throttle_p99_ms', label: "delivery latency counted from when the throttle let the event go, p99",
          value: Math.round(r.latencyAfterThrottle.p99), unit: 'ms', shown: ms(r.latencyAfterThrottle.p99), note: spread(r.latencyAfterThrottle),
        },
        {
          id: 'subs_fanout_spread_p99_ms', label: 'first → last subscriber receiving the same page, p99 over pages',
          value: Math.round(r.fanoutSpread.p99), unit: 'ms', shown: ms(r.fanoutSpread.p99), note: `first subscriber of a page: ${spread(r.firstOfPage)}`,
        },
        { id: 'subs_server_rss_before', label: 'server RSS before subscribers (after a full GC)', value: Math.round(m.before.rss), unit: 'bytes', shown: fmtMb(m.before.rss) },
        { id: 'subs_server_rss_after', label: `server RSS with ${fmtInt(m.live)} subscriptions (after a full GC)`, value: Math.round(m.after.rss), unit: 'bytes', shown: fmtMb(m.after.rss), note: `peak during the run ${fmtMb(m.serverRun.rssPeak)}` },
        {
          id: 'subs_rss_per_subscriber', label: 'server RSS per subscriber ((after − before) ÷ subscribers)', value: Math.round(perSubscriber), unit: 'bytes',
          shown: `${(perSubscriber / 1024).toFixed(1)} KiB`, note: `JS heap per subscriber ${(heapPerSubscriber / 1024).toFixed(1)} KiB`,
        },
        {
          id: 'subs_server_cpu_ms', label: 'server CPU during the run (runner + fan-out), event-loop busy share', value: Math.round(m.serverRun.cpuMs), unit: 'ms',
          shown: `${fmtSeconds(m.serverRun.cpuMs)} · ${(m.serverRun.eventLoopUtilization * 100).toFixed(0)}% busy`,
          note: `event-loop delay p99 ${ms(m.serverRun.eventLoopDelayP99Ms)}, max ${ms(m.serverRun.eventLoopDelayMaxMs)}; client process ${fmtSeconds(r.cpuMs)} CPU, ${(r.eventLoopUtilization * 100).toFixed(0)}% busy`,
        },
      ];
      return figures;
    } finally {
      await pool.end();
    }
  },
};
