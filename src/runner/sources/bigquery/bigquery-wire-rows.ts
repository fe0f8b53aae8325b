// A page's `rows` array, from its bytes to COPY text in one pass: a value whose wire text
// already is its PostgreSQL input text is checked and its bytes copied; any other value is
// JSON.parse'd alone and converted by `toText` (bigquery-types.ts), so the text is exactly
// what `convertRows` + `toCopyText` give (test/bigquery-wire.test.ts holds both to that).
import { escapeCopyValue } from '../copy-text.ts';
import { canonicalType, toText, type WireField } from './bigquery-types.ts';
import {
  BACKSLASH,
  COLON,
  COMMA,
  DOT,
  expectByte,
  isKey,
  LBRACE,
  LBRACKET,
  MalformedBody,
  MINUS,
  NEWLINE,
  NINE,
  parseSlice,
  PLUS,
  QUOTE,
  RBRACE,
  RBRACKET,
  skipSpace,
  skipString,
  skipValue,
  TAB,
  ZERO,
} from './bigquery-json.ts';

/** Rows of one page as COPY text (see copy-text.ts). */
export interface CopyRows {
  text: Buffer;
  rowCount: number;
}

/** A value (or row) of the answer has no PostgreSQL text: the answer itself is well formed. */
export class InvalidRowValue extends Error {
  override name = 'InvalidRowValue';
  constructor(
    message: string,
    readonly where: { column?: string; row?: number | null } = {},
  ) {
    super(message);
  }
}

/** How a page's rows are read. */
export interface ReadOptions {
  /** Index in the whole read of the page's first row (for messages); null when unknown (resume). */
  firstRow: number | null;
  /** Replaces U+0000, which PostgreSQL text cannot hold; unset: a NUL fails the page. */
  nulReplacement?: string | undefined;
}

/** `text` with its NULs replaced, or an InvalidRowValue naming the column and row. */
export function withoutNul(text: string, column: string, pageRow: number, options: ReadOptions): string {
  if (options.nulReplacement !== undefined) return text.replaceAll('\0', options.nulReplacement);
  const row = options.firstRow === null ? null : options.firstRow + pageRow;
  const where = row === null ? `row ${pageRow} of a resumed page` : `row ${row}`;
  throw new InvalidRowValue(
    `column "${column}", ${where} (0-based): the value holds a NUL character (U+0000), which PostgreSQL text cannot store; set source.nulReplacement to replace it`,
    { column, row },
  );
}

const TEXT = 0; // the wire string as it is (escaped for COPY when it needs it)
const INT = 1; // [+-]digits, leading + dropped
const DECIMAL = 2; // -digits[.digits] as it is
const CONVERT = 3; // toText on the JSON.parse'd value (every other type and spelling)

function planOf(field: WireField): number {
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

/** Writes COPY text into a buffer that grows as needed. */
class CopyWriter {
  out: Buffer;
  at = 0;
  constructor(capacity: number) {
    this.out = Buffer.allocUnsafe(Math.max(1024, capacity));
  }
  ensure(n: number): void {
    if (this.at + n <= this.out.length) return;
    const bigger = Buffer.allocUnsafe(Math.max(this.out.length * 2, this.at + n));
    this.out.copy(bigger, 0, 0, this.at);
    this.out = bigger;
  }
  byte(c: number): void {
    this.ensure(1);
    this.out[this.at++] = c;
  }
  /** One value (already PostgreSQL text input), or NULL. */
  value(text: string | null): void {
    if (text === null) {
      this.ensure(2);
      this.out[this.at++] = BACKSLASH;
      this.out[this.at++] = 0x4e; // N
      return;
    }
    const escaped = escapeCopyValue(text);
    this.ensure(escaped.length * 3);
    this.at += this.out.write(escaped, this.at, 'utf8');
  }
}

/**
 * The `rows` array that starts at `start` of `body` as COPY text, values in `fields` order,
 * and the index just after the array. Values are exactly `toText(field, v)` of the parsed
 * wire value; throws on a value that has no PostgreSQL text (as `toText` does) or a row whose
 * cell count differs from the schema.
 */
export function rowsToCopyText(fields: readonly WireField[], body: Buffer, start: number, options: ReadOptions): CopyRows & { end: number } {
  const plans = fields.map(planOf);
  const width = fields.length;
  // COPY text is shorter than its JSON (no {"v":…} around each value): the rest of the body
  // is room enough; untouched capacity of a large allocation never becomes resident.
  const w = new CopyWriter(body.length - start);
  const b = body;
  let rowCount = 0;
  let i = skipSpace(b, start + 1); // after '['
  if (b[i] === RBRACKET) return { text: w.out.subarray(0, 0), rowCount, end: i + 1 };

  /** toText of a parsed value, without NULs (see withoutNul). */
  const textOf = (c: number, v: unknown): string | null => {
    const text = toText(fields[c]!, v);
    return text !== null && text.includes('\0') ? withoutNul(text, fields[c]!.name, rowCount, options) : text;
  };

  /**
   * Writes the value starting at `i` of column `c`; returns the index after it. The usual
   * values (strings without escapes, plain integers and decimals) are copied byte by byte as
   * they are scanned, in one pass: COPY text of a cell is shorter than its JSON, so the room
   * ensured at the start of each row is enough (see the row loop). Anything else is parsed
   * alone and converted, written from `w.at` again.
   */
  const writeValue = (c: number, i: number): number => {
    const plan = plans[c]!;
    if (b[i] === QUOTE && plan !== CONVERT) {
      const out = w.out;
      let o = w.at;
      let j = i + 1;
      if (plan === TEXT) {
        for (;;) {
          const x = b[j]!;
          if (x === QUOTE) {
            w.at = o;
            return j + 1;
          }
          if (x === BACKSLASH || !(x >= 0x20)) {
            if (x === undefined) throw new MalformedBody('unterminated string');
            break; // an escape (or a raw control character): the general way below
          }
          out[o++] = x;
          j++;
        }
      } else {
        // INT: [+-]?\d+ (a leading + dropped)   DECIMAL: -?\d+(\.\d+)?
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
        let ok = digits > 0;
        if (ok && plan === DECIMAL && x === DOT) {
          out[o++] = x;
          x = b[++j]!;
          let frac = 0;
          while (x >= ZERO && x <= NINE) {
            out[o++] = x;
            x = b[++j]!;
            frac++;
          }
          ok = frac > 0;
        }
        if (ok && x === QUOTE) {
          w.at = o;
          return j + 1;
        }
      }
      const endOfString = skipString(b, i);
      w.value(textOf(c, parseSlice(b, i, endOfString)));
      return endOfString;
    }
    const valueEnd = skipValue(b, i);
    if (valueEnd - i === 4 && b[i] === 0x6e && plan !== CONVERT) {
      w.value(null); // null
      return valueEnd;
    }
    w.value(textOf(c, parseSlice(b, i, valueEnd)));
    return valueEnd;
  };

  /** A cell `{"v": …}` (or null) of column c at `i`; returns the index after it. */
  const writeCell = (c: number, i: number): number => {
    // The usual spelling, {"v":…}, without the general key loop below.
    const cellStart = w.at;
    if (b[i] === LBRACE && b[i + 1] === QUOTE && b[i + 2] === 0x76 && b[i + 3] === QUOTE && b[i + 4] === COLON && c < width) {
      const valueStart = skipSpace(b, i + 5);
      let j: number;
      try {
        j = skipSpace(b, writeValue(c, valueStart));
      } catch (err) {
        // Not this cell's value after all if another key follows ({"v":…,"v":…}): read it the general way.
        if (err instanceof MalformedBody || b[skipSpace(b, skipValue(b, valueStart))] !== COMMA) throw err;
        j = -1;
      }
      if (j >= 0 && b[j] === RBRACE) return j + 1;
      // More in the cell than one value: undo it and read the cell the general way.
      w.at = cellStart;
    }
    if (b[i] !== LBRACE) {
      const cellEnd = skipValue(b, i);
      const cell = parseSlice(b, i, cellEnd) as { v?: unknown } | null;
      if (c < width) w.value(textOf(c, cell?.v));
      return cellEnd;
    }
    // The general way: the LAST "v" counts, as for JSON.parse; every other key is skipped.
    i = skipSpace(b, i + 1);
    let valueAt = -1;
    if (b[i] !== RBRACE) {
      for (;;) {
        expectByte(b, i, QUOTE);
        const keyEnd = skipString(b, i);
        const isV = isKey(b, i, 0x76) || (keyEnd - i > 3 && parseSlice(b, i, keyEnd) === 'v');
        i = skipSpace(b, keyEnd);
        expectByte(b, i, COLON);
        i = skipSpace(b, i + 1);
        if (isV) valueAt = i;
        i = skipSpace(b, skipValue(b, i));
        if (b[i] === COMMA) {
          i = skipSpace(b, i + 1);
          continue;
        }
        expectByte(b, i, RBRACE);
        break;
      }
    }
    if (c < width) {
      if (valueAt >= 0) writeValue(c, valueAt);
      else w.value(textOf(c, undefined));
    }
    return i + 1;
  };

  for (;;) {
    // One row: {"f": [cells]}.
    expectByte(b, i, LBRACE);
    // Room for the rest of the body: what the fast paths copy is never longer than what they
    // read (a converted value may be; then the buffer grows here, once).
    w.ensure(b.length - i);
    i = skipSpace(b, i + 1);
    let cells = 0;
    const rowStart = w.at;
    if (b[i] !== RBRACE) {
      for (;;) {
        const isF = isKey(b, i, 0x66);
        expectByte(b, i, QUOTE);
        const keyEnd = skipString(b, i);
        const key = isF ? 'f' : (parseSlice(b, i, keyEnd) as string);
        i = skipSpace(b, keyEnd);
        expectByte(b, i, COLON);
        i = skipSpace(b, i + 1);
        if (key === 'f' && b[i] === LBRACKET) {
          w.at = rowStart; // a repeated "f": the last one counts, as for JSON.parse
          cells = 0;
          i = skipSpace(b, i + 1);
          if (b[i] !== RBRACKET) {
            for (;;) {
              if (cells > 0 && cells < width) w.out[w.at++] = TAB;
              i = skipSpace(b, writeCell(cells, i));
              cells++;
              if (b[i] === COMMA) {
                i = skipSpace(b, i + 1);
                continue;
              }
              expectByte(b, i, RBRACKET);
              break;
            }
          }
          i++;
        } else {
          if (key === 'f') {
            w.at = rowStart;
            cells = 0;
          }
          i = skipValue(b, i);
        }
        i = skipSpace(b, i);
        if (b[i] === COMMA) {
          i = skipSpace(b, i + 1);
          continue;
        }
        expectByte(b, i, RBRACE);
        break;
      }
    }
    if (cells !== width) throw new Error(`BigQuery row ${rowCount} has ${cells} cells, the result schema ${width} fields`);
    w.byte(NEWLINE);
    rowCount++;
    i = skipSpace(b, i + 1);
    if (b[i] === COMMA) {
      i = skipSpace(b, i + 1);
      continue;
    }
    expectByte(b, i, RBRACKET);
    break;
  }
  return { text: w.out.subarray(0, w.at), rowCount, end: i + 1 };
}

