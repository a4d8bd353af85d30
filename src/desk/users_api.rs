//! `/v1/users`: the admin's account management (a signed-in admin only: not the API key,
//! not another role). Passwords are never returned; changing one, the roles or disabling an
//! account ends that account's console sessions (its `generation` moves on). An admin cannot
//! disable themselves or drop their own admin role (409 `self_lockout`), so the last admin
//! cannot lock everyone out by accident.

use std::collections::BTreeSet;

use actix_web::{get, patch, post, web, HttpResponse};
use chrono::Utc;
use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;
use vkyc_domain::desk::user::{Email, Skills, StaffRole, User, UserName};
use vkyc_domain::UserId;

use crate::access::{Admins, Console};
use crate::error::{ApiError, BodyErrors, ErrorBody};
use crate::extract::ValidJson;
use crate::startup::AppState;
use crate::store::{StoreError, UserRecord};

pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(list_users)
        .service(create_user)
        .service(get_user)
        .service(update_user);
}

fn store_error(what: &'static str) -> impl Fn(StoreError) -> ApiError {
    move |e| match e {
        StoreError::Conflict(code, m) => ApiError::conflict(code, m),
        e => ApiError::internal(what, e),
    }
}

fn weak(m: String) -> ApiError {
    ApiError::new(
        actix_web::http::StatusCode::UNPROCESSABLE_ENTITY,
        "weak_password",
        m,
    )
}

/// The accounts, by email.
#[derive(serde::Serialize, ToSchema)]
pub struct UserList {
    pub users: Vec<User>,
}

/// Every account, ordered by email.
#[utoipa::path(tag = "console", security(("console" = ["admin"])),
    responses((status = 200, description = "The accounts", body = UserList), (status = 401, description = "`missing_credentials`, `console_expired`", body = ErrorBody), (status = 403, description = "`forbidden_role`: not a signed-in admin", body = ErrorBody)))]
#[get("/users")]
async fn list_users(
    state: web::Data<AppState>,
    _: Console<Admins>,
) -> Result<HttpResponse, ApiError> {
    let users: Vec<User> = state
        .store
        .list_users()
        .await
        .map_err(store_error("list_users"))?
        .into_iter()
        .map(|r| r.user)
        .collect();
    Ok(HttpResponse::Ok().json(json!({ "users": users })))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NewUser {
    email: Email,
    name: UserName,
    #[schema(value_type = Vec<StaffRole>)]
    roles: BTreeSet<StaffRole>,
    #[serde(default)]
    skills: Skills,
    /// Omit for an account that signs in by SSO only.
    #[serde(default)]
    password: Option<String>,
}

/// Create an account.
#[utoipa::path(tag = "console", request_body = NewUser, security(("console" = ["admin"])),
    responses((status = 201, description = "The account", body = User), BodyErrors,
        (status = 401, description = "`missing_credentials`, `console_expired`", body = ErrorBody),
        (status = 403, description = "`forbidden_role`, `csrf_failed`", body = ErrorBody),
        (status = 409, description = "`email_taken`", body = ErrorBody)))]
#[post("/users")]
async fn create_user(
    state: web::Data<AppState>,
    c: Console<Admins, ValidJson<NewUser>>,
) -> Result<HttpResponse, ApiError> {
    let ValidJson(body) = c.body;
    let password_hash = match body.password {
        Some(p) => {
            super::passwords::check_new(
                &p,
                body.email.as_str(),
                state.config.console.password_min_length,
            )
            .map_err(weak)?;
            Some(super::passwords::hash(p).await)
        }
        None => None,
    };
    let user = User::new(body.email, body.name, body.roles, body.skills, Utc::now())
        .map_err(|e| ApiError::validation(e.to_string()))?;
    let record = UserRecord {
        user,
        password_hash,
        sso: None,
        generation: 0,
    };
    state
        .store
        .create_user(&record)
        .await
        .map_err(store_error("create_user"))?;
    tracing::info!(user = %record.user.id, by = %c.staff.user.id, "account created");
    Ok(HttpResponse::Created().json(&record.user))
}

async fn load(state: &AppState, id: UserId) -> Result<UserRecord, ApiError> {
    state
        .store
        .get_user(id)
        .await
        .map_err(store_error("get_user"))?
        .ok_or_else(|| ApiError::not_found("user_not_found", "no account with this id"))
}

/// An account.
#[utoipa::path(tag = "console", params(("user_id" = Uuid, Path, description = "The account")), security(("console" = ["admin"])),
    responses((status = 200, description = "The account", body = User), (status = 401, description = "`missing_credentials`, `console_expired`", body = ErrorBody), (status = 403, description = "`forbidden_role`", body = ErrorBody), (status = 404, description = "`user_not_found`", body = ErrorBody)))]
#[get("/users/{user_id}")]
async fn get_user(
    state: web::Data<AppState>,
    id: web::Path<UserId>,
    _: Console<Admins>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(load(&state, id.into_inner()).await?.user))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct UserChange {
    name: Option<UserName>,
    email: Option<Email>,
    #[schema(value_type = Option<Vec<StaffRole>>)]
    roles: Option<BTreeSet<StaffRole>>,
    skills: Option<Skills>,
    disabled: Option<bool>,
    password: Option<String>,
}

/// Change an account. A new password, new roles or disabling signs the account's consoles out.
#[utoipa::path(tag = "console", params(("user_id" = Uuid, Path, description = "The account")), request_body = UserChange, security(("console" = ["admin"])),
    responses((status = 200, description = "The account", body = User), BodyErrors,
        (status = 401, description = "`missing_credentials`, `console_expired`", body = ErrorBody),
        (status = 403, description = "`forbidden_role`, `csrf_failed`", body = ErrorBody),
        (status = 404, description = "`user_not_found`", body = ErrorBody),
        (status = 409, description = "`email_taken`, `self_lockout` (an admin disabling themselves or dropping their own admin role)", body = ErrorBody)))]
#[patch("/users/{user_id}")]
async fn update_user(
    state: web::Data<AppState>,
    id: web::Path<UserId>,
    c: Console<Admins, ValidJson<UserChange>>,
) -> Result<HttpResponse, ApiError> {
    let ValidJson(change) = c.body;
    let mut record = load(&state, id.into_inner()).await?;
    let myself = record.user.id == c.staff.user.id;
    if myself
        && (change.disabled == Some(true)
            || change
                .roles
                .as_ref()
                .is_some_and(|r| !r.contains(&StaffRole::Admin)))
    {
        return Err(ApiError::conflict(
            "self_lockout",
            "an admin cannot disable themselves or drop their own admin role",
        ));
    }
    let mut sign_out = false;
    if let Some(roles) = change.roles {
        if roles.is_empty() {
            return Err(ApiError::validation(
                "roles: a user needs at least one role",
            ));
        }
        sign_out |= roles != record.user.roles;
        record.user.roles = roles;
    }
    if let Some(p) = change.password {
        let email = change
            .email
            .as_ref()
            .unwrap_or(&record.user.email)
            .as_str()
            .to_string();
        super::passwords::check_new(&p, &email, state.config.console.password_min_length)
            .map_err(weak)?;
        record.password_hash = Some(super::passwords::hash(p).await);
        sign_out = true;
    }
    if let Some(d) = change.disabled {
        sign_out |= d && !record.user.disabled;
        record.user.disabled = d;
    }
    if let Some(n) = change.name {
        record.user.name = n;
    }
    if let Some(e) = change.email {
        record.user.email = e;
    }
    if let Some(s) = change.skills {
        record.user.skills = s;
    }
    if sign_out {
        record.generation += 1;
    }
    state
        .store
        .update_user(&record)
        .await
        .map_err(store_error("update_user"))?;
    tracing::info!(user = %record.user.id, by = %c.staff.user.id, signed_out = sign_out, "account changed");
    Ok(HttpResponse::Ok().json(&record.user))
}
