// When a table is due: one rule (src/runner/state/due.ts), read by the runner's queue and by
// the graph's `refreshConfigs(filter: { due })`. Each way a table can fail to be due is set up
// once, and the two readers must name exactly the same tables.
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { selectDue } from '../src/runner/scheduler/sql.ts';
import { startTestApp, type TestApp } from './support/app.ts';
import { createTestDatabase } from './support/db.ts';
import { execute } from './support/graphql.ts';
import { registerTestTable } from './support/refresh.ts';
import { graphql } from './generated/index.ts';

const database = await createTestDatabase();
let pool: pg.Pool;
let server: TestApp;
const PARAMS = { source: { type: 'postgres', query: 'SELECT 1 AS id' }, keyColumns: ['id'] };

const DueQuery = graphql(`
  query DueTables($due: Boolean!) {
    refreshConfigs(first: 100, filter: { due: $due, search: "due_case_" }) { edges { node { tableName } } }
  }
`);

beforeAll(async () => {
  pool = new pg.Pool({ connectionString: database.url, max: 2 });
  const cases: Array<[string, Parameters<typeof registerTestTable>[1]]> = [
    ['overdue', { tableName: 'overdue', nextRefreshAt: '-1 hour', customSyncParams: PARAMS }],
    ['later', { tableName: 'later', nextRefreshAt: '1 hour', customSyncParams: PARAMS }],
    ['disabled', { tableName: 'disabled', nextRefreshAt: '-1 hour', customSyncParams: PARAMS, isEnabled: false }],
    // Past due, but nothing says where its rows come from: the runner never takes it.
    ['unconfigured', { tableName: 'unconfigured', nextRefreshAt: '-1 hour' }],
  ];
  for (const [name, table] of cases) {
    await pool.query(`CREATE TABLE sqp.due_case_${name} (id int PRIMARY KEY)`);
    await registerTestTable(pool, { ...table, tableName: `due_case_${name}` });
  }
  server = await startTestApp(database.url);
});

afterAll(async () => {
  await server?.stop();
  await pool?.end();
  await database.drop();
});

it('the graph and the runner name the same due tables, and the graph the rest as not due', async () => {
  const names = async (due: boolean) => {
    const { data, errors } = await execute(server.url, DueQuery, { due });
    expect(errors).toBeUndefined();
    return data!.refreshConfigs.edges.map((e) => e.node.tableName).sort();
  };
  const runner = (await selectDue(pool, new Date(), [])).map((c) => c.tableName).filter((name) => name.startsWith('due_case_'));
  expect(runner).toEqual(['due_case_overdue']);
  expect(await names(true)).toEqual(runner);
  expect(await names(false)).toEqual(['due_case_disabled', 'due_case_later', 'due_case_unconfigured']);
});
