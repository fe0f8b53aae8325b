// Before any work: can the service reach its database(s), does TLS verify, and is the session
// URL a session? A database that is starting up, in recovery or refusing connections is
// waited for with backoff (one log line per attempt window); anything a person must fix ends
// start-up with one line (StartupError), before a migration runs or the demo is built.
import { setTimeout as delay } from 'node:timers/promises';
import pg from 'pg';
import type { Logger } from '../logger.ts';
import { redactUrl } from '../logger.ts';
import { clientConfig } from './connection.ts';
import { detectTransactionPooler } from './pooler.ts';

/** A start-up problem a person must fix: `main` prints the message alone and exits 1. */
export class StartupError extends Error {
  override name = 'StartupError';
}

/** The URLs the service will use: `url` may be pooled only when `directUrl` is a session. */
export interface DatabaseUrls {
  url: string;
  directUrl?: string;
  /** The embedded PostgreSQL: ours, no pooler to look for. */
  embedded?: boolean;
}

/** SQLSTATEs and socket errors that mean "not now" rather than "wrong". */
const TRANSIENT = new Set(['57P03', '57P01', '57P02', '53300', '08006', '08001', '08004', 'ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN']);

/** TLS verification failures of Node's TLS layer. */
const CERTIFICATE = /CERT|SELF_SIGNED|UNABLE_TO_(VERIFY|GET_ISSUER)|ALTNAME/;

/** Whether a connection error is worth waiting out (the server is starting, restarting, full). */
export function isTransientConnectError(error: unknown): boolean {
  const code = (error as { code?: string } | null)?.code;
  if (code && TRANSIENT.has(code)) return true;
  return /the database system is (starting up|shutting down|in recovery mode)|Connection terminated unexpectedly/i.test((error as Error)?.message ?? '');
}

/** One line saying what is wrong with connecting to `name`, and what to do. */
function describeConnectError(name: string, url: string, error: unknown): string {
  const e = error as { code?: string; message?: string };
  const where = `${name} (${redactUrl(url)})`;
  const message = (e.message ?? String(error)).split('\n')[0] ?? '';
  if (e.code && CERTIFICATE.test(e.code)) {
    return `${where}: the server's TLS certificate does not verify (${message}); give the CA that signed it as sslrootcert=/path/ca.pem (verify-full also checks the host name), or use sslmode=require to encrypt without verifying`;
  }
  if (/does not support SSL/i.test(message)) return `${where}: the server does not offer TLS, but the URL's sslmode asks for it`;
  if (e.code === '28P01' || e.code === '28000') return `${where}: the server refused the login (${message})`;
  if (e.code === '3D000') return `${where}: ${message}`;
  if (e.code === 'ENOTFOUND') return `${where}: host not found (${message})`;
  return `${where}: cannot connect (${message})`;
}

/**
 * Connects once, waiting out transient refusals with exponential backoff (0.5 s doubling to
 * 10 s) until `timeoutMs`; logs one line per attempt window.
 */
async function waitForDatabase(name: string, url: string, options: { logger: Logger; timeoutMs: number; signal?: AbortSignal }): Promise<void> {
  const started = Date.now();
  for (let attempt = 1; ; attempt++) {
    const client = new pg.Client(clientConfig(url, { application_name: 'sqp-refresh start', connectionTimeoutMillis: 10_000 }));
    client.on('error', () => undefined);
    try {
      await client.connect();
      await client.query('SELECT 1');
      if (attempt > 1) options.logger.info({ database: name, attempts: attempt }, `${name} is reachable`);
      return;
    } catch (error) {
      const waited = Date.now() - started;
      if (!isTransientConnectError(error) || waited >= options.timeoutMs || options.signal?.aborted) {
        const gaveUp = isTransientConnectError(error) && options.timeoutMs > 0 ? ` — gave up after ${Math.round(waited / 1000)} s (DATABASE_CONNECT_TIMEOUT_SECONDS)` : '';
        throw new StartupError(describeConnectError(name, url, error) + gaveUp);
      }
      const wait = Math.min(10_000, 500 * 2 ** (attempt - 1), options.timeoutMs - waited);
      options.logger.warn({ database: name, attempt, retryInMs: wait }, `${describeConnectError(name, url, error)}; trying again in ${(wait / 1000).toFixed(1)} s`);
      await delay(wait, undefined, { signal: options.signal }).catch(() => undefined);
    } finally {
      await client.end().catch(() => undefined);
    }
  }
}

/**
 * Everything the service needs of its database URLs, checked before any work: each reachable
 * (TLS verified), and the session URL a session. Throws a StartupError naming the fix.
 */
export async function checkDatabaseUrls(urls: DatabaseUrls, options: { logger: Logger; timeoutMs: number; signal?: AbortSignal }): Promise<void> {
  await waitForDatabase('DATABASE_URL', urls.url, options);
  if (urls.directUrl) await waitForDatabase('DATABASE_DIRECT_URL', urls.directUrl, options);
  if (urls.embedded) return;
  const name = urls.directUrl ? 'DATABASE_DIRECT_URL' : 'DATABASE_URL';
  const sessionUrl = urls.directUrl ?? urls.url;
  const verdict = await detectTransactionPooler(sessionUrl);
  if (!verdict.transactionPooler) return;
  const seen = verdict.signals.join('; ');
  throw new StartupError(
    urls.directUrl
      ? `DATABASE_DIRECT_URL leads to a transaction pooler (${seen}): it must be a session connection — the database's direct connection, or a pooler in session mode (Supabase: port 5432)`
      : `DATABASE_URL leads to a transaction pooler (${seen}): set DATABASE_DIRECT_URL to a session connection (the database's direct connection, or a pooler in session mode — Supabase: port 5432); LISTEN and the refresh locks need a session`,
  );
}
