// Waits for a condition on the database written by another process (a child the test cannot
// await on): polls every 50 ms, fails after `timeoutMs`.
import type pg from 'pg';

export async function until(
  pool: pg.Pool,
  sql: string,
  ok: (row: Record<string, unknown>) => boolean,
  timeoutMs = 60_000,
): Promise<void> {
  const start = Date.now();
  for (;;) {
    const { rows } = await pool.query(sql);
    if (rows[0] && ok(rows[0])) return;
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for: ${sql}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
