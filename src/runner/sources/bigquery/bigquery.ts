// The BigQuery source: one query job per read (another only if a job fails transiently), its
// results read through the Storage Read API's Arrow streams (bigquery-storage.ts) or paged
// through jobs.getQueryResults, every value handed over as exact PostgreSQL text input (see
// bigquery-types.ts for why the raw REST rows are converted rather than the client's parsed
// ones; arrow-values.ts gives the Arrow values the same text).
//
// Behaviour of @google-cloud/bigquery 9.x this file is built around (pinned down in
// test/bigquery-server.test.ts):
//  - The client retries 408/429/5xx, reason rateLimitExceeded and connection resets itself
//    (`retryOptions`; maxRetryDelay and totalTimeout in SECONDS). A retry due after
//    totalTimeout, or maxRetryDelay 0, makes the call hang forever; the client has no
//    per-request timeout either (its `timeout` option is ignored) and no AbortSignal. So every
//    call is raced against our own timeout and the caller's signal; the losing request is
//    abandoned (its late answer is ignored).
//  - 403 rateLimitExceeded is no longer retried by the client: our own retry (settings.retry)
//    handles it and everything else transient that still reaches us.
//  - jobs.insert carries a jobId we choose; a job that fails (at start or while running) for a
//    transient reason is re-run as a new job (bigquery-jobs.ts says how, after python-bigquery).
//  - gzip: BigQuery compresses an answer only for `Accept-Encoding: gzip` AND a User-Agent
//    that contains "gzip" (its performance guide); the client's own User-Agent does not, so
//    the source adds "(gzip)" to it (the client's `userAgent` option prefixes its own).
//  - Result pages are not read through job.getQueryResults but through the client's own
//    authenticated request stream (bigquery-results.ts); a jobComplete:false answer is simply a
//    page without rows there (job.getQueryResults with `timeoutMs` would make it an Error).
import { BigQuery, type BigQueryOptions, type Job, type JobMetadata, type Query } from '@google-cloud/bigquery';
import type { Logger } from 'pino';
import type { DecodePool } from '../decode/decode-pool.ts';
import { inThreadDecoder } from '../decode/in-thread.ts';
import { SourceError, type OpenReadRequest, type PagedSource, type ResumeState, type SourceRead, type SourceStats } from '../source.ts';
import { createCaller, throwIfAborted, type BigQueryRetrySettings } from './bigquery-calls.ts';
import { billedUpperBound, createDryRuns, sameInputs, type BigQueryInputs, type DryRuns } from './bigquery-inputs.ts';
import { createJobRunner, type BigQueryJobRecord, type JobRunner } from './bigquery-jobs.ts';
import { pagedRead, parseResumeState, type PagedReadRequest } from './bigquery-read.ts';
import { isStorageResume, storageSessionLives, readFinishedJob, resumeStorageRead, storageParts, wantsStorage, type ReadAfterJob, type ReadApi, type StorageParts } from './bigquery-storage.ts';
import type { BigQueryStorageSettings } from './bigquery-storage-session.ts';
import type { WireQueryResults } from './bigquery-types.ts';
import type { ReadOptions } from './bigquery-wire-rows.ts';

// ---------------------------------------------------------------------------------------
// Public types
// ---------------------------------------------------------------------------------------

export type { BigQueryRetrySettings } from './bigquery-calls.ts';
export type { BigQueryResumeState } from './bigquery-read.ts';
export type { BigQueryStorageSettings } from './bigquery-storage-session.ts';

/** The client's own `retryOptions` (maxRetryDelay and totalTimeout in SECONDS). */
export type BigQueryClientRetryOptions = NonNullable<BigQueryOptions['retryOptions']>;

export interface BigQuerySourceSettings {
  projectId: string;
  /** Default location of query jobs (a table's `source.location` overrides it). */
  location?: string;
  /** Service-account key file; unset: Application Default Credentials. */
  keyFilename?: string;
  /** e.g. http://127.0.0.1:PORT for a local test server (the scheme is required). */
  apiEndpoint?: string;
  /** Default { attempts: 5, baseDelayMs: 1000, maxDelayMs: 30000 }. */
  retry?: BigQueryRetrySettings;
  /** Bound on every client call, the client's own retries included. Default 120000. */
  requestTimeoutMs?: number;
  /**
   * Overrides of the client's retryOptions. Defaults: autoRetry, 3 retries, multiplier 2,
   * maxRetryDelay = retry.maxDelayMs (as seconds), totalTimeout well beyond requestTimeoutMs.
   */
  clientRetryOptions?: BigQueryClientRetryOptions;
  /** Backoff between polls of a job that is not complete. Default 100 → 2000 ms, doubling. */
  poll?: { initialDelayMs: number; maxDelayMs: number };
  /**
   * `timeoutMs` of jobs.getQueryResults: how long BigQuery itself may wait for the job before
   * answering jobComplete:false. Unset: BigQuery's default (10 s). Keep it below requestTimeoutMs.
   */
  queryResultsTimeoutMs?: number;
  /**
   * About how many bytes of JSON a result page should hold: after each page, fewer rows than
   * the table's pageSize are asked for when its rows are wide (BigQuery's own cap is near
   * 20 MB; two pages of that in memory, with their COPY text, exceed the engine's budget).
   * The first page asks for at most 10,000 rows. Default 8 MiB.
   */
  pageBytes?: number;
  /**
   * Query jobs one read may start: a job that fails for a transient job reason
   * (jobInternalError, jobBackendError, backendError in its errorResult…) is re-run as a new
   * job, up to this many jobs in all. Default 3; 1 never re-runs a job.
   */
  jobAttempts?: number;
  /**
   * The Storage Read API (Arrow streams), which reads a job's results instead of its REST
   * pages. null: not used. Unset: Google's endpoint when `apiEndpoint` is unset (the real
   * BigQuery), else not used (a local REST endpoint has no Storage Read API beside it).
   */
  storage?: BigQueryStorageSettings | null;
  /** Where the source tells why a read did not take the Storage Read API. */
  logger?: Logger;
  /**
   * Where result pages become COPY text: the process's decode worker pool (made once by the
   * composition root, sources/decode/). Unset: on the calling thread (tests of one source).
   */
  decodePool?: DecodePool;
}

/** What a table's `custom_sync_params.source` (type bigquery) contributes to a read. */
export interface BigQueryReadSource {
  /** Standard SQL. */
  query: string;
  /** Named parameters of the query; `request.params` (e.g. `since`) win on a name clash. */
  params?: Record<string, string | number | boolean | null>;
  /** Overrides the settings' location. */
  location?: string;
  /** BigQuery refuses to run the job when it would bill more than this. */
  maximumBytesBilled?: bigint;
  /**
   * PostgreSQL text cannot hold U+0000. Unset: a NUL in a value fails the read, naming the
   * column and row. A string (e.g. '' or '\uFFFD'): every NUL is replaced by it.
   */
  nulReplacement?: string;
  /**
   * Whether a read may be skipped when the query's referenced tables did not change since the
   * last successful run read them (`inputsUnchanged`). Default true; false for queries over
   * non-deterministic functions (CURRENT_DATE(), RAND()…).
   */
  skipWhenUnchanged?: boolean;
  /** How the job's results are read. Default: the Storage Read API where it is configured, else REST pages. */
  readApi?: ReadApi;
}

/** `open`/`estimateBytes` of the BigQuery source take the table's source params too. */
export type BigQueryOpenReadRequest = OpenReadRequest & { source: BigQueryReadSource };

/** `SourceRead.stats` of this source: the job read, where it ran, and every job the read started. */
export interface BigQueryStats extends SourceStats {
  /** Where the job ran. */
  location?: string;
  /** Whether BigQuery answered from its cache of query results. */
  cacheHit?: boolean;
  /** Every query job this read started, failed and cancelled ones included (not on resume). */
  jobs?: BigQueryJobRecord[];
  /** What the query read, as seen before its job started: the next run compares with it. */
  inputs?: BigQueryInputs;
}

/** Whether a read can be skipped: its inputs, and whether they equal the previous run's. */
export interface InputsCheck {
  unchanged: boolean;
  /** Absent when the table opted out (`skipWhenUnchanged: false`). */
  inputs?: BigQueryInputs;
}

export interface BigQuerySource extends PagedSource {
  open(request: BigQueryOpenReadRequest): Promise<SourceRead<BigQueryStats>>;
  /**
   * Dry run: an upper bound of the bytes the query will bill (bytes processed rounded up to
   * the MB, plus BigQuery's 10 MB minimum per referenced table). Runs nothing, bills nothing.
   */
  estimateBytes(request: BigQueryOpenReadRequest): Promise<bigint>;
  /**
   * Dry run + tables.get (both free): whether the query, its params and every table it reads
   * are as `previous` (the `stats.inputs` of the last successful read) recorded them. A
   * caller that gets `unchanged: true` can end the run without a query job.
   */
  inputsUnchanged(request: BigQueryOpenReadRequest, previous: unknown): Promise<InputsCheck>;
}

// ---------------------------------------------------------------------------------------
// Implementation
// ---------------------------------------------------------------------------------------

const DEFAULT_RETRY: BigQueryRetrySettings = { attempts: 5, baseDelayMs: 1000, maxDelayMs: 30_000 };
const DEFAULT_POLL = { initialDelayMs: 100, maxDelayMs: 2000 };
const DEFAULT_REQUEST_TIMEOUT_MS = 120_000;
const DEFAULT_JOB_ATTEMPTS = 3;
const DEFAULT_PAGE_BYTES = 8 * 1024 * 1024;
/** Rows of a first page, before the width of a row is known. */
const FIRST_PAGE_ROWS = 10_000;
/** BigQuery gzips an answer only when the User-Agent contains "gzip" (and Accept-Encoding asks). */
const USER_AGENT = 'sqp-refresh (gzip)';

/** The BigQuery source of these settings: one client, caller and job runner for every read. */
export function createBigQuerySource(settings: BigQuerySourceSettings): BigQuerySource {
  const retry = { ...DEFAULT_RETRY, ...settings.retry };
  retry.attempts = Math.max(1, Math.floor(retry.attempts));
  const requestTimeoutMs = settings.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
  const bq = createClient(settings, retry, requestTimeoutMs);
  const call = createCaller(retry, requestTimeoutMs);
  const jobs = createJobRunner({
    bq,
    call,
    retry,
    jobAttempts: Math.max(1, Math.floor(settings.jobAttempts ?? DEFAULT_JOB_ATTEMPTS)),
    poll: { ...DEFAULT_POLL, ...settings.poll },
    queryResultsTimeoutMs: settings.queryResultsTimeoutMs,
    decoder: settings.decodePool ?? inThreadDecoder(),
  });
  const query = (request: BigQueryOpenReadRequest) => queryOf(request, settings.location);
  const storage = storageParts({
    storage: settings.storage === undefined ? (settings.apiEndpoint ? null : {}) : settings.storage,
    projectId: settings.projectId,
    keyFilename: settings.keyFilename,
    retry,
    logger: settings.logger,
    decodePool: settings.decodePool,
  });
  const parts: ReadParts = { bq, jobs, query, dryRuns: createDryRuns(bq, call, query), pageBytes: settings.pageBytes ?? DEFAULT_PAGE_BYTES, storage };
  return {
    open: (request) => openRead(parts, request),
    async estimateBytes(request) {
      return billedUpperBound(await parts.dryRuns.dryRun(request));
    },
    canResume: (resume, now) => !isStorageResume(resume) || storageSessionLives(resume, now),
    async inputsUnchanged(request, previous) {
      if (request.source.skipWhenUnchanged === false) return { unchanged: false };
      const inputs = await parts.dryRuns.inputsOf(request);
      return { unchanged: sameInputs(previous, inputs), inputs };
    },
  };
}

/** The client: its own retries bounded by ours (see the top of this file), gzip asked for. */
function createClient(settings: BigQuerySourceSettings, retry: BigQueryRetrySettings, requestTimeoutMs: number): BigQuery {
  const clientRetry: BigQueryClientRetryOptions = {
    autoRetry: true,
    maxRetries: 3,
    retryDelayMultiplier: 2,
    maxRetryDelay: retry.maxDelayMs / 1000,
    // Never let the client's deadline (after which it hangs) come before ours.
    totalTimeout: Math.max(600, Math.ceil(requestTimeoutMs / 1000) + 60),
    ...settings.clientRetryOptions,
  };
  // 0 (or less) makes retry-request stop without calling back: the call would hang.
  if (!(typeof clientRetry.maxRetryDelay === 'number' && clientRetry.maxRetryDelay > 0)) {
    clientRetry.maxRetryDelay = 0.001;
  }
  const options: BigQueryOptions = { projectId: settings.projectId, retryOptions: clientRetry, userAgent: USER_AGENT };
  if (settings.location) options.location = settings.location;
  if (settings.keyFilename) options.keyFilename = settings.keyFilename;
  if (settings.apiEndpoint) options.apiEndpoint = settings.apiEndpoint;
  return new BigQuery(options);
}

/** The query job of a request: its SQL, params (NULLs typed), labels, location and byte cap. */
function queryOf(request: BigQueryOpenReadRequest, defaultLocation: string | undefined): Query {
  const source = request.source;
  if (!source || typeof source.query !== 'string' || source.query.trim() === '') {
    throw new SourceError('BigQuery source: request.source.query is required', {
      reason: 'invalid',
      retryable: false,
    });
  }
  const params: Record<string, unknown> = { ...(source.params ?? {}), ...request.params };
  const w = request.window;
  // A backfill's window around the table's query: BigQuery pushes the filter down (partitions
  // outside it are pruned, and not billed). The bounds are typed as the column is — as the
  // client's DATE/TIMESTAMP objects: a plain string given the type DATE is sent with no value.
  const bound = (day: string) => (w!.type === 'date' ? BigQuery.date(day) : BigQuery.timestamp(`${day}T00:00:00Z`));
  if (w) Object.assign(params, { sqp_window_from: bound(w.from), sqp_window_to: bound(w.to) });
  const query: Query = {
    query: w ? `SELECT * FROM (\n${source.query}\n) WHERE \`${w.column}\` >= @sqp_window_from AND \`${w.column}\` < @sqp_window_to` : source.query,
    useLegacySql: false,
    labels: jobLabels(request.table),
  };
  const location = source.location ?? defaultLocation;
  if (location) query.location = location;
  if (Object.keys(params).length > 0) {
    query.params = params;
    // The client cannot infer a type for NULL; BigQuery needs one. STRING is the usual choice.
    const types: Record<string, string> = {};
    for (const [name, value] of Object.entries(params)) if (value === null) types[name] = 'STRING';
    if (Object.keys(types).length > 0) query.types = types;
  }
  if (source.maximumBytesBilled !== undefined) query.maximumBytesBilled = source.maximumBytesBilled.toString();
  return query;
}

/** What a read of the source uses: made once by createBigQuerySource. */
interface ReadParts {
  bq: BigQuery;
  jobs: JobRunner;
  query(request: BigQueryOpenReadRequest): Query;
  dryRuns: DryRuns<BigQueryOpenReadRequest>;
  pageBytes: number;
  storage: StorageParts;
}

/** A new read (a query job, re-run if it fails transiently) or, with `request.resume`, the rest of one. */
async function openRead(parts: ReadParts, request: BigQueryOpenReadRequest): Promise<SourceRead<BigQueryStats>> {
  throwIfAborted(request.signal);
  const query = parts.query(request); // refuses a request without source params first
  if (request.resume) return resumeRead(parts, request, request.resume);
  const { dryRuns } = parts;
  // The inputs as they are before the job starts, when this request had its dry run (the
  // engine's estimate): the next run compares with them. Reading them never fails the read.
  const wanted = request.source.skipWhenUnchanged !== false && dryRuns.has(request);
  const inputs = wanted ? await dryRuns.inputsOf(request).catch(() => undefined) : undefined;
  // No location configured: the dry run tells where BigQuery will run the query (the
  // datasets' location). Naming it on the job means every job call can carry it — without
  // it, jobs.get after a lost insert answer finds no job outside the US/EU multi-regions.
  if (!query.location && dryRuns.has(request)) {
    const location = await dryRuns.dryRun(request).then((d) => d.location, () => undefined);
    if (location) query.location = location;
  }
  throwIfAborted(request.signal);
  const prefix = `sqp_refresh_${labelValue(`${request.table.schema}_${request.table.name}`)}_`;
  // Read through the Storage Read API: the job's first answer only waits for it (no rows).
  const storage = wantsStorage(parts.storage, request.source.readApi);
  const started = await parts.jobs.runQuery(query, prefix, storage ? 0 : Math.min(request.pageSize, FIRST_PAGE_ROWS), readOptionsFor(request), request.signal);
  const stats = statsOf(started.job, started.metadata, started.first.meta, started.jobs);
  if (inputs) stats.inputs = inputs;
  const rest = async () => {
    const first = storage ? await parts.jobs.readPage(started.job, Math.min(request.pageSize, FIRST_PAGE_ROWS), undefined, request.signal, [], false, readOptionsFor(request)) : started.first;
    return pagedRead(started.job, first, stats, readRequest(parts, request), 0);
  };
  const meta = started.first.meta;
  const finished = { job: started.job, metadata: started.metadata, fields: meta.schema?.fields ?? [], totalRows: meta.totalRows == null ? null : Number(meta.totalRows), location: stats.location ?? null };
  return withDetails(await readFinishedJob(parts.storage, finished, stats, readAfterJob(request), rest));
}

/** The rest of a read from its resume state: the same job, from the page token on. */
async function resumeRead(parts: ReadParts, request: BigQueryOpenReadRequest, resume: ResumeState): Promise<SourceRead<BigQueryStats>> {
  if (isStorageResume(resume)) {
    // As on REST resume: the job's bill belongs to the read that started it.
    const stats: BigQueryStats = { jobId: resume.jobId, ...(resume.location ? { location: resume.location } : {}) };
    return withDetails(resumeStorageRead(parts.storage, resume, stats, readAfterJob(request)));
  }
  const state = parseResumeState(resume);
  const job = parts.bq.job(state.jobId, state.location ? { location: state.location } : {});
  const page = await parts.jobs.readPage(job, Math.min(request.pageSize, FIRST_PAGE_ROWS), state.pageToken, request.signal, [], false, {
    firstRow: null,
    nulReplacement: request.source.nulReplacement,
  });
  // The job and its bill belong to the read that started it; continuing it processes and
  // bills nothing more, so a resumed read reports no bytes (an audit row per slice would
  // otherwise count the same bytes twice against the daily budget).
  const stats: BigQueryStats = { jobId: state.jobId };
  const location = job.location ?? page.meta.jobReference?.location ?? state.location;
  if (location) stats.location = location;
  return withDetails(pagedRead(job, page, stats, readRequest(parts, request), null));
}

function readRequest(parts: ReadParts, request: BigQueryOpenReadRequest): PagedReadRequest {
  return { pageSize: request.pageSize, pageBytes: parts.pageBytes, signal: request.signal, nulReplacement: request.source.nulReplacement, readPage: parts.jobs.readPage };
}

function readAfterJob(request: BigQueryOpenReadRequest): ReadAfterJob {
  return { table: request.table, readApi: request.source.readApi, pageSize: request.pageSize, nulReplacement: request.source.nulReplacement, signal: request.signal };
}

function readOptionsFor(request: BigQueryOpenReadRequest): ReadOptions {
  return { firstRow: 0, nulReplacement: request.source.nulReplacement };
}

/**
 * The read with what its audit row keeps of BigQuery's own stats (`SourceRead.details`): where
 * the job ran, and every job the read started (`bigqueryJobs`, none on resume).
 */
function withDetails(read: SourceRead<BigQueryStats>): SourceRead<BigQueryStats> {
  const { location, jobs } = read.stats;
  read.details = { ...read.details, ...(location ? { location } : {}), ...(jobs?.length ? { bigqueryJobs: jobs } : {}) };
  return read;
}

/** The read's stats: the job read, its bytes, and the bytes billed by every job the read started. */
function statsOf(job: Job, metadata: JobMetadata, page: WireQueryResults, jobs: BigQueryJobRecord[]): BigQueryStats {
  const stats: BigQueryStats = { jobs };
  const jobId = job.id ?? metadata.jobReference?.jobId ?? page.jobReference?.jobId;
  const location = metadata.jobReference?.location ?? job.location ?? page.jobReference?.location;
  if (jobId) stats.jobId = jobId;
  if (location) stats.location = location;
  const q = metadata.statistics?.query;
  const processed = q?.totalBytesProcessed ?? metadata.statistics?.totalBytesProcessed ?? page.totalBytesProcessed;
  if (processed !== undefined && processed !== null) stats.bytesProcessed = BigInt(processed);
  // Abandoned jobs bill too (a cancelled job bills what it scanned): the day's budget counts them.
  const billed = jobs.filter((j) => j.bytesBilled !== undefined);
  if (billed.length > 0) stats.bytesBilled = billed.reduce((sum, j) => sum + BigInt(j.bytesBilled!), 0n);
  const cacheHit = q?.cacheHit ?? page.cacheHit;
  if (typeof cacheHit === 'boolean') stats.cacheHit = cacheHit;
  return stats;
}

/** BigQuery label rules: lowercase letters, digits, _ and -; at most 63 characters. */
export function labelValue(value: string): string {
  return value
    .toLowerCase()
    .replace(/[^a-z0-9_-]+/g, '_')
    .slice(0, 63);
}

/** Labels of a refresh's jobs: `{ app: 'sqp-refresh', table: '<schema>_<name>' }`. */
export function jobLabels(table: { schema: string; name: string }): Record<string, string> {
  return { app: 'sqp-refresh', table: labelValue(`${table.schema}_${table.name}`) };
}
