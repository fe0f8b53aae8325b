// The messages between the decode pool (decode-pool.ts) and a worker (decode-serve.ts).
import type { DecodeTaskKind } from './decode-tasks.ts';

/** Pool → worker: one task. `bytes` and `out` are transferred (the worker owns them now). */
export interface TaskRequest {
  kind: DecodeTaskKind;
  bytes: Uint8Array;
  options: unknown;
  /** A reusable buffer to write the text into, or null. */
  out: ArrayBuffer | null;
}

/** Worker → pool: the task's outcome, and the worker's own CPU and GC time so far (ms). */
export type TaskReply = (
  | { ok: true; text: Uint8Array | null; result: Record<string, unknown> }
  | { ok: false; error: { name: string; message: string; stack?: string | undefined; props: Record<string, unknown> } }
) & {
  /** `out` when the text was not written into it (it goes back to the pool). */
  spare: ArrayBuffer | null;
  cpuMs: number;
  gcMs: number;
};
