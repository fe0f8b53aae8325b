// decode/ — converting what a source received (a REST result page, an Arrow record batch) into
// COPY text on worker threads, so that the conversion runs on one core while PostgreSQL's COPY
// of the page before runs on the other. One pool per process, made by the composition root
// (service.ts, run-once.ts, cli/backfill.ts) and handed to the sources through their settings;
// closed on shutdown. What may import this folder: the sources (sources/<kind>/) and the
// composition roots; it imports the tasks' pure converters (decode-tasks.ts) and nothing else.
//
// Why node:worker_threads directly, not piscina or tinypool: a task here moves buffers both
// ways (the page's bytes in, a pooled output buffer in and back out: copy-buffers.ts), must
// fail alone and retryably when its worker dies, and must start its thread in a way that
// loads TypeScript under tsx and vitest alike (decode-worker.js). That is a fixed set of
// threads, one task per thread at a time, a FIFO queue and an `exit` handler: ~150 lines,
// with no dependency to vet and nothing we would not use (neither library is installed;
// their idle timeouts, dynamic sizing and histograms have no use for a fixed pool).
import os from 'node:os';
import { Worker } from 'node:worker_threads';
import { CopyBuffers, movable } from './copy-buffers.ts';
import type { TaskReply, TaskRequest } from './decode-protocol.ts';
import type { DecodeTaskKind, TaskOptions, TaskOutput } from './decode-tasks.ts';

/**
 * V8's young generation of a decode worker, MB. A task's text and buffers live outside V8's heap,
 * and what it allocates on the heap dies young; V8's default let the worker's young generation
 * grow to 32 MB of semi-spaces. 1M-row bench probes with one worker: peak RSS 215–217 → 189 MB
 * on the Storage path, 174–202 → 170–176 MB on the REST path, loads and the worker's GC unchanged.
 */
const WORKER_YOUNG_GENERATION_MB = 4;

/** A task's result; `release()` gives its text's buffer back to the pool once it is written (then the text must not be read). */
export type Decoded<K extends DecodeTaskKind> = TaskOutput<K> & { release(): void };

/** What the pool's threads have done so far (the bench reports it). */
export interface DecodeUsage {
  threads: number;
  tasks: number;
  /** CPU time of the worker threads, ms (0 for the in-thread decoder: the caller's own). */
  cpuMs: number;
  /** Time the worker threads spent in GC, ms. */
  gcMs: number;
  /** Free reusable buffers held, and their bytes. */
  buffers: { buffers: number; bytes: number };
}

export interface DecodePool {
  /** Worker threads (0: decoding runs on the caller's thread). */
  readonly threads: number;
  /**
   * Runs one task on a free worker (queued while all are busy). `bytes` is moved to the worker
   * when it owns its whole ArrayBuffer (the caller must not use it after), else copied. Rejects
   * with the task's own error (its name, message and fields kept), with DecodeWorkerLost when
   * the worker dies meanwhile, or when `signal` aborts.
   */
  run<K extends DecodeTaskKind>(kind: K, bytes: Buffer, options: TaskOptions<K>, signal?: AbortSignal): Promise<Decoded<K>>;
  usage(): DecodeUsage;
  /** The live worker threads (tests end one to see a task fail alone). */
  workers(): readonly Worker[];
  /** Ends the threads; queued and running tasks reject. */
  close(): Promise<void>;
}

/** A worker died (killed, out of memory, an exception outside a task) while running a task: asking again may succeed. */
export class DecodeWorkerLost extends Error {
  override name = 'DecodeWorkerLost';
  /** bigquery-calls.ts retries a call that failed this way. */
  readonly transient = true;
}

export interface DecodePoolOptions {
  /** Worker threads. Default: one per spare core, os.availableParallelism() - 1, at least 1. */
  threads?: number;
}

/** Threads of a pool by default: one per core the main thread does not need. */
function defaultDecodeThreads(): number {
  return Math.max(1, os.availableParallelism() - 1);
}

interface Pending {
  request: TaskRequest;
  transfer: ArrayBuffer[];
  resolve(reply: TaskReply & { ok: true }): void;
  reject(error: Error): void;
  /** The caller gave up (its signal): the reply's buffers go straight back to the pool. */
  abandoned: boolean;
}

interface Slot {
  worker: Worker;
  task: Pending | null;
  /** Last CPU and GC figures the worker reported. */
  cpuMs: number;
  gcMs: number;
  /** An uncaught error of the thread, for the message of the task it fails. */
  error?: Error;
}

const WORKER_ENTRY = new URL('./decode-worker.js', import.meta.url);
/** Workers that may die in a row without finishing a task before the pool stops replacing them (a thread that cannot start). */
const MAX_FAILED_STARTS = 3;

/** A pool of `threads` decode workers (see the top of this file). */
export function createDecodePool(options: DecodePoolOptions = {}): DecodePool {
  return new ThreadPool(Math.max(1, Math.floor(options.threads ?? defaultDecodeThreads())));
}

/** The worker pool: a fixed set of threads, one task each at a time, a FIFO queue of the rest. */
class ThreadPool implements DecodePool {
  private readonly buffers: CopyBuffers;
  private readonly slots: Slot[] = [];
  private readonly queue: Pending[] = [];
  private closing = false;
  private broken: Error | null = null;
  private failedStarts = 0;
  /** Tasks done, and the CPU and GC time of workers that are gone. */
  private readonly done = { tasks: 0, cpuMs: 0, gcMs: 0 };

  constructor(readonly threads: number) {
    this.buffers = new CopyBuffers(threads + 2);
    for (let i = 0; i < threads; i++) this.spawn();
  }

  run<K extends DecodeTaskKind>(kind: K, bytes: Buffer, options: TaskOptions<K>, signal?: AbortSignal): Promise<Decoded<K>> {
    if (this.closing) return Promise.reject(new Error('the decode pool is closed'));
    if (this.broken) return Promise.reject(this.broken);
    return new Promise((resolve, reject) => {
      signal?.throwIfAborted();
      const moved = ownArrayBuffer(bytes) ? bytes : new Uint8Array(bytes);
      const out = this.buffers.take();
      const task: Pending = {
        request: { kind, bytes: moved, options, out },
        transfer: [moved.buffer as ArrayBuffer, ...(out ? [out] : [])],
        abandoned: false,
        resolve: (reply) => resolve(decoded<K>(reply, this.buffers)),
        reject,
      };
      signal?.addEventListener('abort', () => {
        task.abandoned = true;
        const queued = this.queue.indexOf(task);
        if (queued >= 0) {
          this.queue.splice(queued, 1);
          if (out) this.buffers.give(out);
        }
        reject(signal.reason);
      }, { once: true });
      this.queue.push(task);
      this.dispatch();
    });
  }

  usage(): DecodeUsage {
    const live = (f: 'cpuMs' | 'gcMs') => this.slots.reduce((n, s) => n + s[f], 0);
    return { threads: this.threads, tasks: this.done.tasks, cpuMs: this.done.cpuMs + live('cpuMs'), gcMs: this.done.gcMs + live('gcMs'), buffers: this.buffers.held() };
  }

  workers(): readonly Worker[] {
    return this.slots.map((s) => s.worker);
  }

  async close(): Promise<void> {
    this.closing = true;
    for (const t of this.queue.splice(0)) t.reject(new Error('the decode pool was closed'));
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
  }

  /** A new worker in a new slot; unref'd while idle, so that an idle pool never keeps the process alive. */
  private spawn(): void {
    const worker = new Worker(WORKER_ENTRY, { execArgv: [], name: 'sqp-refresh decode', resourceLimits: { maxYoungGenerationSizeMb: WORKER_YOUNG_GENERATION_MB } });
    const slot: Slot = { worker, task: null, cpuMs: 0, gcMs: 0 };
    worker.on('message', (reply: TaskReply) => this.settle(slot, reply));
    worker.on('error', (error) => (slot.error = error));
    worker.on('exit', (code) => this.exited(slot, code));
    worker.unref();
    this.slots.push(slot);
  }

  /** Hands queued tasks to idle workers. */
  private dispatch(): void {
    for (const slot of this.slots) {
      if (this.queue.length === 0) return;
      if (slot.task) continue;
      const task = this.queue.shift()!;
      slot.task = task;
      slot.worker.ref();
      slot.worker.postMessage(task.request, task.transfer);
    }
  }

  /** A worker's reply: its task settles (or, abandoned, its buffers go straight back), the next one starts. */
  private settle(slot: Slot, reply: TaskReply): void {
    const task = slot.task;
    if (!task) return; // not an answer to a task of ours
    slot.task = null;
    slot.cpuMs = reply.cpuMs;
    slot.gcMs = reply.gcMs;
    this.failedStarts = 0;
    this.done.tasks++;
    if (reply.spare) this.buffers.give(reply.spare);
    if (task.abandoned) {
      if (reply.ok && reply.text) this.buffers.give(reply.text.buffer as ArrayBuffer);
    } else if (reply.ok) task.resolve(reply);
    else task.reject(Object.assign(new Error(reply.error.message), reply.error.props, { name: reply.error.name, stack: reply.error.stack }));
    slot.worker.unref();
    this.dispatch();
  }

  /** A worker ended: its task fails (retryably), and another takes its place unless workers cannot start at all. */
  private exited(slot: Slot, code: number): void {
    this.slots.splice(this.slots.indexOf(slot), 1);
    this.done.cpuMs += slot.cpuMs;
    this.done.gcMs += slot.gcMs;
    const task = slot.task;
    if (task) {
      const why = `exit code ${code}${slot.error ? `: ${slot.error.message}` : ''}`;
      task.reject(this.closing ? new Error('the decode pool was closed') : new DecodeWorkerLost(`a decode worker stopped (${why}) while converting a ${task.request.kind}; it is replaced`));
    }
    if (this.closing) return;
    if (++this.failedStarts >= MAX_FAILED_STARTS) {
      this.broken = new Error(`decode workers cannot run: ${slot.error?.message ?? `exit code ${code}`}`);
      for (const t of this.queue.splice(0)) t.reject(this.broken);
      return;
    }
    this.spawn();
    this.dispatch();
  }
}

/** Whether `bytes` is the whole of an ArrayBuffer it may move (not a view into a larger one, nor Node's shared pool). */
function ownArrayBuffer(bytes: Buffer): boolean {
  return bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength && movable(bytes.buffer);
}

/** A reply as the caller gets it: the result, its text as a Buffer, and release() giving the buffer back once. */
export function decoded<K extends DecodeTaskKind>(reply: TaskReply & { ok: true }, buffers: CopyBuffers): Decoded<K> {
  const view = reply.text;
  const text = view ? Buffer.from(view.buffer, view.byteOffset, view.byteLength) : Buffer.alloc(0);
  let released = false;
  return {
    ...(reply.result as object),
    text,
    release() {
      if (released || !view) return;
      released = true;
      buffers.give(view.buffer as ArrayBuffer);
    },
  } as Decoded<K>;
}
