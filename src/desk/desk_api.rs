//! The desk's endpoints: the agents' console socket, the waiting customer's socket, and the
//! supervisor's view.
//!
//! | endpoint | who | what |
//! | --- | --- | --- |
//! | `GET /v1/desk/ws` | a signed-in agent (the console cookie; same-origin) | presence and offers: see below |
//! | `GET /v1/queue/ws` | a customer (join token in the first message) | position, estimated wait, connected, timed out |
//! | `GET /v1/desk/snapshot` | supervisors, admins | waiting customers, agents by state, open offers |
//! | `POST /v1/desk/queue/{id}/reassign` | supervisors, admins | give a waiting customer to a free agent |
//!
//! **Console socket.** Client → server: `{"type":"state","state":"available"|"break"|"offline"}`,
//! `{"type":"accept","offer_id"}`, `{"type":"decline","offer_id"}`. Server → client:
//! `{"type":"state","state"}`, `{"type":"offer","offer_id","session_id","expires_at","attempt","applicant","requirements","customer_connected","scheduled_at"}`
//! (ring; a scheduled session is offered at its slot, `customer_connected: false` until its
//! customer's page is open), `{"type":"withdrawn","offer_id","session_id"}`, `{"type":"connected","session_id","offer_id"}`
//! (the accepted session is assigned to the agent: open it), `{"type":"error","code","message"}`.
//! The socket is the agent's heartbeat: when the agent's last console closes, the desk puts
//! them offline after `desk.offline_grace_secs`.
//!
//! **Customer socket.** Client → server: `{"type":"enter","token"}` first (the customer's join
//! token), `{"type":"leave"}` (the page is closed: the customer leaves the queue). Server →
//! client: `{"type":"queued","position","estimated_wait_secs"}` (on every change),
//! `{"type":"connected"}` (an agent took the call: join it), `{"type":"timed_out"}`,
//! `{"type":"error","code","message"}` (`not_yet_open` before a scheduled session's slot:
//! the page enters again at `schedule.starts_at`; `not_live_agent`; `session_closed`). A
//! session already assigned to an agent is answered `connected` at once. A socket that drops without `leave` keeps the customer's place: they are
//! offered again when they reconnect (a server restart is such a drop).

use std::sync::Arc;
use std::time::Duration;

use actix_web::{get, post, web, HttpRequest, HttpResponse};
use actix_ws::{AggregatedMessage, Session as WsSession};
use futures_util::StreamExt;
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::sync::mpsc;
use utoipa::ToSchema;
use vkyc_desk::DeskError;
use vkyc_domain::desk::presence::AgentState;
use vkyc_domain::desk::queue::QueueError;
use vkyc_domain::session::{SessionMode, SessionStatus};
use vkyc_domain::{OfferId, Role, SessionId, UserId};

use super::console::Staff;
use crate::access::{CallStaff, Console, Supervisors};
use crate::error::{ApiError, BodyErrors, ErrorBody};
use crate::extract::ValidJson;
use crate::startup::AppState;

pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(snapshot)
        .service(reassign)
        .service(console_socket)
        .service(queue_socket);
}

fn desk_error(e: DeskError) -> ApiError {
    match &e {
        DeskError::Queue(
            QueueError::NotWaiting | QueueError::UnknownAgent | QueueError::UnknownOffer,
        ) => ApiError::not_found(e.code(), e.to_string()),
        DeskError::Queue(_) => ApiError::conflict(e.code(), e.to_string()),
        _ => ApiError::new(
            actix_web::http::StatusCode::SERVICE_UNAVAILABLE,
            e.code(),
            e.to_string(),
        ),
    }
}

fn error_msg(code: &str, message: impl std::fmt::Display) -> String {
    json!({"type": "error", "code": code, "message": message.to_string()}).to_string()
}

/// A cookie-authenticated socket must come from this server's pages (a WebSocket is not
/// bound by the same-origin policy: another site's page could open it with the cookie).
fn same_origin(state: &AppState, req: &HttpRequest) -> Result<(), ApiError> {
    match req.headers().get("origin").and_then(|o| o.to_str().ok()) {
        Some(origin) if origin.trim_end_matches('/') != state.public_url => Err(
            ApiError::forbidden("cross_origin", "this socket is for the console's own pages"),
        ),
        _ => Ok(()),
    }
}

const PING_EVERY: Duration = Duration::from_secs(20);

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum ConsoleIn {
    State { state: AgentState },
    Accept { offer_id: OfferId },
    Decline { offer_id: OfferId },
}

/// The agent's desk socket (protocol in this module's docs): presence, offers, accept and
/// decline. The console cookie authenticates it; it must come from this server's pages.
#[utoipa::path(tag = "console", operation_id = "desk_socket", security(("console" = ["agent"])),
    responses((status = 101, description = "Switched to the WebSocket protocol"), (status = 400, description = "Not a WebSocket upgrade request (plain text)"),
        (status = 401, description = "`missing_credentials`, `console_expired`", body = ErrorBody), (status = 403, description = "`forbidden_role` (not an agent), `cross_origin`", body = ErrorBody), (status = 429, description = "`rate_limited` (`Retry-After`): over `limits.joins_per_ip`", body = ErrorBody)))]
#[get("/desk/ws")]
async fn console_socket(
    req: HttpRequest,
    body: web::Payload,
    state: web::Data<AppState>,
    c: Console<CallStaff>,
) -> actix_web::Result<HttpResponse> {
    same_origin(&state, &req)?;
    if !c.staff.has(vkyc_domain::desk::user::StaffRole::Agent) {
        return Err(
            ApiError::forbidden("forbidden_role", "the desk's socket is for agents").into(),
        );
    }
    let (response, ws, stream) = actix_ws::handle(&req, body)?;
    let stream = stream.max_frame_size(16 * 1024).aggregate_continuations();
    actix_web::rt::spawn(run_console(state.into_inner(), c.staff, ws, stream));
    Ok(response)
}

async fn run_console(
    state: Arc<AppState>,
    staff: Staff,
    mut ws: WsSession,
    mut stream: actix_ws::AggregatedMessageStream,
) {
    let user = staff.user.id;
    let (tx, mut rx) = mpsc::unbounded_channel::<String>();
    let (socket, first) = state.sockets.add_agent(user, tx);
    if first {
        state.desk.agent_connected(user, staff.user.skills.clone());
    }
    // The agent's state now (a new console of an agent already on the desk, or offline).
    let now = state
        .desk
        .snapshot()
        .await
        .ok()
        .and_then(|s| s.agents.into_iter().find(|a| a.user_id == user))
        .map(|a| a.state)
        .unwrap_or(AgentState::Offline);
    let _ = ws
        .text(json!({"type": "state", "state": now}).to_string())
        .await;
    let mut ping = tokio::time::interval(PING_EVERY);
    loop {
        tokio::select! {
            out = rx.recv() => match out {
                Some(text) => if ws.text(text).await.is_err() { break },
                None => break,
            },
            _ = ping.tick() => if ws.ping(b"").await.is_err() { break },
            frame = stream.next() => {
                let text = match frame {
                    Some(Ok(AggregatedMessage::Text(t))) => t,
                    Some(Ok(AggregatedMessage::Ping(p))) => { let _ = ws.pong(&p).await; continue }
                    Some(Ok(AggregatedMessage::Pong(_))) => continue,
                    Some(Ok(AggregatedMessage::Binary(_))) => { let _ = ws.text(error_msg("bad_message", "binary frames are not accepted")).await; continue }
                    _ => break,
                };
                let reply = match serde_json::from_str::<ConsoleIn>(&text) {
                    Err(e) => Some(error_msg("bad_message", format!("not a console message: {e}"))),
                    Ok(ConsoleIn::State { state: s }) => state.desk.set_state(user, s).await.err().map(|e| error_msg(e.code(), e)),
                    Ok(ConsoleIn::Accept { offer_id }) => state.desk.accept(offer_id, user).await.err().map(|e| error_msg(e.code(), e)),
                    Ok(ConsoleIn::Decline { offer_id }) => state.desk.decline(offer_id, user).await.err().map(|e| error_msg(e.code(), e)),
                };
                if let Some(r) = reply {
                    if ws.text(r).await.is_err() { break }
                }
            }
        }
    }
    if state.sockets.remove_agent(user, socket) {
        state.desk.agent_disconnected(user);
    }
    let _ = ws.close(None).await;
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum CustomerIn {
    Enter { token: String },
    Leave,
}

/// The waiting customer's socket (protocol in this module's docs): the join token is sent in
/// the first message.
#[utoipa::path(tag = "sessions", operation_id = "queue_socket", security(()),
    responses((status = 101, description = "Switched to the WebSocket protocol"), (status = 400, description = "Not a WebSocket upgrade request (plain text)"), (status = 429, description = "`rate_limited` (`Retry-After`): over `limits.joins_per_ip`", body = ErrorBody)))]
#[get("/queue/ws")]
async fn queue_socket(
    req: HttpRequest,
    body: web::Payload,
    state: web::Data<AppState>,
) -> actix_web::Result<HttpResponse> {
    let (response, ws, stream) = actix_ws::handle(&req, body)?;
    let stream = stream.max_frame_size(16 * 1024).aggregate_continuations();
    actix_web::rt::spawn(run_customer(state.into_inner(), ws, stream));
    Ok(response)
}

/// Checks the customer's token and session and puts them in the queue (or says they are
/// connected already).
async fn enter(state: &AppState, token: &str) -> Result<(SessionId, bool), String> {
    let claims = state
        .auth
        .verify(token)
        .map_err(|e| error_msg(e.code, e.message))?;
    if claims.role != Role::Customer {
        return Err(error_msg(
            "forbidden_role",
            "the queue is for the customer's token",
        ));
    }
    let session = state
        .store
        .get_session(claims.sid)
        .await
        .map_err(|_| error_msg("unavailable", "try again"))?
        .ok_or_else(|| error_msg("session_not_found", "no such session"))?;
    if session.status.is_final() {
        return Err(error_msg("session_closed", "this session has ended"));
    }
    if session.mode != SessionMode::LiveAgent {
        return Err(error_msg(
            "not_live_agent",
            "a self-recorded session has no queue",
        ));
    }
    if session.status == SessionStatus::Scheduled {
        // The slot has not opened: the page enters again at `schedule.starts_at`.
        return Err(error_msg(
            "not_yet_open",
            "this call's time slot has not started yet",
        ));
    }
    // Assigned already, or another applicant of a group call (it shares its parent's call):
    // no queue of its own.
    if session.agent.is_some() || session.parent_id.is_some() {
        return Ok((session.id, true));
    }
    match state
        .desk
        .enter(session.id, session.requirements.clone())
        .await
    {
        Ok(()) => Ok((session.id, false)),
        Err(DeskError::Queue(QueueError::AlreadyWaiting)) => {
            match state.desk.customer_reconnected(session.id).await {
                Ok(()) => Ok((session.id, false)),
                Err(e) => Err(error_msg(e.code(), e)),
            }
        }
        Err(e) => Err(error_msg(e.code(), e)),
    }
}

async fn run_customer(
    state: Arc<AppState>,
    mut ws: WsSession,
    mut stream: actix_ws::AggregatedMessageStream,
) {
    let (tx, mut rx) = mpsc::unbounded_channel::<String>();
    // Phase 1: `enter` within the signalling join timeout.
    let deadline = tokio::time::sleep(Duration::from_secs(
        state.config.signalling.join_timeout_secs,
    ));
    tokio::pin!(deadline);
    let session = loop {
        tokio::select! {
            _ = &mut deadline => { let _ = ws.text(error_msg("enter_timeout", "send enter first")).await; let _ = ws.close(None).await; return }
            frame = stream.next() => {
                let text = match frame {
                    Some(Ok(AggregatedMessage::Text(t))) => t,
                    Some(Ok(AggregatedMessage::Ping(p))) => { let _ = ws.pong(&p).await; continue }
                    Some(Ok(AggregatedMessage::Pong(_))) => continue,
                    Some(Ok(AggregatedMessage::Binary(_))) => continue,
                    _ => return,
                };
                match serde_json::from_str::<CustomerIn>(&text) {
                    Ok(CustomerIn::Enter { token }) => {
                        // Registered before entering, so the first position reaches this socket.
                        let sid = match state.auth.verify(&token) { Ok(c) => c.sid, Err(e) => { let _ = ws.text(error_msg(e.code, e.message)).await; let _ = ws.close(None).await; return } };
                        let (socket, _) = state.sockets.add_customer(sid, tx.clone());
                        match enter(&state, &token).await {
                            Ok((sid, true)) => { state.sockets.remove_customer(sid, socket); let _ = ws.text(json!({"type": "connected"}).to_string()).await; let _ = ws.close(None).await; return }
                            Ok((sid, false)) => break (sid, socket),
                            Err(e) => { state.sockets.remove_customer(sid, socket); let _ = ws.text(e).await; let _ = ws.close(None).await; return }
                        }
                    }
                    Ok(CustomerIn::Leave) => { let _ = ws.close(None).await; return }
                    Err(e) => { let _ = ws.text(error_msg("bad_message", e)).await; }
                }
            }
        }
    };
    let (sid, socket) = session;
    let mut ping = tokio::time::interval(PING_EVERY);
    let mut left = false;
    loop {
        tokio::select! {
            out = rx.recv() => match out {
                Some(text) => {
                    let done = text.contains("\"connected\"") || text.contains("\"timed_out\"");
                    if ws.text(text).await.is_err() { break }
                    if done { left = true; break }
                }
                None => break,
            },
            _ = ping.tick() => if ws.ping(b"").await.is_err() { break },
            frame = stream.next() => match frame {
                Some(Ok(AggregatedMessage::Text(t))) => {
                    if matches!(serde_json::from_str::<CustomerIn>(&t), Ok(CustomerIn::Leave)) {
                        let _ = state.desk.leave(sid).await;
                        left = true;
                        break;
                    }
                }
                Some(Ok(AggregatedMessage::Ping(p))) => { let _ = ws.pong(&p).await; }
                Some(Ok(_)) => {}
                _ => break,
            },
        }
    }
    if state.sockets.remove_customer(sid, socket) && !left {
        state.desk.customer_disconnected(sid);
    }
    let _ = ws.close(None).await;
}

/// The supervisor's view of the desk: waiting customers (wait, SLA breach, position, offers),
/// agents by state with their skills, open offers.
#[utoipa::path(tag = "console", security(("console" = ["supervisor", "admin"])),
    responses((status = 200, description = "The desk now", body = Object), (status = 401, description = "`missing_credentials`, `console_expired`", body = ErrorBody), (status = 403, description = "`forbidden_role`", body = ErrorBody), (status = 503, description = "`desk_unavailable`", body = ErrorBody)))]
#[get("/desk/snapshot")]
async fn snapshot(
    state: web::Data<AppState>,
    _: Console<Supervisors>,
) -> Result<HttpResponse, ApiError> {
    let snap = state.desk.snapshot().await.map_err(desk_error)?;
    let mut doc = serde_json::to_value(&snap).map_err(|e| ApiError::internal("snapshot", e))?;
    // Names for the people on the desk (the snapshot itself carries ids only).
    let users = state
        .store
        .list_users()
        .await
        .map_err(|e| ApiError::internal("snapshot", e))?;
    let names: std::collections::HashMap<String, String> = users
        .into_iter()
        .map(|r| (r.user.id.to_string(), r.user.name.to_string()))
        .collect();
    if let Some(agents) = doc.get_mut("agents").and_then(Value::as_array_mut) {
        for a in agents {
            let id = a
                .get("user_id")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            a["name"] = json!(names.get(&id));
        }
    }
    Ok(HttpResponse::Ok().json(doc))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct Reassign {
    /// The agent (free: available, connected, not ringing) who gets the customer.
    user_id: UserId,
}

/// Give a waiting customer to a free agent now (their console rings).
#[utoipa::path(tag = "console", params(("id" = Uuid, Path, description = "The waiting session")), request_body = Reassign, security(("console" = ["supervisor", "admin"])),
    responses((status = 204, description = "Offered to the agent"), BodyErrors, (status = 401, description = "`missing_credentials`, `console_expired`", body = ErrorBody), (status = 403, description = "`forbidden_role`, `csrf_failed`", body = ErrorBody), (status = 404, description = "`not_waiting`, `unknown_agent`", body = ErrorBody), (status = 409, description = "`agent_not_free`", body = ErrorBody)))]
#[post("/desk/queue/{id}/reassign")]
async fn reassign(
    state: web::Data<AppState>,
    id: web::Path<SessionId>,
    c: Console<Supervisors, ValidJson<Reassign>>,
) -> Result<HttpResponse, ApiError> {
    let ValidJson(body) = c.body;
    state
        .desk
        .reassign(id.into_inner(), body.user_id)
        .await
        .map_err(desk_error)?;
    tracing::info!(by = %c.staff.user.id, agent = %body.user_id, "waiting customer reassigned");
    Ok(HttpResponse::NoContent().finish())
}
