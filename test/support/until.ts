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

/** Polls `check` every 50 ms until it returns true; fails after `timeoutMs`. */
export async function eventually(check: () => Promise<boolean>, timeoutMs = 30_000, what = 'condition'): Promise<void> {
  const start = Date.now();
  while (!(await check())) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
