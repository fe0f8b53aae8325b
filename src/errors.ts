// Expected failures of commands (mutations, CLI): typed, safe to show to the caller.
import type { z } from 'zod';
import { issuePath } from './runner/params/params-error.ts';

export class NotFoundError extends Error {
  override name = 'NotFoundError';
  constructor(readonly field: string, readonly value: string, message = `${field}: ${value} not found`) {
    super(message);
  }
}

export class ValidationError extends Error {
  override name = 'ValidationError';
  readonly field: string;
  constructor(readonly issues: Array<{ path: string; message: string }>) {
    super(issues.map((i) => `${i.path}: ${i.message}`).join('; '));
    this.field = issues[0]?.path ?? '';
  }
  static of(path: string, message: string): ValidationError {
    return new ValidationError([{ path, message }]);
  }
  /** Issues of a zod error, each path prefixed with the input field it belongs to. */
  static fromZod(error: z.ZodError, prefix: string): ValidationError {
    return new ValidationError(error.issues.map((i) => ({ path: issuePath([prefix, ...i.path].filter((s) => s !== '')), message: i.message })));
  }
  /** Issues of a part of the input (a SyncParamsError's, of `customSyncParams`), each path under that field: `customSyncParams.keyColumns[0]`. */
  static under(field: string, issues: ReadonlyArray<{ path: string; message: string }>): ValidationError {
    return new ValidationError(issues.map((i) => ({ path: i.path === '(root)' ? field : `${field}${i.path.startsWith('[') ? '' : '.'}${i.path}`, message: i.message })));
  }
}

export class CycleError extends Error {
  override name = 'CycleError';
  constructor(readonly cycle: string[]) {
    super(`the dependency would create a cycle: ${cycle.join(' -> ')}`);
  }
}

export class ConflictError extends Error {
  override name = 'ConflictError';
  constructor(readonly field: string, message: string) {
    super(message);
  }
}

export class BudgetExceededError extends Error {
  override name = 'BudgetExceededError';
  constructor(readonly estimatedBytes: bigint, readonly remainingBytes: bigint) {
    super(`the refresh would bill about ${estimatedBytes} bytes, but only ${remainingBytes} remain of today's budget`);
  }
}
