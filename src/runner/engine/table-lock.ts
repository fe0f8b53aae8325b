// The table's refresh lock: a session advisory lock (migration 035's SQL functions spell its
// key once) held by the connection that runs the table's refresh, so that two processes never
// refresh one table at once and PostgreSQL frees it when the process or the connection dies.
// The claim takes it inside its own statement (scheduler/sql.ts claimDue); a refresh run
// without the runner (the CLI's `run`) and the recovery of dead processes' runs take it here.
import type pg from 'pg';

/** Takes a table's refresh lock on this session; false when another holds it. */
export async function tryLockTable(client: pg.ClientBase, schema: string, table: string): Promise<boolean> {
  const { rows } = await client.query<{ ok: boolean }>(`SELECT sqp_refresh_work.try_lock_table($1, $2) AS ok`, [schema, table]);
  return rows[0]!.ok;
}

/** Frees a table's refresh lock held by this session. */
export async function unlockTable(client: pg.ClientBase, schema: string, table: string): Promise<void> {
  await client.query(`SELECT sqp_refresh_work.unlock_table($1, $2)`, [schema, table]);
}
