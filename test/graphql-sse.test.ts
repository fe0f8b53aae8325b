// graphql-sse's official client in single connection mode against /graphql/stream over real
// HTTP: the connection a client reserves (PUT, then one event stream for all its operations),
// its bearer token read as on /graphql. (Distinct connections mode, yoga's own /graphql, is
// tested by the subscription tests.)
import { createClient } from 'graphql-sse';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createToken } from '../src/auth/tokens.ts';
import { createEventBus } from '../src/subscriptions/bus.ts';
import { logged } from './support/events.ts';
import { startTestApp, type TestApp } from './support/app.ts';
import { createTestDatabase } from './support/db.ts';

const database = await createTestDatabase();
const reader = createToken('dashboard', 'read');
const bus = createEventBus();
let app: TestApp;
let streamUrl: string;

beforeAll(async () => {
  app = await startTestApp(database.url, { API_TOKENS: reader.entry, ANONYMOUS_ACCESS: 'none' }, { bus });
  streamUrl = `${app.url}/stream`;
});
afterAll(async () => {
  await app?.stop();
  await database.drop();
});

const QUERY = 'subscription { refreshEvents { __typename ... on ConfigChanged { tableName } } }';
const changed = (tableName: string) => ({ type: 'config:changed' as const, configId: 1, tableSchema: 'sqp', tableName, change: 'UPDATE' as const, fields: ['priority'], at: new Date().toISOString() });

it('delivers refresh events to the official client in single connection mode', async () => {
  const client = createClient({ url: streamUrl, singleConnection: true, retryAttempts: 0, headers: { authorization: `Bearer ${reader.token}` } });
  const listening = bus.listenerCount();
  const events = client.iterate<{ refreshEvents: { __typename: string; tableName?: string } }>({ query: QUERY });
  const first = events.next();
  // No event says the server has subscribed: wait for its bus listener, then publish.
  await expect.poll(() => bus.listenerCount(), { timeout: 10_000 }).toBeGreaterThan(listening);
  bus.publish(logged(changed('weekly_summary')));
  expect((await first).value).toEqual({ data: { refreshEvents: { __typename: 'ConfigChanged', tableName: 'weekly_summary' } } });
  await events.return?.();
  client.dispose();
});
