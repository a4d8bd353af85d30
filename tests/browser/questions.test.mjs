// Question banks through the accounts page (/admin): an admin sees the seeded default bank,
// creates a bank (a bad id and a bad `ask` explained with the server's words, nothing saved),
// edits it, and deletes it; the default bank cannot be deleted. What the page shows is what
// the server holds (read back with the API key). An agent on the page sees that it needs an
// admin.

import { test } from 'node:test';
import assert from 'node:assert/strict';

import { api, serversWithoutEngines, newPerson, screenshot, signIn, withPeople, ACCOUNTS } from './harness.mjs';

const pages = serversWithoutEngines();
let browser;

/** A server without verification engines (these tests are about question banks); `browser` is then the shared one. */
async function server(options = {}) {
  const s = await pages.server(options);
  browser = pages.browser();
  return s;
}

/** No page of `people` had an uncaught error. */
function assertNoPageErrors(people) {
  for (const p of people) assert.deepEqual(p.logs.filter((l) => l.includes('pageerror:')), [], `${p.name} page had uncaught errors`);
}

/** Waits for `selector` (a notice) to show `code`; returns its text. */
async function noticeText(page, code, selector) {
  const el = page.locator(`${selector}[data-code="${code}"]`);
  await el.waitFor({ state: 'visible' });
  return el.textContent();
}

/** Fills the editor's question rows (adding rows as needed): [{ id, text, always? }]. */
async function fillQuestions(page, questions) {
  const rows = page.locator('#bank-questions .question-row');
  for (let i = 0; i < questions.length; i += 1) {
    if ((await rows.count()) <= i) await page.click('#add-question-btn');
    const row = rows.nth(i);
    await row.locator('.question-id').fill(questions[i].id);
    await row.locator('.question-text').fill(questions[i].text);
    await row.locator('.question-always').setChecked(!!questions[i].always);
  }
}

/** The editor's question rows as the page shows them. */
function editorQuestions(page) {
  return page.locator('#bank-questions .question-row').evaluateAll((rows) =>
    rows.map((r) => ({ id: r.querySelector('.question-id').value, text: r.querySelector('.question-text').value, always: r.querySelector('.question-always').checked })),
  );
}

/** A bank's questions as the server gives them, `always` made explicit. */
const asShown = (questions) => questions.map((q) => ({ id: q.id, text: q.text, always: !!q.always }));

const LOAN_QUESTIONS = [
  { id: 'purpose', text: 'What will you use the loan for?', always: true },
  { id: 'employer', text: 'Who is your employer?' },
  { id: 'pincode', text: 'What is the pincode of your address?' },
  { id: 'income', text: 'What is your monthly income?' },
];

test('an admin manages the question banks; an agent cannot', { timeout: 180_000 }, async () => {
  const srv = await server();
  await withPeople(async (people) => {
    const admin = await newPerson(browser, 'admin', { media: false });
    people.push(admin);
    const page = admin.page;
    await signIn(page, srv, ACCOUNTS.admin.email);
    await page.goto(`${srv.url}/admin`);

    // ---- the seeded default bank (config/test.toml)
    const standard = page.locator('#banks tr.bank-row[data-bank-id="standard"]');
    await standard.waitFor();
    assert.equal(await page.locator('#banks tr.bank-row').count(), 1);
    assert.equal(await standard.locator('.bank-id').textContent(), 'standard');
    assert.match(await standard.locator('.bank-name').textContent(), /^Test questions\s*default$/);
    assert.equal(await standard.locator('.bank-default').isVisible(), true, 'the default bank is marked');
    assert.equal(await standard.locator('.bank-draw').textContent(), 'asks 3 of 3, fixed order');
    assert.match(await page.textContent('#banks-explain'), /every “always asked” one.*random choice.*random order.*sessions already created keep the questions/s);
    assert.equal(await page.locator('#bank-editor').isVisible(), false, 'no editor until one is opened');

    // Its editor shows the server's copy.
    await standard.locator('.bank-edit-btn').click();
    await page.locator('#bank-editor[data-mode="edit"][data-bank-id="standard"]').waitFor();
    assert.equal(await page.locator('#bank-id').isVisible(), false, "an existing bank's id is not editable");
    assert.equal(await page.inputValue('#bank-name'), 'Test questions');
    assert.equal(await page.inputValue('#bank-ask'), '3');
    assert.equal(await page.inputValue('#bank-order'), 'fixed');
    assert.deepEqual(await editorQuestions(page), [
      { id: 'purpose', text: 'What is the purpose of the loan?', always: false },
      { id: 'occupation', text: 'What is your occupation?', always: false },
      { id: 'address', text: 'Please confirm your current address.', always: false },
    ]);
    await page.click('#bank-cancel-btn');
    await page.locator('#bank-editor').waitFor({ state: 'hidden' });

    // ---- a new bank: 4 questions, one always asked
    await page.click('#new-bank-btn');
    await page.locator('#bank-editor[data-mode="new"]').waitFor();
    assert.equal(await page.locator('#bank-questions .question-row').count(), 1, 'a new bank starts with one empty question');
    await page.fill('#bank-id', 'Loan Bank');
    await page.fill('#bank-name', 'Loan questions');
    await page.fill('#bank-ask', '0');
    await page.selectOption('#bank-order', 'random');
    await fillQuestions(page, LOAN_QUESTIONS);
    assert.equal(await page.textContent('#bank-questions-count'), '(4)');

    // A bad id: the server's rule, shown.
    await page.click('#bank-save-btn');
    assert.match(await noticeText(page, 'invalid_path', '#bank-notice'), /Check the bank's id.*1 to 40 characters of a-z, 0-9, - and _/s);
    await page.fill('#bank-id', 'loan');

    // ask 0: the server refuses it and says why; nothing is saved.
    await page.click('#bank-save-btn');
    const refused = await noticeText(page, 'validation_failed', '#bank-notice');
    assert.match(refused, /Could not save the question bank/);
    assert.match(refused, /ask: from the 1 `always` question\(s\) \(and at least 1\) to all 4/);
    await screenshot(admin, 'questions-refused.png', { fullPage: true });
    assert.equal((await api(srv.url, 'GET', '/v1/question-banks/loan')).status, 404, 'a refused bank is not saved');
    assert.equal(await page.locator('#banks tr.bank-row').count(), 1);
    assert.equal(await page.locator('#bank-editor').isVisible(), true, 'the editor stays open with what was typed');

    await page.fill('#bank-ask', '2');
    await page.click('#bank-save-btn');
    assert.match(await noticeText(page, 'bank_saved', '#banks-notice'), /Question bank created: Loan questions.*draws 2 of its 4 questions, in a random order/s);
    await page.locator('#bank-editor').waitFor({ state: 'hidden' });
    const loan = page.locator('#banks tr.bank-row[data-bank-id="loan"]');
    await loan.waitFor();
    assert.deepEqual(await page.locator('#banks tr.bank-row').evaluateAll((rows) => rows.map((r) => r.dataset.bankId)), ['loan', 'standard'], 'listed by id');
    assert.equal(await loan.locator('.bank-draw').textContent(), 'asks 2 of 4, random order');
    assert.equal(await loan.locator('.bank-always').textContent(), '1 question always asked');
    assert.equal(await loan.locator('.bank-default').count(), 0, 'only the default bank is marked');

    // The server holds what the page shows: from the page (the console's cookie) and with the API key.
    const fromPage = await page.evaluate(async () => {
      const res = await fetch('/v1/question-banks/loan');
      return { status: res.status, body: await res.json() };
    });
    assert.equal(fromPage.status, 200);
    assert.deepEqual(
      { ...fromPage.body, questions: asShown(fromPage.body.questions) },
      { id: 'loan', name: 'Loan questions', ask: 2, order: 'random', questions: asShown(LOAN_QUESTIONS) },
    );
    const list = await api(srv.url, 'GET', '/v1/question-banks');
    assert.equal(list.status, 200);
    assert.deepEqual(list.body.banks.map((b) => b.id), ['loan', 'standard']);
    assert.equal(list.body.default_bank, 'standard');

    // ---- edit it: renamed, a question removed, the fixed order
    await loan.locator('.bank-edit-btn').click();
    await page.locator('#bank-editor[data-mode="edit"][data-bank-id="loan"]').waitFor();
    assert.equal(await page.textContent('#bank-editor-title'), 'Edit “Loan questions”');
    assert.deepEqual(await editorQuestions(page), asShown(LOAN_QUESTIONS), 'the editor shows the saved questions');
    await page.fill('#bank-name', 'Personal loan questions');
    await page.locator('#bank-questions .question-row[data-question-id="income"] .question-remove-btn').click();
    assert.equal(await page.textContent('#bank-questions-count'), '(3)');
    await page.selectOption('#bank-order', 'fixed');
    await screenshot(admin, 'questions-editor.png', { fullPage: true });
    await page.click('#bank-save-btn');
    assert.match(await noticeText(page, 'bank_saved', '#banks-notice'), /Question bank saved: Personal loan questions.*draws 2 of its 3 questions, in the bank's order/s);
    assert.match(await loan.locator('.bank-name').textContent(), /^Personal loan questions$/);
    assert.equal(await loan.locator('.bank-draw').textContent(), 'asks 2 of 3, fixed order');
    const edited = await api(srv.url, 'GET', '/v1/question-banks/loan');
    assert.equal(edited.status, 200);
    assert.deepEqual(
      { ...edited.body, questions: asShown(edited.body.questions) },
      { id: 'loan', name: 'Personal loan questions', ask: 2, order: 'fixed', questions: asShown(LOAN_QUESTIONS.slice(0, 3)) },
    );

    // A new bank over an existing id is caught before anything is replaced.
    await page.click('#new-bank-btn');
    await page.fill('#bank-id', 'loan');
    await page.fill('#bank-name', 'Another');
    await fillQuestions(page, [{ id: 'x', text: 'X?' }]);
    await page.click('#bank-save-btn');
    assert.match(await noticeText(page, 'bank_exists', '#bank-notice'), /There is a bank “loan” already/);
    assert.equal((await api(srv.url, 'GET', '/v1/question-banks/loan')).body.name, 'Personal loan questions');
    await page.click('#bank-cancel-btn');

    // ---- delete it: a confirmation first (dismissed: nothing happens)
    const asked = new Promise((resolve) =>
      page.once('dialog', (d) => {
        resolve(d.message());
        d.dismiss();
      }),
    );
    await loan.locator('.bank-delete-btn').click();
    assert.match(await asked, /Delete the question bank “Personal loan questions” \(loan\)\?.*sessions already created keep their questions/s);
    assert.equal(await loan.count(), 1);
    assert.equal((await api(srv.url, 'GET', '/v1/question-banks/loan')).status, 200, 'a dismissed confirmation deletes nothing');

    page.once('dialog', (d) => d.accept());
    await loan.locator('.bank-delete-btn').click();
    assert.match(await noticeText(page, 'bank_deleted', '#banks-notice'), /Question bank deleted: Personal loan questions/);
    await loan.waitFor({ state: 'detached' });
    assert.equal((await api(srv.url, 'GET', '/v1/question-banks/loan')).status, 404);

    // ---- the default bank cannot be deleted: the server's 409, explained
    page.once('dialog', (d) => d.accept());
    await standard.locator('.bank-delete-btn').click();
    const kept = await noticeText(page, 'default_question_bank', '#banks-notice');
    assert.match(kept, /The default bank cannot be deleted/);
    assert.match(kept, /sessions that name no bank ask from it/);
    assert.equal(await standard.count(), 1);
    assert.equal((await api(srv.url, 'GET', '/v1/question-banks/standard')).status, 200);
    await screenshot(admin, 'questions-default.png', { fullPage: true });

    // ---- an agent on the page: refused, clearly, no banks shown
    const agent = await newPerson(browser, 'agent', { media: false });
    people.push(agent);
    await signIn(agent.page, srv, ACCOUNTS.agent.email);
    await agent.page.goto(`${srv.url}/admin`);
    assert.match(await noticeText(agent.page, 'needs_admin', '#notice'), /This page needs an admin.*question banks are managed by admins.*Asha Agent \(Agent\)/s);
    assert.equal(await agent.page.locator('#banks-card').isVisible(), false);
    assert.equal(await agent.page.locator('#bank-editor').isVisible(), false);
    assert.equal(await agent.page.locator('#users-card').isVisible(), false);
    // The server refuses an agent's change anyway.
    const agentPut = await agent.page.evaluate(async () => {
      const { csrf_token: csrf } = await (await fetch('/v1/auth/me')).json();
      const res = await fetch('/v1/question-banks/sneaky', {
        method: 'PUT',
        headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': csrf },
        body: JSON.stringify({ name: 'x', ask: 1, questions: [{ id: 'a', text: 'A?' }] }),
      });
      return res.status;
    });
    assert.equal(agentPut, 403, 'an agent cannot save a bank');
    assert.equal((await api(srv.url, 'GET', '/v1/question-banks/sneaky')).status, 404);

    assertNoPageErrors(people);
  });
});
