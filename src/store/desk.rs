//! The agent desk's queue in the embedded store: one row (`desk_state["queue"]`, the
//! [`Queue`] as JSON) written in the same transaction as the events the change produced, so
//! a restart resumes exactly where the log says the queue was.

use async_trait::async_trait;
use redb::TableDefinition;
use vkyc_domain::desk::queue::Queue;
use vkyc_domain::DomainEvent;

use super::embedded::{append_event, EmbeddedStore};
use super::rows::{self, JsonTable};
use super::StoreError;

pub(super) const DESK_STATE: JsonTable<&str> = TableDefinition::new("desk_state");
const QUEUE: &str = "queue";

/// The desk's state port (both back ends).
#[async_trait]
pub trait DeskStateStore: Send + Sync + 'static {
    /// The saved queue, `None` before the first save.
    async fn load_queue(&self) -> Result<Option<Queue>, StoreError>;
    /// Saves the queue and appends its events, together.
    async fn save_queue(&self, queue: &Queue, events: &[DomainEvent]) -> Result<(), StoreError>;
}

pub(super) fn create_tables(tx: &redb::WriteTransaction) -> Result<(), StoreError> {
    rows::create_tables!(tx, DESK_STATE);
    Ok(())
}

#[async_trait]
impl DeskStateStore for EmbeddedStore {
    async fn load_queue(&self) -> Result<Option<Queue>, StoreError> {
        self.read_tx(|tx| {
            rows::get(
                &tx.open_table(DESK_STATE)
                    .map_err(super::embedded::backend)?,
                QUEUE,
            )
        })
        .await
    }

    async fn save_queue(&self, queue: &Queue, events: &[DomainEvent]) -> Result<(), StoreError> {
        let (queue, events) = (queue.clone(), events.to_vec());
        self.write_tx(move |tx| {
            rows::write(tx, DESK_STATE, QUEUE, &queue)?;
            for e in &events {
                append_event(tx, e)?;
            }
            Ok(())
        })
        .await
    }
}
