//! Domain events and the port they are published through.
//!
//! Events carry ids, roles and reasons — never personal data. The envelope (sequence number,
//! event id, time, schema version) is added by the sink that stores them.

use async_trait::async_trait;
use serde::Serialize;
use serde_json::Value;

use crate::domain::SessionId;

/// Every event type the live side emits. The string form is the stable `type` of the envelope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
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

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::SessionCreated => "session.created",
            EventKind::RoomStarted => "room.started",
            EventKind::RoomEnded => "room.ended",
            EventKind::RoomFailed => "room.failed",
            EventKind::PeerJoined => "peer.joined",
            EventKind::PeerLeft => "peer.left",
            EventKind::PeerFailed => "peer.failed",
            EventKind::PeerMuted => "peer.muted",
            EventKind::SupervisorRestarted => "supervisor.restarted",
            EventKind::CaptureStored => "capture.stored",
            EventKind::StepCompleted => "step.completed",
            EventKind::StepFailed => "step.failed",
            EventKind::StepDecided => "step.decided",
            EventKind::VideoReviewed => "video.reviewed",
            EventKind::CaseAudited => "case.audited",
            EventKind::OtpSent => "otp.sent",
            EventKind::ChallengeIssued => "challenge.issued",
            EventKind::SessionExpired => "session.expired",
            EventKind::SessionCancelled => "session.cancelled",
            EventKind::VideoCompleted => "video.completed",
            EventKind::SessionWaiting => "session.waiting",
            EventKind::SelfRecordStarted => "self_record.started",
            EventKind::SelfRecordSubmitted => "self_record.submitted",
            EventKind::RecordingStarted => "recording.started",
            EventKind::RecordingSucceeded => "recording.succeeded",
            EventKind::RecordingFailed => "recording.failed",
            EventKind::WebhookDeadLettered => "webhook.dead_lettered",
        }
    }
}

#[derive(Debug, Clone)]
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
