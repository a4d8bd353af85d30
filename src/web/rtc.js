// vkyc signalling + RTCPeerConnection client (see PROTOCOL.md, "Signalling").
//
// The server is always the SDP offerer: this client joins with its token, adds its local
// tracks, then answers every offer. Remote tracks arrive in MediaStreams whose id is the
// publishing peer's peer_id. The client reconnects by itself (same token, exponential
// backoff) when the socket drops or the server reports `peer_failed`; fatal errors stop it.
//
// Usage:
//   const client = new RtcClient({ token, localStream });
//   client.addEventListener('track', (e) => …e.detail.peerId, e.detail.stream…);
//   client.start();
//
// Events (CustomEvent, data in `event.detail`):
//   state         { state, previous, reason }     see RtcClient.STATES
//   joined        { peerId, sessionId, role, participantId, peers }
//   peers         { peers }                       the remote peer list changed
//   peer_joined   { peer }
//   peer_left     { peer, reason }
//   track         { peerId, stream, track }       a remote track was added
//   muted         { peerId, kind, muted, by, self }
//   media_state   { peerId, audio, video }
//   connection    { state }                       RTCPeerConnection.connectionState
//   ended         { reason }                      the call is over (room_ended, or you ended it)
//   fatal         { code, message, text }         stopped for good; `text` is for users
//   server_error  { code, message }               a non-fatal error reported by the server

/** Error codes after which reconnecting can't help. */
export const FATAL_CODES = new Set(['invalid_token', 'token_expired', 'session_not_found', 'room_ended', 'forbidden']);

/** Plain-language text for the errors a user may see. */
export const ERROR_TEXT = {
  invalid_token: 'This call link is not valid. Please ask for a new link.',
  token_expired: 'This call link has expired. Please ask for a new link.',
  session_not_found: 'This call no longer exists. Please ask for a new link.',
  room_ended: 'This call has already ended.',
  forbidden: 'You are not allowed to do this in this call.',
  room_full: 'This call is full at the moment. Trying again…',
  unreachable: 'We can\'t reach the video-call service. Check your internet connection and reload the page.',
};

const STATES = ['idle', 'connecting', 'joined', 'reconnecting', 'ended', 'left', 'failed'];
const FINAL_STATES = new Set(['ended', 'left', 'failed']);

function defaultSignalUrl() {
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${scheme}//${location.host}/v1/rtc`;
}

export class RtcClient extends EventTarget {
  static STATES = STATES;

  /**
   * @param {object} opts
   * @param {string} opts.token          join token (JWT)
   * @param {MediaStream} [opts.localStream]  camera + microphone to publish
   * @param {string} [opts.url]          signalling URL (default ws(s)://<host>/v1/rtc)
   * @param {RTCIceServer[]} [opts.iceServers]
   * @param {number} [opts.pingIntervalMs=10000]
   * @param {number} [opts.maxBackoffMs=10000]
   * @param {number} [opts.maxAttempts=40]   consecutive failed connection attempts before giving up
   * @param {boolean} [opts.debug=false]  log message types (never payloads) to the console
   */
  constructor(opts) {
    super();
    if (!opts?.token) throw new Error('RtcClient: a token is required');
    this.token = opts.token;
    this.localStream = opts.localStream || null;
    this.url = opts.url || defaultSignalUrl();
    this.iceServers = opts.iceServers || [];
    this.pingIntervalMs = opts.pingIntervalMs ?? 10_000;
    this.maxBackoffMs = opts.maxBackoffMs ?? 10_000;
    this.maxAttempts = opts.maxAttempts ?? 40;
    this.joinTimeoutMs = opts.joinTimeoutMs ?? 15_000;
    this.deadAfterMs = opts.deadAfterMs ?? 3.5 * this.pingIntervalMs;
    this.debug = !!opts.debug;

    this.state = 'idle';
    /** Our own identity, once joined. */
    this.self = null; // { peer_id, session_id, role, participant_id }
    /** Remote peers by peer_id: { peer_id, role, participant_id, stream, audio, video, mutedBy: {audio, video} } */
    this.peers = new Map();
    /** Our own mic / camera state as last announced. */
    this.mediaState = { audio: true, video: true };
    /** What the agent forced on us: { audio: bool, video: bool } */
    this.mutedByAgent = { audio: false, video: false };
    this.endReason = null;
    this.fatal = null;
    this.stats = { connects: 0, reconnects: 0, offers: 0, answers: 0, candidatesIn: 0, candidatesOut: 0 };

    this._ws = null;
    this._pc = null;
    this._gen = 0; // connection generation; late callbacks of old connections are ignored
    this._attempt = 0;
    this._retryTimer = null;
    this._pingTimer = null;
    this._joinTimer = null;
    this._lastMessageAt = 0;
    this._pendingCandidates = [];
    this._queue = Promise.resolve();
    this._lastErrorCode = null;
    this._endTimer = null;
    this._hasJoined = false; // joined at least once since start()
  }

  /** The current RTCPeerConnection (a new one per (re)connection), or null. */
  get pc() {
    return this._pc;
  }

  get joined() {
    return this.state === 'joined';
  }

  on(type, fn) {
    this.addEventListener(type, (e) => fn(e.detail));
    return this;
  }

  /** Connects and joins. Safe to call once; later calls are ignored unless stopped. */
  start() {
    if (this.state !== 'idle' && !FINAL_STATES.has(this.state)) return;
    this.fatal = null;
    this.endReason = null;
    this._attempt = 0;
    this._hasJoined = false;
    this._connect();
  }

  /** Leaves the call (the others see `peer_left`). */
  leave() {
    if (FINAL_STATES.has(this.state)) return;
    this._send({ type: 'leave' });
    this._shutdown('left', 'left');
  }

  /**
   * Agent only: ends the call for everyone. Resolves once the server confirmed with
   * `room_ended`, or after `timeoutMs` (the call is treated as ended either way).
   */
  end({ timeoutMs = 3000 } = {}) {
    if (FINAL_STATES.has(this.state)) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => resolve();
      this.addEventListener('ended', done, { once: true });
      this.addEventListener('fatal', done, { once: true });
      if (!this._send({ type: 'end' })) {
        this._finishEnded('ended_by_you');
        return;
      }
      clearTimeout(this._endTimer);
      this._endTimer = setTimeout(() => this._finishEnded('ended_by_you'), timeoutMs);
    });
  }

  /** Agent only: asks the server to stop (or resume) forwarding a peer's audio or video. */
  mute(peerId, kind, muted) {
    if (kind !== 'audio' && kind !== 'video') throw new Error(`bad kind ${kind}`);
    return this._send({ type: 'mute', peer_id: peerId, kind, muted: !!muted });
  }

  /** Turns our own microphone / camera on or off and tells the others. */
  setMediaState({ audio = this.mediaState.audio, video = this.mediaState.video } = {}) {
    this.mediaState = { audio: !!audio, video: !!video };
    for (const t of this.localStream?.getAudioTracks() || []) t.enabled = this.mediaState.audio;
    for (const t of this.localStream?.getVideoTracks() || []) t.enabled = this.mediaState.video;
    if (this.state === 'joined') this._send({ type: 'media_state', ...this.mediaState });
    return this.mediaState;
  }

  // ---------------------------------------------------------------------------
  // connection management

  _connect() {
    const gen = ++this._gen;
    this._closeTransport();
    this._setState(this._hasJoined ? 'reconnecting' : 'connecting');
    this.stats.connects += 1;
    this._log('connecting', { attempt: this._attempt });

    let ws;
    try {
      ws = new WebSocket(this.url);
    } catch (err) {
      this._log('websocket constructor failed', err?.name);
      this._scheduleReconnect('connect_failed');
      return;
    }
    this._ws = ws;
    this._lastMessageAt = performance.now();

    ws.onopen = () => {
      if (gen !== this._gen) return;
      this._send({ type: 'join', token: this.token });
      this._joinTimer = setTimeout(() => {
        if (gen !== this._gen || this.state === 'joined') return;
        this._log('no joined message in time');
        this._scheduleReconnect('join_timeout');
      }, this.joinTimeoutMs);
    };
    ws.onmessage = (ev) => {
      if (gen !== this._gen) return;
      this._lastMessageAt = performance.now();
      let msg;
      try {
        msg = JSON.parse(ev.data);
      } catch {
        this._log('ignoring a non-JSON frame');
        return;
      }
      if (!msg || typeof msg.type !== 'string') return;
      this._onMessage(msg, gen);
    };
    ws.onerror = () => {
      // onclose follows with the details.
    };
    ws.onclose = (ev) => {
      if (gen !== this._gen) return;
      this._log('socket closed', { code: ev.code });
      if (FINAL_STATES.has(this.state)) return;
      if (this._lastErrorCode && FATAL_CODES.has(this._lastErrorCode)) {
        this._failFatal(this._lastErrorCode, '');
        return;
      }
      this._scheduleReconnect('socket_closed');
    };
  }

  _scheduleReconnect(reason) {
    if (FINAL_STATES.has(this.state)) return;
    this._closeTransport();
    this._gen++; // invalidate callbacks of the dropped connection
    this._attempt += 1;
    if (this._attempt > this.maxAttempts) {
      this._failFatal('unreachable', 'gave up reconnecting');
      return;
    }
    const base = Math.min(this.maxBackoffMs, 500 * 2 ** Math.min(this._attempt - 1, 10));
    const delay = Math.round(base * (0.8 + Math.random() * 0.4));
    this._setState(this._hasJoined ? 'reconnecting' : 'connecting', reason);
    this._log('reconnecting', { reason, attempt: this._attempt, delay });
    clearTimeout(this._retryTimer);
    this._retryTimer = setTimeout(() => {
      this._retryTimer = null;
      if (!FINAL_STATES.has(this.state)) {
        this.stats.reconnects += 1;
        this._connect();
      }
    }, delay);
  }

  _closeTransport() {
    clearTimeout(this._joinTimer);
    clearInterval(this._pingTimer);
    this._joinTimer = null;
    this._pingTimer = null;
    if (this._ws) {
      const ws = this._ws;
      this._ws = null;
      ws.onopen = ws.onmessage = ws.onerror = ws.onclose = null;
      try {
        ws.close(1000);
      } catch {
        /* already closed */
      }
    }
    if (this._pc) {
      const pc = this._pc;
      this._pc = null;
      pc.onicecandidate = pc.ontrack = pc.onconnectionstatechange = pc.onnegotiationneeded = null;
      try {
        pc.close();
      } catch {
        /* ignore */
      }
    }
    this._pendingCandidates = [];
    this._queue = Promise.resolve();
    this._lastErrorCode = null;
    if (this.peers.size) {
      const gone = [...this.peers.values()];
      this.peers.clear();
      for (const peer of gone) this._emit('peer_left', { peer, reason: 'reconnecting' });
      this._emit('peers', { peers: [] });
    }
  }

  _shutdown(state, reason) {
    clearTimeout(this._retryTimer);
    clearTimeout(this._endTimer);
    this._retryTimer = null;
    this._setState(state, reason);
    this._gen++;
    // Let already-queued frames (leave / end) flush: close() sends after them.
    this._closeTransport();
  }

  _finishEnded(reason) {
    if (FINAL_STATES.has(this.state)) return;
    this.endReason = reason;
    this._shutdown('ended', reason);
    this._emit('ended', { reason });
  }

  _failFatal(code, message) {
    if (FINAL_STATES.has(this.state)) return;
    if (code === 'room_ended') {
      this._finishEnded('room_ended');
      return;
    }
    const text = ERROR_TEXT[code] || 'The call could not continue. Please reload the page.';
    this.fatal = { code, message, text };
    this._shutdown('failed', code);
    this._emit('fatal', this.fatal);
  }

  _send(obj) {
    const ws = this._ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) return false;
    ws.send(JSON.stringify(obj));
    if (obj.type !== 'ping' && obj.type !== 'candidate') this._log('→', obj.type);
    return true;
  }

  // ---------------------------------------------------------------------------
  // server messages

  _onMessage(msg, gen) {
    if (msg.type !== 'pong' && msg.type !== 'candidate') this._log('←', msg.type);
    switch (msg.type) {
      case 'joined':
        return this._onJoined(msg, gen);
      case 'offer':
        return this._enqueue(gen, () => this._onOffer(msg.sdp, gen));
      case 'candidate':
        return this._onRemoteCandidate(msg.candidate ?? null, gen);
      case 'peer_joined':
        return this._onPeerJoined(msg.peer);
      case 'peer_left':
        return this._onPeerLeft(msg.peer_id, msg.reason);
      case 'muted':
        return this._onMuted(msg);
      case 'media_state':
        return this._onMediaState(msg);
      case 'room_ended':
        return this._finishEnded(msg.reason || 'ended');
      case 'error':
        return this._onError(msg);
      case 'prompt':
        return this._emit('prompt', { prompt: msg.prompt || {} });
      case 'pong':
        return undefined;
      default:
        this._log('ignoring unknown message type', msg.type);
        return undefined;
    }
  }

  _onJoined(msg, gen) {
    clearTimeout(this._joinTimer);
    this._attempt = 0;
    this._hasJoined = true;
    this.self = {
      peer_id: msg.peer_id,
      session_id: msg.session_id,
      role: msg.role,
      participant_id: msg.participant_id,
    };
    this.mutedByAgent = { audio: false, video: false };
    this.peers.clear();
    for (const p of msg.peers || []) this.peers.set(p.peer_id, this._newPeer(p));
    if (Array.isArray(msg.ice_servers)) this.iceServers = msg.ice_servers;
    this._createPc(gen);
    clearInterval(this._pingTimer);
    this._pingTimer = setInterval(() => this._heartbeat(gen), this.pingIntervalMs);
    this._setState('joined');
    this._emit('joined', {
      peerId: msg.peer_id,
      sessionId: msg.session_id,
      role: msg.role,
      participantId: msg.participant_id,
      peers: [...this.peers.values()],
    });
    this._emit('peers', { peers: [...this.peers.values()] });
    // Tell the others if we joined (or came back) with the mic or camera off.
    if (!this.mediaState.audio || !this.mediaState.video) this._send({ type: 'media_state', ...this.mediaState });
  }

  _heartbeat(gen) {
    if (gen !== this._gen) return;
    if (performance.now() - this._lastMessageAt > this.deadAfterMs) {
      this._log('no message from the server for too long');
      this._scheduleReconnect('heartbeat_timeout');
      return;
    }
    this._send({ type: 'ping' });
  }

  _newPeer(p) {
    return {
      peer_id: p.peer_id,
      role: p.role ?? null,
      participant_id: p.participant_id ?? null,
      stream: null,
      audio: true,
      video: true,
      mutedBy: { audio: false, video: false },
    };
  }

  _onPeerJoined(peer) {
    if (!peer?.peer_id || peer.peer_id === this.self?.peer_id) return;
    const existing = this.peers.get(peer.peer_id);
    const entry = existing ? Object.assign(existing, { role: peer.role, participant_id: peer.participant_id }) : this._newPeer(peer);
    this.peers.set(peer.peer_id, entry);
    this._emit('peer_joined', { peer: entry });
    this._emit('peers', { peers: [...this.peers.values()] });
  }

  _onPeerLeft(peerId, reason) {
    const peer = this.peers.get(peerId);
    if (!peer) return;
    this.peers.delete(peerId);
    this._emit('peer_left', { peer, reason: reason || 'left' });
    this._emit('peers', { peers: [...this.peers.values()] });
  }

  _onMuted(msg) {
    const self = msg.peer_id === this.self?.peer_id;
    if (self) {
      this.mutedByAgent[msg.kind] = !!msg.muted;
    } else {
      const peer = this.peers.get(msg.peer_id);
      if (peer && (msg.kind === 'audio' || msg.kind === 'video')) peer.mutedBy[msg.kind] = !!msg.muted;
    }
    this._emit('muted', { peerId: msg.peer_id, kind: msg.kind, muted: !!msg.muted, by: msg.by, self });
    if (!self) this._emit('peers', { peers: [...this.peers.values()] });
  }

  _onMediaState(msg) {
    const peer = this.peers.get(msg.peer_id);
    if (peer) {
      peer.audio = !!msg.audio;
      peer.video = !!msg.video;
    }
    this._emit('media_state', { peerId: msg.peer_id, audio: !!msg.audio, video: !!msg.video });
    this._emit('peers', { peers: [...this.peers.values()] });
  }

  _onError(msg) {
    const code = msg.code || 'unknown';
    this._lastErrorCode = code;
    // Log the code only: messages may echo request details.
    this._log('server error', code);
    if (code === 'peer_failed') {
      this._scheduleReconnect('peer_failed');
      return;
    }
    // `forbidden` while in a call answers one action (the connection stays open);
    // before `joined` it means this token may not join.
    if (FATAL_CODES.has(code) && (code !== 'forbidden' || this.state !== 'joined')) {
      this._failFatal(code, msg.message || '');
      return;
    }
    this._emit('server_error', { code, message: msg.message || '' });
  }

  // ---------------------------------------------------------------------------
  // WebRTC

  _createPc(gen) {
    if (this._pc) {
      try {
        this._pc.close();
      } catch {
        /* ignore */
      }
    }
    const pc = new RTCPeerConnection({ iceServers: this.iceServers });
    this._pc = pc;
    this._pendingCandidates = [];
    // Local tracks go in before the first offer is applied, so that they bind to the
    // server's recvonly m-lines of the same kind.
    if (this.localStream) {
      for (const track of this.localStream.getTracks()) pc.addTrack(track, this.localStream);
    }
    pc.onicecandidate = (ev) => {
      if (gen !== this._gen) return;
      const c = ev.candidate;
      let candidate = null;
      if (c && c.candidate) {
        candidate = { candidate: c.candidate, sdpMid: c.sdpMid, sdpMLineIndex: c.sdpMLineIndex };
        if (c.usernameFragment) candidate.usernameFragment = c.usernameFragment;
      }
      this.stats.candidatesOut += 1;
      this._send({ type: 'candidate', candidate });
    };
    pc.ontrack = (ev) => {
      if (gen !== this._gen) return;
      const stream = ev.streams[0] || new MediaStream([ev.track]);
      const peerId = ev.streams[0]?.id || null;
      let peer = peerId ? this.peers.get(peerId) : null;
      if (peerId && !peer) {
        // The track can come before (or without) peer_joined: keep a placeholder.
        peer = this._newPeer({ peer_id: peerId });
        this.peers.set(peerId, peer);
      }
      if (peer) peer.stream = stream;
      this._emit('track', { peerId, stream, track: ev.track });
      if (peer) this._emit('peers', { peers: [...this.peers.values()] });
    };
    pc.onconnectionstatechange = () => {
      if (gen !== this._gen) return;
      const state = pc.connectionState;
      this._log('pc', state);
      this._emit('connection', { state });
      if (state === 'failed') {
        // ICE gave up: a fresh connection (new peer, new offer) is the way back.
        this._scheduleReconnect('ice_failed');
      }
    };
    // The server is the offerer: `negotiationneeded` is deliberately not handled.
    return pc;
  }

  _enqueue(gen, fn) {
    this._queue = this._queue
      .then(() => (gen === this._gen ? fn() : undefined))
      .catch((err) => {
        if (gen !== this._gen) return;
        this._log('negotiation failed', err?.name || String(err));
        // A broken negotiation can't be repaired by this client: start over.
        this._scheduleReconnect('negotiation_failed');
      });
    return this._queue;
  }

  async _onOffer(sdp, gen) {
    if (typeof sdp !== 'string' || !sdp) return;
    const pc = this._pc || this._createPc(gen);
    this.stats.offers += 1;
    await pc.setRemoteDescription({ type: 'offer', sdp });
    if (gen !== this._gen) return;
    await this._flushCandidates(pc, gen);
    const answer = await pc.createAnswer();
    if (gen !== this._gen) return;
    await pc.setLocalDescription(answer);
    if (gen !== this._gen) return;
    this.stats.answers += 1;
    this._send({ type: 'answer', sdp: pc.localDescription.sdp });
  }

  _onRemoteCandidate(candidate, gen) {
    this.stats.candidatesIn += 1;
    const pc = this._pc;
    if (!pc || !pc.remoteDescription) {
      this._pendingCandidates.push(candidate);
      return;
    }
    this._addCandidate(pc, candidate, gen);
  }

  async _flushCandidates(pc, gen) {
    const pending = this._pendingCandidates;
    this._pendingCandidates = [];
    for (const c of pending) await this._addCandidate(pc, c, gen);
  }

  async _addCandidate(pc, candidate, gen) {
    try {
      if (candidate && candidate.candidate) {
        const init = { candidate: candidate.candidate };
        if (candidate.sdpMid != null) init.sdpMid = candidate.sdpMid;
        if (candidate.sdpMLineIndex != null) init.sdpMLineIndex = candidate.sdpMLineIndex;
        if (candidate.usernameFragment != null) init.usernameFragment = candidate.usernameFragment;
        if (init.sdpMid == null && init.sdpMLineIndex == null) init.sdpMLineIndex = 0;
        await pc.addIceCandidate(init);
      } else {
        await pc.addIceCandidate(); // end of candidates
      }
    } catch (err) {
      if (gen === this._gen) this._log('remote candidate rejected', err?.name);
    }
  }

  // ---------------------------------------------------------------------------

  _setState(state, reason) {
    if (this.state === state) return;
    const previous = this.state;
    this.state = state;
    this._emit('state', { state, previous, reason: reason || null });
  }

  _emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  _log(...args) {
    if (this.debug) console.debug('[vkyc rtc]', ...args);
  }
}
