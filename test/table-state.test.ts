// One table state, everywhere: a table (ts_parent) and its hard dependent (ts_child) are driven
// through due, late, running, failed, retrying, blocked, disabled and interrupted (its process
// SIGKILLed), and at each step the graph (tableHealth), `sqp-refresh status --json`, /metrics
// (sqp_refresh_table_state) and the status page in Chromium say the same state for both.
//
// The runner is this process's (buildTestRunner: it moves only when the test ticks it), its
// clock injected: LATE comes from a first success whose runner's clock was three days behind,
// not from waiting (first: the read model orders runs by when they started). A run is held in RUNNING by its source query waiting on an advisory lock the
// test holds; the steps wait on the runner's events, not on sleeps. The interrupted run is a
// `sqp-refresh run` child process, killed with the same lock held.
import { spawn } from 'node:child_process';
import path from 'node:path';
import pg from 'pg';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addRefreshDependency, updateRefreshConfig } from '../src/commands/config.ts';
import { scheduleRefresh } from '../src/commands/refresh.ts';
import { loadConfig } from '../src/config.ts';
import { openDatabase } from '../src/db.ts';
import { createRefreshMetrics } from '../src/http/metrics.ts';
import { statusPageRoutes } from '../src/http/status-page/routes.ts';
import { createLogger } from '../src/logger.ts';
import { createRuntime } from '../src/runtime.ts';
import { buildApp } from '../src/server.ts';
import { createEventBus } from '../src/subscriptions/bus.ts';
import type { RefreshEvent } from '../src/subscriptions/events.ts';
import { runCli } from './support/cli.ts';
import { createTestDatabase, openTestPool } from './support/db.ts';
import { logged, recordEvents } from './support/events.ts';
import { graphql } from './generated/index.ts';
import { execute } from './support/graphql.ts';
import { buildTestRunner, registerTestTable } from './support/refresh.ts';
import { until } from './support/until.ts';

const root = path.resolve(import.meta.dirname, '..');
const PARENT = 'sqp.ts_parent';
const CHILD = 'sqp.ts_child';
const DAY = 86_400_000;
/** A step spawns the CLI, loads the page in Chromium and may start a child process: more than the default 60 s under load. */
const STEP_MS = 150_000;
/** The advisory lock a gated source query waits for while the test holds it. */
const GATE = 4242;

const logger = createLogger({ level: process.env.TEST_LOG ?? 'silent', pretty: false });
const database = await createTestDatabase();
const pool = openTestPool(database.url, 6);
const bus = createEventBus();
const events = recordEvents<RefreshEvent>((listener) => bus.subscribe(listener));
/** The runner's clock: real time plus this offset. */
let offset = 0;
const clock = () => new Date(Date.now() + offset);
const runner = buildTestRunner(pool, database.url, {
  logger,
  workerName: 'table-state',
  now: clock,
  random: () => 0.5,
  // The read model's retry count (3 attempts); ten minutes between them, so RETRYING holds still.
  retry: { maxAttempts: 3, baseDelayMs: 10 * 60_000, maxDelayMs: 3_600_000 },
  emit: (event) => bus.publish(logged(event)),
});
const db = openDatabase(database.url);
const runtime = createRuntime({ runner, bus });
const config = loadConfig({ DATABASE_URL: database.url, LOG_LEVEL: 'silent', ANONYMOUS_ACCESS: 'read' });
const metrics = createRefreshMetrics({ pool, logger, runtime, defaultMetrics: false });
const app = buildApp({ graphql: config.graphql, auth: config.auth, logger, routes: { ...statusPageRoutes(), '/metrics': metrics.route }, services: { db, runtime } });
/** Holds GATE while a step needs a run to stay running. */
const gate = new pg.Client({ connectionString: database.url });
let base = '';
let browser: Browser;
let page: Page;

const source = (query: string) => ({ source: { type: 'postgres', query }, pageSize: 100 });
const GOOD = source('SELECT id, v FROM src.p');
/** Waits for GATE (held by the test) before its first row. */
const GATED = source(`WITH gate AS (SELECT pg_advisory_xact_lock_shared(${GATE})) SELECT id, v FROM src.p, gate`);
/** 42P01: not retryable. */
const BROKEN = source('SELECT id, v FROM src.no_such_table');
/** 40001 (a serialization failure, raised by src.flaky()): retryable. */
const FLAKY = source('SELECT id, v FROM src.p WHERE src.flaky() = 1');

let parentId = 0;
let childId = 0;

beforeAll(async () => {
  await pool.query(`UPDATE sqp.refresh_config SET is_enabled = false`); // the seed's tables have no source here
  await pool.query(`CREATE SCHEMA src; CREATE TABLE src.p AS SELECT g AS id, g * 2 AS v FROM generate_series(1, 50) g`);
  await pool.query(`CREATE FUNCTION src.flaky() RETURNS int LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'flaky source' USING ERRCODE = '40001'; END $$`);
  await pool.query(`CREATE TABLE sqp.ts_parent (id int PRIMARY KEY, v int); CREATE TABLE sqp.ts_child (id int PRIMARY KEY, v int)`);
  parentId = await registerTestTable(pool, { tableName: 'ts_parent', refreshFrequencyHours: 24, customSyncParams: GOOD, nextRefreshAt: '-1 minute' });
  childId = await registerTestTable(pool, { tableName: 'ts_child', refreshFrequencyHours: 12, customSyncParams: source('SELECT id, v FROM sqp.ts_parent'), nextRefreshAt: '6 hours' });
  await addRefreshDependency(pool, { parent: { tableSchema: 'sqp', tableName: 'ts_parent' }, dependent: { tableSchema: 'sqp', tableName: 'ts_child' }, dependencyType: 'hard' });
  await gate.connect();
  base = (await app.start(0)).replace(/\/graphql$/, '');
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox', '--disable-gpu', '--no-first-run'] });
  page = await browser.newPage();
});

afterAll(async () => {
  await browser?.close();
  await runner.stop();
  await app.stop();
  await gate.end();
  await db.close();
  await pool.end();
  await database.drop();
});

const Health = graphql(`
  query TableStates {
    tableHealth { table state reasons late freshnessSlaHours latestRun { databaseId status } }
    runnerStatus { queueDepth }
    refreshPlan(hours: 24) { items { table state notes } }
  }
`);

type Pair = { parent: string; child: string };
const pair = (states: Map<string, string>): Pair => ({ parent: states.get(PARENT) ?? 'absent', child: states.get(CHILD) ?? 'absent' });

/** tableHealth over GraphQL, lower-cased like every other surface. */
async function graphStates() {
  const { data, errors } = await execute(`${base}/graphql`, Health);
  expect(errors).toBeUndefined();
  const byTable = new Map(data!.tableHealth.map((h) => [h.table, h]));
  const plan = new Map(data!.refreshPlan.items.map((i) => [i.table, i]));
  return { states: pair(new Map(data!.tableHealth.map((h) => [h.table, h.state.toLowerCase()]))), byTable, plan, queueDepth: data!.runnerStatus.queueDepth };
}

async function cliStates() {
  const { code, stdout, stderr } = await runCli(['status', '--json'], { DATABASE_URL: database.url });
  expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
  const tables = (JSON.parse(stdout) as { tables: Array<{ table: string; state: string; late: boolean; latestRun: { id: number; status: string } | null }> }).tables;
  return { states: pair(new Map(tables.map((t) => [t.table, t.state]))), byTable: new Map(tables.map((t) => [t.table, t])) };
}

/** The samples of one metric, by `schema.table` (and state, for sqp_refresh_table_state). */
async function scrape(): Promise<string> {
  const res = await fetch(`${base}/metrics`);
  expect(res.status).toBe(200);
  return res.text();
}

function samples(text: string, name: string): Map<string, { state?: string; value: number }> {
  const out = new Map<string, { state?: string; value: number }>();
  const line = new RegExp(`^${name}\\{table_schema="([^"]+)",table_name="([^"]+)"(?:,state="([^"]+)")?\\} (\\S+)$`, 'gm');
  for (const m of text.matchAll(line)) out.set(`${m[1]}.${m[2]}`, { state: m[3], value: Number(m[4]) });
  return out;
}

async function metricStates() {
  const text = await scrape();
  const state = samples(text, 'sqp_refresh_table_state');
  return { states: pair(new Map([...state].map(([t, s]) => [t, s.state!]))), text };
}

async function pageStates(): Promise<Pair> {
  await page.goto(`${base}/`);
  const shown = async (table: string) => {
    const row = page.locator(`tbody tr[data-table="${table}"]`);
    await row.waitFor();
    return (await row.getAttribute('data-state'))!.toLowerCase();
  };
  return { parent: await shown(PARENT), child: await shown(CHILD) };
}

/** Every surface's view of both tables; each must be `expected`. */
async function expectEverywhere(expected: Pair) {
  const [graph, cli, metric, shown] = await Promise.all([graphStates(), cliStates(), metricStates(), pageStates()]);
  expect({ graph: graph.states, cli: cli.states, metrics: metric.states, page: shown }).toEqual({ graph: expected, cli: expected, metrics: expected, page: expected });
  return { graph, cli, metric };
}

const finished = (table: string) => (e: RefreshEvent) => e.type === 'run:finished' && `${e.tableSchema}.${e.tableName}` === table;
const started = (table: string) => (e: RefreshEvent) => e.type === 'run:started' && `${e.tableSchema}.${e.tableName}` === table;
const count = (predicate: (e: RefreshEvent) => boolean) => events.events.filter(predicate).length;
const ctx = () => ({ pool, dailyByteBudget: null, requestedBy: 'table-state test', now: clock });
const setParams = (id: number, params: object) => updateRefreshConfig(pool, id, { customSyncParams: params });

describe('one table state, read by everyone', () => {
  it('due: the parent is due, its dependent waits for its time', async () => {
    const { graph } = await expectEverywhere({ parent: 'due', child: 'scheduled' });
    expect(graph.queueDepth).toBe(1);
  }, STEP_MS);

  it('late: both succeed three days ago (the runner\'s clock), past their SLAs', async () => {
    offset = -3 * DAY;
    try {
      await scheduleRefresh(ctx(), { tableSchema: 'sqp', tableName: 'ts_parent', at: clock() });
      const n = count(finished(CHILD));
      await runner.tick(); // the parent, then its dependent by cascade
      expect(await events.nth(n + 1, finished(CHILD))).toMatchObject({ status: 'success' });
    } finally {
      offset = 0;
    }
    const { graph, cli, metric } = await expectEverywhere({ parent: 'late', child: 'late' });
    expect(graph.byTable.get(PARENT)).toMatchObject({ late: true, freshnessSlaHours: 48, reasons: [expect.stringMatching(/^late: no successful refresh within its freshness SLA of 48 h \(latest success at /)] });
    expect(graph.byTable.get(CHILD)).toMatchObject({ late: true, freshnessSlaHours: 24 });
    expect(cli.byTable.get(PARENT)!.late).toBe(true);
    const lastSuccess = samples(metric.text, 'sqp_refresh_table_last_success_timestamp_seconds').get(PARENT)!.value;
    expect(Math.abs(lastSuccess - (Date.now() - 3 * DAY) / 1000)).toBeLessThan(600);
    expect(samples(metric.text, 'sqp_refresh_table_freshness_sla_seconds').get(PARENT)!.value).toBe(48 * 3600);
    expect(samples(metric.text, 'sqp_refresh_table_late').get(PARENT)!.value).toBe(1);
    expect(samples(metric.text, 'sqp_refresh_table_late').get(CHILD)!.value).toBe(1);
  }, STEP_MS);

  it('running: the parent runs (its lock held), the due dependent waits for it; then both succeed, on time again', async () => {
    await setParams(parentId, GATED);
    await gate.query(`SELECT pg_advisory_lock(${GATE})`);
    const n = count(started(PARENT));
    const pass = runner.tick();
    try {
      await events.nth(n + 1, started(PARENT), 30_000, 'the parent\'s run to start');
      const { graph, cli } = await expectEverywhere({ parent: 'running', child: 'blocked' });
      expect(graph.byTable.get(PARENT)!.latestRun?.status).toBe('RUNNING');
      expect(cli.byTable.get(PARENT)!.latestRun?.status).toBe('running');
      expect(graph.byTable.get(CHILD)!.reasons[0]).toBe('waits for sqp.ts_parent: it is running');
      expect(graph.queueDepth).toBe(0);
    } finally {
      await gate.query(`SELECT pg_advisory_unlock(${GATE})`);
    }
    await pass;
    const { metric } = await expectEverywhere({ parent: 'scheduled', child: 'scheduled' });
    // The freshness gauges moved: a success now, not late any more.
    const lastSuccess = samples(metric.text, 'sqp_refresh_table_last_success_timestamp_seconds').get(PARENT)!.value;
    expect(Math.abs(lastSuccess - Date.now() / 1000)).toBeLessThan(120);
    expect(samples(metric.text, 'sqp_refresh_table_late').get(PARENT)!.value).toBe(0);
  }, STEP_MS);

  it('failed: a run that fails for good makes the parent FAILED and its dependent BLOCKED, with why', async () => {
    await setParams(parentId, BROKEN);
    await scheduleRefresh(ctx(), { tableSchema: 'sqp', tableName: 'ts_parent', at: clock() });
    const n = count(finished(PARENT));
    await runner.tick();
    expect(await events.nth(n + 1, finished(PARENT))).toMatchObject({ status: 'failed' });
    const { graph } = await expectEverywhere({ parent: 'failed', child: 'blocked' });
    expect(graph.byTable.get(PARENT)!.reasons[0]).toMatch(/^its latest refresh failed \(run \d+\): its error is not one a retry fixes; next regular refresh at /);
    expect(graph.byTable.get(CHILD)!.reasons).toEqual(['blocked by sqp.ts_parent: its latest refresh failed']);
    // refreshPlan says the same of the dependent's next refresh (in about 12 hours).
    expect(graph.plan.get(CHILD)).toMatchObject({ state: 'BLOCKED', notes: ['blocked by sqp.ts_parent: its latest refresh failed'] });
  }, STEP_MS);

  it('retrying: a retryable failure makes the parent RETRYING; its retry comes before the dependent\'s time', async () => {
    await setParams(parentId, FLAKY);
    await scheduleRefresh(ctx(), { tableSchema: 'sqp', tableName: 'ts_parent', at: clock() });
    const n = count(finished(PARENT));
    await runner.tick();
    expect(await events.nth(n + 1, finished(PARENT))).toMatchObject({ status: 'failed' });
    const { graph } = await expectEverywhere({ parent: 'retrying', child: 'scheduled' });
    expect(graph.byTable.get(PARENT)!.reasons[0]).toMatch(/^failed 2 time\(s\) in a row; next attempt /);
  }, STEP_MS);

  it('blocked: the retries used up, the due dependent is blocked by the runner too (run:blocked)', async () => {
    await scheduleRefresh(ctx(), { tableSchema: 'sqp', tableName: 'ts_child', at: clock() });
    const n = count(finished(PARENT));
    const blocked = count((e) => e.type === 'run:blocked');
    await runner.tick();
    expect(await events.nth(n + 1, finished(PARENT))).toMatchObject({ status: 'failed' });
    expect(await events.nth(blocked + 1, (e) => e.type === 'run:blocked')).toMatchObject({ tableName: 'ts_child', reasons: ['blocked by sqp.ts_parent: its latest refresh failed'] });
    const { graph } = await expectEverywhere({ parent: 'failed', child: 'blocked' });
    expect(graph.byTable.get(PARENT)!.reasons[0]).toMatch(/\(3 times in a row\): its retries are used up/);
  }, STEP_MS);

  it('disabled: the failed parent switched off is DISABLED (never late); its dependent stays BLOCKED', async () => {
    await updateRefreshConfig(pool, parentId, { isEnabled: false });
    const { graph, metric } = await expectEverywhere({ parent: 'disabled', child: 'blocked' });
    expect(graph.byTable.get(PARENT)!.late).toBe(false);
    expect(samples(metric.text, 'sqp_refresh_table_late').get(PARENT)!.value).toBe(0);
    await updateRefreshConfig(pool, parentId, { isEnabled: true });
  }, STEP_MS);

  it('interrupted: a run whose process is SIGKILLed is INTERRUPTED everywhere, its row too', async () => {
    await setParams(parentId, GATED);
    await gate.query(`SELECT pg_advisory_lock(${GATE})`);
    const { rows: [before] } = await pool.query<{ id: number }>(`SELECT coalesce(max(id), 0) AS id FROM sqp.refresh_audit_log`);
    const child = spawn(process.execPath, ['bin/sqp-refresh.js', 'run', PARENT], {
      cwd: root,
      env: { ...process.env, DATABASE_URL: database.url, LOG_LEVEL: 'silent', BIGQUERY_PROJECT_ID: 'unused-here' },
      stdio: 'ignore',
    });
    const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve(signal ?? code)));
    try {
      // Another process's row: no event reaches this one. Its run waits on the gate once started.
      await until(pool, `SELECT count(*)::int AS n FROM sqp_refresh_work.live_run WHERE config_id = ${parentId} AND run_id > ${before!.id}`, (r) => r.n === 1);
      child.kill('SIGKILL');
      expect(await exited).toBe('SIGKILL');
      // PostgreSQL notices the closed connection and frees the dead run's table lock.
      await until(pool, `SELECT count(*)::int AS n FROM sqp_refresh_work.live_run WHERE config_id = ${parentId}`, (r) => r.n === 0);
    } finally {
      child.kill('SIGKILL');
      await gate.query(`SELECT pg_advisory_unlock(${GATE})`);
    }
    // The dependent: due, and no longer blocked — the interrupted parent is recovered and runs first.
    const { graph, cli } = await expectEverywhere({ parent: 'interrupted', child: 'due' });
    expect(graph.byTable.get(PARENT)!.reasons[0]).toMatch(/says running but no process holds the table's lock/);
    expect(graph.byTable.get(PARENT)!.latestRun?.status).toBe('INTERRUPTED');
    expect(cli.byTable.get(PARENT)!.latestRun?.status).toBe('interrupted');
    expect(graph.queueDepth).toBe(2); // the interrupted parent (recovered, then run) and the due dependent
  }, STEP_MS);
});

describe('the freshness gauges', () => {
  it('move as a table succeeds and goes late: a scrape past its SLA says late', async () => {
    let scrapeOffset = 0;
    const scraped = createRefreshMetrics({ pool, logger, defaultMetrics: false, now: () => Date.now() + scrapeOffset });
    const read = async () => {
      const text = await scraped.registry.metrics();
      const of = (name: string) => samples(text, name).get('sqp.ts_solo')?.value;
      return { late: of('sqp_refresh_table_late'), last: of('sqp_refresh_table_last_success_timestamp_seconds'), sla: of('sqp_refresh_table_freshness_sla_seconds') };
    };
    await pool.query(`CREATE TABLE sqp.ts_solo (id int PRIMARY KEY, v int)`);
    await registerTestTable(pool, { tableName: 'ts_solo', refreshFrequencyHours: 6, customSyncParams: GOOD, nextRefreshAt: '-1 minute' });
    // Never refreshed, registered just now: no success to show, not late yet.
    expect(await read()).toEqual({ late: 0, last: undefined, sla: 12 * 3600 });
    const n = count(finished('sqp.ts_solo'));
    await runner.tick();
    expect(await events.nth(n + 1, finished('sqp.ts_solo'))).toMatchObject({ status: 'success' });
    const fresh = await read();
    expect(fresh.late).toBe(0);
    expect(Math.abs(fresh.last! - Date.now() / 1000)).toBeLessThan(120);
    scrapeOffset = 13 * 3_600_000; // past its SLA: twice its 6 h
    expect(await read()).toEqual({ ...fresh, late: 1 });
  });
});
