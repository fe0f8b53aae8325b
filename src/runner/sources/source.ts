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
  /**
   * Called by the engine once the page is staged (or when it stops without staging it): the
   * source may reuse the memory of `copyText` then (BigQuery's pages are written into buffers
   * of its decode pool, sources/decode/), so neither `copyText` nor `rows` may be read after.
   * Optional both ways: a page without it holds nothing to give back, and a page never
   * released is only garbage-collected instead of reused.
   */
  release?(): void;
}

/** Opaque, JSON-serialisable position of a source read (job id + page token, a key, …). */
export type ResumeState = Record<string, unknown>;

/** A read in progress; `S`: the kind's own stats (BigQuery's name its jobs and location). */
export interface SourceRead<S extends SourceStats = SourceStats> {
  /** Column names, matching target columns. */
  columns: string[];
  /** Total rows of the whole read, pages before a resume position included, when known. */
  totalRows: number | null;
  /** Facts the engine acts on and records in the audit row (job id, bytes, inputs). */
  stats: S;
  /**
   * The kind's own facts for the audit row's metadata, under keys it chooses (BigQuery: the
   * location and every job the read started); the engine stores them as they are.
   */
  details?: Readonly<Record<string, unknown>>;
  /** The pages, in order, from the resume position on. */
  pages(): AsyncIterable<SourcePage>;
  close(): Promise<void>;
}

/** What any kind may tell of a read, and the engine interprets; a kind's own facts go in `SourceRead.details`. */
export interface SourceStats {
  /** The source's id of the work it runs for the read (BigQuery: the query job): the audit row's job id, kept in the checkpoint. */
  jobId?: string;
  /** Bytes the read processed, where the source meters them. */
  bytesProcessed?: bigint;
  /** Bytes the read was billed: the daily byte budget counts them. */
  bytesBilled?: bigint;
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
  /** A backfill's window: only the rows whose `column` lies in [from, to). Each kind applies it to its query. */
  window?: ReadWindow;
  signal?: AbortSignal;
}

/** A range of a date (or timestamp) column, [from, to): the rows a backfill chunk re-loads. */
export interface ReadWindow {
  column: string;
  /** Inclusive, as `YYYY-MM-DD`. */
  from: string;
  /** Exclusive, as `YYYY-MM-DD`. */
  to: string;
  /** The target column's type: how a source compares its values with the bounds. */
  type: 'date' | 'timestamp';
}

/** A source that reads rows page by page through this process. */
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
  /**
   * Whether a read can still continue from `resume` at `now` (BigQuery: a Storage Read session
   * lives 6 hours). False: the engine starts the load over before opening the read, as it does
   * when the params changed. Absent: always.
   */
  canResume?(resume: ResumeState, now: Date): boolean;
}

/**
 * A read that PostgreSQL runs into the staging table itself, from a table of the same
 * database: no page passes through this process.
 */
export interface InDatabaseRead {
  /** Output columns. */
  columns: string[];
  keyColumns: string[];
  /**
   * SELECT producing the rows of the window: `$1` is the lower bound of changes (incremental),
   * `$2`/`$3` a backfill's range [from, to) of the parent's dates; all NULL: everything.
   */
  select: string;
  /** Predicate on target alias `t` selecting the window; `$1` to `$3` as above. */
  window: string;
  /** The newest change of what it reads (the next watermark). */
  watermark: string;
}

/**
 * How a table's rows reach its staging table: pages that flow through this process (the
 * engine COPYs each one and checkpoints it), or one SELECT that PostgreSQL runs into the
 * staging table itself.
 */
export type TableReader = { pages: PagedSource } | { inDatabase: InDatabaseRead };

/** The table a reader is made for. */
export interface ReaderContext {
  targetSchema: string;
  /** Whether the refresh deletes the window's rows the load lacks (an in-database read may widen its window to rows whose parent rows are gone). */
  deleteMissing: boolean;
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
