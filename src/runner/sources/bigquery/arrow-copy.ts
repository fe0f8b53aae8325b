// A Storage Read API record batch (Arrow IPC) → COPY text, byte for byte what the REST path
// writes for the same values (arrow-values.ts says how each type is read). Rows are written in
// order, each column by a writer chosen once per batch for its type that reads the column's
// buffers at the row's index: no JavaScript object per row, and no string per value for the
// common types (strings, integers, floats, booleans, dates, timestamps) — their bytes go
// straight into the output buffer. Pure (input: bytes and options; output: bytes and a count),
// so that it can run in a worker thread.
import { RecordBatchReader, type Data, type RecordBatch } from 'apache-arrow';
import { CopyWriter } from '../copy-text.ts';
import { canonicalType, numberText, type WireField } from './bigquery-types.ts';
import { withoutNul } from './bigquery-wire-rows.ts';
import { civilDate, int64At, int64Words, isValid, valueText } from './arrow-values.ts';

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
 * message); `batch`: ReadRowsResponse.arrowRecordBatch.serializedRecordBatch. Throws
 * InvalidRowValue for a value PostgreSQL text cannot hold (a NUL without nulReplacement).
 */
export function arrowBatchToCopyText(schema: Uint8Array, batch: Uint8Array, options: ArrowCopyOptions): ArrowCopyRows {
  let rowCount = 0;
  // Two chunks, one IPC message each: apache-arrow reads the batch's buffers in place.
  const batches = [...RecordBatchReader.from([schema, batch])] as RecordBatch[];
  const w = new CopyWriter(Math.ceil(batch.byteLength * 1.5) + 1024);
  for (const b of batches) {
    const columns = b.data.children;
    if (columns.length !== options.fields.length) {
      throw new Error(`BigQuery Storage Read: a record batch has ${columns.length} columns, the result schema ${options.fields.length} fields`);
    }
    const writers = options.fields.map((field, c) => columnWriter(field, columns[c]!, options));
    for (let r = 0; r < b.numRows; r++) {
      for (let c = 0; c < writers.length; c++) {
        if (c > 0) w.byte(TAB);
        writers[c]!(w, r, rowCount + r);
      }
      w.byte(NEWLINE);
    }
    rowCount += b.numRows;
  }
  return { text: w.out.subarray(0, w.at), rowCount };
}

const TAB = 0x09;
const NEWLINE = 0x0a;
const BACKSLASH = 0x5c;

/** Writes the value of row `r` of its column; `row` is the row's index in the whole batch (messages). */
type ColumnWriter = (w: CopyWriter, r: number, row: number) => void;

function columnWriter(field: WireField, data: Data, options: ArrowCopyOptions): ColumnWriter {
  const type = field.mode === 'REPEATED' ? 'REPEATED' : canonicalType(field.type);
  // Checked once per column: most columns of a batch have no NULL at all.
  const nullable = (write: ColumnWriter): ColumnWriter => (data.nullCount === 0 ? write : (w, r, row) => (isValid(data, r) ? write(w, r, row) : writeNull(w)));
  switch (type) {
    case 'STRING':
    case 'GEOGRAPHY':
    case 'JSON':
      return nullable((w, r, row) => writeUtf8(w, data, r, field.name, row, options));
    case 'INT64': {
      const words = int64Words(data);
      return nullable((w, r) => writeInteger(w, int64At(data, data.offset + r, words)));
    }
    case 'DATE':
      return nullable((w, r) => writeDate(w, (data.values as Int32Array)[data.offset + r]!));
    case 'TIMESTAMP': {
      const words = int64Words(data);
      return nullable((w, r) => writeTimestamp(w, int64At(data, data.offset + r, words), field, data, r));
    }
    case 'FLOAT64':
      return nullable((w, r) => writeAscii(w, numberText((data.values as Float64Array)[data.offset + r]!)));
    case 'NUMERIC':
    case 'BIGNUMERIC': {
      const { scale, bitWidth } = data.type as unknown as { scale: number; bitWidth: number };
      return nullable((w, r) => writeDecimal(w, data.values as Uint32Array, data.offset + r, bitWidth / 32, scale, field, data, r));
    }
    case 'BOOL':
      return nullable((w, r) => {
        const k = data.offset + r;
        writeAscii(w, ((data.values as Uint8Array)[k >> 3]! >> (k & 7)) & 1 ? 'true' : 'false');
      });
    default:
      // Everything else is text that needs no COPY escaping but may (RECORD, REPEATED: JSON) —
      // written through the escaping writer; a JSON text may hold escaped NULs only.
      return (w, r) => w.value(valueText(field, data, r));
  }
}

function writeNull(w: CopyWriter): void {
  w.ensure(2);
  w.out[w.at++] = BACKSLASH;
  w.out[w.at++] = 0x4e; // N
}

/** ASCII text that needs no escaping (digits, dates, true/false). */
function writeAscii(w: CopyWriter, text: string): void {
  w.ensure(text.length);
  w.at += w.out.write(text, w.at, 'latin1');
}

/** An integer (a bigint beyond 2^53), without a string for the usual ones. */
function writeInteger(w: CopyWriter, n: number | bigint): void {
  if (typeof n === 'bigint') return writeAscii(w, n.toString());
  w.ensure(21);
  if (n < 0) {
    w.out[w.at++] = 0x2d;
    n = -n;
  }
  let digits = 1;
  for (let x = n; x >= 10; x = Math.floor(x / 10)) digits++;
  for (let p = w.at + digits - 1; p >= w.at; p--) {
    w.out[p] = 0x30 + (n % 10);
    n = Math.floor(n / 10);
  }
  w.at += digits;
}

/**
 * A utf8 value's bytes, COPY-escaped as they are copied (backslash, tab, newline, carriage
 * return). A NUL is replaced (nulReplacement) or fails the batch naming column and row.
 */
function writeUtf8(w: CopyWriter, data: Data, r: number, column: string, row: number, options: ArrowCopyOptions): void {
  const k = data.offset + r;
  const offsets = data.valueOffsets as Int32Array;
  const values = data.values as Uint8Array;
  const start = offsets[k]!;
  const end = offsets[k + 1]!;
  w.ensure((end - start) * 2);
  const out = w.out;
  let o = w.at;
  for (let j = start; j < end; j++) {
    const x = values[j]!;
    if (x > 0x5c || (x > 0x0d && x !== BACKSLASH)) {
      out[o++] = x;
      continue;
    }
    if (x === 0) {
      // Rare: the value as a string, its NULs handled as the REST path does.
      const text = Buffer.from(values.buffer, values.byteOffset + start, end - start).toString('utf8');
      w.value(withoutNul(text, column, row, { firstRow: options.firstRow, nulReplacement: options.nulReplacement }));
      return;
    }
    const escaped = x === BACKSLASH ? BACKSLASH : x === 0x09 ? 0x74 : x === 0x0a ? 0x6e : x === 0x0d ? 0x72 : -1;
    if (escaped < 0) out[o++] = x;
    else {
      out[o++] = BACKSLASH;
      out[o++] = escaped;
    }
  }
  w.at = o;
}

/** Two digits at `at` of `out`. */
function put2(out: Buffer, at: number, n: number): void {
  out[at] = 0x30 + Math.floor(n / 10);
  out[at + 1] = 0x30 + (n % 10);
}

/** 'YYYY-MM-DD' of epoch days, written in place; years 0001–9999. */
function writeDate(w: CopyWriter, days: number): void {
  const ymd = civilDate(days);
  const y = Math.floor(ymd / 10000);
  w.ensure(10);
  const out = w.out;
  const at = w.at;
  put2(out, at, Math.floor(y / 100));
  put2(out, at + 2, y % 100);
  out[at + 4] = 0x2d;
  put2(out, at + 5, Math.floor(ymd / 100) % 100);
  out[at + 7] = 0x2d;
  put2(out, at + 8, ymd % 100);
  w.at = at + 10;
}

const MICROS_PER_DAY = 86_400_000_000;

/** TIMESTAMP as the REST path writes it ('YYYY-MM-DDTHH:MM:SS.ffffffZ'), in place when exact as a double. */
function writeTimestamp(w: CopyWriter, micros: number | bigint, field: WireField, data: Data, r: number): void {
  if (typeof micros === 'bigint') return w.value(valueText(field, data, r));
  let days = Math.floor(micros / MICROS_PER_DAY);
  let rest = micros - days * MICROS_PER_DAY;
  // The division is rounded: a value just below a day's end may land on the next day.
  if (rest < 0) {
    days--;
    rest += MICROS_PER_DAY;
  }
  writeDate(w, days);
  w.ensure(16);
  const out = w.out;
  const at = w.at;
  const fraction = rest % 1_000_000;
  rest = (rest - fraction) / 1_000_000;
  out[at] = 0x54; // T
  put2(out, at + 1, Math.floor(rest / 3600));
  out[at + 3] = 0x3a;
  put2(out, at + 4, Math.floor(rest / 60) % 60);
  out[at + 6] = 0x3a;
  put2(out, at + 7, rest % 60);
  out[at + 9] = 0x2e;
  for (let p = at + 15, f = fraction; p > at + 9; p--, f = Math.floor(f / 10)) out[p] = 0x30 + (f % 10);
  out[at + 16] = 0x5a; // Z
  w.at = at + 17;
}

/**
 * A decimal without trailing zeros. Unscaled values within ±2^53 (most prices, amounts) are
 * read as a double and written in place; wider ones as their exact text (arrow-values.ts).
 */
function writeDecimal(w: CopyWriter, words: Uint32Array, k: number, count: number, scale: number, field: WireField, data: Data, r: number): void {
  const base = k * count;
  const low = words[base]!;
  const mid = words[base + 1]!;
  let upper = 0;
  for (let i = 2; i < count; i++) upper |= words[base + i]! === (mid & 0x8000_0000 ? 0xffff_ffff : 0) ? 0 : 1;
  const midSigned = mid | 0;
  if (upper !== 0 || midSigned < -0x200000 || midSigned >= 0x200000) return w.value(valueText(field, data, r));
  let unscaled = midSigned * 4294967296 + low;
  if (unscaled < 0) {
    w.byte(0x2d);
    unscaled = -unscaled;
  }
  const divisor = 10 ** scale;
  let whole = Math.floor(unscaled / divisor);
  let fraction = unscaled - whole * divisor;
  // The division is rounded: 8999999.999999999 may come out as 9000000.
  if (fraction < 0) {
    whole--;
    fraction += divisor;
  }
  writeInteger(w, whole);
  if (fraction === 0) return;
  let digits = scale;
  while (fraction % 10 === 0) {
    fraction /= 10;
    digits--;
  }
  w.ensure(digits + 1);
  const out = w.out;
  out[w.at] = 0x2e;
  for (let p = w.at + digits; p > w.at; p--, fraction = Math.floor(fraction / 10)) out[p] = 0x30 + (fraction % 10);
  w.at += digits + 1;
}

