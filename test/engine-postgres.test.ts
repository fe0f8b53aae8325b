// The refresh engine against a postgres source (the target database itself, schema src):
// exact loads and counts, no rewrites when nothing changed, deletes, incremental windows,
// resuming after a stop, failures that leave the target as the last committed page left it.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { refreshTable, type RefreshOptions } from '../src/runner/refresh-table.ts';
import { createPostgresSource } from '../src/runner/sources/postgres.ts';
import type { RefreshEvent } from '../src/subscriptions/events.ts';
import { createTestDatabase } from './support/db.ts';
import { loadConfig, tableChecksum } from './support/refresh.ts';

const database = await createTestDatabase();
const pool = new pg.Pool({ connectionString: database.url, max: 4 });
const COLS = ['asin', 'search_query', 'start_date', 'end_date', 'search_query_volume', 'impressions_total_count', 'purchases_asin_share', 'updated_at'];

function options(extra: Partial<RefreshOptions> = {}): RefreshOptions {
  return { pool, sources: { postgres: (url) => createPostgresSource(url ?? database.url) }, ...extra };
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
    expect(events.map((e) => e.type)).toEqual(['run:started', 'run:progress', 'run:progress', 'run:progress', ...Array(5).fill('quality:recorded'), 'run:finished']);
    const progress = events.filter((e) => e.type === 'run:progress');
    expect(progress.map((p) => p.rowsProcessed)).toEqual([1000, 2000, 2500]);
    expect(progress.at(-1)).toMatchObject({ totalRows: 2500, percent: 100 });

    const { rows: [audit] } = await pool.query(`SELECT * FROM sqp.refresh_audit_log WHERE id = $1`, [result.runId]);
    expect(audit).toMatchObject({ status: 'success', rows_processed: 2500, rows_inserted: 2500, rows_updated: 0, rows_deleted: 0, error_message: null });
    expect(audit.execution_time_ms).toBeGreaterThan(0);
    expect(audit.sync_metadata).toMatchObject({ outcome: 'completed', mode: 'full', pages: 3, resumedFromCheckpoint: false, targetRows: 2500 });
    const { rows: metrics } = await pool.query(`SELECT metric_name, metric_value::float8 AS v, is_within_threshold FROM sqp.refresh_data_quality WHERE audit_log_id = $1 ORDER BY id`, [result.runId]);
    expect(metrics.map((m) => m.metric_name)).toEqual(['row_count_ratio', 'key_null_rate:asin', 'key_null_rate:search_query', 'key_null_rate:start_date', 'duplicate_keys']);
    expect(metrics.every((m) => m.is_within_threshold)).toBe(true);
    const { rows: [cp] } = await pool.query(`SELECT status, last_processed_row FROM sqp.refresh_checkpoints WHERE table_name = 'asin_performance_data' ORDER BY id DESC LIMIT 1`);
    expect(cp).toEqual({ status: 'completed', last_processed_row: '2500' });
    const { rows: [cfg] } = await pool.query(`SELECT last_refresh_at, next_refresh_at FROM sqp.refresh_config WHERE table_name = 'asin_performance_data'`);
    expect(cfg.last_refresh_at).not.toBeNull();
  });

  it('a second run with no source change updates nothing and rewrites no tuple', async () => {
    const xminBefore = await pool.query(`SELECT md5(string_agg(xmin::text, ',' ORDER BY asin, search_query, start_date)) AS h FROM sqp.asin_performance_data`);
    const result = await refreshTable(await loadConfig(pool, 'asin_performance_data'), options());
    expect(result).toMatchObject({ status: 'success', rowsProcessed: 2500, rowsInserted: 0, rowsUpdated: 0, rowsDeleted: 0 });
    const xminAfter = await pool.query(`SELECT md5(string_agg(xmin::text, ',' ORDER BY asin, search_query, start_date)) AS h FROM sqp.asin_performance_data`);
    expect(xminAfter.rows[0].h).toBe(xminBefore.rows[0].h);
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
