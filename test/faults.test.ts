// Faults of the database, injected on a real PostgreSQL: lost connections (pg_terminate_backend),
// a database that refuses connections, a statement cancelled mid-load (57014), a kill in the
// final phase, cancels and shutdowns. Each must be a logged, recovered event: the process
// lives, nothing is lost or doubled.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createProbes } from '../src/http/probes.ts';
import { createLogger } from '../src/logger.ts';
import { cancelRefresh, forceRefresh } from '../src/commands/refresh.ts';
import { tableHealth } from '../src/runner/state/health.ts';
import type { Runner } from '../src/runner/scheduler/runner.ts';
import type { RefreshEvent } from '../src/subscriptions/events.ts';
import { createDatabaseListener, notify, CHANNELS, type DatabaseListener } from '../src/subscriptions/listener.ts';
import { adminQuery, createTestDatabase, openTestPool } from './support/db.ts';
import { buildTestRunner, expectSameAsSource, sourceAndTarget as sharedSourceAndTarget } from './support/refresh.ts';
import { recordEvents, type Recorded } from './support/events.ts';
import { eventually } from './support/until.ts';

const database = await createTestDatabase();
const pool = openTestPool(database.url, 6);
const logger = createLogger({ level: process.env.TEST_LOG ?? 'silent', pretty: false });
const stops: Array<() => Promise<void>> = [];

beforeAll(async () => {
  await pool.query(`UPDATE sqp.refresh_config SET is_enabled = false`); // only this file's tables run
  await pool.query(`CREATE SCHEMA IF NOT EXISTS src`);
});
afterAll(async () => {
  for (const stop of stops.reverse()) await stop();
  await pool.end();
  await database.drop();
});

const sourceAndTarget = (name: string, rows: number, opts?: Parameters<typeof sharedSourceAndTarget>[3]) => sharedSourceAndTarget(pool, name, rows, opts);
const same = (name: string) => expectSameAsSource(pool, name);

interface Started {
  runner: Runner;
  listener: DatabaseListener;
  events: Recorded<RefreshEvent>;
  stop(): Promise<void>;
}

/** A runner as the service composes one: its own pool, one listener, real clock. */
async function startRunner(name: string, extra: { retryBaseMs?: number } = {}): Promise<Started> {
  const own = openTestPool(database.url, 4);
  own.on('error', () => undefined);
  own.on('connect', (c) => c.on('error', () => undefined));
  const listener = createDatabaseListener({ url: database.url, logger, minDelayMs: 20, maxDelayMs: 200 });
  await listener.start();
  const events = recordEvents<RefreshEvent>();
  const runner = buildTestRunner(own, database.url, {
    logger, workerName: name, listener,
    retry: { maxAttempts: 5, baseDelayMs: extra.retryBaseMs ?? 20, maxDelayMs: 200 },
    concurrency: 2, emit: events.push,
  });
  await runner.start();
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await runner.stop();
    await listener.stop();
    await own.end();
  };
  stops.push(stop);
  return { runner, listener, events, stop };
}

const ctx = (p: pg.Pool = pool) => ({ pool: p, dailyByteBudget: null, requestedBy: 'faults-test', waitMs: 0 });
const runsOf = async (name: string) =>
  (await pool.query(`SELECT id, status, rows_processed, sync_metadata, error_details FROM sqp.refresh_audit_log WHERE table_name = $1 ORDER BY id`, [name])).rows;
const listenConnections = async () =>
  (await pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'sqp-refresh listen'`)).rows[0]!.n;
const terminate = (where: string) =>
  pool.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() AND ${where}`);

describe('the LISTEN connection', () => {
  it('comes back after every loss as exactly one connection, with its LISTENs, and /ready says when it is down', async () => {
    const listener = createDatabaseListener({ url: database.url, logger, minDelayMs: 20, maxDelayMs: 100 });
    const lifecycle = recordEvents<string>();
    listener.events.on('listen:success', ({ reconnected }) => lifecycle.push(reconnected ? 'back' : 'up'));
    listener.events.on('listen:error', () => lifecycle.push('lost'));
    await listener.start();
    stops.push(() => listener.stop());
    const probes = createProbes({ pool, listener, workerName: 'faults', schedule: '* * * * *', runtime: {} as never });
    for (let i = 0; i < 4; i++) {
      await terminate(`application_name = 'sqp-refresh listen'`);
      await lifecycle.nth(i + 1, (x) => x === 'back', 10_000, 'reconnect');
      expect(await listenConnections()).toBe(1);
    }
    // Each channel still delivers, once.
    const got = recordEvents<string>();
    listener.onNotification(CHANNELS.wake, () => got.push('wake'));
    listener.onNotification(CHANNELS.cancel, (p) => got.push(`cancel ${p}`));
    await notify(pool, CHANNELS.wake);
    await notify(pool, CHANNELS.cancel, '7');
    await got.nth(2, () => true, 5_000, 'notifications');
    expect(got.events).toEqual(['wake', 'cancel 7']);

    // A database that refuses connections keeps it down: /ready says so; then it comes back.
    await adminQuery(`ALTER DATABASE ${database.name} ALLOW_CONNECTIONS false`);
    try {
      const lost = lifecycle.events.filter((x) => x === 'lost').length;
      await terminate(`application_name = 'sqp-refresh listen'`);
      await lifecycle.nth(lost + 1, (x) => x === 'lost', 5_000, 'listener down');
      const down = await probes.readiness();
      expect(down.checks.listener).toMatchObject({ ok: false, error: expect.stringMatching(/LISTEN connection is down/) });
      expect(down.status).toBe('not ready');
      await lifecycle.nth(7, (x) => x === 'lost', 5_000, 'failed attempts while refused');
    } finally {
      await adminQuery(`ALTER DATABASE ${database.name} ALLOW_CONNECTIONS true`);
    }
    await lifecycle.nth(5, (x) => x === 'back', 10_000, 'listener back');
    expect((await probes.readiness()).checks.listener).toEqual({ ok: true });
    expect(await listenConnections()).toBe(1);
  });
});

describe('runs that lose their connection', () => {
  it('a 57014 (statement cancelled) mid-load is retried and ends equal to the source', async () => {
    const configId = await sourceAndTarget('f_cancelled_stmt', 3000, { pageSize: 200, msPerRow: 0.3 });
    const r = await startRunner('stmt');
    await forceRefresh(ctx(), { tableSchema: 'sqp', tableName: 'f_cancelled_stmt', cascade: false, mode: null, dryRun: false });
    await r.events.next((e) => e.type === 'run:progress' && e.configId === configId && e.page >= 2, 30_000, 'two pages');
    await pool.query(`SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE application_name = 'sqp-refresh source' AND datname = current_database()`);
    await r.events.next((e) => e.type === 'run:finished' && e.configId === configId && e.status === 'success', 60_000, 'a successful retry');
    const runs = await runsOf('f_cancelled_stmt');
    expect(runs[0]).toMatchObject({ status: 'failed', error_details: { sqlstate: '57014', retryable: true } });
    expect(runs.at(-1)).toMatchObject({ status: 'success', rows_processed: 3000, sync_metadata: expect.objectContaining({ resumedFromCheckpoint: true }) });
    await same('f_cancelled_stmt');
    await r.stop();
  });

  it('a run whose own connection is terminated mid-load ends failed/retryable, is retried from its checkpoint, and the process lives', async () => {
    const configId = await sourceAndTarget('f_run_conn', 3000, { pageSize: 200, msPerRow: 0.3 });
    const r = await startRunner('runconn');
    await forceRefresh(ctx(), { tableSchema: 'sqp', tableName: 'f_run_conn', cascade: false, mode: null, dryRun: false });
    await r.events.next((e) => e.type === 'run:progress' && e.configId === configId && e.page >= 2, 30_000, 'two pages');
    // The run's connection holds the table's advisory lock.
    await terminate(`pid IN (SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND objid = hashtext('sqp.f_run_conn')::oid)`);
    await r.events.next((e) => e.type === 'run:finished' && e.configId === configId && e.status === 'success', 60_000, 'a successful retry');
    const runs = await runsOf('f_run_conn');
    expect(runs[0]).toMatchObject({ status: 'failed', error_details: { reason: 'connectionLost', retryable: true } });
    expect(runs.at(-1)).toMatchObject({ status: 'success', rows_processed: 3000 });
    await same('f_run_conn');
    await r.stop();
  });

  it('a kill in the final phase (after the last page) resumes straight to the final phase with exact counts', async () => {
    const configId = await sourceAndTarget('f_final', 1000, { pageSize: 250, msPerRow: 1 });
    const r = await startRunner('final');
    await forceRefresh(ctx(), { tableSchema: 'sqp', tableName: 'f_final', cascade: false, mode: null, dryRun: false });
    await r.events.next((e) => e.type === 'run:started' && e.configId === configId, 30_000, 'the run started');
    // Hold the config row while it loads: its final phase waits for it after the last page committed.
    const holder = new pg.Client({ connectionString: database.url });
    await holder.connect();
    await holder.query('BEGIN');
    await holder.query(`SELECT 1 FROM sqp.refresh_config WHERE id = $1 FOR UPDATE`, [configId]);
    let pages: number;
    try {
      // A poll: a backend waiting on a row lock is no event the runner emits.
      await eventually(async () => (await pool.query(`SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%FOR NO KEY UPDATE%' AND datname = current_database()`)).rowCount === 1, 30_000, 'the final phase waiting');
      const { rows: [cp] } = await pool.query(`SELECT checkpoint_data FROM sqp.refresh_checkpoints WHERE table_name = 'f_final' AND status = 'active'`);
      expect(cp.checkpoint_data).toMatchObject({ loadComplete: true, rowsDone: 1000 });
      pages = cp.checkpoint_data.pagesDone;
      await terminate(`wait_event_type = 'Lock' AND query LIKE '%FOR NO KEY UPDATE%'`);
    } finally {
      await holder.query('COMMIT');
      await holder.end();
    }
    await r.events.next((e) => e.type === 'run:finished' && e.configId === configId && e.status === 'success', 60_000, 'the resumed run');
    const runs = await runsOf('f_final');
    expect(runs).toHaveLength(2);
    expect(runs[0]).toMatchObject({ status: 'failed', error_details: { retryable: true } });
    // Not 2,000 of 1,000: the resumed run read nothing again.
    expect(runs[1]).toMatchObject({ status: 'success', rows_processed: 1000, sync_metadata: expect.objectContaining({ resumedFromCheckpoint: true, pages }) });
    await same('f_final');
    await r.stop();
  });
});

describe('requests and cancels', () => {
  it('a refresh forced while the table refreshes runs again afterwards and brings the row added meanwhile', async () => {
    const configId = await sourceAndTarget('f_force_twice', 2000, { pageSize: 200, msPerRow: 0.3 });
    const r = await startRunner('force');
    const first = await forceRefresh(ctx(), { tableSchema: 'sqp', tableName: 'f_force_twice', cascade: false, mode: null, dryRun: false });
    await r.events.next((e) => e.type === 'run:progress' && e.configId === configId, 30_000, 'first run loading');
    await pool.query(`INSERT INTO src.f_force_twice (id, v) VALUES (1000000, 1)`);
    const second = await forceRefresh(ctx(), { tableSchema: 'sqp', tableName: 'f_force_twice', cascade: false, mode: null, dryRun: false });
    await r.events.nth(2, (e) => e.type === 'run:finished' && e.configId === configId && e.status === 'success', 60_000, 'two runs');
    const runs = await runsOf('f_force_twice');
    expect(runs.map((x) => x.sync_metadata.requestIds)).toEqual([[first.requestId], [second.requestId]]);
    await same('f_force_twice');
    expect((await pool.query(`SELECT count(*)::int AS n FROM sqp_refresh_work.refresh_requests`)).rows[0].n).toBe(0);
    await r.stop();
  });

  it('a cancel is recorded but is no failure: no streak, no retry, the regular schedule goes on', async () => {
    const configId = await sourceAndTarget('f_cancel', 3000, { pageSize: 100, msPerRow: 0.3 });
    const r = await startRunner('cancel');
    await forceRefresh(ctx(), { tableSchema: 'sqp', tableName: 'f_cancel', cascade: false, mode: null, dryRun: false });
    await r.events.next((e) => e.type === 'run:progress' && e.configId === configId, 30_000, 'running');
    const started = r.events.events.find((e) => e.type === 'run:started' && e.configId === configId);
    const runId = started?.type === 'run:started' ? started.runId : -1;
    const result = await cancelRefresh({ ...ctx(), waitMs: 20_000, cancelLocal: r.runner.cancel }, runId);
    expect(result.finished).toBe(true);
    expect((await runsOf('f_cancel')).at(-1)).toMatchObject({ status: 'failed', sync_metadata: expect.objectContaining({ outcome: 'cancelled' }) });
    const [health] = await tableHealth(pool, new Date(), [configId]);
    expect(health).toMatchObject({ failureStreak: 0 });
    expect(health!.state).not.toBe('RETRYING');
    const { rows: [c] } = await pool.query(`SELECT next_refresh_at > now() + interval '23 hours' AS regular FROM sqp.refresh_config WHERE id = $1`, [configId]);
    expect(c.regular).toBe(true);
    await r.stop();
  });

  it('a forced full refresh paused by shutdown is finished as full by the next runner', async () => {
    const configId = await sourceAndTarget('f_full', 3000, { pageSize: 100, msPerRow: 0.3, mode: 'incremental' });
    const a = await startRunner('shutdown-a');
    const forced = await forceRefresh(ctx(), { tableSchema: 'sqp', tableName: 'f_full', cascade: false, mode: 'full', dryRun: false });
    await a.events.next((e) => e.type === 'run:progress' && e.configId === configId && e.page >= 2, 30_000, 'two pages');
    await a.stop(); // what SIGTERM does: running pages commit, the run pauses, the checkpoint stays
    expect((await runsOf('f_full'))[0]).toMatchObject({ status: 'warning', sync_metadata: expect.objectContaining({ outcome: 'paused', mode: 'full' }) });
    const b = await startRunner('shutdown-b');
    await b.runner.tick();
    const runs = await runsOf('f_full');
    expect(runs.at(-1)).toMatchObject({ status: 'success', rows_processed: 3000, sync_metadata: expect.objectContaining({ mode: 'full', outcome: 'completed', resumedFromCheckpoint: true, requestIds: [forced.requestId] }) });
    await same('f_full');
    await b.stop();
  });
});
