/**
 * Proves that the real @google-cloud/bigquery client works against
 * test/support/bigquery-server.ts, and pins down what the client does on the wire.
 *
 * Findings about the client, checked here against the installed versions
 * (@google-cloud/bigquery 9.3.0 — 8.3.1 behaved the same except where noted — @google-cloud/common 6.1.0, retry-request 8.0.4,
 * teeny-request 10.1.4 on node-fetch 3.3.2):
 *
 *  - Retries. The client retries HTTP 408/429/500/502/503/504 and any error whose reason is
 *    rateLimitExceeded or userRateLimitExceeded; 9.x no longer retries BigQuery's 403
 *    rateLimitExceeded (8.x did), so the engine must; never other 4xx. `retryOptions.maxRetries` (default 3) is the number of RETRIES, so a
 *    call makes up to 4 requests.
 *  - Connection reset: retried for GET and POST alike. retry-request's `noResponseRetries`
 *    applies to every request that got no response, whatever its method, and
 *    @google-cloud/common sets it to maxRetries. That is safe for the two POSTs the client
 *    makes: jobs.insert carries a client-generated jobId, so a retry of an insert that did
 *    reach the server gets 409 duplicate, which createJob turns into a jobs.get of the job it
 *    created (but only when the CALLER did not pass `jobId`: with a caller-chosen jobId the
 *    409 is thrown to the caller); jobs.query carries a random `requestId` that BigQuery (and
 *    this server) uses to answer a retry for the same job.
 *  - `retryOptions.maxRetries: 0` is ignored (0 is falsy, the default 3 applies); use
 *    `autoRetry: false` to disable retries.
 *  - retry-request reads `maxRetryDelay` and `totalTimeout` in SECONDS; the wait before retry n
 *    is min(retryDelayMultiplier^n s + up to 1 s of jitter, maxRetryDelay, time left before
 *    totalTimeout). If the totalTimeout deadline has passed when a retry is due, retry-request
 *    gives up WITHOUT calling back: the client's promise never settles. Same for maxRetryDelay: 0.
 *  - The client's `timeout` option is passed to node-fetch 3 as `timeout`, which node-fetch 3
 *    no longer supports: there is no per-request timeout at all. A server that never answers
 *    hangs the call; callers must bound it themselves.
 *  - INT64 arrives as a string; by default the client converts it with Number() and silently
 *    loses precision above 2^53. `wrapIntegers: { integerTypeCastFunction: BigInt }` gives
 *    exact bigints; `wrapIntegers: true` gives BigQueryInt objects whose `.value` is the string.
 *  - job.getQueryResults always sends `formatOptions.useInt64Timestamp=true` and then parses
 *    TIMESTAMP as int64 microseconds (it ignores the format of the answer); jobs.query sends
 *    `formatOptions: { useInt64Timestamp: true }` in its body. TIMESTAMP values come back as
 *    BigQueryTimestamp whose `.value` is an ISO string with NANOSECOND digits
 *    ('2024-03-10T12:34:56.123456000Z'); DATE/DATETIME as BigQueryDate /
 *    BigQueryDatetime (`.value` string), NUMERIC/BIGNUMERIC as Big.
 *  - With `autoPaginate: false`, job.getQueryResults resolves to [rows, nextQuery, apiResponse].
 *    nextQuery is null on the last page; on a jobComplete:false answer it is the same options
 *    again (poll again), and rows is []. The typings call nextQuery a `Query`; it is the options.
 *  - With auto-pagination (the default), `maxResults` given as an option caps the TOTAL rows
 *    returned (paginator semantics), it is not a page size; inside bigquery.query()'s query
 *    object it sizes only the jobs.query answer.
 *  - A query job that fails at start comes back from jobs.insert with HTTP 200 and
 *    status.errorResult; createQueryJob rejects with an ApiError whose `errors[0].reason` is the
 *    reason and whose `code` is undefined. Errors answered as HTTP errors carry `code`.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { BigQuery, type Job, type QueryResultsOptions } from '@google-cloud/bigquery';
import {
  FAST_RETRY_OPTIONS,
  startBigQueryTestServer,
  type BigQueryTestServer,
  type Fault,
  type FieldSpec,
  type RowSource,
} from './support/bigquery-server.js';

process.env['METADATA_SERVER_DETECTION'] = 'none';

interface ApiErrorLike {
  /** HTTP status for API errors; a Node error code (e.g. ECONNRESET) when no answer came. */
  code?: number | string;
  message: string;
  errors?: { reason?: string; message?: string }[];
}

async function rejection(p: Promise<unknown>): Promise<ApiErrorLike> {
  try {
    await p;
  } catch (err) {
    return err as ApiErrorLike;
  }
  throw new Error('expected a rejection');
}

/** Settles to 'pending' if `p` has not settled within `ms`. */
function settledWithin(p: Promise<unknown>, ms: number): Promise<'resolved' | 'rejected' | 'pending'> {
  return Promise.race([
    p.then(
      () => 'resolved' as const,
      () => 'rejected' as const,
    ),
    new Promise<'pending'>((r) => setTimeout(() => r('pending'), ms)),
  ]);
}

const SMALL: FieldSpec[] = [{ name: 'n', type: 'INT64' }];

let server: BigQueryTestServer;
let bq: BigQuery;

beforeAll(async () => {
  server = await startBigQueryTestServer({ projectId: 'sqp-test' });
  bq = new BigQuery(server.clientOptions());
});

afterAll(async () => {
  await server.close();
});

beforeEach(() => {
  server.reset();
  server.addQuery('SELECT 1 AS n', { schema: SMALL, rows: [{ n: 1 }], bytesProcessed: 10 });
});

describe('query jobs and paging', () => {
  it('createQueryJob, then pages by hand through getQueryResults, including a jobComplete:false poll', async () => {
    const sql = 'SELECT asin, clicks FROM sqp.asin_daily WHERE day = @day';
    const all = Array.from({ length: 7 }, (_, i) => ({ asin: `B00${i}`, clicks: i * 10 }));
    server.addQuery(sql, {
      schema: [
        { name: 'asin', type: 'STRING', mode: 'REQUIRED' },
        { name: 'clicks', type: 'INT64' },
      ],
      rows: all,
      bytesProcessed: 2048,
      bytesBilled: 10_485_760,
      pendingPolls: 1,
    });

    const [job, insertResponse] = await bq.createQueryJob({
      query: `  ${sql}\n`, // exact-string fixtures ignore surrounding and repeated whitespace
      params: { day: '2024-03-01', limit: 5 },
      labels: { refresh: 'asin_daily' },
      location: 'EU',
    });
    expect(job.location).toBe('EU');
    expect(insertResponse.status?.state).toBe('RUNNING');

    const pages: { rows: number; complete: boolean | null | undefined; token?: string | null }[] = [];
    const rows: unknown[] = [];
    let options: QueryResultsOptions | null = { maxResults: 3, autoPaginate: false };
    while (options) {
      const [pageRows, nextQuery, response] = await job.getQueryResults(options);
      pages.push({ rows: pageRows.length, complete: response?.jobComplete, token: response?.pageToken });
      if (response?.jobComplete) expect(response.totalRows).toBe('7');
      rows.push(...pageRows);
      options = (nextQuery ?? null) as QueryResultsOptions | null;
    }
    expect(pages.map((p) => [p.rows, p.complete])).toEqual([
      [0, false],
      [3, true],
      [3, true],
      [1, true],
    ]);
    expect(pages[1]!.token).toEqual(expect.any(String));
    expect(pages[3]!.token).toBeUndefined();
    expect(rows).toEqual(all);

    // What reached the server.
    expect(server.count('insertJob')).toBe(1);
    expect(server.count('getQueryResults')).toBe(4);
    const [received] = server.queries;
    expect(received).toMatchObject({
      via: 'jobs.insert',
      params: { day: '2024-03-01', limit: '5' }, // the client sends INT64 params as JSON numbers
      labels: { refresh: 'asin_daily' },
      location: 'EU',
      dryRun: false,
      jobId: job.id,
    });
    const reads = server.requests.filter((r) => r.route === 'getQueryResults');
    expect(reads[0]!.search).toMatchObject({
      location: 'EU',
      maxResults: '3',
      'formatOptions.useInt64Timestamp': 'true',
      prettyPrint: 'false',
    });
    expect(reads[0]!.search['pageToken']).toBeUndefined();
    expect(reads[2]!.search['pageToken']).toBe(pages[1]!.token);
  });

  it('jobs.get reports RUNNING until the pending polls are used, then bytes processed and billed', async () => {
    server.addQuery(/FROM sqp\.sq_weekly/, {
      schema: SMALL,
      rows: [{ n: 1 }],
      bytesProcessed: 5000,
      bytesBilled: 10_485_760,
      pendingPolls: 1,
    });
    const [job] = await bq.createQueryJob('SELECT n FROM sqp.sq_weekly');
    const [running] = await job.getMetadata();
    expect(running.status?.state).toBe('RUNNING');

    await job.getQueryResults({ autoPaginate: false }); // the one pending poll
    const [done] = await job.getMetadata();
    expect(done.status).toEqual({ state: 'DONE' });
    expect(done.statistics?.query?.totalBytesProcessed).toBe('5000');
    expect(done.statistics?.query?.totalBytesBilled).toBe('10485760');
    expect(done.statistics?.totalBytesProcessed).toBe('5000');
  });

  it('startIndex with a generated 1M-row source encodes only the page asked for', async () => {
    let produced = 0;
    const source: RowSource = {
      count: 1_000_000,
      at: (i) => {
        produced += 1;
        return [i, `row-${i}`];
      },
    };
    server.addQuery('SELECT id, label FROM big', {
      schema: [
        { name: 'id', type: 'INT64' },
        { name: 'label', type: 'STRING' },
      ],
      rows: source,
    });
    const [job] = await bq.createQueryJob('SELECT id, label FROM big');
    const [rows, nextQuery, response] = await job.getQueryResults({
      startIndex: '999998',
      maxResults: 5,
      autoPaginate: false,
    });
    expect(rows).toEqual([
      { id: 999_998, label: 'row-999998' },
      { id: 999_999, label: 'row-999999' },
    ]);
    expect(nextQuery).toBeNull();
    expect(response?.totalRows).toBe('1000000');
    expect(produced).toBe(2);
  });

  it('bigquery.query() takes the jobs.query fast path and pages on through getQueryResults', async () => {
    const all = Array.from({ length: 25 }, (_, i) => ({ n: i }));
    server.addQuery('SELECT n FROM s', { schema: SMALL, rows: all });
    // maxResults inside the query object sizes only the jobs.query answer; later pages use the
    // server's default size.
    const [rows] = await bq.query({ query: 'SELECT n FROM s', maxResults: 10 });
    expect(rows).toEqual(all);
    expect(server.requests.map((r) => r.route)).toEqual(['query', 'getQueryResults']);
    expect(server.requests[1]!.search['pageToken']).toEqual(expect.any(String));
    const body = server.requests[0]!.body as Record<string, unknown>;
    expect(body).toMatchObject({ formatOptions: { useInt64Timestamp: true }, maxResults: 10, useLegacySql: false });
    expect(body['requestId']).toEqual(expect.any(String));
  });

  it('with auto-pagination, maxResults as an OPTION caps the total rows, not the page size', async () => {
    server.addQuery('SELECT n FROM s', { schema: SMALL, rows: Array.from({ length: 25 }, (_, i) => ({ n: i })) });
    const [rows] = await bq.query({ query: 'SELECT n FROM s' }, { maxResults: 10 });
    expect(rows).toHaveLength(10);
    const [job] = await bq.createQueryJob('SELECT n FROM s');
    const [capped] = await job.getQueryResults({ maxResults: 10 });
    expect(capped).toHaveLength(10);
  });

  it('cancel stops a running job; reading its results then fails with reason stopped', async () => {
    server.addQuery('SELECT slow', { schema: SMALL, rows: [], pendingPolls: 100 });
    const [job] = await bq.createQueryJob('SELECT slow');
    const [cancelResponse] = await job.cancel();
    expect(cancelResponse.job?.status?.errorResult?.reason).toBe('stopped');
    const err = await rejection(job.getQueryResults({ autoPaginate: false }));
    expect(err.code).toBe(400);
    expect(err.errors?.[0]?.reason).toBe('stopped');
    expect(server.job(job.id!)).toMatchObject({ state: 'DONE', cancelled: true });
  });
});

describe('types on the wire', () => {
  const schema: FieldSpec[] = [
    { name: 'big', type: 'INT64' },
    { name: 'small', type: 'INTEGER' },
    { name: 'amount', type: 'NUMERIC' },
    { name: 'huge', type: 'BIGNUMERIC' },
    { name: 'ratio', type: 'FLOAT64' },
    { name: 'ok', type: 'BOOL' },
    { name: 'day', type: 'DATE' },
    { name: 'at', type: 'TIMESTAMP' },
    { name: 'local', type: 'DATETIME' },
    { name: 'missing', type: 'STRING' },
    { name: 'tags', type: 'STRING', mode: 'REPEATED' },
  ];
  const row = {
    big: 9_007_199_254_740_993n, // 2^53 + 1
    small: 42,
    amount: '12345678901234567890.123456789',
    huge: '-123456789012345678901234567890.12345678901234567890123456789',
    ratio: 0.25,
    ok: true,
    day: '2024-03-10',
    at: '2024-03-10T12:34:56.123456Z',
    local: '2024-03-10T12:34:56.5',
    missing: null,
    tags: null,
  };
  const sql = 'SELECT * FROM types';

  beforeEach(() => {
    server.addQuery(sql, { schema, rows: [row] });
  });

  it('sends BigQuery wire values: int64 as strings, TIMESTAMP as int64 micros, NULL as null', async () => {
    const [job] = await bq.createQueryJob(sql);
    const [raw, , response] = await job.getQueryResults({ autoPaginate: false, skipParsing: true });
    expect(raw).toEqual([
      {
        f: [
          { v: '9007199254740993' },
          { v: '42' },
          { v: '12345678901234567890.123456789' },
          { v: '-123456789012345678901234567890.12345678901234567890123456789' },
          { v: '0.25' },
          { v: 'true' },
          { v: '2024-03-10' },
          { v: '1710074096123456' },
          { v: '2024-03-10T12:34:56.5' },
          { v: null },
          { v: [] },
        ],
      },
    ]);
    // Schemas come back with BigQuery's legacy type names, as the real API does.
    expect(response?.schema?.fields?.map((f) => f.type)).toEqual([
      'INTEGER', 'INTEGER', 'NUMERIC', 'BIGNUMERIC', 'FLOAT', 'BOOLEAN', 'DATE', 'TIMESTAMP', 'DATETIME', 'STRING', 'STRING',
    ]);
  });

  it('round-trips through the client exactly with wrapIntegers: { integerTypeCastFunction: BigInt }', async () => {
    const [job] = await bq.createQueryJob(sql);
    const [rows] = await job.getQueryResults({
      autoPaginate: false,
      wrapIntegers: { integerTypeCastFunction: BigInt },
    });
    const r = rows[0] as Record<string, { value?: string; toFixed?: () => string } | unknown>;
    expect(r['big']).toBe(9_007_199_254_740_993n);
    expect(r['small']).toBe(42n);
    expect((r['amount'] as { toFixed(): string }).toFixed()).toBe('12345678901234567890.123456789');
    expect((r['huge'] as { toFixed(): string }).toFixed()).toBe(row.huge);
    expect(r['ratio']).toBe(0.25);
    expect(r['ok']).toBe(true);
    expect(r['day']).toEqual(BigQuery.date('2024-03-10'));
    // BigQueryTimestamp.value is PreciseDate's ISO string: nanosecond digits.
    expect((r['at'] as { value: string }).value).toBe('2024-03-10T12:34:56.123456000Z');
    expect((r['local'] as { value: string }).value).toBe('2024-03-10T12:34:56.5');
    expect(r['missing']).toBeNull();
    expect(r['tags']).toEqual([]);
  });

  it('loses INT64 precision silently by default; wrapIntegers: true keeps the string in BigQueryInt', async () => {
    const [job] = await bq.createQueryJob(sql);
    const [plain] = await job.getQueryResults({ autoPaginate: false });
    expect((plain[0] as { big: number }).big).toBe(9_007_199_254_740_992); // not ...993
    const [wrapped] = await job.getQueryResults({ autoPaginate: false, wrapIntegers: true });
    expect((wrapped[0] as { big: { value: string } }).big.value).toBe('9007199254740993');
  });

  it('parses TIMESTAMP the same on the jobs.query path', async () => {
    const [rows] = await bq.query({ query: sql, wrapIntegers: { integerTypeCastFunction: BigInt } });
    const r = rows[0] as { at: { value: string }; big: bigint };
    expect(r.at.value).toBe('2024-03-10T12:34:56.123456000Z');
    expect(r.big).toBe(9_007_199_254_740_993n);
  });

  it('formats TIMESTAMP as BigQuery does for the other formatOptions (float seconds by default, ISO on request)', async () => {
    const [job] = await bq.createQueryJob(sql);
    const base = `${server.url}/bigquery/v2/projects/sqp-test/queries/${job.id}`;
    const at = async (search: string): Promise<unknown> => {
      const body = (await (await fetch(`${base}${search}`)).json()) as { rows: { f: { v: unknown }[] }[] };
      return body.rows[0]!.f[7]!.v;
    };
    expect(await at('')).toBe('1.710074096123456E9');
    expect(await at('?formatOptions.timestampOutputFormat=ISO8601_STRING')).toBe('2024-03-10T12:34:56.123456Z');
    expect(await at('?formatOptions.useInt64Timestamp=true')).toBe('1710074096123456');
  });
});

describe('dry runs, limits and query errors', () => {
  it('a dry run answers totalBytesProcessed, creates no job and reads no rows', async () => {
    server.addQuery('SELECT * FROM sqp.search_query_performance', { schema: SMALL, rows: [], bytesProcessed: 123_456_789 });
    const [, response] = await bq.createQueryJob({ query: 'SELECT * FROM sqp.search_query_performance', dryRun: true });
    expect(response.statistics?.totalBytesProcessed).toBe('123456789');
    expect(response.statistics?.query?.totalBytesProcessed).toBe('123456789');
    expect(response.status?.state).toBe('DONE');
    expect(server.queries[0]!.dryRun).toBe(true);
    expect(server.queries[0]!.jobId).toBeUndefined();
    expect(server.count('getQueryResults')).toBe(0);
  });

  it('a job over maximumBytesBilled fails with bytesBilledLimitExceeded', async () => {
    server.addQuery('SELECT costly', { schema: SMALL, rows: [], bytesProcessed: 5_000_000, bytesBilled: 10_485_760 });
    // jobs.insert: HTTP 200 with a failed job; the client rejects with the job's errors (no code).
    const insertErr = await rejection(bq.createQueryJob({ query: 'SELECT costly', maximumBytesBilled: '1000000' }));
    expect(insertErr.errors?.[0]?.reason).toBe('bytesBilledLimitExceeded');
    expect(insertErr.code).toBeUndefined();
    expect(insertErr.message).toContain('Query exceeded limit for bytes billed: 1000000');
    expect(server.job(server.queries[0]!.jobId!)?.error?.reason).toBe('bytesBilledLimitExceeded');
    // jobs.query: HTTP 400.
    const queryErr = await rejection(bq.query({ query: 'SELECT costly', maximumBytesBilled: '1000000' }));
    expect(queryErr.code).toBe(400);
    expect(queryErr.errors?.[0]?.reason).toBe('bytesBilledLimitExceeded');
    // Under the limit it runs.
    await expect(bq.createQueryJob({ query: 'SELECT costly', maximumBytesBilled: '10485760' })).resolves.toBeDefined();
  });

  it('an unknown query fails at once with invalidQuery, in BigQuery error shape', async () => {
    const insertErr = await rejection(bq.createQueryJob('SELECT nothing_registered'));
    expect(insertErr.errors?.[0]?.reason).toBe('invalidQuery');
    const queryErr = await rejection(bq.query('SELECT nothing_registered'));
    expect(queryErr.code).toBe(400);
    expect(queryErr.errors?.[0]?.reason).toBe('invalidQuery');
    expect(server.count('insertJob')).toBe(1);
    expect(server.count('query')).toBe(1);

    const res = await fetch(`${server.url}/bigquery/v2/projects/sqp-test/queries`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: 'SELECT nothing_registered' }),
    });
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({
      error: {
        code: 400,
        message: expect.stringContaining('no fixture'),
        status: 'INVALID_ARGUMENT',
        errors: [expect.objectContaining({ reason: 'invalidQuery', message: expect.any(String) })],
      },
    });
  });

  it("with insertErrors: 'http', jobs.insert answers a failing query with HTTP 400", async () => {
    const strict = await startBigQueryTestServer({ insertErrors: 'http' });
    try {
      const client = new BigQuery(strict.clientOptions());
      const err = await rejection(client.createQueryJob('SELECT unknown'));
      expect(err.code).toBe(400);
      expect(err.errors?.[0]?.reason).toBe('invalidQuery');
    } finally {
      await strict.close();
    }
  });

  it('a fixture can make the job itself fail after running', async () => {
    server.addQuery('SELECT heavy', {
      schema: SMALL,
      pendingPolls: 1,
      fail: { reason: 'resourcesExceeded', message: 'Resources exceeded during query execution' },
    });
    const [job] = await bq.createQueryJob('SELECT heavy');
    const [first] = await job.getQueryResults({ autoPaginate: false });
    expect(first).toEqual([]);
    const err = await rejection(job.getQueryResults({ autoPaginate: false }));
    expect(err.code).toBe(400);
    expect(err.errors?.[0]?.reason).toBe('resourcesExceeded');
    expect(server.count('getQueryResults')).toBe(2);
  });
});

describe('faults and the client retries', () => {
  const retried: [string, Fault][] = [
    ['429 rateLimitExceeded', { type: 'http', status: 429 }],
    ['500 backendError', { type: 'http', status: 500 }],
    ['503', { type: 'http', status: 503 }],
    ['connection reset', { type: 'reset' }],
  ];

  // The 9.x client no longer retries BigQuery's 403 rateLimitExceeded by itself (8.x did):
  // it reaches the caller at once, with its reason, so the refresh engine retries it.
  it('403 rateLimitExceeded reaches the caller with its reason (the engine retries it)', async () => {
    server.injectFault('insertJob', { type: 'http', status: 403, reason: 'rateLimitExceeded' }, 1);
    const err = await rejection(bq.createQueryJob('SELECT 1 AS n'));
    expect(err.code).toBe(403);
    expect(err.errors?.[0]?.reason).toBe('rateLimitExceeded');
    expect(server.count('insertJob')).toBe(1);
  });

  it.each(retried)('getQueryResults (GET): %s twice, then success', async (_name, fault) => {
    const [job] = await bq.createQueryJob('SELECT 1 AS n');
    server.injectFault('getQueryResults', fault, 2);
    const [rows] = await job.getQueryResults({ autoPaginate: false });
    expect(rows).toEqual([{ n: 1 }]);
    expect(server.count('getQueryResults')).toBe(3);
    expect(server.pendingFaults()).toBe(0);
  });

  it.each(retried)('jobs.insert (POST): %s twice, then success', async (_name, fault) => {
    server.injectFault('insertJob', fault, 2);
    const [job] = await bq.createQueryJob('SELECT 1 AS n');
    expect(server.count('insertJob')).toBe(3);
    expect(server.job(job.id!)?.state).toBe('DONE');
  });

  it('jobs.insert reset after the job was created: the retry gets 409 and the client fetches the job', async () => {
    server.injectFault('insertJob', { type: 'reset', afterProcessing: true });
    const [job] = await bq.createQueryJob('SELECT 1 AS n');
    expect(server.requests.map((r) => r.route)).toEqual(['insertJob', 'insertJob', 'getJob']);
    expect(server.queries.filter((q) => q.jobId === job.id)).toHaveLength(2);
    const [rows] = await job.getQueryResults({ autoPaginate: false });
    expect(rows).toEqual([{ n: 1 }]);
  });

  it('…but with a caller-chosen jobId the same 409 reaches the caller', async () => {
    server.injectFault('insertJob', { type: 'reset', afterProcessing: true });
    const err = await rejection(bq.createQueryJob({ query: 'SELECT 1 AS n', jobId: 'refresh_42_attempt_1' }));
    expect(err.code).toBe(409);
    expect(err.errors?.[0]?.reason).toBe('duplicate');
    expect(server.job('refresh_42_attempt_1')?.state).toBe('DONE');
  });

  it('jobs.query reset after it ran: the retry reuses requestId and gets the same job', async () => {
    server.injectFault('query', { type: 'reset', afterProcessing: true });
    const [rows] = await bq.query('SELECT 1 AS n');
    expect(rows).toEqual([{ n: 1 }]);
    expect(server.count('query')).toBe(2);
    expect(server.queries).toHaveLength(1);
  });

  it('400 is not retried', async () => {
    const [job] = await bq.createQueryJob('SELECT 1 AS n');
    server.injectFault('getQueryResults', { type: 'http', status: 400, reason: 'invalid', message: 'Bad page' });
    const err = await rejection(job.getQueryResults({ autoPaginate: false }));
    expect(err.code).toBe(400);
    expect(err.errors?.[0]).toMatchObject({ reason: 'invalid', message: 'Bad page' });
    expect(server.count('getQueryResults')).toBe(1);
  });

  it('gives up after maxRetries (3) retries, i.e. 4 requests', async () => {
    const [job] = await bq.createQueryJob('SELECT 1 AS n');
    server.injectFault('getQueryResults', { type: 'http', status: 503 }, 5);
    const err = await rejection(job.getQueryResults({ autoPaginate: false }));
    expect(err.code).toBe(503);
    expect(err.errors?.[0]?.reason).toBe('backendError');
    expect(server.count('getQueryResults')).toBe(4);
  });

  it('a slow answer (delay fault) is simply waited for', async () => {
    const [job] = await bq.createQueryJob('SELECT 1 AS n');
    server.injectFault('getQueryResults', { type: 'delay', ms: 150 });
    const started = Date.now();
    const [rows] = await job.getQueryResults({ autoPaginate: false });
    expect(rows).toEqual([{ n: 1 }]);
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
  });

  it("faults for 'any' route are consumed in queue order", async () => {
    server.injectFault('any', { type: 'http', status: 503 });
    server.injectFault('getQueryResults', { type: 'http', status: 429 });
    const [job] = await bq.createQueryJob('SELECT 1 AS n'); // takes the 503, retried
    await job.getQueryResults({ autoPaginate: false }); // takes the 429, retried
    expect(server.requests.map((r) => [r.route, r.fault?.type === 'http' ? r.fault.status : null])).toEqual([
      ['insertJob', 503],
      ['insertJob', null],
      ['getQueryResults', 429],
      ['getQueryResults', null],
    ]);
  });
});

describe('client retry settings (traps worth knowing)', () => {
  const client = (retryOptions: Record<string, unknown>, extra: Record<string, unknown> = {}): BigQuery =>
    new BigQuery({ ...server.clientOptions(), retryOptions: { ...FAST_RETRY_OPTIONS, ...retryOptions }, ...extra });

  async function jobOn(c: BigQuery): Promise<Job> {
    const [job] = await c.createQueryJob('SELECT 1 AS n');
    return job;
  }

  it('maxRetries: 0 is ignored (the default 3 applies); autoRetry: false disables retries', async () => {
    const zero = await jobOn(client({ maxRetries: 0 }));
    server.injectFault('getQueryResults', { type: 'http', status: 503 }, 3);
    await expect(zero.getQueryResults({ autoPaginate: false })).resolves.toBeDefined();
    expect(server.count('getQueryResults')).toBe(4);

    const off = await jobOn(client({ autoRetry: false }));
    server.injectFault('getQueryResults', { type: 'reset' });
    const err = await rejection(off.getQueryResults({ autoPaginate: false }));
    expect(err.code).toBe('ECONNRESET');
    expect(server.count('getQueryResults')).toBe(5);
  });

  it('the `timeout` option has no effect (node-fetch 3 ignores it)', async () => {
    const job = await jobOn(client({}, { timeout: 50 }));
    server.injectFault('getQueryResults', { type: 'delay', ms: 250 });
    const [rows] = await job.getQueryResults({ autoPaginate: false });
    expect(rows).toEqual([{ n: 1 }]);
    expect(server.count('getQueryResults')).toBe(1);
  });

  it('a retry due after totalTimeout never settles the promise', async () => {
    const job = await jobOn(client({ totalTimeout: 0.05 }));
    server.injectFault('getQueryResults', { type: 'http', status: 503, delayMs: 100 });
    const outcome = await settledWithin(job.getQueryResults({ autoPaginate: false }), 500);
    expect(outcome).toBe('pending');
    expect(server.count('getQueryResults')).toBe(1);
  });
});
