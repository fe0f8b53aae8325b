// The read model of backfills: the one module that reads migration 043's views. A backfill's
// status and each chunk's state are derived there from the chunks' runs; the graph, the CLI,
// the status page and the scheduler all read them here.
import type pg from 'pg';

type Db = pg.Pool | pg.ClientBase;

export type BackfillStatus = 'running' | 'pausing' | 'paused' | 'cancelled' | 'completed' | 'failed';
export type BackfillChunkState = 'pending' | 'running' | 'done' | 'failed';
export type ChunkUnit = 'day' | 'week' | 'month';

export interface Backfill {
  id: number;
  configId: number;
  tableSchema: string;
  tableName: string;
  /** Inclusive. */
  from: string;
  /** Exclusive. */
  to: string;
  chunkUnit: ChunkUnit;
  cascade: boolean;
  intent: 'running' | 'paused' | 'cancelled';
  status: BackfillStatus;
  requestedBy: string | null;
  createdAt: Date;
  finishedAt: Date | null;
  chunksTotal: number;
  chunksDone: number;
  chunksRunning: number;
  chunksFailed: number;
  rowsProcessed: number;
  bytesBilled: bigint;
}

export interface BackfillChunk {
  backfillId: number;
  ordinal: number;
  configId: number;
  tableSchema: string;
  tableName: string;
  from: string;
  to: string;
  state: BackfillChunkState;
  /** The run that completed it, else its newest run; null before its first. */
  runId: number | null;
  /** Runs it took (failed, paused and interrupted ones included). */
  runs: number;
  failures: number;
  rowsProcessed: number;
  bytesBilled: bigint;
  /** Why its newest run failed, while it is not done. */
  error: string | null;
  newestFinishedAt: Date | null;
}

const BACKFILL_COLUMNS = `id, config_id AS "configId", table_schema AS "tableSchema", table_name AS "tableName",
  range_from::text AS "from", range_to::text AS "to", chunk_unit AS "chunkUnit", cascade, intent, status,
  requested_by AS "requestedBy", created_at AS "createdAt", finished_at AS "finishedAt",
  chunks_total AS "chunksTotal", chunks_done AS "chunksDone", chunks_running AS "chunksRunning", chunks_failed AS "chunksFailed",
  rows_processed::float8 AS "rowsProcessed", bytes_billed::text AS "bytesBilled"`;

const CHUNK_COLUMNS = `backfill_id AS "backfillId", ordinal, config_id AS "configId", table_schema AS "tableSchema", table_name AS "tableName",
  range_from::text AS "from", range_to::text AS "to", state, coalesce(done_run_id, newest_run_id) AS "runId", runs, failures,
  rows_processed::float8 AS "rowsProcessed", bytes_billed::text AS "bytesBilled",
  CASE WHEN state <> 'done' THEN newest_error END AS error, newest_finished_at AS "newestFinishedAt"`;

const backfill = (r: Backfill & { bytesBilled: string }): Backfill => ({ ...r, bytesBilled: BigInt(r.bytesBilled) });
const chunk = (r: BackfillChunk & { bytesBilled: string }): BackfillChunk => ({ ...r, bytesBilled: BigInt(r.bytesBilled) });

/** Backfills by id, newest first; `ids` null: the latest `limit`. */
export async function readBackfills(db: Db, options: { ids?: number[] | null; tableSchema?: string; tableName?: string; limit?: number }): Promise<Backfill[]> {
  const { rows } = await db.query(
    `SELECT ${BACKFILL_COLUMNS} FROM sqp_refresh_work.backfill_state
     WHERE ($1::int[] IS NULL OR id = ANY ($1)) AND ($2::text IS NULL OR table_schema = $2) AND ($3::text IS NULL OR table_name = $3)
     ORDER BY id DESC LIMIT $4`,
    [options.ids ?? null, options.tableSchema ?? null, options.tableName ?? null, options.limit ?? 100],
  );
  return rows.map(backfill);
}

/** One backfill, or null. */
export async function readBackfill(db: Db, id: number): Promise<Backfill | null> {
  return (await readBackfills(db, { ids: [id], limit: 1 }))[0] ?? null;
}

/** The chunks of backfills, in run order. */
export async function readBackfillChunks(db: Db, backfillIds: number[]): Promise<BackfillChunk[]> {
  const { rows } = await db.query(
    `SELECT ${CHUNK_COLUMNS} FROM sqp_refresh_work.backfill_chunk_state WHERE backfill_id = ANY ($1::int[]) ORDER BY backfill_id, ordinal`,
    [backfillIds],
  );
  return rows.map(chunk);
}

/** The backfills that want their next chunk run (status running), oldest first. */
export async function runningBackfillIds(db: Db): Promise<number[]> {
  const { rows } = await db.query<{ id: number }>(`SELECT id FROM sqp_refresh_work.backfill_state WHERE status = 'running' ORDER BY id`);
  return rows.map((r) => r.id);
}

/** A backfill of the table that is not over (running, pausing or paused), or null. */
export async function activeBackfillOf(db: Db, configId: number): Promise<number | null> {
  const { rows } = await db.query<{ id: number }>(
    `SELECT id FROM sqp_refresh_work.backfill_state WHERE config_id = $1 AND status IN ('running', 'pausing', 'paused') ORDER BY id LIMIT 1`,
    [configId],
  );
  return rows[0]?.id ?? null;
}

/**
 * The enabled hard dependents of a table, transitively, parents before their dependents (by
 * longest path from it): the tables a cascading backfill recomputes after it. A cycle is walked once.
 */
export async function hardDependentsInOrder(db: Db, configId: number): Promise<Array<{ id: number; tableSchema: string; tableName: string; customSyncParams: unknown; isEnabled: boolean }>> {
  const { rows } = await db.query(
    `WITH RECURSIVE walk(id, depth, path) AS (
       SELECT $1::int, 0, ARRAY[$1::int]
       UNION ALL
       SELECT d.dependent_config_id, w.depth + 1, w.path || d.dependent_config_id
       FROM walk w JOIN sqp.refresh_dependencies d ON d.parent_config_id = w.id
       WHERE coalesce(d.dependency_type, 'hard') = 'hard' AND d.dependent_config_id <> ALL (w.path)
     )
     SELECT c.id, c.table_schema AS "tableSchema", c.table_name AS "tableName", c.custom_sync_params AS "customSyncParams", c.is_enabled AS "isEnabled"
     FROM (SELECT id, max(depth) AS depth FROM walk WHERE id <> $1 GROUP BY id) w JOIN sqp.refresh_config c ON c.id = w.id
     ORDER BY w.depth, c.priority DESC, c.id`,
    [configId],
  );
  return rows;
}

/** How long a chunk waits after its n-th failure before it is tried again (30 s, doubling, at most 10 min). */
function chunkRetryDelayMs(failures: number): number {
  return Math.min(600_000, 30_000 * 2 ** Math.max(0, failures - 1));
}

/**
 * The chunk a running backfill runs next: its first chunk not done, when that one is neither
 * running, failed for good nor waiting out its retry delay; else null.
 */
export async function nextBackfillChunk(db: Db, backfillId: number, now: Date): Promise<BackfillChunk | null> {
  const { rows } = await db.query(
    `SELECT ${CHUNK_COLUMNS} FROM sqp_refresh_work.backfill_chunk_state k
     WHERE k.backfill_id = $1 AND k.state <> 'done'
       AND EXISTS (SELECT 1 FROM sqp_refresh_work.backfill_state b WHERE b.id = $1 AND b.status = 'running')
     ORDER BY k.ordinal LIMIT 1`,
    [backfillId],
  );
  const next = rows[0] ? chunk(rows[0]) : null;
  if (!next || next.state !== 'pending') return null;
  if (next.failures > 0 && next.newestFinishedAt && next.newestFinishedAt.getTime() + chunkRetryDelayMs(next.failures) > now.getTime()) return null;
  return next;
}
