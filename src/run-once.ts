// `sqp-refresh run <schema.table>`: one refresh now, with a terminal progress bar.
import type { Config } from './config.ts';
import type { Logger } from './logger.ts';
import { migrate } from './migrate.ts';
import { createProgressBar } from './progress-bar.ts';
import { refreshTable, RefreshBusyError } from './runner/engine/refresh-table.ts';
import { selectConfig } from './runner/scheduler/sql.ts';
import { sourcesFromConfig } from './runner/sources/registry.ts';
import { openDatabase } from './db.ts';
import { prepareDefaultSource } from './runner/demo/default-source.ts';
import { resolveDatabase } from './service.ts';

/** Refreshes one table and returns the process exit code. */
export async function runOnce(config: Config, logger: Logger, schema: string, table: string): Promise<number> {
  const { url, sessionUrl, embedded } = await resolveDatabase(config, logger);
  const database = openDatabase(url, { max: 3, directUrl: sessionUrl, sessionLimits: config.database.sessionLimits });
  try {
    await migrate(sessionUrl, { sessionLimits: config.database.sessionLimits });
    // The run holds its table's lock on a session: everything here uses the session pool.
    await prepareDefaultSource(config, database.session, logger);
    const row = await selectConfig(database.session, schema, table);
    if (!row) {
      console.error(`${schema}.${table} is not registered in sqp.refresh_config`);
      return 1;
    }
    const bar = createProgressBar();
    const result = await refreshTable(row, {
      pool: database.session,
      sources: sourcesFromConfig(config, sessionUrl),
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
