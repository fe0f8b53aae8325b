// A graphql-ws subscriber at the wire, for the subscribers bench: one TCP socket, the WebSocket
// handshake (RFC 6455, subprotocol graphql-transport-ws), masked text frames out, frames parsed
// straight off the socket's reads. Why not the official client here: at 10,000 subscribers on
// this 2-core machine, the official `graphql-ws` client over `ws` took 18 µs of CPU per
// delivery (2.76 s for 150,650) — more than the server spent on it (~11 µs) — and the client
// process shares the two cores with the server and PostgreSQL, so the bench measured its own
// clients as much as the server. This one does what a client must (handshake, connection_init,
// subscribe, answer pings, parse every message as JSON) and nothing else: ~10 µs a delivery
// (1.37 s for 132,750), most of it the kernel's read and wake-up. The tests keep using the official
// clients; `BENCH_SUBSCRIBER_CLIENT=official` runs this bench with them too.
import { randomBytes } from 'node:crypto';
import net from 'node:net';

export interface WireSubscription {
  url: string;
  connectionParams: Record<string, unknown>;
  query: string;
  variables: Record<string, unknown>;
  /** Each `next` message's payload, with the time its bytes were read (ms since the epoch). */
  onNext(payload: { data?: Record<string, unknown> | null; errors?: unknown }, receivedAt: number): void;
  onError(message: string): void;
}

export interface WireClient {
  close(): void;
}

const OP_TEXT = 0x1;
const OP_CLOSE = 0x8;
const OP_PING = 0x9;
const OP_PONG = 0xa;

/** A masked client frame (RFC 6455 §5.3: a client masks every frame it sends). */
function frame(opcode: number, payload: Buffer): Buffer {
  const length = payload.length;
  const head = length < 126 ? 2 : length < 65536 ? 4 : 10;
  const out = Buffer.allocUnsafe(head + 4 + length);
  out[0] = 0x80 | opcode;
  if (length < 126) out[1] = 0x80 | length;
  else if (length < 65536) {
    out[1] = 0x80 | 126;
    out.writeUInt16BE(length, 2);
  } else {
    out[1] = 0x80 | 127;
    out.writeBigUInt64BE(BigInt(length), 2);
  }
  const mask = randomBytes(4);
  mask.copy(out, head);
  for (let i = 0; i < length; i++) out[head + 4 + i] = payload[i]! ^ mask[i & 3]!;
  return out;
}

const text = (message: unknown) => frame(OP_TEXT, Buffer.from(JSON.stringify(message)));

/** Connects, initialises and subscribes; resolves once the server acknowledged the connection. */
export function subscribeAtTheWire(s: WireSubscription): Promise<WireClient> {
  const url = new URL(s.url);
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(url.port), url.hostname);
    let upgraded = false;
    let acknowledged = false;
    let pending: Buffer | null = null;
    const fail = (message: string) => {
      if (!acknowledged) reject(new Error(message));
      else s.onError(message);
      socket.destroy();
    };
    socket.on('connect', () => {
      const key = randomBytes(16).toString('base64');
      socket.write(
        `GET ${url.pathname}${url.search} HTTP/1.1\r\nHost: ${url.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: graphql-transport-ws\r\n\r\n`,
      );
    });
    const onMessage = (message: { type: string; payload?: unknown }, receivedAt: number) => {
      if (message.type === 'next') s.onNext(message.payload as Parameters<WireSubscription['onNext']>[0], receivedAt);
      else if (message.type === 'connection_ack') {
        acknowledged = true;
        socket.write(text({ id: '1', type: 'subscribe', payload: { query: s.query, variables: s.variables } }));
        resolve({ close: () => socket.end(frame(OP_CLOSE, Buffer.from([0x03, 0xe8]))) });
      } else if (message.type === 'ping') socket.write(text({ type: 'pong' }));
      else if (message.type === 'error') s.onError(JSON.stringify(message.payload));
    };
    socket.on('data', (chunk: Buffer) => {
      const receivedAt = Date.now(); // first thing: the receive time
      let data = pending ? Buffer.concat([pending, chunk]) : chunk;
      pending = null;
      if (!upgraded) {
        const end = data.indexOf('\r\n\r\n');
        if (end < 0) return void (pending = data);
        const head = data.toString('latin1', 0, end);
        if (!head.startsWith('HTTP/1.1 101')) return fail(`upgrade refused: ${head.split('\r\n')[0]}`);
        upgraded = true;
        socket.write(text({ type: 'connection_init', payload: s.connectionParams }));
        data = data.subarray(end + 4);
      }
      let at = 0;
      while (data.length - at >= 2) {
        const opcode = data[at]! & 0x0f;
        let length = data[at + 1]! & 0x7f;
        let start = at + 2;
        if (length === 126) {
          if (data.length - at < 4) break;
          length = data.readUInt16BE(at + 2);
          start = at + 4;
        } else if (length === 127) {
          if (data.length - at < 10) break;
          length = Number(data.readBigUInt64BE(at + 2));
          start = at + 10;
        }
        if (data.length < start + length) break;
        const payload = data.subarray(start, start + length);
        at = start + length;
        if (opcode === OP_TEXT) onMessage(JSON.parse(payload.toString('utf8')) as { type: string }, receivedAt);
        else if (opcode === OP_PING) socket.write(frame(OP_PONG, Buffer.from(payload)));
        else if (opcode === OP_CLOSE) return fail(`closed by the server: ${payload.length >= 2 ? payload.readUInt16BE(0) : ''} ${payload.toString('utf8', 2)}`);
      }
      if (at < data.length) pending = Buffer.from(data.subarray(at)); // copy: the read's buffer is reused
    });
    socket.on('error', (error) => fail(error.message));
    socket.on('close', () => {
      if (!acknowledged) fail('closed before connection_ack');
    });
  });
}
