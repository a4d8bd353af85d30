//! Events on Kafka (`events.backend = "kafka"`), against a real broker (tansu).
//!
//! Needs `VKYC_KAFKA_BROKERS` (tests/run-all.sh starts tansu and sets it): the tests are
//! `#[ignore]`d, and run-all.sh runs them (`--run-ignored all`) when it started a broker; run
//! without the variable, they fail. Each test uses its own topics. The outage test starts its own
//! tansu (`VKYC_TANSU_BIN`, else `tansu` on PATH or in ~/.cargo/bin) behind a TCP proxy that
//! the test cuts: to every client that is the broker going away and coming back (refused
//! connections, dropped sockets), while the broker keeps what it has acknowledged. tansu's
//! only local storage without extra features is in memory, so restarting the process itself
//! would empty the topics.
//!
//! The benchmark (`cargo nextest run --test kafka --run-ignored only`) prints events/s through
//! outbox → Kafka and the API → topic latency.

#[path = "support/broker.rs"]
mod broker;
mod common;
#[path = "support/event_schemas.rs"]
mod event_schemas;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use broker::{free_port, start_tansu, topic_reader, Proxy};
use common::*;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::Message;
use serde_json::{json, Value};

const FAMILIES: [&str; 7] = [
    "sessions",
    "rooms",
    "steps",
    "recordings",
    "stats",
    "webhooks",
    "desk",
];

/// Fresh topic names for one test: family → name.
fn new_topics() -> BTreeMap<&'static str, String> {
    let run = uuid::Uuid::new_v4().simple().to_string();
    FAMILIES
        .iter()
        .map(|f| (*f, format!("t{}.{f}", &run[..12])))
        .collect()
}

async fn create_topics(brokers: &str, topics: &BTreeMap<&'static str, String>) {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()
        .unwrap();
    let new: Vec<NewTopic> = topics
        .values()
        .map(|t| NewTopic::new(t, 3, TopicReplication::Fixed(1)))
        .collect();
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    for r in admin
        .create_topics(&new, &opts)
        .await
        .expect("create topics")
    {
        r.expect("topic created");
    }
}

async fn kafka_app(brokers: &str, topics: &BTreeMap<&'static str, String>) -> TestApp {
    let (brokers, topics) = (brokers.to_string(), topics.clone());
    spawn_app_with(move |mut f| {
        f = f
            .merge(("events.backend", "kafka"))
            .merge(("events.kafka.brokers", brokers))
            .merge(("events.kafka.source", "/vkyc/test"));
        for (family, name) in topics {
            f = f.merge((format!("events.kafka.topics.{family}"), name));
        }
        f
    })
    .await
}

/// One record as consumed.
#[derive(Debug, Clone)]
struct Got {
    topic: String,
    key: String,
    event: Value,
    at: Instant,
}

/// A consumer in its own group that collects every record of the topics in the background.
struct Collector {
    got: Arc<Mutex<Vec<Got>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Collector {
    fn start(brokers: &str, topics: &BTreeMap<&'static str, String>) -> Self {
        let names: Vec<&str> = topics.values().map(String::as_str).collect();
        let consumer = topic_reader(brokers, &names);
        let got = Arc::new(Mutex::new(Vec::new()));
        let sink = got.clone();
        let task = tokio::spawn(async move {
            loop {
                match consumer.recv().await {
                    Ok(m) => {
                        let event: Value = serde_json::from_slice(m.payload().unwrap_or_default())
                            .unwrap_or(Value::Null);
                        let key = String::from_utf8_lossy(m.key().unwrap_or_default()).to_string();
                        sink.lock().unwrap().push(Got {
                            topic: m.topic().to_string(),
                            key,
                            event,
                            at: Instant::now(),
                        });
                    }
                    Err(e) => eprintln!("consumer: {e}"),
                }
            }
        });
        Self { got, task }
    }

    fn snapshot(&self) -> Vec<Got> {
        self.got.lock().unwrap().clone()
    }

    /// Waits until `n` records have arrived (and a little longer, to catch duplicates).
    async fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Got> {
        let deadline = Instant::now() + timeout;
        while self.got.lock().unwrap().len() < n && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        self.snapshot()
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Everything in the outbox (`GET /v1/events`).
async fn outbox(app: &TestApp) -> Vec<Value> {
    let mut all = Vec::new();
    let mut after = 0u64;
    loop {
        let v = app
            .api
            .get(&format!("/v1/events?after={after}&limit=1000"))
            .await
            .unwrap();
        let page = v["events"].as_array().unwrap().clone();
        if page.is_empty() {
            return all;
        }
        after = v["next_cursor"].as_u64().unwrap();
        all.extend(page);
    }
}

/// Creates a session and completes its consent and location steps: five events
/// (session.created, 2 × step.completed on steps, and the agent's step decision).
async fn session_with_steps(app: &TestApp) -> Result<String, String> {
    let id = app
        .api
        .create_session("Kafka Test")
        .await
        .map_err(|e| format!("create: {e}"))?;
    let customer = app
        .api
        .token(&id, "customer")
        .await
        .map_err(|e| format!("token: {e}"))?
        .token;
    let agent = app
        .api
        .token(&id, "agent")
        .await
        .map_err(|e| format!("token: {e}"))?
        .token;
    let steps = format!("{}/v1/sessions/{id}/steps", app.base);
    let calls = [
        (
            &customer,
            "consent/attempts",
            json!({"text_version": "v1", "given": true}),
        ),
        (
            &customer,
            "location/attempts",
            json!({"latitude": 19.07, "longitude": 72.88, "accuracy_m": 30.0}),
        ),
        (&agent, "consent/decision", json!({"verdict": "verified"})),
    ];
    for (token, path, body) in calls {
        let r = app
            .http
            .post(format!("{steps}/{path}"))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .map_err(|e| format!("{path}: {e}"))?;
        if !r.status().is_success() {
            return Err(format!(
                "{path}: {} {}",
                r.status(),
                r.text().await.unwrap_or_default()
            ));
        }
    }
    Ok(id)
}

/// The committed schemas (what a consumer of the topics reads) as validators.
fn schema_validators() -> HashMap<String, jsonschema::Validator> {
    let files = event_schemas::committed()
        .into_iter()
        .map(|(name, text)| (name, serde_json::from_str(&text).unwrap()))
        .collect();
    event_schemas::validators(&files)
}

/// Every outbox event is in the topics exactly once, on its family's topic, keyed by its
/// session, in per-session order, and valid against its type's schema.
fn check_delivery(outbox: &[Value], got: &[Got], topics: &BTreeMap<&'static str, String>) {
    let validators = schema_validators();
    let mut count: HashMap<String, usize> = HashMap::new();
    for g in got {
        *count
            .entry(g.event["id"].as_str().unwrap_or_default().to_string())
            .or_default() += 1;
    }
    let dups: Vec<_> = count.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        dups.is_empty(),
        "{} events arrived more than once: {dups:?}",
        dups.len()
    );
    let missing: Vec<&Value> = outbox
        .iter()
        .filter(|e| !count.contains_key(e["id"].as_str().unwrap()))
        .collect();
    assert!(
        missing.is_empty(),
        "{} of {} events never arrived, e.g. {:?}",
        missing.len(),
        outbox.len(),
        missing.first()
    );
    assert_eq!(
        got.len(),
        outbox.len(),
        "the topics hold exactly the outbox"
    );

    let by_id: HashMap<&str, &Value> = outbox
        .iter()
        .map(|e| (e["id"].as_str().unwrap(), e))
        .collect();
    let mut last: HashMap<(String, String), u64> = HashMap::new();
    for g in got {
        let e = &g.event;
        let stored = by_id[e["id"].as_str().unwrap()];
        let kind = e["type"].as_str().unwrap();
        assert_eq!(e["type"], stored["type"]);
        assert_eq!(e["sequence"], stored["seq"]);
        assert_eq!(e["data"], stored["data"]);
        let key = stored["session_id"]
            .as_str()
            .unwrap_or(vkyc::events::NODE_KEY);
        assert_eq!(g.key, key, "the key is the session id");
        assert_eq!(e["subject"].as_str().unwrap_or(vkyc::events::NODE_KEY), key);
        let family = match vkyc::events::Family::of(kind) {
            vkyc::events::Family::Sessions => "sessions",
            vkyc::events::Family::Rooms => "rooms",
            vkyc::events::Family::Steps => "steps",
            vkyc::events::Family::Recordings => "recordings",
            vkyc::events::Family::Stats => "stats",
            vkyc::events::Family::Webhooks => "webhooks",
            vkyc::events::Family::Desk => "desk",
        };
        assert_eq!(g.topic, topics[family], "{kind} on its family's topic");
        // One session's events come out of a topic in the order they were stored.
        let seq = e["sequence"].as_u64().unwrap();
        let prev = last
            .insert((g.topic.clone(), g.key.clone()), seq)
            .unwrap_or(0);
        assert!(
            seq > prev,
            "{kind} #{seq} after #{prev} for {key} on {}",
            g.topic
        );
        let v = validators
            .get(kind)
            .unwrap_or_else(|| panic!("no schema for {kind}"));
        let errors = event_schemas::errors(v, e);
        assert!(
            errors.is_empty(),
            "{kind} is not schema-valid: {errors:#?}\n{e:#}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs a Kafka broker: VKYC_KAFKA_BROKERS (tests/run-all.sh starts tansu)"]
async fn api_events_reach_their_topics_keyed_ordered_and_schema_valid() {
    let brokers = kafka_brokers();
    let topics = new_topics();
    create_topics(&brokers, &topics).await;
    let app = Arc::new(kafka_app(&brokers, &topics).await);
    let collector = Collector::start(&brokers, &topics);

    let mut tasks = Vec::new();
    for _ in 0..8 {
        let app = app.clone();
        tasks.push(tokio::spawn(async move {
            session_with_steps(&app).await.unwrap()
        }));
    }
    let mut sessions = Vec::new();
    for t in tasks {
        sessions.push(t.await.unwrap());
    }
    // A capture too (steps family).
    let r = app
        .http
        .post(format!("{}/v1/sessions/{}/captures", app.base, sessions[0]))
        .bearer_auth(API_KEY)
        .json(&json!({"kind": "reference", "image": b64(&tiny_png())}))
        .send()
        .await
        .unwrap();
    assert!(
        r.status().is_success(),
        "capture: {} {}",
        r.status(),
        r.text().await.unwrap_or_default()
    );

    let expected = outbox(&app).await;
    assert!(
        expected.len() >= sessions.len() * 4,
        "{} events",
        expected.len()
    );
    let got = collector
        .wait_for(expected.len(), Duration::from_secs(30))
        .await;
    check_delivery(&expected, &got, &topics);
    let kinds: std::collections::BTreeSet<&str> = got
        .iter()
        .map(|g| g.event["type"].as_str().unwrap())
        .collect();
    eprintln!(
        "{} events of {kinds:?} on {} topics",
        got.len(),
        topics.len()
    );

    // `vkyc events tail` shows the same stream.
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_vkyc"))
        .args([
            "events",
            "tail",
            "--topic",
            &topics["sessions"],
            "--from-beginning",
            "--brokers",
            &brokers,
            "--max",
            "8",
        ])
        .output();
    let out = tokio::time::timeout(Duration::from_secs(60), out)
        .await
        .expect("tail finishes")
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<String> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(lines.len(), 8, "{lines:#?}");
    for l in &lines {
        let mut parts = l.splitn(3, ' ');
        let (_pos, key, payload) = (
            parts.next().unwrap(),
            parts.next().unwrap(),
            parts.next().unwrap(),
        );
        let ev: Value = serde_json::from_str(payload).unwrap();
        assert_eq!(ev["type"], "session.created");
        assert_eq!(ev["subject"], key);
        assert!(sessions.iter().any(|s| s == key));
    }
}

fn tiny_png() -> Vec<u8> {
    let img = image::RgbImage::from_fn(64, 64, |x, y| {
        image::Rgb([(x * 4) as u8, (y * 4) as u8, 128])
    });
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs a Kafka broker: VKYC_KAFKA_BROKERS (tests/run-all.sh starts tansu)"]
async fn a_broker_outage_loses_nothing_duplicates_nothing_and_the_api_keeps_working() {
    kafka_brokers(); // run only where run-all.sh started a broker
    let (port, front) = (free_port(), free_port());
    let _broker = start_tansu(port, front).await;
    let proxy = Proxy::new(
        ([127, 0, 0, 1], front).into(),
        ([127, 0, 0, 1], port).into(),
    );
    proxy.start();
    let brokers = format!("127.0.0.1:{front}");
    let topics = new_topics();
    create_topics(&brokers, &topics).await;
    let app = Arc::new(kafka_app(&brokers, &topics).await);

    // Sessions and steps all the way through, from 4 clients.
    let failures = Arc::new(Mutex::new(Vec::<String>::new()));
    let slowest = Arc::new(Mutex::new(Duration::ZERO));
    let stop_at = Instant::now() + Duration::from_secs(9);
    let mut load = Vec::new();
    for _ in 0..4 {
        let (app, failures, slowest) = (app.clone(), failures.clone(), slowest.clone());
        load.push(tokio::spawn(async move {
            let mut n = 0;
            while Instant::now() < stop_at {
                let t = Instant::now();
                match tokio::time::timeout(Duration::from_secs(20), session_with_steps(&app)).await
                {
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => failures.lock().unwrap().push(e),
                    Err(_) => failures
                        .lock()
                        .unwrap()
                        .push("an API call hung for 20 s".into()),
                }
                let mut s = slowest.lock().unwrap();
                *s = (*s).max(t.elapsed());
                n += 1;
            }
            n
        }));
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    proxy.stop();
    eprintln!("broker unreachable");
    tokio::time::sleep(Duration::from_secs(4)).await;
    proxy.start();
    eprintln!("broker back");
    let mut sessions = 0;
    for t in load {
        sessions += t.await.unwrap();
    }
    let failures = failures.lock().unwrap().clone();
    assert!(
        failures.is_empty(),
        "API calls failed during the outage: {failures:#?}"
    );
    eprintln!(
        "{sessions} sessions with steps; slowest API sequence {:?}",
        slowest.lock().unwrap()
    );

    let expected = outbox(&app).await;
    assert!(expected.len() >= sessions * 4);
    let collector = Collector::start(&brokers, &topics);
    let got = collector
        .wait_for(expected.len(), Duration::from_secs(60))
        .await;
    check_delivery(&expected, &got, &topics);
    eprintln!("all {} events arrived exactly once", got.len());
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 * p).ceil() as usize)
        .saturating_sub(1)
        .min(sorted.len() - 1)]
}

/// Figures for the report: events/s through outbox → Kafka (a backlog drained by the relay,
/// counted by the broker's acks), and API call → event consumed from the topic.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "benchmark: run with --run-ignored only"]
async fn benchmark_outbox_to_kafka() {
    let brokers = kafka_brokers();
    let backlog: u64 = std::env::var("KAFKA_BENCH_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5000);

    // 1. Throughput: a backlog written to the outbox, then the relay started on it.
    let topics = new_topics();
    create_topics(&brokers, &topics).await;
    let dir = tempfile::tempdir().unwrap();
    let store = vkyc::store::EmbeddedStore::open(dir.path()).unwrap();
    let t = Instant::now();
    let mut writers = Vec::new();
    for w in 0..8u64 {
        let store = store.clone();
        writers.push(tokio::spawn(async move {
            use vkyc_domain::EventSink;
            let session = uuid::Uuid::new_v4();
            for i in (w..backlog).step_by(8) {
                let completed = vkyc_domain::events::data::StepCompleted {
                    step: vkyc_domain::kyc::StepType::Consent,
                    attempt: (i + 1) as u32,
                    outcome: vkyc_domain::kyc::Outcome::Passed,
                    scores: None,
                };
                let ev = vkyc_domain::DomainEvent::new(Some(session.into()), completed);
                store.publish(ev).await.unwrap();
            }
        }));
    }
    for w in writers {
        w.await.unwrap();
    }
    eprintln!("outbox: {backlog} events written in {:?}", t.elapsed());
    let mut cfg =
        vkyc::config::Config::extract(vkyc::config::Config::figment("test", None).unwrap())
            .unwrap()
            .events
            .kafka;
    cfg.brokers = brokers.parse().unwrap();
    cfg.topics.steps = topics["steps"].clone();
    let t = Instant::now();
    let (relay, _) = ractor::Actor::spawn(
        None,
        vkyc::events::relay::KafkaRelay,
        vkyc::events::relay::RelayArgs {
            store: std::sync::Arc::new(store.clone()),
            cfg,
            health: Default::default(),
        },
    )
    .await
    .unwrap();
    while store
        .relay_cursor(vkyc::events::relay::CURSOR)
        .await
        .unwrap()
        < backlog
    {
        assert!(t.elapsed() < Duration::from_secs(120), "relay too slow");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let drain = t.elapsed();
    relay.stop(None);
    println!(
        "BENCH outbox->kafka: {backlog} events acked in {drain:?} = {:.0} events/s",
        backlog as f64 / drain.as_secs_f64()
    );

    // 2. Latency: sessions created over the API; time from the call to the event consumed.
    let topics = new_topics();
    create_topics(&brokers, &topics).await;
    let app = Arc::new(kafka_app(&brokers, &topics).await);
    let collector = Collector::start(&brokers, &topics);
    tokio::time::sleep(Duration::from_secs(3)).await; // consumer group joined
    let sent = Arc::new(Mutex::new(HashMap::<String, Instant>::new()));
    let n_sessions = 400;
    let t = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..8 {
        let (app, sent) = (app.clone(), sent.clone());
        tasks.push(tokio::spawn(async move {
            for _ in (w..n_sessions).step_by(8) {
                let started = Instant::now();
                let id = app.api.create_session("Bench").await.unwrap();
                sent.lock().unwrap().insert(id, started);
                // Pace the calls so latency is measured under load, not behind a queue.
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let api_secs = t.elapsed().as_secs_f64();
    let got = collector
        .wait_for(n_sessions, Duration::from_secs(60))
        .await;
    let sent = sent.lock().unwrap().clone();
    let mut lat: Vec<Duration> = got
        .iter()
        .filter_map(|g| sent.get(&g.key).map(|s| g.at.duration_since(*s)))
        .collect();
    lat.sort();
    assert_eq!(lat.len(), n_sessions, "every session.created consumed once");
    println!(
        "BENCH api->topic: {n_sessions} session.created at {:.0}/s: p50 {:?} p99 {:?} max {:?}",
        n_sessions as f64 / api_secs,
        percentile(&lat, 0.50),
        percentile(&lat, 0.99),
        lat.last().unwrap()
    );
}
