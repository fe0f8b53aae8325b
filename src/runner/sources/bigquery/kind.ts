// The `bigquery` kind: a query in BigQuery, its results read through the Storage Read API or
// page by page through the REST API (bigquery.ts), configured by the BIGQUERY_* variables and
// GOOGLE_APPLICATION_CREDENTIALS.
import { z } from 'zod';
import { RefreshFailure } from '../../engine/refresh-failures.ts';
import { defineSourceKind } from '../source-kind.ts';
import { createBigQuerySource, type BigQuerySource, type BigQuerySourceSettings, type BigQueryStorageSettings } from './bigquery.ts';
import { BigQuerySourceParams } from './params.ts';
import { canDecompressZstd } from './arrow-compression.ts';

/** What the service reads of BigQuery from the environment (fields of Config). */
interface BigQuerySettings {
  /** Undefined: no BigQuery; tables refresh from the embedded demo source. */
  bigquery: Pick<BigQuerySourceSettings, 'projectId' | 'location' | 'keyFilename' | 'apiEndpoint' | 'storage'> | undefined;
  /** BIGQUERY_DAILY_BYTE_BUDGET: the bytes the day's runs may bill in all (null: no budget). */
  dailyByteBudget: bigint | null;
}

const BigQueryEnv = z
  .object({
    BIGQUERY_PROJECT_ID: z.string().min(1).optional(),
    BIGQUERY_LOCATION: z.string().min(1).optional(),
    GOOGLE_APPLICATION_CREDENTIALS: z.string().min(1).optional(),
    BIGQUERY_API_ENDPOINT: z.string().url().optional(),
    BIGQUERY_DAILY_BYTE_BUDGET: z.string().regex(/^\d+$/, 'must be a whole number of bytes').optional(),
    /** host[:port] of the Storage Read API; unset: Google's when BIGQUERY_API_ENDPOINT is unset, else none. */
    BIGQUERY_STORAGE_API_ENDPOINT: z.string().regex(/^[\w.-]+(:\d{1,5})?$/, 'must be host or host:port').optional(),
    /** true: plaintext gRPC without credentials (a local test server). */
    BIGQUERY_STORAGE_INSECURE: z.enum(['true', 'false']).optional(),
    BIGQUERY_STORAGE_MAX_STREAMS: z.string().regex(/^[1-9]\d{0,2}$/, 'must be 1 to 999').optional(),
    /** zstd: record batches ZSTD-compressed (the default where this Node can decompress them); none: uncompressed. */
    BIGQUERY_STORAGE_COMPRESSION: z
      .enum(['zstd', 'none'])
      .optional()
      .refine((c) => c !== 'zstd' || canDecompressZstd, `zstd needs a Node with zlib.zstdDecompressSync (≥ 22.15 or ≥ 23.8; this is ${process.version})`),
  })
  .transform(
    (e): BigQuerySettings => ({
      bigquery: e.BIGQUERY_PROJECT_ID
        ? { projectId: e.BIGQUERY_PROJECT_ID, location: e.BIGQUERY_LOCATION, keyFilename: e.GOOGLE_APPLICATION_CREDENTIALS, apiEndpoint: e.BIGQUERY_API_ENDPOINT, storage: storageSettings(e) }
        : undefined,
      dailyByteBudget: e.BIGQUERY_DAILY_BYTE_BUDGET ? BigInt(e.BIGQUERY_DAILY_BYTE_BUDGET) : null,
    }),
  );

export const bigqueryKind = defineSourceKind({
  params: BigQuerySourceParams,
  settings: BigQueryEnv,
  canEstimateBytes: true,
  incrementalNeedsCursor: true,
  readIdentity: (p) => ({ type: p.type, query: p.query, params: p.params, location: p.location ?? null }),
  environment: (settings, { logger, decodePool }): { bigquery?: BigQuerySource } => ({
    bigquery: settings.bigquery ? createBigQuerySource({ ...settings.bigquery, ...(logger ? { logger } : {}), ...(decodePool ? { decodePool } : {}) }) : undefined,
  }),
  readers: ({ bigquery }) => () => {
    if (!bigquery) throw new RefreshFailure('BigQuery is not configured (set BIGQUERY_PROJECT_ID)', { reason: 'bigqueryNotConfigured', retryable: false });
    return { pages: bigquery };
  },
});

/** The Storage Read API's settings: its own endpoint, or Google's beside Google's REST API, or none beside another REST endpoint. */
function storageSettings(e: {
  BIGQUERY_API_ENDPOINT?: string | undefined;
  BIGQUERY_STORAGE_API_ENDPOINT?: string | undefined;
  BIGQUERY_STORAGE_INSECURE?: string | undefined;
  BIGQUERY_STORAGE_MAX_STREAMS?: string | undefined;
  BIGQUERY_STORAGE_COMPRESSION?: 'zstd' | 'none' | undefined;
}): BigQueryStorageSettings | null {
  if (!e.BIGQUERY_STORAGE_API_ENDPOINT && e.BIGQUERY_API_ENDPOINT) return null;
  const [host, port] = (e.BIGQUERY_STORAGE_API_ENDPOINT ?? '').split(':');
  return {
    ...(host ? { apiEndpoint: host } : {}),
    ...(port ? { port: Number(port) } : {}),
    insecure: e.BIGQUERY_STORAGE_INSECURE === 'true',
    ...(e.BIGQUERY_STORAGE_MAX_STREAMS ? { maxStreams: Number(e.BIGQUERY_STORAGE_MAX_STREAMS) } : {}),
    ...(e.BIGQUERY_STORAGE_COMPRESSION ? { compression: e.BIGQUERY_STORAGE_COMPRESSION } : {}),
  };
}
