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
import { MAX_DATE, MAX_INTEGER, MAX_TIMESTAMP, maxDecimal, writeDate, writeDecimal, writeSigned, writeTimestamp } from './arrow-digits.ts';
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
  let rowCount = 0;
  const w = new CopyWriter(Math.ceil(batch.byteLength * 1.5) + 1024, out);
  for (const b of readRecordBatches(schema, batch)) {
    if (b.columns.length !== options.fields.length) {
      throw new Error(`BigQuery Storage Read: a record batch has ${b.columns.length} columns, the result schema ${options.fields.length} fields`);
    }
    const columns = options.fields.map((field, c) => columnOf(field, b.columns[c]!));
    writeRows(w, columns, b.numRows, rowCount, options);
    rowCount += b.numRows;
  }
  return { text: w.out.subarray(0, w.at), rowCount };
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
      // Everything else is text that needs no COPY escaping but may (RECORD, REPEATED: JSON) —
      // written through the escaping writer; a JSON text may hold escaped NULs only.
      return c;
  }
}

/** The rows of a batch; `before`: rows of the message written before it (its index for messages). */
function writeRows(w: CopyWriter, columns: Column[], rows: number, before: number, options: ArrowCopyOptions): void {
  // Room for a row's fixed-width values, a NULL each, the tabs and the newline; text values make their own.
  const rowRoom = columns.reduce((n, c) => n + Math.max(c.room, 2) + 1, 0);
  let out = w.out;
  let at = w.at;
  for (let r = 0; r < rows; r++) {
    if (at + rowRoom > out.length) {
      w.at = at;
      w.ensure(rowRoom);
      out = w.out;
    }
    for (let c = 0; c < columns.length; c++) {
      if (c > 0) out[at++] = TAB;
      const col = columns[c]!;
      const k = col.offset + r;
      if (col.nulls !== null && ((col.nulls[k >> 3]! >> (k & 7)) & 1) === 0) {
        out[at++] = BACKSLASH;
        out[at++] = 0x4e; // N
        continue;
      }
      switch (col.kind) {
        case Kind.UTF8: {
          const start = col.ints[k]!;
          const end = col.ints[k + 1]!;
          if (at + (end - start) * 2 > out.length) {
            w.at = at;
            w.ensure((end - start) * 2 + rowRoom);
            out = w.out;
          }
          const next = writeUtf8(out, at, col.bytes, start, end);
          if (next >= 0) {
            at = next;
            continue;
          }
          // Rare: a NUL. The value as a string, handled as the REST path does.
          const text = Buffer.from(col.bytes.buffer, col.bytes.byteOffset + start, end - start).toString('utf8');
          w.at = at;
          w.value(withoutNul(text, col.field.name, before + r, { firstRow: options.firstRow, nulReplacement: options.nulReplacement }));
          break;
        }
        case Kind.INT64: {
          const hi = col.ints[2 * k + 1]!;
          // |value| < 2^53: exact as a double.
          if (hi >= -0x200000 && hi < 0x200000) {
            at = writeSigned(out, at, hi * 4294967296 + (col.ints[2 * k]! >>> 0));
            continue;
          }
          w.at = at;
          w.value(String((col.data.values as BigInt64Array)[k]!));
          break;
        }
        case Kind.DATE: {
          const days = col.ints[k]!;
          if (days === col.lastDay) {
            out.copyWithin(at, col.lastAt, col.lastAt + 10);
            at += 10;
          } else {
            col.lastDay = days;
            col.lastAt = at;
            at = writeDate(out, at, days);
          }
          continue;
        }
        case Kind.TIMESTAMP: {
          const hi = col.ints[2 * k + 1]!;
          if (hi >= -0x200000 && hi < 0x200000) {
            at = writeTimestamp(out, at, hi * 4294967296 + (col.ints[2 * k]! >>> 0));
            continue;
          }
          w.at = at;
          w.value(valueText(col.field, col.data, r));
          break;
        }
        case Kind.DECIMAL: {
          const next = writeDecimalAt(out, at, col, k);
          if (next >= 0) {
            at = next;
            continue;
          }
          w.at = at;
          w.value(valueText(col.field, col.data, r));
          break;
        }
        case Kind.FLOAT64:
          w.at = at;
          w.value(numberText(col.floats[k]!));
          break;
        case Kind.BOOL:
          at += out.write((col.bytes[k >> 3]! >> (k & 7)) & 1 ? 'true' : 'false', at, 'latin1');
          continue;
        default:
          w.at = at;
          w.value(valueText(col.field, col.data, r));
      }
      // A value written through `w` (which may have grown the buffer).
      out = w.out;
      at = w.at;
      if (at + rowRoom > out.length) {
        w.ensure(rowRoom);
        out = w.out;
      }
    }
    out[at++] = NEWLINE;
  }
  w.at = at;
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
  for (let i = 2; i < col.words; i++) if (words[base + i] !== sign) return -1;
  if (mid < -0x200000 || mid >= 0x200000) return -1;
  return writeDecimal(out, at, mid * 4294967296 + (low >>> 0), col.scale, col.divisor);
}
