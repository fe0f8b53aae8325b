// The refresh engine end to end with the real BigQuery client against the local BigQuery
// REST test server: exact types in the target, retries, a 400 that fails at once, resuming
// after page k, the daily byte budget and maximumBytesBilled, a job that fails while running.
// Pages are converted on a real decode worker thread, as in the service.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { refreshTable, type RefreshOptions } from '../src/runner/engine/refresh-table.ts';
import { createDecodePool } from '../src/runner/sources/decode/decode-pool.ts';
import { createSources } from '../src/runner/sources/registry.ts';
import { startBigQueryTestServer, testBigQuerySource, type BigQueryTestServer } from './support/bigquery-server.ts';
import { createTestDatabase, openTestPool } from './support/db.ts';
import { loadConfig, tableChecksum } from './support/refresh.ts';

const database = await createTestDatabase();
const pool = openTestPool(database.url, 4);
const decodePool = createDecodePool({ threads: 1 });
afterAll(() => decodePool.close());
let server: BigQueryTestServer;

const QUERY = 'SELECT id, big, num, d, ts, s, b, f FROM `proj.ds.types`';
const SCHEMA = [
  { name: 'id', type: 'INT64' }, { name: 'big', type: 'INT64' }, { name: 'num', type: 'NUMERIC' }, { name: 'd', type: 'DATE' },
  { name: 'ts', type: 'TIMESTAMP' }, { name: 's', type: 'STRING' }, { name: 'b', type: 'BOOL' }, { name: 'f', type: 'FLOAT64' },
] as const;
const N = 1000;
const rowAt = (i: number) => [
  BigInt(i),
  i === 0 ? 9007199254740993n : i === 1 ? -9223372036854775808n : i % 7 === 0 ? null : BigInt(i) * 1_000_000_007n,
  i === 0 ? '12345678901234567890123456.123456789' : i % 5 === 0 ? null : `${i}.${String(i % 1000).padStart(3, '0')}`,
  i % 11 === 0 ? null : `2024-${String((i % 12) + 1).padStart(2, '0')}-${String((i % 28) + 1).padStart(2, '0')}`,
  i % 13 === 0 ? null : 1_700_000_000_000_000n + BigInt(i) * 1_000_001n, // µs since epoch
  i % 17 === 0 ? null : `row ${i}\ttab\nnewline \\ backslash ü`,
  i % 19 === 0 ? null : i % 2 === 0,
  i % 23 === 0 ? null : i / 7,
];

function options(extra: Partial<RefreshOptions> = {}): RefreshOptions {
  return {
    pool,
    sources: createSources({ targetUrl: database.url, bigquery: testBigQuerySource(server, { decodePool }) }),
    ...extra,
  };
}

const setParams = (params: unknown) =>
  pool.query(`UPDATE sqp.refresh_config SET custom_sync_params = $1 WHERE table_name = 'bq_types'`, [JSON.stringify(params)]);
const run = (extra: Partial<RefreshOptions> = {}) => loadConfig(pool, 'bq_types').then((c) => refreshTable(c, options(extra)));

beforeAll(async () => {
  server = await startBigQueryTestServer({ projectId: 'sqp-test' });
  // A new sqp table registers itself (event trigger), ready for params.
  await pool.query(`CREATE TABLE sqp.bq_types (id bigint PRIMARY KEY, big bigint, num numeric, d date, ts timestamptz, s text, b boolean, f double precision)`);
  await pool.query(`INSERT INTO sqp.refresh_config (table_schema, table_name) VALUES ('sqp', 'bq_types') ON CONFLICT DO NOTHING`);
  // The expected rows, written by PostgreSQL from the same definition, for comparison.
  await pool.query(`CREATE TABLE public.expected (LIKE sqp.bq_types)`);
  const values = Array.from({ length: N }, (_, i) => rowAt(i));
  await pool.query(
    `INSERT INTO public.expected SELECT * FROM jsonb_to_recordset($1::jsonb) AS r(id bigint, big bigint, num numeric, d date, ts timestamptz, s text, b boolean, f double precision)`,
    [JSON.stringify(values.map((v) => ({
      id: String(v[0]), big: v[1] === null ? null : String(v[1]), num: v[2], d: v[3],
      ts: v[4] === null ? null : new Date(Number((v[4] as bigint) / 1000n)).toISOString().replace('Z', `${String((v[4] as bigint) % 1000n).padStart(3, '0')}Z`),
      s: v[5], b: v[6], f: v[7],
    })))],
  );
});

beforeEach(() => {
  server.reset();
  server.addQuery(QUERY, { schema: SCHEMA, rows: { count: N, at: rowAt }, bytesProcessed: 5_000_000, bytesBilled: 10_485_760, pendingPolls: 1 });
});

afterAll(async () => {
  await server?.close();
  await pool.end();
  await database.drop();
});

const COLS = ['id', 'big', 'num', 'd', 'ts', 's', 'b', 'f'];

describe('BigQuery → PostgreSQL', () => {
  it('loads every type exactly (INT64 beyond 2^53, NUMERIC, DATE, TIMESTAMP µs, NULL) and records the job', async () => {
    await setParams({ source: { type: 'bigquery', query: QUERY }, pageSize: 300 });
    const result = await run();
    expect(result).toMatchObject({ status: 'success', rowsProcessed: N, rowsInserted: N, rowsUpdated: 0 });
    expect(await tableChecksum(pool, 'sqp.bq_types', COLS)).toEqual(await tableChecksum(pool, 'public.expected', COLS));
    const { rows: [first] } = await pool.query(`SELECT big::text, num::text, ts FROM sqp.bq_types WHERE id = 0`);
    expect(first).toMatchObject({ big: '9007199254740993', num: '12345678901234567890123456.123456789' });
    const { rows: [audit] } = await pool.query(`SELECT bigquery_job_id, sync_metadata FROM sqp.refresh_audit_log WHERE id = $1`, [result.runId]);
    expect(audit.bigquery_job_id).toMatch(/^sqp_refresh_sqp_bq_types_/);
    expect(audit.sync_metadata).toMatchObject({ bytesProcessed: '5000000', bytesBilled: '10485760', pages: 4 });
    const insert = server.queries.find((q) => !q.dryRun);
    expect(insert?.labels).toMatchObject({ app: 'sqp-refresh', table: 'sqp_bq_types' });
  });

  it('retries 429, 500, 503 and connection resets on any call and still succeeds', async () => {
    server.injectFault('insertJob', { type: 'http', status: 503 });
    server.injectFault('getQueryResults', { type: 'http', status: 429 });
    server.injectFault('getQueryResults', { type: 'reset' });
    server.injectFault('getJob', { type: 'http', status: 500 });
    server.injectFault('getQueryResults', { type: 'http', status: 403, reason: 'rateLimitExceeded' });
    const result = await run();
    expect(result).toMatchObject({ status: 'success', rowsProcessed: N, rowsUpdated: 0 });
    expect(server.pendingFaults()).toBe(0);
  });

  it('a job that fails while running (jobInternalError) ends in success through a second job; the audit row names it and bills both', async () => {
    await setParams({ source: { type: 'bigquery', query: QUERY }, pageSize: 300 });
    server.failNextJobs({ reason: 'jobInternalError', message: 'The job encountered an internal error during execution and was unable to complete successfully.', bytesBilled: 1_048_576 });
    const result = await run();
    expect(result).toMatchObject({ status: 'success', rowsProcessed: N });
    const jobs = [...new Set(server.queries.filter((q) => !q.dryRun).map((q) => q.jobId))];
    expect(jobs).toHaveLength(2);
    const { rows: [audit] } = await pool.query(`SELECT bigquery_job_id, sync_metadata FROM sqp.refresh_audit_log WHERE id = $1`, [result.runId]);
    expect(audit.bigquery_job_id).toBe(jobs[1]);
    expect(audit.sync_metadata.bytesBilled).toBe(String(10_485_760 + 1_048_576)); // the day's budget sees both bills
    expect(await tableChecksum(pool, 'sqp.bq_types', COLS)).toEqual(await tableChecksum(pool, 'public.expected', COLS));
  });

  it('when every job fails, the audit row records each job id and reason', async () => {
    await setParams({ source: { type: 'bigquery', query: QUERY }, pageSize: 300 });
    server.failNextJobs({ reason: 'jobBackendError', message: 'backend' }, 3);
    const result = await run();
    expect(result).toMatchObject({ status: 'failed', rowsProcessed: 0 });
    const { rows: [audit] } = await pool.query(`SELECT error_details, sync_metadata FROM sqp.refresh_audit_log WHERE id = $1`, [result.runId]);
    const jobs = [...new Set(server.queries.filter((q) => !q.dryRun).map((q) => q.jobId))];
    expect(audit.error_details).toMatchObject({ reason: 'jobBackendError', retryable: true, jobs: jobs.map((jobId) => ({ jobId, outcome: 'failed', reason: 'jobBackendError' })) });
    // What the failed jobs billed counts against the day's budget (BigQuery bills no failed query: 0 here).
    const billed = (audit.error_details.jobs as Array<{ bytesBilled?: string }>).reduce((n, j) => n + BigInt(j.bytesBilled ?? '0'), 0n);
    expect(audit.sync_metadata.bytesBilled).toBe(billed.toString());
  });

  it('a 400 fails at once with its code and reason, and is not retried', async () => {
    server.injectFault('getQueryResults', { type: 'http', status: 400, reason: 'invalidQuery', message: 'Syntax error: Unexpected keyword' });
    const result = await run();
    expect(result).toMatchObject({ status: 'failed', outcome: 'failed' });
    expect(result.errorDetails).toMatchObject({ code: 400, reason: 'invalidQuery', retryable: false });
    expect(server.count('getQueryResults')).toBe(1); // the 400 answered the first read: no retry
    const { rows: [audit] } = await pool.query(`SELECT status, error_details FROM sqp.refresh_audit_log WHERE id = $1`, [result.runId]);
    expect(audit.status).toBe('failed');
    expect(JSON.stringify(audit.error_details)).not.toMatch(/stack|Bearer|private_key/);
  });

  it('a run that dies after page k of n resumes at page k+1 of the same job', async () => {
    await pool.query(`UPDATE sqp.bq_types SET s = 'stale'`);
    // Once page 1 is committed (page 2 is already being fetched ahead), every read fails
    // (resets beyond all retries): the run stops after page 2.
    await setParams({ source: { type: 'bigquery', query: QUERY }, pageSize: 300 });
    const partial = await run({ emit: (e) => { if (e.type === 'run:progress' && e.page === 1) server.injectFault('getQueryResults', { type: 'reset' }, 100); } });
    expect(partial).toMatchObject({ status: 'failed', rowsProcessed: 600 });
    expect(partial.errorDetails).toMatchObject({ retryable: true });
    server.clearFaults();
    const { rows: [{ stale }] } = await pool.query(`SELECT count(*)::int AS stale FROM sqp.bq_types WHERE s = 'stale'`);
    expect(stale).toBe(N); // 600 rows staged, none published
    const before = server.count('insertJob');
    const mark = server.requests.length;
    const resumed = await run();
    expect(resumed).toMatchObject({ status: 'success', resumed: true });
    expect(server.count('insertJob')).toBe(before); // no new job: it continued the old one
    expect(resumed.rowsProcessed).toBe(N); // 600 before the stop + 400 read now
    // Only pages 3 and 4 were read again, with the page token the checkpoint kept.
    const reads = server.requests.slice(mark).filter((r) => r.route === 'getQueryResults');
    expect(reads).toHaveLength(2);
    expect(reads.every((r) => JSON.stringify(r.search).includes('pageToken'))).toBe(true);
    expect(await tableChecksum(pool, 'sqp.bq_types', COLS)).toEqual(await tableChecksum(pool, 'public.expected', COLS));
  });
});

describe('cost guard', () => {
  it('the daily byte budget stops a refresh before it runs', async () => {
    await setParams({ source: { type: 'bigquery', query: QUERY } });
    const spent = (await pool.query(`SELECT coalesce(sum((sync_metadata->>'bytesBilled')::numeric), 0)::bigint AS n FROM sqp.refresh_audit_log`)).rows[0].n;
    // 5,000,000 bytes processed bill as at least 10 MB: the query's minimum, which the estimate includes.
    const result = await run({ dailyByteBudget: BigInt(spent) + 6_000_000n });
    expect(result).toMatchObject({ status: 'failed', rowsProcessed: 0 });
    expect(result.errorMessage).toMatch(/daily BigQuery byte budget exceeded/);
    expect(result.errorDetails).toMatchObject({ reason: 'budgetExceeded', estimateBytes: '10485760', retryable: false });
    expect(server.queries.filter((q) => !q.dryRun)).toHaveLength(0); // only the dry run reached BigQuery
    const ok = await run({ dailyByteBudget: BigInt(spent) + 10_485_760n });
    expect(ok.status).toBe('success');
  });

  it('maximumBytesBilled is sent with the job and a job over it fails with BigQuery\'s reason', async () => {
    await setParams({ source: { type: 'bigquery', query: QUERY, maximumBytesBilled: 1_000_000 } });
    const result = await run();
    expect(result.status).toBe('failed');
    expect(result.errorDetails).toMatchObject({ reason: 'bytesBilledLimitExceeded', retryable: false });
    expect(server.queries.find((q) => !q.dryRun)?.maximumBytesBilled).toBe('1000000');
  });

  it('skips the query when no table it reads changed since the last success: success/unchanged, no query job, 0 bytes; a change or a force queries', async () => {
    server.reset();
    server.addQuery(QUERY, { schema: SCHEMA, rows: { count: N, at: rowAt }, bytesProcessed: 5_000_000, bytesBilled: 10_485_760, referencedTables: ['proj.ds.types'] });
    server.setTable('proj.ds.types', { lastModifiedTime: 1_700_000_000_000 });
    await setParams({ source: { type: 'bigquery', query: QUERY }, pageSize: 400 });
    const queryJobs = () => server.queries.filter((q) => !q.dryRun).length;
    const first = await run();
    expect(first).toMatchObject({ status: 'success', outcome: 'completed', rowsProcessed: N });
    expect(queryJobs()).toBe(1);

    const started = performance.now();
    const unchanged = await run();
    const ms = performance.now() - started;
    expect(unchanged).toMatchObject({ status: 'success', outcome: 'unchanged', rowsProcessed: 0, rowsInserted: 0, rowsUpdated: 0 });
    expect(queryJobs()).toBe(1); // no jobs.insert of a query job
    const { rows: [row] } = await pool.query(`SELECT status, rows_processed, sync_metadata FROM sqp.refresh_audit_log WHERE id = $1`, [unchanged.runId]);
    expect(row).toMatchObject({ status: 'success', rows_processed: 0, sync_metadata: expect.objectContaining({ outcome: 'unchanged', bytesBilled: '0', unchangedSince: first.runId }) });
    expect(await tableChecksum(pool, 'sqp.bq_types', ['id', 'big', 'num', 'd', 'ts', 's', 'b', 'f'])).toEqual(await tableChecksum(pool, 'public.expected', ['id', 'big', 'num', 'd', 'ts', 's', 'b', 'f']));
    console.log(`unchanged run: ${ms.toFixed(1)} ms, no query job`);

    // Unchanged twice in a row still compares with what the last real read saw.
    expect((await run()).outcome).toBe('unchanged');
    // A forced run always queries.
    expect(await run({ force: true })).toMatchObject({ outcome: 'completed', rowsProcessed: N });
    expect(queryJobs()).toBe(2);
    // A write to a table the query reads: the next run queries.
    server.touchTable('proj.ds.types');
    expect(await run()).toMatchObject({ outcome: 'completed', rowsProcessed: N });
    expect(queryJobs()).toBe(3);
    // A table can opt out (views over non-deterministic functions).
    await setParams({ source: { type: 'bigquery', query: QUERY, skipWhenUnchanged: false }, pageSize: 400 });
    expect((await run()).outcome).toBe('completed');
    expect(queryJobs()).toBe(4);
  });
});
