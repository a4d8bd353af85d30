// Rendering of a KYC case document (GET /v1/sessions/{id}/kyc), shared by the agent console
// and the auditor page. Everything is built with textContent (ui.js `h`): no data as HTML.

import { h } from './ui.js';

export const STEP_LABELS = { consent: 'Consent', location: 'Location', otp: 'One-time code', questions: 'Questions', document: 'ID document', face: 'Face match' };

/**
 * The questions of a questions step: the ones the session asks (the case document's
 * `questions`, drawn from a question bank when the session was created: { id, text,
 * expected }), else those of its recorded attempts, in the order first asked.
 */
export function questionsOf(step, asked) {
  if (Array.isArray(asked) && asked.length) {
    return asked.map((q) => ({ id: q.id, question: q.text || q.id, expected: q.expected ?? null }));
  }
  const seen = new Map();
  for (const a of step?.attempts || []) {
    for (const q of a.data?.answers || []) {
      if (q?.id && !seen.has(q.id)) seen.set(q.id, { id: q.id, question: q.question || q.id, expected: q.original_from === 'lender' ? q.original : null });
    }
  }
  return [...seen.values()];
}

/** Who made an attempt, from its `by` ("agent:<participant>", "customer:…", "backend"). */
export function byLabel(by) {
  if (!by) return '';
  if (by === 'backend') return 'back office';
  const [role] = String(by).split(':');
  return { agent: 'agent', customer: 'customer', observer: 'auditor' }[role] || role;
}
const OUTCOME_LABELS = { passed: 'Passed', failed: 'Failed', error: 'Error', none: 'Not done' };
const RESULT_LABELS = { approved: 'Approved', declined: 'Declined', needs_review: 'Needs review', recapture: 'Recapture' };
const SOURCE_LABELS = { document_photo: 'Photo on the document', reference: 'Lender reference photo' };

export function resultLabel(r) {
  return RESULT_LABELS[r] || (r ? String(r).replace(/_/g, ' ') : '—');
}

export function fmtTime(iso) {
  if (!iso) return '—';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? String(iso) : d.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'medium' });
}

function outcomeBadge(outcome) {
  const o = outcome || 'none';
  return h('span', { class: `kyc-badge kyc-${o}`, dataset: { outcome: o } }, OUTCOME_LABELS[o] || o);
}

function resultBadge(result) {
  return h('span', { class: `kyc-badge kyc-${result || 'none'}` }, resultLabel(result));
}

function rows(list) {
  const items = list.filter(Boolean);
  if (!items.length) return null;
  return h('dl', { class: 'kyc-fields' }, items.flatMap(([k, v, attrs]) => [h('dt', {}, k), h('dd', attrs || {}, v ?? '—')]));
}

function yesNo(v) {
  return v === true ? 'Yes' : v === false ? 'No' : '—';
}

/** The details of one attempt, per step type. */
function attemptBody(type, a, { applicantName } = {}) {
  const d = a.data || {};
  const s = a.scores || {};
  let body = null;
  if (type === 'consent') {
    body = rows([
      ['Consent', d.given === true ? 'Given' : d.given === false ? 'Refused' : '—'],
      ['Text version', d.text_version],
    ]);
  } else if (type === 'location') {
    body = d.error
      ? rows([['Browser location', `Not available (${d.error})`]])
      : rows([
          ['Position', d.latitude != null ? `${Number(d.latitude).toFixed(4)}, ${Number(d.longitude).toFixed(4)}` : '—'],
          ['Accuracy', d.accuracy_m != null ? `± ${Math.round(d.accuracy_m)} m` : '—'],
          ['Region', d.region],
          ['Inside region', yesNo(d.inside_region), { class: d.inside_region === false ? 'kyc-bad' : '' }],
        ]);
  } else if (type === 'otp') {
    // tries_left on a passed attempt is what was left of a code now used up: not shown.
    body = rows([d.tries_left != null && a.outcome !== 'passed' ? ['Tries left', String(d.tries_left), { class: 'kyc-tries-left', dataset: { triesLeft: d.tries_left } }] : null]);
  } else if (type === 'questions') {
    const answers = Array.isArray(d.answers) ? d.answers : [];
    // Question above its answer (the questions are long); an edited answer keeps its original.
    body = answers.length
      ? h(
          'dl',
          { class: 'kyc-fields kyc-qa' },
          answers.flatMap((q) => [
            h('dt', {}, q.question || q.id),
            h(
              'dd',
              { dataset: { questionId: q.id || '', edited: String(!!q.edited) } },
              h('span', { class: 'kyc-answer' }, q.value || '—'),
              q.edited
                ? h('span', { class: 'kyc-original' }, q.original_from === 'lender' ? `Differs from the lender's record: ${q.original || '—'}` : `Edited. Original answer: ${q.original || '—'}`)
                : null,
            ),
          ]),
        )
      : null;
  } else if (type === 'document') {
    const f = d.fields || {};
    const nm = s.name_match ?? d.name_match;
    body = rows([
      ['Kind', d.kind ? String(d.kind).toUpperCase() : null],
      ['Name on document', f.name, { class: 'kyc-name-read' }],
      applicantName != null ? ['Applicant name', applicantName, { class: 'kyc-name-expected' }] : null,
      ['Name match', nm != null ? `${nm} / 100` : '—', { class: nm != null && nm < 80 ? 'kyc-bad' : '', dataset: { score: nm ?? '' } }],
      f.pan_number ? ['PAN number', f.pan_number, { class: 'mono' }] : null,
      f.aadhaar_masked ? ['Aadhaar number', f.aadhaar_masked, { class: 'mono' }] : null,
      f.father_name ? ["Father's name", f.father_name] : null,
      f.date_of_birth ? ['Date of birth', f.date_of_birth] : null,
      f.gender ? ['Gender', f.gender] : null,
      ['Photo on card', d.card_face ? 'Found' : 'Not found'],
      f.missing?.length ? ['Not read', f.missing.join(', ')] : null,
    ]);
  } else if (type === 'face') {
    const matches = Array.isArray(d.matches) ? d.matches : [];
    body = rows([
      ['Face match', s.face_match != null ? `${s.face_match} / 100` : '—', { dataset: { score: s.face_match ?? '' } }],
      d.liveness
        ? ['Liveness', `${d.liveness.score} / 100 · ${d.liveness.live ? 'live' : 'not live'}`, { class: d.liveness.live ? 'kyc-liveness' : 'kyc-liveness kyc-bad', dataset: { score: d.liveness.score ?? '' } }]
        : ['Liveness', 'Not checked (use "Face + liveness")', { class: 'kyc-liveness' }],
      d.liveness
        ? ['Movements', (d.liveness.moves || []).map((m) => `${String(m.move).replace('_', ' ')} ${m.done ? '✓' : '✗'}`).join(' · ')]
        : null,
      ...matches.map((m) => [
        SOURCE_LABELS[m.source] || (String(m.source).startsWith('reference:') ? 'Lender reference photo' : m.source || 'Reference'),
        m.error ? `Error: ${m.error.message || m.error.code || m.error}` : `${m.score ?? '—'} / 100 · ${m.matched ? 'match' : 'no match'}`,
        { class: m.error || m.matched === false ? 'kyc-bad' : '' },
      ]),
    ]);
  }
  const errors = (a.errors || []).length
    ? h(
        'ul',
        { class: 'kyc-errors', role: 'list' },
        a.errors.map((e) => h('li', { dataset: { code: e.code || '' } }, h('strong', {}, e.code || 'error'), ': ', e.message || '')),
      )
    : null;
  return [body, errors];
}

/**
 * Renders the steps of a case into `container` (an element, emptied first).
 * opts.applicantName: shown next to the name read from the document.
 * opts.onDecide(step, verdict): when given, each step gets "Verify" / "Decline" buttons.
 * opts.allAttempts: list every attempt (auditor), not only the latest.
 * opts.stepTools(step): extra controls for a step (agent console), a Node or
 * { node, details: false } to show them instead of the latest attempt's details.
 */
export function renderSteps(container, kyc, { applicantName, onDecide, allAttempts = false, busy = false, stepTools } = {}) {
  const steps = kyc?.steps || [];
  container.replaceChildren(
    ...steps.map((step) => {
      const attempts = step.attempts || [];
      const latest = attempts[attempts.length - 1];
      const outcome = latest?.outcome || 'none';
      const head = h(
        'div',
        { class: 'kyc-step-head' },
        h('h3', {}, STEP_LABELS[step.type] || step.type),
        outcomeBadge(outcome),
        h('span', { class: 'kyc-count' }, attempts.length === 1 ? '1 attempt' : `${attempts.length} attempts`),
        step.decision
          ? h(
              'span',
              { class: `kyc-badge kyc-${step.decision.verdict === 'verified' ? 'passed' : 'failed'}`, dataset: { verdict: step.decision.verdict } },
              step.decision.verdict === 'verified' ? 'Verified by agent' : 'Declined by agent',
            )
          : null,
      );
      const t = stepTools?.(step) ?? null;
      const tools = t instanceof Node ? t : t?.node ?? null;
      const details = !(t && !(t instanceof Node) && t.details === false);
      const shown = allAttempts ? [...attempts].reverse() : latest ? [latest] : [];
      const bodies = shown.map((a) => {
        const by = byLabel(a.by);
        const [body, errors] = attemptBody(step.type, a, { applicantName });
        return h(
          'div',
          { class: 'kyc-attempt', dataset: { n: a.n, outcome: a.outcome, by: a.by || '' } },
          allAttempts || attempts.length > 1
            ? h('p', { class: 'kyc-attempt-meta', title: a.by || '' }, `Attempt ${a.n}${a === latest ? ' (latest)' : ''} · ${OUTCOME_LABELS[a.outcome] || a.outcome} · ${fmtTime(a.finished_at)}${by ? ` · by ${by}` : ''}`)
            : h('p', { class: 'kyc-attempt-meta', title: a.by || '' }, `${fmtTime(a.finished_at)}${by ? ` · by ${by}` : ''}`),
          details ? body : null,
          errors,
        );
      });
      const notes = step.decision?.notes ? h('p', { class: 'kyc-notes' }, `Agent note: ${step.decision.notes}`) : null;
      const actions = onDecide
        ? h(
            'div',
            { class: 'kyc-step-actions' },
            h('button', { type: 'button', class: 'btn btn-sm step-verify-btn', disabled: busy || !latest, onclick: () => onDecide(step.type, 'verified') }, 'Verify'),
            h('button', { type: 'button', class: 'btn btn-sm step-decline-btn', disabled: busy || !latest, onclick: () => onDecide(step.type, 'declined') }, 'Decline'),
          )
        : null;
      return h('li', { class: 'kyc-step', dataset: { step: step.type, outcome } }, head, bodies.length ? bodies : h('p', { class: 'hint' }, 'Not done yet.'), tools, notes, actions);
    }),
  );
}

/** The recommendation box: result, reasons, scores. */
export function renderRecommendation(container, kyc) {
  const rec = kyc?.recommendation || {};
  container.replaceChildren(
    h('div', { class: 'kyc-rec-head' }, h('span', {}, 'Recommendation'), resultBadge(rec.result)),
    h(
      'ul',
      { class: 'kyc-reasons' },
      (rec.reasons || []).map((r) => h('li', {}, r)),
    ),
    rows([
      ['Face match', kyc?.face_match_score != null ? `${kyc.face_match_score} / 100` : '—'],
      ['Liveness', kyc?.liveness_score != null ? `${kyc.liveness_score} / 100` : '—'],
      ['Name match', kyc?.name_match_score != null ? `${kyc.name_match_score} / 100` : '—'],
      ['Decision', kyc?.result ? resultLabel(kyc.result) : 'Not decided'],
    ]),
  );
  container.dataset.result = rec.result || '';
}

/** The agent's decision and the audits, as rows. */
export function renderDecisions(container, kyc) {
  const d = kyc?.agent_decision;
  const audits = kyc?.audits || [];
  container.replaceChildren(
    d
      ? rows([
          ['Agent decision', resultLabel(d.result)],
          ['Decided at', fmtTime(d.at)],
          ['Agent notes', d.notes || '—'],
        ])
      : h('p', { class: 'hint' }, 'The agent has not decided yet.'),
    ...audits.map((a, i) =>
      rows([
        [`Audit ${i + 1}`, resultLabel(a.verdict)],
        ['Audited at', fmtTime(a.at)],
        ['Auditor notes', a.notes || '—'],
      ]),
    ),
  );
}
