// The conversions the decode workers run (decode-pool.ts), by name: each a pure function of a
// message's bytes and options that returns COPY text and its row count. A new kind of task is
// one line in DECODE_TASKS; the worker (decode-serve.ts) and the pool dispatch by its key and
// take their types from it.
import { arrowBatchToCopyText, type ArrowCopyOptions } from '../bigquery/arrow-copy.ts';
import { decodeResultsPage } from '../bigquery/bigquery-page.ts';

/** What a task gives back: COPY text (copy-text.ts), its rows, and whatever else its kind tells (a page's meta). */
export interface TaskResult {
  text: Buffer;
  rowCount: number;
}

/**
 * A task: `bytes` to convert, its options (structured-cloneable), and `out`, a reusable buffer
 * from the pool that the task may write its text into (or ignore, and allocate its own).
 */
export type DecodeTask<O, R extends TaskResult> = (bytes: Buffer, options: O, out: Buffer | null) => R;

/** Every task a decode worker runs, by the name the pool is asked for. */
export const DECODE_TASKS = {
  /** A jobs.getQueryResults answer as sent (gzip'd or not) → its rows as COPY text and the rest of the answer. */
  restPage: decodeResultsPage,
  /**
   * A Storage Read API record batch (its IPC bytes, or the bytes [at, at + length) of the
   * message buffer it came in; the session's schema in the options) → its rows as COPY text.
   */
  arrowBatch: (bytes: Buffer, options: ArrowCopyOptions & { schema: Uint8Array; at?: number; length?: number }) =>
    arrowBatchToCopyText(options.schema, options.at === undefined ? bytes : bytes.subarray(options.at, options.at + (options.length ?? 0)), options),
} satisfies Record<string, DecodeTask<never, TaskResult>>;

export type DecodeTaskKind = keyof typeof DECODE_TASKS;
/** The options of a kind of task. */
export type TaskOptions<K extends DecodeTaskKind> = Parameters<(typeof DECODE_TASKS)[K]>[1];
/** The result of a kind of task. */
export type TaskOutput<K extends DecodeTaskKind> = ReturnType<(typeof DECODE_TASKS)[K]>;
