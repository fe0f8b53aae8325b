// The sources a process can read from, built once from the configuration.
import type { Config } from '../../config.ts';
import type { SourceProvider } from '../refresh-table.ts';
import type { PagedSource } from '../source.ts';
import { createBigQuerySource } from './bigquery.ts';
import { createPostgresSource } from './postgres.ts';

/** BigQuery when configured; postgres sources for the target (or a named database). */
export function createSources(config: Config, targetUrl: string): SourceProvider {
  const postgres = new Map<string, PagedSource>();
  return {
    bigquery: config.bigquery ? createBigQuerySource(config.bigquery) : undefined,
    postgres(url) {
      const key = url ?? targetUrl;
      let source = postgres.get(key);
      if (!source) postgres.set(key, (source = createPostgresSource(key)));
      return source;
    },
    env: config.env,
  };
}
