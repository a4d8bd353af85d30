//! Session lifecycle timers: the `ExpiryActor` wakes every `kyc.expiry_check_secs`, opens
//! the windows of scheduled sessions whose slot began and expires the sessions whose call has
//! not started by their `expires_at` (the store changes each status and writes its
//! `session.waiting` / `session.expired` event in one transaction). A live-agent session
//! whose slot began goes to the desk ([`vkyc_desk::Desk::scheduled_slot`]): it is offered to
//! an agent at its slot, before the customer's page connects. It is a child of the
//! application supervisor (`expiry`), restarted if it fails.

use std::time::Duration;

use ractor::{Actor, ActorProcessingErr, ActorRef};

use std::sync::Arc;

use vkyc_domain::session::SessionMode;

use crate::store::Store;

pub struct ExpiryActor;

pub enum ExpiryMsg {
    Tick,
    /// Fault injection: the timer panics.
    #[cfg(feature = "fault-injection")]
    InjectPanic,
}

/// A scheduled live-agent call's slot began: to the desk's queue (a group's other
/// applicants share their parent's call; a session an agent already took needs no offer).
async fn to_the_desk(store: Arc<dyn Store>, desk: vkyc_desk::Desk, id: vkyc_domain::SessionId) {
    let s = match store.get_session(id).await {
        Ok(Some(s)) => s,
        Ok(None) => return,
        Err(e) => {
            return tracing::error!(session = %id, error = %e, "scheduled session cannot be loaded for the desk")
        }
    };
    if s.mode != SessionMode::LiveAgent || s.parent_id.is_some() || s.agent.is_some() {
        return;
    }
    match desk.scheduled_slot(id, s.requirements).await {
        Ok(()) => {
            tracing::info!(session = %id, "scheduled session's slot began: waiting for an agent")
        }
        Err(e) => {
            tracing::warn!(session = %id, code = e.code(), "scheduled session could not join the queue")
        }
    }
}

impl Actor for ExpiryActor {
    type Msg = ExpiryMsg;
    type State = (Arc<dyn Store>, vkyc_desk::Desk);
    type Arguments = (Arc<dyn Store>, vkyc_desk::Desk, Duration);

    async fn pre_start(
        &self,
        me: ActorRef<ExpiryMsg>,
        (store, desk, every): Self::Arguments,
    ) -> Result<Self::State, ActorProcessingErr> {
        me.send_interval(every, || ExpiryMsg::Tick);
        Ok((store, desk))
    }

    async fn handle(
        &self,
        _me: ActorRef<ExpiryMsg>,
        msg: ExpiryMsg,
        (store, desk): &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            ExpiryMsg::Tick => match store.expire_due(chrono::Utc::now()).await {
                Ok(due) => {
                    if !due.expired.is_empty() {
                        tracing::info!(count = due.expired.len(), "sessions expired");
                    }
                    for id in due.opened {
                        // Not on the timer's path: the desk answers in its own time.
                        tokio::spawn(to_the_desk(store.clone(), desk.clone(), id));
                    }
                }
                // A store hiccup must not stop the timer: the next tick tries again.
                Err(e) => tracing::error!(error = %e, "expiry check failed"),
            },
            #[cfg(feature = "fault-injection")]
            ExpiryMsg::InjectPanic => panic!("expiry timer: injected fault"),
        }
        Ok(())
    }
}
