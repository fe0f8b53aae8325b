// A query job's life as BigQuery really lives it: inserted under an id we choose (so a lost
// answer is found again, not run twice), read page by page, and — when the JOB fails for a
// transient reason — replaced by a new job, the dead one cancelled and recorded.
//
// How Google's own python client does it (google/cloud/bigquery/retry.py, job/query.py,
// _job_helpers.py), and what is taken from it here:
//  - getQueryResults of a failed job answers with an HTTP error carrying the job's reason
//    (400 jobInternalError…, or an ambiguous 5xx backendError). Only jobs.get tells a failed
//    job from a failed call: a job is re-run only once jobs.get shows it DONE with an
//    errorResult whose reason is in JOB_RETRY_REASONS (bigquery-calls.ts).
//  - After a 409 duplicate on our own insert, jobs.get may answer 404 for a while
//    (python-bigquery #2134): that 404 is retried; if it never clears, the job is taken as
//    never created and a new one is inserted.
//  - Every job-scoped call carries the job's location (the client sends `location` once the
//    Job knows it); outside the US/EU multi-regions BigQuery answers 404 without it.
import { randomUUID } from 'node:crypto';
import type { BigQuery, Job, JobMetadata, Query } from '@google-cloud/bigquery';
import { SourceError } from '../source.ts';
import { backoff, isJobNotFound, JOB_RETRY_REASONS, JobFailedError, sleep, type BigQueryRetrySettings, type Call, type CallContext } from './bigquery-calls.ts';
import type { WireField } from './bigquery-types.ts';
import type { DecodePool } from '../decode/decode-pool.ts';
import { fetchQueryResults } from './bigquery-results.ts';
import type { ResultsPage } from './bigquery-wire.ts';
import type { ReadOptions } from './bigquery-wire-rows.ts';

/** One query job a read started, as recorded in the audit row (`stats.jobs`). */
export interface BigQueryJobRecord {
  jobId: string;
  location?: string;
  /**
   * read: its results are the read's; failed: it ended with an error; cancelled: stopped by us
   * while it ran; unread: it finished but the read gave up on it; lost: inserted (409) but never
   * found again.
   */
  outcome: 'read' | 'failed' | 'cancelled' | 'unread' | 'lost';
  reason?: string;
  message?: string;
  /** statistics.query.totalBytesBilled as BigQuery reported it (decimal string). */
  bytesBilled?: string;
}

export interface JobRunnerSettings {
  bq: BigQuery;
  call: Call;
  retry: BigQueryRetrySettings;
  /** Jobs a read may start for one query (1 = never re-run a failed job). */
  jobAttempts: number;
  poll: { initialDelayMs: number; maxDelayMs: number };
  queryResultsTimeoutMs?: number | undefined;
  /** Where result pages become COPY text (the process's decode pool). */
  decoder: DecodePool;
}

/** A query job whose first result page is in. */
export interface StartedQuery {
  job: Job;
  first: ResultsPage;
  metadata: JobMetadata;
  /** Every job started for this read, the one read last. */
  jobs: BigQueryJobRecord[];
}

/** The query-job side of the source over these settings: run a query (re-running failed jobs), read a page. */
export function createJobRunner(s: JobRunnerSettings) {
  return {
    runQuery: (...args: AfterSettings<typeof runQuery>) => runQuery(s, ...args),
    readPage: (...args: AfterSettings<typeof readPage>) => readPage(s, ...args),
  };
}

/** The parameters of a function of the settings, after the settings. */
type AfterSettings<F> = F extends (s: JobRunnerSettings, ...rest: infer R) => unknown ? R : never;

/**
 * Runs the query as a job and reads its first page; re-runs it as a new job when the job fails
 * transiently. At most `jobAttempts` jobs in all, whether they failed at start or later.
 */
async function runQuery(s: JobRunnerSettings, query: Query, jobIdPrefix: string, pageSize: number, read: ReadOptions, signal: AbortSignal | undefined): Promise<StartedQuery> {
  const jobs: BigQueryJobRecord[] = [];
  for (let attempt = 1; ; attempt++) {
    const job = await insertJob(s, query, jobIdPrefix, jobs, signal);
    try {
      const first = await readPage(s, job, pageSize, undefined, signal, [], true, read);
      const metadata = await jobMetadata(s, job, signal);
      jobs.push(recordOf(job, metadata, 'read'));
      return { job, first, metadata, jobs };
    } catch (err) {
      if (signal?.aborted) {
        // Nobody will read this job (no page was checkpointed): do not let it run on and bill.
        void job.cancel().catch(() => undefined);
        throw err;
      }
      const failed = err instanceof JobFailedError ? err : await failureOfJob(s, job, signal);
      // Given up on (its results unread, no page checkpointed): cancelled, so that a job still
      // running stops billing — the next try starts a new one anyway.
      jobs.push(await abandon(s, job, failed, signal));
      if (!failed) throw withJobs(err, jobs);
      if (!retryableJob(failed) || jobs.length >= s.jobAttempts) throw jobFailure(failed, err, jobs, jobs.length, 'jobs.getQueryResults');
      await sleep(backoff(attempt, s.retry), signal);
    }
  }
}

/** Inserts the query job; a job that fails at start for a transient reason is replaced by a new one. */
async function insertJob(s: JobRunnerSettings, query: Query, prefix: string, jobs: BigQueryJobRecord[], signal: AbortSignal | undefined): Promise<Job> {
  const location = typeof query.location === 'string' ? query.location : undefined;
  for (let attempt = 1; ; attempt++) {
    const jobId = `${prefix}${randomUUID()}`;
    try {
      return await insertWithId(s, query, jobId, location, signal);
    } catch (err) {
      if (err instanceof SourceError && err.details['lostAfterConflict']) {
        jobs.push({ jobId, ...(location ? { location } : {}), outcome: 'lost', reason: 'notFound', message: err.message });
        if (jobs.length >= s.jobAttempts) throw withJobs(err, jobs);
        continue;
      }
      if (err instanceof SourceError && JOB_ONLY_REASONS.has(String(err.details.reason))) {
        // jobs.insert answered with an HTTP error naming a job-level reason (as python-bigquery's
        // _query_job_insert_should_retry reads it): a new job id may run.
        jobs.push({ jobId, ...(location ? { location } : {}), outcome: 'failed', reason: String(err.details.reason), message: err.message });
        if (jobs.length >= s.jobAttempts) throw withJobs(err, jobs);
        await sleep(backoff(attempt, s.retry), signal);
        continue;
      }
      if (!(err instanceof JobFailedError)) throw withJobs(err, jobs);
      jobs.push(failedRecord(jobId, location, err, 'failed'));
      if (!retryableJob(err) || jobs.length >= s.jobAttempts) throw jobFailure(err, err, jobs, jobs.length, 'jobs.insert');
      await sleep(backoff(attempt, s.retry), signal);
    }
  }
}

/** jobs.insert under our id; a 409 for it means an earlier try of ours made the job. */
async function insertWithId({ bq, call }: JobRunnerSettings, query: Query, jobId: string, location: string | undefined, signal: AbortSignal | undefined): Promise<Job> {
  const ctx: CallContext = { op: 'jobs.insert', signal, jobId, jobLocation: location };
  try {
    return await call(ctx, async () => {
      try {
        return (await bq.createQueryJob({ ...query, jobId }))[0];
      } catch (err) {
        // HTTP 200 with status.errorResult: the job was created and failed at start.
        const job = (err as { code?: unknown; response?: JobMetadata }).response;
        if ((err as { code?: unknown }).code === undefined && job?.status?.errorResult) throw new JobFailedError(job, jobId);
        throw err;
      }
    });
  } catch (err) {
    if (!(err instanceof SourceError && (err.details.code === 409 || err.details.reason === 'duplicate'))) throw err;
    // An earlier try of ours created the job (its answer was lost): carry on with it.
    return jobAfterConflict({ bq, call }, jobId, location, signal);
  }
}

/** The job a 409 says exists, found with jobs.get (a 404 retried for a while: python-bigquery #2134). */
async function jobAfterConflict({ bq, call }: Pick<JobRunnerSettings, 'bq' | 'call'>, jobId: string, location: string | undefined, signal: AbortSignal | undefined): Promise<Job> {
  const job = bq.job(jobId, location ? { location } : {});
  const ctx: CallContext = { op: 'jobs.get (after 409)', signal, jobId, jobLocation: location, retryAlso: isJobNotFound };
  let metadata: JobMetadata;
  try {
    metadata = await call(ctx, async () => (await job.getMetadata())[0]);
  } catch (err) {
    if (err instanceof SourceError && isJobNotFound({ code: err.details.code, reason: err.details.reason, message: err.message })) {
      // 404 for as long as we asked: BigQuery has no such job after all.
      err.details['lostAfterConflict'] = true;
    }
    throw err;
  }
  if (metadata.status?.errorResult) throw new JobFailedError(metadata, jobId);
  if (metadata.jobReference?.location) job.location = metadata.jobReference.location;
  return job;
}

/**
 * One complete result page at `pageToken` (undefined: the first), polling while the job
 * runs. `watchJob`: before retrying a failed read, ask jobs.get whether the job itself
 * failed (then throw JobFailedError: retrying the read cannot help).
 */
async function readPage(
  s: JobRunnerSettings,
  job: Job,
  pageSize: number,
  pageToken: string | undefined,
  signal: AbortSignal | undefined,
  fields: readonly WireField[],
  watchJob: boolean,
  read: ReadOptions,
): Promise<ResultsPage> {
  // What job.getQueryResults would send: TIMESTAMP as int64 µs (bigquery-types.ts relies on it).
  const qs: Record<string, string | number | boolean> = { 'formatOptions.useInt64Timestamp': true, maxResults: pageSize };
  if (job.location) qs['location'] = job.location;
  if (pageToken) qs['pageToken'] = pageToken;
  if (s.queryResultsTimeoutMs !== undefined) qs['timeoutMs'] = s.queryResultsTimeoutMs;
  const ctx: CallContext = { op: 'jobs.getQueryResults', signal, jobId: job.id, jobLocation: job.location, jobScoped: true };
  if (watchJob) {
    ctx.onRetry = async () => {
      const failed = await failureOfJob(s, job, signal);
      if (failed) throw failed;
    };
  }
  let delay = s.poll.initialDelayMs;
  for (;;) {
    // Not job.getQueryResults, which JSON.parse's and deep-copies every page (most of a
    // refresh's CPU and memory): the client's own authenticated, retrying request stream,
    // read as bytes (fetchQueryResults in bigquery-results.ts says how, and what it keeps).
    const page = await s.call(ctx, (abandoned) => fetchQueryResults(s.bq, job, qs, fields, read, s.decoder, abandoned));
    if (page.meta.jobComplete !== false) return page;
    page.release();
    await sleep(delay, signal);
    delay = Math.min(s.poll.maxDelayMs, Math.max(1, delay * 2));
  }
}

/** jobs.get of a job. */
async function jobMetadata({ call }: Pick<JobRunnerSettings, 'call'>, job: Job, signal: AbortSignal | undefined): Promise<JobMetadata> {
  const ctx: CallContext = { op: 'jobs.get', signal, jobId: job.id, jobLocation: job.location, jobScoped: true };
  return call(ctx, async () => (await job.getMetadata())[0]);
}

/** The job's failure if jobs.get shows it DONE with an errorResult; null if not (or if jobs.get fails too). */
async function failureOfJob(s: Pick<JobRunnerSettings, 'call'>, job: Job, signal: AbortSignal | undefined): Promise<JobFailedError | null> {
  try {
    const metadata = await jobMetadata(s, job, signal);
    return metadata.status?.state === 'DONE' && metadata.status.errorResult ? new JobFailedError(metadata, job.id) : null;
  } catch {
    return null;
  }
}

/** Cancels an abandoned job (a no-op for a job already DONE) and records what it billed. */
async function abandon({ call }: Pick<JobRunnerSettings, 'call'>, job: Job, failed: JobFailedError | null, signal: AbortSignal | undefined): Promise<BigQueryJobRecord> {
  const record: BigQueryJobRecord = failed
    ? failedRecord(job.id ?? failed.jobId ?? '?', job.location, failed, 'failed')
    : { jobId: job.id ?? '?', ...(job.location ? { location: job.location } : {}), outcome: 'cancelled' };
  try {
    const ctx: CallContext = { op: 'jobs.cancel', signal, jobId: job.id, jobLocation: job.location, jobScoped: true };
    const [answer] = await call(ctx, () => job.cancel());
    const metadata = (answer as { job?: JobMetadata }).job;
    const billed = metadata?.statistics?.query?.totalBytesBilled;
    if (billed !== undefined && billed !== null) record.bytesBilled = String(billed);
    if (metadata?.status?.errorResult?.reason === 'stopped') record.outcome = 'cancelled';
    else if (!failed && metadata?.status?.state === 'DONE') record.outcome = 'unread';
  } catch {
    // Best effort: a job we could not cancel is recorded as we last knew it.
  }
  return record;
}

/** Reasons that only ever describe a job (never a call): a new job, never the same call again. */
const JOB_ONLY_REASONS = new Set(['jobBackendError', 'jobInternalError', 'jobRateLimitExceeded']);

function retryableJob(failed: JobFailedError): boolean {
  return failed.reason !== undefined && JOB_RETRY_REASONS.has(failed.reason);
}

function recordOf(job: Job, metadata: JobMetadata, outcome: BigQueryJobRecord['outcome']): BigQueryJobRecord {
  const record: BigQueryJobRecord = { jobId: job.id ?? metadata.jobReference?.jobId ?? '?', outcome };
  const location = metadata.jobReference?.location ?? job.location;
  if (location) record.location = location;
  const billed = metadata.statistics?.query?.totalBytesBilled;
  if (billed !== undefined && billed !== null) record.bytesBilled = String(billed);
  return record;
}

function failedRecord(jobId: string, location: string | undefined, failed: JobFailedError, outcome: BigQueryJobRecord['outcome']): BigQueryJobRecord {
  const record: BigQueryJobRecord = { jobId, outcome, message: failed.message };
  if (location) record.location = location;
  if (failed.reason) record.reason = failed.reason;
  return record;
}

/** The read's error, carrying every job it started (`details.jobs`). */
function withJobs(err: unknown, jobs: BigQueryJobRecord[]): unknown {
  if (err instanceof SourceError && jobs.length > 0) err.details['jobs'] = jobs;
  return err;
}

/** A job that failed: final (its reason), or transient but out of attempts (retryable for the runner). */
function jobFailure(failed: JobFailedError, original: unknown, jobs: BigQueryJobRecord[], attempts: number, operation: string): SourceError {
  const transient = retryableJob(failed);
  const details: SourceError['details'] = { retryable: transient, reason: failed.reason, message: failed.message, operation, jobId: failed.jobId, jobs };
  const location = failed.errors[0]?.location;
  if (location) details.location = location;
  if (original instanceof SourceError && original.details.code !== undefined) details.code = original.details.code;
  const message = transient
    ? `BigQuery job failed ${attempts} times (${failed.reason}): ${failed.message}`
    : `BigQuery job ${failed.jobId ?? '?'} failed: ${failed.message}`;
  return new SourceError(message, details);
}

/** What createJobRunner returns. */
export type JobRunner = ReturnType<typeof createJobRunner>;
