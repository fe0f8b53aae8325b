// The hand-over between a read session's stream readers (several, concurrent) and the one
// consumer of pages: each batch's rows are written as COPY text straight into the page being
// gathered, in the order batches come, and a page is sealed once it holds the table's page
// size. Readers wait while `maxSealed` pages wait for the engine (so memory is bounded by pages,
// and a reader waiting here stops reading its gRPC stream: the server waits too); the first
// reader that fails fails the whole read.
//
// Why not a queue of converted batches gathered into a page (the first version): each batch's
// text was a buffer of its own, sized for the batch's widest possible text (~3× what it
// writes), and each page a Buffer.concat of them — ~1 GB of short-lived buffers over 1M SQP
// rows, whose external-memory pressure made V8 collect its whole heap again and again (GC was
// 13% of the main thread and most of 3.9 s of helper threads). Pages are now written into a
// few buffers that go round (CopyBuffers), as the REST pages' are.
import { setImmediate } from 'node:timers/promises';
import { CopyWriter } from '../copy-text.ts';
import { CopyBuffers } from '../decode/copy-buffers.ts';

/** One stream's position in a read (and in its resume state): rows before `offset` are in pages handed over or being gathered; `done`: all of it. */
export interface StorageStreamPosition {
  name: string;
  offset: number;
  done: boolean;
}

/** A sealed page: its COPY text (in a buffer of the assembler's), rows, and every stream's position after it. */
export interface GatheredPage {
  text: Buffer;
  rows: number;
  positions: StorageStreamPosition[];
  /** Gives the page's buffer back (the engine has COPYed it). */
  release(): void;
}

/** Writes rows into a page's writer; returns how many. Synchronous: a page is written by one batch at a time. */
export type BatchWrite = (w: CopyWriter) => number;

export class PageAssembler {
  private writer: CopyWriter | null = null;
  private rows = 0;
  private readonly sealed: GatheredPage[] = [];
  private running: number;
  private failure: { error: unknown } | null = null;
  private wakeTakers: (() => void)[] = [];
  private wakeWriters: (() => void)[] = [];
  /** The pages' buffers: the ones sealed, the one the engine COPYs, the one being gathered. */
  private readonly buffers: CopyBuffers;

  constructor(
    private readonly pageSize: number,
    private readonly maxSealed: number,
    private readonly positions: StorageStreamPosition[],
    readers: number,
  ) {
    this.running = readers;
    this.buffers = new CopyBuffers(maxSealed + 2);
  }

  /**
   * Writes a batch of stream `stream` into the page being gathered, once fewer than maxSealed
   * pages wait, and after the event loop has had a turn. Without the turn, readers woken by a
   * take() wrote a page's worth of batches in one go (grpc-js hands over the answers it holds
   * with no I/O in between), and the answer to the engine's next statement (its BEGIN, the end
   * of its COPY) waited behind them: 27 ms a page, 1.3 s of a 1M-row load (bench probe: load
   * 5.4–6.3 → 4.6–5.1 s).
   */
  async write(stream: number, write: BatchWrite): Promise<void> {
    while (this.sealed.length >= this.maxSealed && !this.failure) await new Promise<void>((r) => this.wakeWriters.push(r));
    await setImmediate();
    if (this.failure) return;
    if (!this.writer) {
      const given = this.buffers.take();
      this.writer = new CopyWriter(0, given ? Buffer.from(given) : null);
    }
    const rows = write(this.writer);
    this.rows += rows;
    this.positions[stream]!.offset += rows;
    if (this.rows >= this.pageSize) this.seal();
    this.wake('takers');
  }

  /** Stream `stream` has sent its last batch (written already). */
  streamDone(stream: number): void {
    this.positions[stream]!.done = true;
  }

  /** A reader is done; the last one seals what is gathered. */
  readerDone(): void {
    if (--this.running <= 0 && this.rows > 0) this.seal();
    this.wake('takers');
  }

  /** Fails every take from now on, and lets waiting readers go. */
  fail(error: unknown): void {
    this.failure ??= { error };
    this.wake('takers');
    this.wake('writers');
  }

  /** The next sealed page, or null when every reader is done and every page was taken. */
  async take(): Promise<GatheredPage | null> {
    for (;;) {
      if (this.failure) throw this.failure.error;
      const page = this.sealed.shift();
      if (page) {
        this.wake('writers');
        return page;
      }
      if (this.running <= 0) return null;
      await new Promise<void>((r) => this.wakeTakers.push(r));
    }
  }

  /** Whether rows follow the pages taken: waits until some are written or every reader is done. */
  async moreRows(): Promise<boolean> {
    for (;;) {
      if (this.failure) throw this.failure.error;
      if (this.sealed.length > 0 || this.rows > 0) return true;
      if (this.running <= 0) return false;
      await new Promise<void>((r) => this.wakeTakers.push(r));
    }
  }

  private seal(): void {
    const w = this.writer!;
    const buffer = w.out.buffer as ArrayBuffer;
    this.sealed.push({
      text: w.out.subarray(0, w.at),
      rows: this.rows,
      positions: this.positions.map((p) => ({ ...p })),
      release: () => this.buffers.give(buffer),
    });
    this.writer = null;
    this.rows = 0;
  }

  private wake(who: 'takers' | 'writers'): void {
    const list = who === 'takers' ? this.wakeTakers : this.wakeWriters;
    if (who === 'takers') this.wakeTakers = [];
    else this.wakeWriters = [];
    for (const wake of list) wake();
  }
}
