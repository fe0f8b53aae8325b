// A Storage Read API record batch (Arrow IPC) → COPY text, byte for byte what the REST path
// writes for the same values (arrow-values.ts says how each type is read). Rows are written in
// order, each column by a writer chosen once per batch for its type that reads the column's
// buffers at the row's index: no JavaScript object per row, and no string per value for the
// common types (strings, integers, floats, booleans, dates, timestamps) — their bytes go
// straight into the output buffer. Pure (input: bytes and options; output: bytes and a count),
// so that it can run in a worker thread.
import { RecordBatchReader, type Data, type RecordBatch } from 'apache-arrow';
import { CopyWriter } from '../copy-text.ts';
import { canonicalType, type WireField } from './bigquery-types.ts';
import { withoutNul } from './bigquery-wire-rows.ts';
import { dateText, int64At, isValid, valueText } from './arrow-values.ts';

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
  const nullable = (write: ColumnWriter): ColumnWriter => (w, r, row) => (isValid(data, r) ? write(w, r, row) : writeNull(w));
  switch (type) {
    case 'STRING':
    case 'GEOGRAPHY':
    case 'JSON':
      return nullable((w, r, row) => writeUtf8(w, data, r, field.name, row, options));
    case 'INT64':
      return nullable((w, r) => writeInteger(w, int64At(data, data.offset + r)));
    case 'DATE':
      return nullable((w, r) => writeAscii(w, dateText((data.values as Int32Array)[data.offset + r]!)));
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

