// RefreshCheckpoint: where a running refresh has got to (sqp.refresh_checkpoints).
import { db } from '../db.ts';
import { builder } from './builder.ts';
import { CheckpointStatus, type CheckpointStatusValue } from './enums.ts';

builder.prismaNode('RefreshCheckpoint', {
  id: { field: 'id' },
  // node(id:) of a row that does not exist (deleted, or never was) is null, not an error.
  nullable: true,
  description: 'Where a refresh has got to, so that it can resume after a crash or a time budget.',
  fields: (t) => ({
    databaseId: t.exposeInt('id'),
    functionName: t.exposeString('functionName', { description: 'The worker that wrote it.' }),
    tableSchema: t.exposeString('tableSchema'),
    tableName: t.exposeString('tableName'),
    checkpointData: t.expose('checkpointData', { type: 'JSON' }),
    lastProcessedRow: t.expose('lastProcessedRow', { type: 'BigInt', nullable: true }),
    totalRows: t.expose('totalRows', { type: 'BigInt', nullable: true }),
    status: t.field({
      type: CheckpointStatus,
      nullable: true,
      resolve: (c) => (c.status as CheckpointStatusValue | null) ?? null,
    }),
    createdAt: t.expose('createdAt', { type: 'DateTime', nullable: true }),
    updatedAt: t.expose('updatedAt', { type: 'DateTime', nullable: true }),
    expiresAt: t.expose('expiresAt', { type: 'DateTime', nullable: true }),
  }),
});

const RefreshCheckpointFilter = builder.inputType('RefreshCheckpointFilter', {
  fields: (t) => ({
    status: t.field({ type: CheckpointStatus }),
    tableSchema: t.string(),
    tableName: t.string(),
  }),
});

function checkpointWhere(f: { status?: CheckpointStatusValue | null; tableSchema?: string | null; tableName?: string | null } | null | undefined) {
  return {
    ...(f?.status ? { status: f.status } : {}),
    ...(f?.tableSchema ? { tableSchema: f.tableSchema } : {}),
    ...(f?.tableName ? { tableName: f.tableName } : {}),
  };
}

builder.queryFields((t) => ({
  refreshCheckpoints: t.prismaConnection({
    type: 'RefreshCheckpoint',
    cursor: 'id',
    description: 'Checkpoints, most recently updated first.',
    args: { filter: t.arg({ type: RefreshCheckpointFilter, required: false }) },
    totalCount: (_root, args) => db().prisma.refreshCheckpoint.count({ where: checkpointWhere(args.filter) }),
    resolve: (query, _root, args) =>
      db().prisma.refreshCheckpoint.findMany({
        ...query,
        where: checkpointWhere(args.filter),
        orderBy: [{ updatedAt: 'desc' }, { id: 'desc' }],
      }),
  }),
}));
