//! Rate limits on guessing and flooding: keyed GCRA buckets (`governor`) a caller draws from
//! before the server looks at what they sent. Over a limit the answer is 429 `rate_limited`
//! with `Retry-After`, whatever the credentials: a guess that would have been right is not
//! answered either, so a limit bounds the guessing rate.
//!
//! - Console sign-in, per client address and per email ([`LoginLimits`], in the handler).
//! - Everything else in one middleware, [`guard`], from the table in `[limits]`:
//!   authentication failures per address (past the limit every request with credentials
//!   from that address is refused until its bucket refills), session creation and token
//!   issue per address and per credential, the verify API per address and per credential,
//!   and socket joins (`/v1/rtc`, `/v1/queue/ws`, `/v1/desk/ws`) per address.
//! - OTP sends and verifications per address and per session, in their handler once the
//!   caller is admitted to the session ([`RateLimits::otp_attempt`]).
//!
//! A credential is keyed by a digest of the `Authorization` header or the console cookie, so
//! no secret is kept. The client address is the TCP peer's, or, behind a proxy listed in
//! `limits.trusted_proxies`, the nearest `X-Forwarded-For` address that is not a proxy.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{HttpRequest, ResponseError};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use ipnet::IpNet;
use sha2::Digest;

use crate::error::ApiError;
use vkyc_domain::SessionId;

/// One class of attempts, each key (an address, an email…) with its own bucket of `per_minute`
/// attempts, refilled evenly.
pub struct Limiter {
    buckets: DefaultKeyedRateLimiter<String>,
    what: &'static str,
}

impl Limiter {
    /// `per_minute` attempts a minute per key, all of them available at once; 0 = no limit.
    pub fn per_minute(per_minute: u32, what: &'static str) -> Option<Self> {
        let n = NonZeroU32::new(per_minute)?;
        Some(Self {
            buckets: RateLimiter::keyed(Quota::per_minute(n).allow_burst(n)),
            what,
        })
    }

    /// Like [`Self::per_minute`], with one attempt fewer at once: for a budget spent after
    /// the fact (a failure counted once answered), so the attempt after the `per_minute`-th
    /// is the one refused.
    fn spent_after(per_minute: u32, what: &'static str) -> Option<Self> {
        let n = NonZeroU32::new(per_minute)?;
        let burst = NonZeroU32::new(per_minute - 1).unwrap_or(n);
        Some(Self {
            buckets: RateLimiter::keyed(Quota::per_minute(n).allow_burst(burst)),
            what,
        })
    }

    /// Takes one attempt for `key`, or says when the next one will be allowed.
    pub fn check(&self, key: &str) -> Result<(), ApiError> {
        match self.buckets.check_key(&key.to_string()) {
            Ok(()) => {
                self.shrink();
                Ok(())
            }
            Err(not_until) => {
                let wait = not_until.wait_time_from(DefaultClock::default().now());
                let secs = retry_secs(wait);
                tracing::warn!(
                    limit = self.what,
                    retry_after_secs = secs,
                    "rate limit reached"
                );
                Err(ApiError::rate_limited(self.what, secs))
            }
        }
    }

    /// Forgets keys whose buckets are full again once there are many (a scan of every key,
    /// so not on each attempt): memory stays bounded under a spray of addresses.
    fn shrink(&self) {
        if self.buckets.len() > 10_000 {
            self.buckets.retain_recent();
        }
    }
}

fn retry_secs(wait: Duration) -> u64 {
    wait.max(Duration::from_secs(1)).as_secs_f64().ceil() as u64
}

/// A limit per client address and one per credential (either may be off).
pub struct Pair {
    per_ip: Option<Limiter>,
    per_credential: Option<Limiter>,
}

impl Pair {
    fn new(per_ip: u32, per_credential: u32, what: &'static str) -> Self {
        Self {
            per_ip: Limiter::per_minute(per_ip, what),
            per_credential: Limiter::per_minute(per_credential, what),
        }
    }

    fn check(&self, ip: Option<IpAddr>, credential: Option<&str>) -> Result<(), ApiError> {
        if let (Some(l), Some(ip)) = (&self.per_ip, ip) {
            l.check(&ip.to_string())?;
        }
        if let (Some(l), Some(c)) = (&self.per_credential, credential) {
            l.check(c)?;
        }
        Ok(())
    }
}

/// The classes of request [`guard`] limits, besides authentication failures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// `POST /v1/sessions`
    Sessions,
    /// `POST /v1/sessions/{id}/tokens`
    Tokens,
    /// `POST /v1/verify/…`
    Verify,
    /// The WebSocket upgrades: `/v1/rtc`, `/v1/queue/ws`, `/v1/desk/ws`.
    Joins,
}

/// The class of a request. (OTP attempts are limited by their handler, once the caller is
/// admitted to the session: [`RateLimits::otp_attempt`].)
pub fn classify(method: &Method, path: &str) -> Option<Class> {
    let rest = path.strip_prefix("/v1/")?;
    let segments: Vec<&str> = rest.split('/').collect();
    match (method, segments.as_slice()) {
        (&Method::POST, ["sessions"]) => Some(Class::Sessions),
        (&Method::POST, ["sessions", _, "tokens"]) => Some(Class::Tokens),
        (&Method::POST, ["verify", ..]) => Some(Class::Verify),
        (&Method::GET, ["rtc"] | ["queue", "ws"] | ["desk", "ws"]) => Some(Class::Joins),
        _ => None,
    }
}

/// Every limit of the server but sign-in's: built from `[limits]`.
pub struct RateLimits {
    failures: Option<Limiter>,
    /// Addresses over their failure budget, and until when.
    blocked: Mutex<HashMap<IpAddr, Instant>>,
    sessions: Pair,
    tokens: Pair,
    otp: Pair,
    verify: Pair,
    joins: Option<Limiter>,
    trusted_proxies: Vec<IpNet>,
}

impl RateLimits {
    pub fn new(c: &crate::config::LimitsConfig) -> Self {
        Self {
            failures: Limiter::spent_after(
                c.auth_failures_per_ip,
                "requests with wrong credentials from this address",
            ),
            blocked: Mutex::default(),
            sessions: Pair::new(
                c.sessions_per_ip,
                c.sessions_per_credential,
                "sessions created",
            ),
            tokens: Pair::new(
                c.tokens_per_ip,
                c.tokens_per_credential,
                "join tokens issued",
            ),
            otp: Pair::new(c.otp_per_ip, c.otp_per_session, "one-time code attempts"),
            verify: Pair::new(
                c.verify_per_ip,
                c.verify_per_credential,
                "verification requests",
            ),
            joins: Limiter::per_minute(c.joins_per_ip, "connections from this address"),
            trusted_proxies: c.trusted_proxies.clone(),
        }
    }

    /// The client's address: the TCP peer, or behind a trusted proxy the nearest
    /// `X-Forwarded-For` entry that is not one (an untrusted peer's header is ignored).
    pub fn client_ip(&self, req: &HttpRequest) -> Option<IpAddr> {
        let peer = req.peer_addr()?.ip();
        let trusted = |ip: &IpAddr| self.trusted_proxies.iter().any(|n| n.contains(ip));
        if !trusted(&peer) {
            return Some(peer);
        }
        let forwarded = req
            .headers()
            .get_all("x-forwarded-for")
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .collect::<Vec<_>>();
        let mut client = peer;
        for hop in forwarded.iter().rev() {
            match hop.parse::<IpAddr>() {
                Ok(ip) => {
                    client = ip;
                    if !trusted(&ip) {
                        break;
                    }
                }
                Err(_) => break,
            }
        }
        Some(client)
    }

    /// Refuses every request with credentials from an address over its failure budget.
    fn check_blocked(&self, ip: IpAddr) -> Result<(), ApiError> {
        let mut blocked = self.blocked.lock().unwrap();
        match blocked.get(&ip) {
            Some(until) if *until > Instant::now() => Err(ApiError::rate_limited(
                "requests with wrong credentials from this address",
                retry_secs(*until - Instant::now()),
            )),
            Some(_) => {
                blocked.remove(&ip);
                Ok(())
            }
            None => Ok(()),
        }
    }

    /// Counts a 401 answered to a request with credentials; past the budget, the address is
    /// blocked until its bucket refills.
    fn failed(&self, ip: IpAddr) {
        let Some(l) = &self.failures else { return };
        if let Err(e) = l.check(&ip.to_string()) {
            let secs = e.retry_after.unwrap_or(1);
            let mut blocked = self.blocked.lock().unwrap();
            if blocked.len() > 10_000 {
                let now = Instant::now();
                blocked.retain(|_, until| *until > now);
            }
            blocked.insert(ip, Instant::now() + Duration::from_secs(secs));
        }
    }

    /// One OTP send or verification in `session`, by a caller already admitted to it (so
    /// nobody else can spend the session's budget): per address and per session.
    pub fn otp_attempt(&self, req: &HttpRequest, session: SessionId) -> Result<(), ApiError> {
        self.otp
            .check(self.client_ip(req), Some(&session.simple().to_string()))
    }

    fn check_class(
        &self,
        class: Class,
        ip: Option<IpAddr>,
        credential: Option<&str>,
    ) -> Result<(), ApiError> {
        match class {
            Class::Sessions => self.sessions.check(ip, credential),
            Class::Tokens => self.tokens.check(ip, credential),
            Class::Verify => self.verify.check(ip, credential),
            Class::Joins => match (&self.joins, ip) {
                (Some(l), Some(ip)) => l.check(&ip.to_string()),
                _ => Ok(()),
            },
        }
    }
}

/// The request's credential, as a digest: the `Authorization` header, else the console cookie.
fn credential(req: &HttpRequest) -> Option<String> {
    let raw = match req.headers().get("authorization") {
        Some(v) => v.as_bytes().to_vec(),
        None => req
            .cookie(crate::desk::console::COOKIE)?
            .value()
            .as_bytes()
            .to_vec(),
    };
    let digest = sha2::Sha256::digest(&raw);
    Some(digest[..16].iter().map(|b| format!("{b:02x}")).collect())
}

/// The middleware: the limits of `[limits]` on every request (see the module docs).
pub async fn guard(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let Some(state) = req
        .app_data::<actix_web::web::Data<crate::startup::AppState>>()
        .cloned()
    else {
        return Ok(next.call(req).await?.map_into_left_body());
    };
    let limits = &state.limits;
    let ip = limits.client_ip(req.request());
    let credential = credential(req.request());
    let refused = (|| {
        if let (Some(ip), Some(_)) = (ip, &credential) {
            limits.check_blocked(ip)?;
        }
        if let Some(class) = classify(req.method(), req.path()) {
            limits.check_class(class, ip, credential.as_deref())?;
        }
        Ok::<_, ApiError>(())
    })();
    if let Err(e) = refused {
        let response = e.error_response();
        return Ok(req.into_response(response).map_into_right_body());
    }
    let res = next.call(req).await?;
    if res.status() == StatusCode::UNAUTHORIZED && credential.is_some() {
        if let Some(ip) = ip {
            limits.failed(ip);
        }
    }
    Ok(res.map_into_left_body())
}

/// The sign-in limits: per client address and per email.
pub struct LoginLimits {
    pub per_ip: Option<Limiter>,
    pub per_email: Option<Limiter>,
}

impl LoginLimits {
    pub fn new(per_ip: u32, per_email: u32) -> Self {
        Self {
            per_ip: Limiter::per_minute(per_ip, "sign-in attempts from this address"),
            per_email: Limiter::per_minute(per_email, "sign-in attempts for this account"),
        }
    }

    /// One sign-in attempt from `ip` for `email` (lower-cased, so case does not multiply it).
    pub fn attempt(&self, ip: Option<IpAddr>, email: &str) -> Result<(), ApiError> {
        if let (Some(l), Some(ip)) = (&self.per_ip, ip) {
            l.check(&ip.to_string())?;
        }
        if let Some(l) = &self.per_email {
            l.check(&email.trim().to_lowercase())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_classed_by_method_and_path() {
        let id = "0f8fad5b-d9cb-469f-a165-70867728950e";
        let otp = format!("/v1/sessions/{id}/steps/otp/attempts");
        assert_eq!(
            classify(&Method::POST, "/v1/sessions"),
            Some(Class::Sessions)
        );
        assert_eq!(classify(&Method::GET, "/v1/sessions"), None);
        assert_eq!(
            classify(&Method::POST, &format!("/v1/sessions/{id}/tokens")),
            Some(Class::Tokens)
        );
        assert_eq!(classify(&Method::POST, &otp), None, "limited once admitted");
        assert_eq!(
            classify(
                &Method::POST,
                &format!("/v1/sessions/{id}/steps/face/attempts")
            ),
            None
        );
        assert_eq!(
            classify(&Method::POST, "/v1/verify/face-match"),
            Some(Class::Verify)
        );
        for ws in ["/v1/rtc", "/v1/queue/ws", "/v1/desk/ws"] {
            assert_eq!(classify(&Method::GET, ws), Some(Class::Joins));
        }
        assert_eq!(classify(&Method::POST, "/sessions"), None);
    }

    fn config(trusted: &[&str]) -> crate::config::LimitsConfig {
        crate::config::LimitsConfig {
            auth_failures_per_ip: 3,
            sessions_per_ip: 0,
            sessions_per_credential: 2,
            tokens_per_ip: 0,
            tokens_per_credential: 0,
            otp_per_ip: 0,
            otp_per_session: 0,
            verify_per_ip: 0,
            verify_per_credential: 0,
            joins_per_ip: 0,
            trusted_proxies: trusted.iter().map(|n| n.parse().unwrap()).collect(),
        }
    }

    #[test]
    fn failures_block_the_address_and_credentials_have_their_own_buckets() {
        let l = RateLimits::new(&config(&[]));
        let ip: IpAddr = "127.0.0.9".parse().unwrap();
        for _ in 0..2 {
            l.failed(ip);
            assert!(l.check_blocked(ip).is_ok());
        }
        l.failed(ip);
        let e = l.check_blocked(ip).unwrap_err();
        assert_eq!((e.status.as_u16(), e.code), (429, "rate_limited"));
        assert!(l.check_blocked("127.0.0.10".parse().unwrap()).is_ok());
        for _ in 0..2 {
            l.check_class(Class::Sessions, Some(ip), Some("a")).unwrap();
        }
        assert!(l.check_class(Class::Sessions, Some(ip), Some("a")).is_err());
        assert!(l.check_class(Class::Sessions, Some(ip), Some("b")).is_ok());
        assert!(
            l.check_class(Class::Tokens, Some(ip), Some("a")).is_ok(),
            "0 = off"
        );
    }

    #[test]
    fn the_client_address_is_the_peers_unless_a_trusted_proxy_forwards() {
        use actix_web::test::TestRequest;
        let peer = "127.0.0.5:4000".parse().unwrap();
        let req = |l: &RateLimits, xff: &str| {
            let r = TestRequest::default()
                .peer_addr(peer)
                .insert_header(("x-forwarded-for", xff))
                .to_http_request();
            l.client_ip(&r).unwrap().to_string()
        };
        let untrusting = RateLimits::new(&config(&[]));
        assert_eq!(
            req(&untrusting, "127.0.0.77"),
            "127.0.0.5",
            "a header anyone can send"
        );
        let trusting = RateLimits::new(&config(&["127.0.0.0/29"]));
        assert_eq!(req(&trusting, "127.0.0.66, 127.0.0.77"), "127.0.0.77");
        assert_eq!(
            req(&trusting, "127.0.0.66, 127.0.0.3"),
            "127.0.0.66",
            "proxies skipped"
        );
        assert_eq!(req(&trusting, "garbage"), "127.0.0.5");
    }

    #[test]
    fn the_limit_bites_per_key_and_says_when_to_come_back() {
        let l = LoginLimits::new(100, 3);
        let ip = Some("127.0.0.1".parse().unwrap());
        for _ in 0..3 {
            l.attempt(ip, "Asha@Bank.Example").unwrap();
        }
        let e = l.attempt(ip, "asha@bank.example").unwrap_err();
        assert_eq!((e.status.as_u16(), e.code), (429, "rate_limited"));
        assert!(
            e.retry_after.is_some_and(|s| (1..=20).contains(&s)),
            "{:?}",
            e.retry_after
        );
        l.attempt(ip, "ravi@bank.example").unwrap();
        assert!(
            LoginLimits::new(0, 0).attempt(ip, "x").is_ok(),
            "0 = no limit"
        );
    }
}
