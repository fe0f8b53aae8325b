// custom_sync_params.source of a `postgres` source.
import { z } from 'zod';
import { paramValue } from '../../param-types.ts';

export const PostgresSourceParams = z.object({
  type: z.literal('postgres'),
  /** A SELECT; may use @since and the named params below (sent as bind parameters). */
  query: z.string().min(1, 'required'),
  params: z.record(z.string(), paramValue).default({}),
  /**
   * Name of an environment variable holding the source database's URL (never the URL
   * itself: params are visible in the graph). Unset: the target database.
   */
  databaseUrlEnv: z.string().regex(/^[A-Z_][A-Z0-9_]*$/, 'must name an environment variable').optional(),
}).strict();
