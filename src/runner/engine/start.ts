// START or resume: the run's audit row (the runs a dead process left `running` failed by it),
// then what the run works with — its params, the target, the reader its source kind gives
// (sources/registry.ts), the checkpoint it continues or the new one it starts, and whether
// the staging table still holds exactly what that checkpoint says (an unlogged table comes
// back empty after a PostgreSQL crash: then the load starts again, never published short).
import { createHash } from 'node:crypto';
import { safeEmit } from '../../subscriptions/events.ts';
import { failInterruptedRuns, interruptedRunEvents, lastSuccess, startAuditRow } from './audit-log.ts';
import { describeTable, type TargetTable } from './catalog.ts';
import { claimCheckpoint, closeCheckpoint, expireOtherCheckpoints, findActiveCheckpoint, type CheckpointRow } from './checkpoints.ts';
import { backfillRange, incrementalSince, loadWindow, validateAgainstTarget } from './refresh-inputs.ts';
import { RefreshFailure } from './refresh-failures.ts';
import { requestsServed } from '../state/requests.ts';
import type { RunMetadata } from './run-metadata.ts';
import { readIdentity } from '../sources/registry.ts';
import type { ReadWindow, TableReader } from '../sources/source.ts';
import { parseSyncParams, type SyncParams } from '../params/sync-params.ts';
import type { Run } from './run.ts';
import { StagedLoad, stagedRowCount } from './staging.ts';

/** What the later phases work with. */
export interface StartedRun {
  params: SyncParams;
  target: TargetTable;
  reader: TableReader;
  keyColumns: string[];
  cursorColumn: string | undefined;
  /** Predicate on the target (alias `t`) of the rows this run refreshes, or null: all of them. */
  window: { sql: string; params: unknown[] } | null;
  /** The last successful run (its watermark, target rows and source inputs). */
  previous: { id: number; metadata: RunMetadata } | null;
  /** Why a checkpointed load was started again, when it was. */
  restartedLoad: { reason: 'paramsChanged' } | { reason: 'sourceExpired' } | { reason: 'stagedRows'; staged: number | null; checkpointRows: number } | null;
  /** The staging table of this load, for the columns it holds. */
  staging(columns: string[]): StagedLoad;
}

/** The digest of what a load reads (CheckpointState.readKey). */
function readKey(params: SyncParams, keyColumns: string[], cursorColumn: string | undefined, range: ReadWindow | undefined): string {
  const decisive = {
    source: readIdentity(params.source), keyColumns, cursorColumn: cursorColumn ?? null, mode: params.mode, deleteMissing: params.deleteMissing,
    // A backfill chunk's load is another read than the table's regular one (and than another chunk's).
    ...(range ? { window: range } : {}),
  };
  const json = JSON.stringify(decisive);
  return createHash('sha256').update(json).digest('hex').slice(0, 32);
}

/** Writes the run's `running` audit row and fails the runs a dead process left running (we hold the table's lock). */
export async function openRun(run: Run): Promise<CheckpointRow | null> {
  const { client, config, options } = run;
  const started = run.now();
  const checkpoint = await findActiveCheckpoint(client, config.tableSchema, config.tableName);
  run.resumed = checkpoint?.checkpoint_data?.version === 1;
  // A resumed load read (part of) its source before this claim: it serves only the requests it
  // was started for (a checkpoint that does not say, none); listed from the row's start on.
  run.requestIds = requestsServed(options.requestIds ?? [], run.resumed ? checkpoint!.checkpoint_data.requestIds ?? [] : null);
  run.runId = await startAuditRow(client, {
    configId: config.id,
    schema: config.tableSchema,
    table: config.tableName,
    startedAt: started,
    metadata: {
      ...options.metadata, ...(run.requestIds.length ? { requestIds: run.requestIds } : {}), worker: run.worker,
      resumedFromCheckpoint: run.resumed, ...(run.resumed ? { checkpointId: checkpoint!.id } : {}),
    },
  });
  run.interrupted = await failInterruptedRuns(client, config.tableSchema, config.tableName, run.runId);
  for (const e of await interruptedRunEvents(client, run.interrupted, started)) safeEmit(options.emit, e);
  safeEmit(options.emit, { type: 'run:started', ...run.ref, runId: run.runId, resumed: run.resumed, mode: run.resumed ? checkpoint!.checkpoint_data.mode : 'full', at: started.toISOString() });
  return run.resumed ? checkpoint : null;
}

/** Resolves params, target and reader, and continues the checkpoint or starts a new load. */
export async function startOrResume(run: Run, checkpoint: CheckpointRow | null): Promise<StartedRun> {
  const { client, config } = run;
  const params = parseSyncParams(config.customSyncParams);
  const target = await describeTable(client, config.tableSchema, config.tableName);
  if (!target) throw new RefreshFailure(`table ${config.tableSchema}.${config.tableName} does not exist`, { reason: 'missingTable', retryable: false });
  const reader = run.options.sources.reader(params.source, { targetSchema: config.tableSchema, deleteMissing: params.deleteMissing });
  const plan = 'inDatabase' in reader ? reader.inDatabase : null;
  const keyColumns = plan?.keyColumns ?? params.keyColumns ?? target.primaryKey;
  const cursorColumn = plan ? undefined : params.cursorColumn;
  validateAgainstTarget(target, keyColumns, cursorColumn, plan?.columns, params.partitionColumn);
  const range = run.options.backfill ? backfillRange(params, target, plan !== null, run.options.backfill) : undefined;

  let state = checkpoint ? checkpoint.checkpoint_data : null;
  run.state = state;
  const key = readKey(params, keyColumns, cursorColumn, range);
  let restartedLoad: StartedRun['restartedLoad'] = null;
  const startOver = async (why: NonNullable<StartedRun['restartedLoad']>) => {
    restartedLoad = why;
    await closeCheckpoint(client, checkpoint!.id, 'expired');
    state = null;
    run.resumed = false;
    // A new load: its read begins now, after every request the claim read.
    run.requestIds = requestsServed(run.options.requestIds ?? [], null);
  };
  if (state && state.readKey !== key) {
    // The params changed since the checkpoint was written (or it predates readKey): its
    // position means something else now, the staged rows come from another read, and a key
    // set started halfway would delete rows wrongly. Start over.
    await startOver({ reason: 'paramsChanged' });
  } else if (state?.source && 'pages' in reader && reader.pages.canResume?.(state.source, run.now()) === false) {
    // What the read would continue (a Storage Read session) expired meanwhile: load again.
    await startOver({ reason: 'sourceExpired' });
  }
  if (state) {
    // The staging table must hold exactly what the checkpoint says was staged (a staging
    // table someone dropped or a crash emptied): otherwise load again.
    const staged = await stagedRowCount(client, config.id);
    if (staged !== state.rowsDone || !state.columns) await startOver({ reason: 'stagedRows', staged, checkpointRows: state.rowsDone });
  }
  // The last completed run: its watermark starts a new incremental read, and its target row
  // count is what row_count_change compares with (we hold the table's lock: it stays valid).
  const previous = await lastSuccess(client, config.id);
  if (!state) {
    const watermark = previous?.metadata.watermarkAfter ?? null;
    // A backfill chunk reads its whole range, whatever the watermark.
    const since = range ? null : incrementalSince(params, previous);
    state = {
      version: 1, firstRunId: run.runId!, requestIds: run.requestIds, readStartedAt: run.now().toISOString(),
      mode: params.mode, deleteMissing: params.deleteMissing || range !== undefined, readKey: key, since, ...(range ? { window: range } : {}), watermarkBefore: watermark, watermarkAfter: watermark,
      pagesDone: 0, rowsDone: 0, inserted: 0, updated: 0, duplicates: 0, nullKeys: {}, source: null, columns: plan?.columns,
    };
    await expireOtherCheckpoints(client, config.tableSchema, config.tableName, null);
    run.checkpointId = await claimCheckpoint(client, { functionName: run.worker, schema: config.tableSchema, table: config.tableName, state, ttlSeconds: run.ttl });
  } else {
    await expireOtherCheckpoints(client, config.tableSchema, config.tableName, checkpoint!.id);
    run.checkpointId = await claimCheckpoint(client, { existingId: checkpoint!.id, functionName: run.worker, schema: config.tableSchema, table: config.tableName, state, ttlSeconds: run.ttl });
  }
  run.state = state;

  const window = loadWindow(plan, params, state.since, cursorColumn, state.window);
  return {
    params, target, reader, keyColumns, cursorColumn, window, previous, restartedLoad,
    staging: (columns) => new StagedLoad(client, target, { configId: config.id, columns, keyColumns, cursorColumn }),
  };
}
