/**
 * A Storage Read whose pages are not taken (PostgreSQL is slow, the run waits for a lock) holds a
 * bounded number of record batches: its readers stop reading their gRPC streams, and BigQuery's
 * server waits on HTTP/2 flow control. The client's own ReadRows stream (google-gax) buffered
 * ~100 answers per stream whatever their size — 233 MB at the engine bench's 1M rows — which is
 * why the reader goes through the client's stub (bigquery-storage-session.ts). Against the local
 * Storage Read API test server, with the official client's stub over real gRPC.
 */
import v8 from 'node:v8';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { BigQueryReadClient } from '@google-cloud/bigquery-storage';
import { startBigQueryStorageTestServer, type BigQueryStorageTestServer, type StorageRequest } from './support/bigquery-storage-server.ts';
import { createStorageSession, loadStorageClient, readRowsOf } from '../src/runner/sources/bigquery/bigquery-storage-session.ts';
import { storageRead, type BigQueryStorageResumeState } from '../src/runner/sources/bigquery/bigquery-storage-read.ts';
import type { FieldSpec } from './support/bigquery-server-types.ts';

const TABLE = 'projects/p/datasets/d/tables/wide';
/** One row per answer, each ~256 KB: what the client holds is counted in answers, not in bytes. */
const ROWS = 400;
const WIDTH = 256 * 1024;
const FIELDS: FieldSpec[] = [
  { name: 'id', type: 'INT64', mode: 'REQUIRED' },
  { name: 'payload', type: 'STRING', mode: 'NULLABLE' },
];
const rowAt = (i: number) => ({ id: BigInt(i), payload: String.fromCharCode(97 + (i % 26)).repeat(WIDTH) });

let server: BigQueryStorageTestServer;
let client: BigQueryReadClient;

beforeAll(async () => {
  server = await startBigQueryStorageTestServer({ rowsPerResponse: 1 });
  server.addTable(TABLE, { fields: FIELDS, rows: { count: ROWS, at: rowAt } });
  const { apiEndpoint, port } = server.clientOptions();
  const before = youngGeneration();
  client = await loadStorageClient({ apiEndpoint, port, insecure: true, compression: 'none' }, 'p', undefined);
  // Loading the client grows V8's young generation (its protos survive every scavenge), and a
  // grown young generation stays touched through the read that follows: the load gives it back.
  youngAfterLoad = { before, after: youngGeneration() };
});

/** Bytes V8 holds for its young generation (new space). */
function youngGeneration(): number {
  return v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')!.space_size;
}
let youngAfterLoad: { before: number; after: number };

it('loading the client leaves V8 a smaller young generation than before it, not the larger one the load grew', () => {
  expect(youngAfterLoad.after).toBeLessThan(youngAfterLoad.before);
});

afterAll(async () => {
  await client?.close();
  await server?.close();
});

/** The ReadRows call once it has waited `quietMs` for a client that does not read (its server is held up, for good). */
function heldUp(quietMs: number): Promise<StorageRequest> {
  return new Promise((resolve) => {
    let timer: NodeJS.Timeout | undefined;
    const off = server.onWaitForClient((record) => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        if (!record.waiting) return;
        off();
        resolve(record);
      }, quietMs);
    });
  });
}

it('a read whose pages are not taken stops reading its stream: the server waits, holding most of the table, and every row comes once pages are taken again', async () => {
  const settings = { ...server.clientOptions(), insecure: true, compression: 'none' as const, maxStreams: 1 };
  const session = await createStorageSession(client, settings, 'p', TABLE);
  if ('reason' in session) throw new Error(session.message);
  const state: BigQueryStorageResumeState = {
    readApi: 'storage', jobId: 'j', location: null, session: session.name, expireTime: session.expireTime, totalRows: ROWS, fields: FIELDS.map(({ name, type, mode }) => ({ name, type, mode })),
    streams: session.streams.map((name) => ({ name, offset: 0, done: false })),
  };
  const read = storageRead({}, {
    readRows: readRowsOf(async () => client), schema: session.schema, state, pageSize: 1, retry: { attempts: 3, baseDelayMs: 10, maxDelayMs: 50 },
  });
  const held = heldUp(300);
  const pages = read.pages()[Symbol.asyncIterator]();
  const first = await pages.next();
  expect(first.value?.copyText?.subarray(0, 2).toString()).toBe('0\t');

  // The engine takes no page now. What the client holds: two pages gathered ahead, two answers of
  // the stream not yet written, 16 answers in the gRPC stream and the HTTP/2 window (8 MiB: ~32
  // of these) — ~52 — and the sockets' buffers: 48 measured. Through google-gax's stream the
  // server got 128 answers out before it had to wait.
  const record = await held;
  expect(record.rows).toBeGreaterThan(1);
  expect(record.rows).toBeLessThanOrEqual(80);

  let rows = 1;
  let last = first.value!;
  for (let page = await pages.next(); !page.done; page = await pages.next()) {
    rows += page.value.copyText ? 1 : 0;
    last = page.value;
  }
  expect(rows).toBe(ROWS);
  expect(last.resumeAfter).toBeNull();
  expect(last.copyText?.subarray(0, 4).toString()).toBe(`${ROWS - 1}\t`);
  await read.close();
}, 60_000);
