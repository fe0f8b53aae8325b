// Text for a terminal: aligned tables, relative times ("in 3h", "overdue 5m"), local times.

/** Columns padded to their widest cell; the last column is not padded. */
export function renderTable(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd();
  return [line(headers), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

/** A duration as its two largest units: "45s", "5m", "3h 20m", "2d 4h". */
function formatDuration(ms: number): string {
  const s = Math.round(Math.abs(ms) / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 24) return m % 60 ? `${h}h ${m % 60}m` : `${h}h`;
  const d = Math.floor(h / 24);
  return h % 24 ? `${d}d ${h % 24}h` : `${d}d`;
}

/** When something is due: "in 3h", "overdue 5m", or "now" within a second. */
export function formatDue(at: Date, now: Date): string {
  const ms = at.getTime() - now.getTime();
  if (Math.abs(ms) < 1000) return 'now';
  return ms > 0 ? `in ${formatDuration(ms)}` : `overdue ${formatDuration(ms)}`;
}

/** When something happened: "5m ago". */
export function formatAgo(at: Date, now: Date): string {
  const ms = now.getTime() - at.getTime();
  return ms < 1000 ? 'just now' : `${formatDuration(ms)} ago`;
}

/** Local wall-clock time, to the minute: "2025-06-12 14:05". */
export function formatLocalTime(at: Date): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `${at.getFullYear()}-${p(at.getMonth() + 1)}-${p(at.getDate())} ${p(at.getHours())}:${p(at.getMinutes())}`;
}

export function formatCount(n: number | null): string {
  return n === null ? '-' : n.toLocaleString('en-US');
}
