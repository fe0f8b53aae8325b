// QualityMetric: one data-quality measurement of one run (sqp.refresh_data_quality).
import { db } from '../db.ts';
import { builder } from './builder.ts';

const decimal = (v: { toString(): string } | null) => (v == null ? null : Number(v.toString()));

builder.prismaNode('QualityMetric', {
  id: { field: 'id' },
  // node(id:) of a row that does not exist (deleted, or never was) is null, not an error.
  nullable: true,
  description: 'A data-quality measurement of a run, with what was expected and the allowed range.',
  fields: (t) => ({
    databaseId: t.exposeInt('id'),
    metricName: t.exposeString('metricName'),
    metricValue: t.float({ nullable: true, resolve: (m) => decimal(m.metricValue) }),
    expectedValue: t.float({ nullable: true, resolve: (m) => decimal(m.expectedValue) }),
    thresholdMin: t.float({ nullable: true, resolve: (m) => decimal(m.thresholdMin) }),
    thresholdMax: t.float({ nullable: true, resolve: (m) => decimal(m.thresholdMax) }),
    isWithinThreshold: t.exposeBoolean('isWithinThreshold', { nullable: true }),
    createdAt: t.expose('createdAt', { type: 'DateTime', nullable: true }),
    run: t.relation('run', { nullable: true }),
  }),
});

const QualityMetricFilter = builder.inputType('QualityMetricFilter', {
  fields: (t) => ({
    isWithinThreshold: t.boolean(),
    metricName: t.string(),
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
    args: { filter: t.arg({ type: QualityMetricFilter, required: false }) },
    totalCount: (_root, args) => db().prisma.qualityMetric.count({ where: metricWhere(args.filter) }),
    resolve: (query, _root, args) =>
      db().prisma.qualityMetric.findMany({
        ...query,
        where: metricWhere(args.filter),
        orderBy: { id: 'desc' },
      }),
  }),
}));
