//! Signed webhooks, black-box: the real server on a random port, a local receiver (actix-web)
//! that fails on demand, signatures checked by an independent implementation (Python's
//! stdlib `hmac`/`hashlib`/`base64`), a fast retry schedule (0.2 s, 0.4 s, 0.8 s).

#[path = "support/broker.rs"]
mod broker;
mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use reqwest::Method;
use serde_json::{json, Value};
use vkyc_loadtest::{SimPeer, SimPeerOptions};

const SCHEDULE: [f64; 3] = [0.2, 0.4, 0.8];

async fn webhook_app() -> TestApp {
    spawn_app_with(|f| {
        f.merge(("webhooks.allowed_hosts", vec!["127.0.0.1"]))
            .merge(("webhooks.retry_schedule_secs", SCHEDULE.to_vec()))
            .merge(("webhooks.retry_jitter", 0.1))
            .merge(("webhooks.poll_interval_ms", 20))
            .merge(("webhooks.request_timeout_ms", 2000))
    })
    .await
}

#[derive(Debug, Clone)]
struct Hit {
    path: String,
    id: String,
    timestamp: String,
    signature: String,
    body: String,
    status: u16,
    at: Instant,
}

impl Hit {
    fn event(&self) -> Value {
        serde_json::from_str(&self.body).unwrap()
    }
}

/// A webhook receiver: answers 500 while `failures` is above zero (counting it down), then 200.
#[derive(Clone)]
struct Receiver {
    base: String,
    hits: Arc<Mutex<Vec<Hit>>>,
    failures: Arc<AtomicUsize>,
}

impl Receiver {
    async fn start(failures: usize) -> Self {
        let hits: Arc<Mutex<Vec<Hit>>> = Arc::default();
        let failures = Arc::new(AtomicUsize::new(failures));
        let (h, f) = (hits.clone(), failures.clone());
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = actix_web::HttpServer::new(move || {
            let (h, f) = (h.clone(), f.clone());
            actix_web::App::new().default_service(actix_web::web::to(
                move |req: actix_web::HttpRequest, body: actix_web::web::Bytes| {
                    let (h, f) = (h.clone(), f.clone());
                    async move {
                        let header = |n: &str| {
                            req.headers()
                                .get(n)
                                .and_then(|v| v.to_str().ok())
                                .unwrap_or_default()
                                .to_string()
                        };
                        let fail = f
                            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                            .is_ok();
                        let status = if fail { 500 } else { 200 };
                        h.lock().unwrap().push(Hit {
                            path: req.path().to_string(),
                            id: header("webhook-id"),
                            timestamp: header("webhook-timestamp"),
                            signature: header("webhook-signature"),
                            body: String::from_utf8(body.to_vec()).unwrap(),
                            status,
                            at: Instant::now(),
                        });
                        actix_web::HttpResponse::build(
                            actix_web::http::StatusCode::from_u16(status).unwrap(),
                        )
                        .body("ok")
                    }
                },
            ))
        })
        .workers(1)
        .listen(listener)
        .unwrap()
        .run();
        tokio::spawn(server);
        Self {
            base: format!("http://127.0.0.1:{port}"),
            hits,
            failures,
        }
    }

    fn hits(&self, path: &str) -> Vec<Hit> {
        self.hits
            .lock()
            .unwrap()
            .iter()
            .filter(|h| h.path == path)
            .cloned()
            .collect()
    }

    /// Waits until `done` holds for the hits on `path`.
    async fn wait(&self, path: &str, timeout: Duration, done: impl Fn(&[Hit]) -> bool) -> Vec<Hit> {
        let deadline = Instant::now() + timeout;
        loop {
            let hits = self.hits(path);
            if done(&hits) || Instant::now() > deadline {
                return hits;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Verifies a Standard Webhooks signature with Python's standard library (not the server's
/// Rust code): HMAC-SHA256 over "{id}.{timestamp}.{body}" keyed by the base64 after whsec_.
fn python_verifies(secret: &str, hit: &Hit) -> bool {
    const SCRIPT: &str = r#"
import base64, hashlib, hmac, os
key = base64.b64decode(os.environ["WH_SECRET"][len("whsec_"):])
msg = (os.environ["WH_ID"] + "." + os.environ["WH_TS"] + "." + os.environ["WH_BODY"]).encode()
want = base64.b64encode(hmac.new(key, msg, hashlib.sha256).digest()).decode()
sigs = [s.split(",", 1)[1] for s in os.environ["WH_SIG"].split(" ") if s.startswith("v1,")]
print("valid" if any(hmac.compare_digest(want, s) for s in sigs) else "invalid")
"#;
    let out = std::process::Command::new("python3")
        .arg("-c")
        .arg(SCRIPT)
        .env("WH_SECRET", secret)
        .env("WH_ID", &hit.id)
        .env("WH_TS", &hit.timestamp)
        .env("WH_BODY", &hit.body)
        .env("WH_SIG", &hit.signature)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim() == "valid"
}

async fn subscribe(app: &TestApp, url: &str, types: Value) -> Value {
    let (s, v) = call(
        app,
        Method::POST,
        "/v1/webhooks",
        API_KEY,
        Some(json!({"url": url, "event_types": types})),
    )
    .await;
    assert_eq!(s, 201, "{v}");
    v
}

async fn create_session(app: &TestApp) -> String {
    let (s, v) = call(
        app,
        Method::POST,
        "/v1/sessions",
        API_KEY,
        Some(json!({"mode": "live_agent", "applicant": {"name": "Webhook Person"}})),
    )
    .await;
    assert_eq!(s, 201, "{v}");
    v["id"].as_str().unwrap().to_string()
}

async fn deliveries(app: &TestApp, sub: &str, query: &str) -> Vec<Value> {
    let (s, v) = call(
        app,
        Method::GET,
        &format!("/v1/webhooks/{sub}/deliveries{query}"),
        API_KEY,
        None,
    )
    .await;
    assert_eq!(s, 200, "{v}");
    v["deliveries"].as_array().unwrap().clone()
}

async fn wait_delivery_state(app: &TestApp, sub: &str, state: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let list = deliveries(app, sub, "").await;
        if list.len() == 1 && list[0]["state"] == state {
            return list[0].clone();
        }
        assert!(
            Instant::now() < deadline,
            "no delivery reached {state}: {list:#?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_attempts_are_retried_on_schedule_until_acknowledged_once_and_signed() {
    let app = webhook_app().await;
    let rx = Receiver::start(2).await;
    let sub = subscribe(
        &app,
        &format!("{}/hook", rx.base),
        json!(["session.created"]),
    )
    .await;
    let secret = sub["secret"].as_str().unwrap().to_string();
    assert!(secret.starts_with("whsec_"), "{sub}");
    let sub_id = sub["id"].as_str().unwrap().to_string();
    let sid = create_session(&app).await;

    let hits = rx
        .wait("/hook", Duration::from_secs(15), |h| {
            h.iter().any(|h| h.status == 200)
        })
        .await;
    // Once the store has it acknowledged, anything more would be a duplicate.
    wait_delivery_state(&app, &sub_id, "succeeded").await;
    let hits_after = rx.hits("/hook");
    assert_eq!(
        hits_after.len(),
        3,
        "two failures then one success: {hits_after:#?}"
    );
    assert_eq!(
        hits.iter().map(|h| h.status).collect::<Vec<_>>(),
        vec![500, 500, 200]
    );

    // One webhook-id across the retries; every signature verifies independently.
    assert!(hits.iter().all(|h| h.id == hits[0].id && !h.id.is_empty()));
    for h in &hits {
        assert!(python_verifies(&secret, h), "signature of {h:?}");
        let ts: i64 = h.timestamp.parse().unwrap();
        assert!(
            (ts - chrono::Utc::now().timestamp()).abs() < 60,
            "timestamp {ts}"
        );
        assert!(
            !python_verifies("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", h),
            "a wrong secret must not verify"
        );
    }
    // A tampered body does not verify either.
    let mut tampered = hits[2].clone();
    tampered.body = tampered
        .body
        .replace("session.created", "session.cancelled");
    assert!(!python_verifies(&secret, &tampered));

    // The body is the relay's CloudEvents JSON for the event.
    let ev = hits[0].event();
    assert_eq!(
        (
            ev["specversion"].as_str(),
            ev["type"].as_str(),
            ev["subject"].as_str()
        ),
        (Some("1.0"), Some("session.created"), Some(sid.as_str()))
    );
    assert_eq!(
        ev["dataschema"],
        "https://vkyc.dev/schema/v1/events/session.created.schema.json"
    );
    assert!(
        !hits[0].body.contains("Webhook Person"),
        "no personal data in the payload"
    );

    // Spaced as configured (0.2 s then 0.4 s, ±10 % jitter, plus polling): loose bounds.
    let gap1 = hits[1].at - hits[0].at;
    let gap2 = hits[2].at - hits[1].at;
    assert!(gap1 >= Duration::from_millis(150), "{gap1:?}");
    assert!(gap2 >= Duration::from_millis(320), "{gap2:?}");
    // The backoff grows: the second wait is longer than the first is ever scheduled for
    // (0.2 s + 10 %). (Not `gap2 > gap1`: a late first retry on a busy host would fail it.)
    assert!(
        gap2 > Duration::from_millis(220),
        "backoff grows: {gap1:?} then {gap2:?}"
    );
    println!("retry gaps: {gap1:?}, {gap2:?}");

    // The attempt log.
    let d = wait_delivery_state(&app, &sub_id, "succeeded").await;
    assert_eq!(
        d["id"].as_str(),
        Some(hits[0].id.as_str()),
        "webhook-id is the delivery id"
    );
    assert_eq!(d["event_type"], "session.created");
    assert_eq!(d["event_id"], ev["id"]);
    assert!(d["next_attempt_at"].is_null());
    let attempts = d["attempts"].as_array().unwrap();
    assert_eq!(
        attempts
            .iter()
            .map(|a| a["status"].as_u64().unwrap())
            .collect::<Vec<_>>(),
        vec![500, 500, 200]
    );
    assert_eq!(
        attempts
            .iter()
            .map(|a| a["attempt"].as_u64().unwrap())
            .collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
    assert_eq!(attempts[0]["error"], "http_status");
    assert!(attempts[2]["error"].is_null());
    assert!(attempts
        .iter()
        .all(|a| a["latency_ms"].is_u64() && a["at"].is_string()));
    assert!(deliveries(&app, &sub_id, "?state=dead").await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_last_failure_dead_letters_and_redeliver_sends_it_again() {
    let app = webhook_app().await;
    let rx = Receiver::start(usize::MAX).await;
    let sub = subscribe(
        &app,
        &format!("{}/down", rx.base),
        json!(["session.created"]),
    )
    .await;
    let (secret, sub_id) = (
        sub["secret"].as_str().unwrap().to_string(),
        sub["id"].as_str().unwrap().to_string(),
    );
    create_session(&app).await;

    let d = wait_delivery_state(&app, &sub_id, "dead").await;
    assert_eq!(
        d["attempts"].as_array().unwrap().len(),
        1 + SCHEDULE.len(),
        "{d}"
    );
    assert_eq!(rx.hits("/down").len(), 1 + SCHEDULE.len());
    let dead = deliveries(&app, &sub_id, "?state=dead").await;
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0]["id"], d["id"]);
    // Announced as an event (on the webhooks topic when Kafka is on).
    let events = app.api.get("/v1/events?limit=1000").await.unwrap();
    let dl: Vec<&Value> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "webhook.dead_lettered")
        .collect();
    assert_eq!(dl.len(), 1, "{events}");
    assert_eq!(dl[0]["data"]["delivery_id"], d["id"]);
    assert_eq!(dl[0]["data"]["attempts"], 4);
    assert_eq!(dl[0]["data"]["last_status"], 500);

    // The receiver recovers; the dead delivery is queued again and delivered, same id.
    rx.failures.store(0, Ordering::SeqCst);
    let did = d["id"].as_str().unwrap();
    let (s, v) = call(
        &app,
        Method::POST,
        &format!("/v1/webhooks/deliveries/{did}/redeliver"),
        API_KEY,
        None,
    )
    .await;
    assert_eq!((s, v["state"].as_str()), (202, Some("pending")), "{v}");
    let d = wait_delivery_state(&app, &sub_id, "succeeded").await;
    assert_eq!(d["attempts"].as_array().unwrap().len(), 5);
    assert!(deliveries(&app, &sub_id, "?state=dead").await.is_empty());
    let hits = rx.hits("/down");
    assert_eq!(hits.len(), 5);
    assert_eq!(hits[4].status, 200);
    assert!(hits.iter().all(|h| h.id == did));
    assert!(python_verifies(&secret, &hits[4]));

    // A succeeded delivery may be sent again on request too.
    let (s, _) = call(
        &app,
        Method::POST,
        &format!("/v1/webhooks/deliveries/{did}/redeliver"),
        API_KEY,
        None,
    )
    .await;
    assert_eq!(s, 202);
    rx.wait("/down", Duration::from_secs(10), |h| h.len() == 6)
        .await;
    wait_delivery_state(&app, &sub_id, "succeeded").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscription_receives_only_its_event_types() {
    let app = webhook_app().await;
    let rx = Receiver::start(0).await;
    subscribe(
        &app,
        &format!("{}/completed", rx.base),
        json!(["video.completed"]),
    )
    .await;
    subscribe(
        &app,
        &format!("{}/peers", rx.base),
        json!(["peer.joined", "peer.left"]),
    )
    .await;
    subscribe(&app, &format!("{}/all", rx.base), json!(["*"])).await;

    // A real call: the agent joins over the signalling WebSocket, the call is ended by API.
    let sid = create_session(&app).await;
    let token = app.api.token(&sid, "agent").await.unwrap().token;
    let agent = SimPeer::join(&app.ws_url(), &token, SimPeerOptions::default())
        .await
        .unwrap();
    // The customer joins and leaves (peer.joined, peer.left), then the call is ended.
    let ctoken = app.api.token(&sid, "customer").await.unwrap().token;
    let customer = SimPeer::join(&app.ws_url(), &ctoken, SimPeerOptions::default())
        .await
        .unwrap();
    customer.close().await;
    let types_of = |hits: &[Hit]| {
        hits.iter()
            .map(|h| h.event()["type"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    rx.wait("/peers", Duration::from_secs(15), |h| {
        types_of(h).contains(&"peer.left".to_string())
    })
    .await;
    let (s, v) = call(
        &app,
        Method::POST,
        &format!("/v1/rooms/{sid}/end"),
        API_KEY,
        None,
    )
    .await;
    assert_eq!(s, 200, "{v}");
    drop(agent);

    let types = |hits: &[Hit]| {
        hits.iter()
            .map(|h| h.event()["type"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    rx.wait("/completed", Duration::from_secs(15), |h| !h.is_empty())
        .await;
    let all = rx
        .wait("/all", Duration::from_secs(15), |h| {
            types(h).contains(&"video.completed".to_string())
        })
        .await;
    let peers = rx
        .wait("/peers", Duration::from_secs(15), |h| {
            types(h).contains(&"peer.left".to_string())
        })
        .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let completed = rx.hits("/completed");
    assert_eq!(
        types(&completed),
        vec!["video.completed"],
        "only video.completed"
    );
    assert_eq!(completed[0].event()["subject"], sid.as_str());
    let peer_types = types(&rx.hits("/peers"));
    assert!(
        peer_types
            .iter()
            .all(|t| t == "peer.joined" || t == "peer.left"),
        "{peer_types:?}"
    );
    assert!(
        peer_types.contains(&"peer.joined".to_string())
            && peer_types.contains(&"peer.left".to_string())
            && !peers.is_empty(),
        "{peer_types:?}"
    );
    let all_types = types(&all);
    for t in [
        "session.created",
        "room.started",
        "peer.joined",
        "peer.left",
        "room.ended",
        "video.completed",
    ] {
        assert!(
            all_types.contains(&t.to_string()),
            "{t} missing from {all_types:?}"
        );
    }
    // Internal events never leave.
    assert!(
        all_types
            .iter()
            .all(|t| vkyc::webhooks::is_public_event_type(t)),
        "{all_types:?}"
    );
    println!("\"*\" received {all_types:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_subscriptions_and_internal_destinations_get_precise_codes() {
    let app = webhook_app().await;
    let ok_types = json!(["video.completed"]);
    let cases = [
        (
            json!({"url": "ftp://example.com/hook", "event_types": ok_types}),
            422,
            "invalid_webhook_url",
        ),
        (
            json!({"url": "http://user:pw@example.com/hook", "event_types": ok_types}),
            422,
            "invalid_webhook_url",
        ),
        (
            json!({"url": "not a url", "event_types": ok_types}),
            422,
            "invalid_webhook_url",
        ),
        (
            json!({"url": "http://169.254.169.254/latest/meta-data/", "event_types": ok_types}),
            422,
            "webhook_destination_forbidden",
        ),
        (
            json!({"url": "http://10.1.2.3/hook", "event_types": ok_types}),
            422,
            "webhook_destination_forbidden",
        ),
        (
            json!({"url": "http://[::1]:8080/hook", "event_types": ok_types}),
            422,
            "webhook_destination_forbidden",
        ),
        // Allowed hosts match the URL's host as written: a name resolving to loopback is not 127.0.0.1.
        (
            json!({"url": "http://localhost:9/hook", "event_types": ok_types}),
            422,
            "webhook_destination_forbidden",
        ),
        (
            json!({"url": "http://127.0.0.1:9/hook", "event_types": []}),
            422,
            "invalid_event_types",
        ),
        (
            json!({"url": "http://127.0.0.1:9/hook", "event_types": ["room.secret"]}),
            422,
            "invalid_event_types",
        ),
        (
            json!({"url": "http://127.0.0.1:9/hook", "event_types": ok_types, "secret": "hunter2"}),
            422,
            "invalid_webhook_secret",
        ),
        (
            json!({"url": "http://127.0.0.1:9/hook"}),
            422,
            "validation_failed",
        ),
        (
            json!({"url": 5, "event_types": ok_types}),
            422,
            "validation_failed",
        ),
        (
            json!({"url": "http://127.0.0.1:9/hook", "event_types": ok_types, "extra": 1}),
            422,
            "validation_failed",
        ),
    ];
    for (body, status, code) in cases {
        let (s, v) = call(
            &app,
            Method::POST,
            "/v1/webhooks",
            API_KEY,
            Some(body.clone()),
        )
        .await;
        assert_eq!(
            (s, v["error"]["code"].as_str()),
            (status, Some(code)),
            "{body} → {v}"
        );
    }
    let r = app
        .http
        .post(format!("{}/v1/webhooks", app.base))
        .bearer_auth(API_KEY)
        .header("content-type", "application/json")
        .body("{nope")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    // Nothing was stored by any of them.
    let (_, v) = call(&app, Method::GET, "/v1/webhooks", API_KEY, None).await;
    assert_eq!(v["webhooks"].as_array().unwrap().len(), 0, "{v}");

    // A given secret is kept; the secret is never shown again.
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let (s, v) = call(
        &app,
        Method::POST,
        "/v1/webhooks",
        API_KEY,
        Some(json!({"url": "http://127.0.0.1:9/hook", "event_types": ["*"], "secret": secret})),
    )
    .await;
    assert_eq!((s, v["secret"].as_str()), (201, Some(secret)), "{v}");
    let id = v["id"].as_str().unwrap().to_string();
    let (s, got) = call(
        &app,
        Method::GET,
        &format!("/v1/webhooks/{id}"),
        API_KEY,
        None,
    )
    .await;
    assert_eq!((s, got["event_types"].clone()), (200, json!(["*"])));
    assert!(got.get("secret").is_none(), "{got}");
    let (_, list) = call(&app, Method::GET, "/v1/webhooks", API_KEY, None).await;
    assert!(!list.to_string().contains("whsec_"), "{list}");

    // Unknown ids.
    let nobody = uuid::Uuid::new_v4();
    for (m, path, code) in [
        (
            Method::GET,
            format!("/v1/webhooks/{nobody}"),
            "webhook_not_found",
        ),
        (
            Method::DELETE,
            format!("/v1/webhooks/{nobody}"),
            "webhook_not_found",
        ),
        (
            Method::GET,
            format!("/v1/webhooks/{nobody}/deliveries"),
            "webhook_not_found",
        ),
        (
            Method::POST,
            format!("/v1/webhooks/deliveries/{nobody}/redeliver"),
            "delivery_not_found",
        ),
    ] {
        let (s, v) = call(&app, m, &path, API_KEY, None).await;
        assert_eq!(
            (s, v["error"]["code"].as_str()),
            (404, Some(code)),
            "{path}"
        );
    }
    let (s, v) = call(&app, Method::GET, "/v1/webhooks/not-a-uuid", API_KEY, None).await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (400, Some("invalid_path"))
    );
    let (s, v) = call(
        &app,
        Method::GET,
        &format!("/v1/webhooks/{id}/deliveries?state=lost"),
        API_KEY,
        None,
    )
    .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (400, Some("invalid_query"))
    );

    // Delete.
    let (s, _) = call(
        &app,
        Method::DELETE,
        &format!("/v1/webhooks/{id}"),
        API_KEY,
        None,
    )
    .await;
    assert_eq!(s, 200);
    let (s, _) = call(
        &app,
        Method::GET,
        &format!("/v1/webhooks/{id}"),
        API_KEY,
        None,
    )
    .await;
    assert_eq!(s, 404);

    // Without webhooks.allowed_hosts, loopback is refused too.
    let strict = spawn_app().await;
    for url in [
        "http://127.0.0.1/",
        "http://127.0.0.1:8080/hook",
        "http://0.0.0.0/",
    ] {
        let (s, v) = call(
            &strict,
            Method::POST,
            "/v1/webhooks",
            API_KEY,
            Some(json!({"url": url, "event_types": ok_types})),
        )
        .await;
        assert_eq!(
            (s, v["error"]["code"].as_str()),
            (422, Some("webhook_destination_forbidden")),
            "{url}: {v}"
        );
    }
}

/// Fresh topics (3 partitions each) for one test: (family, name), webhooks sixth (index 5),
/// named after a random run id (returned with them), so runs never read each other's events.
async fn kafka_topics(brokers: &str) -> (String, Vec<(&'static str, String)>) {
    let run = uuid::Uuid::new_v4().simple().to_string()[..12].to_string();
    use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
    use rdkafka::client::DefaultClientContext;
    let families = [
        "sessions",
        "rooms",
        "steps",
        "recordings",
        "stats",
        "webhooks",
        "desk",
    ];
    let topics: Vec<(&str, String)> = families
        .iter()
        .map(|f| (*f, format!("w{run}.{f}")))
        .collect();
    let admin: AdminClient<DefaultClientContext> = rdkafka::config::ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()
        .unwrap();
    let new: Vec<NewTopic> = topics
        .iter()
        .map(|(_, t)| NewTopic::new(t, 3, TopicReplication::Fixed(1)))
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
    (run, topics)
}

/// A node with Kafka events and the webhook fan-out in consumer group `group`.
async fn kafka_node(brokers: &str, topics: &[(&'static str, String)], group: &str) -> TestApp {
    let (b, t, group) = (brokers.to_string(), topics.to_vec(), group.to_string());
    spawn_app_with(move |mut f| {
        f = f
            .merge(("events.backend", "kafka"))
            .merge(("events.kafka.brokers", b))
            .merge(("webhooks.kafka_group_id", group))
            .merge(("webhooks.allowed_hosts", vec!["127.0.0.1"]))
            .merge(("webhooks.retry_schedule_secs", SCHEDULE.to_vec()))
            .merge(("webhooks.poll_interval_ms", 20));
        for (family, name) in t {
            f = f.merge((format!("events.kafka.topics.{family}"), name));
        }
        f
    })
    .await
}

/// Two nodes in one webhooks consumer group share the event partitions: every event is
/// delivered (by the node that owns its partition), and both nodes do some of the work.
/// Each node has its own embedded store, so the receiver is subscribed on both (with a
/// shared store — ScyllaDB — one subscription would do).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a Kafka broker: VKYC_KAFKA_BROKERS (tests/run-all.sh starts tansu)"]
async fn kafka_consumer_group_shares_the_work_between_nodes() {
    let brokers = kafka_brokers();
    let (run, topics) = kafka_topics(&brokers).await;
    let group = format!("webhooks-{run}");
    let a = kafka_node(&brokers, &topics, &group).await;
    let b = kafka_node(&brokers, &topics, &group).await;
    let rx = Receiver::start(0).await;
    let sub_a = subscribe(&a, &format!("{}/a", rx.base), json!(["session.created"])).await;
    let sub_b = subscribe(&b, &format!("{}/b", rx.base), json!(["session.created"])).await;
    // Batches of events until both members are assigned partitions and have delivered some
    // (a rebalance takes as long as it takes: no fixed settling time), each batch delivered
    // in full before the next.
    const N: usize = 30;
    let mut sessions = std::collections::HashSet::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    let subjects = |rx: &Receiver| -> Vec<String> {
        let mut all = rx.hits("/a");
        all.extend(rx.hits("/b"));
        all.iter()
            .map(|h| h.event()["subject"].as_str().unwrap().to_string())
            .collect()
    };
    loop {
        for i in 0..N {
            sessions.insert(create_session(if i % 2 == 0 { &a } else { &b }).await);
        }
        while !subjects(&rx)
            .iter()
            .cloned()
            .collect::<std::collections::HashSet<_>>()
            .is_superset(&sessions)
        {
            assert!(Instant::now() < deadline, "not every event was delivered");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        if !rx.hits("/a").is_empty() && !rx.hits("/b").is_empty() || Instant::now() > deadline {
            break;
        }
    }
    let got = subjects(&rx);
    let unique: std::collections::HashSet<String> = got.iter().cloned().collect();
    assert_eq!(unique, sessions, "every event delivered");
    let (by_a, by_b) = (rx.hits("/a").len(), rx.hits("/b").len());
    println!(
        "consumer group: node A delivered {by_a}, node B {by_b}, duplicates {}",
        got.len() - unique.len()
    );
    assert!(
        by_a > 0 && by_b > 0,
        "both nodes share the partitions: A {by_a}, B {by_b}"
    );
    let _ = (sub_a, sub_b);
}

/// `events.backend = "kafka"`: the fan-out is a consumer in the webhooks group reading the
/// event topics (what several nodes share in production); the dead letter is announced on the
/// webhooks topic. Needs `VKYC_KAFKA_BROKERS` (tests/run-all.sh starts tansu); `#[ignore]`d otherwise.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a Kafka broker: VKYC_KAFKA_BROKERS (tests/run-all.sh starts tansu)"]
async fn kafka_consumer_group_mode_delivers_and_announces_dead_letters() {
    use rdkafka::Message;

    let brokers = kafka_brokers();
    let (run, topics) = kafka_topics(&brokers).await;
    let app = kafka_node(&brokers, &topics, &format!("webhooks-{run}")).await;
    let ok = Receiver::start(0).await;
    let down = Receiver::start(usize::MAX).await;
    let good = subscribe(&app, &format!("{}/ok", ok.base), json!(["session.created"])).await;
    let bad = subscribe(
        &app,
        &format!("{}/down", down.base),
        json!(["session.created"]),
    )
    .await;
    let sid = create_session(&app).await;

    let hits = ok
        .wait("/ok", Duration::from_secs(60), |h| !h.is_empty())
        .await;
    assert_eq!(hits.len(), 1, "delivered through the consumer group");
    assert!(python_verifies(good["secret"].as_str().unwrap(), &hits[0]));
    let ev = hits[0].event();
    assert_eq!(
        (
            ev["type"].as_str(),
            ev["subject"].as_str(),
            ev["source"].as_str()
        ),
        (Some("session.created"), Some(sid.as_str()), Some("/vkyc"))
    );
    let d = wait_delivery_state(&app, bad["id"].as_str().unwrap(), "dead").await;

    // The dead letter on the webhooks topic, keyed by the session.
    let consumer = broker::topic_reader(&brokers, &[topics[5].1.as_str()]);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let m = tokio::time::timeout_at(deadline.into(), consumer.recv())
            .await
            .expect("a webhook.dead_lettered record")
            .unwrap();
        let v: Value = serde_json::from_slice(m.payload().unwrap()).unwrap();
        if v["type"] == "webhook.dead_lettered" && v["data"]["delivery_id"] == d["id"] {
            assert_eq!(m.key(), Some(sid.as_bytes()));
            assert_eq!(v["data"]["event_type"], "session.created");
            break;
        }
    }
}
