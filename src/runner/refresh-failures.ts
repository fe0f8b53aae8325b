// How a refresh failure is told: a message and details that are safe to store in the audit
// row and to show (reason, codes, whether a retry may help; never statement text or a stack).
import { SourceError } from './source.ts';
import { SyncParamsError } from './sync-params.ts';

/** A failure with details safe to store and show (no secrets, no stack). */
export class RefreshFailure extends Error {
  constructor(message: string, readonly details: Record<string, unknown>) {
    super(message);
  }
}

/** Turns any error into a message and details that are safe to store and show. */
export function describeFailure(error: unknown): { message: string; details: Record<string, unknown> } {
  if (error instanceof RefreshFailure) return { message: error.message, details: error.details };
  if (error instanceof SyncParamsError) {
    return { message: error.message, details: { reason: 'params', issues: error.issues, retryable: false } };
  }
  if (error instanceof SourceError) {
    const { retryable, ...rest } = error.details;
    return { message: error.message, details: { ...rest, retryable } };
  }
  const e = error as { code?: string; message?: string; detail?: string };
  if (typeof e?.code === 'string' && /^[0-9A-Z]{5}$/.test(e.code)) {
    // A PostgreSQL error: its SQLSTATE and message name the problem; no statement text.
    const retryable = e.code.startsWith('08') || e.code === '40001' || e.code === '40P01' || e.code === '57P01';
    return { message: `database error: ${e.message}`, details: { reason: 'database', sqlstate: e.code, retryable } };
  }
  return { message: e?.message ?? String(error), details: { reason: 'internal', retryable: true } };
}
