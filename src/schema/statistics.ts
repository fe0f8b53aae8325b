// refreshRunStatistics: per table (and per hour, day or week when asked), how its runs went over
// a period — runs, outcomes, success rate, duration percentiles, rows, bytes billed — for trend
// panels. One SQL statement whatever the number of tables or buckets.
import { encodeGlobalID } from '@pothos/plugin-relay';
import { GraphQLError } from 'graphql';
import { builder } from './builder.ts';

/** At most this many rows per table (buckets in the period), so that one query stays small. */
const MAX_BUCKETS = 1000;

const BUCKET_MS = { hour: 3_600_000, day: 86_400_000, week: 7 * 86_400_000 } as const;
type Bucket = keyof typeof BUCKET_MS;

const StatisticsBucket = builder.enumType('StatisticsBucket', {
  description: 'The length of one row of statistics, in UTC (weeks start on Monday).',
  values: {
    HOUR: { value: 'hour', description: 'One row per table and hour.' },
    DAY: { value: 'day', description: 'One row per table and day.' },
    WEEK: { value: 'week', description: 'One row per table and ISO week.' },
  } as const,
});

interface StatisticsRow {
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

const TableRunStatistics = builder.objectRef<StatisticsRow>('TableRunStatistics').implement({
  description: 'How the finished runs of one table went within one period (or one bucket of it).',
  fields: (t) => ({
    configId: t.id({
      nullable: true,
      description: 'Global id of the RefreshConfig; null when the table is no longer registered.',
      resolve: (r) => (r.configId === null ? null : encodeGlobalID('RefreshConfig', r.configId)),
    }),
    tableSchema: t.exposeString('tableSchema', { description: 'Schema of the refreshed table.' }),
    tableName: t.exposeString('tableName', { description: 'Name of the refreshed table.' }),
    periodStart: t.expose('periodStart', { type: 'DateTime', description: 'Start of the period (or bucket), inclusive.' }),
    periodEnd: t.expose('periodEnd', { type: 'DateTime', description: 'End of the period (or bucket), exclusive.' }),
    runs: t.exposeInt('runs', { description: 'Runs that started in the period and have finished.' }),
    completed: t.exposeInt('completed', { description: 'Runs that completed (or found the source unchanged).' }),
    failed: t.exposeInt('failed', { description: 'Runs that failed: an error or a blocking quality check.' }),
    cancelled: t.exposeInt('cancelled', { description: 'Runs stopped because someone cancelled them.' }),
    paused: t.exposeInt('paused', { description: 'Runs stopped at a page boundary to be resumed (shutdown, time budget).' }),
    successRate: t.float({
      nullable: true,
      description: 'Share of runs that completed, completed / (completed + failed), from 0 to 1; cancels and pauses do not count against it. Null when neither happened.',
      resolve: (r) => (r.completed + r.failed === 0 ? null : r.completed / (r.completed + r.failed)),
    }),
    p50DurationMs: t.exposeFloat('p50DurationMs', { nullable: true, description: 'Median execution time of the completed runs, in milliseconds.' }),
    p95DurationMs: t.exposeFloat('p95DurationMs', { nullable: true, description: '95th percentile of the execution time of the completed runs, in milliseconds.' }),
    rowsProcessed: t.field({ type: 'BigInt', description: 'Rows read from the source by all its runs.', resolve: (r) => BigInt(r.rowsProcessed) }),
    bytesBilled: t.field({ type: 'BigInt', description: 'BigQuery bytes billed to all its runs (0 for other sources).', resolve: (r) => BigInt(r.bytesBilled) }),
  }),
});

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

builder.queryField('refreshRunStatistics', (t) =>
  t.field({
    type: [TableRunStatistics],
    description: 'How the runs of each table went over a period: outcomes, success rate, duration percentiles, rows and bytes billed; per bucket when one is given.',
    args: {
      since: t.arg({ type: 'DateTime', required: true, description: 'Runs that started at or after this instant.' }),
      until: t.arg({ type: 'DateTime', description: 'Runs that started before this instant; default now.' }),
      bucket: t.arg({ type: StatisticsBucket, description: 'Split the period into hours, days or weeks; default one row per table.' }),
      tableSchema: t.arg.string({ description: 'Only tables of this schema.' }),
      tableName: t.arg.string({ description: 'Only tables of this name.' }),
    },
    resolve: async (_root, args, ctx) => {
      const until = args.until ?? new Date();
      if (until <= args.since) throw new GraphQLError('until: must be after since', { extensions: { code: 'BAD_USER_INPUT', field: 'until' } });
      const bucket = (args.bucket ?? null) as Bucket | null;
      if (bucket && (until.getTime() - args.since.getTime()) / BUCKET_MS[bucket] > MAX_BUCKETS) {
        throw new GraphQLError(`bucket: the period holds more than ${MAX_BUCKETS} buckets; choose a larger bucket or a shorter period`, {
          extensions: { code: 'BAD_USER_INPUT', field: 'bucket' },
        });
      }
      const { rows } = await ctx.db.pool.query<StatisticsRow>(STATISTICS_SQL, [args.since, until, bucket, args.tableSchema ?? null, args.tableName ?? null]);
      return rows;
    },
  }),
);
