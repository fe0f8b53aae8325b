// refreshPlan(hours) over HTTP: order, reasons, blocking and cycles as the planner says.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startTestApp, type TestApp } from './support/app.ts';
import { createTestDatabase, openTestPool } from './support/db.ts';
import { execute, executeRaw } from './support/graphql.ts';
import { graphql } from './generated/index.ts';

const database = await createTestDatabase();
let server: TestApp;
const sql = openTestPool(database.url, 2);

beforeAll(async () => {
  // The seed's graph: asin_performance_data is due now and its latest run failed (not
  // retryable, so it is not planned again) → its three hard dependents are blocked.
  // (Every table has sync params: one without is never run, so never planned — last test.)
  await sql.query(`
    UPDATE sqp.refresh_config SET custom_sync_params = '{"source": {"type": "postgres", "query": "SELECT 1 AS id"}, "key": ["id"]}';
    UPDATE sqp.refresh_config SET next_refresh_at = now() + interval '30 days';
    UPDATE sqp.refresh_config SET next_refresh_at = now() - interval '1 hour' WHERE table_name IN ('weekly_summary', 'daily_sqp_data');
    INSERT INTO sqp.refresh_audit_log (refresh_config_id, table_schema, table_name, refresh_started_at, refresh_completed_at, status, error_details)
    SELECT id, table_schema, table_name, now() - interval '2 hours', now() - interval '2 hours', 'failed', '{"retryable": false}'
    FROM sqp.refresh_config WHERE table_name = 'asin_performance_data';
  `);
  server = await startTestApp(database.url);
});
afterAll(async () => {
  await server?.stop();
  await sql.end();
  await database.drop();
});

const PlanQuery = graphql(`
  query Plan($hours: Int!) {
    refreshPlan(hours: $hours) {
      horizonHours
      total
      items { position table reason state notes cascadeFrom configId }
      cycles { tables }
    }
  }
`);

it('lists what will run, in order, with reasons, and blocks dependents of a failed parent', async () => {
  const { data, errors } = await execute(server.url, PlanQuery, { hours: 2 });
  expect(errors).toBeUndefined();
  const plan = data!.refreshPlan;
  expect(plan.horizonHours).toBe(2);
  expect(plan.items.map((i) => [i.position, i.table, i.reason, i.state])).toEqual([
    [1, 'sqp.daily_sqp_data', 'DUE', 'READY'],
    [2, 'sqp.weekly_summary', 'DUE', 'BLOCKED'],
  ]);
  expect(plan.items[1]!.notes).toEqual(['blocked by sqp.asin_performance_data: its latest refresh failed']);
  expect(plan.cycles).toEqual([]);
  const node = await executeRaw(server.url, `query ($id: ID!) { node(id: $id) { ... on RefreshConfig { tableName } } }`, { id: plan.items[0]!.configId });
  expect(node.body.data).toEqual({ node: { tableName: 'daily_sqp_data' } });
});

it('a parent due within the horizon brings its dependents along as cascades', async () => {
  await sql.query(`UPDATE sqp.refresh_config SET next_refresh_at = now() + interval '3 hours' WHERE table_name = 'asin_performance_data'`);
  const { data } = await execute(server.url, PlanQuery, { hours: 6 });
  const items = data!.refreshPlan.items.filter((i) => i.reason === 'CASCADE');
  expect(items.map((i) => [i.table, i.cascadeFrom]).sort()).toEqual([
    ['sqp.monthly_summary', 'sqp.asin_performance_data'],
    ['sqp.search_performance_summary', 'sqp.asin_performance_data'],
  ]);
});

it('leaves out a table without sync params, as every runner does (tableHealth: UNCONFIGURED)', async () => {
  await sql.query(`UPDATE sqp.refresh_config SET custom_sync_params = '{}', next_refresh_at = now() - interval '1 hour' WHERE table_name = 'daily_sqp_data'`);
  const { data } = await execute(server.url, PlanQuery, { hours: 2 });
  expect(data!.refreshPlan.items.map((i) => i.table)).not.toContain('sqp.daily_sqp_data');
});

it('refuses a negative or too long horizon with an error naming the argument', async () => {
  const res = await executeRaw(server.url, 'query { refreshPlan(hours: -1) { total } }');
  expect(res.body.errors?.[0]?.message).toMatch(/hours/);
});
