// Escaping and formatting. Every value reaches the page through the `html` tag, which escapes
// it unless it is itself the output of `html` — so nothing from the server is ever markup.

/** Markup built by `html`; only this is inserted unescaped. */
class Html {
  constructor(markup) {
    this.markup = markup;
  }
  toString() {
    return this.markup;
  }
}

const ENTITIES = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

function escapeHtml(text) {
  return String(text).replace(/[&<>"']/g, (c) => ENTITIES[c]);
}

function interpolate(value) {
  if (value instanceof Html) return value.markup;
  if (Array.isArray(value)) return value.map(interpolate).join('');
  if (value === null || value === undefined || value === false) return '';
  return escapeHtml(value);
}

/** A tagged template for HTML and SVG: interpolated values are escaped (attributes must be quoted). */
export function html(strings, ...values) {
  let markup = strings[0];
  values.forEach((value, i) => (markup += interpolate(value) + strings[i + 1]));
  return new Html(markup);
}

const integer = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });

export function formatCount(n) {
  return n === null || n === undefined ? '—' : integer.format(n);
}

const BYTE_UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

/** Bytes (a decimal string or BigInt, as the API sends BigInt) in binary units. */
export function formatBytes(value) {
  let n = Number(value ?? 0);
  let unit = 0;
  while (n >= 1024 && unit < BYTE_UNITS.length - 1) {
    n /= 1024;
    unit += 1;
  }
  return `${unit === 0 ? n : n.toFixed(n < 10 ? 1 : 0)} ${BYTE_UNITS[unit]}`;
}

/** A duration for people: 850 ms, 12.7 s, 3 min 5 s, 2 h 10 min. */
export function formatDuration(ms) {
  if (ms === null || ms === undefined) return '—';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(s < 10 ? 1 : 0)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${Math.round(s % 60)} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

const relative = new Intl.RelativeTimeFormat('en', { numeric: 'auto' });
const STEPS = [
  ['second', 60],
  ['minute', 60],
  ['hour', 24],
  ['day', Infinity],
];

/** "in 23 hours", "5 minutes ago", relative to `now`. */
function formatRelative(iso, now = Date.now()) {
  let amount = (new Date(iso).getTime() - now) / 1000;
  for (const [unit, size] of STEPS) {
    if (Math.abs(amount) < size) return relative.format(Math.round(amount), unit);
    amount /= size;
  }
  return '';
}

/** A <time> element: relative text, the exact instant on hover. */
export function timeTag(iso, now) {
  if (!iso) return html`<span class="muted">—</span>`;
  return html`<time datetime="${iso}" title="${new Date(iso).toLocaleString()}">${formatRelative(iso, now)}</time>`;
}
