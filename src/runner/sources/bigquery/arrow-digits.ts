// The numbers of an Arrow column written as ASCII digits straight into a COPY text buffer
// (arrow-copy.ts), the same text the REST path writes: integers, dates, timestamps, decimals
// whose unscaled value is exact as a double. Each writer takes the buffer and a position and
// returns the position after what it wrote; the caller has made room (at most MAX_* bytes).
// Digits go two at a time from a table, with 32-bit integer arithmetic wherever the value fits
// (float division per digit was most of the converter's time).
import { civilDate } from './arrow-values.ts';

/** '00' … '99' as bytes. */
const PAIRS = new Uint8Array(200);
for (let i = 0; i < 100; i++) {
  PAIRS[2 * i] = 0x30 + Math.floor(i / 10);
  PAIRS[2 * i + 1] = 0x30 + (i % 10);
}

/** Of a four-digit fraction group 0001–9999: its digits but the trailing zeros (table, not a loop: which it is cannot be predicted). */
const KEPT = new Uint8Array(10_000);
for (let i = 1; i < 10_000; i++) {
  let kept = 4;
  for (let v = i; v % 10 === 0; v /= 10) kept--;
  KEPT[i] = kept;
}

/** Room an integer of at most 2^64 takes (sign and 20 digits). */
export const MAX_INTEGER = 21;
/** Room of a date (YYYY-MM-DD). */
export const MAX_DATE = 10;
/** Room of a timestamp (YYYY-MM-DDTHH:MM:SS.ffffffZ). */
export const MAX_TIMESTAMP = 27;

/** Digits of `n`, an integer in [0, 2^31). */
function digitCount(n: number): number {
  if (n < 100_000) return n < 10 ? 1 : n < 100 ? 2 : n < 1000 ? 3 : n < 10_000 ? 4 : 5;
  return n < 1_000_000 ? 6 : n < 10_000_000 ? 7 : n < 100_000_000 ? 8 : n < 1_000_000_000 ? 9 : 10;
}

/** `n` (an integer in [0, 2^31)) as exactly `width` digits ending before `end`, leading zeros included. */
function putDigits(out: Uint8Array, end: number, n: number, width: number): void {
  // `| 0` everywhere: 32-bit integers, so that V8 divides by 100 with a multiplication.
  let v = n | 0;
  let p = end;
  const start = end - width;
  while (p - start >= 2) {
    const q = (v / 100) | 0;
    const d = (v - q * 100) << 1;
    out[--p] = PAIRS[d + 1]!;
    out[--p] = PAIRS[d]!;
    v = q;
  }
  if (p > start) out[--p] = 0x30 + ((v % 10) | 0);
}

/** A non-negative integer below 2^53. */
function writeUnsigned(out: Uint8Array, at: number, n: number): number {
  if (n < 2147483648) return writeSmall(out, at, n | 0);
  const high = Math.floor(n / 1e8);
  at = writeUnsigned(out, at, high);
  putDigits(out, at + 8, n - high * 1e8, 8);
  return at + 8;
}

/** Exactly four digits of v in [0, 10^4), leading zeros kept; returns the position after them. */
function writeFour(out: Uint8Array, at: number, v: number): number {
  const q = (v / 100) | 0;
  const d = (v - q * 100) << 1;
  out[at] = PAIRS[q << 1]!;
  out[at + 1] = PAIRS[(q << 1) + 1]!;
  out[at + 2] = PAIRS[d]!;
  out[at + 3] = PAIRS[d + 1]!;
  return at + 4;
}

/** An integer in [0, 2^31), without a loop below 10^8. */
export function writeSmall(out: Uint8Array, at: number, v: number): number {
  if (v < 10_000) return writeBelow1e4(out, at, v);
  if (v < 100_000_000) {
    const high = (v / 10_000) | 0;
    at = writeBelow1e4(out, at, high);
    return writeFour(out, at, v - high * 10_000);
  }
  const width = digitCount(v);
  putDigits(out, at + width, v, width);
  return at + width;
}

/** An integer in [0, 10^4). */
function writeBelow1e4(out: Uint8Array, at: number, v: number): number {
  if (v < 100) {
    if (v < 10) {
      out[at] = 0x30 + v;
      return at + 1;
    }
    out[at] = PAIRS[v << 1]!;
    out[at + 1] = PAIRS[(v << 1) + 1]!;
    return at + 2;
  }
  const q = (v / 100) | 0;
  const d = (v - q * 100) << 1;
  if (q < 10) {
    out[at] = 0x30 + q;
    at += 1;
  } else {
    out[at] = PAIRS[q << 1]!;
    out[at + 1] = PAIRS[(q << 1) + 1]!;
    at += 2;
  }
  out[at] = PAIRS[d]!;
  out[at + 1] = PAIRS[d + 1]!;
  return at + 2;
}

/** A signed integer within ±2^53, from its high and low 32-bit words. */
export function writeSigned(out: Uint8Array, at: number, high: number, low: number): number {
  let n = high * 4294967296 + (low >>> 0);
  if (n < 0) {
    out[at++] = 0x2d;
    n = -n;
  }
  return writeUnsigned(out, at, n);
}

/** `n` (an integer in [0, 2^53)) as exactly `width` digits at `at`, leading zeros included. */
function writePadded(out: Uint8Array, at: number, n: number, width: number): void {
  let end = at + width;
  while (n >= 2147483648 || end - at > 9) {
    const high = Math.floor(n / 1e8);
    putDigits(out, end, n - high * 1e8, 8);
    end -= 8;
    n = high;
  }
  putDigits(out, end, n, end - at);
}

/** 'YYYY-MM-DD' of epoch days; years 0001–9999. */
export function writeDate(out: Uint8Array, at: number, days: number): number {
  const ymd = civilDate(days);
  const y = Math.floor(ymd / 10000);
  const md = ymd - y * 10000;
  putDigits(out, at + 4, y, 4);
  out[at + 4] = 0x2d;
  putDigits(out, at + 7, (md / 100) | 0, 2);
  out[at + 7] = 0x2d;
  putDigits(out, at + 10, md % 100, 2);
  return at + 10;
}

const MICROS_PER_DAY = 86_400_000_000;

/** TIMESTAMP within ±2^53 µs (its high and low 32-bit words) as the REST path writes it: 'YYYY-MM-DDTHH:MM:SS.ffffffZ'. */
export function writeTimestamp(out: Uint8Array, at: number, high: number, low: number): number {
  const micros = high * 4294967296 + (low >>> 0);
  let days = Math.floor(micros / MICROS_PER_DAY);
  let rest = micros - days * MICROS_PER_DAY;
  // The division is rounded: a value just below a day's end may land on the next day.
  if (rest < 0) {
    days--;
    rest += MICROS_PER_DAY;
  }
  at = writeDate(out, at, days);
  const fraction = rest % 1_000_000;
  const seconds = (rest - fraction) / 1_000_000;
  out[at] = 0x54; // T
  putDigits(out, at + 3, (seconds / 3600) | 0, 2);
  out[at + 3] = 0x3a;
  putDigits(out, at + 6, ((seconds / 60) | 0) % 60, 2);
  out[at + 6] = 0x3a;
  putDigits(out, at + 9, seconds % 60, 2);
  out[at + 9] = 0x2e;
  putDigits(out, at + 16, fraction, 6);
  out[at + 16] = 0x5a; // Z
  return at + 17;
}

/** Room of a decimal of `scale` written by writeDecimal (sign, 16 whole digits, point, fraction). */
export function maxDecimal(scale: number): number {
  return 18 + scale;
}

/**
 * A decimal without trailing zeros (nor a point when whole), from its unscaled value (an
 * integer within ±2^53, as its high and low 32-bit words: a double argument would be boxed)
 * and scale.
 */
export function writeDecimal(out: Uint8Array, at: number, high: number, low: number, scale: number, divisor: number): number {
  let unscaled = high * 4294967296 + (low >>> 0);
  if (unscaled < 0) {
    out[at++] = 0x2d;
    unscaled = -unscaled;
  }
  let whole = Math.floor(unscaled / divisor);
  let fraction = unscaled - whole * divisor;
  // The division is rounded: 8999999.999999999 may come out as 9000000.
  if (fraction < 0) {
    whole--;
    fraction += divisor;
  }
  at = whole < 1_000_000_000 ? writeSmall(out, at, whole | 0) : writeUnsigned(out, at, whole);
  if (fraction === 0) return at;
  out[at++] = 0x2e;
  if (scale !== 9) {
    writePadded(out, at, fraction, scale);
    at += scale;
  } else {
    // NUMERIC: four digits, then five more only when they are not all zeros (prices and
    // rates have two to four); the trailing zeros are dropped after.
    const f = fraction | 0;
    const high = (f / 100_000) | 0;
    const low = f - high * 100_000;
    writeFour(out, at, high);
    // Mostly: the last five digits are zeros, and the four written keep KEPT[high] of theirs.
    if (low === 0) return at + KEPT[high]!;
    putDigits(out, at + 9, low, 5);
    at += 9;
  }
  // Not past the point: the fraction is not zero.
  while (out[at - 1] === 0x30) at--;
  return at;
}
