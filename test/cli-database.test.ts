// `sqp-refresh migrate`, `plan` and `status` end to end against real PostgreSQL, as a user
// runs them: each describe block has its own database.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addRefreshDependency } from '../src/commands/config.ts';
import { readMigrations } from '../src/migrate.ts';
import { createEmptyDatabase, createTestDatabase, openTestPool, type TestDatabase } from './support/db.ts';
import { runCli } from './support/cli.ts';


function cli(url: string, args: string[]) {
  return runCli(args, { DATABASE_URL: url });
}

async function sql<T extends pg.QueryResultRow = pg.QueryResultRow>(url: string, text: string): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<T>(text)).rows;
  } finally {
    await client.end();
  }
}

/** The data rows of a printed table (lines after the dashes, up to a blank line), split into cells. */
function tableRows(stdout: string): string[][] {
  const lines = stdout.split('\n');
  const start = lines.findIndex((l) => /^-+(\s+-+)+$/.test(l)) + 1;
  const end = lines.indexOf('', start);
  return lines.slice(start, end === -1 ? undefined : end).map((l) => l.split(/\s{2,}/));
}

describe('sqp-refresh plan and status without a database', () => {
  it('exits 1 with one line naming the database (password hidden), not a stack trace', async () => {
    const { code, stdout, stderr } = await cli('postgresql://postgres:hunter2@127.0.0.1:1/nowhere', ['status']);
    expect({ code, stdout }).toEqual({ code: 1, stdout: '' });
    expect(stderr).toBe('DATABASE_URL (postgresql://postgres:***@127.0.0.1:1/nowhere): cannot connect (connect ECONNREFUSED 127.0.0.1:1)\n');
  });
});

describe('sqp-refresh migrate', () => {
  let database: TestDatabase;
  beforeAll(async () => (database = await createEmptyDatabase()));
  afterAll(() => database.drop());

  it('applies every migration to an empty database, exits 0, and applies nothing the second time', async () => {
    const before = await cli(database.url, ['status']);
    expect(before.code).toBe(1);
    expect(before.stderr).toMatch(/The database is not migrated \(pending: 030_sqp_tables, .*\)\. Run `sqp-refresh migrate` first\./);

    const first = await cli(database.url, ['migrate']);
    expect({ code: first.code, stderr: first.stderr }).toEqual({ code: 0, stderr: '' });
    const onDisk = (await readMigrations()).map((m) => m.name);
    const applied = async () =>
      (await sql<{ migration_name: string }>(database.url, `SELECT migration_name FROM _prisma_migrations WHERE finished_at IS NOT NULL ORDER BY 1`)).map(
        (r) => r.migration_name,
      );
    expect(await applied()).toEqual(onDisk);
    const [configs] = await sql<{ n: number }>(database.url, `SELECT count(*)::int AS n FROM sqp.refresh_config`);
    expect(configs!.n).toBe(8);

    const second = await cli(database.url, ['migrate']);
    expect(second.code).toBe(0);
    expect(await applied()).toEqual(onDisk);
    const after = await cli(database.url, ['status']);
    expect(after.code).toBe(0);
    expect(tableRows(after.stdout)).toHaveLength(8);
  });
});

describe('sqp-refresh plan', () => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await createTestDatabase();
    // The seed's eight tables, with asin_performance_data → {search_performance_summary,
    // weekly_summary, monthly_summary} (hard), each given sync params (a table without any is
    // never run, so never planned). Times are relative to now.
    await sql(
      database.url,
      `UPDATE sqp.refresh_config SET custom_sync_params = '{"source": {"type": "postgres", "query": "SELECT 1 AS id"}, "key": ["id"]}';
       UPDATE sqp.refresh_config SET is_enabled = false WHERE table_name IN ('search_performance_summary', 'yearly_summary');
       UPDATE sqp.refresh_config SET next_refresh_at = now() - interval '2 hours' WHERE table_name = 'asin_performance_data';
       UPDATE sqp.refresh_config SET next_refresh_at = now() - interval '1 hour' WHERE table_name = 'daily_sqp_data';
       UPDATE sqp.refresh_config SET next_refresh_at = now() + interval '10 hours' WHERE table_name = 'weekly_summary';
       UPDATE sqp.refresh_config SET next_refresh_at = now() + interval '2 hours' WHERE table_name = 'quarterly_summary';
       UPDATE sqp.refresh_config SET next_refresh_at = now() + interval '3 hours' WHERE table_name = 'search_query_performance';
       UPDATE sqp.refresh_config SET next_refresh_at = now() + interval '5 hours' WHERE table_name = 'monthly_summary';
       -- yearly_summary (disabled) failed last time; quarterly_summary needs it (hard).
       INSERT INTO sqp.refresh_audit_log (refresh_config_id, table_schema, table_name, refresh_started_at, refresh_completed_at, status, error_message)
       SELECT id, table_schema, table_name, now() - interval '1 hour', now() - interval '50 minutes', 'failed', 'boom'
       FROM sqp.refresh_config WHERE table_name = 'yearly_summary';`,
    );
    const pool = openTestPool(database.url, 1);
    await addRefreshDependency(pool, {
      parent: { tableSchema: 'sqp', tableName: 'yearly_summary' }, dependent: { tableSchema: 'sqp', tableName: 'quarterly_summary' }, dependencyType: 'hard',
    }).finally(() => pool.end());
    await sql(
      database.url,
      `-- A cycle monthly_summary ⇄ search_performance_summary. The database refuses cycles (a
       -- trigger); replica mode skips triggers, as a restore or a database older than that
       -- trigger would have it.
       SET session_replication_role = replica;
       INSERT INTO sqp.refresh_dependencies (parent_config_id, dependent_config_id)
       SELECT p.id, d.id FROM sqp.refresh_config p, sqp.refresh_config d
       WHERE (p.table_name, d.table_name) IN (('monthly_summary', 'search_performance_summary'), ('search_performance_summary', 'monthly_summary'));`,
    );
  });
  afterAll(() => database.drop());

  it('lists what runs next in order, with reason, cascade parent, state and notes, then the cycles', async () => {
    const { code, stdout, stderr } = await cli(database.url, ['plan']);
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
    expect(stdout).toMatch(/^Refreshes in the next 24 hours \(6\):/);
    const rows = tableRows(stdout).map(([position, time, table, reason, cascadeFrom, state, notes]) => ({
      position, time: time!.replace(/^\d{4}-\d\d-\d\d \d\d:\d\d /, ''), table, reason, cascadeFrom, state, notes: notes ?? '',
    }));
    expect(rows).toEqual([
      { position: '1', time: '(now)', table: 'sqp.asin_performance_data', reason: 'due', cascadeFrom: '-', state: 'ready', notes: '' },
      { position: '2', time: '(now)', table: 'sqp.daily_sqp_data', reason: 'due', cascadeFrom: '-', state: 'ready', notes: '' },
      { position: '3', time: '(now)', table: 'sqp.weekly_summary', reason: 'cascade', cascadeFrom: 'sqp.asin_performance_data', state: 'ready', notes: '' },
      {
        position: '4', time: expect.stringMatching(/^\(in (1h 59m|2h)\)$/), table: 'sqp.quarterly_summary', reason: 'scheduled', cascadeFrom: '-',
        state: 'blocked', notes: 'blocked by sqp.yearly_summary: its latest refresh failed',
      },
      { position: '5', time: expect.stringMatching(/^\(in (2h 59m|3h)\)$/), table: 'sqp.search_query_performance', reason: 'scheduled', cascadeFrom: '-', state: 'ready', notes: '' },
      {
        position: '6', time: expect.stringMatching(/^\(in (4h 59m|5h)\)$/), table: 'sqp.monthly_summary', reason: 'scheduled', cascadeFrom: '-',
        state: 'blocked', notes: expect.stringMatching(/^dependency cycle: /),
      },
    ]);
    const cycles = stdout.slice(stdout.indexOf('\nDependency cycles'));
    expect(cycles).toMatch(/^\nDependency cycles .*:\n {2}(sqp\.monthly_summary -> sqp\.search_performance_summary|sqp\.search_performance_summary -> sqp\.monthly_summary)\n$/);
  });

  it('--hours bounds the horizon; --json gives the same plan to scripts', async () => {
    const { code, stdout } = await cli(database.url, ['plan', '--hours', '4', '--json']);
    expect(code).toBe(0);
    const plan = JSON.parse(stdout) as { horizonHours: number; items: Array<{ position: number; table: string; reason: string; at: string }>; cycles: string[][] };
    expect(plan.horizonHours).toBe(4);
    expect(plan.items.map((i) => [i.position, i.table, i.reason])).toEqual([
      [1, 'sqp.asin_performance_data', 'due'],
      [2, 'sqp.daily_sqp_data', 'due'],
      [3, 'sqp.weekly_summary', 'cascade'],
      [4, 'sqp.quarterly_summary', 'scheduled'],
      [5, 'sqp.search_query_performance', 'scheduled'],
    ]);
    expect(Date.parse(plan.items[4]!.at) - Date.now()).toBeGreaterThan(2.9 * 3_600_000);
    expect(plan.cycles.map((c) => [...c].sort())).toEqual([['sqp.monthly_summary', 'sqp.search_performance_summary']]);
  });
});

describe('sqp-refresh status', () => {
  let database: TestDatabase;
  beforeAll(async () => (database = await createTestDatabase()));
  afterAll(() => database.drop());

  const row = (stdout: string, table: string) => {
    const found = tableRows(stdout).find((r) => r[0] === table);
    if (!found) throw new Error(`${table} not in:\n${stdout}`);
    const [, enabled, priority, every, last, next, latest, rows, running] = found;
    return { enabled, priority, every, last, next, latest, rows, running };
  };

  it('shows every registered table, and a table\'s latest run after `sqp-refresh run`', async () => {
    const run = await cli(database.url, ['run', 'sqp.search_query_performance']);
    expect(run.code).toBe(0);
    await sql(database.url, `UPDATE sqp.refresh_config SET is_enabled = false WHERE table_name = 'yearly_summary'`);

    const { code, stdout, stderr } = await cli(database.url, ['status']);
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
    expect(tableRows(stdout).map((r) => r[0])).toEqual([
      'sqp.asin_performance_data', 'sqp.daily_sqp_data', 'sqp.monthly_summary', 'sqp.quarterly_summary',
      'sqp.search_performance_summary', 'sqp.search_query_performance', 'sqp.weekly_summary', 'sqp.yearly_summary',
    ]);
    expect(row(stdout, 'sqp.search_query_performance')).toEqual({
      enabled: 'yes', priority: '70', every: '24h', last: expect.stringMatching(/^(just now|\d+s ago)$/), next: expect.stringMatching(/^in 23h 5\dm$/),
      latest: expect.stringMatching(/^success (just now|\d+s ago)$/), rows: '5,200 / 5,200 / 0 / 0', running: 'no',
    });
    expect(row(stdout, 'sqp.weekly_summary')).toMatchObject({ enabled: 'yes', last: 'never', latest: 'never run', rows: '-', running: 'no' });
    expect(row(stdout, 'sqp.yearly_summary')).toMatchObject({ enabled: 'no', next: '- (disabled)' });

    const json = await cli(database.url, ['status', '--json']);
    const tables = (JSON.parse(json.stdout) as { tables: Array<{ table: string; latestRun: { status: string; rowsProcessed: number } | null; runningNow: boolean }> }).tables;
    expect(tables.find((t) => t.table === 'sqp.search_query_performance')).toMatchObject({
      runningNow: false, latestRun: { status: 'success', rowsProcessed: 5200 },
    });
  });

  it('tells a refresh running now (its process holds the table lock) from one whose process died', async () => {
    const client = new pg.Client({ connectionString: database.url });
    await client.connect();
    try {
      await client.query(
        `INSERT INTO sqp.refresh_audit_log (refresh_config_id, table_schema, table_name, refresh_started_at, status)
         SELECT id, table_schema, table_name, now() - interval '3 minutes', 'running' FROM sqp.refresh_config WHERE table_name = 'daily_sqp_data'`,
      );
      // The lock a refresh holds for its whole run (src/runner/engine/refresh-table.ts).
      await client.query(`SELECT sqp_refresh_work.try_lock_table('sqp', 'daily_sqp_data')`);
      const live = await cli(database.url, ['status']);
      expect(row(live.stdout, 'sqp.daily_sqp_data')).toMatchObject({ latest: 'running, started 3m ago', running: 'yes' });
      expect(row(live.stdout, 'sqp.asin_performance_data')).toMatchObject({ running: 'no' });
      await client.query(`SELECT sqp_refresh_work.unlock_table('sqp', 'daily_sqp_data')`);
      const dead = await cli(database.url, ['status']);
      expect(row(dead.stdout, 'sqp.daily_sqp_data')).toMatchObject({ running: 'no (interrupted)' });
    } finally {
      await client.end();
    }
  });
});
