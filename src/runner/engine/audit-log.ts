// SQL for refresh_audit_log: one row per refresh (slice), written `running` at start and
// finished with the whole story.
import type pg from 'pg';
import type { RefreshEvent } from '../../subscriptions/events.ts';
import { readRunMetadata, type RunMetadata } from './run-metadata.ts';

export interface RunStart {
  configId: number;
  schema: string;
  table: string;
  startedAt: Date;
  metadata: Record<string, unknown>;
}

/** Inserts the `running` row of a refresh and returns its id. */
export async function startAuditRow(client: pg.ClientBase, run: RunStart): Promise<number> {
  const { rows } = await client.query<{ id: number }>(
    `INSERT INTO sqp.refresh_audit_log (refresh_config_id, table_schema, table_name, refresh_started_at, status, sync_metadata)
     VALUES ($1, $2, $3, $4, 'running', $5) RETURNING id`,
    [run.configId, run.schema, run.table, run.startedAt, run.metadata],
  );
  return rows[0]!.id;
}

export interface RunFinish {
  status: 'success' | 'warning' | 'failed';
  completedAt: Date;
  rowsProcessed: number;
  rowsInserted: number;
  rowsUpdated: number;
  rowsDeleted: number;
  executionTimeMs: number;
  memoryUsedMb: number;
  bigqueryJobId: string | null;
  errorMessage: string | null;
  errorDetails: Record<string, unknown> | null;
  metadata: Record<string, unknown>;
}

/**
 * Finishes a run's row (merging metadata into what was written at start); false when the row was
 * no longer `running`: whoever took the table's lock after this run lost it ended it (migration
 * 041), and a late finish must not rewrite that.
 */
export async function finishAuditRow(client: pg.ClientBase, id: number, f: RunFinish): Promise<boolean> {
  const res = await client.query(
    `UPDATE sqp.refresh_audit_log SET
       status = $2, refresh_completed_at = $3, rows_processed = $4, rows_inserted = $5, rows_updated = $6,
       rows_deleted = $7, execution_time_ms = $8, memory_used_mb = $9, bigquery_job_id = $10,
       error_message = $11, error_details = $12, sync_metadata = coalesce(sync_metadata, '{}') || $13
     WHERE id = $1 AND status = 'running'`,
    [
      id, f.status, f.completedAt, f.rowsProcessed, f.rowsInserted, f.rowsUpdated, f.rowsDeleted,
      f.executionTimeMs, f.memoryUsedMb.toFixed(2), f.bigqueryJobId, f.errorMessage, f.errorDetails, f.metadata,
    ],
  );
  return (res.rowCount ?? 0) > 0;
}

/** How a run's row was ended (read when a late finish found it already ended). */
export async function endedRun(client: pg.ClientBase, id: number): Promise<{ status: string; errorMessage: string | null; errorDetails: Record<string, unknown> | null; metadata: unknown }> {
  const { rows } = await client.query(
    `SELECT status, error_message AS "errorMessage", error_details AS "errorDetails", sync_metadata AS metadata FROM sqp.refresh_audit_log WHERE id = $1`,
    [id],
  );
  return rows[0];
}

/** Marks runs of a table still `running` as failed: their process is gone or lost the lock we now hold (migration 041). */
export async function failInterruptedRuns(client: pg.ClientBase, schema: string, table: string, byRunId: number | null): Promise<number[]> {
  const { rows } = await client.query<{ id: number }>(`SELECT sqp_refresh_work.fail_interrupted_runs($1, $2, $3) AS id`, [schema, table, byRunId]);
  return rows.map((r) => r.id);
}

/**
 * The run:finished events of runs just ended as interrupted (failInterruptedRuns): whoever ends
 * them tells it, so a dashboard following such a run (runProgress) sees it end.
 */
export async function interruptedRunEvents(db: pg.Pool | pg.ClientBase, runIds: readonly number[], at: Date): Promise<RefreshEvent[]> {
  if (!runIds.length) return [];
  const { rows } = await db.query<{ id: number; configId: number; schema: string; table: string; rows: number | null; error: string | null }>(
    `SELECT id, refresh_config_id AS "configId", table_schema AS schema, table_name AS table, rows_processed AS rows, error_message AS error
     FROM sqp.refresh_audit_log WHERE id = ANY ($1::int[]) AND status = 'failed' AND refresh_config_id IS NOT NULL ORDER BY id`,
    [runIds],
  );
  return rows.map((r) => ({
    type: 'run:finished', configId: r.configId, tableSchema: r.schema, tableName: r.table, runId: r.id,
    status: 'failed', outcome: 'failed', rowsProcessed: r.rows ?? 0, errorMessage: r.error, at: at.toISOString(),
  }));
}

/** The last successful run's metadata (watermark, target row count), read through its schema. */
export async function lastSuccess(client: pg.ClientBase, configId: number): Promise<{ id: number; metadata: RunMetadata } | null> {
  const { rows } = await client.query<{ id: number; sync_metadata: unknown }>(
    `SELECT id, sync_metadata FROM sqp.refresh_audit_log
     WHERE refresh_config_id = $1 AND status IN ('success', 'warning')
       AND coalesce(sync_metadata->>'outcome', 'completed') = 'completed'
     ORDER BY refresh_started_at DESC, id DESC LIMIT 1`,
    [configId],
  );
  return rows[0] ? { id: rows[0].id, metadata: readRunMetadata(rows[0].sync_metadata) } : null;
}

/** Bytes BigQuery billed since the start of the current UTC day. */
export async function bytesBilledToday(client: pg.ClientBase, now: Date): Promise<bigint> {
  const { rows } = await client.query<{ n: string }>(
    `SELECT coalesce(sum((sync_metadata->>'bytesBilled')::numeric), 0)::text AS n
     FROM sqp.refresh_audit_log
     WHERE refresh_started_at >= date_trunc('day', $1::timestamptz AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'
       AND sync_metadata ? 'bytesBilled'`,
    [now],
  );
  return BigInt(rows[0]!.n.split('.')[0]!);
}
