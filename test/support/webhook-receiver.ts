// A webhook receiver in the test process, on a free port: it records every request (headers and
// the raw body, as a receiver verifies them), answers each as the test says (fail the first n,
// kill the sender, accept), and lets a test wait for the n-th request instead of sleeping.
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { recordEvents, type Recorded } from './events.ts';

export interface ReceivedRequest {
  /** 1 for the first request this receiver got. */
  n: number;
  path: string;
  headers: IncomingHttpHeaders;
  /** The raw body, exactly as sent (what the signature covers). */
  body: string;
  /** What the receiver answered. */
  status: number;
}

export interface WebhookReceiver {
  url: string;
  /** Every request, recorded as it is answered. */
  requests: Recorded<ReceivedRequest>;
  /** The event ids of the requests it accepted (2xx), deduplicated as a receiver does. */
  acceptedEventIds(): Set<string>;
  close(): Promise<void>;
}

/** How the receiver answers one request: a status, or a status with headers (a redirect's Location). */
type Answer = number | { status: number; headers: Record<string, string> };

/** Starts a receiver on 127.0.0.1 and a free port; `answer` says how to answer each request (it may wait, or never answer). */
export async function startWebhookReceiver(answer: (request: Omit<ReceivedRequest, 'status'>) => Answer | Promise<Answer>): Promise<WebhookReceiver> {
  const requests = recordEvents<ReceivedRequest>();
  let n = 0;
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', async () => {
      const received = { n: ++n, path: req.url ?? '/', headers: req.headers, body: Buffer.concat(chunks).toString('utf8') };
      const answered = await answer(received);
      const { status, headers } = typeof answered === 'number' ? { status: answered, headers: {} } : answered;
      requests.push({ ...received, status });
      res.writeHead(status, { 'content-type': 'text/plain', ...headers }).end(status < 300 ? 'ok' : `failing on purpose (request ${received.n})`);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hooks/sqp`,
    requests,
    acceptedEventIds: () =>
      new Set(requests.events.filter((r) => r.status >= 200 && r.status < 300).map((r) => String(r.headers['x-sqp-refresh-event-id']))),
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
