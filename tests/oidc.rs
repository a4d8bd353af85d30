//! Console single sign-on (`vkyc::desk::oidc`) against a real OpenID Connect provider.
//!
//! Each test starts npm `oidc-provider` (tests/oidc/provider.mjs) on a free port of
//! 127.0.0.1, discovers it, and signs in the way a browser would: GET the authorization URL,
//! fill the provider's login form, confirm the consent form, and take the `code` and `state`
//! from the redirect to the callback (redirects are not followed, so nothing listens there).
//!
//! The refusals of a whole sign-in (replayed code, wrong state, wrong nonce, wrong PKCE
//! verifier, a late callback, a user with no vkyc group, an email outside the allowed
//! domains) go through `Oidc::finish`. The refusals of forged ID tokens (wrong audience,
//! expired, unsigned, signed by another key, tampered, HMAC with the client secret, wrong
//! issuer, wrong nonce) go through `Oidc::validate_id_token`, the check `finish` itself
//! runs, with tokens signed by the provider's own key (which the provider writes to a file
//! for the test) or by a key it does not publish.
//!
//! Needs node (>= 20; `VKYC_NODE` names another binary) and tests/oidc/node_modules:
//! `bash tests/oidc/setup.sh` installs it, and the first test runs it when it is missing.
//! `VKYC_OIDC_PROVIDER_DIR` points at another copy of tests/oidc.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Mutex;
use std::time::Duration;

use base64::Engine as _;
use chrono::Utc;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use url::Url;
use vkyc::desk::oidc::{Oidc, OidcConfig, OidcError, PendingLogin};
use vkyc_domain::desk::user::StaffRole;

const CLIENT_ID: &str = "vkyc-console";
const CLIENT_SECRET: &str = "test-client-secret-0123456789-0123456789";
const REDIRECT: &str = "http://127.0.0.1:9/auth/sso/callback";

fn provider_dir() -> PathBuf {
    std::env::var_os("VKYC_OIDC_PROVIDER_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/oidc"))
}

/// Installs oidc-provider once (tests/oidc/setup.sh) if it is not there yet.
fn ensure_installed() {
    static DONE: Mutex<bool> = Mutex::new(false);
    let mut done = DONE.lock().unwrap_or_else(|p| p.into_inner());
    if *done {
        return;
    }
    let dir = provider_dir();
    if !dir
        .join("node_modules/oidc-provider/package.json")
        .is_file()
    {
        let status = std::process::Command::new("bash")
            .arg(dir.join("setup.sh"))
            .status()
            .expect("run tests/oidc/setup.sh");
        assert!(status.success(), "tests/oidc/setup.sh failed");
    }
    *done = true;
}

/// The provider's keys, written by provider.mjs to OIDC_KEY_FILE.
#[derive(serde::Deserialize)]
struct Keys {
    kid: String,
    signing_key_pem: String,
    foreign_key_pem: String,
}

struct Provider {
    issuer: String,
    keys: Keys,
    _child: Child,
    _dir: tempfile::TempDir,
}

async fn start_provider() -> Provider {
    ensure_installed();
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("keys.json");
    let node = std::env::var("VKYC_NODE").unwrap_or_else(|_| "node".into());
    let mut child = Command::new(node)
        .arg(provider_dir().join("provider.mjs"))
        .arg("0")
        .env("OIDC_CLIENT_ID", CLIENT_ID)
        .env("OIDC_CLIENT_SECRET", CLIENT_SECRET)
        .env("OIDC_REDIRECT_URIS", REDIRECT)
        .env("OIDC_KEY_FILE", &key_file)
        // The provider exits when its stdin closes: it does not outlive the test.
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start node (set VKYC_NODE if it is not on PATH)");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let issuer = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if let Some(issuer) = line.strip_prefix("listening ") {
                return issuer.trim().to_string();
            }
        }
        panic!("the provider exited before listening");
    })
    .await
    .expect("the provider did not start within 30 s");
    // Keep reading what it prints, so that it never writes into a closed pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    let keys = serde_json::from_slice(&std::fs::read(&key_file).unwrap()).unwrap();
    Provider {
        issuer,
        keys,
        _child: child,
        _dir: dir,
    }
}

fn config(issuer: &str) -> OidcConfig {
    serde_json::from_value(json!({
        "enabled": true,
        "issuer_url": issuer,
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "redirect_url": REDIRECT,
        "role_map": {
            "vkyc-agents": ["agent"],
            "vkyc-auditors": ["auditor"],
            "vkyc-supervisors": ["supervisor"],
            "vkyc-admins": ["admin"],
        },
    }))
    .expect("config")
}

async fn discover(p: &Provider) -> Oidc {
    discover_with(p, |c| c).await
}

async fn discover_with(p: &Provider, tweak: impl FnOnce(OidcConfig) -> OidcConfig) -> Oidc {
    Oidc::discover(tweak(config(&p.issuer)), Oidc::http_client().unwrap())
        .await
        .expect("discovery")
}

/// Signs in at the provider as `login` like a browser: returns the callback's code and state.
async fn sign_in(authorize: &Url, login: &str) -> (String, String) {
    let browser = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let mut response = browser.get(authorize.clone()).send().await.unwrap();
    for _ in 0..20 {
        let here = response.url().clone();
        if response.status().is_redirection() {
            let location = response.headers()["location"].to_str().unwrap().to_string();
            let next = here.join(&location).unwrap();
            if next.as_str().starts_with(REDIRECT) {
                let query = |k: &str| {
                    next.query_pairs()
                        .find(|(n, _)| n == k)
                        .map(|(_, v)| v.into_owned())
                        .unwrap_or_else(|| panic!("no {k} in the callback: {next}"))
                };
                return (query("code"), query("state"));
            }
            response = browser.get(next).send().await.unwrap();
            continue;
        }
        let status = response.status();
        let page = response.text().await.unwrap();
        assert!(status.is_success(), "provider answered {status}: {page}");
        let action = attribute(&page, "<form", "action").expect("a form on the page");
        let action = here.join(&action.replace("&amp;", "&")).unwrap();
        let prompt = if page.contains(r#"name="login""#) {
            vec![("prompt", "login"), ("login", login), ("password", "any")]
        } else {
            vec![("prompt", "consent")]
        };
        response = browser.post(action).form(&prompt).send().await.unwrap();
    }
    panic!("no redirect to the callback after 20 steps");
}

/// The value of `name="…"` in the first `tag` of an HTML page.
fn attribute(page: &str, tag: &str, name: &str) -> Option<String> {
    let start = page.find(tag)?;
    let rest = &page[start..];
    let rest = &rest[rest.find(&format!("{name}=\""))? + name.len() + 2..];
    Some(rest[..rest.find('"')?].to_string())
}

/// A started login and its callback for `login`.
async fn login(oidc: &Oidc, login: &str) -> (PendingLogin, String, String) {
    let (url, pending) = oidc.begin();
    let (code, state) = sign_in(&url, login).await;
    (pending, code, state)
}

#[tokio::test]
async fn code_flow_signs_staff_in_with_their_mapped_roles() {
    let p = start_provider().await;
    let oidc = discover(&p).await;

    let (url, pending) = oidc.begin();
    let query: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    let param = |k: &str| query.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    assert!(
        url.as_str().starts_with(&format!("{}/auth?", p.issuer)),
        "{url}"
    );
    assert_eq!(param("response_type"), Some("code"));
    assert_eq!(param("client_id"), Some(CLIENT_ID));
    assert_eq!(param("redirect_uri"), Some(REDIRECT));
    assert_eq!(param("code_challenge_method"), Some("S256"));
    assert_eq!(param("state"), Some(pending.state.as_str()));
    assert_eq!(param("nonce"), Some(pending.nonce.as_str()));
    assert_eq!(param("scope"), Some("openid email profile groups"));
    assert!(!url.as_str().contains(&pending.pkce_verifier));
    // The pending login survives a round trip through the server's store.
    let stored = serde_json::to_string(&pending).unwrap();
    let pending: PendingLogin = serde_json::from_str(&stored).unwrap();

    let (code, state) = sign_in(&url, "asha").await;
    let asha = oidc
        .finish(pending, &code, &state)
        .await
        .expect("asha signs in");
    assert_eq!(asha.issuer, p.issuer);
    assert_eq!(asha.subject, "asha");
    assert_eq!(asha.email.as_str(), "asha@bank.example");
    assert_eq!(asha.name.as_str(), "Asha Rao");
    assert_eq!(asha.roles, BTreeSet::from([StaffRole::Agent]));

    let (pending, code, state) = login(&oidc, "ravi").await;
    let ravi = oidc.finish(pending, &code, &state).await.unwrap();
    assert_eq!(ravi.roles, BTreeSet::from([StaffRole::Auditor]));

    let (pending, code, state) = login(&oidc, "meera").await;
    let meera = oidc.finish(pending, &code, &state).await.unwrap();
    assert_eq!(
        meera.roles,
        BTreeSet::from([StaffRole::Supervisor, StaffRole::Admin])
    );
}

#[tokio::test]
async fn a_code_works_once() {
    let p = start_provider().await;
    let oidc = discover(&p).await;
    let (pending, code, state) = login(&oidc, "asha").await;
    oidc.finish(pending.clone(), &code, &state).await.unwrap();
    let replay = oidc.finish(pending, &code, &state).await.unwrap_err();
    assert_eq!(replay.code(), "code_rejected");
}

#[tokio::test]
async fn a_callback_that_does_not_match_its_login_is_refused() {
    let p = start_provider().await;
    let oidc = discover(&p).await;
    let (pending, code, state) = login(&oidc, "asha").await;

    let wrong_state = oidc.finish(pending.clone(), &code, "not-the-state").await;
    assert_eq!(wrong_state.unwrap_err(), OidcError::StateMismatch);

    let late = PendingLogin {
        created_at: Utc::now() - chrono::Duration::minutes(30),
        ..pending.clone()
    };
    assert_eq!(
        oidc.finish(late, &code, &state).await.unwrap_err().code(),
        "login_expired"
    );

    // The code was issued for another PKCE challenge.
    let other_verifier = PendingLogin {
        pkce_verifier: oidc.begin().1.pkce_verifier,
        ..pending.clone()
    };
    let err = oidc
        .finish(other_verifier, &code, &state)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "code_rejected");

    // A fresh login whose stored nonce is not the one the provider put in the token.
    let (pending, code, state) = login(&oidc, "asha").await;
    let other_nonce = PendingLogin {
        nonce: oidc.begin().1.nonce,
        ..pending
    };
    let err = oidc.finish(other_nonce, &code, &state).await.unwrap_err();
    assert_eq!(err.code(), "nonce_mismatch");
}

#[tokio::test]
async fn staff_without_a_vkyc_group_or_outside_the_domains_are_refused() {
    let p = start_provider().await;
    let oidc = discover_with(&p, |mut c| {
        c.allowed_email_domains = vec!["bank.example".into()];
        c
    })
    .await;
    let (pending, code, state) = login(&oidc, "sam").await;
    let err = oidc.finish(pending, &code, &state).await.unwrap_err();
    assert_eq!(err.code(), "no_role");
    assert!(!err.to_string().contains("sam"), "{err}");

    let (pending, code, state) = login(&oidc, "vendor").await;
    let err = oidc.finish(pending, &code, &state).await.unwrap_err();
    assert_eq!(err.code(), "email_domain_refused");
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// ID token claims as the provider would issue them for this client and nonce.
fn claims(issuer: &str, nonce: &str) -> Value {
    let now = Utc::now().timestamp();
    json!({
        "iss": issuer,
        "sub": "asha",
        "aud": CLIENT_ID,
        "iat": now,
        "exp": now + 300,
        "nonce": nonce,
        "email": "asha@bank.example",
        "email_verified": true,
        "name": "Asha Rao",
        "groups": ["vkyc-agents"],
    })
}

fn sign(claims: &Value, pem: &str, kid: &str) -> String {
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(kid.to_string());
    let key = EncodingKey::from_rsa_pem(pem.as_bytes()).unwrap();
    jsonwebtoken::encode(&header, claims, &key).unwrap()
}

#[tokio::test]
async fn forged_or_misdirected_id_tokens_are_refused() {
    let p = start_provider().await;
    let oidc = discover(&p).await;
    let nonce = "n-0123456789";
    let now = Utc::now();
    let by_provider = |c: &Value| sign(c, &p.keys.signing_key_pem, &p.keys.kid);
    let check = |raw: String| {
        let oidc = &oidc;
        async move { oidc.validate_id_token(&raw, nonce, now).await }
    };
    let refusal = |raw: String| async move { check(raw).await.unwrap_err().code() };
    let with = |patch: Value| {
        let mut c = claims(&p.issuer, nonce);
        for (k, v) in patch.as_object().unwrap() {
            c[k] = v.clone();
        }
        c
    };

    // A token as the provider signs it passes: the refusals below are each for one reason.
    let good = check(by_provider(&claims(&p.issuer, nonce))).await.unwrap();
    assert_eq!(
        (good.issuer.as_str(), good.subject.as_str()),
        (p.issuer.as_str(), "asha")
    );
    assert_eq!(good.claims["groups"], json!(["vkyc-agents"]));

    let t = Utc::now().timestamp();
    assert_eq!(
        refusal(by_provider(&with(json!({"aud": "another-app"})))).await,
        "wrong_audience"
    );
    assert_eq!(
        refusal(by_provider(&with(
            json!({"aud": [CLIENT_ID, "another-app"]})
        )))
        .await,
        "wrong_audience"
    );
    assert_eq!(
        refusal(by_provider(&with(
            json!({"aud": [CLIENT_ID, "another-app"], "azp": CLIENT_ID})
        )))
        .await,
        "wrong_audience",
        "another audience is trusted only when configured"
    );
    assert_eq!(
        refusal(by_provider(&with(json!({"azp": "another-app"})))).await,
        "wrong_audience"
    );
    assert_eq!(
        refusal(by_provider(&with(json!({"exp": t - 120, "iat": t - 420})))).await,
        "token_expired"
    );
    assert_eq!(
        refusal(by_provider(&with(json!({"iat": t + 600, "exp": t + 900})))).await,
        "token_expired",
        "issued in the future"
    );
    assert_eq!(
        refusal(by_provider(&with(json!({"iat": t - 7200, "exp": t + 300})))).await,
        "token_expired",
        "issued long before this login"
    );
    assert_eq!(
        refusal(by_provider(&with(json!({"nonce": "another"})))).await,
        "nonce_mismatch"
    );
    assert_eq!(
        refusal(by_provider(&with(json!({"nonce": null})))).await,
        "nonce_mismatch"
    );
    assert_eq!(
        refusal(by_provider(&with(json!({"iss": "http://127.0.0.1:1"})))).await,
        "wrong_issuer"
    );

    // Unsigned.
    let payload = b64(claims(&p.issuer, nonce).to_string().as_bytes());
    let unsigned = format!("{}.{payload}.", b64(br#"{"alg":"none","typ":"JWT"}"#));
    assert_eq!(refusal(unsigned).await, "bad_signature");
    // Signed by a key the provider does not publish, under the provider's key id.
    let foreign = sign(
        &claims(&p.issuer, nonce),
        &p.keys.foreign_key_pem,
        &p.keys.kid,
    );
    assert_eq!(refusal(foreign).await, "bad_signature");
    // The provider's signature over other claims (the groups changed afterwards).
    let real = by_provider(&claims(&p.issuer, nonce));
    let parts: Vec<&str> = real.split('.').collect();
    let raised = b64(with(json!({"groups": ["vkyc-admins"]}))
        .to_string()
        .as_bytes());
    assert_eq!(
        refusal(format!("{}.{raised}.{}", parts[0], parts[2])).await,
        "bad_signature"
    );
    // HMAC with the client secret: anyone holding the secret could make it.
    let hmac = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims(&p.issuer, nonce),
        &EncodingKey::from_secret(CLIENT_SECRET.as_bytes()),
    )
    .unwrap();
    assert_eq!(refusal(hmac).await, "bad_signature");
    // Not a JWT.
    assert_eq!(refusal("not.a.token".into()).await, "invalid_id_token");
    assert_eq!(refusal(String::new()).await, "invalid_id_token");
}

#[tokio::test]
async fn discovery_refuses_plain_http_and_a_wrong_issuer() {
    let insecure = Oidc::discover(
        config("http://login.bank.example"),
        Oidc::http_client().unwrap(),
    )
    .await
    .unwrap_err();
    assert_eq!(insecure.code(), "insecure_issuer");

    let p = start_provider().await;
    // A path under the provider: no discovery document there.
    let err = Oidc::discover(
        config(&format!("{}/elsewhere", p.issuer)),
        Oidc::http_client().unwrap(),
    )
    .await
    .unwrap_err();
    assert_eq!(err.code(), "discovery_failed");
    // The same provider under another spelling: its document names a different issuer.
    let renamed = format!("{}/", p.issuer);
    let err = Oidc::discover(config(&renamed), Oidc::http_client().unwrap())
        .await
        .unwrap_err();
    assert_eq!(err.code(), "discovery_failed");
}
