// The decode worker pool (src/runner/sources/decode/): real worker threads started from the
// TypeScript sources under vitest, the REST page task on them giving exactly the text of the
// in-thread reader, a worker that dies failing only its own task (retryably) and being
// replaced, and a BigQuery read whose worker is killed mid-page still loading every row once.
import zlib from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readResultsBody } from '../src/runner/sources/bigquery/bigquery-wire.ts';
import { createDecodePool, DecodeWorkerLost, type DecodePool } from '../src/runner/sources/decode/decode-pool.ts';
import { startBigQueryTestServer, testBigQuerySource, type BigQueryTestServer, type FieldSpec } from './support/bigquery-server.ts';

const FIELDS = [
  { name: 'id', type: 'INTEGER' },
  { name: 'name', type: 'STRING' },
  { name: 'price', type: 'NUMERIC' },
  { name: 'ratio', type: 'FLOAT' },
  { name: 'at', type: 'TIMESTAMP' },
  { name: 'ok', type: 'BOOLEAN' },
  { name: 'tags', type: 'STRING', mode: 'REPEATED' },
];

/** A jobs.getQueryResults answer of `n` rows, with escapes, NULs-free oddities and NULLs. */
function answer(n: number, pageToken: string | null = 'next'): Buffer {
  const rows = Array.from({ length: n }, (_, i) => ({
    f: [
      { v: String(9007199254740993n + BigInt(i)) },
      { v: i % 7 === 0 ? null : `name\t${i}\\"q"\n${'é'.repeat(i % 3)}` },
      { v: `${i}.${i % 10}` },
      { v: i % 11 === 0 ? 'NaN' : String(i / 3) },
      { v: String(1_700_000_000_000_000 + i) },
      { v: i % 2 === 0 ? 'true' : 'false' },
      { v: [{ v: 'a' }, { v: String(i) }] },
    ],
  }));
  return Buffer.from(JSON.stringify({ kind: 'bigquery#getQueryResultsResponse', jobComplete: true, totalRows: String(n), pageToken, schema: { fields: FIELDS }, rows }));
}

const OPTIONS = { encoding: 'gzip', fields: [], read: { firstRow: 0 } };

let pool: DecodePool;
beforeAll(() => {
  pool = createDecodePool({ threads: 1 });
});
afterAll(() => pool.close());

describe('the decode pool', () => {
  it('converts a page on a worker thread to exactly the text of the in-thread reader, and reuses its buffer once released', async () => {
    const body = answer(2_000);
    const reference = readResultsBody(body, []);
    const page = await pool.run('restPage', zlib.gzipSync(body), OPTIONS);
    expect(page.text.equals(reference.copy!.text)).toBe(true);
    expect(page.rowCount).toBe(2_000);
    expect(page.meta).toMatchObject({ pageToken: 'next', totalRows: '2000', jobComplete: true });
    expect(page.bodyBytes).toBe(body.length);
    const size = page.text.buffer.byteLength;
    page.release();
    expect(pool.usage().buffers).toEqual({ buffers: 1, bytes: size });
    // The next page of the same size is written into that buffer: none is left free meanwhile, none is made.
    const again = await pool.run('restPage', zlib.gzipSync(body), OPTIONS);
    expect(pool.usage().buffers.buffers).toBe(0);
    expect(again.text.buffer.byteLength).toBe(size);
    expect(again.text.equals(reference.copy!.text)).toBe(true);
    again.release();
  });

  it("keeps a task's own error: a NUL names its column and row", async () => {
    const body = Buffer.from(JSON.stringify({ schema: { fields: [{ name: 's', type: 'STRING' }] }, rows: [{ f: [{ v: 'ok' }] }, { f: [{ v: 'a\u0000b' }] }] }));
    await expect(pool.run('restPage', body, { encoding: undefined, fields: [], read: { firstRow: 40 } })).rejects.toMatchObject({
      name: 'InvalidRowValue',
      where: { column: 's', row: 41 },
    });
  });

  it('a worker that dies fails only the task it was running, retryably, and is replaced', async () => {
    const [worker] = pool.workers();
    const running = pool.run('restPage', zlib.gzipSync(answer(20_000)), OPTIONS);
    const exited = new Promise((resolve) => worker!.once('exit', resolve));
    await worker!.terminate();
    await exited;
    const error = await running.then(() => null, (e: unknown) => e);
    expect(error).toBeInstanceOf(DecodeWorkerLost);
    expect(error).toMatchObject({ transient: true, message: expect.stringContaining('restPage') });
    expect(pool.workers()).toHaveLength(1);
    expect(pool.workers()[0]).not.toBe(worker);
    // The replacement converts the next task.
    const page = await pool.run('restPage', zlib.gzipSync(answer(10)), OPTIONS);
    expect(page.rowCount).toBe(10);
    page.release();
  });
});

describe('a BigQuery read through the pool', () => {
  let server: BigQueryTestServer;
  const SQL = 'SELECT id, payload FROM `p.ds.t`';
  const SCHEMA: FieldSpec[] = [{ name: 'id', type: 'INT64' }, { name: 'payload', type: 'STRING' }];
  const ROWS = Array.from({ length: 5_000 }, (_, i) => ({ id: i, payload: `row ${i}\twith a tab` }));
  beforeAll(async () => {
    server = await startBigQueryTestServer({ projectId: 'sqp-test' });
    server.addQuery(SQL, { schema: SCHEMA, rows: ROWS });
  });
  afterAll(() => server.close());

  it('loads every row once when the worker is killed while it converts a page: that page is asked for again', async () => {
    let runs = 0;
    // The real pool; its worker is told to end as the third page is handed to it (before it
    // can answer: ending it after the hand-over raced the conversion, which could finish first).
    const killing: DecodePool = {
      ...pool,
      run(kind, bytes, options, signal) {
        if (++runs === 3) void pool.workers()[0]!.terminate();
        return pool.run(kind, bytes, options, signal);
      },
    };
    const source = testBigQuerySource(server, { decodePool: killing });
    const read = await source.open({ table: { schema: 'sqp', name: 't' }, params: {}, pageSize: 1_000, keyColumns: ['id'], source: { query: SQL } });
    const ids: string[] = [];
    const payloads = new Set<string>();
    for await (const page of read.pages()) {
      for (const [id, payload] of page.rows) {
        ids.push(id!);
        payloads.add(payload!);
      }
      page.release?.();
    }
    expect(ids).toEqual(ROWS.map((r) => String(r.id)));
    expect(payloads.size).toBe(ROWS.length);
    expect([...payloads][7]).toBe('row 7\twith a tab');
    // 5 pages, and the one whose worker died once more.
    expect(server.count('getQueryResults')).toBe(6);
    expect(runs).toBe(6);
  });
});
