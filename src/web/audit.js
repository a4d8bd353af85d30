// Auditor page (/audit#token=OBSERVER_TOKEN): the case document, the captures, and the
// auditor's verdict (approve / decline / recapture). Nothing from the case is logged.

import { Api, ApiError, tokenClaims } from './api.js';
import { renderSteps, renderRecommendation, renderDecisions, resultLabel, fmtTime } from './kyc.js';
import { h, show, setStatus, showNotice, takeUrlSecret, elementsById, exposeState } from './ui.js';

const TOKEN_KEY = 'vkyc.audit.token';
const CAPTURE_LABELS = { face: 'Face', document: 'Document', frame: 'Liveness frame', reference: 'Lender reference photo' };

let api = null;
let sessionId = null;
let session = null;
let kyc = null;
let busy = false;
const blobUrls = new Map(); // capture id → object URL

exposeState({ kyc: () => kyc });

const els = elementsById();

function problem(err, title) {
  setStatus(title, 'error');
  showNotice(els.notice, { kind: 'error', code: err?.code, title, message: err?.message || 'Unexpected error.' });
}

function render() {
  show(els.case, !!kyc);
  if (!kyc) return;
  const decided = !!kyc.agent_decision;
  const lastAudit = kyc.audits?.at(-1);
  els.caseResult.className = `kyc-badge kyc-${kyc.result || 'none'}`;
  els.caseResult.textContent = kyc.result ? resultLabel(kyc.result) : 'Not decided';
  const a = session?.applicant || {};
  const rows = [
    ['Applicant', a.name || '—'],
    ['Date of birth', a.date_of_birth || '—'],
    ['Reference ID', a.reference_id || '—'],
    ['Session ID', sessionId, 'mono'],
    ['Created', fmtTime(session?.created_at)],
    ['Audited', kyc.audited ? 'Yes' : 'No'],
  ];
  els.caseFields.replaceChildren(...rows.flatMap(([k, v, cls]) => [h('dt', {}, k), h('dd', { class: cls }, v)]));
  renderSteps(els.kycSteps, kyc, { applicantName: a.name ?? null, allAttempts: true });
  renderRecommendation(els.kycRec, kyc);
  renderDecisions(els.decisions, kyc);
  // An audit needs the agent's decision; after "recapture" the agent decides again first.
  const canAudit = decided && !busy && (!lastAudit || lastAudit.verdict !== 'recapture' || kyc.agent_decision.at > lastAudit.at);
  for (const b of [els.auditApproveBtn, els.auditDeclineBtn, els.auditRecaptureBtn]) b.disabled = !canAudit;
  els.auditState.textContent = !decided
    ? 'The agent has not decided yet: the case can be audited after the decision.'
    : lastAudit
      ? `Last audit: ${resultLabel(lastAudit.verdict)} (${fmtTime(lastAudit.at)}).`
      : 'Not audited yet.';
}

async function renderCaptures() {
  let list;
  try {
    list = await api.listCaptures(sessionId);
  } catch (err) {
    problem(err, 'Could not load the captures');
    return;
  }
  show(els.capturesEmpty, list.length === 0);
  // Liveness checks upload dozens of frames: show six of them, evenly spaced.
  const frames = list.filter((c) => c.kind === 'frame');
  const FRAMES_SHOWN = 6;
  const picked = frames.length <= FRAMES_SHOWN ? frames : Array.from({ length: FRAMES_SHOWN }, (_, i) => frames[Math.round((i * (frames.length - 1)) / (FRAMES_SHOWN - 1))]);
  const shown = [...list.filter((c) => c.kind !== 'frame'), ...picked];
  const items = await Promise.all(
    shown.map(async (c) => {
      let url = blobUrls.get(c.id);
      let error = null;
      if (!url) {
        try {
          url = URL.createObjectURL(await api.captureBlob(sessionId, c.id));
          blobUrls.set(c.id, url);
        } catch (err) {
          error = err?.message || 'Could not load the image.';
        }
      }
      const nth = c.kind === 'frame' ? ` ${frames.indexOf(c) + 1} of ${frames.length}` : '';
      const label = `${CAPTURE_LABELS[c.kind] || c.kind}${nth} · ${c.width}×${c.height} · ${fmtTime(c.created_at)}`;
      return h(
        'li',
        { dataset: { captureId: c.id, kind: c.kind } },
        h(
          'figure',
          {},
          url ? h('img', { src: url, alt: `${CAPTURE_LABELS[c.kind] || c.kind} capture` }) : h('p', { class: 'kyc-errors' }, error),
          h('figcaption', {}, label, c.taken_by ? ` · by ${c.taken_by}` : ''),
        ),
      );
    }),
  );
  els.captures.replaceChildren(...items);
}

const REC_STATUS = { recording: 'Recording…', ready: 'Ready', failed: 'Failed (partial file)' };

function fmtDuration(ms) {
  if (ms == null) return '';
  const s = Math.round(ms / 1000);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}

/** The call's recordings, each with a player on its signed URL (seekable: range requests). */
async function renderRecordings() {
  let list;
  try {
    list = await api.listRecordings(sessionId);
  } catch (err) {
    els.recordings.replaceChildren(h('p', { class: 'kyc-errors' }, err?.message || 'Could not load the recordings.'));
    return;
  }
  show(els.recordingsEmpty, list.length === 0);
  const items = await Promise.all(
    list.map(async (r) => {
      let player = null;
      if (r.status !== 'recording' && r.bytes) {
        try {
          const { url } = await api.recordingUrl(r.id);
          player = h('video', { class: 'recording-player', controls: true, preload: 'metadata', src: url, dataset: { recordingId: r.id } });
        } catch (err) {
          player = h('p', { class: 'kyc-errors' }, err?.message || 'Could not open the recording.');
        }
      }
      const who = [...new Set((r.tracks || []).map((t) => `${t.role} ${t.kind}`))].join(', ');
      const facts = [REC_STATUS[r.status] || r.status, fmtDuration(r.duration_ms), `started ${fmtTime(r.started_at)}`, who].filter(Boolean).join(' · ');
      return h(
        'figure',
        { class: 'recording', dataset: { recordingId: r.id, status: r.status } },
        player,
        h('figcaption', {}, facts, r.failure_reason ? ` · ${r.failure_reason.replaceAll('_', ' ')}` : ''),
      );
    }),
  );
  els.recordings.replaceChildren(...items);
}

async function load() {
  setStatus('Loading the case…', 'busy');
  try {
    [session, kyc] = await Promise.all([api.getSession(sessionId).catch(() => null), api.getKyc(sessionId)]);
  } catch (err) {
    problem(err, err instanceof ApiError && err.status === 401 ? 'This auditor link does not work' : 'Could not load the case');
    return;
  }
  showNotice(els.notice, null);
  render();
  await Promise.all([renderRecordings(), renderCaptures()]);
  setStatus(kyc.audited ? 'Case audited' : 'Ready to audit', kyc.audited ? 'ended' : 'info');
}

async function audit(verdict) {
  if (busy) return;
  busy = true;
  render();
  setStatus('Saving your audit…', 'busy');
  try {
    kyc = await api.audit(sessionId, verdict, els.auditNotes.value.trim() || undefined);
    els.auditNotes.value = '';
    busy = false;
    render();
    setStatus(`Audit saved: ${resultLabel(verdict)}`, 'live');
    showNotice(els.notice, { kind: 'success', title: `Audit saved: ${resultLabel(verdict)}` });
  } catch (err) {
    busy = false;
    render();
    problem(err, 'Your audit was not saved');
  }
}

function main() {
  const token = takeUrlSecret('token', TOKEN_KEY);
  sessionId = tokenClaims(token || '')?.sid || null;
  if (!token || !sessionId) {
    problem({ code: 'missing_token', message: 'Open the complete auditor link you received.' }, 'This link is incomplete');
    return;
  }
  api = new Api(token);
  els.auditApproveBtn.addEventListener('click', () => audit('approved'));
  els.auditDeclineBtn.addEventListener('click', () => audit('declined'));
  els.auditRecaptureBtn.addEventListener('click', () => audit('recapture'));
  els.reloadBtn.addEventListener('click', load);
  load();
}

main();
