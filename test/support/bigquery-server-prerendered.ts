// Result pages rendered before anyone asks for them, so that serving a page costs the test
// server almost nothing (the engine bench measures the engine, not the stand-in for BigQuery).
//
// Every row of a fixture is encoded once, exactly as a page on the fly would encode it, and
// kept as deflated segments of `segmentRows` rows. A page can start and end anywhere (the
// engine sizes its pages from the bytes of the last one), so a page is put together from
// what it covers: the JSON head (per job and answer: etag, jobReference, pageToken), the rows
// of the segments at its edges (inflated, cut, deflated again: a few hundred rows at most)
// and the stored segments in between, unchanged. A gzip answer is then one gzip member whose
// deflate stream is those pieces one after the other: each piece ends on a byte boundary
// (Z_SYNC_FLUSH) and refers to no byte before its own start, so the pieces can be joined, and
// the member's CRC-32 is combined from theirs (crc32Combine) without reading the rows again.
//
// What is equal to the page on the fly: the JSON, byte for byte (the same rows, the same
// 20 MiB cap, the same escapes; etag is random in both). What is not: the deflate stream of a
// gzip answer is cut into blocks differently (so its bytes, and responseBytes, differ a
// little); it inflates to the same JSON.
import zlib from 'node:zlib';
import type { ResolvedFixture } from './bigquery-server-fixtures.ts';
import type { PrerenderStats } from './bigquery-server-types.ts';
import { googleEscape } from './bigquery-server-http.ts';
import { encodeRows, type TimestampFormat } from './bigquery-server-wire.ts';

interface Segment {
  /** Raw deflate of the segment's rows, each as "," + its JSON, ending on a sync flush. */
  deflated: Buffer;
  crc: number;
  plainBytes: number;
}

const SYNC = { level: 1, finishFlush: zlib.constants.Z_SYNC_FLUSH } as const;
/** A gzip member's header as zlib writes it at level 1 (no name, no mtime, xfl 4 = fastest, OS unix). */
const GZIP_HEADER = Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 4, 3]);

/** Every row of one fixture, for one timestamp format, held deflated. */
export class PrerenderedRows {
  private constructor(
    readonly ts: TimestampFormat,
    readonly count: number,
    readonly segmentRows: number,
    /** Per row: what encodeRows counts against the page cap (its JSON's bytes before escapes, + 1). */
    private readonly capBytes: Uint32Array,
    /** Per row: bytes of "," + its escaped JSON. */
    private readonly unitBytes: Uint32Array,
    private readonly segments: Segment[],
    readonly stats: PrerenderStats,
  ) {}

  /** Renders every row of `fixture` as pages answered in `ts` would carry it. */
  static render(fixture: ResolvedFixture, ts: TimestampFormat, segmentRows: number): PrerenderedRows {
    if (!Number.isSafeInteger(segmentRows) || segmentRows < 1) throw new Error(`segmentRows must be a positive integer, got ${segmentRows}`);
    const started = performance.now();
    const count = fixture.count;
    const capBytes = new Uint32Array(count);
    const unitBytes = new Uint32Array(count);
    const segments: Segment[] = [];
    // Deflated segments are copied into large buffers (zlib's own output may be a view of a
    // bigger allocation): what is held is what the stats say.
    let batch: Buffer[] = [];
    let batchSegments: Omit<Segment, 'deflated'>[] = [];
    let jsonBytes = 0;
    let storedBytes = capBytes.byteLength + unitBytes.byteLength;
    const flushBatch = () => {
      const whole = Buffer.concat(batch);
      let offset = 0;
      batch.forEach((b, i) => {
        segments.push({ ...batchSegments[i]!, deflated: whole.subarray(offset, offset + b.length) });
        offset += b.length;
      });
      storedBytes += whole.length;
      batch = [];
      batchSegments = [];
    };
    for (let from = 0; from < count; from += segmentRows) {
      const to = Math.min(count, from + segmentRows);
      const texts = encodeRows(fixture.schema, fixture.at, from, to, ts, Infinity);
      let units = '';
      texts.forEach((text, k) => {
        const unit = `,${googleEscape(text)}`;
        capBytes[from + k] = Buffer.byteLength(text) + 1;
        unitBytes[from + k] = Buffer.byteLength(unit);
        units += unit;
      });
      const plain = Buffer.from(units, 'utf8');
      jsonBytes += plain.length;
      batch.push(zlib.deflateRawSync(plain, SYNC));
      batchSegments.push({ crc: zlib.crc32(plain), plainBytes: plain.length });
      if (batch.length === 256) flushBatch();
    }
    if (batch.length) flushBatch();
    const stats = { rows: count, jsonBytes, storedBytes, ms: performance.now() - started };
    return new PrerenderedRows(ts, count, segmentRows, capBytes, unitBytes, segments, stats);
  }

  /** Where a page from `start` asking `limit` rows ends under `maxBytes`: encodeRows' rule (at least one row). */
  pageEnd(start: number, limit: number, maxBytes: number): number {
    const stop = Math.min(this.count, start + limit);
    let bytes = 0;
    for (let i = start; i < stop; i++) {
      bytes += this.capBytes[i]!;
      if (bytes > maxBytes && i > start) return i;
    }
    return Math.max(start, stop);
  }

  /**
   * The rows [start, end) as pieces of the page body, in order: Buffers of plain bytes, and
   * whole stored segments. Each row is "," + its JSON; the caller drops the first comma.
   */
  pieces(start: number, end: number): (Buffer | Segment)[] {
    const out: (Buffer | Segment)[] = [];
    let cached: { index: number; plain: Buffer } | null = null;
    const inflated = (k: number): Buffer => {
      if (cached?.index !== k) cached = { index: k, plain: zlib.inflateRawSync(this.segments[k]!.deflated, { finishFlush: zlib.constants.Z_SYNC_FLUSH }) };
      return cached.plain;
    };
    for (let i = start; i < end; ) {
      const k = Math.floor(i / this.segmentRows);
      const segStart = k * this.segmentRows;
      const segEnd = Math.min(this.count, segStart + this.segmentRows);
      if (i === segStart && segEnd <= end) {
        out.push(this.segments[k]!);
        i = segEnd;
        continue;
      }
      const to = Math.min(end, segEnd);
      let from = 0;
      for (let r = segStart; r < i; r++) from += this.unitBytes[r]!;
      let length = 0;
      for (let r = i; r < to; r++) length += this.unitBytes[r]!;
      out.push(inflated(k).subarray(from, from + length));
      i = to;
    }
    return out;
  }
}

/** A result page served from pre-rendered rows: its head made per answer, its rows from memory. */
export class PrerenderedPage {
  constructor(
    private readonly head: Record<string, unknown>,
    private readonly rows: PrerenderedRows,
    private readonly start: number,
    private readonly end: number,
  ) {}

  with(extra: Record<string, unknown>): PrerenderedPage {
    return new PrerenderedPage({ ...extra, ...this.head }, this.rows, this.start, this.end);
  }

  /** The answer's bytes on the wire, Google-escaped: one gzip member when `gzip`, else the JSON. */
  wire(gzip: boolean): Buffer {
    // The same text as PageJson.text() in bigquery-server.ts: head, then "rows":[…] when there are rows.
    const head = googleEscape(JSON.stringify(this.head));
    if (this.end <= this.start) {
      const plain = Buffer.from(head, 'utf8');
      return gzip ? zlib.gzipSync(plain, { level: 1 }) : plain;
    }
    const pieces = this.rows.pieces(this.start, this.end);
    // Drop the comma before the first row: it is always plain (the first piece of a page is
    // plain unless the page starts on a segment; then that segment is inflated here).
    const first = pieces[0]!;
    const firstPlain = Buffer.isBuffer(first) ? first : zlib.inflateRawSync(first.deflated, { finishFlush: zlib.constants.Z_SYNC_FLUSH });
    pieces[0] = firstPlain.subarray(1);
    pieces.unshift(Buffer.from(`${head.slice(0, -1)},"rows":[`, 'utf8'));
    pieces.push(Buffer.from(']}', 'utf8'));
    if (!gzip) {
      return Buffer.concat(pieces.map((p) => (Buffer.isBuffer(p) ? p : zlib.inflateRawSync(p.deflated, { finishFlush: zlib.constants.Z_SYNC_FLUSH }))));
    }
    return gzipMember(pieces);
  }
}

/** One gzip member of plain pieces (deflated here) and stored segments (taken as they are). */
function gzipMember(pieces: (Buffer | Segment)[]): Buffer {
  const out: Buffer[] = [GZIP_HEADER];
  let crc = 0;
  let size = 0;
  let plain: Buffer[] = [];
  const deflatePlain = (last: boolean) => {
    if (!plain.length && !last) return;
    const bytes = plain.length === 1 ? plain[0]! : Buffer.concat(plain);
    plain = [];
    out.push(last ? zlib.deflateRawSync(bytes, { level: 1 }) : zlib.deflateRawSync(bytes, SYNC));
    crc = zlib.crc32(bytes, crc);
    size += bytes.length;
  };
  for (const p of pieces) {
    if (Buffer.isBuffer(p)) {
      plain.push(p);
      continue;
    }
    deflatePlain(false);
    out.push(p.deflated);
    crc = crc32Combine(crc, p.crc, p.plainBytes);
    size += p.plainBytes;
  }
  deflatePlain(true); // the page always ends in plain bytes ("]}"): the final block
  const trailer = Buffer.alloc(8);
  trailer.writeUInt32LE(crc >>> 0, 0);
  trailer.writeUInt32LE(size % 2 ** 32, 4);
  out.push(trailer);
  return Buffer.concat(out);
}

// ---- CRC-32 of joined pieces ---------------------------------------------------------------
// crc32(A ‖ B) from crc32(A), crc32(B) and |B|, as zlib's crc32_combine does it (1.2.12 on):
// multiply crc32(A) by x^(8·|B|) modulo the CRC polynomial, then add crc32(B). Polynomials are
// bit-reflected 32-bit words, x^0 in the top bit.

const POLY = 0xedb88320;

function multModP(a: number, b: number): number {
  let m = 0x80000000;
  let p = 0;
  for (;;) {
    if (a & m) {
      p ^= b;
      if ((a & (m - 1)) === 0) break;
    }
    m >>>= 1;
    b = b & 1 ? (b >>> 1) ^ POLY : b >>> 1;
  }
  return p >>> 0;
}

/** x^(2^k) modulo the polynomial, k = 0…31. */
const X2N: number[] = (() => {
  const table: number[] = [];
  let p = 1 << 30; // x^1
  for (let k = 0; k < 32; k++) {
    table.push(p);
    p = multModP(p, p);
  }
  return table;
})();

/** crc32(A ‖ B) from crc32(A), crc32(B) and the length of B in bytes. */
export function crc32Combine(crcA: number, crcB: number, lengthB: number): number {
  let xn = 0x80000000; // x^0
  let n = lengthB;
  for (let k = 3; n > 0; k++, n = Math.floor(n / 2)) {
    if (n % 2 === 1) xn = multModP(X2N[k & 31]!, xn);
  }
  return (multModP(xn, crcA) ^ crcB) >>> 0;
}
