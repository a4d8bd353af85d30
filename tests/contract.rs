//! The generated contract: `src/schema/openapi.json` is what the code generates, the server
//! serves it, and the reference page renders it; `src/schema/events/` holds the JSON Schema
//! of every event type as the code generates it from the events' typed payloads, and every
//! event the code builds satisfies its schema. To regenerate the files after changing a
//! handler, an event's payload or a type either uses:
//!
//! ```text
//! WRITE_SCHEMAS=1 cargo test --test contract
//! ```

mod common;
#[path = "support/event_schemas.rs"]
mod event_schemas;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use chrono::Utc;
use common::*;
use serde_json::{json, Value};
use uuid::Uuid;
use vkyc_domain::events::{data, DomainEvent, EventKind, Scope};

const REGENERATE: &str = "WRITE_SCHEMAS=1 cargo test --test contract";

fn committed_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src/schema/openapi.json")
}

#[test]
fn the_committed_openapi_document_is_what_the_code_generates() {
    let generated = vkyc::openapi::document_json();
    let path = committed_path();
    if std::env::var_os("WRITE_SCHEMAS").is_some_and(|v| v == "1") {
        std::fs::write(&path, &generated).unwrap();
        println!("wrote {}", path.display());
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert_generated("src/schema/openapi.json", &committed, &generated);
}

/// Fails, saying where, when the committed text of `file` is not the generated one.
fn assert_generated(file: &str, committed: &str, generated: &str) {
    if committed != generated {
        let first = committed
            .lines()
            .zip(generated.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(committed.lines().count().min(generated.lines().count()));
        let line = |s: &str| s.lines().nth(first).unwrap_or("<end of file>").to_string();
        panic!(
            "{file} differs from what the code generates (first at line {}):\n  committed: {}\n  generated: {}\nRegenerate it with `{REGENERATE}` and commit the file.",
            first + 1,
            line(committed),
            line(generated),
        );
    }
}

/// Every `$ref` in a value.
fn refs(v: &Value, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(m) => {
            if let Some(Value::String(r)) = m.get("$ref") {
                out.insert(r.clone());
            }
            m.values().for_each(|v| refs(v, out));
        }
        Value::Array(a) => a.iter().for_each(|v| refs(v, out)),
        _ => {}
    }
}

#[test]
fn every_operation_is_described_completely() {
    let doc: Value = serde_json::from_str(&vkyc::openapi::document_json()).unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    let schemes: BTreeSet<&str> = doc["components"]["securitySchemes"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        schemes,
        BTreeSet::from(["api_key", "console", "join_token"])
    );
    let mut ids = BTreeSet::new();
    let mut count = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        assert!(path.starts_with("/v1/"), "{path}: outside /v1");
        for (method, op) in item.as_object().unwrap() {
            let what = format!("{} {path}", method.to_uppercase());
            count += 1;
            let id = op["operationId"]
                .as_str()
                .unwrap_or_else(|| panic!("{what}: no operationId"));
            assert!(
                ids.insert(id.to_string()),
                "{what}: operationId {id} is used twice"
            );
            assert!(
                op["tags"].as_array().is_some_and(|t| !t.is_empty()),
                "{what}: no tag"
            );
            assert!(
                op["description"].is_string() || op["summary"].is_string(),
                "{what}: no description"
            );
            // Security is always said: a list of alternatives, `[{}]` for a public endpoint.
            let security = op["security"]
                .as_array()
                .unwrap_or_else(|| panic!("{what}: no security requirement"));
            let responses = op["responses"].as_object().unwrap();
            let bearer = security
                .iter()
                .any(|s| s.as_object().is_some_and(|o| !o.is_empty()));
            if bearer {
                for s in ["401", "403"] {
                    assert!(
                        responses.contains_key(s),
                        "{what}: takes a token but does not document {s}"
                    );
                    assert_eq!(
                        responses[s]["content"]["application/json"]["schema"]["$ref"],
                        "#/components/schemas/ErrorBody",
                        "{what}: {s}"
                    );
                }
            }
            // Every error answer has the error body.
            for (status, r) in responses {
                if status.starts_with('4') || status.starts_with('5') {
                    let content = r["content"].as_object();
                    let json = content.and_then(|c| c.get("application/json"));
                    if let Some(json) = json {
                        assert_eq!(
                            json["schema"]["$ref"], "#/components/schemas/ErrorBody",
                            "{what}: {status}"
                        );
                    } else {
                        // The WebSockets' "not an upgrade" answer is actix-ws's plain text.
                        let socket =
                            ["/v1/rtc", "/v1/desk/ws", "/v1/queue/ws"].contains(&path.as_str());
                        assert!(
                            socket && status == "400",
                            "{what}: {status} has no error body"
                        );
                    }
                }
            }
            // Path parameters are declared.
            for seg in path.split('/').filter(|s| s.starts_with('{')) {
                let name = seg.trim_matches(|c| c == '{' || c == '}');
                let declared = op["parameters"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|p| p["name"] == name && p["in"] == "path");
                assert!(declared, "{what}: path parameter {name} is not declared");
            }
        }
    }
    assert!(count >= 38, "only {count} operations");
    // Every reference resolves.
    let mut all = BTreeSet::new();
    refs(&doc, &mut all);
    for r in all {
        let name = r
            .strip_prefix("#/components/schemas/")
            .unwrap_or_else(|| panic!("unexpected $ref {r}"));
        assert!(
            doc["components"]["schemas"][name].is_object(),
            "$ref {r} does not resolve"
        );
    }
    // The error body, with its stable code.
    let err = &doc["components"]["schemas"]["ErrorBody"];
    assert_eq!(err["required"], serde_json::json!(["error"]));
}

#[tokio::test]
async fn the_server_serves_the_document_and_its_reference_page() {
    let app = spawn_app().await;
    let resp = app
        .http
        .get(format!("{}/v1/openapi.json", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "application/json");
    let served = resp.text().await.unwrap();
    assert_eq!(
        served,
        vkyc::openapi::document_json(),
        "GET /v1/openapi.json is not the generated document"
    );

    let page = app
        .http
        .get(format!("{}/docs/api", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(csp.starts_with("default-src 'self'"), "{csp}");
    let html = page.text().await.unwrap();
    assert!(html.contains("/static/reference.js"), "{html}");
    // Nothing comes from another origin: no CDN.
    assert!(
        !html.contains("http://") && !html.contains("https://") && !html.contains("//cdn"),
        "{html}"
    );
    for asset in ["reference.js", "reference.css"] {
        let r = app
            .http
            .get(format!("{}/static/{asset}", app.base))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{asset}");
        let text = r.text().await.unwrap();
        assert!(
            !text.contains("https://") && !text.contains("http://"),
            "{asset} loads from another origin"
        );
    }
}

// ---------------------------------------------------------------------------------------
// The events' schemas.

#[test]
fn the_committed_event_schemas_are_what_the_code_generates() {
    let dir = event_schemas::committed_dir();
    if std::env::var_os("WRITE_SCHEMAS").is_some_and(|v| v == "1") {
        let written = vkyc::events::schema::write(&dir).unwrap();
        println!("wrote {} schemas into {}", written.len(), dir.display());
        return;
    }
    let generated = vkyc::events::schemas();
    let committed = event_schemas::committed();
    let stale: Vec<&String> = committed
        .keys()
        .filter(|name| !generated.contains_key(*name))
        .collect();
    assert!(stale.is_empty(), "src/schema/events/ has files of no event type: {stale:?}. Regenerate with `{REGENERATE}` (it removes them).");
    let missing: Vec<&String> = generated
        .keys()
        .filter(|name| !committed.contains_key(*name))
        .collect();
    assert!(missing.is_empty(), "event types without a schema file: {missing:?}. Regenerate with `{REGENERATE}` and commit the files.");
    for (name, schema) in &generated {
        assert_generated(
            &format!("src/schema/events/{name}"),
            &committed[name],
            &vkyc::events::schema::file_text(schema),
        );
    }
    // One file per event type, and the envelope.
    assert_eq!(generated.len(), EventKind::ALL.len() + 1);
    for kind in EventKind::ALL {
        let s = &generated[&kind.schema_file()];
        assert_eq!(s["$id"], vkyc::events::dataschema(kind.as_str()));
        assert_eq!(s["properties"]["type"]["const"], kind.as_str());
        assert_eq!(
            s["required"] == json!(["subject"]),
            kind.scope() == Scope::Session,
            "{kind}: subject required iff it always has a session"
        );
    }
}

/// Events of every type as the code builds them (some types more than once, for the parts
/// that are null or absent in some events).
fn sample_events() -> Vec<DomainEvent> {
    use vkyc_domain::desk::presence::{AgentState, ChangeReason, ChangedBy};
    use vkyc_domain::kyc::{
        AuditVerdict, CaptureKind, CaseResult, Outcome, Scores, StepType, Verdict,
    };
    use vkyc_domain::recording::{Container, RecordedTrack, RecordingSummary};
    use vkyc_domain::session::{SessionMode, SessionStatus};
    use vkyc_domain::{call::LeaveReason, MediaKind, OfferId, PeerId, Role, SessionId, UserId};

    let s = Some(SessionId::new());
    let peer = PeerId::new();
    let (agent, offer) = (UserId::new(), OfferId::new());
    let track = RecordedTrack {
        number: 1,
        kind: MediaKind::Video,
        role: Role::Customer,
        participant_id: "customer".into(),
        frames: 300,
        packets: 900,
        lost_packets: 2,
        start_ms: 0,
        synced_by_sender_report: true,
    };
    let summary = RecordingSummary {
        duration_ms: 10_000,
        bytes: 123_456,
        tracks: vec![track],
        packets_recorded: 900,
        frames_clamped: 1,
        finalize_ms: 40,
    };
    let gone = |reason| data::PeerGone {
        peer_id: peer,
        role: Role::Customer,
        participant_id: "customer".into(),
        reason,
    };
    let failed = |bytes| data::RecordingFailed {
        recording_id: Uuid::now_v7(),
        reason: "server_stopped_during_call".into(),
        bytes,
    };
    let scores = Scores {
        face_match: Some(87),
        liveness: Some(100),
        name_match: None,
    };
    vec![
        DomainEvent::new(
            s,
            data::SessionCreated {
                mode: SessionMode::LiveAgent,
                status: SessionStatus::Waiting,
            },
        ),
        DomainEvent::new(s, data::RoomStarted {}),
        DomainEvent::new(
            s,
            data::RoomEnded {
                reason: "ended_by_agent".into(),
                by: Some(peer),
                duration_ms: 61_000,
            },
        ),
        DomainEvent::new(
            s,
            data::RoomEnded {
                reason: "ended_by_api".into(),
                by: None,
                duration_ms: 0,
            },
        ),
        DomainEvent::new(
            s,
            data::RoomFailed {
                error_kind: "actor_failed".into(),
            },
        ),
        DomainEvent::new(
            s,
            data::PeerJoined {
                peer_id: peer,
                role: Role::Agent,
                participant_id: "agent".into(),
            },
        ),
        DomainEvent::new(s, gone(LeaveReason::Disconnected)),
        DomainEvent::new(s, gone(LeaveReason::Failed)),
        DomainEvent::new(
            s,
            data::PeerMuted {
                peer_id: peer,
                kind: MediaKind::Audio,
                muted: true,
                by: PeerId::new(),
            },
        ),
        DomainEvent::new(
            None,
            data::SupervisorRestarted {
                supervisor: "rooms".into(),
            },
        ),
        DomainEvent::new(
            s,
            data::CaptureStored {
                capture_id: Uuid::new_v4(),
                kind: CaptureKind::Document,
                bytes: 52_000,
                taken_by: "agent".into(),
            },
        ),
        DomainEvent::new(
            s,
            data::StepCompleted {
                step: StepType::Face,
                attempt: 2,
                outcome: Outcome::Passed,
                scores: Some(scores),
            },
        ),
        DomainEvent::new(
            s,
            data::StepCompleted {
                step: StepType::Document,
                attempt: 1,
                outcome: Outcome::Error,
                scores: Some(Scores::default()),
            },
        ),
        DomainEvent::new(
            s,
            data::StepCompleted {
                step: StepType::Otp,
                attempt: 1,
                outcome: Outcome::Failed,
                scores: None,
            },
        ),
        DomainEvent::new(
            s,
            data::StepFailed {
                step: StepType::Face,
                attempt: 3,
            },
        ),
        DomainEvent::new(
            s,
            data::StepDecided {
                step: StepType::Consent,
                verdict: Verdict::Verified,
            },
        ),
        DomainEvent::new(
            s,
            data::VideoReviewed {
                result: CaseResult::Approved,
                recommendation: CaseResult::NeedsReview,
            },
        ),
        DomainEvent::new(
            s,
            data::CaseAudited {
                verdict: AuditVerdict::Recapture,
            },
        ),
        DomainEvent::new(
            s,
            data::OtpSent {
                by_role: "agent".into(),
            },
        ),
        DomainEvent::new(
            s,
            data::ChallengeIssued {
                by_role: "customer".into(),
                moves: 3,
            },
        ),
        DomainEvent::new(
            s,
            data::SessionExpired {
                expired_at: Utc::now(),
            },
        ),
        DomainEvent::new(s, data::SessionCancelled {}),
        DomainEvent::new(
            s,
            data::VideoCompleted {
                duration_secs: Some(61),
            },
        ),
        DomainEvent::new(
            s,
            data::VideoCompleted {
                duration_secs: None,
            },
        ),
        DomainEvent::new(s, data::SessionWaiting {}),
        DomainEvent::new(s, data::SelfRecordStarted {}),
        DomainEvent::new(
            s,
            data::SelfRecordSubmitted {
                video_bytes: 2_400_000,
            },
        ),
        DomainEvent::new(
            s,
            data::SelfRecordCompleted {
                result: vkyc_domain::kyc::CaseResult::Approved,
            },
        ),
        DomainEvent::new(
            s,
            data::SelfRecordCheckFailed {
                failed_checks: 2,
                next: vkyc_domain::session::AfterFailedCheck::LiveAgent,
            },
        ),
        DomainEvent::new(
            s,
            data::RecordingStarted {
                recording_id: Uuid::now_v7(),
                blob_key: "recordings/a/b.webm".into(),
                key_id: "k1".into(),
                container: Container::Webm,
                started_at: Utc::now(),
            },
        ),
        DomainEvent::new(
            s,
            data::RecordingSucceeded {
                recording_id: Uuid::now_v7(),
                reason: "ended_by_agent".into(),
                summary,
            },
        ),
        DomainEvent::new(s, failed(None)),
        DomainEvent::new(s, failed(Some(None))),
        DomainEvent::new(s, failed(Some(Some(4096)))),
        DomainEvent::new(
            s,
            data::WebhookDeadLettered {
                delivery_id: Uuid::new_v4(),
                subscription_id: Uuid::new_v4(),
                event_id: Uuid::new_v4(),
                event_type: "video.completed".into(),
                attempts: 8,
                last_status: Some(503),
                last_error: Some("http_status".into()),
            },
        ),
        DomainEvent::new(
            None,
            data::WebhookDeadLettered {
                delivery_id: Uuid::new_v4(),
                subscription_id: Uuid::new_v4(),
                event_id: Uuid::new_v4(),
                event_type: "supervisor.restarted".into(),
                attempts: 1,
                last_status: None,
                last_error: Some("timeout".into()),
            },
        ),
        DomainEvent::new(
            None,
            data::AgentStateChanged {
                user_id: agent,
                from: AgentState::Busy,
                to: AgentState::WrapUp,
                by: ChangedBy::System,
                reason: ChangeReason::CallEnded,
            },
        ),
        DomainEvent::new(s, data::QueueEntered {}),
        DomainEvent::new(
            s,
            data::QueueOffered {
                offer_id: offer,
                agent_id: agent,
                attempt: 2,
                expires_at: Utc::now(),
            },
        ),
        DomainEvent::new(
            s,
            data::QueueAccepted {
                offer_id: Some(offer),
                agent_id: agent,
                wait_secs: 95,
            },
        ),
        DomainEvent::new(
            s,
            data::QueueDeclined {
                offer_id: offer,
                agent_id: agent,
            },
        ),
        DomainEvent::new(
            s,
            data::QueueMissed {
                offer_id: offer,
                agent_id: agent,
                missed: 1,
            },
        ),
        DomainEvent::new(s, data::QueueAbandoned { wait_secs: 40 }),
        DomainEvent::new(s, data::QueueTimedOut { wait_secs: 900 }),
        DomainEvent::new(
            s,
            data::DataPurged {
                classes: vec![
                    vkyc_domain::retention::DataClass::Captures,
                    vkyc_domain::retention::DataClass::PersonalFields,
                ],
                files: 3,
            },
        ),
    ]
}

/// An event on the wire (CloudEvents JSON), as the relay publishes it.
fn wire(seq: u64, e: &DomainEvent) -> Value {
    let envelope = vkyc::store::EventEnvelope {
        seq,
        id: Uuid::new_v4(),
        kind: e.kind().as_str().to_string(),
        version: vkyc::store::EVENT_SCHEMA_VERSION,
        time: Utc::now(),
        session_id: e.session_id,
        data: e.data_json(),
    };
    vkyc::events::cloud_event(&envelope, "/vkyc")
}

#[test]
fn every_event_the_code_builds_satisfies_its_generated_schema() {
    let validators = event_schemas::validators(&vkyc::events::schemas());
    let samples = sample_events();
    let covered: BTreeSet<&str> = samples.iter().map(|e| e.kind().as_str()).collect();
    let all: BTreeSet<&str> = EventKind::ALL.iter().map(|k| k.as_str()).collect();
    assert_eq!(covered, all, "a sample of every event type");
    for (n, e) in samples.iter().enumerate() {
        let event = wire(n as u64 + 1, e);
        let errors = event_schemas::errors(&validators[e.kind().as_str()], &event);
        assert!(
            errors.is_empty(),
            "{} is not schema-valid: {errors:#?}\n{event:#}",
            e.kind()
        );
    }
}

#[test]
fn the_event_schemas_refuse_what_the_code_never_emits() {
    let validators = event_schemas::validators(&vkyc::events::schemas());
    // The first sample of each type.
    let mut samples: BTreeMap<&str, Value> = BTreeMap::new();
    for (n, e) in sample_events().iter().enumerate() {
        samples
            .entry(e.kind().as_str())
            .or_insert_with(|| wire(n as u64 + 1, e));
    }
    let refused = |kind: &str, change: &dyn Fn(&mut Value)| {
        let mut event = samples[kind].clone();
        change(&mut event);
        assert!(
            !validators[kind].is_valid(&event),
            "{kind}: the schema accepts {:#}",
            event["data"]
        );
    };
    refused("step.completed", &|e| {
        e["data"]["scores"]["face_match"] = json!(101)
    });
    refused("step.completed", &|e| {
        e["data"]["scores"]["liveness"] = Value::Null
    });
    refused("step.completed", &|e| {
        e["data"]["scores"]["some_new_score"] = json!(-1)
    });
    refused("step.completed", &|e| e["data"]["attempt"] = json!(0));
    refused("step.completed", &|e| e["data"]["step"] = json!("selfie"));
    refused("step.failed", &|e| e["data"]["attempt"] = json!(0));
    refused("challenge.issued", &|e| e["data"]["moves"] = json!(0));
    refused("otp.sent", &|e| e["data"]["by_role"] = Value::Null);
    refused("webhook.dead_lettered", &|e| {
        e["data"]["attempts"] = json!(0)
    });
    refused("peer.joined", &|e| e["data"]["role"] = json!("admin"));
    refused("peer.joined", &|e| {
        e["data"].as_object_mut().unwrap().remove("participant_id");
    });
    refused("video.reviewed", &|e| {
        e["data"]["recommendation"] = json!("approve")
    });
    refused("room.ended", &|e| {
        e["data"].as_object_mut().unwrap().remove("by");
    });
    refused("recording.started", &|e| {
        e["data"]["container"] = json!("mp4")
    });
    refused("recording.succeeded", &|e| {
        e["data"]["tracks"][0]["number"] = json!(0)
    });
    refused("session.created", &|e| e["type"] = json!("session.expired"));
    // A session's event names its session; a node-level one need not.
    refused("session.created", &|e| {
        e.as_object_mut().unwrap().remove("subject");
    });
    let mut node = samples["supervisor.restarted"].clone();
    assert!(node.get("subject").is_none() && validators["supervisor.restarted"].is_valid(&node));
    node["data"] = json!({});
    assert!(
        !validators["supervisor.restarted"].is_valid(&node),
        "supervisor is required"
    );
}
