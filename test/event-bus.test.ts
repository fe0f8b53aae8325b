import { describe, expect, it } from 'vitest';
import { createEventBus } from '../src/subscriptions/bus.ts';
import type { RefreshEvent } from '../src/subscriptions/events.ts';
import { createProgressThrottle } from '../src/subscriptions/throttle.ts';
import { logged } from './support/events.ts';

const started = logged({ type: 'run:started', configId: 1, tableSchema: 'sqp', tableName: 't', runId: 7, resumed: false, mode: 'full', at: '2026-01-01T00:00:00Z' } as const);
const finished = logged({ type: 'run:finished', configId: 1, tableSchema: 'sqp', tableName: 't', runId: 7, status: 'success', outcome: 'completed', rowsProcessed: 3, errorMessage: null, at: '2026-01-01T00:00:01Z' } as const);

describe('event bus', () => {
  it('delivers to every listener and by type; a throwing listener hurts neither the publisher nor the others', () => {
    const errors: unknown[] = [];
    const bus = createEventBus((e) => errors.push(e));
    const all: string[] = [];
    const onlyFinished: string[] = [];
    bus.subscribe(() => { throw new Error('bad listener'); });
    const stop = bus.subscribe((e) => all.push(e.type));
    bus.subscribe((e) => onlyFinished.push(e.type), 'run:finished');
    expect(() => { bus.publish(started); bus.publish(finished); }).not.toThrow();
    expect(all).toEqual(['run:started', 'run:finished']);
    expect(onlyFinished).toEqual(['run:finished']);
    expect(errors).toHaveLength(2);
    expect(bus.listenerCount()).toBe(3);
    stop();
    bus.publish(started);
    expect(all).toHaveLength(2);
    expect(bus.listenerCount()).toBe(2);
  });
});

describe('the progress throttle (before the event log is written)', () => {
  const ref = { configId: 1, tableSchema: 'sqp', tableName: 't', runId: 7 };
  const progress = (page: number, phase: 'writing' | 'publishing'): RefreshEvent & { type: 'run:progress' } => ({
    type: 'run:progress', ...ref, phase, page, rowsProcessed: page * 10, totalRows: 30, percent: null, rowsPerSecond: 0, etaSeconds: null, at: '2026-01-01T00:00:00Z',
  });
  const quality: RefreshEvent = { type: 'quality:recorded', ...ref, metricName: 'row_count', value: 30, isWithinThreshold: true, at: '2026-01-01T00:00:01Z' };

  it("keeps a run's commit order: a held progress passes before the run's next event of another kind", () => {
    const seen: string[] = [];
    const record = (e: RefreshEvent) => seen.push(e.type === 'run:progress' ? `progress ${e.page} ${e.phase}` : e.type);
    // An interval no test waits out: only the next event of the run may release what is held.
    const throttle = createProgressThrottle(3_600_000, record);
    const other = (e: RefreshEvent) => (throttle.before(e), record(e));
    other(started);
    throttle.progress(progress(1, 'writing'));
    throttle.progress(progress(2, 'writing')); // held, then replaced
    throttle.progress(progress(3, 'writing')); // held
    throttle.progress(progress(4, 'publishing')); // a new phase: passes at once, after what was held
    throttle.progress(progress(5, 'publishing')); // held
    other(quality);
    other(finished);
    throttle.stop();
    expect(seen).toEqual(['run:started', 'progress 1 writing', 'progress 3 writing', 'progress 4 publishing', 'progress 5 publishing', 'quality:recorded', 'run:finished']);
  });

  it('flush passes what is held (a writer that stops)', () => {
    const seen: number[] = [];
    const throttle = createProgressThrottle(3_600_000, (e) => seen.push(e.page));
    throttle.progress(progress(1, 'writing'));
    throttle.progress(progress(2, 'writing'));
    throttle.flush();
    throttle.stop();
    expect(seen).toEqual([1, 2]);
  });
});
