// Mutations over real HTTP against a running server with a runner: each success, each typed
// error, and that a refused mutation writes nothing.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBigQueryTestServer, testBigQuerySource, type BigQueryTestServer } from './support/bigquery-server.ts';
import { createTestDatabase, openTestPool } from './support/db.ts';
import { execute } from './support/graphql.ts';
import { recordEvents, type Recorded } from './support/events.ts';
import { seriesTable, startLiveApp, type LiveApp } from './support/live.ts';
import { registerTestTable } from './support/refresh.ts';
import { graphql } from './generated/index.ts';
import { decodeCanonicalGlobalID } from '../src/schema/global-ids.ts';
import type { RefreshEvent } from '../src/subscriptions/events.ts';

const database = await createTestDatabase();
const sql = openTestPool(database.url, 3);
let app: LiveApp;
let bus: Recorded<RefreshEvent>; // every event of the app's bus, from its start
let bigquery: BigQueryTestServer;
const BQ_QUERY = 'SELECT id, v FROM `sqp-test.sqp.bq_live`';

beforeAll(async () => {
  bigquery = await startBigQueryTestServer({ projectId: 'sqp-test' });
  bigquery.addQuery(BQ_QUERY, {
    schema: [{ name: 'id', type: 'INTEGER' }, { name: 'v', type: 'INTEGER' }],
    rows: [[1, 2], [2, 4]],
    bytesProcessed: 5_000_000,
  });
  // Only the tables a test names are due; the seed's tables wait.
  await sql.query(`UPDATE sqp.refresh_config SET next_refresh_at = now() + interval '30 days'`);
  await seriesTable(sql, 'live_a', { rows: 1000, pageSize: 250 });
  await seriesTable(sql, 'live_slow', { rows: 3000, pageSize: 100, msPerRow: 2 });
  await sql.query(`CREATE TABLE sqp.bq_live (id bigint PRIMARY KEY, v bigint)`);
  await registerTestTable(sql, {
    tableName: 'bq_live', nextRefreshAt: '30 days',
    customSyncParams: { source: { type: 'bigquery', query: BQ_QUERY }, quality: { rowCountChange: { min: -1, max: 1000 } } },
  });
  await sql.query(`CREATE TABLE sqp.unregistered_t (id int PRIMARY KEY)`);
  await sql.query(`DELETE FROM sqp.refresh_config WHERE table_name = 'unregistered_t'`); // the event trigger may have registered it
  app = await startLiveApp(database.url, {
    dailyByteBudget: 16_000_000n,
    sources: {
      bigquery: testBigQuerySource(bigquery, { retry: { attempts: 2, baseDelayMs: 1, maxDelayMs: 2 } }),
    },
  });
  bus = recordEvents((listener) => app.bus.subscribe(listener));
});
afterAll(async () => {
  bus?.stop();
  await app?.stop();
  await bigquery?.close();
  await sql.end();
  await database.drop();
});

const auditCount = async () => (await sql.query<{ n: number }>(`SELECT count(*)::int AS n FROM sqp.refresh_audit_log`)).rows[0]!.n;
const snapshot = async () =>
  JSON.stringify((await sql.query(`SELECT id, is_enabled, priority, refresh_frequency_hours, custom_sync_params, dependencies FROM sqp.refresh_config ORDER BY id`)).rows) +
  JSON.stringify((await sql.query(`SELECT * FROM sqp.refresh_dependencies ORDER BY id`)).rows);

const Force = graphql(`
  mutation Force($input: ForceRefreshInput!) {
    forceRefresh(input: $input) {
      __typename
      ... on Error { message }
      ... on NotFoundError { field value }
      ... on ValidationError { field issues { path message } }
      ... on ConflictError { field }
      ... on BudgetExceededError { neededBytes remainingBytes }
      ... on ForceRefreshPayload {
        dryRun queued estimatedBytes remainingBudgetBytes
        run { id databaseId status tableName }
        plan { position table reason state }
      }
    }
  }
`);

const RunStatus = graphql(`query RunStatus($id: ID!) { node(id: $id) { ... on RefreshRun { status rowsProcessed errorMessage errorDetails syncMetadata } } }`);

/** The run as the graph shows it once the runner said it finished. */
async function finished(runId: string) {
  const databaseId = Number(decodeCanonicalGlobalID(runId).id);
  await bus.next((e) => e.type === 'run:finished' && e.runId === databaseId, 30_000, `run:finished of ${runId}`);
  const { data } = await execute(app.url, RunStatus, { id: runId }, app.headers('read'));
  return data!.node as { status: string; rowsProcessed: number; errorMessage: string | null; errorDetails: Record<string, unknown> | null; syncMetadata: Record<string, unknown> };
}

describe('forceRefresh', () => {
  it('starts the refresh on a runner and returns its run; the target ends complete', async () => {
    const { data, errors } = await execute(app.url, Force, { input: { tableSchema: 'sqp', tableName: 'live_a' } }, app.headers('operate'));
    expect(errors).toBeUndefined();
    const r = data!.forceRefresh;
    if (r.__typename !== 'ForceRefreshPayload') throw new Error(`unexpected ${r.__typename}`);
    expect(r.queued).toBe(false);
    expect(r.run!.tableName).toBe('live_a');
    expect(r.plan[0]).toMatchObject({ position: 1, table: 'sqp.live_a', reason: 'DUE', state: 'READY' });
    const run = await finished(r.run!.id);
    expect(run).toMatchObject({ status: 'SUCCESS', rowsProcessed: 1000 });
    expect(run.syncMetadata).toMatchObject({ trigger: 'forced', requestedBy: 'operator' });
    expect((await sql.query(`SELECT count(*)::int AS n FROM sqp.live_a`)).rows[0].n).toBe(1000);
  });

  it('dryRun returns the plan and the BigQuery bytes estimate and starts nothing', async () => {
    const before = await auditCount();
    const jobsBefore = bigquery.queries.filter((q) => !q.dryRun).length;
    const { data } = await execute(app.url, Force, { input: { tableSchema: 'sqp', tableName: 'bq_live', dryRun: true } }, app.headers('operate'));
    expect(data!.forceRefresh).toMatchObject({ __typename: 'ForceRefreshPayload', dryRun: true, queued: false, run: null, estimatedBytes: '10485760', remainingBudgetBytes: '16000000' }); // 5 MB scanned bill as BigQuery's 10 MB minimum
    expect(await auditCount()).toBe(before);
    expect(bigquery.queries.filter((q) => !q.dryRun).length).toBe(jobsBefore);
  });

  it('refuses a refresh beyond the daily byte budget with BudgetExceededError, starting nothing', async () => {
    bigquery.addQuery(BQ_QUERY, { schema: [{ name: 'id', type: 'INTEGER' }, { name: 'v', type: 'INTEGER' }], rows: [], bytesProcessed: 30_000_000 });
    const before = await auditCount();
    const { data } = await execute(app.url, Force, { input: { tableSchema: 'sqp', tableName: 'bq_live' } }, app.headers('operate'));
    expect(data!.forceRefresh).toMatchObject({ __typename: 'BudgetExceededError', neededBytes: '30408704', remainingBytes: '16000000' }); // 30,000,000 bytes rounded up to 29 MB
    expect(await auditCount()).toBe(before);
  });

  it('an unknown table is a NotFoundError naming the field; nothing is written', async () => {
    const before = await snapshot();
    const { data } = await execute(app.url, Force, { input: { tableSchema: 'sqp', tableName: 'nope' } }, app.headers('operate'));
    expect(data!.forceRefresh).toMatchObject({ __typename: 'NotFoundError', field: 'tableName', value: 'sqp.nope' });
    expect(await snapshot()).toBe(before);
  });

  it('incremental mode without a cursor column is a ValidationError naming mode', async () => {
    const { data } = await execute(app.url, Force, { input: { tableSchema: 'sqp', tableName: 'live_a', mode: 'INCREMENTAL' } }, app.headers('operate'));
    expect(data!.forceRefresh).toMatchObject({ __typename: 'ValidationError', field: 'mode' });
  });
});

const Cancel = graphql(`
  mutation Cancel($input: CancelRefreshInput!) {
    cancelRefresh(input: $input) {
      __typename
      ... on Error { message }
      ... on NotFoundError { field }
      ... on ConflictError { field }
      ... on ValidationError { field }
      ... on CancelRefreshPayload { finished run { status errorMessage rowsProcessed } }
    }
  }
`);

describe('cancelRefresh', () => {
  it('stops a running refresh at a page boundary: failed, reason cancelled, the target unchanged by it', async () => {
    const { data } = await execute(app.url, Force, { input: { tableSchema: 'sqp', tableName: 'live_slow' } }, app.headers('operate'));
    const started = data!.forceRefresh;
    if (started.__typename !== 'ForceRefreshPayload') throw new Error(started.__typename);
    const runId = started.run!.id;
    // A page is staged (the checkpoint counts it); the target is not touched before publish.
    await bus.next((e) => e.type === 'run:progress' && e.runId === started.run!.databaseId && e.rowsProcessed >= 100, 30_000, 'a staged page of live_slow');
    const res = await execute(app.url, Cancel, { input: { runId } }, app.headers('operate'));
    expect(res.data!.cancelRefresh).toMatchObject({ __typename: 'CancelRefreshPayload', finished: true, run: { status: 'FAILED' } });
    const run = await finished(runId);
    expect(run.errorDetails).toMatchObject({ reason: 'cancelled' });
    const kept = (await sql.query(`SELECT count(*)::int AS n FROM sqp.live_slow`)).rows[0].n as number;
    expect(kept).toBe(0); // staged pages are never published by a cancelled run
    // Cancelling it again: it is not running any more.
    const again = await execute(app.url, Cancel, { input: { runId } }, app.headers('operate'));
    expect(again.data!.cancelRefresh).toMatchObject({ __typename: 'ConflictError', field: 'runId' });
  });

  it('an unknown run is a NotFoundError; an id of another type is a ValidationError', async () => {
    const missing = Buffer.from('RefreshRun:999999').toString('base64');
    expect((await execute(app.url, Cancel, { input: { runId: missing } }, app.headers('operate'))).data!.cancelRefresh).toMatchObject({ __typename: 'NotFoundError', field: 'runId' });
    const wrongType = Buffer.from('RefreshConfig:1').toString('base64');
    expect((await execute(app.url, Cancel, { input: { runId: wrongType } }, app.headers('operate'))).data!.cancelRefresh).toMatchObject({ __typename: 'ValidationError', field: 'runId' });
  });
});

const Schedule = graphql(`
  mutation Schedule($input: ScheduleRefreshInput!) {
    scheduleRefresh(input: $input) { __typename ... on Error { message } ... on ScheduleRefreshPayload { config { tableName nextRefreshAt } } }
  }
`);

it('scheduleRefresh sets the next refresh time; an unknown table is NotFoundError', async () => {
  const at = new Date(Date.now() + 3 * 3_600_000).toISOString();
  const { data } = await execute(app.url, Schedule, { input: { tableSchema: 'sqp', tableName: 'live_a', at } }, app.headers('operate'));
  expect(data!.scheduleRefresh).toMatchObject({ __typename: 'ScheduleRefreshPayload', config: { tableName: 'live_a', nextRefreshAt: at } });
  const missing = await execute(app.url, Schedule, { input: { tableSchema: 'sqp', tableName: 'nope', at } }, app.headers('operate'));
  expect(missing.data!.scheduleRefresh.__typename).toBe('NotFoundError');
});

const Update = graphql(`
  mutation Update($input: UpdateRefreshConfigInput!) {
    updateRefreshConfig(input: $input) {
      __typename
      ... on ValidationError { field issues { path message } }
      ... on NotFoundError { field }
      ... on UpdateRefreshConfigPayload { config { priority refreshFrequencyHours isEnabled customSyncParams } }
    }
  }
`);
const Register = graphql(`
  mutation Register($input: RegisterTableInput!) {
    registerTable(input: $input) {
      __typename
      ... on Error { message }
      ... on NotFoundError { field }
      ... on ConflictError { field }
      ... on RegisterTablePayload { config { id tableName priority } }
    }
  }
`);
const configId = async (name: string) =>
  Buffer.from(`RefreshConfig:${(await sql.query(`SELECT id FROM sqp.refresh_config WHERE table_name = $1`, [name])).rows[0].id}`).toString('base64');

describe('configuration', () => {
  it('updateRefreshConfig changes only the given fields', async () => {
    const { data } = await execute(app.url, Update, { input: { id: await configId('live_a'), priority: 777, refreshFrequencyHours: 6 } }, app.headers('admin'));
    expect(data!.updateRefreshConfig).toMatchObject({ __typename: 'UpdateRefreshConfigPayload', config: { priority: 777, refreshFrequencyHours: 6, isEnabled: true } });
  });

  it('refuses a frequency below 1, a priority out of range and bad params, naming each field; nothing is written', async () => {
    const before = await snapshot();
    const id = await configId('live_a');
    const freq = await execute(app.url, Update, { input: { id, refreshFrequencyHours: 0 } }, app.headers('admin'));
    expect(freq.data!.updateRefreshConfig).toMatchObject({ __typename: 'ValidationError', field: 'refreshFrequencyHours' });
    const prio = await execute(app.url, Update, { input: { id, priority: 5000, isEnabled: false } }, app.headers('admin'));
    expect(prio.data!.updateRefreshConfig).toMatchObject({ __typename: 'ValidationError', field: 'priority' });
    const params = await execute(app.url, Update, { input: { id, customSyncParams: { source: { type: 'bigquery' } } } }, app.headers('admin'));
    expect(params.data!.updateRefreshConfig).toMatchObject({ __typename: 'ValidationError', field: 'customSyncParams.source.query', issues: [{ path: 'customSyncParams.source.query', message: 'required' }] });
    expect(await snapshot()).toBe(before);
  });

  it('registerTable registers an existing table, and refuses a missing or registered one', async () => {
    const ok = await execute(app.url, Register, { input: { tableSchema: 'sqp', tableName: 'unregistered_t', priority: 50 } }, app.headers('admin'));
    expect(ok.data!.registerTable).toMatchObject({ __typename: 'RegisterTablePayload', config: { tableName: 'unregistered_t', priority: 50 } });
    const again = await execute(app.url, Register, { input: { tableSchema: 'sqp', tableName: 'unregistered_t' } }, app.headers('admin'));
    expect(again.data!.registerTable).toMatchObject({ __typename: 'ConflictError', field: 'tableName' });
    const missing = await execute(app.url, Register, { input: { tableSchema: 'sqp', tableName: 'no_such_table' } }, app.headers('admin'));
    expect(missing.data!.registerTable).toMatchObject({ __typename: 'NotFoundError', field: 'tableName' });
  });
});

const AddDep = graphql(`
  mutation AddDep($input: AddRefreshDependencyInput!) {
    addRefreshDependency(input: $input) {
      __typename
      ... on Error { message }
      ... on CycleError { cycle }
      ... on NotFoundError { field }
      ... on AddRefreshDependencyPayload { dependency { id dependencyType parent { tableName } dependent { tableName dependencies } } }
    }
  }
`);
const RemoveDep = graphql(`
  mutation RemoveDep($input: RemoveRefreshDependencyInput!) {
    removeRefreshDependency(input: $input) { __typename ... on NotFoundError { field } ... on RemoveRefreshDependencyPayload { removedId dependent { dependencies } } }
  }
`);
const ref = (tableName: string) => ({ tableSchema: 'sqp', tableName });

describe('dependencies', () => {
  it('adds and removes an edge; the dependencies list follows', async () => {
    const added = await execute(app.url, AddDep, { input: { parent: ref('live_a'), dependent: ref('live_slow'), dependencyType: 'SOFT' } }, app.headers('admin'));
    const d = added.data!.addRefreshDependency;
    if (d.__typename !== 'AddRefreshDependencyPayload') throw new Error(d.__typename);
    expect(d.dependency).toMatchObject({ dependencyType: 'SOFT', parent: { tableName: 'live_a' }, dependent: { tableName: 'live_slow', dependencies: ['live_a'] } });
    const removed = await execute(app.url, RemoveDep, { input: { id: d.dependency.id } }, app.headers('admin'));
    expect(removed.data!.removeRefreshDependency).toMatchObject({ __typename: 'RemoveRefreshDependencyPayload', removedId: d.dependency.id, dependent: { dependencies: [] } });
    const gone = await execute(app.url, RemoveDep, { input: { id: d.dependency.id } }, app.headers('admin'));
    expect(gone.data!.removeRefreshDependency).toMatchObject({ __typename: 'NotFoundError', field: 'id' });
  });

  it('refuses a cycle with its path, and a self-edge; nothing is written', async () => {
    // The seed: asin_performance_data -> weekly_summary. Closing the loop is refused.
    const before = await snapshot();
    const cycle = await execute(app.url, AddDep, { input: { parent: ref('weekly_summary'), dependent: ref('asin_performance_data') } }, app.headers('admin'));
    expect(cycle.data!.addRefreshDependency).toMatchObject({
      __typename: 'CycleError',
      cycle: ['sqp.weekly_summary', 'sqp.asin_performance_data', 'sqp.weekly_summary'],
    });
    const self = await execute(app.url, AddDep, { input: { parent: ref('live_a'), dependent: ref('live_a') } }, app.headers('admin'));
    expect(self.data!.addRefreshDependency).toMatchObject({ __typename: 'CycleError', cycle: ['sqp.live_a', 'sqp.live_a'] });
    const unknown = await execute(app.url, AddDep, { input: { parent: ref('nope'), dependent: ref('live_a') } }, app.headers('admin'));
    expect(unknown.data!.addRefreshDependency).toMatchObject({ __typename: 'NotFoundError', field: 'parent' });
    expect(await snapshot()).toBe(before);
  });
});
