// RefreshConfig: a table that sqp-refresh keeps fresh, with its place in the dependency graph.
import type { Prisma } from '../generated/prisma/client.ts';
import { dueWhere } from '../runner/state/due.ts';
import { freshnessSlaHours } from '../runner/state/freshness.ts';
import { builder } from './builder.ts';
import { RefreshRunRef } from './runs.ts';

export const RefreshConfigRef = builder.prismaNode('RefreshConfig', {
  id: { field: 'id' },
  // node(id:) of a row that does not exist (deleted, or never was) is null, not an error.
  nullable: true,
  description: 'A table that sqp-refresh keeps fresh (a row of sqp.refresh_config).',
  fields: (t) => ({
    databaseId: t.exposeInt('id', { description: 'The row id in sqp.refresh_config.' }),
    tableSchema: t.exposeString('tableSchema', { description: 'Schema of the table kept fresh (e.g. sqp).' }),
    tableName: t.exposeString('tableName', { description: 'Name of the table kept fresh (e.g. asin_performance_data).' }),
    isEnabled: t.exposeBoolean('isEnabled', { description: 'The runner refreshes it on its schedule; false: only a forced refresh runs it.' }),
    refreshFrequencyHours: t.exposeInt('refreshFrequencyHours', { description: 'Hours from one successful refresh to the next.' }),
    priority: t.exposeInt('priority', { description: 'Among tables due at once, higher runs first (0 to 1000).' }),
    freshnessSlaHours: t.int({
      description: 'Hours within which a successful refresh is expected, or the table is LATE: its own (updateRefreshConfig), else twice refreshFrequencyHours.',
      resolve: (c) => freshnessSlaHours(c.freshnessSlaHours, c.refreshFrequencyHours),
    }),
    lastRefreshAt: t.expose('lastRefreshAt', { type: 'DateTime', nullable: true, description: 'When its latest successful refresh finished; null: never refreshed.' }),
    nextRefreshAt: t.expose('nextRefreshAt', { type: 'DateTime', nullable: true, description: 'When it is next due; the runner sets it after every run.' }),
    customSyncParams: t.expose('customSyncParams', {
      type: 'JSON',
      nullable: true,
      description: 'Where its rows come from and how they are loaded and checked: source, key, mode, page size, quality thresholds (see the README).',
    }),
    dependencies: t.stringList({
      description: 'Names of the parents, derived from the dependency edges (never disagrees with them).',
      resolve: (c) => c.dependencies,
    }),
    createdAt: t.expose('createdAt', { type: 'DateTime', nullable: true, description: 'When the table was registered.' }),
    updatedAt: t.expose('updatedAt', { type: 'DateTime', nullable: true, description: 'When its settings last changed.' }),
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
    },
    { description: 'A page of the refresh runs of one table, newest first.' },
    { description: 'A refresh run of the table, with its cursor.' }),
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
  description: 'Which registered tables to list; every field given must hold.',
  fields: (t) => ({
    isEnabled: t.boolean({ description: 'Only enabled (true) or disabled (false) tables.' }),
    tableSchema: t.string({ description: 'Only tables of this schema.' }),
    due: t.boolean({ description: 'true: due (enabled, configured with custom_sync_params, next_refresh_at passed), as the runner sees it; false: not due.' }),
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
  if (filter?.due != null) and.push(dueWhere(filter.due, now));
  return { AND: and };
}

builder.queryFields((t) => ({
  refreshConfigs: t.prismaConnection({
    type: 'RefreshConfig',
    cursor: 'id',
    description: 'Registered tables, highest priority first, then soonest next refresh.',
    args: { filter: t.arg({ type: RefreshConfigFilter, required: false, description: 'Which tables; default all.' }) },
    totalCount: (_root, args, ctx) => ctx.db.prisma.refreshConfig.count({ where: refreshConfigWhere(args.filter) }),
    resolve: (query, _root, args, ctx) =>
      ctx.db.prisma.refreshConfig.findMany({
        ...query,
        where: refreshConfigWhere(args.filter),
        orderBy: [{ priority: 'desc' }, { nextRefreshAt: { sort: 'asc', nulls: 'last' } }, { id: 'asc' }],
      }),
  },
  { description: 'A page of registered tables.' },
  { description: 'A registered table, with its cursor.' }),
  refreshConfig: t.prismaField({
    type: 'RefreshConfig',
    nullable: true,
    description: 'One registered table by its schema and name.',
    args: {
      tableSchema: t.arg.string({ required: true, description: 'Schema of the table (e.g. sqp).' }),
      tableName: t.arg.string({ required: true, description: 'Name of the table.' }),
    },
    resolve: (query, _root, args, ctx) =>
      ctx.db.prisma.refreshConfig.findUnique({
        ...query,
        where: { tableSchema_tableName: { tableSchema: args.tableSchema, tableName: args.tableName } },
      }),
  }),
}));
