// A jobs.getQueryResults answer read straight from its bytes: the page's `rows` become COPY
// text in one pass, without a JavaScript object per row or per cell.
//
// Why: a page of 20,000 SQP rows is ~8.6 MB of JSON. Through the client it was JSON.parse'd
// into over a million objects, deep-copied by @google-cloud/common (extend(true) in
// util.handleResp), converted to strings and joined into COPY text: most of a refresh's CPU
// and nearly all of its memory. Here a value whose wire text already is its PostgreSQL input
// text (STRING, DATE, TIME, JSON…, INT64 digits, plain NUMERIC: nearly every SQP value) is
// checked and its bytes copied; any other value is JSON.parse'd alone and goes through the
// same per-type conversion as before (`toText` in bigquery-types.ts), so the text is exactly
// what `convertRows` + `toCopyText` give (test/bigquery-wire.test.ts holds both to that).
//
// Any valid JSON is read: the byte path skips whitespace wherever JSON allows it, and a body
// it still cannot follow (MalformedBody) is read again the reference way — JSON.parse,
// `convertRows`, `toCopyText` — so an answer from a proxy, an emulator or a recorded fixture
// that is valid JSON never fails for its spelling; only invalid JSON does.
import { escapeCopyValue, toCopyText } from '../copy-text.ts';
import type { TextValue } from '../source.ts';
import { canonicalType, convertRows, toText, type WireField, type WireQueryResults, type WireRow } from './bigquery-types.ts';

/** A result page: everything but `rows` parsed, and `rows` as COPY text. */
export interface ResultsPage {
  meta: WireQueryResults & { error?: unknown };
  /** The page's rows, or null when the answer has none. */
  copy: CopyRows | null;
}

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

const NO_OPTIONS: ReadOptions = { firstRow: 0 };

/** `text` with its NULs replaced, or an InvalidRowValue naming the column and row. */
function withoutNul(text: string, column: string, pageRow: number, options: ReadOptions): string {
  if (options.nulReplacement !== undefined) return text.replaceAll('\0', options.nulReplacement);
  const row = options.firstRow === null ? null : options.firstRow + pageRow;
  const where = row === null ? `row ${pageRow} of a resumed page` : `row ${row}`;
  throw new InvalidRowValue(
    `column "${column}", ${where} (0-based): the value holds a NUL character (U+0000), which PostgreSQL text cannot store; set source.nulReplacement to replace it`,
    { column, row },
  );
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const LBRACE = 0x7b;
const RBRACE = 0x7d;
const LBRACKET = 0x5b;
const RBRACKET = 0x5d;
const COMMA = 0x2c;
const COLON = 0x3a;
const PLUS = 0x2b;
const MINUS = 0x2d;
const DOT = 0x2e;
const ZERO = 0x30;
const NINE = 0x39;
const TAB = 0x09;
const NEWLINE = 0x0a;

class MalformedBody extends Error {
  override name = 'MalformedBody';
}

const isSpace = (c: number | undefined) => c === 0x20 || c === TAB || c === NEWLINE || c === 0x0d;

function skipSpace(b: Buffer, i: number): number {
  while (isSpace(b[i])) i++;
  return i;
}

/** Index just after the JSON string whose opening quote is at `i`. */
function skipString(b: Buffer, i: number): number {
  const n = b.length;
  for (i++; i < n; i++) {
    const c = b[i];
    if (c === QUOTE) return i + 1;
    if (c === BACKSLASH) i++;
  }
  throw new MalformedBody('unterminated string');
}

/** Index just after the JSON value that starts at `i` (no leading space). */
function skipValue(b: Buffer, i: number): number {
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

function expectByte(b: Buffer, i: number, c: number): void {
  if (b[i] !== c) {
    const found = b[i] === undefined ? 'the end' : `'${String.fromCharCode(b[i]!)}'`;
    throw new MalformedBody(`expected '${String.fromCharCode(c)}' at byte ${i}, found ${found}`);
  }
}

/** Whether the 1-character key string `"k"` starts at `i`. */
const isKey = (b: Buffer, i: number, k: number) => b[i] === QUOTE && b[i + 1] === k && b[i + 2] === QUOTE;

const parseSlice = (b: Buffer, start: number, end: number): unknown => JSON.parse(b.toString('utf8', start, end));

/**
 * Reads a jobs.getQueryResults body: its rows straight to COPY text, typed by the answer's
 * own schema (`fieldsBefore`, the previous page's, when it has none), everything else with
 * JSON.parse. Throws InvalidRowValue for a value that has no PostgreSQL text, another Error
 * for a body that is not one JSON object.
 */
export function readResultsBody(body: Buffer, fieldsBefore: readonly WireField[], options: ReadOptions = NO_OPTIONS): ResultsPage {
  try {
    return readFast(body, fieldsBefore, options);
  } catch (err) {
    if (!(err instanceof MalformedBody)) throw err;
    return readReference(body, fieldsBefore, options);
  }
}

/**
 * The reference path: the whole body JSON.parse'd, rows through `convertRows` and
 * `toCopyText`. Slower and heavier, but it reads whatever JSON.parse reads.
 */
function readReference(body: Buffer, fieldsBefore: readonly WireField[], options: ReadOptions): ResultsPage {
  const parsed = JSON.parse(body.toString('utf8')) as (ResultsPage['meta'] & { rows?: unknown }) | null;
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('a jobs.getQueryResults answer must be a JSON object');
  const { rows, ...meta } = parsed;
  if (!Array.isArray(rows)) return { meta, copy: null };
  const fields = meta.schema?.fields?.length ? meta.schema.fields : fieldsBefore;
  let text: TextValue[][];
  try {
    text = convertRows(fields, rows as WireRow[]);
  } catch (err) {
    throw new InvalidRowValue(err instanceof Error ? err.message : String(err));
  }
  for (let r = 0; r < text.length; r++) {
    const row = text[r]!;
    for (let c = 0; c < row.length; c++) {
      const v = row[c];
      if (v !== null && v !== undefined && v.includes('\0')) row[c] = withoutNul(v, fields[c]!.name, r, options);
    }
  }
  return { meta, copy: { text: Buffer.from(toCopyText(text), 'utf8'), rowCount: text.length } };
}

/** The byte path (see the top of this file). Throws MalformedBody where it cannot follow the body. */
function readFast(body: Buffer, fieldsBefore: readonly WireField[], options: ReadOptions): ResultsPage {
  const meta: ResultsPage['meta'] & Record<string, unknown> = {};
  let copy: CopyRows | null = null;
  /** The rows, when they came before the schema: converted once the schema is known. */
  let deferred: number | null = null;
  const convert = (fields: readonly WireField[], start: number): CopyRows & { end: number } => {
    try {
      return rowsToCopyText(fields, body, start, options);
    } catch (err) {
      if (err instanceof MalformedBody || err instanceof InvalidRowValue) throw err;
      throw new InvalidRowValue(err instanceof Error ? err.message : String(err));
    }
  };
  let i = skipSpace(body, body[0] === 0xef && body[1] === 0xbb && body[2] === 0xbf ? 3 : 0);
  expectByte(body, i, LBRACE);
  i = skipSpace(body, i + 1);
  if (body[i] === RBRACE) i++;
  else {
    for (;;) {
      expectByte(body, i, QUOTE);
      const keyEnd = skipString(body, i);
      const key = parseSlice(body, i, keyEnd) as string;
      i = skipSpace(body, keyEnd);
      expectByte(body, i, COLON);
      const start = skipSpace(body, i + 1);
      let end: number;
      if (key === 'rows' && body[start] === LBRACKET) {
        const schema = meta.schema?.fields;
        if (schema?.length) {
          const rows = convert(schema, start);
          copy = { text: rows.text, rowCount: rows.rowCount };
          end = rows.end;
        } else {
          deferred = start;
          end = skipValue(body, start);
        }
      } else {
        end = skipValue(body, start);
        // `rows: null` (or anything but an array) carries no rows, as for the client.
        if (key !== 'rows') meta[key] = parseSlice(body, start, end);
      }
      i = skipSpace(body, end);
      if (body[i] === COMMA) {
        i = skipSpace(body, i + 1);
        continue;
      }
      expectByte(body, i, RBRACE);
      i++;
      break;
    }
  }
  if (skipSpace(body, i) !== body.length) throw new MalformedBody(`unexpected data after the answer at byte ${i}`);
  if (deferred !== null) {
    const rows = convert(meta.schema?.fields?.length ? meta.schema.fields : fieldsBefore, deferred);
    copy = { text: rows.text, rowCount: rows.rowCount };
  }
  return { meta, copy };
}

// How each column's wire text becomes COPY text.
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
  bytes(src: Buffer, start: number, end: number): void {
    const n = end - start;
    this.ensure(n);
    const out = this.out;
    if (n > 32) {
      src.copy(out, this.at, start, end);
      this.at += n;
    } else {
      let o = this.at;
      for (let k = start; k < end; k++) out[o++] = src[k]!;
      this.at = o;
    }
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
function rowsToCopyText(fields: readonly WireField[], body: Buffer, start: number, options: ReadOptions): CopyRows & { end: number } {
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

  /** Writes the value starting at `i` of column `c`; returns the index after it. */
  const writeValue = (c: number, i: number): number => {
    const plan = plans[c]!;
    if (b[i] === QUOTE && plan !== CONVERT) {
      // A string: find its end, checking on the way whether it can be copied as it is.
      let ok = true;
      let j = i + 1;
      const first = b[j];
      if (plan === TEXT) {
        for (;;) {
          const x = b[j];
          if (x === QUOTE) break;
          if (x === undefined) throw new MalformedBody('unterminated string');
          if (x === BACKSLASH || x < 0x20) {
            ok = false;
            j = skipString(b, i) - 1;
            break;
          }
          j++;
        }
      } else {
        // INT: [+-]?\d+   DECIMAL: -?\d+(\.\d+)?
        let k = j;
        if (first === MINUS || (first === PLUS && plan === INT)) k++;
        let digits = 0;
        while (b[k]! >= ZERO && b[k]! <= NINE) {
          k++;
          digits++;
        }
        if (digits > 0 && plan === DECIMAL && b[k] === DOT) {
          k++;
          let frac = 0;
          while (b[k]! >= ZERO && b[k]! <= NINE) {
            k++;
            frac++;
          }
          if (frac === 0) ok = false;
        }
        if (digits === 0 || b[k] !== QUOTE) {
          ok = false;
          j = skipString(b, i) - 1;
        } else j = k;
      }
      if (ok) {
        w.bytes(b, plan === INT && first === PLUS ? i + 2 : i + 1, j);
        return j + 1;
      }
      const endOfString = j + 1;
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
              if (cells > 0 && cells < width) w.byte(TAB);
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
