// Ctrl-C pauses runs, it does not fail them. `npm start` on the embedded PostgreSQL, Ctrl-C
// while refreshes run (SIGINT to the whole process group, as a terminal sends it): the embedded
// server runs in a group of its own, so it is not stopped under the service; the runner drains
// (running refreshes end `paused` at a page boundary), then the pool closes, then the server
// stops, and the process exits 0 with nothing left behind. The next start resumes each paused
// run from its checkpoint to success; no run of either start failed. And a shutdown that lands
// while a run audits or publishes its complete load lets that run publish: never failed.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { alive, startEmbeddedPostgres } from '../src/embedded-postgres.ts';
import { refreshTable } from '../src/runner/engine/refresh-table.ts';
import { createSources } from '../src/runner/sources/registry.ts';
import { adminQuery, createTestDatabase, openTestPool, type TestDatabase } from './support/db.ts';
import { freePort } from './support/global-setup.ts';
import { executeRaw } from './support/graphql.ts';
import { seriesTable } from './support/live.ts';
import { loadConfig } from './support/refresh.ts';
import { eventually } from './support/until.ts';
import { startServiceProcess, type LogLine, type ServiceProcess } from './support/service-process.ts';

const dir = path.join(os.tmpdir(), `sqp-refresh-ctrl-c-${randomBytes(3).toString('hex')}`);
const ownedDir = `${dir}-owned`;
const started: ServiceProcess[] = [];
const postmasters: number[] = [];
afterAll(async () => {
  for (const service of started) service.kill();
  for (const pid of postmasters) if (alive(pid)) process.kill(pid, 'SIGKILL');
  await rm(dir, { recursive: true, force: true });
  await rm(ownedDir, { recursive: true, force: true });
});

function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

const isRunEnd = (line: LogLine) => /^refresh (success|warning|failed)$/.test(line.msg);

describe('Ctrl-C on npm start with the embedded PostgreSQL', () => {
  it('pauses the running refreshes, stops the embedded server after them, and the next start resumes them to success', async () => {
    const pgPort = await freePort();
    const env = {
      DATABASE_URL: '', DATABASE_DIRECT_URL: '', BIGQUERY_PROJECT_ID: '',
      EMBEDDED_PG_DIR: dir, EMBEDDED_PG_PORT: String(pgPort), PORT: String(await freePort()),
      // 8 weeks: asin_performance_data is 5 pages of 10,000 rows, daily_sqp_data several: a
      // Ctrl-C right after they start lands while pages are still to come.
      DEMO_WEEKS: '8',
      SHUTDOWN_GRACE_SECONDS: '60',
    };
    const timer = Date.now();
    const first = startServiceProcess(env);
    started.push(first);
    // The first wave (the runner's concurrency is 2): both running.
    await first.waitFor((l) => l.msg === 'refresh started' && l.table === 'sqp.asin_performance_data', 'asin_performance_data started');
    await first.waitFor((l) => l.msg === 'refresh started' && l.table === 'sqp.daily_sqp_data', 'daily_sqp_data started');
    const postmaster = Number((await readFile(path.join(dir, 'postmaster.pid'), 'utf8')).split('\n')[0]);
    expect(alive(postmaster)).toBe(true);
    const signalled = Date.now();
    first.interrupt();
    expect(await first.exit).toBe(0);
    const drainMs = Date.now() - signalled;

    // The server was stopped by the service, last, and waited for: nothing of it is left.
    const stops = first.lines.map((l) => l.msg).filter((m) => m.startsWith('stopping '));
    expect(stops.indexOf('stopping runner')).toBeLessThan(stops.indexOf('stopping database pool'));
    expect(stops.at(-1)).toBe('stopping embedded PostgreSQL');
    expect(alive(postmaster)).toBe(false);
    expect(alive(-first.child.pid!)).toBe(false); // nothing left of the service's process group either
    expect(await portIsFree(pgPort)).toBe(true);
    await expect(readFile(path.join(dir, 'postmaster.pid'))).rejects.toThrow(/ENOENT/);
    // No connection of the service was cut under it (the server stopped after the pools closed).
    const lost = (l: LogLine) => /connection was lost|LISTEN connection lost/.test(l.msg);
    expect(first.lines.filter(lost)).toEqual([]);

    // Every run it started ended in its log, none failed; the ones stopped mid-load paused.
    const runs = first.lines.filter((l) => l.msg === 'refresh started').map((l) => l.runId);
    const ends = first.lines.filter(isRunEnd);
    expect(ends.map((l) => l.runId).sort()).toEqual([...runs].sort());
    expect(ends.filter((l) => l.status === 'failed')).toEqual([]);
    const paused = ends.filter((l) => l.outcome === 'paused');
    expect(paused.map((l) => l.table)).toContain('sqp.asin_performance_data');

    // Start again: each paused table resumes from its checkpoint and finishes.
    const second = startServiceProcess(env);
    started.push(second);
    const { url } = (await second.waitFor((l) => /^GraphiQL is ready/.test(l.msg), 'serving')) as LogLine & { url: string };
    for (const { table } of paused) {
      const end = await second.waitFor((l) => isRunEnd(l) && l.table === table, `${table as string} finished`);
      expect(end).toMatchObject({ status: 'success', outcome: 'completed' });
    }
    // The graph tells the same story: paused (shutdown), then resumed to success.
    const { body } = await executeRaw(url, `{ refreshRuns(first: 100) { edges { node { databaseId tableName status outcome errorDetails syncMetadata } } } }`);
    const nodes = (body as { data: { refreshRuns: { edges: Array<{ node: GraphRun }> } } }).data.refreshRuns.edges.map((e) => e.node);
    for (const { runId, table } of paused) {
      const name = (table as string).replace('sqp.', '');
      expect(nodes.find((n) => n.databaseId === runId)).toMatchObject({ status: 'WARNING', outcome: 'PAUSED', errorDetails: { reason: 'shutdown' } });
      const later = nodes.filter((n) => n.tableName === name && n.databaseId > (runId as number));
      expect(later.at(-1)).toMatchObject({ status: 'SUCCESS', outcome: 'COMPLETED', syncMetadata: { resumedFromCheckpoint: true } });
    }
    second.interrupt();
    expect(await second.exit).toBe(0);
    expect(second.lines.filter(lost)).toEqual([]);
    console.log(`ctrl-c: first start to Ctrl-C ${signalled - timer} ms, drain and stop ${drainMs} ms, whole restart cycle ${Date.now() - timer} ms`);

    // The whole history, both starts (on the same data folder, the server started directly).
    const server = await startEmbeddedPostgres({ dir, port: pgPort });
    const client = new pg.Client({ connectionString: server.url });
    try {
      await client.connect();
      const { rows } = await client.query(
        `SELECT id, table_name, status, sync_metadata->>'outcome' AS outcome, (sync_metadata->>'resumedFromCheckpoint')::boolean AS resumed, error_message FROM sqp.refresh_audit_log ORDER BY id`,
      );
      expect(rows.filter((r) => r.status === 'failed' || r.status === 'running')).toEqual([]);
      for (const { runId, table } of paused) {
        const name = (table as string).replace('sqp.', '');
        expect(rows.find((r) => r.id === runId)).toMatchObject({ status: 'warning', outcome: 'paused' });
        expect(rows.find((r) => r.table_name === name && r.id > (runId as number))).toMatchObject({ status: 'success', outcome: 'completed', resumed: true });
      }
    } finally {
      await client.end();
      await server.stop();
    }
  }, 180_000);
});

interface GraphRun {
  databaseId: number;
  tableName: string;
  status: string;
  outcome: string | null;
  errorDetails: Record<string, unknown> | null;
  syncMetadata: Record<string, unknown>;
}

describe('a shutdown while a run audits or publishes its complete load', () => {
  // The tests' login is a superuser: source queries run as a source role, one of this file's own.
  const sourceRole = { name: `sqp_ctrl_c_${randomBytes(3).toString('hex')}`, explicit: false };
  let database: TestDatabase;
  let pool: pg.Pool;
  beforeAll(async () => {
    database = await createTestDatabase();
    pool = openTestPool(database.url, 3);
    await adminQuery(`CREATE ROLE ${sourceRole.name} NOLOGIN`);
  });
  afterAll(async () => {
    await pool.end();
    await database.drop();
    await adminQuery(`DROP ROLE IF EXISTS ${sourceRole.name}`);
  });

  it.each(['auditing', 'publishing'] as const)('lets it publish (%s): success, never failed or paused short', async (phase) => {
    const table = `closing_${phase}`;
    await seriesTable(pool, table, { rows: 3000, pageSize: 1000 });
    const shutdown = new AbortController();
    const result = await refreshTable(await loadConfig(pool, table), {
      pool,
      sources: createSources({ targetUrl: database.url, sourceRole }),
      shutdownSignal: shutdown.signal,
      emit: (e) => {
        if (e.type === 'run:progress' && e.phase === phase) shutdown.abort();
      },
    });
    expect(shutdown.signal.aborted).toBe(true);
    expect(result).toMatchObject({ status: 'success', outcome: 'completed', rowsProcessed: 3000, rowsInserted: 3000 });
    const { rows: [audit] } = await pool.query(`SELECT status, sync_metadata->>'outcome' AS outcome FROM sqp.refresh_audit_log WHERE id = $1`, [result.runId]);
    expect(audit).toEqual({ status: 'success', outcome: 'completed' });
    expect((await pool.query(`SELECT count(*)::int AS n FROM sqp.${table}`)).rows[0].n).toBe(3000);
  });
});

/**
 * Another Node process that starts the embedded server on `dir` and prints its postmaster's pid;
 * then it ends through process.exit (as a second Ctrl-C does), or waits to be killed.
 */
function embeddedOwner(dataDir: string, port: number, then: 'exit' | 'wait'): { pid: number | undefined; postmaster: Promise<number>; exit: Promise<number | null> } {
  const module = pathToFileURL(path.resolve(import.meta.dirname, '../src/embedded-postgres.ts')).href;
  const code = `const { startEmbeddedPostgres } = await import(${JSON.stringify(module)});
    const db = await startEmbeddedPostgres({ dir: ${JSON.stringify(dataDir)}, port: ${port} });
    console.log(db.pid);
    ${then === 'exit' ? 'process.exit(130);' : 'setInterval(() => undefined, 60_000);'}`;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
  const postmaster = new Promise<number>((resolve) => child.stdout.once('data', (c: Buffer) => resolve(Number(c.toString().trim()))));
  void postmaster.then((pid) => postmasters.push(pid));
  const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { pid: child.pid, postmaster, exit };
}

describe('the embedded server, in a process group of its own', () => {
  it('refuses a data folder whose server another live process owns, stops one a killed process left, and stops with a process that exits', async () => {
    const port = await freePort();
    // A live owner: its folder is refused, never stopped under it.
    const owner = embeddedOwner(ownedDir, port, 'wait');
    const left = await owner.postmaster;
    await expect(startEmbeddedPostgres({ dir: ownedDir, port })).rejects.toThrow(new RegExp(`belongs to process ${owner.pid}, which is still running`));
    expect(alive(left)).toBe(true);

    // Its owner killed hard: the detached server outlives it; the next start stops that one first.
    process.kill(owner.pid!, 'SIGKILL');
    await owner.exit;
    expect(alive(left)).toBe(true);
    const warnings: string[] = [];
    const server = await startEmbeddedPostgres({ dir: ownedDir, port, onWarning: (m) => warnings.push(m) });
    try {
      expect(warnings).toEqual([expect.stringContaining(`(pid ${left}) left running in ${ownedDir} by a process that was killed`)]);
      expect(alive(left)).toBe(false);
      const client = new pg.Client({ connectionString: server.url });
      await client.connect();
      expect((await client.query('SELECT 1 AS ok')).rows).toEqual([{ ok: 1 }]);
      await client.end();
    } finally {
      await server.stop();
    }
    expect(alive(server.pid)).toBe(false);

    // A process that ends through process.exit (a second Ctrl-C, the grace period) without
    // stopping it asks it to stop on its way out; the server then shuts down by itself.
    const exiting = embeddedOwner(ownedDir, port, 'exit');
    const postmaster = await exiting.postmaster;
    expect(await exiting.exit).toBe(130);
    // Not a child of this process: nothing to wait on but its pid.
    await eventually(async () => !alive(postmaster), 30_000, 'the embedded server to stop after its process exited');
    expect(await portIsFree(port)).toBe(true);
  }, 120_000);
});
