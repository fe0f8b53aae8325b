// QualityMetric: one data-quality measurement of one run (sqp.refresh_data_quality).
import { builder } from './builder.ts';

const decimal = (v: { toString(): string } | null) => (v == null ? null : Number(v.toString()));

builder.prismaNode('QualityMetric', {
  id: { field: 'id' },
  // node(id:) of a row that does not exist (deleted, or never was) is null, not an error.
  nullable: true,
  description: 'A data-quality measurement of a run, with what was expected and the allowed range.',
  fields: (t) => ({
    databaseId: t.exposeInt('id', { description: 'The row id in sqp.refresh_data_quality.' }),
    metricName: t.exposeString('metricName', { description: 'What was measured: row_count_match, null_keys, duplicate_keys, freshness_days, row_count_change, zero_rows, delete_ratio, …' }),
    metricValue: t.float({ nullable: true, description: 'The value measured on the staged rows.', resolve: (m) => decimal(m.metricValue) }),
    expectedValue: t.float({ nullable: true, description: 'The value it should have had, when one is known.', resolve: (m) => decimal(m.expectedValue) }),
    thresholdMin: t.float({ nullable: true, description: 'The least value allowed; null: no lower bound.', resolve: (m) => decimal(m.thresholdMin) }),
    thresholdMax: t.float({ nullable: true, description: 'The greatest value allowed; null: no upper bound.', resolve: (m) => decimal(m.thresholdMax) }),
    isWithinThreshold: t.exposeBoolean('isWithinThreshold', { nullable: true, description: 'The value lies within its bounds; false: a warning, or a failed run when the check blocks.' }),
    createdAt: t.expose('createdAt', { type: 'DateTime', nullable: true, description: 'When it was measured.' }),
    run: t.relation('run', { nullable: true, description: 'The refresh run it measured.' }),
  }),
});

const QualityMetricFilter = builder.inputType('QualityMetricFilter', {
  description: 'Which quality metrics to list; every field given must hold.',
  fields: (t) => ({
    isWithinThreshold: t.boolean({ description: 'Only metrics within (true) or outside (false) their bounds.' }),
    metricName: t.string({ description: 'Only metrics of this name.' }),
  }),
});

function metricWhere(f: { isWithinThreshold?: boolean | null; metricName?: string | null } | null | undefined) {
  return {
    ...(f?.isWithinThreshold != null ? { isWithinThreshold: f.isWithinThreshold } : {}),
    ...(f?.metricName ? { metricName: f.metricName } : {}),
  };
}

builder.queryFields((t) => ({
  qualityMetrics: t.prismaConnection({
    type: 'QualityMetric',
    cursor: 'id',
    description: 'Quality metrics, newest first.',
    args: { filter: t.arg({ type: QualityMetricFilter, required: false, description: 'Which metrics; default all.' }) },
    totalCount: (_root, args, ctx) => ctx.db.prisma.qualityMetric.count({ where: metricWhere(args.filter) }),
    resolve: (query, _root, args, ctx) =>
      ctx.db.prisma.qualityMetric.findMany({
        ...query,
        where: metricWhere(args.filter),
        orderBy: { id: 'desc' },
      }),
  },
  { description: 'A page of quality metrics, newest first.' },
  { description: 'A quality metric, with its cursor.' }),
}));
