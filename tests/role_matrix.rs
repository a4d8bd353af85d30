//! The role matrix: every endpoint × every kind of caller, table-driven. Callers: no token,
//! a garbage token, the api key, session A's agent / customer / observer tokens,
//! session B's agent / customer / observer tokens, and signed-in consoles (the cookie, with
//! its CSRF token on changes) of an agent, an auditor, a supervisor and an admin. For each endpoint the table names who may
//! call it and the exact status each of them gets; everyone else must be refused with the
//! precise code (401 without a valid token, 403 `forbidden_session` with another session's
//! token, 403 `forbidden_role` otherwise). Public endpoints answer every caller alike.
//!
//! The list of endpoints is the server's own route table: the OpenAPI document it serves
//! (`GET /v1/openapi.json`, collected from the registered services). Every operation in it
//! must have a row here, and every row must be an operation in it — a new endpoint cannot be
//! missed. Each status seen must be documented for its operation, and each JSON answer must
//! validate against the documented schema of its status.

mod common;

use common::*;
use serde_json::{json, Value};

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
enum Who {
    Nobody,
    Garbage,
    Key,
    AgentA,
    CustomerA,
    ObserverA,
    AgentB,
    CustomerB,
    ObserverB,
    /// Signed-in consoles.
    AgentC,
    AuditorC,
    SupervisorC,
    AdminC,
}
use Who::*;

#[rustfmt::skip]
const ALL: [Who; 13] = [
    Nobody, Garbage, Key, AgentA, CustomerA, ObserverA, AgentB, CustomerB, ObserverB, AgentC, AuditorC, SupervisorC, AdminC,
];

/// The consoles' accounts: (caller, email, roles).
const STAFF: [(Who, &str, &[&str]); 4] = [
    (AgentC, "agent@matrix.test", &["agent"]),
    (AuditorC, "auditor@matrix.test", &["auditor"]),
    (SupervisorC, "supervisor@matrix.test", &["supervisor"]),
    (AdminC, "admin@matrix.test", &["admin"]),
];

/// Every signed-in console, with `status`.
macro_rules! staff {
    ($status:expr) => {
        &[
            (AgentC, $status),
            (AuditorC, $status),
            (SupervisorC, $status),
            (AdminC, $status),
        ]
    };
}

struct Tokens {
    agent: String,
    customer: String,
    observer: String,
}

async fn session(app: &TestApp, mode: &str) -> (String, Tokens) {
    let wf = if mode == "self_record" {
        json!(["consent", "face"])
    } else {
        json!([
            "consent",
            "location",
            "otp",
            "questions",
            "document",
            "face"
        ])
    };
    let (s, v) = call(
        app,
        reqwest::Method::POST,
        "/v1/sessions",
        API_KEY,
        Some(json!({"mode": mode, "applicant": {"name": "Matrix Person"}, "workflow": wf})),
    )
    .await;
    assert_eq!(s, 201, "{v}");
    let id = v["id"].as_str().unwrap().to_string();
    let t = |role: &'static str| {
        let id = id.clone();
        async move { app.api.token(&id, role).await.unwrap().token }
    };
    let tokens = Tokens {
        agent: t("agent").await,
        customer: t("customer").await,
        observer: t("observer").await,
    };
    (id, tokens)
}

/// Who may call a row's endpoint, with the exact status each allowed caller gets (in the
/// order of [`ALL`], on the same fresh session A), or a public endpoint's status for every
/// caller (and its error code, if any).
enum Access {
    Callers(&'static [(Who, u16)]),
    Public(u16, Option<&'static str>),
}
use Access::*;

/// One row: method, path (`{A}` = session A's id, `{C}` = a capture of A), body, who may.
struct Row {
    method: reqwest::Method,
    path: &'static str,
    body: Option<Value>,
    self_record: bool,
    access: Access,
}

impl Row {
    fn allowed(&self, who: Who) -> Option<u16> {
        match self.access {
            Callers(c) => c.iter().find(|(w, _)| *w == who).map(|(_, s)| *s),
            Public(s, _) => Some(s),
        }
    }
    /// A session's participant tokens may call it (so another session's get
    /// `forbidden_session`); api-key-only endpoints refuse every token with `forbidden_role`.
    fn scoped(&self) -> bool {
        self.self_record
            || matches!(self.access, Callers(c) if c.iter().any(|(w, _)| matches!(w, AgentA | CustomerA | ObserverA)))
    }
}

fn rows() -> Vec<Row> {
    use reqwest::Method as M;
    let png = b64(&{
        let mut out = Vec::new();
        image::RgbImage::from_pixel(64, 64, image::Rgb([120, 110, 100]))
            .write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png)
            .unwrap();
        out
    });
    let r = |method: M, path: &'static str, body: Option<Value>, access: Access| Row {
        method,
        path,
        body,
        self_record: false,
        access,
    };
    let sr = |method: M, path: &'static str, body: Option<Value>, access: Access| Row {
        method,
        path,
        body,
        self_record: true,
        access,
    };
    let decision = json!({"result": "approved"});
    vec![
        r(
            M::POST,
            "/v1/sessions",
            Some(json!({"mode": "live_agent", "applicant": {"name": "X"}})),
            Callers(&[(Key, 201), (AgentC, 201), (SupervisorC, 201), (AdminC, 201)]),
        ),
        r(
            M::GET,
            "/v1/sessions",
            None,
            Callers(&[
                (Key, 200),
                (AgentC, 200),
                (AuditorC, 200),
                (SupervisorC, 200),
                (AdminC, 200),
            ]),
        ),
        r(
            M::GET,
            "/v1/sessions/{A}",
            None,
            Callers(&[
                (Key, 200),
                (AgentA, 200),
                (CustomerA, 200),
                (ObserverA, 200),
                (AgentC, 200),
                (AuditorC, 200),
                (SupervisorC, 200),
                (AdminC, 200),
            ]),
        ),
        // A customer link: the key, and the consoles that run or oversee calls.
        r(
            M::POST,
            "/v1/sessions/{A}/tokens",
            Some(json!({"role": "customer"})),
            Callers(&[(Key, 201), (AgentC, 201), (SupervisorC, 201), (AdminC, 201)]),
        ),
        // Console accounts: sign-in and the first-admin link answer everyone alike (accounts
        // exist: `already_set_up`); the rest is for signed-in consoles.
        r(
            M::POST,
            "/v1/auth/login",
            Some(json!({"email": "agent@matrix.test", "password": "wrong password"})),
            Public(401, Some("invalid_credentials")),
        ),
        r(M::GET, "/v1/auth/me", None, Callers(staff!(200))),
        r(M::POST, "/v1/auth/logout", None, Callers(staff!(204))),
        r(
            M::POST,
            "/v1/auth/setup",
            Some(
                json!({"token": "x", "email": "x@matrix.test", "name": "X", "password": "a long enough password"}),
            ),
            Public(409, Some("already_set_up")),
        ),
        r(M::GET, "/v1/auth/sso", None, Public(200, None)),
        r(
            M::GET,
            "/v1/auth/sso/start",
            None,
            Public(404, Some("sso_disabled")),
        ),
        r(
            M::GET,
            "/v1/auth/sso/callback?code=x&state=y",
            None,
            Public(302, None),
        ),
        r(M::GET, "/v1/users", None, Callers(&[(AdminC, 200)])),
        r(
            M::POST,
            "/v1/users",
            Some(json!({"email": "new@matrix.test", "name": "New", "roles": ["agent"]})),
            Callers(&[(AdminC, 201)]),
        ),
        r(M::GET, "/v1/users/{U}", None, Callers(&[(AdminC, 200)])),
        r(
            M::PATCH,
            "/v1/users/{U}",
            Some(json!({"name": "Renamed Agent"})),
            Callers(&[(AdminC, 200)]),
        ),
        // Question banks: the back end and admins define them, all staff read them.
        r(
            M::PUT,
            "/v1/question-banks/matrix",
            Some(json!({"name": "Matrix", "ask": 1, "questions": [{"id": "q", "text": "Q?"}]})),
            Callers(&[(Key, 201), (AdminC, 200)]),
        ),
        r(
            M::GET,
            "/v1/question-banks",
            None,
            Callers(&[
                (Key, 200),
                (AgentC, 200),
                (AuditorC, 200),
                (SupervisorC, 200),
                (AdminC, 200),
            ]),
        ),
        r(
            M::GET,
            "/v1/question-banks/matrix",
            None,
            Callers(&[
                (Key, 200),
                (AgentC, 200),
                (AuditorC, 200),
                (SupervisorC, 200),
                (AdminC, 200),
            ]),
        ),
        r(
            M::DELETE,
            "/v1/question-banks/matrix",
            None,
            Callers(&[(Key, 204), (AdminC, 404)]),
        ),
        r(
            M::PUT,
            "/v1/sessions/{A}/legal-hold",
            Some(json!({"reason": "matter 7"})),
            Callers(&[(Key, 200), (AuditorC, 200), (AdminC, 200)]),
        ),
        r(
            M::DELETE,
            "/v1/sessions/{A}/legal-hold",
            None,
            Callers(&[(Key, 200), (AuditorC, 200), (AdminC, 200)]),
        ),
        r(
            M::GET,
            "/v1/activity?session={A}",
            None,
            Callers(&[(Key, 200), (AuditorC, 200), (AdminC, 200)]),
        ),
        // The sockets: a plain GET is no upgrade (400) once past authorisation.
        r(M::GET, "/v1/desk/ws", None, Callers(&[(AgentC, 400)])),
        r(M::GET, "/v1/queue/ws", None, Public(400, None)),
        r(
            M::GET,
            "/v1/desk/snapshot",
            None,
            Callers(&[(SupervisorC, 200), (AdminC, 200)]),
        ),
        // Session A is not waiting in the queue: past authorisation, `not_waiting`.
        r(
            M::POST,
            "/v1/desk/queue/{A}/reassign",
            Some(json!({"user_id": "{U}"})),
            Callers(&[(SupervisorC, 404), (AdminC, 404)]),
        ),
        r(
            M::POST,
            "/v1/sessions/{A}/cancel",
            None,
            Callers(&[(Key, 200)]),
        ),
        r(M::GET, "/v1/rooms", None, Callers(&[(Key, 200)])),
        // No call is live in A: past authorisation, `room_not_found`.
        r(
            M::POST,
            "/v1/rooms/{A}/end",
            None,
            Callers(&[(Key, 404), (AgentA, 404)]),
        ),
        r(M::GET, "/v1/events", None, Callers(&[(Key, 200)])),
        // The WebSocket: the token comes in the first message; a plain GET is no upgrade.
        r(M::GET, "/v1/rtc", None, Public(400, None)),
        r(M::GET, "/v1/schema/session.json", None, Public(200, None)),
        r(M::GET, "/v1/openapi.json", None, Public(200, None)),
        r(
            M::POST,
            "/v1/sessions/{A}/captures",
            Some(json!({"kind": "face", "image": png})),
            Callers(&[(Key, 201), (AgentA, 201), (CustomerA, 201)]),
        ),
        r(
            M::GET,
            "/v1/sessions/{A}/captures",
            None,
            Callers(&[(Key, 200), (AgentA, 200), (ObserverA, 200)]),
        ),
        r(
            M::GET,
            "/v1/sessions/{A}/captures/{C}",
            None,
            Callers(&[(Key, 200), (AgentA, 200), (ObserverA, 200)]),
        ),
        r(
            M::POST,
            "/v1/sessions/{A}/steps/consent/attempts",
            Some(json!({"text_version": "v1", "given": true})),
            Callers(&[(Key, 201), (AgentA, 201), (CustomerA, 201)]),
        ),
        r(
            M::POST,
            "/v1/sessions/{A}/steps/location/attempts",
            Some(json!({"latitude": 19.0, "longitude": 72.8})),
            Callers(&[(Key, 201), (AgentA, 201), (CustomerA, 201)]),
        ),
        r(
            M::POST,
            "/v1/sessions/{A}/steps/otp/attempts",
            Some(json!({"action": "send"})),
            Callers(&[(Key, 202), (AgentA, 202)]),
        ),
        // No code was sent in this A: `otp_not_sent`.
        r(
            M::POST,
            "/v1/sessions/{A}/steps/otp/attempts",
            Some(json!({"code": "123456"})),
            Callers(&[(Key, 409), (AgentA, 409), (CustomerA, 409)]),
        ),
        r(
            M::POST,
            "/v1/sessions/{A}/steps/questions/attempts",
            Some(json!({"answers": [{"id": "purpose", "value": "x"}]})),
            Callers(&[(Key, 201), (AgentA, 201)]),
        ),
        r(
            M::POST,
            "/v1/sessions/{A}/steps/document/attempts",
            Some(json!({"capture_id": "{C}", "kind": "pan"})),
            Callers(&[(Key, 201), (AgentA, 201)]),
        ),
        r(
            M::POST,
            "/v1/sessions/{A}/steps/face/attempts",
            Some(json!({"capture_id": "{C}"})),
            Callers(&[(Key, 201), (AgentA, 201)]),
        ),
        r(
            M::POST,
            "/v1/sessions/{A}/steps/face/attempts",
            Some(json!({"action": "challenge"})),
            Callers(&[(Key, 201), (AgentA, 201)]),
        ),
        r(
            M::POST,
            "/v1/sessions/{A}/steps/consent/decision",
            Some(json!({"verdict": "verified"})),
            Callers(&[(Key, 200), (AgentA, 200)]),
        ),
        // Once: the agent's token comes second and finds the key's decision.
        r(
            M::POST,
            "/v1/sessions/{A}/decision",
            Some(decision.clone()),
            Callers(&[(Key, 200), (AgentA, 409)]),
        ),
        // Only an auditor (observer token) audits; not even the api key. Nothing is decided
        // in this A yet: `not_decided`.
        r(
            M::POST,
            "/v1/sessions/{A}/audit",
            Some(json!({"verdict": "approved"})),
            Callers(&[(ObserverA, 409)]),
        ),
        r(
            M::GET,
            "/v1/sessions/{A}/kyc",
            None,
            Callers(&[
                (Key, 200),
                (AgentA, 200),
                (ObserverA, 200),
                (AgentC, 200),
                (AuditorC, 200),
                (SupervisorC, 200),
                (AdminC, 200),
            ]),
        ),
        // Recordings: `{R}` = the recording of a short call held in session A for the row.
        r(
            M::GET,
            "/v1/sessions/{A}/recordings",
            None,
            Callers(&[(Key, 200), (AgentA, 200), (ObserverA, 200)]),
        ),
        r(
            M::GET,
            "/v1/recordings/{R}",
            None,
            Callers(&[(Key, 200), (AgentA, 200), (ObserverA, 200)]),
        ),
        r(
            M::GET,
            "/v1/recordings/{R}/url",
            None,
            Callers(&[(Key, 200), (AgentA, 200), (ObserverA, 200)]),
        ),
        // The signed URL is the credential, not a bearer token: a wrong one is refused alike.
        r(
            M::GET,
            "/v1/recordings/{R}/media?expires=4102444800&sig=00",
            None,
            Public(403, Some("signed_url_invalid")),
        ),
        // Self-record (workflow consent, face): recording needs consent first; nothing was
        // uploaded in this A.
        sr(
            M::POST,
            "/v1/sessions/{A}/self-record",
            None,
            Callers(&[(Key, 409), (CustomerA, 409)]),
        ),
        sr(
            M::GET,
            "/v1/sessions/{A}/self-record",
            None,
            Callers(&[
                (Key, 200),
                (AgentA, 200),
                (CustomerA, 200),
                (ObserverA, 200),
            ]),
        ),
        sr(
            M::PUT,
            "/v1/sessions/{A}/self-record/video",
            None,
            Callers(&[(Key, 409), (CustomerA, 409)]),
        ),
        sr(
            M::GET,
            "/v1/sessions/{A}/self-record/video",
            None,
            Callers(&[(Key, 404), (AgentA, 404), (ObserverA, 404)]),
        ),
        sr(
            M::POST,
            "/v1/sessions/{A}/self-record/submit",
            Some(json!({"frames": []})),
            Callers(&[(Key, 409), (CustomerA, 409)]),
        ),
        // This server runs without the engines: past authorisation, `inference_disabled`.
        r(
            M::POST,
            "/v1/verify/face-match",
            Some(json!({"probe": png, "references": [png]})),
            Callers(&[(Key, 503)]),
        ),
        r(
            M::POST,
            "/v1/verify/liveness/challenges",
            Some(json!({})),
            Callers(&[(Key, 503)]),
        ),
        r(
            M::POST,
            "/v1/verify/liveness",
            Some(json!({"challenge_id": uuid::Uuid::new_v4(), "frames": []})),
            Callers(&[(Key, 503)]),
        ),
        r(
            M::POST,
            "/v1/verify/document",
            Some(json!({"kind": "pan", "image": png})),
            Callers(&[(Key, 503)]),
        ),
        // Webhooks: the lender's backend only. `{W}` = a subscription made for the row, `{D}`
        // = an unknown delivery (the api key gets past authorisation to a 404).
        r(
            M::POST,
            "/v1/webhooks",
            Some(json!({"url": "http://127.0.0.1:9/hook", "event_types": ["video.completed"]})),
            Callers(&[(Key, 201)]),
        ),
        r(M::GET, "/v1/webhooks", None, Callers(&[(Key, 200)])),
        r(M::GET, "/v1/webhooks/{W}", None, Callers(&[(Key, 200)])),
        r(
            M::GET,
            "/v1/webhooks/{W}/deliveries",
            None,
            Callers(&[(Key, 200)]),
        ),
        r(
            M::POST,
            "/v1/webhooks/deliveries/{D}/redeliver",
            None,
            Callers(&[(Key, 404)]),
        ),
        r(M::DELETE, "/v1/webhooks/{W}", None, Callers(&[(Key, 200)])),
    ]
}

/// The operations of the served OpenAPI document: (method, path template).
fn operations(doc: &Value) -> Vec<(String, String)> {
    let mut ops = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("the document has paths") {
        for method in ["get", "put", "post", "delete", "patch", "head", "options"] {
            if item.get(method).is_some() {
                ops.push((method.to_uppercase(), path.clone()));
            }
        }
    }
    ops
}

/// Whether a row's path (placeholders like `{A}`, a query) is an instance of a template.
fn instance_of(row_path: &str, template: &str) -> bool {
    let path = row_path.split('?').next().unwrap();
    let (a, b): (Vec<_>, Vec<_>) = (path.split('/').collect(), template.split('/').collect());
    a.len() == b.len()
        && a.iter()
            .zip(&b)
            .all(|(x, t)| (t.starts_with('{') && t.ends_with('}')) || x == t)
}

/// Validates an answer against the documented schema of its operation and status.
fn check_documented(
    doc: &Value,
    method: &str,
    template: &str,
    status: u16,
    content_type: &str,
    body: &Value,
    what: &str,
) {
    let response = &doc["paths"][template][method.to_lowercase()]["responses"][status.to_string()];
    assert!(
        response.is_object(),
        "{what}: status {status} is not documented for {method} {template}"
    );
    if !content_type.starts_with("application/json") {
        return;
    }
    let schema = &response["content"]["application/json"]["schema"];
    assert!(
        schema.is_object(),
        "{what}: a JSON answer, but no JSON schema is documented for {status}"
    );
    // The schema with the document's components beside it, so `#/components/…` resolves.
    let mut root = schema.clone();
    root["components"] = doc["components"].clone();
    let validator = jsonschema::validator_for(&root)
        .unwrap_or_else(|e| panic!("{what}: the documented schema does not compile: {e}"));
    let errors: Vec<String> = validator
        .iter_errors(body)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "{what}: the answer does not match the documented schema: {errors:#?}"
    );
}

/// Holds a short call (the agent alone) in the session and returns its recording's id.
async fn recorded_call(app: &TestApp, sid: &str, agent_token: &str) -> String {
    let peer = vkyc_loadtest::SimPeer::join(
        &app.ws_url(),
        agent_token,
        vkyc_loadtest::SimPeerOptions::default(),
    )
    .await
    .unwrap();
    let (s, _) = call(
        app,
        reqwest::Method::POST,
        &format!("/v1/rooms/{sid}/end"),
        API_KEY,
        None,
    )
    .await;
    assert_eq!(s, 200);
    peer.close().await;
    let (_, v) = call(
        app,
        reqwest::Method::GET,
        &format!("/v1/sessions/{sid}/recordings"),
        API_KEY,
        None,
    )
    .await;
    v["recordings"][0]["id"]
        .as_str()
        .expect("the call was recorded")
        .to_string()
}

#[tokio::test]
async fn every_endpoint_by_every_caller() {
    // Webhooks go to a closed port on this machine (never elsewhere). Every caller tries the
    // sign-in route: no sign-in rate limit here (tests/console.rs tests it).
    let app = spawn_app_with(|f| {
        with_staff(f, &STAFF.map(|(_, email, roles)| (email, roles, &[][..])))
            .merge(("webhooks.allowed_hosts", vec!["127.0.0.1"]))
            .merge(("console.login_per_email_per_minute", 0))
            .merge(("console.login_per_ip_per_minute", 0))
            // Every row answers wrong credentials 401: no blocking of the test's address.
            .merge(("limits.auth_failures_per_ip", 0))
    })
    .await;
    let mut consoles = std::collections::HashMap::new();
    for (who, email, _) in STAFF {
        consoles.insert(who, Console::sign_in(&app, email).await);
    }
    let agent_user = consoles[&AgentC].user_id();
    // No redirects followed: the SSO callback's answer is its redirect.
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let doc: Value = app
        .http
        .get(format!("{}/v1/openapi.json", app.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ops = operations(&doc);
    assert!(
        ops.len() >= 38,
        "the served route table has only {} operations",
        ops.len()
    );
    let rows = rows();
    // The table and the route table are the same set of endpoints.
    let mut row_op = Vec::new();
    for row in &rows {
        let matching: Vec<_> = ops
            .iter()
            .filter(|(m, t)| *m == row.method.as_str() && instance_of(row.path, t))
            .collect();
        assert_eq!(
            matching.len(),
            1,
            "{} {} is not exactly one operation of /v1/openapi.json: {matching:?}",
            row.method,
            row.path
        );
        row_op.push(matching[0].clone());
    }
    let missing: Vec<_> = ops.iter().filter(|op| !row_op.contains(op)).collect();
    assert!(
        missing.is_empty(),
        "operations served without a row in the role matrix (add one): {missing:?}"
    );

    let (b_id, b) = session(&app, "live_agent").await;
    let _ = b_id;
    let mut checked = 0;
    for (row, (_, template)) in rows.iter().zip(&row_op) {
        // A fresh session A per row: allowed calls may change it (cancel, decide…).
        let (a_id, a) = session(
            &app,
            if row.self_record {
                "self_record"
            } else {
                "live_agent"
            },
        )
        .await;
        let (_, cap) = call(
            &app,
            reqwest::Method::POST,
            &format!("/v1/sessions/{a_id}/captures"),
            API_KEY,
            Some(json!({"kind": "frame", "image": b64(&photo_bytes("person_b_1.jpg"))})),
        )
        .await;
        let cap_id = cap["id"].as_str().unwrap().to_string();
        let (_, hook) = call(
            &app,
            reqwest::Method::POST,
            "/v1/webhooks",
            API_KEY,
            Some(json!({"url": "http://127.0.0.1:9/hook", "event_types": ["video.completed"]})),
        )
        .await;
        let hook_id = hook["id"].as_str().unwrap().to_string();
        let rec_id = if row.path.contains("{R}") {
            recorded_call(&app, &a_id, &a.agent).await
        } else {
            String::new()
        };
        let path = row
            .path
            .replace("{R}", &rec_id)
            .replace("{A}", &a_id)
            .replace("{C}", &cap_id)
            .replace("{W}", &hook_id)
            .replace("{D}", &uuid::Uuid::new_v4().to_string())
            .replace("{U}", &agent_user);
        let body = row.body.as_ref().map(|b| {
            serde_json::from_str::<Value>(
                &b.to_string()
                    .replace("{C}", &cap_id)
                    .replace("{U}", &agent_user),
            )
            .unwrap()
        });
        // Cancelling revokes the session's tokens (401 `token_revoked`): the key, which
        // may cancel, goes last there, so every participant is told its role's answer.
        let mut order = ALL.to_vec();
        if row.path.ends_with("/cancel") {
            order.retain(|w| *w != Key);
            order.push(Key);
        }
        for who in order {
            let token = match who {
                Nobody => None,
                Garbage => Some("not-a-token".to_string()),
                Key => Some(API_KEY.to_string()),
                AgentA => Some(a.agent.clone()),
                CustomerA => Some(a.customer.clone()),
                ObserverA => Some(a.observer.clone()),
                AgentB => Some(b.agent.clone()),
                CustomerB => Some(b.customer.clone()),
                ObserverB => Some(b.observer.clone()),
                AgentC | AuditorC | SupervisorC | AdminC => None,
            };
            let mut req = http.request(row.method.clone(), format!("{}{path}", app.base));
            if let Some(t) = &token {
                req = req.bearer_auth(t);
            }
            if let Some(c) = consoles.get(&who) {
                req = req
                    .header("cookie", &c.cookie)
                    .header("x-csrf-token", &c.csrf);
            }
            req = match (&row.method, &body) {
                (_, Some(b)) => req.json(b),
                // The self-record video chunk (the only PUT without a JSON body).
                (&reqwest::Method::PUT, None) => req
                    .header("content-type", "video/webm")
                    .header("content-range", "bytes 0-9/10")
                    .body(vec![0u8; 10]),
                (_, None) => req,
            };
            let resp = req.send().await.unwrap();
            let status = resp.status().as_u16();
            let content_type = resp
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string();
            let v: Value = resp.json().await.unwrap_or(Value::Null);
            let code = v["error"]["code"].as_str().unwrap_or("").to_string();
            let what = format!("{} {} as {who:?}: {status} {v}", row.method, row.path);
            match (&row.access, who) {
                (Public(s, c), _) => {
                    assert_eq!(status, *s, "{what}");
                    if let Some(c) = c {
                        assert_eq!(code, *c, "{what}");
                    }
                }
                (_, Nobody | Garbage) => assert_eq!(status, 401, "{what}"),
                (_, w) if row.allowed(w).is_some() => {
                    assert_eq!(Some(status), row.allowed(w), "{what}")
                }
                // A recording is looked up by its own id: another session's token is told
                // what an unknown id is told.
                (_, AgentB | CustomerB | ObserverB)
                    if row.scoped() && row.path.starts_with("/v1/recordings/") =>
                {
                    assert_eq!(
                        (status, code.as_str()),
                        (404, "recording_not_found"),
                        "{what}"
                    )
                }
                (_, AgentB | CustomerB | ObserverB) if row.scoped() => assert_eq!(
                    (status, code.as_str()),
                    (403, "forbidden_session"),
                    "{what}"
                ),
                _ => assert_eq!((status, code.as_str()), (403, "forbidden_role"), "{what}"),
            }
            check_documented(
                &doc,
                row.method.as_str(),
                template,
                status,
                &content_type,
                &v,
                &what,
            );
            checked += 1;
        }
        if row.path == "/v1/auth/logout" {
            // Those consoles are signed out now: sign them in again for the next rows.
            for (who, email, _) in STAFF {
                consoles.insert(who, Console::sign_in(&app, email).await);
            }
        }
    }
    println!("role matrix: {checked} calls checked");
    assert_eq!(checked, rows.len() * ALL.len());
}
