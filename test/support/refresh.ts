// Helpers for refresh tests: a table registered and configured through the commands, a runner
// with the tests' defaults, configs from the database, checksums of tables.
import pg from 'pg';
import { expect } from 'vitest';
import { registerTable, updateRefreshConfig, type ConfigSettings } from '../../src/commands/config.ts';
import { createLogger } from '../../src/logger.ts';
import type { RefreshConfigRow } from '../../src/runner/engine/refresh-table.ts';
import { createRunner, type Runner, type RunnerOptions } from '../../src/runner/scheduler/runner.ts';
import { selectConfig } from '../../src/runner/scheduler/sql.ts';
import { createSources } from '../../src/runner/sources/registry.ts';

export interface TestTable extends ConfigSettings {
  /** Default sqp. */
  tableSchema?: string;
  tableName: string;
  /** When it is next due: a time, or an interval from the database's clock ('30 days', '-1 minute'). */
  nextRefreshAt?: Date | string;
  /** Params stored as given, past the validator: a row an older version or a hand edit left. */
  uncheckedSyncParams?: unknown;
}

/**
 * Registers an existing table and configures it as the service and an operator do; returns its config id.
 * A table created in sqp is registered by the event trigger (the tests' role is a superuser),
 * otherwise by registerTable; settings go through updateRefreshConfig (both validate and wake
 * the runners). Written directly, because no command writes them: a test's schedule
 * (`nextRefreshAt`) and params the validator refuses (`uncheckedSyncParams`).
 */
export async function registerTestTable(pool: pg.Pool, table: TestTable): Promise<number> {
  const { tableSchema = 'sqp', tableName, nextRefreshAt, uncheckedSyncParams, ...settings } = table;
  const registered = await selectConfig(pool, tableSchema, tableName);
  const id = registered?.id ?? (await registerTable(pool, { tableSchema, tableName, ...settings }));
  if (registered && Object.values(settings).some((v) => v !== undefined)) await updateRefreshConfig(pool, id, settings);
  if (nextRefreshAt !== undefined) {
    const at = typeof nextRefreshAt === 'string' ? `now() + $2::interval` : `$2::timestamptz`;
    await pool.query(`UPDATE sqp.refresh_config SET next_refresh_at = ${at} WHERE id = $1`, [id, nextRefreshAt]);
  }
  if (uncheckedSyncParams !== undefined) {
    await pool.query(`UPDATE sqp.refresh_config SET custom_sync_params = $2 WHERE id = $1`, [id, JSON.stringify(uncheckedSyncParams)]);
  }
  return id;
}

/**
 * A runner as the tests build one: the tests' logger (TEST_LOG, default silent), postgres sources
 * on `databaseUrl` (the pool's database), no byte budget, and a cron that never fires — it moves
 * when the test ticks, wakes or forces it. `overrides` replace any of these.
 */
export function buildTestRunner(pool: pg.Pool, databaseUrl: string, overrides: Partial<RunnerOptions> = {}): Runner {
  return createRunner({
    pool,
    logger: createLogger({ level: process.env.TEST_LOG ?? 'silent', pretty: false }),
    workerName: 'test',
    sources: createSources({ targetUrl: databaseUrl }),
    dailyByteBudget: null,
    schedule: '0 0 1 1 *',
    ...overrides,
  });
}

/** Reads a config row as the runner would. */
export async function loadConfig(pool: pg.Pool, table: string, schema = 'sqp'): Promise<RefreshConfigRow> {
  const row = await selectConfig(pool, schema, table);
  if (!row) throw new Error(`no config for ${schema}.${table}`);
  return row;
}

/** Row count and an order-independent checksum of the given columns of a table or query. */
export async function tableChecksum(pool: pg.Pool, relation: string, columns: string[]): Promise<{ rows: number; checksum: string }> {
  const row = `md5(concat_ws('|', ${columns.map((c) => `${c}::text`).join(', ')}))`;
  const { rows } = await pool.query<{ n: string; sum: string }>(
    `SELECT count(*)::text AS n, coalesce(sum(('x' || substr(${row}, 1, 15))::bit(60)::bigint), 0)::text AS sum FROM ${relation}`,
  );
  return { rows: Number(rows[0]!.n), checksum: rows[0]!.sum };
}

/**
 * A source table src.<name> of `rows` rows (id, v = 3·id, updated_at) and its target sqp.<name>,
 * registered, not due: a postgres source on the test database, slowed by `msPerRow` when given.
 * The caller creates schema src.
 */
export async function sourceAndTarget(pool: pg.Pool, name: string, rows: number, opts: { pageSize?: number; msPerRow?: number; mode?: 'full' | 'incremental' } = {}): Promise<number> {
  await pool.query(`CREATE TABLE src.${name} (id int PRIMARY KEY, v int, updated_at timestamptz NOT NULL DEFAULT now())`);
  await pool.query(`INSERT INTO src.${name} (id, v) SELECT g, g * 3 FROM generate_series(1, $1) g`, [rows]);
  await pool.query(`CREATE TABLE sqp.${name} (id int PRIMARY KEY, v int, updated_at timestamptz)`);
  const slow = opts.msPerRow ? ` WHERE pg_sleep(${opts.msPerRow / 1000}) IS NOT NULL` : '';
  const params = {
    source: { type: 'postgres', query: `SELECT id, v, updated_at FROM src.${name}${slow}` },
    pageSize: opts.pageSize ?? 100,
    ...(opts.mode === 'incremental' ? { mode: 'incremental', cursorColumn: 'updated_at' } : {}),
    quality: { rowCountChange: { min: -1, max: 1000 } },
  };
  return registerTestTable(pool, { tableName: name, isEnabled: true, customSyncParams: params, nextRefreshAt: '30 days' });
}

/** The target sqp.<name> holds exactly the rows of src.<name> (id and v). */
export async function expectSameAsSource(pool: pg.Pool, name: string): Promise<void> {
  expect(await tableChecksum(pool, `sqp.${name}`, ['id', 'v'])).toEqual(await tableChecksum(pool, `src.${name}`, ['id', 'v']));
}
