// Arrow IPC body compression on the tests' side (the columnar format's BodyCompression, method
// BUFFER): how the Storage Read test server compresses a record batch, and what a test reads of a
// batch's compression — through apache-arrow's message reader and flatbuffer encoder, never
// through the reader under test (src/runner/sources/bigquery/arrow-ipc.ts).
//
// apache-arrow 21.2's own writer (compressionType) cannot be used: it prefixes each compressed
// buffer with its COMPRESSED length where the format says the uncompressed one (fixed upstream in
// apache/arrow-js#470, 2026-09, after this version); its own reader only looks for -1, so JS round
// trips hide it, and PyArrow rejects its output. So the body is written here and the header is
// re-encoded with apache-arrow's encoder: the same field nodes, new buffer regions, and the
// BodyCompression table naming the codec.
import zlib from 'node:zlib';
import { CompressionType, Message, MessageReader, compressionRegistry } from 'apache-arrow';
import { BodyCompression, BufferRegion, RecordBatch as RecordBatchHeader } from 'apache-arrow/ipc/metadata/message';

// @types/node 20 does not declare zlib's zstd functions (Node ≥ 22.15 / ≥ 23.8 has them).
const { zstdCompressSync, zstdDecompressSync } = zlib as unknown as {
  zstdCompressSync?: (data: Uint8Array) => Buffer;
  zstdDecompressSync?: (data: Uint8Array) => Buffer;
};

// apache-arrow's reader decodes with the codec of its registry (it reads the prefix only for -1):
// tests read the server's compressed batches with it as an independent reader.
if (zstdDecompressSync) compressionRegistry.set(CompressionType.ZSTD, { decode: (data) => zstdDecompressSync(data) });

/** One encapsulated RecordBatch message: its header and body. */
function readBatch(batch: Uint8Array): { header: RecordBatchHeader; body: Uint8Array } {
  const reader = new MessageReader(batch);
  const message = reader.readMessage();
  if (!message?.isRecordBatch()) throw new Error('not a RecordBatch message');
  return { header: message.header(), body: reader.readMessageBody(message.bodyLength) };
}

/** A message of `header` and `body`: the continuation marker, the metadata's length (padded to 8 bytes), the metadata, the body. */
function encapsulated(header: RecordBatchHeader, body: Uint8Array): Uint8Array {
  const metadata = Message.encode(Message.from(header, body.length));
  const padded = (metadata.length + 7) & ~7;
  const out = new Uint8Array(8 + padded + body.length);
  const view = new DataView(out.buffer);
  view.setInt32(0, -1, true);
  view.setInt32(4, padded, true);
  out.set(metadata, 8);
  out.set(body, 8 + padded);
  return out;
}

/**
 * An uncompressed record batch message ZSTD-compressed as the format says: each non-empty buffer
 * as its uncompressed length (int64, little-endian) and one ZSTD frame — or -1 and its bytes as
 * they are when the frame would not be smaller — each region 8-byte aligned; an empty buffer
 * stays an empty region, without a prefix (as Arrow C++ writes it).
 */
export function compressZstd(batch: Uint8Array): Uint8Array {
  if (!zstdCompressSync) throw new Error('this Node has no zlib.zstdCompressSync: no ZSTD record batches');
  const { header, body } = readBatch(batch);
  if (header.compression) throw new Error('the record batch is compressed already');
  const parts: Uint8Array[] = [];
  const regions: BufferRegion[] = [];
  let at = 0;
  for (const region of header.buffers) {
    if (region.length === 0) {
      regions.push(new BufferRegion(at, 0));
      continue;
    }
    const raw = body.subarray(region.offset, region.offset + region.length);
    const frame = zstdCompressSync(raw);
    const kept = frame.length < raw.length ? frame : raw;
    const prefix = new Uint8Array(8);
    new DataView(prefix.buffer).setBigInt64(0, kept === raw ? -1n : BigInt(raw.length), true);
    const size = 8 + kept.length;
    const padded = (size + 7) & ~7;
    parts.push(prefix, kept, new Uint8Array(padded - size));
    regions.push(new BufferRegion(at, size));
    at += padded;
  }
  const compressed = new RecordBatchHeader(header.length, header.nodes, regions, new BodyCompression(CompressionType.ZSTD));
  return encapsulated(compressed, Buffer.concat(parts, at));
}

/** The codec the batch's header names ('LZ4_FRAME', 'ZSTD'), or null for an uncompressed batch. */
export function batchCodec(batch: Uint8Array): string | null {
  const compression = readBatch(batch).header.compression;
  return compression ? CompressionType[compression.type] : null;
}

/**
 * The uncompressed length each non-empty buffer of a compressed batch's body starts with (-1:
 * left raw); throws where a ZSTD frame does not decompress to the length its prefix says.
 */
export function bufferPrefixes(batch: Uint8Array): number[] {
  const { header, body } = readBatch(batch);
  return header.buffers.filter((b) => b.length > 0).map((b) => {
    const prefix = Number(new DataView(body.buffer, body.byteOffset + b.offset, 8).getBigInt64(0, true));
    const frame = body.subarray(b.offset + 8, b.offset + b.length);
    if (prefix !== -1 && header.compression?.type === CompressionType.ZSTD && zstdDecompressSync?.(frame).length !== prefix) {
      throw new Error(`a buffer's prefix says ${prefix} bytes, its ZSTD frame holds ${zstdDecompressSync?.(frame).length}`);
    }
    return prefix;
  });
}

/** The same compressed message, its header's BodyCompression naming `codec` instead (the body unchanged). */
export function withCodec(batch: Uint8Array, codec: CompressionType): Uint8Array {
  const { header, body } = readBatch(batch);
  return encapsulated(new RecordBatchHeader(header.length, header.nodes, header.buffers, new BodyCompression(codec)), body);
}
