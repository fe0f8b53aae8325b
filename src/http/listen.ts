// The service's ports, bound before any other work: a busy port ends start-up at once with one
// line (not after migrating and building the demo), and while the service starts /health says
// the process is alive and everything else answers 503 `starting`. buildApp adopts the bound
// listeners when it is ready.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { StartupError } from '../database/preflight.ts';

export interface BoundListeners {
  server: Server;
  /** The listener of /health, /ready, /metrics when METRICS_PORT gives them a port of their own. */
  operationsServer: Server | null;
}

/** Answers while the service starts: alive, not ready. */
function starting(req: IncomingMessage, res: ServerResponse): void {
  const path = new URL(req.url ?? '/', 'http://localhost').pathname;
  const alive = path === '/health';
  res.writeHead(alive ? 200 : 503, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', ...(alive ? {} : { 'retry-after': '1' }) });
  res.end(JSON.stringify({ status: alive ? 'ok' : 'starting' }));
}

/** Listens on `port` of `host`; a failure becomes one line naming the variable to change. */
function bind(name: string, port: number, host: string): Promise<Server> {
  const server = createServer(starting);
  return new Promise((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) => {
      const at = `${host}:${port}`;
      if (error.code === 'EADDRINUSE') reject(new StartupError(`${name} ${port}: ${at} is already in use by another process; stop it or choose another ${name}`));
      else if (error.code === 'EACCES') reject(new StartupError(`${name} ${port}: not allowed to listen on ${at} (ports below 1024 need privileges); choose another ${name}`));
      else if (error.code === 'EADDRNOTAVAIL' || error.code === 'ENOTFOUND') reject(new StartupError(`${name === 'PORT' ? 'HOST' : 'METRICS_HOST'} ${host}: not an address of this machine`));
      else reject(new StartupError(`${name} ${port}: cannot listen on ${at} (${error.message})`));
    });
    server.listen(port, host, () => resolve(server));
  });
}

/** Binds the GraphQL port (and the operations port, when it has its own) before any work. */
export async function bindListeners(http: { port: number; host: string }, operations: { port?: number; host?: string }): Promise<BoundListeners> {
  const server = await bind('PORT', http.port, http.host);
  if (operations.port === undefined) return { server, operationsServer: null };
  try {
    return { server, operationsServer: await bind('METRICS_PORT', operations.port, operations.host ?? http.host) };
  } catch (error) {
    await new Promise((resolve) => server.close(resolve));
    throw error;
  }
}
