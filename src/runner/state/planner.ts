// The planner: a pure function from configs, dependency edges and latest runs to what will
// run within a horizon, in which order, and why. The runner and `refreshPlan(hours)` use it.

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
export const DEFAULT_RETRY: RetryPolicy = { maxAttempts: 3, baseDelayMs: 60_000, maxDelayMs: 3_600_000 };

/** Backoff before retry `attempt` (1-based), without jitter (the runner adds jitter). */
export function retryDelayMs(attempt: number, policy: RetryPolicy = DEFAULT_RETRY): number {
  return Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.max(0, attempt - 1));
}

const name = (c: PlanConfig) => `${c.tableSchema}.${c.tableName}`;

/** Finds dependency cycles (Tarjan's strongly connected components of size > 1). */
export function findCycles(configs: PlanConfig[], edges: PlanEdge[]): number[][] {
  const out = new Map<number, number[]>();
  for (const e of edges) {
    const list = out.get(e.parentId);
    if (list) list.push(e.dependentId);
    else out.set(e.parentId, [e.dependentId]);
  }
  // Tarjan's algorithm without recursion: a chain of thousands of tables must not exhaust the
  // call stack.
  let index = 0;
  const idx = new Map<number, number>();
  const low = new Map<number, number>();
  const stack: number[] = [];
  const onStack = new Set<number>();
  const cycles: number[][] = [];
  const visit = (root: number) => {
    const frames: Array<{ v: number; next: number }> = [{ v: root, next: 0 }];
    idx.set(root, index);
    low.set(root, index++);
    stack.push(root);
    onStack.add(root);
    while (frames.length) {
      const frame = frames[frames.length - 1]!;
      const { v } = frame;
      const succ = out.get(v) ?? [];
      if (frame.next < succ.length) {
        const w = succ[frame.next++]!;
        if (!idx.has(w)) {
          idx.set(w, index);
          low.set(w, index++);
          stack.push(w);
          onStack.add(w);
          frames.push({ v: w, next: 0 });
        } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, idx.get(w)!));
        continue;
      }
      frames.pop();
      const parent = frames[frames.length - 1];
      if (parent) low.set(parent.v, Math.min(low.get(parent.v)!, low.get(v)!));
      if (low.get(v) === idx.get(v)) {
        const scc: number[] = [];
        let w: number;
        do {
          w = stack.pop()!;
          onStack.delete(w);
          scc.push(w);
        } while (w !== v);
        if (scc.length > 1 || succ.includes(v)) cycles.push(scc.reverse());
      }
    }
  };
  for (const c of configs) if (!idx.has(c.id)) visit(c.id);
  return cycles;
}

/** Plans the refreshes of the next `horizonHours`, parents before dependents. */
export function planRefreshes(input: PlanInput): Plan {
  const { now } = input;
  const end = now.getTime() + input.horizonHours * HOUR;
  const retry = input.retry ?? DEFAULT_RETRY;
  const byId = new Map(input.configs.map((c) => [c.id, c]));
  const parents = new Map<number, PlanEdge[]>();
  const children = new Map<number, PlanEdge[]>();
  const push = (map: Map<number, PlanEdge[]>, key: number, e: PlanEdge) => {
    const list = map.get(key);
    if (list) list.push(e);
    else map.set(key, [e]);
  };
  for (const e of input.edges) {
    if (!byId.has(e.parentId) || !byId.has(e.dependentId)) continue;
    push(parents, e.dependentId, e);
    push(children, e.parentId, e);
  }
  const cycles = findCycles(input.configs, input.edges);
  const inCycle = new Map<number, string>();
  for (const cycle of cycles) {
    const text = cycle.map((id) => name(byId.get(id)!)).join(' -> ');
    for (const id of cycle) inCycle.set(id, text);
  }

  // 1. Own occurrences: due now, scheduled later, or a retry after a failure.
  const first = new Map<number, { at: number; reason: PlanReason }>();
  for (const c of input.configs) {
    if (!c.isEnabled || c.configured === false) continue;
    const last = input.latestRuns.get(c.id);
    let at = c.nextRefreshAt?.getTime() ?? now.getTime();
    let reason: PlanReason = at <= now.getTime() ? 'due' : 'scheduled';
    if (last?.status === 'failed' && last.retryable && (last.attempts ?? 1) < retry.maxAttempts && last.finishedAt) {
      const retryAt = last.retryAt !== undefined ? (last.retryAt?.getTime() ?? Infinity) : last.finishedAt.getTime() + retryDelayMs(last.attempts ?? 1, retry);
      if (retryAt <= at) {
        at = retryAt;
        reason = 'retry';
      }
    }
    if (at <= end) first.set(c.id, { at: Math.max(at, now.getTime()), reason });
  }

  // 2. Cascades: a parent's refresh makes its dependents due right after it.
  const occurrence = new Map(first);
  const cascadeFrom = new Map<number, number>();
  const queue = [...first.keys()];
  for (let head = 0; head < queue.length; head++) {
    const p = queue[head]!;
    const pAt = occurrence.get(p)!.at;
    for (const e of children.get(p) ?? []) {
      const d = byId.get(e.dependentId)!;
      if (!d.isEnabled || d.configured === false || inCycle.has(d.id)) continue;
      const own = occurrence.get(d.id);
      // A dependent already due no later than its parent keeps that slot (it is ordered after
      // the parent); otherwise the parent's refresh brings it forward.
      if (!own || own.at > pAt) {
        occurrence.set(d.id, { at: pAt, reason: 'cascade' });
        cascadeFrom.set(d.id, p);
        queue.push(d.id);
      }
    }
  }

  // 3. Health of a parent as a dependent at time `at` will find it: a failed parent stays
  //    unhealthy unless its own refresh is planned no later than the dependent's.
  const unhealthy = (id: number, at: number) => {
    const r = input.latestRuns.get(id);
    const planned = occurrence.get(id);
    return r?.status === 'failed' && (!planned || planned.at > at);
  };

  // 4. Order: by time, then dependency depth, then priority (high first), then how overdue.
  const depth = new Map<number, number>();
  /** Longest chain of parents above a table (iterative: chains may be thousands long). */
  const depthOf = (id: number): number => {
    if (depth.has(id)) return depth.get(id)!;
    const frames: Array<{ id: number; next: number; d: number }> = [{ id, next: 0, d: 0 }];
    const onPath = new Set<number>([id]);
    while (frames.length) {
      const f = frames[frames.length - 1]!;
      const ps = parents.get(f.id) ?? [];
      if (f.next < ps.length) {
        const p = ps[f.next++]!.parentId;
        if (depth.has(p)) f.d = Math.max(f.d, depth.get(p)! + 1);
        else if (!onPath.has(p)) {
          onPath.add(p);
          frames.push({ id: p, next: 0, d: 0 });
        } // a parent on the current path closes a cycle: it does not count
        continue;
      }
      frames.pop();
      onPath.delete(f.id);
      depth.set(f.id, f.d);
      const child = frames[frames.length - 1];
      if (child) child.d = Math.max(child.d, f.d + 1);
    }
    return depth.get(id)!;
  };
  const items: PlannedRefresh[] = [...occurrence.entries()].map(([id, o]) => {
    const c = byId.get(id)!;
    const notes: string[] = [];
    const blockedBy: string[] = [];
    const unhealthySoftParents: string[] = [];
    let state: PlannedRefresh['state'] = 'ready';
    if (inCycle.has(id)) {
      state = 'blocked';
      notes.push(`dependency cycle: ${inCycle.get(id)}`);
    }
    for (const e of parents.get(id) ?? []) {
      // A hard parent running now on any replica: the claim refuses its dependents until the
      // parent's run has finished (migration 035's hard_parent_pending says the same).
      if (e.type === 'hard' && byId.get(e.parentId)!.runningNow && o.at <= now.getTime()) {
        const p = name(byId.get(e.parentId)!);
        state = 'blocked';
        blockedBy.push(p);
        notes.push(`waits for ${p}: it is running`);
        continue;
      }
      if (!unhealthy(e.parentId, o.at)) continue;
      const p = name(byId.get(e.parentId)!);
      if (e.type === 'hard') {
        state = 'blocked';
        blockedBy.push(p);
        notes.push(`blocked by ${p}: its latest refresh failed`);
      } else {
        unhealthySoftParents.push(p);
        notes.push(`soft dependency ${p} is unhealthy (latest refresh failed); runs anyway`);
      }
    }
    const from = cascadeFrom.get(id);
    return {
      configId: id,
      table: name(c),
      at: new Date(o.at),
      reason: o.reason,
      cascadeFrom: from === undefined ? null : name(byId.get(from)!),
      state,
      notes,
      blockedBy,
      unhealthySoftParents,
      priority: c.priority,
    };
  });
  items.sort(
    (a, b) =>
      a.at.getTime() - b.at.getTime() ||
      depthOf(a.configId) - depthOf(b.configId) ||
      b.priority - a.priority ||
      (byId.get(a.configId)!.nextRefreshAt?.getTime() ?? 0) - (byId.get(b.configId)!.nextRefreshAt?.getTime() ?? 0) ||
      a.configId - b.configId,
  );
  return { items, cycles: cycles.map((c) => c.map((id) => name(byId.get(id)!))) };
}
