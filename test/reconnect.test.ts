// The README's subscriber snippets, run as they are (graphql-ws in Node, and the SSE function),
// each in its own Node process, across a restart of the server on the same port: stop() closes
// WebSockets with 1001 and ends SSE streams with `event: complete`, and both clients are back
// and receiving events after the restart without anyone touching them.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { createToken } from '../src/auth/tokens.ts';
import { loadConfig } from '../src/config.ts';
import { openDatabase, type Database } from '../src/db.ts';
import { createLogger } from '../src/logger.ts';
import { createRuntime } from '../src/runtime.ts';
import { buildApp, type App } from '../src/server.ts';
import { createEventBus } from '../src/subscriptions/bus.ts';
import { createEventStreams } from '../src/subscriptions/streams.ts';
import { logged } from './support/events.ts';
import { createTestDatabase } from './support/db.ts';

const root = path.resolve(import.meta.dirname, '..');
const dir = path.join(root, 'test', 'artifacts'); // inside the repo, so that imports resolve
const reader = createToken('reader', 'read');
const database = await createTestDatabase();
const config = loadConfig({ DATABASE_URL: database.url, LOG_LEVEL: 'silent', API_TOKENS: reader.entry, ANONYMOUS_ACCESS: 'none' });
const logger = createLogger({ level: 'silent', pretty: false });
const bus = createEventBus();
let db: Database;
/** What the graph reads of this process: the bus the test publishes on, and the subscribers counted. */
const runtime = createRuntime({ bus });
let app: App;
let port: number;
const children: ChildProcess[] = [];

/** The fenced ```js block that follows `marker` in the README. */
function blockAfter(readme: string, marker: string): string {
  const at = readme.indexOf(marker);
  expect(at, marker).toBeGreaterThan(0);
  const start = readme.indexOf('```js\n', at) + '```js\n'.length;
  return readme.slice(start, readme.indexOf('\n```', start));
}

/** Runs a script file with node; its stdout lines, and a way to wait for one. */
function run(file: string, env: Record<string, string>) {
  const child = spawn(process.execPath, [file], { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  const lines: string[] = [];
  const waiters: Array<() => void> = [];
  let stderr = '';
  let buffer = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    buffer += chunk.toString();
    for (let end; (end = buffer.indexOf('\n')) >= 0; buffer = buffer.slice(end + 1)) lines.push(buffer.slice(0, end));
    waiters.splice(0).forEach((w) => w());
  });
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return {
    lines,
    /** Resolves when a line contains `text` (fails if the process exits first). */
    printed: (text: string) =>
      new Promise<void>((resolve, reject) => {
        const check = () => (lines.some((l) => l.includes(text)) ? resolve() : waiters.push(check));
        child.once('exit', (code) => reject(new Error(`${file} exited (${code}) before printing ${text}:\n${stderr}`)));
        check();
      }),
  };
}

const changed = (tableName: string) =>
  bus.publish(logged({ type: 'config:changed', configId: 1, tableSchema: 'sqp', tableName, change: 'UPDATE', fields: ['priority'], at: new Date().toISOString() }));

async function startApp(): Promise<void> {
  app = buildApp({ graphql: config.graphql, auth: config.auth, logger, services: { db, runtime } });
  port = Number(new URL(await app.start(port ?? 0)).port);
}

beforeAll(async () => {
  db = openDatabase(database.url);
  runtime.events = createEventStreams({ bus, pool: db.pool, subscribers: runtime.subscribers });
  await startApp();
});

afterAll(async () => {
  for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
  await app?.stop();
  await db?.close();
  await database.drop();
});

describe("the README's subscribers across a server restart", () => {
  it('reconnect by themselves and receive events again; the server closed with 1001 and event: complete', async () => {
    const readme = await readFile(path.join(root, 'README.md'), 'utf8');
    await mkdir(dir, { recursive: true });
    const wsFile = path.join(dir, 'readme-subscriber-ws.mjs');
    const sseFile = path.join(dir, 'readme-subscriber-sse.mjs');
    await writeFile(wsFile, blockAfter(readme, '<!-- test/reconnect.test.ts runs this block as it is'));
    await writeFile(
      sseFile,
      `${blockAfter(readme, '<!-- test/reconnect.test.ts runs this function as it is')}\n` +
        `subscribeSse(process.env.SQP_URL, process.env.SQP_TOKEN, 'subscription { refreshEvents { __typename ... on RefreshEvent { tableName } } }', (data) => console.log(JSON.stringify(data)));\n`,
    );
    const url = `http://127.0.0.1:${port}/graphql`;
    const env = { SQP_WS_URL: url.replace(/^http/, 'ws'), SQP_URL: url, SQP_TOKEN: reader.token };
    const ws = run(wsFile, env);
    const sse = run(sseFile, env);
    await expect.poll(() => runtime.subscribers.count, { timeout: 20_000 }).toBe(2);
    changed('before_restart');
    await Promise.all([ws.printed('before_restart'), sse.printed('before_restart')]);

    // Two more clients, raw, to see exactly how the server says goodbye.
    const socket = new WebSocket(env.SQP_WS_URL, 'graphql-transport-ws');
    const closed = new Promise<number>((resolve) => socket.once('close', (code) => resolve(code)));
    await new Promise((resolve) => socket.once('open', resolve));
    socket.send(JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${reader.token}` } }));
    await new Promise((resolve) => socket.once('message', resolve));
    const stream = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'text/event-stream', authorization: `Bearer ${reader.token}` },
      body: JSON.stringify({ query: 'subscription { refreshEvents { __typename } }' }),
    });
    const streamText = stream.text();
    await expect.poll(() => runtime.subscribers.count).toBe(3);

    await app.stop();
    expect(await closed).toBe(1001);
    expect(await streamText).toMatch(/event: complete/);
    expect(runtime.subscribers.count).toBe(0);

    await startApp(); // the same port
    await expect.poll(() => runtime.subscribers.count, { timeout: 30_000 }).toBe(2);
    changed('after_restart');
    await Promise.all([ws.printed('after_restart'), sse.printed('after_restart')]);
  }, 90_000);
});
