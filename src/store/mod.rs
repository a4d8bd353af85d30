//! Storage and event-log ports, and the embedded default behind them.
//!
//! The ports are shaped for a query-first store keyed by session id (ScyllaDB's adapter
//! implements the same traits in its own issue): every read the product does is one method,
//! and a state change and the event that describes it are written together.

mod embedded;

pub use embedded::EmbeddedStore;

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

#[async_trait]
pub trait EventLog: Send + Sync + 'static {
    /// Events with `seq > after`, oldest first, at most `limit`.
    async fn events_after(&self, after: u64, limit: usize) -> Result<Vec<EventEnvelope>, StoreError>;
}
