// The dependency graph as inline SVG, drawn so that a cascade reads left to right: each table
// stands one column right of its deepest parent (column = the step at which it can run),
// with an arrow from every parent to its dependent; soft dependencies are dashed.
import { html } from './format.js';

const NODE_W = 230;
const NODE_H = 38;
const COL_GAP = 70;
const ROW_GAP = 12;
const PAD = 12;
const HEADER = 22;

/** Column (dependency depth) and row of every table; a cycle is cut where it is met. */
function layout(ids, edges) {
  const parents = new Map(ids.map((id) => [id, []]));
  for (const e of edges) if (parents.has(e.from) && parents.has(e.to)) parents.get(e.to).push(e.from);
  const depth = new Map();
  const visiting = new Set();
  const depthOf = (id) => {
    if (depth.has(id)) return depth.get(id);
    if (visiting.has(id)) return -1; // a cycle: the runner blocks its members; draw them anyway
    visiting.add(id);
    const d = Math.max(-1, ...parents.get(id).map(depthOf)) + 1;
    visiting.delete(id);
    depth.set(id, d);
    return d;
  };
  const columns = [];
  for (const id of ids) (columns[depthOf(id)] ??= []).push(id);
  // Order each column by where its parents stand, so arrows cross as little as a single pass allows.
  const row = new Map();
  for (const column of columns) {
    if (!column) continue;
    const weight = (id) => {
      const rows = parents.get(id).filter((p) => row.has(p)).map((p) => row.get(p));
      return rows.length ? rows.reduce((a, b) => a + b, 0) / rows.length : -1;
    };
    column.sort((a, b) => weight(a) - weight(b) || ids.indexOf(a) - ids.indexOf(b));
    column.forEach((id, i) => row.set(id, i));
  }
  return { columns: columns.filter(Boolean), depth, row };
}

const nodeX = (col) => PAD + col * (NODE_W + COL_GAP);
const nodeY = (row) => PAD + HEADER + row * (NODE_H + ROW_GAP);

/**
 * nodes: [{ id, label, title, state, percent }] in display order; edges: [{ from, to, soft }].
 */
export function dependencyGraph(nodes, edges) {
  if (!nodes.length) return html``;
  const { columns, depth, row } = layout(nodes.map((n) => n.id), edges);
  const width = PAD * 2 + columns.length * NODE_W + (columns.length - 1) * COL_GAP;
  const height = PAD * 2 + HEADER + Math.max(...columns.map((c) => c.length)) * (NODE_H + ROW_GAP) - ROW_GAP;
  const byId = new Map(nodes.map((n) => [n.id, n]));

  const headers = columns.map((_, col) =>
    html`<text class="column-label" x="${nodeX(col)}" y="${PAD + 12}">${col === 0 ? 'step 1' : `step ${col + 1} (after step ${col})`}</text>`);

  const arrows = edges
    .filter((e) => byId.has(e.from) && byId.has(e.to))
    .map((e) => {
      const x1 = nodeX(depth.get(e.from)) + NODE_W;
      const y1 = nodeY(row.get(e.from)) + NODE_H / 2;
      const x2 = nodeX(depth.get(e.to)) - 2;
      const y2 = nodeY(row.get(e.to)) + NODE_H / 2;
      const bend = Math.max(COL_GAP / 2, (x2 - x1) / 3);
      return html`<path class="edge${e.soft ? ' soft' : ''}" marker-end="url(#arrow)"
        d="M ${x1} ${y1} C ${x1 + bend} ${y1}, ${x2 - bend} ${y2}, ${x2} ${y2}"><title>${byId.get(e.from).title} → ${byId.get(e.to).title}${e.soft ? ' (soft)' : ''}</title></path>`;
    });

  const boxes = nodes.map((n) => {
    const x = nodeX(depth.get(n.id));
    const y = nodeY(row.get(n.id));
    const label = n.label.length > 30 ? `${n.label.slice(0, 29)}…` : n.label;
    const bar = n.percent === null || n.percent === undefined ? '' : html`<rect class="bar" x="${x + 1}" y="${y + NODE_H - 5}" width="${((NODE_W - 2) * Math.min(100, n.percent)) / 100}" height="4"></rect>`;
    return html`<g class="node state-${n.state.toLowerCase()}" data-table="${n.title}">
      <title>${n.title}: ${n.state}</title>
      <rect x="${x}" y="${y}" width="${NODE_W}" height="${NODE_H}" rx="6"></rect>
      <text x="${x + 10}" y="${y + 16}">${label}</text>
      <text class="node-state" x="${x + 10}" y="${y + 30}">${n.state}</text>${bar}
    </g>`;
  });

  return html`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}"
      role="img" aria-label="Dependency graph: parents on the left, arrows to the tables built from them">
    <defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">
      <path d="M 0 0 L 10 5 L 0 10 z"></path></marker></defs>
    ${headers}${arrows}${boxes}
  </svg>`;
}
