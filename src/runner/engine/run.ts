// One refresh in progress: what its phases (start.ts, write.ts, audit.ts, publish.ts) share —
// its connection, its audit row, its checkpoint state, the facts its audit row will tell —
// and the one way a run ends: `finish` writes the audit row (and removes the requests it
// served) on a given connection, `announce` tells the event bus once that row is committed.
import type pg from 'pg';
import { safeEmit, type TableRef } from '../../subscriptions/events.ts';
import { endedRun, finishAuditRow, type RunFinish } from './audit-log.ts';
import { runOutcome } from './run-metadata.ts';
import type { CheckpointState } from './checkpoints.ts';
import type { QualityMetricValue } from './quality.ts';
import type { RefreshConfigRow, RefreshOptions, RefreshOutcome } from './refresh-types.ts';
import { alertTableRecovered } from '../../alerts/table-alerts.ts';
import { finishRequests } from '../state/requests.ts';
import { moveSchedule } from '../state/schedule-writer.ts';
import { nextRefreshAfterSuccess } from '../state/schedule.ts';

const MB = 1024 * 1024;

/** Where a run is: writing (pages into staging), auditing (the publish transaction, before its verdict), publishing (recording and committing), published. */
export type RunPhase = 'writing' | 'auditing' | 'publishing' | 'published';

export interface RunError {
  message: string;
  details: Record<string, unknown>;
}

export class Run {
  readonly ref: TableRef;
  readonly now: () => Date;
  readonly ttl: number;
  readonly worker: string;
  readonly clockStart = performance.now();
  /** Set once the run has its audit row. */
  runId: number | null = null;
  resumed = false;
  /**
   * The requests this run serves (state/requests.ts requestsServed): the claim's, or of those
   * only the ones a resumed load was started for. Set when the run opens.
   */
  requestIds: number[] = [];
  /** Set when the connection holding the table's lock is lost: the run stops (refresh-table.ts). */
  lost: Error | null = null;
  /** Runs of this table a dead process left `running`, failed by this one. */
  interrupted: number[] = [];
  /** The checkpoint: what is staged, where the source continues, the counts. */
  state: CheckpointState | null = null;
  checkpointId: number | null = null;
  phase: RunPhase = 'writing';
  /** Whether the run's connection is inside a transaction a failure must roll back. */
  inTransaction = false;
  deleted = 0;
  bytes: { processed?: bigint; billed?: bigint; jobId?: string; estimate?: bigint } = {};
  /** The source kind's own facts for the audit row's metadata (SourceRead.details). */
  details: Readonly<Record<string, unknown>> = {};
  private announced = false;
  private readonly rssStart = process.memoryUsage().rss;
  private rssPeak = this.rssStart;

  constructor(
    readonly client: pg.PoolClient,
    readonly config: RefreshConfigRow,
    readonly options: RefreshOptions,
  ) {
    this.now = options.now ?? (() => new Date());
    this.ttl = options.checkpointTtlSeconds ?? 3600;
    this.worker = options.workerName ?? 'sqp-refresh';
    this.ref = { configId: config.id, tableSchema: config.tableSchema, tableName: config.tableName };
  }

  sampleMemory(): void {
    this.rssPeak = Math.max(this.rssPeak, process.memoryUsage().rss);
  }

  async begin(): Promise<void> {
    await this.client.query('BEGIN');
    this.inTransaction = true;
  }

  /**
   * Opens the transaction that ends the run (publish, or an unchanged ending) with the config
   * row locked first: the lock order of migration 034 (config, then requests).
   */
  async beginFinal(): Promise<void> {
    await this.begin();
    await this.client.query(`SELECT 1 FROM sqp.refresh_config WHERE id = $1 FOR NO KEY UPDATE`, [this.config.id]);
  }

  async commit(): Promise<void> {
    await this.client.query('COMMIT');
    this.inTransaction = false;
  }

  async rollback(): Promise<void> {
    this.inTransaction = false;
    await this.client.query('ROLLBACK');
  }

  /**
   * Writes the finished audit row on `client` — the run's own connection, or a fresh one when
   * the run's was lost — with the requests this run served, which are done unless the refresh
   * goes on (paused, or failed and retried). Inside the run's open transaction when it has
   * one (the caller commits), else in a transaction of its own. A row that is no longer
   * `running` stays as it is (see endedElsewhere).
   */
  async finish(
    status: RefreshOutcome['status'],
    outcome: RefreshOutcome['outcome'],
    error: RunError | null,
    extra: Record<string, unknown> = {},
    client: pg.ClientBase = this.client,
  ): Promise<RefreshOutcome> {
    this.sampleMemory();
    const own = client !== this.client || !this.inTransaction;
    const result = this.outcomeOf(status, outcome, error);
    if (own) await client.query('BEGIN');
    let ended: boolean;
    try {
      const done = outcome === 'completed' || outcome === 'unchanged' || outcome === 'cancelled' || (outcome === 'failed' && error?.details.retryable !== true);
      if (done && this.requestIds.length) await finishRequests(client, this.requestIds);
      ended = await finishAuditRow(client, this.runId!, this.finishedRow(result, extra));
      if (!ended && !own) throw new Error(`run ${this.runId} was ended by another process while its connection held the table's lock`);
      // Not ended by this finish: the requests stay, nothing of it is kept.
      if (own) await client.query(ended ? 'COMMIT' : 'ROLLBACK');
    } catch (error) {
      if (own) await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    }
    return ended ? result : this.endedElsewhere(client, result);
  }

  /** What finish() reports and the audit row records. */
  private outcomeOf(status: RefreshOutcome['status'], outcome: RefreshOutcome['outcome'], error: RunError | null): RefreshOutcome {
    const state = this.state;
    return {
      runId: this.runId!,
      status,
      outcome,
      rowsProcessed: state?.rowsDone ?? 0,
      rowsInserted: state?.inserted ?? 0,
      rowsUpdated: state?.updated ?? 0,
      rowsDeleted: this.deleted,
      resumed: this.resumed,
      errorMessage: error?.message ?? null,
      errorDetails: error?.details ?? null,
      requestIds: [...this.requestIds],
    };
  }

  /** The finished audit row of `result`, with the run's figures and `extra` in its metadata. */
  private finishedRow(result: RefreshOutcome, extra: Record<string, unknown>): RunFinish {
    const elapsedMs = Math.round(performance.now() - this.clockStart);
    const state = this.state;
    const rows = result.rowsProcessed;
    return {
      status: result.status,
      completedAt: this.now(),
      rowsProcessed: rows,
      rowsInserted: result.rowsInserted,
      rowsUpdated: result.rowsUpdated,
      rowsDeleted: result.rowsDeleted,
      executionTimeMs: elapsedMs,
      memoryUsedMb: Math.max(0, this.rssPeak - this.rssStart) / MB,
      bigqueryJobId: this.bytes.jobId ?? state?.jobId ?? null,
      errorMessage: result.errorMessage,
      errorDetails: result.errorDetails,
      metadata: {
        outcome: result.outcome,
        phase: this.phase,
        resumedFromCheckpoint: this.resumed,
        mode: state?.mode,
        pages: state?.pagesDone ?? 0,
        watermarkBefore: state?.watermarkBefore ?? null,
        watermarkAfter: state?.watermarkAfter ?? null,
        since: state?.since ?? null,
        rowsPerSecond: elapsedMs > 0 ? Math.round((rows * 1000) / elapsedMs) : rows,
        // Written at the start too; a load started over serves more than the row first said.
        ...(this.requestIds.length ? { requestIds: this.requestIds } : {}),
        ...(state?.readStartedAt ? { readStartedAt: state.readStartedAt } : {}),
        ...(this.interrupted.length ? { markedInterrupted: this.interrupted } : {}),
        ...(this.bytes.processed !== undefined ? { bytesProcessed: this.bytes.processed.toString() } : {}),
        ...(this.bytes.billed !== undefined ? { bytesBilled: this.bytes.billed.toString() } : {}),
        ...this.details,
        ...(state?.sourceInputs !== undefined ? { sourceInputs: state.sourceInputs } : {}),
        ...extra,
      },
    };
  }

  /**
   * The row was ended before this finish: by the process that took the table's lock after this
   * run lost it (a claim or a recovery: interrupted), or by this run's own commit when its
   * connection was lost as it committed. That row is the truth; nothing of this finish was kept.
   */
  private async endedElsewhere(client: pg.ClientBase, computed: RefreshOutcome): Promise<RefreshOutcome> {
    const row = await endedRun(client, this.runId!);
    const superseded = row.errorDetails?.reason === 'interrupted';
    return {
      ...computed,
      status: row.status as RefreshOutcome['status'],
      outcome: runOutcome(row.status, row.metadata) ?? 'failed',
      errorMessage: row.errorMessage,
      errorDetails: row.errorDetails,
      requestIds: superseded ? [] : computed.requestIds,
      ...(superseded ? { superseded } : {}),
    };
  }

  /**
   * A success's schedule, in its finishing transaction (after finish() removed the requests it
   * served: one that came meanwhile keeps the table due; moveSchedule's `after` respects it), and
   * its TABLE_RECOVERED alert when a failure of the table was told.
   */
  async scheduleAfterSuccess(): Promise<void> {
    // A backfill chunk refreshed a range, not the table: its schedule, freshness and alerts stay its regular runs'.
    if (this.options.backfill) return;
    const { client, config } = this;
    await client.query(`UPDATE sqp.refresh_config SET last_refresh_at = $2 WHERE id = $1`, [config.id, this.now()]);
    await moveSchedule(client, config.id, { after: nextRefreshAfterSuccess(config.nextRefreshAt, config.refreshFrequencyHours, this.now()) });
    await alertTableRecovered(client, this.ref, { runId: this.runId!, at: this.now() });
  }

  /** Tells the event bus how the run ended: called once its finished row is committed (once per run; a later call only returns). */
  announce(r: RefreshOutcome): RefreshOutcome {
    if (this.announced) return r;
    this.announced = true;
    safeEmit(this.options.emit, { type: 'run:finished', ...this.ref, runId: r.runId, status: r.status, outcome: r.outcome, rowsProcessed: r.rowsProcessed, errorMessage: r.errorMessage, at: this.now().toISOString() });
    return r;
  }

  /** A progress event: rows staged so far of `total` (when the source knows it), in the current phase. */
  progress(total: number | null): void {
    const state = this.state!;
    const seconds = Math.max(0.001, (performance.now() - this.clockStart) / 1000);
    const rate = state.rowsDone / seconds;
    safeEmit(this.options.emit, {
      type: 'run:progress', ...this.ref, runId: this.runId!, phase: this.phase === 'published' ? 'publishing' : this.phase, page: state.pagesDone, rowsProcessed: state.rowsDone, totalRows: total,
      percent: total ? Math.min(100, Math.round((state.rowsDone / total) * 1000) / 10) : null,
      rowsPerSecond: Math.round(rate),
      etaSeconds: total && rate > 0 ? Math.max(0, Math.round((total - state.rowsDone) / rate)) : null,
      at: this.now().toISOString(),
    });
  }

  /** One event per quality metric recorded (after the commit that recorded them). */
  qualityRecorded(metrics: QualityMetricValue[]): void {
    for (const m of metrics) {
      safeEmit(this.options.emit, { type: 'quality:recorded', ...this.ref, runId: this.runId!, metricName: m.name, value: m.value, isWithinThreshold: m.within, at: this.now().toISOString() });
    }
  }
}
