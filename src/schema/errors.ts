// Expected failures of mutations, returned as typed results (Pothos errors plugin) instead of
// bare strings: every one implements the `Error` interface, so `... on Error { message }` works.
// Unexpected errors are never listed here: they stay GraphQL errors and are masked.
import { ForbiddenError } from '@pothos/plugin-scope-auth';
import { builder } from './builder.ts';
import { NotFoundError, ValidationError, CycleError, BudgetExceededError, ConflictError } from '../errors.ts';

export { ForbiddenError, NotFoundError, ValidationError, CycleError, BudgetExceededError, ConflictError };

const ErrorInterface = builder.interfaceRef<Error>('Error').implement({
  description: 'An expected failure of a mutation; the concrete type says which.',
  fields: (t) => ({ message: t.exposeString('message', { description: 'What went wrong, for people; the type and its fields say it for programs.' }) }),
});

builder.objectType(NotFoundError, {
  name: 'NotFoundError',
  description: 'What the input names does not exist.',
  interfaces: [ErrorInterface],
  fields: (t) => ({
    field: t.exposeString('field', { description: 'The input field that named it.' }),
    value: t.exposeString('value', { description: 'The value that was not found.' }),
  }),
});

const ValidationIssueRef = builder.objectRef<{ path: string; message: string }>('ValidationIssue').implement({
  description: 'One thing wrong with an input.',
  fields: (t) => ({
    path: t.exposeString('path', { description: 'The input field, dotted (customSyncParams.source.query).' }),
    message: t.exposeString('message', { description: 'What is wrong with it.' }),
  }),
});

builder.objectType(ValidationError, {
  name: 'ValidationError',
  description: 'The input is invalid; nothing was written.',
  interfaces: [ErrorInterface],
  fields: (t) => ({
    field: t.exposeString('field', { description: 'The first invalid input field, dotted.' }),
    issues: t.field({ type: [ValidationIssueRef], description: 'Everything wrong with the input, not only the first.', resolve: (e) => e.issues }),
  }),
});

builder.objectType(CycleError, {
  name: 'CycleError',
  description: 'The dependency would close a cycle (or is a self-edge); nothing was written.',
  interfaces: [ErrorInterface],
  fields: (t) => ({ cycle: t.exposeStringList('cycle', { description: 'The tables along the cycle as schema.table, the first repeated last.' }) }),
});

builder.objectType(ConflictError, {
  name: 'ConflictError',
  description: 'The state does not allow it now (e.g. cancelling a run that already finished).',
  interfaces: [ErrorInterface],
  fields: (t) => ({ field: t.exposeString('field', { description: 'The input field whose value conflicts with the state.' }) }),
});

builder.objectType(BudgetExceededError, {
  name: 'BudgetExceededError',
  description: 'The refresh would exceed the daily BigQuery byte budget.',
  interfaces: [ErrorInterface],
  fields: (t) => ({
    neededBytes: t.field({ type: 'BigInt', description: 'The dry-run estimate of this refresh.', resolve: (e) => e.estimatedBytes }),
    remainingBytes: t.field({ type: 'BigInt', description: "What remains of today's budget.", resolve: (e) => e.remainingBytes }),
  }),
});

builder.objectType(ForbiddenError, {
  name: 'ForbiddenError',
  description: 'The token is missing, unknown, revoked, or lacks the scope this needs.',
  interfaces: [ErrorInterface],
});

