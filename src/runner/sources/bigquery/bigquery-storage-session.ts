// The Storage Read API side of the BigQuery source: its client, and a read session on a query
// job's destination table — or the reason the read goes through the REST pages instead.
//
// Behaviour of @google-cloud/bigquery-storage 5.x this file is built around (pinned down in
// test/bigquery-storage-server.test.ts):
//  - `new BigQueryReadClient({ apiEndpoint, port, sslCreds: grpc.credentials.createInsecure() })`
//    talks plaintext gRPC without asking for Google credentials (a local test server).
//  - CreateReadSession is retried by the client on UNAVAILABLE and DEADLINE_EXCEEDED only
//    (for up to 600 s by default: bounded here), so PERMISSION_DENIED reaches us at once.
//  - ReadRows failing mid-stream reaches the caller after the rows already sent; the client
//    does not resume it (bigquery-storage-read.ts does, with a new ReadRows at the offset).
//  - The client's ReadRows stream (google-gax) is three object-mode streams deep (retry-request's
//    two PassThroughs, then duplexify), each buffering 16 responses whatever their size: ~100
//    responses of ~330 KB per stream ahead of a reader that waits on PostgreSQL. The bench's
//    1M-row read held 233 MB of them. ReadRows here goes through the client's own gRPC stub
//    (readRowsOf): one stream, which reads the HTTP/2 stream only when asked.
import { createRequire } from 'node:module';
import type * as Grpc from '@grpc/grpc-js';
import type { JobMetadata } from '@google-cloud/bigquery';
import type { BigQueryReadClient } from '@google-cloud/bigquery-storage';
import { SourceError } from '../source.ts';
import { canDecompressZstd } from './arrow-compression.ts';
import { shrinkYoungGeneration } from './young-generation.ts';

// The client and gRPC are loaded when the first Storage Read starts, not with the source: they
// hold ~55 MB of RSS once a client is made and initialised (measured in plain Node 24; 14 MB of it
// heap), which a process that only reads REST pages (or no BigQuery at all) should not carry.
// Only the v1 read client's module is loaded: the package's index also loads its other API
// versions, its writer and their protos (+12 MB, measured the same way). Loading blocks the event
// loop 0.3–0.8 s, once, and is followed by one memory-reducing GC (young-generation.ts). Both
// packages are CommonJS.
const require = createRequire(import.meta.url);
const READ_CLIENT_MODULE = '@google-cloud/bigquery-storage/build/src/v1/big_query_read_client.js';

/** Where and how the Storage Read API is reached. */
export interface BigQueryStorageSettings {
  /** Host of the API; unset: Google's (bigquerystorage.googleapis.com). */
  apiEndpoint?: string | undefined;
  port?: number | undefined;
  /** Plaintext gRPC without credentials: a local test server only. */
  insecure?: boolean | undefined;
  /** Streams of one read session at most (read concurrently). Default 4. */
  maxStreams?: number | undefined;
  /** Bound on CreateReadSession, the client's own retries included. Default 60000. */
  sessionTimeoutMs?: number | undefined;
  /**
   * Buffer compression the session asks for: 'zstd' (the default where this Node can decompress
   * it, arrow-compression.ts; else 'none', and 'zstd' is then asked as 'none') or 'none'.
   */
  compression?: 'zstd' | 'none' | undefined;
}

/** A read session as the reader needs it. */
export interface StorageSession {
  name: string;
  /** ISO time after which its streams answer FAILED_PRECONDITION. */
  expireTime: string | null;
  /** The Arrow schema, one IPC message. */
  schema: Uint8Array;
  streams: string[];
}

/** Why a read that could have used the Storage Read API reads REST pages. */
export interface RestFallback {
  reason: 'notConfigured' | 'permissionDenied' | 'unavailable' | 'noDestinationTable';
  message: string;
}

/** gRPC status codes this source tells apart. */
export const GRPC = { NOT_FOUND: 5, PERMISSION_DENIED: 7, FAILED_PRECONDITION: 9, INTERNAL: 13, UNAVAILABLE: 14, DEADLINE_EXCEEDED: 4, UNAUTHENTICATED: 16 } as const;

/**
 * Bytes a stream (and the connection) may have in flight unread: ~10 ZSTD batches of SQP rows,
 * 20 MB/s a stream at 50 ms of round trip (4 streams: ~800k rows a second, four times what the
 * engine loads). 8 MiB held ~25 MB more at the peak of a 1M-row read than 2, and 2 ~25 MB more than 1,
 * and neither read faster on loopback (bench probes).
 */
const FLOW_CONTROL_WINDOW = 1024 * 1024;

/** The client of these settings, loaded and initialised; `projectId` bills the reads, `keyFilename` as the REST client's. */
export async function loadStorageClient(settings: BigQueryStorageSettings, projectId: string, keyFilename: string | undefined): Promise<BigQueryReadClient> {
  const client = createStorageClient(settings, projectId, keyFilename);
  await client.initialize();
  shrinkYoungGeneration();
  return client;
}

/** The client of these settings (its stub made on first call). */
function createStorageClient(settings: BigQueryStorageSettings, projectId: string, keyFilename: string | undefined): BigQueryReadClient {
  // HTTP/2 flow control: grpc-js keeps the protocol's 64 KiB window (it has no BDP probing, as
  // gRPC's C core does), so a 2 MB record batch took ~30 window updates on its stream. A
  // window of a few batches lets a stream run at the network's pace; what it may buffer is
  // bounded by it (the reader's own queue bounds the rest).
  const options: ConstructorParameters<typeof BigQueryReadClient>[0] & { 'grpc-node.flow_control_window': number } = {
    projectId,
    'grpc-node.flow_control_window': FLOW_CONTROL_WINDOW,
  };
  if (settings.apiEndpoint) options.apiEndpoint = settings.apiEndpoint;
  if (settings.port !== undefined) options.port = settings.port;
  const grpc = require('@grpc/grpc-js') as typeof Grpc;
  if (settings.insecure) options.sslCreds = grpc.credentials.createInsecure();
  else if (keyFilename) options.keyFilename = keyFilename;
  const { BigQueryReadClient: Client } = require(READ_CLIENT_MODULE) as typeof import('@google-cloud/bigquery-storage');
  return new Client(options);
}

/** A ReadRows call's answers, as a stream of the client's stub gives them. */
export type ReadRowsStream = AsyncIterable<unknown> & { cancel(): void };

/** Opens ReadRows of a stream from a row offset. */
export type ReadRows = (request: { readStream: string; offset: number }) => Promise<ReadRowsStream>;

/**
 * ReadRows through the client's gRPC stub (its channel, credentials and protos), with the
 * routing header the client would add. Not the client's readRows: see the top of this file.
 * Its resends are not wanted either (it re-sends a ReadRows that fails before its first answer,
 * FAILED_PRECONDITION included); bigquery-storage-read.ts resumes streams itself.
 */
export function readRowsOf(client: () => Promise<BigQueryReadClient>): ReadRows {
  type Stub = { readRows(request: object, metadata: Grpc.Metadata): ReadRowsStream };
  return async (request) => {
    // The client is loaded once (a failed load is tried again: storageParts), and keeps its stub.
    const stub = (await (await client()).initialize()) as unknown as Stub;
    const grpc = require('@grpc/grpc-js') as typeof Grpc; // loaded with the client already
    const metadata = new grpc.Metadata();
    metadata.set('x-goog-request-params', `read_stream=${encodeURIComponent(request.readStream)}`);
    return stub.readRows(request, metadata);
  };
}

/** 'projects/p/datasets/d/tables/t' of the job's result table, or null (a script, a DDL). */
export function destinationTableOf(metadata: JobMetadata): string | null {
  const t = metadata.configuration?.query?.destinationTable;
  return t?.projectId && t.datasetId && t.tableId ? `projects/${t.projectId}/datasets/${t.datasetId}/tables/${t.tableId}` : null;
}

/**
 * A read session of at most `maxStreams` Arrow streams on `table`, billed to `projectId`; or
 * the reason to read REST pages instead (denied, or the API unreachable). Any other failure
 * is the read's.
 */
export async function createStorageSession(
  client: BigQueryReadClient,
  settings: BigQueryStorageSettings,
  projectId: string,
  table: string,
): Promise<StorageSession | RestFallback> {
  try {
    const readSession = { table, dataFormat: 'ARROW' as const, ...readOptionsOf(settings) };
    const [session] = await client.createReadSession(
      { parent: `projects/${projectId}`, readSession, maxStreamCount: Math.max(1, settings.maxStreams ?? 4) },
      { timeout: settings.sessionTimeoutMs ?? 60_000, maxRetries: 2 },
    );
    const expire = session.expireTime?.seconds;
    return {
      name: session.name ?? '',
      expireTime: expire === undefined || expire === null ? null : new Date(Number(expire) * 1000).toISOString(),
      schema: session.arrowSchema?.serializedSchema as Uint8Array,
      streams: (session.streams ?? []).map((s) => s.name ?? ''),
    };
  } catch (err) {
    const { code, message } = grpcFailure(err);
    if (code === GRPC.PERMISSION_DENIED || code === GRPC.UNAUTHENTICATED) return { reason: 'permissionDenied', message };
    if (code === GRPC.UNAVAILABLE || code === GRPC.DEADLINE_EXCEEDED || code === undefined) return { reason: 'unavailable', message };
    throw new SourceError(`BigQuery Storage Read: CreateReadSession on ${table} failed: ${message}`, { retryable: false, code, reason: 'storageSession', table });
  }
}

/**
 * The buffer compression a session of these settings asks BigQuery for (ArrowSerializationOptions
 * .bufferCompression): ZSTD cuts SQP rows' Arrow bytes 3.3× (NUMERIC's 16-byte decimals are mostly
 * zeros: 1M rows, 339 → 102 MB as the test server encodes them), bytes grpc-js would otherwise
 * frame and copy at ~150 MB/s; the reader pays ~0.6 µs a row to decompress them. COMPRESSION_UNSPECIFIED: none.
 */
export function bufferCompressionOf(settings: BigQueryStorageSettings): 'ZSTD' | 'COMPRESSION_UNSPECIFIED' {
  return canDecompressZstd && settings.compression !== 'none' ? 'ZSTD' : 'COMPRESSION_UNSPECIFIED';
}

/** ReadSession.readOptions: only when they ask for something (an uncompressed session's request is as before). */
function readOptionsOf(settings: BigQueryStorageSettings): { readOptions?: { arrowSerializationOptions: { bufferCompression: 'ZSTD' } } } {
  return bufferCompressionOf(settings) === 'ZSTD' ? { readOptions: { arrowSerializationOptions: { bufferCompression: 'ZSTD' } } } : {};
}

/** A gRPC error's status code and message (an error without a code: a connection or credentials failure). */
export function grpcFailure(err: unknown): { code: number | undefined; message: string } {
  const e = err as { code?: unknown; details?: unknown; message?: unknown };
  const code = typeof e?.code === 'number' ? e.code : undefined;
  const message = typeof e?.details === 'string' && e.details ? e.details : typeof e?.message === 'string' ? e.message : String(err);
  return { code, message };
}
