// REST client for the vkyc back-office API (see PROTOCOL.md, "REST").

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message || code || `HTTP ${status}`);
    this.name = 'ApiError';
    this.status = status;
    this.code = code || `http_${status}`;
  }
}

export class Api {
  /** @param {string} apiKey  back-office API key (sent as a Bearer token) */
  constructor(apiKey, base = '') {
    this.apiKey = apiKey;
    this.base = base;
  }

  async request(method, path, body) {
    const headers = { Accept: 'application/json', Authorization: `Bearer ${this.apiKey}` };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    let res;
    try {
      res = await fetch(this.base + path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        cache: 'no-store',
        credentials: 'omit',
      });
    } catch {
      throw new ApiError(0, 'network', 'The server could not be reached. Check your connection and try again.');
    }
    let data = null;
    const text = await res.text();
    if (text) {
      try {
        data = JSON.parse(text);
      } catch {
        data = null;
      }
    }
    if (!res.ok) {
      const err = data?.error;
      throw new ApiError(res.status, err?.code, err?.message || `The server answered ${res.status}.`);
    }
    return data;
  }

  listSessions({ limit = 50 } = {}) {
    return this.request('GET', `/v1/sessions?limit=${encodeURIComponent(limit)}`).then((d) => d?.sessions || []);
  }

  getSession(id) {
    return this.request('GET', `/v1/sessions/${encodeURIComponent(id)}`);
  }

  /** applicant: { name, date_of_birth, reference_id } */
  createSession({ applicant, externalRef } = {}) {
    const body = { mode: 'live_agent', applicant };
    if (externalRef) body.external_ref = externalRef;
    return this.request('POST', '/v1/sessions', body);
  }

  /** role: 'agent' | 'customer' | 'observer' → { token, role, participant_id, session_id, expires_at, join_url } */
  issueToken(sessionId, role, { participantId, ttlSeconds = 3600 } = {}) {
    const body = { role, ttl_seconds: ttlSeconds };
    if (participantId) body.participant_id = participantId;
    return this.request('POST', `/v1/sessions/${encodeURIComponent(sessionId)}/tokens`, body);
  }

  listRooms() {
    return this.request('GET', '/v1/rooms').then((d) => d?.rooms || []);
  }

  endRoom(sessionId) {
    return this.request('POST', `/v1/rooms/${encodeURIComponent(sessionId)}/end`);
  }

  // ---------------------------------------------------------------- KYC workflow
  // These also work with a join token in place of the API key (the role decides what is allowed).

  _s(sessionId) {
    return `/v1/sessions/${encodeURIComponent(sessionId)}`;
  }

  /** The case document: { result, recommendation, face_match_score, name_match_score, steps, … } */
  getKyc(sessionId) {
    return this.request('GET', `${this._s(sessionId)}/kyc`);
  }

  /** kind: 'face' | 'document' | 'frame' | 'reference'; image: base64 (no data: prefix needed) */
  addCapture(sessionId, kind, image) {
    return this.request('POST', `${this._s(sessionId)}/captures`, { kind, image });
  }

  listCaptures(sessionId) {
    return this.request('GET', `${this._s(sessionId)}/captures`).then((d) => d?.captures || []);
  }

  /** The image of a capture, as a Blob. */
  /** The call's server-side recordings (oldest first). */
  listRecordings(sessionId) {
    return this.request('GET', `${this._s(sessionId)}/recordings`).then((d) => d?.recordings || []);
  }

  /** A signed, expiring URL for a recording's media (playable and seekable by <video>). */
  recordingUrl(recordingId) {
    return this.request('GET', `/v1/recordings/${encodeURIComponent(recordingId)}/url`);
  }

  async captureBlob(sessionId, captureId) {
    let res;
    try {
      res = await fetch(`${this.base}${this._s(sessionId)}/captures/${encodeURIComponent(captureId)}`, {
        headers: { Authorization: `Bearer ${this.apiKey}` },
        cache: 'no-store',
        credentials: 'omit',
      });
    } catch {
      throw new ApiError(0, 'network', 'The server could not be reached. Check your connection and try again.');
    }
    if (!res.ok) {
      const data = await res.json().catch(() => null);
      throw new ApiError(res.status, data?.error?.code, data?.error?.message || `The server answered ${res.status}.`);
    }
    return res.blob();
  }

  /** step: 'consent' | 'location' | 'otp' | 'questions' | 'document' | 'face' → { step, attempt } */
  stepAttempt(sessionId, step, body) {
    return this.request('POST', `${this._s(sessionId)}/steps/${encodeURIComponent(step)}/attempts`, body);
  }

  /** Sends a new one-time code to the customer (agent) → { sent, expires_in_secs } */
  sendOtp(sessionId) {
    return this.stepAttempt(sessionId, 'otp', { action: 'send' });
  }

  /** The code the customer received (customer or agent token) → { step, attempt } */
  verifyOtp(sessionId, code) {
    return this.stepAttempt(sessionId, 'otp', { code });
  }

  /** answers: [{ id, value }] (agent) → { step, attempt } */
  answerQuestions(sessionId, answers) {
    return this.stepAttempt(sessionId, 'questions', { answers });
  }

  /** verdict: 'verified' | 'declined' → case document */
  stepDecision(sessionId, step, verdict, notes) {
    const body = { verdict };
    if (notes) body.notes = notes;
    return this.request('POST', `${this._s(sessionId)}/steps/${encodeURIComponent(step)}/decision`, body);
  }

  /** result: 'approved' | 'declined' → case document */
  decide(sessionId, result, notes) {
    const body = { result };
    if (notes) body.notes = notes;
    return this.request('POST', `${this._s(sessionId)}/decision`, body);
  }

  /** verdict: 'approved' | 'declined' | 'recapture' (observer token) → case document */
  audit(sessionId, verdict, notes) {
    const body = { verdict };
    if (notes) body.notes = notes;
    return this.request('POST', `${this._s(sessionId)}/audit`, body);
  }
}

/** Base64 (without the data: prefix) of a Blob. */
export function blobToBase64(blob) {
  return new Promise((resolve, reject) => {
    const r = new FileReader();
    r.onload = () => resolve(String(r.result).replace(/^data:[^,]*,/, ''));
    r.onerror = () => reject(r.error);
    r.readAsDataURL(blob);
  });
}

/** Session id from a join token's payload (display/routing only; the server verifies the token). */
export function tokenClaims(jwt) {
  try {
    return JSON.parse(atob(jwt.split('.')[1].replace(/-/g, '+').replace(/_/g, '/')));
  } catch {
    return null;
  }
}
