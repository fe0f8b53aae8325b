// The tables' params: the custom_sync_params that point each of the eight sqp tables at
// sqp_demo (postgres sources over its three tables, sql transforms for the summaries), and
// writing them where an operator has set none.
import type pg from 'pg';
import { parseSyncParams, type SyncParamsInput } from '../params/sync-params.ts';
import { ASIN_COLUMNS, BRAND_COLUMNS, DAILY_COLUMNS } from './demo-rows.ts';
import { moveSchedule } from '../state/schedule-writer.ts';

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
      // The report week: what a backfill ranges over.
      partitionColumn: 'start_date',
      // Corrections can arrive stamped a little before the newest row already read.
      lookbackHours: 48,
    },
    search_query_performance: {
      source: { type: 'postgres', query: select(BRAND_COLUMNS, 'search_query_performance') },
      keyColumns: ['search_query', 'start_date'],
      mode: 'full',
      partitionColumn: 'start_date',
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
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    const result = await client.query<{ id: number; table_name: string; now: Date }>(
      `UPDATE sqp.refresh_config c
       SET custom_sync_params = p.value
       FROM jsonb_each($1::jsonb) AS p(name, value)
       WHERE c.table_schema = 'sqp' AND c.table_name = p.name
         AND COALESCE(c.custom_sync_params, '{}'::jsonb) = '{}'::jsonb
       RETURNING c.id, c.table_name, now() AS now`,
      [JSON.stringify(params)],
    );
    // Configured now, so due now: through the one writer of the schedule.
    for (const r of result.rows) await moveSchedule(client, r.id, { exactly: r.now });
    await client.query('COMMIT');
    return result.rows.map((r) => r.table_name).sort();
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
}
