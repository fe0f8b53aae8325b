/**
 * bigquery-storage-server.ts — a local gRPC test double for the BigQuery Storage Read API
 * (google.cloud.bigquery.storage.v1.BigQueryRead), beside the REST one (bigquery-server.ts).
 *
 * THIS IS A TEST SERVER, NOT BIGQUERY. It has no storage and no SQL: a test registers tables
 * (a BigQuery schema and rows, in the same fixture form as the REST server's), and the server
 * answers the three RPCs of the official `@google-cloud/bigquery-storage` client with those
 * rows as Arrow, the way the real service does. Anything a fixture does not describe is an
 * error, not a guess. The service definition is loaded from the .proto files shipped inside
 * the official client package, so the wire format is the client's own.
 *
 * Behaviour that mirrors the real service and that a test may rely on:
 *   - CreateReadSession(parent 'projects/{p}', readSession.table 'projects/p/datasets/d/tables/t',
 *     dataFormat ARROW) answers a session named 'projects/{p}/locations/{location}/sessions/{id}'
 *     with up to maxStreamCount streams ('…/streams/{id}'; 0 = the server's choice), never more
 *     streams than rows and NO streams for an empty table; rows are split into contiguous,
 *     near-equal ranges. arrowSchema.serializedSchema is one IPC Schema message;
 *     estimatedRowCount is the rows in the session; expireTime is creation + 6 hours (the real
 *     lifetime). readOptions.selectedFields projects top-level columns.
 *     readOptions.arrowSerializationOptions.bufferCompression ZSTD makes every record batch of the
 *     session's streams ZSTD-compressed buffer by buffer (the columnar format's BodyCompression,
 *     written by apache-arrow's writer: bigquery-storage-arrow.ts); LZ4_FRAME is refused with
 *     INVALID_ARGUMENT (this server has no LZ4 frame encoder). The request log records the
 *     compression asked for (CreateReadSession) and sent (ReadRows).
 *   - ReadRows(readStream, offset) streams the stream's rows from `offset`, at most
 *     `rowsPerResponse` per response: arrowRecordBatch.serializedRecordBatch (one IPC RecordBatch
 *     message; a reader puts the schema message in front), rowCount, and stats.progress
 *     (atResponseStart/atResponseEnd as fractions of the stream). The first response of each
 *     call also carries arrowSchema, as the real one does.
 *   - SplitReadStream answers an empty response: "an empty value indicates that the original
 *     stream can no longer be split" (storage.proto), which the API allows for any stream.
 *   - Errors are gRPC statuses with the real service's codes and message shapes:
 *     PERMISSION_DENIED "request failed: the user does not have 'bigquery.readsessions.create'
 *     permission for 'projects/p'" (denySessions); FAILED_PRECONDITION "there was an error
 *     operating on '<stream>': session expired at <time>" (expireSessions, or 6 hours on the
 *     injected clock) — at ReadRows, and at the next answer of a stream being read; UNAVAILABLE mid-stream (failStreamAfter); NOT_FOUND for an unknown
 *     table or stream; INVALID_ARGUMENT for a malformed request.
 *
 * See bigquery-storage-arrow.ts for the Arrow type of each BigQuery type.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import type { FieldSpec, Row, RowSource } from './bigquery-server-types.ts';
import { ArrowTable } from './bigquery-storage-arrow.ts';
import type { BigQueryStorageTestServer, BigQueryStorageTestServerOptions, BufferCompression, StorageRequest, StorageTable } from './bigquery-storage-server-types.ts';

export * from './bigquery-storage-server-types.ts';


const SESSION_LIFETIME_MS = 6 * 60 * 60 * 1000;

interface Session {
  name: string;
  expireAt: number;
  table: ArrowTable;
  streams: Stream[];
  /** How its record batches' buffers are compressed (asked for at its creation). */
  compression: BufferCompression;
  /** Responses rendered ahead (prerender) with its compression, by `${first row}:${end row}` of the table; absent: encoded as sent. */
  rendered?: Map<string, Uint8Array> | undefined;
}
interface Stream { name: string; index: number; start: number; end: number; session: Session }
interface RegisteredTable { fields: readonly FieldSpec[]; count: number; at: (i: number) => Row; origin?: object | undefined }

/** Streams held once they have sent their first `rows` rows (pauseStreamsAfter). */
class StreamPause {
  released = false;
  private held = 0;
  private readonly waiting: (() => void)[] = [];
  private readonly heldCounts: { count: number; resolve: () => void }[] = [];

  constructor(readonly rows: number) {}

  /** Holds a stream until release() or `stop()` (its call was cancelled). */
  async hold(stop: () => boolean, onStop: (wake: () => void) => void): Promise<void> {
    this.held++;
    for (const w of this.heldCounts.filter((h) => this.held >= h.count)) w.resolve();
    await new Promise<void>((resolve) => {
      if (stop()) return resolve();
      this.waiting.push(resolve);
      onStop(resolve);
    });
  }

  /** Resolves once `count` streams are held. */
  reached(count = 1): Promise<void> {
    if (this.held >= count) return Promise.resolve();
    return new Promise((resolve) => this.heldCounts.push({ count, resolve }));
  }

  release(): void {
    this.released = true;
    for (const wake of this.waiting.splice(0)) wake();
  }
}

class StatusError extends Error {
  constructor(readonly code: grpc.status, message: string) { super(message); }
}

/** Starts the server on a free port of 127.0.0.1. */
export async function startBigQueryStorageTestServer(options: BigQueryStorageTestServerOptions = {}): Promise<BigQueryStorageTestServer> {
  const rowsPerResponse = options.rowsPerResponse ?? 1024;
  const defaultStreamCount = options.defaultStreamCount ?? 4;
  const location = options.location ?? 'us';
  const now = options.now ?? Date.now;
  const tables = new Map<string, RegisteredTable>();
  /** prerender(): each table's responses encoded ahead, by the table's `origin`, then by compression. */
  const rendered = new WeakMap<object, Map<BufferCompression, Map<string, Uint8Array>>>();
  const streams = new Map<string, Stream>();
  const sessions: Session[] = [];
  const requests: StorageRequest[] = [];
  const streamFaults: { streamIndex: number; rows: number; code: grpc.status }[] = [];
  let deniedSessions = 0;
  let pause: StreamPause | null = null;

  function createReadSession(request: CreateReadSessionRequest): Record<string, unknown> {
    const project = /^projects\/([^/]+)$/.exec(request.parent ?? '')?.[1];
    if (!project) throw new StatusError(grpc.status.INVALID_ARGUMENT, `Invalid parent: '${request.parent ?? ''}', expected projects/{project}`);
    if (deniedSessions > 0) {
      deniedSessions--;
      throw new StatusError(grpc.status.PERMISSION_DENIED, `request failed: the user does not have 'bigquery.readsessions.create' permission for 'projects/${project}'`);
    }
    const wanted = request.readSession ?? {};
    if (wanted.dataFormat !== 'ARROW') throw new StatusError(grpc.status.INVALID_ARGUMENT, `bigquery-storage-test-server serves dataFormat ARROW only, got ${String(wanted.dataFormat)}`);
    if (wanted.readOptions?.rowRestriction) throw new StatusError(grpc.status.INVALID_ARGUMENT, 'bigquery-storage-test-server has no SQL engine: rowRestriction is not supported');
    const compression = servedCompression(requestedCompression(request));
    const maxStreams = request.maxStreamCount ?? 0;
    if (maxStreams < 0) throw new StatusError(grpc.status.INVALID_ARGUMENT, 'max_stream_count must be non-negative');
    const registered = tables.get(wanted.table ?? '') ?? resultTable(wanted.table ?? '');
    if (!registered) {
      const ref = /^projects\/([^/]+)\/datasets\/([^/]+)\/tables\/([^/]+)$/.exec(wanted.table ?? '');
      if (!ref) throw new StatusError(grpc.status.INVALID_ARGUMENT, `Invalid table: '${wanted.table ?? ''}', expected projects/{p}/datasets/{d}/tables/{t}`);
      throw new StatusError(grpc.status.NOT_FOUND, `request failed: Not found: Table ${ref[1]}:${ref[2]}.${ref[3]}`);
    }
    const { fields, at } = selectColumns(registered, wanted.readOptions?.selectedFields ?? []);
    const name = `projects/${project}/locations/${location}/sessions/${randomId()}`;
    const session: Session = { name, expireAt: now() + SESSION_LIFETIME_MS, table: new ArrowTable(fields, at), streams: [], compression };
    // Rendered responses hold every column: a session that selects some encodes its own.
    if (!wanted.readOptions?.selectedFields?.length && registered.origin) session.rendered = rendered.get(registered.origin)?.get(compression);
    const count = Math.min(maxStreams || defaultStreamCount, 1000, registered.count);
    for (let index = 0; index < count; index++) {
      const stream: Stream = { name: `${name}/streams/${randomId()}`, index, session, ...share(registered.count, count, index) };
      session.streams.push(stream);
      streams.set(stream.name, stream);
    }
    sessions.push(session);
    return {
      name,
      expireTime: timestamp(session.expireAt),
      dataFormat: 'ARROW',
      arrowSchema: { serializedSchema: session.table.serializedSchema },
      table: wanted.table,
      readOptions: wanted.readOptions,
      streams: session.streams.map((s) => ({ name: s.name })),
      estimatedRowCount: String(registered.count),
    };
  }

  /** The stream a request names, if it exists and its session has not expired. */
  /** A table of options.resultTables (a REST test server's job results), as addTable keeps one. */
  function resultTable(name: string): RegisteredTable | undefined {
    const spec = options.resultTables?.(name);
    return spec ? registeredTable(spec) : undefined;
  }

  function liveStream(name: string | undefined): Stream {
    const stream = streams.get(name ?? '');
    if (!stream) throw new StatusError(grpc.status.NOT_FOUND, `there was an error operating on '${name ?? ''}': stream not found`);
    if (now() >= stream.session.expireAt) {
      const at = new Date(stream.session.expireAt).toISOString().replace(/\.\d{3}Z$/, '+00:00');
      throw new StatusError(grpc.status.FAILED_PRECONDITION, `there was an error operating on '${stream.name}': session expired at ${at}`);
    }
    return stream;
  }

  /** Told whenever a ReadRows call waits for its client to read (onWaitForClient). */
  const waitListeners = new Set<(record: StorageRequest) => void>();

  async function readRows(call: grpc.ServerWritableStream<ReadRowsRequest, unknown>, record: StorageRequest): Promise<void> {
    const stream = liveStream(call.request.readStream);
    record.compression = stream.session.compression;
    const offset = Number(call.request.offset ?? 0);
    const total = stream.end - stream.start;
    if (!Number.isSafeInteger(offset) || offset < 0 || offset > total) {
      // storage.proto calls an offset past the rows read "undefined"; this server refuses it.
      throw new StatusError(grpc.status.OUT_OF_RANGE, `there was an error operating on '${stream.name}': offset ${offset} is beyond the stream's ${total} rows`);
    }
    const faultAt = streamFaults.findIndex((f) => f.streamIndex === stream.index && f.rows >= offset && f.rows < total);
    const fault = faultAt >= 0 ? streamFaults.splice(faultAt, 1)[0] : undefined;
    let cancelled = false;
    call.on('cancelled', () => { cancelled = true; });
    record.rows = 0;
    for (let at = offset; at < total && !cancelled; ) {
      if (pause && at >= pause.rows && !pause.released) {
        await pause.hold(() => cancelled, (wake) => call.once('cancelled', wake));
        if (cancelled) break;
      }
      // A session that expires while its streams are read fails them at their next answer.
      if (now() >= stream.session.expireAt) liveStream(stream.name);
      const pauseAt = pause && !pause.released && at < pause.rows ? pause.rows : total;
      const end = Math.min(at + rowsPerResponse, fault ? fault.rows : total, pauseAt, total);
      if (end === at && fault) break;
      const response: Record<string, unknown> = {
        arrowRecordBatch: { serializedRecordBatch: serialized(stream.session, stream.start + at, stream.start + end), rowCount: String(end - at) },
        rowCount: String(end - at),
        stats: { progress: { atResponseStart: at / total, atResponseEnd: end / total } },
      };
      if (at === offset) response['arrowSchema'] = { serializedSchema: stream.session.table.serializedSchema };
      record.rows += end - at;
      at = end;
      if (!call.write(response)) {
        record.waiting = true;
        for (const listener of [...waitListeners]) listener(record);
        // Each wait removes what it added: a long stream waits hundreds of times.
        await new Promise<void>((resolve) => {
          const done = () => {
            call.off('drain', done);
            call.off('cancelled', done);
            resolve();
          };
          call.once('drain', done);
          call.once('cancelled', done);
        });
        record.waiting = false;
      }
    }
    if (cancelled) return;
    if (fault) throw new StatusError(fault.code, fault.code === grpc.status.UNAVAILABLE ? 'The service is currently unavailable.' : `bigquery-storage-test-server: injected ${grpc.status[fault.code]}`);
    call.end();
  }

  const server = new grpc.Server();
  server.addService(loadBigQueryReadService(), {
    CreateReadSession: (call: grpc.ServerUnaryCall<CreateReadSessionRequest, unknown>, callback: grpc.sendUnaryData<unknown>) => {
      const record = log('CreateReadSession', call.request);
      record.compression = requestedCompression(call.request);
      answerUnary(record, callback, () => createReadSession(call.request));
    },
    SplitReadStream: (call: grpc.ServerUnaryCall<{ name?: string }, unknown>, callback: grpc.sendUnaryData<unknown>) => {
      const record = log('SplitReadStream', call.request);
      answerUnary(record, callback, () => (liveStream(call.request.name), {}));
    },
    ReadRows: (call: grpc.ServerWritableStream<ReadRowsRequest, unknown>) => {
      const record = log('ReadRows', call.request);
      readRows(call, record).catch((err: unknown) => {
        const status = asStatus(err);
        record.code = status.code;
        call.emit('error', { code: status.code, details: status.message });
      });
    },
  });

  function log(method: StorageRequest['method'], request: object): StorageRequest {
    const record: StorageRequest = { method, request: request as Record<string, unknown>, code: grpc.status.OK };
    requests.push(record);
    return record;
  }

  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, bound) => (err ? reject(err) : resolve(bound)));
  });

  return {
    port,
    endpoint: '127.0.0.1',
    requests,
    addTable(table, spec) {
      tables.set(table, registeredTable(spec));
    },
    prerender(origin, spec, streamCount, compression) {
      const started = performance.now();
      const table = new ArrowTable(spec.fields, registeredTable(spec).at);
      const count = isRowList(spec.rows) ? spec.rows.length : spec.rows.count;
      const responses = new Map<string, Uint8Array>();
      let bytes = 0;
      for (let index = 0; index < Math.min(streamCount, count); index++) {
        const { start, end } = share(count, Math.min(streamCount, count), index);
        for (let at = start; at < end; at += rowsPerResponse) {
          const batch = table.serializeRows(at, Math.min(at + rowsPerResponse, end), compression);
          responses.set(`${at}:${Math.min(at + rowsPerResponse, end)}`, batch);
          bytes += batch.length;
        }
      }
      const byCompression = rendered.get(origin) ?? new Map<BufferCompression, Map<string, Uint8Array>>();
      byCompression.set(compression, responses);
      rendered.set(origin, byCompression);
      return { rows: count, bytes, ms: performance.now() - started };
    },
    onWaitForClient(listener) {
      waitListeners.add(listener);
      return () => waitListeners.delete(listener);
    },
    failStreamAfter(streamIndex, rows, code = grpc.status.UNAVAILABLE) {
      streamFaults.push({ streamIndex, rows, code });
    },
    pauseStreamsAfter(rows) {
      pause = new StreamPause(rows);
      return pause;
    },
    denySessions(times = Infinity) {
      deniedSessions = times;
    },
    expireSessions() {
      const at = now();
      for (const session of sessions) session.expireAt = Math.min(session.expireAt, at);
    },
    clientOptions() {
      return { apiEndpoint: '127.0.0.1', port, sslCreds: grpc.credentials.createInsecure() };
    },
    async close() {
      // In-flight ReadRows calls would hold tryShutdown open; a test server just ends them.
      server.forceShutdown();
    },
  };
}

interface CreateReadSessionRequest {
  parent?: string;
  maxStreamCount?: number;
  readSession?: {
    table?: string;
    dataFormat?: string;
    readOptions?: { selectedFields?: string[]; rowRestriction?: string; arrowSerializationOptions?: { bufferCompression?: string } };
  };
}

/** The buffer compression a CreateReadSession request asks for, in the proto's words (none named: COMPRESSION_UNSPECIFIED). */
function requestedCompression(request: CreateReadSessionRequest): string {
  return request.readSession?.readOptions?.arrowSerializationOptions?.bufferCompression ?? 'COMPRESSION_UNSPECIFIED';
}

/** The compression a session asking for `asked` is served with; INVALID_ARGUMENT for one this server cannot write. */
function servedCompression(asked: string): BufferCompression {
  if (asked === 'ZSTD' || asked === 'COMPRESSION_UNSPECIFIED') return asked;
  throw new StatusError(grpc.status.INVALID_ARGUMENT, `bigquery-storage-test-server cannot write ${asked} buffers (no LZ4 frame encoder here): ask for ZSTD or no compression`);
}
interface ReadRowsRequest { readStream?: string; offset?: string }

function registeredTable(spec: StorageTable): RegisteredTable {
  const rows = spec.rows;
  const source: RowSource = isRowList(rows) ? { count: rows.length, at: (i) => rows[i]! } : rows;
  return { fields: spec.fields, count: source.count, at: (i) => source.at(i), origin: spec.origin };
}

/** A response's record batch: rendered ahead when prerender() rendered this range, else encoded now. */
function serialized(session: Session, start: number, end: number): Uint8Array {
  return session.rendered?.get(`${start}:${end}`) ?? session.table.serializeRows(start, end, session.compression);
}

// Arrays have an `at` method too, so a RowSource is told apart by not being an array.
function isRowList(rows: readonly Row[] | RowSource): rows is readonly Row[] {
  return Array.isArray(rows);
}

function answerUnary(record: StorageRequest, callback: grpc.sendUnaryData<unknown>, answer: () => unknown): void {
  try {
    callback(null, answer());
  } catch (err) {
    const status = asStatus(err);
    record.code = status.code;
    callback({ code: status.code, details: status.message });
  }
}

function asStatus(err: unknown): StatusError {
  if (err instanceof StatusError) return err;
  // A bug in the server or a broken fixture: fail loudly, with a code no client retries.
  return new StatusError(grpc.status.INTERNAL, `bigquery-storage-test-server: ${err instanceof Error ? err.message : String(err)}`);
}

/** The table's rows limited to the selected top-level columns (all when none are selected). */
function selectColumns(table: RegisteredTable, selected: readonly string[]): { fields: readonly FieldSpec[]; at: (i: number) => Row } {
  if (selected.length === 0) return table;
  const indexes = selected.map((name) => {
    const i = table.fields.findIndex((f) => f.name === name);
    if (i < 0) throw new StatusError(grpc.status.INVALID_ARGUMENT, `request failed: selected field '${name}' is not in the table's schema`);
    return i;
  });
  const fields = indexes.map((i) => table.fields[i]!);
  const at = (r: number): Row => {
    const row = table.at(r);
    return Array.isArray(row) ? indexes.map((i) => row[i]) : Object.fromEntries(fields.map((f) => [f.name, (row as Record<string, unknown>)[f.name]]));
  };
  return { fields, at };
}

/** Stream `index` of `count` over `rows` rows: contiguous ranges whose sizes differ by at most one. */
function share(rows: number, count: number, index: number): { start: number; end: number } {
  const base = Math.floor(rows / count);
  const extra = rows % count;
  const start = index * base + Math.min(index, extra);
  return { start, end: start + base + (index < extra ? 1 : 0) };
}

function timestamp(ms: number): { seconds: string; nanos: number } {
  return { seconds: String(Math.floor(ms / 1000)), nanos: (ms % 1000) * 1_000_000 };
}

function randomId(): string {
  return randomBytes(12).toString('base64url');
}

/**
 * BigQueryRead from the .proto files the official client ships; the google/api and google/rpc
 * protos they import come from the google-gax that the client itself depends on.
 */
function loadBigQueryReadService(): grpc.ServiceDefinition {
  const fromClient = createRequire(createRequire(import.meta.url).resolve('@google-cloud/bigquery-storage/package.json'));
  const clientProtos = join(dirname(fromClient.resolve('@google-cloud/bigquery-storage/package.json')), 'build', 'protos');
  const gaxProtos = join(dirname(fromClient.resolve('google-gax')), '..', 'protos');
  const definition = protoLoader.loadSync('google/cloud/bigquery/storage/v1/storage.proto', {
    includeDirs: [clientProtos, gaxProtos],
    longs: String,
    enums: String,
    defaults: false,
    oneofs: true,
  });
  const loaded = grpc.loadPackageDefinition(definition) as unknown as {
    google: { cloud: { bigquery: { storage: { v1: { BigQueryRead: { service: grpc.ServiceDefinition } } } } } };
  };
  return loaded.google.cloud.bigquery.storage.v1.BigQueryRead.service;
}
