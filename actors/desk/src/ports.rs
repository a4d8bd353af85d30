//! The ports of the desk: where its state is kept ([`DeskStore`]) and how customers and
//! agents are told what happens ([`DeskNotifier`]). The server plugs in its store and its
//! WebSockets; [`MemoryDesk`] is both, in memory, for tests.

use std::sync::Mutex;

use async_trait::async_trait;
use vkyc_domain::desk::presence::AgentState;
use vkyc_domain::desk::queue::{Offer, Queue};
use vkyc_domain::events::{DomainEvent, EventKind};
use vkyc_domain::{OfferId, SessionId, UserId};

/// Where the queue's state lives. `save` writes the state and the events that describe the
/// change in one operation (the outbox shape), so the two never disagree after a crash.
#[async_trait]
pub trait DeskStore: Send + Sync + 'static {
    /// The saved state, or `None` before the first save.
    async fn load(&self) -> Result<Option<Queue>, String>;
    async fn save(&self, queue: &Queue, events: &[DomainEvent]) -> Result<(), String>;
}

/// What customers and agents are told. Fire and forget: a socket that is gone is the
/// socket's business (the implementation logs it); the queue's state does not wait on it.
#[async_trait]
pub trait DeskNotifier: Send + Sync + 'static {
    /// Ring the agent's console with an offer (until `offer.expires_at`).
    async fn ring(&self, offer: &Offer);
    /// Stop ringing: the offer was missed, reassigned, or its customer or agent went away.
    async fn withdraw(&self, offer: &Offer);
    /// The customer's place in the queue and the estimated wait in seconds (`None`: no
    /// estimate); sent when either changes.
    async fn position(&self, session: SessionId, position: u32, estimated_wait_secs: Option<i64>);
    /// The agent accepted: both sides join the call.
    async fn connected(&self, session: SessionId, agent: UserId, offer: OfferId);
    /// The customer waited past the queue timeout and is no longer queued.
    async fn timed_out(&self, session: SessionId);
    /// The agent's state changed (also when the desk changed it: wrap-up over, offline).
    async fn agent_state(&self, agent: UserId, state: AgentState);
    /// An agent took the waiting customer by hand: the customer's page joins the call.
    async fn taken(&self, session: SessionId);
}

/// One call to the notifier, as [`MemoryDesk`] records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notified {
    Ring(Offer),
    Withdraw(Offer),
    Position {
        session: SessionId,
        position: u32,
        estimated_wait_secs: Option<i64>,
    },
    Connected {
        session: SessionId,
        agent: UserId,
        offer: OfferId,
    },
    TimedOut(SessionId),
    AgentState(UserId, AgentState),
    Taken(SessionId),
}

/// A store and a notifier in memory, recording everything (tests).
#[derive(Default)]
pub struct MemoryDesk {
    pub saved: Mutex<Option<Queue>>,
    pub events: Mutex<Vec<DomainEvent>>,
    pub notified: Mutex<Vec<Notified>>,
    /// When set, `save` fails with this error.
    pub fail_saves: Mutex<Option<String>>,
}

impl MemoryDesk {
    /// A store that starts from `queue` (a restart).
    pub fn with(queue: Queue) -> Self {
        Self {
            saved: Mutex::new(Some(queue)),
            ..Self::default()
        }
    }

    pub fn kinds(&self) -> Vec<EventKind> {
        self.events
            .lock()
            .unwrap()
            .iter()
            .map(DomainEvent::kind)
            .collect()
    }

    /// Everything notified so far, and forget it.
    pub fn take_notified(&self) -> Vec<Notified> {
        std::mem::take(&mut self.notified.lock().unwrap())
    }

    /// The offers rung so far, and forget every notice.
    pub fn take_rings(&self) -> Vec<Offer> {
        self.take_notified()
            .into_iter()
            .filter_map(|n| match n {
                Notified::Ring(o) => Some(o),
                _ => None,
            })
            .collect()
    }

    fn note(&self, n: Notified) {
        self.notified.lock().unwrap().push(n);
    }
}

#[async_trait]
impl DeskStore for MemoryDesk {
    async fn load(&self) -> Result<Option<Queue>, String> {
        Ok(self.saved.lock().unwrap().clone())
    }
    async fn save(&self, queue: &Queue, events: &[DomainEvent]) -> Result<(), String> {
        if let Some(e) = self.fail_saves.lock().unwrap().clone() {
            return Err(e);
        }
        *self.saved.lock().unwrap() = Some(queue.clone());
        self.events.lock().unwrap().extend_from_slice(events);
        Ok(())
    }
}

#[async_trait]
impl DeskNotifier for MemoryDesk {
    async fn ring(&self, offer: &Offer) {
        self.note(Notified::Ring(offer.clone()));
    }
    async fn withdraw(&self, offer: &Offer) {
        self.note(Notified::Withdraw(offer.clone()));
    }
    async fn position(&self, session: SessionId, position: u32, estimated_wait_secs: Option<i64>) {
        self.note(Notified::Position {
            session,
            position,
            estimated_wait_secs,
        });
    }
    async fn connected(&self, session: SessionId, agent: UserId, offer: OfferId) {
        self.note(Notified::Connected {
            session,
            agent,
            offer,
        });
    }
    async fn taken(&self, session: SessionId) {
        self.note(Notified::Taken(session));
    }

    async fn timed_out(&self, session: SessionId) {
        self.note(Notified::TimedOut(session));
    }
    async fn agent_state(&self, agent: UserId, state: AgentState) {
        self.note(Notified::AgentState(agent, state));
    }
}
