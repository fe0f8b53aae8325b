// The planner is pure: configs, edges and latest runs in, an ordered plan with reasons out.
import { describe, expect, it } from 'vitest';
import { planRefreshes, retryDelayMs, type PlanConfig, type PlanEdge, type PlanLatestRun } from '../src/runner/state/planner.ts';
import { findCycles } from '../src/runner/state/dependency-graph.ts';
import { dueDepths } from '../src/runner/scheduler/sql.ts';

const NOW = new Date('2026-01-05T12:00:00Z');
const h = (hours: number) => new Date(NOW.getTime() + hours * 3_600_000);
let nextId = 1;
function cfg(tableName: string, over: Partial<PlanConfig> = {}): PlanConfig {
  return { id: nextId++, tableSchema: 'sqp', tableName, isEnabled: true, priority: 100, refreshFrequencyHours: 24, nextRefreshAt: h(10), ...over };
}
const order = (plan: ReturnType<typeof planRefreshes>) => plan.items.map((i) => i.table.replace('sqp.', ''));

describe('planRefreshes', () => {
  it('orders due tables by priority, then by how overdue, and leaves out what is beyond the horizon or disabled', () => {
    const a = cfg('a', { priority: 50, nextRefreshAt: h(-5) });
    const b = cfg('b', { priority: 90, nextRefreshAt: h(-1) });
    const c = cfg('c', { priority: 90, nextRefreshAt: h(-3) });
    const d = cfg('d', { nextRefreshAt: h(30) });
    const e = cfg('e', { isEnabled: false, nextRefreshAt: h(-9) });
    const plan = planRefreshes({ now: NOW, horizonHours: 24, configs: [a, b, c, d, e], edges: [], latestRuns: new Map() });
    expect(order(plan)).toEqual(['c', 'b', 'a']);
    expect(plan.items.every((i) => i.reason === 'due' && i.state === 'ready' && i.at.getTime() === NOW.getTime())).toBe(true);
  });

  it('runs parents before dependents and brings dependents forward as cascades', () => {
    const parent = cfg('asin_performance_data', { priority: 10, nextRefreshAt: h(2) });
    const weekly = cfg('weekly_summary', { priority: 900, nextRefreshAt: h(20) });
    const monthly = cfg('monthly_summary', { priority: 900, nextRefreshAt: h(1) });
    const edges: PlanEdge[] = [
      { parentId: parent.id, dependentId: weekly.id, type: 'hard' },
      { parentId: weekly.id, dependentId: monthly.id, type: 'hard' },
    ];
    const plan = planRefreshes({ now: NOW, horizonHours: 24, configs: [monthly, weekly, parent], edges, latestRuns: new Map() });
    expect(plan.items.map((i) => [i.table, i.reason, i.at.toISOString(), i.cascadeFrom])).toEqual([
      ['sqp.monthly_summary', 'scheduled', h(1).toISOString(), null],
      ['sqp.asin_performance_data', 'scheduled', h(2).toISOString(), null],
      ['sqp.weekly_summary', 'cascade', h(2).toISOString(), 'sqp.asin_performance_data'],
    ]);
  });

  it('blocks hard dependents of a failed parent, not soft ones, and says why', () => {
    const parent = cfg('p', { nextRefreshAt: h(30) });
    const hard = cfg('hard_child', { nextRefreshAt: h(-1) });
    const soft = cfg('soft_child', { nextRefreshAt: h(-1) });
    const runs = new Map<number, PlanLatestRun>([[parent.id, { status: 'failed', finishedAt: h(-2), retryable: false }]]);
    const plan = planRefreshes({
      now: NOW, horizonHours: 24, configs: [parent, hard, soft], latestRuns: runs,
      edges: [{ parentId: parent.id, dependentId: hard.id, type: 'hard' }, { parentId: parent.id, dependentId: soft.id, type: 'soft' }],
    });
    const byName = Object.fromEntries(plan.items.map((i) => [i.table, i]));
    expect(byName['sqp.hard_child']).toMatchObject({ state: 'blocked', notes: ['blocked by sqp.p: its latest refresh failed'] });
    expect(byName['sqp.soft_child']).toMatchObject({ state: 'ready' });
    expect(byName['sqp.soft_child']!.notes[0]).toMatch(/soft dependency sqp\.p is unhealthy/);
  });

  it('plans a retry with exponential backoff for retryable failures, up to the limit', () => {
    const t = cfg('t', { nextRefreshAt: h(20) });
    const plan = (attempts: number, retryable = true) =>
      planRefreshes({ now: NOW, horizonHours: 24, configs: [t], edges: [], latestRuns: new Map([[t.id, { status: 'failed', finishedAt: NOW, retryable, attempts }]]), retry: { maxAttempts: 4, baseDelayMs: 60_000, maxDelayMs: 3_600_000 } }).items[0]!;
    expect(plan(1)).toMatchObject({ reason: 'retry', at: new Date(NOW.getTime() + 60_000) });
    expect(plan(2)).toMatchObject({ reason: 'retry', at: new Date(NOW.getTime() + 120_000) });
    expect(plan(3)).toMatchObject({ reason: 'retry', at: new Date(NOW.getTime() + 240_000) });
    expect(plan(4)).toMatchObject({ reason: 'scheduled', at: h(20) }); // limit reached: next regular slot
    expect(plan(1, false)).toMatchObject({ reason: 'scheduled', at: h(20) }); // not retryable
    expect(retryDelayMs(20)).toBe(3_600_000);
  });

  it('detects cycles, reports them and blocks their members', () => {
    const a = cfg('ca', { nextRefreshAt: h(-1) });
    const b = cfg('cb', { nextRefreshAt: h(-1) });
    const c = cfg('cc', { nextRefreshAt: h(-1) });
    const edges: PlanEdge[] = [
      { parentId: a.id, dependentId: b.id, type: 'hard' },
      { parentId: b.id, dependentId: c.id, type: 'hard' },
      { parentId: c.id, dependentId: a.id, type: 'hard' },
    ];
    expect(findCycles([a, b, c], edges)).toHaveLength(1);
    const plan = planRefreshes({ now: NOW, horizonHours: 24, configs: [a, b, c], edges, latestRuns: new Map() });
    expect(plan.cycles).toEqual([['sqp.ca', 'sqp.cb', 'sqp.cc']]);
    expect(plan.items.every((i) => i.state === 'blocked' && i.notes[0]!.startsWith('dependency cycle: '))).toBe(true);
  });
});

describe('dueDepths', () => {
  it('orders due tables after their due ancestors, ignoring tables that are not due, and survives a cycle', () => {
    const edges = [
      { parentId: 1, dependentId: 2 }, { parentId: 2, dependentId: 3 }, { parentId: 1, dependentId: 3 },
      { parentId: 9, dependentId: 4 }, // 9 is not due: 4 does not wait for it
      { parentId: 5, dependentId: 6 }, { parentId: 6, dependentId: 5 }, // a cycle
    ];
    const d = dueDepths([3, 2, 1, 4, 5, 6], edges);
    expect([d.get(1), d.get(2), d.get(3), d.get(4)]).toEqual([0, 1, 2, 0]);
    expect([d.get(5), d.get(6)]).toEqual([0, 0]); // finite; the planner blocks a cycle's members
  });
});

it('plans a chain of 20,000 tables without exhausting the call stack', () => {
  const chain = Array.from({ length: 20_000 }, (_, i) => cfg(`chain_${i}`, { nextRefreshAt: i === 0 ? h(-1) : h(100) }));
  const edges: PlanEdge[] = chain.slice(1).map((c, i) => ({ parentId: chain[i]!.id, dependentId: c.id, type: 'hard' }));
  const plan = planRefreshes({ now: NOW, horizonHours: 1, configs: chain, edges, latestRuns: new Map() });
  expect(plan.cycles).toEqual([]);
  expect(plan.items).toHaveLength(20_000); // the first is due, the rest cascade from it, in chain order
  expect(plan.items.at(-1)!.table).toBe('sqp.chain_19999');
  expect(findCycles(chain, [...edges, { parentId: chain.at(-1)!.id, dependentId: chain[0]!.id, type: 'hard' }])[0]).toHaveLength(20_000);
});
