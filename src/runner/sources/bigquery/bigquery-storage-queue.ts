// The hand-over between a read session's stream readers (several, concurrent) and the one
// consumer that turns their converted batches into pages: bounded by bytes, so that readers
// far ahead of PostgreSQL wait instead of filling memory, and failed as a whole by the first
// reader that fails.

/** A converted batch of one stream, or the end of that stream (`end`, no rows). */
export interface StreamChunk {
  stream: number;
  rows: number;
  text: Buffer | null;
  end?: boolean;
}

/** FIFO of chunks; `put` waits while `maxBytes` are queued, `take` while none is. */
export class ChunkQueue {
  private readonly chunks: StreamChunk[] = [];
  private bytes = 0;
  private running: number;
  private failure: { error: unknown } | null = null;
  private wakeTakers: (() => void)[] = [];
  private wakePutters: (() => void)[] = [];

  constructor(
    private readonly maxBytes: number,
    readers: number,
  ) {
    this.running = readers;
  }

  /** Adds a chunk; resolves once there is room for more (or the queue is closed). */
  async put(chunk: StreamChunk): Promise<void> {
    this.chunks.push(chunk);
    this.bytes += heldBytes(chunk);
    this.wake('takers');
    while (this.bytes > this.maxBytes && !this.failure) await new Promise<void>((r) => this.wakePutters.push(r));
  }

  /** A reader is done (its end chunk is queued). */
  readerDone(): void {
    this.running--;
    this.wake('takers');
  }

  /** Fails every take from now on, and lets waiting readers go. */
  fail(error: unknown): void {
    this.failure ??= { error };
    this.wake('takers');
    this.wake('putters');
  }

  /** The next chunk, or null when every reader is done and nothing is left. */
  async take(): Promise<StreamChunk | null> {
    for (;;) {
      if (this.failure) throw this.failure.error;
      const chunk = this.chunks.shift();
      if (chunk) {
        this.bytes -= heldBytes(chunk);
        if (this.bytes <= this.maxBytes) this.wake('putters');
        return chunk;
      }
      if (this.running <= 0) return null;
      await new Promise<void>((r) => this.wakeTakers.push(r));
    }
  }

  /** Whether rows are still to come: waits until a chunk with rows is queued or every reader is done. */
  async moreRows(): Promise<boolean> {
    for (;;) {
      if (this.failure) throw this.failure.error;
      if (this.chunks.some((c) => c.rows > 0)) return true;
      if (this.running <= 0) return false;
      await new Promise<void>((r) => this.wakeTakers.push(r));
    }
  }

  private wake(who: 'takers' | 'putters'): void {
    const list = who === 'takers' ? this.wakeTakers : this.wakePutters;
    if (who === 'takers') this.wakeTakers = [];
    else this.wakePutters = [];
    for (const wake of list) wake();
  }
}

/**
 * The memory a chunk holds: its text's whole buffer, not the text's length — a converter
 * reserves room for a batch's longest text (up to ~3× what it writes), and the view keeps all of it.
 */
function heldBytes(chunk: StreamChunk): number {
  return chunk.text?.buffer.byteLength ?? 0;
}
