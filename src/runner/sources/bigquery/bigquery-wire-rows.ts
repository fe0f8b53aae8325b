// A page's `rows` array, from its bytes to COPY text in one pass: a value whose wire text
// already is its PostgreSQL input text is checked and its bytes copied; any other value is
// JSON.parse'd alone and converted by `toText` (bigquery-types.ts), so the text is exactly
// what `convertRows` + `toCopyText` give (test/bigquery-wire.test.ts holds both to that).
import { CopyWriter } from '../copy-text.ts';
import { toText, type WireField } from './bigquery-types.ts';
import {
  COLON,
  COMMA,
  expectByte,
  isKey,
  LBRACE,
  LBRACKET,
  MalformedBody,
  NEWLINE,
  parseSlice,
  QUOTE,
  RBRACE,
  RBRACKET,
  skipSpace,
  skipString,
  skipValue,
  TAB,
} from './bigquery-json.ts';
import { CONVERT, copyPlainNumber, copyPlainString, planOf, TEXT, type ValuePlan } from './bigquery-wire-values.ts';

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

/**
 * The InvalidRowValue in `err`, by name — a decode worker's error arrives as an Error with the
 * task's name and fields — or null: anything else is not a bad value.
 */
export function invalidRowValueOf(err: unknown): { message: string; where: InvalidRowValue['where'] } | null {
  if (!(err instanceof Error) || err.name !== 'InvalidRowValue') return null;
  return { message: err.message, where: (err as Partial<InvalidRowValue>).where ?? {} };
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

/**
 * The `rows` array that starts at `start` of `body` as COPY text, values in `fields` order,
 * and the index just after the array. Values are exactly `toText(field, v)` of the parsed
 * wire value; throws on a value that has no PostgreSQL text (as `toText` does) or a row whose
 * cell count differs from the schema. `out`: a reusable buffer to write into (CopyWriter).
 */
export function rowsToCopyText(fields: readonly WireField[], body: Buffer, start: number, options: ReadOptions, out: Buffer | null = null): CopyRows & { end: number } {
  return new PageRows(fields, body, start, options, out).read(start);
}

/**
 * One page being decoded: the body, each column's plan and the writer, shared by the readers
 * of a row, a cell and a value below — methods, not closures, so nothing is allocated per row
 * or value. Each reader takes the index where its part starts and returns the one after it.
 */
class PageRows {
  private readonly plans: ValuePlan[];
  private readonly width: number;
  private readonly w: CopyWriter;
  /** Rows written so far: the page row of the one being read. */
  private rowCount = 0;
  /** Cells of the row's last "f" array (set by `cells`). */
  private cellCount = 0;

  constructor(
    private readonly fields: readonly WireField[],
    private readonly b: Buffer,
    start: number,
    private readonly options: ReadOptions,
    out: Buffer | null,
  ) {
    this.plans = fields.map(planOf);
    this.width = fields.length;
    // COPY text is shorter than its JSON (no {"v":…} around each value): the rest of the body
    // is room enough; untouched capacity of a large allocation never becomes resident.
    this.w = new CopyWriter(b.length - start, out);
  }

  /** The rows array whose '[' is at `start`. */
  read(start: number): CopyRows & { end: number } {
    const { b, w } = this;
    let i = skipSpace(b, start + 1); // after '['
    if (b[i] === RBRACKET) return { text: w.out.subarray(0, 0), rowCount: 0, end: i + 1 };
    for (;;) {
      i = skipSpace(b, this.row(i));
      if (b[i] === COMMA) {
        i = skipSpace(b, i + 1);
        continue;
      }
      expectByte(b, i, RBRACKET);
      break;
    }
    return { text: w.out.subarray(0, w.at), rowCount: this.rowCount, end: i + 1 };
  }

  /** One row, {"f": [cells]}, and its newline. */
  private row(i: number): number {
    const { b, w } = this;
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
        if (key === 'f') {
          w.at = rowStart; // a repeated "f": the last one counts, as for JSON.parse
          cells = 0;
        }
        if (key === 'f' && b[i] === LBRACKET) {
          i = this.cells(i);
          cells = this.cellCount;
        } else i = skipValue(b, i);
        i = skipSpace(b, i);
        if (b[i] === COMMA) {
          i = skipSpace(b, i + 1);
          continue;
        }
        expectByte(b, i, RBRACE);
        break;
      }
    }
    if (cells !== this.width) throw new Error(`BigQuery row ${this.rowCount} has ${cells} cells, the result schema ${this.width} fields`);
    w.byte(NEWLINE);
    this.rowCount++;
    return i + 1;
  }

  /** A row's "f" array of cells, tab-separated; its count in `cellCount`. */
  private cells(i: number): number {
    const { b, w, width } = this;
    let cells = 0;
    i = skipSpace(b, i + 1);
    if (b[i] !== RBRACKET) {
      for (;;) {
        if (cells > 0 && cells < width) w.out[w.at++] = TAB;
        i = skipSpace(b, this.cell(cells, i));
        cells++;
        if (b[i] === COMMA) {
          i = skipSpace(b, i + 1);
          continue;
        }
        expectByte(b, i, RBRACKET);
        break;
      }
    }
    this.cellCount = cells;
    return i + 1;
  }

  /** A cell `{"v": …}` (or null) of column c. */
  private cell(c: number, i: number): number {
    const { b, w } = this;
    // The usual spelling, {"v":…}, without the general key loop of `cellByKeys`.
    if (b[i] === LBRACE && b[i + 1] === QUOTE && b[i + 2] === 0x76 && b[i + 3] === QUOTE && b[i + 4] === COLON && c < this.width) {
      const cellStart = w.at;
      const valueStart = skipSpace(b, i + 5);
      let j: number;
      try {
        j = skipSpace(b, this.value(c, valueStart));
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
      if (c < this.width) w.value(this.textOf(c, cell?.v));
      return cellEnd;
    }
    return this.cellByKeys(c, i);
  }

  /** A cell object read key by key: the LAST "v" counts, as for JSON.parse; every other key is skipped. */
  private cellByKeys(c: number, i: number): number {
    const b = this.b;
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
    if (c < this.width) {
      if (valueAt >= 0) this.value(c, valueAt);
      else this.w.value(this.textOf(c, undefined));
    }
    return i + 1;
  }

  /**
   * The value of column `c`. The usual values (strings without escapes, plain integers and
   * decimals) are copied byte by byte as they are scanned, in one pass: COPY text of a cell is
   * shorter than its JSON, so the room ensured at the start of each row is enough (see `row`).
   * Anything else is parsed alone and converted, written from `w.at` again.
   */
  private value(c: number, i: number): number {
    const { b, w } = this;
    const plan = this.plans[c]!;
    if (b[i] === QUOTE && plan !== CONVERT) {
      const copied = plan === TEXT ? copyPlainString(b, i, w) : copyPlainNumber(b, i, w, plan);
      if (copied >= 0) return copied;
      const endOfString = skipString(b, i);
      w.value(this.textOf(c, parseSlice(b, i, endOfString)));
      return endOfString;
    }
    const valueEnd = skipValue(b, i);
    if (valueEnd - i === 4 && b[i] === 0x6e && plan !== CONVERT) {
      w.value(null); // null
      return valueEnd;
    }
    w.value(this.textOf(c, parseSlice(b, i, valueEnd)));
    return valueEnd;
  }

  /** toText of a parsed value, without NULs (see withoutNul). */
  private textOf(c: number, v: unknown): string | null {
    const field = this.fields[c]!;
    const text = toText(field, v);
    return text !== null && text.includes('\0') ? withoutNul(text, field.name, this.rowCount, this.options) : text;
  }
}
