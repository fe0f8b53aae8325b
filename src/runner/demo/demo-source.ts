// The demo source: with no BigQuery settings, `npm start` refreshes the sqp tables from a
// schema `sqp_demo` in the same database, filled with generated Search Query Performance
// data. Everything is generated inside PostgreSQL (generate_series and a seeded hash, never
// random()), so a few hundred thousand rows take seconds and the same seed gives the same
// rows on every run. The numbers follow the report's funnel (impressions ≥ clicks ≥ cart adds
// ≥ purchases, ASIN ≤ market, shares and rates derived from the counts) so that summaries,
// quality checks and dashboards built on them look like the real thing.
//
// One file on purpose (it is past the ~300-line mark): the generators for first fill and for
// `advanceDemoSource` must stay identical, and the SQL fragments they share live here.
import type pg from 'pg';
import { quoteIdent } from '../engine/catalog.ts';
import { DEFAULT_SOURCE_ROLE } from '../sources/postgres/source-role.ts';
import { parseSyncParams, type SyncParamsInput } from '../params/sync-params.ts';

/** Bump when the generated shape changes: an older sqp_demo is then rebuilt. */
const DEMO_VERSION = 1;

export interface DemoSourceOptions {
  /** Report weeks (Sunday–Saturday), ending at the last full week before `now`. Default 52. */
  weeks?: number;
  asins?: number;
  queries?: number;
  seed?: number;
  now?: Date;
  /** The role postgres source queries run as (POSTGRES_SOURCE_ROLE): made able to read the demo's tables. Default sqp_refresh_source. */
  sourceRole?: string;
}

export interface DemoSourceResult {
  /** False when a complete sqp_demo with the same options was already there. */
  created: boolean;
  /** Rows per demo table (asin_performance_data, search_query_performance, daily_sqp_data). */
  rows: Record<string, number>;
  /** Time spent generating (0 when nothing was created). */
  ms: number;
}

export interface DemoAdvanceResult {
  /** Start dates (YYYY-MM-DD) of the weeks appended. */
  weeksAdded: string[];
  daysAdded: string[];
  inserted: Record<string, number>;
  /** Rows rewritten as late corrections (updated_at = now). */
  revised: Record<string, number>;
  rows: Record<string, number>;
}

const DEFAULTS = { weeks: 52, asins: 60, queries: 100, seed: 42 } as const;
const DAILY_DAYS = 28;
const REVISIONS = 300;
const LOCK = `pg_advisory_xact_lock(hashtext('sqp-refresh demo source'))`;

// Ten categories of ten search queries each, with a typical price. More queries than phrases
// append a modifier ("… 2 pack"), then a number, so every query stays unique.
const CATEGORIES: { price: number; phrases: string[] }[] = [
  { price: 45, phrases: ['wireless earbuds', 'bluetooth headphones', 'noise cancelling headphones', 'earbuds with microphone', 'bluetooth speaker portable', 'over ear headphones', 'sport earbuds waterproof', 'kids headphones', 'gaming headset', 'wireless earbuds for iphone'] },
  { price: 30, phrases: ['yoga mat thick', 'resistance bands', 'adjustable dumbbells', 'foam roller', 'jump rope', 'yoga blocks cork', 'exercise ball', 'ankle weights', 'pull up bar doorway', 'workout gloves'] },
  { price: 25, phrases: ['silicone spatula', 'air fryer liners', 'knife block', 'cutting board bamboo', 'measuring cups and spoons', 'french press coffee maker', 'glass food storage containers', 'kitchen scale digital', 'cast iron skillet', 'reusable straws'] },
  { price: 35, phrases: ['led strip lights', 'blackout curtains', 'throw pillow covers', 'shower curtain', 'bath mat non slip', 'shoe rack', 'closet organizer', 'picture frames', 'wall clock', 'doormat outdoor'] },
  { price: 20, phrases: ['dog toys for aggressive chewers', 'cat litter mat', 'retractable dog leash', 'pet hair remover', 'cat scratching post', 'orthopedic dog bed', 'dog poop bags', 'interactive cat toys', 'fish tank filter', 'dog harness no pull'] },
  { price: 15, phrases: ['gel pens', 'sticky notes', 'desk organizer', 'laptop stand', 'mouse pad xl', 'wireless mouse', 'notebook college ruled', 'highlighters', 'stapler heavy duty', 'dry erase markers'] },
  { price: 12, phrases: ['iphone 15 case', 'usb c charger fast', 'screen protector', 'phone stand for desk', 'car phone mount', 'lightning cable', 'portable charger power bank', 'wireless charger', 'phone grip', 'magsafe wallet'] },
  { price: 18, phrases: ['vitamin c serum', 'makeup brushes', 'claw hair clips', 'silk pillowcase', 'electric toothbrush', 'nail polish', 'hair dryer brush', 'face moisturizer', 'lip balm', 'jade roller'] },
  { price: 40, phrases: ['camping chair', 'insulated water bottle', 'hiking backpack', 'headlamp rechargeable', 'tent 4 person', 'soft cooler bag', 'sleeping bag', 'hammock with stand', 'solar lights outdoor', 'expandable garden hose'] },
  { price: 22, phrases: ['building blocks', 'fidget toys', 'puzzle 1000 pieces', 'play doh', 'remote control car', 'board games for families', 'stuffed animals', 'kids art supplies', 'bubble machine', 'magnetic tiles'] },
];
const MODIFIERS = ['2 pack', 'black', 'for kids', 'large', 'for women', 'bulk', 'mini', 'white', 'for men', 'premium'];

// The three generated tables: the same columns as their sqp targets (030_sqp_tables), written
// out here rather than copied with LIKE, because a target database may have its own variant.
const DDL = `
CREATE TABLE sqp_demo.asin_performance_data (
  start_date date NOT NULL, end_date date NOT NULL, asin text NOT NULL, search_query text NOT NULL,
  search_query_score integer, search_query_volume bigint,
  impressions_total_count bigint, impressions_asin_count bigint, impressions_asin_share numeric(7,4),
  clicks_total_count bigint, clicks_click_rate numeric(7,4), clicks_asin_count bigint, clicks_asin_share numeric(7,4),
  clicks_price_median numeric(12,2), clicks_asin_price_median numeric(12,2),
  cart_adds_total_count bigint, cart_adds_add_rate numeric(7,4), cart_adds_asin_count bigint, cart_adds_asin_share numeric(7,4),
  cart_adds_price_median numeric(12,2), cart_adds_asin_price_median numeric(12,2),
  purchases_total_count bigint, purchases_purchase_rate numeric(7,4), purchases_asin_count bigint, purchases_asin_share numeric(7,4),
  purchases_price_median numeric(12,2), purchases_asin_price_median numeric(12,2),
  updated_at timestamptz NOT NULL);
CREATE TABLE sqp_demo.search_query_performance (
  start_date date NOT NULL, end_date date NOT NULL, search_query text NOT NULL,
  search_query_score integer, search_query_volume bigint,
  impressions_total_count bigint, impressions_brand_count bigint, impressions_brand_share numeric(7,4),
  clicks_total_count bigint, clicks_click_rate numeric(7,4), clicks_brand_count bigint, clicks_brand_share numeric(7,4),
  clicks_price_median numeric(12,2),
  cart_adds_total_count bigint, cart_adds_brand_count bigint, cart_adds_brand_share numeric(7,4),
  purchases_total_count bigint, purchases_brand_count bigint, purchases_brand_share numeric(7,4),
  purchases_price_median numeric(12,2),
  updated_at timestamptz NOT NULL, PRIMARY KEY (search_query, start_date));
CREATE TABLE sqp_demo.daily_sqp_data (
  report_date date NOT NULL, asin text NOT NULL, search_query text NOT NULL, search_query_volume bigint,
  impressions_total_count bigint, impressions_asin_count bigint, clicks_total_count bigint, clicks_asin_count bigint,
  cart_adds_total_count bigint, cart_adds_asin_count bigint, purchases_total_count bigint, purchases_asin_count bigint,
  updated_at timestamptz NOT NULL);`;

// Helpers, all one-expression SQL functions so the planner inlines them into the big INSERTs.
// u(): uniform [0,1) from the built-in 64-bit hash (the one hash partitioning relies on, so it
// is stable across servers of one architecture); k packs the ids, salt the seed and field.
const FUNCTIONS = `
CREATE FUNCTION sqp_demo.u(k bigint, salt bigint) RETURNS double precision LANGUAGE sql IMMUTABLE PARALLEL SAFE
  AS $$ SELECT (hashint8extended(k, salt) & 4503599627370495)::double precision / 4503599627370496 $$;
CREATE FUNCTION sqp_demo.pct(part numeric, whole numeric) RETURNS numeric LANGUAGE sql IMMUTABLE PARALLEL SAFE
  AS $$ SELECT round(part * 100 / nullif(whole, 0), 4) $$;
CREATE FUNCTION sqp_demo.price(base numeric, x double precision) RETURNS numeric LANGUAGE sql IMMUTABLE PARALLEL SAFE
  AS $$ SELECT round(least(200, greatest(5, base * (0.97 + 0.06 * x)::numeric)), 2) $$;
-- Yearly wave per query (phase) plus the holiday peak from late November to Christmas.
CREATE FUNCTION sqp_demo.season(d date, phase double precision) RETURNS double precision LANGUAGE sql IMMUTABLE PARALLEL SAFE
  AS $$ SELECT 1 + 0.2 * sin(2 * pi() * (extract(doy FROM d)::double precision / 365.25 + phase))
            + CASE WHEN extract(month FROM d) * 100 + extract(day FROM d) BETWEEN 1120 AND 1224 THEN 0.35 ELSE 0 END $$;`;

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
const INSERT_QUERY_WEEKS = `
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

const ASIN_COLUMNS = [
  'start_date', 'end_date', 'asin', 'search_query', 'search_query_score', 'search_query_volume',
  'impressions_total_count', 'impressions_asin_count', 'impressions_asin_share',
  'clicks_total_count', 'clicks_click_rate', 'clicks_asin_count', 'clicks_asin_share', 'clicks_price_median', 'clicks_asin_price_median',
  'cart_adds_total_count', 'cart_adds_add_rate', 'cart_adds_asin_count', 'cart_adds_asin_share', 'cart_adds_price_median', 'cart_adds_asin_price_median',
  'purchases_total_count', 'purchases_purchase_rate', 'purchases_asin_count', 'purchases_asin_share', 'purchases_price_median', 'purchases_asin_price_median',
  'updated_at',
];
const BRAND_COLUMNS = [
  'start_date', 'end_date', 'search_query', 'search_query_score', 'search_query_volume',
  'impressions_total_count', 'impressions_brand_count', 'impressions_brand_share',
  'clicks_total_count', 'clicks_click_rate', 'clicks_brand_count', 'clicks_brand_share', 'clicks_price_median',
  'cart_adds_total_count', 'cart_adds_brand_count', 'cart_adds_brand_share',
  'purchases_total_count', 'purchases_brand_count', 'purchases_brand_share', 'purchases_price_median', 'updated_at',
];
const DAILY_COLUMNS = [
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
function asinRowsSql(where: string): string {
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
function upsertBrandRowsSql(where: string): string {
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
const INSERT_DAILY = `
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

const ROW_COUNTS = `
SELECT jsonb_build_object(
  'asin_performance_data', (SELECT count(*) FROM sqp_demo.asin_performance_data),
  'search_query_performance', (SELECT count(*) FROM sqp_demo.search_query_performance),
  'daily_sqp_data', (SELECT count(*) FROM sqp_demo.daily_sqp_data)) AS rows`;

interface Marker {
  version: number;
  seed: number;
  weeks: number;
  asins: number;
  queries: number;
  last_week: string;
  last_day: string;
  revision: number;
  row_counts: Record<string, number> | null;
}

const MARKER = `SELECT version, seed, weeks, asins, queries, last_week::text, last_day::text, revision, row_counts FROM sqp_demo.generated`;

/** The complete demo source's marker, or null when sqp_demo is missing, partial or outdated. */
async function readMarker(client: pg.ClientBase): Promise<Marker | null> {
  // pg_tables, not to_regclass: to_regclass answers from this backend's catalog cache, which
  // an advisory lock does not refresh, so a replica that waited for another's generation still
  // saw no demo source and generated (dropped and refilled) it again, under the first replica's
  // running refreshes, which then read 0 rows. A scan of pg_class uses the statement's snapshot.
  const present = await client.query<{ ok: boolean }>(`
    SELECT count(*) = 4 AS ok FROM pg_tables
    WHERE schemaname = 'sqp_demo' AND tablename IN ('generated', 'asin_performance_data', 'search_query_performance', 'daily_sqp_data')`);
  if (!present.rows[0]?.ok) return null;
  const marker = (await client.query<Marker>(MARKER)).rows[0];
  return marker && marker.version === DEMO_VERSION && marker.row_counts ? marker : null;
}

function resolve(options: DemoSourceOptions) {
  const o = {
    weeks: options.weeks ?? DEFAULTS.weeks,
    asins: options.asins ?? DEFAULTS.asins,
    queries: options.queries ?? DEFAULTS.queries,
    seed: options.seed ?? DEFAULTS.seed,
    now: options.now ?? new Date(),
  };
  const check = (name: string, v: number, max: number) => {
    if (!Number.isInteger(v) || v < 1 || v > max) throw new RangeError(`demo source: ${name} must be an integer from 1 to ${max}`);
  };
  check('weeks', o.weeks, 520);
  check('asins', o.asins, 10_000);
  check('queries', o.queries, 10_000);
  if (!Number.isInteger(o.seed) || Math.abs(o.seed) > 2 ** 31 - 1) throw new RangeError('demo source: seed must be a 32-bit integer');
  return o;
}

/** Creates and fills sqp_demo unless a complete one with the same options exists (then a no-op). */
export async function ensureDemoSource(pool: pg.Pool, options: DemoSourceOptions = {}): Promise<DemoSourceResult> {
  const o = resolve(options);
  const same = (m: Marker | null) => m !== null && m.seed === o.seed && m.weeks === o.weeks && m.asins === o.asins && m.queries === o.queries;
  const role = options.sourceRole ?? DEFAULT_SOURCE_ROLE.name;
  const client = await pool.connect();
  try {
    const before = await readMarker(client);
    if (same(before) && (await sourceRoleReady(client, role))) return { created: false, rows: before!.row_counts!, ms: 0 };
    await client.query('BEGIN');
    // Replicas starting together: one generates, the others wait and find it done.
    await client.query(`SELECT ${LOCK}`);
    const locked = await readMarker(client);
    if (same(locked)) {
      await grantSourceRole(client, role);
      await client.query('COMMIT');
      return { created: false, rows: locked!.row_counts!, ms: 0 };
    }
    const started = performance.now();
    // sqp_demo belongs to the demo: anything there that is not a complete current source goes.
    await client.query('DROP SCHEMA IF EXISTS sqp_demo CASCADE');
    await client.query('CREATE SCHEMA sqp_demo');
    await client.query(`COMMENT ON SCHEMA sqp_demo IS 'Generated demo source of sqp-refresh (src/runner/demo/demo-source.ts); rebuilt at will.'`);
    await client.query(FUNCTIONS);
    // The marker doubles as the settings every statement below reads (one row, `g`).
    await client.query(`
      CREATE TABLE sqp_demo.generated (
        version integer NOT NULL, generated_at timestamptz, generated_for timestamptz NOT NULL,
        seed integer NOT NULL, weeks integer NOT NULL, asins integer NOT NULL, queries integer NOT NULL,
        first_week date NOT NULL, last_week date NOT NULL, first_day date NOT NULL, last_day date NOT NULL,
        revision integer NOT NULL DEFAULT 0, advanced_at timestamptz, generation_ms integer, row_counts jsonb)`);
    await client.query(
      `INSERT INTO sqp_demo.generated (version, generated_for, seed, weeks, asins, queries, first_week, last_week, first_day, last_day)
       SELECT $1, $2::timestamptz, $3, $4, $5, $6, w.last - 7 * ($4 - 1), w.last, t.today - ${DAILY_DAYS}, t.today - 1
       FROM (SELECT ($2::timestamptz AT TIME ZONE 'UTC')::date AS today) t
       CROSS JOIN LATERAL (SELECT t.today - extract(dow FROM t.today)::int - 7 AS last) w`,
      [DEMO_VERSION, o.now.toISOString(), o.seed, o.weeks, o.asins, o.queries],
    );
    await generateDimensions(client);
    await client.query(DDL);
    const m = (await client.query<{ first_week: string; last_week: string; first_day: string; last_day: string }>(
      'SELECT first_week::text, last_week::text, first_day::text, last_day::text FROM sqp_demo.generated',
    )).rows[0]!;
    await client.query(INSERT_QUERY_WEEKS, [m.first_week, m.last_week]);
    await client.query(`INSERT INTO sqp_demo.asin_performance_data (${ASIN_COLUMNS.join(', ')}) ${asinRowsSql('true')}`, [o.now.toISOString(), 0]);
    await client.query(upsertBrandRowsSql('true'));
    await client.query(INSERT_DAILY, [m.first_day, m.last_day, o.now.toISOString()]);
    // Keys and indexes after the bulk insert: building them once is cheaper than maintaining them.
    await client.query(`
      ALTER TABLE sqp_demo.asin_performance_data ADD PRIMARY KEY (asin, search_query, start_date);
      CREATE INDEX ON sqp_demo.asin_performance_data (updated_at);
      CREATE INDEX ON sqp_demo.asin_performance_data (start_date);
      ALTER TABLE sqp_demo.daily_sqp_data ADD PRIMARY KEY (asin, search_query, report_date);
      CREATE INDEX ON sqp_demo.daily_sqp_data (report_date);
      CREATE INDEX ON sqp_demo.search_query_performance (updated_at)`);
    await client.query('ANALYZE sqp_demo.asin_performance_data, sqp_demo.search_query_performance, sqp_demo.daily_sqp_data');
    const rows = (await client.query<{ rows: Record<string, number> }>(ROW_COUNTS)).rows[0]!.rows;
    const ms = Math.round(performance.now() - started);
    await client.query(`UPDATE sqp_demo.generated SET generated_at = clock_timestamp(), generation_ms = $1, row_counts = $2`, [ms, rows]);
    await grantSourceRole(client, role);
    await client.query('COMMIT');
    return { created: true, rows, ms };
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
}

// The demo's queries are `postgres` sources, and on the embedded default the service is a
// superuser, so they run as the source role (sources/postgres/source-role.ts). That role may
// read the three tables the demo's sources read, and nothing else of sqp_demo. Where the
// service may not create roles (an ordinary role) the queries run as the service itself, so a
// missing role needs nothing; an existing one (POSTGRES_SOURCE_ROLE set) gets the grants.
const SOURCE_TABLES = ['asin_performance_data', 'search_query_performance', 'daily_sqp_data'];

/** Whether the source role can read the demo's source tables, or need not exist. */
async function sourceRoleReady(client: pg.ClientBase, role: string): Promise<boolean> {
  const { rows: [state] } = await client.query<{ present: boolean; can_create: boolean; granted: boolean }>(
    `SELECT r.oid IS NOT NULL AS present,
            (SELECT rolsuper OR rolcreaterole FROM pg_roles WHERE rolname = current_user) AS can_create,
            r.oid IS NOT NULL AND has_schema_privilege(r.oid, 'sqp_demo', 'USAGE')
              AND (SELECT bool_and(has_table_privilege(r.oid, c.oid, 'SELECT')) AND count(*) = cardinality($2::text[])
                   FROM pg_class c WHERE c.relnamespace = 'sqp_demo'::regnamespace AND c.relname = ANY ($2::text[])) AS granted
     FROM (SELECT $1::text AS name) n LEFT JOIN pg_roles r ON r.rolname = n.name`,
    [role, SOURCE_TABLES],
  );
  return state!.granted || (!state!.present && !state!.can_create);
}

/** Creates the source role where missing and allowed, and lets it read the demo's source tables (in the transaction holding LOCK). */
async function grantSourceRole(client: pg.ClientBase, role: string): Promise<void> {
  const { rows: [state] } = await client.query<{ present: boolean; can_create: boolean }>(
    `SELECT EXISTS (SELECT FROM pg_roles WHERE rolname = $1) AS present,
            (SELECT rolsuper OR rolcreaterole FROM pg_roles WHERE rolname = current_user) AS can_create`,
    [role],
  );
  if (!state!.present) {
    if (!state!.can_create) return;
    // Roles belong to the whole server: another database's service (or test) may create it at
    // the same moment, which our advisory lock does not see. Whoever loses finds it made.
    await client.query('SAVEPOINT source_role');
    try {
      await client.query(`CREATE ROLE ${quoteIdent(role)} NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS`);
      await client.query('RELEASE SAVEPOINT source_role');
    } catch (error) {
      const code = (error as { code?: string }).code;
      if (code !== '42710' && code !== '23505') throw error;
      await client.query('ROLLBACK TO SAVEPOINT source_role');
    }
  }
  await client.query(`GRANT USAGE ON SCHEMA sqp_demo TO ${quoteIdent(role)}`);
  await client.query(`GRANT SELECT ON ${SOURCE_TABLES.map((t) => `sqp_demo.${t}`).join(', ')} TO ${quoteIdent(role)}`);
}

/** ASINs, queries and which ASIN shows up for which query (`pairs`), from the settings row. */
async function generateDimensions(client: pg.ClientBase): Promise<void> {
  const phrases = CATEGORIES.flatMap((c) => c.phrases);
  const phraseCategory = CATEGORIES.flatMap((c, i) => c.phrases.map(() => i + 1));
  const prices = CATEGORIES.map((c) => c.price);
  // ASIN: 'B0' + 5 hashed characters + 3 from (i·7919 + seed) mod 36³, a bijection of i, so
  // two ASINs never collide. Prices: the category's, ×0.5–2. A few ASINs launch mid-window.
  await client.query(
    `CREATE TABLE sqp_demo.asins AS
     SELECT i AS asin_id,
            'B0' || (SELECT string_agg(substr(z.alphabet, 1 + floor(sqp_demo.u(i, g.seed::bigint * 1000 + 100 + j) * 36)::int, 1), '' ORDER BY j)
                     FROM generate_series(1, 5) j)
                 || substr(z.alphabet, 1 + n.v / 1296, 1) || substr(z.alphabet, 1 + n.v / 36 % 36, 1) || substr(z.alphabet, 1 + n.v % 36, 1) AS asin,
            (i - 1) % $2 + 1 AS category_id,
            round(least(189.99, greatest(5.99, ($1::numeric[])[(i - 1) % $2 + 1] * exp(ln(0.5) + ln(4) * sqp_demo.u(i, g.seed::bigint * 1000 + 110))::numeric)), 2) AS price,
            CASE WHEN sqp_demo.u(i, g.seed::bigint * 1000 + 111) < 0.12
                 THEN g.first_week + 7 * floor(40 * sqp_demo.u(i, g.seed::bigint * 1000 + 112))::int END AS launch_date
     FROM sqp_demo.generated g
     CROSS JOIN (SELECT '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ'::text AS alphabet) z
     CROSS JOIN generate_series(1, g.asins) i
     CROSS JOIN LATERAL (SELECT (((i::bigint * 7919 + g.seed) % 46656) + 46656)::int % 46656 AS v) n`,
    [prices, prices.length],
  );
  await client.query(
    `CREATE TABLE sqp_demo.queries AS
     SELECT i AS query_id,
            ($1::text[])[b + 1] || CASE WHEN m = 0 THEN '' ELSE ' ' || ($3::text[])[(m - 1) % cardinality($3::text[]) + 1]
                                          || CASE WHEN m > cardinality($3::text[]) THEN ' ' || ((m - 1) / cardinality($3::text[]) + 1) ELSE '' END END AS search_query,
            ($2::int[])[b + 1] AS category_id,
            exp(ln(1500) + ln(400000.0 / 1500) * sqp_demo.u(i, g.seed::bigint * 1000 + 120)) AS base_volume,
            least(190, greatest(6, ($4::numeric[])[($2::int[])[b + 1]] * (0.7 + 0.7 * sqp_demo.u(i, g.seed::bigint * 1000 + 121))::numeric)) AS price,
            ($2::int[])[b + 1] * 0.1 + 0.1 * sqp_demo.u(i, g.seed::bigint * 1000 + 122) AS phase
     FROM sqp_demo.generated g
     CROSS JOIN generate_series(1, g.queries) i
     CROSS JOIN LATERAL (SELECT (i - 1) % cardinality($1::text[]) AS b, (i - 1) / cardinality($1::text[]) AS m) x`,
    [phrases, phraseCategory, MODIFIERS, prices],
  );
  await client.query(`
    ALTER TABLE sqp_demo.asins ADD PRIMARY KEY (asin_id), ADD UNIQUE (asin);
    ALTER TABLE sqp_demo.queries ADD PRIMARY KEY (query_id), ADD UNIQUE (search_query);
    CREATE TABLE sqp_demo.query_weeks (
      query_id integer NOT NULL, start_date date NOT NULL, week_key integer NOT NULL, search_query_volume bigint NOT NULL,
      search_query_score integer NOT NULL, impressions_total_count bigint NOT NULL, clicks_total_count bigint NOT NULL,
      cart_adds_total_count bigint NOT NULL, purchases_total_count bigint NOT NULL, clicks_price_median numeric(12,2),
      cart_adds_price_median numeric(12,2), purchases_price_median numeric(12,2), PRIMARY KEY (query_id, start_date))`);
  // Every ASIN appears for every query of its own category (relevance 0.55–1) and for 91% of
  // the others (0.03–0.3); a fifth of the pairs also have daily data.
  await client.query(`
    CREATE TABLE sqp_demo.pairs AS
    SELECT a.asin_id, q.query_id,
           CASE WHEN a.category_id = q.category_id THEN 0.55 + 0.45 * sqp_demo.u(x.k, g.seed::bigint * 1000 + 131)
                ELSE 0.03 + 0.27 * sqp_demo.u(x.k, g.seed::bigint * 1000 + 131) END AS relevance,
           sqp_demo.u(x.k, g.seed::bigint * 1000 + 132) < 0.22 AS in_daily
    FROM sqp_demo.asins a CROSS JOIN sqp_demo.queries q CROSS JOIN sqp_demo.generated g
    CROSS JOIN LATERAL (SELECT (a.asin_id::bigint << 20) | q.query_id AS k) x
    WHERE a.category_id = q.category_id OR sqp_demo.u(x.k, g.seed::bigint * 1000 + 130) < 0.91;
    ALTER TABLE sqp_demo.pairs ADD PRIMARY KEY (asin_id, query_id);
    ANALYZE sqp_demo.asins, sqp_demo.queries, sqp_demo.pairs`);
}

/**
 * New data arriving at the demo source: appends the weeks (and report days) that have become
 * complete by `now`, and rewrites `revisions` ASIN rows of the last two weeks as late
 * corrections (fresh ASIN counts, updated_at = now), with their brand rows.
 */
export async function advanceDemoSource(pool: pg.Pool, options: { now?: Date; revisions?: number } = {}): Promise<DemoAdvanceResult> {
  const now = (options.now ?? new Date()).toISOString();
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    await client.query(`SELECT ${LOCK}`);
    const marker = await readMarker(client);
    if (!marker) throw new Error('demo source: sqp_demo is missing or incomplete; call ensureDemoSource first');
    const plan = (await client.query<{ week_from: string; week_to: string; day_from: string; day_to: string }>(
      `SELECT (g.last_week + 7)::text AS week_from, (t.today - extract(dow FROM t.today)::int - 7)::text AS week_to,
              (g.last_day + 1)::text AS day_from, (t.today - 1)::text AS day_to
       FROM sqp_demo.generated g CROSS JOIN (SELECT ($1::timestamptz AT TIME ZONE 'UTC')::date AS today) t`,
      [now],
    )).rows[0]!;
    const revision = marker.revision + 1;
    const weeks = await client.query<{ d: string }>(`SELECT d::date::text AS d FROM generate_series($1::date::timestamp, $2::date::timestamp, interval '7 days') d`, [plan.week_from, plan.week_to]);
    const days = await client.query<{ d: string }>(`SELECT d::date::text AS d FROM generate_series($1::date::timestamp, $2::date::timestamp, interval '1 day') d`, [plan.day_from, plan.day_to]);

    // Late corrections first, among the weeks published before this call.
    const revisedAsin = await client.query(
      `WITH picked AS (
         SELECT p.asin_id, p.query_id, t.start_date
         FROM sqp_demo.asin_performance_data t
         JOIN sqp_demo.asins a ON a.asin = t.asin
         JOIN sqp_demo.queries q ON q.search_query = t.search_query
         JOIN sqp_demo.pairs p ON (p.asin_id, p.query_id) = (a.asin_id, q.query_id)
         CROSS JOIN sqp_demo.generated g
         WHERE t.start_date > $3::date - 14 AND t.clicks_asin_count > 0
         ORDER BY sqp_demo.u((a.asin_id::bigint << 36) | (q.query_id::bigint << 16) | ((t.start_date - date '2000-01-02') / 7),
                             (hashint8extended($2::bigint, g.seed) >> 12) + 20), a.asin_id, q.query_id, t.start_date
         LIMIT $4)
       UPDATE sqp_demo.asin_performance_data t
       SET (${ASIN_COLUMNS.join(', ')}) = (${ASIN_COLUMNS.map((c) => (c === 'updated_at' ? '$1::timestamptz' : `r.${c}`)).join(', ')})
       FROM (SELECT ${ASIN_COLUMNS.map((c, i) => `x.c${i} AS ${c}`).join(', ')}
             FROM (${asinRowsSql('(p.asin_id, p.query_id, qw.start_date) IN (SELECT asin_id, query_id, start_date FROM picked)')})
                  AS x(${ASIN_COLUMNS.map((_, i) => `c${i}`).join(', ')})) r
       WHERE (t.asin, t.search_query, t.start_date) = (r.asin, r.search_query, r.start_date)`,
      [now, revision, marker.last_week, options.revisions ?? REVISIONS],
    );
    let weekRows = 0;
    if (weeks.rows.length) {
      await client.query(INSERT_QUERY_WEEKS, [plan.week_from, plan.week_to]);
      weekRows = (await client.query(`INSERT INTO sqp_demo.asin_performance_data (${ASIN_COLUMNS.join(', ')}) ${asinRowsSql('qw.start_date >= $3::date')}`, [now, 0, plan.week_from])).rowCount ?? 0;
    }
    const brand = await client.query(upsertBrandRowsSql(`start_date > $1::date - 14`), [marker.last_week]);
    const dailyRows = days.rows.length ? (await client.query(INSERT_DAILY, [plan.day_from, plan.day_to, now])).rowCount ?? 0 : 0;
    const brandNew = weeks.rows.length
      ? Number((await client.query<{ n: string }>(`SELECT count(*) AS n FROM sqp_demo.search_query_performance WHERE start_date >= $1::date`, [plan.week_from])).rows[0]!.n)
      : 0;
    const rows = (await client.query<{ rows: Record<string, number> }>(ROW_COUNTS)).rows[0]!.rows;
    await client.query(
      `UPDATE sqp_demo.generated SET revision = $1, advanced_at = $2::timestamptz, row_counts = $3,
              last_week = greatest(last_week, $4::date), last_day = greatest(last_day, $5::date)`,
      [revision, now, rows, plan.week_to, plan.day_to],
    );
    await client.query('COMMIT');
    return {
      weeksAdded: weeks.rows.map((r) => r.d),
      daysAdded: days.rows.map((r) => r.d),
      inserted: { asin_performance_data: weekRows, search_query_performance: brandNew, daily_sqp_data: dailyRows },
      revised: { asin_performance_data: revisedAsin.rowCount ?? 0, search_query_performance: (brand.rowCount ?? 0) - brandNew },
      rows,
    };
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
}

// `since` is NULL on an incremental table's first run (read everything), then the last
// watermark minus the lookback, as ISO text: CAST makes one query serve both.
const select = (columns: string[], table: string, where?: string) =>
  `SELECT ${columns.join(', ')} FROM sqp_demo.${table}${where ? ` WHERE ${where}` : ''}`;

/** custom_sync_params of the eight sqp tables when they refresh from sqp_demo. */
export function demoSyncParams(): Record<string, SyncParamsInput> {
  const summary = (transform: 'weekly_summary' | 'monthly_summary' | 'quarterly_summary' | 'yearly_summary' | 'search_performance_summary'): SyncParamsInput => ({
    source: { type: 'sql', transform, parentTable: 'asin_performance_data' },
    // Incremental: only the periods (pairs) whose parent rows changed are recomputed.
    mode: 'incremental',
    deleteMissing: true,
  });
  return {
    asin_performance_data: {
      source: { type: 'postgres', query: select(ASIN_COLUMNS, 'asin_performance_data', `updated_at >= COALESCE(CAST(@since AS timestamptz), '-infinity')`) },
      keyColumns: ['asin', 'search_query', 'start_date'],
      mode: 'incremental',
      cursorColumn: 'updated_at',
      // Corrections can arrive stamped a little before the newest row already read.
      lookbackHours: 48,
    },
    search_query_performance: {
      source: { type: 'postgres', query: select(BRAND_COLUMNS, 'search_query_performance') },
      keyColumns: ['search_query', 'start_date'],
      mode: 'full',
      deleteMissing: true,
    },
    daily_sqp_data: {
      source: { type: 'postgres', query: select(DAILY_COLUMNS, 'daily_sqp_data', `report_date >= COALESCE(CAST(@since AS date), '-infinity')`) },
      keyColumns: ['asin', 'search_query', 'report_date'],
      mode: 'incremental',
      cursorColumn: 'report_date',
      // A date cursor: re-read the last two report days.
      lookbackHours: 48,
    },
    search_performance_summary: summary('search_performance_summary'),
    weekly_summary: summary('weekly_summary'),
    monthly_summary: summary('monthly_summary'),
    quarterly_summary: summary('quarterly_summary'),
    yearly_summary: summary('yearly_summary'),
  };
}

/**
 * Writes demoSyncParams() into sqp.refresh_config where a table still has no params ('{}' or
 * NULL; an operator's params are never overwritten) and makes those tables due now.
 * Returns the table names updated.
 */
export async function applyDemoSyncParams(pool: pg.Pool): Promise<string[]> {
  const params = demoSyncParams();
  for (const value of Object.values(params)) parseSyncParams(value);
  const result = await pool.query<{ table_name: string }>(
    `UPDATE sqp.refresh_config c
     SET custom_sync_params = p.value, next_refresh_at = now()
     FROM jsonb_each($1::jsonb) AS p(name, value)
     WHERE c.table_schema = 'sqp' AND c.table_name = p.name
       AND COALESCE(c.custom_sync_params, '{}'::jsonb) = '{}'::jsonb
     RETURNING c.table_name`,
    [JSON.stringify(params)],
  );
  return result.rows.map((r) => r.table_name).sort();
}
