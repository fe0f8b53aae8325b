// One BigQuery result of every type the source reads, its edge values first: the fixture both
// read paths (REST pages and Storage Read streams) are held to giving identical rows with.
// Values are written in BigQuery's canonical spelling (NUMERIC without trailing zeros, a
// DATETIME/TIME fraction in six digits, INTERVAL as ZetaSQL prints it), the only spelling the
// REST API sends — a value inside JSON text (a STRUCT, an ARRAY) keeps its spelling. INTERVAL
// hours stay within Arrow's month_day_nano (int64 nanoseconds: about 2.56 million hours).
import type { FieldSpec, Row } from './bigquery-server-types.ts';

export const EVERY_TYPE_FIELDS: FieldSpec[] = [
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
  { name: 'rdt', type: 'RANGE', rangeElementType: 'DATETIME' },
  { name: 'rts', type: 'RANGE', rangeElementType: 'TIMESTAMP' },
  { name: 'a', type: 'INT64', mode: 'REPEATED' },
  { name: 'rec', type: 'RECORD', fields: [
    { name: 'x', type: 'NUMERIC' },
    { name: 'fl', type: 'FLOAT64' },
    { name: 'by', type: 'BYTES' },
    { name: 'js', type: 'JSON' },
    { name: 'tags', type: 'STRING', mode: 'REPEATED' },
    { name: 'inner', type: 'RECORD', fields: [{ name: 'dt', type: 'DATETIME' }, { name: 'ts', type: 'TIMESTAMP' }, { name: 'd', type: 'DATE' }, { name: 'tm', type: 'TIME' }] },
    { name: 'iv', type: 'INTERVAL' },
    { name: 'r', type: 'RANGE', rangeElementType: 'TIMESTAMP' },
    { name: 'ok', type: 'BOOL' },
  ] },
  { name: 'recs', type: 'RECORD', mode: 'REPEATED', fields: [{ name: 'k', type: 'STRING' }, { name: 'v', type: 'FLOAT64' }, { name: 'big', type: 'BIGNUMERIC' }] },
];

/** The target table of the fixture (`CREATE TABLE <name> (…)` columns). */
export const EVERY_TYPE_COLUMNS = `id bigint PRIMARY KEY, i bigint, f double precision, n numeric, bn numeric, b boolean, s text, y bytea, d date,
  dt timestamp, t time, ts timestamptz, j jsonb, g text, iv interval, rd daterange, rdt tsrange, rts tstzrange, a jsonb, rec jsonb, recs jsonb`;

const EDGES: Row[] = [
  {
    id: 0n, i: 9_007_199_254_740_993n, f: Number.NaN, n: '99999999999999999999999999999.999999999',
    bn: '578960446186580977117854925043439539266.34992332820282019728792003956564819967', b: true,
    s: 'héllo ✓ "quoted" \\ back\tslash\nnew\rline', y: Uint8Array.of(0, 255, 1, 92, 9), d: '0001-01-01', dt: '0001-01-01T00:00:00',
    t: '00:00:00', ts: -62135596800000000n, j: { a: [1, null, 'x\ty'], u: 'é\\' }, g: 'POINT(1 2)', iv: '1-2 3 4:5:6.789',
    rd: { start: '2024-01-01', end: null }, rdt: { start: '2024-01-01T10:00:00.500000', end: null }, rts: { start: 1704067200123456n, end: 1704067200123457n },
    a: [1n, -2n, 9_223_372_036_854_775_807n],
    rec: {
      x: '-0.000000001', fl: Number.POSITIVE_INFINITY, by: Uint8Array.of(1, 2, 3), js: { deep: [true, 1.5] }, tags: ['a', '', 'tab\there'],
      inner: { dt: '2024-02-29T23:59:59.999999', ts: 1_709_251_199_999_999n, d: '2024-02-29', tm: '23:59:59.123456' },
      iv: '-0-11 30 2000000:0:0', r: { start: null, end: 0n }, ok: false,
    },
    recs: [{ k: 'a', v: Number.NEGATIVE_INFINITY, big: '-1.5' }, { k: null, v: -0.5, big: null }],
  },
  {
    id: 1n, i: -9_223_372_036_854_775_808n, f: Number.NEGATIVE_INFINITY, n: '-1', bn: '-0.00000000000000000000000000000000000001',
    b: false, s: '', y: new Uint8Array(), d: '9999-12-31', dt: '9999-12-31T23:59:59.999999', t: '23:59:59.999999',
    ts: 253402300799999999n, j: '"just a string"', g: 'LINESTRING(0 0, 1 1)', iv: '-10-11 -30 -100:0:0.000001',
    rd: { start: null, end: null }, rdt: { start: '0001-01-01T00:00:00', end: '9999-12-31T23:59:59.999999' }, rts: { start: null, end: 0n },
    a: [], rec: { x: null, fl: Number.NaN, by: null, js: null, tags: [], inner: null, iv: null, r: null, ok: null }, recs: [],
  },
  { id: 2n, f: Number.POSITIVE_INFINITY, s: 'a NUL \u0000 inside', n: '0', bn: '0', i: 0n },
  { id: 3n, f: -0, s: 'ünïcödé 😀', n: '12345678901234567890123456789.5', i: 9_007_199_254_740_992n, ts: 1_704_067_200_000_001n, d: '1970-01-01', dt: '1969-12-31T23:59:59.999999', t: '12:00:00.000001' },
];

/** Edge values first, then ordinary rows: `count` rows in all, row `id` at index id. */
export function everyTypeRows(count: number): { count: number; at: (i: number) => Row } {
  return { count, at: (index) => EDGES[index] ?? ordinaryRow(index) };
}

function ordinaryRow(index: number): Row {
  return {
    id: BigInt(index), i: BigInt(index) * 1_000_000_007n, f: index / 7, n: `${index}.5`, bn: `-${index}.25`, b: index % 2 === 0,
    s: index % 13 === 0 ? null : `row ${index}\twith tab`, y: Uint8Array.of(index % 256, 10), d: '2024-02-29',
    dt: `2024-02-29T12:00:${String(index % 60).padStart(2, '0')}`, t: '12:34:56.000001', ts: 1_704_067_200_000_000n + BigInt(index) * 1_000_003n,
    j: { index, name: `n${index}` }, g: `POINT(${index} 0)`, iv: `0-${index % 12} ${index} 0:0:${index % 60}`,
    rd: { start: '2024-01-01', end: '2024-12-31' }, rdt: null, rts: index % 3 === 0 ? null : { start: 1_704_067_200_000_000n, end: null },
    a: [BigInt(index), BigInt(-index)], rec: { x: '1', fl: index / 3, by: Uint8Array.of(index % 256), js: [index], tags: ['t'], inner: { dt: null, ts: null, d: null, tm: null }, iv: '0-0 1 0:0:0', r: null, ok: true },
    recs: [{ k: `k${index}`, v: index, big: `${index}` }],
  };
}
