// The scheduler's parts, each built alone with an injected clock, randomness and a real
// database (src/runner/scheduler/): what the schedule does after each kind of outcome, the
// global slots, and the registry of this process's runs.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addRefreshDependency } from '../src/commands/config.ts';
import { createLogger } from '../src/logger.ts';
import { startAuditRow } from '../src/runner/engine/audit-log.ts';
import type { RefreshOutcome } from '../src/runner/engine/refresh-types.ts';
import { reschedule } from '../src/runner/scheduler/retries.ts';
import { createRunRegistry } from '../src/runner/scheduler/runs.ts';
import { takeSlot } from '../src/runner/scheduler/slots.ts';
import { selectConfig } from '../src/runner/scheduler/sql.ts';
import type { RefreshEvent } from '../src/subscriptions/events.ts';
import { createTestDatabase, openTestPool } from './support/db.ts';
import { loadConfig, registerTestTable } from './support/refresh.ts';

const database = await createTestDatabase();
let pool: pg.Pool;
const NOW = new Date('2026-03-02T10:00:00Z');
const HOUR = 3_600_000;
const retry = { maxAttempts: 3, baseDelayMs: 60_000, maxDelayMs: HOUR };
const outcome = (o: Partial<RefreshOutcome>): RefreshOutcome => ({
  runId: 1, status: 'failed', outcome: 'failed', rowsProcessed: 0, rowsInserted: 0, rowsUpdated: 0, rowsDeleted: 0, resumed: false, errorMessage: null, errorDetails: null, ...o,
});
const nextRefreshAt = async (table: string) => (await selectConfig(pool, 'sqp', table))!.nextRefreshAt;

beforeAll(async () => {
  pool = openTestPool(database.url);
  for (const name of ['parts_parent', 'parts_child']) {
    await pool.query(`CREATE TABLE sqp.${name} (id int PRIMARY KEY)`);
    await registerTestTable(pool, { tableName: name, refreshFrequencyHours: 24, nextRefreshAt: '30 days' });
  }
  await addRefreshDependency(pool, { parent: { tableSchema: 'sqp', tableName: 'parts_parent' }, dependent: { tableSchema: 'sqp', tableName: 'parts_child' }, dependencyType: 'hard' });
});

afterAll(async () => {
  await pool?.end();
  await database.drop();
});

describe('retries.ts: the schedule after a run, on an injected clock', () => {
  const options = { now: () => NOW, random: () => 0, retry };

  it('a retryable failure is retried after the backoff with its jitter; a final one waits for the regular slot, and is told', async () => {
    const config = { ...(await loadConfig(pool, 'parts_parent')), nextRefreshAt: new Date(NOW.getTime() - HOUR) };
    const client = await pool.connect();
    const runId = await startAuditRow(client, { configId: config.id, schema: 'sqp', table: 'parts_parent', startedAt: NOW, metadata: {} }).finally(() => client.release());
    await reschedule(pool, config, outcome({ runId, errorDetails: { retryable: true } }), { cascade: true, requestIds: [] }, options);
    // No failed run recorded yet: attempt 0, the base delay, halved by the lowest jitter.
    expect(await nextRefreshAt('parts_parent')).toEqual(new Date(NOW.getTime() + retry.baseDelayMs / 2));
    const alerts = async () => (await pool.query(`SELECT kind, run_id AS "runId" FROM sqp_refresh_work.alerts WHERE config_id = $1`, [config.id])).rows;
    expect(await alerts()).toEqual([]);
    await reschedule(pool, config, outcome({ runId, errorMessage: 'no retry fixes this', errorDetails: { retryable: false } }), { cascade: true, requestIds: [] }, options);
    expect(await nextRefreshAt('parts_parent')).toEqual(new Date(config.nextRefreshAt.getTime() + 24 * HOUR));
    expect(await alerts()).toEqual([{ kind: 'table_failed', runId }]);
  });

  it('a completed run makes its hard dependent due at once; without cascade it does not', async () => {
    const config = await loadConfig(pool, 'parts_parent');
    expect(await reschedule(pool, config, outcome({ status: 'success', outcome: 'completed' }), { cascade: false, requestIds: [] }, options)).toBe(0);
    expect((await nextRefreshAt('parts_child'))!.getTime()).toBeGreaterThan(NOW.getTime());
    expect(await reschedule(pool, config, outcome({ status: 'success', outcome: 'completed' }), { cascade: true, requestIds: [] }, options)).toBe(1);
    expect(await nextRefreshAt('parts_child')).toEqual(NOW);
  });

  it('a paused run continues at the next pass; a cancelled one waits for its regular slot', async () => {
    const config = { ...(await loadConfig(pool, 'parts_parent')), nextRefreshAt: new Date(NOW.getTime() - HOUR) };
    await reschedule(pool, config, outcome({ status: 'success', outcome: 'paused' }), { cascade: true, requestIds: [] }, options);
    expect(await nextRefreshAt('parts_parent')).toEqual(NOW);
    await reschedule(pool, config, outcome({ outcome: 'cancelled' }), { cascade: true, requestIds: [] }, options);
    expect(await nextRefreshAt('parts_parent')).toEqual(new Date(config.nextRefreshAt.getTime() + 24 * HOUR));
  });
});

describe('slots.ts: global concurrency across replicas', () => {
  it('hands out `limit` slots, none beyond them, and a released slot again', async () => {
    const other = openTestPool(database.url); // another replica
    try {
      const first = await takeSlot(pool, 1);
      expect(first).not.toBeNull();
      expect(await takeSlot(other, 1)).toBeNull();
      await first!.release();
      const again = await takeSlot(other, 1);
      expect(again).not.toBeNull();
      await again!.release();
      expect(await takeSlot(other, undefined)).not.toBeNull(); // no limit: always a slot
    } finally {
      await other.end();
    }
  });
});

describe('runs.ts: the runs of this process', () => {
  it('tracks a run by the id its start event gives, cancels it by that id, and tells why a table is blocked', async () => {
    const events: RefreshEvent[] = [];
    const runs = createRunRegistry({ workerName: 'parts', log: createLogger({ level: 'silent', pretty: false }), now: () => NOW, emit: (e) => events.push(e) });
    const config = await loadConfig(pool, 'parts_child');
    const run = runs.track(config, 'sqp.parts_child', createLogger({ level: 'silent', pretty: false }));
    expect(runs.cancel(42)).toBe(false); // not known yet: it runs elsewhere
    runs.emit({ type: 'run:started', runId: 42, resumed: false, mode: 'full', at: NOW.toISOString(), configId: config.id, tableSchema: 'sqp', tableName: 'parts_child' });
    expect(runs.status().inFlight).toEqual([expect.objectContaining({ runId: 42, configId: config.id, table: 'sqp.parts_child', startedAt: NOW })]);
    expect(runs.cancel(42)).toBe(true);
    expect(run.cancel.signal.aborted).toBe(true);
    runs.untrack(config.id);
    runs.block(config, ['waits for its hard parent: sqp.parts_parent']);
    expect(runs.status()).toMatchObject({ workerName: 'parts', inFlight: [], blocked: [{ configId: config.id, reasons: ['waits for its hard parent: sqp.parts_parent'], since: NOW }] });
    expect(events.map((e) => e.type)).toEqual(['run:started', 'run:blocked']);
  });
});
