// An OpenID Connect provider for vkyc's SSO tests (tests/oidc.rs): npm `oidc-provider`
// (a certified implementation) on 127.0.0.1, with one confidential client, PKCE required,
// an RSA signing key made at start, and a few staff accounts with a `groups` claim.
//
//   node provider.mjs [PORT]        (or OIDC_PORT; 0 or nothing = a free port)
//
// Environment:
//   OIDC_CLIENT_ID, OIDC_CLIENT_SECRET   the client (defaults: vkyc-console / a test secret)
//   OIDC_REDIRECT_URIS                   its redirect URIs, comma-separated
//                                        (default http://127.0.0.1:8080/auth/sso/callback)
//   OIDC_KEY_FILE                        if set, a JSON file written before "listening":
//                                        { kid, signing_key_pem, foreign_key_pem } — the
//                                        provider's private key (PKCS#1 PEM) and another key
//                                        that it does not publish, so a test can make tokens
//                                        signed by the provider or by a stranger
//
// Prints `listening <issuer>` on stdout when ready; exits when stdin closes (so a test that
// dies leaves no provider behind) or on SIGTERM/SIGINT.
//
// Sign-in uses the library's development interactions: GET the authorization URL, follow
// the redirect to /interaction/<uid>, POST `prompt=login&login=<account>&password=<any>` to
// the form's action, follow to the consent form, POST `prompt=consent`, follow until the
// redirect to the client's redirect URI (?code=…&state=…&iss=…). Unknown accounts are refused.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { writeFileSync, renameSync } from 'node:fs';
import { createServer } from 'node:http';

import Provider from 'oidc-provider';

const ACCOUNTS = {
  asha: { email: 'asha@bank.example', name: 'Asha Rao', groups: ['vkyc-agents', 'staff'] },
  ravi: { email: 'ravi@bank.example', name: 'Ravi Kumar', groups: ['vkyc-auditors'] },
  meera: { email: 'meera@bank.example', name: 'Meera Iyer', groups: ['vkyc-supervisors', 'vkyc-admins'] },
  sam: { email: 'sam@bank.example', name: 'Sam Das', groups: ['finance'] },
  // An address outside the bank's domain, for the allowed_email_domains check.
  vendor: { email: 'vera@vendor.example', name: 'Vera Contractor', groups: ['vkyc-agents'] },
};

const portArg = process.argv[2] ?? process.env.OIDC_PORT ?? '0';
const port = Number.parseInt(portArg, 10);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`provider: bad port ${portArg}`);
  process.exit(2);
}
const clientId = process.env.OIDC_CLIENT_ID || 'vkyc-console';
const clientSecret = process.env.OIDC_CLIENT_SECRET || 'test-secret-of-the-vkyc-console-0123456789';
const redirectUris = (process.env.OIDC_REDIRECT_URIS || 'http://127.0.0.1:8080/auth/sso/callback')
  .split(',').map((s) => s.trim()).filter(Boolean);

function rsaKey() {
  return generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
}
const signing = rsaKey();
const kid = `vkyc-test-${randomBytes(4).toString('hex')}`;
const jwk = { ...signing.export({ format: 'jwk' }), kid, use: 'sig', alg: 'RS256' };

const server = createServer();
await new Promise((resolve, reject) => {
  server.once('error', reject);
  server.listen(port, '127.0.0.1', resolve);
});
const issuer = `http://127.0.0.1:${server.address().port}`;

const provider = new Provider(issuer, {
  clients: [{
    client_id: clientId,
    client_secret: clientSecret,
    redirect_uris: redirectUris,
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
  }],
  jwks: { keys: [jwk] },
  cookies: { keys: [randomBytes(32).toString('hex')] },
  scopes: ['openid', 'email', 'profile', 'groups'],
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name'],
    groups: ['groups'],
  },
  // Code flow: the ID token carries only `sub` and the protocol claims; email, name and
  // groups come from the userinfo endpoint (the library's default, as with many providers).
  conformIdTokenClaims: true,
  pkce: { required: () => true },
  features: { devInteractions: { enabled: true } },
  async findAccount(_ctx, id) {
    const account = Object.hasOwn(ACCOUNTS, id) ? ACCOUNTS[id] : undefined;
    if (!account) return undefined;
    return {
      accountId: id,
      async claims() {
        return {
          sub: id,
          email: account.email,
          email_verified: true,
          name: account.name,
          groups: account.groups,
        };
      },
    };
  },
});
provider.on('server_error', (_ctx, err) => console.error('provider: server_error', err));
server.on('request', provider.callback());

if (process.env.OIDC_KEY_FILE) {
  const file = process.env.OIDC_KEY_FILE;
  const keys = {
    kid,
    signing_key_pem: signing.export({ type: 'pkcs1', format: 'pem' }),
    foreign_key_pem: rsaKey().export({ type: 'pkcs1', format: 'pem' }),
  };
  writeFileSync(`${file}.part`, JSON.stringify(keys), { mode: 0o600 });
  renameSync(`${file}.part`, file);
}

// A reader that went away (the test stopped reading) must not crash the provider.
process.stdout.on('error', () => {});
const stop = () => server.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();

console.log(`listening ${issuer}`);
