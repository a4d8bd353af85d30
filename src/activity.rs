//! The activity log at the edge: handlers that serve personal data (a capture, a recording, a
//! self-recorded video, the case document) or record a decision call [`record`] *before*
//! they answer, so nothing is served that the log does not hold (a failed append is a 500).
//! The chain itself is `vkyc_domain::activity`; its storage is `store::activity`.
//!
//! | Route | Who |
//! |---|---|
//! | `GET /v1/activity?session=ID` | the API key, or a signed-in auditor or admin |
//!
//! `vkyc activity verify` ([`verify_all`]) walks every chain and reports each break.

use actix_web::{get, web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use vkyc_domain::activity::{
    verify_chain, ActivityAction, ActivityEntry, Actor, ChainKey, NewActivity,
};
use vkyc_domain::desk::user::StaffRole;
use vkyc_domain::SessionId;

use crate::access::Caller;
use crate::error::{ApiError, AuthErrors, ErrorBody};
use crate::startup::AppState;
use crate::store::Store;

/// The sealing key: `storage.activity_key`, else `<data_dir>/activity.key` (made once).
pub fn chain_key(config: &crate::config::Config) -> std::io::Result<ChainKey> {
    let secret = crate::auth::secret_or_generate(
        config.storage.activity_key.expose(),
        &config.storage.data_dir,
        "activity.key",
    )?;
    Ok(ChainKey::new(
        format!("vkyc activity log\n{secret}").into_bytes(),
    ))
}

/// Who `caller` is, in the log.
pub fn actor(caller: &Caller) -> Actor {
    match caller {
        Caller::Backend => Actor {
            kind: "api_key".into(),
            id: String::new(),
            email: None,
            role: None,
        },
        Caller::Participant(c) => Actor {
            kind: "participant".into(),
            id: c.sub.clone(),
            email: None,
            role: Some(c.role.as_str().into()),
        },
        Caller::Staff(s) => Actor {
            kind: "staff".into(),
            id: s.user.id.to_string(),
            email: Some(s.user.email.to_string()),
            role: Some(
                s.user
                    .roles
                    .iter()
                    .map(|r| r.as_str())
                    .collect::<Vec<_>>()
                    .join(","),
            ),
        },
    }
}

/// A value's wire name (a verdict, a data class), for an entry's target.
pub fn wire_name(v: &impl Serialize) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

/// Appends one entry for `caller`'s `action` on `session` (from the request's client
/// address); a failure is the request's failure.
pub async fn record(
    state: &AppState,
    req: &HttpRequest,
    caller: &Caller,
    session: SessionId,
    action: ActivityAction,
    target: Option<String>,
) -> Result<(), ApiError> {
    record_as(state, req, actor(caller), session, action, target).await
}

/// [`record`] for an actor that is not a [`Caller`] (a signed URL, the system).
pub async fn record_as(
    state: &AppState,
    req: &HttpRequest,
    actor: Actor,
    session: SessionId,
    action: ActivityAction,
    target: Option<String>,
) -> Result<(), ApiError> {
    let new = NewActivity {
        session_id: session,
        actor,
        action,
        target,
        from: state.limits.client_ip(req).map(|ip| ip.to_string()),
        at: chrono::Utc::now(),
    };
    state
        .store
        .append_activity(&state.activity_key, new)
        .await
        .map(|_| ())
        .map_err(|e| ApiError::internal("activity_log", e))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ActivityQuery {
    /// The session whose log is read.
    session: SessionId,
}

/// A session's activity log, checked.
#[derive(Serialize, ToSchema)]
pub struct ActivityLog {
    pub session_id: SessionId,
    /// Oldest first.
    pub entries: Vec<ActivityEntry>,
    /// Whether the chain verified against its head with the server's key.
    pub intact: bool,
    /// Where it breaks, when it does.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

/// Who read a session's personal data or decided on it, what, when and from where: the
/// session's hash-chained activity log, verified as it is read.
#[utoipa::path(tag = "audit", params(ActivityQuery), security(("api_key" = []), ("console" = [])),
    responses((status = 200, description = "The log, oldest entry first", body = ActivityLog), AuthErrors, (status = 400, description = "`invalid_query`", body = ErrorBody)))]
#[get("/activity")]
async fn get_activity(
    state: web::Data<AppState>,
    query: web::Query<ActivityQuery>,
    caller: Caller,
) -> Result<HttpResponse, ApiError> {
    caller.require_key_or_staff(&[StaffRole::Auditor, StaffRole::Admin])?;
    let id = query.session;
    let (entries, head) = state
        .store
        .activity(id)
        .await
        .map_err(|e| ApiError::internal("activity_log", e))?;
    let problem = verify_chain(&state.activity_key, id, &entries, &head)
        .err()
        .map(|e| e.to_string());
    Ok(HttpResponse::Ok().json(ActivityLog {
        session_id: id,
        entries,
        intact: problem.is_none(),
        problem,
    }))
}

pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(get_activity);
}

/// What `vkyc activity verify` found: chains and entries checked, and each broken chain.
#[derive(Debug, Default)]
pub struct Verified {
    pub chains: usize,
    pub entries: usize,
    pub broken: Vec<(SessionId, String)>,
}

/// Verifies every session's chain with `key`.
pub async fn verify_all(store: &dyn Store, key: &ChainKey) -> anyhow::Result<Verified> {
    let mut out = Verified::default();
    for id in store.activity_sessions().await? {
        let (entries, head) = store.activity(id).await?;
        out.chains += 1;
        out.entries += entries.len();
        if let Err(e) = verify_chain(key, id, &entries, &head) {
            out.broken.push((id, e.to_string()));
        }
    }
    Ok(out)
}
