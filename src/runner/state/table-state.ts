// A table's state, as every surface shows it (the graph's tableHealth, runnerStatus, the CLI's
// `status`, /metrics, the status page): one precedence order, written once, below. A table is in
// the first state whose rule holds; its reasons say why. Also here: whether it is late (its
// freshness SLA has passed without a success) and whether a runner would start it now (queue
// depth, the one definition). The facts are the read model's; the verdict on its next refresh
// (blocked or not) is the planner's, so tableHealth and refreshPlan cannot disagree.
import { DEFAULT_RETRY, type PlannedRefresh, type RetryPolicy } from './planner.ts';
import type { TableFacts } from './read-model.ts';

/** Every state, in precedence order: a table is in the first whose rule holds. */
export const TABLE_STATES = ['running', 'interrupted', 'disabled', 'unconfigured', 'blocked', 'failed', 'retrying', 'late', 'due', 'scheduled'] as const;
export type TableState = (typeof TABLE_STATES)[number];

/** What a rule reads: the table's facts, the planner's item for its next refresh, the clock, and two facts derived once. */
interface StateFacts {
  f: TableFacts;
  /** Its next refresh as the planner sees it (none: the planner plans nothing for it). */
  item: PlannedRefresh | undefined;
  now: Date;
  late: boolean;
  /** Its latest run failed and the runner retries it (retryable, attempts left). */
  retrying: boolean;
}

/** Each state's rule: the reasons when the table is in it, null when not. Checked in TABLE_STATES order. */
const RULES: Record<TableState, (t: StateFacts) => string[] | null> = {
  running: ({ f }) => (f.runningNow ? [f.runningRunId === null ? 'claimed by a runner; its run is starting' : `run ${f.runningRunId} since ${f.runningStartedAt!.toISOString()}`] : null),
  interrupted: ({ f }) => (f.interrupted ? [`run ${f.runningRunId} says running but no process holds the table's lock: a runner recovers it and resumes from its checkpoint`] : null),
  disabled: ({ f }) => (f.isEnabled ? null : []),
  unconfigured: ({ f }) => (f.configured ? null : ['custom_sync_params is empty: nothing says where its rows come from']),
  blocked: ({ item }) => (item?.state === 'blocked' ? [...item.notes] : null),
  failed: ({ f, retrying }) => (f.latestRun?.status === 'failed' && !retrying ? [failedReason(f)] : null),
  retrying: ({ f, retrying, now }) => (retrying ? [`failed ${f.failureStreak} time(s) in a row; next attempt ${f.retryAt && f.retryAt > now ? `at ${f.retryAt.toISOString()}` : 'now'}`] : null),
  late: ({ f, late }) => (late ? [lateReason(f)] : null),
  due: ({ f, now }) => (f.nextRefreshAt && f.nextRefreshAt <= now ? [] : null),
  scheduled: () => [],
};

function failedReason(f: TableFacts): string {
  const streak = f.failureStreak > 1 ? ` (${f.failureStreak} times in a row)` : '';
  const why = f.latestRun!.retryable ? 'its retries are used up' : 'its error is not one a retry fixes';
  const next = f.nextRefreshAt ? `; next regular refresh at ${f.nextRefreshAt.toISOString()}` : '';
  return `its latest refresh failed (run ${f.latestRun!.id})${streak}: ${why}${next}`;
}

function lateReason(f: TableFacts): string {
  const last = f.lastRefreshAt ? `latest success at ${f.lastRefreshAt.toISOString()}` : 'never refreshed successfully';
  return `late: no successful refresh within its freshness SLA of ${f.freshnessSlaHours} h (${last})`;
}

/** A table's state now, why, whether it is late, and whether a runner would start it now. */
export interface TableStateNow {
  state: TableState;
  reasons: string[];
  /** Enabled, configured, and its freshness SLA has passed without a success (running or not). */
  late: boolean;
  /** A runner would start it now: the planner's next refresh of it is ready and due (queue depth counts these). */
  queued: boolean;
}

/** The state of one table from its facts and the planner's item for it (`retry`: the runner's retry policy). */
export function tableStateOf(f: TableFacts, item: PlannedRefresh | undefined, now: Date, retry: RetryPolicy = DEFAULT_RETRY): TableStateNow {
  const late = f.isEnabled && f.configured && f.lateAfter <= now;
  const retrying = f.latestRun?.status === 'failed' && f.latestRun.retryable && f.failureStreak < retry.maxAttempts;
  const facts: StateFacts = { f, item, now, late, retrying };
  let state: TableState = 'scheduled';
  let reasons: string[] = [];
  for (const s of TABLE_STATES) {
    const r = RULES[s](facts);
    if (r === null) continue;
    state = s;
    reasons = r;
    break;
  }
  // What else holds: the planner's notes (soft parents), and lateness under a stronger state.
  if (item && state !== 'blocked') reasons.push(...item.notes);
  if (late && state !== 'late') reasons.push(lateReason(f));
  // Its own refresh, not a cascade: a dependent planned "right after its parent" waits for that parent's run.
  const queued = !f.runningNow && item?.state === 'ready' && item.reason !== 'cascade' && item.at <= now;
  return { state, reasons, late, queued };
}

/** Queue depth, the one definition: tables a runner would start now (due, retry due, interrupted; not blocked, not running). */
export function queueDepth(states: Iterable<{ queued: boolean }>): number {
  let n = 0;
  for (const s of states) if (s.queued) n++;
  return n;
}
