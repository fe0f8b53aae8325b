// The generated schema of sqp_demo: the settings row (`sqp_demo.generated`, which is also the
// marker saying a complete current source is there), the SQL helper functions every generator
// uses, the dimensions (ASINs, queries, and which ASIN shows up for which query) and the empty
// source tables. The rows that fill those tables are demo-rows.ts's.
import type pg from 'pg';

/** Bump when the generated shape changes: an older sqp_demo is then rebuilt. */
const DEMO_VERSION = 1;
const DAILY_DAYS = 28;

/** The resolved options of one generation: what the settings row records. */
export interface DemoSettings {
  weeks: number;
  asins: number;
  queries: number;
  seed: number;
  now: Date;
}

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

export interface Marker {
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
export async function readMarker(client: pg.ClientBase): Promise<Marker | null> {
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

/** Helpers, settings row, dimensions and the empty source tables, in a freshly created sqp_demo. */
export async function createDemoSchema(client: pg.ClientBase, o: DemoSettings): Promise<void> {
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
