// RefreshConfig: a table that sqp-refresh keeps fresh, with its place in the dependency graph.
import type { Prisma } from '../generated/prisma/client.ts';
import { db } from '../db.ts';
import { builder } from './builder.ts';
import { RefreshRunRef } from './runs.ts';

export const RefreshConfigRef = builder.prismaNode('RefreshConfig', {
  id: { field: 'id' },
  // node(id:) of a row that does not exist (deleted, or never was) is null, not an error.
  nullable: true,
  description: 'A table that sqp-refresh keeps fresh (a row of sqp.refresh_config).',
  fields: (t) => ({
    databaseId: t.exposeInt('id', { description: 'The row id in sqp.refresh_config.' }),
    tableSchema: t.exposeString('tableSchema'),
    tableName: t.exposeString('tableName'),
    isEnabled: t.boolean({ resolve: (c) => c.isEnabled ?? true }),
    refreshFrequencyHours: t.int({ resolve: (c) => c.refreshFrequencyHours ?? 24 }),
    priority: t.int({ description: 'Higher runs first.', resolve: (c) => c.priority ?? 100 }),
    lastRefreshAt: t.expose('lastRefreshAt', { type: 'DateTime', nullable: true }),
    nextRefreshAt: t.expose('nextRefreshAt', { type: 'DateTime', nullable: true }),
    customSyncParams: t.expose('customSyncParams', { type: 'JSON', nullable: true }),
    dependencies: t.stringList({
      description: 'Names of the parents, derived from the dependency edges (never disagrees with them).',
      resolve: (c) => c.dependencies,
    }),
    createdAt: t.expose('createdAt', { type: 'DateTime', nullable: true }),
    updatedAt: t.expose('updatedAt', { type: 'DateTime', nullable: true }),
  }),
});

const NEWEST_FIRST = [{ refreshStartedAt: 'desc' }, { id: 'desc' }] as const satisfies Prisma.RefreshRunOrderByWithRelationInput[];

// Relations are added once the type exists, so that fields can name it (no circular type).
builder.prismaObjectFields(RefreshConfigRef, (t) => ({
    parents: t.field({
      type: [RefreshConfigRef],
      description: 'The tables this one is built from.',
      select: (_args, _ctx, nested) => ({
        parentEdges: { select: { parent: nested(true) }, orderBy: { id: 'asc' } },
      }),
      resolve: (c) => c.parentEdges.flatMap((e) => (e.parent ? [e.parent] : [])),
    }),
    dependents: t.field({
      type: [RefreshConfigRef],
      description: 'The tables built from this one.',
      select: (_args, _ctx, nested) => ({
        dependentEdges: { select: { dependent: nested(true) }, orderBy: { id: 'asc' } },
      }),
      resolve: (c) => c.dependentEdges.flatMap((e) => (e.dependent ? [e.dependent] : [])),
    }),
    parentDependencies: t.relation('parentEdges', {
      description: 'The edges to the parents, with their dependency type.',
      query: { orderBy: { id: 'asc' } },
    }),
    dependentDependencies: t.relation('dependentEdges', {
      description: 'The edges to the dependents, with their dependency type.',
      query: { orderBy: { id: 'asc' } },
    }),
    runs: t.relatedConnection('runs', {
      cursor: 'id',
      description: 'Refresh runs of this table, newest first.',
      query: { orderBy: NEWEST_FIRST },
      totalCount: true,
    }),
    latestRun: t.field({
      type: RefreshRunRef,
      nullable: true,
      description: 'The newest run of this table, if any.',
      select: (_args, _ctx, nested) => ({
        runs: nested({ take: 1, orderBy: NEWEST_FIRST }),
      }),
      resolve: (c) => c.runs[0] ?? null,
    }),
}));

const RefreshConfigFilter = builder.inputType('RefreshConfigFilter', {
  fields: (t) => ({
    isEnabled: t.boolean(),
    tableSchema: t.string(),
    due: t.boolean({ description: 'true: enabled and next_refresh_at has passed; false: not due.' }),
    search: t.string({ description: 'Part of the table name, case-insensitive.' }),
  }),
});

/** Translates the GraphQL filter into a Prisma where clause (shared with services). */
function refreshConfigWhere(
  filter: { isEnabled?: boolean | null; tableSchema?: string | null; due?: boolean | null; search?: string | null } | null | undefined,
  now = new Date(),
): Prisma.RefreshConfigWhereInput {
  const and: Prisma.RefreshConfigWhereInput[] = [];
  if (filter?.isEnabled != null) and.push({ isEnabled: filter.isEnabled });
  if (filter?.tableSchema) and.push({ tableSchema: filter.tableSchema });
  if (filter?.search) and.push({ tableName: { contains: filter.search, mode: 'insensitive' } });
  if (filter?.due === true) and.push({ isEnabled: true, nextRefreshAt: { lte: now } });
  if (filter?.due === false) {
    and.push({ OR: [{ isEnabled: false }, { nextRefreshAt: null }, { nextRefreshAt: { gt: now } }] });
  }
  return { AND: and };
}

builder.queryFields((t) => ({
  refreshConfigs: t.prismaConnection({
    type: 'RefreshConfig',
    cursor: 'id',
    description: 'Registered tables, highest priority first, then soonest next refresh.',
    args: { filter: t.arg({ type: RefreshConfigFilter, required: false }) },
    totalCount: (_root, args) => db().prisma.refreshConfig.count({ where: refreshConfigWhere(args.filter) }),
    resolve: (query, _root, args) =>
      db().prisma.refreshConfig.findMany({
        ...query,
        where: refreshConfigWhere(args.filter),
        orderBy: [{ priority: 'desc' }, { nextRefreshAt: { sort: 'asc', nulls: 'last' } }, { id: 'asc' }],
      }),
  }),
  refreshConfig: t.prismaField({
    type: 'RefreshConfig',
    nullable: true,
    description: 'One registered table by its schema and name.',
    args: {
      tableSchema: t.arg.string({ required: true }),
      tableName: t.arg.string({ required: true }),
    },
    resolve: (query, _root, args) =>
      db().prisma.refreshConfig.findUnique({
        ...query,
        where: { tableSchema_tableName: { tableSchema: args.tableSchema, tableName: args.tableName } },
      }),
  }),
}));
