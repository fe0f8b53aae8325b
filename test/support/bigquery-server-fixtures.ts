// Fixtures of the BigQuery test server: how a received query is read from its request, which
// fixture answers it, and what a fixture resolves to.
import type { FieldSpec, ParamValue, QueryFixture, QueryMatcher, ReceivedQuery, Row, RowSource } from './bigquery-server-types.ts';
import { asObject, decodeParam } from './bigquery-server-wire.ts';

/** A fixture with its defaults filled in and its rows behind one accessor. */
export interface ResolvedFixture {
  schema: readonly FieldSpec[];
  count: number;
  at: (index: number) => Row;
  bytesProcessed: string;
  bytesBilled: string;
  pendingPolls: number;
  fail?: { reason: string; message: string };
  cacheHit: boolean;
  referencedTables: readonly string[];
  /** The fixture as registered (a fixture function's result): what pre-rendered pages are kept for. */
  origin: QueryFixture;
}

type Registered = { match: QueryMatcher; fixture: QueryFixture | ((q: ReceivedQuery) => QueryFixture) };

/** The most recently added fixture matching `q`, resolved; undefined when none matches. */
export function resolveFixture(fixtures: readonly Registered[], q: ReceivedQuery): ResolvedFixture | undefined {
  for (let i = fixtures.length - 1; i >= 0; i--) {
    const { match, fixture } = fixtures[i]!;
    if (!matches(match, q)) continue;
    return resolveQueryFixture(typeof fixture === 'function' ? fixture(q) : fixture);
  }
  return undefined;
}

/** One fixture with its defaults filled in. */
export function resolveQueryFixture(f: QueryFixture): ResolvedFixture {
  const rows = f.rows ?? [];
  const source: RowSource = isRowSource(rows)
    ? rows
    : { count: rows.length, at: (i: number) => rows[i]! };
  const bytesProcessed = toByteString(f.bytesProcessed ?? 0, 'bytesProcessed');
  const resolved: ResolvedFixture = {
    schema: f.schema,
    count: source.count,
    at: (i) => source.at(i),
    bytesProcessed,
    bytesBilled: f.bytesBilled === undefined ? onDemandBill(bytesProcessed, f.referencedTables?.length ?? 0, f.cacheHit ?? false) : toByteString(f.bytesBilled, 'bytesBilled'),
    pendingPolls: f.pendingPolls ?? 0,
    cacheHit: f.cacheHit ?? false,
    referencedTables: f.referencedTables ?? [],
    origin: f,
  };
  if (f.fail) resolved.fail = f.fail;
  return resolved;
}


export function unknownQueryError(query: string): { reason: string; message: string; location: string } {
  const shown = query.length > 300 ? `${query.slice(0, 300)}…` : query;
  return {
    reason: 'invalidQuery',
    location: 'query',
    message: `bigquery-test-server has no fixture matching this query: ${shown}`,
  };
}


/** What the server keeps of a query request (jobs.insert configuration.query, or a jobs.query body). */
export function receiveQuery(
  via: ReceivedQuery['via'],
  p: string,
  queryConfig: Record<string, unknown>,
  labels: unknown,
  dryRun: boolean,
  location: string,
  body: unknown,
): ReceivedQuery {
  const params: Record<string, ParamValue> = {};
  const positionalParams: ParamValue[] = [];
  const rawParams = Array.isArray(queryConfig['queryParameters']) ? (queryConfig['queryParameters'] as unknown[]) : [];
  for (const raw of rawParams) {
    const param = asObject(raw);
    const value = decodeParam(asObject(param['parameterType']), asObject(param['parameterValue']));
    if (typeof param['name'] === 'string' && param['name']) params[param['name']] = value;
    else positionalParams.push(value);
  }
  const received: ReceivedQuery = {
    via,
    projectId: p,
    query: String(queryConfig['query']),
    params,
    positionalParams,
    labels: labels && typeof labels === 'object' ? { ...(labels as Record<string, string>) } : {},
    dryRun,
    location,
    body,
  };
  const mbb = queryConfig['maximumBytesBilled'];
  if (mbb !== undefined && mbb !== null) received.maximumBytesBilled = String(mbb);
  return received;
}


export function referencedTablesOf(fixture: ResolvedFixture): { referencedTables?: unknown[] } {
  if (fixture.referencedTables.length === 0) return {};
  return {
    referencedTables: fixture.referencedTables.map((name) => {
      const [projectId, datasetId, tableId] = name.split('.');
      if (!projectId || !datasetId || !tableId) throw new Error(`referencedTables: '${name}' is not project.dataset.table`);
      return { projectId, datasetId, tableId };
    }),
  };
}


function matches(match: QueryMatcher, q: ReceivedQuery): boolean {
  if (typeof match === 'string') return normalizeSql(match) === normalizeSql(q.query);
  if (match instanceof RegExp) {
    match.lastIndex = 0;
    return match.test(q.query);
  }
  return match(q);
}

function normalizeSql(s: string): string {
  return s.trim().replace(/\s+/g, ' ');
}

function isRowSource(rows: readonly Row[] | RowSource): rows is RowSource {
  return !Array.isArray(rows) && typeof (rows as RowSource).at === 'function';
}

function toByteString(v: number | bigint | string, what: string): string {
  const s = typeof v === 'string' ? v : typeof v === 'bigint' ? v.toString() : Number.isSafeInteger(v) && v >= 0 ? String(v) : '';
  if (!/^\d+$/.test(s)) throw new Error(`fixture ${what} must be a non-negative integer, got ${String(v)}`);
  return s;
}

const MB = 1024n * 1024n;

/**
 * What BigQuery bills on demand for a query (its pricing page): bytes processed rounded up to
 * the MB, at least 10 MB per referenced table and per query; nothing for a cached result or a
 * query that reads no bytes at all. The test server knows only the total, so the per-table
 * minimum applies to it as a whole (Σ max(bytesᵢ, 10 MB) ≥ this).
 */
function onDemandBill(bytesProcessed: string, tables: number, cacheHit: boolean): string {
  const bytes = BigInt(bytesProcessed);
  if (cacheHit || (bytes === 0n && tables === 0)) return '0';
  const rounded = ((bytes + MB - 1n) / MB) * MB;
  const minimum = 10n * MB * BigInt(Math.max(1, tables));
  return (rounded > minimum ? rounded : minimum).toString();
}
