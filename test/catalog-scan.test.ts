// Tables found without superuser (FIX 5, migration 036): on a database migrated by a role that
// may not create event triggers, a table created in sqp is registered by the runner's catalog
// scan within one tick, exactly as the event trigger registers one where it exists.
import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../src/logger.ts';
import { migrate } from '../src/migrate.ts';
import { adminQuery, createEmptyDatabase, createTestDatabase, type TestDatabase, openTestPool } from './support/db.ts';
import { buildTestRunner } from './support/refresh.ts';

/** What the trigger and the scan decide about a registered table (ids and clocks aside). */
const REGISTRATION = `
  SELECT table_schema, table_name, is_enabled, refresh_frequency_hours, priority, custom_sync_params, dependencies,
         last_refresh_at, abs(extract(epoch FROM next_refresh_at - (now() + interval '24 hours'))) < 120 AS due_in_24_hours
  FROM sqp.refresh_config WHERE table_schema = $1 AND table_name = $2`;

const role = `sqp_owner_${randomBytes(4).toString('hex')}`;
const password = `pw-${randomBytes(6).toString('hex')}`;
let unprivileged: TestDatabase;
let superuserDb: TestDatabase;
/** The role's connections: the runner's, and the one that creates tables. */
let pool: pg.Pool;
let superPool: pg.Pool;
const notices: string[] = [];
const logged: Array<{ msg: string; tables?: string[] }> = [];

function runnerOn(db: pg.Pool, url: string) {
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n').filter(Boolean)) logged.push(JSON.parse(line));
      done();
    },
  });
  return buildTestRunner(db, url, { logger: createLogger({ level: 'info', pretty: false }, destination), workerName: 'catalog-scan-test' });
}

const configOf = async (db: pg.Pool, table: string) => (await db.query(REGISTRATION, ['sqp', table])).rows[0];
const registeredNames = async (db: pg.Pool) =>
  (await db.query<{ name: string }>(`SELECT table_name AS name FROM sqp.refresh_config WHERE table_schema = 'sqp' ORDER BY 1`)).rows.map((r) => r.name);

beforeAll(async () => {
  unprivileged = await createEmptyDatabase();
  await adminQuery(`CREATE ROLE ${role} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD '${password}'`);
  // Owning the database gives CREATE on it and (PostgreSQL 15+) on its public schema.
  await adminQuery(`ALTER DATABASE ${unprivileged.name} OWNER TO ${role}`);
  const url = new URL(unprivileged.url);
  url.username = role;
  url.password = password;
  await migrate(url.toString(), { onNotice: (m) => notices.push(m) });
  pool = openTestPool(url.toString(), 4);
  superuserDb = await createTestDatabase(); // the template, migrated by a superuser: the trigger exists
  superPool = openTestPool(superuserDb.url, 4);
});

afterAll(async () => {
  await pool?.end();
  await superPool?.end();
  await unprivileged?.drop();
  await superuserDb?.drop();
  await adminQuery(`DROP ROLE IF EXISTS ${role}`);
});

describe('without superuser', () => {
  it('the migration says the catalog scan registers new tables, and there is no event trigger', async () => {
    const { rows } = await pool.query(`SELECT rolsuper FROM pg_roles WHERE rolname = current_user`);
    expect(rows).toEqual([{ rolsuper: false }]);
    expect((await pool.query(`SELECT evtname FROM pg_event_trigger`)).rows).toEqual([]);
    expect(notices.filter((n) => n.startsWith('sqp-refresh:'))).toEqual([expect.stringContaining("registered by the runner's catalog scan")]);
  });

  it('a table created in sqp by the role is registered within one tick, as the trigger registers one; the system\'s own tables never', async () => {
    const runner = runnerOn(pool, unprivileged.url);
    await runner.tick(); // first look: the seed's tables are registered already, the system's own are skipped
    const seed = await registeredNames(pool);
    expect(seed).toEqual(['asin_performance_data', 'daily_sqp_data', 'monthly_summary', 'quarterly_summary', 'search_performance_summary', 'search_query_performance', 'weekly_summary', 'yearly_summary']);

    await pool.query(`CREATE TABLE sqp.found_later (id int PRIMARY KEY, v text)`);
    await pool.query(`CREATE TABLE sqp.made_as AS SELECT 1 AS id`);
    await pool.query(`CREATE VIEW sqp.not_a_table AS SELECT 1 AS id`);
    await pool.query(`CREATE SCHEMA elsewhere`);
    await pool.query(`CREATE TABLE elsewhere.not_a_data_schema (id int)`);
    expect(await configOf(pool, 'found_later')).toBeUndefined();
    await runner.tick();
    expect(await registeredNames(pool)).toEqual([...seed, 'found_later', 'made_as'].sort());
    expect((await pool.query(`SELECT count(*)::int AS n FROM sqp.refresh_config WHERE table_schema <> 'sqp'`)).rows).toEqual([{ n: 0 }]);
    expect(logged.filter((l) => l.msg === 'registered new tables found in the catalog').map((l) => l.tables)).toEqual([['sqp.found_later', 'sqp.made_as']]);

    // Exactly as the trigger: the same table created where the trigger exists gets the same row.
    await superPool.query(`CREATE TABLE sqp.found_later (id int PRIMARY KEY, v text)`);
    expect(await configOf(superPool, 'found_later')).toBeDefined(); // registered by the trigger, at once
    expect(await configOf(pool, 'found_later')).toEqual(await configOf(superPool, 'found_later'));
    expect(await configOf(pool, 'found_later')).toMatchObject({ is_enabled: true, refresh_frequency_hours: 24, priority: 100, custom_sync_params: {}, dependencies: [], due_in_24_hours: true });
  });

  it('a table is registered once, when it appears: renamed or unregistered it stays so; dropped and made again, it is new', async () => {
    const runner = runnerOn(pool, unprivileged.url);
    await pool.query(`CREATE TABLE sqp.once (id int)`);
    await runner.tick();
    expect(await configOf(pool, 'once')).toBeDefined();

    await pool.query(`DELETE FROM sqp.refresh_config WHERE table_name = 'once'`); // an operator unregisters it
    await pool.query(`ALTER TABLE sqp.made_as RENAME TO renamed`);
    await runner.tick();
    expect(await configOf(pool, 'once')).toBeUndefined();
    expect(await configOf(pool, 'renamed')).toBeUndefined();

    await pool.query(`DROP TABLE sqp.once`);
    await runner.tick(); // forgets the dropped table
    await pool.query(`CREATE TABLE sqp.once (id int)`);
    await runner.tick();
    expect(await configOf(pool, 'once')).toBeDefined();
  });

  it('two replicas scanning the same new tables register each once', async () => {
    const a = runnerOn(pool, unprivileged.url);
    const b = runnerOn(pool, unprivileged.url);
    await pool.query(`CREATE TABLE sqp.raced_1 (id int); CREATE TABLE sqp.raced_2 (id int)`);
    const before = logged.length;
    await Promise.all([a.tick(), b.tick()]);
    const told = logged.slice(before).filter((l) => l.msg === 'registered new tables found in the catalog').flatMap((l) => l.tables);
    expect(told.sort()).toEqual(['sqp.raced_1', 'sqp.raced_2']);
    expect((await pool.query(`SELECT count(*)::int AS n FROM sqp.refresh_config WHERE table_name LIKE 'raced_%'`)).rows).toEqual([{ n: 2 }]);
  });
});

describe('with the event trigger (superuser)', () => {
  it('the scan leaves registration to the trigger: an unregistered table stays so, and nothing is recorded', async () => {
    expect((await superPool.query(`SELECT evtname FROM pg_event_trigger`)).rows).toEqual([{ evtname: 'auto_register_refresh_tables' }]);
    await superPool.query(`CREATE TABLE sqp.left_alone (id int)`);
    await superPool.query(`DELETE FROM sqp.refresh_config WHERE table_name = 'left_alone'`);
    await runnerOn(superPool, superuserDb.url).tick();
    expect(await configOf(superPool, 'left_alone')).toBeUndefined();
    expect((await superPool.query(`SELECT count(*)::int AS n FROM sqp_refresh_work.catalog_scan_seen`)).rows).toEqual([{ n: 0 }]);
  });
});
