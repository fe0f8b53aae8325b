// state/ — what each table's state is, was and will be: the read model over migration 037's
// views (this file), the planner's verdict (planner.ts, its input plan-input.ts, its graph walks
// dependency-graph.ts), health (health.ts), run statistics (run-statistics.ts), when a table is
// due (due.ts) and the schedule's arithmetic (schedule.ts). It reads and computes; it claims,
// runs and writes nothing. May import: pg, Prisma's generated types (due.ts's `where`), and from
// engine/ only a run's types and outcome (refresh-types.ts, run-metadata.ts). Never scheduler/ (which imports state/), the graph, the commands or
// subscriptions/.
//
// The read model of table state: the one module that reads migration 037's views
// (sqp_refresh_work.table_state, .latest_finished_run). tableHealth, runnerStatus, runProgress,
// the planner's input and `sqp-refresh status` all read a table's state here, so they cannot
// disagree. "Running" means the table's refresh lock is held (on any replica); a `running`
// audit row whose lock is free is a dead process's: "interrupted".
import type pg from 'pg';
import type { PlanLatestRun } from './planner.ts';
import type { InFlightRun } from '../engine/refresh-types.ts';
import { runOutcome, type RunOutcome } from '../engine/run-metadata.ts';

type Db = pg.Pool | pg.ClientBase;

export type QualityVerdict = 'pass' | 'warning' | 'fail';

/** What the database says about one registered table now. */
export interface TableFacts {
  configId: number;
  tableSchema: string;
  tableName: string;
  isEnabled: boolean;
  priority: number;
  refreshFrequencyHours: number;
  /** False while custom_sync_params is empty: nothing says where its rows come from. */
  configured: boolean;
  lastRefreshAt: Date | null;
  nextRefreshAt: Date | null;
  /** Its refresh lock is held: claimed or running on some replica. */
  runningNow: boolean;
  /** Its newest audit row still saying `running` (a dead process's when runningNow is false). */
  runningRunId: number | null;
  runningStartedAt: Date | null;
  /** A `running` row whose lock is free: its process died; a runner recovers it and resumes. */
  interrupted: boolean;
  /** Its newest run, running or finished. */
  newestRunId: number | null;
  /** Its latest finished run (paused slices and cancels are not outcomes). */
  latestRun: { id: number; status: PlanLatestRun['status']; finishedAt: Date | null; retryable: boolean } | null;
  /** Failed runs since its latest success (0 unless the latest finished run failed). */
  failureStreak: number;
  /** After a failed run that may pass on a retry: when the runner set the next attempt. */
  retryAt: Date | null;
  qualityVerdict: QualityVerdict | null;
  /** BigQuery bytes billed to its runs since midnight UTC of `now`. */
  bytesBilledToday: bigint;
  /** Its newest active checkpoint: what a running refresh has committed. */
  checkpoint: { worker: string; rowsProcessed: number; totalRows: number | null } | null;
}

interface TableStateRow {
  config_id: number;
  table_schema: string;
  table_name: string;
  is_enabled: boolean;
  priority: number;
  refresh_frequency_hours: number;
  configured: boolean;
  last_refresh_at: Date | null;
  next_refresh_at: Date | null;
  running_now: boolean;
  running_run_id: number | null;
  running_started_at: Date | null;
  newest_run_id: number | null;
  latest_run_id: number | null;
  latest_status: PlanLatestRun['status'] | null;
  latest_finished_at: Date | null;
  latest_retryable: boolean;
  failure_streak: number;
  quality_verdict: QualityVerdict | null;
  retry_at: Date | null;
  checkpoint_worker: string | null;
  checkpoint_rows: string | null;
  checkpoint_total_rows: string | null;
  bytes: string;
}

/** Midnight UTC of the day `now` falls in. */
const startOfUtcDay = (now: Date) => new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate()));

/**
 * The facts of the given tables (all when `ids` is null), highest priority first, in one
 * statement. Without `bytes` (the planner's case) bytesBilledToday reads 0: summing the day's
 * audit rows is most of the statement's work at 10,000 tables.
 */
export async function readTableFacts(db: Db, now: Date, ids: readonly number[] | null, { bytes = true } = {}): Promise<TableFacts[]> {
  const { rows } = await db.query<TableStateRow>(
    `SELECT s.*, CASE WHEN $3 THEN sqp_refresh_work.bytes_billed_since(s.config_id, $1) ELSE 0 END::text AS bytes
     FROM sqp_refresh_work.table_state s
     WHERE $2::int[] IS NULL OR s.config_id = ANY ($2::int[])
     ORDER BY s.priority DESC, s.config_id`,
    [startOfUtcDay(now), ids, bytes],
  );
  return rows.map((r) => ({
    configId: r.config_id,
    tableSchema: r.table_schema,
    tableName: r.table_name,
    isEnabled: r.is_enabled,
    priority: r.priority,
    refreshFrequencyHours: r.refresh_frequency_hours,
    configured: r.configured,
    lastRefreshAt: r.last_refresh_at,
    nextRefreshAt: r.next_refresh_at,
    runningNow: r.running_now,
    runningRunId: r.running_run_id,
    runningStartedAt: r.running_started_at,
    interrupted: r.running_run_id !== null && !r.running_now,
    newestRunId: r.newest_run_id,
    latestRun: r.latest_run_id === null
      ? null
      : { id: r.latest_run_id, status: r.latest_status!, finishedAt: r.latest_finished_at, retryable: r.latest_retryable },
    failureStreak: r.failure_streak,
    retryAt: r.retry_at,
    qualityVerdict: r.quality_verdict,
    bytesBilledToday: BigInt(r.bytes.split('.')[0]!),
    checkpoint: r.checkpoint_worker === null
      ? null
      : { worker: r.checkpoint_worker, rowsProcessed: Number(r.checkpoint_rows ?? 0), totalRows: r.checkpoint_total_rows === null ? null : Number(r.checkpoint_total_rows) },
  }));
}

/**
 * The latest finished run of each given table (all when `ids` is null) with its failure streak:
 * the planner's view of history. One narrow statement (no locks, no checkpoints): the runner
 * reads it on every pass.
 */
export async function readLatestFinishedRuns(db: Db, ids: readonly number[] | null): Promise<Map<number, PlanLatestRun>> {
  const { rows } = await db.query<{ config_id: number; status: PlanLatestRun['status']; finished_at: Date | null; retryable: boolean; failure_streak: number }>(
    `SELECT config_id, status, finished_at, retryable, failure_streak FROM sqp_refresh_work.latest_finished_run
     WHERE $1::int[] IS NULL OR config_id = ANY ($1::int[])`,
    [ids],
  );
  return new Map(rows.map((r) => [r.config_id, { status: r.status, finishedAt: r.finished_at, retryable: r.retryable, attempts: r.failure_streak }]));
}

/** Tables whose refresh a runner would start now: due (or interrupted: recovered, then run). */
export function queueDepth(states: ReadonlyArray<{ state: string }>): number {
  return states.filter((s) => s.state === 'due' || s.state === 'interrupted').length;
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
  status: PlanLatestRun['status'];
  outcome: RunOutcome | null;
  finished: boolean;
}

/**
 * The run's state as the tables (and this process's runner, if it runs it) say now. A running
 * run's committed rows are its table's newest active checkpoint (the read model's; a resumed
 * run's too, before its first page). A run that stopped early (paused, cancelled, failed) keeps
 * its real percent: runs of a table never overlap, so the checkpoint written while it ran is
 * its own, whatever became of it since.
 */
export async function readRunState(db: Db, id: number, local: InFlightRun | undefined): Promise<RunState | null> {
  const { rows: [r] } = await db.query<{
    status: PlanLatestRun['status']; sync_metadata: unknown; rows_processed: number | null;
    running_rows: string | null; running_total: string | null; finished_total: string | null;
  }>(
    `SELECT a.status, a.sync_metadata, a.rows_processed,
            s.checkpoint_rows AS running_rows, s.checkpoint_total_rows AS running_total, f.total_rows AS finished_total
     FROM sqp.refresh_audit_log a
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
  const outcome = runOutcome(r.status, r.sync_metadata);
  if (outcome !== null) {
    const checkpointTotal = r.finished_total === null ? null : Number(r.finished_total);
    const rowsProcessed = r.rows_processed ?? 0;
    const whole = outcome === 'completed' || outcome === 'unchanged';
    const totalRows = whole ? Math.max(rowsProcessed, checkpointTotal ?? 0) : checkpointTotal;
    return { runId: id, status: r.status, outcome, rowsProcessed, totalRows, percent: whole ? 100 : percentOf(rowsProcessed, totalRows), rowsPerSecond: null, etaSeconds: null, finished: true };
  }
  const checkpoint = r.running_rows === null && r.running_total === null
    ? null
    : { rowsProcessed: Number(r.running_rows ?? 0), totalRows: r.running_total === null ? null : Number(r.running_total) };
  return { runId: id, status: r.status, outcome: null, ...runningProgress(checkpoint, local, undefined), finished: false };
}

/** A replica that has not ticked for this long is presumed dead. */
export const ALIVE_SECONDS = 180;

/** A process that runs a runner against this database, as its latest heartbeat says. */
export interface ReplicaRow {
  workerName: string;
  startedAt: Date;
  lastSeenAt: Date;
  lastTickAt: Date | null;
  lastTickMs: number | null;
  alive: boolean;
  inFlight: Array<{ runId: number | null; rowsProcessed: number; totalRows: number | null; percent: number | null; rowsPerSecond: number; etaSeconds: number | null }>;
}

/** Every replica that has sent a heartbeat, alive or not (runnerStatus). */
export async function readReplicas(db: Db): Promise<ReplicaRow[]> {
  const { rows } = await db.query<ReplicaRow>(
    `SELECT worker_name AS "workerName", started_at AS "startedAt", last_seen_at AS "lastSeenAt", last_tick_at AS "lastTickAt",
            last_tick_ms AS "lastTickMs", last_seen_at > now() - make_interval(secs => $1) AS alive, in_flight AS "inFlight"
     FROM sqp_refresh_work.replicas ORDER BY worker_name`,
    [ALIVE_SECONDS],
  );
  return rows;
}
