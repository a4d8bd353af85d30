//! The retention purge in ScyllaDB. Candidates are found through the per-status day lists
//! (`sessions_by_status_day` for `completed`, `expired`, `cancelled`, over the days in
//! `session_days`): a walk of every finished session each run, fine at the purge's pace (one
//! run an hour by default) and to be replaced by a finish-time index when it is not. A
//! session's purge is one logged batch: its document (classes marked, personal fields
//! overwritten), the case and capture rows deleted, and `data.purged`. Old events go a
//! minute partition at a time.

use chrono::{DateTime, Utc};
use scylla::client::session::Session as CqlSession;
use scylla::statement::prepared::PreparedStatement;
use scylla::statement::Consistency::LocalQuorum as QUORUM;
use uuid::Uuid;
use vkyc_domain::retention::DataClass;
use vkyc_domain::session::{Session, SessionStatus};
use vkyc_domain::SessionId;

use super::{
    backend, day_of, prep, status_str, ts, CqlTimestamp, ScyllaStore, Tx, Versioned,
    BUCKETS_PER_DAY, EVENT_LOG, MS_PER_BUCKET, SESSION_LIST,
};
use crate::store::StoreError;

pub(super) struct Statements {
    count_bucket: PreparedStatement,
    delete_bucket: PreparedStatement,
    delete_bucket_row: PreparedStatement,
    delete_event_day: PreparedStatement,
}

pub(super) async fn prepare(s: &CqlSession) -> Result<Statements, StoreError> {
    Ok(Statements {
        count_bucket: prep(
            s,
            "SELECT seq FROM events_by_bucket WHERE bucket = ?",
            QUORUM,
        )
        .await?,
        delete_bucket: prep(s, "DELETE FROM events_by_bucket WHERE bucket = ?", QUORUM).await?,
        delete_bucket_row: prep(
            s,
            "DELETE FROM event_buckets WHERE day = ? AND bucket = ?",
            QUORUM,
        )
        .await?,
        delete_event_day: prep(
            s,
            "DELETE FROM event_days WHERE log = ? AND day = ?",
            QUORUM,
        )
        .await?,
    })
}

impl ScyllaStore {
    pub(super) async fn finished_sessions_before(
        &self,
        before: DateTime<Utc>,
    ) -> Result<Vec<Session>, StoreError> {
        let st = &self.inner.st;
        let days: Vec<(i32,)> = self.rows(&st.list_session_days, (SESSION_LIST,)).await?;
        let last_day = day_of(before);
        let mut ids = Vec::new();
        for (day,) in days.into_iter().filter(|(d,)| *d <= last_day) {
            for status in [
                SessionStatus::Completed,
                SessionStatus::Expired,
                SessionStatus::Cancelled,
            ] {
                let rows: Vec<(CqlTimestamp, Uuid)> = self
                    .rows(&st.list_by_status, (status_str(status), day))
                    .await?;
                ids.extend(rows.into_iter().map(|r| r.1));
            }
        }
        ids.sort();
        ids.dedup();
        let sessions = self.sessions_for_list(ids).await?;
        Ok(sessions
            .into_iter()
            .filter(|s| s.finished_at().is_some_and(|at| at < before))
            .collect())
    }

    pub(super) async fn purge_one(
        &self,
        id: SessionId,
        classes: Vec<DataClass>,
        files: u32,
    ) -> Result<Option<()>, StoreError> {
        let id = id.into_uuid();
        let st = &self.inner.st;
        let Some(Versioned {
            session: mut s,
            version,
        }) = self.read_session(id, &st.get_session).await?
        else {
            return Ok(None);
        };
        if s.legal_hold.is_some() {
            return Err(crate::store::held());
        }
        s.mark_purged(&classes, Utc::now());
        let mut tx = Tx::new();
        let row = (
            version + 1,
            status_str(s.status),
            ts(s.updated_at),
            Self::session_doc(&s)?,
            id,
        );
        tx.push(&st.update_session, row);
        if classes.contains(&DataClass::PersonalFields) {
            tx.push(&st.erase_session_pii, ("", "", "", id));
        }
        if classes.contains(&DataClass::CaseDocuments) {
            tx.push(&st.delete_case, (id,));
        }
        if classes.contains(&DataClass::Captures) {
            let captures: Vec<(CqlTimestamp, Uuid, String)> =
                self.rows(&st.list_captures, (id,)).await?;
            for (at, cid, _) in captures {
                tx.push(&st.delete_capture, (id, at, cid));
            }
        }
        let event = crate::store::purged_event(s.id, classes, files);
        self.push_events(&mut tx, &[event])?;
        self.run(tx).await?;
        Ok(Some(()))
    }

    pub(super) async fn purge_events(
        &self,
        before: DateTime<Utc>,
        up_to: Option<u64>,
    ) -> Result<u64, StoreError> {
        let st = &self.inner.st;
        let rt = &st.retention;
        // Whole minute buckets before both the cutoff and the readers' position (a seq is
        // time-ordered: the bucket of `up_to` may hold events not yet read, so it stays).
        let cutoff = before.timestamp_millis().div_euclid(MS_PER_BUCKET);
        let cutoff = up_to.map_or(cutoff, |u| cutoff.min(super::bucket_of(u)));
        let days: Vec<(i64,)> = self.rows(&st.list_event_days, (EVENT_LOG,)).await?;
        let mut n = 0u64;
        for (day,) in days {
            if day > cutoff.div_euclid(BUCKETS_PER_DAY) {
                continue;
            }
            let buckets: Vec<(i64,)> = self.rows(&st.list_event_buckets, (day,)).await?;
            let mut kept = 0;
            for (bucket,) in buckets {
                if bucket >= cutoff {
                    kept += 1;
                    continue;
                }
                let seqs: Vec<(i64,)> = self.rows(&rt.count_bucket, (bucket,)).await?;
                n += seqs.len() as u64;
                let session = &self.inner.session;
                session
                    .execute_unpaged(&rt.delete_bucket, (bucket,))
                    .await
                    .map_err(backend)?;
                session
                    .execute_unpaged(&rt.delete_bucket_row, (day, bucket))
                    .await
                    .map_err(backend)?;
            }
            if kept == 0 {
                self.inner
                    .session
                    .execute_unpaged(&rt.delete_event_day, (EVENT_LOG, day))
                    .await
                    .map_err(backend)?;
            }
        }
        Ok(n)
    }
}
