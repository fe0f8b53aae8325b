// A Storage Read API record batch (Arrow IPC) → COPY text, byte for byte what the REST path
// writes for the same values (arrow-values.ts says how each type is read). The batch's columns
// are read in place (arrow-ipc.ts); rows are written in order, each value by the kind of its
// column, chosen once per batch, reading the column's buffers at the row's index: no
// JavaScript object per row, and no string per value for the common types (strings, integers,
// decimals, dates, timestamps, booleans) — their bytes go straight into the output buffer
// (arrow-digits.ts). Pure (input: bytes and options; output: bytes and a count), so that it
// can run in a worker thread.
import type { Data } from 'apache-arrow';
import { CopyWriter } from '../copy-text.ts';
import { canonicalType, numberText, type WireField } from './bigquery-types.ts';
import { withoutNul } from './bigquery-wire-rows.ts';
import { MAX_DATE, MAX_INTEGER, MAX_TIMESTAMP, maxDecimal, writeDate, writeDecimal, writeSigned, writeSmall, writeTimestamp } from './arrow-digits.ts';
import { readRecordBatches } from './arrow-ipc.ts';
import { valueText } from './arrow-values.ts';

/** How a batch is converted. */
export interface ArrowCopyOptions {
  /** The query's result schema (jobs.getQueryResults): which BigQuery type each Arrow column holds. */
  fields: readonly WireField[];
  /** Index of the batch's first row in its stream (for messages); null when unknown. */
  firstRow: number | null;
  /** Replaces U+0000, which PostgreSQL text cannot hold; unset: a NUL fails the batch. */
  nulReplacement?: string | undefined;
}

/** A batch as COPY text. */
export interface ArrowCopyRows {
  text: Buffer;
  rowCount: number;
}

/**
 * One record batch as COPY text. `schema`: the session's serialized Arrow schema (one IPC
 * message); `batch`: ReadRowsResponse.arrowRecordBatch.serializedRecordBatch. `out`: a
 * reusable buffer for the text (written into when large enough: CopyWriter). Throws
 * InvalidRowValue for a value PostgreSQL text cannot hold (a NUL without nulReplacement).
 */
export function arrowBatchToCopyText(schema: Uint8Array, batch: Uint8Array, options: ArrowCopyOptions, out: Buffer | null = null): ArrowCopyRows {
  const w = new CopyWriter(0, out);
  const rowCount = writeArrowBatch(w, schema, batch, options);
  return { text: w.out.subarray(0, w.at), rowCount };
}

/** Appends a record batch's rows as COPY text to `w` (a page being gathered); returns the rows written. */
export function writeArrowBatch(w: CopyWriter, schema: Uint8Array, batch: Uint8Array, options: ArrowCopyOptions): number {
  let rowCount = 0;
  for (const b of readRecordBatches(schema, batch)) {
    if (b.columns.length !== options.fields.length) {
      throw new Error(`BigQuery Storage Read: a record batch has ${b.columns.length} columns, the result schema ${options.fields.length} fields`);
    }
    const columns = options.fields.map((field, c) => columnOf(field, b.columns[c]!));
    try {
      writeRows(w, columns, b.numRows, room(columns, b.numRows), rowCount, options);
    } finally {
      b.release?.();
    }
    rowCount += b.numRows;
  }
  return rowCount;
}

const TAB = 0x09;
const NEWLINE = 0x0a;
const BACKSLASH = 0x5c;

/** How a column's values are written: in place (by type), or as valueText's text (OTHER). */
const Kind = { UTF8: 0, INT64: 1, DATE: 2, TIMESTAMP: 3, DECIMAL: 4, FLOAT64: 5, BOOL: 6, OTHER: 7 } as const;
type Kind = (typeof Kind)[keyof typeof Kind];

/** A column as the row loop reads it: every field always set, so that the loop sees one shape. */
interface Column {
  kind: Kind;
  field: WireField;
  data: Data;
  /** Index of the column's first value in its buffers (Data.offset). */
  offset: number;
  /** The validity bitmap when some value is NULL. */
  nulls: Uint8Array | null;
  /** INT64/TIMESTAMP: the values' 32-bit words; DATE: the days; DECIMAL: the words; UTF8: the offsets. */
  ints: Int32Array;
  /** UTF8: the bytes; BOOL: the bits. */
  bytes: Uint8Array;
  floats: Float64Array;
  /** DECIMAL: words per value, scale and 10^scale. */
  words: number;
  scale: number;
  divisor: number;
  /** Room one value of a fixed-width kind takes at most (UTF8 and OTHER make their own). */
  room: number;
  /** DATE: the last value written, and where (most rows of a batch share their dates). */
  lastDay: number;
  lastAt: number;
}

const NO_INTS = new Int32Array(0);
const NO_BYTES = new Uint8Array(0);
const NO_FLOATS = new Float64Array(0);

/** How the row loop reads a column of a BigQuery type. */
function columnOf(field: WireField, data: Data): Column {
  const type = field.mode === 'REPEATED' ? 'REPEATED' : canonicalType(field.type);
  const c: Column = {
    kind: Kind.OTHER, field, data, offset: data.offset, nulls: data.nullCount > 0 && data.nullBitmap?.length ? data.nullBitmap : null,
    ints: NO_INTS, bytes: NO_BYTES, floats: NO_FLOATS, words: 0, scale: 0, divisor: 1, room: 2, lastDay: NaN, lastAt: 0,
  };
  const values = data.values as ArrayBufferView;
  const int32s = () => new Int32Array(values.buffer, values.byteOffset, values.byteLength >> 2);
  switch (type) {
    case 'STRING':
    case 'GEOGRAPHY':
    case 'JSON':
      return Object.assign(c, { kind: Kind.UTF8, ints: data.valueOffsets as Int32Array, bytes: data.values as Uint8Array });
    case 'INT64':
      return Object.assign(c, { kind: Kind.INT64, ints: int32s(), room: MAX_INTEGER });
    case 'DATE':
      return Object.assign(c, { kind: Kind.DATE, ints: data.values as Int32Array, room: MAX_DATE });
    case 'TIMESTAMP':
      return Object.assign(c, { kind: Kind.TIMESTAMP, ints: int32s(), room: MAX_TIMESTAMP });
    case 'FLOAT64':
      return Object.assign(c, { kind: Kind.FLOAT64, floats: data.values as Float64Array });
    case 'BOOL':
      return Object.assign(c, { kind: Kind.BOOL, bytes: data.values as Uint8Array, room: 5 });
    case 'NUMERIC':
    case 'BIGNUMERIC': {
      const { scale, bitWidth } = data.type as unknown as { scale: number; bitWidth: number };
      return Object.assign(c, { kind: Kind.DECIMAL, ints: int32s(), words: bitWidth / 32, scale, divisor: 10 ** scale, room: maxDecimal(scale) });
    }
    default:
      return c; // written by writeOther
  }
}

/**
 * Room the text of a batch's rows takes at most: a row's fixed-width values (or a NULL each),
 * its tabs and newline, and the batch's text values escaped (twice their bytes). Values
 * written through the escaping writer (the rare kinds) may take more: writeRows makes room again.
 */
function room(columns: Column[], rows: number): { row: number; text: number } {
  const row = columns.reduce((n, c) => n + Math.max(c.room, 2) + 1, 0);
  const text = columns.reduce((n, c) => (c.kind === Kind.UTF8 ? n + 2 * (c.ints[c.offset + rows]! - c.ints[c.offset]!) : n), 0);
  return { row, text };
}

/** The rows of a batch, with `room` made; `before`: rows of the message written before it (its index for messages). */
function writeRows(w: CopyWriter, columns: Column[], rows: number, room: { row: number; text: number }, before: number, options: ArrowCopyOptions): void {
  w.ensure(rows * room.row + room.text);
  let out = w.out;
  let at = w.at;
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < columns.length; c++) {
      if (c > 0) out[at++] = TAB;
      const col = columns[c]!;
      const k = col.offset + r;
      if (col.nulls !== null && ((col.nulls[k >> 3]! >> (k & 7)) & 1) === 0) {
        out[at++] = BACKSLASH;
        out[at++] = 0x4e; // N
        continue;
      }
      let next = -1;
      switch (col.kind) {
        case Kind.UTF8:
          next = writeUtf8(out, at, col.bytes, col.ints[k]!, col.ints[k + 1]!);
          break;
        case Kind.INT64: {
          const hi = col.ints[2 * k + 1]!;
          const lo = col.ints[2 * k]!;
          // Most counts fit in 31 bits; |value| < 2^53 is exact as a double.
          if (hi === 0 && lo >= 0) next = writeSmall(out, at, lo);
          else if (hi >= -0x200000 && hi < 0x200000) next = writeSigned(out, at, hi, lo);
          break;
        }
        case Kind.DATE:
          next = writeDateAt(out, at, col, col.ints[k]!);
          break;
        case Kind.TIMESTAMP: {
          const hi = col.ints[2 * k + 1]!;
          if (hi >= -0x200000 && hi < 0x200000) next = writeTimestamp(out, at, hi, col.ints[2 * k]!);
          break;
        }
        case Kind.DECIMAL:
          next = writeDecimalAt(out, at, col, k);
          break;
        case Kind.BOOL:
          next = at + out.write((col.bytes[k >> 3]! >> (k & 7)) & 1 ? 'true' : 'false', at, 'latin1');
          break;
      }
      if (next >= 0) {
        at = next;
        continue;
      }
      // The rare values and kinds: written through `w`, which may grow the buffer.
      w.at = at;
      writeOther(w, col, r, before + r, options);
      w.ensure((rows - r) * room.row + room.text);
      out = w.out;
      at = w.at;
    }
    out[at++] = NEWLINE;
  }
  w.at = at;
}

/** A value the row loop does not write in place, through the escaping writer: `row` is its index in the message. */
function writeOther(w: CopyWriter, col: Column, r: number, row: number, options: ArrowCopyOptions): void {
  const k = col.offset + r;
  switch (col.kind) {
    case Kind.UTF8: {
      // A NUL. The value as a string, handled as the REST path does.
      const start = col.ints[k]!;
      const text = Buffer.from(col.bytes.buffer, col.bytes.byteOffset + start, col.ints[k + 1]! - start).toString('utf8');
      return w.value(withoutNul(text, col.field.name, row, { firstRow: options.firstRow, nulReplacement: options.nulReplacement }));
    }
    case Kind.FLOAT64:
      return w.value(numberText(col.floats[k]!));
    default:
      // Everything else is text that needs no COPY escaping but may (RECORD, REPEATED: JSON) —
      // written through the escaping writer; a JSON text may hold escaped NULs only.
      return w.value(valueText(col.field, col.data, r));
  }
}

/** A DATE: copied from the column's last one when the same day (most rows of a batch share their dates). */
function writeDateAt(out: Buffer, at: number, col: Column, days: number): number {
  if (days === col.lastDay) {
    for (let i = col.lastAt, end = i + 10; i < end; i++) out[at++] = out[i]!;
    return at;
  }
  col.lastDay = days;
  col.lastAt = at;
  return writeDate(out, at, days);
}

/**
 * A utf8 value's bytes [start, end) of `values`, COPY-escaped as they are copied (backslash,
 * tab, newline, carriage return): the position after them, or -1 at a NUL (nothing kept).
 */
function writeUtf8(out: Uint8Array, at: number, values: Uint8Array, start: number, end: number): number {
  for (let j = start; j < end; j++) {
    const x = values[j]!;
    if (x > BACKSLASH || (x > 0x0d && x !== BACKSLASH)) {
      out[at++] = x;
      continue;
    }
    if (x === 0) return -1;
    const escaped = x === BACKSLASH ? BACKSLASH : x === 0x09 ? 0x74 : x === 0x0a ? 0x6e : x === 0x0d ? 0x72 : -1;
    if (escaped < 0) out[at++] = x;
    else {
      out[at++] = BACKSLASH;
      out[at++] = escaped;
    }
  }
  return at;
}

/**
 * The decimal at `k` of a DECIMAL column, when its unscaled value is within ±2^53 (most
 * prices, amounts): the position after it; else -1 (the caller writes its exact text).
 */
function writeDecimalAt(out: Buffer, at: number, col: Column, k: number): number {
  const words = col.ints;
  const base = k * col.words;
  const low = words[base]!;
  const mid = words[base + 1]!;
  // The upper words must be the sign extension of the lower two.
  const sign = mid >> 31;
  if (col.words === 4) {
    if (words[base + 2] !== sign || words[base + 3] !== sign) return -1;
  } else for (let i = 2; i < col.words; i++) if (words[base + i] !== sign) return -1;
  if (mid < -0x200000 || mid >= 0x200000) return -1;
  return writeDecimal(out, at, mid, low, col.scale, col.divisor);
}
