// Liveness (/health) and readiness (/ready) for an orchestrator, and for a person with curl:
// the readiness body names each check and why it failed. Neither ever shows a connection
// string or any other setting beyond the worker's name.
import { readFileSync } from 'node:fs';
import type { ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import { Cron } from 'croner';
import type pg from 'pg';
import { scrubSecrets } from '../logger.ts';
import { pendingMigrations } from '../migrate.ts';
import { createRuntime, type Runtime } from '../runtime.ts';
import type { Route } from './route.ts';

const VERSION = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

export interface ProbeOptions {
  pool: pg.Pool;
  /** The process's LISTEN connection; absent: not checked. */
  listener?: { listening(): boolean };
  workerName: string;
  /** The runner's cron pattern: a runner is stalled when it misses two ticks (plus slack). */
  schedule: string;
  /** How long SELECT 1 (and the migrations lookup) may take; default 2000 ms. */
  timeoutMs?: number;
  /** Grace on top of two tick intervals; default 30 s. */
  slackMs?: number;
  now?: () => Date;
  runtime?: Runtime;
  migrationsDir?: string;
}

export interface DatabaseCheck { ok: boolean; ms: number; error?: string }
export interface MigrationsCheck { ok: boolean; pending: string[] | null; error?: string }
export interface RunnerCheck {
  ok: boolean;
  /** absent: this process serves the graph only (still ready); refreshing: a pass is running refreshes. */
  state: 'absent' | 'not started' | 'ticking' | 'refreshing' | 'stalled';
  lastTickAt?: string | null;
  lastTickMs?: number | null;
  /** The latest time by which the next tick should have started. */
  tickDueBy?: string | null;
  ticks?: number;
  inFlight?: number;
}

export interface ListenerCheck { ok: boolean; error?: string }

export interface Readiness {
  status: 'ready' | 'not ready';
  checks: { database: DatabaseCheck; migrations: MigrationsCheck; runner: RunnerCheck; listener: ListenerCheck };
}

export interface Probes {
  health: Route;
  ready: Route;
  /** The readiness report itself (the /ready body). */
  readiness(): Promise<Readiness>;
}

/** Rejects with `message` when `promise` takes longer than `ms`; the late result is dropped. */
export function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), ms);
  });
  promise.catch(() => undefined); // a late failure after the timeout must not go unhandled
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** A one-line reason a person can act on, without secrets (pg errors can be AggregateErrors). */
export function describeError(error: unknown): string {
  const e = error as { message?: string; code?: string; errors?: unknown[] };
  const message = e?.message || (Array.isArray(e?.errors) ? e.errors.map(describeError).join('; ') : '') || e?.code || String(error);
  return scrubSecrets(message);
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
  res.end(`${JSON.stringify(body, null, 2)}\n`);
}

/** Creates the probe routes of one process. */
export function createProbes(options: ProbeOptions): Probes {
  const timeoutMs = options.timeoutMs ?? 2000;
  const slackMs = options.slackMs ?? 30_000;
  const now = options.now ?? (() => new Date());
  // None given: a process without a runner or bus (what a test of the routes alone builds).
  const runtime = options.runtime ?? createRuntime();
  const cron = new Cron(options.schedule, { paused: true });

  async function checkDatabase(): Promise<DatabaseCheck> {
    const started = performance.now();
    const ms = () => Math.round((performance.now() - started) * 10) / 10;
    try {
      await withTimeout(options.pool.query('SELECT 1'), timeoutMs, `the database did not answer SELECT 1 within ${timeoutMs} ms`);
      return { ok: true, ms: ms() };
    } catch (error) {
      return { ok: false, ms: ms(), error: `database unreachable: ${describeError(error)}` };
    }
  }

  async function checkMigrations(database: DatabaseCheck): Promise<MigrationsCheck> {
    if (!database.ok) return { ok: false, pending: null, error: 'not checked: the database is unreachable' };
    try {
      const pending = await withTimeout(pendingMigrations(options.pool, options.migrationsDir), timeoutMs, `no answer within ${timeoutMs} ms`);
      return pending.length
        ? { ok: false, pending, error: `${pending.length} migration(s) not applied: run \`sqp-refresh migrate\`` }
        : { ok: true, pending };
    } catch (error) {
      return { ok: false, pending: null, error: describeError(error) };
    }
  }

  function checkRunner(): RunnerCheck {
    const runner = runtime.runner;
    if (!runner) return { ok: true, state: 'absent' };
    const s = runner.status();
    const facts = {
      lastTickAt: s.lastTickAt?.toISOString() ?? null,
      lastTickMs: s.lastTickMs === null ? null : Math.round(s.lastTickMs),
      ticks: s.ticks,
      inFlight: s.inFlight.length,
    };
    if (!s.startedAt || !s.lastTickAt) return { ok: false, state: 'not started', tickDueBy: null, ...facts };
    // A pass that runs long refreshes keeps lastTickAt at its start; it is alive while it refreshes.
    if (s.inFlight.length) return { ok: true, state: 'refreshing', tickDueBy: null, ...facts };
    // Two missed ticks of the schedule after the latest one, plus slack.
    const [, second] = cron.nextRuns(2, s.lastTickAt);
    const dueBy = new Date((second ?? s.lastTickAt).getTime() + slackMs);
    const ok = now().getTime() <= dueBy.getTime();
    return { ok, state: ok ? 'ticking' : 'stalled', tickDueBy: dueBy.toISOString(), ...facts };
  }

  async function readiness(): Promise<Readiness> {
    const database = await checkDatabase();
    const migrations = await checkMigrations(database);
    const runner = checkRunner();
    // While the LISTEN connection is down, wake-ups, cancels and other replicas' events do not
    // arrive (the runner still ticks on its schedule); it reconnects by itself.
    const listener: ListenerCheck = !options.listener || options.listener.listening()
      ? { ok: true }
      : { ok: false, error: 'the LISTEN connection is down (reconnecting): wake-ups, cancels and other replicas\' events are not received' };
    const ready = database.ok && migrations.ok && runner.ok && listener.ok;
    return { status: ready ? 'ready' : 'not ready', checks: { database, migrations, runner, listener } };
  }

  return {
    readiness,
    health(_req, res) {
      sendJson(res, 200, { status: 'ok', uptimeSeconds: Math.round(process.uptime()), version: VERSION, workerName: options.workerName });
    },
    async ready(_req, res) {
      const report = await readiness();
      sendJson(res, report.status === 'ready' ? 200 : 503, report);
    },
  };
}
