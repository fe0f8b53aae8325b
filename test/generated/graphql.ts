/* eslint-disable */
/** Internal type. DO NOT USE DIRECTLY. */
type Exact<T extends { [key: string]: unknown }> = { [K in keyof T]: T[K] };
/** Internal type. DO NOT USE DIRECTLY. */
export type Incremental<T> = T | { [P in keyof T]?: P extends ' $fragmentName' | '__typename' ? T[P] : never };
import type { TypedDocumentNode as DocumentNode } from '@graphql-typed-document-node/core';
/** A table built from another: it refreshes after it. */
export type AddRefreshDependencyInput = {
  /** HARD (default): never run on data from an unhealthy parent; SOFT: run anyway. */
  dependencyType?: DependencyType | null | undefined;
  /** The table built from it, refreshed after it. */
  dependent: TableRefInput;
  /** The table refreshed first. */
  parent: TableRefInput;
};

/** How one attempt ended. */
export type AlertAttemptOutcome =
  /** Another status, a redirect, a timeout or a connection error (see error). */
  | 'FAILED'
  /** Being sent now (its lease has not ended). */
  | 'IN_FLIGHT'
  /** Its process never reported (killed, or cut off) and its lease ended: another attempt sends it again. */
  | 'LOST'
  /** The destination answered 2xx. */
  | 'SUCCEEDED';

/** Where one alert to one destination stands. */
export type AlertDeliveryStatus =
  /** Given up (abandonReason): its destination was disabled, or every attempt failed for a day. */
  | 'ABANDONED'
  /** The destination answered 2xx. */
  | 'DELIVERED'
  /** Not delivered yet: being sent, or waiting for its next attempt. */
  | 'PENDING';

/** Why a destination is disabled. */
export type AlertDestinationDisabledReason =
  /** An admin disabled it. */
  | 'ADMIN'
  /** Every attempt failed for a day. */
  | 'FAILING';

/** Whether a destination receives alerts. */
export type AlertDestinationState =
  /** By an admin, or after a day of failures (disabledReason): nothing is sent to it; enable it again with updateAlertDestination. */
  | 'DISABLED'
  /** Every attempt since failingSince failed; it is retried with backoff, and disabled after a day. */
  | 'FAILING'
  /** Its latest attempt succeeded (or none failed yet). */
  | 'HEALTHY';

/** Which alerts to list; every field given must hold. */
export type AlertFilter = {
  /** Only alerts of this kind. */
  kind?: AlertKind | null | undefined;
  /** Alerts that occurred at or after this instant. */
  since?: string | null | undefined;
  /** Only alerts about tables of this name. */
  tableName?: string | null | undefined;
  /** Only alerts about tables of this schema. */
  tableSchema?: string | null | undefined;
};

/** The body a destination receives. */
export type AlertFormat =
  /** The JSON event (see the README, "Alerts"). */
  | 'JSON'
  /** A Slack-compatible body: {"text": "…"} (an incoming webhook). */
  | 'SLACK';

/** What happened to a table, as an alert reports it. */
export type AlertKind =
  /** A backfill of it failed: a chunk failed for good (its table's own state is not changed by it); resumeBackfill tries again. */
  | 'BACKFILL_FAILED'
  /** A hard parent failed, so it cannot refresh. */
  | 'TABLE_BLOCKED'
  /** Its refresh failed after its retries, or a blocking quality check stopped a publish. */
  | 'TABLE_FAILED'
  /** It is past its freshness SLA. */
  | 'TABLE_LATE'
  /** It refreshed successfully again after failing. */
  | 'TABLE_RECOVERED';

/** Where a chunk of a backfill is, as its runs say. */
export type BackfillChunkState =
  /** A run of it completed. */
  | 'DONE'
  /** It failed for good. */
  | 'FAILED'
  /** Not run yet, or to be run again (its last run paused, was interrupted or failed and will be retried). */
  | 'PENDING'
  /** Its run is running now. */
  | 'RUNNING';

/** How a backfill range is cut into chunks. */
export type BackfillChunkUnit =
  /** One day per chunk. */
  | 'DAY'
  /** One calendar month per chunk (the first and last may be partial). */
  | 'MONTH'
  /** Seven days per chunk, from the first day of the range. */
  | 'WEEK';

/** Where a backfill is. */
export type BackfillStatus =
  /** Cancelled: the chunk in flight was cancelled (nothing of it published); the chunks done stay done. */
  | 'CANCELLED'
  /** Every chunk completed. */
  | 'COMPLETED'
  /** A chunk failed for good (an error that no retry mends, or 3 failures); resumeBackfill tries it again. */
  | 'FAILED'
  /** No chunk runs until resumeBackfill. */
  | 'PAUSED'
  /** Paused while a chunk was running: that chunk ends, no next one starts. */
  | 'PAUSING'
  /** Its chunks run, one after the other. */
  | 'RUNNING';

/** Which running refresh to stop. */
export type CancelRefreshInput = {
  /** The id of the running RefreshRun. */
  runId: string | number;
};

/** Whether a refresh can resume from a checkpoint (refresh_checkpoints.status). */
export type CheckpointStatus =
  /** A refresh is (or was, until interrupted) in progress here. */
  | 'ACTIVE'
  /** The refresh finished. */
  | 'COMPLETED'
  /** Too old to resume from. */
  | 'EXPIRED';

/** A webhook to send alerts to. */
export type CreateAlertDestinationInput = {
  /** The kinds it receives; default every kind. */
  events?: Array<AlertKind> | null | undefined;
  /** The body it receives; default JSON. */
  format?: AlertFormat | null | undefined;
  /** Unique (ignoring case), 1 to 100 characters. */
  name: string;
  /** At least 16 characters: the key of the HMAC-SHA256 signature header. Write-only. */
  secret: string;
  /** http or https, with a host; no user:password@, no #fragment. */
  url: string;
};

/** The destination to delete. */
export type DeleteAlertDestinationInput = {
  /** The AlertDestination to delete. */
  id: string | number;
};

/** How strictly a dependent waits for its parent. */
export type DependencyType =
  /** Never runs on data from an unhealthy parent. */
  | 'HARD'
  /** Runs anyway, and notes the unhealthy parent. */
  | 'SOFT';

/** Which table to refresh now, and how. */
export type ForceRefreshInput = {
  /** Refresh the dependents after it (default true). */
  cascade?: boolean | null | undefined;
  /** Only plan it and estimate BigQuery bytes; start nothing. */
  dryRun?: boolean | null | undefined;
  /** Override the configured mode for this run. */
  mode?: RefreshMode | null | undefined;
  /** Name of the registered table. */
  tableName: string;
  /** Schema of the registered table. */
  tableSchema: string;
};

/** Why a table is in the plan. */
export type PlanReason =
  /** A parent refreshes first; this one follows it. */
  | 'CASCADE'
  /** Its next refresh time has passed. */
  | 'DUE'
  /** A retryable failure, retried with backoff. */
  | 'RETRY'
  /** Its next refresh time falls within the horizon. */
  | 'SCHEDULED';

/** Whether a planned refresh can run when its time comes. */
export type PlanState =
  /** Waits: a hard parent is unhealthy, or it is in a dependency cycle. */
  | 'BLOCKED'
  /** Will run when its time comes. */
  | 'READY';

/** What the quality checks of the latest finished run said, in one word. */
export type QualityVerdict =
  /** A blocking metric outside its threshold: the run failed. */
  | 'FAIL'
  /** Every metric of the latest run within its threshold. */
  | 'PASS'
  /** A non-blocking metric outside its threshold. */
  | 'WARNING';

/** Which registered tables to list; every field given must hold. */
export type RefreshConfigFilter = {
  /** true: due (enabled, configured with custom_sync_params, next_refresh_at passed), as the runner sees it; false: not due. */
  due?: boolean | null | undefined;
  /** Only enabled (true) or disabled (false) tables. */
  isEnabled?: boolean | null | undefined;
  /** Part of the table name, case-insensitive. */
  search?: string | null | undefined;
  /** Only tables of this schema. */
  tableSchema?: string | null | undefined;
};

/** Which events to receive; every field given must hold. */
export type RefreshEventFilter = {
  /** Only this run (RefreshRun id). */
  runId?: string | number | null | undefined;
  /** Only events of tables of this name. */
  tableName?: string | null | undefined;
  /** Only events of tables of this schema. */
  tableSchema?: string | null | undefined;
};

/** How much of the source a refresh reads. */
export type RefreshMode =
  /** Read the whole source. */
  | 'FULL'
  /** Read what changed after the last watermark (needs a cursor column). */
  | 'INCREMENTAL';

/** Which refresh runs to list; every field given must hold. */
export type RefreshRunFilter = {
  /** Runs started at or after this instant. */
  since?: string | null | undefined;
  /** Only runs with this status. */
  status?: RefreshStatus | null | undefined;
  /** Only runs of tables of this name. */
  tableName?: string | null | undefined;
  /** Only runs of tables of this schema. */
  tableSchema?: string | null | undefined;
};

/** State of a refresh run (refresh_audit_log.status). */
export type RefreshStatus =
  /** Did not finish: error, interruption, cancel or a blocking quality check. */
  | 'FAILED'
  /** Its row still says running but no process runs it (the process died, or lost its table's lock): a runner recovers it (it then reads FAILED, reason interrupted) and resumes from its checkpoint. */
  | 'INTERRUPTED'
  /** Started and not finished, and running now: its table's refresh lock is held by the process running it. */
  | 'RUNNING'
  /** Finished; every quality check within its threshold. */
  | 'SUCCESS'
  /** Finished; a non-blocking quality check was outside its threshold. */
  | 'WARNING';

/** An existing table to keep fresh, and its settings (defaults where left out). */
export type RegisterTableInput = {
  /** Where its rows come from and how they are checked (see the README); without it the table is UNCONFIGURED. */
  customSyncParams?: unknown;
  /** Hours within which a successful refresh is expected, or the table is LATE (1 to 17568); default twice refreshFrequencyHours. */
  freshnessSlaHours?: number | null | undefined;
  /** Refresh it on its schedule; default true. */
  isEnabled?: boolean | null | undefined;
  /** Among tables due at once, higher runs first (0 to 1000); default 100. */
  priority?: number | null | undefined;
  /** Hours from one successful refresh to the next; default 24. */
  refreshFrequencyHours?: number | null | undefined;
  /** An existing table of the database; not one of the refresh system's own (ValidationError on tableName). */
  tableName: string;
  /** Schema of the table: a data schema (sqp). PostgreSQL's catalogs, sqp-refresh's own schemas and any other schema are refused (ValidationError on tableSchema). */
  tableSchema: string;
};

/** Which dependency to remove. */
export type RemoveRefreshDependencyInput = {
  /** The RefreshDependency to remove. */
  id: string | number;
};

/** How a finished run ended, beyond its status: a cancel or a pause is not a failure. */
export type RunOutcome =
  /** Stopped at a page boundary because someone cancelled it. */
  | 'CANCELLED'
  /** Every page was read and published. */
  | 'COMPLETED'
  /** An error or a blocking quality check; the target is unchanged by this run. */
  | 'FAILED'
  /** Stopped at a page boundary (shutdown or time budget); the next run resumes from its checkpoint. */
  | 'PAUSED'
  /** The source had not changed since the last success: nothing was read. */
  | 'UNCHANGED';

/** Which table to refresh, and when. */
export type ScheduleRefreshInput = {
  /** When it next refreshes: from 5 minutes ago (a time already past means now) to a year (366 days) ahead; outside that, a ValidationError on at. */
  at: string;
  /** Name of the registered table. */
  tableName: string;
  /** Schema of the registered table. */
  tableSchema: string;
};

/** What a token allows. Scopes nest: ADMIN includes OPERATE, which includes READ. */
export type Scope =
  /** Also register tables and change their settings and dependencies. */
  | 'ADMIN'
  /** Also force, schedule and cancel refreshes. */
  | 'OPERATE'
  /** Queries and subscriptions: configs, runs, quality, checkpoints, plan, health. */
  | 'READ';

/** Which range of which table to re-load, and how. */
export type StartBackfillInput = {
  /** Then recompute its hard dependents for the periods the range touches (default true). */
  cascade?: boolean | null | undefined;
  /** Chunk length (default WEEK). */
  chunk?: BackfillChunkUnit | null | undefined;
  /** Only plan it: the chunks and, for BigQuery, the estimated bytes; start nothing. */
  dryRun?: boolean | null | undefined;
  /** First day of the range, YYYY-MM-DD. */
  from: string;
  /** Name of the registered table (it needs partitionColumn or cursorColumn in its params, or to be a transform). */
  tableName: string;
  /** Schema of the registered table. */
  tableSchema: string;
  /** Last day of the range, YYYY-MM-DD (inclusive). */
  to: string;
};

/** The length of one row of statistics, in UTC (weeks start on Monday). */
export type StatisticsBucket =
  /** One row per table and day. */
  | 'DAY'
  /** One row per table and hour. */
  | 'HOUR'
  /** One row per table and ISO week. */
  | 'WEEK';

/** A registered table, by schema and name. */
export type TableRefInput = {
  /** Name of the table. */
  tableName: string;
  /** Schema of the table. */
  tableSchema: string;
};

/** A registered table's state now, as the runner sees it: the first of these, in this order, that holds. */
export type TableState =
  /** Its next refresh may not run: a hard parent failed (and is not refreshed before it), is running, or a dependency cycle (see reasons). */
  | 'BLOCKED'
  /** is_enabled is false. */
  | 'DISABLED'
  /** Its refresh time has passed; a runner will take it. */
  | 'DUE'
  /** Its latest refresh failed and no retry is coming: the error is not retryable, or its retries are used up (see reasons). */
  | 'FAILED'
  /** Its latest run says running but no process holds the table's lock (the process died): a runner recovers it and resumes from its checkpoint. */
  | 'INTERRUPTED'
  /** No successful refresh within its freshness SLA (freshnessSlaHours), and nothing above explains why. */
  | 'LATE'
  /** Its latest refresh failed; the runner retries it (see reasons for when). */
  | 'RETRYING'
  /** A refresh is running now: the table's refresh lock is held, on some replica. */
  | 'RUNNING'
  /** Waits for its next refresh time. */
  | 'SCHEDULED'
  /** No custom_sync_params: nothing says where its rows come from. */
  | 'UNCONFIGURED';

/** A destination's settings to change; fields left out keep their value. */
export type UpdateAlertDestinationInput = {
  /** false: disable it (its pending deliveries are abandoned); true: enable it again, its failing streak forgotten. */
  enabled?: boolean | null | undefined;
  /** The kinds it receives. */
  events?: Array<AlertKind> | null | undefined;
  /** The body it receives. */
  format?: AlertFormat | null | undefined;
  /** The AlertDestination to change. */
  id: string | number;
  /** Unique (ignoring case), 1 to 100 characters. */
  name?: string | null | undefined;
  /** A new signing secret (at least 16 characters). Write-only. */
  secret?: string | null | undefined;
  /** http or https, with a host; no user:password@, no #fragment. */
  url?: string | null | undefined;
};

/** A table's settings to change; fields left out keep their value. */
export type UpdateRefreshConfigInput = {
  /** Validated against the sync-params schema (see the README). */
  customSyncParams?: unknown;
  /** Hours within which a successful refresh is expected, or the table is LATE: 1 to 17568; null: back to the default (twice refreshFrequencyHours). */
  freshnessSlaHours?: number | null | undefined;
  /** The RefreshConfig to change. */
  id: string | number;
  /** false: the runner no longer refreshes it on its schedule. */
  isEnabled?: boolean | null | undefined;
  /** 0 to 1000; higher runs first. */
  priority?: number | null | undefined;
  /** Hours from one successful refresh to the next; at least 1. */
  refreshFrequencyHours?: number | null | undefined;
};

export type AlertsCreateDestinationMutationVariables = Exact<{
  input: CreateAlertDestinationInput;
}>;


export type AlertsCreateDestinationMutation = { createAlertDestination:
    | { __typename: 'ConflictError', message: string, field: string }
    | { __typename: 'CreateAlertDestinationPayload', destination: { id: string, databaseId: number, name: string, url: string | null, host: string, format: AlertFormat, events: Array<AlertKind>, secretSet: boolean, enabled: boolean, state: AlertDestinationState } }
    | { __typename: 'ForbiddenError', message: string }
    | { __typename: 'ValidationError', message: string, field: string, issues: Array<{ path: string, message: string }> }
   };

export type AlertsUpdateDestinationMutationVariables = Exact<{
  input: UpdateAlertDestinationInput;
}>;


export type AlertsUpdateDestinationMutation = { updateAlertDestination:
    | { __typename: 'ConflictError', message: string, field: string }
    | { __typename: 'ForbiddenError', message: string }
    | { __typename: 'NotFoundError', message: string, field: string }
    | { __typename: 'UpdateAlertDestinationPayload', destination: { name: string, url: string | null, state: AlertDestinationState, enabled: boolean, failingSince: string | null, disabledReason: AlertDestinationDisabledReason | null, events: Array<AlertKind> } }
    | { __typename: 'ValidationError', message: string, field: string }
   };

export type AlertsDeleteDestinationMutationVariables = Exact<{
  input: DeleteAlertDestinationInput;
}>;


export type AlertsDeleteDestinationMutation = { deleteAlertDestination:
    | { __typename: 'DeleteAlertDestinationPayload', deletedId: string, name: string }
    | { __typename: 'ForbiddenError', message: string }
    | { __typename: 'NotFoundError', message: string }
    | { __typename: 'ValidationError', message: string }
   };

export type AlertsDestinationsQueryVariables = Exact<{ [key: string]: never; }>;


export type AlertsDestinationsQuery = { alertDestinations: Array<{ name: string, url: string | null, host: string, format: AlertFormat, events: Array<AlertKind>, secretSet: boolean, enabled: boolean, state: AlertDestinationState, failingSince: string | null, lastError: string | null, lastSuccessAt: string | null, disabledAt: string | null, disabledReason: AlertDestinationDisabledReason | null, deliveries: { totalCount: number, edges: Array<{ node: { status: AlertDeliveryStatus, abandonReason: string | null, attempts: Array<{ outcome: AlertAttemptOutcome }> } }> } }> };

export type AlertsListQueryVariables = Exact<{
  filter?: AlertFilter | null | undefined;
}>;


export type AlertsListQuery = { alerts: { totalCount: number, edges: Array<{ node: { eventId: string, kind: AlertKind, tableSchema: string, tableName: string, reason: string, occurredAt: string, config: { tableName: string } | null, run: { databaseId: number } | null, deliveries: Array<{ status: AlertDeliveryStatus, deliveredAt: string | null, nextAttemptAt: string | null, abandonReason: string | null, destination: { name: string, state: AlertDestinationState }, attempts: Array<{ attempt: number, workerName: string, startedAt: string, finishedAt: string | null, outcome: AlertAttemptOutcome, httpStatus: number | null, error: string | null, durationMs: number | null, responseExcerpt: string | null }> }> } }> } };

export type ChaosEventsSubscriptionVariables = Exact<{
  filter?: RefreshEventFilter | null | undefined;
}>;


export type ChaosEventsSubscription = { refreshEvents:
    | { __typename: 'ConfigChanged' }
    | { __typename: 'QualityMetricRecorded' }
    | { __typename: 'RunBlocked' }
    | { __typename: 'RunFinished' }
    | { __typename: 'RunProgress' }
    | { __typename: 'RunStarted' }
   };

export type ChaosForceMutationVariables = Exact<{
  input: ForceRefreshInput;
}>;


export type ChaosForceMutation = { forceRefresh:
    | { __typename: 'BudgetExceededError' }
    | { __typename: 'ConflictError' }
    | { __typename: 'ForbiddenError' }
    | { __typename: 'ForceRefreshPayload' }
    | { __typename: 'NotFoundError' }
    | { __typename: 'ValidationError' }
   };

export type DashboardEventsSubscriptionVariables = Exact<{
  filter?: RefreshEventFilter | null | undefined;
  after?: string | number | null | undefined;
}>;


export type DashboardEventsSubscription = { refreshEvents:
    | { __typename: 'ConfigChanged', id: string, tableName: string }
    | { __typename: 'QualityMetricRecorded', id: string, tableName: string }
    | { __typename: 'RunBlocked', id: string, tableName: string }
    | { __typename: 'RunFinished', id: string, tableName: string }
    | { __typename: 'RunProgress', id: string, tableName: string }
    | { __typename: 'RunStarted', id: string, tableName: string }
   };

export type DashboardForceMutationVariables = Exact<{
  input: ForceRefreshInput;
}>;


export type DashboardForceMutation = { forceRefresh:
    | { __typename: 'BudgetExceededError' }
    | { __typename: 'ConflictError' }
    | { __typename: 'ForbiddenError' }
    | { __typename: 'ForceRefreshPayload' }
    | { __typename: 'NotFoundError' }
    | { __typename: 'ValidationError' }
   };

export type DashboardProgressSubscriptionVariables = Exact<{
  runId: string | number;
  after?: string | number | null | undefined;
}>;


export type DashboardProgressSubscription = { runProgress: { eventId: string | null, rowsProcessed: number, finished: boolean, status: RefreshStatus } };

export type DueTablesQueryVariables = Exact<{
  due: boolean;
}>;


export type DueTablesQuery = { refreshConfigs: { edges: Array<{ node: { tableName: string } }> } };

export type BudgetEventsSubscriptionVariables = Exact<{
  filter?: RefreshEventFilter | null | undefined;
}>;


export type BudgetEventsSubscription = { refreshEvents:
    | { __typename: 'ConfigChanged', id: string, tableName: string }
    | { __typename: 'QualityMetricRecorded', id: string, tableName: string, metricName: string }
    | { __typename: 'RunBlocked', id: string, tableName: string }
    | { __typename: 'RunFinished', id: string, tableName: string }
    | { __typename: 'RunProgress', id: string, tableName: string, rowsProcessed: number }
    | { __typename: 'RunStarted', id: string, tableName: string }
   };

export type StormEventsSubscriptionVariables = Exact<{
  after?: string | number | null | undefined;
}>;


export type StormEventsSubscription = { refreshEvents:
    | { __typename: 'ConfigChanged', id: string }
    | { __typename: 'QualityMetricRecorded', id: string, runId: string }
    | { __typename: 'RunBlocked', id: string }
    | { __typename: 'RunFinished', id: string, runId: string }
    | { __typename: 'RunProgress', id: string, runId: string }
    | { __typename: 'RunStarted', id: string, runId: string }
   };

export type AuthEventsSubscriptionVariables = Exact<{ [key: string]: never; }>;


export type AuthEventsSubscription = { refreshEvents:
    | { __typename: 'ConfigChanged' }
    | { __typename: 'QualityMetricRecorded' }
    | { __typename: 'RunBlocked' }
    | { __typename: 'RunFinished' }
    | { __typename: 'RunProgress' }
    | { __typename: 'RunStarted' }
   };

export type StartBackfillMutationVariables = Exact<{
  input: StartBackfillInput;
}>;


export type StartBackfillMutation = { startBackfill:
    | { __typename: 'BudgetExceededError', message: string }
    | { __typename: 'ConflictError', message: string, field: string }
    | { __typename: 'ForbiddenError', message: string }
    | { __typename: 'NotFoundError', message: string }
    | { __typename: 'StartBackfillPayload', dryRun: boolean, estimatedBytes: string | null, remainingBudgetBytes: string | null, chunks: Array<{ position: number, tableName: string, from: string, to: string, estimatedBytes: string | null }>, backfill: { id: string, status: BackfillStatus, chunksTotal: number } | null }
    | { __typename: 'ValidationError', message: string, field: string }
   };

export type BackfillProgressSubscriptionVariables = Exact<{
  id: string | number;
}>;


export type BackfillProgressSubscription = { backfillProgress: { id: string, status: BackfillStatus, chunksDone: number, chunksTotal: number, percent: number } };

export type ReadBackfillQueryVariables = Exact<{
  ids: Array<string | number> | string | number;
}>;


export type ReadBackfillQuery = { nodes: Array<
    | { id: string, status: BackfillStatus, from: string, to: string, chunksDone: number, chunksTotal: number, rowsProcessed: number, bytesBilled: string, errors: Array<string>, chunks: Array<{ position: number, state: BackfillChunkState, from: string, to: string, runs: number, bytesBilled: string, run: { id: string, status: RefreshStatus | null } | null }> }
    | Record<PropertyKey, never>
   | null> };

export type ViewerQueryVariables = Exact<{ [key: string]: never; }>;


export type ViewerQuery = { viewer: { name: string | null, scopes: Array<Scope>, tokenRefused: string | null } };

export type CountsQueryVariables = Exact<{ [key: string]: never; }>;


export type CountsQuery = { all: { totalCount: number, edges: Array<{ node: { tableName: string } }> }, disabled: { totalCount: number }, failedRuns: { totalCount: number }, refreshConfig: { runs: { totalCount: number, edges: Array<{ node: { id: string } }> } } | null, refreshCheckpoints: { totalCount: number }, qualityMetrics: { totalCount: number } };

export type OutcomesQueryVariables = Exact<{ [key: string]: never; }>;


export type OutcomesQuery = { refreshRuns: { edges: Array<{ node: { status: RefreshStatus | null, outcome: RunOutcome | null } }> } };

export type RunProgressOutcomeSubscriptionVariables = Exact<{
  runId: string | number;
}>;


export type RunProgressOutcomeSubscription = { runProgress: { status: RefreshStatus, outcome: RunOutcome | null, rowsProcessed: number, totalRows: number | null, percent: number | null, finished: boolean } };

export type RunStatisticsQueryVariables = Exact<{
  since: string;
  bucket?: StatisticsBucket | null | undefined;
  tableName?: string | null | undefined;
}>;


export type RunStatisticsQuery = { refreshRunStatistics: Array<{ tableName: string, periodStart: string, periodEnd: string, runs: number, completed: number, failed: number, cancelled: number, paused: number, successRate: number | null, p50DurationMs: number | null, p95DurationMs: number | null, rowsProcessed: string, bytesBilled: string }> };

export type ForceMutationVariables = Exact<{
  input: ForceRefreshInput;
}>;


export type ForceMutation = { forceRefresh:
    | { __typename: 'BudgetExceededError', message: string, neededBytes: string, remainingBytes: string }
    | { __typename: 'ConflictError', message: string, field: string }
    | { __typename: 'ForbiddenError', message: string }
    | { __typename: 'ForceRefreshPayload', dryRun: boolean, queued: boolean, estimatedBytes: string | null, remainingBudgetBytes: string | null, run: { id: string, databaseId: number, status: RefreshStatus | null, tableName: string } | null, plan: Array<{ position: number, table: string, reason: PlanReason, state: PlanState }> }
    | { __typename: 'NotFoundError', message: string, field: string, value: string }
    | { __typename: 'ValidationError', message: string, field: string, issues: Array<{ path: string, message: string }> }
   };

export type RunStatusQueryVariables = Exact<{
  id: string | number;
}>;


export type RunStatusQuery = { node:
    | { status: RefreshStatus | null, rowsProcessed: number | null, errorMessage: string | null, errorDetails: unknown, syncMetadata: unknown }
    | Record<PropertyKey, never>
   | null };

export type CancelMutationVariables = Exact<{
  input: CancelRefreshInput;
}>;


export type CancelMutation = { cancelRefresh:
    | { __typename: 'CancelRefreshPayload', finished: boolean, run: { status: RefreshStatus | null, errorMessage: string | null, rowsProcessed: number | null } }
    | { __typename: 'ConflictError', message: string, field: string }
    | { __typename: 'ForbiddenError', message: string }
    | { __typename: 'NotFoundError', message: string, field: string }
    | { __typename: 'ValidationError', message: string, field: string }
   };

export type ScheduleMutationVariables = Exact<{
  input: ScheduleRefreshInput;
}>;


export type ScheduleMutation = { scheduleRefresh:
    | { __typename: 'ConflictError', message: string }
    | { __typename: 'ForbiddenError', message: string }
    | { __typename: 'NotFoundError', message: string }
    | { __typename: 'ScheduleRefreshPayload', config: { tableName: string, nextRefreshAt: string | null } }
    | { __typename: 'ValidationError', message: string }
   };

export type UpdateMutationVariables = Exact<{
  input: UpdateRefreshConfigInput;
}>;


export type UpdateMutation = { updateRefreshConfig:
    | { __typename: 'ForbiddenError' }
    | { __typename: 'NotFoundError', field: string }
    | { __typename: 'UpdateRefreshConfigPayload', config: { priority: number, refreshFrequencyHours: number, isEnabled: boolean, customSyncParams: unknown } }
    | { __typename: 'ValidationError', field: string, issues: Array<{ path: string, message: string }> }
   };

export type RegisterMutationVariables = Exact<{
  input: RegisterTableInput;
}>;


export type RegisterMutation = { registerTable:
    | { __typename: 'ConflictError', message: string, field: string }
    | { __typename: 'ForbiddenError', message: string }
    | { __typename: 'NotFoundError', message: string, field: string }
    | { __typename: 'RegisterTablePayload', config: { id: string, tableName: string, priority: number } }
    | { __typename: 'ValidationError', message: string }
   };

export type AddDepMutationVariables = Exact<{
  input: AddRefreshDependencyInput;
}>;


export type AddDepMutation = { addRefreshDependency:
    | { __typename: 'AddRefreshDependencyPayload', dependency: { id: string, dependencyType: DependencyType, parent: { tableName: string } | null, dependent: { tableName: string, dependencies: Array<string> } | null } }
    | { __typename: 'ConflictError', message: string }
    | { __typename: 'CycleError', message: string, cycle: Array<string> }
    | { __typename: 'ForbiddenError', message: string }
    | { __typename: 'NotFoundError', message: string, field: string }
    | { __typename: 'ValidationError', message: string }
   };

export type RemoveDepMutationVariables = Exact<{
  input: RemoveRefreshDependencyInput;
}>;


export type RemoveDepMutation = { removeRefreshDependency:
    | { __typename: 'ForbiddenError' }
    | { __typename: 'NotFoundError', field: string }
    | { __typename: 'RemoveRefreshDependencyPayload', removedId: string, dependent: { dependencies: Array<string> } }
    | { __typename: 'ValidationError' }
   };

export type NodeOrNullQueryVariables = Exact<{
  id: string | number;
}>;


export type NodeOrNullQuery = { node:
    | { __typename: 'Alert', id: string }
    | { __typename: 'AlertDelivery', id: string }
    | { __typename: 'AlertDestination', id: string }
    | { __typename: 'Backfill', id: string }
    | { __typename: 'QualityMetric', id: string }
    | { __typename: 'RefreshCheckpoint', id: string }
    | { __typename: 'RefreshConfig', tableName: string, id: string }
    | { __typename: 'RefreshDependency', id: string }
    | { __typename: 'RefreshRun', id: string }
   | null };

export type NodesWithGapsQueryVariables = Exact<{
  ids: Array<string | number> | string | number;
}>;


export type NodesWithGapsQuery = { nodes: Array<
    | { __typename: 'Alert', id: string }
    | { __typename: 'AlertDelivery', id: string }
    | { __typename: 'AlertDestination', id: string }
    | { __typename: 'Backfill', id: string }
    | { __typename: 'QualityMetric', id: string }
    | { __typename: 'RefreshCheckpoint', id: string }
    | { __typename: 'RefreshConfig', tableName: string, id: string }
    | { __typename: 'RefreshDependency', id: string }
    | { __typename: 'RefreshRun', id: string }
   | null> };

export type PlanQueryVariables = Exact<{
  hours: number;
}>;


export type PlanQuery = { refreshPlan: { horizonHours: number, total: number, items: Array<{ position: number, table: string, reason: PlanReason, state: PlanState, notes: Array<string>, cascadeFrom: string | null, configId: string }>, cycles: Array<{ tables: Array<string> }> } };

export type ConfigsQueryVariables = Exact<{
  first?: number | null | undefined;
  after?: string | null | undefined;
  filter?: RefreshConfigFilter | null | undefined;
}>;


export type ConfigsQuery = { refreshConfigs: { edges: Array<{ cursor: string, node: { id: string, tableSchema: string, tableName: string, priority: number, isEnabled: boolean, nextRefreshAt: string | null, dependencies: Array<string>, parents: Array<{ tableName: string }>, dependents: Array<{ tableName: string }>, latestRun: { status: RefreshStatus | null, bigqueryJobId: string | null } | null } }>, pageInfo: { hasNextPage: boolean, endCursor: string | null } } };

export type OneConfigQueryVariables = Exact<{
  tableSchema: string;
  tableName: string;
}>;


export type OneConfigQuery = { refreshConfig: { id: string, tableName: string, runs: { edges: Array<{ node: { id: string, status: RefreshStatus | null, rowsProcessed: number | null, memoryUsedMb: number | null, errorMessage: string | null, config: { tableName: string } | null, qualityMetrics: Array<{ metricName: string, metricValue: number | null, thresholdMax: number | null, isWithinThreshold: boolean | null }> } }> } } | null };

export type RunsQueryVariables = Exact<{
  filter?: RefreshRunFilter | null | undefined;
}>;


export type RunsQuery = { refreshRuns: { edges: Array<{ node: { id: string, tableName: string, status: RefreshStatus | null } }> } };

export type CheckpointsAndMetricsQueryVariables = Exact<{
  status?: CheckpointStatus | null | undefined;
  within?: boolean | null | undefined;
}>;


export type CheckpointsAndMetricsQuery = { refreshCheckpoints: { edges: Array<{ node: { id: string, tableName: string, functionName: string, status: CheckpointStatus | null, lastProcessedRow: string | null, totalRows: string | null, checkpointData: unknown } }> }, qualityMetrics: { edges: Array<{ node: { id: string, metricName: string, run: { tableName: string } | null } }> } };

export type NodeLookupQueryVariables = Exact<{
  id: string | number;
}>;


export type NodeLookupQuery = { node:
    | { __typename: 'Alert', id: string }
    | { __typename: 'AlertDelivery', id: string }
    | { __typename: 'AlertDestination', id: string }
    | { __typename: 'Backfill', id: string }
    | { __typename: 'QualityMetric', metricName: string, id: string }
    | { __typename: 'RefreshCheckpoint', tableName: string, id: string }
    | { __typename: 'RefreshConfig', tableName: string, id: string }
    | { __typename: 'RefreshDependency', dependencyType: DependencyType, id: string, parent: { tableName: string } | null, dependent: { tableName: string } | null }
    | { __typename: 'RefreshRun', status: RefreshStatus | null, id: string }
   | null };

export type IdsQueryVariables = Exact<{ [key: string]: never; }>;


export type IdsQuery = { refreshConfig: { id: string, parentDependencies: Array<{ id: string }> } | null, refreshRuns: { edges: Array<{ node: { id: string } }> }, refreshCheckpoints: { edges: Array<{ node: { id: string } }> }, qualityMetrics: { edges: Array<{ node: { id: string } }> } };

export type OpenAlertsNowQueryVariables = Exact<{ [key: string]: never; }>;


export type OpenAlertsNowQuery = { openAlerts: Array<{ kind: AlertKind, table: string, tableSchema: string, tableName: string, since: string, reason: string, run: { databaseId: number, status: RefreshStatus | null } | null, config: { tableName: string } | null, alert: { eventId: string, occurredAt: string } | null, deliveries: { pending: number, delivered: number, abandoned: number, total: number } }> };

export type ReadModelStatesQueryVariables = Exact<{ [key: string]: never; }>;


export type ReadModelStatesQuery = { tableHealth: Array<{ table: string, state: TableState, reasons: Array<string>, failureStreak: number, qualityVerdict: QualityVerdict | null, bytesBilledToday: string, latestRun: { databaseId: number } | null }>, runnerStatus: { queueDepth: number, runsInFlight: Array<{ run: { databaseId: number, config: { tableName: string } | null } }> } };

export type RegisterUserTableMutationVariables = Exact<{
  input: RegisterTableInput;
}>;


export type RegisterUserTableMutation = { registerTable:
    | { __typename: 'ConflictError', message: string }
    | { __typename: 'ForbiddenError', message: string }
    | { __typename: 'NotFoundError', message: string }
    | { __typename: 'RegisterTablePayload', config: { tableSchema: string, tableName: string } }
    | { __typename: 'ValidationError', field: string, message: string, issues: Array<{ path: string, message: string }> }
   };

export type ReplicaEventsSubscriptionVariables = Exact<{
  filter?: RefreshEventFilter | null | undefined;
}>;


export type ReplicaEventsSubscription = { refreshEvents:
    | { __typename: 'ConfigChanged' }
    | { __typename: 'QualityMetricRecorded' }
    | { __typename: 'RunBlocked' }
    | { __typename: 'RunFinished', status: RefreshStatus, rowsProcessed: number }
    | { __typename: 'RunProgress', rowsProcessed: number }
    | { __typename: 'RunStarted' }
   };

export type ForceOnAMutationVariables = Exact<{
  input: ForceRefreshInput;
}>;


export type ForceOnAMutation = { forceRefresh:
    | { __typename: 'BudgetExceededError' }
    | { __typename: 'ConflictError' }
    | { __typename: 'ForbiddenError' }
    | { __typename: 'ForceRefreshPayload', run: { id: string, syncMetadata: unknown } | null }
    | { __typename: 'NotFoundError' }
    | { __typename: 'ValidationError' }
   };

export type ReplicaStatusQueryVariables = Exact<{ [key: string]: never; }>;


export type ReplicaStatusQuery = { runnerStatus: { replicas: Array<{ workerName: string, alive: boolean }> } };

export type RetryPolicyHealthQueryVariables = Exact<{ [key: string]: never; }>;


export type RetryPolicyHealthQuery = { tableHealth: Array<{ table: string, state: TableState }> };

export type GroupForceMutationVariables = Exact<{
  input: ForceRefreshInput;
}>;


export type GroupForceMutation = { forceRefresh:
    | { message: string }
    | { message: string }
    | { message: string }
    | { run: { id: string } | null }
    | { message: string }
    | { message: string }
   };

export type GroupProgressSubscriptionVariables = Exact<{
  runId: string | number;
}>;


export type GroupProgressSubscription = { runProgress: { rowsProcessed: number, finished: boolean, status: RefreshStatus } };

export type GroupEventsSubscriptionVariables = Exact<{
  filter?: RefreshEventFilter | null | undefined;
}>;


export type GroupEventsSubscription = { refreshEvents:
    | { __typename: 'ConfigChanged', id: string, tableName: string }
    | { __typename: 'QualityMetricRecorded', id: string, tableName: string }
    | { __typename: 'RunBlocked', id: string, tableName: string, reasons: Array<string> }
    | { __typename: 'RunFinished', id: string, tableName: string }
    | { __typename: 'RunProgress', id: string, tableName: string, rowsProcessed: number }
    | { __typename: 'RunStarted', id: string, tableName: string }
   };

export type TableEventsSubscriptionVariables = Exact<{
  filter?: RefreshEventFilter | null | undefined;
}>;


export type TableEventsSubscription = { refreshEvents:
    | { __typename: 'ConfigChanged', tableName: string }
    | { __typename: 'QualityMetricRecorded', tableName: string }
    | { __typename: 'RunBlocked', tableName: string }
    | { __typename: 'RunFinished', tableName: string, runId: string, status: RefreshStatus, outcome: RunOutcome, rowsProcessed: number }
    | { __typename: 'RunProgress', tableName: string, runId: string, rowsProcessed: number, totalRows: number | null, percent: number | null, rowsPerSecond: number, etaSeconds: number | null }
    | { __typename: 'RunStarted', tableName: string, runId: string, resumed: boolean }
   };

export type ForceForSubscribersMutationVariables = Exact<{
  input: ForceRefreshInput;
}>;


export type ForceForSubscribersMutation = { forceRefresh:
    | { __typename: 'BudgetExceededError' }
    | { __typename: 'ConflictError' }
    | { __typename: 'ForbiddenError' }
    | { __typename: 'ForceRefreshPayload', run: { id: string } | null }
    | { __typename: 'NotFoundError' }
    | { __typename: 'ValidationError' }
   };

export type ProgressSubscriptionVariables = Exact<{
  runId: string | number;
}>;


export type ProgressSubscription = { runProgress: { status: RefreshStatus, rowsProcessed: number, totalRows: number | null, percent: number | null, finished: boolean, run: { tableName: string } } };

export type TableStatesQueryVariables = Exact<{ [key: string]: never; }>;


export type TableStatesQuery = { tableHealth: Array<{ table: string, state: TableState, reasons: Array<string>, late: boolean, freshnessSlaHours: number, latestRun: { databaseId: number, status: RefreshStatus | null } | null }>, runnerStatus: { queueDepth: number }, refreshPlan: { items: Array<{ table: string, state: PlanState, notes: Array<string> }> } };

export type TextRegisterMutationVariables = Exact<{
  input: RegisterTableInput;
}>;


export type TextRegisterMutation = { registerTable:
    | { __typename: 'ConflictError' }
    | { __typename: 'ForbiddenError' }
    | { __typename: 'NotFoundError' }
    | { __typename: 'RegisterTablePayload' }
    | { __typename: 'ValidationError', field: string, issues: Array<{ path: string, message: string }> }
   };

export type ValidationRegisterMutationVariables = Exact<{
  input: RegisterTableInput;
}>;


export type ValidationRegisterMutation = { registerTable:
    | { __typename: 'ConflictError' }
    | { __typename: 'ForbiddenError' }
    | { __typename: 'NotFoundError' }
    | { __typename: 'RegisterTablePayload', config: { tableName: string, customSyncParams: unknown } }
    | { __typename: 'ValidationError', field: string, issues: Array<{ path: string, message: string }> }
   };

export type ValidationUpdateMutationVariables = Exact<{
  input: UpdateRefreshConfigInput;
}>;


export type ValidationUpdateMutation = { updateRefreshConfig:
    | { __typename: 'ForbiddenError' }
    | { __typename: 'NotFoundError' }
    | { __typename: 'UpdateRefreshConfigPayload', config: { customSyncParams: unknown } }
    | { __typename: 'ValidationError', field: string, issues: Array<{ path: string, message: string }> }
   };

export type ValidationScheduleMutationVariables = Exact<{
  input: ScheduleRefreshInput;
}>;


export type ValidationScheduleMutation = { scheduleRefresh:
    | { __typename: 'ConflictError', message: string, field: string }
    | { __typename: 'ForbiddenError', message: string }
    | { __typename: 'NotFoundError', message: string }
    | { __typename: 'ScheduleRefreshPayload', config: { nextRefreshAt: string | null } }
    | { __typename: 'ValidationError', message: string, field: string, issues: Array<{ path: string, message: string }> }
   };

export type ValidationForceMutationVariables = Exact<{
  input: ForceRefreshInput;
}>;


export type ValidationForceMutation = { forceRefresh:
    | { __typename: 'BudgetExceededError' }
    | { __typename: 'ConflictError', field: string }
    | { __typename: 'ForbiddenError' }
    | { __typename: 'ForceRefreshPayload' }
    | { __typename: 'NotFoundError' }
    | { __typename: 'ValidationError', field: string }
   };


export const AlertsCreateDestinationDocument = {"kind":"Document","definitions":[{"kind":"OperationDefinition","operation":"mutation","name":{"kind":"Name","value":"AlertsCreateDestination"},"variableDefinitions":[{"kind":"VariableDefinition","variable":{"kind":"Variable","name":{"kind":"Name","value":"input"}},"type":{"kind":"NonNullType","type":{"kind":"NamedType","name":{"kind":"Name","value":"CreateAlertDestinationInput"}}}}],"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"createAlertDestination"},"arguments":[{"kind":"Argument","name":{"kind":"Name","value":"input"},"value":{"kind":"Variable","name":{"kind":"Name","value":"input"}}}],"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"__typename"}},{"kind":"InlineFragment","typeCondition":{"kind":"NamedType","name":{"kind":"Name","value":"CreateAlertDestinationPayload"}},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"destination"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"id"}},{"kind":"Field","name":{"kind":"Name","value":"databaseId"}},{"kind":"Field","name":{"kind":"Name","value":"name"}},{"kind":"Field","name":{"kind":"Name","value":"url"}},{"kind":"Field","name":{"kind":"Name","value":"host"}},{"kind":"Field","name":{"kind":"Name","value":"format"}},{"kind":"Field","name":{"kind":"Name","value":"events"}},{"kind":"Field","name":{"kind":"Name","value":"secretSet"}},{"kind":"Field","name":{"kind":"Name","value":"enabled"}},{"kind":"Field","name":{"kind":"Name","value":"state"}}]}}]}},{"kind":"InlineFragment","typeCondition":{"kind":"NamedType","name":{"kind":"Name","value":"Error"}},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"message"}}]}},{"kind":"InlineFragment","typeCondition":{"kind":"NamedType","name":{"kind":"Name","value":"ValidationError"}},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"field"}},{"kind":"Field","name":{"kind":"Name","value":"issues"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"path"}},{"kind":"Field","name":{"kind":"Name","value":"message"}}]}}]}},{"kind":"InlineFragment","typeCondition":{"kind":"NamedType","name":{"kind":"Name","value":"ConflictError"}},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"field"}}]}}]}}]}}]} as unknown as DocumentNode<AlertsCreateDestinationMutation, AlertsCreateDestinationMutationVariables>;
export const AlertsUpdateDestinationDocument = {"kind":"Document","definitions":[{"kind":"OperationDefinition","operation":"mutation","name":{"kind":"Name","value":"AlertsUpdateDestination"},"variableDefinitions":[{"kind":"VariableDefinition","variable":{"kind":"Variable","name":{"kind":"Name","value":"input"}},"type":{"kind":"NonNullType","type":{"kind":"NamedType","name":{"kind":"Name","value":"UpdateAlertDestinationInput"}}}}],"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"updateAlertDestination"},"arguments":[{"kind":"Argument","name":{"kind":"Name","value":"input"},"value":{"kind":"Variable","name":{"kind":"Name","value":"input"}}}],"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"__typename"}},{"kind":"InlineFragment","typeCondition":{"kind":"NamedType","name":{"kind":"Name","value":"UpdateAlertDestinationPayload"}},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"destination"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"name"}},{"kind":"Field","name":{"kind":"Name","value":"url"}},{"kind":"Field","name":{"kind":"Name","value":"state"}},{"kind":"Field","name":{"kind":"Name","value":"enabled"}},{"kind":"Field","name":{"kind":"Name","value":"failingSince"}},{"kind":"Field","name":{"kind":"Name","value":"disabledReason"}},{"kind":"Field","name":{"kind":"Name","value":"events"}}]}}]}},{"kind":"InlineFragment","typeCondition":{"kind":"NamedType","name":{"kind":"Name","value":"Error"}},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"message"}}]}},{"kind":"InlineFragment","typeCondition":{"kind":"NamedType","name":{"kind":"Name","value":"ValidationError"}},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"field"}}]}},{"kind":"InlineFragment","typeCondition":{"kind":"NamedType","name":{"kind":"Name","value":"ConflictError"}},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"field"}}]}},{"kind":"InlineFragment","typeCondition":{"kind":"NamedType","name":{"kind":"Name","value":"NotFoundError"}},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"field"}}]}}]}}]}}]} as unknown as DocumentNode<AlertsUpdateDestinationMutation, AlertsUpdateDestinationMutationVariables>;
export const AlertsDeleteDestinationDocument = {"kind":"Document","definitions":[{"kind":"OperationDefinition","operation":"mutation","name":{"kind":"Name","value":"AlertsDeleteDestination"},"variableDefinitions":[{"kind":"VariableDefinition","variable":{"kind":"Variable","name":{"kind":"Name","value":"input"}},"type":{"kind":"NonNullType","type":{"kind":"NamedType","name":{"kind":"Name","value":"DeleteAlertDestinationInput"}}}}],"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"deleteAlertDestination"},"arguments":[{"kind":"Argument","name":{"kind":"Name","value":"input"},"value":{"kind":"Variable","name":{"kind":"Name","value":"input"}}}],"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"__typename"}},{"kind":"InlineFragment","typeCondition":{"kind":"NamedType","name":{"kind":"Name","value":"DeleteAlertDestinationPayload"}},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"deletedId"}},{"kind":"Field","name":{"kind":"Name","value":"name"}}]}},{"kind":"InlineFragment","typeCondition":{"kind":"NamedType","name":{"kind":"Name","value":"Error"}},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"message"}}]}}]}}]}}]} as unknown as DocumentNode<AlertsDeleteDestinationMutation, AlertsDeleteDestinationMutationVariables>;
export const AlertsDestinationsDocument = {"kind":"Document","definitions":[{"kind":"OperationDefinition","operation":"query","name":{"kind":"Name","value":"AlertsDestinations"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"alertDestinations"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"name"}},{"kind":"Field","name":{"kind":"Name","value":"url"}},{"kind":"Field","name":{"kind":"Name","value":"host"}},{"kind":"Field","name":{"kind":"Name","value":"format"}},{"kind":"Field","name":{"kind":"Name","value":"events"}},{"kind":"Field","name":{"kind":"Name","value":"secretSet"}},{"kind":"Field","name":{"kind":"Name","value":"enabled"}},{"kind":"Field","name":{"kind":"Name","value":"state"}},{"kind":"Field","name":{"kind":"Name","value":"failingSince"}},{"kind":"Field","name":{"kind":"Name","value":"lastError"}},{"kind":"Field","name":{"kind":"Name","value":"lastSuccessAt"}},{"kind":"Field","name":{"kind":"Name","value":"disabledAt"}},{"kind":"Field","name":{"kind":"Name","value":"disabledReason"}},{"kind":"Field","name":{"kind":"Name","value":"deliveries"},"arguments":[{"kind":"Argument","name":{"kind":"Name","value":"first"},"value":{"kind":"IntValue","value":"10"}}],"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"totalCount"}},{"kind":"Field","name":{"kind":"Name","value":"edges"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"node"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"status"}},{"kind":"Field","name":{"kind":"Name","value":"abandonReason"}},{"kind":"Field","name":{"kind":"Name","value":"attempts"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"outcome"}}]}}]}}]}}]}}]}}]}}]} as unknown as DocumentNode<AlertsDestinationsQuery, AlertsDestinationsQueryVariables>;
export const AlertsListDocument = {"kind":"Document","definitions":[{"kind":"OperationDefinition","operation":"query","name":{"kind":"Name","value":"AlertsList"},"variableDefinitions":[{"kind":"VariableDefinition","variable":{"kind":"Variable","name":{"kind":"Name","value":"filter"}},"type":{"kind":"NamedType","name":{"kind":"Name","value":"AlertFilter"}}}],"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"alerts"},"arguments":[{"kind":"Argument","name":{"kind":"Name","value":"first"},"value":{"kind":"IntValue","value":"20"}},{"kind":"Argument","name":{"kind":"Name","value":"filter"},"value":{"kind":"Variable","name":{"kind":"Name","value":"filter"}}}],"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"totalCount"}},{"kind":"Field","name":{"kind":"Name","value":"edges"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"node"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"eventId"}},{"kind":"Field","name":{"kind":"Name","value":"kind"}},{"kind":"Field","name":{"kind":"Name","value":"tableSchema"}},{"kind":"Field","name":{"kind":"Name","value":"tableName"}},{"kind":"Field","name":{"kind":"Name","value":"reason"}},{"kind":"Field","name":{"kind":"Name","value":"occurredAt"}},{"kind":"Field","name":{"kind":"Name","value":"config"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"tableName"}}]}},{"kind":"Field","name":{"kind":"Name","value":"run"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"databaseId"}}]}},{"kind":"Field","name":{"kind":"Name","value":"deliveries"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"status"}},{"kind":"Field","name":{"kind":"Name","value":"deliveredAt"}},{"kind":"Field","name":{"kind":"Name","value":"nextAttemptAt"}},{"kind":"Field","name":{"kind":"Name","value":"abandonReason"}},{"kind":"Field","name":{"kind":"Name","value":"destination"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"name"}},{"kind":"Field","name":{"kind":"Name","value":"state"}}]}},{"kind":"Field","name":{"kind":"Name","value":"attempts"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"attempt"}},{"kind":"Field","name":{"kind":"Name","value":"workerName"}},{"kind":"Field","name":{"kind":"Name","value":"startedAt"}},{"kind":"Field","name":{"kind":"Name","value":"finishedAt"}},{"kind":"Field","name":{"kind":"Name","value":"outcome"}},{"kind":"Field","name":{"kind":"Name","value":"httpStatus"}},{"kind":"Field","name":{"kind":"Name","value":"error"}},{"kind":"Field","name":{"kind":"Name","value":"durationMs"}},{"kind":"Field","name":{"kind":"Name","value":"responseExcerpt"}}]}}]}}]}}]}}]}}]}}]} as unknown as DocumentNode<AlertsListQuery, AlertsListQueryVariables>;
export const ChaosEventsDocument = {"kind":"Document","definitions":[{"kind":"OperationDefinition","operation":"subscription","name":{"kind":"Name","value":"ChaosEvents"},"variableDefinitions":[{"kind":"VariableDefinition","variable":{"kind":"Variable","name":{"kind":"Name","value":"filter"}},"type":{"kind":"NamedType","name":{"kind":"Name","value":"RefreshEventFilter"}}}],"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"refreshEvents"},"arguments":[{"kind":"Argument","name":{"kind":"Name","value":"filter"},"value":{"kind":"Variable","name":{"kind":"Name","value":"filter"}}}],"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"__typename"}}]}}]}}]} as unknown as DocumentNode<ChaosEventsSubscription, ChaosEventsSubscriptionVariables>;
export const ChaosForceDocument = {"kind":"Document","definitions":[{"kind":"OperationDefinition","operation":"mutation","name":{"kind":"Name","value":"ChaosForce"},"variableDefinitions":[{"kind":"VariableDefinition","variable":{"kind":"Variable","name":{"kind":"Name","value":"input"}},"type":{"kind":"NonNullType","type":{"kind":"NamedType","name":{"kind":"Name","value":"ForceRefreshInput"}}}}],"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"forceRefresh"},"arguments":[{"kind":"Argument","name":{"kind":"Name","value":"input"},"value":{"kind":"Variable","name":{"kind":"Name","value":"input"}}}],"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"__typename"}}]}}]}}]} as unknown as DocumentNode<ChaosForceMutation, ChaosForceMutationVariables>;
export const DashboardEventsDocument = {"kind":"Document","definitions":[{"kind":"OperationDefinition","operation":"subscription","name":{"kind":"Name","value":"DashboardEvents"},"variableDefinitions":[{"kind":"VariableDefinition","variable":{"kind":"Variable","name":{"kind":"Name","value":"filter"}},"type":{"kind":"NamedType","name":{"kind":"Name","value":"RefreshEventFilter"}}},{"kind":"VariableDefinition","variable":{"kind":"Variable","name":{"kind":"Name","value":"after"}},"type":{"kind":"NamedType","name":{"kind":"Name","value":"ID"}}}],"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"refreshEvents"},"arguments":[{"kind":"Argument","name":{"kind":"Name","value":"filter"},"value":{"kind":"Variable","name":{"kind":"Name","value":"filter"}}},{"kind":"Argument","name":{"kind":"Name","value":"after"},"value":{"kind":"Variable","name":{"kind":"Name","value":"after"}}}],"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"__typename"}},{"kind":"InlineFragment","typeCondition":{"kind":"NamedType","name":{"kind":"Name","value":"RefreshEvent"}},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"id"}},{"kind":"Field","name":{"kind":"Name","value":"tableName"}}]}}]}}]}}]} as unknown as DocumentNode<DashboardEventsSubscription, DashboardEventsSubscriptionVariables>;
export const DashboardForceDocument = {"kind":"Document","definitions":[{"kind":"OperationDefinition","operation":"mutation","name":{"kind":"Name","value":"DashboardForce"},"variableDefinitions":[{"kind":"VariableDefinition","variable":{"kind":"Variable","name":{"kind":"Name","value":"input"}},"type":{"kind":"NonNullType","type":{"kind":"NamedType","name":{"kind":"Name","value":"ForceRefreshInput"}}}}],"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"forceRefresh"},"arguments":[{"kind":"Argument","name":{"kind":"Name","value":"input"},"value":{"kind":"Variable","name":{"kind":"Name","value":"input"}}}],"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"__typename"}}]}}]}}]} as unknown as DocumentNode<DashboardForceMutation, DashboardForceMutationVariables>;
export const DashboardProgressDocument = {"kind":"Document","definitions":[{"kind":"OperationDefinition","operation":"subscription","name":{"kind":"Name","value":"DashboardProgress"},"variableDefinitions":[{"kind":"VariableDefinition","variable":{"kind":"Variable","name":{"kind":"Name","value":"runId"}},"type":{"kind":"NonNullType","type":{"kind":"NamedType","name":{"kind":"Name","value":"ID"}}}},{"kind":"VariableDefinition","variable":{"kind":"Variable","name":{"kind":"Name","value":"after"}},"type":{"kind":"NamedType","name":{"kind":"Name","value":"ID"}}}],"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"runProgress"},"arguments":[{"kind":"Argument","name":{"kind":"Name","value":"runId"},"value":{"kind":"Variable","name":{"kind":"Name","value":"runId"}}},{"kind":"Argument","name":{"kind":"Name","value":"after"},"value":{"kind":"Variable","name":{"kind":"Name","value":"after"}}}],"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"eventId"}},{"kind":"Field","name":{"kind":"Name","value":"rowsProcessed"}},{"kind":"Field","name":{"kind":"Name","value":"finished"}},{"kind":"Field","name":{"kind":"Name","value":"status"}}]}}]}}]} as unknown as DocumentNode<DashboardProgressSubscription, DashboardProgressSubscriptionVariables>;
export const DueTablesDocument = {"kind":"Document","definitions":[{"kind":"OperationDefinition","operation":"query","name":{"kind":"Name","value":"DueTables"},"variableDefinitions":[{"kind":"VariableDefinition","variable":{"kind":"Variable","name":{"kind":"Name","value":"due"}},"type":{"kind":"NonNullType","type":{"kind":"NamedType","name":{"kind":"Name","value":"Boolean"}}}}],"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"refreshConfigs"},"arguments":[{"kind":"Argument","name":{"kind":"Name","value":"first"},"value":{"kind":"IntValue","value":"100"}},{"kind":"Argument","name":{"kind":"Name","value":"filter"},"value":{"kind":"ObjectValue","fields":[{"kind":"ObjectField","name":{"kind":"Name","value":"due"},"value":{"kind":"Variable","name":{"kind":"Name","value":"due"}}},{"kind":"ObjectField","name":{"kind":"Name","value":"search"},"value":{"kind":"StringValue","value":"due_case_","block":false}}]}}],"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"edges"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"node"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"tableName"}}]}}]}}]}}]}}]} as unknown as DocumentNode<DueTablesQuery, DueTablesQueryVariables>;
export const BudgetEventsDocument = {"kind":"Document","definitions":[{"kind":"OperationDefinition","operation":"subscription","name":{"kind":"Name","value":"BudgetEvents"},"variableDefinitions":[{"kind":"VariableDefinition","variable":{"kind":"Variable","name":{"kind":"Name","value":"filter"}},"type":{"kind":"NamedType","name":{"kind":"Name","value":"RefreshEventFilter"}}}],"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"refreshEvents"},"arguments":[{"kind":"Argument","name":{"kind":"Name","value":"filter"},"value":{"kind":"Variable","name":{"kind":"Name","value":"filter"}}}],"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"__typename"}},{"kind":"InlineFragment","typeCondition":{"kind":"NamedType","name":{"kind":"Name","value":"RefreshEvent"}},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"id"}},{"kind":"Field","name":{"kind":"Name","value":"tableName"}}]}},{"kind":"InlineFragment","typeCondition":{"kind":"NamedType","name":{"kind":"Name","value":"RunProgress"}},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"rowsProcessed"}}]}},{"kind":"InlineFragment","typeCondition":{"kind":"NamedType","name":{"kind":"Name","value":"QualityMetricRecorded"}},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"metricName"}}]}}]}}]}}]} as unknown as DocumentNode<BudgetEventsSubscription, BudgetEventsSubscriptionVariables>;
export const StormEventsDocument = {"kind":"Document","definitions":[{"kind":"OperationDefinition","operation":"subscription","name":{"kind":"Name","value":"StormEvents"},"variableDefinitions":[{"kind":"VariableDefinition","variable":{"kind":"Variable","name":{"kind":"Name","value":"after"}},"type":{"kind":"NamedType","name":{"kind":"Name","value":"ID"}}}],"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"refreshEvents"},"arguments":[{"kind":"Argument","name":{"kind":"Name","value":"after"},"value":{"kind":"Variable","name":{"kind":"Name","value":"after"}}}],"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"__typename"}},{"kind":"InlineFragment","typeCondition":{"kind":"NamedType","name":{"kind":"Name","value":"RefreshEvent"}},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"id"}}]}},{"kind":"InlineFragment","typeCondition":{"kind":"NamedType","name":{"kind":"Name","value":"RunStarted"}},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"runId"}}]}},{"kind":"InlineFragment","typeCondition":{"kind":"NamedType","name":{"kind":"Name","value":"RunProgress"}},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"runId"}}]}},{"kind":"InlineFragment","typeCondition":{"kind":"NamedType","name":{"kind":"Name","value":"QualityMetricRecorded"}},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"runId"}}]}},{"kind":"InlineFragment","typeCondition":{"kind":"NamedType","name":{"kind":"Name","value":"RunFinished"}},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"runId"}}]}}]}}]}}]} as unknown as DocumentNode<StormEventsSubscription, StormEventsSubscriptionVariables>;
export const AuthEventsDocument = {"kind":"Document","definitions":[{"kind":"OperationDefinition","operation":"subscription","name":{"kind":"Name","value":"AuthEvents"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"refreshEvents"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"__typename"}}]}}]}}]} as unknown as DocumentNode<AuthEventsSubscription, AuthEventsSubscriptionVariables>;
export const StartBackfillDocument = {"kind":"Document","definitions":[{"kind":"OperationDefinition","operation":"mutation","name":{"kind":"Name","value":"StartBackfill"},"variableDefinitions":[{"kind":"VariableDefinition","variable":{"kind":"Variable","name":{"kind":"Name","value":"input"}},"type":{"kind":"NonNullType","type":{"kind":"NamedType","name":{"kind":"Name","value":"StartBackfillInput"}}}}],"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"startBackfill"},"arguments":[{"kind":"Argument","name":{"kind":"Name","value":"input"},"value":{"kind":"Variable","name":{"kind":"Name","value":"input"}}}],"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"__typename"}},{"kind":"InlineFragment","typeCondition":{"kind":"NamedType","name":{"kind":"Name","value":"StartBackfillPayload"}},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"dryRun"}},{"kind":"Field","name":{"kind":"Name","value":"estimatedBytes"}},{"kind":"Field","name":{"kind":"Name","value":"remainingBudgetBytes"}},{"kind":"Field","name":{"kind":"Name","value":"chunks"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"position"}},{"kind":"Field","name":{"kind":"Name","value":"tableName"}},{"kind":"Field","name":{"kind":"Name","value":"from"}},{"kind":"Field","name":{"kind":"Name","value":"to"}},{"kind":"Field","name":{"kind":"Name","value":"estimatedBytes"}}]}},{"kind":"Field","name":{"kind":"Name","value":"backfill"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"id"}},{"kind":"Field","name":{"kind":"Name","value":"status"}},{"kind":"Field","name":{"kind":"Name","value":"chunksTotal"}}]}}]}},{"kind":"InlineFragment","typeCondition":{"kind":"NamedType","name":{"kind":"Name","value":"Error"}},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"message"}}]}},{"kind":"InlineFragment","typeCondition":{"kind":"NamedType","name":{"kind":"Name","value":"ValidationError"}},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"field"}}]}},{"kind":"InlineFragment","typeCondition":{"kind":"NamedType","name":{"kind":"Name","value":"ConflictError"}},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"field"}}]}}]}}]}}]} as unknown as DocumentNode<StartBackfillMutation, StartBackfillMutationVariables>;
export const BackfillProgressDocument = {"kind":"Document","definitions":[{"kind":"OperationDefinition","operation":"subscription","name":{"kind":"Name","value":"BackfillProgress"},"variableDefinitions":[{"kind":"VariableDefinition","variable":{"kind":"Variable","name":{"kind":"Name","value":"id"}},"type":{"kind":"NonNullType","type":{"kind":"NamedType","name":{"kind":"Name","value":"ID"}}}}],"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"backfillProgress"},"arguments":[{"kind":"Argument","name":{"kind":"Name","value":"id"},"value":{"kind":"Variable","name":{"kind":"Name","value":"id"}}}],"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"id"}},{"kind":"Field","name":{"kind":"Name","value":"status"}},{"kind":"Field","name":{"kind":"Name","value":"chunksDone"}},{"kind":"Field","name":{"kind":"Name","value":"chunksTotal"}},{"kind":"Field","name":{"kind":"Name","value":"percent"}}]}}]}}]} as unknown as DocumentNode<BackfillProgressSubscription, BackfillProgressSubscriptionVariables>;
export const ReadBackfillDocument = {"kind":"Document","definitions":[{"kind":"OperationDefinition","operation":"query","name":{"kind":"Name","value":"ReadBackfill"},"variableDefinitions":[{"kind":"VariableDefinition","variable":{"kind":"Variable","name":{"kind":"Name","value":"ids"}},"type":{"kind":"NonNullType","type":{"kind":"ListType","type":{"kind":"NonNullType","type":{"kind":"NamedType","name":{"kind":"Name","value":"ID"}}}}}}],"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"nodes"},"arguments":[{"kind":"Argument","name":{"kind":"Name","value":"ids"},"value":{"kind":"Variable","name":{"kind":"Name","value":"ids"}}}],"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"InlineFragment","typeCondition":{"kind":"NamedType","name":{"kind":"Name","value":"Backfill"}},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"id"}},{"kind":"Field","name":{"kind":"Name","value":"status"}},{"kind":"Field","name":{"kind":"Name","value":"from"}},{"kind":"Field","name":{"kind":"Name","value":"to"}},{"kind":"Field","name":{"kind":"Name","value":"chunksDone"}},{"kind":"Field","name":{"kind":"Name","value":"chunksTotal"}},{"kind":"Field","name":{"kind":"Name","value":"rowsProcessed"}},{"kind":"Field","name":{"kind":"Name","value":"bytesBilled"}},{"kind":"Field","name":{"kind":"Name","value":"errors"}},{"kind":"Field","name":{"kind":"Name","value":"chunks"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"position"}},{"kind":"Field","name":{"kind":"Name","value":"state"}},{"kind":"Field","name":{"kind":"Name","value":"from"}},{"kind":"Field","name":{"kind":"Name","value":"to"}},{"kind":"Field","name":{"kind":"Name","value":"runs"}},{"kind":"Field","name":{"kind":"Name","value":"bytesBilled"}},{"kind":"Field","name":{"kind":"Name","value":"run"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"id"}},{"kind":"Field","name":{"kind":"Name","value":"status"}}]}}]}}]}}]}}]}}]} as unknown as DocumentNode<ReadBackfillQuery, ReadBackfillQueryVariables>;
export const ViewerDocument = {"kind":"Document","definitions":[{"kind":"OperationDefinition","operation":"query","name":{"kind":"Name","value":"Viewer"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"viewer"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"name"}},{"kind":"Field","name":{"kind":"Name","value":"scopes"}},{"kind":"Field","name":{"kind":"Name","value":"tokenRefused"}}]}}]}}]} as unknown as DocumentNode<ViewerQuery, ViewerQueryVariables>;
export const CountsDocument = {"kind":"Document","definitions":[{"kind":"OperationDefinition","operation":"query","name":{"kind":"Name","value":"Counts"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","alias":{"kind":"Name","value":"all"},"name":{"kind":"Name","value":"refreshConfigs"},"arguments":[{"kind":"Argument","name":{"kind":"Name","value":"first"},"value":{"kind":"IntValue","value":"1"}}],"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"totalCount"}},{"kind":"Field","name":{"kind":"Name","value":"edges"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"node"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"tableName"}}]}}]}}]}},{"kind":"Field","alias":{"kind":"Name","value":"disabled"},"name":{"kind":"Name","value":"refreshConfigs"},"arguments":[{"kind":"Argument","name":{"kind":"Name","value":"first"},"value":{"kind":"IntValue","value":"1"}},{"kind":"Argument","name":{"kind":"Name","value":"filter"},"value":{"kind":"ObjectValue","fields":[{"kind":"ObjectField","name":{"kind":"Name","value":"isEnabled"},"value":{"kind":"BooleanValue","value":false}}]}}],"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"totalCount"}}]}},{"kind":"Field","alias":{"kind":"Name","value":"failedRuns"},"name":{"kind":"Name","value":"refreshRuns"},"arguments":[{"kind":"Argument","name":{"kind":"Name","value":"first"},"value":{"kind":"IntValue","value":"1"}},{"kind":"Argument","name":{"kind":"Name","value":"filter"},"value":{"kind":"ObjectValue","fields":[{"kind":"ObjectField","name":{"kind":"Name","value":"status"},"value":{"kind":"EnumValue","value":"FAILED"}}]}}],"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"totalCount"}}]}},{"kind":"Field","name":{"kind":"Name","value":"refreshConfig"},"arguments":[{"kind":"Argument","name":{"kind":"Name","value":"tableSchema"},"value":{"kind":"StringValue","value":"sqp","block":false}},{"kind":"Argument","name":{"kind":"Name","value":"tableName"},"value":{"kind":"StringValue","value":"weekly_summary","block":false}}],"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"runs"},"arguments":[{"kind":"Argument","name":{"kind":"Name","value":"first"},"value":{"kind":"IntValue","value":"2"}}],"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"totalCount"}},{"kind":"Field","name":{"kind":"Name","value":"edges"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"node"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"id"}}]}}]}}]}}]}},{"kind":"Field","name":{"kind":"Name","value":"refreshCheckpoints"},"arguments":[{"kind":"Argument","name":{"kind":"Name","value":"first"},"value":{"kind":"IntValue","value":"1"}}],"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"totalCount"}}]}},{"kind":"Field","name":{"kind":"Name","value":"qualityMetrics"},"arguments":[{"kind":"Argument","name":{"kind":"Name","value":"first"},"value":{"kind":"IntValue","value":"1"}}],"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"totalCount"}}]}}]}}]} as unknown as DocumentNode<CountsQuery, CountsQueryVariables>;
export const OutcomesDocument = {"kind":"Document","definitions":[{"kind":"OperationDefinition","operation":"query","name":{"kind":"Name","value":"Outcomes"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"refreshRuns"},"arguments":[{"kind":"Argument","name":{"kind":"Name","value":"first"},"value":{"kind":"IntValue","value":"10"}},{"kind":"Argument","name":{"kind":"Name","value":"filter"},"value":{"kind":"ObjectValue","fields":[{"kind":"ObjectField","name":{"kind":"Name","value":"tableName"},"value":{"kind":"StringValue","value":"weekly_summary","block":false}}]}}],"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"edges"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"node"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"status"}},{"kind":"Field","name":{"kind":"Name","value":"outcome"}}]}}]}}]}}]}}]} as unknown as DocumentNode<OutcomesQuery, OutcomesQueryVariables>;
export const RunProgressOutcomeDocument = {"kind":"Document","definitions":[{"kind":"OperationDefinition","operation":"subscription","name":{"kind":"Name","value":"RunProgressOutcome"},"variableDefinitions":[{"kind":"VariableDefinition","variable":{"kind":"Variable","name":{"kind":"Name","value":"runId"}},"type":{"kind":"NonNullType","type":{"kind":"NamedType","name":{"kind":"Name","value":"ID"}}}}],"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"runProgress"},"arguments":[{"kind":"Argument","name":{"kind":"Name","value":"runId"},"value":{"kind":"Variable","name":{"kind":"Name","value":"runId"}}}],"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"status"}},{"kind":"Field","name":{"kind":"Name","value":"outcome"}},{"kind":"Field","name":{"kind":"Name","value":"rowsProcessed"}},{"kind":"Field","name":{"kind":"Name","value":"totalRows"}},{"kind":"Field","name":{"kind":"Name","value":"percent"}},{"kind":"Field","name":{"kind":"Name","value":"finished"}}]}}]}}]} as unknown as DocumentNode<RunProgressOutcomeSubscription, RunProgressOutcomeSubscriptionVariables>;
export const RunStatisticsDocument = {"kind":"Document","definitions":[{"kind":"OperationDefinition","operation":"query","name":{"kind":"Name","value":"RunStatistics"},"variableDefinitions":[{"kind":"VariableDefinition","variable":{"kind":"Variable","name":{"kind":"Name","value":"since"}},"type":{"kind":"NonNullType","type":{"kind":"NamedType","name":{"kind":"Name","value":"DateTime"}}}},{"kind":"VariableDefinition","variable":{"kind":"Variable","name":{"kind":"Name","value":"bucket"}},"type":{"kind":"NamedType","name":{"kind":"Name","value":"StatisticsBucket"}}},{"kind":"VariableDefinition","variable":{"kind":"Variable","name":{"kind":"Name","value":"tableName"}},"type":{"kind":"NamedType","name":{"kind":"Name","value":"String"}}}],"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"refreshRunStatistics"},"arguments":[{"kind":"Argument","name":{"kind":"Name","value":"since"},"value":{"kind":"Variable","name":{"kind":"Name","value":"since"}}},{"kind":"Argument","name":{"kind":"Name","value":"bucket"},"value":{"kind":"Variable","name":{"kind":"Name","value":"bucket"}}},{"kind":"Argument","name":{"kind":"Name","value":"tableName"},"value":{"kind":"Variable","name":{"kind":"Name","value":"tableName"}}}],"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"tableName"}},{"kind":"Field","name":{"kind":"Name","value":"periodStart"}},{"kind":"Field","name":{"kind":"Name","value":"periodEnd"}},{"kind":"Field","name":{"kind":"Name","value":"runs"}},{"kind":"Field","name":{"kind":"Name","value":"completed"}},{"kind":"Field","name":{"kind":"Name","value":"failed"}},{"kind":"Field","name":{"kind":"Name","value":"cancelled"}},{"kind":"Field","name":{"kind":"Name","value":"paused"}},{"kind":"Field","name":{"kind":"Name","value":"successRate"}},{"kind":"Field","name":{"kind":"Name","value":"p50DurationMs"}},{"kind":"Field","name":{"kind":"Name","value":"p95DurationMs"}},{"kind":"Field","name":{"kind":"Name","value":"rowsProcessed"}},{"kind":"Field","name":{"kind":"Name","value":"bytesBilled"}}]}}]}}]} as unknown as DocumentNode<RunStatisticsQuery, RunStatisticsQueryVariables>;
export const ForceDocument = {"kind":"Document","definitions":[{"kind":"OperationDefinition","operation":"mutation","name":{"kind":"Name","value":"Force"},"variableDefinitions":[{"kind":"VariableDefinition","variable":{"kind":"Variable","name":{"kind":"Name","value":"input"}},"type":{"kind":"NonNullType","type":{"kind":"NamedType","name":{"kind":"Name","value":"ForceRefreshInput"}}}}],"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"forceRefresh"},"arguments":[{"kind":"Argument","name":{"kind":"Name","value":"input"},"value":{"kind":"Variable","name":{"kind":"Name","value":"input"}}}],"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"__typename"}},{"kind":"InlineFragment","typeCondition":{"kind":"NamedType","name":{"kind":"Name","value":"Error"}},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"message"}}]}},{"kind":"InlineFragment","typeCondition":{"kind":"NamedType","name":{"kind":"Name","value":"NotFoundError"}},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"field"}},{"kind":"Field","name":{"kind":"Name","value":"value"}}]}},{"kind":"InlineFragment","typeCondition":{"kind":"NamedType","name":{"kind":"Name","value":"ValidationError"}},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"field"}},{"kind":"Field","name":{"kind":"Name","value":"issues"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"path"}},{"kind":"Field","name":{"kind":"Name","value":"message"}}]}}]}},{"kind":"InlineFragment","typeCondition":{"kind":"NamedType","name":{"kind":"Name","value":"ConflictError"}},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"field"}}]}},{"kind":"InlineFragment","typeCondition":{"kind":"NamedType","name":{"kind":"Name","value":"BudgetExceededError"}},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"neededBytes"}},{"kind":"Field","name":{"kind":"Name","value":"remainingBytes"}}]}},{"kind":"InlineFragment","typeCondition":{"kind":"NamedType","name":{"kind":"Name","value":"ForceRefreshPayload"}},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"dryRun"}},{"kind":"Field","name":{"kind":"Name","value":"queued"}},{"kind":"Field","name":{"kind":"Name","value":"estimatedBytes"}},{"kind":"Field","name":{"kind":"Name","value":"remainingBudgetBytes"}},{"kind":"Field","name":{"kind":"Name","value":"run"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"id"}},{"kind":"Field","name":{"kind":"Name","value":"databaseId"}},{"kind":"Field","name":{"kind":"Name","value":"status"}},{"kind":"Field","name":{"kind":"Name","value":"tableName"}}]}},{"kind":"Field","name":{"kind":"Name","value":"plan"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"position"}},{"kind":"Field","name":{"kind":"Name","value":"table"}},{"kind":"Field","name":{"kind":"Name","value":"reason"}},{"kind":"Field","name":{"kind":"Name","value":"state"}}]}}]}}]}}]}}]} as unknown as DocumentNode<ForceMutation, ForceMutationVariables>;
export const RunStatusDocument = {"kind":"Document","definitions":[{"kind":"OperationDefinition","operation":"query","name":{"kind":"Name","value":"RunStatus"},"variableDefinitions":[{"kind":"VariableDefinition","variable":{"kind":"Variable","name":{"kind":"Name","value":"id"}},"type":{"kind":"NonNullType","type":{"kind":"NamedType","name":{"kind":"Name","value":"ID"}}}}],"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"node"},"arguments":[{"kind":"Argument","name":{"kind":"Name","value":"id"},"value":{"kind":"Variable","name":{"kind":"Name","value":"id"}}}],"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"InlineFragment","typeCondition":{"kind":"NamedType","name":{"kind":"Name","value":"RefreshRun"}},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"status"}},{"kind":"Field","name":{"kind":"Name","value":"rowsProcessed"}},{"kind":"Field","name":{"kind":"Name","value":"errorMessage"}},{"kind":"Field","name":{"kind":"Name","value":"errorDetails"}},{"kind":"Field","name":{"kind":"Name","value":"syncMetadata"}}]}}]}}]}}]} as unknown as DocumentNode<RunStatusQuery, RunStatusQueryVariables>;
export const CancelDocument = {"kind":"Document","definitions":[{"kind":"OperationDefinition","operation":"mutation","name":{"kind":"Name","value":"Cancel"},"variableDefinitions":[{"kind":"VariableDefinition","variable":{"kind":"Variable","name":{"kind":"Name","value":"input"}},"type":{"kind":"NonNullType","type":{"kind":"NamedType","name":{"kind":"Name","value":"CancelRefreshInput"}}}}],"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"cancelRefresh"},"arguments":[{"kind":"Argument","name":{"kind":"Name","value":"input"},"value":{"kind":"Variable","name":{"kind":"Name","value":"input"}}}],"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"__typename"}},{"kind":"InlineFragment","typeCondition":{"kind":"NamedType","name":{"kind":"Name","value":"Error"}},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"message"}}]}},{"kind":"InlineFragment","typeCondition":{"kind":"NamedType","name":{"kind":"Name","value":"NotFoundError"}},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"field"}}]}},{"kind":"InlineFragment","typeCondition":{"kind":"NamedType","name":{"kind":"Name","value":"ConflictError"}},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"field"}}]}},{"kind":"InlineFragment","typeCondition":{"kind":"NamedType","name":{"kind":"Name","value":"ValidationError"}},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"field"}}]}},{"kind":"InlineFragment","typeCondition":{"kind":"NamedType","name":{"kind":"Name","value":"CancelRefreshPayload"}},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"finished"}},{"kind":"Field","name":{"kind":"Name","value":"run"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"status"}},{"kind":"Field","name":{"kind":"Name","value":"errorMessage"}},{"kind":"Field","name":{"kind":"Name","value":"rowsProcessed"}}]}}]}}]}}]}}]} as unknown as DocumentNode<CancelMutation, CancelMutationVariables>;
export const ScheduleDocument = {"kind":"Document","definitions":[{"kind":"OperationDefinition","operation":"mutation","name":{"kind":"Name","value":"Schedule"},"variableDefinitions":[{"kind":"VariableDefinition","variable":{"kind":"Variable","name":{"kind":"Name","value":"input"}},"type":{"kind":"NonNullType","type":{"kind":"NamedType","name":{"kind":"Name","value":"ScheduleRefreshInput"}}}}],"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"scheduleRefresh"},"arguments":[{"kind":"Argument","name":{"kind":"Name","value":"input"},"value":{"kind":"Variable","name":{"kind":"Name","value":"input"}}}],"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"__typename"}},{"kind":"InlineFragment","typeCondition":{"kind":"NamedType","name":{"kind":"Name","value":"Error"}},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"message"}}]}},{"kind":"InlineFragment","typeCondition":{"kind":"NamedType","name":{"kind":"Name","value":"ScheduleRefreshPayload"}},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"config"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"tableName"}},{"kind":"Field","name":{"kind":"Name","value":"nextRefreshAt"}}]}}]}}]}}]}}]} as unknown as DocumentNode<ScheduleMutation, ScheduleMutationVariables>;
export const UpdateDocument = {"kind":"Document","definitions":[{"kind":"OperationDefinition","operation":"mutation","name":{"kind":"Name","value":"Update"},"variableDefinitions":[{"kind":"VariableDefinition","variable":{"kind":"Variable","name":{"kind":"Name","value":"input"}},"type":{"kind":"NonNullType","type":{"kind":"NamedType","name":{"kind":"Name","value":"UpdateRefreshConfigInput"}}}}],"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"updateRefreshConfig"},"arguments":[{"kind":"Argument","name":{"kind":"Name","value":"input"},"value":{"kind":"Variable","name":{"kind":"Name","value":"input"}}}],"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"__typename"}},{"kind":"InlineFragment","typeCondition":{"kind":"NamedType","name":{"kind":"Name","value":"ValidationError"}},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"field"}},{"kind":"Field","name":{"kind":"Name","value":"issues"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"path"}},{"kind":"Field","name":{"kind":"Name","value":"message"}}]}}]}},{"kind":"InlineFragment","typeCondition":{"kind":"NamedType","name":{"kind":"Name","value":"NotFoundError"}},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"field"}}]}},{"kind":"InlineFragment","typeCondition":{"kind":"NamedType","name":{"kind":"Name","value":"UpdateRefreshConfigPayload"}},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"config"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"priority"}},{"kind":"Field","name":{"kind":"Name","value":"refreshFrequencyHours"}},{"kind":"Field","name":{"kind":"Name","value":"isEnabled"}},{"kind":"Field","name":{"kind":"Name","value":"customSyncParams"}}]}}]}}]}}]}}]} as unknown as DocumentNode<UpdateMutation, UpdateMutationVariables>;
export const RegisterDocument = {"kind":"Document","definitions":[{"kind":"OperationDefinition","operation":"mutation","name":{"kind":"Name","value":"Register"},"variableDefinitions":[{"kind":"VariableDefinition","variable":{"kind":"Variable","name":{"kind":"Name","value":"input"}},"type":{"kind":"NonNullType","type":{"kind":"NamedType","name":{"kind":"Name","value":"RegisterTableInput"}}}}],"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"registerTable"},"arguments":[{"kind":"Argument","name":{"kind":"Name","value":"input"},"value":{"kind":"Variable","name":{"kind":"Name","value":"input"}}}],"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"__typename"}},{"kind":"InlineFragment","typeCondition":{"kind":"NamedType","name":{"kind":"Name","value":"Error"}},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"message"}}]}},{"kind":"InlineFragment","typeCondition":{"kind":"NamedType","name":{"kind":"Name","value":"NotFoundError"}},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"field"}}]}},{"kind":"InlineFragment","typeCondition":{"kind":"NamedType","name":{"kind":"Name","value":"ConflictError"}},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"field"}}]}},{"kind":"InlineFragment","typeCondition":{"kind":"NamedType","name":{"kind":"Name","value":"RegisterTablePayload"}},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"config"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"id"}},{"kind":"Field","name":{"kind":"Name","value":"tableName"}},{"kind":"Field","name":{"kind":"Name","value":"priority"}}]}}]}}]}}]}}]} as unknown as DocumentNode<RegisterMutation, RegisterMutationVariables>;
export const AddDepDocument = {"kind":"Document","definitions":[{"kind":"OperationDefinition","operation":"mutation","name":{"kind":"Name","value":"AddDep"},"variableDefinitions":[{"kind":"VariableDefinition","variable":{"kind":"Variable","name":{"kind":"Name","value":"input"}},"type":{"kind":"NonNullType","type":{"kind":"NamedType","name":{"kind":"Name","value":"AddRefreshDependencyInput"}}}}],"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"addRefreshDependency"},"arguments":[{"kind":"Argument","name":{"kind":"Name","value":"input"},"value":{"kind":"Variable","name":{"kind":"Name","value":"input"}}}],"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"__typename"}},{"kind":"InlineFragment","typeCondition":{"kind":"NamedType","name":{"kind":"Name","value":"Error"}},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"message"}}]}},{"kind":"InlineFragment","typeCondition":{"kind":"NamedType","name":{"kind":"Name","value":"CycleError"}},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"cycle"}}]}},{"kind":"InlineFragment","typeCondition":{"kind":"NamedType","name":{"kind":"Name","value":"NotFoundError"}},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"field"}}]}},{"kind":"InlineFragment","typeCondition":{"kind":"NamedType","name":{"kind":"Name","value":"AddRefreshDependencyPayload"}},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"dependency"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"id"}},{"kind":"Field","name":{"kind":"Name","value":"dependencyType"}},{"kind":"Field","name":{"kind":"Name","value":"parent"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"tableName"}}]}},{"kind":"Field","name":{"kind":"Name","value":"dependent"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"tableName"}},{"kind":"Field","name":{"kind":"Name","value":"dependencies"}}]}}]}}]}}]}}]}}]} as unknown as DocumentNode<AddDepMutation, AddDepMutationVariables>;
export const RemoveDepDocument = {"kind":"Document","definitions":[{"kind":"OperationDefinition","operation":"mutation","name":{"kind":"Name","value":"RemoveDep"},"variableDefinitions":[{"kind":"VariableDefinition","variable":{"kind":"Variable","name":{"kind":"Name","value":"input"}},"type":{"kind":"NonNullType","type":{"kind":"NamedType","name":{"kind":"Name","value":"RemoveRefreshDependencyInput"}}}}],"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"removeRefreshDependency"},"arguments":[{"kind":"Argument","name":{"kind":"Name","value":"input"},"value":{"kind":"Variable","name":{"kind":"Name","value":"input"}}}],"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"__typename"}},{"kind":"InlineFragment","typeCondition":{"kind":"NamedType","name":{"kind":"Name","value":"NotFoundError"}},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"field"}}]}},{"kind":"InlineFragment","typeCondition":{"kind":"NamedType","name":{"kind":"Name","value":"RemoveRefreshDependencyPayload"}},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"removedId"}},{"kind":"Field","name":{"kind":"Name","value":"dependent"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"dependencies"}}]}}]}}]}}]}}]} as unknown as DocumentNode<RemoveDepMutation, RemoveDepMutationVariables>;
export const NodeOrNullDocument = {"kind":"Document","definitions":[{"kind":"OperationDefinition","operation":"query","name":{"kind":"Name","value":"NodeOrNull"},"variableDefinitions":[{"kind":"VariableDefinition","variable":{"kind":"Variable","name":{"kind":"Name","value":"id"}},"type":{"kind":"NonNullType","type":{"kind":"NamedType","name":{"kind":"Name","value":"ID"}}}}],"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"node"},"arguments":[{"kind":"Argument","name":{"kind":"Name","value":"id"},"value":{"kind":"Variable","name":{"kind":"Name","value":"id"}}}],"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"__typename"}},{"kind":"Field","name":{"kind":"Name","value":"id"}},{"kind":"InlineFragment","typeCondition":{"kind":"NamedType","name":{"kind":"Name","value":"RefreshConfig"}},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"tableName"}}]}}]}}]}}]} as unknown as DocumentNode<NodeOrNullQuery, NodeOrNullQueryVariables>;
export const NodesWithGapsDocument = {"kind":"Document","definitions":[{"kind":"OperationDefinition","operation":"query","name":{"kind":"Name","value":"NodesWithGaps"},"variableDefinitions":[{"kind":"VariableDefinition","variable":{"kind":"Variable","name":{"kind":"Name","value":"ids"}},"type":{"kind":"NonNullType","type":{"kind":"ListType","type":{"kind":"NonNullType","type":{"kind":"NamedType","name":{"kind":"Name","value":"ID"}}}}}}],"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"nodes"},"arguments":[{"kind":"Argument","name":{"kind":"Name","value":"ids"},"value":{"kind":"Variable","name":{"kind":"Name","value":"ids"}}}],"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"__typename"}},{"kind":"Field","name":{"kind":"Name","value":"id"}},{"kind":"InlineFragment","typeCondition":{"kind":"NamedType","name":{"kind":"Name","value":"RefreshConfig"}},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"tableName"}}]}}]}}]}}]} as unknown as DocumentNode<NodesWithGapsQuery, NodesWithGapsQueryVariables>;
export const PlanDocument = {"kind":"Document","definitions":[{"kind":"OperationDefinition","operation":"query","name":{"kind":"Name","value":"Plan"},"variableDefinitions":[{"kind":"VariableDefinition","variable":{"kind":"Variable","name":{"kind":"Name","value":"hours"}},"type":{"kind":"NonNullType","type":{"kind":"NamedType","name":{"kind":"Name","value":"Int"}}}}],"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"refreshPlan"},"arguments":[{"kind":"Argument","name":{"kind":"Name","value":"hours"},"value":{"kind":"Variable","name":{"kind":"Name","value":"hours"}}}],"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"horizonHours"}},{"kind":"Field","name":{"kind":"Name","value":"total"}},{"kind":"Field","name":{"kind":"Name","value":"items"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"position"}},{"kind":"Field","name":{"kind":"Name","value":"table"}},{"kind":"Field","name":{"kind":"Name","value":"reason"}},{"kind":"Field","name":{"kind":"Name","value":"state"}},{"kind":"Field","name":{"kind":"Name","value":"notes"}},{"kind":"Field","name":{"kind":"Name","value":"cascadeFrom"}},{"kind":"Field","name":{"kind":"Name","value":"configId"}}]}},{"kind":"Field","name":{"kind":"Name","value":"cycles"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"tables"}}]}}]}}]}}]} as unknown as DocumentNode<PlanQuery, PlanQueryVariables>;
export const ConfigsDocument = {"kind":"Document","definitions":[{"kind":"OperationDefinition","operation":"query","name":{"kind":"Name","value":"Configs"},"variableDefinitions":[{"kind":"VariableDefinition","variable":{"kind":"Variable","name":{"kind":"Name","value":"first"}},"type":{"kind":"NamedType","name":{"kind":"Name","value":"Int"}}},{"kind":"VariableDefinition","variable":{"kind":"Variable","name":{"kind":"Name","value":"after"}},"type":{"kind":"NamedType","name":{"kind":"Name","value":"String"}}},{"kind":"VariableDefinition","variable":{"kind":"Variable","name":{"kind":"Name","value":"filter"}},"type":{"kind":"NamedType","name":{"kind":"Name","value":"RefreshConfigFilter"}}}],"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"refreshConfigs"},"arguments":[{"kind":"Argument","name":{"kind":"Name","value":"first"},"value":{"kind":"Variable","name":{"kind":"Name","value":"first"}}},{"kind":"Argument","name":{"kind":"Name","value":"after"},"value":{"kind":"Variable","name":{"kind":"Name","value":"after"}}},{"kind":"Argument","name":{"kind":"Name","value":"filter"},"value":{"kind":"Variable","name":{"kind":"Name","value":"filter"}}}],"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"edges"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"cursor"}},{"kind":"Field","name":{"kind":"Name","value":"node"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"id"}},{"kind":"Field","name":{"kind":"Name","value":"tableSchema"}},{"kind":"Field","name":{"kind":"Name","value":"tableName"}},{"kind":"Field","name":{"kind":"Name","value":"priority"}},{"kind":"Field","name":{"kind":"Name","value":"isEnabled"}},{"kind":"Field","name":{"kind":"Name","value":"nextRefreshAt"}},{"kind":"Field","name":{"kind":"Name","value":"dependencies"}},{"kind":"Field","name":{"kind":"Name","value":"parents"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"tableName"}}]}},{"kind":"Field","name":{"kind":"Name","value":"dependents"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"tableName"}}]}},{"kind":"Field","name":{"kind":"Name","value":"latestRun"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"status"}},{"kind":"Field","name":{"kind":"Name","value":"bigqueryJobId"}}]}}]}}]}},{"kind":"Field","name":{"kind":"Name","value":"pageInfo"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"hasNextPage"}},{"kind":"Field","name":{"kind":"Name","value":"endCursor"}}]}}]}}]}}]} as unknown as DocumentNode<ConfigsQuery, ConfigsQueryVariables>;
export const OneConfigDocument = {"kind":"Document","definitions":[{"kind":"OperationDefinition","operation":"query","name":{"kind":"Name","value":"OneConfig"},"variableDefinitions":[{"kind":"VariableDefinition","variable":{"kind":"Variable","name":{"kind":"Name","value":"tableSchema"}},"type":{"kind":"NonNullType","type":{"kind":"NamedType","name":{"kind":"Name","value":"String"}}}},{"kind":"VariableDefinition","variable":{"kind":"Variable","name":{"kind":"Name","value":"tableName"}},"type":{"kind":"NonNullType","type":{"kind":"NamedType","name":{"kind":"Name","value":"String"}}}}],"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"refreshConfig"},"arguments":[{"kind":"Argument","name":{"kind":"Name","value":"tableSchema"},"value":{"kind":"Variable","name":{"kind":"Name","value":"tableSchema"}}},{"kind":"Argument","name":{"kind":"Name","value":"tableName"},"value":{"kind":"Variable","name":{"kind":"Name","value":"tableName"}}}],"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"id"}},{"kind":"Field","name":{"kind":"Name","value":"tableName"}},{"kind":"Field","name":{"kind":"Name","value":"runs"},"arguments":[{"kind":"Argument","name":{"kind":"Name","value":"first"},"value":{"kind":"IntValue","value":"10"}}],"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"edges"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"node"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"id"}},{"kind":"Field","name":{"kind":"Name","value":"status"}},{"kind":"Field","name":{"kind":"Name","value":"rowsProcessed"}},{"kind":"Field","name":{"kind":"Name","value":"memoryUsedMb"}},{"kind":"Field","name":{"kind":"Name","value":"errorMessage"}},{"kind":"Field","name":{"kind":"Name","value":"config"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"tableName"}}]}},{"kind":"Field","name":{"kind":"Name","value":"qualityMetrics"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"metricName"}},{"kind":"Field","name":{"kind":"Name","value":"metricValue"}},{"kind":"Field","name":{"kind":"Name","value":"thresholdMax"}},{"kind":"Field","name":{"kind":"Name","value":"isWithinThreshold"}}]}}]}}]}}]}}]}}]}}]} as unknown as DocumentNode<OneConfigQuery, OneConfigQueryVariables>;
export const RunsDocument = {"kind":"Document","definitions":[{"kind":"OperationDefinition","operation":"query","name":{"kind":"Name","value":"Runs"},"variableDefinitions":[{"kind":"VariableDefinition","variable":{"kind":"Variable","name":{"kind":"Name","value":"filter"}},"type":{"kind":"NamedType","name":{"kind":"Name","value":"RefreshRunFilter"}}}],"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"refreshRuns"},"arguments":[{"kind":"Argument","name":{"kind":"Name","value":"first"},"value":{"kind":"IntValue","value":"10"}},{"kind":"Argument","name":{"kind":"Name","value":"filter"},"value":{"kind":"Variable","name":{"kind":"Name","value":"filter"}}}],"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"edges"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"node"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"id"}},{"kind":"Field","name":{"kind":"Name","value":"tableName"}},{"kind":"Field","name":{"kind":"Name","value":"status"}}]}}]}}]}}]}}]} as unknown as DocumentNode<RunsQuery, RunsQueryVariables>;
export const CheckpointsAndMetricsDocument = {"kind":"Document","definitions":[{"kind":"OperationDefinition","operation":"query","name":{"kind":"Name","value":"CheckpointsAndMetrics"},"variableDefinitions":[{"kind":"VariableDefinition","variable":{"kind":"Variable","name":{"kind":"Name","value":"status"}},"type":{"kind":"NamedType","name":{"kind":"Name","value":"CheckpointStatus"}}},{"kind":"VariableDefinition","variable":{"kind":"Variable","name":{"kind":"Name","value":"within"}},"type":{"kind":"NamedType","name":{"kind":"Name","value":"Boolean"}}}],"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"refreshCheckpoints"},"arguments":[{"kind":"Argument","name":{"kind":"Name","value":"filter"},"value":{"kind":"ObjectValue","fields":[{"kind":"ObjectField","name":{"kind":"Name","value":"status"},"value":{"kind":"Variable","name":{"kind":"Name","value":"status"}}}]}}],"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"edges"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"node"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"id"}},{"kind":"Field","name":{"kind":"Name","value":"tableName"}},{"kind":"Field","name":{"kind":"Name","value":"functionName"}},{"kind":"Field","name":{"kind":"Name","value":"status"}},{"kind":"Field","name":{"kind":"Name","value":"lastProcessedRow"}},{"kind":"Field","name":{"kind":"Name","value":"totalRows"}},{"kind":"Field","name":{"kind":"Name","value":"checkpointData"}}]}}]}}]}},{"kind":"Field","name":{"kind":"Name","value":"qualityMetrics"},"arguments":[{"kind":"Argument","name":{"kind":"Name","value":"filter"},"value":{"kind":"ObjectValue","fields":[{"kind":"ObjectField","name":{"kind":"Name","value":"isWithinThreshold"},"value":{"kind":"Variable","name":{"kind":"Name","value":"within"}}}]}}],"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"edges"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"node"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"id"}},{"kind":"Field","name":{"kind":"Name","value":"metricName"}},{"kind":"Field","name":{"kind":"Name","value":"run"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"tableName"}}]}}]}}]}}]}}]}}]} as unknown as DocumentNode<CheckpointsAndMetricsQuery, CheckpointsAndMetricsQueryVariables>;
export const NodeLookupDocument = {"kind":"Document","definitions":[{"kind":"OperationDefinition","operation":"query","name":{"kind":"Name","value":"NodeLookup"},"variableDefinitions":[{"kind":"VariableDefinition","variable":{"kind":"Variable","name":{"kind":"Name","value":"id"}},"type":{"kind":"NonNullType","type":{"kind":"NamedType","name":{"kind":"Name","value":"ID"}}}}],"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"node"},"arguments":[{"kind":"Argument","name":{"kind":"Name","value":"id"},"value":{"kind":"Variable","name":{"kind":"Name","value":"id"}}}],"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"__typename"}},{"kind":"Field","name":{"kind":"Name","value":"id"}},{"kind":"InlineFragment","typeCondition":{"kind":"NamedType","name":{"kind":"Name","value":"RefreshConfig"}},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"tableName"}}]}},{"kind":"InlineFragment","typeCondition":{"kind":"NamedType","name":{"kind":"Name","value":"RefreshRun"}},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"status"}}]}},{"kind":"InlineFragment","typeCondition":{"kind":"NamedType","name":{"kind":"Name","value":"RefreshCheckpoint"}},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"tableName"}}]}},{"kind":"InlineFragment","typeCondition":{"kind":"NamedType","name":{"kind":"Name","value":"QualityMetric"}},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"metricName"}}]}},{"kind":"InlineFragment","typeCondition":{"kind":"NamedType","name":{"kind":"Name","value":"RefreshDependency"}},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"parent"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"tableName"}}]}},{"kind":"Field","name":{"kind":"Name","value":"dependent"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"tableName"}}]}},{"kind":"Field","name":{"kind":"Name","value":"dependencyType"}}]}}]}}]}}]} as unknown as DocumentNode<NodeLookupQuery, NodeLookupQueryVariables>;
export const IdsDocument = {"kind":"Document","definitions":[{"kind":"OperationDefinition","operation":"query","name":{"kind":"Name","value":"Ids"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"refreshConfig"},"arguments":[{"kind":"Argument","name":{"kind":"Name","value":"tableSchema"},"value":{"kind":"StringValue","value":"sqp","block":false}},{"kind":"Argument","name":{"kind":"Name","value":"tableName"},"value":{"kind":"StringValue","value":"weekly_summary","block":false}}],"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"id"}},{"kind":"Field","name":{"kind":"Name","value":"parentDependencies"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"id"}}]}}]}},{"kind":"Field","name":{"kind":"Name","value":"refreshRuns"},"arguments":[{"kind":"Argument","name":{"kind":"Name","value":"first"},"value":{"kind":"IntValue","value":"1"}}],"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"edges"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"node"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"id"}}]}}]}}]}},{"kind":"Field","name":{"kind":"Name","value":"refreshCheckpoints"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"edges"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"node"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"id"}}]}}]}}]}},{"kind":"Field","name":{"kind":"Name","value":"qualityMetrics"},"arguments":[{"kind":"Argument","name":{"kind":"Name","value":"first"},"value":{"kind":"IntValue","value":"1"}}],"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"edges"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"node"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"id"}}]}}]}}]}}]}}]} as unknown as DocumentNode<IdsQuery, IdsQueryVariables>;
export const OpenAlertsNowDocument = {"kind":"Document","definitions":[{"kind":"OperationDefinition","operation":"query","name":{"kind":"Name","value":"OpenAlertsNow"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"openAlerts"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"kind"}},{"kind":"Field","name":{"kind":"Name","value":"table"}},{"kind":"Field","name":{"kind":"Name","value":"tableSchema"}},{"kind":"Field","name":{"kind":"Name","value":"tableName"}},{"kind":"Field","name":{"kind":"Name","value":"since"}},{"kind":"Field","name":{"kind":"Name","value":"reason"}},{"kind":"Field","name":{"kind":"Name","value":"run"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"databaseId"}},{"kind":"Field","name":{"kind":"Name","value":"status"}}]}},{"kind":"Field","name":{"kind":"Name","value":"config"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"tableName"}}]}},{"kind":"Field","name":{"kind":"Name","value":"alert"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"eventId"}},{"kind":"Field","name":{"kind":"Name","value":"occurredAt"}}]}},{"kind":"Field","name":{"kind":"Name","value":"deliveries"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"pending"}},{"kind":"Field","name":{"kind":"Name","value":"delivered"}},{"kind":"Field","name":{"kind":"Name","value":"abandoned"}},{"kind":"Field","name":{"kind":"Name","value":"total"}}]}}]}}]}}]} as unknown as DocumentNode<OpenAlertsNowQuery, OpenAlertsNowQueryVariables>;
export const ReadModelStatesDocument = {"kind":"Document","definitions":[{"kind":"OperationDefinition","operation":"query","name":{"kind":"Name","value":"ReadModelStates"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"tableHealth"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"table"}},{"kind":"Field","name":{"kind":"Name","value":"state"}},{"kind":"Field","name":{"kind":"Name","value":"reasons"}},{"kind":"Field","name":{"kind":"Name","value":"failureStreak"}},{"kind":"Field","name":{"kind":"Name","value":"qualityVerdict"}},{"kind":"Field","name":{"kind":"Name","value":"bytesBilledToday"}},{"kind":"Field","name":{"kind":"Name","value":"latestRun"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"databaseId"}}]}}]}},{"kind":"Field","name":{"kind":"Name","value":"runnerStatus"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"queueDepth"}},{"kind":"Field","name":{"kind":"Name","value":"runsInFlight"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"run"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"databaseId"}},{"kind":"Field","name":{"kind":"Name","value":"config"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"tableName"}}]}}]}}]}}]}}]}}]} as unknown as DocumentNode<ReadModelStatesQuery, ReadModelStatesQueryVariables>;
export const RegisterUserTableDocument = {"kind":"Document","definitions":[{"kind":"OperationDefinition","operation":"mutation","name":{"kind":"Name","value":"RegisterUserTable"},"variableDefinitions":[{"kind":"VariableDefinition","variable":{"kind":"Variable","name":{"kind":"Name","value":"input"}},"type":{"kind":"NonNullType","type":{"kind":"NamedType","name":{"kind":"Name","value":"RegisterTableInput"}}}}],"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"registerTable"},"arguments":[{"kind":"Argument","name":{"kind":"Name","value":"input"},"value":{"kind":"Variable","name":{"kind":"Name","value":"input"}}}],"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"__typename"}},{"kind":"InlineFragment","typeCondition":{"kind":"NamedType","name":{"kind":"Name","value":"RegisterTablePayload"}},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"config"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"tableSchema"}},{"kind":"Field","name":{"kind":"Name","value":"tableName"}}]}}]}},{"kind":"InlineFragment","typeCondition":{"kind":"NamedType","name":{"kind":"Name","value":"ValidationError"}},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"field"}},{"kind":"Field","name":{"kind":"Name","value":"message"}},{"kind":"Field","name":{"kind":"Name","value":"issues"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"path"}},{"kind":"Field","name":{"kind":"Name","value":"message"}}]}}]}},{"kind":"InlineFragment","typeCondition":{"kind":"NamedType","name":{"kind":"Name","value":"Error"}},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"message"}}]}}]}}]}}]} as unknown as DocumentNode<RegisterUserTableMutation, RegisterUserTableMutationVariables>;
export const ReplicaEventsDocument = {"kind":"Document","definitions":[{"kind":"OperationDefinition","operation":"subscription","name":{"kind":"Name","value":"ReplicaEvents"},"variableDefinitions":[{"kind":"VariableDefinition","variable":{"kind":"Variable","name":{"kind":"Name","value":"filter"}},"type":{"kind":"NamedType","name":{"kind":"Name","value":"RefreshEventFilter"}}}],"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"refreshEvents"},"arguments":[{"kind":"Argument","name":{"kind":"Name","value":"filter"},"value":{"kind":"Variable","name":{"kind":"Name","value":"filter"}}}],"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"__typename"}},{"kind":"InlineFragment","typeCondition":{"kind":"NamedType","name":{"kind":"Name","value":"RunProgress"}},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"rowsProcessed"}}]}},{"kind":"InlineFragment","typeCondition":{"kind":"NamedType","name":{"kind":"Name","value":"RunFinished"}},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"status"}},{"kind":"Field","name":{"kind":"Name","value":"rowsProcessed"}}]}}]}}]}}]} as unknown as DocumentNode<ReplicaEventsSubscription, ReplicaEventsSubscriptionVariables>;
export const ForceOnADocument = {"kind":"Document","definitions":[{"kind":"OperationDefinition","operation":"mutation","name":{"kind":"Name","value":"ForceOnA"},"variableDefinitions":[{"kind":"VariableDefinition","variable":{"kind":"Variable","name":{"kind":"Name","value":"input"}},"type":{"kind":"NonNullType","type":{"kind":"NamedType","name":{"kind":"Name","value":"ForceRefreshInput"}}}}],"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"forceRefresh"},"arguments":[{"kind":"Argument","name":{"kind":"Name","value":"input"},"value":{"kind":"Variable","name":{"kind":"Name","value":"input"}}}],"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"__typename"}},{"kind":"InlineFragment","typeCondition":{"kind":"NamedType","name":{"kind":"Name","value":"ForceRefreshPayload"}},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"run"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"id"}},{"kind":"Field","name":{"kind":"Name","value":"syncMetadata"}}]}}]}}]}}]}}]} as unknown as DocumentNode<ForceOnAMutation, ForceOnAMutationVariables>;
export const ReplicaStatusDocument = {"kind":"Document","definitions":[{"kind":"OperationDefinition","operation":"query","name":{"kind":"Name","value":"ReplicaStatus"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"runnerStatus"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"replicas"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"workerName"}},{"kind":"Field","name":{"kind":"Name","value":"alive"}}]}}]}}]}}]} as unknown as DocumentNode<ReplicaStatusQuery, ReplicaStatusQueryVariables>;
export const RetryPolicyHealthDocument = {"kind":"Document","definitions":[{"kind":"OperationDefinition","operation":"query","name":{"kind":"Name","value":"RetryPolicyHealth"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"tableHealth"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"table"}},{"kind":"Field","name":{"kind":"Name","value":"state"}}]}}]}}]} as unknown as DocumentNode<RetryPolicyHealthQuery, RetryPolicyHealthQueryVariables>;
export const GroupForceDocument = {"kind":"Document","definitions":[{"kind":"OperationDefinition","operation":"mutation","name":{"kind":"Name","value":"GroupForce"},"variableDefinitions":[{"kind":"VariableDefinition","variable":{"kind":"Variable","name":{"kind":"Name","value":"input"}},"type":{"kind":"NonNullType","type":{"kind":"NamedType","name":{"kind":"Name","value":"ForceRefreshInput"}}}}],"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"forceRefresh"},"arguments":[{"kind":"Argument","name":{"kind":"Name","value":"input"},"value":{"kind":"Variable","name":{"kind":"Name","value":"input"}}}],"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"InlineFragment","typeCondition":{"kind":"NamedType","name":{"kind":"Name","value":"ForceRefreshPayload"}},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"run"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"id"}}]}}]}},{"kind":"InlineFragment","typeCondition":{"kind":"NamedType","name":{"kind":"Name","value":"Error"}},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"message"}}]}}]}}]}}]} as unknown as DocumentNode<GroupForceMutation, GroupForceMutationVariables>;
export const GroupProgressDocument = {"kind":"Document","definitions":[{"kind":"OperationDefinition","operation":"subscription","name":{"kind":"Name","value":"GroupProgress"},"variableDefinitions":[{"kind":"VariableDefinition","variable":{"kind":"Variable","name":{"kind":"Name","value":"runId"}},"type":{"kind":"NonNullType","type":{"kind":"NamedType","name":{"kind":"Name","value":"ID"}}}}],"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"runProgress"},"arguments":[{"kind":"Argument","name":{"kind":"Name","value":"runId"},"value":{"kind":"Variable","name":{"kind":"Name","value":"runId"}}}],"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"rowsProcessed"}},{"kind":"Field","name":{"kind":"Name","value":"finished"}},{"kind":"Field","name":{"kind":"Name","value":"status"}}]}}]}}]} as unknown as DocumentNode<GroupProgressSubscription, GroupProgressSubscriptionVariables>;
export const GroupEventsDocument = {"kind":"Document","definitions":[{"kind":"OperationDefinition","operation":"subscription","name":{"kind":"Name","value":"GroupEvents"},"variableDefinitions":[{"kind":"VariableDefinition","variable":{"kind":"Variable","name":{"kind":"Name","value":"filter"}},"type":{"kind":"NamedType","name":{"kind":"Name","value":"RefreshEventFilter"}}}],"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"refreshEvents"},"arguments":[{"kind":"Argument","name":{"kind":"Name","value":"filter"},"value":{"kind":"Variable","name":{"kind":"Name","value":"filter"}}}],"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"__typename"}},{"kind":"InlineFragment","typeCondition":{"kind":"NamedType","name":{"kind":"Name","value":"RefreshEvent"}},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"id"}},{"kind":"Field","name":{"kind":"Name","value":"tableName"}}]}},{"kind":"InlineFragment","typeCondition":{"kind":"NamedType","name":{"kind":"Name","value":"RunProgress"}},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"rowsProcessed"}}]}},{"kind":"InlineFragment","typeCondition":{"kind":"NamedType","name":{"kind":"Name","value":"RunBlocked"}},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"reasons"}}]}}]}}]}}]} as unknown as DocumentNode<GroupEventsSubscription, GroupEventsSubscriptionVariables>;
export const TableEventsDocument = {"kind":"Document","definitions":[{"kind":"OperationDefinition","operation":"subscription","name":{"kind":"Name","value":"TableEvents"},"variableDefinitions":[{"kind":"VariableDefinition","variable":{"kind":"Variable","name":{"kind":"Name","value":"filter"}},"type":{"kind":"NamedType","name":{"kind":"Name","value":"RefreshEventFilter"}}}],"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"refreshEvents"},"arguments":[{"kind":"Argument","name":{"kind":"Name","value":"filter"},"value":{"kind":"Variable","name":{"kind":"Name","value":"filter"}}}],"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"__typename"}},{"kind":"InlineFragment","typeCondition":{"kind":"NamedType","name":{"kind":"Name","value":"RefreshEvent"}},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"tableName"}}]}},{"kind":"InlineFragment","typeCondition":{"kind":"NamedType","name":{"kind":"Name","value":"RunStarted"}},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"runId"}},{"kind":"Field","name":{"kind":"Name","value":"resumed"}}]}},{"kind":"InlineFragment","typeCondition":{"kind":"NamedType","name":{"kind":"Name","value":"RunProgress"}},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"runId"}},{"kind":"Field","name":{"kind":"Name","value":"rowsProcessed"}},{"kind":"Field","name":{"kind":"Name","value":"totalRows"}},{"kind":"Field","name":{"kind":"Name","value":"percent"}},{"kind":"Field","name":{"kind":"Name","value":"rowsPerSecond"}},{"kind":"Field","name":{"kind":"Name","value":"etaSeconds"}}]}},{"kind":"InlineFragment","typeCondition":{"kind":"NamedType","name":{"kind":"Name","value":"RunFinished"}},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"runId"}},{"kind":"Field","name":{"kind":"Name","value":"status"}},{"kind":"Field","name":{"kind":"Name","value":"outcome"}},{"kind":"Field","name":{"kind":"Name","value":"rowsProcessed"}}]}}]}}]}}]} as unknown as DocumentNode<TableEventsSubscription, TableEventsSubscriptionVariables>;
export const ForceForSubscribersDocument = {"kind":"Document","definitions":[{"kind":"OperationDefinition","operation":"mutation","name":{"kind":"Name","value":"ForceForSubscribers"},"variableDefinitions":[{"kind":"VariableDefinition","variable":{"kind":"Variable","name":{"kind":"Name","value":"input"}},"type":{"kind":"NonNullType","type":{"kind":"NamedType","name":{"kind":"Name","value":"ForceRefreshInput"}}}}],"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"forceRefresh"},"arguments":[{"kind":"Argument","name":{"kind":"Name","value":"input"},"value":{"kind":"Variable","name":{"kind":"Name","value":"input"}}}],"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"__typename"}},{"kind":"InlineFragment","typeCondition":{"kind":"NamedType","name":{"kind":"Name","value":"ForceRefreshPayload"}},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"run"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"id"}}]}}]}}]}}]}}]} as unknown as DocumentNode<ForceForSubscribersMutation, ForceForSubscribersMutationVariables>;
export const ProgressDocument = {"kind":"Document","definitions":[{"kind":"OperationDefinition","operation":"subscription","name":{"kind":"Name","value":"Progress"},"variableDefinitions":[{"kind":"VariableDefinition","variable":{"kind":"Variable","name":{"kind":"Name","value":"runId"}},"type":{"kind":"NonNullType","type":{"kind":"NamedType","name":{"kind":"Name","value":"ID"}}}}],"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"runProgress"},"arguments":[{"kind":"Argument","name":{"kind":"Name","value":"runId"},"value":{"kind":"Variable","name":{"kind":"Name","value":"runId"}}}],"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"status"}},{"kind":"Field","name":{"kind":"Name","value":"rowsProcessed"}},{"kind":"Field","name":{"kind":"Name","value":"totalRows"}},{"kind":"Field","name":{"kind":"Name","value":"percent"}},{"kind":"Field","name":{"kind":"Name","value":"finished"}},{"kind":"Field","name":{"kind":"Name","value":"run"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"tableName"}}]}}]}}]}}]} as unknown as DocumentNode<ProgressSubscription, ProgressSubscriptionVariables>;
export const TableStatesDocument = {"kind":"Document","definitions":[{"kind":"OperationDefinition","operation":"query","name":{"kind":"Name","value":"TableStates"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"tableHealth"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"table"}},{"kind":"Field","name":{"kind":"Name","value":"state"}},{"kind":"Field","name":{"kind":"Name","value":"reasons"}},{"kind":"Field","name":{"kind":"Name","value":"late"}},{"kind":"Field","name":{"kind":"Name","value":"freshnessSlaHours"}},{"kind":"Field","name":{"kind":"Name","value":"latestRun"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"databaseId"}},{"kind":"Field","name":{"kind":"Name","value":"status"}}]}}]}},{"kind":"Field","name":{"kind":"Name","value":"runnerStatus"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"queueDepth"}}]}},{"kind":"Field","name":{"kind":"Name","value":"refreshPlan"},"arguments":[{"kind":"Argument","name":{"kind":"Name","value":"hours"},"value":{"kind":"IntValue","value":"24"}}],"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"items"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"table"}},{"kind":"Field","name":{"kind":"Name","value":"state"}},{"kind":"Field","name":{"kind":"Name","value":"notes"}}]}}]}}]}}]} as unknown as DocumentNode<TableStatesQuery, TableStatesQueryVariables>;
export const TextRegisterDocument = {"kind":"Document","definitions":[{"kind":"OperationDefinition","operation":"mutation","name":{"kind":"Name","value":"TextRegister"},"variableDefinitions":[{"kind":"VariableDefinition","variable":{"kind":"Variable","name":{"kind":"Name","value":"input"}},"type":{"kind":"NonNullType","type":{"kind":"NamedType","name":{"kind":"Name","value":"RegisterTableInput"}}}}],"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"registerTable"},"arguments":[{"kind":"Argument","name":{"kind":"Name","value":"input"},"value":{"kind":"Variable","name":{"kind":"Name","value":"input"}}}],"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"__typename"}},{"kind":"InlineFragment","typeCondition":{"kind":"NamedType","name":{"kind":"Name","value":"ValidationError"}},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"field"}},{"kind":"Field","name":{"kind":"Name","value":"issues"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"path"}},{"kind":"Field","name":{"kind":"Name","value":"message"}}]}}]}}]}}]}}]} as unknown as DocumentNode<TextRegisterMutation, TextRegisterMutationVariables>;
export const ValidationRegisterDocument = {"kind":"Document","definitions":[{"kind":"OperationDefinition","operation":"mutation","name":{"kind":"Name","value":"ValidationRegister"},"variableDefinitions":[{"kind":"VariableDefinition","variable":{"kind":"Variable","name":{"kind":"Name","value":"input"}},"type":{"kind":"NonNullType","type":{"kind":"NamedType","name":{"kind":"Name","value":"RegisterTableInput"}}}}],"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"registerTable"},"arguments":[{"kind":"Argument","name":{"kind":"Name","value":"input"},"value":{"kind":"Variable","name":{"kind":"Name","value":"input"}}}],"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"__typename"}},{"kind":"InlineFragment","typeCondition":{"kind":"NamedType","name":{"kind":"Name","value":"ValidationError"}},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"field"}},{"kind":"Field","name":{"kind":"Name","value":"issues"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"path"}},{"kind":"Field","name":{"kind":"Name","value":"message"}}]}}]}},{"kind":"InlineFragment","typeCondition":{"kind":"NamedType","name":{"kind":"Name","value":"RegisterTablePayload"}},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"config"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"tableName"}},{"kind":"Field","name":{"kind":"Name","value":"customSyncParams"}}]}}]}}]}}]}}]} as unknown as DocumentNode<ValidationRegisterMutation, ValidationRegisterMutationVariables>;
export const ValidationUpdateDocument = {"kind":"Document","definitions":[{"kind":"OperationDefinition","operation":"mutation","name":{"kind":"Name","value":"ValidationUpdate"},"variableDefinitions":[{"kind":"VariableDefinition","variable":{"kind":"Variable","name":{"kind":"Name","value":"input"}},"type":{"kind":"NonNullType","type":{"kind":"NamedType","name":{"kind":"Name","value":"UpdateRefreshConfigInput"}}}}],"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"updateRefreshConfig"},"arguments":[{"kind":"Argument","name":{"kind":"Name","value":"input"},"value":{"kind":"Variable","name":{"kind":"Name","value":"input"}}}],"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"__typename"}},{"kind":"InlineFragment","typeCondition":{"kind":"NamedType","name":{"kind":"Name","value":"ValidationError"}},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"field"}},{"kind":"Field","name":{"kind":"Name","value":"issues"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"path"}},{"kind":"Field","name":{"kind":"Name","value":"message"}}]}}]}},{"kind":"InlineFragment","typeCondition":{"kind":"NamedType","name":{"kind":"Name","value":"UpdateRefreshConfigPayload"}},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"config"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"customSyncParams"}}]}}]}}]}}]}}]} as unknown as DocumentNode<ValidationUpdateMutation, ValidationUpdateMutationVariables>;
export const ValidationScheduleDocument = {"kind":"Document","definitions":[{"kind":"OperationDefinition","operation":"mutation","name":{"kind":"Name","value":"ValidationSchedule"},"variableDefinitions":[{"kind":"VariableDefinition","variable":{"kind":"Variable","name":{"kind":"Name","value":"input"}},"type":{"kind":"NonNullType","type":{"kind":"NamedType","name":{"kind":"Name","value":"ScheduleRefreshInput"}}}}],"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"scheduleRefresh"},"arguments":[{"kind":"Argument","name":{"kind":"Name","value":"input"},"value":{"kind":"Variable","name":{"kind":"Name","value":"input"}}}],"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"__typename"}},{"kind":"InlineFragment","typeCondition":{"kind":"NamedType","name":{"kind":"Name","value":"Error"}},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"message"}}]}},{"kind":"InlineFragment","typeCondition":{"kind":"NamedType","name":{"kind":"Name","value":"ValidationError"}},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"field"}},{"kind":"Field","name":{"kind":"Name","value":"issues"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"path"}},{"kind":"Field","name":{"kind":"Name","value":"message"}}]}}]}},{"kind":"InlineFragment","typeCondition":{"kind":"NamedType","name":{"kind":"Name","value":"ConflictError"}},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"field"}}]}},{"kind":"InlineFragment","typeCondition":{"kind":"NamedType","name":{"kind":"Name","value":"ScheduleRefreshPayload"}},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"config"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"nextRefreshAt"}}]}}]}}]}}]}}]} as unknown as DocumentNode<ValidationScheduleMutation, ValidationScheduleMutationVariables>;
export const ValidationForceDocument = {"kind":"Document","definitions":[{"kind":"OperationDefinition","operation":"mutation","name":{"kind":"Name","value":"ValidationForce"},"variableDefinitions":[{"kind":"VariableDefinition","variable":{"kind":"Variable","name":{"kind":"Name","value":"input"}},"type":{"kind":"NonNullType","type":{"kind":"NamedType","name":{"kind":"Name","value":"ForceRefreshInput"}}}}],"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"forceRefresh"},"arguments":[{"kind":"Argument","name":{"kind":"Name","value":"input"},"value":{"kind":"Variable","name":{"kind":"Name","value":"input"}}}],"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"__typename"}},{"kind":"InlineFragment","typeCondition":{"kind":"NamedType","name":{"kind":"Name","value":"ValidationError"}},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"field"}}]}},{"kind":"InlineFragment","typeCondition":{"kind":"NamedType","name":{"kind":"Name","value":"ConflictError"}},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"field"}}]}}]}}]}}]} as unknown as DocumentNode<ValidationForceMutation, ValidationForceMutationVariables>;