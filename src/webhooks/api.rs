//! `/v1/webhooks…`: subscriptions and their delivery log. The api key only (the lender's
//! backend); every token gets `forbidden_role`.
//!
//! - `POST /v1/webhooks` `{url, secret?, event_types}` → 201 with the secret (shown once).
//! - `GET /v1/webhooks`, `GET /v1/webhooks/{id}`, `DELETE /v1/webhooks/{id}`.
//! - `GET /v1/webhooks/{id}/deliveries?state=pending|succeeded|dead&limit=N`: the attempt log.
//! - `POST /v1/webhooks/deliveries/{delivery_id}/redeliver`: queue again (a dead one too).

use actix_web::{delete, get, post, web, HttpResponse};
use serde::Deserialize;
use serde_json::json;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::{DestinationPolicy, EventFilter, WebhookSecret, WebhookUrl};
use crate::access::Backend;
use crate::error::{ApiError, AuthErrors, ErrorBody};
use crate::extract::ValidJson;
use crate::openapi::*;
use crate::startup::AppState;
use crate::store::{DeliveryState, Subscription};

pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(create_webhook)
        .service(list_webhooks)
        .service(redeliver)
        .service(get_webhook)
        .service(delete_webhook)
        .service(list_deliveries);
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NewWebhook {
    /// http or https, at most 2048 characters; not a private, loopback or link-local
    /// destination (unless in `webhooks.allowed_hosts`).
    url: String,
    /// `whsec_` + base64 of 24 to 64 bytes; generated when not given.
    #[serde(default)]
    secret: Option<String>,
    /// Public event types (`session.created`, `video.completed`, …) or `"*"`.
    event_types: Vec<String>,
}

fn webhook_not_found() -> ApiError {
    ApiError::not_found("webhook_not_found", "no webhook subscription with this id")
}

/// Subscribe a URL to event types. The answer shows the signing secret: only here.
#[utoipa::path(tag = "webhooks", request_body = NewWebhook, security(("api_key" = [])),
    responses((status = 201, description = "The subscription, with its secret", body = WebhookCreatedDoc), AuthErrors, (status = 400, description = "`malformed_json`", body = ErrorBody), (status = 409, description = "`too_many_webhooks`", body = ErrorBody), (status = 413, description = "`payload_too_large`", body = ErrorBody), (status = 415, description = "`unsupported_media_type`", body = ErrorBody), (status = 422, description = "`invalid_webhook_url`, `webhook_destination_forbidden`, `webhook_destination_unresolvable`, `invalid_event_types`, `invalid_webhook_secret`, `validation_failed`", body = ErrorBody)))]
#[post("/webhooks")]
async fn create_webhook(
    state: web::Data<AppState>,
    Backend(ValidJson(body)): Backend<ValidJson<NewWebhook>>,
) -> Result<HttpResponse, ApiError> {
    let url = WebhookUrl::parse(&body.url)?;
    let filter = EventFilter::parse(&body.event_types)?;
    let secret = match &body.secret {
        Some(s) => WebhookSecret::parse(s)?,
        None => WebhookSecret::generate(),
    };
    DestinationPolicy::from_config(&state.config.webhooks)
        .check(&url)
        .await?;
    let existing = state
        .store
        .list_subscriptions()
        .await
        .map_err(|e| ApiError::internal("list_subscriptions", e))?;
    if existing.len() >= state.config.webhooks.max_subscriptions {
        return Err(ApiError::conflict(
            "too_many_webhooks",
            format!(
                "at most {} webhook subscriptions",
                state.config.webhooks.max_subscriptions
            ),
        ));
    }
    let sub = Subscription {
        id: Uuid::now_v7(),
        url: url.as_str().to_string(),
        secret: secret.expose(),
        event_types: filter.types().to_vec(),
        created_at: chrono::Utc::now(),
    };
    state
        .store
        .create_subscription(&sub)
        .await
        .map_err(|e| ApiError::internal("create_subscription", e))?;
    tracing::info!(webhook = %sub.id, event_types = ?sub.event_types, "webhook subscription created");
    let mut doc = sub.view();
    doc["secret"] = json!(sub.secret);
    Ok(HttpResponse::Created().json(doc))
}

/// The subscriptions.
#[utoipa::path(tag = "webhooks", security(("api_key" = [])),
    responses((status = 200, description = "The subscriptions (without secrets)", body = WebhookListDoc), AuthErrors))]
#[get("/webhooks")]
async fn list_webhooks(state: web::Data<AppState>, _: Backend) -> Result<HttpResponse, ApiError> {
    let subs = state
        .store
        .list_subscriptions()
        .await
        .map_err(|e| ApiError::internal("list_subscriptions", e))?;
    Ok(HttpResponse::Ok()
        .json(json!({"webhooks": subs.iter().map(Subscription::view).collect::<Vec<_>>()})))
}

async fn load(state: &AppState, id: Uuid) -> Result<Subscription, ApiError> {
    state
        .store
        .get_subscription(id)
        .await
        .map_err(|e| ApiError::internal("get_subscription", e))?
        .ok_or_else(webhook_not_found)
}

/// One subscription.
#[utoipa::path(tag = "webhooks", params(("id" = Uuid, Path, description = "The subscription")), security(("api_key" = [])),
    responses((status = 200, description = "The subscription (without its secret)", body = WebhookDoc), AuthErrors, (status = 404, description = "`webhook_not_found`", body = ErrorBody)))]
#[get("/webhooks/{id}")]
async fn get_webhook(
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    _: Backend,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(load(&state, id.into_inner()).await?.view()))
}

/// Delete a subscription and its delivery log.
#[utoipa::path(tag = "webhooks", params(("id" = Uuid, Path, description = "The subscription")), security(("api_key" = [])),
    responses((status = 200, description = "Deleted", body = WebhookDeletedDoc), AuthErrors, (status = 404, description = "`webhook_not_found`", body = ErrorBody)))]
#[delete("/webhooks/{id}")]
async fn delete_webhook(
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    _: Backend,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    if !state
        .store
        .delete_subscription(id)
        .await
        .map_err(|e| ApiError::internal("delete_subscription", e))?
    {
        return Err(webhook_not_found());
    }
    tracing::info!(webhook = %id, "webhook subscription deleted");
    Ok(HttpResponse::Ok().json(json!({"deleted": true, "id": id})))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct DeliveriesQuery {
    /// Only deliveries in this state (`dead`: the dead letters).
    #[param(value_type = Option<DeliveryState>)]
    state: Option<DeliveryState>,
    /// 1 to 1000 (default 100).
    limit: Option<usize>,
}

/// A subscription's delivery log, newest first.
#[utoipa::path(tag = "webhooks", params(("id" = Uuid, Path, description = "The subscription"), DeliveriesQuery), security(("api_key" = [])),
    responses((status = 200, description = "The deliveries with their attempts", body = DeliveryListDoc), AuthErrors, (status = 400, description = "`invalid_query`", body = ErrorBody), (status = 404, description = "`webhook_not_found`", body = ErrorBody)))]
#[get("/webhooks/{id}/deliveries")]
async fn list_deliveries(
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    q: web::Query<DeliveriesQuery>,
    _: Backend,
) -> Result<HttpResponse, ApiError> {
    let limit = crate::api::page_limit(q.limit, 100, 1000)?;
    let sub = load(&state, id.into_inner()).await?;
    let list = state
        .store
        .list_deliveries(sub.id, q.state, limit)
        .await
        .map_err(|e| ApiError::internal("list_deliveries", e))?;
    Ok(HttpResponse::Ok()
        .json(json!({"deliveries": list.iter().map(|d| d.view()).collect::<Vec<_>>()})))
}

/// Queue a delivery again now, with a fresh retry schedule (a dead one too).
#[utoipa::path(tag = "webhooks", params(("delivery_id" = Uuid, Path, description = "The delivery")), security(("api_key" = [])),
    responses((status = 202, description = "The delivery, pending again", body = DeliveryDoc), AuthErrors, (status = 404, description = "`delivery_not_found`", body = ErrorBody)))]
#[post("/webhooks/deliveries/{delivery_id}/redeliver")]
async fn redeliver(
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    _: Backend,
) -> Result<HttpResponse, ApiError> {
    let d = state
        .store
        .redeliver(id.into_inner(), chrono::Utc::now())
        .await
        .map_err(|e| ApiError::internal("redeliver", e))?
        .ok_or_else(|| {
            ApiError::not_found("delivery_not_found", "no webhook delivery with this id")
        })?;
    tracing::info!(delivery = %d.id, webhook = %d.subscription_id, "webhook delivery queued again");
    Ok(HttpResponse::Accepted().json(d.view()))
}
