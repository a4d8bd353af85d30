//! The webhook port ([`WebhookStore`]) and its redb implementation in the embedded store:
//! subscriptions, one delivery row per event × subscription with its attempt history, a due
//! queue, and the dead letters.
//!
//! Tables (all in the one redb file):
//! - `webhook_subscriptions`: subscription id → JSON (the secret included: it signs).
//! - `webhook_deliveries`: delivery id (v7, so time-ordered) → JSON with attempts.
//! - `webhook_deliveries_by_sub`: (subscription, delivery) → (): a subscription's log.
//! - `webhook_delivery_keys`: (event id, subscription) → delivery: one delivery per pair,
//!   whatever replays the fan-out does (a crash before the cursor/offset moved).
//! - `webhook_due`: (next attempt millis, delivery) → (): the pending queue.
//! - `webhook_dead_letters`: (subscription, delivery) → dead-at millis.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use redb::{ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;
use vkyc_domain::events::data;
use vkyc_domain::DomainEvent;
use vkyc_domain::SessionId;

use super::embedded::{append_event, backend, RELAY_CURSORS};
use super::{rows, EmbeddedStore, StoreError};

const SUBS: TableDefinition<u128, &[u8]> = TableDefinition::new("webhook_subscriptions");
const DELIVERIES: TableDefinition<u128, &[u8]> = TableDefinition::new("webhook_deliveries");
const BY_SUB: TableDefinition<(u128, u128), ()> = TableDefinition::new("webhook_deliveries_by_sub");
const KEYS: TableDefinition<(u128, u128), u128> = TableDefinition::new("webhook_delivery_keys");
const DUE: TableDefinition<(i64, u128), ()> = TableDefinition::new("webhook_due");
const DEAD: TableDefinition<(u128, u128), i64> = TableDefinition::new("webhook_dead_letters");

pub(super) fn create_tables(tx: &redb::WriteTransaction) -> Result<(), StoreError> {
    rows::create_tables!(tx, SUBS, DELIVERIES, BY_SUB, KEYS, DUE, DEAD);
    Ok(())
}

/// A webhook subscription. `secret` is the `whsec_…` text; it is never served after creation.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct Subscription {
    pub id: Uuid,
    pub url: String,
    pub secret: String,
    pub event_types: Vec<String>,
    pub created_at: DateTime<Utc>,
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription")
            .field("id", &self.id)
            .field("event_types", &self.event_types)
            .field("secret", &"<redacted>")
            .finish()
    }
}

impl Subscription {
    /// The public view (no secret).
    pub fn view(&self) -> serde_json::Value {
        json!({"id": self.id, "url": self.url, "event_types": self.event_types, "created_at": self.created_at})
    }
}

/// `pending`, `succeeded` or `dead` (dead-lettered after the last retry).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    Pending,
    Succeeded,
    Dead,
}

/// One HTTP attempt of a delivery.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = DeliveryAttempt)]
pub struct Attempt {
    /// 1, 2, … over the delivery's whole life (a redelivery continues the count).
    pub attempt: u32,
    pub at: DateTime<Utc>,
    /// The response's status, if one came.
    pub status: Option<u16>,
    /// Why no (2xx) answer: `timeout`, `connect`, `webhook_destination_forbidden`, `http_status`…
    pub error: Option<String>,
    pub latency_ms: u64,
}

/// One event for one subscription.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Delivery {
    /// Also the `webhook-id` header: the same on every attempt.
    pub id: Uuid,
    pub subscription_id: Uuid,
    pub event_id: Uuid,
    pub event_type: String,
    pub session_id: Option<SessionId>,
    pub state: DeliveryState,
    pub attempts: Vec<Attempt>,
    /// Failed attempts since the last (re)queue: the position in the retry schedule.
    pub run_attempts: u32,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    /// The request body: the event's CloudEvents JSON.
    pub payload: String,
}

impl Delivery {
    pub fn new(
        subscription_id: Uuid,
        event_id: Uuid,
        event_type: &str,
        session_id: Option<SessionId>,
        payload: String,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            id: Uuid::now_v7(),
            subscription_id,
            event_id,
            event_type: event_type.to_string(),
            session_id,
            state: DeliveryState::Pending,
            attempts: Vec::new(),
            run_attempts: 0,
            next_attempt_at: Some(now),
            created_at: now,
            payload,
        }
    }

    /// The delivery log entry (without the payload).
    pub fn view(&self) -> serde_json::Value {
        json!({
            "id": self.id,
            "subscription_id": self.subscription_id,
            "event_id": self.event_id,
            "event_type": self.event_type,
            "state": self.state,
            "attempts": self.attempts,
            "next_attempt_at": self.next_attempt_at,
            "created_at": self.created_at,
        })
    }
}

/// What follows an attempt.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum NextStep {
    Succeeded,
    Retry(DateTime<Utc>),
    /// Dead-lettered: recorded with a `webhook.dead_lettered` event in the same operation.
    Dead,
}

/// Webhook storage. The embedded store implements it in redb; a ScyllaDB adapter implements
/// the same port (the due queue as a time-bucketed table, the (event, subscription) key as a
/// lightweight-transaction insert).
#[async_trait]
pub trait WebhookStore: Send + Sync + 'static {
    async fn create_subscription(&self, s: &Subscription) -> Result<(), StoreError>;
    async fn get_subscription(&self, id: Uuid) -> Result<Option<Subscription>, StoreError>;
    /// Oldest first.
    async fn list_subscriptions(&self) -> Result<Vec<Subscription>, StoreError>;
    /// Removes the subscription with its delivery log and queue. False if there was none.
    async fn delete_subscription(&self, id: Uuid) -> Result<bool, StoreError>;
    /// Durably records new deliveries — skipping an (event, subscription) pair already
    /// recorded — and, if given, moves the named cursor forward to `seq`, in one operation.
    /// Returns how many deliveries were new.
    async fn enqueue_deliveries(
        &self,
        deliveries: Vec<Delivery>,
        cursor: Option<(&'static str, u64)>,
    ) -> Result<usize, StoreError>;
    /// Pending deliveries whose next attempt is due, soonest first.
    async fn due_deliveries(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<Delivery>, StoreError>;
    /// Appends an attempt and moves the delivery on. None if the delivery is gone (its
    /// subscription was deleted) or no longer pending.
    async fn record_attempt(
        &self,
        id: Uuid,
        attempt: Attempt,
        next: NextStep,
    ) -> Result<Option<Delivery>, StoreError>;
    async fn get_delivery(&self, id: Uuid) -> Result<Option<Delivery>, StoreError>;
    /// A subscription's deliveries, newest first; `Dead` reads the dead letters.
    async fn list_deliveries(
        &self,
        subscription: Uuid,
        state: Option<DeliveryState>,
        limit: usize,
    ) -> Result<Vec<Delivery>, StoreError>;
    /// Queues a delivery again now (a dead one too: it leaves the dead letters) with a fresh
    /// retry schedule. None if there is no such delivery.
    async fn redeliver(&self, id: Uuid, now: DateTime<Utc>)
        -> Result<Option<Delivery>, StoreError>;
}

fn read_delivery(tx: &redb::WriteTransaction, id: Uuid) -> Result<Option<Delivery>, StoreError> {
    rows::read(tx, DELIVERIES, id.as_u128())
}

fn write_delivery(tx: &redb::WriteTransaction, d: &Delivery) -> Result<(), StoreError> {
    rows::write(tx, DELIVERIES, d.id.as_u128(), d)
}

fn unqueue(tx: &redb::WriteTransaction, d: &Delivery) -> Result<(), StoreError> {
    if let Some(at) = d.next_attempt_at {
        tx.open_table(DUE)
            .map_err(backend)?
            .remove((at.timestamp_millis(), d.id.as_u128()))
            .map_err(backend)?;
    }
    Ok(())
}

fn queue(tx: &redb::WriteTransaction, d: &Delivery) -> Result<(), StoreError> {
    if let (DeliveryState::Pending, Some(at)) = (d.state, d.next_attempt_at) {
        tx.open_table(DUE)
            .map_err(backend)?
            .insert((at.timestamp_millis(), d.id.as_u128()), ())
            .map_err(backend)?;
    }
    Ok(())
}

/// Records an attempt on a pending delivery and moves it to its next state (both stores).
/// Returns the `webhook.dead_lettered` event when this was the last attempt.
pub(crate) fn apply_attempt(
    d: &mut Delivery,
    attempt: Attempt,
    next: NextStep,
) -> Option<DomainEvent> {
    let (status, error) = (attempt.status, attempt.error.clone());
    d.attempts.push(attempt);
    d.run_attempts += 1;
    match next {
        NextStep::Succeeded => {
            d.state = DeliveryState::Succeeded;
            d.next_attempt_at = None;
            None
        }
        NextStep::Retry(at) => {
            d.next_attempt_at = Some(at);
            None
        }
        NextStep::Dead => {
            d.state = DeliveryState::Dead;
            d.next_attempt_at = None;
            let dead = data::WebhookDeadLettered {
                delivery_id: d.id,
                subscription_id: d.subscription_id,
                event_id: d.event_id,
                event_type: d.event_type.clone(),
                attempts: d.attempts.len(),
                last_status: status,
                last_error: error,
            };
            Some(DomainEvent::new(d.session_id, dead))
        }
    }
}

#[async_trait]
impl WebhookStore for EmbeddedStore {
    async fn create_subscription(&self, s: &Subscription) -> Result<(), StoreError> {
        let s = s.clone();
        self.blocking(move |db| {
            let tx = db.begin_write().map_err(backend)?;
            {
                let bytes = serde_json::to_vec(&s).map_err(backend)?;
                tx.open_table(SUBS)
                    .map_err(backend)?
                    .insert(s.id.as_u128(), bytes.as_slice())
                    .map_err(backend)?;
            }
            tx.commit().map_err(backend)
        })
        .await
    }

    async fn get_subscription(&self, id: Uuid) -> Result<Option<Subscription>, StoreError> {
        self.row(SUBS, id.as_u128()).await
    }

    async fn list_subscriptions(&self) -> Result<Vec<Subscription>, StoreError> {
        self.blocking(move |db| {
            let tx = db.begin_read().map_err(backend)?;
            let t = tx.open_table(SUBS).map_err(backend)?;
            let mut out: Vec<Subscription> = Vec::new();
            for row in t.iter().map_err(backend)? {
                let (_, v) = row.map_err(backend)?;
                out.push(rows::decode(v.value())?);
            }
            out.sort_by_key(|s| s.created_at);
            Ok(out)
        })
        .await
    }

    async fn delete_subscription(&self, id: Uuid) -> Result<bool, StoreError> {
        self.blocking(move |db| {
            let tx = db.begin_write().map_err(backend)?;
            let sid = id.as_u128();
            {
                if tx
                    .open_table(SUBS)
                    .map_err(backend)?
                    .remove(sid)
                    .map_err(backend)?
                    .is_none()
                {
                    return Ok(false);
                }
                let ids: Vec<u128> = {
                    let by = tx.open_table(BY_SUB).map_err(backend)?;
                    let rows = by.range((sid, 0)..=(sid, u128::MAX)).map_err(backend)?;
                    rows.map(|r| r.map(|(k, _)| k.value().1))
                        .collect::<Result<_, _>>()
                        .map_err(backend)?
                };
                for did in ids {
                    if let Some(d) = read_delivery(&tx, Uuid::from_u128(did))? {
                        unqueue(&tx, &d)?;
                        tx.open_table(KEYS)
                            .map_err(backend)?
                            .remove((d.event_id.as_u128(), sid))
                            .map_err(backend)?;
                    }
                    tx.open_table(DELIVERIES)
                        .map_err(backend)?
                        .remove(did)
                        .map_err(backend)?;
                    tx.open_table(BY_SUB)
                        .map_err(backend)?
                        .remove((sid, did))
                        .map_err(backend)?;
                    tx.open_table(DEAD)
                        .map_err(backend)?
                        .remove((sid, did))
                        .map_err(backend)?;
                }
            }
            tx.commit().map_err(backend)?;
            Ok(true)
        })
        .await
    }

    async fn enqueue_deliveries(
        &self,
        deliveries: Vec<Delivery>,
        cursor: Option<(&'static str, u64)>,
    ) -> Result<usize, StoreError> {
        self.blocking(move |db| {
            let tx = db.begin_write().map_err(backend)?;
            let mut new = 0;
            {
                for d in &deliveries {
                    let key = (d.event_id.as_u128(), d.subscription_id.as_u128());
                    let mut keys = tx.open_table(KEYS).map_err(backend)?;
                    if keys.get(key).map_err(backend)?.is_some() {
                        continue;
                    }
                    keys.insert(key, d.id.as_u128()).map_err(backend)?;
                    drop(keys);
                    write_delivery(&tx, d)?;
                    tx.open_table(BY_SUB)
                        .map_err(backend)?
                        .insert((d.subscription_id.as_u128(), d.id.as_u128()), ())
                        .map_err(backend)?;
                    queue(&tx, d)?;
                    new += 1;
                }
                if let Some((name, seq)) = cursor {
                    let mut t = tx.open_table(RELAY_CURSORS).map_err(backend)?;
                    let now = t
                        .get(name)
                        .map_err(backend)?
                        .map(|v| v.value())
                        .unwrap_or(0);
                    if seq > now {
                        t.insert(name, seq).map_err(backend)?;
                    }
                }
            }
            tx.commit().map_err(backend)?;
            Ok(new)
        })
        .await
    }

    async fn due_deliveries(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<Delivery>, StoreError> {
        self.blocking(move |db| {
            let tx = db.begin_read().map_err(backend)?;
            let due = tx.open_table(DUE).map_err(backend)?;
            let deliveries = tx.open_table(DELIVERIES).map_err(backend)?;
            let mut out = Vec::new();
            for row in due
                .range((i64::MIN, 0)..=(now.timestamp_millis(), u128::MAX))
                .map_err(backend)?
                .take(limit)
            {
                let (k, _) = row.map_err(backend)?;
                if let Some(v) = deliveries.get(k.value().1).map_err(backend)? {
                    out.push(rows::decode(v.value())?);
                }
            }
            Ok(out)
        })
        .await
    }

    async fn record_attempt(
        &self,
        id: Uuid,
        attempt: Attempt,
        next: NextStep,
    ) -> Result<Option<Delivery>, StoreError> {
        self.blocking(move |db| {
            let tx = db.begin_write().map_err(backend)?;
            let Some(mut d) = read_delivery(&tx, id)? else {
                return Ok(None);
            };
            if d.state != DeliveryState::Pending {
                return Ok(None);
            }
            unqueue(&tx, &d)?;
            if let Some(dead) = apply_attempt(&mut d, attempt, next) {
                tx.open_table(DEAD)
                    .map_err(backend)?
                    .insert(
                        (d.subscription_id.as_u128(), d.id.as_u128()),
                        Utc::now().timestamp_millis(),
                    )
                    .map_err(backend)?;
                append_event(&tx, &dead)?;
            }
            queue(&tx, &d)?;
            write_delivery(&tx, &d)?;
            tx.commit().map_err(backend)?;
            Ok(Some(d))
        })
        .await
    }

    async fn get_delivery(&self, id: Uuid) -> Result<Option<Delivery>, StoreError> {
        self.row(DELIVERIES, id.as_u128()).await
    }

    async fn list_deliveries(
        &self,
        subscription: Uuid,
        state: Option<DeliveryState>,
        limit: usize,
    ) -> Result<Vec<Delivery>, StoreError> {
        self.blocking(move |db| {
            let tx = db.begin_read().map_err(backend)?;
            let deliveries = tx.open_table(DELIVERIES).map_err(backend)?;
            let sid = subscription.as_u128();
            let ids: Vec<u128> = if state == Some(DeliveryState::Dead) {
                let dead = tx.open_table(DEAD).map_err(backend)?;
                let rows = dead.range((sid, 0)..=(sid, u128::MAX)).map_err(backend)?;
                rows.rev()
                    .map(|r| r.map(|(k, _)| k.value().1))
                    .collect::<Result<_, _>>()
                    .map_err(backend)?
            } else {
                let by = tx.open_table(BY_SUB).map_err(backend)?;
                let rows = by.range((sid, 0)..=(sid, u128::MAX)).map_err(backend)?;
                rows.rev()
                    .map(|r| r.map(|(k, _)| k.value().1))
                    .collect::<Result<_, _>>()
                    .map_err(backend)?
            };
            let mut out = Vec::new();
            for id in ids {
                if out.len() >= limit {
                    break;
                }
                let Some(v) = deliveries.get(id).map_err(backend)? else {
                    continue;
                };
                let d: Delivery = rows::decode(v.value())?;
                if state.is_none_or(|s| s == d.state) {
                    out.push(d);
                }
            }
            Ok(out)
        })
        .await
    }

    async fn redeliver(
        &self,
        id: Uuid,
        now: DateTime<Utc>,
    ) -> Result<Option<Delivery>, StoreError> {
        self.blocking(move |db| {
            let tx = db.begin_write().map_err(backend)?;
            let Some(mut d) = read_delivery(&tx, id)? else {
                return Ok(None);
            };
            unqueue(&tx, &d)?;
            tx.open_table(DEAD)
                .map_err(backend)?
                .remove((d.subscription_id.as_u128(), d.id.as_u128()))
                .map_err(backend)?;
            d.state = DeliveryState::Pending;
            d.run_attempts = 0;
            d.next_attempt_at = Some(now);
            queue(&tx, &d)?;
            write_delivery(&tx, &d)?;
            tx.commit().map_err(backend)?;
            Ok(Some(d))
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::EventLog;

    fn sub() -> Subscription {
        Subscription {
            id: Uuid::new_v4(),
            url: "http://203.0.113.1/".into(),
            secret: "whsec_x".into(),
            event_types: vec!["*".into()],
            created_at: Utc::now(),
        }
    }

    #[tokio::test]
    async fn deliveries_are_unique_queued_retried_and_dead_lettered() {
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open(dir.path()).unwrap();
        let s = sub();
        store.create_subscription(&s).await.unwrap();
        let now = Utc::now();
        let ev = Uuid::new_v4();
        let d = Delivery::new(s.id, ev, "video.completed", None, "{}".into(), now);
        assert_eq!(
            store
                .enqueue_deliveries(vec![d.clone()], Some(("webhooks", 7)))
                .await
                .unwrap(),
            1
        );
        // A replay of the same event makes no second delivery; the cursor never goes back.
        let again = Delivery::new(s.id, ev, "video.completed", None, "{}".into(), now);
        assert_eq!(
            store
                .enqueue_deliveries(vec![again], Some(("webhooks", 3)))
                .await
                .unwrap(),
            0
        );
        assert_eq!(store.relay_cursor("webhooks").await.unwrap(), 7);
        assert_eq!(store.due_deliveries(now, 10).await.unwrap().len(), 1);

        let at = |n| Attempt {
            attempt: n,
            at: Utc::now(),
            status: Some(500),
            error: Some("http_status".into()),
            latency_ms: 1,
        };
        let later = now + chrono::Duration::seconds(60);
        let r = store
            .record_attempt(d.id, at(1), NextStep::Retry(later))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (r.state, r.run_attempts, r.next_attempt_at),
            (DeliveryState::Pending, 1, Some(later))
        );
        assert!(store.due_deliveries(now, 10).await.unwrap().is_empty());
        assert_eq!(store.due_deliveries(later, 10).await.unwrap().len(), 1);

        let r = store
            .record_attempt(d.id, at(2), NextStep::Dead)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(r.state, DeliveryState::Dead);
        assert!(store.due_deliveries(later, 10).await.unwrap().is_empty());
        assert_eq!(
            store
                .list_deliveries(s.id, Some(DeliveryState::Dead), 10)
                .await
                .unwrap()
                .len(),
            1
        );
        let events = store.events_after(0, 10).await.unwrap();
        assert_eq!(events.last().unwrap().kind, "webhook.dead_lettered");

        let r = store.redeliver(d.id, later).await.unwrap().unwrap();
        assert_eq!(
            (r.state, r.run_attempts, r.attempts.len()),
            (DeliveryState::Pending, 0, 2)
        );
        assert!(store
            .list_deliveries(s.id, Some(DeliveryState::Dead), 10)
            .await
            .unwrap()
            .is_empty());
        let r = store
            .record_attempt(
                d.id,
                Attempt {
                    status: Some(200),
                    error: None,
                    ..at(3)
                },
                NextStep::Succeeded,
            )
            .await
            .unwrap()
            .unwrap();
        assert_eq!(r.state, DeliveryState::Succeeded);
        assert!(store
            .record_attempt(d.id, at(4), NextStep::Succeeded)
            .await
            .unwrap()
            .is_none());

        assert!(store.delete_subscription(s.id).await.unwrap());
        assert!(store.get_delivery(d.id).await.unwrap().is_none());
        assert!(!store.delete_subscription(s.id).await.unwrap());
    }
}
