// custom_sync_params.source of a `bigquery` source.
import { z } from 'zod';
import { byteCount, paramValue } from '../../params/param-types.ts';

export const BigQuerySourceParams = z.object({
  type: z.literal('bigquery'),
  /** Standard SQL; may use @since (incremental lower bound) and the named params below. */
  query: z.string().min(1, 'required'),
  params: z.record(z.string(), paramValue).default({}),
  /** Overrides BIGQUERY_LOCATION for this table. */
  location: z.string().min(1).optional(),
  /** BigQuery refuses to run the job when it would bill more than this. */
  maximumBytesBilled: byteCount.optional(),
  /** Replaces U+0000 in values (PostgreSQL text cannot hold it); unset: a NUL fails the run naming column and row. */
  nulReplacement: z.string().optional(),
  /** false: always query, even when the tables the query reads did not change (non-deterministic queries). */
  skipWhenUnchanged: z.boolean().optional(),
  /** How the job's results are read: storage (the Storage Read API's Arrow streams) or rest (its JSON pages). Default: storage where it is configured. */
  readApi: z.enum(['storage', 'rest']).optional(),
}).strict(); // every level strict: a typo ("maximumBytesBiled") must not silently drop a byte cap
