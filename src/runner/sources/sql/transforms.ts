// The `sql` transforms: summary tables recomputed from their parent inside PostgreSQL. An
// incremental run recomputes only the periods (or ASIN × query pairs) that have parent rows
// changed since the watermark; `window` is that set, so deletes and quality stay inside it. A
// backfill names a range of the parent's report weeks instead: the periods (pairs) with parent
// rows in it are recomputed, and no others.
import { quoteIdent } from '../../engine/catalog.ts';
import type { InDatabaseRead } from '../source.ts';

export type TransformName = 'weekly_summary' | 'monthly_summary' | 'quarterly_summary' | 'yearly_summary' | 'search_performance_summary';

const PERIOD = { weekly_summary: 'week', monthly_summary: 'month', quarterly_summary: 'quarter', yearly_summary: 'year' } as const;
const LENGTH = { week: '7 days', month: '1 month', quarter: '3 months', year: '1 year' } as const;

function share(asin: string, total: string) {
  return `round(100.0 * sum(${asin}) / nullif(sum(${total}), 0), 4)`;
}

/**
 * Plans a transform of `parentSchema.parentTable` into a summary table: its columns (all in the
 * summary tables of 030_sqp_tables), the window, and the parent's newest change as the next
 * watermark. With `deleteMissing`, the window also holds the summary rows whose parent rows
 * are all gone: no changed parent row points at them any more, and they would otherwise
 * outlive their data.
 */
export function planTransform(name: TransformName, parentSchema: string, parentTable: string, options: { deleteMissing: boolean }): InDatabaseRead {
  const parent = `${quoteIdent(parentSchema)}.${quoteIdent(parentTable)}`;
  const orVanished = (match: string) => (options.deleteMissing ? ` OR NOT EXISTS (SELECT 1 FROM ${parent} p WHERE ${match})` : '');
  // $1: the watermark, $2 and $3: a backfill's range of parent start dates [from, to); all NULL:
  // everything. Strictly after the watermark (the newest parent change the previous run saw);
  // late commits with older timestamps are what `lookbackHours` is for.
  const everything = `($1::timestamptz IS NULL AND $2::date IS NULL)`;
  const changed = `CASE WHEN $2::date IS NOT NULL THEN p.start_date >= $2::date AND p.start_date < $3::date ELSE p.updated_at > $1::timestamptz END`;
  if (name === 'search_performance_summary') {
    const pairsChanged = `(${everything} OR (asin, search_query) IN (SELECT p.asin, p.search_query FROM ${parent} p WHERE ${changed}))`;
    return {
      columns: [
        'asin', 'search_query', 'first_week', 'last_week', 'weeks_present', 'search_query_volume',
        'impressions_asin_count', 'clicks_asin_count', 'cart_adds_asin_count', 'purchases_asin_count',
        'avg_impressions_asin_share', 'avg_clicks_asin_share', 'avg_purchases_asin_share',
        'click_through_rate', 'conversion_rate',
      ],
      keyColumns: ['asin', 'search_query'],
      select: `
        SELECT asin, search_query, min(start_date), max(start_date), count(*)::int, sum(search_query_volume),
               sum(impressions_asin_count), sum(clicks_asin_count), sum(cart_adds_asin_count), sum(purchases_asin_count),
               round(avg(impressions_asin_share), 4), round(avg(clicks_asin_share), 4), round(avg(purchases_asin_share), 4),
               round(sum(clicks_asin_count)::numeric / nullif(sum(impressions_asin_count), 0), 6),
               round(sum(purchases_asin_count)::numeric / nullif(sum(clicks_asin_count), 0), 6)
        FROM ${parent}
        WHERE ${pairsChanged}
        GROUP BY asin, search_query`,
      window: `(${everything} OR (t.asin, t.search_query) IN (SELECT p.asin, p.search_query FROM ${parent} p WHERE ${changed})${orVanished('p.asin = t.asin AND p.search_query = t.search_query')})`,
      watermark: `SELECT max(updated_at)::text AS w FROM ${parent}`,
    };
  }
  const unit = PERIOD[name];
  // SQP weeks start on Sunday and are reported as such: a weekly period is the report week.
  const start = unit === 'week' ? 'start_date' : `date_trunc('${unit}', start_date)::date`;
  const end = unit === 'week' ? 'max(end_date)' : `(date_trunc('${unit}', start_date) + interval '${LENGTH[unit]}' - interval '1 day')::date`;
  const periodsChanged = `(SELECT DISTINCT ${start.replaceAll('start_date', 'p.start_date')} FROM ${parent} p WHERE ${changed})`;
  return {
    columns: [
      'asin', 'period_start', 'period_end', 'query_count', 'search_query_volume',
      'impressions_total_count', 'impressions_asin_count', 'impressions_asin_share',
      'clicks_total_count', 'clicks_asin_count', 'clicks_asin_share',
      'cart_adds_total_count', 'cart_adds_asin_count', 'cart_adds_asin_share',
      'purchases_total_count', 'purchases_asin_count', 'purchases_asin_share',
    ],
    keyColumns: ['asin', 'period_start'],
    select: `
      SELECT asin, ${start}, ${end}, count(DISTINCT search_query)::int, sum(search_query_volume),
             sum(impressions_total_count), sum(impressions_asin_count), ${share('impressions_asin_count', 'impressions_total_count')},
             sum(clicks_total_count), sum(clicks_asin_count), ${share('clicks_asin_count', 'clicks_total_count')},
             sum(cart_adds_total_count), sum(cart_adds_asin_count), ${share('cart_adds_asin_count', 'cart_adds_total_count')},
             sum(purchases_total_count), sum(purchases_asin_count), ${share('purchases_asin_count', 'purchases_total_count')}
      FROM ${parent}
      WHERE ${everything} OR ${start} IN ${periodsChanged}
      GROUP BY asin, ${start}${unit === 'week' ? '' : `, date_trunc('${unit}', start_date)`}`,
    window: `(${everything} OR t.period_start IN ${periodsChanged}${orVanished('p.asin = t.asin AND p.start_date BETWEEN t.period_start AND t.period_end')})`,
    watermark: `SELECT max(updated_at)::text AS w FROM ${parent}`,
  };
}
