// Live progress over both transports against a running server: a forced refresh is seen as
// started → progress… → finished, in order, by a graphql-ws client and by an SSE client; a
// subscriber that arrives mid-run (the run held there by an advisory lock) gets the run's
// current state first.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createTestDatabase, openTestPool } from './support/db.ts';
import { execute } from './support/graphql.ts';
import { seriesTable, startLiveApp, subscribeSse, subscribeWs, type LiveApp } from './support/live.ts';
import { eventually } from './support/until.ts';
import { graphql } from './generated/index.ts';

const database = await createTestDatabase();
/** The advisory lock that holds sub_slow's source at row HELD_AT (after three pages). */
const HOLD_KEY = 424242;
const HELD_AT = 400;
const sql = openTestPool(database.url, 2);
let app: LiveApp;

beforeAll(async () => {
  await sql.query(`UPDATE sqp.refresh_config SET next_refresh_at = now() + interval '30 days'`);
  await seriesTable(sql, 'sub_fast', { rows: 2000, pageSize: 200 });
  await seriesTable(sql, 'sub_slow', { rows: 1500, pageSize: 100 });
  // Its source stops at row HELD_AT until the test lets it go (an advisory lock the test holds):
  // a late subscriber arrives mid-run for certain, however loaded the machine is. Declared
  // STABLE so that the source's count(*) of the query does not evaluate it (nor wait).
  await sql.query(`CREATE FUNCTION sqp.held_value(g int) RETURNS int LANGUAGE plpgsql STABLE AS $$
    BEGIN IF g = ${HELD_AT} THEN PERFORM pg_advisory_xact_lock_shared(${HOLD_KEY}); END IF; RETURN g * 2; END $$`);
  await sql.query(`UPDATE sqp.refresh_config SET custom_sync_params = jsonb_set(custom_sync_params, '{source,query}', to_jsonb($1::text)) WHERE table_name = 'sub_slow'`, [
    'SELECT g AS id, sqp.held_value(g) AS v FROM generate_series(1, 1500) g',
  ]);
  app = await startLiveApp(database.url);
});
afterAll(async () => {
  await app?.stop();
  await sql.end();
  await database.drop();
});

const Events = graphql(`
  subscription TableEvents($filter: RefreshEventFilter) {
    refreshEvents(filter: $filter) {
      __typename
      ... on RefreshEvent { tableName }
      ... on RunStarted { runId resumed }
      ... on RunProgress { runId rowsProcessed totalRows percent rowsPerSecond etaSeconds }
      ... on RunFinished { runId status outcome rowsProcessed }
    }
  }
`);
const Force = graphql(`
  mutation ForceForSubscribers($input: ForceRefreshInput!) {
    forceRefresh(input: $input) { __typename ... on ForceRefreshPayload { run { id } } }
  }
`);

type Item = { refreshEvents: { __typename: string; rowsProcessed?: number; runId?: string; status?: string } };
const isFinish = (i: Item) => i.refreshEvents.__typename === 'RunFinished';
const kinds = (items: Item[]) => items.map((i) => i.refreshEvents.__typename).filter((k) => k !== 'QualityMetricRecorded');

function expectStartedProgressFinished(items: Item[]) {
  const k = kinds(items);
  expect(k[0]).toBe('RunStarted');
  expect(k.at(-1)).toBe('RunFinished');
  expect(k.slice(1, -1).every((x) => x === 'RunProgress')).toBe(true);
  const progress = items.filter((i) => i.refreshEvents.__typename === 'RunProgress').map((i) => i.refreshEvents.rowsProcessed!);
  expect(progress.length).toBeGreaterThanOrEqual(1);
  expect([...progress].sort((a, b) => a - b)).toEqual(progress); // in order
  expect(progress.at(-1)).toBe(2000); // the last progress is always delivered
  expect(items.at(-1)!.refreshEvents).toMatchObject({ status: 'SUCCESS', rowsProcessed: 2000 });
}

it('a graphql-ws client and an SSE client each see started → progress… → finished, in order', async () => {
  const filter = { tableName: 'sub_fast' };
  const ws = subscribeWs(app.wsUrl, Events, { filter }, { authorization: `Bearer ${app.tokens.read}` }, isFinish);
  await ws.ready;
  const sse = subscribeSse(app.url, Events, { filter }, app.headers('read'), isFinish);
  // Both subscriptions registered (one per transport) before the refresh starts.
  await eventually(async () => app.runtime.subscribers.count >= 2, 10_000, 'two subscribers');
  const forced = await execute(app.url, Force, { input: { tableSchema: 'sqp', tableName: 'sub_fast' } }, app.headers('operate'));
  expect(forced.data!.forceRefresh.__typename).toBe('ForceRefreshPayload');
  const [viaWs, viaSse] = await Promise.all([ws.results, sse]);
  expectStartedProgressFinished(viaWs);
  expectStartedProgressFinished(viaSse);
});

const Progress = graphql(`
  subscription Progress($runId: ID!) {
    runProgress(runId: $runId) { status rowsProcessed totalRows percent finished run { tableName } }
  }
`);

it('a late subscriber to runProgress gets the current state first, then each change until it finishes', async () => {
  // The test holds the lock that stops the source at row HELD_AT, and lets go once the late
  // subscriber has its first state.
  const holder = await sql.connect();
  await holder.query('SELECT pg_advisory_lock($1)', [HOLD_KEY]);
  let released: Promise<unknown> | null = null;
  const release = () => (released ??= holder.query('SELECT pg_advisory_unlock($1)', [HOLD_KEY]));
  try {
    const forced = await execute(app.url, Force, { input: { tableSchema: 'sqp', tableName: 'sub_slow' } }, app.headers('operate'));
    const r = forced.data!.forceRefresh;
    if (r.__typename !== 'ForceRefreshPayload') throw new Error(r.__typename);
    // Three pages staged (the checkpoint counts them; nothing is published before the end).
    await eventually(async () => Number((await sql.query(`SELECT max(last_processed_row) AS n FROM sqp.refresh_checkpoints WHERE table_name = 'sub_slow' AND status = 'active'`)).rows[0].n ?? 0) >= 300, 30_000, 'three pages');
    const late = subscribeWs(app.wsUrl, Progress, { runId: r.run!.id }, { authorization: `Bearer ${app.tokens.read}` }, (i) => {
      void release();
      return i.runProgress.finished;
    });
    const states = (await late.results).map((s) => s.runProgress);
    expect(states[0]).toMatchObject({ status: 'RUNNING', finished: false, run: { tableName: 'sub_slow' } });
    expect(states[0]!.rowsProcessed).toBeGreaterThanOrEqual(300); // not blank: what was committed before it connected
    expect(states.at(-1)).toMatchObject({ status: 'SUCCESS', rowsProcessed: 1500, finished: true });
    // And a subscriber arriving after the end gets the final state at once, then completion.
    const after = subscribeWs(app.wsUrl, Progress, { runId: r.run!.id }, { authorization: `Bearer ${app.tokens.read}` }, () => false);
    expect((await after.results).map((s) => s.runProgress)).toEqual([expect.objectContaining({ status: 'SUCCESS', finished: true, rowsProcessed: 1500 })]);
  } finally {
    await release();
    holder.release();
  }
});
