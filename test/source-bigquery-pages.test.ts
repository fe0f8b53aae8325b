// Page sizes of the BigQuery source against the test server: BigQuery cuts a page near 20 MB
// whatever maxResults asked, and the source asks for fewer rows when rows are wide, so that a
// page stays near `pageBytes` (two pages are in memory at once: one loading, one fetched ahead).
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { FAST_RETRY_OPTIONS, startBigQueryTestServer, type BigQueryTestServer, type FieldSpec } from './support/bigquery-server.ts';
import { createBigQuerySource, type BigQueryOpenReadRequest } from '../src/runner/sources/bigquery/bigquery.ts';

process.env['METADATA_SERVER_DETECTION'] = 'none';

const SQL = 'SELECT id, payload FROM `p.ds.wide`';
const SCHEMA: FieldSpec[] = [{ name: 'id', type: 'INT64' }, { name: 'payload', type: 'STRING' }];
const ROWS = Array.from({ length: 500 }, (_, i) => ({ id: i, payload: `${i}:${'x'.repeat(180)}` }));

let server: BigQueryTestServer;
beforeAll(async () => {
  // The server's own cap (BigQuery's 20 MB, scaled down): 12 KB of rows per page.
  server = await startBigQueryTestServer({ projectId: 'p', maxPageBytes: 12_000 });
});
afterAll(() => server.close());
beforeEach(() => {
  server.reset();
  server.addQuery(SQL, { schema: SCHEMA, rows: ROWS });
});

const request: BigQueryOpenReadRequest = { table: { schema: 'sqp', name: 'wide' }, params: {}, pageSize: 100, keyColumns: ['id'], source: { query: SQL } };

async function read(pageBytes?: number) {
  const source = createBigQuerySource({
    projectId: 'p', apiEndpoint: server.url, clientRetryOptions: { ...FAST_RETRY_OPTIONS },
    poll: { initialDelayMs: 1, maxDelayMs: 2 }, ...(pageBytes ? { pageBytes } : {}),
  });
  const r = await source.open(request);
  const pages: number[] = [];
  const ids: string[] = [];
  for await (const page of r.pages()) {
    pages.push(page.rows.length);
    for (const row of page.rows) ids.push(row[0]!);
  }
  const asked = server.requests.filter((q) => q.route === 'getQueryResults').map((q) => Number(q.search['maxResults']));
  return { pages, ids, asked };
}

describe('page sizes', () => {
  it("BigQuery's byte cap gives fewer rows than asked; every row still arrives once, in order", async () => {
    const { pages, ids, asked } = await read();
    expect(asked.every((n) => n === 100)).toBe(true); // rows are narrow for the default 8 MiB
    expect(Math.max(...pages)).toBeLessThan(100); // but the server's 12 KB cap cut every page
    expect(ids).toEqual(ROWS.map((r) => String(r.id)));
  });

  it('with wide rows the source asks for fewer rows after the first page, to keep a page near pageBytes', async () => {
    const { pages, ids, asked } = await read(2_000);
    expect(asked[0]).toBe(100); // the first page: the table's pageSize (at most 10,000)
    const later = asked.slice(1);
    expect(later.length).toBeGreaterThan(0);
    expect(later.every((n) => n < 15)).toBe(true); // ~200-byte rows: about 2,000 / 200
    expect(pages.slice(1).every((n) => n <= 15)).toBe(true);
    expect(ids).toEqual(ROWS.map((r) => String(r.id)));
  });
});
