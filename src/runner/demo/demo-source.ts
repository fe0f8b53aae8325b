// The demo source: with no BigQuery settings, `npm start` refreshes the sqp tables from a
// schema `sqp_demo` in the same database, filled with generated Search Query Performance
// data. Everything is generated inside PostgreSQL (generate_series and a seeded hash, never
// random()), so a few hundred thousand rows take seconds and the same seed gives the same
// rows on every run. The numbers follow the report's funnel (impressions ≥ clicks ≥ cart adds
// ≥ purchases, ASIN ≤ market, shares and rates derived from the counts) so that summaries,
// quality checks and dashboards built on them look like the real thing.
//
// This file builds it: the lock replicas share, the check that makes a second call a no-op,
// the rebuild of sqp_demo, and the source role's grants. The schema and dimensions are
// demo-schema.ts's, the rows demo-rows.ts's, later weeks demo-advance.ts's and the tables'
// params demo-params.ts's.
import type pg from 'pg';
import { quoteIdent } from '../engine/catalog.ts';
import { DEFAULT_SOURCE_ROLE } from '../sources/postgres/source-role.ts';
import { createDemoSchema, type DemoSettings, type Marker, readMarker } from './demo-schema.ts';
import { fillDemoTables, ROW_COUNTS } from './demo-rows.ts';

export interface DemoSourceOptions {
  /** Report weeks (Sunday–Saturday), ending at the last full week before `now`. Default 52. */
  weeks?: number;
  asins?: number;
  queries?: number;
  seed?: number;
  now?: Date;
  /** The role postgres source queries run as (POSTGRES_SOURCE_ROLE): made able to read the demo's tables. Default sqp_refresh_source. */
  sourceRole?: string;
}

export interface DemoSourceResult {
  /** False when a complete sqp_demo with the same options was already there. */
  created: boolean;
  /** Rows per demo table (asin_performance_data, search_query_performance, daily_sqp_data). */
  rows: Record<string, number>;
  /** Time spent generating (0 when nothing was created). */
  ms: number;
}

const DEFAULTS = { weeks: 52, asins: 60, queries: 100, seed: 42 } as const;
/** Held for the whole of a generation or an advance, so that replicas never build sqp_demo twice. */
export const LOCK = `pg_advisory_xact_lock(hashtext('sqp-refresh demo source'))`;

function resolve(options: DemoSourceOptions): DemoSettings {
  const o = {
    weeks: options.weeks ?? DEFAULTS.weeks,
    asins: options.asins ?? DEFAULTS.asins,
    queries: options.queries ?? DEFAULTS.queries,
    seed: options.seed ?? DEFAULTS.seed,
    now: options.now ?? new Date(),
  };
  const check = (name: string, v: number, max: number) => {
    if (!Number.isInteger(v) || v < 1 || v > max) throw new RangeError(`demo source: ${name} must be an integer from 1 to ${max}`);
  };
  check('weeks', o.weeks, 520);
  check('asins', o.asins, 10_000);
  check('queries', o.queries, 10_000);
  if (!Number.isInteger(o.seed) || Math.abs(o.seed) > 2 ** 31 - 1) throw new RangeError('demo source: seed must be a 32-bit integer');
  return o;
}

/** Creates and fills sqp_demo unless a complete one with the same options exists (then a no-op). */
export async function ensureDemoSource(pool: pg.Pool, options: DemoSourceOptions = {}): Promise<DemoSourceResult> {
  const o = resolve(options);
  const same = (m: Marker | null) => m !== null && m.seed === o.seed && m.weeks === o.weeks && m.asins === o.asins && m.queries === o.queries;
  const role = options.sourceRole ?? DEFAULT_SOURCE_ROLE.name;
  const client = await pool.connect();
  try {
    const before = await readMarker(client);
    if (same(before) && (await sourceRoleReady(client, role))) return { created: false, rows: before!.row_counts!, ms: 0 };
    await client.query('BEGIN');
    // Replicas starting together: one generates, the others wait and find it done.
    await client.query(`SELECT ${LOCK}`);
    const locked = await readMarker(client);
    if (same(locked)) {
      await grantSourceRole(client, role);
      await client.query('COMMIT');
      return { created: false, rows: locked!.row_counts!, ms: 0 };
    }
    const { rows, ms } = await generateDemoSource(client, o);
    await grantSourceRole(client, role);
    await client.query('COMMIT');
    return { created: true, rows, ms };
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
}

/** Drops and regenerates sqp_demo in the caller's transaction (which holds LOCK); returns its row counts and the time taken. */
async function generateDemoSource(client: pg.ClientBase, o: DemoSettings): Promise<{ rows: Record<string, number>; ms: number }> {
  const started = performance.now();
  // sqp_demo belongs to the demo: anything there that is not a complete current source goes.
  await client.query('DROP SCHEMA IF EXISTS sqp_demo CASCADE');
  await client.query('CREATE SCHEMA sqp_demo');
  await client.query(`COMMENT ON SCHEMA sqp_demo IS 'Generated demo source of sqp-refresh (src/runner/demo/demo-source.ts); rebuilt at will.'`);
  await createDemoSchema(client, o);
  await fillDemoTables(client, o.now);
  const rows = (await client.query<{ rows: Record<string, number> }>(ROW_COUNTS)).rows[0]!.rows;
  const ms = Math.round(performance.now() - started);
  await client.query(`UPDATE sqp_demo.generated SET generated_at = clock_timestamp(), generation_ms = $1, row_counts = $2`, [ms, rows]);
  return { rows, ms };
}

// The demo's queries are `postgres` sources, and on the embedded default the service is a
// superuser, so they run as the source role (sources/postgres/source-role.ts). That role may
// read the three tables the demo's sources read, and nothing else of sqp_demo. Where the
// service may not create roles (an ordinary role) the queries run as the service itself, so a
// missing role needs nothing; an existing one (POSTGRES_SOURCE_ROLE set) gets the grants.
const SOURCE_TABLES = ['asin_performance_data', 'search_query_performance', 'daily_sqp_data'];

/** Whether the source role can read the demo's source tables, or need not exist. */
async function sourceRoleReady(client: pg.ClientBase, role: string): Promise<boolean> {
  const { rows: [state] } = await client.query<{ present: boolean; can_create: boolean; granted: boolean }>(
    `SELECT r.oid IS NOT NULL AS present,
            (SELECT rolsuper OR rolcreaterole FROM pg_roles WHERE rolname = current_user) AS can_create,
            r.oid IS NOT NULL AND has_schema_privilege(r.oid, 'sqp_demo', 'USAGE')
              AND (SELECT bool_and(has_table_privilege(r.oid, c.oid, 'SELECT')) AND count(*) = cardinality($2::text[])
                   FROM pg_class c WHERE c.relnamespace = 'sqp_demo'::regnamespace AND c.relname = ANY ($2::text[])) AS granted
     FROM (SELECT $1::text AS name) n LEFT JOIN pg_roles r ON r.rolname = n.name`,
    [role, SOURCE_TABLES],
  );
  return state!.granted || (!state!.present && !state!.can_create);
}

/** Creates the source role where missing and allowed, and lets it read the demo's source tables (in the transaction holding LOCK). */
async function grantSourceRole(client: pg.ClientBase, role: string): Promise<void> {
  const { rows: [state] } = await client.query<{ present: boolean; can_create: boolean }>(
    `SELECT EXISTS (SELECT FROM pg_roles WHERE rolname = $1) AS present,
            (SELECT rolsuper OR rolcreaterole FROM pg_roles WHERE rolname = current_user) AS can_create`,
    [role],
  );
  if (!state!.present) {
    if (!state!.can_create) return;
    // Roles belong to the whole server: another database's service (or test) may create it at
    // the same moment, which our advisory lock does not see. Whoever loses finds it made.
    await client.query('SAVEPOINT source_role');
    try {
      await client.query(`CREATE ROLE ${quoteIdent(role)} NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS`);
      await client.query('RELEASE SAVEPOINT source_role');
    } catch (error) {
      const code = (error as { code?: string }).code;
      if (code !== '42710' && code !== '23505') throw error;
      await client.query('ROLLBACK TO SAVEPOINT source_role');
    }
  }
  await client.query(`GRANT USAGE ON SCHEMA sqp_demo TO ${quoteIdent(role)}`);
  await client.query(`GRANT SELECT ON ${SOURCE_TABLES.map((t) => `sqp_demo.${t}`).join(', ')} TO ${quoteIdent(role)}`);
}
