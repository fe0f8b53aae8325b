// SIGTERM while a refresh runs: the service stops claiming, lets the running page commit,
// leaves the checkpoint for whoever resumes, and exits within its grace period.
import { spawn } from 'node:child_process';
import path from 'node:path';
import pg from 'pg';
import { afterAll, expect, it } from 'vitest';
import { createTestDatabase } from './support/db.ts';
import { until } from './support/until.ts';

const root = path.resolve(import.meta.dirname, '..');
const database = await createTestDatabase();
const pool = new pg.Pool({ connectionString: database.url, max: 3 });
afterAll(async () => {
  await pool.end();
  await database.drop();
});

it('drains on SIGTERM within the grace period, keeping the checkpoint', async () => {
  await pool.query(`UPDATE sqp.refresh_config SET is_enabled = false`);
  await pool.query(`CREATE TABLE sqp.draining (id int PRIMARY KEY, v int)`);
  await pool.query(`INSERT INTO sqp.refresh_config (table_schema, table_name) VALUES ('sqp', 'draining') ON CONFLICT DO NOTHING`);
  await pool.query(`UPDATE sqp.refresh_config SET is_enabled = true, next_refresh_at = now() - interval '1 minute', custom_sync_params = $1 WHERE table_name = 'draining'`, [
    JSON.stringify({ source: { type: 'postgres', query: 'SELECT g AS id, g AS v FROM generate_series(1, 3000) g WHERE pg_sleep(0.0005) IS NOT NULL' }, pageSize: 100 }),
  ]);
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'start'], {
    cwd: root,
    env: { ...process.env, DATABASE_URL: database.url, PORT: '0', LOG_LEVEL: 'silent', BIGQUERY_PROJECT_ID: 'unused-here', SHUTDOWN_GRACE_SECONDS: '20' },
    stdio: 'ignore',
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  await until(pool, `SELECT coalesce(max(last_processed_row), 0)::int AS n FROM sqp.refresh_checkpoints WHERE table_name = 'draining' AND status = 'active'`, (r) => (r.n as number) >= 300);
  const signalled = Date.now();
  child.kill('SIGTERM');
  expect(await exited).toBe(0);
  expect(Date.now() - signalled).toBeLessThan(20_000);
  const { rows: [run] } = await pool.query(`SELECT status, rows_processed, error_details, sync_metadata->>'outcome' AS outcome FROM sqp.refresh_audit_log WHERE table_name = 'draining'`);
  expect(run).toMatchObject({ status: 'warning', outcome: 'paused', error_details: { reason: 'shutdown' } });
  expect(run.rows_processed).toBeLessThan(3000);
  const { rows: [cp] } = await pool.query(`SELECT status, last_processed_row::int AS n FROM sqp.refresh_checkpoints WHERE table_name = 'draining' ORDER BY id DESC LIMIT 1`);
  expect(cp).toEqual({ status: 'active', n: run.rows_processed });
  const { rows: [{ n }] } = await pool.query(`SELECT count(*)::int AS n FROM sqp.draining`);
  expect(n).toBe(run.rows_processed); // exactly the committed pages, nothing partial
});
