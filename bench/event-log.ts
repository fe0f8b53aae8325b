// What the event log (migration 042, src/subscriptions/event-log.ts) costs:
//  - the write cost per event: one event per statement (an idle runner's lone event), and in
//    batches of 100 (what the writer sends under load: everything queued while one batch was in
//    flight), each its own transaction with the log's lock, ids, rows, indexes and NOTIFY;
//  - its size: bytes per event (table, indexes and TOAST over the rows) for the events of a run
//    as the runner emits them (started, 12 progress, 3 quality metrics, finished);
//  - its size per day at the demo's rate: the runs a day the demo's configs ask for (the seed's
//    tables, each every refresh_frequency_hours) times the events of such a run.
// No targets: reference figures for the README's note.
import pg from 'pg';
import { appendEvents } from '../src/subscriptions/event-log.ts';
import type { RefreshEvent } from '../src/subscriptions/events.ts';
import type { Bench, Figure } from './support.ts';

const SINGLE = 1_000;
const BATCHES = 200;
const BATCH = 100;

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** The events of one run, as the runner emits them (progress already throttled). */
function runEvents(runId: number): RefreshEvent[] {
  const ref = { configId: 1, tableSchema: 'sqp', tableName: 'asin_performance_data', runId };
  const at = new Date().toISOString();
  const progress = Array.from({ length: 12 }, (_, i): RefreshEvent => ({
    type: 'run:progress', ...ref, phase: i < 10 ? 'writing' : i === 10 ? 'auditing' : 'publishing', page: i + 1,
    rowsProcessed: (i + 1) * 50_000, totalRows: 500_000, percent: Math.min(100, (i + 1) * 10), rowsPerSecond: 41_234.5, etaSeconds: 12.3, at,
  }));
  const quality = ['row_count', 'row_count_change', 'null_ratio'].map((metricName): RefreshEvent => ({ type: 'quality:recorded', ...ref, metricName, value: 0.0123, isWithinThreshold: true, at }));
  return [
    { type: 'run:started', ...ref, resumed: false, mode: 'incremental', at },
    ...progress,
    ...quality,
    { type: 'run:finished', ...ref, status: 'success', outcome: 'completed', rowsProcessed: 500_000, errorMessage: null, at },
  ];
}

/** Milliseconds of each call of `f`, `n` times one after the other. */
async function timed(n: number, f: (i: number) => Promise<unknown>): Promise<number[]> {
  const ms: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await f(i);
    ms.push(performance.now() - t);
  }
  return ms;
}

export const eventLogBench: Bench = {
  name: 'event-log',
  description: 'the event log: write cost per event (single and batched), bytes per event, size per day at the demo rate',
  async run({ databaseUrl, log }) {
    const pool = new pg.Pool({ connectionString: databaseUrl, max: 2 });
    try {
      const sample = runEvents(1);
      const single = await timed(SINGLE, (i) => appendEvents(pool, [sample[i % sample.length]!]));
      log(`single: median ${median(single).toFixed(3)} ms per event`);
      const batched = await timed(BATCHES, (i) => appendEvents(pool, Array.from({ length: BATCH }, (_, j) => sample[(i * BATCH + j) % sample.length]!)));
      log(`batched: median ${(median(batched) / BATCH).toFixed(4)} ms per event`);
      // The size of a log of whole runs: clear, write 2,000 runs, measure after VACUUM.
      await pool.query('TRUNCATE sqp_refresh_work.refresh_events');
      for (let r = 0; r < 2_000; r += 10) await appendEvents(pool, Array.from({ length: 10 }, (_, k) => runEvents(r + k)).flat());
      await pool.query('VACUUM ANALYZE sqp_refresh_work.refresh_events');
      const { rows: [size] } = await pool.query<{ bytes: string; n: string }>(
        `SELECT pg_total_relation_size('sqp_refresh_work.refresh_events')::text AS bytes, (SELECT count(*) FROM sqp_refresh_work.refresh_events)::text AS n`);
      const perEvent = Number(size!.bytes) / Number(size!.n);
      const { rows: [demo] } = await pool.query<{ runs: number }>(
        `SELECT sum(24.0 / refresh_frequency_hours)::float AS runs FROM sqp.refresh_config WHERE table_schema = 'sqp'`);
      const eventsPerDay = demo!.runs * sample.length;
      return figures(median(single), median(batched) / BATCH, perEvent, demo!.runs, eventsPerDay);
    } finally {
      await pool.end();
    }
  },
};

function figures(singleMs: number, batchedMs: number, bytesPerEvent: number, runsPerDay: number, eventsPerDay: number): Figure[] {
  return [
    { id: 'event_write_single_ms', label: 'Event log: write cost per event, one per statement (median)', value: round(singleMs, 3), unit: 'ms' },
    { id: 'event_write_batched_ms', label: `Event log: write cost per event, batches of ${BATCH} (median)`, value: round(batchedMs, 4), unit: 'ms' },
    { id: 'event_bytes', label: 'Event log: bytes per event (table + indexes, a run\'s mix)', value: Math.round(bytesPerEvent), unit: 'B' },
    {
      id: 'event_log_demo_day_kb', label: 'Event log: size per day at the demo rate', value: round((eventsPerDay * bytesPerEvent) / 1024, 1), unit: 'KiB',
      note: `${round(runsPerDay, 1)} runs a day (the seed's tables at their refresh_frequency_hours) × ${eventsPerDay / runsPerDay} events a run = ${Math.round(eventsPerDay)} events`,
    },
  ];
}

const round = (x: number, digits: number) => Math.round(x * 10 ** digits) / 10 ** digits;
