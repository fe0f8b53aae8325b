// The decode pool's interface without threads: each task runs on the caller's thread, with the
// same reusable buffers. For a source made without a pool (tests of one source, tools); the
// service, its CLI commands and the bench pass the process's worker pool instead.
import { CopyBuffers } from './copy-buffers.ts';
import { createDecodePool, decoded, type DecodePool } from './decode-pool.ts';
import { DECODE_TASKS, type DecodeTask, type TaskResult } from './decode-tasks.ts';

/**
 * The decoder of a process (DECODE_THREADS): `threads` worker threads, or none (0, the default):
 * on this project's 2-core machine the engine bench's load phase was slower on a worker
 * (1M rows: 7.17 s against 5.47 s, peak RSS 215 against 208 MB, GC 13.8% against 6.3% of the
 * engine's CPU), PostgreSQL's COPY already taking the other core; more cores may differ.
 */
export function processDecoder(threads: number): DecodePool {
  return threads > 0 ? createDecodePool({ threads }) : inThreadDecoder();
}

/** A DecodePool of no threads: `run` converts on this thread. */
export function inThreadDecoder(): DecodePool {
  const buffers = new CopyBuffers(2);
  let tasks = 0;
  return {
    threads: 0,
    async run(kind, bytes, options, signal) {
      signal?.throwIfAborted();
      const out = buffers.take();
      const task = DECODE_TASKS[kind] as DecodeTask<unknown, TaskResult>;
      let result: TaskResult;
      try {
        result = task(bytes, options, out ? Buffer.from(out) : null);
      } catch (error) {
        if (out) buffers.give(out);
        throw error;
      }
      tasks++;
      const { text, ...rest } = result;
      if (out && text.buffer !== out) buffers.give(out);
      return decoded<typeof kind>({ ok: true, text: text.length ? text : null, result: rest, spare: null, cpuMs: 0, gcMs: 0 }, buffers);
    },
    usage: () => ({ threads: 0, tasks, cpuMs: 0, gcMs: 0, buffers: buffers.held() }),
    workers: () => [],
    async close() {},
  };
}
