// Write, audit, publish on a real PostgreSQL: a reader of the target never sees a mix of old and
// new rows; a blocking breach publishes nothing (the target unchanged to the byte) and its
// dependents do not run; SIGKILL at any point leaves the old or the new version, never a mix,
// and the refresh then ends equal with exact counts; strict params and one-statement sources.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addRefreshDependency } from '../src/commands/config.ts';
import { refreshTable, type RefreshOptions } from '../src/runner/engine/refresh-table.ts';
import { createSources } from '../src/runner/sources/registry.ts';
import { createTestDatabase, openTestPool } from './support/db.ts';
import { buildTestRunner, loadConfig, registerTestTable, tableChecksum } from './support/refresh.ts';
import { eventually } from './support/until.ts';

const root = path.resolve(import.meta.dirname, '..');
const database = await createTestDatabase();
const pool = openTestPool(database.url, 6);
const ROWS = 4000;
const options = (extra: Partial<RefreshOptions> = {}): RefreshOptions => ({ pool, sources: createSources({ targetUrl: database.url }), ...extra });
const sum = (relation: string) => tableChecksum(pool, relation, ['id', 'v']);

/** src.<name> (new values v = 2g + version) and sqp.<name> holding the old version of every row. */
async function table(name: string, params: Record<string, unknown> = {}) {
  await pool.query(`CREATE TABLE src.${name} (id int PRIMARY KEY, v int)`);
  await pool.query(`INSERT INTO src.${name} SELECT g, g * 2 + 1 FROM generate_series(1, ${ROWS}) g`);
  await pool.query(`CREATE TABLE sqp.${name} (id int PRIMARY KEY, v int)`);
  await pool.query(`INSERT INTO sqp.${name} SELECT g, g * 2 FROM generate_series(1, ${ROWS}) g`);
  await registerTestTable(pool, {
    tableName: name, isEnabled: true, nextRefreshAt: '30 days',
    customSyncParams: { source: { type: 'postgres', query: `SELECT id, v FROM src.${name}` }, pageSize: 500, quality: { rowCountChange: { min: -1, max: 1000 } }, ...params },
  });
}

beforeAll(async () => {
  await pool.query(`UPDATE sqp.refresh_config SET is_enabled = false`);
  await pool.query(`CREATE SCHEMA src`);
});
afterAll(async () => {
  await pool.end();
  await database.drop();
});

describe('a reader of the target', () => {
  it('sees all old rows until the publish, then all new ones: never a mix (asserted on every poll)', async () => {
    await table('wap_read', { source: { type: 'postgres', query: 'SELECT id, v FROM src.wap_read WHERE pg_sleep(0.0003) IS NOT NULL' } });
    const seen = { old: 0, new: 0 };
    const mixes: string[] = [];
    let polling = true;
    const reader = (async () => {
      while (polling) {
        const { rows: [r] } = await pool.query(`SELECT count(*) FILTER (WHERE v % 2 = 0)::int AS old, count(*) FILTER (WHERE v % 2 = 1)::int AS new FROM sqp.wap_read`);
        if (r.old === ROWS && r.new === 0) seen.old++;
        else if (r.new === ROWS && r.old === 0) seen.new++;
        else mixes.push(`${r.old} old + ${r.new} new`);
      }
    })();
    const result = await refreshTable(await loadConfig(pool, 'wap_read'), options());
    polling = false;
    await reader;
    expect(result).toMatchObject({ status: 'success', rowsProcessed: ROWS, rowsUpdated: ROWS, rowsInserted: 0 });
    expect(mixes).toEqual([]);
    expect(seen.old).toBeGreaterThan(1); // it did read during the 8-page load
    expect(await sum('sqp.wap_read')).toEqual(await sum('src.wap_read'));
  });
});

describe('a blocking breach publishes nothing', () => {
  const breaches: Array<[string, string, (name: string) => Promise<unknown>, Record<string, unknown>]> = [
    ['null keys', 'key_null_rate:id', (n) => pool.query(`ALTER TABLE src.${n} DROP CONSTRAINT ${n}_pkey; ALTER TABLE src.${n} ALTER id DROP NOT NULL; UPDATE src.${n} SET id = NULL WHERE id % 10 = 0`), { keyColumns: ['id'] }],
    ['0 source rows', 'source_rows_zero', (n) => pool.query(`DELETE FROM src.${n}`), {}],
    ['a delete ratio over the limit', 'delete_ratio', (n) => pool.query(`DELETE FROM src.${n} WHERE id > ${ROWS / 2}`), { deleteMissing: true }],
  ];
  for (const [what, metric, breach, params] of breaches) {
    it(`${what}: the target unchanged to the byte, the run failed naming ${metric}, the staged rows kept`, async () => {
      const name = `wap_${metric.replace(/\W/g, '_')}`;
      await table(name, params);
      // A first success, so the table has a history (source_rows_zero compares with it).
      expect((await refreshTable(await loadConfig(pool, name), options())).status).toBe('success');
      await pool.query(`UPDATE src.${name} SET v = v + 2`);
      await breach(name);
      const before = (await pool.query(`SELECT md5(string_agg(id || ':' || v, ',' ORDER BY id)) AS h, count(*)::int AS n FROM sqp.${name}`)).rows[0];
      const result = await refreshTable(await loadConfig(pool, name), options());
      expect(result).toMatchObject({ status: 'failed', outcome: 'failed', rowsInserted: 0, rowsUpdated: 0, rowsDeleted: 0 });
      expect(result.errorDetails).toMatchObject({ reason: 'quality', blocking: true, breaches: expect.arrayContaining([metric]) });
      expect(result.errorMessage).toMatch(/nothing was published/);
      const after = (await pool.query(`SELECT md5(string_agg(id || ':' || v, ',' ORDER BY id)) AS h, count(*)::int AS n FROM sqp.${name}`)).rows[0];
      expect(after).toEqual(before);
      const { rows: [audit] } = await pool.query(`SELECT sync_metadata FROM sqp.refresh_audit_log WHERE id = $1`, [result.runId]);
      expect(audit.sync_metadata).toMatchObject({ phase: 'auditing', staged: { table: expect.stringContaining('stage_'), rows: result.rowsProcessed } });
      const { rows: [metricRow] } = await pool.query(`SELECT is_within_threshold FROM sqp.refresh_data_quality WHERE audit_log_id = $1 AND metric_name = $2`, [result.runId, metric]);
      expect(metricRow.is_within_threshold).toBe(false);
    });
  }

  it('and its hard dependents do not run', async () => {
    await table('wap_parent');
    await table('wap_child');
    await addRefreshDependency(pool, { parent: { tableSchema: 'sqp', tableName: 'wap_parent' }, dependent: { tableSchema: 'sqp', tableName: 'wap_child' }, dependencyType: 'hard' });
    expect((await refreshTable(await loadConfig(pool, 'wap_parent'), options())).status).toBe('success');
    const { rows: [{ last }] } = await pool.query(`SELECT max(id) AS last FROM sqp.refresh_audit_log`);
    await pool.query(`DELETE FROM src.wap_parent`); // 0 rows where the last success left rows: blocking
    await pool.query(`UPDATE sqp.refresh_config SET next_refresh_at = now() - interval '1 minute' WHERE table_name IN ('wap_parent', 'wap_child')`);
    const runner = buildTestRunner(pool, database.url, { workerName: 'wap' });
    await runner.tick();
    const { rows } = await pool.query(`SELECT table_name, status FROM sqp.refresh_audit_log WHERE table_name IN ('wap_parent', 'wap_child') AND id > $1 ORDER BY id`, [last]);
    expect(rows).toEqual([{ table_name: 'wap_parent', status: 'failed' }]);
    expect(runner.status().blocked.map((b) => b.reasons.join(' '))).toEqual([expect.stringMatching(/wap_parent/)]);
  });
});

describe('an empty target', () => {
  it('takes the bulk path, and a repeated key in the source still loads one row of it, counted', async () => {
    await pool.query(`CREATE TABLE src.wap_empty (id int, v int, ord int)`);
    await pool.query(`INSERT INTO src.wap_empty SELECT g, g, 1 FROM generate_series(1, 1000) g UNION ALL SELECT 5, 500, 2`);
    await pool.query(`CREATE TABLE sqp.wap_empty (id int PRIMARY KEY, v int)`);
    await registerTestTable(pool, {
      tableName: 'wap_empty', isEnabled: true,
      customSyncParams: { source: { type: 'postgres', query: 'SELECT id, v FROM src.wap_empty ORDER BY ord' }, keyColumns: ['id'], pageSize: 2000 },
    });
    const result = await refreshTable(await loadConfig(pool, 'wap_empty'), options());
    expect(result).toMatchObject({ status: 'warning', rowsProcessed: 1001, rowsInserted: 1000, rowsUpdated: 0 });
    // The postgres source reads in key order: which of two equal keys comes last is the source's.
    expect([5, 500]).toContain((await pool.query(`SELECT v FROM sqp.wap_empty WHERE id = 5`)).rows[0].v);
    const duplicatesOf = async (runId: number) =>
      (await pool.query(`SELECT metric_value::int AS v FROM sqp.refresh_data_quality WHERE audit_log_id = $1 AND metric_name = 'duplicate_keys'`, [runId])).rows[0].v;
    expect(await duplicatesOf(result.runId)).toBe(1);

    // Again with equal copies of the repeated row, which the target already holds: nothing to
    // write (no merge runs to trip over the repeat), and the repeat is still counted.
    await pool.query(`UPDATE src.wap_empty SET v = (SELECT v FROM sqp.wap_empty WHERE id = 5) WHERE id = 5`);
    const again = await refreshTable(await loadConfig(pool, 'wap_empty'), options());
    expect(again).toMatchObject({ status: 'warning', rowsProcessed: 1001, rowsInserted: 0, rowsUpdated: 0 });
    expect(await duplicatesOf(again.runId)).toBe(1);
    expect((await pool.query(`SELECT count(*)::int AS n FROM sqp.wap_empty WHERE xmax <> 0`)).rows[0].n).toBe(0);
  });
});

describe('a load that changes one row', () => {
  it('finds the change past the first 10,000 staged rows, and publishes exactly it', async () => {
    await pool.query(`CREATE TABLE src.wap_one AS SELECT g AS id, g AS v FROM generate_series(1, 12000) g`);
    await pool.query(`CREATE TABLE sqp.wap_one (id int PRIMARY KEY, v int)`);
    await registerTestTable(pool, {
      tableName: 'wap_one', isEnabled: true,
      customSyncParams: { source: { type: 'postgres', query: 'SELECT id, v FROM src.wap_one' }, pageSize: 5000 },
    });
    expect(await refreshTable(await loadConfig(pool, 'wap_one'), options())).toMatchObject({ status: 'success', rowsInserted: 12000 });
    await pool.query(`UPDATE src.wap_one SET v = -1 WHERE id = 11999`); // staged in key order: past the sample
    const result = await refreshTable(await loadConfig(pool, 'wap_one'), options());
    expect(result).toMatchObject({ status: 'success', rowsProcessed: 12000, rowsInserted: 0, rowsUpdated: 1 });
    expect((await pool.query(`SELECT v FROM sqp.wap_one WHERE id = 11999`)).rows[0].v).toBe(-1);
  });
});

describe('names from the catalog', () => {
  it('a schema and table named with quotes and backslashes refresh like any other, and nothing else runs', async () => {
    const schema = "a'; CREATE TABLE public.pwned (x int); --\\";
    const table = 't"\\x\'';
    const q = (n: string) => `"${n.replaceAll('"', '""')}"`;
    await pool.query(`CREATE SCHEMA ${q(schema)}`);
    await pool.query(`CREATE TABLE ${q(schema)}.${q(table)} (id int PRIMARY KEY, v int)`);
    // Written by hand: registerTable takes tables of the data schema only, and this row is what
    // a config of any other schema looks like to the engine (a hand edit, an older version).
    await pool.query(`INSERT INTO sqp.refresh_config (table_schema, table_name, custom_sync_params) VALUES ($1, $2, $3)`, [
      schema, table, JSON.stringify({ source: { type: 'postgres', query: 'SELECT g AS id, g * 2 AS v FROM generate_series(1, 50) g' } }),
    ]);
    const result = await refreshTable(await loadConfig(pool, table, schema), options());
    expect(result).toMatchObject({ status: 'success', rowsInserted: 50 });
    expect((await pool.query(`SELECT to_regclass('public.pwned') AS r`)).rows[0].r).toBeNull();
    expect((await pool.query(`SELECT sum(v)::int AS s FROM ${q(schema)}.${q(table)}`)).rows[0].s).toBe(2550);
  });
});

describe('SIGKILL at random points', () => {
  it('leaves the old or the new version, never a mix; the next run ends equal with exact counts', async () => {
    await table('wap_kill', { source: { type: 'postgres', query: 'SELECT id, v FROM src.wap_kill WHERE pg_sleep(0.0002) IS NOT NULL' } });
    const oldSum = await sum('sqp.wap_kill');
    const newSum = await sum('src.wap_kill');
    const run = (killAfterMs: number | null) => new Promise<{ code: number | null; signal: string | null }>((resolve) => {
      const child = spawn(process.execPath, ['bin/sqp-refresh.js', 'run', 'sqp.wap_kill'], { cwd: root, env: { ...process.env, DATABASE_URL: database.url, LOG_LEVEL: 'silent' }, stdio: 'ignore' });
      if (killAfterMs !== null) setTimeout(() => child.kill('SIGKILL'), killAfterMs);
      child.once('exit', (code, signal) => resolve({ code, signal }));
    });
    const kills: number[] = [];
    for (let i = 0; i < 6; i++) {
      // From start-up through the load into the publish: random moments of a ~3 s run.
      const at = 800 + Math.floor(Math.random() * 3000);
      const ended = await run(at);
      kills.push(at);
      // The killed process's backend lets go of the table lock when PostgreSQL notices (a statement may still be running).
      await eventually(async () => !(await pool.query(`SELECT sqp_refresh_work.table_locked('sqp', 'wap_kill') AS held`)).rows[0].held, 30_000, 'the lock freed');
      const now = await sum('sqp.wap_kill');
      expect({ at, ended: ended.signal ?? ended.code, version: now.checksum === oldSum.checksum ? 'old' : now.checksum === newSum.checksum ? 'new' : 'MIX' })
        .toMatchObject({ version: expect.stringMatching(/^(old|new)$/) });
      if (now.checksum === newSum.checksum) break;
    }
    const finished = await run(null);
    expect(finished.code).toBe(0);
    expect(await sum('sqp.wap_kill')).toEqual(newSum);
    // Exact counts over the whole refresh: every row updated once, none inserted or deleted.
    const { rows } = await pool.query(`SELECT status, rows_updated, rows_inserted FROM sqp.refresh_audit_log WHERE table_name = 'wap_kill' AND status = 'success'`);
    expect(rows).toEqual([{ status: 'success', rows_updated: ROWS, rows_inserted: 0 }]);
  }, 120_000);
});

describe('params and source queries', () => {
  it('refuses unknown keys anywhere (a typo of maximumBytesBilled included), naming the path; nothing runs', async () => {
    await table('wap_params');
    for (const [params, path] of [
      [{ source: { type: 'postgres', query: 'SELECT id, v FROM src.wap_params' }, pageSize: 500, pagesize: 10 }, 'pagesize'],
      [{ source: { type: 'bigquery', query: 'SELECT 1', maximumBytesBiled: 1000 } }, 'source'],
      [{ source: { type: 'postgres', query: 'SELECT id, v FROM src.wap_params' }, quality: { rowCountRatio: { max: 2, severty: 'blocking' } } }, 'quality.rowCountRatio'],
    ] as const) {
      await pool.query(`UPDATE sqp.refresh_config SET custom_sync_params = $1 WHERE table_name = 'wap_params'`, [JSON.stringify(params)]);
      const before = await sum('sqp.wap_params');
      const result = await refreshTable(await loadConfig(pool, 'wap_params'), options());
      expect(result).toMatchObject({ status: 'failed', rowsProcessed: 0, errorDetails: { reason: 'params' } });
      expect(result.errorMessage).toContain(path);
      expect(await sum('sqp.wap_params')).toEqual(before);
    }
  });

  it('runs exactly one read-only statement: a query that tries to COMMIT and write is refused, nothing is written', async () => {
    await table('wap_inject');
    await pool.query(`UPDATE sqp.refresh_config SET custom_sync_params = $1 WHERE table_name = 'wap_inject'`, [JSON.stringify({
      source: { type: 'postgres', query: 'SELECT id, v FROM src.wap_inject) x; COMMIT; CREATE TABLE public.pwned (x int); SELECT * FROM (SELECT 1 AS id, 1 AS v' },
    })]);
    const result = await refreshTable(await loadConfig(pool, 'wap_inject'), options());
    expect(result.status).toBe('failed');
    expect(result.errorMessage).toMatch(/cannot insert multiple commands|syntax error/);
    expect((await pool.query(`SELECT to_regclass('public.pwned') AS t`)).rows[0].t).toBeNull();
  });
});
