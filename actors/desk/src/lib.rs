//! # vkyc-desk — the agent desk's queue, carried by an actor
//!
//! The rules (who waits, who is offered to whom, what a decline, a miss or a timeout does,
//! who may change an agent's state) are the domain's: [`vkyc_domain::desk::queue`] and
//! [`vkyc_domain::desk::presence`], pure functions of the state and `now`. This crate runs
//! them: one actor owns the state, saves it with its events, keeps the timers and tells
//! customers and agents what happened.
//!
//! ```text
//! server's application supervisor
//! └── QueueRouter (one per node)   owns the Queue; every message: domain change + tick,
//!       │                          save (state + events, one call), metrics, notify,
//!       │                          one timer for the next deadline (offer ring-out, queue
//!       │                          timeout, wrap-up end, offline grace)
//!       ├── DeskStore     (port)   load at start, save state + events
//!       └── DeskNotifier  (port)   ring / withdraw an offer, position + ETA, connected,
//!                                  timed out, agent state
//! ```
//!
//! Layout:
//! - [`router`]: the [`QueueRouter`] actor, its messages ([`DeskMsg`]) and state, and its
//!   [`router::Clock`].
//! - [`ports`]: [`DeskStore`] and [`DeskNotifier`], and [`MemoryDesk`] (both, in memory, for
//!   tests).
//! - [`snapshot`]: the supervisor's view ([`DeskSnapshot`]: waiting customers with wait
//!   times and SLA flags, agents by state, offers), a pure function of the queue.
//! - [`metrics`]: queue length, agents by state, waits to offer and to accept, offers by
//!   outcome.
//! - here: [`DeskConfig`], [`DeskError`] and [`Desk`], the handle the server holds.
//!
//! Supervision: the router's state is in the store after every change, so a failed router
//! is simply started again by its supervisor ([`Desk::spawn_linked`] is the start function
//! of that child); it loads the saved queue, treats every socket as gone (customers keep
//! their places and are offered again when they reconnect; agents get their grace period)
//! and carries on. The handle points at whichever router runs.
//!
//! This crate knows no HTTP, WebSocket or database: the server implements the ports.

pub mod metrics;
pub mod ports;
pub mod router;
pub mod snapshot;

use std::sync::{Arc, RwLock};
use std::time::Duration;

use ractor::{Actor, ActorCell, ActorRef, RpcReplyPort};
use serde::{Deserialize, Serialize};
use vkyc_domain::desk::presence::AgentState;
use vkyc_domain::desk::queue::{QueueError, Timing};
use vkyc_domain::desk::user::Skills;
use vkyc_domain::{OfferId, SessionId, UserId};

pub use ports::{DeskNotifier, DeskStore, MemoryDesk, Notified};
pub use router::{DeskMsg, QueueRouter, RouterArgs};
pub use snapshot::DeskSnapshot;

/// The desk's settings (`[desk]`), in seconds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DeskConfig {
    /// How long an agent's console rings before the offer counts as missed.
    pub ring_timeout_secs: u32,
    /// How long an agent stays in wrap-up after a call.
    pub wrap_up_secs: u32,
    /// How long an agent's console may be disconnected before they go offline.
    pub offline_grace_secs: u32,
    /// How long a customer may wait before leaving the queue with `timed_out`.
    pub queue_timeout_secs: u32,
    /// A customer waiting longer is flagged in the supervisor's view.
    pub sla_wait_secs: u32,
}

impl Default for DeskConfig {
    fn default() -> Self {
        Self {
            ring_timeout_secs: 20,
            wrap_up_secs: 30,
            offline_grace_secs: 15,
            queue_timeout_secs: 900,
            sla_wait_secs: 120,
        }
    }
}

impl DeskConfig {
    /// The queue's time limits.
    pub fn timing(&self) -> Timing {
        Timing {
            ring_timeout_secs: self.ring_timeout_secs,
            wrap_up_secs: self.wrap_up_secs,
            offline_grace_secs: self.offline_grace_secs,
            queue_timeout_secs: self.queue_timeout_secs,
        }
    }
}

/// Why the desk refused or could not do something.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeskError {
    /// The rules refused it (a 404 or 409 at the edge).
    #[error(transparent)]
    Queue(#[from] QueueError),
    /// The store did not save the change; nothing changed.
    #[error("the desk's state could not be saved: {0}")]
    Store(String),
    /// The router is not running or did not answer.
    #[error("the desk is not available: {0}")]
    Unavailable(String),
}

impl DeskError {
    /// A stable code for the API.
    pub fn code(&self) -> &'static str {
        match self {
            DeskError::Queue(e) => e.code(),
            DeskError::Store(_) => "desk_store_unavailable",
            DeskError::Unavailable(_) => "desk_unavailable",
        }
    }
}

/// How long a caller waits for the router.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// The handle the server holds: it reaches the running router, whichever that is.
#[derive(Clone)]
pub struct Desk {
    router: Arc<RwLock<Option<ActorRef<DeskMsg>>>>,
    config: DeskConfig,
    store: Arc<dyn DeskStore>,
    notifier: Arc<dyn DeskNotifier>,
}

impl Desk {
    /// The handle, with no router running yet ([`Desk::spawn_linked`] starts one).
    pub fn new(
        config: DeskConfig,
        store: Arc<dyn DeskStore>,
        notifier: Arc<dyn DeskNotifier>,
    ) -> Self {
        Self {
            router: Arc::default(),
            config,
            store,
            notifier,
        }
    }

    /// A handle with its router running, supervised by nobody (tests).
    pub async fn start(
        config: DeskConfig,
        store: Arc<dyn DeskStore>,
        notifier: Arc<dyn DeskNotifier>,
    ) -> Result<Self, String> {
        let desk = Self::new(config, store, notifier);
        desk.spawn_linked(None).await?;
        Ok(desk)
    }

    /// Starts a router linked to `supervisor` and puts it in place of the previous one (the
    /// start function of the supervisor's `desk` child). It loads the saved queue.
    pub async fn spawn_linked(&self, supervisor: Option<ActorCell>) -> Result<ActorCell, String> {
        let args = RouterArgs {
            config: self.config.clone(),
            store: self.store.clone(),
            notifier: self.notifier.clone(),
        };
        let (router, _) = match supervisor {
            Some(cell) => Actor::spawn_linked(None, QueueRouter, args, cell).await,
            None => Actor::spawn(None, QueueRouter, args).await,
        }
        .map_err(|e| e.to_string())?;
        let cell = router.get_cell();
        *self.router.write().unwrap_or_else(|p| p.into_inner()) = Some(router);
        Ok(cell)
    }

    /// The running router.
    pub fn router(&self) -> Result<ActorRef<DeskMsg>, DeskError> {
        self.router
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .ok_or_else(|| DeskError::Unavailable("the queue router is not running".into()))
    }

    /// Stops the running router (tests of a restart; a server stopping).
    pub fn stop(&self) {
        if let Some(r) = self
            .router
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        {
            r.stop(None);
        }
    }

    async fn call<T: Send + 'static>(
        &self,
        f: impl FnOnce(RpcReplyPort<Result<T, DeskError>>) -> DeskMsg,
    ) -> Result<T, DeskError> {
        let (tx, rx) = ractor::concurrency::oneshot();
        self.router()?
            .cast(f(RpcReplyPort::from(tx)))
            .map_err(|e| DeskError::Unavailable(e.to_string()))?;
        match tokio::time::timeout(CALL_TIMEOUT, rx).await {
            Ok(Ok(r)) => r,
            Ok(Err(_)) => Err(DeskError::Unavailable("the queue router stopped".into())),
            Err(_) => Err(DeskError::Unavailable(
                "the queue router did not answer".into(),
            )),
        }
    }

    fn tell(&self, msg: DeskMsg) {
        match self.router() {
            Ok(r) => {
                if let Err(e) = r.cast(msg) {
                    tracing::warn!("desk message lost: {e}");
                }
            }
            Err(e) => tracing::warn!("desk message lost: {e}"),
        }
    }

    pub async fn enter(
        &self,
        session_id: SessionId,
        requirements: Skills,
    ) -> Result<(), DeskError> {
        self.call(|reply| DeskMsg::CustomerEnter {
            session_id,
            requirements,
            reply,
        })
        .await
    }

    /// A scheduled session's slot began (see `Queue::enter_scheduled`).
    pub async fn scheduled_slot(
        &self,
        session_id: SessionId,
        requirements: Skills,
    ) -> Result<(), DeskError> {
        self.call(|reply| DeskMsg::ScheduledSlot {
            session_id,
            requirements,
            reply,
        })
        .await
    }

    pub async fn leave(&self, session_id: SessionId) -> Result<(), DeskError> {
        self.call(|reply| DeskMsg::CustomerLeave { session_id, reply })
            .await
    }

    pub fn customer_disconnected(&self, session_id: SessionId) {
        self.tell(DeskMsg::CustomerDisconnected { session_id });
    }

    pub async fn customer_reconnected(&self, session_id: SessionId) -> Result<(), DeskError> {
        self.call(|reply| DeskMsg::CustomerReconnected { session_id, reply })
            .await
    }

    pub fn agent_connected(&self, user_id: UserId, skills: Skills) {
        self.tell(DeskMsg::AgentConnected { user_id, skills });
    }

    pub fn agent_disconnected(&self, user_id: UserId) {
        self.tell(DeskMsg::AgentDisconnected { user_id });
    }

    pub async fn set_state(&self, user_id: UserId, state: AgentState) -> Result<(), DeskError> {
        self.call(|reply| DeskMsg::SetState {
            user_id,
            state,
            reply,
        })
        .await
    }

    /// The agent takes the offer; the answer is the customer's session.
    pub async fn accept(&self, offer_id: OfferId, user_id: UserId) -> Result<SessionId, DeskError> {
        self.call(|reply| DeskMsg::Accept {
            offer_id,
            user_id,
            reply,
        })
        .await
    }

    pub async fn decline(&self, offer_id: OfferId, user_id: UserId) -> Result<(), DeskError> {
        self.call(|reply| DeskMsg::Decline {
            offer_id,
            user_id,
            reply,
        })
        .await
    }

    pub async fn call_ended(&self, user_id: UserId) -> Result<(), DeskError> {
        self.call(|reply| DeskMsg::CallEnded { user_id, reply })
            .await
    }

    /// An agent took a waiting customer by hand (`not_waiting` if they were not queued).
    pub async fn taken(&self, session_id: SessionId, user_id: UserId) -> Result<(), DeskError> {
        self.call(|reply| DeskMsg::Taken {
            session_id,
            user_id,
            reply,
        })
        .await
    }

    pub async fn reassign(&self, session_id: SessionId, to: UserId) -> Result<(), DeskError> {
        self.call(|reply| DeskMsg::Reassign {
            session_id,
            to,
            reply,
        })
        .await
    }

    pub async fn snapshot(&self) -> Result<DeskSnapshot, DeskError> {
        let router = self.router()?;
        ractor::call_t!(router, DeskMsg::Snapshot, CALL_TIMEOUT.as_millis() as u64)
            .map_err(|e| DeskError::Unavailable(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_config_has_defaults_and_refuses_unknown_keys() {
        let c: DeskConfig = serde_json::from_str("{\"wrap_up_secs\": 10}").unwrap();
        assert_eq!(
            c,
            DeskConfig {
                wrap_up_secs: 10,
                ..DeskConfig::default()
            }
        );
        assert_eq!(DeskConfig::default().timing(), Timing::default());
        assert!(serde_json::from_str::<DeskConfig>("{\"ring\": 1}").is_err());
    }
}
