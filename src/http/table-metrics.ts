// The per-table gauges of /metrics: every table's state, latest success, freshness SLA and
// lateness, and the queue depth — all read from the read model (src/runner/state/) at each
// scrape, once for all of them, within a timeout, so that an operator's alert rule is one line
// (docs/prometheus/sqp-refresh.rules.yml) and says what tableHealth, the CLI and the status page
// say.
import type pg from 'pg';
import { Gauge, type Registry } from 'prom-client';
import type { Logger } from '../logger.ts';
import { tableHealth, type TableHealth } from '../runner/state/health.ts';
import { queueDepth } from '../runner/state/table-state.ts';
import { describeError, withTimeout } from './probes.ts';
import type { RetryPolicy } from '../runner/state/planner.ts';

const TABLE_LABELS = ['table_schema', 'table_name'] as const;

/** One read of every table's health per scrape: the gauges collect at once and share it; null when it failed (then they keep their values). */
function healthPerScrape(pool: pg.Pool, options: { now: () => number; timeoutMs: number; logger?: Logger; retry?: () => RetryPolicy | undefined }): () => Promise<TableHealth[] | null> {
  const { now, timeoutMs, logger } = options;
  let pending: Promise<TableHealth[] | null> | null = null;
  const read = async (): Promise<TableHealth[] | null> => {
    try {
      // Without bytes billed: summing the day's audit rows is the costly part, and no gauge here needs it.
      return await withTimeout(tableHealth(pool, new Date(now()), null, { bytes: false, retry: options.retry?.() }), timeoutMs, `no answer within ${timeoutMs} ms`);
    } catch (error) {
      logger?.warn({ error: describeError(error) }, 'metrics: could not read the tables\' state');
      return null;
    } finally {
      pending = null;
    }
  };
  return () => (pending ??= read());
}

/** A gauge per table fact, set from the shared read at each scrape (`value` null: no sample for that table). */
function tableGauge(registers: Registry[], read: () => Promise<TableHealth[] | null>, name: string, help: string, value: (h: TableHealth) => number | null): void {
  new Gauge({
    name,
    help,
    labelNames: TABLE_LABELS,
    registers,
    async collect() {
      const health = await read();
      if (!health) return;
      this.reset(); // a table no longer registered leaves no sample behind
      for (const h of health) {
        const v = value(h);
        if (v !== null) this.set({ table_schema: h.tableSchema, table_name: h.tableName }, v);
      }
    },
  });
}

/** Registers the queue depth and the per-table gauges, read from the read model at each scrape within `timeoutMs`. */
export function registerTableGauges(registers: Registry[], pool: pg.Pool, options: { now: () => number; timeoutMs: number; logger?: Logger; retry?: () => RetryPolicy | undefined }): void {
  const read = healthPerScrape(pool, options);
  new Gauge({
    name: 'sqp_refresh_queue_depth',
    help: 'Tables a runner would start now (due, a retry due, or interrupted; not blocked, not running), all replicas: runnerStatus.queueDepth.',
    registers,
    async collect() {
      const health = await read();
      if (health) this.set(queueDepth(health));
    },
  });
  tableGauge(registers, read, 'sqp_refresh_table_last_success_timestamp_seconds',
    'When the table last refreshed successfully (Unix time); no sample: never.', (h) => (h.lastRefreshAt ? h.lastRefreshAt.getTime() / 1000 : null));
  tableGauge(registers, read, 'sqp_refresh_table_freshness_sla_seconds',
    'The freshness SLA in force: a success is expected within this long of the previous one (its own, or twice its refresh frequency).', (h) => h.freshnessSlaHours * 3600);
  tableGauge(registers, read, 'sqp_refresh_table_late',
    '1 when an enabled, configured table has not refreshed successfully within its freshness SLA, else 0.', (h) => (h.late ? 1 : 0));
  new Gauge({
    name: 'sqp_refresh_table_state',
    help: "1 for each table's state now, as tableHealth says it (running, interrupted, disabled, unconfigured, blocked, failed, retrying, late, due, scheduled); only the current state has a sample.",
    labelNames: [...TABLE_LABELS, 'state'] as const,
    registers,
    async collect() {
      const health = await read();
      if (!health) return;
      this.reset();
      for (const h of health) this.set({ table_schema: h.tableSchema, table_name: h.tableName, state: h.state }, 1);
    },
  });
}
