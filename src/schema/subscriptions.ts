// Live subscriptions (graphql-ws and SSE share them): refreshEvents, a filtered stream of what
// the runners of every replica do, in the event log's order, each event with its log id; a
// client that comes back passes the last id it saw as `after` (or SSE's Last-Event-ID) and gets
// what it missed, then the live events. runProgress (one run's state) is in run-progress.ts.
import { encodeGlobalID } from '@pothos/plugin-relay';
import type { LoggedEvent } from '../subscriptions/events.ts';
import { builder } from './builder.ts';
import { RefreshMode, RefreshStatus, RunOutcome, RunPhase } from './enums.ts';
import { noteSent, openEvents, resumeAfter } from './event-cursor.ts';
import { endOnShutdown } from './stream-shutdown.ts';

type Ev<T extends LoggedEvent['type']> = Extract<LoggedEvent, { type: T }>;

const runId = (id: number) => encodeGlobalID('RefreshRun', id);
const configId = (id: number) => encodeGlobalID('RefreshConfig', id);

const RefreshEventInterface = builder.interfaceRef<LoggedEvent>('RefreshEvent').implement({
  description: 'Something a runner did, on any replica.',
  fields: (t) => ({
    id: t.exposeID('id', { description: "Its place in the event log (commit order; opaque): pass the last one seen as refreshEvents' `after` to get what followed." }),
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
    description:
      'Events of every replica in commit order, each once: started, progress (throttled per run; first and last always), finished, blocked, quality, config changes. ' +
      'With `after` (or an SSE Last-Event-ID) the events that followed it first, then live ones, with no gap and no duplicate; an `after` older than the log keeps is the error EVENTS_EXPIRED.',
    args: {
      filter: t.arg({ type: RefreshEventFilter, description: 'Which events; default all.' }),
      after: t.arg.id({ description: 'The id of the last event received: deliver what followed it (kept EVENT_RETENTION_HOURS). None: live from now.' }),
    },
    subscribe: async (_root, args, ctx) => {
      const after = resumeAfter(args.after == null ? null : String(args.after), ctx);
      const filter = { tableSchema: args.filter?.tableSchema, tableName: args.filter?.tableName, runId: args.filter?.runId ? Number(args.filter.runId.id) : null };
      const events = await openEvents(ctx, filter, after);
      // A run's progress may be merged with its later progress for a subscriber that is behind; nothing else is.
      const describe = (e: LoggedEvent) => ({ id: e.id, coalesceKey: e.type === 'run:progress' ? `progress:${e.runId}` : null, state: false });
      return endOnShutdown(noteSent(events, describe, ctx), ctx.shutdown);
    },
    resolve: (event) => event,
  }),
);

