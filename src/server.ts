// The HTTP layer's first file. Its one concern is transport: carrying requests to the graph
// and to plain routes — graphql-yoga at /graphql (GraphiQL on GET from a browser, served from
// this process), graphql-ws on the same path (src/http/graphql-ws.ts), the operator's routes
// (src/http/operations.ts, probes.ts, metrics.ts) and the status page beside it — and stopping
// so that clients reconnect at once. It decides nothing about tables or runs.
// What it (and src/http/) may import: the graph (src/schema/), auth (src/auth/), config and
// logger, the services it is handed (the Database type, the Runtime handle — the runner is
// reached only through it), event types, and the read-only lookups its routes report
// (the audit log's bytes billed, pending migrations, preflight's StartupError). Never the
// runner's scheduler, src/commands/ or the composition root: service.ts imports this layer,
// not the reverse.
import { setMaxListeners } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { EnvelopArmorPlugin } from '@escape.tech/graphql-armor';
import { NoSchemaIntrospectionCustomRule } from 'graphql';
import { createYoga, type Plugin, type YogaServerInstance } from 'graphql-yoga';
import { contextFor, tokenFromConnectionParams, tokenFromHeaders } from './auth/context.ts';
import type { Config } from './config.ts';
import { GRAPHIQL_PAGE_HEADERS, graphiqlAssetRoutes, renderLocalGraphiQL } from './http/graphiql.ts';
import { attachGraphQLWebSocket } from './http/graphql-ws.ts';
import type { BoundListeners } from './http/listen.ts';
import type { Route } from './http/route.ts';
import { createOperationsServer, operationsHandler, protectedOperationsRoutes, runRoute, type OperationsOptions } from './http/operations.ts';
import type { Database } from './db.ts';
import type { Logger } from './logger.ts';
import { createRuntime, type Runtime } from './runtime.ts';
import type { Context } from './schema/builder.ts';
import { schema } from './schema/index.ts';
import { useGraphQLSSE } from '@graphql-yoga/plugin-graphql-sse';
import { useSseEventIds } from './http/sse-event-ids.ts';
import { createSubscriptionGroups, type SubscriptionGroups } from './http/subscription-groups.ts';
import type { EventCursor } from './schema/builder.ts';

type ServerContext = { connectionParams?: Record<string, unknown> };

/** What the resolvers reach through the context (built in the composition root, or a test). */
export interface Services {
  db: Database;
  runtime: Runtime;
}

/** Services of an app built for its plain routes only: a resolver that reaches for the database says so. */
function routesOnly(): Services {
  const db = new Proxy({} as Database, {
    get: (_target, key) => {
      throw new Error(`this app was built without services (buildApp's services): no database for db.${String(key)}`);
    },
  });
  return { db, runtime: createRuntime() };
}

/** How long stop() lets SSE streams send their `complete` and end before cutting connections. */
const STREAM_DRAIN_MS = 2_000;

export interface App {
  yoga: YogaServerInstance<ServerContext, Context>;
  server: Server;
  /** The listener of /health, /ready and /metrics when they have a port of their own. */
  operationsServer: Server | null;
  /** Listens on `port` (0: any free port) and resolves with the URL of /graphql. */
  start(port?: number, host?: string): Promise<string>;
  /**
   * Closes WebSockets with 1001 (going away), ends SSE streams with `event: complete`, then
   * closes the server: clients see a clean end and reconnect at once.
   */
  stop(): Promise<void>;
}

/** Builds the GraphQL server; nothing listens until start(). */
export function buildApp(options: {
  graphql: Config['graphql'];
  /** Tokens and anonymous access; default: no tokens, anonymous gets nothing. */
  auth?: Config['auth'];
  logger: Logger;
  routes?: Record<string, Route>;
  /** /health, /ready, /metrics: beside /graphql, or on a port of their own; METRICS_TOKEN. */
  operations?: OperationsOptions;
  /** Listeners bound before start-up (src/http/listen.ts): adopted, start() then only says where. */
  listening?: BoundListeners;
  /** The database and runtime every request's context carries to the resolvers; none: an app of plain routes (tests). */
  services?: Services;
}): App {
  const { graphql, logger, operations } = options;
  const auth = options.auth ?? { tokens: [], anonymous: 'none' };
  // Aborted by stop(): every subscription stream of this server ends (see schema/subscriptions.ts).
  const shutdown = new AbortController();
  setMaxListeners(0, shutdown.signal); // one listener per live subscription
  const services = options.services ?? routesOnly();
  // Subscribers of one operation share an execution, whichever transport they came by.
  const groups = createSubscriptionGroups({ groups: services.runtime.subscriptionGroups, ...graphql.subscriptionGroups });
  const yoga = createGraphQLYoga({ graphql, auth, logger, services, shutdown: shutdown.signal, groups });
  const { operationsServer, operationsRoutes } = operationsListener(operations, options.listening, logger);
  const routes = { ...graphiqlAssetRoutes(), ...options.routes, ...(operationsServer ? {} : operationsRoutes) };
  const responses = trackResponses();
  const server = options.listening?.server ?? createServer();
  server.removeAllListeners('request');
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    responses.add(res);
    const route = routes[new URL(req.url ?? '/', 'http://localhost').pathname];
    if (!route) return void yoga(req, res);
    runRoute(route, req, res, logger);
  });
  const websocket = attachGraphQLWebSocket({
    server, yoga, auth, logger, groups,
    maxUnauthenticated: graphql.maxUnauthenticatedSockets,
    unauthenticatedIdleMs: graphql.unauthenticatedIdleMs,
  });

  return {
    yoga,
    server,
    operationsServer,
    async start(port = 0, host = '127.0.0.1') {
      if (operationsServer) await startOperationsListener(operationsServer, operations, host, logger);
      return listenGraphQL(server, port, host);
    },
    async stop() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      await websocket.stop();
      shutdown.abort();
      await responses.drained(STREAM_DRAIN_MS);
      server.closeAllConnections();
      await closed;
      if (operationsServer?.listening) {
        const opsClosed = new Promise<void>((resolve) => operationsServer.close(() => resolve()));
        operationsServer.closeAllConnections();
        await opsClosed;
      }
    },
  };
}

/** graphql-yoga over the schema: armor's limits, GraphiQL's page policy, introspection as configured, masked errors, each request's context. */
function createGraphQLYoga(options: { graphql: Config['graphql']; auth: Config['auth']; logger: Logger; services: Services; shutdown: AbortSignal; groups: SubscriptionGroups }): App['yoga'] {
  const { graphql, auth, logger, services, shutdown } = options;
  // Each HTTP request's place in the event log: its Last-Event-ID in, the `id:` of its SSE events out.
  const cursors = new WeakMap<Request, EventCursor>();
  const plugins: Plugin[] = [
    EnvelopArmorPlugin({
      maxDepth: { n: graphql.maxDepth },
      costLimit: { maxCost: graphql.maxCost },
      maxAliases: { n: 15 },
      maxTokens: { n: 2000 },
      maxDirectives: { n: 20 },
    }) as Plugin,
    {
      // yoga answers GET /graphql from a browser with the GraphiQL page: give it our policy.
      onResponse: ({ response }) => {
        if (!response.headers.get('content-type')?.startsWith('text/html')) return;
        for (const [name, value] of Object.entries(GRAPHIQL_PAGE_HEADERS)) response.headers.set(name, value);
      },
    },
  ];
  // graphql-sse's protocol at /graphql/stream, both of its modes: distinct connections, and the
  // single connection a client reserves with PUT (yoga's own /graphql speaks only the first).
  plugins.push(useGraphQLSSE({ endpoint: '/graphql/stream' }) as Plugin);
  plugins.push(useSseEventIds((request) => cursors.get(request)));
  // Last: subscribers of the same operation and scopes share one execution (it wraps the subscribe the others left).
  plugins.push(options.groups.plugin);
  if (!graphql.introspection) {
    plugins.push({ onValidate: ({ addValidationRule }) => addValidationRule(NoSchemaIntrospectionCustomRule) });
  }
  return createYoga<ServerContext, Context>({
    schema,
    // Who calls: the bearer token of an HTTP request (queries, mutations, SSE subscriptions),
    // or the connectionParams of a graphql-ws connection (see src/http/graphql-ws.ts).
    context: ({ request, connectionParams }): Context => ({
      ...contextFor(auth, connectionParams ? tokenFromConnectionParams(connectionParams) : tokenFromHeaders(request.headers)),
      shutdown,
      db: services.db,
      runtime: services.runtime,
      eventCursor: eventCursorOf(cursors, request, !connectionParams),
    }),
    graphqlEndpoint: '/graphql',
    graphiql: { title: 'sqp-refresh GraphiQL' },
    // Served from this process (src/http/graphiql.ts), never from a CDN.
    renderGraphiQL: renderLocalGraphiQL,
    // Unexpected errors reach the client as "Unexpected error." (no SQL, stack or secret);
    // the full error goes to the log.
    maskedErrors: true,
    logging: {
      debug: (...args) => logger.debug({ args }, 'yoga'),
      info: (...args) => logger.info({ args }, 'yoga'),
      warn: (...args) => logger.warn({ args }, 'yoga'),
      error: (...args) => logger.error({ err: args[0] }, 'graphql error'),
    },
    plugins,
    landingPage: false,
  });
}

/** The request's event cursor, made once per request (an SSE request's Last-Event-ID; none over graphql-ws). */
function eventCursorOf(cursors: WeakMap<Request, EventCursor>, request: Request | undefined, http: boolean): EventCursor {
  if (!http || !request) return { lastEventId: null, sentId: null };
  let cursor = cursors.get(request);
  if (!cursor) cursors.set(request, (cursor = { lastEventId: request.headers.get('last-event-id'), sentId: null }));
  return cursor;
}

/**
 * The operator's routes (guarded by METRICS_TOKEN) and, when they have a port of their own, the
 * listener that serves them: the one bound early (its handler replaced) or a new one.
 */
function operationsListener(operations: OperationsOptions | undefined, adopted: BoundListeners | undefined, logger: Logger): { operationsServer: Server | null; operationsRoutes: Record<string, Route> } {
  const operationsRoutes = operations ? protectedOperationsRoutes(operations.routes, operations.token) : {};
  // bindListeners bound an operations port exactly when the same config gives one here.
  const operationsServer = operations?.port !== undefined ? (adopted?.operationsServer ?? createOperationsServer(operationsRoutes, logger)) : null;
  if (operationsServer && operationsServer === adopted?.operationsServer) {
    operationsServer.removeAllListeners('request');
    operationsServer.on('request', operationsHandler(operationsRoutes, logger));
  }
  return { operationsServer, operationsRoutes };
}

/** Responses in flight (SSE streams among them), so that stop() can wait for their end. */
function trackResponses(): { add(res: ServerResponse): void; drained(maxMs: number): Promise<void> } {
  const responses = new Set<ServerResponse>();
  const drained: Array<() => void> = [];
  return {
    add(res) {
      responses.add(res);
      res.once('close', () => {
        responses.delete(res);
        if (responses.size === 0) drained.splice(0).forEach((resolve) => resolve());
      });
    },
    /** Resolves when none is in flight any more, or after `maxMs`. */
    async drained(maxMs) {
      if (responses.size === 0) return;
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        new Promise<void>((resolve) => drained.push(resolve)),
        new Promise<void>((resolve) => (timer = setTimeout(resolve, maxMs))),
      ]);
      clearTimeout(timer);
    },
  };
}

/** Listens on the operations port (unless bound early) and says where /health, /ready and /metrics are. */
async function startOperationsListener(operationsServer: Server, operations: OperationsOptions | undefined, host: string, logger: Logger): Promise<void> {
  const opsHost = operations?.host ?? host;
  if (!operationsServer.listening) {
    await new Promise<void>((resolve, reject) => {
      operationsServer.once('error', reject);
      operationsServer.listen(operations?.port, opsHost, () => resolve());
    });
  }
  const address = operationsServer.address() as AddressInfo;
  logger.info({ url: `http://${opsHost}:${address.port}` }, `/health, /ready and /metrics are served at http://${opsHost}:${address.port}`);
}

/** Listens on `port` (unless bound early) and resolves with the URL of /graphql. */
async function listenGraphQL(server: Server, port: number, host: string): Promise<string> {
  if (!server.listening) {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => resolve());
    });
  }
  const address = server.address() as AddressInfo;
  return `http://${host}:${address.port}/graphql`;
}
