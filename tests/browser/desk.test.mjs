// The agent desk through the pages: customers wait in the queue (their place and wait on the
// join page), agents' consoles ring by skill (Asha speaks English and Hindi, Ravi Hindi
// only), a declined and an unanswered offer go to the next able agent, an accepted one opens
// the call by itself, wrap-up after the call and then the next customer rings; the
// supervisor's page shows the desk live and joins a call silently (the customer's page shows
// nobody new). Short desk timers; every step waits for a page state, never a fixed time.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';

import { startServerAndBrowser, stopServerAndBrowser, withPeople, api, newPerson, signIn, waitForRemoteMedia, screenshot, ACCOUNTS } from './harness.mjs';

const RING_SECS = 8;
const WRAP_UP_SECS = 3;
const SLA_SECS = 10;

let server;
let browser;

before(async () => {
  ({ server, browser } = await startServerAndBrowser({
    server: {
      env: {
        VKYC_INFERENCE__ENABLED: 'false',
        VKYC_DESK__RING_TIMEOUT_SECS: String(RING_SECS),
        VKYC_DESK__WRAP_UP_SECS: String(WRAP_UP_SECS),
        VKYC_DESK__SLA_WAIT_SECS: String(SLA_SECS),
        // The lifecycle timer opens scheduled windows every second (the scheduled-call test).
        VKYC_KYC__EXPIRY_CHECK_SECS: '1',
      },
    },
  }));
});

after(() => stopServerAndBrowser({ server, browser }));

/** A live-agent session needing `languages`, created by the lender's back end, with its customer link. */
async function queuedSession(name, languages) {
  const created = await api(server.url, 'POST', '/v1/sessions', {
    mode: 'live_agent',
    applicant: { name, date_of_birth: '1990-01-31', reference_id: `DESK-${name.replace(/\W/g, '')}` },
    workflow: ['document', 'face'],
    requirements: { languages },
  });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const token = await api(server.url, 'POST', `/v1/sessions/${created.body.id}/tokens`, { role: 'customer' });
  assert.equal(token.status, 201, JSON.stringify(token.body));
  return { id: created.body.id, name, link: new URL(token.body.join_url, server.url).href };
}

/** An agent's console (added to `people`), on the desk and offline (a new console starts offline). */
async function deskConsole(people, name, email) {
  const p = await newPerson(browser, name, { viewport: { width: 1360, height: 900 } });
  people.push(p);
  await signIn(p.page, server, email);
  await p.page.goto(`${server.url}/agent`);
  await p.page.waitForSelector('body[data-phase="lobby"][data-presence="offline"]');
  return p;
}

async function setPresence(p, state) {
  await p.page.click(`#presence-${state}-btn`);
  await p.page.waitForSelector(`body[data-presence="${state}"]`);
}

/** Waits until `p`'s console rings for `session`; returns the banner's texts. */
async function ringsFor(p, session, { timeout = 30_000 } = {}) {
  await p.page.locator(`#ring[data-session-id="${session.id}"]`).waitFor({ state: 'visible', timeout });
  return { applicant: await p.page.textContent('#ring-applicant'), requirements: await p.page.textContent('#ring-requirements') };
}

/** The customer's page (added to `people`): the link, "Join call", then the queue. */
async function customerJoins(people, session, label) {
  const p = await newPerson(browser, label);
  people.push(p);
  await p.page.goto(session.link);
  await p.page.locator('#join-btn:not([disabled])').click();
  await p.page.waitForSelector('body[data-phase="queue"] #queue-box[data-position]:not([hidden])');
  return p;
}

/** The customer's place as the page shows it: { position, wait, status }. */
async function place(p) {
  return p.page.evaluate(() => ({
    position: Number(document.querySelector('#queue-box').dataset.position),
    wait: document.querySelector('#queue-box').dataset.wait,
    box: document.querySelector('#queue-box').innerText,
    status: document.querySelector('#status').textContent,
  }));
}

/** The supervisor page's count of agents in `state`. */
function stateCount(page, state) {
  return page.evaluate((s) => Number(document.querySelector(`#agents-by-state [data-state="${s}"] .stat-n`)?.textContent ?? -1), state);
}

async function waitStateCount(page, state, n) {
  await page.waitForFunction(
    ([s, want]) => document.querySelector(`#agents-by-state [data-state="${s}"] .stat-n`)?.textContent === String(want),
    [state, n],
  );
}

function assertNoPageErrors(people) {
  for (const p of people) assert.deepEqual(p.logs.filter((l) => l.includes('pageerror:')), [], `${p.name} page had uncaught errors`);
}

test('desk: queue, skill routing, decline and miss re-offered, accept into the call, wrap-up, supervisor listens in silently and reassigns', { timeout: 420_000 }, async () => {
  // In order of arrival: two Hindi speakers, then an English speaker.
  const meena = await queuedSession('Meena Sharma', ['hi']);
  const arjun = await queuedSession('Arjun Verma', ['hi']);
  const emily = await queuedSession('Emily Clarke', ['en']);

  await withPeople(async (people) => {
    // ---- the supervisor's page, and both agents' consoles (offline)
    const sup = await newPerson(browser, 'supervisor', { media: false, viewport: { width: 1440, height: 1000 } });
    people.push(sup);
    await signIn(sup.page, server, ACCOUNTS.supervisor.email);
    await sup.page.goto(`${server.url}/supervisor`);
    await sup.page.waitForSelector('body[data-access="supervisor"]');
    const asha = await deskConsole(people, 'asha', ACCOUNTS.agent.email); // en, hi
    const ravi = await deskConsole(people, 'ravi', ACCOUNTS.agent2.email); // hi
    await waitStateCount(sup.page, 'offline', 2);

    // ---- three customers join: each waits in the queue and sees their place
    const custMeena = await customerJoins(people, meena, 'meena');
    const custArjun = await customerJoins(people, arjun, 'arjun');
    const custEmily = await customerJoins(people, emily, 'emily');
    // Nobody can take a call yet: places in order of arrival, no estimate.
    for (const [p, n] of [[custMeena, 1], [custArjun, 2], [custEmily, 3]]) {
      const at = await place(p);
      assert.equal(at.position, n, `${p.name}'s place`);
      assert.equal(at.wait, '', `${p.name}: no honest estimate yet`);
      assert.match(at.status, new RegExp(`You're in the queue — position ${n}\\. We'll connect you as soon as an agent is free`));
    }
    await screenshot(custEmily, 'desk-customer-waiting.png');
    // The supervisor sees them wait.
    await sup.page.waitForFunction(() => document.querySelectorAll('#waiting-list tr.waiting-row').length === 3);
    assert.deepEqual(
      await sup.page.locator('#waiting-list tr.waiting-row .cell-name').allTextContents(),
      ['Meena Sharma', 'Arjun Verma', 'Emily Clarke'],
    );
    assert.match(await sup.page.textContent(`#waiting-list tr[data-session-id="${emily.id}"] .cell-needs`), /Language: English/);

    // ---- Asha takes a break; Ravi becomes available and rings for Meena (Hindi, first)
    await setPresence(asha, 'break');
    await setPresence(ravi, 'available');
    const ring1 = await ringsFor(ravi, meena);
    assert.equal(ring1.applicant, 'Meena Sharma');
    assert.match(ring1.requirements, /Language: Hindi/);
    assert.ok(await ravi.page.evaluate(() => window.vkyc.desk.ringing), 'the console rings (sound on, where allowed)');
    assert.ok(Number(await ravi.page.textContent('#ring-countdown')) > 0, 'the countdown runs');
    // Meena's page: an agent is being rung for her.
    await custMeena.page.waitForSelector('#queue-box[data-wait="0"]');
    assert.match((await place(custMeena)).status, /An agent is about to take your call/);
    await screenshot(ravi, 'desk-console-ringing.png');

    // ---- Ravi declines Meena: his console rings for Arjun (the next Hindi speaker) instead
    await ravi.page.click('#ring-decline-btn');
    await ringsFor(ravi, arjun);
    // ---- and lets Arjun ring out: missed (the banner goes, the console says so)
    await ravi.page.locator('#desk-notice[data-code="offer_missed"]').waitFor({ state: 'visible', timeout: (RING_SECS + 20) * 1000 });
    assert.equal(await ravi.page.locator('#ring').isVisible(), false, 'the missed offer stops ringing');
    assert.match(await ravi.page.textContent('#desk-notice'), /Missed: Arjun Verma/);
    // Nobody answered at Ravi's seat: the desk puts him on a break (not ready) until he is back.
    await ravi.page.waitForSelector('body[data-presence="break"]');
    await waitStateCount(sup.page, 'break', 2);
    await setPresence(ravi, 'available');
    // The supervisor sees the offers and the miss; Ravi available, Asha on a break.
    await sup.page.waitForFunction(
      ([a, b]) =>
        document.querySelector(`#waiting-list tr[data-session-id="${a}"] .cell-offers`)?.textContent === '1 offered · 0 missed' &&
        document.querySelector(`#waiting-list tr[data-session-id="${b}"] .cell-offers`)?.textContent === '1 offered · 1 missed',
      [meena.id, arjun.id],
    );
    await waitStateCount(sup.page, 'available', 1);
    assert.equal(await stateCount(sup.page, 'break'), 1);

    // ---- Asha becomes available: the customer Ravi declined goes to her, she accepts
    await setPresence(asha, 'available');
    const ring2 = await ringsFor(asha, meena);
    assert.equal(ring2.applicant, 'Meena Sharma');
    await asha.page.click('#ring-accept-btn');
    // Accepting opens the session and joins its call; Meena's page joins the call too.
    await asha.page.waitForSelector('body[data-phase="call"][data-presence="busy"]');
    assert.equal(await asha.page.evaluate(() => window.vkyc.session.id), meena.id);
    await custMeena.page.waitForSelector('body[data-phase="call"]');
    await Promise.all([waitForRemoteMedia(asha, { server }), waitForRemoteMedia(custMeena, { server })]);
    assert.equal(await custMeena.page.textContent('#remote-label'), 'Agent');

    // ---- the supervisor: the call, the waiting customers (over the SLA), agents by state
    const callRow = sup.page.locator(`#calls-list tr[data-session-id="${meena.id}"]`);
    await callRow.waitFor({ state: 'visible' });
    assert.equal(await callRow.locator('.cell-agent').textContent(), ACCOUNTS.agent.name);
    await waitStateCount(sup.page, 'busy', 1);
    await sup.page.waitForFunction(() => document.querySelectorAll('#waiting-list tr.waiting-row').length === 2);
    await sup.page.locator(`#waiting-list tr.is-breached[data-session-id="${arjun.id}"]`).waitFor({ timeout: (SLA_SECS + 10) * 1000 });
    const ashaRow = sup.page.locator(`#agents-list tr[data-state="busy"]`);
    assert.equal(await ashaRow.locator('.cell-call').textContent(), 'Meena Sharma');

    // ---- the supervisor joins the call silently: sees and hears it; the customer sees nobody new
    await callRow.locator('.observe-btn').click();
    await waitForRemoteMedia(sup, { server });
    // The observer is in the room (the agent's list shows it)…
    await asha.page.locator('#participants li[data-role="observer"]').waitFor();
    // …and the customer's page still shows one remote participant: the agent.
    const seen = await custMeena.page.evaluate(() => ({
      tiles: document.querySelectorAll('#remote-extras .tile').length,
      extrasHidden: document.querySelector('#remote-extras').hidden,
      label: document.querySelector('#remote-label').textContent,
      text: document.body.innerText,
    }));
    assert.equal(seen.tiles, 0, 'no extra video tile on the customer page');
    assert.equal(seen.extrasHidden, true);
    assert.equal(seen.label, 'Agent');
    assert.doesNotMatch(seen.text, /observer|supervisor|Sam Supervisor/i);
    await screenshot(sup, 'desk-supervisor.png', { fullPage: true });
    await sup.page.click('#stop-observe-btn');
    await sup.page.locator('#observe').waitFor({ state: 'hidden' });

    // ---- Asha ends the call: wrap-up, then the next customer rings — Arjun, whom Ravi missed
    await asha.page.click('#end-btn');
    await custMeena.page.locator('#ended').waitFor({ state: 'visible', timeout: 30_000 });
    await asha.page.waitForSelector('body[data-presence="wrap_up"]');
    await ringsFor(asha, arjun, { timeout: (WRAP_UP_SECS + 20) * 1000 });
    await asha.page.click('#ring-accept-btn');
    await asha.page.waitForSelector('body[data-phase="call"][data-presence="busy"]');
    assert.equal(await asha.page.evaluate(() => window.vkyc.session.id), arjun.id);
    await custArjun.page.waitForSelector('body[data-phase="call"]');
    await asha.page.click('#end-btn');
    await custArjun.page.locator('#ended').waitFor({ state: 'visible', timeout: 30_000 });

    // ---- then Emily (English): only Asha can take her; Ravi, idle all along, never rang for her
    await ringsFor(asha, emily, { timeout: (WRAP_UP_SECS + 20) * 1000 });
    const raviOffers = await ravi.page.evaluate(() => window.vkyc.desk.offers.map((o) => o.session_id));
    assert.deepEqual(raviOffers, [meena.id, arjun.id], 'Ravi (Hindi only) was offered the Hindi speakers only');
    const ashaOffers = await asha.page.evaluate(() => window.vkyc.desk.offers.map((o) => o.session_id));
    assert.deepEqual(ashaOffers, [meena.id, arjun.id, emily.id]);
    // Emily's place is live: first now, an agent being rung.
    await custEmily.page.waitForSelector('#queue-box[data-position="1"][data-wait="0"]');

    // ---- the supervisor gives Emily to Ravi instead (a supervisor's choice overrides skills)
    const emilyRow = sup.page.locator(`#waiting-list tr[data-session-id="${emily.id}"]`);
    await sup.page.waitForFunction((id) => /Ringing\s*Asha Agent/.test(document.querySelector(`#waiting-list tr[data-session-id="${id}"] .cell-ringing`)?.textContent || ''), emily.id);
    const raviId = await ravi.page.evaluate(() => window.vkyc.user.id);
    await emilyRow.locator(`.reassign-select option[value="${raviId}"]`).waitFor({ state: 'attached' });
    await emilyRow.locator('.reassign-select').selectOption(raviId);
    await emilyRow.locator('.reassign-btn').click();
    await sup.page.locator('#notice[data-code="reassigned"]').waitFor({ state: 'visible' });
    assert.match(await sup.page.textContent('#notice'), /Ravi Agent's console rings for Emily Clarke/);
    await ringsFor(ravi, emily);
    await asha.page.locator('#ring').waitFor({ state: 'hidden' });
    await sup.page.waitForFunction((id) => /Ringing\s*Ravi Agent/.test(document.querySelector(`#waiting-list tr[data-session-id="${id}"] .cell-ringing`)?.textContent || ''), emily.id);

    assertNoPageErrors(people);
  });
});

test('desk: a scheduled call rings at its slot, before the customer joins, and the customer joins the agent', { timeout: 180_000 }, async () => {
  await withPeople(async (people) => {
    // Asha's console again (the first test's may have closed moments ago: she keeps her state).
    const asha = await newPerson(browser, 'asha', { viewport: { width: 1360, height: 900 } });
    people.push(asha);
    await signIn(asha.page, server, ACCOUNTS.agent.email);
    await asha.page.goto(`${server.url}/agent`);
    await asha.page.waitForSelector('body[data-phase="lobby"][data-presence]:not([data-presence="busy"]):not([data-presence="wrap_up"])', { timeout: 30_000 });
    if ((await asha.page.getAttribute('body', 'data-presence')) !== 'available') await setPresence(asha, 'available');
    const starts = Date.now() + 4000;
    const created = await api(server.url, 'POST', '/v1/sessions', {
      mode: 'live_agent',
      applicant: { name: 'Booked Customer' },
      workflow: ['document', 'face'],
      requirements: { languages: ['en'] },
      schedule: { starts_at: new Date(starts).toISOString(), ends_at: new Date(starts + 3_600_000).toISOString() },
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const booked = { id: created.body.id };
    const banner = await ringsFor(asha, booked);
    assert.ok(Date.now() >= starts, 'not before the slot');
    assert.match(await asha.page.textContent('#ring-title'), /^Scheduled call · /);
    assert.match(banner.requirements, /The customer has not joined yet/);
    assert.equal(await asha.page.getAttribute('#ring', 'data-customer-connected'), 'false');
    await screenshot(asha, 'desk-scheduled-ring.png');
    await asha.page.click('#ring-accept-btn');
    await asha.page.waitForSelector('body[data-phase="call"][data-presence="busy"]');
    assert.equal(await asha.page.evaluate(() => window.vkyc.session.id), booked.id);
    // The customer opens their link later: straight into the call with their agent.
    const token = await api(server.url, 'POST', `/v1/sessions/${booked.id}/tokens`, { role: 'customer' });
    const cust = await newPerson(browser, 'booked customer');
    people.push(cust);
    await cust.page.goto(new URL(token.body.join_url, server.url).href);
    await cust.page.locator('#join-btn:not([disabled])').click();
    await cust.page.waitForSelector('body[data-phase="call"]');
    await Promise.all([waitForRemoteMedia(asha, { server }), waitForRemoteMedia(cust, { server })]);
    await asha.page.click('#end-btn');
    await cust.page.locator('#ended').waitFor({ state: 'visible', timeout: 30_000 });
  });
});

test('desk: a customer who waits too long is told so; one who leaves is out of the queue', { timeout: 180_000 }, async () => {
  // Its own server: a queue timeout of a few seconds.
  const { server: srv, browser: b } = await startServerAndBrowser({
    server: { env: { VKYC_INFERENCE__ENABLED: 'false', VKYC_DESK__QUEUE_TIMEOUT_SECS: '4' } },
  });
  try {
    await withPeople(async (people) => {
      const mk = async (name) => {
        const s = await api(srv.url, 'POST', '/v1/sessions', { mode: 'live_agent', applicant: { name }, workflow: ['document', 'face'], requirements: { languages: ['hi'] } });
        const t = await api(srv.url, 'POST', `/v1/sessions/${s.body.id}/tokens`, { role: 'customer' });
        return { id: s.body.id, link: new URL(t.body.join_url, srv.url).href };
      };
      const late = await mk('Waits Too Long');
      const leaver = await mk('Leaves Early');
      const open = async (s, label) => {
        const p = await newPerson(b, label);
        people.push(p);
        await p.page.goto(s.link);
        await p.page.locator('#join-btn:not([disabled])').click();
        await p.page.waitForSelector('body[data-phase="queue"] #queue-box[data-position]:not([hidden])');
        return p;
      };
      const p1 = await open(late, 'late');
      const p2 = await open(leaver, 'leaver');
      await p2.page.click('#leave-btn');
      await p2.page.waitForSelector('body[data-phase="left"]');
      assert.match(await p2.page.textContent('#ended-title'), /You left the queue/);
      assert.equal(await p2.page.evaluate(() => window.vkyc.localStream), null, 'the camera is off');

      await p1.page.waitForSelector('body[data-phase="timed_out"]', { timeout: 30_000 });
      assert.match(await p1.page.textContent('#ended-title'), /No agent could take your call in time/);
      assert.match(await p1.page.textContent('#ended-text'), /try again/i);
      assert.equal(await p1.page.locator('#retry-queue-btn').isVisible(), true);
      await screenshot(p1, 'desk-customer-timed-out.png');

      // Neither waits any more (the supervisor's view of the desk).
      const staff = await newPerson(b, 'supervisor', { media: false });
      people.push(staff);
      await signIn(staff.page, srv, ACCOUNTS.supervisor.email);
      const snap = await (await staff.page.request.get(`${srv.url}/v1/desk/snapshot`)).json();
      assert.deepEqual(snap.waiting, []);
      assertNoPageErrors(people);
    }, b);
  } finally {
    await srv.stop();
  }
});
