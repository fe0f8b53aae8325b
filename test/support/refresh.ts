// Helpers for engine tests: configs from the database, checksums of tables.
import pg from 'pg';
import type { RefreshConfigRow } from '../../src/runner/refresh-table.ts';

/** Reads a config row as the runner would. */
export async function loadConfig(pool: pg.Pool, table: string, schema = 'sqp'): Promise<RefreshConfigRow> {
  const { rows } = await pool.query(
    `SELECT id, table_schema AS "tableSchema", table_name AS "tableName", custom_sync_params AS "customSyncParams",
            refresh_frequency_hours AS "refreshFrequencyHours", next_refresh_at AS "nextRefreshAt"
     FROM sqp.refresh_config WHERE table_schema = $1 AND table_name = $2`,
    [schema, table],
  );
  if (!rows[0]) throw new Error(`no config for ${schema}.${table}`);
  return rows[0];
}

/** Row count and an order-independent checksum of the given columns of a table or query. */
export async function tableChecksum(pool: pg.Pool, relation: string, columns: string[]): Promise<{ rows: number; checksum: string }> {
  const row = `md5(concat_ws('|', ${columns.map((c) => `${c}::text`).join(', ')}))`;
  const { rows } = await pool.query<{ n: string; sum: string }>(
    `SELECT count(*)::text AS n, coalesce(sum(('x' || substr(${row}, 1, 15))::bit(60)::bigint), 0)::text AS sum FROM ${relation}`,
  );
  return { rows: Number(rows[0]!.n), checksum: rows[0]!.sum };
}
