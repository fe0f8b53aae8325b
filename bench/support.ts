// Shared pieces of `npm run bench`: the database every benchmark uses, the shape of a
// figure, the report (a markdown table plus one JSON line), and small helpers.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { startEmbeddedPostgres } from '../src/embedded-postgres.ts';
import { migrate } from '../src/migrate.ts';

export const BENCH_DIR = path.dirname(fileURLToPath(import.meta.url));
export const ROOT_DIR = path.resolve(BENCH_DIR, '..');

// ---------------------------------------------------------------------------------------
// Figures and benchmarks
// ---------------------------------------------------------------------------------------

/** One measured figure, with its target when it has one. */
export interface Figure {
  /** Stable id, the key in the JSON line (e.g. `a_full_refresh_s`). */
  id: string;
  /** What was measured, for the table. */
  label: string;
  /** The number (also in the JSON line); null when not measured (skipped). */
  value: number | null;
  unit: string;
  /** Human-readable value for the table; default `value unit`. */
  shown?: string;
  /** The target, as text; absent for a reference figure. */
  target?: string;
  /** Whether the target is met; undefined for a reference figure, null when not judged. */
  pass?: boolean | null;
  /** Anything else worth knowing about this figure. */
  note?: string;
}

export interface BenchContext {
  /** Migrated database of this run (created for it, dropped after). */
  databaseUrl: string;
  /** `embedded` or `url` (BENCH_DATABASE_URL / DATABASE_URL). */
  databaseKind: 'embedded' | 'url';
  /** Progress messages (stderr), prefixed with the benchmark's name. */
  log(message: string): void;
}

/** A benchmark: one file under bench/, registered in bench/index.ts. */
export interface Bench {
  name: string;
  description: string;
  run(ctx: BenchContext): Promise<Figure[]>;
}

// ---------------------------------------------------------------------------------------
// Database: a fresh database on a given server, or an embedded server of our own
// ---------------------------------------------------------------------------------------

export interface BenchDatabase {
  url: string;
  kind: 'embedded' | 'url';
  /** Drops the database (and stops the embedded server, removing its folder). */
  close(): Promise<void>;
}

// The same helpers the test harness uses.
import { databaseUrl as withDatabase, freePort } from '../test/support/global-setup.ts';

/**
 * BENCH_DATABASE_URL or DATABASE_URL: a new database `sqp_refresh_bench_<rand>` on that
 * server, dropped at the end. Neither: an embedded PostgreSQL in a temporary folder, stopped
 * and removed at the end. Either way the migrations are applied with `migrate()`.
 */
export async function openBenchDatabase(log: (m: string) => void): Promise<BenchDatabase> {
  const given = process.env.BENCH_DATABASE_URL || process.env.DATABASE_URL;
  let serverUrl: string;
  let stopEmbedded: (() => Promise<void>) | undefined;
  let kind: BenchDatabase['kind'];
  if (given) {
    serverUrl = given;
    kind = 'url';
    log(`database server: ${new URL(given).host} (from ${process.env.BENCH_DATABASE_URL ? 'BENCH_DATABASE_URL' : 'DATABASE_URL'})`);
  } else {
    const dir = path.join(os.tmpdir(), `sqp-refresh-bench-${process.pid}-${randomBytes(3).toString('hex')}`);
    const port = await freePort();
    log(`starting embedded PostgreSQL in ${dir} on port ${port}`);
    const embedded = await startEmbeddedPostgres({ dir, port, persistent: false });
    serverUrl = embedded.url;
    kind = 'embedded';
    stopEmbedded = async () => {
      await embedded.stop().catch(() => undefined);
      await rm(dir, { recursive: true, force: true });
    };
  }
  const name = `sqp_refresh_bench_${randomBytes(4).toString('hex')}`;
  const admin = async (sql: string) => {
    const client = new pg.Client({ connectionString: serverUrl });
    await client.connect();
    try {
      await client.query(sql);
    } finally {
      await client.end();
    }
  };
  try {
    await admin(`CREATE DATABASE ${name}`);
    const url = withDatabase(serverUrl, name);
    const result = await migrate(url);
    log(`database ${name}: ${result.applied.length} migrations applied`);
    // A superuser's postgres sources run as the source role (src/runner/sources/postgres/source-role.ts):
    // the benchmarks' sources read generate_series only, so the role need only exist.
    await admin(`DO $$ BEGIN CREATE ROLE sqp_refresh_source NOLOGIN; EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$`);
    return {
      url,
      kind,
      async close() {
        await admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).catch((e: unknown) => log(`could not drop ${name}: ${String(e)}`));
        await stopEmbedded?.();
      },
    };
  } catch (error) {
    await admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).catch(() => undefined);
    await stopEmbedded?.();
    throw error;
  }
}

// ---------------------------------------------------------------------------------------
// Child processes
// ---------------------------------------------------------------------------------------

/** A positive count from the environment (underscores allowed: 1_000_000), or the fallback. */
export function envCount(name: string, fallback: number): number {
  const raw = process.env[name];
  if (!raw) return fallback;
  const n = Number(raw.replaceAll('_', ''));
  if (!Number.isSafeInteger(n) || n < 1) throw new Error(`${name} must be a positive integer, got ${raw}`);
  return n;
}

export const RESULT_MARKER = 'BENCH_RESULT ';

/**
 * Runs `node --import tsx <script> <json arg>` and resolves with the object the child printed
 * on a line starting with RESULT_MARKER. The child's stderr goes to ours. BENCH_CPU_PROF_DIR
 * adds `--cpu-prof --cpu-prof-dir=<dir>` (a .cpuprofile per child, for Chrome DevTools).
 */
export function runChild<T>(script: string, arg: unknown, extraNodeArgs: string[] = []): Promise<T> {
  const profDir = process.env.BENCH_CPU_PROF_DIR;
  const nodeArgs = [
    ...(profDir ? ['--cpu-prof', `--cpu-prof-dir=${path.resolve(profDir)}`] : []),
    ...extraNodeArgs,
    '--import',
    'tsx',
    path.join(BENCH_DIR, script),
    JSON.stringify(arg),
  ];
  return new Promise<T>((resolve, reject) => {
    const child = spawn(process.execPath, nodeArgs, { cwd: ROOT_DIR, stdio: ['ignore', 'pipe', 'inherit'], env: process.env });
    let out = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => (out += chunk));
    child.once('error', reject);
    child.once('close', (code, signal) => {
      const line = out.split('\n').find((l) => l.startsWith(RESULT_MARKER));
      if (!line) {
        reject(new Error(`${script} exited (${signal ?? code}) without a result; its output: ${out.slice(-2000)}`));
        return;
      }
      try {
        resolve(JSON.parse(line.slice(RESULT_MARKER.length)) as T);
      } catch (error) {
        reject(error);
      }
    });
  });
}

// ---------------------------------------------------------------------------------------
// Memory
// ---------------------------------------------------------------------------------------

/** The kernel's high-water mark of this process's RSS (VmHWM), in bytes; null off Linux. */
export function kernelPeakRss(): number | null {
  try {
    const m = /^VmHWM:\s+(\d+)\s+kB/m.exec(readFileSync('/proc/self/status', 'utf8'));
    return m ? Number(m[1]) * 1024 : null;
  } catch {
    return null;
  }
}

/** CPU time of the whole machine (all cores, every process), from /proc/stat. */
export interface MachineCpu {
  busyMs: number;
  iowaitMs: number;
}

/** The machine's CPU counters so far (jiffies of 10 ms, Linux's USER_HZ); null off Linux. */
export function machineCpu(): MachineCpu | null {
  try {
    const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
    const [user = 0, nice = 0, system = 0, , iowait = 0, irq = 0, softirq = 0, steal = 0] = fields;
    return { busyMs: (user + nice + system + irq + softirq + steal) * 10, iowaitMs: iowait * 10 };
  } catch {
    return null;
  }
}

/** What the machine's CPU did between two readings; null when either is missing. */
export function machineCpuSince(before: MachineCpu | null, after: MachineCpu | null): MachineCpu | null {
  return before && after ? { busyMs: after.busyMs - before.busyMs, iowaitMs: after.iowaitMs - before.iowaitMs } : null;
}

/**
 * CPU time so far of the PostgreSQL processes serving database `name` (its backends and
 * autovacuum workers: their process title names the database), by pid, in ms. Linux only
 * (empty elsewhere); the server must run on this machine for it to see anything.
 */
export function databaseProcessesCpu(name: string): Map<number, number> {
  const cpu = new Map<number, number>();
  let pids: string[] = [];
  try {
    pids = readdirSync('/proc').filter((p) => /^\d+$/.test(p));
  } catch {
    return cpu;
  }
  for (const pid of pids) {
    try {
      const title = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
      if (!title.startsWith('postgres:') || !title.includes(` ${name} `)) continue;
      cpu.set(Number(pid), statCpuMs(readFileSync(`/proc/${pid}/stat`, 'utf8')));
    } catch {
      // gone meanwhile, or not ours to read
    }
  }
  return cpu;
}

/** utime + stime of a /proc …/stat line, ms: the fields after the command's "(…)" (state is the 1st), utime and stime the 12th and 13th of them. */
function statCpuMs(stat: string): number {
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/**
 * CPU time so far of this process's threads whose name starts with `prefix` (Linux names a
 * thread in /proc/self/task/<tid>/comm: V8's platform workers, which run its concurrent GC and
 * compilers, are "V8Worker"; libuv's pool "libuv-worker"), ms; null off Linux.
 */
export function threadsCpuMs(prefix: string): number | null {
  try {
    let ms = 0;
    for (const tid of readdirSync('/proc/self/task')) {
      const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
      if (stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')).startsWith(prefix)) ms += statCpuMs(stat);
    }
    return ms;
  } catch {
    return null;
  }
}

/** CPU used between two databaseProcessesCpu readings, by the processes alive at the second (ms). */
export function processesCpuSince(before: Map<number, number>, after: Map<number, number>): number {
  let ms = 0;
  for (const [pid, now] of after) ms += now - (before.get(pid) ?? 0);
  return ms;
}

// ---------------------------------------------------------------------------------------
// Formatting and the report
// ---------------------------------------------------------------------------------------

export const MB = 1024 * 1024;

export function fmtInt(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

export function fmtSeconds(ms: number): string {
  return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;
}

export function fmtMb(bytes: number): string {
  return `${(bytes / MB).toFixed(1)} MB`;
}

function verdict(f: Figure): string {
  if (f.pass === undefined) return 'reference';
  if (f.pass === null) return 'not measured';
  return f.pass ? '**PASS**' : '**FAIL**';
}

const cell = (s: string) => s.replaceAll('|', '\\|').replaceAll('\n', ' ');

/** The figures as a markdown table. */
export function markdownTable(figures: Figure[]): string {
  const lines = ['| Figure | Value | Target | Result |', '|---|---|---|---|'];
  for (const f of figures) {
    const value = f.shown ?? (f.value === null ? '—' : `${f.value} ${f.unit}`);
    lines.push(`| ${cell(f.label)} | ${cell(value)} | ${cell(f.target ?? '—')} | ${verdict(f)}${f.note ? ` — ${cell(f.note)}` : ''} |`);
  }
  return lines.join('\n');
}

/** The figures as one JSON object (one line): id → value, plus pass/fail of each target. */
export function jsonLine(figures: Figure[], extra: Record<string, unknown>): string {
  const values: Record<string, number | null> = {};
  const passes: Record<string, boolean | null> = {};
  for (const f of figures) {
    values[f.id] = f.value;
    if (f.pass !== undefined) passes[f.id] = f.pass;
  }
  return JSON.stringify({ ...extra, figures: values, pass: passes });
}
