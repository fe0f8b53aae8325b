// A dashboard that loses its connection misses nothing: with the official clients (graphql-ws,
// and graphql-sse on /graphql/stream) it receives some events, drops the connection while runs
// go on on two replicas (each a real server with a runner and the event log), reconnects with
// the last id it saw — to the other replica, and in one variant after that replica was stopped
// and started again — and has then received every event of the log for its filter exactly once,
// in commit order. An SSE request with Last-Event-ID (raw fetch) resumes the same way, each SSE
// event carrying its id.
import { print } from 'graphql';
import { createClient as createSseClient } from 'graphql-sse';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LoggedEvent } from '../src/subscriptions/events.ts';
import { createTestDatabase, openTestPool } from './support/db.ts';
import { recordEvents, type Recorded } from './support/events.ts';
import { execute } from './support/graphql.ts';
import { seriesTable, startLiveApp, subscribeWs, type LiveApp } from './support/live.ts';
import { graphql } from './generated/index.ts';

const database = await createTestDatabase();
const sql = openTestPool(database.url, 2);
/** The two replicas; [1] is replaced when it restarts. */
const replicas: LiveApp[] = [];
/** Every event on replica A's bus (it follows the log of both). */
let seenOnA: Recorded<LoggedEvent>;
const TABLES = Array.from({ length: 4 }, (_, i) => `dash_${i}`);

beforeAll(async () => {
  await sql.query(`UPDATE sqp.refresh_config SET is_enabled = false, next_refresh_at = now() + interval '30 days'`);
  for (const t of TABLES) await seriesTable(sql, t, { rows: 600, pageSize: 100, msPerRow: 0.2 });
  replicas.push(await startLiveApp(database.url, { workerName: 'dash-a' }), await startLiveApp(database.url, { workerName: 'dash-b' }));
  seenOnA = recordEvents((l) => replicas[0]!.bus.subscribe(l));
}, 60_000);
afterAll(async () => {
  for (const r of replicas) await r.stop();
  await sql.end();
  await database.drop();
});

const Events = graphql(`
  subscription DashboardEvents($filter: RefreshEventFilter, $after: ID) {
    refreshEvents(filter: $filter, after: $after) { __typename ... on RefreshEvent { id tableName } }
  }
`);
const Force = graphql(`
  mutation DashboardForce($input: ForceRefreshInput!) {
    forceRefresh(input: $input) { __typename }
  }
`);
type Delivered = { __typename: string; id: string; tableName: string };
const filter = { tableSchema: 'sqp' };

/** The log's ids for the filter in (after, through], in commit order: what a subscriber must receive. */
async function logIds(after: string, through: string): Promise<string[]> {
  const { rows } = await sql.query<{ id: string }>(
    `SELECT id::text AS id FROM sqp_refresh_work.refresh_events WHERE id > $1 AND id <= $2 AND table_schema = 'sqp' ORDER BY refresh_events.id`, [after, through]);
  return rows.map((r) => r.id);
}
const latestId = async () => (await sql.query<{ id: string }>(`SELECT coalesce(max(id), 0)::text AS id FROM sqp_refresh_work.refresh_events`)).rows[0]!.id;

/** Forces a table through a replica and waits for its run's finish (on A's bus: it follows both replicas). */
async function refresh(through: LiveApp, table: string): Promise<void> {
  const already = seenOnA.events.filter((e) => e.type === 'run:finished' && e.tableName === table).length;
  const forced = await execute(through.url, Force, { input: { tableSchema: 'sqp', tableName: table } }, through.headers('operate'));
  expect(forced.data!.forceRefresh.__typename).toBe('ForceRefreshPayload');
  await seenOnA.nth(already + 1, (e) => e.type === 'run:finished' && e.tableName === table, 60_000, `${table} finished`);
}

/** A dashboard's connection: collect events after `after` until `until` holds, then drop it. */
type Connect = (app: LiveApp, after: string, until: (all: Delivered[]) => boolean) => Promise<Delivered[]>;

const viaGraphqlWs: Connect = (app, after, until) =>
  subscribeWs(app.wsUrl, Events, { filter, after }, { authorization: `Bearer ${app.tokens.read}` }, (_i, all) => until(all.map((x) => x.refreshEvents as Delivered))).results.then((all) =>
    all.map((x) => x.refreshEvents as Delivered),
  );

const viaGraphqlSse: Connect = async (app, after, until) => {
  const client = createSseClient({ url: `${app.url}/stream`, retryAttempts: 0, headers: app.headers('read') });
  const items: Delivered[] = [];
  try {
    for await (const result of client.iterate<{ refreshEvents: Delivered }>({ query: print(Events), variables: { filter, after } })) {
      if (result.errors?.length) throw new Error(result.errors.map((e) => e.message).join('; '));
      items.push(result.data!.refreshEvents);
      if (until(items)) break; // leaving the loop closes the event stream: the connection drops
    }
  } finally {
    client.dispose();
  }
  return items;
};

/** Connect, receive some, drop; runs go on on both replicas (one restarted, if asked); reconnect to the other with the last id. */
async function dashboardScenario(connect: Connect, restart: boolean): Promise<void> {
  const [a, b] = replicas as [LiveApp, LiveApp];
  const start = await latestId();
  const first = connect(a, start, (all) => all.length >= 5);
  await Promise.all([refresh(a, TABLES[0]!), refresh(b, TABLES[1]!)]);
  const before = await first;
  expect(before).toHaveLength(5);
  // Disconnected: runs go on, on both replicas.
  await Promise.all([refresh(a, TABLES[2]!), refresh(b, TABLES[3]!)]);
  let resumeOn = b;
  if (restart) {
    await b.stop();
    resumeOn = replicas[1] = await startLiveApp(database.url, { workerName: 'dash-b2' });
    await refresh(resumeOn, TABLES[1]!);
  }
  const end = await latestId();
  const after = await connect(resumeOn, before.at(-1)!.id, (all) => all.at(-1)!.id === end);
  const ids = [...before, ...after].map((e) => e.id);
  // Every event of the log for the filter, each once, in commit order.
  expect(ids).toEqual(await logIds(start, end));
  expect(new Set(ids).size).toBe(ids.length);
  expect(ids.every((id, i) => i === 0 || BigInt(id) > BigInt(ids[i - 1]!))).toBe(true);
  // Each run in its commit order: started first, finished last.
  for (const t of TABLES) {
    const kinds = [...before, ...after].filter((e) => e.tableName === t).map((e) => e.__typename);
    if (!kinds.length) continue;
    expect(kinds[0]).toBe('RunStarted');
    expect(kinds.at(-1)).toBe('RunFinished');
  }
}

describe.each([
  ['graphql-ws', viaGraphqlWs],
  ['graphql-sse', viaGraphqlSse],
])('a dashboard on %s', (_name, connect) => {
  it('reconnecting with the last id receives every event exactly once, in commit order', () => dashboardScenario(connect, false), 120_000);
  it('the same with the other replica stopped and started again in between', () => dashboardScenario(connect, true), 120_000);
});

it("SSE with Last-Event-ID (yoga's /graphql, raw fetch) resumes after it; every SSE event carries its id", async () => {
  const [a] = replicas as [LiveApp];
  const start = await latestId();
  await refresh(a, TABLES[0]!);
  const end = await latestId();
  const all = await logIds(start, end);
  const resumeAfter = all[2]!;
  const controller = new AbortController();
  const res = await fetch(a.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'text/event-stream', 'last-event-id': resumeAfter, ...a.headers('read') },
    body: JSON.stringify({ query: print(Events), variables: { filter } }),
    signal: controller.signal,
  });
  expect(res.headers.get('content-type')).toMatch(/text\/event-stream/);
  const received: Array<{ sseId: string | undefined; id: string }> = [];
  let buffer = '';
  const decoder = new TextDecoder();
  try {
    reading: for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      buffer += decoder.decode(chunk, { stream: true });
      for (let at; (at = buffer.indexOf('\n\n')) >= 0; buffer = buffer.slice(at + 2)) {
        const message = buffer.slice(0, at);
        const data = /^data: (.+)$/m.exec(message)?.[1];
        if (!/^event: next$/m.test(message) || !data) continue;
        const id = (JSON.parse(data) as { data: { refreshEvents: Delivered } }).data.refreshEvents.id;
        received.push({ sseId: /^id: (.+)$/m.exec(message)?.[1], id });
        if (id === end) break reading;
      }
    }
  } finally {
    controller.abort();
  }
  expect(received.map((r) => r.id)).toEqual(all.slice(3));
  expect(received.every((r) => r.sseId === r.id)).toBe(true);
}, 60_000);

const Progress = graphql(`
  subscription DashboardProgress($runId: ID!, $after: ID) {
    runProgress(runId: $runId, after: $after) { eventId rowsProcessed finished status }
  }
`);

it('runProgress resumed after an eventId sends the states of the events after it, then ends at the finish', async () => {
  const [a] = replicas as [LiveApp];
  await refresh(a, TABLES[2]!);
  const finished = seenOnA.events.filter((e) => e.type === 'run:finished' && e.tableName === TABLES[2]).at(-1)!;
  const runId = (finished as LoggedEvent & { runId: number }).runId;
  const { rows } = await sql.query<{ id: string; type: string }>(
    `SELECT id::text AS id, type FROM sqp_refresh_work.refresh_events WHERE run_id = $1 ORDER BY refresh_events.id`, [runId]);
  const firstProgress = rows.findIndex((r) => r.type === 'run:progress');
  const after = rows[firstProgress]!.id;
  const global = Buffer.from(`RefreshRun:${runId}`).toString('base64');
  const states = (await subscribeWs(a.wsUrl, Progress, { runId: global, after }, { authorization: `Bearer ${a.tokens.read}` }, (s) => s.runProgress.finished).results).map((s) => s.runProgress);
  // One state per later progress or finish of the run, none before `after`, the last one final.
  expect(states.map((s) => s.eventId)).toEqual(rows.slice(firstProgress + 1).filter((r) => r.type === 'run:progress' || r.type === 'run:finished').map((r) => r.id));
  expect(states.at(-1)).toMatchObject({ finished: true, status: 'SUCCESS', rowsProcessed: 600 });
}, 60_000);
