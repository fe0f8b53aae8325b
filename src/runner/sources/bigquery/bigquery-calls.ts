// Every BigQuery API call of the source goes through `call`: bounded by our own timeout and
// the caller's signal (the client has neither), its failure classified in BigQuery's terms,
// and retried with backoff when asking again may help. Retrying a *job* (a new job after a
// failed one) is a different decision, taken in bigquery-jobs.ts.
import type { JobMetadata } from '@google-cloud/bigquery';
import { SourceError } from '../source.ts';

/** Our own retry of failures that still reach us after the client's retries. */
export interface BigQueryRetrySettings {
  /** Total tries of one call (1 = no retry of our own). */
  attempts: number;
  /** Backoff before retry n: up to min(maxDelayMs, baseDelayMs * 2^(n-1)), with jitter. */
  baseDelayMs: number;
  maxDelayMs: number;
}

/**
 * Reasons of a failed CALL that the same call may get past (python-bigquery's
 * `_RETRYABLE_REASONS`, plus userRateLimitExceeded). The job-level reasons (jobBackendError,
 * jobInternalError, jobRateLimitExceeded) are not here: they say the job died, and asking
 * the dead job again only repeats the answer; bigquery-jobs.ts starts a new job for them.
 */
const RETRYABLE_REASONS = new Set(['rateLimitExceeded', 'userRateLimitExceeded', 'backendError', 'internalError', 'badGateway']);

/** Reasons that never get better by trying again, whatever the HTTP status said. */
const FINAL_REASONS = new Set(['bytesBilledLimitExceeded', 'invalidQuery', 'quotaExceeded']);

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

export interface CallContext {
  op: string;
  signal?: AbortSignal | undefined;
  jobId?: string | undefined;
  jobLocation?: string | undefined;
  /** The call names an existing job: a 404 means the job is gone. */
  jobScoped?: boolean;
  /** Also retry failures `classify` calls final (a 404 of jobs.get right after a 409). */
  retryAlso?: (failure: Failure) => boolean;
  /**
   * Before each retry of ours. May throw to stop retrying: when jobs.get shows that the job
   * behind a failing getQueryResults has itself failed, asking again cannot help.
   */
  onRetry?: (failure: Failure) => void | Promise<void>;
}

/** What a call of the source looks like: `call(ctx, fn)`. */
export type Call = <T>(ctx: CallContext, fn: (abandoned: AbortSignal) => Promise<T>) => Promise<T>;

/** Runs API calls with a timeout per attempt, the caller's signal, and our retries. */
export function createCaller(retry: BigQueryRetrySettings, requestTimeoutMs: number): Call {
  return async function call<T>(ctx: CallContext, fn: (abandoned: AbortSignal) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      throwIfAborted(ctx.signal);
      try {
        return await bounded(fn, requestTimeoutMs, ctx.signal);
      } catch (err) {
        if (ctx.signal?.aborted) throw abortReason(ctx.signal);
        if (err instanceof SourceError || err instanceof JobFailedError) throw err;
        const failure = classify(err);
        const retryable = failure.retryable || (ctx.retryAlso?.(failure) ?? false);
        if (!retryable || attempt >= retry.attempts) throw toSourceError(ctx, failure, attempt);
        await ctx.onRetry?.(failure);
        await sleep(backoff(attempt, retry), ctx.signal);
      }
    }
  };
}

function toSourceError(ctx: CallContext, f: Failure, attempts: number): SourceError {
  const details: SourceError['details'] = { retryable: false, message: f.message, operation: ctx.op, attempts };
  if (f.code !== undefined) details.code = f.code;
  if (f.reason !== undefined) details.reason = f.reason;
  if (f.errorLocation !== undefined) details.location = f.errorLocation;
  if (ctx.jobId) details.jobId = ctx.jobId;
  if (ctx.jobLocation) details.jobLocation = ctx.jobLocation;
  if (ctx.jobScoped && isJobNotFound(f)) {
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

/** A 404 about the job itself, not about a table, dataset… the query names. */
export function isJobNotFound(f: Pick<Failure, 'code' | 'reason' | 'message'>): boolean {
  const notFound = f.code === 404 || f.reason === 'notFound';
  return notFound && !/not found:\s*(table|dataset|project|model|routine|view)\b/i.test(f.message);
}

/** A job that ended with status.errorResult (seen through jobs.insert, jobs.get or jobs.cancel). */
export class JobFailedError extends Error {
  override name = 'JobFailedError';
  readonly errors: { reason?: string | null; message?: string | null; location?: string | null }[];
  readonly jobFailed = true;
  readonly reason: string | undefined;
  constructor(
    metadata: JobMetadata,
    readonly jobId: string | undefined,
  ) {
    const result = metadata.status?.errorResult ?? {};
    super(result.message ?? 'BigQuery job failed');
    this.reason = result.reason ?? undefined;
    this.errors = metadata.status?.errors?.length ? [result, ...metadata.status.errors] : [result];
  }
}

class RequestTimeoutError extends Error {
  override name = 'RequestTimeoutError';
}

export interface Failure {
  code?: number | string;
  reason?: string;
  errorLocation?: string;
  message: string;
  retryable: boolean;
  /** The job ran and failed (as opposed to a call that failed). */
  jobFailed: boolean;
}

/** What went wrong, in BigQuery's terms, and whether the same call may succeed if repeated. */
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
    transient?: unknown;
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
  // A job that failed at start for a job-level reason: a new job (new id) may run.
  if (jobFailed && reason !== undefined && JOB_RETRY_REASONS.has(reason)) retryable = true;
  if (typeof code === 'string' && CONNECTION_CODES.has(code)) retryable = true;
  if (causeCode !== undefined && CONNECTION_CODES.has(causeCode)) retryable = true;
  if (code === undefined && reason === undefined && (e.type === 'system' || CONNECTION_MESSAGE.test(message))) retryable = true;
  // Says so itself: a decode worker that died while converting the answer (decode-pool.ts).
  if (e.transient === true) retryable = true;
  // A 400 with a job-level reason reports the job's failure: the call itself cannot succeed.
  if (reason !== undefined && FINAL_REASONS.has(reason)) retryable = false;

  const failure: Failure = { message, retryable, jobFailed };
  if (code !== undefined) failure.code = code;
  if (reason !== undefined) failure.reason = reason;
  if (errorLocation !== undefined) failure.errorLocation = errorLocation;
  return failure;
}

/**
 * Reasons of a FAILED JOB that a new job may not meet (python-bigquery's `job_retry_reasons`
 * plus the ambiguous call reasons its `_job_should_retry` accepts once jobs.get has shown
 * them in the job's errorResult).
 */
export const JOB_RETRY_REASONS = new Set([
  'jobBackendError',
  'jobInternalError',
  'jobRateLimitExceeded',
  'backendError',
  'internalError',
  'rateLimitExceeded',
  'badGateway',
]);

/** No credentials or key material in messages; bounded length. */
function cleanMessage(message: string): string {
  return message
    .replace(/-----BEGIN [A-Z ]+-----[\s\S]*?-----END [A-Z ]+-----/g, '[redacted key]')
    .replace(/\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+/gi, '$1 [redacted]')
    .replace(/\b(access_token|refresh_token|id_token|client_secret|private_key|key|token)=([^&\s"']+)/gi, '$1=[redacted]')
    .slice(0, 2000);
}

/** Backoff before retry `attempt` (1-based): equal jitter up to the capped exponential. */
export function backoff(attempt: number, retry: BigQueryRetrySettings): number {
  const cap = Math.min(retry.maxDelayMs, retry.baseDelayMs * 2 ** (attempt - 1));
  // "Equal jitter": half fixed, half random, so retries of many readers spread out.
  return cap / 2 + Math.random() * (cap / 2);
}

function abortReason(signal: AbortSignal): unknown {
  return signal.reason ?? new DOMException('This operation was aborted', 'AbortError');
}

export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw abortReason(signal);
}

export function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
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
