// Success means equal: a BigQuery-sourced table whose source did not change skips its query only
// while its target is exactly as the last publish left it (engine/target-identity.ts, migration
// 039). A target truncated, partly deleted, edited or given a row behind the service's back is
// read again — in full, even for an incremental table — and ends equal to the source, row by
// row; an untouched one still runs no query job and bills nothing. Where the trigger cannot be
// installed (a table this role does not own) the table is read on every run and its audit row
// says why.
import { randomBytes } from 'node:crypto';
import type pg from 'pg';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { migrate } from '../src/migrate.ts';
import { refreshTable, type RefreshOptions, type RefreshOutcome } from '../src/runner/engine/refresh-table.ts';
import { createSources } from '../src/runner/sources/registry.ts';
import { startBigQueryTestServer, testBigQuerySource, type BigQueryTestServer, type ReceivedQuery } from './support/bigquery-server.ts';
import { adminQuery, createEmptyDatabase, createTestDatabase, openTestPool, type TestDatabase } from './support/db.ts';
import { loadConfig, registerTestTable, tableChecksum } from './support/refresh.ts';
import { eventually } from './support/until.ts';

const database = await createTestDatabase();
const pool = openTestPool(database.url, 4);
let server: BigQueryTestServer;

const N = 3000;
const SOURCE = 'proj.ds.sqp_weekly';
const QUERY = `SELECT id, week, asin, v FROM \`${SOURCE}\``;
const INCREMENTAL = `${QUERY} WHERE week >= DATE(@since)`;
const SCHEMA = [{ name: 'id', type: 'INT64' }, { name: 'week', type: 'DATE' }, { name: 'asin', type: 'STRING' }, { name: 'v', type: 'NUMERIC' }] as const;
const COLS = ['id', 'week', 'asin', 'v'];
const WEEKS = 52;
const weekOf = (i: number) => new Date(Date.UTC(2024, 0, 1 + (i % WEEKS) * 7)).toISOString().slice(0, 10);
const rowAt = (i: number) => [i, weekOf(i), `B${String(i).padStart(9, '0')}`, `${i}.25`];
/** The same rows, written by PostgreSQL from the same definition: what every target must equal. */
const EXPECTED_SQL = `SELECT i::bigint AS id, (date '2024-01-01' + (i % ${WEEKS}) * 7) AS week, 'B' || lpad(i::text, 9, '0') AS asin, (i || '.25')::numeric AS v FROM generate_series(0, ${N - 1}) i`;
/** An incremental read with a 4-week lookback from the newest week: the rows of the last 5 weeks. */
const LOOKBACK_HOURS = 4 * 7 * 24;
const recent = Array.from({ length: N }, (_, i) => i).filter((i) => i % WEEKS >= WEEKS - 5);

const options = (extra: Partial<RefreshOptions> = {}, on: pg.Pool = pool): RefreshOptions => ({
  pool: on, sources: createSources({ targetUrl: database.url, bigquery: testBigQuerySource(server) }), ...extra,
});
const run = (table: string, extra: Partial<RefreshOptions> = {}, on: pg.Pool = pool) => loadConfig(on, table).then((c) => refreshTable(c, options(extra, on)));
const queryJobs = () => server.queries.filter((q) => !q.dryRun).length;
const metadataOf = async (r: RefreshOutcome, on: pg.Pool = pool) =>
  (await on.query<{ sync_metadata: Record<string, unknown> }>(`SELECT sync_metadata FROM sqp.refresh_audit_log WHERE id = $1`, [r.runId])).rows[0]!.sync_metadata;
const checksum = (table: string, on: pg.Pool = pool) => tableChecksum(on, `sqp.${table}`, COLS);
const expected = () => tableChecksum(pool, `(${EXPECTED_SQL}) e`, COLS);

/** A target table of the test's shape, registered with these params. */
async function targetTable(name: string, params: Record<string, unknown>, on: pg.Pool = pool): Promise<void> {
  await on.query(`CREATE TABLE sqp.${name} (id bigint PRIMARY KEY, week date NOT NULL, asin text NOT NULL, v numeric NOT NULL)`);
  await registerTestTable(on, { tableName: name, customSyncParams: params });
}

/**
 * Runs the table until a run skips (a full table: the second run; an incremental one reads its
 * window once after a read of everything, whose `since` its query hash remembers), and asserts
 * that the skip ran no query job and billed nothing, and that the target equals the source.
 */
async function untilSkipping(table: string, on: pg.Pool = pool): Promise<Record<string, unknown>> {
  for (let i = 0; i < 3; i++) {
    const jobs = queryJobs();
    const result = await run(table, {}, on);
    expect(result, JSON.stringify(result)).toMatchObject({ status: 'success' });
    if (result.outcome === 'unchanged') {
      expect(queryJobs()).toBe(jobs);
      expect(await checksum(table, on)).toEqual(await expected());
      return metadataOf(result, on);
    }
  }
  throw new Error(`${table} never skipped`);
}

/** A table loaded, equal to its source, and skipping: the state every case starts from. */
async function loadedAndSkipping(table: string, on: pg.Pool = pool): Promise<void> {
  expect(await run(table, {}, on)).toMatchObject({ status: 'success', outcome: 'completed', rowsProcessed: N });
  expect(await checksum(table, on)).toEqual(await expected());
  await untilSkipping(table, on);
}

/**
 * The next run after a change behind the service's back: it reads everything (one query job),
 * and the target equals the source again, row by row; then it skips again. Returns the
 * repairing run's audit metadata and the query job it ran.
 */
async function repaired(table: string, reason: string): Promise<[Record<string, unknown>, ReceivedQuery]> {
  const jobs = queryJobs();
  const result = await run(table);
  expect(result).toMatchObject({ status: 'success', outcome: 'completed', rowsProcessed: N });
  expect(queryJobs()).toBe(jobs + 1);
  const query = server.queries.filter((q) => !q.dryRun)[jobs]!;
  expect(await checksum(table)).toEqual(await expected());
  const metadata = await metadataOf(result);
  expect(metadata).toMatchObject({ targetTouched: { reason, repair: 'readAll' }, targetIdentity: { version: expect.any(String), relfilenode: expect.any(String) } });
  expect((await untilSkipping(table)).bytesBilled).toBe('0');
  return [metadata, query];
}

beforeAll(async () => {
  server = await startBigQueryTestServer({ projectId: 'sqp-test' });
});

beforeEach(() => {
  server.reset();
  server.setTable(SOURCE, { lastModifiedTime: 1_700_000_000_000 });
  const fixture = (rows: { count: number; at: (i: number) => unknown[] }) => ({ schema: SCHEMA, rows, bytesProcessed: 4_000_000, referencedTables: [SOURCE] });
  // The incremental query reads the weeks from @since on (what BigQuery would return for it); without @since, everything.
  server.addQuery((q) => q.query === INCREMENTAL || q.query === QUERY, (q) =>
    q.query === INCREMENTAL && q.params.since != null ? fixture({ count: recent.length, at: (k) => rowAt(recent[k]!) }) : fixture({ count: N, at: rowAt }));
});

afterAll(async () => {
  await server?.close();
  await pool.end();
  await database.drop();
});

describe('a full table whose BigQuery source did not change', () => {
  it('untouched: skips with no query job and 0 bytes, and the audit row carries the identity its publish recorded', async () => {
    await targetTable('ti_untouched', { source: { type: 'bigquery', query: QUERY }, pageSize: 1000 });
    const first = await run('ti_untouched');
    const published = await metadataOf(first);
    expect(published.targetIdentity).toEqual({ version: expect.stringMatching(/^\d+$/), relfilenode: expect.stringMatching(/^\d+$/) });
    // The publish installed the change trigger, enabled ALWAYS.
    const { rows: [trigger] } = await pool.query(`SELECT tgenabled FROM pg_trigger WHERE tgrelid = 'sqp.ti_untouched'::regclass AND tgname = 'sqp_refresh_target_version'`);
    expect(trigger).toEqual({ tgenabled: 'A' });
    // A reader is not a writer.
    await pool.query(`SELECT count(*) FROM sqp.ti_untouched`);
    const jobs = queryJobs();
    for (let i = 0; i < 2; i++) {
      const skipped = await run('ti_untouched');
      expect(skipped).toMatchObject({ status: 'success', outcome: 'unchanged', rowsProcessed: 0 });
      expect(await metadataOf(skipped)).toMatchObject({ bytesBilled: '0', bytesProcessed: '0', targetIdentity: published.targetIdentity });
    }
    expect(queryJobs()).toBe(jobs);
    expect(await checksum('ti_untouched')).toEqual(await expected());
  });

  it('TRUNCATE, DELETE of some rows, UPDATE of one: each is read again and ends equal to the source', async () => {
    await targetTable('ti_damaged', { source: { type: 'bigquery', query: QUERY }, pageSize: 1000 });
    await loadedAndSkipping('ti_damaged');

    await pool.query(`TRUNCATE sqp.ti_damaged`);
    await repaired('ti_damaged', 'rewritten'); // a new relfilenode

    await pool.query(`DELETE FROM sqp.ti_damaged WHERE id % 10 = 3`);
    expect((await repaired('ti_damaged', 'edited'))[0]).toMatchObject({ diff: { inserted: N / 10, updated: 0, deleted: 0 } });

    await pool.query(`UPDATE sqp.ti_damaged SET v = v + 1 WHERE id = 1234`);
    expect((await repaired('ti_damaged', 'edited'))[0]).toMatchObject({ diff: { inserted: 0, updated: 1, deleted: 0 } });

    // A session that skips ordinary triggers (replication, pg_restore's) still moves the version.
    const client = await pool.connect();
    try {
      await client.query(`SET session_replication_role = replica`);
      await client.query(`UPDATE sqp.ti_damaged SET asin = 'edited' WHERE id = 7`);
    } finally {
      await client.query(`RESET session_replication_role`);
      client.release();
    }
    expect((await repaired('ti_damaged', 'edited'))[0]).toMatchObject({ diff: { updated: 1 } });
  });

  it('a row inserted behind its back: with deleteMissing it is deleted and the target equals the source; without, it is kept and counted', async () => {
    await targetTable('ti_mirror', { source: { type: 'bigquery', query: QUERY }, pageSize: 1000, deleteMissing: true });
    await loadedAndSkipping('ti_mirror');
    await pool.query(`INSERT INTO sqp.ti_mirror VALUES (999999, '2024-01-01', 'stranger', 1)`);
    expect((await repaired('ti_mirror', 'edited'))[0]).toMatchObject({ diff: { inserted: 0, updated: 0, deleted: 1 } });

    // deleteMissing off says "keep target rows the source does not have": the run restores every
    // source row, keeps the stranger (it may be a row the source dropped) and says how many such rows there are.
    await targetTable('ti_keeper', { source: { type: 'bigquery', query: QUERY }, pageSize: 1000 });
    await loadedAndSkipping('ti_keeper');
    await pool.query(`INSERT INTO sqp.ti_keeper VALUES (999999, '2024-01-01', 'stranger', 1)`);
    await pool.query(`DELETE FROM sqp.ti_keeper WHERE id < 10`);
    const jobs = queryJobs();
    const result = await run('ti_keeper');
    expect(result).toMatchObject({ status: 'success', outcome: 'completed', rowsInserted: 10 });
    expect(queryJobs()).toBe(jobs + 1);
    expect(await metadataOf(result)).toMatchObject({ targetTouched: { reason: 'edited', repair: 'readAll', rowsNotInSource: 1 } });
    expect(await tableChecksum(pool, `(SELECT * FROM sqp.ti_keeper WHERE id <> 999999) t`, COLS)).toEqual(await expected());
    expect((await run('ti_keeper')).outcome).toBe('unchanged');
    expect(queryJobs()).toBe(jobs + 1);
  });

  it('a trigger dropped or disabled since the publish: the target cannot be shown untouched, so it is read and the trigger put back', async () => {
    await targetTable('ti_trigger', { source: { type: 'bigquery', query: QUERY }, pageSize: 1000 });
    await loadedAndSkipping('ti_trigger');
    await pool.query(`ALTER TABLE sqp.ti_trigger DISABLE TRIGGER sqp_refresh_target_version`);
    await pool.query(`UPDATE sqp.ti_trigger SET v = 0 WHERE id = 5`);
    await repaired('ti_trigger', 'trackingLost');
    await pool.query(`DROP TRIGGER sqp_refresh_target_version ON sqp.ti_trigger`);
    await pool.query(`DELETE FROM sqp.ti_trigger WHERE id = 6`);
    await repaired('ti_trigger', 'trackingLost');
    const { rows } = await pool.query(`SELECT tgenabled FROM pg_trigger WHERE tgrelid = 'sqp.ti_trigger'::regclass AND tgname = 'sqp_refresh_target_version'`);
    expect(rows).toEqual([{ tgenabled: 'A' }]);
  });
});

describe('a write that races a publish', () => {
  it('waits for the publish at its trigger, so the identity the publish records never hides it', async () => {
    await targetTable('ti_race', { source: { type: 'bigquery', query: QUERY }, pageSize: 1000 });
    await loadedAndSkipping('ti_race');
    // Hold the publish after it has decided what to write (nothing: the source is unchanged) and
    // before it reads the identity it records: at its insert of the quality rows.
    const sessions = openTestPool(database.url, 4); // the run takes one of the test's pool
    const [quality, writer] = [await sessions.connect(), await sessions.connect()];
    const pidOf = async (c: pg.PoolClient) => (await c.query<{ pid: number }>(`SELECT pg_backend_pid() AS pid`)).rows[0]!.pid;
    const waitingFor = (pid: number, what: string) => eventually(async () =>
      (await sessions.query(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE $1 = ANY (pg_blocking_pids(pid))`, [pid])).rows[0].n > 0, 10_000, what);
    try {
      await quality.query(`BEGIN; LOCK TABLE sqp.refresh_data_quality IN SHARE MODE`);
      const publishing = run('ti_race', { force: true });
      await waitingFor(await pidOf(quality), 'the publish at its quality rows');
      // Another session deletes a row and commits: its statement ends at the trigger, which waits for the publish.
      const writerPid = await pidOf(writer);
      const writing = writer.query(`DELETE FROM sqp.ti_race WHERE id = 42`);
      await eventually(async () => (await sessions.query(`SELECT cardinality(pg_blocking_pids($1)) > 0 AS waits`, [writerPid])).rows[0].waits, 10_000, 'the delete waiting');
      await quality.query('COMMIT');
      expect(await publishing).toMatchObject({ status: 'success', outcome: 'completed', rowsInserted: 0, rowsUpdated: 0, rowsDeleted: 0 });
      await writing;
    } finally {
      quality.release();
      writer.release();
      await sessions.end();
    }
    expect((await pool.query(`SELECT count(*)::int AS n FROM sqp.ti_race WHERE id = 42`)).rows[0].n).toBe(0);
    // The delete committed after the publish and moved the version past the one it recorded:
    // the next run reads and brings row 42 back (had the delete moved it before the record, this run would skip).
    await repaired('ti_race', 'edited');
  });
});

describe('an incremental table', () => {
  // Weeks of 2024 are not fresh: the freshness check would make every run a warning.
  const params = {
    source: { type: 'bigquery', query: INCREMENTAL }, mode: 'incremental', cursorColumn: 'week', lookbackHours: LOOKBACK_HOURS, pageSize: 100,
    quality: { freshnessDays: { max: 36_500 } },
  };

  it('touched: reads everything, not since its watermark (which could not bring back the deleted weeks)', async () => {
    await targetTable('ti_incremental', params);
    await loadedAndSkipping('ti_incremental');
    // A change in BigQuery: the next run reads incrementally, the last 5 weeks.
    server.touchTable(SOURCE);
    const incremental = await run('ti_incremental');
    expect(incremental).toMatchObject({ outcome: 'completed', rowsProcessed: recent.length });
    expect((await metadataOf(incremental)).since).not.toBeNull();

    await pool.query(`DELETE FROM sqp.ti_incremental WHERE week < '2024-03-01'`);
    const [metadata, query] = await repaired('ti_incremental', 'edited');
    expect(metadata).toMatchObject({ since: null, mode: 'incremental' });
    expect(query.params.since).toBeNull();
  });

  it('touched while a load was under way: that publish says it could not repair it, and the next run reads everything', async () => {
    await targetTable('ti_underway', params);
    await loadedAndSkipping('ti_underway');
    server.touchTable(SOURCE);
    // The load stops after its first page (a shutdown), its checkpoint kept ...
    const shutdown = AbortSignal.abort();
    expect(await run('ti_underway', { shutdownSignal: shutdown })).toMatchObject({ status: 'warning', outcome: 'paused' });
    // ... rows outside its window are deleted meanwhile, and the load is resumed and published.
    await pool.query(`DELETE FROM sqp.ti_underway WHERE id % 10 = 1 AND week < '2024-06-01'`);
    const resumed = await run('ti_underway');
    expect(resumed).toMatchObject({ status: 'success', outcome: 'completed', resumed: true, rowsProcessed: recent.length });
    expect(await metadataOf(resumed)).toMatchObject({ targetTouched: { reason: 'edited', repair: 'nextRun' } });
    expect((await checksum('ti_underway')).rows).toBeLessThan(N);
    // The source did not change since, yet the next run reads everything.
    await repaired('ti_underway', 'notRepaired');
  });
});

describe('a table this role does not own', () => {
  const role = `sqp_ti_${randomBytes(3).toString('hex')}`;
  const ownerRole = `${role}_owner`;
  // A password: the embedded server CI runs on (no TEST_DATABASE_URL) does not trust local logins.
  const password = randomBytes(12).toString('hex');
  let owned: TestDatabase;
  let service: pg.Pool;
  /** A superuser's pool: creates the table, and acts as its owner through SET ROLE. */
  let admin: pg.Pool;
  const asOwner = async (sql: string) => {
    const client = await admin.connect();
    try {
      await client.query(`SET ROLE ${ownerRole}`);
      return (await client.query(sql)).rows;
    } finally {
      await client.query('RESET ROLE');
      client.release();
    }
  };

  beforeAll(async () => {
    // As docs/deploy/create-role.sql's role on a database whose data tables another role owns:
    // it migrates (and owns) the refresh tables; the data table has only DML granted to it.
    owned = await createEmptyDatabase();
    await adminQuery(`CREATE ROLE ${role} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD '${password}'`);
    await adminQuery(`CREATE ROLE ${ownerRole} NOLOGIN NOSUPERUSER`);
    await adminQuery(`ALTER DATABASE ${owned.name} OWNER TO ${role}`);
    const url = new URL(owned.url);
    url.username = role;
    url.password = password;
    await migrate(url.toString());
    service = openTestPool(url.toString(), 4);
    admin = openTestPool(owned.url, 2);
    await admin.query(`CREATE TABLE sqp.ti_foreign (id bigint PRIMARY KEY, week date NOT NULL, asin text NOT NULL, v numeric NOT NULL)`);
    await admin.query(`ALTER TABLE sqp.ti_foreign OWNER TO ${ownerRole}`);
    await admin.query(`GRANT SELECT, INSERT, UPDATE, DELETE ON sqp.ti_foreign TO ${role}`);
    await service.query(`GRANT USAGE ON SCHEMA sqp TO ${ownerRole}`);
    await registerTestTable(service, { tableName: 'ti_foreign', customSyncParams: { source: { type: 'bigquery', query: QUERY }, pageSize: 1000 } });
  });

  afterAll(async () => {
    await service?.end();
    await admin?.end();
    await owned?.drop();
    await adminQuery(`DROP ROLE IF EXISTS ${role}`);
    await adminQuery(`DROP ROLE IF EXISTS ${ownerRole}`);
  });

  it('is read on every run, equal each time, and each audit row says why it cannot skip', async () => {
    const jobs = queryJobs();
    for (let i = 0; i < 2; i++) {
      const result = await run('ti_foreign', {}, service);
      expect(result).toMatchObject({ status: 'success', outcome: 'completed', rowsProcessed: N });
      expect(await metadataOf(result, service)).toMatchObject({ targetUntracked: { reason: 'notOwner', message: expect.stringContaining('does not own') } });
      expect((await metadataOf(result, service)).targetIdentity).toBeUndefined();
    }
    expect(queryJobs()).toBe(jobs + 2);
    await asOwner(`TRUNCATE sqp.ti_foreign`);
    expect(await run('ti_foreign', {}, service)).toMatchObject({ outcome: 'completed', rowsInserted: N });
    expect(await tableChecksum(service, 'sqp.ti_foreign', COLS)).toEqual(await expected());
    // Its owner may install the trigger, given USAGE on the service's work schema; from then on the table skips like any other.
    await service.query(`GRANT USAGE ON SCHEMA sqp_refresh_work TO ${ownerRole}`);
    expect(await asOwner(`SELECT sqp_refresh_work.track_target('sqp', 'ti_foreign') AS t`)).toEqual([{ t: 'installed' }]);
    expect(await asOwner(`SELECT sqp_refresh_work.track_target('sqp', 'ti_foreign') AS t`)).toEqual([{ t: 'tracked' }]);
    expect((await run('ti_foreign', {}, service)).outcome).toBe('completed');
    const skipped = await run('ti_foreign', {}, service);
    expect(skipped.outcome).toBe('unchanged');
    expect(await metadataOf(skipped, service)).toMatchObject({ bytesBilled: '0', targetIdentity: expect.any(Object) });
  });
});
