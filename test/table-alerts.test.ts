// Someone is told, by the runner, once per episode: a table that fails for good (TABLE_FAILED,
// written with the schedule that gives up on it), its hard dependent blocked by it (TABLE_BLOCKED),
// its next success (TABLE_RECOVERED, written with the success), and tables past their freshness SLA
// (TABLE_LATE) — each delivered signed to a real HTTP receiver, none told twice while it lasts.
import { createHmac } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createAlertDestination } from '../src/alerts/destinations.ts';
import { addRefreshDependency, updateRefreshConfig } from '../src/commands/config.ts';
import { forceRefresh } from '../src/commands/refresh.ts';
import { createLogger } from '../src/logger.ts';
import type { Runner } from '../src/runner/scheduler/runner.ts';
import { createDatabaseListener, type DatabaseListener } from '../src/subscriptions/listener.ts';
import { startTestDelivery } from './support/alerts.ts';
import { createTestDatabase, openTestPool } from './support/db.ts';
import { buildTestRunner, registerTestTable } from './support/refresh.ts';
import { startWebhookReceiver, type ReceivedRequest, type WebhookReceiver } from './support/webhook-receiver.ts';

const database = await createTestDatabase();
const pool = openTestPool(database.url, 6);
const SECRET = 'whsec-table-alerts-0123456789';
const HOUR = 3_600_000;
let clock = new Date();
let runner: Runner;
let receiver: WebhookReceiver;
let delivery: ReturnType<typeof startTestDelivery>['delivery'];
let parentId: number;
let listener: DatabaseListener;

const params = (query: string) => ({ source: { type: 'postgres', query }, keyColumns: ['id'], mode: 'full' });
const kindOf = (r: ReceivedRequest) => (JSON.parse(r.body) as { kind: string }).kind;
const told = (kind: string, table: string) => (r: ReceivedRequest) => {
  const body = JSON.parse(r.body) as { kind: string; table: { name: string } };
  return body.kind === kind && body.table.name === table;
};
const force = (tableName: string) =>
  forceRefresh({ pool, dailyByteBudget: null, requestedBy: 'alerts-test', waitMs: 0 }, { tableSchema: 'sqp', tableName, cascade: true, mode: null, dryRun: false });
const alertCount = async (kind: string) =>
  Number((await pool.query(`SELECT count(*) FROM sqp_refresh_work.alerts WHERE kind = $1`, [kind])).rows[0].count);

beforeAll(async () => {
  await pool.query(`UPDATE sqp.refresh_config SET is_enabled = false`); // only this file's tables run
  await pool.query(`CREATE TABLE sqp.al_parent (id int PRIMARY KEY, v text); CREATE TABLE sqp.al_child (id int PRIMARY KEY, v text)`);
  // The parent's query returns a column its target lacks: an error no retry fixes.
  parentId = await registerTestTable(pool, { tableName: 'al_parent', nextRefreshAt: '-1 minute', customSyncParams: params(`SELECT 1 AS id, 'x' AS v, 2 AS not_in_target`) });
  await registerTestTable(pool, { tableName: 'al_child', nextRefreshAt: '-1 minute', customSyncParams: params('SELECT id, v FROM sqp.al_parent') });
  await addRefreshDependency(pool, { parent: { tableSchema: 'sqp', tableName: 'al_parent' }, dependent: { tableSchema: 'sqp', tableName: 'al_child' }, dependencyType: 'hard' });
  receiver = await startWebhookReceiver(() => 200);
  await createAlertDestination(pool, { name: 'on-call', url: receiver.url, secret: SECRET });
  const logger = createLogger({ level: 'silent', pretty: false });
  listener = createDatabaseListener({ url: database.url, logger });
  await listener.start();
  ({ delivery } = startTestDelivery({ pool, logger, listener }));
  await delivery.start();
  runner = buildTestRunner(pool, database.url, { now: () => clock });
});

afterAll(async () => {
  await runner?.stop();
  await delivery?.stop();
  await listener?.stop();
  await receiver?.close();
  await pool.end();
  await database.drop();
});

it('tells a final failure and the dependent it blocks, once each while they last', async () => {
  await runner.tick();
  const failed = await receiver.requests.next(told('TABLE_FAILED', 'al_parent'), 20_000, 'TABLE_FAILED for al_parent');
  const body = JSON.parse(failed.body) as { reason: string; runId: number };
  expect(body.reason).toMatch(/not_in_target/);
  expect(failed.headers['x-sqp-refresh-signature']).toBe(`sha256=${createHmac('sha256', SECRET).update(failed.body).digest('hex')}`);
  await receiver.requests.next(told('TABLE_BLOCKED', 'al_child'), 20_000, 'TABLE_BLOCKED for al_child');

  // It fails again at its next slot (forced here): the failure is told already.
  clock = new Date(clock.getTime() + 60_000);
  await force('al_parent');
  await runner.tick();
  const runs = await pool.query(`SELECT count(*)::int AS n FROM sqp.refresh_audit_log WHERE refresh_config_id = $1 AND status = 'failed'`, [parentId]);
  expect(runs.rows[0].n).toBe(2);
  expect(await alertCount('table_failed')).toBe(1);
  expect(await alertCount('table_blocked')).toBe(1);
});

it('tells the recovery with the success, then tables that go late, and only then', async () => {
  await pool.query(`CREATE TABLE public.al_source AS SELECT g AS id, 'v' || g AS v FROM generate_series(1, 5) g`);
  await pool.query(`GRANT SELECT ON public.al_source TO sqp_refresh_source`);
  await updateRefreshConfig(pool, parentId, { customSyncParams: params('SELECT id, v FROM public.al_source') });
  await force('al_parent');
  await runner.tick();
  await receiver.requests.next(told('TABLE_RECOVERED', 'al_parent'), 20_000, 'TABLE_RECOVERED for al_parent');
  expect((await pool.query(`SELECT count(*)::int AS n FROM sqp.al_child`)).rows[0].n).toBe(5); // the dependent ran after it
  expect(await alertCount('table_late')).toBe(0);

  // Their freshness SLA is an hour, their next refresh a day away: two hours on, both are late.
  const childId = (await pool.query(`SELECT id FROM sqp.refresh_config WHERE table_name = 'al_child'`)).rows[0].id as number;
  for (const id of [parentId, childId]) await updateRefreshConfig(pool, id, { freshnessSlaHours: 1 });
  clock = new Date(clock.getTime() + 2 * HOUR);
  await runner.tick();
  await receiver.requests.next(told('TABLE_LATE', 'al_parent'), 20_000, 'TABLE_LATE for al_parent');
  await receiver.requests.next(told('TABLE_LATE', 'al_child'), 20_000, 'TABLE_LATE for al_child');
  clock = new Date(clock.getTime() + 60_000);
  await runner.tick();
  expect(await alertCount('table_late')).toBe(2);
  // Every alert arrived once (deduplicated by event id), in the order the states changed.
  expect(receiver.acceptedEventIds().size).toBe(receiver.requests.events.length);
  expect(receiver.requests.events.map(kindOf)).toEqual(['TABLE_FAILED', 'TABLE_BLOCKED', 'TABLE_RECOVERED', 'TABLE_LATE', 'TABLE_LATE']);
});
