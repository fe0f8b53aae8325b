// The service where users deploy it: behind a real PgBouncer with TLS (DATABASE_URL its
// transaction-mode entry, DATABASE_DIRECT_URL its session-mode entry, both verify-full against
// a private CA), as a role that has exactly docs/deploy/create-role.sql's grants and a
// role-level statement_timeout shorter than the demo's longest publish. The real CLI in its
// own process: it migrates a fresh database, refreshes every demo table, leaves no advisory
// lock on an idle server connection, starts a forced refresh at once although its cron never
// fires, and stops on SIGTERM. A pooled URL alone and a certificate that does not verify are
// refused at start with one line and exit 1, before anything is migrated.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createToken } from '../src/auth/tokens.ts';
import { runCli } from './support/cli.ts';
import { adminQuery, createEmptyDatabase, openTestPool, type TestDatabase } from './support/db.ts';
import { freePort } from './support/global-setup.ts';
import { execute } from './support/graphql.ts';
import { subscribeWs } from './support/live.ts';
import { findProgram, pgbouncerSkipReason, startPgBouncer, type PgBouncer, type PgBouncerUser } from './support/pgbouncer.ts';
import { makeTestCertificates, type TestCertificates } from './support/tls.ts';
import { eventually } from './support/until.ts';
import { ConfigsDocument, ForceForSubscribersDocument, TableEventsDocument } from './generated/graphql.ts';

const root = path.resolve(import.meta.dirname, '..');
const run = promisify(execFile);

// Sized so that the role's timeout is really shorter than a publish: with 26 report weeks the
// publish of asin_performance_data (~128,000 rows, one INSERT) takes 0.9 s on the project's
// 2-core machine (0.4 s at 13 weeks, 1.5 s at 52); the test asserts it from the audit row.
// 250 ms is still far above what the pooled connection's short statements need.
const DEMO_WEEKS = 26;
const ROLE_STATEMENT_TIMEOUT_MS = 250;
/** The eight tables the demo source configures (asin_performance_data's hard dependents included). */
const DEMO_TABLES = [
  'asin_performance_data', 'daily_sqp_data', 'monthly_summary', 'quarterly_summary',
  'search_performance_summary', 'search_query_performance', 'weekly_summary', 'yearly_summary',
];
/** A small demo table with no dependents: what the test forces. */
const FORCED = 'search_query_performance';

/** psql runs docs/deploy/create-role.sql as a user would. */
const psql = findProgram('psql');
function psqlSkipReason(): string | null {
  if (psql) return null;
  const message = 'psql is not installed (apt-get install postgresql-client)';
  if (process.env.CI) throw new Error(`${message}: CI must run the deployment tests`);
  return message;
}

const skipReason = pgbouncerSkipReason() ?? psqlSkipReason();
if (skipReason) console.warn(`test/deploy.test.ts skipped: ${skipReason}`);

interface LogLine {
  msg?: string;
  level?: number;
  table?: string;
  status?: string;
  error?: string;
  [key: string]: unknown;
}

/** `sqp-refresh start` in its own process, with its JSON log lines as they come. */
interface ServiceProcess {
  child: ChildProcess;
  lines: LogLine[];
  stderr(): string;
  /** Resolves with the first line (seen or to come) that `match` accepts; rejects if the process exits first. */
  waitFor(match: (line: LogLine) => boolean, what: string, timeoutMs?: number): Promise<LogLine>;
  exit: Promise<number | null>;
}

function startService(env: Record<string, string>): ServiceProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'start'], {
    cwd: root,
    env: { ...process.env, LOG_LEVEL: 'info', LOG_PRETTY: 'false', BIGQUERY_PROJECT_ID: '', TEST_DATABASE_URL: '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: LogLine[] = [];
  const waiters = new Set<() => void>();
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
    let end: number;
    while ((end = stdout.indexOf('\n')) >= 0) {
      const text = stdout.slice(0, end);
      stdout = stdout.slice(end + 1);
      try {
        lines.push(JSON.parse(text) as LogLine);
      } catch {
        lines.push({ msg: text });
      }
    }
    for (const wake of waiters) wake();
  });
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  let exitCode: number | null | undefined;
  const exit = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => {
      exitCode = code;
      for (const wake of waiters) wake();
      resolve(code);
    }),
  );
  const tail = () => [...lines.slice(-15).map((l) => JSON.stringify(l)), stderr].join('\n');
  return {
    child,
    lines,
    stderr: () => stderr,
    exit,
    waitFor(match, what, timeoutMs = 120_000) {
      return new Promise<LogLine>((resolve, reject) => {
        const timer = setTimeout(() => finish(new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last output:\n${tail()}`)), timeoutMs);
        const finish = (error: Error | null, line?: LogLine) => {
          clearTimeout(timer);
          waiters.delete(check);
          if (error) reject(error);
          else resolve(line!);
        };
        function check() {
          const line = lines.find(match);
          if (line) finish(null, line);
          else if (exitCode !== undefined) finish(new Error(`the service exited (${exitCode}) before ${what}; last output:\n${tail()}`));
        }
        waiters.add(check);
        check();
      });
    },
  };
}

/**
 * Known failure in src/, skipped until it is fixed (then delete this and its two uses): the
 * postgres source (src/runner/sources/postgres/postgres.ts) connects with pg's own reading of
 * the URL and without the service's session limits. Under the role's statement_timeout its
 * count(*) of the source query is cancelled (asin_performance_data fails, its five dependents
 * stay blocked); with sslmode=require pg verifies the certificate ("self-signed certificate in
 * certificate chain"). Both tests pass when that client is made with clientConfig() and
 * applySessionLimits() (src/database/connection.ts).
 */

const refreshEnded = (line: LogLine) => /^refresh (success|warning|failed)$/.test(line.msg ?? '');

describe.skipIf(Boolean(skipReason))('deployed behind PgBouncer with TLS, as a least-privilege role with a role-level statement_timeout', () => {
  let certs: TestCertificates;
  let database: TestDatabase;
  let bouncer: PgBouncer;
  let sql: ReturnType<typeof openTestPool>;
  const role: PgBouncerUser = { name: `sqp_deploy_${randomBytes(4).toString('hex')}`, password: randomBytes(12).toString('hex') };
  const admin = createToken('deployer', 'admin');
  const running = new Set<ChildProcess>();

  /** The entry's URL as the role, TLS verified against `ca` (host name included). */
  const url = (entry: 'transaction' | 'session', ca = certs.caFile) => bouncer.url(entry, role, { sslmode: 'verify-full', sslrootcert: ca });
  const launch = (env: Record<string, string>) => {
    const service = startService(env);
    running.add(service.child);
    void service.exit.then(() => running.delete(service.child));
    return service;
  };
  /** The environment of a start, with ports and tokens of its own. */
  const serviceEnv = async (urls: { DATABASE_URL: string; DATABASE_DIRECT_URL: string }) => ({
    ...urls,
    PORT: String(await freePort()),
    DEMO_WEEKS: String(DEMO_WEEKS),
    // Never fires during the test: after the first pass only wake-ups start runs.
    RUNNER_SCHEDULE: '0 0 1 1 *',
    // Nor do retries of a failed run wake the runner during the test.
    RUNNER_RETRY_BASE_SECONDS: '3600',
    API_TOKENS: admin.entry,
    WORKER_NAME: `deploy-${process.pid}`,
  });
  /** Whether the database holds anything a migration or the demo would have made. */
  const migratedAnything = async () => {
    const { rows: [found] } = await sql.query(
      `SELECT (SELECT count(*)::int FROM pg_namespace WHERE nspname IN ('sqp', 'sqp_refresh_work', 'sqp_demo')) AS schemas,
              (SELECT count(*)::int FROM pg_tables WHERE tablename = '_prisma_migrations') AS bookkeeping`,
    );
    return found;
  };

  beforeAll(async () => {
    certs = await makeTestCertificates();
    database = await createEmptyDatabase();
    sql = openTestPool(database.url, 2);
    await run(psql!, [inject('adminUrl'), '-X', '-q', '-v', `role=${role.name}`, '-v', `password=${role.password}`, '-v', `database=${database.name}`, '-f', 'docs/deploy/create-role.sql'], { cwd: root });
    await adminQuery(`ALTER ROLE ${role.name} SET statement_timeout = '${ROLE_STATEMENT_TIMEOUT_MS}ms'`);
    bouncer = await startPgBouncer({ serverUrl: inject('adminUrl'), database: database.name, users: [role], tls: certs });
  });

  afterAll(async () => {
    for (const child of running) child.kill('SIGKILL');
    await bouncer?.stop();
    await sql?.end();
    await database?.drop();
    await adminQuery(`DROP ROLE IF EXISTS ${role.name}`);
    await certs?.remove();
  });

  it('the role is what create-role.sql makes, and its statement_timeout holds through both entries', async () => {
    const { rows: [r] } = await sql.query(`SELECT rolsuper, rolcreatedb, rolcreaterole, rolreplication, rolbypassrls,
      (SELECT count(*)::int FROM pg_auth_members WHERE member = pg_roles.oid) AS memberships FROM pg_roles WHERE rolname = $1`, [role.name]);
    expect(r).toEqual({ rolsuper: false, rolcreatedb: false, rolcreaterole: false, rolreplication: false, rolbypassrls: false, memberships: 0 });
    for (const entry of ['transaction', 'session'] as const) {
      const client = new pg.Client({ connectionString: url(entry) });
      await client.connect();
      try {
        const { rows: [s] } = await client.query(`SELECT current_setting('statement_timeout') AS t, current_user AS u`);
        expect(s).toEqual({ t: `${ROLE_STATEMENT_TIMEOUT_MS}ms`, u: role.name });
      } finally {
        await client.end();
      }
    }
  });

  it('refuses DATABASE_URL on a transaction pooler without DATABASE_DIRECT_URL: one line, exit 1, nothing migrated', async () => {
    const result = await runCli(['start'], await serviceEnv({ DATABASE_URL: url('transaction'), DATABASE_DIRECT_URL: '' }));
    const lines = result.stderr.split('\n').filter((l) => l.trim());
    console.log(`deploy: pooled DATABASE_URL alone → exit ${result.code}: ${result.stderr.trim()}`);
    expect(result.code, result.stderr + result.stdout).toBe(1);
    expect(lines, result.stderr).toHaveLength(1);
    expect(lines[0]).toContain('transaction pooler');
    expect(lines[0]).toContain('DATABASE_DIRECT_URL');
    expect(lines[0]).not.toContain(role.password);
    expect(await migratedAnything()).toEqual({ schemas: 0, bookkeeping: 0 });
  });

  it('refuses a server certificate that does not verify (the wrong CA): one line, exit 1, nothing migrated', async () => {
    const result = await runCli(['start'], await serviceEnv({
      DATABASE_URL: url('transaction', certs.wrongCaFile),
      DATABASE_DIRECT_URL: url('session', certs.wrongCaFile),
    }));
    const lines = result.stderr.split('\n').filter((l) => l.trim());
    console.log(`deploy: the wrong CA → exit ${result.code}: ${result.stderr.trim()}`);
    expect(result.code, result.stderr + result.stdout).toBe(1);
    expect(lines, result.stderr).toHaveLength(1);
    expect(lines[0]).toMatch(/certificate/i);
    expect(lines[0]).not.toContain(role.password);
    expect(await migratedAnything()).toEqual({ schemas: 0, bookkeeping: 0 });
  });

  describe('the service behind the pooler', () => {
    let service: ServiceProcess;
    let graphqlUrl: string;
    let firstPassEnded: Array<readonly [string, LogLine]>;
    const auth = { authorization: `Bearer ${admin.token}` };

    beforeAll(async () => {
      service = launch(await serviceEnv({ DATABASE_URL: url('transaction'), DATABASE_DIRECT_URL: url('session') }));
      const ready = await service.waitFor((l) => /^GraphiQL is ready at /.test(l.msg ?? ''), 'GraphiQL to be served');
      graphqlUrl = /GraphiQL is ready at (\S+)/.exec(ready.msg!)![1]!;
      // Each table's first pass ends in success, warning or failure — or, under a failed hard
      // parent, blocked. Waited for here, so that every test below starts with the runner idle.
      const started = Date.now();
      const firstPass = (table: string) =>
        service.waitFor((l) => (refreshEnded(l) || l.msg === 'refresh blocked') && l.table === `sqp.${table}`, `the first pass over sqp.${table}`);
      firstPassEnded = await Promise.all(DEMO_TABLES.map(async (t) => [t, await firstPass(t)] as const));
      console.log(`deploy: first pass of ${DEMO_TABLES.length} demo tables (DEMO_WEEKS=${DEMO_WEEKS}) ended ${Date.now() - started} ms after GraphiQL was up`);
    });

    it('migrates the fresh database and refreshes every demo table to success, the long publish included', async () => {
      // All eight compared at once, so that a failure names every table's outcome.
      const outcome = Object.fromEntries(firstPassEnded.map(([t, l]) => [t, l.msg === 'refresh success' ? 'success' : `${l.msg}: ${l.error ?? JSON.stringify(l.reasons ?? l.reason ?? '')}`]));
      expect(outcome).toEqual(Object.fromEntries(DEMO_TABLES.map((t) => [t, 'success'])));
      const configs = await execute(graphqlUrl, ConfigsDocument, { first: 100 }, auth);
      expect(configs.errors).toBeUndefined();
      const latest = Object.fromEntries(configs.data!.refreshConfigs.edges.map((e) => [e.node.tableName, e.node.latestRun?.status]));
      expect(latest).toEqual(Object.fromEntries(DEMO_TABLES.map((t) => [t, 'SUCCESS'])));

      // The role's timeout was really shorter than what the service ran on its sessions.
      const { rows: [publish] } = await sql.query<{ publish_ms: number; execution_time_ms: number }>(
        `SELECT (sync_metadata->>'publishMs')::int AS publish_ms, execution_time_ms FROM sqp.refresh_audit_log
          WHERE table_name = 'asin_performance_data' AND status = 'success' ORDER BY id LIMIT 1`,
      );
      console.log(`deploy: asin_performance_data published in ${publish!.publish_ms} ms (run ${publish!.execution_time_ms} ms) under a role statement_timeout of ${ROLE_STATEMENT_TIMEOUT_MS} ms`);
      expect(publish!.publish_ms).toBeGreaterThan(ROLE_STATEMENT_TIMEOUT_MS);
      // The migrations ran as the role, without its event trigger (no superuser): the catalog scan stands in.
      const { rows: [owner] } = await sql.query(`SELECT pg_get_userbyid(nspowner) AS owner FROM pg_namespace WHERE nspname = 'sqp'`);
      expect(owner).toEqual({ owner: role.name });
      expect(service.lines.some((l) => /may not create event triggers/.test(l.msg ?? ''))).toBe(true);
    });

    it('starts a forced refresh at once (a wake-up through the pooler, the cron never fires) and streams its events', async () => {
      const ws = `${graphqlUrl.replace(/^http/, 'ws')}`;
      // Events with the time they arrived; the forced run is the first to start after the
      // mutation was sent (a run of this table still going when the test began is not it).
      let sent = Infinity;
      let forcedRunId: string | undefined;
      let startedAt = 0;
      const sub = subscribeWs(ws, TableEventsDocument, { filter: { tableName: FORCED } }, auth, (item) => {
        const event = item.refreshEvents;
        if (event.__typename === 'RunStarted' && !forcedRunId && performance.now() >= sent) {
          forcedRunId = event.runId;
          startedAt = performance.now();
        }
        return event.__typename === 'RunFinished' && event.runId === forcedRunId;
      });
      await sub.ready;
      // The subscription is live on the server (there is no event to wait on for that).
      await eventually(async () => {
        const metrics = await (await fetch(new URL('/metrics', graphqlUrl))).text();
        return Number(/^sqp_refresh_subscribers (\d+)/m.exec(metrics)?.[1] ?? 0) >= 1;
      }, 10_000, 'the subscription to be registered');
      sent = performance.now();
      const forced = await execute(graphqlUrl, ForceForSubscribersDocument, { input: { tableSchema: 'sqp', tableName: FORCED } }, auth);
      const answered = performance.now();
      expect(forced.data?.forceRefresh.__typename, JSON.stringify(forced)).toBe('ForceRefreshPayload');
      const items = await sub.results;
      const ofRun = items.map((i) => i.refreshEvents).filter((e) => 'runId' in e && e.runId === forcedRunId);
      const kinds = ofRun.map((e) => e.__typename);
      expect(kinds[0]).toBe('RunStarted');
      expect(kinds.slice(1, -1).every((k) => k === 'RunProgress')).toBe(true);
      expect(ofRun.at(-1)).toMatchObject({ __typename: 'RunFinished', status: 'SUCCESS', tableName: FORCED });
      const latency = startedAt - sent;
      console.log(`deploy: forceRefresh answered in ${Math.round(answered - sent)} ms; RunStarted received ${Math.round(latency)} ms after it was sent`);
      expect(latency).toBeLessThan(1000);
    });

    it('leaves no advisory lock on an idle server connection once its runs are done', async () => {
      // Held locks, as the server sees them (superuser, not through PgBouncer). A run's refresh
      // lock taken on a transaction-pooled connection would stay on a server connection that
      // went back to the pool: idle, and never released. Give a run's own unlock a moment.
      const held = async () =>
        (await sql.query(`SELECT a.pid, a.state, a.application_name, l.classid, l.objid
            FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
           WHERE l.locktype = 'advisory' AND l.granted AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())`)).rows;
      await eventually(async () => (await held()).every((r) => r.state !== 'idle'), 5000, 'idle holders to let go').catch(() => undefined);
      const locks = await held();
      expect(locks.filter((r) => r.state === 'idle'), JSON.stringify(locks)).toEqual([]);
    });

    it('used TLS for every connection it made through PgBouncer', async () => {
      const log = await bouncer.log();
      const logins = log.split('\n').filter((l) => l.includes('login attempt'));
      expect(logins.length).toBeGreaterThan(3);
      expect(logins.filter((l) => !/ tls=TLSv1\.[23]/.test(l))).toEqual([]);
      expect(log).not.toMatch(/SSL required/);
    });

    it('stops cleanly on SIGTERM (exit 0)', async () => {
      service.child.kill('SIGTERM');
      expect(await service.exit, service.stderr()).toBe(0);
    });
  });

  it('works with sslmode=require (encrypted, certificate not verified), as managed databases hand out', async () => {
    const service = launch(await serviceEnv({
      DATABASE_URL: bouncer.url('transaction', role, { sslmode: 'require' }),
      DATABASE_DIRECT_URL: bouncer.url('session', role, { sslmode: 'require' }),
    }));
    const ready = await service.waitFor((l) => /^GraphiQL is ready at /.test(l.msg ?? ''), 'GraphiQL to be served');
    const graphqlUrl = /GraphiQL is ready at (\S+)/.exec(ready.msg!)![1]!;
    const forced = await execute(graphqlUrl, ForceForSubscribersDocument, { input: { tableSchema: 'sqp', tableName: FORCED } }, { authorization: `Bearer ${admin.token}` });
    expect(forced.data?.forceRefresh.__typename, JSON.stringify(forced)).toBe('ForceRefreshPayload');
    const line = await service.waitFor((l) => refreshEnded(l) && l.table === `sqp.${FORCED}`, `the forced refresh of sqp.${FORCED} to end`);
    expect(line, JSON.stringify(line)).toMatchObject({ msg: 'refresh success' });
    service.child.kill('SIGTERM');
    expect(await service.exit, service.stderr()).toBe(0);
  });
});
