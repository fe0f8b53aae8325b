// Global concurrency: one of `limit` slots shared by every replica, each a session advisory
// lock held on its own connection for the run, so a dead process's slot frees itself.
import type pg from 'pg';

export interface Slot {
  release(): Promise<void>;
}

const NO_LIMIT: Slot = { release: async () => undefined };

/** Takes a free slot of `limit` (undefined: no limit, always a slot); null when all are taken. */
export async function takeSlot(pool: pg.Pool, limit: number | undefined): Promise<Slot | null> {
  if (!limit) return NO_LIMIT;
  const client = await pool.connect();
  for (let slot = 0; slot < limit; slot++) {
    const { rows } = await client.query<{ ok: boolean }>(`SELECT pg_try_advisory_lock(hashtext('sqp-refresh slot'), $1) AS ok`, [slot]);
    if (rows[0]!.ok) {
      return {
        release: async () => {
          await client.query(`SELECT pg_advisory_unlock(hashtext('sqp-refresh slot'), $1)`, [slot]).catch(() => undefined);
          client.release();
        },
      };
    }
  }
  client.release();
  return null;
}
