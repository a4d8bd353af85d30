// Accounts page (/admin, a signed-in admin): the staff accounts with their roles, skills and
// state; adding one; changing an account's roles, skills, name or password; disabling and
// enabling. The question banks (the questions an agent asks in a session's `questions`
// step): listing, creating, editing and deleting them. Other roles see that the page needs
// an admin. The server decides (403 for anyone else, 409 `self_lockout` when an admin would
// lock themselves out, 422 for a bank that breaks a rule, 409 for deleting the default
// bank); the page explains.

import { Api, ApiError } from './api.js';
import { h, show, setStatus, showNotice, elementsById, exposeState } from './ui.js';
import { requireSignIn, showAccount, hasRole, rolesText, staffRoleLabel, STAFF_ROLES, signInUrl } from './staff.js';

const SKILL_KINDS = [
  ['languages', 'Languages'],
  ['products', 'Products'],
  ['regions', 'Regions'],
  ['tags', 'Tags'],
];

const els = elementsById();
const api = Api.console();
let me = null;
let users = [];
/** The id of the account whose editor row is open, or null. */
let editing = null;
let busy = false;
/** The question banks ({ id, name, ask, order, questions: [{ id, text, always? }] }) and the default bank's id. */
let banks = [];
let defaultBank = null;
/** The bank open in the editor: { id } (an existing bank) or { id: null } (a new one), or null. */
let bankEditing = null;
let bankBusy = false;

exposeState({ user: () => me, users: () => users, banks: () => banks, defaultBank: () => defaultBank });

// ------------------------------------------------------------------ helpers

/** "en, hi ,, EN" → ["en", "hi"] (the server checks each skill's form). */
function parseList(text) {
  const seen = new Set();
  for (const part of String(text || '').split(',')) {
    const v = part.trim().toLowerCase();
    if (v) seen.add(v);
  }
  return [...seen];
}

function skillsFrom(read) {
  return Object.fromEntries(SKILL_KINDS.map(([kind]) => [kind, parseList(read(kind))]));
}

/** Words for a refused change. */
function problem(err, what) {
  if (err instanceof ApiError) {
    if (err.code === 'email_taken') return { title: 'This email has an account already', message: 'Each person has one account: change that one instead.' };
    if (err.code === 'self_lockout') return { title: 'You cannot lock yourself out', message: 'An admin cannot disable their own account or drop their own admin role. Ask another admin.' };
    if (err.code === 'weak_password') return { title: 'Choose a stronger password', message: err.message };
    if (err.code === 'csrf_failed') return { title: `Could not ${what}`, message: 'The page is out of date: reload it and try again.' };
    if (err.code === 'invalid_path') return { title: 'Check the bank\'s id', message: err.message };
    if (err.code === 'default_question_bank') return { title: 'The default bank cannot be deleted', message: err.message };
    if (err.code === 'question_bank_not_found') return { title: 'This question bank no longer exists', message: 'Another admin or the lender\'s back end deleted it: the list is reloaded.' };
  }
  return { title: `Could not ${what}`, message: err?.message || 'Unexpected error.' };
}

/** A console that is no longer signed in goes to /signin; other errors are shown in `container`. */
function failed(err, what, container = els.notice) {
  if (err instanceof ApiError && err.status === 401) {
    location.replace(signInUrl('/admin'));
    return;
  }
  showNotice(container, { kind: 'error', code: err?.code, ...problem(err, what) });
}

function rolesBadges(roles) {
  return h('span', { class: 'badges' }, STAFF_ROLES.filter((r) => roles.includes(r)).map((r) => h('span', { class: `badge role-badge role-${r}`, dataset: { role: r } }, staffRoleLabel(r))));
}

function skillsCell(skills = {}) {
  const rows = SKILL_KINDS.filter(([kind]) => skills[kind]?.length);
  if (!rows.length) return h('span', { class: 'hint' }, '—');
  return h('dl', { class: 'skills-list' }, rows.flatMap(([kind, label]) => [h('dt', {}, label), h('dd', { dataset: { skill: kind } }, skills[kind].join(', '))]));
}

function roleBoxes(name, checked) {
  return h(
    'fieldset',
    { class: 'role-picker role-picker-inline' },
    h('legend', {}, 'Roles'),
    STAFF_ROLES.map((r) => h('label', {}, h('input', { type: 'checkbox', name, value: r, checked: checked.includes(r) }), ` ${staffRoleLabel(r)}`)),
  );
}

function checkedRoles(root, name) {
  return [...root.querySelectorAll(`input[name="${name}"]:checked`)].map((i) => i.value);
}

// ------------------------------------------------------------------ the list

async function loadUsers({ quiet = false } = {}) {
  if (!quiet) setStatus('Loading the accounts…', 'busy');
  els.refreshBtn.disabled = true;
  try {
    users = await api.listUsers();
    render();
    setStatus(`${users.length} ${users.length === 1 ? 'account' : 'accounts'}`, 'info');
  } catch (err) {
    setStatus('Could not load the accounts', 'error');
    failed(err, 'load the accounts');
  } finally {
    els.refreshBtn.disabled = false;
  }
}

function render() {
  els.usersCount.textContent = `(${users.length})`;
  els.usersList.replaceChildren(...users.flatMap((u) => (u.id === editing ? [userRow(u), editorRow(u)] : [userRow(u)])));
}

function userRow(u) {
  const self = u.id === me.id;
  const toggle = h(
    'button',
    {
      type: 'button',
      class: `btn btn-sm ${u.disabled ? '' : 'btn-quiet-danger'} toggle-btn`,
      disabled: busy || self,
      title: self ? 'You cannot disable your own account' : null,
      onclick: () => setDisabled(u, !u.disabled),
    },
    u.disabled ? 'Enable' : 'Disable',
  );
  const edit = h('button', { type: 'button', class: 'btn btn-sm edit-btn', disabled: busy, 'aria-expanded': String(editing === u.id), onclick: () => toggleEditor(u.id) }, editing === u.id ? 'Close' : 'Edit');
  return h(
    'tr',
    { class: u.disabled ? 'user-row is-disabled' : 'user-row', dataset: { userId: u.id, email: u.email } },
    h('td', {}, h('span', { class: 'user-name' }, u.name, self ? h('span', { class: 'hint' }, ' (you)') : null), h('span', { class: 'user-email' }, u.email)),
    h('td', { class: 'user-roles' }, rolesBadges(u.roles)),
    h('td', { class: 'user-skills' }, skillsCell(u.skills)),
    h('td', { class: 'user-state' }, h('span', { class: u.disabled ? 'badge badge-ended' : 'badge badge-live', dataset: { state: u.disabled ? 'disabled' : 'active' } }, u.disabled ? 'Disabled' : 'Active')),
    h('td', { class: 'user-actions' }, h('span', { class: 'row-actions' }, edit, toggle)),
  );
}

/** The editor under an account's row: name, roles, skills, a new password. */
function editorRow(u) {
  const p = `edit-${u.id.slice(0, 8)}`;
  const notice = h('div', { class: 'notice', hidden: true });
  const name = h('input', { type: 'text', id: `${p}-name`, value: u.name, maxlength: '100', required: true });
  const skillInputs = Object.fromEntries(SKILL_KINDS.map(([kind]) => [kind, h('input', { type: 'text', id: `${p}-${kind}`, value: (u.skills?.[kind] || []).join(', '), spellcheck: 'false' })]));
  const password = h('input', { type: 'password', id: `${p}-password`, maxlength: '256', autocomplete: 'new-password', placeholder: 'Unchanged' });
  const form = h(
    'form',
    { class: 'user-editor', autocomplete: 'off' },
    h('div', { class: 'editor-grid' },
      h('div', { class: 'field' }, h('label', { for: name.id }, 'Name'), name),
      roleBoxes(`${p}-roles`, u.roles),
      SKILL_KINDS.map(([kind, label]) => h('div', { class: 'field' }, h('label', { for: skillInputs[kind].id }, label), skillInputs[kind])),
      h('div', { class: 'field' }, h('label', { for: password.id }, 'New password'), password),
    ),
    notice,
    h('div', { class: 'form-actions' },
      h('button', { type: 'submit', class: 'btn btn-primary btn-sm save-btn' }, 'Save changes'),
      h('button', { type: 'button', class: 'btn btn-sm', onclick: () => toggleEditor(null) }, 'Cancel'),
    ),
  );
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const roles = checkedRoles(form, `${p}-roles`);
    if (!roles.length) {
      showNotice(notice, { kind: 'warning', code: 'roles_missing', title: 'Pick at least one role' });
      return;
    }
    const changes = { name: name.value.trim(), roles, skills: skillsFrom((kind) => skillInputs[kind].value) };
    if (password.value) changes.password = password.value;
    await change(u, changes, 'save the changes', notice);
  });
  return h('tr', { class: 'editor-row', dataset: { userId: u.id } }, h('td', { colspan: '5' }, form));
}

function toggleEditor(id) {
  editing = editing === id ? null : id;
  render();
  if (editing) els.usersList.querySelector(`tr.editor-row input`)?.focus();
}

/** PATCHes an account; on success the list shows the account as the server answered. */
async function change(u, changes, what, noticeEl = els.notice) {
  if (busy) return false;
  busy = true;
  showNotice(els.notice, null);
  showNotice(els.addUserNotice, null);
  try {
    const updated = await api.updateUser(u.id, changes);
    users = users.map((x) => (x.id === updated.id ? updated : x));
    busy = false;
    if (what === 'save the changes') editing = null;
    render();
    showNotice(els.notice, { kind: 'success', title: changeTitle(updated, changes) });
    return true;
  } catch (err) {
    busy = false;
    render();
    // The editor was re-rendered: its notice is the new one.
    const target = noticeEl === els.notice ? els.notice : els.usersList.querySelector('tr.editor-row .notice') || els.notice;
    failed(err, what, target);
    return false;
  }
}

function changeTitle(u, changes) {
  if ('disabled' in changes) return `${u.name} is ${u.disabled ? 'disabled: they are signed out and cannot sign in' : 'enabled again'}`;
  return `${u.name}: changes saved (${rolesText(u.roles)})`;
}

function setDisabled(u, disabled) {
  change(u, { disabled }, disabled ? 'disable the account' : 'enable the account');
}

// ------------------------------------------------------------------ adding an account

async function addUser(ev) {
  ev.preventDefault();
  const form = els.addUserForm;
  const data = new FormData(form);
  const body = {
    email: String(data.get('email') || '').trim(),
    name: String(data.get('name') || '').trim(),
    roles: checkedRoles(form, 'roles'),
    skills: skillsFrom((kind) => data.get(kind)),
  };
  const password = String(data.get('password') || '');
  if (password) body.password = password;
  if (!body.email || !body.name) {
    showNotice(els.addUserNotice, { kind: 'warning', code: 'missing_fields', title: 'Fill in the email and the name' });
    return;
  }
  if (!body.roles.length) {
    showNotice(els.addUserNotice, { kind: 'warning', code: 'roles_missing', title: 'Pick at least one role' });
    return;
  }
  els.addUserBtn.disabled = true;
  showNotice(els.addUserNotice, null);
  try {
    const user = await api.createUser(body);
    form.reset();
    users = [...users.filter((u) => u.id !== user.id), user].sort((a, b) => a.email.localeCompare(b.email));
    render();
    setStatus(`${users.length} accounts`, 'info');
    showNotice(els.addUserNotice, { kind: 'success', code: 'user_created', title: `Account added: ${user.name}`, message: password ? `${user.email} can sign in now.` : `${user.email} signs in with single sign-on.` });
  } catch (err) {
    failed(err, 'add the account', els.addUserNotice);
  } finally {
    els.addUserBtn.disabled = false;
  }
}

// ------------------------------------------------------------------ question banks

const bankPath = (id) => `/v1/question-banks/${encodeURIComponent(id)}`;
/** Numbers the editor's question rows (their inputs' ids). */
let questionRowSeq = 0;

function plural(n, one, many = `${one}s`) {
  return `${n} ${n === 1 ? one : many}`;
}

/** "asks 2 of 4, random order" */
function bankSummary(b) {
  return `asks ${b.ask} of ${b.questions.length}, ${b.order === 'fixed' ? 'fixed' : 'random'} order`;
}

async function loadBanks() {
  els.banksRefreshBtn.disabled = true;
  try {
    const data = await api.request('GET', '/v1/question-banks');
    banks = data?.banks || [];
    defaultBank = data?.default_bank ?? null;
    renderBanks();
  } catch (err) {
    failed(err, 'load the question banks', els.banksNotice);
  } finally {
    els.banksRefreshBtn.disabled = false;
  }
}

function renderBanks() {
  els.banksCount.textContent = `(${banks.length})`;
  els.newBankBtn.disabled = bankBusy;
  if (!banks.length) {
    els.banks.replaceChildren(h('tr', { class: 'bank-empty' }, h('td', { colspan: '3', class: 'hint' }, 'No question banks yet.')));
    return;
  }
  els.banks.replaceChildren(...banks.map(bankRow));
}

function bankRow(b) {
  const isDefault = b.id === defaultBank;
  const open = bankEditing?.id === b.id;
  const always = b.questions.filter((q) => q.always).length;
  return h(
    'tr',
    { class: open ? 'bank-row is-editing' : 'bank-row', dataset: { bankId: b.id } },
    h(
      'td',
      {},
      h('span', { class: 'user-name bank-name' }, b.name, isDefault ? [' ', h('span', { class: 'badge badge-live bank-default', title: 'Sessions that name no bank ask from this one' }, 'default')] : null),
      h('code', { class: 'bank-id' }, b.id),
    ),
    h(
      'td',
      { class: 'bank-summary' },
      h('span', { class: 'bank-draw' }, bankSummary(b)),
      always ? h('span', { class: 'hint bank-always' }, `${plural(always, 'question')} always asked`) : null,
    ),
    h(
      'td',
      { class: 'user-actions' },
      h(
        'span',
        { class: 'row-actions' },
        h('button', { type: 'button', class: 'btn btn-sm bank-edit-btn', disabled: bankBusy, 'aria-expanded': String(open), onclick: () => openBankEditor(b.id) }, open ? 'Editing' : 'Edit'),
        h('button', { type: 'button', class: 'btn btn-sm btn-quiet-danger bank-delete-btn', disabled: bankBusy, onclick: () => deleteBank(b) }, 'Delete'),
      ),
    ),
  );
}

/** One question row of the editor: id, text, "always asked", remove. */
function questionRow(q = { id: '', text: '', always: false }) {
  const n = ++questionRowSeq;
  const id = h('input', { type: 'text', class: 'question-id', id: `bq-${n}-id`, value: q.id, maxlength: '40', spellcheck: 'false', placeholder: 'pincode', 'aria-label': 'Question id' });
  const text = h('input', { type: 'text', class: 'question-text', id: `bq-${n}-text`, value: q.text, maxlength: '300', placeholder: 'What is the pincode of your address?', 'aria-label': 'Question' });
  const always = h('input', { type: 'checkbox', class: 'question-always', id: `bq-${n}-always`, checked: !!q.always });
  const row = h(
    'li',
    { class: 'question-row', dataset: { questionId: q.id } },
    id,
    text,
    h('label', { class: 'question-always-label', for: always.id }, always, ' Always asked'),
    h('button', { type: 'button', class: 'btn btn-sm btn-quiet-danger question-remove-btn', 'aria-label': 'Remove this question', onclick: () => {
      row.remove();
      countQuestions();
      els.bankQuestions.querySelector('.question-text')?.focus();
    } }, 'Remove'),
  );
  id.addEventListener('input', () => (row.dataset.questionId = id.value.trim()));
  return row;
}
function countQuestions() {
  const rows = els.bankQuestions.querySelectorAll('.question-row').length;
  els.bankQuestionsCount.textContent = `(${rows})`;
}

/** Opens the editor on a new bank (id null) or on the server's current copy of bank `id`. */
async function openBankEditor(id = null) {
  showNotice(els.banksNotice, null);
  showNotice(els.bankNotice, null);
  let bank = { id: '', name: '', ask: 1, order: 'random', questions: [{ id: '', text: '' }] };
  if (id) {
    try {
      bank = await api.request('GET', bankPath(id));
    } catch (err) {
      failed(err, 'open the question bank', els.banksNotice);
      if (err?.code === 'question_bank_not_found') await loadBanks();
      return;
    }
  }
  bankEditing = { id };
  els.bankEditorTitle.textContent = id ? `Edit “${bank.name}”` : 'New question bank';
  els.bankEditor.dataset.mode = id ? 'edit' : 'new';
  els.bankEditor.dataset.bankId = id || '';
  show(els.bankIdField, !id);
  els.bankId.value = '';
  els.bankName.value = bank.name;
  els.bankAsk.value = String(bank.ask);
  els.bankOrder.value = bank.order === 'fixed' ? 'fixed' : 'random';
  els.bankQuestions.replaceChildren(...bank.questions.map((q) => questionRow(q)));
  countQuestions();
  show(els.bankEditor, true);
  renderBanks();
  els.bankEditor.scrollIntoView({ block: 'nearest' });
  (id ? els.bankName : els.bankId).focus();
}

function closeBankEditor() {
  bankEditing = null;
  show(els.bankEditor, false);
  showNotice(els.bankNotice, null);
  els.bankQuestions.replaceChildren();
  renderBanks();
}

function addQuestion() {
  const row = questionRow();
  els.bankQuestions.append(row);
  countQuestions();
  row.querySelector('.question-id').focus();
}

/** The editor's bank as the PUT body: { name, ask, order, questions: [{ id, text, always? }] }. */
function bankFromEditor() {
  const questions = [...els.bankQuestions.querySelectorAll('.question-row')].map((row) => {
    const q = { id: row.querySelector('.question-id').value.trim(), text: row.querySelector('.question-text').value.trim() };
    if (row.querySelector('.question-always').checked) q.always = true;
    return q;
  });
  return { name: els.bankName.value.trim(), ask: Number(els.bankAsk.value), order: els.bankOrder.value, questions };
}

async function saveBank(ev) {
  ev.preventDefault();
  if (!bankEditing || bankBusy) return;
  const isNew = !bankEditing.id;
  const id = isNew ? els.bankId.value.trim() : bankEditing.id;
  // What the server cannot be asked: a bank without an id, a number that is not one, and
  // (a PUT replaces) a new bank over an existing one.
  if (!id) {
    showNotice(els.bankNotice, { kind: 'warning', code: 'bank_id_missing', title: 'Give the bank an id', message: 'Sessions name their bank by it: 1 to 40 characters of a-z, 0-9, - and _.' });
    els.bankId.focus();
    return;
  }
  if (isNew && banks.some((b) => b.id === id)) {
    showNotice(els.bankNotice, { kind: 'warning', code: 'bank_exists', title: `There is a bank “${id}” already`, message: 'Choose another id, or edit that bank instead.' });
    els.bankId.focus();
    return;
  }
  const body = bankFromEditor();
  if (els.bankAsk.value.trim() === '' || !Number.isInteger(body.ask)) {
    showNotice(els.bankNotice, { kind: 'warning', code: 'ask_not_a_number', title: 'How many questions does a session ask?', message: 'Give a whole number.' });
    els.bankAsk.focus();
    return;
  }
  bankBusy = true;
  els.bankSaveBtn.disabled = true;
  renderBanks();
  showNotice(els.bankNotice, null);
  showNotice(els.banksNotice, null);
  try {
    const saved = await api.request('PUT', bankPath(id), body);
    banks = [...banks.filter((b) => b.id !== saved.id), saved].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    bankBusy = false;
    closeBankEditor();
    showNotice(els.banksNotice, { kind: 'success', code: 'bank_saved', title: `${isNew ? 'Question bank created' : 'Question bank saved'}: ${saved.name}`, message: `Each new session that asks from “${saved.id}” draws ${saved.ask} of its ${plural(saved.questions.length, 'question')}, in ${saved.order === 'fixed' ? 'the bank\'s' : 'a random'} order.` });
  } catch (err) {
    bankBusy = false;
    renderBanks();
    failed(err, 'save the question bank', els.bankNotice);
    if (err?.code === 'question_bank_not_found') await loadBanks();
  } finally {
    els.bankSaveBtn.disabled = false;
  }
}

async function deleteBank(b) {
  if (bankBusy) return;
  if (!confirm(`Delete the question bank “${b.name}” (${b.id})?\n\nNew sessions can no longer ask from it; sessions already created keep their questions.`)) return;
  bankBusy = true;
  renderBanks();
  showNotice(els.banksNotice, null);
  try {
    await api.request('DELETE', bankPath(b.id));
    banks = banks.filter((x) => x.id !== b.id);
    if (bankEditing?.id === b.id) closeBankEditor();
    showNotice(els.banksNotice, { kind: 'success', code: 'bank_deleted', title: `Question bank deleted: ${b.name}` });
  } catch (err) {
    failed(err, 'delete the question bank', els.banksNotice);
    if (err?.code === 'question_bank_not_found') {
      banks = banks.filter((x) => x.id !== b.id);
      if (bankEditing?.id === b.id) closeBankEditor();
    }
  } finally {
    bankBusy = false;
    renderBanks();
  }
}

// ------------------------------------------------------------------ start

async function start() {
  let signedIn;
  try {
    signedIn = await requireSignIn(api);
  } catch (err) {
    setStatus('Could not load the page', 'error');
    failed(err, 'load the page');
    return;
  }
  if (!signedIn) return; // on the way to /signin
  me = signedIn.user;
  showAccount(els.account, me, api, { onError: (err) => failed(err, 'sign out') });
  if (!hasRole(me, 'admin')) {
    document.body.dataset.access = 'refused';
    show(els.status, false); // the notice says it
    showNotice(els.notice, {
      kind: 'error',
      code: 'needs_admin',
      title: 'This page needs an admin',
      message: `Accounts and question banks are managed by admins. You are signed in as ${me.name} (${rolesText(me.roles)}): ask an admin to add or change accounts or questions.`,
      actions: [{ label: 'Back to the console', class: 'btn btn-primary', onClick: () => location.assign('/agent') }],
    });
    return;
  }
  document.body.dataset.access = 'admin';
  show(els.adminSide, true);
  show(els.usersCard, true);
  els.addUserForm.addEventListener('submit', addUser);
  els.refreshBtn.addEventListener('click', () => loadUsers());
  show(els.banksCard, true);
  els.newBankBtn.addEventListener('click', () => openBankEditor(null));
  els.banksRefreshBtn.addEventListener('click', () => loadBanks());
  els.addQuestionBtn.addEventListener('click', addQuestion);
  els.bankForm.addEventListener('submit', saveBank);
  els.bankCancelBtn.addEventListener('click', closeBankEditor);
  await Promise.all([loadUsers(), loadBanks()]);
}

start();
