// Which API a BigQuery read takes once its query job is done, and the Storage Read side of it:
// a read session on the job's destination table (bigquery-storage-session.ts) read stream by
// stream (bigquery-storage-read.ts); or, when the Storage Read API is not configured, refuses
// the session (PERMISSION_DENIED) or cannot be reached, the job's REST pages — with one logged
// reason. The path taken is the audit row's `readApi`.
import type { Job, JobMetadata } from '@google-cloud/bigquery';
import type { BigQueryReadClient } from '@google-cloud/bigquery-storage';
import type { Logger } from 'pino';
import type { DecodePool } from '../decode/decode-pool.ts';
import { movable } from '../decode/copy-buffers.ts';
import type { ResumeState, SourceRead, SourceStats } from '../source.ts';
import type { BigQueryRetrySettings } from './bigquery-calls.ts';
import { storageRead, type BatchConverter, type BigQueryStorageResumeState } from './bigquery-storage-read.ts';
import { bufferCompressionOf, createStorageSession, destinationTableOf, grpcFailure, loadStorageClient, readRowsOf, type ReadRows, type BigQueryStorageSettings, type RestFallback } from './bigquery-storage-session.ts';
import type { WireField } from './bigquery-types.ts';

/** `custom_sync_params.source.readApi` of a BigQuery table. */
export type ReadApi = 'storage' | 'rest';

/** What the source keeps for its Storage Reads: made once by createBigQuerySource. */
export interface StorageParts {
  /** Null: the Storage Read API is not configured (reads take the REST pages). */
  settings: BigQueryStorageSettings | null;
  projectId: string;
  retry: BigQueryRetrySettings;
  logger?: Logger | undefined;
  /** The client, loaded on first use. */
  client(): Promise<BigQueryReadClient>;
  /** ReadRows through that client's stub (readRowsOf), made on first use. */
  readRows(): ReadRows;
  convert?: BatchConverter | undefined;
}

/** The parts of a Storage Read's source, made once per source. */
export function storageParts(options: {
  storage: BigQueryStorageSettings | null;
  projectId: string;
  keyFilename?: string | undefined;
  retry: BigQueryRetrySettings;
  logger?: Logger | undefined;
  /** Where record batches become COPY text (the REST pages' workers); unset: this thread. */
  decodePool?: DecodePool | undefined;
}): StorageParts {
  let client: Promise<BigQueryReadClient> | undefined;
  let readRows: ReadRows | undefined;
  const { storage } = options;
  return {
    settings: storage,
    projectId: options.projectId,
    retry: options.retry,
    logger: options.logger,
    convert: options.decodePool?.threads ? inPool(options.decodePool) : undefined,
    // A client that failed to start (no credentials, a key file it cannot read) is tried again by the next read.
    client: () => (client ??= loadStorageClient(storage ?? {}, options.projectId, options.keyFilename).catch((err: unknown) => {
      client = undefined;
      throw err;
    })),
    readRows() {
      return (readRows ??= readRowsOf(() => this.client()));
    },
  };
}

/**
 * Record batches converted on the decode workers, so that conversion overlaps PostgreSQL's COPY
 * of the page before. The text's buffer is the task's own (no pooled buffer to give back: the
 * page gathers batches into one buffer anyway).
 */
function inPool(pool: DecodePool): BatchConverter {
  return async (schema, batch, options) => {
    // The batch is a view into the response's message buffer (grpc-js gathers each message
    // into one). When it is most of that buffer, the whole buffer moves to the worker with the
    // batch's place in it, rather than the pool copying the batch out (~0.35 MB a batch): the
    // rest of a response is its row count and statistics, read already, and its schema, which
    // the reader copies (bigquery-storage-read.ts).
    if (movable(batch.buffer) && batch.byteLength >= 0.9 * batch.buffer.byteLength) {
      const whole = Buffer.from(batch.buffer);
      const { text, rowCount } = await pool.run('arrowBatch', whole, { ...options, schema, at: batch.byteOffset, length: batch.byteLength });
      return { text, rowCount };
    }
    const { text, rowCount } = await pool.run('arrowBatch', Buffer.from(batch.buffer, batch.byteOffset, batch.byteLength), { ...options, schema });
    return { text, rowCount };
  };
}

/** A session closer than this to its expiry is not resumed: its streams would not outlive a page or two. */
const SESSION_EXPIRY_MARGIN_MS = 5 * 60_000;

/** Whether a Storage Read's session still has time to run at `now` (one without an expireTime is taken as alive: a stream says when it is not). */
export function storageSessionLives(resume: BigQueryStorageResumeState, now: Date): boolean {
  return resume.expireTime === null || Date.parse(resume.expireTime) - now.getTime() > SESSION_EXPIRY_MARGIN_MS;
}

/**
 * The read API of a table that does not choose one: the Storage Read API wherever the process
 * has it configured (Google's own endpoint unless BIGQUERY_API_ENDPOINT points elsewhere alone),
 * falling back to the REST pages, with one logged reason, where it is refused or unreachable.
 * It reads the streams of a result in parallel where REST pages come one after another, each
 * assembled by BigQuery first; on this project's loopback bench, where the REST test server
 * answers pages rendered ahead, it is within ~20% of REST and peaks below 200 MB (README, #26).
 */
const DEFAULT_READ_API: ReadApi = 'storage';

/** Whether a new read of a table with this readApi should start its job for the Storage Read API (no rows in its first REST answer). */
export function wantsStorage(parts: StorageParts, readApi: ReadApi | undefined): parts is StorageParts & { settings: BigQueryStorageSettings } {
  return (readApi ?? DEFAULT_READ_API) === 'storage' && parts.settings !== null;
}

/** A read's request as this module needs it. */
export interface ReadAfterJob {
  table: { schema: string; name: string };
  readApi: ReadApi | undefined;
  pageSize: number;
  nulReplacement?: string | undefined;
  signal?: AbortSignal | undefined;
}

/** The finished job: its metadata (jobs.get), result schema and row count (its first REST answer). */
export interface FinishedJob {
  job: Job;
  metadata: JobMetadata;
  fields: WireField[];
  totalRows: number | null;
  location: string | null;
}

/**
 * The read of a finished job: through a Storage Read session when the table and the process
 * allow it, otherwise `rest()` (the job's REST pages). `details.readApi` says which was taken.
 */
export async function readFinishedJob<S extends SourceStats>(
  parts: StorageParts,
  finished: FinishedJob,
  stats: S,
  request: ReadAfterJob,
  rest: () => Promise<SourceRead<S>>,
): Promise<SourceRead<S>> {
  const fallback = async (why: RestFallback | null): Promise<SourceRead<S>> => {
    if (why) {
      parts.logger?.warn({ table: `${request.table.schema}.${request.table.name}`, jobId: finished.job.id, reason: why.reason, err: why.message }, `BigQuery Storage Read API not used (${why.reason}): reading the job's REST pages`);
    }
    const read = await rest();
    read.details = { ...read.details, readApi: 'rest', ...(why ? { readApiFallback: why.reason } : {}) };
    return read;
  };
  // A process without the Storage Read API reads REST pages; only a table that asked for it is told.
  if (!parts.settings && request.readApi === 'storage') return fallback({ reason: 'notConfigured', message: 'the Storage Read API is not configured (BIGQUERY_STORAGE_API_ENDPOINT)' });
  if (!wantsStorage(parts, request.readApi)) return fallback(null);
  const table = destinationTableOf(finished.metadata);
  if (!table) return fallback({ reason: 'noDestinationTable', message: 'the job has no destination table' });
  const client = await parts.client().catch((err: unknown) => ({ reason: 'unavailable' as const, message: `the Storage Read client did not start: ${grpcFailure(err).message}` }));
  if ('reason' in client) return fallback(client);
  const session = await createStorageSession(client, parts.settings, parts.projectId, table);
  if ('reason' in session) return fallback(session);
  const state: BigQueryStorageResumeState = {
    readApi: 'storage',
    jobId: finished.job.id ?? '',
    location: finished.location,
    session: session.name,
    expireTime: session.expireTime,
    totalRows: finished.totalRows,
    fields: finished.fields,
    streams: session.streams.map((name) => ({ name, offset: 0, done: false })),
    compression: bufferCompressionOf(parts.settings) === 'ZSTD' ? 'zstd' : 'none',
  };
  return withReadApi(storageRead(stats, { ...readerOptions(parts, request), schema: session.schema, state }), state);
}

/** Whether a resume state is a Storage Read's (else: the REST pages'). */
export function isStorageResume(resume: ResumeState): resume is BigQueryStorageResumeState {
  return resume['readApi'] === 'storage' && typeof resume['session'] === 'string' && Array.isArray(resume['streams']) && Array.isArray(resume['fields']);
}

/** The rest of a Storage Read from its resume state: each stream reopened at its offset. */
export function resumeStorageRead<S extends SourceStats>(parts: StorageParts, state: BigQueryStorageResumeState, stats: S, request: ReadAfterJob): SourceRead<S> {
  return withReadApi(storageRead(stats, { ...readerOptions(parts, request), schema: null, state }), state);
}

function readerOptions(parts: StorageParts, request: ReadAfterJob) {
  return { readRows: parts.readRows(), pageSize: request.pageSize, nulReplacement: request.nulReplacement, signal: request.signal, retry: parts.retry, convert: parts.convert };
}

/** The audit row's account of a Storage Read: the API, and the compression its session asked for. */
function withReadApi<S extends SourceStats>(read: SourceRead<S>, state: BigQueryStorageResumeState): SourceRead<S> {
  read.details = { ...read.details, readApi: 'storage', ...(state.compression ? { readCompression: state.compression } : {}) };
  return read;
}
