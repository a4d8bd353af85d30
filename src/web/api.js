// REST client for the vkyc API (see PROTOCOL.md, "REST"), as a join token's holder or as the
// signed-in console.

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message || code || `HTTP ${status}`);
    this.name = 'ApiError';
    this.status = status;
    this.code = code || `http_${status}`;
  }
}

/** Methods that change nothing: a signed-in console sends its CSRF token with every other one. */
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * The REST client, in one of two modes:
 *
 * - `new Api(token)`: with a bearer token, a join token (the join, audit and self-record
 *   pages; the console's per-session agent API). No cookie is sent.
 * - `Api.console()`: the signed-in console (a staff account). No Authorization header: the
 *   browser sends the HttpOnly `vkyc_console` cookie itself (same origin), and every change
 *   (POST, PUT, PATCH, DELETE) carries the console's CSRF token as `X-CSRF-Token`. The token
 *   comes from `me()`, `login()` or `setup()`.
 *
 * The API key is the lender's back end's: no page uses it.
 */
export class Api {
  /** @param {string|null} token  a join token (sent as a Bearer token); null for the signed-in console */
  constructor(token = null, base = '') {
    this.token = token || null;
    this.base = base;
    /** The signed-in console's CSRF token (console mode only). */
    this.csrfToken = null;
  }

  /** The signed-in console's client (cookie + CSRF token). */
  static console(base = '') {
    return new Api(null, base);
  }

  get isConsole() {
    return !this.token;
  }

  /** The credentials of a request: the bearer token, or (console, a change) the CSRF token. */
  authHeaders(method = 'GET') {
    if (this.token) return { Authorization: `Bearer ${this.token}` };
    if (this.csrfToken && !SAFE_METHODS.has(method.toUpperCase())) return { 'X-CSRF-Token': this.csrfToken };
    return {};
  }

  /** fetch's `credentials`: the cookie goes only with the console's requests. */
  get credentials() {
    return this.token ? 'omit' : 'same-origin';
  }

  async request(method, path, body) {
    const headers = { Accept: 'application/json', ...this.authHeaders(method) };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    let res;
    try {
      res = await fetch(this.base + path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        cache: 'no-store',
        credentials: this.credentials,
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

  // ---------------------------------------------------------------- the signed-in console

  /** Keeps the CSRF token of a sign-in answer ({ user, csrf_token, method }) and returns the answer. */
  _signedIn(data) {
    this.csrfToken = data?.csrf_token || null;
    return data;
  }

  /** Signs in with a password → { user, csrf_token, method }; 401 `invalid_credentials`. */
  login(email, password) {
    return this.request('POST', '/v1/auth/login', { email, password }).then((d) => this._signedIn(d));
  }

  /** The signed-in user → { user, csrf_token, method }; 401 when not signed in. */
  me() {
    return this.request('GET', '/v1/auth/me').then((d) => this._signedIn(d));
  }

  /** Signs out (the console session ends, the cookie is cleared). */
  async logout() {
    await this.request('POST', '/v1/auth/logout');
    this.csrfToken = null;
  }

  /** Creates the first admin with the setup link's secret, and signs in → { user, csrf_token, method }. */
  setup({ token, email, name, password }) {
    return this.request('POST', '/v1/auth/setup', { token, email, name, password }).then((d) => this._signedIn(d));
  }

  /** Whether single sign-on is offered (`GET /v1/auth/sso` → { enabled }); false when the server has no such endpoint. */
  async ssoEnabled() {
    try {
      return !!(await this.request('GET', '/v1/auth/sso'))?.enabled;
    } catch {
      return false;
    }
  }

  // ---------------------------------------------------------------- accounts (admins)

  /** Every account → [User] (User: { id, email, name, roles, skills, disabled, created_at }). */
  listUsers() {
    return this.request('GET', '/v1/users').then((d) => d?.users || []);
  }

  /** { email, name, roles: [agent|auditor|supervisor|admin], skills: { languages, products, regions, tags }, password? } → User */
  createUser(user) {
    return this.request('POST', '/v1/users', user);
  }

  /** changes: { name?, email?, roles?, skills?, disabled?, password? } → User */
  updateUser(id, changes) {
    return this.request('PATCH', `/v1/users/${encodeURIComponent(id)}`, changes);
  }

  // ---------------------------------------------------------------- sessions

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

  // ---------------------------------------------------------------- the desk (supervisors, admins)

  /** The desk now: { at, waiting: [...], agents: [...], agents_by_state, offers } */
  deskSnapshot() {
    return this.request('GET', '/v1/desk/snapshot');
  }

  /** Gives a waiting customer to a free agent (their console rings); 404 `not_waiting`, 409 `agent_not_free`. */
  reassign(sessionId, userId) {
    return this.request('POST', `/v1/desk/queue/${encodeURIComponent(sessionId)}/reassign`, { user_id: userId });
  }

  // ---------------------------------------------------------------- KYC workflow
  // With the session's join token (the role decides what is allowed); the case document also
  // with the signed-in console.

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

  /** The call's server-side recordings (oldest first). */
  listRecordings(sessionId) {
    return this.request('GET', `${this._s(sessionId)}/recordings`).then((d) => d?.recordings || []);
  }

  /** A signed, expiring URL for a recording's media (playable and seekable by <video>). */
  recordingUrl(recordingId) {
    return this.request('GET', `/v1/recordings/${encodeURIComponent(recordingId)}/url`);
  }

  /** The image of a capture, as a Blob. */
  async captureBlob(sessionId, captureId) {
    let res;
    try {
      res = await fetch(`${this.base}${this._s(sessionId)}/captures/${encodeURIComponent(captureId)}`, {
        headers: this.authHeaders('GET'),
        cache: 'no-store',
        credentials: this.credentials,
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
