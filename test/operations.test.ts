// /metrics and /ready name tables and their failures: with METRICS_TOKEN they answer only its
// bearer (401 otherwise) while /health stays open for liveness probes; with METRICS_PORT they
// are served on a listener of their own and no longer beside /graphql. Over real HTTP, with the
// real probes and metrics on a test database, configured through the environment.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config.ts';
import { createRefreshMetrics } from '../src/http/metrics.ts';
import { createProbes } from '../src/http/probes.ts';
import { createLogger } from '../src/logger.ts';
import { buildApp, type App } from '../src/server.ts';
import type { AddressInfo } from 'node:net';
import { createTestDatabase, openTestPool } from './support/db.ts';

const TOKEN = 'metrics-token-0123456789abcdef';
const logger = createLogger({ level: 'silent', pretty: false });
const database = await createTestDatabase();
const pool = openTestPool(database.url, 3);
const apps: App[] = [];

/** The service's operator routes, served as configured by `env`; resolves with both base URLs. */
async function serve(env: Record<string, string>): Promise<{ main: string; operations: string }> {
  const config = loadConfig({ DATABASE_URL: database.url, ...env });
  const probes = createProbes({ pool, workerName: 'ops-test', schedule: '* * * * *' });
  const metrics = createRefreshMetrics({ pool, logger });
  const routes = { '/health': probes.health, '/ready': probes.ready, '/metrics': metrics.route };
  const app = buildApp({ graphql: config.graphql, auth: config.auth, logger, operations: { ...config.operations, routes } });
  apps.push(app);
  const main = (await app.start(0)).replace(/\/graphql$/, '');
  const port = app.operationsServer ? (app.operationsServer.address() as AddressInfo).port : null;
  return { main, operations: port ? `http://127.0.0.1:${port}` : main };
}

beforeAll(async () => {
  await pool.query(`SELECT 1`);
});
afterAll(async () => {
  for (const app of apps) await app.stop();
  await pool.end();
  await database.drop();
});

const get = (url: string, token?: string) => fetch(url, token ? { headers: { authorization: `Bearer ${token}` } } : {});

describe('METRICS_TOKEN', () => {
  it('/metrics and /ready answer only its bearer; /health stays open', async () => {
    const { main } = await serve({ METRICS_TOKEN: TOKEN });
    for (const path of ['/metrics', '/ready']) {
      for (const token of [undefined, 'wrong-token', TOKEN.slice(0, -1)]) {
        const res = await get(`${main}${path}`, token);
        expect(res.status, `${path} with ${token ?? 'no token'}`).toBe(401);
        expect(res.headers.get('www-authenticate')).toMatch(/^Bearer /);
        expect(await res.text()).not.toMatch(/sqp\.|weekly_summary/);
      }
      const allowed = await get(`${main}${path}`, TOKEN);
      expect(allowed.status, path).toBeLessThan(500);
      expect(allowed.status, path).not.toBe(401);
    }
    expect(await (await get(`${main}/metrics`, TOKEN)).text()).toMatch(/^# HELP /m);
    const health = await get(`${main}/health`);
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({ status: 'ok' });
  });

  it('without it, they answer anyone (the default, as before)', async () => {
    const { main } = await serve({});
    expect((await get(`${main}/metrics`)).status).toBe(200);
  });

  it('refuses a token too short to be a secret', () => {
    expect(() => loadConfig({ METRICS_TOKEN: 'short' })).toThrow(ConfigError);
  });
});

describe('METRICS_PORT', () => {
  it('serves /health, /ready and /metrics on their own port only, and nothing else there', async () => {
    const { main, operations } = await serve({ METRICS_PORT: '0', METRICS_TOKEN: TOKEN });
    expect(operations).not.toBe(main);
    expect((await get(`${operations}/metrics`, TOKEN)).status).toBe(200);
    expect((await get(`${operations}/metrics`)).status).toBe(401);
    expect((await get(`${operations}/health`)).status).toBe(200);
    expect((await get(`${operations}/graphql`)).status).toBe(404);
    // (yoga answers its own bare /health beside /graphql; ours, with the worker's name, is there.)
    for (const path of ['/metrics', '/ready']) expect((await get(`${main}${path}`, TOKEN)).status, path).toBe(404);
    expect(await (await get(`${operations}/health`)).json()).toMatchObject({ workerName: 'ops-test' });
    const graphql = await fetch(`${main}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query: '{ viewer { scopes } }' }) });
    expect(graphql.status).toBe(200);
  });
});
