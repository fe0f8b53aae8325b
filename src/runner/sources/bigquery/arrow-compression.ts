// Arrow IPC buffer compression (the columnar format's BodyCompression, method BUFFER) as the
// Storage Read path reads it: ZSTD through node:zlib, on a Node that has it (zstdDecompressSync:
// Node ≥ 22.15 / ≥ 23.8). LZ4_FRAME is not read: node:zlib has no LZ4 and no LZ4 frame library is
// among the dependencies, so a session never asks for it. Kept apart from arrow-ipc.ts (which
// loads apache-arrow) so that the session and the settings can ask whether ZSTD is readable
// without loading Arrow.
import zlib from 'node:zlib';

type ZstdDecompressSync = (frames: Uint8Array, options: { chunkSize: number; maxOutputLength: number }) => Buffer;
// @types/node 20 (the package still type-checks against Node 20's types) does not declare it.
const zstdDecompressSync = (zlib as unknown as { zstdDecompressSync?: ZstdDecompressSync }).zstdDecompressSync;

/** Whether this Node can read ZSTD-compressed record batches (zlib.zstdDecompressSync). */
export const canDecompressZstd = typeof zstdDecompressSync === 'function';

/** zlib's smallest chunkSize (zlib.constants.Z_MIN_CHUNK). */
const MIN_CHUNK = 64;

/** ZSTD frames (one, or several back to back) decompressed; `length`: their uncompressed bytes in all, as the buffers' prefixes say. */
export function decompressZstd(frames: Uint8Array, length: number): Uint8Array {
  if (!zstdDecompressSync) {
    throw new Error('BigQuery Storage Read: a record batch is ZSTD-compressed, and this Node has no zlib.zstdDecompressSync (Node ≥ 22.15 or ≥ 23.8 has it)');
  }
  // One output chunk a byte longer than the output: zlib then writes it in one pass and returns
  // that chunk (no Buffer.concat of 64 KiB pieces, no extra chunk allocated when the output fills
  // the chunk exactly) — 23 µs a call for a 10 KiB output instead of 63 µs with the default
  // chunk (measured). The cap stops a corrupt prefix from being answered by an unbounded output.
  const out = zstdDecompressSync(frames, { chunkSize: Math.max(MIN_CHUNK, length + 1), maxOutputLength: Math.max(1, length) });
  if (out.length !== length) throw new Error(`BigQuery Storage Read: a record batch's buffers decompressed to ${out.length} bytes, their prefixes say ${length}`);
  // Typed views of the buffer need it 8-aligned; zlib's chunks are (Buffer.allocUnsafe aligns its pool), but this is not promised.
  return out.byteOffset % 8 === 0 ? out : Uint8Array.from(out);
}
