// Every registered table with its schedule, its latest run and its state — the read model's
// facts, tableHealth's states and a run's status (src/runner/state/read-model.ts, health.ts,
// run-state.ts), the same the graph shows: "running" means its refresh lock is held, a dead
// process's row is "interrupted".
import type pg from 'pg';
import { healthOf, type TableState } from '../runner/state/health.ts';
import { readTableFacts } from '../runner/state/read-model.ts';
import { runStatus, type RunStatus } from '../runner/state/run-state.ts';
import { runOutcome } from '../runner/engine/run-metadata.ts';
import type { RetryPolicy } from '../runner/state/planner.ts';

export interface TableStatus {
  table: string;
  /** As tableHealth says it (running, interrupted, blocked, retrying, due, scheduled, …). */
  state: TableState;
  /** Why it is in that state. */
  reasons: string[];
  /** No successful refresh within its freshness SLA (as tableHealth's `late`). */
  late: boolean;
  /** Its freshness SLA in force, in hours. */
  freshnessSlaHours: number;
  enabled: boolean;
  priority: number;
  frequencyHours: number;
  /** False while custom_sync_params is empty: the runner skips the table. */
  configured: boolean;
  lastRefreshAt: Date | null;
  nextRefreshAt: Date | null;
  latestRun: {
    id: number;
    /** As RefreshRun.status: a `running` row no live process holds is `interrupted`. */
    status: RunStatus;
    /** completed, paused (time budget; resumes from its checkpoint), cancelled or failed; null while running. */
    outcome: string | null;
    startedAt: Date;
    completedAt: Date | null;
    rowsProcessed: number | null;
    rowsInserted: number | null;
    rowsUpdated: number | null;
    rowsDeleted: number | null;
    errorMessage: string | null;
  } | null;
  /** A process holds the table's refresh lock (an audit row saying `running` may be a dead one's). */
  runningNow: boolean;
}

/** Reads the status of every registered table, ordered by schema and name. */
export async function selectTableStatus(db: pg.Pool | pg.ClientBase, now = new Date(), retry?: RetryPolicy): Promise<TableStatus[]> {
  const facts = await readTableFacts(db, now, null);
  const [health, runs] = await Promise.all([
    healthOf(facts, db, now, null, retry),
    db.query<{
      id: number; status: string; live: boolean; sync_metadata: unknown; refresh_started_at: Date; refresh_completed_at: Date | null;
      rows_processed: number | null; rows_inserted: number | null; rows_updated: number | null; rows_deleted: number | null; error_message: string | null;
    }>(
      `SELECT a.id, a.status, coalesce(l.run_id = a.id, false) AS live, a.sync_metadata, a.refresh_started_at, a.refresh_completed_at,
              a.rows_processed, a.rows_inserted, a.rows_updated, a.rows_deleted, a.error_message
       FROM sqp.refresh_audit_log a LEFT JOIN sqp_refresh_work.live_run l ON l.config_id = a.refresh_config_id
       WHERE a.id = ANY ($1::int[])`,
      [facts.flatMap((f) => (f.newestRunId === null ? [] : [f.newestRunId]))],
    ),
  ]);
  const healthById = new Map(health.map((h) => [h.configId, h]));
  const runById = new Map(runs.rows.map((r) => [r.id, r]));
  return facts
    .map((f): TableStatus => {
      const h = healthById.get(f.configId)!;
      const r = f.newestRunId === null ? undefined : runById.get(f.newestRunId);
      return {
        table: h.table,
        state: h.state,
        reasons: h.reasons,
        late: h.late,
        freshnessSlaHours: h.freshnessSlaHours,
        enabled: f.isEnabled,
        priority: f.priority,
        frequencyHours: f.refreshFrequencyHours,
        configured: f.configured,
        lastRefreshAt: f.lastRefreshAt,
        nextRefreshAt: f.nextRefreshAt,
        latestRun: r
          ? {
              id: r.id,
              status: runStatus(r.status, r.live),
              outcome: runOutcome(r.status, r.sync_metadata),
              startedAt: r.refresh_started_at,
              completedAt: r.refresh_completed_at,
              rowsProcessed: r.rows_processed,
              rowsInserted: r.rows_inserted,
              rowsUpdated: r.rows_updated,
              rowsDeleted: r.rows_deleted,
              errorMessage: r.error_message,
            }
          : null,
        runningNow: f.runningNow,
      };
    })
    .sort((a, b) => (a.table < b.table ? -1 : a.table > b.table ? 1 : 0));
}
