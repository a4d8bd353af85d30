//! Rate limits on guessing: keyed GCRA buckets (`governor`) that a caller draws from before
//! the server checks what they sent. Over the limit, the answer is 429 `rate_limited` with
//! `Retry-After`, whatever the credentials: a guess that would have been right is not
//! answered either, so the limit bounds the guessing rate.
//!
//! Today: console sign-in, per client address and per email (`console.login_per_ip_per_minute`,
//! `console.login_per_email_per_minute`). The other classes of issue 14 (API credentials,
//! session creation, token issue, OTP verify, the verify API, socket joins) take the same
//! [`Limiter`].

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::error::ApiError;

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

    /// Takes one attempt for `key`, or says when the next one will be allowed.
    pub fn check(&self, key: &str) -> Result<(), ApiError> {
        match self.buckets.check_key(&key.to_string()) {
            Ok(()) => {
                self.shrink();
                Ok(())
            }
            Err(not_until) => {
                let wait = not_until.wait_time_from(DefaultClock::default().now());
                let secs = wait.max(Duration::from_secs(1)).as_secs_f64().ceil() as u64;
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
