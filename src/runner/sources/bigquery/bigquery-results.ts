// Reading one jobs.getQueryResults answer over the client's own request stream, and what the
// client would otherwise have done with it (status and error bodies, compression). The rows
// are read by bigquery-wire.ts once the body is in, in one buffer.
import { promisify } from 'node:util';
import zlib from 'node:zlib';
import type { BigQuery, Job } from '@google-cloud/bigquery';
import { SourceError } from '../source.ts';
import type { WireField } from './bigquery-types.ts';
import { readResultsBody, type ResultsPage } from './bigquery-wire.ts';
import { InvalidRowValue, type ReadOptions } from './bigquery-wire-rows.ts';

/**
 * One jobs.getQueryResults answer, its rows as COPY text. It goes through the client's own
 * authenticated request path (`requestStream`: its endpoint, credentials, headers, and its
 * retries of broken connections; 408/429/5xx are retried by our caller, see below) but as a
 * stream, so the body reaches us as it came. Through job.getQueryResults every ~8.6 MB page
 * was JSON.parse'd and then deep-copied by @google-cloud/common (extend(true) in
 * util.handleResp): 60% of a refresh's CPU and most of its memory (bigquery-wire.ts writes
 * the rows as COPY text instead, without a JavaScript object per value). What the client would have done with
 * the answer is done here: a non-2xx status or an `error` body becomes an error with the
 * API's code, reasons and message (as its ApiError), and a gzip answer (asked for: pages
 * are large) is inflated. `fields`: the schema of the pages before (a page may omit it).
 */
export function fetchQueryResults(
  bq: BigQuery,
  job: Job,
  qs: Record<string, string | number | boolean>,
  fields: readonly WireField[],
  read: ReadOptions,
  abandoned: AbortSignal,
): Promise<ResultsPage> {
  return new Promise((resolve, reject) => {
    // maxRetries 0: the client does not retry an HTTP answer (429, 5xx) of this stream — our
    // caller does (bigquery-calls.ts). On Node 22+ teeny-request 11 pipes a retried answer into
    // the stream retry-request has just destroyed, an unhandled ERR_STREAM_UNABLE_TO_PIPE that
    // ends the process (googleapis/google-cloud-node#8670, unfixed in 11.1.1). Connection
    // failures, which never reach that pipe, are still retried by the client.
    const stream = bq.requestStream({ uri: `/queries/${job.id}`, qs, headers: { 'Accept-Encoding': 'gzip' }, maxRetries: 0 } as Parameters<BigQuery['requestStream']>[0]);
    let response: { statusCode?: number; statusMessage?: string; headers?: Record<string, string | undefined> } | undefined;
    const body = new BodyBuffer();
    const onAbandoned = (): void => {
      stream.destroy();
      body.clear();
    };
    abandoned.addEventListener('abort', onAbandoned, { once: true });
    const settle = (error: unknown, value?: ResultsPage): void => {
      abandoned.removeEventListener('abort', onAbandoned);
      if (error) reject(error);
      else resolve(value!);
    };
    stream.on('response', (r: typeof response) => {
      response = r;
      if (!r?.headers?.['content-encoding']) body.expect(Number(r?.headers?.['content-length']));
    });
    stream.on('data', (chunk: Buffer) => body.push(chunk));
    stream.on('error', (err: unknown) => settle(err));
    stream.on('end', () => {
      if (abandoned.aborted) return;
      inflate(body.take(), response?.headers?.['content-encoding'])
        .then((raw) => {
          const status = response?.statusCode ?? 0;
          if (status < 200 || status > 299) return settle(apiError(status, response?.statusMessage, raw));
          let page: ResultsPage;
          try {
            page = readResultsBody(raw, fields, read);
          } catch (err) {
            if (!(err instanceof InvalidRowValue)) throw err;
            throw new SourceError(`BigQuery job ${job.id ?? '?'}: cannot convert a result value: ${err.message}`, {
              reason: 'invalidValue',
              retryable: false,
              message: err.message,
              jobId: job.id,
              ...err.where,
            });
          }
          if (page.meta.error) return settle(apiError(status, response?.statusMessage, raw));
          settle(null, page);
        })
        .catch((err: unknown) => settle(err));
    });
  });
}

/**
 * Collects a response body. With its length known up front, chunks are copied into one
 * buffer as they arrive (no list of chunks plus a concatenated copy of them).
 */
class BodyBuffer {
  private chunks: Buffer[] = [];
  private whole: Buffer | null = null;
  private size = 0;

  expect(length: number): void {
    if (Number.isSafeInteger(length) && length > 0 && this.size === 0) this.whole = Buffer.allocUnsafe(length);
  }

  push(chunk: Buffer): void {
    if (this.whole && this.size + chunk.length <= this.whole.length) chunk.copy(this.whole, this.size);
    else {
      if (this.whole) {
        // Longer than announced: fall back to collecting chunks.
        this.chunks.push(this.whole.subarray(0, this.size));
        this.whole = null;
      }
      this.chunks.push(chunk);
    }
    this.size += chunk.length;
  }

  take(): Buffer {
    const body = this.whole ? this.whole.subarray(0, this.size) : Buffer.concat(this.chunks, this.size);
    this.clear();
    return body;
  }

  clear(): void {
    this.chunks = [];
    this.whole = null;
    this.size = 0;
  }
}

const inflateAsync = { gzip: promisify(zlib.unzip), br: promisify(zlib.brotliDecompress) };

/** Largest page inflated in one piece (a gzip trailer claiming more is not believed). */
const MAX_ONE_PIECE = 256 * 1024 * 1024;

/** The body as sent, inflated if the server compressed it. */
async function inflate(body: Buffer, encoding: string | undefined): Promise<Buffer> {
  const e = encoding?.trim().toLowerCase();
  if (!e || e === 'identity') return body;
  if (e === 'gzip' || e === 'x-gzip') {
    // BigQuery gzips every page for us (see the User-Agent in bigquery.ts). Inflated on libuv's
    // thread pool, not on the event loop: this thread is busy turning the previous page into
    // COPY text meanwhile (inflating on it cost ~0.7 µs a row, a sixth of the engine's CPU).
    // The gzip trailer gives the inflated size: one output chunk of that size, not 16 KB
    // chunks gathered and concatenated (two copies of a ~9 MB page at the peak).
    const size = body.length >= 18 && body[0] === 0x1f && body[1] === 0x8b ? body.readUInt32LE(body.length - 4) : 0;
    return inflateAsync.gzip(body, size > 0 && size <= MAX_ONE_PIECE ? { chunkSize: size + 64 } : {});
  }
  if (e === 'deflate') return inflateAsync.gzip(body);
  if (e === 'br') return inflateAsync.br(body);
  throw new Error(`BigQuery answered with an unknown content-encoding: ${encoding}`);
}

interface ApiErrorBody {
  code?: number;
  message?: string;
  errors?: { reason?: string; message?: string; location?: string }[];
}

/**
 * The error the client would have made of a failed answer (@google-cloud/common's ApiError):
 * the `error` body's code, errors and messages, or the HTTP status when the body has none.
 */
function apiError(status: number, statusMessage: string | undefined, body: Buffer): Error {
  let parsed: { error?: ApiErrorBody } | null = null;
  try {
    parsed = JSON.parse(body.toString('utf8')) as { error?: ApiErrorBody };
  } catch {
    // not JSON (a proxy's HTML page, say): the status says it all
  }
  const e = parsed?.error && typeof parsed.error === 'object' ? parsed.error : null;
  const messages = new Set<string>();
  if (e?.message) messages.add(e.message);
  for (const item of e?.errors ?? []) if (item?.message) messages.add(item.message);
  if (!e) messages.add(statusMessage || body.toString('utf8', 0, Math.min(body.length, 500)) || `HTTP ${status}`);
  let list = [...messages];
  if (list.length === 0) list = ['A failure occurred during this request.'];
  const message =
    list.length > 1
      ? ['Multiple errors occurred during the request. Please see the `errors` array for complete details.\n', ...list.map((m, i) => `    ${i + 1}. ${m}`), '\n'].join('\n')
      : list[0]!;
  return Object.assign(new Error(message), { code: e ? e.code : status, errors: e?.errors ?? [] });
}
