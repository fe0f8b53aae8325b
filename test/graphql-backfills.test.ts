// Backfills through the graph, over real HTTP and WebSocket, on a BigQuery source served by the
// local BigQuery test server: 26 weekly chunks, the dry run's chunks and byte estimate against what the chunks'
// jobs are then billed, the range re-loaded and nothing outside it, typed errors that write
// nothing, the Backfill node, and backfillProgress live until it completes.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBigQueryTestServer, testBigQuerySource, type BigQueryTestServer } from './support/bigquery-server.ts';
import { createTestDatabase, openTestPool } from './support/db.ts';
import { execute } from './support/graphql.ts';
import { startLiveApp, subscribeWs, type LiveApp } from './support/live.ts';
import { registerTestTable, tableChecksum } from './support/refresh.ts';
import { graphql } from './generated/index.ts';
import { tableHealth } from '../src/runner/state/health.ts';

const database = await createTestDatabase();
const sql = openTestPool(database.url, 3);
let app: LiveApp;
let bigquery: BigQueryTestServer;
const QUERY = 'SELECT id, start_date, v FROM `sqp-test.sqp.weeks`';
const BYTES_PER_ROW = 40_000;
/** The first day of a chunk whose query BigQuery refuses (a mistake no retry mends); null: none. */
let failingChunk: string | null = null;
/** The source: 5 rows per week from 2026-01-04 for 40 weeks, v restated (v = 10·id) since the target was loaded. */
const SOURCE = Array.from({ length: 200 }, (_, i) => ({ id: i + 1, start_date: new Date(Date.UTC(2026, 0, 4) + Math.floor(i / 5) * 7 * 86_400_000).toISOString().slice(0, 10), v: 10 * (i + 1) }));

beforeAll(async () => {
  bigquery = await startBigQueryTestServer({ projectId: 'sqp-test' });
  // As BigQuery prunes partitions: a query over a range bills that range's bytes.
  bigquery.addQuery((q) => q.query.includes('sqp.weeks'), (q) => {
    const from = q.params['sqp_window_from'] as string | undefined;
    const to = q.params['sqp_window_to'] as string | undefined;
    if (!q.dryRun && from !== undefined && from === failingChunk) return { schema: [], fail: { reason: 'invalidQuery', message: 'Unrecognized name: start_date at [3:9]' } };
    const rows = SOURCE.filter((r) => (!from || r.start_date >= from) && (!to || r.start_date < to));
    return { schema: [{ name: 'id', type: 'INTEGER' }, { name: 'start_date', type: 'DATE' }, { name: 'v', type: 'INTEGER' }], rows: rows.map((r) => [r.id, r.start_date, r.v]), bytesProcessed: rows.length * BYTES_PER_ROW };
  });
  await sql.query(`UPDATE sqp.refresh_config SET next_refresh_at = now() + interval '30 days'`);
  await sql.query(`CREATE TABLE sqp.weeks (id bigint PRIMARY KEY, start_date date NOT NULL, v bigint)`);
  // Loaded before the restatement: v = id everywhere, and a row the source no longer has.
  await sql.query(`INSERT INTO sqp.weeks SELECT id, start_date::date, id FROM json_populate_recordset(NULL::sqp.weeks, $1::json)`, [JSON.stringify(SOURCE)]);
  await sql.query(`INSERT INTO sqp.weeks VALUES (9999, '2026-03-03', 1)`);
  await registerTestTable(sql, {
    tableName: 'weeks', nextRefreshAt: '30 days',
    customSyncParams: { source: { type: 'bigquery', query: QUERY }, partitionColumn: 'start_date', quality: { deleteRatio: { max: 1 } } },
  });
  app = await startLiveApp(database.url, { dailyByteBudget: 10n ** 12n, sources: { bigquery: testBigQuerySource(bigquery, { retry: { attempts: 2, baseDelayMs: 1, maxDelayMs: 2 } }) } });
});
afterAll(async () => {
  await app?.stop();
  await bigquery?.close();
  await sql.end();
  await database.drop();
});

const Start = graphql(`
  mutation StartBackfill($input: StartBackfillInput!) {
    startBackfill(input: $input) {
      __typename
      ... on StartBackfillPayload { dryRun estimatedBytes remainingBudgetBytes chunks { position tableName from to estimatedBytes } backfill { id status chunksTotal } }
      ... on Error { message }
      ... on ValidationError { field }
      ... on ConflictError { field }
    }
  }
`);

const Progress = graphql(`
  subscription BackfillProgress($id: ID!) {
    backfillProgress(id: $id) { id status chunksDone chunksTotal percent }
  }
`);

const Read = graphql(`
  query ReadBackfill($ids: [ID!]!) {
    nodes(ids: $ids) {
      ... on Backfill { id status from to chunksDone chunksTotal rowsProcessed bytesBilled errors chunks { position state from to runs bytesBilled run { id status } } }
    }
  }
`);

const backfillCount = async () => (await sql.query<{ n: number }>(`SELECT count(*)::int AS n FROM sqp_refresh_work.backfills`)).rows[0]!.n;
const input = { tableSchema: 'sqp', tableName: 'weeks', from: '2026-02-01', to: '2026-08-01', chunk: 'WEEK' as const, cascade: false };

describe('backfills in the graph', () => {
  it('refuses bad input with a typed error naming the field, and writes nothing', async () => {
    const cases = [
      [{ ...input, from: '2026-02-30' }, 'ValidationError', 'from'],
      [{ ...input, to: '2026-01-01' }, 'ValidationError', 'to'],
      [{ ...input, tableName: 'nope' }, 'NotFoundError', null],
      [{ ...input, from: '1900-01-01' }, 'ValidationError', 'to'],
    ] as const;
    for (const [given, type, field] of cases) {
      const { data } = await execute(app.url, Start, { input: given }, app.headers('operate'));
      expect(data?.startBackfill).toMatchObject({ __typename: type, ...(field ? { field } : {}) });
    }
    const asReader = await execute(app.url, Start, { input }, app.headers('read'));
    expect(asReader.data?.startBackfill.__typename).toBe('ForbiddenError'); // a reader may not start one
    expect(await backfillCount()).toBe(0);
  });

  it('a dry run plans the chunks and estimates bytes within what the jobs are billed; the run re-loads the range only', async () => {
    const dry = (await execute(app.url, Start, { input: { ...input, dryRun: true } }, app.headers('operate'))).data?.startBackfill;
    if (dry?.__typename !== 'StartBackfillPayload') throw new Error(JSON.stringify(dry));
    expect(dry.backfill).toBeNull();
    expect(dry.chunks.map((c) => [c.from, c.to])).toEqual(Array.from({ length: 26 }, (_, i) => {
      const d = (n: number) => new Date(Date.UTC(2026, 1, 1) + n * 86_400_000).toISOString().slice(0, 10);
      return [d(7 * i), d(7 * i + 6)];
    }));
    // Each chunk's dry run (BigQuery counts at least 10 MB for each table a query reads).
    expect(BigInt(dry.estimatedBytes!)).toBe(dry.chunks.reduce((n, c) => n + BigInt(c.estimatedBytes!), 0n));
    expect(dry.chunks.every((c) => BigInt(c.estimatedBytes!) >= BigInt(5 * BYTES_PER_ROW))).toBe(true);
    expect(await backfillCount()).toBe(0);
    const outside = await tableChecksum(sql, `(SELECT * FROM sqp.weeks WHERE start_date NOT BETWEEN '2026-02-01' AND '2026-08-01') t`, ['id', 'start_date', 'v']);

    const started = (await execute(app.url, Start, { input }, app.headers('operate'))).data?.startBackfill;
    if (started?.__typename !== 'StartBackfillPayload') throw new Error(JSON.stringify(started));
    const id = started.backfill!.id;
    const live = subscribeWs(app.wsUrl, Progress, { id }, { authorization: app.headers('read').authorization }, (b) => b.backfillProgress.status === 'COMPLETED');
    const states = await live.results;
    expect(states.at(-1)?.backfillProgress).toMatchObject({ status: 'COMPLETED', chunksDone: 26, chunksTotal: 26, percent: 100 });
    expect(states.map((s) => s.backfillProgress.chunksDone)).toEqual([...states.map((s) => s.backfillProgress.chunksDone)].sort((a, b) => a - b));

    const read = (await execute(app.url, Read, { ids: [id] }, app.headers('read'))).data?.nodes[0];
    if (!read || !('chunks' in read)) throw new Error('no backfill');
    expect(read.chunks.every((c) => c.state === 'DONE' && c.run?.status === 'SUCCESS')).toBe(true);
    const billed = read.chunks.reduce((n, c) => n + BigInt(c.bytesBilled), 0n);
    expect(BigInt(read.bytesBilled)).toBe(billed);
    expect(BigInt(dry.estimatedBytes!)).toBeLessThanOrEqual(billed); // BigQuery bills at least 10 MB a job

    // The range is the source's (v restated, the withdrawn row gone); outside it, nothing moved.
    const expected = SOURCE.filter((r) => r.start_date >= '2026-02-01' && r.start_date <= '2026-08-01');
    const { rows } = await sql.query<{ id: string; v: string }>(`SELECT id, v FROM sqp.weeks WHERE start_date BETWEEN '2026-02-01' AND '2026-08-01' ORDER BY id`);
    expect(rows.map((r) => [Number(r.id), Number(r.v)])).toEqual(expected.map((r) => [r.id, r.v]));
    expect(await tableChecksum(sql, `(SELECT * FROM sqp.weeks WHERE start_date NOT BETWEEN '2026-02-01' AND '2026-08-01') t`, ['id', 'start_date', 'v'])).toEqual(outside);
  });

  it("a chunk that fails for good fails the backfill, and leaves its table's own state and schedule alone", async () => {
    failingChunk = '2026-09-06';
    const started = (await execute(app.url, Start, { input: { ...input, from: '2026-08-30', to: '2026-09-12' } }, app.headers('operate'))).data?.startBackfill;
    if (started?.__typename !== 'StartBackfillPayload') throw new Error(JSON.stringify(started));
    const id = started.backfill!.id;
    const live = subscribeWs(app.wsUrl, Progress, { id }, { authorization: app.headers('read').authorization }, (b) => b.backfillProgress.status === 'FAILED');
    expect((await live.results).at(-1)?.backfillProgress).toMatchObject({ status: 'FAILED', chunksDone: 1, chunksTotal: 2 });
    const read = (await execute(app.url, Read, { ids: [id] }, app.headers('read'))).data?.nodes[0];
    if (!read || !('chunks' in read)) throw new Error('no backfill');
    expect(read.errors).toEqual([expect.stringMatching(/^chunk 2 \(weeks 2026-09-06\): .*Unrecognized name/)]);
    // The failed chunk published nothing and is no outcome of the table: not FAILED, no retry streak.
    const [weeks] = await tableHealth(sql, new Date(), null).then((all) => all.filter((t) => t.tableName === 'weeks'));
    expect(weeks).toMatchObject({ failureStreak: 0 });
    expect(weeks!.state).not.toBe('failed');
    // Told: BACKFILL_FAILED about the backfill's table, with the chunk and BigQuery's reason.
    const { rows: alerts } = await sql.query(`SELECT kind, table_name, reason FROM sqp_refresh_work.alerts WHERE kind = 'backfill_failed'`);
    expect(alerts).toEqual([{ kind: 'backfill_failed', table_name: 'weeks', reason: expect.stringMatching(/^backfill \d+: chunk 2 \(sqp\.weeks from 2026-09-06\) failed: .*Unrecognized name/) }]);
    failingChunk = null;
  });
});
