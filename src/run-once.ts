// `sqp-refresh run <schema.table>`: one refresh now, with a terminal progress bar.
import type { Config } from './config.ts';
import type { Logger } from './logger.ts';
import { migrate } from './migrate.ts';
import { createProgressBar } from './progress-bar.ts';
import { refreshTable, RefreshBusyError } from './runner/engine/refresh-table.ts';
import { selectConfig } from './runner/runner-sql.ts';
import { sourcesFromConfig } from './runner/sources/registry.ts';
import { openDatabase } from './db.ts';
import { prepareDefaultSource } from './runner/default-source.ts';
import { resolveDatabase } from './service.ts';

/** Refreshes one table and returns the process exit code. */
export async function runOnce(config: Config, logger: Logger, schema: string, table: string): Promise<number> {
  const { url, embedded } = await resolveDatabase(config, logger);
  const database = openDatabase(url, { max: 3 });
  try {
    await migrate(url);
    await prepareDefaultSource(config, database.pool, logger);
    const row = await selectConfig(database.pool, schema, table);
    if (!row) {
      console.error(`${schema}.${table} is not registered in sqp.refresh_config`);
      return 1;
    }
    const bar = createProgressBar();
    const result = await refreshTable(row, {
      pool: database.pool,
      sources: sourcesFromConfig(config, url),
      workerName: `${config.workerName} (cli)`,
      dailyByteBudget: config.dailyByteBudget,
      emit: (e) => bar.onEvent(e),
    }).catch((error: unknown) => {
      if (error instanceof RefreshBusyError) return error;
      throw error;
    });
    bar.done();
    if (result instanceof RefreshBusyError) {
      console.error(result.message);
      return 1;
    }
    const summary = `${schema}.${table}: ${result.status} (${result.outcome}) — ${result.rowsProcessed} rows read, ` +
      `${result.rowsInserted} inserted, ${result.rowsUpdated} updated, ${result.rowsDeleted} deleted (run ${result.runId})`;
    if (result.errorMessage) console.error(`${summary}\n${result.errorMessage}`);
    else console.log(summary);
    if (result.outcome === 'paused') return 3;
    return result.status === 'failed' ? 1 : 0;
  } finally {
    await database.close();
    await embedded?.stop();
  }
}
