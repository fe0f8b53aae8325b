// Recovery of runs of dead processes: their table's refresh lock is free although an audit
// row still says `running`. Taking the lock proves nobody runs the table; the rows are failed
// as interrupted (each told as its run:finished) and the table is due at once, to resume from its
// checkpoint — unless they were backfill chunks' runs, which their backfill resumes.
import type { Logger } from '../../logger.ts';
import type pg from 'pg';
import { failInterruptedRuns, interruptedRunEvents } from '../engine/audit-log.ts';
import { safeEmit, type RefreshEvent } from '../../subscriptions/events.ts';
import { tryLockTable, unlockTable } from '../engine/table-lock.ts';
import { readInterruptedTables } from '../state/run-state.ts';
import { moveSchedule } from '../state/schedule-writer.ts';

/** Fails the `running` rows no live process holds, and makes their tables due now (not for backfill chunks: their backfill resumes them). */
export async function recoverInterruptedRuns(pool: pg.Pool, now: () => Date, log: Logger, emit?: (event: RefreshEvent) => void): Promise<void> {
  for (const t of await readInterruptedTables(pool)) {
    const client = await pool.connect();
    try {
      const key = `${t.schema}.${t.table}`;
      if (!(await tryLockTable(client, t.schema, t.table))) continue; // alive somewhere
      try {
        const ids = await failInterruptedRuns(client, t.schema, t.table, null);
        if (ids.length) {
          log.warn({ table: key, runs: ids }, 'recovered interrupted runs; the table resumes from its checkpoint');
          const events = await interruptedRunEvents(client, ids, now());
          // A backfill chunk's run is resumed by its backfill's next chunk (same range, same
          // checkpoint); a regular run made due now would start its own load over it.
          if (!(await onlyBackfillChunks(client, ids))) await moveSchedule(client, t.configId, { after: now() });
          for (const e of events) safeEmit(emit, e);
        }
      } finally {
        await unlockTable(client, t.schema, t.table);
      }
    } finally {
      client.release();
    }
  }
}

/** Whether every one of these runs was a backfill chunk's. */
async function onlyBackfillChunks(client: pg.ClientBase, runIds: number[]): Promise<boolean> {
  const { rows } = await client.query<{ regular: number }>(
    `SELECT count(*) FILTER (WHERE NOT coalesce(sync_metadata ? 'backfill', false))::int AS regular FROM sqp.refresh_audit_log WHERE id = ANY ($1::int[])`,
    [runIds],
  );
  return rows[0]!.regular === 0;
}
