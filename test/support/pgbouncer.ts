// A real PgBouncer (the Debian package's /usr/sbin/pgbouncer) in front of the tests' PostgreSQL,
// as users deploy the service: TLS on the client side, and two entries for one database —
// `transaction` (pool_mode = transaction: Supabase's pooler on 6543, any PgBouncer in
// transaction mode) and `session` (pool_mode = session: Supabase's session pooler on 5432, which
// behaves as a direct connection). Logins are checked against an auth_file, and PgBouncer logs
// into the server with the same name and password.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, chown, copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import pg from 'pg';
import { freePort } from './global-setup.ts';
import type { TestCertificates } from './tls.ts';

/**
 * A system program's path: on PATH, or in `dirs` (Debian puts pgbouncer in /usr/sbin, which a
 * non-root PATH often lacks); null when it is not installed.
 */
export function findProgram(name: string, dirs: string[] = []): string | null {
  const onPath = (process.env.PATH ?? '').split(path.delimiter).filter(Boolean);
  return [...onPath, ...dirs].map((dir) => path.join(dir, name)).find((file) => existsSync(file)) ?? null;
}

const findPgBouncer = () => findProgram('pgbouncer', ['/usr/sbin', '/usr/local/sbin', '/usr/local/bin', '/opt/homebrew/bin']);

/**
 * Why tests that need PgBouncer cannot run here, or null when they can. On CI (CI set) a
 * missing binary is an error, so a broken image never passes by skipping.
 */
export function pgbouncerSkipReason(): string | null {
  if (findPgBouncer()) return null;
  const message = 'pgbouncer is not installed (apt-get install pgbouncer)';
  if (process.env.CI) throw new Error(`${message}: CI must run the deployment tests`);
  return message;
}

export interface PgBouncerUser {
  name: string;
  password: string;
}

export type PgBouncerEntry = 'transaction' | 'session';

export interface PgBouncerOptions {
  /** Any URL of the PostgreSQL server to stand in front of (only its host and port are used). */
  serverUrl: string;
  /** The database both entries lead to. */
  database: string;
  /** Who may log in (and with what PgBouncer logs into the server). */
  users: PgBouncerUser[];
  /** The server certificate and key PgBouncer presents to clients. */
  tls: Pick<TestCertificates, 'certFile' | 'keyFile' | 'caFile'>;
  /**
   * Server connections per user: `transaction` multiplexes every client over its few (default
   * 5); `session` pins one to each client connection for its life, so it needs as many as the
   * service holds at once (default 20; a client beyond waits in PgBouncer's queue).
   */
  poolSize?: { transaction?: number; session?: number };
}

export interface PgBouncer {
  port: number;
  /** A connection string for `entry` as `user`; `params` become query parameters (sslmode, sslrootcert). */
  url(entry: PgBouncerEntry, user: PgBouncerUser, params?: Record<string, string>): string;
  /** PgBouncer's own log so far (for a failing test's message). */
  log(): Promise<string>;
  /** Stops PgBouncer (its client connections drop) and removes its temp dir. */
  stop(): Promise<void>;
}

/** pgbouncer.ini values are not quoted; refuse what would break the line. */
function iniValue(value: string): string {
  if (/[\s;#'"\\]/.test(value)) throw new Error(`pgbouncer.ini: cannot write ${JSON.stringify(value)}`);
  return value;
}

/** Where the server is, as a PgBouncer connection string fragment. */
function serverTarget(serverUrl: string): string {
  const u = new URL(serverUrl);
  // A socket directory may come as ?host=/path (libpq style) with an empty URL host.
  const host = decodeURIComponent(u.hostname) || u.searchParams.get('host') || '127.0.0.1';
  return `host=${iniValue(host.replace(/^\[|\]$/g, ''))} port=${iniValue(u.port || '5432')}`;
}

/**
 * Root may run PgBouncer only as another user (`-u`): the owner of the files it must read and
 * the log it writes. Anyone else runs it as themselves.
 */
async function runAsUser(): Promise<{ name: string; uid: number; gid: number } | null> {
  if (process.getuid?.() !== 0) return null;
  const passwd = await readFile('/etc/passwd', 'utf8');
  for (const name of ['postgres', 'nobody']) {
    const fields = passwd.split('\n').find((line) => line.startsWith(`${name}:`))?.split(':');
    if (fields) return { name, uid: Number(fields[2]), gid: Number(fields[3]) };
  }
  throw new Error('pgbouncer refuses to run as root and neither a postgres nor a nobody user exists');
}

/** Starts PgBouncer on a free port and resolves once it accepts a TLS login on both entries. */
export async function startPgBouncer(options: PgBouncerOptions): Promise<PgBouncer> {
  const binary = findPgBouncer();
  if (!binary) throw new Error('pgbouncer is not installed (apt-get install pgbouncer)');
  const [first] = options.users;
  if (!first) throw new Error('startPgBouncer: give at least one user');
  const dir = await mkdtemp(path.join(os.tmpdir(), 'sqp-refresh-pgbouncer-'));
  const port = await freePort();
  const logFile = path.join(dir, 'pgbouncer.log');
  const target = serverTarget(options.serverUrl);
  const db = iniValue(options.database);
  const transactionPool = options.poolSize?.transaction ?? 5;
  const sessionPool = options.poolSize?.session ?? 20;
  const ini = [
    '[databases]',
    `transaction = ${target} dbname=${db} pool_mode=transaction pool_size=${transactionPool}`,
    `session = ${target} dbname=${db} pool_mode=session pool_size=${sessionPool}`,
    '',
    '[pgbouncer]',
    'listen_addr = 127.0.0.1',
    `listen_port = ${port}`,
    // No unix socket: /tmp/.s.PGSQL.<port> could collide with another server's.
    'unix_socket_dir =',
    'auth_type = scram-sha-256',
    'auth_file = userlist.txt',
    'pool_mode = session',
    'default_pool_size = 5',
    'min_pool_size = 0',
    'reserve_pool_size = 0',
    'max_client_conn = 100',
    // As deployed PgBouncers commonly have it (JDBC sends it); everything else pg might send
    // at startup (statement_timeout, options) is refused, as a real PgBouncer refuses it.
    'ignore_startup_parameters = extra_float_digits',
    'client_tls_sslmode = require',
    'client_tls_cert_file = server.crt',
    'client_tls_key_file = server.key',
    'client_tls_ca_file = ca.crt',
    `logfile = ${logFile}`,
    'log_connections = 1',
    'log_disconnections = 1',
    'log_pooler_errors = 1',
    'server_login_retry = 1',
    'admin_users =',
    '',
  ].join('\n');
  const quote = (s: string) => `"${s.replace(/"/g, '""')}"`;
  await writeFile(path.join(dir, 'pgbouncer.ini'), ini);
  await writeFile(path.join(dir, 'userlist.txt'), options.users.map((u) => `${quote(u.name)} ${quote(u.password)}\n`).join(''));
  await copyFile(options.tls.certFile, path.join(dir, 'server.crt'));
  await copyFile(options.tls.keyFile, path.join(dir, 'server.key'));
  await copyFile(options.tls.caFile, path.join(dir, 'ca.crt'));
  await writeFile(logFile, '');
  // Relative paths in the ini resolve against PgBouncer's working directory: start it in `dir`.
  const user = await runAsUser();
  if (user) {
    for (const file of ['', 'pgbouncer.ini', 'userlist.txt', 'server.crt', 'server.key', 'ca.crt', 'pgbouncer.log']) {
      await chown(path.join(dir, file), user.uid, user.gid);
    }
  }
  await chmod(dir, 0o700);
  await chmod(path.join(dir, 'server.key'), 0o600);

  let output = '';
  const child: ChildProcess = spawn(binary, [...(user ? ['-u', user.name] : []), 'pgbouncer.ini'], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.on('data', (c: Buffer) => (output += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (output += c.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let stopped = false;

  const bouncer: PgBouncer = {
    port,
    url(entry, u, params = {}) {
      const url = new URL(`postgresql://127.0.0.1:${port}/${entry}`);
      url.username = u.name;
      url.password = u.password;
      for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
      return url.toString();
    },
    log: async () => output + (await readFile(logFile, 'utf8').catch(() => '')),
    async stop() {
      if (stopped) return;
      stopped = true;
      if (child.exitCode === null && child.signalCode === null) {
        // SIGTERM: immediate shutdown (SIGINT would wait for every client to leave).
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(timer);
      }
      await rm(dir, { recursive: true, force: true });
    },
  };

  // Ready when a TLS login through each entry runs a statement on the server (retrying: the
  // port is not open at once, and the first login also proves the auth_file and the server).
  const started = Date.now();
  for (const entry of ['session', 'transaction'] as const) {
    for (;;) {
      if (child.exitCode !== null || child.signalCode !== null) {
        const log = await bouncer.log();
        await bouncer.stop();
        throw new Error(`pgbouncer exited (${child.exitCode ?? child.signalCode}) before accepting connections:\n${log}`);
      }
      const client = new pg.Client({
        connectionString: bouncer.url(entry, first),
        ssl: { ca: await readFile(options.tls.caFile, 'utf8'), servername: 'localhost' },
        connectionTimeoutMillis: 2000,
      });
      client.on('error', () => undefined);
      try {
        await client.connect();
        await client.query('SELECT 1');
        break;
      } catch (error) {
        if (Date.now() - started > 15_000) {
          const log = await bouncer.log();
          await bouncer.stop();
          throw new Error(`pgbouncer did not accept a login on ${entry} within 15 s (${(error as Error).message}):\n${log}`);
        }
        await delay(50);
      } finally {
        await client.end().catch(() => undefined);
      }
    }
  }
  return bouncer;
}
