// Customer call page (/join#token=…): device check, preview, join, call, leave.
//
// A live-agent session waits in the desk's queue before the call (`/v1/queue/ws`, see
// desk.js): "Join call" enters the queue, the page shows the place and the estimated wait,
// and the call starts when an agent accepts (`connected`; at once when the session already
// has its agent). The other applicants of a group call and self-record sessions do not queue.

import { RtcClient } from './rtc.js';
import { checkBrowserSupport, getLocalMedia, stopStream, UserFacingError } from './media.js';
import { CallView, exposeCallState } from './call.js';
import { $, show, setStatus, showNotice, createMetrics, takeUrlSecret, elementsById } from './ui.js';
import { Api, tokenClaims } from './api.js';
import { SelfRecorder, MOVE_TEXT, showPromptStep, promptBox } from './selfrecord.js';
import { DeskSocket, waitText } from './desk.js';

const CONSENT_TEXT_VERSION = 'v1';

const TOKEN_KEY = 'vkyc.join.token';

const metrics = createMetrics();
let client = null;
let localStream = null;
let token = null;
let agentEverSeen = false;
/** While waiting for an agent: { socket, place: { position, estimated_wait_secs } | null } */
let queue = null;

// For tests and diagnostics.
exposeCallState(() => client, metrics, { localStream: () => localStream, queue: () => (queue ? { ...queue.place } : null) });

/** The head-movement prompt over the call's video, and the self-record prompt over the camera. */
const callPrompt = promptBox({ prompt: 'prompt-box', step: 'prompt-step', text: 'prompt-text', progress: 'prompt-progress' });
const recPrompt = promptBox({ prompt: 'rec-prompt', step: 'rec-prompt-step', text: 'rec-prompt-text', progress: 'rec-progress' });
$('#rec-dot').after(recPrompt.prompt);

const view = new CallView({ section: $('#call'), hangUp: { id: 'leave-btn', label: 'Leave' }, stageExtras: [callPrompt.prompt], preferredRole: 'agent', metrics });
const els = elementsById();

/** UI phases: 'consent' → 'location' → 'check' → 'prejoin' → ('queue' →) 'call' → 'ended' | 'left' | 'failed';
 * 'queue' → 'timed_out' | 'left' when no agent took the call;
 * self-record sessions: … 'check' → 'selfrec' → 'recording' → 'uploading' → 'ended'. */
function setPhase(phase) {
  document.body.dataset.phase = phase;
  const waiting = phase === 'queue';
  show(els.consentStep, phase === 'consent');
  show(els.locationStep, phase === 'location');
  // In the queue the stage still shows the customer's own camera, with their place over it.
  els.stage.dataset.phase = phase === 'prejoin' || waiting ? 'prejoin' : 'call';
  show(els.call, phase === 'prejoin' || waiting || phase === 'call');
  show(els.queueBox, waiting && !!queue?.place);
  show(els.selfrec, ['selfrec', 'recording', 'uploading'].includes(phase));
  show(els.recordBtn, phase === 'selfrec');
  show(els.uploadBox, phase === 'uploading');
  show(els.joinBtn, phase === 'prejoin');
  show(els.prejoinTips, phase === 'prejoin' || waiting);
  show(els.leaveBtn, phase === 'call' || waiting);
  show(els.callTimer, phase === 'call');
  show(els.intro, ['consent', 'location', 'check', 'prejoin', 'queue', 'selfrec'].includes(phase));
  show(els.ended, ['ended', 'left', 'timed_out'].includes(phase));
  // The one-time code can be typed at any time during the call (it never blocks it), and
  // while waiting for the agent.
  show(els.otpBox, (phase === 'call' || waiting) && workflow.includes('otp'));
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
  if (mode === 'self_record') {
    els.recVideo.srcObject = localStream;
    setPhase('selfrec');
    setStatus('Ready. When you press "Start recording", follow the instructions on the screen.', 'info');
    els.recordBtn.disabled = false;
    return;
  }
  view.setLocalStream(localStream);
  setPhase('prejoin');
  setStatus('Ready. Check that your face is clearly visible, then press "Join call".', 'info');
  els.joinBtn.disabled = false;
}

// ------------------------------------------------------------------ self-record mode

async function selfRecord() {
  if (!localStream) return;
  els.recordBtn.disabled = true;
  showNotice(els.notice, null);
  const recorder = new SelfRecorder({
    api,
    sessionId,
    stream: localStream,
    ui: {
      ...recPrompt,
      video: els.recVideo,
      dot: els.recDot,
      onUpload: (fraction, label) => {
        els.uploadProgress.value = Math.round(fraction * 100);
        els.uploadLabel.textContent = label;
      },
    },
  });
  try {
    setPhase('recording');
    setStatus('Recording — follow the instructions', 'live');
    const taken = await recorder.record();
    stopStream(localStream); // camera light off
    localStream = null;
    setPhase('uploading');
    setStatus('Uploading your video…', 'busy');
    await recorder.upload(taken);
    els.uploadLabel.textContent = 'Checking your video…';
    setStatus('Checking your video…', 'busy');
    afterChecks(await checked());
  } catch (err) {
    setStatus('The recording could not be completed', 'error');
    showNotice(els.notice, {
      kind: 'error',
      code: err?.code,
      title: 'The recording could not be completed',
      message: `${err?.message || 'Please try again.'}`,
      actions: [{ id: 'retry-btn', label: 'Record again', class: 'btn btn-primary', onClick: startPreview }],
    });
  }
}

/** The self-record state once the server's checks of the submitted video are done (or null after 3 minutes). */
async function checked() {
  const path = `/v1/sessions/${encodeURIComponent(sessionId)}/self-record`;
  const until = Date.now() + 180_000;
  while (Date.now() < until) {
    const st = await api.request('GET', path).catch(() => null);
    if (st && st.phase !== 'processing') return st;
    await new Promise((r) => setTimeout(r, 1500));
  }
  return null;
}

/**
 * What follows the checks: done (the lender tells the result), record again (the checks did
 * not pass; the reasons are not shown), or a live agent (the checks failed again: the
 * session became a live call and the customer joins the queue from the pre-join view).
 */
function afterChecks(st) {
  if (st?.phase === 'recording') {
    const told = {
      kind: 'warning',
      code: 'record_again',
      title: 'We could not verify you from this video',
      message: 'Please record again: face the camera in good light, with nothing covering your face, and follow each movement. Press "Start recording" when you are ready.',
    };
    // The camera again, ready to record.
    startPreview().then(() => showNotice(els.notice, told));
    return;
  }
  if (st?.phase === 'live_agent') {
    mode = 'live_agent';
    const told = { kind: 'info', code: 'live_agent', title: 'An agent will verify you on a video call', message: 'Your videos could not be verified automatically. Press "Join call" to wait for the next available agent.' };
    // The pre-join view (camera check), then the queue like any live call.
    startPreview().then(() => showNotice(els.notice, told));
    return;
  }
  setPhase('ended');
  setStatus('Your video has been submitted.', 'ended');
  els.endedTitle.textContent = 'Your video has been submitted';
  els.endedText.textContent = st?.phase === 'done' ? 'Thank you. Your video has been checked; the lender will tell you the result. You can close this page.' : 'Thank you. We are checking it now; the lender will tell you the result. You can close this page.';
  show(els.rejoinBtn, false);
}

/** "Join call": to the queue first when the session waits for an agent, else into the call. */
function join() {
  if (!localStream || queue || (client && !['ended', 'left', 'failed'].includes(client.state))) return;
  if (mode === 'live_agent' && !parentId) enterQueue();
  else startCall();
}

function startCall() {
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
  if (view.remoteVideo.dataset.playing === 'true' && view.primaryId) setStatus(view.text.live, 'live');
  else if (agentPresent(c)) setStatus(view.text.connecting, 'busy');
  else if (agentEverSeen) setStatus('The agent has left the call. Please wait, they may come back.', 'warning');
  else setStatus(view.text.waiting, 'busy');
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
  c.on('prompt', ({ prompt }) => {
    if (c === client && prompt.kind === 'liveness') runLivenessPrompt(prompt);
  });
  c.on('server_error', ({ code }) => {
    if (code === 'room_full') {
      showNotice(els.notice, { kind: 'warning', title: 'The call is full', message: 'Trying again in a moment…' });
    }
  });
  // The call view stopped the camera and says why (see CallView).
  c.on('fatal', () => {
    localStream = null;
    setPhase('failed');
  });
}

// ------------------------------------------------------------------ head-movement challenge

let promptRun = 0;

/** Shows the agent's head-movement challenge, one move at a time, then hides it. */
async function runLivenessPrompt(prompt) {
  const run = ++promptRun;
  const moves = Array.isArray(prompt.moves) ? prompt.moves : [];
  const perMove = Math.max(1, Number(prompt.seconds_per_move) || 3) * 1000;
  const steps = [{ text: 'Look straight at the camera', ms: 1000 }, ...moves.map((m) => ({ text: MOVE_TEXT[m] || m, ms: perMove, move: m }))];
  for (let i = 0; i < steps.length; i++) {
    if (run !== promptRun) return;
    const st = steps[i];
    callPrompt.prompt.dataset.move = st.move || 'centre';
    showPromptStep(callPrompt, i === 0 ? 'Liveness check' : `Movement ${i} of ${moves.length} — then face the camera again`, st.text, st.ms);
    await new Promise((r) => setTimeout(r, st.ms));
  }
  if (run !== promptRun) return;
  callPrompt.text.textContent = 'Thank you';
  callPrompt.step.textContent = 'Liveness check';
  callPrompt.prompt.dataset.move = 'done';
  await new Promise((r) => setTimeout(r, 1500));
  if (run === promptRun) show(callPrompt.prompt, false);
}

function finish(how) {
  stopStream(localStream); // camera light off
  localStream = null;
  view.timer.stop();
  setPhase(how);
  show(els.retryQueueBtn, false);
  els.rejoinBtn.textContent = 'Rejoin the call';
  if (how === 'ended') {
    setStatus('The call has ended.', 'ended');
    els.endedTitle.textContent = 'The call has ended';
    els.endedText.textContent = 'Thank you for your time. You can close this page now.';
    show(els.rejoinBtn, false);
  } else if (how === 'timed_out') {
    setStatus('No agent could take your call in time', 'warning');
    els.endedTitle.textContent = 'No agent could take your call in time';
    els.endedText.textContent = 'All our agents are busy at the moment. Please try again a little later.';
    show(els.rejoinBtn, false);
    show(els.retryQueueBtn, true);
  } else {
    setStatus('You left the call.', 'ended');
    els.endedTitle.textContent = 'You left the call';
    els.endedText.textContent = 'If you left by mistake, you can rejoin while the agent is still in the call.';
    show(els.rejoinBtn, true);
  }
}

function leave() {
  if (queue) leaveQueue();
  else client?.leave();
}

// ------------------------------------------------------------------ the queue
// The customer's place while no agent has taken the call. The socket says where they are and
// when an agent accepted; a dropped socket keeps the place (it reconnects and enters again).

const QUEUE_FATAL = {
  invalid_token: 'This link does not work',
  token_expired: 'This link has expired',
  forbidden_role: 'This link does not work',
  session_not_found: 'This link does not work',
};

function enterQueue() {
  showNotice(els.notice, null);
  queue = { socket: null, place: null };
  const q = queue;
  setPhase('queue');
  setStatus('Connecting…', 'busy');
  q.socket = new DeskSocket({
    path: '/v1/queue/ws',
    onOpen: (socket) => socket.send({ type: 'enter', token }),
    onMessage: (msg) => q === queue && onQueueMessage(msg),
    onDown: () => {
      if (q === queue) setStatus('Connection lost. Reconnecting…', 'warning');
    },
  });
}

/** Stops waiting: the socket closes (after `leave` when the customer is done with the queue). */
function stopQueue({ sendLeave = false } = {}) {
  const q = queue;
  if (!q) return;
  queue = null;
  if (sendLeave) q.socket.send({ type: 'leave' });
  q.socket.close();
  show(els.queueBox, false);
}

function onQueueMessage(msg) {
  switch (msg.type) {
    case 'queued':
      showPlace(msg);
      break;
    case 'connected':
      stopQueue();
      startCall();
      break;
    case 'timed_out':
      stopQueue();
      finish('timed_out');
      break;
    case 'error':
      if (msg.code === 'session_closed') {
        stopQueue();
        finish('ended');
        els.endedTitle.textContent = 'This verification has ended';
        els.endedText.textContent = 'This link no longer works. If you still need to verify, please ask for a new link.';
      } else if (msg.code === 'not_yet_open') {
        // A scheduled call: the socket keeps trying, and the slot opens in time.
        setStatus('Your video call has not started yet. Keep this page open: you will join the queue when it starts.', 'info');
      } else if (QUEUE_FATAL[msg.code]) {
        stopQueue();
        stopStream(localStream);
        localStream = null;
        setPhase('failed');
        fail(new UserFacingError(msg.code, QUEUE_FATAL[msg.code], 'Please ask for a new link.', { retry: false }));
      }
      // Anything else (the desk busy, a slow start): the socket reconnects and enters again.
      break;
    default:
      break;
  }
}

/** "You're in the queue — position 2, estimated wait ~3 min" in the status line and over the camera. */
function showPlace(place) {
  queue.place = { position: place.position, estimated_wait_secs: place.estimated_wait_secs ?? null };
  const n = place.position;
  const wait = waitText(place.estimated_wait_secs);
  const waitLine = wait == null ? 'We\'ll connect you as soon as an agent is free.' : wait === 'now' ? 'An agent is about to take your call.' : `Estimated wait ${wait}.`;
  els.queuePosition.textContent = `Position ${n}`;
  els.queueWait.textContent = waitLine;
  els.queueBox.dataset.position = String(n);
  els.queueBox.dataset.wait = place.estimated_wait_secs == null ? '' : String(place.estimated_wait_secs);
  show(els.queueBox, true);
  const status = wait == null
    ? `You're in the queue — position ${n}. We'll connect you as soon as an agent is free.`
    : wait === 'now'
      ? `You're in the queue — position ${n}. An agent is about to take your call.`
      : `You're in the queue — position ${n}, estimated wait ${wait}`;
  setStatus(status, 'busy');
}

function leaveQueue() {
  stopQueue({ sendLeave: true });
  finish('left');
  setStatus('You left the queue.', 'ended');
  els.endedTitle.textContent = 'You left the queue';
  els.endedText.textContent = 'When you are ready, join again: you will wait for the next free agent.';
  els.rejoinBtn.textContent = 'Join again';
}

// ------------------------------------------------------------------ consent and location
// Done before the call when the session's workflow has them (POST steps/…/attempts with the
// customer's token). The customer's answers are sent to the server only, never logged.

let api = null;
let sessionId = null;
let workflow = [];
let mode = 'live_agent';
/** A group call's other applicant: their session's parent (they join the parent's call, which queues). */
let parentId = null;

function serverProblem(err, title) {
  setStatus(title, 'error');
  showNotice(els.notice, { kind: 'error', code: err?.code, title, message: err?.message || 'Please try again.' });
}

function nextPreStep(after) {
  const order = ['consent', 'location'];
  const rest = order.slice(after ? order.indexOf(after) + 1 : 0).filter((s) => workflow.includes(s));
  if (rest[0] === 'consent') {
    setPhase('consent');
    setStatus('Please read and answer the consent question.', 'info');
    els.consentYesBtn.focus();
  } else if (rest[0] === 'location') {
    setPhase('location');
    show(els.locationSkipBtn, false);
    els.locationBtn.disabled = false;
    setStatus('Please share your location.', 'info');
  } else {
    startPreview();
  }
}

async function answerConsent(given) {
  els.consentYesBtn.disabled = true;
  els.consentNoBtn.disabled = true;
  setStatus('Saving your answer…', 'busy');
  try {
    await api.stepAttempt(sessionId, 'consent', { text_version: CONSENT_TEXT_VERSION, given });
    if (given) {
      showNotice(els.notice, null);
      nextPreStep('consent');
    } else {
      setStatus('You did not agree', 'warning');
      showNotice(els.notice, {
        kind: 'warning',
        code: 'consent_refused',
        title: 'You did not agree to the verification',
        message: 'Without your consent the video verification can\'t go ahead. If you change your mind, press "I agree".',
      });
    }
  } catch (err) {
    serverProblem(err, 'Your answer could not be saved');
  } finally {
    els.consentYesBtn.disabled = false;
    els.consentNoBtn.disabled = false;
  }
}

const GEO_ERRORS = {
  1: ['permission_denied', 'Location access was denied', 'Allow this page to use your location (click the location or lock icon in the address bar, or open your browser\'s site settings), then press "Share my location" again.'],
  2: ['position_unavailable', 'Your location could not be found', 'Turn on location services on your device, then press "Share my location" again.'],
  3: ['timeout', 'Finding your location took too long', 'Move near a window or turn on Wi-Fi, then press "Share my location" again.'],
};

function currentPosition() {
  return new Promise((resolve, reject) => {
    if (!navigator.geolocation) {
      reject({ code: 2 });
      return;
    }
    navigator.geolocation.getCurrentPosition(resolve, reject, { enableHighAccuracy: true, timeout: 20_000, maximumAge: 60_000 });
  });
}

async function shareLocation() {
  els.locationBtn.disabled = true;
  show(els.locationSkipBtn, false);
  showNotice(els.notice, null);
  setStatus('Finding your location…', 'busy');
  let body;
  let geoError = null;
  try {
    const pos = await currentPosition();
    body = { latitude: pos.coords.latitude, longitude: pos.coords.longitude, accuracy_m: pos.coords.accuracy };
  } catch (err) {
    geoError = GEO_ERRORS[err?.code] || GEO_ERRORS[2];
    body = { error: geoError[0] };
  }
  try {
    const res = await api.stepAttempt(sessionId, 'location', body);
    const attempt = res?.attempt;
    if (geoError) {
      setStatus(geoError[1], 'error');
      showNotice(els.notice, { kind: 'error', code: geoError[0], title: geoError[1], message: geoError[2] });
      show(els.locationSkipBtn, true);
    } else if (attempt?.outcome !== 'passed') {
      const msg = (attempt?.errors || []).map((e) => e.message).join(' ') || 'Your location could not be confirmed.';
      setStatus('Your location could not be confirmed', 'warning');
      showNotice(els.notice, {
        kind: 'warning',
        code: attempt?.errors?.[0]?.code || 'location_failed',
        title: 'Your location could not be confirmed',
        message: `${msg} The agent will go through this with you during the call.`,
      });
      show(els.locationSkipBtn, true);
    } else {
      nextPreStep('location');
    }
  } catch (err) {
    serverProblem(err, 'Your location could not be saved');
  } finally {
    els.locationBtn.disabled = false;
  }
}

// ------------------------------------------------------------------ one-time code
// In the call, when the workflow has `otp`: the agent sends a code, the customer types it here.
// The code goes to the server only (never logged, not kept in the page).

function otpResult(state, text) {
  els.otpResult.textContent = text;
  els.otpResult.dataset.state = state;
  els.otpResult.className = `otp-result otp-${state}`;
  show(els.otpResult, !!text);
  // The box sits under the video: keep the answer on screen.
  if (text) els.otpResult.scrollIntoView({ block: 'nearest' });
}

async function submitOtp(ev) {
  ev.preventDefault();
  const code = els.otpInput.value.replace(/[\s-]/g, '');
  if (!/^\d{4,12}$/.test(code)) {
    otpResult('invalid', 'Type the digits of the code we sent you.');
    els.otpInput.focus();
    return;
  }
  els.otpSubmitBtn.disabled = true;
  otpResult('busy', 'Checking the code…');
  try {
    const res = await api.verifyOtp(sessionId, code);
    const attempt = res?.attempt;
    const codes = (attempt?.errors || []).map((e) => e.code);
    if (attempt?.outcome === 'passed') {
      els.otpInput.value = '';
      otpResult('passed', 'Thank you, the code is correct.');
    } else if (codes.includes('otp_attempts_exhausted')) {
      els.otpInput.value = '';
      otpResult('exhausted', 'The code was wrong too many times. Please ask the agent to send you a new code.');
    } else if (codes.includes('otp_mismatch')) {
      const left = attempt?.data?.tries_left;
      otpResult('mismatch', `That code is not right. ${left != null ? `${left} ${left === 1 ? 'try' : 'tries'} left. ` : ''}Check the message and type the code again.`);
      els.otpInput.select();
    } else {
      otpResult('error', 'The code could not be checked. Please ask the agent to send you a new code.');
    }
  } catch (err) {
    if (err?.code === 'otp_not_sent') {
      otpResult('not_sent', 'No code has been sent yet (or it has expired). Please ask the agent to send you a code.');
    } else if (err?.status === 422) {
      otpResult('invalid', 'Type the digits of the code we sent you.');
    } else {
      otpResult('error', err?.message || 'The code could not be checked. Please try again.');
    }
  } finally {
    els.otpSubmitBtn.disabled = false;
  }
}

async function loadWorkflow() {
  const claims = tokenClaims(token);
  sessionId = claims?.sid || null;
  api = new Api(token);
  if (!sessionId) return [];
  const session = await api.getSession(sessionId);
  mode = session?.mode || 'live_agent';
  parentId = session?.parent_id || null;
  if (session?.video_max_duration) els.recMax.textContent = String(session.video_max_duration);
  return Array.isArray(session?.workflow) ? session.workflow : [];
}

async function main() {
  els.consentYesBtn.addEventListener('click', () => answerConsent(true));
  els.consentNoBtn.addEventListener('click', () => answerConsent(false));
  els.locationBtn.addEventListener('click', shareLocation);
  els.locationSkipBtn.addEventListener('click', () => {
    showNotice(els.notice, null);
    nextPreStep('location');
  });
  els.otpForm.addEventListener('submit', submitOtp);
  els.joinBtn.addEventListener('click', join);
  els.recordBtn.addEventListener('click', selfRecord);
  els.leaveBtn.addEventListener('click', leave);
  els.rejoinBtn.addEventListener('click', startPreview);
  els.retryQueueBtn.addEventListener('click', startPreview);
  window.addEventListener('pagehide', () => {
    stopQueue({ sendLeave: true });
    client?.leave();
  });
  setPhase('check');
  show($('#secure-badge'), location.protocol === 'https:');

  token = takeUrlSecret('token', TOKEN_KEY);
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
  setStatus('Loading your verification…', 'busy');
  try {
    workflow = await loadWorkflow();
  } catch (err) {
    if (err?.code === 'token_revoked') {
      fail(new UserFacingError(err.code, 'This verification has ended', 'This link no longer works. If you still need to verify, please ask for a new link.', { retry: false }));
      return;
    }
    if (err?.status === 401 || err?.status === 403 || err?.status === 404) {
      fail(new UserFacingError(err.code, 'This link does not work', `${err.message} Please ask for a new link.`, { retry: false }));
      return;
    }
    // The server is unreachable or busy: the call itself will tell; skip the pre-call steps.
    workflow = [];
  }
  nextPreStep(null);
}

main();
