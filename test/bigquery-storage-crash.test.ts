// A Storage Read load whose process is SIGKILLed mid-stream is finished by another process
// from the per-stream checkpoint: each stream reopened at the offset the last committed page
// left it (ReadRows with a nonzero offset), no row read twice into the target, which ends
// equal to the source with exact counts.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startBigQueryTestServer, type BigQueryTestServer } from './support/bigquery-server.ts';
import { startBigQueryStorageTestServer, type BigQueryStorageTestServer } from './support/bigquery-storage-server.ts';
import { EVERY_TYPE_COLUMNS, EVERY_TYPE_FIELDS, everyTypeRows } from './support/bigquery-every-type.ts';
import { createTestDatabase, openTestPool } from './support/db.ts';
import { registerTestTable, tableChecksum } from './support/refresh.ts';
import { until } from './support/until.ts';

const root = path.resolve(import.meta.dirname, '..');
const database = await createTestDatabase();
const pool = openTestPool(database.url, 4);
let rest: BigQueryTestServer;
let storage: BigQueryStorageTestServer;

const QUERY = 'SELECT * FROM `p.ds.crash`';
const N = 4000;
const COLUMNS = EVERY_TYPE_FIELDS.map((f) => f.name);

beforeAll(async () => {
  rest = await startBigQueryTestServer({ projectId: 'sqp-test' });
  storage = await startBigQueryStorageTestServer({ rowsPerResponse: 50, resultTables: (t) => rest.resultTable(t) });
  rest.addQuery(QUERY, { schema: EVERY_TYPE_FIELDS, rows: everyTypeRows(N) });
  await pool.query(`UPDATE sqp.refresh_config SET is_enabled = false`);
  for (const table of ['crashy', 'reference']) {
    await pool.query(`CREATE TABLE sqp.${table} (${EVERY_TYPE_COLUMNS})`);
    // The killed table names no readApi: the service's default (the Storage Read API, configured below) is what is killed and resumed.
    const source = { type: 'bigquery', query: QUERY, nulReplacement: '\uFFFD', ...(table === 'reference' ? { readApi: 'rest' } : {}) };
    await registerTestTable(pool, { tableName: table, isEnabled: true, nextRefreshAt: '1 day', customSyncParams: { source, pageSize: 100 } });
  }
});

afterAll(async () => {
  await storage?.close();
  await rest?.close();
  await pool.end();
  await database.drop();
});

/** `sqp-refresh run sqp.<table>` in a process of its own, reading from both test servers. */
function runProcess(table: string) {
  const child = spawn(process.execPath, ['bin/sqp-refresh.js', 'run', `sqp.${table}`], {
    cwd: root,
    env: {
      ...process.env, DATABASE_URL: database.url, LOG_LEVEL: 'silent', BIGQUERY_PROJECT_ID: 'sqp-test', BIGQUERY_API_ENDPOINT: rest.url,
      BIGQUERY_STORAGE_API_ENDPOINT: `${storage.endpoint}:${storage.port}`, BIGQUERY_STORAGE_INSECURE: 'true',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  const exited = once(child, 'exit').then(([code, signal]) => ({ code: code as number | null, signal: signal as string | null, output: () => output }));
  return { child, exited };
}

it('a Storage Read killed mid-stream is finished by another process from each stream\'s committed offset', async () => {
  const reference = runProcess('reference');
  expect(await reference.exited).toMatchObject({ code: 0 });

  // Every stream holds after 200 of its 1000 rows: the process commits pages of what came
  // (one stays unstaged: a page is handed over only once rows are known to follow) and waits.
  const pause = storage.pauseStreamsAfter(200);
  const doomed = runProcess('crashy');
  await pause.reached(4);
  await until(pool, `SELECT coalesce(max(last_processed_row), 0)::int AS n FROM sqp.refresh_checkpoints WHERE table_name = 'crashy' AND status = 'active'`, (r) => (r.n as number) >= 700);
  doomed.child.kill('SIGKILL');
  expect(await doomed.exited).toMatchObject({ signal: 'SIGKILL' });
  pause.release();
  // PostgreSQL notices the closed connection and releases the dead run's table lock.
  await until(pool, `SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`, (r) => r.n === 0);

  const { rows: [checkpoint] } = await pool.query(`SELECT last_processed_row::int AS rows, checkpoint_data->'source' AS source FROM sqp.refresh_checkpoints WHERE table_name = 'crashy' AND status = 'active'`);
  const positions = checkpoint.source.streams as { name: string; offset: number; done: boolean }[];
  expect(checkpoint.source).toMatchObject({ readApi: 'storage', session: expect.stringMatching(/\/sessions\//), compression: 'zstd' });
  expect(positions).toHaveLength(4);
  expect(positions.reduce((sum, p) => sum + p.offset, 0)).toBe(checkpoint.rows);

  const before = storage.requests.length;
  const rescuer = runProcess('crashy');
  const finished = await rescuer.exited;
  expect(finished.code, finished.output()).toBe(0);

  // Each stream was reopened once, at its committed offset, and read to its end: nothing twice.
  const resumed = storage.requests.slice(before).filter((r) => r.method === 'ReadRows');
  expect(storage.requests.slice(before).filter((r) => r.method === 'CreateReadSession')).toHaveLength(0);
  expect(resumed.map((r) => [r.request['readStream'], Number(r.request['offset']), r.code]).sort())
    .toEqual(positions.map((p) => [p.name, p.offset, 0]).sort());
  expect(resumed.some((r) => Number(r.request['offset']) > 0)).toBe(true);
  // Still the session's ZSTD-compressed batches (the killed process asked for them, as by default).
  expect(new Set(resumed.map((r) => r.compression))).toEqual(new Set(['ZSTD']));
  expect(resumed.reduce((sum, r) => sum + r.rows!, 0)).toBe(N - checkpoint.rows);

  const { rows: runs } = await pool.query(`SELECT status, rows_processed, rows_inserted, sync_metadata FROM sqp.refresh_audit_log WHERE table_name = 'crashy' ORDER BY id`);
  expect(runs).toHaveLength(2);
  expect(runs[0]).toMatchObject({ status: 'failed' }); // the killed one, marked interrupted by the rescuer
  expect(runs[1]).toMatchObject({ status: 'success', rows_processed: N, rows_inserted: N, sync_metadata: { resumedFromCheckpoint: true, readApi: 'storage', readCompression: 'zstd' } });
  expect(await tableChecksum(pool, 'sqp.crashy', COLUMNS)).toEqual(await tableChecksum(pool, 'sqp.reference', COLUMNS));
  const texts = (t: string) => pool.query<{ t: string }>(`SELECT t::text FROM sqp.${t} t ORDER BY id`).then((r) => r.rows.map((x) => x.t));
  expect(await texts('crashy')).toEqual(await texts('reference'));
}, 120_000);
