// RefreshRun: one refresh of one table (a row of sqp.refresh_audit_log).
import type { Prisma } from '../generated/prisma/client.ts';
import { db } from '../db.ts';
import { builder } from './builder.ts';
import { RefreshStatus, RunOutcome, runOutcome, type RefreshStatusValue } from './enums.ts';

export const RefreshRunRef = builder.prismaNode('RefreshRun', {
  id: { field: 'id' },
  // node(id:) of a row that does not exist (deleted, or never was) is null, not an error.
  nullable: true,
  description: 'One refresh of one table: a row of sqp.refresh_audit_log.',
  fields: (t) => ({
    databaseId: t.exposeInt('id', { description: 'The row id in sqp.refresh_audit_log.' }),
    tableSchema: t.exposeString('tableSchema'),
    tableName: t.exposeString('tableName'),
    refreshStartedAt: t.expose('refreshStartedAt', { type: 'DateTime' }),
    refreshCompletedAt: t.expose('refreshCompletedAt', { type: 'DateTime', nullable: true }),
    status: t.field({
      type: RefreshStatus,
      nullable: true,
      resolve: (r) => (r.status as RefreshStatusValue | null) ?? null,
    }),
    outcome: t.field({
      type: RunOutcome,
      nullable: true,
      description: 'How it ended (completed, unchanged, paused, cancelled, failed); null while it runs.',
      resolve: (r) => runOutcome(r.status, r.syncMetadata),
    }),
    rowsProcessed: t.exposeInt('rowsProcessed', { nullable: true }),
    rowsInserted: t.exposeInt('rowsInserted', { nullable: true }),
    rowsUpdated: t.exposeInt('rowsUpdated', { nullable: true }),
    rowsDeleted: t.exposeInt('rowsDeleted', { nullable: true }),
    executionTimeMs: t.exposeInt('executionTimeMs', { nullable: true }),
    memoryUsedMb: t.float({ nullable: true, resolve: (r) => (r.memoryUsedMb == null ? null : Number(r.memoryUsedMb)) }),
    errorMessage: t.exposeString('errorMessage', { nullable: true }),
    errorDetails: t.expose('errorDetails', { type: 'JSON', nullable: true }),
    bigqueryJobId: t.exposeString('bigqueryJobId', { nullable: true }),
    syncMetadata: t.expose('syncMetadata', { type: 'JSON', nullable: true }),
    createdAt: t.expose('createdAt', { type: 'DateTime', nullable: true }),
    config: t.relation('config', { nullable: true, description: 'The config, unless it was deleted since.' }),
    qualityMetrics: t.relation('qualityMetrics', { query: { orderBy: { id: 'asc' } } }),
  }),
});

const RefreshRunFilter = builder.inputType('RefreshRunFilter', {
  fields: (t) => ({
    status: t.field({ type: RefreshStatus }),
    tableSchema: t.string(),
    tableName: t.string(),
    since: t.field({ type: 'DateTime', description: 'Runs started at or after this instant.' }),
  }),
});

type RunFilter = { status?: RefreshStatusValue | null; tableSchema?: string | null; tableName?: string | null; since?: Date | null };

function refreshRunWhere(f: RunFilter | null | undefined): Prisma.RefreshRunWhereInput {
  return {
    ...(f?.status ? { status: f.status } : {}),
    ...(f?.tableSchema ? { tableSchema: f.tableSchema } : {}),
    ...(f?.tableName ? { tableName: f.tableName } : {}),
    ...(f?.since ? { refreshStartedAt: { gte: f.since } } : {}),
  };
}

builder.queryFields((t) => ({
  refreshRuns: t.prismaConnection({
    type: 'RefreshRun',
    cursor: 'id',
    description: 'Refresh runs, newest first.',
    args: { filter: t.arg({ type: RefreshRunFilter, required: false }) },
    totalCount: (_root, args) => db().prisma.refreshRun.count({ where: refreshRunWhere(args.filter) }),
    resolve: (query, _root, args) =>
      db().prisma.refreshRun.findMany({ ...query, where: refreshRunWhere(args.filter), orderBy: [{ refreshStartedAt: 'desc' }, { id: 'desc' }] }),
  }),
}));
