//! Webhooks on ScyllaDB ([`WebhookStore`]): subscriptions, one delivery per event ×
//! subscription with its attempt history, the due queue and the dead letters.
//!
//! Tables (query-first; migrations 0001 and 0002):
//! - `webhook_subscriptions` ((scope), id): every subscription in one small partition — by id
//!   (`get_subscription`, the dispatcher) and all of them (`list_subscriptions`, the fan-out).
//! - `webhook_deliveries_by_id` (id): the [`Delivery`] as JSON, attempts included.
//! - `webhook_deliveries_by_sub` ((subscription_id), id): a subscription's log; ids are v7, so
//!   the adapter reads the partition and serves it newest first. (One partition per
//!   subscription: fine for the retention this product keeps; a per-day split is the next step
//!   if a subscription's log grows into the hundreds of thousands.)
//! - `webhook_delivery_keys` ((event_id), subscription_id): one delivery per pair.
//! - `webhook_due_hours` / `webhook_due` ((hour), due_at, id): the pending queue, bucketed by
//!   UTC hour like the lifecycle deadlines; `due_deliveries` walks the hours up to `now`.
//! - `webhook_dead_letters` ((subscription_id), id).
//!
//! **Atomicity**: every change is one logged `BATCH`: a delivery's row with its queue and
//! dead-letter rows; `enqueue_deliveries` writes the new deliveries, their keys and queue rows
//! and the relay cursor (`relay_cursors`, never moved back) together; `record_attempt` that
//! dead-letters writes the `webhook.dead_lettered` event in the same batch.
//!
//! **Uniqueness without LWT**: `enqueue_deliveries` reads the (event, subscription) keys
//! (`LOCAL_QUORUM`) and writes only the missing ones. One dispatcher moves the `"webhooks"`
//! cursor (as one relay moves each cursor), so read-then-batch is enough; an `INSERT … IF NOT
//! EXISTS` could not share the batch with other partitions, and a crash between the two would
//! lose the delivery. Likewise `record_attempt` / `redeliver` read-modify-write the delivery:
//! one dispatcher attempts a delivery at a time.
//!
//! **Consistency**: writes `LOCAL_QUORUM` (the batch); reads the dispatcher or a change depends
//! on (subscriptions, keys, the due queue, a delivery, the relay cursor, the dead letters)
//! `LOCAL_QUORUM`; the delivery log for people (`list_deliveries`' documents) `LOCAL_ONE`.
//!
//! kassandra runs all of this (no range predicates, LWT or TTL are used): the due queue is
//! read per hour and filtered by `due_at <= now` here rather than with a clustering range.

use std::collections::HashSet;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use scylla::client::session::Session as CqlSession;
use scylla::statement::prepared::PreparedStatement;
use scylla::statement::Consistency::{LocalOne as ONE, LocalQuorum as QUORUM};
use scylla::value::CqlTimestamp;
use uuid::Uuid;

use super::{backend, corrupt, from_ts, hour_of, prep, ts, ScyllaStore, Tx};
use crate::store::{
    Attempt, Delivery, DeliveryState, NextStep, Store, StoreError, Subscription, WebhookStore,
};

/// The one partition of `webhook_subscriptions`.
const SUBS: &str = "subscriptions";
/// The one partition of `webhook_due_hours`.
const DUE: &str = "due";
/// Deliveries handled per batch when a subscription is deleted.
const DELETE_CHUNK: usize = 50;

pub(super) struct Statements {
    insert_sub: PreparedStatement,
    get_sub: PreparedStatement,
    list_subs: PreparedStatement,
    delete_sub: PreparedStatement,
    insert_delivery: PreparedStatement,
    get_delivery: PreparedStatement,
    get_delivery_for_list: PreparedStatement,
    delete_delivery: PreparedStatement,
    insert_by_sub: PreparedStatement,
    list_by_sub: PreparedStatement,
    delete_by_sub: PreparedStatement,
    get_key: PreparedStatement,
    insert_key: PreparedStatement,
    delete_key: PreparedStatement,
    insert_due_hour: PreparedStatement,
    list_due_hours: PreparedStatement,
    delete_due_hour: PreparedStatement,
    insert_due: PreparedStatement,
    list_due: PreparedStatement,
    delete_due: PreparedStatement,
    insert_dead: PreparedStatement,
    list_dead: PreparedStatement,
    delete_dead: PreparedStatement,
}

pub(super) async fn prepare(s: &CqlSession) -> Result<Statements, StoreError> {
    const SUB_COLUMNS: &str = "id, url, event_types, secret, created_at";
    Ok(Statements {
        insert_sub: prep(s, "INSERT INTO webhook_subscriptions (scope, id, url, event_types, secret, active, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)", QUORUM).await?,
        get_sub: prep(s, &format!("SELECT {SUB_COLUMNS} FROM webhook_subscriptions WHERE scope = ? AND id = ?"), QUORUM).await?,
        list_subs: prep(s, &format!("SELECT {SUB_COLUMNS} FROM webhook_subscriptions WHERE scope = ?"), QUORUM).await?,
        delete_sub: prep(s, "DELETE FROM webhook_subscriptions WHERE scope = ? AND id = ?", QUORUM).await?,
        insert_delivery: prep(s, "INSERT INTO webhook_deliveries_by_id (id, subscription_id, doc) VALUES (?, ?, ?)", QUORUM).await?,
        get_delivery: prep(s, "SELECT doc FROM webhook_deliveries_by_id WHERE id = ?", QUORUM).await?,
        get_delivery_for_list: prep(s, "SELECT doc FROM webhook_deliveries_by_id WHERE id = ?", ONE).await?,
        delete_delivery: prep(s, "DELETE FROM webhook_deliveries_by_id WHERE id = ?", QUORUM).await?,
        insert_by_sub: prep(s, "INSERT INTO webhook_deliveries_by_sub (subscription_id, id) VALUES (?, ?)", QUORUM).await?,
        list_by_sub: prep(s, "SELECT id FROM webhook_deliveries_by_sub WHERE subscription_id = ?", QUORUM).await?,
        delete_by_sub: prep(s, "DELETE FROM webhook_deliveries_by_sub WHERE subscription_id = ? AND id = ?", QUORUM).await?,
        get_key: prep(s, "SELECT subscription_id, delivery_id FROM webhook_delivery_keys WHERE event_id = ? AND subscription_id = ?", QUORUM).await?,
        insert_key: prep(s, "INSERT INTO webhook_delivery_keys (event_id, subscription_id, delivery_id) VALUES (?, ?, ?)", QUORUM).await?,
        delete_key: prep(s, "DELETE FROM webhook_delivery_keys WHERE event_id = ? AND subscription_id = ?", QUORUM).await?,
        insert_due_hour: prep(s, "INSERT INTO webhook_due_hours (scope, hour) VALUES (?, ?)", QUORUM).await?,
        list_due_hours: prep(s, "SELECT hour FROM webhook_due_hours WHERE scope = ?", QUORUM).await?,
        delete_due_hour: prep(s, "DELETE FROM webhook_due_hours WHERE scope = ? AND hour = ?", QUORUM).await?,
        insert_due: prep(s, "INSERT INTO webhook_due (hour, due_at, id) VALUES (?, ?, ?)", QUORUM).await?,
        list_due: prep(s, "SELECT due_at, id FROM webhook_due WHERE hour = ?", QUORUM).await?,
        delete_due: prep(s, "DELETE FROM webhook_due WHERE hour = ? AND due_at = ? AND id = ?", QUORUM).await?,
        insert_dead: prep(s, "INSERT INTO webhook_dead_letters (subscription_id, id, dead_at) VALUES (?, ?, ?)", QUORUM).await?,
        list_dead: prep(s, "SELECT id FROM webhook_dead_letters WHERE subscription_id = ?", QUORUM).await?,
        delete_dead: prep(s, "DELETE FROM webhook_dead_letters WHERE subscription_id = ? AND id = ?", QUORUM).await?,
    })
}

type SubRow = (
    Uuid,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<CqlTimestamp>,
);

fn subscription(row: SubRow) -> Result<Subscription, StoreError> {
    let (id, url, event_types, secret, created_at) = row;
    let event_types: Vec<String> =
        serde_json::from_str(event_types.as_deref().unwrap_or("[]")).map_err(corrupt)?;
    Ok(Subscription {
        id,
        url: url.unwrap_or_default(),
        secret: secret.unwrap_or_default(),
        event_types,
        created_at: created_at.map(from_ts).unwrap_or_default(),
    })
}

impl ScyllaStore {
    async fn delivery_at(
        &self,
        st: &PreparedStatement,
        id: Uuid,
    ) -> Result<Option<Delivery>, StoreError> {
        self.doc_at(st, id).await
    }

    fn push_delivery(&self, tx: &mut Tx, d: &Delivery) -> Result<(), StoreError> {
        let doc = serde_json::to_string(d).map_err(backend)?;
        tx.push(
            &self.inner.st.wh.insert_delivery,
            (d.id, d.subscription_id, doc),
        );
        Ok(())
    }

    /// The delivery's queue row (if it is pending with a next attempt).
    fn push_queue(&self, tx: &mut Tx, d: &Delivery) {
        let st = &self.inner.st.wh;
        if let (DeliveryState::Pending, Some(at)) = (d.state, d.next_attempt_at) {
            tx.push(&st.insert_due_hour, (DUE, hour_of(at)));
            tx.push(&st.insert_due, (hour_of(at), ts(at), d.id));
        }
    }

    /// Removes the delivery's queue row (as its stored `next_attempt_at` placed it).
    fn push_unqueue(&self, tx: &mut Tx, d: &Delivery) {
        if let Some(at) = d.next_attempt_at {
            tx.push(&self.inner.st.wh.delete_due, (hour_of(at), ts(at), d.id));
        }
    }

    /// Moves a delivery's queue row from where `before` placed it to where `after` does. The
    /// statements of a batch share one write timestamp, and a tombstone wins a tie, so the row
    /// is only deleted when it does not come back at the same key.
    fn push_requeue(&self, tx: &mut Tx, before: Option<DateTime<Utc>>, after: &Delivery) {
        let key = |at: DateTime<Utc>| (hour_of(at), ts(at).0);
        let kept = match (before, after.state, after.next_attempt_at) {
            (Some(b), DeliveryState::Pending, Some(a)) => key(b) == key(a),
            _ => false,
        };
        if let (Some(at), false) = (before, kept) {
            tx.push(
                &self.inner.st.wh.delete_due,
                (hour_of(at), ts(at), after.id),
            );
        }
        self.push_queue(tx, after);
    }

    /// Removes deliveries (with their keys, queue and dead-letter rows) of a subscription.
    async fn delete_deliveries(&self, sub: Uuid, ids: &[Uuid]) -> Result<(), StoreError> {
        let st = &self.inner.st.wh;
        for chunk in ids.chunks(DELETE_CHUNK) {
            let docs = futures_util::future::try_join_all(
                chunk
                    .iter()
                    .map(|id| self.delivery_at(&st.get_delivery, *id)),
            )
            .await?;
            let mut tx = Tx::new();
            for (id, d) in chunk.iter().zip(docs) {
                if let Some(d) = d {
                    self.push_unqueue(&mut tx, &d);
                    tx.push(&st.delete_key, (d.event_id, sub));
                }
                tx.push(&st.delete_delivery, (*id,));
                tx.push(&st.delete_by_sub, (sub, *id));
                tx.push(&st.delete_dead, (sub, *id));
            }
            self.run(tx).await?;
        }
        Ok(())
    }
}

#[async_trait]
impl WebhookStore for ScyllaStore {
    async fn create_subscription(&self, s: &Subscription) -> Result<(), StoreError> {
        let types = serde_json::to_string(&s.event_types).map_err(backend)?;
        let mut tx = Tx::new();
        tx.push(
            &self.inner.st.wh.insert_sub,
            (
                SUBS,
                s.id,
                s.url.clone(),
                types,
                s.secret.clone(),
                true,
                ts(s.created_at),
            ),
        );
        self.run(tx).await
    }

    async fn get_subscription(&self, id: Uuid) -> Result<Option<Subscription>, StoreError> {
        let rows: Vec<SubRow> = self.rows(&self.inner.st.wh.get_sub, (SUBS, id)).await?;
        // The id is checked here too: kassandra ignores a bound clustering-key predicate.
        rows.into_iter()
            .find(|r| r.0 == id)
            .map(subscription)
            .transpose()
    }

    async fn list_subscriptions(&self) -> Result<Vec<Subscription>, StoreError> {
        let rows: Vec<SubRow> = self.rows(&self.inner.st.wh.list_subs, (SUBS,)).await?;
        let mut out = rows
            .into_iter()
            .map(subscription)
            .collect::<Result<Vec<_>, _>>()?;
        out.sort_by_key(|s| (s.created_at, s.id));
        Ok(out)
    }

    async fn delete_subscription(&self, id: Uuid) -> Result<bool, StoreError> {
        let st = &self.inner.st.wh;
        if self.get_subscription(id).await?.is_none() {
            return Ok(false);
        }
        // The deliveries first, the subscription last: a delete cut off half-way leaves the
        // subscription in place, and running it again finishes the job.
        let ids: Vec<(Uuid,)> = self.rows(&st.list_by_sub, (id,)).await?;
        self.delete_deliveries(id, &ids.into_iter().map(|r| r.0).collect::<Vec<_>>())
            .await?;
        let mut tx = Tx::new();
        tx.push(&st.delete_sub, (SUBS, id));
        self.run(tx).await?;
        // A fan-out that read the subscription just before may have added a delivery since.
        let late: Vec<(Uuid,)> = self.rows(&st.list_by_sub, (id,)).await?;
        self.delete_deliveries(id, &late.into_iter().map(|r| r.0).collect::<Vec<_>>())
            .await?;
        Ok(true)
    }

    async fn enqueue_deliveries(
        &self,
        deliveries: Vec<Delivery>,
        cursor: Option<(&'static str, u64)>,
    ) -> Result<usize, StoreError> {
        let st = &self.inner.st.wh;
        let mut tx = Tx::new();
        let mut seen = HashSet::new();
        let mut new = 0;
        for d in &deliveries {
            if !seen.insert((d.event_id, d.subscription_id)) {
                continue;
            }
            let known: Vec<(Uuid, Option<Uuid>)> = self
                .rows(&st.get_key, (d.event_id, d.subscription_id))
                .await?;
            // The subscription is checked here too: kassandra ignores a bound clustering-key predicate.
            if known.iter().any(|k| k.0 == d.subscription_id) {
                continue;
            }
            tx.push(&st.insert_key, (d.event_id, d.subscription_id, d.id));
            self.push_delivery(&mut tx, d)?;
            tx.push(&st.insert_by_sub, (d.subscription_id, d.id));
            self.push_queue(&mut tx, d);
            new += 1;
        }
        if let Some((name, seq)) = cursor {
            if seq > self.relay_cursor(name).await? {
                tx.push(
                    &self.inner.st.set_relay_cursor,
                    (name, seq.min(i64::MAX as u64) as i64),
                );
            }
        }
        self.run(tx).await?;
        Ok(new)
    }

    async fn due_deliveries(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<Delivery>, StoreError> {
        let st = &self.inner.st.wh;
        let now_hour = hour_of(now);
        let mut hours: Vec<(i64,)> = self.rows(&st.list_due_hours, (DUE,)).await?;
        hours.sort();
        let mut due: Vec<(i64, Uuid)> = Vec::new();
        for (hour,) in hours.into_iter().filter(|h| h.0 <= now_hour) {
            if due.len() >= limit {
                break; // the hours are in order: later ones hold later rows
            }
            let rows: Vec<(CqlTimestamp, Uuid)> = self.rows(&st.list_due, (hour,)).await?;
            if rows.is_empty() && hour < now_hour - 1 {
                // Drained, and old enough that nothing is queued into it any more.
                let mut tx = Tx::new();
                tx.push(&st.delete_due_hour, (DUE, hour));
                self.run(tx).await?;
            }
            due.extend(
                rows.into_iter()
                    .filter(|r| r.0 .0 <= now.timestamp_millis())
                    .map(|r| (r.0 .0, r.1)),
            );
        }
        due.sort();
        due.truncate(limit);
        let docs = futures_util::future::try_join_all(
            due.iter()
                .map(|(_, id)| self.delivery_at(&st.get_delivery, *id)),
        )
        .await?;
        let mut out = Vec::new();
        for ((at, id), d) in due.into_iter().zip(docs) {
            match d {
                Some(d) => out.push(d),
                None => {
                    // Its subscription was deleted: drop the orphaned queue row.
                    let mut tx = Tx::new();
                    tx.push(
                        &st.delete_due,
                        (hour_of(from_ts(CqlTimestamp(at))), CqlTimestamp(at), id),
                    );
                    self.run(tx).await?;
                }
            }
        }
        Ok(out)
    }

    async fn record_attempt(
        &self,
        id: Uuid,
        attempt: Attempt,
        next: NextStep,
    ) -> Result<Option<Delivery>, StoreError> {
        let st = &self.inner.st.wh;
        let Some(mut d) = self.delivery_at(&st.get_delivery, id).await? else {
            return Ok(None);
        };
        if d.state != DeliveryState::Pending {
            return Ok(None);
        }
        let mut tx = Tx::new();
        let before = d.next_attempt_at;
        if let Some(dead) = crate::store::webhooks::apply_attempt(&mut d, attempt, next) {
            tx.push(&st.insert_dead, (d.subscription_id, d.id, ts(Utc::now())));
            self.push_events(&mut tx, &[dead])?;
        }
        self.push_requeue(&mut tx, before, &d);
        self.push_delivery(&mut tx, &d)?;
        self.run(tx).await?;
        Ok(Some(d))
    }

    async fn get_delivery(&self, id: Uuid) -> Result<Option<Delivery>, StoreError> {
        self.delivery_at(&self.inner.st.wh.get_delivery, id).await
    }

    async fn list_deliveries(
        &self,
        subscription: Uuid,
        state: Option<DeliveryState>,
        limit: usize,
    ) -> Result<Vec<Delivery>, StoreError> {
        let st = &self.inner.st.wh;
        let index = if state == Some(DeliveryState::Dead) {
            &st.list_dead
        } else {
            &st.list_by_sub
        };
        let mut ids: Vec<(Uuid,)> = self.rows(index, (subscription,)).await?;
        // v7 ids: descending is newest first.
        ids.sort_by(|a, b| b.cmp(a));
        let mut out = Vec::new();
        for chunk in ids.chunks(limit.clamp(1, 100)) {
            if out.len() >= limit {
                break;
            }
            let docs = futures_util::future::try_join_all(
                chunk
                    .iter()
                    .map(|(id,)| self.delivery_at(&st.get_delivery_for_list, *id)),
            )
            .await?;
            out.extend(
                docs.into_iter()
                    .flatten()
                    .filter(|d| state.is_none_or(|s| s == d.state)),
            );
        }
        out.truncate(limit);
        Ok(out)
    }

    async fn redeliver(
        &self,
        id: Uuid,
        now: DateTime<Utc>,
    ) -> Result<Option<Delivery>, StoreError> {
        let st = &self.inner.st.wh;
        let Some(mut d) = self.delivery_at(&st.get_delivery, id).await? else {
            return Ok(None);
        };
        let mut tx = Tx::new();
        let before = d.next_attempt_at;
        tx.push(&st.delete_dead, (d.subscription_id, d.id));
        d.state = DeliveryState::Pending;
        d.run_attempts = 0;
        d.next_attempt_at = Some(now);
        self.push_requeue(&mut tx, before, &d);
        self.push_delivery(&mut tx, &d)?;
        self.run(tx).await?;
        Ok(Some(d))
    }
}
