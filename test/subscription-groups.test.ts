// Multiplexed subscriptions (src/http/subscription-groups.ts) with the official clients over the
// real server: subscribers of one operation share one execution — joining mid-run they get the
// current state first, then every change once, in order; subscribers with other filters or
// other scopes never share one; a socket that stops reading has its progress merged (latest
// wins) and, too far behind, is closed with 4008 while the others get everything.
import { once } from 'node:events';
import { print } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { TOO_SLOW_CLOSE_CODE } from '../src/http/subscription-groups.ts';
import type { RefreshEvent } from '../src/subscriptions/events.ts';
import { createTestDatabase, openTestPool } from './support/db.ts';
import { logged } from './support/events.ts';
import { execute } from './support/graphql.ts';
import { startLiveApp, subscribeSse, subscribeWs, type LiveApp } from './support/live.ts';
import { sourceAndTarget } from './support/refresh.ts';
import { eventually } from './support/until.ts';
import { graphql } from './generated/index.ts';

const database = await createTestDatabase();
const sql = openTestPool(database.url, 3);
let app: LiveApp;

beforeAll(async () => {
  await sql.query(`UPDATE sqp.refresh_config SET next_refresh_at = now() + interval '30 days'`);
  await sql.query('CREATE SCHEMA src');
  // Pages every ~300 ms (a source table read in key order: rows stream as they are fetched).
  await sourceAndTarget(sql, 'grp_slow', 1200, { pageSize: 100, msPerRow: 3 });
  app = await startLiveApp(database.url, { env: { SUBSCRIBER_MAX_BEHIND: '50' } });
});
afterAll(async () => {
  await app?.stop();
  await sql.end();
  await database.drop();
});

const Force = graphql(`
  mutation GroupForce($input: ForceRefreshInput!) {
    forceRefresh(input: $input) { ... on ForceRefreshPayload { run { id } } ... on Error { message } }
  }
`);
const Progress = graphql(`
  subscription GroupProgress($runId: ID!) {
    runProgress(runId: $runId) { rowsProcessed finished status }
  }
`);
const Events = graphql(`
  subscription GroupEvents($filter: RefreshEventFilter) {
    refreshEvents(filter: $filter) {
      __typename
      ... on RefreshEvent { id tableName }
      ... on RunProgress { rowsProcessed }
      ... on RunBlocked { reasons }
    }
  }
`);

const read = () => ({ authorization: `Bearer ${app.tokens.read}` });
const groups = () => app.runtime.subscriptionGroups.count;

describe('subscription groups', () => {
  it('share one execution: members joining mid-run get the current state first, then every change once, in order', async () => {
    const forced = (await execute(app.url, Force, { input: { tableSchema: 'sqp', tableName: 'grp_slow' } }, app.headers('operate'))).data?.forceRefresh;
    const runId = forced && 'run' in forced ? forced.run?.id : null;
    expect(runId).toBeTruthy();
    let joinLate!: () => void;
    const thirdState = new Promise<void>((resolve) => (joinLate = resolve));
    const first = subscribeWs(app.wsUrl, Progress, { runId: runId! }, read(), (s, all) => {
      if (all.length === 3) joinLate();
      return s.runProgress.finished;
    });
    await thirdState;
    // A second member over graphql-ws that leaves after two states, and a third over SSE that stays.
    const leaver = subscribeWs(app.wsUrl, Progress, { runId: runId! }, read(), (_s, all) => all.length === 2);
    let seen: { groups: number; subscribers: number } | null = null;
    const sse = subscribeSse(`${app.url}`, Progress, { runId: runId! }, read(), (s, all) => {
      if (all.length === 1) seen = { groups: groups(), subscribers: app.runtime.subscribers.count };
      return s.runProgress.finished;
    });
    const leaverStates = (await leaver.results).map((s) => s.runProgress);
    const [all, late] = [(await first.results).map((s) => s.runProgress), (await sse).map((s) => s.runProgress)];
    expect(seen).toMatchObject({ groups: 1 }); // one execution for every member (the SSE one joined two or three)
    expect(seen!.subscribers).toBeGreaterThanOrEqual(2);
    // Every change once, in order, to the end.
    const rows = all.map((s) => s.rowsProcessed);
    expect(rows).toEqual([...rows].sort((a, b) => a - b));
    expect(all.filter((s) => s.finished)).toHaveLength(1);
    expect(all.at(-1)).toMatchObject({ finished: true, status: 'SUCCESS', rowsProcessed: 1200 });
    // The late members start from the state current when they joined, then follow the same changes.
    const same = (a: object, b: object) => JSON.stringify(a) === JSON.stringify(b);
    for (const member of [late, leaverStates]) {
      const from = all.findIndex((_s, i) => i >= 2 && member.every((m, j) => all[i + j] && same(m, all[i + j]!)));
      expect({ member, from }).toEqual({ member, from: expect.any(Number) });
      expect(from).toBeGreaterThanOrEqual(2);
    }
    expect(late.at(-1)).toMatchObject({ finished: true });
    await eventually(async () => groups() === 0, 10_000, 'the group ends with its last member');
  }, 60_000);

  it('never shares between other filters or other scopes', async () => {
    const mine = logged<RefreshEvent>({ type: 'run:blocked', configId: 1, tableSchema: 'sqp', tableName: 'grp_a', reasons: ['a'], at: new Date().toISOString() });
    const theirs = logged<RefreshEvent>({ type: 'run:blocked', configId: 2, tableSchema: 'sqp', tableName: 'grp_b', reasons: ['b'], at: new Date().toISOString() });
    const until = (e: { refreshEvents: { __typename: string; reasons?: string[] } }) => e.refreshEvents.__typename === 'RunBlocked' && e.refreshEvents.reasons?.[0] === 'end';
    const subscriptions = [
      subscribeWs(app.wsUrl, Events, { filter: { tableName: 'grp_a' } }, read(), until),
      subscribeWs(app.wsUrl, Events, { filter: { tableName: 'grp_a' } }, read(), until),
      subscribeWs(app.wsUrl, Events, { filter: { tableName: 'grp_b' } }, read(), until),
      subscribeWs(app.wsUrl, Events, { filter: { tableName: 'grp_a' } }, { authorization: `Bearer ${app.tokens.operate}` }, until),
    ];
    await eventually(async () => app.runtime.subscribers.count === 4, 10_000, 'four subscribers');
    expect(groups()).toBe(3); // grp_a for readers (two members), grp_b, grp_a for an operator
    app.bus.publish(mine);
    app.bus.publish(theirs);
    for (const table of ['grp_a', 'grp_b']) app.bus.publish(logged({ type: 'run:blocked', configId: 3, tableSchema: 'sqp', tableName: table, reasons: ['end'], at: new Date().toISOString() }));
    const got = await Promise.all(subscriptions.map(async (s) => (await s.results).map((e) => e.refreshEvents.tableName)));
    expect(got).toEqual([['grp_a', 'grp_a'], ['grp_a', 'grp_a'], ['grp_b', 'grp_b'], ['grp_a', 'grp_a']]);
  });

  it('a socket that stops reading gets its progress merged, then is closed with 4008; the others get everything', async () => {
    // Big events (a 4 KB table name), so that a socket that does not read fills the kernel's buffers soon.
    const table = `grp_flood_${'x'.repeat(4000)}`;
    const filter = { tableSchema: 'flood' };
    const ev = (e: Partial<RefreshEvent>) => logged({ configId: 9, tableSchema: 'flood', tableName: table, at: new Date().toISOString(), ...e } as RefreshEvent) as Parameters<typeof app.bus.publish>[0];
    const isEnd = (e: { refreshEvents: { __typename: string; reasons?: string[] } }) => e.refreshEvents.__typename === 'RunBlocked' && e.refreshEvents.reasons?.[0] === 'end';
    // The healthy subscriber reads as it comes; the test publishes in bursts smaller than
    // SUBSCRIBER_MAX_BEHIND and waits until it has the burst's last event (as a live source paces them).
    let lastReceived = 0n;
    const waiting: Array<{ id: bigint; resolve: () => void }> = [];
    const healthy = subscribeWs(app.wsUrl, Events, { filter }, read(), (e) => {
      lastReceived = BigInt(e.refreshEvents.id);
      for (const w of waiting.filter((x) => lastReceived >= x.id)) waiting.splice(waiting.indexOf(w), 1) && w.resolve();
      return isEnd(e);
    });
    let lastPublished = 0n;
    const publish = (e: Parameters<typeof app.bus.publish>[0]) => {
      lastPublished = BigInt(e.id);
      app.bus.publish(e);
    };
    const takenByHealthy = () => (lastReceived >= lastPublished ? Promise.resolve() : new Promise<void>((resolve) => waiting.push({ id: lastPublished, resolve })));
    const merging = await stalledSubscriber(print(Events), { filter });
    const cut = await stalledSubscriber(print(Events), { filter });
    await eventually(async () => app.runtime.subscribers.count === 3, 10_000, 'three subscribed');
    expect(groups()).toBe(1);

    // 1. 5,000 progress events of one run, then its end: a socket that does not read has each
    // progress replace the one queued (latest wins), and is never cut for it.
    const progress = 5000;
    for (let i = 1; i <= progress; i++) {
      publish(ev({ type: 'run:progress', runId: 7, phase: 'writing', page: i, rowsProcessed: i, totalRows: null, percent: null, rowsPerSecond: 1, etaSeconds: null } as never));
      if (i % 20 === 0) await takenByHealthy();
    }
    publish(ev({ type: 'run:finished', runId: 7, status: 'success', outcome: 'completed', rowsProcessed: progress, errorMessage: null } as never));
    const merged = await merging.resume((m) => m.__typename === 'RunFinished');
    const mergedProgress = merged.messages.filter((m) => m.__typename === 'RunProgress');
    expect(mergedProgress.length).toBeLessThan(progress); // merged while it did not read
    expect(mergedProgress.at(-1)?.rowsProcessed).toBe(progress); // the latest wins
    expect(merged.messages.at(-1)?.__typename).toBe('RunFinished'); // never dropped

    // 2. More events that are never merged than SUBSCRIBER_MAX_BEHIND (50): the other socket is cut.
    for (let i = 0; i < 2000; i++) {
      publish(ev({ type: 'run:blocked', reasons: ['flood'] } as never));
      if (i % 20 === 0) await takenByHealthy();
    }
    publish(ev({ type: 'run:blocked', reasons: ['end'] } as never));
    const all = (await healthy.results).map((e) => e.refreshEvents);
    // Everything but merged progress (within a burst a reader is a little behind too), and the latest progress.
    expect(all.filter((e) => e.__typename === 'RunProgress').at(-1)?.rowsProcessed).toBe(progress);
    expect(all.filter((e) => e.__typename === 'RunFinished')).toHaveLength(1);
    expect(all.filter((e) => e.__typename === 'RunBlocked')).toHaveLength(2001);
    const ended = await cut.resume(() => false);
    expect(ended.code).toBe(TOO_SLOW_CLOSE_CODE);
    for (const got of [merged.messages, ended.messages]) {
      const ids = got.map((m) => BigInt(m.id));
      expect(ids).toEqual([...ids].sort((a, b) => (a < b ? -1 : 1))); // in order, each once
      expect(new Set(ids).size).toBe(ids.length);
    }
  }, 60_000);
});

/** A graphql-ws client (the protocol by hand, over `ws`) that subscribes and then stops reading its socket until resume(). */
async function stalledSubscriber(query: string, variables: Record<string, unknown>) {
  const socket = new WebSocket(app.wsUrl, 'graphql-transport-ws');
  const messages: Array<{ __typename: string; id: string; rowsProcessed?: number }> = [];
  let acked!: () => void;
  const ready = new Promise<void>((resolve) => (acked = resolve));
  socket.on('message', (data) => {
    const message = JSON.parse(String(data)) as { type: string; payload?: { data?: { refreshEvents: { __typename: string; id: string } } } };
    if (message.type === 'connection_ack') acked();
    if (message.type === 'next' && message.payload?.data) messages.push(message.payload.data.refreshEvents);
  });
  await once(socket, 'open');
  socket.send(JSON.stringify({ type: 'connection_init', payload: read() }));
  await ready;
  socket.send(JSON.stringify({ id: '1', type: 'subscribe', payload: { query, variables } }));
  const raw = (socket as unknown as { _socket: import('node:net').Socket })._socket;
  raw.pause(); // the kernel's buffers fill, then the server's writes to it wait
  return {
    /** Reads again: resolves when `until` holds for a message (the socket then closes) or the server closes it, with the close code. */
    async resume(until: (m: (typeof messages)[number]) => boolean): Promise<{ messages: typeof messages; code: number }> {
      const closed = once(socket, 'close') as Promise<[number, Buffer]>;
      socket.on('message', () => messages.at(-1) && until(messages.at(-1)!) && socket.close(1000));
      raw.resume();
      const [code] = await closed;
      return { messages, code };
    },
  };
}
