// The BigQuery test server behaves as BigQuery does where a friendly stand-in would not: pages
// capped by bytes, rateLimitExceeded as 403, \u003c escapes, conflicting timestamp formats
// refused, jobs that fail while running, location outside US/EU, gzip only when earned,
// on-demand billing, tables.get. Checked with raw HTTP (to see the bytes) and with the real client.
import { BigQuery } from '@google-cloud/bigquery';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { FAST_RETRY_OPTIONS, startBigQueryTestServer, type BigQueryTestServer, type FieldSpec } from './support/bigquery-server.ts';
import { createBigQuerySource } from '../src/runner/sources/bigquery/bigquery.ts';

process.env['METADATA_SERVER_DETECTION'] = 'none';

const SQL = 'SELECT s FROM `p.ds.t`';
const SCHEMA: FieldSpec[] = [{ name: 's', type: 'STRING' }];
const ROWS = Array.from({ length: 1000 }, (_, i) => ({ s: `<row ${i}> & a=b ${'x'.repeat(50)}` }));

let server: BigQueryTestServer;
let bq: BigQuery;
beforeAll(async () => {
  server = await startBigQueryTestServer({ projectId: 'p', maxPageBytes: 10_000 });
  bq = new BigQuery({ projectId: 'p', apiEndpoint: server.url, retryOptions: { ...FAST_RETRY_OPTIONS } });
});
afterAll(() => server.close());
beforeEach(() => {
  server.reset();
  server.addQuery(SQL, { schema: SCHEMA, rows: ROWS });
});

const base = () => `${server.url}/bigquery/v2/projects/p`;

async function startJob(location?: string): Promise<string> {
  const [job] = await bq.createQueryJob({ query: SQL, ...(location ? { location } : {}) });
  return job.id!;
}

describe('result pages', () => {
  it('a page holds at most maxPageBytes of rows: fewer rows than maxResults asked, with a pageToken', async () => {
    const jobId = await startJob();
    const res = await fetch(`${base()}/queries/${jobId}?maxResults=1000`);
    const text = await res.text();
    const page = JSON.parse(text) as { rows: unknown[]; pageToken?: string; totalRows: string };
    expect(page.rows.length).toBeGreaterThan(0);
    expect(page.rows.length).toBeLessThan(1000);
    expect(page.pageToken).toBeTruthy();
    expect(Buffer.byteLength(JSON.stringify(page.rows))).toBeLessThanOrEqual(10_000); // the rows, before \u003c escapes
  });

  it('escapes <, >, & and = inside strings as \\u003c, \\u003e, \\u0026, \\u003d (valid JSON, same values)', async () => {
    const jobId = await startJob();
    const text = await (await fetch(`${base()}/queries/${jobId}?maxResults=2`)).text();
    expect(text).toContain('\\u003crow 0\\u003e \\u0026 a\\u003db');
    expect(text).not.toMatch(/[<>&]/);
    const page = JSON.parse(text) as { rows: { f: { v: string }[] }[] };
    expect(page.rows[0]!.f[0]!.v).toBe(ROWS[0]!.s);
  });

  it('refuses useInt64Timestamp together with timestampOutputFormat', async () => {
    const jobId = await startJob();
    const both = await fetch(`${base()}/queries/${jobId}?formatOptions.useInt64Timestamp=true&formatOptions.timestampOutputFormat=ISO8601_STRING`);
    expect(both.status).toBe(400);
    expect(await both.json()).toMatchObject({ error: { errors: [{ reason: 'invalid' }] } });
    expect((await fetch(`${base()}/queries/${jobId}?formatOptions.timestampOutputFormat=ISO8601_STRING`)).status).toBe(200);
  });
});

describe('errors as BigQuery sends them', () => {
  it('a job failing with rateLimitExceeded answers getQueryResults with 403, jobInternalError with 400, backendError with 500', async () => {
    for (const [reason, status] of [['rateLimitExceeded', 403], ['jobInternalError', 400], ['backendError', 500]] as const) {
      server.failNextJobs({ reason, message: reason });
      const jobId = await startJob();
      const first = await fetch(`${base()}/queries/${jobId}`); // still running: one poll
      expect(await first.json()).toMatchObject({ jobComplete: false });
      const failed = await fetch(`${base()}/queries/${jobId}`);
      expect(failed.status).toBe(status);
      expect(await failed.json()).toMatchObject({ error: { code: status, errors: [{ reason }] } });
      const [metadata] = await bq.job(jobId).getMetadata();
      expect(metadata.status).toMatchObject({ state: 'DONE', errorResult: { reason } });
    }
  });

  it('a running job fails on request: jobs.insert said RUNNING, jobs.get then says DONE with errorResult', async () => {
    server.addQuery(SQL, { schema: SCHEMA, rows: ROWS, pendingPolls: 100 });
    const [job, inserted] = await bq.createQueryJob({ query: SQL });
    expect(inserted.status?.state).toBe('RUNNING');
    expect(server.failJob(job.id!, { reason: 'jobInternalError', message: 'internal' })).toBe(true);
    const [metadata] = await job.getMetadata();
    expect(metadata.status).toMatchObject({ state: 'DONE', errorResult: { reason: 'jobInternalError' } });
    expect(server.failJob(job.id!, { reason: 'jobInternalError', message: 'again' })).toBe(false);
  });

  it('outside the US/EU multi-regions a job is found only with its location', async () => {
    const jobId = await startJob('asia-northeast1');
    expect((await fetch(`${base()}/jobs/${jobId}`)).status).toBe(404);
    expect((await fetch(`${base()}/jobs/${jobId}?location=asia-northeast1`)).status).toBe(200);
    const inUs = await startJob();
    expect((await fetch(`${base()}/jobs/${inUs}`)).status).toBe(200);
  });
});

describe('gzip, as BigQuery documents it', () => {
  it('compresses only for Accept-Encoding: gzip AND a User-Agent containing "gzip"', async () => {
    const jobId = await startJob();
    const url = `${base()}/queries/${jobId}?maxResults=100`;
    const plain = await fetch(url, { headers: { 'accept-encoding': 'gzip', 'user-agent': 'gcloud-node-bigquery/9.3.0' } });
    expect(plain.headers.get('content-encoding')).toBeNull();
    const zipped = await fetch(url, { headers: { 'accept-encoding': 'gzip', 'user-agent': 'sqp-refresh (gzip)' } });
    expect(zipped.headers.get('content-encoding')).toBe('gzip');
    const [identity, compressed] = server.requests.slice(-2);
    expect(compressed!.responseBytes!).toBeLessThan(identity!.responseBytes! / 3);
  });

  it('the source earns it: every answer to it is gzipped, and far fewer bytes cross the wire', async () => {
    const read = await createBigQuerySource({ projectId: 'p', apiEndpoint: server.url, clientRetryOptions: { ...FAST_RETRY_OPTIONS } }).open({
      table: { schema: 'sqp', name: 't' }, params: {}, pageSize: 1000, keyColumns: [], source: { query: SQL },
    });
    let rows = 0;
    for await (const page of read.pages()) rows += page.rows.length;
    expect(rows).toBe(ROWS.length);
    const pages = server.requests.filter((r) => r.route === 'getQueryResults');
    expect(pages.every((r) => r.contentEncoding === 'gzip' && /gzip/.test(r.userAgent ?? ''))).toBe(true);
    // The same pages uncompressed, for comparison: what the default client User-Agent would get.
    let identityBytes = 0;
    for (const r of pages) {
      const res = await fetch(`${server.url}${r.path}?${new URLSearchParams(r.search)}`, { headers: { 'accept-encoding': 'gzip' } });
      identityBytes += Buffer.byteLength(await res.text());
    }
    const wireBytes = pages.reduce((n, r) => n + r.responseBytes!, 0);
    expect(wireBytes).toBeLessThan(identityBytes / 5);
  });

  it('a gzipped answer is the same JSON', async () => {
    const jobId = await startJob();
    const url = `${base()}/queries/${jobId}?maxResults=10`;
    const raw = await fetch(url, { headers: { 'user-agent': 'x (gzip)', 'accept-encoding': 'gzip' } });
    // fetch inflates on its own; the recorded wire bytes are the compressed ones.
    const body = await raw.text();
    expect(JSON.parse(body)).toMatchObject({ jobComplete: true, totalRows: '1000' });
    expect(server.requests.at(-1)!.contentEncoding).toBe('gzip');
  });
});

describe('billing', () => {
  it('bills on demand as BigQuery does: rounded up to the MB, at least 10 MB per referenced table; a cache hit bills nothing', async () => {
    const MB = 1024 * 1024;
    const cases: [number, string[], boolean, number][] = [
      [3_000_000, ['p.ds.a', 'p.ds.b'], false, 20 * MB],
      [25 * MB + 1, ['p.ds.a'], false, 26 * MB],
      [1234, [], false, 10 * MB],
      [5 * MB, ['p.ds.a'], true, 0],
    ];
    for (const [bytesProcessed, referencedTables, cacheHit, billed] of cases) {
      server.addQuery(SQL, { schema: SCHEMA, rows: [], bytesProcessed, referencedTables, cacheHit });
      const [job] = await bq.createQueryJob({ query: SQL });
      const [metadata] = await job.getMetadata();
      expect({ bytesProcessed, billed: metadata.statistics?.query?.totalBytesBilled }).toEqual({ bytesProcessed, billed: String(billed) });
    }
  });
});

describe('tables.get', () => {
  it('serves lastModifiedTime, moving forward on every touch; an unknown table is 404', async () => {
    server.setTable('p.ds.t', { lastModifiedTime: 1_700_000_000_000 });
    const [before] = await bq.dataset('ds', { projectId: 'p' }).table('t').getMetadata();
    expect(before).toMatchObject({ type: 'TABLE', lastModifiedTime: '1700000000000', tableReference: { tableId: 't' } });
    server.touchTable('p.ds.t');
    server.touchTable('p.ds.t');
    const [after] = await bq.dataset('ds', { projectId: 'p' }).table('t').getMetadata();
    expect(Number(after.lastModifiedTime)).toBeGreaterThan(1_700_000_000_000);
    await expect(bq.dataset('ds', { projectId: 'p' }).table('nope').getMetadata()).rejects.toMatchObject({ code: 404 });
  });

  it('a fixture lists its referenced tables in the dry run and in the job statistics', async () => {
    server.addQuery(SQL, { schema: SCHEMA, rows: ROWS, referencedTables: ['p.ds.t', 'p.ds.u'] });
    const [, dry] = await bq.createQueryJob({ query: SQL, dryRun: true });
    expect(dry.statistics?.query?.referencedTables).toEqual([
      { projectId: 'p', datasetId: 'ds', tableId: 't' },
      { projectId: 'p', datasetId: 'ds', tableId: 'u' },
    ]);
  });
});
