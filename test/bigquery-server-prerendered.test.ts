// Pages served from pre-rendered rows (server.prerender) are the pages the test server makes on
// the fly: the same JSON byte for byte (etag aside, random in both) for any maxResults,
// startIndex or pageToken, under the byte cap, escaped, gzipped or not. Checked with raw HTTP
// on one job, before and after its fixture is pre-rendered, and through the real source.
import { request } from 'node:http';
import zlib from 'node:zlib';
import { BigQuery } from '@google-cloud/bigquery';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { crc32Combine } from './support/bigquery-server-prerendered.ts';
import { FAST_RETRY_OPTIONS, startBigQueryTestServer, testBigQuerySource, type BigQueryTestServer, type FieldSpec, type QueryFixture } from './support/bigquery-server.ts';

process.env['METADATA_SERVER_DETECTION'] = 'none';

const SQL = 'SELECT * FROM `p.ds.prerendered`';
const SCHEMA: FieldSpec[] = [
  { name: 'id', type: 'INT64', mode: 'REQUIRED' },
  { name: 'label', type: 'STRING' },
  { name: 'at', type: 'TIMESTAMP' },
  { name: 'amount', type: 'NUMERIC' },
  { name: 'tags', type: 'STRING', mode: 'REPEATED' },
  { name: 'point', type: 'RECORD', fields: [{ name: 'x', type: 'FLOAT64' }, { name: 'y', type: 'FLOAT64' }] },
];
const COUNT = 1000;
// Rows of different widths, with characters Google escapes (<, >, &, =) and multi-byte ones,
// so that byte counts, escapes and the page cap all matter.
const FIXTURE: QueryFixture = {
  schema: SCHEMA,
  rows: {
    count: COUNT,
    at: (i) => ({
      id: i,
      label: i % 7 === 0 ? null : `<row ${i}> & a=b ${'é'.repeat(i % 13)}${'🙂'.repeat(i % 3)} ${'x'.repeat((i * 37) % 200)}`,
      at: new Date(Date.UTC(2024, 0, 1) + i * 60_000),
      amount: `${i}.${String(i % 100).padStart(2, '0')}`,
      tags: Array.from({ length: i % 4 }, (_, k) => `t${k}`),
      point: i % 5 === 0 ? null : { x: i / 3, y: -i },
    }),
  },
  bytesProcessed: COUNT * 100,
};

let server: BigQueryTestServer;
let jobId: string;
beforeAll(async () => {
  server = await startBigQueryTestServer({ projectId: 'p', maxPageBytes: 20_000 });
  server.addQuery(SQL, FIXTURE);
  const bq = new BigQuery({ projectId: 'p', apiEndpoint: server.url, retryOptions: { ...FAST_RETRY_OPTIONS } });
  const [job] = await bq.createQueryJob({ query: SQL });
  jobId = job.id!;
});
afterAll(() => server.close());

/** One answer as it crossed the wire: status, content-encoding, body bytes (not inflated). */
function get(search: string, gzip: boolean): Promise<{ status: number; encoding: string | undefined; body: Buffer }> {
  const url = new URL(`${server.url}/bigquery/v2/projects/p/queries/${jobId}?${search}`);
  const headers = gzip ? { 'accept-encoding': 'gzip', 'user-agent': 'bench (gzip)' } : {};
  return new Promise((resolve, reject) => {
    request(url, { headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, encoding: res.headers['content-encoding'], body: Buffer.concat(chunks) }));
      res.on('error', reject);
    }).on('error', reject).end();
  });
}

/** The JSON of an answer (inflated when gzipped), its random etag blanked. */
async function answer(search: string, gzip: boolean): Promise<string> {
  const res = await get(search, gzip);
  expect(res.status).toBe(200);
  expect(res.encoding).toBe(gzip ? 'gzip' : undefined);
  const json = (gzip ? zlib.gunzipSync(res.body) : res.body).toString('utf8'); // gunzip checks the CRC and length
  return json.replace(/"etag":"[^"]*"/, '"etag":"-"');
}

const INT64 = 'formatOptions.useInt64Timestamp=true';

/** Every page of a read that asks `maxResults` per page, following pageTokens. */
async function chain(maxResults: number, gzip: boolean): Promise<string[]> {
  const pages: string[] = [];
  let token: string | undefined;
  do {
    const page = await answer(`${INT64}&maxResults=${maxResults}${token ? `&pageToken=${token}` : ''}`, gzip);
    pages.push(page);
    token = (JSON.parse(page) as { pageToken?: string }).pageToken;
  } while (token);
  return pages;
}

const SINGLE_REQUESTS = [
  `${INT64}&maxResults=1`,
  `${INT64}&maxResults=7`,
  `${INT64}&maxResults=16`,
  `${INT64}&maxResults=100&startIndex=3`,
  `${INT64}&maxResults=1000`, // cut by the 20,000-byte cap
  `${INT64}&maxResults=0`,
  `${INT64}&startIndex=999`,
  `${INT64}&startIndex=5000`,
  'formatOptions.timestampOutputFormat=ISO8601_STRING&maxResults=50', // not pre-rendered: made on the fly
];

async function everyAnswer(): Promise<string[]> {
  const out: string[] = [];
  for (const gzip of [false, true]) {
    for (const search of SINGLE_REQUESTS) out.push(await answer(search, gzip));
    for (const size of [16, 37, 333]) out.push(...(await chain(size, gzip)));
  }
  return out;
}

describe('pre-rendered pages', () => {
  it('are the pages made on the fly, byte for byte, for any page size, start and token, gzipped or not', async () => {
    const onTheFly = await everyAnswer();
    const stats = server.prerender(FIXTURE, { segmentRows: 16 });
    expect(stats.rows).toBe(COUNT);
    const requestsBefore = server.requests.length;
    const ahead = await everyAnswer();
    expect(server.requests.length - requestsBefore).toBe(onTheFly.length);
    expect(ahead).toHaveLength(onTheFly.length);
    ahead.forEach((page, i) => expect(page, `answer ${i}`).toBe(onTheFly[i]));
    // The cap did cut a page, and the escapes are there.
    expect(onTheFly.some((p) => p.includes('"pageToken"') && (JSON.parse(p) as { rows: unknown[] }).rows.length < 1000)).toBe(true);
    expect(ahead.join()).toContain('\\u003crow 1\\u003e \\u0026 a\\u003db');
  });

  it('a gzip answer is one gzip member, about as small as one compressed on the fly', async () => {
    const before = (await get(`${INT64}&maxResults=500&startIndex=11`, true)).body;
    server.reset();
    server.addQuery(SQL, FIXTURE);
    server.prerender(FIXTURE, { segmentRows: 16 });
    const bq = new BigQuery({ projectId: 'p', apiEndpoint: server.url, retryOptions: { ...FAST_RETRY_OPTIONS } });
    jobId = (await bq.createQueryJob({ query: SQL }))[0].id!;
    const after = (await get(`${INT64}&maxResults=500&startIndex=11`, true)).body;
    // One member: its trailer's length is the whole JSON (what the source sizes its buffer from).
    expect(after.readUInt32LE(after.length - 4)).toBe(zlib.gunzipSync(after).length);
    expect(after.length).toBeLessThan(before.length * 1.2);
  });

  it('the source reads the same rows from them as from pages made on the fly', async () => {
    const read = async () => {
      const source = testBigQuerySource(server, { projectId: 'p' });
      const opened = await source.open({ table: { schema: 'sqp', name: 't' }, params: {}, pageSize: 123, keyColumns: [], source: { query: SQL } });
      let text = '';
      for await (const page of opened.pages()) text += page.copyText ?? '';
      return text;
    };
    server.reset();
    server.addQuery(SQL, FIXTURE);
    const onTheFly = await read();
    server.prerender(FIXTURE, { segmentRows: 64 });
    const ahead = await read();
    expect(ahead.split('\n')).toHaveLength(COUNT + 1);
    expect(ahead).toBe(onTheFly);
  });
});

describe('crc32Combine', () => {
  it('gives the CRC-32 of joined bytes from the CRC-32 of each part', () => {
    const bytes = Buffer.from(Array.from({ length: 5000 }, (_, i) => (i * 7919) % 251));
    for (const cut of [0, 1, 2, 3, 7, 100, 1024, 4999, 5000]) {
      const a = bytes.subarray(0, cut);
      const b = bytes.subarray(cut);
      expect(crc32Combine(zlib.crc32(a), zlib.crc32(b), b.length)).toBe(zlib.crc32(bytes));
    }
  });
});
