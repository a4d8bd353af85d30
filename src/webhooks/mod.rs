//! Signed webhooks (Standard Webhooks): lenders subscribe a URL to public event types and
//! receive each matching event as a signed HTTP POST, at least once, with retries on a
//! backoff schedule and a dead letter after the last attempt.
//!
//! - [`api`]: `/v1/webhooks…` (api key only).
//! - [`dispatcher`]: the supervised actors: a fan-out that turns events into delivery rows
//!   (tailing the embedded log from its own cursor, or a Kafka consumer group) and a delivery
//!   worker that POSTs due deliveries.
//! - This file: the validating domain types (URL, destination policy, secret, filter), the
//!   signature and the retry schedule.
//!
//! Storage is the [`crate::store::WebhookStore`] port (redb in `src/store/webhooks.rs`).

pub mod api;
pub mod dispatcher;
pub mod special;

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use base64::Engine as _;
use hmac::{Hmac, Mac};
use rand::{Rng, RngCore};
use reqwest::Url;
use sha2::Sha256;

use crate::config::WebhooksConfig;
use crate::error::ApiError;

/// Whether a subscription may ask for this event type (`"*"` = all of them): only the public
/// ones (`EventKind::is_public`); internal events (supervision, OTP, challenges, captures,
/// mute…) are never sent out.
pub fn is_public_event_type(kind: &str) -> bool {
    vkyc_domain::EventKind::parse(kind).is_some_and(|k| k.is_public())
}

/// The prefix of a Standard Webhooks secret.
pub const SECRET_PREFIX: &str = "whsec_";
/// Largest URL a subscription may name.
pub const MAX_URL_LEN: usize = 2048;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    #[error("{0}")]
    InvalidUrl(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    Unresolvable(String),
    #[error("{0}")]
    InvalidSecret(String),
    #[error("{0}")]
    InvalidEventTypes(String),
}

impl WebhookError {
    /// The stable error code of the API answer (and of a delivery attempt's `error`).
    pub fn code(&self) -> &'static str {
        match self {
            WebhookError::InvalidUrl(_) => "invalid_webhook_url",
            WebhookError::Forbidden(_) => "webhook_destination_forbidden",
            WebhookError::Unresolvable(_) => "webhook_destination_unresolvable",
            WebhookError::InvalidSecret(_) => "invalid_webhook_secret",
            WebhookError::InvalidEventTypes(_) => "invalid_event_types",
        }
    }
}

impl From<WebhookError> for ApiError {
    fn from(e: WebhookError) -> Self {
        ApiError::new(
            actix_web::http::StatusCode::UNPROCESSABLE_ENTITY,
            e.code(),
            e.to_string(),
        )
    }
}

/// An http(s) URL without credentials, with a host. Where it may point is a separate check
/// ([`DestinationPolicy`]), made at subscription time and again before every attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookUrl(Url);

impl WebhookUrl {
    pub fn parse(s: &str) -> Result<Self, WebhookError> {
        let bad = |why: &str| Err(WebhookError::InvalidUrl(why.to_string()));
        if s.len() > MAX_URL_LEN {
            return bad("url is longer than 2048 characters");
        }
        let Ok(url) = Url::parse(s.trim()) else {
            return bad("url is not a valid absolute URL");
        };
        if !matches!(url.scheme(), "http" | "https") {
            return bad("url must be http:// or https://");
        }
        if !url.username().is_empty() || url.password().is_some() {
            return bad(
                "url must not carry credentials (user:password@); authenticate with the signature",
            );
        }
        if url.host().is_none() {
            return bad("url needs a host");
        }
        if url.fragment().is_some() {
            return bad("url must not have a #fragment");
        }
        Ok(Self(url))
    }

    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    pub fn url(&self) -> &Url {
        &self.0
    }

    /// The host as written (IPv6 without brackets), lower case.
    pub fn host(&self) -> String {
        match self.0.host() {
            Some(url::Host::Ipv6(ip)) => ip.to_string(),
            Some(h) => h.to_string().to_ascii_lowercase(),
            None => String::new(),
        }
    }

    /// The host if it is an IP literal.
    pub fn ip(&self) -> Option<IpAddr> {
        match self.0.host()? {
            url::Host::Ipv4(ip) => Some(IpAddr::V4(ip)),
            url::Host::Ipv6(ip) => Some(IpAddr::V6(ip)),
            url::Host::Domain(_) => None,
        }
    }

    pub fn port(&self) -> u16 {
        self.0.port_or_known_default().unwrap_or(80)
    }
}

/// Where webhooks may go: public addresses, plus `allowed_hosts` (host names or IP
/// literals, as written in the URL), plus everything if `allow_private`.
#[derive(Debug, Clone, Default)]
pub struct DestinationPolicy {
    pub allow_private: bool,
    pub allowed_hosts: Vec<String>,
}

impl DestinationPolicy {
    pub fn from_config(cfg: &WebhooksConfig) -> Self {
        Self {
            allow_private: cfg.allow_private,
            allowed_hosts: cfg
                .allowed_hosts
                .iter()
                .map(|h| {
                    h.to_string()
                        .trim_matches(|c| c == '[' || c == ']')
                        .to_ascii_lowercase()
                })
                .collect(),
        }
    }

    pub fn host_allowed(&self, host: &str) -> bool {
        self.allow_private
            || self.allowed_hosts.iter().any(|h| {
                h == &host
                    .trim_matches(|c| c == '[' || c == ']')
                    .to_ascii_lowercase()
            })
    }

    /// Checks one resolved address of `host`.
    pub fn check_ip(&self, host: &str, ip: IpAddr) -> Result<(), WebhookError> {
        if let Some(kind) = special::special_kind(ip) {
            if !self.host_allowed(host) {
                return Err(WebhookError::Forbidden(format!(
                    "{host} is or resolves to a special-purpose address ({kind}); list it in webhooks.allowed_hosts to allow it"
                )));
            }
        }
        Ok(())
    }

    /// Resolves the URL's host and checks every address. Returns the addresses.
    pub async fn check(&self, url: &WebhookUrl) -> Result<Vec<SocketAddr>, WebhookError> {
        let host = url.host();
        let port = url.port();
        if let Some(ip) = url.ip() {
            self.check_ip(&host, ip)?;
            return Ok(vec![SocketAddr::new(ip, port)]);
        }
        let addrs = self.resolve(&host, port).await?;
        Ok(addrs)
    }

    /// Resolves a host name and refuses it if any address is internal (a name that resolves
    /// to one public and one private address is refused: the connection could pick either).
    pub async fn resolve(&self, host: &str, port: u16) -> Result<Vec<SocketAddr>, WebhookError> {
        let addrs: Vec<SocketAddr> = match tokio::time::timeout(
            Duration::from_secs(5),
            tokio::net::lookup_host((host, port)),
        )
        .await
        {
            Ok(Ok(a)) => a.collect(),
            _ => {
                return Err(WebhookError::Unresolvable(format!(
                    "the host {host} does not resolve"
                )))
            }
        };
        if addrs.is_empty() {
            return Err(WebhookError::Unresolvable(format!(
                "the host {host} does not resolve"
            )));
        }
        for a in &addrs {
            self.check_ip(host, a.ip())?;
        }
        Ok(addrs)
    }
}

/// A Standard Webhooks signing secret: `whsec_` + base64 of 24 to 64 random bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookSecret(Vec<u8>);

impl std::fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookSecret(<redacted>)")
    }
}

impl WebhookSecret {
    pub fn generate() -> Self {
        let mut b = vec![0u8; 32];
        rand::thread_rng().fill_bytes(&mut b);
        Self(b)
    }

    pub fn parse(s: &str) -> Result<Self, WebhookError> {
        let bad = || {
            WebhookError::InvalidSecret(
                "secret must be \"whsec_\" followed by the base64 of 24 to 64 bytes".into(),
            )
        };
        let b64 = s.strip_prefix(SECRET_PREFIX).ok_or_else(bad)?;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .map_err(|_| bad())?;
        if !(24..=64).contains(&bytes.len()) {
            return Err(bad());
        }
        Ok(Self(bytes))
    }

    pub fn bytes(&self) -> &[u8] {
        &self.0
    }

    /// The `whsec_…` form (shown to the subscriber once, and stored).
    pub fn expose(&self) -> String {
        format!(
            "{SECRET_PREFIX}{}",
            base64::engine::general_purpose::STANDARD.encode(&self.0)
        )
    }

    /// `v1,<base64(HMAC-SHA256(secret, "{id}.{timestamp}.{body}"))>`.
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes a key of any length");
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        format!(
            "v1,{}",
            base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
        )
    }
}

/// The event types a subscription receives: known public types, or `"*"` for all of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventFilter(Vec<String>);

impl EventFilter {
    pub fn parse(types: &[String]) -> Result<Self, WebhookError> {
        if types.is_empty() {
            return Err(WebhookError::InvalidEventTypes(
                "event_types must list at least one event type (or \"*\")".into(),
            ));
        }
        if types.len() > 64 {
            return Err(WebhookError::InvalidEventTypes(
                "event_types lists too many types".into(),
            ));
        }
        let mut out: Vec<String> = Vec::new();
        for t in types {
            if t != "*" && !is_public_event_type(t) {
                let shown: String = t.chars().take(64).collect();
                return Err(WebhookError::InvalidEventTypes(format!(
                    "unknown event type {shown:?}; known: {} or \"*\"",
                    vkyc_domain::EventKind::public()
                        .map(|k| k.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
            if !out.contains(t) {
                out.push(t.clone());
            }
        }
        Ok(Self(out))
    }

    pub fn types(&self) -> &[String] {
        &self.0
    }

    /// Whether an event of this type goes to the subscription (only public types ever do).
    pub fn matches(types: &[String], kind: &str) -> bool {
        is_public_event_type(kind) && types.iter().any(|t| t == "*" || t == kind)
    }
}

/// The wait before the next attempt after `failed_in_run` failed attempts of this run (1 =
/// the first attempt failed), or None when the schedule is exhausted (→ dead letter). Each
/// wait is the schedule's entry times a random factor in `1 ± jitter`.
pub fn retry_delay(schedule_secs: &[f64], jitter: f64, failed_in_run: u32) -> Option<Duration> {
    let base = *schedule_secs.get((failed_in_run as usize).checked_sub(1)?)?;
    let factor = if jitter > 0.0 {
        rand::thread_rng().gen_range(1.0 - jitter..=1.0 + jitter)
    } else {
        1.0
    };
    Some(Duration::from_secs_f64((base * factor).max(0.0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_validated() {
        assert!(WebhookUrl::parse("https://hooks.example.com/x?y=1").is_ok());
        for bad in [
            "ftp://example.com/",
            "http://user:pw@example.com/",
            "http://user@example.com/",
            "not a url",
            "/relative",
            "file:///etc/passwd",
            "http://example.com/#frag",
        ] {
            assert_eq!(
                WebhookUrl::parse(bad).unwrap_err().code(),
                "invalid_webhook_url",
                "{bad}"
            );
        }
        assert_eq!(
            WebhookUrl::parse(&format!("https://e.com/{}", "a".repeat(3000)))
                .unwrap_err()
                .code(),
            "invalid_webhook_url"
        );
    }

    #[tokio::test]
    async fn internal_destinations_are_refused_unless_allowed() {
        let p = DestinationPolicy::default();
        for bad in [
            "http://127.0.0.1/",
            "http://127.8.9.1:9000/",
            "http://169.254.169.254/latest/meta-data",
            "http://10.0.0.1/",
            "http://192.168.1.1/",
            "http://172.16.0.1/",
            "http://100.64.0.1/",
            "http://0.0.0.0/",
            "http://224.0.0.1/",
            "http://[::1]/",
            "http://[::ffff:127.0.0.1]/",
            "http://[fd00::1]/",
            "http://[fe80::1]/",
            "http://localhost/",
            "http://198.18.0.1/",
            "http://192.0.2.1/",
            "http://198.51.100.7/",
            "http://203.0.113.10/",
            "http://[::127.0.0.1]/",
            "http://[2002:7f00:1::]/",
            "http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/",
            "http://[64:ff9b::a00:1]/",
        ] {
            let u = WebhookUrl::parse(bad).unwrap();
            assert_eq!(
                p.check(&u).await.unwrap_err().code(),
                "webhook_destination_forbidden",
                "{bad}"
            );
        }
        // An address literal is only checked (nothing is sent): a public one passes.
        assert!(p
            .check(&WebhookUrl::parse("http://8.8.8.8/x").unwrap())
            .await
            .is_ok());
        let allow = DestinationPolicy {
            allow_private: false,
            allowed_hosts: vec!["127.0.0.1".into()],
        };
        assert!(allow
            .check(&WebhookUrl::parse("http://127.0.0.1:8000/").unwrap())
            .await
            .is_ok());
        assert!(allow
            .check(&WebhookUrl::parse("http://127.0.0.2/").unwrap())
            .await
            .is_err());
        let all = DestinationPolicy {
            allow_private: true,
            allowed_hosts: vec![],
        };
        assert!(all
            .check(&WebhookUrl::parse("http://10.1.2.3/").unwrap())
            .await
            .is_ok());
    }

    #[test]
    fn secrets_and_signature() {
        let s = WebhookSecret::generate();
        let text = s.expose();
        assert!(text.starts_with("whsec_"));
        assert_eq!(WebhookSecret::parse(&text).unwrap(), s);
        assert!(!format!("{s:?}").contains(&text[6..]));
        for bad in ["", "whsec_", "whsec_!!!", "abc", "whsec_c2hvcnQ="] {
            assert_eq!(
                WebhookSecret::parse(bad).unwrap_err().code(),
                "invalid_webhook_secret",
                "{bad}"
            );
        }
        // The Standard Webhooks specification's example.
        let s = WebhookSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let sig = s.sign(
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            br#"{"test": 2432232314}"#,
        );
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn filters() {
        let f = EventFilter::parse(&["video.completed".into(), "video.completed".into()]).unwrap();
        assert_eq!(f.types(), &["video.completed".to_string()]);
        assert!(EventFilter::parse(&[]).is_err());
        assert_eq!(
            EventFilter::parse(&["nope".into()]).unwrap_err().code(),
            "invalid_event_types"
        );
        assert!(EventFilter::parse(&["recording.failed".into(), "*".into()]).is_ok());
        assert!(EventFilter::matches(&["*".into()], "peer.joined"));
        assert!(!EventFilter::matches(&["*".into()], "supervisor.restarted"));
        assert!(!EventFilter::matches(
            &["video.completed".into()],
            "peer.joined"
        ));
    }

    #[test]
    fn schedule() {
        let s = [1.0, 10.0];
        assert_eq!(retry_delay(&s, 0.0, 0), None);
        assert_eq!(retry_delay(&s, 0.0, 1), Some(Duration::from_secs(1)));
        assert_eq!(retry_delay(&s, 0.0, 2), Some(Duration::from_secs(10)));
        assert_eq!(retry_delay(&s, 0.0, 3), None);
        for _ in 0..100 {
            let d = retry_delay(&s, 0.2, 2).unwrap().as_secs_f64();
            assert!((8.0..=12.0).contains(&d), "{d}");
        }
    }
}
