//! `/v1/verify/*`: the verification engines, callable directly by a lender's backend.
//!
//! - `POST /v1/verify/face-match` — a probe image against one or more reference images.
//! - `POST /v1/verify/liveness/challenges` — issue a random head-movement challenge.
//! - `POST /v1/verify/liveness` — frames recorded while following a challenge → verdict.
//! - `POST /v1/verify/document` — an ID card capture → fields, name match, the card's face
//!   (and, given a `probe`, a face match of the probe against it).
//!
//! Bodies are JSON with base64 images, or `multipart/form-data` with file parts; the whole
//! body and each image are size-limited while reading. Every call goes to the inference pools
//! (`vkyc_vision::inference`): a saturated pool answers 429 with `Retry-After` at once.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use actix_web::http::StatusCode;
use actix_web::{post, web, HttpMessage, HttpRequest, HttpResponse};
use base64::Engine as _;
use futures_util::StreamExt;
use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;
use uuid::Uuid;
use vkyc_vision::idcard::DocumentKind;
use vkyc_vision::inference::{InferenceError, Pool};
use vkyc_vision::liveness::{random_moves, Move};
use vkyc_vision::runtime::Models;
use vkyc_vision::verify::{
    DocumentEngine, DocumentInit, DocumentJob, FaceInit, FaceMatchEngine, FaceMatchJob,
    FaceMatchOutcome, Frame, LivenessEngine, LivenessInit, LivenessJob, LivenessOutcome,
};
use vkyc_vision::VisionError;

use crate::access::Backend;
use crate::config::Config;
use crate::error::{ApiError, AuthErrors, ErrorBody};
use crate::openapi::*;
use crate::startup::AppState;

/// The engines' pools and the open liveness challenges of this node.
pub struct Inference {
    pub face: Pool<FaceMatchEngine>,
    pub liveness: Pool<LivenessEngine>,
    pub document: Pool<DocumentEngine>,
    challenges: Mutex<HashMap<Uuid, Challenge>>,
}

struct Challenge {
    moves: Vec<Move>,
    expires: Instant,
}

impl Inference {
    /// Checks the models (a missing or wrong file is an error naming it) and starts the pools.
    pub async fn start(config: &Config) -> anyhow::Result<Self> {
        let inf = &config.inference;
        let mut extra = Vec::new();
        if !config.liveness.passive.model_path.is_empty() {
            extra.push((
                "liveness_custom".to_string(),
                config.liveness.passive.model_path.clone().into(),
            ));
        }
        let dir = inf.models_dir();
        let threads = inf.threads_per_worker;
        let models =
            tokio::task::spawn_blocking(move || Models::load(&dir, threads, &extra)).await??;
        let timeout = Duration::from_secs(inf.timeout_secs);
        let face = FaceInit {
            models: models.clone(),
            face: config.face.clone(),
            limits: inf.limits,
        };
        let document = DocumentInit {
            models: models.clone(),
            ocr: config.ocr.clone(),
            face: config.face.clone(),
            limits: inf.limits,
        };
        let liveness = LivenessInit {
            models,
            face: config.face.clone(),
            challenge: config.liveness.challenge.clone(),
            passive: config.liveness.passive.clone(),
            limits: inf.limits,
        };
        let face = Pool::start(inf.face_workers, inf.queue_per_worker, timeout, face)
            .await
            .map_err(anyhow::Error::msg)?;
        let document = Pool::start(
            inf.document_workers,
            inf.queue_per_worker,
            timeout,
            document,
        )
        .await
        .map_err(anyhow::Error::msg)?;
        let liveness = Pool::start(
            inf.liveness_workers,
            inf.queue_per_worker,
            timeout,
            liveness,
        )
        .await
        .map_err(anyhow::Error::msg)?;
        Ok(Self {
            face,
            liveness,
            document,
            challenges: Mutex::new(HashMap::new()),
        })
    }

    pub fn stop(&self) {
        self.face.stop();
        self.liveness.stop();
        self.document.stop();
    }
}

pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(verify_face_match)
        .service(new_liveness_challenge)
        .service(verify_liveness)
        .service(verify_document);
}

fn engines(state: &AppState) -> Result<&Inference, ApiError> {
    state.inference.as_deref().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "inference_disabled",
            "verification is switched off on this server (inference.enabled)",
        )
    })
}

pub fn inference_error(e: InferenceError) -> ApiError {
    match e {
        InferenceError::Busy {
            engine,
            retry_after_secs,
        } => {
            let mut a = ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "busy",
                format!("the {engine} engine is at capacity; retry shortly"),
            );
            a.retry_after = Some(retry_after_secs);
            a
        }
        InferenceError::WorkerFailed(engine) => {
            let mut a = ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "worker_failed",
                format!("the {engine} worker failed on this request and is being restarted; retry"),
            );
            a.retry_after = Some(1);
            a
        }
        InferenceError::Timeout(engine) => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "inference_timeout",
            format!("the {engine} engine did not answer in time"),
        ),
        InferenceError::Vision(v) => vision_error(v),
    }
}

pub fn vision_error(v: VisionError) -> ApiError {
    let status = match v {
        VisionError::ImageTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
        VisionError::Inference(_) => return ApiError::internal("inference", v),
        _ => StatusCode::UNPROCESSABLE_ENTITY,
    };
    ApiError::new(status, v.code(), v.to_string())
}

// ------------------------------------------------------------------ request bodies

/// A verify request body, from JSON or multipart: text fields and named files, in order.
#[derive(Default)]
pub(crate) struct Parts {
    pub json: Option<serde_json::Value>,
    pub texts: HashMap<String, String>,
    pub files: Vec<(String, Vec<u8>)>,
    /// `inference.max_image_bytes`: what one image may weigh.
    image_limit: usize,
}

impl Parts {
    /// One base64 image field of the JSON body (plain or a `data:` URL), within the limit.
    pub fn image(&self, field: &str, b64: &str) -> Result<Vec<u8>, ApiError> {
        b64_image(field, b64, self.image_limit)
    }
}

fn too_large(limit: usize) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        format!("body exceeds {limit} bytes"),
    )
}

/// The engines (503 `inference_disabled` when they are off) and the request's parts.
async fn verify_request<'a>(
    req: &HttpRequest,
    payload: web::Payload,
    state: &'a AppState,
) -> Result<(&'a Inference, Parts), ApiError> {
    let inf = engines(state)?;
    Ok((inf, read_parts(req, payload, state).await?))
}

pub(crate) async fn read_parts(
    req: &HttpRequest,
    payload: web::Payload,
    state: &AppState,
) -> Result<Parts, ApiError> {
    let limit = state.config.inference.max_request_bytes;
    let image_limit = state.config.inference.max_image_bytes;
    let declared = req
        .headers()
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(too_large(limit));
    }
    let mime = req.mime_type().ok().flatten();
    let is_json = mime
        .as_ref()
        .is_some_and(|m| m.subtype() == "json" || m.suffix().is_some_and(|s| s == "json"));
    let is_multipart = mime
        .as_ref()
        .is_some_and(|m| m.type_() == "multipart" && m.subtype() == "form-data");
    if is_json {
        let mut body = web::BytesMut::new();
        let mut payload = payload.into_inner();
        while let Some(chunk) = payload.next().await {
            let chunk = chunk.map_err(|e| {
                ApiError::bad_request("bad_request", format!("could not read body: {e}"))
            })?;
            if body.len() + chunk.len() > limit {
                return Err(too_large(limit));
            }
            body.extend_from_slice(&chunk);
        }
        let v: serde_json::Value = serde_json::from_slice(&body).map_err(|e| {
            ApiError::bad_request("malformed_json", format!("body is not valid JSON: {e}"))
        })?;
        return Ok(Parts {
            json: Some(v),
            image_limit,
            ..Default::default()
        });
    }
    if !is_multipart {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send application/json (images in base64) or multipart/form-data (image files)",
        ));
    }
    let mut mp = actix_multipart::Multipart::new(req.headers(), payload.into_inner());
    let mut parts = Parts {
        image_limit,
        ..Default::default()
    };
    let mut total = 0usize;
    while let Some(field) = mp.next().await {
        let mut field = field.map_err(|e| {
            ApiError::bad_request(
                "malformed_multipart",
                format!("invalid multipart body: {e}"),
            )
        })?;
        let name = field.name().unwrap_or_default().to_string();
        let is_file = field
            .content_disposition()
            .and_then(|cd| cd.get_filename())
            .is_some();
        let mut data = Vec::new();
        while let Some(chunk) = field.next().await {
            let chunk = chunk.map_err(|e| {
                ApiError::bad_request(
                    "malformed_multipart",
                    format!("invalid multipart body: {e}"),
                )
            })?;
            total += chunk.len();
            if total > limit {
                return Err(too_large(limit));
            }
            if data.len() + chunk.len() > image_limit {
                return Err(ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "image_too_large",
                    format!("part {name:?} exceeds {image_limit} bytes"),
                ));
            }
            data.extend_from_slice(&chunk);
        }
        if is_file {
            parts.files.push((name, data));
        } else {
            let text = String::from_utf8(data).map_err(|_| {
                ApiError::bad_request(
                    "malformed_multipart",
                    format!("field {name:?} is not UTF-8 text"),
                )
            })?;
            parts.texts.insert(name, text);
        }
    }
    Ok(parts)
}

/// Decodes one base64 image field (plain or a `data:` URL), within the image size limit.
fn b64_image(field: &str, s: &str, limit: usize) -> Result<Vec<u8>, ApiError> {
    let s = s.trim();
    let s = match s.strip_prefix("data:") {
        Some(rest) => rest.split_once(',').map(|(_, d)| d).unwrap_or(""),
        None => s,
    };
    if s.len() / 4 * 3 > limit + 3 {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "image_too_large",
            format!("{field} exceeds {limit} bytes"),
        ));
    }
    base64::engine::general_purpose::STANDARD
        .decode(s)
        .map_err(|e| {
            ApiError::validation(format!("{field}: not valid base64: {e}"))
                .with_code("invalid_base64")
        })
}

impl ApiError {
    fn with_code(mut self, code: &'static str) -> Self {
        self.code = code;
        self
    }
}

pub(crate) fn from_json<T: serde::de::DeserializeOwned>(
    v: serde_json::Value,
) -> Result<T, ApiError> {
    serde_json::from_value(v).map_err(|e| ApiError::validation(format!("invalid body: {e}")))
}

pub(crate) fn require_image(
    files: &mut Vec<(String, Vec<u8>)>,
    name: &str,
) -> Result<Vec<u8>, ApiError> {
    let i = files
        .iter()
        .position(|(n, _)| n == name)
        .ok_or_else(|| ApiError::validation(format!("missing file part {name:?}")))?;
    Ok(files.remove(i).1)
}

crate::error::error_answers! {
    /// The answers of a verification request that could not be served.
    pub VerifyErrors {
        400 => "`malformed_json`, `malformed_multipart`",
        413 => "`payload_too_large` (`inference.max_request_bytes`), `image_too_large` (bytes or pixels)",
        415 => "`unsupported_media_type`: JSON or multipart",
        422 => "`validation_failed`, `invalid_base64`, `image_empty`, `image_unsupported`, `image_corrupt`,\n\
                `image_too_small`, `no_face`, `multiple_faces`, `face_out_of_frame`, `face_too_small`,\n\
                `image_too_dark`, `image_too_bright`, `image_blurred` (with an actionable message for the\n\
                customer)",
        429 => "`busy`: the engine's queue is full; `rate_limited`: over `limits.verify_per_ip` or `verify_per_credential` (both with `Retry-After`)",
        503 => "`worker_failed` (`Retry-After`), `inference_timeout`, `inference_disabled`",
    }
}

// ------------------------------------------------------------------------ face match

/// Images in base64 (plain or `data:` URLs): JPEG, PNG or WebP.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = FaceMatchRequest)]
struct FaceMatchBody {
    probe: String,
    /// 1 to 5.
    references: Vec<String>,
}

const MAX_REFERENCES: usize = 5;

/// Compare a probe face with 1 to 5 reference images. A score of 60 or more is a match.
#[utoipa::path(tag = "verify", request_body(content((FaceMatchBody = "application/json"), (FaceMatchFormDoc = "multipart/form-data"))), security(("api_key" = [])),
    responses((status = 200, description = "The best match and one result per reference", body = FaceMatchOutcome), AuthErrors, VerifyErrors))]
#[post("/verify/face-match")]
async fn verify_face_match(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
    _: Backend,
) -> Result<HttpResponse, ApiError> {
    let (inf, mut parts) = verify_request(&req, payload, &state).await?;
    let job = match parts.json.take() {
        Some(v) => {
            let b: FaceMatchBody = from_json(v)?;
            let probe = parts.image("probe", &b.probe)?;
            let references = b
                .references
                .iter()
                .enumerate()
                .map(|(i, r)| parts.image(&format!("references[{i}]"), r))
                .collect::<Result<Vec<_>, _>>()?;
            FaceMatchJob { probe, references }
        }
        None => {
            let probe = require_image(&mut parts.files, "probe")?;
            let references = parts
                .files
                .into_iter()
                .filter(|(n, _)| n == "reference" || n == "references")
                .map(|(_, d)| d)
                .collect();
            FaceMatchJob { probe, references }
        }
    };
    if job.references.is_empty() || job.references.len() > MAX_REFERENCES {
        return Err(ApiError::validation(format!(
            "give 1 to {MAX_REFERENCES} reference images"
        )));
    }
    let out = inf.face.submit(job).await.map_err(inference_error)?;
    Ok(HttpResponse::Ok().json(out))
}

// -------------------------------------------------------------------------- liveness

/// Issue a random head-movement challenge (single use, expires after
/// `liveness.challenge.time_limit_secs`).
#[utoipa::path(tag = "verify", request_body(content(("application/json")), description = "`{}` (no fields)"), security(("api_key" = [])),
    responses((status = 201, description = "The challenge", body = LivenessChallengeDoc), AuthErrors, (status = 429, description = "`busy`: too many open challenges; `rate_limited` (`Retry-After`): over this address's or key's limits", body = ErrorBody), (status = 503, description = "`inference_disabled`", body = ErrorBody)))]
#[post("/verify/liveness/challenges")]
async fn new_liveness_challenge(
    state: web::Data<AppState>,
    _: Backend,
) -> Result<HttpResponse, ApiError> {
    let inf = engines(&state)?;
    let cfg = &state.config.liveness.challenge;
    let moves = random_moves(cfg.moves, &mut rand::thread_rng());
    let id = Uuid::new_v4();
    let ttl = Duration::from_secs(cfg.time_limit_secs);
    {
        let mut open = inf.challenges.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        open.retain(|_, c| c.expires > now);
        if open.len() >= 100_000 {
            return Err(inference_error(InferenceError::Busy {
                engine: "liveness",
                retry_after_secs: 5,
            }));
        }
        open.insert(
            id,
            Challenge {
                moves: moves.clone(),
                expires: now + ttl,
            },
        );
    }
    Ok(HttpResponse::Created().json(json!({
        "challenge_id": id,
        "moves": moves,
        "expires_in_secs": cfg.time_limit_secs,
        "min_frames": cfg.min_frames,
        "max_frames": cfg.max_frames,
        "instructions": "Start facing the camera, then make each movement in order and come back to the centre after each. Frames are raw (un-mirrored) camera frames; turn_left is the person's own left.",
    })))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = LivenessFrame)]
struct FrameBody {
    /// Base64 of a raw (un-mirrored) camera frame.
    image: String,
    t_ms: u64,
}

/// The frames recorded while following a challenge, in order.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = LivenessRequest)]
struct LivenessBody {
    challenge_id: Uuid,
    frames: Vec<FrameBody>,
}

/// Check the frames recorded while the person followed a challenge.
#[utoipa::path(tag = "verify", request_body(content((LivenessBody = "application/json"), (LivenessFormDoc = "multipart/form-data"))), security(("api_key" = [])),
    responses((status = 200, description = "The verdict", body = LivenessOutcome), (status = 404, description = "`challenge_not_found` (each challenge can be used once)", body = ErrorBody), (status = 410, description = "`challenge_expired`", body = ErrorBody), AuthErrors, VerifyErrors))]
#[post("/verify/liveness")]
async fn verify_liveness(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
    _: Backend,
) -> Result<HttpResponse, ApiError> {
    let (inf, mut parts) = verify_request(&req, payload, &state).await?;
    let cfg = &state.config.liveness.challenge;
    let (challenge_id, frames) = match parts.json.take() {
        Some(v) => {
            let b: LivenessBody = from_json(v)?;
            let frames = b
                .frames
                .iter()
                .enumerate()
                .map(|(i, f)| {
                    Ok(Frame {
                        image: parts.image(&format!("frames[{i}].image"), &f.image)?,
                        t_ms: f.t_ms,
                    })
                })
                .collect::<Result<Vec<_>, ApiError>>()?;
            (b.challenge_id, frames)
        }
        None => {
            let id = parts
                .texts
                .get("challenge_id")
                .and_then(|s| s.trim().parse::<Uuid>().ok())
                .ok_or_else(|| ApiError::validation("challenge_id: missing or not a UUID"))?;
            let times: Vec<u64> = match parts.texts.get("frame_times_ms") {
                Some(t) => t
                    .split(',')
                    .map(|s| s.trim().parse::<u64>())
                    .collect::<Result<_, _>>()
                    .map_err(|_| {
                        ApiError::validation("frame_times_ms: comma-separated milliseconds")
                    })?,
                None => Vec::new(),
            };
            let files: Vec<Vec<u8>> = parts
                .files
                .into_iter()
                .filter(|(n, _)| n == "frame" || n == "frames")
                .map(|(_, d)| d)
                .collect();
            if !times.is_empty() && times.len() != files.len() {
                return Err(ApiError::validation("frame_times_ms: one time per frame"));
            }
            let frames = files
                .into_iter()
                .enumerate()
                .map(|(i, image)| Frame {
                    image,
                    t_ms: times.get(i).copied().unwrap_or(i as u64 * 100),
                })
                .collect();
            (id, frames)
        }
    };
    if frames.len() < cfg.min_frames || frames.len() > cfg.max_frames {
        return Err(ApiError::validation(format!(
            "send {} to {} frames",
            cfg.min_frames, cfg.max_frames
        )));
    }
    if frames.windows(2).any(|w| w[1].t_ms < w[0].t_ms) {
        return Err(ApiError::validation("frame times must not go backwards"));
    }
    let span = frames
        .last()
        .map_or(0, |f| f.t_ms)
        .saturating_sub(frames[0].t_ms);
    // One use per challenge: taken out before the work, so a replay finds nothing.
    let challenge = inf
        .challenges
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .remove(&challenge_id);
    let Some(challenge) = challenge else {
        return Err(ApiError::not_found(
            "challenge_not_found",
            "no open challenge with this id (each challenge can be used once)",
        ));
    };
    if Instant::now() > challenge.expires {
        return Err(ApiError::new(
            StatusCode::GONE,
            "challenge_expired",
            "the challenge expired; ask for a new one",
        ));
    }
    if span > cfg.time_limit_secs * 1000 {
        return Err(ApiError::validation(format!(
            "the frames span {span} ms; the challenge allows {} s",
            cfg.time_limit_secs
        )));
    }
    let out = inf
        .liveness
        .submit(LivenessJob {
            moves: challenge.moves,
            frames,
        })
        .await
        .map_err(inference_error)?;
    Ok(HttpResponse::Ok().json(out))
}

// -------------------------------------------------------------------------- document

/// An ID card image (base64), and optionally a face to compare with the card's photo.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = DocumentRequest)]
struct DocumentBody {
    kind: DocumentKind,
    image: String,
    applicant_name: Option<String>,
    probe: Option<String>,
}

/// Read a PAN or Aadhaar card: its fields, the name match, the card's photo (and, given a
/// `probe`, a face match of the probe against it). The Aadhaar number is only returned masked.
#[utoipa::path(tag = "verify", request_body(content((DocumentBody = "application/json"), (DocumentFormDoc = "multipart/form-data"))), security(("api_key" = [])),
    responses((status = 200, description = "What was read", body = DocumentResultDoc), AuthErrors, VerifyErrors))]
#[post("/verify/document")]
async fn verify_document(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
    _: Backend,
) -> Result<HttpResponse, ApiError> {
    let (inf, mut parts) = verify_request(&req, payload, &state).await?;
    let (job, probe) = match parts.json.take() {
        Some(v) => {
            let b: DocumentBody = from_json(v)?;
            let image = parts.image("image", &b.image)?;
            let probe = b
                .probe
                .as_deref()
                .map(|p| parts.image("probe", p))
                .transpose()?;
            (
                DocumentJob {
                    kind: b.kind,
                    image,
                    expected_name: b.applicant_name,
                },
                probe,
            )
        }
        None => {
            let kind = parts
                .texts
                .get("kind")
                .ok_or_else(|| ApiError::validation("kind: missing (pan or aadhaar)"))?;
            let kind: DocumentKind = serde_json::from_value(json!(kind.trim()))
                .map_err(|_| ApiError::validation("kind: pan or aadhaar"))?;
            let image = require_image(&mut parts.files, "image")?;
            let probe = parts
                .files
                .iter()
                .position(|(n, _)| n == "probe")
                .map(|i| parts.files.remove(i).1);
            (
                DocumentJob {
                    kind,
                    image,
                    expected_name: parts.texts.remove("applicant_name"),
                },
                probe,
            )
        }
    };
    if job
        .expected_name
        .as_deref()
        .is_some_and(|n| n.trim().is_empty() || n.len() > 200)
    {
        return Err(ApiError::validation("applicant_name: 1 to 200 characters"));
    }
    let out = inf.document.submit(job).await.map_err(inference_error)?;
    let face_match = match (&probe, &out.face) {
        (Some(p), Some(f)) => Some(
            inf.face
                .submit(FaceMatchJob {
                    probe: p.clone(),
                    references: vec![f.jpeg.clone()],
                })
                .await
                .map_err(inference_error)?,
        ),
        _ => None,
    };
    let face = out.face.as_ref().map(|f| {
        json!({"bbox": f.bbox, "detector_score": f.detector_score, "image_jpeg_base64": base64::engine::general_purpose::STANDARD.encode(&f.jpeg)})
    });
    Ok(HttpResponse::Ok().json(json!({
        "fields": out.fields,
        "name_match": out.name_match,
        "face": face,
        "face_error": out.face_error,
        "face_match": face_match,
    })))
}
