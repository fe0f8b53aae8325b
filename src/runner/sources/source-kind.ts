// What a kind of source is, as its folder defines it (bigquery/kind.ts, postgres/kind.ts,
// sql/kind.ts) and the registry lists it: everything the rest of the service needs to know of
// a kind is a field here, so that nothing outside sources/ has to name one.
import type { Logger } from 'pino';
import type { z } from 'zod';
import type { SessionLimits } from '../../database/connection.ts';
import type { DecodePool } from './decode/decode-pool.ts';
import type { ReaderContext, TableReader } from './source.ts';

/** What the process gives every kind when it makes its environment, made once by the composition root. */
export interface SharedServices {
  /** Where a source tells what an operator should know (the service's pino logger). */
  logger?: Logger | undefined;
  /** The process's decode worker pool (decode/): where pages become COPY text. The caller closes it on shutdown. */
  decodePool?: DecodePool;
}

/** What the readers of every kind share in a process, whatever the kind. */
export interface ProcessEnvironment {
  /** The target database's URL (a postgres source's database when its params name none). */
  targetUrl: string;
  /** Set on each session a source opens to a PostgreSQL database, over its role's defaults (a role's statement_timeout must not cut a long read). */
  sessionLimits?: SessionLimits;
}

/**
 * One kind of source. `P`: its params schema; `E`: its settings schema; `R`: its part of the
 * process's environment (every field optional: a process, or a test, may lack the kind).
 */
export interface SourceKind<P extends KindParams = KindParams, E extends z.ZodType<object> = z.ZodType<object>, R extends object = object> {
  /** The schema of `custom_sync_params.source` of this kind, told apart by its `type` literal (strict: unknown keys are refused). */
  params: P;
  /**
   * The kind's variables of the process environment (credentials, settings), parsed with the
   * service's own by config.ts: one problem line per issue. Its output's fields join Config.
   */
  settings: E;
  /** Whether `estimateBytes` can tell what a read would cost before it runs (the daily byte budget, forceRefresh's dry run). */
  canEstimateBytes: boolean;
  /** Whether an incremental refresh needs a cursorColumn (false: the kind finds its window itself, as an in-database transform does). */
  incrementalNeedsCursor: boolean;
  /**
   * The params that decide which rows a read returns (not the knobs of how it is done: a byte
   * cap, a NUL replacement). A load resumed under other such params would mix two reads.
   */
  readIdentity(params: z.output<P>): unknown;
  /** The kind's part of the process's environment, made once from its settings (e.g. the BigQuery client) and the parts every kind shares. */
  environment(settings: z.output<E>, shared: SharedServices): R;
  /** The readers of this kind in a process: the reader of one table's source, made per refresh. */
  readers(environment: ProcessEnvironment & R): (params: z.output<P>, table: ReaderContext) => TableReader;
}

/** A kind's params schema: an object whose `type` is a literal, the registry's discriminator. */
type KindParams = z.ZodObject<{ type: z.ZodLiteral<string> }>;

/** A kind, its types inferred from its schemas. */
export function defineSourceKind<P extends KindParams, E extends z.ZodType<object>, R extends object>(kind: SourceKind<P, E, R>): SourceKind<P, E, R> {
  return kind;
}
