// The kinds of source a table can be refreshed from, keyed by `custom_sync_params.source.type`.
// Each entry says everything the engine needs to know of a kind: the schema of its params,
// whether it can tell the bytes a read would cost before running it (the daily byte budget,
// forceRefresh's dry run), and the factory of its reader. A new kind is a folder beside
// bigquery/, postgres/ and sql/ plus one entry here; nothing else names the kinds.
import { z } from 'zod';
import type { Config } from '../../config.ts';
import { RefreshFailure } from '../engine/refresh-failures.ts';
import type { PagedSource } from './source.ts';
import { createBigQuerySource, type BigQuerySource } from './bigquery/bigquery.ts';
import { BigQuerySourceParams } from './bigquery/params.ts';
import { createPostgresSource } from './postgres/postgres.ts';
import { PostgresSourceParams } from './postgres/params.ts';
import { DEFAULT_SOURCE_ROLE, type SourceRole } from './postgres/source-role.ts';
import type { SessionLimits } from '../../database/connection.ts';
import { SqlTransformParams } from './sql/params.ts';
import { planTransform, type TransformPlan } from './sql/transforms.ts';

/**
 * How a table's rows reach its staging table: pages that flow through this process (the
 * engine COPYs each one and checkpoints it), or one SELECT that PostgreSQL runs into the
 * staging table itself (a transform of a table in the same database).
 */
export type TableReader = { pages: PagedSource } | { inDatabase: TransformPlan };

/** The table a reader is made for. */
export interface ReaderContext {
  targetSchema: string;
  /** Whether the refresh deletes the window's rows the load lacks (an sql transform widens its window to rows whose parent rows are gone). */
  deleteMissing: boolean;
}

/** What the process can read from: built once at its start (the composition root). */
export interface SourceEnvironment {
  /** The target database's URL: the postgres source's database when params name none. */
  targetUrl: string;
  /** The BigQuery client, when BigQuery is configured. */
  bigquery?: BigQuerySource;
  /** Resolves `databaseUrlEnv` of a postgres source (params store only the variable's name, SOURCE_DATABASE_URL_…). */
  env?: Record<string, string | undefined>;
  /** The role postgres source queries run as (postgres/source-role.ts); default sqp_refresh_source, not explicit. */
  sourceRole?: SourceRole;
  /** Set on each postgres source's session over its role's defaults (a role's statement_timeout must not cut a long read). */
  sessionLimits?: SessionLimits;
}

interface SourceKind<S extends z.ZodType> {
  /** The schema of `custom_sync_params.source` of this kind (strict: unknown keys are refused). */
  params: S;
  /** Whether `estimateBytes` can tell what a read would cost before it runs. */
  canEstimateBytes: boolean;
  /**
   * The params that decide which rows a read returns (not the knobs of how it is done: a byte
   * cap, a NUL replacement). A load resumed under other such params would mix two reads.
   */
  readIdentity(params: z.output<S>): unknown;
  /** The reader of one table's source. */
  create(params: z.output<S>, context: ReaderContext & { environment: ResolvedEnvironment }): TableReader;
}

/** The environment with the postgres sources made once per database. */
interface ResolvedEnvironment extends SourceEnvironment {
  postgres(url: string): PagedSource;
}

const kind = <S extends z.ZodType>(k: SourceKind<S>) => k;

const SOURCE_KINDS = {
  bigquery: kind({
    params: BigQuerySourceParams,
    canEstimateBytes: true,
    readIdentity: (p) => ({ type: p.type, query: p.query, params: p.params, location: p.location ?? null }),
    create(_params, { environment }) {
      if (!environment.bigquery) throw new RefreshFailure('BigQuery is not configured (set BIGQUERY_PROJECT_ID)', { reason: 'bigqueryNotConfigured', retryable: false });
      return { pages: environment.bigquery };
    },
  }),
  postgres: kind({
    params: PostgresSourceParams,
    canEstimateBytes: false,
    readIdentity: (p) => ({ type: p.type, query: p.query, params: p.params, databaseUrlEnv: p.databaseUrlEnv ?? null }),
    create(params, { environment }) {
      const envName = params.databaseUrlEnv;
      const url = envName ? environment.env?.[envName] : environment.targetUrl;
      if (!url) throw new RefreshFailure(`environment variable ${envName} (source.databaseUrlEnv) is not set`, { reason: 'params', retryable: false });
      return { pages: environment.postgres(url) };
    },
  }),
  sql: kind({
    params: SqlTransformParams,
    canEstimateBytes: false,
    readIdentity: (p) => ({ type: p.type, transform: p.transform, parentTable: p.parentTable }),
    create(params, { targetSchema, deleteMissing }) {
      return { inDatabase: planTransform(params.transform, targetSchema, params.parentTable, { deleteMissing }) };
    },
  }),
};

/** `custom_sync_params.source`: one of the kinds above, told apart by `type`. */
export const SourceParamsSchema = z.discriminatedUnion('type', [SOURCE_KINDS.bigquery.params, SOURCE_KINDS.postgres.params, SOURCE_KINDS.sql.params]);
export type SourceParams = z.output<typeof SourceParamsSchema>;

/** What decides the rows a read of these params returns (see SourceKind.readIdentity). */
export function readIdentity(params: SourceParams): unknown {
  return (SOURCE_KINDS[params.type] as SourceKind<z.ZodType<SourceParams>>).readIdentity(params);
}

/** The sources of a process: readers by params, through the registry. */
export interface Sources {
  /** The reader of a table's source (a RefreshFailure when its kind is not configured here). */
  reader(params: SourceParams, table: ReaderContext): TableReader;
  /** Whether the kind of these params can estimate bytes before a read. */
  canEstimateBytes(params: SourceParams): boolean;
}

export function createSources(environment: SourceEnvironment): Sources {
  const postgres = new Map<string, PagedSource>();
  const resolved: ResolvedEnvironment = {
    ...environment,
    postgres(url) {
      let source = postgres.get(url);
      if (!source) postgres.set(url, (source = createPostgresSource(url, environment.sourceRole ?? DEFAULT_SOURCE_ROLE, environment.sessionLimits)));
      return source;
    },
  };
  return {
    reader(params, table) {
      const k = SOURCE_KINDS[params.type] as SourceKind<z.ZodType<SourceParams>>;
      return k.create(params, { ...table, environment: resolved });
    },
    canEstimateBytes: (params) => SOURCE_KINDS[params.type].canEstimateBytes,
  };
}

/** The sources of the service: BigQuery when configured, postgres sources for the target (or a named database). */
export function sourcesFromConfig(config: Pick<Config, 'bigquery' | 'env' | 'postgresSourceRole' | 'database'>, targetUrl: string): Sources {
  return createSources({
    targetUrl,
    bigquery: config.bigquery ? createBigQuerySource(config.bigquery) : undefined,
    env: config.env,
    sourceRole: config.postgresSourceRole,
    sessionLimits: config.database.sessionLimits,
  });
}
