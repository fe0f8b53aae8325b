// SQL for refresh_checkpoints: one active checkpoint per running refresh of a table. It is
// written in the same transaction as each page staged (engine/write.ts), so it always tells exactly
// what the run's staging table holds; the publish completes it with the target's merge.
import type pg from 'pg';
import type { ReadWindow } from '../sources/source.ts';

/** What a run needs to continue where a previous slice (or a crashed process) stopped. */
export interface CheckpointState {
  version: 1;
  /** Audit row of the slice that started the refresh. */
  firstRunId: number;
  mode: 'full' | 'incremental';
  /** Whether loaded keys are being remembered (a resume must agree, or deletes would be wrong). */
  deleteMissing?: boolean;
  /**
   * What the load reads, as a digest of the params that decide it (the source's read identity,
   * keys, cursor, mode, deleteMissing: start.ts readKey). A resume under other params would stage rows of two
   * different reads, or bind a position to other keys: it starts over instead.
   */
  readKey?: string;
  /**
   * The requests (refresh_requests ids) this load was started for, each made before its read
   * began. A slice that resumes the load serves only these (state/requests.ts requestsServed);
   * a request made later waits for a read of its own. Absent on a checkpoint written before it
   * was recorded: such a load serves no request.
   */
  requestIds?: number[];
  /** When the load's read began (ISO time): how old the data it publishes is. */
  readStartedAt?: string;
  /** Lower bound of the read (incremental), as text, or null. */
  since: string | null;
  /** A backfill chunk's range: the load reads and replaces these rows only. */
  window?: ReadWindow;
  watermarkBefore: string | null;
  /** Largest cursor value loaded so far. */
  watermarkAfter: string | null;
  pagesDone: number;
  rowsDone: number;
  inserted: number;
  updated: number;
  duplicates: number;
  nullKeys: Record<string, number>;
  /** The source's position after the last committed page (job + page token, last key). */
  source: Record<string, unknown> | null;
  /**
   * The last page is committed: a resume goes straight to the final phase instead of reading
   * the source again (which would count every row twice). Checkpoints written before this
   * field existed say the same by `source: null` after at least one page (see loadIsComplete).
   */
  loadComplete?: boolean;
  /** The staging table's columns (the source's), so a resumed slice can publish without reading. */
  columns?: string[];
  /** What the source read depended on (SourceStats.inputs), kept for the run that finishes the load. */
  sourceInputs?: unknown;
  bytesProcessed?: string;
  bytesBilled?: string;
  jobId?: string;
}

/** Whether every page of the load is committed (only the final phase is left). */
export function loadIsComplete(state: CheckpointState): boolean {
  return state.loadComplete ?? (state.pagesDone > 0 && state.source === null);
}

export interface CheckpointRow {
  id: number;
  function_name: string;
  checkpoint_data: CheckpointState;
  last_processed_row: string | null;
  total_rows: string | null;
  status: string;
  expires_at: Date;
}

/** The active checkpoint of a table, whoever wrote it (another worker may have died). */
export async function findActiveCheckpoint(client: pg.ClientBase, schema: string, table: string): Promise<CheckpointRow | null> {
  // This table's expired ones are marked in the same statement, so that "active" means
  // "resumable" (one round trip; the runner's pass expires every table's at its start).
  const { rows } = await client.query<CheckpointRow>(
    `WITH expired AS (
       UPDATE sqp.refresh_checkpoints SET status = 'expired'
       WHERE table_schema = $1 AND table_name = $2 AND status = 'active' AND expires_at < now()
       RETURNING id
     )
     SELECT id, function_name, checkpoint_data, last_processed_row, total_rows, status, expires_at
     FROM sqp.refresh_checkpoints
     WHERE table_schema = $1 AND table_name = $2 AND status = 'active' AND expires_at >= now()
       AND id NOT IN (SELECT id FROM expired)
     ORDER BY updated_at DESC LIMIT 1`,
    [schema, table],
  );
  return rows[0] ?? null;
}

/**
 * Expires every other active checkpoint of the table. Called under the table's lock: only the
 * one being resumed (if any) still means something; older ones (other workers' names) would
 * otherwise linger or block this worker's own.
 */
export async function expireOtherCheckpoints(client: pg.ClientBase, schema: string, table: string, keepId: number | null): Promise<void> {
  await client.query(
    `UPDATE sqp.refresh_checkpoints SET status = 'expired'
     WHERE table_schema = $1 AND table_name = $2 AND status = 'active' AND ($3::int IS NULL OR id <> $3)`,
    [schema, table, keepId],
  );
}

/** Starts a checkpoint for a new refresh, or takes over an active one for this worker. */
export async function claimCheckpoint(
  client: pg.ClientBase,
  args: { existingId?: number; functionName: string; schema: string; table: string; state: CheckpointState; ttlSeconds: number },
): Promise<number> {
  if (args.existingId !== undefined) {
    await client.query(
      `UPDATE sqp.refresh_checkpoints SET function_name = $2, expires_at = now() + make_interval(secs => $3) WHERE id = $1`,
      [args.existingId, args.functionName, args.ttlSeconds],
    );
    return args.existingId;
  }
  const { rows } = await client.query<{ id: number }>(
    `INSERT INTO sqp.refresh_checkpoints (function_name, table_schema, table_name, checkpoint_data, last_processed_row, total_rows, status, expires_at)
     VALUES ($1, $2, $3, $4, 0, NULL, 'active', now() + make_interval(secs => $5)) RETURNING id`,
    [args.functionName, args.schema, args.table, args.state, args.ttlSeconds],
  );
  return rows[0]!.id;
}

/** Records a committed page (call inside the page's transaction). */
export async function advanceCheckpoint(
  client: pg.ClientBase,
  id: number,
  state: CheckpointState,
  totalRows: number | null,
  ttlSeconds: number,
): Promise<void> {
  await client.query(
    `UPDATE sqp.refresh_checkpoints
     SET checkpoint_data = $2, last_processed_row = $3, total_rows = $4, expires_at = now() + make_interval(secs => $5)
     WHERE id = $1`,
    [id, state, state.rowsDone, totalRows, ttlSeconds],
  );
}

/** Ends a checkpoint: `completed` after success, `expired` when it must not be resumed. */
export async function closeCheckpoint(client: pg.ClientBase, id: number, status: 'completed' | 'expired'): Promise<void> {
  await client.query(`UPDATE sqp.refresh_checkpoints SET status = $2 WHERE id = $1`, [id, status]);
}
