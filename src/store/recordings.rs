//! Call recordings' metadata in the embedded store. The metadata is written by the same
//! transaction that stores the `recording.*` event describing it (see `apply` in
//! `embedded.rs`), so the event stream and the table never disagree.

use chrono::{DateTime, Utc};
use redb::{ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};
use uuid::Uuid;
use vkyc_domain::events::data;
use vkyc_domain::SessionId;
use vkyc_domain::{DomainEvent, EventData, EventKind};
use vkyc_media::recording::RecordedTrack;

use super::embedded::{append_event, backend, EmbeddedStore};
use super::{rows, StoreError};

/// recording id → metadata (JSON).
pub(super) const RECORDINGS: TableDefinition<u128, &[u8]> = TableDefinition::new("recordings");
/// (session id, recording id) → (): a session's recordings, oldest first (v7 ids).
pub(super) const RECORDINGS_BY_SESSION: TableDefinition<(u128, u128), ()> =
    TableDefinition::new("recordings_by_session");

/// `recording` → `ready`, or `failed` (with `failure_reason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RecordingStatus {
    Recording,
    Ready,
    Failed,
}

#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Recording {
    pub id: Uuid,
    pub session_id: SessionId,
    pub status: RecordingStatus,
    /// `webm`
    pub container: String,
    pub blob_key: String,
    /// Which blob-store key encrypted the file.
    pub key_id: String,
    pub started_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
    pub duration_ms: Option<i64>,
    pub bytes: Option<u64>,
    #[serde(default)]
    #[schema(required = true)]
    pub tracks: Vec<RecordedTrack>,
    /// e.g. `server_stopped_during_call`.
    pub failure_reason: Option<String>,
    /// Time from the end of the call to the file being ready, ms.
    pub finalize_ms: Option<u64>,
}

fn read(tx: &redb::WriteTransaction, id: Uuid) -> Result<Option<Recording>, StoreError> {
    rows::read(tx, RECORDINGS, id.as_u128())
}

fn write(tx: &redb::WriteTransaction, r: &Recording) -> Result<(), StoreError> {
    rows::write(tx, RECORDINGS, r.id.as_u128(), r)?;
    tx.open_table(RECORDINGS_BY_SESSION)
        .map_err(backend)?
        .insert((r.session_id.as_u128(), r.id.as_u128()), ())
        .map_err(backend)?;
    Ok(())
}

/// The recording a `recording.*` event is about: `None` for any other event (or one without
/// a session), which leaves the recordings table alone.
pub(crate) fn recording_event_target(event: &DomainEvent) -> Option<Uuid> {
    event.session_id?;
    match &event.data {
        EventData::RecordingStarted(d) => Some(d.recording_id),
        EventData::RecordingSucceeded(d) => Some(d.recording_id),
        EventData::RecordingFailed(d) => Some(d.recording_id),
        _ => None,
    }
}

/// The recording after a `recording.*` event, given the stored one (`current`): pure, so every
/// back end applies the events the same way. `None`: nothing to write (not a recording event,
/// or an end event for a recording that was never started).
pub(crate) fn recording_after(
    current: Option<Recording>,
    event: &DomainEvent,
    now: DateTime<Utc>,
) -> Option<Recording> {
    let session_id = event.session_id?;
    match &event.data {
        EventData::RecordingStarted(d) => Some(Recording {
            id: d.recording_id,
            session_id,
            status: RecordingStatus::Recording,
            container: d.container.as_str().to_string(),
            blob_key: d.blob_key.clone(),
            key_id: d.key_id.clone(),
            started_at: d.started_at,
            ended_at: None,
            duration_ms: None,
            bytes: None,
            tracks: vec![],
            failure_reason: None,
            finalize_ms: None,
        }),
        EventData::RecordingSucceeded(d) => {
            let mut r = current?;
            let s = &d.summary;
            r.ended_at = Some(now);
            r.status = RecordingStatus::Ready;
            r.duration_ms = Some(s.duration_ms);
            r.bytes = Some(s.bytes);
            r.finalize_ms = Some(s.finalize_ms);
            r.tracks = s.tracks.clone();
            Some(r)
        }
        EventData::RecordingFailed(d) => {
            let mut r = current?;
            r.ended_at = Some(now);
            r.status = RecordingStatus::Failed;
            r.failure_reason = Some(d.reason.clone());
            if let Some(Some(b)) = d.bytes {
                r.bytes = Some(b);
            }
            Some(r)
        }
        _ => None,
    }
}

/// The `recording.failed` event start-up recovery writes for a recording cut off by a crash
/// (`bytes`: the readable length after repair).
pub(crate) fn interrupted_event(r: &Recording, bytes: Option<u64>) -> DomainEvent {
    let failed = data::RecordingFailed {
        recording_id: r.id,
        reason: "server_stopped_during_call".into(),
        bytes: Some(bytes),
    };
    DomainEvent::new(Some(r.session_id), failed)
}

/// Applies a `recording.*` event to the table (in the event's transaction).
pub(super) fn apply(tx: &redb::WriteTransaction, event: &DomainEvent) -> Result<(), StoreError> {
    let Some(id) = recording_event_target(event) else {
        return Ok(());
    };
    let current = if event.kind() == EventKind::RecordingStarted {
        None
    } else {
        read(tx, id)?
    };
    match recording_after(current, event, Utc::now()) {
        Some(r) => write(tx, &r),
        None => Ok(()),
    }
}

/// Recordings' metadata (written from `recording.*` events by the event sink).
#[async_trait::async_trait]
pub trait RecordingStore: Send + Sync + 'static {
    async fn get_recording(&self, id: Uuid) -> Result<Option<Recording>, StoreError>;
    /// A session's recordings, oldest first.
    async fn list_recordings(&self, session_id: SessionId) -> Result<Vec<Recording>, StoreError>;
    /// At start-up: recordings still `recording` were cut off by a crash. Each is marked
    /// `failed` (with a `recording.failed` event) after `repair` has made its file readable
    /// (`repair` returns the readable length); returns their ids.
    async fn fail_interrupted_recordings(&self, repair: Repair) -> Result<Vec<Uuid>, StoreError>;
}

pub type Repair = Box<dyn Fn(&str) -> Option<u64> + Send + Sync>;

#[async_trait::async_trait]
impl RecordingStore for EmbeddedStore {
    async fn get_recording(&self, id: Uuid) -> Result<Option<Recording>, StoreError> {
        self.row(RECORDINGS, id.as_u128()).await
    }

    async fn list_recordings(&self, session_id: SessionId) -> Result<Vec<Recording>, StoreError> {
        self.read_tx(move |tx| {
            let index = tx.open_table(RECORDINGS_BY_SESSION).map_err(backend)?;
            let table = tx.open_table(RECORDINGS).map_err(backend)?;
            let s = session_id.as_u128();
            let mut out = vec![];
            for row in index.range((s, 0)..=(s, u128::MAX)).map_err(backend)? {
                let (k, _) = row.map_err(backend)?;
                if let Some(v) = table.get(k.value().1).map_err(backend)? {
                    out.push(rows::decode(v.value())?);
                }
            }
            Ok(out)
        })
        .await
    }

    async fn fail_interrupted_recordings(&self, repair: Repair) -> Result<Vec<Uuid>, StoreError> {
        self.write_tx(move |tx| {
            let open: Vec<Recording> = {
                let table = tx.open_table(RECORDINGS).map_err(backend)?;
                let mut v = vec![];
                for row in table.iter().map_err(backend)? {
                    let (_, value) = row.map_err(backend)?;
                    let r: Recording = rows::decode(value.value())?;
                    if r.status == RecordingStatus::Recording {
                        v.push(r);
                    }
                }
                v
            };
            let mut ids = vec![];
            for r in open {
                let ev = interrupted_event(&r, repair(&r.blob_key));
                append_event(tx, &ev)?;
                apply(tx, &ev)?;
                ids.push(r.id);
            }
            Ok(ids)
        })
        .await
    }
}
