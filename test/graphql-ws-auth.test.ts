// graphql-ws as a client meets it, over real sockets speaking the protocol by hand: credentials
// are judged at connection_init (4403 with a reason, never an acknowledged socket whose every
// operation fails), sockets without a valid token are capped (1013), and an operation refused
// by the query limits is an error of that operation while the socket stays open.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { createToken } from '../src/auth/tokens.ts';
import { loadConfig } from '../src/config.ts';
import { createLogger } from '../src/logger.ts';
import { buildApp } from '../src/server.ts';
import { createEventBus } from '../src/subscriptions/bus.ts';
import { logged } from './support/events.ts';
import { startTestApp, type TestApp } from './support/app.ts';
import { createTestDatabase } from './support/db.ts';

const CAP = 3;
const database = await createTestDatabase();
const reader = createToken('reader', 'read');
const bus = createEventBus();
let app: TestApp;
let wsUrl: string;

beforeAll(async () => {
  app = await startTestApp(database.url, { API_TOKENS: reader.entry, ANONYMOUS_ACCESS: 'none', GRAPHQL_WS_MAX_UNAUTHENTICATED: String(CAP) }, { bus });
  wsUrl = app.url.replace(/^http/, 'ws');
});
afterAll(async () => {
  await app?.stop();
  await database.drop();
});

type Message = { type: string; id?: string; payload?: unknown };

/** A raw graphql-transport-ws socket: its messages in order, and how it closed. */
function connect(url = wsUrl): { socket: WebSocket; opened: Promise<void>; next(): Promise<Message>; closed: Promise<{ code: number; reason: string }>; send(m: Message): void } {
  const socket = new WebSocket(url, 'graphql-transport-ws');
  const inbox: Message[] = [];
  const waiting: Array<{ resolve: (m: Message) => void; reject: (e: Error) => void }> = [];
  let closedWith: string | null = null;
  socket.on('message', (data) => {
    const message = JSON.parse(String(data)) as Message;
    const w = waiting.shift();
    if (w) w.resolve(message);
    else inbox.push(message);
  });
  // A message awaited on a socket that closes never comes: fail at once, saying how it closed.
  socket.once('close', (code, reason) => {
    closedWith = `the socket closed (${code} ${String(reason)}) instead`;
    for (const w of waiting.splice(0)) w.reject(new Error(closedWith));
  });
  return {
    socket,
    opened: new Promise((resolve, reject) => { socket.once('open', () => resolve()); socket.once('error', reject); }),
    next: () =>
      new Promise((resolve, reject) => {
        const m = inbox.shift();
        if (m) resolve(m);
        else if (closedWith) reject(new Error(closedWith));
        else waiting.push({ resolve, reject });
      }),
    closed: new Promise((resolve) => socket.once('close', (code, reason) => resolve({ code, reason: String(reason) }))),
    send: (m) => socket.send(JSON.stringify(m)),
  };
}

/** Opens a socket and sends connection_init with `payload`. */
async function init(payload: Record<string, unknown>) {
  const c = connect();
  await c.opened;
  c.send({ type: 'connection_init', payload });
  return c;
}

describe('credentials at connection_init', () => {
  const refusals: Array<[string, Record<string, unknown>, RegExp]> = [
    ['an unknown token', { authorization: 'Bearer sqpr_not-a-token-of-ours' }, /not valid \(unknown or revoked\)/],
    ['no token where anonymous gets nothing', {}, /a token is required/],
    ['a raw token without Bearer', { authorization: reader.token }, /not of the form "Bearer <token>"/],
    ['a token under another key', { token: reader.token }, /not of the form "Bearer <token>"/],
    ['another scheme', { authorization: `Basic ${reader.token}` }, /not of the form "Bearer <token>"/],
  ];
  for (const [what, payload, why] of refusals) {
    it(`closes the socket with 4403 for ${what}, saying why`, async () => {
      const c = await init(payload);
      const closed = await c.closed;
      expect(closed.code).toBe(4403);
      expect(closed.reason).toMatch(why);
    });
  }

  it('acknowledges a valid token, and its subscription gets events', async () => {
    const c = await init({ authorization: `Bearer ${reader.token}` });
    expect(await c.next()).toMatchObject({ type: 'connection_ack' });
    const listeners = bus.listenerCount();
    c.send({ type: 'subscribe', id: '1', payload: { query: 'subscription { refreshEvents { __typename ... on ConfigChanged { tableName } } }' } });
    await expect.poll(() => bus.listenerCount()).toBeGreaterThan(listeners);
    bus.publish(logged({ type: 'config:changed', configId: 1, tableSchema: 'sqp', tableName: 'weekly_summary', change: 'UPDATE', fields: ['priority'], at: new Date().toISOString() }));
    expect(await c.next()).toEqual({ type: 'next', id: '1', payload: { data: { refreshEvents: { __typename: 'ConfigChanged', tableName: 'weekly_summary' } } } });
    c.socket.close(1000);
    await c.closed;
  });
});

describe('the protocol, kept by our own adapter', () => {
  it('closes a socket that sends no connection_init within 3 s with 4408, and one that sends no JSON with 4400', async () => {
    const silent = connect();
    await silent.opened;
    expect(await silent.closed).toEqual({ code: 4408, reason: 'Connection initialisation timeout' });
    const garbled = connect();
    await garbled.opened;
    garbled.socket.send('{not json');
    expect(await garbled.closed).toEqual({ code: 4400, reason: 'Invalid message received' });
  });
});

describe('limits', () => {
  it('refuses an operation over the depth limit as that operation\'s error; the socket serves the next one', async () => {
    const c = await init({ authorization: `Bearer ${reader.token}` });
    expect(await c.next()).toMatchObject({ type: 'connection_ack' });
    const deep = `{ refreshConfigs(first: 1) { edges { node { ${'parents { '.repeat(12)}tableName${' }'.repeat(12)} } } } }`;
    c.send({ type: 'subscribe', id: 'deep', payload: { query: deep } });
    const refused = await c.next();
    expect(refused).toMatchObject({ type: 'error', id: 'deep' });
    expect(JSON.stringify(refused.payload)).toMatch(/depth/i);
    c.send({ type: 'subscribe', id: 'ok', payload: { query: '{ refreshConfig(tableSchema: "sqp", tableName: "weekly_summary") { tableName } }' } });
    expect(await c.next()).toEqual({ type: 'next', id: 'ok', payload: { data: { refreshConfig: { tableName: 'weekly_summary' } } } });
    expect(await c.next()).toEqual({ type: 'complete', id: 'ok' });
    expect(c.socket.readyState).toBe(WebSocket.OPEN);
    c.socket.close(1000);
    await c.closed;
  });

  it(`holds at most ${CAP} sockets without a valid token; one more is closed with 1013 until a socket authenticates`, async () => {
    const held = [connect(), connect(), connect()];
    await Promise.all(held.map((c) => c.opened));
    const over = connect();
    expect((await over.closed).code).toBe(1013);
    // One of the held sockets authenticates: it no longer counts, so a new socket is accepted.
    held[0]!.send({ type: 'connection_init', payload: { authorization: `Bearer ${reader.token}` } });
    expect(await held[0]!.next()).toMatchObject({ type: 'connection_ack' });
    const admitted = connect();
    await admitted.opened;
    admitted.send({ type: 'connection_init', payload: { authorization: `Bearer ${reader.token}` } });
    expect(await admitted.next()).toMatchObject({ type: 'connection_ack' });
    for (const c of [...held, admitted]) c.socket.close(1000);
    await Promise.all([...held, admitted].map((c) => c.closed));
  });
});

describe('anonymous sockets', () => {
  it('are closed (1000) once idle with no operation; one with a subscription stays', async () => {
    // A second server on the same database where anonymous callers may read, idle after 1 s.
    const config = loadConfig({ DATABASE_URL: database.url, ANONYMOUS_ACCESS: 'read', GRAPHQL_WS_IDLE_SECONDS: '1' });
    const open = buildApp({ graphql: config.graphql, auth: config.auth, logger: createLogger({ level: 'silent', pretty: false }), services: { db: app.database, runtime: app.runtime } });
    const url = (await open.start(0)).replace(/^http/, 'ws');
    try {
      const [idle, busy] = [connect(url), connect(url)];
      await Promise.all([idle.opened, busy.opened]);
      for (const c of [idle, busy]) c.send({ type: 'connection_init', payload: {} });
      expect(await idle.next()).toMatchObject({ type: 'connection_ack' });
      expect(await busy.next()).toMatchObject({ type: 'connection_ack' });
      busy.send({ type: 'subscribe', id: 'events', payload: { query: 'subscription { refreshEvents { __typename } }' } });
      expect(await idle.closed).toMatchObject({ code: 1000, reason: expect.stringMatching(/^Idle/) });
      expect(busy.socket.readyState).toBe(WebSocket.OPEN);
      busy.socket.close(1000);
      await busy.closed;
    } finally {
      await open.stop();
    }
  });
});
