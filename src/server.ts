// The HTTP transport: graphql-yoga at /graphql (GraphiQL on GET from a browser).
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { EnvelopArmorPlugin } from '@escape.tech/graphql-armor';
import { NoSchemaIntrospectionCustomRule, type ExecutionArgs, type GraphQLError } from 'graphql';
import { createYoga, type Plugin, type YogaServerInstance } from 'graphql-yoga';
import type { OperationResult } from 'graphql-ws';
import { useServer } from 'graphql-ws/use/ws';
import { WebSocketServer } from 'ws';
import { contextFor, tokenFromConnectionParams, tokenFromHeaders } from './auth/context.ts';
import type { Config } from './config.ts';
import { GRAPHIQL_PAGE_HEADERS, graphiqlAssetRoutes, renderLocalGraphiQL } from './http/graphiql.ts';
import type { Logger } from './logger.ts';
import type { Context } from './schema/builder.ts';
import { schema } from './schema/index.ts';

type ServerContext = { connectionParams?: Record<string, unknown> };

export interface App {
  yoga: YogaServerInstance<ServerContext, Context>;
  server: Server;
  /** Listens on `port` (0: any free port) and resolves with the URL of /graphql. */
  start(port?: number, host?: string): Promise<string>;
  stop(): Promise<void>;
}

type Enveloped = { execute: (args: ExecutionArgs) => OperationResult; subscribe: (args: ExecutionArgs) => OperationResult };

/** A plain HTTP route beside /graphql (probes, metrics, the status page). */
export type Route = (req: IncomingMessage, res: ServerResponse) => void | Promise<void>;

/** Builds the GraphQL server; nothing listens until start(). */
export function buildApp(options: {
  graphql: Config['graphql'];
  /** Tokens and anonymous access; default: no tokens, anonymous gets nothing. */
  auth?: Config['auth'];
  logger: Logger;
  routes?: Record<string, Route>;
}): App {
  const { graphql, logger } = options;
  const auth = options.auth ?? { tokens: [], anonymous: 'none' };
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
  if (!graphql.introspection) {
    plugins.push({ onValidate: ({ addValidationRule }) => addValidationRule(NoSchemaIntrospectionCustomRule) });
  }
  const yoga = createYoga<ServerContext, Context>({
    schema,
    // Who calls: the bearer token of an HTTP request (queries, mutations, SSE subscriptions),
    // or the connectionParams of a graphql-ws connection (see below).
    context: ({ request, connectionParams }) =>
      contextFor(auth, connectionParams ? tokenFromConnectionParams(connectionParams) : tokenFromHeaders(request.headers)),
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
  const routes = { ...graphiqlAssetRoutes(), ...options.routes };
  const server = createServer((req, res) => {
    const route = routes[new URL(req.url ?? '/', 'http://localhost').pathname];
    if (!route) return void yoga(req, res);
    Promise.resolve(route(req, res)).catch((err) => {
      logger.error({ err, path: req.url }, 'route failed');
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: 'internal error' }));
    });
  });
  // graphql-ws on the same path, through yoga.getEnveloped: both transports share the schema,
  // plugins (armor limits, masking) and the context factory (auth).
  const wss = new WebSocketServer({ server, path: '/graphql' });
  useServer<Record<string, unknown>>(
    {
      execute: (args) => (args.rootValue as Enveloped).execute(args),
      subscribe: (args) => (args.rootValue as Enveloped).subscribe(args),
      onSubscribe: async (ctx, _id, payload) => {
        const { schema: s, execute, subscribe, contextFactory, parse, validate } = yoga.getEnveloped({
          ...ctx,
          req: ctx.extra.request,
          socket: ctx.extra.socket,
          params: payload,
          connectionParams: ctx.connectionParams ?? {},
        });
        let document;
        try {
          document = parse(payload.query);
        } catch (error) {
          return [error as GraphQLError];
        }
        const errors = validate(s, document);
        if (errors.length) return errors;
        return {
          schema: s,
          operationName: payload.operationName,
          document,
          variableValues: payload.variables ?? undefined,
          contextValue: await contextFactory(),
          rootValue: { execute, subscribe } as Enveloped,
        };
      },
    },
    wss,
  );

  return {
    yoga,
    server,
    start(port = 0, host = '127.0.0.1') {
      return new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => {
          const address = server.address() as AddressInfo;
          resolve(`http://${host}:${address.port}/graphql`);
        });
      });
    },
    stop() {
      return new Promise((resolve) => {
        for (const client of wss.clients) client.terminate();
        wss.close();
        server.closeAllConnections();
        server.close(() => resolve());
      });
    },
  };
}
