// What a refresh checks and resolves before it reads: the params against the target table,
// the daily byte budget, and watermark arithmetic.
import type pg from 'pg';
import { bytesBilledToday } from './audit-log.ts';
import { matchesUniqueKey, type TargetTable } from './catalog.ts';
import { RefreshFailure } from './refresh-failures.ts';
import type { RefreshOptions } from './refresh-types.ts';
import type { PagedSource } from './source.ts';
import { SyncParamsError } from './params-error.ts';

/** Compares two watermark texts: timestamps and dates in ISO form sort as text; numbers as numbers. */
export function greater(a: string, b: string): boolean {
  const na = Number(a);
  const nb = Number(b);
  if (!Number.isNaN(na) && !Number.isNaN(nb)) return na > nb;
  const da = Date.parse(a);
  const db = Date.parse(b);
  if (!Number.isNaN(da) && !Number.isNaN(db)) return da > db;
  return a > b;
}

export function lowerBound(watermark: string, lookbackHours: number): string {
  const t = Date.parse(watermark);
  if (Number.isNaN(t)) return watermark;
  return new Date(t - lookbackHours * 3_600_000).toISOString();
}

export function validateAgainstTarget(target: TargetTable, keys: string[], cursor: string | undefined, columns: string[] | undefined) {
  const has = (c: string) => target.columns.some((t) => t.name === c);
  const fail = (path: string, message: string) => {
    throw new SyncParamsError([{ path, message }]);
  };
  if (keys.length === 0) fail('keyColumns', `required: ${target.schema}.${target.name} has no primary key`);
  for (const k of keys) if (!has(k)) fail('keyColumns', `${k} is not a column of ${target.schema}.${target.name}`);
  if (!matchesUniqueKey(target, keys)) fail('keyColumns', `(${keys.join(', ')}) is not a unique key of ${target.schema}.${target.name}`);
  if (cursor && !has(cursor)) fail('cursorColumn', `${cursor} is not a column of ${target.schema}.${target.name}`);
  for (const c of columns ?? []) if (!has(c)) fail('source.transform', `${target.schema}.${target.name} has no column ${c}`);
}

export async function enforceBudget(
  client: pg.PoolClient,
  source: PagedSource,
  request: Parameters<PagedSource['open']>[0],
  options: RefreshOptions,
  now: Date,
  record: (b: { estimate?: bigint }) => void,
) {
  if (!source.estimateBytes) return;
  const estimate = await source.estimateBytes(request);
  record({ estimate });
  const budget = options.dailyByteBudget;
  if (budget === null || budget === undefined) return;
  const spent = await bytesBilledToday(client, now);
  if (spent + estimate > budget) {
    throw new RefreshFailure(
      `daily BigQuery byte budget exceeded: this refresh would process ${estimate} bytes, ${budget - spent < 0n ? 0n : budget - spent} of ${budget} remain today`,
      { reason: 'budgetExceeded', estimateBytes: estimate.toString(), spentTodayBytes: spent.toString(), budgetBytes: budget.toString(), retryable: false },
    );
  }
}
