// params/ — how one table is refreshed: the schema of refresh_config.custom_sync_params (this
// file), the value types its parts share (param-types.ts) and the error of a value that does not
// fit (params-error.ts). It validates and describes; it reads and writes nothing. May import: zod
// and the source registry (each kind's params schema and capabilities); never the engine, the
// scheduler or state/, which import it.
//
// The schema of refresh_config.custom_sync_params: how one table is refreshed. Validated
// wherever it is written or read; a bad value names its path and nothing runs.
import { z } from 'zod';
import { identifier } from './param-types.ts';
import { issuePath, SyncParamsError, type ParamIssue } from './params-error.ts';
import { incrementalNeedsCursor, SourceParamsSchema } from '../sources/registry.ts';

const threshold = z
  .object({
    min: z.number().optional(),
    max: z.number().optional(),
    /** warning: the run ends `warning`; blocking: the run ends `failed` and blocks hard dependents. */
    severity: z.enum(['warning', 'blocking']).default('warning'),
  })
  .strict()
  .refine((t) => t.min === undefined || t.max === undefined || t.min <= t.max, { message: 'min must not exceed max' });

export type Threshold = z.infer<typeof threshold>;

const QualitySchema = z
  .object({
    /** target rows / source rows in the refreshed window. */
    rowCountRatio: threshold.default({ min: 0.999, max: 1.001, severity: 'blocking' }),
    /** share of NULLs in each key column (0..1). */
    keyNullRate: threshold.default({ max: 0, severity: 'blocking' }),
    /** source rows sharing a key with another source row. */
    duplicateKeys: threshold.default({ max: 0, severity: 'warning' }),
    /** days since the newest cursor value (needs cursorColumn). */
    freshnessDays: threshold.default({ max: 14, severity: 'warning' }),
    /** rows in the window now / rows after the previous successful run, minus 1. */
    rowCountChange: threshold.default({ min: -0.5, max: 1, severity: 'warning' }),
    /** 1 when a full read returned 0 rows while the last success left rows in the target, else 0. */
    sourceRowsZero: threshold.default({ max: 0, severity: 'blocking' }),
    /** rows the publish would delete (deleteMissing) / rows of the target before it. */
    deleteRatio: threshold.default({ max: 0.2, severity: 'blocking' }),
  })
  .strict()
  .default({
    rowCountRatio: { min: 0.999, max: 1.001, severity: 'blocking' },
    keyNullRate: { max: 0, severity: 'blocking' },
    duplicateKeys: { max: 0, severity: 'warning' },
    freshnessDays: { max: 14, severity: 'warning' },
    rowCountChange: { min: -0.5, max: 1, severity: 'warning' },
    sourceRowsZero: { max: 0, severity: 'blocking' },
    deleteRatio: { max: 0.2, severity: 'blocking' },
  });

const SyncParamsSchema = z
  .object({
    /** Where the rows come from: one of the kinds of sources/registry.ts. */
    source: SourceParamsSchema,
    /** Columns identifying a row; default: the target's primary key. */
    keyColumns: z.array(identifier).min(1).optional(),
    mode: z.enum(['full', 'incremental']).default('full'),
    /** Column of the source rows that grows with change (a date or timestamp); incremental needs it. */
    cursorColumn: identifier.optional(),
    /**
     * A date (or timestamp) column the rows are reported by (`start_date`): a backfill re-loads a
     * range of it. Without it, a backfill ranges over cursorColumn.
     */
    partitionColumn: identifier.optional(),
    /** Incremental runs re-read this many hours before the last watermark (late data). */
    lookbackHours: z.number().int().min(0).max(24 * 366).default(0),
    pageSize: z.number().int().min(100).max(100_000).default(10_000),
    /** Delete target rows of the refreshed window that the source no longer has. */
    deleteMissing: z.boolean().default(false),
    /** Stop at a page boundary after this long; the next slice resumes from the checkpoint. */
    maxRunSeconds: z.number().int().min(1).optional(),
    quality: QualitySchema,
  })
  .strict()
  .superRefine((p, ctx) => {
    if (p.mode === 'incremental' && !p.cursorColumn && incrementalNeedsCursor(p.source)) {
      ctx.addIssue({ code: 'custom', path: ['cursorColumn'], message: 'required when mode is incremental' });
    }
  });

export type SyncParams = z.output<typeof SyncParamsSchema>;
export type SyncParamsInput = z.input<typeof SyncParamsSchema>;

/**
 * The name a quality metric is recorded under in refresh_data_quality and named by in the
 * README (`row_count_ratio`) for its params key (`rowCountRatio`). Both spellings are accepted
 * in `quality`; the params key is the one stored (see canonicalSyncParams).
 */
const recordedName = (key: string) => key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
const QUALITY_KEY_OF = new Map(Object.keys(QualitySchema.unwrap().shape).map((key) => [recordedName(key), key]));

/**
 * custom_sync_params as stored: each quality metric under its params key (`row_count_ratio`
 * becomes `rowCountRatio`), everything else as given. A metric given under both names is a
 * SyncParamsError; a value that is not an object is returned as it is (the schema says why).
 */
export function canonicalSyncParams(value: unknown): unknown {
  const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
  if (!isObject(value) || !isObject(value.quality)) return value;
  const quality: Record<string, unknown> = {};
  const issues: ParamIssue[] = [];
  for (const [name, threshold] of Object.entries(value.quality)) {
    const key = QUALITY_KEY_OF.get(name) ?? name;
    if (key !== name && key in value.quality) issues.push({ path: issuePath(['quality', name]), message: `the same metric as quality.${key}: give one of them` });
    else quality[key] = threshold;
  }
  if (issues.length) throw new SyncParamsError(issues);
  return { ...value, quality };
}

/** Parses custom_sync_params, throwing a SyncParamsError that names every bad path. */
export function parseSyncParams(value: unknown): SyncParams {
  const result = SyncParamsSchema.safeParse(canonicalSyncParams(value ?? {}));
  if (result.success) return result.data;
  throw new SyncParamsError(
    result.error.issues.map((i) => ({
      path: i.path.length ? issuePath(i.path) : '(root)',
      message: i.code === 'invalid_type' && i.input === undefined ? 'required' : i.message,
    })),
  );
}
