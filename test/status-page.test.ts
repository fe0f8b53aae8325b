// The status page at `/`, in a real browser: headless Chromium (Debian's package) driven by
// playwright-core against the real service, started as a child process on a test database
// with the demo source. Nothing is due when the service starts; the test forces one refresh
// through the page's Force button and watches the progress bar run to done while the cascade
// follows, then saves a screenshot (test/artifacts/status-page.png). Then as visitors without
// the right token meet it (none where anonymous reads are off, a refused one) and on a phone.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import pg from 'pg';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createToken } from '../src/auth/tokens.ts';
import { loadConfig } from '../src/config.ts';
import { changeBackfill, startBackfill } from '../src/commands/backfill.ts';
import { createLogger } from '../src/logger.ts';
import { createSources } from '../src/runner/sources/registry.ts';
import { prepareDefaultSource } from '../src/runner/demo/default-source.ts';
import { createTestDatabase, type TestDatabase, openTestPool } from './support/db.ts';
import { registerTestTable } from './support/refresh.ts';

const root = path.resolve(import.meta.dirname, '..');
const screenshot = path.join(root, 'test', 'artifacts', 'status-page.png');
const FORCED = 'sqp.asin_performance_data';
const CASCADE = ['search_performance_summary', 'weekly_summary', 'monthly_summary', 'quarterly_summary', 'yearly_summary'].map((t) => `sqp.${t}`);
const CANARY = 'sqp.<img src=x onerror=alert(1)>';

let database: TestDatabase;
let pool: pg.Pool;
const services: ChildProcess[] = [];
let browser: Browser | undefined;
let base: string;
const operate = createToken('status-page', 'operate');

/** Starts `sqp-refresh start` and resolves with its base URL once it serves. */
function startService(env: Record<string, string>): Promise<string> {
  const service = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'start'], {
    cwd: root,
    env: { ...process.env, LOG_LEVEL: 'info', LOG_PRETTY: 'false', PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  services.push(service);
  let output = '';
  return new Promise((resolve, reject) => {
    service.stdout!.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      const match = /GraphiQL is ready at (http:\/\/\S+?)\/graphql"/.exec(output);
      if (match) resolve(match[1]!);
    });
    service.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    service.once('exit', (code) => reject(new Error(`service exited with ${code} before serving:\n${output}`)));
  });
}

beforeAll(async () => {
  database = await createTestDatabase();
  pool = openTestPool(database.url, 2);
  // What the service does at start (demo source, sync params, dependencies), done first so that
  // every table can then be made not due: nothing runs until the page forces it.
  await prepareDefaultSource(loadConfig({ DATABASE_URL: database.url }), pool, createLogger({ level: 'silent', pretty: false }));
  await pool.query(`UPDATE sqp.refresh_config SET next_refresh_at = now() + interval '1 day'`);
  base = await startService({
    DATABASE_URL: database.url,
    API_TOKENS: operate.entry,
    ANONYMOUS_ACCESS: 'read',
    RUNNER_SCHEDULE: '0 0 1 1 *', // the start-up pass only; forced refreshes wake the runner
  });
  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
});

afterAll(async () => {
  await browser?.close();
  await Promise.all(services.filter((service) => service.exitCode === null).map((service) => {
    const exited = new Promise((resolve) => service.once('exit', resolve));
    service.kill('SIGTERM');
    return exited;
  }));
  await pool?.end();
  await database?.drop();
});

/** Opens the page and waits until it shows every table and its live connection is up. */
async function open(url: string, viewport = { width: 1400, height: 900 }): Promise<{ page: Page; problems: string[] }> {
  const page = await newPage(url, viewport);
  await page.page.locator('tbody tr[data-table]').nth(7).waitFor();
  await page.page.locator('#connection.live').waitFor();
  return page;
}

/** Opens the page and records what goes wrong in it (errors, console errors, dialogs). */
async function newPage(url: string, viewport = { width: 1400, height: 900 }): Promise<{ page: Page; problems: string[] }> {
  const page = await browser!.newPage({ viewport });
  const problems: string[] = [];
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  page.on('console', (message) => message.type() === 'error' && problems.push(`console: ${message.text()}`));
  page.on('dialog', (dialog) => {
    problems.push(`dialog: ${dialog.message()}`);
    void dialog.dismiss();
  });
  await page.goto(url);
  return { page, problems };
}

const row = (page: Page, table: string) => page.locator(`tbody tr[data-table="${table}"]`);

describe('the status page', () => {
  it('serves the page and its assets from our own routes, with a strict content security policy', async () => {
    const res = await fetch(`${base}/`);
    expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(res.headers.get('content-security-policy')).toContain("script-src 'self'");
    expect(await res.text()).toContain('<noscript>');
    for (const asset of ['app.js', 'api.js', 'view.js', 'alerts.js', 'backfills.js', 'graph.js', 'format.js', 'graphql-ws.js', 'style.css']) {
      expect((await fetch(`${base}/status-page/${asset}`)).status, asset).toBe(200);
    }
    expect((await fetch(`${base}/`, { method: 'POST' })).status).toBe(405);
  });

  it('shows every table read-only without a token: no Force or Cancel', async () => {
    const { page, problems } = await open(`${base}/`);
    await expect(page.locator('#token-note').textContent()).resolves.toMatch(/Anonymous/);
    expect(await page.locator('tbody tr[data-table]').count()).toBe(8);
    expect(await page.locator('button[data-action]').count()).toBe(0);
    expect(await page.locator('#actions-head').isHidden()).toBe(true);
    await expect(row(page, FORCED).locator('.last-run').textContent()).resolves.toContain('never run');
    // Nothing has failed: the open alerts say so (test/open-alerts.test.ts opens and closes some).
    await expect(page.locator('#alerts').textContent()).resolves.toContain('No open alerts');
    await expect(page.locator('#backfills').textContent()).resolves.toContain('No backfill under way');
    // The graph: a node per table, an arrow per dependency edge.
    expect(await page.locator('#graph g.node').count()).toBe(8);
    expect(await page.locator('#graph path.edge').count()).toBe(5);
    expect(problems).toEqual([]);
    await page.close();
  });

  it('with an operate token, forces a refresh and follows its progress bar live to done, then the cascade', async () => {
    const { page, problems } = await open(`${base}/?token=${operate.token}`);
    expect(page.url()).not.toContain(operate.token); // moved to sessionStorage, out of the address bar
    await page.locator('#token-note', { hasText: 'may force and cancel' }).waitFor();
    expect(await page.locator('button[data-action="force"]').count()).toBe(8);

    const forced = row(page, FORCED);
    await forced.locator('button[data-action="force"]').click();
    await forced.locator('[data-progress="running"]').waitFor();
    expect(await forced.getAttribute('data-state')).toBe('RUNNING');
    await forced.locator('button[data-action="cancel"]').waitFor(); // a running table can be cancelled

    // Sample the bar until the run ends: it must move through values between 0 and 100.
    const values: number[] = [];
    for (const deadline = Date.now() + 90_000; Date.now() < deadline; ) {
      const bar = forced.locator('[data-progress]');
      const phase = await bar.getAttribute('data-progress');
      const value = await bar.locator('progress').getAttribute('value');
      if (value !== null) values.push(Number(value));
      if (phase !== 'running') break;
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(await forced.locator('[data-progress]').getAttribute('data-progress')).toBe('done');
    expect(values.some((v) => v > 0 && v < 100), `bar values seen: ${values.join(', ')}`).toBe(true);
    expect(values).toEqual([...values].sort((a, b) => a - b));
    expect(values.at(-1)).toBe(100);

    // Once tableHealth is re-read: scheduled again, its last run a success with the database's counts.
    const { rows: [run] } = await pool.query<{ rows_processed: number }>(
      `SELECT rows_processed FROM sqp.refresh_audit_log WHERE table_name = 'asin_performance_data' ORDER BY id DESC LIMIT 1`);
    await page.locator(`tbody tr[data-table="${FORCED}"][data-state="SCHEDULED"] .counts[data-rows="${run!.rows_processed}"]`).waitFor();
    await expect(forced.locator('.last-run .badge').textContent()).resolves.toBe('SUCCESS');
    await expect(forced.locator('.quality').textContent()).resolves.toContain('PASS');
    await expect(forced.locator('.counts').textContent()).resolves.toContain(run!.rows_processed.toLocaleString('en-US'));
    await expect(forced.locator('.next').textContent()).resolves.toMatch(/^in \d+ hours$/);

    // The cascade: every dependent runs after it and ends done too.
    for (const table of CASCADE) {
      await page.locator(`tbody tr[data-table="${table}"][data-state="SCHEDULED"] [data-progress="done"]`).waitFor({ timeout: 60_000 });
      await expect(row(page, table).locator('.last-run .badge').textContent()).resolves.toBe('SUCCESS');
    }
    await page.locator('#graph g.node.state-running').waitFor({ state: 'detached' });
    await mkdir(path.dirname(screenshot), { recursive: true });
    await page.screenshot({ path: screenshot, fullPage: true });

    // A table registered by hand arrives through ConfigChanged; its name is shown as text, never as markup.
    await pool.query(`CREATE TABLE sqp."${CANARY.slice(4)}" (id int PRIMARY KEY)`);
    await registerTestTable(pool, { tableName: CANARY.slice(4) });
    await page.locator('tbody tr[data-table]').nth(8).waitFor();
    const canary = page.locator('tbody tr[data-table] th', { hasText: CANARY });
    await expect(canary.textContent()).resolves.toContain(CANARY);
    expect(await page.locator('tbody img, #graph img').count()).toBe(0);
    expect(await page.locator('#graph g.node').count()).toBe(9);
    expect(problems).toEqual([]);
    await page.close();
  }, 150_000);
});

describe('the status page as a visitor without the right token meets it', () => {
  it('without a token where anonymous reads are off, says plainly that a read token is needed and where to paste it; then the token works', async () => {
    // A second replica of the same database that serves the API only and lets nobody read anonymously.
    const closed = await startService({ DATABASE_URL: database.url, API_TOKENS: operate.entry, ANONYMOUS_ACCESS: 'none', RUNNER_ENABLED: 'false' });
    const { page, problems } = await newPage(`${closed}/`);
    const blocked = page.locator('td.blocked');
    await blocked.waitFor();
    await expect(blocked.textContent()).resolves.toMatch(/A token with the read scope is needed.*Token.*field at the top of this page/s);
    await expect(page.locator('#connection').textContent()).resolves.toBe('needs a token');
    expect(await page.locator('tbody').textContent()).not.toContain('Loading');
    expect(await page.locator('#notice').isHidden()).toBe(true);
    expect(await page.locator('#summary').isHidden()).toBe(true); // no "0 tables" that are not
    expect(await page.locator('#graph-section').isHidden()).toBe(true);
    expect(await page.locator('#alerts-section').isHidden()).toBe(true);
    // The explanation is shown whole: not cut to one line.
    expect(await blocked.evaluate((el) => el.scrollWidth <= el.clientWidth && getComputedStyle(el).whiteSpace !== 'nowrap')).toBe(true);
    await page.screenshot({ path: path.join(path.dirname(screenshot), 'status-page-no-token.png'), fullPage: true });
    await page.locator('#token-input').fill(operate.token);
    await page.locator('#token-form button[type="submit"]').click();
    await page.locator('tbody tr[data-table]').nth(7).waitFor();
    await page.locator('#connection.live').waitFor();
    expect(await page.locator('#graph-section').isVisible()).toBe(true);
    expect(await page.locator('#alerts-section').isVisible()).toBe(true);
    expect(problems).toEqual([]);
    await page.close();
  });

  it('an invalid token pasted after a valid one shows nothing of the old one, and says why', async () => {
    const { page } = await open(`${base}/?token=${operate.token}`);
    await page.locator('#token-note', { hasText: 'may force and cancel' }).waitFor();
    await page.locator('#token-input').fill('sqpr_not-a-token-of-ours');
    await page.locator('#token-form button[type="submit"]').click();
    await page.locator('td.blocked').waitFor();
    await expect(page.locator('td.blocked').textContent()).resolves.toMatch(/The token was refused: the token is not valid \(unknown or revoked\)/);
    expect(await page.locator('tbody tr[data-table]').count()).toBe(0);
    expect(await page.locator('button[data-action]').count()).toBe(0);
    expect(await page.locator('#graph g.node').count()).toBe(0);
    expect(await page.locator('#alerts li').count()).toBe(0);
    await expect(page.locator('#connection').textContent()).resolves.toBe('needs a token');
    await page.close();
  });

  it('at 390 px wide, every row shows its state without scrolling sideways', async () => {
    const { page, problems } = await open(`${base}/`, { width: 390, height: 844 });
    const badges = page.locator('tbody tr[data-table] td.state .badge');
    expect(await badges.count()).toBe(await page.locator('tbody tr[data-table]').count()); // one per row (8, or 9 after the canary)
    for (const box of await badges.evaluateAll((els) => els.map((el) => el.getBoundingClientRect().toJSON() as DOMRect))) {
      expect(box.left).toBeGreaterThanOrEqual(0);
      expect(box.right).toBeLessThanOrEqual(390);
    }
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
    await page.screenshot({ path: path.join(path.dirname(screenshot), 'status-page-390.png'), fullPage: true });
    expect(problems).toEqual([]);
    await page.close();
  });

  it('lists a backfill under way with its range, status and chunks done', async () => {
    const { backfill } = await startBackfill(
      { pool, sources: createSources({ targetUrl: database.url }), dailyByteBudget: null, requestedBy: 'test' },
      { tableSchema: 'sqp', tableName: 'weekly_summary', from: '2026-01-01', to: '2026-01-31', cascade: false, chunk: 'week', dryRun: false },
    );
    await changeBackfill({ pool, dailyByteBudget: null, requestedBy: 'test' }, backfill!.id, 'pause');
    const { page, problems } = await open(`${base}/`);
    const item = page.locator(`#backfills li[data-backfill]`);
    await expect(item.textContent()).resolves.toMatch(/sqp\.weekly_summary.*2026-01-01 to 2026-01-31.*of 5 chunks/s);
    expect(await item.getAttribute('data-status')).toMatch(/^PAUS(ED|ING)$/);
    expect(problems).toEqual([]);
    await page.close();
  });
});
