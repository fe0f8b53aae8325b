// graphql-ws on /graphql beside yoga's HTTP, through yoga.getEnveloped: both transports share
// the schema, plugins (armor limits, masking) and the context factory (auth).
// - Credentials are checked at `connection_init`: a token that is unknown, revoked or not of
//   the form `Bearer <token>` — or none where anonymous callers get nothing — closes the
//   socket with 4403 and a reason, instead of an acknowledged socket whose every operation fails.
// - Sockets without a valid token (not yet initialised, or anonymous) are capped; one over the
//   cap is closed at once with 1013 (try again later). graphql-ws closes a socket that sends no
//   `connection_init` within 3 s (4408); an anonymous socket with no operation for
//   `unauthenticatedIdleMs` is closed with 1000 (a graphql-ws client reconnects only when it
//   has something to run).
// - An operation refused by parsing or validation (armor's depth, cost, token limits) is an
//   error of that operation; the socket stays open for the others.
// - stop() closes every socket with 1001 (going away), so clients reconnect at once.
import type { Server } from 'node:http';
import { GraphQLError, type ExecutionArgs } from 'graphql';
import type { YogaServerInstance } from 'graphql-yoga';
import { CloseCode, type OperationResult, type ServerOptions } from 'graphql-ws';
import { WebSocketServer, type WebSocket } from 'ws';
import { contextFor, tokenFromConnectionParams } from '../auth/context.ts';
import type { Config } from '../config.ts';
import type { Logger } from '../logger.ts';
import type { Context } from '../schema/builder.ts';
import type { SubscriptionGroups } from './subscription-groups.ts';
import { serveGraphQLWs, sharedNext, type SocketExtra } from './ws-adapter.ts';

type Enveloped = { execute: (args: ExecutionArgs) => OperationResult; subscribe: (args: ExecutionArgs) => OperationResult };

/** WebSocket close codes (RFC 6455 registry): the server is stopping; overloaded, try later. */
const GOING_AWAY = 1001;
const TRY_AGAIN_LATER = 1013;
/** How long stop() waits for clients to answer the close frame. */
const CLOSE_HANDSHAKE_MS = 2_000;

export interface GraphQLWebSocket {
  /** Closes every socket with 1001 (going away) and stops accepting new ones. */
  stop(): Promise<void>;
}

/** Sockets without a valid token, counted against the cap; anonymous ones also watched for idleness. */
interface UnauthenticatedSockets {
  /** Not yet initialised, or anonymous. */
  open: Set<WebSocket>;
  /** Anonymous sockets after connection_init: their operations in flight, and since when none. */
  anonymous: Map<WebSocket, { operations: Readonly<Record<string, unknown>>; idleSince: number | null }>;
  /** Sockets that have not sent connection_init yet, and since when (closed 4408 after INIT_WAIT_MS). */
  uninitialised: Map<WebSocket, number>;
}

/** How long a socket may take to send connection_init (graphql-ws's own default; its per-socket timer is replaced by one sweep). */
const INIT_WAIT_MS = 3_000;

type WsOptions = ServerOptions<Record<string, unknown>, SocketExtra>;
type Yoga = YogaServerInstance<{ connectionParams?: Record<string, unknown> }, Context>;

/** Serves graphql-ws on `server` at /graphql. */
export function attachGraphQLWebSocket(options: {
  server: Server;
  yoga: Yoga;
  auth: Config['auth'];
  /** Sockets without a valid token held open at once. */
  maxUnauthenticated: number;
  /** How long an anonymous socket may stay open with no operation in flight. */
  unauthenticatedIdleMs: number;
  logger: Logger;
  /** Subscriptions of one operation share an execution; a graphql-ws subscriber joins a running one directly. */
  groups: SubscriptionGroups;
}): GraphQLWebSocket {
  const wss = new WebSocketServer({ server: options.server, path: '/graphql' });
  const sockets: UnauthenticatedSockets = { open: new Set(), anonymous: new Map(), uninitialised: new Map() };
  const sweep = sweepIdleAnonymous(sockets, options.unauthenticatedIdleMs);
  // Registered before graphql-ws's own listener, so that a socket over the cap is closed
  // before graphql-ws starts its protocol on it.
  wss.on('connection', admitUnderCap(sockets, options.maxUnauthenticated, options.logger));
  const served = serveGraphQLWs<Record<string, unknown>>(
    {
      // One sweep for every socket (sweepIdleAnonymous) instead of a timer each, kept until it closes.
      connectionInitWaitTimeout: 0,
      onConnect: authenticateConnection(options.auth, sockets),
      execute: (args) => (args.rootValue as Enveloped).execute(args),
      // A subscriber of an operation already running joins its group as it is, without envelop's
      // wrappers around it (the group's member writes its own masked frames); else through envelop.
      subscribe: async (args) => (await options.groups.joinDirect(args)) ?? (args.rootValue as Enveloped).subscribe(args),
      onSubscribe: envelopedOperation(options.yoga),
      // A result shared by a subscription group is serialised once, not once per socket.
      onNext: sharedNext,
    },
    wss,
    (err, what) => options.logger.error({ err }, what),
  );
  return {
    async stop() {
      clearInterval(sweep);
      served.stop();
      await closeAllGoingAway(wss);
    },
  };
}

/**
 * Closes (4408) a socket that sent no connection_init within INIT_WAIT_MS, and (1000) an
 * anonymous socket with no operation in flight for `idleMs`; checked on an unref'd timer.
 */
function sweepIdleAnonymous(sockets: UnauthenticatedSockets, idleMs: number): NodeJS.Timeout {
  const sweep = setInterval(() => {
    const now = Date.now();
    for (const [socket, since] of sockets.uninitialised) {
      if (now - since < INIT_WAIT_MS) continue;
      sockets.uninitialised.delete(socket);
      socket.close(CloseCode.ConnectionInitialisationTimeout, 'Connection initialisation timeout');
    }
    for (const [socket, state] of sockets.anonymous) {
      if (Object.keys(state.operations).length > 0) state.idleSince = null;
      else if (state.idleSince === null) state.idleSince = now;
      else if (now - state.idleSince >= idleMs) socket.close(1000, 'Idle: no operation without a token for too long');
    }
  }, Math.max(250, Math.min(INIT_WAIT_MS / 4, idleMs / 4)));
  sweep.unref();
  return sweep;
}

/** The `connection` listener that counts a new socket as unauthenticated, or closes it (1013) over the cap. */
function admitUnderCap(sockets: UnauthenticatedSockets, max: number, logger: Logger): (socket: WebSocket) => void {
  // Refusals are logged at most once a minute, with how many there were: a flood of sockets
  // must not become a flood of log lines.
  let refused = 0;
  let lastWarning = 0;
  // One listener for every socket (`this` is the socket), not a closure each.
  function forget(this: WebSocket): void {
    sockets.open.delete(this);
    sockets.anonymous.delete(this);
    sockets.uninitialised.delete(this);
  }
  return (socket) => {
    if (sockets.open.size >= max) {
      socket.close(TRY_AGAIN_LATER, 'Too many connections without a token; try again later');
      refused++;
      if (Date.now() - lastWarning >= 60_000) {
        logger.warn({ refused, open: sockets.open.size, limit: max }, 'refused WebSockets: too many without a valid token (GRAPHQL_WS_MAX_UNAUTHENTICATED)');
        lastWarning = Date.now();
        refused = 0;
      }
      return;
    }
    sockets.open.add(socket);
    sockets.uninitialised.set(socket, Date.now());
    socket.on('close', forget);
  };
}

/** graphql-ws's onConnect: judges the connection_init credentials (4403 with the reason); a named caller leaves the cap, an anonymous one is watched for idleness. */
function authenticateConnection(auth: Config['auth'], sockets: UnauthenticatedSockets): NonNullable<WsOptions['onConnect']> {
  return (ctx) => {
    const socket = ctx.extra.socket;
    sockets.uninitialised.delete(socket);
    const presented = tokenFromConnectionParams(ctx.connectionParams);
    const { principal, invalidToken } = contextFor(auth, presented);
    const refusal = invalidToken ?? (principal.scopes.size === 0 ? 'a token is required: connectionParams { authorization: "Bearer <token>" }' : null);
    if (refusal) {
      // graphql-ws would close with a bare "Forbidden"; say why (reasons are capped at 123 bytes).
      socket.close(CloseCode.Forbidden, `Forbidden: ${refusal}`.slice(0, 123));
      return false;
    }
    if (principal.name !== null) sockets.open.delete(socket);
    else sockets.anonymous.set(socket, { operations: ctx.subscriptions, idleSince: null });
    return true;
  };
}

/** graphql-ws's onSubscribe: the operation through yoga's envelop (its plugins, context and limits), a refused one answered as its errors. */
function envelopedOperation(yoga: Yoga): NonNullable<WsOptions['onSubscribe']> {
  return async (ctx, id, payload) => {
    const { schema, execute, subscribe, contextFactory, parse, validate } = yoga.getEnveloped({
      ...ctx,
      socket: ctx.extra.socket,
      // A subscription group writes this operation's `next` messages itself (subscription-groups.ts).
      subscriptionId: id,
      params: payload,
      connectionParams: ctx.connectionParams ?? {},
    });
    // Parse and validation errors (armor's limits among them, which may throw rather than
    // report) answer this operation only; anything else is unexpected and graphql-ws closes.
    try {
      const document = parse(payload.query);
      const errors = validate(schema, document);
      if (errors.length) return errors;
      return {
        schema,
        operationName: payload.operationName,
        document,
        variableValues: payload.variables ?? undefined,
        contextValue: await contextFactory(),
        rootValue: { execute, subscribe } as Enveloped,
      };
    } catch (error) {
      if (error instanceof GraphQLError) return [error];
      throw error;
    }
  };
}

/** Closes every socket with 1001 and the server; a client that does not answer the close within CLOSE_HANDSHAKE_MS is cut. */
async function closeAllGoingAway(wss: WebSocketServer): Promise<void> {
  // graphql-ws's dispose() does the same but waits for every client's close handshake
  // (up to ws's 30 s timeout); here a client that does not answer in time is cut.
  for (const socket of wss.clients) socket.close(GOING_AWAY, 'Going away: the server is stopping; reconnect');
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    new Promise<void>((resolve) => wss.close(() => resolve())),
    new Promise<void>((resolve) => (timer = setTimeout(resolve, CLOSE_HANDSHAKE_MS))),
  ]);
  clearTimeout(timer);
  for (const socket of wss.clients) socket.terminate();
}
