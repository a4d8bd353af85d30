//! `/readyz` reports the supervision tree: a relay that cannot reach Kafka, or a dispatcher
//! that stopped for good, makes the node not ready (503, the reason naming the component);
//! it is ready again once the component runs again. A component that panics is restarted
//! by the application supervisor, and the readiness report counts it. A self-record session
//! left `processing` by a stop is finished by the processor when the server starts.
//!
//! The faults are injected with `POST /_faults/{component}` (the `fault-injection` feature,
//! on for test builds). The Kafka test needs tansu (`VKYC_TANSU_BIN`, which
//! tests/run-all.sh sets with `VKYC_KAFKA_BROKERS`): it starts its own broker behind a proxy
//! and cuts the proxy, so the relay's producer loses the broker for real.

#[path = "support/broker.rs"]
mod broker;
mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::*;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::Message;
use serde_json::{json, Value};

/// `GET /readyz`: (status, body).
async fn readyz(app: &TestApp) -> (u16, Value) {
    let resp = app
        .http
        .get(format!("{}/readyz", app.base))
        .send()
        .await
        .unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap())
}

/// Polls `/readyz` until `pred` holds (30 s at most: the components report within a second
/// or two, the slack is for a loaded machine).
async fn readyz_until(app: &TestApp, what: &str, pred: impl Fn(u16, &Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, body) = readyz(app).await;
        if pred(status, &body) {
            return body;
        }
        assert!(
            Instant::now() < deadline,
            "readyz never showed {what}; last: {status} {body:#}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn inject(app: &TestApp, component: &str) -> u16 {
    app.http
        .post(format!("{}/_faults/{component}", app.base))
        .bearer_auth(API_KEY)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

fn running(body: &Value, component: &str) -> bool {
    body["components"][component]["state"] == "running"
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_dispatcher_is_restarted_and_one_that_keeps_failing_makes_the_node_not_ready() {
    let app = spawn_app_with(|f| f.merge(("webhooks.enabled", true))).await;
    let body = readyz_until(&app, "ready", |s, b| s == 200 && running(b, "webhooks")).await;
    assert_eq!(body["status"], "ready");
    for c in [
        "rooms",
        "cases",
        "expiry",
        "self_record",
        "webhooks",
        "webhooks.fanout",
        "webhooks.deliverer",
    ] {
        assert_eq!(body["components"][c]["state"], "running", "{c}: {body:#}");
    }
    assert!(
        body["components"].get("relay").is_none(),
        "no relay with the embedded event log: {body:#}"
    );
    // The fault route needs the API key, and names a real component.
    let anon = app
        .http
        .post(format!("{}/_faults/webhooks", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(anon.status(), 401);
    assert_eq!(inject(&app, "nothing").await, 404);

    // One panic: restarted, counted, ready again, and published as supervisor.restarted.
    assert_eq!(inject(&app, "webhooks").await, 202);
    let body = readyz_until(&app, "the dispatcher restarted", |s, b| {
        s == 200 && b["components"]["webhooks"]["restarts"] == 1
    })
    .await;
    assert!(running(&body, "webhooks"), "{body:#}");
    let why = body["components"]["webhooks"]["last_failure"]
        .as_str()
        .unwrap();
    assert!(why.contains("webhook dispatcher: injected fault"), "{why}");
    let events = app.api.get("/v1/events?limit=1000").await.unwrap();
    assert!(
        events["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["type"] == "supervisor.restarted" && e["data"]["supervisor"] == "webhooks"),
        "{events:#}"
    );

    // The tree gives up after 5 restarts within a minute: then the node is not ready, and
    // says which component and why.
    for n in 2..=6 {
        readyz_until(&app, "the dispatcher running", |_, b| {
            running(b, "webhooks")
        })
        .await;
        assert_eq!(inject(&app, "webhooks").await, 202, "fault {n}");
        if n < 6 {
            readyz_until(&app, "the restart", |_, b| {
                b["components"]["webhooks"]["restarts"] == n
            })
            .await;
        }
    }
    let body = readyz_until(&app, "the dispatcher failed", |s, _| s == 503).await;
    assert_eq!(body["status"], "not_ready");
    assert_eq!(
        body["components"]["webhooks"]["state"], "failed",
        "{body:#}"
    );
    let reason = body["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("webhooks failed: ") && reason.contains("injected fault"),
        "{reason}"
    );
    // The rest of the node is untouched.
    assert!(
        running(&body, "rooms") && running(&body, "cases"),
        "{body:#}"
    );
    app.api
        .post(
            "/v1/sessions",
            json!({"mode": "live_agent", "applicant": {"name": "Still Served"}}),
        )
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_expiry_timer_and_the_self_record_processor_are_restarted() {
    let app = spawn_app().await;
    for c in ["expiry", "self_record"] {
        readyz_until(&app, "ready", |s, b| s == 200 && running(b, c)).await;
        assert_eq!(inject(&app, c).await, 202);
        let body = readyz_until(&app, "the restart", |s, b| {
            s == 200 && b["components"][c]["restarts"] == 1
        })
        .await;
        assert!(
            body["components"][c]["last_failure"]
                .as_str()
                .unwrap()
                .contains("injected fault"),
            "{body:#}"
        );
    }
}

/// The case supervisor panics: the tree starts a new one, the HTTP layer's handle reaches
/// it, and the case is loaded again from the store with what it held.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_case_supervisor_is_restarted_and_the_cases_are_kept() {
    let app = spawn_app().await;
    let s = app.api.post("/v1/sessions", json!({"mode": "live_agent", "applicant": {"name": "Case Restart"}, "workflow": ["consent", "location"]})).await.unwrap();
    let id = s["id"].as_str().unwrap().to_string();
    let customer = app.api.token(&id, "customer").await.unwrap().token;
    let agent = app.api.token(&id, "agent").await.unwrap().token;
    let steps = format!("/v1/sessions/{id}/steps");
    let (st, v) = call(
        &app,
        reqwest::Method::POST,
        &format!("{steps}/consent/attempts"),
        &customer,
        Some(json!({"text_version": "v1", "given": true})),
    )
    .await;
    assert_eq!(st, 201, "{v}");

    readyz_until(&app, "ready", |s, b| s == 200 && running(b, "cases")).await;
    assert_eq!(inject(&app, "cases").await, 202);
    let body = readyz_until(&app, "the case supervisor restarted", |s, b| {
        s == 200 && b["components"]["cases"]["restarts"] == 1
    })
    .await;
    assert!(
        body["components"]["cases"]["last_failure"]
            .as_str()
            .unwrap()
            .contains("case supervisor: injected fault"),
        "{body:#}"
    );

    // The same handle, a new supervisor: the consent is still there, and the case goes on.
    let (st, v) = call(
        &app,
        reqwest::Method::POST,
        &format!("{steps}/location/attempts"),
        &customer,
        Some(json!({"latitude": 19.07, "longitude": 72.88, "accuracy_m": 30.0})),
    )
    .await;
    assert_eq!(st, 201, "{v}");
    let (st, kyc) = call(
        &app,
        reqwest::Method::GET,
        &format!("/v1/sessions/{id}/kyc"),
        &agent,
        None,
    )
    .await;
    assert_eq!(st, 200, "{kyc}");
    let attempts: Vec<usize> = kyc["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["attempts"].as_array().unwrap().len())
        .collect();
    assert_eq!(attempts, vec![1, 1], "{kyc:#}");
    let events = app.api.get("/v1/events?limit=1000").await.unwrap();
    assert!(
        events["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["type"] == "supervisor.restarted" && e["data"]["supervisor"] == "cases"),
        "{events:#}"
    );
}

/// An inference pool's supervisor panics: the tree starts a new pool in its place, and the
/// verification API (holding the same handle) answers from it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_inference_pool_is_replaced_and_the_api_uses_the_new_one() {
    let app = spawn_app_with_inference().await;
    let photo = b64(&photo_bytes("person_b_1.jpg"));
    let face_match = || async {
        let r = app
            .http
            .post(format!("{}/v1/verify/face-match", app.base))
            .bearer_auth(API_KEY)
            .json(&json!({"probe": photo, "references": [photo]}))
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json::<Value>().await.unwrap())
    };
    let (st, v) = face_match().await;
    assert_eq!(st, 200, "{v}");
    readyz_until(&app, "ready", |s, b| {
        s == 200 && running(b, "inference.face")
    })
    .await;
    assert_eq!(inject(&app, "inference.face").await, 202);
    let body = readyz_until(&app, "the pool replaced", |s, b| {
        s == 200 && b["components"]["inference.face"]["restarts"] == 1
    })
    .await;
    assert!(
        body["components"]["inference.face"]["last_failure"]
            .as_str()
            .unwrap()
            .contains("face pool: injected fault"),
        "{body:#}"
    );
    let (st, v) = face_match().await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["matched"], true, "{v}");
}

/// A session the server stopped while checking it (phase `processing`, written straight
/// into the data dir as the stopped server left it) is finished when the server starts:
/// without its frames the checks cannot run again, so the result asks for review.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_self_record_session_left_processing_is_finished_at_start() {
    use vkyc::store::{EmbeddedStore, Store};
    use vkyc_domain::session::{NewSession, SelfRecordPhase, SelfRecordState, Session};

    let dir = tempfile::tempdir().unwrap();
    let id = {
        let config =
            vkyc::config::Config::extract(vkyc::config::Config::figment("test", None).unwrap())
                .unwrap();
        let store: std::sync::Arc<dyn Store> =
            std::sync::Arc::new(EmbeddedStore::open(dir.path()).unwrap());
        let new: NewSession = serde_json::from_value(
            json!({"mode": "self_record", "applicant": {"name": "Interrupted Person"}}),
        )
        .unwrap();
        let session = Session::create(
            new,
            config.kyc.session_ttl_secs,
            &config.kyc.self_record,
            chrono::Utc::now(),
        )
        .unwrap();
        store.create_session(&session).await.unwrap();
        let now = chrono::Utc::now();
        let stuck = SelfRecordState {
            phase: SelfRecordPhase::Processing,
            challenge_id: uuid::Uuid::new_v4(),
            started_at: now,
            video_type: Some("video/webm".into()),
            video_total: Some(4),
            video_received: 4,
            video_chunks: 1,
            submitted_at: Some(now),
            processed_at: None,
            failed_checks: 0,
        };
        store
            .update_session(session.id, move |s| {
                s.self_record = Some(stuck.clone());
                Ok::<_, vkyc::error::ApiError>(((), None))
            })
            .await
            .unwrap();
        session.id
    };

    let data_dir = dir.path().to_path_buf();
    let app = spawn_app_with(move |f| f.merge(("storage.data_dir", data_dir))).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    let sr = loop {
        let sr = app
            .api
            .get(&format!("/v1/sessions/{id}/self-record"))
            .await
            .unwrap();
        if sr["phase"] == "done" {
            break sr;
        }
        assert!(Instant::now() < deadline, "the session stayed {sr:#}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(sr["processed_at"].is_string(), "{sr:#}");
    let session = app.api.get(&format!("/v1/sessions/{id}")).await.unwrap();
    assert_eq!(
        session["kyc"]["agent_decision"]["result"], "needs_review",
        "{session:#}"
    );
    assert_eq!(session["status"], "completed", "{session:#}");
}

/// Fresh topics for one run: family → name.
fn new_topics() -> BTreeMap<&'static str, String> {
    let run = uuid::Uuid::new_v4().simple().to_string();
    [
        "sessions",
        "rooms",
        "steps",
        "recordings",
        "stats",
        "webhooks",
        "desk",
    ]
    .iter()
    .map(|f| (*f, format!("r{}.{f}", &run[..12])))
    .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs a Kafka broker: VKYC_KAFKA_BROKERS (tests/run-all.sh starts tansu)"]
async fn a_relay_that_loses_kafka_makes_the_node_not_ready_until_it_is_back_and_a_panicking_relay_is_restarted(
) {
    let (port, front) = (broker::free_port(), broker::free_port());
    let _tansu = broker::start_tansu(port, front).await;
    let proxy = broker::Proxy::new(
        ([127, 0, 0, 1], front).into(),
        ([127, 0, 0, 1], port).into(),
    );
    proxy.start();
    let brokers = format!("127.0.0.1:{front}");
    let topics = new_topics();
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", &brokers)
        .create()
        .unwrap();
    let new: Vec<NewTopic> = topics
        .values()
        .map(|t| NewTopic::new(t, 1, TopicReplication::Fixed(1)))
        .collect();
    for r in admin
        .create_topics(
            &new,
            &AdminOptions::new().operation_timeout(Some(Duration::from_secs(10))),
        )
        .await
        .unwrap()
    {
        r.expect("topic created");
    }
    let (b, t) = (brokers.clone(), topics.clone());
    let app = spawn_app_with(move |mut f| {
        f = f
            .merge(("events.backend", "kafka"))
            .merge(("events.kafka.brokers", b));
        for (family, name) in t {
            f = f.merge((format!("events.kafka.topics.{family}"), name));
        }
        f
    })
    .await;
    let create = |name: &str| json!({"mode": "live_agent", "applicant": {"name": name}});
    let before = app
        .api
        .post("/v1/sessions", create("Before Outage"))
        .await
        .unwrap();
    readyz_until(&app, "ready with the broker up", |s, b| {
        s == 200 && running(b, "relay") && running(b, "relay.broker")
    })
    .await;

    // The broker goes away: the relay's producer cannot reach it, the node is not ready and
    // says why; the API still takes requests (the events wait in the outbox).
    proxy.stop();
    let body = readyz_until(&app, "not ready without the broker", |s, _| s == 503).await;
    assert_eq!(
        body["components"]["relay.broker"]["state"], "failed",
        "{body:#}"
    );
    let reason = body["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("relay.broker failed: the Kafka relay cannot reach a broker"),
        "{reason}"
    );
    let during = app
        .api
        .post("/v1/sessions", create("During Outage"))
        .await
        .unwrap();

    // It comes back: ready again, and what waited is published.
    proxy.start();
    readyz_until(&app, "ready with the broker back", |s, b| {
        s == 200 && running(b, "relay.broker")
    })
    .await;

    // A relay that panics is restarted from its cursor and keeps publishing.
    assert_eq!(inject(&app, "relay").await, 202);
    let body = readyz_until(&app, "the relay restarted", |s, b| {
        s == 200 && b["components"]["relay"]["restarts"] == 1
    })
    .await;
    assert!(
        body["components"]["relay"]["last_failure"]
            .as_str()
            .unwrap()
            .contains("kafka relay: injected fault"),
        "{body:#}"
    );
    let after = app
        .api
        .post("/v1/sessions", create("After Restart"))
        .await
        .unwrap();

    let consumer = broker::topic_reader(&brokers, &[topics["sessions"].as_str()]);
    let mut want: Vec<String> = [&before, &during, &after]
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_string())
        .collect();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !want.is_empty() {
        let left = deadline.saturating_duration_since(Instant::now());
        let m = tokio::time::timeout(left, consumer.recv())
            .await
            .unwrap_or_else(|_| panic!("never published: {want:?}"))
            .unwrap();
        let event: Value = serde_json::from_slice(m.payload().unwrap_or_default()).unwrap();
        if event["type"] == "session.created" {
            want.retain(|id| event["subject"] != id.as_str());
        }
    }
}
