// The README's first command, end to end: `npm start` with no DATABASE_URL brings GraphiQL up
// on an embedded PostgreSQL; with DATABASE_URL it uses that database; Ctrl-C stops cleanly.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createToken } from '../src/auth/tokens.ts';
import { createTestDatabase } from './support/db.ts';
import { freePort } from './support/global-setup.ts';

const root = path.resolve(import.meta.dirname, '..');

/** Starts the service as `npm start` does and resolves with the GraphiQL URL it logs. */
function startService(env: Record<string, string>): { child: ChildProcess; url: Promise<string>; exit: Promise<number | null> } {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'start'], {
    cwd: root,
    env: { ...process.env, DATABASE_URL: '', LOG_LEVEL: 'info', LOG_PRETTY: 'false', PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const url = new Promise<string>((resolve, reject) => {
    child.stdout!.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      const match = /GraphiQL is ready at (http:\/\/\S+?)"/.exec(output);
      if (match) resolve(match[1]!);
    });
    child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.once('exit', (code) => reject(new Error(`service exited with ${code} before serving:\n${output}`)));
  });
  const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, url, exit };
}

async function expectGraphiQLAndData(url: string, headers: Record<string, string> = {}) {
  const page = await fetch(url, { headers: { accept: 'text/html' } });
  expect(page.status).toBe(200);
  expect(await page.text()).toMatch(/graphiql/i);
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ query: '{ refreshConfigs(first: 100) { edges { node { tableName } } } }' }),
  });
  const body = (await res.json()) as { data: { refreshConfigs: { edges: unknown[] } } };
  expect(body.data.refreshConfigs.edges).toHaveLength(8);
}

describe('npm start', () => {
  const dirs: string[] = [];
  afterAll(async () => {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  it('serves GraphiQL on an embedded PostgreSQL when no DATABASE_URL is given, and stops on SIGINT', async () => {
    const dir = path.join(os.tmpdir(), `sqp-refresh-start-${randomBytes(3).toString('hex')}`);
    dirs.push(dir);
    const started = Date.now();
    const service = startService({ EMBEDDED_PG_DIR: dir, EMBEDDED_PG_PORT: String(await freePort()) });
    const url = await service.url;
    console.log(`embedded start to serving GraphiQL: ${Date.now() - started} ms`);
    await expectGraphiQLAndData(url);
    service.child.kill('SIGINT');
    expect(await service.exit).toBe(0);
  });

  it('uses DATABASE_URL when one is given', async () => {
    const database = await createTestDatabase();
    try {
      // With a database of its own, reading needs a token (no anonymous access by default).
      const { token, entry } = createToken('dashboard', 'read');
      const service = startService({ DATABASE_URL: database.url, API_TOKENS: entry });
      const url = await service.url;
      const anonymous = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query: '{ runnerStatus { queueDepth } }' }) });
      expect(((await anonymous.json()) as { errors: Array<{ message: string }> }).errors[0]!.message).toMatch(/needs scope 'read': no token was given/);
      await expectGraphiQLAndData(url, { authorization: `Bearer ${token}` });
      service.child.kill('SIGTERM');
      expect(await service.exit).toBe(0);
    } finally {
      await database.drop();
    }
  });

  it('refuses a bad environment with every problem at once', async () => {
    const service = startService({ DATABASE_URL: 'not a url', PORT: 'eighty' });
    await expect(service.url).rejects.toThrow(/DATABASE_URL[\s\S]*PORT|PORT[\s\S]*DATABASE_URL/);
    expect(await service.exit).toBe(1);
  });
});
