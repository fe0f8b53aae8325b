// RefreshRun: one refresh of one table (a row of sqp.refresh_audit_log). Its status is the read
// model's (state/run-state.ts): a `running` row that is not its table's live run is INTERRUPTED.
import type { Prisma } from '../generated/prisma/client.ts';
import { readLiveRunIds, runStatus } from '../runner/state/run-state.ts';
import { builder, type Context } from './builder.ts';
import { RefreshStatus, RunOutcome, runOutcome, type RefreshStatusValue } from './enums.ts';

/** The runs running now, read once per request however many rows ask (only when a row says `running`). */
function liveRunIds(ctx: Context): Promise<Set<number>> {
  ctx.memo ??= new Map();
  let p = ctx.memo.get('liveRuns') as Promise<Set<number>> | undefined;
  if (!p) {
    p = readLiveRunIds(ctx.db.pool);
    ctx.memo.set('liveRuns', p);
  }
  return p;
}

export const RefreshRunRef = builder.prismaNode('RefreshRun', {
  id: { field: 'id' },
  // node(id:) of a row that does not exist (deleted, or never was) is null, not an error.
  nullable: true,
  description: 'One refresh of one table: a row of sqp.refresh_audit_log.',
  fields: (t) => ({
    databaseId: t.exposeInt('id', { description: 'The row id in sqp.refresh_audit_log.' }),
    tableSchema: t.exposeString('tableSchema', { description: 'Schema of the refreshed table.' }),
    tableName: t.exposeString('tableName', { description: 'Name of the refreshed table.' }),
    refreshStartedAt: t.expose('refreshStartedAt', { type: 'DateTime', description: 'When the run started.' }),
    refreshCompletedAt: t.expose('refreshCompletedAt', { type: 'DateTime', nullable: true, description: 'When it ended; null while it runs.' }),
    status: t.field({
      type: RefreshStatus,
      nullable: true,
      description: 'RUNNING (its process runs it now), then SUCCESS, WARNING or FAILED; see outcome for why it ended. INTERRUPTED: its process died while it ran.',
      resolve: async (r, _args, ctx) => (r.status === null ? null : runStatus(r.status, r.status === 'running' && (await liveRunIds(ctx)).has(r.id))),
    }),
    outcome: t.field({
      type: RunOutcome,
      nullable: true,
      description: 'How it ended (completed, unchanged, paused, cancelled, failed); null while it runs.',
      resolve: (r) => runOutcome(r.status, r.syncMetadata),
    }),
    rowsProcessed: t.exposeInt('rowsProcessed', { nullable: true, description: 'Rows read from the source and staged (committed pages only).' }),
    rowsInserted: t.exposeInt('rowsInserted', { nullable: true, description: 'Rows the publish added to the table.' }),
    rowsUpdated: t.exposeInt('rowsUpdated', { nullable: true, description: 'Rows the publish changed (only rows that differ).' }),
    rowsDeleted: t.exposeInt('rowsDeleted', { nullable: true, description: "Rows the publish removed (the refresh window's rows no longer in the source)." }),
    executionTimeMs: t.exposeInt('executionTimeMs', { nullable: true, description: 'How long the run took, in milliseconds.' }),
    memoryUsedMb: t.float({
      nullable: true,
      description: "Growth of the worker process's resident memory during the run, in MB.",
      resolve: (r) => (r.memoryUsedMb == null ? null : Number(r.memoryUsedMb)),
    }),
    errorMessage: t.exposeString('errorMessage', { nullable: true, description: 'Why it failed or stopped, for people.' }),
    errorDetails: t.expose('errorDetails', { type: 'JSON', nullable: true, description: 'Why it failed or stopped, for programs: reason, whether it is retried, the source error.' }),
    bigqueryJobId: t.exposeString('bigqueryJobId', { nullable: true, description: 'The BigQuery query job that read the rows, when the source is BigQuery.' }),
    syncMetadata: t.expose('syncMetadata', {
      type: 'JSON',
      nullable: true,
      description: 'What the engine recorded: outcome, mode, pages, watermarks, rows per second, bytes processed and billed.',
    }),
    createdAt: t.expose('createdAt', { type: 'DateTime', nullable: true, description: 'When the audit row was written.' }),
    config: t.relation('config', { nullable: true, description: 'The table it refreshed, unless it was unregistered since.' }),
    qualityMetrics: t.relation('qualityMetrics', { description: 'The data-quality measurements of this run.', query: { orderBy: { id: 'asc' } } }),
  }),
});

const RefreshRunFilter = builder.inputType('RefreshRunFilter', {
  description: 'Which refresh runs to list; every field given must hold.',
  fields: (t) => ({
    status: t.field({ type: RefreshStatus, description: 'Only runs with this status.' }),
    tableSchema: t.string({ description: 'Only runs of tables of this schema.' }),
    tableName: t.string({ description: 'Only runs of tables of this name.' }),
    since: t.field({ type: 'DateTime', description: 'Runs started at or after this instant.' }),
  }),
});

type RunFilter = { status?: RefreshStatusValue | null; tableSchema?: string | null; tableName?: string | null; since?: Date | null };

/** RUNNING and INTERRUPTED are both `running` rows: the live runs, or the others. */
async function statusWhere(status: RefreshStatusValue, ctx: Context): Promise<Prisma.RefreshRunWhereInput> {
  if (status !== 'running' && status !== 'interrupted') return { status };
  const live = [...(await liveRunIds(ctx))];
  return { status: 'running', id: status === 'running' ? { in: live } : { notIn: live } };
}

async function refreshRunWhere(f: RunFilter | null | undefined, ctx: Context): Promise<Prisma.RefreshRunWhereInput> {
  return {
    ...(f?.status ? await statusWhere(f.status, ctx) : {}),
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
    args: { filter: t.arg({ type: RefreshRunFilter, required: false, description: 'Which runs; default all.' }) },
    totalCount: async (_root, args, ctx) => ctx.db.prisma.refreshRun.count({ where: await refreshRunWhere(args.filter, ctx) }),
    resolve: async (query, _root, args, ctx) =>
      ctx.db.prisma.refreshRun.findMany({ ...query, where: await refreshRunWhere(args.filter, ctx), orderBy: [{ refreshStartedAt: 'desc' }, { id: 'desc' }] }),
  },
  { description: 'A page of refresh runs, newest first.' },
  { description: 'A refresh run, with its cursor.' }),
}));
