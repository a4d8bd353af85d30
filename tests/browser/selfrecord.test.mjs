// Self-record mode end to end in the browser: a session created by API with the lender's
// reference photo (person_b_2); the customer's fake camera plays person_b_1 moving her head
// (face_moves.y4m) with a tone as the microphone. The join page takes consent and location,
// records a video while prompting (name and date, then the random head-movement challenge),
// grabs frames at the prompts, uploads the frames and the video in chunks and submits. The
// server runs liveness and face match and sets the result by itself; the recorded video is
// downloaded and checked with ffprobe/ffmpeg.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { startServerAndBrowser, stopServerAndBrowser, api, newPerson, screenshot, cacheDir, OUT_DIR, API_KEY, sleep } from './harness.mjs';

let server;
let browser;

before(async () => ({ server, browser } = await startServerAndBrowser({ browser: { video: 'face_moves.y4m' } })));
after(() => stopServerAndBrowser({ server, browser }));

test('self-record: prompts, recording, chunked upload, automatic result', { timeout: 300_000 }, async () => {
  const created = await api(server.url, 'POST', '/v1/sessions', {
    mode: 'self_record',
    applicant: { name: 'Self Record Applicant' },
    workflow: ['consent', 'location', 'face'],
    video_max_duration: 40,
  });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const id = created.body.id;
  const ref = readFileSync(join(cacheDir(), 'photos', 'person_b_2.jpg')).toString('base64');
  const r = await api(server.url, 'POST', `/v1/sessions/${id}/captures`, { kind: 'reference', image: ref });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  const customer = (await api(server.url, 'POST', `/v1/sessions/${id}/tokens`, { role: 'customer' })).body;

  const cust = await newPerson(browser, 'customer', { geolocation: { latitude: 12.97, longitude: 77.59, accuracy: 20 } });
  try {
    await cust.page.goto(new URL(customer.join_url, server.url).href);
    await cust.page.locator('#consent-yes-btn').click();
    await cust.page.locator('#location-btn').click();
    await cust.page.locator('#record-btn:not([disabled])').waitFor({ state: 'visible', timeout: 30_000 });
    assert.match(await cust.page.textContent('#selfrec'), /at most 40 seconds/);
    const t0 = Date.now();
    await cust.page.click('#record-btn');
    await cust.page.waitForFunction(() => /Say your full name/.test(document.querySelector('#rec-prompt-text')?.textContent || ''));
    await cust.page.waitForFunction(() => /Turn your head|Look (up|down)/.test(document.querySelector('#rec-prompt-text')?.textContent || ''), null, { timeout: 20_000 });
    await screenshot(cust, 'selfrecord-prompt.png');
    await cust.page.locator('#ended').waitFor({ state: 'visible', timeout: 120_000 });
    assert.match(await cust.page.textContent('#ended'), /submitted/);
    const pageMs = Date.now() - t0;
    await screenshot(cust, 'selfrecord-submitted.png');

    // The server's processing, then the result document.
    let st;
    for (let i = 0; i < 240; i++) {
      st = (await api(server.url, 'GET', `/v1/sessions/${id}/self-record`)).body;
      if (st.phase === 'done') break;
      await sleep(250);
    }
    assert.equal(st.phase, 'done', JSON.stringify(st));
    const doc = (await api(server.url, 'GET', `/v1/sessions/${id}`)).body;
    const k = doc.kyc;
    const face = k.steps.find((s) => s.type === 'face').attempts.at(-1);
    console.log(`self-record: face match ${k.face_match_score}, liveness ${k.liveness_score} (${face.data.liveness?.frames} frames, moves ${face.data.liveness?.moves.map((m) => `${m.move}${m.done ? '✓' : '✗'}`).join(',')}), result ${k.result}; record+upload ${pageMs} ms, video ${st.video_total} bytes`);
    assert.equal(doc.status, 'completed');
    assert.equal(k.result, 'approved', JSON.stringify(k.recommendation));
    assert.equal(k.agent_decision.by, 'system:self_record');
    assert.ok(k.face_match_score >= 60 && k.liveness_score >= 60, JSON.stringify({ fm: k.face_match_score, l: k.liveness_score }));
    assert.deepEqual(k.steps.map((s) => [s.type, s.attempts.at(-1)?.outcome]), [['consent', 'passed'], ['location', 'passed'], ['face', 'passed']]);

    // The video: a real WebM with video and audio, playable without errors.
    const res = await fetch(`${server.url}/v1/sessions/${id}/self-record/video`, { headers: { Authorization: `Bearer ${API_KEY}` } });
    assert.equal(res.status, 200);
    const file = join(OUT_DIR, 'selfrecord.webm');
    writeFileSync(file, Buffer.from(await res.arrayBuffer()));
    const probe = JSON.parse(execFileSync('ffprobe', ['-v', 'error', '-show_streams', '-of', 'json', file]).toString());
    const kinds = probe.streams.map((s) => s.codec_type).sort();
    assert.deepEqual(kinds, ['audio', 'video'], JSON.stringify(probe.streams.map((s) => [s.codec_type, s.codec_name])));
    const decoded = execFileSync('ffmpeg', ['-v', 'error', '-i', file, '-f', 'null', '-'], { stdio: ['ignore', 'pipe', 'pipe'] }).toString();
    assert.equal(decoded.trim(), '');
    // MediaRecorder's WebM has no duration header: count it by decoding.
    const frames = execFileSync('ffprobe', ['-v', 'error', '-count_frames', '-select_streams', 'v:0', '-show_entries', 'stream=nb_read_frames', '-of', 'csv=p=0', file]).toString().trim();
    console.log(`self-record video: ${probe.streams.map((s) => s.codec_name).join('+')}, ${frames} video frames`);
    assert.ok(Number(frames) > 100, `${frames} frames`);
    assert.deepEqual(cust.logs.filter((l) => l.includes('pageerror:')), [], 'no uncaught errors');
  } catch (err) {
    console.error(cust.logs.slice(-30).join('\n'));
    throw err;
  } finally {
    await cust.close();
  }
});

test('self-record: a face that fails its checks is recorded again, then goes to a live agent in the queue', { timeout: 400_000 }, async () => {
  // The lender's reference is someone else: the customer's videos cannot pass.
  const created = await api(server.url, 'POST', '/v1/sessions', {
    mode: 'self_record',
    applicant: { name: 'Fallback Applicant' },
    workflow: ['consent', 'face'],
    video_max_duration: 30,
  });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const id = created.body.id;
  const ref = readFileSync(join(cacheDir(), 'photos', 'person_a_1.jpg')).toString('base64');
  assert.equal((await api(server.url, 'POST', `/v1/sessions/${id}/captures`, { kind: 'reference', image: ref })).status, 201);
  const customer = (await api(server.url, 'POST', `/v1/sessions/${id}/tokens`, { role: 'customer' })).body;

  const cust = await newPerson(browser, 'customer');
  try {
    await cust.page.goto(new URL(customer.join_url, server.url).href);
    await cust.page.locator('#consent-yes-btn').click();
    await cust.page.locator('#record-btn:not([disabled])').waitFor({ state: 'visible', timeout: 30_000 });
    await cust.page.click('#record-btn');
    // First video: checked, not verified → asked to record again (no reason given).
    await cust.page.locator('#notice[data-code="record_again"]').waitFor({ state: 'visible', timeout: 150_000 });
    await cust.page.locator('#record-btn:not([disabled])').waitFor({ state: 'visible', timeout: 30_000 });
    assert.match(await cust.page.textContent('#notice'), /could not verify you from this video/);
    assert.doesNotMatch(await cust.page.textContent('#notice'), /face_mismatch|match/i, 'no hint of why');
    await screenshot(cust, 'selfrecord-record-again.png');
    let st = (await api(server.url, 'GET', `/v1/sessions/${id}/self-record`)).body;
    assert.deepEqual([st.phase, st.failed_checks], ['recording', 1]);

    // Second video fails too: the page offers the call, and joining puts them in the queue.
    await cust.page.click('#record-btn');
    await cust.page.locator('#join-btn:not([disabled])').waitFor({ state: 'visible', timeout: 150_000 });
    assert.match(await cust.page.textContent('#notice'), /An agent will verify you on a video call/);
    st = (await api(server.url, 'GET', `/v1/sessions/${id}/self-record`)).body;
    assert.deepEqual([st.phase, st.failed_checks, st.mode, st.status], ['live_agent', 2, 'live_agent', 'waiting']);
    await cust.page.click('#join-btn');
    await cust.page.waitForSelector('body[data-phase="queue"] #queue-box[data-position="1"]:not([hidden])', { timeout: 15_000 });
    await screenshot(cust, 'selfrecord-to-queue.png');
    assert.deepEqual(cust.logs.filter((l) => l.includes('pageerror:')), [], 'no uncaught errors');
  } catch (err) {
    console.error(cust.logs.slice(-30).join('\n'));
    throw err;
  } finally {
    await cust.close();
  }
});
