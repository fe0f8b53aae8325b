// Live subscriptions (graphql-ws and SSE share them): refreshEvents, a filtered stream of what
// the runners of every replica do, and runProgress, one run's state — current state first, so
// a dashboard that connects late or reconnects is never blank — then each change until it ends.
import { encodeGlobalID } from '@pothos/plugin-relay';
import { GraphQLError } from 'graphql';
import { z } from 'zod';
import { percentOf, readRunState, type RunState } from '../runner/state/run-state.ts';
import type { EventBus } from '../subscriptions/bus.ts';
import type { RefreshEvent } from '../subscriptions/events.ts';
import { eventStream } from '../subscriptions/streams.ts';
import { builder } from './builder.ts';
import { RefreshMode, RefreshStatus, RunOutcome, RunPhase } from './enums.ts';
import type { Context } from './builder.ts';
import { RefreshRunRef } from './runs.ts';
import { endOnShutdown } from './stream-shutdown.ts';

type Ev<T extends RefreshEvent['type']> = Extract<RefreshEvent, { type: T }>;

function bus(ctx: Context): EventBus {
  const b = ctx.runtime.bus;
  if (!b) throw new GraphQLError('subscriptions are not available in this process', { extensions: { code: 'UNAVAILABLE' } });
  return b;
}

const runId = (id: number) => encodeGlobalID('RefreshRun', id);
const configId = (id: number) => encodeGlobalID('RefreshConfig', id);

const RefreshEventInterface = builder.interfaceRef<RefreshEvent>('RefreshEvent').implement({
  description: 'Something a runner did, on any replica.',
  fields: (t) => ({
    configId: t.id({ description: 'Global id of the RefreshConfig.', resolve: (e) => configId(e.configId) }),
    tableSchema: t.exposeString('tableSchema', { description: 'Schema of the table.' }),
    tableName: t.exposeString('tableName', { description: 'Name of the table.' }),
    at: t.field({ type: 'DateTime', description: 'When it happened (committed, for what it reports).', resolve: (e) => new Date(e.at) }),
  }),
});

const RunStarted = builder.objectRef<Ev<'run:started'>>('RunStarted').implement({
  description: 'A refresh started (or a paused one resumed).',
  interfaces: [RefreshEventInterface],
  fields: (t) => ({
    runId: t.id({ description: 'Global id of its RefreshRun.', resolve: (e) => runId(e.runId) }),
    resumed: t.exposeBoolean('resumed', { description: 'It continues from a checkpoint.' }),
    mode: t.field({ type: RefreshMode, description: 'How much of the source it reads.', resolve: (e) => e.mode }),
  }),
});

const RunProgress = builder.objectRef<Ev<'run:progress'>>('RunProgress').implement({
  description: 'A refresh moved on: a page was staged (the checkpoint holds it), or the complete load is being audited before it is published.',
  interfaces: [RefreshEventInterface],
  fields: (t) => ({
    runId: t.id({ description: 'Global id of its RefreshRun.', resolve: (e) => runId(e.runId) }),
    phase: t.field({ type: RunPhase, description: 'Writing (staging pages), auditing (diff, merge and quality, not yet visible) or publishing (committing).', resolve: (e) => e.phase }),
    page: t.exposeInt('page', { description: 'Pages committed so far, this one included.' }),
    rowsProcessed: t.exposeInt('rowsProcessed', { description: 'Rows committed so far.' }),
    totalRows: t.exposeInt('totalRows', { nullable: true, description: 'Rows the source holds in all, when it says.' }),
    percent: t.exposeFloat('percent', { nullable: true, description: 'Share of totalRows committed, 0 to 100; null while the total is unknown.' }),
    rowsPerSecond: t.exposeFloat('rowsPerSecond', { description: 'Recent speed, in rows committed per second.' }),
    etaSeconds: t.exposeFloat('etaSeconds', { nullable: true, description: 'Seconds until it ends at that speed; null while the total is unknown.' }),
  }),
});

const RunFinished = builder.objectRef<Ev<'run:finished'>>('RunFinished').implement({
  description: 'A refresh ended: published, paused, cancelled or failed.',
  interfaces: [RefreshEventInterface],
  fields: (t) => ({
    runId: t.id({ description: 'Global id of its RefreshRun.', resolve: (e) => runId(e.runId) }),
    status: t.field({ type: RefreshStatus, description: 'SUCCESS, WARNING or FAILED.', resolve: (e) => e.status }),
    outcome: t.field({ type: RunOutcome, description: 'How it ended: a cancel or a pause is not a failure.', resolve: (e) => e.outcome }),
    rowsProcessed: t.exposeInt('rowsProcessed', { description: 'Rows it read in all.' }),
    errorMessage: t.exposeString('errorMessage', { nullable: true, description: 'Why it failed or stopped; null when it completed.' }),
  }),
});

const RunBlocked = builder.objectRef<Ev<'run:blocked'>>('RunBlocked').implement({
  description: 'A due refresh did not start: a hard parent is unhealthy, or a dependency cycle.',
  interfaces: [RefreshEventInterface],
  fields: (t) => ({ reasons: t.exposeStringList('reasons', { description: 'Why it waits, one line per unhealthy parent or cycle.' }) }),
});

const QualityMetricRecorded = builder.objectRef<Ev<'quality:recorded'>>('QualityMetricRecorded').implement({
  description: 'A data-quality measurement of a run was recorded.',
  interfaces: [RefreshEventInterface],
  fields: (t) => ({
    runId: t.id({ description: 'Global id of the RefreshRun it measured.', resolve: (e) => runId(e.runId) }),
    metricName: t.exposeString('metricName', { description: 'What was measured (see QualityMetric.metricName).' }),
    value: t.exposeFloat('value', { nullable: true, description: 'The value measured.' }),
    isWithinThreshold: t.exposeBoolean('isWithinThreshold', { nullable: true, description: 'The value lies within its bounds.' }),
  }),
});

const ConfigChanged = builder.objectRef<Ev<'config:changed'>>('ConfigChanged').implement({
  description: "A table's settings or dependencies changed (by a mutation or by hand).",
  interfaces: [RefreshEventInterface],
  fields: (t) => ({
    change: t.exposeString('change', { description: 'INSERT, UPDATE or DELETE.' }),
    fields: t.exposeStringList('fields', { description: 'What changed (isEnabled, priority, dependencies, …).' }),
  }),
});

const TYPE_OF = {
  'run:started': RunStarted,
  'run:progress': RunProgress,
  'run:finished': RunFinished,
  'run:blocked': RunBlocked,
  'quality:recorded': QualityMetricRecorded,
  'config:changed': ConfigChanged,
} as const;

const RefreshEventUnion = builder.unionType('RefreshEventPayload', {
  description: 'One event of refreshEvents; every member implements RefreshEvent.',
  types: [RunStarted, RunProgress, RunFinished, RunBlocked, QualityMetricRecorded, ConfigChanged],
  resolveType: (e) => TYPE_OF[e.type],
});

const RefreshEventFilter = builder.inputType('RefreshEventFilter', {
  description: 'Which events to receive; every field given must hold.',
  fields: (t) => ({
    tableSchema: t.string({ description: 'Only events of tables of this schema.' }),
    tableName: t.string({ description: 'Only events of tables of this name.' }),
    runId: t.globalID({ description: 'Only this run (RefreshRun id).' }),
  }),
});

builder.subscriptionField('refreshEvents', (t) =>
  t.field({
    type: RefreshEventUnion,
    description: 'Live events of every replica: started, progress (throttled per run; first and last always), finished, blocked, quality, config changes.',
    args: { filter: t.arg({ type: RefreshEventFilter, description: 'Which events; default all.' }) },
    subscribe: (_root, args, ctx) =>
      endOnShutdown(
        eventStream(bus(ctx), {
          tableSchema: args.filter?.tableSchema,
          tableName: args.filter?.tableName,
          runId: args.filter?.runId ? Number(args.filter.runId.id) : null,
        }, ctx.runtime.subscribers),
        ctx.shutdown,
      ),
    resolve: (event) => event,
  }),
);

// runProgress ------------------------------------------------------------------------------
const RunProgressState = builder.objectRef<RunState>('RunProgressState').implement({
  description: "One run's state: rows so far (committed), total when known, speed and ETA.",
  fields: (t) => ({
    runId: t.id({ description: 'Global id of the RefreshRun.', resolve: (s) => runId(s.runId) }),
    run: t.field({ type: RefreshRunRef, description: 'Its audit row, read when asked.', resolve: (s, _args, ctx) => ctx.db.prisma.refreshRun.findUniqueOrThrow({ where: { id: s.runId } }) }),
    status: t.field({ type: RefreshStatus, description: 'RUNNING until it ends, then SUCCESS, WARNING or FAILED.', resolve: (s) => s.status }),
    outcome: t.field({ type: RunOutcome, nullable: true, description: 'How it ended; null while it runs.', resolve: (s) => s.outcome }),
    rowsProcessed: t.exposeInt('rowsProcessed', { description: 'Rows committed so far (in all, once it ended).' }),
    totalRows: t.exposeInt('totalRows', { nullable: true, description: 'Rows the source holds in all, when known.' }),
    percent: t.exposeFloat('percent', {
      nullable: true,
      description: 'Share of totalRows committed, 0 to 100: 100 once it completed, how far it got when it stopped early; null while the total is unknown.',
    }),
    rowsPerSecond: t.exposeFloat('rowsPerSecond', { nullable: true, description: 'Recent speed while it runs; null once it ended or before the first page.' }),
    etaSeconds: t.exposeFloat('etaSeconds', { nullable: true, description: 'Seconds until it ends at that speed; null when unknown or ended.' }),
    finished: t.exposeBoolean('finished', { description: 'It has ended: this is the last state sent.' }),
  }),
});

/** The run's state now: the read model's (read-model.ts), with this process's runner's own progress. */
const currentState = (ctx: Context, id: number): Promise<RunState | null> =>
  readRunState(ctx.db.pool, id, ctx.runtime.runner?.status().inFlight.find((f) => f.runId === id));

async function* runProgress(ctx: Context, id: number): AsyncGenerator<RunState> {
  // Listen first: nothing between read and listen is lost. The events end when the server
  // stops, and so does this generator (its own return() would wait behind a pending next()).
  const events = endOnShutdown(eventStream(bus(ctx), { runId: id }, ctx.runtime.subscribers), ctx.shutdown);
  try {
    const first = await currentState(ctx, id);
    if (!first) throw new GraphQLError(`runId: run ${id} does not exist`, { extensions: { code: 'NOT_FOUND', field: 'runId' } });
    yield first;
    if (first.finished) return;
    let last = first;
    for await (const e of events) {
      if (e.type === 'run:progress') {
        last = { ...last, rowsProcessed: e.rowsProcessed, totalRows: e.totalRows, percent: e.percent, rowsPerSecond: e.rowsPerSecond, etaSeconds: e.etaSeconds };
        yield last;
      } else if (e.type === 'run:finished') {
        const whole = e.outcome === 'completed';
        const totalRows = whole ? Math.max(e.rowsProcessed, last.totalRows ?? 0) : last.totalRows;
        const percent = whole ? 100 : percentOf(e.rowsProcessed, totalRows) ?? last.percent;
        yield { ...last, status: e.status, outcome: e.outcome, rowsProcessed: e.rowsProcessed, totalRows, percent, rowsPerSecond: null, etaSeconds: null, finished: true };
        return;
      }
    }
  } finally {
    await events.return?.();
  }
}

builder.subscriptionField('runProgress', (t) =>
  t.field({
    type: RunProgressState,
    description: "A run's current state first, then each change until it finishes.",
    args: { runId: t.arg.globalID({ required: true, description: 'Global id of the RefreshRun to follow.', validate: z.object({ typename: z.literal('RefreshRun'), id: z.string() }) }) },
    subscribe: (_root, args, ctx) => runProgress(ctx, Number(args.runId.id)),
    resolve: (state) => state,
  }),
);
