// Start-up problems a person must fix end `sqp-refresh start` with one plain line each and
// exit 1, before anything is migrated or built: the real CLI, as its own process, on an empty
// database that must stay empty.
import { createServer, type Server } from 'node:net';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from './support/cli.ts';
import { createEmptyDatabase, type TestDatabase } from './support/db.ts';
import { freePort } from './support/global-setup.ts';

let database: TestDatabase;

beforeAll(async () => {
  database = await createEmptyDatabase();
});
afterAll(async () => {
  await database?.drop();
});

/** The schemas of the database: an untouched one has none of ours. */
async function schemas(): Promise<string[]> {
  const client = new pg.Client({ connectionString: database.url });
  await client.connect();
  try {
    const { rows } = await client.query<{ name: string }>(`SELECT nspname AS name FROM pg_namespace WHERE nspname LIKE 'sqp%' ORDER BY 1`);
    return rows.map((r) => r.name);
  } finally {
    await client.end();
  }
}

/** stderr's lines, without blank ones. */
const lines = (text: string) => text.split('\n').filter((l) => l.trim() !== '');

describe('sqp-refresh start refuses what a person must fix, before any work', () => {
  it('a bad RUNNER_SCHEDULE: one line naming it, exit 1, nothing migrated', async () => {
    const run = await runCli(['start'], { DATABASE_URL: database.url, RUNNER_SCHEDULE: '61 * * * *', PORT: String(await freePort()) });
    expect(run.code).toBe(1);
    expect(lines(run.stderr)).toEqual([expect.stringMatching(/^Invalid configuration: RUNNER_SCHEDULE: not a cron pattern: .*61/)]);
    expect(run.stderr).not.toMatch(/\bat .*\.(ts|js):\d+/); // no stack trace
    expect(await schemas()).toEqual([]);
  });

  it('a mysql:// DATABASE_URL: one line naming the scheme and never the password, exit 1', async () => {
    const run = await runCli(['start'], { DATABASE_URL: 'mysql://app:hunter2@127.0.0.1:3306/shop', PORT: String(await freePort()) });
    expect(run.code).toBe(1);
    expect(lines(run.stderr)).toEqual(['Invalid configuration: DATABASE_URL: must be a postgresql:// URL, not mysql://…']);
    expect(run.stderr + run.stdout).not.toContain('hunter2');
  });

  it('every problem at once, one line each', async () => {
    const run = await runCli(['start'], { DATABASE_URL: 'mysql://x@y/z', RUNNER_SCHEDULE: 'often', PORT: 'eighty' });
    expect(run.code).toBe(1);
    expect(lines(run.stderr)).toHaveLength(3);
    expect(lines(run.stderr).every((l) => l.startsWith('Invalid configuration: '))).toBe(true);
    expect(run.stderr).toMatch(/DATABASE_URL/);
    expect(run.stderr).toMatch(/RUNNER_SCHEDULE/);
    expect(run.stderr).toMatch(/PORT/);
  });

  it('a busy port: one line naming PORT, exit 1, nothing migrated', async () => {
    const busy: Server = createServer();
    const port = await new Promise<number>((resolve) => busy.listen(0, '127.0.0.1', () => resolve((busy.address() as { port: number }).port)));
    try {
      const run = await runCli(['start'], { DATABASE_URL: database.url, PORT: String(port), HOST: '127.0.0.1' });
      expect(run.code).toBe(1);
      expect(lines(run.stderr)).toEqual([`PORT ${port}: 127.0.0.1:${port} is already in use by another process; stop it or choose another PORT`]);
      expect(await schemas()).toEqual([]);
    } finally {
      busy.close();
    }
  });

  it('a TLS file that does not exist: one line, exit 1', async () => {
    const url = new URL(database.url);
    url.searchParams.set('sslmode', 'verify-full');
    url.searchParams.set('sslrootcert', '/nonexistent/ca.pem');
    const run = await runCli(['start'], { DATABASE_URL: url.toString(), PORT: String(await freePort()) });
    expect(run.code).toBe(1);
    expect(lines(run.stderr)).toEqual([expect.stringMatching(/^Invalid configuration: DATABASE_URL: cannot read a TLS file .*\/nonexistent\/ca\.pem/)]);
  });

  it('a database that refuses connections is waited for, then given up on in one line', async () => {
    const port = await freePort(); // nothing listens there
    const run = await runCli(['start'], {
      DATABASE_URL: `postgresql://postgres@127.0.0.1:${port}/postgres`, DATABASE_CONNECT_TIMEOUT_SECONDS: '2', PORT: String(await freePort()), LOG_LEVEL: 'warn', LOG_PRETTY: 'false',
    });
    expect(run.code).toBe(1);
    expect(lines(run.stderr)).toEqual([expect.stringMatching(/^DATABASE_URL \(postgresql:\/\/postgres@127\.0\.0\.1:\d+\/postgres\): cannot connect \(.*ECONNREFUSED.*\) — gave up after \d s/)]);
    // One warning per attempt, with the wait growing (0.5 s, 1 s, …): a few, not a tight loop.
    const waits = lines(run.stdout).map((l) => JSON.parse(l) as { retryInMs?: number }).filter((l) => l.retryInMs !== undefined);
    expect(waits.length).toBeGreaterThanOrEqual(2);
    expect(waits.length).toBeLessThanOrEqual(4);
    expect(waits[1]!.retryInMs).toBeGreaterThan(waits[0]!.retryInMs!);
  });
});
