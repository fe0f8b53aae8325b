// node(id:) and nodes(ids:) as a client meets them, over real HTTP: a well-formed id of a row
// that does not exist is null (never an error, never logged as one), one missing id among
// several leaves the others, and only the canonical form of a global id is accepted.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.ts';
import { createLogger } from '../src/logger.ts';
import { buildApp } from '../src/server.ts';
import { startTestApp, type TestApp } from './support/app.ts';
import { createTestDatabase } from './support/db.ts';
import { execute, executeRaw } from './support/graphql.ts';
import { graphql } from './generated/index.ts';

const database = await createTestDatabase();
let server: TestApp;
let sql: pg.Client;
let configId: number;

beforeAll(async () => {
  sql = new pg.Client({ connectionString: database.url });
  await sql.connect();
  configId = (await sql.query(`SELECT id FROM sqp.refresh_config WHERE table_name = 'weekly_summary'`)).rows[0].id;
  server = await startTestApp(database.url);
});

afterAll(async () => {
  await server?.stop();
  await sql?.end();
  await database.drop();
});

const gid = (text: string) => Buffer.from(text).toString('base64');

const Node = graphql(`query NodeOrNull($id: ID!) { node(id: $id) { __typename id ... on RefreshConfig { tableName } } }`);
const Nodes = graphql(`query NodesWithGaps($ids: [ID!]!) { nodes(ids: $ids) { __typename id ... on RefreshConfig { tableName } } }`);

describe('node(id:) and nodes(ids:)', () => {
  it('answers null for a well-formed id of every node type whose row does not exist', async () => {
    for (const type of ['RefreshConfig', 'RefreshRun', 'RefreshDependency', 'RefreshCheckpoint', 'QualityMetric']) {
      const res = await execute(server.url, Node, { id: gid(`${type}:999999`) });
      expect(res, type).toEqual({ data: { node: null } });
    }
  });

  it('keeps the rows that exist when one id among several is missing', async () => {
    const here = gid(`RefreshConfig:${configId}`);
    const res = await execute(server.url, Nodes, { ids: [here, gid('RefreshConfig:999999'), here] });
    expect(res.errors).toBeUndefined();
    expect(res.data!.nodes).toEqual([
      { __typename: 'RefreshConfig', id: here, tableName: 'weekly_summary' },
      null,
      { __typename: 'RefreshConfig', id: here, tableName: 'weekly_summary' },
    ]);
  });

  it('keeps the rows that resolve when one id is missing and another garbled: null at each, an error at the garbled index', async () => {
    const here = gid(`RefreshConfig:${configId}`);
    const res = await execute(server.url, Nodes, { ids: [here, gid('RefreshConfig:999999'), 'not base64 at all', here] });
    expect(res.data!.nodes).toEqual([
      { __typename: 'RefreshConfig', id: here, tableName: 'weekly_summary' },
      null,
      null,
      { __typename: 'RefreshConfig', id: here, tableName: 'weekly_summary' },
    ]);
    expect(res.errors).toHaveLength(1);
    expect(res.errors![0]).toMatchObject({ path: ['nodes', 2], message: expect.stringContaining('Invalid global ID'), extensions: { code: 'BAD_USER_INPUT' } });
  });

  it('refuses every id but the canonical form, as a user error naming the id', async () => {
    const canonical = gid(`RefreshConfig:${configId}`);
    expect((await execute(server.url, Node, { id: canonical })).data!.node).toMatchObject({ tableName: 'weekly_summary' });
    const lenient = [
      gid('RefreshConfig:0x9'), gid(`RefreshConfig: ${configId}`), gid('RefreshConfig:1e3'), gid(`RefreshConfig:0${configId}`),
      gid(`RefreshConfig:+${configId}`), gid(`RefreshConfig:${configId}:1`), gid('RefreshConfig:0'), gid('RefreshConfig:99999999999'),
      gid('RefreshRun:12').replace(/=+$/, ''), // its padding dropped
      ` ${canonical}`, 'not base64 at all', gid(`refreshConfig:${configId}`),
    ];
    for (const id of lenient) {
      const res = await executeRaw(server.url, 'query($id: ID!) { node(id: $id) { id } }', { id });
      expect(res.body.data?.node ?? null, id).toBeNull();
      expect(res.body.errors?.[0], id).toMatchObject({ message: expect.stringContaining('Invalid global ID'), extensions: { code: 'BAD_USER_INPUT' } });
    }
  });

  it('refuses a non-canonical id in a mutation input too, writing nothing', async () => {
    const res = await executeRaw(server.url, `mutation { cancelRefresh(input: { runId: "${gid('RefreshRun:0x1')}" }) { __typename } }`);
    expect(res.body.errors?.[0]).toMatchObject({ message: expect.stringContaining('Invalid global ID'), extensions: { code: 'BAD_USER_INPUT' } });
  });

  it('logs nothing at error level for a missing row or a refused id: neither is the server\'s fault', async () => {
    const lines: Array<{ level: number; msg: string }> = [];
    const logger = createLogger({ level: 'info', pretty: false }, { write: (line: string) => void lines.push(JSON.parse(line)) });
    const config = loadConfig({ DATABASE_URL: database.url, ANONYMOUS_ACCESS: 'read' });
    // A second server on the same database and runtime, logging to `lines`.
    const app = buildApp({ graphql: config.graphql, auth: config.auth, logger, services: { db: server.database, runtime: server.runtime } });
    const url = await app.start(0);
    try {
      expect((await execute(url, Node, { id: gid('RefreshRun:999999') })).data).toEqual({ node: null });
      expect((await executeRaw(url, 'query($id: ID!) { node(id: $id) { id } }', { id: gid('RefreshRun:0x1') })).body.errors).toHaveLength(1);
    } finally {
      await app.stop();
    }
    expect(lines.filter((l) => l.level >= 50)).toEqual([]);
  });
});
