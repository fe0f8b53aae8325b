// The Storage Read API's record batches → COPY text (arrow-copy.ts) give the same bytes as the
// REST path's conversion of the same values (bigquery-types.ts + copy-text.ts), for every type
// the source reads, uncompressed and ZSTD-compressed (some buffers left raw); a NUL fails or is
// replaced as on the REST path; an LZ4_FRAME batch is refused, saying so. Pure: no server, no database.
import { CompressionType, compressionRegistry } from 'apache-arrow';
import { describe, expect, it } from 'vitest';
import { arrowBatchToCopyText } from '../src/runner/sources/bigquery/arrow-copy.ts';
import { convertRows, type WireField, type WireRow } from '../src/runner/sources/bigquery/bigquery-types.ts';
import { toCopyText } from '../src/runner/sources/copy-text.ts';
import { InvalidRowValue } from '../src/runner/sources/bigquery/bigquery-wire-rows.ts';
import { ArrowTable } from './support/bigquery-storage-arrow.ts';
import { encodeRows, wireSchema } from './support/bigquery-server-wire.ts';
import { EVERY_TYPE_FIELDS, everyTypeRows } from './support/bigquery-every-type.ts';
import type { FieldSpec, Row } from './support/bigquery-server-types.ts';
import { batchCodec, bufferPrefixes, withCodec } from './support/arrow-body-compression.ts';

// The reader under test reads a ZSTD body itself: apache-arrow's reader, which it hands what it
// does not read, is left without the codec the test support gave it, so a batch handed over fails.
compressionRegistry.set(CompressionType.ZSTD, {});

const rows = everyTypeRows(300);
const table = new ArrowTable(EVERY_TYPE_FIELDS, rows.at);
const fields = wireSchema(EVERY_TYPE_FIELDS) as WireField[];

/** What the REST path writes for rows [start, end) (its answer's rows, converted). */
function restCopyText(start: number, end: number, nulReplacement: string): string {
  const wire = encodeRows(EVERY_TYPE_FIELDS, rows.at, start, end, 'int64', Infinity).map((t) => JSON.parse(t) as WireRow);
  return toCopyText(convertRows(fields, wire).map((row) => row.map((v) => (v === null ? null : v.replaceAll('\0', nulReplacement)))));
}

describe('Arrow record batch → COPY text', () => {
  it.each(['COMPRESSION_UNSPECIFIED', 'ZSTD'] as const)('is byte for byte the REST path\'s text for every type, edge values included (buffer compression %s)', (compression) => {
    for (const [start, end] of [[0, 4], [4, 128], [128, 300]] as const) {
      const batch = table.serializeRows(start, end, compression);
      expect(batchCodec(batch)).toBe(compression === 'ZSTD' ? 'ZSTD' : null);
      const copy = arrowBatchToCopyText(table.serializedSchema, batch, { fields, firstRow: start, nulReplacement: '\uFFFD' });
      expect(copy.rowCount).toBe(end - start);
      expect(copy.text.toString('utf8')).toBe(restCopyText(start, end, '\uFFFD'));
    }
  });

  it('reads a ZSTD batch whose incompressible buffers were left raw (length prefix -1) as the same batch uncompressed', () => {
    // Random bytes do not compress (their buffer is sent raw); the doubles, the repeated text and
    // the small integers do. Some values NULL, so the validity bitmaps are sent too.
    const spec: FieldSpec[] = [{ name: 'f', type: 'FLOAT64' }, { name: 'y', type: 'BYTES' }, { name: 's', type: 'STRING' }, { name: 'i', type: 'INT64' }];
    let seed = 7;
    const random = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
    const values: Row[] = Array.from({ length: 500 }, (_, i) => ({
      f: i % 7 === 0 ? null : random() * 1e6,
      y: Uint8Array.from({ length: 16 }, () => Math.floor(random() * 256)),
      s: i % 5 === 0 ? null : 'the same words again and again',
      i: BigInt(i % 10),
    }));
    const arrow = new ArrowTable(spec, (i) => values[i]!);
    const specFields = wireSchema(spec) as WireField[];
    const compressed = arrow.serializeRows(0, values.length, 'ZSTD');
    const prefixes = bufferPrefixes(compressed);
    expect(prefixes).toContain(-1); // the random bytes
    expect(prefixes.filter((n) => n > 0).length).toBeGreaterThanOrEqual(4);
    const plain = arrow.serializeRows(0, values.length, 'COMPRESSION_UNSPECIFIED');
    expect(compressed.length).toBeLessThan(plain.length);
    const text = (batch: Uint8Array) => arrowBatchToCopyText(arrow.serializedSchema, batch, { fields: specFields, firstRow: 0 }).text.toString('utf8');
    const wire = encodeRows(spec, (i) => values[i]!, 0, values.length, 'int64', Infinity).map((t) => JSON.parse(t) as WireRow);
    expect(text(compressed)).toBe(text(plain));
    expect(text(compressed)).toBe(toCopyText(convertRows(specFields, wire)));
  });

  it('refuses an LZ4_FRAME batch, saying that this reader reads ZSTD only', () => {
    const lz4 = withCodec(table.serializeRows(0, 4, 'ZSTD'), CompressionType.LZ4_FRAME);
    expect(batchCodec(lz4)).toBe('LZ4_FRAME');
    expect(() => arrowBatchToCopyText(table.serializedSchema, lz4, { fields, firstRow: 0, nulReplacement: '?' }))
      .toThrow(/compressed with LZ4_FRAME, which this reader does not read \(it reads ZSTD/);
  });

  it('writes decimals and timestamps near the limits of exact doubles as the REST path does', () => {
    const spec: FieldSpec[] = [{ name: 'n', type: 'NUMERIC' }, { name: 'ts', type: 'TIMESTAMP' }, { name: 'i', type: 'INT64' }];
    const values: Row[] = [
      { n: '8999999.999999999', ts: -1n, i: 9_007_199_254_740_991n },
      { n: '-9007199.254740991', ts: 86_399_999_999n, i: -9_007_199_254_740_992n },
      { n: '9007199.254740993', ts: 9_007_199_254_740_991n, i: 9_007_199_254_740_993n },
      { n: '-0.000000001', ts: -86_400_000_001n, i: -1n },
      { n: '123.4', ts: -9_007_199_254_740_991n, i: 0n },
    ];
    const at = (i: number) => values[i]!;
    const arrow = new ArrowTable(spec, at);
    const wire = encodeRows(spec, at, 0, values.length, 'int64', Infinity).map((t) => JSON.parse(t) as WireRow);
    const specFields = wireSchema(spec) as WireField[];
    const copy = arrowBatchToCopyText(arrow.serializedSchema, arrow.serializeRows(0, values.length, 'COMPRESSION_UNSPECIFIED'), { fields: specFields, firstRow: 0 });
    expect(copy.text.toString('utf8')).toBe(toCopyText(convertRows(specFields, wire)));
  });

  it('fails on a NUL without nulReplacement, naming the column and the row of the stream', () => {
    const batch = table.serializeRows(1, 4, 'ZSTD'); // the NUL is in row 2
    let error: unknown;
    try {
      arrowBatchToCopyText(table.serializedSchema, batch, { fields, firstRow: 1 });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(InvalidRowValue);
    expect((error as InvalidRowValue).where).toEqual({ column: 's', row: 2 });
    expect((error as Error).message).toMatch(/column "s", row 2 .*NUL character/);
  });
});
