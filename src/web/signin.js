// Sign-in page (/signin?next=/agent): a staff account's email and password, or single sign-on
// when the server offers it. Signed in (the server sets the console's HttpOnly cookie), the
// page goes on to `next` (a path of this site only) or the agent console.

import { Api, ApiError } from './api.js';
import { show, showNotice, elementsById } from './ui.js';
import { safeNext } from './staff.js';

const els = elementsById();
const api = Api.console();
const next = safeNext(new URLSearchParams(location.search).get('next'));

function problem(err) {
  if (err instanceof ApiError && err.code === 'invalid_credentials') {
    return { title: 'Wrong email or password', message: 'Check both and try again. If your account was disabled, an admin can enable it.' };
  }
  if (err instanceof ApiError && err.status === 429) {
    return { title: 'Too many attempts', message: err.message || 'Wait a minute, then try again.' };
  }
  return { title: 'Could not sign in', message: err?.message || 'Unexpected error.' };
}

async function signIn(ev) {
  ev.preventDefault();
  const email = els.signinEmail.value.trim();
  const password = els.signinPassword.value;
  if (!email || !password) {
    showNotice(els.notice, { kind: 'warning', code: 'missing_fields', title: 'Enter your email and your password' });
    (email ? els.signinPassword : els.signinEmail).focus();
    return;
  }
  els.signinBtn.disabled = true;
  showNotice(els.notice, null);
  try {
    await api.login(email, password);
    location.assign(next);
  } catch (err) {
    els.signinBtn.disabled = false;
    showNotice(els.notice, { kind: 'error', code: err?.code, ...problem(err) });
    els.signinPassword.value = '';
    els.signinPassword.focus();
  }
}

async function start() {
  // Already signed in (another tab, the back button): straight on.
  const signedIn = await api.me().catch(() => null);
  if (signedIn) {
    location.replace(next);
    return;
  }
  els.signinForm.addEventListener('submit', signIn);
  els.signinEmail.focus();
  // Single sign-on only where the server says it is on (no such endpoint: not offered).
  show(els.ssoBox, await api.ssoEnabled());
}

start();
