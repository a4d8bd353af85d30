//! Self-record sessions (`mode: "self_record"`): no agent on a call. The customer's page
//! walks through consent and location, then records a video while it prompts them (say your
//! name and today's date, then a head-movement challenge), grabs frames at the prompts,
//! uploads the video in resumable chunks and submits the frames. The server then runs the
//! face step (liveness on the frames + face match against the references) in the case actor:
//! when the recommendation approves, the system's result is `approved` and the session is
//! complete (`self_record.completed`). Otherwise the check failed (`self_record.check_failed`,
//! never an automatic rejection): the customer records again, and after
//! `kyc.self_record.max_failed_checks` failures the session becomes a live-agent session,
//! `waiting`, and the customer's page takes them to the queue, where an agent verifies them
//! on a call (the failed attempts stay in the case, the self-record calls answer 409
//! `handed_to_agent`, the status and the last video stay readable).
//!
//! | call | who |
//! | --- | --- |
//! | `POST /v1/sessions/{id}/self-record` | customer token: start (or restart) → the script |
//! | `PUT  /v1/sessions/{id}/self-record/video` | customer token: one chunk, `Content-Range: bytes a-b/total` |
//! | `GET  /v1/sessions/{id}/self-record` | customer, agent, observer token, api key: upload and processing state |
//! | `GET  /v1/sessions/{id}/self-record/video` | agent or observer token, api key: the video |
//! | `POST /v1/sessions/{id}/self-record/submit` | customer token: `{"frames":[{"capture_id","t_ms"}]}` → 202 |
//!
//! The video is stored through the blob store (encrypted) as numbered chunks; the upload
//! state lives on the session, changed in one store transaction per chunk, so an upload
//! resumes after a dropped connection or a server restart from `video_received`.
//!
//! The checks run in the [`SelfRecordProcessor`], a child of the application supervisor
//! (`self_record`, restarted if it fails). The submitted frame list is kept (encrypted) beside
//! the video until the checks are done, so when the processor starts — at server start or
//! after a failure — it resumes every session left `processing`: a session never stays
//! there because the server stopped mid-check.

use actix_web::http::header;
use actix_web::{get, post, put, web, HttpRequest, HttpResponse};
use chrono::Utc;
use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;
use uuid::Uuid;
use vkyc_domain::events::{data, DomainEvent};
use vkyc_domain::kyc::{recommend, CaseResult, StepType};
use vkyc_domain::SessionId;

use crate::access::{AgentOrObserver, AnyRole, CustomerOnly, SessionAccess, SessionCaller};
use crate::error::{ApiError, AuthErrors, BodyErrors, ErrorBody};
use crate::extract::ValidJson;
use crate::kyc_api::{case_error, face_input, FrameRef, SECONDS_PER_MOVE};
use crate::openapi::*;
use crate::startup::AppState;
use vkyc_domain::session::{SelfRecordPhase, SelfRecordState, Session, SessionMode, SessionStatus};

pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(start_self_record)
        .service(self_record_status)
        .service(upload_self_record_chunk)
        .service(get_self_record_video)
        .service(submit_self_record);
}

/// Seconds the page gives the customer to say their name and the date.
const INTRO_SECS: u64 = 6;
/// Who the system's own actions are recorded as.
fn system() -> vkyc_domain::kyc::Principal {
    vkyc_domain::kyc::Principal::System("self_record".into())
}

pub fn chunk_key(id: SessionId, n: u32) -> String {
    format!("selfrecord/{}/video/{n:06}", id.simple())
}

/// The submitted frames (`[(capture_id, t_ms)]`), kept until the checks are done.
pub fn frames_key(id: SessionId) -> String {
    format!("selfrecord/{}/frames", id.simple())
}

/// The session, if it is a self-recorded one (409 `not_self_record` otherwise; 409
/// `handed_to_agent` once its checks failed too often and it became a live-agent session).
fn self_recorded(s: Session) -> Result<Session, ApiError> {
    if handed_to_agent(&s) {
        return Err(ApiError::conflict(
            "handed_to_agent",
            "the recorded videos did not pass their checks: an agent verifies this customer on a call now",
        ));
    }
    if s.mode != SessionMode::SelfRecord {
        return Err(ApiError::conflict(
            "not_self_record",
            "this session is a live call, not a self-recorded one",
        ));
    }
    Ok(s)
}

fn handed_to_agent(s: &Session) -> bool {
    s.self_record
        .as_ref()
        .is_some_and(|r| r.phase == SelfRecordPhase::LiveAgent)
}

/// A session that was self-recorded, handed to an agent or not: what was recorded is kept.
fn was_self_recorded(s: Session) -> Result<Session, ApiError> {
    if handed_to_agent(&s) {
        Ok(s)
    } else {
        self_recorded(s)
    }
}

/// Runs a change of the session in one store operation (see `Store::change_session`); `f`
/// may run again on a fresh copy if another writer came first.
async fn update<T: Send + 'static>(
    state: &AppState,
    id: SessionId,
    f: impl FnMut(&mut Session) -> Result<(T, Option<DomainEvent>), ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    match state
        .store
        .update_session(id, f)
        .await
        .map_err(|e| ApiError::internal("update_session", e))?
    {
        None => Err(ApiError::session_not_found()),
        Some(r) => r,
    }
}

fn open_for_recording(s: &Session) -> Result<(), ApiError> {
    if s.status.is_final() {
        return Err(ApiError::conflict(
            "session_closed",
            "this session has ended",
        ));
    }
    if s.status == SessionStatus::Scheduled {
        return Err(ApiError::conflict(
            "session_not_open",
            "this session's window has not opened yet",
        ));
    }
    Ok(())
}

/// Start (or restart) the recording: the script the page follows. Starting again resets the
/// upload. Needs the customer's consent first when the workflow has a consent step.
#[utoipa::path(tag = "self-record", params(("id" = Uuid, Path, description = "The session")), security(("api_key" = []), ("join_token" = ["customer"])),
    responses((status = 201, description = "The challenge and the prompts", body = SelfRecordScriptDoc), AuthErrors, (status = 404, description = "`session_not_found`", body = ErrorBody), (status = 409, description = "`not_self_record`, `session_closed`, `session_not_open` (scheduled), `already_submitted`, `consent_required`", body = ErrorBody)))]
#[post("/sessions/{id}/self-record")]
async fn start_self_record(
    state: web::Data<AppState>,
    SessionCaller { session, .. }: SessionCaller<CustomerOnly>,
) -> Result<HttpResponse, ApiError> {
    let s = self_recorded(session)?;
    let id = s.id;
    open_for_recording(&s)?;
    if s.self_record
        .as_ref()
        .is_some_and(|r| r.phase != SelfRecordPhase::Recording)
    {
        return Err(ApiError::conflict(
            "already_submitted",
            "the recording has already been submitted",
        ));
    }
    // Consent comes before any recording.
    let case = state.cases.get(id, &s.workflow).await.map_err(case_error)?;
    if let Some(c) = case.step(StepType::Consent) {
        if c.latest()
            .is_none_or(|a| a.outcome != vkyc_domain::kyc::Outcome::Passed)
        {
            return Err(ApiError::conflict(
                "consent_required",
                "the customer's consent is needed before recording",
            ));
        }
    }
    let ch = state
        .cases
        .start_challenge(id, &s.workflow, system())
        .await
        .map_err(case_error)?;
    let challenge_id = ch.challenge_id;
    let now = Utc::now();
    update(&state, id, move |s| {
        open_for_recording(s)?;
        let first = s.self_record.is_none();
        let failed_checks = s.self_record.as_ref().map_or(0, |r| r.failed_checks);
        // A restart (or a new try after a failed check) records a new video: the upload
        // begins again.
        s.self_record = Some(SelfRecordState {
            phase: SelfRecordPhase::Recording,
            challenge_id,
            started_at: now,
            video_type: None,
            video_total: None,
            video_received: 0,
            video_chunks: 0,
            submitted_at: None,
            processed_at: None,
            failed_checks,
        });
        let ev = first.then(|| DomainEvent::new(Some(s.id), data::SelfRecordStarted {}));
        Ok(((), ev))
    })
    .await?;
    let mut prompts = vec![
        json!({"id": "intro", "text": "Say your full name and today's date", "seconds": INTRO_SECS, "frames": 2}),
        json!({"id": "centre", "text": "Look straight at the camera", "seconds": 1}),
    ];
    prompts.extend(
        ch.moves
            .iter()
            .map(|m| json!({"id": m, "move": m, "seconds": SECONDS_PER_MOVE})),
    );
    Ok(HttpResponse::Created().json(json!({
        "challenge": ch,
        "prompts": prompts,
        "video_max_duration_secs": s.video_max_duration,
        "max_video_bytes": state.config.kyc.self_record.max_video_bytes,
        "max_chunk_bytes": state.config.kyc.self_record.max_chunk_bytes,
    })))
}

/// Where the upload and the processing are; an interrupted upload resumes from
/// `video_received`.
#[utoipa::path(tag = "self-record", params(("id" = Uuid, Path, description = "The session")), security(("api_key" = []), ("join_token" = ["customer", "agent", "observer"])),
    responses((status = 200, description = "The state", body = SelfRecordStatusDoc), AuthErrors, (status = 404, description = "`session_not_found`", body = ErrorBody), (status = 409, description = "`not_self_record`", body = ErrorBody)))]
#[get("/sessions/{id}/self-record")]
async fn self_record_status(
    SessionCaller { session, .. }: SessionCaller<AnyRole>,
) -> Result<HttpResponse, ApiError> {
    let s = was_self_recorded(session)?;
    Ok(HttpResponse::Ok().json(self_record_json(&s)))
}

fn self_record_json(s: &Session) -> serde_json::Value {
    match &s.self_record {
        None => {
            json!({"phase": null, "status": s.status, "video_received": 0, "video_complete": false})
        }
        Some(r) => json!({
            "phase": r.phase, "status": s.status, "video_type": r.video_type, "video_total": r.video_total,
            "video_received": r.video_received, "video_complete": r.video_complete(),
            "started_at": r.started_at, "submitted_at": r.submitted_at, "processed_at": r.processed_at,
            "failed_checks": r.failed_checks, "mode": s.mode,
        }),
    }
}

/// `Content-Range: bytes START-END/TOTAL` (END inclusive).
fn content_range(req: &HttpRequest) -> Result<(u64, u64, u64), ApiError> {
    let bad = || {
        ApiError::bad_request(
            "invalid_content_range",
            "Content-Range: bytes START-END/TOTAL is required (END inclusive)",
        )
    };
    let v = req
        .headers()
        .get(header::CONTENT_RANGE)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(bad)?;
    let rest = v.trim().strip_prefix("bytes ").ok_or_else(bad)?;
    let (range, total) = rest.split_once('/').ok_or_else(bad)?;
    let (a, b) = range.split_once('-').ok_or_else(bad)?;
    let (a, b, total): (u64, u64, u64) = (
        a.parse().map_err(|_| bad())?,
        b.parse().map_err(|_| bad())?,
        total.parse().map_err(|_| bad())?,
    );
    if b < a || b >= total {
        return Err(bad());
    }
    Ok((a, b, total))
}

/// One chunk of the video, in order: `Content-Range: bytes START-END/TOTAL` (END inclusive).
#[utoipa::path(tag = "self-record", params(("id" = Uuid, Path, description = "The session"), ("Content-Range" = String, Header, description = "`bytes START-END/TOTAL`, END inclusive")), request_body(content(("video/webm"), ("video/mp4"))), security(("api_key" = []), ("join_token" = ["customer"])),
    responses((status = 200, description = "The chunk was stored; more to come", body = UploadProgressDoc), (status = 201, description = "The video is complete", body = UploadProgressDoc), AuthErrors, (status = 400, description = "`invalid_content_range`", body = ErrorBody), (status = 404, description = "`session_not_found`", body = ErrorBody), (status = 409, description = "`not_self_record`, `session_closed`, `session_not_open`, `not_started`, `already_submitted`, `upload_offset_mismatch` (resume from `GET …/self-record`), `upload_total_changed`, `upload_conflict`", body = ErrorBody), (status = 413, description = "`chunk_too_large`, `video_too_large`", body = ErrorBody), (status = 415, description = "`unsupported_media_type`: video/webm or video/mp4", body = ErrorBody)))]
#[put("/sessions/{id}/self-record/video")]
async fn upload_self_record_chunk(
    req: HttpRequest,
    state: web::Data<AppState>,
    SessionAccess { id, .. }: SessionAccess<CustomerOnly>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let limits = state.config.kyc.self_record.clone();
    let (a, b, total) = content_range(&req)?;
    let body = read_body(payload, limits.max_chunk_bytes).await?;
    if b - a + 1 != body.len() as u64 {
        return Err(ApiError::bad_request(
            "invalid_content_range",
            format!(
                "Content-Range says {} bytes, the body has {}",
                b - a + 1,
                body.len()
            ),
        ));
    }
    if total > limits.max_video_bytes {
        return Err(ApiError::new(
            actix_web::http::StatusCode::PAYLOAD_TOO_LARGE,
            "video_too_large",
            format!("the video is at most {} bytes", limits.max_video_bytes),
        ));
    }
    let ctype = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if !matches!(ctype.as_str(), "video/webm" | "video/mp4") {
        return Err(ApiError::new(
            actix_web::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "the video must be video/webm or video/mp4",
        ));
    }
    // Where the upload stands (checked again in the transaction below).
    let s = self_recorded(crate::api::load_session(&state, id).await?)?;
    open_for_recording(&s)?;
    let r = s.self_record.as_ref().ok_or_else(|| {
        ApiError::conflict(
            "not_started",
            "start the recording first (POST …/self-record)",
        )
    })?;
    check_chunk(r, a, total)?;
    // The chunk goes to the blob store first, under the index it will have: a retry after a
    // failure overwrites the same key, so nothing is half-counted.
    let n = r.video_chunks;
    let len = body.len() as u64;
    state
        .blobs
        .put(&chunk_key(id, n), body)
        .await
        .map_err(|e| ApiError::internal("blob put", e))?;
    let r = update(&state, id, move |s| {
        open_for_recording(s)?;
        let r = s
            .self_record
            .as_mut()
            .ok_or_else(|| ApiError::conflict("not_started", "start the recording first"))?;
        check_chunk(r, a, total)?;
        if r.video_chunks != n {
            return Err(ApiError::conflict(
                "upload_conflict",
                "another upload of this video is running",
            ));
        }
        r.video_total = Some(total);
        r.video_type = Some(ctype.clone());
        r.video_received += len;
        r.video_chunks += 1;
        Ok((r.clone(), None))
    })
    .await?;
    let code = if r.video_complete() {
        actix_web::http::StatusCode::CREATED
    } else {
        actix_web::http::StatusCode::OK
    };
    Ok(HttpResponse::build(code).json(json!({"video_received": r.video_received, "video_total": r.video_total, "video_complete": r.video_complete()})))
}

/// The request body, refused beyond `limit` bytes (the JSON body limit does not apply here).
async fn read_body(mut payload: web::Payload, limit: u64) -> Result<Vec<u8>, ApiError> {
    use futures_util::StreamExt;
    let mut out = Vec::new();
    while let Some(part) = payload.next().await {
        let part = part.map_err(|e| {
            ApiError::bad_request(
                "invalid_body",
                format!("the request body could not be read: {e}"),
            )
        })?;
        if (out.len() + part.len()) as u64 > limit {
            return Err(ApiError::new(
                actix_web::http::StatusCode::PAYLOAD_TOO_LARGE,
                "chunk_too_large",
                format!("chunks are at most {limit} bytes"),
            ));
        }
        out.extend_from_slice(&part);
    }
    Ok(out)
}

fn check_chunk(r: &SelfRecordState, start: u64, total: u64) -> Result<(), ApiError> {
    if r.phase != SelfRecordPhase::Recording {
        return Err(ApiError::conflict(
            "already_submitted",
            "the recording has already been submitted",
        ));
    }
    if r.video_total.is_some_and(|t| t != total) {
        return Err(ApiError::conflict("upload_total_changed", "the total size differs from the first chunk's: restart the recording to upload another video"));
    }
    if start != r.video_received {
        // The client resumes from GET …/self-record's video_received.
        return Err(ApiError::conflict(
            "upload_offset_mismatch",
            format!("the next chunk starts at byte {}", r.video_received),
        ));
    }
    Ok(())
}

/// The video as uploaded.
#[utoipa::path(tag = "self-record", params(("id" = Uuid, Path, description = "The session")), security(("api_key" = []), ("join_token" = ["agent", "observer"])),
    responses((status = 200, description = "The video", content(("video/webm"), ("video/mp4"))), AuthErrors, (status = 404, description = "`session_not_found`, `video_not_found` (no complete video)", body = ErrorBody), (status = 409, description = "`not_self_record`", body = ErrorBody)))]
#[get("/sessions/{id}/self-record/video")]
async fn get_self_record_video(
    req: actix_web::HttpRequest,
    state: web::Data<AppState>,
    SessionCaller {
        session, caller, ..
    }: SessionCaller<AgentOrObserver>,
) -> Result<HttpResponse, ApiError> {
    let s = was_self_recorded(session)?;
    let id = s.id;
    let r = s
        .self_record
        .filter(|r| r.video_complete())
        .ok_or_else(|| {
            ApiError::not_found("video_not_found", "no complete video for this session")
        })?;
    crate::activity::record(
        &state,
        &req,
        &caller,
        id,
        vkyc_domain::activity::ActivityAction::SelfRecordVideoRead,
        None,
    )
    .await?;
    let mut out = Vec::with_capacity(r.video_received as usize);
    for n in 0..r.video_chunks {
        let chunk = state
            .blobs
            .get(&chunk_key(id, n))
            .await
            .map_err(|e| ApiError::internal("blob get", e))?;
        out.extend(
            chunk.ok_or_else(|| ApiError::internal("blob get", format!("chunk {n} missing")))?,
        );
    }
    Ok(HttpResponse::Ok()
        .content_type(r.video_type.unwrap_or_else(|| "video/webm".into()))
        .body(out))
}

/// The frames captured at the prompts (captures of kind `frame`).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = SelfRecordSubmit)]
struct SubmitBody {
    frames: Vec<FrameRef>,
}

/// Submit the recording with its frames: the face step (liveness on the frames, face match
/// against the references) runs after the answer. The status then says: `done` (approved,
/// the session complete), `recording` again with `failed_checks` (record again), or
/// `live_agent` (the session went to the queue for a live agent).
#[utoipa::path(tag = "self-record", params(("id" = Uuid, Path, description = "The session")), request_body = SubmitBody, security(("api_key" = []), ("join_token" = ["customer"])),
    responses((status = 202, description = "Submitted; processing", body = SelfRecordSubmittedDoc), AuthErrors, BodyErrors, (status = 404, description = "`session_not_found`, `capture_not_found`", body = ErrorBody), (status = 409, description = "`not_self_record`, `handed_to_agent`, `session_closed`, `not_started`, `already_submitted`, `video_incomplete`", body = ErrorBody)))]
#[post("/sessions/{id}/self-record/submit")]
async fn submit_self_record(
    state: web::Data<AppState>,
    SessionCaller {
        session,
        body: ValidJson(body),
        ..
    }: SessionCaller<CustomerOnly, ValidJson<SubmitBody>>,
) -> Result<HttpResponse, ApiError> {
    let s = self_recorded(session)?;
    let id = s.id;
    open_for_recording(&s)?;
    let r = s
        .self_record
        .clone()
        .ok_or_else(|| ApiError::conflict("not_started", "start the recording first"))?;
    if r.phase != SelfRecordPhase::Recording {
        return Err(ApiError::conflict(
            "already_submitted",
            "the recording has already been submitted",
        ));
    }
    if !r.video_complete() {
        return Err(ApiError::conflict(
            "video_incomplete",
            format!(
                "the video upload is not complete ({} bytes received)",
                r.video_received
            ),
        ));
    }
    // Load (and so validate) everything before the state changes.
    let frames: Vec<(Uuid, u64)> = body
        .frames
        .into_iter()
        .map(|f| (f.capture_id, f.t_ms))
        .collect();
    let input = face_input(&state, id, None, Some((r.challenge_id, frames.clone()))).await?;
    // Kept for a processor that starts after a restart (overwritten by a retried submit).
    let kept = serde_json::to_vec(&frames).map_err(|e| ApiError::internal("frames", e))?;
    state
        .blobs
        .put(&frames_key(id), kept)
        .await
        .map_err(|e| ApiError::internal("blob put", e))?;
    let now = Utc::now();
    update(&state, id, move |s| {
        open_for_recording(s)?;
        let r = s
            .self_record
            .as_mut()
            .ok_or_else(|| ApiError::conflict("not_started", "start the recording first"))?;
        if r.phase != SelfRecordPhase::Recording {
            return Err(ApiError::conflict(
                "already_submitted",
                "the recording has already been submitted",
            ));
        }
        r.phase = SelfRecordPhase::Processing;
        r.submitted_at = Some(now);
        let ev = DomainEvent::new(
            Some(s.id),
            data::SelfRecordSubmitted {
                video_bytes: r.video_received,
            },
        );
        Ok(((), Some(ev)))
    })
    .await?;
    // The checks run after the answer: the page shows "submitted" and the lender hears
    // through video.reviewed (the result) when they are done. A processor that is being
    // restarted picks the session up when it starts.
    match state
        .self_record
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .as_ref()
    {
        Some(p) => {
            if p.cast(ProcessMsg::Process(id, Box::new(input))).is_err() {
                tracing::warn!(session = %id, "self-record processor stopped; its successor resumes this session when it starts");
            }
        }
        None => {
            tracing::warn!(session = %id, "self-record processor restarting; it resumes this session when it starts")
        }
    }
    Ok(HttpResponse::Accepted().json(json!({"phase": SelfRecordPhase::Processing})))
}

/// The sessions examined for interrupted checks when the processor starts (newest first).
const RESUME_SCAN: usize = 100_000;

pub struct SelfRecordProcessor;

pub enum ProcessMsg {
    /// Run the checks of a session just submitted.
    Process(SessionId, Box<vkyc_case::StepInput>),
    /// Fault injection: the processor panics.
    #[cfg(feature = "fault-injection")]
    InjectPanic,
}

/// Where the submit handler finds the running processor (None while it restarts).
pub type ProcessorSlot = std::sync::Arc<std::sync::RwLock<Option<ractor::ActorRef<ProcessMsg>>>>;

impl ractor::Actor for SelfRecordProcessor {
    type Msg = ProcessMsg;
    type State = std::sync::Arc<AppState>;
    type Arguments = std::sync::Arc<AppState>;

    async fn pre_start(
        &self,
        me: ractor::ActorRef<ProcessMsg>,
        state: Self::Arguments,
    ) -> Result<Self::State, ractor::ActorProcessingErr> {
        // Submissions from now on queue here, behind the resumed ones (one found by both is
        // checked once, see `Process`).
        *state.self_record.write().unwrap_or_else(|e| e.into_inner()) = Some(me);
        Ok(state)
    }

    /// After the start (the supervisor is not held up): the sessions a stop interrupted.
    async fn post_start(
        &self,
        _me: ractor::ActorRef<ProcessMsg>,
        state: &mut Self::State,
    ) -> Result<(), ractor::ActorProcessingErr> {
        let sessions = state.store.list_sessions(RESUME_SCAN).await?;
        let left: Vec<Session> = sessions
            .into_iter()
            .filter(|s| {
                s.self_record
                    .as_ref()
                    .is_some_and(|r| r.phase == SelfRecordPhase::Processing)
            })
            .collect();
        if !left.is_empty() {
            tracing::warn!(
                count = left.len(),
                "resuming self-record checks interrupted by a stop"
            );
        }
        for s in left {
            resume(state, s).await;
        }
        Ok(())
    }

    async fn handle(
        &self,
        _me: ractor::ActorRef<ProcessMsg>,
        msg: ProcessMsg,
        state: &mut Self::State,
    ) -> Result<(), ractor::ActorProcessingErr> {
        match msg {
            ProcessMsg::Process(id, input) => match crate::api::load_session(state, id).await {
                Ok(s)
                    if s.self_record
                        .as_ref()
                        .is_some_and(|r| r.phase == SelfRecordPhase::Processing) =>
                {
                    process(state, s, Some(*input)).await
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::error!(session = %id, code = e.code, "self-record session cannot be loaded for its checks")
                }
            },
            #[cfg(feature = "fault-injection")]
            ProcessMsg::InjectPanic => panic!("self-record processor: injected fault"),
        }
        Ok(())
    }

    async fn post_stop(
        &self,
        _me: ractor::ActorRef<ProcessMsg>,
        state: &mut Self::State,
    ) -> Result<(), ractor::ActorProcessingErr> {
        *state.self_record.write().unwrap_or_else(|e| e.into_inner()) = None;
        Ok(())
    }
}

/// A session found `processing` at start: decided already (only the last save was lost), or
/// its checks run again from the kept frames; without them, the result asks for review.
async fn resume(state: &AppState, s: Session) {
    let id = s.id;
    if let Ok(c) = state.cases.get(id, &s.workflow).await {
        if let Some(d) = &c.agent_decision {
            return complete(state, id, d.result).await;
        }
    }
    let input = match (&s.self_record, state.blobs.get(&frames_key(id)).await) {
        (Some(r), Ok(Some(bytes))) => match serde_json::from_slice::<Vec<(Uuid, u64)>>(&bytes) {
            Ok(frames) => face_input(state, id, None, Some((r.challenge_id, frames))).await.map_err(|e| tracing::warn!(session = %id, code = e.code, "self-record frames cannot be loaded again")).ok(),
            Err(_) => None,
        },
        _ => None,
    };
    if input.is_none() {
        tracing::warn!(session = %id, "self-record frames are gone; the result asks for review");
    }
    process(state, s, input).await;
}

/// The face step on the submitted frames, then: `approved` and the session complete when
/// the recommendation approves; otherwise a failed check (record again, or, at
/// `kyc.self_record.max_failed_checks`, a live agent: never an automatic rejection). Without
/// frames (lost in a stop) there is nothing to check again: the result asks for review.
async fn process(state: &AppState, s: Session, input: Option<vkyc_case::StepInput>) {
    let id = s.id;
    let Some(input) = input else {
        return decide_and_complete(state, &s, CaseResult::NeedsReview).await;
    };
    if let Err(e) = state.cases.run(id, &s.workflow, input, system()).await {
        // The attempt is recorded as an error where it could run at all; it counts as a
        // failed check below.
        tracing::warn!(session = %id, code = e.code(), "self-record face step did not complete");
    }
    let approved = matches!(state.cases.get(id, &s.workflow).await,
        Ok(case) if recommend(&case, &state.config.kyc.rules).result == CaseResult::Approved);
    if approved {
        return decide_and_complete(state, &s, CaseResult::Approved).await;
    }
    let max = state.config.kyc.self_record.max_failed_checks;
    let now = Utc::now();
    match update(state, id, move |s| {
        let ev = s.self_record_failed(max, now).map_err(not_processing)?;
        Ok((s.mode, Some(ev)))
    })
    .await
    {
        Ok(SessionMode::LiveAgent) => {
            tracing::info!(session = %id, "self-record checks failed again: handed to a live agent")
        }
        Ok(_) => {
            tracing::info!(session = %id, "self-record checks failed: the customer records again")
        }
        Err(e) => {
            tracing::error!(session = %id, code = e.code, "self-record state could not be saved")
        }
    }
    drop_frames(state, id).await;
}

fn not_processing(e: vkyc_domain::session::NotProcessing) -> ApiError {
    ApiError::conflict("not_processing", e.to_string())
}

/// The system's result, then the session completes.
async fn decide_and_complete(state: &AppState, s: &Session, result: CaseResult) {
    let notes = Some("automatic result of the self-recorded video".to_string());
    if let Err(e) = state
        .cases
        .decide(s.id, &s.workflow, result, notes, system())
        .await
    {
        tracing::error!(session = %s.id, code = e.code(), "self-record result could not be set");
    }
    complete(state, s.id, result).await;
}

/// The checks are over: the session is complete (`self_record.completed`) and the kept frame
/// list goes.
async fn complete(state: &AppState, id: SessionId, result: CaseResult) {
    let now = Utc::now();
    let done = update(state, id, move |s| {
        let ev = s
            .self_record_completed(result, now)
            .map_err(not_processing)?;
        Ok(((), Some(ev)))
    })
    .await;
    match done {
        Ok(()) => drop_frames(state, id).await,
        Err(e) => {
            tracing::error!(session = %id, code = e.code, "self-record state could not be saved")
        }
    }
}

async fn drop_frames(state: &AppState, id: SessionId) {
    if let Err(e) = state.blobs.delete(&frames_key(id)).await {
        tracing::warn!(session = %id, error = %e, "self-record frame list could not be deleted");
    }
}

/// Property tests of the `Content-Range` parser (README: Fuzzing).
#[cfg(test)]
mod fuzz {
    use super::*;
    use crate::fuzz_support::{cases, config};
    use actix_web::http::header::HeaderValue;
    use actix_web::test::TestRequest;
    use proptest::prelude::*;

    /// `content_range` on a request carrying `value` (None: no header at all).
    fn parse(value: Option<HeaderValue>) -> Result<(u64, u64, u64), ApiError> {
        let mut req = TestRequest::default();
        if let Some(v) = value {
            req = req.insert_header((header::CONTENT_RANGE, v));
        }
        content_range(&req.to_http_request())
    }

    /// The invariant of an accepted header: START ≤ END < TOTAL, so the chunk length
    /// `END - START + 1` the handler computes never overflows and fits in the total.
    fn check(r: &Result<(u64, u64, u64), ApiError>) -> Result<(), TestCaseError> {
        match r {
            Ok((a, b, total)) => {
                prop_assert!(a <= b && b < total, "{a}-{b}/{total}");
                prop_assert!((b - a).checked_add(1).is_some_and(|n| n <= *total));
            }
            Err(e) => {
                prop_assert_eq!(e.code, "invalid_content_range");
                prop_assert_eq!(e.status, actix_web::http::StatusCode::BAD_REQUEST);
            }
        }
        Ok(())
    }

    fn nums() -> impl Strategy<Value = u64> {
        prop_oneof![0u64..100, any::<u64>(), Just(u64::MAX), Just(u64::MAX - 1)]
    }

    proptest! {
        #![proptest_config(config(cases()))]

        #[test]
        fn fuzz_content_range_never_panics_on_any_header(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            // Only what HTTP can carry in a header value reaches the parser.
            if let Ok(v) = HeaderValue::from_bytes(&bytes) {
                check(&parse(Some(v)))?;
            }
        }

        #[test]
        fn fuzz_content_range_never_panics_on_range_like_text(text in "(bytes )?[0-9 /*+\\-]{0,40}") {
            check(&parse(Some(HeaderValue::from_str(&text).unwrap())))?;
        }

        #[test]
        fn fuzz_content_range_round_trips(a in nums(), b in nums(), total in nums(), big in "[1-9][0-9]{20}") {
            let header = format!("bytes {a}-{b}/{total}");
            let got = parse(Some(HeaderValue::from_str(&header).unwrap()));
            check(&got)?;
            if a <= b && b < total {
                prop_assert_eq!(got.ok(), Some((a, b, total)), "{}", header);
            } else {
                prop_assert!(got.is_err(), "{header} accepted");
            }
            // Numbers past u64, the unknown total (`*`) and a missing header are refused.
            for bad in [
                format!("bytes {big}-{b}/{total}"),
                format!("bytes {a}-{big}/{total}"),
                format!("bytes {a}-{b}/{big}"),
                format!("bytes {a}-{b}/*"),
                format!("bytes */{total}"),
                format!("{a}-{b}/{total}"),
            ] {
                let r = parse(Some(HeaderValue::from_str(&bad).unwrap()));
                check(&r)?;
                prop_assert!(r.is_err(), "{bad} accepted");
            }
            prop_assert!(parse(None).is_err());
        }
    }
}
