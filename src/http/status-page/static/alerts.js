// The open alerts view: one line per alert whose episode is still open (the graph's openAlerts:
// a table's failure not yet followed by its recovery, a late or blocked table not refreshed
// successfully since) — what happened, to which table, since when, and why.
import { html, timeTag } from './format.js';

/** How each kind reads here; its badge takes the colour of the table state it matches. */
const KINDS = {
  TABLE_FAILED: 'failed',
  TABLE_LATE: 'late',
  TABLE_BLOCKED: 'blocked',
};

/** The <li> items of the open alerts list (its empty state included). */
export function openAlertItems(state, now = Date.now()) {
  if (state.blocked) return html``; // the section is hidden, and holds nothing of an earlier token
  if (!state.loaded) return html`<li class="muted">Loading…</li>`;
  if (!state.alerts.length) return html`<li class="muted" data-empty>No open alerts</li>`;
  return html`${state.alerts.map((a) => {
    const label = KINDS[a.kind] ?? a.kind.toLowerCase();
    return html`<li class="alert" data-kind="${a.kind}" data-table="${a.table}">
      <span class="badge state-${label}" title="${a.kind}">${label}</span>
      <span class="alert-table">${a.table}</span>
      <span class="when">since ${timeTag(a.since, now)}</span>
      <div class="alert-reason">${a.reason}</div>
    </li>`;
  })}`;
}
