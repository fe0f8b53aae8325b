/* eslint-disable */
import * as types from './graphql.js';
import type { TypedDocumentNode as DocumentNode } from '@graphql-typed-document-node/core';

/**
 * Map of all GraphQL operations in the project.
 *
 * This map has several performance disadvantages:
 * 1. It is not tree-shakeable, so it will include all operations in the project.
 * 2. It is not minifiable, so the string of a GraphQL query will be multiple times inside the bundle.
 * 3. It does not support dead code elimination, so it will add unused operations.
 *
 * Therefore it is highly recommended to use the babel or swc plugin for production.
 * Learn more about it here: https://the-guild.dev/graphql/codegen/plugins/presets/preset-client#reducing-bundle-size
 */
type Documents = {
    "\n  mutation AlertsCreateDestination($input: CreateAlertDestinationInput!) {\n    createAlertDestination(input: $input) {\n      __typename\n      ... on CreateAlertDestinationPayload { destination { id databaseId name url host format events secretSet enabled state } }\n      ... on Error { message }\n      ... on ValidationError { field issues { path message } }\n      ... on ConflictError { field }\n    }\n  }\n": typeof types.AlertsCreateDestinationDocument,
    "\n  mutation AlertsUpdateDestination($input: UpdateAlertDestinationInput!) {\n    updateAlertDestination(input: $input) {\n      __typename\n      ... on UpdateAlertDestinationPayload { destination { name url state enabled failingSince disabledReason events } }\n      ... on Error { message }\n      ... on ValidationError { field }\n      ... on ConflictError { field }\n      ... on NotFoundError { field }\n    }\n  }\n": typeof types.AlertsUpdateDestinationDocument,
    "\n  mutation AlertsDeleteDestination($input: DeleteAlertDestinationInput!) {\n    deleteAlertDestination(input: $input) {\n      __typename\n      ... on DeleteAlertDestinationPayload { deletedId name }\n      ... on Error { message }\n    }\n  }\n": typeof types.AlertsDeleteDestinationDocument,
    "\n  query AlertsDestinations {\n    alertDestinations {\n      name url host format events secretSet enabled state failingSince lastError lastSuccessAt disabledAt disabledReason\n      deliveries(first: 10) { totalCount edges { node { status abandonReason attempts { outcome } } } }\n    }\n  }\n": typeof types.AlertsDestinationsDocument,
    "\n  query AlertsList($filter: AlertFilter) {\n    alerts(first: 20, filter: $filter) {\n      totalCount\n      edges {\n        node {\n          eventId kind tableSchema tableName reason occurredAt\n          config { tableName }\n          run { databaseId }\n          deliveries {\n            status deliveredAt nextAttemptAt abandonReason\n            destination { name state }\n            attempts { attempt workerName startedAt finishedAt outcome httpStatus error durationMs responseExcerpt }\n          }\n        }\n      }\n    }\n  }\n": typeof types.AlertsListDocument,
    "subscription ChaosEvents($filter: RefreshEventFilter) { refreshEvents(filter: $filter) { __typename } }": typeof types.ChaosEventsDocument,
    "mutation ChaosForce($input: ForceRefreshInput!) { forceRefresh(input: $input) { __typename } }": typeof types.ChaosForceDocument,
    "\n  subscription DashboardEvents($filter: RefreshEventFilter, $after: ID) {\n    refreshEvents(filter: $filter, after: $after) { __typename ... on RefreshEvent { id tableName } }\n  }\n": typeof types.DashboardEventsDocument,
    "\n  mutation DashboardForce($input: ForceRefreshInput!) {\n    forceRefresh(input: $input) { __typename }\n  }\n": typeof types.DashboardForceDocument,
    "\n  subscription DashboardProgress($runId: ID!, $after: ID) {\n    runProgress(runId: $runId, after: $after) { eventId rowsProcessed finished status }\n  }\n": typeof types.DashboardProgressDocument,
    "\n  query DueTables($due: Boolean!) {\n    refreshConfigs(first: 100, filter: { due: $due, search: \"due_case_\" }) { edges { node { tableName } } }\n  }\n": typeof types.DueTablesDocument,
    "\n  subscription BudgetEvents($filter: RefreshEventFilter) {\n    refreshEvents(filter: $filter) {\n      __typename\n      ... on RefreshEvent { id tableName }\n      ... on RunProgress { rowsProcessed }\n      ... on QualityMetricRecorded { metricName }\n    }\n  }\n": typeof types.BudgetEventsDocument,
    "\n  subscription StormEvents($after: ID) {\n    refreshEvents(after: $after) {\n      __typename\n      ... on RefreshEvent { id }\n      ... on RunStarted { runId }\n      ... on RunProgress { runId }\n      ... on QualityMetricRecorded { runId }\n      ... on RunFinished { runId }\n    }\n  }\n": typeof types.StormEventsDocument,
    "subscription AuthEvents { refreshEvents { __typename } }": typeof types.AuthEventsDocument,
    "\n  mutation StartBackfill($input: StartBackfillInput!) {\n    startBackfill(input: $input) {\n      __typename\n      ... on StartBackfillPayload { dryRun estimatedBytes remainingBudgetBytes chunks { position tableName from to estimatedBytes } backfill { id status chunksTotal } }\n      ... on Error { message }\n      ... on ValidationError { field }\n      ... on ConflictError { field }\n    }\n  }\n": typeof types.StartBackfillDocument,
    "\n  subscription BackfillProgress($id: ID!) {\n    backfillProgress(id: $id) { id status chunksDone chunksTotal percent }\n  }\n": typeof types.BackfillProgressDocument,
    "\n  query ReadBackfill($ids: [ID!]!) {\n    nodes(ids: $ids) {\n      ... on Backfill { id status from to chunksDone chunksTotal rowsProcessed bytesBilled errors chunks { position state from to runs bytesBilled run { id status } } }\n    }\n  }\n": typeof types.ReadBackfillDocument,
    "query Viewer { viewer { name scopes tokenRefused } }": typeof types.ViewerDocument,
    "\n      query Counts {\n        all: refreshConfigs(first: 1) { totalCount edges { node { tableName } } }\n        disabled: refreshConfigs(first: 1, filter: { isEnabled: false }) { totalCount }\n        failedRuns: refreshRuns(first: 1, filter: { status: FAILED }) { totalCount }\n        refreshConfig(tableSchema: \"sqp\", tableName: \"weekly_summary\") { runs(first: 2) { totalCount edges { node { id } } } }\n        refreshCheckpoints(first: 1) { totalCount }\n        qualityMetrics(first: 1) { totalCount }\n      }\n    ": typeof types.CountsDocument,
    "\n      query Outcomes { refreshRuns(first: 10, filter: { tableName: \"weekly_summary\" }) { edges { node { status outcome } } } }\n    ": typeof types.OutcomesDocument,
    "\n    subscription RunProgressOutcome($runId: ID!) { runProgress(runId: $runId) { status outcome rowsProcessed totalRows percent finished } }\n  ": typeof types.RunProgressOutcomeDocument,
    "\n      query RunStatistics($since: DateTime!, $bucket: StatisticsBucket, $tableName: String) {\n        refreshRunStatistics(since: $since, bucket: $bucket, tableName: $tableName) {\n          tableName periodStart periodEnd runs completed failed cancelled paused successRate p50DurationMs p95DurationMs rowsProcessed bytesBilled\n        }\n      }\n    ": typeof types.RunStatisticsDocument,
    "\n  mutation Force($input: ForceRefreshInput!) {\n    forceRefresh(input: $input) {\n      __typename\n      ... on Error { message }\n      ... on NotFoundError { field value }\n      ... on ValidationError { field issues { path message } }\n      ... on ConflictError { field }\n      ... on BudgetExceededError { neededBytes remainingBytes }\n      ... on ForceRefreshPayload {\n        dryRun queued estimatedBytes remainingBudgetBytes\n        run { id databaseId status tableName }\n        plan { position table reason state }\n      }\n    }\n  }\n": typeof types.ForceDocument,
    "query RunStatus($id: ID!) { node(id: $id) { ... on RefreshRun { status rowsProcessed errorMessage errorDetails syncMetadata } } }": typeof types.RunStatusDocument,
    "\n  mutation Cancel($input: CancelRefreshInput!) {\n    cancelRefresh(input: $input) {\n      __typename\n      ... on Error { message }\n      ... on NotFoundError { field }\n      ... on ConflictError { field }\n      ... on ValidationError { field }\n      ... on CancelRefreshPayload { finished run { status errorMessage rowsProcessed } }\n    }\n  }\n": typeof types.CancelDocument,
    "\n  mutation Schedule($input: ScheduleRefreshInput!) {\n    scheduleRefresh(input: $input) { __typename ... on Error { message } ... on ScheduleRefreshPayload { config { tableName nextRefreshAt } } }\n  }\n": typeof types.ScheduleDocument,
    "\n  mutation Update($input: UpdateRefreshConfigInput!) {\n    updateRefreshConfig(input: $input) {\n      __typename\n      ... on ValidationError { field issues { path message } }\n      ... on NotFoundError { field }\n      ... on UpdateRefreshConfigPayload { config { priority refreshFrequencyHours isEnabled customSyncParams } }\n    }\n  }\n": typeof types.UpdateDocument,
    "\n  mutation Register($input: RegisterTableInput!) {\n    registerTable(input: $input) {\n      __typename\n      ... on Error { message }\n      ... on NotFoundError { field }\n      ... on ConflictError { field }\n      ... on RegisterTablePayload { config { id tableName priority } }\n    }\n  }\n": typeof types.RegisterDocument,
    "\n  mutation AddDep($input: AddRefreshDependencyInput!) {\n    addRefreshDependency(input: $input) {\n      __typename\n      ... on Error { message }\n      ... on CycleError { cycle }\n      ... on NotFoundError { field }\n      ... on AddRefreshDependencyPayload { dependency { id dependencyType parent { tableName } dependent { tableName dependencies } } }\n    }\n  }\n": typeof types.AddDepDocument,
    "\n  mutation RemoveDep($input: RemoveRefreshDependencyInput!) {\n    removeRefreshDependency(input: $input) { __typename ... on NotFoundError { field } ... on RemoveRefreshDependencyPayload { removedId dependent { dependencies } } }\n  }\n": typeof types.RemoveDepDocument,
    "query NodeOrNull($id: ID!) { node(id: $id) { __typename id ... on RefreshConfig { tableName } } }": typeof types.NodeOrNullDocument,
    "query NodesWithGaps($ids: [ID!]!) { nodes(ids: $ids) { __typename id ... on RefreshConfig { tableName } } }": typeof types.NodesWithGapsDocument,
    "\n  query Plan($hours: Int!) {\n    refreshPlan(hours: $hours) {\n      horizonHours\n      total\n      items { position table reason state notes cascadeFrom configId }\n      cycles { tables }\n    }\n  }\n": typeof types.PlanDocument,
    "\n  query Configs($first: Int, $after: String, $filter: RefreshConfigFilter) {\n    refreshConfigs(first: $first, after: $after, filter: $filter) {\n      edges {\n        cursor\n        node {\n          id\n          tableSchema\n          tableName\n          priority\n          isEnabled\n          nextRefreshAt\n          dependencies\n          parents { tableName }\n          dependents { tableName }\n          latestRun { status bigqueryJobId }\n        }\n      }\n      pageInfo { hasNextPage endCursor }\n    }\n  }\n": typeof types.ConfigsDocument,
    "\n  query OneConfig($tableSchema: String!, $tableName: String!) {\n    refreshConfig(tableSchema: $tableSchema, tableName: $tableName) {\n      id\n      tableName\n      runs(first: 10) {\n        edges {\n          node {\n            id\n            status\n            rowsProcessed\n            memoryUsedMb\n            errorMessage\n            config { tableName }\n            qualityMetrics { metricName metricValue thresholdMax isWithinThreshold }\n          }\n        }\n      }\n    }\n  }\n": typeof types.OneConfigDocument,
    "\n    query Runs($filter: RefreshRunFilter) {\n      refreshRuns(first: 10, filter: $filter) { edges { node { id tableName status } } }\n    }\n  ": typeof types.RunsDocument,
    "\n    query CheckpointsAndMetrics($status: CheckpointStatus, $within: Boolean) {\n      refreshCheckpoints(filter: { status: $status }) {\n        edges { node { id tableName functionName status lastProcessedRow totalRows checkpointData } }\n      }\n      qualityMetrics(filter: { isWithinThreshold: $within }) {\n        edges { node { id metricName run { tableName } } }\n      }\n    }\n  ": typeof types.CheckpointsAndMetricsDocument,
    "\n    query NodeLookup($id: ID!) {\n      node(id: $id) {\n        __typename\n        id\n        ... on RefreshConfig { tableName }\n        ... on RefreshRun { status }\n        ... on RefreshCheckpoint { tableName }\n        ... on QualityMetric { metricName }\n        ... on RefreshDependency { parent { tableName } dependent { tableName } dependencyType }\n      }\n    }\n  ": typeof types.NodeLookupDocument,
    "\n      query Ids {\n        refreshConfig(tableSchema: \"sqp\", tableName: \"weekly_summary\") {\n          id\n          parentDependencies { id }\n        }\n        refreshRuns(first: 1) { edges { node { id } } }\n        refreshCheckpoints { edges { node { id } } }\n        qualityMetrics(first: 1) { edges { node { id } } }\n      }\n    ": typeof types.IdsDocument,
    "\n  query OpenAlertsNow {\n    openAlerts {\n      kind table tableSchema tableName since reason\n      run { databaseId status }\n      config { tableName }\n      alert { eventId occurredAt }\n      deliveries { pending delivered abandoned total }\n    }\n  }\n": typeof types.OpenAlertsNowDocument,
    "\n  query ReadModelStates {\n    tableHealth { table state reasons failureStreak qualityVerdict bytesBilledToday latestRun { databaseId } }\n    runnerStatus { queueDepth runsInFlight { run { databaseId config { tableName } } } }\n  }\n": typeof types.ReadModelStatesDocument,
    "\n  mutation RegisterUserTable($input: RegisterTableInput!) {\n    registerTable(input: $input) {\n      __typename\n      ... on RegisterTablePayload { config { tableSchema tableName } }\n      ... on ValidationError { field message issues { path message } }\n      ... on Error { message }\n    }\n  }\n": typeof types.RegisterUserTableDocument,
    "\n  subscription ReplicaEvents($filter: RefreshEventFilter) {\n    refreshEvents(filter: $filter) { __typename ... on RunProgress { rowsProcessed } ... on RunFinished { status rowsProcessed } }\n  }\n": typeof types.ReplicaEventsDocument,
    "\n  mutation ForceOnA($input: ForceRefreshInput!) {\n    forceRefresh(input: $input) { __typename ... on ForceRefreshPayload { run { id syncMetadata } } }\n  }\n": typeof types.ForceOnADocument,
    "query ReplicaStatus { runnerStatus { replicas { workerName alive } } }": typeof types.ReplicaStatusDocument,
    "\n  query RetryPolicyHealth {\n    tableHealth { table state }\n  }\n": typeof types.RetryPolicyHealthDocument,
    "\n  mutation GroupForce($input: ForceRefreshInput!) {\n    forceRefresh(input: $input) { ... on ForceRefreshPayload { run { id } } ... on Error { message } }\n  }\n": typeof types.GroupForceDocument,
    "\n  subscription GroupProgress($runId: ID!) {\n    runProgress(runId: $runId) { rowsProcessed finished status }\n  }\n": typeof types.GroupProgressDocument,
    "\n  subscription GroupEvents($filter: RefreshEventFilter) {\n    refreshEvents(filter: $filter) {\n      __typename\n      ... on RefreshEvent { id tableName }\n      ... on RunProgress { rowsProcessed }\n      ... on RunBlocked { reasons }\n    }\n  }\n": typeof types.GroupEventsDocument,
    "\n  subscription TableEvents($filter: RefreshEventFilter) {\n    refreshEvents(filter: $filter) {\n      __typename\n      ... on RefreshEvent { tableName }\n      ... on RunStarted { runId resumed }\n      ... on RunProgress { runId rowsProcessed totalRows percent rowsPerSecond etaSeconds }\n      ... on RunFinished { runId status outcome rowsProcessed }\n    }\n  }\n": typeof types.TableEventsDocument,
    "\n  mutation ForceForSubscribers($input: ForceRefreshInput!) {\n    forceRefresh(input: $input) { __typename ... on ForceRefreshPayload { run { id } } }\n  }\n": typeof types.ForceForSubscribersDocument,
    "\n  subscription Progress($runId: ID!) {\n    runProgress(runId: $runId) { status rowsProcessed totalRows percent finished run { tableName } }\n  }\n": typeof types.ProgressDocument,
    "\n  query TableStates {\n    tableHealth { table state reasons late freshnessSlaHours latestRun { databaseId status } }\n    runnerStatus { queueDepth }\n    refreshPlan(hours: 24) { items { table state notes } }\n  }\n": typeof types.TableStatesDocument,
    "\n  mutation TextRegister($input: RegisterTableInput!) {\n    registerTable(input: $input) { __typename ... on ValidationError { field issues { path message } } }\n  }\n": typeof types.TextRegisterDocument,
    "\n  mutation ValidationRegister($input: RegisterTableInput!) {\n    registerTable(input: $input) {\n      __typename\n      ... on ValidationError { field issues { path message } }\n      ... on RegisterTablePayload { config { tableName customSyncParams } }\n    }\n  }\n": typeof types.ValidationRegisterDocument,
    "\n  mutation ValidationUpdate($input: UpdateRefreshConfigInput!) {\n    updateRefreshConfig(input: $input) {\n      __typename\n      ... on ValidationError { field issues { path message } }\n      ... on UpdateRefreshConfigPayload { config { customSyncParams } }\n    }\n  }\n": typeof types.ValidationUpdateDocument,
    "\n  mutation ValidationSchedule($input: ScheduleRefreshInput!) {\n    scheduleRefresh(input: $input) {\n      __typename\n      ... on Error { message }\n      ... on ValidationError { field issues { path message } }\n      ... on ConflictError { field }\n      ... on ScheduleRefreshPayload { config { nextRefreshAt } }\n    }\n  }\n": typeof types.ValidationScheduleDocument,
    "\n  mutation ValidationForce($input: ForceRefreshInput!) {\n    forceRefresh(input: $input) { __typename ... on ValidationError { field } ... on ConflictError { field } }\n  }\n": typeof types.ValidationForceDocument,
};
const documents: Documents = {
    "\n  mutation AlertsCreateDestination($input: CreateAlertDestinationInput!) {\n    createAlertDestination(input: $input) {\n      __typename\n      ... on CreateAlertDestinationPayload { destination { id databaseId name url host format events secretSet enabled state } }\n      ... on Error { message }\n      ... on ValidationError { field issues { path message } }\n      ... on ConflictError { field }\n    }\n  }\n": types.AlertsCreateDestinationDocument,
    "\n  mutation AlertsUpdateDestination($input: UpdateAlertDestinationInput!) {\n    updateAlertDestination(input: $input) {\n      __typename\n      ... on UpdateAlertDestinationPayload { destination { name url state enabled failingSince disabledReason events } }\n      ... on Error { message }\n      ... on ValidationError { field }\n      ... on ConflictError { field }\n      ... on NotFoundError { field }\n    }\n  }\n": types.AlertsUpdateDestinationDocument,
    "\n  mutation AlertsDeleteDestination($input: DeleteAlertDestinationInput!) {\n    deleteAlertDestination(input: $input) {\n      __typename\n      ... on DeleteAlertDestinationPayload { deletedId name }\n      ... on Error { message }\n    }\n  }\n": types.AlertsDeleteDestinationDocument,
    "\n  query AlertsDestinations {\n    alertDestinations {\n      name url host format events secretSet enabled state failingSince lastError lastSuccessAt disabledAt disabledReason\n      deliveries(first: 10) { totalCount edges { node { status abandonReason attempts { outcome } } } }\n    }\n  }\n": types.AlertsDestinationsDocument,
    "\n  query AlertsList($filter: AlertFilter) {\n    alerts(first: 20, filter: $filter) {\n      totalCount\n      edges {\n        node {\n          eventId kind tableSchema tableName reason occurredAt\n          config { tableName }\n          run { databaseId }\n          deliveries {\n            status deliveredAt nextAttemptAt abandonReason\n            destination { name state }\n            attempts { attempt workerName startedAt finishedAt outcome httpStatus error durationMs responseExcerpt }\n          }\n        }\n      }\n    }\n  }\n": types.AlertsListDocument,
    "subscription ChaosEvents($filter: RefreshEventFilter) { refreshEvents(filter: $filter) { __typename } }": types.ChaosEventsDocument,
    "mutation ChaosForce($input: ForceRefreshInput!) { forceRefresh(input: $input) { __typename } }": types.ChaosForceDocument,
    "\n  subscription DashboardEvents($filter: RefreshEventFilter, $after: ID) {\n    refreshEvents(filter: $filter, after: $after) { __typename ... on RefreshEvent { id tableName } }\n  }\n": types.DashboardEventsDocument,
    "\n  mutation DashboardForce($input: ForceRefreshInput!) {\n    forceRefresh(input: $input) { __typename }\n  }\n": types.DashboardForceDocument,
    "\n  subscription DashboardProgress($runId: ID!, $after: ID) {\n    runProgress(runId: $runId, after: $after) { eventId rowsProcessed finished status }\n  }\n": types.DashboardProgressDocument,
    "\n  query DueTables($due: Boolean!) {\n    refreshConfigs(first: 100, filter: { due: $due, search: \"due_case_\" }) { edges { node { tableName } } }\n  }\n": types.DueTablesDocument,
    "\n  subscription BudgetEvents($filter: RefreshEventFilter) {\n    refreshEvents(filter: $filter) {\n      __typename\n      ... on RefreshEvent { id tableName }\n      ... on RunProgress { rowsProcessed }\n      ... on QualityMetricRecorded { metricName }\n    }\n  }\n": types.BudgetEventsDocument,
    "\n  subscription StormEvents($after: ID) {\n    refreshEvents(after: $after) {\n      __typename\n      ... on RefreshEvent { id }\n      ... on RunStarted { runId }\n      ... on RunProgress { runId }\n      ... on QualityMetricRecorded { runId }\n      ... on RunFinished { runId }\n    }\n  }\n": types.StormEventsDocument,
    "subscription AuthEvents { refreshEvents { __typename } }": types.AuthEventsDocument,
    "\n  mutation StartBackfill($input: StartBackfillInput!) {\n    startBackfill(input: $input) {\n      __typename\n      ... on StartBackfillPayload { dryRun estimatedBytes remainingBudgetBytes chunks { position tableName from to estimatedBytes } backfill { id status chunksTotal } }\n      ... on Error { message }\n      ... on ValidationError { field }\n      ... on ConflictError { field }\n    }\n  }\n": types.StartBackfillDocument,
    "\n  subscription BackfillProgress($id: ID!) {\n    backfillProgress(id: $id) { id status chunksDone chunksTotal percent }\n  }\n": types.BackfillProgressDocument,
    "\n  query ReadBackfill($ids: [ID!]!) {\n    nodes(ids: $ids) {\n      ... on Backfill { id status from to chunksDone chunksTotal rowsProcessed bytesBilled errors chunks { position state from to runs bytesBilled run { id status } } }\n    }\n  }\n": types.ReadBackfillDocument,
    "query Viewer { viewer { name scopes tokenRefused } }": types.ViewerDocument,
    "\n      query Counts {\n        all: refreshConfigs(first: 1) { totalCount edges { node { tableName } } }\n        disabled: refreshConfigs(first: 1, filter: { isEnabled: false }) { totalCount }\n        failedRuns: refreshRuns(first: 1, filter: { status: FAILED }) { totalCount }\n        refreshConfig(tableSchema: \"sqp\", tableName: \"weekly_summary\") { runs(first: 2) { totalCount edges { node { id } } } }\n        refreshCheckpoints(first: 1) { totalCount }\n        qualityMetrics(first: 1) { totalCount }\n      }\n    ": types.CountsDocument,
    "\n      query Outcomes { refreshRuns(first: 10, filter: { tableName: \"weekly_summary\" }) { edges { node { status outcome } } } }\n    ": types.OutcomesDocument,
    "\n    subscription RunProgressOutcome($runId: ID!) { runProgress(runId: $runId) { status outcome rowsProcessed totalRows percent finished } }\n  ": types.RunProgressOutcomeDocument,
    "\n      query RunStatistics($since: DateTime!, $bucket: StatisticsBucket, $tableName: String) {\n        refreshRunStatistics(since: $since, bucket: $bucket, tableName: $tableName) {\n          tableName periodStart periodEnd runs completed failed cancelled paused successRate p50DurationMs p95DurationMs rowsProcessed bytesBilled\n        }\n      }\n    ": types.RunStatisticsDocument,
    "\n  mutation Force($input: ForceRefreshInput!) {\n    forceRefresh(input: $input) {\n      __typename\n      ... on Error { message }\n      ... on NotFoundError { field value }\n      ... on ValidationError { field issues { path message } }\n      ... on ConflictError { field }\n      ... on BudgetExceededError { neededBytes remainingBytes }\n      ... on ForceRefreshPayload {\n        dryRun queued estimatedBytes remainingBudgetBytes\n        run { id databaseId status tableName }\n        plan { position table reason state }\n      }\n    }\n  }\n": types.ForceDocument,
    "query RunStatus($id: ID!) { node(id: $id) { ... on RefreshRun { status rowsProcessed errorMessage errorDetails syncMetadata } } }": types.RunStatusDocument,
    "\n  mutation Cancel($input: CancelRefreshInput!) {\n    cancelRefresh(input: $input) {\n      __typename\n      ... on Error { message }\n      ... on NotFoundError { field }\n      ... on ConflictError { field }\n      ... on ValidationError { field }\n      ... on CancelRefreshPayload { finished run { status errorMessage rowsProcessed } }\n    }\n  }\n": types.CancelDocument,
    "\n  mutation Schedule($input: ScheduleRefreshInput!) {\n    scheduleRefresh(input: $input) { __typename ... on Error { message } ... on ScheduleRefreshPayload { config { tableName nextRefreshAt } } }\n  }\n": types.ScheduleDocument,
    "\n  mutation Update($input: UpdateRefreshConfigInput!) {\n    updateRefreshConfig(input: $input) {\n      __typename\n      ... on ValidationError { field issues { path message } }\n      ... on NotFoundError { field }\n      ... on UpdateRefreshConfigPayload { config { priority refreshFrequencyHours isEnabled customSyncParams } }\n    }\n  }\n": types.UpdateDocument,
    "\n  mutation Register($input: RegisterTableInput!) {\n    registerTable(input: $input) {\n      __typename\n      ... on Error { message }\n      ... on NotFoundError { field }\n      ... on ConflictError { field }\n      ... on RegisterTablePayload { config { id tableName priority } }\n    }\n  }\n": types.RegisterDocument,
    "\n  mutation AddDep($input: AddRefreshDependencyInput!) {\n    addRefreshDependency(input: $input) {\n      __typename\n      ... on Error { message }\n      ... on CycleError { cycle }\n      ... on NotFoundError { field }\n      ... on AddRefreshDependencyPayload { dependency { id dependencyType parent { tableName } dependent { tableName dependencies } } }\n    }\n  }\n": types.AddDepDocument,
    "\n  mutation RemoveDep($input: RemoveRefreshDependencyInput!) {\n    removeRefreshDependency(input: $input) { __typename ... on NotFoundError { field } ... on RemoveRefreshDependencyPayload { removedId dependent { dependencies } } }\n  }\n": types.RemoveDepDocument,
    "query NodeOrNull($id: ID!) { node(id: $id) { __typename id ... on RefreshConfig { tableName } } }": types.NodeOrNullDocument,
    "query NodesWithGaps($ids: [ID!]!) { nodes(ids: $ids) { __typename id ... on RefreshConfig { tableName } } }": types.NodesWithGapsDocument,
    "\n  query Plan($hours: Int!) {\n    refreshPlan(hours: $hours) {\n      horizonHours\n      total\n      items { position table reason state notes cascadeFrom configId }\n      cycles { tables }\n    }\n  }\n": types.PlanDocument,
    "\n  query Configs($first: Int, $after: String, $filter: RefreshConfigFilter) {\n    refreshConfigs(first: $first, after: $after, filter: $filter) {\n      edges {\n        cursor\n        node {\n          id\n          tableSchema\n          tableName\n          priority\n          isEnabled\n          nextRefreshAt\n          dependencies\n          parents { tableName }\n          dependents { tableName }\n          latestRun { status bigqueryJobId }\n        }\n      }\n      pageInfo { hasNextPage endCursor }\n    }\n  }\n": types.ConfigsDocument,
    "\n  query OneConfig($tableSchema: String!, $tableName: String!) {\n    refreshConfig(tableSchema: $tableSchema, tableName: $tableName) {\n      id\n      tableName\n      runs(first: 10) {\n        edges {\n          node {\n            id\n            status\n            rowsProcessed\n            memoryUsedMb\n            errorMessage\n            config { tableName }\n            qualityMetrics { metricName metricValue thresholdMax isWithinThreshold }\n          }\n        }\n      }\n    }\n  }\n": types.OneConfigDocument,
    "\n    query Runs($filter: RefreshRunFilter) {\n      refreshRuns(first: 10, filter: $filter) { edges { node { id tableName status } } }\n    }\n  ": types.RunsDocument,
    "\n    query CheckpointsAndMetrics($status: CheckpointStatus, $within: Boolean) {\n      refreshCheckpoints(filter: { status: $status }) {\n        edges { node { id tableName functionName status lastProcessedRow totalRows checkpointData } }\n      }\n      qualityMetrics(filter: { isWithinThreshold: $within }) {\n        edges { node { id metricName run { tableName } } }\n      }\n    }\n  ": types.CheckpointsAndMetricsDocument,
    "\n    query NodeLookup($id: ID!) {\n      node(id: $id) {\n        __typename\n        id\n        ... on RefreshConfig { tableName }\n        ... on RefreshRun { status }\n        ... on RefreshCheckpoint { tableName }\n        ... on QualityMetric { metricName }\n        ... on RefreshDependency { parent { tableName } dependent { tableName } dependencyType }\n      }\n    }\n  ": types.NodeLookupDocument,
    "\n      query Ids {\n        refreshConfig(tableSchema: \"sqp\", tableName: \"weekly_summary\") {\n          id\n          parentDependencies { id }\n        }\n        refreshRuns(first: 1) { edges { node { id } } }\n        refreshCheckpoints { edges { node { id } } }\n        qualityMetrics(first: 1) { edges { node { id } } }\n      }\n    ": types.IdsDocument,
    "\n  query OpenAlertsNow {\n    openAlerts {\n      kind table tableSchema tableName since reason\n      run { databaseId status }\n      config { tableName }\n      alert { eventId occurredAt }\n      deliveries { pending delivered abandoned total }\n    }\n  }\n": types.OpenAlertsNowDocument,
    "\n  query ReadModelStates {\n    tableHealth { table state reasons failureStreak qualityVerdict bytesBilledToday latestRun { databaseId } }\n    runnerStatus { queueDepth runsInFlight { run { databaseId config { tableName } } } }\n  }\n": types.ReadModelStatesDocument,
    "\n  mutation RegisterUserTable($input: RegisterTableInput!) {\n    registerTable(input: $input) {\n      __typename\n      ... on RegisterTablePayload { config { tableSchema tableName } }\n      ... on ValidationError { field message issues { path message } }\n      ... on Error { message }\n    }\n  }\n": types.RegisterUserTableDocument,
    "\n  subscription ReplicaEvents($filter: RefreshEventFilter) {\n    refreshEvents(filter: $filter) { __typename ... on RunProgress { rowsProcessed } ... on RunFinished { status rowsProcessed } }\n  }\n": types.ReplicaEventsDocument,
    "\n  mutation ForceOnA($input: ForceRefreshInput!) {\n    forceRefresh(input: $input) { __typename ... on ForceRefreshPayload { run { id syncMetadata } } }\n  }\n": types.ForceOnADocument,
    "query ReplicaStatus { runnerStatus { replicas { workerName alive } } }": types.ReplicaStatusDocument,
    "\n  query RetryPolicyHealth {\n    tableHealth { table state }\n  }\n": types.RetryPolicyHealthDocument,
    "\n  mutation GroupForce($input: ForceRefreshInput!) {\n    forceRefresh(input: $input) { ... on ForceRefreshPayload { run { id } } ... on Error { message } }\n  }\n": types.GroupForceDocument,
    "\n  subscription GroupProgress($runId: ID!) {\n    runProgress(runId: $runId) { rowsProcessed finished status }\n  }\n": types.GroupProgressDocument,
    "\n  subscription GroupEvents($filter: RefreshEventFilter) {\n    refreshEvents(filter: $filter) {\n      __typename\n      ... on RefreshEvent { id tableName }\n      ... on RunProgress { rowsProcessed }\n      ... on RunBlocked { reasons }\n    }\n  }\n": types.GroupEventsDocument,
    "\n  subscription TableEvents($filter: RefreshEventFilter) {\n    refreshEvents(filter: $filter) {\n      __typename\n      ... on RefreshEvent { tableName }\n      ... on RunStarted { runId resumed }\n      ... on RunProgress { runId rowsProcessed totalRows percent rowsPerSecond etaSeconds }\n      ... on RunFinished { runId status outcome rowsProcessed }\n    }\n  }\n": types.TableEventsDocument,
    "\n  mutation ForceForSubscribers($input: ForceRefreshInput!) {\n    forceRefresh(input: $input) { __typename ... on ForceRefreshPayload { run { id } } }\n  }\n": types.ForceForSubscribersDocument,
    "\n  subscription Progress($runId: ID!) {\n    runProgress(runId: $runId) { status rowsProcessed totalRows percent finished run { tableName } }\n  }\n": types.ProgressDocument,
    "\n  query TableStates {\n    tableHealth { table state reasons late freshnessSlaHours latestRun { databaseId status } }\n    runnerStatus { queueDepth }\n    refreshPlan(hours: 24) { items { table state notes } }\n  }\n": types.TableStatesDocument,
    "\n  mutation TextRegister($input: RegisterTableInput!) {\n    registerTable(input: $input) { __typename ... on ValidationError { field issues { path message } } }\n  }\n": types.TextRegisterDocument,
    "\n  mutation ValidationRegister($input: RegisterTableInput!) {\n    registerTable(input: $input) {\n      __typename\n      ... on ValidationError { field issues { path message } }\n      ... on RegisterTablePayload { config { tableName customSyncParams } }\n    }\n  }\n": types.ValidationRegisterDocument,
    "\n  mutation ValidationUpdate($input: UpdateRefreshConfigInput!) {\n    updateRefreshConfig(input: $input) {\n      __typename\n      ... on ValidationError { field issues { path message } }\n      ... on UpdateRefreshConfigPayload { config { customSyncParams } }\n    }\n  }\n": types.ValidationUpdateDocument,
    "\n  mutation ValidationSchedule($input: ScheduleRefreshInput!) {\n    scheduleRefresh(input: $input) {\n      __typename\n      ... on Error { message }\n      ... on ValidationError { field issues { path message } }\n      ... on ConflictError { field }\n      ... on ScheduleRefreshPayload { config { nextRefreshAt } }\n    }\n  }\n": types.ValidationScheduleDocument,
    "\n  mutation ValidationForce($input: ForceRefreshInput!) {\n    forceRefresh(input: $input) { __typename ... on ValidationError { field } ... on ConflictError { field } }\n  }\n": types.ValidationForceDocument,
};

/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 *
 *
 * @example
 * ```ts
 * const query = graphql(`query GetUser($id: ID!) { user(id: $id) { name } }`);
 * ```
 *
 * The query argument is unknown!
 * Please regenerate the types.
 */
export function graphql(source: string): unknown;

/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation AlertsCreateDestination($input: CreateAlertDestinationInput!) {\n    createAlertDestination(input: $input) {\n      __typename\n      ... on CreateAlertDestinationPayload { destination { id databaseId name url host format events secretSet enabled state } }\n      ... on Error { message }\n      ... on ValidationError { field issues { path message } }\n      ... on ConflictError { field }\n    }\n  }\n"): (typeof documents)["\n  mutation AlertsCreateDestination($input: CreateAlertDestinationInput!) {\n    createAlertDestination(input: $input) {\n      __typename\n      ... on CreateAlertDestinationPayload { destination { id databaseId name url host format events secretSet enabled state } }\n      ... on Error { message }\n      ... on ValidationError { field issues { path message } }\n      ... on ConflictError { field }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation AlertsUpdateDestination($input: UpdateAlertDestinationInput!) {\n    updateAlertDestination(input: $input) {\n      __typename\n      ... on UpdateAlertDestinationPayload { destination { name url state enabled failingSince disabledReason events } }\n      ... on Error { message }\n      ... on ValidationError { field }\n      ... on ConflictError { field }\n      ... on NotFoundError { field }\n    }\n  }\n"): (typeof documents)["\n  mutation AlertsUpdateDestination($input: UpdateAlertDestinationInput!) {\n    updateAlertDestination(input: $input) {\n      __typename\n      ... on UpdateAlertDestinationPayload { destination { name url state enabled failingSince disabledReason events } }\n      ... on Error { message }\n      ... on ValidationError { field }\n      ... on ConflictError { field }\n      ... on NotFoundError { field }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation AlertsDeleteDestination($input: DeleteAlertDestinationInput!) {\n    deleteAlertDestination(input: $input) {\n      __typename\n      ... on DeleteAlertDestinationPayload { deletedId name }\n      ... on Error { message }\n    }\n  }\n"): (typeof documents)["\n  mutation AlertsDeleteDestination($input: DeleteAlertDestinationInput!) {\n    deleteAlertDestination(input: $input) {\n      __typename\n      ... on DeleteAlertDestinationPayload { deletedId name }\n      ... on Error { message }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query AlertsDestinations {\n    alertDestinations {\n      name url host format events secretSet enabled state failingSince lastError lastSuccessAt disabledAt disabledReason\n      deliveries(first: 10) { totalCount edges { node { status abandonReason attempts { outcome } } } }\n    }\n  }\n"): (typeof documents)["\n  query AlertsDestinations {\n    alertDestinations {\n      name url host format events secretSet enabled state failingSince lastError lastSuccessAt disabledAt disabledReason\n      deliveries(first: 10) { totalCount edges { node { status abandonReason attempts { outcome } } } }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query AlertsList($filter: AlertFilter) {\n    alerts(first: 20, filter: $filter) {\n      totalCount\n      edges {\n        node {\n          eventId kind tableSchema tableName reason occurredAt\n          config { tableName }\n          run { databaseId }\n          deliveries {\n            status deliveredAt nextAttemptAt abandonReason\n            destination { name state }\n            attempts { attempt workerName startedAt finishedAt outcome httpStatus error durationMs responseExcerpt }\n          }\n        }\n      }\n    }\n  }\n"): (typeof documents)["\n  query AlertsList($filter: AlertFilter) {\n    alerts(first: 20, filter: $filter) {\n      totalCount\n      edges {\n        node {\n          eventId kind tableSchema tableName reason occurredAt\n          config { tableName }\n          run { databaseId }\n          deliveries {\n            status deliveredAt nextAttemptAt abandonReason\n            destination { name state }\n            attempts { attempt workerName startedAt finishedAt outcome httpStatus error durationMs responseExcerpt }\n          }\n        }\n      }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "subscription ChaosEvents($filter: RefreshEventFilter) { refreshEvents(filter: $filter) { __typename } }"): (typeof documents)["subscription ChaosEvents($filter: RefreshEventFilter) { refreshEvents(filter: $filter) { __typename } }"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "mutation ChaosForce($input: ForceRefreshInput!) { forceRefresh(input: $input) { __typename } }"): (typeof documents)["mutation ChaosForce($input: ForceRefreshInput!) { forceRefresh(input: $input) { __typename } }"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  subscription DashboardEvents($filter: RefreshEventFilter, $after: ID) {\n    refreshEvents(filter: $filter, after: $after) { __typename ... on RefreshEvent { id tableName } }\n  }\n"): (typeof documents)["\n  subscription DashboardEvents($filter: RefreshEventFilter, $after: ID) {\n    refreshEvents(filter: $filter, after: $after) { __typename ... on RefreshEvent { id tableName } }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation DashboardForce($input: ForceRefreshInput!) {\n    forceRefresh(input: $input) { __typename }\n  }\n"): (typeof documents)["\n  mutation DashboardForce($input: ForceRefreshInput!) {\n    forceRefresh(input: $input) { __typename }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  subscription DashboardProgress($runId: ID!, $after: ID) {\n    runProgress(runId: $runId, after: $after) { eventId rowsProcessed finished status }\n  }\n"): (typeof documents)["\n  subscription DashboardProgress($runId: ID!, $after: ID) {\n    runProgress(runId: $runId, after: $after) { eventId rowsProcessed finished status }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query DueTables($due: Boolean!) {\n    refreshConfigs(first: 100, filter: { due: $due, search: \"due_case_\" }) { edges { node { tableName } } }\n  }\n"): (typeof documents)["\n  query DueTables($due: Boolean!) {\n    refreshConfigs(first: 100, filter: { due: $due, search: \"due_case_\" }) { edges { node { tableName } } }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  subscription BudgetEvents($filter: RefreshEventFilter) {\n    refreshEvents(filter: $filter) {\n      __typename\n      ... on RefreshEvent { id tableName }\n      ... on RunProgress { rowsProcessed }\n      ... on QualityMetricRecorded { metricName }\n    }\n  }\n"): (typeof documents)["\n  subscription BudgetEvents($filter: RefreshEventFilter) {\n    refreshEvents(filter: $filter) {\n      __typename\n      ... on RefreshEvent { id tableName }\n      ... on RunProgress { rowsProcessed }\n      ... on QualityMetricRecorded { metricName }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  subscription StormEvents($after: ID) {\n    refreshEvents(after: $after) {\n      __typename\n      ... on RefreshEvent { id }\n      ... on RunStarted { runId }\n      ... on RunProgress { runId }\n      ... on QualityMetricRecorded { runId }\n      ... on RunFinished { runId }\n    }\n  }\n"): (typeof documents)["\n  subscription StormEvents($after: ID) {\n    refreshEvents(after: $after) {\n      __typename\n      ... on RefreshEvent { id }\n      ... on RunStarted { runId }\n      ... on RunProgress { runId }\n      ... on QualityMetricRecorded { runId }\n      ... on RunFinished { runId }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "subscription AuthEvents { refreshEvents { __typename } }"): (typeof documents)["subscription AuthEvents { refreshEvents { __typename } }"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation StartBackfill($input: StartBackfillInput!) {\n    startBackfill(input: $input) {\n      __typename\n      ... on StartBackfillPayload { dryRun estimatedBytes remainingBudgetBytes chunks { position tableName from to estimatedBytes } backfill { id status chunksTotal } }\n      ... on Error { message }\n      ... on ValidationError { field }\n      ... on ConflictError { field }\n    }\n  }\n"): (typeof documents)["\n  mutation StartBackfill($input: StartBackfillInput!) {\n    startBackfill(input: $input) {\n      __typename\n      ... on StartBackfillPayload { dryRun estimatedBytes remainingBudgetBytes chunks { position tableName from to estimatedBytes } backfill { id status chunksTotal } }\n      ... on Error { message }\n      ... on ValidationError { field }\n      ... on ConflictError { field }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  subscription BackfillProgress($id: ID!) {\n    backfillProgress(id: $id) { id status chunksDone chunksTotal percent }\n  }\n"): (typeof documents)["\n  subscription BackfillProgress($id: ID!) {\n    backfillProgress(id: $id) { id status chunksDone chunksTotal percent }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query ReadBackfill($ids: [ID!]!) {\n    nodes(ids: $ids) {\n      ... on Backfill { id status from to chunksDone chunksTotal rowsProcessed bytesBilled errors chunks { position state from to runs bytesBilled run { id status } } }\n    }\n  }\n"): (typeof documents)["\n  query ReadBackfill($ids: [ID!]!) {\n    nodes(ids: $ids) {\n      ... on Backfill { id status from to chunksDone chunksTotal rowsProcessed bytesBilled errors chunks { position state from to runs bytesBilled run { id status } } }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "query Viewer { viewer { name scopes tokenRefused } }"): (typeof documents)["query Viewer { viewer { name scopes tokenRefused } }"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n      query Counts {\n        all: refreshConfigs(first: 1) { totalCount edges { node { tableName } } }\n        disabled: refreshConfigs(first: 1, filter: { isEnabled: false }) { totalCount }\n        failedRuns: refreshRuns(first: 1, filter: { status: FAILED }) { totalCount }\n        refreshConfig(tableSchema: \"sqp\", tableName: \"weekly_summary\") { runs(first: 2) { totalCount edges { node { id } } } }\n        refreshCheckpoints(first: 1) { totalCount }\n        qualityMetrics(first: 1) { totalCount }\n      }\n    "): (typeof documents)["\n      query Counts {\n        all: refreshConfigs(first: 1) { totalCount edges { node { tableName } } }\n        disabled: refreshConfigs(first: 1, filter: { isEnabled: false }) { totalCount }\n        failedRuns: refreshRuns(first: 1, filter: { status: FAILED }) { totalCount }\n        refreshConfig(tableSchema: \"sqp\", tableName: \"weekly_summary\") { runs(first: 2) { totalCount edges { node { id } } } }\n        refreshCheckpoints(first: 1) { totalCount }\n        qualityMetrics(first: 1) { totalCount }\n      }\n    "];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n      query Outcomes { refreshRuns(first: 10, filter: { tableName: \"weekly_summary\" }) { edges { node { status outcome } } } }\n    "): (typeof documents)["\n      query Outcomes { refreshRuns(first: 10, filter: { tableName: \"weekly_summary\" }) { edges { node { status outcome } } } }\n    "];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n    subscription RunProgressOutcome($runId: ID!) { runProgress(runId: $runId) { status outcome rowsProcessed totalRows percent finished } }\n  "): (typeof documents)["\n    subscription RunProgressOutcome($runId: ID!) { runProgress(runId: $runId) { status outcome rowsProcessed totalRows percent finished } }\n  "];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n      query RunStatistics($since: DateTime!, $bucket: StatisticsBucket, $tableName: String) {\n        refreshRunStatistics(since: $since, bucket: $bucket, tableName: $tableName) {\n          tableName periodStart periodEnd runs completed failed cancelled paused successRate p50DurationMs p95DurationMs rowsProcessed bytesBilled\n        }\n      }\n    "): (typeof documents)["\n      query RunStatistics($since: DateTime!, $bucket: StatisticsBucket, $tableName: String) {\n        refreshRunStatistics(since: $since, bucket: $bucket, tableName: $tableName) {\n          tableName periodStart periodEnd runs completed failed cancelled paused successRate p50DurationMs p95DurationMs rowsProcessed bytesBilled\n        }\n      }\n    "];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation Force($input: ForceRefreshInput!) {\n    forceRefresh(input: $input) {\n      __typename\n      ... on Error { message }\n      ... on NotFoundError { field value }\n      ... on ValidationError { field issues { path message } }\n      ... on ConflictError { field }\n      ... on BudgetExceededError { neededBytes remainingBytes }\n      ... on ForceRefreshPayload {\n        dryRun queued estimatedBytes remainingBudgetBytes\n        run { id databaseId status tableName }\n        plan { position table reason state }\n      }\n    }\n  }\n"): (typeof documents)["\n  mutation Force($input: ForceRefreshInput!) {\n    forceRefresh(input: $input) {\n      __typename\n      ... on Error { message }\n      ... on NotFoundError { field value }\n      ... on ValidationError { field issues { path message } }\n      ... on ConflictError { field }\n      ... on BudgetExceededError { neededBytes remainingBytes }\n      ... on ForceRefreshPayload {\n        dryRun queued estimatedBytes remainingBudgetBytes\n        run { id databaseId status tableName }\n        plan { position table reason state }\n      }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "query RunStatus($id: ID!) { node(id: $id) { ... on RefreshRun { status rowsProcessed errorMessage errorDetails syncMetadata } } }"): (typeof documents)["query RunStatus($id: ID!) { node(id: $id) { ... on RefreshRun { status rowsProcessed errorMessage errorDetails syncMetadata } } }"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation Cancel($input: CancelRefreshInput!) {\n    cancelRefresh(input: $input) {\n      __typename\n      ... on Error { message }\n      ... on NotFoundError { field }\n      ... on ConflictError { field }\n      ... on ValidationError { field }\n      ... on CancelRefreshPayload { finished run { status errorMessage rowsProcessed } }\n    }\n  }\n"): (typeof documents)["\n  mutation Cancel($input: CancelRefreshInput!) {\n    cancelRefresh(input: $input) {\n      __typename\n      ... on Error { message }\n      ... on NotFoundError { field }\n      ... on ConflictError { field }\n      ... on ValidationError { field }\n      ... on CancelRefreshPayload { finished run { status errorMessage rowsProcessed } }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation Schedule($input: ScheduleRefreshInput!) {\n    scheduleRefresh(input: $input) { __typename ... on Error { message } ... on ScheduleRefreshPayload { config { tableName nextRefreshAt } } }\n  }\n"): (typeof documents)["\n  mutation Schedule($input: ScheduleRefreshInput!) {\n    scheduleRefresh(input: $input) { __typename ... on Error { message } ... on ScheduleRefreshPayload { config { tableName nextRefreshAt } } }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation Update($input: UpdateRefreshConfigInput!) {\n    updateRefreshConfig(input: $input) {\n      __typename\n      ... on ValidationError { field issues { path message } }\n      ... on NotFoundError { field }\n      ... on UpdateRefreshConfigPayload { config { priority refreshFrequencyHours isEnabled customSyncParams } }\n    }\n  }\n"): (typeof documents)["\n  mutation Update($input: UpdateRefreshConfigInput!) {\n    updateRefreshConfig(input: $input) {\n      __typename\n      ... on ValidationError { field issues { path message } }\n      ... on NotFoundError { field }\n      ... on UpdateRefreshConfigPayload { config { priority refreshFrequencyHours isEnabled customSyncParams } }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation Register($input: RegisterTableInput!) {\n    registerTable(input: $input) {\n      __typename\n      ... on Error { message }\n      ... on NotFoundError { field }\n      ... on ConflictError { field }\n      ... on RegisterTablePayload { config { id tableName priority } }\n    }\n  }\n"): (typeof documents)["\n  mutation Register($input: RegisterTableInput!) {\n    registerTable(input: $input) {\n      __typename\n      ... on Error { message }\n      ... on NotFoundError { field }\n      ... on ConflictError { field }\n      ... on RegisterTablePayload { config { id tableName priority } }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation AddDep($input: AddRefreshDependencyInput!) {\n    addRefreshDependency(input: $input) {\n      __typename\n      ... on Error { message }\n      ... on CycleError { cycle }\n      ... on NotFoundError { field }\n      ... on AddRefreshDependencyPayload { dependency { id dependencyType parent { tableName } dependent { tableName dependencies } } }\n    }\n  }\n"): (typeof documents)["\n  mutation AddDep($input: AddRefreshDependencyInput!) {\n    addRefreshDependency(input: $input) {\n      __typename\n      ... on Error { message }\n      ... on CycleError { cycle }\n      ... on NotFoundError { field }\n      ... on AddRefreshDependencyPayload { dependency { id dependencyType parent { tableName } dependent { tableName dependencies } } }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation RemoveDep($input: RemoveRefreshDependencyInput!) {\n    removeRefreshDependency(input: $input) { __typename ... on NotFoundError { field } ... on RemoveRefreshDependencyPayload { removedId dependent { dependencies } } }\n  }\n"): (typeof documents)["\n  mutation RemoveDep($input: RemoveRefreshDependencyInput!) {\n    removeRefreshDependency(input: $input) { __typename ... on NotFoundError { field } ... on RemoveRefreshDependencyPayload { removedId dependent { dependencies } } }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "query NodeOrNull($id: ID!) { node(id: $id) { __typename id ... on RefreshConfig { tableName } } }"): (typeof documents)["query NodeOrNull($id: ID!) { node(id: $id) { __typename id ... on RefreshConfig { tableName } } }"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "query NodesWithGaps($ids: [ID!]!) { nodes(ids: $ids) { __typename id ... on RefreshConfig { tableName } } }"): (typeof documents)["query NodesWithGaps($ids: [ID!]!) { nodes(ids: $ids) { __typename id ... on RefreshConfig { tableName } } }"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query Plan($hours: Int!) {\n    refreshPlan(hours: $hours) {\n      horizonHours\n      total\n      items { position table reason state notes cascadeFrom configId }\n      cycles { tables }\n    }\n  }\n"): (typeof documents)["\n  query Plan($hours: Int!) {\n    refreshPlan(hours: $hours) {\n      horizonHours\n      total\n      items { position table reason state notes cascadeFrom configId }\n      cycles { tables }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query Configs($first: Int, $after: String, $filter: RefreshConfigFilter) {\n    refreshConfigs(first: $first, after: $after, filter: $filter) {\n      edges {\n        cursor\n        node {\n          id\n          tableSchema\n          tableName\n          priority\n          isEnabled\n          nextRefreshAt\n          dependencies\n          parents { tableName }\n          dependents { tableName }\n          latestRun { status bigqueryJobId }\n        }\n      }\n      pageInfo { hasNextPage endCursor }\n    }\n  }\n"): (typeof documents)["\n  query Configs($first: Int, $after: String, $filter: RefreshConfigFilter) {\n    refreshConfigs(first: $first, after: $after, filter: $filter) {\n      edges {\n        cursor\n        node {\n          id\n          tableSchema\n          tableName\n          priority\n          isEnabled\n          nextRefreshAt\n          dependencies\n          parents { tableName }\n          dependents { tableName }\n          latestRun { status bigqueryJobId }\n        }\n      }\n      pageInfo { hasNextPage endCursor }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query OneConfig($tableSchema: String!, $tableName: String!) {\n    refreshConfig(tableSchema: $tableSchema, tableName: $tableName) {\n      id\n      tableName\n      runs(first: 10) {\n        edges {\n          node {\n            id\n            status\n            rowsProcessed\n            memoryUsedMb\n            errorMessage\n            config { tableName }\n            qualityMetrics { metricName metricValue thresholdMax isWithinThreshold }\n          }\n        }\n      }\n    }\n  }\n"): (typeof documents)["\n  query OneConfig($tableSchema: String!, $tableName: String!) {\n    refreshConfig(tableSchema: $tableSchema, tableName: $tableName) {\n      id\n      tableName\n      runs(first: 10) {\n        edges {\n          node {\n            id\n            status\n            rowsProcessed\n            memoryUsedMb\n            errorMessage\n            config { tableName }\n            qualityMetrics { metricName metricValue thresholdMax isWithinThreshold }\n          }\n        }\n      }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n    query Runs($filter: RefreshRunFilter) {\n      refreshRuns(first: 10, filter: $filter) { edges { node { id tableName status } } }\n    }\n  "): (typeof documents)["\n    query Runs($filter: RefreshRunFilter) {\n      refreshRuns(first: 10, filter: $filter) { edges { node { id tableName status } } }\n    }\n  "];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n    query CheckpointsAndMetrics($status: CheckpointStatus, $within: Boolean) {\n      refreshCheckpoints(filter: { status: $status }) {\n        edges { node { id tableName functionName status lastProcessedRow totalRows checkpointData } }\n      }\n      qualityMetrics(filter: { isWithinThreshold: $within }) {\n        edges { node { id metricName run { tableName } } }\n      }\n    }\n  "): (typeof documents)["\n    query CheckpointsAndMetrics($status: CheckpointStatus, $within: Boolean) {\n      refreshCheckpoints(filter: { status: $status }) {\n        edges { node { id tableName functionName status lastProcessedRow totalRows checkpointData } }\n      }\n      qualityMetrics(filter: { isWithinThreshold: $within }) {\n        edges { node { id metricName run { tableName } } }\n      }\n    }\n  "];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n    query NodeLookup($id: ID!) {\n      node(id: $id) {\n        __typename\n        id\n        ... on RefreshConfig { tableName }\n        ... on RefreshRun { status }\n        ... on RefreshCheckpoint { tableName }\n        ... on QualityMetric { metricName }\n        ... on RefreshDependency { parent { tableName } dependent { tableName } dependencyType }\n      }\n    }\n  "): (typeof documents)["\n    query NodeLookup($id: ID!) {\n      node(id: $id) {\n        __typename\n        id\n        ... on RefreshConfig { tableName }\n        ... on RefreshRun { status }\n        ... on RefreshCheckpoint { tableName }\n        ... on QualityMetric { metricName }\n        ... on RefreshDependency { parent { tableName } dependent { tableName } dependencyType }\n      }\n    }\n  "];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n      query Ids {\n        refreshConfig(tableSchema: \"sqp\", tableName: \"weekly_summary\") {\n          id\n          parentDependencies { id }\n        }\n        refreshRuns(first: 1) { edges { node { id } } }\n        refreshCheckpoints { edges { node { id } } }\n        qualityMetrics(first: 1) { edges { node { id } } }\n      }\n    "): (typeof documents)["\n      query Ids {\n        refreshConfig(tableSchema: \"sqp\", tableName: \"weekly_summary\") {\n          id\n          parentDependencies { id }\n        }\n        refreshRuns(first: 1) { edges { node { id } } }\n        refreshCheckpoints { edges { node { id } } }\n        qualityMetrics(first: 1) { edges { node { id } } }\n      }\n    "];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query OpenAlertsNow {\n    openAlerts {\n      kind table tableSchema tableName since reason\n      run { databaseId status }\n      config { tableName }\n      alert { eventId occurredAt }\n      deliveries { pending delivered abandoned total }\n    }\n  }\n"): (typeof documents)["\n  query OpenAlertsNow {\n    openAlerts {\n      kind table tableSchema tableName since reason\n      run { databaseId status }\n      config { tableName }\n      alert { eventId occurredAt }\n      deliveries { pending delivered abandoned total }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query ReadModelStates {\n    tableHealth { table state reasons failureStreak qualityVerdict bytesBilledToday latestRun { databaseId } }\n    runnerStatus { queueDepth runsInFlight { run { databaseId config { tableName } } } }\n  }\n"): (typeof documents)["\n  query ReadModelStates {\n    tableHealth { table state reasons failureStreak qualityVerdict bytesBilledToday latestRun { databaseId } }\n    runnerStatus { queueDepth runsInFlight { run { databaseId config { tableName } } } }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation RegisterUserTable($input: RegisterTableInput!) {\n    registerTable(input: $input) {\n      __typename\n      ... on RegisterTablePayload { config { tableSchema tableName } }\n      ... on ValidationError { field message issues { path message } }\n      ... on Error { message }\n    }\n  }\n"): (typeof documents)["\n  mutation RegisterUserTable($input: RegisterTableInput!) {\n    registerTable(input: $input) {\n      __typename\n      ... on RegisterTablePayload { config { tableSchema tableName } }\n      ... on ValidationError { field message issues { path message } }\n      ... on Error { message }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  subscription ReplicaEvents($filter: RefreshEventFilter) {\n    refreshEvents(filter: $filter) { __typename ... on RunProgress { rowsProcessed } ... on RunFinished { status rowsProcessed } }\n  }\n"): (typeof documents)["\n  subscription ReplicaEvents($filter: RefreshEventFilter) {\n    refreshEvents(filter: $filter) { __typename ... on RunProgress { rowsProcessed } ... on RunFinished { status rowsProcessed } }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation ForceOnA($input: ForceRefreshInput!) {\n    forceRefresh(input: $input) { __typename ... on ForceRefreshPayload { run { id syncMetadata } } }\n  }\n"): (typeof documents)["\n  mutation ForceOnA($input: ForceRefreshInput!) {\n    forceRefresh(input: $input) { __typename ... on ForceRefreshPayload { run { id syncMetadata } } }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "query ReplicaStatus { runnerStatus { replicas { workerName alive } } }"): (typeof documents)["query ReplicaStatus { runnerStatus { replicas { workerName alive } } }"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query RetryPolicyHealth {\n    tableHealth { table state }\n  }\n"): (typeof documents)["\n  query RetryPolicyHealth {\n    tableHealth { table state }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation GroupForce($input: ForceRefreshInput!) {\n    forceRefresh(input: $input) { ... on ForceRefreshPayload { run { id } } ... on Error { message } }\n  }\n"): (typeof documents)["\n  mutation GroupForce($input: ForceRefreshInput!) {\n    forceRefresh(input: $input) { ... on ForceRefreshPayload { run { id } } ... on Error { message } }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  subscription GroupProgress($runId: ID!) {\n    runProgress(runId: $runId) { rowsProcessed finished status }\n  }\n"): (typeof documents)["\n  subscription GroupProgress($runId: ID!) {\n    runProgress(runId: $runId) { rowsProcessed finished status }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  subscription GroupEvents($filter: RefreshEventFilter) {\n    refreshEvents(filter: $filter) {\n      __typename\n      ... on RefreshEvent { id tableName }\n      ... on RunProgress { rowsProcessed }\n      ... on RunBlocked { reasons }\n    }\n  }\n"): (typeof documents)["\n  subscription GroupEvents($filter: RefreshEventFilter) {\n    refreshEvents(filter: $filter) {\n      __typename\n      ... on RefreshEvent { id tableName }\n      ... on RunProgress { rowsProcessed }\n      ... on RunBlocked { reasons }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  subscription TableEvents($filter: RefreshEventFilter) {\n    refreshEvents(filter: $filter) {\n      __typename\n      ... on RefreshEvent { tableName }\n      ... on RunStarted { runId resumed }\n      ... on RunProgress { runId rowsProcessed totalRows percent rowsPerSecond etaSeconds }\n      ... on RunFinished { runId status outcome rowsProcessed }\n    }\n  }\n"): (typeof documents)["\n  subscription TableEvents($filter: RefreshEventFilter) {\n    refreshEvents(filter: $filter) {\n      __typename\n      ... on RefreshEvent { tableName }\n      ... on RunStarted { runId resumed }\n      ... on RunProgress { runId rowsProcessed totalRows percent rowsPerSecond etaSeconds }\n      ... on RunFinished { runId status outcome rowsProcessed }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation ForceForSubscribers($input: ForceRefreshInput!) {\n    forceRefresh(input: $input) { __typename ... on ForceRefreshPayload { run { id } } }\n  }\n"): (typeof documents)["\n  mutation ForceForSubscribers($input: ForceRefreshInput!) {\n    forceRefresh(input: $input) { __typename ... on ForceRefreshPayload { run { id } } }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  subscription Progress($runId: ID!) {\n    runProgress(runId: $runId) { status rowsProcessed totalRows percent finished run { tableName } }\n  }\n"): (typeof documents)["\n  subscription Progress($runId: ID!) {\n    runProgress(runId: $runId) { status rowsProcessed totalRows percent finished run { tableName } }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query TableStates {\n    tableHealth { table state reasons late freshnessSlaHours latestRun { databaseId status } }\n    runnerStatus { queueDepth }\n    refreshPlan(hours: 24) { items { table state notes } }\n  }\n"): (typeof documents)["\n  query TableStates {\n    tableHealth { table state reasons late freshnessSlaHours latestRun { databaseId status } }\n    runnerStatus { queueDepth }\n    refreshPlan(hours: 24) { items { table state notes } }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation TextRegister($input: RegisterTableInput!) {\n    registerTable(input: $input) { __typename ... on ValidationError { field issues { path message } } }\n  }\n"): (typeof documents)["\n  mutation TextRegister($input: RegisterTableInput!) {\n    registerTable(input: $input) { __typename ... on ValidationError { field issues { path message } } }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation ValidationRegister($input: RegisterTableInput!) {\n    registerTable(input: $input) {\n      __typename\n      ... on ValidationError { field issues { path message } }\n      ... on RegisterTablePayload { config { tableName customSyncParams } }\n    }\n  }\n"): (typeof documents)["\n  mutation ValidationRegister($input: RegisterTableInput!) {\n    registerTable(input: $input) {\n      __typename\n      ... on ValidationError { field issues { path message } }\n      ... on RegisterTablePayload { config { tableName customSyncParams } }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation ValidationUpdate($input: UpdateRefreshConfigInput!) {\n    updateRefreshConfig(input: $input) {\n      __typename\n      ... on ValidationError { field issues { path message } }\n      ... on UpdateRefreshConfigPayload { config { customSyncParams } }\n    }\n  }\n"): (typeof documents)["\n  mutation ValidationUpdate($input: UpdateRefreshConfigInput!) {\n    updateRefreshConfig(input: $input) {\n      __typename\n      ... on ValidationError { field issues { path message } }\n      ... on UpdateRefreshConfigPayload { config { customSyncParams } }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation ValidationSchedule($input: ScheduleRefreshInput!) {\n    scheduleRefresh(input: $input) {\n      __typename\n      ... on Error { message }\n      ... on ValidationError { field issues { path message } }\n      ... on ConflictError { field }\n      ... on ScheduleRefreshPayload { config { nextRefreshAt } }\n    }\n  }\n"): (typeof documents)["\n  mutation ValidationSchedule($input: ScheduleRefreshInput!) {\n    scheduleRefresh(input: $input) {\n      __typename\n      ... on Error { message }\n      ... on ValidationError { field issues { path message } }\n      ... on ConflictError { field }\n      ... on ScheduleRefreshPayload { config { nextRefreshAt } }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation ValidationForce($input: ForceRefreshInput!) {\n    forceRefresh(input: $input) { __typename ... on ValidationError { field } ... on ConflictError { field } }\n  }\n"): (typeof documents)["\n  mutation ValidationForce($input: ForceRefreshInput!) {\n    forceRefresh(input: $input) { __typename ... on ValidationError { field } ... on ConflictError { field } }\n  }\n"];

export function graphql(source: string) {
  return (documents as any)[source] ?? {};
}

export type DocumentType<TDocumentNode extends DocumentNode<any, any>> = TDocumentNode extends DocumentNode<  infer TType,  any>  ? TType  : never;