// Helpers for engine tests: configs from the database, checksums of tables.
import pg from 'pg';
import type { RefreshConfigRow } from '../../src/runner/engine/refresh-table.ts';
import { selectConfig } from '../../src/runner/scheduler/sql.ts';

/** Reads a config row as the runner would. */
export async function loadConfig(pool: pg.Pool, table: string, schema = 'sqp'): Promise<RefreshConfigRow> {
  const row = await selectConfig(pool, schema, table);
  if (!row) throw new Error(`no config for ${schema}.${table}`);
  return row;
}

/** Row count and an order-independent checksum of the given columns of a table or query. */
export async function tableChecksum(pool: pg.Pool, relation: string, columns: string[]): Promise<{ rows: number; checksum: string }> {
  const row = `md5(concat_ws('|', ${columns.map((c) => `${c}::text`).join(', ')}))`;
  const { rows } = await pool.query<{ n: string; sum: string }>(
    `SELECT count(*)::text AS n, coalesce(sum(('x' || substr(${row}, 1, 15))::bit(60)::bigint), 0)::text AS sum FROM ${relation}`,
  );
  return { rows: Number(rows[0]!.n), checksum: rows[0]!.sum };
}
