// Micro-bench of the Storage Read path's conversion (issue #26): SQP rows (sqp-fixture.ts) as
// Arrow IPC record batches of 1024 rows, encoded by the Storage Read test server's encoder,
// through arrowBatchToCopyText — uncompressed ('storage'), and ZSTD-compressed as a session
// asks for by default ('zstd': the buffers' decompression included); and the same rows as one REST page's JSON through the REST
// path's converter (readResultsBody, the page's JSON as sent uncompressed), for comparison. One
// thread, no I/O: µs per row of the conversion alone. The texts differ a little in size: the
// REST path copies NUMERIC text as sent (142.40), the Storage path writes it canonical (142.4).
// Not part of `npm run bench`:
//
//   npx tsx bench/arrow-convert.ts [rows]            (default 200,000)
//   node --cpu-prof --import tsx bench/arrow-convert.ts
import { arrowBatchToCopyText } from '../src/runner/sources/bigquery/arrow-copy.ts';
import { readResultsBody } from '../src/runner/sources/bigquery/bigquery-wire.ts';
import type { BufferCompression } from '../test/support/bigquery-storage-server-types.ts';
import type { WireField } from '../src/runner/sources/bigquery/bigquery-types.ts';
import { ArrowTable } from '../test/support/bigquery-storage-arrow.ts';
import { encodeRows, wireSchema } from '../test/support/bigquery-server-wire.ts';
import { SQP_SCHEMA, sqpRow } from './sqp-fixture.ts';

const ROWS = Number(process.argv[2] ?? 200_000);
const BATCH_ROWS = 1024;
/** Rows of one REST page (the engine bench's pages are ~20k rows). */
const PAGE_ROWS = 20_000;
const ROUNDS = 5;
/** Rows encoded (encoding is slow: ~70 µs a row); a pass goes over them until it has converted ROWS. */
const DISTINCT = Math.min(ROWS, 51_200);
const REPEAT = Math.ceil(ROWS / DISTINCT);

const fields = wireSchema(SQP_SCHEMA) as WireField[];
const at = (i: number) => sqpRow(i, 1);

function arrowBatches(compression: BufferCompression): { schema: Uint8Array; batches: Uint8Array[] } {
  const table = new ArrowTable(SQP_SCHEMA, at);
  const batches: Uint8Array[] = [];
  for (let start = 0; start < DISTINCT; start += BATCH_ROWS) batches.push(table.serializeRows(start, Math.min(start + BATCH_ROWS, DISTINCT), compression));
  return { schema: table.serializedSchema, batches };
}

function restPages(): Buffer[] {
  const pages: Buffer[] = [];
  for (let start = 0; start < DISTINCT; start += PAGE_ROWS) {
    const rows = encodeRows(SQP_SCHEMA, at, start, Math.min(start + PAGE_ROWS, DISTINCT), 'int64', Infinity);
    const body = `{"kind":"bigquery#getQueryResultsResponse","schema":{"fields":${JSON.stringify(fields)}},"jobComplete":true,"totalRows":"${ROWS}","rows":[${rows.join(',')}]}`;
    pages.push(Buffer.from(body));
  }
  return pages;
}

/** Best of ROUNDS timed passes over every input (after one warm-up pass), µs per row; and the text's bytes. */
function time(name: string, pass: () => number): { usPerRow: number; bytes: number } {
  let bytes = pass();
  let best = Infinity;
  for (let round = 0; round < ROUNDS; round++) {
    // CPU time, not wall time: the bench shares its machine, and a pass is single-threaded.
    const started = process.cpuUsage();
    bytes = pass();
    const used = process.cpuUsage(started);
    best = Math.min(best, (used.user + used.system) / (DISTINCT * REPEAT));
  }
  console.log(`${name.padEnd(8)} ${best.toFixed(3)} µs/row  (${(1 / best).toFixed(2)}M rows/s, ${(bytes / DISTINCT / REPEAT).toFixed(1)} bytes/row of COPY text, CPU time, best of ${ROUNDS})`);
  return { usPerRow: best, bytes };
}

const encodeStarted = performance.now();
const arrow = arrowBatches('COMPRESSION_UNSPECIFIED');
const zstd = arrowBatches('ZSTD');
const pages = restPages();
const sum = (buffers: Uint8Array[]) => buffers.reduce((n, b) => n + b.length, 0);
console.log(`${DISTINCT} SQP rows (converted ${REPEAT}× a pass): ${arrow.batches.length} Arrow batches (${sum(arrow.batches)} bytes; ZSTD-compressed ${sum(zstd.batches)}), ${pages.length} REST pages (${sum(pages)} bytes); encoded in ${Math.round(performance.now() - encodeStarted)} ms`);

/** A pass over every batch of `input`: the COPY text's bytes. */
function convertBatches(input: { schema: Uint8Array; batches: Uint8Array[] }): number {
  let bytes = 0;
  for (let repeat = 0; repeat < REPEAT; repeat++) {
    let firstRow = 0;
    for (const batch of input.batches) {
      const { text, rowCount } = arrowBatchToCopyText(input.schema, batch, { fields, firstRow });
      bytes += text.length;
      firstRow += rowCount;
    }
  }
  return bytes;
}

const storage = time('storage', () => convertBatches(arrow));
const compressed = time('zstd', () => convertBatches(zstd));
const rest = time('rest', () => {
  let bytes = 0;
  for (let repeat = 0; repeat < REPEAT; repeat++) {
    let firstRow = 0;
    for (const page of pages) {
      const copy = readResultsBody(page, fields, { firstRow }).copy!;
      bytes += copy.text.length;
      firstRow += copy.rowCount;
    }
  }
  return bytes;
});
console.log(`storage is ${(rest.usPerRow / storage.usPerRow).toFixed(2)}× the REST path's rows/s, zstd ${(rest.usPerRow / compressed.usPerRow).toFixed(2)}×`);
