// scripts/function-length.ts (`npm run lint:functions`) run as CI would run it, as its own
// process, on a fixture folder with a 3-line limit: what it reports, how it names functions,
// and its exit code.
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
// A type-only import, erased at run time; it also puts the script in `tsc -p tsconfig.json`'s
// program, which does not include scripts/.
import type { FunctionLengthReport } from '../scripts/function-length.ts';

const projectRoot = path.resolve(import.meta.dirname, '..');

// Line numbers matter: each function's length is given beside it.
const FIXTURE: Record<string, string> = {
  'long.ts': `export function long(): number {
  let total = 0;
  total += 1;
  total += 2;
  return total;
}

// Exactly at the limit: not over it.
export function atLimit(): number {
  return 3;
}
`,
  // outer is 9 lines (inner's 5 count toward it too); each is reported once.
  'nested/outer.ts': `export function outer(): () => number {
  let n = 0;
  function inner(): number {
    n += 1;
    n += 2;
    return n;
  }
  return inner;
}
`,
  'arrow.ts': `export const sum = (values: number[]): number => {
  let total = 0;
  for (const v of values) total += v;
  return total;
};
export const one = (): number => 1;
`,
  'runner.ts': `export class Counter {
  private n = 0;
  constructor() {}
  count(): number {
    this.n += 1;
    this.n += 1;
    return this.n;
  }
}

export function createRunner(): { tick(): void } {
  let ticks = 0;
  return {
    tick() {
      ticks += 1;
      setTimeout(() => {
        ticks -= 1;
        ticks += 1;
        ticks -= 1;
      });
    },
  };
}
`,
  // Generated code is nobody's to shorten.
  'generated/client.ts': `export function generated(): number {
  let n = 0;
  n += 1;
  n += 1;
  return n;
}
`,
};

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function runScript(args: string[]): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/function-length.ts', ...args], { cwd: projectRoot });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('error', reject);
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('the function-length check', () => {
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'function-length-'));
    for (const [file, text] of Object.entries(FIXTURE)) {
      await mkdir(path.dirname(path.join(dir, file)), { recursive: true });
      await writeFile(path.join(dir, file), text);
    }
  });

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('reports every function over the limit, longest first, and exits 1', async () => {
    const run = await runScript(['--root', dir, '--max', '3']);
    const at = (file: string, line: number): string => `${path.join(dir, file)}:${line}`;
    expect(run.stdout).toBe(
      [
        `${at('runner.ts', 11)}  createRunner  13 lines`,
        `${at('nested/outer.ts', 1)}  outer  9 lines`,
        `${at('runner.ts', 14)}  createRunner › tick  8 lines`,
        `${at('long.ts', 1)}  long  6 lines`,
        // ties: by path, then line
        `${at('arrow.ts', 1)}  sum  5 lines`,
        `${at('nested/outer.ts', 3)}  outer › inner  5 lines`,
        `${at('runner.ts', 4)}  Counter.count  5 lines`,
        `${at('runner.ts', 16)}  createRunner › tick › <arrow passed to setTimeout>  5 lines`,
        `8 functions over 3 lines (11 functions in 4 files under ${dir})`,
        '',
      ].join('\n'),
    );
    expect(run.stderr).toBe('');
    expect(run.code).toBe(1);
  });

  it('exits 0 and names the longest when none is over the limit', async () => {
    const run = await runScript(['--root', dir, '--max', '13']);
    expect(run.stdout).toBe(`No function over 13 lines (11 functions in 4 files under ${dir}; longest: createRunner, 13 lines, ${path.join(dir, 'runner.ts')}:11)\n`);
    expect(run.code).toBe(0);
  });

  it('gives the same report as JSON with --json', async () => {
    const run = await runScript(['--root', dir, '--max', '6', '--json']);
    const report = JSON.parse(run.stdout) as FunctionLengthReport;
    expect(report).toEqual({
      root: dir,
      max: 6,
      files: 4,
      functions: 11,
      over: [
        { file: path.join(dir, 'runner.ts'), line: 11, name: 'createRunner', lines: 13 },
        { file: path.join(dir, 'nested/outer.ts'), line: 1, name: 'outer', lines: 9 },
        { file: path.join(dir, 'runner.ts'), line: 14, name: 'createRunner › tick', lines: 8 },
      ],
    });
    expect(run.code).toBe(1);
  });

  it('refuses a limit that is not a positive whole number', async () => {
    const run = await runScript(['--root', dir, '--max', 'ten']);
    expect(run.stderr).toContain('--max must be a positive whole number');
    expect(run.code).toBe(2);
  });
});
