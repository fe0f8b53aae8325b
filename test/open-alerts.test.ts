// Open alerts, in the graph (openAlerts) and on the status page in Chromium: a table (oa_parent)
// fails for good through the runner, which opens TABLE_FAILED, and TABLE_BLOCKED for its hard
// dependent (oa_child); its recovery closes both; past its freshness SLA it opens TABLE_LATE, and
// its next success closes that. At each step the graph lists exactly the open ones, and the page
// shows them and then "No open alerts".
//
// The runner is this process's (it moves only when the test ticks it), its clock injected: late
// comes from moving that clock two hours on, not from waiting. The page learns of a close from
// the runs' RunFinished events (a recovery is written with the success); an alert written after a
// run's end (a final failure's, with its schedule; a late or blocked table's, after a pass) comes
// with the page's minute re-read, which the test brings on with Chromium's clock, not a sleep.
// The page with two open alerts is saved as test/artifacts/status-page-alerts.png.
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createAlertDestination } from '../src/alerts/destinations.ts';
import { addRefreshDependency, updateRefreshConfig } from '../src/commands/config.ts';
import { loadConfig } from '../src/config.ts';
import { openDatabase } from '../src/db.ts';
import { statusPageRoutes } from '../src/http/status-page/routes.ts';
import { createLogger } from '../src/logger.ts';
import { createRuntime } from '../src/runtime.ts';
import { buildApp } from '../src/server.ts';
import { createEventBus } from '../src/subscriptions/bus.ts';
import { createEventStreams } from '../src/subscriptions/streams.ts';
import type { RefreshEvent } from '../src/subscriptions/events.ts';
import { startTestApp } from './support/app.ts';
import { createTestDatabase, openTestPool } from './support/db.ts';
import { logged, recordEvents } from './support/events.ts';
import { execute } from './support/graphql.ts';
import { buildTestRunner, registerTestTable } from './support/refresh.ts';
import { graphql } from './generated/index.ts';

const HOUR = 3_600_000;
const ARTIFACTS = path.resolve(import.meta.dirname, 'artifacts');
/** Each step ticks the runner, reads the graph and waits on Chromium: more than the default under load. */
const STEP_MS = 120_000;

const logger = createLogger({ level: process.env.TEST_LOG ?? 'silent', pretty: false });
const database = await createTestDatabase();
const pool = openTestPool(database.url, 6);
const bus = createEventBus();
const events = recordEvents<RefreshEvent>((listener) => bus.subscribe(listener));
/** The runner's clock: real time plus this offset. */
let offset = 0;
const runner = buildTestRunner(pool, database.url, { logger, workerName: 'open-alerts', now: () => new Date(Date.now() + offset), emit: (e) => bus.publish(logged(e)) });
const db = openDatabase(database.url);
const config = loadConfig({ DATABASE_URL: database.url, LOG_LEVEL: 'silent', ANONYMOUS_ACCESS: 'read' });
// The status page subscribes to refreshEvents: the bus's events, over this database's log.
const runtime = createRuntime({ runner, bus });
runtime.events = createEventStreams({ bus, pool: db.pool, subscribers: runtime.subscribers });
const app = buildApp({ graphql: config.graphql, auth: config.auth, logger, routes: statusPageRoutes(), services: { db, runtime } });
let base = '';
let browser: Browser;
let page: Page;
const problems: string[] = [];
let parentId = 0;

const source = (query: string) => ({ source: { type: 'postgres', query }, pageSize: 100 });
/** 42P01: no retry fixes it, so the runner gives up at once. */
const BROKEN = source('SELECT id, v FROM src.no_such_table');
const GOOD = source('SELECT id, v FROM src.p');

beforeAll(async () => {
  await pool.query(`UPDATE sqp.refresh_config SET is_enabled = false`); // only this file's tables run
  await pool.query(`CREATE SCHEMA src; CREATE TABLE src.p AS SELECT g AS id, g * 2 AS v FROM generate_series(1, 20) g`);
  await pool.query(`CREATE TABLE sqp.oa_parent (id int PRIMARY KEY, v int); CREATE TABLE sqp.oa_child (id int PRIMARY KEY, v int)`);
  parentId = await registerTestTable(pool, { tableName: 'oa_parent', refreshFrequencyHours: 24, customSyncParams: BROKEN, nextRefreshAt: '-1 minute' });
  await registerTestTable(pool, { tableName: 'oa_child', refreshFrequencyHours: 24, customSyncParams: source('SELECT id, v FROM sqp.oa_parent'), nextRefreshAt: '-1 minute' });
  await addRefreshDependency(pool, { parent: { tableSchema: 'sqp', tableName: 'oa_parent' }, dependent: { tableSchema: 'sqp', tableName: 'oa_child' }, dependencyType: 'hard' });
  // A destination nobody delivers to here (no delivery worker runs): each alert's delivery stays pending.
  await createAlertDestination(pool, { name: 'on-call', url: 'http://127.0.0.1:9/never-called', secret: 'whsec-open-alerts-0123456789' });
  base = (await app.start(0)).replace(/\/graphql$/, '');
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox', '--disable-gpu', '--no-first-run'] });
  page = await browser.newPage();
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  page.on('console', (message) => message.type() === 'error' && problems.push(`console: ${message.text()}`));
  await page.clock.install(); // time flows as usual; fastForward brings the minute re-read on
  await page.goto(`${base}/`);
  await page.locator('tbody tr[data-table="sqp.oa_child"]').waitFor();
  await page.locator('#connection.live').waitFor();
}, STEP_MS);

afterAll(async () => {
  await browser?.close();
  await runner.stop();
  await app.stop();
  await db.close();
  await pool.end();
  await database.drop();
});

const OpenAlerts = graphql(`
  query OpenAlertsNow {
    openAlerts {
      kind table tableSchema tableName since reason
      run { databaseId status }
      config { tableName }
      alert { eventId occurredAt }
      deliveries { pending delivered abandoned total }
    }
  }
`);

async function openAlerts(url = `${base}/graphql`) {
  const { data, errors } = await execute(url, OpenAlerts);
  expect(errors).toBeUndefined();
  return data!.openAlerts;
}

const item = (kind: string, table: string) => page.locator(`#alerts li[data-kind="${kind}"][data-table="${table}"]`);
const noneOpen = () => page.locator('#alerts li[data-empty]', { hasText: 'No open alerts' });
/** The page's once-a-minute re-read, now. */
const minutePasses = () => page.clock.fastForward(61_000);
/** Makes a table due by the database's clock (the runner's is at or ahead of it). */
const due = (tableName: string) => registerTestTable(pool, { tableName, nextRefreshAt: '-1 minute' });

it('shows no open alerts at first', async () => {
  expect(await openAlerts()).toEqual([]);
  await noneOpen().waitFor();
  expect(await page.locator('#alerts-section h2').textContent()).toBe('Open alerts');
});

it('a final failure opens TABLE_FAILED, and TABLE_BLOCKED for its hard dependent', async () => {
  await runner.tick();
  const failedRun = await events.next((e) => e.type === 'run:finished' && e.tableName === 'oa_parent' && e.status === 'failed', 10_000, 'the failed run');
  const open = await openAlerts();
  expect(open.map((a) => [a.kind, a.table])).toEqual([['TABLE_BLOCKED', 'sqp.oa_child'], ['TABLE_FAILED', 'sqp.oa_parent']]);
  const [blocked, failed] = open;
  expect(failed).toMatchObject({
    tableSchema: 'sqp',
    tableName: 'oa_parent',
    reason: expect.stringMatching(/no_such_table/),
    run: { status: 'FAILED' },
    config: { tableName: 'oa_parent' },
    deliveries: { pending: 1, delivered: 0, abandoned: 0, total: 1 },
  });
  expect(failed!.run!.databaseId).toBe((failedRun as { runId: number }).runId);
  expect(failed!.since).toBe(failed!.alert!.occurredAt);
  expect(blocked).toMatchObject({ run: null, reason: expect.stringMatching(/sqp\.oa_parent.*its latest refresh failed/) });

  // No N+1: the open alerts, then one statement per relation asked for (Prisma batches the
  // findUnique calls of a tick), however many alerts. Counted on a server of its own: the page
  // reads through this file's server at any moment.
  const counted = await startTestApp(database.url);
  try {
    counted.statements.length = 0;
    expect(await openAlerts(counted.url)).toEqual(open);
    expect(counted.statements, counted.statements.join('\n')).toHaveLength(4);
  } finally {
    await counted.stop();
  }

  await minutePasses();
  await item('TABLE_FAILED', 'sqp.oa_parent').waitFor();
  await item('TABLE_BLOCKED', 'sqp.oa_child').waitFor();
  await expect(item('TABLE_FAILED', 'sqp.oa_parent').locator('.badge').textContent()).resolves.toBe('failed');
  await expect(item('TABLE_FAILED', 'sqp.oa_parent').locator('.alert-reason').textContent()).resolves.toMatch(/no_such_table/);
  await expect(item('TABLE_FAILED', 'sqp.oa_parent').locator('time').getAttribute('datetime')).resolves.toBe(failed!.since);
  await expect(item('TABLE_BLOCKED', 'sqp.oa_child').locator('.alert-reason').textContent()).resolves.toMatch(/its latest refresh failed/);
  expect(await noneOpen().count()).toBe(0);
  await mkdir(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: path.join(ARTIFACTS, 'status-page-alerts.png'), fullPage: true });
}, STEP_MS);

it('its recovery closes both: the page follows the runs that end them', async () => {
  await updateRefreshConfig(pool, parentId, { customSyncParams: GOOD });
  await due('oa_parent');
  await runner.tick();
  await events.next((e) => e.type === 'run:finished' && e.tableName === 'oa_child' && e.status === 'success', 10_000, 'the dependent refreshed');
  expect(await openAlerts()).toEqual([]);
  await noneOpen().waitFor();
  expect(await page.locator('#alerts li[data-kind]').count()).toBe(0);
}, STEP_MS);

it('past its freshness SLA it opens TABLE_LATE, and its next success closes it', async () => {
  await updateRefreshConfig(pool, parentId, { freshnessSlaHours: 1 });
  offset += 2 * HOUR;
  await runner.tick();
  const open = await openAlerts();
  expect(open.map((a) => [a.kind, a.table])).toEqual([['TABLE_LATE', 'sqp.oa_parent']]);
  expect(open[0]).toMatchObject({ run: null, reason: expect.stringMatching(/freshness SLA of 1 h/) });
  await minutePasses();
  await item('TABLE_LATE', 'sqp.oa_parent').waitFor();
  await expect(item('TABLE_LATE', 'sqp.oa_parent').locator('.badge').textContent()).resolves.toBe('late');

  await due('oa_parent');
  await runner.tick();
  await events.next((e) => e.type === 'run:finished' && e.tableName === 'oa_child' && e.status === 'success' && Date.parse(e.at) > Date.now() + HOUR, 10_000, 'the cascade after the next success');
  expect(await openAlerts()).toEqual([]);
  await noneOpen().waitFor();
  // The episodes stay in the log: every alert once.
  const { rows } = await pool.query<{ kind: string }>(`SELECT kind FROM sqp_refresh_work.alerts ORDER BY id`);
  expect(rows.map((r) => r.kind)).toEqual(['table_failed', 'table_blocked', 'table_recovered', 'table_late']);
  expect(problems).toEqual([]);
}, STEP_MS);
