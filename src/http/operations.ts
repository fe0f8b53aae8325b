// The operator's routes (/health, /ready, /metrics) and who may read them. /metrics and /ready
// name tables and their failures, so with METRICS_TOKEN set they answer only
// `Authorization: Bearer <METRICS_TOKEN>` (401 otherwise); /health says only that the process is
// alive and stays open for liveness probes. With METRICS_PORT they are served on a listener of
// their own (METRICS_HOST, e.g. an internal interface) and not on the public one.
import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { bearerToken } from '../auth/tokens.ts';
import type { Logger } from '../logger.ts';
import type { Route } from './route.ts';

/** Where and how the operator's routes are served. */
export interface OperationsOptions {
  routes: Record<string, Route>;
  /** Bearer token that /metrics and /ready ask for; absent: anyone who reaches them. */
  token?: string;
  /** A port of their own (0: any free port); absent: served beside /graphql. */
  port?: number;
  host?: string;
}

/** Routes anyone may call even with a token set: liveness says nothing about tables. */
const OPEN_ROUTES = new Set(['/health']);

const digest = (value: string) => createHash('sha256').update(value, 'utf8').digest();

/** `routes`, with those that name tables answering only the bearer of `token` (when set). */
export function protectedOperationsRoutes(routes: Record<string, Route>, token: string | undefined): Record<string, Route> {
  if (!token) return routes;
  const expected = digest(token);
  const guard =
    (route: Route): Route =>
    (req, res) => {
      const presented = bearerToken(req.headers.authorization);
      // Compared as digests, in constant time whatever the length presented.
      if (presented === null || !timingSafeEqual(digest(presented), expected)) {
        res.writeHead(401, { 'www-authenticate': 'Bearer realm="sqp-refresh operations"', 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
        res.end(JSON.stringify({ error: 'this route needs Authorization: Bearer <METRICS_TOKEN>' }));
        return;
      }
      return route(req, res);
    };
  return Object.fromEntries(Object.entries(routes).map(([path, route]) => [path, OPEN_ROUTES.has(path) ? route : guard(route)]));
}

/** Runs a plain route; a failure is logged and answered 500 without details. */
export function runRoute(route: Route, req: IncomingMessage, res: ServerResponse, logger: Logger): void {
  Promise.resolve(route(req, res)).catch((err) => {
    logger.error({ err, path: req.url }, 'route failed');
    if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ error: 'internal error' }));
  });
}

/** A listener that serves only the operator's routes (404 for anything else). */
export function createOperationsServer(routes: Record<string, Route>, logger: Logger): Server {
  return createServer(operationsHandler(routes, logger));
}

/** The request handler of that listener (also adopted by a listener bound early). */
export function operationsHandler(routes: Record<string, Route>, logger: Logger): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    const route = routes[new URL(req.url ?? '/', 'http://localhost').pathname];
    if (route) return runRoute(route, req, res, logger);
    res.writeHead(404, { 'content-type': 'application/json; charset=utf-8' });
    res.end(JSON.stringify({ error: 'not found: this port serves /health, /ready and /metrics' }));
  };
}
