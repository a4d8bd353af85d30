//! Captures: frames the agent console grabs from the customer's video at full resolution
//! (or a customer uploads), stored encrypted in the blob store and recorded with their
//! metadata, for the verification steps to use.
//!
//! - `POST /v1/sessions/{id}/captures` — api key, or the agent/customer token of the session.
//! - `GET  /v1/sessions/{id}/captures` — api key, or the agent/observer token: metadata.
//! - `GET  /v1/sessions/{id}/captures/{capture_id}` — the image itself (same roles).

use actix_web::{get, post, web, HttpRequest, HttpResponse};
use chrono::Utc;
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};
use uuid::Uuid;
use vkyc_domain::kyc::Change;
use vkyc_domain::SessionId;
use vkyc_vision::decode::decode_rgb;

use crate::access::{AgentOrCustomer, AgentOrObserver, Caller, SessionAccess, SessionCaller};
use crate::error::{ApiError, AuthErrors, ErrorBody};
use crate::openapi::*;
use crate::startup::AppState;
use crate::store::{Capture, CaptureKind};
use crate::verify::{from_json, read_parts, require_image, vision_error};
use vkyc_domain::activity::ActivityAction;

pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(upload).service(list).service(download);
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UploadBody {
    kind: CaptureKind,
    image: String,
}

/// Store a capture: an image from the call (agent), the customer's upload, or the lender's
/// `reference` photo (api key only). It is decoded (format, size, integrity) before it is kept.
#[utoipa::path(tag = "captures", operation_id = "upload_capture", params(("id" = Uuid, Path, description = "The session")), request_body(content((NewCaptureDoc = "application/json"), (NewCaptureFormDoc = "multipart/form-data"))), security(("api_key" = []), ("join_token" = ["agent", "customer"])),
    responses((status = 201, description = "The capture's metadata", body = Capture), AuthErrors, (status = 400, description = "`malformed_json`, `malformed_multipart`", body = ErrorBody), (status = 404, description = "`session_not_found`", body = ErrorBody), (status = 409, description = "`session_closed`: cancelled or expired", body = ErrorBody), (status = 413, description = "`payload_too_large`, `image_too_large`", body = ErrorBody), (status = 415, description = "`unsupported_media_type`: JSON or multipart", body = ErrorBody), (status = 422, description = "`validation_failed`, `invalid_base64`, `image_empty`, `image_unsupported`, `image_corrupt`, `image_too_small`", body = ErrorBody)))]
#[post("/sessions/{id}/captures")]
async fn upload(
    req: HttpRequest,
    state: web::Data<AppState>,
    SessionCaller {
        caller, session, ..
    }: SessionCaller<AgentOrCustomer>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    if matches!(
        session.status,
        vkyc_domain::session::SessionStatus::Cancelled
            | vkyc_domain::session::SessionStatus::Expired
    ) {
        return Err(ApiError::conflict(
            "session_closed",
            "this session is cancelled or expired",
        ));
    }
    // Evidence after the agent's decision is refused, as every other change to the case.
    state
        .cases
        .check(session.id, &session.workflow, Change::Capture)
        .await
        .map_err(crate::kyc_api::case_error)?;
    let mut parts = read_parts(&req, payload, &state).await?;
    let (kind, bytes) = match parts.json.take() {
        Some(v) => {
            let b: UploadBody = from_json(v)?;
            (b.kind, parts.image("image", &b.image)?)
        }
        None => {
            let kind = parts
                .texts
                .get("kind")
                .ok_or_else(|| ApiError::validation("kind: missing (face, document or frame)"))?;
            let kind: CaptureKind = serde_json::from_value(json!(kind.trim()))
                .map_err(|_| ApiError::validation("kind: face, document or frame"))?;
            (kind, require_image(&mut parts.files, "image")?)
        }
    };
    if kind == CaptureKind::Reference && !matches!(caller, Caller::Backend) {
        return Err(ApiError::forbidden(
            "forbidden_role",
            "reference images come from the lender's backend (api key)",
        ));
    }
    // Only real, bounded images are kept: decoding checks format, size and integrity.
    let limits = state.config.inference.limits;
    let checked = bytes.clone();
    let (width, height) =
        tokio::task::spawn_blocking(move || decode_rgb(&checked, &limits).map(|i| i.dimensions()))
            .await
            .map_err(|e| ApiError::internal("decode", e))?
            .map_err(vision_error)?;
    let content_type = match image::guess_format(&bytes) {
        Ok(image::ImageFormat::Png) => "image/png",
        Ok(image::ImageFormat::WebP) => "image/webp",
        _ => "image/jpeg",
    };
    let capture = Capture {
        id: Uuid::now_v7(),
        session_id: session.id,
        kind,
        content_type: content_type.into(),
        width,
        height,
        bytes: bytes.len() as u64,
        sha256: Sha256::digest(&bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect(),
        taken_by: caller.principal().role_str().into(),
        created_at: Utc::now(),
    };
    // Blob first, then the record: a crash in between leaves an orphan blob, never a record
    // pointing at nothing.
    state
        .blobs
        .put(&capture.blob_key(), bytes)
        .await
        .map_err(|e| ApiError::internal("blob put", e))?;
    state
        .store
        .add_capture(&capture)
        .await
        .map_err(|e| ApiError::internal("add_capture", e))?;
    Ok(HttpResponse::Created().json(capture))
}

/// A session's captures (metadata), oldest first.
#[utoipa::path(tag = "captures", operation_id = "list_captures", params(("id" = Uuid, Path, description = "The session")), security(("api_key" = []), ("join_token" = ["agent", "observer"])),
    responses((status = 200, description = "The captures", body = CaptureListDoc), AuthErrors, (status = 404, description = "`session_not_found`", body = ErrorBody)))]
#[get("/sessions/{id}/captures")]
async fn list(
    state: web::Data<AppState>,
    SessionCaller { session, .. }: SessionCaller<AgentOrObserver>,
) -> Result<HttpResponse, ApiError> {
    let captures = state
        .store
        .list_captures(session.id)
        .await
        .map_err(|e| ApiError::internal("list_captures", e))?;
    Ok(HttpResponse::Ok().json(json!({ "captures": captures })))
}

/// A capture's image, for the agent console and the auditor.
pub async fn load(
    state: &AppState,
    session_id: SessionId,
    capture_id: Uuid,
) -> Result<(Capture, Vec<u8>), ApiError> {
    let capture = state
        .store
        .get_capture(session_id, capture_id)
        .await
        .map_err(|e| ApiError::internal("get_capture", e))?
        .ok_or_else(|| {
            ApiError::not_found(
                "capture_not_found",
                "no capture with this id in this session",
            )
        })?;
    let bytes = state
        .blobs
        .get(&capture.blob_key())
        .await
        .map_err(|e| ApiError::internal("blob get", e))?
        .ok_or_else(|| {
            ApiError::internal("blob get", format!("capture {} has no blob", capture.id))
        })?;
    Ok((capture, bytes))
}

/// A capture's image.
#[utoipa::path(tag = "captures", operation_id = "get_capture_image", params(("id" = Uuid, Path, description = "The session"), ("capture_id" = Uuid, Path, description = "The capture")), security(("api_key" = []), ("join_token" = ["agent", "observer"])),
    responses((status = 200, description = "The image as stored", content(("image/jpeg"), ("image/png"), ("image/webp"))), AuthErrors, (status = 404, description = "`capture_not_found`", body = ErrorBody)))]
#[get("/sessions/{id}/captures/{capture_id}")]
async fn download(
    req: actix_web::HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(SessionId, Uuid)>,
    access: SessionAccess<AgentOrObserver>,
) -> Result<HttpResponse, ApiError> {
    let (session_id, capture_id) = path.into_inner();
    let (capture, bytes) = load(&state, session_id, capture_id).await?;
    crate::activity::record(
        &state,
        &req,
        &access.caller,
        session_id,
        ActivityAction::CaptureRead,
        Some(capture_id.to_string()),
    )
    .await?;
    Ok(HttpResponse::Ok()
        .content_type(capture.content_type.as_str())
        .insert_header(("Cache-Control", "no-store"))
        .insert_header(("X-Content-Type-Options", "nosniff"))
        .body(bytes))
}
