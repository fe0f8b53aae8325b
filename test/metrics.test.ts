// /metrics over real HTTP while a real runner refreshes tables from a postgres source: the run
// metrics move with the bus events, the runner's gauges follow its status, and every scrape
// is valid Prometheus text.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.ts';
import { createRefreshMetrics } from '../src/http/metrics.ts';
import { createLogger } from '../src/logger.ts';
import { createRuntime, type Runtime } from '../src/runtime.ts';
import { buildApp } from '../src/server.ts';
import { createEventBus } from '../src/subscriptions/bus.ts';
import { logged } from './support/events.ts';
import type { RefreshEvent } from '../src/subscriptions/events.ts';
import { createTestDatabase, openTestPool } from './support/db.ts';
import { buildTestRunner, registerTestTable } from './support/refresh.ts';

const logger = createLogger({ level: 'silent', pretty: false });
const database = await createTestDatabase();
const pool = openTestPool(database.url, 6);
const bus = createEventBus();
/** What the gauges read of this process; the runner and bus are set once they exist. */
const runtime: Runtime = createRuntime({ bus, subscribers: { count: 3 } });
const metrics = createRefreshMetrics({ pool, logger, runtime });
bus.subscribe(metrics.observe);
const runner = buildTestRunner(pool, database.url, { logger, workerName: 'metrics-test', emit: (event) => bus.publish(logged(event)) });
const app = buildApp({ graphql: loadConfig({}).graphql, logger, routes: { '/metrics': metrics.route } });
let metricsUrl = '';

beforeAll(async () => {
  // Only this file's tables refresh; the seed's have no source here.
  await pool.query(`UPDATE sqp.refresh_config SET is_enabled = false`);
  runtime.runner = runner;
  metricsUrl = (await app.start(0)).replace(/\/graphql$/, '/metrics');
});
afterAll(async () => {
  await runner.stop();
  await app.stop();
  await pool.end();
  await database.drop();
});

/** A due table sqp.<name> refreshed from `query` on this database. */
async function dueTable(name: string, query: string): Promise<void> {
  await pool.query(`CREATE TABLE IF NOT EXISTS sqp.${name} (id int PRIMARY KEY, v int)`);
  await registerTestTable(pool, { tableName: name, isEnabled: true, customSyncParams: { source: { type: 'postgres', query }, pageSize: 100 }, nextRefreshAt: '-1 minute' });
}

const METRIC_NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*';
const SAMPLE = new RegExp(
  `^(${METRIC_NAME})(\\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\\\\n]|\\\\[\\\\"n])*",?)*\\})? ([-+]?(?:\\d+\\.?\\d*(?:e[-+]?\\d+)?|\\.\\d+(?:e[-+]?\\d+)?|NaN|Inf))(?: -?\\d+)?$`,
  'i',
);

/**
 * Parses the Prometheus text exposition format strictly enough to catch a broken scrape:
 * every line is HELP, TYPE or a sample, and every sample belongs to a declared metric.
 * Returns the samples keyed by `name{labels}` as written.
 */
function parsePrometheus(text: string): Map<string, number> {
  const types = new Map<string, string>();
  const samples = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line) continue;
    if (new RegExp(`^# HELP ${METRIC_NAME} `).test(line)) continue;
    const type = new RegExp(`^# TYPE (${METRIC_NAME}) (counter|gauge|histogram|summary|untyped)$`).exec(line);
    if (type) {
      types.set(type[1]!, type[2]!);
      continue;
    }
    const sample = SAMPLE.exec(line);
    if (!sample) throw new Error(`not in the Prometheus text format: ${JSON.stringify(line)}`);
    const [, name, labels = '', value] = sample;
    const family = [name!, name!.replace(/_(bucket|sum|count|total|created)$/, '')].find((n) => types.has(n));
    if (!family) throw new Error(`sample of an undeclared metric: ${line}`);
    samples.set(`${name}${labels}`, Number(value));
  }
  return samples;
}

async function scrape(): Promise<Map<string, number>> {
  const res = await fetch(metricsUrl);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  return parsePrometheus(await res.text());
}

/** Resolves with the next event of `type` for `table` on the bus. */
function nextEvent(type: RefreshEvent['type'], table: string): Promise<RefreshEvent> {
  return new Promise((resolve) => {
    const stop = bus.subscribe((event) => {
      if ('tableName' in event && event.tableName === table) {
        stop();
        resolve(event);
      }
    }, type);
  });
}

describe('/metrics', () => {
  const ok = '{table="sqp.metric_rows",status="success"}';

  it('serves the runtime gauges and process metrics before any refresh', async () => {
    const m = await scrape();
    expect(m.get('sqp_refresh_subscribers')).toBe(3);
    expect(m.get('sqp_refresh_runs_in_flight')).toBe(0);
    expect(m.get('sqp_refresh_ticks_total')).toBe(0);
    expect(m.get('sqp_refresh_bigquery_billed_today_bytes')).toBe(0);
    expect(m.has(`sqp_refresh_run_duration_seconds_count${ok}`)).toBe(false);
    expect(m.get('process_cpu_user_seconds_total')).toBeGreaterThan(0);
  });

  it('counts a finished run: its duration, rows and outcome, by table and status', async () => {
    await dueTable('metric_rows', 'SELECT g AS id, g * 2 AS v FROM generate_series(1, 250) g');
    await runner.tick();
    const m = await scrape();
    expect(m.get(`sqp_refresh_run_duration_seconds_count${ok}`)).toBe(1);
    expect(m.get(`sqp_refresh_run_duration_seconds_sum${ok}`)).toBeGreaterThan(0);
    expect(m.get(`sqp_refresh_run_duration_seconds_bucket{le="+Inf",table="sqp.metric_rows",status="success"}`)).toBe(1);
    expect(m.get(`sqp_refresh_rows_total${ok}`)).toBe(250);
    expect(m.get('sqp_refresh_runs_total{table="sqp.metric_rows",status="success",outcome="completed"}')).toBe(1);
    expect(m.get('sqp_refresh_ticks_total')).toBe(1);
    expect(m.get('sqp_refresh_tick_duration_seconds')).toBeGreaterThan(0);
    expect(m.get('sqp_refresh_last_tick_timestamp_seconds')).toBeCloseTo(runner.status().lastTickAt!.getTime() / 1000, 3);
    expect(m.get('sqp_refresh_queue_depth')).toBe(0);
    expect(m.get('sqp_refresh_event_lag_seconds_count')).toBeGreaterThanOrEqual(2); // started, progress…, finished
  });

  it('moves again when a refresh is forced with SQL, and labels a failed run as failed', async () => {
    await pool.query(`UPDATE sqp.refresh_config SET next_refresh_at = now() WHERE table_name = 'metric_rows'`);
    await dueTable('metric_broken', 'SELECT 1 / 0 AS id, 1 AS v');
    await runner.tick();
    const m = await scrape();
    expect(m.get(`sqp_refresh_run_duration_seconds_count${ok}`)).toBe(2);
    expect(m.get(`sqp_refresh_rows_total${ok}`)).toBeGreaterThanOrEqual(250);
    expect(m.get('sqp_refresh_run_duration_seconds_count{table="sqp.metric_broken",status="failed"}')).toBe(1);
    expect(m.get('sqp_refresh_runs_total{table="sqp.metric_broken",status="failed",outcome="failed"}')).toBe(1);
  });

  it('shows a run in flight while it runs', async () => {
    await dueTable('metric_slow', 'SELECT g AS id, g AS v FROM generate_series(1, 300) g WHERE pg_sleep(0.002) IS NOT NULL');
    const started = nextEvent('run:started', 'metric_slow');
    const pass = runner.tick();
    await started;
    expect((await scrape()).get('sqp_refresh_runs_in_flight')).toBe(1);
    await pass;
    expect((await scrape()).get('sqp_refresh_runs_in_flight')).toBe(0);
  });

  it("reads today's BigQuery bytes billed from the audit log on every scrape", async () => {
    await pool.query(
      `INSERT INTO sqp.refresh_audit_log (table_schema, table_name, refresh_started_at, status, sync_metadata)
       VALUES ('sqp', 'metric_billed', now(), 'success', '{"bytesBilled": "10485760"}'),
              ('sqp', 'metric_billed', now() - interval '2 days', 'success', '{"bytesBilled": "999"}')`,
    );
    expect((await scrape()).get('sqp_refresh_bigquery_billed_today_bytes')).toBe(10485760);
  });
});
