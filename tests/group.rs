//! Multi-applicant (group) sessions: up to 10 applicants share one live call, each with
//! their own session, workflow and case; the 11th is refused; the applicants' customers join
//! the parent's call as distinct participants (real WebRTC peers over the real signalling);
//! the agent decides the group on the parent session.

mod common;

use std::time::Duration;

use common::*;
use serde_json::{json, Value};
use vkyc_loadtest::{SimPeer, SimPeerOptions};

async fn create(app: &TestApp, body: Value) -> (u16, Value) {
    call(
        app,
        reqwest::Method::POST,
        "/v1/sessions",
        API_KEY,
        Some(body),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_applicants_share_a_call_the_eleventh_is_refused_and_the_parent_is_decided() {
    let app = spawn_app().await;
    let (s, parent) = create(&app, json!({"mode": "live_agent", "applicant": {"name": "Applicant One"}, "workflow": ["consent", "location"]})).await;
    assert_eq!(s, 201);
    let pid = parent["id"].as_str().unwrap().to_string();
    let mut children = vec![];
    for i in 2..=10 {
        // Each applicant has their own workflow.
        let wf = if i % 2 == 0 {
            json!(["consent"])
        } else {
            json!(["consent", "location"])
        };
        let (s, c) = create(&app, json!({"mode": "live_agent", "applicant": {"name": format!("Applicant {i}")}, "workflow": wf, "parent_id": pid})).await;
        assert_eq!(s, 201, "{c}");
        assert_eq!(c["parent_id"], pid.as_str());
        children.push(c["id"].as_str().unwrap().to_string());
    }
    // The 11th applicant.
    let (s, v) = create(
        &app,
        json!({"mode": "live_agent", "applicant": {"name": "Applicant 11"}, "parent_id": pid}),
    )
    .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (409, Some("too_many_participants")),
        "{v}"
    );
    // Groups are flat, live, and need a real parent.
    let (s, v) = create(
        &app,
        json!({"mode": "live_agent", "applicant": {"name": "X"}, "parent_id": children[0]}),
    )
    .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (409, Some("parent_is_child")),
        "{v}"
    );
    let (s, v) = create(&app, json!({"mode": "live_agent", "applicant": {"name": "X"}, "parent_id": uuid::Uuid::new_v4()})).await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (409, Some("parent_not_found")),
        "{v}"
    );
    let (s, v) = create(
        &app,
        json!({"mode": "self_record", "applicant": {"name": "X"}, "parent_id": pid}),
    )
    .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (422, Some("validation_failed")),
        "{v}"
    );

    let (_, doc) = call(
        &app,
        reqwest::Method::GET,
        &format!("/v1/sessions/{pid}"),
        API_KEY,
        None,
    )
    .await;
    assert_eq!(doc["participants"].as_array().unwrap().len(), 9);
    assert_eq!(doc["group"]["participants"].as_array().unwrap().len(), 9);

    // The agent (parent's token) and two applicants' customers (their own sessions' tokens)
    // meet in the parent's call as three distinct participants.
    let agent = SimPeer::join(
        &app.ws_url(),
        &app.api.token(&pid, "agent").await.unwrap().token,
        SimPeerOptions::default(),
    )
    .await
    .unwrap();
    let c1 = SimPeer::join(
        &app.ws_url(),
        &app.api.token(&children[0], "customer").await.unwrap().token,
        SimPeerOptions::default(),
    )
    .await
    .unwrap();
    let c2 = SimPeer::join(
        &app.ws_url(),
        &app.api.token(&children[1], "customer").await.unwrap().token,
        SimPeerOptions::default(),
    )
    .await
    .unwrap();
    let rooms = app.api.get("/v1/rooms").await.unwrap();
    let room = rooms["rooms"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["session_id"] == pid.as_str())
        .expect("the parent's room")
        .clone();
    let mut ids: Vec<String> = room["peers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["participant_id"].as_str().unwrap().to_string())
        .collect();
    ids.sort();
    assert_eq!(ids.len(), 3, "{room}");
    assert!(ids.contains(&"agent".to_string()));
    assert!(
        ids.iter().filter(|i| i.starts_with("customer@")).count() == 2,
        "{ids:?}"
    );
    assert_eq!(
        rooms["rooms"].as_array().unwrap().len(),
        1,
        "no room of their own for the applicants"
    );
    // Every applicant's session is in the call with the parent.
    let (_, c) = call(
        &app,
        reqwest::Method::GET,
        &format!("/v1/sessions/{}", children[5]),
        API_KEY,
        None,
    )
    .await;
    assert_eq!(c["status"], "in_progress", "{c}");

    // Each applicant's steps are their own; the agent decides the group on the parent.
    let cust1 = app.api.token(&children[0], "customer").await.unwrap().token;
    let (s, _) = call(
        &app,
        reqwest::Method::POST,
        &format!("/v1/sessions/{}/steps/consent/attempts", children[0]),
        &cust1,
        Some(json!({"text_version": "v1", "given": true})),
    )
    .await;
    assert_eq!(s, 201);
    let (s, v) = call(
        &app,
        reqwest::Method::POST,
        &format!("/v1/sessions/{}/steps/location/attempts", children[0]),
        &cust1,
        Some(json!({"latitude": 1.0, "longitude": 2.0})),
    )
    .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (422, Some("step_not_in_workflow")),
        "{v}"
    );
    let (s, v) = call(
        &app,
        reqwest::Method::POST,
        &format!("/v1/sessions/{}/decision", children[0]),
        API_KEY,
        Some(json!({"result": "approved"})),
    )
    .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (409, Some("decide_on_parent")),
        "{v}"
    );
    let (s, v) = call(
        &app,
        reqwest::Method::POST,
        &format!("/v1/sessions/{pid}/decision"),
        API_KEY,
        Some(json!({"result": "declined", "notes": "group declined"})),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let (_, doc) = call(
        &app,
        reqwest::Method::GET,
        &format!("/v1/sessions/{pid}"),
        API_KEY,
        None,
    )
    .await;
    let members = doc["group"]["participants"].as_array().unwrap();
    assert!(
        members.iter().all(|m| m["result"] == "declined"),
        "{members:?}"
    );
    // The group's recommendation: the most severe (steps missing → needs_review).
    assert_eq!(doc["group"]["recommendation"], "needs_review");
    assert_session_schema(&app, &doc).await;

    for p in [&agent, &c1, &c2] {
        p.close().await;
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
}
