// End-to-end browser tests: the real vkyc server, the real web pages, headless Chromium
// with a face video as the camera. Run `bash tests/browser/fixtures.sh` once, then
// `node --test tests/browser/` (E2E_SERVER_BIN overrides the server binary path).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';

import { startServer, api, createSessionWithTokens, launchBrowser, newPerson, waitForRemoteMedia, remoteMedia, screenshot, sleep, signIn, ACCOUNTS } from './harness.mjs';

const TEST_TIMEOUT = 240_000;

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

/**
 * Creates a session over REST, opens the agent console (driving its UI to pick the session
 * and join) and the customer page (joining from the customer link the console shows, or
 * with `restLink` from the customer token issued over REST). Resolves once both clicked Join.
 */
async function setUpCall({ restLink = false } = {}) {
  const { session, agent, customer } = await createSessionWithTokens(server.url);
  const people = [];
  const agentP = await newPerson(browser, 'agent');
  people.push(agentP);
  const customerP = await newPerson(browser, 'customer');
  people.push(customerP);
  const cleanup = () => Promise.all(people.map((p) => p.close()));
  // Uncaught exceptions in a page fail the test.
  const assertNoPageErrors = () => {
    for (const p of people) {
      const errors = p.logs.filter((l) => l.includes('pageerror:'));
      assert.deepEqual(errors, [], `${p.name} page had uncaught errors`);
    }
  };
  try {
    // Agent console: signed in as the agent; pick the session in the list.
    await signIn(agentP.page, server, ACCOUNTS.agent.email);
    await agentP.page.goto(`${server.url}/agent`);
    const row = agentP.page.locator(`.session-item[data-session-id="${session.id}"]`);
    await row.waitFor({ state: 'visible' });
    await row.click();
    await agentP.page.waitForFunction(() => /#token=/.test(document.querySelector('#customer-link')?.value || ''));
    const shownLink = await agentP.page.inputValue('#customer-link');
    assert.match(shownLink, /^https?:\/\/[^/]+\/join#token=[\w.-]+$/, 'the console shows an absolute customer link');
    await agentP.page.locator('#join-btn:not([disabled])').click();

    // Customer page: preview first, then "Join call".
    const url = restLink ? new URL(customer.join_url, server.url).href : shownLink;
    await customerP.page.goto(url);
    await customerP.page.locator('#join-btn:not([disabled])').click();

    return { session, tokens: { agent, customer }, agentP, customerP, cleanup, assertNoPageErrors };
  } catch (err) {
    for (const p of people) console.error(p.logs.slice(-20).join('\n'));
    await cleanup();
    throw err;
  }
}

/**
 * Runs `body` in a call set up by `setUpCall(options)`; then checks that no page had an
 * uncaught error, and closes both browsers whatever happened.
 */
async function inCall(options, body) {
  const call = await setUpCall(options);
  try {
    await body(call);
    call.assertNoPageErrors();
  } finally {
    await call.cleanup();
  }
}

/**
 * Waits until the page's remote video has decoded `by` more frames than `from` (from
 * RTCPeerConnection.getStats, inbound-rtp video), polling up to a generous deadline; fails
 * if it does not.
 */
async function framesDecodedGrow(person, from, { by = 25, timeoutMs = 30_000 } = {}) {
  const deadline = Date.now() + timeoutMs;
  let last;
  do {
    last = await remoteMedia(person.page);
    if (last.framesDecoded >= from + by) return last;
    await sleep(200);
  } while (Date.now() < deadline);
  assert.fail(`${person.name}: the remote video stopped decoding (framesDecoded ${from} → ${last.framesDecoded} in ${timeoutMs} ms)`);
}

test('REST API: sessions and tokens', { timeout: 30_000 }, async () => {
  const { session, agent, customer } = await createSessionWithTokens(server.url);
  assert.ok(session.id, 'session has an id');
  assert.equal(session.mode, 'live_agent');
  for (const [role, t] of [['agent', agent], ['customer', customer]]) {
    assert.equal(t.role, role);
    assert.equal(t.session_id, session.id);
    assert.equal(typeof t.token, 'string');
    assert.match(t.join_url, /#token=/, `${role} join_url carries the token in the fragment`);
  }
  const list = await api(server.url, 'GET', '/v1/sessions?limit=50');
  assert.equal(list.status, 200);
  assert.ok(list.body.sessions.some((s) => s.id === session.id), 'the new session is listed');
  const unauth = await api(server.url, 'GET', '/v1/sessions', undefined, { token: 'wrong-key' });
  assert.equal(unauth.status, 401);
});

test('agent and customer see and hear each other', { timeout: TEST_TIMEOUT }, async () => {
  await inCall({}, async (call) => {
    const [agentMedia, customerMedia] = await Promise.all([
      waitForRemoteMedia(call.agentP, { server }),
      waitForRemoteMedia(call.customerP, { server }),
    ]);
    // The remote video keeps decoding on both sides (inbound-rtp video framesDecoded grows by
    // a second's worth of frames), and the screenshots show the picture, not a first frame.
    const [agentAfter, customerAfter] = await Promise.all([
      framesDecodedGrow(call.agentP, agentMedia.framesDecoded),
      framesDecodedGrow(call.customerP, customerMedia.framesDecoded),
    ]);

    const metrics = {};
    for (const p of [call.agentP, call.customerP]) {
      metrics[p.name] = await p.page.evaluate(() => ({ ...window.vkyc.metrics }));
      assert.ok(metrics[p.name].joinToFirstFrameMs > 0, `${p.name}: joinToFirstFrameMs measured`);
    }
    console.log(
      `join → first remote frame: agent ${metrics.agent.joinToFirstFrameMs} ms, customer ${metrics.customer.joinToFirstFrameMs} ms`,
    );
    console.log(`agent sees ${agentAfter.videoWidth}x${agentAfter.videoHeight}, ${agentAfter.framesDecoded} frames, ${agentAfter.audioPackets} audio packets`);
    console.log(`customer sees ${customerAfter.videoWidth}x${customerAfter.videoHeight}, ${customerAfter.framesDecoded} frames, ${customerAfter.audioPackets} audio packets`);

    // The remote video on each side belongs to the other participant.
    assert.equal(await call.agentP.page.locator('#participants [data-role="customer"]').count(), 1, 'agent lists the customer');
    assert.match(await call.agentP.page.textContent('#status'), /in call/i);
    assert.match(await call.customerP.page.textContent('#status'), /in call/i);
    const timer = await call.agentP.page.textContent('#call-timer');
    assert.match(timer, /^\d\d:\d\d$/);

    await screenshot(call.agentP, 'agent.png');
    await screenshot(call.customerP, 'customer.png');
  });
});

test('clear messages: camera denied, unsupported browser', { timeout: TEST_TIMEOUT }, async () => {
  const { customer } = await createSessionWithTokens(server.url);
  const joinUrl = new URL(customer.join_url, server.url).href;

  // No camera permission, and getUserMedia refusing like a user who clicked "Block".
  const denied = await newPerson(browser, 'denied', {
    media: false,
    initScript: () => {
      const refuse = () => Promise.reject(new DOMException('Permission denied', 'NotAllowedError'));
      if (navigator.mediaDevices) navigator.mediaDevices.getUserMedia = refuse;
    },
  });
  try {
    await denied.page.goto(joinUrl);
    const notice = denied.page.locator('#notice[data-code="media_denied"]');
    await notice.waitFor({ state: 'visible' });
    const text = await notice.textContent();
    assert.match(text, /camera and microphone was denied/i);
    assert.match(text, /allow/i, 'tells how to allow access');
    assert.equal(await denied.page.locator('#retry-btn').isVisible(), true, 'offers to try again');
    assert.equal(await denied.page.locator('#join-btn').isVisible(), false, 'no join button without media');
    await screenshot(denied, 'customer-denied.png');
  } finally {
    await denied.close();
  }

  const old = await newPerson(browser, 'unsupported', {
    initScript: () => {
      delete window.RTCPeerConnection;
      delete window.webkitRTCPeerConnection;
    },
  });
  try {
    await old.page.goto(joinUrl);
    const notice = old.page.locator('#notice[data-code="unsupported_browser"]');
    await notice.waitFor({ state: 'visible' });
    assert.match(
      await notice.textContent(),
      /This browser can't make video calls\. Please open the link in a recent Chrome, Edge, Firefox or Safari\./,
    );
    await screenshot(old, 'customer-unsupported.png');
  } finally {
    await old.close();
  }
});

test('agent mutes the customer; the customer is told', { timeout: TEST_TIMEOUT }, async () => {
  await inCall({}, async (call) => {
    await Promise.all([waitForRemoteMedia(call.agentP, { server }), waitForRemoteMedia(call.customerP, { server })]);
    const muteBtn = call.agentP.page.locator('#participants [data-role="customer"] .peer-mute-btn');
    await muteBtn.click();
    const banner = call.customerP.page.locator('#self-muted');
    await banner.waitFor({ state: 'visible', timeout: 20_000 });
    assert.match(await banner.textContent(), /agent muted your microphone/i);
    await screenshot(call.customerP, 'customer-muted.png');
    await call.agentP.page.waitForFunction(
      () => document.querySelector('#participants [data-role="customer"] .peer-mute-btn')?.textContent === 'Unmute',
    );
    // And back on.
    await call.agentP.page.locator('#participants [data-role="customer"] .peer-mute-btn').click();
    await banner.waitFor({ state: 'hidden', timeout: 20_000 });
  });
});

test('agent ends the call; the customer sees it ended', { timeout: TEST_TIMEOUT }, async () => {
  // This time the customer uses the link issued over REST.
  await inCall({ restLink: true }, async (call) => {
    await Promise.all([waitForRemoteMedia(call.agentP, { server }), waitForRemoteMedia(call.customerP, { server })]);
    await call.agentP.page.click('#end-btn');

    await call.customerP.page.locator('#ended').waitFor({ state: 'visible', timeout: 30_000 });
    assert.match(await call.customerP.page.textContent('#ended-title'), /call has ended/i);
    assert.match(await call.customerP.page.textContent('#status'), /call has ended/i);
    assert.equal(await call.customerP.page.evaluate(() => window.vkyc.client.state), 'ended');

    await call.agentP.page.locator('#back-btn').waitFor({ state: 'visible', timeout: 30_000 });
    assert.match(await call.agentP.page.textContent('#status'), /call has ended/i);
    assert.equal(await call.agentP.page.evaluate(() => window.vkyc.client.state), 'ended');
    // The customer's camera is released.
    assert.equal(await call.customerP.page.evaluate(() => window.vkyc.localStream), null);
    await screenshot(call.customerP, 'customer-ended.png');
    await screenshot(call.agentP, 'agent-ended.png');

    // The room is gone for the API too.
    let listed = true;
    for (let i = 0; i < 20 && listed; i++) {
      const rooms = await api(server.url, 'GET', '/v1/rooms');
      assert.equal(rooms.status, 200);
      listed = rooms.body.rooms.some((r) => r.session_id === call.session.id);
      if (listed) await sleep(250);
    }
    assert.ok(!listed, 'the room is no longer listed');
  });
});

test('customer leaves and rejoins', { timeout: TEST_TIMEOUT }, async () => {
  await inCall({}, async (call) => {
    await Promise.all([waitForRemoteMedia(call.agentP, { server }), waitForRemoteMedia(call.customerP, { server })]);
    await call.customerP.page.click('#leave-btn');
    await call.customerP.page.locator('#ended').waitFor({ state: 'visible' });
    assert.match(await call.customerP.page.textContent('#ended-title'), /you left the call/i);
    assert.equal(await call.customerP.page.evaluate(() => window.vkyc.client.state), 'left');
    // The agent sees the customer go, and waits.
    await call.agentP.page.waitForFunction(() => !document.querySelector('#participants [data-role="customer"]'), null, { timeout: 30_000 });
    await call.agentP.page.waitForFunction(() => document.querySelector('#remote-overlay')?.textContent.includes('Waiting for the customer'));

    await call.customerP.page.click('#rejoin-btn');
    await call.customerP.page.locator('#join-btn:not([disabled])').click();
    await waitForRemoteMedia(call.customerP, { server });
    await call.agentP.page.waitForFunction(
      () => document.querySelector('#remote-video')?.dataset.playing === 'true' && !!document.querySelector('#participants [data-role="customer"]'),
      null,
      { timeout: 60_000 },
    );
  });
});

test('customer reconnects by itself when its connection drops', { timeout: TEST_TIMEOUT }, async () => {
  await inCall({}, async (call) => {
    await Promise.all([waitForRemoteMedia(call.agentP, { server }), waitForRemoteMedia(call.customerP, { server })]);
    const before = await call.customerP.page.evaluate(() => window.vkyc.client.self.peer_id);
    // Drop the signalling socket as a network failure would (the page did not ask to leave).
    await call.customerP.page.evaluate(() => window.vkyc.client._ws.close());
    await call.customerP.page.waitForFunction(
      (old) => window.vkyc.client.state === 'joined' && window.vkyc.client.self.peer_id !== old,
      before,
      { timeout: 60_000 },
    );
    const after = await call.customerP.page.evaluate(() => window.vkyc.client.self.peer_id);
    assert.notEqual(after, before, 'the customer came back as a new peer');
    assert.ok((await call.customerP.page.evaluate(() => window.vkyc.client.stats.reconnects)) >= 1);
    // Media flows again both ways: the customer on its new connection, and the agent
    // shows the customer's new stream.
    await waitForRemoteMedia(call.customerP, { server });
    await call.agentP.page.waitForFunction(
      (id) => {
        const v = document.querySelector('#remote-video');
        return v.dataset.peerId === id && v.dataset.playing === 'true' && v.videoWidth > 0;
      },
      after,
      { timeout: 60_000 },
    );
    assert.match(await call.agentP.page.textContent('#status'), /in call/i);
    assert.equal(await call.agentP.page.locator('#participants [data-role="customer"]').count(), 1, 'one customer, not two');
  });
});
