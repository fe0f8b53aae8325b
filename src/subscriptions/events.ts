// subscriptions/ — how refresh events and notifications travel: their types (this file), the
// durable event log every replica writes and follows in commit order (event-log.ts; its writer,
// follower and pruner: event-writer.ts, event-follower.ts, event-pruner.ts, progress throttled
// before it is written by throttle.ts), the process's event bus the follower publishes on
// (bus.ts), GraphQL subscription streams over the log and the bus, filtered, resumable and
// bounded (streams.ts), and the one reconnecting LISTEN connection and the channels every NOTIFY
// uses (listener.ts). It carries what others publish and decides nothing about tables or runs.
// May import: node:events, pg, the database's client settings (src/database/connection.ts) and
// the logger. Never the runner, the graph, the commands or the HTTP layer: they import it.
//
// The events a refresh emits, in the order they happen. Each is sent only after the state it
// reports is committed. The runner's event bus and the GraphQL subscriptions carry these.

export interface TableRef {
  configId: number;
  tableSchema: string;
  tableName: string;
}

export type RefreshEvent =
  /** A refresh (or a resumed slice of one) started; `runId` is its audit row. */
  | ({ type: 'run:started'; runId: number; resumed: boolean; mode: 'full' | 'incremental'; at: string } & TableRef)
  /** A page was committed: the target and the checkpoint hold these rows. */
  | ({
      type: 'run:progress';
      runId: number;
      /** writing: pages go into the staging table; auditing: the load is complete, its diff and quality are being measured, nothing visible; publishing: it passed and is being committed. */
      phase: 'writing' | 'auditing' | 'publishing';
      page: number;
      rowsProcessed: number;
      totalRows: number | null;
      percent: number | null;
      rowsPerSecond: number;
      etaSeconds: number | null;
      at: string;
    } & TableRef)
  /** A quality metric of the run was recorded. */
  | ({ type: 'quality:recorded'; runId: number; metricName: string; value: number | null; isWithinThreshold: boolean | null; at: string } & TableRef)
  /** A due refresh did not start: a hard parent is unhealthy, or the table is in a cycle. */
  | ({ type: 'run:blocked'; reasons: string[]; at: string } & TableRef)
  /** The run ended (success, warning, failed; `outcome` says completed, unchanged, paused, cancelled or failed). */
  | ({
      type: 'run:finished';
      runId: number;
      status: 'success' | 'warning' | 'failed';
      outcome: 'completed' | 'unchanged' | 'paused' | 'cancelled' | 'failed';
      rowsProcessed: number;
      errorMessage: string | null;
      at: string;
    } & TableRef)
  /** A table's settings or dependencies changed (by a mutation, or by hand in SQL). */
  | ({ type: 'config:changed'; change: 'INSERT' | 'UPDATE' | 'DELETE'; fields: string[]; at: string } & TableRef);

export type RefreshEventType = RefreshEvent['type'];

/** An event as the log holds it: `id` is its place in the log (commit order), a decimal string of a bigint. */
export type LoggedEvent = RefreshEvent & { id: string };

/** Calls a listener so that a throwing listener can never hurt a run. */
export function safeEmit(listener: ((event: RefreshEvent) => void) | undefined, event: RefreshEvent): void {
  if (!listener) return;
  try {
    listener(event);
  } catch {
    // A listener's failure is its own problem; the refresh goes on.
  }
}
