// The byte parser of result pages (bigquery-wire.ts) against the reference path it replaces:
// JSON.parse of the whole body, `convertRows` (one value at a time through `toText`) and
// `toCopyText`. Both must give the same COPY text for every value shape a page can hold.
import { describe, expect, it } from 'vitest';
import { toCopyText } from '../src/runner/copy-text.ts';
import { convertRows, type WireField, type WireRow } from '../src/runner/sources/bigquery-types.ts';
import { readResultsBody } from '../src/runner/sources/bigquery-wire.ts';

const FIELDS: WireField[] = [
  { name: 's', type: 'STRING' },
  { name: 'i', type: 'INT64' },
  { name: 'n', type: 'NUMERIC' },
  { name: 'f', type: 'FLOAT64' },
  { name: 'b', type: 'BOOL' },
  { name: 'd', type: 'DATE' },
  { name: 'dt', type: 'DATETIME' },
  { name: 'ts', type: 'TIMESTAMP' },
  { name: 'by', type: 'BYTES' },
  { name: 'tags', type: 'STRING', mode: 'REPEATED' },
  { name: 'rec', type: 'RECORD', fields: [{ name: 'x', type: 'INT64' }, { name: 'y', type: 'STRING' }] },
];

/** A deterministic generator, so a failure names the seed that made it. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32);
}

const STRINGS = ['', 'plain', 'tab\there', 'new\nline', 'back\\slash', 'quote"d', 'ünïcødé ✓', '\u003cb\u003e', 'a\rb', '\\N'];

function randomRow(next: () => number): WireRow {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(next() * xs.length)]!;
  const maybe = (v: unknown) => (next() < 0.15 ? null : v);
  return {
    f: [
      { v: maybe(pick(STRINGS)) },
      { v: maybe(pick(['0', '-1', '9223372036854775807', '-9223372036854775808', '42'])) },
      { v: maybe(pick(['0', '1.5', '-0.000000001', '99999999999999999999999999999.999999999', '1E+3'])) },
      { v: maybe(pick(['0', '1.5', '-2.25', 'NaN', 'Infinity', '-Infinity', '1e-300', '3.141592653589793'])) },
      { v: maybe(pick(['true', 'false'])) },
      { v: maybe(pick(['2024-01-01', '0001-01-01', '9999-12-31'])) },
      { v: maybe(pick(['2024-01-01T10:11:12', '2024-01-01 10:11:12.123456'])) },
      { v: maybe(pick(['1704103872123456', '0', '-62135596800000000'])) },
      { v: maybe(pick(['', 'AAEC', 'aGVsbG8='])) },
      { v: pick([[], [{ v: 'a' }], [{ v: 'a' }, { v: 'b"c' }]]) },
      { v: maybe({ f: [{ v: pick(['1', '-7']) }, { v: maybe(pick(STRINGS)) }] }) },
    ],
  };
}

describe('result page bytes → COPY text', () => {
  it('matches JSON.parse + convertRows + toCopyText on 2,000 generated rows', () => {
    for (const seed of [1, 2, 3, 4]) {
      const next = rng(seed);
      const rows = Array.from({ length: 500 }, () => randomRow(next));
      const body = Buffer.from(JSON.stringify({ kind: 'bigquery#getQueryResultsResponse', schema: { fields: FIELDS }, rows, totalRows: '500', jobComplete: true }));
      const page = readResultsBody(body, []);
      const reference = toCopyText(convertRows(FIELDS, rows));
      expect({ seed, text: page.copy?.text.toString('utf8') }).toEqual({ seed, text: reference });
      expect(page.copy?.rowCount).toBe(rows.length);
    }
  });

  it('converts rows that come before the schema the same way', () => {
    const next = rng(9);
    const rows = Array.from({ length: 50 }, () => randomRow(next));
    const body = Buffer.from(JSON.stringify({ rows, schema: { fields: FIELDS }, jobComplete: true }));
    expect(readResultsBody(body, []).copy?.text.toString('utf8')).toBe(toCopyText(convertRows(FIELDS, rows)));
  });
});
