// One value of an Arrow column (as BigQuery's Storage Read API sends it) as the exact text the
// REST path gives the same value (bigquery-types.ts): the two paths must fill a target with the
// same rows, byte for byte. Values are read from the column's buffers at an index — never
// through apache-arrow's getters, which turn timestamps into float milliseconds and decimals
// into number-like objects. Pure: no state, so it runs in a worker thread as well.
//
// The Arrow type of each BigQuery type (test/support/bigquery-storage-arrow.ts lists them):
// INT64 int64 · FLOAT64 float64 · BOOL bool · STRING/JSON/GEOGRAPHY utf8 · BYTES binary ·
// DATE date32 · NUMERIC decimal128(38,9) · BIGNUMERIC decimal256(76,38) · TIME time64[us] ·
// TIMESTAMP timestamp[us, UTC] · DATETIME timestamp[us] · INTERVAL month_day_nano ·
// RECORD struct · REPEATED list · RANGE struct<start, end>. Which BigQuery type a column has
// is taken from the job's result schema (WireField), as the REST path does: a RANGE and a
// STRUCT<start, end> look the same in Arrow.
//
// Canonical text where BigQuery's REST answer could spell a value more than one way (the
// target's typed column reads every spelling the same; only inside JSON text do spellings
// differ): NUMERIC without trailing zeros, DATETIME/TIME with six fractional digits when the
// fraction is not zero, INTERVAL as ZetaSQL's IntervalValue::ToString writes it (unpadded
// fields, the fraction in groups of three digits).
import type { Data } from 'apache-arrow';
import { canonicalType, microsToIso, numberText, scalarJson, type WireField } from './bigquery-types.ts';

const TWO_32 = 4294967296;
const MICROS_PER_DAY = 86_400_000_000;

/** Whether the value at `i` (relative to the column's offset) is not NULL. */
function isValid(data: Data, i: number): boolean {
  const bitmap = data.nullBitmap;
  if (data.nullCount === 0 || !bitmap || bitmap.length === 0) return true;
  const at = data.offset + i;
  return ((bitmap[at >> 3]! >> (at & 7)) & 1) === 1;
}

/** The 32-bit words of an int64/timestamp/time column's values (for int64At). */
function int64Words(data: Data): Int32Array {
  const values = data.values as BigInt64Array;
  return new Int32Array(values.buffer, values.byteOffset, values.length * 2);
}

/** The 64-bit integer at `k` (absolute) of a column whose words are `words`: a number when exact, else a bigint. */
function int64At(data: Data, k: number, words = int64Words(data)): number | bigint {
  const hi = words[2 * k + 1]!;
  // |value| < 2^53: exact as a double.
  if (hi >= -0x200000 && hi < 0x200000) return hi * TWO_32 + (words[2 * k]! >>> 0);
  return (data.values as BigInt64Array)[k]!;
}

/**
 * Epoch days → the civil date packed as YYYYMMDD (proleptic Gregorian; H. Hinnant's
 * civil_from_days): one number, so the hot path allocates nothing.
 */
export function civilDate(days: number): number {
  const z = days + 719468;
  const era = Math.floor(z / 146097);
  const doe = z - era * 146097;
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365);
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const d = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const m = mp < 10 ? mp + 3 : mp - 9;
  return (yoe + era * 400 + (m <= 2 ? 1 : 0)) * 10000 + m * 100 + d;
}

/** Epoch days → 'YYYY-MM-DD'. */
function dateText(days: number): string {
  const ymd = civilDate(days);
  return `${String(Math.floor(ymd / 10000)).padStart(4, '0')}-${two(Math.floor(ymd / 100) % 100)}-${two(ymd % 100)}`;
}

const two = (n: number): string => (n < 10 ? `0${n}` : String(n));

/** Microseconds since midnight → 'HH:MM:SS[.ffffff]'. */
function timeOfDay(micros: number): string {
  const seconds = Math.floor(micros / 1e6);
  const fraction = micros - seconds * 1e6;
  const hms = `${two(Math.floor(seconds / 3600))}:${two(Math.floor(seconds / 60) % 60)}:${two(seconds % 60)}`;
  return fraction === 0 ? hms : `${hms}.${String(fraction).padStart(6, '0')}`;
}

/** Epoch microseconds of a civil DATETIME → 'YYYY-MM-DDTHH:MM:SS[.ffffff]'. */
function datetimeText(micros: number | bigint): string {
  const m = BigInt(micros);
  const day = BigInt(MICROS_PER_DAY);
  let days = m / day;
  if (m % day < 0n) days -= 1n;
  return `${dateText(Number(days))}T${timeOfDay(Number(m - days * day))}`;
}

/** Epoch microseconds → the REST path's TIMESTAMP text (microsToIso: six digits and Z). */
function timestampText(micros: number | bigint): string {
  return microsToIso(BigInt(micros));
}

/** Little-endian two's complement words of an unscaled decimal → its text without trailing zeros. */
function decimalText(words: Uint32Array, index: number, count: number, scale: number): string {
  const base = index * count;
  let unscaled = 0n;
  for (let w = count - 1; w >= 0; w--) unscaled = (unscaled << 32n) | BigInt(words[base + w]!);
  if (words[base + count - 1]! & 0x8000_0000) unscaled -= 1n << BigInt(count * 32);
  const negative = unscaled < 0n;
  const digits = (negative ? -unscaled : unscaled).toString().padStart(scale + 1, '0');
  const whole = digits.slice(0, digits.length - scale);
  let end = digits.length;
  while (end > whole.length && digits.charCodeAt(end - 1) === 48) end--;
  const fraction = digits.slice(whole.length, end);
  return `${negative ? '-' : ''}${whole}${fraction ? `.${fraction}` : ''}`;
}

/**
 * Arrow's month_day_nano → the REST path's INTERVAL text: BigQuery's canonical '[-]Y-M [-]D
 * [-]H:M:S[.F]' (ZetaSQL's IntervalValue::ToString) turned, as bigquery-types.ts does, into
 * PostgreSQL's verbose form with a sign on every field.
 */
function intervalText(ints: Int32Array, k: number): string {
  const months = ints[4 * k]!;
  const days = ints[4 * k + 1]!;
  const nanos = (BigInt(ints[4 * k + 3]!) << 32n) | BigInt(ints[4 * k + 2]! >>> 0);
  const y = months < 0 ? '-' : '+';
  const t = nanos < 0n ? '-' : '+';
  const abs = nanos < 0n ? -nanos : nanos;
  const seconds = abs / 1_000_000_000n;
  let fraction = (abs % 1_000_000_000n).toString().padStart(9, '0');
  // ZetaSQL writes the fraction in groups of three digits (.789, .000001).
  while (fraction.endsWith('000')) fraction = fraction.slice(0, -3);
  const secs = fraction ? `${seconds % 60n}.${fraction}` : `${seconds % 60n}`;
  const d = days < 0 ? String(days) : `+${days}`;
  const m = Math.abs(months);
  return `${y}${Math.floor(m / 12)} years ${y}${m % 12} mons ${d} days ${t}${seconds / 3600n} hours ${t}${(seconds / 60n) % 60n} mins ${t}${secs} secs`;
}

/** The UTF-8 bytes at `k` (absolute) of a utf8/binary column. */
function bytesAt(data: Data, k: number): Uint8Array {
  const offsets = data.valueOffsets as Int32Array;
  return (data.values as Uint8Array).subarray(offsets[k]!, offsets[k + 1]!);
}

function utf8At(data: Data, k: number): string {
  const b = bytesAt(data, k);
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('utf8');
}

function base64At(data: Data, k: number): string {
  const b = bytesAt(data, k);
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('base64');
}

/** A non-NULL scalar of canonical BigQuery type `type` at `i` as the REST path's text. */
function scalarText(type: string, data: Data, i: number): string {
  const k = data.offset + i;
  switch (type) {
    case 'STRING':
    case 'GEOGRAPHY':
    case 'JSON':
      return utf8At(data, k);
    case 'BYTES': {
      const b = bytesAt(data, k);
      return `\\x${Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex')}`;
    }
    case 'INT64':
      return String(int64At(data, k));
    case 'FLOAT64':
      return numberText((data.values as Float64Array)[k]!);
    case 'BOOL':
      return ((data.values as Uint8Array)[k >> 3]! >> (k & 7)) & 1 ? 'true' : 'false';
    case 'NUMERIC':
    case 'BIGNUMERIC': {
      const { scale, bitWidth } = data.type as unknown as { scale: number; bitWidth: number };
      return decimalText(data.values as Uint32Array, k, bitWidth / 32, scale);
    }
    case 'DATE':
      return dateText((data.values as Int32Array)[k]!);
    case 'DATETIME':
      return datetimeText(int64At(data, k));
    case 'TIMESTAMP':
      return timestampText(int64At(data, k));
    case 'TIME':
      return timeOfDay(Number(int64At(data, k)));
    case 'INTERVAL':
      return intervalText(data.values as Int32Array, k);
    default:
      throw new Error(`BigQuery type ${type} has no Storage Read conversion`);
  }
}

/** RANGE<T> at `i` → '[start,end)', an UNBOUNDED (NULL) bound empty, as bigquery-types.ts writes it. */
function rangeText(field: WireField, data: Data, i: number): string {
  const element = canonicalType(field.rangeElementType?.type ?? 'DATE');
  const k = data.offset + i;
  const bound = (child: Data) => (isValid(child, k) ? scalarText(element, child, k - child.offset) : '');
  return `[${bound(data.children[0]!)},${bound(data.children[1]!)})`;
}

/** A top-level value at `i` as PostgreSQL text input (RECORD and REPEATED as JSON), or null. */
export function valueText(field: WireField, data: Data, i: number): string | null {
  if (field.mode === 'REPEATED') return jsonText(field, data, i, true);
  if (!isValid(data, i)) return null;
  const type = canonicalType(field.type);
  if (type === 'RECORD') return jsonText(field, data, i, false);
  if (type === 'RANGE') return rangeText(field, data, i);
  return scalarText(type, data, i);
}

/**
 * A value as JSON text, by the rules of bigquery-types.ts's jsonOf: exact numbers as number
 * literals, FLOAT64 NaN/±Infinity as strings, a JSON sub-field embedded, BYTES as base64, every
 * other value as a string of its text. A REPEATED column is never NULL (BigQuery has no NULL array).
 */
function jsonText(field: WireField, data: Data, i: number, repeated: boolean): string {
  if (repeated) {
    if (!isValid(data, i)) return '[]';
    const offsets = data.valueOffsets as Int32Array;
    const k = data.offset + i;
    const child = data.children[0]!;
    const parts: string[] = [];
    for (let e = offsets[k]!; e < offsets[k + 1]!; e++) parts.push(jsonText(field, child, e - child.offset, false));
    return `[${parts.join(',')}]`;
  }
  if (!isValid(data, i)) return 'null';
  const type = canonicalType(field.type);
  if (type === 'RECORD') {
    const k = data.offset + i;
    const parts = (field.fields ?? []).map((sub, j) => {
      const child = data.children[j]!;
      return `${JSON.stringify(sub.name)}:${jsonText(sub, child, k - child.offset, sub.mode === 'REPEATED')}`;
    });
    return `{${parts.join(',')}}`;
  }
  if (type === 'RANGE') return JSON.stringify(rangeText(field, data, i));
  if (type === 'BYTES') return JSON.stringify(base64At(data, data.offset + i));
  return scalarJson(type, scalarText(type, data, i));
}
