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
}
