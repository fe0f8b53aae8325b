// What is refused when it is written, over real HTTP, each with a typed error naming the field
// and nothing written: params whose keys or cursor the target table does not have (the rule a
// run applies, checked when the params are written); quality metrics under the names the README
// and refresh_data_quality use; scheduleRefresh refusing what forceRefresh refuses, and times
// outside its window.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createToken } from '../src/auth/tokens.ts';
import { parseSyncParams } from '../src/runner/params/sync-params.ts';
import { SCHEDULE_WINDOW } from '../src/commands/refresh.ts';
import { startTestApp, type TestApp } from './support/app.ts';
import { createTestDatabase, openTestPool } from './support/db.ts';
import { execute } from './support/graphql.ts';
import { graphql } from './generated/index.ts';

const database = await createTestDatabase();
const sql = openTestPool(database.url, 2);
const admin = createToken('admin', 'admin');
let server: TestApp;
const headers = { authorization: `Bearer ${admin.token}` };
const SOURCE = { type: 'postgres', query: 'SELECT 1 AS id' };

beforeAll(async () => {
  await sql.query(`CREATE TABLE sqp.val_keyed (id int PRIMARY KEY, code text NOT NULL UNIQUE, v int, updated_at timestamptz)`);
  await sql.query(`CREATE TABLE sqp.val_nopk (id int, v int)`);
  await sql.query(`CREATE TABLE sqp.val_unconfigured (id int PRIMARY KEY)`); // the event trigger registers it, without params
  await sql.query(`DELETE FROM sqp.refresh_config WHERE table_name IN ('val_keyed', 'val_nopk')`);
  server = await startTestApp(database.url, { API_TOKENS: admin.entry, ANONYMOUS_ACCESS: 'read' });
});
afterAll(async () => {
  await server?.stop();
  await sql.end();
  await database.drop();
});

/** Everything a refused mutation must leave as it was: the configs, edges and requests. */
const snapshot = async () =>
  JSON.stringify((await sql.query(`SELECT * FROM sqp.refresh_config ORDER BY id`)).rows) +
  JSON.stringify((await sql.query(`SELECT * FROM sqp.refresh_dependencies ORDER BY id`)).rows) +
  JSON.stringify((await sql.query(`SELECT * FROM sqp_refresh_work.refresh_requests ORDER BY id`)).rows);
const requests = async () => (await sql.query<{ n: number }>(`SELECT count(*)::int AS n FROM sqp_refresh_work.refresh_requests`)).rows[0]!.n;
const configGid = async (table: string) =>
  Buffer.from(`RefreshConfig:${(await sql.query(`SELECT id FROM sqp.refresh_config WHERE table_name = $1`, [table])).rows[0].id}`).toString('base64');

const Register = graphql(`
  mutation ValidationRegister($input: RegisterTableInput!) {
    registerTable(input: $input) {
      __typename
      ... on ValidationError { field issues { path message } }
      ... on RegisterTablePayload { config { tableName customSyncParams } }
    }
  }
`);
const Update = graphql(`
  mutation ValidationUpdate($input: UpdateRefreshConfigInput!) {
    updateRefreshConfig(input: $input) {
      __typename
      ... on ValidationError { field issues { path message } }
      ... on UpdateRefreshConfigPayload { config { customSyncParams } }
    }
  }
`);
const Schedule = graphql(`
  mutation ValidationSchedule($input: ScheduleRefreshInput!) {
    scheduleRefresh(input: $input) {
      __typename
      ... on Error { message }
      ... on ValidationError { field issues { path message } }
      ... on ConflictError { field }
      ... on ScheduleRefreshPayload { config { nextRefreshAt } }
    }
  }
`);
const Force = graphql(`
  mutation ValidationForce($input: ForceRefreshInput!) {
    forceRefresh(input: $input) { __typename ... on ValidationError { field } ... on ConflictError { field } }
  }
`);

describe('params against the target table, when written', () => {
  it.each([
    ['a key column the table lacks', 'val_keyed', { keyColumns: ['no_such_col'] }, 'customSyncParams.keyColumns[0]', 'no_such_col is not a column of sqp.val_keyed'],
    ['keys that are not a unique key', 'val_keyed', { keyColumns: ['v'] }, 'customSyncParams.keyColumns', '(v) is not a unique key of sqp.val_keyed'],
    ['a cursor column the table lacks', 'val_keyed', { mode: 'incremental', cursorColumn: 'changed_at' }, 'customSyncParams.cursorColumn', 'changed_at is not a column of sqp.val_keyed'],
    ['no keys for a table without a primary key', 'val_nopk', {}, 'customSyncParams.keyColumns', 'required: sqp.val_nopk has no primary key'],
  ])('registerTable refuses %s, naming the path; nothing is written', async (_what, tableName, params, field, message) => {
    const before = await snapshot();
    const res = await execute(server.url, Register, { input: { tableSchema: 'sqp', tableName, customSyncParams: { source: SOURCE, ...params } } }, headers);
    expect(res.errors).toBeUndefined();
    expect(res.data!.registerTable).toMatchObject({ __typename: 'ValidationError', field, issues: [{ path: field, message }] });
    expect(await snapshot()).toBe(before);
  });

  it('registerTable accepts keys that are a unique key and a cursor that is a column', async () => {
    const res = await execute(server.url, Register, {
      input: { tableSchema: 'sqp', tableName: 'val_keyed', customSyncParams: { source: SOURCE, keyColumns: ['code'], mode: 'incremental', cursorColumn: 'updated_at' } },
    }, headers);
    expect(res.data!.registerTable).toMatchObject({ __typename: 'RegisterTablePayload', config: { tableName: 'val_keyed' } });
  });

  it('updateRefreshConfig names every bad key and writes nothing; good keys are written', async () => {
    const id = await configGid('val_keyed');
    const before = await snapshot();
    const bad = await execute(server.url, Update, { input: { id, priority: 1, customSyncParams: { source: SOURCE, keyColumns: ['id', 'nope', 'nada'], cursorColumn: 'gone' } } }, headers);
    expect(bad.data!.updateRefreshConfig).toMatchObject({
      __typename: 'ValidationError',
      field: 'customSyncParams.keyColumns[1]',
      issues: [
        { path: 'customSyncParams.keyColumns[1]', message: 'nope is not a column of sqp.val_keyed' },
        { path: 'customSyncParams.keyColumns[2]', message: 'nada is not a column of sqp.val_keyed' },
        { path: 'customSyncParams.cursorColumn', message: 'gone is not a column of sqp.val_keyed' },
      ],
    });
    expect(await snapshot()).toBe(before);
    const good = await execute(server.url, Update, { input: { id, customSyncParams: { source: SOURCE, keyColumns: ['id'] } } }, headers);
    expect(good.data!.updateRefreshConfig).toMatchObject({ __typename: 'UpdateRefreshConfigPayload', config: { customSyncParams: { keyColumns: ['id'] } } });
  });
});

describe('quality metric names', () => {
  // The README's table of metrics: | `recorded_name` | `paramsKey` | default | meaning |
  const readme = readFileSync(path.resolve(import.meta.dirname, '..', 'README.md'), 'utf8');
  const table = readme.slice(readme.indexOf('| recorded as | params key |')).split('\n\n')[0]!;
  const rows = [...table.matchAll(/^\| `([a-z_]+)(?::<column>)?` \| `([A-Za-z]+)` \|/gm)].map((m) => ({ recorded: m[1]!, key: m[2]! }));
  const parsed = (quality: Record<string, unknown>) => parseSyncParams({ source: SOURCE, quality }).quality;

  it('the README lists every metric the params accept, under both of its names, and each name means the same', () => {
    expect(rows.map((r) => r.key).sort()).toEqual(Object.keys(parsed({})).sort());
    for (const { recorded, key } of rows) {
      const threshold = { min: 0.25, max: 0.75, severity: 'warning' };
      expect(parsed({ [recorded]: threshold })[key as keyof ReturnType<typeof parsed>], recorded).toEqual(threshold);
      expect(parsed({ [recorded]: threshold })).toEqual(parsed({ [key]: threshold }));
    }
  });

  it('stores a metric given by its recorded name under its params key; both names at once are refused', async () => {
    const id = await configGid('val_keyed');
    const params = { source: SOURCE, keyColumns: ['id'], quality: { row_count_ratio: { min: 0.5, max: 2 }, deleteRatio: { max: 0.5 } } };
    const ok = await execute(server.url, Update, { input: { id, customSyncParams: params } }, headers);
    expect(ok.data!.updateRefreshConfig).toMatchObject({ __typename: 'UpdateRefreshConfigPayload' });
    const { rows: [stored] } = await sql.query(`SELECT custom_sync_params AS p FROM sqp.refresh_config WHERE table_name = 'val_keyed'`);
    expect(stored.p.quality).toEqual({ rowCountRatio: { min: 0.5, max: 2 }, deleteRatio: { max: 0.5 } });

    const before = await snapshot();
    const both = await execute(server.url, Update, { input: { id, customSyncParams: { ...params, quality: { row_count_ratio: { max: 2 }, rowCountRatio: { max: 3 } } } } }, headers);
    expect(both.data!.updateRefreshConfig).toMatchObject({
      __typename: 'ValidationError',
      field: 'customSyncParams.quality.row_count_ratio',
      issues: [{ path: 'customSyncParams.quality.row_count_ratio', message: 'the same metric as quality.rowCountRatio: give one of them' }],
    });
    expect(await snapshot()).toBe(before);
  });
});

describe('scheduleRefresh', () => {
  const schedule = (tableName: string, at: string) => execute(server.url, Schedule, { input: { tableSchema: 'sqp', tableName, at } }, headers);
  const inHours = (h: number) => new Date(Date.now() + h * 3_600_000).toISOString();

  it('refuses a table without a source, as forceRefresh does; no request is written', async () => {
    const before = await snapshot();
    const scheduled = await schedule('val_unconfigured', inHours(1));
    expect(scheduled.data!.scheduleRefresh).toMatchObject({ __typename: 'ValidationError', field: 'customSyncParams.source', issues: [{ path: 'customSyncParams.source', message: 'required' }] });
    const forced = await execute(server.url, Force, { input: { tableSchema: 'sqp', tableName: 'val_unconfigured' } }, headers);
    expect(forced.data!.forceRefresh).toMatchObject({ __typename: 'ValidationError', field: 'customSyncParams.source' });
    expect(await snapshot()).toBe(before);
  });

  it('refuses a disabled table, as forceRefresh does', async () => {
    await sql.query(`UPDATE sqp.refresh_config SET is_enabled = false WHERE table_name = 'val_keyed'`);
    try {
      const before = await snapshot();
      expect((await schedule('val_keyed', inHours(1))).data!.scheduleRefresh).toMatchObject({ __typename: 'ConflictError', field: 'tableName' });
      const forced = await execute(server.url, Force, { input: { tableSchema: 'sqp', tableName: 'val_keyed' } }, headers);
      expect(forced.data!.forceRefresh).toMatchObject({ __typename: 'ConflictError', field: 'tableName' });
      expect(await snapshot()).toBe(before);
    } finally {
      await sql.query(`UPDATE sqp.refresh_config SET is_enabled = true WHERE table_name = 'val_keyed'`);
    }
  });

  it.each([
    ['the last date JavaScript has', '+275760-09-13T00:00:00Z', /must be at most a year \(366 days\) ahead/],
    ['a year and two days ahead', inHours(24 * (SCHEDULE_WINDOW.aheadDays + 2)), /must be at most a year \(366 days\) ahead/],
    ['an hour ago', inHours(-1), /must not be more than 5 minutes in the past/],
    ['the first date JavaScript has', '-271821-04-20T00:00:00Z', /must not be more than 5 minutes in the past/],
  ])('refuses %s with a ValidationError on at; nothing is written', async (_what, at, message) => {
    const before = await snapshot();
    const res = await schedule('val_keyed', at);
    expect(res.errors).toBeUndefined();
    expect(res.data!.scheduleRefresh).toMatchObject({ __typename: 'ValidationError', field: 'at', issues: [{ path: 'at', message: expect.stringMatching(message) }] });
    expect(await snapshot()).toBe(before);
  });

  it('accepts a time inside the window: one request, the table due then', async () => {
    const before = await requests();
    const at = inHours(24 * (SCHEDULE_WINDOW.aheadDays - 1));
    expect((await schedule('val_keyed', at)).data!.scheduleRefresh).toMatchObject({ __typename: 'ScheduleRefreshPayload', config: { nextRefreshAt: at } });
    const justPast = new Date(Date.now() - 60_000).toISOString(); // a lagging clock: within the skew, it means now
    expect((await schedule('val_keyed', justPast)).data!.scheduleRefresh).toMatchObject({ __typename: 'ScheduleRefreshPayload', config: { nextRefreshAt: justPast } });
    expect(await requests()).toBe(before + 2);
  });
});
