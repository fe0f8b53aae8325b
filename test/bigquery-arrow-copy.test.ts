// The Storage Read API's record batches → COPY text (arrow-copy.ts) give the same bytes as the
// REST path's conversion of the same values (bigquery-types.ts + copy-text.ts), for every type
// the source reads; a NUL fails or is replaced as on the REST path. Pure: no server, no database.
import { describe, expect, it } from 'vitest';
import { arrowBatchToCopyText } from '../src/runner/sources/bigquery/arrow-copy.ts';
import { convertRows, type WireField, type WireRow } from '../src/runner/sources/bigquery/bigquery-types.ts';
import { toCopyText } from '../src/runner/sources/copy-text.ts';
import { InvalidRowValue } from '../src/runner/sources/bigquery/bigquery-wire-rows.ts';
import { ArrowTable } from './support/bigquery-storage-arrow.ts';
import { encodeRows, wireSchema } from './support/bigquery-server-wire.ts';
import { EVERY_TYPE_FIELDS, everyTypeRows } from './support/bigquery-every-type.ts';
import type { FieldSpec, Row } from './support/bigquery-server-types.ts';

const rows = everyTypeRows(300);
const table = new ArrowTable(EVERY_TYPE_FIELDS, rows.at);
const fields = wireSchema(EVERY_TYPE_FIELDS) as WireField[];

/** What the REST path writes for rows [start, end) (its answer's rows, converted). */
function restCopyText(start: number, end: number, nulReplacement: string): string {
  const wire = encodeRows(EVERY_TYPE_FIELDS, rows.at, start, end, 'int64', Infinity).map((t) => JSON.parse(t) as WireRow);
  return toCopyText(convertRows(fields, wire).map((row) => row.map((v) => (v === null ? null : v.replaceAll('\0', nulReplacement)))));
}

describe('Arrow record batch → COPY text', () => {
  it('is byte for byte the REST path\'s text for every type, edge values included', () => {
    for (const [start, end] of [[0, 4], [4, 128], [128, 300]] as const) {
      const copy = arrowBatchToCopyText(table.serializedSchema, table.serializeRows(start, end), { fields, firstRow: start, nulReplacement: '\uFFFD' });
      expect(copy.rowCount).toBe(end - start);
      expect(copy.text.toString('utf8')).toBe(restCopyText(start, end, '\uFFFD'));
    }
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
    const copy = arrowBatchToCopyText(arrow.serializedSchema, arrow.serializeRows(0, values.length), { fields: specFields, firstRow: 0 });
    expect(copy.text.toString('utf8')).toBe(toCopyText(convertRows(specFields, wire)));
  });

  it('fails on a NUL without nulReplacement, naming the column and the row of the stream', () => {
    const batch = table.serializeRows(1, 4); // the NUL is in row 2
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
