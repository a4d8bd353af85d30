//! Who is calling: the lender's backend / agent console (API key) or a participant of one
//! session (a signed join token). Handlers do not call this themselves: they name the
//! caller they accept with an extractor of [`crate::access`].

use std::path::Path;

use actix_web::HttpRequest;
use chrono::{DateTime, Utc};
use jsonwebtoken::{
    decode, encode, errors::ErrorKind, Algorithm, DecodingKey, EncodingKey, Header, Validation,
};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use uuid::Uuid;
use vkyc_domain::kyc::Principal;
use vkyc_domain::Role;
use vkyc_domain::SessionId;

use crate::desk::console::Staff;
use crate::error::ApiError;
use vkyc_domain::desk::user::StaffRole;

const AUDIENCE: &str = "vkyc-join";

/// The claims of a join token: one session, one participant, one role, an expiry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JoinClaims {
    /// Session id.
    pub sid: SessionId,
    /// Participant id.
    pub sub: String,
    pub role: Role,
    pub iat: i64,
    pub exp: i64,
    pub jti: Uuid,
    pub aud: String,
}

#[derive(Debug, Clone)]
pub enum Caller {
    /// Holder of the API key: the lender's backend.
    Backend,
    Participant(JoinClaims),
    /// A signed-in staff member (the console cookie): see [`crate::desk::console`].
    Staff(Box<Staff>),
}

fn console_needs_token() -> ApiError {
    ApiError::forbidden(
        "forbidden_role",
        "a console acts in a session with that session's join token (POST /v1/sessions/{id}/tokens)",
    )
}

impl Caller {
    pub fn require_backend(&self) -> Result<(), ApiError> {
        match self {
            Caller::Backend => Ok(()),
            Caller::Participant(_) | Caller::Staff(_) => Err(ApiError::forbidden(
                "forbidden_role",
                "this endpoint needs the API key",
            )),
        }
    }

    /// The API key, or a staff member with one of `roles`.
    pub fn require_key_or_staff(&self, roles: &[StaffRole]) -> Result<(), ApiError> {
        match self {
            Caller::Backend => Ok(()),
            Caller::Staff(s) if s.has_any(roles) => Ok(()),
            Caller::Staff(_) => Err(ApiError::forbidden(
                "forbidden_role",
                "your account's roles do not allow this",
            )),
            Caller::Participant(_) => Err(ApiError::forbidden(
                "forbidden_role",
                "this endpoint needs the API key or a signed-in console",
            )),
        }
    }

    /// Who this caller is in a case's record (`backend` or `role:participant`).
    pub fn principal(&self) -> Principal {
        match self {
            Caller::Backend => Principal::Backend,
            Caller::Participant(c) => Principal::Participant {
                role: c.role,
                id: c.sub.clone(),
            },
            Caller::Staff(s) => Principal::Participant {
                role: Role::Agent,
                id: s.user.id.to_string(),
            },
        }
    }

    /// The token's role; `None` for the API key and a console.
    pub fn role(&self) -> Option<Role> {
        match self {
            Caller::Backend | Caller::Staff(_) => None,
            Caller::Participant(c) => Some(c.role),
        }
    }

    /// The backend, or a participant of this session (with one of `roles`).
    pub fn require_session(&self, session_id: SessionId, roles: &[Role]) -> Result<(), ApiError> {
        match self {
            Caller::Participant(c) if c.sid != session_id => Err(ApiError::forbidden(
                "forbidden_session",
                "this token belongs to another session",
            )),
            _ => self.require_role(roles),
        }
    }

    /// The backend, or a participant with one of `roles`; never a console (it uses a join token).
    pub fn require_role(&self, roles: &[Role]) -> Result<(), ApiError> {
        match self {
            Caller::Participant(c) if !roles.contains(&c.role) => Err(ApiError::forbidden(
                "forbidden_role",
                format!("a {} token may not do this", c.role.as_str()),
            )),
            Caller::Staff(_) => Err(console_needs_token()),
            _ => Ok(()),
        }
    }
}

pub struct Auth {
    api_key: String,
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::thread_rng().fill_bytes(&mut buf);
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

/// A configured secret, or one generated on first start and kept in `data_dir/file`.
pub fn secret_or_generate(
    configured: &str,
    data_dir: &Path,
    file: &str,
) -> std::io::Result<String> {
    if !configured.is_empty() {
        return Ok(configured.to_string());
    }
    let path = data_dir.join(file);
    match std::fs::read_to_string(&path) {
        Ok(s) if !s.trim().is_empty() => Ok(s.trim().to_string()),
        _ => {
            std::fs::create_dir_all(data_dir)?;
            let secret = random_hex(32);
            std::fs::write(&path, &secret)?;
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
            }
            Ok(secret)
        }
    }
}

/// Equal-time comparison, so the API key cannot be guessed byte by byte from timings.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl Auth {
    pub fn new(api_key: String, jwt_secret: &str) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 0;
        validation.set_audience(&[AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "aud", "sub"]);
        Self {
            api_key,
            encoding: EncodingKey::from_secret(jwt_secret.as_bytes()),
            decoding: DecodingKey::from_secret(jwt_secret.as_bytes()),
            validation,
        }
    }

    pub fn api_key(&self) -> &str {
        &self.api_key
    }

    pub fn issue(
        &self,
        sid: SessionId,
        participant: &str,
        role: Role,
        ttl_secs: u64,
    ) -> (String, DateTime<Utc>) {
        let now = Utc::now();
        let exp = now + chrono::Duration::seconds(ttl_secs as i64);
        let claims = JoinClaims {
            sid,
            sub: participant.to_string(),
            role,
            iat: now.timestamp(),
            exp: exp.timestamp(),
            jti: Uuid::new_v4(),
            aud: AUDIENCE.to_string(),
        };
        let token = encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .expect("HS256 encoding cannot fail");
        (token, exp)
    }

    pub fn verify(&self, token: &str) -> Result<JoinClaims, ApiError> {
        decode::<JoinClaims>(token, &self.decoding, &self.validation)
            .map(|d| d.claims)
            .map_err(|e| match e.kind() {
                ErrorKind::ExpiredSignature => {
                    ApiError::unauthorized("token_expired", "the join token has expired")
                }
                _ => ApiError::unauthorized("invalid_token", "the token is not valid"),
            })
    }

    /// Authenticate from `Authorization: Bearer …` (the API key or a join token); `Ok(None)`
    /// without the header.
    pub fn bearer(&self, req: &HttpRequest) -> Result<Option<Caller>, ApiError> {
        match req.headers().get("authorization") {
            None => Ok(None),
            Some(_) => self.caller(req).map(Some),
        }
    }

    /// Authenticate from `Authorization: Bearer …` (the API key or a join token).
    pub fn caller(&self, req: &HttpRequest) -> Result<Caller, ApiError> {
        let header = req.headers().get("authorization").ok_or_else(|| {
            ApiError::unauthorized(
                "missing_credentials",
                "send Authorization: Bearer <api key or token>, or sign in",
            )
        })?;
        let value = header
            .to_str()
            .map_err(|_| ApiError::unauthorized("invalid_token", "the token is not valid"))?;
        let token = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
            .ok_or_else(|| ApiError::unauthorized("missing_credentials", "use the Bearer scheme"))?
            .trim();
        if same(token.as_bytes(), self.api_key.as_bytes()) {
            return Ok(Caller::Backend);
        }
        self.verify(token).map(Caller::Participant)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_foreign_or_garbage_fail() {
        let auth = Auth::new("k".repeat(16), &"s".repeat(32));
        let sid = SessionId::new();
        let (token, _) = auth.issue(sid, "customer", Role::Customer, 60);
        let claims = auth.verify(&token).unwrap();
        assert_eq!(
            (claims.sid, claims.role, claims.sub.as_str()),
            (sid, Role::Customer, "customer")
        );

        let other = Auth::new("k".repeat(16), &"t".repeat(32));
        assert_eq!(other.verify(&token).unwrap_err().code, "invalid_token");
        assert_eq!(auth.verify("garbage").unwrap_err().code, "invalid_token");
        let mut tampered = token.clone();
        tampered.pop();
        assert_eq!(auth.verify(&tampered).unwrap_err().code, "invalid_token");
    }

    #[test]
    fn expired_tokens_say_so() {
        let auth = Auth::new("k".repeat(16), &"s".repeat(32));
        let claims = JoinClaims {
            sid: SessionId::new(),
            sub: "c".into(),
            role: Role::Customer,
            iat: 0,
            exp: Utc::now().timestamp() - 5,
            jti: Uuid::new_v4(),
            aud: AUDIENCE.into(),
        };
        let token = encode(&Header::new(Algorithm::HS256), &claims, &auth.encoding).unwrap();
        assert_eq!(auth.verify(&token).unwrap_err().code, "token_expired");
    }

    #[test]
    fn session_scope_and_roles_are_enforced() {
        let sid = SessionId::new();
        let c = |role| {
            Caller::Participant(JoinClaims {
                sid,
                sub: "x".into(),
                role,
                iat: 0,
                exp: 0,
                jti: Uuid::new_v4(),
                aud: AUDIENCE.into(),
            })
        };
        assert!(c(Role::Agent).require_session(sid, &[Role::Agent]).is_ok());
        assert_eq!(
            c(Role::Customer)
                .require_session(sid, &[Role::Agent])
                .unwrap_err()
                .code,
            "forbidden_role"
        );
        assert_eq!(
            c(Role::Agent)
                .require_session(SessionId::new(), &[Role::Agent])
                .unwrap_err()
                .code,
            "forbidden_session"
        );
        assert_eq!(
            c(Role::Agent).require_backend().unwrap_err().code,
            "forbidden_role"
        );
        assert!(Caller::Backend.require_session(sid, &[]).is_ok());
    }
}
