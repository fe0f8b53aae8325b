// Progress within the fan-outs' budget (src/http/fan-out-pacing.ts), with the official clients:
// with SUBSCRIBER_FANOUT_SHARE at its least (1% of the process's time), a run whose progress
// comes faster than its fan-outs may take has it held, and every subscriber still gets every
// event that is not progress, in order, and the latest progress — with the run's end, or, when
// nothing follows, on its own once it has waited. With the budget spent for good (another group's
// events keep spending it), a run's progress still goes once it has been held a second.
import { setImmediate } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LoggedEvent, RefreshEvent } from '../src/subscriptions/events.ts';
import { createTestDatabase, openTestPool } from './support/db.ts';
import { logged } from './support/events.ts';
import { startLiveApp, subscribeSse, subscribeWs, type LiveApp } from './support/live.ts';
import { eventually } from './support/until.ts';
import { graphql } from './generated/index.ts';

const database = await createTestDatabase();
let app: LiveApp;
/** A budget that every pass spends whole: progress is held MAX_HOLD_MS after each. */
let spent: LiveApp;

beforeAll(async () => {
  // No table of the seed falls due meanwhile: only the events published here are sent.
  const sql = openTestPool(database.url, 1);
  await sql.query(`UPDATE sqp.refresh_config SET next_refresh_at = now() + interval '30 days'`);
  await sql.end();
  app = await startLiveApp(database.url, { env: { SUBSCRIBER_FANOUT_SHARE: '0.01' } });
  spent = await startLiveApp(database.url, { fanOutShare: 0.000_01 });
});
afterAll(async () => {
  await app?.stop();
  await spent?.stop();
  await database.drop();
});

const Events = graphql(`
  subscription BudgetEvents($filter: RefreshEventFilter) {
    refreshEvents(filter: $filter) {
      __typename
      ... on RefreshEvent { id tableName }
      ... on RunProgress { rowsProcessed }
      ... on QualityMetricRecorded { metricName }
    }
  }
`);
type Received = { refreshEvents: { __typename: string; id: string; tableName: string; rowsProcessed?: number; metricName?: string } };

const ref = (tableName: string) => ({ configId: 9, tableSchema: 'budget', tableName, at: new Date().toISOString() });
const progress = (table: string, runId: number, rows: number) =>
  logged({ type: 'run:progress', ...ref(table), runId, phase: 'writing', page: rows, rowsProcessed: rows, totalRows: null, percent: null, rowsPerSecond: 1, etaSeconds: null } as RefreshEvent);
const quality = (table: string, runId: number, name: string) => logged({ type: 'quality:recorded', ...ref(table), runId, metricName: name, value: 1, isWithinThreshold: true } as RefreshEvent);
const finished = (table: string, runId: number) => logged({ type: 'run:finished', ...ref(table), runId, status: 'success', outcome: 'completed', rowsProcessed: 0, errorMessage: null } as RefreshEvent);

describe('the fan-outs budget', () => {
  it('holds progress beyond it: every subscriber gets every other event in order and the latest progress, the ones over graphql-ws the same values', async () => {
    const filter = { tableSchema: 'budget' };
    // Run 2 ends the subscriptions; each subscriber says when it has run 1's last progress.
    const isEnd = (e: Received) => e.refreshEvents.__typename === 'RunFinished' && e.refreshEvents.tableName === 'run_2';
    const hasLastOfRun2: Array<Promise<void>> = [];
    const watch = () => {
      let resolve!: () => void;
      hasLastOfRun2.push(new Promise<void>((r) => (resolve = r)));
      return (e: Received) => {
        if (e.refreshEvents.tableName === 'run_2' && e.refreshEvents.rowsProcessed === 100) resolve();
        return isEnd(e);
      };
    };
    const read = { authorization: `Bearer ${app.tokens.read}` };
    const ws = [watch(), watch(), watch()].map((until) => subscribeWs(app.wsUrl, Events, { filter }, read, until));
    const sse = subscribeSse(app.url, Events, { filter }, app.headers('read'), watch());
    await eventually(async () => app.runtime.subscribers.count === 4, 10_000, 'four subscribers');

    // Run 1: 300 progress values, one a turn of the event loop (far faster than 1% of the time
    // allows for their fan-outs), a quality metric after every 50th, then its end.
    const published: LoggedEvent[] = [];
    const publish = (e: LoggedEvent) => {
      published.push(e);
      app.bus.publish(e);
    };
    for (let rows = 1; rows <= 300; rows++) {
      publish(progress('run_1', 1, rows));
      if (rows % 50 === 0) publish(quality('run_1', 1, `after_${rows}`));
      await setImmediate();
    }
    publish(finished('run_1', 1));
    // Run 2: 100 progress values and nothing after them — the latest arrives on its own.
    for (let rows = 1; rows <= 100; rows++) {
      publish(progress('run_2', 2, rows));
      await setImmediate();
    }
    await Promise.all(hasLastOfRun2);
    publish(finished('run_2', 2));

    const got: Array<Received['refreshEvents'][]> = [...(await Promise.all(ws.map((s) => s.results))), await sse].map((items) => items.map((i) => i.refreshEvents as Received['refreshEvents']));
    const others = published.filter((e) => e.type !== 'run:progress').map((e) => e.id);
    for (const events of got) {
      const ids = events.map((e) => BigInt(e.id));
      expect(ids).toEqual([...ids].sort((a, b) => (a < b ? -1 : 1))); // in order, each once
      expect(new Set(ids).size).toBe(ids.length);
      expect(events.filter((e) => e.__typename !== 'RunProgress').map((e) => e.id)).toEqual(others); // nothing else held or dropped
      const progressOf = (table: string) => events.filter((e) => e.__typename === 'RunProgress' && e.tableName === table).map((e) => e.rowsProcessed);
      expect(progressOf('run_1').at(-1)).toBe(300); // the latest, with the run's end
      expect(progressOf('run_2').at(-1)).toBe(100); // the latest, on its own
      // Held, latest wins: with no budget about one in two of the 400 would be sent (a pass takes
      // what came during the one before: measured 200–203), within it about ten.
      expect(progressOf('run_1').length + progressOf('run_2').length).toBeLessThan(100);
    }
    // The graphql-ws members write what their group hands them: the same values for each.
    expect(got[1]).toEqual(got[0]);
    expect(got[2]).toEqual(got[0]);
  });

  it('spent, it still sends a run\'s progress once it has held it a second, and the latest when nothing follows', async () => {
    const filter = { tableName: 'run_3' };
    let lastArrived!: () => void;
    const hasLast = new Promise<void>((resolve) => (lastArrived = resolve));
    const subscriber = subscribeWs(spent.wsUrl, Events, { filter }, { authorization: `Bearer ${spent.tokens.read}` }, (e: Received) => {
      if (e.refreshEvents.rowsProcessed === 125) lastArrived();
      return e.refreshEvents.__typename === 'RunFinished';
    });
    // Another group, whose events are never held, keeps the budget spent.
    const blocked = () => logged({ type: 'run:blocked', ...ref('busy'), reasons: ['busy'] } as RefreshEvent);
    const busy = subscribeWs(spent.wsUrl, Events, { filter: { tableName: 'busy' } }, { authorization: `Bearer ${spent.tokens.read}` }, (e: Received) => e.refreshEvents.__typename === 'RunFinished');
    await eventually(async () => spent.runtime.subscribers.count === 2, 10_000, 'two subscribers');
    // A run writing progress every 20 ms for 2.5 s at least (a source's pace), then nothing.
    for (let rows = 1; rows <= 125; rows++) {
      spent.bus.publish(progress('run_3', 3, rows));
      spent.bus.publish(blocked());
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    spent.bus.publish(finished('busy', 4));
    expect((await busy.results).length).toBe(126); // never held
    await hasLast; // nothing follows it: it goes of itself
    spent.bus.publish(finished('run_3', 3));
    const rows = (await subscriber.results).map((i) => (i.refreshEvents as Received['refreshEvents']).rowsProcessed).filter((r) => r !== undefined);
    // The first (nothing spent yet), one at least after each second held (at row ~50 the first
    // of them: more than the first and the last; without, this is 2), the last; with a budget
    // that held nothing, about every other one of the 125.
    expect(rows.length).toBeGreaterThanOrEqual(3);
    expect(rows.length).toBeLessThan(15);
    expect(rows[0]).toBe(1);
    expect(rows.at(-1)).toBe(125);
    expect(rows).toEqual([...rows].sort((a, b) => a! - b!));
  });
});
