// A process killed mid-refresh (SIGKILL, no chance to clean up) is detected by another
// instance, which resumes the refresh from its checkpoint; the target ends equal to the source.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { afterAll, expect, it } from 'vitest';
import type { RefreshEvent } from '../src/subscriptions/events.ts';
import { createTestDatabase, openTestPool } from './support/db.ts';
import { until } from './support/until.ts';
import { buildTestRunner, registerTestTable, tableChecksum } from './support/refresh.ts';

const root = path.resolve(import.meta.dirname, '..');
const database = await createTestDatabase();
const pool = openTestPool(database.url, 6);
afterAll(async () => {
  await pool.end();
  await database.drop();
});

it('a refresh whose process is SIGKILLed after some pages is resumed by a runner from its checkpoint', async () => {
  await pool.query(`UPDATE sqp.refresh_config SET is_enabled = false`);
  await pool.query(`CREATE SCHEMA src; CREATE TABLE src.big AS SELECT g AS id, md5(g::text) AS v FROM generate_series(1, 4000) g; ALTER TABLE src.big ADD PRIMARY KEY (id)`);
  await pool.query(`CREATE TABLE sqp.crashy (id int PRIMARY KEY, v text)`);
  // Slow pages (pg_sleep per row) so that the kill lands mid-run.
  await registerTestTable(pool, {
    tableName: 'crashy', isEnabled: true, nextRefreshAt: '1 day',
    customSyncParams: { source: { type: 'postgres', query: 'SELECT id, v FROM src.big WHERE pg_sleep(0.0005) IS NOT NULL' }, pageSize: 200 },
  });

  const child = spawn(process.execPath, ['bin/sqp-refresh.js', 'run', 'sqp.crashy'], {
    cwd: root,
    env: { ...process.env, DATABASE_URL: database.url, LOG_LEVEL: 'silent', BIGQUERY_PROJECT_ID: 'unused-here' },
    stdio: 'ignore',
  });
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve(signal ?? code)));
  await until(pool, `SELECT coalesce(max(last_processed_row), 0)::int AS n FROM sqp.refresh_checkpoints WHERE table_name = 'crashy' AND status = 'active'`, (r) => (r.n as number) >= 600);
  child.kill('SIGKILL');
  expect(await exited).toBe('SIGKILL');
  // PostgreSQL notices the closed connection and releases the dead run's table lock.
  await until(pool, `SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`, (r) => r.n === 0);

  const { rows: [dead] } = await pool.query(`SELECT id, status FROM sqp.refresh_audit_log WHERE table_name = 'crashy'`);
  expect(dead.status).toBe('running'); // nobody could mark it: the process was killed
  const { rows: [cp] } = await pool.query(`SELECT last_processed_row::int AS n FROM sqp.refresh_checkpoints WHERE table_name = 'crashy' AND status = 'active'`);

  const told: RefreshEvent[] = [];
  const runner = buildTestRunner(pool, database.url, { workerName: 'rescuer', emit: (e) => told.push(e) });
  await runner.tick();
  // The dead run's end is told (a dashboard following it sees it end), before the resumed run starts.
  const ended = told.findIndex((e) => e.type === 'run:finished' && e.runId === dead.id);
  expect(told[ended]).toMatchObject({ status: 'failed', outcome: 'failed', errorMessage: expect.stringMatching(/^interrupted/) });
  expect(ended).toBeLessThan(told.findIndex((e) => e.type === 'run:started'));

  const { rows: runs } = await pool.query(`SELECT id, status, rows_processed, error_details, sync_metadata FROM sqp.refresh_audit_log WHERE table_name = 'crashy' ORDER BY id`);
  expect(runs).toHaveLength(2);
  expect(runs[0]).toMatchObject({ id: dead.id, status: 'failed', error_details: { reason: 'interrupted' } });
  expect(runs[1]).toMatchObject({ status: 'success', rows_processed: 4000, sync_metadata: { resumedFromCheckpoint: true, worker: 'rescuer' } });
  // It read only what was not yet committed: the rows after the checkpoint.
  expect(cp.n).toBeGreaterThanOrEqual(600);
  expect(await tableChecksum(pool, 'sqp.crashy', ['id', 'v'])).toEqual(await tableChecksum(pool, 'src.big', ['id', 'v']));
});
