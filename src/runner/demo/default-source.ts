// demo/ — the embedded default: with no BigQuery settings, the seed's tables refresh from a
// generated demo source inside the target database, so a fresh machine shows real refreshes.
// This file is the entry the service uses; demo-source.ts builds sqp_demo (demo-schema.ts,
// demo-rows.ts), demo-advance.ts adds later weeks, demo-params.ts points the tables at it.
// May import: pg, engine/catalog.ts (quoteIdent), params/sync-params.ts (the tables' params:
// their type and parser), state/schedule-writer.ts (configured tables become due),
// sources/postgres/source-role.ts (the default source role's name) and the Config and Logger
// types; only service.ts and run-once.ts import demo/.
import type pg from 'pg';
import type { Config } from '../../config.ts';
import type { Logger } from '../../logger.ts';
import { ensureDemoSource } from './demo-source.ts';
import { advanceDemoSource } from './demo-advance.ts';
import { applyDemoSyncParams } from './demo-params.ts';

/** Creates the demo source and points unconfigured tables at it, when BigQuery is not set up. */
export async function prepareDefaultSource(config: Config, pool: pg.Pool, logger: Logger): Promise<void> {
  if (config.bigquery) return;
  const started = Date.now();
  // The demo's tables are read by `postgres` sources: the source role (POSTGRES_SOURCE_ROLE) is
  // created where missing and allowed, and may read them (demo-source.ts, source-role.ts).
  const demo = await ensureDemoSource(pool, { weeks: config.demo.weeks, sourceRole: config.postgresSourceRole.name });
  // New weeks arrive while the service was away: late data for the incremental refreshes.
  if (!demo.created) await advanceDemoSource(pool);
  const updated = await applyDemoSyncParams(pool);
  if (updated.length) {
    // The seed links only three summaries to their parent; the demo computes quarterly and
    // yearly summaries from it too, so they must wait for it as well.
    await pool.query(`
      INSERT INTO sqp.refresh_dependencies (parent_config_id, dependent_config_id)
      SELECT p.id, d.id FROM sqp.refresh_config p JOIN sqp.refresh_config d
        ON p.table_schema = 'sqp' AND p.table_name = 'asin_performance_data'
       AND d.table_schema = 'sqp' AND d.table_name IN ('quarterly_summary', 'yearly_summary')
      ON CONFLICT DO NOTHING`);
  }
  logger.warn(
    { created: demo.created, rows: demo.rows, configured: updated, ms: Date.now() - started },
    'DEMO SOURCE: no BIGQUERY_PROJECT_ID is set, so tables refresh from generated data in schema sqp_demo. ' +
      'Set BIGQUERY_PROJECT_ID (and GOOGLE_APPLICATION_CREDENTIALS, BIGQUERY_LOCATION) and give each table a ' +
      '`bigquery` source in custom_sync_params to refresh from BigQuery.',
  );
}
