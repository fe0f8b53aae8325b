// The `bigquery` kind: a query in BigQuery, read page by page through its REST API
// (bigquery.ts), configured by the BIGQUERY_* variables and GOOGLE_APPLICATION_CREDENTIALS.
import { z } from 'zod';
import { RefreshFailure } from '../../engine/refresh-failures.ts';
import { defineSourceKind } from '../source-kind.ts';
import { createBigQuerySource, type BigQuerySource, type BigQuerySourceSettings } from './bigquery.ts';
import { BigQuerySourceParams } from './params.ts';

/** What the service reads of BigQuery from the environment (fields of Config). */
interface BigQuerySettings {
  /** Undefined: no BigQuery; tables refresh from the embedded demo source. */
  bigquery: Pick<BigQuerySourceSettings, 'projectId' | 'location' | 'keyFilename' | 'apiEndpoint'> | undefined;
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
  })
  .transform(
    (e): BigQuerySettings => ({
      bigquery: e.BIGQUERY_PROJECT_ID
        ? { projectId: e.BIGQUERY_PROJECT_ID, location: e.BIGQUERY_LOCATION, keyFilename: e.GOOGLE_APPLICATION_CREDENTIALS, apiEndpoint: e.BIGQUERY_API_ENDPOINT }
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
  environment: (settings, { decodePool }): { bigquery?: BigQuerySource } => ({
    bigquery: settings.bigquery ? createBigQuerySource({ ...settings.bigquery, ...(decodePool ? { decodePool } : {}) }) : undefined,
  }),
  readers: ({ bigquery }) => () => {
    if (!bigquery) throw new RefreshFailure('BigQuery is not configured (set BIGQUERY_PROJECT_ID)', { reason: 'bigqueryNotConfigured', retryable: false });
    return { pages: bigquery };
  },
});
