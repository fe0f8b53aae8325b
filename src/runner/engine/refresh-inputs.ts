// What a refresh checks and resolves before it reads: the params against the target table,
// the daily byte budget, the read it asks of its source, and watermark arithmetic.
import type pg from 'pg';
import { bytesBilledToday } from './audit-log.ts';
import { describeTable, matchesUniqueKey, quoteIdent, type TargetTable } from './catalog.ts';
import { RefreshFailure } from './refresh-failures.ts';
import type { RefreshConfigRow, RefreshOptions } from './refresh-types.ts';
import type { RunMetadata } from './run-metadata.ts';
import type { InDatabaseRead, OpenReadRequest, PagedSource, ReadWindow } from '../sources/source.ts';
import type { SyncParams } from '../params/sync-params.ts';
import { issuePath, SyncParamsError, type ParamIssue } from '../params/params-error.ts';

/**
 * A watermark as PostgreSQL writes a date or timestamp (`max(cursor)::text`): its wall-clock
 * time read as if UTC, never in this process's time zone (a `timestamp` has none), and its
 * offset when it has one (`timestamptz`). Null for anything else (a number).
 */
function parseWatermark(text: string): { wallMs: number; frac: string; offset: string | null; instantMs: number } | null {
  const m = /^(\d{4})-(\d{2})-(\d{2})(?:[ T](\d{2}):(\d{2}):(\d{2})(\.\d+)?)?(Z|[+-]\d{2}(?::?\d{2})?)?$/.exec(text.trim());
  if (!m) return null;
  const wallMs = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4] ?? 0), Number(m[5] ?? 0), Number(m[6] ?? 0));
  if (Number.isNaN(wallMs)) return null;
  const offset = m[8] ?? null;
  let offsetMs = 0;
  if (offset && offset !== 'Z') {
    const digits = offset.slice(1).replace(':', '');
    offsetMs = (offset[0] === '-' ? -1 : 1) * (Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2, 4) || 0)) * 60_000;
  }
  return { wallMs, frac: m[7] ?? '', offset, instantMs: wallMs - offsetMs + Number(`0${m[7] ?? ''}`) * 1000 };
}

/** Compares two watermark texts: numbers as numbers, dates and timestamps as instants (see parseWatermark), else as text. */
export function greater(a: string, b: string): boolean {
  const na = Number(a);
  const nb = Number(b);
  if (!Number.isNaN(na) && !Number.isNaN(nb)) return na > nb;
  const da = parseWatermark(a);
  const db = parseWatermark(b);
  if (da && db) return da.instantMs > db.instantMs;
  return a > b;
}

/**
 * The lower bound of an incremental read: the watermark minus the lookback, written as the
 * watermark was — the same wall clock and offset, so a `timestamp` cursor is compared in its
 * own terms whatever this process's time zone is. Unchanged when it is not a date or time.
 */
export function lowerBound(watermark: string, lookbackHours: number): string {
  const w = parseWatermark(watermark);
  if (!w) return watermark;
  const at = new Date(w.wallMs - lookbackHours * 3_600_000).toISOString(); // YYYY-MM-DDTHH:MM:SS.000Z, as a wall clock
  return `${at.slice(0, 10)} ${at.slice(11, 19)}${w.frac}${w.offset ?? ''}`;
}

/** The lower bound of an incremental read after the last successful run (null: read everything). */
export function incrementalSince(params: SyncParams, previous: { metadata: RunMetadata } | null): string | null {
  const watermark = previous?.metadata.watermarkAfter ?? null;
  return params.mode === 'incremental' && watermark ? lowerBound(watermark, params.lookbackHours) : null;
}

/**
 * The target rows a load refreshes, as a predicate on alias `t` (deletes and quality stay inside
 * it), or null: all of them. A transform says its own (everything when `since` is null); an
 * incremental read, the rows from `since` on; a backfill chunk, the rows of its range.
 */
export function loadWindow(plan: InDatabaseRead | null, params: SyncParams, since: string | null, cursorColumn: string | undefined, range?: ReadWindow): { sql: string; params: unknown[] } | null {
  if (plan) return { sql: plan.window, params: [since, range?.from ?? null, range?.to ?? null] };
  // Text bounds: PostgreSQL reads them as the column's type.
  if (range) return { sql: `t.${quoteIdent(range.column)} >= $1 AND t.${quoteIdent(range.column)} < $2`, params: [range.from, range.to] };
  return params.mode === 'incremental' && since && cursorColumn ? { sql: `t.${quoteIdent(cursorColumn)} >= $1`, params: [since] } : null;
}

/**
 * The column a backfill of this table ranges over: its partitionColumn, else its cursorColumn
 * (a transform: its parent's report dates); null when it has neither.
 */
function backfillColumn(params: SyncParams, transform: boolean): string | null {
  if (transform) return 'start_date';
  return params.partitionColumn ?? params.cursorColumn ?? null;
}

/** A backfill chunk's range as a source reads it (the column's type decides how bounds compare); throws when the table has no column to range over. */
export function backfillRange(params: SyncParams, target: TargetTable, transform: boolean, chunk: { from: string; to: string }): ReadWindow {
  const column = backfillColumn(params, transform);
  if (!column) throw new RefreshFailure('a backfill needs partitionColumn or cursorColumn in the params', { reason: 'params', retryable: false });
  const type = transform ? 'date' : target.columns.find((c) => c.name === column)?.type;
  if (type !== 'date' && !type?.startsWith('timestamp')) {
    throw new RefreshFailure(`a backfill ranges over a date or timestamp column: ${column} is ${type ?? 'missing'}`, { reason: 'params', retryable: false });
  }
  return { column, from: chunk.from, to: chunk.to, type: type === 'date' ? 'date' : 'timestamp' };
}

/** What a source is asked to read for a table: its query's named params with `since`, the page size, the keys. */
export function readRequest(config: RefreshConfigRow, params: SyncParams, keyColumns: string[], since: string | null, range?: ReadWindow): OpenReadRequest & { source: SyncParams['source'] } {
  return {
    ...(range ? { window: range } : {}),
    table: { schema: config.tableSchema, name: config.tableName },
    params: { ...('params' in params.source ? params.source.params : {}), since },
    pageSize: params.pageSize,
    keyColumns,
    source: params.source,
  };
}

/**
 * The params' columns checked against the target, as a run uses them: every key column is a
 * column and together they are one of its unique keys (a run upserts on them), the cursor and
 * a transform's columns are columns. A SyncParamsError names every bad path.
 */
export function validateAgainstTarget(target: TargetTable, keys: string[], cursor: string | undefined, columns: string[] | undefined, partition?: string) {
  const table = `${target.schema}.${target.name}`;
  const has = (c: string) => target.columns.some((t) => t.name === c);
  const issues: ParamIssue[] = [];
  if (keys.length === 0) issues.push({ path: 'keyColumns', message: `required: ${table} has no primary key` });
  keys.forEach((k, i) => {
    if (!has(k)) issues.push({ path: issuePath(['keyColumns', i]), message: `${k} is not a column of ${table}` });
  });
  if (issues.length === 0 && !matchesUniqueKey(target, keys)) issues.push({ path: 'keyColumns', message: `(${keys.join(', ')}) is not a unique key of ${table}` });
  if (cursor && !has(cursor)) issues.push({ path: 'cursorColumn', message: `${cursor} is not a column of ${table}` });
  if (partition && !has(partition)) issues.push({ path: 'partitionColumn', message: `${partition} is not a column of ${table}` });
  for (const c of columns ?? []) if (!has(c)) issues.push({ path: 'source.transform', message: `${table} has no column ${c}` });
  if (issues.length) throw new SyncParamsError(issues);
}

/**
 * Checks params being written against the table they are for, by the rule a run applies
 * (validateAgainstTarget): keyColumns (default: the primary key) and cursorColumn. A
 * SyncParamsError names every bad path. A table that does not exist is not checked: its run
 * fails as missingTable. An in-database transform's run takes its keys from its plan (one of
 * the summary tables' primary keys) and ignores these; when given, they are checked all the same.
 */
export async function checkParamsAgainstTarget(db: pg.Pool | pg.ClientBase, table: { schema: string; name: string }, params: SyncParams): Promise<void> {
  const target = await describeTable(db, table.schema, table.name);
  if (target) validateAgainstTarget(target, params.keyColumns ?? target.primaryKey, params.cursorColumn, undefined, params.partitionColumn);
}

export async function enforceBudget(
  client: pg.PoolClient,
  source: PagedSource,
  request: Parameters<PagedSource['open']>[0],
  options: RefreshOptions,
  now: Date,
  record: (b: { estimate?: bigint }) => void,
) {
  if (!source.estimateBytes) return;
  const estimate = await source.estimateBytes(request);
  record({ estimate });
  const budget = options.dailyByteBudget;
  if (budget === null || budget === undefined) return;
  const spent = await bytesBilledToday(client, now);
  if (spent + estimate > budget) {
    throw new RefreshFailure(
      `daily BigQuery byte budget exceeded: this refresh would process ${estimate} bytes, ${budget - spent < 0n ? 0n : budget - spent} of ${budget} remain today`,
      { reason: 'budgetExceeded', estimateBytes: estimate.toString(), spentTodayBytes: spent.toString(), budgetBytes: budget.toString(), retryable: false },
    );
  }
}
