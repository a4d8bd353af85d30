//! Recordings' metadata on ScyllaDB ([`RecordingStore`]).
//!
//! Tables (migrations 0001 and 0002):
//! - `recordings` (by id): the [`Recording`] as JSON — `get_recording`.
//! - `recordings_by_session` ((session_id), id): the session's index with summary columns;
//!   recording ids are v7 (time-ordered), so ascending `id` is oldest first — `list_recordings`.
//! - `recordings_open` ((scope), id): the recordings still `recording`, one small partition —
//!   `fail_interrupted_recordings` reads it at start-up instead of scanning `recordings`
//!   (kassandra has no secondary indexes / ALLOW FILTERING scans to lean on, and a real cluster
//!   should not full-scan either). A row is inserted by `recording.started` and deleted by
//!   `recording.succeeded` / `recording.failed`.
//!
//! **Atomicity**: a `recording.*` event published through the store's `EventSink` is written
//! in one logged `BATCH` with the rows it implies (the same pure
//! [`recording_after`](crate::store::recordings) the embedded store applies in its transaction).
//! `recording.succeeded` / `failed` read the current row first (`LOCAL_QUORUM`): a recording
//! has one writer (its RecordingActor, or start-up recovery before any call runs), so the
//! read-then-batch needs no lightweight transaction.
//!
//! **Consistency**: writes are in the `LOCAL_QUORUM` batch; `get_recording` and the reads that
//! precede a write (current row, open list) `LOCAL_QUORUM` (a download is authorised from it);
//! `list_recordings` (people looking at a session) `LOCAL_ONE` for the index and the rows.

use std::sync::Arc;

use chrono::Utc;
use scylla::client::session::Session as CqlSession;
use scylla::statement::prepared::PreparedStatement;
use scylla::statement::Consistency::{LocalOne as ONE, LocalQuorum as QUORUM};
use uuid::Uuid;
use vkyc_domain::SessionId;
use vkyc_domain::{DomainEvent, EventKind};

use super::{backend, prep, ts, ScyllaStore, Tx};
use crate::store::recordings::{
    interrupted_event, recording_after, Recording, RecordingStatus, RecordingStore, Repair,
};
use crate::store::StoreError;

/// The one partition of `recordings_open`.
const OPEN: &str = "open";

pub(super) struct Statements {
    insert: PreparedStatement,
    get: PreparedStatement,
    get_for_list: PreparedStatement,
    insert_by_session: PreparedStatement,
    list_by_session: PreparedStatement,
    insert_open: PreparedStatement,
    delete_open: PreparedStatement,
    list_open: PreparedStatement,
}

pub(super) async fn prepare(s: &CqlSession) -> Result<Statements, StoreError> {
    Ok(Statements {
        insert: prep(s, "INSERT INTO recordings (id, session_id, doc) VALUES (?, ?, ?)", QUORUM).await?,
        get: prep(s, "SELECT doc FROM recordings WHERE id = ?", QUORUM).await?,
        get_for_list: prep(s, "SELECT doc FROM recordings WHERE id = ?", ONE).await?,
        insert_by_session: prep(
            s,
            "INSERT INTO recordings_by_session (session_id, id, started_at, ended_at, state, content_type, size_bytes, duration_ms, blob_key) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            QUORUM,
        )
        .await?,
        list_by_session: prep(s, "SELECT id FROM recordings_by_session WHERE session_id = ?", ONE).await?,
        insert_open: prep(s, "INSERT INTO recordings_open (scope, id, session_id) VALUES (?, ?, ?)", QUORUM).await?,
        delete_open: prep(s, "DELETE FROM recordings_open WHERE scope = ? AND id = ?", QUORUM).await?,
        list_open: prep(s, "SELECT id FROM recordings_open WHERE scope = ?", QUORUM).await?,
    })
}

fn state_str(s: RecordingStatus) -> &'static str {
    match s {
        RecordingStatus::Recording => "recording",
        RecordingStatus::Ready => "ready",
        RecordingStatus::Failed => "failed",
    }
}

impl ScyllaStore {
    async fn recording_at(
        &self,
        st: &PreparedStatement,
        id: Uuid,
    ) -> Result<Option<Recording>, StoreError> {
        self.doc_at(st, id).await
    }

    /// The rows of a recording's new state into a batch.
    fn push_recording(&self, tx: &mut Tx, r: &Recording) -> Result<(), StoreError> {
        let st = &self.inner.st.rec;
        let doc = serde_json::to_string(r).map_err(backend)?;
        tx.push(&st.insert, (r.id, r.session_id.into_uuid(), doc));
        let summary = (
            r.session_id.into_uuid(),
            r.id,
            ts(r.started_at),
            r.ended_at.map(ts),
            state_str(r.status),
            format!("video/{}", r.container),
            r.bytes.map(|b| b.min(i64::MAX as u64) as i64),
            r.duration_ms,
            r.blob_key.clone(),
        );
        tx.push(&st.insert_by_session, summary);
        if r.status == RecordingStatus::Recording {
            tx.push(&st.insert_open, (OPEN, r.id, r.session_id.into_uuid()));
        } else {
            tx.push(&st.delete_open, (OPEN, r.id));
        }
        Ok(())
    }

    /// Writes a `recording.*` event and the recording rows it implies in one logged batch.
    pub(super) async fn publish_recording(
        &self,
        id: Uuid,
        event: DomainEvent,
    ) -> Result<(), StoreError> {
        let current = if event.kind() == EventKind::RecordingStarted {
            None
        } else {
            self.recording_at(&self.inner.st.rec.get, id).await?
        };
        let mut tx = Tx::new();
        if let Some(r) = recording_after(current, &event, Utc::now()) {
            self.push_recording(&mut tx, &r)?;
        }
        self.push_events(&mut tx, &[event])?;
        self.run(tx).await
    }
}

#[async_trait::async_trait]
impl RecordingStore for ScyllaStore {
    async fn get_recording(&self, id: Uuid) -> Result<Option<Recording>, StoreError> {
        self.recording_at(&self.inner.st.rec.get, id).await
    }

    async fn list_recordings(&self, session_id: SessionId) -> Result<Vec<Recording>, StoreError> {
        let session_id = session_id.into_uuid();
        let st = &self.inner.st.rec;
        let mut ids: Vec<(Uuid,)> = self.rows(&st.list_by_session, (session_id,)).await?;
        // v7 ids: ascending is oldest first (the clustering order; sorted here too).
        ids.sort();
        let reads = ids
            .into_iter()
            .map(|(id,)| self.recording_at(&st.get_for_list, id));
        let found = futures_util::future::try_join_all(reads).await?;
        let mut out: Vec<Recording> = found.into_iter().flatten().collect();
        out.sort_by_key(|r| (r.started_at, r.id));
        Ok(out)
    }

    async fn fail_interrupted_recordings(&self, repair: Repair) -> Result<Vec<Uuid>, StoreError> {
        let st = &self.inner.st.rec;
        let repair = Arc::new(repair);
        let mut open: Vec<(Uuid,)> = self.rows(&st.list_open, (OPEN,)).await?;
        open.sort();
        let mut failed = Vec::new();
        for (id,) in open {
            let current = self.recording_at(&st.get, id).await?;
            let Some(r) = current.filter(|r| r.status == RecordingStatus::Recording) else {
                // A stale open row (its recording is gone or already ended): drop it.
                let mut tx = Tx::new();
                tx.push(&st.delete_open, (OPEN, id));
                self.run(tx).await?;
                continue;
            };
            // `repair` reads and rewrites the blob: off the async threads.
            let (f, key) = (repair.clone(), r.blob_key.clone());
            let bytes = tokio::task::spawn_blocking(move || f(&key))
                .await
                .map_err(backend)?;
            let event = interrupted_event(&r, bytes);
            let mut tx = Tx::new();
            if let Some(after) = recording_after(Some(r), &event, Utc::now()) {
                self.push_recording(&mut tx, &after)?;
            }
            self.push_events(&mut tx, &[event])?;
            self.run(tx).await?;
            failed.push(id);
        }
        Ok(failed)
    }
}
