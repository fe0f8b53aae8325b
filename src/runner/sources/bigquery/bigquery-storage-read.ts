// A read of a query's result table through the Storage Read API, as the engine takes it: the
// session's streams read concurrently, each record batch converted to COPY text as it arrives
// (arrow-copy.ts), the batches gathered into pages of about the table's pageSize rows in the
// order they came. Each page's resume position holds every stream's offset such that all rows
// before it are in that page or an earlier one — so a checkpoint of a page is a cut through
// all streams, and a resumed read reopens each stream there (ReadRows with `offset`).
import type { ResumeState, SourcePage, SourceRead, SourceStats } from '../source.ts';
import { SourceError } from '../source.ts';
import { parseCopyText } from '../copy-text.ts';
import { releaseNow } from '../decode/copy-buffers.ts';
import { arrowBatchToCopyText, type ArrowCopyOptions, type ArrowCopyRows } from './arrow-copy.ts';
import { backoff, sleep, throwIfAborted, type BigQueryRetrySettings } from './bigquery-calls.ts';
import { ChunkQueue, type StreamChunk } from './bigquery-storage-queue.ts';
import { GRPC, grpcFailure, type ReadRows } from './bigquery-storage-session.ts';
import type { WireField } from './bigquery-types.ts';
import { invalidRowValueOf } from './bigquery-wire-rows.ts';

/** One stream's position in a resume state: rows before `offset` are loaded; `done`: all of it. */
export interface StorageStreamPosition {
  name: string;
  offset: number;
  done: boolean;
}

/** `SourcePage.resumeAfter` of a Storage Read: the job, its session and every stream's position. */
export interface BigQueryStorageResumeState extends ResumeState {
  readApi: 'storage';
  jobId: string;
  location: string | null;
  session: string;
  expireTime: string | null;
  /** Rows of the whole read, when known (progress). */
  totalRows: number | null;
  /** The query's result schema: the BigQuery type of each Arrow column. */
  fields: WireField[];
  streams: StorageStreamPosition[];
}

/** Converts one record batch: in this thread (arrowBatchToCopyText) or a worker's. */
export type BatchConverter = (schema: Uint8Array, batch: Uint8Array, options: ArrowCopyOptions) => ArrowCopyRows | Promise<ArrowCopyRows>;

/** What a Storage Read needs. */
export interface StorageReadRequest {
  readRows: ReadRows;
  /** The session's Arrow schema; null on resume (each ReadRows call's first answer carries it). */
  schema: Uint8Array | null;
  /** Where each stream starts (offset 0 for a new read). */
  state: BigQueryStorageResumeState;
  pageSize: number;
  nulReplacement?: string | undefined;
  signal?: AbortSignal | undefined;
  /** Tries of a stream that fails with UNAVAILABLE before any further row arrives. */
  retry: BigQueryRetrySettings;
  /** Default arrowBatchToCopyText in this thread. */
  convert?: BatchConverter | undefined;
}

/**
 * Bytes of converted batches the readers may hold ahead of the pages: about two pages of SQP
 * rows, so that the next page is gathered while PostgreSQL copies one. 32 MB measured no faster
 * on the bench and held 24 MB more at its peak.
 */
const QUEUED_BYTES = 8 * 1024 * 1024;

/** The read of `request.state`'s streams, from their offsets on. */
export function storageRead<S extends SourceStats>(stats: S, request: StorageReadRequest): SourceRead<S> {
  const { state } = request;
  let started = false;
  let closed = false;
  const calls = new Set<{ cancel(): void }>();
  const open = state.streams.map((s, i) => ({ ...s, index: i })).filter((s) => !s.done);
  const queue = new ChunkQueue(QUEUED_BYTES, open.length);
  const close = (): void => {
    closed = true;
    for (const call of calls) call.cancel();
    queue.fail(new Error('BigQuery Storage Read: the read was closed'));
  };

  function startReaders(): void {
    const reader: StreamReader = { request, calls, queue, isClosed: () => closed };
    for (const stream of open) {
      readStream(reader, stream.index, stream.name, stream.offset).then(
        () => queue.readerDone(),
        (err: unknown) => (closed ? queue.readerDone() : (queue.fail(err), close())),
      );
    }
  }

  async function* pages(): AsyncGenerator<SourcePage> {
    if (started) throw new Error('BigQuery Storage Read: pages() can be iterated only once per open()');
    started = true;
    startReaders();
    const positions = state.streams.map((s) => ({ ...s }));
    let parts: Buffer[] = [];
    let rows = 0;
    for (;;) {
      throwIfAborted(request.signal);
      const chunk = await queue.take();
      if (chunk) {
        take(chunk);
        if (rows < request.pageSize) continue;
      }
      // A full page is handed over once it is known whether rows follow (its resume position
      // is null if not): a page that ends the read is never followed by an empty one.
      const more = chunk !== null && (await queue.moreRows());
      yield storagePage(parts, rows, more ? { ...state, streams: positions.map((p) => ({ ...p })) } : null);
      if (!more) return;
      parts = [];
      rows = 0;
    }

    function take(chunk: StreamChunk): void {
      const position = positions[chunk.stream]!;
      if (chunk.end) position.done = true;
      if (chunk.text && chunk.rows > 0) parts.push(chunk.text);
      rows += chunk.rows;
      position.offset += chunk.rows;
    }
  }

  return {
    columns: state.fields.map((f) => f.name),
    totalRows: state.totalRows,
    stats,
    pages,
    async close() {
      close();
    },
  };
}

/** A page of gathered batches: one COPY text, row arrays only if someone asks. */
function storagePage(parts: Buffer[], rowCount: number, resumeAfter: BigQueryStorageResumeState | null): SourcePage {
  if (rowCount === 0) return { rows: [], resumeAfter };
  const copyText = parts.length === 1 ? parts[0]! : Buffer.concat(parts);
  // The batches' texts are copied into the page: their memory goes now, not at the next GC.
  if (parts.length > 1) for (const part of parts) releaseNow(part, false);
  let rows: ReturnType<typeof parseCopyText> | undefined;
  return {
    get rows() {
      return (rows ??= parseCopyText(copyText));
    },
    copyText,
    resumeAfter,
  };
}

interface StreamReader {
  request: StorageReadRequest;
  calls: Set<{ cancel(): void }>;
  queue: ChunkQueue;
  isClosed(): boolean;
}

/**
 * Reads stream `index` from `offset` to its end into the queue. A failure with UNAVAILABLE
 * (or a reset HTTP/2 stream) is resumed by a new ReadRows at the offset reached, up to
 * `retry.attempts` times in a row; an expired session fails the read as `expired`.
 */
async function readStream(reader: StreamReader, index: number, name: string, offset: number): Promise<void> {
  const { request, queue } = reader;
  let schema = request.schema;
  for (let failures = 0; ; ) {
    const call = await request.readRows({ readStream: name, offset });
    reader.calls.add(call);
    if (reader.isClosed()) call.cancel(); // closed while the call was being opened
    // Batches received and still converting (on a decode worker), queued in order as each is
    // done. The next response is taken meanwhile: a stream that fails right after a response
    // would otherwise drop it unconverted (the call's buffered responses go with its error), and
    // the resume would read it again. `offset` counts the rows received.
    let converting: Promise<void> = Promise.resolve();
    let pending = 0;
    try {
      try {
        for await (const response of call as AsyncIterable<ReadRowsAnswer>) {
          // A copy: the response's buffer may move to a decode worker with its batch (bigquery-storage.ts).
          schema ??= copyOf(response.arrowSchema?.serializedSchema);
          const batch = response.arrowRecordBatch?.serializedRecordBatch;
          if (!batch || batch.length === 0) continue;
          if (!schema) throw new Error(`BigQuery Storage Read: stream ${name} sent rows before its schema`);
          const rows = Number(response.rowCount);
          if (!Number.isSafeInteger(rows) || rows <= 0) throw new Error(`BigQuery Storage Read: stream ${name} sent a record batch without its row count`);
          const done = convertBatch(request, schema, batch, offset, name);
          done.catch(() => undefined); // awaited in order below
          converting = converting.then(async () => {
            const converted = await done;
            await queue.put({ stream: index, rows: converted.rowCount, text: converted.text });
            pending--;
          });
          failures = 0;
          offset += rows;
          // At most two batches of a stream ahead of the queue, which bounds memory by bytes.
          if (++pending >= 2) await converting;
          if (reader.isClosed()) return;
        }
      } finally {
        await converting; // a conversion's failure (an invalid value) is the read's
      }
      await queue.put({ stream: index, rows: 0, text: null, end: true });
      return;
    } catch (err) {
      if (reader.isClosed() || err instanceof SourceError) throw err;
      throwIfAborted(request.signal);
      const failure = grpcFailure(err);
      if (!resumable(failure) || ++failures >= request.retry.attempts) throw streamError(name, offset, failure, failures);
      await sleep(backoff(failures, request.retry), request.signal);
    } finally {
      reader.calls.delete(call);
    }
  }
}

/** Bytes of their own (not a view into a buffer that may be moved), or null. */
function copyOf(bytes: Uint8Array | null | undefined): Uint8Array | null {
  return bytes ? Uint8Array.from(bytes) : null;
}

/** The parts of a ReadRowsResponse this reader uses. */
interface ReadRowsAnswer {
  /** Rows in the batch (int64: a string or a number as the client decodes it). */
  rowCount?: string | number | null;
  arrowSchema?: { serializedSchema?: Uint8Array | null } | null;
  arrowRecordBatch?: { serializedRecordBatch?: Uint8Array | null } | null;
}

async function convertBatch(request: StorageReadRequest, schema: Uint8Array, batch: Uint8Array, offset: number, stream: string): Promise<ArrowCopyRows> {
  const convert = request.convert ?? arrowBatchToCopyText;
  try {
    const converted = await convert(schema, batch, { fields: request.state.fields, firstRow: offset, nulReplacement: request.nulReplacement });
    // Converted on this thread: the response's message buffer (the batch is nearly all of it;
    // the reader copied the schema out) is freed now rather than at the next GC.
    if (!request.convert && batch.byteLength >= 0.9 * batch.buffer.byteLength) releaseNow(batch, false);
    return converted;
  } catch (err) {
    const invalid = invalidRowValueOf(err);
    if (!invalid) throw err;
    throw new SourceError(`BigQuery Storage Read: cannot convert a result value of stream ${stream}: ${invalid.message}`, {
      reason: 'invalidValue',
      retryable: false,
      message: invalid.message,
      stream,
      ...invalid.where,
    });
  }
}

/**
 * Failures a new ReadRows at the same offset gets past: UNAVAILABLE, and the broken HTTP/2
 * streams python-bigquery-storage's reader also resumes (INTERNAL "RST_STREAM", "unexpected EOS").
 */
function resumable(f: { code: number | undefined; message: string }): boolean {
  return f.code === GRPC.UNAVAILABLE || (f.code === GRPC.INTERNAL && /RST_STREAM|unexpected EOS/i.test(f.message));
}

function streamError(stream: string, offset: number, f: { code: number | undefined; message: string }, attempts: number): SourceError {
  if (f.code === GRPC.FAILED_PRECONDITION || f.code === GRPC.NOT_FOUND) {
    // The session expired (6 hours) or is gone: its offsets mean nothing now. The engine
    // closes the checkpoint as expired and the retried run starts the load over.
    return new SourceError(`BigQuery Storage Read: the read session of stream ${stream} has expired; the load starts over: ${f.message}`, {
      reason: 'sessionExpired',
      retryable: true,
      expired: true,
      code: f.code,
      stream,
    });
  }
  const transient = resumable(f);
  const message = transient ? `failed ${attempts} times in a row at offset ${offset}` : `failed at offset ${offset}`;
  return new SourceError(`BigQuery Storage Read: stream ${stream} ${message}: ${f.message}`, { reason: 'storageStream', retryable: transient, code: f.code, stream, offset });
}
