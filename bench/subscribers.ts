// Live progress at scale (issue #25): N graphql-ws subscribers on one server process, each
// receiving the events of a running refresh. The real service (startService: runner, event log
// writer and follower, bus, graphql-ws through yoga) runs in one child process, the N clients in
// another, so the server's RSS and CPU are its own; this process seeds the tables, forces the
// refreshes (forceRefresh, as the mutation does) and reads the figures. Events travel runner →
// event log (src/subscriptions/event-writer.ts, progress throttled per run) → follower → bus →
// each subscriber's stream.
//
// In one server process, each refresh into a fresh, empty table of its own (the same work):
//  1. a warm-up refresh (a tenth of the rows), not measured: the runner's code is compiled;
//  2. the reference: the refresh with no subscriber connected (its pages per second and CPU);
//  3. the server's RSS after a full GC, then N clients subscribe, then its RSS again (per subscriber);
//  4. WARM_EVENTS config changes of the measured table reach every client: the fan-out's code is
//     compiled, as in a service that has run a while (then the budget they spent is paid back);
//  5. the measured refresh, every client subscribed to its table.
// A refresh's end is the event, not a wait: the server announces its run:finished when that
// reaches its bus, and the clients announce when every one of them has it. The measured window
// (CPU, event-loop use) runs from the force to there.
//
// Latency of a delivery = the client's receive time − the event's `at` (the server's clock when
// the state it reports was committed; one machine, one clock). It includes the throttle's hold of
// a progress event (up to its interval), the log's write and a hold for the fan-outs' budget
// (src/http/fan-out-pacing.ts); "from the log" counts from the log row's created_at instead.
// Every client is checked against the run's events as the log holds them: it must receive each
// that is not progress, and the run's last progress, once, in order, and the same values as the
// other clients of its subscription (progress beyond the budget is held, the latest winning).
//
// One `npm run bench -- subscribers` measures issue #25's three cases, each on a server and
// clients of its own: 1,000 subscribers of one document, 10,000 of one document, 10,000 over 100
// distinct subscriptions.
//
//   BENCH_SUBSCRIBERS         only this many clients (a quick trial; default: the three cases)
//   BENCH_SUBSCRIBER_FILTERS  with BENCH_SUBSCRIBERS: distinct subscriptions the clients are spread over
//                             evenly (default 1: the same document for all); see subscribers-clients.ts for what differs
//   BENCH_SUBSCRIBER_ROWS     rows of each refreshed table (default 200,000, pages of 2,000)
//   BENCH_SUBSCRIBER_CLIENT   `wire` (default: graphql-ws spoken at the socket, graphql-ws-wire-client.ts
//                             says why) or `official` (the graphql-ws client over ws, ~18 µs a delivery)
import pg from 'pg';
import { createToken } from '../src/auth/tokens.ts';
import { forceRefresh } from '../src/commands/refresh.ts';
import { spawnIpcChild, type IpcChild } from './ipc-child.ts';
import type { ClientsArgs, ClientsResult, CollectArgs } from './subscribers-clients.ts';
import { subscriberFigures, summaryRow, type Measured, type RunFigures } from './subscribers-figures.ts';
import type { RunFinishedNotice, ServerMeasure, ServerSample } from './subscribers-server.ts';
import { fmtInt, fmtMb, fmtSeconds, type Bench, type BenchContext, type Figure, envCount } from './support.ts';

/** A case: clients, and the distinct subscriptions they are spread over. */
interface Case {
  subscribers: number;
  filters: number;
}
const CASES: Case[] = process.env.BENCH_SUBSCRIBERS
  ? [{ subscribers: envCount('BENCH_SUBSCRIBERS', 1000), filters: envCount('BENCH_SUBSCRIBER_FILTERS', 1) }]
  : [{ subscribers: 1000, filters: 1 }, { subscribers: 10_000, filters: 1 }, { subscribers: 10_000, filters: 100 }];
/** Config changes of the measured table, sent to the clients before its run (the fan-out's code compiled, as in a service running for a while). */
const WARM_EVENTS = 20;
const ROWS = envCount('BENCH_SUBSCRIBER_ROWS', 200_000);
const CLIENT: ClientsArgs['client'] = process.env.BENCH_SUBSCRIBER_CLIENT === 'official' ? 'official' : 'wire';
const PAGE_SIZE = 2000;
const SCHEMA = 'sqp';
const TABLE = 'bench_live_progress';
/** Guards, not waits: a run or a fan-out that takes longer than this is a failure to report. */
const RUN_TIMEOUT_MS = 600_000;
const FANOUT_TIMEOUT_MS = 120_000;

/** Polls `check` every `everyMs` until it returns true; throws after `timeoutMs`. */
async function until(what: string, timeoutMs: number, check: () => Promise<boolean>, everyMs = 100): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** `promise`'s value, or null when it has not settled within `ms`. */
async function within<T>(promise: Promise<T>, ms: number): Promise<T | null> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), ms)));
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** A table of `rows` generated rows from the target database itself (a postgres source), registered, not due until forced. */
async function seed(pool: pg.Pool, table: string, rows: number): Promise<number> {
  await pool.query(`CREATE TABLE ${SCHEMA}.${table} (id int PRIMARY KEY, v int)`);
  const params = {
    source: { type: 'postgres', query: `SELECT g AS id, g * 2 AS v FROM generate_series(1, ${rows}) g` },
    pageSize: PAGE_SIZE,
    quality: { rowCountChange: { min: -1, max: 1_000_000, severity: 'warning' } },
  };
  // Registered (creating the table may have registered it already); not due until forced: the
  // runner must not start it before the subscribers are there.
  const { rows: [config] } = await pool.query<{ id: number }>(
    `INSERT INTO sqp.refresh_config (table_schema, table_name, is_enabled, refresh_frequency_hours, next_refresh_at, custom_sync_params)
     VALUES ($1, $2, true, 24, now() + interval '10 years', $3)
     ON CONFLICT (table_schema, table_name) DO UPDATE SET is_enabled = true, refresh_frequency_hours = 24,
       next_refresh_at = EXCLUDED.next_refresh_at, custom_sync_params = EXCLUDED.custom_sync_params
     RETURNING id`,
    [SCHEMA, table, JSON.stringify(params)],
  );
  return config!.id;
}

interface RunResult {
  runId: number;
  status: string;
  pages: number;
  rows: number;
  /** refresh_started_at → refresh_completed_at of the audit row. */
  runMs: number;
  pagesPerSecond: number;
  /** Force → the server's bus saw run:finished. */
  toFinishMs: number;
  /** Force → every client had it (null: no clients, or not all within the guard). */
  toFanoutMs: number | null;
  /** Force → the end of the measured window (every client had the end, or the guard ran out). */
  windowMs: number;
  server: ServerMeasure;
}

/** Forces `table`'s refresh and waits for its end (and, with clients, for every client to have it). */
async function refresh(pool: pg.Pool, server: IpcChild, clients: IpcChild | null, configId: number, table: string): Promise<RunResult> {
  await pool.query('VACUUM ANALYZE'); // every measured run starts on the same footing
  await clients?.request('reset');
  const finished = within(server.next<RunFinishedNotice>('run-finished'), RUN_TIMEOUT_MS);
  const fannedOut = clients?.next<{ finished: number }>('all-finished');
  void fannedOut?.catch(() => undefined); // a run that fails first never asks for it
  await server.request('measure-start', { configId });
  const started = performance.now();
  // waitMs 0: the bench waits on the run's end, announced by the server, not on the force.
  await forceRefresh({ pool, dailyByteBudget: null, requestedBy: 'bench', waitMs: 0 }, { tableSchema: SCHEMA, tableName: table, cascade: false, mode: 'full', dryRun: false });
  const notice = await finished;
  if (!notice) throw new Error(`the refresh of ${table} did not finish within ${RUN_TIMEOUT_MS / 1000} s`);
  const toFinishMs = performance.now() - started;
  const all = fannedOut ? await within(fannedOut, FANOUT_TIMEOUT_MS) : null;
  const toFanoutMs = all ? performance.now() - started : null;
  const windowMs = performance.now() - started;
  const measured = await server.request<ServerMeasure>('measure-stop');
  const { rows: [run] } = await pool.query<{ status: string; rows: number; pages: number; ms: number }>(
    `SELECT status, rows_processed AS rows, (sync_metadata->>'pages')::int AS pages,
            extract(epoch FROM refresh_completed_at - refresh_started_at) * 1000 AS ms
     FROM sqp.refresh_audit_log WHERE id = $1`, [notice.runId]);
  if (!run) throw new Error(`run ${notice.runId} has no audit row`);
  return {
    runId: notice.runId, status: run.status, pages: run.pages, rows: run.rows, runMs: run.ms,
    pagesPerSecond: (run.pages * 1000) / run.ms, toFinishMs, toFanoutMs, windowMs, server: measured,
  };
}

/** The run's events as the log holds them: what every client should have received, and when each was written. */
async function loggedEvents(pool: pg.Pool, runId: number): Promise<CollectArgs['events']> {
  const { rows } = await pool.query<{ id: string; created: number; type: string }>(
    `SELECT id::text, extract(epoch FROM created_at) * 1000 AS created, type FROM sqp_refresh_work.refresh_events WHERE run_id = $1 ORDER BY id`, [runId]);
  return rows.map((r) => [Number(r.id), Number(r.created), r.type === 'run:progress']);
}

const describeRun = (r: RunResult) =>
  `run ${r.runId}: ${r.status}, ${fmtInt(r.rows)} rows in ${r.pages} pages in ${fmtSeconds(r.runMs)} (${r.pagesPerSecond.toFixed(1)} pages/s); ` +
  `server CPU ${fmtSeconds(r.server.cpuMs)}, event loop ${(r.server.eventLoopUtilization * 100).toFixed(0)}% busy over ${fmtSeconds(r.windowMs)} (the bus had the end at ${fmtSeconds(r.toFinishMs)}${r.toFanoutMs === null ? '' : `, every client at ${fmtSeconds(r.toFanoutMs)}`})`;

function serverEnv(ctx: BenchContext, apiToken: string): NodeJS.ProcessEnv {
  return {
    ...process.env,
    DATABASE_URL: ctx.databaseUrl,
    HOST: '127.0.0.1',
    PORT: '0',
    LOG_LEVEL: 'warn',
    LOG_PRETTY: 'false',
    API_TOKENS: apiToken,
    ANONYMOUS_ACCESS: 'none',
    WORKER_NAME: 'bench-server',
    // A tick that never comes by itself: the forced refresh wakes the runner (NOTIFY).
    RUNNER_SCHEDULE: '0 0 1 1 *',
    // A BigQuery project (never called: no table has a bigquery source) so that the service
    // does not build its demo source, which is not what is measured here.
    BIGQUERY_PROJECT_ID: 'sqp-bench',
    BIGQUERY_API_ENDPOINT: 'http://127.0.0.1:9',
  };
}

/**
 * Sends WARM_EVENTS config changes of `table` (each a `config:changed` event), waits until every
 * client has them, then until the fan-outs' budget they spent is paid back (the measured run
 * starts as a run after a quiet while would: progress sent as it comes).
 */
async function warmFanOut(pool: pg.Pool, server: IpcChild, clients: IpcChild, configId: number, c: Case): Promise<void> {
  for (let i = 0; i < WARM_EVENTS; i++) await pool.query(`UPDATE sqp.refresh_config SET priority = $2 WHERE id = $1`, [configId, 50 + (i % 2)]);
  await until('the clients to receive the warm-up events', FANOUT_TIMEOUT_MS, async () => (await clients.request<number>('delivered')) >= WARM_EVENTS * c.subscribers, 100);
  await until('the fan-outs\' budget to be paid back', FANOUT_TIMEOUT_MS, async () => (await server.request<number>('progress-held')) === 0, 100);
}

async function measure(ctx: BenchContext, pool: pg.Pool, c: Case, table: string): Promise<Measured> {
  const warm = await seed(pool, `${table}_warmup`, Math.max(PAGE_SIZE, Math.round(ROWS / 10)));
  const reference = await seed(pool, `${table}_reference`, ROWS);
  const measured = await seed(pool, table, ROWS);

  const { token, entry } = createToken('bench-dashboards', 'read');
  const server = spawnIpcChild('subscribers-server.ts', null, { nodeArgs: ['--expose-gc'], env: serverEnv(ctx, entry) });
  let clients: IpcChild | null = null;
  try {
    const { url } = await server.next<{ url: string }>('ready');
    ctx.log(`server at ${url}; warm-up refresh …`);
    await refresh(pool, server, null, warm, `${table}_warmup`);
    const ref = await refresh(pool, server, null, reference, `${table}_reference`);
    ctx.log(`reference, no subscribers: ${describeRun(ref)}`);

    const before = await server.request<ServerSample>('sample');
    ctx.log(`server RSS ${fmtMb(before.rss)} (heap ${fmtMb(before.heapUsed)}) before subscribers`);
    const args: ClientsArgs = {
      url: url.replace(/^http/, 'ws'), subscribers: c.subscribers, tableSchema: SCHEMA, tableName: table, filters: c.filters,
      connectionParams: { authorization: `Bearer ${token}` }, client: CLIENT,
    };
    clients = spawnIpcChild('subscribers-clients.ts', args);
    const connected = await clients.next<{ clients: number; ms: number }>('connected');
    ctx.log(`${fmtInt(connected.clients)} clients connected in ${fmtSeconds(connected.ms)}; waiting for their subscriptions …`);
    // The server's count of open streams: nothing announces a subscription's start to the client.
    let live = 0;
    await until(`${c.subscribers} live subscriptions on the server`, 120_000, async () => {
      live = (await server.request<ServerSample>('sample')).subscribers;
      return live >= c.subscribers;
    }, 250);
    const after = await server.request<ServerSample>('sample');
    ctx.log(`${fmtInt(after.subscribers)} subscriptions (${c.filters} distinct): server RSS ${fmtMb(after.rss)} (heap ${fmtMb(after.heapUsed)})`);
    await warmFanOut(pool, server, clients, measured, c);

    const run = await refresh(pool, server, clients, measured, table);
    ctx.log(`with ${fmtInt(c.subscribers)} subscribers: ${describeRun(run)}`);
    const result = await clients.request<ClientsResult>('collect', { events: await loggedEvents(pool, run.runId) } satisfies CollectArgs);
    return { subscribers: c.subscribers, filters: c.filters, before, after, live, reference: runFigures(ref), run: runFigures(run), clients: result };
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

const runFigures = (r: RunResult): RunFigures => ({
  runId: r.runId, status: r.status, pages: r.pages, runMs: r.runMs, pagesPerSecond: r.pagesPerSecond,
  windowMs: r.windowMs, server: r.server,
});

const describeCase = (c: Case) => `${fmtInt(c.subscribers)} subscribers of ${c.filters === 1 ? 'one document' : `${c.filters} distinct subscriptions`}`;

export const subscribersBench: Bench = {
  name: 'subscribers',
  description:
    `graphql-ws subscribers (${CLIENT === 'wire' ? 'at the wire' : 'the official client'}) of refreshEvents on one server process — ${CASES.map(describeCase).join('; ')} — ` +
    `each during a refresh of ${fmtInt(ROWS)} rows in pages of ${fmtInt(PAGE_SIZE)}, against the same refresh with no subscriber`,
  async run(ctx) {
    const pool = new pg.Pool({ connectionString: ctx.databaseUrl, max: 2 });
    pool.on('error', () => undefined);
    const figures: Figure[] = [];
    try {
      // Only the bench's tables may run: the seed's own tables stay idle.
      await pool.query(`UPDATE sqp.refresh_config SET is_enabled = false`);
      for (const [i, c] of CASES.entries()) {
        ctx.log(`${describeCase(c)} …`);
        const m = await measure(ctx, pool, c, `${TABLE}_${i + 1}`);
        const r = m.clients;
        ctx.log(
          `${fmtInt(r.complete)} of ${fmtInt(r.subscribers)} clients got every event of the run but progress, and its last progress, once and in order ` +
            `(${fmtInt(r.deliveries)} deliveries of ${r.expected} events in the log, ${r.duplicates} duplicates, ${r.foreign} not of the run); client process CPU ${fmtSeconds(r.cpuMs)}`,
        );
        if (r.errors.length) ctx.log(`client errors: ${r.errors.join(' | ')}`);
        ctx.log(`summary row: ${summaryRow(m)}`);
        figures.push(...subscriberFigures(m));
      }
      return figures;
    } finally {
      await pool.end();
    }
  },
};
