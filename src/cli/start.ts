// `sqp-refresh start`: the service (GraphQL at /graphql, scheduler, runner) until a signal.
import { loadConfig } from '../config.ts';
import { createLogger } from '../logger.ts';
import { startService } from '../service.ts';
import { EXIT, parseCommandArgs, UsageError, type Command } from './command.ts';
import { waitForSignals } from './signals.ts';

const help = `Usage: sqp-refresh start

Runs the service: applies pending migrations, then serves GraphQL at /graphql (GraphiQL in
a browser) and refreshes due tables on the runner's schedule. Without DATABASE_URL it starts
an embedded PostgreSQL (data in .data/postgres). SIGINT/SIGTERM stop it gracefully (running
refreshes finish their page); a second signal exits at once.

Options:
  -h, --help  show this help

Exit code: 0 after a graceful stop, 1 when it cannot start, 2 for a usage mistake.`;

export const startCommand: Command = {
  name: 'start',
  synopsis: 'start',
  summary: 'Run the service (GraphQL at /graphql, scheduler, runner)',
  help,
  async run(args) {
    const { positionals } = parseCommandArgs(args, {}, help);
    if (positionals.length) throw new UsageError(`start: unexpected argument ${positionals[0]}`, help);
    const config = loadConfig();
    const logger = createLogger(config.log);
    // A signal while starting (migrating, building the demo) ends the process at once; its exit
    // hook stops an embedded PostgreSQL it started (a migration's transaction rolls back).
    const duringStart = (signal: NodeJS.Signals) => {
      logger.warn({ signal }, 'stopped while starting');
      process.exit(130);
    };
    process.once('SIGINT', duringStart);
    process.once('SIGTERM', duringStart);
    const service = await startService(config, logger);
    process.off('SIGINT', duringStart);
    process.off('SIGTERM', duringStart);
    await waitForSignals(logger, service.stop, config.shutdownGraceMs);
    return EXIT.ok;
  },
};
