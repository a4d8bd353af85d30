//! The data of each event type: one payload struct per type (`peer.left` and `peer.failed`
//! share [`PeerGone`]). A payload serialises to exactly the event's `data` object, and its
//! JSON Schema is derived from it ([`super::EventKind::data_schema`]), so the doc comments
//! here are the contract's descriptions.
//!
//! Payloads hold ids, roles, codes, scores, sizes and reasons. Nothing here may carry personal
//! data: no names, no ID numbers, no coordinates, no answers, no URLs.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::Serialize;
use uuid::Uuid;

use super::EventData;
use crate::call::{LeaveReason, MediaKind, Role};
use crate::desk::presence::{AgentState, ChangeReason, ChangedBy};
use crate::ids::{OfferId, PeerId, UserId};
use crate::kyc::{AuditVerdict, CaptureKind, CaseResult, Outcome, Scores, StepType, Verdict};
use crate::recording::{Container, RecordingSummary};
use crate::session::{SessionMode, SessionStatus};

/// A new session's mode and first status.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct SessionCreated {
    pub mode: SessionMode,
    pub status: SessionStatus,
}

/// No data: the session is in progress.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct RoomStarted {}

/// Why and by whom the call ended, and how long it lasted.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct RoomEnded {
    /// Why (`ended_by_agent`, `ended_by_api`, `session_cancelled`, `empty`…).
    pub reason: String,
    /// The agent's peer, or null when the call was ended through the API or by the room.
    pub by: Option<PeerId>,
    /// From the room's start to its end, ms.
    pub duration_ms: i64,
}

/// What went wrong with the room's actor.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct RoomFailed {
    pub error_kind: String,
}

/// Who joined: their connection, role and participant.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct PeerJoined {
    pub peer_id: PeerId,
    pub role: Role,
    /// The participant the join token names (`customer`, `agent`, `observer-…`, or the
    /// token's subject and the applicant's session in a group call).
    pub participant_id: String,
}

/// Who left the call and why: `peer.failed` when its actor failed, `peer.left` otherwise.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct PeerGone {
    pub peer_id: PeerId,
    pub role: Role,
    /// The participant the join token names.
    pub participant_id: String,
    pub reason: LeaveReason,
}

/// Whose track was muted or unmuted, and by which peer.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct PeerMuted {
    pub peer_id: PeerId,
    pub kind: MediaKind,
    pub muted: bool,
    /// The agent's peer.
    pub by: PeerId,
}

/// Which supervisor restarted (`rooms`, `webhooks.fanout`…).
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct SupervisorRestarted {
    pub supervisor: String,
}

/// Which capture was stored, of what kind and size, taken by whom.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct CaptureStored {
    pub capture_id: Uuid,
    pub kind: CaptureKind,
    pub bytes: u64,
    /// Role of who took it (`backend`, `agent` or `customer`).
    pub taken_by: String,
}

/// Which step, which attempt, its outcome and, for a step that ran checks, its scores.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct StepCompleted {
    pub step: StepType,
    /// 1 for the first attempt of the step; retakes count on.
    #[schemars(range(min = 1))]
    pub attempt: u32,
    pub outcome: Outcome,
    /// Absent for the steps answered in the case itself (codes, questions).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(required)]
    pub scores: Option<Scores>,
}

/// Which step and attempt could not run.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct StepFailed {
    pub step: StepType,
    #[schemars(range(min = 1))]
    pub attempt: u32,
}

/// Which step the agent decided, and how.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct StepDecided {
    pub step: StepType,
    pub verdict: Verdict,
}

/// The agent's result and what the system recommended.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct VideoReviewed {
    pub result: CaseResult,
    pub recommendation: CaseResult,
}

/// The auditor's verdict.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct CaseAudited {
    pub verdict: AuditVerdict,
}

/// Who asked for the code (never the code or where it went).
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct OtpSent {
    /// Role of who asked (agent, customer, backend…).
    pub by_role: String,
}

/// Who asked for the challenge and how many moves it has (never which).
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct ChallengeIssued {
    /// Role of who asked (agent, customer, backend…).
    pub by_role: String,
    #[schemars(range(min = 1))]
    pub moves: usize,
}

/// When the session expired.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct SessionExpired {
    pub expired_at: DateTime<Utc>,
}

/// No data.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct SessionCancelled {}

/// How long the call or the self-recording took.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct VideoCompleted {
    /// From its start to its end, seconds; null when it never started.
    pub duration_secs: Option<i64>,
}

/// No data: the customer may join.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct SessionWaiting {}

/// No data: the session is in progress.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct SelfRecordStarted {}

/// How much video arrived.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct SelfRecordSubmitted {
    pub video_bytes: u64,
}

/// The self-recorded video's checks passed (or, with its frames lost, it was left for
/// review): the session is complete.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct SelfRecordCompleted {
    /// The system's result: `approved` or `needs_review`.
    pub result: crate::kyc::CaseResult,
}

/// The automatic checks of a self-recorded video did not pass: the customer records again
/// (`next: retry`), or, after `kyc.self_record.max_failed_checks` failures, the session
/// becomes a live-agent session and the customer waits in the queue (`next: live_agent`).
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct SelfRecordCheckFailed {
    /// How many submitted videos have failed their checks so far.
    pub failed_checks: u32,
    pub next: crate::session::AfterFailedCheck,
}

/// Where the recording is written and with which key (the key's id, never the key).
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct RecordingStarted {
    pub recording_id: Uuid,
    pub blob_key: String,
    /// Which blob-store key encrypts the file.
    pub key_id: String,
    pub container: Container,
    pub started_at: DateTime<Utc>,
}

/// The finished file: why the call ended, and the recorder's summary.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct RecordingSucceeded {
    pub recording_id: Uuid,
    /// Why the recording stopped (the call's end reason).
    pub reason: String,
    #[serde(flatten)]
    pub summary: RecordingSummary,
}

/// Why the recording failed.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct RecordingFailed {
    pub recording_id: Uuid,
    /// `storage_unavailable`, `actor_failed`, `recorder_crashed`, `finalize_timeout`,
    /// `server_stopped_during_call`…
    pub reason: String,
    /// Only for a recording cut off by a server stop: the readable length of the file after
    /// repair, or null when it could not be repaired.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bytes: Option<Option<u64>>,
}

/// Which delivery gave up, after how many attempts, and its last answer.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct WebhookDeadLettered {
    pub delivery_id: Uuid,
    pub subscription_id: Uuid,
    /// The event that was being delivered.
    pub event_id: Uuid,
    pub event_type: String,
    #[schemars(range(min = 1))]
    pub attempts: usize,
    /// The last response's HTTP status; null when none came.
    pub last_status: Option<u16>,
    /// Why the last attempt failed (`timeout`, `connect`, `http_status`…).
    pub last_error: Option<String>,
}

/// Whose state changed, from what to what, by whom and why (no session: key "node").
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct AgentStateChanged {
    /// The agent's account.
    pub user_id: UserId,
    pub from: AgentState,
    pub to: AgentState,
    pub by: ChangedBy,
    pub reason: ChangeReason,
}

/// No data: the customer is waiting for an agent.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct QueueEntered {}

/// Which agent is rung, for which try, until when.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct QueueOffered {
    pub offer_id: OfferId,
    /// The agent's account.
    pub agent_id: UserId,
    /// 1 for the customer's first offer; every offer (declined, missed or withdrawn) counts.
    #[schemars(range(min = 1))]
    pub attempt: u32,
    /// When the offer counts as missed if the agent has not answered.
    pub expires_at: DateTime<Utc>,
}

/// Which agent took the customer, and how long the customer waited.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct QueueAccepted {
    /// The offer accepted; absent when the agent took the waiting customer by hand (from the
    /// console's list) instead.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offer_id: Option<OfferId>,
    /// The agent's account.
    pub agent_id: UserId,
    /// From entering the queue to the accept, seconds.
    pub wait_secs: i64,
}

/// Which agent declined the offer.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct QueueDeclined {
    pub offer_id: OfferId,
    /// The agent's account.
    pub agent_id: UserId,
}

/// Which agent did not answer in time, and how many offers of this customer were missed.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct QueueMissed {
    pub offer_id: OfferId,
    /// The agent's account.
    pub agent_id: UserId,
    /// The customer's missed offers so far, this one included.
    #[schemars(range(min = 1))]
    pub missed: u32,
}

/// How long the customer waited before leaving the queue.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct QueueAbandoned {
    /// From entering the queue to leaving it, seconds.
    pub wait_secs: i64,
}

/// How long the customer waited before the queue gave up.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct QueueTimedOut {
    /// From entering the queue to the timeout, seconds.
    pub wait_secs: i64,
}

/// Data of a finished session past its retention (`[retention]`) was deleted.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct DataPurged {
    /// The classes deleted now.
    pub classes: Vec<crate::retention::DataClass>,
    /// Files (blobs) deleted with them.
    pub files: u32,
}

/// A payload becomes the data of its (only) event type.
macro_rules! one_kind {
    ($($payload:ident),* $(,)?) => {
        $(impl From<$payload> for EventData {
            fn from(d: $payload) -> EventData {
                EventData::$payload(d)
            }
        })*
    };
}

one_kind!(
    SessionCreated,
    RoomStarted,
    RoomEnded,
    RoomFailed,
    PeerJoined,
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
    SelfRecordCompleted,
    SelfRecordCheckFailed,
    RecordingStarted,
    RecordingSucceeded,
    RecordingFailed,
    WebhookDeadLettered,
    AgentStateChanged,
    QueueEntered,
    QueueOffered,
    QueueAccepted,
    QueueDeclined,
    QueueMissed,
    QueueAbandoned,
    QueueTimedOut,
    DataPurged,
);

impl From<PeerGone> for EventData {
    /// A peer whose actor failed is `peer.failed`; any other departure is `peer.left`.
    fn from(d: PeerGone) -> EventData {
        match d.reason {
            LeaveReason::Failed => EventData::PeerFailed(d),
            _ => EventData::PeerLeft(d),
        }
    }
}
