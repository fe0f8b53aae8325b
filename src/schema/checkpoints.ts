// RefreshCheckpoint: where a running refresh has got to (sqp.refresh_checkpoints).
import { builder } from './builder.ts';
import { CheckpointStatus, type CheckpointStatusValue } from './enums.ts';

builder.prismaNode('RefreshCheckpoint', {
  id: { field: 'id' },
  // node(id:) of a row that does not exist (deleted, or never was) is null, not an error.
  nullable: true,
  description: 'Where a refresh has got to, so that it can resume after a crash or a time budget.',
  fields: (t) => ({
    databaseId: t.exposeInt('id', { description: 'The row id in sqp.refresh_checkpoints.' }),
    functionName: t.exposeString('functionName', { description: 'The worker that wrote it.' }),
    tableSchema: t.exposeString('tableSchema', { description: 'Schema of the table being refreshed.' }),
    tableName: t.exposeString('tableName', { description: 'Name of the table being refreshed.' }),
    checkpointData: t.expose('checkpointData', { type: 'JSON', description: 'What a resumed run needs: the source position (page token, BigQuery job), mode and watermarks.' }),
    lastProcessedRow: t.expose('lastProcessedRow', { type: 'BigInt', nullable: true, description: 'Rows committed so far.' }),
    totalRows: t.expose('totalRows', { type: 'BigInt', nullable: true, description: 'Rows the source holds in all, when it says.' }),
    status: t.field({
      type: CheckpointStatus,
      nullable: true,
      description: 'ACTIVE while the refresh can resume from it, then COMPLETED or EXPIRED.',
      resolve: (c) => (c.status as CheckpointStatusValue | null) ?? null,
    }),
    createdAt: t.expose('createdAt', { type: 'DateTime', nullable: true, description: 'When the refresh started writing it.' }),
    updatedAt: t.expose('updatedAt', { type: 'DateTime', nullable: true, description: 'When a page was last committed with it.' }),
    expiresAt: t.expose('expiresAt', { type: 'DateTime', nullable: true, description: 'After this, a refresh starts afresh instead of resuming from it.' }),
  }),
});

const RefreshCheckpointFilter = builder.inputType('RefreshCheckpointFilter', {
  description: 'Which checkpoints to list; every field given must hold.',
  fields: (t) => ({
    status: t.field({ type: CheckpointStatus, description: 'Only checkpoints with this status.' }),
    tableSchema: t.string({ description: 'Only checkpoints of tables of this schema.' }),
    tableName: t.string({ description: 'Only checkpoints of tables of this name.' }),
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
    args: { filter: t.arg({ type: RefreshCheckpointFilter, required: false, description: 'Which checkpoints; default all.' }) },
    totalCount: (_root, args, ctx) => ctx.db.prisma.refreshCheckpoint.count({ where: checkpointWhere(args.filter) }),
    resolve: (query, _root, args, ctx) =>
      ctx.db.prisma.refreshCheckpoint.findMany({
        ...query,
        where: checkpointWhere(args.filter),
        orderBy: [{ updatedAt: 'desc' }, { id: 'desc' }],
      }),
  },
  { description: 'A page of checkpoints, most recently updated first.' },
  { description: 'A checkpoint, with its cursor.' }),
}));
