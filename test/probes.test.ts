// /health and /ready over real HTTP: ready on a migrated database with a ticking runner; not
// ready, and saying why, when the database is unreachable, migrations are pending or the
// runner stalls — never showing the connection string.
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.ts';
import { createProbes, type ProbeOptions, type Readiness } from '../src/http/probes.ts';
import { createLogger } from '../src/logger.ts';
import { readMigrations } from '../src/migrate.ts';
import type { Runner } from '../src/runner/scheduler/runner.ts';
import { createRuntime } from '../src/runtime.ts';
import { buildApp, type App } from '../src/server.ts';
import { createEmptyDatabase, createTestDatabase, openTestPool } from './support/db.ts';
import { freePort } from './support/global-setup.ts';
import { buildTestRunner } from './support/refresh.ts';

const logger = createLogger({ level: 'silent', pretty: false });
const { graphql } = loadConfig({});
const database = await createTestDatabase();
const empty = await createEmptyDatabase();
const pool = openTestPool(database.url, 4);
const emptyPool = openTestPool(empty.url, 2);
const apps: App[] = [];
const runners: Runner[] = [];
const deadPools: pg.Pool[] = [];

afterAll(async () => {
  for (const runner of runners) await runner.stop();
  for (const app of apps) await app.stop();
  for (const p of [pool, emptyPool, ...deadPools]) await p.end();
  await database.drop();
  await empty.drop();
});

/** Serves the probes of `options` on a real HTTP server; resolves with its base URL. */
async function serveProbes(options: Partial<ProbeOptions> & { pool: pg.Pool }): Promise<string> {
  const probes = createProbes({ workerName: 'probe-test', schedule: '* * * * *', ...options });
  const app = buildApp({ graphql, logger, routes: { '/health': probes.health, '/ready': probes.ready } });
  apps.push(app);
  return (await app.start(0)).replace(/\/graphql$/, '');
}

async function getReady(base: string): Promise<{ status: number; body: Readiness; text: string }> {
  const res = await fetch(`${base}/ready`);
  expect(res.headers.get('content-type')).toMatch(/^application\/json/);
  const text = await res.text();
  return { status: res.status, body: JSON.parse(text) as Readiness, text };
}

async function startRunner(): Promise<Runner> {
  // The seed's tables have no source here; nothing is due, the runner only ticks.
  await pool.query(`UPDATE sqp.refresh_config SET is_enabled = false`);
  // Every minute, the schedule the probes judge it by.
  const runner = buildTestRunner(pool, database.url, { logger, workerName: 'probe-test', schedule: '* * * * *' });
  runners.push(runner);
  await runner.start();
  await runner.tick();
  return runner;
}

describe('/health', () => {
  it('answers 200 with the uptime, version and worker name', async () => {
    const base = await serveProbes({ pool });
    const res = await fetch(`${base}/health`);
    expect(res.status).toBe(200);
    const body = await res.json();
    expect(body).toEqual({ status: 'ok', uptimeSeconds: expect.any(Number), version: expect.stringMatching(/^\d+\.\d+\.\d+/), workerName: 'probe-test' });
  });
});

describe('/ready', () => {
  it('is ready on a migrated database with a ticking runner, and shows every check', async () => {
    const runner = await startRunner();
    const runtime = createRuntime({ runner });
    const base = await serveProbes({ pool, runtime });
    const { status, body } = await getReady(base);
    expect(status).toBe(200);
    expect(body.status).toBe('ready');
    expect(body.checks.database).toEqual({ ok: true, ms: expect.any(Number) });
    expect(body.checks.migrations).toEqual({ ok: true, pending: [] });
    expect(body.checks.runner).toMatchObject({ ok: true, state: 'ticking', lastTickAt: expect.any(String), ticks: expect.any(Number), inFlight: 0 });
    expect(body.checks.runner.ticks).toBeGreaterThanOrEqual(1);
  });

  it('is ready without a runner (a process that only serves the graph), saying the runner is absent', async () => {
    const base = await serveProbes({ pool }); // no runtime given: no runner in this process
    const { status, body } = await getReady(base);
    expect(status).toBe(200);
    expect(body.checks.runner).toEqual({ ok: true, state: 'absent' });
  });

  it('is not ready when the runner has missed two ticks', async () => {
    const runner = await startRunner();
    const lastTick = runner.status().lastTickAt!;
    // The clock of the probe three minutes after the latest tick of an every-minute schedule.
    const base = await serveProbes({ pool, runtime: createRuntime({ runner }), now: () => new Date(lastTick.getTime() + 3 * 60_000 + 31_000) });
    const { status, body } = await getReady(base);
    expect(status).toBe(503);
    expect(body.status).toBe('not ready');
    expect(body.checks.runner).toMatchObject({ ok: false, state: 'stalled', lastTickAt: lastTick.toISOString(), tickDueBy: expect.any(String) });
    expect(body.checks.database.ok).toBe(true);
  });

  it('is not ready when the database is unreachable, naming the database and hiding the connection string', async () => {
    const port = await freePort(); // nothing listens there
    const dead = new pg.Pool({ connectionString: `postgresql://probe_user:Pr0be-Secret-pw@127.0.0.1:${port}/sqp`, max: 1 });
    dead.on('error', () => undefined);
    deadPools.push(dead);
    const base = await serveProbes({ pool: dead, runtime: createRuntime() });
    const { status, body, text } = await getReady(base);
    expect(status).toBe(503);
    expect(body.status).toBe('not ready');
    expect(body.checks.database).toMatchObject({ ok: false, error: expect.stringMatching(/^database unreachable: .*ECONNREFUSED/) });
    expect(body.checks.migrations).toMatchObject({ ok: false, pending: null });
    expect(text).not.toContain('Pr0be-Secret-pw');
    expect(text).not.toContain('probe_user');
  });

  it('is not ready on an empty database, listing the pending migrations', async () => {
    const base = await serveProbes({ pool: emptyPool, runtime: createRuntime() });
    const { status, body } = await getReady(base);
    expect(status).toBe(503);
    expect(body.checks.database.ok).toBe(true);
    const names = (await readMigrations()).map((m) => m.name);
    expect(names.length).toBeGreaterThan(0);
    expect(body.checks.migrations).toEqual({ ok: false, pending: names, error: expect.stringContaining('sqp-refresh migrate') });
  });
});
