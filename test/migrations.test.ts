/**
 * The migration runner (src/migrate.ts) and the two migrations in prisma/migrations, applied
 * to real, empty PostgreSQL databases: what an operator sees in the database afterwards.
 */
import { createHash, randomBytes } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { appendFile, cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { MIGRATIONS_DIR, MigrationError, migrate, readMigrations, resolveRolledBack } from '../src/migrate.ts';
import { createEmptyDatabase, type TestDatabase } from './support/db.ts';

/** The seed's two migrations; later ones (read from the folder) must apply after them. */
const SEED_MIGRATIONS = ['030_sqp_tables', '031_create_daily_refresh_system'];
const MIGRATION_NAMES = readdirSync(MIGRATIONS_DIR, { withFileTypes: true })
  .filter((e) => e.isDirectory())
  .map((e) => e.name)
  .sort();
/** Sorts after every real migration. */
const BROKEN = '999_broken';

/** The eight tables of the seed, the priority its initial registration gives each. */
const SEED_PRIORITIES: Record<string, number> = {
  asin_performance_data: 90,
  daily_sqp_data: 90,
  monthly_summary: 80,
  quarterly_summary: 80,
  search_performance_summary: 80,
  search_query_performance: 70,
  weekly_summary: 80,
  yearly_summary: 80,
};
const REFRESH_TABLES = [
  'refresh_audit_log',
  'refresh_checkpoints',
  'refresh_config',
  'refresh_data_quality',
  'refresh_dependencies',
];

const databases: TestDatabase[] = [];
const tempDirs: string[] = [];
afterAll(async () => {
  for (const db of databases) await db.drop();
  for (const dir of tempDirs) await rm(dir, { recursive: true, force: true });
});

async function emptyDatabase(): Promise<TestDatabase> {
  const db = await createEmptyDatabase();
  databases.push(db);
  return db;
}

/** A private copy of prisma/migrations that a test may edit. */
async function copyOfMigrations(): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'sqp-refresh-migrations-'));
  tempDirs.push(dir);
  await cp(MIGRATIONS_DIR, dir, { recursive: true });
  return dir;
}

async function withClient<T>(url: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

async function sha256OfFile(file: string): Promise<string> {
  return createHash('sha256').update(await readFile(file)).digest('hex');
}

interface BookkeepingRow {
  id: string;
  checksum: string;
  finished_at: Date | null;
  migration_name: string;
  logs: string | null;
  rolled_back_at: Date | null;
  started_at: Date;
  applied_steps_count: number;
}

function bookkeeping(url: string): Promise<BookkeepingRow[]> {
  return withClient(url, async (c) => {
    const { rows } = await c.query<BookkeepingRow>(
      `SELECT * FROM "_prisma_migrations" ORDER BY started_at, migration_name`,
    );
    return rows;
  });
}

/** Everything a migration could change in sqp, and every table's contents (count + hash). */
function catalogSnapshot(url: string): Promise<Record<string, unknown>> {
  return withClient(url, async (c) => {
    const { rows } = await c.query<Record<string, unknown>>(`
      SELECT
        (SELECT json_agg(format('%s %s', c.relname, c.relkind) ORDER BY c.relname)
           FROM pg_class c WHERE c.relnamespace = 'sqp'::regnamespace) AS relations,
        (SELECT json_agg(format('%s.%s %s %s %s', table_name, column_name, data_type, is_nullable, column_default)
                         ORDER BY table_name, ordinal_position)
           FROM information_schema.columns WHERE table_schema = 'sqp') AS columns,
        (SELECT json_agg(indexdef ORDER BY indexname) FROM pg_indexes WHERE schemaname = 'sqp') AS indexes,
        (SELECT json_agg(format('%s %s %s', conrelid::regclass, conname, pg_get_constraintdef(oid))
                         ORDER BY conrelid::regclass::text, conname)
           FROM pg_constraint WHERE connamespace = 'sqp'::regnamespace) AS constraints,
        (SELECT json_agg(pg_get_triggerdef(t.oid) ORDER BY t.tgrelid::regclass::text, t.tgname)
           FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
           WHERE c.relnamespace = 'sqp'::regnamespace AND NOT t.tgisinternal) AS triggers,
        (SELECT json_agg(format('%s %s', p.oid::regprocedure, md5(pg_get_functiondef(p.oid)))
                         ORDER BY p.oid::regprocedure::text)
           FROM pg_proc p WHERE p.pronamespace = 'sqp'::regnamespace) AS functions,
        (SELECT json_agg(format('%s %s %s %s', evtname, evtevent, evtfoid::regproc, evttags) ORDER BY evtname)
           FROM pg_event_trigger) AS event_triggers`);
    const snapshot: Record<string, unknown> = { ...rows[0] };
    const tables = await c.query<{ name: string }>(
      `SELECT format('%I.%I', n.nspname, c.relname) AS name
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
       WHERE c.relkind IN ('r', 'p') AND (n.nspname = 'sqp' OR c.relname = '_prisma_migrations')
       ORDER BY 1`,
    );
    for (const { name } of tables.rows) {
      const r = await c.query<{ n: number; h: string }>(
        `SELECT count(*)::int AS n, md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) AS h FROM ${name} t`,
      );
      snapshot[`rows of ${name}`] = r.rows[0];
    }
    return snapshot;
  });
}

/** What a user checks after the initial registration of the seed's eight tables. */
async function expectSeedRegistration(url: string): Promise<void> {
  await withClient(url, async (c) => {
    const configs = await c.query<{
      table_schema: string;
      table_name: string;
      priority: number;
      is_enabled: boolean;
      refresh_frequency_hours: number;
      dependencies: string[];
      due_in_about_an_hour: boolean;
    }>(
      `SELECT table_schema, table_name, priority, is_enabled, refresh_frequency_hours, dependencies,
              abs(extract(epoch FROM next_refresh_at - (now() + interval '1 hour'))) < 120 AS due_in_about_an_hour
       FROM sqp.refresh_config ORDER BY table_name`,
    );
    expect(configs.rows.map((r) => r.table_name)).toEqual(Object.keys(SEED_PRIORITIES).sort());
    for (const row of configs.rows) {
      expect(row, row.table_name).toMatchObject({
        table_schema: 'sqp',
        priority: SEED_PRIORITIES[row.table_name],
        is_enabled: true,
        refresh_frequency_hours: 24,
        due_in_about_an_hour: true,
        dependencies: ['search_performance_summary', 'weekly_summary', 'monthly_summary'].includes(row.table_name)
          ? ['asin_performance_data']
          : [],
      });
    }
    const edges = await c.query<{ parent: string; dependent: string; dependency_type: string }>(
      `SELECT p.table_schema || '.' || p.table_name AS parent, d.table_schema || '.' || d.table_name AS dependent,
              e.dependency_type
       FROM sqp.refresh_dependencies e
       JOIN sqp.refresh_config p ON p.id = e.parent_config_id
       JOIN sqp.refresh_config d ON d.id = e.dependent_config_id
       ORDER BY dependent`,
    );
    expect(edges.rows).toEqual([
      { parent: 'sqp.asin_performance_data', dependent: 'sqp.monthly_summary', dependency_type: 'hard' },
      { parent: 'sqp.asin_performance_data', dependent: 'sqp.search_performance_summary', dependency_type: 'hard' },
      { parent: 'sqp.asin_performance_data', dependent: 'sqp.weekly_summary', dependency_type: 'hard' },
    ]);
  });
}

async function columnsOf(url: string, table: string): Promise<string[]> {
  return withClient(url, async (c) => {
    const { rows } = await c.query<{ col: string }>(
      `SELECT column_name || ' ' || data_type AS col FROM information_schema.columns
       WHERE table_schema = 'sqp' AND table_name = $1 ORDER BY ordinal_position`,
      [table],
    );
    return rows.map((r) => r.col);
  });
}

async function migrationError(promise: Promise<unknown>): Promise<MigrationError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(MigrationError);
    return error as MigrationError;
  }
  throw new Error('expected migrate() to be refused');
}

describe('a fresh database', () => {
  it('gets both migrations, recorded in _prisma_migrations exactly as Prisma records them', async () => {
    const db = await emptyDatabase();
    expect(MIGRATION_NAMES.slice(0, 2)).toEqual(SEED_MIGRATIONS);
    expect((await readMigrations()).map((m) => m.name)).toEqual(MIGRATION_NAMES);

    const result = await migrate(db.url);
    expect(result).toEqual({ applied: MIGRATION_NAMES, alreadyApplied: [] });

    const columns = await withClient(db.url, async (c) => {
      const { rows } = await c.query(
        `SELECT column_name, data_type, character_maximum_length AS max_length, is_nullable, column_default
         FROM information_schema.columns WHERE table_name = '_prisma_migrations' ORDER BY ordinal_position`,
      );
      const pk = await c.query(
        `SELECT pg_get_constraintdef(oid) AS def FROM pg_constraint
         WHERE conrelid = '"_prisma_migrations"'::regclass AND contype = 'p'`,
      );
      expect(pk.rows).toEqual([{ def: 'PRIMARY KEY (id)' }]);
      return rows;
    });
    expect(columns).toEqual([
      { column_name: 'id', data_type: 'character varying', max_length: 36, is_nullable: 'NO', column_default: null },
      { column_name: 'checksum', data_type: 'character varying', max_length: 64, is_nullable: 'NO', column_default: null },
      { column_name: 'finished_at', data_type: 'timestamp with time zone', max_length: null, is_nullable: 'YES', column_default: null },
      { column_name: 'migration_name', data_type: 'character varying', max_length: 255, is_nullable: 'NO', column_default: null },
      { column_name: 'logs', data_type: 'text', max_length: null, is_nullable: 'YES', column_default: null },
      { column_name: 'rolled_back_at', data_type: 'timestamp with time zone', max_length: null, is_nullable: 'YES', column_default: null },
      { column_name: 'started_at', data_type: 'timestamp with time zone', max_length: null, is_nullable: 'NO', column_default: 'now()' },
      { column_name: 'applied_steps_count', data_type: 'integer', max_length: null, is_nullable: 'NO', column_default: '0' },
    ]);

    const rows = await bookkeeping(db.url);
    expect(rows.map((r) => r.migration_name)).toEqual(MIGRATION_NAMES);
    for (const row of rows) {
      expect(row.checksum).toBe(await sha256OfFile(path.join(MIGRATIONS_DIR, row.migration_name, 'migration.sql')));
      expect(row.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
      expect(row.finished_at).toBeInstanceOf(Date);
      expect(row.finished_at!.getTime()).toBeGreaterThanOrEqual(row.started_at.getTime());
      expect(row).toMatchObject({ applied_steps_count: 1, rolled_back_at: null, logs: null });
    }

    const relations = await withClient(db.url, async (c) => {
      const { rows: r } = await c.query<{ relname: string }>(
        `SELECT relname FROM pg_class WHERE relnamespace = 'sqp'::regnamespace AND relkind = 'r' ORDER BY relname`,
      );
      return r.map((x) => x.relname);
    });
    expect(relations).toEqual(expect.arrayContaining([...Object.keys(SEED_PRIORITIES), ...REFRESH_TABLES]));
    await expectSeedRegistration(db.url);
  });

  it('applying again applies nothing and changes nothing', async () => {
    const db = await emptyDatabase();
    await migrate(db.url);
    const before = await catalogSnapshot(db.url);
    // The snapshot must see what the migrations made, or comparing it proves nothing.
    expect(before['rows of sqp.refresh_config']).toMatchObject({ n: 8 });
    expect((before.triggers as string[]).length).toBeGreaterThanOrEqual(5);
    expect((before.functions as string[]).length).toBeGreaterThanOrEqual(7);

    const again = await migrate(db.url);
    expect(again.applied).toEqual([]);
    expect([...again.alreadyApplied].sort()).toEqual(MIGRATION_NAMES);
    expect(await catalogSnapshot(db.url)).toEqual(before);
  });

  it('two migrate() calls started at once apply each migration exactly once', async () => {
    const db = await emptyDatabase();
    // Hold the runner's lock so that both calls are provably waiting for it at the same time.
    await withClient(db.url, async (holder) => {
      await holder.query('SELECT pg_advisory_lock(72707369)');
      const both = Promise.allSettled([migrate(db.url), migrate(db.url)]);
      const deadline = Date.now() + 15_000;
      for (;;) {
        const { rows } = await holder.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM pg_stat_activity
           WHERE datname = current_database() AND wait_event_type = 'Lock' AND wait_event = 'advisory'`,
        );
        if (rows[0]!.n === 2) break;
        if (Date.now() > deadline) throw new Error('the two migrate() calls never both waited for the lock');
      }
      await holder.query('SELECT pg_advisory_unlock(72707369)');
      const results = await both;
      expect(results.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled']);
      const applied = results.map((r) => (r.status === 'fulfilled' ? r.value.applied : []));
      expect(applied.map((a) => a.length).sort()).toEqual([0, MIGRATION_NAMES.length]);
      expect(applied.flat()).toEqual(MIGRATION_NAMES);
    });
    const rows = await bookkeeping(db.url);
    expect(rows.map((r) => [r.migration_name, r.applied_steps_count, r.finished_at !== null])).toEqual(
      MIGRATION_NAMES.map((name) => [name, 1, true]),
    );
    await expectSeedRegistration(db.url);
  });
});

describe('a database that already has sqp tables of its own', () => {
  it('keeps their columns and rows, and registers exactly the seed tables and dependencies', async () => {
    const db = await emptyDatabase();
    await withClient(db.url, async (c) => {
      await c.query(`
        CREATE SCHEMA sqp;
        CREATE TABLE sqp.asin_performance_data (
          asin TEXT PRIMARY KEY, start_date DATE, my_score NUMERIC(5,2), note TEXT);
        INSERT INTO sqp.asin_performance_data VALUES ('B0OWNROW01', '2025-01-05', 4.25, 'kept');
        CREATE TABLE sqp.daily_sqp_data (day DATE NOT NULL, sku TEXT, units INTEGER DEFAULT 0);
        INSERT INTO sqp.daily_sqp_data VALUES ('2025-02-01', 'SKU-1', 7);`);
    });

    expect(await migrate(db.url)).toEqual({ applied: MIGRATION_NAMES, alreadyApplied: [] });

    expect(await columnsOf(db.url, 'asin_performance_data')).toEqual([
      'asin text',
      'start_date date',
      'my_score numeric',
      'note text',
    ]);
    expect(await columnsOf(db.url, 'daily_sqp_data')).toEqual(['day date', 'sku text', 'units integer']);
    // The tables that did not exist were created with the migration's own columns.
    expect(await columnsOf(db.url, 'search_query_performance')).toContain('impressions_brand_count bigint');
    await withClient(db.url, async (c) => {
      const own = await c.query(`SELECT asin, start_date::text, my_score::text, note FROM sqp.asin_performance_data`);
      expect(own.rows).toEqual([{ asin: 'B0OWNROW01', start_date: '2025-01-05', my_score: '4.25', note: 'kept' }]);
      const daily = await c.query(`SELECT day::text, sku, units FROM sqp.daily_sqp_data`);
      expect(daily.rows).toEqual([{ day: '2025-02-01', sku: 'SKU-1', units: 7 }]);
    });
    await expectSeedRegistration(db.url);
  });

  // Fixed in 030_sqp_tables (found by this test):
  // `CREATE INDEX IF NOT EXISTS asin_performance_data_start_date_idx ON sqp.asin_performance_data
  // (start_date)` runs whether or not the table was just created. On a database whose own
  // asin_performance_data has no start_date the whole migration fails ("column "start_date"
  // does not exist"), and where it has one, an index is added to a table that the migration
  // promises to keep "exactly as it is".
  it('applies where the own asin_performance_data has no start_date, adding no index to it', async () => {
    const db = await emptyDatabase();
    await withClient(db.url, async (c) => {
      await c.query(`
        CREATE SCHEMA sqp;
        CREATE TABLE sqp.asin_performance_data (id BIGSERIAL PRIMARY KEY, asin TEXT NOT NULL, payload JSONB);
        INSERT INTO sqp.asin_performance_data (asin, payload) VALUES ('B0OWNROW02', '{"a": 1}');`);
    });
    await migrate(db.url);
    expect(await columnsOf(db.url, 'asin_performance_data')).toEqual(['id bigint', 'asin text', 'payload jsonb']);
    await withClient(db.url, async (c) => {
      const idx = await c.query(
        `SELECT indexname FROM pg_indexes WHERE schemaname = 'sqp' AND tablename = 'asin_performance_data'`,
      );
      expect(idx.rows).toEqual([{ indexname: 'asin_performance_data_pkey' }]);
    });
    await expectSeedRegistration(db.url);
  });
});

describe('refusals', () => {
  it('refuses a migration that was edited after it was applied, naming it', async () => {
    const dir = await copyOfMigrations();
    const db = await emptyDatabase();
    await migrate(db.url, { dir });
    const before = await catalogSnapshot(db.url);

    await appendFile(path.join(dir, '031_create_daily_refresh_system', 'migration.sql'), '\n-- an afterthought\n');
    const error = await migrationError(migrate(db.url, { dir }));
    expect(error.message).toContain('031_create_daily_refresh_system');
    expect(error.message).toMatch(/edited/);
    expect(error.message).not.toContain('030_sqp_tables');
    expect(await catalogSnapshot(db.url)).toEqual(before);
  });

  it('rolls a failing migration back, records it, refuses until it is resolved, then applies the fix', async () => {
    const dir = await copyOfMigrations();
    const db = await emptyDatabase();
    await migrate(db.url, { dir });

    const brokenFile = path.join(dir, BROKEN, 'migration.sql');
    await mkdir(path.dirname(brokenFile));
    await writeFile(
      brokenFile,
      `CREATE TABLE sqp.made_by_broken (id INTEGER);\nINSERT INTO sqp.table_that_does_not_exist VALUES (1);\n`,
    );
    const failure = await migrationError(migrate(db.url, { dir }));
    expect(failure.message).toContain(BROKEN);
    expect(failure.message).toContain('table_that_does_not_exist');

    await withClient(db.url, async (c) => {
      // The valid first statement was rolled back with the rest (and so was its registration).
      const made = await c.query(`SELECT to_regclass('sqp.made_by_broken') AS rel`);
      expect(made.rows).toEqual([{ rel: null }]);
      const registered = await c.query(`SELECT count(*)::int AS n FROM sqp.refresh_config WHERE table_name = 'made_by_broken'`);
      expect(registered.rows).toEqual([{ n: 0 }]);
    });
    const failedRows = (await bookkeeping(db.url)).filter((r) => r.migration_name === BROKEN);
    expect(failedRows).toHaveLength(1);
    expect(failedRows[0]).toMatchObject({
      finished_at: null,
      rolled_back_at: null,
      applied_steps_count: 0,
      checksum: await sha256OfFile(brokenFile),
    });
    expect(failedRows[0]!.logs).toContain('table_that_does_not_exist');

    // Neither the same file nor a fixed one is applied while the failure is unresolved.
    const refused = await migrationError(migrate(db.url, { dir }));
    expect(refused.message).toContain(BROKEN);
    expect(refused.message).toMatch(/failed/);
    await writeFile(brokenFile, `CREATE TABLE sqp.made_by_broken (id INTEGER);\n`);
    const stillRefused = await migrationError(migrate(db.url, { dir }));
    expect(stillRefused.message).toContain(BROKEN);

    expect(await resolveRolledBack(db.url, BROKEN)).toBe(true);
    expect(await resolveRolledBack(db.url, BROKEN)).toBe(false);
    const reapplied = await migrate(db.url, { dir });
    expect(reapplied.applied).toEqual([BROKEN]);
    expect([...reapplied.alreadyApplied].sort()).toEqual(MIGRATION_NAMES);

    await withClient(db.url, async (c) => {
      const made = await c.query(`SELECT to_regclass('sqp.made_by_broken')::text AS rel`);
      expect(made.rows).toEqual([{ rel: 'sqp.made_by_broken' }]);
    });
    const rows = (await bookkeeping(db.url)).filter((r) => r.migration_name === BROKEN);
    expect(rows.map((r) => [r.finished_at !== null, r.rolled_back_at !== null, r.applied_steps_count])).toEqual([
      [false, true, 0],
      [true, false, 1],
    ]);
    expect(rows[1]!.checksum).toBe(await sha256OfFile(brokenFile));
    const settled = await migrate(db.url, { dir });
    expect(settled.applied).toEqual([]);
    expect([...settled.alreadyApplied].sort()).toEqual([...MIGRATION_NAMES, BROKEN]);
  });
});

describe('a role without superuser', () => {
  it('can apply the migrations; it is told there is no event trigger, and none is made', async () => {
    const db = await emptyDatabase();
    const role = `sqp_migrator_${randomBytes(4).toString('hex')}`;
    const password = `pw-${randomBytes(6).toString('hex')}`;
    const admin = new pg.Client({ connectionString: inject('adminUrl') });
    await admin.connect();
    try {
      await admin.query(`CREATE ROLE ${role} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD '${password}'`);
      // Owning the database gives CREATE on it and (PostgreSQL 15+) on its public schema,
      // where _prisma_migrations lives.
      await admin.query(`GRANT CREATE ON DATABASE ${db.name} TO ${role}`);
      await admin.query(`ALTER DATABASE ${db.name} OWNER TO ${role}`);

      const url = new URL(db.url);
      url.username = role;
      url.password = password;
      const asRole = url.toString();
      await withClient(asRole, async (c) => {
        const { rows } = await c.query(`SELECT current_user AS who, rolsuper FROM pg_roles WHERE rolname = current_user`);
        expect(rows).toEqual([{ who: role, rolsuper: false }]);
      });

      const notices: string[] = [];
      const result = await migrate(asRole, { onNotice: (m) => notices.push(m) });
      expect(result.applied).toEqual(MIGRATION_NAMES);
      expect(notices.filter((n) => n.startsWith('sqp-refresh:'))).toHaveLength(1);
      expect(notices.find((n) => n.startsWith('sqp-refresh:'))).toContain('event trigger');

      await withClient(asRole, async (c) => {
        const events = await c.query(`SELECT evtname FROM pg_event_trigger`);
        expect(events.rows).toEqual([]);
        const owner = await c.query(`SELECT pg_get_userbyid(relowner) AS owner FROM pg_class WHERE oid = 'sqp.refresh_config'::regclass`);
        expect(owner.rows).toEqual([{ owner: role }]);
      });
      await expectSeedRegistration(asRole);
    } finally {
      await db.drop();
      await admin.query(`DROP ROLE IF EXISTS ${role}`);
      await admin.end();
    }
  });
});
