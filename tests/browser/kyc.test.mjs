// The KYC workflow end to end in the browser: the customer gives consent and location on the
// join page, the agent checks a PAN card (uploaded image) and captures the customer's face
// from the call video, approves, and an auditor approves on the auditor page. The verdicts
// come from the real engines (VKYC_INFERENCE__ENABLED=true in harness.mjs).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';

import { startServer, api, createSessionWithTokens, launchBrowser, newPerson, waitForRemoteMedia, screenshot, panCardFixture, sleep } from './harness.mjs';

let server;
let browser;

before(async () => {
  server = await startServer();
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close().catch(() => {});
  await server?.stop();
});

const MUMBAI = { latitude: 19.07, longitude: 72.88, accuracy: 30 };

/** Waits until the agent console shows a finished attempt for `step`; returns its outcome. */
async function stepOutcome(page, step, attempts) {
  await page.waitForFunction(
    ({ step, attempts }) => {
      const s = window.vkyc.kyc?.steps?.find((x) => x.type === step);
      const el = document.querySelector(`#kyc-steps [data-step="${step}"]`);
      return s && s.attempts.length >= attempts && el && el.dataset.outcome !== 'none' && !document.querySelector('#capture-face-btn').disabled;
    },
    { step, attempts },
    { timeout: 90_000 },
  );
  return page.locator(`#kyc-steps [data-step="${step}"]`).getAttribute('data-outcome');
}

test('KYC: consent, location, document, face, decision and audit through the pages', { timeout: 300_000 }, async () => {
  const t0 = Date.now();
  const lap = {};
  const mark = (k) => (lap[k] = Date.now() - t0);
  const card = panCardFixture();
  // workflow null: the server's default, consent + location + document + face.
  const { session, customer } = await createSessionWithTokens(server.url, { name: card.truth.name, dateOfBirth: card.truth.date_of_birth, workflow: null });
  const people = [];
  const dump = () => people.map((p) => p.logs.slice(-20).join('\n')).join('\n');
  try {
    // ---- customer: consent and location before the call
    const cust = await newPerson(browser, 'customer', { geolocation: MUMBAI });
    people.push(cust);
    await cust.page.goto(new URL(customer.join_url, server.url).href);
    await cust.page.locator('#consent-step').waitFor({ state: 'visible' });
    assert.match(await cust.page.textContent('#consent-step'), /Do you agree/);
    await screenshot(cust, 'kyc-consent.png');
    await cust.page.click('#consent-yes-btn');
    await cust.page.locator('#location-step').waitFor({ state: 'visible' });
    await cust.page.click('#location-btn');
    await cust.page.locator('#join-btn:not([disabled])').click();
    mark('customerJoined');

    // ---- agent: pick the session, join the call
    const agent = await newPerson(browser, 'agent', { viewport: { width: 1360, height: 900 } });
    people.push(agent);
    await agent.page.goto(`${server.url}/agent#key=test-key`);
    const row = agent.page.locator(`.session-item[data-session-id="${session.id}"]`);
    await row.waitFor({ state: 'visible' });
    await row.click();
    await agent.page.locator('#kyc-panel').waitFor({ state: 'visible' });
    // The customer's consent and location are already in the panel.
    await agent.page.waitForFunction(() => document.querySelector('#kyc-steps [data-step="location"]')?.dataset.outcome === 'passed');
    assert.equal(await agent.page.locator('#kyc-steps [data-step="consent"]').getAttribute('data-outcome'), 'passed');
    await agent.page.locator('#join-btn:not([disabled])').click();
    await waitForRemoteMedia(agent, { server });
    mark('agentSeesCustomer');
    // Let the video reach its full size (WebRTC starts low and ramps up).
    for (let i = 0; i < 20; i++) {
      if ((await agent.page.evaluate(() => document.querySelector('#remote-video').videoWidth)) >= 640) break;
      await sleep(250);
    }

    // ---- agent: the document (an image the customer shared), then the face from the video
    await agent.page.selectOption('#doc-kind', 'pan');
    await agent.page.setInputFiles('#doc-file', card.png);
    const docOutcome = await stepOutcome(agent.page, 'document', 1);
    assert.equal(docOutcome, 'passed', `document step: ${await agent.page.textContent('#kyc-steps [data-step="document"]')}`);
    mark('document');
    const docText = await agent.page.textContent('#kyc-steps [data-step="document"]');
    assert.ok(docText.includes(card.truth.pan_number), 'the PAN number read is shown');
    assert.equal(await agent.page.textContent('#kyc-steps [data-step="document"] .kyc-name-expected'), card.truth.name, 'the applicant name is shown next to the name read');

    await agent.page.locator('#capture-face-btn:not([disabled])').click();
    const faceOutcome = await stepOutcome(agent.page, 'face', 1);
    assert.equal(faceOutcome, 'passed', `face step: ${await agent.page.textContent('#kyc-steps [data-step="face"]')}`);
    mark('face');
    await agent.page.waitForFunction(() => document.querySelector('#kyc-rec')?.dataset.result === 'approved');
    await screenshot(agent, 'kyc-agent.png', { fullPage: true });

    // The face capture is a full-size frame of the customer's video.
    const caps = await api(server.url, 'GET', `/v1/sessions/${session.id}/captures`);
    const faceCap = caps.body.captures.find((c) => c.kind === 'face');
    const videoSize = await agent.page.evaluate(() => [document.querySelector('#remote-video').videoWidth, document.querySelector('#remote-video').videoHeight]);
    assert.ok(faceCap && faceCap.width >= 320, `face capture ${faceCap?.width}x${faceCap?.height}, video ${videoSize}`);

    // ---- agent approves with a note; issues an auditor link
    await agent.page.fill('#decision-notes', 'PAN card and face checked on the call');
    await agent.page.click('#approve-btn');
    await agent.page.waitForFunction(() => /Decided: Approved/.test(document.querySelector('#decision-state')?.textContent || ''));
    assert.equal(await agent.page.locator('#approve-btn').isDisabled(), true, 'decided once');
    await agent.page.click('#auditor-link-btn');
    await agent.page.locator('#auditor-link').waitFor({ state: 'visible' });
    const auditUrl = await agent.page.inputValue('#auditor-link');
    assert.match(auditUrl, /^https?:\/\/[^/]+\/audit#token=[\w.%-]+$/);
    mark('decided');

    // ---- auditor: sees the evidence, approves
    const auditor = await newPerson(browser, 'auditor', { media: false, viewport: { width: 1280, height: 900 } });
    people.push(auditor);
    await auditor.page.goto(auditUrl);
    await auditor.page.locator('#case').waitFor({ state: 'visible' });
    await auditor.page.waitForFunction(() => {
      const imgs = [...document.querySelectorAll('#captures img')];
      return imgs.length >= 2 && imgs.every((i) => i.complete && i.naturalWidth > 0);
    });
    assert.equal(await auditor.page.locator('#kyc-steps .kyc-step[data-outcome="passed"]').count(), 4);
    assert.match(await auditor.page.textContent('#decisions'), /PAN card and face checked on the call/);
    await auditor.page.fill('#audit-notes', 'Evidence consistent');
    await screenshot(auditor, 'kyc-auditor.png', { fullPage: true });
    await auditor.page.click('#audit-approve-btn');
    await auditor.page.waitForFunction(() => /Audit saved/.test(document.querySelector('#status')?.textContent || ''));
    mark('audited');

    // ---- the case document over the API
    const kyc = await api(server.url, 'GET', `/v1/sessions/${session.id}/kyc`);
    assert.equal(kyc.status, 200);
    const k = kyc.body;
    assert.equal(k.result, 'approved', JSON.stringify(k.recommendation));
    assert.equal(k.recommendation.result, 'approved', JSON.stringify(k.recommendation));
    assert.equal(k.audited, true);
    assert.ok(k.face_match_score >= 60, `face_match_score ${k.face_match_score}`);
    assert.ok(k.name_match_score >= 90, `name_match_score ${k.name_match_score}`);
    assert.deepEqual(
      k.steps.map((s) => [s.type, s.attempts.at(-1)?.outcome]),
      [['consent', 'passed'], ['location', 'passed'], ['document', 'passed'], ['face', 'passed']],
    );
    assert.equal(k.agent_decision.notes, 'PAN card and face checked on the call');
    console.log(`face match ${k.face_match_score}, name match ${k.name_match_score}; video ${videoSize.join('x')}, face capture ${faceCap.width}x${faceCap.height}`);
    console.log(`timings (ms from start): ${JSON.stringify(lap)}`);

    // No personal data in any page's console.
    for (const p of people) {
      const text = p.logs.join('\n');
      for (const pii of [card.truth.name, card.truth.pan_number]) assert.ok(!text.includes(pii), `${p.name} console has personal data`);
      assert.deepEqual(p.logs.filter((l) => l.includes('pageerror:')), [], `${p.name} page had uncaught errors`);
    }
  } catch (err) {
    console.error(dump());
    throw err;
  } finally {
    await Promise.all(people.map((p) => p.close()));
  }
});

test('KYC: refused consent and denied location are explained and recorded', { timeout: 120_000 }, async () => {
  const { session, customer } = await createSessionWithTokens(server.url, { name: 'Asha Verma', workflow: ['consent', 'location', 'face'] });
  // No geolocation permission: the browser answers "permission denied" (error code 1).
  const cust = await newPerson(browser, 'customer-denies');
  const agent = await newPerson(browser, 'agent-lobby', { media: false });
  try {
    await cust.page.goto(new URL(customer.join_url, server.url).href);
    await cust.page.click('#consent-no-btn');
    const refused = cust.page.locator('#notice[data-code="consent_refused"]');
    await refused.waitFor({ state: 'visible' });
    assert.match(await refused.textContent(), /can't go ahead/);
    assert.equal(await cust.page.locator('#consent-step').isVisible(), true, 'the customer can still agree');
    await cust.page.click('#consent-yes-btn');
    await cust.page.locator('#location-step').waitFor({ state: 'visible' });
    await cust.page.click('#location-btn');
    const denied = cust.page.locator('#notice[data-code="permission_denied"]');
    await denied.waitFor({ state: 'visible' });
    assert.match(await denied.textContent(), /Location access was denied.*Allow/s);
    await screenshot(cust, 'kyc-location-denied.png');
    // The customer may go on to the call; the agent sees the failed step.
    await cust.page.click('#location-skip-btn');
    await cust.page.locator('#join-btn:not([disabled])').waitFor();

    await agent.page.goto(`${server.url}/agent#key=test-key`);
    await agent.page.locator(`.session-item[data-session-id="${session.id}"]`).click();
    await agent.page.waitForFunction(() => document.querySelector('#kyc-steps [data-step="location"]')?.dataset.outcome === 'failed');
    const loc = await agent.page.textContent('#kyc-steps [data-step="location"]');
    assert.match(loc, /location_unavailable: no location from the browser: permission_denied/);
    assert.match(await agent.page.textContent('#kyc-steps [data-step="consent"]'), /2 attempts/);
    assert.equal(await agent.page.locator('#kyc-rec').getAttribute('data-result'), 'needs_review');
    // Outside a call the video captures are off; the agent can still decline a step.
    assert.equal(await agent.page.locator('#capture-face-btn').isDisabled(), true);
    await agent.page.click('#kyc-steps [data-step="location"] .step-decline-btn');
    await agent.page.waitForFunction(() => !!document.querySelector('#kyc-steps [data-step="location"] [data-verdict="declined"]'));
    await screenshot(agent, 'kyc-agent-lobby.png', { fullPage: true });

    const kyc = await api(server.url, 'GET', `/v1/sessions/${session.id}/kyc`);
    const steps = Object.fromEntries(kyc.body.steps.map((s) => [s.type, s]));
    assert.deepEqual(steps.consent.attempts.map((a) => a.outcome), ['failed', 'passed']);
    assert.equal(steps.location.attempts[0].data.error, 'permission_denied');
    assert.equal(steps.location.decision.verdict, 'declined');
    for (const p of [cust, agent]) assert.deepEqual(p.logs.filter((l) => l.includes('pageerror:')), [], `${p.name} page had uncaught errors`);
  } finally {
    await cust.close();
    await agent.close();
  }
});
