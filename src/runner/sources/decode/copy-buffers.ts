// The reusable buffers COPY text is written into (decode-pool.ts). A page's text used to be a
// new ~8 MB buffer per page, garbage once PostgreSQL had it: a quarter of a refresh's CPU went
// to collecting them. Here a buffer travels to a worker with a task, comes back holding the
// text, and returns to this pool once the engine has written it (SourcePage.release). Each
// buffer is an ArrayBuffer that is TRANSFERRED, never shared: one thread owns it at a time,
// so a task abandoned by its caller (a timeout) can never write into a buffer already reused.
// A SharedArrayBuffer would save nothing worth that: a round trip to a worker measured 39 µs
// with an 8 MiB buffer transferred both ways, 34 µs with a shared one (Node 24, this 2-core
// machine) — 0.3 ms over the 52 pages of a 1M-row refresh.
import * as threads from 'node:worker_threads';

// Node 21+; @types/node 20 does not declare it yet.
const { isMarkedAsUntransferable } = threads as unknown as { isMarkedAsUntransferable(object: object): boolean };

/** Whether a buffer may be transferred to another thread (not a slab of Node's shared Buffer pool, which is marked untransferable). */
export function movable(buffer: ArrayBufferLike): buffer is ArrayBuffer {
  return buffer.byteLength > 0 && !(buffer instanceof SharedArrayBuffer) && !isMarkedAsUntransferable(buffer);
}

/**
 * Releases a buffer's memory now: transfer(0) detaches its ArrayBuffer (every view of it
 * becomes empty) and the backing store is freed without waiting for a GC — large dead buffers
 * otherwise pile up to V8's external-memory trigger. Only for buffers nothing else can still
 * read. `whole`: only when the buffer spans its whole ArrayBuffer.
 */
export function releaseNow(buffer: Uint8Array, whole: boolean): void {
  const ab = buffer.buffer as ArrayBuffer & { transfer?: (length: number) => ArrayBuffer };
  if ((whole && (buffer.byteOffset !== 0 || buffer.byteLength !== ab.byteLength)) || !movable(ab)) return;
  try {
    ab.transfer?.(0);
  } catch {
    // not detachable: the GC frees it
  }
}

/** A pool of ArrayBuffers, largest first; holds at most `max` of them (the rest are let go). */
export class CopyBuffers {
  private readonly free: ArrayBuffer[] = [];

  constructor(private readonly max: number) {}

  /** A buffer to write into (the largest free one), or null when none is free: the task allocates its own. */
  take(): ArrayBuffer | null {
    return this.free.shift() ?? null;
  }

  /** Gives a buffer back (one taken here, or one a task made: the pool adopts it). Empty (or detached) ones are dropped. */
  give(buffer: ArrayBuffer): void {
    // Never a slab of Node's shared Buffer pool (a small text may be a slice of one): other
    // buffers live in it.
    if (!movable(buffer)) return;
    this.free.push(buffer);
    this.free.sort((a, b) => b.byteLength - a.byteLength);
    // The smallest go first: pages of a table are about the same size, the pool settles on it.
    if (this.free.length > this.max) this.free.length = this.max;
  }

  /** Free buffers and their bytes (the bench reports them). */
  held(): { buffers: number; bytes: number } {
    return { buffers: this.free.length, bytes: this.free.reduce((n, b) => n + b.byteLength, 0) };
  }
}
