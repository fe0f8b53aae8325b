// The runner against real PostgreSQL, with an injected clock: order, cascades, blocking,
// retries with backoff, next_refresh_at rules, and several replicas sharing the work.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { addRefreshDependency } from '../src/commands/config.ts';
import type { RunnerOptions } from '../src/runner/scheduler/runner.ts';
import { createSources } from '../src/runner/sources/registry.ts';
import type { RefreshEvent } from '../src/subscriptions/events.ts';
import { createTestDatabase, openTestPool } from './support/db.ts';
import { buildTestRunner, registerTestTable } from './support/refresh.ts';

const database = await createTestDatabase();
const pool = openTestPool(database.url, 8);
const T0 = new Date('2026-03-01T06:00:00Z');
const HOUR = 3_600_000;
let clock = T0.getTime();
const now = () => new Date(clock);

function runner(extra: Partial<RunnerOptions> = {}, db = pool) {
  return buildTestRunner(db, database.url, {
    now, random: () => 1,
    retry: { maxAttempts: 3, baseDelayMs: 60_000, maxDelayMs: HOUR },
    ...extra,
  });
}

/** A table sqp.<name> whose source is a generated series (or a failing query). */
async function table(name: string, opts: { priority?: number; dueInHours?: number; query?: string; enabled?: boolean } = {}) {
  await pool.query(`CREATE TABLE IF NOT EXISTS sqp.${name} (id int PRIMARY KEY, v int)`);
  await registerTestTable(pool, {
    tableName: name, priority: opts.priority ?? 100, isEnabled: opts.enabled ?? true, refreshFrequencyHours: 24,
    customSyncParams: { source: { type: 'postgres', query: opts.query ?? 'SELECT g AS id, g * 2 AS v FROM generate_series(1, 250) g' }, pageSize: 100, quality: { rowCountChange: { min: -1, max: 100 } } },
    nextRefreshAt: new Date(clock + (opts.dueInHours ?? -1) * HOUR),
  });
}
const sqp = (tableName: string) => ({ tableSchema: 'sqp', tableName });
const edge = (parent: string, dependent: string, dependencyType: 'hard' | 'soft' = 'hard') =>
  addRefreshDependency(pool, { parent: sqp(parent), dependent: sqp(dependent), dependencyType });
const runsOf = async (names: string[]) =>
  (await pool.query(`SELECT table_name, status FROM sqp.refresh_audit_log WHERE table_name = ANY ($1) ORDER BY id`, [names])).rows;
const nextOf = async (name: string) =>
  (await pool.query(`SELECT next_refresh_at FROM sqp.refresh_config WHERE table_name = $1`, [name])).rows[0].next_refresh_at as Date;

beforeAll(async () => {
  // The seed's own tables have no params and never become due in these tests.
  await pool.query(`UPDATE sqp.refresh_config SET is_enabled = false`);
});
beforeEach(() => {
  clock += 10 * 24 * HOUR; // each test in its own stretch of time
});
afterAll(async () => {
  await pool.end();
  await database.drop();
});

describe('order and dependencies', () => {
  it('runs due tables by priority, and a parent\'s success makes its dependents run right after it', async () => {
    await table('low', { priority: 10 });
    await table('high', { priority: 900 });
    await table('parent', { priority: 500 });
    await table('child', { priority: 999, dueInHours: 20 }); // not due itself
    await table('later', { dueInHours: 5 });
    await edge('parent', 'child');
    // One at a time, so that start order is exactly the planned order.
    await runner({ concurrency: 1 }).tick();
    expect((await runsOf(['low', 'high', 'parent', 'child', 'later'])).map((r) => r.table_name)).toEqual(['high', 'parent', 'low', 'child']);
  });

  it('a failed parent blocks hard dependents (they wait, and say why) but not soft ones', async () => {
    await table('bad_parent', { query: 'SELECT 1/0 AS id, 1 AS v' });
    await table('hard_dep', { dueInHours: -0.5 });
    await table('soft_dep', { dueInHours: -0.5 });
    await edge('bad_parent', 'hard_dep', 'hard');
    await edge('bad_parent', 'soft_dep', 'soft');
    const events: RefreshEvent[] = [];
    await runner({ emit: (e) => events.push(e) }).tick();
    expect(await runsOf(['bad_parent', 'hard_dep', 'soft_dep'])).toEqual([
      { table_name: 'bad_parent', status: 'failed' },
      { table_name: 'soft_dep', status: 'success' },
    ]);
    const blocked = events.find((e) => e.type === 'run:blocked');
    expect(blocked).toMatchObject({ tableName: 'hard_dep', reasons: ['blocked by sqp.bad_parent: its latest refresh failed'] });
    expect((await nextOf('hard_dep')).getTime()).toBeLessThanOrEqual(clock); // still due, waiting
    const { rows: [soft] } = await pool.query(`SELECT sync_metadata FROM sqp.refresh_audit_log WHERE table_name = 'soft_dep'`);
    expect(soft.sync_metadata.unhealthySoftParents).toEqual(['sqp.bad_parent']);
  });
});

describe('schedule', () => {
  it('after success, next_refresh_at advances from the previous due time; a long outage collapses into one run', async () => {
    await table('steady', { dueInHours: -50 }); // due 50 h ago, every 24 h: missed two slots
    const due = await nextOf('steady');
    await runner().tick();
    expect(await runsOf(['steady'])).toHaveLength(1);
    expect((await nextOf('steady')).getTime()).toBe(due.getTime() + 3 * 24 * HOUR);
  });

  it('retryable failures back off exponentially up to the limit; then the next regular slot', async () => {
    // A source database that does not answer: a connection failure, which is retryable.
    await table('flaky', { dueInHours: -1 });
    const due = await nextOf('flaky');
    await pool.query(`UPDATE sqp.refresh_config SET custom_sync_params = jsonb_set(custom_sync_params, '{source,databaseUrlEnv}', '"SOURCE_DATABASE_URL_DOWN"') WHERE table_name = 'flaky'`);
    const r = runner({ sources: createSources({ targetUrl: database.url, env: { SOURCE_DATABASE_URL_DOWN: 'postgresql://nobody@127.0.0.1:1/none' } }) });
    const delays: number[] = [];
    for (let attempt = 1; attempt <= 3; attempt++) {
      const before = clock;
      await r.tick();
      const next = (await nextOf('flaky')).getTime();
      delays.push(next - before);
      clock = Math.max(clock, next);
    }
    expect(delays.slice(0, 2)).toEqual([60_000, 120_000]);
    // The third failure reached maxAttempts: back to the regular slot (due + whole days).
    expect((await nextOf('flaky')).getTime() - due.getTime()).toBe(24 * HOUR);
    expect((await runsOf(['flaky'])).every((x) => x.status === 'failed')).toBe(true);
  });

  it('a non-retryable failure is not retried: it waits for the next regular slot', async () => {
    await table('broken', { dueInHours: -2, query: 'SELECT nonexistent AS id, 1 AS v' });
    const due = await nextOf('broken');
    await runner().tick();
    expect((await nextOf('broken')).getTime()).toBe(due.getTime() + 24 * HOUR);
  });
});

describe('replicas', () => {
  it('3 runners with their own pools share 50 forced tables: every table exactly once, never two at a time', async () => {
    const names = Array.from({ length: 50 }, (_, i) => `many_${i}`);
    for (const n of names) await table(n, { dueInHours: -1 });
    const pools = [1, 2, 3].map(() => openTestPool(database.url, 4));
    try {
      await Promise.all(pools.map((p, i) => runner({ workerName: `replica-${i}`, concurrency: 2 }, p).tick()));
    } finally {
      await Promise.all(pools.map((p) => p.end()));
    }
    const { rows } = await pool.query(
      `SELECT table_name, count(*)::int AS runs, count(DISTINCT sync_metadata->>'worker')::int AS workers,
              bool_and(status = 'success') AS ok
       FROM sqp.refresh_audit_log WHERE table_name LIKE 'many\\_%' GROUP BY table_name`);
    expect(rows).toHaveLength(50);
    expect(rows.every((r) => r.runs === 1 && r.ok)).toBe(true);
    const { rows: [spread] } = await pool.query(`SELECT count(DISTINCT sync_metadata->>'worker')::int AS n FROM sqp.refresh_audit_log WHERE table_name LIKE 'many\\_%'`);
    expect(spread.n).toBeGreaterThan(1);
  });

  it('a global limit bounds the refreshes of all replicas together (here 1: never two at once)', async () => {
    await pool.query(`UPDATE sqp.refresh_config SET is_enabled = false`); // only this test's tables
    const names = Array.from({ length: 6 }, (_, i) => `limited_${i}`);
    for (const n of names) await table(n, { dueInHours: -1, query: 'SELECT g AS id, g AS v FROM generate_series(1, 300) g WHERE pg_sleep(0.0002) IS NOT NULL' });
    const pools = [1, 2].map(() => openTestPool(database.url, 6));
    try {
      // Passes repeat until everything ran: a replica that finds the slot taken leaves the table due.
      for (let round = 0; round < 20; round++) {
        await Promise.all(pools.map((p, i) => runner({ workerName: `limited-${i}`, concurrency: 3, globalConcurrency: 1 }, p).tick()));
        const { rows: [left] } = await pool.query(`SELECT count(*)::int AS n FROM sqp.refresh_config WHERE table_name LIKE 'limited\\_%' AND next_refresh_at <= $1`, [now()]);
        if (left.n === 0) break;
      }
    } finally {
      await Promise.all(pools.map((p) => p.end()));
    }
    const { rows } = await pool.query(
      `SELECT table_name, refresh_started_at AS s, refresh_completed_at AS e FROM sqp.refresh_audit_log
       WHERE table_name LIKE 'limited\\_%' ORDER BY created_at`);
    expect(new Set(rows.map((r) => r.table_name)).size).toBe(6);
    // The engine stamps start/end with the injected clock, so compare real creation order and
    // check no run's row was created while another was still running: at most one 'running' at a time.
    const { rows: [overlap] } = await pool.query(
      `SELECT count(*)::int AS n FROM sqp.refresh_audit_log a JOIN sqp.refresh_audit_log b
         ON a.id < b.id AND a.table_name LIKE 'limited\\_%' AND b.table_name LIKE 'limited\\_%'
        AND b.created_at < a.created_at + make_interval(secs => a.execution_time_ms / 1000.0)`);
    expect(overlap.n).toBe(0);
  });
});
