// `sqp-refresh token create`: the printed token, and the API_TOKENS entry that the service
// accepts for it. No database: DATABASE_URL points at a closed port.
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { findToken, parseApiTokens } from '../src/auth/tokens.ts';
import { runCli } from './support/cli.ts';


function cli(args: string[]) {
  return runCli(args, { DATABASE_URL: 'postgresql://postgres@127.0.0.1:1/nowhere' });
}

/** The token and the entry, each printed on its own indented line under its heading. */
function printed(stdout: string): { token: string; entry: string } {
  const token = /^Token .*\n {2}(\S+)$/m.exec(stdout)?.[1];
  const entry = /^API_TOKENS entry .*\n {2}(\S+)$/m.exec(stdout)?.[1];
  if (!token || !entry) throw new Error(`unexpected output:\n${stdout}`);
  return { token, entry };
}

describe('sqp-refresh token create', () => {
  it('prints a token once and an entry holding its SHA-256, which API_TOKENS accepts', async () => {
    const { code, stdout, stderr } = await cli(['token', 'create', '--scope', 'operate', '--name', 'ci-bot']);
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
    const { token, entry } = printed(stdout);
    expect(stdout).toMatch(/only this goes into the service's environment/);
    expect(stdout.split(token)).toHaveLength(2); // the token appears exactly once
    const [name, scope, hash] = entry.split(':');
    expect({ name, scope }).toEqual({ name: 'ci-bot', scope: 'operate' });
    expect(hash).toBe(createHash('sha256').update(token).digest('hex'));
    const parsed = parseApiTokens(`other:read:${'0'.repeat(64)},${entry}`);
    expect(parsed.problems).toEqual([]);
    expect(findToken(parsed.tokens, token)).toMatchObject({ name: 'ci-bot', scope: 'operate' });
  });

  it('names the entry after its scope and the time when --name is not given; every token is new', async () => {
    const [a, b] = await Promise.all([cli(['token', 'create', '--scope', 'read']), cli(['token', 'create', '--scope', 'admin'])]);
    expect([a.code, b.code]).toEqual([0, 0]);
    const first = printed(a.stdout);
    const second = printed(b.stdout);
    expect(first.entry).toMatch(/^read-\d{8}-\d{6}:read:[0-9a-f]{64}$/);
    expect(second.entry).toMatch(/^admin-\d{8}-\d{6}:admin:[0-9a-f]{64}$/);
    expect(first.token).not.toBe(second.token);
  });

  it('exits 2 without printing a token for a missing or unknown scope, or a name API_TOKENS cannot hold', async () => {
    for (const args of [['--name', 'x'], ['--scope', 'root'], ['--scope', 'read', '--name', 'has:colon']]) {
      const { code, stdout, stderr } = await cli(['token', 'create', ...args]);
      expect({ args, code, stdout }).toEqual({ args, code: 2, stdout: '' });
      expect(stderr).toMatch(/^token create: --(scope must be one of read, operate, admin|name: use 1-64 letters)/);
    }
  });
});
