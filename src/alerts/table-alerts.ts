// When a table's story is worth telling someone, once per episode. The alerts table is the log
// of episodes: a TABLE_FAILED opens a failure that the next TABLE_RECOVERED closes, so a table
// failing at every regular slot alerts once, and its first success after that alerts once. A late
// table or one blocked by a failed parent alerts once until it next succeeds (the table's latest
// success, from the read model, starts a new episode). Each alert is written in the transaction
// of the state change it reports where there is one (a run's final failure, a success); lateness
// and blocking are verdicts on time and on parents, found by the runner after a pass.
import type pg from 'pg';
import type { AlertInput } from './alert.ts';
import { enqueueAlert } from './enqueue.ts';

type Table = Pick<AlertInput, 'configId' | 'tableSchema' | 'tableName'>;

/** Serialises the alerts of one table across replicas for the rest of the caller's transaction. */
async function lockTableAlerts(client: pg.ClientBase, configId: number): Promise<void> {
  await client.query(`SELECT pg_advisory_xact_lock(hashtext('sqp-refresh alerts'), $1)`, [configId]);
}

/** Whether the table's newest failure-or-recovery alert is a failure: an episode is open. */
async function failureOpen(client: pg.ClientBase, configId: number): Promise<boolean> {
  const { rows } = await client.query<{ kind: string }>(
    `SELECT kind FROM sqp_refresh_work.alerts WHERE config_id = $1 AND kind IN ('table_failed', 'table_recovered') ORDER BY id DESC LIMIT 1`,
    [configId],
  );
  return rows[0]?.kind === 'table_failed';
}

/** A run failed for good (retries used up, or an error no retry fixes, or a blocking quality check): alerts unless its failure is already told. Call inside the transaction that moves its schedule. */
export async function alertTableFailed(client: pg.ClientBase, table: Table, run: { runId: number; reason: string; at: Date }): Promise<void> {
  await lockTableAlerts(client, table.configId);
  if (await failureOpen(client, table.configId)) return;
  await enqueueAlert(client, { kind: 'table_failed', ...table, runId: run.runId, reason: run.reason, at: run.at });
}

/** A run succeeded: alerts that the table recovered when a failure of it was told. Call inside the transaction that records the success. */
export async function alertTableRecovered(client: pg.ClientBase, table: Table, run: { runId: number; at: Date }): Promise<void> {
  // Cheap when nothing failed: one indexed read, no lock.
  if (!(await failureOpen(client, table.configId))) return;
  await lockTableAlerts(client, table.configId);
  if (!(await failureOpen(client, table.configId))) return;
  await enqueueAlert(client, { kind: 'table_recovered', ...table, runId: run.runId, reason: `refreshed successfully (run ${run.runId})`, at: run.at });
}

/** A table found late, or blocked by a failed parent, and when its current episode began (its latest success; null: never). */
export interface EpisodeCandidate extends Table {
  kind: 'table_late' | 'table_blocked';
  since: Date | null;
  reason: string;
}

/** Alerts each candidate whose episode has not been told yet; resolves with how many were. */
export async function alertNewEpisodes(pool: pg.Pool, candidates: readonly EpisodeCandidate[], at: Date): Promise<number> {
  if (!candidates.length) return 0;
  // One statement finds the untold ones (usually none), so a pass over 10,000 late tables costs one query.
  const { rows } = await pool.query<{ i: number }>(
    `SELECT c.i FROM unnest($1::int[], $2::text[], $3::timestamptz[]) WITH ORDINALITY AS c(config_id, kind, since, i)
     WHERE NOT EXISTS (SELECT 1 FROM sqp_refresh_work.alerts a
                       WHERE a.config_id = c.config_id AND a.kind = c.kind AND a.occurred_at > COALESCE(c.since, '-infinity'))`,
    [candidates.map((c) => c.configId), candidates.map((c) => c.kind), candidates.map((c) => c.since)],
  );
  let told = 0;
  for (const { i } of rows) if (await tellEpisode(pool, candidates[Number(i) - 1]!, at)) told++;
  return told;
}

/** One episode's alert, unless another replica told it meanwhile. */
async function tellEpisode(pool: pg.Pool, c: EpisodeCandidate, at: Date): Promise<boolean> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    await lockTableAlerts(client, c.configId);
    const { rows } = await client.query(
      `SELECT 1 FROM sqp_refresh_work.alerts WHERE config_id = $1 AND kind = $2 AND occurred_at > COALESCE($3::timestamptz, '-infinity') LIMIT 1`,
      [c.configId, c.kind, c.since],
    );
    if (!rows.length) await enqueueAlert(client, { kind: c.kind, configId: c.configId, tableSchema: c.tableSchema, tableName: c.tableName, reason: c.reason, at });
    await client.query('COMMIT');
    return !rows.length;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
}

/**
 * A backfill of the table failed for good (a chunk failed after its retries, or with an error no
 * retry mends): told when the chunk that failed it ends. Its table's own state is not changed by
 * it (migration 044); resumeBackfill tries again, and a new failure is told again.
 */
export async function alertBackfillFailed(db: pg.Pool | pg.ClientBase, table: Table, failure: { backfillId: number; runId: number | null; reason: string; at: Date }): Promise<void> {
  await enqueueAlert(db, { kind: 'backfill_failed', ...table, runId: failure.runId, reason: `backfill ${failure.backfillId}: ${failure.reason}`, at: failure.at });
}
