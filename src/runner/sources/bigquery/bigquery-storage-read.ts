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
import { writeArrowBatch, type ArrowCopyOptions, type ArrowCopyRows } from './arrow-copy.ts';
import { backoff, sleep, throwIfAborted, type BigQueryRetrySettings } from './bigquery-calls.ts';
import { PageAssembler, type BatchWrite, type GatheredPage, type StorageStreamPosition } from './bigquery-storage-queue.ts';
import { GRPC, grpcFailure, type ReadRows } from './bigquery-storage-session.ts';
import type { WireField } from './bigquery-types.ts';
import { invalidRowValueOf } from './bigquery-wire-rows.ts';

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
  /** The buffer compression its session asked for (absent in checkpoints written before it was kept). */
  compression?: 'zstd' | 'none';
}

/** Converts one record batch to COPY text off this thread (a decode worker). */
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
  /** Converts each batch elsewhere (a decode worker); unset: on this thread, straight into its page. */
  convert?: BatchConverter | undefined;
}

/**
 * Pages the readers may gather ahead of the engine: while PostgreSQL copies one page, the next is
 * gathered. A second page ahead held ~10 MB more at the peak of a 1M-row read and loaded no faster.
 */
const PAGES_AHEAD = 1;

/** The read of `request.state`'s streams, from their offsets on. */
export function storageRead<S extends SourceStats>(stats: S, request: StorageReadRequest): SourceRead<S> {
  const { state } = request;
  let started = false;
  let closed = false;
  const calls = new Set<{ cancel(): void }>();
  const open = state.streams.map((s, i) => ({ ...s, index: i })).filter((s) => !s.done);
  const assembler = new PageAssembler(request.pageSize, PAGES_AHEAD, state.streams.map((s) => ({ ...s })), open.length);
  const close = (): void => {
    closed = true;
    for (const call of calls) call.cancel();
    assembler.fail(new Error('BigQuery Storage Read: the read was closed'));
  };

  function startReaders(): void {
    const reader: StreamReader = { request, calls, assembler, isClosed: () => closed };
    for (const stream of open) {
      readStream(reader, stream.index, stream.name, stream.offset).then(
        () => assembler.readerDone(),
        (err: unknown) => (closed ? assembler.readerDone() : (assembler.fail(err), close())),
      );
    }
  }

  async function* pages(): AsyncGenerator<SourcePage> {
    if (started) throw new Error('BigQuery Storage Read: pages() can be iterated only once per open()');
    started = true;
    startReaders();
    for (;;) {
      throwIfAborted(request.signal);
      const page = await assembler.take();
      if (!page) {
        // Nothing (more) to read: an empty read still hands over its one, empty, last page.
        yield { rows: [], resumeAfter: null };
        return;
      }
      // A page is handed over once it is known whether rows follow (its resume position is
      // null if not): a page that ends the read is never followed by an empty one.
      const more = await assembler.moreRows();
      yield storagePage(page, more ? { ...state, streams: page.positions } : null);
      if (!more) return;
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

/** A gathered page: its COPY text, row arrays only if someone asks. */
function storagePage(page: GatheredPage, resumeAfter: BigQueryStorageResumeState | null): SourcePage {
  const copyText = page.text;
  let rows: ReturnType<typeof parseCopyText> | undefined;
  return {
    get rows() {
      return (rows ??= parseCopyText(copyText));
    },
    copyText,
    resumeAfter,
    release: page.release,
  };
}

interface StreamReader {
  request: StorageReadRequest;
  calls: Set<{ cancel(): void }>;
  assembler: PageAssembler;
  isClosed(): boolean;
}

/**
 * Reads stream `index` from `offset` to its end into the queue. A failure with UNAVAILABLE
 * (or a reset HTTP/2 stream) is resumed by a new ReadRows at the offset reached, up to
 * `retry.attempts` times in a row; an expired session fails the read as `expired`.
 */
async function readStream(reader: StreamReader, index: number, name: string, offset: number): Promise<void> {
  const { request, assembler } = reader;
  let schema = request.schema;
  for (let failures = 0; ; ) {
    const call = await request.readRows({ readStream: name, offset });
    reader.calls.add(call);
    if (reader.isClosed()) call.cancel(); // closed while the call was being opened
    // Batches received and not yet written into a page (converting on a decode worker, or
    // waiting for room), written in order. The next response is taken meanwhile: a stream that
    // fails right after a response would otherwise drop it unwritten (the call's buffered
    // responses go with its error), and the resume would read it again. `offset` counts the
    // rows received.
    let writing: Promise<void> = Promise.resolve();
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
          const write = batchWrite(request, schema, batch, offset, name);
          write.catch(() => undefined); // awaited in order below
          writing = writing.then(async () => {
            await assembler.write(index, await write);
            pending--;
          });
          failures = 0;
          offset += rows;
          // At most two batches of a stream ahead of the pages, which bounds memory by bytes.
          if (++pending >= 2) await writing;
          if (reader.isClosed()) return;
        }
      } finally {
        await writing; // a conversion's failure (an invalid value) is the read's
      }
      assembler.streamDone(index);
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

/**
 * How a batch goes into a page: on this thread, converted straight into the page's buffer when
 * the page takes it; with a decode worker (request.convert), converted there now — overlapping
 * the engine's work — and its text copied into the page.
 */
async function batchWrite(request: StorageReadRequest, schema: Uint8Array, batch: Uint8Array, offset: number, stream: string): Promise<BatchWrite> {
  const options: ArrowCopyOptions = { fields: request.state.fields, firstRow: offset, nulReplacement: request.nulReplacement };
  if (request.convert) {
    let converted: ArrowCopyRows;
    try {
      converted = await request.convert(schema, batch, options);
    } catch (err) {
      throw asSourceError(err, stream);
    }
    return (w) => {
      const { text } = converted;
      w.ensure(text.length);
      w.at += text.copy(w.out, w.at);
      releaseNow(text, false); // the worker's buffer, copied: freed now rather than at the next GC
      return converted.rowCount;
    };
  }
  return (w) => {
    let rows: number;
    try {
      rows = writeArrowBatch(w, schema, batch, options);
    } catch (err) {
      throw asSourceError(err, stream);
    }
    // The response's message buffer (the batch is nearly all of it; the reader copied the
    // schema out) is freed now rather than at the next GC.
    if (batch.byteLength >= 0.9 * batch.buffer.byteLength) releaseNow(batch, false);
    return rows;
  };
}

/** A value PostgreSQL cannot hold (a NUL without nulReplacement) as the read's non-retryable failure; anything else as it is. */
function asSourceError(err: unknown, stream: string): unknown {
  const invalid = invalidRowValueOf(err);
  if (!invalid) return err;
  return new SourceError(`BigQuery Storage Read: cannot convert a result value of stream ${stream}: ${invalid.message}`, {
    reason: 'invalidValue',
    retryable: false,
    message: invalid.message,
    stream,
    ...invalid.where,
  });
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
