// SQL of the runner, one function per statement.
import type pg from 'pg';
import type { RefreshConfigRow } from '../engine/refresh-types.ts';
import { dueSql, schedulableSql } from '../state/due.ts';
import type { RefreshRequest } from '../state/requests.ts';

/** The columns of refresh_config a refresh needs, for one table; null when not registered. */
export async function selectConfig(db: pg.Pool | pg.ClientBase, schema: string, table: string): Promise<RefreshConfigRow | null> {
  const { rows } = await db.query<RefreshConfigRow>(
    `SELECT id, table_schema AS "tableSchema", table_name AS "tableName", custom_sync_params AS "customSyncParams",
            refresh_frequency_hours AS "refreshFrequencyHours", next_refresh_at AS "nextRefreshAt", is_enabled AS "isEnabled"
     FROM sqp.refresh_config WHERE table_schema = $1 AND table_name = $2`,
    [schema, table],
  );
  return rows[0] ?? null;
}

/** Due tables (enabled, next_refresh_at passed, with params), by priority, then how overdue. */
export async function selectDue(db: pg.Pool, now: Date, exclude: number[]): Promise<RefreshConfigRow[]> {
  // Uses the seed's partial index on next_refresh_at. The dependency order among the due
  // tables is decided in the runner from the planner's input (dueDepths): a recursive walk up
  // every ancestor path here grew with the number of paths, not of tables.
  const { rows } = await db.query(
    `SELECT c.id, c.table_schema AS "tableSchema", c.table_name AS "tableName", c.custom_sync_params AS "customSyncParams",
            c.refresh_frequency_hours AS "refreshFrequencyHours", c.next_refresh_at AS "nextRefreshAt", c.is_enabled AS "isEnabled"
     FROM sqp.refresh_config c
     WHERE ${dueSql('c', '$1')} AND NOT (c.id = ANY ($2::int[]))
     ORDER BY c.priority DESC, c.next_refresh_at, c.id`,
    [now, exclude],
  );
  return rows;
}

/** When the next table becomes due (enabled, with params), or null: the runner wakes itself then. */
export async function nextDueAt(db: pg.Pool): Promise<Date | null> {
  const { rows } = await db.query<{ at: Date | null }>(
    `SELECT min(c.next_refresh_at) AS at FROM sqp.refresh_config c WHERE ${schedulableSql('c')}`,
  );
  return rows[0]?.at ?? null;
}

/**
 * Dependency depth of each due table among the due tables: 0 when none of its due parents
 * (direct, or through other due tables) is due too. A table of a cycle counts its cycle once.
 */
export function dueDepths(dueIds: number[], edges: Array<{ parentId: number; dependentId: number }>): Map<number, number> {
  // Longest path in topological order (Kahn): iterative, so long chains are fine.
  const due = new Set(dueIds);
  const children = new Map<number, number[]>();
  const indegree = new Map<number, number>(dueIds.map((id) => [id, 0]));
  for (const e of edges) {
    if (!due.has(e.parentId) || !due.has(e.dependentId) || e.parentId === e.dependentId) continue;
    const list = children.get(e.parentId);
    if (list) list.push(e.dependentId);
    else children.set(e.parentId, [e.dependentId]);
    indegree.set(e.dependentId, indegree.get(e.dependentId)! + 1);
  }
  const depth = new Map<number, number>(dueIds.map((id) => [id, 0]));
  const ready = dueIds.filter((id) => indegree.get(id) === 0);
  for (let head = 0; head < ready.length; head++) {
    const id = ready[head]!;
    for (const c of children.get(id) ?? []) {
      depth.set(c, Math.max(depth.get(c)!, depth.get(id)! + 1));
      indegree.set(c, indegree.get(c)! - 1);
      if (indegree.get(c) === 0) ready.push(c);
    }
  }
  // Members of a cycle (and what hangs below one) never became ready: they keep the depth
  // their other parents gave them; the planner blocks the cycle's members anyway.
  return depth;
}

/** Failed runs of a table since its last success: the attempt count of its retry streak (SQL function of migration 034). */
export async function failureStreak(db: pg.Pool, configId: number): Promise<number> {
  const { rows } = await db.query<{ n: number }>(`SELECT sqp_refresh_work.failure_streak($1) AS n`, [configId]);
  return rows[0]!.n;
}

/** A claim: the table is this connection's to refresh, or why a hard parent holds it back. */
export type Claim =
  /** `interrupted`: the table's runs still `running` when the lock was taken, ended by the claim. */
  | { claimed: true; due: Date; request: RefreshRequest | null; interrupted: number[] }
  | { claimed: false; waitingFor: string | null };

/**
 * Claims a due table on `client`, the connection that will run its refresh: in one statement
 * it locks the config row (SKIP LOCKED: a replica claiming it at the same instant skips it),
 * checks that no hard parent is due or running on any replica (migration 035 says why that
 * holds under any interleaving), takes the table's refresh lock on this session, and moves
 * next_refresh_at one lease ahead. Holding the lock proves nobody runs the table: a row still
 * `running` is a run that lost its lock (its connection died, its process may not know yet) or a
 * dead process's, and the claim ends it as interrupted (migration 041) before its own run starts,
 * so no two rows of a table ever say `running`. It reads the requests due by now without deleting
 * them: only the run that serves them does. Lock order of migration 034: config row, then requests.
 * Not claimed: not due any more, taken by another replica (waitingFor null), or a hard parent
 * is pending (waitingFor says which). The caller unlocks with unlockTable (engine/table-lock.ts) after the run.
 */
export async function claimDue(client: pg.ClientBase, configId: number, now: Date, leaseSeconds: number): Promise<Claim> {
  const { rows } = await client.query<{ pending: string | null; due: Date | null; ids: string[] | null; mode: RefreshRequest['mode']; cascade: boolean | null; requested_by: string | null; interrupted: number[] | null }>(
    `WITH c AS (
       SELECT id, table_schema, table_name, next_refresh_at FROM sqp.refresh_config
       WHERE id = $1 AND is_enabled AND next_refresh_at <= $2
       FOR UPDATE SKIP LOCKED
     ), guard AS (
       SELECT c.*, sqp_refresh_work.hard_parent_pending(c.id, $2) AS pending FROM c
     ), locked AS (
       -- CASE, not AND: the lock is taken only when the guard passed.
       SELECT g.* FROM guard g
       WHERE CASE WHEN g.pending IS NULL THEN sqp_refresh_work.try_lock_table(g.table_schema, g.table_name) ELSE false END
     ), claimed AS (
       UPDATE sqp.refresh_config r SET next_refresh_at = $2::timestamptz + make_interval(secs => $3)
       FROM locked WHERE r.id = locked.id
       RETURNING locked.id, locked.next_refresh_at AS due
     ), interrupted AS (
       -- After the lock is granted (it reads locked); the function's own snapshot sees every row
       -- committed before then.
       SELECT sqp_refresh_work.fail_interrupted_runs(l.table_schema, l.table_name, NULL) AS id FROM locked l
     ), request AS (
       SELECT array_agg(q.id ORDER BY q.id) AS ids,
              CASE WHEN bool_or(q.mode = 'full') THEN 'full' WHEN bool_or(q.mode = 'incremental') THEN 'incremental' END AS mode,
              bool_or(q.cascade) AS cascade,
              (array_agg(q.requested_by ORDER BY q.id DESC) FILTER (WHERE q.requested_by IS NOT NULL))[1] AS requested_by
       FROM sqp_refresh_work.refresh_requests q JOIN claimed ON q.config_id = claimed.id
       WHERE q.run_at <= $2
     )
     SELECT guard.pending, claimed.due, request.ids, request.mode, request.cascade, request.requested_by,
            (SELECT array_agg(id ORDER BY id) FROM interrupted) AS interrupted
     FROM guard LEFT JOIN claimed ON true LEFT JOIN request ON claimed.id IS NOT NULL`,
    [configId, now, leaseSeconds],
  );
  const r = rows[0];
  if (!r?.due) return { claimed: false, waitingFor: r?.pending ?? null };
  return {
    claimed: true,
    due: r.due,
    request: r.ids?.length ? { ids: r.ids.map(Number), mode: r.mode, cascade: r.cascade ?? true, requestedBy: r.requested_by } : null,
    interrupted: r.interrupted ?? [],
  };
}

/**
 * The regular due time a retry streak belongs to (recorded by the first failed run), so that
 * retries never shift the table's schedule; null when the latest run was not a failure.
 */
export async function regularDueAt(db: pg.Pool, configId: number): Promise<Date | null> {
  const { rows } = await db.query<{ at: string | null }>(
    `SELECT CASE WHEN status = 'failed' THEN sync_metadata->>'regularDueAt' END AS at
     FROM sqp.refresh_audit_log WHERE refresh_config_id = $1 AND status <> 'running'
       AND coalesce(sync_metadata->>'outcome', '') <> 'cancelled'
       AND NOT coalesce(sync_metadata ? 'backfill', false) -- a backfill chunk's run is not the table's outcome (044)
     ORDER BY refresh_started_at DESC, id DESC LIMIT 1`,
    [configId],
  );
  return rows[0]?.at ? new Date(rows[0].at) : null;
}

/** Records this replica as alive, with its latest tick and what it runs (for runnerStatus). */
export async function recordHeartbeat(
  db: pg.Pool,
  r: { workerName: string; startedAt: Date; lastTickAt: Date | null; lastTickMs: number | null; inFlight: unknown[] },
): Promise<void> {
  await db.query(
    `INSERT INTO sqp_refresh_work.replicas (worker_name, started_at, last_seen_at, last_tick_at, last_tick_ms, in_flight)
     VALUES ($1, $2, now(), $3, $4, $5)
     ON CONFLICT (worker_name) DO UPDATE SET started_at = $2, last_seen_at = now(), last_tick_at = $3, last_tick_ms = $4, in_flight = $5`,
    [r.workerName, r.startedAt, r.lastTickAt, r.lastTickMs, JSON.stringify(r.inFlight)],
  );
}

/** A replica that stops cleanly leaves the list at once (a dead one ages out). */
export async function removeHeartbeat(db: pg.Pool, workerName: string): Promise<void> {
  await db.query(`DELETE FROM sqp_refresh_work.replicas WHERE worker_name = $1`, [workerName]);
}
