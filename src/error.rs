//! API errors: every failure answers `{"error":{"code","message"}}` with a precise status and
//! a stable, machine-readable `code`.

use std::collections::BTreeMap;

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::{Content, Ref, RefOr};
use utoipa::ToSchema;

#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// Seconds, for 429/503 answers.
    pub retry_after: Option<u64>,
}

/// The body of every error answer.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"error": {"code": "session_not_found", "message": "no session with this id"}}))]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable and machine-readable: the codes each operation can answer are listed with its
    /// responses.
    pub code: String,
    /// For people; its wording may change.
    pub message: String,
}

/// Documents a set of error answers that operations list in their `responses(…)`: each
/// status with its description (the codes it carries), all with the [`ErrorBody`] schema.
macro_rules! error_answers {
    ($(#[$doc:meta])* $vis:vis $name:ident { $($status:literal => $description:literal,)+ }) => {
        $(#[$doc])*
        $vis struct $name;

        impl utoipa::IntoResponses for $name {
            fn responses() -> std::collections::BTreeMap<String, utoipa::openapi::RefOr<utoipa::openapi::response::Response>> {
                $crate::error::error_responses(&[$(($status, $description)),+])
            }
        }
    };
}
pub(crate) use error_answers;

/// Error answers: (status, description), each with the [`ErrorBody`] schema.
pub fn error_responses(answers: &[(u16, &str)]) -> BTreeMap<String, RefOr<Response>> {
    let body = || Content::new(Some(Ref::from_schema_name("ErrorBody")));
    answers
        .iter()
        .map(|(status, description)| {
            (
                status.to_string(),
                ResponseBuilder::new()
                    .description(*description)
                    .content("application/json", body())
                    .build()
                    .into(),
            )
        })
        .collect()
}

error_answers! {
    /// The answers of authentication and authorisation, common to every operation that takes
    /// a bearer token.
    pub AuthErrors {
        401 => "`missing_credentials` (no `Authorization: Bearer …`), `invalid_token`, `token_expired`,\n\
                `token_revoked` (the token's session was cancelled or expired, or the customer's once it completed).",
        403 => "`forbidden_role` (this caller may not do this), `forbidden_session` (a join token of\n\
                another session).",
        429 => "`rate_limited` (`Retry-After`): too many requests with wrong credentials from this\n\
                address, or over this operation's limits (`[limits]`).",
    }
}

error_answers! {
    /// The answers of a JSON body that cannot be read.
    pub BodyErrors {
        400 => "`malformed_json` (not JSON), `invalid_query`, `invalid_path` (an id that is not a UUID).",
        413 => "`payload_too_large`: over `server.max_body_bytes`.",
        415 => "`unsupported_media_type`: send `Content-Type: application/json`.",
        422 => "`validation_failed`: valid JSON of the wrong shape or out-of-range values (the message\n\
                names the field).",
    }
}

impl ApiError {
    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            error: ErrorDetail {
                code: self.code.to_string(),
                message: self.message.clone(),
            },
        }
    }

    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }
    pub fn validation(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            message,
        )
    }
    /// 429 `rate_limited`: too many `what` lately; `Retry-After: secs`.
    pub fn rate_limited(what: &str, secs: u64) -> Self {
        Self {
            retry_after: Some(secs),
            ..Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                format!("too many {what}; try again in {secs} s"),
            )
        }
    }
    pub fn unauthorized(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, code, message)
    }
    pub fn forbidden(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, code, message)
    }
    pub fn not_found(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, message)
    }
    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, message)
    }
    pub fn internal(context: &str, err: impl std::fmt::Display) -> Self {
        tracing::error!(%context, error = %err, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error; it has been logged",
        )
    }
    pub fn session_not_found() -> Self {
        Self::not_found("session_not_found", "no session with this id")
    }
}

/// A step input that breaks a rule of the domain's (`vkyc_domain::step_input`).
impl From<vkyc_domain::step_input::InvalidStepInput> for ApiError {
    fn from(e: vkyc_domain::step_input::InvalidStepInput) -> Self {
        ApiError::validation(e.0)
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }
    fn error_response(&self) -> HttpResponse {
        let mut resp = HttpResponse::build(self.status);
        if let Some(secs) = self.retry_after {
            resp.insert_header(("Retry-After", secs.to_string()));
        }
        resp.json(self.body())
    }
}

/// Map actix's JSON extractor failures to precise codes.
pub fn json_error(
    err: actix_web::error::JsonPayloadError,
    _req: &actix_web::HttpRequest,
) -> actix_web::Error {
    use actix_web::error::JsonPayloadError as E;
    let api = match &err {
        E::OverflowKnownLength { length, limit } => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("body is {length} bytes; the limit is {limit}"),
        ),
        E::Overflow { limit } => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("body exceeds {limit} bytes"),
        ),
        E::ContentType => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send JSON with Content-Type: application/json",
        ),
        E::Deserialize(e) if e.is_data() => ApiError::validation(format!("invalid field: {e}")),
        E::Deserialize(e) => {
            ApiError::bad_request("malformed_json", format!("body is not valid JSON: {e}"))
        }
        other => ApiError::bad_request("bad_request", other.to_string()),
    };
    api.into()
}

pub fn query_error(
    err: actix_web::error::QueryPayloadError,
    _req: &actix_web::HttpRequest,
) -> actix_web::Error {
    ApiError::bad_request("invalid_query", err.to_string()).into()
}

pub fn path_error(
    err: actix_web::error::PathError,
    _req: &actix_web::HttpRequest,
) -> actix_web::Error {
    ApiError::bad_request("invalid_path", format!("invalid id in path: {err}")).into()
}
