// Backfills in the graph: the Backfill node (status, chunks done of total, rows, bytes, errors,
// each chunk with its run), the backfills query, startBackfill (with dryRun: the chunks and
// BigQuery's estimate against the day's budget), pauseBackfill, resumeBackfill, cancelBackfill,
// and backfillProgress, its state live. What a backfill is and does is src/commands/backfill.ts's
// and the read model's (state/backfills.ts); resolvers only call them.
import { GraphQLError } from 'graphql';
import { z } from 'zod';
import { changeBackfill, startBackfill, type BackfillPlan, type PlannedChunk } from '../commands/backfill.ts';
import { readBackfill, readBackfillChunks, readBackfills, type Backfill, type BackfillChunk } from '../runner/state/backfills.ts';
import { builder, type Context } from './builder.ts';
import { BudgetExceededError, ConflictError, ForbiddenError, NotFoundError, ValidationError } from './errors.ts';
import { commandContext, idOf } from './mutations.ts';
import { RefreshRunRef } from './runs.ts';
import { noteSent, openEvents } from './event-cursor.ts';
import { endOnShutdown } from './stream-shutdown.ts';

const BASE_ERRORS = [ForbiddenError, NotFoundError, ValidationError];
const DAY_MS = 86_400_000;
/** The last day of an exclusive bound, as the caller gave it (inclusive). */
const lastDay = (exclusive: string) => new Date(Date.parse(`${exclusive}T00:00:00Z`) - DAY_MS).toISOString().slice(0, 10);

const BackfillStatusEnum = builder.enumType('BackfillStatus', {
  description: 'Where a backfill is.',
  values: {
    RUNNING: { value: 'running', description: 'Its chunks run, one after the other.' },
    PAUSING: { value: 'pausing', description: 'Paused while a chunk was running: that chunk ends, no next one starts.' },
    PAUSED: { value: 'paused', description: 'No chunk runs until resumeBackfill.' },
    COMPLETED: { value: 'completed', description: 'Every chunk completed.' },
    FAILED: { value: 'failed', description: 'A chunk failed for good (an error that no retry mends, or 3 failures); resumeBackfill tries it again.' },
    CANCELLED: { value: 'cancelled', description: 'Cancelled: the chunk in flight was cancelled (nothing of it published); the chunks done stay done.' },
  } as const,
});

const BackfillChunkStateEnum = builder.enumType('BackfillChunkState', {
  description: 'Where a chunk of a backfill is, as its runs say.',
  values: {
    PENDING: { value: 'pending', description: 'Not run yet, or to be run again (its last run paused, was interrupted or failed and will be retried).' },
    RUNNING: { value: 'running', description: 'Its run is running now.' },
    DONE: { value: 'done', description: 'A run of it completed.' },
    FAILED: { value: 'failed', description: 'It failed for good.' },
  } as const,
});

const ChunkUnitEnum = builder.enumType('BackfillChunkUnit', {
  description: 'How a backfill range is cut into chunks.',
  values: {
    DAY: { value: 'day', description: 'One day per chunk.' },
    WEEK: { value: 'week', description: 'Seven days per chunk, from the first day of the range.' },
    MONTH: { value: 'month', description: 'One calendar month per chunk (the first and last may be partial).' },
  } as const,
});

const BackfillChunkRef = builder.objectRef<BackfillChunk>('BackfillChunk').implement({
  description: 'One chunk of a backfill: an ordinary run of one table over a range.',
  fields: (t) => ({
    position: t.exposeInt('ordinal', { description: 'Its place in run order, from 1: the table oldest first, then its dependents.' }),
    tableSchema: t.exposeString('tableSchema', { description: 'Schema of the table it refreshes.' }),
    tableName: t.exposeString('tableName', { description: 'Name of the table it refreshes.' }),
    from: t.exposeString('from', { description: 'First day of its range (YYYY-MM-DD).' }),
    to: t.string({ description: 'Last day of its range (YYYY-MM-DD, inclusive).', resolve: (c) => lastDay(c.to) }),
    state: t.field({ type: BackfillChunkStateEnum, description: 'Pending, running, done or failed.', resolve: (c) => c.state }),
    run: t.field({
      type: RefreshRunRef,
      nullable: true,
      description: 'The run that completed it, else its latest run; null before its first.',
      resolve: (c, _args, ctx) => (c.runId === null ? null : ctx.db.prisma.refreshRun.findUnique({ where: { id: c.runId } })),
    }),
    runs: t.exposeInt('runs', { description: 'Runs it took (paused, interrupted and failed ones included).' }),
    rowsProcessed: t.exposeFloat('rowsProcessed', { description: 'Rows its completing (else latest) run read.' }),
    bytesBilled: t.field({ type: 'BigInt', description: 'BigQuery bytes billed to its runs.', resolve: (c) => c.bytesBilled }),
    error: t.exposeString('error', { nullable: true, description: 'Why its latest run failed, while it is not done.' }),
  }),
});

const BackfillRef = builder.node(builder.objectRef<Backfill>('Backfill'), {
  description: 'A range of a table re-loaded as chunks of ordinary runs, oldest first, and with cascade its hard dependents for the periods it touches.',
  id: { resolve: (b) => b.id },
  loadMany: async (ids, ctx: Context) => {
    const found = await readBackfills(ctx.db.pool, { ids: ids.map(Number).filter(Number.isSafeInteger), limit: ids.length });
    return ids.map((id) => found.find((b) => b.id === Number(id)) ?? null);
  },
  fields: (t) => ({
    tableSchema: t.exposeString('tableSchema', { description: 'Schema of the table.' }),
    tableName: t.exposeString('tableName', { description: 'Name of the table.' }),
    from: t.exposeString('from', { description: 'First day of the range (YYYY-MM-DD).' }),
    to: t.string({ description: 'Last day of the range (YYYY-MM-DD, inclusive).', resolve: (b) => lastDay(b.to) }),
    chunkUnit: t.field({ type: ChunkUnitEnum, description: 'How the range was cut.', resolve: (b) => b.chunkUnit }),
    cascade: t.exposeBoolean('cascade', { description: 'Its hard dependents are recomputed for the periods the range touches.' }),
    status: t.field({ type: BackfillStatusEnum, description: 'Running, pausing, paused, completed, failed or cancelled.', resolve: (b) => b.status }),
    requestedBy: t.exposeString('requestedBy', { nullable: true, description: 'The token that started it.' }),
    createdAt: t.field({ type: 'DateTime', description: 'When it was started.', resolve: (b) => b.createdAt }),
    finishedAt: t.field({ type: 'DateTime', nullable: true, description: 'When its last chunk completed; null until then.', resolve: (b) => b.finishedAt }),
    chunksTotal: t.exposeInt('chunksTotal', { description: 'Chunks in all.' }),
    chunksDone: t.exposeInt('chunksDone', { description: 'Chunks completed.' }),
    chunksFailed: t.exposeInt('chunksFailed', { description: 'Chunks failed for good.' }),
    percent: t.float({ description: 'Chunks completed, 0 to 100.', resolve: (b) => Math.round((1000 * b.chunksDone) / Math.max(1, b.chunksTotal)) / 10 }),
    rowsProcessed: t.exposeFloat('rowsProcessed', { description: 'Rows its chunks read.' }),
    bytesBilled: t.field({ type: 'BigInt', description: 'BigQuery bytes billed to its chunks (every attempt).', resolve: (b) => b.bytesBilled }),
    errors: t.stringList({
      description: 'Why chunks failed, one line per chunk whose latest run failed (a retry may mend it).',
      resolve: async (b, _args, ctx) => (await readBackfillChunks(ctx.db.pool, [b.id])).filter((c) => c.error).map((c) => `chunk ${c.ordinal} (${c.tableName} ${c.from}): ${c.error}`),
    }),
    chunks: t.field({ type: [BackfillChunkRef], description: 'Its chunks, in run order.', resolve: (b, _args, ctx) => readBackfillChunks(ctx.db.pool, [b.id]) }),
  }),
});

builder.queryField('backfills', (t) =>
  t.field({
    type: [BackfillRef],
    description: 'Backfills, newest first.',
    args: {
      tableSchema: t.arg.string({ description: 'Only backfills of tables of this schema.' }),
      tableName: t.arg.string({ description: 'Only backfills of tables of this name.' }),
      first: t.arg.int({ defaultValue: 20, description: 'How many (1 to 100).', validate: z.number().int().min(1).max(100) }),
    },
    resolve: (_root, args, ctx) => readBackfills(ctx.db.pool, { tableSchema: args.tableSchema ?? undefined, tableName: args.tableName ?? undefined, limit: args.first ?? 20 }),
  }),
);

// startBackfill ---------------------------------------------------------------------------
const StartBackfillInput = builder.inputType('StartBackfillInput', {
  description: 'Which range of which table to re-load, and how.',
  fields: (t) => ({
    tableSchema: t.string({ required: true, description: 'Schema of the registered table.' }),
    tableName: t.string({ required: true, description: 'Name of the registered table (it needs partitionColumn or cursorColumn in its params, or to be a transform).' }),
    from: t.string({ required: true, description: 'First day of the range, YYYY-MM-DD.' }),
    to: t.string({ required: true, description: 'Last day of the range, YYYY-MM-DD (inclusive).' }),
    cascade: t.boolean({ defaultValue: true, description: 'Then recompute its hard dependents for the periods the range touches (default true).' }),
    chunk: t.field({ type: ChunkUnitEnum, defaultValue: 'week', description: 'Chunk length (default WEEK).' }),
    dryRun: t.boolean({ defaultValue: false, description: 'Only plan it: the chunks and, for BigQuery, the estimated bytes; start nothing.' }),
  }),
});

const PlannedChunkRef = builder.objectRef<PlannedChunk>('PlannedBackfillChunk').implement({
  description: 'A chunk a backfill will run.',
  fields: (t) => ({
    position: t.exposeInt('ordinal', { description: 'Its place in run order, from 1.' }),
    tableSchema: t.exposeString('tableSchema', { description: 'Schema of the table it refreshes.' }),
    tableName: t.exposeString('tableName', { description: 'Name of the table it refreshes.' }),
    from: t.exposeString('from', { description: 'First day of its range.' }),
    to: t.string({ description: 'Last day of its range (inclusive).', resolve: (c) => lastDay(c.to) }),
    estimatedBytes: t.field({ type: 'BigInt', nullable: true, description: "BigQuery's dry-run estimate of the bytes its query processes; null for other sources.", resolve: (c) => c.estimatedBytes }),
  }),
});

const StartBackfillPayload = builder.objectRef<{ backfill: Backfill | null; plan: BackfillPlan; dryRun: boolean }>('StartBackfillPayload').implement({
  description: 'A backfill started (or, with dryRun, planned).',
  fields: (t) => ({
    dryRun: t.exposeBoolean('dryRun', { description: 'Only planned; nothing started.' }),
    backfill: t.field({ type: BackfillRef, nullable: true, description: 'The backfill; null for a dry run.', resolve: (r) => r.backfill }),
    chunks: t.field({ type: [PlannedChunkRef], description: 'Its chunks, in run order.', resolve: (r) => r.plan.chunks }),
    estimatedBytes: t.field({ type: 'BigInt', nullable: true, description: 'Sum of the chunks\' BigQuery estimates; null when none reads BigQuery.', resolve: (r) => r.plan.estimatedBytes }),
    remainingBudgetBytes: t.field({ type: 'BigInt', nullable: true, description: "What remains of today's byte budget (null: no budget). Each chunk's run checks the budget of its day.", resolve: (r) => r.plan.remainingBudgetBytes }),
  }),
});

builder.mutationField('startBackfill', (t) =>
  t.field({
    type: StartBackfillPayload,
    description: 'Re-load a range of a table as chunks of ordinary runs (oldest first), then with cascade its hard dependents for the periods touched. One backfill per table at a time.',
    authScopes: { operate: true },
    errors: { types: [...BASE_ERRORS, ConflictError, BudgetExceededError], directResult: true, union: { description: 'The backfill, or why it was refused.' } },
    args: { input: t.arg({ type: StartBackfillInput, required: true, description: 'The table, the range and how.' }) },
    resolve: async (_root, { input }, ctx) => {
      const dryRun = input.dryRun ?? false;
      const started = await startBackfill(commandContext(ctx), {
        tableSchema: input.tableSchema, tableName: input.tableName, from: input.from, to: input.to, cascade: input.cascade ?? true, chunk: input.chunk ?? 'week', dryRun,
      });
      return { ...started, dryRun };
    },
  }),
);

// pause, resume, cancel -------------------------------------------------------------------
const BackfillIdInput = builder.inputType('BackfillIdInput', {
  description: 'Which backfill.',
  fields: (t) => ({ id: t.globalID({ required: true, description: 'The id of the Backfill.' }) }),
});

const BackfillPayload = builder.objectRef<Backfill>('BackfillPayload').implement({
  description: 'The backfill, as it is now.',
  fields: (t) => ({ backfill: t.field({ type: BackfillRef, description: 'The backfill.', resolve: (b) => b }) }),
});

const ACTIONS = {
  pauseBackfill: ['pause', 'Pause a backfill: the chunk in flight ends, no next one starts until resumeBackfill.'],
  resumeBackfill: ['resume', 'Resume a paused (or failed) backfill: its next chunk runs; failed chunks are tried again.'],
  cancelBackfill: ['cancel', 'Cancel a backfill: the chunk in flight is cancelled (nothing of it published); chunks done stay done.'],
} as const;

for (const [name, [action, description]] of Object.entries(ACTIONS)) {
  builder.mutationField(name, (t) =>
    t.field({
      type: BackfillPayload,
      description,
      authScopes: { operate: true },
      errors: { types: [...BASE_ERRORS, ConflictError], directResult: true, union: { name: `${name[0]!.toUpperCase()}${name.slice(1)}Result`, description: 'The backfill, or why it was refused.' } },
      args: { input: t.arg({ type: BackfillIdInput, required: true, description: 'Which backfill.' }) },
      resolve: (_root, { input }, ctx) => changeBackfill(commandContext(ctx), idOf('id', input.id, 'Backfill'), action),
    }),
  );
}

// backfillProgress ------------------------------------------------------------------------
const BACKFILL_OVER: readonly Backfill['status'][] = ['completed', 'cancelled', 'failed'];

async function* backfillProgress(ctx: Context, id: number): AsyncGenerator<Backfill> {
  // Live from now (opened before the first read: nothing between is lost); the events end when
  // the server stops, and so does this generator.
  const events = endOnShutdown(await openEvents(ctx, {}, null), ctx.shutdown);
  try {
    let last = await readBackfill(ctx.db.pool, id);
    if (!last) throw new GraphQLError(`id: backfill ${id} does not exist`, { extensions: { code: 'NOT_FOUND', field: 'id' } });
    yield last;
    const tables = new Set((await readBackfillChunks(ctx.db.pool, [id])).map((c) => c.configId));
    for await (const e of events) {
      if (BACKFILL_OVER.includes(last.status)) return;
      if (!tables.has(e.configId) || (e.type !== 'run:started' && e.type !== 'run:finished')) continue;
      const now = await readBackfill(ctx.db.pool, id);
      if (!now) return;
      if (now.status !== last.status || now.chunksDone !== last.chunksDone || now.chunksRunning !== last.chunksRunning || now.chunksFailed !== last.chunksFailed) yield now;
      last = now;
    }
  } finally {
    await events.return?.();
  }
}

builder.subscriptionField('backfillProgress', (t) =>
  t.field({
    type: BackfillRef,
    description: "A backfill's state now, then each time a chunk starts or ends, until it completes, fails or is cancelled.",
    args: { id: t.arg.globalID({ required: true, description: 'Global id of the Backfill.' }) },
    // Each value is the backfill's whole state (merged for a subscriber behind; a joiner starts from the latest); its end is never merged away.
    subscribe: (_root, args, ctx) =>
      noteSent(backfillProgress(ctx, idOf('id', args.id, 'Backfill')), (b) => ({ id: null, coalesceKey: BACKFILL_OVER.includes(b.status) ? null : 'state', state: true }), ctx),
    resolve: (b) => b,
  }),
);

