// Health of each registered table, as operators ask it: what state is it in and why (the
// planner's verdict, so it says exactly what the runner will do), is it stale beyond its
// frequency, how many failures in a row, the latest quality verdict, bytes billed today.
import type pg from 'pg';
import { loadPlanInput } from './plan-input.ts';
import { planRefreshes } from './planner.ts';

export type TableState = 'disabled' | 'running' | 'blocked' | 'retrying' | 'due' | 'scheduled' | 'unconfigured';
export type QualityVerdict = 'pass' | 'warning' | 'fail';

export interface TableHealth {
  configId: number;
  table: string;
  state: TableState;
  /** Why it is in that state (blocked by which parent, which retry, …). */
  reasons: string[];
  stale: boolean;
  lastRefreshAt: Date | null;
  nextRefreshAt: Date | null;
  failureStreak: number;
  qualityVerdict: QualityVerdict | null;
  latestRunId: number | null;
  bytesBilledToday: bigint;
}

/** Health of the given configs (all when `ids` is null), in three statements plus the planner. */
export async function tableHealth(db: pg.Pool, now: Date, ids: number[] | null): Promise<TableHealth[]> {
  const [{ rows }, input] = await Promise.all([
    db.query<{
      id: number; table: string; enabled: boolean; has_params: boolean; last_refresh_at: Date | null; next_refresh_at: Date | null;
      stale: boolean; running: boolean; latest_id: number | null; latest_status: string | null; total: number; outside: number; streak: number; bytes: string;
    }>(
      `SELECT c.id, c.table_schema || '.' || c.table_name AS table, coalesce(c.is_enabled, true) AS enabled,
              c.custom_sync_params IS NOT NULL AND c.custom_sync_params <> '{}'::jsonb AS has_params,
              c.last_refresh_at, c.next_refresh_at,
              (c.last_refresh_at IS NULL OR c.last_refresh_at < $1::timestamptz - make_interval(hours => coalesce(c.refresh_frequency_hours, 24))) AS stale,
              EXISTS (SELECT 1 FROM sqp.refresh_audit_log r WHERE r.refresh_config_id = c.id AND r.status = 'running') AS running,
              lr.id AS latest_id, lr.status AS latest_status, coalesce(q.total, 0)::int AS total, coalesce(q.outside, 0)::int AS outside,
              sqp_refresh_work.failure_streak(c.id) AS streak,
              (SELECT coalesce(sum((b.sync_metadata->>'bytesBilled')::numeric), 0)::text FROM sqp.refresh_audit_log b
               WHERE b.refresh_config_id = c.id AND b.refresh_started_at >= date_trunc('day', $1::timestamptz AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'
                 AND b.sync_metadata ? 'bytesBilled') AS bytes
       FROM sqp.refresh_config c
       LEFT JOIN LATERAL (
         SELECT a.id, a.status FROM sqp.refresh_audit_log a
         WHERE a.refresh_config_id = c.id AND a.status <> 'running' AND coalesce(a.sync_metadata->>'outcome', '') NOT IN ('paused', 'cancelled')
         ORDER BY a.refresh_started_at DESC, a.id DESC LIMIT 1
       ) lr ON true
       LEFT JOIN LATERAL (
         SELECT count(*) AS total, count(*) FILTER (WHERE NOT is_within_threshold) AS outside
         FROM sqp.refresh_data_quality WHERE audit_log_id = lr.id
       ) q ON true
       WHERE $2::int[] IS NULL OR c.id = ANY ($2::int[])
       ORDER BY c.priority DESC, c.id`,
      [now, ids],
    ),
    loadPlanInput(db, now, 0),
  ]);
  const plan = new Map(planRefreshes(input).items.map((i) => [i.configId, i]));
  return rows.map((r) => {
    const item = plan.get(r.id);
    let state: TableState;
    const reasons: string[] = [];
    if (!r.enabled) state = 'disabled';
    else if (r.running) state = 'running';
    else if (item?.state === 'blocked') {
      state = 'blocked';
      reasons.push(...item.notes);
    } else if (!r.has_params) {
      state = 'unconfigured';
      reasons.push('custom_sync_params is empty: nothing says where its rows come from');
    } else if (r.latest_status === 'failed' && r.next_refresh_at && r.next_refresh_at > now && r.streak > 0) {
      state = 'retrying';
      reasons.push(`failed ${r.streak} time(s) in a row; next attempt at ${r.next_refresh_at.toISOString()}`);
    } else if (r.next_refresh_at && r.next_refresh_at <= now) state = 'due';
    else state = 'scheduled';
    if (item && state !== 'blocked') reasons.push(...item.notes);
    const verdict: QualityVerdict | null = r.total === 0 ? null : r.outside === 0 ? 'pass' : r.latest_status === 'failed' ? 'fail' : 'warning';
    return {
      configId: r.id,
      table: r.table,
      state,
      reasons,
      stale: r.stale,
      lastRefreshAt: r.last_refresh_at,
      nextRefreshAt: r.next_refresh_at,
      failureStreak: r.streak,
      qualityVerdict: verdict,
      latestRunId: r.latest_id,
      bytesBilledToday: BigInt(r.bytes.split('.')[0]!),
    };
  });
}
