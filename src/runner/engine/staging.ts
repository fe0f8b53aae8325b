// The staging table of a load and what is done with it. WRITE: pages are COPYed into a
// staging table of the run's own in the service's work schema (sqp_refresh_work."stage_<config
// id>"), each page committed with its checkpoint, the target untouched; the table is
// persistent, so a run resumes across processes, and UNLOGGED: rows written once and published
// once need no WAL. A PostgreSQL crash resets an unlogged table to empty while its checkpoint
// says otherwise, so every resume compares the staged rows with the checkpoint (start.ts) and
// loads again when they differ: never published short (test/staging-crash.test.ts).
// AUDIT reads it (facts, whether it would change anything: audit.ts); PUBLISH applies it inside the caller's transaction
// (publish.ts): a plain INSERT into an empty target, else one merge (INSERT … ON CONFLICT (keys)
// DO UPDATE … WHERE target IS DISTINCT FROM excluded) that counts inserted and updated rows
// exactly, then the window's rows missing from the load are deleted.
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { quoteIdent, quoteLiteral, type TargetTable } from './catalog.ts';
import { toCopyText } from '../sources/copy-text.ts';
import type { SourcePage } from '../sources/source.ts';

/** What one scan of the staged rows tells. */
export interface StagedFacts {
  /** Rows staged (read from the source) in the load. */
  staged: number;
  /** Staged rows with a NULL key column, per key column (such rows are not loaded). */
  nullKeys: Record<string, number>;
  /** Largest cursor value staged, as text, or null. */
  maxCursor: string | null;
}

export interface LoaderOptions {
  /** The table's config id: names its staging table. */
  configId: number;
  /** Source column names (each must exist in the target). */
  columns: string[];
  keyColumns: string[];
  cursorColumn?: string;
}

/** Rows of the load first looked up one by one for a change (see wouldChange). */
const SAMPLE_ROWS = 10_000;

/** The staging table of a config (quoted, schema-qualified). */
function stagingTable(configId: number): string {
  return `sqp_refresh_work.${quoteIdent(`stage_${configId}`)}`;
}

/** Rows in a config's staging table, or null when it does not exist (read through pg_tables: no stale catalog cache). */
export async function stagedRowCount(client: pg.ClientBase, configId: number): Promise<number | null> {
  const { rows } = await client.query(`SELECT 1 FROM pg_tables WHERE schemaname = 'sqp_refresh_work' AND tablename = $1`, [`stage_${configId}`]);
  if (!rows.length) return null;
  const { rows: [n] } = await client.query<{ n: string }>(`SELECT count(*)::text AS n FROM ${stagingTable(configId)}`);
  return Number(n!.n);
}

/** A load bound to one connection (the run's), one target table and its staging table. */
export class StagedLoad {
  readonly stage: string;
  private readonly cols: string;
  private readonly keys: string;
  private readonly mergeSql: string;
  private readonly fallbackMergeSql: string;
  private readonly bulkSql: string;
  private readonly sampleChangeSql: string;
  private readonly anyChangeSql: string;
  private readonly notNullKeys: string;

  constructor(
    private readonly client: pg.ClientBase,
    private readonly target: TargetTable,
    private readonly options: LoaderOptions,
  ) {
    const q = (c: string) => quoteIdent(c);
    const STAGE = stagingTable(options.configId);
    this.stage = STAGE;
    this.cols = options.columns.map(q).join(', ');
    this.keys = options.keyColumns.map(q).join(', ');
    const nonKey = options.columns.filter((c) => !options.keyColumns.includes(c));
    const targetHas = (c: string) => target.columns.some((col) => col.name === c);
    // A target `updated_at` that the source does not provide records when a row last changed.
    const touch = targetHas('updated_at') && !options.columns.includes('updated_at') ? ', "updated_at" = now()' : '';
    const notNullKeys = options.keyColumns.map((k) => `${q(k)} IS NOT NULL`).join(' AND ');
    this.notNullKeys = notNullKeys;
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
    // An empty target: a plain INSERT, no conflict handling (a repeated key fails it with
    // 23505 and the merge below takes over, keeping the last of each key).
    this.bulkSql = `INSERT INTO ${target.qualified} (${this.cols}) SELECT ${this.cols} FROM ${STAGE} WHERE ${notNullKeys}`;
    const joined = options.keyColumns.map((k) => `t.${q(k)} = s.${q(k)}`).join(' AND ');
    const changed = nonKey.length === 0 ? 'false'
      : `(${nonKey.map((c) => `t.${q(c)}`).join(', ')}) IS DISTINCT FROM (${nonKey.map((c) => `s.${q(c)}`).join(', ')})`;
    // A staged row that the publish would write: its key is new, or a value differs (the
    // merge's own test: IS DISTINCT FROM on the source's non-key columns).
    const writes = `t.ctid IS NULL OR ${changed}`;
    const keyed = options.keyColumns.map((k) => `s.${q(k)} IS NOT NULL`).join(' AND ');
    // The first rows of the load, each looked up by the target's key: where anything changed,
    // usually a change among them, found in milliseconds.
    this.sampleChangeSql = `
      SELECT EXISTS (SELECT 1 FROM (SELECT * FROM ${STAGE} s WHERE ${keyed} LIMIT ${SAMPLE_ROWS}) s
                     LEFT JOIN ${target.qualified} t ON ${joined} WHERE ${writes}) AS c`;
    // All of them, in one hash join of stage and target (a lookup per row costs more).
    this.anyChangeSql = `
      SELECT count(*) FILTER (WHERE ${writes})::int > 0 AS c
      FROM ${STAGE} s LEFT JOIN ${target.qualified} t ON ${joined} WHERE ${keyed}`;
    // When the load repeats a key, ON CONFLICT refuses to touch a row twice: keep the last one.
    this.fallbackMergeSql = merge(
      `SELECT DISTINCT ON (${this.keys}) ${this.cols} FROM ${STAGE} WHERE ${notNullKeys} ORDER BY ${this.keys}, ordinal DESC`,
    );
  }

  /** Creates the staging table, empty (a new load; a previous load's rows go). */
  async create(): Promise<void> {
    const typed = this.options.columns
      .map((c) => {
        const col = this.target.columns.find((t) => t.name === c);
        if (!col) throw new Error(`column ${c} is not in ${this.target.schema}.${this.target.name}`);
        return `${quoteIdent(c)} ${col.type}`;
      })
      .join(', ');
    // One round trip. `ordinal` keeps the source order, so that the last of duplicate keys wins.
    await this.client.query(`
      DROP TABLE IF EXISTS ${this.stage};
      CREATE UNLOGGED TABLE ${this.stage} (${typed}, ordinal bigint GENERATED ALWAYS AS IDENTITY);
      COMMENT ON TABLE ${this.stage} IS ${quoteLiteral(`sqp-refresh: rows of a refresh of ${this.target.qualified} not yet published (kept after a blocked publish for inspection)`)}`);
  }

  /** Drops the staging table (after a publish). */
  async drop(): Promise<void> {
    await this.client.query(`DROP TABLE IF EXISTS ${this.stage}`);
  }

  /** Stages a source page with COPY (inside the caller's transaction): its COPY text when the source wrote it, else its rows. Resolves with the rows staged. */
  async stagePage(page: SourcePage): Promise<number> {
    const text = page.copyText ?? (page.rows.length ? toCopyText(page.rows) : '');
    if (text.length === 0) return 0;
    const stream = this.client.query(copyFrom(`COPY ${this.stage} (${this.cols}) FROM STDIN`));
    await pipeline(Readable.from([text]), stream);
    return stream.rowCount;
  }

  /** Stages the result of a query run in the target database (sql transforms); resolves with the rows staged. */
  async stageQuery(sql: string, params: unknown[]): Promise<number> {
    return (await this.client.query(`INSERT INTO ${this.stage} (${this.cols}) ${sql}`, params)).rowCount ?? 0;
  }

  /** Rows in the target now (before the publish: what delete_ratio is measured against). */
  async targetRows(): Promise<number> {
    const { rows: [n] } = await this.client.query<{ n: string }>(`SELECT count(*)::text AS n FROM ${this.target.qualified}`);
    return Number(n!.n);
  }

  /** One scan of the staged rows: how many, NULL keys per key column, the largest cursor value. */
  async facts(): Promise<StagedFacts> {
    const q = quoteIdent;
    const { rows: [f] } = await this.client.query<Record<string, string | number | null>>(
      `SELECT count(*)::int AS staged,
              ${this.options.keyColumns.map((k, i) => `count(*) FILTER (WHERE ${q(k)} IS NULL)::int AS null_${i}`).join(', ')}
              ${this.options.cursorColumn ? `, max(${q(this.options.cursorColumn)})::text AS max_cursor` : ''}
       FROM ${this.stage}`,
    );
    const nullKeys: Record<string, number> = {};
    this.options.keyColumns.forEach((k, i) => (nullKeys[k] = Number(f![`null_${i}`] ?? 0)));
    return { staged: Number(f!.staged), nullKeys, maxCursor: (f!.max_cursor as string | null | undefined) ?? null };
  }

  /** Whether the target has no rows (the publish takes the bulk path). */
  async targetIsEmpty(): Promise<boolean> {
    return (await this.client.query(`SELECT 1 FROM ${this.target.qualified} LIMIT 1`)).rowCount === 0;
  }

  /**
   * Whether publishing the load would write anything to the target (a row to insert or to
   * update), measured without writing: a sample first, then, when it finds none, every row.
   */
  async wouldChange(keyedRows: number): Promise<boolean> {
    if ((await this.client.query<{ c: boolean }>(this.sampleChangeSql)).rows[0]!.c) return true;
    // A small load (an incremental one, say) was looked at whole: no join with a large target.
    if (keyedRows <= SAMPLE_ROWS) return false;
    return (await this.client.query<{ c: boolean }>(this.anyChangeSql)).rows[0]!.c;
  }

  /**
   * Staged rows beyond the first of their key (keys the load repeats). A grouping, whatever
   * the data: a join of the stage with itself is quicker when no key repeats, but it counts
   * n² pairs for a key repeated n times, and under EXISTS the planner takes a fast-start nested
   * loop that is quadratic on an unindexed stage (a chaos test hung on 200,000 rows).
   */
  async duplicates(): Promise<number> {
    const { rows: [d] } = await this.client.query<{ n: number }>(
      `SELECT coalesce(sum(n - 1), 0)::int AS n FROM (SELECT count(*) AS n FROM ${this.stage} WHERE ${this.notNullKeys} GROUP BY ${this.keys} HAVING count(*) > 1) d`,
    );
    return d!.n;
  }

  /**
   * Applies the staged rows to the target (the caller's transaction): a plain INSERT into an
   * empty target, else the merge; where the load repeats a key, its last row. Exact counts.
   */
  async apply(targetEmpty: boolean): Promise<{ inserted: number; updated: number; duplicates: number }> {
    await this.client.query('SAVEPOINT sqp_merge');
    try {
      const counts = targetEmpty
        ? { inserted: (await this.client.query(this.bulkSql)).rowCount ?? 0, updated: 0 }
        : (await this.client.query<{ inserted: number; updated: number }>(this.mergeSql)).rows[0]!;
      await this.client.query('RELEASE SAVEPOINT sqp_merge');
      return { ...counts, duplicates: 0 };
    } catch (error) {
      const code = (error as { code?: string }).code;
      if (code !== '21000' && !(targetEmpty && code === '23505')) throw error;
      await this.client.query('ROLLBACK TO SAVEPOINT sqp_merge');
      const duplicates = await this.duplicates();
      const counts = (await this.client.query<{ inserted: number; updated: number }>(this.fallbackMergeSql)).rows[0]!;
      return { ...counts, duplicates };
    }
  }
}

/** The window's target rows whose keys the staged load does not have (deleteMissing), as a predicate on `t`. */
function missingSql(target: TargetTable, keyColumns: string[], stage: string, window: { sql: string } | null): string {
  const match = keyColumns.map((k) => `k.${quoteIdent(k)} = t.${quoteIdent(k)}`).join(' AND ');
  return `${window ? `(${window.sql}) AND ` : ''}NOT EXISTS (SELECT 1 FROM ${stage} k WHERE ${match})`;
}

/** Target rows whose keys the staged load does not have (a read of everything that kept them: deleteMissing off). */
export async function countMissing(client: pg.ClientBase, target: TargetTable, keyColumns: string[], stage: string): Promise<number> {
  const { rows: [n] } = await client.query<{ n: string }>(`SELECT count(*)::text AS n FROM ${target.qualified} t WHERE ${missingSql(target, keyColumns, stage, null)}`);
  return Number(n!.n);
}

/** Deletes target rows of the window whose keys the staged load does not have; returns how many. */
export async function deleteMissing(
  client: pg.ClientBase,
  target: TargetTable,
  keyColumns: string[],
  stage: string,
  window: { sql: string; params: unknown[] } | null,
): Promise<number> {
  const res = await client.query(`DELETE FROM ${target.qualified} t WHERE ${missingSql(target, keyColumns, stage, window)}`, window?.params ?? []);
  return res.rowCount ?? 0;
}
