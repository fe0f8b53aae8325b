// The runs of this process, as the runner knows them: what is in flight (each with its cancel
// switch and its logger), which due tables were found blocked and why, and the pass counters.
// `status()` is the runner's own view; the read model (state/) is the view across replicas.
import type { Logger } from '../../logger.ts';
import { safeEmit, type RefreshEvent } from '../../subscriptions/events.ts';
import type { InFlightRun, RefreshConfigRow } from '../engine/refresh-types.ts';

export interface RunnerStatus {
  workerName: string;
  startedAt: Date | null;
  lastTickAt: Date | null;
  lastTickMs: number | null;
  ticks: number;
  inFlight: InFlightRun[];
  /** Due tables found blocked at the latest look (a hard parent failed, or a cycle), and why. */
  blocked: Array<{ configId: number; reasons: string[]; since: Date }>;
}

type TrackedRun = InFlightRun & { cancel: AbortController; log: Logger };

export interface RunRegistry {
  /** Counters of passes, written by the pass loop (queue depth is the read model's: state/table-state.ts). */
  stats: { startedAt: Date | null; lastTickAt: Date | null; lastTickMs: number | null; ticks: number };
  /** Tracks a claimed table's run until `untrack`; returns its record (progress lands there). */
  track(config: RefreshConfigRow, table: string, log: Logger): TrackedRun;
  untrack(configId: number): void;
  /** Passes an engine event on, noting the run id and progress of this process's runs first. */
  emit(event: RefreshEvent): void;
  /** Cancels a run of this process at its next page boundary; false when it runs elsewhere. */
  cancel(runId: number): boolean;
  /** A due table that may not run yet: it stays due, and says why. */
  block(row: RefreshConfigRow, reasons: string[]): void;
  unblock(configId: number): void;
  status(): RunnerStatus;
}

/** The registry of one runner's runs; `emit` is where the events go on to (the bus). */
export function createRunRegistry(options: { workerName: string; log: Logger; now: () => Date; emit?: (event: RefreshEvent) => void }): RunRegistry {
  const { log, now } = options;
  /** Runs of this process; each carries its own child logger (table, then its run id). */
  const inFlight = new Map<number, TrackedRun>();
  /** Due tables this process found blocked at its latest look, and why. */
  const blocked = new Map<number, { reasons: string[]; since: Date }>();
  const stats: RunRegistry['stats'] = { startedAt: null, lastTickAt: null, lastTickMs: null, ticks: 0 };

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

  return {
    stats,
    emit,
    track(config, table, runLog) {
      const run: TrackedRun = {
        runId: null, configId: config.id, table, startedAt: now(), rowsProcessed: 0, totalRows: null, percent: null, rowsPerSecond: 0, etaSeconds: null,
        cancel: new AbortController(), log: runLog,
      };
      inFlight.set(config.id, run);
      return run;
    },
    untrack: (configId) => void inFlight.delete(configId),
    cancel(runId) {
      for (const run of inFlight.values()) {
        if (run.runId === runId) {
          run.cancel.abort();
          log.info({ runId, table: run.table }, 'cancel requested');
          return true;
        }
      }
      return false;
    },
    block(row, reasons) {
      const table = `${row.tableSchema}.${row.tableName}`;
      log.info({ table, reasons }, 'refresh blocked');
      blocked.set(row.id, { reasons, since: blocked.get(row.id)?.since ?? now() });
      emit({ type: 'run:blocked', configId: row.id, tableSchema: row.tableSchema, tableName: row.tableName, reasons, at: now().toISOString() });
    },
    unblock: (configId) => void blocked.delete(configId),
    status: () => ({
      workerName: options.workerName,
      ...stats,
      inFlight: [...inFlight.values()].map(({ cancel: _c, log: _l, ...run }) => ({ ...run })),
      blocked: [...blocked.entries()].map(([configId, b]) => ({ configId, ...b })),
    }),
  };
}
