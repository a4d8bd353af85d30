//! Storage and event-log ports, and the embedded default behind them.
//!
//! The ports are shaped for a query-first store keyed by session id (ScyllaDB's adapter
//! implements the same traits in its own issue): every read the product does is one method,
//! and a state change and the event that describes it are written together.

pub mod activity;
mod blob_fs;
mod blob_stream;
mod desk;
mod embedded;
pub mod keys;
mod questions;
mod recordings;
mod rows;
pub mod scylla;
mod users;
mod webhooks;

pub use self::scylla::ScyllaStore;
pub use activity::ActivityStore;
pub use blob_fs::{kek_path, open_from_config as open_blobs, FsBlobStore};
pub use desk::DeskStateStore;
pub use embedded::EmbeddedStore;
pub use questions::QuestionBankStore;
pub use recordings::{Recording, RecordingStatus, RecordingStore, Repair};
pub use users::{ConsoleSession, Grant, SsoLink, UserRecord, UserStore};
pub use webhooks::{Attempt, Delivery, DeliveryState, NextStep, Subscription, WebhookStore};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;
use vkyc_domain::SessionId;

use vkyc_domain::DomainEvent;

use vkyc_domain::session::Session;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("storage failure: {0}")]
    Backend(String),
    #[error("stored record is corrupt: {0}")]
    Corrupt(String),
    /// The change breaks a rule checked inside the store's transaction: a stable code and
    /// a message for the API's 409.
    #[error("{1}")]
    Conflict(&'static str, String),
}

impl StoreError {
    /// A group admission the domain refused (`Session::admit`), as a conflict.
    pub fn admission(e: vkyc_domain::session::AdmissionError) -> Self {
        StoreError::Conflict(e.code(), e.to_string())
    }
}

/// The versioned envelope every event is stored and served in. `data` carries ids, roles and
/// reasons only — never personal data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EventEnvelope {
    /// Position in the log: the cursor for `GET /v1/events?after=`.
    pub seq: u64,
    pub id: Uuid,
    /// `session.created`, `peer.joined`, … (the schemas are in `src/schema/events/`).
    #[serde(rename = "type")]
    pub kind: String,
    pub version: u32,
    pub time: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_id: Option<SessionId>,
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
}

pub const EVENT_SCHEMA_VERSION: u32 = 1;

#[async_trait]
pub trait SessionStore: Send + Sync + 'static {
    /// Store a new session and its `session.created` event in one operation.
    async fn create_session(&self, session: &Session) -> Result<(), StoreError>;
    async fn get_session(&self, id: SessionId) -> Result<Option<Session>, StoreError>;
    /// Newest first.
    async fn list_sessions(&self, limit: usize) -> Result<Vec<Session>, StoreError>;
}

pub use vkyc_domain::kyc::CaptureKind;

/// A stored capture's metadata; the image itself is in the blob store under `blob_key`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Capture {
    pub id: Uuid,
    pub session_id: SessionId,
    pub kind: CaptureKind,
    /// `image/jpeg`, `image/png` or `image/webp`.
    pub content_type: String,
    pub width: u32,
    pub height: u32,
    pub bytes: u64,
    /// Hex SHA-256 of the image.
    pub sha256: String,
    /// `backend`, `agent` or `customer`.
    pub taken_by: String,
    pub created_at: DateTime<Utc>,
}

impl Capture {
    pub fn blob_key(&self) -> String {
        format!("captures/{}/{}", self.session_id.simple(), self.id.simple())
    }

    /// The `capture.stored` event both stores write with the capture.
    pub fn stored_event(&self) -> DomainEvent {
        let stored = vkyc_domain::events::data::CaptureStored {
            capture_id: self.id,
            kind: self.kind,
            bytes: self.bytes,
            taken_by: self.taken_by.clone(),
        };
        DomainEvent::new(Some(self.session_id), stored)
    }
}

#[async_trait]
pub trait CaptureStore: Send + Sync + 'static {
    /// Record a capture (its blob already written) and its `capture.stored` event together.
    async fn add_capture(&self, capture: &Capture) -> Result<(), StoreError>;
    /// A session's captures, oldest first.
    async fn list_captures(&self, session_id: SessionId) -> Result<Vec<Capture>, StoreError>;
    async fn get_capture(
        &self,
        session_id: SessionId,
        capture_id: Uuid,
    ) -> Result<Option<Capture>, StoreError>;
}

#[async_trait]
pub trait EventLog: Send + Sync + 'static {
    /// Events with `seq > after`, oldest first, at most `limit`.
    async fn events_after(
        &self,
        after: u64,
        limit: usize,
    ) -> Result<Vec<EventEnvelope>, StoreError>;
}

/// A change of one session refused by the change itself: nothing is written. (The caller's own
/// error travels beside it; see `<dyn Store>::update_session`.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreRefusal;

/// A change of one session: sees the current session, changes it and names the event that
/// describes the change, or refuses. `FnMut`: a store that checks a version (ScyllaDB's
/// lightweight transaction) runs it again on a fresh copy when another writer came first.
pub type SessionChange =
    Box<dyn FnMut(&mut Session) -> Result<Option<DomainEvent>, StoreRefusal> + Send>;

/// What an erasure removed, and the blob keys (captures) the caller must delete.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Erased {
    pub blob_keys: Vec<String>,
}

/// Everything the server needs from its storage, as one object-safe façade over the ports, so
/// `AppState.store` is an `Arc<dyn Store>` whatever the back end (`storage.backend`).
#[async_trait]
pub trait Store:
    SessionStore
    + CaptureStore
    + EventLog
    + RecordingStore
    + WebhookStore
    + UserStore
    + DeskStateStore
    + QuestionBankStore
    + ActivityStore
    + vkyc_domain::kyc::CaseStore
    + vkyc_domain::EventSink
{
    /// Applies `change` to the session and stores the result and its event together.
    /// `Ok(None)`: no such session; `Ok(Some(Err(_)))`: refused, nothing written.
    async fn change_session(
        &self,
        id: SessionId,
        change: SessionChange,
    ) -> Result<Option<Result<(), StoreRefusal>>, StoreError>;
    /// Cancels a session that has not finished; `Ok(None)` if there is no such session,
    /// `Ok(Some(false))` if it had already finished.
    async fn cancel_session(&self, id: SessionId) -> Result<Option<bool>, StoreError>;
    /// The lifecycle timer's work: scheduled sessions whose window opened become `waiting`,
    /// unstarted sessions past `expires_at` become `expired`. Returns the expired ones.
    async fn expire_due(&self, now: DateTime<Utc>) -> Result<Due, StoreError>;
    /// Where the outbox relay `name` stands: the last `seq` it published (0 = none yet).
    async fn relay_cursor(&self, name: &'static str) -> Result<u64, StoreError>;
    /// Move the relay's cursor forward (never back) to `seq`.
    async fn set_relay_cursor(&self, name: &'static str, seq: u64) -> Result<(), StoreError>;
    /// The erasure path (a data subject's request, `vkyc erase --session ID`): the
    /// applicant's personal data on the session is overwritten, the KYC case (OCR fields,
    /// scores) and the captures' metadata are deleted. Returns the blob keys to delete;
    /// `Ok(None)`: no such session. Events never held personal data, so the log is kept.
    async fn erase_session(&self, id: SessionId) -> Result<Option<Erased>, StoreError>;
    /// The retention purge's candidates: finished sessions that finished before `before`.
    async fn finished_before(&self, before: DateTime<Utc>) -> Result<Vec<Session>, StoreError>;
    /// Purges `classes` of a session (their blobs already deleted, `files` of them): deletes
    /// the captures' rows (`captures`), the case (`case_documents`), overwrites the personal
    /// fields (`personal_fields`), marks the classes purged on the session and writes
    /// `data.purged`, together. A session under a legal hold is refused (`legal_hold`):
    /// nothing is written. `Ok(None)`: no such session.
    async fn purge_session(
        &self,
        id: SessionId,
        classes: Vec<vkyc_domain::retention::DataClass>,
        files: u32,
    ) -> Result<Option<()>, StoreError>;
    /// Deletes events that happened before `before` (never the newest one) and, with
    /// `up_to`, only those at or before that seq (what every reader of the log — the Kafka
    /// relay, the webhook fan-out — has taken); returns how many.
    async fn purge_events_before(
        &self,
        before: DateTime<Utc>,
        up_to: Option<u64>,
    ) -> Result<u64, StoreError>;
}

/// The `data.purged` event of a purge.
pub fn purged_event(
    id: SessionId,
    classes: Vec<vkyc_domain::retention::DataClass>,
    files: u32,
) -> DomainEvent {
    DomainEvent::new(
        Some(id),
        vkyc_domain::events::data::DataPurged { classes, files },
    )
}

/// A purge of a held session: refused inside the store's transaction.
pub fn held() -> StoreError {
    StoreError::Conflict("legal_hold", "the session is under a legal hold".into())
}

impl dyn Store {
    /// `change_session` with a typed result and error: `f` may run more than once (see
    /// [`SessionChange`]); the result of its last run is returned.
    pub async fn update_session<T: Send + 'static, E: Send + 'static>(
        &self,
        id: SessionId,
        mut f: impl FnMut(&mut Session) -> Result<(T, Option<DomainEvent>), E> + Send + 'static,
    ) -> Result<Option<Result<T, E>>, StoreError> {
        let slot: std::sync::Arc<std::sync::Mutex<Option<Result<T, E>>>> = Default::default();
        let out = slot.clone();
        let change: SessionChange = Box::new(move |s| {
            let (r, ev) = match f(s) {
                Ok((t, ev)) => (Ok(t), Ok(ev)),
                Err(e) => (Err(e), Err(StoreRefusal)),
            };
            *out.lock().unwrap() = Some(r);
            ev
        });
        let done = self.change_session(id, change).await?;
        let result = slot.lock().unwrap().take();
        Ok(done.map(|_| result.expect("the change ran")))
    }
}

/// What one run of the lifecycle timer changed ([`Store::expire_due`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Due {
    /// Scheduled sessions whose window opened (now `waiting`): their slot began.
    pub opened: Vec<SessionId>,
    /// Sessions that expired.
    pub expired: Vec<SessionId>,
}

/// The personal data an erased session keeps in place of the applicant's name.
pub use vkyc_domain::session::ERASED_NAME;
