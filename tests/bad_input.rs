//! Table-driven bad input: each case gets its precise status and stable code, and nothing
//! that was stored before is disturbed.

mod common;

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use jsonwebtoken::{encode, EncodingKey, Header};
use reqwest::Method;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;
use uuid::Uuid;
use vkyc::auth::JoinClaims;
use vkyc_domain::Role;

fn craft(sid: Uuid, role: Role, exp_offset: i64, secret: &str) -> String {
    let now = chrono::Utc::now().timestamp();
    let claims = JoinClaims {
        sid: sid.into(),
        sub: role.as_str().into(),
        role,
        iat: now,
        exp: now + exp_offset,
        jti: Uuid::new_v4(),
        aud: "vkyc-join".into(),
    };
    encode(
        &Header::default(),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

enum Body {
    None,
    Json(Value),
    Raw(&'static str, String),
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_bad_input_gets_precise_errors() {
    let app = common::spawn_app().await;
    let sid: Uuid = app
        .api
        .create_session("Bad Input")
        .await
        .unwrap()
        .parse()
        .unwrap();
    let other: Uuid = app
        .api
        .create_session("Other Session")
        .await
        .unwrap()
        .parse()
        .unwrap();
    let before = app.api.get(&format!("/v1/sessions/{sid}")).await.unwrap();
    let key = format!("Bearer {}", common::API_KEY);
    let customer = format!(
        "Bearer {}",
        app.api
            .token(&sid.to_string(), "customer")
            .await
            .unwrap()
            .token
    );
    let agent = format!(
        "Bearer {}",
        app.api
            .token(&sid.to_string(), "agent")
            .await
            .unwrap()
            .token
    );
    let foreign = format!(
        "Bearer {}",
        app.api
            .token(&other.to_string(), "agent")
            .await
            .unwrap()
            .token
    );
    let expired = format!(
        "Bearer {}",
        craft(sid, Role::Agent, -10, common::JWT_SECRET)
    );
    let forged = format!(
        "Bearer {}",
        craft(
            sid,
            Role::Agent,
            600,
            "not-the-server-secret-0123456789abcdef"
        )
    );
    let new_session = json!({"mode": "live_agent", "applicant": {"name": "X"}});

    // (name, method, path, Authorization, body, expected status, expected code)
    type Case<'a> = (&'a str, Method, String, Option<&'a str>, Body, u16, &'a str);
    let cases: Vec<Case> = vec![
        (
            "unknown session",
            Method::GET,
            format!("/v1/sessions/{}", Uuid::new_v4()),
            Some(&key),
            Body::None,
            404,
            "session_not_found",
        ),
        (
            "id not a uuid",
            Method::GET,
            "/v1/sessions/abc".into(),
            Some(&key),
            Body::None,
            400,
            "invalid_path",
        ),
        (
            "no credentials",
            Method::POST,
            "/v1/sessions".into(),
            None,
            Body::Json(new_session.clone()),
            401,
            "missing_credentials",
        ),
        (
            "garbage token",
            Method::POST,
            "/v1/sessions".into(),
            Some("Bearer abc.def.ghi"),
            Body::Json(new_session.clone()),
            401,
            "invalid_token",
        ),
        (
            "forged token",
            Method::GET,
            format!("/v1/sessions/{sid}"),
            Some(&forged),
            Body::None,
            401,
            "invalid_token",
        ),
        (
            "expired token",
            Method::GET,
            format!("/v1/sessions/{sid}"),
            Some(&expired),
            Body::None,
            401,
            "token_expired",
        ),
        (
            "foreign token",
            Method::GET,
            format!("/v1/sessions/{sid}"),
            Some(&foreign),
            Body::None,
            403,
            "forbidden_session",
        ),
        (
            "customer creates session",
            Method::POST,
            "/v1/sessions".into(),
            Some(&customer),
            Body::Json(new_session.clone()),
            403,
            "forbidden_role",
        ),
        (
            "customer lists rooms",
            Method::GET,
            "/v1/rooms".into(),
            Some(&customer),
            Body::None,
            403,
            "forbidden_role",
        ),
        (
            "customer issues tokens",
            Method::POST,
            format!("/v1/sessions/{sid}/tokens"),
            Some(&customer),
            Body::Json(json!({"role":"agent"})),
            403,
            "forbidden_role",
        ),
        (
            "customer ends call",
            Method::POST,
            format!("/v1/rooms/{sid}/end"),
            Some(&customer),
            Body::None,
            403,
            "forbidden_role",
        ),
        (
            "agent reads events",
            Method::GET,
            "/v1/events".into(),
            Some(&agent),
            Body::None,
            403,
            "forbidden_role",
        ),
        (
            "malformed json",
            Method::POST,
            "/v1/sessions".into(),
            Some(&key),
            Body::Raw("application/json", "{\"mode\":".into()),
            400,
            "malformed_json",
        ),
        (
            "wrong type",
            Method::POST,
            "/v1/sessions".into(),
            Some(&key),
            Body::Json(json!({"mode": 5, "applicant": {"name": "X"}})),
            422,
            "validation_failed",
        ),
        (
            "empty name",
            Method::POST,
            "/v1/sessions".into(),
            Some(&key),
            Body::Json(json!({"mode": "live_agent", "applicant": {"name": " "}})),
            422,
            "validation_failed",
        ),
        (
            "unknown field",
            Method::POST,
            "/v1/sessions".into(),
            Some(&key),
            Body::Json(json!({"mode": "live_agent", "applicant": {"name": "X"}, "admin": true})),
            422,
            "validation_failed",
        ),
        (
            "oversized body",
            Method::POST,
            "/v1/sessions".into(),
            Some(&key),
            Body::Raw(
                "application/json",
                format!("{{\"a\":\"{}\"}}", "x".repeat(100_000)),
            ),
            413,
            "payload_too_large",
        ),
        (
            "not json",
            Method::POST,
            "/v1/sessions".into(),
            Some(&key),
            Body::Raw("text/plain", "hello".into()),
            415,
            "unsupported_media_type",
        ),
        (
            "unknown role",
            Method::POST,
            format!("/v1/sessions/{sid}/tokens"),
            Some(&key),
            Body::Json(json!({"role": "admin"})),
            422,
            "validation_failed",
        ),
        (
            "zero ttl",
            Method::POST,
            format!("/v1/sessions/{sid}/tokens"),
            Some(&key),
            Body::Json(json!({"role": "agent", "ttl_seconds": 0})),
            422,
            "validation_failed",
        ),
        (
            "bad participant id",
            Method::POST,
            format!("/v1/sessions/{sid}/tokens"),
            Some(&key),
            Body::Json(json!({"role": "agent", "participant_id": "a b<>"})),
            422,
            "validation_failed",
        ),
        (
            "a customer named agent",
            Method::POST,
            format!("/v1/sessions/{sid}/tokens"),
            Some(&key),
            Body::Json(json!({"role": "customer", "participant_id": "agent"})),
            422,
            "participant_role_mismatch",
        ),
        (
            "an agent named as an observer",
            Method::POST,
            format!("/v1/sessions/{sid}/tokens"),
            Some(&key),
            Body::Json(json!({"role": "agent", "participant_id": "observer-1234"})),
            422,
            "participant_role_mismatch",
        ),
        (
            "a token for eight days",
            Method::POST,
            format!("/v1/sessions/{sid}/tokens"),
            Some(&key),
            Body::Json(json!({"role": "customer", "ttl_seconds": 691200})),
            422,
            "validation_failed",
        ),
        (
            "no live call to end",
            Method::POST,
            format!("/v1/rooms/{sid}/end"),
            Some(&key),
            Body::None,
            404,
            "room_not_found",
        ),
        (
            "bad cursor",
            Method::GET,
            "/v1/events?after=abc".into(),
            Some(&key),
            Body::None,
            400,
            "invalid_query",
        ),
        (
            "limit out of range",
            Method::GET,
            "/v1/sessions?limit=0".into(),
            Some(&key),
            Body::None,
            400,
            "invalid_query",
        ),
        (
            "unknown endpoint",
            Method::GET,
            "/v1/nope".into(),
            Some(&key),
            Body::None,
            404,
            "not_found",
        ),
        // The order of the checks: path, body, credentials, the token's session and role, and
        // only then whether the session exists.
        (
            "body before credentials",
            Method::POST,
            "/v1/sessions".into(),
            None,
            Body::Raw("application/json", "{".into()),
            400,
            "malformed_json",
        ),
        (
            "body before the session",
            Method::POST,
            format!("/v1/sessions/{}/decision", Uuid::new_v4()),
            Some(&key),
            Body::Raw("application/json", "{".into()),
            400,
            "malformed_json",
        ),
        (
            "token before the session",
            Method::GET,
            format!("/v1/sessions/{}", Uuid::new_v4()),
            Some(&foreign),
            Body::None,
            403,
            "forbidden_session",
        ),
        (
            "path before the body",
            Method::POST,
            "/v1/sessions/abc/decision".into(),
            Some(&key),
            Body::Raw("application/json", "{".into()),
            400,
            "invalid_path",
        ),
        (
            "unknown step",
            Method::POST,
            format!("/v1/sessions/{sid}/steps/nope/attempts"),
            Some(&key),
            Body::Json(json!({})),
            404,
            "unknown_step",
        ),
        (
            "step body before the step",
            Method::POST,
            format!("/v1/sessions/{sid}/steps/nope/attempts"),
            Some(&key),
            Body::Raw("application/json", "{".into()),
            400,
            "malformed_json",
        ),
        (
            "step before credentials",
            Method::POST,
            format!("/v1/sessions/{sid}/steps/nope/attempts"),
            None,
            Body::Json(json!({})),
            404,
            "unknown_step",
        ),
        (
            "name with a zero-width space",
            Method::POST,
            "/v1/sessions".into(),
            Some(&key),
            Body::Json(json!({"mode": "live_agent", "applicant": {"name": "Asha\u{200B}Rao"}})),
            422,
            "validation_failed",
        ),
        (
            "name with a bidi override",
            Method::POST,
            "/v1/sessions".into(),
            Some(&key),
            Body::Json(json!({"mode": "live_agent", "applicant": {"name": "Asha \u{202E}oaR"}})),
            422,
            "validation_failed",
        ),
        (
            "date of birth 1990-1-5",
            Method::POST,
            "/v1/sessions".into(),
            Some(&key),
            Body::Json(
                json!({"mode": "live_agent", "applicant": {"name": "A B", "date_of_birth": "1990-1-5"}}),
            ),
            422,
            "validation_failed",
        ),
        (
            "date of birth +1990-01-01",
            Method::POST,
            "/v1/sessions".into(),
            Some(&key),
            Body::Json(
                json!({"mode": "live_agent", "applicant": {"name": "A B", "date_of_birth": "+1990-01-01"}}),
            ),
            422,
            "validation_failed",
        ),
        (
            "a JSON key twice",
            Method::POST,
            "/v1/sessions".into(),
            Some(&key),
            Body::Raw(
                "application/json",
                r#"{"mode": "live_agent", "mode": "self_record", "applicant": {"name": "A B"}}"#
                    .into(),
            ),
            400,
            "duplicate_json_key",
        ),
        (
            "a nested JSON key twice",
            Method::POST,
            "/v1/sessions".into(),
            Some(&key),
            Body::Raw(
                "application/json",
                r#"{"mode": "live_agent", "applicant": {"name": "A B", "name": "C D"}}"#.into(),
            ),
            400,
            "duplicate_json_key",
        ),
        (
            "an empty one-time code",
            Method::POST,
            format!("/v1/sessions/{sid}/steps/otp/attempts"),
            Some(&customer),
            Body::Json(json!({"code": ""})),
            422,
            "validation_failed",
        ),
        (
            "a short one-time code",
            Method::POST,
            format!("/v1/sessions/{sid}/steps/otp/attempts"),
            Some(&customer),
            Body::Json(json!({"code": "123"})),
            422,
            "validation_failed",
        ),
    ];

    let mut failures = vec![];
    for (name, method, path, auth, body, status, code) in cases {
        let mut req = app.http.request(method, format!("{}{path}", app.base));
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        req = match body {
            Body::None => req,
            Body::Json(v) => req.json(&v),
            Body::Raw(ct, s) => req.header("content-type", ct).body(s),
        };
        let resp = req.send().await.unwrap();
        let got_status = resp.status().as_u16();
        let v: Value = resp.json().await.unwrap_or(Value::Null);
        let got_code = v["error"]["code"].as_str().unwrap_or("<none>").to_string();
        println!("{name:28} → {got_status} {got_code}");
        if got_status != status || got_code != code {
            failures.push(format!(
                "{name}: expected {status} {code}, got {got_status} {got_code} ({v})"
            ));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");

    // Answers with personal data are never stored by a browser or a proxy; errors neither.
    for path in [
        format!("/v1/sessions/{sid}"),
        "/v1/sessions".to_string(),
        format!("/v1/sessions/{}", Uuid::new_v4()),
    ] {
        let r = app
            .http
            .get(format!("{}{path}", app.base))
            .bearer_auth(common::API_KEY)
            .send()
            .await
            .unwrap();
        assert_eq!(r.headers()["cache-control"], "no-store", "{path}");
    }

    // Nothing was disturbed.
    assert_eq!(
        app.api.get(&format!("/v1/sessions/{sid}")).await.unwrap(),
        before
    );
    let listed = app.api.get("/v1/sessions").await.unwrap();
    assert_eq!(listed["sessions"].as_array().unwrap().len(), 2);
}

struct Ws {
    inner: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
}

impl Ws {
    async fn open(app: &common::TestApp) -> Ws {
        Ws {
            inner: tokio_tungstenite::connect_async(app.ws_url())
                .await
                .unwrap()
                .0,
        }
    }
    async fn send(&mut self, text: String) {
        self.inner.send(Message::Text(text)).await.unwrap();
    }
    /// Next message of `kind`; `None` if the socket closes first or nothing comes.
    async fn next(&mut self, kind: &str) -> Option<Value> {
        let wait = async {
            while let Some(Ok(m)) = self.inner.next().await {
                if let Message::Text(t) = m {
                    let v: Value = serde_json::from_str(&t).unwrap();
                    if v["type"] == kind {
                        return Some(v);
                    }
                }
            }
            None
        };
        tokio::time::timeout(Duration::from_secs(10), wait)
            .await
            .ok()
            .flatten()
    }
    async fn closed(&mut self) -> bool {
        let wait = async {
            loop {
                match self.inner.next().await {
                    None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return true,
                    _ => continue,
                }
            }
        };
        tokio::time::timeout(Duration::from_secs(10), wait)
            .await
            .unwrap_or(false)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signalling_bad_input_gets_precise_errors() {
    let app = common::spawn_app().await;
    let sid: Uuid = app
        .api
        .create_session("WS Bad Input")
        .await
        .unwrap()
        .parse()
        .unwrap();
    let agent = app
        .api
        .token(&sid.to_string(), "agent")
        .await
        .unwrap()
        .token;
    let customer = app
        .api
        .token(&sid.to_string(), "customer")
        .await
        .unwrap()
        .token;

    // Before join: errors, connection stays open.
    let mut ws = Ws::open(&app).await;
    for (frame, code) in [
        ("not json".to_string(), "bad_message"),
        ("{\"no\":\"type\"}".to_string(), "bad_message"),
        ("{\"type\":\"dance\"}".to_string(), "unknown_type"),
        ("{\"type\":\"join\"}".to_string(), "bad_message"),
        (
            "{\"type\":\"answer\",\"sdp\":\"v=0\"}".to_string(),
            "not_joined",
        ),
    ] {
        ws.send(frame.clone()).await;
        let e = ws
            .next("error")
            .await
            .unwrap_or_else(|| panic!("no error for {frame}"));
        assert_eq!(e["code"], code, "{frame}: {e}");
    }

    // Fatal join errors: error, then close.
    for (token, code) in [
        ("garbage".to_string(), "invalid_token"),
        (
            craft(sid, Role::Customer, -10, common::JWT_SECRET),
            "token_expired",
        ),
        (
            craft(
                sid,
                Role::Customer,
                600,
                "not-the-server-secret-0123456789abcdef",
            ),
            "invalid_token",
        ),
        (
            craft(Uuid::new_v4(), Role::Customer, 600, common::JWT_SECRET),
            "session_not_found",
        ),
    ] {
        let mut ws = Ws::open(&app).await;
        ws.send(json!({"type": "join", "token": token}).to_string())
            .await;
        let e = ws.next("error").await.expect("an error");
        assert_eq!(e["code"], code, "{e}");
        assert!(ws.closed().await, "{code}: socket stays open");
    }

    // Joined: bad SDP and role violations are refused, the call survives.
    let mut a = Ws::open(&app).await;
    a.send(json!({"type": "join", "token": agent}).to_string())
        .await;
    a.next("joined").await.expect("agent joined");
    let mut c = Ws::open(&app).await;
    c.send(json!({"type": "join", "token": customer}).to_string())
        .await;
    let joined = c.next("joined").await.expect("customer joined");
    c.next("offer").await.expect("server offers");
    for (frame, code) in [
        (json!({"type": "answer", "sdp": "garbage"}).to_string(), "bad_sdp"),
        (json!({"type": "answer", "sdp": "v=0\r\no=- 0 0 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\n"}).to_string(), "bad_sdp"),
        (json!({"type": "answer", "sdp": "v".repeat(40_000)}).to_string(), "sdp_too_large"),
        (json!({"type": "join", "token": "x"}).to_string(), "already_joined"),
        (json!({"type": "end"}).to_string(), "forbidden"),
        (json!({"type": "mute", "peer_id": Uuid::new_v4(), "kind": "audio", "muted": true}).to_string(), "forbidden"),
        (json!({"type": "teleport"}).to_string(), "unknown_type"),
    ] {
        c.send(frame.clone()).await;
        let e = c.next("error").await.unwrap_or_else(|| panic!("no error for {}", &frame[..frame.len().min(60)]));
        assert_eq!(e["code"], code, "{}: {e}", &frame[..frame.len().min(60)]);
    }
    a.send(
        json!({"type": "mute", "peer_id": Uuid::new_v4(), "kind": "audio", "muted": true})
            .to_string(),
    )
    .await;
    assert_eq!(a.next("error").await.unwrap()["code"], "unknown_peer");

    // The room is intact: both peers still listed.
    let rooms = app.api.get("/v1/rooms").await.unwrap();
    assert_eq!(
        rooms["rooms"][0]["peers"].as_array().unwrap().len(),
        2,
        "{rooms}"
    );
    let _ = joined;

    // A frame over the size limit closes that connection only.
    c.send(format!(
        "{{\"type\":\"ping\",\"x\":\"{}\"}}",
        "y".repeat(70_000)
    ))
    .await;
    assert!(c.closed().await);
    a.send(json!({"type": "ping"}).to_string()).await;
    assert!(a.next("pong").await.is_some(), "agent connection affected");
}

/// A client that waited on a slow step (OCR, liveness: seconds under load) reuses its idle
/// connection: the server must still be there. actix's default 5 s keep-alive closed it,
/// and a request sent as it closed failed with an incomplete message (seen in CI on the
/// capture after a document step).
#[tokio::test]
async fn an_idle_keep_alive_connection_is_kept_longer_than_a_slow_step() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = common::spawn_app().await;
    let addr = app.base.trim_start_matches("http://").to_string();
    let mut conn = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let request = format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\n\r\n");
    async fn read_response(conn: &mut tokio::net::TcpStream) -> String {
        let mut buf = vec![0u8; 4096];
        let mut got = Vec::new();
        // The whole (small) response: headers and a body of Content-Length bytes.
        loop {
            let n = conn.read(&mut buf).await.unwrap();
            assert!(
                n > 0,
                "the server closed the connection; got so far: {:?}",
                String::from_utf8_lossy(&got)
            );
            got.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&got).to_string();
            if let Some((head, body)) = text.split_once("\r\n\r\n") {
                let len = head
                    .lines()
                    .find_map(|l| {
                        l.to_ascii_lowercase()
                            .strip_prefix("content-length:")
                            .map(|v| v.trim().parse::<usize>().unwrap())
                    })
                    .unwrap_or(0);
                if body.len() >= len {
                    return text;
                }
            }
        }
    }
    conn.write_all(request.as_bytes()).await.unwrap();
    assert!(read_response(&mut conn).await.starts_with("HTTP/1.1 200"));
    // Idle longer than the old 5 s keep-alive, then the same connection again.
    tokio::time::sleep(std::time::Duration::from_secs(7)).await;
    conn.write_all(request.as_bytes()).await.unwrap();
    assert!(read_response(&mut conn).await.starts_with("HTTP/1.1 200"));
}
