//! The ScyllaDB adapter (`storage.backend = "scylla"`): the same ports as the embedded store
//! over the `scylla` driver. Schema: `migrations/*.cql` (see `migrate.rs`).
//!
//! - **Prepared statements only**, prepared once at connect and kept in [`Statements`].
//! - **Routing**: the driver's default policy, token-aware and preferring
//!   `storage.scylla.datacenter` (replicas of the partition in the local DC first).
//! - **Consistency, per statement** (set on each prepared statement):
//!   writes and batches `LOCAL_QUORUM`; reads a decision depends on (a session by id, the KYC
//!   case, captures, the event log, relay cursors, deadlines) `LOCAL_QUORUM`, so they see every
//!   acknowledged write; lists for people (recent sessions, status queues) `LOCAL_ONE`, where a
//!   second of staleness is fine; conditional updates `LOCAL_SERIAL` for their Paxos round.
//! - **Atomicity**: a state change and the events that describe it are one *logged* `BATCH`
//!   (session row, index rows, `events_by_bucket` rows): they land together or not at all.
//! - **Concurrent writers**: on a real cluster, `update_session` first applies the change with
//!   a lightweight transaction (`UPDATE sessions … IF version = ?`), re-reading and re-running
//!   the change when another writer came first (`lwt_attempts`), then writes the indexes and
//!   events in a logged batch (a conditional batch cannot span partitions). A crash between the
//!   two leaves the session changed without its event: the window is one round trip, and the
//!   change is still visible on the session. The in-memory test server (kassandra) has no
//!   LWT: the adapter notices (it reports fewer bind markers for `IF version = ?`), warns and
//!   writes everything in the one batch, last writer wins.
//! - **Personal data** (applicant name / date of birth / reference, the KYC case with its OCR
//!   fields, captures metadata) is written `USING TTL` = `pii_ttl_days`; `erase_session`
//!   overwrites the applicant's columns with empty values and deletes the case and the
//!   captures' rows, returning the blob keys (`vkyc erase --session ID` deletes those).
//! - **Event log**: `seq` = (ms << 20) | (node tag << 12) | counter, unique and time-ordered;
//!   events are partitioned by UTC minute (`events_by_bucket`), with `event_buckets` (per day)
//!   and `event_days` as the index a reader walks. `events_after(after)` reads from the
//!   cursor's minute forwards, only up to events older than `events_settle_ms`: an event whose
//!   batch was still in flight (or written by a node whose clock is slightly behind) has a
//!   smaller seq than ones already visible, and the settle window keeps a reader from moving
//!   its cursor past it. The Kafka relay reads exactly this (`EventLog::events_after`) and
//!   keeps its cursor in `relay_cursors`.

mod activity;
pub mod migrate;
mod questions;
mod recordings;
mod retention;
mod users;
mod webhooks;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, TimeZone, Utc};
use futures_util::TryStreamExt;
use scylla::client::execution_profile::ExecutionProfile;
use scylla::client::session::Session as CqlSession;
use scylla::client::session_builder::SessionBuilder;
use scylla::policies::load_balancing::DefaultPolicy;
use scylla::serialize::row::SerializeRow;
use scylla::statement::batch::{Batch, BatchType};
use scylla::statement::prepared::PreparedStatement;
use scylla::statement::{Consistency, SerialConsistency};
use scylla::value::{CqlTimestamp, CqlValue, Row};
use serde_json::json;
use uuid::Uuid;
use vkyc_domain::kyc::{CaseStore, KycCase};
use vkyc_domain::{DomainEvent, EventKind, EventSink};

use super::{
    Capture, CaptureStore, Erased, EventEnvelope, EventLog, SessionChange, SessionStore, Store,
    StoreError, StoreRefusal, EVENT_SCHEMA_VERSION,
};
use crate::config::ScyllaConfig;
use vkyc_domain::session::{status_after, AdmissionError, Applicant, Session, SessionStatus};
use vkyc_domain::SessionId;

fn backend(e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(e.to_string())
}

fn corrupt(e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

fn ts(t: DateTime<Utc>) -> CqlTimestamp {
    CqlTimestamp(t.timestamp_millis())
}

fn from_ts(t: CqlTimestamp) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(t.0).single().unwrap_or_default()
}

/// Days since the epoch (UTC): the partition of the per-day lists.
fn day_of(t: DateTime<Utc>) -> i32 {
    t.timestamp().div_euclid(86_400) as i32
}

/// Hours since the epoch (UTC): the partition of the deadlines.
fn hour_of(t: DateTime<Utc>) -> i64 {
    t.timestamp().div_euclid(3_600)
}

const SEQ_SHIFT: u32 = 20;
const MS_PER_BUCKET: i64 = 60_000;
const BUCKETS_PER_DAY: i64 = 1_440;
const EVENT_LOG: &str = "events";
const SESSION_LIST: &str = "sessions";
const PAGE: i32 = 500;

/// The minute bucket of an event seq.
fn bucket_of(seq: u64) -> i64 {
    ((seq >> SEQ_SHIFT) as i64).div_euclid(MS_PER_BUCKET)
}

/// Time-ordered unique event numbers: (ms << 20) | (node tag << 12) | counter, strictly
/// increasing within a process; the random node tag keeps two processes' numbers apart.
struct SeqGen {
    last: AtomicU64,
    node: u64,
}

impl SeqGen {
    fn new() -> Self {
        Self {
            last: AtomicU64::new(0),
            node: rand::random::<u8>() as u64,
        }
    }

    fn next(&self) -> u64 {
        let now = Utc::now().timestamp_millis().max(0) as u64;
        let candidate = (now << SEQ_SHIFT) | (self.node << 12);
        let mut last = self.last.load(Ordering::Relaxed);
        loop {
            let next = candidate.max(last + 1);
            match self
                .last
                .compare_exchange_weak(last, next, Ordering::SeqCst, Ordering::Relaxed)
            {
                Ok(_) => return next,
                Err(seen) => last = seen,
            }
        }
    }
}

/// Every statement the adapter runs, prepared once at connect.
pub struct Statements {
    // sessions
    insert_session: PreparedStatement,
    insert_session_pii: PreparedStatement,
    update_session: PreparedStatement,
    update_session_if: Option<PreparedStatement>,
    erase_session_pii: PreparedStatement,
    get_session: PreparedStatement,
    get_session_for_list: PreparedStatement,
    insert_by_day: PreparedStatement,
    set_status_by_day: PreparedStatement,
    insert_session_day: PreparedStatement,
    list_session_days: PreparedStatement,
    list_by_day: PreparedStatement,
    insert_by_status: PreparedStatement,
    delete_by_status: PreparedStatement,
    list_by_status: PreparedStatement,
    // lifecycle
    insert_deadline_hour: PreparedStatement,
    delete_deadline_hour: PreparedStatement,
    list_deadline_hours: PreparedStatement,
    insert_deadline: PreparedStatement,
    delete_deadline: PreparedStatement,
    list_deadlines: PreparedStatement,
    // cases, captures
    insert_case: PreparedStatement,
    get_case: PreparedStatement,
    delete_case: PreparedStatement,
    insert_capture: PreparedStatement,
    list_captures: PreparedStatement,
    delete_capture: PreparedStatement,
    // events
    insert_event_day: PreparedStatement,
    insert_event_bucket: PreparedStatement,
    insert_event: PreparedStatement,
    list_event_days: PreparedStatement,
    list_event_buckets: PreparedStatement,
    /// `WHERE bucket = ? AND seq > ? LIMIT ?` on a real server; `WHERE bucket = ?` (filtered
    /// here) where range predicates are not supported.
    list_events: PreparedStatement,
    get_relay_cursor: PreparedStatement,
    set_relay_cursor: PreparedStatement,
    /// Recordings' metadata (`recordings.rs`).
    rec: recordings::Statements,
    users: users::Statements,
    desk: users::DeskStatements,
    banks: questions::Statements,
    activity: activity::Statements,
    retention: retention::Statements,
    /// Webhook subscriptions, deliveries, the due queue and dead letters (`webhooks.rs`).
    wh: webhooks::Statements,
}

/// What the server supports beyond the CQL subset of the in-memory test server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capabilities {
    /// Lightweight transactions (`IF version = ?`).
    pub lwt: bool,
    /// Range predicates on clustering keys, `LIMIT ?` and `CLUSTERING ORDER BY … DESC`.
    pub ranges: bool,
}

#[derive(Clone)]
pub struct ScyllaStore {
    inner: Arc<Inner>,
}

struct Inner {
    session: CqlSession,
    st: Statements,
    caps: Capabilities,
    pii_ttl_secs: u64,
    settle: Duration,
    lwt_attempts: u32,
    seq: SeqGen,
}

/// A logged batch being assembled: prepared statements and their values.
struct Tx {
    batch: Batch,
    values: Vec<Box<dyn SerializeRow + Send + Sync>>,
}

impl Tx {
    fn new() -> Self {
        let mut batch = Batch::new(BatchType::Logged);
        batch.set_consistency(Consistency::LocalQuorum);
        Self {
            batch,
            values: Vec::new(),
        }
    }

    fn push(&mut self, st: &PreparedStatement, values: impl SerializeRow + Send + Sync + 'static) {
        self.batch.append_statement(st.clone());
        self.values.push(Box::new(values));
    }

    fn is_empty(&self) -> bool {
        self.values.is_empty()
    }
}

/// What a change of a session writes: whether the session itself changed, and its events.
struct Plan {
    changed: bool,
    events: Vec<DomainEvent>,
}

/// A session row: the session and its version.
struct Versioned {
    session: Session,
    version: i64,
}

type SessionRow = (
    Option<String>,
    Option<i64>,
    Option<String>,
    Option<String>,
    Option<String>,
);

impl ScyllaStore {
    /// Connects (token-aware, DC-aware), applies migrations if `migrate` is set, and prepares
    /// every statement. The keyspace must exist (run `vkyc migrate` first) unless `migrate`.
    pub async fn connect(cfg: &ScyllaConfig, migrate: bool) -> Result<Self, StoreError> {
        let session = open_session(cfg).await?;
        if migrate {
            migrate::migrate(&session, cfg).await?;
        } else {
            session
                .use_keyspace(&cfg.keyspace, false)
                .await
                .map_err(|e| {
                    backend(format!(
                        "keyspace {}: {e} (run `vkyc migrate` first)",
                        cfg.keyspace
                    ))
                })?;
        }
        let (st, caps) = prepare_all(&session, cfg).await?;
        if !caps.lwt {
            tracing::warn!("this CQL server does not support lightweight transactions: concurrent session updates are last-writer-wins (test servers only)");
        }
        Ok(Self {
            inner: Arc::new(Inner {
                session,
                st,
                caps,
                pii_ttl_secs: cfg.pii_ttl_days as u64 * 86_400,
                settle: Duration::from_millis(cfg.events_settle_ms),
                lwt_attempts: cfg.lwt_attempts,
                seq: SeqGen::new(),
            }),
        })
    }

    pub fn capabilities(&self) -> Capabilities {
        self.inner.caps
    }

    /// The driver session (for tests and tools).
    pub fn cql(&self) -> &CqlSession {
        &self.inner.session
    }

    /// The status queue of one UTC day (agent and auditor lists), newest first.
    pub async fn list_sessions_by_status(
        &self,
        status: SessionStatus,
        day: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<Session>, StoreError> {
        let st = &self.inner.st;
        let status = status_str(status);
        let mut rows: Vec<(CqlTimestamp, Uuid)> =
            self.rows(&st.list_by_status, (status, day_of(day))).await?;
        rows.sort_by(|a, b| (b.0 .0, b.1).cmp(&(a.0 .0, a.1)));
        rows.truncate(limit);
        self.sessions_for_list(rows.into_iter().map(|r| r.1).collect())
            .await
    }

    /// The JSON document of the first row `st` (a `SELECT doc … WHERE id = ?`) returns.
    async fn doc_at<T: serde::de::DeserializeOwned>(
        &self,
        st: &PreparedStatement,
        id: Uuid,
    ) -> Result<Option<T>, StoreError> {
        let rows: Vec<(Option<String>,)> = self.rows(st, (id,)).await?;
        rows.into_iter()
            .next()
            .and_then(|r| r.0)
            .map(|doc| serde_json::from_str(&doc).map_err(corrupt))
            .transpose()
    }

    async fn rows<R>(
        &self,
        st: &PreparedStatement,
        values: impl SerializeRow,
    ) -> Result<Vec<R>, StoreError>
    where
        R: for<'f, 'm> scylla::deserialize::row::DeserializeRow<'f, 'm> + Send + 'static,
    {
        let pager = self
            .inner
            .session
            .execute_iter(st.clone(), values)
            .await
            .map_err(backend)?;
        pager
            .rows_stream::<R>()
            .map_err(backend)?
            .try_collect()
            .await
            .map_err(backend)
    }

    async fn run(&self, tx: Tx) -> Result<(), StoreError> {
        if tx.is_empty() {
            return Ok(());
        }
        self.inner
            .session
            .batch(&tx.batch, tx.values)
            .await
            .map_err(backend)?;
        Ok(())
    }

    fn ttl(&self) -> u64 {
        self.inner.pii_ttl_secs
    }

    async fn read_session(
        &self,
        id: Uuid,
        st: &PreparedStatement,
    ) -> Result<Option<Versioned>, StoreError> {
        let rows: Vec<SessionRow> = self.rows(st, (id,)).await?;
        let Some((doc, version, name, dob, reference)) = rows.into_iter().next() else {
            return Ok(None);
        };
        let Some(doc) = doc else { return Ok(None) };
        // Absent, or overwritten with "" by an erasure.
        let (name, dob, reference) = (
            name.filter(|v| !v.is_empty()),
            dob.filter(|v| !v.is_empty()),
            reference.filter(|v| !v.is_empty()),
        );
        let mut v: serde_json::Value = serde_json::from_str(&doc).map_err(corrupt)?;
        let mut applicant =
            json!({ "name": name.unwrap_or_else(|| super::ERASED_NAME.to_string()) });
        if let Some(d) = dob {
            applicant["date_of_birth"] = json!(d);
        }
        if let Some(r) = reference {
            applicant["reference_id"] = json!(r);
        }
        v["applicant"] = applicant;
        let session: Session = serde_json::from_value(v).map_err(corrupt)?;
        Ok(Some(Versioned {
            session,
            version: version.unwrap_or(0),
        }))
    }

    async fn sessions_for_list(&self, ids: Vec<Uuid>) -> Result<Vec<Session>, StoreError> {
        let st = &self.inner.st.get_session_for_list;
        let reads = ids.into_iter().map(|id| self.read_session(id, st));
        let found = futures_util::future::try_join_all(reads).await?;
        Ok(found.into_iter().flatten().map(|v| v.session).collect())
    }

    /// The events' rows (and their index rows) into a batch, with fresh sequence numbers.
    fn push_events(&self, tx: &mut Tx, events: &[DomainEvent]) -> Result<(), StoreError> {
        let st = &self.inner.st;
        for event in events {
            let seq = self.inner.seq.next();
            let bucket = bucket_of(seq);
            let day = bucket.div_euclid(BUCKETS_PER_DAY);
            let data = serde_json::to_string(&event.data_json()).map_err(backend)?;
            tx.push(&st.insert_event_day, (EVENT_LOG, day));
            tx.push(&st.insert_event_bucket, (day, bucket));
            tx.push(
                &st.insert_event,
                (
                    bucket,
                    seq as i64,
                    Uuid::new_v4(),
                    event.kind().as_str(),
                    EVENT_SCHEMA_VERSION as i32,
                    ts(Utc::now()),
                    event.session_id.map(SessionId::into_uuid),
                    data,
                ),
            );
        }
        Ok(())
    }

    /// The session's non-personal columns (`doc` is the session without its applicant).
    fn session_doc(s: &Session) -> Result<String, StoreError> {
        let mut v = serde_json::to_value(s).map_err(backend)?;
        if let Some(o) = v.as_object_mut() {
            o.remove("applicant");
        }
        serde_json::to_string(&v).map_err(backend)
    }

    /// Index rows that follow a status change.
    fn push_status_move(&self, tx: &mut Tx, before: &Session, after: &Session) {
        if before.status == after.status {
            return;
        }
        let st = &self.inner.st;
        let day = day_of(after.created_at);
        let (created, id) = (ts(after.created_at), after.id.into_uuid());
        tx.push(
            &st.set_status_by_day,
            (status_str(after.status), day, created, id),
        );
        tx.push(
            &st.delete_by_status,
            (status_str(before.status), day, created, id),
        );
        tx.push(
            &st.insert_by_status,
            (status_str(after.status), day, created, id, mode_str(after)),
        );
    }

    /// Reads the session, runs `f` on it and writes the result, the index moves, the events
    /// and `extra` together. `f` returns `Ok(None)` to refuse (nothing is written) and may run
    /// again on a fresh copy when a conditional update finds another writer came first.
    /// `Ok(None)`: no such session.
    async fn modify(
        &self,
        id: Uuid,
        mut f: impl FnMut(&mut Session) -> Result<Option<Plan>, StoreError> + Send,
        extra: &(dyn Fn(&mut Tx) + Send + Sync),
    ) -> Result<Option<Option<Session>>, StoreError> {
        let st = &self.inner.st;
        for _ in 0..self.inner.lwt_attempts {
            let Some(Versioned {
                session: before,
                version,
            }) = self.read_session(id, &st.get_session).await?
            else {
                return Ok(None);
            };
            let mut s = before.clone();
            let Some(plan) = f(&mut s)? else {
                return Ok(Some(None));
            };
            let mut tx = Tx::new();
            if plan.changed {
                s.updated_at = Utc::now();
                let doc = Self::session_doc(&s)?;
                let row = (version + 1, status_str(s.status), ts(s.updated_at), doc, id);
                match &st.update_session_if {
                    Some(cond) if self.inner.caps.lwt => {
                        let (v, status, at, doc, id) = row;
                        let result = self
                            .inner
                            .session
                            .execute_unpaged(cond, (v, status, at, doc, id, version))
                            .await
                            .map_err(backend)?;
                        if !applied(result)? {
                            continue; // another writer came first: read again and re-run f
                        }
                    }
                    _ => tx.push(&st.update_session, row),
                }
                self.push_status_move(&mut tx, &before, &s);
            }
            self.push_events(&mut tx, &plan.events)?;
            extra(&mut tx);
            self.run(tx).await?;
            return Ok(Some(Some(s)));
        }
        Err(StoreError::Conflict(
            "concurrent_update",
            "the session is being changed by someone else; try again".into(),
        ))
    }

    /// Applies a call event to one session (`Session::apply`); the event itself, when given,
    /// is written with the session's change, before the events that follow from it.
    async fn advance(
        &self,
        id: SessionId,
        kind: EventKind,
        event: Option<DomainEvent>,
    ) -> Result<bool, StoreError> {
        let id = id.into_uuid();
        let done = self
            .modify(
                id,
                |s| {
                    let (changed, follow) = s.apply(kind, Utc::now());
                    let events = event.iter().cloned().chain(follow).collect();
                    Ok(Some(Plan { changed, events }))
                },
                &|_| {},
            )
            .await?;
        Ok(done.is_some())
    }
}

pub(super) fn applied(
    result: scylla::response::query_result::QueryResult,
) -> Result<bool, StoreError> {
    let rows = result.into_rows_result().map_err(backend)?;
    let row: Option<Row> = rows.maybe_first_row::<Row>().map_err(backend)?;
    match row.and_then(|r| r.columns.into_iter().next().flatten()) {
        Some(CqlValue::Boolean(b)) => Ok(b),
        other => Err(backend(format!(
            "conditional update: no [applied] column ({other:?})"
        ))),
    }
}

fn status_str(s: SessionStatus) -> &'static str {
    match s {
        SessionStatus::Scheduled => "scheduled",
        SessionStatus::Waiting => "waiting",
        SessionStatus::InProgress => "in_progress",
        SessionStatus::Completed => "completed",
        SessionStatus::Expired => "expired",
        SessionStatus::Cancelled => "cancelled",
    }
}

fn mode_str(s: &Session) -> &'static str {
    match s.mode {
        vkyc_domain::session::SessionMode::LiveAgent => "live_agent",
        vkyc_domain::session::SessionMode::SelfRecord => "self_record",
    }
}

fn pii_columns(a: &Applicant) -> (String, Option<String>, Option<String>) {
    let v = serde_json::to_value(a).unwrap_or_default();
    let s = |k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_string);
    (
        a.name.as_str().to_string(),
        s("date_of_birth"),
        s("reference_id"),
    )
}

pub async fn open_session(cfg: &ScyllaConfig) -> Result<CqlSession, StoreError> {
    let policy = DefaultPolicy::builder()
        .prefer_datacenter(cfg.datacenter.clone())
        .token_aware(true)
        .permit_dc_failover(cfg.allow_remote_dc)
        .build();
    let profile = ExecutionProfile::builder()
        .load_balancing_policy(policy)
        .consistency(Consistency::LocalQuorum)
        .serial_consistency(Some(SerialConsistency::LocalSerial))
        .request_timeout(Some(Duration::from_millis(cfg.request_timeout_ms)))
        .build()
        .into_handle();
    let mut builder = SessionBuilder::new()
        .known_nodes(cfg.contact_points.iter().map(ToString::to_string))
        .default_execution_profile_handle(profile)
        // Migrations wait for agreement themselves (and the test server has no schema versions).
        .auto_await_schema_agreement(false);
    if !cfg.username.is_empty() {
        builder = builder.user(cfg.username.clone(), cfg.password.expose());
    }
    builder
        .build()
        .await
        .map_err(|e| backend(format!("cannot connect to {:?}: {e}", cfg.contact_points)))
}

/// Prepares one statement with its consistency level.
async fn prep(
    session: &CqlSession,
    cql: &str,
    c: Consistency,
) -> Result<PreparedStatement, StoreError> {
    let mut p = session
        .prepare(cql)
        .await
        .map_err(|e| backend(format!("prepare {cql}: {e}")))?;
    p.set_consistency(c);
    p.set_page_size(PAGE);
    Ok(p)
}

async fn prepare_all(
    session: &CqlSession,
    cfg: &ScyllaConfig,
) -> Result<(Statements, Capabilities), StoreError> {
    use Consistency::{LocalOne as ONE, LocalQuorum as QUORUM};
    let ttl = cfg.pii_ttl_days as u64 * 86_400;
    let s = session;
    // Probe: a real server reports all three bind markers.
    let ranged = prep(s, "SELECT seq, id, event_type, schema_version, occurred_at, session_id, data FROM events_by_bucket WHERE bucket = ? AND seq > ? LIMIT ?", QUORUM).await?;
    let ranges = ranged.get_variable_col_specs().len() == 3;
    let list_events = if ranges {
        ranged
    } else {
        prep(s, "SELECT seq, id, event_type, schema_version, occurred_at, session_id, data FROM events_by_bucket WHERE bucket = ?", QUORUM).await?
    };
    let cond = "UPDATE sessions SET version = ?, status = ?, updated_at = ?, doc = ? WHERE id = ? IF version = ?";
    let mut update_if = prep(s, cond, QUORUM).await?;
    update_if.set_serial_consistency(Some(SerialConsistency::LocalSerial));
    let lwt = update_if.get_variable_col_specs().len() == 6;
    let order = |desc: &str, asc: &str| {
        if ranges {
            desc.to_string()
        } else {
            asc.to_string()
        }
    };
    let st = Statements {
        insert_session: prep(s, "INSERT INTO sessions (id, version, status, mode, created_at, updated_at, doc) VALUES (?, ?, ?, ?, ?, ?, ?)", QUORUM).await?,
        insert_session_pii: prep(s, &format!("INSERT INTO sessions (id, applicant_name, applicant_dob, applicant_ref) VALUES (?, ?, ?, ?) USING TTL {ttl}"), QUORUM).await?,
        update_session: prep(s, "UPDATE sessions SET version = ?, status = ?, updated_at = ?, doc = ? WHERE id = ?", QUORUM).await?,
        update_session_if: lwt.then_some(update_if),
        erase_session_pii: prep(s, "UPDATE sessions SET applicant_name = ?, applicant_dob = ?, applicant_ref = ? WHERE id = ?", QUORUM).await?,
        get_session: prep(s, "SELECT doc, version, applicant_name, applicant_dob, applicant_ref FROM sessions WHERE id = ?", QUORUM).await?,
        get_session_for_list: prep(s, "SELECT doc, version, applicant_name, applicant_dob, applicant_ref FROM sessions WHERE id = ?", ONE).await?,
        insert_by_day: prep(s, "INSERT INTO sessions_by_day (day, created_at, id, status, mode) VALUES (?, ?, ?, ?, ?)", QUORUM).await?,
        set_status_by_day: prep(s, "UPDATE sessions_by_day SET status = ? WHERE day = ? AND created_at = ? AND id = ?", QUORUM).await?,
        insert_session_day: prep(s, "INSERT INTO session_days (scope, day) VALUES (?, ?)", QUORUM).await?,
        list_session_days: prep(s, "SELECT day FROM session_days WHERE scope = ?", ONE).await?,
        list_by_day: prep(s, &order("SELECT created_at, id FROM sessions_by_day WHERE day = ? LIMIT ?", "SELECT created_at, id FROM sessions_by_day WHERE day = ?"), ONE).await?,
        insert_by_status: prep(s, "INSERT INTO sessions_by_status_day (status, day, created_at, id, mode) VALUES (?, ?, ?, ?, ?)", QUORUM).await?,
        delete_by_status: prep(s, "DELETE FROM sessions_by_status_day WHERE status = ? AND day = ? AND created_at = ? AND id = ?", QUORUM).await?,
        list_by_status: prep(s, "SELECT created_at, id FROM sessions_by_status_day WHERE status = ? AND day = ?", ONE).await?,
        insert_deadline_hour: prep(s, "INSERT INTO deadline_hours (kind, hour) VALUES (?, ?)", QUORUM).await?,
        delete_deadline_hour: prep(s, "DELETE FROM deadline_hours WHERE kind = ? AND hour = ?", QUORUM).await?,
        list_deadline_hours: prep(s, "SELECT hour FROM deadline_hours WHERE kind = ?", QUORUM).await?,
        insert_deadline: prep(s, "INSERT INTO deadlines (kind, hour, due_at, id) VALUES (?, ?, ?, ?)", QUORUM).await?,
        delete_deadline: prep(s, "DELETE FROM deadlines WHERE kind = ? AND hour = ? AND due_at = ? AND id = ?", QUORUM).await?,
        list_deadlines: prep(s, "SELECT due_at, id FROM deadlines WHERE kind = ? AND hour = ?", QUORUM).await?,
        insert_case: prep(s, &format!("INSERT INTO kyc_cases (session_id, doc, updated_at) VALUES (?, ?, ?) USING TTL {ttl}"), QUORUM).await?,
        get_case: prep(s, "SELECT doc FROM kyc_cases WHERE session_id = ?", QUORUM).await?,
        delete_case: prep(s, "DELETE FROM kyc_cases WHERE session_id = ?", QUORUM).await?,
        insert_capture: prep(s, &format!("INSERT INTO captures_by_session (session_id, created_at, id, doc) VALUES (?, ?, ?, ?) USING TTL {ttl}"), QUORUM).await?,
        list_captures: prep(s, "SELECT created_at, id, doc FROM captures_by_session WHERE session_id = ?", QUORUM).await?,
        delete_capture: prep(s, "DELETE FROM captures_by_session WHERE session_id = ? AND created_at = ? AND id = ?", QUORUM).await?,
        insert_event_day: prep(s, "INSERT INTO event_days (log, day) VALUES (?, ?)", QUORUM).await?,
        insert_event_bucket: prep(s, "INSERT INTO event_buckets (day, bucket) VALUES (?, ?)", QUORUM).await?,
        insert_event: prep(s, "INSERT INTO events_by_bucket (bucket, seq, id, event_type, schema_version, occurred_at, session_id, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", QUORUM).await?,
        list_event_days: prep(s, "SELECT day FROM event_days WHERE log = ?", QUORUM).await?,
        list_event_buckets: prep(s, "SELECT bucket FROM event_buckets WHERE day = ?", QUORUM).await?,
        list_events,
        get_relay_cursor: prep(s, "SELECT seq FROM relay_cursors WHERE name = ?", QUORUM).await?,
        set_relay_cursor: prep(s, "INSERT INTO relay_cursors (name, seq) VALUES (?, ?)", QUORUM).await?,
        rec: recordings::prepare(s).await?,
        users: users::prepare(s).await?,
        desk: users::prepare_desk(s).await?,
        banks: questions::prepare(s).await?,
        activity: activity::prepare(s).await?,
        retention: retention::prepare(s).await?,
        wh: webhooks::prepare(s).await?,
    };
    Ok((st, Capabilities { lwt, ranges }))
}

#[async_trait]
impl SessionStore for ScyllaStore {
    async fn create_session(&self, session: &Session) -> Result<(), StoreError> {
        let st = &self.inner.st;
        let mut session = session.clone();
        // A group's applicant joins the parent's list first (a conditional update of the
        // parent on a real cluster, so two additions cannot both take the last place).
        if let Some(pid) = session.parent_id {
            // `admit` may run again on a fresh parent (a conditional update lost): each run
            // starts from the child as it was given.
            let given = session.clone();
            let mut admitted = given.clone();
            self.modify(
                pid.into_uuid(),
                |p| {
                    admitted = given.clone();
                    p.admit(&mut admitted, Utc::now())
                        .map_err(StoreError::admission)?;
                    Ok(Some(Plan {
                        changed: true,
                        events: vec![],
                    }))
                },
                &|_| {},
            )
            .await?
            .ok_or_else(|| StoreError::admission(AdmissionError::ParentNotFound))?
            .expect("never refused");
            session = admitted;
        }
        let s = &session;
        let mut tx = Tx::new();
        let day = day_of(s.created_at);
        tx.push(
            &st.insert_session,
            (
                s.id.into_uuid(),
                1i64,
                status_str(s.status),
                mode_str(s),
                ts(s.created_at),
                ts(s.updated_at),
                Self::session_doc(s)?,
            ),
        );
        let (name, dob, reference) = pii_columns(&s.applicant);
        tx.push(
            &st.insert_session_pii,
            (s.id.into_uuid(), name, dob, reference),
        );
        tx.push(
            &st.insert_by_day,
            (
                day,
                ts(s.created_at),
                s.id.into_uuid(),
                status_str(s.status),
                mode_str(s),
            ),
        );
        tx.push(&st.insert_session_day, (SESSION_LIST, day));
        tx.push(
            &st.insert_by_status,
            (
                status_str(s.status),
                day,
                ts(s.created_at),
                s.id.into_uuid(),
                mode_str(s),
            ),
        );
        let mut deadline = |kind: &'static str, at: DateTime<Utc>| {
            tx.push(&st.insert_deadline_hour, (kind, hour_of(at)));
            tx.push(
                &st.insert_deadline,
                (kind, hour_of(at), ts(at), s.id.into_uuid()),
            );
        };
        if let (SessionStatus::Scheduled, Some(w)) = (s.status, s.schedule) {
            deadline("start", w.starts_at);
        }
        if let Some(at) = s.expires_at {
            deadline("expire", at);
        }
        let event = s.created_event();
        self.push_events(&mut tx, &[event])?;
        self.run(tx).await
    }

    async fn get_session(&self, id: SessionId) -> Result<Option<Session>, StoreError> {
        let id = id.into_uuid();
        Ok(self
            .read_session(id, &self.inner.st.get_session)
            .await?
            .map(|v| v.session))
    }

    async fn list_sessions(&self, limit: usize) -> Result<Vec<Session>, StoreError> {
        let st = &self.inner.st;
        let mut days: Vec<(i32,)> = self.rows(&st.list_session_days, (SESSION_LIST,)).await?;
        days.sort_by(|a, b| b.cmp(a));
        let mut ids = Vec::new();
        for (day,) in days {
            if ids.len() >= limit {
                break;
            }
            let mut rows: Vec<(CqlTimestamp, Uuid)> = if self.inner.caps.ranges {
                self.rows(&st.list_by_day, (day, (limit - ids.len()) as i32))
                    .await?
            } else {
                self.rows(&st.list_by_day, (day,)).await?
            };
            // Newest first (the table's clustering order on a real server; sorted here too).
            rows.sort_by(|a, b| (b.0 .0, b.1).cmp(&(a.0 .0, a.1)));
            ids.extend(rows.into_iter().take(limit - ids.len()).map(|r| r.1));
        }
        self.sessions_for_list(ids).await
    }
}

#[async_trait]
impl CaptureStore for ScyllaStore {
    async fn add_capture(&self, c: &Capture) -> Result<(), StoreError> {
        let mut tx = Tx::new();
        let doc = serde_json::to_string(c).map_err(backend)?;
        tx.push(
            &self.inner.st.insert_capture,
            (c.session_id.into_uuid(), ts(c.created_at), c.id, doc),
        );
        self.push_events(&mut tx, &[c.stored_event()])?;
        self.run(tx).await
    }

    async fn list_captures(&self, session_id: SessionId) -> Result<Vec<Capture>, StoreError> {
        let session_id = session_id.into_uuid();
        let mut rows: Vec<(CqlTimestamp, Uuid, String)> = self
            .rows(&self.inner.st.list_captures, (session_id,))
            .await?;
        rows.sort_by_key(|r| (r.0 .0, r.1));
        rows.into_iter()
            .map(|(_, _, doc)| serde_json::from_str(&doc).map_err(corrupt))
            .collect()
    }

    async fn get_capture(
        &self,
        session_id: SessionId,
        capture_id: Uuid,
    ) -> Result<Option<Capture>, StoreError> {
        let session_id = session_id.into_uuid();
        // One small partition (a session's captures); the clustering key starts with the time.
        Ok(self
            .list_captures(SessionId::from_uuid(session_id))
            .await?
            .into_iter()
            .find(|c| c.id == capture_id))
    }
}

#[async_trait]
impl EventLog for ScyllaStore {
    async fn events_after(
        &self,
        after: u64,
        limit: usize,
    ) -> Result<Vec<EventEnvelope>, StoreError> {
        let st = &self.inner.st;
        let mut days: Vec<(i64,)> = self.rows(&st.list_event_days, (EVENT_LOG,)).await?;
        let horizon_ms = Utc::now().timestamp_millis() - self.inner.settle.as_millis() as i64;
        if horizon_ms <= 0 || limit == 0 {
            return Ok(vec![]);
        }
        let horizon = ((horizon_ms as u64) << SEQ_SHIFT) | ((1 << SEQ_SHIFT) - 1);
        if after >= horizon {
            return Ok(vec![]);
        }
        let first_bucket = bucket_of(after);
        let last_bucket = bucket_of(horizon);
        days.sort();
        let mut out = Vec::new();
        for (day,) in days {
            if day < first_bucket.div_euclid(BUCKETS_PER_DAY) {
                continue;
            }
            if day > last_bucket.div_euclid(BUCKETS_PER_DAY) {
                break;
            }
            let mut buckets: Vec<(i64,)> = self.rows(&st.list_event_buckets, (day,)).await?;
            buckets.sort();
            for (bucket,) in buckets {
                if bucket < first_bucket {
                    continue;
                }
                if bucket > last_bucket {
                    break;
                }
                type EventRow = (i64, Uuid, String, i32, CqlTimestamp, Option<Uuid>, String);
                let mut rows: Vec<EventRow> = if self.inner.caps.ranges {
                    self.rows(
                        &st.list_events,
                        (
                            bucket,
                            after.min(i64::MAX as u64) as i64,
                            (limit - out.len()) as i32,
                        ),
                    )
                    .await?
                } else {
                    self.rows(&st.list_events, (bucket,)).await?
                };
                rows.sort_by_key(|r| (r.0, r.1));
                for (seq, id, kind, version, time, session_id, data) in rows {
                    let seq = seq as u64;
                    if seq <= after || seq > horizon {
                        continue;
                    }
                    let data = serde_json::from_str(&data).map_err(corrupt)?;
                    out.push(EventEnvelope {
                        seq,
                        id,
                        kind,
                        version: version as u32,
                        time: from_ts(time),
                        session_id: session_id.map(SessionId::from_uuid),
                        data,
                    });
                    if out.len() >= limit {
                        return Ok(out);
                    }
                }
            }
        }
        Ok(out)
    }
}

#[async_trait]
impl CaseStore for ScyllaStore {
    async fn load_case(&self, session_id: SessionId) -> Result<Option<KycCase>, String> {
        let session_id = session_id.into_uuid();
        let rows: Vec<(Option<String>,)> = self
            .rows(&self.inner.st.get_case, (session_id,))
            .await
            .map_err(|e| e.to_string())?;
        match rows.into_iter().next().and_then(|r| r.0) {
            Some(doc) => serde_json::from_str(&doc)
                .map(Some)
                .map_err(|e| corrupt(e).to_string()),
            None => Ok(None),
        }
    }

    async fn save_case(&self, case: &KycCase, event: DomainEvent) -> Result<(), String> {
        let run = async {
            let mut tx = Tx::new();
            let doc = serde_json::to_string(case).map_err(backend)?;
            tx.push(
                &self.inner.st.insert_case,
                (case.session_id.into_uuid(), doc, ts(Utc::now())),
            );
            self.push_events(&mut tx, &[event])?;
            self.run(tx).await
        };
        run.await.map_err(|e| e.to_string())
    }
}

#[async_trait]
impl EventSink for ScyllaStore {
    async fn publish(&self, event: DomainEvent) -> Result<(), String> {
        let run = async {
            // recording.*: the recordings tables change in the event's batch.
            if let Some(id) = crate::store::recordings::recording_event_target(&event) {
                return self.publish_recording(id, event).await;
            }
            if let (Some(_), Some(id)) = (status_after(event.kind()), event.session_id) {
                if let Some(s) = self.get_session(id).await? {
                    for child in &s.participants {
                        self.advance(*child, event.kind(), None).await?;
                    }
                    if self.advance(id, event.kind(), Some(event.clone())).await? {
                        return Ok(());
                    }
                }
            }
            let mut tx = Tx::new();
            self.push_events(&mut tx, &[event])?;
            self.run(tx).await
        };
        run.await.map_err(|e: StoreError| e.to_string())
    }
}

#[async_trait]
impl Store for ScyllaStore {
    async fn change_session(
        &self,
        id: SessionId,
        mut change: SessionChange,
    ) -> Result<Option<Result<(), StoreRefusal>>, StoreError> {
        let id = id.into_uuid();
        let done = self
            .modify(
                id,
                |s| {
                    Ok(change(s).ok().map(|ev| Plan {
                        changed: true,
                        events: ev.into_iter().collect(),
                    }))
                },
                &|_| {},
            )
            .await?;
        Ok(done.map(|s| s.map(|_| ()).ok_or(StoreRefusal)))
    }

    async fn cancel_session(&self, id: SessionId) -> Result<Option<bool>, StoreError> {
        let id = id.into_uuid();
        let done = self
            .modify(
                id,
                |s| {
                    Ok(s.cancel(Utc::now()).ok().map(|event| Plan {
                        changed: true,
                        events: vec![event],
                    }))
                },
                &|_| {},
            )
            .await?;
        Ok(done.map(|s| s.is_some()))
    }

    async fn expire_due(&self, now: DateTime<Utc>) -> Result<crate::store::Due, StoreError> {
        let st = &self.inner.st;
        let now_hour = hour_of(now);
        let mut changed_now = crate::store::Due::default();
        for kind in ["start", "expire"] {
            let mut hours: Vec<(i64,)> = self.rows(&st.list_deadline_hours, (kind,)).await?;
            hours.sort();
            for (hour,) in hours.into_iter().filter(|h| h.0 <= now_hour) {
                let rows: Vec<(CqlTimestamp, Uuid)> =
                    self.rows(&st.list_deadlines, (kind, hour)).await?;
                let mut left = 0;
                for (due, id) in rows {
                    if due.0 > now.timestamp_millis() {
                        left += 1;
                        continue;
                    }
                    let st2 = &self.inner.st;
                    let done_row =
                        move |tx: &mut Tx| tx.push(&st2.delete_deadline, (kind, hour, due, id));
                    let changed = self
                        .modify(
                            id,
                            |s| {
                                let event = if kind == "start" {
                                    s.open_window(now)
                                } else {
                                    s.expire(now)
                                };
                                // No event: nothing to do but drop the deadline.
                                Ok(Some(Plan {
                                    changed: event.is_some(),
                                    events: event.into_iter().collect(),
                                }))
                            },
                            &done_row,
                        )
                        .await?;
                    match changed {
                        Some(Some(s)) if kind == "expire" && s.status == SessionStatus::Expired => {
                            changed_now.expired.push(s.id)
                        }
                        Some(Some(s)) if kind == "start" && s.status == SessionStatus::Waiting => {
                            changed_now.opened.push(s.id)
                        }
                        Some(_) => {}
                        None => {
                            let mut tx = Tx::new();
                            done_row(&mut tx);
                            self.run(tx).await?;
                        }
                    }
                }
                if left == 0 && hour < now_hour {
                    let mut tx = Tx::new();
                    tx.push(&st.delete_deadline_hour, (kind, hour));
                    self.run(tx).await?;
                }
            }
        }
        Ok(changed_now)
    }

    async fn relay_cursor(&self, name: &'static str) -> Result<u64, StoreError> {
        let rows: Vec<(Option<i64>,)> = self.rows(&self.inner.st.get_relay_cursor, (name,)).await?;
        Ok(rows
            .into_iter()
            .next()
            .and_then(|r| r.0)
            .unwrap_or(0)
            .max(0) as u64)
    }

    async fn set_relay_cursor(&self, name: &'static str, seq: u64) -> Result<(), StoreError> {
        // One relay per cursor name writes it, so read-then-write is enough to never go back.
        if seq > self.relay_cursor(name).await? {
            self.inner
                .session
                .execute_unpaged(&self.inner.st.set_relay_cursor, (name, seq as i64))
                .await
                .map_err(backend)?;
        }
        Ok(())
    }

    async fn finished_before(&self, before: DateTime<Utc>) -> Result<Vec<Session>, StoreError> {
        self.finished_sessions_before(before).await
    }

    async fn purge_session(
        &self,
        id: SessionId,
        classes: Vec<vkyc_domain::retention::DataClass>,
        files: u32,
    ) -> Result<Option<()>, StoreError> {
        self.purge_one(id, classes, files).await
    }

    async fn purge_events_before(
        &self,
        before: DateTime<Utc>,
        up_to: Option<u64>,
    ) -> Result<u64, StoreError> {
        self.purge_events(before, up_to).await
    }

    async fn erase_session(&self, id: SessionId) -> Result<Option<Erased>, StoreError> {
        let id = id.into_uuid();
        let st = &self.inner.st;
        let Some(Versioned {
            session: mut s,
            version,
        }) = self.read_session(id, &st.get_session).await?
        else {
            return Ok(None);
        };
        let captures: Vec<(CqlTimestamp, Uuid, String)> =
            self.rows(&st.list_captures, (id,)).await?;
        let mut tx = Tx::new();
        // Overwritten with empty values (read back as absent): a newer cell supersedes the
        // personal data on every replica, and compaction drops the old one.
        tx.push(&st.erase_session_pii, ("", "", "", id));
        if s.questions.iter().any(|q| q.expected.is_some()) {
            // The lender's expected answers live in the document.
            s.forget_expected_answers();
            s.updated_at = Utc::now();
            let row = (
                version + 1,
                status_str(s.status),
                ts(s.updated_at),
                Self::session_doc(&s)?,
                id,
            );
            tx.push(&st.update_session, row);
        }
        tx.push(&st.delete_case, (id,));
        let mut blob_keys = Vec::new();
        for (at, cid, doc) in captures {
            if let Ok(c) = serde_json::from_str::<Capture>(&doc) {
                blob_keys.push(c.blob_key());
            }
            tx.push(&st.delete_capture, (id, at, cid));
        }
        self.run(tx).await?;
        Ok(Some(Erased { blob_keys }))
    }
}

impl ScyllaStore {
    /// Seconds personal-data columns live (`pii_ttl_days`).
    pub fn pii_ttl_secs(&self) -> u64 {
        self.ttl()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_numbers_increase_and_bucket_by_minute() {
        let g = SeqGen::new();
        let a = g.next();
        let b = g.next();
        assert!(b > a);
        let now_bucket = Utc::now().timestamp_millis() / MS_PER_BUCKET;
        assert!((bucket_of(b) - now_bucket).abs() <= 1);
        assert!(b < i64::MAX as u64, "fits a CQL bigint");
    }
}
