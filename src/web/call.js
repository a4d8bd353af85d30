// The call view shared by the customer page and the agent console: builds the video stage
// and the call controls, and binds an RtcClient to the remote video (the main participant,
// large), extra remote tiles, the local preview, the mic / camera toggles and the call timer.

import { $, h, show, setStatus, showNotice, exposeState, playStream, onFirstVideoFrame, CallTimer, roleLabel } from './ui.js';
import { stopStream } from './media.js';

const SVG_NS = 'http://www.w3.org/2000/svg';

/** The control icons (24×24, stroked in the text colour): [line ends, shapes]. */
const ICONS = {
  mic: [{ 'stroke-linecap': 'round' }, [['rect', { x: 9, y: 3, width: 6, height: 11, rx: 3 }], ['path', { d: 'M5 11a7 7 0 0 0 14 0M12 18v3' }]]],
  camera: [{ 'stroke-linejoin': 'round' }, [['rect', { x: 3, y: 6, width: 13, height: 12, rx: 2 }], ['path', { d: 'm16 10 5-3v10l-5-3z' }]]],
  sound: [{ 'stroke-linejoin': 'round' }, [['path', { d: 'M4 9v6h4l5 4V5L8 9z' }], ['path', { d: 'M16 9a4 4 0 0 1 0 6' }]]],
  hangUp: [{ 'stroke-linecap': 'round' }, [['path', { d: 'M3 14c5-5 13-5 18 0l-2.5 2.5-3-1.5v-2.5a9 9 0 0 0-7 0V15l-3 1.5z' }]]],
};

function svg(tag, attrs) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [name, value] of Object.entries(attrs)) el.setAttribute(name, String(value));
  return el;
}

function icon(name) {
  const [ends, shapes] = ICONS[name];
  const el = svg('svg', { viewBox: '0 0 24 24', fill: 'none', stroke: 'currentColor', 'stroke-width': 2, 'aria-hidden': 'true', ...ends });
  el.append(...shapes.map(([tag, attrs]) => svg(tag, attrs)));
  return el;
}

/** A call control: an icon and a label (`attrs` as for h()). */
function control(iconName, label, attrs) {
  return h('button', { type: 'button', ...attrs }, icon(iconName), h('span', { class: 'label' }, label));
}

/**
 * Builds a call page's stage and controls in `section`, the same on every call page: the main
 * remote video (label, badges, overlay), the extra tiles and the self view in `#stage`
 * (`stageExtras`: more nodes over the main video); the mic, camera, timer, sound and hang-up
 * (`hangUp`: { id, label }) controls before the page's own buttons in `.controls`; the "muted
 * by the agent" notice after them.
 */
function buildCallLayout(section, { hangUp, stageExtras = [] }) {
  const toggle = { class: 'btn btn-toggle', 'aria-pressed': 'false', disabled: true };
  $('#stage', section).append(
    h(
      'div',
      { class: 'stage-main' },
      h('video', { id: 'remote-video', autoplay: true, playsinline: true }),
      h('div', { class: 'stage-meta' }, h('span', { id: 'remote-label' }), h('span', { id: 'remote-badges', class: 'badges' })),
      h('div', { id: 'remote-overlay', class: 'stage-overlay', hidden: true }),
      h('div', { id: 'remote-extras', class: 'extras', hidden: true }),
      stageExtras,
    ),
    h(
      'div',
      { class: 'self-view' },
      h('video', { id: 'local-video', autoplay: true, playsinline: true, defaultMuted: true, muted: true }),
      h('span', { class: 'self-label' }, 'You'),
      h('div', { id: 'local-badges', class: 'badges' }),
    ),
  );
  $('.controls', section).prepend(
    control('mic', 'Mute', { id: 'mute-btn', ...toggle }),
    control('camera', 'Stop video', { id: 'camera-btn', ...toggle }),
    h('span', { id: 'call-timer', class: 'timer', title: 'Call duration' }, '00:00'),
    control('sound', 'Turn on sound', { id: 'sound-btn', class: 'btn', hidden: true }),
    control('hangUp', hangUp.label, { id: hangUp.id, class: 'btn btn-danger', hidden: true }),
  );
  $('.controls', section).after(h('p', { id: 'self-muted', class: 'notice notice-warning self-muted', role: 'status', hidden: true }));
}

/** `window.vkyc` of a call page: the call client, its peer connection, the page metrics, and `more` getters. */
export function exposeCallState(getClient, metrics, more = {}) {
  exposeState({ client: getClient, pc: () => () => getClient()?.pc ?? null, metrics: () => metrics, ...more });
}

export class CallView {
  /**
   * Builds the stage and the controls in `section` (see buildCallLayout) and binds them.
   * @param {object} opts
   * @param {HTMLElement} opts.section   the page's call section (with `#stage` and `.controls`)
   * @param {{id:string,label:string}} opts.hangUp  the hang-up button
   * @param {Node[]} [opts.stageExtras]  more nodes over the main video
   * @param {string} opts.preferredRole  role shown large ('customer' on the agent console)
   * @param {object} opts.metrics        from createMetrics()
   */
  constructor({ section, hangUp, stageExtras, preferredRole, metrics } = {}) {
    buildCallLayout(section, { hangUp, stageExtras });
    this.preferredRole = preferredRole;
    this.metrics = metrics;
    const who = roleLabel(preferredRole).toLowerCase();
    this.text = { waiting: `Waiting for the ${who} to join…`, connecting: `Connecting to the ${who}…`, live: `In call with the ${who}` };

    this.remoteVideo = $('#remote-video');
    this.remoteOverlay = $('#remote-overlay');
    this.remoteLabel = $('#remote-label');
    this.remoteBadges = $('#remote-badges');
    this.extras = $('#remote-extras');
    this.localVideo = $('#local-video');
    this.localBadges = $('#local-badges');
    this.muteBtn = $('#mute-btn');
    this.cameraBtn = $('#camera-btn');
    this.soundBtn = $('#sound-btn');
    this.selfMuted = $('#self-muted');
    this.timer = new CallTimer($('#call-timer'));

    this.client = null;
    this.localStream = null;
    this.primaryId = null;
    this._cancelFirstFrame = null;
    this._unsubscribe = [];

    this.muteBtn?.addEventListener('click', () => this.toggle('audio'));
    this.cameraBtn?.addEventListener('click', () => this.toggle('video'));
    this.soundBtn?.addEventListener('click', () => this._enableSound());
    this._renderToggles();
    this._renderOverlay();
  }

  /** Shows the local camera in the preview (muted, mirrored by CSS). */
  setLocalStream(stream) {
    this.localStream = stream;
    if (this.localVideo) playStream(this.localVideo, stream, { muted: true });
    this._renderToggles();
  }

  /** Starts following a client's events (call once per client). */
  attach(client) {
    this.detach();
    this.client = client;
    const on = (type, fn) => {
      const listener = (e) => fn(e.detail);
      client.addEventListener(type, listener);
      this._unsubscribe.push(() => client.removeEventListener(type, listener));
    };
    on('track', ({ peerId, stream }) => this._onTrack(peerId, stream));
    on('peer_left', ({ peer }) => this._onPeerLeft(peer.peer_id));
    on('peers', () => this._renderRemote());
    on('joined', () => {
      this._renderSelfMuted();
      this._renderOverlay();
    });
    on('muted', ({ self }) => {
      if (self) this._renderSelfMuted();
      this._renderRemote();
    });
    on('state', ({ state }) => {
      if (state === 'ended' || state === 'left' || state === 'failed') this.timer.stop();
      this._renderOverlay();
    });
    // The call cannot go on: the camera goes off, and the page says why.
    on('fatal', ({ code, text }) => {
      stopStream(this.localStream);
      setStatus('The call could not continue', 'error');
      showNotice($('#notice'), { kind: 'error', code, title: 'The call could not continue', message: text });
    });
  }

  detach() {
    for (const off of this._unsubscribe.splice(0)) off();
    this.client = null;
  }

  /** Turns the local microphone ('audio') or camera ('video') on/off. */
  toggle(kind) {
    const current = this.client ? this.client.mediaState : this._localState();
    const next = { ...current, [kind]: !current[kind] };
    if (this.client) this.client.setMediaState(next);
    else {
      for (const t of this.localStream?.getAudioTracks() || []) t.enabled = next.audio;
      for (const t of this.localStream?.getVideoTracks() || []) t.enabled = next.video;
    }
    this._renderToggles();
  }

  /** Clears the remote side (after the call, before a new one). */
  resetRemote() {
    this.pickedId = null;
    this._setPrimary(null, null);
    this.extras?.replaceChildren();
    this.timer.reset();
    this._renderSelfMuted();
  }

  // ---------------------------------------------------------------------------

  _localState() {
    const a = this.localStream?.getAudioTracks()[0];
    const v = this.localStream?.getVideoTracks()[0];
    return { audio: a ? a.enabled : false, video: v ? v.enabled : false };
  }

  _peer(peerId) {
    return peerId ? this.client?.peers.get(peerId) : null;
  }

  _isPreferred(peerId) {
    return this._peer(peerId)?.role === this.preferredRole;
  }

  _onTrack(peerId, stream) {
    if (peerId && peerId === this.primaryId) {
      if (this.remoteVideo.srcObject !== stream) this._setPrimary(peerId, stream);
      return;
    }
    const primaryPreferred = this.primaryId && this._isPreferred(this.primaryId);
    // The peer the user picked (`focus`) before its video arrived takes the main view now.
    const picked = peerId && peerId === this.pickedId;
    if (picked || !this.primaryId || (!primaryPreferred && this._isPreferred(peerId))) {
      if (this.primaryId) this._addExtra(this.primaryId, this.remoteVideo.srcObject);
      this._removeExtra(peerId);
      this._setPrimary(peerId, stream);
    } else {
      this._addExtra(peerId, stream);
    }
    this._renderRemote();
  }

  /**
   * Shows `peerId`'s video as the main one (the previous main video becomes a tile); when its
   * video has not arrived yet, it becomes the main one as soon as it does. `null` forgets an
   * earlier pick.
   */
  focus(peerId) {
    this.pickedId = peerId || null;
    const peer = this._peer(peerId);
    if (!peer?.stream || peerId === this.primaryId) return;
    if (this.primaryId) this._addExtra(this.primaryId, this.remoteVideo.srcObject);
    this._removeExtra(peerId);
    this._setPrimary(peerId, peer.stream);
    this._renderRemote();
  }

  _onPeerLeft(peerId) {
    this._removeExtra(peerId);
    if (peerId !== this.primaryId) return;
    // Promote someone else who publishes, the preferred role first.
    const candidates = [...(this.client?.peers.values() || [])].filter((p) => p.stream && p.peer_id !== peerId);
    candidates.sort((a, b) => Number(b.role === this.preferredRole) - Number(a.role === this.preferredRole));
    const next = candidates[0];
    if (next) {
      this._removeExtra(next.peer_id);
      this._setPrimary(next.peer_id, next.stream);
    } else {
      this._setPrimary(null, null);
    }
    this._renderRemote();
  }

  _setPrimary(peerId, stream) {
    this._cancelFirstFrame?.();
    this._cancelFirstFrame = null;
    this.primaryId = peerId;
    this.remoteVideo.dataset.peerId = peerId || '';
    this.remoteVideo.dataset.playing = 'false';
    if (!stream) {
      this.remoteVideo.srcObject = null;
      show(this.soundBtn, false);
      this._renderOverlay();
      return;
    }
    this._cancelFirstFrame = onFirstVideoFrame(this.remoteVideo, (at) => {
      this.remoteVideo.dataset.playing = 'true';
      this.metrics?.markFirstRemoteFrame(at);
      this.timer.start();
      this._renderOverlay();
      setStatus(this.text.live, 'live');
    });
    playStream(this.remoteVideo, stream, { onAudioBlocked: () => show(this.soundBtn, true) });
    this._renderOverlay();
  }

  _enableSound() {
    for (const v of [this.remoteVideo, ...(this.extras?.querySelectorAll('video') || [])]) {
      v.muted = false;
      v.play().catch(() => {});
    }
    show(this.soundBtn, false);
  }

  _addExtra(peerId, stream) {
    if (!this.extras || !stream) return;
    let tile = this.extras.querySelector(`[data-peer-id="${CSS.escape(peerId || '')}"]`);
    if (!tile) {
      const video = h('video', { autoplay: true, playsInline: true, class: 'tile-video' });
      tile = h('div', { class: 'tile', dataset: { peerId: peerId || '' } }, video, h('span', { class: 'tile-label' }));
      this.extras.append(tile);
    }
    const video = tile.querySelector('video');
    playStream(video, stream, { onAudioBlocked: () => show(this.soundBtn, true) });
    show(this.extras, true);
  }

  _removeExtra(peerId) {
    if (!this.extras || !peerId) return;
    const tile = this.extras.querySelector(`[data-peer-id="${CSS.escape(peerId)}"]`);
    if (tile) {
      const v = tile.querySelector('video');
      if (v) v.srcObject = null;
      tile.remove();
    }
    show(this.extras, this.extras.children.length > 0);
  }

  _renderRemote() {
    const peer = this._peer(this.primaryId);
    if (this.remoteLabel) this.remoteLabel.textContent = peer ? roleLabel(peer.role) : '';
    if (this.remoteBadges) this.remoteBadges.replaceChildren(...mediaBadges(peer));
    for (const tile of this.extras?.children || []) {
      const p = this._peer(tile.dataset.peerId);
      tile.querySelector('.tile-label').textContent = p ? roleLabel(p.role) : 'Participant';
    }
    this._renderOverlay();
  }

  _renderOverlay() {
    if (!this.remoteOverlay) return;
    const playing = this.remoteVideo.dataset.playing === 'true';
    const peer = this._peer(this.primaryId);
    let text = '';
    if (!this.client || this.client.state === 'idle') text = '';
    else if (this.client.state === 'ended') text = 'The call has ended.';
    else if (this.client.state === 'left') text = 'You left the call.';
    else if (this.client.state === 'failed') text = 'The call could not continue.';
    else if (this.client.state === 'reconnecting') text = 'Reconnecting…';
    else if (this.client.state === 'connecting') text = 'Connecting…';
    else if (!this.primaryId) {
      const preferredHere = [...this.client.peers.values()].some((p) => p.role === this.preferredRole);
      text = preferredHere ? this.text.connecting : this.text.waiting;
    } else if (!playing) text = this.text.connecting;
    else if (peer && (!peer.video || peer.mutedBy.video)) text = peer.mutedBy.video ? 'Video paused by the agent' : 'Camera is off';
    this.remoteOverlay.textContent = text;
    show(this.remoteOverlay, !!text);
  }

  _renderToggles() {
    const state = this.client ? this.client.mediaState : this._localState();
    const hasAudio = !!this.localStream?.getAudioTracks().length;
    const hasVideo = !!this.localStream?.getVideoTracks().length;
    if (this.muteBtn) {
      this.muteBtn.disabled = !hasAudio;
      this.muteBtn.setAttribute('aria-pressed', String(!state.audio));
      this.muteBtn.querySelector('.label').textContent = state.audio ? 'Mute' : 'Unmute';
      this.muteBtn.classList.toggle('is-off', !state.audio);
    }
    if (this.cameraBtn) {
      this.cameraBtn.disabled = !hasVideo;
      this.cameraBtn.setAttribute('aria-pressed', String(!state.video));
      this.cameraBtn.querySelector('.label').textContent = state.video ? 'Stop video' : 'Start video';
      this.cameraBtn.classList.toggle('is-off', !state.video);
    }
    if (this.localBadges) {
      this.localBadges.replaceChildren(...mediaBadges({ audio: state.audio, video: state.video, mutedBy: this.client?.mutedByAgent }));
    }
    this.localVideo?.classList.toggle('is-off', !state.video);
  }

  _renderSelfMuted() {
    const m = this.client?.mutedByAgent || { audio: false, video: false };
    if (this.selfMuted) {
      const parts = [];
      if (m.audio) parts.push('your microphone');
      if (m.video) parts.push('your video');
      this.selfMuted.textContent = parts.length ? `The agent muted ${parts.join(' and ')}. The others can't ${m.audio && m.video ? 'see or hear' : m.audio ? 'hear' : 'see'} you until the agent turns it back on.` : '';
      this.selfMuted.dataset.audio = String(m.audio);
      this.selfMuted.dataset.video = String(m.video);
      show(this.selfMuted, parts.length > 0);
    }
    this._renderToggles();
  }
}

/** Small badges for a participant's media state ("Mic off", "Muted by agent"…). */
export function mediaBadges(p) {
  if (!p) return [];
  const out = [];
  const by = p.mutedBy || {};
  if (by.audio) out.push(h('span', { class: 'badge badge-warn' }, 'Muted by agent'));
  else if (p.audio === false) out.push(h('span', { class: 'badge' }, 'Mic off'));
  if (by.video) out.push(h('span', { class: 'badge badge-warn' }, 'Video paused by agent'));
  else if (p.video === false) out.push(h('span', { class: 'badge' }, 'Camera off'));
  return out;
}
