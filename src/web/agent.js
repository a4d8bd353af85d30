// Agent console (/agent, signed in): sessions, customer links, and the agent's side of the call.
// Personal data (applicant names, dates of birth, answers, codes) is shown on screen only: never logged.
//
// Sessions, tokens and links go as the signed-in console (its cookie and CSRF token; nobody
// signed in: to /signin). Taking a session's agent token assigns the session to this agent.
// What the agent does in a session (captures, step attempts, step and case decisions) goes
// with that agent token, so that the case records which agent acted ("agent:<user id>").
// Supervisors and auditors open sessions here too: they follow the case and create auditor
// links; only an agent's account joins a call as its agent.
//
// An agent's console is also on the desk (`/v1/desk/ws`, see desk.js): the header's presence
// control (Available / Break / Offline; Busy and Wrap-up as the server says), and the ring
// banner for a customer offered to this agent. Accepting opens that session and joins its
// call, the same way as picking it in the list and pressing "Join call".

import { Api, ApiError, blobToBase64 } from './api.js';
import { renderSteps, renderRecommendation, STEP_LABELS, resultLabel, questionsOf } from './kyc.js';
import { RtcClient } from './rtc.js';
import { checkBrowserSupport, getLocalMedia, stopStream } from './media.js';
import { CallView, mediaBadges, exposeCallState } from './call.js';
import { $, h, show, setStatus, showNotice, createMetrics, elementsById, copyText, roleLabel, formatDuration } from './ui.js';
import { requireSignIn, showAccount, hasRole, signInUrl } from './staff.js';
import { DeskSocket, RingTone, agentStateLabel, skillsText } from './desk.js';

const metrics = createMetrics();
/** The signed-in console's API (null until /v1/auth/me answered). */
let api = null;
/** The signed-in user: { id, email, name, roles, skills, … } */
let me = null;
let client = null;
let localStream = null;
let sessions = [];
/** The selected session and the tokens issued for it: { session, agent, customer, agentApi } */
let current = null;
let selectSeq = 0;

/** The selected session's case document (GET /kyc), and whether a KYC action is running. */
let kyc = null;
let kycBusy = false;
let kycSeq = 0;
let kycLoadedAt = 0;
/** The last one-time code sent from this console: { sessionId, n (otp attempts then), at, until } */
let otpSent = null;
/** The questions form, kept across re-renders so typing is not lost: see questionsTools(). */
let qForm = null;

/**
 * The desk: its socket, the agent's state as the server last said (null while not
 * connected), the state the agent last chose, the offer ringing ({ offer_id, session_id,
 * expires_at, applicant, requirements }), and the offers rung on this page (for tests).
 */
const desk = { socket: null, state: null, chosen: null, greeted: false, offer: null, accepting: false, offers: [], withdrawn: [], timer: null, checkingSignIn: false };
const ringTone = new RingTone();

const view = new CallView({ section: $('#call'), hangUp: { id: 'end-btn', label: 'End call' }, preferredRole: 'customer', metrics });
const els = elementsById();

exposeCallState(() => client, metrics, {
  session: () => current?.session ?? null,
  kyc: () => kyc,
  user: () => me,
  desk: () => ({ state: desk.state, offer: desk.offer, offers: desk.offers.slice(), withdrawn: desk.withdrawn.slice(), ringing: ringTone.ringing }),
});

/** What the signed-in account may do here (the server decides; these only shape the page). */
const can = {
  /** Take a session's agent token: join its call, run its steps, decide. */
  takeCalls: () => hasRole(me, 'agent'),
  /** Create sessions and hand out customer links. */
  handOutLinks: () => hasRole(me, 'agent', 'supervisor', 'admin'),
};

// ------------------------------------------------------------------ helpers

function setPhase(phase) {
  // 'loading' | 'lobby' | 'call' | 'ended'
  document.body.dataset.phase = phase;
  show(els.lobbySide, phase === 'lobby');
  show(els.newSessionCard, phase === 'lobby' && can.handOutLinks());
  show(els.sessionPanel, phase === 'lobby');
  show(els.callSide, phase === 'call' || phase === 'ended');
  show(els.call, phase === 'call' || phase === 'ended');
  show(els.endBtn, phase === 'call');
  show(els.muteBtn, phase === 'call');
  show(els.cameraBtn, phase === 'call');
  show(els.backBtn, phase === 'ended');
  renderKycVisibility();
}

/** The console's sign-in has ended (401): to /signin, unless a call is on (it goes on; a notice says so). */
function signedOut(err) {
  desk.socket?.close();
  stopRinging();
  if (document.body.dataset.phase !== 'call') {
    location.replace(signInUrl('/agent'));
    return;
  }
  setStatus('You were signed out', 'warning');
  showNotice(els.notice, {
    kind: 'warning',
    code: err.code,
    title: 'You were signed out',
    message: 'The call goes on. Sign in again after it to open other sessions.',
    actions: [{ label: 'Sign in', onClick: () => window.open(signInUrl('/agent'), '_blank', 'noopener') }],
  });
}

function apiFailed(err, what) {
  if (err instanceof ApiError && err.status === 401) {
    signedOut(err);
    return;
  }
  setStatus(`Could not ${what}`, 'error');
  showNotice(els.notice, {
    kind: 'error',
    code: err?.code,
    title: `Could not ${what}`,
    message: err?.message || 'Unexpected error.',
  });
}

function fmtTime(iso) {
  if (!iso) return '—';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? String(iso) : d.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
}

function fmtDate(iso) {
  if (!iso) return '—';
  const d = new Date(`${iso}T00:00:00`);
  return Number.isNaN(d.getTime()) ? String(iso) : d.toLocaleDateString(undefined, { dateStyle: 'medium' });
}

function statusClass(status) {
  if (['ended', 'completed', 'approved', 'rejected', 'expired', 'cancelled'].includes(status)) return 'badge badge-ended';
  if (['in_call', 'live', 'active', 'in_progress'].includes(status)) return 'badge badge-live';
  return 'badge';
}

function statusLabel(status) {
  return status ? String(status).replace(/_/g, ' ') : 'unknown';
}

function details(dl, rows) {
  dl.replaceChildren(...rows.flatMap(([k, v, cls]) => [h('dt', {}, k), h('dd', { class: cls }, v ?? '—')]));
}

// ------------------------------------------------------------------ signed in

async function start() {
  api = Api.console();
  setStatus('Loading…', 'busy');
  let signedIn;
  try {
    signedIn = await requireSignIn(api);
  } catch (err) {
    setStatus('Could not load the console', 'error');
    showNotice(els.notice, { kind: 'error', code: err?.code, title: 'Could not load the console', message: err?.message || 'Unexpected error.', actions: [{ label: 'Try again', onClick: () => location.reload() }] });
    return;
  }
  if (!signedIn) return; // on the way to /signin
  me = signedIn.user;
  showAccount(els.account, me, api, { onError: (err) => apiFailed(err, 'sign out') });
  els.sessionsEmpty.textContent = can.handOutLinks() ? 'No sessions yet. Create one above.' : 'No sessions yet.';
  setPhase('lobby');
  loadSessions();
  startDesk();
}

// ------------------------------------------------------------------ sessions

async function loadSessions({ quiet = false } = {}) {
  if (!api) return;
  if (!quiet) setStatus('Loading sessions…', 'busy');
  els.refreshBtn.disabled = true;
  try {
    sessions = await api.listSessions({ limit: 50 });
    renderSessions();
    if (!quiet) setStatus(current ? 'Session selected' : 'Ready', 'info');
  } catch (err) {
    apiFailed(err, 'load the sessions');
  } finally {
    els.refreshBtn.disabled = false;
  }
}

/** Who has a session, for the list: another agent's name, or nothing (nobody yet, or this agent). */
function agentOf(s) {
  return s.agent && s.agent.id !== me?.id ? s.agent.name : null;
}

function renderSessions() {
  const selected = current?.session?.id;
  els.sessionsList.replaceChildren(
    ...sessions.map((s) =>
      h(
        'li',
        {},
        h(
          'button',
          {
            type: 'button',
            class: 'session-item',
            dataset: { sessionId: s.id },
            'aria-current': s.id === selected ? 'true' : 'false',
            onclick: () => selectSession(s.id),
          },
          h('span', { class: 'name' }, s.applicant?.name || 'Unnamed applicant'),
          h('span', { class: statusClass(s.status) }, statusLabel(s.status)),
          h('span', { class: 'meta' }, [s.applicant?.reference_id || s.external_ref || s.id.slice(0, 8), fmtTime(s.created_at), agentOf(s)].filter(Boolean).join(' · ')),
        ),
      ),
    ),
  );
  show(els.sessionsEmpty, sessions.length === 0);
}

async function createSession(ev) {
  ev.preventDefault();
  if (!api) return;
  const form = new FormData(els.newSessionForm);
  const applicant = {
    name: String(form.get('name') || '').trim(),
    date_of_birth: String(form.get('date_of_birth') || ''),
    reference_id: String(form.get('reference_id') || '').trim(),
  };
  if (!applicant.name || !applicant.date_of_birth || !applicant.reference_id) {
    showNotice(els.notice, { kind: 'warning', title: 'Missing details', message: 'Fill in the name, the date of birth and the reference ID.' });
    return;
  }
  els.createSessionBtn.disabled = true;
  setStatus('Creating the session…', 'busy');
  try {
    const session = await api.createSession({ applicant });
    els.newSessionForm.reset();
    showNotice(els.notice, null);
    sessions = [session, ...sessions.filter((s) => s.id !== session.id)];
    renderSessions();
    await selectSession(session.id);
  } catch (err) {
    apiFailed(err, 'create the session');
  } finally {
    els.createSessionBtn.disabled = false;
  }
}

async function selectSession(id) {
  if (!api || (client && !['ended', 'left', 'failed'].includes(client.state))) return;
  const seq = ++selectSeq;
  const session = sessions.find((s) => s.id === id) || (await api.getSession(id).catch(() => null));
  if (!session || seq !== selectSeq) return;
  current = { session, agent: null, customer: null, agentApi: null, members: [], target: null, assignedElsewhere: false };
  kyc = null;
  otpSent = null;
  qForm = null;
  showNotice(els.kycNotice, null);
  els.auditorLink.value = '';
  show(els.auditorLink, false);
  showNotice(els.auditorLinkNotice, null);
  els.decisionNotes.value = '';
  renderSessions();
  renderSessionPanel();
  renderKyc();
  refreshKyc();
  showNotice(els.notice, null);
  if (!can.handOutLinks()) {
    // An auditor: the case and the auditor link, no call.
    renderSessionPanel();
    setStatus('Session selected', 'info');
    return;
  }
  setStatus('Preparing the call links…', 'busy');
  try {
    // The agent token first: it assigns the session to this agent (or says who has it).
    if (can.takeCalls()) {
      try {
        current.agent = await api.issueToken(id, 'agent');
      } catch (err) {
        if (!(err instanceof ApiError) || err.code !== 'assigned_to_another_agent') throw err;
        if (seq !== selectSeq) return;
        current.assignedElsewhere = true;
      }
      if (seq !== selectSeq) return;
    }
    current.customer = await api.issueToken(id, 'customer');
    if (seq !== selectSeq) return;
    await loadMembers(seq);
    renderSessionPanel();
    renderKyc(); // the KYC actions need the agent token
    if (current.assignedElsewhere) {
      const name = current.session.agent?.name || 'Another agent';
      setStatus('Assigned to another agent', 'info');
      showNotice(els.notice, { kind: 'info', code: 'assigned_to_another_agent', title: `${name} is this session's agent`, message: 'You can follow the case here; only its agent joins the call and decides.' });
    } else {
      setStatus(current.agent ? 'Send the link to the customer, then join the call' : 'Send the link to the customer', 'info');
    }
  } catch (err) {
    if (seq !== selectSeq) return;
    apiFailed(err, 'prepare the call links');
  }
}

function customerUrl(joinUrl) {
  try {
    return new URL(joinUrl, location.origin).href;
  } catch {
    return joinUrl;
  }
}

function renderSessionPanel() {
  renderKycVisibility();
  show(els.sessionEmpty, !current);
  show(els.sessionDetails, !!current);
  if (!current) return;
  const s = current.session;
  els.sessionTitle.textContent = s.applicant?.name || 'Unnamed applicant';
  els.sessionStatus.className = statusClass(s.status);
  els.sessionStatus.textContent = statusLabel(s.status);
  details(els.sessionFields, [
    ['Date of birth', fmtDate(s.applicant?.date_of_birth)],
    ['Reference ID', s.applicant?.reference_id || '—'],
    ['Session ID', s.id, 'mono'],
    ['Created', fmtTime(s.created_at)],
    ['Agent', s.agent ? (s.agent.id === me?.id ? `${s.agent.name} (you)` : s.agent.name) : 'Not assigned yet'],
  ]);
  const link = current.customer ? customerUrl(current.customer.join_url) : '';
  els.customerLink.value = link;
  els.copyLinkBtn.disabled = !link;
  els.copyLinkBtn.textContent = 'Copy';
  els.openLink.href = link || '#';
  show(els.openLink, !!link);
  els.linkHint.textContent = current.customer ? `Send this link to the customer. It works until ${fmtTime(current.customer.expires_at)}.` : '';
  // An auditor's account hands out no links and adds no applicants.
  show(els.customerLinkBox, can.handOutLinks());
  show(els.groupBox, can.handOutLinks());
  els.joinBtn.disabled = !current.agent;
  els.joinHint.textContent = current.agent
    ? 'Your camera and microphone will turn on.'
    : current.assignedElsewhere
      ? 'Only the session\'s agent joins the call.'
      : !can.takeCalls()
        ? 'Only an agent\'s account joins calls.'
        : '';
}

async function copyLink() {
  const ok = await copyText(els.customerLink.value, els.customerLink);
  els.copyLinkBtn.textContent = ok ? 'Copied' : 'Select and copy';
  setTimeout(() => {
    els.copyLinkBtn.textContent = 'Copy';
  }, 2000);
}

// ------------------------------------------------------------------ the desk: presence and ringing

function startDesk() {
  if (!can.takeCalls() || desk.socket) return;
  show(els.presence, true);
  desk.socket = new DeskSocket({
    path: '/v1/desk/ws',
    onOpen: () => {
      desk.greeted = false;
      renderPresence();
    },
    onMessage: onDeskMessage,
    onDown: deskDown,
  });
  renderPresence();
}

function onDeskMessage(msg) {
  switch (msg.type) {
    case 'state': {
      const first = !desk.greeted;
      desk.greeted = true;
      desk.state = msg.state;
      // Back after a drop that outlasted the grace period: the agent's choice still holds.
      if (first && msg.state === 'offline' && desk.chosen && desk.chosen !== 'offline') desk.socket.send({ type: 'state', state: desk.chosen });
      renderPresence();
      break;
    }
    case 'offer':
      ring(msg);
      break;
    case 'withdrawn':
      desk.withdrawn.push({ offer_id: msg.offer_id, session_id: msg.session_id });
      if (desk.withdrawn.length > 50) desk.withdrawn.shift();
      if (desk.offer?.offer_id === msg.offer_id) {
        const name = desk.offer.applicant || 'a customer';
        stopRinging();
        showNotice(els.deskNotice, {
          kind: 'warning',
          code: 'offer_missed',
          title: `Missed: ${name}`,
          message: 'The call stopped ringing: it was not answered in time, went to another agent, or the customer left the queue.',
        });
      }
      break;
    case 'connected':
      stopRinging();
      showNotice(els.deskNotice, null);
      openAcceptedSession(msg.session_id);
      break;
    case 'error':
      deskRefused(msg);
      break;
    default:
      break;
  }
}

function deskRefused({ code, message }) {
  if (code === 'unknown_offer') {
    stopRinging();
    showNotice(els.deskNotice, { kind: 'info', code, title: 'That call is no longer available', message: 'It went to another agent, or the customer left the queue.' });
    return;
  }
  if (desk.accepting) {
    desk.accepting = false;
    renderRing();
  }
  const text = {
    agent_in_call: ['You are in a call', 'Change your status after the call.'],
  }[code] || ['The desk refused that', message || code];
  showNotice(els.deskNotice, { kind: 'warning', code, title: text[0], message: text[1] });
}

/** The desk's socket dropped (or could not open): it reconnects; a console signed out goes to /signin. */
function deskDown({ attempt }) {
  desk.state = null;
  renderPresence();
  renderRing();
  if (attempt < 2 || desk.checkingSignIn) return;
  desk.checkingSignIn = true;
  api
    .me()
    .catch((err) => {
      if (err instanceof ApiError && err.status === 401) signedOut(err);
    })
    .finally(() => {
      desk.checkingSignIn = false;
    });
}

function renderPresence() {
  const s = desk.socket?.open ? desk.state : null;
  document.body.dataset.presence = s || 'connecting';
  els.presenceState.dataset.state = s || 'connecting';
  els.presenceState.textContent = s ? agentStateLabel(s) : desk.socket?.everOpened ? 'Reconnecting…' : 'Connecting…';
  for (const btn of [els.presenceAvailableBtn, els.presenceBreakBtn, els.presenceOfflineBtn]) {
    btn.setAttribute('aria-pressed', String(btn.dataset.set === s));
    // In a call the desk keeps the agent busy; the state changes after it (wrap-up).
    btn.disabled = !s || s === 'busy';
    btn.title = s === 'busy' ? 'You are in a call' : '';
  }
}

function setPresence(state) {
  ringTone.unlock(); // a click: the ring may make a sound from now on
  desk.chosen = state;
  if (!desk.socket?.send({ type: 'state', state })) {
    showNotice(els.deskNotice, { kind: 'warning', code: 'desk_offline', title: 'Not connected to the desk', message: 'Reconnecting… try again in a moment.' });
  }
}

/** A customer rings this console until `expires_at` (or until withdrawn). */
function ring(offer) {
  desk.offer = offer;
  desk.accepting = false;
  desk.offers.push({ offer_id: offer.offer_id, session_id: offer.session_id, applicant: offer.applicant, attempt: offer.attempt });
  if (desk.offers.length > 50) desk.offers.shift();
  showNotice(els.deskNotice, null);
  els.ring.dataset.offerId = offer.offer_id;
  els.ring.dataset.sessionId = offer.session_id;
  els.ringApplicant.textContent = offer.applicant || 'A customer';
  els.ringRequirements.textContent = skillsText(offer.requirements, 'Any agent can take this call');
  // A scheduled call rings at its slot, perhaps before the customer has opened their link.
  const slot = offer.scheduled_at ? new Date(offer.scheduled_at).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' }) : null;
  els.ringTitle.textContent = slot ? `Scheduled call · ${slot}` : 'Incoming customer';
  els.ring.dataset.customerConnected = String(offer.customer_connected !== false);
  if (offer.customer_connected === false) els.ringRequirements.textContent += ' · The customer has not joined yet: accept to open the session, they join you when they open their link.';
  show(els.ring, true);
  ringTone.start();
  clearInterval(desk.timer);
  desk.timer = setInterval(renderRing, 250);
  renderRing();
}

function renderRing() {
  const o = desk.offer;
  if (!o) return;
  const left = Date.parse(o.expires_at) - Date.now();
  els.ringCountdown.textContent = String(Math.max(0, Math.ceil(left / 1000)));
  // The server withdraws an offer that rang out; if that word is lost, stop a little later.
  if (left < -5000) {
    stopRinging();
    return;
  }
  const inCall = !!client && !['ended', 'left', 'failed'].includes(client.state);
  const online = !!desk.socket?.open;
  els.ringAcceptBtn.disabled = desk.accepting || inCall || !online;
  els.ringDeclineBtn.disabled = desk.accepting || !online;
  els.ringAcceptBtn.textContent = desk.accepting ? 'Connecting…' : 'Accept';
  els.ringHint.textContent = inCall ? 'You are in a call: finish it to take the next customer.' : !online ? 'Reconnecting to the desk…' : '';
  show(els.ringHint, !!els.ringHint.textContent);
}

function stopRinging() {
  ringTone.stop();
  clearInterval(desk.timer);
  desk.timer = null;
  desk.offer = null;
  desk.accepting = false;
  show(els.ring, false);
  delete els.ring.dataset.offerId;
  delete els.ring.dataset.sessionId;
}

function acceptOffer() {
  const o = desk.offer;
  if (!o || desk.accepting) return;
  ringTone.stop();
  desk.accepting = true;
  desk.socket.send({ type: 'accept', offer_id: o.offer_id });
  renderRing();
}

function declineOffer() {
  const o = desk.offer;
  if (!o) return;
  desk.socket.send({ type: 'decline', offer_id: o.offer_id });
  stopRinging();
}

/** The customer this agent accepted: open the session and join its call, as if picked by hand. */
async function openAcceptedSession(id) {
  if (client && !['ended', 'left', 'failed'].includes(client.state)) {
    showNotice(els.deskNotice, { kind: 'warning', title: 'A customer was connected to you during a call', message: 'Finish this call, then open their session from the list.' });
    return;
  }
  if (document.body.dataset.phase !== 'lobby') backToLobby();
  await selectSession(id);
  if (current?.session.id === id && current.agent) await joinCall();
}

// ------------------------------------------------------------------ call

async function joinCall() {
  if (!current?.agent) return;
  metrics.markJoinClicked();
  els.joinBtn.disabled = true;
  showNotice(els.notice, null);
  const unsupported = checkBrowserSupport();
  if (unsupported) {
    setStatus(unsupported.title, 'error');
    showNotice(els.notice, { kind: 'error', code: unsupported.code, title: unsupported.title, message: unsupported.message });
    els.joinBtn.disabled = false;
    return;
  }
  setStatus('Starting your camera and microphone…', 'busy');
  try {
    localStream = await getLocalMedia();
  } catch (err) {
    setStatus(err.title || 'Camera problem', 'error');
    showNotice(els.notice, { kind: 'error', code: err.code, title: err.title, message: err.message });
    els.joinBtn.disabled = false;
    return;
  }

  view.resetRemote();
  view.setLocalStream(localStream);
  client = new RtcClient({ token: current.agent.token, localStream, debug: new URLSearchParams(location.search).has('debug') });
  view.attach(client);
  wireClient(client);
  const s = current.session;
  details(els.callSessionDetails, [
    ['Applicant', s.applicant?.name || '—'],
    ['Date of birth', fmtDate(s.applicant?.date_of_birth)],
    ['Reference ID', s.applicant?.reference_id || '—'],
    ['Session ID', s.id, 'mono'],
  ]);
  setPhase('call');
  renderParticipants();
  client.start();
}

function wireClient(c) {
  c.on('state', ({ state }) => {
    if (c !== client) return;
    if (state === 'connecting') setStatus('Connecting…', 'busy');
    else if (state === 'reconnecting') setStatus('Connection lost. Reconnecting…', 'warning');
    else if (state === 'joined') updateCallStatus();
    else if (state === 'ended') callOver('ended');
    else if (state === 'left') callOver('left');
    renderParticipants();
  });
  c.on('peers', () => {
    renderParticipants();
    updateCallStatus();
  });
  c.on('joined', renderParticipants);
  c.on('peer_left', ({ peer, reason }) => {
    if (peer.role === 'customer' && reason !== 'reconnecting' && reason !== 'replaced') {
      setStatus('The customer left the call', 'warning');
    }
  });
  c.on('server_error', ({ code, message }) => {
    showNotice(els.notice, { kind: 'warning', code, title: 'The server refused an action', message: message || code });
  });
  // The call view stopped the camera and says why (see CallView).
  c.on('fatal', () => {
    localStream = null;
    setPhase('ended');
  });
}

function updateCallStatus() {
  if (!client || client.state !== 'joined') return;
  const customer = [...client.peers.values()].find((p) => p.role === 'customer');
  if (view.remoteVideo.dataset.playing === 'true' && view.primaryId) setStatus(view.text.live, 'live');
  else if (customer) setStatus('Customer joined. Connecting video…', 'busy');
  else setStatus(view.text.waiting, 'busy');
}

function callOver(how) {
  stopStream(localStream);
  localStream = null;
  view.timer.stop();
  setPhase('ended');
  const duration = view.timer.startedAt != null ? ` after ${formatDuration(view.timer.elapsedMs)}` : '';
  setStatus(how === 'ended' ? `The call has ended${duration}.` : `You left the call${duration}.`, 'ended');
  renderParticipants();
}

async function endCall() {
  if (!client) return;
  els.endBtn.disabled = true;
  setStatus('Ending the call…', 'busy');
  await client.end();
  els.endBtn.disabled = false;
}

function backToLobby() {
  view.resetRemote();
  view.detach();
  client = null;
  current = null;
  kyc = null;
  otpSent = null;
  qForm = null;
  showNotice(els.notice, null);
  renderSessionPanel();
  setPhase('lobby');
  loadSessions();
}

/** The agent's button that mutes (or unmutes) a participant's `kind` ('audio' | 'video'): `labels` [to mute, to unmute]. */
function peerMuteButton(p, kind, live, cls, labels) {
  const muted = !!p.mutedBy[kind];
  return h(
    'button',
    { type: 'button', class: `btn btn-sm ${cls}`, dataset: { peerId: p.peer_id, kind, muted: String(muted) }, disabled: !live, onclick: () => muteRemote(p.peer_id, kind, !muted) },
    labels[Number(muted)],
  );
}

function renderParticipants() {
  if (!client) {
    els.participants.replaceChildren();
    return;
  }
  const items = [];
  const me = client.self;
  items.push(
    h(
      'li',
      { class: 'participant', dataset: { peerId: me?.peer_id || '' } },
      h('span', { class: 'who' }, 'You (agent)', h('small', {}, client.state === 'joined' ? 'connected' : client.state)),
      h('span', { class: 'badges' }, mediaBadges({ ...client.mediaState, mutedBy: client.mutedByAgent })),
    ),
  );
  const live = client.state === 'joined';
  for (const p of client.peers.values()) {
    items.push(
      h(
        'li',
        { class: 'participant', dataset: { peerId: p.peer_id, role: p.role || '' } },
        h('span', { class: 'who' }, roleLabel(p.role), h('small', { title: p.peer_id }, p.participant_id || p.peer_id)),
        h('span', { class: 'badges' }, mediaBadges(p)),
        p.role === 'observer'
          ? null
          : h(
              'span',
              { class: 'actions' },
              peerMuteButton(p, 'audio', live, 'peer-mute-btn', ['Mute', 'Unmute']),
              peerMuteButton(p, 'video', live, 'peer-video-btn', ['Pause video', 'Resume video']),
            ),
      ),
    );
  }
  els.participants.replaceChildren(...items);
}

function muteRemote(peerId, kind, muted) {
  if (!client?.mute(peerId, kind, muted)) return;
  // The server confirms with `muted` to everyone; show the change right away meanwhile.
  const p = client.peers.get(peerId);
  if (p) p.mutedBy[kind] = muted;
  renderParticipants();
}

// ------------------------------------------------------------------ KYC steps

function renderKycVisibility() {
  const phase = document.body.dataset.phase;
  show(els.kycPanel, !!current && phase !== 'loading');
  updateCaptureButtons();
}

function remoteVideoReady() {
  const v = els.remoteVideo;
  return document.body.dataset.phase === 'call' && v?.dataset.playing === 'true' && v.videoWidth > 0 && v.videoHeight > 0;
}

function updateCaptureButtons() {
  const ready = remoteVideoReady() && !!current?.agent;
  els.captureFaceBtn.disabled = kycBusy || !ready;
  els.livenessBtn.disabled = kycBusy || !ready;
  els.captureDocBtn.disabled = kycBusy || !ready;
  els.docFile.disabled = kycBusy || !current?.agent;
  els.kycToolsHint.textContent = ready
    ? 'Captures take the current frame of the customer\'s video at its full size.'
    : 'Captures from the video need the customer\'s video on screen.';
  // Decided once; open again only after a "recapture" audit (the latest audit).
  const decided = !!kyc?.agent_decision && kyc.audits?.at(-1)?.verdict !== 'recapture';
  els.approveBtn.disabled = kycBusy || !current?.agent || decided;
  els.rejectBtn.disabled = kycBusy || !current?.agent || decided;
}

function renderKyc() {
  if (!current) return;
  const applicantName = (current.target?.session || current.session).applicant?.name ?? null;
  if (!kyc) {
    els.kycSteps.replaceChildren();
    els.kycRec.replaceChildren();
    els.kycRec.dataset.result = '';
    els.decisionState.textContent = '';
  } else {
    renderSteps(els.kycSteps, kyc, { applicantName, onDecide: decideStep, busy: kycBusy || !current.agent, stepTools });
    renderRecommendation(els.kycRec, kyc);
    const d = kyc.agent_decision;
    els.decisionState.textContent = d ? `Decided: ${resultLabel(d.result)}${kyc.audited ? ' · audited' : ''}` : 'Not decided yet.';
  }
  updateCaptureButtons();
}

async function refreshKyc() {
  if (!api || !current) return;
  const id = targetId();
  const seq = ++kycSeq;
  kycLoadedAt = Date.now();
  try {
    const doc = await api.getKyc(id);
    if (seq !== kycSeq || targetId() !== id) return;
    kyc = doc;
    renderKyc();
  } catch (err) {
    if (seq !== kycSeq) return;
    kycFailed(err, 'load the verification steps');
  }
}

/** The applicant whose steps the panel shows: the session's own, or another applicant of a group call. */
function targetId() {
  return current?.target?.id || current?.session.id;
}

/** The agent token for the applicant shown (each applicant's session has its own). */
function targetAgent() {
  return current?.target ? current.target.agent : current?.agent;
}

/** The API as the agent of the applicant shown (its agent token), or null before it is issued. */
function agentApi() {
  const agent = targetAgent();
  if (!agent) return null;
  if (current.agentApi?.token !== agent.token) current.agentApi = new Api(agent.token);
  return current.agentApi;
}

// ------------------------------------------------------------------ group calls

/** The other applicants of a group call (the parent's `participants`), with their customer links. */
async function loadMembers(seq) {
  const doc = await api.getSession(current.session.id).catch(() => null);
  if (!doc || seq !== selectSeq) return;
  current.session = { ...current.session, agent: doc.agent ?? current.session.agent, participants: doc.participants || [] };
  // Taking the agent token may have assigned the session: the list says to whom.
  sessions = sessions.map((s) => (s.id === doc.id ? { ...s, agent: doc.agent } : s));
  renderSessions();
  const members = [];
  for (const id of doc.participants || []) {
    const [session, customer] = await Promise.all([api.getSession(id), api.issueToken(id, 'customer')]);
    if (seq !== selectSeq) return;
    members.push({ id, session, customer, agent: null });
  }
  current.members = members;
  renderGroup();
}

function renderGroup() {
  if (!current) return;
  const members = current.members || [];
  els.groupCount.textContent = members.length ? `(${members.length})` : '';
  if (members.length) els.groupBox.open = true;
  els.groupList.replaceChildren(
    ...members.map((m, i) => {
      const link = customerUrl(m.customer.join_url);
      const copy = h('button', { type: 'button', class: 'btn btn-sm', onclick: async (ev) => { ev.target.textContent = (await copyText(link, ev.target)) ? 'Copied' : 'Copy failed'; } }, 'Copy link');
      return h('li', { dataset: { sessionId: m.id } }, h('span', {}, `${i + 2}. ${m.session.applicant?.name || 'Applicant'}`), copy);
    }),
  );
  // The steps panel's applicant picker.
  show(els.applicantSelect, members.length > 0);
  const options = [{ id: current.session.id, name: current.session.applicant?.name }, ...members.map((m) => ({ id: m.id, name: m.session.applicant?.name }))];
  els.applicantSelect.replaceChildren(...options.map((o, i) => h('option', { value: o.id }, `${i + 1}. ${o.name || 'Applicant'}`)));
  els.applicantSelect.value = targetId();
}

async function addApplicant(ev) {
  ev.preventDefault();
  const name = els.addApplicantName.value.trim();
  if (!api || !current || !name) return;
  const seq = selectSeq;
  try {
    await api.request('POST', '/v1/sessions', { mode: 'live_agent', applicant: { name }, workflow: current.session.workflow, parent_id: current.session.id });
    els.addApplicantName.value = '';
    await loadMembers(seq);
  } catch (err) {
    apiFailed(err, 'add the applicant');
  }
}

/** Shows another applicant's steps: the panel acts with that applicant's agent token. */
async function pickApplicant() {
  if (!current) return;
  const id = els.applicantSelect.value;
  const member = (current.members || []).find((m) => m.id === id);
  try {
    if (member && !member.agent && current.agent) member.agent = await api.issueToken(id, 'agent');
  } catch (err) {
    apiFailed(err, 'open the applicant');
    return;
  }
  current.target = member || null; // { id, session, customer, agent }
  // The main video (what the capture buttons take) shows this applicant's customer: a group
  // applicant's participant id ends with "@" and the first 8 hex digits of their session.
  if (client) {
    const tag = member ? `@${id.replace(/-/g, '').slice(0, 8)}` : null;
    const peer = [...client.peers.values()].find((p) => p.role === 'customer' && (tag ? p.participant_id?.endsWith(tag) : !p.participant_id?.includes('@')));
    view.focus(peer ? peer.peer_id : null);
  }
  current.agentApi = null;
  kyc = null;
  qForm = null;
  renderKyc();
  refreshKyc();
}

/** Runs fn(api) with the agent token; when that token has expired, issues a new one for the same participant and retries once. */
async function asAgent(fn) {
  const a = agentApi();
  if (!a) throw new ApiError(0, 'agent_token_missing', 'The agent token for this session is not ready yet. Try again in a moment.');
  try {
    return await fn(a);
  } catch (err) {
    if (!(err instanceof ApiError) || err.status !== 401 || !api || !current) throw err;
    const sid = targetId();
    const fresh = await api.issueToken(sid, 'agent');
    if (targetId() !== sid) throw err;
    if (current.target) current.target.agent = fresh;
    else current.agent = fresh;
    try {
      return await fn(agentApi());
    } catch (again) {
      // Still refused: a problem with this session's token, not with the sign-in (kycFailed
      // would otherwise send the console to /signin).
      if (again instanceof ApiError && again.status === 401) throw new ApiError(403, again.code, again.message);
      throw again;
    }
  }
}

function kycFailed(err, what) {
  if (err instanceof ApiError && err.status === 401) {
    apiFailed(err, what);
    return;
  }
  showNotice(els.kycNotice, { kind: 'error', code: err?.code, title: `Could not ${what}`, message: err?.message || 'Unexpected error.' });
}

/** Runs one KYC action with the buttons disabled, then refreshes the panel. */
async function kycAction(what, fn) {
  if (!api || !current?.agent || kycBusy) return;
  kycBusy = true;
  renderKyc();
  showNotice(els.kycNotice, { kind: 'info', title: `${what[0].toUpperCase()}${what.slice(1)}…` });
  try {
    const result = await fn(targetId());
    showNotice(els.kycNotice, result || null);
  } catch (err) {
    kycFailed(err, what);
  } finally {
    kycBusy = false;
    await refreshKyc();
    renderKyc();
  }
}

/** A notice for a step attempt's outcome (no personal data). */
function attemptNotice(step, attempt) {
  const label = STEP_LABELS[step] || step;
  const errors = (attempt?.errors || []).map((e) => e.message || e.code).join(' ');
  if (attempt?.outcome === 'passed') return { kind: 'success', title: `${label}: passed` };
  if (attempt?.outcome === 'failed') return { kind: 'warning', title: `${label}: failed`, message: errors || 'The check did not pass.' };
  return { kind: 'error', title: `${label}: could not run`, message: errors || 'The check could not run. Retake it.' };
}

/** The current frame of the customer's video at its full size, as a JPEG Blob. */
function grabFrame() {
  const v = els.remoteVideo;
  const canvas = document.createElement('canvas');
  canvas.width = v.videoWidth;
  canvas.height = v.videoHeight;
  canvas.getContext('2d').drawImage(v, 0, 0, canvas.width, canvas.height);
  return new Promise((resolve, reject) =>
    canvas.toBlob((b) => (b ? resolve(b) : reject(new ApiError(0, 'capture_failed', 'Could not take a picture from the video.'))), 'image/jpeg', 0.92),
  );
}

async function captureAndRun(id, kind, blob, step, extra = {}) {
  const image = await blobToBase64(blob);
  const capture = await asAgent((a) => a.addCapture(id, kind, image));
  const res = await asAgent((a) => a.stepAttempt(id, step, { capture_id: capture.id, ...extra }));
  return attemptNotice(step, res?.attempt);
}

function captureFace() {
  if (!remoteVideoReady()) return;
  kycAction('capture the face', async (id) => captureAndRun(id, 'face', await grabFrame(), 'face'));
}

const MOVE_LABELS = { turn_left: 'turn left', turn_right: 'turn right', look_up: 'look up', look_down: 'look down' };
const LIVENESS_FPS = 4;

/**
 * Face + liveness: the server issues a head-movement challenge and prompts the customer's
 * page; meanwhile frames of the customer's video are captured (LIVENESS_FPS a second, for the
 * moves plus a margin), uploaded, and sent to the face step, which checks the moves, the
 * anti-spoofing model and the face match on the most frontal frame.
 */
function runLiveness() {
  if (!remoteVideoReady()) return;
  kycAction('run the face and liveness check', async (id) => {
    const res = await asAgent((a) => a.stepAttempt(id, 'face', { action: 'challenge' }));
    const ch = res.challenge;
    if (!res.customers_prompted) {
      throw new ApiError(0, 'customer_not_prompted', 'The customer\'s page did not receive the prompt: check they are in the call, then try again.');
    }
    const seconds = ch.moves.length * res.seconds_per_move + 3;
    const n = Math.max(ch.min_frames, Math.min(ch.max_frames, Math.round(seconds * LIVENESS_FPS)));
    const every = (seconds * 1000) / n;
    const moves = ch.moves.map((m) => MOVE_LABELS[m] || m).join(', then ');
    showNotice(els.kycNotice, { kind: 'info', title: 'Liveness check running', message: `The customer was asked to ${moves}. Capturing ${n} frames over ${seconds} s…` });
    const shots = [];
    const t0 = performance.now();
    for (let i = 0; i < n; i++) {
      const wait = t0 + i * every - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      if (!remoteVideoReady()) throw new ApiError(0, 'video_lost', 'The customer\'s video stopped during the check. Try again.');
      shots.push({ blob: await grabFrame(), t: Math.round(performance.now() - t0) });
    }
    showNotice(els.kycNotice, { kind: 'info', title: 'Checking liveness and face match…' });
    const frames = [];
    for (const s of shots) {
      const c = await asAgent(async (a) => a.addCapture(id, 'frame', await blobToBase64(s.blob)));
      frames.push({ capture_id: c.id, t_ms: s.t - shots[0].t });
    }
    const out = await asAgent((a) => a.stepAttempt(id, 'face', { liveness: { challenge_id: ch.challenge_id, frames } }));
    return attemptNotice('face', out?.attempt);
  });
}

function captureDocument() {
  if (!remoteVideoReady()) return;
  const kind = els.docKind.value;
  kycAction('capture the document', async (id) => captureAndRun(id, 'document', await grabFrame(), 'document', { kind }));
}

function uploadDocument() {
  const file = els.docFile.files?.[0];
  if (!file) return;
  const kind = els.docKind.value;
  kycAction('check the document image', async (id) => {
    try {
      return await captureAndRun(id, 'document', file, 'document', { kind });
    } finally {
      els.docFile.value = '';
    }
  });
}

function decideStep(step, verdict) {
  kycAction(verdict === 'verified' ? 'verify the step' : 'decline the step', async (id) => {
    await asAgent((a) => a.stepDecision(id, step, verdict));
    return { kind: verdict === 'verified' ? 'success' : 'info', title: `${STEP_LABELS[step] || step}: ${verdict === 'verified' ? 'verified' : 'declined'}` };
  });
}

function decideCase(result) {
  const notes = els.decisionNotes.value.trim();
  const group = (current?.members || []).length > 0;
  kycAction(result === 'approved' ? 'approve the case' : 'reject the case', async () => {
    // A group call is decided on its own session, for every applicant.
    await new Api(current.agent.token).decide(current.session.id, result, notes || undefined);
    const what = group ? 'Group' : 'Case';
    return { kind: result === 'approved' ? 'success' : 'info', title: `${what} ${result === 'approved' ? 'approved' : 'rejected'}` };
  });
}

// ------------------------------------------------------------------ OTP and questions cards

/** Extra controls in the steps list (renderSteps' stepTools): only for the steps of the workflow. */
function stepTools(step) {
  if (!current) return null;
  if (step.type === 'otp') return otpTools(step);
  if (step.type === 'questions') return { node: questionsTools(step), details: false };
  return null;
}

function clock(ms) {
  return new Date(ms).toLocaleTimeString(undefined, { timeStyle: 'short' });
}

/** [state, text] of the OTP step: what the agent should do next. */
function otpStatus(step) {
  const attempts = step.attempts || [];
  const latest = attempts.at(-1);
  const sent = otpSent?.sessionId === current?.session.id ? otpSent : null;
  // The latest attempt, if the customer made it after the code this console sent.
  const fresh = latest && (!sent || latest.n > sent.n) ? latest : null;
  const codes = (fresh?.errors || []).map((e) => e.code);
  if (fresh?.outcome === 'passed') return ['passed', 'The customer entered the right code.'];
  if (codes.includes('otp_attempts_exhausted')) return ['exhausted', 'Too many wrong codes: this code no longer works. Send a new one.'];
  if (sent && Date.now() > sent.until) return ['expired', 'The code has expired. Send a new one.'];
  if (codes.includes('otp_mismatch')) {
    const left = fresh.data?.tries_left;
    return ['mismatch', `The customer entered a wrong code${left != null ? `: ${left} ${left === 1 ? 'try' : 'tries'} left` : ''}.`];
  }
  if (sent) return ['sent', `Code sent at ${clock(sent.at)}, valid until ${clock(sent.until)}. Ask the customer to type it on their page.`];
  if (fresh) return [fresh.outcome || 'none', 'The code could not be checked. Send a new one.'];
  return ['none', 'No code sent yet. Send one, then ask the customer to type it on their page.'];
}

function otpWaiting() {
  const step = kyc?.steps?.find((s) => s.type === 'otp');
  return !!step && ['sent', 'mismatch'].includes(otpStatus(step)[0]);
}

function otpTools(step) {
  const [state, text] = otpStatus(step);
  const again = state !== 'none';
  return h(
    'div',
    { class: 'kyc-step-tools otp-tools' },
    h('p', { id: 'otp-status', class: `kyc-tool-status kyc-tool-${state}`, dataset: { state } }, text),
    h(
      'div',
      { class: 'kyc-step-actions' },
      h('button', { type: 'button', id: 'otp-send-btn', class: 'btn btn-sm btn-primary', disabled: kycBusy || !current.agent, onclick: sendOtp }, again ? 'Send a new code' : 'Send code'),
    ),
  );
}

function sendOtp() {
  const n = kyc?.steps?.find((s) => s.type === 'otp')?.attempts?.length ?? 0;
  kycAction('send the code', async (id) => {
    const r = await asAgent((a) => a.sendOtp(id));
    const secs = Number(r?.expires_in_secs) || 0;
    const at = Date.now();
    otpSent = { sessionId: id, n, at, until: at + secs * 1000 };
    const valid = secs >= 120 ? `${Math.round(secs / 60)} minutes` : `${secs} seconds`;
    return { kind: 'success', title: 'Code sent to the customer', message: `It works for ${valid}. Ask the customer to type it on their page.` };
  });
}

/** Case and spacing do not make an answer different (as the server compares them). */
const sameAnswer = (a, b) => String(a).trim().split(/\s+/).join(' ').toLowerCase() === String(b).trim().split(/\s+/).join(' ').toLowerCase();

/**
 * Under a question: the lender's record when it gave one (always shown: the agent compares
 * what the customer says with it), else "Original answer" once the text differs from the
 * first answer recorded.
 */
function showOriginal(f) {
  const value = f.input.value.trim();
  const differs = f.original != null && value !== '' && !sameAnswer(value, f.original);
  if (f.expected != null) {
    f.originalEl.textContent = `Lender's record: ${f.expected}${differs ? ' (the answer differs)' : ''}`;
    show(f.originalEl, true);
  } else {
    f.originalEl.textContent = differs ? `Original answer: ${f.original || '—'}` : '';
    show(f.originalEl, differs);
  }
  f.field.classList.toggle('kyc-edited', differs);
}

function buildQuestionsForm(sessionId, questions, key) {
  const fields = new Map();
  const items = questions.map((q, i) => {
    const inputId = `question-${i}`;
    const input = h('input', { type: 'text', id: inputId, maxlength: '1000', autocomplete: 'off', dataset: { questionId: q.id } });
    const originalEl = h('p', { class: 'kyc-original', hidden: true });
    const field = h('div', { class: 'field', dataset: { questionId: q.id } }, h('label', { for: inputId }, q.question), input, originalEl);
    const f = { input, originalEl, field, original: q.expected ?? null, expected: q.expected ?? null };
    input.addEventListener('input', () => {
      input.dataset.dirty = 'true';
      showOriginal(f);
    });
    fields.set(q.id, f);
    return field;
  });
  const save = h('button', { type: 'submit', id: 'questions-save-btn', class: 'btn btn-sm btn-primary' }, 'Save answers');
  const el = h('form', { class: 'kyc-step-tools questions-form', autocomplete: 'off', onsubmit: saveAnswers }, items, h('div', { class: 'kyc-step-actions' }, save));
  return { sessionId, key, el, fields, save };
}

/** The questions card: one input per question, prefilled with the latest answers (unless being edited). */
function questionsTools(step) {
  const questions = questionsOf(step, kyc?.questions);
  const key = questions.map((q) => q.id).join('\n');
  if (!qForm || qForm.sessionId !== targetId() || qForm.key !== key) qForm = buildQuestionsForm(targetId(), questions, key);
  const latest = new Map((step.attempts?.at(-1)?.data?.answers || []).map((a) => [a.id, a]));
  for (const [id, f] of qForm.fields) {
    const a = latest.get(id);
    f.original = a?.original ?? f.expected ?? null;
    if (!f.input.dataset.dirty) f.input.value = a?.value ?? '';
    showOriginal(f);
  }
  qForm.save.disabled = kycBusy || !current.agent;
  return qForm.el;
}

function saveAnswers(ev) {
  ev.preventDefault();
  const form = qForm;
  if (!form) return;
  const answers = [...form.fields].map(([id, f]) => ({ id, value: f.input.value.trim() }));
  const empty = [...form.fields.values()].find((f) => !f.input.value.trim());
  if (empty) {
    showNotice(els.kycNotice, { kind: 'warning', code: 'answer_missing', title: 'Answer every question before saving' });
    empty.input.focus();
    return;
  }
  kycAction('save the answers', async (id) => {
    const r = await asAgent((a) => a.answerQuestions(id, answers));
    // Saved: the inputs show the recorded answers again.
    for (const f of form.fields.values()) delete f.input.dataset.dirty;
    return attemptNotice('questions', r?.attempt);
  });
}

/** Why an auditor link was refused, in words (the console's roles decide: see issue_token). */
function auditorLinkRefused(err) {
  if (err?.code === 'maker_checker') {
    return { title: 'You are this case\'s agent', message: 'Someone else must audit it: an auditor or a supervisor opens the session in their console and creates the link there.' };
  }
  if (err?.code === 'forbidden_role') {
    return { title: 'Auditor links are for auditors and supervisors', message: 'Your account cannot create one. Ask an auditor or a supervisor to open this session in their console.' };
  }
  return { title: 'Could not create the auditor link', message: err?.message || 'Unexpected error.' };
}

async function issueAuditorLink() {
  if (!api || !current) return;
  els.auditorLinkBtn.disabled = true;
  showNotice(els.auditorLinkNotice, null);
  try {
    const t = await api.issueToken(current.session.id, 'observer');
    els.auditorLink.value = new URL(`/audit#token=${encodeURIComponent(t.token)}`, location.origin).href;
    show(els.auditorLink, true);
    els.auditorLink.select();
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) apiFailed(err, 'create the auditor link');
    else showNotice(els.auditorLinkNotice, { kind: err?.status === 403 ? 'warning' : 'error', code: err?.code, ...auditorLinkRefused(err) });
  } finally {
    els.auditorLinkBtn.disabled = false;
  }
}

// ------------------------------------------------------------------ start

els.newSessionForm.addEventListener('submit', createSession);
els.refreshBtn.addEventListener('click', () => loadSessions());
els.copyLinkBtn.addEventListener('click', copyLink);
els.joinBtn.addEventListener('click', joinCall);
els.endBtn.addEventListener('click', endCall);
els.backBtn.addEventListener('click', backToLobby);
els.kycRefreshBtn.addEventListener('click', () => refreshKyc());
els.captureFaceBtn.addEventListener('click', captureFace);
els.livenessBtn.addEventListener('click', runLiveness);
els.addApplicantForm.addEventListener('submit', addApplicant);
els.applicantSelect.addEventListener('change', pickApplicant);
els.captureDocBtn.addEventListener('click', captureDocument);
els.docFile.addEventListener('change', uploadDocument);
els.approveBtn.addEventListener('click', () => decideCase('approved'));
els.rejectBtn.addEventListener('click', () => decideCase('declined'));
els.auditorLinkBtn.addEventListener('click', issueAuditorLink);
for (const btn of [els.presenceAvailableBtn, els.presenceBreakBtn, els.presenceOfflineBtn]) btn.addEventListener('click', () => setPresence(btn.dataset.set));
els.ringAcceptBtn.addEventListener('click', acceptOffer);
els.ringDeclineBtn.addEventListener('click', declineOffer);
// Any click lets the ring make a sound later (browsers block audio until then).
document.addEventListener('pointerdown', () => ringTone.unlock(), { once: true });
// The capture buttons follow the customer's video.
setInterval(updateCaptureButtons, 1000);
// And the steps the customer does on their page (consent, location, the code) show up without
// a click: every 10 s, every 3 s while a code is waiting; not while the agent types an answer.
setInterval(() => {
  if (!current || kycBusy || document.hidden || els.kycPanel.hidden) return;
  if (qForm?.el.contains(document.activeElement)) return;
  if (Date.now() - kycLoadedAt >= (otpWaiting() ? 3000 : 10_000)) refreshKyc();
}, 1000);
window.addEventListener('pagehide', () => client?.leave());
// Keep the list fresh while waiting in the lobby.
setInterval(() => {
  if (document.body.dataset.phase === 'lobby' && !document.hidden) loadSessions({ quiet: true });
}, 15_000);

renderSessionPanel();
start();
