/**
 * Proves that the official @google-cloud/bigquery-storage client reads from
 * test/support/bigquery-storage-server.ts as it would from BigQuery's Storage Read API, and pins
 * down what the client does on the wire (checked with @google-cloud/bigquery-storage 5.1.2,
 * google-gax 5.0.8, @grpc/grpc-js 1.14.7, apache-arrow 21.2.0):
 *
 *  - `new BigQueryReadClient({ apiEndpoint: '127.0.0.1', port, sslCreds:
 *    grpc.credentials.createInsecure() })` talks plaintext gRPC and asks for no Google
 *    credentials: with `sslCreds` given, google-gax uses them as the channel credentials as is.
 *  - ReadRows failing with UNAVAILABLE mid-stream reaches the caller as an error on the
 *    stream after the rows already sent; the client does not resume it (a resume is a new
 *    ReadRows at the offset reached). CreateReadSession is retried on UNAVAILABLE and
 *    DEADLINE_EXCEEDED only, so PERMISSION_DENIED reaches the caller at once, with `code` 7.
 *  - readSession.readOptions.arrowSerializationOptions.bufferCompression 'ZSTD' (the enum's name)
 *    reaches the server as asked; its batches are then read here by apache-arrow's own reader,
 *    each buffer's length prefix checked against its frame.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BigQueryReadClient } from '@google-cloud/bigquery-storage';
import { RecordBatchReader, type Field } from 'apache-arrow';
import { startBigQueryStorageTestServer, type BigQueryStorageTestServer } from './support/bigquery-storage-server.ts';
import { encodeRows } from './support/bigquery-server-wire.ts';
import type { FieldSpec, Row } from './support/bigquery-server-types.ts';
import { wireRowsOf, type WireRow } from './support/arrow-wire.ts';
import { batchCodec, bufferPrefixes } from './support/arrow-body-compression.ts';

const TABLE = 'projects/p/datasets/d/tables/every_type';
const FIELDS: FieldSpec[] = [
  { name: 'id', type: 'INT64', mode: 'REQUIRED' },
  { name: 'i', type: 'INT64' },
  { name: 'f', type: 'FLOAT64' },
  { name: 'n', type: 'NUMERIC' },
  { name: 'bn', type: 'BIGNUMERIC' },
  { name: 'b', type: 'BOOL' },
  { name: 's', type: 'STRING' },
  { name: 'y', type: 'BYTES' },
  { name: 'd', type: 'DATE' },
  { name: 'dt', type: 'DATETIME' },
  { name: 't', type: 'TIME' },
  { name: 'ts', type: 'TIMESTAMP' },
  { name: 'j', type: 'JSON' },
  { name: 'g', type: 'GEOGRAPHY' },
  { name: 'iv', type: 'INTERVAL' },
  { name: 'rd', type: 'RANGE', rangeElementType: 'DATE' },
  { name: 'rts', type: 'RANGE', rangeElementType: 'TIMESTAMP' },
  { name: 'a', type: 'INT64', mode: 'REPEATED' },
  { name: 'rec', type: 'RECORD', fields: [
    { name: 'x', type: 'NUMERIC' },
    { name: 'tags', type: 'STRING', mode: 'REPEATED' },
    { name: 'inner', type: 'RECORD', fields: [{ name: 'dt', type: 'DATETIME' }] },
  ] },
  { name: 'recs', type: 'RECORD', mode: 'REPEATED', fields: [{ name: 'k', type: 'STRING' }, { name: 'v', type: 'FLOAT64' }] },
];

/** Edge values of every type, then ordinary rows; row `id` is its index. */
const EDGES: Row[] = [
  {
    id: 0n, i: 9_007_199_254_740_993n, f: Number.NaN, n: '99999999999999999999999999999.999999999',
    bn: '578960446186580977117854925043439539266.34992332820282019728792003956564819967', b: true,
    s: 'héllo ✓ "quoted"', y: Uint8Array.of(0, 255, 1), d: '0001-01-01', dt: '0001-01-01T00:00:00', t: '00:00:00',
    ts: -62135596800000000n, j: { a: [1, null, 'x'] }, g: 'POINT(1 2)', iv: '1-2 3 4:5:6.789',
    rd: { start: '2024-01-01', end: null }, rts: { start: 1704067200123456n, end: 1704067200123457n },
    a: [1n, -2n], rec: { x: '-0.000000001', tags: ['a', ''], inner: { dt: '2024-02-29T23:59:59.999999' } },
    recs: [{ k: 'a', v: Number.POSITIVE_INFINITY }, { k: null, v: -0.5 }],
  },
  {
    id: 1n, i: -9_223_372_036_854_775_808n, f: Number.NEGATIVE_INFINITY, n: '-1', bn: '-0.00000000000000000000000000000000000001',
    b: false, s: '', y: new Uint8Array(), d: '9999-12-31', dt: '9999-12-31T23:59:59.999999', t: '23:59:59.999999',
    ts: 253402300799999999n, j: '"just a string"', g: 'LINESTRING(0 0, 1 1)', iv: '-10-11 -30 -100:0:0.000001',
    rd: { start: null, end: null }, rts: { start: null, end: 0n }, a: [], rec: { x: null, tags: [], inner: null }, recs: [],
  },
  { id: 2n },
];
const ROW_COUNT = 203;
const rowAt = (index: number): Row => EDGES[index] ?? {
  id: BigInt(index), i: BigInt(index) * 1_000_000_007n, f: index / 7, n: `${index}.5`, bn: `-${index}`, b: index % 2 === 0,
  s: `row ${index}`, y: Uint8Array.of(index % 256), d: '2024-02-29', dt: `2024-02-29T12:00:${String(index % 60).padStart(2, '0')}`,
  t: '12:34:56.000001', ts: 1_704_067_200_000_000n + BigInt(index), j: { index }, g: `POINT(${index} 0)`, iv: `0-${index % 12} ${index} 0:0:${index % 60}`,
  rd: { start: '2024-01-01', end: '2024-12-31' }, rts: null, a: [BigInt(index)], rec: { x: '1', tags: ['t'], inner: { dt: null } },
  recs: [{ k: `k${index}`, v: index }],
};

let server: BigQueryStorageTestServer;
let client: BigQueryReadClient;
let clock = Date.now();

beforeAll(async () => {
  server = await startBigQueryStorageTestServer({ rowsPerResponse: 16, now: () => clock });
  server.addTable(TABLE, { fields: FIELDS, rows: { count: ROW_COUNT, at: rowAt } });
  client = new BigQueryReadClient({ ...server.clientOptions(), projectId: 'p' });
});

afterAll(async () => {
  await client?.close();
  await server?.close();
});

async function createSession(table: string, maxStreamCount: number, bufferCompression?: 'ZSTD' | 'LZ4_FRAME') {
  const readOptions = bufferCompression ? { readOptions: { arrowSerializationOptions: { bufferCompression } } } : {};
  const [session] = await client.createReadSession({
    parent: 'projects/p',
    readSession: { table, dataFormat: 'ARROW', ...readOptions },
    maxStreamCount,
  });
  return session;
}

/**
 * ReadRows without retry-request's resends: by default the client re-sends a ReadRows that
 * fails before its first response twice, 1-4 s apart, whatever the status (FAILED_PRECONDITION
 * included); after a response has arrived it passes the error on and does not resend.
 */
const NO_RESEND = { retryRequestOptions: { noResponseRetries: 0 } };

/** Reads one stream from `offset` until it ends or fails; decodes what arrived either way. */
async function readStream(schema: Uint8Array, fields: readonly FieldSpec[], readStream: string, offset = 0) {
  const rows: WireRow[] = [];
  const rowCounts: number[] = [];
  const batches: Uint8Array[] = [];
  let error: (Error & { code?: number }) | undefined;
  try {
    for await (const response of client.readRows({ readStream, offset }, NO_RESEND)) {
      const serialized = response.arrowRecordBatch!.serializedRecordBatch as Uint8Array;
      batches.push(serialized);
      for (const batch of RecordBatchReader.from(Buffer.concat([schema, serialized]))) rows.push(...wireRowsOf(fields, batch));
      rowCounts.push(Number(response.rowCount));
    }
  } catch (err) {
    error = err as Error & { code?: number };
  }
  return { rows, rowCounts, batches, error };
}

const expectedRows = (fields: readonly FieldSpec[], at: (i: number) => Row, count: number): WireRow[] =>
  encodeRows(fields, at, 0, count, 'int64', Infinity).map((text) => JSON.parse(text) as WireRow);

describe('BigQuery Storage Read API test server, through the official client', () => {
  it('serves every BigQuery type as the Arrow type BigQuery uses', async () => {
    const session = await createSession(TABLE, 1);
    const fields: Field[] = RecordBatchReader.from(session.arrowSchema!.serializedSchema as Uint8Array).open().schema.fields;
    const types = Object.fromEntries(fields.map((f) => [f.name, `${String(f.type)}${f.metadata.size ? ` ${JSON.stringify(Object.fromEntries(f.metadata))}` : ''}`]));
    expect(fields.map((f) => f.nullable)).toEqual(FIELDS.map((f) => f.mode === undefined));
    expect(types).toMatchObject({
      i: 'Int64', f: 'Float64', b: 'Bool', s: 'Utf8', y: 'Binary', d: 'Date32<DAY>', t: 'Time64<MICROSECOND>',
      ts: 'Timestamp<MICROSECOND, UTC>',
      dt: 'Timestamp<MICROSECOND> {"ARROW:extension:name":"google:sqlType:datetime"}',
      j: 'Utf8 {"ARROW:extension:name":"google:sqlType:json"}',
      g: 'Utf8 {"ARROW:extension:name":"google:sqlType:geography","ARROW:extension:metadata":"{\\"encoding\\": \\"WKT\\"}"}',
      iv: 'Interval<MONTH_DAY_NANO> {"ARROW:extension:name":"google:sqlType:interval"}',
      rd: 'Struct<{start:Date32<DAY>, end:Date32<DAY>}>',
      a: 'List<Int64>',
    });
    const decimals = fields
      .filter((f) => f.name === 'n' || f.name === 'bn').map((f) => f.type as unknown as { precision: number; scale: number; bitWidth: number });
    expect(decimals.map(({ precision, scale, bitWidth }) => ({ precision, scale, bitWidth }))).toEqual([
      { precision: 38, scale: 9, bitWidth: 128 },
      { precision: 76, scale: 38, bitWidth: 256 },
    ]);
  });

  it('splits a table among streams and gives back every row exactly as the REST API would', async () => {
    const session = await createSession(TABLE, 3);
    expect(session.name).toMatch(/^projects\/p\/locations\/us\/sessions\/[\w-]+$/);
    expect(session.streams).toHaveLength(3);
    expect(Number(session.estimatedRowCount)).toBe(ROW_COUNT);
    expect(Number(session.expireTime!.seconds) * 1000).toBeGreaterThan(clock + 5 * 3600_000);
    const schema = session.arrowSchema!.serializedSchema as Uint8Array;
    const read = await Promise.all(session.streams!.map((s) => readStream(schema, FIELDS, s.name!)));
    for (const stream of read) {
      expect(stream.error).toBeUndefined();
      expect(Math.max(...stream.rowCounts)).toBeLessThanOrEqual(16);
      expect(stream.rowCounts.reduce((a, b) => a + b, 0)).toBe(stream.rows.length);
    }
    // Streams hold contiguous ranges, so in stream order they are the table in order.
    expect(read.flatMap((s) => s.rows)).toEqual(expectedRows(FIELDS, rowAt, ROW_COUNT));
  });

  it('serves the rows of a prerendered table as it would encode them, and resumes one of its streams at an offset', async () => {
    const origin = {};
    let rowsEncoded = 0;
    const spec = { fields: FIELDS, rows: { count: ROW_COUNT, at: (i: number) => (rowsEncoded++, rowAt(i)) }, origin };
    server.addTable(`${TABLE}_rendered`, spec);
    const stats = server.prerender(origin, spec, 3, 'ZSTD');
    expect(stats).toMatchObject({ rows: ROW_COUNT });
    expect(stats.bytes).toBeGreaterThan(0);
    rowsEncoded = 0;
    const session = await createSession(`${TABLE}_rendered`, 3, 'ZSTD');
    const schema = session.arrowSchema!.serializedSchema as Uint8Array;
    const read = await Promise.all(session.streams!.map((s) => readStream(schema, FIELDS, s.name!)));
    expect(read.flatMap((s) => s.rows)).toEqual(expectedRows(FIELDS, rowAt, ROW_COUNT));
    expect(rowsEncoded).toBe(0); // every response was one rendered ahead
    expect(new Set(read.flatMap((s) => s.batches.map(batchCodec)))).toEqual(new Set(['ZSTD']));
    // An offset off the rendered boundaries is encoded as it goes: the same rows.
    const resumed = await readStream(schema, FIELDS, session.streams![1]!.name!, 5);
    expect(resumed.rows).toEqual(read[1]!.rows.slice(5));
    // The rendered batches are ZSTD's: a session without compression on the same table encodes its own.
    rowsEncoded = 0;
    const plain = await createSession(`${TABLE}_rendered`, 3);
    const plainRead = await readStream(schema, FIELDS, plain.streams![0]!.name!);
    expect(plainRead.rows).toEqual(read[0]!.rows);
    expect(plainRead.batches.map(batchCodec)).not.toContain('ZSTD');
    expect(rowsEncoded).toBe(plainRead.rows.length);
  });

  it('serves ZSTD-compressed record batches to a session that asks for them, as the format writes them, and logs what was asked', async () => {
    const session = await createSession(TABLE, 2, 'ZSTD');
    const asked = server.requests.filter((r) => r.method === 'CreateReadSession').at(-1)!;
    expect(asked).toMatchObject({ compression: 'ZSTD', code: 0 });
    expect(session.readOptions?.arrowSerializationOptions?.bufferCompression).toBe('ZSTD');
    const schema = session.arrowSchema!.serializedSchema as Uint8Array;
    const read = await Promise.all(session.streams!.map((s) => readStream(schema, FIELDS, s.name!)));
    expect(read.flatMap((s) => s.rows)).toEqual(expectedRows(FIELDS, rowAt, ROW_COUNT));
    const batches = read.flatMap((s) => s.batches);
    expect(new Set(batches.map(batchCodec))).toEqual(new Set(['ZSTD']));
    // Every non-empty buffer length-prefixed (bufferPrefixes checks each against its frame): mostly compressed, some left raw.
    const prefixes = batches.flatMap(bufferPrefixes);
    expect(prefixes.filter((n) => n > 0).length).toBeGreaterThan(prefixes.filter((n) => n === -1).length);
    expect(prefixes).toContain(-1);
    const reads = server.requests.filter((r) => r.method === 'ReadRows' && session.streams!.some((s) => s.name === r.request['readStream']));
    expect(reads.map((r) => r.compression)).toEqual(['ZSTD', 'ZSTD']);

    // The same rows uncompressed take more bytes; the log says none was asked.
    const plain = await createSession(TABLE, 2);
    expect(server.requests.filter((r) => r.method === 'CreateReadSession').at(-1)).toMatchObject({ compression: 'COMPRESSION_UNSPECIFIED' });
    const plainRead = await Promise.all(plain.streams!.map((s) => readStream(schema, FIELDS, s.name!)));
    expect(plainRead.flatMap((s) => s.rows)).toEqual(expectedRows(FIELDS, rowAt, ROW_COUNT));
    const bytes = (batchesRead: Uint8Array[]) => batchesRead.reduce((n, b) => n + b.length, 0);
    expect(bytes(batches)).toBeLessThan(bytes(plainRead.flatMap((s) => s.batches)));
  });

  it('refuses LZ4_FRAME with INVALID_ARGUMENT, saying it has no LZ4 frame encoder, and logs what was asked', async () => {
    const err = await createSession(TABLE, 1, 'LZ4_FRAME').then(() => undefined, (e: unknown) => e as Error & { code?: number; details?: string });
    expect(err?.code).toBe(3);
    expect(err?.details).toMatch(/cannot write LZ4_FRAME buffers \(no LZ4 frame encoder here\)/);
    expect(server.requests.filter((r) => r.method === 'CreateReadSession').at(-1)).toMatchObject({ compression: 'LZ4_FRAME', code: 3 });
  });

  it('resumes a stream that failed mid-way with UNAVAILABLE at its offset, no row lost or doubled', async () => {
    const session = await createSession(TABLE, 2);
    const schema = session.arrowSchema!.serializedSchema as Uint8Array;
    const stream = session.streams![0]!.name!;
    server.failStreamAfter(0, 40);
    const first = await readStream(schema, FIELDS, stream);
    expect(first.error?.code).toBe(14);
    expect(first.rows).toHaveLength(40);
    const rest = await readStream(schema, FIELDS, stream, first.rows.length);
    expect(rest.error).toBeUndefined();
    const streamRows = Math.ceil(ROW_COUNT / 2);
    expect([...first.rows, ...rest.rows]).toEqual(expectedRows(FIELDS, rowAt, streamRows));
    expect(server.requests.filter((r) => r.method === 'ReadRows' && r.request['readStream'] === stream).map((r) => [r.request['offset'], r.code, r.rows]))
      .toEqual([['0', 14, 40], ['40', 0, streamRows - 40]]);
  });

  it('refuses a session with PERMISSION_DENIED, which the client does not retry', async () => {
    server.denySessions(1);
    const before = server.requests.length;
    const err = await createSession(TABLE, 1).then(() => undefined, (e: unknown) => e as Error & { code?: number; details?: string });
    expect(err?.code).toBe(7);
    expect(err?.details).toBe("request failed: the user does not have 'bigquery.readsessions.create' permission for 'projects/p'");
    expect(server.requests.length - before).toBe(1);
    expect((await createSession(TABLE, 1)).streams).toHaveLength(1);
  });

  it('answers ReadRows of an expired session with FAILED_PRECONDITION, by expireSessions or after 6 hours', async () => {
    const session = await createSession(TABLE, 1);
    const schema = session.arrowSchema!.serializedSchema as Uint8Array;
    server.expireSessions();
    const expired = await readStream(schema, FIELDS, session.streams![0]!.name!);
    expect(expired.error?.code).toBe(9);
    expect(server.requests.filter((r) => r.request['readStream'] === session.streams![0]!.name)).toHaveLength(1);
    expect(expired.error?.message).toMatch(/there was an error operating on 'projects\/p\/locations\/us\/sessions\/.+\/streams\/.+': session expired at \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00/);

    const later = await createSession(TABLE, 1);
    clock += 6 * 3600_000;
    const timedOut = await readStream(schema, FIELDS, later.streams![0]!.name!);
    expect(timedOut.error?.code).toBe(9);
  });

  it('refuses to split a stream, as the API allows, and gives no streams for an empty table', async () => {
    const session = await createSession(TABLE, 1);
    const [split] = await client.splitReadStream({ name: session.streams![0]!.name!, fraction: 0.5 });
    expect(split.primaryStream ?? null).toBeNull();
    expect(split.remainderStream ?? null).toBeNull();

    server.addTable('projects/p/datasets/d/tables/empty', { fields: FIELDS, rows: [] });
    expect((await createSession('projects/p/datasets/d/tables/empty', 4)).streams ?? []).toEqual([]);
    const missing = await createSession('projects/p/datasets/d/tables/missing', 1).then(() => undefined, (e: unknown) => e as { code?: number });
    expect(missing?.code).toBe(5);
  });
});
