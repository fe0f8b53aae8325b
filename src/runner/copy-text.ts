// Serialises rows for COPY … FROM STDIN in PostgreSQL's text format. Hand-written because
// it is the hot loop of every refresh (a library would add an object per value) and the
// format is small and fixed: tab-separated, \N for NULL, backslash escapes.
import type { TextValue } from './source.ts';

const SPECIAL = /[\\\t\n\r]/;

function escape(value: string): string {
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
      line += v === null || v === undefined ? '\\N' : escape(v);
    }
    lines[r] = line;
  }
  return lines.length ? `${lines.join('\n')}\n` : '';
}
