// A Storage Read API record batch (one encapsulated Arrow IPC RecordBatch message) as
// apache-arrow Data, one per column, read in place. apache-arrow's RecordBatchReader does the
// same through its stream machinery (byte streams, iterator adapters, a schema decoded again for
// every batch): ~10% of the converter's CPU profile on the SQP bench's 1024-row batches, which
// would have been a third of it once the rows were written fast. Here the message's flatbuffer header is read directly (its field nodes and buffer
// offsets: the Arrow columnar format's "RecordBatch" table), the session's schema is decoded
// once per distinct schema, and each column's buffers become Data through makeData. Anything
// this reader does not expect (a compressed body, a dictionary batch, a type BigQuery does not
// send) is read by apache-arrow's reader instead.
import { makeData, RecordBatchReader, Type, type Data, type DataType, type Field, type RecordBatch, type Schema } from 'apache-arrow';

/** The columns of one record batch and its row count. */
export interface ArrowColumns {
  columns: Data[];
  numRows: number;
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

/** The batch read in place, or null when it is not a plain uncompressed RecordBatch of the schema's types. */
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
  if (flat.field(rb, 3)) return null; // a compressed body
  const lengthAt = flat.field(rb, 0);
  const nodesAt = flat.field(rb, 1);
  const buffersAt = flat.field(rb, 2);
  if (!nodesAt || !buffersAt) return null;
  const nodes = flat.target(nodesAt);
  const buffers = flat.target(buffersAt);
  let body = batch.subarray(at + metaLength);
  // Typed views need aligned offsets; the body's buffers are 8-aligned relative to its start.
  if (body.byteOffset % 8 !== 0) body = Uint8Array.from(body);
  const cursor = {
    node: 0,
    nodeCount: view.getUint32(nodes, true),
    buffer: 0,
    bufferCount: view.getUint32(buffers, true),
    nextNode: () => {
      if (cursor.node >= cursor.nodeCount) throw new Error('BigQuery Storage Read: a record batch has fewer field nodes than its schema');
      const p = nodes + 4 + 16 * cursor.node++;
      return { length: flat.int64(p), nullCount: flat.int64(p + 8) };
    },
    nextBuffer: (): Uint8Array => {
      if (cursor.buffer >= cursor.bufferCount) throw new Error('BigQuery Storage Read: a record batch has fewer buffers than its schema');
      const p = buffers + 4 + 16 * cursor.buffer++;
      const offset = flat.int64(p);
      return body.subarray(offset, offset + flat.int64(p + 8));
    },
  };
  const columns: Data[] = [];
  for (const field of schema.fields) {
    const data = loadField(field, cursor);
    if (!data) return null;
    columns.push(data);
  }
  return { columns, numRows: lengthAt ? flat.int64(lengthAt) : 0 };
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
