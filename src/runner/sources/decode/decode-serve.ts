// The worker's side of the decode pool: runs each task it is sent (decode-tasks.ts) and
// transfers back the text's buffer, the unused `out` buffer, and its own CPU and GC time.
// Loaded by decode-worker.js once tsx is registered in the thread.
import { PerformanceObserver } from 'node:perf_hooks';
import type { MessagePort } from 'node:worker_threads';
import { movable } from './copy-buffers.ts';
import type { TaskReply, TaskRequest } from './decode-protocol.ts';
import { DECODE_TASKS, type DecodeTask, type TaskResult } from './decode-tasks.ts';

/** Serves tasks on the worker's port until the pool terminates the thread. */
export function serveDecodeTasks(port: MessagePort): void {
  let gcMs = 0;
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) gcMs += e.duration;
  }).observe({ entryTypes: ['gc'] });
  const threadCpu = (process as unknown as { threadCpuUsage?: () => NodeJS.CpuUsage }).threadCpuUsage?.bind(process);
  const cpuMs = () => {
    const u = threadCpu?.();
    return u ? (u.user + u.system) / 1000 : 0;
  };

  port.on('message', (request: TaskRequest) => {
    const out = request.out ? Buffer.from(request.out) : null;
    let reply: TaskReply;
    const transfer: ArrayBuffer[] = [];
    try {
      const task = DECODE_TASKS[request.kind] as DecodeTask<unknown, TaskResult> | undefined;
      if (typeof task !== 'function') throw new Error(`no decode task named ${String(request.kind)}`);
      const bytes = Buffer.from(request.bytes.buffer, request.bytes.byteOffset, request.bytes.byteLength);
      const { text, ...result } = task(bytes, request.options, out);
      let moved: Uint8Array | null = null;
      if (text.length > 0) {
        // The text's own buffer moves to the pool (the pooled `out`, or one the task made);
        // a slice of Node's shared pool cannot move, and is copied.
        moved = movable(text.buffer) ? text : new Uint8Array(text);
        transfer.push(moved.buffer as ArrayBuffer);
      }
      const spare = out && (!moved || moved.buffer !== out.buffer) ? out.buffer : null;
      if (spare) transfer.push(spare);
      reply = { ok: true, text: moved, result, spare, cpuMs: cpuMs(), gcMs };
    } catch (error) {
      const e = error instanceof Error ? error : new Error(String(error));
      const props: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(e)) props[k] = v;
      if (out) transfer.push(out.buffer);
      reply = { ok: false, error: { name: e.name, message: e.message, stack: e.stack, props }, spare: out?.buffer ?? null, cpuMs: cpuMs(), gcMs };
    }
    port.postMessage(reply, transfer);
  });
}
