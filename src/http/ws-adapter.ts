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
  /** Result bytes waiting for their `next` message, by operation id. */
  pending: Map<string, Buffer>;
}

const EMPTY_PAYLOAD = Object.freeze({});
const NEXT_TAIL = ',"type":"next","payload":{}}';
const CLOSE = Buffer.from('}');

/** graphql-ws's onNext: parks the result's shared bytes for send() and gives graphql-ws an empty payload to stringify. */
export function sharedNext(ctx: { extra: SocketExtra }, id: string, _payload: unknown, _args: unknown, result: ExecutionResult): object {
  ctx.extra.pending.set(id, serializedResult(result));
  return EMPTY_PAYLOAD;
}

/** A graphql-ws message as bytes: a `next` with parked bytes gets them as its payload. */
function messageBytes(data: string, pending: Map<string, Buffer>): string | Buffer {
  if (!data.endsWith(NEXT_TAIL) || !pending.size) return data;
  const id = JSON.parse(data.slice(6, data.length - NEXT_TAIL.length)) as string;
  const bytes = pending.get(id);
  if (!bytes) return data;
  pending.delete(id);
  return Buffer.concat([Buffer.from(data.slice(0, -3)), bytes, CLOSE]);
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
  // The upgrade request is not kept: nothing after the handshake reads it (credentials come in
  // connection_init), and held for the life of each socket it would be its largest part.
  wss.on('connection', (socket) => {
    alive.set(socket, true);
    socket.on('pong', () => alive.set(socket, true));
    socket.once('error', (err) => {
      onError(err, 'a WebSocket failed');
      socket.close(CloseCode.InternalServerError, 'Internal server error');
    });
    const extra: SocketExtra = { socket, pending: new Map() };
    const closed = server.opened(
      {
        protocol: socket.protocol,
        send: (data) =>
          new Promise<void>((resolve, reject) => {
            if (socket.readyState !== socket.OPEN) return resolve();
            // A text frame, bytes or not: graphql-ws speaks text.
            socket.send(messageBytes(data, extra.pending), { binary: false }, (err) => (err ? reject(err) : resolve()));
          }),
        close: (code, reason) => socket.close(code, reason),
        onMessage: (cb) =>
          socket.on('message', (message) => {
            cb(String(message)).catch((err: unknown) => {
              onError(err, 'a graphql-ws message could not be handled');
              socket.close(CloseCode.InternalServerError, 'Internal server error');
            });
          }),
      },
      extra,
    );
    socket.once('close', (code, reason) => void closed(code, String(reason)));
  });
  return { stop: () => clearInterval(sweep) };
}
