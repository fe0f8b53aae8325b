// graphql-ws's server on a `ws` WebSocketServer: what graphql-ws/use/ws does, for many sockets.
// Written here rather than used from the package because its adapter, per socket, keeps a
// keep-alive timer and closures, and sends every `next` message as graphql-ws stringified it —
// the whole result again for each socket. Here one keep-alive sweep serves every socket, and a
// `next` whose result a subscription group shares (src/http/subscription-groups.ts) is written
// as the message's own head (`{"id":…,"type":"next","payload":`) and the result's bytes made
// once: onNext (sharedNext) parks those bytes under the operation's id and hands graphql-ws an
// empty payload, which send() replaces. The protocol on the wire is unchanged.
import { CloseCode, makeServer, type ServerOptions } from 'graphql-ws';
import type { ExecutionResult } from 'graphql';
import type { WebSocket, WebSocketServer } from 'ws';
import { serializedResult } from './subscription-groups.ts';

/** What graphql-ws's context carries of each socket (`ctx.extra`). */
export interface SocketExtra {
  socket: WebSocket;
  /** Result bytes waiting for their `next` message, by operation id (made at the first: grouped members write their own). */
  pending: Map<string, Buffer> | null;
}

const EMPTY_PAYLOAD = Object.freeze({});
const NEXT_TAIL = ',"type":"next","payload":{}}';
const CLOSE = Buffer.from('}');

/** graphql-ws's onNext: parks the result's shared bytes for send() and gives graphql-ws an empty payload to stringify. */
export function sharedNext(ctx: { extra: SocketExtra }, id: string, _payload: unknown, _args: unknown, result: ExecutionResult): object {
  (ctx.extra.pending ??= new Map()).set(id, serializedResult(result));
  return EMPTY_PAYLOAD;
}

/** A graphql-ws message as bytes: a `next` with parked bytes gets them as its payload. */
function messageBytes(data: string, pending: Map<string, Buffer> | null): string | Buffer {
  if (!data.endsWith(NEXT_TAIL) || !pending?.size) return data;
  const id = JSON.parse(data.slice(6, data.length - NEXT_TAIL.length)) as string;
  const bytes = pending.get(id);
  if (!bytes) return data;
  pending.delete(id);
  return Buffer.concat([Buffer.from(data.slice(0, -3)), bytes, CLOSE]);
}

/** Query texts (and short strings) of incoming messages, kept once: thousands of dashboards send the same document. */
const interned = new Map<string, string>();
const MAX_INTERNED = 1000;
function intern(key: string, value: unknown): unknown {
  if (typeof value !== 'string' || (key !== 'query' && value.length > 64)) return value;
  const known = interned.get(value);
  if (known !== undefined) return known;
  if (interned.size < MAX_INTERNED) interned.set(value, value);
  return value;
}

/**
 * One socket as graphql-ws sees it. A class, its methods on the prototype: an object of
 * closures per socket cost ~1 KB each (tsx names every function, which puts each in dictionary mode).
 */
class Transport {
  /** graphql-ws's message handler, and what to call when the socket closes. */
  handler: ((message: unknown) => Promise<void>) | null = null;
  closed: ((code?: number, reason?: string) => Promise<void>) | null = null;

  constructor(
    private readonly socket: WebSocket,
    private readonly extra: SocketExtra,
  ) {}

  get protocol(): string {
    return this.socket.protocol;
  }

  send(data: string): Promise<void> {
    const socket = this.socket;
    return new Promise<void>((resolve, reject) => {
      if (socket.readyState !== socket.OPEN) return resolve();
      // A text frame, bytes or not: graphql-ws speaks text.
      socket.send(messageBytes(data, this.extra.pending), { binary: false }, (err) => (err ? reject(err) : resolve()));
    });
  }

  close(code?: number, reason?: string): void {
    this.socket.close(code, reason);
  }

  onMessage(handler: (data: string) => Promise<void>): void {
    // graphql-ws's parseMessage takes the object too: parsed here (query texts interned), the raw text is not kept.
    this.handler = handler as (message: unknown) => Promise<void>;
  }
}

/** Serves graphql-ws on `wss`; pings every socket each `keepAliveMs` and cuts one that did not answer the previous ping. */
export function serveGraphQLWs<P extends Record<string, unknown>>(
  options: ServerOptions<P, SocketExtra>,
  wss: WebSocketServer,
  onError: (err: unknown, what: string) => void,
  keepAliveMs = 12_000,
): { stop(): void } {
  const server = makeServer<P, SocketExtra>(options);
  const alive = new WeakMap<WebSocket, boolean>();
  const transports = new WeakMap<WebSocket, Transport>();
  const sweep = setInterval(() => {
    for (const socket of wss.clients) {
      if (alive.get(socket) === false) {
        socket.terminate();
        continue;
      }
      alive.set(socket, false);
      socket.ping();
    }
  }, keepAliveMs);
  sweep.unref();
  // Listeners shared by every socket (`this` is the socket): no closure, no once() wrapper per socket.
  function onPong(this: WebSocket): void {
    alive.set(this, true);
  }
  function onSocketError(this: WebSocket, err: Error): void {
    onError(err, 'a WebSocket failed');
    this.close(CloseCode.InternalServerError, 'Internal server error');
  }
  function onSocketMessage(this: WebSocket, data: Buffer): void {
    const handler = transports.get(this)?.handler;
    if (!handler) return;
    let message: unknown;
    try {
      message = JSON.parse(String(data), intern);
    } catch {
      this.close(CloseCode.BadRequest, 'Invalid message received');
      return;
    }
    handler(message).catch((err: unknown) => {
      onError(err, 'a graphql-ws message could not be handled');
      this.close(CloseCode.InternalServerError, 'Internal server error');
    });
  }
  function onSocketClose(this: WebSocket, code: number, reason: Buffer): void {
    const transport = transports.get(this);
    const closed = transport?.closed;
    if (!closed) return;
    transport.closed = null;
    void closed(code, String(reason));
  }
  // The upgrade request is not kept: nothing after the handshake reads it (credentials come in
  // connection_init), and held for the life of each socket it would be its largest part.
  wss.on('connection', (socket) => {
    alive.set(socket, true);
    const extra: SocketExtra = { socket, pending: null };
    const transport = new Transport(socket, extra);
    transports.set(socket, transport);
    socket.on('pong', onPong);
    socket.on('error', onSocketError);
    socket.on('message', onSocketMessage);
    transport.closed = server.opened(transport, extra);
    socket.on('close', onSocketClose);
  });
  return { stop: () => clearInterval(sweep) };
}
