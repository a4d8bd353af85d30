// First start (/setup#token=…): the one-time link the server prints while it has no account.
// It creates the first admin (with every role) and signs them in; then the agent console.

import { Api, ApiError } from './api.js';
import { show, showNotice, takeUrlSecret, elementsById } from './ui.js';

const TOKEN_KEY = 'vkyc.setup.token';
const MIN_PASSWORD = 12;

const els = elementsById();
const api = Api.console();
let token = null;

const signInAction = { label: 'Go to sign-in', class: 'btn btn-primary', onClick: () => location.assign('/signin') };

function problem(err) {
  switch (err instanceof ApiError ? err.code : null) {
    case 'setup_link_invalid':
      return { title: 'This setup link no longer works', message: 'It is unknown, used or expired. Restart the server: it prints a new link while no account exists.' };
    case 'already_set_up':
      return { title: 'vkyc is already set up', message: 'An admin account exists: sign in with it.', actions: [signInAction] };
    case 'weak_password':
      return { title: 'Choose a stronger password', message: err.message };
    default:
      return { title: 'Could not create the admin', message: err?.message || 'Unexpected error.' };
  }
}

async function createAdmin(ev) {
  ev.preventDefault();
  const email = els.setupEmail.value.trim();
  const name = els.setupName.value.trim();
  const password = els.setupPassword.value;
  if (!email || !name || !password) {
    showNotice(els.notice, { kind: 'warning', code: 'missing_fields', title: 'Fill in the email, the name and the password' });
    return;
  }
  if ([...password].length < MIN_PASSWORD) {
    showNotice(els.notice, { kind: 'warning', code: 'weak_password', title: 'Choose a longer password', message: `It needs at least ${MIN_PASSWORD} characters.` });
    els.setupPassword.focus();
    return;
  }
  els.setupBtn.disabled = true;
  showNotice(els.notice, null);
  try {
    await api.setup({ token, email, name, password });
    sessionStorage.removeItem(TOKEN_KEY);
    location.replace('/agent');
  } catch (err) {
    els.setupBtn.disabled = false;
    const notice = problem(err);
    showNotice(els.notice, { kind: 'error', code: err?.code, ...notice });
    if (err?.code === 'setup_link_invalid' || err?.code === 'already_set_up') {
      sessionStorage.removeItem(TOKEN_KEY);
      show(els.setupForm, false);
    }
  }
}

function start() {
  token = takeUrlSecret('token', TOKEN_KEY);
  if (!token) {
    showNotice(els.notice, {
      kind: 'error',
      code: 'missing_token',
      title: 'This link is incomplete',
      message: 'Open the complete link the server printed at its first start (…/setup#token=…). Already set up? Sign in instead.',
      actions: [signInAction],
    });
    return;
  }
  show(els.setupForm, true);
  els.setupForm.addEventListener('submit', createAdmin);
  els.setupEmail.focus();
}

start();
