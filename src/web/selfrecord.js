// Self-record mode on the customer page: the server's script (say your name and the date,
// then a random head-movement challenge) is shown one prompt at a time while MediaRecorder
// records the camera and microphone, and frames are grabbed from the camera at the prompts.
// Then the frames are uploaded as captures, the video in resumable chunks
// (PUT …/self-record/video with Content-Range; after a failure the upload resumes from the
// server's `video_received`), and the frames are submitted for face match and liveness.

import { ApiError } from './api.js';
import { h } from './ui.js';

/** What to do for each move: the person's own direction (frames are not mirrored). */
export const MOVE_TEXT = {
  turn_left: 'Turn your head to your left',
  turn_right: 'Turn your head to your right',
  look_up: 'Look up',
  look_down: 'Look down',
};
const FRAMES_PER_SECOND = 4;

/**
 * A prompt box (the step, the instruction, a progress bar), hidden, with the given element
 * ids; returns its parts as showPromptStep takes them: { prompt, step, text, progress }.
 */
export function promptBox(ids) {
  const ui = {
    step: h('p', { id: ids.step, class: 'prompt-step' }),
    text: h('p', { id: ids.text, class: 'prompt-text' }),
    progress: h('span', { id: ids.progress }),
  };
  ui.prompt = h('div', { id: ids.prompt, class: 'prompt-box', role: 'alert', 'aria-live': 'assertive', hidden: true }, ui.step, ui.text, h('div', { class: 'prompt-bar' }, ui.progress));
  return ui;
}

/** Shows one prompt in a prompt box (`ui`: { prompt, step, text, progress }) with a bar filling over `ms`. */
export function showPromptStep(ui, stepText, text, ms) {
  ui.prompt.hidden = false;
  ui.step.textContent = stepText;
  ui.text.textContent = text;
  ui.progress.style.transition = 'none';
  ui.progress.style.width = '0%';
  void ui.progress.offsetWidth; // restart the bar
  ui.progress.style.transition = `width ${ms}ms linear`;
  ui.progress.style.width = '100%';
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function recorderType() {
  for (const t of ['video/webm;codecs=vp8,opus', 'video/webm;codecs=vp9,opus', 'video/webm', 'video/mp4']) {
    if (window.MediaRecorder?.isTypeSupported?.(t)) return t;
  }
  return '';
}

/** A raw (un-mirrored) frame of the camera as a base64 JPEG. */
async function grab(video) {
  const c = document.createElement('canvas');
  c.width = video.videoWidth;
  c.height = video.videoHeight;
  c.getContext('2d').drawImage(video, 0, 0, c.width, c.height);
  const blob = await new Promise((resolve) => c.toBlob(resolve, 'image/jpeg', 0.9));
  if (!blob) throw new ApiError(0, 'capture_failed', 'A picture could not be taken from your camera.');
  const bytes = new Uint8Array(await blob.arrayBuffer());
  let bin = '';
  for (let i = 0; i < bytes.length; i += 0x8000) bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(bin);
}

export class SelfRecorder {
  /** ui: { video, prompt, step, text, progress, dot, onStatus(text, kind), onUpload(fraction, label) } */
  constructor({ api, sessionId, stream, ui }) {
    this.api = api;
    this.sessionId = sessionId;
    this.stream = stream;
    this.ui = ui;
    this.path = `/v1/sessions/${encodeURIComponent(sessionId)}/self-record`;
  }

  /** Records following the script; returns { video: Blob, type, frames: [{image, t}] }. */
  async record() {
    const script = await this.api.request('POST', this.path);
    this.script = script;
    const type = recorderType();
    const rec = new MediaRecorder(this.stream, type ? { mimeType: type, videoBitsPerSecond: 1_000_000 } : undefined);
    const parts = [];
    rec.ondataavailable = (e) => e.data.size && parts.push(e.data);
    const stopped = new Promise((r) => (rec.onstop = r));
    rec.start(1000);
    this.ui.dot.hidden = false;
    const maxMs = (script.video_max_duration_secs || 60) * 1000;
    const hardStop = setTimeout(() => rec.state !== 'inactive' && rec.stop(), maxMs);
    const t0 = performance.now();
    const frames = [];
    const maxFrames = script.challenge.max_frames;
    const shoot = async () => {
      if (frames.length < maxFrames) frames.push({ image: await grab(this.ui.video), t: Math.round(performance.now() - t0) });
    };
    const prompts = script.prompts;
    const moves = prompts.filter((p) => p.move).length;
    let k = 0;
    for (const p of prompts) {
      const ms = p.seconds * 1000;
      const label = p.move ? `Movement ${++k} of ${moves} — then face the camera again` : 'Recording';
      showPromptStep(this.ui, label, p.move ? MOVE_TEXT[p.move] || p.move : p.text, ms);
      const start = performance.now();
      if (p.frames) {
        // A few pictures while the customer speaks.
        for (let i = 1; i <= p.frames; i++) {
          await sleep(start + (i * ms) / (p.frames + 1) - performance.now());
          await shoot();
        }
      } else {
        for (let t = 0; t < ms; t += 1000 / FRAMES_PER_SECOND) {
          await sleep(start + t - performance.now());
          await shoot();
        }
      }
      await sleep(start + ms - performance.now());
      if (rec.state === 'inactive') break; // the longest video was reached
    }
    showPromptStep(this.ui, 'Done', 'Thank you', 1000);
    for (let t = 0; t < 1000; t += 1000 / FRAMES_PER_SECOND) {
      await sleep(t ? 1000 / FRAMES_PER_SECOND : 0);
      await shoot();
    }
    clearTimeout(hardStop);
    if (rec.state !== 'inactive') rec.stop();
    await stopped;
    this.ui.dot.hidden = true;
    this.ui.prompt.hidden = true;
    const video = new Blob(parts, { type: (type || 'video/webm').split(';')[0] });
    return { video, frames, durationMs: performance.now() - t0 };
  }

  /** Uploads frames and video, then submits. */
  async upload({ video, frames }) {
    const total = frames.length + Math.ceil(video.size / this.chunkSize());
    let done = 0;
    const tick = (label) => this.ui.onUpload(++done / total, label);
    const refs = [];
    for (const f of frames) {
      const c = await this.api.request('POST', `/v1/sessions/${encodeURIComponent(this.sessionId)}/captures`, { kind: 'frame', image: f.image });
      refs.push({ capture_id: c.id, t_ms: f.t - frames[0].t });
      tick('Uploading the pictures…');
    }
    await this.uploadVideo(video, () => tick('Uploading your video…'));
    return this.api.request('POST', `${this.path}/submit`, { frames: refs });
  }

  chunkSize() {
    return Math.min(this.script?.max_chunk_bytes || 1 << 20, 1 << 20);
  }

  async uploadVideo(video, onChunk) {
    const size = this.chunkSize();
    let offset = 0;
    let failures = 0;
    while (offset < video.size) {
      const end = Math.min(offset + size, video.size);
      try {
        const res = await fetch(`${this.path}/video`, {
          method: 'PUT',
          headers: { ...this.api.authHeaders('PUT'), 'Content-Type': video.type, 'Content-Range': `bytes ${offset}-${end - 1}/${video.size}` },
          body: video.slice(offset, end),
          cache: 'no-store',
          credentials: this.api.credentials,
        });
        const body = await res.json().catch(() => null);
        if (!res.ok) throw new ApiError(res.status, body?.error?.code, body?.error?.message || `The server answered ${res.status}.`);
        offset = body.video_received;
        failures = 0;
        onChunk();
      } catch (err) {
        // Resume from what the server has (a lost answer, a dropped connection).
        if (++failures > 4 || (err instanceof ApiError && err.status >= 400 && err.status < 500 && err.code !== 'upload_offset_mismatch')) throw err;
        await sleep(500 * failures);
        const st = await this.api.request('GET', this.path);
        offset = st.video_received || 0;
      }
    }
  }
}
