// A Storage Read API record batch (one encapsulated Arrow IPC RecordBatch message) as
// apache-arrow Data, one per column, read in place. apache-arrow's RecordBatchReader does the
// same through its stream machinery (byte streams, iterator adapters, a schema decoded again for
// every batch): ~10% of the converter's CPU profile on the SQP bench's 1024-row batches, which
// would have been a third of it once the rows were written fast. Here the message's flatbuffer header is read directly (its field nodes and buffer
// offsets: the Arrow columnar format's "RecordBatch" table), the session's schema is decoded
// once per distinct schema, and each column's buffers become Data through makeData.
//
// A body compressed with ZSTD (the session asked for it: bigquery-storage-session.ts) is read
// here too, its buffers decompressed as the format's BodyCompression method BUFFER writes them
// (decompressBody, arrow-compression.ts); LZ4_FRAME is refused (no LZ4 frame decoder in the process).
// Anything else this reader does not expect in an uncompressed batch (a dictionary batch, a type
// BigQuery does not send) is read by apache-arrow's reader instead; in a compressed one it is an
// error (apache-arrow's reader has no codec registered here, so it could not read it either).
import { decompressZstd } from './arrow-compression.ts';
import { releaseNow } from '../decode/copy-buffers.ts';
import { makeData, RecordBatchReader, Type, type Data, type DataType, type Field, type RecordBatch, type Schema } from 'apache-arrow';

/** The columns of one record batch and its row count. */
export interface ArrowColumns {
  columns: Data[];
  numRows: number;
  /** Frees the batch's decompressed buffers now (their columns are then empty): call once its rows are written. */
  release?: (() => void) | undefined;
}

/** The batches of one message (one, unless apache-arrow's reader read it). */
export function readRecordBatches(schemaBytes: Uint8Array, batch: Uint8Array): ArrowColumns[] {
  const schema = sessionSchema(schemaBytes);
  const direct = schema && readDirect(schema, batch);
  if (direct) return [direct];
  const batches = [...RecordBatchReader.from([schemaBytes, batch])] as RecordBatch[];
  return batches.map((b) => ({ columns: b.data.children, numRows: b.numRows }));
}

let cached: { bytes: Uint8Array; schema: Schema | null } | null = null;

/** The schema of a session (the last one decoded, if the bytes are the same: a session sends one schema); null if it cannot be read. */
function sessionSchema(bytes: Uint8Array): Schema | null {
  if (cached && Buffer.from(cached.bytes.buffer, cached.bytes.byteOffset, cached.bytes.byteLength).equals(bytes)) return cached.schema;
  let schema: Schema | null = null;
  try {
    const reader = RecordBatchReader.from([bytes]);
    reader.open();
    schema = reader.schema;
  } catch {
    schema = null;
  }
  cached = { bytes: Uint8Array.from(bytes), schema };
  return schema;
}

const RECORD_BATCH = 3; // MessageHeader.RecordBatch
/** CompressionType (Message.fbs); BodyCompression.codec defaults to LZ4_FRAME when absent. */
const CODEC_NAMES = ['LZ4_FRAME', 'ZSTD'] as const;
const ZSTD = 1;
const BUFFER_METHOD = 0; // BodyCompressionMethod.BUFFER: each buffer compressed on its own, length-prefixed

/** Reads a flatbuffer (little-endian tables, vtables, vectors) at absolute positions. */
class Flat {
  constructor(readonly view: DataView) {}
  /** Absolute position of field `i` of the table at `table`, or 0 when absent. */
  field(table: number, i: number): number {
    const vtable = table - this.view.getInt32(table, true);
    if (4 + 2 * i >= this.view.getUint16(vtable, true)) return 0;
    const at = this.view.getUint16(vtable + 4 + 2 * i, true);
    return at === 0 ? 0 : table + at;
  }
  /** The table or vector an offset field at `at` points to. */
  target(at: number): number {
    return at + this.view.getUint32(at, true);
  }
  int64(at: number): number {
    return this.view.getUint32(at, true) + this.view.getInt32(at + 4, true) * 4294967296;
  }
}

/** The batch read in place, or null when it is not an uncompressed RecordBatch of types read here (apache-arrow's reader reads it). */
function readDirect(schema: Schema, batch: Uint8Array): ArrowColumns | null {
  const view = new DataView(batch.buffer, batch.byteOffset, batch.byteLength);
  let at = view.getInt32(0, true) === -1 ? 4 : 0; // the continuation marker (IPC format ≥ 0.15)
  const metaLength = view.getInt32(at, true);
  at += 4;
  const flat = new Flat(view);
  const message = flat.target(at);
  const headerType = flat.field(message, 1);
  const header = flat.field(message, 2);
  if (!headerType || view.getUint8(headerType) !== RECORD_BATCH || !header) return null;
  const rb = flat.target(header);
  const compressionAt = flat.field(rb, 3);
  const compressed = compressionAt !== 0 && zstdBody(flat, flat.target(compressionAt));
  const lengthAt = flat.field(rb, 0);
  const nodesAt = flat.field(rb, 1);
  const buffersAt = flat.field(rb, 2);
  if (!nodesAt || !buffersAt) return null;
  const nodes = flat.target(nodesAt);
  const buffers = flat.target(buffersAt);
  let body = batch.subarray(at + metaLength);
  // Typed views need aligned offsets; the body's buffers are 8-aligned relative to its start.
  if (body.byteOffset % 8 !== 0) body = Uint8Array.from(body);
  const bufferCount = view.getUint32(buffers, true);
  const unpacked = compressed ? decompressBody(flat, buffers, bufferCount, body) : null;
  const decompressed = unpacked?.buffers ?? null;
  const cursor = {
    node: 0,
    nodeCount: view.getUint32(nodes, true),
    buffer: 0,
    bufferCount,
    nextNode: () => {
      if (cursor.node >= cursor.nodeCount) throw new Error('BigQuery Storage Read: a record batch has fewer field nodes than its schema');
      const p = nodes + 4 + 16 * cursor.node++;
      return { length: flat.int64(p), nullCount: flat.int64(p + 8) };
    },
    nextBuffer: (): Uint8Array => {
      if (cursor.buffer >= cursor.bufferCount) throw new Error('BigQuery Storage Read: a record batch has fewer buffers than its schema');
      if (decompressed) return decompressed[cursor.buffer++]!;
      const p = buffers + 4 + 16 * cursor.buffer++;
      const offset = flat.int64(p);
      return body.subarray(offset, offset + flat.int64(p + 8));
    },
  };
  const columns: Data[] = [];
  for (const field of schema.fields) {
    const data = loadField(field, cursor);
    if (!data && compressed) throw new Error(`BigQuery Storage Read: a compressed record batch has a column "${field.name}" of type ${String(field.type)}, which this reader does not read`);
    if (!data) return null;
    columns.push(data);
  }
  return { columns, numRows: lengthAt ? flat.int64(lengthAt) : 0, release: unpacked?.release };
}

const EMPTY = new Uint8Array(0);

/** True for a BodyCompression this reader reads (ZSTD, buffer by buffer); throws for any other. */
function zstdBody(flat: Flat, table: number): true {
  const codecAt = flat.field(table, 0);
  const methodAt = flat.field(table, 1);
  const codec = codecAt ? flat.view.getInt8(codecAt) : 0;
  const method = methodAt ? flat.view.getInt8(methodAt) : BUFFER_METHOD;
  if (codec !== ZSTD) {
    // LZ4_FRAME would need an LZ4 frame decoder, which node:zlib lacks; sessions ask for ZSTD or nothing.
    throw new Error(`BigQuery Storage Read: a record batch is compressed with ${CODEC_NAMES[codec] ?? `codec ${codec}`}, which this reader does not read (it reads ZSTD; set BIGQUERY_STORAGE_COMPRESSION to zstd or none)`);
  }
  if (method !== BUFFER_METHOD) throw new Error(`BigQuery Storage Read: a record batch's body is compressed by method ${method}, which this reader does not read (only BUFFER)`);
  return true;
}

/**
 * Every buffer of a compressed body (BodyCompressionMethod.BUFFER), by index. A buffer is empty
 * when its region is (the format lets an empty buffer omit its prefix); else its uncompressed
 * length as an int64 (little-endian), then its bytes — left raw when that length is -1
 * (compressing did not pay), nothing when it is 0 (Arrow Java writes empty buffers so), else one
 * ZSTD frame. The frames are decompressed in ONE call: zstd decodes concatenated frames into
 * their outputs, concatenated, so each buffer's output is the next `length` bytes. On SQP's
 * 1024-row batches (34 frames) that took 0.4-0.6 µs a row against 0.8-0.9 µs for a call per
 * buffer (measured: each zlib call sets up a stream and a zstd context); the price is that only
 * the total length is checked against the prefixes, not each frame's.
 */
function decompressBody(flat: Flat, buffers: number, count: number, body: Uint8Array): { buffers: Uint8Array[]; release?: () => void } {
  const bodyFlat = new Flat(new DataView(body.buffer, body.byteOffset, body.byteLength));
  const out: Uint8Array[] = new Array<Uint8Array>(count);
  const frames: Uint8Array[] = [];
  const framed: { index: number; length: number }[] = [];
  let compressedBytes = 0;
  let total = 0;
  for (let index = 0; index < count; index++) {
    const p = buffers + 4 + 16 * index;
    const offset = flat.int64(p);
    const length = flat.int64(p + 8);
    if (length === 0) {
      out[index] = EMPTY;
      continue;
    }
    if (length < 8) throw new Error(`BigQuery Storage Read: a compressed record batch has a ${length}-byte buffer, shorter than its length prefix`);
    const uncompressed = bodyFlat.int64(offset);
    const bytes = body.subarray(offset + 8, offset + length);
    if (uncompressed === -1) out[index] = bytes;
    else if (uncompressed === 0) out[index] = EMPTY;
    else {
      frames.push(bytes);
      framed.push({ index, length: uncompressed });
      compressedBytes += bytes.length;
      total += uncompressed;
    }
  }
  if (frames.length === 0) return { buffers: out };
  const joined = frames.length === 1 ? frames[0]! : Buffer.concat(frames, compressedBytes);
  const decoded = decompressZstd(joined, total);
  // Both are freed now, not at a GC: each batch's would otherwise add ~0.5 MB of external memory,
  // and V8 answers external growth with full collections (README, #26).
  if (joined !== frames[0]) releaseNow(joined, true);
  let at = 0;
  for (const { index, length } of framed) {
    const piece = decoded.subarray(at, at + length);
    // Typed views need 8-aligned buffers; one after an odd-length buffer is copied to be so.
    out[index] = piece.byteOffset % 8 === 0 ? piece : Uint8Array.from(piece);
    at += length;
  }
  return { buffers: out, release: () => releaseNow(decoded, false) };
}

interface Cursor {
  nextNode(): { length: number; nullCount: number };
  nextBuffer(): Uint8Array;
}

/** One field's Data from the next field node and buffers (the columnar format's buffer layout by type), or null for a type not read here. */
function loadField(field: Field, cursor: Cursor): Data | null {
  const type: DataType = field.type;
  const { length, nullCount } = cursor.nextNode();
  const validity = cursor.nextBuffer();
  const base = { type, length, nullCount, nullBitmap: nullCount > 0 ? validity : null } as const;
  switch (type.typeId) {
    case Type.Int:
    case Type.Float:
    case Type.Bool:
    case Type.Decimal:
    case Type.Date:
    case Type.Time:
    case Type.Timestamp:
    case Type.Interval:
      return makeData({ ...base, data: cursor.nextBuffer() } as never);
    case Type.Utf8:
    case Type.Binary: {
      const valueOffsets = cursor.nextBuffer();
      return makeData({ ...base, valueOffsets, data: cursor.nextBuffer() } as never);
    }
    case Type.List: {
      const valueOffsets = cursor.nextBuffer();
      const child = loadField(type.children[0]!, cursor);
      return child && makeData({ ...base, valueOffsets, child } as never);
    }
    case Type.Struct: {
      const children: Data[] = [];
      for (const f of type.children as Field[]) {
        const child = loadField(f, cursor);
        if (!child) return null;
        children.push(child);
      }
      return makeData({ ...base, children } as never);
    }
    default:
      return null;
  }
}
