// When a table is due — the one rule: enabled, configured (its custom_sync_params say where its
// rows come from; an empty object says nothing) and its next_refresh_at has passed. The runner's
// queue and next wake-up (scheduler/sql.ts) and the graph's `refreshConfigs(filter: { due })`
// take it from here. It is spelled in the two languages those callers query in — SQL for the
// runner's pg statements, a Prisma `where` for the graph's paginated Prisma query — side by side
// so that they cannot drift apart; test/due.test.ts checks that both select the same tables.
import { Prisma } from '../../generated/prisma/client.ts';

const DB_NULL = Prisma.DbNull;

/** SQL: enabled and configured, the tables that ever become due (`alias` names refresh_config). */
export const schedulableSql = (alias: string) => `${alias}.is_enabled AND ${alias}.custom_sync_params <> '{}'::jsonb`;

/** SQL: due at `now` (a placeholder or expression of timestamptz). */
export const dueSql = (alias: string, now: string) => `${schedulableSql(alias)} AND ${alias}.next_refresh_at <= ${now}`;

/** Prisma: the tables due at `now` (`due` true), or all the others (`due` false). */
export function dueWhere(due: boolean, now: Date): Prisma.RefreshConfigWhereInput {
  if (due) return { isEnabled: true, nextRefreshAt: { lte: now }, NOT: [{ customSyncParams: { equals: {} } }, { customSyncParams: { equals: DB_NULL } }] };
  return { OR: [{ isEnabled: false }, { nextRefreshAt: null }, { nextRefreshAt: { gt: now } }, { customSyncParams: { equals: {} } }, { customSyncParams: { equals: DB_NULL } }] };
}
