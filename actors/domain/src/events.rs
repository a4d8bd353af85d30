//! Domain events, their typed data, and the port they are published through.
//!
//! Each event type ([`EventKind`]) has one payload type in [`data`]; an event is built from
//! its payload ([`DomainEvent::new`]), so its type and its data never disagree. Payloads carry
//! ids, roles, codes, scores and reasons — never personal data (no names, numbers or
//! coordinates). The envelope (sequence number, event id, time, schema version) is added by
//! the sink that stores them.
//!
//! The payload types are also the Kafka contract: [`EventKind::data_schema`] derives each
//! type's JSON Schema from them (`schemars`, doc comments as descriptions), and the server
//! writes those into `src/schema/events/` (a drift test keeps the files equal to the code).

pub mod data;

use async_trait::async_trait;
use serde::Serialize;
use serde_json::Value;

use crate::ids::SessionId;

/// The aggregate family of an event type, which picks its Kafka topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Family {
    /// `session.*`, the agent's decision (`video.reviewed`) and audits (`case.audited`).
    Sessions,
    /// `room.*`, `peer.*` and node supervision.
    Rooms,
    /// `step.*`, codes, challenges and captures: the KYC workflow's evidence.
    Steps,
    /// The call's video: `video.completed`, `self_record.*`, `recording.*`.
    Recordings,
    /// `stats.*` (reserved).
    Stats,
    /// `webhook.*` deliveries.
    Webhooks,
    /// The agent desk: `queue.*` (a customer waiting for an agent) and `agent.*` (presence).
    Desk,
}

/// Whether webhooks may send an event type out (`Public`), or it stays inside vkyc and its
/// Kafka topics (`Internal`: supervision, codes, challenges, captures, mute…).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    Public,
    Internal,
}

/// What an event type is about: always one session (`Session`: the envelope's `subject`), or
/// possibly none (`Node`: node-level supervision, a dead-lettered delivery of such an event).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Session,
    Node,
}

/// What a data schema needs beyond what schemars derives: a description has one line per
/// paragraph (doc comments wrap at the source's line length), and an integer has no `format`
/// (`uint32`, `int64`… are schemars' own, which strict validators refuse as unknown; JSON
/// Schema has no integer formats, and the range is in `minimum`/`maximum`).
fn tidy(schema: &mut schemars::Schema) {
    if let Some(Value::String(d)) = schema.get_mut("description") {
        *d = d
            .split("\n\n")
            .map(|p| p.replace('\n', " "))
            .collect::<Vec<_>>()
            .join("\n\n");
    }
    let integer = match schema.get("type") {
        Some(Value::String(t)) => t == "integer",
        Some(Value::Array(types)) => types.iter().any(|t| t == "integer"),
        _ => false,
    };
    if integer {
        schema.remove("format");
    }
}

/// The table of event types: name, family, audience, scope, payload type and what it means.
macro_rules! event_kinds {
    ($($kind:ident($payload:ident) => $name:literal, $family:ident, $audience:ident, $scope:ident, $what:literal;)*) => {
        /// Every event type vkyc emits. The string form is the stable `type` of the envelope.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
        #[serde(into = "&'static str")]
        pub enum EventKind {
            $(#[doc = $what] $kind),*
        }

        /// The data of an event: one typed payload per event type. It serialises as the
        /// payload alone (the envelope's `data`); [`EventData::kind`] is the event's type.
        #[derive(Debug, Clone, PartialEq, Serialize)]
        #[serde(untagged)]
        pub enum EventData {
            $($kind(data::$payload)),*
        }

        impl EventData {
            /// The event type this data belongs to.
            pub fn kind(&self) -> EventKind {
                match self { $(EventData::$kind(_) => EventKind::$kind),* }
            }
        }

        impl EventKind {
            /// Every event type, in a fixed order.
            pub const ALL: &'static [EventKind] = &[$(EventKind::$kind),*];

            /// The stable `type` of the envelope (`session.created`).
            pub fn as_str(self) -> &'static str {
                match self { $(EventKind::$kind => $name),* }
            }

            /// The family, which picks the Kafka topic.
            pub fn family(self) -> Family {
                match self { $(EventKind::$kind => Family::$family),* }
            }

            pub fn audience(self) -> Audience {
                match self { $(EventKind::$kind => Audience::$audience),* }
            }

            pub fn scope(self) -> Scope {
                match self { $(EventKind::$kind => Scope::$scope),* }
            }

            /// What an event of this type means (one sentence, for its schema).
            pub fn description(self) -> &'static str {
                match self { $(EventKind::$kind => $what),* }
            }

            /// The JSON Schema (draft 2020-12, self-contained) of this type's `data`, derived
            /// from its payload type as it serialises.
            pub fn data_schema(self) -> Value {
                let mut generator = schemars::generate::SchemaSettings::draft2020_12()
                    .for_serialize()
                    .with(|s| s.inline_subschemas = true)
                    .into_generator();
                let mut schema = match self { $(EventKind::$kind => generator.subschema_for::<data::$payload>()),* };
                schemars::transform::Transform::transform(&mut schemars::transform::RecursiveTransform(tidy), &mut schema);
                schema.to_value()
            }
        }
    };
}

event_kinds! {
    SessionCreated(SessionCreated) => "session.created", Sessions, Public, Session,
        "A session was created (its link can be issued).";
    RoomStarted(RoomStarted) => "room.started", Rooms, Public, Session,
        "The call's room started (the session is in progress).";
    RoomEnded(RoomEnded) => "room.ended", Rooms, Public, Session,
        "The call ended.";
    RoomFailed(RoomFailed) => "room.failed", Rooms, Internal, Session,
        "The call's room actor failed.";
    PeerJoined(PeerJoined) => "peer.joined", Rooms, Public, Session,
        "A participant joined the call.";
    PeerLeft(PeerGone) => "peer.left", Rooms, Public, Session,
        "A participant left the call.";
    PeerFailed(PeerGone) => "peer.failed", Rooms, Internal, Session,
        "A participant's connection failed.";
    PeerMuted(PeerMuted) => "peer.muted", Rooms, Internal, Session,
        "A participant's track was muted or unmuted.";
    SupervisorRestarted(SupervisorRestarted) => "supervisor.restarted", Rooms, Internal, Node,
        "A node-level supervisor restarted (no session: key \"node\").";
    CaptureStored(CaptureStored) => "capture.stored", Steps, Internal, Session,
        "A picture of the call was stored (encrypted).";
    StepCompleted(StepCompleted) => "step.completed", Steps, Internal, Session,
        "An attempt of a KYC step finished.";
    StepFailed(StepFailed) => "step.failed", Steps, Internal, Session,
        "An attempt of a KYC step could not run (engine failure).";
    StepDecided(StepDecided) => "step.decided", Steps, Internal, Session,
        "The agent's verdict on a step.";
    VideoReviewed(VideoReviewed) => "video.reviewed", Sessions, Public, Session,
        "The agent decided the case.";
    CaseAudited(CaseAudited) => "case.audited", Sessions, Public, Session,
        "An auditor's verdict on the case.";
    OtpSent(OtpSent) => "otp.sent", Steps, Internal, Session,
        "A one-time code was sent to the customer.";
    ChallengeIssued(ChallengeIssued) => "challenge.issued", Steps, Internal, Session,
        "A head-movement liveness challenge was issued.";
    SessionExpired(SessionExpired) => "session.expired", Sessions, Public, Session,
        "A session's call did not start before it expired.";
    SessionCancelled(SessionCancelled) => "session.cancelled", Sessions, Public, Session,
        "The lender cancelled the session.";
    VideoCompleted(VideoCompleted) => "video.completed", Recordings, Public, Session,
        "The call is over; the case is ready for review.";
    SessionWaiting(SessionWaiting) => "session.waiting", Sessions, Public, Session,
        "A scheduled session's window opened.";
    SelfRecordStarted(SelfRecordStarted) => "self_record.started", Recordings, Internal, Session,
        "The customer started a self-recorded video.";
    SelfRecordSubmitted(SelfRecordSubmitted) => "self_record.submitted", Recordings, Public, Session,
        "The customer submitted the self-recorded video; its checks run.";
    SelfRecordCompleted(SelfRecordCompleted) => "self_record.completed", Recordings, Public, Session,
        "The self-recorded video's checks are done and the system set the result: the session is complete.";
    SelfRecordCheckFailed(SelfRecordCheckFailed) => "self_record.check_failed", Recordings, Public, Session,
        "A self-recorded video failed its checks: the customer records again, or the session goes to a live agent.";
    RecordingStarted(RecordingStarted) => "recording.started", Recordings, Internal, Session,
        "The call's server-side recording started (state `recording`).";
    RecordingSucceeded(RecordingSucceeded) => "recording.succeeded", Recordings, Public, Session,
        "The recording was finalized when the call ended (state `ready`).";
    RecordingFailed(RecordingFailed) => "recording.failed", Recordings, Public, Session,
        "The recording failed (state `failed`); what was written stays playable.";
    WebhookDeadLettered(WebhookDeadLettered) => "webhook.dead_lettered", Webhooks, Internal, Node,
        "A webhook delivery failed its last scheduled attempt and was dead-lettered (published on the webhooks topic). subject is the session of the event that was being delivered (absent for node-level events); data never carries the payload or the URL.";
    AgentStateChanged(AgentStateChanged) => "agent.state_changed", Desk, Internal, Node,
        "An agent's desk state changed (available, busy, wrap_up, break, offline); no session: key \"node\".";
    QueueEntered(QueueEntered) => "queue.entered", Desk, Public, Session,
        "The customer is waiting for an agent.";
    QueueOffered(QueueOffered) => "queue.offered", Desk, Internal, Session,
        "The waiting customer was offered to an agent (the agent's console rings).";
    QueueAccepted(QueueAccepted) => "queue.accepted", Desk, Public, Session,
        "An agent accepted the customer: their call starts.";
    QueueDeclined(QueueDeclined) => "queue.declined", Desk, Internal, Session,
        "An agent declined the offer; the customer is offered to another agent.";
    QueueMissed(QueueMissed) => "queue.missed", Desk, Internal, Session,
        "An agent did not answer the offer in time; the customer is offered to another agent.";
    QueueAbandoned(QueueAbandoned) => "queue.abandoned", Desk, Public, Session,
        "The customer left the queue before an agent took them.";
    QueueTimedOut(QueueTimedOut) => "queue.timed_out", Desk, Public, Session,
        "The customer waited longer than the queue's timeout and was taken out of the queue.";
    DataPurged(DataPurged) => "data.purged", Sessions, Public, Session,
        "Data of a finished session past its retention was deleted (classes and file count; no content).";
}

impl EventKind {
    /// The event type named `s` (the envelope's `type`).
    pub fn parse(s: &str) -> Option<EventKind> {
        Self::ALL.iter().copied().find(|k| k.as_str() == s)
    }

    pub fn is_public(self) -> bool {
        self.audience() == Audience::Public
    }

    /// The file name of this type's JSON Schema (in `src/schema/events/`).
    pub fn schema_file(self) -> String {
        format!("{}.schema.json", self.as_str())
    }

    /// The event types webhooks may send, in a fixed order.
    pub fn public() -> impl Iterator<Item = EventKind> {
        Self::ALL.iter().copied().filter(|k| k.is_public())
    }
}

impl From<EventKind> for &'static str {
    fn from(k: EventKind) -> &'static str {
        k.as_str()
    }
}

impl std::fmt::Display for EventKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Family {
    /// The family of an event type by its name; a name vkyc does not know is a session event.
    pub fn of(kind: &str) -> Family {
        EventKind::parse(kind)
            .map(EventKind::family)
            .unwrap_or(Family::Sessions)
    }
}

/// One event as the live side emits it: what it is about and its typed data.
#[derive(Debug, Clone, PartialEq)]
pub struct DomainEvent {
    /// `None` only for events of [`Scope::Node`] (e.g. a supervisor restart).
    pub session_id: Option<SessionId>,
    pub data: EventData,
}

impl DomainEvent {
    /// The event that `data` describes, about session `session_id`.
    pub fn new(session_id: Option<SessionId>, data: impl Into<EventData>) -> Self {
        let data = data.into();
        debug_assert!(
            session_id.is_some() || data.kind().scope() == Scope::Node,
            "{} needs a session",
            data.kind()
        );
        Self { session_id, data }
    }

    pub fn kind(&self) -> EventKind {
        self.data.kind()
    }

    /// The data as the envelope stores it: a JSON object, its keys sorted (as the stores
    /// wrote them when events were built with `json!`).
    pub fn data_json(&self) -> Value {
        serde_json::to_value(&self.data).expect("event data serialises")
    }
}

/// Where domain events go. Implementations must be durable and ordered; a state change that
/// an event describes (e.g. `room.ended` → session completed) is applied by the sink in the
/// same store operation, so the two never disagree (the outbox shape).
#[async_trait]
pub trait EventSink: Send + Sync + 'static {
    async fn publish(&self, event: DomainEvent) -> Result<(), String>;
}

/// Publish and log a failure instead of failing the caller: the live call must not stop
/// because the event store is slow or full; the error is visible in the logs and metrics.
pub async fn emit(sink: &dyn EventSink, event: DomainEvent) {
    let kind = event.kind().as_str();
    if let Err(e) = sink.publish(event).await {
        tracing::error!(event = kind, error = %e, "event could not be published");
    }
}

/// An in-memory sink for unit tests of the actors.
#[derive(Default)]
pub struct MemorySink {
    pub events: std::sync::Mutex<Vec<DomainEvent>>,
}

impl MemorySink {
    pub fn kinds(&self) -> Vec<EventKind> {
        self.events
            .lock()
            .unwrap()
            .iter()
            .map(DomainEvent::kind)
            .collect()
    }
}

#[async_trait]
impl EventSink for MemorySink {
    async fn publish(&self, event: DomainEvent) -> Result<(), String> {
        self.events.lock().unwrap().push(event);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_one_name_and_a_family() {
        let names: std::collections::HashSet<_> =
            EventKind::ALL.iter().map(|k| k.as_str()).collect();
        assert_eq!(names.len(), EventKind::ALL.len());
        for k in EventKind::ALL {
            assert_eq!(EventKind::parse(k.as_str()), Some(*k));
            assert_eq!(serde_json::to_value(k).unwrap(), k.as_str());
        }
        assert_eq!(Family::of("session.created"), Family::Sessions);
        assert_eq!(Family::of("video.reviewed"), Family::Sessions);
        assert_eq!(Family::of("video.completed"), Family::Recordings);
        assert_eq!(Family::of("peer.joined"), Family::Rooms);
        assert_eq!(Family::of("capture.stored"), Family::Steps);
        assert_eq!(Family::of("self_record.submitted"), Family::Recordings);
        assert_eq!(Family::of("webhook.dead_lettered"), Family::Webhooks);
        assert_eq!(Family::of("queue.offered"), Family::Desk);
        assert_eq!(Family::of("agent.state_changed"), Family::Desk);
        assert!(EventKind::QueueAccepted.is_public() && !EventKind::QueueOffered.is_public());
        assert!(!EventKind::AgentStateChanged.is_public());
        assert!(EventKind::VideoCompleted.is_public() && !EventKind::OtpSent.is_public());
    }

    /// The payloads serialise to the objects the events carried when they were built with
    /// `json!`: the same keys (absent or null alike) and values.
    #[test]
    fn payloads_keep_the_events_json() {
        use crate::call::{LeaveReason, Role};
        use crate::kyc::{Outcome, Scores, StepType};
        use crate::recording::RecordingSummary;
        use serde_json::json;

        let session = Some(SessionId::new());
        let peer = crate::ids::PeerId::new();
        let id = uuid::Uuid::new_v4();
        let gone = |reason| {
            DomainEvent::new(
                session,
                data::PeerGone {
                    peer_id: peer,
                    role: Role::Customer,
                    participant_id: "customer".into(),
                    reason,
                },
            )
        };
        let left = gone(LeaveReason::Disconnected);
        assert_eq!(left.kind(), EventKind::PeerLeft);
        assert_eq!(
            left.data_json(),
            json!({"peer_id": peer, "role": "customer", "participant_id": "customer", "reason": "disconnected"})
        );
        assert_eq!(gone(LeaveReason::Failed).kind(), EventKind::PeerFailed);

        let quick = data::StepCompleted {
            step: StepType::Otp,
            attempt: 1,
            outcome: Outcome::Passed,
            scores: None,
        };
        assert_eq!(
            DomainEvent::new(session, quick).data_json(),
            json!({"step": "otp", "attempt": 1, "outcome": "passed"})
        );
        let scores = Scores {
            face_match: Some(80),
            ..Default::default()
        };
        let checked = data::StepCompleted {
            step: StepType::Face,
            attempt: 2,
            outcome: Outcome::Failed,
            scores: Some(scores),
        };
        assert_eq!(
            DomainEvent::new(session, checked).data_json(),
            json!({"step": "face", "attempt": 2, "outcome": "failed", "scores": {"face_match": 80}})
        );

        let failed = |bytes| {
            DomainEvent::new(
                session,
                data::RecordingFailed {
                    recording_id: id,
                    reason: "x".into(),
                    bytes,
                },
            )
            .data_json()
        };
        assert_eq!(failed(None), json!({"recording_id": id, "reason": "x"}));
        assert_eq!(
            failed(Some(None)),
            json!({"recording_id": id, "reason": "x", "bytes": null})
        );
        assert_eq!(
            failed(Some(Some(7))),
            json!({"recording_id": id, "reason": "x", "bytes": 7})
        );

        let summary = RecordingSummary {
            duration_ms: 5,
            bytes: 6,
            tracks: vec![],
            packets_recorded: 7,
            frames_clamped: 8,
            finalize_ms: 9,
        };
        let ok = DomainEvent::new(
            session,
            data::RecordingSucceeded {
                recording_id: id,
                reason: "empty".into(),
                summary,
            },
        );
        assert_eq!(
            ok.data_json(),
            json!({"recording_id": id, "reason": "empty", "duration_ms": 5, "bytes": 6, "tracks": [], "packets_recorded": 7, "frames_clamped": 8, "finalize_ms": 9})
        );
        assert_eq!(
            DomainEvent::new(session, data::RoomStarted {}).data_json(),
            json!({})
        );
        assert_eq!(
            DomainEvent::new(
                session,
                data::VideoCompleted {
                    duration_secs: None
                }
            )
            .data_json(),
            json!({"duration_secs": null})
        );
    }

    #[test]
    fn every_kind_has_an_object_schema_of_its_data() {
        for k in EventKind::ALL {
            let schema = k.data_schema();
            assert_eq!(schema["type"], "object", "{k}");
            assert!(
                schema["description"].is_string(),
                "{k}: its payload has no doc comment"
            );
            assert!(!k.description().is_empty());
            for (field, s) in schema["properties"].as_object().into_iter().flatten() {
                let d = s["description"].as_str().unwrap_or_default();
                assert!(
                    !d.contains('\n'),
                    "{k}.{field}: a description is one line per paragraph"
                );
            }
        }
    }
}
