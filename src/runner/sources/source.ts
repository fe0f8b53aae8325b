// What a source of rows looks like to the refresh engine. Sources hand over pages of rows as
// text in PostgreSQL's input syntax (exact: no float rounding of int64 or NUMERIC), so the
// loader can COPY them without converting again.

/** One value as PostgreSQL parses it from text (COPY text format input), or null. */
export type TextValue = string | null;

export interface SourcePage {
  /**
   * Rows, values in the order of `SourceRead.columns`. A page that carries `copyText` may
   * compute them on first access (the engine never asks for them then).
   */
  readonly rows: TextValue[][];
  /**
   * The same rows already as COPY text (copy-text.ts), when the source writes that directly
   * from its wire format: the loader stages it as it is, with no row arrays in between.
   */
  readonly copyText?: Buffer;
  /**
   * Where to continue after this page (opaque, JSON-serialisable), or null when this was the
   * last page. It is stored in the checkpoint in the same transaction as the page's rows.
   */
  resumeAfter: ResumeState | null;
}

/** Opaque, JSON-serialisable position of a source read (job id + page token, a key, …). */
export type ResumeState = Record<string, unknown>;

/** A read in progress; `S`: the source's own stats (BigQuery's name its jobs and inputs). */
export interface SourceRead<S extends SourceStats = SourceStats> {
  /** Column names, matching target columns. */
  columns: string[];
  /** Total rows of the whole read, pages before a resume position included, when known. */
  totalRows: number | null;
  /** Facts to record in the audit row (BigQuery job id, location, bytes). */
  stats: S;
  /** The pages, in order, from the resume position on. */
  pages(): AsyncIterable<SourcePage>;
  close(): Promise<void>;
}

export interface SourceStats {
  jobId?: string;
  location?: string;
  bytesProcessed?: bigint;
  bytesBilled?: bigint;
  cacheHit?: boolean;
  /** Every job the read started (BigQuery: a failed job is re-run as a new one), for the audit row. */
  jobs?: readonly unknown[];
  /** What the read depended on (BigQuery: the query and each referenced table's lastModifiedTime), for the next run's inputsUnchanged. */
  inputs?: unknown;
}

export interface OpenReadRequest {
  /** Target table (labels, messages). */
  table: { schema: string; name: string };
  /** Named query parameters, including `since` for incremental runs. */
  params: Record<string, string | number | boolean | null>;
  pageSize: number;
  /** Key columns: a keyset-paged source orders by them and resumes after the last one. */
  keyColumns: string[];
  /** Continue a read from a checkpoint instead of starting one. */
  resume?: ResumeState;
  signal?: AbortSignal;
}

/** A source that reads rows page by page through this process (bigquery, postgres: sources/registry.ts). */
export interface PagedSource {
  open(request: OpenReadRequest): Promise<SourceRead>;
  /** Bytes the query would process (BigQuery dry run); undefined where it costs nothing. */
  estimateBytes?(request: OpenReadRequest): Promise<bigint>;
  /**
   * Whether the read's inputs are as `previous` (the `inputs` of the last successful read)
   * recorded them, found without running the query (BigQuery: a dry run and tables.get, both
   * free). `unchanged: true` lets the engine end the run without a query.
   */
  inputsUnchanged?(request: OpenReadRequest, previous: unknown): Promise<{ unchanged: boolean }>;
}

/** A failure of a source, classified so that the runner knows whether to retry. */
export class SourceError extends Error {
  override name = 'SourceError';
  constructor(
    message: string,
    readonly details: { code?: number | string; reason?: string; retryable: boolean; [key: string]: unknown },
  ) {
    super(message);
  }
}
