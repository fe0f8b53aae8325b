// The generated rows of sqp_demo's three source tables (asin_performance_data,
// search_query_performance, daily_sqp_data) and the column lists they share with the tables'
// params. The first fill (fillDemoTables) and advanceDemoSource (demo-advance.ts) run these same
// statements, so new weeks and late corrections come out as the first fill would have made them.
import type pg from 'pg';

// Every generator below draws its random numbers in an inner subquery ending in `OFFSET 0`:
// that fence keeps the planner from pulling the subquery up and copying each draw into every
// expression that uses it (it would hash the same key again for each use).
function draws(k: string, salt: string, names: Record<string, number>): string {
  return Object.entries(names).map(([name, n]) => `sqp_demo.u(${k}, ${salt} + ${n}) AS ${name}`).join(', ');
}

// The market funnel of a query in a period from its volume: every stage a fraction of the one
// before, so impressions (15–40 per search) ≥ clicks ≥ cart adds ≥ purchases always holds.
// `u` names the draws (impressions, clicks, cart adds, purchases).
function marketLaterals(volume: string, u: [string, string, string, string]): string {
  return `
CROSS JOIN LATERAL (SELECT round(${volume})::bigint AS volume) m0
CROSS JOIN LATERAL (SELECT round(m0.volume * (15 + 25 * ${u[0]}))::bigint AS impressions,
                           round(m0.volume * (0.5 + 0.7 * ${u[1]}))::bigint AS clicks) m1
CROSS JOIN LATERAL (SELECT round(m1.clicks * (0.15 + 0.2 * ${u[2]}))::bigint AS cart_adds) m2
CROSS JOIN LATERAL (SELECT round(m2.cart_adds * (0.3 + 0.3 * ${u[3]}))::bigint AS purchases) m3`;
}

// An ASIN's counts in one query and period. Each share is at most 0.9/asins, so the brand's
// sum never exceeds the market; each stage's share is at most 1.8× the one before while the
// market shrinks faster (clicks ≤ impressions/15, cart adds ≤ 0.35 clicks, purchases ≤ 0.6
// cart adds), so the ASIN funnel is ordered without clamping. Relevance (0–1) of the ASIN to
// the query drives its impression share. At least one impression: the report lists an ASIN for
// a query only when it was shown (and 1 > T·s keeps clicks at 0, so the order still holds). `b` provides relevance, cap (0.9/asins) and draws u1–u4.
function asinLaterals(
  t: { impressions: string; clicks: string; cartAdds: string; purchases: string },
  b: string,
): string {
  const cap = `${b}.cap`;
  return `
CROSS JOIN LATERAL (SELECT ${cap} * ${b}.relevance * ${b}.relevance * (0.35 + 0.65 * ${b}.u1) AS s) s1
CROSS JOIN LATERAL (SELECT least(${cap}, s1.s * (0.6 + 1.2 * ${b}.u2)) AS s) s2
CROSS JOIN LATERAL (SELECT least(${cap}, s2.s * (0.6 + 1.2 * ${b}.u3)) AS s) s3
CROSS JOIN LATERAL (SELECT least(${cap}, s3.s * (0.6 + 1.0 * ${b}.u4)) AS s) s4
CROSS JOIN LATERAL (SELECT greatest(1, floor(${t.impressions} * s1.s))::bigint AS impressions, floor(${t.clicks} * s2.s)::bigint AS clicks,
                           floor(${t.cartAdds} * s3.s)::bigint AS cart_adds, floor(${t.purchases} * s4.s)::bigint AS purchases) f`;
}

/** Inserts the market of each query for the weeks starting $1..$2 (dates). */
export const INSERT_QUERY_WEEKS = `
INSERT INTO sqp_demo.query_weeks
SELECT query_id, start_date, week_key, volume, row_number() OVER (PARTITION BY start_date ORDER BY volume DESC, query_id),
       impressions, clicks, cart_adds, purchases, clicks_price_median, cart_adds_price_median, purchases_price_median
FROM (
  SELECT b.query_id, b.start_date, b.week_key, m0.volume, m1.impressions, m1.clicks, m2.cart_adds, m3.purchases,
         sqp_demo.price(b.price, b.p1 * 1.67 - 0.33) AS clicks_price_median,
         sqp_demo.price(b.price, b.p2 * 1.67 - 0.33) AS cart_adds_price_median,
         sqp_demo.price(b.price, b.p3 * 1.67 - 0.33) AS purchases_price_median
  FROM (
    SELECT q.query_id, q.price, q.base_volume, q.phase, w.start_date, w.week_key,
           ${draws('h.k', 'h.s', { v: 1, m1: 2, m2: 3, m3: 4, m4: 5, p1: 6, p2: 7, p3: 8 })}
    FROM sqp_demo.queries q
    CROSS JOIN sqp_demo.generated g
    CROSS JOIN generate_series($1::date::timestamp, $2::date::timestamp, interval '7 days') AS d(day)
    CROSS JOIN LATERAL (SELECT d.day::date AS start_date, (d.day::date - date '2000-01-02') / 7 AS week_key) w
    CROSS JOIN LATERAL (SELECT (q.query_id::bigint << 20) | w.week_key AS k, g.seed::bigint * 1000 + 400 AS s) h
    OFFSET 0) b
  ${marketLaterals('b.base_volume * sqp_demo.season(b.start_date + 3, b.phase) * (0.9 + 0.2 * b.v)', ['b.m1', 'b.m2', 'b.m3', 'b.m4'])}
) market`;

export const ASIN_COLUMNS = [
  'start_date', 'end_date', 'asin', 'search_query', 'search_query_score', 'search_query_volume',
  'impressions_total_count', 'impressions_asin_count', 'impressions_asin_share',
  'clicks_total_count', 'clicks_click_rate', 'clicks_asin_count', 'clicks_asin_share', 'clicks_price_median', 'clicks_asin_price_median',
  'cart_adds_total_count', 'cart_adds_add_rate', 'cart_adds_asin_count', 'cart_adds_asin_share', 'cart_adds_price_median', 'cart_adds_asin_price_median',
  'purchases_total_count', 'purchases_purchase_rate', 'purchases_asin_count', 'purchases_asin_share', 'purchases_price_median', 'purchases_asin_price_median',
  'updated_at',
];
export const BRAND_COLUMNS = [
  'start_date', 'end_date', 'search_query', 'search_query_score', 'search_query_volume',
  'impressions_total_count', 'impressions_brand_count', 'impressions_brand_share',
  'clicks_total_count', 'clicks_click_rate', 'clicks_brand_count', 'clicks_brand_share', 'clicks_price_median',
  'cart_adds_total_count', 'cart_adds_brand_count', 'cart_adds_brand_share',
  'purchases_total_count', 'purchases_brand_count', 'purchases_brand_share', 'purchases_price_median', 'updated_at',
];
export const DAILY_COLUMNS = [
  'report_date', 'asin', 'search_query', 'search_query_volume', 'impressions_total_count', 'impressions_asin_count',
  'clicks_total_count', 'clicks_asin_count', 'cart_adds_total_count', 'cart_adds_asin_count',
  'purchases_total_count', 'purchases_asin_count', 'updated_at',
];

/**
 * The ASIN view rows (columns as ASIN_COLUMNS) of the pairs and weeks that `where` keeps.
 * $1 = now (updated_at is end_date + 2 days, never later than now), $2 = revision: 0 for
 * first publication, n for the n-th late correction (fresh ASIN noise, same market).
 * Rates are each stage over the one before (clicks/impressions, cart adds/clicks,
 * purchases/cart adds), in percent like the shares.
 */
export function asinRowsSql(where: string): string {
  const totals = { impressions: 'b.impressions_total_count', clicks: 'b.clicks_total_count', cartAdds: 'b.cart_adds_total_count', purchases: 'b.purchases_total_count' };
  return `
SELECT c.start_date, c.start_date + 6, c.asin, c.search_query, c.search_query_score, c.search_query_volume,
       c.impressions_total_count, c.impressions, sqp_demo.pct(c.impressions, c.impressions_total_count),
       c.clicks_total_count, sqp_demo.pct(c.clicks_total_count, c.impressions_total_count),
       c.clicks, sqp_demo.pct(c.clicks, c.clicks_total_count),
       c.clicks_price_median, CASE WHEN c.clicks > 0 THEN sqp_demo.price(c.price, c.p1) END,
       c.cart_adds_total_count, sqp_demo.pct(c.cart_adds_total_count, c.clicks_total_count),
       c.cart_adds, sqp_demo.pct(c.cart_adds, c.cart_adds_total_count),
       c.cart_adds_price_median, CASE WHEN c.cart_adds > 0 THEN sqp_demo.price(c.price, c.p2) END,
       c.purchases_total_count, sqp_demo.pct(c.purchases_total_count, c.cart_adds_total_count),
       c.purchases, sqp_demo.pct(c.purchases, c.purchases_total_count),
       c.purchases_price_median, CASE WHEN c.purchases > 0 THEN sqp_demo.price(c.price, c.p3) END,
       least((c.start_date + 8)::timestamp AT TIME ZONE 'UTC', $1::timestamptz)
FROM (
  SELECT b.*, f.*
  FROM (
    SELECT qw.*, a.asin, a.price, q.search_query, p.relevance, 0.9 / g.asins::double precision AS cap,
           ${draws('h.k', 'h.r', { u1: 11, u2: 12, u3: 13, u4: 14, p1: 15, p2: 16, p3: 17 })}
    FROM sqp_demo.pairs p
    JOIN sqp_demo.asins a ON a.asin_id = p.asin_id
    JOIN sqp_demo.queries q ON q.query_id = p.query_id
    JOIN sqp_demo.query_weeks qw ON qw.query_id = p.query_id
    CROSS JOIN sqp_demo.generated g
    CROSS JOIN LATERAL (SELECT (p.asin_id::bigint << 36) | (p.query_id::bigint << 16) | qw.week_key AS k,
                               g.seed::bigint * 1000 + 500 AS s,
                               (hashint8extended($2::bigint, g.seed) >> 12) AS r) h
    WHERE (a.launch_date IS NULL OR qw.start_date >= a.launch_date)
      AND sqp_demo.u(h.k, h.s) < 0.98
      AND (${where})
    OFFSET 0) b
  ${asinLaterals(totals, 'b')}
  OFFSET 0) c`;
}

/** Brand view rows summed over the ASIN rows that `where` keeps (per query and week). */
export function upsertBrandRowsSql(where: string): string {
  const cols = BRAND_COLUMNS.filter((c) => !['start_date', 'search_query'].includes(c));
  return `
INSERT INTO sqp_demo.search_query_performance (${BRAND_COLUMNS.join(', ')})
SELECT start_date, min(end_date), search_query, min(search_query_score), min(search_query_volume),
       min(impressions_total_count), sum(impressions_asin_count), sqp_demo.pct(sum(impressions_asin_count), min(impressions_total_count)),
       min(clicks_total_count), min(clicks_click_rate), sum(clicks_asin_count), sqp_demo.pct(sum(clicks_asin_count), min(clicks_total_count)),
       min(clicks_price_median),
       min(cart_adds_total_count), sum(cart_adds_asin_count), sqp_demo.pct(sum(cart_adds_asin_count), min(cart_adds_total_count)),
       min(purchases_total_count), sum(purchases_asin_count), sqp_demo.pct(sum(purchases_asin_count), min(purchases_total_count)),
       min(purchases_price_median), max(updated_at)
FROM sqp_demo.asin_performance_data
WHERE ${where}
GROUP BY search_query, start_date
ON CONFLICT (search_query, start_date) DO UPDATE SET ${cols.map((c) => `${c} = excluded.${c}`).join(', ')}
WHERE (${cols.map((c) => `search_query_performance.${c}`).join(', ')}) IS DISTINCT FROM (${cols.map((c) => `excluded.${c}`).join(', ')})`;
}

/** Daily rows for the report dates $1..$2 of the pairs marked in_daily; $3 = now. */
export const INSERT_DAILY = `
INSERT INTO sqp_demo.daily_sqp_data (${DAILY_COLUMNS.join(', ')})
SELECT b.report_date, b.asin, b.search_query, m0.volume, m1.impressions, f.impressions, m1.clicks, f.clicks,
       m2.cart_adds, f.cart_adds, m3.purchases, f.purchases,
       least((b.report_date + 1)::timestamp AT TIME ZONE 'UTC', $3::timestamptz)
FROM (
  SELECT d.report_date, a.asin, q.search_query, q.base_volume, q.phase, p.relevance, 0.9 / g.asins::double precision AS cap,
         ${draws('h.qk', 'h.s', { v: 1, m1: 2, m2: 3, m3: 4, m4: 5 })},
         ${draws('h.k', 'h.s', { u1: 11, u2: 12, u3: 13, u4: 14 })}
  FROM sqp_demo.pairs p
  JOIN sqp_demo.asins a ON a.asin_id = p.asin_id
  JOIN sqp_demo.queries q ON q.query_id = p.query_id
  CROSS JOIN sqp_demo.generated g
  CROSS JOIN generate_series($1::date::timestamp, $2::date::timestamp, interval '1 day') AS gs(day)
  CROSS JOIN LATERAL (SELECT gs.day::date AS report_date, gs.day::date - date '2000-01-01' AS day_key) d
  CROSS JOIN LATERAL (SELECT (p.query_id::bigint << 20) | d.day_key AS qk,
                             (p.asin_id::bigint << 36) | (p.query_id::bigint << 16) | d.day_key AS k,
                             g.seed::bigint * 1000 + 600 AS s) h
  WHERE p.in_daily AND (a.launch_date IS NULL OR d.report_date >= a.launch_date)
  OFFSET 0) b
${marketLaterals(`b.base_volume / 7 * sqp_demo.season(b.report_date, b.phase)
   * CASE extract(dow FROM b.report_date) WHEN 0 THEN 1.15 WHEN 6 THEN 1.1 ELSE 0.94 END * (0.85 + 0.3 * b.v)`, ['b.m1', 'b.m2', 'b.m3', 'b.m4'])}
${asinLaterals({ impressions: 'm1.impressions', clicks: 'm1.clicks', cartAdds: 'm2.cart_adds', purchases: 'm3.purchases' }, 'b')}`;

export const ROW_COUNTS = `
SELECT jsonb_build_object(
  'asin_performance_data', (SELECT count(*) FROM sqp_demo.asin_performance_data),
  'search_query_performance', (SELECT count(*) FROM sqp_demo.search_query_performance),
  'daily_sqp_data', (SELECT count(*) FROM sqp_demo.daily_sqp_data)) AS rows`;

/** Fills the empty source tables over the settings row's weeks and days, then keys and analyzes them. */
export async function fillDemoTables(client: pg.ClientBase, now: Date): Promise<void> {
  const m = (await client.query<{ first_week: string; last_week: string; first_day: string; last_day: string }>(
    'SELECT first_week::text, last_week::text, first_day::text, last_day::text FROM sqp_demo.generated',
  )).rows[0]!;
  await client.query(INSERT_QUERY_WEEKS, [m.first_week, m.last_week]);
  await client.query(`INSERT INTO sqp_demo.asin_performance_data (${ASIN_COLUMNS.join(', ')}) ${asinRowsSql('true')}`, [now.toISOString(), 0]);
  await client.query(upsertBrandRowsSql('true'));
  await client.query(INSERT_DAILY, [m.first_day, m.last_day, now.toISOString()]);
  // Keys and indexes after the bulk insert: building them once is cheaper than maintaining them.
  await client.query(`
      ALTER TABLE sqp_demo.asin_performance_data ADD PRIMARY KEY (asin, search_query, start_date);
      CREATE INDEX ON sqp_demo.asin_performance_data (updated_at);
      CREATE INDEX ON sqp_demo.asin_performance_data (start_date);
      ALTER TABLE sqp_demo.daily_sqp_data ADD PRIMARY KEY (asin, search_query, report_date);
      CREATE INDEX ON sqp_demo.daily_sqp_data (report_date);
      CREATE INDEX ON sqp_demo.search_query_performance (updated_at)`);
  await client.query('ANALYZE sqp_demo.asin_performance_data, sqp_demo.search_query_performance, sqp_demo.daily_sqp_data');
}
