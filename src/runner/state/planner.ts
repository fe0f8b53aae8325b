// The planner: a pure function from configs, dependency edges and latest runs to what will
// run within a horizon, in which order, and why. The runner and `refreshPlan(hours)` use it.
// Its steps, each a function below planRefreshes: the graph and its cycles, each table's own
// occurrence (due, scheduled, retry), cascades to dependents, each table's verdict (ready,
// blocked, waiting for a running parent) and the order.
import { dependencyDepths, findCycles } from './dependency-graph.ts';

export type DependencyKind = 'hard' | 'soft';

export interface PlanConfig {
  id: number;
  tableSchema: string;
  tableName: string;
  isEnabled: boolean;
  priority: number;
  refreshFrequencyHours: number;
  nextRefreshAt: Date | null;
  /** False while custom_sync_params is empty: no runner picks it (absent: configured). */
  configured?: boolean;
  /** Its refresh lock is held: claimed or running on some replica (read model; absent: no). */
  runningNow?: boolean;
}

export interface PlanEdge {
  parentId: number;
  dependentId: number;
  type: DependencyKind;
}

export interface PlanLatestRun {
  status: 'running' | 'success' | 'warning' | 'failed';
  finishedAt: Date | null;
  /** A failed run whose error may pass on a retry (rate limits, connection loss). */
  retryable?: boolean;
  /** Consecutive failed attempts so far (1 after the first failure). */
  attempts?: number;
  /**
   * When the runner set the next attempt after this failure (the read model's retry_at). Given,
   * the plan shows that time; absent (a plan from bare history), it projects one from the policy
   * without the runner's jitter.
   */
  retryAt?: Date | null;
}

export interface RetryPolicy {
  maxAttempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
}

export interface PlanInput {
  now: Date;
  horizonHours: number;
  configs: PlanConfig[];
  edges: PlanEdge[];
  latestRuns: Map<number, PlanLatestRun>;
  retry?: RetryPolicy;
}

export type PlanReason = 'due' | 'scheduled' | 'cascade' | 'retry';

export interface PlannedRefresh {
  configId: number;
  table: string;
  /** When it becomes runnable. */
  at: Date;
  reason: PlanReason;
  /** For cascades: the parent whose refresh triggers this one. */
  cascadeFrom: string | null;
  /** ready: will run; blocked: a hard parent is unhealthy, or a cycle; */
  state: 'ready' | 'blocked';
  /** Why it is blocked, or what a soft dependency notes. */
  notes: string[];
  /** Hard parents it waits for: their latest refresh failed, or they are running now. */
  blockedBy: string[];
  /** Soft parents whose latest refresh failed (it runs anyway; its audit row says so). */
  unhealthySoftParents: string[];
  priority: number;
}

export interface Plan {
  items: PlannedRefresh[];
  /** Dependency cycles found among the configs (each as a list of table names). */
  cycles: string[][];
}

const HOUR = 3_600_000;
/** How the planner says a hard parent blocks a table because its latest refresh failed (what alerts tell as TABLE_BLOCKED). */
export const FAILED_PARENT_NOTE = 'its latest refresh failed';

export const DEFAULT_RETRY: RetryPolicy = { maxAttempts: 3, baseDelayMs: 60_000, maxDelayMs: 3_600_000 };

/** Backoff before retry `attempt` (1-based), without jitter (the runner adds jitter). */
export function retryDelayMs(attempt: number, policy: RetryPolicy = DEFAULT_RETRY): number {
  return Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.max(0, attempt - 1));
}

const name = (c: PlanConfig) => `${c.tableSchema}.${c.tableName}`;

/** Plans the refreshes of the next `horizonHours`, parents before dependents. */
export function planRefreshes(input: PlanInput): Plan {
  const now = input.now.getTime();
  const graph = buildGraph(input.configs, input.edges);
  const cycles = findCycles(input.configs, input.edges);
  const inCycle = cycleMembers(cycles, graph);
  const own = ownOccurrences(input.configs, input.latestRuns, now, now + input.horizonHours * HOUR, input.retry ?? DEFAULT_RETRY);
  const { occurrence, cascadeFrom } = withCascades(own, graph, inCycle);
  const items = [...occurrence.entries()].map(([id, o]): PlannedRefresh => {
    const c = graph.byId.get(id)!;
    const from = cascadeFrom.get(id);
    return {
      configId: id,
      table: name(c),
      at: new Date(o.at),
      reason: o.reason,
      cascadeFrom: from === undefined ? null : name(graph.byId.get(from)!),
      ...verdict(id, o.at, { graph, inCycle, occurrence, latestRuns: input.latestRuns, now }),
      priority: c.priority,
    };
  });
  items.sort(runOrder(graph));
  return { items, cycles: cycles.map((c) => c.map((id) => name(graph.byId.get(id)!))) };
}

/** The configs by id, and each one's edges to its parents and to its children (edges to unknown configs left out). */
interface PlanGraph {
  byId: Map<number, PlanConfig>;
  parents: Map<number, PlanEdge[]>;
  children: Map<number, PlanEdge[]>;
}

/** When a table's refresh becomes runnable within the horizon, and why. */
interface Occurrence {
  at: number;
  reason: PlanReason;
}

function buildGraph(configs: PlanConfig[], edges: PlanEdge[]): PlanGraph {
  const byId = new Map(configs.map((c) => [c.id, c]));
  const parents = new Map<number, PlanEdge[]>();
  const children = new Map<number, PlanEdge[]>();
  const push = (map: Map<number, PlanEdge[]>, key: number, e: PlanEdge) => {
    const list = map.get(key);
    if (list) list.push(e);
    else map.set(key, [e]);
  };
  for (const e of edges) {
    if (!byId.has(e.parentId) || !byId.has(e.dependentId)) continue;
    push(parents, e.dependentId, e);
    push(children, e.parentId, e);
  }
  return { byId, parents, children };
}

/** Each table in a cycle, with its cycle spelled as table names. */
function cycleMembers(cycles: number[][], graph: PlanGraph): Map<number, string> {
  const inCycle = new Map<number, string>();
  for (const cycle of cycles) {
    const text = cycle.map((id) => name(graph.byId.get(id)!)).join(' -> ');
    for (const id of cycle) inCycle.set(id, text);
  }
  return inCycle;
}

/** Step 1, own occurrences: due now, scheduled later, or a retry after a failure (enabled, configured tables within the horizon). */
function ownOccurrences(configs: PlanConfig[], latestRuns: Map<number, PlanLatestRun>, now: number, end: number, retry: RetryPolicy): Map<number, Occurrence> {
  const first = new Map<number, Occurrence>();
  for (const c of configs) {
    if (!c.isEnabled || c.configured === false) continue;
    const last = latestRuns.get(c.id);
    let at = c.nextRefreshAt?.getTime() ?? now;
    let reason: PlanReason = at <= now ? 'due' : 'scheduled';
    if (last?.status === 'failed' && last.retryable && (last.attempts ?? 1) < retry.maxAttempts && last.finishedAt) {
      const retryAt = last.retryAt !== undefined ? (last.retryAt?.getTime() ?? Infinity) : last.finishedAt.getTime() + retryDelayMs(last.attempts ?? 1, retry);
      if (retryAt <= at) {
        at = retryAt;
        reason = 'retry';
      }
    }
    if (at <= end) first.set(c.id, { at: Math.max(at, now), reason });
  }
  return first;
}

/** Step 2, cascades: a parent's refresh makes its dependents (enabled, configured, in no cycle) due right after it. */
function withCascades(own: Map<number, Occurrence>, graph: PlanGraph, inCycle: Map<number, string>): { occurrence: Map<number, Occurrence>; cascadeFrom: Map<number, number> } {
  const occurrence = new Map(own);
  const cascadeFrom = new Map<number, number>();
  const queue = [...own.keys()];
  for (let head = 0; head < queue.length; head++) {
    const p = queue[head]!;
    const pAt = occurrence.get(p)!.at;
    for (const e of graph.children.get(p) ?? []) {
      const d = graph.byId.get(e.dependentId)!;
      if (!d.isEnabled || d.configured === false || inCycle.has(d.id)) continue;
      const planned = occurrence.get(d.id);
      // A dependent already due no later than its parent keeps that slot (it is ordered after
      // the parent); otherwise the parent's refresh brings it forward.
      if (!planned || planned.at > pAt) {
        occurrence.set(d.id, { at: pAt, reason: 'cascade' });
        cascadeFrom.set(d.id, p);
        queue.push(d.id);
      }
    }
  }
  return { occurrence, cascadeFrom };
}

/** What the verdict of one table reads: the graph, the cycles, every planned occurrence and the latest runs. */
interface VerdictFacts {
  graph: PlanGraph;
  inCycle: Map<number, string>;
  occurrence: Map<number, Occurrence>;
  latestRuns: Map<number, PlanLatestRun>;
  now: number;
}

/**
 * Step 3, the verdict on one table's refresh at `at`: blocked by its cycle, by a hard parent
 * running now (it waits) or unhealthy; ready otherwise, noting unhealthy soft parents.
 */
function verdict(id: number, at: number, facts: VerdictFacts): Pick<PlannedRefresh, 'state' | 'notes' | 'blockedBy' | 'unhealthySoftParents'> {
  const { byId } = facts.graph;
  const notes: string[] = [];
  const blockedBy: string[] = [];
  const unhealthySoftParents: string[] = [];
  let state: PlannedRefresh['state'] = 'ready';
  if (facts.inCycle.has(id)) {
    state = 'blocked';
    notes.push(`dependency cycle: ${facts.inCycle.get(id)}`);
  }
  for (const e of facts.graph.parents.get(id) ?? []) {
    // A hard parent running now on any replica: the claim refuses its dependents until the
    // parent's run has finished (migration 035's hard_parent_pending says the same).
    if (e.type === 'hard' && byId.get(e.parentId)!.runningNow && at <= facts.now) {
      const p = name(byId.get(e.parentId)!);
      state = 'blocked';
      blockedBy.push(p);
      notes.push(`waits for ${p}: it is running`);
      continue;
    }
    if (!unhealthyAt(e.parentId, at, facts)) continue;
    const p = name(byId.get(e.parentId)!);
    if (e.type === 'hard') {
      state = 'blocked';
      blockedBy.push(p);
      notes.push(`blocked by ${p}: ${FAILED_PARENT_NOTE}`);
    } else {
      unhealthySoftParents.push(p);
      notes.push(`soft dependency ${p} is unhealthy (latest refresh failed); runs anyway`);
    }
  }
  return { state, notes, blockedBy, unhealthySoftParents };
}

/**
 * A parent's health as a dependent at time `at` will find it: a failed parent stays unhealthy
 * unless its own refresh is planned no later than the dependent's.
 */
function unhealthyAt(parentId: number, at: number, facts: VerdictFacts): boolean {
  const r = facts.latestRuns.get(parentId);
  const planned = facts.occurrence.get(parentId);
  return r?.status === 'failed' && (!planned || planned.at > at);
}

/** Step 4, order: by time, then dependency depth, then priority (high first), then how overdue. */
function runOrder(graph: PlanGraph): (a: PlannedRefresh, b: PlannedRefresh) => number {
  const depthOf = dependencyDepths(graph.parents);
  const nextAt = (id: number) => graph.byId.get(id)!.nextRefreshAt?.getTime() ?? 0;
  return (a, b) =>
    a.at.getTime() - b.at.getTime() ||
    depthOf(a.configId) - depthOf(b.configId) ||
    b.priority - a.priority ||
    nextAt(a.configId) - nextAt(b.configId) ||
    a.configId - b.configId;
}
