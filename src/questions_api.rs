//! `/v1/question-banks`: the lender's sets of questions (see [`vkyc_domain::questions`]).
//! The lender's back end (API key) and signed-in admins define them; any signed-in staff
//! member and the back end read them. A session draws its questions when it is created and
//! keeps a copy, so replacing or deleting a bank changes no session's record.
//!
//! | call | who |
//! | --- | --- |
//! | `GET /v1/question-banks` | API key, any staff |
//! | `GET /v1/question-banks/{id}` | API key, any staff |
//! | `PUT /v1/question-banks/{id}` | API key, admin: create (201) or replace (200) |
//! | `DELETE /v1/question-banks/{id}` | API key, admin (not the default bank: 409) |
//!
//! At start, the banks of `[[kyc.question_banks]]` are written when the store has no bank of
//! that id ([`seed_banks`]): the config gives a new installation its banks, and an admin's
//! later edits survive restarts.

use actix_web::{delete, get, put, web, HttpResponse};
use serde_json::json;
use vkyc_domain::questions::{BankDefinition, BankId, QuestionBank};

use crate::access::{Admins, AnyStaff, KeyOrConsole};
use crate::auth::Caller;
use crate::config::Config;
use crate::error::{ApiError, AuthErrors, BodyErrors, ErrorBody};
use crate::extract::ValidJson;
use crate::startup::AppState;
use crate::store::{Store, StoreError};

pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(list_banks)
        .service(get_bank)
        .service(put_bank)
        .service(delete_bank);
}

/// The banks of the config that the store does not have yet; returns how many were written.
pub async fn seed_banks(store: &dyn Store, config: &Config) -> Result<usize, StoreError> {
    let mut n = 0;
    for bank in &config.kyc.question_banks {
        if store.get_bank(&bank.id).await?.is_none() {
            store.put_bank(bank).await?;
            n += 1;
        }
    }
    Ok(n)
}

/// The bank a session asks from: the one it names, else the default; 422
/// `unknown_question_bank` when there is no such bank.
pub async fn bank_for_session(
    state: &AppState,
    named: Option<&BankId>,
) -> Result<QuestionBank, ApiError> {
    let id = named.unwrap_or(&state.config.kyc.default_question_bank);
    state
        .store
        .get_bank(id)
        .await
        .map_err(|e| ApiError::internal("get_bank", e))?
        .ok_or_else(|| {
            ApiError::new(
                actix_web::http::StatusCode::UNPROCESSABLE_ENTITY,
                "unknown_question_bank",
                format!("questions.bank: no question bank {:?}", id.as_str()),
            )
        })
}

fn bank_id(raw: &str) -> Result<BankId, ApiError> {
    BankId::parse(raw).map_err(|e| ApiError::bad_request("invalid_path", e.0))
}

fn not_found(id: &BankId) -> ApiError {
    ApiError::not_found(
        "question_bank_not_found",
        format!("no question bank {:?}", id.as_str()),
    )
}

fn who(caller: &Caller) -> String {
    match caller {
        Caller::Staff(s) => format!("user:{}", s.user.id),
        _ => "backend".into(),
    }
}

/// The banks, by id.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct BankList {
    pub banks: Vec<QuestionBank>,
    /// The bank a session asks from when it names none.
    pub default_bank: BankId,
}

/// Every question bank.
#[utoipa::path(tag = "questions", security(("api_key" = []), ("console" = [])),
    responses((status = 200, description = "The banks", body = BankList), AuthErrors))]
#[get("/question-banks")]
async fn list_banks(
    state: web::Data<AppState>,
    _: KeyOrConsole<AnyStaff>,
) -> Result<HttpResponse, ApiError> {
    // In id order (the port's contract).
    let banks = state
        .store
        .list_banks()
        .await
        .map_err(|e| ApiError::internal("list_banks", e))?;
    Ok(HttpResponse::Ok().json(json!({
        "banks": banks,
        "default_bank": state.config.kyc.default_question_bank,
    })))
}

/// One question bank.
#[utoipa::path(tag = "questions", params(("id" = String, Path, description = "The bank's id")), security(("api_key" = []), ("console" = [])),
    responses((status = 200, description = "The bank", body = QuestionBank), AuthErrors, (status = 400, description = "`invalid_path`", body = ErrorBody), (status = 404, description = "`question_bank_not_found`", body = ErrorBody)))]
#[get("/question-banks/{id}")]
async fn get_bank(
    state: web::Data<AppState>,
    path: web::Path<String>,
    _: KeyOrConsole<AnyStaff>,
) -> Result<HttpResponse, ApiError> {
    let id = bank_id(&path)?;
    let bank = state
        .store
        .get_bank(&id)
        .await
        .map_err(|e| ApiError::internal("get_bank", e))?
        .ok_or_else(|| not_found(&id))?;
    Ok(HttpResponse::Ok().json(bank))
}

/// Creates or replaces a bank. Sessions already created keep the questions they drew.
#[utoipa::path(tag = "questions", params(("id" = String, Path, description = "The bank's id")), request_body = BankDefinition, security(("api_key" = []), ("console" = ["admin"])),
    responses((status = 201, description = "Created", body = QuestionBank), (status = 200, description = "Replaced", body = QuestionBank), AuthErrors, BodyErrors, (status = 400, description = "`invalid_path`", body = ErrorBody)))]
#[put("/question-banks/{id}")]
async fn put_bank(
    state: web::Data<AppState>,
    path: web::Path<String>,
    KeyOrConsole {
        caller,
        body: ValidJson(body),
        ..
    }: KeyOrConsole<Admins, ValidJson<BankDefinition>>,
) -> Result<HttpResponse, ApiError> {
    let id = bank_id(&path)?;
    let bank = QuestionBank::define(id, body).map_err(|e| ApiError::validation(e.0))?;
    let created = state
        .store
        .put_bank(&bank)
        .await
        .map_err(|e| ApiError::internal("put_bank", e))?;
    tracing::info!(bank = %bank.id, questions = bank.questions.len(), ask = bank.ask, by = %who(&caller), created, "question bank saved");
    Ok(if created {
        HttpResponse::Created().json(bank)
    } else {
        HttpResponse::Ok().json(bank)
    })
}

/// Deletes a bank (not the default one: sessions that name no bank ask from it).
#[utoipa::path(tag = "questions", params(("id" = String, Path, description = "The bank's id")), security(("api_key" = []), ("console" = ["admin"])),
    responses((status = 204, description = "Deleted"), AuthErrors, (status = 400, description = "`invalid_path`", body = ErrorBody), (status = 404, description = "`question_bank_not_found`", body = ErrorBody), (status = 409, description = "`default_question_bank`", body = ErrorBody)))]
#[delete("/question-banks/{id}")]
async fn delete_bank(
    state: web::Data<AppState>,
    path: web::Path<String>,
    KeyOrConsole { caller, .. }: KeyOrConsole<Admins>,
) -> Result<HttpResponse, ApiError> {
    let id = bank_id(&path)?;
    if id == state.config.kyc.default_question_bank {
        return Err(ApiError::conflict(
            "default_question_bank",
            "this is the default bank (kyc.default_question_bank): sessions that name no bank ask from it",
        ));
    }
    if !state
        .store
        .delete_bank(&id)
        .await
        .map_err(|e| ApiError::internal("delete_bank", e))?
    {
        return Err(not_found(&id));
    }
    tracing::info!(bank = %id, by = %who(&caller), "question bank deleted");
    Ok(HttpResponse::NoContent().finish())
}
