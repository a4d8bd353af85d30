//! Session lifecycle timers: the `ExpiryActor` wakes every `kyc.expiry_check_secs` and
//! expires the sessions whose call has not started by their `expires_at` (the store changes
//! each status and writes its `session.expired` event in one transaction). It is a child of
//! the application supervisor (`expiry`), restarted if it fails.

use std::time::Duration;

use ractor::{Actor, ActorProcessingErr, ActorRef};

use std::sync::Arc;

use crate::store::Store;

pub struct ExpiryActor;

pub enum ExpiryMsg {
    Tick,
    /// Fault injection: the timer panics.
    #[cfg(feature = "fault-injection")]
    InjectPanic,
}

impl Actor for ExpiryActor {
    type Msg = ExpiryMsg;
    type State = Arc<dyn Store>;
    type Arguments = (Arc<dyn Store>, Duration);

    async fn pre_start(
        &self,
        me: ActorRef<ExpiryMsg>,
        (store, every): Self::Arguments,
    ) -> Result<Arc<dyn Store>, ActorProcessingErr> {
        me.send_interval(every, || ExpiryMsg::Tick);
        Ok(store)
    }

    async fn handle(
        &self,
        _me: ActorRef<ExpiryMsg>,
        msg: ExpiryMsg,
        store: &mut Arc<dyn Store>,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            ExpiryMsg::Tick => match store.expire_due(chrono::Utc::now()).await {
                Ok(ids) if !ids.is_empty() => tracing::info!(count = ids.len(), "sessions expired"),
                Ok(_) => {}
                // A store hiccup must not stop the timer: the next tick tries again.
                Err(e) => tracing::error!(error = %e, "expiry check failed"),
            },
            #[cfg(feature = "fault-injection")]
            ExpiryMsg::InjectPanic => panic!("expiry timer: injected fault"),
        }
        Ok(())
    }
}
