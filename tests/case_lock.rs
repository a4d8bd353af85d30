//! The case lock, over HTTP: after the agent's decision (and after the auditor's verdict)
//! every endpoint that changes a case answers 409 `already_decided` and changes nothing;
//! after a `recapture` audit the same calls are taken again. One table: every mutating
//! endpoint × {decided, audited, recaptured}.
//!
//! Also: in a group call each applicant's customer receives only their own liveness prompt.

mod common;

use std::time::Duration;

use common::*;
use reqwest::Method;
use serde_json::{json, Value};
use vkyc_loadtest::{SimPeer, SimPeerOptions};

const WORKFLOW: [&str; 6] = [
    "consent",
    "location",
    "otp",
    "questions",
    "document",
    "face",
];

#[derive(Clone, Copy, Debug, PartialEq)]
enum State {
    /// The agent decided.
    Decided,
    /// The agent decided and the auditor approved.
    Audited,
    /// The agent decided and the auditor asked for a recapture: open again.
    Recaptured,
}

struct Case {
    id: String,
    agent: String,
    customer: String,
    auditor: String,
    /// Captures stored while the case was open, for the document and face attempts.
    document: String,
    face: String,
}

fn png() -> Vec<u8> {
    let img = image::RgbImage::from_fn(64, 48, |x, y| {
        image::Rgb([(x * 4) as u8, (y * 5) as u8, 128])
    });
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

async fn post(app: &TestApp, path: &str, token: &str, body: Value) -> (u16, Value) {
    call(app, Method::POST, path, token, Some(body)).await
}

/// A session with every step type, captures and a code sent while open, brought to `state`.
async fn case_in(app: &TestApp, state: State) -> Case {
    let (s, v) = post(
        app,
        "/v1/sessions",
        API_KEY,
        json!({"mode": "live_agent", "applicant": {"name": "Lock Test"}, "workflow": WORKFLOW}),
    )
    .await;
    assert_eq!(s, 201, "{v}");
    let id = v["id"].as_str().unwrap().to_string();
    let agent = app.api.token(&id, "agent").await.unwrap().token;
    let customer = app.api.token(&id, "customer").await.unwrap().token;
    let auditor = app.api.token(&id, "observer").await.unwrap().token;
    let mut ids = vec![];
    for kind in ["document", "face"] {
        let (s, v) = post(
            app,
            &format!("/v1/sessions/{id}/captures"),
            &agent,
            json!({"kind": kind, "image": b64(&png())}),
        )
        .await;
        assert_eq!(s, 201, "{v}");
        ids.push(v["id"].as_str().unwrap().to_string());
    }
    // A code is waiting, so that verifying one is a real change the lock must refuse.
    let (s, v) = post(
        app,
        &format!("/v1/sessions/{id}/steps/otp/attempts"),
        &agent,
        json!({"action": "send"}),
    )
    .await;
    assert_eq!(s, 202, "{v}");
    let (s, v) = post(
        app,
        &format!("/v1/sessions/{id}/decision"),
        &agent,
        json!({"result": "approved"}),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    match state {
        State::Decided => {}
        State::Audited | State::Recaptured => {
            let verdict = if state == State::Audited {
                "approved"
            } else {
                "recapture"
            };
            let (s, v) = post(
                app,
                &format!("/v1/sessions/{id}/audit"),
                &auditor,
                json!({"verdict": verdict}),
            )
            .await;
            assert_eq!(s, 200, "{v}");
        }
    }
    let (document, face) = (ids[0].clone(), ids[1].clone());
    Case {
        id,
        agent,
        customer,
        auditor,
        document,
        face,
    }
}

/// One mutating call: (name, token, path, body, status when the case is open).
fn mutations(c: &Case) -> Vec<(String, String, String, Value, u16)> {
    let steps = format!("/v1/sessions/{}/steps", c.id);
    let mut m = vec![
        (
            "consent attempt".into(),
            c.customer.clone(),
            format!("{steps}/consent/attempts"),
            json!({"text_version": "v1", "given": true}),
            201,
        ),
        (
            "location attempt".into(),
            c.customer.clone(),
            format!("{steps}/location/attempts"),
            json!({"latitude": 19.07, "longitude": 72.88}),
            201,
        ),
        (
            "otp send".into(),
            c.agent.clone(),
            format!("{steps}/otp/attempts"),
            json!({"action": "send"}),
            202,
        ),
        (
            "otp verify".into(),
            c.customer.clone(),
            format!("{steps}/otp/attempts"),
            json!({"code": "000000"}),
            201,
        ),
        (
            "questions attempt".into(),
            c.agent.clone(),
            format!("{steps}/questions/attempts"),
            json!({"answers": [{"id": "purpose", "value": "home loan"}]}),
            201,
        ),
        (
            "document attempt".into(),
            c.agent.clone(),
            format!("{steps}/document/attempts"),
            json!({"capture_id": c.document, "kind": "pan"}),
            201,
        ),
        (
            "face attempt".into(),
            c.agent.clone(),
            format!("{steps}/face/attempts"),
            json!({"capture_id": c.face}),
            201,
        ),
        (
            "liveness challenge".into(),
            c.agent.clone(),
            format!("{steps}/face/attempts"),
            json!({"action": "challenge"}),
            201,
        ),
        (
            "capture".into(),
            c.agent.clone(),
            format!("/v1/sessions/{}/captures", c.id),
            json!({"kind": "frame", "image": b64(&png())}),
            201,
        ),
    ];
    for step in WORKFLOW {
        m.push((
            format!("{step} decision"),
            c.agent.clone(),
            format!("{steps}/{step}/decision"),
            json!({"verdict": "verified"}),
            200,
        ));
    }
    // Last: the agent's decision closes a reopened case again.
    m.push((
        "agent decision".into(),
        c.agent.clone(),
        format!("/v1/sessions/{}/decision", c.id),
        json!({"result": "declined"}),
        200,
    ));
    m
}

async fn case_doc(app: &TestApp, c: &Case) -> Value {
    let (s, v) = call(
        app,
        Method::GET,
        &format!("/v1/sessions/{}/kyc", c.id),
        API_KEY,
        None,
    )
    .await;
    assert_eq!(s, 200, "{v}");
    v
}

async fn captures(app: &TestApp, c: &Case) -> usize {
    let (s, v) = call(
        app,
        Method::GET,
        &format!("/v1/sessions/{}/captures", c.id),
        API_KEY,
        None,
    )
    .await;
    assert_eq!(s, 200, "{v}");
    v["captures"].as_array().unwrap().len()
}

#[tokio::test]
async fn no_change_after_the_decision_except_after_a_recapture() {
    let app = spawn_app().await;
    let questions = app
        .api
        .get(&format!(
            "/v1/sessions/{}/kyc",
            case_in(&app, State::Decided).await.id
        ))
        .await
        .unwrap();
    assert!(
        questions["questions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|q| q["id"] == "purpose"),
        "the test config asks 'purpose': {questions}"
    );
    for state in [State::Decided, State::Audited, State::Recaptured] {
        let c = case_in(&app, state).await;
        let before = case_doc(&app, &c).await;
        let stored = captures(&app, &c).await;
        let expected_stage = match state {
            State::Decided => "decided",
            State::Audited => "audited",
            State::Recaptured => "reopened",
        };
        assert_eq!(before["stage"], expected_stage, "{before}");
        for (name, token, path, body, open_status) in mutations(&c) {
            let (s, v) = post(&app, &path, &token, body).await;
            if state == State::Recaptured {
                assert_eq!(s, open_status, "{state:?} {name}: {v}");
            } else {
                assert_eq!(
                    (s, v["error"]["code"].as_str()),
                    (409, Some("already_decided")),
                    "{state:?} {name}: {v}"
                );
            }
        }
        let after = case_doc(&app, &c).await;
        if state == State::Recaptured {
            // Every step has a new attempt and a decision; the agent decided again.
            for step in [
                "consent",
                "location",
                "otp",
                "questions",
                "document",
                "face",
            ] {
                let s = after["steps"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|s| s["type"] == step)
                    .unwrap();
                assert!(!s["attempts"].as_array().unwrap().is_empty(), "{step}: {s}");
                assert_eq!(s["decision"]["verdict"], "verified", "{step}: {s}");
            }
            assert_eq!(after["agent_decision"]["result"], "declined");
            assert_eq!(
                after["stage"], "decided",
                "the new decision closes the case again"
            );
            assert_eq!(captures(&app, &c).await, stored + 1);
            // Closed again: a further attempt is refused.
            let (s, v) = post(
                &app,
                &format!("/v1/sessions/{}/steps/consent/attempts", c.id),
                &c.customer,
                json!({"text_version": "v1", "given": true}),
            )
            .await;
            assert_eq!(
                (s, v["error"]["code"].as_str()),
                (409, Some("already_decided")),
                "{v}"
            );
        } else {
            assert_eq!(
                after, before,
                "{state:?}: a refused change changed the case"
            );
            assert_eq!(
                captures(&app, &c).await,
                stored,
                "{state:?}: a refused capture was stored"
            );
        }
        // The audit: taken once after a decision, never twice, and not on a reopened case
        // before the agent decides again.
        let (s, v) = post(
            &app,
            &format!("/v1/sessions/{}/audit", c.id),
            &c.auditor,
            json!({"verdict": "approved"}),
        )
        .await;
        match state {
            State::Decided | State::Recaptured => assert_eq!(s, 200, "{state:?} audit: {v}"),
            State::Audited => assert_eq!(
                (s, v["error"]["code"].as_str()),
                (409, Some("already_decided")),
                "{v}"
            ),
        }
    }
    // A reopened case is not audited before the agent decides again.
    let c = case_in(&app, State::Recaptured).await;
    let (s, v) = post(
        &app,
        &format!("/v1/sessions/{}/audit", c.id),
        &c.auditor,
        json!({"verdict": "approved"}),
    )
    .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (409, Some("not_decided")),
        "{v}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_a_group_call_each_applicant_receives_only_their_own_liveness_prompt() {
    let app = spawn_app().await;
    let (s, parent) = post(
        &app,
        "/v1/sessions",
        API_KEY,
        json!({"mode": "live_agent", "applicant": {"name": "Applicant One"}, "workflow": ["face"]}),
    )
    .await;
    assert_eq!(s, 201, "{parent}");
    let pid = parent["id"].as_str().unwrap().to_string();
    let mut children = vec![];
    for i in 2..=3 {
        let (s, c) = post(&app, "/v1/sessions", API_KEY, json!({"mode": "live_agent", "applicant": {"name": format!("Applicant {i}")}, "workflow": ["face"], "parent_id": pid})).await;
        assert_eq!(s, 201, "{c}");
        children.push(c["id"].as_str().unwrap().to_string());
    }
    let join = |sid: String, role: &'static str| {
        let app = &app;
        async move {
            SimPeer::join(
                &app.ws_url(),
                &app.api.token(&sid, role).await.unwrap().token,
                SimPeerOptions {
                    publish: false,
                    sink: None,
                },
            )
            .await
            .unwrap()
        }
    };
    let _agent = join(pid.clone(), "agent").await;
    let customers = [
        join(pid.clone(), "customer").await,
        join(children[0].clone(), "customer").await,
        join(children[1].clone(), "customer").await,
    ];
    let sessions = [pid.clone(), children[0].clone(), children[1].clone()];

    // Each session's challenge, the last applicant's first: every customer's first prompt
    // must be their own session's (a prompt sent to the whole call would arrive first).
    let mut issued = vec![];
    for sid in sessions.iter().rev() {
        let (s, v) = post(
            &app,
            &format!("/v1/sessions/{sid}/steps/face/attempts"),
            API_KEY,
            json!({"action": "challenge"}),
        )
        .await;
        assert_eq!(s, 201, "{v}");
        assert_eq!(
            v["customers_prompted"], 1,
            "exactly this applicant's customer: {v}"
        );
        issued.push((
            sid.clone(),
            v["challenge"]["challenge_id"].as_str().unwrap().to_string(),
        ));
    }
    for (customer, sid) in customers.iter().zip(&sessions) {
        let own = &issued.iter().find(|(s, _)| s == sid).unwrap().1;
        let prompt = customer
            .wait_event("prompt", Duration::from_secs(10))
            .await
            .unwrap_or_else(|| panic!("{sid}: no prompt"));
        assert_eq!(
            prompt["prompt"]["challenge_id"].as_str(),
            Some(own.as_str()),
            "{sid}: {prompt}"
        );
    }
}

/// A step that keeps failing can be retaken `kyc.max_retries` times (default 2); then the
/// next attempt is refused and the agent decides — the step or the case.
#[tokio::test]
async fn a_step_that_keeps_failing_stops_after_its_retries_and_the_agent_decides() {
    let app = spawn_app().await;
    let (status, s) = call(&app, reqwest::Method::POST, "/v1/sessions", API_KEY, Some(json!({"mode": "live_agent", "applicant": {"name": "Test Person"}, "workflow": ["location", "face"]}))).await;
    assert_eq!(status, 201, "{s}");
    let id = s["id"].as_str().unwrap();
    let agent = app.api.token(id, "agent").await.unwrap().token;
    let path = format!("/v1/sessions/{id}/steps/location/attempts");
    // Outside the configured region: each attempt is recorded and fails.
    let outside = json!({"latitude": 51.5, "longitude": -0.12});
    for n in 1..=3 {
        let (status, v) = post(&app, &path, &agent, outside.clone()).await;
        assert_eq!(
            (
                status,
                v["attempt"]["n"].as_u64(),
                v["attempt"]["outcome"].as_str()
            ),
            (201, Some(n), Some("failed")),
            "{v}"
        );
    }
    let (status, v) = post(
        &app,
        &path,
        &agent,
        json!({"latitude": 19.07, "longitude": 72.88}),
    )
    .await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (409, Some("retries_exhausted")),
        "{v}"
    );
    // Nothing was added, and the agent can still decide.
    let (_, doc) = call(
        &app,
        reqwest::Method::GET,
        &format!("/v1/sessions/{id}/kyc"),
        &agent,
        None,
    )
    .await;
    assert_eq!(doc["steps"][0]["attempts"].as_array().unwrap().len(), 3);
    let (status, v) = post(
        &app,
        &format!("/v1/sessions/{id}/decision"),
        &agent,
        json!({"result": "declined"}),
    )
    .await;
    assert_eq!(status, 200, "{v}");
}
