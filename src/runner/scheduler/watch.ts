// Tells someone when a table goes late or is blocked by a failed parent. Neither is a write the
// runner makes: lateness is a verdict on time, blocking one on a parent. So after a pass the
// runner reads every table's state from the read model (the same verdicts the graph shows) and
// hands the new episodes to the alerts (src/alerts/table-alerts.ts), which tell each once. At
// most once per WATCH_INTERVAL_MS per process: passes come with every wake-up.
import { alertNewEpisodes, type EpisodeCandidate } from '../../alerts/table-alerts.ts';
import { tableHealth, type TableHealth } from '../state/health.ts';
import { FAILED_PARENT_NOTE } from '../state/planner.ts';
import type { SchedulerContext } from './context.ts';

const WATCH_INTERVAL_MS = 30_000;

/** Watches the tables' states after passes; `check` does nothing until the interval has passed since the last look. */
export function createStateWatch(ctx: SchedulerContext): { check(): Promise<void> } {
  let lastLook = -Infinity;
  return {
    async check() {
      const now = ctx.now();
      if (now.getTime() - lastLook < WATCH_INTERVAL_MS) return;
      lastLook = now.getTime();
      const tables = await tableHealth(ctx.pool, now, null, { bytes: false, retry: ctx.retry });
      const told = await alertNewEpisodes(ctx.pool, tables.flatMap(candidates), now);
      if (told) ctx.log.info({ alerts: told }, 'tables went late or were blocked by a failed parent: alerts written');
    },
  };
}

/** The alerts a table's state calls for: late (whatever else it is), blocked by a parent whose latest refresh failed. */
function candidates(h: TableHealth): EpisodeCandidate[] {
  const table = { configId: h.configId, tableSchema: h.tableSchema, tableName: h.tableName, since: h.lastRefreshAt };
  const out: EpisodeCandidate[] = [];
  if (h.late) out.push({ ...table, kind: 'table_late', reason: h.state === 'late' ? h.reasons.join('; ') : `late: its freshness SLA of ${h.freshnessSlaHours} h passed at ${h.lateAfter.toISOString()}` });
  const failedParents = h.state === 'blocked' ? h.reasons.filter((r) => r.endsWith(FAILED_PARENT_NOTE)) : [];
  if (failedParents.length) out.push({ ...table, kind: 'table_blocked', reason: failedParents.join('; ') });
  return out;
}
