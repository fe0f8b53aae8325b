// Serialises rows for COPY … FROM STDIN in PostgreSQL's text format. Hand-written because
// it is the hot loop of every refresh (a library would add an object per value) and the
// format is small and fixed: tab-separated, \N for NULL, backslash escapes.
import type { TextValue } from './source.ts';

const SPECIAL = /[\\\t\n\r]/;

/** One value escaped for COPY text (backslash, tab, newline and carriage return). */
function escapeCopyValue(value: string): string {
  if (!SPECIAL.test(value)) return value;
  return value.replace(/[\\\t\n\r]/g, (c) => (c === '\\' ? '\\\\' : c === '\t' ? '\\t' : c === '\n' ? '\\n' : '\\r'));
}

/** One page of rows as COPY text (each row ends with a newline). */
export function toCopyText(rows: readonly TextValue[][]): string {
  const lines: string[] = new Array(rows.length);
  for (let r = 0; r < rows.length; r++) {
    const row = rows[r]!;
    let line = '';
    for (let c = 0; c < row.length; c++) {
      const v = row[c];
      if (c > 0) line += '\t';
      line += v === null || v === undefined ? '\\N' : escapeCopyValue(v);
    }
    lines[r] = line;
  }
  return lines.length ? `${lines.join('\n')}\n` : '';
}

/**
 * Writes COPY text into a buffer that grows as needed (a source that writes COPY text straight
 * from its wire format: bigquery-wire-rows.ts). `given`: a reusable buffer (the decode pool's,
 * sources/decode/copy-buffers.ts), written into when it holds `capacity`; otherwise a new one
 * an eighth larger, so that the pool's buffers settle at the size of the pages. Every buffer
 * it makes owns its whole ArrayBuffer (allocUnsafeSlow: never a slice of Node's shared pool),
 * so that a worker can transfer it to another thread.
 */
export class CopyWriter {
  out: Buffer;
  at = 0;
  constructor(capacity: number, given: Buffer | null = null) {
    const wanted = Math.max(1024, capacity);
    this.out = given && given.length >= wanted ? given : Buffer.allocUnsafeSlow(given ? wanted + (wanted >>> 3) : wanted);
  }
  ensure(n: number): void {
    if (this.at + n <= this.out.length) return;
    const bigger = Buffer.allocUnsafeSlow(Math.max(this.out.length * 2, this.at + n));
    this.out.copy(bigger, 0, 0, this.at);
    this.out = bigger;
  }
  byte(c: number): void {
    this.ensure(1);
    this.out[this.at++] = c;
  }
  /** One value (already PostgreSQL text input), or NULL. */
  value(text: string | null): void {
    if (text === null) {
      this.ensure(2);
      this.out[this.at++] = 0x5c; // backslash
      this.out[this.at++] = 0x4e; // N
      return;
    }
    const escaped = escapeCopyValue(text);
    this.ensure(escaped.length * 3);
    this.at += this.out.write(escaped, this.at, 'utf8');
  }
}

const UNESCAPE = /\\(.)/g;
const unescapeOne = (_: string, c: string) => (c === 't' ? '\t' : c === 'n' ? '\n' : c === 'r' ? '\r' : c);

/**
 * COPY text as written by `toCopyText` (or a source that writes it itself) back to rows: the
 * exact inverse for the escapes written here (\\, \t, \n, \r, \N).
 */
export function parseCopyText(text: Buffer | string): TextValue[][] {
  const s = typeof text === 'string' ? text : text.toString('utf8');
  if (s === '') return [];
  const lines = s.split('\n');
  lines.pop(); // the text ends with a newline
  return lines.map((line) =>
    line.split('\t').map((v) => (v === '\\N' ? null : v.includes('\\') ? v.replace(UNESCAPE, unescapeOne) : v)),
  );
}
