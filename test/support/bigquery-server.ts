/**
 * bigquery-server.ts — a local HTTP test double for the BigQuery REST v2 API.
 *
 * THIS IS A TEST SERVER, NOT BIGQUERY. It has no SQL engine and no storage: it
 * never parses or runs SQL. A test registers fixtures ("when a query matching X
 * arrives, its result has this schema, these rows and these byte counts"), and the
 * server answers the handful of REST calls that the real `@google-cloud/bigquery`
 * client makes for query jobs, encoding the fixture's rows exactly as BigQuery does
 * on the wire. Anything a fixture does not describe is an error, not a guess.
 *
 * Routes (everything under /bigquery/v2/projects/{projectId}):
 *   POST /jobs                  jobs.insert   (query jobs only; dryRun; maximumBytesBilled; labels)
 *   GET  /jobs/{jobId}          jobs.get      (status, statistics.query.totalBytesProcessed/Billed)
 *   POST /jobs/{jobId}/cancel   jobs.cancel
 *   POST /queries               jobs.query
 *   GET  /queries/{jobId}       jobs.getQueryResults (maxResults, pageToken, startIndex, formatOptions.*)
 *
 * Behaviour that mirrors BigQuery and that a test may rely on:
 *   - INT64 values travel as decimal strings; FLOAT64, NUMERIC, BIGNUMERIC, BOOL too.
 *   - TIMESTAMP travels as int64 microseconds when `formatOptions.useInt64Timestamp=true`
 *     (the client always asks for that), as an ISO string for
 *     `timestampOutputFormat=ISO8601_STRING`, otherwise as float seconds ("1.7040672E9").
 *   - Result schemas use BigQuery's legacy type names (INTEGER, FLOAT, BOOLEAN, RECORD),
 *     as the real API does, whatever name the fixture used.
 *   - `rows` is omitted from a result page that has no rows; `totalRows` is a string.
 *   - A query job that fails at start (no fixture: invalidQuery; over maximumBytesBilled:
 *     bytesBilledLimitExceeded; fixture.fail) is returned by jobs.insert with HTTP 200 and
 *     status.state DONE + status.errorResult (the client turns that into an ApiError whose
 *     `code` is undefined); jobs.getQueryResults on that job and jobs.query answer HTTP 4xx.
 *     Start the server with `insertErrors: 'http'` to have jobs.insert answer HTTP 400.
 *   - Dry runs create no job; an unknown dry-run query is an HTTP 400 invalidQuery.
 *   - Inserting an existing jobId answers 409 `duplicate` (the client then fetches the job);
 *     a jobs.query repeating an earlier `requestId` answers for the earlier job, not a new one.
 *   - Errors always have BigQuery's shape {error:{code,message,status,errors:[{reason,message}]}}.
 *
 * `pendingPolls: n` makes the first n result reads of a job (jobs.getQueryResults, and the
 * inline result of jobs.query) answer `jobComplete: false` with no rows; jobs.get reports
 * state RUNNING until then. There is no waiting: `timeoutMs` is ignored.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';

// ---------------------------------------------------------------------------------------
// Public types
// ---------------------------------------------------------------------------------------

export type FieldType =
  | 'STRING'
  | 'BYTES'
  | 'INT64'
  | 'INTEGER'
  | 'FLOAT64'
  | 'FLOAT'
  | 'NUMERIC'
  | 'BIGNUMERIC'
  | 'BOOL'
  | 'BOOLEAN'
  | 'DATE'
  | 'DATETIME'
  | 'TIME'
  | 'TIMESTAMP'
  | 'JSON'
  | 'GEOGRAPHY'
  | 'RECORD'
  | 'STRUCT';

export interface FieldSpec {
  name: string;
  type: FieldType;
  /** Default NULLABLE. */
  mode?: 'NULLABLE' | 'REQUIRED' | 'REPEATED';
  /** Sub-fields of a RECORD/STRUCT. */
  fields?: readonly FieldSpec[];
}

/**
 * A cell as a test writes it. Per type:
 *   INT64: bigint | safe-integer number | decimal string.   FLOAT64: number | string.
 *   NUMERIC/BIGNUMERIC: decimal string | number | bigint | Big (anything with toFixed()).
 *   BOOL: boolean.   DATE: 'YYYY-MM-DD' | Date (its UTC date).   DATETIME: 'YYYY-MM-DDTHH:MM:SS[.ffffff]'.
 *   TIMESTAMP: Date | ISO string (up to microseconds; no zone means UTC) | bigint (epoch µs)
 *              | number (epoch ms).   BYTES: Uint8Array | base64 string.   JSON: string | any value.
 *   null/undefined: NULL.  The client's own wrappers (BigQueryDate, BigQueryInt, ...) are
 *   accepted through their `value`.  RECORD: object by sub-field name, or array by position.
 *   REPEATED: an array of the above (NULL becomes []).
 */
export type CellValue = unknown;

/** A row: an object keyed by field name, or an array in schema order. */
export type Row = Readonly<Record<string, CellValue>> | readonly CellValue[];

/** Rows produced on demand, so a fixture can serve millions without holding them. */
export interface RowSource {
  count: number;
  /** Called only for the rows of the page being served. */
  at(index: number): Row;
}

export interface QueryFixture {
  schema: readonly FieldSpec[];
  /** Default: no rows. */
  rows?: readonly Row[] | RowSource;
  /** statistics.totalBytesProcessed. Default 0. */
  bytesProcessed?: number | bigint | string;
  /** statistics.query.totalBytesBilled. Default: bytesProcessed. */
  bytesBilled?: number | bigint | string;
  /** The first n result reads answer jobComplete:false. Default 0. */
  pendingPolls?: number;
  /** The job fails with this error (after pendingPolls). */
  fail?: { reason: string; message: string };
  cacheHit?: boolean;
}

/** A query parameter as received, values kept as BigQuery reads them (strings). */
export type ParamValue = string | null | ParamValue[] | { [field: string]: ParamValue };

/** What the server saw of one query request (jobs.insert or jobs.query). */
export interface ReceivedQuery {
  via: 'jobs.insert' | 'jobs.query';
  projectId: string;
  query: string;
  /** Named parameters (parameterMode NAMED). */
  params: Record<string, ParamValue>;
  /** Positional parameters (parameterMode POSITIONAL). */
  positionalParams: ParamValue[];
  labels: Record<string, string>;
  dryRun: boolean;
  maximumBytesBilled?: string;
  location: string;
  /** Undefined for dry runs (they create no job). */
  jobId?: string;
  /** The raw JSON body. */
  body: unknown;
}

export type QueryMatcher = string | RegExp | ((q: ReceivedQuery) => boolean);

export type RouteKind = 'insertJob' | 'getJob' | 'cancelJob' | 'query' | 'getQueryResults' | 'unknown';

export type Fault =
  /** Answer with this HTTP error. Default reasons: 400 invalid, 403 accessDenied,
   *  404 notFound, 429 rateLimitExceeded, 500/502 backendError, 503 backendError. */
  | { type: 'http'; status: number; reason?: string; message?: string; delayMs?: number }
  /** Wait, then handle the request normally. */
  | { type: 'delay'; ms: number }
  /** Destroy the socket without an answer. `afterProcessing: true` handles the request
   *  first (e.g. creates the job) and then drops the answer. */
  | { type: 'reset'; afterProcessing?: boolean };

export interface RecordedRequest {
  method: string;
  /** Path without the query string, e.g. /bigquery/v2/projects/p/queries/abc */
  path: string;
  route: RouteKind;
  search: Record<string, string>;
  body?: unknown;
  /** The fault applied to this request, if any. */
  fault?: Fault;
}

export interface JobSnapshot {
  projectId: string;
  jobId: string;
  location: string;
  state: 'RUNNING' | 'DONE';
  error?: { reason: string; message: string };
  cancelled: boolean;
  /** Result reads so far (getQueryResults calls and the jobs.query inline result). */
  resultReads: number;
  received: ReceivedQuery;
}

export interface BigQueryTestServerOptions {
  /** Default 'test-project'. Informational: requests for any project are served. */
  projectId?: string;
  /** Location given to jobs that do not name one. Default 'US'. */
  location?: string;
  /** Page size when a request gives no maxResults. Default 10_000. */
  defaultMaxResults?: number;
  /** How jobs.insert reports a query job that fails at start. Default 'job-status'. */
  insertErrors?: 'job-status' | 'http';
  /** Port to listen on (127.0.0.1). Default: any free port. */
  port?: number;
}

export interface BigQueryTestServer {
  /** e.g. http://127.0.0.1:40123 — pass as `apiEndpoint`. */
  readonly url: string;
  readonly port: number;
  readonly projectId: string;
  /** Register a fixture; the most recently added matching fixture wins. A string matches
   *  the query text exactly, ignoring leading/trailing whitespace and runs of whitespace. */
  addQuery(match: QueryMatcher, fixture: QueryFixture | ((q: ReceivedQuery) => QueryFixture)): void;
  /** Queue a fault for the next `times` (default 1) requests of that route ('any' = all routes).
   *  Faults are consumed in the order they were queued. */
  injectFault(route: RouteKind | 'any', fault: Fault, times?: number): void;
  /** Faults still queued. */
  pendingFaults(): number;
  /** Drops the faults not yet used. */
  clearFaults(): void;
  /** Every request received, in order. */
  readonly requests: readonly RecordedRequest[];
  /** Every query received (including dry runs and failed ones), in order. */
  readonly queries: readonly ReceivedQuery[];
  /** Requests received for a route so far (faulted ones included). */
  count(route: RouteKind): number;
  job(jobId: string): JobSnapshot | undefined;
  /** Options for `new BigQuery(...)`: projectId, apiEndpoint and retries in milliseconds. */
  clientOptions(): {
    projectId: string;
    apiEndpoint: string;
    retryOptions: typeof FAST_RETRY_OPTIONS;
  };
  /** Forget fixtures, faults, jobs and logs. */
  reset(): void;
  close(): Promise<void>;
}

/**
 * Retry settings that make the client's retries take milliseconds. retry-request reads
 * maxRetryDelay and totalTimeout in SECONDS and waits min(multiplier^n s + up to 1 s jitter,
 * maxRetryDelay, time left) — so maxRetryDelay is what keeps retries short. Never let
 * maxRetryDelay be 0 or the totalTimeout deadline pass: retry-request 8 then stops without
 * ever calling back, and the client's promise never settles.
 */
export const FAST_RETRY_OPTIONS = {
  autoRetry: true,
  maxRetries: 3,
  retryDelayMultiplier: 1.1,
  maxRetryDelay: 0.005,
  totalTimeout: 30,
} as const;

// ---------------------------------------------------------------------------------------
// Implementation
// ---------------------------------------------------------------------------------------

interface ApiErrorSpec {
  status: number;
  reason: string;
  message: string;
  location?: string;
}

class HttpError extends Error {
  constructor(readonly spec: ApiErrorSpec) {
    super(spec.message);
  }
}

interface JobState {
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
  creationTime: number;
  endTime?: number;
}

interface ResolvedFixture {
  schema: readonly FieldSpec[];
  count: number;
  at: (index: number) => Row;
  bytesProcessed: string;
  bytesBilled: string;
  pendingPolls: number;
  fail?: { reason: string; message: string };
  cacheHit: boolean;
}

type TimestampFormat = 'int64' | 'iso' | 'float';

const STATUS_TEXT: Record<number, string> = {
  400: 'INVALID_ARGUMENT',
  401: 'UNAUTHENTICATED',
  403: 'PERMISSION_DENIED',
  404: 'NOT_FOUND',
  409: 'ALREADY_EXISTS',
  429: 'RESOURCE_EXHAUSTED',
  500: 'INTERNAL',
  502: 'UNAVAILABLE',
  503: 'UNAVAILABLE',
  504: 'DEADLINE_EXCEEDED',
};

const DEFAULT_REASON: Record<number, string> = {
  400: 'invalid',
  401: 'authError',
  403: 'accessDenied',
  404: 'notFound',
  409: 'duplicate',
  429: 'rateLimitExceeded',
  500: 'backendError',
  502: 'backendError',
  503: 'backendError',
  504: 'backendError',
};

/** HTTP status BigQuery uses when a job error is reported through an API call. */
function statusForReason(reason: string): number {
  switch (reason) {
    case 'notFound':
      return 404;
    case 'accessDenied':
    case 'billingNotEnabled':
    case 'quotaExceeded':
      return 403;
    case 'duplicate':
      return 409;
    case 'rateLimitExceeded':
      return 429;
    case 'backendError':
    case 'internalError':
      return 500;
    default:
      return 400;
  }
}

const PREFIX = '/bigquery/v2/projects/';

export async function startBigQueryTestServer(
  opts: BigQueryTestServerOptions = {},
): Promise<BigQueryTestServer> {
  const projectId = opts.projectId ?? 'test-project';
  const defaultLocation = opts.location ?? 'US';
  const defaultMaxResults = opts.defaultMaxResults ?? 10_000;
  const insertErrors = opts.insertErrors ?? 'job-status';

  let fixtures: { match: QueryMatcher; fixture: QueryFixture | ((q: ReceivedQuery) => QueryFixture) }[] = [];
  let faults: { route: RouteKind | 'any'; fault: Fault }[] = [];
  let requests: RecordedRequest[] = [];
  let queries: ReceivedQuery[] = [];
  let jobs = new Map<string, JobState>();
  /** jobs.query requestId -> job, so a retried jobs.query does not run twice (as in BigQuery). */
  let requestIds = new Map<string, JobState>();
  let counts = new Map<RouteKind, number>();

  const jobKey = (p: string, id: string): string => `${p}\u0000${id}`;

  // ---- request handling ----------------------------------------------------------------

  const server = createServer((req, res) => {
    void handle(req, res).catch((err: unknown) => {
      // A bug in the server or a broken fixture: fail loudly but without a retryable status.
      const message = `bigquery-test-server: ${err instanceof Error ? err.message : String(err)}`;
      sendError(res, { status: 400, reason: 'invalid', message });
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const method = (req.method ?? 'GET').toUpperCase();
    const bodyText = await readBody(req);
    const { route, params } = routeOf(method, url.pathname);
    counts.set(route, (counts.get(route) ?? 0) + 1);

    const search: Record<string, string> = {};
    for (const [k, v] of url.searchParams) search[k] = v;
    let body: unknown;
    if (bodyText.length > 0) {
      try {
        body = JSON.parse(bodyText);
      } catch {
        body = bodyText;
      }
    }
    const record: RecordedRequest = { method, path: url.pathname, route, search };
    if (body !== undefined) record.body = body;
    requests.push(record);

    const faultIndex = faults.findIndex((f) => f.route === 'any' || f.route === route);
    const fault = faultIndex >= 0 ? faults.splice(faultIndex, 1)[0]!.fault : undefined;
    if (fault) {
      record.fault = fault;
      if (fault.type === 'http') {
        if (fault.delayMs) await sleep(fault.delayMs);
        sendError(res, {
          status: fault.status,
          reason: fault.reason ?? DEFAULT_REASON[fault.status] ?? 'invalid',
          message: fault.message ?? `Injected fault: HTTP ${fault.status}`,
        });
        return;
      }
      if (fault.type === 'reset' && !fault.afterProcessing) {
        req.socket.destroy();
        return;
      }
      if (fault.type === 'delay') await sleep(fault.ms);
    }

    let status = 200;
    let payload: unknown;
    try {
      if (typeof body === 'string') {
        throw new HttpError({ status: 400, reason: 'parseError', message: 'Parse Error: body is not JSON' });
      }
      payload = dispatch(route, params, search, body);
    } catch (err) {
      if (!(err instanceof HttpError)) throw err;
      status = err.spec.status;
      payload = errorBody(err.spec);
    }

    if (fault?.type === 'reset') {
      req.socket.destroy();
      return;
    }
    sendJson(res, status, payload);
  }

  function routeOf(method: string, pathname: string): { route: RouteKind; params: string[] } {
    if (!pathname.startsWith(PREFIX)) return { route: 'unknown', params: [] };
    const parts = pathname
      .slice(PREFIX.length)
      .split('/')
      .map((p) => decodeURIComponent(p));
    const [p, collection, id, action] = parts;
    if (!p) return { route: 'unknown', params: [] };
    if (collection === 'jobs') {
      if (parts.length === 2 && method === 'POST') return { route: 'insertJob', params: [p] };
      if (parts.length === 3 && method === 'GET' && id) return { route: 'getJob', params: [p, id] };
      if (parts.length === 4 && method === 'POST' && id && action === 'cancel') {
        return { route: 'cancelJob', params: [p, id] };
      }
    }
    if (collection === 'queries') {
      if (parts.length === 2 && method === 'POST') return { route: 'query', params: [p] };
      if (parts.length === 3 && method === 'GET' && id) return { route: 'getQueryResults', params: [p, id] };
    }
    return { route: 'unknown', params: [] };
  }

  function dispatch(route: RouteKind, params: string[], search: Record<string, string>, body: unknown): unknown {
    switch (route) {
      case 'insertJob':
        return insertJob(params[0]!, asObject(body));
      case 'getJob':
        return jobResource(findJob(params[0]!, params[1]!, search['location']));
      case 'cancelJob':
        return cancelJob(findJob(params[0]!, params[1]!, search['location']));
      case 'query':
        return runQuery(params[0]!, asObject(body));
      case 'getQueryResults':
        return getQueryResults(findJob(params[0]!, params[1]!, search['location']), search);
      case 'unknown':
        throw new HttpError({
          status: 404,
          reason: 'notFound',
          message: 'Not found: this BigQuery test server serves only query-job routes',
        });
    }
  }

  // ---- jobs.insert ---------------------------------------------------------------------

  function insertJob(p: string, body: Record<string, unknown>): unknown {
    const configuration = asObject(body['configuration']);
    const queryConfig = asObject(configuration['query']);
    if (typeof queryConfig['query'] !== 'string') {
      throw new HttpError({
        status: 400,
        reason: 'invalid',
        message: 'bigquery-test-server supports only query jobs (configuration.query.query is required)',
      });
    }
    const ref = asObject(body['jobReference']);
    const dryRun = configuration['dryRun'] === true;
    const location = typeof ref['location'] === 'string' && ref['location'] ? ref['location'] : defaultLocation;
    const jobId = typeof ref['jobId'] === 'string' && ref['jobId'] ? ref['jobId'] : randomUUID();

    const received = receive('jobs.insert', p, queryConfig, configuration['labels'], dryRun, location, body);
    if (dryRun) return dryRunResponse(p, location, received, configuration);

    received.jobId = jobId;
    if (jobs.has(jobKey(p, jobId))) {
      throw new HttpError({ status: 409, reason: 'duplicate', message: `Already Exists: Job ${p}:${location}.${jobId}` });
    }
    const job = createJob(p, jobId, location, received);
    if (job.startError && insertErrors === 'http') {
      jobs.delete(jobKey(p, jobId));
      throw new HttpError({ status: 400, ...job.startError });
    }
    return jobResource(job);
  }

  function dryRunResponse(
    p: string,
    location: string,
    received: ReceivedQuery,
    configuration: Record<string, unknown>,
  ): unknown {
    const fixture = resolveFixture(received);
    if (!fixture) throw new HttpError({ status: 400, ...unknownQueryError(received.query) });
    return {
      kind: 'bigquery#job',
      etag: etag(),
      configuration: { ...configuration, jobType: 'QUERY', dryRun: true },
      jobReference: { projectId: p, location },
      statistics: {
        creationTime: String(Date.now()),
        totalBytesProcessed: fixture.bytesProcessed,
        query: {
          totalBytesProcessed: fixture.bytesProcessed,
          totalBytesBilled: '0',
          totalBytesProcessedAccuracy: 'PRECISE',
          cacheHit: false,
          statementType: 'SELECT',
          schema: { fields: wireSchema(fixture.schema) },
        },
      },
      status: { state: 'DONE' },
    };
  }

  function createJob(p: string, jobId: string, location: string, received: ReceivedQuery): JobState {
    const fixture = resolveFixture(received);
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
      }
    }
    if (job.startError) job.endTime = job.creationTime;
    jobs.set(jobKey(p, jobId), job);
    return job;
  }

  function findJob(p: string, jobId: string, location: string | undefined): JobState {
    const job = jobs.get(jobKey(p, jobId));
    if (!job || (location && location.toUpperCase() !== job.location.toUpperCase())) {
      throw new HttpError({
        status: 404,
        reason: 'notFound',
        message: `Not found: Job ${p}:${location ?? job?.location ?? defaultLocation}.${jobId}`,
      });
    }
    return job;
  }

  /** The job's error, if it has finished with one. */
  function jobError(job: JobState): { reason: string; message: string; location?: string } | undefined {
    if (job.startError) return job.startError;
    if (job.cancelled) return { reason: 'stopped', message: 'Job execution was cancelled: User requested cancellation' };
    if (job.pendingPolls > 0) return undefined;
    return job.fixture?.fail;
  }

  function isDone(job: JobState): boolean {
    return job.startError !== undefined || job.cancelled || job.pendingPolls <= 0;
  }

  function jobResource(job: JobState): unknown {
    const done = isDone(job);
    if (done && job.endTime === undefined) job.endTime = Date.now();
    const error = done ? jobError(job) : undefined;
    const statistics: Record<string, unknown> = {
      creationTime: String(job.creationTime),
      startTime: String(job.creationTime),
    };
    if (done) {
      statistics['endTime'] = String(job.endTime);
      if (job.fixture && !job.startError) {
        statistics['totalBytesProcessed'] = job.fixture.bytesProcessed;
        statistics['query'] = {
          totalBytesProcessed: job.fixture.bytesProcessed,
          totalBytesBilled: job.fixture.bytesBilled,
          cacheHit: job.fixture.cacheHit,
          statementType: 'SELECT',
          billingTier: 1,
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
        query: { useLegacySql: false, ...asObject(configuration['query']), query: job.received.query },
        ...(Object.keys(job.received.labels).length > 0 ? { labels: job.received.labels } : {}),
      },
      jobReference: { projectId: job.projectId, jobId: job.jobId, location: job.location },
      statistics,
      status: error
        ? { state: 'DONE', errorResult: error, errors: [error] }
        : { state: done ? 'DONE' : 'RUNNING' },
    };
  }

  function cancelJob(job: JobState): unknown {
    if (!isDone(job)) {
      job.cancelled = true;
      job.pendingPolls = 0;
    }
    return { kind: 'bigquery#jobCancelResponse', job: jobResource(job) };
  }

  // ---- jobs.query ----------------------------------------------------------------------

  function runQuery(p: string, body: Record<string, unknown>): unknown {
    if (typeof body['query'] !== 'string') {
      throw new HttpError({ status: 400, reason: 'invalid', message: 'Required parameter is missing: query' });
    }
    const location = typeof body['location'] === 'string' && body['location'] ? body['location'] : defaultLocation;
    const dryRun = body['dryRun'] === true;
    const formatOptions = asObject(body['formatOptions']);
    const tsFormat = timestampFormat(formatOptions['useInt64Timestamp'], formatOptions['timestampOutputFormat']);
    const maxResults = toCount(body['maxResults'], 'maxResults');
    const requestId = typeof body['requestId'] === 'string' && body['requestId'] ? `${p}\u0000${body['requestId']}` : undefined;
    const earlier = requestId === undefined ? undefined : requestIds.get(requestId);
    if (earlier) {
      // A retry of a jobs.query that already ran: answer for the same job.
      return { ...resultPage(earlier, 0, maxResults, tsFormat), kind: 'bigquery#queryResponse', queryId: earlier.jobId };
    }
    const received = receive('jobs.query', p, body, body['labels'], dryRun, location, body);
    if (dryRun) {
      const fixture = resolveFixture(received);
      if (!fixture) throw new HttpError({ status: 400, ...unknownQueryError(received.query) });
      return {
        kind: 'bigquery#queryResponse',
        schema: { fields: wireSchema(fixture.schema) },
        jobReference: { projectId: p, location },
        totalBytesProcessed: fixture.bytesProcessed,
        jobComplete: true,
        cacheHit: false,
      };
    }
    const jobId = `job_${randomUUID().replace(/-/g, '')}`;
    received.jobId = jobId;
    const job = createJob(p, jobId, location, received);
    if (requestId !== undefined) requestIds.set(requestId, job);
    if (job.startError) throw new HttpError({ status: statusForReason(job.startError.reason), ...job.startError });
    const page = resultPage(job, 0, maxResults, tsFormat);
    return { ...page, kind: 'bigquery#queryResponse', queryId: jobId };
  }

  // ---- jobs.getQueryResults ------------------------------------------------------------

  function getQueryResults(job: JobState, search: Record<string, string>): unknown {
    const tsFormat = timestampFormat(
      search['formatOptions.useInt64Timestamp'],
      search['formatOptions.timestampOutputFormat'],
    );
    const maxResults = toCount(search['maxResults'], 'maxResults');
    let offset = 0;
    const token = search['pageToken'];
    if (token) {
      offset = decodePageToken(job, token);
    } else if (search['startIndex'] !== undefined) {
      offset = toCount(search['startIndex'], 'startIndex') ?? 0;
    }
    return { ...resultPage(job, offset, maxResults, tsFormat), kind: 'bigquery#getQueryResultsResponse' };
  }

  /** One result read: counts a poll, and answers jobComplete:false, an error, or a page. */
  function resultPage(job: JobState, offset: number, maxResults: number | undefined, ts: TimestampFormat): Record<string, unknown> {
    job.resultReads += 1;
    const jobReference = { projectId: job.projectId, jobId: job.jobId, location: job.location };
    if (!isDone(job)) {
      job.pendingPolls -= 1;
      return { etag: etag(), jobReference, jobComplete: false };
    }
    if (job.endTime === undefined) job.endTime = Date.now();
    const error = jobError(job);
    if (error) throw new HttpError({ status: statusForReason(error.reason), ...error });
    const fixture = job.fixture!;
    const limit = maxResults ?? defaultMaxResults;
    const start = Math.min(offset, fixture.count);
    const end = Math.min(fixture.count, start + limit);
    const rows: unknown[] = [];
    for (let i = start; i < end; i++) rows.push(encodeRow(fixture.schema, fixture.at(i), ts, i));
    const page: Record<string, unknown> = {
      etag: etag(),
      schema: { fields: wireSchema(fixture.schema) },
      jobReference,
      totalRows: String(fixture.count),
      totalBytesProcessed: fixture.bytesProcessed,
      jobComplete: true,
      cacheHit: fixture.cacheHit,
    };
    if (rows.length > 0) page['rows'] = rows;
    if (end < fixture.count) page['pageToken'] = encodePageToken(job, end);
    return page;
  }

  function encodePageToken(job: JobState, offset: number): string {
    return Buffer.from(`${job.jobId}\u0000${offset}`, 'utf8').toString('base64url');
  }

  function decodePageToken(job: JobState, token: string): number {
    const [id, off] = Buffer.from(token, 'base64url').toString('utf8').split('\u0000');
    if (id !== job.jobId || off === undefined || !/^\d+$/.test(off)) {
      throw new HttpError({ status: 400, reason: 'invalid', message: `Invalid page token: ${token}` });
    }
    return Number(off);
  }

  // ---- fixtures ------------------------------------------------------------------------

  function receive(
    via: ReceivedQuery['via'],
    p: string,
    queryConfig: Record<string, unknown>,
    labels: unknown,
    dryRun: boolean,
    location: string,
    body: unknown,
  ): ReceivedQuery {
    const params: Record<string, ParamValue> = {};
    const positionalParams: ParamValue[] = [];
    const rawParams = Array.isArray(queryConfig['queryParameters']) ? (queryConfig['queryParameters'] as unknown[]) : [];
    for (const raw of rawParams) {
      const param = asObject(raw);
      const value = decodeParam(asObject(param['parameterType']), asObject(param['parameterValue']));
      if (typeof param['name'] === 'string' && param['name']) params[param['name']] = value;
      else positionalParams.push(value);
    }
    const received: ReceivedQuery = {
      via,
      projectId: p,
      query: String(queryConfig['query']),
      params,
      positionalParams,
      labels: labels && typeof labels === 'object' ? { ...(labels as Record<string, string>) } : {},
      dryRun,
      location,
      body,
    };
    const mbb = queryConfig['maximumBytesBilled'];
    if (mbb !== undefined && mbb !== null) received.maximumBytesBilled = String(mbb);
    queries.push(received);
    return received;
  }

  function resolveFixture(q: ReceivedQuery): ResolvedFixture | undefined {
    for (let i = fixtures.length - 1; i >= 0; i--) {
      const { match, fixture } = fixtures[i]!;
      if (!matches(match, q)) continue;
      return resolve(typeof fixture === 'function' ? fixture(q) : fixture);
    }
    return undefined;
  }

  function resolve(f: QueryFixture): ResolvedFixture {
    const rows = f.rows ?? [];
    const source: RowSource = isRowSource(rows)
      ? rows
      : { count: rows.length, at: (i: number) => rows[i]! };
    const bytesProcessed = toByteString(f.bytesProcessed ?? 0, 'bytesProcessed');
    const resolved: ResolvedFixture = {
      schema: f.schema,
      count: source.count,
      at: (i) => source.at(i),
      bytesProcessed,
      bytesBilled: f.bytesBilled === undefined ? bytesProcessed : toByteString(f.bytesBilled, 'bytesBilled'),
      pendingPolls: f.pendingPolls ?? 0,
      cacheHit: f.cacheHit ?? false,
    };
    if (f.fail) resolved.fail = f.fail;
    return resolved;
  }

  function unknownQueryError(query: string): { reason: string; message: string; location: string } {
    const shown = query.length > 300 ? `${query.slice(0, 300)}…` : query;
    return {
      reason: 'invalidQuery',
      location: 'query',
      message: `bigquery-test-server has no fixture matching this query: ${shown}`,
    };
  }

  // ---- the handle ----------------------------------------------------------------------

  await new Promise<void>((resolveListen, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, '127.0.0.1', () => {
      server.off('error', reject);
      resolveListen();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const url = `http://127.0.0.1:${port}`;

  return {
    url,
    port,
    projectId,
    addQuery(match, fixture) {
      fixtures.push({ match, fixture });
    },
    injectFault(route, fault, times = 1) {
      for (let i = 0; i < times; i++) faults.push({ route, fault });
    },
    pendingFaults: () => faults.length,
    clearFaults: () => {
      faults = [];
    },
    get requests() {
      return requests;
    },
    get queries() {
      return queries;
    },
    count: (route) => counts.get(route) ?? 0,
    job(jobId) {
      const job = [...jobs.values()].find((j) => j.jobId === jobId);
      if (!job) return undefined;
      const snapshot: JobSnapshot = {
        projectId: job.projectId,
        jobId: job.jobId,
        location: job.location,
        state: isDone(job) ? 'DONE' : 'RUNNING',
        cancelled: job.cancelled,
        resultReads: job.resultReads,
        received: job.received,
      };
      const error = isDone(job) ? jobError(job) : undefined;
      if (error) snapshot.error = { reason: error.reason, message: error.message };
      return snapshot;
    },
    clientOptions: () => ({ projectId, apiEndpoint: url, retryOptions: FAST_RETRY_OPTIONS }),
    reset() {
      fixtures = [];
      faults = [];
      requests = [];
      queries = [];
      jobs = new Map();
      requestIds = new Map();
      counts = new Map();
    },
    close() {
      return new Promise<void>((resolveClose) => {
        server.close(() => resolveClose());
        server.closeAllConnections();
      });
    },
  };
}

// ---------------------------------------------------------------------------------------
// Wire encoding
// ---------------------------------------------------------------------------------------

const LEGACY_TYPE: Partial<Record<FieldType, string>> = {
  INT64: 'INTEGER',
  FLOAT64: 'FLOAT',
  BOOL: 'BOOLEAN',
  STRUCT: 'RECORD',
};

function wireSchema(fields: readonly FieldSpec[]): unknown[] {
  return fields.map((f) => {
    const out: Record<string, unknown> = {
      name: f.name,
      type: LEGACY_TYPE[f.type] ?? f.type,
      mode: f.mode ?? 'NULLABLE',
    };
    if (f.fields) out['fields'] = wireSchema(f.fields);
    return out;
  });
}

function encodeRow(fields: readonly FieldSpec[], row: Row, ts: TimestampFormat, index: number): { f: { v: unknown }[] } {
  try {
    return encodeRecord(fields, row, ts);
  } catch (err) {
    throw new Error(`fixture row ${index}: ${err instanceof Error ? err.message : String(err)}`);
  }
}

function encodeRecord(fields: readonly FieldSpec[], row: unknown, ts: TimestampFormat): { f: { v: unknown }[] } {
  if (Array.isArray(row)) {
    if (row.length > fields.length) throw new Error(`row has ${row.length} cells, schema has ${fields.length} fields`);
    return { f: fields.map((field, i) => ({ v: encodeCell(field, row[i], ts) })) };
  }
  if (row === null || typeof row !== 'object') throw new Error(`row must be an object or an array, got ${typeof row}`);
  const obj = row as Record<string, unknown>;
  for (const key of Object.keys(obj)) {
    if (!fields.some((f) => f.name === key)) throw new Error(`row has field "${key}" that is not in the schema`);
  }
  return { f: fields.map((field) => ({ v: encodeCell(field, obj[field.name], ts) })) };
}

function encodeCell(field: FieldSpec, value: unknown, ts: TimestampFormat): unknown {
  if (field.mode === 'REPEATED') {
    if (value === null || value === undefined) return [];
    if (!Array.isArray(value)) throw new Error(`field "${field.name}" is REPEATED: give an array`);
    return value.map((v) => ({ v: encodeValue(field, v, ts) }));
  }
  return encodeValue(field, value, ts);
}

function encodeValue(field: FieldSpec, value: unknown, ts: TimestampFormat): unknown {
  if (value === null || value === undefined) {
    if (field.mode === 'REQUIRED') throw new Error(`field "${field.name}" is REQUIRED but got ${String(value)}`);
    return null;
  }
  const bad = (what: string): never => {
    throw new Error(`field "${field.name}" (${field.type}): ${what}, got ${describe(value)}`);
  };
  // The client's own wrapper types (BigQueryDate, BigQueryTimestamp, BigQueryInt, ...) carry `value`.
  const v: unknown =
    typeof value === 'object' && !(value instanceof Date) && !(value instanceof Uint8Array) && !Array.isArray(value) &&
    'value' in value && field.type !== 'RECORD' && field.type !== 'STRUCT' && field.type !== 'JSON'
      ? (value as { value: unknown }).value
      : value;

  switch (field.type) {
    case 'STRING':
    case 'GEOGRAPHY':
      if (typeof v === 'string') return v;
      if (typeof v === 'number' || typeof v === 'bigint' || typeof v === 'boolean') return String(v);
      return bad('expected a string');
    case 'JSON':
      return typeof v === 'string' ? v : JSON.stringify(v);
    case 'BYTES':
      if (v instanceof Uint8Array) return Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64');
      if (typeof v === 'string') return v;
      return bad('expected a Uint8Array or a base64 string');
    case 'INT64':
    case 'INTEGER':
      if (typeof v === 'bigint') return v.toString();
      if (typeof v === 'number') return Number.isSafeInteger(v) ? String(v) : bad('expected a safe integer (use a bigint or a string beyond 2^53)');
      if (typeof v === 'string' && /^-?\d+$/.test(v)) return v;
      return bad('expected an integer');
    case 'FLOAT64':
    case 'FLOAT':
      if (typeof v === 'number') {
        if (Number.isNaN(v)) return 'NaN';
        if (v === Infinity) return 'Infinity';
        if (v === -Infinity) return '-Infinity';
        return String(v);
      }
      if (typeof v === 'bigint') return v.toString();
      if (typeof v === 'string' && v.trim() !== '' && !Number.isNaN(Number(v))) return v;
      return bad('expected a number');
    case 'NUMERIC':
    case 'BIGNUMERIC':
      if (typeof v === 'string' && /^-?\d+(\.\d+)?$/.test(v)) return v;
      if (typeof v === 'bigint') return v.toString();
      if (typeof v === 'number' && Number.isFinite(v)) return String(v);
      if (v && typeof v === 'object' && typeof (v as { toFixed?: unknown }).toFixed === 'function') {
        return (v as { toFixed(): string }).toFixed();
      }
      return bad('expected a decimal string, number, bigint or Big');
    case 'BOOL':
    case 'BOOLEAN':
      if (typeof v === 'boolean') return v ? 'true' : 'false';
      if (v === 'true' || v === 'false') return v;
      return bad('expected a boolean');
    case 'DATE':
      if (v instanceof Date) return v.toISOString().slice(0, 10);
      if (typeof v === 'string' && /^\d{4}-\d{2}-\d{2}$/.test(v)) return v;
      return bad("expected 'YYYY-MM-DD' or a Date");
    case 'DATETIME':
      if (v instanceof Date) return v.toISOString().slice(0, -1);
      if (typeof v === 'string' && /^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}:\d{2}(\.\d{1,6})?)?$/.test(v)) {
        return v.length === 10 ? `${v}T00:00:00` : v.replace(' ', 'T');
      }
      return bad("expected 'YYYY-MM-DDTHH:MM:SS[.ffffff]' or a Date");
    case 'TIME':
      if (typeof v === 'string' && /^\d{2}:\d{2}:\d{2}(\.\d{1,6})?$/.test(v)) return v;
      return bad("expected 'HH:MM:SS[.ffffff]'");
    case 'TIMESTAMP':
      return formatTimestamp(toMicros(v) ?? bad('expected a Date, an ISO string, bigint µs or number ms'), ts);
    case 'RECORD':
    case 'STRUCT':
      return encodeRecord(field.fields ?? [], v, ts);
    default:
      return bad(`type ${String(field.type)} is not supported by this test server`);
  }
}

/** Epoch microseconds, or undefined if not a timestamp. */
function toMicros(v: unknown): bigint | undefined {
  if (typeof v === 'bigint') return v;
  if (typeof v === 'number') return Number.isFinite(v) ? BigInt(Math.round(v * 1000)) : undefined;
  if (v instanceof Date) return Number.isNaN(v.getTime()) ? undefined : BigInt(v.getTime()) * 1000n;
  if (typeof v === 'string') {
    const m = /^(\d{4}-\d{2}-\d{2})(?:[T ](\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?)?\s*(Z|UTC|[+-]\d{2}(?::?\d{2})?)?$/i.exec(v.trim());
    if (!m) return undefined;
    const [, date, time = '00:00:00', frac = '', zoneRaw] = m;
    let zone = !zoneRaw || /^(z|utc)$/i.test(zoneRaw) ? 'Z' : zoneRaw;
    if (/^[+-]\d{2}$/.test(zone)) zone += ':00';
    else if (/^[+-]\d{4}$/.test(zone)) zone = `${zone.slice(0, 3)}:${zone.slice(3)}`;
    const ms = Date.parse(`${date}T${time}${zone}`);
    if (Number.isNaN(ms)) return undefined;
    return BigInt(ms) * 1000n + BigInt(frac.padEnd(6, '0').slice(0, 6));
  }
  return undefined;
}

function formatTimestamp(micros: bigint, ts: TimestampFormat): string {
  switch (ts) {
    case 'int64':
      return micros.toString();
    case 'iso': {
      const ms = micros / 1000n - (micros % 1000n < 0n ? 1n : 0n);
      const sub = ((micros % 1_000_000n) + 1_000_000n) % 1_000_000n;
      const iso = new Date(Number(ms)).toISOString();
      return `${iso.slice(0, 19)}.${sub.toString().padStart(6, '0')}Z`;
    }
    case 'float':
      // BigQuery's default: float seconds in Java notation, e.g. "1.7040672E9".
      return (Number(micros) / 1e6).toExponential().replace('e+', 'E').replace('e-', 'E-');
  }
}

function timestampFormat(useInt64: unknown, outputFormat: unknown): TimestampFormat {
  if (outputFormat === 'ISO8601_STRING') return 'iso';
  if (outputFormat === 'INT64') return 'int64';
  if (outputFormat === 'FLOAT64') return 'float';
  if (useInt64 === true || useInt64 === 'true') return 'int64';
  return 'float';
}

function decodeParam(type: Record<string, unknown>, value: Record<string, unknown>): ParamValue {
  if (type['type'] === 'ARRAY') {
    const values = Array.isArray(value['arrayValues']) ? (value['arrayValues'] as unknown[]) : [];
    return values.map((v) => decodeParam(asObject(type['arrayType']), asObject(v)));
  }
  if (type['type'] === 'STRUCT') {
    const out: Record<string, ParamValue> = {};
    const structValues = asObject(value['structValues']);
    const structTypes = Array.isArray(type['structTypes']) ? (type['structTypes'] as unknown[]) : [];
    for (const st of structTypes) {
      const s = asObject(st);
      const name = String(s['name']);
      out[name] = decodeParam(asObject(s['type']), asObject(structValues[name]));
    }
    return out;
  }
  const v = value['value'];
  return v === undefined || v === null ? null : String(v);
}

// ---------------------------------------------------------------------------------------
// Small helpers
// ---------------------------------------------------------------------------------------

function matches(match: QueryMatcher, q: ReceivedQuery): boolean {
  if (typeof match === 'string') return normalizeSql(match) === normalizeSql(q.query);
  if (match instanceof RegExp) {
    match.lastIndex = 0;
    return match.test(q.query);
  }
  return match(q);
}

function normalizeSql(s: string): string {
  return s.trim().replace(/\s+/g, ' ');
}

function isRowSource(rows: readonly Row[] | RowSource): rows is RowSource {
  return !Array.isArray(rows) && typeof (rows as RowSource).at === 'function';
}

function toByteString(v: number | bigint | string, what: string): string {
  const s = typeof v === 'string' ? v : typeof v === 'bigint' ? v.toString() : Number.isSafeInteger(v) && v >= 0 ? String(v) : '';
  if (!/^\d+$/.test(s)) throw new Error(`fixture ${what} must be a non-negative integer, got ${String(v)}`);
  return s;
}

function toCount(v: unknown, what: string): number | undefined {
  if (v === undefined || v === null || v === '') return undefined;
  const n = typeof v === 'number' ? v : Number(v);
  if (!Number.isSafeInteger(n) || n < 0) {
    throw new HttpError({ status: 400, reason: 'invalid', message: `Invalid value for ${what}: ${String(v)}` });
  }
  return n;
}

function asObject(v: unknown): Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
}

function describe(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'bigint') return `${v}n`;
  if (v instanceof Date) return `Date(${v.toISOString()})`;
  if (typeof v === 'object') return v === null ? 'null' : (v.constructor?.name ?? 'object');
  return String(v);
}

function etag(): string {
  return randomUUID().slice(0, 22);
}

function errorBody(spec: ApiErrorSpec): unknown {
  const item: Record<string, unknown> = { message: spec.message, domain: 'global', reason: spec.reason };
  if (spec.location) {
    item['location'] = spec.location;
    item['locationType'] = 'other';
  }
  return {
    error: {
      code: spec.status,
      message: spec.message,
      errors: [item],
      status: STATUS_TEXT[spec.status] ?? 'UNKNOWN',
    },
  };
}

function sendError(res: ServerResponse, spec: ApiErrorSpec): void {
  sendJson(res, spec.status, errorBody(spec));
}

function sendJson(res: ServerResponse, status: number, payload: unknown): void {
  if (res.destroyed || res.headersSent) return;
  const text = JSON.stringify(payload);
  res.writeHead(status, {
    'content-type': 'application/json; charset=UTF-8',
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolveBody, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolveBody(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
