// The real GraphQL server with a runner, an event bus and the event log (writer, follower,
// pruner: what joins replicas), in this process, on a test database — what `npm start` composes, with sources the test chooses.
// Also clients for both subscription transports (graphql-ws and SSE) over real sockets.
import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { print } from 'graphql';
import { createClient } from 'graphql-ws';
import pg from 'pg';
import WebSocket from 'ws';
import { createToken, type Scope } from '../../src/auth/tokens.ts';
import { loadConfig } from '../../src/config.ts';
import { openDatabase, type Database } from '../../src/db.ts';
import { createLogger } from '../../src/logger.ts';
import type { Runner } from '../../src/runner/scheduler/runner.ts';
import { createSources, type SourceEnvironment } from '../../src/runner/sources/registry.ts';
import { createRuntime, type Runtime } from '../../src/runtime.ts';
import { buildApp } from '../../src/server.ts';
import { createEventBus, type EventBus } from '../../src/subscriptions/bus.ts';
import { createDatabaseListener } from '../../src/subscriptions/listener.ts';
import { startEventLog, type EventLog } from '../../src/subscriptions/event-log-parts.ts';
import { buildTestRunner, registerTestTable } from './refresh.ts';

export interface LiveApp {
  url: string;
  wsUrl: string;
  database: Database;
  bus: EventBus;
  /** The event log's parts of this process (its writer takes the runner's events). */
  events: EventLog;
  runner: Runner;
  /** What the graph reads of this process (its subscribers counted there). */
  runtime: Runtime;
  /** Bearer tokens by scope (and one revoked: valid format, not in API_TOKENS). */
  tokens: Record<Scope | 'revoked', string>;
  headers(scope: Scope | 'revoked' | null): Record<string, string>;
  stop(): Promise<void>;
}

export async function startLiveApp(
  databaseUrl: string,
  opts: {
    sources?: Partial<SourceEnvironment>; dailyByteBudget?: bigint | null; env?: Record<string, string>; workerName?: string; concurrency?: number;
    /** The fan-outs' share of the process below what SUBSCRIBER_FANOUT_SHARE accepts (1%): a budget every pass spends whole. */
    fanOutShare?: number;
  } = {},
): Promise<LiveApp> {
  const made = { read: createToken('reader', 'read'), operate: createToken('operator', 'operate'), admin: createToken('admin', 'admin'), revoked: createToken('former', 'admin') };
  const config = loadConfig({
    DATABASE_URL: databaseUrl,
    LOG_LEVEL: 'silent',
    API_TOKENS: [made.read.entry, made.operate.entry, made.admin.entry].join(','),
    ANONYMOUS_ACCESS: 'none',
    ...opts.env,
  });
  const logger = createLogger({ level: process.env.TEST_LOG ?? 'silent', pretty: false });
  const database = openDatabase(databaseUrl);
  const bus = createEventBus();
  const sources = createSources({ targetUrl: databaseUrl, ...opts.sources });
  const listener = createDatabaseListener({ url: databaseUrl, logger });
  await listener.start();
  const runtime = createRuntime({ bus, sources, dailyByteBudget: opts.dailyByteBudget ?? null });
  const events = await startEventLog({ pool: database.pool, listener, bus, subscribers: runtime.subscribers, retentionHours: config.events.retentionHours, logger });
  runtime.events = events.streams;
  const runner = buildTestRunner(database.pool, databaseUrl, {
    sources, logger, workerName: opts.workerName ?? `live-${process.pid}`, dailyByteBudget: opts.dailyByteBudget ?? null,
    listener, emit: events.writer.write, concurrency: opts.concurrency ?? 2,
  });
  runtime.runner = runner;
  await runner.start();
  const graphql = opts.fanOutShare === undefined ? config.graphql : { ...config.graphql, subscriptionGroups: { ...config.graphql.subscriptionGroups, fanOutShare: opts.fanOutShare } };
  const app = buildApp({ graphql, auth: config.auth, logger, services: { db: database, runtime } });
  const url = await app.start(0);
  const tokens = { read: made.read.token, operate: made.operate.token, admin: made.admin.token, revoked: made.revoked.token };
  return {
    url,
    wsUrl: url.replace(/^http/, 'ws'),
    database,
    bus,
    events,
    runner,
    runtime,
    tokens,
    headers: (scope): Record<string, string> => (scope ? { authorization: `Bearer ${tokens[scope]}` } : {}),
    async stop() {
      await runner.stop();
      await events.stop();
      await listener.stop();
      await app.stop();
      await database.close();
    },
  };
}

/** Collects a subscription's results over graphql-ws until `until` says stop (or it completes). */
export function subscribeWs<T, V>(
  wsUrl: string,
  document: TypedDocumentNode<T, V>,
  variables: V,
  connectionParams: Record<string, unknown>,
  until: (item: T, all: T[]) => boolean,
): { results: Promise<T[]>; ready: Promise<void>; close(): void } {
  const client = createClient({ url: wsUrl, webSocketImpl: WebSocket, connectionParams, retryAttempts: 0, lazy: false });
  const items: T[] = [];
  let done = false;
  let readyResolve!: () => void;
  const ready = new Promise<void>((r) => (readyResolve = r));
  client.on('connected', () => readyResolve());
  const results = new Promise<T[]>((resolve, reject) => {
    const unsubscribe = client.subscribe<T>(
      { query: print(document), variables: variables as Record<string, unknown> },
      {
        next: (r) => {
          if (done) return; // after `until`, late messages are not part of the result
          if (r.errors?.length) {
            reject(new Error(r.errors.map((e) => e.message).join('; ')));
            return;
          }
          items.push(r.data as T);
          if (until(r.data as T, items)) {
            done = true;
            unsubscribe();
            resolve(items);
          }
        },
        error: (e) => reject(e instanceof Error ? e : new Error(JSON.stringify(e))),
        complete: () => resolve(items),
      },
    );
  }).finally(() => void client.dispose());
  return { results, ready, close: () => void client.dispose() };
}

/** Collects a subscription's results over SSE (yoga's GraphQL over SSE, single connection mode). */
export async function subscribeSse<T, V>(
  url: string,
  document: TypedDocumentNode<T, V>,
  variables: V,
  headers: Record<string, string>,
  until: (item: T, all: T[]) => boolean,
): Promise<T[]> {
  const controller = new AbortController();
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'text/event-stream', ...headers },
    body: JSON.stringify({ query: print(document), variables }),
    signal: controller.signal,
  });
  if (!res.ok || !res.body) throw new Error(`SSE request failed: ${res.status}`);
  const items: T[] = [];
  const decoder = new TextDecoder();
  let buffer = '';
  try {
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      buffer += decoder.decode(chunk, { stream: true });
      let end: number;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const message = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const event = /^event: (.*)$/m.exec(message)?.[1];
        const data = /^data: (.*)$/m.exec(message)?.[1];
        if (event === 'complete') return items;
        if (event !== 'next' || !data) continue;
        const parsed = JSON.parse(data) as { data?: T; errors?: Array<{ message: string }> };
        if (parsed.errors?.length) throw new Error(parsed.errors.map((e) => e.message).join('; '));
        items.push(parsed.data as T);
        if (until(parsed.data as T, items)) return items;
      }
    }
    return items;
  } finally {
    controller.abort();
  }
}

/** A table sqp.<name> refreshed from a generated series on the test database (slow: ms per row). */
export async function seriesTable(pool: pg.Pool, name: string, opts: { rows?: number; pageSize?: number; msPerRow?: number } = {}): Promise<void> {
  const rows = opts.rows ?? 1000;
  // pg_sleep in the select list, once per row as it is fetched (a subquery around it ran once per query).
  const value = opts.msPerRow ? `CASE WHEN pg_sleep(${opts.msPerRow / 1000}) IS NULL THEN g * 2 ELSE g * 2 END` : 'g * 2';
  await pool.query(`CREATE TABLE IF NOT EXISTS sqp.${name} (id int PRIMARY KEY, v int)`);
  await registerTestTable(pool, {
    tableName: name, isEnabled: true, nextRefreshAt: '30 days',
    customSyncParams: { source: { type: 'postgres', query: `SELECT g AS id, ${value} AS v FROM generate_series(1, ${rows}) g` }, pageSize: opts.pageSize ?? 100, quality: { rowCountChange: { min: -1, max: 1000 } } },
  });
}
