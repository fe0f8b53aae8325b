// The status page's entry module. It reads every table's health, the open alerts and the
// dependency edges, then keeps them current from the refreshEvents subscription:
// RunStarted/RunProgress move the table's progress bar, RunFinished and RunBlocked re-read
// tableHealth and openAlerts (counts, verdict, next refresh; a recovery's alert is closed by the
// success it comes with), ConfigChanged re-reads the edges too, a reconnect re-reads everything
// missed, and a re-read once a minute catches what no event announces (a table going LATE, and
// the alerts written after a run's end: a final failure's, written with its schedule, and a late
// or blocked table's, found after a pass). The states are tableHealth's, the same every other
// surface shows.
//
// The token: `?token=…` in the address (moved into sessionStorage at once and removed from the
// address bar and history) or the token field. It is sent like any client's and kept for this
// tab only. `viewer` says what it may do: without the read scope (no token where anonymous
// reads are off, or a refused token) the page says plainly what is needed and where to paste
// it, shows nothing of an earlier token's data, and does not try to go live. Force and Cancel
// appear only with the `operate` scope; the server checks every mutation anyway.
import { openAlertItems } from './alerts.js';
import { backfillItems } from './backfills.js';
import { cancelRefresh, forceRefresh, loadConfigs, loadHealth, loadViewer, subscribeToEvents } from './api.js';
import { html } from './format.js';
import { dependencyGraph } from './graph.js';
import { shownState, summary, tableRows } from './view.js';

const TOKEN_KEY = 'sqp-refresh.status-page.token';
const $ = (id) => document.getElementById(id);

const state = {
  token: null,
  /** Bumped by each token change: answers to an earlier token's questions are dropped. */
  generation: 0,
  /** Why nothing can be shown (markup), or null. */
  blocked: null,
  canOperate: false,
  loaded: false,
  loadFailed: false,
  /** tableHealth rows, in the server's order. */
  health: [],
  /** openAlerts, newest first. */
  alerts: [],
  /** backfills not yet over, newest first. */
  backfills: [],
  /** configId → { tableSchema, tableName, parents: [{ id, soft }] } */
  configs: new Map(),
  /** configId → what this page knows of the table's current or just-finished run. */
  live: new Map(),
  /** configIds with a force or cancel request in flight. */
  busy: new Set(),
};

// Rendering --------------------------------------------------------------------------------------
/**
 * What the page draws from `state`, in order: each entry fills its element (`id`, in index.html)
 * with markup, and hides `hide` (its section) while nothing may be shown. A new section is its
 * element and one entry here, plus whatever it reads in `reload` (the open alerts came that way).
 */
const SECTIONS = [
  { id: 'alerts', markup: () => openAlertItems(state), hide: 'alerts-section' },
  { id: 'backfills', markup: () => backfillItems(state), hide: 'backfills-section' },
  { id: 'tables-body', markup: () => tableRows(state) },
  // Without a token that may read, counts and an empty graph would only mislead.
  { id: 'summary', markup: () => summary(state), hide: 'summary' },
  { id: 'graph', markup: () => graph(), hide: 'graph-section' },
];

let frame = 0;
function render() {
  frame ||= requestAnimationFrame(() => {
    frame = 0;
    for (const section of SECTIONS) {
      $(section.id).innerHTML = section.markup().markup;
      if (section.hide) $(section.hide).hidden = Boolean(state.blocked);
    }
    $('actions-head').hidden = !state.canOperate;
  });
}

function graph() {
  const nodes = state.health.map((t) => {
    const live = state.live.get(t.configId);
    const config = state.configs.get(t.configId);
    return {
      id: t.configId,
      label: config?.tableName ?? t.table,
      title: t.table,
      state: shownState(t, live),
      percent: live?.running ? live.percent ?? 0 : null,
    };
  });
  const edges = [...state.configs].flatMap(([id, c]) => c.parents.map((p) => ({ from: p.id, to: id, soft: p.soft })));
  return dependencyGraph(nodes, edges);
}

function setConnection(status) {
  const label = { connecting: 'connecting…', live: 'live', reconnecting: 'reconnecting…', error: 'not live', 'needs-token': 'needs a token' }[status];
  $('connection').className = `connection ${status}`;
  $('connection').textContent = label;
}

function notify(message, kind = 'info') {
  $('notice').className = `notice ${kind}`;
  $('notice').textContent = message;
  $('notice').hidden = !message;
}

// Reading ----------------------------------------------------------------------------------------
async function refreshHealth(generation) {
  const asked = Date.now();
  const { tableHealth, runnerStatus, openAlerts, backfills } = await loadHealth(state.token);
  if (generation !== state.generation) return; // asked with an earlier token
  state.health = tableHealth;
  state.alerts = openAlerts;
  state.backfills = backfills.filter((b) => !['COMPLETED', 'CANCELLED'].includes(b.status));
  state.loaded = true;
  const inFlight = new Map(runnerStatus.runsInFlight.filter((f) => f.run.config).map((f) => [f.run.config.id, f]));
  for (const [configId, f] of inFlight) {
    const seen = state.live.get(configId);
    if (seen?.runId === f.run.id && (seen.seenAt > asked || !seen.running)) continue; // events know better
    state.live.set(configId, { ...f, runId: f.run.id, running: true, seenAt: asked });
  }
  // A run this page thought running but the server no longer has (its RunFinished was missed
  // while reconnecting): show how it ended. Entries newer than the question are kept.
  for (const [configId, seen] of state.live) {
    if (!seen.running || inFlight.has(configId) || seen.seenAt > asked) continue;
    const run = tableHealth.find((t) => t.configId === configId)?.latestRun;
    if (run?.id === seen.runId) state.live.set(configId, { ...seen, running: false, status: run.status, outcome: run.status.toLowerCase(), rowsProcessed: run.rowsProcessed ?? seen.rowsProcessed });
    else state.live.delete(configId);
  }
}

async function refreshConfigs(generation) {
  const configs = await loadConfigs(state.token);
  if (generation !== state.generation) return;
  state.configs = new Map(configs.map((c) => [c.id, {
    tableSchema: c.tableSchema,
    tableName: c.tableName,
    parents: c.parentDependencies.filter((d) => d.parent).map((d) => ({ id: d.parent.id, soft: d.dependencyType === 'SOFT' })),
  }]));
}

async function reload({ configs = false } = {}) {
  const generation = state.generation;
  try {
    await Promise.all([refreshHealth(generation), configs ? refreshConfigs(generation) : null]);
    if (generation !== state.generation) return;
    if (state.loadFailed) notify('');
    state.loadFailed = false;
  } catch (error) {
    if (generation !== state.generation) return;
    state.loadFailed = true;
    notify(`Could not read the status: ${error.message}`, 'error');
  }
  render();
}

// Several events in a burst (a cascade finishing) cost one read.
let pending = null;
let reloadTimer = 0;
function reloadSoon(options = {}) {
  pending = { configs: Boolean(pending?.configs || options.configs) };
  clearTimeout(reloadTimer);
  reloadTimer = setTimeout(() => {
    const what = pending;
    pending = null;
    void reload(what);
  }, 150);
}

// Live events ------------------------------------------------------------------------------------
function onEvent(e) {
  const previous = state.live.get(e.configId);
  const now = Date.now();
  switch (e.__typename) {
    case 'RunStarted':
      state.live.set(e.configId, { runId: e.runId, running: true, rowsProcessed: 0, totalRows: null, percent: null, rowsPerSecond: null, etaSeconds: null, seenAt: now });
      break;
    case 'RunProgress':
      if (previous?.runId === e.runId && !previous.running) break; // late progress of an ended run
      state.live.set(e.configId, { ...e, running: true, seenAt: now });
      break;
    case 'RunFinished':
      state.live.set(e.configId, { ...previous, runId: e.runId, running: false, status: e.status, outcome: e.outcome.toLowerCase(), rowsProcessed: e.rowsProcessed, seenAt: now });
      reloadSoon();
      break;
    case 'RunBlocked':
      reloadSoon();
      break;
    case 'ConfigChanged':
      reloadSoon({ configs: true });
      break;
    // QualityMetricRecorded: the verdict comes with the re-read after RunFinished.
  }
  render();
}

let stopEvents = () => undefined;
function listen() {
  stopEvents();
  let current = true;
  const stop = subscribeToEvents(state.token, {
    onEvent: (e) => current && onEvent(e),
    onStatus: (status, detail) => {
      if (!current) return;
      setConnection(status);
      if (status === 'live' && detail === true) reloadSoon({ configs: true });
      if (status === 'error') notify(`Live updates stopped: ${describe(detail)}. Reload the page, or paste another token.`, 'error');
    },
  });
  stopEvents = () => {
    current = false;
    stop();
  };
}

function describe(error) {
  if (Array.isArray(error)) return error.map((e) => e.message).join('; ');
  return error?.reason || error?.message || 'the connection closed';
}

// The token --------------------------------------------------------------------------------------
const HOW_TO_GET_A_TOKEN = html`Paste it into the <strong>Token</strong> field at the top of this page
  (or open the page as <code>/?token=…</code>). An administrator creates one with
  <code>sqp-refresh token create --scope read --name you</code>.`;

/** Why this caller can see nothing, as markup; null when it may read. */
function blockedBy(viewer) {
  if (viewer.tokenRefused) return html`The token was refused: ${viewer.tokenRefused}. A token with the read scope is needed. ${HOW_TO_GET_A_TOKEN}`;
  if (!viewer.scopes.includes('READ')) return html`A token with the read scope is needed to see the tables: this server does not let anonymous visitors read. ${HOW_TO_GET_A_TOKEN}`;
  return null;
}

async function useToken(token) {
  state.token = token || null;
  if (state.token) sessionStorage.setItem(TOKEN_KEY, state.token);
  else sessionStorage.removeItem(TOKEN_KEY);
  // Forget everything the previous token showed before asking anything with this one.
  const generation = ++state.generation;
  stopEvents();
  Object.assign(state, { blocked: null, canOperate: false, loaded: false, loadFailed: false, health: [], alerts: [], backfills: [], configs: new Map(), live: new Map() });
  notify('');
  render();
  $('token-forget').hidden = !state.token;
  $('token-input').value = '';
  $('token-input').placeholder = state.token ? 'a token is in use (this tab only)' : 'API token';
  let viewer;
  try {
    viewer = await loadViewer(state.token);
  } catch (error) {
    if (generation !== state.generation) return;
    $('token-note').textContent = '';
    notify(`Could not reach the server: ${error.message}`, 'error');
    return;
  }
  if (generation !== state.generation) return;
  state.blocked = blockedBy(viewer);
  if (state.blocked) {
    $('token-note').textContent = viewer.tokenRefused ? 'The token was refused.' : 'A token with the read scope is needed.';
    setConnection('needs-token');
    render();
    return;
  }
  state.canOperate = viewer.scopes.includes('OPERATE');
  $('token-note').textContent = !viewer.name
    ? 'Anonymous, read only. Force and Cancel need a token with the operate scope.'
    : state.canOperate ? `Token "${viewer.name}" in use: it may force and cancel refreshes.` : `Token "${viewer.name}" in use, read only.`;
  listen();
  await reload({ configs: true });
}

function tokenFromAddress() {
  const url = new URL(location.href);
  const token = url.searchParams.get('token');
  if (token === null) return null;
  url.searchParams.delete('token');
  history.replaceState(null, '', url); // keep it out of the address bar, history and bookmarks
  return token;
}

// Actions ----------------------------------------------------------------------------------------
async function act(button) {
  const configId = button.dataset.configId;
  const config = state.configs.get(configId);
  const name = config ? `${config.tableSchema}.${config.tableName}` : 'the table';
  state.busy.add(configId);
  render();
  try {
    if (button.dataset.action === 'force') {
      const result = await forceRefresh(config.tableSchema, config.tableName, state.token);
      if (result.__typename !== 'ForceRefreshPayload') notify(`${name}: ${result.message}`, 'error');
      else notify(result.queued ? `${name}: queued — every runner is busy; it starts when one is free.` : `${name}: refresh started (its dependents follow).`);
    } else {
      const result = await cancelRefresh(button.dataset.runId, state.token);
      if (result.__typename !== 'CancelRefreshPayload') notify(`${name}: ${result.message}`, 'error');
      else notify(result.finished ? `${name}: cancelled.` : `${name}: cancel requested; it stops at the next page boundary.`);
    }
  } catch (error) {
    notify(`${name}: ${error.message}`, 'error');
  } finally {
    state.busy.delete(configId);
    render();
  }
}

// Start ------------------------------------------------------------------------------------------
document.documentElement.classList.add('js');
$('tables-body').addEventListener('click', (event) => {
  const button = event.target.closest('button[data-action]');
  if (button && !button.disabled) void act(button);
});
$('token-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const token = $('token-input').value.trim();
  if (token) void useToken(token);
});
$('token-forget').addEventListener('click', () => void useToken(null));
// Relative times ("in 3 hours") and ETAs age even when nothing happens; and a table turns LATE
// (its freshness SLA passes), or an alert opens, with no event to say so: re-read the states and
// the open alerts once a minute.
setInterval(render, 15_000);
setInterval(() => state.loaded && !state.blocked && reloadSoon(), 60_000);

void useToken(tokenFromAddress() ?? sessionStorage.getItem(TOKEN_KEY));
