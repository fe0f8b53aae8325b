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
 *   GET  /datasets/{d}/tables/{t}  tables.get (lastModifiedTime, type, streamingBuffer)
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
 *   - rateLimitExceeded answers 403 (as BigQuery does), a job's own failure (jobInternalError…)
 *     400, backendError 500; JSON escapes <, >, & and = as \u003c… (as Google's front ends do).
 *   - A result page holds at most `maxPageBytes` of rows (default 20 MiB): fewer rows than
 *     maxResults asked, with a pageToken (BigQuery caps a page near 20 MB).
 *   - `formatOptions.useInt64Timestamp` together with `formatOptions.timestampOutputFormat` is
 *     refused (400 invalid), as BigQuery refuses it.
 *   - jobs.get, jobs.cancel and jobs.getQueryResults of a job outside the US/EU multi-regions
 *     answer 404 without `location` (BigQuery needs it there).
 *   - Answers are gzipped only for `Accept-Encoding: gzip` AND a User-Agent containing "gzip"
 *     (BigQuery's documented rule); `requests[].responseBytes` is what went on the wire.
 *   - A job can fail WHILE RUNNING (failNextJobs, failJob): jobs.insert answered RUNNING, then
 *     jobs.get shows DONE + errorResult and result reads answer the reason's HTTP error.
 *   - tables.get (GET /datasets/{d}/tables/{t}) serves tables registered with setTable, with
 *     lastModifiedTime; a fixture's referencedTables appear in dry runs and job statistics.
 *
 * `prerender(fixture)` renders a fixture's rows ahead, into memory: its pages are then served
 * without encoding or compressing them again, as the same JSON (bigquery-server-prerendered.ts).
 *
 * `pendingPolls: n` makes the first n result reads of a job (jobs.getQueryResults, and the
 * inline result of jobs.query) answer `jobComplete: false` with no rows; jobs.get reports
 * state RUNNING until then. There is no waiting: `timeoutMs` is ignored.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import { createBigQuerySource, type BigQuerySourceSettings } from '../../src/runner/sources/bigquery/bigquery.ts';
import { DEFAULT_REASON, errorBody, HttpError, readBody, sendEncoded, sendError, sendJsonText, statusForReason } from './bigquery-server-http.ts';
import { PrerenderedPage, PrerenderedRows } from './bigquery-server-prerendered.ts';
import {
  FAST_RETRY_OPTIONS,
  type BigQueryTestServer,
  type BigQueryTestServerOptions,
  type Fault,
  type QueryFixture,
  type QueryMatcher,
  type ReceivedQuery,
  type RecordedRequest,
  type RouteKind,
  type TableSpec,
} from './bigquery-server-types.ts';
import { receiveQuery, referencedTablesOf, resolveFixture, resolveQueryFixture, unknownQueryError } from './bigquery-server-fixtures.ts';
import { etag, JobStore, PREFIX, type JobState } from './bigquery-server-jobs.ts';
import { asObject, encodeRows, timestampFormat, wireSchema, type TimestampFormat } from './bigquery-server-wire.ts';

export * from './bigquery-server-types.ts';

/**
 * The real BigQuery source pointed at a test server, as the tests use it: retries, polls and
 * backoff in milliseconds, a 5 s request timeout; `extra` overrides any setting.
 */
export function testBigQuerySource(server: { url: string }, extra: Partial<BigQuerySourceSettings> = {}) {
  return createBigQuerySource({
    projectId: 'sqp-test',
    apiEndpoint: server.url,
    retry: { attempts: 3, baseDelayMs: 1, maxDelayMs: 2 },
    clientRetryOptions: { ...FAST_RETRY_OPTIONS },
    poll: { initialDelayMs: 1, maxDelayMs: 2 },
    requestTimeoutMs: 5_000,
    ...extra,
  });
}


export async function startBigQueryTestServer(
  opts: BigQueryTestServerOptions = {},
): Promise<BigQueryTestServer> {
  const projectId = opts.projectId ?? 'test-project';
  const defaultLocation = opts.location ?? 'US';
  const defaultMaxResults = opts.defaultMaxResults ?? 10_000;
  const insertErrors = opts.insertErrors ?? 'job-status';
  const maxPageBytes = opts.maxPageBytes ?? 20 * 1024 * 1024;

  let fixtures: { match: QueryMatcher; fixture: QueryFixture | ((q: ReceivedQuery) => QueryFixture) }[] = [];
  let faults: { route: RouteKind | 'any'; fault: Fault }[] = [];
  let requests: RecordedRequest[] = [];
  let queries: ReceivedQuery[] = [];
  const jobs = new JobStore(defaultLocation);
  /** jobs.query requestId -> job, so a retried jobs.query does not run twice (as in BigQuery). */
  let requestIds = new Map<string, JobState>();
  let counts = new Map<RouteKind, number>();
  let tables = new Map<string, Required<Omit<TableSpec, 'streamingBuffer'>> & { streamingBuffer: boolean; creationTime: number }>();
  /** Rows rendered ahead (prerender), per fixture as registered, one entry per timestamp format. */
  let prerendered = new Map<QueryFixture, PrerenderedRows[]>();

  /** Keeps what the server saw of a query request. */
  const keep = (received: ReceivedQuery): ReceivedQuery => {
    queries.push(received);
    return received;
  };

  // ---- request handling ----------------------------------------------------------------

  const server = createServer((req, res) => {
    void handle(req, res).catch((err: unknown) => {
      // A bug in the server or a broken fixture: fail loudly but without a retryable status.
      const message = `bigquery-test-server: ${err instanceof Error ? err.message : String(err)}`;
      sendError(req, res, { status: 400, reason: 'invalid', message });
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
    if (req.headers['user-agent']) record.userAgent = req.headers['user-agent'];
    if (req.headers['accept-encoding']) record.acceptEncoding = String(req.headers['accept-encoding']);
    requests.push(record);

    const faultIndex = faults.findIndex((f) => f.route === 'any' || f.route === route);
    const fault = faultIndex >= 0 ? faults.splice(faultIndex, 1)[0]!.fault : undefined;
    if (fault) {
      record.fault = fault;
      if (fault.type === 'http') {
        if (fault.delayMs) await sleep(fault.delayMs);
        sendError(req, res, {
          status: fault.status,
          reason: fault.reason ?? DEFAULT_REASON[fault.status] ?? 'invalid',
          message: fault.message ?? `Injected fault: HTTP ${fault.status}`,
        }, record);
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
    if (payload instanceof PrerenderedPage) {
      sendEncoded(req, res, status, (gzip) => payload.wire(gzip), record);
      return;
    }
    const json = payload instanceof PageJson ? payload.text() : JSON.stringify(payload);
    sendJsonText(req, res, status, opts.reformat ? opts.reformat(json) : json, record);
  }

  function routeOf(method: string, pathname: string): { route: RouteKind; params: string[] } {
    if (!pathname.startsWith(PREFIX)) return { route: 'unknown', params: [] };
    const parts = pathname
      .slice(PREFIX.length)
      .split('/')
      .map((p) => decodeURIComponent(p));
    const [p, collection, id, action, table] = parts;
    if (!p) return { route: 'unknown', params: [] };
    if (collection === 'datasets' && action === 'tables' && parts.length === 5 && method === 'GET' && id && table) {
      return { route: 'getTable', params: [p, id, table] };
    }
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
        return jobs.resource(jobs.find(params[0]!, params[1]!, search['location']));
      case 'cancelJob':
        return jobs.cancel(jobs.find(params[0]!, params[1]!, search['location']));
      case 'query':
        return runQuery(params[0]!, asObject(body));
      case 'getQueryResults':
        return getQueryResults(jobs.find(params[0]!, params[1]!, search['location']), search);
      case 'getTable':
        return tableResource(params[0]!, params[1]!, params[2]!);
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

    const received = keep(receiveQuery('jobs.insert', p, queryConfig, configuration['labels'], dryRun, location, body));
    if (dryRun) return dryRunResponse(p, location, received, configuration);

    received.jobId = jobId;
    if (jobs.has(p, jobId)) {
      throw new HttpError({ status: 409, reason: 'duplicate', message: `Already Exists: Job ${p}:${location}.${jobId}` });
    }
    const job = jobs.create(p, jobId, location, received, resolveFixture(fixtures, received));
    if (job.startError && insertErrors === 'http') {
      jobs.delete(p, jobId);
      throw new HttpError({ status: statusForReason(job.startError.reason), ...job.startError });
    }
    return jobs.resource(job);
  }

  function dryRunResponse(
    p: string,
    location: string,
    received: ReceivedQuery,
    configuration: Record<string, unknown>,
  ): unknown {
    const fixture = resolveFixture(fixtures, received);
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
          ...referencedTablesOf(fixture),
        },
      },
      status: { state: 'DONE' },
    };
  }

  // ---- jobs.query ----------------------------------------------------------------------

  function runQuery(p: string, body: Record<string, unknown>): unknown {
    if (typeof body['query'] !== 'string') {
      throw new HttpError({ status: 400, reason: 'invalid', message: 'Required parameter is missing: query' });
    }
    const location = typeof body['location'] === 'string' && body['location'] ? body['location'] : defaultLocation;
    const dryRun = body['dryRun'] === true;
    const formatOptions = asObject(body['formatOptions']);
    const tsFormat = checkedTimestampFormat(formatOptions['useInt64Timestamp'], formatOptions['timestampOutputFormat']);
    const maxResults = toCount(body['maxResults'], 'maxResults');
    const requestId = typeof body['requestId'] === 'string' && body['requestId'] ? `${p}\u0000${body['requestId']}` : undefined;
    const earlier = requestId === undefined ? undefined : requestIds.get(requestId);
    if (earlier) {
      // A retry of a jobs.query that already ran: answer for the same job.
      return resultPage(earlier, 0, maxResults, tsFormat).with({ kind: 'bigquery#queryResponse', queryId: earlier.jobId });
    }
    const received = keep(receiveQuery('jobs.query', p, body, body['labels'], dryRun, location, body));
    if (dryRun) {
      const fixture = resolveFixture(fixtures, received);
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
    const job = jobs.create(p, jobId, location, received, resolveFixture(fixtures, received));
    if (requestId !== undefined) requestIds.set(requestId, job);
    if (job.startError) throw new HttpError({ status: statusForReason(job.startError.reason), ...job.startError });
    return resultPage(job, 0, maxResults, tsFormat).with({ kind: 'bigquery#queryResponse', queryId: jobId });
  }

  // ---- jobs.getQueryResults ------------------------------------------------------------

  function getQueryResults(job: JobState, search: Record<string, string>): unknown {
    const tsFormat = checkedTimestampFormat(search['formatOptions.useInt64Timestamp'], search['formatOptions.timestampOutputFormat']);
    const maxResults = toCount(search['maxResults'], 'maxResults');
    let offset = 0;
    const token = search['pageToken'];
    if (token) {
      offset = decodePageToken(job, token);
    } else if (search['startIndex'] !== undefined) {
      offset = toCount(search['startIndex'], 'startIndex') ?? 0;
    }
    return resultPage(job, offset, maxResults, tsFormat).with({ kind: 'bigquery#getQueryResultsResponse' });
  }

  /** One result read: counts a poll, and answers jobComplete:false, an error, or a page. */
  function resultPage(job: JobState, offset: number, maxResults: number | undefined, ts: TimestampFormat): PageJson | PrerenderedPage {
    job.resultReads += 1;
    const jobReference = { projectId: job.projectId, jobId: job.jobId, location: job.location };
    if (!jobs.isDone(job)) {
      job.pendingPolls -= 1;
      return new PageJson({ etag: etag(), jobReference, jobComplete: false }, []);
    }
    if (job.endTime === undefined) job.endTime = Date.now();
    const error = jobs.error(job);
    if (error) throw new HttpError({ status: statusForReason(error.reason), ...error });
    const fixture = job.fixture!;
    const limit = maxResults ?? defaultMaxResults;
    const start = Math.min(offset, fixture.count);
    // Rows rendered ahead give the same page from memory (a reformatted answer is made on the fly).
    const ahead = opts.reformat ? undefined : prerendered.get(fixture.origin)?.find((r) => r.ts === ts);
    const rows = ahead ? null : encodeRows(fixture.schema, fixture.at, start, Math.min(fixture.count, start + limit), ts, maxPageBytes);
    const end = rows ? start + rows.length : ahead!.pageEnd(start, limit, maxPageBytes);
    const page: Record<string, unknown> = {
      etag: etag(),
      schema: { fields: wireSchema(fixture.schema) },
      jobReference,
      totalRows: String(fixture.count),
      totalBytesProcessed: fixture.bytesProcessed,
      jobComplete: true,
      cacheHit: fixture.cacheHit,
    };
    if (end < fixture.count) page['pageToken'] = encodePageToken(job, end);
    return rows ? new PageJson(page, rows) : new PrerenderedPage(page, ahead!, start, end);
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

  // ---- tables.get ----------------------------------------------------------------------

  function tableResource(p: string, datasetId: string, tableId: string): unknown {
    const table = tables.get(tableKey(`${p}.${datasetId}.${tableId}`));
    if (!table) throw new HttpError({ status: 404, reason: 'notFound', message: `Not found: Table ${p}:${datasetId}.${tableId}` });
    return {
      kind: 'bigquery#table',
      etag: etag(),
      id: `${p}:${datasetId}.${tableId}`,
      tableReference: { projectId: p, datasetId, tableId },
      type: table.type,
      creationTime: String(table.creationTime),
      lastModifiedTime: String(table.lastModifiedTime),
      location: defaultLocation,
      ...(table.streamingBuffer ? { streamingBuffer: { estimatedRows: '1', estimatedBytes: '100', oldestEntryTime: String(Date.now()) } } : {}),
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
    prerender(fixture, options = {}) {
      const ts = options.timestampFormat ?? 'int64';
      const rows = PrerenderedRows.render(resolveQueryFixture(fixture), ts, options.segmentRows ?? 256);
      prerendered.set(fixture, [...(prerendered.get(fixture) ?? []).filter((r) => r.ts !== ts), rows]);
      return rows.stats;
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
      const job = jobs.byId(jobId);
      return job ? jobs.snapshot(job) : undefined;
    },
    failNextJobs: (error, times = 1) => jobs.failNext(error, times),
    failJob: (jobId, error) => jobs.fail(jobId, error),
    setTable(name, spec = {}) {
      const now = Date.now();
      tables.set(tableKey(name), {
        lastModifiedTime: spec.lastModifiedTime ?? now,
        type: spec.type ?? 'TABLE',
        streamingBuffer: spec.streamingBuffer ?? false,
        creationTime: now,
      });
    },
    touchTable(name) {
      const table = tables.get(tableKey(name));
      if (!table) throw new Error(`bigquery-test-server: no table ${name} (setTable first)`);
      table.lastModifiedTime = Math.max(Date.now(), table.lastModifiedTime + 1);
    },
    onJobCreated: (listener) => jobs.onCreated(listener),
    resultTable(table) {
      const job = jobs.byDestination(table);
      return job ? { fields: job.fixture!.schema, rows: { count: job.fixture!.count, at: job.fixture!.at }, origin: job.fixture!.origin } : undefined;
    },
    clientOptions: () => ({ projectId, apiEndpoint: url, retryOptions: FAST_RETRY_OPTIONS }),
    reset() {
      fixtures = [];
      faults = [];
      requests = [];
      queries = [];
      jobs.reset();
      requestIds = new Map();
      counts = new Map();
      tables = new Map();
      prerendered = new Map();
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
// Small helpers
// ---------------------------------------------------------------------------------------

function toCount(v: unknown, what: string): number | undefined {
  if (v === undefined || v === null || v === '') return undefined;
  const n = typeof v === 'number' ? v : Number(v);
  if (!Number.isSafeInteger(n) || n < 0) {
    throw new HttpError({ status: 400, reason: 'invalid', message: `Invalid value for ${what}: ${String(v)}` });
  }
  return n;
}


function tableKey(name: string): string {
  return name.replace(/:/g, '.').toLowerCase();
}

/** The answer's TIMESTAMP format; BigQuery refuses useInt64Timestamp and timestampOutputFormat together. */
function checkedTimestampFormat(useInt64: unknown, outputFormat: unknown): TimestampFormat {
  const int64 = useInt64 === true || useInt64 === 'true';
  if (int64 && outputFormat !== undefined && outputFormat !== 'TIMESTAMP_OUTPUT_FORMAT_UNSPECIFIED') {
    throw new HttpError({
      status: 400,
      reason: 'invalid',
      message: 'formatOptions.useInt64Timestamp and formatOptions.timestampOutputFormat cannot both be set',
    });
  }
  return timestampFormat(useInt64, outputFormat);
}

/** A result page whose rows are JSON texts already (encodeRows): serialised without a second pass over them. */
class PageJson {
  constructor(
    private readonly head: Record<string, unknown>,
    private readonly rows: readonly string[],
  ) {}
  with(extra: Record<string, unknown>): PageJson {
    return new PageJson({ ...extra, ...this.head }, this.rows);
  }
  text(): string {
    const head = JSON.stringify(this.head);
    if (this.rows.length === 0) return head;
    return `${head.slice(0, -1)}${head.length > 2 ? ',' : ''}"rows":[${this.rows.join(',')}]}`;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
