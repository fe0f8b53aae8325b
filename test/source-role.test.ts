// A `postgres` source query never reaches superuser-only functions: on a privileged connection
// (the tests' role is a superuser) it runs as the source role, which fails a read of a server
// file and reads only what it was granted; a missing role fails the run saying how to create
// it; an ordinary login runs as itself unless POSTGRES_SOURCE_ROLE is set. The demo default
// still refreshes. And `databaseUrlEnv` names only SOURCE_DATABASE_URL_… variables.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createToken } from '../src/auth/tokens.ts';
import { registerTable, updateRefreshConfig } from '../src/commands/config.ts';
import { loadConfig as loadServiceConfig } from '../src/config.ts';
import { createLogger } from '../src/logger.ts';
import { prepareDefaultSource } from '../src/runner/demo/default-source.ts';
import { ensureDemoSource } from '../src/runner/demo/demo-source.ts';
import { refreshTable } from '../src/runner/engine/refresh-table.ts';
import { SyncParamsError } from '../src/runner/params/params-error.ts';
import { createSources, sourcesFromConfig, type SourceEnvironment } from '../src/runner/sources/registry.ts';
import { parseSyncParams } from '../src/runner/params/sync-params.ts';
import { startTestApp, type TestApp } from './support/app.ts';
import { adminQuery, createTestDatabase, openTestPool } from './support/db.ts';
import { executeRaw } from './support/graphql.ts';
import { loadConfig } from './support/refresh.ts';

const database = await createTestDatabase();
const pool = openTestPool(database.url, 4);
// Roles belong to the whole server: unique names, dropped after this file's database.
const suffix = randomBytes(4).toString('hex');
const GRANTED = `sqp_src_${suffix}`; // NOLOGIN, may read src_role.items only
const MISSING = `sqp_missing_${suffix}`; // never created
const DEMO_ROLE = `sqp_demo_src_${suffix}`; // made by the demo preparation
const ORDINARY = `sqp_login_${suffix}`; // a LOGIN without superuser
const FILES = `sqp_files_${suffix}`; // a LOGIN in pg_read_server_files
const PASSWORD = randomBytes(12).toString('hex');

/** The database's URL for another login. */
function urlAs(user: string): string {
  const url = new URL(database.url);
  url.username = user;
  url.password = PASSWORD;
  return url.toString();
}

/** A target table in sqp with these source params, set through the commands the mutations use. */
async function target(name: string, source: Record<string, unknown>, columns = 'id int PRIMARY KEY, v text') {
  await pool.query(`CREATE TABLE sqp.${name} (${columns})`);
  const params = { source: { type: 'postgres', ...source }, quality: { rowCountChange: { min: -1, max: 1000 } } };
  const { rows: [found] } = await pool.query<{ id: number }>(`SELECT id FROM sqp.refresh_config WHERE table_schema = 'sqp' AND table_name = $1`, [name]);
  // The event trigger registers a new sqp table; without it (no superuser) register it here.
  if (found) await updateRefreshConfig(pool, found.id, { customSyncParams: params });
  else await registerTable(pool, { tableSchema: 'sqp', tableName: name, customSyncParams: params });
}

const refresh = (table: string, environment: Partial<SourceEnvironment> = {}) =>
  loadConfig(pool, table).then((config) => refreshTable(config, { pool, sources: createSources({ targetUrl: database.url, ...environment }) }));
const rowsOf = async (table: string) => (await pool.query(`SELECT * FROM sqp.${table} ORDER BY 1`)).rows;

beforeAll(async () => {
  await pool.query(`
    CREATE SCHEMA src_role;
    CREATE TABLE src_role.items AS SELECT g AS id, 'item ' || g AS v FROM generate_series(1, 40) g;
    CREATE TABLE src_role.secret AS SELECT 1 AS id, 'not for sources' AS v;
    CREATE ROLE ${GRANTED} NOLOGIN;
    GRANT USAGE ON SCHEMA src_role TO ${GRANTED};
    GRANT SELECT ON src_role.items TO ${GRANTED};
    CREATE ROLE ${ORDINARY} LOGIN PASSWORD '${PASSWORD}';
    CREATE ROLE ${FILES} LOGIN PASSWORD '${PASSWORD}' IN ROLE pg_read_server_files;
    GRANT USAGE ON SCHEMA src_role TO ${ORDINARY}, ${FILES};
    GRANT SELECT ON src_role.items TO ${ORDINARY}, ${FILES};`);
});

afterAll(async () => {
  await pool.end();
  // The database first: its grants to these roles go with it.
  await database.drop();
  await adminQuery(`DROP ROLE IF EXISTS ${GRANTED}, ${MISSING}, ${DEMO_ROLE}, ${ORDINARY}, ${FILES}`);
});

describe('a superuser connection runs source queries as the source role', () => {
  const asGranted = { sourceRole: { name: GRANTED, explicit: false } };

  it.each([
    ['file_read', `SELECT 1 AS id, pg_read_file('/etc/hostname') AS v`, 'pg_read_file'],
    ['file_list', `SELECT 1 AS id, d AS v FROM pg_ls_dir('.') d`, 'pg_ls_dir'],
  ])('refuses a superuser-only function (%s) and writes nothing', async (name, query, fn) => {
    await target(name, { query });
    const result = await refresh(name, asGranted);
    expect(result).toMatchObject({ status: 'failed', rowsProcessed: 0 });
    expect(result.errorMessage).toContain(`permission denied for function ${fn}`);
    expect(result.errorDetails).toMatchObject({ reason: 'sqlstate 42501', retryable: false });
    expect(await rowsOf(name)).toEqual([]);
  });

  it('fails when the role does not exist, saying how to create it, and writes nothing', async () => {
    await target('no_role', { query: `SELECT 1 AS id, pg_read_file('/etc/hostname') AS v` });
    const result = await refresh('no_role', { sourceRole: { name: MISSING, explicit: false } });
    expect(result).toMatchObject({ status: 'failed', rowsProcessed: 0 });
    expect(result.errorMessage).toContain(`source queries run as role ${MISSING}, which does not exist`);
    expect(result.errorMessage).toContain(`CREATE ROLE ${MISSING} NOLOGIN; GRANT USAGE ON SCHEMA <schema> TO ${MISSING}; GRANT SELECT ON <schema>.<table> TO ${MISSING};`);
    expect(result.errorDetails).toMatchObject({ reason: 'sourceRole', retryable: false, role: MISSING });
    expect(await rowsOf('no_role')).toEqual([]);
    // Even an innocent query: the rule does not depend on what the query calls.
    await target('no_role_plain', { query: 'SELECT id, v FROM src_role.items' });
    expect(await refresh('no_role_plain', { sourceRole: { name: MISSING, explicit: false } })).toMatchObject({ status: 'failed', errorDetails: { reason: 'sourceRole' } });
    expect(await rowsOf('no_role_plain')).toEqual([]);
  });

  it('reads a table granted to the role, and only that', async () => {
    await target('granted_items', { query: 'SELECT id, v, current_user::text AS who FROM src_role.items' }, 'id int PRIMARY KEY, v text, who text');
    const ok = await refresh('granted_items', asGranted);
    expect(ok).toMatchObject({ status: 'success', rowsProcessed: 40, rowsInserted: 40 });
    const rows = await rowsOf('granted_items');
    expect(rows).toHaveLength(40);
    expect(new Set(rows.map((r) => r.who))).toEqual(new Set([GRANTED]));

    await target('not_granted', { query: 'SELECT id, v FROM src_role.secret' });
    const refused = await refresh('not_granted', asGranted);
    expect(refused).toMatchObject({ status: 'failed', errorDetails: { reason: 'sqlstate 42501', retryable: false } });
    expect(refused.errorMessage).toContain('permission denied for table secret');
    expect(await rowsOf('not_granted')).toEqual([]);
  });

  it('quotes the role name: a name that is not a plain identifier is one role, not SQL', async () => {
    await target('odd_role', { query: 'SELECT id, v FROM src_role.items' });
    const odd = `${GRANTED}"; SELECT pg_read_file('/etc/hostname'); --`;
    const result = await refresh('odd_role', { sourceRole: { name: odd, explicit: false } });
    expect(result).toMatchObject({ status: 'failed', errorDetails: { reason: 'sourceRole', role: odd } });
    expect(result.errorMessage).toContain(`CREATE ROLE "${odd.replaceAll('"', '""')}" NOLOGIN`);
  });
});

describe('other logins', () => {
  const viaLogin = (user: string, sourceRole: SourceEnvironment['sourceRole']) => ({ env: { SOURCE_DATABASE_URL_ROLE_TEST: urlAs(user) }, sourceRole });

  it('an ordinary login runs the query as itself, unless POSTGRES_SOURCE_ROLE was set', async () => {
    await target('as_login', { query: 'SELECT id, current_user::text AS v FROM src_role.items WHERE id <= 3', databaseUrlEnv: 'SOURCE_DATABASE_URL_ROLE_TEST' });
    expect(await refresh('as_login', viaLogin(ORDINARY, { name: MISSING, explicit: false }))).toMatchObject({ status: 'success', rowsProcessed: 3 });
    expect((await rowsOf('as_login')).map((r) => r.v)).toEqual([ORDINARY, ORDINARY, ORDINARY]);

    // Set explicitly: the login switches to it, and must be allowed to.
    const refused = await refresh('as_login', viaLogin(ORDINARY, { name: GRANTED, explicit: true }));
    expect(refused).toMatchObject({ status: 'failed', errorDetails: { reason: 'sourceRole', retryable: false } });
    expect(refused.errorMessage).toContain(`POSTGRES_SOURCE_ROLE asks source queries to run as role ${GRANTED}, but ${ORDINARY} may not SET ROLE to it: GRANT ${GRANTED} TO ${ORDINARY};`);
    await pool.query(`GRANT ${GRANTED} TO ${ORDINARY}`);
    expect(await refresh('as_login', viaLogin(ORDINARY, { name: GRANTED, explicit: true }))).toMatchObject({ status: 'success' });
    expect((await rowsOf('as_login')).map((r) => r.v)).toEqual([GRANTED, GRANTED, GRANTED]);
  });

  it('a login in pg_read_server_files is privileged: it always runs as the source role', async () => {
    await target('as_files', { query: 'SELECT id, current_user::text AS v FROM src_role.items WHERE id <= 2', databaseUrlEnv: 'SOURCE_DATABASE_URL_ROLE_TEST' });
    const refused = await refresh('as_files', viaLogin(FILES, { name: GRANTED, explicit: false }));
    expect(refused).toMatchObject({ status: 'failed', errorDetails: { reason: 'sourceRole' } });
    expect(refused.errorMessage).toContain(`the source connection's user ${FILES} is a superuser or may reach the server's files, so source queries run as role ${GRANTED}`);
    expect(await rowsOf('as_files')).toEqual([]);
    await pool.query(`GRANT ${GRANTED} TO ${FILES}`);
    expect(await refresh('as_files', viaLogin(FILES, { name: GRANTED, explicit: false }))).toMatchObject({ status: 'success', rowsProcessed: 2 });
    expect((await rowsOf('as_files')).map((r) => r.v)).toEqual([GRANTED, GRANTED]);
  });
});

describe('the demo default', () => {
  it('still refreshes on a superuser: the preparation makes the default role and lets it read the demo tables', async () => {
    const config = loadServiceConfig({ DATABASE_URL: database.url, DEMO_WEEKS: '2' });
    expect(config.postgresSourceRole).toEqual({ name: 'sqp_refresh_source', explicit: false });
    await prepareDefaultSource(config, pool, createLogger({ level: 'silent', pretty: false }));
    const sources = sourcesFromConfig(config, database.url, {});
    for (const table of ['asin_performance_data', 'search_query_performance', 'daily_sqp_data', 'weekly_summary']) {
      const result = await refreshTable(await loadConfig(pool, table), { pool, sources });
      expect(result, table).toMatchObject({ status: 'success' });
      expect(result.rowsProcessed, table).toBeGreaterThan(0);
    }
    const { rows: [counts] } = await pool.query(`
      SELECT (SELECT count(*) FROM sqp.asin_performance_data)::int AS target, (SELECT count(*) FROM sqp_demo.asin_performance_data)::int AS source`);
    expect(counts.target).toBe(counts.source);
  });

  it('creates a missing role NOLOGIN with no other right than reading the three source tables', async () => {
    // sqp_demo is already there (same options): only the role is new.
    const again = await ensureDemoSource(pool, { weeks: 2, sourceRole: DEMO_ROLE });
    expect(again.created).toBe(false);
    const { rows: [role] } = await pool.query(
      `SELECT rolcanlogin, rolsuper, rolcreatedb, rolcreaterole, rolreplication, rolbypassrls,
              (SELECT count(*) FROM pg_auth_members WHERE member = r.oid)::int AS memberships,
              has_schema_privilege(r.oid, 'sqp_demo', 'USAGE') AS usage,
              has_schema_privilege(r.oid, 'sqp_demo', 'CREATE') AS can_create,
              has_table_privilege(r.oid, 'sqp_demo.asin_performance_data', 'SELECT') AS asin,
              has_table_privilege(r.oid, 'sqp_demo.search_query_performance', 'SELECT') AS brand,
              has_table_privilege(r.oid, 'sqp_demo.daily_sqp_data', 'SELECT') AS daily,
              has_table_privilege(r.oid, 'sqp_demo.asin_performance_data', 'INSERT,UPDATE,DELETE,TRUNCATE') AS writes,
              has_table_privilege(r.oid, 'sqp_demo.asins', 'SELECT') AS helper,
              has_table_privilege(r.oid, 'sqp.asin_performance_data', 'SELECT') AS target
       FROM pg_roles r WHERE rolname = $1`,
      [DEMO_ROLE],
    );
    expect(role).toEqual({
      rolcanlogin: false, rolsuper: false, rolcreatedb: false, rolcreaterole: false, rolreplication: false, rolbypassrls: false,
      memberships: 0, usage: true, can_create: false, asin: true, brand: true, daily: true, writes: false, helper: false, target: false,
    });
    // Idempotent: a second call finds everything in place.
    expect((await ensureDemoSource(pool, { weeks: 2, sourceRole: DEMO_ROLE })).created).toBe(false);
  });
});

describe('databaseUrlEnv names only SOURCE_DATABASE_URL_… variables', () => {
  const params = (databaseUrlEnv: string) => ({ source: { type: 'postgres', query: 'SELECT 1 AS id, 1 AS v', databaseUrlEnv } });

  it.each(['API_TOKENS', 'DATABASE_URL', 'LEGACY_DATABASE_URL', 'SOURCE_DATABASE_URL_', 'source_database_url_legacy', 'METRICS_TOKEN'])('refuses %s in sync params, naming the path', (name) => {
    let error: unknown;
    try {
      parseSyncParams(params(name));
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(SyncParamsError);
    expect((error as SyncParamsError).issues).toEqual([{ path: 'source.databaseUrlEnv', message: expect.stringContaining('SOURCE_DATABASE_URL_') }]);
  });

  it('accepts SOURCE_DATABASE_URL_<NAME>', () => {
    expect(parseSyncParams(params('SOURCE_DATABASE_URL_LEGACY')).source).toMatchObject({ databaseUrlEnv: 'SOURCE_DATABASE_URL_LEGACY' });
  });

  it('the config hands sources only those variables, and reads POSTGRES_SOURCE_ROLE', () => {
    const config = loadServiceConfig({
      DATABASE_URL: 'postgresql://service:secret@127.0.0.1:5432/sqp',
      METRICS_TOKEN: 'a-metrics-token-of-some-length',
      LEGACY_DATABASE_URL: 'postgresql://a@127.0.0.1/legacy',
      SOURCE_DATABASE_URL_LEGACY: 'postgresql://b@127.0.0.1/legacy',
      POSTGRES_SOURCE_ROLE: 'reporting_reader',
    });
    expect(config.env).toEqual({ SOURCE_DATABASE_URL_LEGACY: 'postgresql://b@127.0.0.1/legacy' });
    expect(config.postgresSourceRole).toEqual({ name: 'reporting_reader', explicit: true });
  });

  describe('through the graph', () => {
    const admin = createToken('admin', 'admin');
    let app: TestApp;
    beforeAll(async () => {
      await pool.query(`CREATE TABLE sqp.url_env (id int PRIMARY KEY, v int)`);
      await pool.query(`CREATE TABLE sqp.url_env_new (id int PRIMARY KEY, v int)`);
      await pool.query(`DELETE FROM sqp.refresh_config WHERE table_name = 'url_env_new'`); // the event trigger registered it
      app = await startTestApp(database.url, { API_TOKENS: admin.entry, ANONYMOUS_ACCESS: 'none' });
    });
    afterAll(() => app?.stop());
    const headers = () => ({ authorization: `Bearer ${admin.token}` });
    const configs = async () => JSON.stringify((await pool.query(`SELECT id, table_name, custom_sync_params FROM sqp.refresh_config ORDER BY id`)).rows);

    it('updateRefreshConfig and registerTable refuse databaseUrlEnv API_TOKENS with a ValidationError on its path, writing nothing', async () => {
      const before = await configs();
      const { rows: [row] } = await pool.query<{ id: number }>(`SELECT id FROM sqp.refresh_config WHERE table_name = 'url_env'`);
      const id = Buffer.from(`RefreshConfig:${row!.id}`).toString('base64');
      const update = await executeRaw(app.url,
        `mutation ($input: UpdateRefreshConfigInput!) { updateRefreshConfig(input: $input) { __typename ... on ValidationError { field issues { path message } } } }`,
        { input: { id, customSyncParams: params('API_TOKENS') } }, headers());
      expect(update.body.errors).toBeUndefined();
      expect(update.body.data!.updateRefreshConfig).toMatchObject({
        __typename: 'ValidationError',
        field: 'customSyncParams.source.databaseUrlEnv',
        issues: [{ path: 'customSyncParams.source.databaseUrlEnv', message: expect.stringContaining('SOURCE_DATABASE_URL_') }],
      });
      const register = await executeRaw(app.url,
        `mutation ($input: RegisterTableInput!) { registerTable(input: $input) { __typename ... on ValidationError { field } } }`,
        { input: { tableSchema: 'sqp', tableName: 'url_env_new', customSyncParams: params('API_TOKENS') } }, headers());
      expect(register.body.data!.registerTable).toMatchObject({ __typename: 'ValidationError', field: 'customSyncParams.source.databaseUrlEnv' });
      expect(await configs()).toBe(before);

      const allowed = await executeRaw(app.url,
        `mutation ($input: UpdateRefreshConfigInput!) { updateRefreshConfig(input: $input) { __typename } }`,
        { input: { id, customSyncParams: params('SOURCE_DATABASE_URL_LEGACY') } }, headers());
      expect(allowed.body.data!.updateRefreshConfig).toEqual({ __typename: 'UpdateRefreshConfigPayload' });
    });
  });
});
