// The BigQuery source against the local BigQuery REST test server and the real client:
// paging and polling, exact types, retries (the client's and ours), resume, limits, dry runs,
// timeouts and abort.
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  FAST_RETRY_OPTIONS,
  testBigQuerySource,
  startBigQueryTestServer,
  type BigQueryTestServer,
  type Fault,
  type FieldSpec,
} from './support/bigquery-server.ts';
import {
  jobLabels,
  labelValue,
  type BigQueryOpenReadRequest,
  type BigQueryResumeState,
  type BigQuerySourceSettings,
} from '../src/runner/sources/bigquery/bigquery.ts';
import { microsToIso, plainDecimal, timestampText, toText } from '../src/runner/sources/bigquery/bigquery-types.ts';
import { SourceError, type SourcePage, type SourceRead } from '../src/runner/sources/source.ts';

process.env['METADATA_SERVER_DETECTION'] = 'none';

const SQL = 'SELECT asin, clicks FROM sqp.asin_daily WHERE day >= @since';
const SCHEMA: FieldSpec[] = [
  { name: 'asin', type: 'STRING', mode: 'REQUIRED' },
  { name: 'clicks', type: 'INT64' },
];
const rowsOf = (n: number) => Array.from({ length: n }, (_, i) => ({ asin: `B${String(i).padStart(4, '0')}`, clicks: i * 10 }));
const textRowsOf = (n: number) => rowsOf(n).map((r) => [r.asin, String(r.clicks)]);

let server: BigQueryTestServer;

beforeAll(async () => {
  server = await startBigQueryTestServer({ projectId: 'sqp-test' });
});

afterAll(async () => {
  await server.close();
});

beforeEach(() => {
  server.reset();
});

function source(extra: Partial<BigQuerySourceSettings> = {}) {
  return testBigQuerySource(server, extra);
}

function request(extra: Partial<BigQueryOpenReadRequest> = {}): BigQueryOpenReadRequest {
  return {
    table: { schema: 'sqp', name: 'asin_performance_data' },
    params: { since: '2024-01-01' },
    pageSize: 3,
    keyColumns: ['asin'],
    source: { query: SQL },
    ...extra,
  };
}

async function collect(read: SourceRead, limit = Infinity): Promise<SourcePage[]> {
  const pages: SourcePage[] = [];
  for await (const page of read.pages()) {
    pages.push(page);
    if (pages.length >= limit) break;
  }
  return pages;
}

async function readAll(extra: Partial<BigQueryOpenReadRequest> = {}, settings: Partial<BigQuerySourceSettings> = {}) {
  const read = await source(settings).open(request(extra));
  const pages = await collect(read);
  await read.close();
  return { read, pages, rows: pages.flatMap((p) => p.rows) };
}

async function sourceError(p: Promise<unknown>): Promise<SourceError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(SourceError);
    return err as SourceError;
  }
  throw new Error('expected a SourceError');
}

describe('query job and paging', () => {
  it('starts one job with params, labels and location, polls while it runs, and pages through', async () => {
    server.addQuery(SQL, {
      schema: SCHEMA,
      rows: rowsOf(8),
      bytesProcessed: 2048,
      bytesBilled: 10_485_760,
      pendingPolls: 2,
      cacheHit: false,
    });
    const read = await source().open(
      request({
        source: { query: SQL, params: { day: '2024-03-01', limit: 5, ratio: 0.5, flag: true, nothing: null, since: 'x' }, location: 'EU' },
      }),
    );
    expect(read.columns).toEqual(['asin', 'clicks']);
    expect(read.totalRows).toBe(8);
    const jobId = server.queries[0]!.jobId!;
    expect(jobId).toMatch(/^sqp_refresh_sqp_asin_performance_data_/);
    expect(read.stats).toEqual({
      jobId, location: 'EU', bytesProcessed: 2048n, bytesBilled: 10_485_760n, cacheHit: false,
      jobs: [{ jobId, location: 'EU', outcome: 'read', bytesBilled: '10485760' }],
    });

    const pages = await collect(read);
    await read.close();
    expect(pages.map((p) => p.rows.length)).toEqual([3, 3, 2]);
    expect(pages.flatMap((p) => p.rows)).toEqual(textRowsOf(8));
    expect(pages[0]!.resumeAfter).toEqual({ jobId, location: 'EU', pageToken: expect.any(String) });
    expect(pages[1]!.resumeAfter).toEqual({ jobId, location: 'EU', pageToken: expect.any(String) });
    expect(pages[2]!.resumeAfter).toBeNull();

    // What reached the server: one job, two polls, three pages, one jobs.get.
    expect(server.count('insertJob')).toBe(1);
    expect(server.count('getQueryResults')).toBe(5);
    expect(server.count('getJob')).toBe(1);
    const [received] = server.queries;
    expect(received).toMatchObject({
      via: 'jobs.insert',
      location: 'EU',
      dryRun: false,
      labels: { app: 'sqp-refresh', table: 'sqp_asin_performance_data' },
      // request.params win over the table's params
      params: { day: '2024-03-01', limit: '5', ratio: '0.5', flag: 'true', nothing: null, since: '2024-01-01' },
    });
    expect(received!.maximumBytesBilled).toBeUndefined();
    expect(received!.body).toMatchObject({ configuration: { query: { useLegacySql: false, parameterMode: 'named' } } });
    const reads = server.requests.filter((r) => r.route === 'getQueryResults');
    expect(reads.map((r) => r.search['maxResults'])).toEqual(['3', '3', '3', '3', '3']);
    expect(reads.map((r) => r.search['location'])).toEqual(['EU', 'EU', 'EU', 'EU', 'EU']);
    expect(reads.slice(0, 3).map((r) => r.search['pageToken'])).toEqual([undefined, undefined, undefined]);
    expect(reads[3]!.search['pageToken']).toBe((pages[0]!.resumeAfter as BigQueryResumeState).pageToken);
    expect(reads[4]!.search['pageToken']).toBe((pages[1]!.resumeAfter as BigQueryResumeState).pageToken);
  });

  it('uses the settings location by default and reports cache hits', async () => {
    server.addQuery(SQL, { schema: SCHEMA, rows: rowsOf(2), bytesProcessed: 0, cacheHit: true });
    const { read, pages } = await readAll({}, { location: 'asia-northeast1' });
    expect(server.queries[0]!.location).toBe('asia-northeast1');
    expect(read.stats).toMatchObject({ location: 'asia-northeast1', bytesProcessed: 0n, bytesBilled: 0n, cacheHit: true });
    expect(pages).toHaveLength(1);
    expect(pages[0]!.resumeAfter).toBeNull();
  });

  it('passes timeoutMs to jobs.getQueryResults and still polls when the client reports jobComplete:false as an error', async () => {
    server.addQuery(SQL, { schema: SCHEMA, rows: rowsOf(4), pendingPolls: 2 });
    const { rows } = await readAll({}, { queryResultsTimeoutMs: 1_000 });
    expect(rows).toEqual(textRowsOf(4));
    const reads = server.requests.filter((r) => r.route === 'getQueryResults');
    expect(reads).toHaveLength(4);
    expect(reads.every((r) => r.search['timeoutMs'] === '1000')).toBe(true);
  });

  it('an empty result is one empty last page', async () => {
    server.addQuery(SQL, { schema: SCHEMA, rows: [] });
    const { read, pages } = await readAll();
    expect(read.totalRows).toBe(0);
    expect(read.columns).toEqual(['asin', 'clicks']);
    expect(pages).toEqual([{ rows: [], resumeAfter: null }]);
  });

  it('sanitises labels to BigQuery label rules', () => {
    expect(jobLabels({ schema: 'SQP', name: 'Weird.Name Ünïcode' })).toEqual({ app: 'sqp-refresh', table: 'sqp_weird_name_n_code' });
    expect(labelValue('x'.repeat(100))).toHaveLength(63);
  });

  it('a job that fails while running fails the read with its reason, not retried', async () => {
    server.addQuery(SQL, { schema: SCHEMA, pendingPolls: 1, fail: { reason: 'resourcesExceeded', message: 'Resources exceeded' } });
    const err = await sourceError(source().open(request()));
    expect(err.details).toMatchObject({ code: 400, reason: 'resourcesExceeded', retryable: false });
    expect(server.count('getQueryResults')).toBe(2);
  });
});

describe('exact types', () => {
  const schema: FieldSpec[] = [
    { name: 'i1', type: 'INT64' },
    { name: 'i2', type: 'INTEGER' },
    { name: 'num', type: 'NUMERIC' },
    { name: 'big', type: 'BIGNUMERIC' },
    { name: 'f', type: 'FLOAT64' },
    { name: 'b', type: 'BOOL' },
    { name: 's', type: 'STRING' },
    { name: 'd', type: 'DATE' },
    { name: 'dt', type: 'DATETIME' },
    { name: 'ts', type: 'TIMESTAMP' },
    { name: 'j', type: 'JSON' },
    { name: 'by', type: 'BYTES' },
    { name: 't', type: 'TIME' },
    {
      name: 'rec',
      type: 'RECORD',
      fields: [
        { name: 'x', type: 'INT64' },
        { name: 'y', type: 'STRING' },
        { name: 'at', type: 'TIMESTAMP' },
        { name: 'n', type: 'NUMERIC' },
        { name: 'nan', type: 'FLOAT64' },
        { name: 'ok', type: 'BOOL' },
        { name: 'tags', type: 'STRING', mode: 'REPEATED' },
      ],
    },
    { name: 'ids', type: 'INT64', mode: 'REPEATED' },
  ];
  const sql = 'SELECT * FROM types';

  it('round-trips every type exactly as PostgreSQL text input; NULL in each type', async () => {
    server.addQuery(sql, {
      schema,
      rows: [
        {
          i1: 9_007_199_254_740_993n,
          i2: '-9223372036854775808',
          num: '123456789012345678901234567.123456789',
          big: '-123456789012345678901234567890.12345678901234567890123456789',
          f: 0.1 + 0.2,
          b: true,
          s: 'ä "quoted"\ttab',
          d: '2024-03-10',
          dt: '2024-03-10T12:34:56.123456',
          ts: '2024-03-10T12:34:56.123456Z',
          j: { a: [1, 2], b: 'x' },
          by: new Uint8Array([0, 255, 16]),
          t: '12:34:56.5',
          rec: { x: '9007199254740993', y: 'a"b', at: '2024-03-10T12:34:56.000001Z', n: '1.50', nan: NaN, ok: false, tags: ['p', 'q'] },
          ids: [1, '9223372036854775807'],
        },
        { i1: 0, f: NaN, b: false, dt: '2024-03-10T12:34:56.5', ts: '1969-12-31T23:59:59.999999Z' },
        { f: Infinity, ts: '0001-01-01T00:00:00Z', rec: { x: null, tags: [] } },
        { f: -Infinity, ts: '9999-12-31T23:59:59.999999Z' },
        { f: 1e-7, ts: 0n },
        {}, // NULL in every column
      ],
    });
    const { read, rows } = await readAll({ source: { query: sql }, pageSize: 100 });
    expect(read.columns).toEqual(schema.map((f) => f.name));
    expect(rows[0]).toEqual([
      '9007199254740993',
      '-9223372036854775808',
      '123456789012345678901234567.123456789',
      '-123456789012345678901234567890.12345678901234567890123456789',
      '0.30000000000000004',
      'true',
      'ä "quoted"\ttab',
      '2024-03-10',
      '2024-03-10T12:34:56.123456',
      '2024-03-10T12:34:56.123456Z',
      '{"a":[1,2],"b":"x"}',
      '\\x00ff10',
      '12:34:56.5',
      '{"x":9007199254740993,"y":"a\\"b","at":"2024-03-10T12:34:56.000001Z","n":1.50,"nan":"NaN","ok":false,"tags":["p","q"]}',
      '[1,9223372036854775807]',
    ]);
    expect(rows[1]!.slice(0, 10)).toEqual(['0', null, null, null, 'NaN', 'false', null, null, '2024-03-10T12:34:56.5', '1969-12-31T23:59:59.999999Z']);
    expect(rows[2]![4]).toBe('Infinity');
    expect(rows[2]![9]).toBe('0001-01-01T00:00:00.000000Z');
    expect(rows[2]![13]).toBe('{"x":null,"y":null,"at":null,"n":null,"nan":null,"ok":null,"tags":[]}');
    expect(rows[3]![4]).toBe('-Infinity');
    expect(rows[3]![9]).toBe('9999-12-31T23:59:59.999999Z');
    expect(rows[4]![4]).toBe('1e-7');
    expect(rows[4]![9]).toBe('1970-01-01T00:00:00.000000Z');
    // NULL in each type; a NULL array is [] in BigQuery.
    expect(rows[5]).toEqual([...Array<null>(14).fill(null), '[]']);
    // PostgreSQL reads every float text back to the same double.
    expect(Number(rows[0]![4])).toBe(0.1 + 0.2);
  });

  it('reads decimal and timestamp spellings other than the default exactly', () => {
    expect(plainDecimal('1.5E-7')).toBe('0.00000015');
    expect(plainDecimal('-1.25e3')).toBe('-1250');
    expect(plainDecimal('1.0E2')).toBe('100');
    expect(plainDecimal('123456789012345678901234567.123456789')).toBe('123456789012345678901234567.123456789');
    expect(toText({ name: 'n', type: 'NUMERIC' }, '9.99999999999999999999999999999E28')).toBe('99999999999999999999999999999.9');
    expect(toText({ name: 'i', type: 'INTEGER' }, '1.0E3')).toBe('1000');
    expect(toText({ name: 'f', type: 'FLOAT' }, '1.2345678901234567E18')).toBe('1234567890123456800');
    expect(toText({ name: 'f', type: 'FLOAT' }, '-0')).toBe('-0');
    expect(toText({ name: 'dt', type: 'DATETIME' }, '2024-03-10 12:34:56')).toBe('2024-03-10T12:34:56');
    expect(timestampText('1.710074096123456E9')).toBe('2024-03-10T12:34:56.123456Z');
    expect(timestampText('2024-03-10T12:34:56.123456789Z')).toBe('2024-03-10T12:34:56.123456Z');
    expect(timestampText('2024-03-10 14:34:56.5+02:00')).toBe('2024-03-10T12:34:56.500000Z');
    expect(microsToIso(-1n)).toBe('1969-12-31T23:59:59.999999Z');
  });
});

describe('errors and retries', () => {
  const transient: [string, Fault][] = [
    ['429', { type: 'http', status: 429 }],
    ['500', { type: 'http', status: 500 }],
    ['503', { type: 'http', status: 503 }],
    ['connection reset', { type: 'reset' }],
  ];

  beforeEach(() => {
    server.addQuery(SQL, { schema: SCHEMA, rows: rowsOf(5), bytesProcessed: 100 });
  });

  it.each(transient)('jobs.insert: %s twice, then the read succeeds', async (_name, fault) => {
    server.injectFault('insertJob', fault, 2);
    const { rows } = await readAll();
    expect(rows).toEqual(textRowsOf(5));
    expect(server.count('insertJob')).toBe(3);
    expect(server.pendingFaults()).toBe(0);
  });

  it.each(transient)('jobs.getQueryResults: %s twice, then the read succeeds', async (_name, fault) => {
    const read = await source().open(request());
    server.injectFault('getQueryResults', fault, 2);
    const pages = await collect(read);
    expect(pages.flatMap((p) => p.rows)).toEqual(textRowsOf(5));
    expect(server.count('getQueryResults')).toBe(4); // page 1, then 2 faults + page 2
    expect(server.pendingFaults()).toBe(0);
  });

  it.each(transient)('%s beyond the client retries is retried by us', async (_name, fault) => {
    // A results read: the client retries a broken connection (4 requests per call), never an
    // HTTP answer (1 request per call; bigquery-results.ts says why), so one fault more than a
    // call absorbs reaches our own retry.
    const perCall = fault.type === 'reset' ? 4 : 1;
    server.injectFault('getQueryResults', fault, perCall + 1);
    const { rows } = await readAll();
    expect(rows).toEqual(textRowsOf(5));
    expect(server.count('getQueryResults')).toBe(perCall + 1 + 2);
  });

  it('an insert that reached BigQuery but lost its answer does not run the query twice', async () => {
    server.injectFault('insertJob', { type: 'reset', afterProcessing: true });
    const { rows, read } = await readAll();
    expect(rows).toEqual(textRowsOf(5));
    expect(server.requests.slice(0, 3).map((r) => r.route)).toEqual(['insertJob', 'insertJob', 'getJob']);
    expect(new Set(server.queries.map((q) => q.jobId))).toEqual(new Set([read.stats.jobId]));
  });

  it('403 rateLimitExceeded (not retried by the client) is retried by us', async () => {
    server.injectFault('insertJob', { type: 'http', status: 403, reason: 'rateLimitExceeded' }, 2);
    server.injectFault('getQueryResults', { type: 'http', status: 403, reason: 'rateLimitExceeded' }, 1);
    const { rows } = await readAll();
    expect(rows).toEqual(textRowsOf(5));
    expect(server.count('insertJob')).toBe(3);
    expect(server.count('getQueryResults')).toBe(3);
  });

  it('a 400 fails at once with its code and reason, not retried', async () => {
    const read = await source().open(request());
    server.injectFault('getQueryResults', { type: 'http', status: 400, reason: 'invalid', message: 'Bad page' });
    const err = await sourceError(collect(read));
    expect(err.details).toEqual({
      code: 400,
      reason: 'invalid',
      retryable: false,
      message: 'Bad page',
      operation: 'jobs.getQueryResults',
      attempts: 1,
      jobId: read.stats.jobId,
      jobLocation: 'US',
    });
    expect(server.count('getQueryResults')).toBe(2); // page 1, the 400
    expect(JSON.stringify(err.details)).not.toMatch(/stack|authorization|token/i);
  });

  it('an invalid query fails at insert, once, with reason and error location', async () => {
    const err = await sourceError(source().open(request({ source: { query: 'SELECT nothing_registered' } })));
    expect(err.details).toMatchObject({ reason: 'invalidQuery', location: 'query', retryable: false, operation: 'jobs.insert' });
    expect(err.details['message']).toContain('no fixture');
    expect(server.count('insertJob')).toBe(1);
    expect(server.count('getQueryResults')).toBe(0);
  });

  it('an HTTP 403 accessDenied fails at once', async () => {
    server.injectFault('insertJob', { type: 'http', status: 403, reason: 'accessDenied', message: 'Access Denied' });
    const err = await sourceError(source().open(request()));
    expect(err.details).toMatchObject({ code: 403, reason: 'accessDenied', retryable: false, message: 'Access Denied' });
    expect(server.count('insertJob')).toBe(1);
  });

  it('retries stop after the configured attempts', async () => {
    server.injectFault('insertJob', { type: 'http', status: 403, reason: 'rateLimitExceeded' }, 10);
    const err = await sourceError(source({ retry: { attempts: 4, baseDelayMs: 1, maxDelayMs: 1 } }).open(request()));
    expect(err.details).toMatchObject({ code: 403, reason: 'rateLimitExceeded', retryable: true, attempts: 4 });
    expect(server.count('insertJob')).toBe(4);

    server.reset();
    server.addQuery(SQL, { schema: SCHEMA, rows: rowsOf(5) });
    server.injectFault('getQueryResults', { type: 'http', status: 503 }, 100);
    const err2 = await sourceError(source({ retry: { attempts: 2, baseDelayMs: 1, maxDelayMs: 1 } }).open(request()));
    expect(err2.details).toMatchObject({ code: 503, reason: 'backendError', retryable: true, attempts: 2 });
    expect(server.count('getQueryResults')).toBe(2); // 2 of ours; the client retries no HTTP answer of a results read
  });

  it('with the client retries off, each of our attempts is one request', async () => {
    server.injectFault('getQueryResults', { type: 'reset' }, 100);
    const err = await sourceError(source({ clientRetryOptions: { autoRetry: false } }).open(request()));
    expect(err.details).toMatchObject({ code: 'ECONNRESET', retryable: true, attempts: 3 });
    expect(server.count('getQueryResults')).toBe(3);
  });

  it('bounds every call with its own timeout, also when the client would hang', async () => {
    // A slow answer: our timeout fires, our retry gets the answer.
    server.injectFault('getQueryResults', { type: 'delay', ms: 400 });
    const { rows } = await readAll({}, { requestTimeoutMs: 100 });
    expect(rows).toEqual(textRowsOf(5));
    expect(server.count('getQueryResults')).toBe(2 + 1);

    // A retry due after the client's totalTimeout never settles: our timeout turns it into a retry.
    server.reset();
    server.addQuery(SQL, { schema: SCHEMA, rows: rowsOf(5) });
    server.injectFault('getQueryResults', { type: 'http', status: 503, delayMs: 100 });
    const started = Date.now();
    const hung = await readAll({}, { requestTimeoutMs: 300, clientRetryOptions: { ...FAST_RETRY_OPTIONS, totalTimeout: 0.05 } });
    expect(hung.rows).toEqual(textRowsOf(5));
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(server.count('getQueryResults')).toBe(1 + 2); // the 503 that hung the client, then 2 pages

    // Always too slow: a retryable timeout after the attempts.
    server.injectFault('getQueryResults', { type: 'delay', ms: 400 }, 3);
    const err = await sourceError(source({ requestTimeoutMs: 50 }).open(request()));
    expect(err.details).toMatchObject({ code: 'ETIMEDOUT', reason: 'timeout', retryable: true, attempts: 3 });
  });

  it('maximumBytesBilled below the bytes billed fails with bytesBilledLimitExceeded', async () => {
    server.addQuery(SQL, { schema: SCHEMA, rows: rowsOf(5), bytesProcessed: 5_000_000, bytesBilled: 10_485_760 });
    const err = await sourceError(source().open(request({ source: { query: SQL, maximumBytesBilled: 1_000_000n } })));
    expect(err.details).toMatchObject({ reason: 'bytesBilledLimitExceeded', retryable: false });
    expect(err.message).toContain('Query exceeded limit for bytes billed');
    expect(server.queries[0]!.maximumBytesBilled).toBe('1000000');
    expect(server.count('insertJob')).toBe(1);

    const ok = await source().open(request({ source: { query: SQL, maximumBytesBilled: 10_485_760n } }));
    expect(server.queries[1]!.maximumBytesBilled).toBe('10485760');
    expect(ok.stats.bytesBilled).toBe(10_485_760n);
  });

  it('a request without source params is refused', async () => {
    const bad = { ...request(), source: undefined } as unknown as BigQueryOpenReadRequest;
    const err = await sourceError(source().open(bad));
    expect(err.details).toMatchObject({ reason: 'invalid', retryable: false });
    expect(server.requests).toHaveLength(0);
  });
});

describe('resume', () => {
  beforeEach(() => {
    server.addQuery(SQL, { schema: SCHEMA, rows: rowsOf(10), bytesProcessed: 4096, bytesBilled: 10_485_760 });
  });

  it('a new source opened with the resumeAfter of page k yields exactly pages k+1..n, without a new job', async () => {
    const full = (await readAll()).pages;
    expect(full.map((p) => p.rows.length)).toEqual([3, 3, 3, 1]);
    server.reset();
    server.addQuery(SQL, { schema: SCHEMA, rows: rowsOf(10), bytesProcessed: 4096, bytesBilled: 10_485_760 });

    const first = await source().open(request());
    const head = await collect(first, 2);
    await first.close();
    expect(head.map((p) => p.rows)).toEqual(full.slice(0, 2).map((p) => p.rows));
    const state = JSON.parse(JSON.stringify(head[1]!.resumeAfter)) as BigQueryResumeState; // as a checkpoint stores it
    expect(server.count('insertJob')).toBe(1);

    const resumed = await source().open(request({ resume: state }));
    expect(resumed.columns).toEqual(['asin', 'clicks']);
    expect(resumed.totalRows).toBe(10);
    // Continuing a job bills nothing: no bytes for this slice, and no jobs.get.
    expect(resumed.stats).toEqual({ jobId: first.stats.jobId, location: 'US' });
    expect(server.count('getJob')).toBe(1);
    const tail = await collect(resumed);
    expect(tail.map((p) => p.rows)).toEqual(full.slice(2).map((p) => p.rows));
    expect(tail[tail.length - 1]!.resumeAfter).toBeNull();
    expect(server.count('insertJob')).toBe(1);
    const reads = server.requests.filter((r) => r.route === 'getQueryResults');
    expect(reads[2]!.search['pageToken']).toBe(state.pageToken);
  });

  it('an expired job on resume gives notFound with expired: true', async () => {
    const first = await source().open(request());
    const [page] = await collect(first, 1);
    server.reset(); // BigQuery forgot the job
    const err = await sourceError(source().open(request({ resume: page!.resumeAfter! })));
    expect(err.details).toMatchObject({ code: 404, reason: 'notFound', retryable: false, expired: true });
    // 404 is not retried (the first read's page-ahead fetch may also have reached the server).
    const token = (page!.resumeAfter as { pageToken: string }).pageToken;
    const reads = server.requests.filter((r) => r.route === 'getQueryResults' && JSON.stringify(r.search).includes(token)).length;
    expect(reads).toBeGreaterThanOrEqual(1);
    expect(reads).toBeLessThanOrEqual(2); // a retry would make it 3 or more
    expect(server.count('insertJob')).toBe(0);
  });

  it('a resume state this source did not write is refused as expired', async () => {
    const err = await sourceError(source().open(request({ resume: { key: 'B0001' } })));
    expect(err.details).toMatchObject({ reason: 'invalidResumeState', retryable: false, expired: true });
  });
});

describe('dry run', () => {
  it('estimateBytes returns totalBytesProcessed rounded up to the MB, and runs nothing', async () => {
    server.addQuery(SQL, { schema: SCHEMA, rows: rowsOf(5), bytesProcessed: 123_456_789 });
    const bytes = await source().estimateBytes(request({ source: { query: SQL, maximumBytesBilled: 1n } }));
    expect(bytes).toBe(118n * 1024n * 1024n); // 117.7 MB billed as 118 MB
    expect(server.queries).toHaveLength(1);
    expect(server.queries[0]).toMatchObject({ dryRun: true, params: { since: '2024-01-01' } });
    expect(server.queries[0]!.jobId).toBeUndefined();
    expect(server.count('getQueryResults')).toBe(0);
  });

  it('a dry run of a bad query fails at once', async () => {
    const err = await sourceError(source().estimateBytes(request({ source: { query: 'SELECT nope' } })));
    expect(err.details).toMatchObject({ code: 400, reason: 'invalidQuery', retryable: false });
  });
});

describe('abort', () => {
  it('stops polling a running job promptly, and cancels it', async () => {
    server.addQuery(SQL, { schema: SCHEMA, rows: rowsOf(5), pendingPolls: 1_000 });
    const controller = new AbortController();
    const opening = source({ poll: { initialDelayMs: 60_000, maxDelayMs: 60_000 } }).open(request({ signal: controller.signal }));
    const outcome = opening.catch((err: unknown) => err);
    await vi.waitFor(() => expect(server.count('getQueryResults')).toBe(1));
    const started = Date.now();
    controller.abort();
    const err = (await outcome) as Error;
    expect(err.name).toBe('AbortError');
    expect(Date.now() - started).toBeLessThan(500);
    expect(server.count('getQueryResults')).toBe(1);
    const jobId = server.queries[0]!.jobId!;
    await vi.waitFor(() => expect(server.job(jobId)?.cancelled).toBe(true));
  });

  it('abandons a page request in flight', async () => {
    server.addQuery(SQL, { schema: SCHEMA, rows: rowsOf(5) });
    const controller = new AbortController();
    const read = await source().open(request({ signal: controller.signal }));
    const it = read.pages()[Symbol.asyncIterator]();
    await it.next();
    server.injectFault('getQueryResults', { type: 'delay', ms: 1_000 });
    const next = it.next().catch((err: unknown) => err);
    await vi.waitFor(() => expect(server.count('getQueryResults')).toBe(2));
    const started = Date.now();
    controller.abort(new Error('run stopped'));
    expect(((await next) as Error).message).toBe('run stopped');
    expect(Date.now() - started).toBeLessThan(500);
  });

  it('an aborted signal starts nothing', async () => {
    server.addQuery(SQL, { schema: SCHEMA, rows: rowsOf(5) });
    await expect(source().open(request({ signal: AbortSignal.abort() }))).rejects.toMatchObject({ name: 'AbortError' });
    expect(server.requests).toHaveLength(0);
  });
});
