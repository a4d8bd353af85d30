//! The KYC workflow API: step runs, step decisions, the agent's decision, the audit, and the
//! case with its recommendation. Each call goes to the session's `CaseActor`
//! (`vkyc_case`), which serialises changes to one case and stores each with its event.
//!
//! | call | who |
//! | --- | --- |
//! | `POST /v1/sessions/{id}/steps/{type}/attempts` | consent, location: customer or agent token, or api key; document, face: agent token or api key |
//! | `POST /v1/sessions/{id}/steps/{type}/decision` | agent token or api key |
//! | `POST /v1/sessions/{id}/decision` | agent token or api key |
//! | `POST /v1/sessions/{id}/audit` | observer (auditor) token only: the agent's key cannot audit its own case |
//! | `GET  /v1/sessions/{id}/kyc` | api key, agent or observer token |

use actix_web::dev::Payload;
use actix_web::{get, post, web, FromRequest, HttpRequest, HttpResponse};
use futures_util::future::LocalBoxFuture;
use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;
use uuid::Uuid;
use vkyc_case::{CaseError, LivenessFrames, StepInput};
use vkyc_domain::kyc::{recommend, AuditVerdict, CaseResult, KycCase, StepType, Verdict};
use vkyc_domain::step_data::AnswerInput;
use vkyc_domain::step_input::{check_answers, ConsentVersion, NoPosition, OtpCode, Position};
use vkyc_domain::Role;
use vkyc_domain::SessionId;
use vkyc_vision::idcard::DocumentKind;

use crate::access::{
    AgentOnly, AgentOrCustomer, AgentOrObserver, AuditorOnly, OrStaff, SessionCaller,
};
use crate::api::load_session as session;
use crate::error::{ApiError, AuthErrors, BodyErrors, ErrorBody};
use crate::extract::ValidJson;
use crate::openapi::*;
use crate::startup::AppState;
use crate::store::CaptureKind;
use vkyc_domain::activity::ActivityAction;

pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(run_step)
        .service(decide_step)
        .service(decide)
        .service(audit)
        .service(get_case);
}

pub fn case_error(e: CaseError) -> ApiError {
    use actix_web::http::StatusCode;
    match e {
        CaseError::NotInWorkflow(_) => {
            ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, e.code(), e.to_string())
        }
        CaseError::NoChallenge => ApiError::not_found(e.code(), e.to_string()),
        CaseError::StepBusy(_)
        | CaseError::NotDecided
        | CaseError::AlreadyDecided
        | CaseError::NoOtp
        | CaseError::RetriesExhausted(_) => ApiError::conflict(e.code(), e.to_string()),
        CaseError::Notify(_) => ApiError::new(StatusCode::BAD_GATEWAY, e.code(), e.to_string()),
        CaseError::StepFailed | CaseError::Inference(_) => {
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, e.code(), e.to_string())
        }
        CaseError::Store(_) | CaseError::Unavailable(_) => ApiError::internal("case", e),
    }
}

fn parse_step(s: &str) -> Result<StepType, ApiError> {
    serde_json::from_value(json!(s)).map_err(|_| {
        ApiError::not_found(
            "unknown_step",
            format!("no step type {s:?} (consent, location, otp, questions, document, face)"),
        )
    })
}

/// The body of a call on one step (`…/steps/{step}/…`) and the step it names: the body is
/// read first, then the step (404 `unknown_step`), as the API has always answered.
struct StepRequest<T> {
    step: StepType,
    body: T,
}

impl<T: serde::de::DeserializeOwned + 'static> FromRequest for StepRequest<T> {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let body = ValidJson::<T>::from_request(req, payload);
        let step = req.match_info().get("step").unwrap_or_default().to_string();
        Box::pin(async move {
            let body = body.await?.into_inner();
            Ok(Self {
                step: parse_step(&step)?,
                body,
            })
        })
    }
}

/// A step's input, as JSON. The fields needed depend on the step type: consent
/// `{"text_version","given"}`; location `{"latitude","longitude","accuracy_m"?}` or
/// `{"error"}`; otp `{"action":"send"}` or `{"code"}`; questions `{"answers"}`; document
/// `{"capture_id","kind"}`; face `{"capture_id"}` and/or `{"liveness"}`, or
/// `{"action":"challenge"}`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct StepBody {
    // consent
    text_version: Option<String>,
    given: Option<bool>,
    // location
    latitude: Option<f64>,
    longitude: Option<f64>,
    accuracy_m: Option<f64>,
    error: Option<String>,
    // document, face
    capture_id: Option<Uuid>,
    kind: Option<DocumentKind>,
    // otp: {"action":"send"} or {"code":"123456"}; face: {"action":"challenge"} issues a
    // head-movement challenge (prompted on the customer's page)
    action: Option<String>,
    // face: the frames recorded while the customer followed the challenge
    liveness: Option<LivenessBody>,
    code: Option<String>,
    // questions: [{"id","value"}]
    answers: Option<Vec<AnswerBody>>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = LivenessFrames)]
struct LivenessBody {
    challenge_id: Uuid,
    /// Captures of kind `frame`, in order, with the milliseconds since the first one.
    frames: Vec<FrameRef>,
}

/// A frame of a liveness series: a capture of kind `frame` and its time.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FrameRef {
    pub capture_id: Uuid,
    pub t_ms: u64,
}

/// How long the customer's page shows each move of a challenge.
pub const SECONDS_PER_MOVE: u64 = 3;

/// An answer to one of the session's questions (its `questions`, drawn from a question bank).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct AnswerBody {
    id: String,
    value: String,
}

fn need<T>(v: Option<T>, field: &str) -> Result<T, ApiError> {
    v.ok_or_else(|| ApiError::validation(format!("{field}: required for this step")))
}

/// Run a step: every run is an attempt, appended to the step (retakes never overwrite). The
/// customer's token may run consent, location and an OTP verification; everything else needs
/// the agent's token or the API key.
#[utoipa::path(tag = "kyc", operation_id = "run_step", params(("id" = Uuid, Path, description = "The session"), ("step" = StepType, Path, description = "The step type")), request_body = StepBody, security(("api_key" = []), ("join_token" = ["agent", "customer"])),
    responses((status = 201, description = "The attempt recorded, or (face, `{\"action\":\"challenge\"}`) the challenge issued", body = StepRunDoc), (status = 202, description = "`{\"action\":\"send\"}` on otp: the code was sent", body = OtpSentDoc), AuthErrors, (status = 400, description = "`malformed_json`, `invalid_path`", body = ErrorBody), (status = 413, description = "`payload_too_large`", body = ErrorBody), (status = 415, description = "`unsupported_media_type`", body = ErrorBody), (status = 422, description = "`validation_failed` (the message names the field), `step_not_in_workflow`, and the image codes of a document or face check: `image_unsupported`, `no_face`, …", body = ErrorBody), (status = 404, description = "`session_not_found`, `unknown_step`, `capture_not_found`, `challenge_not_found`", body = ErrorBody), (status = 409, description = "`session_closed`, `already_decided` (the agent has decided; again open after a `recapture` audit), `step_busy`, `otp_not_sent`", body = ErrorBody), (status = 502, description = "`otp_delivery_failed`: the OTP could not be sent", body = ErrorBody), (status = 503, description = "`step_failed` (the step crashed; the attempt is kept as an error, retake it), `inference_unavailable`", body = ErrorBody)))]
#[post("/sessions/{id}/steps/{step}/attempts")]
async fn run_step(
    req: actix_web::HttpRequest,
    state: web::Data<AppState>,
    SessionCaller {
        caller,
        session: s,
        body: StepRequest { step, body: b },
        ..
    }: SessionCaller<AgentOrCustomer, StepRequest<StepBody>>,
) -> Result<HttpResponse, ApiError> {
    let id = s.id;
    let sending = step == StepType::Otp && b.action.as_deref() == Some("send");
    let challenge = step == StepType::Face && b.action.as_deref() == Some("challenge");
    let roles: &[Role] = match step {
        StepType::Otp if sending => &[Role::Agent],
        StepType::Face if challenge => &[Role::Agent],
        StepType::Consent | StepType::Location | StepType::Otp => &[Role::Agent, Role::Customer],
        _ => &[Role::Agent],
    };
    caller.require_role(roles)?;
    if step == StepType::Otp {
        state.limits.otp_attempt(&req, id)?;
    }
    if s.status.is_final() && s.status != vkyc_domain::session::SessionStatus::Completed {
        return Err(ApiError::conflict(
            "session_closed",
            "this session is cancelled or expired",
        ));
    }
    if sending {
        let ttl = state
            .cases
            .send_otp(id, &s.workflow, caller.principal())
            .await
            .map_err(case_error)?;
        return Ok(HttpResponse::Accepted()
            .json(json!({"step": step, "sent": true, "expires_in_secs": ttl})));
    }
    if challenge {
        let c = state
            .cases
            .start_challenge(id, &s.workflow, caller.principal())
            .await
            .map_err(case_error)?;
        let prompt = json!({"kind": "liveness", "challenge_id": c.challenge_id, "moves": c.moves, "seconds_per_move": SECONDS_PER_MOVE});
        let notified = state
            .rooms
            .notify(
                s.room_id(),
                s.id,
                &[Role::Customer],
                vkyc_call::signal::ServerMsg::Prompt { prompt },
            )
            .await;
        return Ok(HttpResponse::Created().json(json!({"step": step, "challenge": c, "seconds_per_move": SECONDS_PER_MOVE, "customers_prompted": notified})));
    }
    if let Some(a) = b.action.as_deref().filter(|_| step == StepType::Face) {
        return Err(ApiError::validation(format!(
            "action: only \"challenge\" for face (got {a:?})"
        )));
    }
    let input = match step {
        StepType::Otp => {
            if let Some(a) = b.action {
                return Err(ApiError::validation(format!(
                    "action: only \"send\" (got {a:?}); to verify, send {{\"code\": …}}"
                )));
            }
            StepInput::OtpVerify {
                code: OtpCode::parse(need(b.code, "code")?, state.config.kyc.otp.digits)?,
            }
        }
        StepType::Questions => {
            let answers = need(b.answers, "answers")?;
            let questions = &s.questions;
            if questions.is_empty() {
                return Err(ApiError::conflict(
                    "no_questions",
                    "this session has no questions to ask (it was created without a question bank)",
                ));
            }
            check_answers(
                answers.iter().map(|a| (a.id.as_str(), a.value.as_str())),
                |id| questions.iter().any(|q| q.id.as_str() == id),
            )?;
            // Every attempt holds every question the session asks: the ones not sent keep
            // their latest recorded value, so the latest attempt is complete on its own.
            let case = stored_case(&state, &s).await?;
            let latest = case
                .step(StepType::Questions)
                .and_then(|st| st.latest())
                .and_then(|a| a.questions());
            let previous = |id: &str| latest.and_then(|q| q.value(id)).unwrap_or("").to_string();
            let out = questions
                .iter()
                .map(|q| AnswerInput {
                    id: q.id.to_string(),
                    question: q.text.clone(),
                    expected: q.expected.clone(),
                    value: answers
                        .iter()
                        .rev()
                        .find(|a| a.id == q.id.as_str())
                        .map(|a| a.value.clone())
                        .unwrap_or_else(|| previous(q.id.as_str())),
                })
                .collect();
            StepInput::Questions { answers: out }
        }
        StepType::Consent => {
            let text_version = ConsentVersion::parse(
                need(b.text_version, "text_version")?,
                &state.config.kyc.consent_versions,
            )?;
            StepInput::Consent {
                text_version,
                given: need(b.given, "given")?,
            }
        }
        StepType::Location => match (b.latitude, b.longitude) {
            (Some(lat), Some(lon)) => {
                StepInput::Location(Ok(Position::new(lat, lon, b.accuracy_m)?))
            }
            (None, None) => StepInput::Location(Err(NoPosition::parse(need(
                b.error,
                "latitude and longitude, or error",
            )?)?)),
            _ => return Err(ApiError::validation("give both latitude and longitude")),
        },
        StepType::Document => {
            let capture_id = need(b.capture_id, "capture_id")?;
            let (_, image) = crate::captures::load(&state, id, capture_id).await?;
            StepInput::Document {
                capture_id,
                kind: need(b.kind, "kind")?,
                image,
                expected_name: s.applicant.name.as_str().to_string(),
            }
        }
        StepType::Face => {
            if b.capture_id.is_none() && b.liveness.is_none() {
                return Err(ApiError::validation(
                    "capture_id: required for this step (or liveness frames)",
                ));
            }
            let liveness = b.liveness.map(|l| {
                (
                    l.challenge_id,
                    l.frames
                        .into_iter()
                        .map(|f| (f.capture_id, f.t_ms))
                        .collect(),
                )
            });
            face_input(&state, id, b.capture_id, liveness).await?
        }
    };
    let attempt = state
        .cases
        .run(id, &s.workflow, input, caller.principal())
        .await
        .map_err(case_error)?;
    Ok(HttpResponse::Created().json(json!({"step": step, "attempt": attempt})))
}

/// The face step's input: the probe capture and/or the liveness frames (capture ids with
/// their times), with the session's `reference` captures to compare against.
pub async fn face_input(
    state: &AppState,
    id: SessionId,
    probe: Option<Uuid>,
    liveness: Option<(Uuid, Vec<(Uuid, u64)>)>,
) -> Result<StepInput, ApiError> {
    let probe = match probe {
        Some(c) => Some((c, crate::captures::load(state, id, c).await?.1)),
        None => None,
    };
    let liveness = match liveness {
        None => None,
        Some((challenge_id, refs)) => {
            let ch = &state.config.liveness.challenge;
            if refs.len() < ch.min_frames || refs.len() > ch.max_frames {
                return Err(ApiError::validation(format!(
                    "liveness.frames: {} to {} frames",
                    ch.min_frames, ch.max_frames
                )));
            }
            let mut frames = Vec::with_capacity(refs.len());
            for (capture_id, t_ms) in refs {
                frames.push((
                    capture_id,
                    t_ms,
                    crate::captures::load(state, id, capture_id).await?.1,
                ));
            }
            Some(LivenessFrames {
                challenge_id,
                frames,
            })
        }
    };
    // The lender's reference images (captures of kind `reference`) are compared too.
    let mut references = Vec::new();
    for c in state
        .store
        .list_captures(id)
        .await
        .map_err(|e| ApiError::internal("list_captures", e))?
    {
        if c.kind == CaptureKind::Reference {
            let (_, bytes) = crate::captures::load(state, id, c.id).await?;
            references.push((format!("reference:{}", c.id), bytes));
        }
    }
    Ok(StepInput::Face {
        probe,
        references,
        liveness,
    })
}

/// A decision with optional notes (at most 2000 characters).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct DecisionBody<T> {
    /// Also accepted as `result`.
    #[serde(alias = "result")]
    verdict: T,
    notes: Option<String>,
}

fn notes(n: Option<String>) -> Result<Option<String>, ApiError> {
    match n {
        Some(n) if n.chars().count() > 2000 => {
            Err(ApiError::validation("notes: at most 2000 characters"))
        }
        Some(n) if n.trim().is_empty() => Ok(None),
        n => Ok(n),
    }
}

/// The agent's verdict on one step.
#[utoipa::path(tag = "kyc", params(("id" = Uuid, Path, description = "The session"), ("step" = StepType, Path, description = "The step type")), request_body = DecisionBody<Verdict>, security(("api_key" = []), ("join_token" = ["agent"])),
    responses((status = 200, description = "The case document", body = CaseDocumentDoc), AuthErrors, BodyErrors, (status = 404, description = "`session_not_found`, `unknown_step`", body = ErrorBody), (status = 409, description = "`already_decided`", body = ErrorBody)))]
#[post("/sessions/{id}/steps/{step}/decision")]
async fn decide_step(
    req: actix_web::HttpRequest,
    state: web::Data<AppState>,
    SessionCaller {
        caller,
        session: s,
        body: StepRequest { step, body: b },
        ..
    }: SessionCaller<AgentOnly, StepRequest<DecisionBody<Verdict>>>,
) -> Result<HttpResponse, ApiError> {
    let case = state
        .cases
        .decide_step(
            s.id,
            &s.workflow,
            step,
            b.verdict,
            notes(b.notes)?,
            caller.principal(),
        )
        .await
        .map_err(case_error)?;
    let what = format!(
        "{} {}",
        step.as_str(),
        crate::activity::wire_name(&b.verdict)
    );
    crate::activity::record(
        &state,
        &req,
        &caller,
        s.id,
        ActivityAction::StepDecided,
        Some(what),
    )
    .await?;
    Ok(HttpResponse::Ok().json(case_document(&state, &case)))
}

/// The agent's decision on the case (a group is decided on its parent, for every applicant).
/// Once; again only after a `recapture` audit.
#[utoipa::path(tag = "kyc", operation_id = "decide_case", params(("id" = Uuid, Path, description = "The session")), request_body = DecisionBody<CaseResult>, security(("api_key" = []), ("join_token" = ["agent"])),
    responses((status = 200, description = "The case document", body = CaseDocumentDoc), AuthErrors, BodyErrors, (status = 404, description = "`session_not_found`", body = ErrorBody), (status = 409, description = "`already_decided`, `decide_on_parent` (an applicant of a group call)", body = ErrorBody)))]
#[post("/sessions/{id}/decision")]
async fn decide(
    req: actix_web::HttpRequest,
    state: web::Data<AppState>,
    SessionCaller {
        caller,
        session: s,
        body: ValidJson(b),
        ..
    }: SessionCaller<AgentOnly, ValidJson<DecisionBody<CaseResult>>>,
) -> Result<HttpResponse, ApiError> {
    if b.verdict == CaseResult::NeedsReview {
        return Err(ApiError::validation("result: approved or declined"));
    }
    if let Some(parent) = s.parent_id {
        return Err(ApiError::conflict(
            "decide_on_parent",
            format!("this applicant is part of a group call: decide the group's session {parent}"),
        ));
    }
    let notes = notes(b.notes)?;
    // A group is decided as one: every applicant's case carries the agent's decision.
    for child in &s.participants {
        let c = session(&state, *child).await?;
        match state
            .cases
            .decide(
                c.id,
                &c.workflow,
                b.verdict,
                notes.clone(),
                caller.principal(),
            )
            .await
        {
            Ok(_) | Err(CaseError::AlreadyDecided) => {}
            Err(e) => return Err(case_error(e)),
        }
    }
    let case = state
        .cases
        .decide(s.id, &s.workflow, b.verdict, notes, caller.principal())
        .await
        .map_err(case_error)?;
    let what = Some(crate::activity::wire_name(&b.verdict));
    crate::activity::record(
        &state,
        &req,
        &caller,
        s.id,
        ActivityAction::CaseDecided,
        what,
    )
    .await?;
    Ok(HttpResponse::Ok().json(case_document(&state, &case)))
}

/// The auditor's verdict, after the agent's decision. Only an observer (auditor) token of the
/// session: the API key (the agent console's) may not audit.
#[utoipa::path(tag = "kyc", operation_id = "audit_case", params(("id" = Uuid, Path, description = "The session")), request_body = DecisionBody<AuditVerdict>, security(("join_token" = ["observer"])),
    responses((status = 200, description = "The case document", body = CaseDocumentDoc), AuthErrors, BodyErrors, (status = 404, description = "`session_not_found`", body = ErrorBody), (status = 409, description = "`not_decided`: the agent has not decided yet", body = ErrorBody)))]
#[post("/sessions/{id}/audit")]
async fn audit(
    req: actix_web::HttpRequest,
    state: web::Data<AppState>,
    SessionCaller {
        caller,
        session: s,
        body: ValidJson(b),
        ..
    }: SessionCaller<AuditorOnly, ValidJson<DecisionBody<AuditVerdict>>>,
) -> Result<HttpResponse, ApiError> {
    let case = state
        .cases
        .audit(
            s.id,
            &s.workflow,
            b.verdict,
            notes(b.notes)?,
            caller.principal(),
        )
        .await
        .map_err(case_error)?;
    let what = Some(crate::activity::wire_name(&b.verdict));
    crate::activity::record(&state, &req, &caller, s.id, ActivityAction::Audited, what).await?;
    Ok(HttpResponse::Ok().json(case_document(&state, &case)))
}

/// The case document, with the configured questions.
#[utoipa::path(tag = "kyc", params(("id" = Uuid, Path, description = "The session")), security(("api_key" = []), ("join_token" = ["agent", "observer"]), ("console" = [])),
    responses((status = 200, description = "The case document", body = CaseDocumentDoc), AuthErrors, (status = 404, description = "`session_not_found`", body = ErrorBody)))]
#[get("/sessions/{id}/kyc")]
async fn get_case(
    req: actix_web::HttpRequest,
    state: web::Data<AppState>,
    SessionCaller {
        session: s, caller, ..
    }: SessionCaller<OrStaff<AgentOrObserver>>,
) -> Result<HttpResponse, ApiError> {
    let case = stored_case(&state, &s).await?;
    crate::activity::record(&state, &req, &caller, s.id, ActivityAction::CaseRead, None).await?;
    let mut doc = case_document(&state, &case);
    // The questions the agent asks in this session, for the console.
    doc["questions"] = json!(s.questions);
    Ok(HttpResponse::Ok().json(doc))
}

/// The case as stored (every change is saved before it is answered, so this is current),
/// without starting a case actor just to read it.
pub async fn stored_case(
    state: &AppState,
    s: &vkyc_domain::session::Session,
) -> Result<KycCase, ApiError> {
    Ok(state
        .store
        .load_case(s.id)
        .await
        .map_err(|e| ApiError::internal("load_case", e))?
        .unwrap_or_else(|| KycCase::new(s.id, s.workflow.clone())))
}

/// A group call's consolidated view (on the parent): each applicant's session, result and
/// recommendation, and the group's recommendation — the most severe of them all.
pub async fn group_document(
    state: &AppState,
    parent: &vkyc_domain::session::Session,
    parent_case: &KycCase,
) -> Result<serde_json::Value, ApiError> {
    let rank = |r: CaseResult| match r {
        CaseResult::Approved => 0,
        CaseResult::NeedsReview => 1,
        CaseResult::Declined => 2,
    };
    let mut worst = recommend(parent_case, &state.config.kyc.rules).result;
    let mut members = vec![];
    for id in &parent.participants {
        let Some(child) = state
            .store
            .get_session(*id)
            .await
            .map_err(|e| ApiError::internal("get_session", e))?
        else {
            continue;
        };
        let case = stored_case(state, &child).await?;
        let doc = case_document(state, &case);
        let rec = recommend(&case, &state.config.kyc.rules).result;
        if rank(rec) > rank(worst) {
            worst = rec;
        }
        members.push(json!({
            "session_id": child.id, "applicant": child.applicant, "status": child.status, "workflow": child.workflow,
            "result": doc["result"], "recommendation": doc["recommendation"],
            "face_match_score": doc["face_match_score"], "liveness_score": doc["liveness_score"], "name_match_score": doc["name_match_score"],
        }));
    }
    Ok(json!({"participants": members, "recommendation": worst}))
}

/// The case with what a lender needs at a glance: the result so far, the recommendation and
/// the headline scores.
pub fn case_document(state: &AppState, case: &KycCase) -> serde_json::Value {
    let rec = recommend(case, &state.config.kyc.rules);
    let result = match (case.audits.last().map(|a| a.verdict), &case.agent_decision) {
        (Some(AuditVerdict::Declined), _) => Some(CaseResult::Declined),
        (Some(AuditVerdict::Recapture), _) => Some(CaseResult::NeedsReview),
        (_, Some(d)) => Some(d.result),
        (_, None) => None,
    };
    json!({
        "result": result,
        "audited": case.audits.last().is_some_and(|a| a.verdict != AuditVerdict::Recapture),
        "stage": case.stage(),
        "recommendation": rec,
        "face_match_score": case.face_match_score(),
        "liveness_score": case.liveness_score(),
        "name_match_score": case.name_match_score(),
        "workflow": case.workflow,
        "steps": case.steps,
        "agent_decision": case.agent_decision,
        "audits": case.audits,
    })
}
