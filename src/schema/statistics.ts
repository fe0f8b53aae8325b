// refreshRunStatistics: per table (and per hour, day or week when asked), how its runs went over
// a period — runs, outcomes, success rate, duration percentiles, rows, bytes billed — for trend
// panels. The statement that computes them is the read model's (src/runner/state/run-statistics.ts).
import { encodeGlobalID } from '@pothos/plugin-relay';
import { GraphQLError } from 'graphql';
import { readRunStatistics, type StatisticsBucketName, type StatisticsRow } from '../runner/state/run-statistics.ts';
import { builder } from './builder.ts';

/** At most this many rows per table (buckets in the period), so that one query stays small. */
const MAX_BUCKETS = 1000;

const BUCKET_MS: Record<StatisticsBucketName, number> = { hour: 3_600_000, day: 86_400_000, week: 7 * 86_400_000 };

const StatisticsBucket = builder.enumType('StatisticsBucket', {
  description: 'The length of one row of statistics, in UTC (weeks start on Monday).',
  values: {
    HOUR: { value: 'hour', description: 'One row per table and hour.' },
    DAY: { value: 'day', description: 'One row per table and day.' },
    WEEK: { value: 'week', description: 'One row per table and ISO week.' },
  } as const,
});


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
      const bucket = (args.bucket ?? null) as StatisticsBucketName | null;
      if (bucket && (until.getTime() - args.since.getTime()) / BUCKET_MS[bucket] > MAX_BUCKETS) {
        throw new GraphQLError(`bucket: the period holds more than ${MAX_BUCKETS} buckets; choose a larger bucket or a shorter period`, {
          extensions: { code: 'BAD_USER_INPUT', field: 'bucket' },
        });
      }
      return readRunStatistics(ctx.db.pool, { since: args.since, until, bucket, tableSchema: args.tableSchema ?? null, tableName: args.tableName ?? null });
    },
  }),
);
