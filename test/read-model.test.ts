// One read model of table state (migration 037, src/runner/state/read-model.ts): tables put in each
// state — running, interrupted, retrying, failed, blocked (failed hard parent; running hard
// parent), disabled, due, unconfigured, scheduled — and tableHealth, runnerStatus over GraphQL,
// `sqp-refresh status --json` and the planner must say the same thing about every one of them.
//
// The GraphQL server runs without a runner (startTestApp): a runner would recover the
// interrupted run and start the due tables, and the states must hold still while four readers
// look at them. A runner's view is the planner's, asked directly.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addRefreshDependency } from '../src/commands/config.ts';
import { tableHealth } from '../src/runner/state/health.ts';
import { loadPlanInput } from '../src/runner/state/plan-input.ts';
import { planRefreshes } from '../src/runner/state/planner.ts';
import { startTestApp, type TestApp } from './support/app.ts';
import { runCli } from './support/cli.ts';
import { createTestDatabase, openTestPool } from './support/db.ts';
import { execute } from './support/graphql.ts';
import { registerTestTable } from './support/refresh.ts';
import { graphql } from './generated/index.ts';

const database = await createTestDatabase();
const pool = openTestPool(database.url, 3);
/** The session that holds sqp.rm_running's refresh lock, as a runner's run connection does. */
const runner = new pg.Client({ connectionString: database.url });
let app: TestApp;
const runIds: Record<string, number> = {};

/** What each table is, as the states every reader must agree on. */
const EXPECTED: Record<string, string> = {
  'sqp.rm_running': 'running',
  'sqp.rm_interrupted': 'interrupted',
  'sqp.rm_retrying': 'retrying',
  'sqp.rm_failed_parent': 'failed', // failed, not retryable: no retry comes before its regular slot
  'sqp.rm_blocked': 'blocked', // due; its hard parent's latest refresh failed
  'sqp.rm_after_running': 'blocked', // due; its hard parent is running
  'sqp.rm_disabled': 'disabled',
  'sqp.rm_due': 'due',
  'sqp.rm_unconfigured': 'unconfigured', // due, but nothing says where its rows come from
};

const PARAMS = { source: { type: 'postgres', query: 'SELECT 1 AS id' }, key: ['id'] };

/** A table sqp.<table>, registered, its params stored as given (past the validator, which refuses `key`). */
async function register(table: string, nextRefresh: string, { enabled = true, params = PARAMS as object } = {}): Promise<number> {
  await pool.query(`CREATE TABLE sqp.${table} (id int PRIMARY KEY)`);
  return registerTestTable(pool, { tableName: table, isEnabled: enabled, nextRefreshAt: nextRefresh, uncheckedSyncParams: params });
}

async function run(configId: number, table: string, status: string, finishedAgo: string | null, errorDetails: object | null = null, metadata: object = {}): Promise<number> {
  const { rows } = await pool.query<{ id: number }>(
    `INSERT INTO sqp.refresh_audit_log (refresh_config_id, table_schema, table_name, refresh_started_at, refresh_completed_at, status, error_details, sync_metadata)
     VALUES ($1, 'sqp', $2, now() - interval '10 minutes', now() - $3::interval, $4, $5, $6) RETURNING id`,
    [configId, table, finishedAgo, status, errorDetails, metadata],
  );
  return rows[0]!.id;
}

beforeAll(async () => {
  // The seed's tables: configured, and not due for a month (scheduled, everywhere).
  await pool.query(`UPDATE sqp.refresh_config SET custom_sync_params = $1, next_refresh_at = now() + interval '30 days'`, [JSON.stringify(PARAMS)]);

  // running: claimed (next_refresh_at moved one lease ahead), its lock held, its row running.
  const running = await register('rm_running', '15 minutes');
  runIds.running = await run(running, 'rm_running', 'running', null);
  await runner.connect();
  await runner.query(`SELECT sqp_refresh_work.try_lock_table('sqp', 'rm_running')`);
  // interrupted: the same, but its process died: nobody holds the lock.
  const interrupted = await register('rm_interrupted', '15 minutes');
  runIds.interrupted = await run(interrupted, 'rm_interrupted', 'running', null);
  // retrying: failed retryably a minute ago; the runner set the next attempt 5 minutes ahead.
  const retrying = await register('rm_retrying', '5 minutes');
  await run(retrying, 'rm_retrying', 'failed', '1 minute', { retryable: true });
  // blocked: due, but its hard parent's latest refresh failed (not retryable: regular slot).
  const parent = await register('rm_failed_parent', '20 hours');
  const failed = await run(parent, 'rm_failed_parent', 'failed', '1 hour', { retryable: false }, { outcome: 'failed', bytesBilled: '10485760' });
  // …on a blocking quality breach, its jobs billed: verdict fail, 10 MiB billed today.
  await pool.query(
    `INSERT INTO sqp.refresh_data_quality (audit_log_id, metric_name, metric_value, threshold_min, is_within_threshold) VALUES ($1, 'source_rows_zero', 0, 1, false), ($1, 'null_keys', 0, 0, true)`,
    [failed],
  );
  await register('rm_blocked', '-1 minute');
  // blocked too: due, but its hard parent is running (the claim's guard refuses it).
  await register('rm_after_running', '-1 minute');
  const sqp = (tableName: string) => ({ tableSchema: 'sqp', tableName });
  await addRefreshDependency(pool, { parent: sqp('rm_failed_parent'), dependent: sqp('rm_blocked'), dependencyType: 'hard' });
  await addRefreshDependency(pool, { parent: sqp('rm_running'), dependent: sqp('rm_after_running'), dependencyType: 'hard' });
  // disabled: past due, but switched off.
  await register('rm_disabled', '-1 hour', { enabled: false });
  await register('rm_unconfigured', '-1 minute', { params: {} });
  // due: nothing keeps it.
  await register('rm_due', '-1 minute');

  app = await startTestApp(database.url);
});

afterAll(async () => {
  await app?.stop();
  await runner.end();
  await pool.end();
  await database.drop();
});

const States = graphql(`
  query ReadModelStates {
    tableHealth { table state reasons failureStreak qualityVerdict bytesBilledToday latestRun { databaseId } }
    runnerStatus { queueDepth runsInFlight { run { databaseId config { tableName } } } }
  }
`);

/** Every table's state in the seed (scheduled) and the tables above. */
function expectedFor(table: string): string {
  return EXPECTED[table] ?? 'scheduled';
}

describe('one read model of table state', () => {
  it('tableHealth says each state, and why', async () => {
    const health = new Map((await tableHealth(pool, new Date(), null)).map((h) => [h.table, h]));
    expect(health.size).toBe(8 + Object.keys(EXPECTED).length);
    for (const [table, h] of health) expect({ table, state: h.state }).toEqual({ table, state: expectedFor(table) });
    expect(health.get('sqp.rm_running')!.reasons[0]).toMatch(new RegExp(`^run ${runIds.running} since `));
    expect(health.get('sqp.rm_interrupted')!.reasons[0]).toMatch(/no process holds the table's lock/);
    expect(health.get('sqp.rm_retrying')).toMatchObject({ failureStreak: 1, reasons: [expect.stringMatching(/^failed 1 time\(s\) in a row; next attempt at /)] });
    expect(health.get('sqp.rm_blocked')!.reasons).toEqual(['blocked by sqp.rm_failed_parent: its latest refresh failed']);
    expect(health.get('sqp.rm_after_running')!.reasons).toEqual(['waits for sqp.rm_running: it is running']);
    expect(health.get('sqp.rm_failed_parent')).toMatchObject({ failureStreak: 1, qualityVerdict: 'fail', bytesBilledToday: 10_485_760n });
    expect(health.get('sqp.rm_due')).toMatchObject({ failureStreak: 0, qualityVerdict: null, bytesBilledToday: 0n, stale: true });
  });

  it('the graph agrees: tableHealth, runnerStatus runs in flight (lock held only) and queue depth', async () => {
    const { data, errors } = await execute(app.url, States);
    expect(errors).toBeUndefined();
    for (const h of data!.tableHealth) expect({ table: h.table, state: h.state.toLowerCase() }).toEqual({ table: h.table, state: expectedFor(h.table) });
    // The running table's newest run is its running row; the interrupted one's, the dead row.
    const byTable = new Map(data!.tableHealth.map((h) => [h.table, h]));
    expect(byTable.get('sqp.rm_running')!.latestRun?.databaseId).toBe(runIds.running);
    expect(byTable.get('sqp.rm_interrupted')!.latestRun?.databaseId).toBe(runIds.interrupted);
    expect(byTable.get('sqp.rm_failed_parent')).toMatchObject({ failureStreak: 1, qualityVerdict: 'FAIL', bytesBilledToday: '10485760' });
    // In flight: the run whose table lock is held, not the dead process's row.
    expect(data!.runnerStatus.runsInFlight.map((f) => [f.run.databaseId, f.run.config?.tableName])).toEqual([[runIds.running, 'rm_running']]);
    // Queue: what a runner starts now — the due table and the interrupted one (recovered, then run).
    expect(data!.runnerStatus.queueDepth).toBe(2);
  });

  it('`sqp-refresh status --json` shows the same states, and running means the lock is held', async () => {
    const { code, stdout, stderr } = await runCli(['status', '--json'], { DATABASE_URL: database.url });
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
    const tables = (JSON.parse(stdout) as { tables: Array<{ table: string; state: string; runningNow: boolean; latestRun: { id: number; status: string } | null }> }).tables;
    expect(tables).toHaveLength(8 + Object.keys(EXPECTED).length);
    for (const t of tables) expect({ table: t.table, state: t.state }).toEqual({ table: t.table, state: expectedFor(t.table) });
    expect(tables.filter((t) => t.runningNow).map((t) => t.table)).toEqual(['sqp.rm_running']);
    // Its latest run's row says running; the read model says interrupted, as RefreshRun.status does.
    expect(tables.find((t) => t.table === 'sqp.rm_interrupted')).toMatchObject({ runningNow: false, latestRun: { id: runIds.interrupted, status: 'interrupted' } });

    const text = await runCli(['status'], { DATABASE_URL: database.url });
    const line = (table: string) => text.stdout.split('\n').find((l) => l.startsWith(`${table} `))!;
    expect(line('sqp.rm_running')).toMatch(/\syes\s+running$/);
    expect(line('sqp.rm_interrupted')).toMatch(/\sno \(interrupted\)\s+interrupted$/);
  });

  it('the planner agrees: it starts now exactly the due and interrupted tables, and blocks the blocked ones', async () => {
    const plan = planRefreshes(await loadPlanInput(pool, new Date(), 0));
    const planned = new Map(plan.items.map((i) => [i.table, i]));
    const all = [...new Set([...Object.keys(EXPECTED), ...(await tableHealth(pool, new Date(), null)).map((h) => h.table)])];
    for (const table of all) {
      const item = planned.get(table);
      const says = !item ? 'not now' : item.state === 'blocked' ? 'blocked' : 'starts now';
      const expected = expectedFor(table);
      const want = expected === 'due' || expected === 'interrupted' ? 'starts now' : expected === 'blocked' ? 'blocked' : 'not now';
      expect({ table, says }).toEqual({ table, says: want });
    }
    expect(planned.get('sqp.rm_after_running')!.blockedBy).toEqual(['sqp.rm_running']);
  });

  it('once the running table\'s lock is free, every reader calls its run interrupted', async () => {
    await runner.query(`SELECT sqp_refresh_work.unlock_table('sqp', 'rm_running')`);
    try {
      const [health] = (await tableHealth(pool, new Date(), null)).filter((h) => h.table === 'sqp.rm_running');
      expect(health!.state).toBe('interrupted');
      const { data } = await execute(app.url, States);
      expect(data!.tableHealth.find((h) => h.table === 'sqp.rm_running')!.state).toBe('INTERRUPTED');
      expect(data!.runnerStatus.runsInFlight).toEqual([]);
      // Now due and interrupted: rm_due, both interrupted tables, and rm_after_running (its
      // parent holds no lock any more; the planner orders it after that parent's recovery).
      expect(data!.runnerStatus.queueDepth).toBe(4);
      expect(data!.tableHealth.find((h) => h.table === 'sqp.rm_after_running')!.state).toBe('DUE');
      const cli = await runCli(['status', '--json'], { DATABASE_URL: database.url });
      const t = (JSON.parse(cli.stdout) as { tables: Array<{ table: string; state: string; runningNow: boolean }> }).tables.find((x) => x.table === 'sqp.rm_running');
      expect(t).toMatchObject({ state: 'interrupted', runningNow: false });
      const item = planRefreshes(await loadPlanInput(pool, new Date(), 0)).items.find((i) => i.table === 'sqp.rm_running');
      expect(item).toMatchObject({ state: 'ready', reason: 'due' });
    } finally {
      await runner.query(`SELECT sqp_refresh_work.try_lock_table('sqp', 'rm_running')`);
    }
  });
});
