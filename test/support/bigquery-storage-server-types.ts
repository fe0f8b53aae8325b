// Public types of the Storage Read API test server (bigquery-storage-server.ts): its options, the
// tables a test registers, what it records, and the handle a test holds.
import type * as grpc from '@grpc/grpc-js';
import type { FieldSpec, Row, RowSource } from './bigquery-server-types.ts';

export interface BigQueryStorageTestServerOptions {
  /** Rows in one ReadRowsResponse at most. Default 1024. */
  rowsPerResponse?: number;
  /** Streams of a session when the request asks for none (max_stream_count 0). Default 4. */
  defaultStreamCount?: number;
  /** Location in session names. Default 'us'. */
  location?: string;
  /** The clock sessions expire by (ms since the epoch). Default Date.now. */
  now?: () => number;
  /**
   * Tables not registered with addTable, looked up by name when a session asks for one: pass
   * the REST test server's `resultTable` to serve its query jobs' destination tables.
   */
  resultTables?: (table: string) => StorageTable | undefined;
}

/** A table as a test registers it: the REST server's fixture form (FieldSpec, Row, RowSource). */
export interface StorageTable {
  fields: readonly FieldSpec[];
  rows: readonly Row[] | RowSource;
  /** What the table's rows are rendered ahead under (prerender): the REST server's query fixture of a job's results. */
  origin?: object;
}

/**
 * ArrowSerializationOptions.bufferCompression (arrow.proto), as the server serves it: ZSTD, or
 * COMPRESSION_UNSPECIFIED (none). LZ4_FRAME is refused: no LZ4 frame encoder here.
 */
export type BufferCompression = 'ZSTD' | 'COMPRESSION_UNSPECIFIED';

/** What the server saw of one RPC and how it answered. */
export interface StorageRequest {
  method: 'CreateReadSession' | 'ReadRows' | 'SplitReadStream';
  request: Record<string, unknown>;
  /**
   * CreateReadSession: the buffer compression asked for (COMPRESSION_UNSPECIFIED when the request
   * names none); ReadRows: the one its record batches were sent with (the session's).
   */
  compression?: string;
  /** The gRPC status code of the answer (0 = OK). */
  code: grpc.status;
  /** ReadRows: rows sent before the call ended. */
  rows?: number;
  /** ReadRows: true while its last answer waits for the client to read (HTTP/2 flow control). */
  waiting?: boolean;
}

export interface BigQueryStorageTestServer {
  readonly port: number;
  /** The host to give the client as `apiEndpoint`. */
  readonly endpoint: string;
  /** Registers (or replaces) a table by its resource name, 'projects/p/datasets/d/tables/t'. */
  addTable(table: string, spec: StorageTable): void;
  /**
   * Encodes the responses of `spec`'s rows ahead, as a session of `streamCount` streams asking for
   * `compression` and read from their start would get them; every such session on a table of this
   * `origin` then sends these bytes instead of encoding as it goes (a bench measures the reader,
   * not this server's encoder). `bytes`: the record batches' bytes.
   */
  prerender(origin: object, spec: StorageTable, streamCount: number, compression: BufferCompression): { rows: number; bytes: number; ms: number };
  /** The next ReadRows of the stream at `streamIndex` (of any session) fails with `code` once it has sent the stream's first `rows` rows. */
  failStreamAfter(streamIndex: number, rows: number, code?: grpc.status): void;
  /** Calls `listener` whenever a ReadRows call's answer waits for its client to read; returns the unsubscribe. */
  onWaitForClient(listener: (record: StorageRequest) => void): () => void;
  /**
   * Every stream (of any session, any ReadRows call) stops once it has sent its first `rows`
   * rows, and waits until `release()`; `reached(n)` resolves once n streams wait. A session
   * expired meanwhile fails its streams when they go on (FAILED_PRECONDITION).
   */
  pauseStreamsAfter(rows: number): { reached(count?: number): Promise<void>; release(): void };
  /** The next `times` CreateReadSession calls (default: all) answer PERMISSION_DENIED. */
  denySessions(times?: number): void;
  /** Every session created so far expires now. */
  expireSessions(): void;
  readonly requests: readonly StorageRequest[];
  /** Options for `new BigQueryReadClient(...)` that reach this server over plaintext. */
  clientOptions(): { apiEndpoint: string; port: number; sslCreds: grpc.ChannelCredentials };
  close(): Promise<void>;
}
