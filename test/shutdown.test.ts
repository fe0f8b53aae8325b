// SIGTERM while a refresh runs: the service stops claiming, lets the running page commit,
// leaves the checkpoint for whoever resumes, and exits within its grace period. And SIGTERM
// with subscribers connected: they are told the server is going away, not cut off.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { afterAll, expect, it } from 'vitest';
import WebSocket from 'ws';
import { createToken } from '../src/auth/tokens.ts';
import { createTestDatabase, openTestPool } from './support/db.ts';
import { registerTestTable } from './support/refresh.ts';
import { until } from './support/until.ts';

const root = path.resolve(import.meta.dirname, '..');
const database = await createTestDatabase();
const pool = openTestPool(database.url, 3);
afterAll(async () => {
  await pool.end();
  await database.drop();
});

it('drains on SIGTERM within the grace period, keeping the checkpoint', async () => {
  await pool.query(`UPDATE sqp.refresh_config SET is_enabled = false`);
  await pool.query(`CREATE TABLE sqp.draining (id int PRIMARY KEY, v int)`);
  await registerTestTable(pool, {
    tableName: 'draining', isEnabled: true, nextRefreshAt: '-1 minute',
    customSyncParams: { source: { type: 'postgres', query: 'SELECT g AS id, g AS v FROM generate_series(1, 3000) g WHERE pg_sleep(0.0005) IS NOT NULL' }, pageSize: 100 },
  });
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
  // The committed pages are staged, exactly (nothing partial); none is published before the load is complete.
  const { rows: [{ id }] } = await pool.query(`SELECT id FROM sqp.refresh_config WHERE table_name = 'draining'`);
  const { rows: [{ staged }] } = await pool.query(`SELECT count(*)::int AS staged FROM sqp_refresh_work.stage_${id}`);
  expect(staged).toBe(run.rows_processed);
  const { rows: [{ n }] } = await pool.query(`SELECT count(*)::int AS n FROM sqp.draining`);
  expect(n).toBe(0);
});

it('on SIGTERM, closes WebSockets with 1001 and ends SSE streams with event: complete, so clients reconnect at once', async () => {
  const reader = createToken('reader', 'read');
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'start'], {
    cwd: root,
    env: { ...process.env, DATABASE_URL: database.url, PORT: '0', LOG_LEVEL: 'info', LOG_PRETTY: 'false', RUNNER_ENABLED: 'false', API_TOKENS: reader.entry },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const url = await new Promise<string>((resolve, reject) => {
    let output = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      const match = /GraphiQL is ready at (http:\/\/\S+?)"/.exec(output);
      if (match) resolve(match[1]!);
    });
    child.once('exit', (code) => reject(new Error(`exited with ${code}:\n${output}`)));
  });
  const socket = new WebSocket(url.replace(/^http/, 'ws'), 'graphql-transport-ws');
  const closed = new Promise<number>((resolve) => socket.once('close', (code) => resolve(code)));
  await new Promise((resolve) => socket.once('open', resolve));
  socket.send(JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${reader.token}` } }));
  await new Promise((resolve) => socket.once('message', resolve)); // connection_ack
  const stream = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'text/event-stream', authorization: `Bearer ${reader.token}` },
    body: JSON.stringify({ query: 'subscription { refreshEvents { __typename } }' }),
  });
  expect(stream.status).toBe(200);
  const body = stream.body!.pipeThrough(new TextDecoderStream()).getReader();
  await body.read(); // the stream is open (yoga's first bytes)
  child.kill('SIGTERM');
  expect(await closed).toBe(1001);
  let text = '';
  for (let r = await body.read(); !r.done; r = await body.read()) text += r.value;
  expect(text).toMatch(/event: complete/);
  expect(await exited).toBe(0);
});
