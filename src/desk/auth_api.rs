//! `/v1/auth/*`: signing a console in and out.
//!
//! | operation | who | answers |
//! | --- | --- | --- |
//! | `POST /v1/auth/login` | anyone, with an email and a password | 200 + cookie; 401 `invalid_credentials` (unknown email, wrong password, disabled or SSO-only account: one answer) |
//! | `POST /v1/auth/logout` | a signed-in console (CSRF) | 204, the cookie cleared |
//! | `GET /v1/auth/me` | a signed-in console | the user and the CSRF token |
//! | `POST /v1/auth/setup` | the holder of the first-admin link | 201 + cookie; 401 `setup_link_invalid`; 409 `already_set_up` |
//! | `GET /v1/auth/sso/start`, `/callback` | a browser, when `console.sso.enabled` | redirects (see [`super::oidc`]) |
//!
//! The API key cannot sign in: it is not an account, and these operations take none.

use std::collections::BTreeSet;

use actix_web::{get, post, web, HttpResponse};
use chrono::Utc;
use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;
use vkyc_domain::desk::user::{Email, StaffRole, User, UserName};

use super::console;
use crate::access::{AnyStaff, Console};
use crate::error::{ApiError, BodyErrors, ErrorBody};
use crate::extract::ValidJson;
use crate::startup::AppState;
use crate::store::{StoreError, UserRecord};

/// The grant kind of the first-admin link.
pub const SETUP_GRANT: &str = "setup";

pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(login)
        .service(logout)
        .service(me)
        .service(setup)
        .service(sso_status)
        .service(sso_start)
        .service(sso_callback);
}

/// The grant kind of a started single sign-on (keyed by its `state`).
const SSO_GRANT: &str = "sso";

/// Whether the console offers single sign-on.
#[utoipa::path(tag = "console", security(()),
    responses((status = 200, description = "`{\"enabled\": bool}`", body = Object)))]
#[get("/auth/sso")]
async fn sso_status(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().json(json!({ "enabled": state.config.console.sso.enabled }))
}

async fn oidc(
    state: &AppState,
) -> Result<&std::sync::Arc<super::oidc::Oidc>, super::oidc::OidcError> {
    state
        .sso
        .get_or_try_init(|| async {
            let client = super::oidc::Oidc::http_client()?;
            super::oidc::Oidc::discover(state.config.console.sso.clone(), client)
                .await
                .map(std::sync::Arc::new)
        })
        .await
}

/// Back to the sign-in page with a stable error code (never a token or a name in the URL).
fn to_signin(code: &str) -> HttpResponse {
    HttpResponse::Found()
        .append_header(("location", format!("/signin?error={code}")))
        .finish()
}

/// Start single sign-on: a redirect to the provider (authorization code + PKCE). The pending
/// sign-in (state, nonce, PKCE verifier) stays on the server, single use.
#[utoipa::path(tag = "console", security(()),
    responses((status = 302, description = "To the provider; to `/signin?error=…` when SSO is off or the provider cannot be reached"), (status = 404, description = "`sso_disabled`", body = ErrorBody)))]
#[get("/auth/sso/start")]
async fn sso_start(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    if !state.config.console.sso.enabled {
        return Err(ApiError::not_found(
            "sso_disabled",
            "single sign-on is not configured",
        ));
    }
    let oidc = match oidc(&state).await {
        Ok(o) => o,
        Err(e) => {
            tracing::error!(code = e.code(), "single sign-on provider unavailable");
            return Ok(to_signin(e.code()));
        }
    };
    let (url, pending) = oidc.begin();
    let ttl = chrono::Duration::seconds(state.config.console.sso.login_ttl_secs as i64);
    let grant = crate::store::Grant {
        expires_at: Utc::now() + ttl,
        data: serde_json::to_value(&pending).map_err(|e| ApiError::internal("sso", e))?,
    };
    state
        .store
        .put_grant(SSO_GRANT, &console::key_of(&pending.state), &grant)
        .await
        .map_err(|e| ApiError::internal("sso", e))?;
    Ok(HttpResponse::Found()
        .append_header(("location", url.to_string()))
        .finish())
}

#[derive(Deserialize)]
struct Callback {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

/// The provider's redirect back: the code is exchanged, the ID token checked, the account
/// found by its SSO identity (or its email, then linked; or created with the mapped roles),
/// its roles brought in line with the provider's groups, and the console signed in.
#[utoipa::path(tag = "console", security(()),
    responses((status = 302, description = "Signed in: to `/agent`; refused: to `/signin?error=<code>` (`state_mismatch`, `code_rejected`, `invalid_id_token`, `wrong_audience`, `token_expired`, `bad_signature`, `nonce_mismatch`, `no_role`, `account_disabled`, …)")))]
#[get("/auth/sso/callback")]
async fn sso_callback(
    state: web::Data<AppState>,
    q: web::Query<Callback>,
) -> Result<HttpResponse, ApiError> {
    let q = q.into_inner();
    if q.error.is_some() {
        return Ok(to_signin("provider_refused"));
    }
    let (Some(code), Some(returned)) = (q.code, q.state) else {
        return Ok(to_signin("state_mismatch"));
    };
    let Some(grant) = state
        .store
        .take_grant(SSO_GRANT, &console::key_of(&returned), Utc::now())
        .await
        .map_err(|e| ApiError::internal("sso", e))?
    else {
        return Ok(to_signin("state_mismatch"));
    };
    let pending: super::oidc::PendingLogin =
        serde_json::from_value(grant.data).map_err(|e| ApiError::internal("sso", e))?;
    let oidc = match oidc(&state).await {
        Ok(o) => o,
        Err(e) => return Ok(to_signin(e.code())),
    };
    let id = match oidc.finish(pending, &code, &returned).await {
        Ok(id) => id,
        Err(e) => {
            tracing::warn!(code = e.code(), "single sign-on refused");
            return Ok(to_signin(e.code()));
        }
    };
    let record = match sso_account(&state, id).await {
        Ok(r) => r,
        Err(code) => return Ok(to_signin(code)),
    };
    let (cookie, _) = console::sign_in(&state, &record, "sso").await?;
    Ok(HttpResponse::Found()
        .cookie(cookie)
        .append_header(("location", "/agent"))
        .finish())
}

/// The account of an SSO identity: linked by (issuer, subject); else the account with its
/// email, linked now; else a new account. Its roles follow the provider's groups (a change
/// signs its other consoles out).
async fn sso_account(
    state: &AppState,
    id: super::oidc::SsoIdentity,
) -> Result<UserRecord, &'static str> {
    let link = crate::store::SsoLink {
        issuer: id.issuer.clone(),
        subject: id.subject.clone(),
    };
    let store = &state.store;
    let found = match store
        .user_by_sso(&link)
        .await
        .map_err(|_| "store_unavailable")?
    {
        Some(r) => Some(r),
        None => store
            .user_by_email(&id.email)
            .await
            .map_err(|_| "store_unavailable")?
            .filter(|r| r.sso.is_none()),
    };
    match found {
        Some(mut r) => {
            if r.user.disabled {
                return Err("account_disabled");
            }
            if r.user.roles != id.roles {
                r.user.roles = id.roles;
                r.generation += 1;
            }
            r.sso = Some(link);
            store
                .update_user(&r)
                .await
                .map_err(|_| "account_conflict")?;
            Ok(r)
        }
        None => {
            let user = User::new(id.email, id.name, id.roles, Default::default(), Utc::now())
                .map_err(|_| "no_role")?;
            let r = UserRecord {
                user,
                password_hash: None,
                sso: Some(link),
                generation: 0,
            };
            store
                .create_user(&r)
                .await
                .map_err(|_| "account_conflict")?;
            tracing::info!(user = %r.user.id, "account created by single sign-on");
            Ok(r)
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct Login {
    /// Not checked for form here: an unknown email is answered like a wrong password.
    email: String,
    password: String,
}

/// A signed-in console: its user and the CSRF token its changes must send as `X-CSRF-Token`.
#[derive(serde::Serialize, ToSchema)]
pub struct SignedIn {
    pub user: User,
    pub csrf_token: String,
    /// `password`, `sso` or `setup`.
    pub method: String,
}

fn signed_in(user: &User, csrf: String, method: &str) -> serde_json::Value {
    json!({ "user": user, "csrf_token": csrf, "method": method })
}

fn invalid_credentials() -> ApiError {
    ApiError::unauthorized("invalid_credentials", "the email or the password is wrong")
}

/// Sign in with an email and a password; sets the console cookie.
#[utoipa::path(tag = "console", request_body = Login, security(()),
    responses((status = 200, description = "Signed in (the `vkyc_console` cookie is set)", body = SignedIn), BodyErrors, (status = 401, description = "`invalid_credentials`", body = ErrorBody), (status = 429, description = "`rate_limited` (`Retry-After`): too many attempts from this address or for this email", body = ErrorBody)))]
#[post("/auth/login")]
async fn login(
    req: actix_web::HttpRequest,
    state: web::Data<AppState>,
    ValidJson(body): ValidJson<Login>,
) -> Result<HttpResponse, ApiError> {
    // Before the password is looked at: over the limit, even the right one is not answered.
    state
        .login_limits
        .attempt(req.peer_addr().map(|a| a.ip()), &body.email)?;
    let record = match Email::parse(&body.email) {
        Ok(email) => state
            .store
            .user_by_email(&email)
            .await
            .map_err(|e| ApiError::internal("login", e))?,
        Err(_) => None,
    };
    let hash = record.as_ref().and_then(|r| r.password_hash.clone());
    let ok = super::passwords::verify(body.password, hash).await;
    let record = match record {
        Some(r) if ok && !r.user.disabled => r,
        _ => {
            tracing::info!("console sign-in refused");
            return Err(invalid_credentials());
        }
    };
    let (cookie, csrf) = console::sign_in(&state, &record, "password").await?;
    Ok(HttpResponse::Ok()
        .cookie(cookie)
        .json(signed_in(&record.user, csrf, "password")))
}

/// Sign out: the console session ends and the cookie is cleared.
#[utoipa::path(tag = "console", security(("console" = [])),
    responses((status = 204, description = "Signed out"), (status = 401, description = "`missing_credentials`, `console_expired`", body = ErrorBody), (status = 403, description = "`csrf_failed`, `forbidden_role` (not a console)", body = ErrorBody)))]
#[post("/auth/logout")]
async fn logout(
    state: web::Data<AppState>,
    c: Console<AnyStaff>,
) -> Result<HttpResponse, ApiError> {
    state
        .store
        .delete_console_session(&c.staff.key)
        .await
        .map_err(|e| ApiError::internal("logout", e))?;
    tracing::info!(user = %c.staff.user.id, "console signed out");
    Ok(HttpResponse::NoContent()
        .cookie(console::cookie(&state, String::new(), true))
        .finish())
}

/// The signed-in user and the console's CSRF token.
#[utoipa::path(tag = "console", security(("console" = [])),
    responses((status = 200, description = "The signed-in user", body = SignedIn), (status = 401, description = "`missing_credentials`, `console_expired`", body = ErrorBody), (status = 403, description = "`forbidden_role` (the API key or a join token: not a console)", body = ErrorBody)))]
#[get("/auth/me")]
async fn me(c: Console<AnyStaff>) -> HttpResponse {
    HttpResponse::Ok().json(signed_in(
        &c.staff.user,
        c.staff.csrf.clone(),
        &c.staff.method,
    ))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct Setup {
    /// The secret of the first-admin link (`/setup#token=…`).
    token: String,
    email: Email,
    name: UserName,
    password: String,
}

/// Create the first admin with the one-time link printed at the first start, and sign in.
/// The account gets every role (admin, supervisor, agent, auditor); it can take the first
/// call at once and create the others' accounts.
#[utoipa::path(tag = "console", request_body = Setup, security(()),
    responses((status = 201, description = "The first admin, signed in", body = SignedIn), BodyErrors,
        (status = 401, description = "`setup_link_invalid`: unknown, used or expired", body = ErrorBody),
        (status = 409, description = "`already_set_up`: an account exists", body = ErrorBody)))]
#[post("/auth/setup")]
async fn setup(
    state: web::Data<AppState>,
    ValidJson(body): ValidJson<Setup>,
) -> Result<HttpResponse, ApiError> {
    let min = state.config.console.password_min_length;
    super::passwords::check_new(&body.password, body.email.as_str(), min).map_err(|m| {
        ApiError::new(
            actix_web::http::StatusCode::UNPROCESSABLE_ENTITY,
            "weak_password",
            m,
        )
    })?;
    let store = &state.store;
    if store
        .has_users()
        .await
        .map_err(|e| ApiError::internal("setup", e))?
    {
        return Err(ApiError::conflict(
            "already_set_up",
            "accounts exist; sign in instead",
        ));
    }
    let now = Utc::now();
    let grant = store
        .take_grant(SETUP_GRANT, &console::key_of(&body.token), now)
        .await
        .map_err(|e| ApiError::internal("setup", e))?;
    if grant.is_none() {
        return Err(ApiError::unauthorized(
            "setup_link_invalid",
            "this setup link is unknown, used or expired; restart the server for a new one",
        ));
    }
    let roles: BTreeSet<StaffRole> = StaffRole::ALL.into_iter().collect();
    let user = User::new(body.email, body.name, roles, Default::default(), now)
        .map_err(|e| ApiError::validation(e.to_string()))?;
    let record = UserRecord {
        user,
        password_hash: Some(super::passwords::hash(body.password).await),
        sso: None,
        generation: 0,
    };
    store.create_user(&record).await.map_err(|e| match e {
        StoreError::Conflict(code, m) => ApiError::conflict(code, m),
        e => ApiError::internal("setup", e),
    })?;
    tracing::info!(user = %record.user.id, "first admin created");
    let (cookie, csrf) = console::sign_in(&state, &record, "setup").await?;
    Ok(HttpResponse::Created()
        .cookie(cookie)
        .json(signed_in(&record.user, csrf, "setup")))
}
