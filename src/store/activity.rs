//! The activity log's port and its embedded tables: each session's chain of sealed entries
//! (`activity`, keyed by session and seq) and its head (`activity_heads`), written in one
//! transaction, so the chain and its head never disagree (see `vkyc_domain::activity`).

use async_trait::async_trait;
use redb::{ReadableTable, TableDefinition};
use vkyc_domain::activity::{ActivityEntry, ChainHead, ChainKey, NewActivity};
use vkyc_domain::SessionId;

use super::embedded::{backend, EmbeddedStore};
use super::rows::{self, JsonTable};
use super::StoreError;

/// (session, seq) → entry JSON.
pub const ACTIVITY: JsonTable<(u128, u64)> = TableDefinition::new("activity");
/// session → head JSON.
pub const ACTIVITY_HEADS: JsonTable<u128> = TableDefinition::new("activity_heads");

/// The activity log's port (both back ends): append-only, one chain per session.
#[async_trait]
pub trait ActivityStore: Send + Sync + 'static {
    /// Seals `new` after its session's head with `key` and appends it; returns the entry.
    async fn append_activity(
        &self,
        key: &ChainKey,
        new: NewActivity,
    ) -> Result<ActivityEntry, StoreError>;
    /// A session's entries in order, and its head (an empty chain: none, the default head).
    async fn activity(
        &self,
        session: SessionId,
    ) -> Result<(Vec<ActivityEntry>, ChainHead), StoreError>;
    /// Every session that has a chain.
    async fn activity_sessions(&self) -> Result<Vec<SessionId>, StoreError>;
}

pub(super) fn create_tables(tx: &redb::WriteTransaction) -> Result<(), StoreError> {
    rows::create_tables!(tx, ACTIVITY, ACTIVITY_HEADS);
    Ok(())
}

#[async_trait]
impl ActivityStore for EmbeddedStore {
    async fn append_activity(
        &self,
        key: &ChainKey,
        new: NewActivity,
    ) -> Result<ActivityEntry, StoreError> {
        let key = key.clone();
        self.write_tx(move |tx| {
            let sid = new.session_id.as_u128();
            let head: ChainHead = rows::read(tx, ACTIVITY_HEADS, sid)?.unwrap_or_default();
            let entry = key.seal(&head, new);
            rows::write(tx, ACTIVITY, (sid, entry.seq), &entry)?;
            let head = ChainHead {
                count: entry.seq,
                mac: entry.mac.clone(),
            };
            rows::write(tx, ACTIVITY_HEADS, sid, &head)?;
            Ok(entry)
        })
        .await
    }

    async fn activity(
        &self,
        session: SessionId,
    ) -> Result<(Vec<ActivityEntry>, ChainHead), StoreError> {
        let sid = session.as_u128();
        self.read_tx(move |tx| {
            let t = tx.open_table(ACTIVITY).map_err(backend)?;
            let mut entries = Vec::new();
            for row in t.range((sid, 0)..=(sid, u64::MAX)).map_err(backend)? {
                let (_, v) = row.map_err(backend)?;
                entries.push(rows::decode(v.value())?);
            }
            let heads = tx.open_table(ACTIVITY_HEADS).map_err(backend)?;
            let head = rows::get(&heads, sid)?.unwrap_or_default();
            Ok((entries, head))
        })
        .await
    }

    async fn activity_sessions(&self) -> Result<Vec<SessionId>, StoreError> {
        self.read_tx(|tx| {
            // Chains whose head row was removed are listed too: verify finds them.
            let mut ids = std::collections::BTreeSet::new();
            let heads = tx.open_table(ACTIVITY_HEADS).map_err(backend)?;
            for row in heads.iter().map_err(backend)? {
                ids.insert(row.map_err(backend)?.0.value());
            }
            let entries = tx.open_table(ACTIVITY).map_err(backend)?;
            for row in entries.iter().map_err(backend)? {
                ids.insert(row.map_err(backend)?.0.value().0);
            }
            Ok(ids.into_iter().map(SessionId::from_u128).collect())
        })
        .await
    }
}
