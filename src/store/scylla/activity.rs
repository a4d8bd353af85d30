//! The activity log in ScyllaDB (migration 0005): `activity`, one partition per session's
//! chain, and `activity_heads`. On a real cluster an entry takes its place by moving the head
//! with a lightweight transaction (`IF count = ?`, or `IF NOT EXISTS` for the first), then
//! the entry row is written; a writer that lost the race reads the head again and re-seals.
//! A crash between the two leaves a head one ahead of its chain, which `vkyc activity verify`
//! reports (a missing entry), never a silent gap. The in-memory test server has no LWT: the
//! entry and the head go in one batch, last writer wins.

use scylla::client::session::Session as CqlSession;
use scylla::statement::prepared::PreparedStatement;
use scylla::statement::Consistency::LocalQuorum as QUORUM;
use scylla::statement::SerialConsistency;
use uuid::Uuid;
use vkyc_domain::activity::{ActivityEntry, ChainHead, ChainKey, NewActivity};
use vkyc_domain::SessionId;

use super::{applied, backend, corrupt, prep, ScyllaStore, Tx};
use crate::store::{ActivityStore, StoreError};

pub(super) struct Statements {
    insert: PreparedStatement,
    list: PreparedStatement,
    get_head: PreparedStatement,
    put_head: PreparedStatement,
    first_head_if: PreparedStatement,
    move_head_if: PreparedStatement,
    list_heads: PreparedStatement,
}

pub(super) async fn prepare(s: &CqlSession) -> Result<Statements, StoreError> {
    let serial = |mut st: PreparedStatement| {
        st.set_serial_consistency(Some(SerialConsistency::LocalSerial));
        st
    };
    Ok(Statements {
        insert: prep(s, "INSERT INTO activity (session_id, seq, doc) VALUES (?, ?, ?)", QUORUM).await?,
        list: prep(s, "SELECT seq, doc FROM activity WHERE session_id = ?", QUORUM).await?,
        get_head: prep(s, "SELECT count, mac FROM activity_heads WHERE session_id = ?", QUORUM).await?,
        put_head: prep(s, "INSERT INTO activity_heads (session_id, count, mac) VALUES (?, ?, ?)", QUORUM).await?,
        first_head_if: serial(prep(s, "INSERT INTO activity_heads (session_id, count, mac) VALUES (?, ?, ?) IF NOT EXISTS", QUORUM).await?),
        move_head_if: serial(prep(s, "UPDATE activity_heads SET count = ?, mac = ? WHERE session_id = ? IF count = ?", QUORUM).await?),
        list_heads: prep(s, "SELECT session_id FROM activity_heads", QUORUM).await?,
    })
}

impl ScyllaStore {
    async fn head(&self, session: Uuid) -> Result<ChainHead, StoreError> {
        let rows: Vec<(Option<i64>, Option<String>)> = self
            .rows(&self.inner.st.activity.get_head, (session,))
            .await?;
        Ok(match rows.into_iter().next() {
            Some((Some(count), Some(mac))) => ChainHead {
                count: count as u64,
                mac,
            },
            _ => ChainHead::default(),
        })
    }
}

#[async_trait::async_trait]
impl ActivityStore for ScyllaStore {
    async fn append_activity(
        &self,
        key: &ChainKey,
        new: NewActivity,
    ) -> Result<ActivityEntry, StoreError> {
        let st = &self.inner.st.activity;
        let sid: Uuid = new.session_id.into();
        for _ in 0..self.inner.lwt_attempts.max(1) {
            let head = self.head(sid).await?;
            let entry = key.seal(&head, new.clone());
            let doc = serde_json::to_string(&entry).map_err(backend)?;
            let (seq, mac) = (entry.seq as i64, entry.mac.clone());
            let mut tx = Tx::new();
            if self.inner.caps.lwt {
                let result = if head.count == 0 {
                    self.inner
                        .session
                        .execute_unpaged(&st.first_head_if, (sid, seq, mac))
                        .await
                } else {
                    self.inner
                        .session
                        .execute_unpaged(&st.move_head_if, (seq, mac, sid, head.count as i64))
                        .await
                }
                .map_err(backend)?;
                if !applied(result)? {
                    continue; // another writer took this place: read the head again
                }
            } else {
                tx.push(&st.put_head, (sid, seq, mac));
            }
            tx.push(&st.insert, (sid, seq, doc));
            self.run(tx).await?;
            return Ok(entry);
        }
        Err(StoreError::Conflict(
            "concurrent_update",
            "the activity log of this session is busy; try again".into(),
        ))
    }

    async fn activity(
        &self,
        session: SessionId,
    ) -> Result<(Vec<ActivityEntry>, ChainHead), StoreError> {
        let sid: Uuid = session.into();
        let rows: Vec<(i64, Option<String>)> =
            self.rows(&self.inner.st.activity.list, (sid,)).await?;
        let mut entries = rows
            .into_iter()
            .filter_map(|(_, doc)| doc)
            .map(|d| serde_json::from_str::<ActivityEntry>(&d).map_err(corrupt))
            .collect::<Result<Vec<_>, _>>()?;
        entries.sort_by_key(|e| e.seq);
        Ok((entries, self.head(sid).await?))
    }

    async fn activity_sessions(&self) -> Result<Vec<SessionId>, StoreError> {
        let rows: Vec<(Uuid,)> = self.rows(&self.inner.st.activity.list_heads, ()).await?;
        Ok(rows.into_iter().map(|(id,)| SessionId::from(id)).collect())
    }
}
