// The backfills view: one line per backfill not yet over (running, pausing, paused or failed) —
// its table and range, its status, and how many of its chunks are done, as a bar.
import { html } from './format.js';

/** The <li> items of the backfills list (empty: the section says so). */
export function backfillItems(state) {
  if (state.blocked || !state.loaded) return html``;
  if (!state.backfills.length) return html`<li class="muted" data-empty>No backfill under way</li>`;
  return html`${state.backfills.map((b) => html`<li class="backfill" data-backfill="${b.id}" data-status="${b.status}">
      <span class="badge">${b.status.toLowerCase()}</span>
      <span class="alert-table">${b.tableSchema}.${b.tableName}</span>
      <span class="when">${b.from} to ${b.to}</span>
      <progress max="${b.chunksTotal}" value="${b.chunksDone}"></progress>
      <span class="num">${b.chunksDone} of ${b.chunksTotal} chunks</span>
    </li>`)}`;
}
