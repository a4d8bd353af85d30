//! Storage and event-log ports, and the embedded default behind them.
//!
//! The ports are shaped for a query-first store keyed by session id (ScyllaDB's adapter
//! implements the same traits in its own issue): every read the product does is one method,
//! and a state change and the event that describes it are written together.

mod blob_fs;
mod blob_stream;
mod embedded;
mod recordings;
mod webhooks;

pub use blob_fs::FsBlobStore;
pub use embedded::EmbeddedStore;
pub use recordings::{Recording, RecordingStatus};
pub use webhooks::{Attempt, Delivery, DeliveryState, NextStep, Subscription, WebhookStore};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::domain::Session;

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

/// The versioned envelope every event is stored and served in. `data` carries ids, roles and
/// reasons only — never personal data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventEnvelope {
    /// Position in the log: the cursor for `GET /v1/events?after=`.
    pub seq: u64,
    pub id: Uuid,
    #[serde(rename = "type")]
    pub kind: String,
    pub version: u32,
    pub time: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_id: Option<Uuid>,
    pub data: serde_json::Value,
}

pub const EVENT_SCHEMA_VERSION: u32 = 1;

#[async_trait]
pub trait SessionStore: Send + Sync + 'static {
    /// Store a new session and its `session.created` event in one operation.
    async fn create_session(&self, session: &Session) -> Result<(), StoreError>;
    async fn get_session(&self, id: Uuid) -> Result<Option<Session>, StoreError>;
    /// Newest first.
    async fn list_sessions(&self, limit: usize) -> Result<Vec<Session>, StoreError>;
}

/// What kind of picture a capture is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CaptureKind {
    /// The customer's face (for face match / liveness).
    Face,
    /// An ID document held up to the camera.
    Document,
    /// Any other frame of the call.
    Frame,
    /// A reference image of the applicant from the lender (e.g. the photo on file); only
    /// the api key may upload one.
    Reference,
}

/// A stored capture's metadata; the image itself is in the blob store under `blob_key`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Capture {
    pub id: Uuid,
    pub session_id: Uuid,
    pub kind: CaptureKind,
    pub content_type: String,
    pub width: u32,
    pub height: u32,
    pub bytes: u64,
    pub sha256: String,
    /// `backend`, `agent` or `customer`.
    pub taken_by: String,
    pub created_at: DateTime<Utc>,
}

impl Capture {
    pub fn blob_key(&self) -> String {
        format!("captures/{}/{}", self.session_id.simple(), self.id.simple())
    }
}

#[async_trait]
pub trait CaptureStore: Send + Sync + 'static {
    /// Record a capture (its blob already written) and its `capture.stored` event together.
    async fn add_capture(&self, capture: &Capture) -> Result<(), StoreError>;
    /// A session's captures, oldest first.
    async fn list_captures(&self, session_id: Uuid) -> Result<Vec<Capture>, StoreError>;
    async fn get_capture(&self, session_id: Uuid, capture_id: Uuid) -> Result<Option<Capture>, StoreError>;
}

#[async_trait]
pub trait EventLog: Send + Sync + 'static {
    /// Events with `seq > after`, oldest first, at most `limit`.
    async fn events_after(&self, after: u64, limit: usize) -> Result<Vec<EventEnvelope>, StoreError>;
}
