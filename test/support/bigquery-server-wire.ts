// How the BigQuery REST test server writes values, schemas and result rows on the wire (and
// reads query parameters): exactly as BigQuery's REST API does for each type.
import type { FieldSpec, FieldType, ParamValue, Row } from './bigquery-server-types.ts';

export type TimestampFormat = 'int64' | 'iso' | 'float';

const LEGACY_TYPE: Partial<Record<FieldType, string>> = {
  INT64: 'INTEGER',
  FLOAT64: 'FLOAT',
  BOOL: 'BOOLEAN',
  STRUCT: 'RECORD',
};

export function wireSchema(fields: readonly FieldSpec[]): unknown[] {
  return fields.map((f) => {
    const out: Record<string, unknown> = {
      name: f.name,
      type: LEGACY_TYPE[f.type] ?? f.type,
      mode: f.mode ?? 'NULLABLE',
    };
    if (f.fields) out['fields'] = wireSchema(f.fields);
    if (f.type === 'RANGE') out['rangeElementType'] = { type: f.rangeElementType ?? 'DATE' };
    return out;
  });
}

function encodeRow(fields: readonly FieldSpec[], row: Row, ts: TimestampFormat, index: number): { f: { v: unknown }[] } {
  try {
    return encodeRecord(fields, row, ts);
  } catch (err) {
    throw new Error(`fixture row ${index}: ${err instanceof Error ? err.message : String(err)}`);
  }
}

function encodeRecord(fields: readonly FieldSpec[], row: unknown, ts: TimestampFormat): { f: { v: unknown }[] } {
  if (Array.isArray(row)) {
    if (row.length > fields.length) throw new Error(`row has ${row.length} cells, schema has ${fields.length} fields`);
    return { f: fields.map((field, i) => ({ v: encodeCell(field, row[i], ts) })) };
  }
  if (row === null || typeof row !== 'object') throw new Error(`row must be an object or an array, got ${typeof row}`);
  const obj = row as Record<string, unknown>;
  for (const key of Object.keys(obj)) {
    if (!fields.some((f) => f.name === key)) throw new Error(`row has field "${key}" that is not in the schema`);
  }
  return { f: fields.map((field) => ({ v: encodeCell(field, obj[field.name], ts) })) };
}

function encodeCell(field: FieldSpec, value: unknown, ts: TimestampFormat): unknown {
  if (field.mode === 'REPEATED') {
    if (value === null || value === undefined) return [];
    if (!Array.isArray(value)) throw new Error(`field "${field.name}" is REPEATED: give an array`);
    return value.map((v) => ({ v: encodeValue(field, v, ts) }));
  }
  return encodeValue(field, value, ts);
}

function encodeValue(field: FieldSpec, value: unknown, ts: TimestampFormat): unknown {
  if (value === null || value === undefined) {
    if (field.mode === 'REQUIRED') throw new Error(`field "${field.name}" is REQUIRED but got ${String(value)}`);
    return null;
  }
  const bad = (what: string): never => {
    throw new Error(`field "${field.name}" (${field.type}): ${what}, got ${describe(value)}`);
  };
  // The client's own wrapper types (BigQueryDate, BigQueryTimestamp, BigQueryInt, ...) carry `value`.
  const v: unknown =
    typeof value === 'object' && !(value instanceof Date) && !(value instanceof Uint8Array) && !Array.isArray(value) &&
    'value' in value && field.type !== 'RECORD' && field.type !== 'STRUCT' && field.type !== 'JSON'
      ? (value as { value: unknown }).value
      : value;

  switch (field.type) {
    case 'STRING':
    case 'GEOGRAPHY':
      if (typeof v === 'string') return v;
      if (typeof v === 'number' || typeof v === 'bigint' || typeof v === 'boolean') return String(v);
      return bad('expected a string');
    case 'JSON':
      return typeof v === 'string' ? v : JSON.stringify(v);
    case 'BYTES':
      if (v instanceof Uint8Array) return Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64');
      if (typeof v === 'string') return v;
      return bad('expected a Uint8Array or a base64 string');
    case 'INT64':
    case 'INTEGER':
      if (typeof v === 'bigint') return v.toString();
      if (typeof v === 'number') return Number.isSafeInteger(v) ? String(v) : bad('expected a safe integer (use a bigint or a string beyond 2^53)');
      if (typeof v === 'string' && /^-?\d+$/.test(v)) return v;
      return bad('expected an integer');
    case 'FLOAT64':
    case 'FLOAT':
      if (typeof v === 'number') {
        if (Number.isNaN(v)) return 'NaN';
        if (v === Infinity) return 'Infinity';
        if (v === -Infinity) return '-Infinity';
        return String(v);
      }
      if (typeof v === 'bigint') return v.toString();
      if (typeof v === 'string' && v.trim() !== '' && !Number.isNaN(Number(v))) return v;
      return bad('expected a number');
    case 'NUMERIC':
    case 'BIGNUMERIC':
      if (typeof v === 'string' && /^-?\d+(\.\d+)?$/.test(v)) return v;
      if (typeof v === 'bigint') return v.toString();
      if (typeof v === 'number' && Number.isFinite(v)) return String(v);
      if (v && typeof v === 'object' && typeof (v as { toFixed?: unknown }).toFixed === 'function') {
        return (v as { toFixed(): string }).toFixed();
      }
      return bad('expected a decimal string, number, bigint or Big');
    case 'BOOL':
    case 'BOOLEAN':
      if (typeof v === 'boolean') return v ? 'true' : 'false';
      if (v === 'true' || v === 'false') return v;
      return bad('expected a boolean');
    case 'DATE':
      if (v instanceof Date) return v.toISOString().slice(0, 10);
      if (typeof v === 'string' && /^\d{4}-\d{2}-\d{2}$/.test(v)) return v;
      return bad("expected 'YYYY-MM-DD' or a Date");
    case 'DATETIME':
      if (v instanceof Date) return v.toISOString().slice(0, -1);
      if (typeof v === 'string' && /^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}:\d{2}(\.\d{1,6})?)?$/.test(v)) {
        return v.length === 10 ? `${v}T00:00:00` : v.replace(' ', 'T');
      }
      return bad("expected 'YYYY-MM-DDTHH:MM:SS[.ffffff]' or a Date");
    case 'TIME':
      if (typeof v === 'string' && /^\d{2}:\d{2}:\d{2}(\.\d{1,6})?$/.test(v)) return v;
      return bad("expected 'HH:MM:SS[.ffffff]'");
    case 'TIMESTAMP':
      return formatTimestamp(toMicros(v) ?? bad('expected a Date, an ISO string, bigint µs or number ms'), ts);
    case 'RECORD':
    case 'STRUCT':
      return encodeRecord(field.fields ?? [], v, ts);
    case 'RANGE':
      return encodeRange(field, v, ts);
    case 'INTERVAL':
      if (typeof v === 'string' && INTERVAL.test(v)) return v;
      return bad("expected BigQuery's canonical interval text '[-]Y-M [-]D [-]H:M:S[.F]'");
    default:
      return bad(`type ${String(field.type)} is not supported by this test server`);
  }
}

const INTERVAL = /^-?\d+-\d+ -?\d+ -?\d+:\d+:\d+(\.\d{1,6})?$/;

/**
 * A RANGE as BigQuery writes it: "[start, end)", an unbounded end as UNBOUNDED, each bound
 * in its element type's wire form (a TIMESTAMP bound follows the answer's timestamp format,
 * so int64 microseconds under useInt64Timestamp).
 */
function encodeRange(field: FieldSpec, v: unknown, ts: TimestampFormat): string {
  const element: FieldSpec = { name: field.name, type: field.rangeElementType ?? 'DATE' };
  let start: unknown;
  let end: unknown;
  if (typeof v === 'string') {
    const m = /^\[(.*), (.*)\)$/.exec(v);
    if (!m) throw new Error(`field "${field.name}" (RANGE): expected '[start, end)', got ${describe(v)}`);
    [start, end] = [m[1] === 'UNBOUNDED' ? null : m[1], m[2] === 'UNBOUNDED' ? null : m[2]];
  } else if (v && typeof v === 'object' && !Array.isArray(v)) {
    ({ start, end } = v as { start?: unknown; end?: unknown });
  } else {
    throw new Error(`field "${field.name}" (RANGE): expected { start, end } or '[start, end)', got ${describe(v)}`);
  }
  const bound = (b: unknown) => (b === null || b === undefined ? 'UNBOUNDED' : String(encodeValue(element, b, ts)));
  return `[${bound(start)}, ${bound(end)})`;
}

/** Epoch microseconds, or undefined if not a timestamp. */
function toMicros(v: unknown): bigint | undefined {
  if (typeof v === 'bigint') return v;
  if (typeof v === 'number') return Number.isFinite(v) ? BigInt(Math.round(v * 1000)) : undefined;
  if (v instanceof Date) return Number.isNaN(v.getTime()) ? undefined : BigInt(v.getTime()) * 1000n;
  if (typeof v === 'string') {
    const m = /^(\d{4}-\d{2}-\d{2})(?:[T ](\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?)?\s*(Z|UTC|[+-]\d{2}(?::?\d{2})?)?$/i.exec(v.trim());
    if (!m) return undefined;
    const [, date, time = '00:00:00', frac = '', zoneRaw] = m;
    let zone = !zoneRaw || /^(z|utc)$/i.test(zoneRaw) ? 'Z' : zoneRaw;
    if (/^[+-]\d{2}$/.test(zone)) zone += ':00';
    else if (/^[+-]\d{4}$/.test(zone)) zone = `${zone.slice(0, 3)}:${zone.slice(3)}`;
    const ms = Date.parse(`${date}T${time}${zone}`);
    if (Number.isNaN(ms)) return undefined;
    return BigInt(ms) * 1000n + BigInt(frac.padEnd(6, '0').slice(0, 6));
  }
  return undefined;
}

function formatTimestamp(micros: bigint, ts: TimestampFormat): string {
  switch (ts) {
    case 'int64':
      return micros.toString();
    case 'iso': {
      const ms = micros / 1000n - (micros % 1000n < 0n ? 1n : 0n);
      const sub = ((micros % 1_000_000n) + 1_000_000n) % 1_000_000n;
      const iso = new Date(Number(ms)).toISOString();
      return `${iso.slice(0, 19)}.${sub.toString().padStart(6, '0')}Z`;
    }
    case 'float':
      // BigQuery's default: float seconds in Java notation, e.g. "1.7040672E9".
      return (Number(micros) / 1e6).toExponential().replace('e+', 'E').replace('e-', 'E-');
  }
}

export function timestampFormat(useInt64: unknown, outputFormat: unknown): TimestampFormat {
  if (outputFormat === 'ISO8601_STRING') return 'iso';
  if (outputFormat === 'INT64') return 'int64';
  if (outputFormat === 'FLOAT64') return 'float';
  if (useInt64 === true || useInt64 === 'true') return 'int64';
  return 'float';
}

export function decodeParam(type: Record<string, unknown>, value: Record<string, unknown>): ParamValue {
  if (type['type'] === 'ARRAY') {
    const values = Array.isArray(value['arrayValues']) ? (value['arrayValues'] as unknown[]) : [];
    return values.map((v) => decodeParam(asObject(type['arrayType']), asObject(v)));
  }
  if (type['type'] === 'STRUCT') {
    const out: Record<string, ParamValue> = {};
    const structValues = asObject(value['structValues']);
    const structTypes = Array.isArray(type['structTypes']) ? (type['structTypes'] as unknown[]) : [];
    for (const st of structTypes) {
      const s = asObject(st);
      const name = String(s['name']);
      out[name] = decodeParam(asObject(s['type']), asObject(structValues[name]));
    }
    return out;
  }
  const v = value['value'];
  return v === undefined || v === null ? null : String(v);
}

/**
 * Rows [start, end) as JSON texts, stopping early once the page would pass `maxBytes` (at
 * least one row per page): BigQuery caps a page near 20 MB whatever maxResults asked.
 */
export function encodeRows(
  fields: readonly FieldSpec[],
  at: (index: number) => Row,
  start: number,
  end: number,
  ts: TimestampFormat,
  maxBytes: number,
): string[] {
  const rows: string[] = [];
  let bytes = 0;
  for (let i = start; i < end; i++) {
    const text = JSON.stringify(encodeRow(fields, at(i), ts, i));
    bytes += Buffer.byteLength(text) + 1;
    if (bytes > maxBytes && rows.length > 0) break;
    rows.push(text);
  }
  return rows;
}

export function asObject(v: unknown): Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
}


function describe(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'bigint') return `${v}n`;
  if (v instanceof Date) return `Date(${v.toISOString()})`;
  if (typeof v === 'object') return v === null ? 'null' : (v.constructor?.name ?? 'object');
  return String(v);
}

