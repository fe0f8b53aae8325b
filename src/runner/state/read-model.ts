// state/ — what each table's state is, was and will be: the read model over migrations 037 and
// 038's views (this file; a run's state in run-state.ts), a table's state and its one precedence
// order (table-state.ts), health (health.ts), freshness SLAs (freshness.ts), the planner's verdict
// (planner.ts, its input plan-input.ts, its graph walks dependency-graph.ts), run statistics
// (run-statistics.ts), when a table is due (due.ts), the schedule's arithmetic (schedule.ts), and
// the two files here that write: the pending requests (requests.ts) and the schedule's one
// writer (schedule-writer.ts). May import: pg, Prisma's generated types (due.ts's `where`), and from engine/
// only a run's types and outcome (refresh-types.ts, run-metadata.ts). Never scheduler/ (which
// imports state/), the graph, the commands or subscriptions/.
//
// The read model of table state: the one module that reads the views of migrations 037 and 038
// (sqp_refresh_work.table_state, .latest_finished_run) for tables. tableHealth, runnerStatus,
// /metrics, the planner's input and `sqp-refresh status` all read a table's facts here, so they
// cannot disagree. "Running" means the table's refresh lock is held (on any replica: 038's
// live_run); a `running` audit row whose lock is free is a dead process's: "interrupted".
import type pg from 'pg';
import { freshnessSlaHours, lateAfter } from './freshness.ts';
import type { PlanLatestRun } from './planner.ts';

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
  /** Its freshness SLA in force, in hours (its own, or the default: freshness.ts). */
  freshnessSlaHours: number;
  /** When it is late unless it succeeds first (latest success, or registration, plus the SLA). */
  lateAfter: Date;
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
  freshness_sla_hours: number | null;
  created_at: Date | null;
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
    ...freshnessOf(r),
  }));
}

/** The SLA in force and when the table is late (freshness.ts says how). */
function freshnessOf(r: TableStateRow): Pick<TableFacts, 'freshnessSlaHours' | 'lateAfter'> {
  const sla = freshnessSlaHours(r.freshness_sla_hours, r.refresh_frequency_hours);
  return { freshnessSlaHours: sla, lateAfter: lateAfter(r.last_refresh_at, r.created_at, sla) };
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
