// What the target database says about a table: its columns, types and unique keys. Every
// identifier the engine puts into SQL comes from here and is quoted; none is spliced from
// user text.
import type pg from 'pg';

export interface TargetColumn {
  name: string;
  /** format_type() of the column, e.g. `numeric(7,4)`. */
  type: string;
  notNull: boolean;
}

export interface TargetTable {
  schema: string;
  name: string;
  /** `"schema"."name"`, quoted. */
  qualified: string;
  columns: TargetColumn[];
  primaryKey: string[];
  /** Column sets of every unique index without a predicate or expression (incl. the PK). */
  uniqueKeys: string[][];
}

/** Quotes an identifier for PostgreSQL. */
export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/**
 * A text as an SQL string literal (for statements that take no bind parameters, as COMMENT
 * ON): quotes doubled, and with backslashes an E'' literal with them doubled, so the text
 * stays one literal whatever standard_conforming_strings says (PostgreSQL's quote_literal).
 */
export function quoteLiteral(text: string): string {
  const quoted = text.replaceAll("'", "''");
  return text.includes('\\') ? `E'${quoted.replaceAll('\\', '\\\\')}'` : `'${quoted}'`;
}

/** Reads a table's shape from the catalog, or null when it does not exist. */
export async function describeTable(client: pg.Pool | pg.ClientBase, schema: string, name: string): Promise<TargetTable | null> {
  const rel = await client.query<{ oid: number }>(
    `SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r', 'p')`,
    [schema, name],
  );
  const oid = rel.rows[0]?.oid;
  if (oid === undefined) return null;
  const cols = await client.query<TargetColumn>(
    `SELECT attname AS name, format_type(atttypid, atttypmod) AS type, attnotnull AS "notNull"
     FROM pg_attribute WHERE attrelid = $1 AND attnum > 0 AND NOT attisdropped ORDER BY attnum`,
    [oid],
  );
  const keys = await client.query<{ cols: string[]; primary: boolean }>(
    `SELECT i.indisprimary AS primary,
            array(SELECT a.attname FROM unnest(i.indkey) WITH ORDINALITY k(attnum, ord)
                  JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
                  ORDER BY k.ord)::text[] AS cols
     FROM pg_index i
     WHERE i.indrelid = $1 AND i.indisunique AND i.indpred IS NULL AND i.indexprs IS NULL AND i.indisvalid
     ORDER BY i.indisprimary DESC, i.indexrelid`,
    [oid],
  );
  return {
    schema,
    name,
    qualified: `${quoteIdent(schema)}.${quoteIdent(name)}`,
    columns: cols.rows,
    primaryKey: keys.rows.find((k) => k.primary)?.cols ?? [],
    uniqueKeys: keys.rows.map((k) => k.cols),
  };
}

/** True when `keys` (in any order) are exactly the columns of one unique index. */
export function matchesUniqueKey(table: TargetTable, keys: string[]): boolean {
  const wanted = [...keys].sort().join('\u0000');
  return table.uniqueKeys.some((k) => [...k].sort().join('\u0000') === wanted);
}
