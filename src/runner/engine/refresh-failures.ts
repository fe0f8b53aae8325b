// How a refresh failure is told: a message and details that are safe to store in the audit
// row and to show (reason, codes, whether a retry may help; never statement text or a stack).
import { SourceError } from '../sources/source.ts';
import { SyncParamsError } from '../params/params-error.ts';

/** A failure with details safe to store and show (no secrets, no stack). */
export class RefreshFailure extends Error {
  constructor(message: string, readonly details: Record<string, unknown>) {
    super(message);
  }
}

/**
 * SQLSTATEs of transient server-side conditions: a retry with backoff may well succeed
 * (connection failures 08xxx, serialization failure and deadlock, too many connections,
 * a statement timeout or cancel 57014, admin/crash shutdown 57P01-57P03).
 */
const RETRYABLE_SQLSTATES = new Set(['40001', '40P01', '53300', '57014', '57P01', '57P02', '57P03']);

/** Whether a PostgreSQL error is transient (see RETRYABLE_SQLSTATES). */
export function isRetryableSqlState(code: string): boolean {
  return code.startsWith('08') || RETRYABLE_SQLSTATES.has(code);
}

/** Whether an error means the connection itself is gone (not just the statement failed). */
export function isConnectionLoss(error: unknown): boolean {
  const e = error as { code?: string; message?: string } | null;
  if (!e) return false;
  if (typeof e.code === 'string' && (e.code.startsWith('08') || e.code === '57P01' || e.code === '57P02' || e.code === '57P03')) return true;
  if (e.code === 'ECONNRESET' || e.code === 'EPIPE' || e.code === 'ECONNREFUSED') return true;
  return /Connection terminated|Client has encountered a connection error|not queryable|Client was closed/i.test(e.message ?? '');
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
    const retryable = isRetryableSqlState(e.code);
    return { message: `database error: ${e.message}`, details: { reason: 'database', sqlstate: e.code, retryable } };
  }
  if (isConnectionLoss(error)) return { message: e?.message ?? String(error), details: { reason: 'connectionLost', retryable: true } };
  return { message: e?.message ?? String(error), details: { reason: 'internal', retryable: true } };
}
