// The byte parser of result pages (bigquery-wire.ts) against the reference path it replaces:
// JSON.parse of the whole body, `convertRows` (one value at a time through `toText`) and
// `toCopyText`. Both must give the same COPY text for every value shape a page can hold.
import { describe, expect, it } from 'vitest';
import { toCopyText } from '../src/runner/sources/copy-text.ts';
import { convertRows, type WireField, type WireRow } from '../src/runner/sources/bigquery/bigquery-types.ts';
import { readResultsBody } from '../src/runner/sources/bigquery/bigquery-wire.ts';
import { InvalidRowValue } from '../src/runner/sources/bigquery/bigquery-wire-rows.ts';

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
  { name: 'tr', type: 'RANGE', rangeElementType: { type: 'TIMESTAMP' } },
  { name: 'iv', type: 'INTERVAL' },
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
      { v: maybe(pick(['0', '-1', '9223372036854775807', '-9223372036854775808', '42', '+5'])) },
      { v: maybe(pick(['0', '1.5', '-0.000000001', '99999999999999999999999999999.999999999', '1E+3', '1.', '+1.5', '-7'])) },
      { v: maybe(pick(['0', '1.5', '-2.25', 'NaN', 'Infinity', '-Infinity', '1e-300', '3.141592653589793'])) },
      { v: maybe(pick(['true', 'false'])) },
      { v: maybe(pick(['2024-01-01', '0001-01-01', '9999-12-31'])) },
      { v: maybe(pick(['2024-01-01T10:11:12', '2024-01-01 10:11:12.123456'])) },
      { v: maybe(pick(['1704103872123456', '0', '-62135596800000000'])) },
      { v: maybe(pick(['', 'AAEC', 'aGVsbG8='])) },
      { v: pick([[], [{ v: 'a' }], [{ v: 'a' }, { v: 'b"c' }]]) },
      { v: maybe({ f: [{ v: pick(['1', '-7']) }, { v: maybe(pick(STRINGS)) }] }) },
      { v: maybe(pick(['[1704067200000000, UNBOUNDED)', '[UNBOUNDED, 0)', '[1704067200000000, 1704067200000001)'])) },
      { v: maybe(pick(['0-0 0 0:0:0', '1-2 3 4:5:6.789', '-1-2 -3 -4:5:6', '10000-0 3660000 -87840000:0:0'])) },
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

  it('reads any valid JSON: whitespace anywhere, escaped characters and keys, repeated keys (the last wins)', () => {
    for (const seed of [11, 12, 13, 14, 15, 16]) {
      const next = rng(seed);
      const rows = Array.from({ length: 200 }, () => randomRow(next));
      const answer = { kind: 'bigquery#getQueryResultsResponse', schema: { fields: FIELDS }, rows, totalRows: '200', jobComplete: true };
      const body = Buffer.from(spelled(answer, next));
      expect(JSON.parse(body.toString('utf8'))).toEqual(answer); // still the same JSON
      const page = readResultsBody(body, []);
      expect({ seed, text: page.copy?.text.toString('utf8') }).toEqual({ seed, text: toCopyText(convertRows(FIELDS, rows)) });
      expect(page.meta).toMatchObject({ totalRows: '200', jobComplete: true });
    }
  });

  it('{"v": "x"} with a space after the colon (refused before) is read', () => {
    const body = Buffer.from('{"schema": {"fields": [{"name": "s", "type": "STRING"}]}, "rows": [{"f": [{"v": "x"}]}, {"f": [{"v": null}]}]}');
    expect(readResultsBody(body, []).copy?.text.toString('utf8')).toBe('x\n\\N\n');
  });

  it('invalid JSON still fails', () => {
    expect(() => readResultsBody(Buffer.from('{"rows": [{"f": [{"v": "x"}]}] trailing'), [{ name: 's', type: 'STRING' }])).toThrow();
    expect(() => readResultsBody(Buffer.from('{"rows": [{"f": [{"v": "x"'), [{ name: 's', type: 'STRING' }])).toThrow();
  });

  it('a NUL names its column and row on both paths, or is replaced when asked', () => {
    const fields: WireField[] = [{ name: 'id', type: 'INT64' }, { name: 's', type: 'STRING' }];
    const rows = [{ f: [{ v: '1' }, { v: 'ok' }] }, { f: [{ v: '2' }, { v: 'a\u0000b' }] }];
    const compact = Buffer.from(JSON.stringify({ schema: { fields }, rows }));
    const pretty = Buffer.from(JSON.stringify({ schema: { fields }, rows }, null, 1).replace('"f"', '"\\u0066"'));
    for (const body of [compact, pretty]) {
      let error: unknown;
      try {
        readResultsBody(body, [], { firstRow: 100 });
      } catch (err) {
        error = err;
      }
      expect(error).toBeInstanceOf(InvalidRowValue);
      expect((error as InvalidRowValue).where).toEqual({ column: 's', row: 101 });
      expect((error as Error).message).toMatch(/column "s", row 101 .*U\+0000/);
      expect(readResultsBody(body, [], { firstRow: 0, nulReplacement: '' }).copy?.text.toString('utf8')).toBe('1\tok\n2\tab\n');
    }
  });
});

/** JSON.stringify's value, spelled differently: random whitespace, \u escapes, a repeated key first. */
function spelled(value: unknown, next: () => number): string {
  const ws = () => [' ', '\n', '\t', '\r\n', '', ''][Math.floor(next() * 6)]!;
  const str = (s: string) =>
    `"${[...s].map((c) => {
      const plain = JSON.stringify(c).slice(1, -1);
      if (plain !== c || next() > 0.2) return plain;
      return c === '/' && next() < 0.5 ? '\\/' : `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;
    }).join('')}"`;
  const go = (v: unknown): string => {
    if (v === null || typeof v !== 'object') return typeof v === 'string' ? str(v) : JSON.stringify(v);
    if (Array.isArray(v)) return `[${ws()}${v.map((x) => `${ws()}${go(x)}${ws()}`).join(',')}${ws()}]`;
    const entries = Object.entries(v as Record<string, unknown>).map(([k, x]) => `${ws()}${str(k)}${ws()}:${ws()}${go(x)}${ws()}`);
    // A repeated key before the real one: JSON.parse keeps the last, so must the reader.
    const keys = Object.keys(v as object);
    if (keys.length === 1 && (keys[0] === 'v' || keys[0] === 'f') && next() < 0.1) entries.unshift(`${str(keys[0]!)}:${keys[0] === 'v' ? '"decoy"' : '[]'}`);
    return `{${entries.join(',')}}`;
  };
  return `${ws()}${go(value)}${ws()}`;
}
