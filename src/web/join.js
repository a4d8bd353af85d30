// Customer call page (/join#token=…): device check, preview, join, call, leave.

import { RtcClient } from './rtc.js';
import { checkBrowserSupport, getLocalMedia, stopStream, UserFacingError } from './media.js';
import { CallView } from './call.js';
import { $, show, setStatus, showNotice, createMetrics, readUrlParam, scrubUrl } from './ui.js';

const TOKEN_KEY = 'vkyc.join.token';

const metrics = createMetrics();
let client = null;
let localStream = null;
let token = null;
let agentEverSeen = false;

// For tests and diagnostics.
window.vkyc = {
  get client() {
    return client;
  },
  pc: () => client?.pc ?? null,
  metrics,
  get localStream() {
    return localStream;
  },
};

const els = {
  intro: $('#intro'),
  notice: $('#notice'),
  call: $('#call'),
  stage: $('#stage'),
  joinBtn: $('#join-btn'),
  leaveBtn: $('#leave-btn'),
  timer: $('#call-timer'),
  tips: $('#prejoin-tips'),
  ended: $('#ended'),
  endedTitle: $('#ended-title'),
  endedText: $('#ended-text'),
  rejoinBtn: $('#rejoin-btn'),
};

const view = new CallView({
  preferredRole: 'agent',
  metrics,
  text: { waiting: 'Waiting for the agent to join…', connecting: 'Connecting to the agent…' },
  onRemoteVideo: () => setStatus('In call with the agent', 'live'),
});

/** UI phases: 'check' → 'prejoin' → 'call' → 'ended' | 'left' | 'failed'. */
function setPhase(phase) {
  document.body.dataset.phase = phase;
  els.stage.dataset.phase = phase === 'prejoin' ? 'prejoin' : 'call';
  show(els.call, phase === 'prejoin' || phase === 'call');
  show(els.joinBtn, phase === 'prejoin');
  show(els.tips, phase === 'prejoin');
  show(els.leaveBtn, phase === 'call');
  show(els.timer, phase === 'call');
  show(els.intro, phase === 'check' || phase === 'prejoin');
  show(els.ended, phase === 'ended' || phase === 'left');
}

function fail(err) {
  const e = err instanceof UserFacingError ? err : new UserFacingError('unexpected', 'Something went wrong', 'Please reload the page and try again.');
  setStatus(e.title, 'error');
  showNotice(els.notice, {
    kind: 'error',
    code: e.code,
    title: e.title,
    message: e.message,
    actions: e.retry ? [{ id: 'retry-btn', label: 'Try again', class: 'btn btn-primary', onClick: startPreview }] : [],
  });
}

function readToken() {
  const fromUrl = readUrlParam('token');
  if (fromUrl) {
    sessionStorage.setItem(TOKEN_KEY, fromUrl);
    scrubUrl(); // keep the token out of the address bar, history and screen shares
    return fromUrl;
  }
  return sessionStorage.getItem(TOKEN_KEY);
}

/** Expiry (ms since epoch) from the token's payload, without verifying it (display only). */
function tokenExpiry(jwt) {
  try {
    const payload = JSON.parse(atob(jwt.split('.')[1].replace(/-/g, '+').replace(/_/g, '/')));
    return typeof payload.exp === 'number' ? payload.exp * 1000 : null;
  } catch {
    return null;
  }
}

async function startPreview() {
  showNotice(els.notice, null);
  setPhase('check');
  setStatus('Starting your camera and microphone…', 'busy');
  els.joinBtn.disabled = true;
  try {
    stopStream(localStream);
    localStream = await getLocalMedia();
  } catch (err) {
    localStream = null;
    fail(err);
    return;
  }
  view.setLocalStream(localStream);
  setPhase('prejoin');
  setStatus('Ready. Check that your face is clearly visible, then press "Join call".', 'info');
  els.joinBtn.disabled = false;
}

function join() {
  if (!localStream || (client && !['ended', 'left', 'failed'].includes(client.state))) return;
  metrics.markJoinClicked();
  showNotice(els.notice, null);
  view.resetRemote();
  agentEverSeen = false;

  const initial = { audio: localStream.getAudioTracks()[0]?.enabled ?? true, video: localStream.getVideoTracks()[0]?.enabled ?? true };
  client = new RtcClient({ token, localStream, debug: new URLSearchParams(location.search).has('debug') });
  client.mediaState = initial;
  view.attach(client);
  wireClient(client);
  setPhase('call');
  client.start();
}

function agentPresent(c) {
  return [...c.peers.values()].some((p) => p.role === 'agent');
}

function updateWaitingStatus(c) {
  if (c.state !== 'joined') return;
  if (view.remoteVideo.dataset.playing === 'true' && view.primaryId) setStatus('In call with the agent', 'live');
  else if (agentPresent(c)) setStatus('Connecting to the agent…', 'busy');
  else if (agentEverSeen) setStatus('The agent has left the call. Please wait, they may come back.', 'warning');
  else setStatus('Waiting for the agent to join…', 'busy');
}

function wireClient(c) {
  c.on('state', ({ state }) => {
    if (c !== client) return;
    switch (state) {
      case 'connecting':
        setStatus('Connecting…', 'busy');
        break;
      case 'reconnecting':
        setStatus('Connection lost. Reconnecting…', 'warning');
        break;
      case 'joined':
        showNotice(els.notice, null);
        updateWaitingStatus(c);
        break;
      case 'ended':
        finish('ended');
        break;
      case 'left':
        finish('left');
        break;
      case 'failed':
        break; // handled by 'fatal'
      default:
        break;
    }
  });
  c.on('peers', () => {
    if (agentPresent(c)) agentEverSeen = true;
    updateWaitingStatus(c);
  });
  c.on('muted', ({ self, kind, muted }) => {
    if (!self) return;
    const what = kind === 'audio' ? 'microphone' : 'video';
    setStatus(muted ? `The agent muted your ${what}` : `The agent turned your ${what} back on`, muted ? 'warning' : 'live');
  });
  c.on('server_error', ({ code }) => {
    if (code === 'room_full') {
      showNotice(els.notice, { kind: 'warning', title: 'The call is full', message: 'Trying again in a moment…' });
    }
  });
  c.on('fatal', ({ code, text }) => {
    stopStream(localStream);
    localStream = null;
    setPhase('failed');
    setStatus('The call could not continue', 'error');
    showNotice(els.notice, { kind: 'error', code, title: 'The call could not continue', message: text });
  });
}

function finish(how) {
  stopStream(localStream); // camera light off
  localStream = null;
  view.timer.stop();
  setPhase(how);
  if (how === 'ended') {
    setStatus('The call has ended.', 'ended');
    els.endedTitle.textContent = 'The call has ended';
    els.endedText.textContent = 'Thank you for your time. You can close this page now.';
    show(els.rejoinBtn, false);
  } else {
    setStatus('You left the call.', 'ended');
    els.endedTitle.textContent = 'You left the call';
    els.endedText.textContent = 'If you left by mistake, you can rejoin while the agent is still in the call.';
    show(els.rejoinBtn, true);
  }
}

function leave() {
  client?.leave();
}

async function main() {
  els.joinBtn.addEventListener('click', join);
  els.leaveBtn.addEventListener('click', leave);
  els.rejoinBtn.addEventListener('click', startPreview);
  window.addEventListener('pagehide', () => client?.leave());
  setPhase('check');
  show($('#secure-badge'), location.protocol === 'https:');

  token = readToken();
  if (!token) {
    fail(new UserFacingError('missing_token', 'This link is incomplete', 'Please open the complete link you received. If it still doesn\'t work, ask for a new link.', { retry: false }));
    return;
  }
  const unsupported = checkBrowserSupport();
  if (unsupported) {
    fail(unsupported);
    return;
  }
  const exp = tokenExpiry(token);
  if (exp && exp < Date.now()) {
    fail(new UserFacingError('token_expired', 'This link has expired', 'Please ask for a new link.', { retry: false }));
    return;
  }
  await startPreview();
}

main();
