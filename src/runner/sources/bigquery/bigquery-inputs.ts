// What a query reads, and whether it changed: a dry run (free) lists the tables the query
// references (`statistics.query.referencedTables`) and the bytes it would scan; tables.get
// (free) gives each table's `lastModifiedTime`. A refresh whose query, params and referenced
// tables are all as they were when the last successful run read them would load the same
// rows again: it can end without running (and paying for) a query job.
//
// Trade-offs, all toward querying when in doubt:
//  - A table's lastModifiedTime is compared for equality with the one recorded, not with a
//    clock: no skew between our clock and Google's can hide a change.
//  - Inputs that cannot vouch for their data are "opaque" and never compare equal: no tables
//    at all, 50 or more (BigQuery's list is incomplete then), an external table (its files
//    change without BigQuery knowing), a table with a streaming buffer, a table whose
//    tables.get failed or gave no lastModifiedTime.
//  - A query that calls non-deterministic functions (CURRENT_DATE(), RAND()…) over unchanged
//    tables still gives other rows: such a table sets `skipWhenUnchanged: false`.
import { createHash } from 'node:crypto';
import type { BigQuery, JobMetadata, Query } from '@google-cloud/bigquery';
import type { Call, CallContext } from './bigquery-calls.ts';

/** The query's inputs as one run saw them before its job started (kept in the audit row). */
export interface BigQueryInputs {
  version: 1;
  /** sha256 of the query text, its parameters and location: another query reads other inputs. */
  queryHash: string;
  /** Referenced tables as `project.dataset.table`, sorted, each with its lastModifiedTime (ms). */
  tables: { table: string; lastModifiedTime: string | null }[];
  /** Why these inputs cannot show that nothing changed; absent when they can. */
  opaque?: string;
}

/** What a dry run tells before anything runs. */
export interface DryRun {
  bytesProcessed: bigint;
  /** Where BigQuery would run the query (jobReference.location of the dry run). */
  location?: string;
  referencedTables: { projectId: string; datasetId: string; tableId: string }[];
}

const MB = 1024n * 1024n;
/** BigQuery bills at least 10 MB per referenced table, and per query. */
const MINIMUM_PER_TABLE = 10n * MB;
/** "Queries that reference more than 50 tables will not have a complete list." */
const INCOMPLETE_LIST = 50;

/**
 * An upper bound of what the query will bill on demand: bytes are rounded up to the MB and
 * each referenced table bills at least 10 MB, so Σ max(bytesᵢ, 10 MB) ≤ bytes + 10 MB × tables
 * (the dry run gives only the total). At least 10 MB for the query.
 */
export function billedUpperBound(dryRun: DryRun): bigint {
  const rounded = ((dryRun.bytesProcessed + MB - 1n) / MB) * MB;
  const bound = rounded + MINIMUM_PER_TABLE * BigInt(dryRun.referencedTables.length);
  return bound < MINIMUM_PER_TABLE ? MINIMUM_PER_TABLE : bound;
}

/** The dry run's bytes and referenced tables from its job resource. */
function dryRunOf(metadata: JobMetadata): DryRun {
  const q = metadata.statistics?.query;
  const bytes = metadata.statistics?.totalBytesProcessed ?? q?.totalBytesProcessed;
  const referencedTables = (q?.referencedTables ?? []).flatMap((t) =>
    t.projectId && t.datasetId && t.tableId ? [{ projectId: t.projectId, datasetId: t.datasetId, tableId: t.tableId }] : [],
  );
  const dryRun: DryRun = { bytesProcessed: bytes === undefined || bytes === null ? 0n : BigInt(bytes), referencedTables };
  if (metadata.jobReference?.location) dryRun.location = metadata.jobReference.location;
  return dryRun;
}

/** Reads each referenced table's lastModifiedTime (tables.get) into the query's inputs. */
async function readInputs(bq: BigQuery, call: Call, query: Query, dryRun: DryRun, signal: AbortSignal | undefined): Promise<BigQueryInputs> {
  const inputs: BigQueryInputs = { version: 1, queryHash: queryHash(query), tables: [] };
  const refs = [...dryRun.referencedTables].sort((a, b) => name(a).localeCompare(name(b)));
  if (refs.length === 0) inputs.opaque = 'the dry run lists no referenced tables';
  if (refs.length >= INCOMPLETE_LIST) inputs.opaque = `the query references ${refs.length} tables (BigQuery lists at most ${INCOMPLETE_LIST})`;
  if (inputs.opaque) return inputs;
  const tables = await Promise.all(
    refs.map(async (ref) => {
      const table = bq.dataset(ref.datasetId, { projectId: ref.projectId }).table(ref.tableId);
      try {
        const [metadata] = await call({ op: 'tables.get', signal }, () => table.getMetadata());
        return { ref, metadata: metadata as TableMetadata };
      } catch (err) {
        if (signal?.aborted) throw err;
        return { ref, metadata: null };
      }
    }),
  );
  for (const { ref, metadata } of tables) {
    const modified = metadata?.lastModifiedTime;
    inputs.tables.push({ table: name(ref), lastModifiedTime: modified === undefined || modified === null ? null : String(modified) });
    const why = !metadata
      ? 'tables.get failed'
      : metadata.type === 'EXTERNAL'
        ? 'it is an external table'
        : metadata.streamingBuffer
          ? 'it has a streaming buffer'
          : modified === undefined || modified === null
            ? 'it has no lastModifiedTime'
            : null;
    if (why && !inputs.opaque) inputs.opaque = `${name(ref)}: ${why}`;
  }
  return inputs;
}

/** Whether `current` shows the same query over the same, unmodified tables as `previous` (as stored). */
export function sameInputs(previous: unknown, current: BigQueryInputs): boolean {
  if (current.opaque || !previous || typeof previous !== 'object') return false;
  const p = previous as Partial<BigQueryInputs>;
  if (p.version !== 1 || p.opaque || p.queryHash !== current.queryHash || !Array.isArray(p.tables)) return false;
  if (p.tables.length !== current.tables.length) return false;
  return current.tables.every((t, i) => {
    const before = p.tables![i];
    return before?.table === t.table && t.lastModifiedTime !== null && before.lastModifiedTime === t.lastModifiedTime;
  });
}

interface TableMetadata {
  lastModifiedTime?: string | number | null;
  type?: string;
  streamingBuffer?: unknown;
}

function name(ref: { projectId: string; datasetId: string; tableId: string }): string {
  return `${ref.projectId}.${ref.datasetId}.${ref.tableId}`;
}

function queryHash(query: Query): string {
  const params = query.params && typeof query.params === 'object' ? Object.entries(query.params).sort(([a], [b]) => a.localeCompare(b)) : [];
  const text = JSON.stringify([query.query ?? '', params, query.types ?? null, query.location ?? null]);
  return createHash('sha256').update(text).digest('hex');
}

/** The dry run and the inputs of each request, asked for at most once (createDryRuns). */
export interface DryRuns<R extends object> {
  dryRun(request: R): Promise<DryRun>;
  inputsOf(request: R): Promise<BigQueryInputs>;
  /** Whether this request had its dry run (the engine's estimate or inputs check). */
  has(request: R): boolean;
}

/**
 * The engine asks estimateBytes / inputsUnchanged and then opens the same request: one dry
 * run and one round of tables.get serve all three, and the inputs recorded are the ones seen
 * before the job started (a table modified during the job shows as changed next time). A
 * failed one is forgotten, so that the next ask tries again.
 */
export function createDryRuns<R extends { signal?: AbortSignal | undefined }>(bq: BigQuery, call: Call, queryOf: (request: R) => Query): DryRuns<R> {
  const dryRuns = new WeakMap<R, Promise<DryRun>>();
  const inputsByRequest = new WeakMap<R, Promise<BigQueryInputs>>();
  const dryRun = (request: R): Promise<DryRun> => {
    let pending = dryRuns.get(request);
    if (!pending) {
      const query: Query = { ...queryOf(request), dryRun: true };
      delete query.maximumBytesBilled;
      const ctx: CallContext = { op: 'jobs.insert (dry run)', signal: request.signal, jobLocation: query.location };
      pending = call(ctx, () => bq.createQueryJob(query)).then(([, metadata]) => dryRunOf(metadata as JobMetadata));
      dryRuns.set(request, pending);
      pending.catch(() => dryRuns.delete(request));
    }
    return pending;
  };
  const inputsOf = (request: R): Promise<BigQueryInputs> => {
    let pending = inputsByRequest.get(request);
    if (!pending) {
      pending = dryRun(request).then((d) => readInputs(bq, call, queryOf(request), d, request.signal));
      inputsByRequest.set(request, pending);
      pending.catch(() => inputsByRequest.delete(request));
    }
    return pending;
  };
  return { dryRun, inputsOf, has: (request) => dryRuns.has(request) };
}
