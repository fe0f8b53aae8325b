// The database clients of one process: a pg Pool (bulk loading, LISTEN/NOTIFY, raw SQL) and
// the Prisma client on top of the same pool (the five refresh tables). Opened once by the
// composition root; the GraphQL schema reads `prisma` from here, never from its context.
import { PrismaPg } from '@prisma/adapter-pg';
import pg from 'pg';
import { PrismaClient } from './generated/prisma/client.ts';

// int8 → bigint and numeric → string would be the safe defaults of a bulk loader; here we
// keep pg's defaults (strings) and convert where a number is meant.

export interface Database {
  pool: pg.Pool;
  prisma: PrismaClient;
  close(): Promise<void>;
}

export interface OpenDatabaseOptions {
  max?: number;
  applicationName?: string;
  /** Told of every connection of the pool that fails, idle or in use (it then leaves the pool). */
  onError?: (err: Error) => void;
  /** Called with the text of every statement sent on this pool (tests count them). */
  onStatement?: (sql: string) => void;
}

/** Opens a pool and a Prisma client on it. */
export function openDatabase(url: string, options: OpenDatabaseOptions = {}): Database {
  const pool = new pg.Pool({
    connectionString: url,
    max: options.max ?? 10,
    application_name: options.applicationName ?? 'sqp-refresh',
  });
  // A connection lost (server restart, failover, pg_terminate_backend) must never end the
  // process: pg emits 'error' on an idle client through the pool, and on a checked-out one
  // on the client itself, which has no listener of its own. Whoever holds it sees its
  // statement fail; pg-pool drops a connection that is no longer queryable on release.
  const onError = options.onError ?? (() => undefined);
  pool.on('error', onError);
  pool.on('connect', (client) => client.on('error', onError));
  if (options.onStatement) {
    const onStatement = options.onStatement;
    pool.on('connect', (client) => {
      const query = client.query.bind(client) as (...args: unknown[]) => unknown;
      (client as unknown as { query: (...args: unknown[]) => unknown }).query = (...args: unknown[]) => {
        const first = args[0];
        onStatement(typeof first === 'string' ? first : String((first as { text?: string })?.text ?? ''));
        return query(...args);
      };
    });
  }
  const prisma = new PrismaClient({ adapter: new PrismaPg(pool) });
  return {
    pool,
    prisma,
    async close() {
      await prisma.$disconnect();
      await pool.end().catch(() => undefined);
    },
  };
}

let current: Database | undefined;

/** The process's database, set by `useDatabase` in the composition root. */
export function db(): Database {
  if (!current) throw new Error('database not opened: call useDatabase() first');
  return current;
}

/** Makes `database` the one the GraphQL schema and services use in this process. */
export function useDatabase(database: Database | undefined): void {
  current = database;
}
