// The tables view: one row per table (state and why, live progress, last run and its counts,
// quality, next refresh, bytes billed today, and — with an operate token — force/cancel).
import { formatBytes, formatCount, formatDuration, html, timeTag } from './format.js';

/** The state to show: a run this page saw start is running, whatever the last read said. */
export function shownState(table, live) {
  return live?.running ? 'RUNNING' : table.state;
}

function badge(kind, value) {
  return value ? html`<span class="badge ${kind}-${value.toLowerCase()}">${value}</span>` : html`<span class="muted">—</span>`;
}

/** The progress cell: a bar while a run goes, its end once this page saw it finish. */
function progress(live) {
  if (!live) return html`<span class="muted">—</span>`;
  if (live.running) {
    const percent = live.percent === null || live.percent === undefined ? null : Math.min(100, live.percent);
    const details = [
      percent === null ? 'total unknown' : `${Math.floor(percent)}%`,
      `${formatCount(live.rowsProcessed)} rows`,
      live.rowsPerSecond ? `${formatCount(live.rowsPerSecond)} rows/s` : null,
      live.etaSeconds !== null && live.etaSeconds !== undefined ? `ETA ${live.etaSeconds < 1 ? '< 1 s' : formatDuration(live.etaSeconds * 1000)}` : null,
    ].filter(Boolean);
    return html`<div class="progress" data-progress="running">
      ${percent === null
        ? html`<progress max="100" aria-label="progress"></progress>`
        : html`<progress max="100" value="${percent.toFixed(1)}" aria-label="progress"></progress>`}
      <span class="progress-text">${details.join(' · ')}</span>
    </div>`;
  }
  // A run that stopped early (paused, cancelled) is neither done nor failed: it shows how far it got.
  const outcome = live.outcome ?? (live.status === 'FAILED' ? 'failed' : 'completed');
  const ok = outcome === 'completed' || outcome === 'unchanged';
  const phase = ok ? 'done' : outcome === 'failed' ? 'failed' : 'stopped';
  const value = ok ? 100 : Math.min(100, live.percent ?? 0);
  return html`<div class="progress" data-progress="${phase}">
    <progress class="${phase}" max="100" value="${value.toFixed(1)}" aria-label="progress"></progress>
    <span class="progress-text">${outcome === 'unchanged' ? 'unchanged: source not modified, no query' : ok ? 'done' : outcome} · ${formatCount(live.rowsProcessed)} rows</span>
  </div>`;
}

/** A badge beside the table's name: late (past its freshness SLA) unless its state already says so, else stale (past its frequency). */
function freshness(table, shown) {
  if (table.late) {
    return shown === 'LATE' ? '' : html` <span class="badge late" title="no successful refresh within its freshness SLA of ${table.freshnessSlaHours} h">late</span>`;
  }
  return table.stale ? html` <span class="badge stale" title="not refreshed within its frequency">stale</span>` : '';
}

function lastRun(run, now) {
  if (!run) return html`<span class="muted">never run</span>`;
  const when = run.refreshCompletedAt
    ? html`finished ${timeTag(run.refreshCompletedAt, now)}`
    : html`started ${timeTag(run.refreshStartedAt, now)}`;
  return html`${badge('status', run.status)} <span class="when">${when}</span>
    <div class="counts" data-rows="${run.rowsProcessed ?? ''}">
      ${formatCount(run.rowsProcessed)} rows
      <span class="changes" title="inserted / updated / deleted">+${formatCount(run.rowsInserted)} ~${formatCount(run.rowsUpdated)} −${formatCount(run.rowsDeleted)}</span>
      ${run.executionTimeMs !== null ? html`· ${formatDuration(run.executionTimeMs)}` : ''}
    </div>
    ${run.errorMessage ? html`<div class="run-error" title="${run.errorMessage}">${run.errorMessage}</div>` : ''}`;
}

function actions(table, config, live, busy) {
  if (!config) return '';
  // A run's status is RUNNING only while a process runs it (a dead process's row is INTERRUPTED).
  const runId = live?.running ? live.runId : table.latestRun?.status === 'RUNNING' ? table.latestRun.id : null;
  const canForce = table.state !== 'DISABLED' && table.state !== 'UNCONFIGURED';
  return html`
    ${canForce ? html`<button type="button" data-action="force" data-config-id="${table.configId}" ${busy ? html`disabled` : ''}
      title="Refresh now, then its dependents">Force</button>` : ''}
    ${runId ? html`<button type="button" class="danger" data-action="cancel" data-config-id="${table.configId}" data-run-id="${runId}" ${busy ? html`disabled` : ''}
      title="Stop at the next page boundary">Cancel</button>` : ''}`;
}

/** The <tbody> rows. */
export function tableRows(state, now = Date.now()) {
  if (state.blocked) return html`<tr><td colspan="8" class="blocked">${state.blocked}</td></tr>`;
  if (!state.health.length) {
    return html`<tr><td colspan="8" class="muted">${state.loaded ? 'No tables are registered.' : 'Loading…'}</td></tr>`;
  }
  return html`${state.health.map((t) => {
    const live = state.live.get(t.configId);
    const shown = shownState(t, live);
    const reasons = shown === t.state ? t.reasons : [];
    return html`<tr data-table="${t.table}" data-state="${shown}">
      <th scope="row">${t.table}${freshness(t, shown)}</th>
      <td class="state">${badge('state', shown)}
        ${t.failureStreak ? html`<span class="streak" title="failed runs since the last success">×${t.failureStreak}</span>` : ''}
        ${reasons.length ? html`<ul class="reasons">${reasons.map((r) => html`<li>${r}</li>`)}</ul>` : ''}</td>
      <td class="progress-cell">${progress(live)}</td>
      <td class="last-run">${lastRun(t.latestRun, now)}</td>
      <td class="quality">${badge('verdict', t.qualityVerdict)}</td>
      <td class="next">${timeTag(t.nextRefreshAt, now)}</td>
      <td class="num bytes">${formatBytes(t.bytesBilledToday)}</td>
      ${state.canOperate ? html`<td class="actions">${actions(t, state.configs.get(t.configId), live, state.busy.has(t.configId))}</td>` : ''}
    </tr>`;
  })}`;
}

/** The line above the table: how many tables in which state, and bytes billed today. */
export function summary(state) {
  const counts = new Map();
  let bytes = 0n;
  for (const t of state.health) {
    const s = shownState(t, state.live.get(t.configId));
    counts.set(s, (counts.get(s) ?? 0) + 1);
    bytes += BigInt(t.bytesBilledToday ?? 0);
  }
  const parts = [...counts].sort(([a], [b]) => a.localeCompare(b)).map(([s, n]) => html`<span class="badge state-${s.toLowerCase()}">${n} ${s}</span>`);
  return html`<span>${state.health.length} tables</span> ${parts}
    <span class="billed" title="BigQuery bytes billed today, all tables">billed today: <strong>${formatBytes(bytes)}</strong></span>`;
}
