// sources/ — where a table's rows come from. One concern: the kinds of source a table can be
// refreshed from (`custom_sync_params.source.type`), each a folder beside this file exporting
// one SourceKind (source-kind.ts) — its params schema, its settings from the environment, its
// capabilities and its readers — and the interface the engine reads them through (source.ts).
// A new kind is one folder and one line in SOURCE_KINDS below; everything else (the params
// union, the settings config.ts reads, the process's environment, the readers) is derived
// from that list, and nothing outside sources/ names a kind. decode/ beside them is not a kind:
// the worker threads that turn what a kind received into COPY text, shared by the kinds.
//
// What sources/ may import: params/ (the value types of params), engine/catalog.ts (identifier
// quoting), engine/refresh-failures.ts (RefreshFailure, the classification of PostgreSQL
// errors) and database/connection.ts (sessions) — never scheduler/ or state/, nor the rest of
// engine/. True when this was written: `grep -rnE "from '.*/(scheduler|state)/" src/runner/sources`
// finds nothing, and engine/ is reached only through those two files.
import { z } from 'zod';
import type { SessionLimits } from '../../database/connection.ts';
import { bigqueryKind } from './bigquery/kind.ts';
import { postgresKind } from './postgres/kind.ts';
import type { ReaderContext, TableReader } from './source.ts';
import type { ProcessEnvironment, SharedServices, SourceKind } from './source-kind.ts';
import { sqlKind } from './sql/kind.ts';

const SOURCE_KINDS = [
  bigqueryKind,
  postgresKind,
  sqlKind,
] as const;

type Kinds = typeof SOURCE_KINDS;
type Kind = Kinds[number];
/** A | B → A & B: what every kind contributes, together. */
type AllOf<U> = (U extends unknown ? (u: U) => void : never) extends (all: infer I) => void ? I : never;
/** A kind as the registry calls it, for params it has already told apart by `type`. */
type AnyKind = SourceKind<Kind['params'], z.ZodType<object>, object>;

/** The params schemas of a list of kinds, as a tuple (what z.discriminatedUnion takes). */
type ParamsOf<T extends readonly unknown[]> = { [I in keyof T]: T[I] extends { params: infer P } ? P : never };
const paramsSchemas = SOURCE_KINDS.map((k) => k.params) as unknown as ParamsOf<Kinds>;

/** `custom_sync_params.source`: one of the kinds, told apart by `type`. */
export const SourceParamsSchema = z.discriminatedUnion('type', paramsSchemas);
export type SourceParams = z.output<typeof SourceParamsSchema>;

const byType = new Map<string, AnyKind>(SOURCE_KINDS.map((k) => [k.params.shape.type.value, k as unknown as AnyKind]));

/** The kind of these params. */
function kindOf(params: SourceParams): AnyKind {
  return byType.get(params.type)!;
}

/** What decides the rows a read of these params returns (see SourceKind.readIdentity). */
export function readIdentity(params: SourceParams): unknown {
  return kindOf(params).readIdentity(params);
}

/** Whether an incremental refresh of this source needs a cursorColumn (see SourceKind.incrementalNeedsCursor). */
export function incrementalNeedsCursor(params: SourceParams): boolean {
  // Unknown kinds too: the params' own issues name them (a refinement may see them unparsed).
  return byType.get(params.type)?.incrementalNeedsCursor ?? true;
}

/** Every kind's settings from the environment: the fields they add to Config. */
export type SourceSettings = AllOf<z.output<Kind['settings']>>;

/** The settings of every kind from these variables (config.ts), or the issues of all of them. */
export function parseSourceSettings(env: Record<string, string | undefined>): { settings: SourceSettings; issues: [] } | { settings: null; issues: z.core.$ZodIssue[] } {
  const issues: z.core.$ZodIssue[] = [];
  const settings: Record<string, unknown> = {};
  for (const kind of SOURCE_KINDS) {
    const parsed = kind.settings.safeParse(env);
    if (parsed.success) Object.assign(settings, parsed.data);
    else issues.push(...parsed.error.issues);
  }
  return issues.length ? { settings: null, issues } : { settings: settings as unknown as SourceSettings, issues: [] };
}

/** What the process can read from: built once at its start (the composition root), or by a test. */
export type SourceEnvironment = ProcessEnvironment & AllOf<ReturnType<Kind['environment']>>;

/** The sources of a process: readers by params, through the registry. */
export interface Sources {
  /** The reader of a table's source (a RefreshFailure when its kind is not configured here). */
  reader(params: SourceParams, table: ReaderContext): TableReader;
  /** Whether the kind of these params can estimate bytes before a read. */
  canEstimateBytes(params: SourceParams): boolean;
}

/** The sources of a process in this environment: each kind's readers, made once. */
export function createSources(environment: SourceEnvironment): Sources {
  const readers = new Map([...byType].map(([type, kind]) => [type, kind.readers(environment)]));
  return {
    reader: (params, table) => readers.get(params.type)!(params, table),
    canEstimateBytes: (params) => kindOf(params).canEstimateBytes,
  };
}

/**
 * The sources of the service from its configuration: each kind's part made from its settings
 * and the shared parts (the decode pool, which the caller closes on shutdown); `targetUrl` the
 * target database.
 */
export function sourcesFromConfig(config: SourceSettings & { database: { sessionLimits: SessionLimits } }, targetUrl: string, shared: SharedServices = {}): Sources {
  const parts = [...byType.values()].map((kind) => kind.environment(config, shared));
  return createSources(Object.assign({ targetUrl, sessionLimits: config.database.sessionLimits }, ...parts) as SourceEnvironment);
}
