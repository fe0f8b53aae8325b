// How the Storage Read API test server (bigquery-storage-server.ts) writes a table as Arrow: the
// Arrow type BigQuery's Read API uses for each BigQuery type, and rows as IPC messages.
//
// A fixture's cells are first put in BigQuery's REST wire form by the REST test server's own
// encoder (bigquery-server-wire.ts), then turned into Arrow. So one fixture means the same
// values on both paths, and the cell forms a test may write are defined in one place
// (CellValue in bigquery-server-types.ts).
//
// Arrow types, as BigQuery's Read API sends them (sources: python-bigquery
// tests/system/test_arrow.py and _pandas_helpers.py; google-cloud-go bigquery/arrow.go):
//   INT64 int64 · FLOAT64 float64 · BOOL bool · STRING utf8 · BYTES binary · DATE date32[day]
//   NUMERIC decimal128(38, 9) · BIGNUMERIC decimal256(76, 38) · TIME time64[us]
//   TIMESTAMP timestamp[us, tz=UTC] · DATETIME timestamp[us] (no zone) + extension name
//   google:sqlType:datetime · GEOGRAPHY utf8 + google:sqlType:geography {"encoding": "WKT"}
//   JSON utf8 + google:sqlType:json · RECORD struct · REPEATED list (never null: BigQuery has
//   no NULL array) · RANGE<T> struct<start: T, end: T>, a null bound is UNBOUNDED
//   INTERVAL interval[month_day_nano] + google:sqlType:interval (the least documented one:
//   seen only in third-party Read API readers; Google's Python client still cannot read it).
import {
  Binary, Bool, DateDay, Decimal, Field, Float64, Int64, IntervalMonthDayNano, List, RecordBatch,
  RecordBatchStreamWriter, Schema, Struct, TimeMicrosecond, TimestampMicrosecond, Utf8, makeData,
  type Data, type DataType,
} from 'apache-arrow';
import { compressZstd } from './arrow-body-compression.ts';
import type { FieldSpec, Row } from './bigquery-server-types.ts';
import type { BufferCompression } from './bigquery-storage-server-types.ts';
import { encodeRows } from './bigquery-server-wire.ts';

const EXTENSION = 'ARROW:extension:name';

/** The Arrow field BigQuery's Read API sends for a BigQuery field. */
function arrowField(spec: FieldSpec): Field {
  const element = new Field(spec.name, arrowType(spec), spec.mode !== 'REQUIRED', extensionOf(spec));
  if (spec.mode !== 'REPEATED') return element;
  return new Field(spec.name, new List(new Field('item', element.type, true, element.metadata)), false);
}

function arrowType(spec: FieldSpec): DataType {
  switch (spec.type) {
    case 'STRING': case 'JSON': case 'GEOGRAPHY': return new Utf8();
    case 'BYTES': return new Binary();
    case 'INT64': case 'INTEGER': return new Int64();
    case 'FLOAT64': case 'FLOAT': return new Float64();
    case 'BOOL': case 'BOOLEAN': return new Bool();
    case 'NUMERIC': return new Decimal(9, 38, 128);
    case 'BIGNUMERIC': return new Decimal(38, 76, 256);
    case 'DATE': return new DateDay();
    case 'DATETIME': return new TimestampMicrosecond(null);
    case 'TIMESTAMP': return new TimestampMicrosecond('UTC');
    case 'TIME': return new TimeMicrosecond();
    case 'INTERVAL': return new IntervalMonthDayNano();
    case 'RECORD': case 'STRUCT': return new Struct((spec.fields ?? []).map(arrowField));
    case 'RANGE': {
      const bound = arrowField({ name: 'start', type: spec.rangeElementType ?? 'DATE' });
      return new Struct([bound, new Field('end', bound.type, true)]);
    }
  }
}

function extensionOf(spec: FieldSpec): Map<string, string> {
  switch (spec.type) {
    case 'DATETIME': return new Map([[EXTENSION, 'google:sqlType:datetime']]);
    case 'JSON': return new Map([[EXTENSION, 'google:sqlType:json']]);
    case 'INTERVAL': return new Map([[EXTENSION, 'google:sqlType:interval']]);
    case 'GEOGRAPHY': return new Map([[EXTENSION, 'google:sqlType:geography'], ['ARROW:extension:metadata', '{"encoding": "WKT"}']]);
    default: return new Map();
  }
}

/** The IPC messages of one table: its schema, and record batches of any of its row ranges. */
export class ArrowTable {
  readonly schema: Schema;
  /** ReadSession.arrowSchema.serializedSchema: one encapsulated IPC Schema message. */
  readonly serializedSchema: Uint8Array;

  constructor(
    private readonly fields: readonly FieldSpec[],
    private readonly at: (index: number) => Row,
  ) {
    this.schema = new Schema(fields.map(arrowField));
    const writer = new RecordBatchStreamWriter();
    writer.reset(undefined, this.schema);
    writer.finish();
    this.serializedSchema = withoutEndOfStream(writer.toUint8Array(true));
  }

  /**
   * ReadRowsResponse.arrowRecordBatch.serializedRecordBatch for rows [start, end): one IPC
   * RecordBatch message with its body, its buffers compressed as `compression` says. Readers put
   * the schema message in front of it.
   */
  serializeRows(start: number, end: number, compression: BufferCompression): Uint8Array {
    const rows = encodeRows(this.fields, this.at, start, end, 'int64', Infinity)
      .map((text) => (JSON.parse(text) as { f: { v: unknown }[] }).f.map((cell) => cell.v));
    const children = this.fields.map((spec, i) => columnData(spec, rows.map((row) => row[i])));
    const struct = makeData({ type: new Struct(this.schema.fields), length: rows.length, nullCount: 0, children });
    const stream = RecordBatchStreamWriter.writeAll([new RecordBatch(this.schema, struct)]).toUint8Array(true);
    // The stream is this schema message, then the batch, then the end-of-stream marker.
    const batch = stream.subarray(this.serializedSchema.length, stream.length - END_OF_STREAM.length);
    return compression === 'ZSTD' ? compressZstd(batch) : batch;
  }
}

const END_OF_STREAM = Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0);

function withoutEndOfStream(stream: Uint8Array): Uint8Array {
  const tail = stream.subarray(stream.length - END_OF_STREAM.length);
  if (!tail.every((b, i) => b === END_OF_STREAM[i])) throw new Error('arrow stream does not end with its end-of-stream marker');
  return stream.subarray(0, stream.length - END_OF_STREAM.length);
}

/** One column's Arrow data from its cells in REST wire form (null = NULL). */
function columnData(spec: FieldSpec, cells: readonly unknown[]): Data {
  if (spec.mode === 'REPEATED') {
    const lists = cells.map((c) => (c as { v: unknown }[] | null) ?? []);
    const valueOffsets = new Int32Array(lists.length + 1);
    lists.forEach((list, i) => { valueOffsets[i + 1] = valueOffsets[i]! + list.length; });
    const child = columnData({ ...spec, mode: 'NULLABLE' }, lists.flat().map((e) => e.v));
    return makeData({ type: arrowField(spec).type as List, length: lists.length, nullCount: 0, valueOffsets, child });
  }
  const type = arrowType(spec);
  const length = cells.length;
  const nullBitmap = new Uint8Array(Math.ceil(length / 8));
  let nullCount = 0;
  cells.forEach((c, i) => {
    if (c === null || c === undefined) nullCount++;
    else nullBitmap[i >> 3]! |= 1 << (i & 7);
  });
  const base = { length, nullCount, nullBitmap };
  const value = (i: number) => cells[i] as string;
  const present = (i: number) => cells[i] !== null && cells[i] !== undefined;
  switch (spec.type) {
    case 'STRING': case 'JSON': case 'GEOGRAPHY': case 'BYTES': {
      const bytes = cells.map((c, i) => (!present(i) ? new Uint8Array() : spec.type === 'BYTES' ? Buffer.from(c as string, 'base64') : Buffer.from(c as string)));
      const valueOffsets = new Int32Array(length + 1);
      bytes.forEach((b, i) => { valueOffsets[i + 1] = valueOffsets[i]! + b.length; });
      const data = Buffer.concat(bytes);
      return type instanceof Binary ? makeData({ ...base, type, valueOffsets, data }) : makeData({ ...base, type: type as Utf8, valueOffsets, data });
    }
    case 'INT64': case 'INTEGER':
      return makeData({ ...base, type: type as Int64, data: BigInt64Array.from(cells, (c, i) => (present(i) ? BigInt(value(i)) : 0n)) });
    case 'FLOAT64': case 'FLOAT':
      return makeData({ ...base, type: type as Float64, data: Float64Array.from(cells, (c, i) => (present(i) ? Number(value(i)) : 0)) });
    case 'BOOL': case 'BOOLEAN': {
      const data = new Uint8Array(nullBitmap.length);
      cells.forEach((c, i) => { if (c === 'true') data[i >> 3]! |= 1 << (i & 7); });
      return makeData({ ...base, type: type as Bool, data });
    }
    case 'NUMERIC': case 'BIGNUMERIC': {
      const { scale, bitWidth } = type as Decimal;
      const words = bitWidth / 32;
      const data = new Uint32Array(length * words);
      cells.forEach((c, i) => { if (present(i)) data.set(decimalWords(value(i), scale, words, spec.name), i * words); });
      return makeData({ ...base, type: type as Decimal, data });
    }
    case 'DATE':
      return makeData({ ...base, type: type as DateDay, data: Int32Array.from(cells, (c, i) => (present(i) ? Number(civilMicros(value(i)) / MICROS_PER_DAY) : 0)) });
    case 'DATETIME': case 'TIMESTAMP': case 'TIME': {
      const micros = (text: string) => (spec.type === 'TIMESTAMP' ? BigInt(text) : spec.type === 'TIME' ? timeMicros(text) : civilMicros(text));
      return makeData({ ...base, type: type as TimestampMicrosecond, data: BigInt64Array.from(cells, (c, i) => (present(i) ? micros(value(i)) : 0n)) });
    }
    case 'INTERVAL': {
      const buffer = new ArrayBuffer(length * 16);
      const ints = new Int32Array(buffer);
      const longs = new BigInt64Array(buffer);
      cells.forEach((c, i) => {
        if (!present(i)) return;
        const { months, days, nanos } = parseInterval(value(i));
        ints[i * 4] = months;
        ints[i * 4 + 1] = days;
        longs[i * 2 + 1] = nanos;
      });
      return makeData({ ...base, type: type as IntervalMonthDayNano, data: ints });
    }
    case 'RECORD': case 'STRUCT': {
      const subfields = spec.fields ?? [];
      const children = subfields.map((sub, j) => columnData(sub, cells.map((c) => (c === null || c === undefined ? null : (c as { f: { v: unknown }[] }).f[j]!.v))));
      return makeData({ ...base, type: type as Struct, children });
    }
    case 'RANGE': {
      const bounds = cells.map((c) => (c === null || c === undefined ? [null, null] : parseRange(c as string)));
      const element: FieldSpec = { name: 'bound', type: spec.rangeElementType ?? 'DATE' };
      return makeData({ ...base, type: type as Struct, children: [columnData(element, bounds.map((b) => b[0])), columnData(element, bounds.map((b) => b[1]))] });
    }
  }
}

const MICROS_PER_DAY = 86_400_000_000n;

/** Epoch microseconds of a civil 'YYYY-MM-DD[THH:MM:SS[.ffffff]]' read as UTC. */
function civilMicros(text: string): bigint {
  const m = /^(\d{4})-(\d{2})-(\d{2})(?:T(.*))?$/.exec(text);
  if (!m) throw new Error(`not a DATE/DATETIME: ${text}`);
  // setUTCFullYear, not Date.UTC: Date.UTC reads years 0-99 as 1900-1999.
  const day = new Date(0);
  day.setUTCFullYear(Number(m[1]), Number(m[2]) - 1, Number(m[3]));
  return BigInt(day.getTime()) * 1000n + (m[4] ? timeMicros(m[4]) : 0n);
}

function timeMicros(text: string): bigint {
  const m = /^(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?$/.exec(text);
  if (!m) throw new Error(`not a TIME: ${text}`);
  return (BigInt(m[1]!) * 3600n + BigInt(m[2]!) * 60n + BigInt(m[3]!)) * 1_000_000n + BigInt((m[4] ?? '').padEnd(6, '0'));
}

/** '[-]Y-M [-]D [-]H:M:S[.F]' as Arrow's month_day_nano triple. */
function parseInterval(text: string): { months: number; days: number; nanos: bigint } {
  const m = /^(-?)(\d+)-(\d+) (-?\d+) (-?)(\d+):(\d+):(\d+)(?:\.(\d{1,9}))?$/.exec(text);
  if (!m) throw new Error(`not an INTERVAL: ${text}`);
  const months = (Number(m[2]) * 12 + Number(m[3])) * (m[1] ? -1 : 1);
  const nanos = (BigInt(m[6]!) * 3600n + BigInt(m[7]!) * 60n + BigInt(m[8]!)) * 1_000_000_000n + BigInt((m[9] ?? '').padEnd(9, '0'));
  return { months, days: Number(m[4]), nanos: m[5] ? -nanos : nanos };
}

/** '[start, end)' as its two bounds in wire form, UNBOUNDED as null. */
function parseRange(text: string): [string | null, string | null] {
  const m = /^\[(.*), (.*)\)$/.exec(text);
  if (!m) throw new Error(`not a RANGE: ${text}`);
  return [m[1] === 'UNBOUNDED' ? null : m[1]!, m[2] === 'UNBOUNDED' ? null : m[2]!];
}

/** A decimal string as `words` little-endian 32-bit words of its two's complement unscaled value. */
function decimalWords(text: string, scale: number, words: number, field: string): Uint32Array {
  const m = /^(-?)(\d+)(?:\.(\d+))?$/.exec(text);
  const fraction = (m?.[3] ?? '').replace(/0+$/, '');
  if (!m || fraction.length > scale) {
    throw new Error(`field "${field}": ${text} is not a decimal with at most ${scale} digits after the point`);
  }
  const magnitude = BigInt(m[2]! + fraction.padEnd(scale, '0'));
  let unscaled = m[1] ? (1n << BigInt(words * 32)) - magnitude : magnitude;
  const out = new Uint32Array(words);
  for (let w = 0; w < words; w++, unscaled >>= 32n) out[w] = Number(unscaled & 0xffff_ffffn);
  return out;
}
