// Sign-in page (/signin?next=/agent): a staff account's email and password, or single sign-on
// when the server offers it. Signed in (the server sets the console's HttpOnly cookie), the
// page goes on to `next` (a path of this site only) or the agent console. A single sign-on
// the server refused comes back as /signin?error=<code>: the page explains it.

import { Api, ApiError } from './api.js';
import { show, showNotice, elementsById } from './ui.js';
import { safeNext } from './staff.js';

const els = elementsById();
const api = Api.console();
const params = new URLSearchParams(location.search);
const next = safeNext(params.get('next'));

const SSO_FAILED = { title: 'Single sign-on failed', message: "Your identity provider's answer could not be verified. Try again; if it keeps happening, tell an admin of this server." };
const SSO_UNAVAILABLE = { title: 'Single sign-on is unavailable', message: 'The identity provider cannot be reached or is not set up correctly. Try again later, or sign in with your password.' };
const SSO_PROFILE = { title: 'Your sign-in details are incomplete', message: 'Your identity provider did not give a usable verified email address and name. Ask your IT team to complete your profile.' };

/** What a refused single sign-on (`/signin?error=<code>`, see /v1/auth/sso/callback) means to the person. */
const SSO_ERRORS = {
  no_role: { title: 'No access to this console', message: "You signed in with your organisation's account, but none of your groups gives a role here. Ask an admin to add you to a vkyc group." },
  account_disabled: { title: 'This account is disabled', message: 'An admin of this server can enable it.' },
  email_domain_refused: { title: 'This email address may not sign in here', message: 'Single sign-on is open to the email domains of this organisation only.' },
  account_conflict: { title: 'Your account could not be linked', message: 'An account with your email address is already linked to another sign-in. Ask an admin of this server.' },
  state_mismatch: { title: 'The sign-in did not complete', message: 'This sign-in link was already used or did not start here. Start again with “Sign in with single sign-on”.' },
  login_expired: { title: 'The sign-in took too long', message: 'Start again with “Sign in with single sign-on”.' },
  provider_refused: { title: 'The identity provider did not sign you in', message: 'The sign-in was cancelled or refused there. Try again.' },
  missing_email: SSO_PROFILE,
  invalid_email: SSO_PROFILE,
  email_unverified: { title: 'Your email address is not verified', message: 'Verify it with your identity provider, then try again.' },
  invalid_name: SSO_PROFILE,
  code_rejected: SSO_FAILED,
  invalid_id_token: SSO_FAILED,
  wrong_issuer: SSO_FAILED,
  wrong_audience: SSO_FAILED,
  token_expired: { ...SSO_FAILED, message: 'The answer of your identity provider was out of date (check this computer’s clock). Try again.' },
  bad_signature: SSO_FAILED,
  nonce_mismatch: SSO_FAILED,
  discovery_failed: SSO_UNAVAILABLE,
  token_endpoint_failed: SSO_UNAVAILABLE,
  userinfo_failed: SSO_UNAVAILABLE,
  invalid_config: SSO_UNAVAILABLE,
  insecure_issuer: SSO_UNAVAILABLE,
  store_unavailable: { title: 'Could not sign in', message: 'The server could not complete the sign-in. Try again in a moment.' },
};

/** The notice for `?error=<code>` (null without one); the code is shown for the admins' sake. */
function ssoProblem(code) {
  if (!code) return null;
  const known = Object.hasOwn(SSO_ERRORS, code) ? SSO_ERRORS[code] : { title: 'Could not sign in', message: 'Single sign-on did not complete. Try again.' };
  const safeCode = /^[a-z0-9_]{1,40}$/.test(code) ? code : 'unknown';
  return { kind: 'error', code: safeCode, title: known.title, message: `${known.message} (Reason: ${safeCode}.)` };
}

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
  // The form works from the first moment (a submit before the check below must not fall
  // through to a plain form post).
  els.signinForm.addEventListener('submit', signIn);
  // Already signed in (another tab, the back button): straight on.
  const signedIn = await api.me().catch(() => null);
  if (signedIn) {
    location.replace(next);
    return;
  }
  const refused = ssoProblem(params.get('error'));
  if (refused) {
    showNotice(els.notice, refused);
    // Shown once: a reload or a bookmark of this address does not repeat it.
    params.delete('error');
    const rest = params.toString();
    history.replaceState(null, '', location.pathname + (rest ? `?${rest}` : '') + location.hash);
  }
  els.signinEmail.focus();
  // Single sign-on only where the server says it is on (no such endpoint: not offered).
  show(els.ssoBox, await api.ssoEnabled());
}

start();
