//! The embedded store: one redb file (`<data_dir>/vkyc.redb`) holding sessions, a
//! newest-first index and the ordered event log. Every commit is durable (fsync) before the
//! call returns, so a session survives a crash or restart.

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::Utc;
use redb::{Database, ReadableTable, TableDefinition};
use serde_json::json;
use uuid::Uuid;
use vkyc_domain::SessionId;
use vkyc_domain::{DomainEvent, EventKind, EventSink};

use super::{
    rows, Capture, CaptureStore, Erased, EventEnvelope, EventLog, SessionChange, SessionStore,
    Store, StoreError, StoreRefusal, EVENT_SCHEMA_VERSION,
};
use vkyc_domain::session::{AdmissionError, Session, SessionStatus};

const SESSIONS: TableDefinition<u128, &[u8]> = TableDefinition::new("sessions");
/// (created_at millis, session id) → (): the "recent sessions" list.
const SESSIONS_BY_CREATED: TableDefinition<(i64, u128), ()> =
    TableDefinition::new("sessions_by_created");
const EVENTS: TableDefinition<u64, &[u8]> = TableDefinition::new("events");
/// (session id, capture id) → capture metadata (JSON). Capture ids are v7 UUIDs, so a
/// session's captures come out in the order they were taken.
const CAPTURES: TableDefinition<(u128, u128), &[u8]> = TableDefinition::new("captures");
/// (expires_at millis, session id) → (): sessions that can still expire.
const SESSIONS_BY_EXPIRY: TableDefinition<(i64, u128), ()> =
    TableDefinition::new("sessions_by_expiry");
/// (starts_at millis, session id) → (): scheduled sessions waiting for their window.
const SESSIONS_BY_START: TableDefinition<(i64, u128), ()> =
    TableDefinition::new("sessions_by_start");
/// session id → the session's KYC case (JSON).
const CASES: TableDefinition<u128, &[u8]> = TableDefinition::new("cases");
/// relay name → the last event `seq` it has published (acknowledged by its broker).
pub(super) const RELAY_CURSORS: TableDefinition<&str, u64> = TableDefinition::new("relay_cursors");

#[derive(Clone)]
pub struct EmbeddedStore {
    db: Arc<Database>,
}

pub(super) fn backend(e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(e.to_string())
}

impl EmbeddedStore {
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        std::fs::create_dir_all(dir)
            .map_err(|e| backend(format!("cannot create {}: {e}", dir.display())))?;
        let path = dir.join("vkyc.redb");
        let db = Database::create(&path)
            .map_err(|e| backend(format!("cannot open {}: {e}", path.display())))?;
        let tx = db.begin_write().map_err(backend)?;
        {
            use super::recordings::{RECORDINGS, RECORDINGS_BY_SESSION};
            rows::create_tables!(
                tx,
                SESSIONS,
                SESSIONS_BY_CREATED,
                EVENTS,
                CAPTURES,
                CASES,
                SESSIONS_BY_EXPIRY,
                SESSIONS_BY_START,
                RELAY_CURSORS,
                RECORDINGS,
                RECORDINGS_BY_SESSION
            );
            super::webhooks::create_tables(&tx)?;
            super::users::create_tables(&tx)?;
            super::desk::create_tables(&tx)?;
            super::questions::create_tables(&tx)?;
            super::activity::create_tables(&tx)?;
        }
        tx.commit().map_err(backend)?;
        Ok(Self { db: Arc::new(db) })
    }

    pub(super) async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Database) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || f(&db))
            .await
            .map_err(backend)?
    }

    /// Runs `f` in a read transaction, off the async threads.
    pub(super) async fn read_tx<T: Send + 'static>(
        &self,
        f: impl FnOnce(&redb::ReadTransaction) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        self.blocking(move |db| f(&db.begin_read().map_err(backend)?))
            .await
    }

    /// Runs `f` in a write transaction and commits it if `f` succeeds.
    pub(super) async fn write_tx<T: Send + 'static>(
        &self,
        f: impl FnOnce(&redb::WriteTransaction) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        self.blocking(move |db| {
            let tx = db.begin_write().map_err(backend)?;
            let out = f(&tx)?;
            tx.commit().map_err(backend)?;
            Ok(out)
        })
        .await
    }
}

pub(super) fn append_event(
    tx: &redb::WriteTransaction,
    event: &DomainEvent,
) -> Result<u64, StoreError> {
    let mut events = tx.open_table(EVENTS).map_err(backend)?;
    let seq = events
        .last()
        .map_err(backend)?
        .map(|(k, _)| k.value())
        .unwrap_or(0)
        + 1;
    let envelope = EventEnvelope {
        seq,
        id: Uuid::new_v4(),
        kind: event.kind().as_str().to_string(),
        version: EVENT_SCHEMA_VERSION,
        time: Utc::now(),
        session_id: event.session_id,
        data: event.data_json(),
    };
    let bytes = serde_json::to_vec(&envelope).map_err(backend)?;
    events.insert(seq, bytes.as_slice()).map_err(backend)?;
    Ok(seq)
}

fn read_session(tx: &redb::WriteTransaction, id: SessionId) -> Result<Option<Session>, StoreError> {
    rows::read(tx, SESSIONS, id.as_u128())
}

fn write_session(tx: &redb::WriteTransaction, s: &Session) -> Result<(), StoreError> {
    rows::write(tx, SESSIONS, s.id.as_u128(), s)
}

/// Takes every entry of a time index (`(millis, session id)` keys) that is due at `now` out of
/// it, applies `change` to its session, and stores the changed session with the event
/// `change` returns. Returns the sessions that changed.
fn drain_due(
    tx: &redb::WriteTransaction,
    index: TableDefinition<(i64, u128), ()>,
    now: chrono::DateTime<Utc>,
    change: impl Fn(&mut Session) -> Option<DomainEvent>,
) -> Result<Vec<SessionId>, StoreError> {
    let due: Vec<(i64, u128)> = {
        let idx = tx.open_table(index).map_err(backend)?;
        let rows = idx
            .range((i64::MIN, 0)..=(now.timestamp_millis(), u128::MAX))
            .map_err(backend)?;
        rows.map(|r| r.map(|(k, _)| k.value()))
            .collect::<Result<_, _>>()
            .map_err(backend)?
    };
    let mut idx = tx.open_table(index).map_err(backend)?;
    let mut changed = Vec::new();
    for key in due {
        idx.remove(key).map_err(backend)?;
        let id = SessionId::from_u128(key.1);
        let Some(mut s) = read_session(tx, id)? else {
            continue;
        };
        if let Some(event) = change(&mut s) {
            write_session(tx, &s)?;
            append_event(tx, &event)?;
            changed.push(id);
        }
    }
    Ok(changed)
}

/// The session change an event implies (`Session::apply`), and the events that follow from
/// it, written in the event's transaction; a group's call moves every applicant's session
/// along with the parent's.
fn apply(tx: &redb::WriteTransaction, event: &DomainEvent) -> Result<(), StoreError> {
    let Some(id) = event.session_id else {
        return Ok(());
    };
    if matches!(
        event.kind(),
        EventKind::RecordingStarted | EventKind::RecordingSucceeded | EventKind::RecordingFailed
    ) {
        return super::recordings::apply(tx, event);
    }
    if vkyc_domain::session::status_after(event.kind()).is_none() {
        return Ok(());
    }
    let Some(s) = read_session(tx, id)? else {
        return Ok(());
    };
    let now = Utc::now();
    for child in s.participants.clone() {
        if let Some(c) = read_session(tx, child)? {
            apply_to(tx, c, event.kind(), now)?;
        }
    }
    apply_to(tx, s, event.kind(), now)
}

fn apply_to(
    tx: &redb::WriteTransaction,
    mut s: Session,
    kind: EventKind,
    now: chrono::DateTime<Utc>,
) -> Result<(), StoreError> {
    let (changed, follow) = s.apply(kind, now);
    if changed {
        write_session(tx, &s)?;
    }
    for e in &follow {
        append_event(tx, e)?;
    }
    Ok(())
}

#[async_trait]
impl vkyc_domain::kyc::CaseStore for EmbeddedStore {
    async fn load_case(
        &self,
        session_id: SessionId,
    ) -> Result<Option<vkyc_domain::kyc::KycCase>, String> {
        self.row(CASES, session_id.as_u128())
            .await
            .map_err(|e| e.to_string())
    }

    async fn save_case(
        &self,
        case: &vkyc_domain::kyc::KycCase,
        event: DomainEvent,
    ) -> Result<(), String> {
        let case = case.clone();
        self.blocking(move |db| {
            let tx = db.begin_write().map_err(backend)?;
            {
                rows::write(&tx, CASES, case.session_id.as_u128(), &case)?;
                append_event(&tx, &event)?;
            }
            tx.commit().map_err(backend)
        })
        .await
        .map_err(|e| e.to_string())
    }
}

#[async_trait]
impl CaptureStore for EmbeddedStore {
    async fn add_capture(&self, capture: &Capture) -> Result<(), StoreError> {
        let c = capture.clone();
        self.blocking(move |db| {
            let tx = db.begin_write().map_err(backend)?;
            {
                rows::write(&tx, CAPTURES, (c.session_id.as_u128(), c.id.as_u128()), &c)?;
                append_event(&tx, &c.stored_event())?;
            }
            tx.commit().map_err(backend)
        })
        .await
    }

    async fn list_captures(&self, session_id: SessionId) -> Result<Vec<Capture>, StoreError> {
        self.blocking(move |db| {
            let tx = db.begin_read().map_err(backend)?;
            let table = tx.open_table(CAPTURES).map_err(backend)?;
            let s = session_id.as_u128();
            let mut out = Vec::new();
            for row in table.range((s, 0)..=(s, u128::MAX)).map_err(backend)? {
                let (_, v) = row.map_err(backend)?;
                out.push(rows::decode(v.value())?);
            }
            Ok(out)
        })
        .await
    }

    async fn get_capture(
        &self,
        session_id: SessionId,
        capture_id: Uuid,
    ) -> Result<Option<Capture>, StoreError> {
        self.row(CAPTURES, (session_id.as_u128(), capture_id.as_u128()))
            .await
    }
}

impl EmbeddedStore {
    /// The lifecycle timer's work, in one transaction: scheduled sessions whose window has
    /// opened become `waiting` (`session.waiting`); sessions past their `expires_at` whose
    /// call has not started become `expired` (`session.expired`). Returns the expired ones.
    pub async fn expire_due(&self, now: chrono::DateTime<Utc>) -> Result<super::Due, StoreError> {
        self.blocking(move |db| {
            let tx = db.begin_write().map_err(backend)?;
            let opened = drain_due(&tx, SESSIONS_BY_START, now, |s| s.open_window(now))?;
            let expired = drain_due(&tx, SESSIONS_BY_EXPIRY, now, |s| s.expire(now))?;
            tx.commit().map_err(backend)?;
            Ok(super::Due { opened, expired })
        })
        .await
    }

    /// Changes a session in one transaction: `f` sees the current session and either
    /// changes it (and names the event describing the change, stored with it) or refuses
    /// with an error, in which case nothing is written. `Ok(None)`: no such session.
    pub async fn update_session<T: Send + 'static, E: Send + 'static>(
        &self,
        id: SessionId,
        f: impl FnOnce(&mut Session) -> Result<(T, Option<DomainEvent>), E> + Send + 'static,
    ) -> Result<Option<Result<T, E>>, StoreError> {
        self.blocking(move |db| {
            let tx = db.begin_write().map_err(backend)?;
            let Some(mut s) = read_session(&tx, id)? else {
                return Ok(None);
            };
            let (out, event) = match f(&mut s) {
                Ok(v) => v,
                Err(e) => return Ok(Some(Err(e))),
            };
            s.updated_at = Utc::now();
            write_session(&tx, &s)?;
            if let Some(ev) = event {
                append_event(&tx, &ev)?;
                apply(&tx, &ev)?;
            }
            tx.commit().map_err(backend)?;
            Ok(Some(Ok(out)))
        })
        .await
    }

    /// Cancels a session that has not finished; `Ok(None)` if there is no such session,
    /// `Ok(Some(false))` if it had already finished.
    pub async fn cancel_session(&self, id: SessionId) -> Result<Option<bool>, StoreError> {
        self.blocking(move |db| {
            let tx = db.begin_write().map_err(backend)?;
            let Some(mut s) = read_session(&tx, id)? else {
                return Ok(None);
            };
            let Ok(event) = s.cancel(Utc::now()) else {
                return Ok(Some(false));
            };
            write_session(&tx, &s)?;
            append_event(&tx, &event)?;
            tx.commit().map_err(backend)?;
            Ok(Some(true))
        })
        .await
    }
}

#[async_trait]
impl SessionStore for EmbeddedStore {
    async fn create_session(&self, session: &Session) -> Result<(), StoreError> {
        let mut session = session.clone();
        self.blocking(move |db| {
            let tx = db.begin_write().map_err(backend)?;
            // A group's applicant joins the parent's list in the same transaction, so two
            // concurrent additions cannot both take the last place.
            if let Some(pid) = session.parent_id {
                let mut parent = read_session(&tx, pid)?
                    .ok_or_else(|| StoreError::admission(AdmissionError::ParentNotFound))?;
                parent
                    .admit(&mut session, Utc::now())
                    .map_err(StoreError::admission)?;
                write_session(&tx, &parent)?;
            }
            write_session(&tx, &session)?;
            tx.open_table(SESSIONS_BY_CREATED)
                .map_err(backend)?
                .insert(
                    (session.created_at.timestamp_millis(), session.id.as_u128()),
                    (),
                )
                .map_err(backend)?;
            if let (SessionStatus::Scheduled, Some(w)) = (session.status, session.schedule) {
                tx.open_table(SESSIONS_BY_START)
                    .map_err(backend)?
                    .insert((w.starts_at.timestamp_millis(), session.id.as_u128()), ())
                    .map_err(backend)?;
            }
            if let Some(at) = session.expires_at {
                tx.open_table(SESSIONS_BY_EXPIRY)
                    .map_err(backend)?
                    .insert((at.timestamp_millis(), session.id.as_u128()), ())
                    .map_err(backend)?;
            }
            append_event(&tx, &session.created_event())?;
            tx.commit().map_err(backend)
        })
        .await
    }

    async fn get_session(&self, id: SessionId) -> Result<Option<Session>, StoreError> {
        self.row(SESSIONS, id.as_u128()).await
    }

    async fn list_sessions(&self, limit: usize) -> Result<Vec<Session>, StoreError> {
        self.blocking(move |db| {
            let tx = db.begin_read().map_err(backend)?;
            let index = tx.open_table(SESSIONS_BY_CREATED).map_err(backend)?;
            let sessions = tx.open_table(SESSIONS).map_err(backend)?;
            let mut out = Vec::new();
            for row in index.iter().map_err(backend)?.rev().take(limit) {
                let (key, _) = row.map_err(backend)?;
                let (_, id) = key.value();
                if let Some(v) = sessions.get(id).map_err(backend)? {
                    out.push(rows::decode(v.value())?);
                }
            }
            Ok(out)
        })
        .await
    }
}

#[async_trait]
impl EventLog for EmbeddedStore {
    async fn events_after(
        &self,
        after: u64,
        limit: usize,
    ) -> Result<Vec<EventEnvelope>, StoreError> {
        self.blocking(move |db| {
            let tx = db.begin_read().map_err(backend)?;
            let events = tx.open_table(EVENTS).map_err(backend)?;
            let mut out = Vec::new();
            let Some(start) = after.checked_add(1) else {
                return Ok(out);
            };
            for row in events.range(start..).map_err(backend)?.take(limit) {
                let (_, v) = row.map_err(backend)?;
                out.push(rows::decode(v.value())?);
            }
            Ok(out)
        })
        .await
    }
}

impl EmbeddedStore {
    /// Where the outbox relay `name` stands: the last `seq` it published (0 = none yet).
    pub async fn relay_cursor(&self, name: &'static str) -> Result<u64, StoreError> {
        self.blocking(move |db| {
            let tx = db.begin_read().map_err(backend)?;
            let table = tx.open_table(RELAY_CURSORS).map_err(backend)?;
            Ok(table
                .get(name)
                .map_err(backend)?
                .map(|v| v.value())
                .unwrap_or(0))
        })
        .await
    }

    /// Move the relay's cursor forward (never back) to `seq`.
    pub async fn set_relay_cursor(&self, name: &'static str, seq: u64) -> Result<(), StoreError> {
        self.blocking(move |db| {
            let tx = db.begin_write().map_err(backend)?;
            {
                let mut table = tx.open_table(RELAY_CURSORS).map_err(backend)?;
                let now = table
                    .get(name)
                    .map_err(backend)?
                    .map(|v| v.value())
                    .unwrap_or(0);
                if seq > now {
                    table.insert(name, seq).map_err(backend)?;
                }
            }
            tx.commit().map_err(backend)
        })
        .await
    }
}

#[async_trait]
impl Store for EmbeddedStore {
    async fn change_session(
        &self,
        id: SessionId,
        mut change: SessionChange,
    ) -> Result<Option<Result<(), StoreRefusal>>, StoreError> {
        EmbeddedStore::update_session(self, id, move |s| change(s).map(|ev| ((), ev))).await
    }
    async fn cancel_session(&self, id: SessionId) -> Result<Option<bool>, StoreError> {
        EmbeddedStore::cancel_session(self, id).await
    }
    async fn expire_due(&self, now: chrono::DateTime<Utc>) -> Result<super::Due, StoreError> {
        EmbeddedStore::expire_due(self, now).await
    }
    async fn relay_cursor(&self, name: &'static str) -> Result<u64, StoreError> {
        EmbeddedStore::relay_cursor(self, name).await
    }
    async fn set_relay_cursor(&self, name: &'static str, seq: u64) -> Result<(), StoreError> {
        EmbeddedStore::set_relay_cursor(self, name, seq).await
    }
    async fn finished_before(
        &self,
        before: chrono::DateTime<Utc>,
    ) -> Result<Vec<Session>, StoreError> {
        self.read_tx(move |tx| {
            let t = tx.open_table(SESSIONS).map_err(backend)?;
            let mut out = Vec::new();
            for row in t.iter().map_err(backend)? {
                let (_, v) = row.map_err(backend)?;
                let s: Session = rows::decode(v.value())?;
                if s.finished_at().is_some_and(|at| at < before) {
                    out.push(s);
                }
            }
            Ok(out)
        })
        .await
    }

    async fn purge_session(
        &self,
        id: SessionId,
        classes: Vec<vkyc_domain::retention::DataClass>,
        files: u32,
    ) -> Result<Option<()>, StoreError> {
        use vkyc_domain::retention::DataClass;
        self.blocking(move |db| {
            let tx = db.begin_write().map_err(backend)?;
            let Some(mut s) = read_session(&tx, id)? else {
                return Ok(None);
            };
            if s.legal_hold.is_some() {
                return Err(super::held());
            }
            s.mark_purged(&classes, Utc::now());
            write_session(&tx, &s)?;
            if classes.contains(&DataClass::CaseDocuments) {
                tx.open_table(CASES)
                    .map_err(backend)?
                    .remove(id.as_u128())
                    .map_err(backend)?;
            }
            if classes.contains(&DataClass::Captures) {
                let mut captures = tx.open_table(CAPTURES).map_err(backend)?;
                let k = id.as_u128();
                captures
                    .retain_in((k, 0)..=(k, u128::MAX), |_, _| false)
                    .map_err(backend)?;
            }
            append_event(&tx, &super::purged_event(id, classes, files))?;
            tx.commit().map_err(backend)?;
            Ok(Some(()))
        })
        .await
    }

    async fn purge_events_before(
        &self,
        before: chrono::DateTime<Utc>,
        up_to: Option<u64>,
    ) -> Result<u64, StoreError> {
        self.blocking(move |db| {
            let tx = db.begin_write().map_err(backend)?;
            let mut n = 0;
            {
                let mut events = tx.open_table(EVENTS).map_err(backend)?;
                let newest = events.last().map_err(backend)?.map(|(k, _)| k.value());
                let mut old = Vec::new();
                for row in events.iter().map_err(backend)? {
                    let (k, v) = row.map_err(backend)?;
                    let e: EventEnvelope = rows::decode(v.value())?;
                    if e.time >= before || up_to.is_some_and(|u| k.value() > u) {
                        break; // seq order is time order here
                    }
                    if Some(k.value()) != newest {
                        old.push(k.value());
                    }
                }
                for k in old {
                    events.remove(k).map_err(backend)?;
                    n += 1;
                }
            }
            tx.commit().map_err(backend)?;
            Ok(n)
        })
        .await
    }

    async fn erase_session(&self, id: SessionId) -> Result<Option<Erased>, StoreError> {
        self.blocking(move |db| {
            let tx = db.begin_write().map_err(backend)?;
            let Some(mut s) = read_session(&tx, id)? else {
                return Ok(None);
            };
            s.applicant = erased_applicant();
            s.forget_expected_answers();
            s.updated_at = Utc::now();
            write_session(&tx, &s)?;
            tx.open_table(CASES)
                .map_err(backend)?
                .remove(id.as_u128())
                .map_err(backend)?;
            let mut blob_keys = Vec::new();
            {
                let mut captures = tx.open_table(CAPTURES).map_err(backend)?;
                let s = id.as_u128();
                let keys: Vec<(u128, u128)> = captures
                    .range((s, 0)..=(s, u128::MAX))
                    .map_err(backend)?
                    .map(|r| r.map(|(k, _)| k.value()))
                    .collect::<Result<_, _>>()
                    .map_err(backend)?;
                for key in keys {
                    if let Some(v) = captures.remove(key).map_err(backend)? {
                        let c: Capture = rows::decode(v.value())?;
                        blob_keys.push(c.blob_key());
                    }
                }
            }
            tx.commit().map_err(backend)?;
            Ok(Some(Erased { blob_keys }))
        })
        .await
    }
}

/// What an erased session's applicant becomes.
pub(crate) fn erased_applicant() -> vkyc_domain::session::Applicant {
    serde_json::from_value(json!({ "name": super::ERASED_NAME })).expect("a valid name")
}

#[async_trait]
impl EventSink for EmbeddedStore {
    async fn publish(&self, event: DomainEvent) -> Result<(), String> {
        self.blocking(move |db| {
            let tx = db.begin_write().map_err(backend)?;
            apply(&tx, &event)?;
            append_event(&tx, &event)?;
            tx.commit().map_err(backend)
        })
        .await
        .map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vkyc_domain::session::NewSession;

    fn new_session() -> Session {
        let new: NewSession =
            serde_json::from_value(json!({"mode":"live_agent","applicant":{"name":"Test Person"}}))
                .unwrap();
        let sr = vkyc_domain::session::SelfRecordSettings {
            video_max_duration_secs: 60,
            max_video_duration_secs: 300,
            max_video_bytes: 1 << 20,
            max_chunk_bytes: 1 << 16,
            max_failed_checks: 2,
        };
        Session::create(new, 3600, &sr, Utc::now()).unwrap()
    }

    #[tokio::test]
    async fn sessions_and_events_survive_reopen_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let ids: Vec<SessionId>;
        {
            let store = EmbeddedStore::open(dir.path()).unwrap();
            let mut made = vec![];
            for _ in 0..3 {
                let s = new_session();
                store.create_session(&s).await.unwrap();
                made.push(s.id);
                tokio::time::sleep(std::time::Duration::from_millis(2)).await;
            }
            store
                .publish(DomainEvent::new(
                    Some(made[0]),
                    vkyc_domain::events::data::RoomStarted {},
                ))
                .await
                .unwrap();
            ids = made;
        }
        let store = EmbeddedStore::open(dir.path()).unwrap();
        let listed: Vec<SessionId> = store
            .list_sessions(10)
            .await
            .unwrap()
            .iter()
            .map(|s| s.id)
            .collect();
        assert_eq!(listed, ids.iter().rev().copied().collect::<Vec<_>>());
        assert_eq!(
            store.get_session(ids[0]).await.unwrap().unwrap().status,
            SessionStatus::InProgress
        );
        let events = store.events_after(0, 100).await.unwrap();
        assert_eq!(
            events.iter().map(|e| e.seq).collect::<Vec<_>>(),
            vec![1, 2, 3, 4]
        );
        assert_eq!(events[3].kind, "room.started");
        assert_eq!(store.events_after(2, 1).await.unwrap()[0].seq, 3);
        assert!(store.events_after(u64::MAX, 10).await.unwrap().is_empty());
        // No personal data in the event stream.
        let all = serde_json::to_string(&events).unwrap();
        assert!(!all.contains("Test Person"));
    }
}
