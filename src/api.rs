//! The REST API under `/v1` (see PROTOCOL.md), plus `/healthz` and `/readyz`.

use actix_web::{get, post, web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::json;
use utoipa::{IntoParams, ToSchema};
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;
use vkyc_domain::Role;
use vkyc_domain::SessionId;

use crate::access::{
    AgentOnly, AnyRole, AnyStaff, Backend, CallStaff, Caller, KeyOrConsole, KeyOrStaff, OrStaff,
    SessionCaller,
};
use crate::error::{ApiError, AuthErrors, BodyErrors, ErrorBody};
use crate::extract::ValidJson;
use crate::openapi::*;
use crate::startup::AppState;
use vkyc_domain::desk::user::{StaffRole, UserRef};
use vkyc_domain::kyc::StepType;
use vkyc_domain::session::{NewSession, Reference, Session};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(healthz))
        .route("/readyz", web::get().to(readyz))
        .route("/metrics", web::get().to(crate::metrics::scrape))
        .service(v1_scope());
}

/// `/v1`: the one route table of the API. Every service here is documented by its
/// `#[utoipa::path]`, and the OpenAPI document is collected from this scope
/// ([`crate::openapi::document`]).
pub fn v1_scope() -> utoipa_actix_web::scope::Scope<
    impl actix_web::dev::ServiceFactory<
        actix_web::dev::ServiceRequest,
        Config = (),
        Response = actix_web::dev::ServiceResponse,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    utoipa_actix_web::scope("/v1").configure(v1)
}

fn v1(cfg: &mut ServiceConfig) {
    cfg.service(create_session)
        .service(list_sessions)
        .service(get_session)
        .service(issue_token)
        .service(cancel_session)
        .service(session_schema)
        .service(crate::openapi::openapi_json)
        .service(list_rooms)
        .service(end_room)
        .service(list_events)
        .service(rtc)
        .configure(crate::verify::routes)
        .configure(crate::captures::routes)
        .configure(crate::kyc_api::routes)
        .configure(crate::questions_api::routes)
        .configure(crate::activity::routes)
        .configure(crate::retention::routes)
        .configure(crate::self_record::routes)
        .configure(crate::recordings::routes)
        .configure(crate::webhooks::api::routes)
        .configure(crate::desk::auth_api::routes)
        .configure(crate::desk::users_api::routes)
        .configure(crate::desk::desk_api::routes);
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

/// Ready when the store answers and every component of the supervision tree is running;
/// otherwise 503 with the reasons. `components` is the tree, ready or not.
async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let mut reasons = Vec::new();
    if let Err(e) = state.store.events_after(u64::MAX - 1, 1).await {
        tracing::error!(error = %e, "store not ready");
        reasons.push("store".to_string());
    }
    reasons.extend(state.tree.health.not_ready());
    let components = state.tree.health.snapshot();
    if reasons.is_empty() {
        HttpResponse::Ok().json(json!({"status": "ready", "components": components}))
    } else {
        HttpResponse::ServiceUnavailable().json(json!({"status": "not_ready", "reason": reasons.join("; "), "reasons": reasons, "components": components}))
    }
}

/// The session, or 404 `session_not_found`.
pub async fn load_session(state: &AppState, id: SessionId) -> Result<Session, ApiError> {
    state
        .store
        .get_session(id)
        .await
        .map_err(|e| ApiError::internal("get_session", e))?
        .ok_or_else(ApiError::session_not_found)
}

/// A page size from the query: `default` when not given, otherwise 1 to `max`
/// (`invalid_query` outside).
pub fn page_limit(limit: Option<usize>, default: usize, max: usize) -> Result<usize, ApiError> {
    let limit = limit.unwrap_or(default);
    if !(1..=max).contains(&limit) {
        return Err(ApiError::bad_request(
            "invalid_query",
            format!("limit must be between 1 and {max}"),
        ));
    }
    Ok(limit)
}

/// Create a session. Personal data (the applicant) is never logged nor put in events.
#[utoipa::path(tag = "sessions", request_body = NewSession, security(("api_key" = []), ("console" = ["agent", "supervisor", "admin"])),
    responses((status = 201, description = "The new session", body = Session), AuthErrors, BodyErrors, (status = 409, description = "A group applicant (`parent_id`): `parent_not_found`, `parent_is_child` (groups are flat), `parent_closed`, `too_many_participants` (10 applicants per call)", body = ErrorBody)))]
#[post("/sessions")]
async fn create_session(
    state: web::Data<AppState>,
    KeyOrConsole {
        body: ValidJson(body),
        ..
    }: KeyOrConsole<CallStaff, ValidJson<NewSession>>,
) -> Result<HttpResponse, ApiError> {
    let asked = body.questions.clone().unwrap_or_default();
    let mut session = Session::create(
        body,
        state.config.kyc.session_ttl_secs,
        &state.config.kyc.self_record,
        chrono::Utc::now(),
    )
    .map_err(|e| ApiError::validation(e.0))?;
    if session.workflow.contains(&StepType::Questions) {
        let bank = crate::questions_api::bank_for_session(&state, asked.bank.as_ref()).await?;
        session
            .ask(&bank, &asked.expected, &mut rand::thread_rng())
            .map_err(|e| ApiError::validation(e.0))?;
    }
    state
        .store
        .create_session(&session)
        .await
        .map_err(|e| match e {
            crate::store::StoreError::Conflict(code, msg) => ApiError::conflict(code, msg),
            e => ApiError::internal("create_session", e),
        })?;
    tracing::info!(session = %session.id, "session created");
    Ok(HttpResponse::Created().json(session))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    /// 1 to 500 (default 50).
    limit: Option<usize>,
}

/// The latest sessions, newest first. A signed-in agent sees the sessions assigned to them and
/// those not assigned yet; supervisors, auditors and admins see all.
#[utoipa::path(tag = "sessions", params(ListQuery), security(("api_key" = []), ("console" = [])),
    responses((status = 200, description = "The sessions", body = SessionListDoc), AuthErrors, (status = 400, description = "`invalid_query`: `limit` outside 1 to 500, or an unknown parameter", body = ErrorBody)))]
#[get("/sessions")]
async fn list_sessions(
    state: web::Data<AppState>,
    q: web::Query<ListQuery>,
    KeyOrConsole { caller, .. }: KeyOrConsole<AnyStaff>,
) -> Result<HttpResponse, ApiError> {
    let limit = page_limit(q.limit, 50, 500)?;
    let mut sessions = state
        .store
        .list_sessions(limit)
        .await
        .map_err(|e| ApiError::internal("list_sessions", e))?;
    if let Caller::Staff(staff) = &caller {
        sessions.retain(|s| crate::access::staff_may_see(staff, s).is_ok());
    }
    Ok(HttpResponse::Ok().json(json!({ "sessions": sessions })))
}

/// A session. For the API key, the agent and the observer it carries the KYC case document
/// as `kyc` (and `group` on a group's parent); the customer's token gets the session only.
#[utoipa::path(tag = "sessions", params(("id" = Uuid, Path, description = "The session")), security(("api_key" = []), ("join_token" = ["agent", "customer", "observer"]), ("console" = [])),
    responses((status = 200, description = "The session document", body = SessionDocumentDoc), AuthErrors, (status = 404, description = "`session_not_found`", body = ErrorBody)))]
#[get("/sessions/{id}")]
async fn get_session(
    state: web::Data<AppState>,
    SessionCaller {
        caller, session, ..
    }: SessionCaller<OrStaff<AnyRole>>,
) -> Result<HttpResponse, ApiError> {
    let mut doc =
        serde_json::to_value(&session).map_err(|e| ApiError::internal("session json", e))?;
    // The result document: the KYC case for everyone but the customer, who is not told the
    // questions before they are asked, nor what the lender expects.
    if caller.role() == Some(Role::Customer) {
        if let Some(o) = doc.as_object_mut() {
            o.remove("questions");
            o.remove("question_bank");
        }
    } else {
        let case = crate::kyc_api::stored_case(&state, &session).await?;
        doc["kyc"] = crate::kyc_api::case_document(&state, &case);
        // The auditor of the latest audit, named (an observer token issued to a signed-in
        // auditor is `observer-<user id>`).
        if let Some(auditor) = auditor_of(&state, &case).await {
            doc["auditor"] = json!(auditor);
        }
        if !session.participants.is_empty() {
            doc["group"] = crate::kyc_api::group_document(&state, &session, &case).await?;
        }
    }
    Ok(HttpResponse::Ok().json(doc))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct TokenRequest {
    role: Role,
    /// Default: `agent` / `customer` (one of each per session), `observer-<8 hex>`.
    #[serde(default)]
    participant_id: Option<Reference>,
    /// 1 to `auth.max_token_ttl_secs` (default `auth.token_ttl_secs`).
    #[serde(default)]
    ttl_seconds: Option<u64>,
}

/// Issue a join token for one participant of the session. A signed-in console gets: an agent
/// token for the agent themselves (their user id is the participant; the session is assigned
/// to them if it was not, else 403 `assigned_to_another_agent`), a customer token (the link
/// to send) for a session it may run, an observer token for an auditor (not of a session they
/// are the agent of: 403 `maker_checker`) or a supervisor (a silent observer).
#[utoipa::path(tag = "sessions", params(("id" = Uuid, Path, description = "The session")), request_body = TokenRequest, security(("api_key" = []), ("console" = [])),
    responses((status = 201, description = "The token and the join link", body = IssuedTokenDoc), AuthErrors, BodyErrors, (status = 404, description = "`session_not_found`", body = ErrorBody), (status = 409, description = "`session_closed`: the session has ended", body = ErrorBody)))]
#[post("/sessions/{id}/tokens")]
async fn issue_token(
    state: web::Data<AppState>,
    SessionCaller {
        caller,
        session,
        body: ValidJson(body),
        ..
    }: SessionCaller<KeyOrStaff, ValidJson<TokenRequest>>,
) -> Result<HttpResponse, ApiError> {
    if session.status.is_final() {
        return Err(ApiError::conflict(
            "session_closed",
            "this session has ended; no new join tokens",
        ));
    }
    let ttl = body.ttl_seconds.unwrap_or(state.config.auth.token_ttl_secs);
    if ttl == 0 || ttl > state.config.auth.max_token_ttl_secs {
        return Err(ApiError::validation(format!(
            "ttl_seconds must be between 1 and {}",
            state.config.auth.max_token_ttl_secs
        )));
    }
    let console_participant = match &caller {
        Caller::Staff(staff) => console_token(&state, staff, &session, &body).await?,
        _ => None,
    };
    // A participant id names one role: a customer cannot be issued "agent" (and take the
    // agent's place in the call), nor anyone else another role's id.
    if let Some(p) = body.participant_id.clone().map(String::from) {
        let p = p.as_str();
        let other_role = match body.role {
            Role::Agent => p == "customer" || p.starts_with("observer"),
            Role::Customer => p == "agent" || p.starts_with("observer"),
            Role::Observer => p == "agent" || p == "customer",
        };
        if other_role {
            return Err(ApiError::new(
                actix_web::http::StatusCode::UNPROCESSABLE_ENTITY,
                "participant_role_mismatch",
                format!(
                    "participant_id {p:?} names another role than {}",
                    body.role.as_str()
                ),
            ));
        }
    }
    // One agent and one customer by default; observers are individuals.
    let participant = match console_participant.or(body.participant_id.map(String::from)) {
        Some(p) => p,
        None => match body.role {
            Role::Observer => format!("observer-{}", &Uuid::new_v4().simple().to_string()[..8]),
            r => r.as_str().to_string(),
        },
    };
    let (token, expires_at) = state.auth.issue(session.id, &participant, body.role, ttl);
    let join_url = format!("{}/join#token={}", state.public_url, token);
    Ok(HttpResponse::Created().json(json!({
        "token": token,
        "role": body.role,
        "participant_id": participant,
        "session_id": session.id,
        "expires_at": expires_at,
        "join_url": join_url,
    })))
}

/// The staff member who made the case's latest audit, if a signed-in auditor did.
async fn auditor_of(state: &AppState, case: &vkyc_domain::kyc::KycCase) -> Option<UserRef> {
    let vkyc_domain::kyc::Principal::Participant { id, .. } = &case.audits.last()?.by else {
        return None;
    };
    let user = id
        .strip_prefix("observer-")?
        .parse::<vkyc_domain::UserId>()
        .ok()?;
    let record = state.store.get_user(user).await.ok()??;
    Some(UserRef::from(&record.user))
}

/// The rules of a join token asked for by a signed-in console (see `issue_token`): the
/// participant id to put in it (`None`: the default for its role).
async fn console_token(
    state: &AppState,
    staff: &crate::desk::console::Staff,
    session: &Session,
    body: &TokenRequest,
) -> Result<Option<String>, ApiError> {
    let me = staff.user.id.to_string();
    let refuse = |m: &str| Err(ApiError::forbidden("forbidden_role", m.to_string()));
    match body.role {
        Role::Agent => {
            if !staff.has(StaffRole::Agent) {
                return refuse("only an agent's account may take a session as its agent");
            }
            if body
                .participant_id
                .as_ref()
                .is_some_and(|p| String::from(p.clone()) != me)
            {
                return refuse("a console's agent token is its own (no participant_id)");
            }
            let agent = UserRef::from(&staff.user);
            let assigned = state
                .store
                .update_session(session.id, move |s| {
                    let changed = s.assign(&agent, chrono::Utc::now())?;
                    Ok::<_, vkyc_domain::session::AssignedElsewhere>((changed, None))
                })
                .await
                .map_err(|e| ApiError::internal("assign", e))?
                .ok_or_else(ApiError::session_not_found)?;
            match assigned {
                Ok(true) => {
                    tracing::info!(session = %session.id, agent = %staff.user.id, "session assigned");
                    // Taken by hand while waiting in the queue: it leaves the queue (not_waiting
                    // when it was not queued).
                    if let Err(e) = state.desk.taken(session.id, staff.user.id).await {
                        if e.code() != "not_waiting" {
                            tracing::warn!(session = %session.id, code = e.code(), "the queue did not hear a session was taken");
                        }
                    }
                }
                Ok(false) => {}
                Err(_) => {
                    return Err(ApiError::forbidden(
                        "assigned_to_another_agent",
                        "this session is assigned to another agent",
                    ))
                }
            }
            Ok(Some(me))
        }
        Role::Customer => {
            crate::access::staff_may_see(staff, session)?;
            if !staff.has_any(&[StaffRole::Agent, StaffRole::Supervisor, StaffRole::Admin]) {
                return refuse("only agents and supervisors hand out customer links");
            }
            Ok(None)
        }
        Role::Observer => {
            if staff.has_any(&[StaffRole::Supervisor, StaffRole::Admin]) {
                return Ok(Some(format!("observer-{me}")));
            }
            if !staff.has(StaffRole::Auditor) {
                return refuse("only auditors and supervisors observe");
            }
            if session.is_agent(staff.user.id) {
                return Err(ApiError::forbidden(
                    "maker_checker",
                    "the agent of a case cannot be its auditor",
                ));
            }
            Ok(Some(format!("observer-{me}")))
        }
    }
}

/// The JSON Schema of the result document, for lenders' integrations.
pub const SESSION_SCHEMA: &str = include_str!("schema/session.schema.json");

/// The JSON Schema of the session result document (`GET /v1/sessions/{id}`).
#[utoipa::path(tag = "contract", security(()),
    responses((status = 200, description = "A JSON Schema (draft 2020-12)", content_type = "application/schema+json", body = serde_json::Value)))]
#[get("/schema/session.json")]
async fn session_schema() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/schema+json")
        .body(SESSION_SCHEMA)
}

/// Cancel a session; a live call of it ends now.
#[utoipa::path(tag = "sessions", params(("id" = Uuid, Path, description = "The session")), security(("api_key" = [])),
    responses((status = 200, description = "The cancelled session", body = Session), AuthErrors, (status = 404, description = "`session_not_found`", body = ErrorBody), (status = 409, description = "`session_closed`: already finished", body = ErrorBody)))]
#[post("/sessions/{id}/cancel")]
async fn cancel_session(
    state: web::Data<AppState>,
    id: web::Path<SessionId>,
    _: Backend,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    match state
        .store
        .cancel_session(id)
        .await
        .map_err(|e| ApiError::internal("cancel_session", e))?
    {
        None => Err(ApiError::session_not_found()),
        Some(false) => Err(ApiError::conflict(
            "session_closed",
            "this session has already finished",
        )),
        Some(true) => {
            // A live call of a cancelled session ends now.
            let _ = state.rooms.end(id, None, "session_cancelled").await;
            Ok(HttpResponse::Ok().json(load_session(&state, id).await?))
        }
    }
}

/// The live calls of this node.
#[utoipa::path(tag = "sessions", security(("api_key" = [])),
    responses((status = 200, description = "The rooms", body = RoomListDoc), AuthErrors))]
#[get("/rooms")]
async fn list_rooms(state: web::Data<AppState>, _: Backend) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(json!({ "rooms": state.rooms.list().await })))
}

/// End a session's live call for everyone.
#[utoipa::path(tag = "sessions", params(("id" = Uuid, Path, description = "The session whose call it is")), security(("api_key" = []), ("join_token" = ["agent"])),
    responses((status = 200, description = "The call ended", body = RoomEndedDoc), AuthErrors, (status = 404, description = "`session_not_found`, `room_not_found` (no live call)", body = ErrorBody)))]
#[post("/rooms/{id}/end")]
async fn end_room(
    state: web::Data<AppState>,
    SessionCaller { session, .. }: SessionCaller<AgentOnly>,
) -> Result<HttpResponse, ApiError> {
    match state.rooms.end(session.id, None, "ended_by_api").await {
        Ok(true) => Ok(HttpResponse::Ok().json(json!({"ended": true}))),
        Ok(false) => Err(ApiError::not_found(
            "room_not_found",
            "this session has no live call",
        )),
        Err(_) => Err(ApiError::forbidden(
            "forbidden_role",
            "only the agent may end the call",
        )),
    }
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct EventsQuery {
    /// The cursor: events with `seq` above it (default 0).
    after: Option<u64>,
    /// 1 to 1000 (default 100).
    limit: Option<usize>,
}

/// The event log (the outbox), oldest first from a cursor.
#[utoipa::path(tag = "sessions", params(EventsQuery), security(("api_key" = [])),
    responses((status = 200, description = "A page of events", body = EventPageDoc), AuthErrors, (status = 400, description = "`invalid_query`", body = ErrorBody)))]
#[get("/events")]
async fn list_events(
    state: web::Data<AppState>,
    q: web::Query<EventsQuery>,
    _: Backend,
) -> Result<HttpResponse, ApiError> {
    let after = q.after.unwrap_or(0);
    let limit = page_limit(q.limit, 100, 1000)?;
    let events = state
        .store
        .events_after(after, limit)
        .await
        .map_err(|e| ApiError::internal("events_after", e))?;
    let next = events.last().map(|e| e.seq).unwrap_or(after);
    Ok(HttpResponse::Ok().json(json!({ "events": events, "next_cursor": next })))
}

/// The signalling WebSocket (protocol in PROTOCOL.md): the join token is sent in the first
/// message, not in a header.
#[utoipa::path(tag = "sessions", operation_id = "signalling", security(()),
    responses((status = 101, description = "Switched to the WebSocket protocol"), (status = 400, description = "Not a WebSocket upgrade request (plain text)"), (status = 429, description = "`rate_limited` (`Retry-After`): over `limits.joins_per_ip`", body = ErrorBody)))]
#[get("/rtc")]
async fn rtc(
    req: HttpRequest,
    body: web::Payload,
    state: web::Data<AppState>,
) -> actix_web::Result<HttpResponse> {
    crate::signal::rtc(req, body, state).await
}

pub async fn not_found() -> Result<HttpResponse, ApiError> {
    Err(ApiError::not_found("not_found", "no such endpoint"))
}
