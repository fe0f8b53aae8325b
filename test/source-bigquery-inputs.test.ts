// "No query when nothing changed" and honest estimates, at the BigQuery source's seam, against
// the test server with the real client: the dry run's referencedTables and tables.get's
// lastModifiedTime decide whether a read can be skipped; the estimate includes BigQuery's 10 MB
// minimum per referenced table. The calls are made in the order the engine makes them:
// estimateBytes → inputsUnchanged(previous run's stats.inputs) → open.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startBigQueryTestServer, testBigQuerySource, type BigQueryTestServer, type FieldSpec } from './support/bigquery-server.ts';
import { type BigQueryOpenReadRequest, type BigQuerySource } from '../src/runner/sources/bigquery/bigquery.ts';

process.env['METADATA_SERVER_DETECTION'] = 'none';

const SQL = 'SELECT a.asin, b.clicks FROM `p.sqp.a` a JOIN `p.sqp.b` b USING (asin) WHERE b.day >= @since';
const SCHEMA: FieldSpec[] = [{ name: 'asin', type: 'STRING' }, { name: 'clicks', type: 'INT64' }];
const ROWS = Array.from({ length: 5 }, (_, i) => ({ asin: `B${i}`, clicks: i }));
const MB = 1024n * 1024n;

let server: BigQueryTestServer;
let source: BigQuerySource;
beforeAll(async () => {
  server = await startBigQueryTestServer({ projectId: 'p' });
  source = testBigQuerySource(server, { projectId: 'p', retry: { attempts: 2, baseDelayMs: 1, maxDelayMs: 2 } });
});
afterAll(() => server.close());
beforeEach(() => {
  server.reset();
  server.addQuery(SQL, { schema: SCHEMA, rows: ROWS, bytesProcessed: 3_000_000, bytesBilled: 31 * 1_048_576, referencedTables: ['p.sqp.a', 'p.sqp.b'] });
  server.setTable('p.sqp.a', { lastModifiedTime: 1_700_000_000_000 });
  server.setTable('p.sqp.b', { lastModifiedTime: 1_700_000_000_500 });
});

const request = (source: Partial<BigQueryOpenReadRequest['source']> = {}, since = '2024-01-01'): BigQueryOpenReadRequest => ({
  table: { schema: 'sqp', name: 'asin_performance_data' },
  params: { since },
  pageSize: 100,
  keyColumns: ['asin'],
  source: { query: SQL, ...source },
});

const queryJobs = () => server.queries.filter((q) => !q.dryRun);

/** One run as the engine makes it; returns whether it was skipped and the inputs to keep. */
async function refresh(previous: unknown, req = request()) {
  await source.estimateBytes(req);
  const check = await source.inputsUnchanged(req, previous);
  if (check.unchanged) return { skipped: true, inputs: previous };
  const read = await source.open(req);
  for await (const page of read.pages()) void page;
  await read.close();
  return { skipped: false, inputs: read.stats.inputs, stats: read.stats };
}

describe('no query when nothing changed', () => {
  it('records what the query read; the next run over unchanged tables runs no query job and bills nothing', async () => {
    const first = await refresh(undefined);
    expect(first.skipped).toBe(false);
    expect(first.inputs).toMatchObject({
      version: 1,
      tables: [{ table: 'p.sqp.a', lastModifiedTime: '1700000000000' }, { table: 'p.sqp.b', lastModifiedTime: '1700000000500' }],
    });
    expect(first.inputs).not.toHaveProperty('opaque');
    // One dry run and one round of tables.get served the estimate, the check and the record.
    expect(server.queries.filter((q) => q.dryRun)).toHaveLength(1);
    expect(server.count('getTable')).toBe(2);

    server.reset();
    server.addQuery(SQL, { schema: SCHEMA, rows: ROWS, referencedTables: ['p.sqp.a', 'p.sqp.b'] });
    server.setTable('p.sqp.a', { lastModifiedTime: 1_700_000_000_000 });
    server.setTable('p.sqp.b', { lastModifiedTime: 1_700_000_000_500 });
    const started = performance.now();
    const second = await refresh(first.inputs);
    const ms = performance.now() - started;
    expect(second.skipped).toBe(true);
    expect(queryJobs()).toHaveLength(0); // no jobs.insert of a query job: nothing billed
    expect(server.count('getQueryResults')).toBe(0);
    console.info(`unchanged check (dry run + ${server.count('getTable')} tables.get): ${ms.toFixed(1)} ms`);
  });

  it('a write to one referenced table makes the next run query', async () => {
    const first = await refresh(undefined);
    server.touchTable('p.sqp.b');
    const second = await refresh(first.inputs);
    expect(second.skipped).toBe(false);
    expect(queryJobs()).toHaveLength(2);
    // …and the run after that, with nothing written since, is skipped again.
    expect((await refresh(second.inputs)).skipped).toBe(true);
    expect(queryJobs()).toHaveLength(2);
  });

  it('other params or another query text are other inputs', async () => {
    const first = await refresh(undefined);
    expect((await refresh(first.inputs, request({}, '2024-02-01'))).skipped).toBe(false);
    expect((await refresh(first.inputs, request({ params: { extra: 1 } }))).skipped).toBe(false);
  });

  it.each([
    ['an external table', () => server.setTable('p.sqp.b', { type: 'EXTERNAL', lastModifiedTime: 1_700_000_000_500 })],
    ['a streaming buffer', () => server.setTable('p.sqp.b', { streamingBuffer: true, lastModifiedTime: 1_700_000_000_500 })],
    ['a table tables.get cannot find', () => server.addQuery(SQL, { schema: SCHEMA, rows: ROWS, referencedTables: ['p.sqp.a', 'p.sqp.gone'] })],
    ['a query that references no table', () => server.addQuery(SQL, { schema: SCHEMA, rows: ROWS })],
  ])('cannot vouch for its data with %s: always queries', async (_name, arrange) => {
    arrange();
    const first = await refresh(undefined);
    expect(first.inputs).toHaveProperty('opaque');
    expect((await refresh(first.inputs)).skipped).toBe(false);
  });

  it('skipWhenUnchanged: false (non-deterministic queries) always queries and reads no table metadata', async () => {
    const req = () => request({ skipWhenUnchanged: false });
    const first = await refresh(undefined, req());
    expect(first.inputs).toBeUndefined();
    expect((await refresh(first.inputs, req())).skipped).toBe(false);
    expect(server.count('getTable')).toBe(0);
  });

  it('a previous record of another shape never counts as unchanged', async () => {
    for (const previous of [null, 'x', { version: 2 }, { version: 1, queryHash: 'h', tables: [] }]) {
      expect((await source.inputsUnchanged(request(), previous)).unchanged).toBe(false);
    }
  });
});

describe('honest estimates', () => {
  it('bytes rounded up to the MB plus 10 MB for each referenced table', async () => {
    // 3,000,000 bytes → 3 MB; two tables: + 20 MB. BigQuery bills Σ max(bytesᵢ, 10 MB) ≤ this.
    expect(await source.estimateBytes(request())).toBe(3n * MB + 20n * MB);
  });

  it('a query over one small table: at least 10 MB', async () => {
    server.addQuery(SQL, { schema: SCHEMA, rows: ROWS, bytesProcessed: 1234, referencedTables: ['p.sqp.a'] });
    expect(await source.estimateBytes(request())).toBe(1n * MB + 10n * MB);
    server.addQuery(SQL, { schema: SCHEMA, rows: ROWS, bytesProcessed: 0 });
    expect(await source.estimateBytes(request())).toBe(10n * MB);
  });
});
