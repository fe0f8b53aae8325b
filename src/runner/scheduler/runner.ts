// The runner: on every croner tick, on start and whenever woken (NOTIFY sqp_refresh_wake from
// any replica), it expires checkpoints, recovers runs of dead processes, then refreshes the
// due tables — parents before dependents, highest priority first, up to `concurrency` at once.
// After a run it moves the schedule: a success cascades to the dependents, a retryable failure
// is retried with exponential backoff and jitter up to `retry.maxAttempts`, any other failure
// waits for the next regular slot. Two replicas never refresh one table at once: the engine
// holds a per-table advisory lock for the whole run, which PostgreSQL releases if a process dies.
import { performance } from 'node:perf_hooks';
import { Cron } from 'croner';
import pg from 'pg';
import type { Logger } from '../../logger.ts';
import { safeEmit, type RefreshEvent } from '../../subscriptions/events.ts';
import { CHANNELS, notify, type DatabaseListener } from '../../subscriptions/listener.ts';
import { failInterruptedRuns } from '../engine/audit-log.ts';
import { createPassBackoff, transientPassFailure, type TransientPassFailure } from './backoff.ts';
import { registerCreatedTables } from './catalog-scan.ts';
import { DEFAULT_RETRY, retryDelayMs, type RetryPolicy } from '../state/planner.ts';
import { refreshTable } from '../engine/refresh-table.ts';
import type { InFlightRun, RefreshConfigRow, RefreshOutcome } from '../engine/refresh-types.ts';
import type { Sources } from '../sources/registry.ts';
import { loadDuePlanInput } from '../state/plan-input.ts';
import { planRefreshes, type PlannedRefresh } from '../state/planner.ts';
import { cascadeToDependents, claimDue, dueDepths, failureStreak, finishRequests, hasPendingRequest, nextDueAt, recordHeartbeat, regularDueAt, removeHeartbeat, runningTables, selectDue, setNextRefresh, tryLockTable, unlockTable } from './sql.ts';
import { nextRefreshAfterSuccess } from '../state/schedule.ts';

/** How long a claim keeps a table from other replicas if its process dies silently. */
const LEASE_SECONDS = 3600;

export interface RunnerOptions {
  pool: pg.Pool;
  sources: Sources;
  logger: Logger;
  workerName: string;
  dailyByteBudget: bigint | null;
  /** Cron pattern of the tick; default every minute. */
  schedule?: string;
  /** Refreshes this process runs at once (default 2). */
  concurrency?: number;
  /** Refreshes all replicas together run at once (default: no limit beyond each process's). */
  globalConcurrency?: number;
  retry?: RetryPolicy;
  now?: () => Date;
  /** Jitter in [0, 1) for retry delays (tests inject a constant). */
  random?: () => number;
  emit?: (event: RefreshEvent) => void;
  /**
   * The process's LISTEN connection: wake-ups and cancels from every replica. After it comes
   * back from a loss the runner makes a pass at once (NOTIFYs sent meanwhile are lost).
   * None: the runner only ticks on its schedule.
   */
  listener?: DatabaseListener;
}


export interface RunnerStatus {
  workerName: string;
  startedAt: Date | null;
  lastTickAt: Date | null;
  lastTickMs: number | null;
  ticks: number;
  /** Due tables found by the latest look at the queue (before this pass started them). */
  queueDepth: number;
  inFlight: InFlightRun[];
  /** Due tables found blocked at the latest look (a hard parent failed, or a cycle), and why. */
  blocked: Array<{ configId: number; reasons: string[]; since: Date }>;
}

export interface Runner {
  start(): Promise<void>;
  status(): RunnerStatus;
  /** Cancels a run of this process at its next page boundary; false when it runs elsewhere. */
  cancel(runId: number): boolean;
  /** Stops claiming; running refreshes stop at their next page boundary, checkpoints kept. */
  stop(): Promise<void>;
  /**
   * One pass: recover, then run everything due until nothing is left. A pass the database turns
   * away (down, restarting, refusing) is tried again after a backoff. Resolves when done, or stopped.
   */
  tick(): Promise<void>;
  /** Asks for a pass as soon as possible (what a NOTIFY does); during a backoff, that is its next attempt. */
  wake(): void;
}

/** Creates a runner; nothing happens until start() (or tick() in tests). */
export function createRunner(options: RunnerOptions): Runner {
  const now = options.now ?? (() => new Date());
  const random = options.random ?? Math.random;
  const retry = options.retry ?? DEFAULT_RETRY;
  const concurrency = Math.max(1, options.concurrency ?? 2);
  const log = options.logger;
  const controller = new AbortController();
  let stopping = false;
  let passing: Promise<void> | null = null;
  let again = false;
  /** Passes the database turned away: each waits longer before the next (backoff.ts). */
  const backoff = createPassBackoff({ log, random });
  const unlisten: Array<() => void> = [];
  /** A pass at the next due time when that comes before the next cron tick (retries in seconds). */
  let dueTimer: NodeJS.Timeout | null = null;
  /** Runs of this process; each carries its own child logger (table, then its run id). */
  const inFlight = new Map<number, InFlightRun & { cancel: AbortController; log: Logger }>();
  /** Due tables this process found blocked at its latest look, and why. */
  const blocked = new Map<number, { reasons: string[]; since: Date }>();
  const stats = { startedAt: null as Date | null, lastTickAt: null as Date | null, lastTickMs: null as number | null, ticks: 0, queueDepth: 0 };

  const emit = (e: RefreshEvent) => {
    const run = 'configId' in e ? inFlight.get(e.configId) : undefined;
    if (run && e.type === 'run:started') {
      run.runId = e.runId;
      run.log = run.log.child({ runId: e.runId });
      run.log.info({ mode: e.mode, resumed: e.resumed }, 'refresh started');
    }
    if (run && e.type === 'run:progress') Object.assign(run, { rowsProcessed: e.rowsProcessed, totalRows: e.totalRows, percent: e.percent, rowsPerSecond: e.rowsPerSecond, etaSeconds: e.etaSeconds });
    safeEmit(options.emit, e);
  };

  function cancel(runId: number): boolean {
    for (const run of inFlight.values()) {
      if (run.runId === runId) {
        run.cancel.abort();
        log.info({ runId, table: run.table }, 'cancel requested');
        return true;
      }
    }
    return false;
  }

  /** Runs of dead processes: their table lock is free although a row says `running`. */
  async function recoverZombies(): Promise<void> {
    for (const t of await runningTables(options.pool)) {
      const client = await options.pool.connect();
      try {
        const key = `${t.schema}.${t.table}`;
        if (!(await tryLockTable(client, t.schema, t.table))) continue; // alive somewhere
        try {
          const ids = await failInterruptedRuns(client, t.schema, t.table, null);
          if (ids.length) {
            log.warn({ table: key, runs: ids }, 'recovered interrupted runs; the table resumes from its checkpoint');
            await setNextRefresh(client, t.configId, now());
          }
        } finally {
          await unlockTable(client, t.schema, t.table);
        }
      } finally {
        client.release();
      }
    }
  }

  /** Moves the schedule after a run: on success (and cascades), after a failure (retry backoff) or a pause. */
  /** Moves the schedule after a run; resolves with how many dependents the run made due. */
  async function reschedule(config: RefreshConfigRow, result: RefreshOutcome, cascade: boolean, requestIds: readonly number[]): Promise<number> {
    const t = now();
    if (result.outcome === 'completed') {
      // The engine already moved next_refresh_at; the dependents follow their parent.
      if (cascade) return cascadeToDependents(options.pool, config.id, t);
    } else if (result.outcome === 'paused') {
      await setNextRefresh(options.pool, config.id, t); // the next slice, at the next pass
    } else if (result.outcome === 'cancelled') {
      // An operator's decision, not a failure: no retry, the regular schedule goes on.
      await setNextRefresh(options.pool, config.id, nextRefreshAfterSuccess(config.nextRefreshAt, config.refreshFrequencyHours, t));
    } else if (result.outcome === 'failed') {
      const attempts = await failureStreak(options.pool, config.id);
      const retryable = result.errorDetails?.retryable === true;
      if (retryable && attempts < retry.maxAttempts) {
        const delay = retryDelayMs(attempts, retry) * (0.5 + random() / 2);
        await setNextRefresh(options.pool, config.id, new Date(t.getTime() + delay));
      } else {
        // Retries are used up: the requests it served are done (a retryable failure kept them).
        if (retryable && requestIds.length) await finishRequests(options.pool, requestIds);
        await setNextRefresh(options.pool, config.id, nextRefreshAfterSuccess(config.nextRefreshAt, config.refreshFrequencyHours, t));
      }
    }
    return 0;
  }

  /**
   * One of `globalConcurrency` slots shared by every replica: a session advisory lock held on
   * its own connection for the run, so a dead process's slot frees itself. Null: all taken.
   */
  async function takeSlot(): Promise<{ release(): Promise<void> } | null> {
    const limit = options.globalConcurrency;
    if (!limit) return { release: async () => undefined };
    const client = await options.pool.connect();
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

  async function runOne(row: RefreshConfigRow, item: PlannedRefresh): Promise<void> {
    const slot = await takeSlot();
    if (!slot) return; // every replica's slots are busy: it stays due for the next pass
    try {
      await runClaimed(row, item);
    } finally {
      await slot.release();
    }
  }

  /**
   * Claims the table on a connection of its own and runs the refresh on it: the claim takes
   * the table's refresh lock on that session (scheduler/sql.ts claimDue), held until the run is
   * finished and its schedule and cascade are written, so no replica starts a hard dependent
   * in between. A connection lost on the way is dropped from the pool, and with it the lock.
   */
  async function runClaimed(row: RefreshConfigRow, item: PlannedRefresh): Promise<void> {
    let config = row;
    const table = `${config.tableSchema}.${config.tableName}`;
    const client = await options.pool.connect();
    let lost: Error | null = null;
    const onError = (err: Error) => (lost ??= err);
    client.on('error', onError);
    let claimed = false;
    let cascaded = 0;
    const runLog = log.child({ table, configId: config.id });
    try {
      const claim = await claimDue(client, config.id, now(), LEASE_SECONDS);
      if (!claim.claimed) {
        // Taken by another replica, or a hard parent is due or running somewhere: it stays due.
        if (claim.waitingFor) await block(row, [`waits for its hard parent: ${claim.waitingFor}`]);
        return;
      }
      claimed = true;
      blocked.delete(config.id);
      const due = claim.due;
      // Retries run at their own times, but the schedule stays anchored to the regular slot.
      const anchor = (await regularDueAt(options.pool, config.id)) ?? due;
      config = { ...config, nextRefreshAt: anchor };
      if (claim.request?.mode) config = { ...config, customSyncParams: { ...(config.customSyncParams as object), mode: claim.request.mode } };
      const cascade = claim.request?.cascade ?? true;
      const cancelController = new AbortController();
      const run = {
        runId: null, configId: config.id, table, startedAt: now(), rowsProcessed: 0, totalRows: null, percent: null, rowsPerSecond: 0, etaSeconds: null,
        cancel: cancelController, log: runLog,
      };
      inFlight.set(config.id, run);
      try {
        const result = await refreshTable(config, {
          pool: options.pool,
          lockedClient: client,
          sources: options.sources,
          workerName: options.workerName,
          dailyByteBudget: options.dailyByteBudget,
          shutdownSignal: controller.signal,
          signal: cancelController.signal,
          now,
          emit,
          requestIds: claim.request?.ids ?? [],
          force: claim.request !== null,
          metadata: {
            trigger: claim.request ? 'forced' : 'runner',
            ...(claim.request?.requestedBy ? { requestedBy: claim.request.requestedBy } : {}),
            ...(claim.request && !cascade ? { cascade: false } : {}),
            regularDueAt: anchor.toISOString(),
            ...(item.unhealthySoftParents.length ? { unhealthySoftParents: item.unhealthySoftParents } : {}),
          },
        });
        cascaded = await reschedule(config, result, cascade, claim.request?.ids ?? []);
        run.log[result.status === 'failed' ? 'warn' : 'info'](
          { runId: result.runId, status: result.status, outcome: result.outcome, rows: result.rowsProcessed, inserted: result.rowsInserted, updated: result.rowsUpdated, deleted: result.rowsDeleted, error: result.errorMessage },
          `refresh ${result.status}`,
        );
      } catch (error) {
        await setNextRefresh(options.pool, config.id, due).catch(() => undefined);
        run.log.error({ err: error }, 'refresh could not start');
      }
    } finally {
      inFlight.delete(config.id);
      if (claimed && !lost) await unlockTable(client, config.tableSchema, config.tableName).catch((err: Error) => (lost = err));
      client.off('error', onError);
      client.release(lost ?? undefined); // a broken connection leaves the pool (and its lock with it)
    }
    // Dependents made due, or a request that came in during the run: any replica may take them now.
    if (cascaded > 0 || (await hasPendingRequest(options.pool, config.id).catch(() => false))) await wakeRunners(options.pool).catch(() => undefined);
  }

  async function pass(): Promise<void> {
    // Where no event trigger registers new sqp tables (no superuser), the catalog scan does.
    const found = await registerCreatedTables(options.pool).catch((err) => {
      if (transientPassFailure(err)?.kind === 'unavailable') throw err; // the pass cannot go on; the backoff says so once
      log.warn({ err }, 'catalog scan failed; the next pass scans again');
      return [];
    });
    if (found.length) log.info({ tables: found.map((t) => `${t.tableSchema}.${t.tableName}`) }, 'registered new tables found in the catalog');
    await options.pool.query('SELECT sqp.expire_checkpoints()');
    backoff.succeed(); // the database answered (before the refreshes, which may take hours)
    await recoverZombies();
    const tried = new Set<number>();
    while (!stopping) {
      const due = (await selectDue(options.pool, now(), [...tried])).filter((c) => !tried.has(c.id));
      stats.queueDepth = due.length;
      if (!due.length) return;
      // One dependency depth at a time, so that a parent always finishes before its dependents
      // are considered; then look again (a success may have made dependents due). Within the
      // wave the planner decides: its order (priority, then overdue) and who is blocked.
      const input = await loadDuePlanInput(options.pool, now(), due.map((c) => c.id), tried);
      const depths = dueDepths(due.map((c) => c.id), input.edges);
      const depth = Math.min(...due.map((c) => depths.get(c.id) ?? 0));
      const rows = new Map(due.filter((c) => (depths.get(c.id) ?? 0) === depth).map((c) => [c.id, c]));
      const plan = planRefreshes(input);
      for (const c of plan.cycles) log.warn({ cycle: c }, 'dependency cycle: its tables are skipped');
      const queue: Array<{ row: RefreshConfigRow; item: PlannedRefresh }> = [];
      for (const item of plan.items) {
        const row = rows.get(item.configId);
        if (!row) continue;
        tried.add(row.id);
        if (item.state === 'blocked') await block(row, item.notes);
        else queue.push({ row, item });
      }
      for (const id of rows.keys()) tried.add(id); // anything the planner left out waits for the next pass
      await Promise.all(
        Array.from({ length: Math.min(concurrency, queue.length) }, async () => {
          for (let next = queue.shift(); next && !stopping; next = queue.shift()) await runOne(next.row, next.item);
        }),
      );
    }
  }

  /** A due table that may not run yet: it stays due, and says why. */
  async function block(row: RefreshConfigRow, reasons: string[]): Promise<void> {
    const table = `${row.tableSchema}.${row.tableName}`;
    log.info({ table, reasons }, 'refresh blocked');
    blocked.set(row.id, { reasons, since: blocked.get(row.id)?.since ?? now() });
    emit({ type: 'run:blocked', configId: row.id, tableSchema: row.tableSchema, tableName: row.tableName, reasons, at: now().toISOString() });
  }

  const status = (): RunnerStatus => ({
    workerName: options.workerName,
    ...stats,
    inFlight: [...inFlight.values()].map(({ cancel: _c, log: _l, ...run }) => ({ ...run })),
    blocked: [...blocked.entries()].map(([configId, b]) => ({ configId, ...b })),
  });

  async function heartbeat(): Promise<void> {
    const s = status();
    await recordHeartbeat(options.pool, { ...s, startedAt: s.startedAt ?? now() }).catch((err) => log.warn({ err }, 'heartbeat failed'));
  }

  // Every way to ask for a pass (cron, NOTIFY, the due timer, the LISTEN connection's return, a
  // test) comes here. While a pass runs, or waits out a backoff, a request only marks that
  // another pass is wanted: nothing starts a second loop beside the backoff's.
  function tick(): Promise<void> {
    if (passing) {
      again = true;
      return passing;
    }
    passing = passUntilQuiet().finally(() => (passing = null));
    return passing;
  }

  /** Passes until no request came in during the last one; a pass the database turned away is tried again after the backoff. */
  async function passUntilQuiet(): Promise<void> {
    do {
      again = false;
      const failure = await timedPass();
      if (failure) {
        if (stopping) return;
        await backoff.wait(failure, controller.signal);
        again = true; // the attempt the warning announced (requests meanwhile are served by it)
      } else {
        await heartbeat();
        await wakeAtNextDue();
      }
    } while (again && !stopping);
  }

  /** One pass, timed and counted; resolves with why it failed when another pass after a backoff may succeed. */
  async function timedPass(): Promise<TransientPassFailure | null> {
    const began = performance.now();
    stats.lastTickAt = now();
    stats.ticks++;
    let failure: TransientPassFailure | null = null;
    try {
      await pass();
    } catch (err) {
      failure = transientPassFailure(err);
      if (!failure) log.error({ err }, 'runner pass failed');
    }
    stats.lastTickMs = performance.now() - began;
    return failure;
  }

  /** Sets a timer for the next due time (a retry in 30 s should not wait for the next cron tick). */
  async function wakeAtNextDue(): Promise<void> {
    if (stopping || !started) return;
    const at = await nextDueAt(options.pool).catch(() => null);
    if (dueTimer) clearTimeout(dueTimer);
    dueTimer = null;
    const nextTick = job.nextRun();
    // Due already (blocked, or busy on another replica): the next tick or wake-up looks again.
    const ms = at ? at.getTime() - now().getTime() : 0; // the runner's clock may be injected
    if (!at || ms <= 0 || (nextTick && at >= nextTick) || ms > 2 ** 31 - 1) return;
    dueTimer = setTimeout(() => {
      dueTimer = null;
      void tick();
    }, ms);
    dueTimer.unref();
  }

  let started = false;
  const job = new Cron(options.schedule ?? '* * * * *', { paused: true }, () => void tick());

  return {
    tick,
    wake: () => void tick(),
    cancel,
    status,
    async start() {
      stats.startedAt = now();
      const listener = options.listener;
      if (listener) {
        unlisten.push(listener.onNotification(CHANNELS.wake, () => void tick()));
        unlisten.push(listener.onNotification(CHANNELS.cancel, (payload) => void cancel(Number(payload))));
        const onBack = ({ reconnected }: { reconnected: boolean }) => {
          if (!reconnected || stopping) return;
          backoff.cut(); // the database answers again: no need to wait out the backoff
          void tick(); // wake-ups sent while it was down are lost
        };
        listener.events.on('listen:success', onBack);
        unlisten.push(() => void listener.events.off('listen:success', onBack));
      }
      started = true;
      job.resume();
      void tick();
    },
    async stop() {
      stopping = true;
      job.stop();
      if (dueTimer) clearTimeout(dueTimer);
      controller.abort();
      await passing;
      for (const u of unlisten.splice(0)) u();
      await removeHeartbeat(options.pool, options.workerName).catch(() => undefined);
    },
  };
}

/** Wakes the runners of every replica (after a forced or scheduled refresh). */
export async function wakeRunners(db: pg.Pool | pg.ClientBase): Promise<void> {
  await notify(db, CHANNELS.wake);
}

/** Asks whichever replica runs `runId` to cancel it (every replica listens; the owner acts). */
export async function requestCancel(db: pg.Pool | pg.ClientBase, runId: number): Promise<void> {
  await notify(db, CHANNELS.cancel, String(runId));
}
