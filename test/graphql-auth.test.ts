// Who may do what, over real HTTP and WebSocket: every mutation refuses no token, a token with
// too small a scope and a revoked token; reads need `read`; limits refuse deep or costly
// queries; an internal error reaches the client masked.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, openTestPool } from './support/db.ts';
import { executeRaw } from './support/graphql.ts';
import { startLiveApp, subscribeWs, type LiveApp } from './support/live.ts';
import { eventually } from './support/until.ts';
import { graphql } from './generated/index.ts';

const database = await createTestDatabase();
const sql = openTestPool(database.url, 2);
let app: LiveApp;

beforeAll(async () => {
  await sql.query(`UPDATE sqp.refresh_config SET next_refresh_at = now() + interval '30 days'`);
  app = await startLiveApp(database.url);
});
afterAll(async () => {
  await app?.stop();
  await sql.end();
  await database.drop();
});

const configGid = async () => Buffer.from(`RefreshConfig:${(await sql.query(`SELECT min(id) AS id FROM sqp.refresh_config`)).rows[0].id}`).toString('base64');

/** Every mutation with valid input, and the least scope it needs. */
const MUTATIONS: Array<{ name: string; scope: 'operate' | 'admin'; query: () => Promise<string> }> = [
  { name: 'forceRefresh', scope: 'operate', query: async () => `mutation { forceRefresh(input: { tableSchema: "sqp", tableName: "weekly_summary", dryRun: true }) { __typename ... on Error { message } } }` },
  { name: 'scheduleRefresh', scope: 'operate', query: async () => `mutation { scheduleRefresh(input: { tableSchema: "sqp", tableName: "weekly_summary", at: "2030-01-01T00:00:00Z" }) { __typename ... on Error { message } } }` },
  { name: 'cancelRefresh', scope: 'operate', query: async () => `mutation { cancelRefresh(input: { runId: "${Buffer.from('RefreshRun:1').toString('base64')}" }) { __typename ... on Error { message } } }` },
  { name: 'updateRefreshConfig', scope: 'admin', query: async () => `mutation { updateRefreshConfig(input: { id: "${await configGid()}", priority: 321 }) { __typename ... on Error { message } } }` },
  { name: 'registerTable', scope: 'admin', query: async () => `mutation { registerTable(input: { tableSchema: "sqp", tableName: "refresh_config" }) { __typename ... on Error { message } } }` },
  { name: 'addRefreshDependency', scope: 'admin', query: async () => `mutation { addRefreshDependency(input: { parent: { tableSchema: "sqp", tableName: "daily_sqp_data" }, dependent: { tableSchema: "sqp", tableName: "weekly_summary" } }) { __typename ... on Error { message } } }` },
  { name: 'removeRefreshDependency', scope: 'admin', query: async () => `mutation { removeRefreshDependency(input: { id: "${Buffer.from('RefreshDependency:999999').toString('base64')}" }) { __typename ... on Error { message } } }` },
];

const state = async () => JSON.stringify((await sql.query(`SELECT * FROM sqp.refresh_config ORDER BY id`)).rows) + JSON.stringify((await sql.query(`SELECT * FROM sqp.refresh_dependencies ORDER BY id`)).rows);

describe('mutations', () => {
  for (const m of MUTATIONS) {
    it(`${m.name} refuses no token, a smaller scope and a revoked token, writing nothing; ${m.scope} may`, async () => {
      const query = await m.query();
      const before = await state();
      const refusals: Array<[string | null, RegExp]> = [
        [null, /no token was given/],
        ['read', /token "reader" lacks it/],
        ['revoked', /not valid \(unknown or revoked\)/],
      ];
      if (m.scope === 'admin') refusals.push(['operate', /token "operator" lacks it/]);
      for (const [scope, why] of refusals) {
        const res = await executeRaw(app.url, query, undefined, app.headers(scope as never));
        const result = res.body.data?.[m.name] as { __typename: string; message: string };
        expect(result.__typename, `${m.name} with ${scope ?? 'no'} token`).toBe('ForbiddenError');
        expect(result.message).toContain(`Mutation.${m.name} needs scope '${m.scope}'`);
        expect(result.message).toMatch(why);
      }
      expect(await state()).toBe(before);
      const allowed = await executeRaw(app.url, query, undefined, app.headers(m.scope));
      expect((allowed.body.data?.[m.name] as { __typename: string }).__typename).not.toBe('ForbiddenError');
      // admin implies operate
      const admin = await executeRaw(app.url, query, undefined, app.headers('admin'));
      expect((admin.body.data?.[m.name] as { __typename: string }).__typename).not.toBe('ForbiddenError');
    });
  }
});

describe('queries and subscriptions', () => {
  it('reads need a read token (anonymous reads are off here), a revoked token is refused', async () => {
    const q = '{ runnerStatus { queueDepth } }';
    expect((await executeRaw(app.url, q)).body.errors?.[0]?.message).toMatch(/Query.runnerStatus needs scope 'read': no token was given/);
    expect((await executeRaw(app.url, q, undefined, app.headers('revoked'))).body.errors?.[0]?.message).toMatch(/not valid/);
    expect((await executeRaw(app.url, q, undefined, app.headers('read'))).body.data).toEqual({ runnerStatus: { queueDepth: expect.any(Number) } });
    // A raw token (no `Bearer`) is refused as such, never read as "no token".
    const raw = await executeRaw(app.url, q, undefined, { authorization: app.tokens.read });
    expect(raw.body.errors?.[0]?.message).toMatch(/not of the form "Bearer <token>"/);
  });

  const Events = graphql(`subscription AuthEvents { refreshEvents { __typename } }`);

  // Refusals at connection_init (4403 with a reason) are tested in graphql-ws-auth.test.ts.
  it('a WebSocket subscription authenticates in connectionParams', async () => {
    // With a read token the subscription is accepted: a config change arrives as an event.
    const ok = subscribeWs(app.wsUrl, Events, {}, { authorization: `Bearer ${app.tokens.read}` }, () => true);
    await ok.ready;
    // The subscription is registered on the server (not just the socket open) before the change.
    await eventually(async () => app.runtime.subscribers.count >= 1, 10_000, 'the subscription registered');
    await sql.query(`UPDATE sqp.refresh_config SET priority = priority + 1 WHERE table_name = 'weekly_summary'`);
    expect(await ok.results).toEqual([{ refreshEvents: { __typename: 'ConfigChanged' } }]);
  });
});

describe('limits and masking', () => {
  it('refuses a query deeper than the limit, and one over the cost limit', async () => {
    const deep = `{ refreshConfigs(first: 1) { edges { node { ${'parents { '.repeat(10)}tableName${' }'.repeat(10)} } } } }`;
    const d = await executeRaw(app.url, deep, undefined, app.headers('read'));
    expect(d.body.errors?.[0]?.message).toMatch(/depth/i);
    const costly = `{ a: refreshConfigs(first: 100) { edges { node { runs(first: 100) { edges { node { qualityMetrics { metricName } } } } } } } }`;
    const c = await executeRaw(app.url, costly, undefined, app.headers('read'));
    expect(c.body.errors?.[0]?.message).toMatch(/cost/i);
  });

  it('an internal error reaches the client as "Unexpected error." without SQL, table names or stack', async () => {
    await sql.query(`ALTER TABLE sqp_refresh_work.replicas RENAME TO replicas_moved`);
    try {
      const res = await executeRaw(app.url, '{ runnerStatus { queueDepth } }', undefined, app.headers('read'));
      expect(res.body.errors).toHaveLength(1);
      expect(res.body.errors![0]).toMatchObject({ message: 'Unexpected error.', extensions: { code: 'INTERNAL_SERVER_ERROR' } });
      expect(JSON.stringify(res.body)).not.toMatch(/replicas|relation|SELECT|at .*\.ts/);
    } finally {
      await sql.query(`ALTER TABLE sqp_refresh_work.replicas_moved RENAME TO replicas`);
    }
  });
});
