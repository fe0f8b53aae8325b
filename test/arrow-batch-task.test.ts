// A record batch converted by a decode worker as the Storage Read path hands it over: inside
// the larger buffer of its gRPC message, at an offset that leaves its Arrow buffers unaligned
// (bigquery-storage.ts moves the whole buffer, arrow-ipc.ts copies such a body before reading
// it). And batches of sessions with different schemas, one after the other on the same worker
// (arrow-ipc.ts keeps the last schema it decoded). Each gives the text the batch alone gives,
// ZSTD-compressed or not (a compressed body's raw buffers are read in place too).
import { afterAll, describe, expect, it } from 'vitest';
import { arrowBatchToCopyText } from '../src/runner/sources/bigquery/arrow-copy.ts';
import type { WireField } from '../src/runner/sources/bigquery/bigquery-types.ts';
import { createDecodePool } from '../src/runner/sources/decode/decode-pool.ts';
import { ArrowTable } from './support/bigquery-storage-arrow.ts';
import { wireSchema } from './support/bigquery-server-wire.ts';
import { EVERY_TYPE_FIELDS, everyTypeRows } from './support/bigquery-every-type.ts';
import type { FieldSpec } from './support/bigquery-server-types.ts';
import type { BufferCompression } from './support/bigquery-storage-server-types.ts';

const pool = createDecodePool({ threads: 1 });
afterAll(() => pool.close());

const everyType = { table: new ArrowTable(EVERY_TYPE_FIELDS, everyTypeRows(100).at), fields: wireSchema(EVERY_TYPE_FIELDS) as WireField[] };
const NARROW: FieldSpec[] = [{ name: 'n', type: 'NUMERIC' }, { name: 'd', type: 'DATE' }, { name: 's', type: 'STRING' }];
const narrow = {
  table: new ArrowTable(NARROW, (i) => ({ n: `${i}.25`, d: '2024-02-29', s: `row\t${i}` })),
  fields: wireSchema(NARROW) as WireField[],
};

/** The text of rows [start, end) of a table converted on this thread, the batch on its own (uncompressed). */
function alone(t: typeof narrow, start: number, end: number): string {
  return arrowBatchToCopyText(t.table.serializedSchema, t.table.serializeRows(start, end, 'COMPRESSION_UNSPECIFIED'), { fields: t.fields, firstRow: start, nulReplacement: '?' }).text.toString();
}

/** The same rows converted by a worker, the batch at byte `at` of a larger buffer that moves with it. */
async function inMessage(t: typeof narrow, start: number, end: number, at: number, compression: BufferCompression = 'COMPRESSION_UNSPECIFIED'): Promise<string> {
  const batch = t.table.serializeRows(start, end, compression);
  const message = Buffer.alloc(at + batch.length + 7, 0xee);
  message.set(batch, at);
  const whole = Buffer.from(message.buffer, message.byteOffset, message.byteLength);
  const options = { fields: t.fields, firstRow: start, nulReplacement: '?', schema: t.table.serializedSchema, at: whole.byteOffset + at, length: batch.length };
  const done = await pool.run('arrowBatch', Buffer.from(whole.buffer), options);
  return done.text.toString();
}

describe('a record batch handed to a decode worker inside its message buffer', () => {
  it('converts at any offset of the buffer, as the batch alone does', async () => {
    for (const at of [35, 8, 1]) {
      expect(await inMessage(everyType, 0, 100, at)).toBe(alone(everyType, 0, 100));
      expect(await inMessage(everyType, 0, 100, at, 'ZSTD')).toBe(alone(everyType, 0, 100));
    }
  });

  it('converts batches of sessions with different schemas in turn', async () => {
    expect(await inMessage(narrow, 0, 10, 35)).toBe(alone(narrow, 0, 10));
    expect(await inMessage(everyType, 10, 60, 35)).toBe(alone(everyType, 10, 60));
    expect(await inMessage(narrow, 10, 20, 3)).toBe(alone(narrow, 10, 20));
    expect(await inMessage(everyType, 60, 100, 5, 'ZSTD')).toBe(alone(everyType, 60, 100));
  });
});
