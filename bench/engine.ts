// The refresh engine against its floor, on 1M SQP-shaped rows served by the local BigQuery REST
// test server. The source is made cheap so that the engine is what is measured: every result
// page of every query is rendered into the server's memory before anything is timed
// (server.prerender: the same bytes a page made on the fly would have), and the server runs in
// this process while the engine runs in a child (bench/refresh-child.ts), so the child's RSS is
// the engine's. In one run, in this order:
//   (b0) the floor of (a): plain COPY of the rows into an empty copy of the target
//   (b)  the floor of write–audit–publish: COPY into an UNLOGGED staging table, then one merge,
//        with pg directly (bench/engine-floor.ts): into the empty copy (the empty-target case);
//        (b') the same rows again into the copy holding them (the floor's no-change merge);
//        version 2 of the rows into the copy holding version 1 (every row updated: the floor of (a2))
//   (a)  refreshTable: full refresh of the rows into the empty sqp.asin_performance_data, its
//        pages decoded on the engine's main thread (DECODE_THREADS=0, the service's default)
//   (a1) the same with one decode worker thread
//   (s), (s1) (a) and (a1) through the Storage Read API (the Storage Read test server in this
//        process, its Arrow batches encoded ahead)
//   (a') the same refresh again: nothing changed, 0 tuples may be written
//   (a2) a refresh to version 2 of the rows: every row updated
//   (a'') a refresh through a BigQuery job failure; (c) per-row upserts on a 20k-row sample;
//   (a) at 5M rows into the emptied target, for the peak RSS.
// Targets (the issue's): (a2) ≤ 1.25 × (b); (a) ≤ 1.5 × (b0); (a') writes 0 tuples and takes
// ≤ 1.0 × (b')'s merge; peak RSS ≤ 200 MB at 1M and < 20 % more at 5M; the load phase with a
// decode worker ≥ 1.5× faster than without, GC < 10% of the engine's CPU; the Storage Read
// path's targets in engine-storage.ts. Publish time reported apart.
import pg from 'pg';
import { bufferCompressionOf } from '../src/runner/sources/bigquery/bigquery-storage-session.ts';
import { startBigQueryTestServer, type QueryFixture } from '../test/support/bigquery-server.ts';
import type { RowSource } from '../test/support/bigquery-server-types.ts';
import { startBigQueryStorageTestServer } from '../test/support/bigquery-storage-server.ts';
import { storageFigures } from './engine-storage.ts';
import { engineFigures, type EngineResults } from './engine-figures.ts';
import { copyTextPages, perRowUpserts, plainCopy, settle, stageAndMerge } from './engine-floor.ts';
import { jobFailureFigures, refreshInChild, targetWrites, type RefreshRun } from './engine-runs.ts';
import { decodeFigures } from './engine-threads.ts';
import { SQP_SCHEMA, sqpQuery, sqpRow, type SqpVersion } from './sqp-fixture.ts';
import { envCount, fmtInt, fmtMb, fmtSeconds, type Bench, type BenchContext } from './support.ts';

/** BENCH_ROWS / BENCH_BIG_ROWS override the sizes (quick trial runs); the targets assume the defaults. */
const ROWS = envCount('BENCH_ROWS', 1_000_000);
const BIG_ROWS = envCount('BENCH_BIG_ROWS', 5_000_000);
/** BENCH_PAGE_SIZE: rows asked per page (up to 100,000; the engine asks fewer when rows are wide, BigQuery caps a page at 20 MiB). */
const PAGE_SIZE = envCount('BENCH_PAGE_SIZE', 20_000);
const SAMPLE_ROWS = Math.min(20_000, ROWS);
const TARGET = 'sqp.asin_performance_data';
/** An empty copy of the target (same columns, keys, index, defaults) for the floor and (c). */
const FLOOR_TARGET = 'sqp_bench.asin_performance_data';
/** Another, for (b0). */
const PLAIN_TARGET = 'sqp_bench.asin_performance_data_b0';
const FLOOR_STAGE = 'sqp_bench.floor_stage';

/**
 * Lenient quality: row counts jump between the bench's runs (1M → truncated → 5M), and no
 * check may block a phase (source_rows_zero and delete_ratio block by default).
 * skipWhenUnchanged: false, so that (a') reads and compares every row (the test server's
 * fixtures reference no tables, so their inputs could not vouch for an unchanged result anyway).
 */
const QUALITY = {
  rowCountChange: { min: -1, max: 1_000_000, severity: 'warning' },
  freshnessDays: { max: 1_000_000, severity: 'warning' },
  sourceRowsZero: { max: 1, severity: 'warning' },
  deleteRatio: { max: 1, severity: 'warning' },
};
/** The Storage Read path's read session: streams (the source's default), and rows per ReadRows response (~330 KB of SQP rows; 8,192 measured the same). */
const STORAGE_STREAMS = 4;
const STORAGE_BATCH_ROWS = 1024;
/** The buffer compression the engine's sessions ask for (its default settings: ZSTD where this Node reads it), so the batches rendered ahead are the ones sent. */
const STORAGE_COMPRESSION = bufferCompressionOf({});
const storageParams = (rows: number) => {
  const p = syncParams(rows, 1);
  return { ...p, source: { ...p.source, readApi: 'storage' } };
};
const syncParams = (rows: number, version: SqpVersion) => ({
  source: { type: 'bigquery', query: sqpQuery(rows, version), skipWhenUnchanged: false },
  pageSize: PAGE_SIZE,
  quality: QUALITY,
});

const count = async (pool: pg.Pool, table: string) => Number((await pool.query<{ n: string }>(`SELECT count(*) AS n FROM ${table}`)).rows[0]!.n);

/** The floor's phases (b0), (b) empty target, (b') no change, (b) version 2 over version 1. */
async function floorPhases(ctx: BenchContext, pool: pg.Pool): Promise<Pick<EngineResults, 'plainCopyMs' | 'floorEmpty' | 'floorNoChange' | 'floorUpdate'>> {
  const database = decodeURIComponent(new URL(ctx.databaseUrl).pathname.slice(1));
  // The COPY text of both versions, made before the clock starts (~200 MB each at 1M rows,
  // let go when this returns: the engine's phases do not need it).
  const v1 = copyTextPages(ROWS, PAGE_SIZE, 1);
  const v2 = copyTextPages(ROWS, PAGE_SIZE, 2);
  ctx.log(`floor: COPY text of ${fmtInt(ROWS)} rows × 2 versions made (${fmtMb(v1.reduce((n, b) => n + b.length, 0))} each)`);
  await pool.query(`CREATE TABLE ${PLAIN_TARGET} (LIKE ${TARGET} INCLUDING ALL)`);
  await settle(pool);
  const plainCopyMs = await plainCopy(pool, PLAIN_TARGET, v1);
  ctx.log(`(b0) plain COPY into an empty copy of the target: ${fmtSeconds(plainCopyMs)} (${fmtInt(await count(pool, PLAIN_TARGET))} rows)`);
  await pool.query(`DROP TABLE ${PLAIN_TARGET}`);

  const phase = async (label: string, pages: Buffer[]) => {
    await settle(pool, FLOOR_TARGET);
    const run = await stageAndMerge(pool, database, FLOOR_TARGET, FLOOR_STAGE, pages);
    ctx.log(
      `${label}: ${fmtSeconds(run.ms)} (COPY into the unlogged stage ${fmtSeconds(run.copyMs)}, PostgreSQL CPU ${fmtSeconds(run.copyCpuMs)}; ` +
        `merge ${fmtSeconds(run.mergeMs)}, PostgreSQL CPU ${fmtSeconds(run.mergeCpuMs)}); ${fmtInt(run.inserted)} inserted, ${fmtInt(run.updated)} updated`,
    );
    return run;
  };
  const floorEmpty = await phase('(b) floor, empty target', v1);
  const floorNoChange = await phase("(b') floor, the same rows again", v1);
  const floorUpdate = await phase('(b) floor, version 2 over version 1', v2);
  if (floorEmpty.inserted !== ROWS || floorNoChange.inserted + floorNoChange.updated !== 0 || floorUpdate.updated !== ROWS) {
    throw new Error('the floor did not insert, leave and update every row as expected (see the log)');
  }
  return { plainCopyMs, floorEmpty, floorNoChange, floorUpdate };
}

export const engineBench: Bench = {
  name: 'engine',
  description: 'refreshTable vs its SQL floor (COPY + one merge) on pre-rendered BigQuery pages; per-row upserts; peak RSS at 1M and 5M rows',
  async run(ctx) {
    const skip5M = process.env.BENCH_SKIP_5M === '1';
    const pool = new pg.Pool({ connectionString: ctx.databaseUrl, max: 2 });
    pool.on('error', () => undefined);
    const server = await startBigQueryTestServer({ projectId: 'sqp-bench' });
    // The Storage Read API beside it: it serves the REST server's job results as Arrow.
    const storage = await startBigQueryStorageTestServer({ rowsPerResponse: STORAGE_BATCH_ROWS, resultTables: (t) => server.resultTable(t) });
    try {
      const version = (await pool.query<{ v: string }>(`SELECT current_setting('server_version') AS v`)).rows[0]!.v;
      ctx.log(`PostgreSQL ${version}; ${fmtInt(ROWS)} rows in pages of up to ${fmtInt(PAGE_SIZE)}`);

      // ---- the source: every page of every query rendered ahead -----------------------
      const queries: [number, SqpVersion][] = [[ROWS, 1], [ROWS, 2], ...(skip5M ? [] : [[BIG_ROWS, 1] as [number, SqpVersion]])];
      let prerender = { rows: 0, storedBytes: 0, ms: 0 };
      for (const [rows, v] of queries) {
        const fixture: QueryFixture = { schema: SQP_SCHEMA, rows: { count: rows, at: (i) => sqpRow(i, v) }, bytesProcessed: rows * 180 };
        server.addQuery(sqpQuery(rows, v), fixture);
        const stats = server.prerender(fixture);
        if (rows === ROWS && v === 1) {
          const arrow = storage.prerender(fixture, { fields: SQP_SCHEMA, rows: fixture.rows! as RowSource }, STORAGE_STREAMS, STORAGE_COMPRESSION);
          ctx.log(`encoded ${fmtInt(arrow.rows)} rows of version 1 as Arrow record batches of ${fmtInt(STORAGE_BATCH_ROWS)} rows (buffer compression ${STORAGE_COMPRESSION}) over ${STORAGE_STREAMS} streams: ${fmtMb(arrow.bytes)}, in ${fmtSeconds(arrow.ms)}`);
        }
        ctx.log(`pre-rendered ${fmtInt(rows)} rows of version ${v}: ${fmtMb(stats.jsonBytes)} of JSON held as ${fmtMb(stats.storedBytes)}, in ${fmtSeconds(stats.ms)}`);
        prerender = { rows: prerender.rows + rows, storedBytes: prerender.storedBytes + stats.storedBytes, ms: prerender.ms + stats.ms };
      }

      // ---- the floor ------------------------------------------------------------------
      await pool.query(`CREATE SCHEMA IF NOT EXISTS sqp_bench`);
      await pool.query(`CREATE TABLE ${FLOOR_TARGET} (LIKE ${TARGET} INCLUDING ALL)`);
      const floor = await floorPhases(ctx, pool);
      await pool.query(`TRUNCATE ${FLOOR_TARGET}`);

      // ---- the engine -----------------------------------------------------------------
      // (a) as the service runs it by default (pages decoded on the engine's main thread), then
      // (a1) with one decode worker, (s) and (s1) the same through the Storage Read API: each
      // into the emptied target.
      await settle(pool, TARGET);
      const full = await refreshInChild(ctx, server, pool, syncParams(ROWS, 1), '(a) full refresh into the empty target');
      await pool.query(`TRUNCATE ${TARGET}`);
      await settle(pool, TARGET);
      const pooledRest = await refreshInChild(ctx, server, pool, syncParams(ROWS, 1), '(a1) the same, pages decoded by one decode worker', { decodeThreads: 1 });
      await pool.query(`TRUNCATE ${TARGET}`);
      await settle(pool, TARGET);
      const storageAt = { endpoint: storage.endpoint, port: storage.port };
      const storageRun = await refreshInChild(ctx, server, pool, storageParams(ROWS), '(s) full refresh through the Storage Read API, batches converted on the main thread', { storage: storageAt });
      await pool.query(`TRUNCATE ${TARGET}`);
      await settle(pool, TARGET);
      const storagePooled = await refreshInChild(ctx, server, pool, storageParams(ROWS), '(s1) the same, batches converted by one decode worker', { storage: storageAt, decodeThreads: 1 });
      const asked = new Set(storage.requests.filter((r) => r.method === 'CreateReadSession').map((r) => r.compression));
      if ([...asked].some((c) => c !== STORAGE_COMPRESSION)) throw new Error(`(s) asked for ${[...asked].join(', ')} buffer compression, the batches were rendered ${STORAGE_COMPRESSION}: (s) measured this server's encoder`);
      await settle(pool, TARGET);
      const writes = await targetWrites(pool, TARGET);
      const noChange = await refreshInChild(ctx, server, pool, syncParams(ROWS, 1), "(a') no-change refresh");
      const noChangeWrites = await writes.after();
      const rowsAfterNoChange = await count(pool, TARGET);
      ctx.log(`(a') wrote ${fmtInt(noChangeWrites.tuples)} tuples (pg_stat_user_tables: ${JSON.stringify(noChangeWrites.stats)}), ${fmtInt(noChangeWrites.newRowVersions)} new row versions; ${fmtInt(rowsAfterNoChange)} rows`);
      await settle(pool, TARGET);
      const update = await refreshInChild(ctx, server, pool, syncParams(ROWS, 2), '(a2) every row changed (version 2)');
      // (a'') through a job failure: version 2 again, so it changes nothing.
      const jobFailure = await jobFailureFigures(ctx, server, pool, syncParams(ROWS, 2), ROWS);

      // (c) into the empty copy.
      await settle(pool, FLOOR_TARGET);
      ctx.log(`(c) per-row upserts, ${fmtInt(SAMPLE_ROWS)} rows …`);
      const perRow = await perRowUpserts(pool, FLOOR_TARGET, SAMPLE_ROWS);
      ctx.log(`(c) ${fmtSeconds(perRow.ms)}`);
      await pool.query(`DROP TABLE ${FLOOR_TARGET}`);

      // 5M: the same full refresh into the emptied target.
      let big: RefreshRun | null = null;
      if (!skip5M) {
        await pool.query(`TRUNCATE ${TARGET}`);
        await settle(pool, TARGET);
        big = await refreshInChild(ctx, server, pool, syncParams(BIG_ROWS, 1), '(a) at 5M rows');
      }
      return [
        ...engineFigures({
          rows: ROWS, bigRows: BIG_ROWS, sampleRows: SAMPLE_ROWS, prerender,
          ...floor, full, noChange, noChangeWrites, rowsAfterNoChange, update, perRowMs: perRow.ms, big,
        }),
        ...decodeFigures(ROWS, full, pooledRest, floor.floorEmpty.copyMs),
        ...storageFigures(ROWS, { main: storageRun, pooled: storagePooled }, { main: full, pooled: pooledRest }, { copyMs: floor.floorEmpty.copyMs, plainCopyMs: floor.plainCopyMs }),
        ...jobFailure,
      ];
    } finally {
      await storage.close();
      await server.close();
      await pool.end().catch(() => undefined);
    }
  },
};
