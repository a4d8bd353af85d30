// The agent desk in the pages: the desk's sockets (the agent console's `/v1/desk/ws`, the
// waiting customer's `/v1/queue/ws`), the console's ring tone, and the words the pages use
// for agent states, requirements and waits. See src/desk/desk_api.rs for the protocol.
//
// A DeskSocket reconnects by itself (backoff with jitter) until it is closed; the page
// decides what each message means. Nothing here logs message contents (they carry names).

/** The agents' states (the server's words), as the pages show them. */
export const AGENT_STATES = ['available', 'busy', 'wrap_up', 'break', 'offline'];

const STATE_LABELS = { available: 'Available', busy: 'Busy', wrap_up: 'Wrap-up', break: 'Break', offline: 'Offline' };

export function agentStateLabel(state) {
  return STATE_LABELS[state] || String(state || 'unknown').replace(/_/g, ' ');
}

/** `ws(s)://<this host><path>` */
export function socketUrl(path) {
  return `${location.protocol === 'https:' ? 'wss:' : 'ws:'}//${location.host}${path}`;
}

/**
 * A desk socket that comes back when it drops: `onOpen(socket)` after each (re)connection
 * (send the greeting there), `onMessage(msg)` for each JSON message, `onDown({ attempt,
 * everOpened })` when the connection is lost or could not be made (a reconnection follows
 * unless `close()` was called). Backoff: 0.5 s doubling up to `maxBackoffMs`, ±20 %.
 */
export class DeskSocket {
  constructor({ path, onOpen, onMessage, onDown, maxBackoffMs = 15_000 }) {
    this.url = socketUrl(path);
    this.onOpen = onOpen;
    this.onMessage = onMessage;
    this.onDown = onDown;
    this.maxBackoffMs = maxBackoffMs;
    this.attempt = 0;
    this.everOpened = false;
    this.closed = false;
    this._ws = null;
    this._timer = null;
    this._connect();
  }

  get open() {
    return this._ws?.readyState === WebSocket.OPEN;
  }

  /** Sends a message now; false when the socket is not open. */
  send(msg) {
    if (!this.open) return false;
    this._ws.send(JSON.stringify(msg));
    return true;
  }

  /** Stops for good (no reconnection). */
  close() {
    this.closed = true;
    clearTimeout(this._timer);
    const ws = this._ws;
    this._ws = null;
    if (ws) {
      ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
      try {
        ws.close(1000);
      } catch {
        /* already closed */
      }
    }
  }

  _connect() {
    if (this.closed) return;
    let ws;
    try {
      ws = new WebSocket(this.url);
    } catch {
      this._down();
      return;
    }
    this._ws = ws;
    ws.onopen = () => {
      this.attempt = 0;
      this.everOpened = true;
      this.onOpen?.(this);
    };
    ws.onmessage = (ev) => {
      let msg;
      try {
        msg = JSON.parse(ev.data);
      } catch {
        return;
      }
      if (msg && typeof msg.type === 'string') this.onMessage?.(msg);
    };
    ws.onclose = () => {
      if (this._ws !== ws) return;
      this._ws = null;
      this._down();
    };
  }

  _down() {
    if (this.closed) return;
    this.attempt += 1;
    this.onDown?.({ attempt: this.attempt, everOpened: this.everOpened });
    if (this.closed) return;
    const base = Math.min(this.maxBackoffMs, 500 * 2 ** Math.min(this.attempt - 1, 10));
    clearTimeout(this._timer);
    this._timer = setTimeout(() => this._connect(), Math.round(base * (0.8 + Math.random() * 0.4)));
  }
}

// ------------------------------------------------------------------ words

const DIMENSIONS = [
  ['languages', 'Language'],
  ['products', 'Product'],
  ['regions', 'Region'],
  ['tags', 'Tag'],
];

let languageNames = null;

/** "Hindi" for "hi" (the browser's names), else the code itself. */
export function languageName(code) {
  try {
    languageNames ??= new Intl.DisplayNames(['en'], { type: 'language' });
    const name = languageNames.of(code);
    return name && name !== code ? name : code;
  } catch {
    return code;
  }
}

/**
 * What a session needs (or an agent serves), as [label, values] pairs for the dimensions it
 * names: [["Language", "Hindi, English"], ["Product", "home_loan"]].
 */
export function skillRows(skills) {
  return DIMENSIONS.filter(([k]) => skills?.[k]?.length).map(([k, label]) => [
    label,
    skills[k].map((v) => (k === 'languages' ? languageName(v) : v)).join(', '),
  ]);
}

/** "Language: Hindi · Product: home_loan", or `none` when nothing is named. */
export function skillsText(skills, none = 'Any agent') {
  const rows = skillRows(skills);
  return rows.length ? rows.map(([label, v]) => `${label}: ${v}`).join(' · ') : none;
}

/** "~3 min" for a wait in seconds (at least a minute when there is a wait). */
export function waitText(secs) {
  if (secs == null) return null;
  if (secs <= 0) return 'now';
  return `~${Math.max(1, Math.round(secs / 60))} min`;
}

// ------------------------------------------------------------------ ring tone

/**
 * The console's ring: a two-tone beep every 1.5 s (WebAudio). Browsers keep audio blocked
 * until the user has interacted with the page: `unlock()` (call it from a click) resumes it;
 * a blocked ring is silent, never an error. `ringing` says whether it rings (for tests).
 */
export class RingTone {
  constructor() {
    this.ctx = null;
    this.ringing = false;
    this._timer = null;
  }

  _context() {
    try {
      const AC = window.AudioContext || window.webkitAudioContext;
      if (!AC) return null;
      this.ctx ??= new AC();
      if (this.ctx.state === 'suspended') this.ctx.resume().catch(() => {});
      return this.ctx;
    } catch {
      return null;
    }
  }

  /** Lets the ring be heard later (call from a user gesture). */
  unlock() {
    this._context();
  }

  start() {
    if (this.ringing) return;
    this.ringing = true;
    this._beep();
    this._timer = setInterval(() => this._beep(), 1500);
  }

  stop() {
    this.ringing = false;
    clearInterval(this._timer);
    this._timer = null;
  }

  _beep() {
    const ctx = this._context();
    if (!ctx || ctx.state !== 'running') return;
    try {
      const t0 = ctx.currentTime;
      for (const [freq, at] of [[880, 0], [660, 0.22]]) {
        const osc = ctx.createOscillator();
        const gain = ctx.createGain();
        osc.type = 'sine';
        osc.frequency.value = freq;
        gain.gain.setValueAtTime(0, t0 + at);
        gain.gain.linearRampToValueAtTime(0.18, t0 + at + 0.02);
        gain.gain.linearRampToValueAtTime(0, t0 + at + 0.18);
        osc.connect(gain).connect(ctx.destination);
        osc.start(t0 + at);
        osc.stop(t0 + at + 0.2);
      }
    } catch {
      /* no sound: the banner still shows */
    }
  }
}
