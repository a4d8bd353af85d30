// Small DOM helpers shared by the pages. No framework: elements are built with
// textContent (never innerHTML with data), so nothing from the server is parsed as HTML.

export const $ = (sel, root = document) => root.querySelector(sel);
export const $$ = (sel, root = document) => [...root.querySelectorAll(sel)];

/**
 * Creates an element. `attrs`: properties/attributes; `class`, `dataset`, `on<event>`
 * handled specially. Children: nodes or strings (strings become text).
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value == null || value === false) continue;
    if (key === 'class') el.className = value;
    else if (key === 'dataset') Object.assign(el.dataset, value);
    else if (key.startsWith('on') && typeof value === 'function') el.addEventListener(key.slice(2), value);
    else if (key in el && typeof value !== 'string') el[key] = value;
    else el.setAttribute(key, value === true ? '' : String(value));
  }
  for (const child of children.flat()) {
    if (child == null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export function show(el, visible = true) {
  if (el) el.hidden = !visible;
}

/** Sets the page's status line (`#status`); `state` is exposed as `data-state` for styling/tests. */
export function setStatus(text, state = 'info') {
  const el = $('#status');
  if (!el) return;
  el.textContent = text;
  el.dataset.state = state;
}

/**
 * Shows a message box in `container` (title + text + optional action buttons).
 * kind: 'error' | 'warning' | 'info' | 'success'. Pass null to clear.
 */
export function showNotice(container, notice) {
  if (!container) return;
  container.replaceChildren();
  if (!notice) {
    container.hidden = true;
    return;
  }
  const { kind = 'info', title, message, code, actions = [] } = notice;
  container.className = `notice notice-${kind}`;
  container.setAttribute('role', kind === 'error' ? 'alert' : 'status');
  if (code) container.dataset.code = code;
  else delete container.dataset.code;
  if (title) container.append(h('strong', { class: 'notice-title' }, title));
  if (message) container.append(h('p', { class: 'notice-text' }, message));
  if (actions.length) {
    container.append(
      h(
        'div',
        { class: 'notice-actions' },
        actions.map((a) => h('button', { type: 'button', class: a.class || 'btn', id: a.id, onclick: a.onClick }, a.label)),
      ),
    );
  }
  container.hidden = false;
}

/** mm:ss (or h:mm:ss past an hour). */
export function formatDuration(ms) {
  const total = Math.max(0, Math.floor(ms / 1000));
  const s = total % 60;
  const m = Math.floor(total / 60) % 60;
  const hrs = Math.floor(total / 3600);
  const pad = (n) => String(n).padStart(2, '0');
  return hrs ? `${hrs}:${pad(m)}:${pad(s)}` : `${pad(m)}:${pad(s)}`;
}

/** Call duration shown in an element, ticking every second once started. */
export class CallTimer {
  constructor(el) {
    this.el = el;
    this.startedAt = null;
    this._timer = null;
    this.render();
  }

  start(at = performance.now()) {
    if (this.startedAt != null) return;
    this.startedAt = at;
    this.render();
    this._timer = setInterval(() => this.render(), 1000);
  }

  stop() {
    clearInterval(this._timer);
    this._timer = null;
    this.render();
  }

  reset() {
    this.stop();
    this.startedAt = null;
    this.render();
  }

  get elapsedMs() {
    return this.startedAt == null ? 0 : performance.now() - this.startedAt;
  }

  render() {
    if (this.el) this.el.textContent = formatDuration(this.elapsedMs);
  }
}

/** Page metrics exposed to tests and diagnostics as `window.vkyc.metrics`. */
export function createMetrics() {
  return {
    joinClickedAt: null,
    firstRemoteFrameAt: null,
    joinToFirstFrameMs: null,
    markJoinClicked() {
      this.joinClickedAt = performance.now();
      this.firstRemoteFrameAt = null;
      this.joinToFirstFrameMs = null;
    },
    markFirstRemoteFrame(at = performance.now()) {
      if (this.firstRemoteFrameAt != null) return false;
      this.firstRemoteFrameAt = at;
      if (this.joinClickedAt != null) this.joinToFirstFrameMs = Math.round(at - this.joinClickedAt);
      return true;
    },
  };
}

/**
 * Calls `cb(nowMs)` once, when `video` presents its first frame (requestVideoFrameCallback,
 * or the 'playing' event where that is missing). Returns a cancel function.
 */
export function onFirstVideoFrame(video, cb) {
  let done = false;
  let handle = null;
  const fire = (at) => {
    if (done) return;
    done = true;
    cleanup();
    cb(at ?? performance.now());
  };
  const onPlaying = () => {
    if (video.videoWidth > 0) fire(performance.now());
  };
  const cleanup = () => {
    video.removeEventListener('playing', onPlaying);
    video.removeEventListener('resize', onPlaying);
    if (handle != null && 'cancelVideoFrameCallback' in video) video.cancelVideoFrameCallback(handle);
  };
  if ('requestVideoFrameCallback' in video) {
    handle = video.requestVideoFrameCallback((now) => fire(now));
  } else {
    video.addEventListener('playing', onPlaying);
    video.addEventListener('resize', onPlaying);
  }
  return () => {
    done = true;
    cleanup();
  };
}

/**
 * Shows `stream` in `video` and starts playback. Browsers may refuse to autoplay sound
 * without a user gesture: then the video plays muted and `onAudioBlocked()` is called
 * (offer the user an "Enable sound" button that calls `video.muted = false; video.play()`).
 */
export async function playStream(video, stream, { muted = false, onAudioBlocked } = {}) {
  if (video.srcObject !== stream) video.srcObject = stream;
  video.muted = muted;
  try {
    await video.play();
  } catch (err) {
    if (err?.name === 'NotAllowedError' && !muted) {
      video.muted = true;
      try {
        await video.play();
      } catch {
        /* nothing more to do */
      }
      onAudioBlocked?.();
    }
    // AbortError: a newer srcObject replaced this one; nothing to do.
  }
}

/** Copies text to the clipboard; falls back to selecting an input for older browsers. */
export async function copyText(text, input) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    if (input) {
      input.focus();
      input.select();
      try {
        return document.execCommand('copy');
      } catch {
        return false;
      }
    }
    return false;
  }
}

/**
 * Reads `name` from the URL fragment (`#a=1&b=2`) only: a credential in the query string
 * would reach the server's and proxies' access logs and the Referer, so links never carry
 * one there and the pages do not accept it.
 */
export function readUrlParam(name) {
  const frag = new URLSearchParams(location.hash.replace(/^#/, ''));
  return frag.get(name) || null;
}

/** Removes secrets from the address bar (so they don't end up in screenshots or history). */
export function scrubUrl() {
  history.replaceState(null, '', location.pathname);
}

/**
 * A secret the page's link carries (`#name=…`): kept for this tab in sessionStorage under
 * `storageKey` and removed from the address bar (history, screen shares). Without one in the
 * link, the one kept earlier in this tab, or null.
 */
export function takeUrlSecret(name, storageKey) {
  const fromUrl = readUrlParam(name);
  if (!fromUrl) return sessionStorage.getItem(storageKey);
  sessionStorage.setItem(storageKey, fromUrl);
  scrubUrl();
  return fromUrl;
}

/** Every element of the page that has an id, by its id in camelCase (`#join-btn` → `.joinBtn`). */
export function elementsById(root = document) {
  return Object.fromEntries($$('[id]', root).map((el) => [el.id.replace(/-(\w)/g, (_, c) => c.toUpperCase()), el]));
}

/** Exposes page state to tests and diagnostics as `window.vkyc`: one read-only property per getter. */
export function exposeState(getters) {
  window.vkyc = Object.defineProperties(
    {},
    Object.fromEntries(Object.entries(getters).map(([name, get]) => [name, { get, enumerable: true }])),
  );
}

/** Readable label for a role. */
export function roleLabel(role) {
  return { agent: 'Agent', customer: 'Customer', observer: 'Observer' }[role] || 'Participant';
}
