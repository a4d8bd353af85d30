// Single sign-on in a real browser: a vkyc server configured for the test OpenID Connect
// provider (tests/oidc/provider.mjs; see oidc.mjs for how both learn each other's URLs).
// From /signin's "Sign in with single sign-on" link through the provider's login and consent
// pages back to the agent console, signed in with the roles the provider's groups map to; an
// account with no vkyc group refused with a clear message; a replayed callback refused; a
// supervisor + admin on the accounts page.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';

import { launchBrowser, newPerson, screenshot, withPeople } from './harness.mjs';
import { SSO_ACCOUNTS, providerSignIn, startSsoServer } from './oidc.mjs';

let env;
let browser;
let srv;
let issuer;

before(async () => {
  // These tests are about accounts: no verification engines.
  env = await startSsoServer({ server: { env: { VKYC_INFERENCE__ENABLED: 'false' } } });
  srv = env.server;
  issuer = env.provider.issuer;
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close().catch(() => {});
  await env?.stop();
});

const isCallback = (url) => url.startsWith(`${srv.url}/v1/auth/sso/callback?`);

/** The signed-in console of `page` ({ user, method, … }), or null (401). */
async function me(page) {
  return page.evaluate(async () => {
    const r = await fetch('/v1/auth/me');
    return r.status === 401 ? null : r.json();
  });
}

/** No page of `people` had an uncaught error. */
function assertNoPageErrors(people) {
  for (const p of people) assert.deepEqual(p.logs.filter((l) => l.includes('pageerror:')), [], `${p.name} page had uncaught errors`);
}

/**
 * From /signin, through the single sign-on link and the provider, as `login`. Resolves with
 * the callback URL the provider sent the browser to (captured from the page's requests).
 */
async function ssoFromSignin(page, login, { onLoginForm } = {}) {
  const callbacks = [];
  let consented;
  const onRequest = (req) => isCallback(req.url()) && callbacks.push(req.url());
  page.on('request', onRequest);
  try {
    await page.goto(`${srv.url}/signin`);
    const link = page.locator('#sso-link');
    await link.waitFor({ state: 'visible' });
    assert.equal(await link.textContent(), 'Sign in with single sign-on');
    await Promise.all([page.waitForURL((u) => u.origin === issuer), link.click()]);
    ({ consented } = await providerSignIn(page, issuer, login, { onLoginForm }));
  } finally {
    page.off('request', onRequest);
  }
  assert.equal(callbacks.length, 1, `one callback request: ${JSON.stringify(callbacks)}`);
  const cb = new URL(callbacks[0]);
  assert.ok(cb.searchParams.get('code') && cb.searchParams.get('state'), 'the callback carries a code and the state');
  return { callback: callbacks[0], consented };
}

/** Waits for the sign-in page's notice showing the refusal `code`; returns its text. */
async function refusal(page, code) {
  await page.waitForURL((u) => u.origin === srv.url && u.pathname === '/signin');
  const notice = page.locator(`#notice[data-code="${code}"]`);
  await notice.waitFor({ state: 'visible' });
  assert.equal(await notice.getAttribute('role'), 'alert');
  // Shown once: the code leaves the address bar.
  assert.equal(new URL(page.url()).searchParams.get('error'), null, 'the error code leaves the address bar');
  return notice.textContent();
}

let ashaCallback;

test('an agent signs in by single sign-on from /signin, and out again', { timeout: 120_000 }, async () => {
  await withPeople(async (people) => {
    const asha = await newPerson(browser, 'asha', { media: false });
    people.push(asha);
    const page = asha.page;
    const done = await ssoFromSignin(page, SSO_ACCOUNTS.asha.login, {
      onLoginForm: () => screenshot(asha, 'sso-provider-login.png'),
    });
    assert.ok(done.consented, "the provider asked for consent (asha's first sign-in)");
    ashaCallback = done.callback;

    // Back on the agent console, signed in as asha with the role of her group.
    await page.waitForURL(`${srv.url}/agent`);
    await page.waitForSelector('body[data-phase="lobby"]');
    assert.equal(await page.textContent('#account-name'), SSO_ACCOUNTS.asha.name);
    assert.equal(await page.textContent('#account-roles'), 'Agent');
    assert.equal(await page.locator('.topbar-nav a[href="/admin"]').count(), 0, 'no Accounts link for an agent');
    const signedIn = await me(page);
    assert.equal(signedIn.user.email, SSO_ACCOUNTS.asha.email);
    assert.deepEqual(signedIn.user.roles, ['agent']);
    assert.equal(signedIn.method, 'sso');
    await page.waitForFunction(() => document.querySelector('#status')?.textContent === 'Ready');
    await screenshot(asha, 'sso-agent.png');

    // Sign out: the sign-in page, and signed out for real.
    await Promise.all([page.waitForURL(`${srv.url}/signin`), page.click('#sign-out-btn')]);
    await page.locator('#signin-form').waitFor();
    assert.equal(await me(page), null, 'signed out');
    assertNoPageErrors(people);
  });
});

test('an account with no vkyc group is refused with a clear message', { timeout: 120_000 }, async () => {
  await withPeople(async (people) => {
    const sam = await newPerson(browser, 'sam', { media: false });
    people.push(sam);
    const page = sam.page;
    await ssoFromSignin(page, SSO_ACCOUNTS.sam.login);
    const text = await refusal(page, 'no_role');
    assert.match(text, /No access to this console/);
    assert.match(text, /none of your groups gives a role here/);
    assert.equal(await page.locator('#sso-link').isVisible(), true, 'single sign-on can be tried again');
    assert.equal(await page.locator('#signin-form').isVisible(), true);
    assert.equal(await me(page), null, 'not signed in');
    await screenshot(sam, 'sso-signin-error.png');
    // A reload does not repeat the message.
    await page.reload();
    await page.locator('#sso-link').waitFor({ state: 'visible' });
    assert.equal(await page.locator('#notice').isVisible(), false);
    // A code the page does not know (or made up): a general message, the code not echoed.
    await page.goto(`${srv.url}/signin?error=${encodeURIComponent('<b>pwned</b>')}`);
    const unknown = await refusal(page, 'unknown');
    assert.match(unknown, /Single sign-on did not complete/);
    assert.doesNotMatch(unknown, /pwned/);
    assertNoPageErrors(people);
  });
});

test('a replayed callback is refused', { timeout: 120_000 }, async () => {
  assert.ok(ashaCallback, "the first test captured asha's callback URL");
  await withPeople(async (people) => {
    // Another browser (someone who got hold of the URL), then asha's own browser, signed out.
    const stranger = await newPerson(browser, 'stranger', { media: false });
    people.push(stranger);
    await stranger.page.goto(ashaCallback);
    assert.match(await refusal(stranger.page, 'state_mismatch'), /The sign-in did not complete/);
    assert.equal(await me(stranger.page), null, 'the replay signs nobody in');

    const again = await newPerson(browser, 'asha-again', { media: false });
    people.push(again);
    await again.page.goto(ashaCallback);
    await refusal(again.page, 'state_mismatch');
    assert.equal(await me(again.page), null);

    // The server answers the replay with a redirect to /signin and no cookie.
    const res = await fetch(ashaCallback, { redirect: 'manual' });
    assert.equal(res.status, 302);
    assert.equal(res.headers.get('location'), '/signin?error=state_mismatch');
    assert.equal(res.headers.get('set-cookie'), null, 'no console cookie for a replay');
    assertNoPageErrors(people);
  });
});

test('a supervisor and admin by single sign-on opens the accounts page', { timeout: 120_000 }, async () => {
  await withPeople(async (people) => {
    const meera = await newPerson(browser, 'meera', { media: false });
    people.push(meera);
    const page = meera.page;
    await ssoFromSignin(page, SSO_ACCOUNTS.meera.login);
    await page.waitForURL(`${srv.url}/agent`);
    await page.waitForSelector('body[data-phase="lobby"]');
    assert.equal(await page.textContent('#account-name'), SSO_ACCOUNTS.meera.name);
    assert.equal(await page.textContent('#account-roles'), 'Supervisor, Admin');

    await Promise.all([page.waitForURL(`${srv.url}/admin`), page.click('.topbar-nav a[href="/admin"]')]);
    await page.waitForSelector('body[data-access="admin"]');
    await page.locator('#users-list tr.user-row').first().waitFor();
    const emails = await page.locator('#users-list tr.user-row').evaluateAll((rows) => rows.map((r) => r.dataset.email));
    assert.ok(emails.includes(SSO_ACCOUNTS.meera.email), 'meera is listed');
    assert.ok(emails.includes(SSO_ACCOUNTS.asha.email), 'asha, created by her single sign-on, is listed');
    assert.ok(!emails.includes(SSO_ACCOUNTS.sam.email), 'sam, refused, has no account');
    await screenshot(meera, 'sso-admin.png', { fullPage: true });

    await Promise.all([page.waitForURL(`${srv.url}/signin`), page.click('#sign-out-btn')]);
    assertNoPageErrors(people);
  });
});
