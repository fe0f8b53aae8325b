// BigQuery REST result values → PostgreSQL text input (`TextValue`), exactly.
//
// Why the raw REST rows and not the client's parsed rows: the wire form is already exact
// text for every type (INT64, NUMERIC, BIGNUMERIC and FLOAT64 are decimal strings; TIMESTAMP
// is int64 microseconds because the client always sends `formatOptions.useInt64Timestamp`),
// whereas the client's parsing turns INT64 into lossy numbers unless told otherwise, NUMERIC
// into Big objects, FLOAT64 into numbers, TIMESTAMP into PreciseDate ISO strings with
// nanosecond digits, DATE/DATETIME into wrapper objects and RECORDs into plain objects — each
// of which we would have to turn back into text, with a chance of rounding at every step.
// So the source asks `getQueryResults` for `skipParsing: true` and converts the `{f:[{v}]}`
// rows here, one small pure function per type, using the schema of the same answer.
import type { TextValue } from '../source.ts';

/** A field of a result schema as the REST API sends it (legacy type names included). */
export interface WireField {
  name: string;
  type: string;
  mode?: string | null;
  fields?: WireField[] | null;
  /** RANGE element type. */
  rangeElementType?: { type?: string | null } | null;
}

/** One cell on the wire: `{ v: value }`; a row is `{ f: cell[] }`. */
export interface WireCell {
  v?: unknown;
}
export interface WireRow {
  f?: WireCell[] | null;
}

/** The parts of a jobs.getQueryResults answer this source reads. */
export interface WireQueryResults {
  jobComplete?: boolean | null;
  jobReference?: { projectId?: string | null; jobId?: string | null; location?: string | null } | null;
  schema?: { fields?: WireField[] | null } | null;
  rows?: WireRow[] | null;
  totalRows?: string | number | null;
  pageToken?: string | null;
  totalBytesProcessed?: string | null;
  cacheHit?: boolean | null;
}

/** A type name as the API may spell it, reduced to one canonical name. */
export function canonicalType(type: string): string {
  const t = type.toUpperCase();
  switch (t) {
    case 'INTEGER':
      return 'INT64';
    case 'FLOAT':
      return 'FLOAT64';
    case 'BOOLEAN':
      return 'BOOL';
    case 'STRUCT':
      return 'RECORD';
    case 'BIGDECIMAL':
      return 'BIGNUMERIC';
    case 'DECIMAL':
      return 'NUMERIC';
    default:
      return t;
  }
}

/** Converts one page of wire rows to text rows in schema order. */
export function convertRows(fields: readonly WireField[], rows: readonly WireRow[] | null | undefined): TextValue[][] {
  if (!rows) return [];
  return rows.map((row, r) => {
    const cells = row.f ?? [];
    if (cells.length !== fields.length) {
      throw new Error(`BigQuery row ${r} has ${cells.length} cells, the result schema ${fields.length} fields`);
    }
    return fields.map((field, i) => toText(field, cells[i]?.v));
  });
}

/** One top-level cell as PostgreSQL text input, or null. RECORD and REPEATED become JSON text. */
export function toText(field: WireField, v: unknown): TextValue {
  if (field.mode === 'REPEATED') {
    if (v === null || v === undefined) return '[]'; // BigQuery has no NULL arrays; it sends []
    return toJson(field, v);
  }
  if (v === null || v === undefined) return null;
  const type = canonicalType(field.type);
  if (type === 'RECORD') return toJson(field, v);
  if (type === 'RANGE') return rangeText(field, v);
  return scalarText(type, v, field.name);
}

/**
 * RANGE<DATE|DATETIME|TIMESTAMP> → a PostgreSQL range literal. BigQuery writes "[start, end)"
 * with UNBOUNDED for an open end, each bound in its element type's wire form — a TIMESTAMP
 * bound as int64 microseconds under useInt64Timestamp, which PostgreSQL cannot read as a
 * timestamp: each bound goes through its element type's conversion ("[2024-01-01T00:00:00.000000Z,)").
 */
function rangeText(field: WireField, v: unknown): string {
  const s = asString(v, field.name);
  const m = /^\[\s*(.*?)\s*,\s*(.*?)\s*\)$/.exec(s);
  if (!m) throw new Error(`BigQuery column "${field.name}" (RANGE): expected "[start, end)", got ${s}`);
  const element = canonicalType(field.rangeElementType?.type ?? 'DATE');
  const bound = (b: string) => (b === '' || /^(UNBOUNDED|NULL)$/i.test(b) ? '' : scalarText(element, b, field.name));
  return `[${bound(m[1]!)},${bound(m[2]!)})`;
}

/**
 * INTERVAL in BigQuery's canonical form "[-]Y-M [-]D [-]H:M:S[.F]" (three independently signed
 * parts) → PostgreSQL's verbose form with a sign on every field. The canonical text itself is
 * valid PostgreSQL input, but under IntervalStyle sql_standard a leading '-' would negate all
 * of it ('-1-2 3 4:05:06' = -1y-2m-3d-4:05:06 there): explicit signs mean one thing everywhere.
 */
function intervalText(v: unknown, name = 'value'): string {
  const s = asString(v, name).trim();
  const m = /^([+-]?)(\d+)-(\d+) ([+-]?\d+) ([+-]?)(\d+):(\d+):(\d+)(?:\.(\d{1,9}))?$/.exec(s);
  if (!m) throw new Error(`BigQuery column "${name}" (INTERVAL): not in canonical form [-]Y-M [-]D [-]H:M:S[.F]: ${s}`);
  const [, ys, years, months, days, ts, hours, minutes, seconds, fraction] = m;
  const y = ys === '-' ? '-' : '+';
  const t = ts === '-' ? '-' : '+';
  const d = days!.startsWith('-') ? days! : `+${days!.replace(/^\+/, '')}`;
  const secs = fraction ? `${seconds}.${fraction}` : seconds;
  return `${y}${years} years ${y}${months} mons ${d} days ${t}${hours} hours ${t}${minutes} mins ${t}${secs} secs`;
}

function scalarText(type: string, v: unknown, name: string): string {
  switch (type) {
    case 'STRING':
    case 'GEOGRAPHY':
    case 'TIME':
    case 'DATE':
    case 'JSON':
      return asString(v, name);
    case 'INTERVAL':
      return intervalText(v, name);
    case 'INT64':
      return int64Text(v, name);
    case 'NUMERIC':
    case 'BIGNUMERIC':
      return plainDecimal(asString(v, name), name);
    case 'FLOAT64':
      return float64Text(v, name);
    case 'BOOL':
      return boolText(v, name);
    case 'DATETIME':
      return asString(v, name).replace(' ', 'T');
    case 'TIMESTAMP':
      return timestampText(v, name);
    case 'BYTES':
      return `\\x${Buffer.from(asString(v, name), 'base64').toString('hex')}`;
    default:
      // A type this source does not know: its wire text, unchanged.
      return asString(v, name);
  }
}

function asString(v: unknown, name: string): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return String(v);
  throw new Error(`BigQuery column "${name}": expected a scalar value, got ${typeof v}`);
}

function int64Text(v: unknown, name: string): string {
  const s = asString(v, name);
  if (/^[+-]?\d+$/.test(s)) return s.replace(/^\+/, '');
  // Defensive: an exponent form ("1.0E3") still has an exact integer value.
  const plain = plainDecimal(s, name);
  if (/^-?\d+$/.test(plain)) return plain;
  throw new Error(`BigQuery column "${name}" (INT64): not an integer: ${s}`);
}

function float64Text(v: unknown, name: string): string {
  if (typeof v === 'number') return numberText(v);
  const s = asString(v, name).trim();
  switch (s.toLowerCase()) {
    case 'nan':
      return 'NaN';
    case 'infinity':
    case '+infinity':
    case 'inf':
      return 'Infinity';
    case '-infinity':
    case '-inf':
      return '-Infinity';
  }
  const n = Number(s);
  if (s === '' || Number.isNaN(n)) throw new Error(`BigQuery column "${name}" (FLOAT64): not a number: ${s}`);
  return numberText(n);
}

/** Shortest round-trip text of a double (ECMAScript Number::toString), PostgreSQL spellings. */
export function numberText(n: number): string {
  if (Number.isNaN(n)) return 'NaN';
  if (n === Infinity) return 'Infinity';
  if (n === -Infinity) return '-Infinity';
  if (Object.is(n, -0)) return '-0';
  return String(n);
}

function boolText(v: unknown, name: string): string {
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  const s = asString(v, name).toLowerCase();
  if (s === 'true' || s === 'false') return s;
  throw new Error(`BigQuery column "${name}" (BOOL): not a boolean: ${s}`);
}

/**
 * An exact decimal string without exponent: "1.5E-7" → "0.00000015", "-12.30" stays. Pure
 * string arithmetic, so NUMERIC(76 digits) never passes through a float.
 */
export function plainDecimal(s: string, name = 'value'): string {
  const m = /^([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/.exec(s.trim());
  if (!m || (m[2] === '' && (m[3] ?? '') === '')) {
    throw new Error(`BigQuery column "${name}": not a decimal number: ${s}`);
  }
  const sign = m[1] === '-' ? '-' : '';
  const int = m[2] ?? '';
  const frac = m[3] ?? '';
  if (m[4] === undefined) {
    // Already plain: keep it as BigQuery wrote it (normalising only "+", ".5" and "5.").
    return `${sign}${int === '' ? '0' : int}${frac === '' ? '' : `.${frac}`}`;
  }
  const exp = Number(m[4]);
  if (Math.abs(exp) > 1000) throw new Error(`BigQuery column "${name}": exponent out of range: ${s}`);
  const digits = int + frac;
  const point = int.length + exp; // position of the decimal point within `digits`
  let whole: string;
  let fraction: string;
  if (point <= 0) {
    whole = '0';
    fraction = '0'.repeat(-point) + digits;
  } else if (point >= digits.length) {
    whole = digits + '0'.repeat(point - digits.length);
    fraction = '';
  } else {
    whole = digits.slice(0, point);
    fraction = digits.slice(point);
  }
  whole = whole.replace(/^0+(?=\d)/, '');
  fraction = fraction.replace(/0+$/, '');
  const out = `${whole === '' ? '0' : whole}${fraction === '' ? '' : `.${fraction}`}`;
  return out === '0' ? '0' : `${sign}${out}`;
}

const MICROS_PER_SECOND = 1_000_000n;

/**
 * TIMESTAMP → 'YYYY-MM-DDTHH:MM:SS.ffffffZ'. The wire value is int64 microseconds (the
 * client always asks for that); float seconds ("1.7100740961E9") and ISO strings are read
 * exactly too, in case a caller's request changes the format.
 */
export function timestampText(v: unknown, name = 'value'): string {
  return microsToIso(timestampMicros(v, name));
}

function timestampMicros(v: unknown, name: string): bigint {
  if (typeof v === 'bigint') return v;
  const s = asString(v, name).trim();
  if (/^-?\d+$/.test(s)) return BigInt(s);
  const iso = /^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?\s*(Z|UTC|[+-]\d{2}(?::?\d{2})?)?$/i.exec(s);
  if (iso) {
    const [, date, time, frac = '', zoneRaw] = iso;
    let zone = !zoneRaw || /^(z|utc)$/i.test(zoneRaw) ? 'Z' : zoneRaw;
    if (/^[+-]\d{2}$/.test(zone)) zone += ':00';
    else if (/^[+-]\d{4}$/.test(zone)) zone = `${zone.slice(0, 3)}:${zone.slice(3)}`;
    const ms = Date.parse(`${date}T${time}${zone}`);
    if (Number.isNaN(ms)) throw new Error(`BigQuery column "${name}" (TIMESTAMP): bad value ${s}`);
    return BigInt(ms) * 1000n + BigInt(frac.padEnd(6, '0').slice(0, 6));
  }
  // Float seconds, possibly with an exponent: exact via decimal string arithmetic.
  const plain = plainDecimal(s, name);
  const negative = plain.startsWith('-');
  const [whole = '0', frac = ''] = (negative ? plain.slice(1) : plain).split('.');
  const micros = BigInt(whole) * MICROS_PER_SECOND + BigInt(frac.padEnd(6, '0').slice(0, 6));
  return negative ? -micros : micros;
}

/** Epoch microseconds → ISO-8601 UTC with exactly six fractional digits. */
export function microsToIso(micros: bigint): string {
  let seconds = micros / MICROS_PER_SECOND;
  let sub = micros % MICROS_PER_SECOND;
  if (sub < 0n) {
    sub += MICROS_PER_SECOND;
    seconds -= 1n;
  }
  const iso = new Date(Number(seconds) * 1000).toISOString(); // YYYY-MM-DDTHH:MM:SS.000Z
  return `${iso.slice(0, 19)}.${sub.toString().padStart(6, '0')}Z`;
}

// ---- RECORD / REPEATED as JSON text -----------------------------------------------------
//
// Exact numbers stay exact: INT64, NUMERIC and BIGNUMERIC are written as JSON number
// literals straight from their decimal text (jsonb keeps them as numeric), FLOAT64 as its
// shortest round-trip text (NaN/±Infinity, which JSON cannot spell, as strings), BOOL as
// true/false, a JSON sub-field embedded as JSON, everything else (dates, timestamps in the
// ISO form above, BYTES in base64, ...) as strings.

function toJson(field: WireField, v: unknown): string {
  return jsonOf(field, v, field.mode === 'REPEATED');
}

function jsonOf(field: WireField, v: unknown, repeated: boolean): string {
  if (repeated) {
    if (v === null || v === undefined) return '[]';
    if (!Array.isArray(v)) throw new Error(`BigQuery column "${field.name}" (REPEATED): expected an array`);
    return `[${v.map((item: unknown) => jsonOf(field, (item as WireCell | null)?.v ?? null, false)).join(',')}]`;
  }
  if (v === null || v === undefined) return 'null';
  const type = canonicalType(field.type);
  if (type === 'RECORD') {
    const fields = field.fields ?? [];
    const cells = (v as WireRow).f ?? [];
    const parts = fields.map(
      (sub, i) => `${JSON.stringify(sub.name)}:${jsonOf(sub, cells[i]?.v ?? null, sub.mode === 'REPEATED')}`,
    );
    return `{${parts.join(',')}}`;
  }
  if (type === 'RANGE') return JSON.stringify(rangeText(field, v));
  const text = scalarText(type, v, field.name);
  return type === 'BYTES' ? JSON.stringify(asString(v, field.name)) : scalarJson(type, text);
}

/**
 * A scalar's PostgreSQL text as a JSON value inside a STRUCT or ARRAY (both read paths): numbers,
 * booleans and JSON as they are, NaN/±Infinity and everything else as strings. BYTES is each
 * path's own (base64 as sent, or encoded from Arrow's bytes).
 */
export function scalarJson(type: string, text: string): string {
  switch (type) {
    case 'INT64':
    case 'NUMERIC':
    case 'BIGNUMERIC':
    case 'BOOL':
    case 'JSON':
      return text;
    case 'FLOAT64':
      return text === 'NaN' || text === 'Infinity' || text === '-Infinity' ? JSON.stringify(text) : text;
    default:
      return JSON.stringify(text);
  }
}
