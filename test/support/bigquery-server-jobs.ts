// The query jobs of the BigQuery test server: their state from insert to DONE, failures at
// start or while running, cancellation, and the job resource BigQuery describes them with.
import { randomUUID } from 'node:crypto';
import { HttpError } from './bigquery-server-http.ts';
import { referencedTablesOf, unknownQueryError, type ResolvedFixture } from './bigquery-server-fixtures.ts';
import type { JobError, JobSnapshot, ReceivedQuery } from './bigquery-server-types.ts';
import { asObject } from './bigquery-server-wire.ts';

export const PREFIX = '/bigquery/v2/projects/';

/** BigQuery's multi-regions: jobs there are found without `location`. */
const MULTI_REGIONS = new Set(['US', 'EU']);

export interface JobState {
  projectId: string;
  jobId: string;
  location: string;
  received: ReceivedQuery;
  fixture?: ResolvedFixture;
  /** Set when the job fails at start. */
  startError?: { reason: string; message: string; location?: string };
  pendingPolls: number;
  resultReads: number;
  cancelled: boolean;
  /** A failure while running (failNextJobs / failJob): the job's errorResult once it is done. */
  failure?: JobError;
  creationTime: number;
  endTime?: number;
}


const jobKey = (p: string, id: string): string => `${p}\u0000${id}`;

export class JobStore {
  private jobs = new Map<string, JobState>();
  /** Failures the next created jobs meet while running (failNextJobs). */
  private failures: JobError[] = [];
  private readonly listeners = new Set<(job: JobSnapshot) => void>();

  constructor(private readonly defaultLocation: string) {}

  has(p: string, jobId: string): boolean {
    return this.jobs.has(jobKey(p, jobId));
  }

  delete(p: string, jobId: string): void {
    this.jobs.delete(jobKey(p, jobId));
  }

  /** The finished job whose result table is 'projects/p/datasets/d/tables/t' (destinationTableOf). */
  byDestination(table: string): JobState | undefined {
    return [...this.jobs.values()].find((j) => {
      if (!j.fixture || j.startError || !this.isDone(j) || this.error(j)) return false;
      const t = destinationTableOf(j);
      return table === `projects/${t.projectId}/datasets/${t.datasetId}/tables/${t.tableId}`;
    });
  }

  byId(jobId: string): JobState | undefined {
    return [...this.jobs.values()].find((j) => j.jobId === jobId);
  }

  failNext(error: JobError, times: number): void {
    for (let i = 0; i < times; i++) this.failures.push(error);
  }

  /** Fails a running job now; false if it was done already. */
  fail(jobId: string, error: JobError): boolean {
    const job = this.byId(jobId);
    if (!job || this.isDone(job)) return false;
    job.failure = error;
    job.pendingPolls = 0;
    return true;
  }

  onCreated(listener: (job: JobSnapshot) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  reset(): void {
    this.jobs = new Map();
    this.failures = [];
    this.listeners.clear();
  }

  /** A new query job for `received`, answered by `fixture` (none: the query is unknown). */
  create(p: string, jobId: string, location: string, received: ReceivedQuery, fixture: ResolvedFixture | undefined): JobState {
    const job: JobState = {
      projectId: p,
      jobId,
      location,
      received,
      pendingPolls: 0,
      resultReads: 0,
      cancelled: false,
      creationTime: Date.now(),
    };
    if (!fixture) {
      job.startError = unknownQueryError(received.query);
    } else {
      job.fixture = fixture;
      const limit = received.maximumBytesBilled;
      if (limit !== undefined && /^\d+$/.test(limit) && BigInt(fixture.bytesBilled) > BigInt(limit)) {
        job.startError = {
          reason: 'bytesBilledLimitExceeded',
          message: `Query exceeded limit for bytes billed: ${limit}. ${fixture.bytesBilled} or higher required.`,
        };
      } else {
        job.pendingPolls = fixture.pendingPolls;
        const failure = this.failures.shift();
        if (failure) {
          // Fails while running: RUNNING when inserted, one poll more, then DONE with the error.
          job.failure = failure;
          job.pendingPolls = Math.max(1, job.pendingPolls);
        }
      }
    }
    if (job.startError) job.endTime = job.creationTime;
    this.jobs.set(jobKey(p, jobId), job);
    const snapshot = this.snapshot(job);
    for (const listener of this.listeners) listener(snapshot);
    return job;
  }

  /** The job a job-scoped call names; 404 as BigQuery answers it (location needed outside US/EU). */
  find(p: string, jobId: string, location: string | undefined): JobState {
    const job = this.jobs.get(jobKey(p, jobId));
    // Outside the US and EU multi-regions BigQuery finds a job only with its location.
    const located = location ? location.toUpperCase() === job?.location.toUpperCase() : MULTI_REGIONS.has(job?.location.toUpperCase() ?? '');
    if (!job || !located) {
      throw new HttpError({
        status: 404,
        reason: 'notFound',
        message: `Not found: Job ${p}:${location ?? job?.location ?? this.defaultLocation}.${jobId}`,
      });
    }
    return job;
  }

  /** The job's error, if it has finished with one. */
  error(job: JobState): { reason: string; message: string; location?: string } | undefined {
    if (job.startError) return job.startError;
    if (job.cancelled) return { reason: 'stopped', message: 'Job execution was cancelled: User requested cancellation' };
    if (job.pendingPolls > 0) return undefined;
    return job.failure ? { reason: job.failure.reason, message: job.failure.message } : job.fixture?.fail;
  }

  isDone(job: JobState): boolean {
    return job.startError !== undefined || job.cancelled || job.pendingPolls <= 0;
  }

  /** The job resource of jobs.get (and of jobs.insert, jobs.cancel). */
  resource(job: JobState): unknown {
    const done = this.isDone(job);
    if (done && job.endTime === undefined) job.endTime = Date.now();
    const error = done ? this.error(job) : undefined;
    const statistics: Record<string, unknown> = {
      creationTime: String(job.creationTime),
      startTime: String(job.creationTime),
    };
    if (done) {
      statistics['endTime'] = String(job.endTime);
      if (job.fixture && !job.startError) {
        // A query that ends in an error bills nothing; a cancelled one what it scanned.
        const failed = error !== undefined && !job.cancelled;
        const billed = failed ? String(job.failure?.bytesBilled ?? 0) : job.fixture.bytesBilled;
        statistics['totalBytesProcessed'] = job.fixture.bytesProcessed;
        statistics['query'] = {
          totalBytesProcessed: job.fixture.bytesProcessed,
          totalBytesBilled: billed,
          cacheHit: job.fixture.cacheHit,
          statementType: 'SELECT',
          billingTier: 1,
          ...referencedTablesOf(job.fixture),
        };
      }
    }
    const body = asObject(job.received.body);
    const configuration = asObject(body['configuration']);
    return {
      kind: 'bigquery#job',
      etag: etag(),
      id: `${job.projectId}:${job.location}.${job.jobId}`,
      selfLink: `${PREFIX}${job.projectId}/jobs/${job.jobId}?location=${job.location}`,
      user_email: 'test@bigquery-test-server.invalid',
      configuration: {
        jobType: 'QUERY',
        query: {
          useLegacySql: false,
          ...asObject(configuration['query']),
          query: job.received.query,
          // BigQuery writes every query's result to an anonymous table (readable by the
          // Storage Read API: bigquery-storage-server.ts serves it through destinationTable).
          ...(job.fixture && !job.startError ? { destinationTable: destinationTableOf(job) } : {}),
        },
        ...(Object.keys(job.received.labels).length > 0 ? { labels: job.received.labels } : {}),
      },
      jobReference: { projectId: job.projectId, jobId: job.jobId, location: job.location },
      statistics,
      status: error
        ? { state: 'DONE', errorResult: error, errors: [error] }
        : { state: done ? 'DONE' : 'RUNNING' },
    };
  }

  cancel(job: JobState): unknown {
    if (!this.isDone(job)) {
      job.cancelled = true;
      job.pendingPolls = 0;
    }
    return { kind: 'bigquery#jobCancelResponse', job: this.resource(job) };
  }

  snapshot(job: JobState): JobSnapshot {
    const snapshot: JobSnapshot = {
      projectId: job.projectId,
      jobId: job.jobId,
      location: job.location,
      state: this.isDone(job) ? 'DONE' : 'RUNNING',
      cancelled: job.cancelled,
      resultReads: job.resultReads,
      received: job.received,
    };
    const error = this.isDone(job) ? this.error(job) : undefined;
    if (error) snapshot.error = { reason: error.reason, message: error.message };
    return snapshot;
  }
}

/** The anonymous table a query job's results are written to, as BigQuery names one (`_<hash>`, `anon<hash>`). */
function destinationTableOf(job: Pick<JobState, 'projectId' | 'jobId'>): { projectId: string; datasetId: string; tableId: string } {
  return { projectId: job.projectId, datasetId: ANONYMOUS_DATASET, tableId: `anon${job.jobId.replace(/[^\w]/g, '_')}` };
}

/** The dataset of every job's result table on this server. */
const ANONYMOUS_DATASET = '_sqp_test_results';

export function etag(): string {
  return randomUUID().slice(0, 22);
}
