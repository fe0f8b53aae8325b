// The refresh engine against a postgres source (the target database itself, schema src):
// exact loads and counts, no rewrites when nothing changed, deletes, incremental windows,
// resuming after a stop, failures that leave the target as the last committed page left it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { refreshTable, type RefreshOptions } from '../src/runner/engine/refresh-table.ts';
import { createSources } from '../src/runner/sources/registry.ts';
import type { RefreshEvent } from '../src/subscriptions/events.ts';
import { createTestDatabase, openTestPool } from './support/db.ts';
import { loadConfig, tableChecksum } from './support/refresh.ts';

const database = await createTestDatabase();
const pool = openTestPool(database.url, 4);
const COLS = ['asin', 'search_query', 'start_date', 'end_date', 'search_query_volume', 'impressions_total_count', 'purchases_asin_share', 'updated_at'];

function options(extra: Partial<RefreshOptions> = {}): RefreshOptions {
  return { pool, sources: createSources({ targetUrl: database.url }), ...extra };
}

async function setParams(table: string, params: unknown) {
  await pool.query(`UPDATE sqp.refresh_config SET custom_sync_params = $2 WHERE table_schema = 'sqp' AND table_name = $1`, [table, JSON.stringify(params)]);
}

const SOURCE_QUERY = `SELECT asin, search_query, start_date, end_date, search_query_volume, impressions_total_count, purchases_asin_share, updated_at FROM src.asin WHERE @since::timestamptz IS NULL OR updated_at >= @since::timestamptz`;

beforeAll(async () => {
  await pool.query(`
    CREATE SCHEMA src;
    CREATE TABLE src.asin AS
    SELECT 'B' || lpad((i % 50)::text, 9, '0') AS asin,
           'query ' || (i / 50) AS search_query,
           date '2024-01-07' + ((i % 7) * 7) AS start_date,
           date '2024-01-13' + ((i % 7) * 7) AS end_date,
           (i * 7919 % 100000)::bigint AS search_query_volume,
           (9007199254740000 + i)::bigint AS impressions_total_count,
           round((i % 10000) / 100.0, 4)::numeric(7,4) AS purchases_asin_share,
           timestamptz '2024-02-01 00:00:00+00' + (i || ' seconds')::interval AS updated_at
    FROM generate_series(0, 2499) i;
    ALTER TABLE src.asin ADD PRIMARY KEY (asin, search_query, start_date);
  `);
});

afterAll(async () => {
  await pool.end();
  await database.drop();
});

const sourceSum = () => tableChecksum(pool, 'src.asin', COLS);
const targetSum = () => tableChecksum(pool, 'sqp.asin_performance_data', COLS);

describe('full refresh from a postgres source', () => {
  it('loads the source exactly, in pages, with exact counts, events and an audit row', async () => {
    await setParams('asin_performance_data', { source: { type: 'postgres', query: SOURCE_QUERY }, pageSize: 1000, deleteMissing: true, quality: { freshnessDays: { max: 100000 } } });
    const events: RefreshEvent[] = [];
    const result = await refreshTable(await loadConfig(pool, 'asin_performance_data'), options({ emit: (e) => events.push(e) }));
    expect(result).toMatchObject({ status: 'success', outcome: 'completed', rowsProcessed: 2500, rowsInserted: 2500, rowsUpdated: 0, rowsDeleted: 0 });
    expect(await targetSum()).toEqual(await sourceSum());
    expect(events.map((e) => e.type)).toEqual(['run:started', ...Array(5).fill('run:progress'), ...Array(7).fill('quality:recorded'), 'run:finished']);
    const progress = events.filter((e) => e.type === 'run:progress');
    // Three pages written (staged), then the audit of the complete load, then its publish.
    expect(progress.map((p) => [p.phase, p.rowsProcessed])).toEqual([['writing', 1000], ['writing', 2000], ['writing', 2500], ['auditing', 2500], ['publishing', 2500]]);
    expect(progress.at(-1)).toMatchObject({ totalRows: 2500, percent: 100 });

    const { rows: [audit] } = await pool.query(`SELECT * FROM sqp.refresh_audit_log WHERE id = $1`, [result.runId]);
    expect(audit).toMatchObject({ status: 'success', rows_processed: 2500, rows_inserted: 2500, rows_updated: 0, rows_deleted: 0, error_message: null });
    expect(audit.execution_time_ms).toBeGreaterThan(0);
    expect(audit.sync_metadata).toMatchObject({ outcome: 'completed', phase: 'published', mode: 'full', pages: 3, resumedFromCheckpoint: false, targetRows: 2500 });
    const { rows: metrics } = await pool.query(`SELECT metric_name, metric_value::float8 AS v, is_within_threshold FROM sqp.refresh_data_quality WHERE audit_log_id = $1 ORDER BY id`, [result.runId]);
    expect(metrics.map((m) => m.metric_name)).toEqual(['row_count_ratio', 'source_rows_zero', 'delete_ratio', 'key_null_rate:asin', 'key_null_rate:search_query', 'key_null_rate:start_date', 'duplicate_keys']);
    expect(metrics.every((m) => m.is_within_threshold)).toBe(true);
    const { rows: [cp] } = await pool.query(`SELECT status, last_processed_row FROM sqp.refresh_checkpoints WHERE table_name = 'asin_performance_data' ORDER BY id DESC LIMIT 1`);
    expect(cp).toEqual({ status: 'completed', last_processed_row: '2500' });
    const { rows: [cfg] } = await pool.query(`SELECT last_refresh_at, next_refresh_at FROM sqp.refresh_config WHERE table_name = 'asin_performance_data'`);
    expect(cfg.last_refresh_at).not.toBeNull();
  });

  it('a second run with no source change updates nothing, and rewrites or locks no tuple', async () => {
    const xminBefore = await pool.query(`SELECT md5(string_agg(xmin::text, ',' ORDER BY asin, search_query, start_date)) AS h FROM sqp.asin_performance_data`);
    const result = await refreshTable(await loadConfig(pool, 'asin_performance_data'), options());
    expect(result).toMatchObject({ status: 'success', rowsProcessed: 2500, rowsInserted: 0, rowsUpdated: 0, rowsDeleted: 0 });
    const xminAfter = await pool.query(`SELECT md5(string_agg(xmin::text, ',' ORDER BY asin, search_query, start_date)) AS h FROM sqp.asin_performance_data`);
    expect(xminAfter.rows[0].h).toBe(xminBefore.rows[0].h);
    // An upsert that finds nothing to change still locks each row it compares (xmax set, page
    // dirtied, WAL written): the audit found no change, so the publish touched none.
    expect((await pool.query(`SELECT count(*)::int AS n FROM sqp.asin_performance_data WHERE xmax <> 0`)).rows[0].n).toBe(0);
    const { rows: [audit] } = await pool.query(`SELECT sync_metadata->'diff' AS diff FROM sqp.refresh_audit_log WHERE id = $1`, [result.runId]);
    expect(audit.diff).toEqual({ inserted: 0, updated: 0, deleted: 0 });
  });

  it('counts changed, new and deleted rows exactly', async () => {
    await pool.query(`
      UPDATE src.asin SET search_query_volume = search_query_volume + 1 WHERE search_query IN ('query 1', 'query 2'); -- 100 rows
      DELETE FROM src.asin WHERE search_query = 'query 3'; -- 50 rows
      INSERT INTO src.asin SELECT asin, 'new query', start_date, end_date, 1, 2, 3, updated_at FROM src.asin WHERE search_query = 'query 4'; -- 50 rows
    `);
    const result = await refreshTable(await loadConfig(pool, 'asin_performance_data'), options());
    expect(result).toMatchObject({ status: 'success', rowsProcessed: 2500, rowsInserted: 50, rowsUpdated: 100, rowsDeleted: 50 });
    expect(await targetSum()).toEqual(await sourceSum());
  });
});

describe('incremental refresh', () => {
  it('reads only rows at or after the last watermark minus the lookback, and ends equal to the source', async () => {
    await setParams('asin_performance_data', {
      source: { type: 'postgres', query: SOURCE_QUERY }, mode: 'incremental', cursorColumn: 'updated_at', lookbackHours: 1, pageSize: 1000,
      quality: { freshnessDays: { max: 100000 } },
    });
    // The first incremental run has no watermark of its own yet: the last full run had none
    // either (no cursor column), so it reads everything and sets one.
    const first = await refreshTable(await loadConfig(pool, 'asin_performance_data'), options());
    expect(first).toMatchObject({ status: 'success', rowsProcessed: 2500, rowsInserted: 0, rowsUpdated: 0 });
    await pool.query(`
      UPDATE src.asin SET search_query_volume = 0, updated_at = timestamptz '2024-03-01 00:00:00+00' WHERE search_query = 'query 7';
      INSERT INTO src.asin SELECT asin, 'late query', start_date, end_date, 5, 6, 7, timestamptz '2024-03-01 00:30:00+00' FROM src.asin WHERE search_query = 'query 8';
    `);
    const second = await refreshTable(await loadConfig(pool, 'asin_performance_data'), options());
    // Rows updated at/after watermark − 1 h: the 100 changed/new rows plus the source's last hour.
    const { rows: [{ n }] } = await pool.query(`SELECT count(*)::int AS n FROM src.asin WHERE updated_at >= (SELECT max(updated_at) FROM src.asin WHERE updated_at < '2024-03-01') - interval '1 hour'`);
    expect(second).toMatchObject({ status: 'success', rowsProcessed: n, rowsInserted: 50, rowsUpdated: 50 });
    expect(await targetSum()).toEqual(await sourceSum());
    const { rows: [audit] } = await pool.query(`SELECT sync_metadata FROM sqp.refresh_audit_log WHERE id = $1`, [second.runId]);
    expect(audit.sync_metadata.watermarkAfter).toMatch(/^2024-03-01 00:30:00/);
  });
});

describe('stopping and resuming', () => {
  it('a time budget stops at a page boundary; the next run resumes from the checkpoint and finishes the job', async () => {
    await pool.query(`UPDATE src.asin SET search_query_volume = search_query_volume + 10`); // every row changes
    await setParams('asin_performance_data', { source: { type: 'postgres', query: SOURCE_QUERY }, pageSize: 500, maxRunSeconds: 1, quality: { freshnessDays: { max: 100000 } } });
    let now = Date.now();
    const clock = () => new Date(now);
    // Each committed page makes the injected clock... the budget is measured on the process
    // clock, so slow the run down with a listener that waits past the budget after page 2.
    const slow = { pages: 0 };
    const paused = await refreshTable(await loadConfig(pool, 'asin_performance_data'), options({
      now: clock,
      emit: (e) => {
        if (e.type === 'run:progress' && ++slow.pages === 2) {
          const until = performance.now() + 1100;
          while (performance.now() < until) { /* busy: the budget is wall-clock */ }
        }
      },
    }));
    // Paused while writing: 1,000 rows staged, nothing published — the target is as it was.
    expect(paused).toMatchObject({ status: 'warning', outcome: 'paused', rowsProcessed: 1000, rowsUpdated: 0 });
    expect((await pool.query(`SELECT count(*)::int AS n FROM sqp.asin_performance_data t JOIN src.asin s USING (asin, search_query, start_date) WHERE t.search_query_volume = s.search_query_volume`)).rows[0].n).toBe(0);
    const { rows: [cp] } = await pool.query(`SELECT status, last_processed_row, checkpoint_data FROM sqp.refresh_checkpoints WHERE table_name = 'asin_performance_data' AND status = 'active'`);
    expect(cp).toMatchObject({ status: 'active', last_processed_row: '1000' });
    expect(cp.checkpoint_data.source.lastKey).toHaveLength(3);

    await setParams('asin_performance_data', { source: { type: 'postgres', query: SOURCE_QUERY }, pageSize: 500, quality: { freshnessDays: { max: 100000 } } });
    now += 60_000;
    const resumed = await refreshTable(await loadConfig(pool, 'asin_performance_data'), options({ now: clock }));
    expect(resumed).toMatchObject({ status: 'success', outcome: 'completed', resumed: true, rowsProcessed: 2550, rowsUpdated: 2550 });
    expect(await targetSum()).toEqual(await sourceSum());
    const { rows: runs } = await pool.query(`SELECT status, sync_metadata->>'outcome' AS outcome, (sync_metadata->>'resumedFromCheckpoint')::bool AS resumed FROM sqp.refresh_audit_log WHERE id IN ($1, $2) ORDER BY id`, [paused.runId, resumed.runId]);
    expect(runs).toEqual([{ status: 'warning', outcome: 'paused', resumed: false }, { status: 'success', outcome: 'completed', resumed: true }]);
  });

  it('a run whose process died is marked interrupted; a checkpoint its staging table does not match is loaded again, not trusted', async () => {
    await pool.query(`UPDATE src.asin SET search_query_volume = search_query_volume + 1`);
    const config = await loadConfig(pool, 'asin_performance_data');
    // Simulate a dead process: a `running` row and an active checkpoint after page 2 of 6.
    const first = await refreshTable(config, options({ emit: (e) => { if (e.type === 'run:progress' && e.page === 2) throw new Error('listener errors never hurt a run'); } }));
    expect(first.status).toBe('success');
    await pool.query(`UPDATE src.asin SET search_query_volume = search_query_volume + 1`);
    const { rows: [dead] } = await pool.query(`INSERT INTO sqp.refresh_audit_log (refresh_config_id, table_schema, table_name, refresh_started_at, status) VALUES ($1, 'sqp', 'asin_performance_data', now(), 'running') RETURNING id`, [config.id]);
    const lastKey = (await pool.query(`SELECT asin, search_query, start_date::text FROM src.asin ORDER BY 1, 2, 3 OFFSET 999 LIMIT 1`)).rows[0];
    // Written under the same params (the digest of what it reads, as the first run's checkpoint has it).
    const { rows: [{ readKey }] } = await pool.query(`SELECT checkpoint_data->>'readKey' AS "readKey" FROM sqp.refresh_checkpoints WHERE table_name = 'asin_performance_data' ORDER BY id DESC LIMIT 1`);
    expect(readKey).toMatch(/^[0-9a-f]{32}$/);
    await pool.query(`
      INSERT INTO sqp.refresh_checkpoints (function_name, table_schema, table_name, checkpoint_data, last_processed_row, status)
      VALUES ('dead-worker', 'sqp', 'asin_performance_data', $1, 1000, 'active')`,
      [{ version: 1, firstRunId: dead.id, mode: 'full', readKey, since: null, watermarkBefore: null, watermarkAfter: null, pagesDone: 2, rowsDone: 1000, inserted: 0, updated: 1000, duplicates: 0, nullKeys: {}, source: { lastKey: [lastKey.asin, lastKey.search_query, lastKey.start_date], rowsBefore: 1000 } }]);
    // Only rows after the last key were "not yet loaded": make the first 1000 look loaded.
    await pool.query(`UPDATE sqp.asin_performance_data t SET search_query_volume = s.search_query_volume FROM (SELECT * FROM src.asin ORDER BY asin, search_query, start_date LIMIT 1000) s WHERE (t.asin, t.search_query, t.start_date) = (s.asin, s.search_query, s.start_date)`);
    // The dead worker's checkpoint says 1,000 rows are staged; there is no staging table: load it all again.
    const resumed = await refreshTable(config, options({ workerName: 'rescuer' }));
    expect(resumed).toMatchObject({ status: 'success', resumed: false, rowsProcessed: 2550, rowsUpdated: 1550 });
    const { rows: [meta] } = await pool.query(`SELECT sync_metadata FROM sqp.refresh_audit_log WHERE id = $1`, [resumed.runId]);
    expect(meta.sync_metadata.restartedLoad).toEqual({ reason: 'stagedRows', staged: null, checkpointRows: 1000 });
    expect(await targetSum()).toEqual(await sourceSum());
    const { rows: [old] } = await pool.query(`SELECT status, error_details FROM sqp.refresh_audit_log WHERE id = $1`, [dead.id]);
    expect(old).toMatchObject({ status: 'failed', error_details: { reason: 'interrupted', resumedByRunId: resumed.runId } });
  });
});

describe('expired checkpoints', () => {
  it('an expired checkpoint is marked expired and the refresh starts over from the watermark', async () => {
    await setParams('asin_performance_data', { source: { type: 'postgres', query: SOURCE_QUERY }, pageSize: 1000, quality: { freshnessDays: { max: 100000 } } });
    const { rows: [old] } = await pool.query(`
      INSERT INTO sqp.refresh_checkpoints (function_name, table_schema, table_name, checkpoint_data, last_processed_row, status, expires_at)
      VALUES ('gone', 'sqp', 'asin_performance_data', '{"version":1,"mode":"full","source":{"lastKey":["B999999999","zzz","2099-01-01"]}}', 2000, 'active', now() - interval '1 minute')
      RETURNING id`);
    const result = await refreshTable(await loadConfig(pool, 'asin_performance_data'), options());
    expect(result).toMatchObject({ status: 'success', resumed: false, rowsProcessed: 2550 });
    const { rows: [cp] } = await pool.query(`SELECT status FROM sqp.refresh_checkpoints WHERE id = $1`, [old.id]);
    expect(cp.status).toBe('expired');
    expect(await targetSum()).toEqual(await sourceSum());
  });
});

describe('failures leave the target as the last committed page left it', () => {
  it('bad custom_sync_params fail the run with the path named, and nothing runs', async () => {
    await setParams('search_query_performance', { source: { type: 'postgres' }, pageSize: 5 });
    const before = await tableChecksum(pool, 'sqp.search_query_performance', ['search_query', 'start_date']);
    const result = await refreshTable(await loadConfig(pool, 'search_query_performance'), options());
    expect(result.status).toBe('failed');
    expect(result.errorMessage).toContain('source.query: required');
    expect(result.errorMessage).toContain('pageSize');
    expect(await tableChecksum(pool, 'sqp.search_query_performance', ['search_query', 'start_date'])).toEqual(before);
    const { rows: [audit] } = await pool.query(`SELECT status, error_details FROM sqp.refresh_audit_log WHERE id = $1`, [result.runId]);
    expect(audit.error_details.reason).toBe('params');
  });

  it('a SQL error mid-run publishes nothing, keeps the staged pages for a resume and records the reason', async () => {
    await pool.query(`UPDATE src.asin SET search_query_volume = search_query_volume + 1`);
    // The 1500th row in key order carries a value the target cannot take: page 3 fails.
    const { rows: [bad] } = await pool.query(`SELECT asin, search_query, start_date FROM src.asin ORDER BY 1, 2, 3 OFFSET 1499 LIMIT 1`);
    await pool.query(`CREATE TABLE src.poison AS SELECT $1::text AS asin, $2::text AS search_query, $3::date AS start_date`, [bad.asin, bad.search_query, bad.start_date]);
    await setParams('asin_performance_data', {
      source: { type: 'postgres', query: `SELECT s.asin, s.search_query, s.start_date, end_date, CASE WHEN p.asin IS NULL THEN search_query_volume::text ELSE 'lots' END AS search_query_volume, impressions_total_count, purchases_asin_share, updated_at FROM src.asin s LEFT JOIN src.poison p USING (asin, search_query, start_date)` },
      pageSize: 500,
    });
    const result = await refreshTable(await loadConfig(pool, 'asin_performance_data'), options());
    expect(result).toMatchObject({ status: 'failed', outcome: 'failed', rowsProcessed: 1000 });
    expect(result.errorMessage).toMatch(/invalid input syntax for type bigint: "lots"/);
    expect(result.errorDetails).toMatchObject({ reason: 'database', sqlstate: '22P02', retryable: false });
    // Pages 1–2 are staged, none published: the target still holds the previous values.
    const { rows: [counts] } = await pool.query(`
      SELECT count(*) FILTER (WHERE t.search_query_volume = s.search_query_volume)::int AS fresh,
             count(*) FILTER (WHERE t.search_query_volume = s.search_query_volume - 1)::int AS stale
      FROM sqp.asin_performance_data t JOIN src.asin s USING (asin, search_query, start_date)`);
    expect(counts).toEqual({ fresh: 0, stale: 2550 });
    const { rows: [cp] } = await pool.query(`SELECT status, last_processed_row FROM sqp.refresh_checkpoints WHERE table_name = 'asin_performance_data' AND status = 'active'`);
    expect(cp).toEqual({ status: 'active', last_processed_row: '1000' });
  });
});

describe('changed params and checkpoints', () => {
  it('a checkpoint written under other params is not resumed (its key set would delete wrongly)', async () => {
    await setParams('asin_performance_data', { source: { type: 'postgres', query: SOURCE_QUERY }, pageSize: 1000, quality: { freshnessDays: { max: 100000 } } });
    await pool.query(`
      INSERT INTO sqp.refresh_checkpoints (function_name, table_schema, table_name, checkpoint_data, last_processed_row, status)
      VALUES ('old', 'sqp', 'asin_performance_data', '{"version":1,"mode":"full","deleteMissing":false,"pagesDone":1,"rowsDone":1000,"inserted":0,"updated":0,"duplicates":0,"nullKeys":{},"source":{"lastKey":["B000000049","zzz","2099-01-01"]}}', 1000, 'active')`);
    await setParams('asin_performance_data', { source: { type: 'postgres', query: SOURCE_QUERY }, pageSize: 1000, deleteMissing: true, quality: { freshnessDays: { max: 100000 } } });
    const result = await refreshTable(await loadConfig(pool, 'asin_performance_data'), options());
    expect(result).toMatchObject({ status: 'success', resumed: false, rowsDeleted: 0 });
    expect(await targetSum()).toEqual(await sourceSum());
  });
});

describe('a load paused, then its params changed', () => {
  it('starts over instead of staging rows of two different reads, and publishes exactly the new read', async () => {
    const firstWeek = (await pool.query(`SELECT min(start_date)::text AS d FROM src.asin`)).rows[0].d;
    await pool.query(`UPDATE src.asin SET search_query_volume = search_query_volume + 3`);
    await setParams('asin_performance_data', { source: { type: 'postgres', query: SOURCE_QUERY }, pageSize: 500, deleteMissing: true, quality: { freshnessDays: { max: 100000 }, deleteRatio: { max: 1 } } });
    const shutdown = new AbortController();
    const paused = await refreshTable(await loadConfig(pool, 'asin_performance_data'), options({
      shutdownSignal: shutdown.signal,
      emit: (e) => { if (e.type === 'run:progress' && e.page === 2) shutdown.abort(); },
    }));
    expect(paused).toMatchObject({ outcome: 'paused', rowsProcessed: 1000 });
    // Same columns, same keys, another read: one week fewer.
    const narrower = `SELECT * FROM (${SOURCE_QUERY}) q WHERE start_date <> '${firstWeek}'`;
    await setParams('asin_performance_data', { source: { type: 'postgres', query: narrower }, pageSize: 500, deleteMissing: true, quality: { freshnessDays: { max: 100000 }, deleteRatio: { max: 1 } } });
    const result = await refreshTable(await loadConfig(pool, 'asin_performance_data'), options());
    expect(result).toMatchObject({ status: 'success', outcome: 'completed', resumed: false });
    const { rows: [audit] } = await pool.query(`SELECT sync_metadata->'restartedLoad' AS r FROM sqp.refresh_audit_log WHERE id = $1`, [result.runId]);
    expect(audit.r).toEqual({ reason: 'paramsChanged' });
    const expected = await tableChecksum(pool, `(SELECT * FROM src.asin WHERE start_date <> '${firstWeek}') x`, COLS);
    expect(await targetSum()).toEqual(expected);
    expect(result.rowsProcessed).toBe(expected.rows);
    await setParams('asin_performance_data', { source: { type: 'postgres', query: SOURCE_QUERY }, pageSize: 1000, quality: { freshnessDays: { max: 100000 } } });
    expect((await refreshTable(await loadConfig(pool, 'asin_performance_data'), options())).status).toBe('success');
    expect(await targetSum()).toEqual(await sourceSum());
  });
});

describe('cancel', () => {
  it('stops at the next page boundary, publishes nothing, and ends failed with reason cancelled', async () => {
    await pool.query(`UPDATE src.asin SET search_query_volume = search_query_volume + 5`);
    await setParams('asin_performance_data', { source: { type: 'postgres', query: SOURCE_QUERY }, pageSize: 500, quality: { freshnessDays: { max: 100000 } } });
    const controller = new AbortController();
    const result = await refreshTable(await loadConfig(pool, 'asin_performance_data'), options({
      signal: controller.signal,
      emit: (e) => { if (e.type === 'run:progress' && e.page === 2) controller.abort(); },
    }));
    expect(result).toMatchObject({ status: 'failed', outcome: 'cancelled', rowsProcessed: 1000, errorMessage: 'cancelled' });
    expect(result.errorDetails).toMatchObject({ reason: 'cancelled', afterPage: 2 });
    const { rows: [counts] } = await pool.query(`
      SELECT count(*) FILTER (WHERE t.search_query_volume = s.search_query_volume)::int AS fresh
      FROM sqp.asin_performance_data t JOIN src.asin s USING (asin, search_query, start_date)`);
    expect(counts.fresh).toBe(0); // two pages were staged; a cancelled refresh publishes nothing
    const { rows: [cp] } = await pool.query(`SELECT status FROM sqp.refresh_checkpoints WHERE table_name = 'asin_performance_data' ORDER BY updated_at DESC, id DESC LIMIT 1`);
    expect(cp.status).toBe('expired'); // a cancelled refresh is not resumed
  });
});
