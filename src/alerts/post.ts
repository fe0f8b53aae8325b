// One webhook POST and what it came to: a 2xx answer delivers; anything else — another status,
// a redirect (never followed: a receiver that moved is told by its admin, and a redirect to
// another host must not carry our signed body there), no answer within the timeout, a refused
// connection — is a failed attempt with its reason. Of the response only a short excerpt is kept.
import { performance } from 'node:perf_hooks';
import type { AttemptResult } from './sql.ts';

/** Bytes of the response read for the excerpt; the rest is never read. */
const EXCERPT_BYTES = 512;
/** Characters of it kept. */
const EXCERPT_CHARS = 256;

/** POSTs `body` to `url` with `headers`, giving up after `timeoutMs`. Never throws. */
export async function postWebhook(
  fetchFn: typeof fetch,
  request: { url: string; body: string; headers: Record<string, string> },
  timeoutMs: number,
): Promise<AttemptResult> {
  const started = performance.now();
  const signal = AbortSignal.timeout(timeoutMs);
  const elapsed = () => performance.now() - started;
  try {
    const res = await fetchFn(request.url, { method: 'POST', headers: request.headers, body: request.body, redirect: 'manual', signal });
    const excerpt = await readExcerpt(res);
    return { httpStatus: res.status, error: statusError(res), excerpt, durationMs: elapsed() };
  } catch (error) {
    const why = signal.aborted ? `no answer within ${timeoutMs} ms` : describeFailure(error);
    return { httpStatus: null, error: why, excerpt: null, durationMs: elapsed() };
  }
}

/** Why an answer is not a delivery, or null for a 2xx. */
function statusError(res: Response): string | null {
  if (res.status >= 200 && res.status < 300) return null;
  if (res.status >= 300 && res.status < 400) {
    // The host only: a path may carry a token.
    const location = res.headers.get('location');
    let host = 'elsewhere';
    try {
      if (location) host = new URL(location, 'http://unknown.invalid').host;
    } catch {
      // an unparseable Location says nothing more
    }
    return `HTTP ${res.status}: redirected to ${host}; redirects are not followed (set the destination's URL to where it points)`;
  }
  return `HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ''}`;
}

/** The start of the response body as text, control characters blanked; null when empty or unreadable. */
async function readExcerpt(res: Response): Promise<string | null> {
  if (!res.body) return null;
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    while (size < EXCERPT_BYTES) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      size += value.byteLength;
    }
  } catch {
    // The status is the answer; a body cut off (or too slow) only shortens the excerpt.
  } finally {
    await reader.cancel().catch(() => undefined);
  }
  const text = Buffer.concat(chunks).subarray(0, EXCERPT_BYTES).toString('utf8').replace(/[\u0000-\u001f\u007f]+/g, ' ').trim();
  return text ? text.slice(0, EXCERPT_CHARS) : null;
}

/** A failed fetch as one line: Node puts the socket's error (ECONNREFUSED, ENOTFOUND, …) in `cause`. */
function describeFailure(error: unknown): string {
  const e = error as { message?: string; cause?: { code?: string; message?: string } };
  const cause = e?.cause;
  if (cause?.message) return [cause.code, cause.message].filter(Boolean).join(' ').slice(0, 300);
  return String(e?.message ?? error).slice(0, 300);
}
