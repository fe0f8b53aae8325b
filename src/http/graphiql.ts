// GraphiQL served by the service itself, so that it works where CDNs are blocked and a page
// that holds tokens in its headers pane runs no third-party script. yoga's built-in page loads
// five assets from unpkg.com; @graphql-yoga/render-graphiql carries the same GraphiQL (and its
// Monaco workers) as strings. Its own renderer inlines all 9 MB into every page load, so we
// serve the strings as files instead: a small page at GET /graphql, assets under /graphiql/
// (loaded on first use, ETag and gzip), and a content security policy that allows our origin
// only.
import { createHash } from 'node:crypto';
import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import type { GraphiQLOptions } from 'graphql-yoga';
import type { Route } from './route.ts';

const ASSET_PREFIX = '/graphiql/';

/** Monaco asks for a worker by label; each label is one file under ASSET_PREFIX. */
const WORKER_FILES = { editorWorkerService: 'editor.worker.js', json: 'json.worker.js', graphql: 'graphql.worker.js' } as const;

// Reads the options the page embeds as JSON (never executed), points Monaco at our worker
// files by absolute URL (a relative one makes Monaco wrap it in a blob: worker), and renders.
const BOOT_SCRIPT = `const options = JSON.parse(document.getElementById('graphiql-options').textContent);
const workers = ${JSON.stringify(WORKER_FILES)};
self.MonacoEnvironment = {
  globalAPI: false,
  getWorkerUrl: (_moduleId, label) => new URL('${ASSET_PREFIX}' + workers[label], location.href).href,
};
YogaGraphiQL.renderYogaGraphiQL(document.getElementById('root'), options);
`;

/**
 * Our origin only. Monaco and GraphiQL add <style> elements at run time, hence
 * 'unsafe-inline' for styles (not for scripts); the stylesheet embeds its fonts as data: URLs.
 */
const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "worker-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "font-src 'self' data:",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

/** Headers of the GraphiQL page (yoga answers GET /graphql; a plugin in server.ts adds these). */
export const GRAPHIQL_PAGE_HEADERS: Record<string, string> = {
  'content-security-policy': CONTENT_SECURITY_POLICY,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-cache',
};

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** The GraphiQL page: the options as inert JSON, the scripts from our own routes. */
export function renderLocalGraphiQL(options: GraphiQLOptions): string {
  // `<` escaped so that no option value can close the script element.
  const json = JSON.stringify(options).replace(/</g, '\\u003c');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>${escapeHtml(options.title ?? 'GraphiQL')}</title>
<link rel="icon" href="${ASSET_PREFIX}favicon.ico">
<link rel="stylesheet" href="${ASSET_PREFIX}graphiql.css">
</head>
<body id="body" class="no-focus-outline">
<noscript>GraphiQL needs JavaScript. Without it, POST queries to this URL with any GraphQL client.</noscript>
<div id="root"></div>
<script type="application/json" id="graphiql-options">${json}</script>
<script src="${ASSET_PREFIX}graphiql.js"></script>
<script src="${ASSET_PREFIX}boot.js"></script>
</body>
</html>
`;
}

interface Asset {
  body: Buffer;
  gzipped: Buffer;
  etag: string;
  contentType: string;
}

const JS = 'text/javascript; charset=utf-8';

/** Every asset, built once on the first request for any of them (the module is 9 MB). */
async function loadAssets(): Promise<Map<string, Asset>> {
  const g = await import('@graphql-yoga/render-graphiql/graphiql');
  const favicon = Buffer.from(g.favicon.slice(g.favicon.indexOf(',') + 1), 'base64');
  const files: Array<[string, string | Buffer, string]> = [
    ['graphiql.js', g.js, JS],
    ['graphiql.css', g.css, 'text/css; charset=utf-8'],
    ['boot.js', BOOT_SCRIPT, JS],
    ['favicon.ico', favicon, 'image/x-icon'],
    [WORKER_FILES.editorWorkerService, g.editorWorkerService, JS],
    [WORKER_FILES.json, g.jsonWorker, JS],
    [WORKER_FILES.graphql, g.graphqlWorker, JS],
  ];
  const assets = new Map<string, Asset>();
  await Promise.all(
    files.map(async ([name, content, contentType]) => {
      const body = Buffer.isBuffer(content) ? content : Buffer.from(content, 'utf8');
      const etag = `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`;
      assets.set(name, { body, gzipped: await promisify(gzip)(body), etag, contentType });
    }),
  );
  return assets;
}

/** The routes of GraphiQL's assets under /graphiql/ (the page itself is yoga's GET /graphql). */
export function graphiqlAssetRoutes(): Record<string, Route> {
  let assets: Promise<Map<string, Asset>> | undefined;
  const route =
    (name: string): Route =>
    async (req, res) => {
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.writeHead(405, { allow: 'GET, HEAD' });
        res.end();
        return;
      }
      assets ??= loadAssets();
      const asset = (await assets).get(name)!;
      const headers = { etag: asset.etag, 'cache-control': 'no-cache', 'x-content-type-options': 'nosniff', vary: 'accept-encoding' };
      if (req.headers['if-none-match'] === asset.etag) {
        res.writeHead(304, headers);
        res.end();
        return;
      }
      const gzipped = /\bgzip\b/.test(String(req.headers['accept-encoding'] ?? ''));
      const body = gzipped ? asset.gzipped : asset.body;
      res.writeHead(200, {
        ...headers,
        'content-type': asset.contentType,
        'content-length': body.length,
        ...(gzipped ? { 'content-encoding': 'gzip' } : {}),
      });
      res.end(req.method === 'HEAD' ? undefined : body);
    };
  const names = ['graphiql.js', 'graphiql.css', 'boot.js', 'favicon.ico', ...Object.values(WORKER_FILES)];
  return Object.fromEntries(names.map((name) => [`${ASSET_PREFIX}${name}`, route(name)]));
}
