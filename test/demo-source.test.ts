// The demo source: generated SQP data in sqp_demo, its sync params, and how it advances.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureDemoSource } from '../src/runner/demo/demo-source.ts';
import { advanceDemoSource } from '../src/runner/demo/demo-advance.ts';
import { applyDemoSyncParams, demoSyncParams } from '../src/runner/demo/demo-params.ts';
import { bindNamedParams } from '../src/runner/sources/named-params.ts';
import { parseSyncParams } from '../src/runner/params/sync-params.ts';
import { createTestDatabase, type TestDatabase, openTestPool } from './support/db.ts';

// A Wednesday: the last full report week is Sunday 2025-03-02 .. Saturday 2025-03-08.
const NOW = new Date('2025-03-12T10:00:00Z');
const NEXT_WEEK = new Date('2025-03-19T10:00:00Z');
const SEED_TABLES = [
  'asin_performance_data', 'daily_sqp_data', 'monthly_summary', 'quarterly_summary',
  'search_performance_summary', 'search_query_performance', 'weekly_summary', 'yearly_summary',
];

let database: TestDatabase;
let pool: pg.Pool;

beforeAll(async () => {
  database = await createTestDatabase();
  pool = openTestPool(database.url, 3);
});

afterAll(async () => {
  await pool?.end();
  await database?.drop();
});

async function one<T extends pg.QueryResultRow>(sql: string, values: unknown[] = []): Promise<T> {
  return (await pool.query<T>(sql, values)).rows[0]!;
}

/** md5 over the ordered rows of a demo table (per-row md5s first, so the text stays small). */
async function digest(table: string, order: string, where = 'true'): Promise<string> {
  const r = await one<{ h: string }>(`SELECT md5(string_agg(md5(t::text), '' ORDER BY ${order})) AS h FROM sqp_demo.${table} t WHERE ${where}`);
  return r.h;
}

/**
 * Rows of the ASIN view that break the funnel: market and ASIN stages ordered, ASIN ≤ market,
 * shares and rates derived from the counts, prices 5–200, Sunday weeks, updated_at as published
 * (end_date + 2 days, never after generation) or a correction's time.
 */
async function asinViolations(): Promise<number> {
  const r = await one<{ n: string }>(`
    SELECT count(*) AS n
    FROM sqp_demo.asin_performance_data t, sqp_demo.generated g
    WHERE (
          t.impressions_total_count >= t.clicks_total_count AND t.clicks_total_count >= t.cart_adds_total_count
      AND t.cart_adds_total_count >= t.purchases_total_count AND t.purchases_total_count > 0
      AND t.impressions_asin_count BETWEEN 1 AND t.impressions_total_count
      AND t.clicks_asin_count BETWEEN 0 AND least(t.clicks_total_count, t.impressions_asin_count)
      AND t.cart_adds_asin_count BETWEEN 0 AND least(t.cart_adds_total_count, t.clicks_asin_count)
      AND t.purchases_asin_count BETWEEN 0 AND least(t.purchases_total_count, t.cart_adds_asin_count)
      AND t.impressions_asin_share = round(t.impressions_asin_count * 100.0 / t.impressions_total_count, 4)
      AND t.clicks_asin_share = round(t.clicks_asin_count * 100.0 / t.clicks_total_count, 4)
      AND t.cart_adds_asin_share = round(t.cart_adds_asin_count * 100.0 / t.cart_adds_total_count, 4)
      AND t.purchases_asin_share = round(t.purchases_asin_count * 100.0 / t.purchases_total_count, 4)
      AND t.clicks_click_rate = round(t.clicks_total_count * 100.0 / t.impressions_total_count, 4)
      AND t.cart_adds_add_rate = round(t.cart_adds_total_count * 100.0 / t.clicks_total_count, 4)
      AND t.purchases_purchase_rate = round(t.purchases_total_count * 100.0 / t.cart_adds_total_count, 4)
      AND t.clicks_price_median BETWEEN 5 AND 200 AND t.cart_adds_price_median BETWEEN 5 AND 200
      AND t.purchases_price_median BETWEEN 5 AND 200
      AND (t.clicks_asin_price_median BETWEEN 5 AND 200 OR (t.clicks_asin_price_median IS NULL AND t.clicks_asin_count = 0))
      AND (t.cart_adds_asin_price_median BETWEEN 5 AND 200 OR (t.cart_adds_asin_price_median IS NULL AND t.cart_adds_asin_count = 0))
      AND (t.purchases_asin_price_median BETWEEN 5 AND 200 OR (t.purchases_asin_price_median IS NULL AND t.purchases_asin_count = 0))
      AND t.search_query_volume > 0 AND t.search_query_score BETWEEN 1 AND g.queries
      AND t.asin ~ '^B0[0-9A-Z]{8}$'
      AND extract(dow FROM t.start_date) = 0 AND t.end_date = t.start_date + 6
      AND (t.updated_at = least((t.end_date + 2)::timestamp AT TIME ZONE 'UTC', g.generated_for)
           OR t.updated_at = g.advanced_at OR t.updated_at = (t.end_date + 2)::timestamp AT TIME ZONE 'UTC')
    ) IS NOT TRUE`);
  return Number(r.n);
}

/** Brand rows that are not the sum of their ASIN rows (or whose shares do not follow). */
async function brandViolations(): Promise<number> {
  const r = await one<{ n: string }>(`
    WITH sums AS (
      SELECT search_query, start_date, sum(impressions_asin_count) AS i, sum(clicks_asin_count) AS c,
             sum(cart_adds_asin_count) AS a, sum(purchases_asin_count) AS p, max(updated_at) AS u,
             min(impressions_total_count) AS it, max(impressions_total_count) AS it2, min(search_query_score) AS s
      FROM sqp_demo.asin_performance_data GROUP BY 1, 2)
    SELECT count(*) AS n
    FROM sqp_demo.search_query_performance b FULL JOIN sums USING (search_query, start_date)
    WHERE (
          b.impressions_brand_count = sums.i AND b.clicks_brand_count = sums.c
      AND b.cart_adds_brand_count = sums.a AND b.purchases_brand_count = sums.p
      AND b.impressions_total_count = sums.it AND sums.it = sums.it2 AND b.search_query_score = sums.s
      AND b.updated_at = sums.u
      AND b.impressions_brand_count <= b.impressions_total_count AND b.purchases_brand_count <= b.purchases_total_count
      AND b.impressions_brand_share = round(b.impressions_brand_count * 100.0 / b.impressions_total_count, 4)
      AND b.purchases_brand_share = round(b.purchases_brand_count * 100.0 / b.purchases_total_count, 4)
    ) IS NOT TRUE`);
  return Number(r.n);
}

describe('demo source', () => {
  it('generates a year of SQP data inside PostgreSQL', async () => {
    const started = performance.now();
    const result = await ensureDemoSource(pool, { now: NOW });
    const ms = Math.round(performance.now() - started);
    console.log(`demo source generated in ${ms} ms (${result.ms} ms in the transaction):`, result.rows);

    expect(result.created).toBe(true);
    expect(result.rows.asin_performance_data).toBeGreaterThanOrEqual(250_000);
    expect(result.rows.asin_performance_data).toBeLessThanOrEqual(350_000);
    expect(result.rows.search_query_performance).toBe(100 * 52);
    expect(result.rows.daily_sqp_data).toBeGreaterThanOrEqual(20_000);
    expect(result.rows.daily_sqp_data).toBeLessThanOrEqual(50_000);

    const shape = await one<Record<string, string | number>>(`
      SELECT (SELECT count(*)::int FROM sqp_demo.asin_performance_data) AS asin_rows,
             (SELECT count(*)::int FROM sqp_demo.search_query_performance) AS brand_rows,
             (SELECT count(*)::int FROM sqp_demo.daily_sqp_data) AS daily_rows,
             (SELECT count(DISTINCT asin)::int FROM sqp_demo.asin_performance_data) AS asins,
             (SELECT count(DISTINCT search_query)::int FROM sqp_demo.asin_performance_data) AS queries,
             (SELECT count(DISTINCT start_date)::int FROM sqp_demo.asin_performance_data) AS weeks,
             (SELECT min(start_date)::text FROM sqp_demo.asin_performance_data) AS first_week,
             (SELECT max(start_date)::text FROM sqp_demo.asin_performance_data) AS last_week,
             (SELECT min(report_date)::text FROM sqp_demo.daily_sqp_data) AS first_day,
             (SELECT max(report_date)::text FROM sqp_demo.daily_sqp_data) AS last_day`);
    expect(shape).toEqual({
      asin_rows: result.rows.asin_performance_data,
      brand_rows: result.rows.search_query_performance,
      daily_rows: result.rows.daily_sqp_data,
      asins: 60,
      queries: 100,
      weeks: 52,
      first_week: '2024-03-10',
      last_week: '2025-03-02',
      first_day: '2025-02-12',
      last_day: '2025-03-11',
    });
    // Sparse: not every ASIN shows up for every query.
    expect(result.rows.asin_performance_data).toBeLessThan(60 * 100 * 52);
    const phrases = await pool.query<{ search_query: string }>(`SELECT search_query FROM sqp_demo.search_query_performance WHERE search_query IN ('wireless earbuds', 'yoga mat thick') GROUP BY 1`);
    expect(phrases.rows.length).toBe(2);
  });

  it('keeps the funnel invariants in every row', async () => {
    expect(await asinViolations()).toBe(0);
    expect(await brandViolations()).toBe(0);
    const daily = await one<{ n: string }>(`
      SELECT count(*) AS n FROM sqp_demo.daily_sqp_data t
      WHERE (t.impressions_total_count >= t.clicks_total_count AND t.clicks_total_count >= t.cart_adds_total_count
         AND t.cart_adds_total_count >= t.purchases_total_count
         AND t.impressions_asin_count BETWEEN 1 AND t.impressions_total_count
         AND t.clicks_asin_count BETWEEN 0 AND least(t.clicks_total_count, t.impressions_asin_count)
         AND t.cart_adds_asin_count BETWEEN 0 AND least(t.cart_adds_total_count, t.clicks_asin_count)
         AND t.purchases_asin_count BETWEEN 0 AND least(t.purchases_total_count, t.cart_adds_asin_count)
         AND t.search_query_volume > 0) IS NOT TRUE`);
    expect(Number(daily.n)).toBe(0);
    // search_query_score ranks the queries of each week 1..N, highest volume first.
    const ranks = await one<{ n: string }>(`
      SELECT count(*) AS n FROM (
        SELECT start_date FROM (
          SELECT start_date, search_query_score,
                 lag(search_query_volume) OVER (PARTITION BY start_date ORDER BY search_query_score) < search_query_volume AS out_of_order
          FROM sqp_demo.search_query_performance) s
        GROUP BY start_date
        HAVING count(DISTINCT search_query_score) <> count(*) OR min(search_query_score) <> 1
            OR max(search_query_score) <> count(*) OR bool_or(out_of_order)) bad`);
    expect(Number(ranks.n)).toBe(0);
  });

  it('makes a second ensureDemoSource a cheap no-op', async () => {
    const before = await one<{ generated_at: Date }>('SELECT generated_at FROM sqp_demo.generated');
    const started = performance.now();
    const again = await ensureDemoSource(pool, { now: NOW });
    const ms = performance.now() - started;
    console.log(`second ensureDemoSource: ${ms.toFixed(1)} ms`);
    expect(again.created).toBe(false);
    expect(again.rows.asin_performance_data).toBeGreaterThan(0);
    const after = await one<{ generated_at: Date }>('SELECT generated_at FROM sqp_demo.generated');
    expect(after.generated_at).toEqual(before.generated_at);
  });

  it('generates identical data from the same seed', async () => {
    const tables = {
      asin_performance_data: 'asin, search_query, start_date',
      search_query_performance: 'search_query, start_date',
      daily_sqp_data: 'asin, search_query, report_date',
    };
    const first = await Promise.all(Object.entries(tables).map(([t, o]) => digest(t, o)));

    const other = await ensureDemoSource(pool, { now: NOW, seed: 43 });
    expect(other.created).toBe(true);
    const different = await Promise.all(Object.entries(tables).map(([t, o]) => digest(t, o)));
    for (const [i, h] of different.entries()) expect(h).not.toBe(first[i]);

    const started = performance.now();
    const again = await ensureDemoSource(pool, { now: NOW });
    console.log(`regenerated with the default seed in ${Math.round(performance.now() - started)} ms`);
    expect(again.created).toBe(true);
    const same = await Promise.all(Object.entries(tables).map(([t, o]) => digest(t, o)));
    expect(same).toEqual(first);
  });

  it('advances: appends the new week and revises rows of the last two weeks', async () => {
    const lastTwo = `start_date >= date '2025-02-23'`;
    const before = await digest('asin_performance_data', 'asin, search_query, start_date', lastTwo);
    const beforeBrand = await digest('search_query_performance', 'search_query, start_date', lastTwo);
    const count = await one<{ n: number }>(`SELECT count(*)::int AS n FROM sqp_demo.asin_performance_data WHERE ${lastTwo}`);

    const result = await advanceDemoSource(pool, { now: NEXT_WEEK });
    console.log('advanceDemoSource:', JSON.stringify(result));
    expect(result.weeksAdded).toEqual(['2025-03-09']);
    expect(result.daysAdded).toEqual(['2025-03-12', '2025-03-13', '2025-03-14', '2025-03-15', '2025-03-16', '2025-03-17', '2025-03-18']);
    expect(result.inserted.asin_performance_data).toBeGreaterThan(4_000);
    expect(result.inserted.asin_performance_data).toBeLessThan(7_000);
    expect(result.inserted.search_query_performance).toBe(100);
    expect(result.inserted.daily_sqp_data).toBeGreaterThan(0);
    expect(result.revised.asin_performance_data).toBe(300);
    expect(result.revised.search_query_performance).toBeGreaterThan(0);

    const after = await one<Record<string, unknown>>(`
      SELECT max(start_date)::text AS last_week, count(*)::int AS rows,
             count(*) FILTER (WHERE updated_at = $1::timestamptz)::int AS corrected,
             count(*) FILTER (WHERE updated_at = $1::timestamptz AND start_date < date '2025-02-23')::int AS corrected_too_old,
             count(*) FILTER (WHERE ${lastTwo} AND start_date < date '2025-03-09')::int AS last_two
      FROM sqp_demo.asin_performance_data`, [NEXT_WEEK.toISOString()]);
    expect(after).toEqual({
      last_week: '2025-03-09',
      rows: result.rows.asin_performance_data,
      corrected: 300,
      corrected_too_old: 0,
      last_two: count.n,
    });
    expect(await digest('asin_performance_data', 'asin, search_query, start_date', `${lastTwo} AND start_date < date '2025-03-09'`)).not.toBe(before);
    expect(await digest('search_query_performance', 'search_query, start_date', `${lastTwo} AND start_date < date '2025-03-09'`)).not.toBe(beforeBrand);
    expect(await asinViolations()).toBe(0);
    expect(await brandViolations()).toBe(0);

    // Nothing new the same week: only corrections; and ensure still sees a complete source.
    const again = await advanceDemoSource(pool, { now: NEXT_WEEK, revisions: 50 });
    expect(again.weeksAdded).toEqual([]);
    expect(again.daysAdded).toEqual([]);
    expect(again.revised.asin_performance_data).toBe(50);
    expect((await ensureDemoSource(pool, { now: NEXT_WEEK })).created).toBe(false);
  });

  it('gives valid sync params for the eight seed tables', () => {
    const params = demoSyncParams();
    expect(Object.keys(params).sort()).toEqual(SEED_TABLES);
    for (const [table, value] of Object.entries(params)) {
      const parsed = parseSyncParams(value);
      if (parsed.source.type === 'sql') {
        expect(parsed.source.transform).toBe(table);
        expect(parsed.source.parentTable).toBe('asin_performance_data');
      } else {
        expect(parsed.source.type).toBe('postgres');
        if (parsed.mode === 'incremental') expect(parsed.source.query).toContain('@since');
      }
    }
    expect(parseSyncParams(params.asin_performance_data)).toMatchObject({ mode: 'incremental', cursorColumn: 'updated_at' });
    expect(parseSyncParams(params.daily_sqp_data)).toMatchObject({ mode: 'incremental', cursorColumn: 'report_date' });
    expect(parseSyncParams(params.search_query_performance)).toMatchObject({ mode: 'full', deleteMissing: true });
  });

  it('runs each postgres source query against sqp_demo with columns of its target', async () => {
    for (const [table, value] of Object.entries(demoSyncParams())) {
      const params = parseSyncParams(value);
      if (params.source.type !== 'postgres') continue;
      const target = await pool.query<{ column_name: string }>(
        `SELECT column_name FROM information_schema.columns WHERE table_schema = 'sqp' AND table_name = $1`, [table]);
      const targetColumns = target.rows.map((r) => r.column_name);
      const primaryKey = await pool.query<{ attname: string }>(
        `SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
         WHERE i.indrelid = $1::regclass AND i.indisprimary`, [`sqp.${table}`]);
      expect([...(params.keyColumns ?? [])].sort()).toEqual(primaryKey.rows.map((r) => r.attname).sort());

      const counts: number[] = [];
      for (const since of [null, '2025-03-01', '2025-03-01T00:00:00.000Z']) {
        const bound = bindNamedParams(params.source.query, { ...params.source.params, since });
        const res = await pool.query({ text: `SELECT * FROM (${bound.text}) src LIMIT 5`, values: bound.values });
        const columns = res.fields.map((f) => f.name);
        expect(columns.filter((c) => !targetColumns.includes(c)), `${table}: columns not in sqp.${table}`).toEqual([]);
        expect([...columns].sort(), `${table} selects every target column`).toEqual([...targetColumns].sort());
        expect(res.rows.length).toBe(5);
        const n = await one<{ n: number }>(`SELECT count(*)::int AS n FROM (${bound.text}) src`, bound.values);
        counts.push(n.n);
      }
      const total = await one<{ n: number }>(`SELECT count(*)::int AS n FROM sqp_demo.${table}`);
      // No lower bound: everything; a lower bound narrows incremental reads (date or timestamp text alike).
      expect(counts[0]).toBe(total.n);
      if (params.mode === 'incremental') {
        expect(counts[1]).toBeLessThan(total.n);
        expect(counts[1]).toBeGreaterThan(0);
        expect(counts[2]).toBe(counts[1]);
      }
    }
  });

  it('applies the params only where a table has none, and makes those tables due now', async () => {
    const operator = { source: { type: 'postgres', query: 'SELECT * FROM elsewhere.weekly' }, mode: 'full' };
    await pool.query(
      `UPDATE sqp.refresh_config SET custom_sync_params = $1, next_refresh_at = now() + interval '1 day'
       WHERE table_schema = 'sqp' AND table_name = 'weekly_summary'`, [JSON.stringify(operator)]);
    await pool.query(`UPDATE sqp.refresh_config SET next_refresh_at = now() + interval '1 day' WHERE table_schema = 'sqp'`);

    const updated = await applyDemoSyncParams(pool);
    expect(updated).toEqual(SEED_TABLES.filter((t) => t !== 'weekly_summary'));

    const configs = await pool.query<{ table_name: string; custom_sync_params: unknown; due: boolean }>(
      `SELECT table_name, custom_sync_params, next_refresh_at <= now() AS due FROM sqp.refresh_config WHERE table_schema = 'sqp'`);
    const byName = new Map(configs.rows.map((r) => [r.table_name, r]));
    expect(byName.get('weekly_summary')).toMatchObject({ custom_sync_params: operator, due: false });
    const params = demoSyncParams();
    for (const name of updated) {
      expect(byName.get(name)).toMatchObject({ custom_sync_params: params[name], due: true });
      parseSyncParams(byName.get(name)!.custom_sync_params);
    }

    expect(await applyDemoSyncParams(pool)).toEqual([]);
  });
});
