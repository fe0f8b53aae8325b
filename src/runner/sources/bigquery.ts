// The BigQuery source: one query job per read, paged through jobs.getQueryResults, every
// value handed over as exact PostgreSQL text input (see bigquery-types.ts for why the raw
// REST rows are converted rather than the client's parsed ones).
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
//  - jobs.insert carries a jobId we choose, so a retry of an insert that did reach BigQuery
//    answers 409 duplicate; with a caller-chosen jobId the client hands that 409 to us, and we
//    fetch the job we created instead of running the query twice.
//  - A query job that fails at start comes back from jobs.insert as HTTP 200 with
//    status.errorResult: the client rejects with an ApiError without `code` but with the
//    job's `errors[].reason` (e.g. bytesBilledLimitExceeded).
//  - Result pages are not read through job.getQueryResults but through the client's own
//    authenticated request stream (bigquery-results.ts); a jobComplete:false answer is simply a
//    page without rows there (job.getQueryResults with `timeoutMs` would make it an Error).
import { randomUUID } from 'node:crypto';
import { BigQuery, type BigQueryOptions, type Job, type JobMetadata, type Query } from '@google-cloud/bigquery';
import {
  SourceError,
  type OpenReadRequest,
  type PagedSource,
  type ResumeState,
  type SourcePage,
  type SourceRead,
  type SourceStats,
  type TextValue,
} from '../source.ts';
import { parseCopyText } from '../copy-text.ts';
import type { WireField, WireQueryResults } from './bigquery-types.ts';
import { fetchQueryResults } from './bigquery-results.ts';
import type { CopyRows, ResultsPage } from './bigquery-wire.ts';

// ---------------------------------------------------------------------------------------
// Public types
// ---------------------------------------------------------------------------------------

/** Our own retry of failures that still reach us after the client's retries. */
export interface BigQueryRetrySettings {
  /** Total tries of one call (1 = no retry of our own). */
  attempts: number;
  /** Backoff before retry n: up to min(maxDelayMs, baseDelayMs * 2^(n-1)), with jitter. */
  baseDelayMs: number;
  maxDelayMs: number;
}

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
}

/** `open`/`estimateBytes` of the BigQuery source take the table's source params too. */
export type BigQueryOpenReadRequest = OpenReadRequest & { source: BigQueryReadSource };

/** `SourcePage.resumeAfter` of this source. */
export interface BigQueryResumeState extends ResumeState {
  jobId: string;
  location: string | null;
  pageToken: string;
}

export interface BigQuerySource extends PagedSource {
  kind: 'bigquery';
  open(request: BigQueryOpenReadRequest): Promise<SourceRead>;
  /** Dry run: the bytes the query would process. Runs nothing, bills nothing. */
  estimateBytes(request: BigQueryOpenReadRequest): Promise<bigint>;
}

// ---------------------------------------------------------------------------------------
// Implementation
// ---------------------------------------------------------------------------------------

const DEFAULT_RETRY: BigQueryRetrySettings = { attempts: 5, baseDelayMs: 1000, maxDelayMs: 30_000 };
const DEFAULT_POLL = { initialDelayMs: 100, maxDelayMs: 2000 };
const DEFAULT_REQUEST_TIMEOUT_MS = 120_000;

/** Reasons BigQuery uses for transient failures. */
const RETRYABLE_REASONS = new Set([
  'rateLimitExceeded',
  'userRateLimitExceeded',
  'backendError',
  'internalError',
  'jobBackendError',
  'jobRateLimitExceeded',
]);

/** Node / fetch error codes of a connection that broke or never answered. */
const CONNECTION_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EAI_AGAIN',
  'ENETUNREACH',
  'ENETDOWN',
  'EHOSTUNREACH',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
]);

const CONNECTION_MESSAGE = /socket hang up|ECONNRESET|ECONNREFUSED|EPIPE|network error|fetch failed|other side closed|premature close/i;

export function createBigQuerySource(settings: BigQuerySourceSettings): BigQuerySource {
  const retry = { ...DEFAULT_RETRY, ...settings.retry };
  retry.attempts = Math.max(1, Math.floor(retry.attempts));
  const poll = { ...DEFAULT_POLL, ...settings.poll };
  const requestTimeoutMs = settings.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;

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

  const options: BigQueryOptions = { projectId: settings.projectId, retryOptions: clientRetry };
  if (settings.location) options.location = settings.location;
  if (settings.keyFilename) options.keyFilename = settings.keyFilename;
  if (settings.apiEndpoint) options.apiEndpoint = settings.apiEndpoint;
  const bq = new BigQuery(options);

  // ---- calls: timeout, abort, classification, our retry ---------------------------------

  interface CallContext {
    op: string;
    signal?: AbortSignal | undefined;
    jobId?: string | undefined;
    jobLocation?: string | undefined;
    /** The call names an existing job: a 404 means the job is gone. */
    jobScoped?: boolean;
    /** Before each retry of ours (e.g. to choose a new job id after a failed job). */
    onRetry?: (failure: Failure) => void;
  }

  /** `fn` gets a signal that aborts when its attempt is abandoned (timeout, caller's abort). */
  async function call<T>(ctx: CallContext, fn: (abandoned: AbortSignal) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      throwIfAborted(ctx.signal);
      try {
        return await bounded(fn, requestTimeoutMs, ctx.signal);
      } catch (err) {
        if (ctx.signal?.aborted) throw abortReason(ctx.signal);
        if (err instanceof SourceError) throw err;
        const failure = classify(err);
        if (!failure.retryable || attempt >= retry.attempts) throw toSourceError(ctx, failure, attempt);
        ctx.onRetry?.(failure);
        await sleep(backoff(attempt, retry), ctx.signal);
      }
    }
  }

  function toSourceError(ctx: CallContext, f: Failure, attempts: number): SourceError {
    const details: SourceError['details'] = { retryable: false, message: f.message, operation: ctx.op, attempts };
    if (f.code !== undefined) details.code = f.code;
    if (f.reason !== undefined) details.reason = f.reason;
    if (f.errorLocation !== undefined) details.location = f.errorLocation;
    if (ctx.jobId) details.jobId = ctx.jobId;
    if (ctx.jobLocation) details.jobLocation = ctx.jobLocation;
    const notFound = f.code === 404 || f.reason === 'notFound';
    if (ctx.jobScoped && notFound && !/not found:\s*(table|dataset|project|model|routine|view)\b/i.test(f.message)) {
      details.reason = 'notFound';
      details.expired = true;
      return new SourceError(
        `BigQuery job ${ctx.jobId ?? '?'} no longer exists (its results expired); restart the read: ${f.message}`,
        details,
      );
    }
    if (f.retryable) {
      // Transient, but our attempts are used up: the runner may try the whole read again later.
      details.retryable = true;
      return new SourceError(`BigQuery ${ctx.op} failed after ${attempts} attempts: ${f.message}`, details);
    }
    return new SourceError(`BigQuery ${ctx.op} failed: ${f.message}`, details);
  }

  // ---- jobs -------------------------------------------------------------------------------

  function queryOptions(request: BigQueryOpenReadRequest): Query {
    const source = request.source;
    if (!source || typeof source.query !== 'string' || source.query.trim() === '') {
      throw new SourceError('BigQuery source: request.source.query is required', {
        reason: 'invalid',
        retryable: false,
      });
    }
    const params = { ...(source.params ?? {}), ...request.params };
    const query: Query = {
      query: source.query,
      useLegacySql: false,
      labels: jobLabels(request.table),
    };
    const location = source.location ?? settings.location;
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

  async function insertJob(request: BigQueryOpenReadRequest): Promise<{ job: Job; metadata: JobMetadata }> {
    const query = queryOptions(request);
    const location = typeof query.location === 'string' ? query.location : undefined;
    const prefix = `sqp_refresh_${labelValue(`${request.table.schema}_${request.table.name}`)}_`;
    let jobId = `${prefix}${randomUUID()}`;
    const ctx: CallContext = {
      op: 'jobs.insert',
      signal: request.signal,
      jobId,
      jobLocation: location,
      onRetry: (failure) => {
        // The job itself failed (transiently): a retry needs a new job, hence a new id.
        // Otherwise keep the id, so that a retry of an insert that did arrive finds its job.
        if (failure.jobFailed) {
          jobId = `${prefix}${randomUUID()}`;
          ctx.jobId = jobId;
        }
      },
    };
    return call(ctx, async () => {
      try {
        const [job, metadata] = await bq.createQueryJob({ ...query, jobId });
        return { job, metadata };
      } catch (err) {
        if (!isDuplicate(err)) throw err;
        // An earlier try of ours created the job: carry on with it.
        const job = bq.job(jobId, location ? { location } : {});
        const [metadata] = await job.getMetadata();
        if (metadata.status?.errorResult) throw new JobFailedError(metadata);
        if (metadata.jobReference?.location) job.location = metadata.jobReference.location;
        return { job, metadata };
      }
    });
  }

  /** One complete result page at `pageToken` (undefined: the first), polling while the job runs. */
  async function readPage(
    job: Job,
    pageSize: number,
    pageToken: string | undefined,
    signal: AbortSignal | undefined,
    fields: readonly WireField[] = [],
  ): Promise<ResultsPage> {
    // What job.getQueryResults would send: TIMESTAMP as int64 µs (bigquery-types.ts relies on it).
    const qs: Record<string, string | number | boolean> = { 'formatOptions.useInt64Timestamp': true, maxResults: pageSize };
    if (job.location) qs['location'] = job.location;
    if (pageToken) qs['pageToken'] = pageToken;
    if (settings.queryResultsTimeoutMs !== undefined) qs['timeoutMs'] = settings.queryResultsTimeoutMs;
    const ctx: CallContext = { op: 'jobs.getQueryResults', signal, jobId: job.id, jobLocation: job.location, jobScoped: true };
    let delay = poll.initialDelayMs;
    for (;;) {
      // Not job.getQueryResults, which JSON.parse's and deep-copies every ~8.6 MB page (most of
      // a refresh's CPU and memory): the client's own authenticated, retrying request stream,
      // read as bytes (fetchQueryResults in bigquery-results.ts says how, and what it keeps).
      const page = await call(ctx, (abandoned) => fetchQueryResults(bq, job, qs, fields, abandoned));
      if (page.meta.jobComplete !== false) return page;
      await sleep(delay, signal);
      delay = Math.min(poll.maxDelayMs, Math.max(1, delay * 2));
    }
  }

  async function jobMetadata(job: Job, signal: AbortSignal | undefined): Promise<JobMetadata> {
    const ctx: CallContext = { op: 'jobs.get', signal, jobId: job.id, jobLocation: job.location, jobScoped: true };
    return call(ctx, async () => (await job.getMetadata())[0]);
  }

  function makeRead(job: Job, firstPage: ResultsPage, stats: SourceStats, request: OpenReadRequest): SourceRead {
    let fields: WireField[] = firstPage.meta.schema?.fields ?? [];
    const jobId = job.id ?? '';
    const location = job.location ?? firstPage.meta.jobReference?.location ?? null;
    const total = firstPage.meta.totalRows;
    const totalRows = total === undefined || total === null ? null : Number(total);
    // Held only until pages() takes it, so that a read never keeps more than it is working on.
    let first: ResultsPage | null = firstPage;
    let started = false;
    let closed = false;

    const toPage = (page: ResultsPage): SourcePage => {
      if (page.meta.schema?.fields?.length) fields = page.meta.schema.fields;
      const token = page.meta.pageToken;
      return sourcePage(page.copy, token ? { jobId, location, pageToken: token } : null);
    };

    async function* pages(): AsyncGenerator<SourcePage> {
      if (started) throw new Error('BigQuery source: pages() can be iterated only once per open()');
      started = true;
      if (closed || !first) return;
      let page: SourcePage = toPage(first);
      first = null;
      for (;;) {
        const next = page.resumeAfter as BigQueryResumeState | null;
        // Fetch the following page while the engine loads this one (it becomes COPY text as it
        // arrives): BigQuery, the network, this process and PostgreSQL work at the same time.
        // One page ahead at most, so memory stays bounded by two pages.
        const pending = next && !closed ? readPage(job, request.pageSize, next.pageToken, request.signal, fields).then(toPage) : null;
        pending?.catch(() => undefined); // awaited below; a consumer that stops early never sees it
        yield page;
        if (!pending || closed) return;
        throwIfAborted(request.signal);
        page = await pending;
      }
    }

    return {
      columns: fields.map((f) => f.name),
      totalRows: Number.isFinite(totalRows) ? totalRows : null,
      stats,
      pages,
      async close() {
        closed = true;
      },
    };
  }

  // ---- the source ---------------------------------------------------------------------

  return {
    kind: 'bigquery',

    async open(request: BigQueryOpenReadRequest): Promise<SourceRead> {
      throwIfAborted(request.signal);
      if (request.resume) return resumeRead(request, request.resume);

      const { job } = await insertJob(request);
      let first: ResultsPage;
      try {
        first = await readPage(job, request.pageSize, undefined, request.signal);
      } catch (err) {
        // Stopped while the job runs: nobody will read it (no page was checkpointed), so do
        // not let it run on and bill. Best effort, not awaited.
        if (request.signal?.aborted) void job.cancel().catch(() => undefined);
        throw err;
      }
      const metadata = await jobMetadata(job, request.signal);
      return makeRead(job, first, statsOf(job, metadata, first.meta), request);
    },

    async estimateBytes(request: BigQueryOpenReadRequest): Promise<bigint> {
      const query: Query = { ...queryOptions(request), dryRun: true };
      delete query.maximumBytesBilled;
      const ctx: CallContext = { op: 'jobs.insert (dry run)', signal: request.signal, jobLocation: query.location };
      const [, metadata] = await call(ctx, () => bq.createQueryJob(query));
      const bytes = metadata.statistics?.totalBytesProcessed ?? metadata.statistics?.query?.totalBytesProcessed;
      return bytes === undefined || bytes === null ? 0n : BigInt(bytes);
    },
  };

  async function resumeRead(request: BigQueryOpenReadRequest, resume: ResumeState): Promise<SourceRead> {
    const state = parseResumeState(resume);
    const job = bq.job(state.jobId, state.location ? { location: state.location } : {});
    const page = await readPage(job, request.pageSize, state.pageToken, request.signal);
    // The job and its bill belong to the read that started it; continuing it processes and
    // bills nothing more, so a resumed read reports no bytes (an audit row per slice would
    // otherwise count the same bytes twice against the daily budget).
    const stats: SourceStats = { jobId: state.jobId };
    const location = job.location ?? page.meta.jobReference?.location ?? state.location;
    if (location) stats.location = location;
    return makeRead(job, page, stats, request);
  }
}

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

function statsOf(job: Job, metadata: JobMetadata, page: WireQueryResults): SourceStats {
  const stats: SourceStats = {};
  const jobId = job.id ?? metadata.jobReference?.jobId ?? page.jobReference?.jobId;
  const location = metadata.jobReference?.location ?? job.location ?? page.jobReference?.location;
  if (jobId) stats.jobId = jobId;
  if (location) stats.location = location;
  const q = metadata.statistics?.query;
  const processed = q?.totalBytesProcessed ?? metadata.statistics?.totalBytesProcessed ?? page.totalBytesProcessed;
  if (processed !== undefined && processed !== null) stats.bytesProcessed = BigInt(processed);
  if (q?.totalBytesBilled !== undefined && q.totalBytesBilled !== null) stats.bytesBilled = BigInt(q.totalBytesBilled);
  const cacheHit = q?.cacheHit ?? page.cacheHit;
  if (typeof cacheHit === 'boolean') stats.cacheHit = cacheHit;
  return stats;
}

/** A page of the source: its rows as COPY text, and as arrays only if someone asks. */
function sourcePage(copy: CopyRows | null, resumeAfter: BigQueryResumeState | null): SourcePage {
  if (!copy || copy.rowCount === 0) return { rows: [], resumeAfter };
  const copyText = copy.text;
  let rows: TextValue[][] | undefined;
  return {
    get rows() {
      return (rows ??= parseCopyText(copyText));
    },
    copyText,
    resumeAfter,
  };
}

function parseResumeState(resume: ResumeState): BigQueryResumeState {
  const { jobId, location, pageToken } = resume as Partial<Record<string, unknown>>;
  if (typeof jobId !== 'string' || !jobId || typeof pageToken !== 'string' || !pageToken) {
    // Not something this source wrote: start over from the watermark.
    throw new SourceError('BigQuery source: the resume state is not a { jobId, location, pageToken }', {
      reason: 'invalidResumeState',
      retryable: false,
      expired: true,
    });
  }
  return { jobId, location: typeof location === 'string' && location ? location : null, pageToken };
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

/** A job that ended with status.errorResult, found after a 409 on our own insert. */
class JobFailedError extends Error {
  readonly errors: { reason?: string | null; message?: string | null; location?: string | null }[];
  readonly jobFailed = true;
  constructor(metadata: JobMetadata) {
    const result = metadata.status?.errorResult ?? {};
    super(result.message ?? 'BigQuery job failed');
    this.errors = metadata.status?.errors?.length ? metadata.status.errors : [result];
  }
}

class RequestTimeoutError extends Error {
  override name = 'RequestTimeoutError';
}

interface Failure {
  code?: number | string;
  reason?: string;
  errorLocation?: string;
  message: string;
  retryable: boolean;
  /** The job ran and failed (as opposed to a call that failed). */
  jobFailed: boolean;
}

/** What went wrong, in BigQuery's terms, and whether trying again may help. */
function classify(err: unknown): Failure {
  if (err instanceof RequestTimeoutError) {
    return { code: 'ETIMEDOUT', reason: 'timeout', message: err.message, retryable: true, jobFailed: false };
  }
  const e = (err ?? {}) as {
    code?: unknown;
    errors?: { reason?: unknown; location?: unknown; message?: unknown }[];
    message?: unknown;
    response?: { status?: { errorResult?: unknown } };
    type?: unknown;
    jobFailed?: unknown;
    cause?: { code?: unknown };
  };
  const code = typeof e.code === 'number' || typeof e.code === 'string' ? e.code : undefined;
  const first = Array.isArray(e.errors) ? e.errors[0] : undefined;
  const reason = typeof first?.reason === 'string' ? first.reason : undefined;
  const errorLocation = typeof first?.location === 'string' && first.location ? first.location : undefined;
  const message = cleanMessage(
    typeof e.message === 'string' && e.message ? e.message : typeof first?.message === 'string' ? first.message : String(err),
  );
  const jobFailed = e.jobFailed === true || (code === undefined && e.response?.status?.errorResult !== undefined);
  const causeCode = typeof e.cause?.code === 'string' ? e.cause.code : undefined;

  let retryable = false;
  if (typeof code === 'number') retryable = code === 408 || code === 429 || code >= 500;
  if (reason !== undefined && RETRYABLE_REASONS.has(reason)) retryable = true;
  if (typeof code === 'string' && CONNECTION_CODES.has(code)) retryable = true;
  if (causeCode !== undefined && CONNECTION_CODES.has(causeCode)) retryable = true;
  if (code === undefined && reason === undefined && (e.type === 'system' || CONNECTION_MESSAGE.test(message))) retryable = true;
  // Reasons that never get better by trying again, whatever the status said.
  if (reason === 'bytesBilledLimitExceeded' || reason === 'invalidQuery' || reason === 'quotaExceeded') retryable = false;

  const failure: Failure = { message, retryable, jobFailed };
  if (code !== undefined) failure.code = code;
  if (reason !== undefined) failure.reason = reason;
  if (errorLocation !== undefined) failure.errorLocation = errorLocation;
  return failure;
}

/** No credentials or key material in messages; bounded length. */
function cleanMessage(message: string): string {
  return message
    .replace(/-----BEGIN [A-Z ]+-----[\s\S]*?-----END [A-Z ]+-----/g, '[redacted key]')
    .replace(/\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+/gi, '$1 [redacted]')
    .replace(/\b(access_token|refresh_token|id_token|client_secret|private_key|key|token)=([^&\s"']+)/gi, '$1=[redacted]')
    .slice(0, 2000);
}

function isDuplicate(err: unknown): boolean {
  const e = err as { code?: unknown; errors?: { reason?: unknown }[] } | null;
  return e?.code === 409 || e?.errors?.[0]?.reason === 'duplicate';
}

function backoff(attempt: number, retry: BigQueryRetrySettings): number {
  const cap = Math.min(retry.maxDelayMs, retry.baseDelayMs * 2 ** (attempt - 1));
  // "Equal jitter": half fixed, half random, so retries of many readers spread out.
  return cap / 2 + Math.random() * (cap / 2);
}

function abortReason(signal: AbortSignal): unknown {
  return signal.reason ?? new DOMException('This operation was aborted', 'AbortError');
}

function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw abortReason(signal);
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(abortReason(signal));
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(abortReason(signal!));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Runs `fn` but settles within `ms` or when `signal` aborts, whichever comes first. The
 * client offers neither a timeout nor an AbortSignal, so a request that loses the race is
 * abandoned: `fn`'s signal aborts (a result stream is destroyed then); a client call may still
 * finish in the background, and its outcome is ignored.
 */
function bounded<T>(fn: (abandoned: AbortSignal) => Promise<T>, ms: number, signal: AbortSignal | undefined): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let settled = false;
    const abandoned = new AbortController();
    const finish = (): boolean => {
      if (settled) return false;
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      return true;
    };
    const onAbort = (): void => {
      if (finish()) {
        abandoned.abort();
        reject(abortReason(signal!));
      }
    };
    const timer = setTimeout(() => {
      if (finish()) {
        abandoned.abort();
        reject(new RequestTimeoutError(`no answer from BigQuery within ${ms} ms`));
      }
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
    let p: Promise<T>;
    try {
      p = fn(abandoned.signal);
    } catch (err) {
      p = Promise.reject(err);
    }
    p.then(
      (value) => {
        if (finish()) resolve(value);
      },
      (err: unknown) => {
        if (finish()) reject(err);
      },
    );
  });
}
