// BigQuery wire shapes the friendly path never met, end to end into PostgreSQL with the real
// client and the test server: RANGE<TIMESTAMP|DATE|DATETIME> (bounds as int64 µs under
// useInt64Timestamp) and INTERVAL, a NUL in a STRING (fails naming column and row, or is
// replaced when the params say so), any valid JSON (pretty-printed by a proxy), \u003c
// escapes and pages capped by bytes. Pages are converted on a real decode worker thread, as in
// the service.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { refreshTable, type RefreshOptions } from '../src/runner/engine/refresh-table.ts';
import { createDecodePool } from '../src/runner/sources/decode/decode-pool.ts';
import { createSources } from '../src/runner/sources/registry.ts';
import { startBigQueryTestServer, testBigQuerySource, type BigQueryTestServer, type FieldSpec } from './support/bigquery-server.ts';
import { createTestDatabase, openTestPool } from './support/db.ts';
import { loadConfig } from './support/refresh.ts';

const database = await createTestDatabase();
const pool = openTestPool(database.url, 4);
const decodePool = createDecodePool({ threads: 1 });
afterAll(() => decodePool.close());
let server: BigQueryTestServer;
/** The same answers pretty-printed (a proxy in between), pages capped at 2 KB. */
let proxied: BigQueryTestServer;

const QUERY = 'SELECT id, tr, dr, dtr, iv, s FROM `p.ds.values`';
const SCHEMA: FieldSpec[] = [
  { name: 'id', type: 'INT64' },
  { name: 'tr', type: 'RANGE', rangeElementType: 'TIMESTAMP' },
  { name: 'dr', type: 'RANGE', rangeElementType: 'DATE' },
  { name: 'dtr', type: 'RANGE', rangeElementType: 'DATETIME' },
  { name: 'iv', type: 'INTERVAL' },
  { name: 's', type: 'STRING' },
];
const T0 = 1_704_067_200_000_000n; // 2024-01-01T00:00:00Z in µs
const ROWS = [
  { id: 1, tr: { start: T0, end: T0 + 86_400_000_001n }, dr: '[2024-01-01, 2024-02-01)', dtr: { start: '2024-01-01T10:00:00.5', end: null }, iv: '1-2 3 4:5:6.789', s: '<b>bold</b> & =' },
  { id: 2, tr: { start: null, end: T0 }, dr: { start: null, end: null }, dtr: null, iv: '-1-2 -3 -4:5:6', s: 'plain' },
  { id: 3, tr: null, dr: null, dtr: { start: '0001-01-01T00:00:00', end: '9999-12-31T23:59:59.999999' }, iv: '0-0 0 -0:0:0.000001', s: null },
  { id: 4, tr: { start: T0, end: null }, dr: { start: '2024-03-01', end: null }, dtr: null, iv: '-0-11 30 87839999:0:0', s: 'tab\tnew\nline ü' },
];
// What PostgreSQL must hold, written as PostgreSQL literals.
const EXPECTED = `VALUES
  (1, tstzrange('2024-01-01 00:00:00+00', '2024-01-02 00:00:00.000001+00', '[)'), daterange('2024-01-01', '2024-02-01', '[)'), tsrange('2024-01-01 10:00:00.5', NULL, '[)'), interval '1 year 2 mons 3 days 04:05:06.789', '<b>bold</b> & ='),
  (2, tstzrange(NULL, '2024-01-01 00:00:00+00', '[)'), daterange(NULL, NULL, '[)'), NULL::tsrange, interval '-1 years -2 mons -3 days -04:05:06', 'plain'),
  (3, NULL::tstzrange, NULL::daterange, tsrange('0001-01-01 00:00:00', '9999-12-31 23:59:59.999999', '[)'), interval '-00:00:00.000001', NULL),
  (4, tstzrange('2024-01-01 00:00:00+00', NULL, '[)'), daterange('2024-03-01', NULL, '[)'), NULL::tsrange, interval '-11 mons +30 days +87839999:00:00', E'tab\\tnew\\nline ü')`;

function options(bq: BigQueryTestServer): RefreshOptions {
  return {
    pool,
    sources: createSources({ targetUrl: database.url, bigquery: testBigQuerySource(bq, { decodePool }) }),
  };
}

const setParams = (source: Record<string, unknown>, table = 'bq_values') =>
  pool.query(`UPDATE sqp.refresh_config SET custom_sync_params = $1 WHERE table_name = $2`, [
    JSON.stringify({ source: { type: 'bigquery', query: QUERY, ...source }, pageSize: 100 }),
    table,
  ]);
const run = (bq: BigQueryTestServer, table = 'bq_values') => loadConfig(pool, table).then((c) => refreshTable(c, options(bq)));

/** Rows of the target that differ from EXPECTED (both directions). */
async function differences(): Promise<unknown[]> {
  const { rows } = await pool.query(`
    WITH expected(id, tr, dr, dtr, iv, s) AS (${EXPECTED})
    (SELECT 'missing' AS side, * FROM expected EXCEPT SELECT 'missing', * FROM sqp.bq_values)
    UNION ALL
    (SELECT 'unexpected', * FROM sqp.bq_values EXCEPT SELECT 'unexpected', * FROM expected)`);
  return rows;
}

beforeAll(async () => {
  server = await startBigQueryTestServer({ projectId: 'sqp-test' });
  proxied = await startBigQueryTestServer({
    projectId: 'sqp-test',
    maxPageBytes: 500,
    reformat: (json) => JSON.stringify(JSON.parse(json), null, 2).replaceAll('":', '" :'),
  });
  await pool.query(`CREATE TABLE sqp.bq_values (id bigint PRIMARY KEY, tr tstzrange, dr daterange, dtr tsrange, iv interval, s text)`);
  await pool.query(`CREATE TABLE sqp.bq_nul (id bigint PRIMARY KEY, s text)`);
  await pool.query(`INSERT INTO sqp.refresh_config (table_schema, table_name) VALUES ('sqp', 'bq_values'), ('sqp', 'bq_nul') ON CONFLICT DO NOTHING`);
});

afterAll(async () => {
  await server?.close();
  await proxied?.close();
  await pool.end();
  await database.drop();
});

describe('RANGE and INTERVAL into PostgreSQL', () => {
  it('loads RANGE<TIMESTAMP> (int64 µs bounds), RANGE<DATE>, RANGE<DATETIME> and INTERVAL exactly', async () => {
    server.reset();
    server.addQuery(QUERY, { schema: SCHEMA, rows: ROWS });
    await setParams({});
    const result = await run(server);
    expect(result.errorMessage).toBeNull();
    expect(result).toMatchObject({ status: 'success', rowsProcessed: ROWS.length });
    expect(await differences()).toEqual([]);
    // Asked for int64 µs timestamps (so the RANGE<TIMESTAMP> bounds came as µs); the test
    // server escaped '<', '>', '&' and '=' of row 1 as \u003c… (test/bigquery-server-realism.test.ts).
    const page = server.requests.find((r) => r.route === 'getQueryResults' && r.status === 200);
    expect(page?.search['formatOptions.useInt64Timestamp']).toBe('true');
  });

  it('reads the same answers pretty-printed by a proxy, in pages capped by bytes', async () => {
    await pool.query(`TRUNCATE sqp.bq_values`);
    proxied.reset();
    proxied.addQuery(QUERY, { schema: SCHEMA, rows: ROWS });
    await setParams({});
    const result = await run(proxied);
    expect(result.errorMessage).toBeNull();
    expect(result).toMatchObject({ status: 'success', rowsProcessed: ROWS.length });
    expect(await differences()).toEqual([]);
    const pages = proxied.requests.filter((r) => r.route === 'getQueryResults' && r.status === 200);
    // pageSize 100 asked for, but 500 bytes hold fewer rows: more than one page for 4 rows.
    expect(pages.length).toBeGreaterThan(1);
  });
});

describe('a NUL character in a STRING', () => {
  // 160 rows in pages of 100: the NUL is in row 150 of the read, row 50 of page 2.
  const withNul = Array.from({ length: 160 }, (_, i) => ({ id: i, s: i === 150 ? 'bad\u0000value' : 'ok' }));
  const schema: FieldSpec[] = [{ name: 'id', type: 'INT64' }, { name: 's', type: 'STRING' }];
  const NUL_QUERY = 'SELECT id, s FROM `p.ds.nul`';

  it('fails the run naming the column and the row (of the whole read)', async () => {
    server.reset();
    server.addQuery(NUL_QUERY, { schema, rows: withNul });
    await setParams({ query: NUL_QUERY }, 'bq_nul');
    const result = await run(server, 'bq_nul');
    expect(result.status).toBe('failed');
    expect(result.errorMessage).toMatch(/column "s", row 150 .*NUL character \(U\+0000\).*nulReplacement/);
    expect(result.errorDetails).toMatchObject({ reason: 'invalidValue', column: 's', row: 150, retryable: false });
  });

  it('is replaced when the params say so (the run resumes at the page that failed)', async () => {
    await setParams({ query: NUL_QUERY, nulReplacement: '\uFFFD' }, 'bq_nul');
    const result = await run(server, 'bq_nul');
    expect(result.errorMessage).toBeNull();
    expect(result).toMatchObject({ status: 'success', resumed: true, rowsProcessed: 160 });
    const { rows } = await pool.query(`SELECT s FROM sqp.bq_nul WHERE id = 150`);
    expect(rows[0].s).toBe('bad\uFFFDvalue');
  });
});
