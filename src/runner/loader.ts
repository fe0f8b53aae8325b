// Loads pages into a target table: COPY into a temporary staging table, then one merge
// (INSERT … ON CONFLICT (keys) DO UPDATE … WHERE target IS DISTINCT FROM excluded), so
// unchanged rows are not rewritten and inserted/updated rows are counted exactly.
// The caller owns the transaction: a page's rows and its checkpoint commit together.
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { quoteIdent, type TargetTable } from './catalog.ts';
import { toCopyText } from './copy-text.ts';
import type { SourcePage, TextValue } from './source.ts';

export interface MergeCounts {
  /** Rows staged (read from the source) in this page. */
  staged: number;
  inserted: number;
  updated: number;
  /** Staged rows that shared a key with another staged row (only the last one is kept). */
  duplicates: number;
  /** Staged rows with a NULL key column, per key column (such rows are not loaded). */
  nullKeys: Record<string, number>;
  /** Largest cursor value staged, as text, or null. */
  maxCursor: string | null;
}

export interface LoaderOptions {
  /** Source column names (each must exist in the target). */
  columns: string[];
  keyColumns: string[];
  cursorColumn?: string;
  /** Fully qualified, quoted table that remembers loaded keys (full refresh with deletes). */
  keysTable?: string;
}

const STAGE = 'pg_temp.sqp_refresh_stage';

/** A loader bound to one connection (the run's) and one target table. */
export class PageLoader {
  private readonly cols: string;
  private readonly keys: string;
  private readonly mergeSql: string;
  private readonly fallbackMergeSql: string;

  constructor(
    private readonly client: pg.ClientBase,
    private readonly target: TargetTable,
    private readonly options: LoaderOptions,
  ) {
    const q = (c: string) => quoteIdent(c);
    this.cols = options.columns.map(q).join(', ');
    this.keys = options.keyColumns.map(q).join(', ');
    const nonKey = options.columns.filter((c) => !options.keyColumns.includes(c));
    const targetHas = (c: string) => target.columns.some((col) => col.name === c);
    // A target `updated_at` that the source does not provide records when a row last changed.
    const touch = targetHas('updated_at') && !options.columns.includes('updated_at') ? ', "updated_at" = now()' : '';
    const notNullKeys = options.keyColumns.map((k) => `${q(k)} IS NOT NULL`).join(' AND ');
    const conflict =
      nonKey.length === 0
        ? 'DO NOTHING'
        : `DO UPDATE SET ${nonKey.map((c) => `${q(c)} = EXCLUDED.${q(c)}`).join(', ')}${touch}
           WHERE (${nonKey.map((c) => `t.${q(c)}`).join(', ')}) IS DISTINCT FROM (${nonKey.map((c) => `EXCLUDED.${q(c)}`).join(', ')})`;
    const merge = (select: string) => `
      WITH merged AS (
        INSERT INTO ${target.qualified} AS t (${this.cols})
        ${select}
        ON CONFLICT (${this.keys}) ${conflict}
        RETURNING (xmax = 0) AS inserted
      )
      SELECT count(*) FILTER (WHERE inserted)::int AS inserted, count(*) FILTER (WHERE NOT inserted)::int AS updated FROM merged`;
    // Fast path: no duplicate keys within the page (the usual case), no sort needed.
    this.mergeSql = merge(`SELECT ${this.cols} FROM ${STAGE} WHERE ${notNullKeys}`);
    // When a page repeats a key, ON CONFLICT refuses to touch a row twice: keep the last one.
    this.fallbackMergeSql = merge(
      `SELECT DISTINCT ON (${this.keys}) ${this.cols} FROM ${STAGE} WHERE ${notNullKeys} ORDER BY ${this.keys}, ordinal DESC`,
    );
  }

  /** Creates the staging table on this connection (once per run). */
  async prepare(): Promise<void> {
    const typed = this.options.columns
      .map((c) => {
        const col = this.target.columns.find((t) => t.name === c);
        if (!col) throw new Error(`column ${c} is not in ${this.target.schema}.${this.target.name}`);
        return `${quoteIdent(c)} ${col.type}`;
      })
      .join(', ');
    await this.client.query(`DROP TABLE IF EXISTS ${STAGE}`);
    // `ordinal` keeps the source order, so that the last of duplicate keys wins.
    await this.client.query(
      `CREATE TEMP TABLE sqp_refresh_stage (${typed}, ordinal bigint GENERATED ALWAYS AS IDENTITY) ON COMMIT DELETE ROWS`,
    );
  }

  /** Stages one page of source rows with COPY (inside the caller's transaction). */
  async stageRows(rows: readonly TextValue[][]): Promise<void> {
    if (rows.length === 0) return;
    await this.copy(toCopyText(rows));
  }

  /** Stages a source page: its COPY text when the source wrote it, else its rows. */
  async stagePage(page: SourcePage): Promise<void> {
    if (page.copyText === undefined) return this.stageRows(page.rows);
    if (page.copyText.length > 0) await this.copy(page.copyText);
  }

  private async copy(text: string | Buffer): Promise<void> {
    const stream = this.client.query(copyFrom(`COPY ${STAGE} (${this.cols}) FROM STDIN`));
    await pipeline(Readable.from([text]), stream);
  }

  /** Stages the result of a query run in the target database (sql transforms). */
  async stageQuery(sql: string, params: unknown[]): Promise<void> {
    await this.client.query(`INSERT INTO ${STAGE} (${this.cols}) ${sql}`, params);
  }

  /** Merges the staged rows into the target and reports exact counts. */
  async merge(): Promise<MergeCounts> {
    const q = quoteIdent;
    const facts = await this.client.query<Record<string, string | number | null>>(
      `SELECT count(*)::int AS staged,
              (count(*) - count(*) FILTER (WHERE ${this.options.keyColumns.map((k) => `${q(k)} IS NULL`).join(' OR ')}))::int AS keyed,
              ${this.options.keyColumns.map((k, i) => `count(*) FILTER (WHERE ${q(k)} IS NULL)::int AS null_${i}`).join(', ')}
              ${this.options.cursorColumn ? `, max(${q(this.options.cursorColumn)})::text AS max_cursor` : ''}
       FROM ${STAGE}`,
    );
    const f = facts.rows[0]!;
    const nullKeys: Record<string, number> = {};
    this.options.keyColumns.forEach((k, i) => (nullKeys[k] = Number(f[`null_${i}`] ?? 0)));
    let duplicates = 0;
    let counts: { inserted: number; updated: number };
    await this.client.query('SAVEPOINT sqp_merge');
    try {
      counts = (await this.client.query<{ inserted: number; updated: number }>(this.mergeSql)).rows[0]!;
      await this.client.query('RELEASE SAVEPOINT sqp_merge');
    } catch (error) {
      if ((error as { code?: string }).code !== '21000') throw error;
      await this.client.query('ROLLBACK TO SAVEPOINT sqp_merge');
      const distinct = await this.client.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM (SELECT DISTINCT ${this.keys} FROM ${STAGE} WHERE ${this.options.keyColumns.map((k) => `${q(k)} IS NOT NULL`).join(' AND ')}) d`,
      );
      duplicates = Number(f.keyed) - distinct.rows[0]!.n;
      counts = (await this.client.query<{ inserted: number; updated: number }>(this.fallbackMergeSql)).rows[0]!;
    }
    if (this.options.keysTable) {
      await this.client.query(
        `INSERT INTO ${this.options.keysTable} (${this.keys})
         SELECT ${this.keys} FROM ${STAGE} WHERE ${this.options.keyColumns.map((k) => `${q(k)} IS NOT NULL`).join(' AND ')}
         ON CONFLICT DO NOTHING`,
      );
    }
    return {
      staged: Number(f.staged),
      inserted: counts.inserted,
      updated: counts.updated,
      duplicates,
      nullKeys,
      maxCursor: (f.max_cursor as string | null | undefined) ?? null,
    };
  }
}

/** Creates (or, resuming, keeps) the table remembering a full refresh's loaded keys. */
export async function prepareKeysTable(
  client: pg.ClientBase,
  target: TargetTable,
  keyColumns: string[],
  configId: number,
  keep: boolean,
): Promise<string> {
  const table = `sqp_refresh_work.${quoteIdent(`keys_${configId}`)}`;
  if (!keep) await client.query(`DROP TABLE IF EXISTS ${table}`);
  const typed = keyColumns.map((k) => `${quoteIdent(k)} ${target.columns.find((c) => c.name === k)!.type}`).join(', ');
  await client.query(
    `CREATE TABLE IF NOT EXISTS ${table} (${typed}, PRIMARY KEY (${keyColumns.map(quoteIdent).join(', ')}))`,
  );
  return table;
}

/** Deletes target rows of the window whose keys were not loaded; returns how many. */
export async function deleteMissing(
  client: pg.ClientBase,
  target: TargetTable,
  keyColumns: string[],
  keysTable: string,
  window: { sql: string; params: unknown[] } | null,
): Promise<number> {
  const match = keyColumns.map((k) => `k.${quoteIdent(k)} = t.${quoteIdent(k)}`).join(' AND ');
  const res = await client.query(
    `DELETE FROM ${target.qualified} t
     WHERE ${window ? `(${window.sql}) AND ` : ''}NOT EXISTS (SELECT 1 FROM ${keysTable} k WHERE ${match})`,
    window?.params ?? [],
  );
  return res.rowCount ?? 0;
}
