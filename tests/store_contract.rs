//! One storage contract, run against every back end:
//! - `embedded_*`: the redb store in a temp dir;
//! - `kassandra_*`: the ScyllaDB adapter against kassandra, an in-memory single-node CQL v4
//!   server started in this process on a random port (schema, CRUD, prepared statements,
//!   batches, paging — what it supports);
//! - `scylla_*`: the same adapter against a real ScyllaDB named by `SCYLLA_URI` (host:port),
//!   with the tests kassandra cannot run (lightweight transactions, TTL, DESC clustering
//!   order + LIMIT). They are `#[ignore]`d (skipped) unless asked for; run with
//!   `SCYLLA_URI=host:port cargo nextest run --test store_contract --run-ignored all`
//!   (tests/run-all.sh does when `SCYLLA_URI` is set). Asked for without it, they fail.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;

use chrono::Utc;
use serde_json::json;
use uuid::Uuid;
use vkyc::config::{Config, ScyllaConfig};
use vkyc::store::{
    Attempt, Capture, CaptureKind, Delivery, DeliveryState, EmbeddedStore, NextStep,
    RecordingStatus, ScyllaStore, SessionStore, Store, StoreError, Subscription,
};
use vkyc_domain::events::data;
use vkyc_domain::kyc::KycCase;
use vkyc_domain::kyc::{Outcome, StepType};
use vkyc_domain::questions::{BankId, QuestionBank};
use vkyc_domain::recording::{Container, RecordedTrack, RecordingSummary};
use vkyc_domain::session::{Session, SessionStatus};
use vkyc_domain::SessionId;
use vkyc_domain::{DomainEvent, PeerId, Role};

/// A `step.completed` event of `session`'s consent step.
fn consent_completed(session: SessionId) -> DomainEvent {
    DomainEvent::new(
        Some(session),
        data::StepCompleted {
            step: StepType::Consent,
            attempt: 1,
            outcome: Outcome::Passed,
            scores: None,
        },
    )
}

// ---------------------------------------------------------------------------------------
// kassandra as a server: its library speaks CQL v4 frames; this is the accept loop around it.

mod kassandra_server {
    use std::net::SocketAddr;
    use std::sync::{Arc, Mutex};

    use futures_util::{SinkExt, StreamExt};
    use kassandra::frame::request::Request;
    use kassandra::frame::response::Response;
    use kassandra::frame::{request_stream, response_sink};
    use kassandra::KassandraSession;

    /// Starts a fresh in-memory server on 127.0.0.1 (random port) on its own thread; it lives
    /// until the test process ends.
    pub fn start() -> SocketAddr {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        listener.set_nonblocking(true).unwrap();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            let local = tokio::task::LocalSet::new();
            local.block_on(&rt, async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                let db = Arc::new(Mutex::new(KassandraSession::new()));
                loop {
                    let Ok((stream, _)) = listener.accept().await else {
                        continue;
                    };
                    tokio::task::spawn_local(client(db.clone(), stream));
                }
            });
        });
        addr
    }

    async fn client(db: Arc<Mutex<KassandraSession>>, mut stream: tokio::net::TcpStream) {
        let (read, write) = stream.split();
        let mut requests = request_stream(read);
        let mut responses = response_sink(write);
        while let Some(Ok((frame, opcode, data))) = requests.next().await {
            if frame.version.is_unsupported() {
                let _ = responses
                    .send((Response::unsupported_version(), frame.stream))
                    .await;
                continue;
            }
            let response = match Request::deserialize(opcode, &data, frame.flags) {
                Err(e) => Response::Error(e),
                Ok(request) => {
                    let mut db = db.lock().unwrap();
                    let result = match request {
                        Request::StartUp(_) | Request::Register { .. } => Ok(None),
                        Request::Options => {
                            drop(db);
                            let _ = responses.send((Response::options(), frame.stream)).await;
                            continue;
                        }
                        Request::Query(q) => db.process(q).map(Some),
                        Request::Prepare(p) => db.prepare(p).map(Some),
                        Request::Execute(e) => db.execute(e).map(Some),
                        Request::Batch(b) => db.process_batch(b).map(Some),
                        Request::AuthResponse => Ok(None),
                    };
                    match result {
                        Ok(Some(r)) => Response::Result(r),
                        Ok(None) => Response::Ready,
                        Err(e) => Response::Error(e),
                    }
                }
            };
            if responses.send((response, frame.stream)).await.is_err() {
                break;
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Back ends.

fn scylla_config(contact: String, keyspace: String) -> ScyllaConfig {
    let mut c = Config::extract(Config::figment("test", None).unwrap())
        .unwrap()
        .storage
        .scylla;
    c.contact_points = vec![contact.parse().unwrap()];
    c.keyspace = keyspace;
    c.replication_factor = 1;
    c.datacenter = std::env::var("SCYLLA_DC").unwrap_or_else(|_| "datacenter1".into());
    c.events_settle_ms = 0;
    // kassandra does not tell the driver its datacenter.
    c.allow_remote_dc = std::env::var("SCYLLA_URI").is_err();
    c
}

struct Backend {
    store: Arc<dyn Store>,
    scylla: Option<ScyllaStore>,
    _dir: Option<tempfile::TempDir>,
}

fn embedded() -> Backend {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(dir.path()).unwrap();
    Backend {
        store: Arc::new(store),
        scylla: None,
        _dir: Some(dir),
    }
}

async fn scylla_at(contact: String) -> Backend {
    let ks = format!("vkyc_test_{}", Uuid::new_v4().simple());
    let store = ScyllaStore::connect(&scylla_config(contact, ks), true)
        .await
        .unwrap();
    Backend {
        store: Arc::new(store.clone()),
        scylla: Some(store),
        _dir: None,
    }
}

async fn kassandra() -> Backend {
    let addr = kassandra_server::start();
    let b = scylla_at(addr.to_string()).await;
    let caps = b.scylla.as_ref().unwrap().capabilities();
    assert!(
        !caps.lwt && !caps.ranges,
        "kassandra is detected as the limited test server: {caps:?}"
    );
    b
}

/// The real ScyllaDB of the `#[ignore]`d tests: run without one, they fail.
async fn real_scylla() -> Backend {
    match std::env::var("SCYLLA_URI") {
        Ok(uri) if !uri.is_empty() => scylla_at(uri).await,
        _ => panic!("SCYLLA_URI is not set: this test needs a real ScyllaDB (lightweight transactions, TTL, clustering order DESC with LIMIT, range predicates); e.g. SCYLLA_URI=127.0.0.1:9042"),
    }
}

macro_rules! contract {
    ($($name:ident),* $(,)?) => {
        mod embedded_contract {
            $( #[tokio::test] async fn $name() { super::$name(super::embedded()).await } )*
        }
        mod kassandra_contract {
            $( #[tokio::test] async fn $name() { super::$name(super::kassandra().await).await } )*
        }
        mod scylla_contract {
            $(
                #[tokio::test]
                #[ignore = "needs a real ScyllaDB: set SCYLLA_URI=host:port"]
                async fn $name() { super::$name(super::real_scylla().await).await }
            )*
        }
    };
}

contract!(
    sessions_create_get_list,
    update_session_commits_or_writes_nothing,
    cancel_session,
    expiry_and_scheduled_windows,
    captures_crud_and_order,
    case_save_and_load,
    events_ordered_with_cursor,
    relay_cursor_only_moves_forward,
    call_events_move_the_session,
    erase_removes_personal_data,
    group_applicants_join_the_parent,
    recordings_follow_their_events,
    interrupted_recordings_are_failed_at_startup,
    webhook_subscriptions_crud,
    webhook_deliveries_unique_queued_retried_dead_lettered,
    webhook_due_queue_order_limit_and_log,
    webhook_delete_subscription_takes_its_deliveries,
    question_banks_crud,
    activity_chains_append_in_order_per_session,
    retention_purges_classes_and_respects_a_hold,
    event_purge_keeps_what_readers_have_not_taken,
);

// ---------------------------------------------------------------------------------------
// The contract.

fn new_session(extra: serde_json::Value) -> Session {
    let mut body = json!({"mode":"live_agent","applicant":{"name":"Asha Rao","date_of_birth":"1990-02-28","reference_id":"LN-7"}});
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    let new = serde_json::from_value(body).unwrap();
    let sr = vkyc_domain::session::SelfRecordSettings {
        video_max_duration_secs: 60,
        max_video_duration_secs: 300,
        max_video_bytes: 1 << 20,
        max_chunk_bytes: 1 << 16,
        max_failed_checks: 2,
    };
    Session::create(new, 3600, &sr, Utc::now()).unwrap()
}

async fn all_events(store: &dyn Store) -> Vec<vkyc::store::EventEnvelope> {
    store.events_after(0, 10_000).await.unwrap()
}

async fn kinds_for(store: &dyn Store, id: SessionId) -> Vec<String> {
    all_events(store)
        .await
        .into_iter()
        .filter(|e| e.session_id == Some(id))
        .map(|e| e.kind)
        .collect()
}

async fn sessions_create_get_list(b: Backend) {
    let store = &*b.store;
    let mut made = vec![];
    for _ in 0..3 {
        let s = new_session(json!({}));
        store.create_session(&s).await.unwrap();
        made.push(s);
        tokio::time::sleep(std::time::Duration::from_millis(3)).await;
    }
    for s in &made {
        assert_eq!(
            store.get_session(s.id).await.unwrap().as_ref(),
            Some(s),
            "round trip"
        );
    }
    assert!(store.get_session(SessionId::new()).await.unwrap().is_none());
    let listed: Vec<SessionId> = store
        .list_sessions(10)
        .await
        .unwrap()
        .iter()
        .map(|s| s.id)
        .collect();
    let newest_first: Vec<SessionId> = made.iter().rev().map(|s| s.id).collect();
    assert_eq!(listed, newest_first);
    let two: Vec<SessionId> = store
        .list_sessions(2)
        .await
        .unwrap()
        .iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(two, newest_first[..2]);
    assert_eq!(kinds_for(store, made[0].id).await, vec!["session.created"]);
    // No personal data in the event stream.
    let all = serde_json::to_string(&all_events(store).await).unwrap();
    assert!(!all.contains("Asha") && !all.contains("LN-7") && !all.contains("1990-02-28"));
}

async fn update_session_commits_or_writes_nothing(b: Backend) {
    let store = &*b.store;
    let s = new_session(json!({}));
    store.create_session(&s).await.unwrap();
    let id = s.id;
    let before = all_events(store).await.len();

    let extra = Uuid::new_v4();
    let r = store
        .update_session(id, move |s| {
            s.participants.push(extra.into());
            Ok::<_, String>((
                7,
                Some(DomainEvent::new(
                    Some(s.id),
                    data::ChallengeIssued {
                        by_role: "agent".into(),
                        moves: 1,
                    },
                )),
            ))
        })
        .await
        .unwrap();
    assert_eq!(r, Some(Ok(7)));
    let got = store.get_session(id).await.unwrap().unwrap();
    assert_eq!(got.participants, vec![extra]);
    assert!(got.updated_at >= s.updated_at);
    assert_eq!(
        kinds_for(store, id).await,
        vec!["session.created", "challenge.issued"]
    );

    // A refusal leaves nothing written: neither the change nor an event.
    let r = store
        .update_session(id, |s| {
            s.participants.clear();
            Err::<((), Option<DomainEvent>), _>("no".to_string())
        })
        .await
        .unwrap();
    assert_eq!(r, Some(Err("no".to_string())));
    assert_eq!(store.get_session(id).await.unwrap().unwrap(), got);
    assert_eq!(all_events(store).await.len(), before + 1);

    let none = store
        .update_session(SessionId::new(), |_| Ok::<_, String>(((), None)))
        .await
        .unwrap();
    assert!(none.is_none());
}

async fn cancel_session(b: Backend) {
    let store = &*b.store;
    let s = new_session(json!({}));
    store.create_session(&s).await.unwrap();
    assert_eq!(store.cancel_session(s.id).await.unwrap(), Some(true));
    let got = store.get_session(s.id).await.unwrap().unwrap();
    assert_eq!(got.status, SessionStatus::Cancelled);
    assert!(got.ended_at.is_some());
    assert_eq!(
        store.cancel_session(s.id).await.unwrap(),
        Some(false),
        "already finished"
    );
    assert_eq!(store.cancel_session(SessionId::new()).await.unwrap(), None);
    assert_eq!(
        kinds_for(store, s.id).await,
        vec!["session.created", "session.cancelled"]
    );
}

async fn expiry_and_scheduled_windows(b: Backend) {
    let store = &*b.store;
    let short = new_session(json!({"expires_in_secs": 1}));
    let long = new_session(json!({}));
    let now = Utc::now();
    let window = json!({"schedule": {"starts_at": now + chrono::Duration::seconds(2), "ends_at": now + chrono::Duration::hours(1)}});
    let scheduled = new_session(window);
    assert_eq!(scheduled.status, SessionStatus::Scheduled);
    for s in [&short, &long, &scheduled] {
        store.create_session(s).await.unwrap();
    }
    assert!(
        store.expire_due(now).await.unwrap() == Default::default(),
        "nothing due yet"
    );
    let later = now + chrono::Duration::seconds(5);
    let due = store.expire_due(later).await.unwrap();
    assert_eq!(
        (due.expired, due.opened),
        (vec![short.id], vec![scheduled.id])
    );
    assert_eq!(
        store.get_session(short.id).await.unwrap().unwrap().status,
        SessionStatus::Expired
    );
    assert_eq!(
        store.get_session(long.id).await.unwrap().unwrap().status,
        SessionStatus::Waiting
    );
    assert_eq!(
        store
            .get_session(scheduled.id)
            .await
            .unwrap()
            .unwrap()
            .status,
        SessionStatus::Waiting,
        "window opened"
    );
    assert!(
        store.expire_due(later).await.unwrap() == Default::default(),
        "each expires once, each window opens once"
    );
    assert_eq!(
        kinds_for(store, short.id).await,
        vec!["session.created", "session.expired"]
    );
    assert_eq!(
        kinds_for(store, scheduled.id).await,
        vec!["session.created", "session.waiting"]
    );
    // A cancelled session does not expire.
    let c = new_session(json!({"expires_in_secs": 1}));
    store.create_session(&c).await.unwrap();
    store.cancel_session(c.id).await.unwrap();
    assert!(store
        .expire_due(later + chrono::Duration::seconds(5))
        .await
        .unwrap()
        .expired
        .is_empty());
}

fn capture(session_id: SessionId, kind: CaptureKind, n: u64) -> Capture {
    Capture {
        id: Uuid::now_v7(),
        session_id,
        kind,
        content_type: "image/jpeg".into(),
        width: 640,
        height: 480,
        bytes: 1000 + n,
        sha256: format!("{n:064x}"),
        taken_by: "agent".into(),
        created_at: Utc::now(),
    }
}

async fn captures_crud_and_order(b: Backend) {
    let store = &*b.store;
    let s = new_session(json!({}));
    store.create_session(&s).await.unwrap();
    assert!(store.list_captures(s.id).await.unwrap().is_empty());
    let mut made = vec![];
    for (n, kind) in [CaptureKind::Document, CaptureKind::Face, CaptureKind::Frame]
        .into_iter()
        .enumerate()
    {
        let c = capture(s.id, kind, n as u64);
        store.add_capture(&c).await.unwrap();
        made.push(c);
        tokio::time::sleep(std::time::Duration::from_millis(3)).await;
    }
    assert_eq!(
        store.list_captures(s.id).await.unwrap(),
        made,
        "oldest first"
    );
    assert_eq!(
        store.get_capture(s.id, made[1].id).await.unwrap().as_ref(),
        Some(&made[1])
    );
    assert!(store
        .get_capture(s.id, Uuid::new_v4())
        .await
        .unwrap()
        .is_none());
    assert!(store
        .get_capture(SessionId::new(), made[1].id)
        .await
        .unwrap()
        .is_none());
    assert_eq!(
        kinds_for(store, s.id).await,
        vec![
            "session.created",
            "capture.stored",
            "capture.stored",
            "capture.stored"
        ]
    );
}

async fn case_save_and_load(b: Backend) {
    let store = &*b.store;
    let s = new_session(json!({}));
    store.create_session(&s).await.unwrap();
    assert!(store.load_case(s.id).await.unwrap().is_none());
    let case = KycCase::new(s.id, s.workflow.clone());
    store
        .save_case(&case, consent_completed(s.id))
        .await
        .unwrap();
    assert_eq!(store.load_case(s.id).await.unwrap(), Some(case.clone()));
    let mut changed = case.clone();
    changed.steps.pop();
    store
        .save_case(&changed, consent_completed(s.id))
        .await
        .unwrap();
    assert_eq!(store.load_case(s.id).await.unwrap(), Some(changed));
    assert_eq!(
        kinds_for(store, s.id).await,
        vec!["session.created", "step.completed", "step.completed"]
    );
}

async fn events_ordered_with_cursor(b: Backend) {
    let store = &*b.store;
    let s = new_session(json!({}));
    store.create_session(&s).await.unwrap();
    for n in 0..7 {
        let joined = data::PeerJoined {
            peer_id: PeerId::new(),
            role: Role::Customer,
            participant_id: n.to_string(),
        };
        store
            .publish(DomainEvent::new(Some(s.id), joined))
            .await
            .unwrap();
    }
    let all = all_events(store).await;
    assert_eq!(all.len(), 8);
    assert!(
        all.windows(2).all(|w| w[0].seq < w[1].seq),
        "strictly increasing seq"
    );
    let ns: Vec<i64> = all[1..]
        .iter()
        .map(|e| e.data["participant_id"].as_str().unwrap().parse().unwrap())
        .collect();
    assert_eq!(ns, (0..7).collect::<Vec<_>>(), "in publishing order");
    assert!(all
        .iter()
        .all(|e| e.version == vkyc::store::EVENT_SCHEMA_VERSION));
    // Cursor: strictly after, limited, and empty at the end.
    let page = store.events_after(all[2].seq, 3).await.unwrap();
    assert_eq!(page, all[3..6].to_vec());
    let mut cursor = 0;
    let mut walked = vec![];
    loop {
        let page = store.events_after(cursor, 2).await.unwrap();
        let Some(last) = page.last() else { break };
        cursor = last.seq;
        walked.extend(page);
    }
    assert_eq!(walked, all);
    assert!(store.events_after(all[7].seq, 10).await.unwrap().is_empty());
    assert!(store
        .events_after(u64::MAX - 1, 1)
        .await
        .unwrap()
        .is_empty());
}

async fn relay_cursor_only_moves_forward(b: Backend) {
    let store = &*b.store;
    assert_eq!(store.relay_cursor("kafka").await.unwrap(), 0);
    store.set_relay_cursor("kafka", 5).await.unwrap();
    assert_eq!(store.relay_cursor("kafka").await.unwrap(), 5);
    store.set_relay_cursor("kafka", 3).await.unwrap();
    assert_eq!(store.relay_cursor("kafka").await.unwrap(), 5, "never back");
    assert_eq!(store.relay_cursor("other").await.unwrap(), 0);
}

async fn call_events_move_the_session(b: Backend) {
    let store = &*b.store;
    let s = new_session(json!({}));
    store.create_session(&s).await.unwrap();
    store
        .publish(DomainEvent::new(Some(s.id), data::RoomStarted {}))
        .await
        .unwrap();
    let got = store.get_session(s.id).await.unwrap().unwrap();
    assert_eq!(got.status, SessionStatus::InProgress);
    assert!(got.started_at.is_some());
    store
        .publish(DomainEvent::new(
            Some(s.id),
            data::RoomEnded {
                reason: "ended_by_api".into(),
                by: None,
                duration_ms: 1,
            },
        ))
        .await
        .unwrap();
    let got = store.get_session(s.id).await.unwrap().unwrap();
    assert_eq!(got.status, SessionStatus::Completed);
    let kinds = kinds_for(store, s.id).await;
    assert!(
        kinds.contains(&"video.completed".to_string()) && kinds.contains(&"room.ended".to_string()),
        "{kinds:?}"
    );
    // A finished session stays finished; the event is still logged.
    store
        .publish(DomainEvent::new(Some(s.id), data::RoomStarted {}))
        .await
        .unwrap();
    assert_eq!(
        store.get_session(s.id).await.unwrap().unwrap().status,
        SessionStatus::Completed
    );
    assert_eq!(
        kinds_for(store, s.id).await.last().map(String::as_str),
        Some("room.started")
    );
    // Node-level events have no session.
    store
        .publish(DomainEvent::new(
            None,
            data::SupervisorRestarted {
                supervisor: "rooms".into(),
            },
        ))
        .await
        .unwrap();
    assert_eq!(
        all_events(store).await.last().unwrap().kind,
        "supervisor.restarted"
    );
}

async fn erase_removes_personal_data(b: Backend) {
    let store = &*b.store;
    let mut s = new_session(json!({"workflow": ["consent", "questions"]}));
    let bank: QuestionBank = serde_json::from_value(json!({"id": "b", "name": "B", "ask": 1,
        "questions": [{"id": "pincode", "text": "Your pincode?"}]}))
    .unwrap();
    let expected = serde_json::from_value(json!({"pincode": "411001"})).unwrap();
    s.ask(&bank, &expected, &mut rand::thread_rng()).unwrap();
    store.create_session(&s).await.unwrap();
    assert_eq!(
        store.get_session(s.id).await.unwrap().unwrap().questions[0]
            .expected
            .as_deref(),
        Some("411001")
    );
    let c = capture(s.id, CaptureKind::Document, 1);
    store.add_capture(&c).await.unwrap();
    store
        .save_case(
            &KycCase::new(s.id, s.workflow.clone()),
            consent_completed(s.id),
        )
        .await
        .unwrap();
    let other = new_session(json!({}));
    store.create_session(&other).await.unwrap();

    let erased = store.erase_session(s.id).await.unwrap().unwrap();
    assert_eq!(erased.blob_keys, vec![c.blob_key()]);
    let got = store.get_session(s.id).await.unwrap().unwrap();
    assert_eq!(got.applicant.name.as_str(), vkyc::store::ERASED_NAME);
    assert!(got.applicant.date_of_birth.is_none() && got.applicant.reference_id.is_none());
    assert_eq!(
        (
            got.questions[0].id.as_str(),
            got.questions[0].expected.as_deref()
        ),
        ("pincode", None),
        "the question asked stays, the lender's expected answer goes"
    );
    assert_eq!(got.status, s.status, "the session itself stays");
    assert!(store.load_case(s.id).await.unwrap().is_none());
    assert!(store.list_captures(s.id).await.unwrap().is_empty());
    assert_eq!(
        store.get_session(other.id).await.unwrap().unwrap(),
        other,
        "others untouched"
    );
    assert!(store
        .erase_session(SessionId::new())
        .await
        .unwrap()
        .is_none());
}

async fn question_banks_crud(b: Backend) {
    let store = &*b.store;
    let bank = |id: &str, n: usize| -> QuestionBank {
        let questions: Vec<_> = (0..n)
            .map(|i| json!({"id": format!("q{i}"), "text": format!("Question {i}?")}))
            .collect();
        serde_json::from_value(json!({"id": id, "name": id, "ask": 1, "questions": questions}))
            .unwrap()
    };
    assert!(store.list_banks().await.unwrap().is_empty());
    assert!(store.put_bank(&bank("loans", 2)).await.unwrap(), "new");
    assert!(store.put_bank(&bank("cards", 1)).await.unwrap());
    assert!(
        !store.put_bank(&bank("loans", 3)).await.unwrap(),
        "replaced"
    );
    let loans = BankId::parse("loans").unwrap();
    assert_eq!(
        store.get_bank(&loans).await.unwrap(),
        Some(bank("loans", 3))
    );
    let ids: Vec<String> = store
        .list_banks()
        .await
        .unwrap()
        .into_iter()
        .map(|b| b.id.to_string())
        .collect();
    assert_eq!(ids, ["cards", "loans"]);
    assert!(store.delete_bank(&loans).await.unwrap());
    assert!(!store.delete_bank(&loans).await.unwrap(), "already gone");
    assert_eq!(store.get_bank(&loans).await.unwrap(), None);
    assert_eq!(store.list_banks().await.unwrap().len(), 1);
}

async fn group_applicants_join_the_parent(b: Backend) {
    let store = &*b.store;
    let parent = new_session(json!({}));
    store.create_session(&parent).await.unwrap();
    let child = new_session(json!({"parent_id": parent.id}));
    store.create_session(&child).await.unwrap();
    assert_eq!(
        store
            .get_session(parent.id)
            .await
            .unwrap()
            .unwrap()
            .participants,
        vec![child.id]
    );
    let orphan = new_session(json!({"parent_id": Uuid::new_v4()}));
    assert!(matches!(
        store.create_session(&orphan).await,
        Err(StoreError::Conflict("parent_not_found", _))
    ));
    // The call moves the applicants with the parent.
    store
        .publish(DomainEvent::new(Some(parent.id), data::RoomStarted {}))
        .await
        .unwrap();
    assert_eq!(
        store.get_session(child.id).await.unwrap().unwrap().status,
        SessionStatus::InProgress
    );
}

// ---------------------------------------------------------------------------------------
// Recordings: metadata written from recording.* events, in the event's batch/transaction.

fn recording_started(session: SessionId, id: Uuid) -> DomainEvent {
    let started = data::RecordingStarted {
        recording_id: id,
        blob_key: format!("recordings/{}", id.simple()),
        key_id: "k1".into(),
        container: Container::Webm,
        started_at: Utc::now(),
    };
    DomainEvent::new(Some(session), started)
}

fn recording_succeeded(session: SessionId, id: Uuid, summary: RecordingSummary) -> DomainEvent {
    DomainEvent::new(
        Some(session),
        data::RecordingSucceeded {
            recording_id: id,
            reason: "room_ended".into(),
            summary,
        },
    )
}

fn recording_failed(
    session: SessionId,
    id: Uuid,
    reason: &str,
    bytes: Option<Option<u64>>,
) -> DomainEvent {
    DomainEvent::new(
        Some(session),
        data::RecordingFailed {
            recording_id: id,
            reason: reason.into(),
            bytes,
        },
    )
}

async fn recordings_follow_their_events(b: Backend) {
    let store = &*b.store;
    let s = new_session(json!({}));
    store.create_session(&s).await.unwrap();
    assert!(store.list_recordings(s.id).await.unwrap().is_empty());
    let (first, second) = (Uuid::now_v7(), Uuid::now_v7());
    store.publish(recording_started(s.id, first)).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(3)).await;
    store
        .publish(recording_started(s.id, second))
        .await
        .unwrap();
    let r = store
        .get_recording(first)
        .await
        .unwrap()
        .expect("written with recording.started");
    assert_eq!(
        (
            r.session_id,
            r.status,
            r.container.as_str(),
            r.key_id.as_str()
        ),
        (s.id, RecordingStatus::Recording, "webm", "k1")
    );
    assert_eq!(r.blob_key, format!("recordings/{}", first.simple()));
    assert!(r.ended_at.is_none() && r.bytes.is_none());

    let track = RecordedTrack {
        number: 1,
        kind: vkyc_domain::MediaKind::Video,
        role: Role::Customer,
        participant_id: "p1".into(),
        frames: 300,
        packets: 900,
        lost_packets: 2,
        start_ms: 0,
        synced_by_sender_report: true,
    };
    let ok = RecordingSummary {
        duration_ms: 10_000,
        bytes: 123_456,
        tracks: vec![track],
        packets_recorded: 900,
        frames_clamped: 0,
        finalize_ms: 40,
    };
    store
        .publish(recording_succeeded(s.id, first, ok))
        .await
        .unwrap();
    let r = store.get_recording(first).await.unwrap().unwrap();
    assert_eq!(
        (r.status, r.duration_ms, r.bytes, r.finalize_ms),
        (
            RecordingStatus::Ready,
            Some(10_000),
            Some(123_456),
            Some(40)
        )
    );
    assert_eq!(r.tracks.len(), 1);
    assert_eq!(r.tracks[0].frames, 300);
    assert!(r.ended_at.is_some());

    store
        .publish(recording_failed(
            s.id,
            second,
            "storage_unavailable",
            Some(Some(99)),
        ))
        .await
        .unwrap();
    let r = store.get_recording(second).await.unwrap().unwrap();
    assert_eq!(
        (r.status, r.failure_reason.as_deref(), r.bytes),
        (
            RecordingStatus::Failed,
            Some("storage_unavailable"),
            Some(99)
        )
    );

    // Oldest first, and only this session's.
    let other = new_session(json!({}));
    store.create_session(&other).await.unwrap();
    store
        .publish(recording_started(other.id, Uuid::now_v7()))
        .await
        .unwrap();
    let listed: Vec<Uuid> = store
        .list_recordings(s.id)
        .await
        .unwrap()
        .iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(listed, vec![first, second]);
    assert_eq!(store.list_recordings(other.id).await.unwrap().len(), 1);
    assert!(store.get_recording(Uuid::new_v4()).await.unwrap().is_none());

    // An end event for a recording never started changes no table, but is logged.
    let stray = Uuid::now_v7();
    store
        .publish(recording_failed(s.id, stray, "x", None))
        .await
        .unwrap();
    assert!(store.get_recording(stray).await.unwrap().is_none());
    // Recording events leave the session's status alone, and every one is in the log.
    assert_eq!(
        store.get_session(s.id).await.unwrap().unwrap().status,
        s.status
    );
    assert_eq!(
        kinds_for(store, s.id).await,
        vec![
            "session.created",
            "recording.started",
            "recording.started",
            "recording.succeeded",
            "recording.failed",
            "recording.failed"
        ]
    );
}

async fn interrupted_recordings_are_failed_at_startup(b: Backend) {
    let store = &*b.store;
    let s = new_session(json!({}));
    store.create_session(&s).await.unwrap();
    let (done, cut) = (Uuid::now_v7(), Uuid::now_v7());
    store.publish(recording_started(s.id, done)).await.unwrap();
    store.publish(recording_started(s.id, cut)).await.unwrap();
    let ok = RecordingSummary {
        duration_ms: 1,
        bytes: 10,
        tracks: vec![],
        packets_recorded: 0,
        frames_clamped: 0,
        finalize_ms: 1,
    };
    store
        .publish(recording_succeeded(s.id, done, ok))
        .await
        .unwrap();

    let repaired = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let seen = repaired.clone();
    let failed = store
        .fail_interrupted_recordings(Box::new(move |key| {
            seen.lock().unwrap().push(key.to_string());
            Some(4096)
        }))
        .await
        .unwrap();
    assert_eq!(failed, vec![cut]);
    assert_eq!(
        *repaired.lock().unwrap(),
        vec![format!("recordings/{}", cut.simple())],
        "only the open recording's file is repaired"
    );
    let r = store.get_recording(cut).await.unwrap().unwrap();
    assert_eq!(
        (r.status, r.failure_reason.as_deref(), r.bytes),
        (
            RecordingStatus::Failed,
            Some("server_stopped_during_call"),
            Some(4096)
        )
    );
    assert!(r.ended_at.is_some());
    assert_eq!(
        store.get_recording(done).await.unwrap().unwrap().status,
        RecordingStatus::Ready,
        "finished ones untouched"
    );
    let last = all_events(store)
        .await
        .into_iter()
        .filter(|e| e.session_id == Some(s.id))
        .last()
        .unwrap();
    assert_eq!(
        (
            last.kind.as_str(),
            &last.data["reason"],
            &last.data["recording_id"]
        ),
        (
            "recording.failed",
            &json!("server_stopped_during_call"),
            &json!(cut)
        )
    );
    // Once only: a second start-up finds nothing open.
    assert!(store
        .fail_interrupted_recordings(Box::new(|_| None))
        .await
        .unwrap()
        .is_empty());
}

// Webhooks.

fn subscription(n: i64) -> Subscription {
    Subscription {
        id: Uuid::new_v4(),
        url: format!("https://hooks.example.com/{n}"),
        secret: format!("whsec_{n}"),
        event_types: vec!["video.completed".into(), "session.*".into()],
        created_at: Utc::now() + chrono::Duration::milliseconds(n),
    }
}

/// Two subscriptions, stored.
async fn two_subscriptions(store: &dyn Store) -> (Subscription, Subscription) {
    let (a, b) = (subscription(0), subscription(1));
    store.create_subscription(&a).await.unwrap();
    store.create_subscription(&b).await.unwrap();
    (a, b)
}

fn attempt(n: u32, status: u16) -> Attempt {
    let error = (status >= 300).then(|| "http_status".to_string());
    Attempt {
        attempt: n,
        at: Utc::now(),
        status: Some(status),
        error,
        latency_ms: 5,
    }
}

async fn webhook_subscriptions_crud(b: Backend) {
    let store = &*b.store;
    assert!(store.list_subscriptions().await.unwrap().is_empty());
    let (a, c) = (subscription(0), subscription(10));
    store.create_subscription(&c).await.unwrap();
    store.create_subscription(&a).await.unwrap();
    assert_eq!(
        store
            .get_subscription(a.id)
            .await
            .unwrap()
            .as_ref()
            .map(|s| (&s.url, &s.secret, &s.event_types)),
        Some((&a.url, &a.secret, &a.event_types))
    );
    let got = store.get_subscription(a.id).await.unwrap().unwrap();
    assert_eq!(
        got.created_at.timestamp_millis(),
        a.created_at.timestamp_millis()
    );
    assert!(store
        .get_subscription(Uuid::new_v4())
        .await
        .unwrap()
        .is_none());
    let ids: Vec<Uuid> = store
        .list_subscriptions()
        .await
        .unwrap()
        .iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(ids, vec![a.id, c.id], "oldest first");
    assert!(store.delete_subscription(a.id).await.unwrap());
    assert!(!store.delete_subscription(a.id).await.unwrap());
    assert!(store.get_subscription(a.id).await.unwrap().is_none());
    assert_eq!(store.list_subscriptions().await.unwrap().len(), 1);
}

async fn webhook_deliveries_unique_queued_retried_dead_lettered(b: Backend) {
    let store = &*b.store;
    let s = subscription(0);
    store.create_subscription(&s).await.unwrap();
    let session = new_session(json!({}));
    store.create_session(&session).await.unwrap();
    let now = Utc::now();
    let ev = Uuid::new_v4();
    let d = Delivery::new(
        s.id,
        ev,
        "video.completed",
        Some(session.id),
        "{\"type\":\"video.completed\"}".into(),
        now,
    );
    assert_eq!(
        store
            .enqueue_deliveries(vec![d.clone()], Some(("webhooks", 7)))
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        store.get_delivery(d.id).await.unwrap().as_ref(),
        Some(&d),
        "round trip"
    );
    // A replay of the same event makes no second delivery; the cursor never goes back.
    let again = Delivery::new(
        s.id,
        ev,
        "video.completed",
        Some(session.id),
        "{}".into(),
        now,
    );
    assert_eq!(
        store
            .enqueue_deliveries(vec![again.clone(), again], Some(("webhooks", 3)))
            .await
            .unwrap(),
        0
    );
    assert_eq!(store.relay_cursor("webhooks").await.unwrap(), 7);
    store
        .enqueue_deliveries(vec![], Some(("webhooks", 9)))
        .await
        .unwrap();
    assert_eq!(
        store.relay_cursor("webhooks").await.unwrap(),
        9,
        "the cursor moves on its own too"
    );
    assert_eq!(
        store.due_deliveries(now, 10).await.unwrap(),
        vec![d.clone()]
    );

    let later = now + chrono::Duration::seconds(60);
    let r = store
        .record_attempt(d.id, attempt(1, 500), NextStep::Retry(later))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (r.state, r.run_attempts, r.next_attempt_at, r.attempts.len()),
        (DeliveryState::Pending, 1, Some(later), 1)
    );
    assert_eq!(
        store.get_delivery(d.id).await.unwrap().unwrap(),
        r,
        "attempt history stored"
    );
    assert!(store.due_deliveries(now, 10).await.unwrap().is_empty());
    assert_eq!(store.due_deliveries(later, 10).await.unwrap().len(), 1);

    let r = store
        .record_attempt(d.id, attempt(2, 503), NextStep::Dead)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((r.state, r.next_attempt_at), (DeliveryState::Dead, None));
    assert!(store.due_deliveries(later, 10).await.unwrap().is_empty());
    let dead = store
        .list_deliveries(s.id, Some(DeliveryState::Dead), 10)
        .await
        .unwrap();
    assert_eq!(dead.iter().map(|d| d.id).collect::<Vec<_>>(), vec![d.id]);
    let last = all_events(store).await.pop().unwrap();
    assert_eq!(
        (last.kind.as_str(), last.session_id),
        ("webhook.dead_lettered", Some(session.id))
    );
    assert_eq!(
        (
            &last.data["delivery_id"],
            &last.data["attempts"],
            &last.data["last_status"]
        ),
        (&json!(d.id), &json!(2), &json!(503))
    );
    assert!(
        store
            .record_attempt(d.id, attempt(3, 200), NextStep::Succeeded)
            .await
            .unwrap()
            .is_none(),
        "no longer pending"
    );

    // Redelivery: leaves the dead letters, a fresh schedule, the history kept.
    let r = store.redeliver(d.id, later).await.unwrap().unwrap();
    assert_eq!(
        (r.state, r.run_attempts, r.attempts.len(), r.next_attempt_at),
        (DeliveryState::Pending, 0, 2, Some(later))
    );
    assert!(store
        .list_deliveries(s.id, Some(DeliveryState::Dead), 10)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(store.due_deliveries(later, 10).await.unwrap().len(), 1);
    // Redelivering a pending delivery at its own due time keeps it queued once.
    store.redeliver(d.id, later).await.unwrap().unwrap();
    assert_eq!(store.due_deliveries(later, 10).await.unwrap().len(), 1);
    let r = store
        .record_attempt(d.id, attempt(3, 200), NextStep::Succeeded)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (r.state, r.next_attempt_at, r.attempts.len()),
        (DeliveryState::Succeeded, None, 3)
    );
    assert!(store
        .due_deliveries(later + chrono::Duration::hours(3), 10)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        store
            .list_deliveries(s.id, Some(DeliveryState::Succeeded), 10)
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(store
        .redeliver(Uuid::new_v4(), later)
        .await
        .unwrap()
        .is_none());
    assert!(store
        .record_attempt(Uuid::new_v4(), attempt(1, 200), NextStep::Succeeded)
        .await
        .unwrap()
        .is_none());
}

async fn webhook_due_queue_order_limit_and_log(b: Backend) {
    let store = &*b.store;
    let (s1, s2) = two_subscriptions(store).await;
    let now = Utc::now();
    // Due times across hours, enqueued out of order.
    let offsets = [-7200i64, 30, -60, 5400, -3];
    let mut made = vec![];
    for off in offsets {
        let at = now + chrono::Duration::seconds(off);
        let d = Delivery::new(
            s1.id,
            Uuid::new_v4(),
            "session.created",
            None,
            "{}".into(),
            at,
        );
        made.push(d);
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
    let for_s2 = Delivery::new(
        s2.id,
        made[0].event_id,
        "session.created",
        None,
        "{}".into(),
        now,
    );
    let mut all = made.clone();
    all.push(for_s2.clone());
    assert_eq!(
        store.enqueue_deliveries(all, None).await.unwrap(),
        6,
        "the same event for two subscriptions is two deliveries"
    );
    let due: Vec<Uuid> = store
        .due_deliveries(now, 10)
        .await
        .unwrap()
        .iter()
        .map(|d| d.id)
        .collect();
    assert_eq!(due.len(), 4);
    assert_eq!(
        due[..3],
        [made[0].id, made[2].id, made[4].id],
        "soonest first"
    );
    assert!(due.contains(&for_s2.id));
    let two: Vec<Uuid> = store
        .due_deliveries(now, 2)
        .await
        .unwrap()
        .iter()
        .map(|d| d.id)
        .collect();
    assert_eq!(two, vec![made[0].id, made[2].id]);
    assert_eq!(
        store
            .due_deliveries(now + chrono::Duration::hours(2), 10)
            .await
            .unwrap()
            .len(),
        6
    );

    // The log: newest first, limited, per subscription.
    let log: Vec<Uuid> = store
        .list_deliveries(s1.id, None, 10)
        .await
        .unwrap()
        .iter()
        .map(|d| d.id)
        .collect();
    assert_eq!(log, made.iter().rev().map(|d| d.id).collect::<Vec<_>>());
    let three: Vec<Uuid> = store
        .list_deliveries(s1.id, Some(DeliveryState::Pending), 3)
        .await
        .unwrap()
        .iter()
        .map(|d| d.id)
        .collect();
    assert_eq!(three, log[..3]);
    assert_eq!(
        store.list_deliveries(s2.id, None, 10).await.unwrap(),
        vec![for_s2]
    );
    assert!(store
        .list_deliveries(s1.id, Some(DeliveryState::Dead), 10)
        .await
        .unwrap()
        .is_empty());
}

async fn webhook_delete_subscription_takes_its_deliveries(b: Backend) {
    let store = &*b.store;
    let (gone, kept) = two_subscriptions(store).await;
    let now = Utc::now();
    let ev = Uuid::new_v4();
    let d1 = Delivery::new(gone.id, ev, "session.created", None, "{}".into(), now);
    let d2 = Delivery::new(
        gone.id,
        Uuid::new_v4(),
        "session.created",
        None,
        "{}".into(),
        now,
    );
    let d3 = Delivery::new(kept.id, ev, "session.created", None, "{}".into(), now);
    assert_eq!(
        store
            .enqueue_deliveries(vec![d1.clone(), d2.clone()], None)
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        store
            .enqueue_deliveries(vec![d3.clone()], None)
            .await
            .unwrap(),
        1,
        "the same event, another subscription"
    );
    store
        .record_attempt(d2.id, attempt(1, 410), NextStep::Dead)
        .await
        .unwrap()
        .unwrap();
    assert!(store.delete_subscription(gone.id).await.unwrap());
    assert!(
        store.get_delivery(d1.id).await.unwrap().is_none()
            && store.get_delivery(d2.id).await.unwrap().is_none()
    );
    assert!(store
        .list_deliveries(gone.id, None, 10)
        .await
        .unwrap()
        .is_empty());
    assert!(store
        .list_deliveries(gone.id, Some(DeliveryState::Dead), 10)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        store.due_deliveries(now, 10).await.unwrap(),
        vec![d3.clone()],
        "the other subscription's queue stays"
    );
    assert_eq!(store.get_delivery(d3.id).await.unwrap(), Some(d3));
}

// ---------------------------------------------------------------------------------------
// Real ScyllaDB only.

#[tokio::test]
#[ignore = "needs a real ScyllaDB: set SCYLLA_URI=host:port"]
async fn scylla_lwt_keeps_every_concurrent_update() {
    let b = real_scylla().await;
    assert!(b.scylla.as_ref().unwrap().capabilities().lwt);
    let s = new_session(json!({}));
    b.store.create_session(&s).await.unwrap();
    let writers = (0..16).map(|_| {
        let store = b.store.clone();
        tokio::spawn(async move {
            let add = Uuid::new_v4();
            store
                .update_session(s.id, move |s| {
                    s.participants.push(add.into());
                    Ok::<_, String>(((), None))
                })
                .await
                .unwrap()
                .unwrap()
                .unwrap();
        })
    });
    for w in writers.collect::<Vec<_>>() {
        w.await.unwrap();
    }
    assert_eq!(
        b.store
            .get_session(s.id)
            .await
            .unwrap()
            .unwrap()
            .participants
            .len(),
        16,
        "no update lost"
    );
}

#[tokio::test]
#[ignore = "needs a real ScyllaDB: set SCYLLA_URI=host:port"]
async fn scylla_personal_data_is_written_with_ttl() {
    let b = real_scylla().await;
    let sc = b.scylla.as_ref().unwrap();
    let s = new_session(json!({}));
    b.store.create_session(&s).await.unwrap();
    let rows = sc
        .cql()
        .query_unpaged(
            "SELECT TTL(applicant_name), TTL(doc) FROM sessions WHERE id = ?",
            (s.id.into_uuid(),),
        )
        .await
        .unwrap();
    let (name_ttl, doc_ttl): (Option<i32>, Option<i32>) =
        rows.into_rows_result().unwrap().single_row().unwrap();
    let ttl = name_ttl.expect("applicant_name has a TTL") as u64;
    assert!(
        ttl > sc.pii_ttl_secs() - 60 && ttl <= sc.pii_ttl_secs(),
        "{ttl}"
    );
    assert_eq!(doc_ttl, None, "non-personal columns do not expire");
}

#[tokio::test]
#[ignore = "needs a real ScyllaDB: set SCYLLA_URI=host:port"]
async fn scylla_server_supports_ranges_and_desc_order() {
    let b = real_scylla().await;
    let caps = b.scylla.as_ref().unwrap().capabilities();
    assert!(caps.ranges && caps.lwt, "{caps:?}");
    sessions_create_get_list(b).await;
}

// ---------------------------------------------------------------------------------------
// Migrations: `vkyc migrate` twice against a CQL server is idempotent.

#[tokio::test]
async fn vkyc_migrate_twice_is_idempotent() {
    let addr: SocketAddr = kassandra_server::start();
    let ks = format!("vkyc_mig_{}", Uuid::new_v4().simple());
    let ks2 = ks.clone();
    let run = move || {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_vkyc"))
            .arg("migrate")
            .env("VKYC_PROFILE", "test")
            .env("VKYC_STORAGE__BACKEND", "scylla")
            .env(
                "VKYC_STORAGE__SCYLLA__CONTACT_POINTS",
                format!("[\"{addr}\"]"),
            )
            .env("VKYC_STORAGE__SCYLLA__KEYSPACE", &ks2)
            .env("VKYC_STORAGE__SCYLLA__REPLICATION_FACTOR", "1")
            .env("VKYC_STORAGE__SCYLLA__ALLOW_REMOTE_DC", "true")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(
            out.status.success(),
            "{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        stdout
    };
    let first = tokio::task::spawn_blocking(run.clone()).await.unwrap();
    assert!(first.contains("0001 0001_init applied now"), "{first}");
    let second = tokio::task::spawn_blocking(run).await.unwrap();
    assert!(
        second.contains("0001 0001_init already applied"),
        "{second}"
    );
    assert!(!second.contains("applied now"), "{second}");

    let cfg = scylla_config(addr.to_string(), ks);
    let store = ScyllaStore::connect(&cfg, false).await.unwrap();
    let rows = vkyc::store::scylla::migrate::applied(store.cql())
        .await
        .unwrap();
    assert_eq!(
        rows.len(),
        vkyc::store::scylla::migrate::MIGRATIONS.len(),
        "{rows:?}"
    );
    assert_eq!(rows[0].0, 1);
    // The schema works: the store connects to the migrated keyspace and writes.
    store.create_session(&new_session(json!({}))).await.unwrap();
}

// ---------------------------------------------------------------------------------------
// The server on the scylla back end (kassandra): migrations at start-up, then the API.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_runs_on_the_scylla_backend() {
    let addr = kassandra_server::start();
    let ks = format!("vkyc_app_{}", Uuid::new_v4().simple());
    let app = common::spawn_app_with(|f| {
        f.merge(("storage.backend", "scylla"))
            .merge(("storage.scylla.contact_points", vec![addr.to_string()]))
            .merge(("storage.scylla.keyspace", ks.clone()))
            .merge(("storage.scylla.replication_factor", 1))
            .merge(("storage.scylla.allow_remote_dc", true))
            .merge(("storage.scylla.migrate_on_start", true))
            .merge(("storage.scylla.events_settle_ms", 0))
    })
    .await;
    let auth = format!("Bearer {}", common::API_KEY);
    let http = &app.http;
    let (_, created) = common::call(
        &app,
        reqwest::Method::POST,
        "/v1/sessions",
        common::API_KEY,
        Some(json!({"mode": "live_agent", "applicant": {"name": "Ravi Kumar"}})),
    )
    .await;
    let id = created["id"].as_str().expect("created").to_string();
    let got = http
        .get(format!("{}/v1/sessions/{id}", app.base))
        .header("authorization", &auth)
        .send()
        .await
        .unwrap();
    assert_eq!(got.status(), 200);
    let got: serde_json::Value = got.json().await.unwrap();
    assert_eq!(got["applicant"]["name"], "Ravi Kumar");
    let cancel = http
        .post(format!("{}/v1/sessions/{id}/cancel", app.base))
        .header("authorization", &auth)
        .send()
        .await
        .unwrap();
    assert!(cancel.status().is_success(), "{}", cancel.status());
    let events: serde_json::Value = http
        .get(format!("{}/v1/events?after=0", app.base))
        .header("authorization", &auth)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let kinds: Vec<&str> = events["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        vec!["session.created", "session.cancelled"],
        "{events}"
    );
    let ready = http
        .get(format!("{}/readyz", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
}

async fn activity_chains_append_in_order_per_session(b: Backend) {
    use vkyc_domain::activity::{verify_chain, ActivityAction, Actor, ChainKey, NewActivity};
    let store = &*b.store;
    let key = ChainKey::new(b"contract".to_vec());
    let (a, other) = (SessionId::new(), SessionId::new());
    let new = |sid, i: u64| NewActivity {
        session_id: sid,
        actor: Actor::system("contract"),
        action: ActivityAction::CaptureRead,
        target: Some(format!("capture {i}")),
        from: Some("127.0.0.1".into()),
        at: Utc::now(),
    };
    let (empty, head) = store.activity(a).await.unwrap();
    assert!(empty.is_empty() && head.count == 0);
    for i in 1..=3 {
        let e = store.append_activity(&key, new(a, i)).await.unwrap();
        assert_eq!(e.seq, i);
    }
    store.append_activity(&key, new(other, 1)).await.unwrap();
    let (entries, head) = store.activity(a).await.unwrap();
    assert_eq!(entries.iter().map(|e| e.seq).collect::<Vec<_>>(), [1, 2, 3]);
    assert_eq!(head.count, 3);
    assert_eq!(verify_chain(&key, a, &entries, &head), Ok(()));
    let (entries, head) = store.activity(other).await.unwrap();
    assert_eq!((entries.len(), head.count), (1, 1));
    let mut ids = store.activity_sessions().await.unwrap();
    ids.sort();
    let mut want = vec![a, other];
    want.sort();
    assert_eq!(ids, want);
}

async fn retention_purges_classes_and_respects_a_hold(b: Backend) {
    use vkyc_domain::retention::{DataClass, LegalHold};
    let store = &*b.store;
    let mut ids = vec![];
    for _ in 0..2 {
        let s = new_session(json!({}));
        store.create_session(&s).await.unwrap();
        store
            .add_capture(&capture(s.id, CaptureKind::Frame, 1))
            .await
            .unwrap();
        store
            .save_case(
                &KycCase::new(s.id, s.workflow.clone()),
                consent_completed(s.id),
            )
            .await
            .unwrap();
        assert_eq!(store.cancel_session(s.id).await.unwrap(), Some(true));
        ids.push(s.id);
    }
    let open = new_session(json!({}));
    store.create_session(&open).await.unwrap();
    let (purged, held) = (ids[0], ids[1]);
    store
        .update_session(held, |s| {
            s.legal_hold = Some(LegalHold {
                since: Utc::now(),
                reason: "matter".into(),
            });
            Ok::<_, ()>(((), None))
        })
        .await
        .unwrap()
        .unwrap()
        .unwrap();

    let later = Utc::now() + chrono::Duration::seconds(5);
    let mut finished: Vec<_> = store
        .finished_before(later)
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.id)
        .collect();
    finished.sort();
    let mut want = ids.clone();
    want.sort();
    assert_eq!(finished, want, "finished sessions only");
    assert!(store
        .finished_before(Utc::now() - chrono::Duration::hours(1))
        .await
        .unwrap()
        .is_empty());

    let all = vec![
        DataClass::Captures,
        DataClass::PersonalFields,
        DataClass::CaseDocuments,
    ];
    store
        .purge_session(purged, all.clone(), 1)
        .await
        .unwrap()
        .unwrap();
    let got = store.get_session(purged).await.unwrap().unwrap();
    let mut marked = got.purged.clone();
    marked.sort();
    let mut want = all.clone();
    want.sort();
    assert_eq!(marked, want);
    assert_eq!(got.applicant.name.as_str(), vkyc::store::ERASED_NAME);
    assert!(store.list_captures(purged).await.unwrap().is_empty());
    assert!(store.load_case(purged).await.unwrap().is_none());
    assert!(kinds_for(store, purged)
        .await
        .contains(&"data.purged".to_string()));

    match store.purge_session(held, all, 1).await {
        Err(vkyc::store::StoreError::Conflict("legal_hold", _)) => {}
        other => panic!("a held session's purge: {other:?}"),
    }
    assert_eq!(store.list_captures(held).await.unwrap().len(), 1);
    assert!(store.load_case(held).await.unwrap().is_some());
    assert!(store
        .get_session(held)
        .await
        .unwrap()
        .unwrap()
        .purged
        .is_empty());
}

async fn event_purge_keeps_what_readers_have_not_taken(b: Backend) {
    let store = &*b.store;
    for _ in 0..4 {
        store.create_session(&new_session(json!({}))).await.unwrap();
    }
    let settle = || tokio::time::sleep(std::time::Duration::from_millis(50));
    settle().await;
    let later = Utc::now() + chrono::Duration::hours(1);
    let all = store.events_after(0, 100).await.unwrap();
    assert!(all.len() >= 4, "{}", all.len());
    // The readers took the first two: only those may go, however old the rest.
    let up_to = all[1].seq;
    store.purge_events_before(later, Some(up_to)).await.unwrap();
    let left: Vec<u64> = store
        .events_after(0, 100)
        .await
        .unwrap()
        .iter()
        .map(|e| e.seq)
        .collect();
    for e in &all[2..] {
        assert!(
            left.contains(&e.seq),
            "event {} was purged before it was read",
            e.seq
        );
    }
    // A reader that took nothing keeps everything.
    let before = left.len();
    store.purge_events_before(later, Some(0)).await.unwrap();
    assert_eq!(store.events_after(0, 100).await.unwrap().len(), before);
}
