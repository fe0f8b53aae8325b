// Job-level retries of the BigQuery source against the test server and the real client: a
// job that fails WHILE RUNNING for a transient job reason is re-run as a new job (new id, same
// labels), the dead one cancelled and recorded; 404 right after a 409; location on every call.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { FAST_RETRY_OPTIONS, startBigQueryTestServer, testBigQuerySource, type BigQueryTestServer, type FieldSpec, type JobError } from './support/bigquery-server.ts';
import { createBigQuerySource, type BigQueryOpenReadRequest, type BigQuerySourceSettings } from '../src/runner/sources/bigquery/bigquery.ts';
import { SourceError, type SourceRead } from '../src/runner/sources/source.ts';

process.env['METADATA_SERVER_DETECTION'] = 'none';

const SQL = 'SELECT asin, clicks FROM `p.sqp.asin_daily`';
const SCHEMA: FieldSpec[] = [
  { name: 'asin', type: 'STRING' },
  { name: 'clicks', type: 'INT64' },
];
const ROWS = Array.from({ length: 7 }, (_, i) => ({ asin: `B${i}`, clicks: i }));
const TEXT_ROWS = ROWS.map((r) => [r.asin, String(r.clicks)]);

let server: BigQueryTestServer;
beforeAll(async () => {
  server = await startBigQueryTestServer({ projectId: 'sqp-test' });
});
afterAll(() => server.close());
beforeEach(() => {
  server.reset();
  server.addQuery(SQL, { schema: SCHEMA, rows: ROWS, bytesProcessed: 1000, bytesBilled: 10_485_760 });
});

function source(extra: Partial<BigQuerySourceSettings> = {}) {
  return testBigQuerySource(server, extra);
}

const request = (extra: Partial<BigQueryOpenReadRequest> = {}): BigQueryOpenReadRequest => ({
  table: { schema: 'sqp', name: 'asin_performance_data' },
  params: {},
  pageSize: 3,
  keyColumns: ['asin'],
  source: { query: SQL },
  ...extra,
});

async function rowsOf(read: SourceRead) {
  const rows = [];
  for await (const page of read.pages()) rows.push(...page.rows);
  await read.close();
  return rows;
}

async function failure(p: Promise<unknown>): Promise<SourceError> {
  const err = await p.then(() => null, (e: unknown) => e);
  expect(err).toBeInstanceOf(SourceError);
  return err as SourceError;
}

const queryJobs = () => server.queries.filter((q) => !q.dryRun);

describe('a job that fails while running is re-run as a new job', () => {
  it.each<[string, JobError, number]>([
    // reason, HTTP status BigQuery answers getQueryResults of the failed job with
    ['jobInternalError', { reason: 'jobInternalError', message: 'The job encountered an internal error during execution and was unable to complete successfully.' }, 400],
    ['jobBackendError', { reason: 'jobBackendError', message: 'The job encountered a backend error.' }, 400],
    ['jobRateLimitExceeded', { reason: 'jobRateLimitExceeded', message: 'Job exceeded rate limits.' }, 400],
    ['backendError in errorResult', { reason: 'backendError', message: 'Backend error. Job aborted.' }, 500],
    ['rateLimitExceeded in errorResult', { reason: 'rateLimitExceeded', message: 'Exceeded rate limits.' }, 403],
  ])('%s: success through a second job; the first cancelled and recorded', async (_name, error, status) => {
    server.failNextJobs({ ...error, bytesBilled: 2_097_152 });
    const read = await source().open(request());
    expect(await rowsOf(read)).toEqual(TEXT_ROWS);

    const [first, second] = queryJobs();
    expect(queryJobs()).toHaveLength(2);
    expect(first!.jobId).not.toBe(second!.jobId);
    expect(second!.labels).toEqual(first!.labels);
    expect(server.job(first!.jobId!)).toMatchObject({ state: 'DONE', error: { reason: error.reason } });
    // The failed read of the dead job answered with BigQuery's status for the reason.
    const deadReads = server.requests.filter((r) => r.route === 'getQueryResults' && r.path.endsWith(first!.jobId!));
    expect(deadReads.at(-1)?.status).toBe(status);
    const cancels = server.requests.filter((r) => r.route === 'cancelJob');
    expect(cancels.map((r) => r.path.split('/').at(-2))).toEqual([first!.jobId]);
    expect(read.stats).toMatchObject({
      jobId: second!.jobId,
      jobs: [
        { jobId: first!.jobId, outcome: 'failed', reason: error.reason, bytesBilled: '2097152' },
        { jobId: second!.jobId, outcome: 'read', bytesBilled: '10485760' },
      ],
      // What both jobs billed: the abandoned one counts against the day's budget too.
      bytesBilled: 10_485_760n + 2_097_152n,
    });
    // A dead job is not asked again and again: at most the client's own retries of one read.
    expect(deadReads.length).toBeLessThanOrEqual(status >= 500 ? 1 + 4 : 2);
  });

  it('a job that fails for good (resourcesExceeded) is not re-run', async () => {
    server.failNextJobs({ reason: 'resourcesExceeded', message: 'Resources exceeded during query execution.' });
    const err = await failure(source().open(request()));
    expect(err.details).toMatchObject({ reason: 'resourcesExceeded', retryable: false, code: 400 });
    expect(queryJobs()).toHaveLength(1);
  });

  it('after jobAttempts failed jobs the read fails, retryable, with every job recorded', async () => {
    server.failNextJobs({ reason: 'jobInternalError', message: 'internal' }, 3);
    const err = await failure(source({ jobAttempts: 3 }).open(request()));
    expect(err.message).toMatch(/failed 3 times \(jobInternalError\)/);
    expect(err.details).toMatchObject({ reason: 'jobInternalError', retryable: true });
    const jobs = err.details['jobs'] as { jobId: string; outcome: string }[];
    expect(jobs.map((j) => j.jobId)).toEqual(queryJobs().map((q) => q.jobId));
    expect(jobs).toHaveLength(3);
  });

  it('a job given up on for another reason (reads failing beyond retries) is cancelled, not left to run and bill', async () => {
    server.addQuery(SQL, { schema: SCHEMA, rows: ROWS, pendingPolls: 1000 });
    server.injectFault('getQueryResults', { type: 'http', status: 503 }, 100);
    const err = await failure(source().open(request()));
    expect(err.details).toMatchObject({ code: 503, retryable: true });
    const [job] = queryJobs();
    expect(server.job(job!.jobId!)).toMatchObject({ cancelled: true, state: 'DONE' });
    expect(err.details['jobs']).toMatchObject([{ jobId: job!.jobId, outcome: 'cancelled' }]);
  });

  it('jobAttempts: 1 never re-runs a job', async () => {
    server.failNextJobs({ reason: 'jobInternalError', message: 'internal' });
    const err = await failure(source({ jobAttempts: 1 }).open(request()));
    expect(err.details).toMatchObject({ reason: 'jobInternalError', retryable: true });
    expect(queryJobs()).toHaveLength(1);
  });

  it('a job that fails at start for a job reason is replaced by a new job id', async () => {
    let calls = 0;
    server.addQuery(SQL, () => ({
      schema: SCHEMA,
      rows: ROWS,
      ...(calls++ === 0 ? { fail: { reason: 'jobRateLimitExceeded', message: 'Job exceeded rate limits.' } } : {}),
    }));
    const read = await source().open(request());
    expect(await rowsOf(read)).toEqual(TEXT_ROWS);
    const ids = queryJobs().map((q) => q.jobId);
    expect(new Set(ids).size).toBe(2);
    expect(read.stats.jobs?.map((j) => j.outcome)).toEqual(['failed', 'read']);
  });

  it('jobs.insert answering an HTTP error with a job reason (jobRateLimitExceeded) is retried with a new job id', async () => {
    server.injectFault('insertJob', { type: 'http', status: 400, reason: 'jobRateLimitExceeded', message: 'Exceeded rate limits: too many concurrent queries' });
    const read = await source().open(request());
    expect(await rowsOf(read)).toEqual(TEXT_ROWS);
    const inserts = server.requests.filter((r) => r.route === 'insertJob').map((r) => (r.body as { jobReference: { jobId: string } }).jobReference.jobId);
    expect(inserts).toHaveLength(2);
    expect(inserts[0]).not.toBe(inserts[1]);
    expect(read.stats.jobs).toMatchObject([{ jobId: inserts[0], outcome: 'failed', reason: 'jobRateLimitExceeded' }, { jobId: inserts[1], outcome: 'read' }]);
  });

  it('a running job failed on request mid-poll is re-run', async () => {
    server.addQuery(SQL, { schema: SCHEMA, rows: ROWS, pendingPolls: 1000 });
    const failedFirst = new Promise<string>((resolve) => {
      const stop = server.onJobCreated((job) => {
        stop();
        // The second job (after this one fails) must run normally.
        server.addQuery(SQL, { schema: SCHEMA, rows: ROWS });
        resolve(job.jobId);
      });
    });
    const opened = source().open(request());
    const first = await failedFirst;
    expect(server.failJob(first, { reason: 'jobBackendError', message: 'backend' })).toBe(true);
    const read = await opened;
    expect(await rowsOf(read)).toEqual(TEXT_ROWS);
    expect(read.stats.jobs?.[0]).toMatchObject({ jobId: first, outcome: 'failed', reason: 'jobBackendError' });
  });
});

describe('404 right after a 409, and location on every job call', () => {
  it('jobs.get answering 404 after our own 409 is retried until the job appears', async () => {
    server.injectFault('insertJob', { type: 'reset', afterProcessing: true });
    server.injectFault('getJob', { type: 'http', status: 404, message: 'Not found: Job sqp-test:US.x' }, 2);
    const read = await source().open(request());
    expect(await rowsOf(read)).toEqual(TEXT_ROWS);
    expect(new Set(queryJobs().map((q) => q.jobId)).size).toBe(1); // one job: the retried insert was the same job id
    expect(server.requests.slice(0, 5).map((r) => r.route)).toEqual(['insertJob', 'insertJob', 'getJob', 'getJob', 'getJob']);
  });

  it('a 404 that never clears: the job is taken as never created and a new one inserted', async () => {
    server.injectFault('insertJob', { type: 'reset', afterProcessing: true });
    server.injectFault('getJob', { type: 'http', status: 404, message: 'Not found: Job sqp-test:US.x' }, 3);
    const read = await source().open(request());
    expect(await rowsOf(read)).toEqual(TEXT_ROWS);
    expect(read.stats.jobs?.map((j) => j.outcome)).toEqual(['lost', 'read']);
  });

  it('outside US/EU every job call carries the location, through a job re-run too', async () => {
    server.failNextJobs({ reason: 'jobInternalError', message: 'internal' });
    const read = await source({ location: 'asia-northeast1' }).open(request());
    expect(await rowsOf(read)).toEqual(TEXT_ROWS);
    const jobCalls = server.requests.filter((r) => r.route === 'getJob' || r.route === 'getQueryResults' || r.route === 'cancelJob');
    expect(jobCalls.length).toBeGreaterThan(3);
    expect(jobCalls.filter((r) => r.search['location'] !== 'asia-northeast1')).toEqual([]);
    expect(read.stats.location).toBe('asia-northeast1');
  });

  it('with no location configured, the dry run names it: after a lost insert answer the job is found, not run twice', async () => {
    const tokyo = await startBigQueryTestServer({ projectId: 'sqp-test', location: 'asia-northeast1' });
    try {
      tokyo.addQuery(SQL, { schema: SCHEMA, rows: ROWS });
      tokyo.injectFault('insertJob', { type: 'reset', afterProcessing: true });
      const bq = createBigQuerySource({
        projectId: 'sqp-test', apiEndpoint: tokyo.url, retry: { attempts: 3, baseDelayMs: 1, maxDelayMs: 2 },
        clientRetryOptions: { ...FAST_RETRY_OPTIONS }, poll: { initialDelayMs: 1, maxDelayMs: 2 }, requestTimeoutMs: 5_000,
      });
      const req = request();
      await bq.estimateBytes(req); // the engine's estimate: the dry run, before the job
      const read = await bq.open(req);
      expect(await rowsOf(read)).toEqual(TEXT_ROWS);
      expect(read.stats.jobs?.map((j) => j.outcome)).toEqual(['read']);
      const jobCalls = tokyo.requests.filter((r) => r.route === 'getJob' || r.route === 'getQueryResults');
      expect(jobCalls.filter((r) => r.search['location'] !== 'asia-northeast1')).toEqual([]);
    } finally {
      await tokyo.close();
    }
  });

  it('the test server refuses a job call without location outside US/EU (as BigQuery does)', async () => {
    const read = await source({ location: 'asia-northeast1' }).open(request());
    const jobId = read.stats.jobId!;
    const res = await fetch(`${server.url}/bigquery/v2/projects/sqp-test/jobs/${jobId}`);
    expect(res.status).toBe(404);
    await read.close();
  });
});
