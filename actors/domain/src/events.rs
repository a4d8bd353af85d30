//! Domain events and the port they are published through.
//!
//! Events carry ids, roles and reasons — never personal data. The envelope (sequence number,
//! event id, time, schema version) is added by the sink that stores them.

use async_trait::async_trait;
use serde::Serialize;
use serde_json::Value;

use crate::ids::SessionId;

/// Every event type the live side emits. The string form is the stable `type` of the envelope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(into = "&'static str")]
pub enum EventKind {
    SessionCreated,
    RoomStarted,
    RoomEnded,
    RoomFailed,
    PeerJoined,
    PeerLeft,
    PeerFailed,
    PeerMuted,
    SupervisorRestarted,
    CaptureStored,
    StepCompleted,
    StepFailed,
    StepDecided,
    VideoReviewed,
    CaseAudited,
    OtpSent,
    ChallengeIssued,
    SessionExpired,
    SessionCancelled,
    VideoCompleted,
    SessionWaiting,
    SelfRecordStarted,
    SelfRecordSubmitted,
    RecordingStarted,
    RecordingSucceeded,
    RecordingFailed,
    /// A webhook delivery gave up after its last attempt (published on the webhooks topic).
    WebhookDeadLettered,
}

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
}

/// Whether webhooks may send an event type out (`Public`), or it stays inside vkyc and its
/// Kafka topics (`Internal`: supervision, codes, challenges, captures, mute…).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    Public,
    Internal,
}

macro_rules! event_kinds {
    ($($kind:ident => $name:literal, $family:ident, $audience:ident;)*) => {
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
        }
    };
}

event_kinds! {
    SessionCreated => "session.created", Sessions, Public;
    RoomStarted => "room.started", Rooms, Public;
    RoomEnded => "room.ended", Rooms, Public;
    RoomFailed => "room.failed", Rooms, Internal;
    PeerJoined => "peer.joined", Rooms, Public;
    PeerLeft => "peer.left", Rooms, Public;
    PeerFailed => "peer.failed", Rooms, Internal;
    PeerMuted => "peer.muted", Rooms, Internal;
    SupervisorRestarted => "supervisor.restarted", Rooms, Internal;
    CaptureStored => "capture.stored", Steps, Internal;
    StepCompleted => "step.completed", Steps, Internal;
    StepFailed => "step.failed", Steps, Internal;
    StepDecided => "step.decided", Steps, Internal;
    VideoReviewed => "video.reviewed", Sessions, Public;
    CaseAudited => "case.audited", Sessions, Public;
    OtpSent => "otp.sent", Steps, Internal;
    ChallengeIssued => "challenge.issued", Steps, Internal;
    SessionExpired => "session.expired", Sessions, Public;
    SessionCancelled => "session.cancelled", Sessions, Public;
    VideoCompleted => "video.completed", Recordings, Public;
    SessionWaiting => "session.waiting", Sessions, Public;
    SelfRecordStarted => "self_record.started", Recordings, Internal;
    SelfRecordSubmitted => "self_record.submitted", Recordings, Public;
    RecordingStarted => "recording.started", Recordings, Internal;
    RecordingSucceeded => "recording.succeeded", Recordings, Public;
    RecordingFailed => "recording.failed", Recordings, Public;
    WebhookDeadLettered => "webhook.dead_lettered", Webhooks, Internal;
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
        EventKind::parse(kind).map(EventKind::family).unwrap_or(Family::Sessions)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct DomainEvent {
    pub kind: EventKind,
    /// `None` only for node-level events (e.g. a supervisor restart).
    pub session_id: Option<SessionId>,
    pub data: Value,
}

impl DomainEvent {
    pub fn new(kind: EventKind, session_id: Option<SessionId>, data: Value) -> Self {
        Self { kind, session_id, data }
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
    let kind = event.kind.as_str();
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
        self.events.lock().unwrap().iter().map(|e| e.kind).collect()
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
        let names: std::collections::HashSet<_> = EventKind::ALL.iter().map(|k| k.as_str()).collect();
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
        assert!(EventKind::VideoCompleted.is_public() && !EventKind::OtpSent.is_public());
    }
}
