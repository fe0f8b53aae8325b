// The status page at `/`: a live view for people — the open alerts, the backfills under way, every table's state, a
// progress bar while it runs, its last run, quality and next refresh, bytes billed today, and
// the dependency graph.
// Plain files, no build step: one HTML page, a few ES modules and a stylesheet from ./static,
// plus the browser build of graphql-ws served from node_modules (nothing comes from the
// internet). The page is just another GraphQL client of /graphql: it reads with queries and
// stays current through the refreshEvents subscription over graphql-ws.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { Route } from '../route.ts';

/** Where the page's modules and stylesheet are served from. */
const ASSET_PREFIX = '/status-page/';

const STATIC_FILES = ['app.js', 'api.js', 'view.js', 'alerts.js', 'backfills.js', 'graph.js', 'format.js', 'style.css'];

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
};

// Only our own origin: no inline script or style (the page renders through innerHTML, so this
// is the second line of defence behind its escaping), and WebSockets back to /graphql.
const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "connect-src 'self'",
  "img-src 'self' data:",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

function fileRoute(body: Buffer, contentType: string): Route {
  return (req, res) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' });
      res.end();
      return;
    }
    res.writeHead(200, {
      'content-type': contentType,
      'content-length': body.length,
      // Small files: always revalidate, so a new version shows on the next reload.
      'cache-control': 'no-cache',
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'no-referrer',
      'content-security-policy': CONTENT_SECURITY_POLICY,
    });
    res.end(req.method === 'HEAD' ? undefined : body);
  };
}

/** graphql-ws's self-contained browser build (UMD: it sets globalThis.graphqlWs). */
function graphqlWsBrowserBuild(): Buffer {
  const packageJson = createRequire(import.meta.url).resolve('graphql-ws/package.json');
  return readFileSync(path.join(path.dirname(packageJson), 'umd', 'graphql-ws.min.js'));
}

/** The routes of the status page, read once: `/` and its assets under ASSET_PREFIX. */
export function statusPageRoutes(): Record<string, Route> {
  const dir = new URL('./static/', import.meta.url);
  const typeOf = (file: string) => CONTENT_TYPES[path.extname(file)]!;
  const routes: Record<string, Route> = {
    '/': fileRoute(readFileSync(new URL('index.html', dir)), typeOf('index.html')),
    [`${ASSET_PREFIX}graphql-ws.js`]: fileRoute(graphqlWsBrowserBuild(), typeOf('graphql-ws.js')),
  };
  for (const file of STATIC_FILES) routes[`${ASSET_PREFIX}${file}`] = fileRoute(readFileSync(new URL(file, dir)), typeOf(file));
  return routes;
}
