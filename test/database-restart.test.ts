// A restart of PostgreSQL under a running runner. Seen: after `pg_ctl stop -m immediate` and a
// start, every `57P03 the database system is starting up` made the runner pass again at once —
// 134 passes and warnings in ~3.5 s. Here a server of this file's own is stopped that way and
// started again held in its 57P03 state (as a standby with hot standby off, which answers 57P03
// until it is promoted: the window is as long as the test wants, not as long as the crash
// recovery of a tiny database happens to take) while the runner is woken every 10 ms; then it is
// promoted and lets clients in.
// Passes during the outage follow the backoff (a few, not hundreds), each attempt says so in one
// warning, one line says the database is back, a table that became due meanwhile is refreshed
// at once (the cron never fires), and a runner stopped in its backoff stops at once.
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { chown, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { Writable } from 'node:stream';
import { pathToFileURL } from 'node:url';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { updateRefreshConfig } from '../src/commands/config.ts';
import { openDatabase, type Database } from '../src/db.ts';
import { startEmbeddedPostgres, type EmbeddedDatabase } from '../src/embedded-postgres.ts';
import { createLogger } from '../src/logger.ts';
import { migrate } from '../src/migrate.ts';
import type { Runner } from '../src/runner/scheduler/runner.ts';
import { selectConfig } from '../src/runner/scheduler/sql.ts';
import type { RefreshEvent } from '../src/subscriptions/events.ts';
import { createDatabaseListener, type DatabaseListener } from '../src/subscriptions/listener.ts';
import { freePort } from './support/global-setup.ts';
import { buildTestRunner } from './support/refresh.ts';

/** How long the test holds the server in its 57P03 state (a bounded wait for the outage itself). */
const REFUSING_MS = 3_000;
const DAY = 24 * 3_600_000;

/** Items pushed over time, and a promise for the first one (from `from` on) that passes `ok`. */
function recorder<T>() {
  const items: T[] = [];
  const waiters = new Set<() => void>();
  return {
    items,
    push(item: T) {
      items.push(item);
      for (const w of [...waiters]) w();
    },
    when(ok: (item: T) => boolean, what: string, from = 0, timeoutMs = 60_000): Promise<T> {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => (waiters.delete(check), reject(new Error(`timed out waiting for ${what}`))), timeoutMs);
        const check = () => {
          const hit = items.slice(from).find(ok);
          if (hit === undefined) return;
          waiters.delete(check);
          clearTimeout(timer);
          resolve(hit);
        };
        waiters.add(check);
        check();
      });
    },
  };
}

interface LogLine { level: number; msg: string; [key: string]: unknown }

/** A logger whose JSON lines the test reads as they are written. */
function recordingLogger() {
  const lines = recorder<LogLine>();
  let buffer = '';
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      buffer += chunk.toString();
      for (let end; (end = buffer.indexOf('\n')) >= 0; buffer = buffer.slice(end + 1)) lines.push(JSON.parse(buffer.slice(0, end)) as LogLine);
      done();
    },
  });
  return { logger: createLogger({ level: 'info', pretty: false }, destination), lines };
}

const WARN = 40;
const backoffLine = (l: LogLine) => l.level === WARN && /^(database unavailable|transient database error) \(/.test(l.msg);

/** The OS user the embedded server runs as when we are root (embedded-postgres' createPostgresUser), else none. */
function postgresUser(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  return { uid: Number(execFileSync('id', ['-u', 'postgres']).toString()), gid: Number(execFileSync('id', ['-g', 'postgres']).toString()) };
}

/**
 * The server's own pg_ctl, from embedded-postgres' binaries package (its dependency, not ours:
 * resolved from its folder, as src/embedded-postgres.ts finds `postgres`), run as the OS user
 * the server runs as.
 */
async function pgCtl(args: string[]): Promise<void> {
  const library = createRequire(createRequire(import.meta.url).resolve('embedded-postgres'));
  const entry = library.resolve(`@embedded-postgres/${process.platform}-${process.arch}`);
  const { pg_ctl } = (await import(pathToFileURL(entry).href)) as { pg_ctl: string };
  await new Promise<void>((resolve, reject) => {
    const child = spawn(pg_ctl, args, { ...postgresUser(), stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
    child.once('error', reject);
    child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`pg_ctl ${args.join(' ')} exited ${code}: ${stderr}`))));
  });
}

const dir = path.join(os.tmpdir(), `sqp-refresh-restart-${process.pid}-${randomBytes(3).toString('hex')}`);
let server: EmbeddedDatabase | undefined;
const cleanups: Array<() => Promise<unknown>> = [];

afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
  if (server) await server.stop();
  else await pgCtl(['stop', '-D', dir, '-m', 'immediate']).catch(() => undefined); // a test that failed mid-outage
  await rm(dir, { recursive: true, force: true });
});

describe.skipIf(process.platform === 'win32')('a PostgreSQL restart under a running runner', () => {
  it('is met with backoff (a few passes, one warning per attempt), and a due table is refreshed as soon as it is back', async () => {
    const port = await freePort();
    server = await startEmbeddedPostgres({ dir, port, persistent: false });
    const url = server.url;
    await migrate(url);
    const database: Database = openDatabase(url, { max: 4 }); // its lost connections leave the pool quietly
    cleanups.push(() => database.close());
    const { pool } = database;
    await pool.query(`UPDATE sqp.refresh_config SET is_enabled = false`); // the seed's tables stay out, but for
    // one: yearly_summary, built by its sql transform from a few parent rows (a source inside the database).
    await pool.query(`
      INSERT INTO sqp.asin_performance_data (asin, search_query, start_date, end_date, search_query_volume,
        impressions_total_count, impressions_asin_count, clicks_total_count, clicks_asin_count,
        cart_adds_total_count, cart_adds_asin_count, purchases_total_count, purchases_asin_count,
        impressions_asin_share, clicks_asin_share, purchases_asin_share)
      SELECT 'B000000001', 'query ' || q, d, d + 6, 1000, 10000, 500, 800, 40, 200, 10, 100, 5, 5.0, 4.5, 3.25
      FROM generate_series(1, 2) q, (VALUES (date '2026-01-04'), (date '2026-01-11')) w(d)`);
    const config = (await selectConfig(pool, 'sqp', 'yearly_summary'))!;
    await updateRefreshConfig(pool, config.id, { isEnabled: true, refreshFrequencyHours: 24, customSyncParams: { source: { type: 'sql', transform: 'yearly_summary' } } });

    // The runner as the service composes it: its pool, one listener, a cron that never fires.
    // Its clock runs with the real one, a day ahead (the seed made the table due in an hour), and
    // moves two more days on during the outage (the table becomes due again).
    let clockOffset = DAY + 3_600_000;
    const now = () => new Date(Date.now() + clockOffset);
    const { logger, lines } = recordingLogger();
    const events = recorder<RefreshEvent>();
    const listener: DatabaseListener = createDatabaseListener({ url, logger });
    const listenErrors = recorder<number>();
    listener.events.on('listen:error', () => listenErrors.push(performance.now()));
    await listener.start();
    cleanups.push(() => listener.stop());
    const runner: Runner = buildTestRunner(pool, url, { logger, listener, now, workerName: 'restart', emit: (e) => events.push(e) });
    cleanups.push(() => runner.stop());
    await runner.start();
    const finished = (from: number) =>
      events.when((e) => e.type === 'run:finished' && e.configId === config.id, 'a refresh of sqp.yearly_summary', from);
    expect(await finished(0)).toMatchObject({ status: 'success' });

    // Next start: a standby that does not let clients in (57P03) until it is promoted.
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    await admin.query(`ALTER SYSTEM SET hot_standby = off`);
    await admin.end();

    // The outage: an immediate stop, a start held at 57P03, the runner woken every 10 ms.
    const before = { ticks: runner.status().ticks, lines: lines.items.length, events: events.items.length, listenErrors: listenErrors.items.length };
    const down = performance.now();
    await pgCtl(['stop', '-D', dir, '-m', 'immediate', '-w']);
    server = undefined; // its process is gone; the restarted one is stopped (and its folder removed) at the end
    clockOffset += 2 * DAY;
    const storm = setInterval(() => runner.wake(), 10);
    let back: number;
    try {
      await writeFile(path.join(dir, 'standby.signal'), '');
      const owner = postgresUser();
      if (owner) await chown(path.join(dir, 'standby.signal'), owner.uid, owner.gid);
      const restarted = startEmbeddedPostgres({ dir, port, persistent: false });
      restarted.catch(() => undefined); // awaited below, where a failure shows
      await lines.when((l) => JSON.stringify(l).includes('57P03'), 'the runner meeting 57P03', before.lines, 30_000);
      await sleep(REFUSING_MS);
      const outageMs = performance.now() - down;
      const passes = runner.status().ticks - before.ticks;
      const outageLines = lines.items.slice(before.lines);
      const warnings = outageLines.filter(backoffLine);
      const listenAttempts = listenErrors.items.length - before.listenErrors;
      const figures = `${passes} passes, ${warnings.length} backoff warnings, ${outageLines.length} log lines, ${listenAttempts} failed LISTEN attempts in ${(outageMs / 1000).toFixed(1)} s of outage (${(passes / (outageMs / 1000)).toFixed(1)} passes/s)`;
      if (process.env.TEST_FIGURES) console.info(figures);
      expect(passes, figures).toBeLessThanOrEqual(10);
      expect(passes / (outageMs / 1000), figures).toBeLessThanOrEqual(3);
      // One warning per failed pass (a pass in flight at either end may be counted on one side
      // only), and no line per failed statement (catalog scan, heartbeat).
      expect(Math.abs(warnings.length - passes), figures).toBeLessThanOrEqual(1);
      expect(outageLines.filter((l) => l.level >= WARN && !backoffLine(l) && !/^LISTEN connection lost/.test(l.msg)).map((l) => l.msg)).toEqual([]);
      expect(warnings.find((l) => /57P03/.test(l.msg))?.msg).toMatch(/^database unavailable \(57P03 .+\): runner passes again in [\d.]+ s$/);
      expect(listenAttempts, figures).toBeLessThanOrEqual(10);

      // A runner started during the outage and stopped in its backoff stops at once, for good.
      const second = recordingLogger();
      const stopped = buildTestRunner(pool, url, { logger: second.logger, now, workerName: 'restart-2' }); // no listener
      await stopped.start();
      await second.lines.when(backoffLine, 'the second runner backing off', 0, 30_000);
      const stopping = performance.now();
      await stopped.stop();
      expect(performance.now() - stopping, 'stop() of a runner in its backoff (ms)').toBeLessThan(1_000);
      const ticksAtStop = stopped.status().ticks;

      // Back: promoted, clients let in.
      await pgCtl(['promote', '-D', dir, '-w']);
      back = performance.now();
      server = await restarted;
      expect(stopped.status().ticks, 'passes after stop()').toBe(ticksAtStop);
    } finally {
      clearInterval(storm);
    }
    const backLine = await lines.when((l) => l.level === 30 && /^database is back/.test(l.msg), 'the database-is-back line', before.lines, 60_000);
    expect(backLine).toMatchObject({ failedPasses: expect.any(Number) });
    // The table that became due meanwhile is refreshed without a cron tick (this one never fires).
    expect(await finished(before.events)).toMatchObject({ status: 'success' });
    const refreshedInMs = performance.now() - back;
    if (process.env.TEST_FIGURES) console.info(`refreshed ${(refreshedInMs / 1000).toFixed(1)} s after the promote`);
    expect(refreshedInMs).toBeLessThan(31_000);
    expect(lines.items.filter((l) => /^database is back/.test(l.msg))).toHaveLength(1);
  });
});
