// A first runner: on every croner tick (and at start), refresh the due tables one at a time,
// highest priority first, parents before their dependents. Claiming across replicas,
// concurrency, retries with backoff and cascades come with the runner issue; until then two
// replicas never refresh one table at once thanks to the engine's per-table lock.
import { Cron } from 'croner';
import type pg from 'pg';
import type { Logger } from '../logger.ts';
import type { RefreshEvent } from '../subscriptions/events.ts';
import { refreshTable, RefreshBusyError, type RefreshConfigRow, type SourceProvider } from './refresh-table.ts';

export interface RunnerOptions {
  pool: pg.Pool;
  sources: SourceProvider;
  logger: Logger;
  workerName: string;
  dailyByteBudget: bigint | null;
  /** Cron pattern of the tick; default every minute. */
  schedule?: string;
  now?: () => Date;
  emit?: (event: RefreshEvent) => void;
}

/** Due tables: enabled and next_refresh_at passed; by dependency depth, then priority, then how overdue. */
const DUE_SQL = `
  WITH RECURSIVE depth(id, d) AS (
    SELECT c.id, 0 FROM sqp.refresh_config c
    UNION ALL
    SELECT e.dependent_config_id, depth.d + 1 FROM depth
    JOIN sqp.refresh_dependencies e ON e.parent_config_id = depth.id
    WHERE depth.d < 50
  )
  SELECT c.id, c.table_schema AS "tableSchema", c.table_name AS "tableName", c.custom_sync_params AS "customSyncParams",
         c.refresh_frequency_hours AS "refreshFrequencyHours", c.next_refresh_at AS "nextRefreshAt"
  FROM sqp.refresh_config c
  JOIN (SELECT id, max(d) AS d FROM depth GROUP BY id) k ON k.id = c.id
  WHERE c.is_enabled AND c.next_refresh_at <= $1 AND c.custom_sync_params <> '{}'::jsonb
  ORDER BY k.d, c.priority DESC, c.next_refresh_at`;

/** Starts ticking; stop() waits for the refresh in progress to end. */
export function createRunner(options: RunnerOptions): { start(): void; stop(): Promise<void>; tick(): Promise<void> } {
  const now = options.now ?? (() => new Date());
  let stopping = false;
  let current: Promise<void> = Promise.resolve();
  const controller = new AbortController();

  async function tick(): Promise<void> {
    const { rows } = await options.pool.query<RefreshConfigRow>(DUE_SQL, [now()]);
    for (const config of rows) {
      if (stopping) return;
      const log = options.logger.child({ table: `${config.tableSchema}.${config.tableName}` });
      try {
        const result = await refreshTable(config, {
          pool: options.pool,
          sources: options.sources,
          workerName: options.workerName,
          dailyByteBudget: options.dailyByteBudget,
          signal: controller.signal,
          now,
          emit: options.emit,
        });
        log[result.status === 'failed' ? 'warn' : 'info'](
          { runId: result.runId, status: result.status, outcome: result.outcome, rows: result.rowsProcessed, inserted: result.rowsInserted, updated: result.rowsUpdated, deleted: result.rowsDeleted, error: result.errorMessage },
          `refresh ${result.status}`,
        );
      } catch (error) {
        if (error instanceof RefreshBusyError) log.debug('already being refreshed elsewhere');
        else log.error({ err: error }, 'refresh could not start');
      }
    }
  }

  const job = new Cron(options.schedule ?? '* * * * *', { protect: true, paused: true }, () => {
    current = tick().catch((err) => options.logger.error({ err }, 'runner tick failed'));
    return current;
  });

  return {
    tick,
    start() {
      job.resume();
      void job.trigger();
    },
    async stop() {
      stopping = true;
      controller.abort();
      job.stop();
      await current;
    },
  };
}
