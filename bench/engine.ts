// The refresh engine against its floor and its naive alternative, on SQP-shaped rows served
// by the local BigQuery REST test server:
//   (a)  refreshTable: full refresh of 1M rows into the empty sqp.asin_performance_data
//   (a') the same refresh again: nothing changed, so 0 rows may be updated
//   (b)  the SQL floor: the same rows as COPY text, COPY'd into a temp staging table and
//        merged with the engine's INSERT … ON CONFLICT … WHERE … IS DISTINCT FROM, with pg
//   (c)  a per-row upsert, one statement and one round trip per row, on a 20k-row sample
//   and the peak RSS of (a) (it runs in a child process) at 1M and at 5M rows.
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { startBigQueryTestServer } from '../test/support/bigquery-server.ts';
import { jobFailureFigures, refreshInChild, type RefreshRun } from './engine-runs.ts';
import { SQP_COLUMN_NAMES, SQP_KEY, SQP_SCHEMA, sqpCopyText, sqpQuery, sqpRow } from './sqp-fixture.ts';
import { fmtInt, fmtMb, fmtSeconds, MB, type Bench, type Figure, envCount } from './support.ts';

/** BENCH_ROWS / BENCH_BIG_ROWS override the sizes (quick trial runs); the targets assume the defaults. */
const ROWS = envCount('BENCH_ROWS', 1_000_000);
const BIG_ROWS = envCount('BENCH_BIG_ROWS', 5_000_000);
/** BENCH_PAGE_SIZE: rows asked per page (up to 100,000; the test server caps a page at 20 MiB, as BigQuery does). */
const PAGE_SIZE = envCount('BENCH_PAGE_SIZE', 20_000);
const SAMPLE_ROWS = Math.min(20_000, ROWS);
const TARGET = { schema: 'sqp', name: 'asin_performance_data' } as const;
/** An empty copy of the target (same columns, keys, index, defaults) for (b) and (c). */
const COPY_TABLE = 'sqp_bench.asin_performance_data';

/** Lenient quality: row counts jump between the bench's runs (1M → truncated → 5M). */
const QUALITY = {
  rowCountChange: { min: -1, max: 1_000_000, severity: 'warning' },
  freshnessDays: { max: 1_000_000, severity: 'warning' },
};
const syncParams = (rows: number) => ({
  source: { type: 'bigquery', query: sqpQuery(rows) },
  pageSize: PAGE_SIZE,
  quality: QUALITY,
});

const q = (c: string) => `"${c.replaceAll('"', '""')}"`;
const COLS = SQP_COLUMN_NAMES.map(q).join(', ');
const KEYS = SQP_KEY.map(q).join(', ');
const NON_KEY = SQP_COLUMN_NAMES.filter((c) => !SQP_KEY.includes(c));

/**
 * The engine's merge (src/runner/loader.ts), written out for one table: insert the staged
 * rows, update a conflicting row only when a non-key value differs (and then touch
 * updated_at), count inserted and updated rows.
 */
function mergeSql(target: string, stage: string): string {
  return `
    WITH merged AS (
      INSERT INTO ${target} AS t (${COLS})
      SELECT ${COLS} FROM ${stage} WHERE ${SQP_KEY.map((k) => `${q(k)} IS NOT NULL`).join(' AND ')}
      ON CONFLICT (${KEYS}) DO UPDATE SET ${NON_KEY.map((c) => `${q(c)} = EXCLUDED.${q(c)}`).join(', ')}, "updated_at" = now()
      WHERE (${NON_KEY.map((c) => `t.${q(c)}`).join(', ')}) IS DISTINCT FROM (${NON_KEY.map((c) => `EXCLUDED.${q(c)}`).join(', ')})
      RETURNING (xmax = 0) AS inserted
    )
    SELECT count(*) FILTER (WHERE inserted)::int AS inserted, count(*) FILTER (WHERE NOT inserted)::int AS updated FROM merged`;
}

/**
 * What an ORM's upsert sends per row (Prisma's `upsert` becomes one native
 * INSERT … ON CONFLICT DO UPDATE … RETURNING when it can): one parameterised statement, its
 * own implicit transaction, one round trip, the row returned. The SQP data tables are not
 * Prisma models (prisma/schema.prisma models only the five refresh tables), so the Prisma
 * client cannot be used on them; this sends the same kind of statement through pg directly,
 * which is a lower bound on what the ORM would cost (no query engine or mapping on top).
 */
function perRowUpsertSql(target: string): string {
  const placeholders = SQP_COLUMN_NAMES.map((_, i) => `$${i + 1}`).join(', ');
  return `INSERT INTO ${target} AS t (${COLS}) VALUES (${placeholders})
          ON CONFLICT (${KEYS}) DO UPDATE SET ${NON_KEY.map((c) => `${q(c)} = EXCLUDED.${q(c)}`).join(', ')}, "updated_at" = now()
          RETURNING *`;
}

async function checkpoint(pool: pg.Pool): Promise<void> {
  // Start each timed phase from a clean slate: no dirty buffers left by the previous one.
  // Needs superuser or pg_checkpoint; on a server where we have neither, carry on.
  await pool.query('CHECKPOINT').catch(() => undefined);
}

async function truncate(pool: pg.Pool, table: string): Promise<void> {
  await pool.query(`TRUNCATE ${table}`);
  await checkpoint(pool);
}

/** (b) COPY + merge of rows [0, rows) into COPY_TABLE, page by page like the engine. */
async function sqlFloor(pool: pg.Pool, rows: number, pageSize: number): Promise<{ ms: number; inserted: number; updated: number }> {
  const client = await pool.connect();
  try {
    const columnTypes = await client.query<{ name: string; type: string }>(
      `SELECT attname AS name, format_type(atttypid, atttypmod) AS type FROM pg_attribute
       WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum`,
      [COPY_TABLE],
    );
    const typed = SQP_COLUMN_NAMES.map((c) => `${q(c)} ${columnTypes.rows.find((r) => r.name === c)!.type}`).join(', ');
    await client.query(`DROP TABLE IF EXISTS pg_temp.floor_stage`);
    await client.query(`CREATE TEMP TABLE floor_stage (${typed}) ON COMMIT DELETE ROWS`);
    const merge = mergeSql(COPY_TABLE, 'pg_temp.floor_stage');
    let inserted = 0;
    let updated = 0;
    const started = performance.now();
    for (let from = 0; from < rows; from += pageSize) {
      const to = Math.min(rows, from + pageSize);
      await client.query('BEGIN');
      const copy = client.query(copyFrom(`COPY pg_temp.floor_stage (${COLS}) FROM STDIN`));
      await pipeline(Readable.from([sqpCopyText(from, to)]), copy);
      const counts = (await client.query<{ inserted: number; updated: number }>(merge)).rows[0]!;
      await client.query('COMMIT');
      inserted += counts.inserted;
      updated += counts.updated;
    }
    const ms = performance.now() - started;
    await client.query(`DROP TABLE IF EXISTS pg_temp.floor_stage`);
    return { ms, inserted, updated };
  } finally {
    client.release();
  }
}

/** (c) one upsert statement per row, awaited one after the other, into COPY_TABLE. */
async function perRowUpserts(pool: pg.Pool, rows: number): Promise<{ ms: number }> {
  const client = await pool.connect();
  try {
    const text = perRowUpsertSql(COPY_TABLE);
    const started = performance.now();
    for (let i = 0; i < rows; i++) await client.query(text, sqpRow(i));
    return { ms: performance.now() - started };
  } finally {
    client.release();
  }
}

const rate = (rows: number, ms: number) => (rows * 1000) / ms;
const short = (n: number) => (n % 1_000_000 === 0 ? `${n / 1_000_000}M` : n % 1000 === 0 ? `${n / 1000}k` : String(n));

export const engineBench: Bench = {
  name: 'engine',
  description: 'refreshTable vs the SQL floor vs per-row upserts; peak RSS at 1M and 5M rows',
  async run(ctx) {
    const skip5M = process.env.BENCH_SKIP_5M === '1';
    const pool = new pg.Pool({ connectionString: ctx.databaseUrl, max: 2 });
    pool.on('error', () => undefined);
    const server = await startBigQueryTestServer({ projectId: 'sqp-bench' });
    try {
      for (const rows of skip5M ? [ROWS] : [ROWS, BIG_ROWS]) {
        server.addQuery(sqpQuery(rows), {
          schema: SQP_SCHEMA,
          rows: { count: rows, at: sqpRow },
          bytesProcessed: rows * 180,
        });
      }
      await pool.query(`CREATE SCHEMA IF NOT EXISTS sqp_bench`);
      await pool.query(`CREATE TABLE ${COPY_TABLE} (LIKE sqp.asin_performance_data INCLUDING ALL)`);
      const version = (await pool.query<{ v: string }>(`SELECT current_setting('server_version') AS v`)).rows[0]!.v;
      ctx.log(`PostgreSQL ${version}; ${fmtInt(ROWS)} rows in pages of ${fmtInt(PAGE_SIZE)}`);

      // (b) first, into the empty copy; emptied again afterwards so that its table's
      // autovacuum does not run during (a).
      await checkpoint(pool);
      ctx.log(`(b) SQL floor: COPY + merge with pg, ${fmtInt(ROWS)} rows …`);
      const floor = await sqlFloor(pool, ROWS, PAGE_SIZE);
      ctx.log(`(b) ${fmtSeconds(floor.ms)}, ${fmtInt(floor.inserted)} inserted, ${fmtInt(floor.updated)} updated`);
      if (floor.inserted !== ROWS) throw new Error(`(b) inserted ${floor.inserted} rows, expected ${ROWS}`);
      // (b') the floor of (a'): the same rows merged again, nothing to change.
      await checkpoint(pool);
      ctx.log(`(b') SQL floor, no change: the same ${fmtInt(ROWS)} rows again …`);
      const floorAgain = await sqlFloor(pool, ROWS, PAGE_SIZE);
      ctx.log(`(b') ${fmtSeconds(floorAgain.ms)}, ${fmtInt(floorAgain.inserted)} inserted, ${fmtInt(floorAgain.updated)} updated`);
      await truncate(pool, COPY_TABLE);

      // (a) and (a').
      const a = await refreshInChild(ctx, server, syncParams(ROWS), '(a) full refresh');
      await checkpoint(pool);
      const again = await refreshInChild(ctx, server, syncParams(ROWS), "(a') no-change re-refresh");
      const count = Number((await pool.query<{ n: string }>(`SELECT count(*) AS n FROM sqp.asin_performance_data`)).rows[0]!.n);
      // (a'') again, through a job failure.
      const jobFailure = await jobFailureFigures(ctx, server, pool, syncParams(ROWS), ROWS);

      // (c) into the empty copy.
      await truncate(pool, COPY_TABLE);
      ctx.log(`(c) per-row upserts, ${fmtInt(SAMPLE_ROWS)} rows …`);
      const perRow = await perRowUpserts(pool, SAMPLE_ROWS);
      ctx.log(`(c) ${fmtSeconds(perRow.ms)} (${fmtInt(rate(SAMPLE_ROWS, perRow.ms))} rows/s)`);
      await truncate(pool, COPY_TABLE);

      // 5M: the same full refresh into the emptied target.
      let big: RefreshRun | null = null;
      if (!skip5M) {
        await truncate(pool, 'sqp.asin_performance_data');
        big = await refreshInChild(ctx, server, syncParams(BIG_ROWS), '(a) at 5M rows');
      }

      // ---- figures -------------------------------------------------------------------
      const aOk = a.outcome.status === 'success' && a.outcome.rowsInserted === ROWS;
      const aRate = rate(ROWS, a.wallMs);
      const floorRate = rate(ROWS, floor.ms);
      const perRowRate = rate(SAMPLE_ROWS, perRow.ms);
      const ratioFloor = a.wallMs / floor.ms;
      const ratioAgain = again.wallMs / a.wallMs;
      const speedup = aRate / perRowRate;
      const againOk = again.outcome.status === 'success' && again.outcome.rowsUpdated === 0 && again.outcome.rowsInserted === 0;
      const figures: Figure[] = [
        {
          id: 'a_full_refresh_ms',
          label: `(a) refreshTable, full refresh of ${fmtInt(ROWS)} rows into an empty table`,
          value: Math.round(a.wallMs),
          unit: 'ms',
          shown: `${fmtSeconds(a.wallMs)} · ${fmtInt(aRate)} rows/s`,
          note: aOk
            ? `${a.outcome.status}, ${fmtInt(a.outcome.rowsInserted)} inserted; engine process CPU ${fmtSeconds(a.cpuMs)}, test server busy ${fmtSeconds(a.serverBusyMs)} producing pages`
            : `UNEXPECTED: ${a.outcome.status} ${a.outcome.errorMessage ?? ''} (${fmtInt(a.outcome.rowsInserted)} inserted)`,
        },
        { id: 'a_rows_per_s', label: '(a) throughput', value: Math.round(aRate), unit: 'rows/s', shown: `${fmtInt(aRate)} rows/s` },
        {
          id: 'b_sql_floor_ms',
          label: `(b) SQL floor: COPY + same merge with pg, ${fmtInt(ROWS)} rows, pages of ${fmtInt(PAGE_SIZE)}`,
          value: Math.round(floor.ms),
          unit: 'ms',
          shown: `${fmtSeconds(floor.ms)} · ${fmtInt(floorRate)} rows/s`,
        },
        {
          id: 'b2_sql_floor_no_change_ms',
          label: `(b') SQL floor of (a'): the same ${fmtInt(ROWS)} rows merged again`,
          value: Math.round(floorAgain.ms),
          unit: 'ms',
          shown: `${fmtSeconds(floorAgain.ms)} · ${fmtInt(rate(ROWS, floorAgain.ms))} rows/s · ${fmtInt(floorAgain.updated)} updated`,
        },
        {
          id: 'a_over_b',
          label: '(a) ÷ (b)',
          value: Math.round(ratioFloor * 100) / 100,
          unit: '×',
          shown: `${ratioFloor.toFixed(2)}×`,
          target: '≤ 1.50×',
          pass: aOk && ratioFloor <= 1.5,
          // The test server stands in for BigQuery on the same machine: when it is busy for
          // most of (a), (a) is bound by producing pages, not by the engine.
          note: `the BigQuery test server was busy ${fmtSeconds(a.serverBusyMs)} of (a) producing pages (it shares the machine's ${os.cpus().length} cores with the engine and PostgreSQL)`,
        },
        {
          id: 'a2_no_change_ms',
          label: `(a') no-change re-refresh of the same ${fmtInt(ROWS)} rows`,
          value: Math.round(again.wallMs),
          unit: 'ms',
          shown: `${fmtSeconds(again.wallMs)} · ${fmtInt(rate(ROWS, again.wallMs))} rows/s · ${fmtInt(again.outcome.rowsUpdated)} updated`,
          target: '0 rows updated',
          pass: againOk && count === ROWS,
          note: againOk
            ? `${again.outcome.status}, ${fmtInt(count)} rows in the table; engine process CPU ${fmtSeconds(again.cpuMs)}, test server busy ${fmtSeconds(again.serverBusyMs)} producing pages`
            : `UNEXPECTED: ${again.outcome.status} ${again.outcome.errorMessage ?? ''}`,
        },
        {
          id: 'a2_over_a',
          label: "(a') ÷ (a)",
          value: Math.round(ratioAgain * 100) / 100,
          unit: '×',
          shown: `${ratioAgain.toFixed(2)}×`,
          target: '≤ 0.50×',
          pass: againOk && ratioAgain <= 0.5,
          note: `for comparison, the SQL floor alone: (b') ÷ (b) = ${(floorAgain.ms / floor.ms).toFixed(2)}×`,
        },
        {
          id: 'c_per_row_rows_per_s',
          label: `(c) per-row upsert (one INSERT … ON CONFLICT DO UPDATE per round trip), ${fmtInt(SAMPLE_ROWS)} rows`,
          value: Math.round(perRowRate),
          unit: 'rows/s',
          shown: `${fmtSeconds(perRow.ms)} · ${fmtInt(perRowRate)} rows/s`,
        },
        {
          id: 'a_over_c_per_row',
          label: '(a) per-row speed ÷ (c)',
          value: Math.round(speedup * 10) / 10,
          unit: '×',
          shown: `${speedup.toFixed(1)}×`,
          target: '≥ 30×',
          pass: aOk && speedup >= 30,
          note: `for comparison, the SQL floor: (b) ÷ (c) = ${(floorRate / perRowRate).toFixed(1)}×`,
        },
        {
          id: 'rss_peak_1m_bytes',
          label: `peak RSS of (a), ${fmtInt(ROWS)} rows (50 ms samples in the child)`,
          value: a.rssPeak,
          unit: 'bytes',
          shown: `${fmtMb(a.rssPeak)} (at rest ${fmtMb(a.rssBaseline)}; kernel VmHWM ${a.rssKernelPeak === null ? '?' : fmtMb(a.rssKernelPeak)})`,
          target: '≤ 200 MB',
          pass: a.rssPeak <= 200 * MB,
        },
        ...jobFailure,
      ];
      if (big) {
        const bigOk = big.outcome.status === 'success' && big.outcome.rowsInserted === BIG_ROWS;
        const growth = big.rssPeak / a.rssPeak - 1;
        figures.push(
          {
            id: 'a_5m_full_refresh_ms',
            label: `(a) at ${fmtInt(BIG_ROWS)} rows, into an emptied table`,
            value: Math.round(big.wallMs),
            unit: 'ms',
            shown: `${fmtSeconds(big.wallMs)} · ${fmtInt(rate(BIG_ROWS, big.wallMs))} rows/s`,
            note: bigOk ? `${big.outcome.status}, ${fmtInt(big.outcome.rowsInserted)} inserted` : `UNEXPECTED: ${big.outcome.status} ${big.outcome.errorMessage ?? ''}`,
          },
          {
            id: 'rss_peak_5m_bytes',
            label: `peak RSS of (a), ${fmtInt(BIG_ROWS)} rows`,
            value: big.rssPeak,
            unit: 'bytes',
            shown: `${fmtMb(big.rssPeak)} (at rest ${fmtMb(big.rssBaseline)}; kernel VmHWM ${big.rssKernelPeak === null ? '?' : fmtMb(big.rssKernelPeak)})`,
            target: '≤ 200 MB',
            pass: bigOk && big.rssPeak <= 200 * MB,
          },
          {
            id: 'rss_growth_5m_vs_1m',
            label: `peak RSS growth, ${short(BIG_ROWS)} vs ${short(ROWS)} rows`,
            value: Math.round(growth * 1000) / 10,
            unit: '%',
            shown: `${growth >= 0 ? '+' : ''}${(growth * 100).toFixed(1)}%`,
            target: '< +20%',
            pass: bigOk && growth < 0.2,
          },
        );
      } else {
        figures.push(
          { id: 'rss_peak_5m_bytes', label: `peak RSS of (a), ${fmtInt(BIG_ROWS)} rows`, value: null, unit: 'bytes', shown: 'skipped (BENCH_SKIP_5M=1)', target: '≤ 200 MB', pass: null },
          { id: 'rss_growth_5m_vs_1m', label: `peak RSS growth, ${short(BIG_ROWS)} vs ${short(ROWS)} rows`, value: null, unit: '%', shown: 'skipped (BENCH_SKIP_5M=1)', target: '< +20%', pass: null },
        );
      }
      return figures;
    } finally {
      await server.close();
      await pool.end().catch(() => undefined);
    }
  },
};
