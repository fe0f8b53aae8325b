// The state of one run, as every reader shows it: whether it is running (the one rule, over
// migration 038's live_run view), and its progress. RefreshRun.status, runProgress, runnerStatus,
// cancelRefresh, `sqp-refresh status` and the runner's recovery ask here. A run is running only
// while its table's refresh lock is held AND it is the table's newest `running` row; a `running`
// audit row that is not is "interrupted": its process died (or it outlived its lock), and a
// runner recovers it.
import type pg from 'pg';
import type { InFlightRun } from '../engine/refresh-types.ts';
import { runOutcome, type RunOutcome } from '../engine/run-metadata.ts';

type Db = pg.Pool | pg.ClientBase;

/** A run's status: the audit row's, except that a `running` row no live process holds is interrupted. */
export type RunStatus = 'running' | 'interrupted' | 'success' | 'warning' | 'failed';

/** The rule: `live` says the row is its table's live run (live_run). */
export function runStatus(auditStatus: string, live: boolean): RunStatus {
  if (auditStatus === 'running') return live ? 'running' : 'interrupted';
  return auditStatus as RunStatus;
}

/** The ids of the runs running now, on any replica (live_run): one statement, whatever asks. */
export async function readLiveRunIds(db: Db): Promise<Set<number>> {
  const { rows } = await db.query<{ run_id: number }>(`SELECT run_id FROM sqp_refresh_work.live_run WHERE run_id IS NOT NULL`);
  return new Set(rows.map((r) => r.run_id));
}

/** One run's status (null: no such run; its status null: a row written without one). */
export async function readRunStatus(db: Db, id: number): Promise<{ status: RunStatus | null } | null> {
  const { rows: [r] } = await db.query<{ status: string | null; live: boolean }>(
    `SELECT a.status, coalesce(l.run_id = a.id, false) AS live FROM sqp.refresh_audit_log a
     LEFT JOIN sqp_refresh_work.live_run l ON l.config_id = a.refresh_config_id
     WHERE a.id = $1`,
    [id],
  );
  return r ? { status: r.status === null ? null : runStatus(r.status, r.live) } : null;
}

/** Tables with an interrupted run: a `running` row that is not its table's live run (the runner's recovery takes their lock, then fails those rows). */
export async function readInterruptedTables(db: Db): Promise<Array<{ configId: number; schema: string; table: string }>> {
  const { rows } = await db.query(
    `SELECT DISTINCT a.refresh_config_id AS "configId", a.table_schema AS schema, a.table_name AS table
     FROM sqp.refresh_audit_log a
     WHERE a.status = 'running' AND a.refresh_config_id IS NOT NULL
       AND a.id NOT IN (SELECT run_id FROM sqp_refresh_work.live_run WHERE run_id IS NOT NULL)`,
  );
  return rows;
}

// Progress -------------------------------------------------------------------------------------

/** A run's progress as far as anyone can tell now. */
export interface RunProgressNow {
  rowsProcessed: number;
  totalRows: number | null;
  percent: number | null;
  rowsPerSecond: number | null;
  etaSeconds: number | null;
}

/** A replica's heartbeat entry for a run it runs (sqp_refresh_work.replicas.in_flight). */
export interface RemoteInFlight {
  rowsProcessed?: number;
  totalRows?: number | null;
  rowsPerSecond?: number | null;
  etaSeconds?: number | null;
}

/** Percent of `total` that `done` is, when the total is known. */
export const percentOf = (done: number, total: number | null) => (total ? Math.min(100, (done / total) * 100) : null);

/**
 * A running run's progress: this process's runner knows its own runs exactly; another
 * replica's run shows what its checkpoint has committed, and its latest heartbeat's speed.
 * runnerStatus and runProgress both ask here.
 */
export function runningProgress(
  checkpoint: { rowsProcessed: number; totalRows: number | null } | null,
  local: InFlightRun | undefined,
  remote: RemoteInFlight | undefined,
): RunProgressNow {
  const rowsProcessed = local?.rowsProcessed ?? checkpoint?.rowsProcessed ?? remote?.rowsProcessed ?? 0;
  const totalRows = local?.totalRows ?? checkpoint?.totalRows ?? remote?.totalRows ?? null;
  return {
    rowsProcessed,
    totalRows,
    percent: local?.percent ?? percentOf(rowsProcessed, totalRows),
    rowsPerSecond: local?.rowsPerSecond ?? remote?.rowsPerSecond ?? null,
    etaSeconds: local?.etaSeconds ?? remote?.etaSeconds ?? null,
  };
}

/** One run's state: running (with progress) or how it ended. */
export interface RunState extends RunProgressNow {
  runId: number;
  status: RunStatus;
  outcome: RunOutcome | null;
  /** Its row has ended (an interrupted run's has not: a runner recovers it, then it reads failed). */
  finished: boolean;
}

/**
 * The run's state as the tables (and this process's runner, if it runs it) say now. A running
 * run's committed rows are its table's newest active checkpoint (the read model's; a resumed
 * run's too, before its first page). A run that stopped early (paused, cancelled, failed) keeps
 * its real percent: runs of a table never overlap, so the checkpoint written while it ran is
 * its own, whatever became of it since. An interrupted run shows what its checkpoint committed.
 */
export async function readRunState(db: Db, id: number, local: InFlightRun | undefined): Promise<RunState | null> {
  const { rows: [r] } = await db.query<{
    status: string; live: boolean; sync_metadata: unknown; rows_processed: number | null;
    running_rows: string | null; running_total: string | null; finished_total: string | null;
  }>(
    `SELECT a.status, coalesce(l.run_id = a.id, false) AS live, a.sync_metadata, a.rows_processed,
            s.checkpoint_rows AS running_rows, s.checkpoint_total_rows AS running_total, f.total_rows AS finished_total
     FROM sqp.refresh_audit_log a
     LEFT JOIN sqp_refresh_work.live_run l ON l.config_id = a.refresh_config_id
     LEFT JOIN sqp_refresh_work.table_state s ON a.status = 'running' AND s.config_id = a.refresh_config_id
     LEFT JOIN LATERAL (
       SELECT total_rows FROM sqp.refresh_checkpoints k
       WHERE a.status <> 'running' AND k.table_schema = a.table_schema AND k.table_name = a.table_name
         AND k.updated_at BETWEEN a.refresh_started_at AND a.refresh_completed_at
       ORDER BY k.updated_at DESC LIMIT 1
     ) f ON true
     WHERE a.id = $1`,
    [id],
  );
  if (!r) return null;
  const status = runStatus(r.status, r.live);
  const outcome = runOutcome(r.status, r.sync_metadata);
  if (outcome !== null) {
    const checkpointTotal = r.finished_total === null ? null : Number(r.finished_total);
    const rowsProcessed = r.rows_processed ?? 0;
    const whole = outcome === 'completed' || outcome === 'unchanged';
    const totalRows = whole ? Math.max(rowsProcessed, checkpointTotal ?? 0) : checkpointTotal;
    return { runId: id, status, outcome, rowsProcessed, totalRows, percent: whole ? 100 : percentOf(rowsProcessed, totalRows), rowsPerSecond: null, etaSeconds: null, finished: true };
  }
  const checkpoint = r.running_rows === null && r.running_total === null
    ? null
    : { rowsProcessed: Number(r.running_rows ?? 0), totalRows: r.running_total === null ? null : Number(r.running_total) };
  return { runId: id, status, outcome: null, ...runningProgress(checkpoint, status === 'running' ? local : undefined, undefined), finished: false };
}
