// `sqp-refresh migrate [--resolve-rolled-back NAME]`: bring the database schema up to date.
import { loadConfig } from '../config.ts';
import { createLogger } from '../logger.ts';
import { migrate, resolveRolledBack } from '../migrate.ts';
import { resolveDatabase } from '../service.ts';
import { EXIT, parseCommandArgs, UsageError, type Command } from './command.ts';

const help = `Usage: sqp-refresh migrate [--resolve-rolled-back NAME]

Applies the pending migrations of prisma/migrations to the database (DATABASE_URL, or the
embedded PostgreSQL) and exits. It keeps Prisma's _prisma_migrations table, so
\`prisma migrate deploy\` sees the same history.

Options:
  --resolve-rolled-back NAME  mark the failed migration NAME as rolled back (after undoing
                              what it did by hand), so that the next migrate retries it
  -h, --help                  show this help

Exit code: 0 when the schema is current, 1 when a migration fails (or NAME is not a failed
migration), 2 for a usage mistake.`;

export const migrateCommand: Command = {
  name: 'migrate',
  synopsis: 'migrate [--resolve-rolled-back NAME]',
  summary: 'Apply pending migrations and exit',
  help,
  async run(args) {
    const { values, positionals } = parseCommandArgs(args, { 'resolve-rolled-back': { type: 'string' } }, help);
    if (positionals.length) throw new UsageError(`migrate: unexpected argument ${positionals[0]}`, help);
    const config = loadConfig();
    const logger = createLogger(config.log);
    const { sessionUrl: url, embedded } = await resolveDatabase(config, logger);
    try {
      const name = values['resolve-rolled-back'];
      if (name) {
        const ok = await resolveRolledBack(url, name);
        logger.info(ok ? 'marked as rolled back' : 'no failed migration of that name');
        return ok ? EXIT.ok : EXIT.failed;
      }
      const result = await migrate(url, {
        sessionLimits: config.database.sessionLimits,
        onNotice: (m) => logger.warn({ notice: m }, 'migration notice'),
        onApplied: (migration, ms) => logger.info({ migration, ms }, 'migration applied'),
      });
      logger.info({ applied: result.applied, alreadyApplied: result.alreadyApplied.length }, 'database schema is current');
      return EXIT.ok;
    } finally {
      await embedded?.stop();
    }
  },
};
