// Public types of the BigQuery REST test server (bigquery-server.ts): fixtures, faults, what
// it records, and the handle a test holds.

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
  | 'STRUCT'
  | 'RANGE'
  | 'INTERVAL';

export interface FieldSpec {
  name: string;
  type: FieldType;
  /** Default NULLABLE. */
  mode?: 'NULLABLE' | 'REQUIRED' | 'REPEATED';
  /** Sub-fields of a RECORD/STRUCT. */
  fields?: readonly FieldSpec[];
  /** Element type of a RANGE. */
  rangeElementType?: 'DATE' | 'DATETIME' | 'TIMESTAMP';
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
 *   RANGE: { start, end } (each a value of the element type, null = UNBOUNDED) | '[start, end)'.
 *   INTERVAL: BigQuery's canonical text '[-]Y-M [-]D [-]H:M:S[.F]' (e.g. '1-2 3 4:5:6.789').
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
  /**
   * statistics.query.totalBytesBilled. Default: BigQuery's on-demand rule — bytes processed
   * rounded up to the MB, at least 10 MB per referenced table (and per query that reads any
   * bytes); 0 for a cache hit.
   */
  bytesBilled?: number | bigint | string;
  /** The first n result reads answer jobComplete:false. Default 0. */
  pendingPolls?: number;
  /** The job fails with this error (after pendingPolls). */
  fail?: { reason: string; message: string };
  cacheHit?: boolean;
  /** Tables the query reads, as 'project.dataset.table': the dry run's and the job's referencedTables. */
  referencedTables?: readonly string[];
}

/** What prerender() took and holds for one fixture. */
export interface PrerenderStats {
  rows: number;
  /** Bytes of the rows' JSON as pages carry it (escaped, a comma before each row). */
  jsonBytes: number;
  /** Bytes held for them (deflated segments, and two lengths per row). */
  storedBytes: number;
  ms: number;
}

/** A job's failure as BigQuery reports it (status.errorResult). */
export interface JobError {
  reason: string;
  message: string;
  /** What the job billed before it failed (statistics.query.totalBytesBilled). Default 0. */
  bytesBilled?: number;
}

/** A table as tables.get describes it (only what the test server keeps). */
export interface TableSpec {
  /** ms since the epoch. Default: when the table was first set. */
  lastModifiedTime?: number;
  /** Default 'TABLE'. */
  type?: 'TABLE' | 'VIEW' | 'EXTERNAL' | 'MATERIALIZED_VIEW' | 'SNAPSHOT';
  /** A streaming buffer is reported (rows streamed in and not yet in managed storage). */
  streamingBuffer?: boolean;
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

export type RouteKind = 'insertJob' | 'getJob' | 'cancelJob' | 'query' | 'getQueryResults' | 'getTable' | 'unknown';

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
  /** Request headers that decide the answer's encoding. */
  userAgent?: string;
  acceptEncoding?: string;
  /** The answer's HTTP status (absent when the connection was dropped). */
  status?: number;
  /** The answer's body as sent on the wire: its length in bytes and its encoding. */
  responseBytes?: number;
  contentEncoding?: 'gzip';
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
  /**
   * Most bytes of rows in one result page, whatever maxResults asked (BigQuery caps a page near
   * 20 MB and then returns fewer rows than asked, with a pageToken). Default 20 MiB.
   */
  maxPageBytes?: number;
  /**
   * Rewrites every JSON answer before it is sent (a proxy, an emulator or a recorded fixture
   * between the client and BigQuery), e.g. to pretty-print it. The result must still be JSON.
   */
  reformat?: (json: string) => string;
}

export interface BigQueryTestServer {
  /** e.g. http://127.0.0.1:40123 — pass as `apiEndpoint`. */
  readonly url: string;
  readonly port: number;
  readonly projectId: string;
  /** Register a fixture; the most recently added matching fixture wins. A string matches
   *  the query text exactly, ignoring leading/trailing whitespace and runs of whitespace. */
  addQuery(match: QueryMatcher, fixture: QueryFixture | ((q: ReceivedQuery) => QueryFixture)): void;
  /**
   * Renders every result row of `fixture` (the object given to addQuery; not a fixture
   * function's result) now and keeps it in memory, so that its pages are served without
   * encoding or compressing rows: the same JSON, byte for byte, for any maxResults, pageToken
   * or startIndex (bigquery-server-prerendered.ts). For one timestamp format (default int64,
   * what the client asks for); answers in another are made on the fly. The rows must not change.
   */
  prerender(fixture: QueryFixture, options?: { timestampFormat?: 'int64' | 'iso' | 'float'; segmentRows?: number }): PrerenderStats;
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
  /**
   * The next `times` (default 1) query jobs created fail WHILE RUNNING with `error`: jobs.insert
   * answers RUNNING, one result read answers jobComplete:false, then the job is DONE with
   * status.errorResult = error and reads of its results answer the HTTP error BigQuery uses
   * for that reason (400 for jobInternalError…, 500 backendError, 403 rateLimitExceeded).
   */
  failNextJobs(error: JobError, times?: number): void;
  /** Fails a running job now (it becomes DONE with this errorResult); false if it was done already. */
  failJob(jobId: string, error: JobError): boolean;
  /** Creates or replaces a table for tables.get ('project.dataset.table'). */
  setTable(name: string, spec?: TableSpec): void;
  /** A write to the table: its lastModifiedTime moves on (always forward, even within one ms). */
  touchTable(name: string): void;
  /** Called with each query job as it is created (waiting on it beats polling). */
  onJobCreated(listener: (job: JobSnapshot) => void): () => void;
  job(jobId: string): JobSnapshot | undefined;
  /**
   * The rows of a finished job's result table, by its name as the Storage Read API takes it
   * ('projects/p/datasets/d/tables/t', from the job's configuration.query.destinationTable):
   * give it to the Storage Read test server (`resultTables`) to serve jobs' results as Arrow.
   */
  resultTable(table: string): { fields: readonly FieldSpec[]; rows: RowSource; origin: object } | undefined;
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
