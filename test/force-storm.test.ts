// 200 concurrent forceRefresh calls over three replicas (each a runner with its own pool and
// LISTEN connection, as the service composes one) while refreshes run: every request is used
// by exactly one successful run (none lost, none doubled), no call fails, and no deadlock or
// serialization failure reaches a caller or aborts a runner pass. Each replica writes its runs'
// events to the event log, and a dashboard on graphql-ws gets every run's events in commit order.
import { Writable } from 'node:stream';
import pg from 'pg';
import { afterAll, expect, it } from 'vitest';
import { createLogger } from '../src/logger.ts';
import { forceRefresh } from '../src/commands/refresh.ts';
import type { Runner } from '../src/runner/scheduler/runner.ts';
import { createEventBus } from '../src/subscriptions/bus.ts';
import { startEventLog, type EventLog } from '../src/subscriptions/event-log-parts.ts';
import { createDatabaseListener, type DatabaseListener } from '../src/subscriptions/listener.ts';
import { startTestApp, type TestApp } from './support/app.ts';
import { createTestDatabase, openTestPool } from './support/db.ts';
import { seriesTable, subscribeWs } from './support/live.ts';
import { graphql } from './generated/index.ts';
import { buildTestRunner } from './support/refresh.ts';
import { eventually } from './support/until.ts';

const database = await createTestDatabase();
const pool = openTestPool(database.url, 4);
const TABLES = ['storm_a', 'storm_b', 'storm_c', 'storm_d', 'storm_e'];
const logLines: Array<{ level: number; msg: string; err?: { code?: string } }> = [];
const logger = createLogger({ level: 'info', pretty: false }, new Writable({
  write(chunk: Buffer, _enc, done) {
    for (const line of chunk.toString().split('\n')) if (line) logLines.push(JSON.parse(line));
    done();
  },
}));
const replicas: Array<{ runner: Runner; listener: DatabaseListener; pool: pg.Pool; events: EventLog }> = [];
let dashboard: TestApp | undefined;

afterAll(async () => {
  await dashboard?.stop();
  for (const r of replicas) {
    await r.runner.stop();
    await r.events.stop();
    await r.listener.stop();
    await r.pool.end();
  }
  await pool.end();
  await database.drop();
});

it('200 concurrent forces over 3 replicas: each request served by exactly one run, no deadlock anywhere', async () => {
  await pool.query(`UPDATE sqp.refresh_config SET is_enabled = false`);
  for (const t of TABLES) await seriesTable(pool, t, { rows: 1000, pageSize: 100, msPerRow: 0.3 });
  for (let i = 0; i < 3; i++) {
    const own = openTestPool(database.url, 6);
    const listener = createDatabaseListener({ url: database.url, logger: logger.child({ replica: i }) });
    await listener.start();
    const bus = createEventBus();
    const events = await startEventLog({ pool: own, listener, bus, subscribers: { count: 0 }, retentionHours: 24, logger: logger.child({ replica: i }) });
    const runner = buildTestRunner(own, database.url, {
      logger: logger.child({ replica: i }), workerName: `storm-${i}`, listener, concurrency: 2,
      retry: { maxAttempts: 10, baseDelayMs: 20, maxDelayMs: 200 }, emit: events.writer.write,
    });
    await runner.start();
    replicas.push({ runner, listener, pool: own, events });
    // A dashboard on the first replica's server: every run's events, from the log's start.
    if (i === 0) dashboard = await startTestApp(database.url, { ANONYMOUS_ACCESS: 'read' }, { bus });
  }
  const delivered: Array<{ id: string; __typename: string; runId?: string }> = [];
  let end: string | null = null;
  const watching = subscribeWs(dashboard!.url.replace(/^http/, 'ws'), StormEvents, { after: '0' }, {}, (item) => {
    delivered.push(item.refreshEvents as (typeof delivered)[number]);
    return item.refreshEvents.id === end;
  });

  // Each call goes through a replica's pool, as a mutation on that replica would.
  const calls = Array.from({ length: 200 }, (_, i) => {
    const replica = replicas[i % 3]!;
    const tableName = TABLES[Math.floor(Math.random() * TABLES.length)]!;
    // Spread over three seconds, so that most arrive while a refresh of their table runs.
    return new Promise((resolve) => setTimeout(resolve, Math.random() * 3000)).then(() => forceRefresh(
      { pool: replica.pool, dailyByteBudget: null, requestedBy: `caller-${i}`, waitMs: 0 },
      { tableSchema: 'sqp', tableName, cascade: false, mode: null, dryRun: false },
    )).then((r) => ({ tableName, requestId: r.requestId! }));
  });
  const settled = await Promise.allSettled(calls);
  const refused = settled.filter((s) => s.status === 'rejected').map((s) => String((s as PromiseRejectedResult).reason));
  expect(refused).toEqual([]);
  const requests = settled.map((s) => (s as PromiseFulfilledResult<{ tableName: string; requestId: number }>).value);

  // Every request is served, then nothing is left waiting or running.
  await eventually(async () => {
    const { rows: [left] } = await pool.query(
      `SELECT (SELECT count(*) FROM sqp_refresh_work.refresh_requests)::int AS requests,
              (SELECT count(*) FROM sqp.refresh_audit_log WHERE status = 'running')::int AS running`);
    return left.requests === 0 && left.running === 0;
  }, 120_000, 'every request served');

  const { rows: runs } = await pool.query<{ table_name: string; status: string; ids: number[] | null }>(
    `SELECT table_name, status, sync_metadata->'requestIds' AS ids FROM sqp.refresh_audit_log WHERE table_name = ANY ($1) ORDER BY id`, [TABLES]);
  expect(runs.filter((r) => r.status !== 'success')).toEqual([]);
  const servedBy = new Map<number, string[]>();
  for (const run of runs) for (const id of run.ids ?? []) servedBy.set(id, [...(servedBy.get(id) ?? []), run.table_name]);
  // Each request: exactly one run, of its own table.
  for (const r of requests) expect({ id: r.requestId, servedBy: servedBy.get(r.requestId) }).toEqual({ id: r.requestId, servedBy: [r.tableName] });
  expect(servedBy.size).toBe(200);
  // No pass was aborted, and no deadlock (40P01) or serialization failure (40001) was logged.
  expect(logLines.filter((l) => l.msg === 'runner pass failed' || l.msg === 'refresh could not start')).toEqual([]);
  expect(logLines.filter((l) => l.err?.code === '40P01' || l.err?.code === '40001')).toEqual([]);

  // The dashboard got every event of the log, once, in commit order; each run's in its order.
  // A run's end reaches the log just after its row commits (the replica's writer): wait for every one.
  await eventually(async () => {
    const { rows: [n] } = await pool.query(`SELECT count(*)::int AS ends FROM sqp_refresh_work.refresh_events WHERE type = 'run:finished' AND table_name = ANY ($1)`, [TABLES]);
    return n.ends === runs.length;
  }, 30_000, "every run's end in the event log");
  end = (await pool.query<{ id: string }>(`SELECT max(id)::text AS id FROM sqp_refresh_work.refresh_events`)).rows[0]!.id;
  // Done once the log's last id is delivered (already, or when it comes).
  if (delivered.at(-1)?.id !== end) await watching.results;
  else {
    void watching.results.catch(() => undefined);
    watching.close();
  }
  const { rows: logged } = await pool.query<{ id: string }>(`SELECT id::text AS id FROM sqp_refresh_work.refresh_events ORDER BY refresh_events.id`);
  expect(delivered.map((e) => e.id)).toEqual(logged.map((r) => r.id));
  const byRun = new Map<string, typeof delivered>();
  for (const e of delivered) if (e.runId) byRun.set(e.runId, [...(byRun.get(e.runId) ?? []), e]);
  expect(byRun.size).toBe(runs.length);
  for (const [runId, events] of byRun) {
    const order = events.map((e) => ({ RunStarted: 'S', RunProgress: 'P', QualityMetricRecorded: 'Q', RunFinished: 'F' })[e.__typename] ?? '?').join('');
    // started, progress…, quality…, finished (ids ascending: the whole list is, above)
    expect({ runId, order }).toEqual({ runId, order: expect.stringMatching(/^SP+Q*F$/) });
  }
  console.log(`force storm: 200 requests over 3 replicas served by ${runs.length} runs`);
}, 180_000);

const StormEvents = graphql(`
  subscription StormEvents($after: ID) {
    refreshEvents(after: $after) {
      __typename
      ... on RefreshEvent { id }
      ... on RunStarted { runId }
      ... on RunProgress { runId }
      ... on QualityMetricRecorded { runId }
      ... on RunFinished { runId }
    }
  }
`);
