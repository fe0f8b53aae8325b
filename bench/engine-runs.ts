// Refreshes of the engine bench, each in a child process of its own (bench/refresh-child.ts) so
// that its memory is measured alone, and the refresh with an injected BigQuery job failure.
import { performance } from 'node:perf_hooks';
import type pg from 'pg';
import type { BigQueryTestServer } from '../test/support/bigquery-server.ts';
import type { ChildArgs, ChildResult } from './refresh-child.ts';
import { fmtInt, fmtMb, fmtSeconds, runChild, type BenchContext, type Figure } from './support.ts';

const TARGET = { schema: 'sqp', name: 'asin_performance_data' } as const;

export type RefreshRun = ChildResult & { serverBusyMs: number };

/** One refreshTable of sqp.asin_performance_data with these params, in a child process (bench/refresh-child.ts). */
export async function refreshInChild(ctx: BenchContext, server: BigQueryTestServer, params: unknown, label: string): Promise<RefreshRun> {
  const args: ChildArgs = {
    databaseUrl: ctx.databaseUrl,
    bigqueryUrl: server.url,
    tableSchema: TARGET.schema,
    tableName: TARGET.name,
    params,
  };
  ctx.log(`${label}: refreshTable in a child process …`);
  // This process does nothing but serve BigQuery pages while the child runs: its event-loop
  // busy time is the time the test server spent producing them (BigQuery's part of (a)).
  const elu = performance.eventLoopUtilization();
  const child = await runChild<ChildResult>('refresh-child.ts', args, ['--expose-gc']);
  const result: RefreshRun = { ...child, serverBusyMs: performance.eventLoopUtilization(elu).active };
  const o = result.outcome;
  ctx.log(
    `${label}: ${o.status}/${o.outcome} in ${fmtSeconds(result.wallMs)} — ${fmtInt(o.rowsProcessed)} read, ${fmtInt(o.rowsInserted)} inserted, ` +
      `${fmtInt(o.rowsUpdated)} updated; RSS ${fmtMb(result.rssBaseline)} at rest, peak ${fmtMb(result.rssPeak)} ` +
      `(kernel ${result.rssKernelPeak === null ? '?' : fmtMb(result.rssKernelPeak)}); longest event-loop block ${result.maxSampleGapMs} ms; ` +
      `engine CPU ${fmtSeconds(result.cpuMs)}, test server busy ${fmtSeconds(result.serverBusyMs)}`,
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
  const run = await refreshInChild(ctx, server, params, "(a'') refresh with one injected job failure");
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
