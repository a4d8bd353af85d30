// The API reference page (/docs/api) in headless Chromium: it renders every operation and
// schema of the served /v1/openapi.json, with no request to another origin (no CDN).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';

import { startServer, launchBrowser, newPerson, screenshot } from './harness.mjs';

let server;
let browser;

before(async () => {
  // The page needs no engines.
  server = await startServer({ env: { VKYC_INFERENCE__ENABLED: 'false' } });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close().catch(() => {});
  await server?.stop();
});

test('the API reference page renders every operation and schema of /v1/openapi.json', { timeout: 120_000 }, async () => {
  const doc = await (await fetch(`${server.url}/v1/openapi.json`)).json();
  const ops = Object.entries(doc.paths).flatMap(([path, item]) => Object.keys(item).map((method) => `${method} ${path}`));
  const schemas = Object.keys(doc.components.schemas);

  const person = await newPerson(browser, 'reader', { media: false });
  const foreign = [];
  const origin = new URL(server.url).origin;
  person.page.on('request', (r) => {
    if (new URL(r.url()).origin !== origin) foreign.push(r.url());
  });
  try {
    await person.page.goto(`${server.url}/docs/api`);
    await person.page.waitForSelector('body[data-operations]');
    const rendered = await person.page.$$eval('article.ref-op', (els) => els.map((e) => `${e.dataset.method} ${e.dataset.path}`));
    assert.deepEqual(rendered.slice().sort(), ops.slice().sort());
    const schemaCount = await person.page.$eval('body', (b) => Number(b.dataset.schemas));
    assert.equal(schemaCount, schemas.length);
    assert.equal(await person.page.locator('#schema-ErrorBody').count(), 1);
    // An operation shows its parameters, body, responses and who may call it.
    const run = person.page.locator('#op-run_step');
    for (const text of ['/v1/sessions/{id}/steps/{step}/attempts', 'StepBody', 'join_token (agent, customer)', '409', 'already_decided']) {
      assert.ok((await run.innerText()).includes(text), `run_step lacks ${text}`);
    }
    assert.deepEqual(foreign, [], 'requests to another origin');
    assert.deepEqual(person.logs.filter((l) => /pageerror|error:/.test(l)), []);
    await screenshot(person, 'api-reference.png');
    await person.page.locator('#op-run_step').scrollIntoViewIfNeeded();
    await screenshot(person, 'api-reference-run-step.png');
    await person.page.locator('#schema-CaseDocument').scrollIntoViewIfNeeded();
    await screenshot(person, 'api-reference-schema.png');
  } finally {
    await person.close();
  }
});
