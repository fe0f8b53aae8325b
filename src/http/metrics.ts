// Prometheus metrics at /metrics, in their own registry (plus Node's default process metrics).
// Run metrics come from the event bus (run:started / run:finished), so they count every
// refresh the runner runs whatever its strategy; the runner's ticks and runs and the number of
// subscribers are read from the runtime when scraped, today's BigQuery bytes from the audit log,
// and every table's state, freshness and the queue depth from the read model (table-metrics.ts),
// so a scrape always shows the current state.
import type pg from 'pg';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Logger } from '../logger.ts';
import { bytesBilledToday } from '../runner/engine/audit-log.ts';
import { createRuntime, type Runtime } from '../runtime.ts';
import type { Route } from './route.ts';
import type { RefreshEvent } from '../subscriptions/events.ts';
import { describeError, withTimeout } from './probes.ts';
import { registerTableGauges } from './table-metrics.ts';

export interface MetricsOptions {
  /** For today's bytes billed, the queue depth and the per-table gauges; none: they are not reported. */
  pool?: pg.Pool;
  logger?: Logger;
  runtime?: Runtime;
  /** Clock for the event-bus lag; default Date.now. */
  now?: () => number;
  /** How long each database read (bytes billed, the tables' state) may hold up a scrape; default 2000 ms. */
  timeoutMs?: number;
  /** Node's process metrics (process_*, nodejs_*); default true. */
  defaultMetrics?: boolean;
}

export interface RefreshMetrics {
  registry: Registry;
  /** The event-bus listener: feeds the run metrics and the bus lag. */
  observe(event: RefreshEvent): void;
  /** GET /metrics in the Prometheus text format. */
  route: Route;
}

const tableOf = (e: { tableSchema: string; tableName: string }) => `${e.tableSchema}.${e.tableName}`;

/** Where a metric registers: this registry alone (not prom-client's global one). */
type Registers = Registry[];

/** Creates the registry and its metrics; subscribe `observe` to the bus and serve `route`. */
export function createRefreshMetrics(options: MetricsOptions = {}): RefreshMetrics {
  const registry = new Registry();
  // None given: a process without a runner or bus (what a test of the routes alone builds).
  const runtime = options.runtime ?? createRuntime();
  const now = options.now ?? Date.now;
  if (options.defaultMetrics !== false) collectDefaultMetrics({ register: registry });
  const registers = [registry];
  // Registered in this order, which is the order of a scrape's text.
  const observe = runEventObserver(registerRunMetrics(registers), now);
  registerRuntimeGauges(registers, runtime);
  if (options.pool) {
    const read = { now, timeoutMs: options.timeoutMs ?? 2000, logger: options.logger };
    registerBilledTodayGauge(registers, options.pool, read);
    registerTableGauges(registers, options.pool, { ...read, retry: () => runtime.retry });
  }
  return {
    registry,
    observe,
    async route(_req, res) {
      const body = await registry.metrics();
      res.writeHead(200, { 'content-type': registry.contentType, 'cache-control': 'no-store' });
      res.end(body);
    },
  };
}

/** The run metrics and the bus lag: moved by events (runEventObserver), not read at a scrape. */
function registerRunMetrics(registers: Registers) {
  return {
    duration: new Histogram({
      name: 'sqp_refresh_run_duration_seconds',
      help: 'Wall time of a refresh run (or one resumed slice of it), by table and final status.',
      labelNames: ['table', 'status'] as const,
      // From a small summary rebuilt in a second to a full BigQuery load of hours.
      buckets: [0.1, 0.5, 1, 5, 15, 30, 60, 300, 900, 1800, 3600, 7200],
      registers,
    }),
    runs: new Counter({
      name: 'sqp_refresh_runs_total',
      help: 'Refresh runs finished, by table, status (success, warning, failed) and outcome (completed, paused, cancelled, failed).',
      labelNames: ['table', 'status', 'outcome'] as const,
      registers,
    }),
    rows: new Counter({
      name: 'sqp_refresh_rows_total',
      help: 'Rows processed by finished refresh runs, by table and final status.',
      labelNames: ['table', 'status'] as const,
      registers,
    }),
    blocked: new Counter({
      name: 'sqp_refresh_runs_blocked_total',
      help: 'Due refreshes that did not start because a hard parent failed (or the table is in a cycle).',
      labelNames: ['table'] as const,
      registers,
    }),
    qualityFailures: new Counter({
      name: 'sqp_refresh_quality_out_of_threshold_total',
      help: 'Quality metrics recorded outside their threshold, by table and metric.',
      labelNames: ['table', 'metric'] as const,
      registers,
    }),
    lag: new Histogram({
      name: 'sqp_refresh_event_lag_seconds',
      help: 'Time from an event being stamped to its delivery to the event bus listeners of this process.',
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30],
      registers,
    }),
  };
}

/** The bus listener that moves the run metrics: each event's lag, and a run's duration from its run:started. */
function runEventObserver(metrics: ReturnType<typeof registerRunMetrics>, now: () => number): (event: RefreshEvent) => void {
  /** run:started times by run id, until the run finishes. */
  const startedAt = new Map<number, number>();
  return (event) => {
    const stamped = Date.parse(event.at);
    if (Number.isFinite(stamped)) metrics.lag.observe(Math.max(0, now() - stamped) / 1000);
    switch (event.type) {
      case 'run:started':
        startedAt.set(event.runId, stamped);
        break;
      case 'run:finished': {
        const labels = { table: tableOf(event), status: event.status };
        const began = startedAt.get(event.runId);
        startedAt.delete(event.runId);
        // A run that started before this listener existed has no duration to report.
        if (began !== undefined && Number.isFinite(began)) metrics.duration.observe(labels, Math.max(0, stamped - began) / 1000);
        metrics.runs.inc({ ...labels, outcome: event.outcome });
        metrics.rows.inc(labels, event.rowsProcessed);
        break;
      }
      case 'run:blocked':
        metrics.blocked.inc({ table: tableOf(event) });
        break;
      case 'quality:recorded':
        if (event.isWithinThreshold === false) metrics.qualityFailures.inc({ table: tableOf(event), metric: event.metricName });
        break;
      default:
        break;
    }
  };
}

/** The runner's ticks and runs in flight, and the live subscriptions: read from the runtime at each scrape. */
function registerRuntimeGauges(registers: Registers, runtime: Runtime): void {
  const status = () => runtime.runner?.status();
  new Gauge({
    name: 'sqp_refresh_runs_in_flight',
    help: 'Refreshes this process is running now.',
    registers,
    collect() {
      this.set(status()?.inFlight.length ?? 0);
    },
  });
  new Gauge({
    name: 'sqp_refresh_tick_duration_seconds',
    help: "Duration of the runner's latest completed pass (recovery, then every due refresh).",
    registers,
    collect() {
      const ms = status()?.lastTickMs;
      if (ms === null || ms === undefined) this.reset();
      else this.set(ms / 1000);
    },
  });
  new Gauge({
    name: 'sqp_refresh_last_tick_timestamp_seconds',
    help: 'When the runner last started a pass (Unix time); alert when it stops moving.',
    registers,
    collect() {
      const at = status()?.lastTickAt;
      if (!at) this.reset();
      else this.set(at.getTime() / 1000);
    },
  });
  new Counter({
    name: 'sqp_refresh_ticks_total',
    help: 'Passes the runner of this process has started.',
    registers,
    collect() {
      this.reset();
      this.inc(status()?.ticks ?? 0);
    },
  });
  new Gauge({
    name: 'sqp_refresh_subscribers',
    help: 'Live GraphQL subscriptions served by this process (graphql-ws and SSE).',
    registers,
    collect() {
      this.set(runtime.subscribers.count);
    },
  });
  new Gauge({
    name: 'sqp_refresh_subscription_groups',
    help: 'Executions shared by live subscriptions of the same operation and scopes (each serves one or more subscribers).',
    registers,
    collect() {
      this.set(runtime.subscriptionGroups.count);
    },
  });
  new Gauge({
    name: 'sqp_refresh_subscription_progress_held_seconds',
    help: 'How long progress to subscribers is held from now, the fan-outs having taken their share of the process (SUBSCRIBER_FANOUT_SHARE); 0: sent as it comes.',
    registers,
    collect() {
      this.set((runtime.subscriptionGroups.progressHeldMs?.() ?? 0) / 1000);
    },
  });
}

/** Today's BigQuery bytes billed, read from the audit log (all replicas) at each scrape, within `timeoutMs`. */
function registerBilledTodayGauge(registers: Registers, pool: pg.Pool, options: { now: () => number; timeoutMs: number; logger?: Logger }): void {
  const { now, timeoutMs, logger } = options;
  const readBilled = async () => {
    const client = await pool.connect();
    try {
      return await bytesBilledToday(client, new Date(now()));
    } finally {
      client.release();
    }
  };
  new Gauge({
    name: 'sqp_refresh_bigquery_billed_today_bytes',
    help: 'Bytes BigQuery billed for refreshes since the start of the current UTC day (all replicas, from the audit log).',
    registers,
    async collect() {
      try {
        this.set(Number(await withTimeout(readBilled(), timeoutMs, `no answer within ${timeoutMs} ms`)));
      } catch (error) {
        // The scrape still answers; the gauge keeps its last value.
        logger?.warn({ error: describeError(error) }, 'metrics: could not read bytes billed today');
      }
    },
  });
}
