// Backfills as operators ask for them (startBackfill, pauseBackfill, resumeBackfill,
// cancelBackfill, `sqp-refresh backfill`): a range of a table re-loaded as chunks of ordinary
// runs, with its hard dependents' touched periods after it. The command checks and plans; it
// writes the backfill's intent and chunks and wakes the runners, whichever replica then runs the
// chunks (scheduler/backfill-chunks.ts). Status and progress are the read model's (state/backfills.ts).
import type pg from 'pg';
import { ConflictError, NotFoundError, ValidationError } from '../errors.ts';
import { bytesBilledToday } from '../runner/engine/audit-log.ts';
import { inTransaction } from '../alerts/sql.ts';
import { describeTable, type TargetTable } from '../runner/engine/catalog.ts';
import { RefreshFailure } from '../runner/engine/refresh-failures.ts';
import { backfillRange, readRequest } from '../runner/engine/refresh-inputs.ts';
import type { RefreshConfigRow } from '../runner/engine/refresh-types.ts';
import { parseSyncParams, type SyncParams } from '../runner/params/sync-params.ts';
import type { TableReader } from '../runner/sources/source.ts';
import { SyncParamsError } from '../runner/params/params-error.ts';
import { requestCancel, wakeRunners } from '../runner/scheduler/wake.ts';
import { activeBackfillOf, hardDependentsInOrder, readBackfill, readBackfillChunks, type Backfill, type ChunkUnit } from '../runner/state/backfills.ts';
import { refreshableConfig, type CommandContext } from './refresh.ts';

export interface BackfillRequest {
  tableSchema: string;
  tableName: string;
  /** First day of the range, `YYYY-MM-DD`. */
  from: string;
  /** Last day of the range (inclusive), `YYYY-MM-DD`. */
  to: string;
  cascade: boolean;
  chunk: ChunkUnit;
  dryRun: boolean;
}

export interface PlannedChunk {
  ordinal: number;
  configId: number;
  tableSchema: string;
  tableName: string;
  /** Inclusive. */
  from: string;
  /** Exclusive. */
  to: string;
  /** BigQuery's dry-run estimate of the bytes the chunk's query processes; null for other sources. */
  estimatedBytes: bigint | null;
}

export interface BackfillPlan {
  chunks: PlannedChunk[];
  /** Sum of the chunks' estimates; null when no chunk reads BigQuery. */
  estimatedBytes: bigint | null;
  /** What today's byte budget has left; null without a budget. */
  remainingBudgetBytes: bigint | null;
}

/** The longest range a backfill takes, and the most chunks: a typo in a year must not plan 50,000 runs. */
const BACKFILL_LIMITS = { days: 3660, chunks: 1000 } as const;

const DAY_MS = 86_400_000;
const iso = (ms: number) => new Date(ms).toISOString().slice(0, 10);

/** A `YYYY-MM-DD` calendar date as UTC midnight, or a ValidationError on `field`. */
function parseDay(value: string, field: string): number {
  const ms = /^\d{4}-\d{2}-\d{2}$/.test(value) ? Date.parse(`${value}T00:00:00Z`) : NaN;
  if (Number.isNaN(ms) || iso(ms) !== value) throw ValidationError.of(field, `must be a calendar date as YYYY-MM-DD, got ${JSON.stringify(value)}`);
  return ms;
}

/** Splits [from, to) into chunks of a day, a week (7 days from `from`) or a calendar month, oldest first. */
function splitRange(fromMs: number, toMs: number, unit: ChunkUnit): Array<{ from: string; to: string }> {
  const chunks: Array<{ from: string; to: string }> = [];
  for (let at = fromMs; at < toMs; ) {
    const d = new Date(at);
    const next = unit === 'day' ? at + DAY_MS : unit === 'week' ? at + 7 * DAY_MS : Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1);
    const end = Math.min(next, toMs);
    chunks.push({ from: iso(at), to: iso(end) });
    at = end;
  }
  return chunks;
}

/** Plans a backfill (and with dryRun only plans it): the checks, the chunks, the estimate; otherwise records it and wakes the runners. */
export async function startBackfill(ctx: CommandContext, req: BackfillRequest): Promise<{ backfill: Backfill | null; plan: BackfillPlan }> {
  const fromMs = parseDay(req.from, 'from');
  const toMs = parseDay(req.to, 'to') + DAY_MS; // inclusive → exclusive
  if (toMs <= fromMs) throw ValidationError.of('to', `must not be before from (${req.from})`);
  if ((toMs - fromMs) / DAY_MS > BACKFILL_LIMITS.days) throw ValidationError.of('to', `a backfill covers at most ${BACKFILL_LIMITS.days} days`);
  const { config, params } = await refreshableConfig(ctx.pool, { tableSchema: req.tableSchema, tableName: req.tableName }, null);
  const ranges = splitRange(fromMs, toMs, req.chunk);
  const tables: Backfillable[] = [];
  for (const t of [{ config, params, field: 'tableName' }, ...(req.cascade ? await dependents(ctx.pool, config.id) : [])]) tables.push(await backfillable(ctx, t));
  const chunks: PlannedChunk[] = [];
  for (const [i, t] of tables.entries()) {
    // The table in chunks, oldest first; each dependent once, for the whole range (its periods the range touches).
    const own = i === 0 ? ranges : [{ from: iso(fromMs), to: iso(toMs) }];
    for (const r of own) chunks.push({ ordinal: chunks.length + 1, configId: t.config.id, tableSchema: t.config.tableSchema, tableName: t.config.tableName, ...r, estimatedBytes: null });
  }
  if (chunks.length > BACKFILL_LIMITS.chunks) throw ValidationError.of('chunk', `the backfill would take ${chunks.length} chunks; at most ${BACKFILL_LIMITS.chunks}: choose a longer chunk or a shorter range`);
  const plan = await estimate(ctx, tables, chunks);
  if (req.dryRun) return { backfill: null, plan };
  const id = await recordBackfill(ctx, config.id, req, chunks);
  return { backfill: await readBackfill(ctx.pool, id), plan };
}

type Planned = { config: RefreshConfigRow; params: SyncParams; field: string };
/** A table checked for a backfill: its catalog and its reader, read once for the check and every chunk's estimate. */
type Backfillable = Planned & { target: TargetTable; reader: TableReader | null };

/** The hard dependents a cascade recomputes, checked as the table is; a disabled or unconfigured one is refused naming `cascade`. */
async function dependents(pool: pg.Pool, configId: number): Promise<Planned[]> {
  const rows = await hardDependentsInOrder(pool, configId);
  return rows.map((r) => {
    const table = `${r.tableSchema}.${r.tableName}`;
    if (!r.isEnabled) throw ValidationError.of('cascade', `the hard dependent ${table} is disabled: enable it, or backfill without cascade`);
    try {
      const config: RefreshConfigRow = { id: r.id, tableSchema: r.tableSchema, tableName: r.tableName, customSyncParams: r.customSyncParams, refreshFrequencyHours: 24, isEnabled: true, nextRefreshAt: null };
      return { config, params: parseSyncParams(r.customSyncParams), field: 'cascade' };
    } catch (error) {
      if (error instanceof SyncParamsError) throw ValidationError.of('cascade', `the hard dependent ${table} has invalid params (${error.message})`);
      throw error;
    }
  });
}

/** The table exists and has a date or timestamp column to range over (the run's own rule: refresh-inputs.ts backfillRange), or a ValidationError on its field. */
async function backfillable(ctx: CommandContext, t: Planned): Promise<Backfillable> {
  const { config, params, field } = t;
  const table = `${config.tableSchema}.${config.tableName}`;
  const target = await describeTable(ctx.pool, config.tableSchema, config.tableName);
  if (!target) throw ValidationError.of(field, `${table} does not exist`);
  const reader = ctx.sources?.reader(params.source, { targetSchema: config.tableSchema, deleteMissing: params.deleteMissing }) ?? null;
  try {
    backfillRange(params, target, reader !== null && 'inDatabase' in reader, { from: '2000-01-01', to: '2000-01-02' });
  } catch (error) {
    if (error instanceof RefreshFailure) throw ValidationError.of(field, `${table}: ${error.message}`);
    throw error;
  }
  return { ...t, target, reader };
}

/** Each BigQuery chunk's dry-run estimate, their sum and what the day's budget has left. */
async function estimate(ctx: CommandContext, tables: Backfillable[], chunks: PlannedChunk[]): Promise<BackfillPlan> {
  let total: bigint | null = null;
  for (const chunk of chunks) {
    const { config, params, target, reader } = tables.find((x) => x.config.id === chunk.configId)!;
    if (!ctx.sources?.canEstimateBytes(params.source) || !reader || !('pages' in reader) || !reader.pages.estimateBytes) continue;
    const range = backfillRange(params, target, false, chunk);
    chunk.estimatedBytes = await reader.pages.estimateBytes(readRequest(config, params, params.keyColumns ?? target.primaryKey, null, range));
    total = (total ?? 0n) + chunk.estimatedBytes;
  }
  let remaining: bigint | null = null;
  if (ctx.dailyByteBudget !== null) {
    const spent = await bytesBilledToday(ctx.pool as unknown as pg.ClientBase, ctx.now?.() ?? new Date());
    remaining = ctx.dailyByteBudget > spent ? ctx.dailyByteBudget - spent : 0n;
  }
  return { chunks, estimatedBytes: total, remainingBudgetBytes: remaining };
}

/** Writes the backfill and its chunks, refusing a second one of the table while one is not over; wakes the runners at commit. */
async function recordBackfill(ctx: CommandContext, configId: number, req: BackfillRequest, chunks: PlannedChunk[]): Promise<number> {
  return inTransaction(ctx.pool, async (client) => {
    // The config row locked: two starts of the same table at once see each other.
    await client.query('SELECT 1 FROM sqp.refresh_config WHERE id = $1 FOR UPDATE', [configId]);
    const active = await activeBackfillOf(client, configId);
    if (active !== null) throw new ConflictError('tableName', `tableName: ${req.tableSchema}.${req.tableName} has backfill ${active} under way; cancel it or wait for it to end`);
    const { rows: [b] } = await client.query<{ id: number }>(
      `INSERT INTO sqp_refresh_work.backfills (config_id, range_from, range_to, chunk_unit, cascade, requested_by)
       VALUES ($1, $2, $3, $4, $5, $6) RETURNING id`,
      [configId, chunks[0]!.from, chunks.filter((c) => c.configId === configId).at(-1)!.to, req.chunk, req.cascade, ctx.requestedBy],
    );
    await client.query(
      `INSERT INTO sqp_refresh_work.backfill_chunks (backfill_id, ordinal, config_id, range_from, range_to)
       SELECT $1, c.ordinal, c."configId", c."from"::date, c."to"::date FROM jsonb_to_recordset($2::jsonb) AS c(ordinal int, "configId" int, "from" text, "to" text)`,
      [b!.id, JSON.stringify(chunks.map(({ estimatedBytes: _e, ...c }) => c))],
    );
    await wakeRunners(client);
    return b!.id;
  });
}

const ALLOWED = {
  pause: ['running', 'pausing'],
  resume: ['paused', 'pausing', 'failed', 'running'],
  cancel: ['running', 'pausing', 'paused', 'failed'],
} as const;
const INTENT = { pause: 'paused', resume: 'running', cancel: 'cancelled' } as const;

/**
 * Pauses (the chunk in flight ends, no next one starts), resumes (failed chunks are tried
 * again: their failures before now no longer count) or cancels (the chunk in flight is
 * cancelled; nothing of it is published) a backfill. Refused, naming `id`, once it is over.
 */
export async function changeBackfill(ctx: CommandContext, id: number, action: keyof typeof INTENT): Promise<Backfill> {
  const before = await readBackfill(ctx.pool, id);
  if (!before) throw new NotFoundError('id', String(id), `id: backfill ${id} does not exist`);
  if (!(ALLOWED[action] as readonly string[]).includes(before.status)) throw new ConflictError('id', `id: backfill ${id} is ${before.status}; it cannot be ${action === 'pause' ? 'paused' : action === 'resume' ? 'resumed' : 'cancelled'}`);
  await ctx.pool.query(`UPDATE sqp_refresh_work.backfills SET intent = $2, intent_changed_at = now() WHERE id = $1`, [id, INTENT[action]]);
  if (action === 'resume') await wakeRunners(ctx.pool);
  if (action === 'cancel') {
    for (const c of await readBackfillChunks(ctx.pool, [id])) {
      if (c.state !== 'running' || c.runId === null) continue;
      if (!ctx.cancelLocal?.(c.runId)) await requestCancel(ctx.pool, c.runId);
    }
  }
  return (await readBackfill(ctx.pool, id))!;
}
