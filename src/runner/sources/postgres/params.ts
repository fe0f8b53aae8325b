// custom_sync_params.source of a `postgres` source.
import { z } from 'zod';
import { paramValue } from '../../params/param-types.ts';

/** The prefix of the variables a source may name: the service's own settings and secrets (DATABASE_URL, API_TOKENS, …) never match it. */
export const SOURCE_URL_PREFIX = 'SOURCE_DATABASE_URL_';

export const PostgresSourceParams = z.object({
  type: z.literal('postgres'),
  /** A SELECT; may use @since and the named params below (sent as bind parameters). */
  query: z.string().min(1, 'required'),
  params: z.record(z.string(), paramValue).default({}),
  /**
   * Name of an environment variable holding the source database's URL (never the URL
   * itself: params are visible in the graph), one meant for it: SOURCE_DATABASE_URL_<NAME>.
   * Whoever may edit params must not be able to hand the service's own settings and secrets
   * (API_TOKENS, DATABASE_URL, …) to a source. Unset: the target database.
   */
  databaseUrlEnv: z
    .string()
    .regex(new RegExp(`^${SOURCE_URL_PREFIX}[A-Z0-9_]+$`), `must name a variable ${SOURCE_URL_PREFIX}<NAME> (e.g. ${SOURCE_URL_PREFIX}LEGACY), set to that database's URL`)
    .optional(),
}).strict();
