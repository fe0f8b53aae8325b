import { describe, expect, it } from 'vitest';
import { createEventBus } from '../src/subscriptions/bus.ts';
import type { RefreshEvent } from '../src/subscriptions/events.ts';

const started: RefreshEvent = { type: 'run:started', configId: 1, tableSchema: 'sqp', tableName: 't', runId: 7, resumed: false, mode: 'full', at: '2026-01-01T00:00:00Z' };
const finished: RefreshEvent = { type: 'run:finished', configId: 1, tableSchema: 'sqp', tableName: 't', runId: 7, status: 'success', outcome: 'completed', rowsProcessed: 3, errorMessage: null, at: '2026-01-01T00:00:01Z' };

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
