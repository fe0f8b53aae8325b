// Reading one jobs.getQueryResults answer over the client's own request stream, and what the
// client would otherwise have done with it (status and error bodies, compression). The body,
// once in, goes to a decode worker as it came (bigquery-page.ts inflates it and
// bigquery-wire.ts writes its rows as COPY text there).
import type { BigQuery, Job } from '@google-cloud/bigquery';
import { SourceError } from '../source.ts';
import type { WireField } from './bigquery-types.ts';
import type { Decoded, DecodePool } from '../decode/decode-pool.ts';
import { inflateSync, type PageDecodeOptions } from './bigquery-page.ts';
import type { ResultsPage } from './bigquery-wire.ts';
import { invalidRowValueOf, type ReadOptions } from './bigquery-wire-rows.ts';

/**
 * One jobs.getQueryResults answer, its rows as COPY text. It goes through the client's own
 * authenticated request path (`requestStream`: its endpoint, credentials, headers, and its
 * retries of broken connections; 408/429/5xx are retried by our caller, see below) but as a
 * stream, so the body reaches us as it came. Through job.getQueryResults every ~8.6 MB page
 * was JSON.parse'd and then deep-copied by @google-cloud/common (extend(true) in
 * util.handleResp): 60% of a refresh's CPU and most of its memory (bigquery-wire.ts writes
 * the rows as COPY text instead, without a JavaScript object per value, on a decode worker:
 * `decoder`). What the client would have done with the answer is done here: a non-2xx status
 * or an `error` body becomes an error with the API's code, reasons and message (as its
 * ApiError), and a gzip answer (asked for: pages are large) is inflated. `fields`: the schema
 * of the pages before (a page may omit it). The page's `release()` gives its text's buffer
 * back to the decoder's pool once it is written.
 */
export function fetchQueryResults(
  bq: BigQuery,
  job: Job,
  qs: Record<string, string | number | boolean>,
  fields: readonly WireField[],
  read: ReadOptions,
  decoder: DecodePool,
  abandoned: AbortSignal,
): Promise<ResultsPage & { release(): void }> {
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
    const settle = (error: unknown, value?: ResultsPage & { release(): void }): void => {
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
      const status = response?.statusCode ?? 0;
      const encoding = response?.headers?.['content-encoding'];
      if (status < 200 || status > 299) {
        // An error's body is small: inflated here.
        let raw: Buffer;
        try {
          raw = inflateSync(body.take(), encoding);
        } catch (err) {
          return settle(err);
        }
        return settle(apiError(status, response?.statusMessage, raw));
      }
      decodePage(decoder, job, body.take(), { encoding, fields, read }, abandoned).then((page) => {
        if (!page.meta.error) return settle(null, page);
        page.release();
        settle(apiErrorOf(status, response?.statusMessage, { error: page.meta.error }, JSON.stringify(page.meta.error)));
      }, settle);
    });
  });
}

/**
 * The answer's rows as COPY text, converted by a decode worker (bigquery-page.ts): this thread
 * never parses a row. A value without PostgreSQL text fails the read for good, naming the
 * column and row; a worker that died fails this page only (DecodeWorkerLost: the call is
 * asked again, bigquery-calls.ts).
 */
async function decodePage(decoder: DecodePool, job: Job, bytes: Buffer, options: PageDecodeOptions, abandoned: AbortSignal): Promise<ResultsPage & { release(): void }> {
  let d: Decoded<'restPage'>;
  try {
    d = await decoder.run('restPage', bytes, options, abandoned);
  } catch (err) {
    const invalid = invalidRowValueOf(err);
    if (!invalid) throw err;
    throw new SourceError(`BigQuery job ${job.id ?? '?'}: cannot convert a result value: ${invalid.message}`, {
      reason: 'invalidValue',
      retryable: false,
      message: invalid.message,
      jobId: job.id,
      ...invalid.where,
    });
  }
  return { meta: d.meta, copy: d.hasRows ? { text: d.text, rowCount: d.rowCount } : null, bodyBytes: d.bodyBytes, release: d.release };
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
  return apiErrorOf(status, statusMessage, parsed, body.toString('utf8', 0, Math.min(body.length, 500)));
}

/** The same of an answer already parsed; `text`: the start of the body, for a message when it has no `error`. */
function apiErrorOf(status: number, statusMessage: string | undefined, parsed: { error?: unknown } | null, text: string): Error {
  const e = parsed?.error && typeof parsed.error === 'object' ? (parsed.error as ApiErrorBody) : null;
  const messages = new Set<string>();
  if (e?.message) messages.add(e.message);
  for (const item of e?.errors ?? []) if (item?.message) messages.add(item.message);
  if (!e) messages.add(statusMessage || text.slice(0, 500) || `HTTP ${status}`);
  let list = [...messages];
  if (list.length === 0) list = ['A failure occurred during this request.'];
  const message =
    list.length > 1
      ? ['Multiple errors occurred during the request. Please see the `errors` array for complete details.\n', ...list.map((m, i) => `    ${i + 1}. ${m}`), '\n'].join('\n')
      : list[0]!;
  return Object.assign(new Error(message), { code: e ? e.code : status, errors: e?.errors ?? [] });
}
