// Two service processes on one database: a refresh forced through replica A (API only, no
// runner) is executed by replica B, and a subscriber on A sees it live — events cross
// replicas through PostgreSQL LISTEN/NOTIFY.
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createToken } from '../src/auth/tokens.ts';
import { createTestDatabase, openTestPool } from './support/db.ts';
import { execute } from './support/graphql.ts';
import { seriesTable, subscribeWs } from './support/live.ts';
import { eventually } from './support/until.ts';
import { graphql } from './generated/index.ts';

const root = path.resolve(import.meta.dirname, '..');
const database = await createTestDatabase();
const sql = openTestPool(database.url, 2);
const operate = createToken('tooling', 'operate');
const read = createToken('dashboard', 'read');
const children: ChildProcess[] = [];

/** Starts `sqp-refresh start` as its own process; resolves with its GraphQL URL. */
function replica(name: string, env: Record<string, string>): Promise<string> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'start'], {
    cwd: root,
    env: {
      ...process.env, DATABASE_URL: database.url, PORT: '0', LOG_LEVEL: 'info', LOG_PRETTY: 'false', WORKER_NAME: name,
      API_TOKENS: `${operate.entry},${read.entry}`, RUNNER_SCHEDULE: '0 0 1 1 *', ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let output = '';
  return new Promise((resolve, reject) => {
    child.stdout!.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      const m = /GraphiQL is ready at (http:\/\/\S+?)"/.exec(output);
      if (m) resolve(m[1]!);
    });
    child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.once('exit', (code) => reject(new Error(`${name} exited with ${code}:\n${output}`)));
  });
}

let urlA: string;
beforeAll(async () => {
  // Every seed table has params (so the demo source leaves them alone) and is not due.
  await sql.query(`UPDATE sqp.refresh_config SET custom_sync_params = '{"source":{"type":"postgres","query":"SELECT 1 AS id WHERE false"}}', next_refresh_at = now() + interval '30 days'`);
  await seriesTable(sql, 'rep_t', { rows: 2000, pageSize: 200, msPerRow: 0.5 });
  [urlA] = await Promise.all([replica('replica-a', { RUNNER_ENABLED: 'false' }), replica('replica-b', {})]);
}, 120_000);
afterAll(async () => {
  await Promise.all(children.map((c) => new Promise((r) => { c.once('exit', r); c.kill('SIGTERM'); })));
  await sql.end();
  await database.drop();
});

const Events = graphql(`
  subscription ReplicaEvents($filter: RefreshEventFilter) {
    refreshEvents(filter: $filter) { __typename ... on RunProgress { rowsProcessed } ... on RunFinished { status rowsProcessed } }
  }
`);
const Force = graphql(`
  mutation ForceOnA($input: ForceRefreshInput!) {
    forceRefresh(input: $input) { __typename ... on ForceRefreshPayload { run { id syncMetadata } } }
  }
`);
const Status = graphql(`query ReplicaStatus { runnerStatus { replicas { workerName alive } } }`);

it('a refresh forced through A and executed by B is seen live by a subscriber on A', async () => {
  const wsA = urlA.replace(/^http/, 'ws');
  const sub = subscribeWs(wsA, Events, { filter: { tableName: 'rep_t' } }, { authorization: `Bearer ${read.token}` }, (i) => i.refreshEvents.__typename === 'RunFinished');
  await sub.ready;
  // The subscription is registered on A (its /metrics counts it) before anything is forced.
  await eventually(async () => /^sqp_refresh_subscribers 1$/m.test(await (await fetch(new URL("/metrics", urlA))).text()), 10_000, 'the subscription registered on A');
  const forced = await execute(urlA, Force, { input: { tableSchema: 'sqp', tableName: 'rep_t' } }, { authorization: `Bearer ${operate.token}` });
  const r = forced.data!.forceRefresh;
  if (r.__typename !== 'ForceRefreshPayload') throw new Error(r.__typename);
  expect(r.run!.syncMetadata).toMatchObject({ trigger: 'forced', requestedBy: 'tooling' });
  const events = (await sub.results).map((e) => e.refreshEvents.__typename).filter((t) => t !== 'QualityMetricRecorded');
  expect(events[0]).toBe('RunStarted');
  expect(events).toContain('RunProgress');
  expect(events.at(-1)).toBe('RunFinished');
  // Only B has a runner: the checkpoint of the run names it.
  const { rows } = await sql.query(`SELECT function_name FROM sqp.refresh_checkpoints WHERE table_name = 'rep_t'`);
  expect(rows.map((x) => x.function_name)).toEqual(['replica-b']);
  const status = await execute(urlA, Status, {}, { authorization: `Bearer ${read.token}` });
  expect(status.data!.runnerStatus.replicas).toEqual([{ workerName: 'replica-b', alive: true }]);
}, 60_000);
