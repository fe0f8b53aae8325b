// Configuration changes through the API: a table's settings, registering a table (of a data
// schema only), and the dependency edges. Each validates before writing (nothing is written on
// a refusal) and relies on the database for what only it can check atomically (cycles,
// uniqueness) and for the one list of what may be registered (migration 036).
import type pg from 'pg';
import { z } from 'zod';
import { ConflictError, CycleError, NotFoundError, ValidationError } from '../errors.ts';
import { wakeRunners } from '../runner/scheduler/wake.ts';
import { selectConfig } from '../runner/scheduler/sql.ts';
import { SyncParamsError } from '../runner/params/params-error.ts';
import { canonicalSyncParams, parseSyncParams } from '../runner/params/sync-params.ts';
import { checkParamsAgainstTarget } from '../runner/engine/refresh-inputs.ts';
import { MAX_FRESHNESS_SLA_HOURS } from '../runner/state/freshness.ts';

const Settings = z.object({
  isEnabled: z.boolean().nullish(),
  refreshFrequencyHours: z.number().int().min(1, 'must be at least 1').max(24 * 366, 'must be at most 8784 (a year)').nullish(),
  priority: z.number().int().min(0, 'must be between 0 and 1000').max(1000, 'must be between 0 and 1000').nullish(),
  customSyncParams: z.unknown().optional(),
  // Left out: unchanged; null: back to the default (state/freshness.ts); the column's CHECK agrees.
  freshnessSlaHours: z.number().int().min(1, 'must be at least 1').max(MAX_FRESHNESS_SLA_HOURS, `must be at most ${MAX_FRESHNESS_SLA_HOURS} (two years)`).nullish(),
});
export type ConfigSettings = z.input<typeof Settings>;

function validateSettings(input: ConfigSettings): z.output<typeof Settings> {
  const parsed = Settings.safeParse(input);
  if (!parsed.success) throw ValidationError.fromZod(parsed.error, '');
  if (parsed.data.customSyncParams !== undefined && parsed.data.customSyncParams !== null) {
    try {
      parseSyncParams(parsed.data.customSyncParams);
      parsed.data.customSyncParams = canonicalSyncParams(parsed.data.customSyncParams); // stored as the params spell it (rowCountRatio)
    } catch (error) {
      if (error instanceof SyncParamsError) throw ValidationError.under('customSyncParams', error.issues);
      throw error;
    }
  }
  return parsed.data;
}

/** Checks params against the table they are written for (its columns and unique keys, as a run will); nothing is written on a refusal. */
async function checkTarget(pool: pg.Pool, table: { schema: string; name: string } | undefined, params: unknown): Promise<void> {
  if (!table || params === undefined || params === null) return;
  try {
    await checkParamsAgainstTarget(pool, table, parseSyncParams(params));
  } catch (error) {
    if (error instanceof SyncParamsError) throw ValidationError.under('customSyncParams', error.issues);
    throw error;
  }
}

/** Changes a registered table's settings; only the fields given change. */
export async function updateRefreshConfig(pool: pg.Pool, id: number, input: ConfigSettings): Promise<number> {
  const s = validateSettings(input);
  if (s.customSyncParams != null) {
    const { rows: [table] } = await pool.query<{ schema: string; name: string }>(`SELECT table_schema AS schema, table_name AS name FROM sqp.refresh_config WHERE id = $1`, [id]);
    await checkTarget(pool, table, s.customSyncParams);
  }
  const { rowCount } = await pool.query(
    `UPDATE sqp.refresh_config SET
       is_enabled = coalesce($2, is_enabled),
       refresh_frequency_hours = coalesce($3, refresh_frequency_hours),
       priority = coalesce($4, priority),
       custom_sync_params = coalesce($5::jsonb, custom_sync_params),
       freshness_sla_hours = CASE WHEN $6 THEN $7::int ELSE freshness_sla_hours END,
       updated_at = now()
     WHERE id = $1`,
    [id, s.isEnabled ?? null, s.refreshFrequencyHours ?? null, s.priority ?? null, s.customSyncParams == null ? null : JSON.stringify(s.customSyncParams),
      s.freshnessSlaHours !== undefined, s.freshnessSlaHours ?? null],
  );
  if (!rowCount) throw new NotFoundError('id', String(id), `id: config ${id} does not exist`);
  await wakeRunners(pool);
  return id;
}

/**
 * Why a table may not be registered, as sqp.refresh_registration_refusal (migration 036) says:
 * the one list the event trigger and the catalog scan obey too.
 */
type Refusal = 'system_table' | 'system_schema' | 'service_schema' | 'other_schema';

function refusalError(refusal: Refusal, dataSchemas: string[], schema: string, table: string): ValidationError {
  const only = `only tables of the data schema${dataSchemas.length > 1 ? 's' : ''} ${dataSchemas.join(', ')} can be registered`;
  switch (refusal) {
    case 'system_table':
      return ValidationError.of('tableName', `${table} is part of the refresh system itself`);
    case 'system_schema':
      return ValidationError.of('tableSchema', `${schema} is a PostgreSQL system schema; ${only}`);
    case 'service_schema':
      return ValidationError.of('tableSchema', `${schema} is sqp-refresh's own schema; ${only}`);
    case 'other_schema':
      return ValidationError.of('tableSchema', `${schema} is not a data schema; ${only}`);
  }
}

/** Registers an existing table of a data schema for refresh; catalogs and the service's own tables are refused. */
export async function registerTable(pool: pg.Pool, input: { tableSchema: string; tableName: string } & ConfigSettings): Promise<number> {
  const s = validateSettings(input);
  // Refused before looking the table up: whether it exists elsewhere is none of the caller's business.
  const { rows: [check] } = await pool.query<{ refusal: Refusal | null; dataSchemas: string[]; found: boolean }>(
    `SELECT sqp.refresh_registration_refusal($1, $2) AS refusal, sqp.refresh_data_schemas() AS "dataSchemas",
            EXISTS (SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                    WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r', 'p')) AS found`,
    [input.tableSchema, input.tableName],
  );
  if (check!.refusal) throw refusalError(check!.refusal, check!.dataSchemas, input.tableSchema, input.tableName);
  if (!check!.found) throw new NotFoundError('tableName', `${input.tableSchema}.${input.tableName}`, `tableName: no table ${input.tableSchema}.${input.tableName} exists in the database`);
  await checkTarget(pool, { schema: input.tableSchema, name: input.tableName }, s.customSyncParams);
  const { rows } = await pool.query<{ id: number }>(
    `INSERT INTO sqp.refresh_config (table_schema, table_name, is_enabled, refresh_frequency_hours, priority, custom_sync_params, freshness_sla_hours, next_refresh_at)
     VALUES ($1, $2, coalesce($3, true), coalesce($4, 24), coalesce($5, 100), coalesce($6::jsonb, '{}'::jsonb), $7, now())
     ON CONFLICT DO NOTHING RETURNING id`,
    [input.tableSchema, input.tableName, s.isEnabled ?? null, s.refreshFrequencyHours ?? null, s.priority ?? null, s.customSyncParams == null ? null : JSON.stringify(s.customSyncParams),
      s.freshnessSlaHours ?? null],
  );
  if (!rows[0]) throw new ConflictError('tableName', `tableName: ${input.tableSchema}.${input.tableName} is already registered`);
  await wakeRunners(pool);
  return rows[0].id;
}

export interface TableRef {
  tableSchema: string;
  tableName: string;
}

async function idOf(pool: pg.Pool, field: string, t: TableRef): Promise<number> {
  const config = await selectConfig(pool, t.tableSchema, t.tableName);
  if (!config) throw new NotFoundError(field, `${t.tableSchema}.${t.tableName}`, `${field}: ${t.tableSchema}.${t.tableName} is not registered`);
  return config.id;
}

/** Adds a dependency edge; the database refuses self-edges and cycles (under any concurrency). */
export async function addRefreshDependency(pool: pg.Pool, input: { parent: TableRef; dependent: TableRef; dependencyType: 'hard' | 'soft' }): Promise<number> {
  const parentId = await idOf(pool, 'parent', input.parent);
  const dependentId = await idOf(pool, 'dependent', input.dependent);
  const name = (t: TableRef) => `${t.tableSchema}.${t.tableName}`;
  if (parentId === dependentId) throw new CycleError([name(input.parent), name(input.dependent)]);
  try {
    const { rows } = await pool.query<{ id: number }>(
      `INSERT INTO sqp.refresh_dependencies (parent_config_id, dependent_config_id, dependency_type) VALUES ($1, $2, $3)
       ON CONFLICT DO NOTHING RETURNING id`,
      [parentId, dependentId, input.dependencyType],
    );
    if (!rows[0]) throw new ConflictError('dependent', `dependent: ${name(input.dependent)} already depends on ${name(input.parent)}`);
    await wakeRunners(pool);
    return rows[0].id;
  } catch (error) {
    const e = error as { constraint?: string; detail?: string };
    if (e.constraint === 'refresh_dependencies_no_cycle' && e.detail) throw new CycleError(e.detail.split(' -> '));
    if (e.constraint === 'refresh_dependencies_no_self_edge') throw new CycleError([name(input.parent), name(input.dependent)]);
    throw error;
  }
}

/** Removes a dependency edge; returns its dependent's config id. */
export async function removeRefreshDependency(pool: pg.Pool, id: number): Promise<number> {
  const { rows } = await pool.query<{ dependent: number }>(`DELETE FROM sqp.refresh_dependencies WHERE id = $1 RETURNING dependent_config_id AS dependent`, [id]);
  if (!rows[0]) throw new NotFoundError('id', String(id), `id: dependency ${id} does not exist`);
  await wakeRunners(pool);
  return rows[0].dependent;
}
