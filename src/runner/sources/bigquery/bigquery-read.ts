// A read of a query job's results, page by page, as the engine takes it: each page as COPY
// text (rows as arrays only if asked for), with the position to resume after it.
import type { Job } from '@google-cloud/bigquery';
import { parseCopyText } from '../copy-text.ts';
import { SourceError, type ResumeState, type SourcePage, type SourceRead, type SourceStats, type TextValue } from '../source.ts';
import { throwIfAborted } from './bigquery-calls.ts';
import type { JobRunner } from './bigquery-jobs.ts';
import type { WireField } from './bigquery-types.ts';
import type { ResultsPage } from './bigquery-wire.ts';
import type { CopyRows, ReadOptions } from './bigquery-wire-rows.ts';

/** `SourcePage.resumeAfter` of this source. */
export interface BigQueryResumeState extends ResumeState {
  jobId: string;
  location: string | null;
  pageToken: string;
}

/** What a paged read needs of its request. */
export interface PagedReadRequest {
  /** Rows asked per page at most (the table's pageSize). */
  pageSize: number;
  /** Bytes of JSON a page should hold about (see BigQuerySourceSettings.pageBytes). */
  pageBytes: number;
  signal?: AbortSignal | undefined;
  nulReplacement?: string | undefined;
  readPage: JobRunner['readPage'];
}

/**
 * A read of `job`'s results from `firstPage` on: pages in order, each fetched while the one
 * before is being loaded. `rowsBefore`: rows of the read before `firstPage` (null: unknown, on
 * resume), for messages that name a row.
 */
export function pagedRead<S extends SourceStats>(job: Job, firstPage: ResultsPage, stats: S, request: PagedReadRequest, rowsBefore: number | null): SourceRead<S> {
  let fields: WireField[] = firstPage.meta.schema?.fields ?? [];
  const jobId = job.id ?? '';
  const location = job.location ?? firstPage.meta.jobReference?.location ?? null;
  const total = firstPage.meta.totalRows;
  const totalRows = total === undefined || total === null ? null : Number(total);
  const readOptions = (firstRow: number | null): ReadOptions => ({ firstRow, nulReplacement: request.nulReplacement });
  // Held only until pages() takes it, so that a read never keeps more than it is working on.
  let first: ResultsPage | null = firstPage;
  let started = false;
  let closed = false;
  let rowsRead = rowsBefore === null ? null : rowsBefore + (firstPage.copy?.rowCount ?? 0);
  // Rows to ask for next: the table's pageSize, fewer when its rows are wide. BigQuery itself
  // cuts a page near 20 MB; two such pages in flight (one loading, one fetched ahead) and their
  // COPY text outgrow the engine's memory budget, so the page is sized from the last one seen.
  let maxResults = request.pageSize;
  const sizeAfter = (page: ResultsPage): void => {
    const rows = page.copy?.rowCount ?? 0;
    if (rows > 0 && page.bodyBytes) maxResults = Math.max(1, Math.min(request.pageSize, Math.floor(request.pageBytes / (page.bodyBytes / rows))));
  };
  sizeAfter(firstPage);

  const toPage = (page: ResultsPage): SourcePage => {
    if (page.meta.schema?.fields?.length) fields = page.meta.schema.fields;
    const token = page.meta.pageToken;
    return sourcePage(page.copy, token ? { jobId, location, pageToken: token } : null, page.release);
  };
  const fetchNext = async (pageToken: string): Promise<SourcePage> => {
    const page = await request.readPage(job, maxResults, pageToken, request.signal, fields, false, readOptions(rowsRead));
    if (rowsRead !== null) rowsRead += page.copy?.rowCount ?? 0;
    sizeAfter(page);
    return toPage(page);
  };

  async function* pages(): AsyncGenerator<SourcePage> {
    if (started) throw new Error('BigQuery source: pages() can be iterated only once per open()');
    started = true;
    if (closed || !first) return;
    let page: SourcePage = toPage(first);
    first = null;
    let pending: Promise<SourcePage> | null = null;
    try {
      for (;;) {
        const next = page.resumeAfter as BigQueryResumeState | null;
        // Fetch the following page while the engine loads this one (a decode worker turns it
        // into COPY text as the engine's COPY of this one runs): BigQuery, the network, the
        // worker and PostgreSQL work at the same time. One page ahead at most, so memory stays
        // bounded by two pages.
        pending = next && !closed ? fetchNext(next.pageToken) : null;
        pending?.catch(() => undefined); // awaited below; a consumer that stops early never sees it
        yield page;
        if (!pending || closed) return;
        throwIfAborted(request.signal);
        page = await pending;
        pending = null;
      }
    } finally {
      // A consumer that stopped early: the page fetched ahead is not wanted, its buffer goes back.
      void pending?.then((p) => p.release?.(), () => undefined);
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

/** A page of the source: its rows as COPY text, and as arrays only if someone asks (before `release`). */
function sourcePage(copy: CopyRows | null, resumeAfter: BigQueryResumeState | null, release: (() => void) | undefined): SourcePage {
  if (!copy || copy.rowCount === 0) {
    release?.();
    return { rows: [], resumeAfter };
  }
  const copyText = copy.text;
  let rows: TextValue[][] | undefined;
  let released = false;
  return {
    get rows() {
      if (!rows && released) throw new Error('BigQuery source: the rows of a page were asked for after its release()');
      return (rows ??= parseCopyText(copyText));
    },
    copyText,
    resumeAfter,
    release() {
      released = true;
      release?.();
    },
  };
}

export function parseResumeState(resume: ResumeState): BigQueryResumeState {
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
