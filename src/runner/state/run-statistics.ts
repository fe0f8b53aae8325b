// How the runs of each table went over a period (per hour, day or week when asked): runs,
// outcomes, success rate's parts, duration percentiles, rows, bytes billed — read from the audit
// log in one statement whatever the number of tables or buckets. refreshRunStatistics shows it.
import type pg from 'pg';

/** The length of one row of statistics, in UTC (weeks start on Monday). */
export type StatisticsBucketName = 'hour' | 'day' | 'week';

export interface StatisticsRow {
  configId: number | null;
  tableSchema: string;
  tableName: string;
  periodStart: Date;
  periodEnd: Date;
  runs: number;
  completed: number;
  failed: number;
  cancelled: number;
  paused: number;
  p50DurationMs: number | null;
  p95DurationMs: number | null;
  rowsProcessed: string;
  bytesBilled: string;
}

// The outcome as RefreshRun.outcome reads it (enums.ts runOutcome): sync_metadata's, else what
// the status implies for rows written before the engine recorded it.
const STATISTICS_SQL = `
  WITH finished AS (
    SELECT a.refresh_config_id, a.table_schema, a.table_name, a.refresh_started_at, a.execution_time_ms, a.rows_processed,
           coalesce(a.sync_metadata->>'outcome', CASE WHEN a.status = 'failed' THEN 'failed' ELSE 'completed' END) AS outcome,
           coalesce((a.sync_metadata->>'bytesBilled')::numeric, 0) AS bytes_billed,
           CASE WHEN $3::text IS NULL THEN $1::timestamptz ELSE date_trunc($3::text, a.refresh_started_at, 'UTC') END AS period_start
    FROM sqp.refresh_audit_log a
    WHERE a.status <> 'running' AND a.refresh_started_at >= $1 AND a.refresh_started_at < $2
      AND ($4::text IS NULL OR a.table_schema = $4) AND ($5::text IS NULL OR a.table_name = $5)
  )
  SELECT max(refresh_config_id) AS "configId", table_schema AS "tableSchema", table_name AS "tableName",
         period_start AS "periodStart",
         CASE WHEN $3::text IS NULL THEN $2::timestamptz ELSE period_start + ('1 ' || $3::text)::interval END AS "periodEnd",
         count(*)::int AS runs,
         count(*) FILTER (WHERE outcome IN ('completed', 'unchanged'))::int AS completed,
         count(*) FILTER (WHERE outcome = 'failed')::int AS failed,
         count(*) FILTER (WHERE outcome = 'cancelled')::int AS cancelled,
         count(*) FILTER (WHERE outcome = 'paused')::int AS paused,
         percentile_cont(0.5) WITHIN GROUP (ORDER BY execution_time_ms) FILTER (WHERE outcome IN ('completed', 'unchanged')) AS "p50DurationMs",
         percentile_cont(0.95) WITHIN GROUP (ORDER BY execution_time_ms) FILTER (WHERE outcome IN ('completed', 'unchanged')) AS "p95DurationMs",
         coalesce(sum(rows_processed), 0)::text AS "rowsProcessed",
         sum(bytes_billed)::text AS "bytesBilled"
  FROM finished
  GROUP BY table_schema, table_name, period_start
  ORDER BY table_schema, table_name, period_start`;

/** Statistics of the runs that started in [since, until), per table (and bucket, when given). */
export async function readRunStatistics(
  db: pg.Pool | pg.ClientBase,
  q: { since: Date; until: Date; bucket: StatisticsBucketName | null; tableSchema: string | null; tableName: string | null },
): Promise<StatisticsRow[]> {
  const { rows } = await db.query<StatisticsRow>(STATISTICS_SQL, [q.since, q.until, q.bucket, q.tableSchema, q.tableName]);
  return rows;
}
