// The event log (migration 042, src/subscriptions/event-*.ts) on real PostgreSQL: ids in commit
// order across concurrent writers (a follower misses none), a config change logged in its own
// transaction, pruning in batches with the horizon, an `after` older than the log keeps is
// EVENTS_EXPIRED over the real server, and a writer whose connection is killed mid-write retries
// without losing or doubling an event; a run whose end its process never logged has it logged
// by the sweep (migration 042), once.
import { createClient } from 'graphql-ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { createLogger } from '../src/logger.ts';
import { createEventBus } from '../src/subscriptions/bus.ts';
import { createEventFollower } from '../src/subscriptions/event-follower.ts';
import { appendEvents } from '../src/subscriptions/event-log.ts';
import { createEventPruner } from '../src/subscriptions/event-pruner.ts';
import { createEventWriter } from '../src/subscriptions/event-writer.ts';
import type { LoggedEvent, RefreshEvent } from '../src/subscriptions/events.ts';
import { createDatabaseListener, type DatabaseListener } from '../src/subscriptions/listener.ts';
import { refreshTable } from '../src/runner/engine/refresh-table.ts';
import { createSources } from '../src/runner/sources/registry.ts';
import { startTestApp, type TestApp } from './support/app.ts';
import { createTestDatabase, openTestPool } from './support/db.ts';
import { recordEvents } from './support/events.ts';
import { loadConfig, registerTestTable } from './support/refresh.ts';
import { eventually } from './support/until.ts';

const database = await createTestDatabase();
const sql = openTestPool(database.url, 4);
const logger = createLogger({ level: 'silent', pretty: false });
const bus = createEventBus();
const seen = recordEvents<LoggedEvent>((l) => bus.subscribe(l));
let listener: DatabaseListener;
let follower: ReturnType<typeof createEventFollower>;

beforeAll(async () => {
  listener = createDatabaseListener({ url: database.url, logger });
  await listener.start();
  follower = createEventFollower({ pool: sql, listener, bus, logger, pageSize: 7 });
  await follower.start();
});
afterAll(async () => {
  await follower?.stop();
  await listener?.stop();
  await sql.end();
  await database.drop();
});

const blocked = (tableName: string, n: number): RefreshEvent => ({ type: 'run:blocked', configId: 1, tableSchema: 'sqp', tableName, reasons: [`#${n}`], at: new Date().toISOString() });
const logIds = async (tableName: string) =>
  (await sql.query<{ id: string; n: string }>(`SELECT id::text, payload->'reasons'->>0 AS n FROM sqp_refresh_work.refresh_events WHERE table_name = $1 ORDER BY refresh_events.id`, [tableName])).rows;
const ascending = (ids: string[]) => ids.every((id, i) => i === 0 || BigInt(id) > BigInt(ids[i - 1]!));

describe('ids in commit order', () => {
  it('two writers appending at once: the follower publishes every id, each once, ascending', async () => {
    const pools = [openTestPool(database.url, 4), openTestPool(database.url, 4)];
    try {
      // Many small transactions from two pools interleave: without the lock before nextval, a
      // transaction holding a smaller id could commit after a larger one was read, and be missed.
      await Promise.all(pools.map((pool, w) => Promise.all(Array.from({ length: 60 }, (_, i) => appendEvents(pool, [blocked('commit_order', w * 1000 + i)])))));
      const log = await logIds('commit_order');
      expect(log).toHaveLength(120);
      await seen.nth(120, (e) => e.tableName === 'commit_order', 30_000, 'every appended event on the bus');
      const published = seen.events.filter((e) => e.tableName === 'commit_order').map((e) => e.id);
      expect(published).toEqual(log.map((r) => r.id));
      expect(ascending(published)).toBe(true);
    } finally {
      await Promise.all(pools.map((p) => p.end()));
    }
  });

  it('a batch sent again by its writer (its commit unknown) appends nothing', async () => {
    const batch = { writer: '6f0c1c2e-0000-4000-8000-000000000001', seq: 1 };
    expect(await appendEvents(sql, [blocked('retried', 1)], batch)).not.toBeNull();
    expect(await appendEvents(sql, [blocked('retried', 1)], batch)).toBeNull();
    expect(await logIds('retried')).toHaveLength(1);
  });
});

describe('config changes', () => {
  it("are logged in the change's own transaction, at commit, and not at all when it rolls back", async () => {
    const client = await sql.connect();
    try {
      await client.query('BEGIN');
      await client.query(`UPDATE sqp.refresh_config SET priority = priority + 1 WHERE table_name = 'weekly_summary'`);
      // Deferred to commit: an open transaction does not hold the log's lock, others still append.
      expect(await appendEvents(sql, [blocked('while_open', 1)])).not.toBeNull();
      await client.query('COMMIT');
      await client.query('BEGIN');
      await client.query(`UPDATE sqp.refresh_config SET priority = priority + 1 WHERE table_name = 'monthly_summary'`);
      await client.query('ROLLBACK');
    } finally {
      client.release();
    }
    const { rows } = await sql.query(`SELECT type, table_name, payload FROM sqp_refresh_work.refresh_events WHERE type = 'config:changed'`);
    expect(rows).toEqual([{ type: 'config:changed', table_name: 'weekly_summary', payload: expect.objectContaining({ change: 'UPDATE', fields: ['priority'] }) }]);
    const event = await seen.next((e) => e.type === 'config:changed', 10_000, 'the config change on the bus');
    expect(event).toMatchObject({ type: 'config:changed', tableName: 'weekly_summary', change: 'UPDATE', fields: ['priority'] });
  });
});

describe('pruning', () => {
  it('deletes what is older than the retention in batches and moves the horizon; one replica at a time', async () => {
    for (let i = 0; i < 10; i++) await appendEvents(sql, [blocked('old', i)]);
    await appendEvents(sql, [blocked('recent', 0)]);
    await sql.query(`UPDATE sqp_refresh_work.refresh_events SET created_at = now() - interval '2 days' WHERE id <= (SELECT max(id) FROM sqp_refresh_work.refresh_events WHERE table_name = 'old')`);
    const oldest = await logIds('old');
    const pruner = createEventPruner({ pool: sql, logger, retentionHours: 24, batchSize: 4 });
    // Another replica pruning (its lock held): this one skips.
    const other = await sql.connect();
    await other.query('BEGIN');
    await other.query('SELECT pg_advisory_xact_lock(sqp_refresh_work.event_prune_lock_key())');
    expect(await pruner.prune()).toBe(0);
    await other.query('COMMIT');
    other.release();
    const { rows: [before] } = await sql.query<{ n: number }>(`SELECT count(*)::int AS n FROM sqp_refresh_work.refresh_events WHERE created_at < now() - interval '1 day'`);
    expect(await pruner.prune()).toBe(before!.n); // several batches of 4
    expect(await logIds('old')).toEqual([]);
    expect(await logIds('recent')).toHaveLength(1);
    const { rows: [h] } = await sql.query<{ p: string }>(`SELECT pruned_through::text AS p FROM sqp_refresh_work.refresh_event_horizon`);
    expect(h!.p).toBe(oldest.at(-1)!.id);
  });

  describe('a subscriber asking for what was pruned', () => {
    let app: TestApp;
    beforeAll(async () => {
      app = await startTestApp(database.url, { ANONYMOUS_ACCESS: 'read' }, { bus });
    });
    afterAll(async () => app?.stop());

    /** The first thing the server answers a subscription with (an error here). */
    const first = (variables: Record<string, unknown>) => {
      const client = createClient({ url: app.url.replace(/^http/, 'ws'), webSocketImpl: WebSocket, retryAttempts: 0 });
      return new Promise<{ errors?: Array<{ message: string; extensions?: Record<string, unknown> }> }>((resolve, reject) => {
        client.subscribe(
          { query: 'subscription($after: ID) { refreshEvents(after: $after) { __typename } }', variables },
          {
            next: (r) => resolve(r as never),
            error: (e) => resolve({ errors: Array.isArray(e) ? e : [] }),
            complete: () => reject(new Error('completed without a result')),
          },
        );
      }).finally(() => void client.dispose());
    };

    it('is told EVENTS_EXPIRED (re-read the state); a malformed after is BAD_USER_INPUT', async () => {
      const expired = await first({ after: '1' });
      expect(expired.errors?.[0]?.extensions).toMatchObject({ code: 'EVENTS_EXPIRED', field: 'after' });
      expect(expired.errors?.[0]?.message).toMatch(/re-read the state/);
      const garbled = await first({ after: 'abc' });
      expect(garbled.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'after' });
    });
  });
});

describe('a write that fails', () => {
  it('is retried: the connection killed mid-write loses and doubles nothing, and the run is never held up', async () => {
    const pool = openTestPool(database.url, 2);
    let written = 0;
    let allWritten!: () => void;
    const sixWritten = new Promise<void>((resolve) => (allWritten = resolve));
    const writer = createEventWriter({ pool, logger, retryMinMs: 20, retryMaxMs: 100, onWritten: (events) => (written += events.length) >= 6 && allWritten() });
    const lock = await sql.connect();
    try {
      // Hold the log's lock: the writer's statement waits on it, and is killed while it waits.
      await lock.query('BEGIN');
      await lock.query('SELECT pg_advisory_xact_lock(sqp_refresh_work.event_log_lock_key())');
      for (let i = 0; i < 3; i++) writer.write(blocked('killed', i));
      await eventually(async () => (await sql.query(`SELECT 1 FROM pg_stat_activity WHERE query LIKE '%append_refresh_events%' AND wait_event_type = 'Lock'`)).rowCount === 1, 10_000, 'the write waiting');
      const { rows: killed } = await sql.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE '%append_refresh_events%' AND wait_event_type = 'Lock'`);
      expect(killed).toHaveLength(1);
      // Written meanwhile: queued behind the failed batch, in order. write() never waits or throws.
      for (let i = 3; i < 6; i++) writer.write(blocked('killed', i));
      expect(writer.pending()).toBe(6);
      await lock.query('COMMIT');
      await seen.nth(6, (e) => e.tableName === 'killed', 30_000, 'the six events after the retry');
      expect((await logIds('killed')).map((r) => r.n)).toEqual(['#0', '#1', '#2', '#3', '#4', '#5']);
      // The follower may read them before the writer's own statement returns (two connections): wait for the writer's word.
      await sixWritten;
      expect(written).toBe(6);
      expect(writer.pending()).toBe(0);
    } finally {
      lock.release();
      await writer.stop();
      await pool.end();
    }
  });
});

describe('a run whose process died before its end was logged', () => {
  it('has its end logged by the sweep, from its audit row, once: a late writer doubles nothing', async () => {
    await appendEvents(sql, [blocked('untold_before', 1)]); // the log exists before the run
    await sql.query(`CREATE SCHEMA IF NOT EXISTS src; CREATE TABLE src.untold AS SELECT g AS id FROM generate_series(1, 50) g`);
    await sql.query(`CREATE TABLE sqp.untold (id int PRIMARY KEY)`);
    await registerTestTable(sql, { tableName: 'untold', nextRefreshAt: '30 days', customSyncParams: { source: { type: 'postgres', query: 'SELECT id FROM src.untold' } } });
    // A run committed by a process that logged nothing of it (as one killed right after its commit).
    const run = await refreshTable(await loadConfig(sql, 'untold'), { pool: sql, sources: createSources({ targetUrl: database.url }) });
    expect(run.status).toBe('success');
    const ends = async () => (await sql.query<{ payload: Record<string, unknown> }>(`SELECT payload FROM sqp_refresh_work.refresh_events WHERE run_id = $1 AND type = 'run:finished'`, [run.runId])).rows.map((r) => r.payload);
    expect(await ends()).toEqual([]);

    const keeper = createEventPruner({ pool: sql, logger, retentionHours: 24, quietSeconds: 0 });
    expect(await keeper.sweep()).toBe(1);
    expect(await ends()).toEqual([expect.objectContaining({ status: 'success', outcome: 'completed', rowsProcessed: 50, errorMessage: null })]);
    await seen.next((e) => e.type === 'run:finished' && e.runId === run.runId, 10_000, 'the swept end on the bus');
    expect(await keeper.sweep()).toBe(0);
    // Its writer, back late, appends the same end: refused.
    await appendEvents(sql, [{ type: 'run:finished', configId: 1, tableSchema: 'sqp', tableName: 'untold', runId: run.runId, status: 'success', outcome: 'completed', rowsProcessed: 50, errorMessage: null, at: new Date().toISOString() }]);
    expect(await ends()).toHaveLength(1);
  });
});
