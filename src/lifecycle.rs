//! Session lifecycle timers: the `ExpiryActor` wakes every `kyc.expiry_check_secs` and
//! expires the sessions whose call has not started by their `expires_at` (the store changes
//! each status and writes its `session.expired` event in one transaction).

use std::time::Duration;

use ractor::{Actor, ActorProcessingErr, ActorRef};

use crate::store::EmbeddedStore;

pub struct ExpiryActor;

pub enum ExpiryMsg {
    Tick,
}

impl Actor for ExpiryActor {
    type Msg = ExpiryMsg;
    type State = EmbeddedStore;
    type Arguments = (EmbeddedStore, Duration);

    async fn pre_start(&self, me: ActorRef<ExpiryMsg>, (store, every): Self::Arguments) -> Result<EmbeddedStore, ActorProcessingErr> {
        me.send_interval(every, || ExpiryMsg::Tick);
        Ok(store)
    }

    async fn handle(&self, _me: ActorRef<ExpiryMsg>, msg: ExpiryMsg, store: &mut EmbeddedStore) -> Result<(), ActorProcessingErr> {
        match msg {
            ExpiryMsg::Tick => match store.expire_due(chrono::Utc::now()).await {
                Ok(ids) if !ids.is_empty() => tracing::info!(count = ids.len(), "sessions expired"),
                Ok(_) => {}
                // A store hiccup must not stop the timer: the next tick tries again.
                Err(e) => tracing::error!(error = %e, "expiry check failed"),
            },
        }
        Ok(())
    }
}
