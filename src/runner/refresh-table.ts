// Refreshes one table from its source: the job sqp-refresh exists for, in named phases.
// START or resume (the audit row, the checkpoint, the staging table it must agree with);
// WRITE (pages COPYed into the run's staging table, each committed with its checkpoint, the
// target untouched); AUDIT and PUBLISH in one transaction (merge, deletes, quality on the
// result; commit, or on a blocking breach roll back); the audit row tells the whole story.
import type pg from 'pg';
import { safeEmit, type RefreshEvent, type TableRef } from '../subscriptions/events.ts';
import { failInterruptedRuns, finishAuditRow, lastSuccess, startAuditRow } from './audit.ts';
import { describeTable } from './catalog.ts';
import { advanceCheckpoint, claimCheckpoint, closeCheckpoint, expireOtherCheckpoints, findActiveCheckpoint, loadIsComplete, type CheckpointState } from './checkpoints.ts';
import { deleteMissing, StagedLoad, stagedRowCount } from './loader.ts';
import { measureQuality, qualityVerdict, recordQuality } from './quality.ts';
import { nextRefreshAfterSuccess } from './schedule.ts';
import { describeFailure, isConnectionLoss, RefreshFailure } from './refresh-failures.ts';
import { finishRequests, setNextRefresh, tryLockTable, unlockTable } from './runner-sql.ts';
import { enforceBudget, greater, lowerBound, pickSource, validateAgainstTarget } from './refresh-inputs.ts';
import type { SourceRead } from './source.ts';
import { parseSyncParams } from './sync-params.ts';
import { planTransform } from './transforms.ts';
import { RefreshBusyError, type RefreshConfigRow, type RefreshOptions, type RefreshOutcome } from './refresh-types.ts';

export { RefreshBusyError, type RefreshConfigRow, type RefreshOptions, type RefreshOutcome, type SourceProvider } from './refresh-types.ts';

const MB = 1024 * 1024;

/** Refreshes one table now; resolves with what happened (it does not throw for run failures). */
export async function refreshTable(config: RefreshConfigRow, options: RefreshOptions): Promise<RefreshOutcome> {
  const now = options.now ?? (() => new Date());
  const ttl = options.checkpointTtlSeconds ?? 3600;
  const worker = options.workerName ?? 'sqp-refresh';
  const ref: TableRef = { configId: config.id, tableSchema: config.tableSchema, tableName: config.tableName };
  const own = !options.lockedClient;
  const client = options.lockedClient ?? (await options.pool.connect());
  // A connection lost while this run holds it (failover, pg_terminate_backend) fails the
  // statement in flight; without a listener its 'error' event would end the process.
  let lostWith: Error | null = null;
  const onError = (err: Error) => (lostWith ??= err);
  client.on('error', onError);
  const ctx: RunContext = { now, ttl, worker, ref, runId: null, state: null, clockStart: performance.now(), phase: 'writing' };
  try {
    // One refresh per table at a time, across processes: a session lock on the run's
    // connection, released by PostgreSQL itself if this process (or the connection) dies.
    if (own && !(await tryLockTable(client, config.tableSchema, config.tableName))) {
      throw new RefreshBusyError(`${config.tableSchema}.${config.tableName} is being refreshed by another process`);
    }
    return await runLocked(client, config, options, ctx);
  } catch (error) {
    if (!(lostWith || isConnectionLoss(error)) || ctx.runId === null) throw error;
    lostWith ??= error as Error;
    return await finishAfterConnectionLoss(config, options, ctx, lostWith);
  } finally {
    client.off('error', onError);
    if (own) {
      if (!lostWith) await unlockTable(client, config.tableSchema, config.tableName).catch(() => undefined);
      client.release(lostWith ?? undefined); // a broken connection leaves the pool
    }
  }
}

/**
 * The run's connection died: what it committed stands (each page with its checkpoint), the
 * rest rolled back with the connection, and its table lock is gone with the session. The
 * audit row is finished on a fresh connection as a retryable failure, so the runner retries
 * it from the checkpoint with backoff.
 */
async function finishAfterConnectionLoss(config: RefreshConfigRow, options: RefreshOptions, ctx: RunContext, error: Error): Promise<RefreshOutcome> {
  const failure = describeFailure(error);
  const details = { ...failure.details, reason: 'connectionLost', retryable: true };
  const message = `lost its database connection (${failure.message}); the next run resumes from the checkpoint`;
  const state = ctx.state;
  const result: RefreshOutcome = {
    runId: ctx.runId!, status: 'failed', outcome: 'failed', rowsProcessed: state?.rowsDone ?? 0, rowsInserted: state?.inserted ?? 0, rowsUpdated: state?.updated ?? 0,
    rowsDeleted: 0, resumed: false, errorMessage: message, errorDetails: details,
  };
  const fresh = await options.pool.connect();
  try {
    await finishAuditRow(fresh, ctx.runId!, {
      status: 'failed', completedAt: ctx.now(), rowsProcessed: result.rowsProcessed, rowsInserted: result.rowsInserted, rowsUpdated: result.rowsUpdated, rowsDeleted: 0,
      executionTimeMs: Math.round(performance.now() - ctx.clockStart), memoryUsedMb: 0, bigqueryJobId: state?.jobId ?? null, errorMessage: message, errorDetails: details,
      metadata: { outcome: 'failed', phase: ctx.phase, mode: state?.mode, pages: state?.pagesDone ?? 0 },
    });
  } finally {
    fresh.release();
  }
  safeEmit(options.emit, { type: 'run:finished', ...ctx.ref, runId: ctx.runId!, status: 'failed', outcome: 'failed', rowsProcessed: result.rowsProcessed, errorMessage: message, at: ctx.now().toISOString() });
  return result;
}

interface RunContext {
  now: () => Date;
  ttl: number;
  worker: string;
  ref: TableRef;
  /** Set once the run has its audit row, and its state once known: read after a connection loss. */
  runId: number | null;
  state: CheckpointState | null;
  clockStart: number;
  /** Where the run is: writing (staging pages), auditing (the publish transaction), published. */
  phase: 'writing' | 'auditing' | 'published';
}

async function runLocked(client: pg.PoolClient, config: RefreshConfigRow, options: RefreshOptions, ctx: RunContext): Promise<RefreshOutcome> {
  const started = ctx.now();
  const clockStart = performance.now();
  const rssStart = process.memoryUsage().rss;
  let rssPeak = rssStart;
  const sampleMemory = () => (rssPeak = Math.max(rssPeak, process.memoryUsage().rss));

  const checkpoint = await findActiveCheckpoint(client, config.tableSchema, config.tableName);
  let resumed = checkpoint?.checkpoint_data?.version === 1;
  const runId = await startAuditRow(client, {
    configId: config.id,
    schema: config.tableSchema,
    table: config.tableName,
    startedAt: started,
    metadata: { ...options.metadata, ...(options.requestIds?.length ? { requestIds: options.requestIds } : {}), worker: ctx.worker, resumedFromCheckpoint: resumed, ...(resumed ? { checkpointId: checkpoint!.id } : {}) },
  });
  ctx.runId = runId;
  // We hold the table's lock, so any other `running` row of this table is a dead process's.
  const interrupted = await failInterruptedRuns(client, config.tableSchema, config.tableName, runId);

  let state: CheckpointState | null = resumed ? checkpoint!.checkpoint_data : null;
  let checkpointId: number | null = null;
  let read: SourceRead | null = null;
  let inTransaction = false;
  let deleted = 0;
  let bytes: { processed?: bigint; billed?: bigint; jobId?: string; location?: string } = {};
  let jobs: readonly unknown[] | null = null;
  const finish = async (
    status: RefreshOutcome['status'],
    outcome: RefreshOutcome['outcome'],
    error: { message: string; details: Record<string, unknown> } | null,
    extra: Record<string, unknown> = {},
  ): Promise<RefreshOutcome> => {
    sampleMemory();
    const elapsedMs = Math.round(performance.now() - clockStart);
    const rows = state?.rowsDone ?? 0;
    // One transaction with the requests this run served: they are done unless the refresh
    // goes on (paused, or failed and retried). The caller's transaction when it has one.
    const own = !inTransaction;
    if (own) await client.query('BEGIN');
    const done = outcome === 'completed' || outcome === 'unchanged' || outcome === 'cancelled' || (outcome === 'failed' && error?.details.retryable !== true);
    if (done && options.requestIds?.length) await finishRequests(client, options.requestIds);
    const result: RefreshOutcome = {
      runId,
      status,
      outcome,
      rowsProcessed: rows,
      rowsInserted: state?.inserted ?? 0,
      rowsUpdated: state?.updated ?? 0,
      rowsDeleted: deleted,
      resumed,
      errorMessage: error?.message ?? null,
      errorDetails: error?.details ?? null,
    };
    await finishAuditRow(client, runId, {
      status,
      completedAt: ctx.now(),
      rowsProcessed: rows,
      rowsInserted: result.rowsInserted,
      rowsUpdated: result.rowsUpdated,
      rowsDeleted: deleted,
      executionTimeMs: elapsedMs,
      memoryUsedMb: Math.max(0, rssPeak - rssStart) / MB,
      bigqueryJobId: bytes.jobId ?? state?.jobId ?? null,
      errorMessage: error?.message ?? null,
      errorDetails: error?.details ?? null,
      metadata: {
        outcome,
        phase: ctx.phase,
        resumedFromCheckpoint: resumed,
        mode: state?.mode,
        pages: state?.pagesDone ?? 0,
        watermarkBefore: state?.watermarkBefore ?? null,
        watermarkAfter: state?.watermarkAfter ?? null,
        since: state?.since ?? null,
        rowsPerSecond: elapsedMs > 0 ? Math.round((rows * 1000) / elapsedMs) : rows,
        ...(interrupted.length ? { markedInterrupted: interrupted } : {}),
        ...(bytes.processed !== undefined ? { bytesProcessed: bytes.processed.toString() } : {}),
        ...(bytes.billed !== undefined ? { bytesBilled: bytes.billed.toString() } : {}),
        ...(bytes.location ? { location: bytes.location } : {}),
        ...(jobs ? { bigqueryJobs: jobs } : {}),
        ...(state?.sourceInputs !== undefined ? { sourceInputs: state.sourceInputs } : {}),
        ...extra,
      },
    });
    if (own) await client.query('COMMIT');
    return result;
  };
  // Persist first, then publish: called once the finished row is committed.
  const announce = (r: RefreshOutcome): RefreshOutcome => {
    safeEmit(options.emit, { type: 'run:finished', ...ctx.ref, runId, status: r.status, outcome: r.outcome, rowsProcessed: r.rowsProcessed, errorMessage: r.errorMessage, at: ctx.now().toISOString() });
    return r;
  };

  try {
    safeEmit(options.emit, { type: 'run:started', ...ctx.ref, runId, resumed, mode: (state?.mode ?? 'full'), at: started.toISOString() });
    const params = parseSyncParams(config.customSyncParams);
    const target = await describeTable(client, config.tableSchema, config.tableName);
    if (!target) throw new RefreshFailure(`table ${config.tableSchema}.${config.tableName} does not exist`, { reason: 'missingTable', retryable: false });

    const plan = params.source.type === 'sql' ? planTransform(params.source.transform, config.tableSchema, params.source.parentTable) : null;
    const keyColumns = plan?.keyColumns ?? params.keyColumns ?? target.primaryKey;
    const cursorColumn = plan ? undefined : params.cursorColumn;
    validateAgainstTarget(target, keyColumns, cursorColumn, plan?.columns);

    ctx.state = state;
    if (state && (state.mode !== params.mode || Boolean(state.deleteMissing) !== params.deleteMissing)) {
      // The params changed since the checkpoint was written: its position means something
      // else now (and a key set started halfway would delete rows wrongly). Start over.
      await closeCheckpoint(client, checkpoint!.id, 'expired');
      state = null;
      resumed = false;
    }
    let restartedLoad: { staged: number | null; checkpointRows: number } | null = null;
    if (state) {
      // The staging table must hold exactly what the checkpoint says was staged (a checkpoint
      // of an older version, or a staging table someone dropped): otherwise load again.
      const staged = await stagedRowCount(client, config.id);
      if (staged !== state.rowsDone || !state.columns) {
        restartedLoad = { staged, checkpointRows: state.rowsDone };
        await closeCheckpoint(client, checkpoint!.id, 'expired');
        state = null;
        resumed = false;
      }
    }
    // The last completed run: its watermark starts a new incremental read, and its target row
    // count is what row_count_change compares with (we hold the table's lock: it stays valid).
    const previous = await lastSuccess(client, config.id);
    if (!state) {
      const watermark = (previous?.metadata.watermarkAfter as string | null | undefined) ?? null;
      const since = params.mode === 'incremental' && watermark ? lowerBound(watermark, params.lookbackHours) : null;
      state = {
        version: 1, firstRunId: runId, mode: params.mode, deleteMissing: params.deleteMissing, since, watermarkBefore: watermark, watermarkAfter: watermark,
        pagesDone: 0, rowsDone: 0, inserted: 0, updated: 0, duplicates: 0, nullKeys: {}, source: null, columns: plan?.columns,
      };
      await expireOtherCheckpoints(client, config.tableSchema, config.tableName, null);
      checkpointId = await claimCheckpoint(client, { functionName: ctx.worker, schema: config.tableSchema, table: config.tableName, state, ttlSeconds: ctx.ttl });
    } else {
      await expireOtherCheckpoints(client, config.tableSchema, config.tableName, checkpoint!.id);
      checkpointId = await claimCheckpoint(client, { existingId: checkpoint!.id, functionName: ctx.worker, schema: config.tableSchema, table: config.tableName, state, ttlSeconds: ctx.ttl });
    }
    ctx.state = state;

    const window = plan
      ? { sql: plan.window, params: [state.since] }
      : params.mode === 'incremental' && state.since && cursorColumn
        ? { sql: `t."${cursorColumn.replaceAll('"', '""')}" >= $1`, params: [state.since] }
        : null;
    const staging = (columns: string[]) => new StagedLoad(client, target, { configId: config.id, columns, keyColumns, cursorColumn });

    // WRITE: the source into the staging table, page by page, each with its checkpoint; the target is not touched.
    if (loadIsComplete(state)) {
      // Every page was committed before the previous slice stopped (killed, or its connection
      // lost, in the final phase): only the final phase is left.
    } else if (plan) {
      // A transform is one page: computed in PostgreSQL into the staging table.
      const loader = staging(plan.columns);
      const watermark = (await client.query<{ w: string | null }>(plan.watermark)).rows[0]!.w;
      await client.query('BEGIN');
      inTransaction = true;
      await loader.create();
      const staged = await loader.stageQuery(plan.select, [state.since]);
      state.watermarkAfter = watermark ?? state.watermarkAfter;
      await commitStagedPage(client, state, checkpointId, staged, null, ctx.ttl);
      inTransaction = false;
      emitProgress(options, ctx, runId, state, state.rowsDone, clockStart);
    } else {
      const source = pickSource(params, options.sources);
      const queryParams = { ...('params' in params.source ? params.source.params : {}), since: state.since };
      const request = {
        table: { schema: config.tableSchema, name: config.tableName },
        params: queryParams,
        pageSize: params.pageSize,
        keyColumns,
        resume: state.source ?? undefined,
        signal: options.signal,
        source: params.source,
      };
      // Nothing the query reads changed since the last successful run read it: no query, no
      // bytes, the run ends at once (a request always reads; a table can opt out in its params).
      const previousInputs = previous?.metadata.sourceInputs;
      if (state.pagesDone === 0 && !options.force && previousInputs !== undefined && source.inputsUnchanged
        && (await source.inputsUnchanged(request, previousInputs)).unchanged) {
        return announce(await finishUnchanged(client, config, options, ctx, previous!, checkpointId, finish, () => (inTransaction = true)));
      }
      if (source.kind === 'bigquery' && !state.source) await enforceBudget(client, source, request, options, ctx.now(), (b) => (bytes = { ...bytes, ...b }));
      read = await source.open(request);
      bytes = { ...bytes, processed: read.stats.bytesProcessed, billed: read.stats.bytesBilled, jobId: read.stats.jobId, location: read.stats.location };
      if (read.stats.jobId) state.jobId = read.stats.jobId;
      if (read.stats.inputs !== undefined) state.sourceInputs = read.stats.inputs;
      if (read.stats.jobs?.length) jobs = read.stats.jobs;
      const missing = read.columns.filter((c) => !target.columns.some((t) => t.name === c));
      if (missing.length) throw new RefreshFailure(`source columns not in ${target.schema}.${target.name}: ${missing.join(', ')}`, { reason: 'columnMismatch', columns: missing, retryable: false });
      if (state.columns && state.columns.join() !== read.columns.join()) {
        throw new RefreshFailure(`the source's columns changed while its load was resumed (${read.columns.join(', ')})`, { reason: 'columnMismatch', expired: true, retryable: true });
      }
      const loader = staging(read.columns);
      if (state.pagesDone === 0) {
        await loader.create();
        state.columns = read.columns;
      }
      const deadline = params.maxRunSeconds ? clockStart + params.maxRunSeconds * 1000 : Infinity;
      for await (const page of read.pages()) {
        sampleMemory();
        await client.query('BEGIN');
        inTransaction = true;
        const staged = await loader.stagePage(page);
        await commitStagedPage(client, state, checkpointId, staged, page.resumeAfter, ctx.ttl, read.totalRows);
        inTransaction = false;
        emitProgress(options, ctx, runId, state, read.totalRows, clockStart);
        if (!page.resumeAfter) break;
        if (options.signal?.aborted) {
          await closeCheckpoint(client, checkpointId, 'expired');
          return announce(await finish('failed', 'cancelled', { message: 'cancelled', details: { reason: 'cancelled', retryable: false, afterPage: state.pagesDone } }));
        }
        if (options.shutdownSignal?.aborted) {
          return announce(await finish('warning', 'paused', {
            message: `stopped by shutdown after page ${state.pagesDone}; the next run resumes from the checkpoint`,
            details: { reason: 'shutdown', retryable: true, afterPage: state.pagesDone },
          }));
        }
        if (performance.now() >= deadline) {
          return announce(await finish('warning', 'paused', {
            message: `time budget of ${params.maxRunSeconds}s reached after page ${state.pagesDone}; the next run resumes from the checkpoint`,
            details: { reason: 'timeBudget', retryable: true, afterPage: state.pagesDone },
          }));
        }
      }
      if (options.signal?.aborted && state.source) {
        await closeCheckpoint(client, checkpointId, 'expired');
        return announce(await finish('failed', 'cancelled', { message: 'cancelled', details: { reason: 'cancelled', retryable: false } }));
      }
    }

    // PUBLISH and AUDIT, one transaction: the staged load is merged into the target, the
    // window's missing rows deleted, and quality measured on the result before anyone can see
    // it. A blocking breach rolls all of it back: the target stays exactly as it was. The
    // config row is locked first: the lock order of migration 034 (config, then requests).
    const loader = staging(state.columns!);
    ctx.phase = 'auditing';
    emitProgress(options, ctx, runId, state, state.rowsDone, clockStart, 'auditing');
    await client.query('BEGIN');
    inTransaction = true;
    await client.query(`SELECT 1 FROM sqp.refresh_config WHERE id = $1 FOR NO KEY UPDATE`, [config.id]);
    const targetBefore = params.deleteMissing ? await loader.targetRows() : 0;
    const publishStarted = performance.now();
    const counts = await loader.merge();
    Object.assign(state, { inserted: counts.inserted, updated: counts.updated, duplicates: counts.duplicates, nullKeys: counts.nullKeys });
    if (counts.maxCursor !== null && (state.watermarkAfter === null || greater(counts.maxCursor, state.watermarkAfter))) state.watermarkAfter = counts.maxCursor;
    if (params.deleteMissing) deleted = await deleteMissing(client, target, keyColumns, loader.stage, window);
    const quality = await measureQuality(client, {
      target, params, keyColumns, cursorColumn,
      sourceRows: counts.staged, duplicates: counts.duplicates, nullKeys: counts.nullKeys, window,
      previousTargetRows: (previous?.metadata.targetRows as number | undefined) ?? null,
      deleted, targetRowsBefore: params.deleteMissing ? targetBefore : null,
      now: ctx.now(),
    });
    const verdict = qualityVerdict(quality.metrics);
    const breaches = verdict.status === 'success' ? null : {
      message: `quality check${verdict.breaches.length > 1 ? 's' : ''} outside threshold: ${verdict.breaches.join(', ')}`,
      details: { reason: 'quality', blocking: verdict.status === 'failed', breaches: verdict.breaches, retryable: false },
    };
    const diff = { inserted: counts.inserted, updated: counts.updated, deleted };
    if (verdict.status === 'failed') {
      // Nothing is published: the merge and deletes roll back; the staged rows stay for inspection.
      await client.query('ROLLBACK');
      inTransaction = false;
      Object.assign(state, { inserted: 0, updated: 0 });
      deleted = 0;
      await client.query('BEGIN');
      inTransaction = true;
      await recordQuality(client, runId, quality.metrics);
      await closeCheckpoint(client, checkpointId, 'expired');
      const blocked = await finish('failed', 'failed', {
        message: `${breaches!.message}; nothing was published (the staged rows are kept in ${loader.stage} until the next run)`,
        details: { ...breaches!.details, staged: { table: loader.stage, rows: counts.staged } },
      }, { notPublished: diff, staged: { table: loader.stage, rows: counts.staged } });
      await client.query('COMMIT');
      inTransaction = false;
      emitQuality(options, ctx, runId, quality.metrics);
      return announce(blocked);
    }
    await recordQuality(client, runId, quality.metrics);
    await closeCheckpoint(client, checkpointId, 'completed');
    await loader.drop();
    ctx.phase = 'published';
    const outcome = await finish(verdict.status, 'completed', breaches, {
      targetRows: quality.targetRows, windowRows: quality.windowRows, duplicates: state.duplicates, sourceRows: counts.staged,
      publishMs: Math.round(performance.now() - publishStarted),
      ...(restartedLoad ? { restartedLoad } : {}),
    });
    // After finish() removed the requests this run served: one that came meanwhile keeps the table due.
    await client.query(`UPDATE sqp.refresh_config SET last_refresh_at = $2 WHERE id = $1`, [config.id, ctx.now()]);
    await setNextRefresh(client, config.id, nextRefreshAfterSuccess(config.nextRefreshAt, config.refreshFrequencyHours, ctx.now()));
    await client.query('COMMIT');
    inTransaction = false;
    emitQuality(options, ctx, runId, quality.metrics);
    return announce(outcome);
  } catch (error) {
    if (inTransaction) await client.query('ROLLBACK').catch(() => undefined);
    inTransaction = false;
    if (isConnectionLoss(error)) throw error; // refreshTable finishes the run on a fresh connection
    const failure = describeFailure(error);
    if (checkpointId !== null && (failure.details.expired || failure.details.reason === 'params')) {
      await closeCheckpoint(client, checkpointId, 'expired').catch(() => undefined);
    }
    // Jobs a failed read started still bill (BigQuery: each attempt of a re-run job): they count against the day's budget.
    const billed = billedByJobs(failure.details.jobs);
    return announce(await finish('failed', 'failed', failure, billed === null ? {} : { bytesBilled: billed.toString() }));
  } finally {
    await read?.close().catch(() => undefined);
  }
}

/** Bytes billed by the jobs a failure lists (`details.jobs[].bytesBilled`), or null when it lists none. */
function billedByJobs(jobs: unknown): bigint | null {
  if (!Array.isArray(jobs)) return null;
  let sum = 0n;
  for (const j of jobs as Array<{ bytesBilled?: unknown }>) if (typeof j?.bytesBilled === 'string' && /^\d+$/.test(j.bytesBilled)) sum += BigInt(j.bytesBilled);
  return sum;
}

/**
 * Ends a run whose source inputs did not change: success with outcome `unchanged`, 0 rows read,
 * 0 bytes, its schedule moved as after a success, the previous success's inputs and target
 * counts carried forward (so the next run compares with them) — one transaction.
 */
async function finishUnchanged(
  client: pg.PoolClient,
  config: RefreshConfigRow,
  options: RefreshOptions,
  ctx: RunContext,
  previous: { id: number; metadata: Record<string, unknown> },
  checkpointId: number,
  finish: (status: RefreshOutcome['status'], outcome: RefreshOutcome['outcome'], error: null, extra: Record<string, unknown>) => Promise<RefreshOutcome>,
  inTransaction: () => void,
): Promise<RefreshOutcome> {
  await client.query('BEGIN');
  inTransaction();
  await client.query(`SELECT 1 FROM sqp.refresh_config WHERE id = $1 FOR NO KEY UPDATE`, [config.id]);
  await closeCheckpoint(client, checkpointId, 'completed');
  const result = await finish('success', 'unchanged', null, {
    sourceInputs: previous.metadata.sourceInputs, bytesBilled: '0', bytesProcessed: '0', unchangedSince: previous.id,
    ...(previous.metadata.targetRows !== undefined ? { targetRows: previous.metadata.targetRows } : {}),
    ...(previous.metadata.watermarkAfter !== undefined ? { watermarkAfter: previous.metadata.watermarkAfter } : {}),
  });
  await client.query(`UPDATE sqp.refresh_config SET last_refresh_at = $2 WHERE id = $1`, [config.id, ctx.now()]);
  await setNextRefresh(client, config.id, nextRefreshAfterSuccess(config.nextRefreshAt, config.refreshFrequencyHours, ctx.now()));
  await client.query('COMMIT');
  return result;
}

/** Counts a staged page in the checkpoint and commits both (the caller's transaction). */
async function commitStagedPage(
  client: pg.PoolClient,
  state: CheckpointState,
  checkpointId: number,
  staged: number,
  resumeAfter: Record<string, unknown> | null,
  ttl: number,
  totalRows: number | null = null,
): Promise<void> {
  state.pagesDone += 1;
  state.rowsDone += staged;
  state.source = resumeAfter;
  state.loadComplete = resumeAfter === null;
  await advanceCheckpoint(client, checkpointId, state, totalRows ?? state.rowsDone, ttl);
  await client.query('COMMIT');
}

function emitQuality(options: RefreshOptions, ctx: RunContext, runId: number, metrics: Awaited<ReturnType<typeof measureQuality>>['metrics']): void {
  for (const m of metrics) {
    safeEmit(options.emit, { type: 'quality:recorded', ...ctx.ref, runId, metricName: m.name, value: m.value, isWithinThreshold: m.within, at: ctx.now().toISOString() });
  }
}

function emitProgress(options: RefreshOptions, ctx: RunContext, runId: number, state: CheckpointState, total: number | null, clockStart: number, phase: 'writing' | 'auditing' = 'writing') {
  const seconds = Math.max(0.001, (performance.now() - clockStart) / 1000);
  const rate = state.rowsDone / seconds;
  safeEmit(options.emit, {
    type: 'run:progress', ...ctx.ref, runId, phase, page: state.pagesDone, rowsProcessed: state.rowsDone, totalRows: total,
    percent: total ? Math.min(100, Math.round((state.rowsDone / total) * 1000) / 10) : null,
    rowsPerSecond: Math.round(rate),
    etaSeconds: total && rate > 0 ? Math.max(0, Math.round((total - state.rowsDone) / rate)) : null,
    at: ctx.now().toISOString(),
  });
}
