// Refresh requests (sqp_refresh_work.refresh_requests, migration 034): what forceRefresh and
// scheduleRefresh ask for, kept until a run serves them. A request is recorded by a command,
// read by the claim (scheduler/sql.ts claimDue) and deleted only by the run that served it, in
// the transaction that finishes that run. A request asks for data read after it was made: only
// a run whose read began after it serves it (requestsServed).
import type pg from 'pg';

/** What the pending requests of a table ask for (forceRefresh, scheduleRefresh), merged. */
export interface RefreshRequest {
  /** The request rows this run uses; it deletes them when it finishes (see finishRequests). */
  ids: number[];
  /** `full` when any request asks for it, else `incremental` when one does, else the config's. */
  mode: 'full' | 'incremental' | null;
  /** Whether the dependents follow: true when any request (or a schedule) wants it. */
  cascade: boolean;
  requestedBy: string | null;
}

/** Records a request; the caller then makes the table due by then (config row first: migration 034's lock order). */
export async function insertRequest(
  db: pg.ClientBase,
  r: { configId: number; mode: RefreshRequest['mode']; cascade: boolean; requestedBy: string | null; requestedAt: Date; runAt: Date },
): Promise<number> {
  const { rows } = await db.query<{ id: string }>(
    `INSERT INTO sqp_refresh_work.refresh_requests (config_id, mode, cascade, requested_by, requested_at, run_at)
     VALUES ($1, $2, $3, $4, $5, $6) RETURNING id`,
    [r.configId, r.mode, r.cascade, r.requestedBy, r.requestedAt, r.runAt],
  );
  return Number(rows[0]!.id);
}

/** The requests a run used are done: deleted (in the run's finishing transaction when there is one). */
export async function finishRequests(db: pg.Pool | pg.ClientBase, ids: readonly number[]): Promise<void> {
  if (ids.length) await db.query(`DELETE FROM sqp_refresh_work.refresh_requests WHERE id = ANY ($1::bigint[])`, [ids]);
}

/** Whether a request due by now waits for a table (one no run has used yet). */
export async function hasPendingRequest(db: pg.Pool, configId: number): Promise<boolean> {
  const { rows } = await db.query(`SELECT 1 FROM sqp_refresh_work.refresh_requests WHERE config_id = $1 AND run_at <= now() LIMIT 1`, [configId]);
  return rows.length > 0;
}

/**
 * The requests a run serves of those its claim read (`claimed`): a request is served only by a
 * read that began after it was made. A new load begins its read after the claim, so it serves
 * every claimed request. A load resumed from its checkpoint (`resumedLoadFor`: the requests that
 * load was started for, as its checkpoint records them) began its read earlier: it serves only
 * those; a request made since then stays pending, and keeps the table due (schedule-writer.ts,
 * `after`), for a read of its own right after. Ids, not clocks, decide: a request the first
 * claim read was committed before that claim, whatever the replicas' clocks say.
 */
export function requestsServed(claimed: readonly number[], resumedLoadFor: readonly number[] | null): number[] {
  if (resumedLoadFor === null) return [...claimed];
  const startedFor = new Set(resumedLoadFor);
  return claimed.filter((id) => startedFor.has(id));
}
