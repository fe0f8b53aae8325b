// Data-quality metrics of a load, measured inside the publish transaction on what the target
// would become (one scan of it) and on the diff (rows deleted), each with its expected value and thresholds,
// and the verdict they give the run (warning, or failed — nothing published — where blocking).
import type pg from 'pg';
import { quoteIdent, type TargetTable } from './catalog.ts';
import type { SyncParams, Threshold } from '../params/sync-params.ts';

export interface QualityMetricValue {
  name: string;
  value: number | null;
  expected: number | null;
  threshold: Threshold;
  within: boolean | null;
}

export interface QualityInput {
  target: TargetTable;
  params: SyncParams;
  keyColumns: string[];
  cursorColumn?: string;
  /** Rows read from the source in the refreshed window (all slices). */
  sourceRows: number;
  duplicates: number;
  nullKeys: Record<string, number>;
  /** Predicate on alias `t` selecting the refreshed window, or null for the whole table. */
  window: { sql: string; params: unknown[] } | null;
  /** Target rows after the previous successful run, when known. */
  previousTargetRows: number | null;
  /** Rows the publish deletes (deleteMissing), and the target's rows before it (null: no deletes). */
  deleted: number;
  targetRowsBefore: number | null;
  now: Date;
}

function judge(value: number | null, t: Threshold): boolean | null {
  if (value === null || Number.isNaN(value)) return null;
  return (t.min === undefined || value >= t.min) && (t.max === undefined || value <= t.max);
}

/** Measures the metrics; returns them plus the target's row counts for the next run. */
export async function measureQuality(client: pg.ClientBase, input: QualityInput): Promise<{ metrics: QualityMetricValue[]; targetRows: number; windowRows: number }> {
  const q = input.params.quality;
  // One scan of the target: rows in the window, all rows, and the newest cursor value.
  const windowParams = input.window?.params ?? [];
  const { rows: [counts] } = await client.query<{ window_rows: string; total_rows: string; days: string | null }>(
    `SELECT count(*)${input.window ? ` FILTER (WHERE ${input.window.sql})` : ''}::text AS window_rows, count(*)::text AS total_rows,
            ${input.cursorColumn ? `extract(epoch FROM ($${windowParams.length + 1}::timestamptz - max(t.${quoteIdent(input.cursorColumn)})::timestamptz)) / 86400` : 'NULL'} AS days
     FROM ${input.target.qualified} t`,
    input.cursorColumn ? [...windowParams, input.now] : windowParams,
  );
  const windowRows = Number(counts!.window_rows);
  const targetRows = Number(counts!.total_rows);
  const metrics: QualityMetricValue[] = [];
  const add = (name: string, value: number | null, expected: number | null, threshold: Threshold) =>
    metrics.push({ name, value, expected, threshold, within: judge(value, threshold) });

  const loadable = input.sourceRows - input.duplicates - Math.max(0, ...Object.values(input.nullKeys));
  // 0 source rows is no pass: the ratio is unknown (source_rows_zero says whether that is wrong).
  add('row_count_ratio', loadable > 0 ? windowRows / loadable : null, 1, q.rowCountRatio);
  // A full read that suddenly returns nothing while the last success left rows: a broken source, not an empty table.
  if (!input.window) add('source_rows_zero', input.sourceRows === 0 && (input.previousTargetRows ?? 0) > 0 ? 1 : 0, 0, q.sourceRowsZero);
  if (input.targetRowsBefore !== null) add('delete_ratio', input.targetRowsBefore > 0 ? input.deleted / input.targetRowsBefore : 0, 0, q.deleteRatio);
  for (const key of input.keyColumns) {
    const nulls = input.nullKeys[key] ?? 0;
    add(`key_null_rate:${key}`, input.sourceRows > 0 ? nulls / input.sourceRows : 0, 0, q.keyNullRate);
  }
  add('duplicate_keys', input.duplicates, 0, q.duplicateKeys);
  if (input.cursorColumn) {
    const days = counts!.days;
    add('freshness_days', days == null ? null : Math.round(Number(days) * 100) / 100, 0, q.freshnessDays);
  }
  if (input.previousTargetRows !== null && input.previousTargetRows > 0) {
    add('row_count_change', targetRows / input.previousTargetRows - 1, 0, q.rowCountChange);
  }
  return { metrics, targetRows, windowRows };
}

/** Writes the metrics of a run to refresh_data_quality. */
export async function recordQuality(client: pg.ClientBase, runId: number, metrics: QualityMetricValue[]): Promise<void> {
  if (metrics.length === 0) return;
  await client.query(
    `INSERT INTO sqp.refresh_data_quality (audit_log_id, metric_name, metric_value, expected_value, threshold_min, threshold_max, is_within_threshold)
     SELECT $1, m.name, m.value, m.expected, m.min, m.max, m.within
     FROM jsonb_to_recordset($2::jsonb) AS m(name text, value numeric, expected numeric, min numeric, max numeric, within boolean)`,
    [runId, JSON.stringify(metrics.map((m) => ({ name: m.name, value: m.value, expected: m.expected, min: m.threshold.min ?? null, max: m.threshold.max ?? null, within: m.within })))],
  );
}

/** The run's status as the metrics see it. */
export function qualityVerdict(metrics: QualityMetricValue[]): { status: 'success' | 'warning' | 'failed'; breaches: string[] } {
  const out = metrics.filter((m) => m.within === false);
  if (out.some((m) => m.threshold.severity === 'blocking')) return { status: 'failed', breaches: out.map((m) => m.name) };
  return { status: out.length ? 'warning' : 'success', breaches: out.map((m) => m.name) };
}
