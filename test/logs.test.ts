// The logs of the real service at LOG_LEVEL=debug: every line is JSON, a run's lines carry its
// table and run id, and no secret reaches them — not the bearer tokens callers send (valid or
// wrong), not the password of DATABASE_URL, not the password of a source's connection string
// that fails to connect. The second part checks the logger itself on objects and strings a
// careless caller might log.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { createToken } from '../src/auth/tokens.ts';
import { createLogger } from '../src/logger.ts';
import { adminQuery, createTestDatabase, openTestPool } from './support/db.ts';
import { freePort } from './support/global-setup.ts';
import { registerTestTable } from './support/refresh.ts';

const root = path.resolve(import.meta.dirname, '..');
const database = await createTestDatabase();
const suffix = randomBytes(4).toString('hex');
const role = `sqp_logs_${suffix}`;
const rolePassword = `Db-Pass-${randomBytes(9).toString('hex')}`;
const sourcePassword = `Src-Pass-${randomBytes(9).toString('hex')}`;

afterAll(async () => {
  await database.drop();
  await adminQuery(`DROP ROLE IF EXISTS ${role}`);
});

/** One JSON log line as pino writes it. */
interface LogLine {
  level: number;
  time: number;
  msg?: string;
  [key: string]: unknown;
}

describe('the service logs', () => {
  it('are JSON lines without tokens or passwords, and a run logs with its table and run id', async () => {
    // A role with a password of its own, so that the password in DATABASE_URL is distinctive.
    await adminQuery(`CREATE ROLE ${role} LOGIN SUPERUSER PASSWORD '${rolePassword}'`);
    const url = new URL(database.url);
    url.username = role;
    url.password = rolePassword;
    const pool = openTestPool(database.url, 2);
    try {
      await pool.query(`UPDATE sqp.refresh_config SET is_enabled = false`);
      await pool.query(`CREATE TABLE sqp.logs_target (id int PRIMARY KEY, v int)`);
      await pool.query(`CREATE TABLE sqp.logs_unreachable (id int PRIMARY KEY, v int)`);
      const due = { isEnabled: true, nextRefreshAt: '-1 minute' };
      await registerTestTable(pool, { tableName: 'logs_target', ...due, customSyncParams: { source: { type: 'postgres', query: 'SELECT g AS id, g AS v FROM generate_series(1, 150) g' }, pageSize: 100 } });
      await registerTestTable(pool, { tableName: 'logs_unreachable', ...due, customSyncParams: { source: { type: 'postgres', query: 'SELECT 1 AS id, 1 AS v', databaseUrlEnv: 'SOURCE_DATABASE_URL_LOGS' } } });
    } finally {
      await pool.end();
    }

    const valid = createToken('logs-test', 'read');
    const wrongPrefixed = createToken('other', 'read').token; // our format, but not configured
    const wrongPlain = `not-a-token-${randomBytes(12).toString('hex')}`;
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'start'], {
      cwd: root,
      env: {
        ...process.env,
        DATABASE_URL: url.toString(),
        API_TOKENS: valid.entry,
        LOG_LEVEL: 'debug',
        LOG_PRETTY: 'false',
        PORT: '0',
        BIGQUERY_PROJECT_ID: 'unused-here', // no demo source: only this test's tables refresh
        SOURCE_DATABASE_URL_LOGS: `postgresql://source_user:${sourcePassword}@127.0.0.1:${await freePort()}/nowhere`,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    const seen = (pattern: RegExp) =>
      new Promise<void>((resolve, reject) => {
        const check = () => pattern.test(stdout) && resolve();
        child.stdout!.on('data', check);
        child.once('exit', (code) => reject(new Error(`service exited with ${code}:\n${stdout}\n${stderr}`)));
        check();
      });
    child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));

    try {
      await seen(/GraphiQL is ready at/);
      const graphqlUrl = /GraphiQL is ready at (http:\/\/\S+?)"/.exec(stdout)![1]!;
      const base = graphqlUrl.replace(/\/graphql$/, '');
      const post = (token: string, query: string) =>
        fetch(graphqlUrl, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
          body: JSON.stringify({ query }),
        });
      // What the server answers is other tests' business; here only what it logs matters.
      for (const token of [valid.token, wrongPrefixed, wrongPlain]) {
        await post(token, '{ refreshConfigs(first: 5) { edges { node { tableName } } } }');
        await post(token, '{ refreshConfigs(first: 5) { edges { node { noSuchField } } } }');
        await post(token, '{ this is not graphql');
        for (const route of ['/health', '/ready', '/metrics']) {
          expect((await fetch(`${base}${route}`, { headers: { authorization: `Bearer ${token}` } })).ok).toBe(true);
        }
      }
      // Both refreshes end (one succeeds, one cannot reach its source) and say so.
      await seen(/"table":"sqp\.logs_target"[^\n]*"msg":"refresh success"/);
      await seen(/"table":"sqp\.logs_unreachable"[^\n]*"msg":"refresh failed"/);
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);

    const lines = stdout.split('\n').filter(Boolean);
    const parsed = lines.map((line) => {
      try {
        return JSON.parse(line) as LogLine;
      } catch {
        throw new Error(`a log line is not JSON: ${line}`);
      }
    });
    for (const entry of parsed) expect(entry).toMatchObject({ level: expect.any(Number), time: expect.any(Number), service: 'sqp-refresh' });
    expect(parsed.some((entry) => entry.level === 20)).toBe(true); // debug lines are written

    const runLines = parsed.filter((entry) => entry.table === 'sqp.logs_target' && /^refresh /.test(entry.msg ?? ''));
    // One child logger per run: every line of the run carries its table and run id.
    expect(runLines).toEqual([
      expect.objectContaining({ component: 'runner', runId: expect.any(Number), msg: 'refresh started' }),
      expect.objectContaining({ component: 'runner', runId: expect.any(Number), msg: 'refresh success' }),
    ]);
    expect(runLines[0]!.runId).toBe(runLines[1]!.runId);

    const everything = `${stdout}\n${stderr}`;
    for (const secret of [valid.token, wrongPrefixed, wrongPlain, rolePassword, sourcePassword]) {
      expect(everything, 'a secret reached the logs').not.toContain(secret);
    }
  });
});

describe('the logger', () => {
  function capture(): { logger: ReturnType<typeof createLogger>; lines: () => string[] } {
    const chunks: string[] = [];
    const destination = new Writable({
      write(chunk: Buffer, _encoding, done) {
        chunks.push(chunk.toString());
        done();
      },
    });
    return { logger: createLogger({ level: 'trace', pretty: false }, destination), lines: () => chunks.join('').split('\n').filter(Boolean) };
  }

  it('censors secrets by key, in request headers, and inside strings and errors', () => {
    const { logger, lines } = capture();
    const token = createToken('x', 'admin').token;
    logger.info({ req: { headers: { authorization: `Bearer ${token}`, cookie: 'session=abc123secret' } } }, 'request');
    logger.info({ headers: { authorization: 'Bearer plain-secret-1' } }, 'headers');
    logger.info({ password: 'pw-secret-2', config: { databaseUrl: 'postgresql://u:pw-secret-3@h/db', token: 'tk-secret-4' } }, 'keys');
    logger.info({ env: { DATABASE_URL: 'postgresql://u:pw-secret-5@h/db' } }, 'an environment');
    logger.child({ component: 'x' }).error({ err: new Error('connect to postgresql://u:pw-secret-6@db.example:5432/x failed') }, 'error');
    logger.warn(`retrying postgres://admin:pw-secret-7@10.0.0.1/db with Bearer plain-secret-8`);
    logger.info({ note: `the token was ${token}` }, 'a message quoting a token');
    const out = lines().join('\n');
    for (const secret of [token, 'abc123secret', 'plain-secret-1', 'pw-secret-2', 'pw-secret-3', 'tk-secret-4', 'pw-secret-5', 'pw-secret-6', 'pw-secret-7', 'plain-secret-8']) {
      expect(out).not.toContain(secret);
    }
    // What is not secret stays readable.
    expect(out).toContain('postgresql://u:[redacted]@db.example:5432/x');
    expect(out).toContain('Bearer [redacted]');
    for (const line of lines()) expect(() => JSON.parse(line)).not.toThrow();
  });
});
