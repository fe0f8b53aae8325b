// Refreshes of the engine bench, each in a child process of its own (bench/refresh-child.ts) so
// that its memory is measured alone, what its audit row says of it, what it wrote to the
// target, and the refresh with an injected BigQuery job failure.
import { performance } from 'node:perf_hooks';
import type pg from 'pg';
import type { BigQueryTestServer } from '../test/support/bigquery-server.ts';
import type { ChildArgs, ChildResult } from './refresh-child.ts';
import { fmtInt, fmtMb, fmtSeconds, runChild, type BenchContext, type Figure } from './support.ts';

const TARGET = { schema: 'sqp', name: 'asin_performance_data' } as const;

/** What the run's audit row (sqp.refresh_audit_log) says. */
export interface AuditRow {
  rowsProcessed: number;
  rowsInserted: number;
  rowsUpdated: number;
  rowsDeleted: number;
  executionTimeMs: number;
  /** Writing the target in the publish transaction (sync_metadata.publishMs); null when it did not publish. */
  publishMs: number | null;
  /** Measuring the load in the publish transaction (its diff, quality: sync_metadata.auditMs); null when not reported. */
  auditMs: number | null;
  pages: number | null;
  /** The BigQuery API the read took (sync_metadata.readApi: storage or rest). */
  readApi: string | null;
  /** Every `…Ms` figure of sync_metadata, for the log. */
  timings: Record<string, number>;
}

export type RefreshRun = ChildResult & { serverBusyMs: number; audit: AuditRow | null };

async function auditRow(pool: pg.Pool, runId: number): Promise<AuditRow | null> {
  const { rows: [row] } = await pool.query<Record<Exclude<keyof AuditRow, 'timings'>, string | null> & { metadata: Record<string, unknown> | null }>(
    `SELECT rows_processed AS "rowsProcessed", rows_inserted AS "rowsInserted", rows_updated AS "rowsUpdated", rows_deleted AS "rowsDeleted",
            execution_time_ms AS "executionTimeMs", sync_metadata->>'publishMs' AS "publishMs", sync_metadata->>'auditMs' AS "auditMs",
            sync_metadata->>'pages' AS pages, sync_metadata->>'readApi' AS "readApi", sync_metadata AS metadata
     FROM sqp.refresh_audit_log WHERE id = $1`,
    [runId],
  );
  if (!row) return null;
  const n = (v: string | null) => (v === null ? null : Number(v));
  const timings = Object.fromEntries(Object.entries(row.metadata ?? {}).filter(([k, v]) => k.endsWith('Ms') && typeof v === 'number')) as Record<string, number>;
  return {
    rowsProcessed: n(row.rowsProcessed) ?? 0, rowsInserted: n(row.rowsInserted) ?? 0, rowsUpdated: n(row.rowsUpdated) ?? 0, rowsDeleted: n(row.rowsDeleted) ?? 0,
    executionTimeMs: n(row.executionTimeMs) ?? 0, publishMs: n(row.publishMs), auditMs: n(row.auditMs), pages: n(row.pages), readApi: row.readApi, timings,
  };
}

/**
 * One refreshTable of sqp.asin_performance_data with these params, in a child process
 * (bench/refresh-child.ts); `decodeThreads` 0 decodes the pages on its main thread; `storage`
 * the Storage Read API test server, for a table whose params ask for it.
 */
export async function refreshInChild(
  ctx: BenchContext,
  server: BigQueryTestServer,
  pool: pg.Pool,
  params: unknown,
  label: string,
  options: Pick<ChildArgs, 'decodeThreads' | 'storage'> = {},
): Promise<RefreshRun> {
  const args: ChildArgs = {
    ...options,
    databaseUrl: ctx.databaseUrl,
    bigqueryUrl: server.url,
    tableSchema: TARGET.schema,
    tableName: TARGET.name,
    params,
  };
  ctx.log(`${label}: refreshTable in a child process …`);
  // This process does nothing but serve BigQuery pages (or Arrow batches) while the child runs:
  // its event-loop busy time is the time the test servers spent producing them (BigQuery's part).
  const elu = performance.eventLoopUtilization();
  const child = await runChild<ChildResult>('refresh-child.ts', args, ['--expose-gc', ...childNodeArgs()]);
  const serverBusyMs = performance.eventLoopUtilization(elu).active;
  const result: RefreshRun = { ...child, serverBusyMs, audit: await auditRow(pool, child.outcome.runId) };
  const o = result.outcome;
  ctx.log(
    `${label}: ${o.status}/${o.outcome} in ${fmtSeconds(result.wallMs)} — ${fmtInt(o.rowsProcessed)} read, ${fmtInt(o.rowsInserted)} inserted, ` +
      `${fmtInt(o.rowsUpdated)} updated; RSS ${fmtMb(result.rssBaseline)} at rest, peak ${fmtMb(result.rssPeak)} ` +
      `(kernel ${result.rssKernelPeak === null ? '?' : fmtMb(result.rssKernelPeak)}; ${memoryNote(result.memoryAtPeak)}); longest event-loop block ${result.maxSampleGapMs} ms; ` +
      `engine CPU ${fmtSeconds(result.cpuMs)}, test server busy ${fmtSeconds(result.serverBusyMs)}` +
      `, PostgreSQL CPU ${fmtSeconds(result.databaseCpuMs)}` +
      (result.machineCpu ? `, machine CPU busy ${fmtSeconds(result.machineCpu.busyMs)} (iowait ${fmtSeconds(result.machineCpu.iowaitMs)})` : '') +
      (result.audit ? `; audit row's timings ${JSON.stringify(result.audit.timings)}` : '') +
      `; ${threadNote(result)}`,
  );
  if (o.status !== 'success') ctx.log(`${label}: ${o.errorMessage ?? ''} ${JSON.stringify(o.errorDetails ?? {})}`);
  return result;
}

/**
 * (a'') The refresh again, its first query job failing while running with jobInternalError:
 * the source re-runs the query as a new job. Reports the query jobs BigQuery saw and the bytes
 * billed in the audit row (every job's bill; a failed query bills nothing).
 */
export async function jobFailureFigures(ctx: BenchContext, server: BigQueryTestServer, pool: pg.Pool, params: unknown, rows: number): Promise<Figure[]> {
  server.failNextJobs({
    reason: 'jobInternalError',
    message: 'The job encountered an internal error during execution and was unable to complete successfully.',
  });
  const mark = server.queries.length;
  const run = await refreshInChild(ctx, server, pool, params, "(a'') refresh with one injected job failure");
  const jobs = [...new Set(server.queries.slice(mark).filter((q) => !q.dryRun).map((q) => q.jobId))];
  const { rows: [audit] } = await pool.query<{ job: string | null; billed: string | null; processed: string | null }>(
    `SELECT bigquery_job_id AS job, sync_metadata->>'bytesBilled' AS billed, sync_metadata->>'bytesProcessed' AS processed
     FROM sqp.refresh_audit_log WHERE id = $1`,
    [run.outcome.runId],
  );
  const failed = jobs.filter((id) => id && server.job(id)?.error?.reason === 'jobInternalError');
  const ok = run.outcome.status === 'success' && run.outcome.rowsProcessed === rows && jobs.length === 2 && failed.length === 1;
  ctx.log(`(a'') query jobs: ${jobs.join(', ')}; audit row: job ${audit?.job}, ${audit?.billed} bytes billed, ${audit?.processed} processed`);
  return [
    {
      id: 'job_failure_refresh_ms',
      label: `(a'') ${fmtInt(rows)}-row refresh, its first query job failing with jobInternalError`,
      value: Math.round(run.wallMs),
      unit: 'ms',
      shown: `${run.outcome.status} in ${fmtSeconds(run.wallMs)} · ${jobs.length} query jobs (${failed.length} failed) · ${fmtInt(Number(audit?.billed ?? 0))} bytes billed`,
      target: 'success through a 2nd job',
      pass: ok,
      note: ok
        ? `the audit row names the job that was read (${audit?.job === jobs[1] ? 'the 2nd' : 'NOT the 2nd'}) and bills ${fmtInt(Number(audit?.billed ?? 0))} bytes: the 2nd job's, plus the failed one's (0: a failed query bills nothing)`
        : `UNEXPECTED: ${run.outcome.status} ${run.outcome.errorMessage ?? ''}`,
    },
  ];
}

/** Tuples written to a table between `before` and now, counted two ways (see targetWrites). */
export interface TableWrites {
  /** n_tup_ins + n_tup_upd + n_tup_del deltas of pg_stat_user_tables (n_tup_upd includes HOT updates). */
  tuples: number;
  /** The deltas themselves, HOT updates apart. */
  stats: { inserted: number; updated: number; hotUpdated: number; deleted: number };
  /** Live rows whose version was written after `before` (their xmin is newer). */
  newRowVersions: number;
}

/**
 * Starts counting what is written to `table`; `after()` (once the writer's process has ended)
 * says how much. Two independent counts, both exact:
 *  - pg_stat_user_tables' tuple counters. A backend reports its counters when it exits (or at
 *    most once a second while idle), so after() reads them until two reads 200 ms apart agree.
 *  - rows whose xmin is newer than the first transaction id not yet assigned at the start:
 *    every inserted or updated row version has one (an in-place change would not hide from
 *    it), read straight from the table. A row only locked (ON CONFLICT DO UPDATE … WHERE false
 *    locks the row it finds) keeps its xmin: that is not a write of the row's data.
 * A delete would show in the counters only; the row count is checked by the caller as well.
 */
export async function targetWrites(pool: pg.Pool, table: string): Promise<{ after(): Promise<TableWrites> }> {
  const read = async () => {
    const { rows: [r] } = await pool.query<Record<string, string>>(
      `SELECT n_tup_ins AS ins, n_tup_upd AS upd, n_tup_hot_upd AS hot, n_tup_del AS del FROM pg_stat_user_tables WHERE relid = $1::regclass`,
      [table],
    );
    return { inserted: Number(r!.ins), updated: Number(r!.upd), hotUpdated: Number(r!.hot), deleted: Number(r!.del) };
  };
  const before = await read();
  // The next transaction id to be assigned (32-bit form): anything written from now on has it or a newer one.
  const { rows: [x] } = await pool.query<{ next: string }>(`SELECT (pg_snapshot_xmax(pg_current_snapshot())::text::numeric % 4294967296)::text AS next`);
  const nextXid = x!.next;
  return {
    async after() {
      let now = await read();
      for (let tries = 0; tries < 25; tries++) {
        await new Promise((r) => setTimeout(r, 200));
        const again = await read();
        if (JSON.stringify(again) === JSON.stringify(now)) break;
        now = again;
      }
      const stats = {
        inserted: now.inserted - before.inserted,
        updated: now.updated - before.updated,
        hotUpdated: now.hotUpdated - before.hotUpdated,
        deleted: now.deleted - before.deleted,
      };
      // age() counts back from now, modulo wraparound: a row written after the start is younger than nextXid.
      const { rows: [c] } = await pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${table} WHERE age(xmin) <= age($1::text::xid)`, [nextXid]);
      return { tuples: stats.inserted + stats.updated + stats.deleted, stats, newRowVersions: c!.n };
    },
  };
}

/** The engine's CPU by thread and its GC time (refresh-child.ts ThreadFigures). */
export function threadNote(run: ChildResult): string {
  const t = run.threads;
  const w = t.workers;
  const gc = t.mainGcMs + (w?.gcMs ?? 0);
  return `main thread CPU ${fmtSeconds(t.mainCpuMs)} (GC ${fmtSeconds(t.mainGcMs)})` +
    (w ? `, ${w.threads} decode worker${w.threads === 1 ? '' : 's'} CPU ${fmtSeconds(w.cpuMs)} (GC ${fmtSeconds(w.gcMs)}, ${fmtInt(w.tasks)} pages)` : ', no decode workers') +
    `, other threads ${fmtSeconds(Math.max(0, run.cpuMs - t.mainCpuMs - (w?.cpuMs ?? 0)))}` +
    (t.v8HelpersMs === null ? ' (libuv, V8 helpers)' : ` (V8's helpers — concurrent GC, compilers — ${fmtSeconds(t.v8HelpersMs)})`) +
    `; GC ${((100 * gc) / run.cpuMs).toFixed(1)}% of the engine's CPU`;
}

/** BENCH_CHILD_NODE_ARGS: extra node options for the refresh children, e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof` to see where the engine's time goes. */
function childNodeArgs(): string[] {
  return (process.env.BENCH_CHILD_NODE_ARGS ?? '').split(' ').filter(Boolean);
}

/** Where the memory was at the largest RSS sampled. */
function memoryNote(m: ChildResult['memoryAtPeak']): string {
  return `at it V8's heap ${fmtMb(m.heapTotal)} (${fmtMb(m.heapUsed)} used, new space ${fmtMb(m.newSpace)}), outside it ${fmtMb(m.external)} (array buffers ${fmtMb(m.arrayBuffers)})`;
}
