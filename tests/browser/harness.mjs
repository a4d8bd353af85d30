// Helpers for the browser end-to-end tests: run the vkyc server, call its REST API,
// launch the system Chromium with a fake camera (face video) and microphone (tone).

import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import { after } from 'node:test';
import assert from 'node:assert/strict';

export const HERE = dirname(fileURLToPath(import.meta.url));
export const REPO_ROOT = resolve(HERE, '..', '..');
export const OUT_DIR = join(HERE, 'out');
/** The lender's back end's key: node uses it for what a back end does (create sessions, read results); no page does. */
export const API_KEY = 'test-key';

/**
 * The demo staff accounts every test server starts with (`[console] seed_users`), by the
 * name the tests use. Sign a page in with `signIn(page, server, ACCOUNTS.agent.email)`.
 */
export const ACCOUNTS = {
  admin: { email: 'admin@vkyc.test', name: 'Ada Admin', roles: ['admin'], password: 'ada-admin-pass-42' },
  agent: { email: 'agent@vkyc.test', name: 'Asha Agent', roles: ['agent'], skills: { languages: ['en', 'hi'] }, password: 'asha-agent-pass-42' },
  agent2: { email: 'agent2@vkyc.test', name: 'Ravi Agent', roles: ['agent'], skills: { languages: ['hi'] }, password: 'ravi-agent-pass-42' },
  auditor: { email: 'auditor@vkyc.test', name: 'Uma Auditor', roles: ['auditor'], password: 'uma-auditor-pass-42' },
  supervisor: { email: 'supervisor@vkyc.test', name: 'Sam Supervisor', roles: ['supervisor'], password: 'sam-supervisor-pass-42' },
};

const require = createRequire(import.meta.url);

export function cacheDir() {
  return process.env.VKYC_CACHE || join(homedir(), '.cache', 'vkyc-test');
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ------------------------------------------------------------------ server

/** A TOML value: strings, numbers, booleans, arrays and inline tables (all the seed accounts need). */
function toml(v) {
  if (Array.isArray(v)) return `[${v.map(toml).join(', ')}]`;
  if (v && typeof v === 'object') return `{ ${Object.entries(v).map(([k, x]) => `${k} = ${toml(x)}`).join(', ')} }`;
  return typeof v === 'string' ? JSON.stringify(v) : String(v);
}

/** The server's configuration file for `accounts` (VKYC_CONFIG): `[console] seed_users`. */
function consoleConfig(accounts) {
  const seeds = accounts.map((a) => toml(a)).join(',\n  ');
  return `# Written by tests/browser/harness.mjs: the demo staff accounts.\n[console]\nseed_users = [\n  ${seeds},\n]\n`;
}

/**
 * Starts the vkyc binary on a free port with a fresh data directory.
 * `env`: extra VKYC_* configuration (e.g. { VKYC_KYC__OTP_NOTIFIER: 'file' }).
 * `accounts`: the staff accounts it starts with (ACCOUNTS by default, written to a
 * configuration file in the data directory, VKYC_CONFIG); [] for a first start, when the
 * server prints the first-admin link (see `setupLink`).
 * `config`: more TOML for that file (e.g. a `[console.sso]` table), after the accounts.
 * Resolves with { url, dataDir, proc, logs(), stop() } once it printed "vkyc listening on URL".
 */
export async function startServer({ timeoutMs = 120_000, env = {}, accounts = Object.values(ACCOUNTS), config = '' } = {}) {
  const bin = process.env.E2E_SERVER_BIN || join(REPO_ROOT, 'target', 'debug', 'vkyc');
  if (!existsSync(bin)) {
    throw new Error(`server binary not found: ${bin} (build it with \`cargo build\`, or set E2E_SERVER_BIN)`);
  }
  const dataDir = mkdtempSync(join(tmpdir(), 'vkyc-browser-test-'));
  const configEnv = {};
  if (accounts.length || config) {
    const file = join(dataDir, 'accounts.toml');
    writeFileSync(file, (accounts.length ? consoleConfig(accounts) : '') + config);
    configEnv.VKYC_CONFIG = file;
  }
  const lines = [];
  const proc = spawn(bin, [], {
    cwd: REPO_ROOT,
    env: {
      // The server reads every VKYC_* variable as configuration: pass none through.
      ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('VKYC_'))),
      VKYC_PROFILE: 'test',
      VKYC_SERVER__PORT: '0',
      VKYC_STORAGE__DATA_DIR: dataDir,
      VKYC_AUTH__API_KEY: API_KEY,
      // The test profile switches the verification engines off; the KYC pages need them
      // (models in ~/.cache/vkyc/models: `bash models/setup.sh --all`).
      VKYC_INFERENCE__ENABLED: 'true',
      ...configEnv,
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const collect = (stream, tag) => {
    let buf = '';
    stream.setEncoding('utf8');
    stream.on('data', (chunk) => {
      buf += chunk;
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        lines.push(`${tag} ${buf.slice(0, i)}`);
        buf = buf.slice(i + 1);
      }
    });
  };
  collect(proc.stdout, '[out]');
  collect(proc.stderr, '[err]');

  let exited = null;
  const exitedP = new Promise((r) => proc.once('exit', (code, signal) => r((exited = { code, signal }))));

  const url = await new Promise((resolveUrl, reject) => {
    const deadline = Date.now() + timeoutMs;
    const tick = setInterval(() => {
      const line = lines.find((l) => l.startsWith('[out]') && /vkyc listening on /.test(l));
      const m = line && line.match(/vkyc listening on (https?:\/\/\S+)/);
      if (m) {
        clearInterval(tick);
        resolveUrl(m[1].replace(/\/$/, ''));
      } else if (exited) {
        clearInterval(tick);
        reject(new Error(`the server exited (${JSON.stringify(exited)}) before listening:\n${lines.join('\n')}`));
      } else if (Date.now() > deadline) {
        clearInterval(tick);
        proc.kill('SIGKILL');
        reject(new Error(`no "vkyc listening on" line within ${timeoutMs} ms:\n${lines.join('\n')}`));
      }
    }, 50);
  });

  const stop = async () => {
    if (!exited) {
      proc.kill('SIGTERM');
      const t = setTimeout(() => proc.kill('SIGKILL'), 5000);
      await exitedP;
      clearTimeout(t);
    }
    mkdirSync(OUT_DIR, { recursive: true });
    writeFileSync(join(OUT_DIR, 'server.log'), lines.join('\n') + '\n');
    rmSync(dataDir, { recursive: true, force: true });
  };
  return { url, dataDir, proc, stop, logs: () => lines.slice(), logTail: (n = 40) => lines.slice(-n).join('\n') };
}

/**
 * The first-admin link of a server without accounts. Its stdout is not a terminal, so the
 * server does not print the link (a credential) but the file it wrote it to, readable by its
 * user only ("first start: the one-time link … is in PATH").
 */
export async function setupLink(server, { timeoutMs = 10_000 } = {}) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const line = server.logs().find((l) => l.startsWith('[out]') && /first start:/.test(l));
    const m = line?.match(/ is in (\S+)/);
    if (m) {
      assert.ok(!/setup#token=/.test(server.logs().join('\n')), 'the link itself is never in the output');
      return readFileSync(m[1], 'utf8').trim();
    }
    if (Date.now() > deadline) throw new Error(`no first-admin link file named on the server's stdout within ${timeoutMs} ms:\n${server.logTail(20)}`);
    await sleep(50);
  }
}

// ------------------------------------------------------------------ staff sign-in

/** The demo account with this email (ACCOUNTS). */
export function account(email) {
  const a = Object.values(ACCOUNTS).find((x) => x.email === email);
  if (!a) throw new Error(`no demo account ${email}`);
  return a;
}

/**
 * Signs `page`'s browser context in as the staff account `email` (its password from ACCOUNTS
 * unless given). `form: true` goes through the /signin page (fills the form, lands on
 * `next`); otherwise `POST /v1/auth/login` with the context's request client, which keeps the
 * cookie for the context's pages. Resolves with the signed-in user.
 */
export async function signIn(page, server, email, { password = account(email).password, form = false, next = '/agent' } = {}) {
  if (form) {
    await page.goto(`${server.url}/signin?next=${encodeURIComponent(next)}`);
    await page.fill('#signin-email', email);
    await page.fill('#signin-password', password);
    await Promise.all([page.waitForURL((u) => u.pathname === next.split(/[?#]/)[0]), page.click('#signin-btn')]);
    return page.evaluate(async () => (await (await fetch('/v1/auth/me')).json()).user);
  }
  const res = await page.request.post(`${server.url}/v1/auth/login`, { data: { email, password } });
  if (res.status() !== 200) throw new Error(`sign-in of ${email} → ${res.status()} ${await res.text()}`);
  return (await res.json()).user;
}

/** A page of `person` signed in as `email` on the agent console (/agent), its sessions listed. */
export async function openConsole(person, server, email = ACCOUNTS.agent.email) {
  await signIn(person.page, server, email);
  await person.page.goto(`${server.url}/agent`);
  await person.page.waitForSelector('body[data-phase="lobby"]');
  return person;
}

// ------------------------------------------------------------------ REST

/** Calls the REST API; resolves with { status, body } (body parsed as JSON when possible). */
export async function api(base, method, path, body, { token = API_KEY } = {}) {
  const res = await fetch(base + path, {
    method,
    headers: {
      Authorization: `Bearer ${token}`,
      Accept: 'application/json',
      ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let parsed = text;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    /* keep the text */
  }
  return { status: res.status, body: parsed };
}

let applicantSeq = 0;

/**
 * Creates a session (synthetic applicant) and issues an agent and a customer token.
 * `workflow` defaults to the steps done by the agent only (document, face), so the customer
 * page goes straight to the device check; pass null for the server's default (consent,
 * location, document, face).
 */
export async function createSessionWithTokens(base, { name, dateOfBirth = '1990-01-31', workflow = ['document', 'face'], questions } = {}) {
  applicantSeq += 1;
  const body = {
    mode: 'live_agent',
    applicant: { name: name || `Test Applicant ${applicantSeq}`, date_of_birth: dateOfBirth, reference_id: `E2E-${Date.now()}-${applicantSeq}` },
    external_ref: `e2e-${applicantSeq}`,
  };
  if (workflow) body.workflow = workflow;
  if (questions) body.questions = questions;
  const created = await api(base, 'POST', '/v1/sessions', body);
  if (created.status !== 201) throw new Error(`POST /v1/sessions → ${created.status} ${JSON.stringify(created.body)}`);
  const session = created.body;
  const issue = async (role) => {
    const r = await api(base, 'POST', `/v1/sessions/${session.id}/tokens`, { role, ttl_seconds: 3600 });
    if (r.status !== 200 && r.status !== 201) throw new Error(`POST tokens (${role}) → ${r.status} ${JSON.stringify(r.body)}`);
    return r.body;
  };
  const agent = await issue('agent');
  const customer = await issue('customer');
  return { session, agent, customer };
}

// ------------------------------------------------------------------ browser

/** `video`: the fake camera's file in the fixtures cache (face.y4m, or face_impostor.y4m). */
export function chromiumArgs({ video = 'face.y4m' } = {}) {
  const cache = cacheDir();
  const face = join(cache, video);
  const tone = join(cache, 'tone.wav');
  for (const f of [face, tone]) {
    if (!existsSync(f)) throw new Error(`missing test fixture ${f}: run \`bash tests/browser/fixtures.sh\` first`);
  }
  return [
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    '--disable-dev-shm-usage',
    '--use-fake-ui-for-media-stream',
    '--use-fake-device-for-media-stream',
    `--use-file-for-fake-video-capture=${face}`,
    `--use-file-for-fake-audio-capture=${tone}`,
  ];
}

/** Launches the system Chromium; `video` picks the fake camera's file (see chromiumArgs). */
export async function launchBrowser({ video } = {}) {
  let chromium;
  try {
    ({ chromium } = require('playwright-core'));
  } catch {
    throw new Error('playwright-core is not installed: run `bash tests/browser/fixtures.sh` first');
  }
  const executablePath = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
  if (!existsSync(executablePath)) throw new Error(`Chromium not found at ${executablePath} (apt-get install -y chromium)`);
  return chromium.launch({ executablePath, headless: true, args: chromiumArgs({ video }), timeout: 60_000 });
}

/** A browser context (one "person"), collecting the page's console for diagnostics. */
export async function newPerson(browser, name, { media = true, initScript, geolocation, viewport = { width: 1280, height: 800 } } = {}) {
  const permissions = media ? ['camera', 'microphone'] : [];
  if (geolocation) permissions.push('geolocation');
  const context = await browser.newContext({ viewport, permissions, ...(geolocation ? { geolocation } : {}) });
  if (initScript) await context.addInitScript(initScript);
  const page = await context.newPage();
  const logs = [];
  page.on('console', (m) => logs.push(`[${name}] ${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => logs.push(`[${name}] pageerror: ${e.message}`));
  page.setDefaultTimeout(60_000);
  return { name, context, page, logs, close: () => context.close().catch(() => {}) };
}

/** Media statistics of a call page, from its RTCPeerConnection and #remote-video. */
export function remoteMedia(page) {
  return page.evaluate(async () => {
    const v = document.querySelector('#remote-video');
    const pc = window.vkyc?.pc?.();
    const out = {
      clientState: window.vkyc?.client?.state ?? null,
      pcState: pc?.connectionState ?? null,
      iceState: pc?.iceConnectionState ?? null,
      videoWidth: v?.videoWidth ?? 0,
      videoHeight: v?.videoHeight ?? 0,
      framesDecoded: 0,
      videoPackets: 0,
      audioPackets: 0,
      remotePeer: v?.dataset.peerId || null,
      status: document.querySelector('#status')?.textContent ?? null,
      rtcStats: window.vkyc?.client?.stats ?? null,
    };
    if (pc) {
      const stats = await pc.getStats();
      stats.forEach((r) => {
        if (r.type !== 'inbound-rtp') return;
        if (r.kind === 'video') {
          out.framesDecoded += r.framesDecoded || 0;
          out.videoPackets += r.packetsReceived || 0;
        } else if (r.kind === 'audio') {
          out.audioPackets += r.packetsReceived || 0;
        }
      });
    }
    return out;
  });
}

/** Waits until a call page plays remote video (frames decoded, size known) and receives audio. */
export async function waitForRemoteMedia(person, { timeoutMs = 90_000, server } = {}) {
  const deadline = Date.now() + timeoutMs;
  let last = null;
  while (Date.now() < deadline) {
    last = await remoteMedia(person.page);
    if (last.framesDecoded > 0 && last.videoWidth > 0 && last.videoHeight > 0 && last.audioPackets > 0) return last;
    await sleep(500);
  }
  throw new Error(
    `${person.name}: no remote media within ${timeoutMs} ms; last: ${JSON.stringify(last)}\n` +
      `page console:\n${person.logs.slice(-30).join('\n')}\n` +
      (server ? `server log tail:\n${server.logTail(60)}` : ''),
  );
}

export async function screenshot(person, file, { fullPage = false } = {}) {
  mkdirSync(OUT_DIR, { recursive: true });
  const path = join(OUT_DIR, file);
  await person.page.screenshot({ path, fullPage });
  return path;
}

/** A synthetic PAN card made by fixtures.sh (`pan_card` or `pan_card_b2`): { png (path), truth: { name, pan_number, date_of_birth, … } }. */
export function panCardFixture(name = 'pan_card') {
  const png = join(cacheDir(), `${name}.png`);
  const json = join(cacheDir(), `${name}.json`);
  if (!existsSync(png) || !existsSync(json)) throw new Error(`missing test fixture ${png}: run \`bash tests/browser/fixtures.sh\` first`);
  return { png, truth: JSON.parse(readFileSync(json, 'utf8')) };
}

// ------------------------------------------------------------------ test scaffolding

/** The server, then the browser, a test file's tests share (if the browser fails to start, the server is stopped). */
export async function startServerAndBrowser({ server = {}, browser = {} } = {}) {
  const started = await startServer(server);
  try {
    return { server: started, browser: await launchBrowser(browser) };
  } catch (err) {
    await started.stop();
    throw err;
  }
}

export async function stopServerAndBrowser({ server, browser }) {
  await browser?.close().catch(() => {});
  await server?.stop();
}

/**
 * Runs `body(people)`: each person the test adds to `people` is closed afterwards, and so is
 * each of `browsers` (a test's own fake camera). When the test fails, the last console lines
 * of every page are printed first.
 */
export async function withPeople(body, ...browsers) {
  const people = [];
  try {
    return await body(people);
  } catch (err) {
    console.error(people.map((p) => p.logs.slice(-20).join('\n')).join('\n'));
    throw err;
  } finally {
    await Promise.all(people.map((p) => p.close()));
    for (const b of browsers) await b.close().catch(() => {});
  }
}

/** Times a test's phases: `mark(name)` notes in `lap` the milliseconds since the start. */
export function stopwatch() {
  const t0 = Date.now();
  const lap = {};
  return { lap, mark: (name) => (lap[name] = Date.now() - t0) };
}

export { sleep };

/**
 * For a test file about the pages alone: `server(options)` starts a server without the
 * verification engines (all stopped after the file's tests) and the one browser they share,
 * which `browser()` returns.
 */
export function serversWithoutEngines() {
  const servers = [];
  let browser = null;
  after(async () => {
    await browser?.close().catch(() => {});
    for (const s of servers) await s.stop();
  });
  return {
    async server(options = {}) {
      const s = await startServer({ ...options, env: { VKYC_INFERENCE__ENABLED: 'false', ...options.env } });
      servers.push(s);
      browser ??= await launchBrowser();
      return s;
    },
    browser: () => browser,
  };
}
