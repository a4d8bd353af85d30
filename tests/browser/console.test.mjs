// Staff accounts through the pages: the first start's setup link creates the first admin, who
// lands on the agent console signed in and adds an agent on the accounts page; signing out
// and in (a wrong password explained), the accounts page refused to a non-admin, a reload
// that stays signed in, and the console sending a signed-out browser to /signin.

import { test } from 'node:test';
import assert from 'node:assert/strict';

import { serversWithoutEngines, newPerson, screenshot, setupLink, signIn, withPeople, ACCOUNTS } from './harness.mjs';

const pages = serversWithoutEngines();
let browser;

/** A server without verification engines (these tests are about accounts); `browser` is then the shared one. */
async function server(options = {}) {
  const s = await pages.server(options);
  browser = pages.browser();
  return s;
}

const ADMIN = { email: 'priya@bank.test', name: 'Priya Admin', password: 'priya-admin-pass-1' };
const AGENT = { email: 'neha@bank.test', name: 'Neha Agent', password: 'neha-agent-pass-1' };

/** No page of `people` had an uncaught error. */
function assertNoPageErrors(people) {
  for (const p of people) assert.deepEqual(p.logs.filter((l) => l.includes('pageerror:')), [], `${p.name} page had uncaught errors`);
}

/** Waits for `#notice` (or `selector`) to show `code`; returns its text. */
async function noticeText(page, code, selector = '#notice') {
  const el = page.locator(`${selector}[data-code="${code}"]`);
  await el.waitFor({ state: 'visible' });
  return el.textContent();
}

test('first start: the setup link, the first admin, an agent added, sign-out and sign-in', { timeout: 180_000 }, async () => {
  const srv = await server({ accounts: [] });
  const link = await setupLink(srv);
  assert.match(link, /^http:\/\/127\.0\.0\.1:\d+\/setup#token=[\w-]+$/, 'the server prints the setup link on its first start');

  await withPeople(async (people) => {
    // ---- the first admin: the setup link, then the agent console, signed in
    const admin = await newPerson(browser, 'admin', { media: false });
    people.push(admin);
    const page = admin.page;
    await page.goto(link);
    await page.locator('#setup-form').waitFor({ state: 'visible' });
    assert.equal(new URL(page.url()).hash, '', 'the secret leaves the address bar');
    await page.fill('#setup-email', ADMIN.email);
    await page.fill('#setup-name', ADMIN.name);
    await page.fill('#setup-password', 'too-short');
    await page.click('#setup-btn');
    assert.match(await noticeText(page, 'weak_password'), /at least 12 characters/);
    await page.fill('#setup-password', ADMIN.password);
    await Promise.all([page.waitForURL(`${srv.url}/agent`), page.click('#setup-btn')]);
    await page.waitForSelector('body[data-phase="lobby"]');
    assert.equal(await page.textContent('#account-name'), ADMIN.name);
    assert.equal(await page.textContent('#account-roles'), 'Agent, Supervisor, Auditor, Admin', 'the first admin has every role');

    // The link is used: a second try is refused.
    const again = await fetch(`${srv.url}/v1/auth/setup`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ token: new URL(link).hash.replace('#token=', ''), email: 'mallory@bank.test', name: 'Mallory', password: 'mallory-pass-123' }),
    });
    assert.equal(again.status, 409);

    // ---- the admin creates a session from the console (a change: cookie + CSRF token)
    await page.fill('#applicant-name', 'Kavya Rao');
    await page.fill('#applicant-dob', '1991-04-12');
    await page.fill('#applicant-ref', 'LN-2024-0042');
    await page.click('#create-session-btn');
    await page.waitForFunction(() => /#token=/.test(document.querySelector('#customer-link')?.value || ''));
    assert.match(await page.textContent('#session-fields'), /Agent\s*Priya Admin \(you\)/, 'taking the agent token assigned the session');
    await page.locator('#join-btn:not([disabled])').waitFor();
    await screenshot(admin, 'console-agent.png');
    const sessionId = await page.evaluate(() => window.vkyc.session.id);

    // ---- the accounts page: add an agent
    await page.click('.topbar-nav a[href="/admin"]');
    await page.waitForURL(`${srv.url}/admin`);
    await page.locator('#users-list tr.user-row').first().waitFor();
    assert.equal(await page.locator('#users-list tr.user-row').count(), 1);
    const self = page.locator(`tr.user-row[data-email="${ADMIN.email}"]`);
    assert.match(await self.textContent(), /\(you\)/);
    assert.equal(await self.locator('.toggle-btn').isDisabled(), true, 'an admin cannot disable themselves');

    await page.fill('#new-email', AGENT.email);
    await page.fill('#new-name', AGENT.name);
    assert.equal(await page.isChecked('#add-user-form input[name="roles"][value="agent"]'), true, 'agent is the default role');
    await page.fill('#new-languages', 'en, HI, ');
    await page.fill('#new-products', 'personal_loan');
    await page.fill('#new-password', AGENT.password);
    await page.click('#add-user-btn');
    assert.match(await noticeText(page, 'user_created', '#add-user-notice'), /Account added: Neha Agent/);
    const row = page.locator(`tr.user-row[data-email="${AGENT.email}"]`);
    await row.waitFor();
    assert.deepEqual(await row.locator('.role-badge').allTextContents(), ['Agent']);
    assert.equal(await row.locator('dd[data-skill="languages"]').textContent(), 'en, hi');
    assert.equal(await row.locator('dd[data-skill="products"]').textContent(), 'personal_loan');

    // The same email twice: explained.
    await page.fill('#new-email', AGENT.email);
    await page.fill('#new-name', 'Neha Again');
    await page.click('#add-user-btn');
    assert.match(await noticeText(page, 'email_taken', '#add-user-notice'), /has an account already/);
    await page.fill('#new-email', '');
    await page.fill('#new-name', '');

    // Another account: its roles changed, then disabled.
    await page.fill('#new-email', 'tariq@bank.test');
    await page.fill('#new-name', 'Tariq Temp');
    await page.uncheck('#add-user-form input[name="roles"][value="agent"]');
    await page.check('#add-user-form input[name="roles"][value="auditor"]');
    await page.fill('#new-password', 'tariq-temp-pass-1');
    await page.click('#add-user-btn');
    const tariq = page.locator('tr.user-row[data-email="tariq@bank.test"]');
    await tariq.waitFor();
    assert.deepEqual(await tariq.locator('.role-badge').allTextContents(), ['Auditor']);
    await tariq.locator('.edit-btn').click();
    const editor = page.locator('tr.editor-row');
    await editor.locator('input[value="supervisor"]').check();
    await screenshot(admin, 'console-admin-edit.png');
    await editor.locator('.save-btn').click();
    await page.waitForFunction(() => !document.querySelector('tr.editor-row'));
    assert.deepEqual(await tariq.locator('.role-badge').allTextContents(), ['Supervisor', 'Auditor']);
    await tariq.locator('.toggle-btn').click();
    await tariq.locator('[data-state="disabled"]').waitFor();
    assert.equal(await tariq.locator('.toggle-btn').textContent(), 'Enable');
    const refusedLogin = await fetch(`${srv.url}/v1/auth/login`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ email: 'tariq@bank.test', password: 'tariq-temp-pass-1' }) });
    assert.equal(refusedLogin.status, 401, 'a disabled account cannot sign in');

    // An admin cannot drop their own admin role.
    await self.locator('.edit-btn').click();
    await page.locator('tr.editor-row input[value="admin"]').uncheck();
    await page.locator('tr.editor-row .save-btn').click();
    assert.match(await noticeText(page, 'self_lockout', 'tr.editor-row .notice'), /cannot lock yourself out/);
    await page.locator('tr.editor-row button', { hasText: 'Cancel' }).click();
    await screenshot(admin, 'console-admin.png', { fullPage: true });

    // ---- sign out: the sign-in page
    await Promise.all([page.waitForURL(`${srv.url}/signin`), page.click('#sign-out-btn')]);

    // ---- the agent signs in at /signin; a wrong password first
    const agent = await newPerson(browser, 'new-agent', { media: false });
    people.push(agent);
    const ap = agent.page;
    await ap.goto(`${srv.url}/signin`);
    await ap.fill('#signin-email', AGENT.email);
    await ap.fill('#signin-password', 'not-the-password');
    await ap.click('#signin-btn');
    assert.match(await noticeText(ap, 'invalid_credentials'), /Wrong email or password/);
    assert.equal(await ap.inputValue('#signin-password'), '', 'the wrong password is cleared');
    assert.equal(await ap.locator('#sso-link').isVisible(), false, 'no single sign-on link when the server has none');
    await screenshot(agent, 'console-signin-error.png');
    await ap.fill('#signin-password', AGENT.password);
    await Promise.all([ap.waitForURL(`${srv.url}/agent`), ap.click('#signin-btn')]);
    await ap.waitForSelector('body[data-phase="lobby"]');
    assert.equal(await ap.textContent('#account-name'), AGENT.name);
    assert.equal(await ap.textContent('#account-roles'), 'Agent');
    assert.equal(await ap.locator('.topbar-nav a[href="/admin"]').count(), 0, 'no Accounts link for an agent');
    // The admin's session is assigned to the admin: not in this agent's list.
    await ap.waitForFunction(() => document.querySelector('#status')?.textContent === 'Ready');
    assert.equal(await ap.locator(`.session-item[data-session-id="${sessionId}"]`).count(), 0, "another agent's session is not listed");

    // ---- an agent on the accounts page: refused, clearly
    await ap.goto(`${srv.url}/admin`);
    assert.match(await noticeText(ap, 'needs_admin'), /This page needs an admin.*Neha Agent \(Agent\)/s);
    assert.equal(await ap.locator('#users-card').isVisible(), false);
    assert.equal(await ap.locator('#add-user-form').isVisible(), false);
    await screenshot(agent, 'console-admin-refused.png');

    // ---- a reload stays signed in
    await ap.goto(`${srv.url}/agent`);
    await ap.waitForSelector('body[data-phase="lobby"]');
    await ap.reload();
    await ap.waitForSelector('body[data-phase="lobby"]');
    assert.equal(await ap.textContent('#account-name'), AGENT.name);

    // ---- signed out, the console sends the browser to /signin (and back afterwards)
    await Promise.all([ap.waitForURL(`${srv.url}/signin`), ap.click('#sign-out-btn')]);
    await ap.goto(`${srv.url}/agent`);
    await ap.waitForURL(`${srv.url}/signin?next=%2Fagent`);
    await ap.locator('#signin-form').waitFor();
    await screenshot(agent, 'console-signin.png');
    assertNoPageErrors(people);
  });
});

test('sign-in returns to the page asked for, only on this site', { timeout: 120_000 }, async () => {
  const srv = await server();
  await withPeople(async (people) => {
    const person = await newPerson(browser, 'admin', { media: false });
    people.push(person);
    // Through the form, to the page asked for.
    const user = await signIn(person.page, srv, ACCOUNTS.admin.email, { form: true, next: '/admin' });
    assert.equal(user.name, 'Ada Admin');
    await person.page.locator('#users-list tr.user-row').first().waitFor();
    const emails = await person.page.locator('#users-list tr.user-row').evaluateAll((rows) => rows.map((r) => r.dataset.email));
    for (const a of Object.values(ACCOUNTS)) assert.ok(emails.includes(a.email), `${a.email} is listed`);
    // Signed in already: /signin goes straight on.
    await person.page.goto(`${srv.url}/signin?next=%2Fagent`);
    await person.page.waitForURL(`${srv.url}/agent`);
    await Promise.all([person.page.waitForURL(`${srv.url}/signin`), person.page.click('#sign-out-btn')]);

    // Another site as `next`: the agent console instead.
    for (const next of ['//evil.example/agent', 'https://evil.example/', '/\\evil.example']) {
      const p = await newPerson(browser, 'agent', { media: false });
      people.push(p);
      await p.page.goto(`${srv.url}/signin?next=${encodeURIComponent(next)}`);
      await p.page.fill('#signin-email', ACCOUNTS.agent.email);
      await p.page.fill('#signin-password', ACCOUNTS.agent.password);
      await Promise.all([p.page.waitForURL(`${srv.url}/agent`), p.page.click('#signin-btn')]);
      await p.close();
    }
    assertNoPageErrors(people);
  });
});
