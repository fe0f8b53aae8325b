// What dashboards ask for, over real HTTP (and SSE for runProgress): viewer, totalCount on
// connections, RefreshRun.outcome, the real percent of a run that stopped early, and per-table
// run statistics over a period in one statement.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createToken } from '../src/auth/tokens.ts';
import { createEventBus } from '../src/subscriptions/bus.ts';
import { logged } from './support/events.ts';
import { startTestApp, type TestApp } from './support/app.ts';
import { createTestDatabase } from './support/db.ts';
import { execute } from './support/graphql.ts';
import { subscribeSse } from './support/live.ts';
import { graphql } from './generated/index.ts';

const database = await createTestDatabase();
const operator = createToken('operator', 'operate');
const bus = createEventBus();
let server: TestApp;
let sql: pg.Client;
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
const gid = (type: string, id: number) => Buffer.from(`${type}:${id}`).toString('base64');

/** Inserts a finished (or running) run of sqp.<table>; returns its id. */
async function run(table: string, o: { startedHoursAgo: number; status: string; outcome?: string; ms?: number; rows?: number; bytesBilled?: number }): Promise<number> {
  const metadata = { ...(o.outcome ? { outcome: o.outcome } : {}), ...(o.bytesBilled ? { bytesBilled: String(o.bytesBilled) } : {}) };
  const { rows } = await sql.query(
    `INSERT INTO sqp.refresh_audit_log (refresh_config_id, table_schema, table_name, refresh_started_at, refresh_completed_at, status, rows_processed, execution_time_ms, sync_metadata)
     SELECT id, 'sqp', $1, now() - make_interval(hours => $2), CASE WHEN $3 = 'running' THEN NULL ELSE now() - make_interval(hours => $2) + interval '1 minute' END, $3, $4, $5, $6
     FROM sqp.refresh_config WHERE table_name = $1 RETURNING id`,
    [table, o.startedHoursAgo, o.status, o.rows ?? 0, o.ms ?? null, JSON.stringify(metadata)],
  );
  return rows[0].id;
}

beforeAll(async () => {
  sql = new pg.Client({ connectionString: database.url });
  await sql.connect();
  server = await startTestApp(database.url, { API_TOKENS: operator.entry, ANONYMOUS_ACCESS: 'read' }, { bus });
});
afterAll(async () => {
  await server?.stop();
  await sql?.end();
  await database.drop();
});

describe('viewer', () => {
  const Viewer = graphql(`query Viewer { viewer { name scopes tokenRefused } }`);
  it('says who calls and what it may do, anonymous, with a token, and with a refused token', async () => {
    expect((await execute(server.url, Viewer)).data).toEqual({ viewer: { name: null, scopes: ['READ'], tokenRefused: null } });
    expect((await execute(server.url, Viewer, {}, bearer(operator.token))).data).toEqual({ viewer: { name: 'operator', scopes: ['READ', 'OPERATE'], tokenRefused: null } });
    // A refused token has no scope at all, yet viewer answers and says why.
    const refused = await execute(server.url, Viewer, {}, bearer('sqpr_unknown'));
    expect(refused.errors).toBeUndefined();
    expect(refused.data!.viewer).toEqual({ name: null, scopes: [], tokenRefused: expect.stringMatching(/not valid/) });
  });
});

describe('connections, outcomes and progress', () => {
  let cancelledRun: number;
  let completedRun: number;

  beforeAll(async () => {
    completedRun = await run('weekly_summary', { startedHoursAgo: 30, status: 'success', outcome: 'completed', ms: 1000, rows: 500, bytesBilled: 10_485_760 });
    await run('weekly_summary', { startedHoursAgo: 29, status: 'failed', outcome: 'failed', ms: 50 });
    cancelledRun = await run('weekly_summary', { startedHoursAgo: 5, status: 'failed', outcome: 'cancelled', ms: 400, rows: 300 });
    // The checkpoint the cancelled run wrote: 300 of 1,000 rows.
    await sql.query(
      `INSERT INTO sqp.refresh_checkpoints (function_name, table_schema, table_name, checkpoint_data, last_processed_row, total_rows, status, updated_at)
       VALUES ('w', 'sqp', 'weekly_summary', '{}', 300, 1000, 'expired', now() - interval '5 hours' + interval '30 seconds')`,
    );
    await run('weekly_summary', { startedHoursAgo: 4, status: 'warning', outcome: 'paused', ms: 300, rows: 100 });
    await run('weekly_summary', { startedHoursAgo: 3, status: 'success', ms: 3000, rows: 700 }); // written before outcomes were recorded
    await run('monthly_summary', { startedHoursAgo: 2, status: 'success', outcome: 'completed', ms: 2000, rows: 10 });
  });

  it('counts every connection with totalCount, filtered as its edges are', async () => {
    const { data, errors } = await execute(server.url, graphql(`
      query Counts {
        all: refreshConfigs(first: 1) { totalCount edges { node { tableName } } }
        disabled: refreshConfigs(first: 1, filter: { isEnabled: false }) { totalCount }
        failedRuns: refreshRuns(first: 1, filter: { status: FAILED }) { totalCount }
        refreshConfig(tableSchema: "sqp", tableName: "weekly_summary") { runs(first: 2) { totalCount edges { node { id } } } }
        refreshCheckpoints(first: 1) { totalCount }
        qualityMetrics(first: 1) { totalCount }
      }
    `));
    expect(errors).toBeUndefined();
    const configs = Number((await sql.query(`SELECT count(*) FROM sqp.refresh_config`)).rows[0].count);
    expect(data!.all.totalCount).toBe(configs);
    expect(data!.all.edges).toHaveLength(1);
    expect(data!.disabled.totalCount).toBe(0);
    expect(data!.failedRuns.totalCount).toBe(2);
    expect(data!.refreshConfig!.runs).toMatchObject({ totalCount: 5 });
    expect(data!.refreshConfig!.runs.edges).toHaveLength(2);
    expect(data!.refreshCheckpoints.totalCount).toBe(1);
    expect(data!.qualityMetrics.totalCount).toBe(0);
  });

  it('reads outcome from the run: a cancel or a pause is not a failure', async () => {
    const { data } = await execute(server.url, graphql(`
      query Outcomes { refreshRuns(first: 10, filter: { tableName: "weekly_summary" }) { edges { node { status outcome } } } }
    `));
    expect(data!.refreshRuns.edges.map((e) => [e.node.status, e.node.outcome])).toEqual([
      ['SUCCESS', 'COMPLETED'], // no recorded outcome: the status says it
      ['WARNING', 'PAUSED'],
      ['FAILED', 'CANCELLED'],
      ['FAILED', 'FAILED'],
      ['SUCCESS', 'COMPLETED'],
    ]);
  });

  const Progress = graphql(`
    subscription RunProgressOutcome($runId: ID!) { runProgress(runId: $runId) { status outcome rowsProcessed totalRows percent finished } }
  `);

  it('runProgress of a cancelled run reports its real percent; a completed one 100', async () => {
    const [cancelled] = await subscribeSse(server.url, Progress, { runId: gid('RefreshRun', cancelledRun) }, {}, () => true);
    expect(cancelled!.runProgress).toEqual({ status: 'FAILED', outcome: 'CANCELLED', rowsProcessed: 300, totalRows: 1000, percent: 30, finished: true });
    const [completed] = await subscribeSse(server.url, Progress, { runId: gid('RefreshRun', completedRun) }, {}, () => true);
    expect(completed!.runProgress).toEqual({ status: 'SUCCESS', outcome: 'COMPLETED', rowsProcessed: 500, totalRows: 500, percent: 100, finished: true });
  });

  it('runProgress followed live to a cancel ends at the percent reached, not 100', async () => {
    const running = await run('monthly_summary', { startedHoursAgo: 0, status: 'running' });
    const states = subscribeSse(server.url, Progress, { runId: gid('RefreshRun', running) }, {}, (s) => s.runProgress.finished);
    const listeners = bus.listenerCount();
    await expect.poll(() => bus.listenerCount()).toBeGreaterThan(listeners);
    const ref = { configId: 1, tableSchema: 'sqp', tableName: 'monthly_summary', runId: running, at: new Date().toISOString() };
    bus.publish(logged({ type: 'run:progress', ...ref, phase: 'writing', page: 1, rowsProcessed: 200, totalRows: 800, percent: 25, rowsPerSecond: 100, etaSeconds: 6 }));
    bus.publish(logged({ type: 'run:finished', ...ref, status: 'failed', outcome: 'cancelled', rowsProcessed: 200, errorMessage: 'cancelled' }));
    expect((await states).at(-1)!.runProgress).toEqual({ status: 'FAILED', outcome: 'CANCELLED', rowsProcessed: 200, totalRows: 800, percent: 25, finished: true });
  });

  it('gives per-table run statistics over a period, per day when asked, in one statement', async () => {
    const Stats = graphql(`
      query RunStatistics($since: DateTime!, $bucket: StatisticsBucket, $tableName: String) {
        refreshRunStatistics(since: $since, bucket: $bucket, tableName: $tableName) {
          tableName periodStart periodEnd runs completed failed cancelled paused successRate p50DurationMs p95DurationMs rowsProcessed bytesBilled
        }
      }
    `);
    const since = new Date(Date.now() - 48 * 3_600_000).toISOString();
    server.statements.length = 0;
    const { data, errors } = await execute(server.url, Stats, { since });
    expect(errors).toBeUndefined();
    expect(server.statements).toHaveLength(1);
    const weekly = data!.refreshRunStatistics.find((r) => r.tableName === 'weekly_summary')!;
    expect(weekly).toMatchObject({ periodStart: since, runs: 5, completed: 2, failed: 1, cancelled: 1, paused: 1, rowsProcessed: '1600', bytesBilled: '10485760' });
    expect(weekly.successRate).toBeCloseTo(2 / 3); // the cancel and the pause do not count against it
    expect(weekly.p50DurationMs).toBe(2000); // of the completed runs: 1000 and 3000
    expect(weekly.p95DurationMs).toBe(2900);

    const daily = await execute(server.url, Stats, { since, bucket: 'DAY', tableName: 'weekly_summary' });
    const rows = daily.data!.refreshRunStatistics;
    expect(rows.reduce((n, r) => n + r.runs, 0)).toBe(5);
    for (const r of rows) {
      expect(r.periodStart).toMatch(/T00:00:00\.000Z$/);
      expect(new Date(r.periodEnd).getTime() - new Date(r.periodStart).getTime()).toBe(86_400_000);
    }
  });
});
