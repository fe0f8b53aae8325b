// One refresh of one table in a process of its own, so that its memory can be measured
// alone: `node --import tsx bench/refresh-child.ts '<json ChildArgs>'`. Prints one line
// `BENCH_RESULT <json ChildResult>` on stdout. The BigQuery test server runs in the parent
// (bench/engine.ts), so the RSS measured here is the engine's, not the fixture's.
process.env.METADATA_SERVER_DETECTION = 'none';

import { PerformanceObserver } from 'node:perf_hooks';
import v8 from 'node:v8';
import pg from 'pg';
import { refreshTable, type RefreshConfigRow, type RefreshOutcome } from '../src/runner/engine/refresh-table.ts';
import { createBigQuerySource } from '../src/runner/sources/bigquery/bigquery.ts';
import { createDecodePool, type DecodePool, type DecodeUsage } from '../src/runner/sources/decode/decode-pool.ts';
import { createSources } from '../src/runner/sources/registry.ts';
import { databaseProcessesCpu, kernelPeakRss, machineCpu, machineCpuSince, processesCpuSince, RESULT_MARKER, threadsCpuMs, type MachineCpu } from './support.ts';

export interface ChildArgs {
  databaseUrl: string;
  bigqueryUrl: string;
  tableSchema: string;
  tableName: string;
  /** Set this query into custom_sync_params first (the parent sets the rest). */
  params: unknown;
  /** Decode worker threads; 0 or unset: pages decoded on the main thread, as the service does by default (DECODE_THREADS=0). */
  decodeThreads?: number;
  /** The Storage Read API test server (host, port): reads of a table with readApi storage take it; unset: REST pages only. */
  storage?: { endpoint: string; port: number };
}

/** Where the engine's CPU went, by thread, and its GC time (ms). */
export interface ThreadFigures {
  /** The main thread's CPU (process.threadCpuUsage): the engine, pg, the HTTP client. */
  mainCpuMs: number;
  /** GC pauses of the main thread (PerformanceObserver 'gc' durations). */
  mainGcMs: number;
  /** The decode workers': CPU, GC, tasks; null without a pool. */
  workers: DecodeUsage | null;
  /** V8's platform worker threads (its concurrent GC marking and sweeping, its compilers); null off Linux. */
  v8HelpersMs: number | null;
}

export interface ChildResult {
  wallMs: number;
  outcome: RefreshOutcome;
  /** RSS before refreshTable was called (node + tsx + modules + pool), bytes. */
  rssBaseline: number;
  /** Largest RSS seen by the 50 ms sampler during refreshTable, bytes. */
  rssPeak: number;
  /** The kernel's high-water mark (VmHWM) at the end, bytes; null off Linux. */
  rssKernelPeak: number | null;
  /** Samples taken (about wallMs / 50 unless the event loop was blocked). */
  samples: number;
  /** Longest gap between two samples: how long the event loop was blocked at worst. */
  maxSampleGapMs: number;
  heapUsedPeak: number;
  /** Where the memory was at the sample of the largest RSS (bytes): V8's heap, its young generation (new space), memory outside it. */
  memoryAtPeak: MemoryAt;
  /** CPU time of this process during refreshTable (user + system), ms. */
  cpuMs: number;
  /** CPU time of the whole machine during refreshTable (PostgreSQL's, the BigQuery test server's, anyone's); null off Linux. */
  machineCpu: MachineCpu | null;
  /** CPU time of the PostgreSQL processes of the run's database during refreshTable (its backends, autovacuum), ms. */
  databaseCpuMs: number;
  threads: ThreadFigures;
}

/** process.memoryUsage() at one moment, with V8's new space. */
export interface MemoryAt {
  rss: number;
  heapTotal: number;
  heapUsed: number;
  newSpace: number;
  external: number;
  arrayBuffers: number;
}

function memoryNow(): MemoryAt {
  const { rss, heapTotal, heapUsed, external, arrayBuffers } = process.memoryUsage();
  const newSpace = v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')?.space_size ?? 0;
  return { rss, heapTotal, heapUsed, newSpace, external, arrayBuffers };
}

async function main(): Promise<void> {
  const args = JSON.parse(process.argv[2] ?? '{}') as ChildArgs;
  const pool = new pg.Pool({ connectionString: args.databaseUrl, max: 2 });
  pool.on('error', () => undefined);
  const { rows } = await pool.query<RefreshConfigRow>(
    `UPDATE sqp.refresh_config SET custom_sync_params = $3
     WHERE table_schema = $1 AND table_name = $2
     RETURNING id, table_schema AS "tableSchema", table_name AS "tableName", custom_sync_params AS "customSyncParams",
               refresh_frequency_hours AS "refreshFrequencyHours", next_refresh_at AS "nextRefreshAt", is_enabled AS "isEnabled"`,
    [args.tableSchema, args.tableName, JSON.stringify(args.params)],
  );
  const config = rows[0];
  if (!config) throw new Error(`no refresh_config row for ${args.tableSchema}.${args.tableName}`);

  // The pool as the service makes it (one worker per spare core), started and warmed before the
  // clock starts: a process starts its workers once, not per refresh.
  const decodePool = args.decodeThreads ? createDecodePool({ threads: args.decodeThreads }) : null;
  if (decodePool) await warm(decodePool);
  const bigquery = createBigQuerySource({
    ...(decodePool ? { decodePool } : {}),
    projectId: 'sqp-bench',
    apiEndpoint: args.bigqueryUrl,
    retry: { attempts: 3, baseDelayMs: 10, maxDelayMs: 100 },
    poll: { initialDelayMs: 1, maxDelayMs: 10 },
    requestTimeoutMs: 120_000,
    storage: args.storage ? { apiEndpoint: args.storage.endpoint, port: args.storage.port, insecure: true } : null,
  });

  // Settle what start-up allocated, so the baseline is what the process holds at rest.
  (globalThis as { gc?: () => void }).gc?.();
  const rssBaseline = process.memoryUsage.rss();
  let samples = 0;
  let maxGap = 0;
  let last = performance.now();
  let heapUsedPeak = process.memoryUsage().heapUsed;
  let memoryAtPeak = memoryNow();
  const gapTimer = setInterval(() => {
    const now = performance.now();
    maxGap = Math.max(maxGap, now - last);
    last = now;
    samples++;
    const memory = memoryNow();
    heapUsedPeak = Math.max(heapUsedPeak, memory.heapUsed);
    if (memory.rss > memoryAtPeak.rss) memoryAtPeak = memory;
  }, 50);
  const cpu = process.cpuUsage();
  const threadBefore = threadCpuMs();
  const v8HelpersBefore = threadsCpuMs('V8Worker');
  const workersBefore = decodePool?.usage() ?? null;
  let mainGcMs = 0;
  const gc = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) mainGcMs += e.duration;
  });
  gc.observe({ entryTypes: ['gc'] });
  const machineBefore = machineCpu();
  const database = decodeURIComponent(new URL(args.databaseUrl).pathname.slice(1));
  const databaseBefore = databaseProcessesCpu(database);
  const started = performance.now();
  const outcome = await refreshTable(config, {
    pool,
    sources: createSources({ targetUrl: args.databaseUrl, bigquery }),
  });
  const wallMs = performance.now() - started;
  const cpuUsed = process.cpuUsage(cpu);
  const mainCpuMs = threadCpuMs() - threadBefore;
  const v8HelpersAfter = threadsCpuMs('V8Worker');
  const workersAfter = decodePool?.usage() ?? null;
  gc.disconnect();
  await decodePool?.close();
  const machineUsed = machineCpuSince(machineBefore, machineCpu());
  const databaseCpuMs = processesCpuSince(databaseBefore, databaseProcessesCpu(database));
  const final = memoryNow(); // the sampler's last tick may be up to 50 ms old
  if (final.rss > memoryAtPeak.rss) memoryAtPeak = final;
  const rssPeak = memoryAtPeak.rss;
  clearInterval(gapTimer);
  await pool.end();

  const result: ChildResult = {
    wallMs,
    outcome,
    rssBaseline,
    rssPeak,
    rssKernelPeak: kernelPeakRss(),
    samples,
    maxSampleGapMs: Math.round(maxGap),
    heapUsedPeak,
    memoryAtPeak,
    cpuMs: (cpuUsed.user + cpuUsed.system) / 1000,
    machineCpu: machineUsed,
    databaseCpuMs,
    threads: {
      mainCpuMs,
      mainGcMs,
      workers: workersAfter && workersBefore
        ? { ...workersAfter, tasks: workersAfter.tasks - workersBefore.tasks, cpuMs: workersAfter.cpuMs - workersBefore.cpuMs, gcMs: workersAfter.gcMs - workersBefore.gcMs }
        : null,
      v8HelpersMs: v8HelpersBefore === null || v8HelpersAfter === null ? null : v8HelpersAfter - v8HelpersBefore,
    },
  };
  process.stdout.write(`${RESULT_MARKER}${JSON.stringify(result)}\n`);
}

/** This thread's CPU time so far, ms (Node 23.9+). */
function threadCpuMs(): number {
  const u = (process as unknown as { threadCpuUsage(): NodeJS.CpuUsage }).threadCpuUsage();
  return (u.user + u.system) / 1000;
}

/** One small task per worker, so that each has loaded its code before anything is timed. */
async function warm(pool: DecodePool): Promise<void> {
  const page = () => Buffer.from('{"jobComplete":true,"schema":{"fields":[{"name":"a","type":"STRING"}]},"rows":[{"f":[{"v":"x"}]}]}');
  const tasks = Array.from({ length: pool.threads }, () => pool.run('restPage', page(), { encoding: undefined, fields: [], read: { firstRow: 0 } }));
  for (const d of await Promise.all(tasks)) d.release();
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error('refresh-child:', error);
    process.exit(1);
  },
);
