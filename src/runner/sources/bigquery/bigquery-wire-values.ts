// One value's wire text to COPY text by type family, the fast way: the families whose usual
// spelling already is their PostgreSQL input text (strings, integers, decimals) are copied
// byte by byte as they are scanned; every other value is converted by the row reader
// (bigquery-wire-rows.ts) through `toText`. Plain functions over the body and the writer:
// the hot loop calls them once per value and they allocate nothing.
import type { CopyWriter } from '../copy-text.ts';
import { canonicalType, type WireField } from './bigquery-types.ts';
import { BACKSLASH, DOT, MalformedBody, MINUS, NINE, PLUS, QUOTE, ZERO } from './bigquery-json.ts';

/** How a column's values are written: one of the families below. */
export type ValuePlan = typeof TEXT | typeof INT | typeof DECIMAL | typeof CONVERT;
/** The wire string as it is (escaped for COPY when it needs it). */
export const TEXT = 0;
/** [+-]digits, leading + dropped. */
const INT = 1;
/** -digits[.digits] as it is. */
const DECIMAL = 2;
/** toText on the JSON.parse'd value (every other type and spelling). */
export const CONVERT = 3;

/** The plan of a column's values. */
export function planOf(field: WireField): ValuePlan {
  if (field.mode === 'REPEATED') return CONVERT;
  switch (canonicalType(field.type)) {
    case 'STRING':
    case 'GEOGRAPHY':
    case 'JSON':
    case 'TIME':
    case 'DATE':
      return TEXT;
    case 'INT64':
      return INT;
    case 'NUMERIC':
    case 'BIGNUMERIC':
      return DECIMAL;
    default:
      return CONVERT;
  }
}

/**
 * The string at `i` of `b`, without escapes or control characters, copied into `w` as it is;
 * the index after it, or -1 (nothing kept) for any other string. The caller ensured the room.
 */
export function copyPlainString(b: Buffer, i: number, w: CopyWriter): number {
  const out = w.out;
  let o = w.at;
  for (let j = i + 1; ; j++) {
    const x = b[j]!;
    if (x === QUOTE) {
      w.at = o;
      return j + 1;
    }
    if (x === BACKSLASH || !(x >= 0x20)) {
      if (x === undefined) throw new MalformedBody('unterminated string');
      return -1; // an escape (or a raw control character): the general way
    }
    out[o++] = x;
  }
}

/**
 * The quoted number at `i` of `b` copied into `w` — INT: "[+-]?\d+" (a leading + dropped),
 * DECIMAL: "-?\d+(\.\d+)?" — and the index after it, or -1 (nothing kept) for any other spelling.
 */
export function copyPlainNumber(b: Buffer, i: number, w: CopyWriter, plan: ValuePlan): number {
  const out = w.out;
  let o = w.at;
  let j = i + 1;
  let x = b[j]!;
  if (x === MINUS) {
    out[o++] = x;
    x = b[++j]!;
  } else if (x === PLUS && plan === INT) x = b[++j]!;
  let digits = 0;
  while (x >= ZERO && x <= NINE) {
    out[o++] = x;
    x = b[++j]!;
    digits++;
  }
  if (digits === 0) return -1;
  if (plan === DECIMAL && x === DOT) {
    out[o++] = x;
    x = b[++j]!;
    let frac = 0;
    while (x >= ZERO && x <= NINE) {
      out[o++] = x;
      x = b[++j]!;
      frac++;
    }
    if (frac === 0) return -1;
  }
  if (x !== QUOTE) return -1;
  w.at = o;
  return j + 1;
}
