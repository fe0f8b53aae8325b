// What a force and a lost lock mean, on a real PostgreSQL with a postgres source.
// - A force means fresh data: a request is served only by a run whose read began after it was
//   made. A run that lost its connection while publishing is resumed from its complete
//   checkpoint; it serves the requests its load was started for, and a force made meanwhile
//   gets a read of its own right after.
// - A run never outlives its lock: when the connection holding a table's lock is lost, the run's
//   audit row is ended at once, and a replica that takes the lock ends any row still `running`
//   before its own run starts — never two `running` rows for one table.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { forceRefresh } from '../src/commands/refresh.ts';
import { createLogger } from '../src/logger.ts';
import { finishAuditRow } from '../src/runner/engine/audit-log.ts';
import { claimDue } from '../src/runner/scheduler/sql.ts';
import type { RefreshEvent } from '../src/subscriptions/events.ts';
import { createDatabaseListener } from '../src/subscriptions/listener.ts';
import { createTestDatabase, openTestPool } from './support/db.ts';
import { recordEvents, type Recorded } from './support/events.ts';
import { buildTestRunner, expectSameAsSource, sourceAndTarget as sharedSourceAndTarget } from './support/refresh.ts';
import { eventually } from './support/until.ts';

const database = await createTestDatabase();
const pool = openTestPool(database.url, 6);
const logger = createLogger({ level: process.env.TEST_LOG ?? 'silent', pretty: false });
const stops: Array<() => Promise<void>> = [];

beforeAll(async () => {
  await pool.query(`UPDATE sqp.refresh_config SET is_enabled = false`); // only this file's tables run
  await pool.query(`CREATE SCHEMA IF NOT EXISTS src`);
  // A witness in the database itself: whenever a row becomes `running` while another row of the
  // same table is `running` (committed), it is written down. Nothing in the service reads it.
  await pool.query(`
    CREATE TABLE public.two_running (table_name text, ids int[], at timestamptz DEFAULT clock_timestamp());
    CREATE FUNCTION public.note_two_running() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      INSERT INTO public.two_running (table_name, ids)
      SELECT NEW.table_name, array_agg(id ORDER BY id) FROM sqp.refresh_audit_log
      WHERE table_schema = NEW.table_schema AND table_name = NEW.table_name AND status = 'running'
      HAVING count(*) > 1;
      RETURN NULL;
    END $$;
    CREATE TRIGGER note_two_running AFTER INSERT OR UPDATE OF status ON sqp.refresh_audit_log
      FOR EACH ROW WHEN (NEW.status = 'running') EXECUTE FUNCTION public.note_two_running();`);
});
afterAll(async () => {
  for (const stop of stops.reverse()) await stop();
  await pool.end();
  await database.drop();
});

const sourceAndTarget = (name: string, rows: number, opts?: Parameters<typeof sharedSourceAndTarget>[3]) => sharedSourceAndTarget(pool, name, rows, opts);
const same = (name: string) => expectSameAsSource(pool, name);

interface Replica {
  name: string;
  events: Recorded<RefreshEvent>;
  stop(): Promise<void>;
}

/** A replica as the service composes one: its own pool (its own sessions and locks), one listener; `onEvent` sees each event as it is emitted. */
async function startReplica(name: string, onEvent: (e: RefreshEvent) => void = () => undefined): Promise<Replica> {
  const own = openTestPool(database.url, 4);
  own.on('error', () => undefined);
  own.on('connect', (c) => c.on('error', () => undefined));
  const listener = createDatabaseListener({ url: database.url, logger, minDelayMs: 20, maxDelayMs: 200 });
  await listener.start();
  const events = recordEvents<RefreshEvent>();
  const runner = buildTestRunner(own, database.url, {
    logger, workerName: name, listener, concurrency: 2,
    retry: { maxAttempts: 5, baseDelayMs: 20, maxDelayMs: 200 },
    emit: (e) => {
      events.push(e);
      onEvent(e);
    },
  });
  await runner.start();
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await runner.stop();
    await listener.stop();
    await own.end();
  };
  stops.push(stop);
  return { name, events, stop };
}

const force = (tableName: string) => forceRefresh({ pool, dailyByteBudget: null, requestedBy: 'force-fresh-test', waitMs: 0 }, { tableSchema: 'sqp', tableName, cascade: false, mode: null, dryRun: false });
const runsOf = async (name: string) =>
  (await pool.query(`SELECT id, status, sync_metadata, error_details FROM sqp.refresh_audit_log WHERE table_name = $1 ORDER BY id`, [name])).rows;
/** Ends the session holding the table's refresh lock: the run's own connection. */
const terminateLockHolder = (name: string) =>
  pool.query(`SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND objid = hashtext($1)::oid AND granted`, [`sqp.${name}`]);
/** Whether the session holding the table's refresh lock (the run's) waits for a lock. */
const runWaitingOnLock = (name: string) =>
  eventually(async () => (await pool.query(
    `SELECT 1 FROM pg_stat_activity a JOIN pg_locks l ON l.pid = a.pid AND l.locktype = 'advisory' AND l.granted AND l.objid = hashtext($1)::oid
     WHERE a.wait_event_type = 'Lock'`, [`sqp.${name}`])).rowCount === 1, 30_000, 'the run waiting for the target');
const waitingOnLock = (queryLike: string) =>
  eventually(async () => (await pool.query(`SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE $1`, [queryLike])).rowCount === 1, 30_000, `a backend waiting on a lock in ${queryLike}`);
const finished = (configId: number, status?: string) => (e: RefreshEvent) => e.type === 'run:finished' && e.configId === configId && (!status || e.status === status);

describe('a force means fresh data', () => {
  it('a force made while a run publishes, whose connection is then lost, is served by a run that read after it', async () => {
    const name = 'ff_publish';
    const configId = await sourceAndTarget(name, 1000, { pageSize: 250, msPerRow: 0.5 });
    const r = await startReplica('fresh');
    const first = await force(name);
    await r.events.next((e) => e.type === 'run:progress' && e.configId === configId, 30_000, 'the first run loading');
    // Hold the target: the run's final phase (config row locked) waits for it after its last page.
    const holder = new pg.Client({ connectionString: database.url });
    await holder.connect();
    await holder.query(`BEGIN; LOCK TABLE sqp.${name} IN ACCESS EXCLUSIVE MODE`);
    let second: Awaited<ReturnType<typeof force>>;
    let changedAt: Date;
    try {
      // Polls: a backend waiting on a lock is no event the runner emits.
      await runWaitingOnLock(name);
      const { rows: [cp] } = await pool.query(`SELECT checkpoint_data FROM sqp.refresh_checkpoints WHERE table_name = $1 AND status = 'active'`, [name]);
      expect(cp.checkpoint_data).toMatchObject({ loadComplete: true, rowsDone: 1000, requestIds: [first.requestId] });
      // The source changes; then a force, which waits for the config row the publishing run holds.
      changedAt = new Date();
      await pool.query(`UPDATE src.${name} SET v = v + 1 WHERE id <= 100`);
      await pool.query(`INSERT INTO src.${name} (id, v) VALUES (5000, 1)`);
      const forcing = force(name);
      await waitingOnLock('%UPDATE sqp.refresh_config%');
      // The publishing connection is lost: its transaction rolls back, the force gets its row.
      await terminateLockHolder(name);
      second = await forcing;
    } finally {
      await holder.query('COMMIT');
      await holder.end();
    }
    // The retry resumes the complete load (read before the force), then the force's own run.
    await r.events.nth(2, finished(configId, 'success'), 30_000, 'the resumed run and the forced one');
    const runs = await runsOf(name);
    expect(runs).toHaveLength(3);
    expect(runs[0]).toMatchObject({ status: 'failed', error_details: { reason: 'connectionLost', retryable: true }, sync_metadata: expect.objectContaining({ requestIds: [first.requestId] }) });
    expect(runs[1]).toMatchObject({ status: 'success', sync_metadata: expect.objectContaining({ resumedFromCheckpoint: true, requestIds: [first.requestId] }) });
    expect(runs[2]).toMatchObject({ status: 'success', sync_metadata: expect.objectContaining({ resumedFromCheckpoint: false, requestIds: [second.requestId] }) });
    // Each run says when its data was read: the resumed one before the force, the last one after it.
    expect(new Date(runs[1].sync_metadata.readStartedAt).getTime()).toBeLessThan(changedAt.getTime());
    expect(new Date(runs[2].sync_metadata.readStartedAt).getTime()).toBeGreaterThanOrEqual(changedAt.getTime());
    // The force's request is listed only by the run that read after it.
    expect(runs.filter((x) => x.sync_metadata.requestIds?.includes(second.requestId)).map((x) => x.id)).toEqual([runs[2].id]);
    await same(name);
    expect((await pool.query(`SELECT count(*)::int AS n FROM sqp_refresh_work.refresh_requests WHERE config_id = $1`, [configId])).rows[0].n).toBe(0);
    // And it is not left waiting for its regular slot with old data: the next one is a day away.
    const { rows: [c] } = await pool.query(`SELECT next_refresh_at > now() + interval '23 hours' AS regular FROM sqp.refresh_config WHERE id = $1`, [configId]);
    expect(c.regular).toBe(true);
    await r.stop();
  });
});

describe('a run never outlives its lock', () => {
  it('a run whose lock connection is lost mid-read is ended at once; the replica that takes the table never runs beside a `running` row', async () => {
    const name = 'ff_lock';
    // Pages of 500 rows at 3 ms a row: each FETCH takes ~1.5 s, and the postgres source looks
    // at the run's signal only between two.
    const configId = await sourceAndTarget(name, 1000, { pageSize: 500, msPerRow: 3 });
    const running = async () => (await pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM sqp.refresh_audit_log WHERE table_name = $1 AND status = 'running'`, [name])).rows[0]!.n;
    // At each event of this table on either replica: how many rows say `running`.
    const counts: Array<Promise<{ event: string; running: number }>> = [];
    const check = (replica: string) => (e: RefreshEvent) => {
      if ('configId' in e && e.configId === configId) counts.push(running().then((n) => ({ event: `${replica} ${e.type}`, running: n })));
    };
    const a = await startReplica('replica-a', check('a'));
    const b = await startReplica('replica-b', check('b'));
    const first = await force(name);
    const both = [a, b];
    const started = await Promise.race(both.map((x) => x.events.next((e) => e.type === 'run:started' && e.configId === configId, 30_000, 'the first run').then((e) => ({ replica: x, e }))));
    const owner = started.replica;
    const other = both.find((x) => x !== owner)!;
    await owner.events.next((e) => e.type === 'run:progress' && e.configId === configId, 30_000, 'the first page committed');
    const firstRunId = started.e.type === 'run:started' ? started.e.runId : -1;

    // The connection holding the lock is lost while the run reads its source (the next FETCH).
    await terminateLockHolder(name);
    const ended = await owner.events.next(finished(configId), 30_000, 'the first run ended');
    expect(ended).toMatchObject({ runId: firstRunId, status: 'failed' });
    // Its row was ended at once, not when the read noticed: the FETCH in flight still runs.
    const fetching = await pool.query(`SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'sqp-refresh source' AND state = 'active' AND query LIKE 'FETCH%'`);
    expect(fetching.rowCount).toBe(1);
    // Forced again at once: the other replica, idle, takes the table while the first one's
    // process may still be winding its read down.
    const second = await force(name);
    const resumed = await other.events.next((e) => e.type === 'run:started' && e.configId === configId, 30_000, "the other replica's run");
    expect(await running()).toBe(1); // its own row, and only it
    expect(resumed).toMatchObject({ resumed: true });

    await eventually(async () => (await pool.query(`SELECT 1 FROM sqp.refresh_audit_log WHERE table_name = $1 AND status = 'success' AND sync_metadata->'requestIds' @> to_jsonb($2::bigint)`, [name, second.requestId])).rowCount === 1, 60_000, 'the second force served');
    const runs = await runsOf(name);
    // The first run's row ended failed and retryable: by its own process (connection lost), or
    // by whoever took the lock first (interrupted) — and nothing rewrote it after.
    expect(runs[0]).toMatchObject({ id: firstRunId, status: 'failed', error_details: expect.objectContaining({ retryable: true, reason: expect.stringMatching(/^(connectionLost|interrupted)$/) }) });
    expect(runs.filter((x) => x.status === 'running')).toEqual([]);
    expect(runs.filter((x) => x.sync_metadata.requestIds?.includes(first.requestId)).length).toBeGreaterThan(0);
    await same(name);

    const seen = await Promise.all(counts);
    expect(seen.length).toBeGreaterThan(4);
    expect(seen.filter((s) => s.running > 1)).toEqual([]);
    expect((await pool.query(`SELECT * FROM public.two_running`)).rows).toEqual([]);
    await Promise.all([a.stop(), b.stop()]);
  });

  it('a claim ends a row still `running` of a run that lost its lock before its own run starts, and that run\'s late finish leaves it so', async () => {
    const name = 'ff_claim';
    const configId = await sourceAndTarget(name, 10, { pageSize: 100, msPerRow: 0 });
    // A run that lost its lock, its process unaware: a `running` row, and nobody holds the lock.
    const { rows: [stale] } = await pool.query(`INSERT INTO sqp.refresh_audit_log (refresh_config_id, table_schema, table_name, refresh_started_at, status) VALUES ($1, 'sqp', $2, now(), 'running') RETURNING id`, [configId, name]);
    await pool.query(`UPDATE sqp.refresh_config SET next_refresh_at = now() - interval '1 minute' WHERE id = $1`, [configId]);
    const client = await pool.connect();
    try {
      const claim = await claimDue(client, configId, new Date(), 3600);
      expect(claim).toMatchObject({ claimed: true, interrupted: [stale.id] });
      const { rows: [row] } = await pool.query(`SELECT status, error_details FROM sqp.refresh_audit_log WHERE id = $1`, [stale.id]);
      expect(row).toMatchObject({ status: 'failed', error_details: { reason: 'interrupted', retryable: true } });
      // The old process finishing late changes nothing (the guarded finish of audit-log.ts).
      const wrote = await finishAuditRow(pool as unknown as pg.ClientBase, stale.id, {
        status: 'failed', completedAt: new Date(), rowsProcessed: 0, rowsInserted: 0, rowsUpdated: 0, rowsDeleted: 0, executionTimeMs: 1, memoryUsedMb: 0,
        bigqueryJobId: null, errorMessage: 'lost its database connection', errorDetails: { reason: 'connectionLost', retryable: true }, metadata: { outcome: 'failed' },
      });
      expect(wrote).toBe(false);
      expect((await pool.query(`SELECT error_details->>'reason' AS reason FROM sqp.refresh_audit_log WHERE id = $1`, [stale.id])).rows[0].reason).toBe('interrupted');
    } finally {
      await client.query(`SELECT sqp_refresh_work.unlock_table('sqp', $1)`, [name]);
      client.release();
    }
  });
});
