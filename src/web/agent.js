// Agent console (/agent#key=…): sessions, customer links, and the agent's side of the call.
// Personal data (applicant names, dates of birth) is shown on screen only: never logged.

import { Api, ApiError, blobToBase64 } from './api.js';
import { renderSteps, renderRecommendation, STEP_LABELS, resultLabel } from './kyc.js';
import { RtcClient } from './rtc.js';
import { checkBrowserSupport, getLocalMedia, stopStream } from './media.js';
import { CallView, mediaBadges } from './call.js';
import { $, h, show, setStatus, showNotice, createMetrics, readUrlParam, scrubUrl, copyText, roleLabel, formatDuration } from './ui.js';

const KEY_STORAGE = 'vkyc.agent.key';

const metrics = createMetrics();
let api = null;
let client = null;
let localStream = null;
let sessions = [];
/** The selected session and the tokens issued for it: { session, agent, customer } */
let current = null;
let selectSeq = 0;

window.vkyc = {
  get client() {
    return client;
  },
  pc: () => client?.pc ?? null,
  metrics,
  get session() {
    return current?.session ?? null;
  },
  get kyc() {
    return kyc;
  },
};

/** The selected session's case document (GET /kyc), and whether a KYC action is running. */
let kyc = null;
let kycBusy = false;
let kycSeq = 0;

const els = {
  changeKeyBtn: $('#change-key-btn'),
  keyCard: $('#key-card'),
  keyForm: $('#key-form'),
  keyInput: $('#api-key-input'),
  lobbySide: $('#lobby-side'),
  callSide: $('#call-side'),
  newForm: $('#new-session-form'),
  createBtn: $('#create-session-btn'),
  refreshBtn: $('#refresh-btn'),
  list: $('#sessions-list'),
  listEmpty: $('#sessions-empty'),
  notice: $('#notice'),
  sessionPanel: $('#session-panel'),
  sessionEmpty: $('#session-empty'),
  sessionDetails: $('#session-details'),
  sessionTitle: $('#session-title'),
  sessionStatus: $('#session-status'),
  sessionFields: $('#session-fields'),
  customerLink: $('#customer-link'),
  copyBtn: $('#copy-link-btn'),
  openLink: $('#open-link'),
  linkHint: $('#link-hint'),
  joinBtn: $('#join-btn'),
  joinHint: $('#join-hint'),
  call: $('#call'),
  callDetails: $('#call-session-details'),
  participants: $('#participants'),
  endBtn: $('#end-btn'),
  remoteVideo: $('#remote-video'),
  kycPanel: $('#kyc-panel'),
  kycRefreshBtn: $('#kyc-refresh-btn'),
  captureFaceBtn: $('#capture-face-btn'),
  captureDocBtn: $('#capture-doc-btn'),
  docKind: $('#doc-kind'),
  docFile: $('#doc-file'),
  kycToolsHint: $('#kyc-tools-hint'),
  kycNotice: $('#kyc-notice'),
  kycSteps: $('#kyc-steps'),
  kycRec: $('#kyc-rec'),
  decisionNotes: $('#decision-notes'),
  approveBtn: $('#approve-btn'),
  rejectBtn: $('#reject-btn'),
  decisionState: $('#decision-state'),
  auditorLinkBtn: $('#auditor-link-btn'),
  auditorLink: $('#auditor-link'),
  backBtn: $('#back-btn'),
  muteBtn: $('#mute-btn'),
  cameraBtn: $('#camera-btn'),
};

const view = new CallView({
  preferredRole: 'customer',
  metrics,
  text: { waiting: 'Waiting for the customer to join…', connecting: 'Connecting to the customer…' },
  onRemoteVideo: () => setStatus('In call with the customer', 'live'),
});

// ------------------------------------------------------------------ helpers

function setPhase(phase) {
  // 'nokey' | 'lobby' | 'call' | 'ended'
  document.body.dataset.phase = phase;
  show(els.keyCard, phase === 'nokey');
  show(els.changeKeyBtn, phase === 'lobby');
  show(els.lobbySide, phase === 'lobby');
  show(els.sessionPanel, phase === 'lobby');
  show(els.callSide, phase === 'call' || phase === 'ended');
  show(els.call, phase === 'call' || phase === 'ended');
  show(els.endBtn, phase === 'call');
  show(els.muteBtn, phase === 'call');
  show(els.cameraBtn, phase === 'call');
  show(els.backBtn, phase === 'ended');
  renderKycVisibility();
}

function apiFailed(err, what) {
  if (err instanceof ApiError && err.status === 401) {
    sessionStorage.removeItem(KEY_STORAGE);
    api = null;
    setPhase('nokey');
    setStatus('API key needed', 'error');
    showNotice(els.notice, { kind: 'error', code: err.code, title: 'The API key was not accepted', message: 'Paste a valid API key to continue.' });
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

// ------------------------------------------------------------------ API key

function useKey(key) {
  api = new Api(key);
  sessionStorage.setItem(KEY_STORAGE, key);
  showNotice(els.notice, null);
  setPhase('lobby');
  loadSessions();
}

function initKey() {
  const fromUrl = readUrlParam('key');
  if (fromUrl) {
    sessionStorage.setItem(KEY_STORAGE, fromUrl);
    scrubUrl(); // keep the key out of the address bar and history
  }
  const key = fromUrl || sessionStorage.getItem(KEY_STORAGE);
  if (key) useKey(key);
  else {
    setPhase('nokey');
    setStatus('API key needed', 'info');
    els.keyInput.focus();
  }
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

function renderSessions() {
  const selected = current?.session?.id;
  els.list.replaceChildren(
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
          h('span', { class: 'meta' }, [s.applicant?.reference_id || s.external_ref || s.id.slice(0, 8), fmtTime(s.created_at)].join(' · ')),
        ),
      ),
    ),
  );
  show(els.listEmpty, sessions.length === 0);
}

async function createSession(ev) {
  ev.preventDefault();
  if (!api) return;
  const form = new FormData(els.newForm);
  const applicant = {
    name: String(form.get('name') || '').trim(),
    date_of_birth: String(form.get('date_of_birth') || ''),
    reference_id: String(form.get('reference_id') || '').trim(),
  };
  if (!applicant.name || !applicant.date_of_birth || !applicant.reference_id) {
    showNotice(els.notice, { kind: 'warning', title: 'Missing details', message: 'Fill in the name, the date of birth and the reference ID.' });
    return;
  }
  els.createBtn.disabled = true;
  setStatus('Creating the session…', 'busy');
  try {
    const session = await api.createSession({ applicant });
    els.newForm.reset();
    showNotice(els.notice, null);
    sessions = [session, ...sessions.filter((s) => s.id !== session.id)];
    renderSessions();
    await selectSession(session.id);
  } catch (err) {
    apiFailed(err, 'create the session');
  } finally {
    els.createBtn.disabled = false;
  }
}

async function selectSession(id) {
  if (!api || (client && !['ended', 'left', 'failed'].includes(client.state))) return;
  const seq = ++selectSeq;
  const session = sessions.find((s) => s.id === id) || (await api.getSession(id).catch(() => null));
  if (!session || seq !== selectSeq) return;
  current = { session, agent: null, customer: null };
  kyc = null;
  showNotice(els.kycNotice, null);
  els.auditorLink.value = '';
  show(els.auditorLink, false);
  els.decisionNotes.value = '';
  renderSessions();
  renderSessionPanel();
  renderKyc();
  refreshKyc();
  setStatus('Preparing the call links…', 'busy');
  try {
    const [agent, customer] = await Promise.all([api.issueToken(id, 'agent'), api.issueToken(id, 'customer')]);
    if (seq !== selectSeq) return;
    current.agent = agent;
    current.customer = customer;
    renderSessionPanel();
    showNotice(els.notice, null);
    setStatus('Send the link to the customer, then join the call', 'info');
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
  ]);
  const link = current.customer ? customerUrl(current.customer.join_url) : '';
  els.customerLink.value = link;
  els.copyBtn.disabled = !link;
  els.copyBtn.textContent = 'Copy';
  els.openLink.href = link || '#';
  show(els.openLink, !!link);
  els.linkHint.textContent = current.customer ? `Send this link to the customer. It works until ${fmtTime(current.customer.expires_at)}.` : '';
  els.joinBtn.disabled = !current.agent;
  els.joinHint.textContent = current.agent ? 'Your camera and microphone will turn on.' : '';
}

async function copyLink() {
  const ok = await copyText(els.customerLink.value, els.customerLink);
  els.copyBtn.textContent = ok ? 'Copied' : 'Select and copy';
  setTimeout(() => {
    els.copyBtn.textContent = 'Copy';
  }, 2000);
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
  details(els.callDetails, [
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
  c.on('fatal', ({ code, text }) => {
    stopStream(localStream);
    localStream = null;
    setPhase('ended');
    setStatus('The call could not continue', 'error');
    showNotice(els.notice, { kind: 'error', code, title: 'The call could not continue', message: text });
  });
}

function updateCallStatus() {
  if (!client || client.state !== 'joined') return;
  const customer = [...client.peers.values()].find((p) => p.role === 'customer');
  if (view.remoteVideo.dataset.playing === 'true' && view.primaryId) setStatus('In call with the customer', 'live');
  else if (customer) setStatus('Customer joined. Connecting video…', 'busy');
  else setStatus('Waiting for the customer to join…', 'busy');
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
  showNotice(els.notice, null);
  renderSessionPanel();
  setPhase('lobby');
  loadSessions();
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
    const audioMuted = !!p.mutedBy.audio;
    const videoMuted = !!p.mutedBy.video;
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
              h(
                'button',
                {
                  type: 'button',
                  class: 'btn btn-sm peer-mute-btn',
                  dataset: { peerId: p.peer_id, kind: 'audio', muted: String(audioMuted) },
                  disabled: !live,
                  onclick: () => muteRemote(p.peer_id, 'audio', !audioMuted),
                },
                audioMuted ? 'Unmute' : 'Mute',
              ),
              h(
                'button',
                {
                  type: 'button',
                  class: 'btn btn-sm peer-video-btn',
                  dataset: { peerId: p.peer_id, kind: 'video', muted: String(videoMuted) },
                  disabled: !live,
                  onclick: () => muteRemote(p.peer_id, 'video', !videoMuted),
                },
                videoMuted ? 'Resume video' : 'Pause video',
              ),
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
  show(els.kycPanel, !!current && phase !== 'nokey');
  updateCaptureButtons();
}

function remoteVideoReady() {
  const v = els.remoteVideo;
  return document.body.dataset.phase === 'call' && v?.dataset.playing === 'true' && v.videoWidth > 0 && v.videoHeight > 0;
}

function updateCaptureButtons() {
  const ready = remoteVideoReady();
  els.captureFaceBtn.disabled = kycBusy || !ready;
  els.captureDocBtn.disabled = kycBusy || !ready;
  els.docFile.disabled = kycBusy || !current;
  els.kycToolsHint.textContent = ready
    ? 'Captures take the current frame of the customer\'s video at its full size.'
    : 'Captures from the video need the customer\'s video on screen.';
  // Decided once; open again only after a "recapture" audit (the latest audit).
  const decided = !!kyc?.agent_decision && kyc.audits?.at(-1)?.verdict !== 'recapture';
  els.approveBtn.disabled = kycBusy || !current || decided;
  els.rejectBtn.disabled = kycBusy || !current || decided;
}

function renderKyc() {
  if (!current) return;
  const applicantName = current.session.applicant?.name ?? null;
  if (!kyc) {
    els.kycSteps.replaceChildren();
    els.kycRec.replaceChildren();
    els.kycRec.dataset.result = '';
    els.decisionState.textContent = '';
  } else {
    renderSteps(els.kycSteps, kyc, { applicantName, onDecide: decideStep, busy: kycBusy });
    renderRecommendation(els.kycRec, kyc);
    const d = kyc.agent_decision;
    els.decisionState.textContent = d ? `Decided: ${resultLabel(d.result)}${kyc.audited ? ' · audited' : ''}` : 'Not decided yet.';
  }
  updateCaptureButtons();
}

async function refreshKyc() {
  if (!api || !current) return;
  const id = current.session.id;
  const seq = ++kycSeq;
  try {
    const doc = await api.getKyc(id);
    if (seq !== kycSeq || current?.session.id !== id) return;
    kyc = doc;
    renderKyc();
  } catch (err) {
    if (seq !== kycSeq) return;
    kycFailed(err, 'load the verification steps');
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
  if (!api || !current || kycBusy) return;
  kycBusy = true;
  renderKyc();
  showNotice(els.kycNotice, { kind: 'info', title: `${what[0].toUpperCase()}${what.slice(1)}…` });
  try {
    const result = await fn(current.session.id);
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
  const capture = await api.addCapture(id, kind, image);
  const res = await api.stepAttempt(id, step, { capture_id: capture.id, ...extra });
  return attemptNotice(step, res?.attempt);
}

function captureFace() {
  if (!remoteVideoReady()) return;
  kycAction('capture the face', async (id) => captureAndRun(id, 'face', await grabFrame(), 'face'));
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
    await api.stepDecision(id, step, verdict);
    return { kind: verdict === 'verified' ? 'success' : 'info', title: `${STEP_LABELS[step] || step}: ${verdict === 'verified' ? 'verified' : 'declined'}` };
  });
}

function decideCase(result) {
  const notes = els.decisionNotes.value.trim();
  kycAction(result === 'approved' ? 'approve the case' : 'reject the case', async (id) => {
    await api.decide(id, result, notes || undefined);
    return { kind: result === 'approved' ? 'success' : 'info', title: result === 'approved' ? 'Case approved' : 'Case rejected' };
  });
}

async function issueAuditorLink() {
  if (!api || !current) return;
  els.auditorLinkBtn.disabled = true;
  try {
    const t = await api.issueToken(current.session.id, 'observer');
    els.auditorLink.value = new URL(`/audit#token=${encodeURIComponent(t.token)}`, location.origin).href;
    show(els.auditorLink, true);
    els.auditorLink.select();
  } catch (err) {
    kycFailed(err, 'create the auditor link');
  } finally {
    els.auditorLinkBtn.disabled = false;
  }
}

// ------------------------------------------------------------------ start

els.keyForm.addEventListener('submit', (ev) => {
  ev.preventDefault();
  const key = els.keyInput.value.trim();
  if (key) {
    els.keyInput.value = '';
    useKey(key);
  }
});
els.changeKeyBtn.addEventListener('click', () => {
  sessionStorage.removeItem(KEY_STORAGE);
  api = null;
  current = null;
  renderSessionPanel();
  els.list.replaceChildren();
  setPhase('nokey');
  setStatus('API key needed', 'info');
});
els.newForm.addEventListener('submit', createSession);
els.refreshBtn.addEventListener('click', () => loadSessions());
els.copyBtn.addEventListener('click', copyLink);
els.joinBtn.addEventListener('click', joinCall);
els.endBtn.addEventListener('click', endCall);
els.backBtn.addEventListener('click', backToLobby);
els.kycRefreshBtn.addEventListener('click', () => refreshKyc());
els.captureFaceBtn.addEventListener('click', captureFace);
els.captureDocBtn.addEventListener('click', captureDocument);
els.docFile.addEventListener('change', uploadDocument);
els.approveBtn.addEventListener('click', () => decideCase('approved'));
els.rejectBtn.addEventListener('click', () => decideCase('declined'));
els.auditorLinkBtn.addEventListener('click', issueAuditorLink);
// The capture buttons follow the customer's video.
setInterval(updateCaptureButtons, 1000);
// And the steps the customer does on their page (consent, location) show up without a click.
setInterval(() => {
  if (current && !kycBusy && !document.hidden && !els.kycPanel.hidden) refreshKyc();
}, 10_000);
window.addEventListener('pagehide', () => client?.leave());
// Keep the list fresh while waiting in the lobby.
setInterval(() => {
  if (document.body.dataset.phase === 'lobby' && !document.hidden) loadSessions({ quiet: true });
}, 15_000);

renderSessionPanel();
initKey();
