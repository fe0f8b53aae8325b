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

export interface SourceRead {
  /** Column names, matching target columns. */
  columns: string[];
  /** Total rows of the whole read, pages before a resume position included, when known. */
  totalRows: number | null;
  /** Facts to record in the audit row (BigQuery job id, location, bytes). */
  stats: SourceStats;
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

/** A source that reads rows page by page (bigquery, postgres). */
export interface PagedSource {
  kind: 'bigquery' | 'postgres';
  open(request: OpenReadRequest): Promise<SourceRead>;
  /** Bytes the query would process (BigQuery dry run); undefined where it costs nothing. */
  estimateBytes?(request: OpenReadRequest): Promise<bigint>;
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
