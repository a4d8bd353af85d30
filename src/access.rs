//! Who may call what: the extractors a handler names to get its caller, so that no handler
//! authenticates, checks a role or loads its session by hand.
//!
//! | extractor | what it yields | refused with |
//! | --- | --- | --- |
//! | [`Caller`] | the API key or a join token (of any session) | 401 |
//! | [`Backend<B>`] | the API key only, with the body `B` | 401; 403 `forbidden_role` for every token |
//! | [`SessionAccess<R>`] | the caller and the path's `{id}`, for the role set `R` | 400 `invalid_path`; 401; 403 `forbidden_session` (another session's token), `forbidden_role` |
//! | [`SessionCaller<R, B>`] | the same with the body `B` and the session, loaded once | the same, then 404 `session_not_found` |
//!
//! The checks run in the order the API has always answered them: the path's id
//! (`invalid_path`), the body when the operation has one, the credentials (401), the
//! token's session and role (403), and only then the store (404): a caller without a token
//! of the session learns nothing about which sessions exist. The body is the type parameter
//! `B` (a [`ValidJson`], say) rather than an argument beside the caller because actix polls
//! a handler's extractors together and answers with the first that fails: the body usually
//! arrives after that first poll, so a caller checked beside it would answer first, or
//! not, depending on the network. Actix's `Path` and `Query` answer at once and are listed
//! before these. [`SessionAccess`] is for the operations that read the session later or not
//! at all (a capture's image; a self-recorded chunk, whose session is read after the chunk).
//!
//! A role set `R` is a marker type ([`AgentOnly`], [`AgentOrCustomer`], [`AgentOrObserver`],
//! [`AnyRole`], [`CustomerOnly`], [`AuditorOnly`], [`KeyOnly`]). An operation whose roles
//! depend on its body takes the widest set it may admit and narrows it with
//! [`Caller::require_role`] once the body is parsed.
//!
//! None of these is a request body or a parameter in the OpenAPI document: `utoipa` only
//! reads actix's own `Path`, `Query` and `Json` arguments, so each operation says what it
//! takes in its `#[utoipa::path]`.
//!
//! [`ValidJson`]: crate::extract::ValidJson

use std::marker::PhantomData;

use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpRequest};
use futures_util::future::LocalBoxFuture;
use serde::Deserialize;
use vkyc_domain::desk::user::StaffRole;
use vkyc_domain::session::Session;
use vkyc_domain::{Role, SessionId};

pub use crate::auth::Caller;
use crate::desk::console::Staff;
use crate::error::ApiError;
use crate::startup::AppState;

/// The application state of a request (registered once in `startup`).
fn app_state(req: &HttpRequest) -> Result<&web::Data<AppState>, ApiError> {
    req.app_data::<web::Data<AppState>>()
        .ok_or_else(|| ApiError::internal("extract", "the application state is not registered"))
}

/// The request's credentials, checked: `Authorization: Bearer …` (the API key or a join
/// token), else the console cookie of a signed-in staff member (which also checks the CSRF
/// token of a change), else 401 `missing_credentials`.
async fn authenticate(req: &HttpRequest) -> Result<Caller, ApiError> {
    let caller = credentials(req).await?;
    if let Caller::Participant(claims) = &caller {
        not_revoked(app_state(req)?, claims).await?;
    }
    Ok(caller)
}

/// [`authenticate`] without a join token's revocation check (for a caller that reads the
/// token's session anyway: [`SessionCaller`]).
async fn credentials(req: &HttpRequest) -> Result<Caller, ApiError> {
    let state = app_state(req)?;
    if let Some(caller) = state.auth.bearer(req)? {
        return Ok(caller);
    }
    match crate::desk::console::staff(state, req).await? {
        Some(staff) => Ok(Caller::Staff(Box::new(staff))),
        None => state.auth.caller(req),
    }
}

/// A join token whose session no longer admits it ([`Session::admits_token`]: the session
/// was cancelled or expired, or the customer's `auth.customer_token_grace_secs` after it
/// completed) is refused with 401
/// `token_revoked`, whatever its expiry. The session's status in the store is the revocation
/// list, so every node and both back ends agree.
pub async fn not_revoked(
    state: &AppState,
    claims: &crate::auth::JoinClaims,
) -> Result<(), ApiError> {
    match state.store.get_session(claims.sid).await {
        Ok(Some(session)) => admits(state, claims, &session),
        Ok(None) => Ok(()),
        Err(e) => Err(ApiError::internal("token_revocation", e)),
    }
}

/// [`not_revoked`] with the token's session at hand.
fn admits(
    state: &AppState,
    claims: &crate::auth::JoinClaims,
    session: &Session,
) -> Result<(), ApiError> {
    let grace = std::time::Duration::from_secs(state.config.auth.customer_token_grace_secs);
    if session.admits_token(claims.role, chrono::Utc::now(), grace) {
        return Ok(());
    }
    Err(ApiError::unauthorized(
        "token_revoked",
        "this session has ended; its link no longer works",
    ))
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move { authenticate(&req).await })
    }
}

/// The holder of the API key (the lender's backend or the agent console), with the body `B`
/// of the request (`()`: none), read first.
pub struct Backend<B = ()>(pub B);

impl<B: FromRequest + 'static> FromRequest for Backend<B> {
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Self, actix_web::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        body_then_caller(req, payload, |caller: Caller, body| {
            caller.require_backend()?;
            Ok(Backend(body))
        })
    }
}

/// Reads the body `B` first, then authenticates the request and hands both to `admit` (the
/// order the API answers in: see the module docs).
fn body_then_caller<B: FromRequest + 'static, T: 'static>(
    req: &HttpRequest,
    payload: &mut Payload,
    admit: impl FnOnce(Caller, B) -> Result<T, ApiError> + 'static,
) -> LocalBoxFuture<'static, Result<T, actix_web::Error>> {
    let body = B::from_request(req, payload);
    let req = req.clone();
    Box::pin(async move {
        let body = body.await.map_err(Into::into)?;
        Ok(admit(authenticate(&req).await?, body)?)
    })
}

/// Who may call an operation on one session: which of its participants, and the API key.
pub trait RoleSet: 'static {
    /// The participant roles admitted.
    const ROLES: &'static [Role];

    /// Admits the caller for the session `id`, or says why not. By default the API key and
    /// a token of this session with one of [`Self::ROLES`].
    fn admit(caller: &Caller, id: SessionId) -> Result<(), ApiError> {
        caller.require_session(id, Self::ROLES)
    }

    /// The check that needs the session itself, once loaded (after the 404): by default none.
    fn admit_loaded(_caller: &Caller, _session: &Session) -> Result<(), ApiError> {
        Ok(())
    }
}

/// `R`, and also a signed-in staff member who may see the session: supervisors, admins and
/// auditors any session; an agent a session assigned to them or to nobody yet (403
/// `assigned_to_another_agent` otherwise, after the 404). For the reads a console makes
/// before it holds a join token (the session, its case document).
pub struct OrStaff<R>(PhantomData<R>);

impl<R: RoleSet> RoleSet for OrStaff<R> {
    const ROLES: &'static [Role] = R::ROLES;

    fn admit(caller: &Caller, id: SessionId) -> Result<(), ApiError> {
        match caller {
            Caller::Staff(_) => Ok(()),
            _ => R::admit(caller, id),
        }
    }

    fn admit_loaded(caller: &Caller, session: &Session) -> Result<(), ApiError> {
        match caller {
            Caller::Staff(staff) => staff_may_see(staff, session),
            _ => R::admit_loaded(caller, session),
        }
    }
}

/// Whether a staff member may see a session (see [`OrStaff`]).
pub fn staff_may_see(staff: &Staff, session: &Session) -> Result<(), ApiError> {
    if staff.has_any(&[StaffRole::Supervisor, StaffRole::Admin, StaffRole::Auditor]) {
        return Ok(());
    }
    match &session.agent {
        Some(a) if a.id != staff.user.id => Err(ApiError::forbidden(
            "assigned_to_another_agent",
            "this session is assigned to another agent",
        )),
        _ if staff.has(StaffRole::Agent) => Ok(()),
        _ => Err(ApiError::forbidden(
            "forbidden_role",
            "your account's roles do not allow this",
        )),
    }
}

macro_rules! role_sets {
    ($($(#[$doc:meta])* $name:ident = [$($role:ident),*];)+) => {$(
        $(#[$doc])*
        pub struct $name;
        impl RoleSet for $name {
            const ROLES: &'static [Role] = &[$(Role::$role),*];
        }
    )+};
}

role_sets! {
    /// The API key or the session's agent.
    AgentOnly = [Agent];
    /// The API key, the session's agent or its customer.
    AgentOrCustomer = [Agent, Customer];
    /// The API key, the session's agent or its observer (an auditor).
    AgentOrObserver = [Agent, Observer];
    /// The API key or any participant of the session.
    AnyRole = [Agent, Customer, Observer];
    /// The API key or the session's customer.
    CustomerOnly = [Customer];
}

/// Only an auditor, who holds an observer token of the session: not even the API key (the
/// agent console's), so an agent cannot audit its own case.
pub struct AuditorOnly;

impl RoleSet for AuditorOnly {
    const ROLES: &'static [Role] = &[Role::Observer];

    fn admit(caller: &Caller, id: SessionId) -> Result<(), ApiError> {
        if matches!(caller, Caller::Backend) {
            return Err(ApiError::forbidden(
                "forbidden_role",
                "auditing needs an auditor's (observer) token of this session",
            ));
        }
        caller.require_session(id, Self::ROLES)
    }

    /// Maker ≠ checker: an observer token issued to a staff member (`observer-<user id>`)
    /// cannot audit a session that member is the agent of.
    fn admit_loaded(caller: &Caller, session: &Session) -> Result<(), ApiError> {
        if let Caller::Participant(c) = caller {
            let user = c
                .sub
                .strip_prefix("observer-")
                .and_then(|id| id.parse::<vkyc_domain::UserId>().ok());
            if user.is_some_and(|u| session.is_agent(u)) {
                return Err(ApiError::forbidden(
                    "maker_checker",
                    "the agent of a case cannot be its auditor",
                ));
            }
        }
        Ok(())
    }
}

/// The API key only: every token is refused with `forbidden_role`, whichever its session.
pub struct KeyOnly;

impl RoleSet for KeyOnly {
    const ROLES: &'static [Role] = &[];

    fn admit(caller: &Caller, _: SessionId) -> Result<(), ApiError> {
        caller.require_backend()
    }
}

/// The API key or a signed-in staff member (any role): the handler narrows by the account's
/// roles (issuing a join token: an agent for themselves, an auditor not for their own case).
/// Every join token is refused with `forbidden_role`.
pub struct KeyOrStaff;

impl RoleSet for KeyOrStaff {
    const ROLES: &'static [Role] = &[];

    fn admit(caller: &Caller, _: SessionId) -> Result<(), ApiError> {
        caller.require_key_or_staff(&StaffRole::ALL)
    }
}

/// Which staff roles a console operation admits: a marker type, like [`RoleSet`].
pub trait StaffSet: 'static {
    const ROLES: &'static [StaffRole];
}

macro_rules! staff_sets {
    ($($(#[$doc:meta])* $name:ident = [$($role:ident),*];)+) => {$(
        $(#[$doc])*
        pub struct $name;
        impl StaffSet for $name {
            const ROLES: &'static [StaffRole] = &[$(StaffRole::$role),*];
        }
    )+};
}

staff_sets! {
    /// Every signed-in staff member.
    AnyStaff = [Agent, Auditor, Supervisor, Admin];
    /// Those who run or oversee calls: agents, supervisors, admins.
    CallStaff = [Agent, Supervisor, Admin];
    /// Supervisors and admins.
    Supervisors = [Supervisor, Admin];
    /// Admins only.
    Admins = [Admin];
}

/// The API key or a signed-in staff member with one of `S`'s roles, with the body `B`.
pub struct KeyOrConsole<S, B = ()> {
    pub caller: Caller,
    pub body: B,
    roles: PhantomData<S>,
}

impl<S: StaffSet, B: FromRequest + 'static> FromRequest for KeyOrConsole<S, B> {
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Self, actix_web::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        body_then_caller(req, payload, |caller: Caller, body| {
            caller.require_key_or_staff(S::ROLES)?;
            Ok(Self {
                caller,
                body,
                roles: PhantomData,
            })
        })
    }
}

/// A signed-in staff member with one of `S`'s roles (not the API key, not a join token),
/// with the body `B`.
pub struct Console<S, B = ()> {
    pub staff: Staff,
    pub body: B,
    roles: PhantomData<S>,
}

impl<S: StaffSet, B: FromRequest + 'static> FromRequest for Console<S, B> {
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Self, actix_web::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        body_then_caller(req, payload, |caller: Caller, body| {
            caller.require_key_or_staff(S::ROLES)?;
            match caller {
                Caller::Staff(staff) => Ok(Self {
                    staff: *staff,
                    body,
                    roles: PhantomData,
                }),
                _ => Err(ApiError::forbidden(
                    "forbidden_role",
                    "this endpoint is for signed-in staff",
                )),
            }
        })
    }
}

/// The `{id}` segment of a session's path (other segments are their handler's), with the
/// `invalid_path` answer of every path.
fn session_id(req: &HttpRequest) -> Result<SessionId, actix_web::Error> {
    #[derive(Deserialize)]
    struct IdSegment {
        id: SessionId,
    }
    Ok(web::Path::<IdSegment>::extract(req).into_inner()?.id)
}

/// A caller admitted to the session of the path's `{id}` by the role set `R`; the session is
/// not read (see [`SessionCaller`] for that).
pub struct SessionAccess<R> {
    pub caller: Caller,
    pub id: SessionId,
    roles: PhantomData<R>,
}

impl<R: RoleSet> SessionAccess<R> {
    async fn admit(req: &HttpRequest, id: SessionId) -> Result<Self, ApiError> {
        let caller = authenticate(req).await?;
        R::admit(&caller, id)?;
        Ok(Self {
            caller,
            id,
            roles: PhantomData,
        })
    }
}

impl<R: RoleSet> FromRequest for SessionAccess<R> {
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Self, actix_web::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let id = session_id(req);
        let req = req.clone();
        Box::pin(async move { Ok(Self::admit(&req, id?).await?) })
    }
}

/// A caller admitted to the session of the path's `{id}` by the role set `R`, with the body
/// `B` of the request (`()`: none) and the session (404 `session_not_found` if there is none,
/// after the caller was admitted).
pub struct SessionCaller<R, B = ()> {
    pub caller: Caller,
    pub session: Session,
    pub body: B,
    roles: PhantomData<R>,
}

impl<R: RoleSet, B: FromRequest + 'static> FromRequest for SessionCaller<R, B> {
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Self, actix_web::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let id = session_id(req);
        let body = B::from_request(req, payload);
        let req = req.clone();
        Box::pin(async move {
            let id = id?;
            let body = body.await.map_err(Into::into)?;
            // The session is read once: for a token of this session, its revocation check
            // uses it (the same answers, in the same order, as `SessionAccess` then a load).
            let state = app_state(&req)?;
            let caller = credentials(&req).await?;
            let loaded = state
                .store
                .get_session(id)
                .await
                .map_err(|e| ApiError::internal("get_session", e))?;
            if let Caller::Participant(claims) = &caller {
                match &loaded {
                    Some(s) if claims.sid == id => admits(state, claims, s)?,
                    _ => not_revoked(state, claims).await?,
                }
            }
            R::admit(&caller, id)?;
            let session = loaded.ok_or_else(ApiError::session_not_found)?;
            R::admit_loaded(&caller, &session)?;
            Ok(Self {
                caller,
                session,
                body,
                roles: PhantomData,
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::JoinClaims;

    fn token(sid: SessionId, role: Role) -> Caller {
        Caller::Participant(JoinClaims {
            sid,
            sub: "p".into(),
            role,
            iat: 0,
            exp: 0,
            jti: uuid::Uuid::new_v4(),
            aud: "vkyc-join".into(),
        })
    }

    fn code<R: RoleSet>(caller: &Caller, sid: SessionId) -> &'static str {
        R::admit(caller, sid).err().map_or("ok", |e| e.code)
    }

    /// Every role set × the API key, session A's agent, customer and observer, and a token of
    /// session B (another session's token is `forbidden_session`, except where only the key
    /// may call: there every token is `forbidden_role`).
    #[test]
    fn each_role_set_admits_the_key_and_its_roles_of_this_session_only() {
        let (a, b) = (SessionId::new(), SessionId::new());
        let (ok, role, session) = ("ok", "forbidden_role", "forbidden_session");
        // AgentOnly, AgentOrCustomer, AgentOrObserver, AnyRole, CustomerOnly, AuditorOnly, KeyOnly
        let table = [
            (Caller::Backend, [ok, ok, ok, ok, ok, role, ok]),
            (token(a, Role::Agent), [ok, ok, ok, ok, role, role, role]),
            (
                token(a, Role::Customer),
                [role, ok, role, ok, ok, role, role],
            ),
            (
                token(a, Role::Observer),
                [role, role, ok, ok, role, ok, role],
            ),
            (
                token(b, Role::Observer),
                [session, session, session, session, session, session, role],
            ),
        ];
        for (caller, expected) in table {
            let got = [
                code::<AgentOnly>(&caller, a),
                code::<AgentOrCustomer>(&caller, a),
                code::<AgentOrObserver>(&caller, a),
                code::<AnyRole>(&caller, a),
                code::<CustomerOnly>(&caller, a),
                code::<AuditorOnly>(&caller, a),
                code::<KeyOnly>(&caller, a),
            ];
            assert_eq!(got, expected, "{caller:?}");
        }
    }
}
