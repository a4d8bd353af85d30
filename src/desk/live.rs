//! The desk's live edge: the consoles' and the waiting customers' WebSockets, the
//! [`DeskNotifier`] that writes to them, the [`DeskStore`] over the server's store, and the
//! tap that tells the desk when a call ends.
//!
//! ```text
//! agent console ──ws /v1/desk/ws──┐                 ┌── ring / withdrawn / connected / state
//!                                  ├─► Desk (router) ─┤
//! customer page ──ws /v1/queue/ws─┘                 └── position / connected / timed_out
//! ```
//!
//! A socket is a task that forwards its client's messages to the [`Desk`] and the desk's
//! notices (through [`Sockets`], keyed by user or session) to its client. No rule is decided
//! here: the router applies the domain's queue rules and answers.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use serde_json::{json, Value};
use tokio::sync::mpsc::UnboundedSender;
use vkyc_desk::{Desk, DeskNotifier, DeskStore};
use vkyc_domain::desk::presence::AgentState;
use vkyc_domain::desk::queue::{Offer, Queue};
use vkyc_domain::desk::user::UserRef;
use vkyc_domain::{DomainEvent, EventKind, EventSink, OfferId, SessionId, UserId};

use crate::store::Store;

/// The open sockets: agents' consoles by user, waiting customers by session. A user may have
/// several consoles open; each gets every notice.
#[derive(Default)]
pub struct Sockets {
    next: AtomicU64,
    agents: Registry<UserId>,
    customers: Registry<SessionId>,
}

/// Open sockets by key: (socket id, its outgoing queue).
type Registry<K> = Mutex<HashMap<K, Vec<(u64, UnboundedSender<String>)>>>;

fn add<K: std::hash::Hash + Eq>(
    map: &Registry<K>,
    key: K,
    id: u64,
    tx: UnboundedSender<String>,
) -> bool {
    let mut map = map.lock().expect("sockets lock");
    let list = map.entry(key).or_default();
    list.push((id, tx));
    list.len() == 1
}

/// Removes socket `id`; `true` when it was the key's last.
fn remove<K: std::hash::Hash + Eq>(map: &Registry<K>, key: &K, id: u64) -> bool {
    let mut map = map.lock().expect("sockets lock");
    let Some(list) = map.get_mut(key) else {
        return false;
    };
    list.retain(|(i, _)| *i != id);
    let last = list.is_empty();
    if last {
        map.remove(key);
    }
    last
}

fn send<K: std::hash::Hash + Eq>(map: &Registry<K>, key: &K, msg: &Value) {
    let text = msg.to_string();
    if let Some(list) = map.lock().expect("sockets lock").get(key) {
        for (_, tx) in list {
            let _ = tx.send(text.clone());
        }
    }
}

impl Sockets {
    fn id(&self) -> u64 {
        self.next.fetch_add(1, Ordering::Relaxed)
    }

    /// Registers an agent's console; `(socket id, first console of this agent)`.
    pub fn add_agent(&self, user: UserId, tx: UnboundedSender<String>) -> (u64, bool) {
        let id = self.id();
        (id, add(&self.agents, user, id, tx))
    }

    /// `true` when the agent has no console left.
    pub fn remove_agent(&self, user: UserId, id: u64) -> bool {
        remove(&self.agents, &user, id)
    }

    pub fn add_customer(&self, session: SessionId, tx: UnboundedSender<String>) -> (u64, bool) {
        let id = self.id();
        (id, add(&self.customers, session, id, tx))
    }

    pub fn remove_customer(&self, session: SessionId, id: u64) -> bool {
        remove(&self.customers, &session, id)
    }

    pub fn to_agent(&self, user: UserId, msg: &Value) {
        send(&self.agents, &user, msg)
    }

    pub fn to_customer(&self, session: SessionId, msg: &Value) {
        send(&self.customers, &session, msg)
    }
}

/// The desk's notices, written to the sockets. On `connected` the session is assigned to the
/// agent first, so the console's next step (its agent token) finds it theirs.
pub struct Notifier {
    pub sockets: Arc<Sockets>,
    pub store: Arc<dyn Store>,
}

#[async_trait]
impl DeskNotifier for Notifier {
    async fn ring(&self, offer: &Offer) {
        let session = self
            .store
            .get_session(offer.session_id)
            .await
            .ok()
            .flatten();
        let applicant = session
            .as_ref()
            .map(|s| s.applicant.name.as_str().to_string());
        let requirements = session
            .as_ref()
            .map(|s| json!(s.requirements))
            .unwrap_or(Value::Null);
        // A scheduled session is offered at its slot, perhaps before the customer is here.
        let scheduled_at = session
            .as_ref()
            .and_then(|s| s.schedule.map(|w| w.starts_at));
        self.sockets.to_agent(
            offer.agent,
            &json!({"type": "offer", "offer_id": offer.id, "session_id": offer.session_id, "expires_at": offer.expires_at,
                    "attempt": offer.attempt, "applicant": applicant, "requirements": requirements,
                    "customer_connected": offer.customer_connected, "scheduled_at": scheduled_at}),
        );
    }

    async fn withdraw(&self, offer: &Offer) {
        self.sockets.to_agent(
            offer.agent,
            &json!({"type": "withdrawn", "offer_id": offer.id, "session_id": offer.session_id}),
        );
    }

    async fn position(&self, session: SessionId, position: u32, estimated_wait_secs: Option<i64>) {
        self.sockets.to_customer(session, &json!({"type": "queued", "position": position, "estimated_wait_secs": estimated_wait_secs}));
    }

    async fn connected(&self, session: SessionId, agent: UserId, offer: OfferId) {
        if let Ok(Some(record)) = self.store.get_user(agent).await {
            let who = UserRef::from(&record.user);
            let assigned = self
                .store
                .update_session(session, move |s| {
                    s.assign(&who, chrono::Utc::now())?;
                    Ok::<_, vkyc_domain::session::AssignedElsewhere>(((), None))
                })
                .await;
            if !matches!(assigned, Ok(Some(Ok(())))) {
                tracing::warn!(session = %session, agent = %agent, "an accepted session could not be assigned to its agent");
            }
        }
        self.sockets.to_agent(
            agent,
            &json!({"type": "connected", "session_id": session, "offer_id": offer}),
        );
        self.sockets
            .to_customer(session, &json!({"type": "connected"}));
    }

    async fn taken(&self, session: SessionId) {
        self.sockets
            .to_customer(session, &json!({"type": "connected"}));
    }

    async fn timed_out(&self, session: SessionId) {
        self.sockets
            .to_customer(session, &json!({"type": "timed_out"}));
    }

    async fn agent_state(&self, agent: UserId, state: AgentState) {
        self.sockets
            .to_agent(agent, &json!({"type": "state", "state": state}));
    }
}

/// The desk's state in the server's store.
pub struct StoreDesk(pub Arc<dyn Store>);

#[async_trait]
impl DeskStore for StoreDesk {
    async fn load(&self) -> Result<Option<Queue>, String> {
        self.0.load_queue().await.map_err(|e| e.to_string())
    }

    async fn save(&self, queue: &Queue, events: &[DomainEvent]) -> Result<(), String> {
        self.0
            .save_queue(queue, events)
            .await
            .map_err(|e| e.to_string())
    }
}

/// The rooms' event sink: the store, and on `room.ended` the desk hears that the session's
/// agent finished their call (wrap-up starts).
pub struct DeskTap {
    pub store: Arc<dyn Store>,
    pub desk: Desk,
}

#[async_trait]
impl EventSink for DeskTap {
    async fn publish(&self, event: DomainEvent) -> Result<(), String> {
        let ended = (event.kind() == EventKind::RoomEnded)
            .then_some(event.session_id)
            .flatten();
        self.store.publish(event).await?;
        if let Some(session) = ended {
            let (store, desk) = (self.store.clone(), self.desk.clone());
            tokio::spawn(async move {
                if let Ok(Some(s)) = store.get_session(session).await {
                    if let Some(agent) = s.agent {
                        // Not busy (the agent took the session outside the queue): nothing to do.
                        let _ = desk.call_ended(agent.id).await;
                    }
                }
            });
        }
        Ok(())
    }
}
