//! The role matrix: every endpoint × every kind of caller, table-driven. Callers: no token,
//! a garbage token, the api key, session A's agent / customer / observer tokens, and
//! session B's agent / customer / observer tokens. For each endpoint the table names who may
//! call it; everyone else must be refused with the precise code (401 without a valid token,
//! 403 `forbidden_session` with another session's token, 403 `forbidden_role` otherwise),
//! and the allowed callers must get past authorisation (whatever the business answer).

mod common;

use common::*;
use serde_json::{json, Value};

#[derive(Clone, Copy, PartialEq, Debug)]
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
}
use Who::*;

const ALL: [Who; 9] = [Nobody, Garbage, Key, AgentA, CustomerA, ObserverA, AgentB, CustomerB, ObserverB];

struct Tokens {
    agent: String,
    customer: String,
    observer: String,
}

async fn session(app: &TestApp, mode: &str) -> (String, Tokens) {
    let wf = if mode == "self_record" { json!(["consent", "face"]) } else { json!(["consent", "location", "otp", "questions", "document", "face"]) };
    let (s, v) = call(app, reqwest::Method::POST, "/v1/sessions", API_KEY, Some(json!({"mode": mode, "applicant": {"name": "Matrix Person"}, "workflow": wf}))).await;
    assert_eq!(s, 201, "{v}");
    let id = v["id"].as_str().unwrap().to_string();
    let t = |role: &'static str| {
        let id = id.clone();
        async move { app.api.token(&id, role).await.unwrap().token }
    };
    let tokens = Tokens { agent: t("agent").await, customer: t("customer").await, observer: t("observer").await };
    (id, tokens)
}

/// One row: method, path (`{A}` = session A's id, `{C}` = a capture of A), body, who may.
struct Row {
    method: reqwest::Method,
    path: &'static str,
    body: Option<Value>,
    self_record: bool,
    scoped: bool,
    allowed: &'static [Who],
}

fn rows() -> Vec<Row> {
    use reqwest::Method as M;
    let png = b64(&{
        let mut out = Vec::new();
        image::RgbImage::from_pixel(64, 64, image::Rgb([120, 110, 100])).write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png).unwrap();
        out
    });
    // Scoped: a session's participant tokens may call it (so another session's get
    // forbidden_session); api-key-only endpoints refuse every token with forbidden_role.
    let scoped = |allowed: &[Who]| allowed.iter().any(|w| matches!(w, AgentA | CustomerA | ObserverA));
    let r = |method: M, path: &'static str, body: Option<Value>, allowed: &'static [Who]| Row { method, path, body, self_record: false, scoped: scoped(allowed), allowed };
    let sr = |method: M, path: &'static str, body: Option<Value>, allowed: &'static [Who]| Row { method, path, body, self_record: true, scoped: true, allowed };
    let decision = json!({"result": "approved"});
    vec![
        r(M::POST, "/v1/sessions", Some(json!({"mode": "live_agent", "applicant": {"name": "X"}})), &[Key]),
        r(M::GET, "/v1/sessions", None, &[Key]),
        r(M::GET, "/v1/sessions/{A}", None, &[Key, AgentA, CustomerA, ObserverA]),
        r(M::POST, "/v1/sessions/{A}/tokens", Some(json!({"role": "customer"})), &[Key]),
        r(M::POST, "/v1/sessions/{A}/cancel", None, &[Key]),
        r(M::GET, "/v1/rooms", None, &[Key]),
        r(M::POST, "/v1/rooms/{A}/end", None, &[Key, AgentA]),
        r(M::GET, "/v1/events", None, &[Key]),
        r(M::POST, "/v1/sessions/{A}/captures", Some(json!({"kind": "face", "image": png})), &[Key, AgentA, CustomerA]),
        r(M::GET, "/v1/sessions/{A}/captures", None, &[Key, AgentA, ObserverA]),
        r(M::GET, "/v1/sessions/{A}/captures/{C}", None, &[Key, AgentA, ObserverA]),
        r(M::POST, "/v1/sessions/{A}/steps/consent/attempts", Some(json!({"text_version": "v1", "given": true})), &[Key, AgentA, CustomerA]),
        r(M::POST, "/v1/sessions/{A}/steps/location/attempts", Some(json!({"latitude": 19.0, "longitude": 72.8})), &[Key, AgentA, CustomerA]),
        r(M::POST, "/v1/sessions/{A}/steps/otp/attempts", Some(json!({"action": "send"})), &[Key, AgentA]),
        r(M::POST, "/v1/sessions/{A}/steps/otp/attempts", Some(json!({"code": "123456"})), &[Key, AgentA, CustomerA]),
        r(M::POST, "/v1/sessions/{A}/steps/questions/attempts", Some(json!({"answers": [{"id": "purpose", "value": "x"}]})), &[Key, AgentA]),
        r(M::POST, "/v1/sessions/{A}/steps/document/attempts", Some(json!({"capture_id": "{C}", "kind": "pan"})), &[Key, AgentA]),
        r(M::POST, "/v1/sessions/{A}/steps/face/attempts", Some(json!({"capture_id": "{C}"})), &[Key, AgentA]),
        r(M::POST, "/v1/sessions/{A}/steps/face/attempts", Some(json!({"action": "challenge"})), &[Key, AgentA]),
        r(M::POST, "/v1/sessions/{A}/steps/consent/decision", Some(json!({"verdict": "verified"})), &[Key, AgentA]),
        r(M::POST, "/v1/sessions/{A}/decision", Some(decision.clone()), &[Key, AgentA]),
        // Only an auditor (observer token) audits; not even the api key.
        r(M::POST, "/v1/sessions/{A}/audit", Some(json!({"verdict": "approved"})), &[ObserverA]),
        r(M::GET, "/v1/sessions/{A}/kyc", None, &[Key, AgentA, ObserverA]),
        // Recordings: `{R}` = the recording of a short call held in session A for the row.
        r(M::GET, "/v1/sessions/{A}/recordings", None, &[Key, AgentA, ObserverA]),
        r(M::GET, "/v1/recordings/{R}", None, &[Key, AgentA, ObserverA]),
        r(M::GET, "/v1/recordings/{R}/url", None, &[Key, AgentA, ObserverA]),
        sr(M::POST, "/v1/sessions/{A}/self-record", None, &[Key, CustomerA]),
        sr(M::GET, "/v1/sessions/{A}/self-record", None, &[Key, AgentA, CustomerA, ObserverA]),
        sr(M::PUT, "/v1/sessions/{A}/self-record/video", None, &[Key, CustomerA]),
        sr(M::GET, "/v1/sessions/{A}/self-record/video", None, &[Key, AgentA, ObserverA]),
        sr(M::POST, "/v1/sessions/{A}/self-record/submit", Some(json!({"frames": []})), &[Key, CustomerA]),
        r(M::POST, "/v1/verify/face-match", Some(json!({"probe": png, "references": [png]})), &[Key]),
        r(M::POST, "/v1/verify/liveness/challenges", Some(json!({})), &[Key]),
        r(M::POST, "/v1/verify/liveness", Some(json!({"challenge_id": uuid::Uuid::new_v4(), "frames": []})), &[Key]),
        r(M::POST, "/v1/verify/document", Some(json!({"kind": "pan", "image": png})), &[Key]),
        // Webhooks: the lender's backend only. `{W}` = a subscription made for the row, `{D}`
        // = an unknown delivery (the api key gets past authorisation to a 404).
        r(M::POST, "/v1/webhooks", Some(json!({"url": "http://203.0.113.10/hook", "event_types": ["video.completed"]})), &[Key]),
        r(M::GET, "/v1/webhooks", None, &[Key]),
        r(M::GET, "/v1/webhooks/{W}", None, &[Key]),
        r(M::GET, "/v1/webhooks/{W}/deliveries", None, &[Key]),
        r(M::POST, "/v1/webhooks/deliveries/{D}/redeliver", None, &[Key]),
        r(M::DELETE, "/v1/webhooks/{W}", None, &[Key]),
    ]
}

/// Holds a short call (the agent alone) in the session and returns its recording's id.
async fn recorded_call(app: &TestApp, sid: &str, agent_token: &str) -> String {
    let peer = vkyc_loadtest::SimPeer::join(&app.ws_url(), agent_token, vkyc_loadtest::SimPeerOptions::default()).await.unwrap();
    let (s, _) = call(app, reqwest::Method::POST, &format!("/v1/rooms/{sid}/end"), API_KEY, None).await;
    assert_eq!(s, 200);
    peer.close().await;
    let (_, v) = call(app, reqwest::Method::GET, &format!("/v1/sessions/{sid}/recordings"), API_KEY, None).await;
    v["recordings"][0]["id"].as_str().expect("the call was recorded").to_string()
}

#[tokio::test]
async fn every_endpoint_by_every_caller() {
    let app = spawn_app().await;
    let (b_id, b) = session(&app, "live_agent").await;
    let _ = b_id;
    let mut checked = 0;
    for row in rows() {
        // A fresh session A per row: allowed calls may change it (cancel, decide…).
        let (a_id, a) = session(&app, if row.self_record { "self_record" } else { "live_agent" }).await;
        let (_, cap) = call(&app, reqwest::Method::POST, &format!("/v1/sessions/{a_id}/captures"), API_KEY, Some(json!({"kind": "frame", "image": b64(&photo_bytes("person_b_1.jpg"))}))).await;
        let cap_id = cap["id"].as_str().unwrap().to_string();
        let (_, hook) = call(&app, reqwest::Method::POST, "/v1/webhooks", API_KEY, Some(json!({"url": "http://203.0.113.10/hook", "event_types": ["video.completed"]}))).await;
        let hook_id = hook["id"].as_str().unwrap().to_string();
        let rec_id = if row.path.contains("{R}") { recorded_call(&app, &a_id, &a.agent).await } else { String::new() };
        let path = row.path.replace("{R}", &rec_id).replace("{A}", &a_id).replace("{C}", &cap_id).replace("{W}", &hook_id).replace("{D}", &uuid::Uuid::new_v4().to_string());
        let body = row.body.as_ref().map(|b| serde_json::from_str::<Value>(&b.to_string().replace("{C}", &cap_id)).unwrap());
        for who in ALL {
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
            };
            let mut req = app.http.request(row.method.clone(), format!("{}{path}", app.base));
            if let Some(t) = &token {
                req = req.bearer_auth(t);
            }
            req = match (&row.method, &body) {
                (&reqwest::Method::PUT, _) => req.header("content-type", "video/webm").header("content-range", "bytes 0-9/10").body(vec![0u8; 10]),
                (_, Some(b)) => req.json(b),
                (_, None) => req,
            };
            let resp = req.send().await.unwrap();
            let status = resp.status().as_u16();
            let v: Value = resp.json().await.unwrap_or(Value::Null);
            let code = v["error"]["code"].as_str().unwrap_or("").to_string();
            let what = format!("{} {} as {who:?}: {status} {v}", row.method, row.path);
            match who {
                Nobody | Garbage => assert_eq!(status, 401, "{what}"),
                w if row.allowed.contains(&w) => assert!(status != 401 && status != 403, "{what}"),
                AgentB | CustomerB | ObserverB if row.scoped => assert_eq!((status, code.as_str()), (403, "forbidden_session"), "{what}"),
                _ => assert_eq!((status, code.as_str()), (403, "forbidden_role"), "{what}"),
            }
            checked += 1;
        }
    }
    println!("role matrix: {checked} calls checked");
}
