// The staff member signed in to this console (the agent console, the accounts page): who they
// are, the header's account box (name, roles, Sign out), and the way to /signin when nobody
// is signed in. The session itself is the server's HttpOnly cookie; pages hold only the
// CSRF token the server gives with the user (see Api.console()).

import { ApiError } from './api.js';
import { h } from './ui.js';

/** The account roles, in the order they are shown. */
export const STAFF_ROLES = ['agent', 'supervisor', 'auditor', 'admin'];

const ROLE_LABELS = { agent: 'Agent', supervisor: 'Supervisor', auditor: 'Auditor', admin: 'Admin' };

export function staffRoleLabel(role) {
  return ROLE_LABELS[role] || role;
}

/** "Agent, Admin": an account's roles in STAFF_ROLES order. */
export function rolesText(roles = []) {
  return STAFF_ROLES.filter((r) => roles.includes(r)).map(staffRoleLabel).join(', ');
}

export function hasRole(user, ...roles) {
  return roles.some((r) => user?.roles?.includes(r));
}

/**
 * Where to go after signing in: `next` if it is a path of this site (`/…`, not `//host` or
 * `/\host`, which browsers read as another site), else `fallback`.
 */
export function safeNext(next, fallback = '/agent') {
  if (typeof next !== 'string' || !next.startsWith('/') || next.startsWith('//') || next.startsWith('/\\')) return fallback;
  try {
    const url = new URL(next, location.origin);
    return url.origin === location.origin ? url.pathname + url.search + url.hash : fallback;
  } catch {
    return fallback;
  }
}

/** The sign-in page's address, coming back to `next` (this page by default) afterwards. */
export function signInUrl(next = location.pathname + location.search) {
  return `/signin?next=${encodeURIComponent(next)}`;
}

/**
 * The signed-in console ({ user, csrf_token, method }, the CSRF token kept in `api`), or null
 * when nobody is signed in: then the page is on its way to /signin. Other errors are thrown.
 */
export async function requireSignIn(api) {
  try {
    return await api.me();
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) {
      location.replace(signInUrl());
      return null;
    }
    throw err;
  }
}

/** Signs out, then opens the sign-in page (also when the console had already expired). */
export async function signOut(api) {
  try {
    await api.logout();
  } catch (err) {
    if (!(err instanceof ApiError) || err.status !== 401) throw err;
  }
  location.assign('/signin');
}

/**
 * Fills the header's account box: the console's pages (Console; Supervisor for supervisors
 * and admins; Accounts for admins), the signed-in user's name and roles, and a Sign out
 * button (`#sign-out-btn`). `onError(err)`: when signing out fails.
 */
export function showAccount(container, user, api, { onError } = {}) {
  if (!container) return;
  const here = location.pathname;
  const pages = [['/agent', 'Console']];
  if (hasRole(user, 'supervisor', 'admin')) pages.push(['/supervisor', 'Supervisor']);
  if (hasRole(user, 'admin')) pages.push(['/admin', 'Accounts']);
  const signOutBtn = h('button', { type: 'button', id: 'sign-out-btn', class: 'btn btn-sm' }, 'Sign out');
  signOutBtn.addEventListener('click', async () => {
    signOutBtn.disabled = true;
    try {
      await signOut(api);
    } catch (err) {
      signOutBtn.disabled = false;
      onError?.(err);
    }
  });
  container.replaceChildren(
    h('nav', { class: 'topbar-nav', 'aria-label': 'Console pages' }, pages.map(([href, label]) => h('a', { href, 'aria-current': href === here ? 'page' : null }, label))),
    h(
      'span',
      { class: 'account-who', title: user.email },
      h('span', { id: 'account-name', class: 'account-name' }, user.name),
      h('span', { id: 'account-roles', class: 'account-roles' }, rolesText(user.roles)),
    ),
    signOutBtn,
  );
  container.hidden = false;
}
