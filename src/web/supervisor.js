// Supervisor page (/supervisor, a signed-in supervisor or admin): the desk live — customers
// waiting (time waited, SLA breaches, place, what they need, offers and misses, whose console
// rings), agents by state, active calls — polled from `GET /v1/desk/snapshot` and
// `GET /v1/sessions`. A waiting customer can be given to a free agent (Reassign), and an
// active call can be joined silently: an observer token (`observer-<user id>`), a call view
// that subscribes only (no camera, no microphone: nothing is published, so the customer's
// page shows nobody new). Names are shown on screen only, never logged.

import { Api, ApiError } from './api.js';
import { RtcClient } from './rtc.js';
import { CallView, exposeCallState } from './call.js';
import { $, h, show, setStatus, showNotice, elementsById, createMetrics, formatDuration } from './ui.js';
import { requireSignIn, showAccount, hasRole, signInUrl } from './staff.js';
import { AGENT_STATES, agentStateLabel, skillsText, waitText } from './desk.js';

const POLL_MS = 1500;
/** The sessions list (names, active calls) is read every this many polls. */
const SESSIONS_EVERY = 2;

const els = elementsById();
const api = Api.console();
const metrics = createMetrics();
let me = null;
/** The last snapshot, and when it arrived (Date.now()). */
let snap = null;
let snapAt = 0;
/** Sessions by id (the list, and the waiting ones fetched one by one). */
const sessions = new Map();
let polls = 0;
let stopped = false;
/** The call being observed: { sessionId, client }, or null. */
let observing = null;

const view = new CallView({ section: $('#call'), hangUp: { id: 'stop-observe-btn', label: 'Leave' }, preferredRole: 'customer', metrics });
view.text = { waiting: 'Waiting for the customer…', connecting: 'Connecting to the call…', live: 'Listening in (silent)' };
const callEls = elementsById();

exposeCallState(() => observing?.client ?? null, metrics, { user: () => me, snapshot: () => snap, observing: () => observing?.sessionId ?? null });

// ------------------------------------------------------------------ helpers

/** The server's clock now (the snapshot's `at`, moved on by the time since it arrived). */
function serverNow() {
  return snap ? Date.parse(snap.at) + (Date.now() - snapAt) : Date.now();
}

function since(iso) {
  const t = Date.parse(iso || '');
  return Number.isNaN(t) ? '—' : formatDuration(serverNow() - t);
}

function applicantOf(id) {
  return sessions.get(id)?.applicant?.name || null;
}

function agentName(id) {
  return snap?.agents?.find((a) => a.user_id === id)?.name || 'an agent';
}

function setText(el, text) {
  if (el.textContent !== text) el.textContent = text;
}

/**
 * Keeps `tbody`'s rows in step with `items`: a row per key, built once (`build(item)`) and
 * updated in place (`update(row, item)`), so a control being used is not replaced; rows move
 * only when the order changes.
 */
function syncRows(tbody, items, keyOf, build, update) {
  const existing = new Map([...tbody.children].map((r) => [r.dataset.key, r]));
  const rows = items.map((item) => {
    const key = keyOf(item);
    let row = existing.get(key);
    if (!row) {
      row = build(item);
      row.dataset.key = key;
    }
    update(row, item);
    return row;
  });
  const same = rows.length === tbody.children.length && rows.every((r, i) => tbody.children[i] === r);
  if (!same) tbody.replaceChildren(...rows);
}

function failed(err, what) {
  if (err instanceof ApiError && err.status === 401) {
    stopped = true;
    location.replace(signInUrl('/supervisor'));
    return;
  }
  showNotice(els.notice, { kind: 'error', code: err?.code, title: `Could not ${what}`, message: err?.message || 'Unexpected error.' });
}

// ------------------------------------------------------------------ polling

async function poll() {
  if (stopped) return;
  try {
    const readSessions = polls % SESSIONS_EVERY === 0;
    const [s, list] = await Promise.all([api.deskSnapshot(), readSessions ? api.listSessions({ limit: 200 }) : null]);
    snap = s;
    snapAt = Date.now();
    if (list) for (const x of list) sessions.set(x.id, x);
    // A waiting customer older than the list: read once.
    const missing = snap.waiting.map((w) => w.session_id).filter((id) => !sessions.has(id));
    await Promise.all(missing.map((id) => api.getSession(id).then((x) => sessions.set(id, x)).catch(() => {})));
    polls += 1;
    render();
    setStatus(`Live · updated ${new Date().toLocaleTimeString(undefined, { timeStyle: 'medium' })}`, 'live');
  } catch (err) {
    if (err instanceof ApiError && (err.status === 401 || err.status === 403)) {
      if (err.status === 401) failed(err, 'load the desk');
      else denied();
      return;
    }
    setStatus('Could not refresh the desk: retrying…', 'warning');
  }
  setTimeout(poll, POLL_MS);
}

function render() {
  renderStats();
  renderWaiting();
  renderCalls();
  renderAgents();
}

function activeCalls() {
  return [...sessions.values()].filter((s) => s.status === 'in_progress').sort((a, b) => String(a.started_at).localeCompare(String(b.started_at)));
}

function renderStats() {
  setText(els.statWaiting, String(snap.waiting.length));
  setText(els.statCalls, String(activeCalls().length));
  const by = snap.agents_by_state || {};
  els.agentsByState.replaceChildren(
    ...AGENT_STATES.map((st) =>
      h('div', { class: `stat stat-state state-${st}`, dataset: { state: st } }, h('span', { class: 'stat-n', dataset: { count: String(by[st] ?? 0) } }, String(by[st] ?? 0)), h('span', { class: 'stat-label' }, agentStateLabel(st))),
    ),
  );
}

// ------------------------------------------------------------------ waiting customers

/** Agents a customer can be given to now: available, connected, not ringing. */
function freeAgents() {
  const ringing = new Set((snap.offers || []).map((o) => o.agent));
  return snap.agents.filter((a) => a.state === 'available' && a.connected && !ringing.has(a.user_id));
}

function buildWaitingRow(w) {
  const select = h('select', { class: 'reassign-select', 'aria-label': 'The agent to ring' });
  const btn = h('button', { type: 'button', class: 'btn btn-sm reassign-btn' }, 'Reassign');
  const row = h(
    'tr',
    { class: 'waiting-row', dataset: { sessionId: w.session_id } },
    h('td', { class: 'cell-customer' }, h('span', { class: 'cell-name' }), h('span', { class: 'cell-sub' })),
    h('td', { class: 'cell-wait' }, h('span', { class: 'wait-time mono' }), ' ', h('span', { class: 'badge badge-danger sla-badge', hidden: true }, 'SLA breached')),
    h('td', { class: 'cell-position' }),
    h('td', { class: 'cell-needs' }),
    h('td', { class: 'cell-estimate' }),
    h('td', { class: 'cell-offers' }),
    h('td', { class: 'cell-ringing' }),
    h('td', { class: 'cell-reassign' }, h('span', { class: 'reassign' }, select, btn)),
  );
  btn.addEventListener('click', () => reassign(w.session_id, select, btn));
  select.addEventListener('change', () => {
    btn.disabled = !select.value;
  });
  return row;
}

function updateWaitingRow(row, w) {
  const q = (sel) => row.querySelector(sel);
  row.classList.toggle('is-breached', !!w.sla_breached);
  row.dataset.slaBreached = String(!!w.sla_breached);
  row.dataset.position = String(w.position);
  setText(q('.cell-name'), applicantOf(w.session_id) || 'Customer');
  setText(q('.cell-sub'), w.connected ? w.session_id.slice(0, 8) : 'Disconnected: keeps their place');
  q('.cell-sub').classList.toggle('is-warn', !w.connected);
  setText(q('.wait-time'), formatDuration(w.wait_secs * 1000 + (Date.now() - snapAt)));
  show(q('.sla-badge'), !!w.sla_breached);
  setText(q('.cell-position'), String(w.position));
  setText(q('.cell-needs'), skillsText(w.requirements));
  const est = waitText(w.estimated_wait_secs);
  setText(q('.cell-estimate'), est == null ? '—' : est);
  setText(q('.cell-offers'), `${w.offers} offered · ${w.missed} missed`);
  const ringing = q('.cell-ringing');
  const ringText = w.offered_to ? agentName(w.offered_to) : '—';
  if (ringing.dataset.agent !== (w.offered_to || '')) {
    ringing.dataset.agent = w.offered_to || '';
    ringing.replaceChildren(...(w.offered_to ? [h('span', { class: 'badge badge-ringing' }, 'Ringing'), ' ', ringText] : ['—']));
  }
  // The agents it can go to (options rebuilt only when that list changes).
  const select = q('.reassign-select');
  const btn = q('.reassign-btn');
  const free = freeAgents().filter((a) => a.user_id !== w.offered_to);
  const sig = free.map((a) => a.user_id).join(',');
  if (select.dataset.sig !== sig) {
    const keep = select.value;
    select.dataset.sig = sig;
    select.replaceChildren(
      h('option', { value: '' }, free.length ? 'Pick an agent' : 'No free agent'),
      ...free.map((a) => h('option', { value: a.user_id }, `${a.name || 'Agent'}${a.skills?.languages?.length ? ` (${skillsText({ languages: a.skills.languages }, '').replace('Language: ', '')})` : ''}`)),
    );
    if (free.some((a) => a.user_id === keep)) select.value = keep;
  }
  select.disabled = free.length === 0;
  btn.disabled = !select.value || btn.dataset.busy === 'true';
}

function renderWaiting() {
  const list = [...snap.waiting].sort((a, b) => String(a.entered_at).localeCompare(String(b.entered_at)));
  syncRows(els.waitingList, list, (w) => w.session_id, buildWaitingRow, updateWaitingRow);
  show(els.waitingEmpty, list.length === 0);
  show(els.waitingTable.parentElement, list.length > 0);
  setText(els.waitingCount, list.length ? `(${list.length})` : '');
  const breached = list.filter((w) => w.sla_breached).length;
  setText(els.slaHint, breached ? `${breached} over the waiting-time target` : '');
}

async function reassign(sessionId, select, btn) {
  const to = select.value;
  if (!to) return;
  const who = agentName(to);
  const customer = applicantOf(sessionId) || 'the customer';
  btn.dataset.busy = 'true';
  btn.disabled = true;
  try {
    await api.reassign(sessionId, to);
    showNotice(els.notice, { kind: 'success', code: 'reassigned', title: `${who}'s console rings for ${customer}` });
    select.value = '';
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) {
      failed(err, 'reassign');
      return;
    }
    const why = {
      agent_not_free: `${who} is not free any more (ringing, in a call, or no longer available).`,
      not_waiting: `${customer} is not waiting any more.`,
      unknown_agent: `${who} is not on the desk.`,
    }[err?.code];
    showNotice(els.notice, { kind: 'warning', code: err?.code, title: 'Could not reassign', message: why || err?.message || 'Unexpected error.' });
  } finally {
    btn.dataset.busy = 'false';
    btn.disabled = !select.value;
  }
}

// ------------------------------------------------------------------ active calls

function buildCallRow(s) {
  const btn = h('button', { type: 'button', class: 'btn btn-sm observe-btn' }, 'Join silently');
  btn.addEventListener('click', () => observe(s.id));
  return h(
    'tr',
    { class: 'call-row', dataset: { sessionId: s.id } },
    h('td', { class: 'cell-customer' }, h('span', { class: 'cell-name' })),
    h('td', { class: 'cell-agent' }),
    h('td', { class: 'cell-duration mono' }),
    h('td', { class: 'cell-actions' }, btn),
  );
}

function updateCallRow(row, s) {
  setText(row.querySelector('.cell-name'), s.applicant?.name || 'Customer');
  setText(row.querySelector('.cell-agent'), s.agent?.name || '—');
  setText(row.querySelector('.cell-duration'), since(s.started_at));
  const btn = row.querySelector('.observe-btn');
  const here = observing?.sessionId === s.id;
  btn.disabled = here;
  setText(btn, here ? 'Listening in' : 'Join silently');
}

function renderCalls() {
  const list = activeCalls();
  syncRows(els.callsList, list, (s) => s.id, buildCallRow, updateCallRow);
  show(els.callsEmpty, list.length === 0);
  show(els.callsTable.parentElement, list.length > 0);
  setText(els.callsCount, list.length ? `(${list.length})` : '');
}

// ------------------------------------------------------------------ agents

function buildAgentRow() {
  return h(
    'tr',
    { class: 'agent-row' },
    h('td', { class: 'cell-name' }),
    h('td', { class: 'cell-state' }, h('span', { class: 'badge agent-state' })),
    h('td', { class: 'cell-since mono' }),
    h('td', { class: 'cell-skills' }),
    h('td', { class: 'cell-call' }),
  );
}

function updateAgentRow(row, a) {
  row.dataset.userId = a.user_id;
  row.dataset.state = a.state;
  setText(row.querySelector('.cell-name'), `${a.name || 'Agent'}${a.connected ? '' : ' (console closed)'}`);
  const badge = row.querySelector('.agent-state');
  badge.className = `badge agent-state state-${a.state}`;
  setText(badge, agentStateLabel(a.state));
  setText(row.querySelector('.cell-since'), since(a.since));
  setText(row.querySelector('.cell-skills'), skillsText(a.skills, '—'));
  setText(row.querySelector('.cell-call'), a.in_call_with ? applicantOf(a.in_call_with) || a.in_call_with.slice(0, 8) : '—');
}

function renderAgents() {
  const order = Object.fromEntries(AGENT_STATES.map((s, i) => [s, i]));
  const list = [...snap.agents].sort((a, b) => (order[a.state] ?? 9) - (order[b.state] ?? 9) || String(a.name).localeCompare(String(b.name)));
  syncRows(els.agentsList, list, (a) => a.user_id, buildAgentRow, updateAgentRow);
  show(els.agentsEmpty, list.length === 0);
  show(els.agentsTable.parentElement, list.length > 0);
  setText(els.agentsCount, list.length ? `(${list.length})` : '');
}

// ------------------------------------------------------------------ join silently

async function observe(sessionId) {
  stopObserving();
  const s = sessions.get(sessionId);
  let token;
  try {
    token = await api.issueToken(sessionId, 'observer');
  } catch (err) {
    failed(err, 'join the call');
    return;
  }
  // No local stream: an observer subscribes only (the server gives it no publishing slots).
  const client = new RtcClient({ token: token.token, debug: new URLSearchParams(location.search).has('debug') });
  observing = { sessionId, client };
  view.resetRemote();
  view.attach(client);
  client.on('state', ({ state }) => {
    if (observing?.client !== client) return;
    if (state === 'ended') stopObserving('The call you were listening to has ended.');
    else if (state === 'failed') stopObserving();
  });
  els.observeTitle.textContent = `Listening in: ${s?.applicant?.name || 'customer'} with ${s?.agent?.name || 'the agent'}`;
  show(els.observe, true);
  show(callEls.stopObserveBtn, true);
  showNotice(els.notice, null);
  render();
  client.start();
  els.observe.scrollIntoView({ block: 'nearest' });
}

function stopObserving(message) {
  const o = observing;
  if (!o) return;
  observing = null;
  o.client.leave();
  view.detach();
  view.resetRemote();
  show(els.observe, false);
  if (message) showNotice(els.notice, { kind: 'info', code: 'observed_call_ended', title: message });
  if (snap) render();
}

// ------------------------------------------------------------------ start

function denied() {
  stopped = true;
  document.body.dataset.access = 'denied';
  show(els.deskView, false);
  setStatus('This page is for supervisors', 'warning');
  showNotice(els.notice, {
    kind: 'warning',
    code: 'forbidden_role',
    title: 'This page is for supervisors',
    message: 'Your account cannot see the desk. The agent console is where you take calls.',
    actions: [{ label: 'Open the console', onClick: () => location.assign('/agent') }],
  });
}

async function main() {
  // The call view's own controls: no camera or microphone here.
  show(callEls.muteBtn, false);
  show(callEls.cameraBtn, false);
  callEls.stopObserveBtn.addEventListener('click', () => stopObserving());
  window.addEventListener('pagehide', () => observing?.client.leave());
  let signedIn;
  try {
    signedIn = await requireSignIn(api);
  } catch (err) {
    setStatus('Could not load the page', 'error');
    showNotice(els.notice, { kind: 'error', code: err?.code, title: 'Could not load the page', message: err?.message || 'Unexpected error.', actions: [{ label: 'Try again', onClick: () => location.reload() }] });
    return;
  }
  if (!signedIn) return; // on the way to /signin
  me = signedIn.user;
  showAccount(els.account, me, api, { onError: (err) => failed(err, 'sign out') });
  if (!hasRole(me, 'supervisor', 'admin')) {
    denied();
    return;
  }
  document.body.dataset.access = 'supervisor';
  show(els.deskView, true);
  setStatus('Loading the desk…', 'busy');
  poll();
}

main();
