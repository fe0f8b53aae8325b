// The database of the commands that only look (plan, status): DATABASE_URL, or the embedded
// PostgreSQL as `run` uses it. Read-only sessions; no runner, no HTTP server, no writes.
import pg from 'pg';
import { pino } from 'pino';
import { loadConfig, type Config } from '../config.ts';
import { clientConfig } from '../database/connection.ts';
import { redactUrl } from '../logger.ts';
import { pendingMigrations } from '../migrate.ts';
import { resolveDatabase } from '../service.ts';

/** A failure the user can act on: `main` prints the message alone and exits 1. */
export class CommandError extends Error {
  override name = 'CommandError';
}

/** Runs `read` on a read-only pool, then closes it (and the embedded server, if started). */
export async function withReadOnlyDatabase<T>(read: (pool: pg.Pool, config: Config) => Promise<T>): Promise<T> {
  const config = loadConfig();
  // Logs go to stderr here, so that stdout holds only the table (or the JSON) a script reads.
  const logger = pino(
    {
      level: config.log.level,
      base: { service: 'sqp-refresh' },
      transport: process.stderr.isTTY ? { target: 'pino-pretty', options: { destination: 2, colorize: true } } : undefined,
    },
    process.stderr.isTTY ? undefined : pino.destination(2),
  );
  const { sessionUrl: url, embedded } = await resolveDatabase(config, logger, { wait: false });
  // A pool, not one client: the plan loader sends its statements at once. The startup option
  // makes every transaction read-only, so a bug here can never write (a URL that sets its own
  // `options` overrides it, which only loses this guard).
  const pool = new pg.Pool({
    ...clientConfig(url),
    max: 3,
    application_name: 'sqp-refresh cli',
    options: '-c default_transaction_read_only=on',
  });
  pool.on('error', () => undefined);
  try {
    // The first statement is where a wrong URL, password or database name shows: say so in
    // one line instead of a stack trace.
    await pool.query('SELECT 1').catch((error: Error) => {
      throw new CommandError(`Cannot read the database at ${redactUrl(url)}: ${error.message}`);
    });
    const pending = await pendingMigrations(pool);
    if (pending.length) {
      throw new CommandError(
        `The database is not migrated (pending: ${pending.join(', ')}). Run \`sqp-refresh migrate\` first.`,
      );
    }
    return await read(pool, config);
  } finally {
    await pool.end().catch(() => undefined);
    await embedded?.stop();
  }
}
