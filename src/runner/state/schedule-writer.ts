// The one writer of refresh_config.next_refresh_at after a table is registered. Every change of
// a table's schedule — after a run, a retry, a recovery, a force, a scheduled refresh, a parent's
// cascade, the demo's first configuration — goes through `moveSchedule`, so the rules below hold
// for all of them. Two writes are not moves and stay where they are: a new row's first due time
// (its INSERT, src/commands/config.ts and migration 031's trigger) and the claim's lease, which
// must be part of the claim's one statement (scheduler/sql.ts claimDue).
import type pg from 'pg';

type Db = pg.Pool | pg.ClientBase;

/** How the schedule moves. */
export type ScheduleMove =
  /** After a run (or a retry, a recovery): `at`, unless a pending request wants the table sooner (migration 034). */
  | { after: Date }
  /** Due by `at` at the latest (a force): never later than it already was. */
  | { notLaterThan: Date }
  /** Exactly `at`, even when that postpones it (scheduleRefresh; its request keeps the time). */
  | { exactly: Date };

/** Moves one table's schedule; resolves with whether its row changed. */
export async function moveSchedule(db: Db, configId: number, move: ScheduleMove): Promise<boolean> {
  const [sql, at] = 'after' in move
    ? [`LEAST($2::timestamptz, (SELECT min(run_at) FROM sqp_refresh_work.refresh_requests WHERE config_id = $1))`, move.after]
    : 'notLaterThan' in move
      ? [`LEAST(next_refresh_at, $2::timestamptz)`, move.notLaterThan]
      : [`$2::timestamptz`, move.exactly];
  const res = await db.query(`UPDATE sqp.refresh_config SET next_refresh_at = ${sql} WHERE id = $1`, [configId, at]);
  return (res.rowCount ?? 0) > 0;
}

/** A parent's success makes its enabled dependents due by `at` (cascade); resolves with how many became due sooner. */
export async function cascadeToDependents(db: Db, parentId: number, at: Date): Promise<number> {
  const res = await db.query(
    `UPDATE sqp.refresh_config d SET next_refresh_at = $2
     FROM sqp.refresh_dependencies e
     WHERE e.parent_config_id = $1 AND d.id = e.dependent_config_id AND d.is_enabled
       AND (d.next_refresh_at IS NULL OR d.next_refresh_at > $2)`,
    [parentId, at],
  );
  return res.rowCount ?? 0;
}
