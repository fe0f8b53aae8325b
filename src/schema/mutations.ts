// Mutations for internal tooling. Relay-style `input` arguments; expected failures come back as
// typed results (see errors.ts). Scopes: force/schedule/cancel need `operate`, configuration
// and dependency changes need `admin`. The logic lives in src/commands/refresh.ts and
// src/commands/config.ts; each command wakes the runners of every replica.
import { encodeGlobalID } from '@pothos/plugin-relay';
import type { Context } from './builder.ts';
import { cancelRefresh, forceRefresh, SCHEDULE_WINDOW, scheduleRefresh, type CommandContext, type ForceResult } from '../commands/refresh.ts';
import { addRefreshDependency, registerTable, removeRefreshDependency, updateRefreshConfig } from '../commands/config.ts';
import { builder } from './builder.ts';
import { RefreshConfigRef } from './configs.ts';
import { DependencyType, RefreshMode } from './enums.ts';
import { BudgetExceededError, ConflictError, CycleError, ForbiddenError, NotFoundError, ValidationError } from './errors.ts';
import { PlannedRefreshRef } from './plan.ts';
import { RefreshRunRef } from './runs.ts';

const BASE_ERRORS = [ForbiddenError, NotFoundError, ValidationError];

/** The services a command needs, from the request's context. */
export function commandContext(ctx: Context): CommandContext {
  const rt = ctx.runtime;
  return {
    pool: ctx.db.pool,
    sources: rt.sources,
    dailyByteBudget: rt.dailyByteBudget ?? null,
    cancelLocal: rt.runner ? (id) => rt.runner!.cancel(id) : undefined,
    requestedBy: ctx.principal.name,
    bus: rt.bus,
  };
}

/** A global id of the expected type, or a ValidationError naming the field. */
export function idOf(field: string, value: { typename: string; id: string }, typename: string): number {
  const id = Number(value.id);
  if (value.typename !== typename || !Number.isSafeInteger(id)) throw ValidationError.of(field, `must be the id of a ${typename}`);
  return id;
}

const findRun = (ctx: Context, id: number) => ctx.db.prisma.refreshRun.findUniqueOrThrow({ where: { id } });
const findConfig = (ctx: Context, id: number) => ctx.db.prisma.refreshConfig.findUniqueOrThrow({ where: { id } });

// forceRefresh ---------------------------------------------------------------------------

const ForceRefreshInput = builder.inputType('ForceRefreshInput', {
  description: 'Which table to refresh now, and how.',
  fields: (t) => ({
    tableSchema: t.string({ required: true, description: 'Schema of the registered table.' }),
    tableName: t.string({ required: true, description: 'Name of the registered table.' }),
    cascade: t.boolean({ defaultValue: true, description: 'Refresh the dependents after it (default true).' }),
    mode: t.field({ type: RefreshMode, description: 'Override the configured mode for this run.' }),
    dryRun: t.boolean({ defaultValue: false, description: 'Only plan it and estimate BigQuery bytes; start nothing.' }),
  }),
});

const ForceRefreshPayload = builder.objectRef<ForceResult>('ForceRefreshPayload').implement({
  description: 'A forced refresh: the run it started (or, with dryRun, what would run and its estimate).',
  fields: (t) => ({
    dryRun: t.exposeBoolean('dryRun', { description: 'Only planned and estimated; nothing started.' }),
    run: t.field({
      type: RefreshRunRef,
      nullable: true,
      description: 'The run that started; null for a dry run, or when every runner is busy (it is queued).',
      resolve: (r, _args, ctx) => (r.runId === null ? null : findRun(ctx, r.runId)),
    }),
    queued: t.boolean({ description: 'Requested but not started yet (every runner busy).', resolve: (r) => !r.dryRun && r.runId === null }),
    config: t.field({ type: RefreshConfigRef, description: 'The table forced.', resolve: (r, _args, ctx) => findConfig(ctx, r.configId) }),
    plan: t.field({
      type: [PlannedRefreshRef],
      description: 'What runs because of it, in order: the table, then its dependents when cascading.',
      resolve: (r) => r.plan.map((item, i) => ({ ...item, position: i + 1 })),
    }),
    estimatedBytes: t.field({ type: 'BigInt', nullable: true, description: 'BigQuery dry-run estimate of bytes processed.', resolve: (r) => r.estimatedBytes }),
    remainingBudgetBytes: t.field({ type: 'BigInt', nullable: true, description: "What remains of today's byte budget (null: no budget).", resolve: (r) => r.remainingBudgetBytes }),
  }),
});

builder.mutationField('forceRefresh', (t) =>
  t.field({
    type: ForceRefreshPayload,
    description: 'Refresh a table now (and its dependents, unless cascade is false).',
    authScopes: { operate: true },
    errors: { types: [...BASE_ERRORS, ConflictError, BudgetExceededError], directResult: true, union: { description: 'The forced refresh, or why it was refused.' } },
    args: { input: t.arg({ type: ForceRefreshInput, required: true, description: 'The table and how to refresh it.' }) },
    resolve: (_root, { input }, ctx) =>
      forceRefresh(commandContext(ctx), {
        tableSchema: input.tableSchema,
        tableName: input.tableName,
        cascade: input.cascade ?? true,
        mode: input.mode ?? null,
        dryRun: input.dryRun ?? false,
      }),
  }),
);

// scheduleRefresh -------------------------------------------------------------------------
const ScheduleRefreshInput = builder.inputType('ScheduleRefreshInput', {
  description: 'Which table to refresh, and when.',
  fields: (t) => ({
    tableSchema: t.string({ required: true, description: 'Schema of the registered table.' }),
    tableName: t.string({ required: true, description: 'Name of the registered table.' }),
    at: t.field({
      type: 'DateTime',
      required: true,
      description: `When it next refreshes: from ${SCHEDULE_WINDOW.pastMinutes} minutes ago (a time already past means now) to a year (${SCHEDULE_WINDOW.aheadDays} days) ahead; outside that, a ValidationError on at.`,
    }),
  }),
});

const ScheduleRefreshPayload = builder.objectRef<{ configId: number }>('ScheduleRefreshPayload').implement({
  description: 'The table with its new next refresh time.',
  fields: (t) => ({ config: t.field({ type: RefreshConfigRef, description: 'The table, as it is now.', resolve: (r, _args, ctx) => findConfig(ctx, r.configId) }) }),
});

builder.mutationField('scheduleRefresh', (t) =>
  t.field({
    type: ScheduleRefreshPayload,
    description: 'Set when a table next refreshes. Refused as forceRefresh refuses: an unknown table (NotFoundError), a disabled one (ConflictError), params without a valid source (ValidationError).',
    authScopes: { operate: true },
    errors: { types: [...BASE_ERRORS, ConflictError], directResult: true, union: { description: 'The rescheduled table, or why it was refused.' } },
    args: { input: t.arg({ type: ScheduleRefreshInput, required: true, description: 'The table and the time.' }) },
    resolve: async (_root, { input }, ctx) => ({ configId: await scheduleRefresh(commandContext(ctx), input) }),
  }),
);

// cancelRefresh ---------------------------------------------------------------------------
const CancelRefreshInput = builder.inputType('CancelRefreshInput', {
  description: 'Which running refresh to stop.',
  fields: (t) => ({ runId: t.globalID({ required: true, description: 'The id of the running RefreshRun.' }) }),
});

const CancelRefreshPayload = builder.objectRef<{ runId: number; finished: boolean }>('CancelRefreshPayload').implement({
  description: 'The run asked to stop.',
  fields: (t) => ({
    run: t.field({ type: RefreshRunRef, description: 'The run, as it is now.', resolve: (r, _args, ctx) => findRun(ctx, r.runId) }),
    finished: t.exposeBoolean('finished', { description: 'The run has stopped (at its next page boundary) before this answered.' }),
  }),
});

builder.mutationField('cancelRefresh', (t) =>
  t.field({
    type: CancelRefreshPayload,
    description: 'Stop a running refresh at its next page boundary; it ends FAILED with outcome CANCELLED and the table unchanged by it.',
    authScopes: { operate: true },
    errors: { types: [...BASE_ERRORS, ConflictError], directResult: true, union: { description: 'The run asked to stop, or why it was refused.' } },
    args: { input: t.arg({ type: CancelRefreshInput, required: true, description: 'The run to stop.' }) },
    resolve: (_root, { input }, ctx) => cancelRefresh(commandContext(ctx), idOf('runId', input.runId, 'RefreshRun')),
  }),
);

// updateRefreshConfig / registerTable ---------------------------------------------------------
const UpdateRefreshConfigInput = builder.inputType('UpdateRefreshConfigInput', {
  description: "A table's settings to change; fields left out keep their value.",
  fields: (t) => ({
    id: t.globalID({ required: true, description: 'The RefreshConfig to change.' }),
    isEnabled: t.boolean({ description: 'false: the runner no longer refreshes it on its schedule.' }),
    refreshFrequencyHours: t.int({ description: 'Hours from one successful refresh to the next; at least 1.' }),
    priority: t.int({ description: '0 to 1000; higher runs first.' }),
    customSyncParams: t.field({ type: 'JSON', description: 'Validated against the sync-params schema (see the README).' }),
    freshnessSlaHours: t.int({ description: 'Hours within which a successful refresh is expected, or the table is LATE: 1 to 17568; null: back to the default (twice refreshFrequencyHours).' }),
  }),
});

const UpdateRefreshConfigPayload = builder.objectRef<{ configId: number }>('UpdateRefreshConfigPayload').implement({
  description: 'The table with its settings changed.',
  fields: (t) => ({ config: t.field({ type: RefreshConfigRef, description: 'The table, as it is now.', resolve: (r, _args, ctx) => findConfig(ctx, r.configId) }) }),
});

builder.mutationField('updateRefreshConfig', (t) =>
  t.field({
    type: UpdateRefreshConfigPayload,
    description: "Change a table's settings; fields left out keep their value.",
    authScopes: { admin: true },
    errors: { types: BASE_ERRORS, directResult: true, union: { description: 'The changed table, or why nothing was written.' } },
    args: { input: t.arg({ type: UpdateRefreshConfigInput, required: true, description: 'The table and its new settings.' }) },
    resolve: async (_root, { input }, ctx) => {
      const { id, ...settings } = input;
      return { configId: await updateRefreshConfig(ctx.db.pool, idOf('id', id, 'RefreshConfig'), settings) };
    },
  }),
);

const RegisterTableInput = builder.inputType('RegisterTableInput', {
  description: 'An existing table to keep fresh, and its settings (defaults where left out).',
  fields: (t) => ({
    tableSchema: t.string({ required: true, description: "Schema of the table: a data schema (sqp). PostgreSQL's catalogs, sqp-refresh's own schemas and any other schema are refused (ValidationError on tableSchema)." }),
    tableName: t.string({ required: true, description: "An existing table of the database; not one of the refresh system's own (ValidationError on tableName)." }),
    isEnabled: t.boolean({ description: 'Refresh it on its schedule; default true.' }),
    refreshFrequencyHours: t.int({ description: 'Hours from one successful refresh to the next; default 24.' }),
    priority: t.int({ description: 'Among tables due at once, higher runs first (0 to 1000); default 100.' }),
    customSyncParams: t.field({ type: 'JSON', description: 'Where its rows come from and how they are checked (see the README); without it the table is UNCONFIGURED.' }),
    freshnessSlaHours: t.int({ description: 'Hours within which a successful refresh is expected, or the table is LATE (1 to 17568); default twice refreshFrequencyHours.' }),
  }),
});

const RegisterTablePayload = builder.objectRef<{ configId: number }>('RegisterTablePayload').implement({
  description: 'The table now registered.',
  fields: (t) => ({ config: t.field({ type: RefreshConfigRef, description: 'The new RefreshConfig.', resolve: (r, _args, ctx) => findConfig(ctx, r.configId) }) }),
});

builder.mutationField('registerTable', (t) =>
  t.field({
    type: RegisterTablePayload,
    description: 'Register an existing table of a data schema for refresh (due at once); anything else is refused, writing nothing.',
    authScopes: { admin: true },
    errors: { types: [...BASE_ERRORS, ConflictError], directResult: true, union: { description: 'The registered table, or why nothing was written.' } },
    args: { input: t.arg({ type: RegisterTableInput, required: true, description: 'The table and its settings.' }) },
    resolve: async (_root, { input }, ctx) => ({ configId: await registerTable(ctx.db.pool, input) }),
  }),
);

// dependencies --------------------------------------------------------------------------------
const TableRefInput = builder.inputType('TableRefInput', {
  description: 'A registered table, by schema and name.',
  fields: (t) => ({
    tableSchema: t.string({ required: true, description: 'Schema of the table.' }),
    tableName: t.string({ required: true, description: 'Name of the table.' }),
  }),
});

const AddRefreshDependencyInput = builder.inputType('AddRefreshDependencyInput', {
  description: 'A table built from another: it refreshes after it.',
  fields: (t) => ({
    parent: t.field({ type: TableRefInput, required: true, description: 'The table refreshed first.' }),
    dependent: t.field({ type: TableRefInput, required: true, description: 'The table built from it, refreshed after it.' }),
    dependencyType: t.field({ type: DependencyType, defaultValue: 'hard', description: 'HARD (default): never run on data from an unhealthy parent; SOFT: run anyway.' }),
  }),
});

const AddRefreshDependencyPayload = builder.objectRef<{ id: number }>('AddRefreshDependencyPayload').implement({
  description: 'The dependency added.',
  fields: (t) => ({
    dependency: t.prismaField({
      type: 'RefreshDependency',
      description: 'The new edge of the dependency graph.',
      resolve: (query, r, _args, ctx) => ctx.db.prisma.refreshDependency.findUniqueOrThrow({ ...query, where: { id: r.id } }),
    }),
  }),
});

builder.mutationField('addRefreshDependency', (t) =>
  t.field({
    type: AddRefreshDependencyPayload,
    description: 'The dependent refreshes after the parent; cycles and self-edges are refused.',
    authScopes: { admin: true },
    errors: { types: [...BASE_ERRORS, CycleError, ConflictError], directResult: true, union: { description: 'The dependency added, or why nothing was written.' } },
    args: { input: t.arg({ type: AddRefreshDependencyInput, required: true, description: 'The parent, the dependent and how strictly it waits.' }) },
    resolve: async (_root, { input }, ctx) => ({
      id: await addRefreshDependency(ctx.db.pool, { parent: input.parent, dependent: input.dependent, dependencyType: input.dependencyType ?? 'hard' }),
    }),
  }),
);

const RemoveRefreshDependencyInput = builder.inputType('RemoveRefreshDependencyInput', {
  description: 'Which dependency to remove.',
  fields: (t) => ({ id: t.globalID({ required: true, description: 'The RefreshDependency to remove.' }) }),
});

const RemovedDependencyPayload = builder.objectRef<{ id: string; dependentId: number }>('RemoveRefreshDependencyPayload').implement({
  description: 'The dependency removed.',
  fields: (t) => ({
    removedId: t.exposeID('id', { description: 'Global id of the RefreshDependency that no longer exists.' }),
    dependent: t.field({ type: RefreshConfigRef, description: 'The table that no longer waits for that parent, as it is now.', resolve: (r, _args, ctx) => findConfig(ctx, r.dependentId) }),
  }),
});

builder.mutationField('removeRefreshDependency', (t) =>
  t.field({
    type: RemovedDependencyPayload,
    description: 'Remove a dependency: the dependent no longer waits for that parent.',
    authScopes: { admin: true },
    errors: { types: BASE_ERRORS, directResult: true, union: { description: 'The dependency removed, or why nothing was written.' } },
    args: { input: t.arg({ type: RemoveRefreshDependencyInput, required: true, description: 'The dependency to remove.' }) },
    resolve: async (_root, { input }, ctx) => {
      const dependentId = await removeRefreshDependency(ctx.db.pool, idOf('id', input.id, 'RefreshDependency'));
      return { id: encodeGlobalID('RefreshDependency', input.id.id), dependentId };
    },
  }),
);
