// How every connection of the service is made from a URL: the pools, the LISTEN connection,
// migrations, postgres sources and the commands all go through clientConfig(), so TLS and the
// per-session limits mean the same thing on each of them. May import only pg and its parser.
import pg from 'pg';
import { parse, toClientConfig } from 'pg-connection-string';

/**
 * `sslmode` as libpq (psql, Prisma, every PostgreSQL client a user knows) reads it: `require`
 * encrypts without verifying the certificate (with `sslrootcert`: verifies the chain, as
 * `verify-ca`), `verify-ca` checks the chain, `verify-full` the chain and the host name,
 * `disable` turns TLS off. pg's own reading treats `require` as `verify-full`, so the
 * connection string a managed database hands out (`sslmode=require`, a private CA) fails there
 * with "self-signed certificate in certificate chain". A URL that says `uselibpqcompat`
 * itself keeps its own choice.
 */
export function clientConfig(url: string, extra: pg.ClientConfig = {}): pg.ClientConfig {
  const own = new URL(url).searchParams.has('uselibpqcompat');
  const config = toClientConfig(parse(url, own ? {} : { useLibpqCompat: true })) as pg.ClientConfig & Record<string, unknown>;
  // Parameters of the URL that only the parser reads; pg would not send them, but a person
  // reading a logged config should not see a file path twice.
  for (const key of ['sslmode', 'sslrootcert', 'sslcert', 'sslkey', 'uselibpqcompat']) delete config[key];
  return { ...config, ...extra };
}

/**
 * Limits the service sets on its own session connections (a run's connection, COPY,
 * migrations, sources). Managed platforms set `statement_timeout` and
 * `idle_in_transaction_session_timeout` per role (Supabase: 2 min and less for its API roles);
 * those are right for short API queries and wrong for a publish of millions of rows. 0: none.
 */
export interface SessionLimits {
  statementTimeoutMs: number;
  idleInTransactionTimeoutMs: number;
}

/** Sets `limits` on a connected session (the role's defaults no longer apply to it). */
export async function applySessionLimits(client: pg.ClientBase, limits: SessionLimits): Promise<void> {
  await client.query(
    `SELECT set_config('statement_timeout', $1, false), set_config('idle_in_transaction_session_timeout', $2, false)`,
    [String(limits.statementTimeoutMs), String(limits.idleInTransactionTimeoutMs)],
  );
}

/** Connects a single session (LISTEN, migrations, a source), with `limits` when given. */
export async function connectSession(url: string, options: { applicationName: string; limits?: SessionLimits; onError?: (err: Error) => void }): Promise<pg.Client> {
  const client = new pg.Client(clientConfig(url, { application_name: options.applicationName }));
  // A lost connection fails the statement in flight; unheard, 'error' would end the process.
  client.on('error', options.onError ?? (() => undefined));
  await client.connect();
  try {
    if (options.limits) await applySessionLimits(client, options.limits);
  } catch (error) {
    await client.end().catch(() => undefined);
    throw error;
  }
  return client;
}
