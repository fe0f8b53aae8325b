// The alert types of the graph: destinations (their secret never mapped, so never readable),
// alerts, one delivery per alert and destination, every attempt, and the open alerts (an episode
// not ended yet, as src/alerts/open-alerts.ts reads them). Read through the Prisma models of
// migration 040; their states are derived by src/alerts/alert.ts.
import { attemptOutcome, destinationState, type AlertFormat, type AlertKind } from '../alerts/alert.ts';
import type { OpenAlert } from '../alerts/open-alerts.ts';
import { builder } from './builder.ts';

export const AlertKindEnum = builder.enumType('AlertKind', {
  description: 'What happened to a table, as an alert reports it.',
  values: {
    TABLE_FAILED: { value: 'table_failed', description: 'Its refresh failed after its retries, or a blocking quality check stopped a publish.' },
    TABLE_RECOVERED: { value: 'table_recovered', description: 'It refreshed successfully again after failing.' },
    TABLE_LATE: { value: 'table_late', description: 'It is past its freshness SLA.' },
    TABLE_BLOCKED: { value: 'table_blocked', description: 'A hard parent failed, so it cannot refresh.' },
    BACKFILL_FAILED: { value: 'backfill_failed', description: 'A backfill of it failed: a chunk failed for good (its table\'s own state is not changed by it); resumeBackfill tries again.' },
  } as const,
});

export const AlertFormatEnum = builder.enumType('AlertFormat', {
  description: 'The body a destination receives.',
  values: {
    JSON: { value: 'json', description: 'The JSON event (see the README, "Alerts").' },
    SLACK: { value: 'slack', description: 'A Slack-compatible body: {"text": "…"} (an incoming webhook).' },
  } as const,
});

const DestinationStateEnum = builder.enumType('AlertDestinationState', {
  description: 'Whether a destination receives alerts.',
  values: {
    HEALTHY: { value: 'healthy', description: 'Its latest attempt succeeded (or none failed yet).' },
    FAILING: { value: 'failing', description: 'Every attempt since failingSince failed; it is retried with backoff, and disabled after a day.' },
    DISABLED: { value: 'disabled', description: 'By an admin, or after a day of failures (disabledReason): nothing is sent to it; enable it again with updateAlertDestination.' },
  } as const,
});

const DisabledReasonEnum = builder.enumType('AlertDestinationDisabledReason', {
  description: 'Why a destination is disabled.',
  values: {
    FAILING: { value: 'failing', description: 'Every attempt failed for a day.' },
    ADMIN: { value: 'admin', description: 'An admin disabled it.' },
  } as const,
});

const DeliveryStatusEnum = builder.enumType('AlertDeliveryStatus', {
  description: 'Where one alert to one destination stands.',
  values: {
    PENDING: { value: 'pending', description: 'Not delivered yet: being sent, or waiting for its next attempt.' },
    DELIVERED: { value: 'delivered', description: 'The destination answered 2xx.' },
    ABANDONED: { value: 'abandoned', description: 'Given up (abandonReason): its destination was disabled, or every attempt failed for a day.' },
  } as const,
});

const AttemptOutcomeEnum = builder.enumType('AlertAttemptOutcome', {
  description: 'How one attempt ended.',
  values: {
    IN_FLIGHT: { value: 'in_flight', description: 'Being sent now (its lease has not ended).' },
    SUCCEEDED: { value: 'succeeded', description: 'The destination answered 2xx.' },
    FAILED: { value: 'failed', description: 'Another status, a redirect, a timeout or a connection error (see error).' },
    LOST: { value: 'lost', description: 'Its process never reported (killed, or cut off) and its lease ended: another attempt sends it again.' },
  } as const,
});

export const AlertDestinationRef = builder.prismaNode('AlertDestination', {
  id: { field: 'id' },
  nullable: true,
  description: 'A webhook that receives alerts, signed with its secret (which is never readable back).',
  fields: (t) => ({
    databaseId: t.exposeInt('id', { description: 'The row id in sqp_refresh_work.alert_destinations.' }),
    name: t.exposeString('name', { description: 'Unique (ignoring case).' }),
    url: t.exposeString('url', {
      nullable: true,
      description: "Where alerts are POSTed. Null unless the caller has the admin scope: a webhook's path may be its credential (Slack's is).",
      authScopes: { admin: true },
      unauthorizedResolver: () => null,
    }),
    host: t.string({ description: 'The host (and port) of url, for everyone.', resolve: (d) => new URL(d.url).host }),
    format: t.field({ type: AlertFormatEnum, description: 'The body it receives.', resolve: (d) => d.format as AlertFormat }),
    events: t.field({ type: [AlertKindEnum], description: 'The kinds of alert it receives.', resolve: (d) => d.events as AlertKind[] }),
    secretSet: t.boolean({ description: 'Always true: a destination has a signing secret, which can be replaced but never read.', resolve: () => true }),
    enabled: t.boolean({ description: 'It receives alerts (state is not DISABLED).', resolve: (d) => d.disabledAt === null }),
    state: t.field({ type: DestinationStateEnum, description: 'Healthy, failing (since failingSince) or disabled.', resolve: (d) => destinationState(d) }),
    failingSince: t.expose('failingSince', { type: 'DateTime', nullable: true, description: 'The first failed attempt since its latest success; null while healthy.' }),
    lastError: t.exposeString('lastError', { nullable: true, description: 'Why its latest attempt failed, while failing.' }),
    lastSuccessAt: t.expose('lastSuccessAt', { type: 'DateTime', nullable: true, description: 'Its latest delivered attempt.' }),
    disabledAt: t.expose('disabledAt', { type: 'DateTime', nullable: true, description: 'When it was disabled; null while enabled.' }),
    disabledReason: t.field({
      type: DisabledReasonEnum,
      nullable: true,
      description: 'Why it is disabled; null while enabled.',
      resolve: (d) => (d.disabledReason as 'failing' | 'admin' | null) ?? null,
    }),
    createdAt: t.expose('createdAt', { type: 'DateTime', description: 'When it was created.' }),
    updatedAt: t.expose('updatedAt', { type: 'DateTime', description: 'When an admin last changed it.' }),
    deliveries: t.relatedConnection(
      'deliveries',
      { cursor: 'id', description: 'Its deliveries, newest first.', query: { orderBy: { id: 'desc' } }, totalCount: true },
      { description: 'A page of the deliveries to one destination, newest first.' },
      { description: 'A delivery, with its cursor.' },
    ),
  }),
});

builder.prismaNode('Alert', {
  id: { field: 'id' },
  nullable: true,
  description: 'An alert: a table failed, recovered, went late or was blocked. Sent to every destination subscribed to its kind.',
  fields: (t) => ({
    databaseId: t.exposeInt('id', { description: 'The row id in sqp_refresh_work.alerts.' }),
    eventId: t.exposeString('eventId', { description: 'Stable across retries and replicas: receivers deduplicate by it (header X-SQP-Refresh-Event-Id).' }),
    kind: t.field({ type: AlertKindEnum, description: 'What happened.', resolve: (a) => a.kind as AlertKind }),
    tableSchema: t.exposeString('tableSchema', { description: 'Schema of the table.' }),
    tableName: t.exposeString('tableName', { description: 'Name of the table.' }),
    reason: t.exposeString('reason', { description: 'Why, for people.' }),
    occurredAt: t.expose('occurredAt', { type: 'DateTime', description: "When the table's state changed." }),
    createdAt: t.expose('createdAt', { type: 'DateTime', description: 'When the alert was written.' }),
    config: t.relation('config', { nullable: true, description: 'The table, unless it was unregistered since.' }),
    run: t.relation('run', { nullable: true, description: 'The run it is about, if any.' }),
    deliveries: t.relation('deliveries', { description: 'One per destination it was sent to.', query: { orderBy: { id: 'asc' } } }),
  }),
});

builder.prismaNode('AlertDelivery', {
  id: { field: 'id' },
  nullable: true,
  description: 'One alert to one destination, with every attempt.',
  fields: (t) => ({
    databaseId: t.exposeInt('id', { description: 'The row id in sqp_refresh_work.alert_deliveries.' }),
    status: t.field({ type: DeliveryStatusEnum, description: 'Pending, delivered or abandoned.', resolve: (d) => d.status as 'pending' | 'delivered' | 'abandoned' }),
    nextAttemptAt: t.field({
      type: 'DateTime',
      nullable: true,
      description: 'While pending: when it is tried next (or, while an attempt is in flight, when that attempt\'s lease ends).',
      resolve: (d) => (d.status === 'pending' ? d.nextAttemptAt : null),
    }),
    deliveredAt: t.expose('deliveredAt', { type: 'DateTime', nullable: true, description: 'When the destination accepted it.' }),
    abandonedAt: t.expose('abandonedAt', { type: 'DateTime', nullable: true, description: 'When it was given up.' }),
    abandonReason: t.exposeString('abandonReason', { nullable: true, description: 'Why it was given up.' }),
    createdAt: t.expose('createdAt', { type: 'DateTime', description: 'When it was queued (with its alert).' }),
    alert: t.relation('alert', { description: 'The alert sent.' }),
    destination: t.relation('destination', { description: 'Where it is sent.' }),
    attempts: t.relation('attempts', { description: 'Every attempt, first first.', query: { orderBy: { attempt: 'asc' } } }),
  }),
});

builder.prismaObject('AlertDeliveryAttempt', {
  description: 'One attempt to deliver: when, by which replica, and what came of it.',
  fields: (t) => ({
    attempt: t.exposeInt('attempt', { description: '1 for the first attempt.' }),
    workerName: t.exposeString('workerName', { description: 'The replica that sent it.' }),
    startedAt: t.expose('startedAt', { type: 'DateTime', description: 'When it was claimed and sent.' }),
    claimedUntil: t.expose('claimedUntil', { type: 'DateTime', description: 'Its lease: without a result by then, another replica tries again.' }),
    finishedAt: t.expose('finishedAt', { type: 'DateTime', nullable: true, description: 'When its result was recorded; null while in flight or when lost.' }),
    outcome: t.field({ type: AttemptOutcomeEnum, description: 'In flight, succeeded, failed or lost.', resolve: (a) => attemptOutcome(a, new Date()) }),
    httpStatus: t.exposeInt('httpStatus', { nullable: true, description: "The destination's HTTP status; null when none came (timeout, connection error)." }),
    error: t.exposeString('error', { nullable: true, description: 'Why it failed; null when it succeeded.' }),
    durationMs: t.exposeInt('durationMs', { nullable: true, description: 'From sending to the end of the answer, in milliseconds.' }),
    responseExcerpt: t.exposeString('responseExcerpt', { nullable: true, description: "The start of the destination's answer (at most 256 characters)." }),
  }),
});

const AlertDeliveryCountsRef = builder.objectRef<OpenAlert['deliveries']>('AlertDeliveryCounts').implement({
  description: "An alert's deliveries by status: one per destination subscribed to its kind when it was written.",
  fields: (t) => ({
    pending: t.exposeInt('pending', { description: 'Not delivered yet: being sent, or waiting for its next attempt.' }),
    delivered: t.exposeInt('delivered', { description: 'Accepted by their destination (2xx).' }),
    abandoned: t.exposeInt('abandoned', { description: 'Given up: the destination was disabled, or every attempt failed for a day.' }),
    total: t.int({ description: 'All of them; 0 when no enabled destination wanted its kind.', resolve: (c) => c.pending + c.delivered + c.abandoned }),
  }),
});

// run, config and alert are findUnique calls: Prisma batches those of one tick into one query,
// so a list of open alerts costs one statement per relation asked for, not one per alert.
export const OpenAlertRef = builder.objectRef<OpenAlert>('OpenAlert').implement({
  description: "An alert whose episode has not ended: a table's failure not followed by its recovery, or a late or blocked table that has not refreshed successfully since.",
  fields: (t) => ({
    kind: t.field({ type: AlertKindEnum, description: 'TABLE_FAILED, TABLE_LATE or TABLE_BLOCKED (TABLE_RECOVERED only ends a failure).', resolve: (a) => a.kind }),
    table: t.string({ description: 'The table, as schema.table.', resolve: (a) => `${a.tableSchema}.${a.tableName}` }),
    tableSchema: t.exposeString('tableSchema', { description: 'Schema of the table.' }),
    tableName: t.exposeString('tableName', { description: 'Name of the table.' }),
    since: t.expose('since', { type: 'DateTime', description: "When it opened: the alert's occurredAt." }),
    reason: t.exposeString('reason', { description: 'Why, for people: the error, the failed parent, how late.' }),
    run: t.prismaField({
      type: 'RefreshRun',
      nullable: true,
      description: 'The run that failed (TABLE_FAILED); null for a late or blocked table, or a run removed since.',
      resolve: (query, a, _args, ctx) => (a.runId === null ? null : ctx.db.prisma.refreshRun.findUnique({ ...query, where: { id: a.runId } })),
    }),
    config: t.prismaField({
      type: 'RefreshConfig',
      nullable: true,
      description: 'The table; null if it was unregistered a moment ago.',
      resolve: (query, a, _args, ctx) => ctx.db.prisma.refreshConfig.findUnique({ ...query, where: { id: a.configId } }),
    }),
    alert: t.prismaField({
      type: 'Alert',
      nullable: true,
      description: 'The alert that opened it, with each delivery and attempt; null if it was removed a moment ago.',
      resolve: (query, a, _args, ctx) => ctx.db.prisma.alert.findUnique({ ...query, where: { id: a.alertId } }),
    }),
    deliveries: t.expose('deliveries', { type: AlertDeliveryCountsRef, description: "Where the alert's deliveries stand, by status." }),
  }),
});
