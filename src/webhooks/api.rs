//! `/v1/webhooks…`: subscriptions and their delivery log. The api key only (the lender's
//! backend); every token gets `forbidden_role`.
//!
//! - `POST /v1/webhooks` `{url, secret?, event_types}` → 201 with the secret (shown once).
//! - `GET /v1/webhooks`, `GET /v1/webhooks/{id}`, `DELETE /v1/webhooks/{id}`.
//! - `GET /v1/webhooks/{id}/deliveries?state=pending|succeeded|dead&limit=N`: the attempt log.
//! - `POST /v1/webhooks/deliveries/{delivery_id}/redeliver`: queue again (a dead one too).

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use super::{DestinationPolicy, EventFilter, WebhookSecret, WebhookUrl};
use crate::error::ApiError;
use crate::extract::ValidJson;
use crate::startup::AppState;
use crate::store::{DeliveryState, Subscription};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/webhooks", web::post().to(create))
        .route("/webhooks", web::get().to(list))
        .route("/webhooks/deliveries/{delivery_id}/redeliver", web::post().to(redeliver))
        .route("/webhooks/{id}", web::get().to(get))
        .route("/webhooks/{id}", web::delete().to(delete))
        .route("/webhooks/{id}/deliveries", web::get().to(deliveries));
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewWebhook {
    url: String,
    #[serde(default)]
    secret: Option<String>,
    event_types: Vec<String>,
}

fn webhook_not_found() -> ApiError {
    ApiError::not_found("webhook_not_found", "no webhook subscription with this id")
}

async fn create(req: HttpRequest, state: web::Data<AppState>, body: ValidJson<NewWebhook>) -> Result<HttpResponse, ApiError> {
    state.auth.caller(&req)?.require_backend()?;
    let body = body.into_inner();
    let url = WebhookUrl::parse(&body.url)?;
    let filter = EventFilter::parse(&body.event_types)?;
    let secret = match &body.secret {
        Some(s) => WebhookSecret::parse(s)?,
        None => WebhookSecret::generate(),
    };
    DestinationPolicy::from_config(&state.config.webhooks).check(&url).await?;
    let existing = state.store.list_subscriptions().await.map_err(|e| ApiError::internal("list_subscriptions", e))?;
    if existing.len() >= state.config.webhooks.max_subscriptions {
        return Err(ApiError::conflict("too_many_webhooks", format!("at most {} webhook subscriptions", state.config.webhooks.max_subscriptions)));
    }
    let sub = Subscription {
        id: Uuid::now_v7(),
        url: url.as_str().to_string(),
        secret: secret.expose(),
        event_types: filter.types().to_vec(),
        created_at: chrono::Utc::now(),
    };
    state.store.create_subscription(&sub).await.map_err(|e| ApiError::internal("create_subscription", e))?;
    tracing::info!(webhook = %sub.id, event_types = ?sub.event_types, "webhook subscription created");
    let mut doc = sub.view();
    doc["secret"] = json!(sub.secret);
    Ok(HttpResponse::Created().json(doc))
}

async fn list(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    state.auth.caller(&req)?.require_backend()?;
    let subs = state.store.list_subscriptions().await.map_err(|e| ApiError::internal("list_subscriptions", e))?;
    Ok(HttpResponse::Ok().json(json!({"webhooks": subs.iter().map(Subscription::view).collect::<Vec<_>>()})))
}

async fn load(state: &AppState, id: Uuid) -> Result<Subscription, ApiError> {
    state.store.get_subscription(id).await.map_err(|e| ApiError::internal("get_subscription", e))?.ok_or_else(webhook_not_found)
}

async fn get(req: HttpRequest, state: web::Data<AppState>, id: web::Path<Uuid>) -> Result<HttpResponse, ApiError> {
    state.auth.caller(&req)?.require_backend()?;
    Ok(HttpResponse::Ok().json(load(&state, id.into_inner()).await?.view()))
}

async fn delete(req: HttpRequest, state: web::Data<AppState>, id: web::Path<Uuid>) -> Result<HttpResponse, ApiError> {
    state.auth.caller(&req)?.require_backend()?;
    let id = id.into_inner();
    if !state.store.delete_subscription(id).await.map_err(|e| ApiError::internal("delete_subscription", e))? {
        return Err(webhook_not_found());
    }
    tracing::info!(webhook = %id, "webhook subscription deleted");
    Ok(HttpResponse::Ok().json(json!({"deleted": true, "id": id})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DeliveriesQuery {
    state: Option<DeliveryState>,
    limit: Option<usize>,
}

async fn deliveries(req: HttpRequest, state: web::Data<AppState>, id: web::Path<Uuid>, q: web::Query<DeliveriesQuery>) -> Result<HttpResponse, ApiError> {
    state.auth.caller(&req)?.require_backend()?;
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::bad_request("invalid_query", "limit must be between 1 and 1000"));
    }
    let sub = load(&state, id.into_inner()).await?;
    let list = state.store.list_deliveries(sub.id, q.state, limit).await.map_err(|e| ApiError::internal("list_deliveries", e))?;
    Ok(HttpResponse::Ok().json(json!({"deliveries": list.iter().map(|d| d.view()).collect::<Vec<_>>()})))
}

async fn redeliver(req: HttpRequest, state: web::Data<AppState>, id: web::Path<Uuid>) -> Result<HttpResponse, ApiError> {
    state.auth.caller(&req)?.require_backend()?;
    let d = state
        .store
        .redeliver(id.into_inner(), chrono::Utc::now())
        .await
        .map_err(|e| ApiError::internal("redeliver", e))?
        .ok_or_else(|| ApiError::not_found("delivery_not_found", "no webhook delivery with this id"))?;
    tracing::info!(delivery = %d.id, webhook = %d.subscription_id, "webhook delivery queued again");
    Ok(HttpResponse::Accepted().json(d.view()))
}
