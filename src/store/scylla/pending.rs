//! Ports the ScyllaDB adapter does not implement yet: webhooks.
//! Every call answers a clear storage error (the API turns it into a logged 500), so a
//! deployment on `storage.backend = "scylla"` sees at once what is missing.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::ScyllaStore;
use crate::store::{Attempt, Delivery, DeliveryState, NextStep, StoreError, Subscription, WebhookStore};

fn missing(what: &str) -> StoreError {
    StoreError::Backend(format!("{what} are not implemented on the scylla back end yet"))
}

#[async_trait::async_trait]
impl WebhookStore for ScyllaStore {
    async fn create_subscription(&self, _s: &Subscription) -> Result<(), StoreError> {
        Err(missing("webhooks"))
    }
    async fn get_subscription(&self, _id: Uuid) -> Result<Option<Subscription>, StoreError> {
        Err(missing("webhooks"))
    }
    async fn list_subscriptions(&self) -> Result<Vec<Subscription>, StoreError> {
        Err(missing("webhooks"))
    }
    async fn delete_subscription(&self, _id: Uuid) -> Result<bool, StoreError> {
        Err(missing("webhooks"))
    }
    async fn enqueue_deliveries(&self, _d: Vec<Delivery>, _cursor: Option<(&'static str, u64)>) -> Result<usize, StoreError> {
        Err(missing("webhooks"))
    }
    async fn due_deliveries(&self, _now: DateTime<Utc>, _limit: usize) -> Result<Vec<Delivery>, StoreError> {
        Err(missing("webhooks"))
    }
    async fn record_attempt(&self, _id: Uuid, _a: Attempt, _next: NextStep) -> Result<Option<Delivery>, StoreError> {
        Err(missing("webhooks"))
    }
    async fn get_delivery(&self, _id: Uuid) -> Result<Option<Delivery>, StoreError> {
        Err(missing("webhooks"))
    }
    async fn list_deliveries(&self, _s: Uuid, _state: Option<DeliveryState>, _limit: usize) -> Result<Vec<Delivery>, StoreError> {
        Err(missing("webhooks"))
    }
    async fn redeliver(&self, _id: Uuid, _now: DateTime<Utc>) -> Result<Option<Delivery>, StoreError> {
        Err(missing("webhooks"))
    }
}
