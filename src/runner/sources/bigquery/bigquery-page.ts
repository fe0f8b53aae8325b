// One jobs.getQueryResults answer, as sent, to COPY text: the decode task of the REST path
// (sources/decode/decode-tasks.ts runs it in a worker thread). The body is inflated here, in
// the worker, so the event loop never holds a page's JSON (~8 MB inflated) nor an output
// buffer per page (`out` comes from the pool of reusable buffers): it only receives the
// compressed bytes and hands them over.
import zlib from 'node:zlib';
import { releaseNow as free } from '../decode/copy-buffers.ts';
import type { WireField } from './bigquery-types.ts';
import { readResultsBody, type ResultsPage } from './bigquery-wire.ts';
import type { ReadOptions } from './bigquery-wire-rows.ts';

/** How a page is read: its content-encoding, the schema of the pages before (an answer may omit it), row numbering and NULs. */
export interface PageDecodeOptions {
  encoding: string | undefined;
  fields: readonly WireField[];
  read: ReadOptions;
}

/** A decoded page: its rows as COPY text, and everything else of the answer. */
export interface DecodedResults {
  text: Buffer;
  rowCount: number;
  /** Whether the answer had a `rows` array at all. */
  hasRows: boolean;
  meta: ResultsPage['meta'];
  /** Size of the answer as JSON (inflated), bytes. */
  bodyBytes: number;
}

/** Largest page inflated in one piece (a gzip trailer claiming more is not believed). */
const MAX_ONE_PIECE = 256 * 1024 * 1024;

/** The body inflated (gzip, deflate, br) and read (readResultsBody); throws InvalidRowValue or an Error as readResultsBody does. */
export function decodeResultsPage(bytes: Buffer, options: PageDecodeOptions, out: Buffer | null): DecodedResults {
  const raw = inflateSync(bytes, options.encoding);
  let page: ResultsPage;
  try {
    page = readResultsBody(raw, options.fields, options.read, out);
  } finally {
    // The body and its inflated JSON (~2 + ~8 MB a page) are garbage now: freed at once. Left
    // to the GC, dead buffers pile up to V8's external-memory trigger (~64 MB) before a
    // collection frees them: that was +50 MB of peak RSS in the decode worker.
    // zlib's output is a slice of a buffer made for it alone (or of Node's shared pool when
    // small, which free() leaves alone); the body may be a view the caller still holds around.
    if (raw !== bytes) free(raw, false);
    free(bytes, true);
  }
  const copy = page.copy;
  return { text: copy ? copy.text : Buffer.alloc(0), rowCount: copy?.rowCount ?? 0, hasRows: copy !== null, meta: page.meta, bodyBytes: page.bodyBytes ?? raw.length };
}

/** The body as sent, inflated if the server compressed it (see inflate in bigquery-results.ts for the answers that are not pages). */
export function inflateSync(body: Buffer, encoding: string | undefined): Buffer {
  const e = encoding?.trim().toLowerCase();
  if (!e || e === 'identity') return body;
  if (e === 'gzip' || e === 'x-gzip') {
    // The gzip trailer gives the inflated size: one output chunk of that size, not 16 KB
    // chunks gathered and concatenated (two copies of a ~9 MB page at the peak).
    const size = body.length >= 18 && body[0] === 0x1f && body[1] === 0x8b ? body.readUInt32LE(body.length - 4) : 0;
    return zlib.unzipSync(body, size > 0 && size <= MAX_ONE_PIECE ? { chunkSize: size + 64 } : {});
  }
  if (e === 'deflate') return zlib.unzipSync(body);
  if (e === 'br') return zlib.brotliDecompressSync(body);
  throw new Error(`BigQuery answered with an unknown content-encoding: ${encoding}`);
}
