// `sqp-refresh run <schema.table>`: one refresh now, with a terminal progress bar.
import type { Config } from './config.ts';
import type { Logger } from './logger.ts';
import { migrate } from './migrate.ts';
import { createProgressBar } from './progress-bar.ts';
import { refreshTable, RefreshBusyError } from './runner/engine/refresh-table.ts';
import { selectConfig } from './runner/scheduler/sql.ts';
import { processDecoder } from './runner/sources/decode/in-thread.ts';
import { sourcesFromConfig, type Sources } from './runner/sources/registry.ts';
import { openDatabase, type Database } from './db.ts';
import { prepareDefaultSource } from './runner/demo/default-source.ts';
import { resolveDatabase } from './service.ts';

/**
 * A command that runs refreshes in its own process (`run`, `backfill`): the database (DATABASE_URL
 * or the embedded one), migrated and with the default source prepared, given to `fn` as the
 * session pool (a run holds its table's lock on a session) and the process's sources (with
 * their decode workers); closed after.
 */
export async function withRunDatabase(config: Config, logger: Logger, max: number, fn: (session: Database['session'], sources: Sources) => Promise<number>): Promise<number> {
  const { url, sessionUrl, embedded } = await resolveDatabase(config, logger);
  const database = openDatabase(url, { max, directUrl: sessionUrl, sessionLimits: config.database.sessionLimits });
  const decodePool = processDecoder(config.decodeThreads);
  try {
    await migrate(sessionUrl, { sessionLimits: config.database.sessionLimits });
    await prepareDefaultSource(config, database.session, logger);
    return await fn(database.session, sourcesFromConfig(config, sessionUrl, { logger, decodePool }));
  } finally {
    await decodePool.close();
    await database.close();
    await embedded?.stop();
  }
}

/** Refreshes one table and returns the process exit code. */
export async function runOnce(config: Config, logger: Logger, schema: string, table: string): Promise<number> {
  return withRunDatabase(config, logger, 3, async (session, sources) => {
    const row = await selectConfig(session, schema, table);
    if (!row) {
      console.error(`${schema}.${table} is not registered in sqp.refresh_config`);
      return 1;
    }
    const bar = createProgressBar();
    const result = await refreshTable(row, {
      pool: session,
      sources,
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
  });
}
