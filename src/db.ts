// The database clients of one process: two pg pools and the Prisma client on the first.
// `pool` (DATABASE_URL, which may be a transaction pooler) serves short transactional work:
// graph reads, commands, NOTIFY. `session` (DATABASE_DIRECT_URL, default the same URL) serves
// what needs a session of its own: a run's connection and its refresh lock, COPY into staging,
// the concurrency slots, the demo source's build — with the service's own session limits over
// the role's. Opened once by the composition root and passed to whoever needs it (no module global).
import { PrismaPg } from '@prisma/adapter-pg';
import pg from 'pg';
import { applySessionLimits, clientConfig, type SessionLimits } from './database/connection.ts';
import { PrismaClient } from './generated/prisma/client.ts';

// int8 → bigint and numeric → string would be the safe defaults of a bulk loader; here we
// keep pg's defaults (strings) and convert where a number is meant.

export interface Database {
  /** Short transactional work; may be a transaction pooler. */
  pool: pg.Pool;
  /** Sessions: never a transaction pooler (src/database/pooler.ts checks at start). */
  session: pg.Pool;
  prisma: PrismaClient;
  close(): Promise<void>;
}

export interface OpenDatabaseOptions {
  max?: number;
  /** Size of the session pool; default `max`. */
  sessionMax?: number;
  applicationName?: string;
  /** The session connection's URL (DATABASE_DIRECT_URL); default: `url`. */
  directUrl?: string;
  /** Set on every connection of the session pool (the role's defaults then do not apply). */
  sessionLimits?: SessionLimits;
  /** Told of every connection of the pools that fails, idle or in use (it then leaves the pool). */
  onError?: (err: Error) => void;
  /** Called with the text of every statement sent on these pools (tests count them). */
  onStatement?: (sql: string) => void;
}

/** Opens the two pools and a Prisma client on the first. */
export function openDatabase(url: string, options: OpenDatabaseOptions = {}): Database {
  const name = options.applicationName ?? 'sqp-refresh';
  const pool = openPool(url, { ...options, applicationName: name });
  const limits = options.sessionLimits;
  const session = openPool(options.directUrl ?? url, {
    ...options,
    max: options.sessionMax ?? options.max,
    applicationName: `${name} session`,
    // pg-pool waits for this before it hands a new connection out.
    onConnect: limits ? (client) => applySessionLimits(client, limits) : undefined,
  });
  const prisma = new PrismaClient({ adapter: new PrismaPg(pool) });
  return {
    pool,
    session,
    prisma,
    async close() {
      await prisma.$disconnect();
      await Promise.all([pool.end().catch(() => undefined), session.end().catch(() => undefined)]);
    },
  };
}

function openPool(url: string, options: OpenDatabaseOptions & { applicationName: string; onConnect?: (client: pg.PoolClient) => Promise<void> }): pg.Pool {
  const pool = new pg.Pool({
    ...clientConfig(url, { application_name: options.applicationName }),
    max: options.max ?? 10,
    // pg-pool 3.14's hook (not yet in @types/pg).
    ...(options.onConnect ? { onConnect: options.onConnect } : {}),
  } as pg.PoolConfig);
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
  return pool;
}
