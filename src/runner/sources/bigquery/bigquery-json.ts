// Scanning JSON bytes without parsing them: where a string, a value or a key ends. The
// result-page readers (bigquery-wire.ts, bigquery-wire-rows.ts) build on these.

export const QUOTE = 0x22;
export const BACKSLASH = 0x5c;
export const LBRACE = 0x7b;
export const RBRACE = 0x7d;
export const LBRACKET = 0x5b;
export const RBRACKET = 0x5d;
export const COMMA = 0x2c;
export const COLON = 0x3a;
export const PLUS = 0x2b;
export const MINUS = 0x2d;
export const DOT = 0x2e;
export const ZERO = 0x30;
export const NINE = 0x39;
export const TAB = 0x09;
export const NEWLINE = 0x0a;

export class MalformedBody extends Error {
  override name = 'MalformedBody';
}

const isSpace = (c: number | undefined) => c === 0x20 || c === TAB || c === NEWLINE || c === 0x0d;

export function skipSpace(b: Buffer, i: number): number {
  while (isSpace(b[i])) i++;
  return i;
}

/** Index just after the JSON string whose opening quote is at `i`. */
export function skipString(b: Buffer, i: number): number {
  const n = b.length;
  for (i++; i < n; i++) {
    const c = b[i];
    if (c === QUOTE) return i + 1;
    if (c === BACKSLASH) i++;
  }
  throw new MalformedBody('unterminated string');
}

/** Index just after the JSON value that starts at `i` (no leading space). */
export function skipValue(b: Buffer, i: number): number {
  const n = b.length;
  const first = b[i];
  if (first === QUOTE) return skipString(b, i);
  if (first === LBRACE || first === LBRACKET) {
    let depth = 0;
    for (; i < n; i++) {
      const c = b[i];
      if (c === QUOTE) i = skipString(b, i) - 1;
      else if (c === LBRACE || c === LBRACKET) depth++;
      else if ((c === RBRACE || c === RBRACKET) && --depth === 0) return i + 1;
    }
    throw new MalformedBody('unterminated object or array');
  }
  // A number, true, false or null: up to the next delimiter.
  let j = i;
  while (j < n) {
    const c = b[j];
    if (c === COMMA || c === RBRACE || c === RBRACKET || isSpace(c)) break;
    j++;
  }
  if (j === i) throw new MalformedBody(`unexpected ${first === undefined ? 'end' : `'${String.fromCharCode(first)}'`} at byte ${i}`);
  return j;
}

export function expectByte(b: Buffer, i: number, c: number): void {
  if (b[i] !== c) {
    const found = b[i] === undefined ? 'the end' : `'${String.fromCharCode(b[i]!)}'`;
    throw new MalformedBody(`expected '${String.fromCharCode(c)}' at byte ${i}, found ${found}`);
  }
}

/** Whether the 1-character key string `"k"` starts at `i`. */
export const isKey = (b: Buffer, i: number, k: number) => b[i] === QUOTE && b[i + 1] === k && b[i + 2] === QUOTE;

export const parseSlice = (b: Buffer, start: number, end: number): unknown => JSON.parse(b.toString('utf8', start, end));
