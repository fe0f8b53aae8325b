// What PostgreSQL alone takes for the rows the engine bench loads, with pg directly: the floor
// the engine is measured against, and the per-row alternative it is measured against too.
//   plainCopy     (b0) COPY into an empty copy of the target, nothing else
//   stageAndMerge (b)  COPY into an UNLOGGED staging table, then ONE merge into the target:
//                      what write–audit–publish must do at least (every row written to the
//                      staging table, then merged), minus everything else the engine does
//   perRowUpserts (c)  one INSERT … ON CONFLICT DO UPDATE per row and round trip
// The COPY text is made before the clock starts (copyTextPages), so that the floor is
// PostgreSQL's time, not the fixture's.
import { performance } from 'node:perf_hooks';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { SQP_COLUMN_NAMES, SQP_KEY, sqpCopyText, sqpRow, type SqpVersion } from './sqp-fixture.ts';
import { databaseProcessesCpu, processesCpuSince } from './support.ts';

const q = (c: string) => `"${c.replaceAll('"', '""')}"`;
const COLS = SQP_COLUMN_NAMES.map(q).join(', ');
const KEYS = SQP_KEY.map(q).join(', ');
const NON_KEY = SQP_COLUMN_NAMES.filter((c) => !SQP_KEY.includes(c));

/**
 * The engine's merge (src/runner/engine/staging.ts), written out for one table: insert the staged
 * rows, update a conflicting row only when a non-key value differs (and then touch
 * updated_at), count inserted and updated rows.
 */
function mergeSql(target: string, stage: string): string {
  return `
    WITH merged AS (
      INSERT INTO ${target} AS t (${COLS})
      SELECT ${COLS} FROM ${stage} WHERE ${SQP_KEY.map((k) => `${q(k)} IS NOT NULL`).join(' AND ')}
      ON CONFLICT (${KEYS}) DO UPDATE SET ${NON_KEY.map((c) => `${q(c)} = EXCLUDED.${q(c)}`).join(', ')}, "updated_at" = now()
      WHERE (${NON_KEY.map((c) => `t.${q(c)}`).join(', ')}) IS DISTINCT FROM (${NON_KEY.map((c) => `EXCLUDED.${q(c)}`).join(', ')})
      RETURNING (xmax = 0) AS inserted
    )
    SELECT count(*) FILTER (WHERE inserted)::int AS inserted, count(*) FILTER (WHERE NOT inserted)::int AS updated FROM merged`;
}

/**
 * What an ORM's upsert sends per row (Prisma's `upsert` becomes one native
 * INSERT … ON CONFLICT DO UPDATE … RETURNING when it can): one parameterised statement, its
 * own implicit transaction, one round trip, the row returned. The SQP data tables are not
 * Prisma models (prisma/schema.prisma models only the five refresh tables), so the Prisma
 * client cannot be used on them; this sends the same kind of statement through pg directly,
 * which is a lower bound on what the ORM would cost (no query engine or mapping on top).
 */
function perRowUpsertSql(target: string): string {
  const placeholders = SQP_COLUMN_NAMES.map((_, i) => `$${i + 1}`).join(', ');
  return `INSERT INTO ${target} AS t (${COLS}) VALUES (${placeholders})
          ON CONFLICT (${KEYS}) DO UPDATE SET ${NON_KEY.map((c) => `${q(c)} = EXCLUDED.${q(c)}`).join(', ')}, "updated_at" = now()
          RETURNING *`;
}

/** Rows [0, rows) of a version as COPY text, in pages of `pageSize` rows, made now. */
export function copyTextPages(rows: number, pageSize: number, version: SqpVersion): Buffer[] {
  const pages: Buffer[] = [];
  for (let from = 0; from < rows; from += pageSize) pages.push(Buffer.from(sqpCopyText(from, Math.min(rows, from + pageSize), version), 'utf8'));
  return pages;
}

/**
 * Starts a timed phase from the same state wherever it runs (floor or engine): `table`
 * vacuumed and analysed (hint bits set, visibility map up to date: the first reader of 1M
 * freshly written rows would otherwise pay for that, and which phase that is would be luck),
 * then no dirty buffers left behind (CHECKPOINT; needs superuser or pg_checkpoint, else skipped).
 */
export async function settle(pool: pg.Pool, table?: string): Promise<void> {
  if (table) await pool.query(`VACUUM (ANALYZE) ${table}`);
  await pool.query('CHECKPOINT').catch(() => undefined);
}

/** (b0) One COPY of every page into `table` (an empty copy of the target); resolves with its time. */
export async function plainCopy(pool: pg.Pool, table: string, pages: readonly Buffer[]): Promise<number> {
  const client = await pool.connect();
  try {
    const started = performance.now();
    await pipeline(Readable.from(pages), client.query(copyFrom(`COPY ${table} (${COLS}) FROM STDIN`)));
    return performance.now() - started;
  } finally {
    client.release();
  }
}

export interface FloorRun {
  copyMs: number;
  mergeMs: number;
  ms: number;
  /** CPU time of the database's PostgreSQL processes during the COPY and during the merge. */
  copyCpuMs: number;
  mergeCpuMs: number;
  inserted: number;
  updated: number;
}

/** The columns of the target with their types, for a staging table like the engine's. */
async function typedColumns(pool: pg.Pool, table: string): Promise<string> {
  const { rows } = await pool.query<{ name: string; type: string }>(
    `SELECT attname AS name, format_type(atttypid, atttypmod) AS type FROM pg_attribute
     WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum`,
    [table],
  );
  return SQP_COLUMN_NAMES.map((c) => `${q(c)} ${rows.find((r) => r.name === c)!.type}`).join(', ');
}

/**
 * (b) Every page COPYed into a new UNLOGGED staging table `stage` (one COPY), then ONE merge
 * into `target`: the floor of a write–audit–publish refresh. The staging table is dropped after.
 */
export async function stageAndMerge(pool: pg.Pool, database: string, target: string, stage: string, pages: readonly Buffer[]): Promise<FloorRun> {
  await pool.query(`DROP TABLE IF EXISTS ${stage}`);
  await pool.query(`CREATE UNLOGGED TABLE ${stage} (${await typedColumns(pool, target)})`);
  await settle(pool);
  const client = await pool.connect();
  try {
    const cpuStart = databaseProcessesCpu(database);
    const started = performance.now();
    await pipeline(Readable.from(pages), client.query(copyFrom(`COPY ${stage} (${COLS}) FROM STDIN`)));
    const copied = performance.now();
    const cpuCopied = databaseProcessesCpu(database);
    const counts = (await client.query<{ inserted: number; updated: number }>(mergeSql(target, stage))).rows[0]!;
    const merged = performance.now();
    const cpuMerged = databaseProcessesCpu(database);
    return {
      copyMs: copied - started, mergeMs: merged - copied, ms: merged - started,
      copyCpuMs: processesCpuSince(cpuStart, cpuCopied), mergeCpuMs: processesCpuSince(cpuCopied, cpuMerged),
      ...counts,
    };
  } finally {
    client.release();
    await pool.query(`DROP TABLE IF EXISTS ${stage}`);
  }
}

/** (c) one upsert statement per row of version 1, awaited one after the other, into `table`. */
export async function perRowUpserts(pool: pg.Pool, table: string, rows: number): Promise<{ ms: number }> {
  const client = await pool.connect();
  try {
    const text = perRowUpsertSql(table);
    const started = performance.now();
    for (let i = 0; i < rows; i++) await client.query(text, sqpRow(i));
    return { ms: performance.now() - started };
  } finally {
    client.release();
  }
}
