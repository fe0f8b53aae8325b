// Backfills on the demo data: a window of asin_performance_data re-loaded in weekly chunks,
// oldest first, then its summaries for exactly the periods the window touches — driven by the
// real runner, started, paused and resumed through the commands the graph and the CLI call.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { changeBackfill, startBackfill, type BackfillRequest } from '../src/commands/backfill.ts';
import { ensureDemoSource } from '../src/runner/demo/demo-source.ts';
import { applyDemoSyncParams } from '../src/runner/demo/demo-params.ts';
import { readBackfill, readBackfillChunks } from '../src/runner/state/backfills.ts';
import { createSources } from '../src/runner/sources/registry.ts';
import type { RefreshEvent } from '../src/subscriptions/events.ts';
import { createTestDatabase, openTestPool } from './support/db.ts';
import { buildTestRunner, tableChecksum } from './support/refresh.ts';

const database = await createTestDatabase();
const pool = openTestPool(database.url, 8);
const sources = createSources({ targetUrl: database.url });
const ctx = { pool, sources, dailyByteBudget: null, requestedBy: 'test' };
const COLS = ['asin', 'search_query', 'start_date', 'end_date', 'impressions_asin_count', 'clicks_asin_count', 'purchases_asin_count', 'search_query_volume'];
// 26 report weeks (Sunday to Saturday) in the middle of the demo's 40.
const WINDOW = { from: '2026-03-01', to: '2026-08-29' };
const inWindow = `start_date BETWEEN '${WINDOW.from}' AND '${WINDOW.to}'`;
const SUMMARIES = ['weekly_summary', 'monthly_summary', 'quarterly_summary', 'yearly_summary'] as const;
const request = (over: Partial<BackfillRequest> = {}): BackfillRequest => ({ tableSchema: 'sqp', tableName: 'asin_performance_data', ...WINDOW, cascade: true, chunk: 'week', dryRun: false, ...over });

/** Each summary row's transaction id: a row no publish wrote since keeps it. */
async function summaryVersions(): Promise<Map<string, string>> {
  const versions = new Map<string, string>();
  for (const t of SUMMARIES) {
    const { rows } = await pool.query<{ k: string; x: string }>(`SELECT asin || ' ' || period_start AS k, xmin::text AS x FROM sqp.${t}`);
    for (const r of rows) versions.set(`${t} ${r.k}`, r.x);
  }
  return versions;
}

/** Restates the source as Amazon does: changed counts stamped with their old time, a row withdrawn, inside and outside the window. */
async function restate(where: string, add: number): Promise<void> {
  await pool.query(`UPDATE sqp_demo.asin_performance_data SET impressions_asin_count = impressions_asin_count + ${add}, clicks_asin_count = clicks_asin_count + 1 WHERE ${where}`);
  await pool.query(`DELETE FROM sqp_demo.asin_performance_data WHERE (asin, search_query, start_date) IN (SELECT asin, search_query, start_date FROM sqp_demo.asin_performance_data WHERE ${where} ORDER BY 1, 2, 3 LIMIT 2)`);
}

/** The weekly summary as the parent says it should be, for the given weeks. */
const expectedWeekly = (where: string) =>
  `(SELECT asin, start_date AS period_start, count(DISTINCT search_query)::int AS query_count, sum(impressions_asin_count) AS impressions_asin_count, sum(clicks_asin_count) AS clicks_asin_count
    FROM sqp.asin_performance_data WHERE ${where} GROUP BY 1, 2) e`;
const WEEKLY_COLS = ['asin', 'period_start', 'query_count', 'impressions_asin_count', 'clicks_asin_count'];

beforeAll(async () => {
  await ensureDemoSource(pool, { weeks: 40, asins: 6, queries: 10, now: new Date('2026-11-01T00:00:00Z') });
  await applyDemoSyncParams(pool);
  await buildTestRunner(pool, database.url).tick(); // every table, from the demo source
}, 120_000);

afterAll(async () => {
  await pool.end();
  await database.drop();
});

describe('backfill', () => {
  it('re-loads 26 weeks oldest first, then the summaries of the touched periods only', async () => {
    await restate(inWindow, 5);
    await restate(`start_date < '${WINDOW.from}'`, 9);
    const outsideBefore = await tableChecksum(pool, `(SELECT * FROM sqp.asin_performance_data WHERE NOT (${inWindow})) t`, COLS);
    const versionsBefore = await summaryVersions();

    const dry = await startBackfill(ctx, request({ dryRun: true }));
    expect(dry.backfill).toBeNull();
    expect(dry.plan.chunks.filter((c) => c.tableName === 'asin_performance_data')).toHaveLength(26);
    // The seed's hard dependents of asin_performance_data, once each, after its chunks.
    expect(dry.plan.chunks.slice(26).map((c) => c.tableName).sort()).toEqual(['monthly_summary', 'search_performance_summary', 'weekly_summary']);
    expect(dry.plan.chunks.slice(26).every((c) => c.from === WINDOW.from && c.to === '2026-08-30')).toBe(true);
    expect(await pool.query(`SELECT 1 FROM sqp_refresh_work.backfills`)).toMatchObject({ rowCount: 0 }); // a dry run writes nothing

    const { backfill } = await startBackfill(ctx, request());
    const started: RefreshEvent[] = [];
    await buildTestRunner(pool, database.url, { emit: (e) => e.type === 'run:started' && started.push(e) }).tick();

    const done = (await readBackfill(pool, backfill!.id))!;
    expect(done).toMatchObject({ status: 'completed', chunksDone: 29, chunksTotal: 29, chunksFailed: 0 });
    // Oldest first: the runs' ranges in the order they started.
    const { rows: runs } = await pool.query<{ chunk: number; from: string; table: string }>(
      `SELECT (sync_metadata->'backfill'->>'chunk')::int AS chunk, sync_metadata->'backfill'->>'from' AS from, table_name AS table
       FROM sqp.refresh_audit_log WHERE (sync_metadata->'backfill'->>'id')::int = $1 ORDER BY id`, [backfill!.id]);
    expect(runs.map((r) => r.chunk)).toEqual(Array.from({ length: 29 }, (_, i) => i + 1));
    expect(runs.slice(0, 26).map((r) => r.from)).toEqual([...runs.slice(0, 26).map((r) => r.from)].sort());
    expect(started).toHaveLength(29);

    // The window equals the source (restated counts in, withdrawn rows gone); outside it nothing moved.
    expect(await tableChecksum(pool, `(SELECT * FROM sqp.asin_performance_data WHERE ${inWindow}) t`, COLS))
      .toEqual(await tableChecksum(pool, `(SELECT * FROM sqp_demo.asin_performance_data WHERE ${inWindow}) t`, COLS));
    expect(await tableChecksum(pool, `(SELECT * FROM sqp.asin_performance_data WHERE NOT (${inWindow})) t`, COLS)).toEqual(outsideBefore);

    // The touched weeks are recomputed from the parent; every other period's rows were not written.
    expect(await tableChecksum(pool, `(SELECT * FROM sqp.weekly_summary WHERE period_start BETWEEN '${WINDOW.from}' AND '${WINDOW.to}') t`, WEEKLY_COLS))
      .toEqual(await tableChecksum(pool, expectedWeekly(inWindow), WEEKLY_COLS));
    const versionsAfter = await summaryVersions();
    const rewritten = [...versionsBefore].filter(([k, x]) => versionsAfter.get(k) !== x).map(([k]) => k);
    const periodOf = (k: string) => k.split(' ')[2]!;
    const touched = (k: string) => {
      const [table, , start] = k.split(' ');
      if (table === 'weekly_summary') return start! >= WINDOW.from && start! <= WINDOW.to;
      if (table === 'monthly_summary') return start! >= '2026-03-01' && start! <= '2026-08-01';
      return false; // quarterly and yearly are no dependents of asin_performance_data in the seed: not recomputed
    };
    expect(rewritten.length).toBeGreaterThan(0);
    expect(rewritten.filter((k) => !touched(k)).map(periodOf)).toEqual([]);
  }, 180_000);

  it('a pause and a resume in the middle change nothing in the result', async () => {
    await restate(inWindow, 3);
    const { backfill } = await startBackfill(ctx, request({ cascade: false }));
    let finished = 0;
    let paused: Promise<unknown> | null = null;
    // Paused after its third chunk, from inside the run's own events: the pass ends with the backfill paused.
    const runner = buildTestRunner(pool, database.url, {
      emit: (e) => {
        if (e.type === 'run:finished' && ++finished === 3) paused = changeBackfill(ctx, backfill!.id, 'pause');
      },
    });
    await runner.tick();
    await paused;
    const middle = (await readBackfill(pool, backfill!.id))!;
    expect(middle.status).toBe('paused');
    expect(middle.chunksDone).toBeGreaterThanOrEqual(3);
    expect(middle.chunksDone).toBeLessThan(26);
    await runner.tick(); // paused: no chunk runs
    expect((await readBackfill(pool, backfill!.id))!.chunksDone).toBe(middle.chunksDone);

    expect((await changeBackfill(ctx, backfill!.id, 'resume')).status).toBe('running');
    await runner.tick();
    expect(await readBackfill(pool, backfill!.id)).toMatchObject({ status: 'completed', chunksDone: 26 });
    expect(await tableChecksum(pool, `(SELECT * FROM sqp.asin_performance_data WHERE ${inWindow}) t`, COLS))
      .toEqual(await tableChecksum(pool, `(SELECT * FROM sqp_demo.asin_performance_data WHERE ${inWindow}) t`, COLS));
    const chunks = await readBackfillChunks(pool, [backfill!.id]);
    expect(chunks.every((c) => c.state === 'done' && c.runId !== null)).toBe(true);
  }, 180_000);

  it('a replica killed mid-backfill changes nothing in the result', async () => {
    await restate(inWindow, 11);
    // `sqp-refresh backfill` runs the chunks in its own process: killed after its third chunk.
    // (BIGQUERY_PROJECT_ID only keeps it from preparing the demo source this test made itself.)
    const cli = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'backfill', 'sqp.asin_performance_data', '--from', WINDOW.from, '--to', WINDOW.to, '--no-cascade'], {
      cwd: path.resolve(import.meta.dirname, '..'),
      env: { ...process.env, DATABASE_URL: database.url, LOG_LEVEL: 'silent', BIGQUERY_PROJECT_ID: 'sqp-test', BIGQUERY_API_ENDPOINT: 'http://127.0.0.1:9' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    await new Promise<void>((resolve, reject) => {
      cli.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        if ((out.match(/: completed,/g) ?? []).length >= 3) resolve();
      });
      cli.stderr!.on('data', (d: Buffer) => (out += d.toString()));
      cli.on('exit', () => reject(new Error(`the CLI ended first:\n${out}`)));
    });
    cli.kill('SIGKILL');
    await once(cli, 'exit');
    const id = Number(/backfill (\d+) started/.exec(out)![1]);
    const middle = (await readBackfill(pool, id))!;
    expect(middle.status).toBe('running');
    expect(middle.chunksDone).toBeGreaterThanOrEqual(3);
    expect(middle.chunksDone).toBeLessThan(26);

    // Another replica's pass takes it over (a chunk the dead process left running resumes).
    await buildTestRunner(pool, database.url).tick();
    expect(await readBackfill(pool, id)).toMatchObject({ status: 'completed', chunksDone: 26 });
    expect(await tableChecksum(pool, `(SELECT * FROM sqp.asin_performance_data WHERE ${inWindow}) t`, COLS))
      .toEqual(await tableChecksum(pool, `(SELECT * FROM sqp_demo.asin_performance_data WHERE ${inWindow}) t`, COLS));
    // Each chunk published once: one completed run per chunk.
    const { rows } = await pool.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM sqp.refresh_audit_log WHERE (sync_metadata->'backfill'->>'id')::int = $1 AND status IN ('success', 'warning') AND sync_metadata->>'outcome' = 'completed'`, [id]);
    expect(rows[0]!.n).toBe(26);
  }, 180_000);
});
