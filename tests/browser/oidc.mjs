// Single sign-on for the browser tests: the test OpenID Connect provider (tests/oidc/
// provider.mjs, npm oidc-provider; `bash tests/oidc/setup.sh` installs it) and a vkyc server
// configured for it, both on 127.0.0.1.
//
// The provider must know the server's callback URL when it starts, and the server its
// redirect URL (which holds its own port) when it starts: the provider takes a free port
// itself (port 0) and prints its issuer; the server's port is picked here first (bind port 0,
// read it, release it) and passed as VKYC_SERVER__PORT, so both URLs are known before either
// starts. Should another process take that port in between, the server fails to listen and a
// new port is tried.

import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';

import { REPO_ROOT, startServer } from './harness.mjs';

export const OIDC_DIR = join(REPO_ROOT, 'tests', 'oidc');
export const CLIENT_ID = 'vkyc-console';
export const CLIENT_SECRET = 'browser-test-secret-of-the-vkyc-console-0123456789';

/** The provider's accounts (tests/oidc/provider.mjs): its login (any password) and what vkyc makes of it. */
export const SSO_ACCOUNTS = {
  asha: { login: 'asha', email: 'asha@bank.example', name: 'Asha Rao', roles: 'Agent' },
  ravi: { login: 'ravi', email: 'ravi@bank.example', name: 'Ravi Kumar', roles: 'Auditor' },
  meera: { login: 'meera', email: 'meera@bank.example', name: 'Meera Iyer', roles: 'Supervisor, Admin' },
  sam: { login: 'sam', email: 'sam@bank.example', name: 'Sam Das', roles: '' },
};

/** The provider's groups → vkyc roles (`[console.sso] role_map`). */
export const ROLE_MAP = {
  'vkyc-agents': ['agent'],
  'vkyc-auditors': ['auditor'],
  'vkyc-supervisors': ['supervisor'],
  'vkyc-admins': ['admin'],
};

/** A TCP port free on 127.0.0.1 right now. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/**
 * Starts tests/oidc/provider.mjs on a free 127.0.0.1 port with the client `CLIENT_ID` and
 * `redirectUris`. Resolves with { issuer, logs(), stop() } once it printed `listening <issuer>`.
 */
export async function startProvider({ redirectUris, timeoutMs = 30_000 }) {
  if (!existsSync(join(OIDC_DIR, 'node_modules', 'oidc-provider', 'package.json'))) {
    throw new Error('oidc-provider is not installed: run `bash tests/oidc/setup.sh` first');
  }
  const lines = [];
  // stdin stays open: the provider exits when it closes (this process gone included).
  const proc = spawn(process.execPath, ['provider.mjs', '0'], {
    cwd: OIDC_DIR,
    env: {
      ...process.env,
      OIDC_CLIENT_ID: CLIENT_ID,
      OIDC_CLIENT_SECRET: CLIENT_SECRET,
      OIDC_REDIRECT_URIS: redirectUris.join(','),
    },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let exited = null;
  const exitedP = new Promise((r) => proc.once('exit', (code, signal) => r((exited = { code, signal }))));
  const issuer = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`the OIDC provider did not start within ${timeoutMs} ms:\n${lines.join('\n')}`));
    }, timeoutMs);
    const collect = (stream, tag) => {
      let buf = '';
      stream.setEncoding('utf8');
      stream.on('data', (chunk) => {
        buf += chunk;
        let i;
        while ((i = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, i);
          buf = buf.slice(i + 1);
          lines.push(`${tag} ${line}`);
          const m = tag === '[out]' && line.match(/^listening (http:\/\/127\.0\.0\.1:\d+)$/);
          if (m) {
            clearTimeout(timer);
            resolve(m[1]);
          }
        }
      });
    };
    collect(proc.stdout, '[out]');
    collect(proc.stderr, '[err]');
    exitedP.then((e) => {
      clearTimeout(timer);
      reject(new Error(`the OIDC provider exited (${JSON.stringify(e)}) before listening:\n${lines.join('\n')}`));
    });
  });
  const stop = async () => {
    if (!exited) {
      proc.stdin.end();
      proc.kill('SIGTERM');
      const t = setTimeout(() => proc.kill('SIGKILL'), 5000);
      await exitedP;
      clearTimeout(t);
    }
  };
  return { issuer, logs: () => lines.slice(), stop };
}

/** The `[console.sso]` table of a server on `port` signing in with the provider `issuer`. */
export function ssoConfig({ issuer, port }) {
  const roleMap = Object.entries(ROLE_MAP)
    .map(([group, roles]) => `${JSON.stringify(group)} = [${roles.map((r) => JSON.stringify(r)).join(', ')}]`)
    .join(', ');
  return [
    '',
    '# Written by tests/browser/oidc.mjs: single sign-on with tests/oidc/provider.mjs.',
    '[console.sso]',
    'enabled = true',
    `issuer_url = ${JSON.stringify(issuer)}`,
    `client_id = ${JSON.stringify(CLIENT_ID)}`,
    `client_secret = ${JSON.stringify(CLIENT_SECRET)}`,
    `redirect_url = ${JSON.stringify(callbackUrl(port))}`,
    `role_map = { ${roleMap} }`,
    'allowed_email_domains = ["bank.example"]',
    '',
  ].join('\n');
}

export function callbackUrl(port) {
  return `http://127.0.0.1:${port}/v1/auth/sso/callback`;
}

/**
 * The provider and a vkyc server configured for it (the server's own demo accounts too):
 * resolves with { provider, server, stop() }. `server`: more startServer options.
 */
export async function startSsoServer({ server = {}, attempts = 3 } = {}) {
  for (let attempt = 1; ; attempt += 1) {
    const port = await freePort();
    const provider = await startProvider({ redirectUris: [callbackUrl(port)] });
    try {
      const srv = await startServer({
        ...server,
        config: ssoConfig({ issuer: provider.issuer, port }) + (server.config || ''),
        env: { ...server.env, VKYC_SERVER__PORT: String(port) },
      });
      if (new URL(srv.url).port !== String(port)) {
        await srv.stop();
        throw new Error(`the server listens on ${srv.url}, not on the port ${port} it was given`);
      }
      return {
        provider,
        server: srv,
        stop: async () => {
          await srv.stop();
          await provider.stop();
        },
      };
    } catch (err) {
      await provider.stop();
      // The port was taken between freePort() and the server's bind: another one.
      if (attempt >= attempts || !/in use|EADDRINUSE|os error 98/i.test(String(err.message))) throw err;
    }
  }
}

/**
 * On the provider's pages (tests/oidc/provider.mjs: the library's development interactions),
 * signs in as `login` and consents if asked; resolves with { consented } when the page left
 * the provider. `onLoginForm(page)`: called once the login form is shown (for a screenshot).
 */
export async function providerSignIn(page, issuer, login, { onLoginForm } = {}) {
  await page.waitForURL((u) => u.origin === issuer && u.pathname.startsWith('/interaction/'));
  const form = page.locator('form:has(input[name="prompt"][value="login"])');
  await form.waitFor({ state: 'visible' });
  await onLoginForm?.(page);
  await form.locator('input[name="login"]').fill(login);
  await form.locator('input[name="password"]').fill('any-password');
  await Promise.all([page.waitForNavigation(), form.locator('button[type="submit"]').click()]);
  // Consent (the first time this account grants the client its scopes), then off the provider.
  let consented = false;
  for (let i = 0; i < 5 && new URL(page.url()).origin === issuer; i += 1) {
    const consent = page.locator('form:has(input[name="prompt"][value="consent"]) button[type="submit"]');
    if (await consent.count()) {
      await Promise.all([page.waitForNavigation(), consent.click()]);
      consented = true;
    } else {
      await page.waitForURL((u) => u.origin !== issuer, { timeout: 15_000 });
    }
  }
  if (new URL(page.url()).origin === issuer) throw new Error(`still on the provider: ${page.url()}\n${await page.content()}`);
  return { consented };
}
