//! Console sessions: a staff member's signed-in browser.
//!
//! Signing in (a password, single sign-on or the first-admin link) stores a
//! [`ConsoleSession`] under the SHA-256 of a random 256-bit cookie value and sets the cookie
//! `vkyc_console`: `HttpOnly` (no script reads it), `SameSite=Strict` (no other site's page
//! sends it), `Secure` when the public URL is https, `Path=/`. Every request with the cookie
//! is checked against the store:
//!
//! - unused for `console.idle_timeout_secs`, or older than `console.absolute_timeout_secs`
//!   → 401 `console_expired` (and the row is deleted);
//! - the account disabled, or changed since (its `generation`: password, roles) → 401;
//! - a request that changes something (any method but GET/HEAD) must carry the session's
//!   CSRF token in `X-CSRF-Token` → else 403 `csrf_failed`. The token is handed to the page
//!   by the sign-in answer and `GET /v1/auth/me`; a page of another origin cannot read it.
//!
//! `last_seen_at` is written at most once a minute, so the idle timeout is exact to a minute
//! and a busy console does not write on every request.

use actix_web::cookie::{Cookie, SameSite};
use actix_web::HttpRequest;
use chrono::{DateTime, Duration, Utc};
use rand::RngCore;
use sha2::{Digest, Sha256};
use vkyc_domain::desk::user::{StaffRole, User};

use crate::error::ApiError;
use crate::startup::AppState;
use crate::store::{ConsoleSession, UserRecord};

pub const COOKIE: &str = "vkyc_console";
pub const CSRF_HEADER: &str = "x-csrf-token";

/// A signed-in staff member making this request.
#[derive(Debug, Clone)]
pub struct Staff {
    pub user: User,
    pub csrf: String,
    pub method: String,
    /// The stored key of the console session (SHA-256 of the cookie).
    pub(crate) key: String,
}

impl Staff {
    pub fn has(&self, role: StaffRole) -> bool {
        self.user.has(role)
    }

    pub fn has_any(&self, roles: &[StaffRole]) -> bool {
        roles.iter().any(|r| self.user.has(*r))
    }
}

/// A random 256-bit secret, URL-safe base64.
pub fn new_secret() -> String {
    let mut buf = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut buf);
    base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, buf)
}

/// The stored key of a secret: its SHA-256, hex.
pub fn key_of(secret: &str) -> String {
    Sha256::digest(secret.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Equal-time comparison of two tokens.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

fn expired() -> ApiError {
    ApiError::unauthorized(
        "console_expired",
        "your console session has ended; sign in again",
    )
}

/// Why a console session is over at `now`, if it is.
fn is_over(s: &ConsoleSession, idle: Duration, absolute: Duration, now: DateTime<Utc>) -> bool {
    now - s.last_seen_at > idle || now - s.created_at > absolute
}

/// Starts a console session for `record` and returns the cookie to set and the CSRF token.
pub async fn sign_in(
    state: &AppState,
    record: &UserRecord,
    method: &str,
) -> Result<(Cookie<'static>, String), ApiError> {
    let secret = new_secret();
    let now = Utc::now();
    let session = ConsoleSession {
        user_id: record.user.id,
        generation: record.generation,
        csrf: new_secret(),
        created_at: now,
        last_seen_at: now,
        method: method.to_string(),
    };
    state
        .store
        .put_console_session(&key_of(&secret), &session)
        .await
        .map_err(|e| ApiError::internal("console session", e))?;
    tracing::info!(user = %record.user.id, method, "console signed in");
    Ok((cookie(state, secret, false), session.csrf))
}

/// The console cookie (`clear`: the one that removes it).
pub fn cookie(state: &AppState, value: String, clear: bool) -> Cookie<'static> {
    let mut c = Cookie::build(COOKIE, value)
        .path("/")
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(state.public_url.starts_with("https://"))
        .finish();
    if clear {
        c.make_removal();
    }
    c
}

/// The staff member signed in on this request's cookie: `Ok(None)` without the cookie.
pub async fn staff(state: &AppState, req: &HttpRequest) -> Result<Option<Staff>, ApiError> {
    let Some(cookie) = req.cookie(COOKIE) else {
        return Ok(None);
    };
    let key = key_of(cookie.value());
    let store = &state.store;
    let session = store
        .get_console_session(&key)
        .await
        .map_err(|e| ApiError::internal("console session", e))?
        .ok_or_else(expired)?;
    let cfg = &state.config.console;
    let now = Utc::now();
    if is_over(
        &session,
        Duration::seconds(cfg.idle_timeout_secs as i64),
        Duration::seconds(cfg.absolute_timeout_secs as i64),
        now,
    ) {
        let _ = store.delete_console_session(&key).await;
        return Err(expired());
    }
    let record = store
        .get_user(session.user_id)
        .await
        .map_err(|e| ApiError::internal("console user", e))?;
    let Some(record) = record.filter(|r| !r.user.disabled && r.generation == session.generation)
    else {
        let _ = store.delete_console_session(&key).await;
        return Err(expired());
    };
    let safe = matches!(req.method().as_str(), "GET" | "HEAD" | "OPTIONS");
    if !safe {
        let sent = req
            .headers()
            .get(CSRF_HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if !same(sent, &session.csrf) {
            return Err(ApiError::forbidden(
                "csrf_failed",
                "this change needs the console's X-CSRF-Token header",
            ));
        }
    }
    if now - session.last_seen_at > Duration::seconds(60) {
        let touched = ConsoleSession {
            last_seen_at: now,
            ..session.clone()
        };
        store
            .put_console_session(&key, &touched)
            .await
            .map_err(|e| ApiError::internal("console session", e))?;
    }
    Ok(Some(Staff {
        user: record.user,
        csrf: session.csrf,
        method: session.method,
        key,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idle_and_absolute_timeouts() {
        let t0 = Utc::now();
        let s = ConsoleSession {
            user_id: vkyc_domain::UserId::new(),
            generation: 0,
            csrf: "c".into(),
            created_at: t0,
            last_seen_at: t0,
            method: "password".into(),
        };
        let (idle, abs) = (Duration::minutes(30), Duration::hours(12));
        assert!(!is_over(&s, idle, abs, t0 + Duration::minutes(29)));
        assert!(is_over(&s, idle, abs, t0 + Duration::minutes(31)));
        let busy = ConsoleSession {
            last_seen_at: t0 + Duration::hours(12),
            ..s
        };
        assert!(!is_over(&busy, idle, abs, t0 + Duration::hours(12)));
        assert!(is_over(
            &busy,
            idle,
            abs,
            t0 + Duration::hours(12) + Duration::seconds(1)
        ));
        assert!(same("abc", "abc") && !same("abc", "abd") && !same("abc", "ab"));
        assert_eq!(key_of("x").len(), 64);
        assert_ne!(new_secret(), new_secret());
    }
}
