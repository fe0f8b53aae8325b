// GraphiQL as a user on a network without internet meets it: headless Chromium (Debian's
// package, through playwright-core) with every request that is not for our own server refused,
// both by the browser's resolver and by a route that aborts it. The editor must render, a query
// and a subscription must run from it, and a screenshot is saved (test/artifacts/graphiql.png).
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createToken } from '../src/auth/tokens.ts';
import { createEventBus } from '../src/subscriptions/bus.ts';
import { logged } from './support/events.ts';
import { startTestApp, type TestApp } from './support/app.ts';
import { createTestDatabase } from './support/db.ts';

const screenshot = path.resolve(import.meta.dirname, 'artifacts', 'graphiql.png');
const database = await createTestDatabase();
const reader = createToken('reader', 'read');
const bus = createEventBus();
let app: TestApp;
let browser: Browser;
let context: BrowserContext;
let origin: string;
/** Every request the page made, and the ones refused because they left our origin. */
const requested: string[] = [];
const refused: string[] = [];

beforeAll(async () => {
  // Reads need the token: the test pastes it into GraphiQL's headers pane, as a user would.
  app = await startTestApp(database.url, { API_TOKENS: reader.entry, ANONYMOUS_ACCESS: 'none' }, { bus });
  origin = new URL(app.url).origin;
  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: [
      '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run',
      // No name resolves but our own address: a CDN request fails as it would offline.
      '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1',
    ],
  });
  context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
  await context.route('**/*', (route) => {
    const url = route.request().url();
    requested.push(url);
    if (url.startsWith(`${origin}/`)) return route.continue();
    refused.push(url);
    return route.abort('internetdisconnected');
  });
});

afterAll(async () => {
  await browser?.close();
  await app?.stop();
  await database.drop();
});

/** Replaces the text of a Monaco editor, found by its model's name (operation or headers). */
async function setEditor(page: Page, model: 'operation' | 'headers', text: string): Promise<void> {
  const editor = page.locator(`.monaco-editor[data-uri*="${model}"]`);
  await editor.click();
  await page.keyboard.press('Control+A');
  await page.keyboard.press('Delete');
  await page.keyboard.insertText(text);
}

/** The result pane's text (Monaco renders spaces as no-break spaces). */
const resultText = async (page: Page) => (await page.locator('.graphiql-response').innerText()).replace(/\s+/g, ' ');

describe('GraphiQL at /graphql', () => {
  it('serves the page with a policy that allows our own origin only, and its assets from our routes', async () => {
    const res = await fetch(app.url, { headers: { accept: 'text/html' } });
    expect(res.status).toBe(200);
    const html = await res.text();
    expect(html).not.toMatch(/unpkg|cdn|https?:\/\//);
    expect(res.headers.get('content-security-policy')).toContain("script-src 'self'");
    const js = await fetch(`${origin}/graphiql/graphiql.js`, { headers: { 'accept-encoding': 'gzip' } });
    expect(js.status).toBe(200);
    const etag = js.headers.get('etag')!;
    expect((await fetch(`${origin}/graphiql/graphiql.js`, { headers: { 'if-none-match': etag } })).status).toBe(304);
    expect((await fetch(`${origin}/graphiql/graphiql.js`, { method: 'POST' })).status).toBe(405);
  });

  it('renders offline, runs a query and a subscription typed into it, and asks nothing of the internet', async () => {
    const page = await context.newPage();
    const problems: string[] = [];
    page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
    page.on('console', (message) => message.type() === 'error' && problems.push(`console: ${message.text()}`));
    await page.goto(app.url);
    await page.locator('.graphiql-query-editor .monaco-editor').waitFor();
    expect(await page.title()).toBe('sqp-refresh GraphiQL');

    // The headers pane: a read token, as a user pastes it.
    await page.locator('button[data-name="headers"]').click();
    await setEditor(page, 'headers', JSON.stringify({ authorization: `Bearer ${reader.token}` }));

    await setEditor(page, 'operation', '{ refreshConfig(tableSchema: "sqp", tableName: "weekly_summary") { tableName priority } }');
    await page.locator('button.graphiql-execute-button').click();
    await expect.poll(() => resultText(page), { timeout: 20_000 }).toContain('"tableName": "weekly_summary"');

    // A subscription over GraphQL over SSE: an event on the bus arrives in the result pane.
    await setEditor(page, 'operation', 'subscription { refreshEvents { __typename ... on ConfigChanged { tableName fields } } }');
    const listeners = bus.listenerCount();
    await page.locator('button.graphiql-execute-button').click();
    // The stream is open once the server counts a subscriber of the bus.
    await expect.poll(() => bus.listenerCount() > listeners, { timeout: 20_000 }).toBe(true);
    bus.publish(logged({ type: 'config:changed', configId: 1, tableSchema: 'sqp', tableName: 'monthly_summary', change: 'UPDATE', fields: ['priority'], at: new Date().toISOString() }));
    await expect.poll(() => resultText(page), { timeout: 20_000 }).toContain('"tableName": "monthly_summary"');
    expect(await resultText(page)).toContain('ConfigChanged');

    await mkdir(path.dirname(screenshot), { recursive: true });
    await page.screenshot({ path: screenshot });
    expect(refused).toEqual([]);
    expect(requested.length).toBeGreaterThan(3);
    expect(problems).toEqual([]);
    await page.close();
  }, 90_000);
});
