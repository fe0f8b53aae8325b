// The sql transforms (summaries from asin_performance_data) and quality thresholds.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { refreshTable, type RefreshOptions } from '../src/runner/engine/refresh-table.ts';
import { createSources } from '../src/runner/sources/registry.ts';
import { createTestDatabase, openTestPool } from './support/db.ts';
import { loadConfig, tableChecksum } from './support/refresh.ts';

const database = await createTestDatabase();
const pool = openTestPool(database.url, 4);
const options = (): RefreshOptions => ({ pool, sources: createSources({ targetUrl: database.url }) });
const setParams = (table: string, params: unknown) =>
  pool.query(`UPDATE sqp.refresh_config SET custom_sync_params = $2 WHERE table_schema = 'sqp' AND table_name = $1`, [table, JSON.stringify(params)]);

/** The monthly summary computed independently of the transform, for comparison. */
const EXPECTED_MONTHLY = `(SELECT asin, date_trunc('month', start_date)::date AS period_start, count(DISTINCT search_query)::int AS query_count,
   sum(impressions_asin_count) AS impressions_asin_count, sum(purchases_total_count) AS purchases_total_count,
   round(100.0 * sum(clicks_asin_count) / nullif(sum(clicks_total_count), 0), 4) AS clicks_asin_share
   FROM sqp.asin_performance_data GROUP BY 1, 2) e`;
const MONTHLY_COLS = ['asin', 'period_start', 'query_count', 'impressions_asin_count', 'purchases_total_count', 'clicks_asin_share'];

beforeAll(async () => {
  // 3 ASINs × 4 queries × 13 weeks (Jan–Mar 2024), updated long ago.
  await pool.query(`
    INSERT INTO sqp.asin_performance_data (asin, search_query, start_date, end_date, search_query_volume,
      impressions_total_count, impressions_asin_count, clicks_total_count, clicks_asin_count,
      cart_adds_total_count, cart_adds_asin_count, purchases_total_count, purchases_asin_count,
      impressions_asin_share, clicks_asin_share, purchases_asin_share, updated_at)
    SELECT 'B00000000' || a, 'query ' || q, d, d + 6, 1000 + a * q, 10000 + a * 100 + q, 500 + a * 10 + q, 800 + q, 40 + a, 200, 10 + a, 100 + q, 5 + a,
      5.0, 4.5, 3.25, timestamptz '2024-04-01 00:00+00'
    FROM generate_series(1, 3) a, generate_series(1, 4) q, generate_series(date '2024-01-07', date '2024-03-31', interval '7 days') g(ts), LATERAL (SELECT ts::date AS d) x;
  `);
  for (const t of ['weekly_summary', 'monthly_summary', 'quarterly_summary', 'yearly_summary', 'search_performance_summary']) {
    await setParams(t, { source: { type: 'sql', transform: t }, mode: 'incremental', deleteMissing: true });
  }
});

afterAll(async () => {
  await pool.end();
  await database.drop();
});

describe('summary transforms', () => {
  it('build every summary from the parent', async () => {
    for (const t of ['weekly_summary', 'monthly_summary', 'quarterly_summary', 'yearly_summary', 'search_performance_summary']) {
      const r = await refreshTable(await loadConfig(pool, t), options());
      expect({ t, status: r.status, outcome: r.outcome, error: r.errorMessage }).toEqual({ t, status: 'success', outcome: 'completed', error: null });
    }
    const count = async (t: string) => (await pool.query(`SELECT count(*)::int AS n FROM sqp.${t}`)).rows[0].n;
    expect(await count('weekly_summary')).toBe(3 * 13);
    expect(await count('monthly_summary')).toBe(3 * 3);
    expect(await count('quarterly_summary')).toBe(3);
    expect(await count('yearly_summary')).toBe(3);
    expect(await count('search_performance_summary')).toBe(12);
    expect(await tableChecksum(pool, 'sqp.monthly_summary', MONTHLY_COLS)).toEqual(await tableChecksum(pool, EXPECTED_MONTHLY, MONTHLY_COLS));
    const { rows: [w] } = await pool.query(`SELECT period_start::text, period_end::text, query_count FROM sqp.weekly_summary ORDER BY period_start, asin LIMIT 1`);
    expect(w).toEqual({ period_start: '2024-01-07', period_end: '2024-01-13', query_count: 4 });
  });

  it('an incremental run recomputes exactly the periods whose parent rows changed', async () => {
    // Change February data of one ASIN: only February (monthly), Q1 and 2024 are touched.
    await pool.query(`UPDATE sqp.asin_performance_data SET impressions_asin_count = impressions_asin_count + 7, updated_at = timestamptz '2024-05-01 00:00+00'
                      WHERE asin = 'B000000001' AND start_date = date '2024-02-04'`);
    const r = await refreshTable(await loadConfig(pool, 'monthly_summary'), options());
    // The window is February for every ASIN (3 rows read), of which one changed.
    expect(r).toMatchObject({ status: 'success', rowsProcessed: 3, rowsInserted: 0, rowsUpdated: 1, rowsDeleted: 0 });
    const { rows } = await pool.query(`SELECT asin, period_start::text FROM sqp.monthly_summary WHERE updated_at > now() - interval '1 minute' ORDER BY 1`);
    expect(rows.map((x) => x.period_start)).toContain('2024-02-01');
    expect(await tableChecksum(pool, 'sqp.monthly_summary', MONTHLY_COLS)).toEqual(await tableChecksum(pool, EXPECTED_MONTHLY, MONTHLY_COLS));

    const weekly = await refreshTable(await loadConfig(pool, 'weekly_summary'), options());
    expect(weekly).toMatchObject({ rowsProcessed: 3, rowsUpdated: 1 });
    const pairs = await refreshTable(await loadConfig(pool, 'search_performance_summary'), options());
    // Pairs with a changed row: B000000001 × every query of that week (4 pairs).
    expect(pairs).toMatchObject({ rowsProcessed: 4, rowsUpdated: 4 });
  });

  it('deletes summary rows whose parent rows are gone, within the window only', async () => {
    await pool.query(`DELETE FROM sqp.asin_performance_data WHERE asin = 'B000000003' AND start_date BETWEEN '2024-03-01' AND '2024-03-31'`);
    await pool.query(`UPDATE sqp.asin_performance_data SET updated_at = timestamptz '2024-06-01 00:00+00' WHERE start_date = date '2024-03-03'`);
    const r = await refreshTable(await loadConfig(pool, 'monthly_summary'), options());
    expect(r).toMatchObject({ status: 'success', rowsDeleted: 1 });
    expect(await tableChecksum(pool, 'sqp.monthly_summary', MONTHLY_COLS)).toEqual(await tableChecksum(pool, EXPECTED_MONTHLY, MONTHLY_COLS));
  });

  it('deletes the summary rows of a period whose parent rows are all gone, though no changed row points at it', async () => {
    // Every parent row of one ASIN in January goes; nothing else changes in January.
    await pool.query(`DELETE FROM sqp.asin_performance_data WHERE asin = 'B000000002' AND start_date < '2024-02-01'`);
    await pool.query(`UPDATE sqp.asin_performance_data SET updated_at = timestamptz '2024-07-01 00:00+00' WHERE start_date = date '2024-03-10'`);
    const r = await refreshTable(await loadConfig(pool, 'monthly_summary'), options());
    expect(r).toMatchObject({ status: 'success', rowsDeleted: 1 });
    expect(await tableChecksum(pool, 'sqp.monthly_summary', MONTHLY_COLS)).toEqual(await tableChecksum(pool, EXPECTED_MONTHLY, MONTHLY_COLS));
    // The weekly summary was not refreshed since the test before: its vanished rows are that
    // ASIN's four January weeks and the five March weeks of B000000003 (9 of 39: over the
    // default delete_ratio of 0.2, which would rightly block it).
    await setParams('weekly_summary', { source: { type: 'sql', transform: 'weekly_summary' }, mode: 'incremental', deleteMissing: true, quality: { deleteRatio: { max: 0.5 } } });
    const weekly = await refreshTable(await loadConfig(pool, 'weekly_summary'), options());
    expect(weekly).toMatchObject({ status: 'success', rowsDeleted: 9 });
    const weeks = `(SELECT asin, start_date AS period_start FROM sqp.asin_performance_data GROUP BY 1, 2) w`;
    expect(await tableChecksum(pool, 'sqp.weekly_summary', ['asin', 'period_start'])).toEqual(await tableChecksum(pool, weeks, ['asin', 'period_start']));
  });
});

describe('quality thresholds', () => {
  it('flip a run to warning, or to failed where the metric is blocking, and a blocking failure keeps the schedule', async () => {
    const next = (await pool.query(`SELECT next_refresh_at FROM sqp.refresh_config WHERE table_name = 'yearly_summary'`)).rows[0].next_refresh_at;
    // row_count_change is measured against the previous success: demand growth that cannot be.
    await setParams('yearly_summary', { source: { type: 'sql', transform: 'yearly_summary' }, quality: { rowCountChange: { min: 0.5, severity: 'warning' } } });
    const warn = await refreshTable(await loadConfig(pool, 'yearly_summary'), options());
    expect(warn).toMatchObject({ status: 'warning', outcome: 'completed' });
    expect(warn.errorMessage).toContain('row_count_change');

    await setParams('yearly_summary', { source: { type: 'sql', transform: 'yearly_summary' }, quality: { rowCountChange: { min: 0.5, severity: 'blocking' } } });
    const before = (await pool.query(`SELECT last_refresh_at, next_refresh_at FROM sqp.refresh_config WHERE table_name = 'yearly_summary'`)).rows[0];
    const blocked = await refreshTable(await loadConfig(pool, 'yearly_summary'), options());
    expect(blocked).toMatchObject({ status: 'failed', outcome: 'failed' });
    expect(blocked.errorDetails).toMatchObject({ reason: 'quality', blocking: true, breaches: ['row_count_change'] });
    const after = (await pool.query(`SELECT last_refresh_at, next_refresh_at FROM sqp.refresh_config WHERE table_name = 'yearly_summary'`)).rows[0];
    expect(after).toEqual(before);
    expect(next).toBeDefined();
    const { rows } = await pool.query(`SELECT metric_name, is_within_threshold, threshold_min::float8 AS min FROM sqp.refresh_data_quality WHERE audit_log_id = $1 AND metric_name = 'row_count_change'`, [blocked.runId]);
    expect(rows).toEqual([{ metric_name: 'row_count_change', is_within_threshold: false, min: 0.5 }]);
  });
});
