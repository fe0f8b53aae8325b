// The runner's tick at scale: 10,000 configs, 20,000 dependency edges, 1,000,000 audit rows.
// The runner's tick is what one pass decides: the catalog scan for new tables, the due
// selection (ordered by dependency depth, priority, how overdue), then the planner over the
// due tables and their parents (who is blocked, in which order) — exactly what
// src/runner/scheduler/runner.ts does. The whole 24-hour plan of every table (what refreshPlan(24)
// computes) is measured beside it.
// The configs are 10,000 real tables of sqp (id int PRIMARY KEY, v text: four relations each
// in pg_class), on a database without the event trigger, so the catalog scan does its whole
// work on every tick, as where the role is not superuser (migration 036).
// Target: median ≤ 50 ms, and EXPLAIN shows the due query using the seed's partial index.
import pg from 'pg';
import { registerCreatedTables } from '../src/runner/scheduler/catalog-scan.ts';
import { loadDuePlanInput, loadPlanInput } from '../src/runner/state/plan-input.ts';
import { planRefreshes } from '../src/runner/state/planner.ts';
import { dueDepths, selectDue } from '../src/runner/scheduler/sql.ts';
import type { Bench, Figure } from './support.ts';

const CONFIGS = 10_000;
const EDGES = 20_000;
const AUDIT_ROWS = 1_000_000;
const TICKS = 21;
/** Tables created after the first scan: what one scan registers. */
const NEW_TABLES = 100;
/** Tables per CREATE batch: each holds 4 relation locks until its transaction ends. */
const CREATE_BATCH = 250;

/** Creates sqp.tick_t<from..to> in batches (one transaction each). */
async function createTables(pool: pg.Pool, from: number, to: number): Promise<void> {
  for (let lo = from; lo <= to; lo += CREATE_BATCH) {
    await pool.query(`DO $$ BEGIN FOR g IN ${lo}..${Math.min(to, lo + CREATE_BATCH - 1)} LOOP
      EXECUTE format('CREATE TABLE sqp.%I (id int PRIMARY KEY, v text)', 'tick_t' || g); END LOOP; END $$`);
  }
}

export const tickBench: Bench = {
  name: 'tick',
  description: `runner tick: ${CONFIGS.toLocaleString('en-US')} configs, ${EDGES.toLocaleString('en-US')} edges, ${AUDIT_ROWS.toLocaleString('en-US')} audit rows`,
  async run(ctx) {
    const pool = new pg.Pool({ connectionString: ctx.databaseUrl, max: 4 });
    try {
      ctx.log('seeding …');
      // As on a database whose role is not superuser: no event trigger, the catalog scan registers.
      await pool.query(`DROP EVENT TRIGGER IF EXISTS auto_register_refresh_tables`);
      const tCreate = performance.now();
      await createTables(pool, 1, CONFIGS);
      ctx.log(`created ${CONFIGS} tables in sqp in ${Math.round(performance.now() - tCreate)} ms`);
      // 1% of the tables due now, the rest spread over the next 30 days; an acyclic graph
      // (edges only from lower to higher ids); 100 audit rows per config.
      await pool.query(`
        INSERT INTO sqp.refresh_config (table_schema, table_name, priority, next_refresh_at, custom_sync_params)
        SELECT 'sqp', 'tick_t' || g, (g * 7919) % 1000, CASE WHEN g % 100 = 0 THEN now() - interval '5 minutes'
               ELSE now() + ((g * 104729) % 43200) * interval '1 minute' END,
               '{"source":{"type":"sql","transform":"weekly_summary"}}'
        FROM generate_series(1, ${CONFIGS}) g`);
      await pool.query(`ALTER TABLE sqp.refresh_dependencies DISABLE TRIGGER USER`); // bulk seed: checks off
      await pool.query(`
        INSERT INTO sqp.refresh_dependencies (parent_config_id, dependent_config_id, dependency_type)
        SELECT DISTINCT ON (p, d) p, d, CASE WHEN i % 5 = 0 THEN 'soft' ELSE 'hard' END FROM (
          SELECT i, lo.id AS p, hi.id AS d FROM generate_series(1, ${EDGES * 2}) i
          CROSS JOIN LATERAL (SELECT min(id) AS m FROM sqp.refresh_config WHERE table_name LIKE 'tick\\_t%') b
          CROSS JOIN LATERAL (SELECT b.m + (i * 7919) % ${CONFIGS - 10} AS id) lo
          CROSS JOIN LATERAL (SELECT lo.id + 1 + (i / ${CONFIGS - 10}) % 9 AS id) hi
        ) x ORDER BY p, d LIMIT ${EDGES}`);
      await pool.query(`ALTER TABLE sqp.refresh_dependencies ENABLE TRIGGER USER`);
      await pool.query(`
        INSERT INTO sqp.refresh_audit_log (refresh_config_id, table_schema, table_name, refresh_started_at, refresh_completed_at, status, error_details)
        SELECT c.id, c.table_schema, c.table_name, now() - (r || ' hours')::interval, now() - (r || ' hours')::interval + interval '30 s',
               CASE WHEN (c.id + r) % 17 = 0 THEN 'failed' ELSE 'success' END,
               CASE WHEN (c.id + r) % 17 = 0 THEN '{"retryable":true}'::jsonb END
        FROM sqp.refresh_config c, generate_series(1, ${AUDIT_ROWS / CONFIGS}) r WHERE c.table_name LIKE 'tick\\_t%'`);
      await pool.query('ANALYZE');
      const counts = (await pool.query(`SELECT (SELECT count(*) FROM sqp.refresh_config)::int AS c, (SELECT count(*) FROM sqp.refresh_dependencies)::int AS e, (SELECT count(*) FROM sqp.refresh_audit_log)::int AS a`)).rows[0];
      ctx.log(`seeded ${counts.c} configs, ${counts.e} edges, ${counts.a} audit rows`);

      const explain = await pool.query(
        `EXPLAIN SELECT id FROM sqp.refresh_config WHERE is_enabled AND next_refresh_at <= now()`,
      );
      const plan = explain.rows.map((r) => r['QUERY PLAN']).join('\n');
      const usesIndex = /idx_refresh_config_next_refresh/.test(plan);

      // The first scan after migration 036 looks at every table once (all registered already).
      const tFirst = performance.now();
      const firstFound = await registerCreatedTables(pool);
      const firstScan = performance.now() - tFirst;
      if (firstFound.length) throw new Error(`the first scan registered ${firstFound.length} tables that had configs`);
      await createTables(pool, CONFIGS + 1, CONFIGS + NEW_TABLES);
      const tNew = performance.now();
      const found = await registerCreatedTables(pool);
      const newScan = performance.now() - tNew;
      if (found.length !== NEW_TABLES) throw new Error(`the scan registered ${found.length} of ${NEW_TABLES} new tables`);

      const times: { tick: number; scan: number; load: number; plan: number; dueCount: number; items: number }[] = [];
      for (let i = 0; i < TICKS; i++) {
        const t0 = performance.now();
        if ((await registerCreatedTables(pool)).length) throw new Error('a scan with nothing new registered tables');
        const tScanned = performance.now();
        const due = await selectDue(pool, new Date(), []);
        const dueInput = await loadDuePlanInput(pool, new Date(), due.map((c) => c.id), new Set());
        dueDepths(due.map((c) => c.id), dueInput.edges);
        const decided = planRefreshes(dueInput);
        const t1 = performance.now();
        if (decided.items.length < due.length) throw new Error('the tick plan lost due tables');
        const input = await loadPlanInput(pool, new Date(), 24);
        const tLoaded = performance.now();
        const result = planRefreshes(input);
        const t2 = performance.now();
        times.push({ tick: t1 - t0, scan: tScanned - t0, load: tLoaded - t1, plan: t2 - tLoaded, dueCount: due.length, items: result.items.length });
      }
      const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
      const total = median(times.map((t) => t.load + t.plan));
      const tick = median(times.map((t) => t.tick));
      const figures: Figure[] = [
        {
          id: 'tick_runner_ms', label: `runner tick: catalog scan + due selection + plan of the due tables and their parents (${times[0]!.dueCount} due of ${counts.c})`,
          value: Math.round(tick * 10) / 10, unit: 'ms', target: '≤ 50 ms', pass: tick <= 50,
        },
        { id: 'tick_catalog_scan_ms', label: `catalog scan of ${CONFIGS.toLocaleString('en-US')} registered tables in sqp, nothing new (part of the tick), median`, value: Math.round(median(times.map((t) => t.scan)) * 10) / 10, unit: 'ms' },
        { id: 'tick_catalog_scan_first_ms', label: `first catalog scan after migration 036 (every table looked at once)`, value: Math.round(firstScan * 10) / 10, unit: 'ms' },
        { id: 'tick_catalog_scan_new_ms', label: `catalog scan registering ${NEW_TABLES} new tables among ${CONFIGS.toLocaleString('en-US')}`, value: Math.round(newScan * 10) / 10, unit: 'ms' },
        { id: 'tick_load_ms', label: 'load configs, edges and latest runs', value: Math.round(median(times.map((t) => t.load)) * 10) / 10, unit: 'ms' },
        { id: 'tick_plan_ms', label: `plan of the next 24 h (${times[0]!.items} items, pure function)`, value: Math.round(median(times.map((t) => t.plan)) * 10) / 10, unit: 'ms' },
        {
          id: 'tick_full_plan_ms', label: `the whole 24 h plan of every table (what refreshPlan(24) computes), median of ${TICKS}`,
          value: Math.round(total * 10) / 10, unit: 'ms',
        },
        { id: 'tick_due_uses_index', label: 'EXPLAIN of the due query uses idx_refresh_config_next_refresh', value: usesIndex ? 1 : 0, unit: '', shown: usesIndex ? 'yes' : `no:\n${plan}`, target: 'index use', pass: usesIndex },
      ];
      return figures;
    } finally {
      await pool.end();
    }
  },
};
