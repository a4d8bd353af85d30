// The call view shared by the customer page and the agent console: binds an RtcClient
// to the remote video (the main participant, large), extra remote tiles, the local
// preview, the mic / camera toggles and the call timer.

import { $, h, show, playStream, onFirstVideoFrame, CallTimer, roleLabel } from './ui.js';

export class CallView {
  /**
   * @param {object} opts
   * @param {string} opts.preferredRole  role shown large ('customer' on the agent console)
   * @param {object} opts.metrics        from createMetrics()
   * @param {object} [opts.text]         { waiting, connecting } overlay texts
   * @param {(at:number)=>void} [opts.onRemoteVideo]  a main remote video started (each time)
   */
  constructor({ preferredRole, metrics, text = {}, onRemoteVideo } = {}) {
    this.preferredRole = preferredRole;
    this.metrics = metrics;
    this.text = { waiting: 'Waiting for the other participant…', connecting: 'Connecting video…', ...text };
    this.onRemoteVideo = onRemoteVideo || (() => {});

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
    if (!this.primaryId || (!primaryPreferred && this._isPreferred(peerId))) {
      if (this.primaryId) this._addExtra(this.primaryId, this.remoteVideo.srcObject);
      this._removeExtra(peerId);
      this._setPrimary(peerId, stream);
    } else {
      this._addExtra(peerId, stream);
    }
    this._renderRemote();
  }

  /** Shows `peerId`'s video as the main one (the previous main video becomes a tile). */
  focus(peerId) {
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
      this.onRemoteVideo(at);
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
