// Only user tables can be registered: over real HTTP, registerTable refuses PostgreSQL's
// catalogs, sqp-refresh's own schemas (working tables, demo source), the refresh system's own
// tables and tables of any schema but the data schema, with a typed error naming the field,
// and writes nothing; a table of sqp is still registered.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, openTestPool } from './support/db.ts';
import { execute } from './support/graphql.ts';
import { startLiveApp, type LiveApp } from './support/live.ts';
import { graphql } from './generated/index.ts';

const database = await createTestDatabase();
const sql = openTestPool(database.url, 2);
let app: LiveApp;

beforeAll(async () => {
  // Real tables in each schema, so a refusal is never "not found" in disguise.
  await sql.query(`CREATE SCHEMA IF NOT EXISTS sqp_demo`);
  await sql.query(`CREATE TABLE sqp_demo.asin_performance_data (id int PRIMARY KEY)`);
  await sql.query(`CREATE SCHEMA analytics`);
  await sql.query(`CREATE TABLE analytics.orders (id int PRIMARY KEY)`);
  await sql.query(`CREATE TABLE sqp.user_table (id int PRIMARY KEY)`);
  await sql.query(`DELETE FROM sqp.refresh_config WHERE table_name = 'user_table'`); // the event trigger registered it
  app = await startLiveApp(database.url);
});
afterAll(async () => {
  await app?.stop();
  await sql.end();
  await database.drop();
});

const RegisterUserTable = graphql(`
  mutation RegisterUserTable($input: RegisterTableInput!) {
    registerTable(input: $input) {
      __typename
      ... on RegisterTablePayload { config { tableSchema tableName } }
      ... on ValidationError { field message issues { path message } }
      ... on Error { message }
    }
  }
`);

const configs = async () => (await sql.query<{ n: number }>(`SELECT count(*)::int AS n FROM sqp.refresh_config`)).rows[0]!.n;
const register = (tableSchema: string, tableName: string) =>
  execute(app.url, RegisterUserTable, { input: { tableSchema, tableName, priority: 10 } }, app.headers('admin'));

describe('registerTable', () => {
  it.each([
    ['pg_catalog', 'pg_authid', 'tableSchema', /pg_catalog is a PostgreSQL system schema; only tables of the data schema sqp can be registered/],
    ['information_schema', 'tables', 'tableSchema', /information_schema is a PostgreSQL system schema/],
    ['pg_toast', 'pg_toast_1255', 'tableSchema', /pg_toast is a PostgreSQL system schema/],
    ['sqp_refresh_work', 'refresh_requests', 'tableSchema', /sqp_refresh_work is sqp-refresh's own schema/],
    ['sqp_demo', 'asin_performance_data', 'tableSchema', /sqp_demo is sqp-refresh's own schema/],
    ['analytics', 'orders', 'tableSchema', /analytics is not a data schema; only tables of the data schema sqp can be registered/],
    ['sqp', 'refresh_audit_log', 'tableName', /refresh_audit_log is part of the refresh system itself/],
  ])('refuses %s.%s with a ValidationError on %s, writing nothing', async (schema, table, field, message) => {
    const before = await configs();
    const res = await register(schema, table);
    expect(res.errors).toBeUndefined();
    expect(res.data!.registerTable).toMatchObject({ __typename: 'ValidationError', field, issues: [{ path: field }] });
    expect((res.data!.registerTable as { message: string }).message).toMatch(message);
    expect(await configs()).toBe(before);
    expect((await sql.query(`SELECT 1 FROM sqp.refresh_config WHERE table_schema = $1 AND table_name = $2`, [schema, table])).rows).toEqual([]);
  });

  it('still registers a table of sqp', async () => {
    const before = await configs();
    const res = await register('sqp', 'user_table');
    expect(res.data!.registerTable).toEqual({ __typename: 'RegisterTablePayload', config: { tableSchema: 'sqp', tableName: 'user_table' } });
    expect(await configs()).toBe(before + 1);
  });
});
