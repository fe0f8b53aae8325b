// How the BigQuery REST test server answers on the wire: BigQuery's error shape and the
// statuses it uses per reason, JSON escaped as Google's front ends escape it, and gzip only
// when the request earns it.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { gzipSync } from 'node:zlib';
import type { RecordedRequest } from './bigquery-server-types.ts';

export interface ApiErrorSpec {
  status: number;
  reason: string;
  message: string;
  location?: string;
}

/** An answer with BigQuery's error shape, thrown from a route. */
export class HttpError extends Error {
  constructor(readonly spec: ApiErrorSpec) {
    super(spec.message);
  }
}

const STATUS_TEXT: Record<number, string> = {
  400: 'INVALID_ARGUMENT',
  401: 'UNAUTHENTICATED',
  403: 'PERMISSION_DENIED',
  404: 'NOT_FOUND',
  409: 'ALREADY_EXISTS',
  429: 'RESOURCE_EXHAUSTED',
  500: 'INTERNAL',
  502: 'UNAVAILABLE',
  503: 'UNAVAILABLE',
  504: 'DEADLINE_EXCEEDED',
};

/** Reasons of injected HTTP faults that name none. */
export const DEFAULT_REASON: Record<number, string> = {
  400: 'invalid',
  401: 'authError',
  403: 'accessDenied',
  404: 'notFound',
  409: 'duplicate',
  429: 'rateLimitExceeded',
  500: 'backendError',
  502: 'backendError',
  503: 'backendError',
  504: 'backendError',
};

/**
 * The HTTP status BigQuery answers with for an error reason (its "error messages" table):
 * rateLimitExceeded comes as 403, not 429; a job's own failures (jobInternalError,
 * jobBackendError, jobRateLimitExceeded, resourcesExceeded, …) as 400; backendError and
 * internalError as 500.
 */
export function statusForReason(reason: string): number {
  switch (reason) {
    case 'notFound':
      return 404;
    case 'accessDenied':
    case 'billingNotEnabled':
    case 'quotaExceeded':
    case 'rateLimitExceeded':
    case 'responseTooLarge':
      return 403;
    case 'duplicate':
      return 409;
    case 'backendError':
    case 'internalError':
      return 500;
    default:
      return 400;
  }
}

export function errorBody(spec: ApiErrorSpec): unknown {
  const item: Record<string, unknown> = { message: spec.message, domain: 'global', reason: spec.reason };
  if (spec.location) {
    item['location'] = spec.location;
    item['locationType'] = 'other';
  }
  return {
    error: {
      code: spec.status,
      message: spec.message,
      errors: [item],
      status: STATUS_TEXT[spec.status] ?? 'UNKNOWN',
    },
  };
}

/**
 * Google's JSON front ends escape characters that matter in HTML even inside JSON strings:
 * `<` and `>` arrive as \u003c and \u003e, `&` as \u0026, `=` as \u003d (a base64 page token
 * or BYTES value ends in "\u003d"). Outside strings these never occur in JSON, so the escape
 * can run over the whole text (or over its pieces one by one: it is character by character).
 */
export function googleEscape(text: string): string {
  return /[<>&=]/.test(text) ? text.replace(/[<>&=]/g, (c) => `\\u00${c.charCodeAt(0).toString(16)}`) : text;
}

/**
 * Whether to gzip the answer: BigQuery's documented rule needs BOTH `Accept-Encoding: gzip`
 * and a User-Agent that contains "gzip" (its performance guide, "Using gzip compression").
 */
function wantsGzip(req: IncomingMessage): boolean {
  const accept = String(req.headers['accept-encoding'] ?? '');
  const agent = String(req.headers['user-agent'] ?? '');
  return /\bgzip\b/i.test(accept) && /gzip/i.test(agent);
}

/** Sends JSON text (Google-escaped, gzipped when earned) and records what went on the wire. */
export function sendJsonText(req: IncomingMessage, res: ServerResponse, status: number, json: string, record?: RecordedRequest): void {
  sendEncoded(req, res, status, (gzip) => {
    const body = Buffer.from(googleEscape(json), 'utf8');
    // Level 1: how hard Google compresses is not documented; the fastest level keeps the test
    // server's CPU (on the same cores as the engine in the bench) out of the engine's figures.
    return gzip ? gzipSync(body, { level: 1 }) : body;
  }, record);
}

/**
 * Sends an answer whose body `encode` gives, already Google-escaped: gzip bytes when `gzip`
 * (the request earned compression), else the JSON itself. Records what went on the wire.
 */
export function sendEncoded(req: IncomingMessage, res: ServerResponse, status: number, encode: (gzip: boolean) => Buffer, record?: RecordedRequest): void {
  if (res.destroyed || res.headersSent) return;
  const gzip = wantsGzip(req);
  const body = encode(gzip);
  const headers: Record<string, string | number> = { 'content-type': 'application/json; charset=UTF-8' };
  if (gzip) {
    headers['content-encoding'] = 'gzip';
    if (record) record.contentEncoding = 'gzip';
  }
  headers['content-length'] = body.length;
  if (record) {
    record.responseBytes = body.length;
    record.status = status;
  }
  res.writeHead(status, headers);
  res.end(body);
}

export function sendError(req: IncomingMessage, res: ServerResponse, spec: ApiErrorSpec, record?: RecordedRequest): void {
  sendJsonText(req, res, spec.status, JSON.stringify(errorBody(spec)), record);
}

export function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolveBody, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolveBody(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}
