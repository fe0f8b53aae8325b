// Text PostgreSQL cannot store (U+0000, a lone surrogate) in any string argument of the graph,
// over real HTTP: every mutation returns a ValidationError naming the field, every query and
// subscription a GraphQL error saying the same, and nothing is written. The sweep walks the
// schema itself, so a field added later is covered without a line here.
import {
  getNamedType, getNullableType, isEnumType, isInputObjectType, isListType, isNonNullType, isScalarType, isUnionType,
  type GraphQLArgument, type GraphQLField, type GraphQLInputType,
} from 'graphql';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createToken } from '../src/auth/tokens.ts';
import { schema } from '../src/schema/index.ts';
import { createEventBus } from '../src/subscriptions/bus.ts';
import { startTestApp, type TestApp } from './support/app.ts';
import { createTestDatabase } from './support/db.ts';
import { execute, executeRaw } from './support/graphql.ts';
import { graphql } from './generated/index.ts';

const database = await createTestDatabase();
const admin = createToken('admin', 'admin');
const headers = { authorization: `Bearer ${admin.token}` };
let server: TestApp;
let sql: pg.Client;

beforeAll(async () => {
  sql = new pg.Client({ connectionString: database.url });
  await sql.connect();
  server = await startTestApp(database.url, { API_TOKENS: admin.entry, ANONYMOUS_ACCESS: 'read' }, { bus: createEventBus() });
});
afterAll(async () => {
  await server?.stop();
  await sql?.end();
  await database.drop();
});

/** Every row of every table of the service and its data, as one text: a refused call changes none. */
async function snapshot(): Promise<string> {
  const { rows: tables } = await sql.query<{ name: string }>(
    `SELECT format('%I.%I', schemaname, tablename) AS name FROM pg_tables WHERE schemaname IN ('sqp', 'sqp_refresh_work') ORDER BY 1`,
  );
  const parts: string[] = [];
  for (const { name } of tables) parts.push(`${name}:${(await sql.query(`SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) AS h FROM ${name} t`)).rows[0].h}`);
  return parts.join('\n');
}

const NUL = 'sqp\u0000x';
const LONE = 'sqp\ud800x';

const Register = graphql(`
  mutation TextRegister($input: RegisterTableInput!) {
    registerTable(input: $input) { __typename ... on ValidationError { field issues { path message } } }
  }
`);

describe('named cases', () => {
  it('a NUL in registerTable.tableName is a ValidationError on tableName; nothing is written', async () => {
    const before = await snapshot();
    const res = await execute(server.url, Register, { input: { tableSchema: 'sqp', tableName: NUL } }, headers);
    expect(res.errors).toBeUndefined();
    expect(res.data!.registerTable).toEqual({
      __typename: 'ValidationError',
      field: 'tableName',
      issues: [{ path: 'tableName', message: 'contains U+0000 (NUL), which PostgreSQL cannot store' }],
    });
    expect(await snapshot()).toBe(before);
  });

  it('inside JSON: every bad string and key by its path, a lone surrogate too', async () => {
    const before = await snapshot();
    const params = { source: { type: 'postgres', query: `SELECT ${NUL}` }, keyColumns: ['id', LONE], quality: { [`rowCountRatio${NUL}`]: { max: 1 } } };
    const res = await execute(server.url, Register, { input: { tableSchema: 'sqp', tableName: 'asin_performance_data', customSyncParams: params } }, headers);
    expect(res.data!.registerTable).toEqual({
      __typename: 'ValidationError',
      field: 'customSyncParams.keyColumns[1]',
      issues: [
        { path: 'customSyncParams.keyColumns[1]', message: 'contains a lone UTF-16 surrogate, which is not text PostgreSQL can store' },
        { path: 'customSyncParams.quality', message: 'a key contains U+0000 (NUL), which PostgreSQL cannot store' },
        { path: 'customSyncParams.source.query', message: 'contains U+0000 (NUL), which PostgreSQL cannot store' },
      ],
    });
    expect(await snapshot()).toBe(before);
  });

  it('a caller without the scope is refused for that, not told about the text', async () => {
    const res = await executeRaw(server.url, `mutation($input: RegisterTableInput!) { registerTable(input: $input) { __typename } }`, { input: { tableSchema: 'sqp', tableName: NUL } });
    expect(res.body.data).toEqual({ registerTable: { __typename: 'ForbiddenError' } });
  });

  it('a subscription argument is refused before it subscribes', async () => {
    const res = await fetch(server.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'text/event-stream' },
      body: JSON.stringify({ query: 'subscription($f: RefreshEventFilter) { refreshEvents(filter: $f) { __typename } }', variables: { f: { tableName: NUL } } }),
    });
    const text = await res.text(); // the stream ends after the error
    const next = /event: next\ndata: (.*)\n/.exec(text);
    expect(next, text).not.toBeNull();
    expect(JSON.parse(next![1]!).errors[0].extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'filter.tableName' });
  });
});

// The sweep ------------------------------------------------------------------------------------

/** A string leaf of a field's arguments: where it is, and its value with the bad text there. */
interface Leaf {
  /** The path a ValidationError names (a mutation's `input` is not part of it). */
  field: string;
  /** The arguments' values: the required ones made up, the bad text at `field`. */
  variables: Record<string, unknown>;
}

const SAMPLE: Record<string, unknown> = {
  String: 'x', ID: Buffer.from('RefreshConfig:1').toString('base64'), Int: 1, Float: 1, Boolean: true,
  DateTime: new Date(Date.now() + 86_400_000).toISOString(), JSON: {}, BigInt: '1',
};

/** A valid value of a type: its required fields only. */
function sample(type: GraphQLInputType): unknown {
  const t = getNullableType(type);
  if (isListType(t)) return [sample(t.ofType)];
  if (isEnumType(t)) return t.getValues()[0]!.value;
  if (isScalarType(t)) return SAMPLE[t.name];
  if (isInputObjectType(t)) {
    return Object.fromEntries(Object.values(t.getFields()).filter((f) => isNonNullType(f.type) && f.defaultValue === undefined).map((f) => [f.name, sample(f.type)]));
  }
  throw new Error(`no sample for ${String(type)}`);
}

/** Every String and JSON leaf inside a value of `type`, as the value with the bad text there (IDs are refused by their decoder). */
function leaves(type: GraphQLInputType, path: Array<string | number>, depth = 0): Array<{ path: Array<string | number>; value: unknown }> {
  const t = getNullableType(type);
  if (depth > 4) return [];
  if (isListType(t)) return leaves(t.ofType, [...path, 0], depth + 1).map((l) => ({ path: l.path, value: [l.value] }));
  if (isScalarType(t) && t.name === 'String') return [{ path, value: NUL }];
  if (isScalarType(t) && t.name === 'JSON') return [{ path: [...path, 'k'], value: { k: NUL } }];
  if (!isInputObjectType(t)) return [];
  const base = sample(t) as Record<string, unknown>;
  return Object.values(t.getFields()).flatMap((f) => leaves(f.type, [...path, f.name], depth + 1).map((l) => ({ path: l.path, value: { ...base, [f.name]: l.value } })));
}

const pathText = (path: Array<string | number>) => path.reduce<string>((p, s) => (typeof s === 'number' ? `${p}[${s}]` : p ? `${p}.${s}` : s), '');

function leavesOf(field: GraphQLField<unknown, unknown>): Leaf[] {
  const required = (a: GraphQLArgument) => isNonNullType(a.type) && a.defaultValue === undefined;
  const base = Object.fromEntries(field.args.filter(required).map((a) => [a.name, sample(a.type)]));
  return field.args.flatMap((a) =>
    leaves(a.type, a.name === 'input' ? [] : [a.name]).map((l) => ({ field: pathText(l.path), variables: { ...base, [a.name]: l.value } })),
  );
}

/** The operation calling `field` with every argument as a variable, selecting a ValidationError where its type has one. */
function operation(kind: 'query' | 'mutation', field: GraphQLField<unknown, unknown>): string {
  const vars = field.args.map((a) => `$${a.name}: ${String(a.type)}`).join(', ');
  const args = field.args.map((a) => `${a.name}: $${a.name}`).join(', ');
  const type = getNamedType(field.type);
  const typed = isUnionType(type) && type.getTypes().some((t) => t.name === 'ValidationError');
  const selection = isScalarType(type) || isEnumType(type) ? '' : ` { __typename ${typed ? '... on ValidationError { field issues { path } }' : ''} }`;
  return `${kind}${vars ? `(${vars})` : ''} { ${field.name}${args ? `(${args})` : ''}${selection} }`;
}

for (const kind of ['mutation', 'query'] as const) {
  const root = kind === 'mutation' ? schema.getMutationType()! : schema.getQueryType()!;
  const cases = Object.values(root.getFields()).flatMap((f) => leavesOf(f).map((leaf) => ({ name: `${f.name}: ${leaf.field}`, f, leaf })));
  describe(`every ${kind} argument`, () => {
    it('has string arguments to sweep', () => expect(cases.length).toBeGreaterThan(kind === 'mutation' ? 10 : 3));
    it.each(cases)('$name: NUL is refused naming the field; nothing is written', async ({ f, leaf }) => {
      const before = kind === 'mutation' ? await snapshot() : null;
      const res = await executeRaw(server.url, operation(kind, f), leaf.variables, headers);
      const typed = res.body.data?.[f.name] as { __typename?: string; field?: string } | null | undefined;
      if (typed?.__typename === 'ValidationError') {
        expect(typed.field).toBe(leaf.field);
      } else {
        expect(res.body.errors?.[0]?.extensions, JSON.stringify(res.body)).toMatchObject({ code: 'BAD_USER_INPUT', field: leaf.field });
        // Only a field that has no typed ValidationError may answer with a GraphQL error.
        const type = getNamedType(f.type);
        expect(isUnionType(type) && type.getTypes().some((t) => t.name === 'ValidationError')).toBe(false);
      }
      if (before !== null) expect(await snapshot()).toBe(before);
    });
  });
}
