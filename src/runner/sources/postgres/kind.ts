// The `postgres` kind: a query against the target database or one a SOURCE_DATABASE_URL_<NAME>
// variable names (postgres.ts), run as the source role POSTGRES_SOURCE_ROLE (source-role.ts).
import { z } from 'zod';
import { RefreshFailure } from '../../engine/refresh-failures.ts';
import type { PagedSource } from '../source.ts';
import { defineSourceKind } from '../source-kind.ts';
import { PostgresSourceParams, SOURCE_URL_PREFIX } from './params.ts';
import { createPostgresSource } from './postgres.ts';
import { DEFAULT_SOURCE_ROLE, type SourceRole } from './source-role.ts';

/** What the service reads of postgres sources from the environment (fields of Config). */
interface PostgresSettings {
  /** The environment variables postgres sources may name (source.databaseUrlEnv): only SOURCE_DATABASE_URL_…. */
  env: Record<string, string | undefined>;
  /** The role postgres source queries run as (source-role.ts). */
  postgresSourceRole: SourceRole;
}

/** What the postgres readers of a process share. */
interface PostgresEnvironment {
  /** Resolves `databaseUrlEnv` of a postgres source (params store only the variable's name, SOURCE_DATABASE_URL_…). */
  env?: Record<string, string | undefined>;
  /** The role postgres source queries run as (source-role.ts); default sqp_refresh_source, not explicit. */
  sourceRole?: SourceRole;
}

const PostgresEnv = z
  .looseObject({
    // A role name (quoted where used); PostgreSQL cuts names at 63 bytes.
    POSTGRES_SOURCE_ROLE: z.string().min(1).max(63).optional(),
  })
  .transform(
    (e): PostgresSettings => ({
      // Only the variables meant for sources: the service's own settings and secrets never reach them.
      env: Object.fromEntries(Object.entries(e).filter((entry): entry is [string, string] => entry[0].startsWith(SOURCE_URL_PREFIX) && typeof entry[1] === 'string')),
      postgresSourceRole: e.POSTGRES_SOURCE_ROLE ? { name: e.POSTGRES_SOURCE_ROLE, explicit: true } : DEFAULT_SOURCE_ROLE,
    }),
  );

export const postgresKind = defineSourceKind({
  params: PostgresSourceParams,
  settings: PostgresEnv,
  canEstimateBytes: false,
  incrementalNeedsCursor: true,
  readIdentity: (p) => ({ type: p.type, query: p.query, params: p.params, databaseUrlEnv: p.databaseUrlEnv ?? null }),
  environment: (settings): PostgresEnvironment => ({ env: settings.env, sourceRole: settings.postgresSourceRole }),
  readers(environment) {
    // One source per database, made at its first read.
    const sources = new Map<string, PagedSource>();
    const sourceOf = (url: string): PagedSource => {
      let source = sources.get(url);
      if (!source) sources.set(url, (source = createPostgresSource(url, environment.sourceRole ?? DEFAULT_SOURCE_ROLE, environment.sessionLimits)));
      return source;
    };
    return (params) => {
      const envName = params.databaseUrlEnv;
      const url = envName ? environment.env?.[envName] : environment.targetUrl;
      if (!url) throw new RefreshFailure(`environment variable ${envName} (source.databaseUrlEnv) is not set`, { reason: 'params', retryable: false });
      return { pages: sourceOf(url) };
    };
  },
});
