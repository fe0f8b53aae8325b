// Fixtures of the alert tests: the GraphQL app with a token of each scope and every log line kept
// (so a test can show the secret is in none of them), delivery workers in this process, and one
// in a child process that a test SIGKILLs mid-delivery — this file is that child's script too.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath, pathToFileURL } from 'node:url';
import path from 'node:path';
import pg from 'pg';
import { createAlertDelivery, type AlertDelivery, type AlertDeliveryEvent, type AlertDeliveryOptions } from '../../src/alerts/delivery.ts';
import { createToken, type Scope } from '../../src/auth/tokens.ts';
import { loadConfig } from '../../src/config.ts';
import { openDatabase, type Database } from '../../src/db.ts';
import { createLogger, type Logger } from '../../src/logger.ts';
import { createRuntime } from '../../src/runtime.ts';
import { buildApp } from '../../src/server.ts';
import { recordEvents, type Recorded } from './events.ts';

/** Every line each logger of a test wrote, at debug level. */
export interface CapturedLogs {
  lines: string[];
  logger: Logger;
}

export function captureLogs(): CapturedLogs {
  const lines: string[] = [];
  return { lines, logger: createLogger({ level: 'debug', pretty: false }, { write: (line: string) => void lines.push(line) }) };
}

export interface AlertsApp {
  url: string;
  database: Database;
  headers(scope: Scope | null): Record<string, string>;
  stop(): Promise<void>;
}

/** The real GraphQL server on a free port, tokens for read, operate and admin, no anonymous access. */
export async function startAlertsApp(databaseUrl: string, logger: Logger): Promise<AlertsApp> {
  const made = { read: createToken('reader', 'read'), operate: createToken('operator', 'operate'), admin: createToken('admin', 'admin') };
  const config = loadConfig({
    DATABASE_URL: databaseUrl,
    LOG_LEVEL: 'silent',
    API_TOKENS: Object.values(made).map((m) => m.entry).join(','),
    ANONYMOUS_ACCESS: 'none',
  });
  const database = openDatabase(databaseUrl);
  const app = buildApp({ graphql: config.graphql, auth: config.auth, logger, services: { db: database, runtime: createRuntime() } });
  const url = await app.start(0);
  return {
    url,
    database,
    headers: (scope): Record<string, string> => (scope ? { authorization: `Bearer ${made[scope].token}` } : {}),
    async stop() {
      await app.stop();
      await database.close();
    },
  };
}

/** A worker in this process with the tests' quick backoff, its events recorded. */
export function startTestDelivery(options: Partial<AlertDeliveryOptions> & Pick<AlertDeliveryOptions, 'pool' | 'logger'>): {
  delivery: AlertDelivery;
  events: Recorded<AlertDeliveryEvent>;
} {
  const events = recordEvents<AlertDeliveryEvent>();
  const delivery = createAlertDelivery({ workerName: 'test', retry: { baseDelayMs: 20, maxDelayMs: 200 }, emit: events.push, ...options });
  return { delivery, events };
}

const SELF = fileURLToPath(import.meta.url);
const ROOT = path.resolve(import.meta.dirname, '../..');

/** A delivery worker in a child process (this file run as a script), leasing each claim for `leaseMs`. */
export function spawnAlertWorker(databaseUrl: string, workerName: string, leaseMs: number): { child: ChildProcess; exited: Promise<NodeJS.Signals | number | null> } {
  const child = spawn(process.execPath, ['--import', 'tsx', SELF], {
    cwd: ROOT,
    env: { ...process.env, DATABASE_URL: databaseUrl, WORKER_NAME: workerName, LEASE_MS: String(leaseMs) },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const exited = new Promise<NodeJS.Signals | number | null>((resolve) => child.once('exit', (code, signal) => resolve(signal ?? code)));
  return { child, exited };
}

// As a script: one worker on DATABASE_URL until it is killed.
if (process.argv[1] && pathToFileURL(process.argv[1]).href === import.meta.url) {
  const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 2 });
  const delivery = createAlertDelivery({
    pool,
    logger: createLogger({ level: 'silent', pretty: false }),
    workerName: process.env.WORKER_NAME!,
    leaseMs: Number(process.env.LEASE_MS),
    timeoutMs: Number(process.env.LEASE_MS) / 2,
  });
  await delivery.start();
}
