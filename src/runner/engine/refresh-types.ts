// What a refresh takes and gives: shared by the engine (engine/), its inputs
// (refresh-inputs.ts), the runner and the commands, so that none of them imports another's
// module for a type (refresh-table.ts and refresh-inputs.ts imported each other).
import type pg from 'pg';
import type { RefreshEvent } from '../../subscriptions/events.ts';
import type { Sources } from '../sources/registry.ts';

/** The columns of refresh_config a refresh needs. */
export interface RefreshConfigRow {
  id: number;
  tableSchema: string;
  tableName: string;
  customSyncParams: unknown;
  refreshFrequencyHours: number;
  isEnabled: boolean;
  nextRefreshAt: Date | null;
}

export interface RefreshOptions {
  pool: pg.Pool;
  /** The process's sources (sources/registry.ts). */
  sources: Sources;
  now?: () => Date;
  /** Names this worker in checkpoints (function_name). */
  workerName?: string;
  /** Daily BigQuery byte budget; null: none. */
  dailyByteBudget?: bigint | null;
  checkpointTtlSeconds?: number;
  /** Cancels at the next page boundary: the run ends failed/cancelled, its checkpoint expired. */
  signal?: AbortSignal;
  /** Shutdown: stops at the next page boundary, leaving the checkpoint for whoever resumes. */
  shutdownSignal?: AbortSignal;
  emit?: (event: RefreshEvent) => void;
  /** Extra facts for the audit row's sync_metadata (e.g. why the runner started it). */
  metadata?: Record<string, unknown>;
  /**
   * Ids of the forced/scheduled requests the claim read (scheduler/sql.ts claimDue). The run
   * serves those its read began after (state/requests.ts requestsServed: all of them, unless it
   * resumes a load started earlier). The served ones are deleted in the transaction that
   * finishes the run when it completes, is cancelled or fails for good; a paused run or a
   * retryable failure leaves them for the next run.
   */
  requestIds?: readonly number[];
  /**
   * A connection of `pool` whose session already holds the table's refresh lock (the runner
   * claims on it: scheduler/sql.ts claimDue). The caller unlocks and releases it. Without it,
   * refreshTable takes a connection and the lock itself (the CLI's `run`).
   */
  lockedClient?: pg.PoolClient;
  /** Someone asked for this run (forceRefresh, scheduleRefresh): it reads its source even when its inputs did not change. */
  force?: boolean;
  /**
   * This run is a chunk of a backfill: it re-loads the rows of [from, to) (`YYYY-MM-DD`) of the
   * table's partition column (a transform: the periods its parent has rows of in the range),
   * replaces them (rows of the range the source lacks are deleted) and leaves every other row,
   * the watermark and the source inputs of the table's regular runs as they were.
   */
  backfill?: { from: string; to: string };
}

export type RefreshOutcome = {
  runId: number;
  status: 'success' | 'warning' | 'failed';
  outcome: 'completed' | 'unchanged' | 'paused' | 'cancelled' | 'failed';
  rowsProcessed: number;
  rowsInserted: number;
  rowsUpdated: number;
  rowsDeleted: number;
  resumed: boolean;
  errorMessage: string | null;
  errorDetails: Record<string, unknown> | null;
  /** The requests this run served (its audit row lists them); absent: none. */
  requestIds?: number[];
  /**
   * The run lost its table's lock and the process that took the lock ended its audit row first
   * (as interrupted): the outcome is what that row says, and the schedule is that process's.
   */
  superseded?: boolean;
};

/** Another refresh of the same table holds its lock. */
export class RefreshBusyError extends Error {
  override name = 'RefreshBusyError';
}

/** A refresh this process is running, as its latest committed progress reports it. */
export interface InFlightRun {
  runId: number | null;
  configId: number;
  table: string;
  startedAt: Date;
  rowsProcessed: number;
  totalRows: number | null;
  percent: number | null;
  rowsPerSecond: number;
  etaSeconds: number | null;
}
