// `sqp-refresh` help, version and usage mistakes, as a user meets them: no database is touched
// (DATABASE_URL points at a closed port, so any connection attempt would exit 1, not 0 or 2).
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from './support/cli.ts';

const root = path.resolve(import.meta.dirname, '..');

function cli(args: string[]) {
  return runCli(args, { DATABASE_URL: 'postgresql://postgres@127.0.0.1:1/nowhere' });
}

describe('sqp-refresh help and version', () => {
  it('--help and -h list every command and exit 0', async () => {
    for (const flag of ['--help', '-h']) {
      const { code, stdout } = await cli([flag]);
      expect(code).toBe(0);
      for (const command of ['start', 'migrate', 'run <schema.table>', 'plan [--hours N]', 'status', 'token create --scope']) {
        expect(stdout).toContain(`  ${command}`);
      }
    }
  });

  it('shows a command\'s own help with <command> --help or help <command>, and exits 0', async () => {
    const plan = await cli(['plan', '--help']);
    expect(plan.code).toBe(0);
    expect(plan.stdout).toMatch(/^Usage: sqp-refresh plan \[--hours N\] \[--json\]/);
    expect(plan.stdout).toContain('--hours N');
    const status = await cli(['help', 'status']);
    expect(status.code).toBe(0);
    expect(status.stdout).toMatch(/^Usage: sqp-refresh status/);
    const token = await cli(['token', 'create', '-h']);
    expect(token.code).toBe(0);
    expect(token.stdout).toMatch(/^Usage: sqp-refresh token create --scope read\|operate\|admin/);
  });

  it('--version prints the package version', async () => {
    const { version } = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as { version: string };
    const { code, stdout } = await cli(['--version']);
    expect({ code, stdout: stdout.trim() }).toEqual({ code: 0, stdout: version });
  });
});

describe('sqp-refresh usage mistakes exit 2 with a message and the usage on stderr', () => {
  it.each([
    { args: [], message: /^Usage: sqp-refresh <command>/ },
    { args: ['frob'], message: /^Unknown command: frob\n\nUsage: sqp-refresh <command>/ },
    { args: ['--frob'], message: /^Unknown option: --frob\n\nUsage: sqp-refresh <command>/ },
    { args: ['status', '--bogus'], message: /Unknown option '--bogus'[\s\S]*Usage: sqp-refresh status/ },
    { args: ['status', 'extra'], message: /^status: unexpected argument extra\n\nUsage: sqp-refresh status/ },
    { args: ['plan', '--hours', 'soon'], message: /^plan: --hours must be a whole number from 0 to 744\n\nUsage: sqp-refresh plan/ },
    { args: ['plan', '--hours', '745'], message: /^plan: --hours must be a whole number/ },
    { args: ['plan', '--hours'], message: /Option '--hours <value>' argument missing[\s\S]*Usage: sqp-refresh plan/ },
    { args: ['run'], message: /^run: expected <schema\.table>[\s\S]*Usage: sqp-refresh run/ },
    { args: ['migrate', 'now'], message: /^migrate: unexpected argument now/ },
    { args: ['token'], message: /^token: expected an action \(create\)\n\nUsage: sqp-refresh token create/ },
    { args: ['token', 'delete'], message: /^token: unknown action delete/ },
  ])('sqp-refresh $args', async ({ args, message }) => {
    const { code, stdout, stderr } = await cli(args);
    expect({ code, stdout }).toEqual({ code: 2, stdout: '' });
    expect(stderr).toMatch(message);
  });
});
