// Deterministic SQP-like rows for sqp.asin_performance_data, made on demand from their index
// (nothing is held: row i is computed when it is served), so that the BigQuery test server
// can serve millions of them and the SQL floor can COPY exactly the same rows.
//
// Row i: week w = floor(i / (Q·A)), ASIN a = floor(i / Q) mod A, the ASIN's q-th search
// query of that week (q = i mod Q). The key (asin, search_query, start_date) is unique by
// construction: the ASIN code and the query text are injective functions of a and of
// (a, q). Rows arrive week by week, so within a page the keys are spread over the index
// (as a BigQuery result without ORDER BY would be).
//
// Version 2 of the data (sqpRow(i, 2)) has the same keys and every other value different
// from version 1's: a refresh from version 1 to version 2 updates every row.
//
// Every value is already PostgreSQL text input (dates 'YYYY-MM-DD', BIGINT and INTEGER as
// decimal strings, NUMERIC as plain decimals), which is also what the BigQuery wire format
// carries for DATE, INT64 and NUMERIC: the engine's conversion returns these strings as
// they are, so COPY text built from them is exactly what the engine stages.
import type { FieldSpec } from '../test/support/bigquery-server.ts';

/** Queries per ASIN and week. */
const Q = 250;
/** ASINs. */
const A = 400;
/** Distinct search-query texts (Q of them per ASIN, different ASINs overlapping). */
const U = 20_000;

const SQP_COLUMNS: readonly { name: string; type: FieldSpec['type'] }[] = [
  { name: 'start_date', type: 'DATE' },
  { name: 'end_date', type: 'DATE' },
  { name: 'asin', type: 'STRING' },
  { name: 'search_query', type: 'STRING' },
  { name: 'search_query_score', type: 'INT64' },
  { name: 'search_query_volume', type: 'INT64' },
  { name: 'impressions_total_count', type: 'INT64' },
  { name: 'impressions_asin_count', type: 'INT64' },
  { name: 'impressions_asin_share', type: 'NUMERIC' },
  { name: 'clicks_total_count', type: 'INT64' },
  { name: 'clicks_click_rate', type: 'NUMERIC' },
  { name: 'clicks_asin_count', type: 'INT64' },
  { name: 'clicks_asin_share', type: 'NUMERIC' },
  { name: 'clicks_price_median', type: 'NUMERIC' },
  { name: 'clicks_asin_price_median', type: 'NUMERIC' },
  { name: 'cart_adds_total_count', type: 'INT64' },
  { name: 'cart_adds_add_rate', type: 'NUMERIC' },
  { name: 'cart_adds_asin_count', type: 'INT64' },
  { name: 'cart_adds_asin_share', type: 'NUMERIC' },
  { name: 'cart_adds_price_median', type: 'NUMERIC' },
  { name: 'cart_adds_asin_price_median', type: 'NUMERIC' },
  { name: 'purchases_total_count', type: 'INT64' },
  { name: 'purchases_purchase_rate', type: 'NUMERIC' },
  { name: 'purchases_asin_count', type: 'INT64' },
  { name: 'purchases_asin_share', type: 'NUMERIC' },
  { name: 'purchases_price_median', type: 'NUMERIC' },
  { name: 'purchases_asin_price_median', type: 'NUMERIC' },
];

export const SQP_SCHEMA: readonly FieldSpec[] = SQP_COLUMNS.map((c) => ({
  name: c.name,
  type: c.type,
  mode: ['start_date', 'end_date', 'asin', 'search_query'].includes(c.name) ? 'REQUIRED' : 'NULLABLE',
}));

export const SQP_COLUMN_NAMES: readonly string[] = SQP_COLUMNS.map((c) => c.name);
export const SQP_KEY: readonly string[] = ['asin', 'search_query', 'start_date'];

/** Which data: version 2 has version 1's keys with every other value changed. */
export type SqpVersion = 1 | 2;

/** The BigQuery query text of a read of `count` rows of a version (each gets its own fixture). */
export function sqpQuery(count: number, version: SqpVersion = 1): string {
  const table = version === 1 ? 'asin_performance_data' : 'asin_performance_data_v2';
  return `SELECT ${SQP_COLUMN_NAMES.join(', ')} FROM \`sqp-bench.sqp.${table}\` LIMIT ${count}`;
}

// ---- deterministic pieces ---------------------------------------------------------------

const W1 = ['wireless', 'bluetooth', 'kids', 'organic', 'stainless steel', 'portable', 'waterproof', 'rechargeable',
  'vegan', 'ergonomic', 'magnetic', 'foldable', 'cordless', 'smart', 'mini', 'heavy duty', 'bamboo', 'ceramic',
  'silicone', 'leather', 'led', 'usb c', 'non stick', 'reusable', 'cotton', 'memory foam', 'glass', 'wooden',
  'adjustable', 'insulated', 'travel', 'outdoor', 'gaming', 'baby', 'dog', 'cat', 'camping', 'kitchen', 'office', 'car'];
const W2 = ['earbuds', 'water bottle', 'phone case', 'charger', 'desk lamp', 'backpack', 'yoga mat', 'coffee maker',
  'blender', 'headphones', 'pillow', 'toothbrush', 'keyboard', 'mouse', 'speaker', 'watch band', 'sunglasses',
  'lunch box', 'shoes', 'socks', 'tumbler', 'air fryer', 'vacuum', 'toy', 'shampoo'];
const W3 = ['', ' for women', ' for men', ' for kids', ' 2 pack', ' set', ' large', ' small', ' black', ' white',
  ' pink', ' gift', ' under 20', ' best seller', ' 2024', ' replacement', ' with case', ' pro', ' xl', ' bulk'];
if (W1.length * W2.length * W3.length !== U) throw new Error('sqp-fixture: the vocabulary must spell exactly U queries');

const queryCache: (string | undefined)[] = new Array(U);
function queryText(id: number): string {
  let s = queryCache[id];
  if (s === undefined) {
    s = `${W1[id % W1.length]} ${W2[Math.floor(id / W1.length) % W2.length]}${W3[Math.floor(id / (W1.length * W2.length))]}`;
    queryCache[id] = s;
  }
  return s;
}

const asinCache: (string | undefined)[] = new Array(A);
function asinCode(a: number): string {
  let s = asinCache[a];
  if (s === undefined) {
    // Multiplying by an odd constant modulo 2^32 is a bijection: distinct a, distinct codes.
    s = `B0${(Math.imul(a + 1, 0x9e3779b1) >>> 0).toString(36).toUpperCase().padStart(8, '0')}`;
    asinCache[a] = s;
  }
  return s;
}

const DAY = 86_400_000;
const FIRST_WEEK = Date.UTC(2023, 0, 1); // a Sunday, as SQP weeks start
const weekCache: [string, string][] = [];
function week(w: number): [string, string] {
  let pair = weekCache[w];
  if (pair === undefined) {
    const start = FIRST_WEEK + w * 7 * DAY;
    pair = [new Date(start).toISOString().slice(0, 10), new Date(start + 6 * DAY).toISOString().slice(0, 10)];
    weekCache[w] = pair;
  }
  return pair;
}

/** A well-mixed 32-bit hash of (i, k), as a float in [0, 1). */
function rand(i: number, k: number): number {
  let x = (i * 32 + k) ^ 0x5bd1e995;
  x = Math.imul(x ^ (x >>> 16), 0x7feb352d);
  x = Math.imul(x ^ (x >>> 15), 0x846ca68b);
  return ((x ^ (x >>> 16)) >>> 0) / 4294967296;
}

const pct = (part: number, whole: number) => (whole > 0 ? ((part / whole) * 100).toFixed(4) : '0.0000');
const price = (r: number) => (4.99 + r * 195).toFixed(2);

/** Row i of a version as PostgreSQL text values in SQP_COLUMNS order (null: NULL). */
export function sqpRow(i: number, version: SqpVersion = 1): (string | null)[] {
  const row = sqpRowV1(i);
  return version === 1 ? row : row.map((v, c) => (SQP_KEY_INDEX.has(c) ? v : changed(SQP_COLUMNS[c]!.type, v)));
}

const SQP_KEY_INDEX = new Set(SQP_KEY.map((k) => SQP_COLUMN_NAMES.indexOf(k)));

/**
 * A version-2 value: a day later, one more, or one more in the integer part (the scale stays:
 * NUMERIC(7,4) shares stay below 1000); NULL becomes 0.
 */
function changed(type: FieldSpec['type'], v: string | null): string {
  if (v === null) return '0';
  switch (type) {
    case 'DATE':
      return new Date(Date.parse(`${v}T00:00:00Z`) + DAY).toISOString().slice(0, 10);
    case 'INT64':
      return String(Number(v) + 1);
    case 'NUMERIC': {
      const dot = v.indexOf('.');
      return dot < 0 ? String(Number(v) + 1) : `${Number(v.slice(0, dot)) + 1}${v.slice(dot)}`;
    }
    default:
      throw new Error(`sqp-fixture: no version-2 rule for ${type}`);
  }
}

function sqpRowV1(i: number): (string | null)[] {
  const q = i % Q;
  const a = Math.floor(i / Q) % A;
  const w = Math.floor(i / (Q * A));
  const [startDate, endDate] = week(w);
  // q → query id is injective for a fixed ASIN (7919 is prime to U), so keys are unique.
  const queryId = (q * 7919 + a * 104_729) % U;

  const volume = Math.floor(50 + rand(i, 1) ** 3 * 2_500_000);
  const impressionsTotal = Math.floor(volume * (4 + rand(i, 2) * 26));
  const impressionsAsin = Math.floor(impressionsTotal * rand(i, 3) * 0.25);
  const clicksTotal = Math.floor(volume * (0.2 + rand(i, 4) * 0.9));
  const clicksAsin = Math.floor(clicksTotal * rand(i, 5) * 0.3);
  const cartTotal = Math.floor(clicksTotal * (0.02 + rand(i, 6) * 0.2));
  const cartAsin = Math.floor(cartTotal * rand(i, 7) * 0.35);
  const purchasesTotal = Math.floor(cartTotal * (0.2 + rand(i, 8) * 0.5));
  const purchasesAsin = Math.floor(purchasesTotal * rand(i, 9) * 0.4);
  const median = rand(i, 10);
  return [
    startDate,
    endDate,
    asinCode(a),
    queryText(queryId),
    String(q + 1),
    String(volume),
    String(impressionsTotal),
    String(impressionsAsin),
    pct(impressionsAsin, impressionsTotal),
    String(clicksTotal),
    pct(clicksTotal, volume * 1.2),
    String(clicksAsin),
    pct(clicksAsin, clicksTotal),
    clicksTotal > 0 ? price(median) : null,
    clicksAsin > 0 ? price(median * (0.8 + rand(i, 11) * 0.4)) : null,
    String(cartTotal),
    pct(cartTotal, volume * 1.2),
    String(cartAsin),
    pct(cartAsin, cartTotal),
    cartTotal > 0 ? price(median * (0.9 + rand(i, 12) * 0.2)) : null,
    cartAsin > 0 ? price(median * (0.8 + rand(i, 13) * 0.4)) : null,
    String(purchasesTotal),
    pct(purchasesTotal, volume * 1.2),
    String(purchasesAsin),
    pct(purchasesAsin, purchasesTotal),
    purchasesTotal > 0 ? price(median * (0.9 + rand(i, 14) * 0.2)) : null,
    purchasesAsin > 0 ? price(median * (0.8 + rand(i, 15) * 0.4)) : null,
  ];
}

/** Rows [from, to) of a version as COPY text (no value needs escaping: no tab, newline or backslash). */
export function sqpCopyText(from: number, to: number, version: SqpVersion = 1): string {
  const lines: string[] = new Array(to - from);
  for (let i = from; i < to; i++) {
    const row = sqpRow(i, version);
    let line = '';
    for (let c = 0; c < row.length; c++) {
      if (c > 0) line += '\t';
      const v = row[c];
      line += v === null || v === undefined ? '\\N' : v;
    }
    lines[i - from] = line;
  }
  return lines.length ? `${lines.join('\n')}\n` : '';
}
