//! Configuration: `config/default.toml` (compiled in), then the profile's file
//! (`config/<VKYC_PROFILE>.toml`, compiled in for the bundled profiles, or read from disk),
//! then `VKYC_CONFIG` (a file path) if set, then environment variables `VKYC_<TABLE>__<KEY>`.
//! Unknown keys and wrong types fail start-up with a message naming the key. Values with a
//! form (URLs, IP addresses, `host:port`, names from a fixed set, the log filter) are parsed
//! into their types here, at load time, so a wrong one is reported the same way.
//! `VKYC_PROFILE`, `VKYC_CONFIG`, `VKYC_CACHE` (the set-up scripts' cache dir) and the test
//! suite's `VKYC_KAFKA_BROKERS` / `VKYC_TANSU_BIN` are not keys.

use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;
use std::str::FromStr;

use figment::providers::{Env, Format, Toml};
use figment::Figment;
use serde::{Deserialize, Deserializer};
use url::Url;
use vkyc_media::sfu::RtcConfig;
use vkyc_vision::decode::DecodeLimits;
use vkyc_vision::face::FaceConfig;
use vkyc_vision::liveness::{ChallengeConfig, PassiveConfig};
use vkyc_vision::ocr::OcrConfig;

const DEFAULT: &str = include_str!("../config/default.toml");
const PROFILES: &[(&str, &str)] = &[("test", include_str!("../config/test.toml"))];

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub server: ServerConfig,
    pub auth: AuthConfig,
    pub storage: StorageConfig,
    pub events: EventsConfig,
    pub webhooks: WebhooksConfig,
    pub room: RoomConfig,
    pub rtc: RtcConfig,
    pub signalling: SignallingConfig,
    pub inference: InferenceConfig,
    pub face: FaceConfig,
    pub liveness: LivenessConfig,
    pub ocr: OcrConfig,
    pub kyc: vkyc_case::KycConfig,
    pub recording: vkyc_media::recording::RecordingConfig,
    pub log: LogConfig,
    pub console: ConsoleConfig,
    pub desk: vkyc_desk::DeskConfig,
    pub limits: LimitsConfig,
    pub retention: RetentionConfig,
}

/// The verification engines (face match, liveness, document OCR) and their pools.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InferenceConfig {
    pub enabled: bool,
    /// Empty = `$VKYC_MODELS_DIR`, else `~/.cache/vkyc/models` (where models/setup.sh puts them).
    pub models_dir: String,
    pub threads_per_worker: usize,
    pub face_workers: usize,
    pub liveness_workers: usize,
    pub document_workers: usize,
    pub queue_per_worker: usize,
    pub timeout_secs: u64,
    /// Largest request body of a /v1/verify call, and of one image in it.
    pub max_request_bytes: usize,
    pub max_image_bytes: usize,
    pub limits: DecodeLimits,
}

impl InferenceConfig {
    pub fn models_dir(&self) -> PathBuf {
        if self.models_dir.is_empty() {
            vkyc_vision::runtime::default_models_dir()
        } else {
            PathBuf::from(&self.models_dir)
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LivenessConfig {
    pub challenge: ChallengeConfig,
    pub passive: PassiveConfig,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    pub host: IpAddr,
    pub port: u16,
    /// Base URL of the join links (http or https); `""` in the file = `http://<host>:<port>`.
    #[serde(deserialize_with = "http_url_or_empty")]
    pub public_url: Option<Url>,
    pub max_body_bytes: usize,
    pub workers: usize,
}

/// A secret from the configuration (a key, a password): its `Debug` form is `<redacted>`, so
/// a configuration that is logged or printed never shows it.
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// The secret itself, for the one place that uses it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether this is empty, or else at least `min` characters long (an empty secret is
    /// generated at the first start).
    pub fn empty_or_at_least(&self, min: usize) -> bool {
        self.0.is_empty() || self.0.len() >= min
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// `[retention]`: how long each class of a finished session's data is kept, counted from
/// the session's end (`"<n>d"`, `"<n>h"`, `"<n>m"`, `"<n>s"`; `""` = until erased); the
/// purge (`src/retention.rs`) runs every `every_secs`. Checked at start.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionConfig {
    pub captures: String,
    pub recordings: String,
    pub self_record_videos: String,
    pub personal_fields: String,
    pub case_documents: String,
    /// The event log (every event older than this, whatever its session).
    pub events: String,
    pub every_secs: u64,
}

/// `[limits]`: request rate limits a minute (0 = no limit); see `src/limits.rs`. Over a
/// limit: 429 `rate_limited` with `Retry-After`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsConfig {
    /// Requests with credentials answered 401, from one address; past it every request with
    /// credentials from that address is refused until the bucket refills.
    pub auth_failures_per_ip: u32,
    pub sessions_per_ip: u32,
    pub sessions_per_credential: u32,
    pub tokens_per_ip: u32,
    pub tokens_per_credential: u32,
    /// OTP sends and verifications, from one address and for one session.
    pub otp_per_ip: u32,
    pub otp_per_session: u32,
    pub verify_per_ip: u32,
    pub verify_per_credential: u32,
    /// WebSocket upgrades (`/v1/rtc`, `/v1/queue/ws`, `/v1/desk/ws`) from one address.
    pub joins_per_ip: u32,
    /// Reverse proxies whose `X-Forwarded-For` names the client (CIDR blocks).
    pub trusted_proxies: Vec<ipnet::IpNet>,
}

/// `[console]`: staff accounts and their signed-in consoles (`src/desk/`).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsoleConfig {
    /// A console unused this long is signed out.
    pub idle_timeout_secs: u64,
    /// A console is signed out this long after signing in, used or not.
    pub absolute_timeout_secs: u64,
    /// Lifetime of the first-admin link printed at the first start.
    pub setup_link_ttl_secs: u64,
    pub password_min_length: usize,
    /// Sign-in attempts allowed a minute from one client address, and for one email (0 = no
    /// limit); over it, 429 `rate_limited` with `Retry-After`.
    pub login_per_ip_per_minute: u32,
    pub login_per_email_per_minute: u32,
    /// Accounts created at start when their email is not taken. For the dev and test
    /// profiles only: the default profile has none.
    pub seed_users: Vec<SeedUser>,
    /// Single sign-on over OpenID Connect.
    pub sso: crate::desk::oidc::OidcConfig,
}

/// A demo account of `[console] seed_users`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedUser {
    pub email: vkyc_domain::desk::user::Email,
    pub name: vkyc_domain::desk::user::UserName,
    pub roles: std::collections::BTreeSet<vkyc_domain::desk::user::StaffRole>,
    #[serde(default)]
    pub skills: vkyc_domain::desk::user::Skills,
    pub password: Secret,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    pub api_key: Secret,
    pub jwt_secret: Secret,
    pub token_ttl_secs: u64,
    pub max_token_ttl_secs: u64,
    /// How long a customer's join token keeps working after their session completed (their
    /// page shows the result); tokens of cancelled or expired sessions stop at once.
    pub customer_token_grace_secs: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case", expecting = "\"embedded\" or \"scylla\"")]
pub enum StorageBackend {
    /// One redb file in `data_dir`.
    Embedded,
    /// A ScyllaDB (or Cassandra) cluster: `[storage.scylla]`.
    Scylla,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageConfig {
    pub backend: StorageBackend,
    pub data_dir: PathBuf,
    /// Where captures are kept (encrypted). Empty = `<data_dir>/blobs`.
    pub blob_dir: String,
    /// AES-256-GCM key of the blob store, 64 hex characters. Empty = generated on first
    /// start into `<data_dir>/blob.key`.
    pub blob_key: Secret,
    /// The key the activity log's chains are sealed with (HMAC-SHA-256), kept out of the
    /// database. Empty = generated on first start into `<data_dir>/activity.key`.
    pub activity_key: Secret,
    /// The local keyring of key-encryption keys that wrap each session's data key (JSON,
    /// 0600). Empty = `<data_dir>/kek.json`, created on first start. `vkyc rotate-keys`
    /// adds a version and rewraps.
    pub kek_file: String,
    pub scylla: ScyllaConfig,
}

/// `[storage.scylla]`: the ScyllaDB adapter (`src/store/scylla/`).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScyllaConfig {
    /// `host:port` of one or more nodes; the driver discovers the rest.
    pub contact_points: Vec<HostPort>,
    /// The local datacenter: queries go to its replicas first (token-aware, DC-aware
    /// load balancing) and LOCAL_* consistency levels are counted in it.
    pub datacenter: String,
    /// Let queries fail over to nodes outside `datacenter` when none of its replicas is up
    /// (also the nodes whose datacenter the driver cannot learn, as with the in-memory test
    /// server). Off: a query fails rather than cross datacenters.
    pub allow_remote_dc: bool,
    pub keyspace: String,
    /// Replication factor in `datacenter` (NetworkTopologyStrategy) when the keyspace is
    /// created by `vkyc migrate`.
    pub replication_factor: u32,
    /// Empty = no authentication.
    pub username: String,
    pub password: Secret,
    /// Apply pending migrations at start-up (otherwise run `vkyc migrate`).
    pub migrate_on_start: bool,
    /// Retention of personal data (applicant name, date of birth, reference, the KYC case with
    /// its OCR fields, captures metadata): those columns are written `USING TTL` this many days.
    pub pii_ttl_days: u32,
    /// The event log is read only up to events this old, so that an event whose write was
    /// still in flight (or whose node clock is a little behind) is never skipped by a reader.
    pub events_settle_ms: u64,
    /// Attempts of a conditional (`IF version = ?`) session update before giving up.
    pub lwt_attempts: u32,
    pub request_timeout_ms: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case", expecting = "\"embedded\" or \"kafka\"")]
pub enum EventsBackend {
    /// The ordered log in the embedded store only (`GET /v1/events`).
    Embedded,
    /// The same log is the outbox; a relay publishes it to Kafka topics.
    Kafka,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventsConfig {
    pub backend: EventsBackend,
    pub kafka: KafkaConfig,
}

/// The Kafka relay (`events.backend = "kafka"`): topics per aggregate family, key = session id.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaConfig {
    /// Bootstrap servers, comma-separated `host:port`.
    pub brokers: Brokers,
    pub client_id: String,
    pub acks: KafkaAcks,
    /// CloudEvents `source` of every event (this deployment / node).
    pub source: String,
    /// How often the relay looks for new outbox entries when it is idle.
    pub poll_interval_ms: u64,
    /// Events handed to the producer and not yet acknowledged, at most.
    pub max_in_flight: usize,
    pub topics: KafkaTopics,
}

/// The producer's `acks`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(
    rename_all = "snake_case",
    expecting = "\"all\" (the producer is idempotent)"
)]
pub enum KafkaAcks {
    /// Every in-sync replica: the only setting an idempotent producer allows.
    All,
}

impl KafkaAcks {
    /// The librdkafka value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::All => "all",
        }
    }
}

/// Topic names by aggregate family.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaTopics {
    pub sessions: String,
    pub rooms: String,
    pub steps: String,
    pub recordings: String,
    pub stats: String,
    pub webhooks: String,
    /// The agent desk: `queue.*` and `agent.*`.
    pub desk: String,
}

/// Signed webhooks (`[webhooks]`): where they may go, how often they are retried.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhooksConfig {
    /// Run the dispatcher (fan-out and delivery worker). The subscription API is always on.
    pub enabled: bool,
    /// Allow destinations on loopback, private, link-local… addresses (development only).
    pub allow_private: bool,
    /// Host names or IP literals (as written in the URL) allowed even if internal.
    #[serde(deserialize_with = "hosts")]
    pub allowed_hosts: Vec<url::Host>,
    /// Waits before the 2nd, 3rd… attempt, in seconds; after the last one fails the delivery
    /// is dead-lettered. Attempts = 1 + entries.
    pub retry_schedule_secs: Vec<f64>,
    /// Each wait is multiplied by a random factor in 1 ± jitter.
    pub retry_jitter: f64,
    /// One attempt's whole request (connect, send, response headers) at most.
    pub request_timeout_ms: u64,
    /// How often the fan-out and the delivery worker look for work when idle.
    pub poll_interval_ms: u64,
    /// Attempts running at once, at most.
    pub max_in_flight: usize,
    /// Subscriptions, at most.
    pub max_subscriptions: usize,
    /// The consumer group of the fan-out when `events.backend = "kafka"`.
    pub kafka_group_id: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoomConfig {
    pub max_peers: usize,
    pub empty_timeout_secs: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignallingConfig {
    pub join_timeout_secs: u64,
    pub client_timeout_secs: u64,
    pub heartbeat_secs: u64,
    pub max_message_bytes: usize,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    pub level: LogFilter,
    pub format: LogFormat,
}

/// A `tracing` filter (`EnvFilter` directives), checked when the configuration is loaded.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct LogFilter(String);

impl LogFilter {
    pub fn env_filter(&self) -> tracing_subscriber::EnvFilter {
        tracing_subscriber::EnvFilter::new(&self.0)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for LogFilter {
    type Error = String;

    fn try_from(s: String) -> Result<Self, String> {
        tracing_subscriber::EnvFilter::try_new(&s)
            .map_err(|e| format!("{s:?} is not a valid tracing filter: {e}"))?;
        Ok(Self(s))
    }
}

/// `host:port`: a DNS name, an IPv4 address or a bracketed IPv6 address, and a port.
#[derive(Debug, Clone, PartialEq, Eq, serde_with::DeserializeFromStr)]
pub struct HostPort {
    pub host: url::Host,
    pub port: u16,
}

impl FromStr for HostPort {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (host, port) = s
            .rsplit_once(':')
            .ok_or_else(|| format!("{s:?} is not host:port"))?;
        let port = port
            .parse()
            .map_err(|_| format!("{s:?}: {port:?} is not a port number"))?;
        let host = url::Host::parse(host).map_err(|e| format!("{s:?}: {e}"))?;
        Ok(Self { host, port })
    }
}

impl fmt::Display for HostPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.host, self.port)
    }
}

/// Kafka bootstrap servers: comma-separated `host:port` (`""` = none).
#[derive(Debug, Clone, PartialEq, Eq, Default, serde_with::DeserializeFromStr)]
pub struct Brokers(pub Vec<HostPort>);

impl Brokers {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl FromStr for Brokers {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        s.split(',')
            .map(str::trim)
            .filter(|b| !b.is_empty())
            .map(HostPort::from_str)
            .collect::<Result<_, _>>()
            .map(Self)
    }
}

/// The librdkafka form, `host:port,host:port`.
impl fmt::Display for Brokers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, b) in self.0.iter().enumerate() {
            write!(f, "{}{b}", if i == 0 { "" } else { "," })?;
        }
        Ok(())
    }
}

/// An http(s) URL without query or fragment, or `""` (none: TOML has no null).
fn http_url_or_empty<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Url>, D::Error> {
    use serde::de::Error;
    let s = String::deserialize(d)?;
    if s.is_empty() {
        return Ok(None);
    }
    let url = Url::parse(&s).map_err(|e| D::Error::custom(format!("{s:?} is not a URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(D::Error::custom(format!(
            "{s:?}: must be an http:// or https:// URL with a host"
        )));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(D::Error::custom(format!(
            "{s:?}: must not have a query or fragment"
        )));
    }
    Ok(Some(url))
}

/// Host names or IP literals (IPv6 with or without brackets).
fn hosts<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<url::Host>, D::Error> {
    use serde::de::Error;
    Vec::<String>::deserialize(d)?
        .into_iter()
        .map(|h| {
            let bare = h.trim_start_matches('[').trim_end_matches(']');
            let parsed = match bare.parse::<std::net::Ipv6Addr>() {
                Ok(ip) => Ok(url::Host::Ipv6(ip)),
                Err(_) => url::Host::parse(&h),
            };
            parsed.map_err(|e| {
                D::Error::custom(format!("{h:?} is not a host name or IP address: {e}"))
            })
        })
        .collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case", expecting = "\"text\" or \"json\"")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {0}")]
pub struct ConfigError(pub String);

impl Config {
    /// Load from the compiled-in defaults, the profile named by `VKYC_PROFILE`, the file named
    /// by `VKYC_CONFIG` and the environment.
    pub fn load() -> Result<Self, ConfigError> {
        let profile = std::env::var("VKYC_PROFILE").unwrap_or_default();
        let extra = std::env::var("VKYC_CONFIG").ok();
        Self::figment(&profile, extra.as_deref()).and_then(Self::extract)
    }

    pub fn figment(profile: &str, extra_file: Option<&str>) -> Result<Figment, ConfigError> {
        let mut fig = Figment::from(Toml::string(DEFAULT));
        if !profile.is_empty() && profile != "default" {
            if let Some((_, text)) = PROFILES.iter().find(|(name, _)| *name == profile) {
                fig = fig.merge(Toml::string(text));
            } else {
                let path = PathBuf::from("config").join(format!("{profile}.toml"));
                if !path.exists() {
                    return Err(ConfigError(format!(
                        "VKYC_PROFILE={profile}: no bundled profile and no file {}",
                        path.display()
                    )));
                }
                fig = fig.merge(Toml::file(path));
            }
        }
        if let Some(file) = extra_file {
            if !std::path::Path::new(file).exists() {
                return Err(ConfigError(format!("VKYC_CONFIG={file}: file not found")));
            }
            fig = fig.merge(Toml::file(file));
        }
        Ok(fig.merge(
            Env::prefixed("VKYC_")
                .ignore(&["PROFILE", "CONFIG", "CACHE", "KAFKA_BROKERS", "TANSU_BIN"])
                .split("__"),
        ))
    }

    pub fn extract(fig: Figment) -> Result<Self, ConfigError> {
        let config: Config = fig.extract().map_err(|e| {
            // figment names the key (and the env var or file it came from) in each error.
            let each = e.into_iter().map(|e| {
                let key = e.path.join(".").to_lowercase();
                let from = e
                    .metadata
                    .as_ref()
                    .map(|m| format!(" (from {})", m.name))
                    .unwrap_or_default();
                if key.is_empty() {
                    format!("{}{from}", e.kind)
                } else {
                    format!("{key}: {}{from}", e.kind)
                }
            });
            ConfigError(each.collect::<Vec<_>>().join("; "))
        })?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let fail = |key: &str, why: &str| Err(ConfigError(format!("{key}: {why}")));
        if self.server.max_body_bytes < 1024 {
            return fail("server.max_body_bytes", "must be at least 1024");
        }
        let r = &self.retention;
        for (key, v) in [
            ("retention.captures", &r.captures),
            ("retention.recordings", &r.recordings),
            ("retention.self_record_videos", &r.self_record_videos),
            ("retention.personal_fields", &r.personal_fields),
            ("retention.case_documents", &r.case_documents),
            ("retention.events", &r.events),
        ] {
            if let Err(why) = crate::retention::parse_retention(v) {
                return fail(key, &why);
            }
        }
        if r.every_secs == 0 {
            return fail("retention.every_secs", "must be at least 1");
        }
        let c = &self.console;
        if c.idle_timeout_secs == 0 || c.idle_timeout_secs > c.absolute_timeout_secs {
            return fail(
                "console.idle_timeout_secs",
                "must be between 1 and console.absolute_timeout_secs",
            );
        }
        if c.absolute_timeout_secs > 7 * 86_400 {
            return fail("console.absolute_timeout_secs", "must be at most 7 days");
        }
        if c.password_min_length < 8 {
            return fail("console.password_min_length", "must be at least 8");
        }
        if c.setup_link_ttl_secs == 0 {
            return fail("console.setup_link_ttl_secs", "must be at least 1");
        }
        if c.seed_users
            .iter()
            .any(|u| u.roles.is_empty() || u.password.expose().len() < c.password_min_length)
        {
            return fail(
                "console.seed_users",
                "every seeded account needs a role and a password of console.password_min_length",
            );
        }
        if self.auth.token_ttl_secs == 0 || self.auth.token_ttl_secs > self.auth.max_token_ttl_secs
        {
            return fail(
                "auth.token_ttl_secs",
                "must be between 1 and auth.max_token_ttl_secs",
            );
        }
        if !self.auth.api_key.empty_or_at_least(8) {
            return fail(
                "auth.api_key",
                "must be at least 8 characters (or empty to generate one)",
            );
        }
        if !self.auth.jwt_secret.empty_or_at_least(32) {
            return fail(
                "auth.jwt_secret",
                "must be at least 32 characters (or empty to generate one)",
            );
        }
        if self.room.max_peers < 2 || self.room.max_peers > 32 {
            return fail("room.max_peers", "must be between 2 and 32");
        }
        if (self.rtc.udp_port_min == 0) != (self.rtc.udp_port_max == 0)
            || self.rtc.udp_port_min > self.rtc.udp_port_max
        {
            return fail(
                "rtc.udp_port_min",
                "rtc.udp_port_min and rtc.udp_port_max must both be 0 or form a range",
            );
        }
        if let Some(u) = self
            .rtc
            .ice_servers
            .iter()
            .find(|u| !matches!(u.scheme(), "stun" | "stuns" | "turn" | "turns"))
        {
            return fail(
                "rtc.ice_servers",
                &format!(
                    "{:?} is not a stun:, stuns:, turn: or turns: URL",
                    u.as_str()
                ),
            );
        }
        if self.rtc.max_sdp_bytes < 1024 {
            return fail("rtc.max_sdp_bytes", "must be at least 1024");
        }
        if self.signalling.join_timeout_secs == 0 || self.signalling.heartbeat_secs == 0 {
            return fail(
                "signalling.heartbeat_secs",
                "timeouts must be at least 1 second",
            );
        }
        if self.signalling.client_timeout_secs <= self.signalling.heartbeat_secs {
            return fail(
                "signalling.client_timeout_secs",
                "must be longer than signalling.heartbeat_secs",
            );
        }
        let inf = &self.inference;
        if inf.threads_per_worker == 0 || inf.threads_per_worker > 64 {
            return fail("inference.threads_per_worker", "must be between 1 and 64");
        }
        for (key, n) in [
            ("inference.face_workers", inf.face_workers),
            ("inference.liveness_workers", inf.liveness_workers),
            ("inference.document_workers", inf.document_workers),
            ("inference.queue_per_worker", inf.queue_per_worker),
        ] {
            if n == 0 || n > 256 {
                return fail(key, "must be between 1 and 256");
            }
        }
        if inf.timeout_secs == 0 {
            return fail("inference.timeout_secs", "must be at least 1");
        }
        if inf.max_image_bytes < 1024 || inf.max_image_bytes > inf.max_request_bytes {
            return fail(
                "inference.max_image_bytes",
                "must be at least 1024 and at most inference.max_request_bytes",
            );
        }
        if inf.limits.max_pixels < 10_000
            || inf.limits.min_side == 0
            || inf.limits.max_side < inf.limits.min_side
        {
            return fail(
                "inference.limits",
                "max_pixels ≥ 10000 and 0 < min_side ≤ max_side",
            );
        }
        if let Err(e) = self.face.validate() {
            return fail("face", &e);
        }
        if let Err(e) = self.ocr.validate() {
            return fail("ocr", &e);
        }
        if self.kyc.session_ttl_secs == 0
            || self.kyc.expiry_check_secs == 0
            || self.kyc.case_idle_secs == 0
        {
            return fail(
                "kyc.session_ttl_secs",
                "session_ttl_secs and expiry_check_secs must be at least 1",
            );
        }
        if !matches!(self.kyc.otp_notifier.as_str(), "dev" | "file") {
            return fail("kyc.otp_notifier", "dev or file");
        }
        if !(4..=10).contains(&self.kyc.otp.digits)
            || self.kyc.otp.max_attempts == 0
            || self.kyc.otp.ttl_secs == 0
        {
            return fail("kyc.otp", "digits 4..=10, max_attempts ≥ 1, ttl_secs ≥ 1");
        }
        let banks = &self.kyc.question_banks;
        if (1..banks.len()).any(|i| banks[..i].iter().any(|b| b.id == banks[i].id)) {
            return fail("kyc.question_banks", "each bank needs a unique id");
        }
        if self.kyc.consent_versions.is_empty() {
            return fail(
                "kyc.consent_versions",
                "list at least one consent text version",
            );
        }
        if self.kyc.region.boxes.iter().any(|&[s, w, n, e]| {
            !(s < n
                && w < e
                && (-90.0..=90.0).contains(&s)
                && (-90.0..=90.0).contains(&n)
                && (-180.0..=180.0).contains(&w)
                && (-180.0..=180.0).contains(&e))
        }) {
            return fail(
                "kyc.region.boxes",
                "each box is [south, west, north, east] with south < north and west < east",
            );
        }
        let ch = &self.liveness.challenge;
        if ch.moves == 0 || ch.moves > 4 {
            return fail("liveness.challenge.moves", "must be between 1 and 4");
        }
        if ch.min_frames < 2 || ch.max_frames < ch.min_frames || ch.max_frames > 300 {
            return fail(
                "liveness.challenge.min_frames",
                "need 2 ≤ min_frames ≤ max_frames ≤ 300",
            );
        }
        if ch.time_limit_secs == 0 || ch.pass_score > 100 {
            return fail(
                "liveness.challenge.time_limit_secs",
                "time_limit_secs ≥ 1 and pass_score ≤ 100",
            );
        }
        let p = &self.liveness.passive;
        if !(0.0..=1.0).contains(&p.weight)
            || p.input_size < 16
            || p.crop_scale <= 0.0
            || p.std.iter().any(|v| *v == 0.0)
        {
            return fail(
                "liveness.passive",
                "weight within 0..=1, input_size ≥ 16, crop_scale > 0, std non-zero",
            );
        }
        let sc = &self.storage.scylla;
        if self.storage.backend == StorageBackend::Scylla {
            if sc.contact_points.is_empty() {
                return fail(
                    "storage.scylla.contact_points",
                    "needs at least one host:port when storage.backend is scylla",
                );
            }
            if sc.keyspace.is_empty()
                || !sc
                    .keyspace
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_')
                || sc.keyspace.len() > 48
            {
                return fail(
                    "storage.scylla.keyspace",
                    "1 to 48 of letters, digits and _",
                );
            }
            if sc.datacenter.is_empty() || sc.datacenter.contains('\'') {
                return fail(
                    "storage.scylla.datacenter",
                    "must name the local datacenter",
                );
            }
            if sc.replication_factor == 0 {
                return fail("storage.scylla.replication_factor", "must be at least 1");
            }
            // Scylla's and Cassandra's largest TTL is 20 years.
            if sc.pii_ttl_days == 0 || sc.pii_ttl_days > 7300 {
                return fail("storage.scylla.pii_ttl_days", "must be between 1 and 7300");
            }
            if sc.lwt_attempts == 0 || sc.request_timeout_ms == 0 {
                return fail(
                    "storage.scylla.lwt_attempts",
                    "lwt_attempts and request_timeout_ms must be at least 1",
                );
            }
        }
        let k = &self.events.kafka;
        if self.events.backend == EventsBackend::Kafka {
            if k.brokers.is_empty() {
                return fail(
                    "events.kafka.brokers",
                    "needs at least one host:port when events.backend is kafka",
                );
            }
            let t = &k.topics;
            if [
                &t.sessions,
                &t.rooms,
                &t.steps,
                &t.recordings,
                &t.stats,
                &t.webhooks,
                &t.desk,
            ]
            .iter()
            .any(|n| n.is_empty())
            {
                return fail("events.kafka.topics", "every topic needs a name");
            }
            if k.poll_interval_ms == 0
                || k.max_in_flight == 0
                || k.client_id.is_empty()
                || k.source.is_empty()
            {
                return fail(
                    "events.kafka",
                    "poll_interval_ms and max_in_flight at least 1; client_id and source non-empty",
                );
            }
        }
        let w = &self.webhooks;
        if w.retry_schedule_secs.is_empty()
            || w.retry_schedule_secs.len() > 50
            || w.retry_schedule_secs
                .iter()
                .any(|s| !s.is_finite() || *s < 0.0 || *s > 7.0 * 86400.0)
        {
            return fail(
                "webhooks.retry_schedule_secs",
                "1 to 50 waits, each between 0 and 604800 seconds",
            );
        }
        if !(0.0..=0.5).contains(&w.retry_jitter) {
            return fail("webhooks.retry_jitter", "must be between 0 and 0.5");
        }
        if w.request_timeout_ms < 100
            || w.poll_interval_ms == 0
            || w.max_in_flight == 0
            || w.max_subscriptions == 0
        {
            return fail("webhooks", "request_timeout_ms ≥ 100; poll_interval_ms, max_in_flight and max_subscriptions ≥ 1");
        }
        if self.events.backend == EventsBackend::Kafka && w.kafka_group_id.is_empty() {
            return fail(
                "webhooks.kafka_group_id",
                "needs a consumer group id when events.backend is kafka",
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    // Jail::expect_with closures return figment's (large) error type.
    #![allow(clippy::result_large_err)]
    use super::*;
    use figment::Jail;

    // Inside a Jail too: the env test below sets VKYC_* variables process-wide, and Jail's
    // lock keeps these from reading them concurrently (`cargo test` runs tests in threads).
    #[test]
    fn defaults_load() {
        // In a Jail: its lock keeps the other tests' VKYC_* variables out of this one.
        Jail::expect_with(|_| {
            let c = Config::extract(Config::figment("", None).unwrap()).unwrap();
            assert_eq!(c.server.port, 8080);
            assert_eq!(c.storage.backend, StorageBackend::Embedded);
            assert_eq!(c.webhooks.retry_schedule_secs.len(), 7);
            assert!(!c.webhooks.allow_private && c.webhooks.allowed_hosts.is_empty());
            assert!(!c.storage.scylla.allow_remote_dc);
            Ok(())
        });
    }

    #[test]
    fn test_profile_overrides_port() {
        Jail::expect_with(|_| {
            let c = Config::extract(Config::figment("test", None).unwrap()).unwrap();
            assert_eq!(c.server.port, 0);
            Ok(())
        });
    }

    #[test]
    fn webhook_settings_are_validated() {
        Jail::expect_with(|jail| {
            let c = load_with(
                jail,
                &[
                    ("VKYC_WEBHOOKS__RETRY_SCHEDULE_SECS", "[0.2, 0.4]"),
                    ("VKYC_WEBHOOKS__RETRY_JITTER", "0.1"),
                ],
            )
            .unwrap();
            assert_eq!(c.webhooks.retry_schedule_secs, vec![0.2, 0.4]);
            Ok(())
        });
    }

    #[test]
    fn env_overrides_and_errors_name_the_key() {
        Jail::expect_with(|jail| {
            let c = load_with(
                jail,
                &[
                    ("VKYC_SERVER__PORT", "9123"),
                    ("VKYC_RTC__PUBLIC_IPS", "[\"203.0.113.7\"]"),
                ],
            )
            .unwrap();
            assert_eq!(c.server.port, 9123);
            assert_eq!(
                c.rtc.public_ips,
                vec!["203.0.113.7".parse::<IpAddr>().unwrap()]
            );
            Ok(())
        });
    }

    #[test]
    fn kafka_events_need_brokers_and_acks_all() {
        Jail::expect_with(|jail| {
            let kafka = ("VKYC_EVENTS__BACKEND", "kafka");
            let c = load_with(jail, &[kafka]).unwrap();
            assert_eq!(c.events.backend, EventsBackend::Kafka);
            assert_eq!(c.events.kafka.topics.sessions, "vkyc.sessions");
            assert!(load_with(jail, &[kafka, ("VKYC_EVENTS__KAFKA__ACKS", "1")])
                .unwrap_err()
                .contains("events.kafka.acks"));
            assert!(
                load_with(jail, &[kafka, ("VKYC_EVENTS__KAFKA__BROKERS", "")])
                    .unwrap_err()
                    .contains("events.kafka.brokers")
            );
            // The test suite's own variables are not configuration keys.
            let suite = [
                ("VKYC_EVENTS__KAFKA__BROKERS", "127.0.0.1:9092"),
                ("VKYC_KAFKA_BROKERS", "127.0.0.1:9092"),
                ("VKYC_TANSU_BIN", "/usr/bin/true"),
            ];
            load_with(jail, &[&[kafka][..], &suite].concat()).unwrap();
            Ok(())
        });
    }

    #[test]
    fn scylla_storage_from_env() {
        Jail::expect_with(|jail| {
            let env = [
                ("VKYC_STORAGE__BACKEND", "scylla"),
                (
                    "VKYC_STORAGE__SCYLLA__CONTACT_POINTS",
                    "[\"10.0.0.1:9042\",\"10.0.0.2:9042\"]",
                ),
                ("VKYC_STORAGE__SCYLLA__PASSWORD", "s3cret-pass"),
            ];
            let c = load_with(jail, &env).unwrap();
            assert_eq!(c.storage.backend, StorageBackend::Scylla);
            assert_eq!(
                c.storage.scylla.contact_points,
                [
                    "10.0.0.1:9042".parse::<HostPort>().unwrap(),
                    "10.0.0.2:9042".parse().unwrap()
                ]
            );
            assert!(!format!("{:?}", c.storage).contains("s3cret-pass"));
            let zero_ttl = [&env[..], &[("VKYC_STORAGE__SCYLLA__PII_TTL_DAYS", "0")]].concat();
            assert!(load_with(jail, &zero_ttl)
                .unwrap_err()
                .contains("storage.scylla.pii_ttl_days"));
            Ok(())
        });
    }

    /// Loads the defaults with `env` set; the error message if that fails.
    fn load_with(jail: &mut Jail, env: &[(&str, &str)]) -> Result<Config, String> {
        for (k, v) in env {
            jail.set_env(k, v);
        }
        let r = Config::extract(Config::figment("", None).unwrap()).map_err(|e| e.to_string());
        for (k, _) in env {
            std::env::remove_var(k);
        }
        r
    }

    #[test]
    fn typed_values_are_parsed_at_load() {
        Jail::expect_with(|jail| {
            let c = load_with(jail, &[]).unwrap();
            assert_eq!(c.server.public_url, None);
            assert_eq!(c.events.kafka.acks, KafkaAcks::All);
            assert_eq!(c.events.kafka.brokers.to_string(), "127.0.0.1:9092");
            assert_eq!(c.log.format, LogFormat::Text);

            let c = load_with(
                jail,
                &[
                    ("VKYC_SERVER__PUBLIC_URL", "https://kyc.example.org/base/"),
                    ("VKYC_RTC__PUBLIC_IPS", r#"["203.0.113.7", "2001:db8::1"]"#),
                    ("VKYC_RTC__ICE_SERVERS", r#"["stun:stun.example.org:3478", "turn:[2001:db8::2]:3478?transport=udp"]"#),
                    ("VKYC_EVENTS__KAFKA__BROKERS", "kafka-1.internal:9092, [::1]:9093"),
                    ("VKYC_STORAGE__SCYLLA__CONTACT_POINTS", r#"["scylla-0.scylla:9042", "10.0.0.2:9042"]"#),
                    ("VKYC_WEBHOOKS__ALLOWED_HOSTS", r#"["Hooks.Example.org", "10.1.2.3", "[::1]", "fd00::1"]"#),
                    ("VKYC_LOG__LEVEL", "vkyc=debug,webrtc=warn"),
                    ("VKYC_LOG__FORMAT", "json"),
                ],
            )
            .unwrap();
            assert_eq!(
                c.server.public_url.as_ref().map(Url::as_str),
                Some("https://kyc.example.org/base/")
            );
            assert_eq!(
                c.rtc.public_ips,
                [
                    "203.0.113.7".parse::<IpAddr>().unwrap(),
                    "2001:db8::1".parse().unwrap()
                ]
            );
            let ice: Vec<&str> = c.rtc.ice_servers.iter().map(Url::as_str).collect();
            assert_eq!(
                ice,
                [
                    "stun:stun.example.org:3478",
                    "turn:[2001:db8::2]:3478?transport=udp"
                ]
            );
            assert_eq!(
                c.events.kafka.brokers.to_string(),
                "kafka-1.internal:9092,[::1]:9093"
            );
            assert_eq!(
                c.events.kafka.brokers.0[1],
                HostPort {
                    host: url::Host::Ipv6("::1".parse().unwrap()),
                    port: 9093
                }
            );
            let contact: Vec<String> = c
                .storage
                .scylla
                .contact_points
                .iter()
                .map(ToString::to_string)
                .collect();
            assert_eq!(contact, ["scylla-0.scylla:9042", "10.0.0.2:9042"]);
            let hosts: Vec<String> = c
                .webhooks
                .allowed_hosts
                .iter()
                .map(ToString::to_string)
                .collect();
            assert_eq!(
                hosts,
                ["hooks.example.org", "10.1.2.3", "[::1]", "[fd00::1]"]
            );
            assert_eq!(c.log.level.as_str(), "vkyc=debug,webrtc=warn");
            assert_eq!(c.log.format, LogFormat::Json);
            Ok(())
        });
    }

    #[test]
    fn invalid_typed_values_name_the_key() {
        Jail::expect_with(|jail| {
            let cases: &[(&str, &str, &str)] = &[
                (
                    "VKYC_SERVER__PUBLIC_URL",
                    "kyc.example.org",
                    "server.public_url",
                ),
                (
                    "VKYC_SERVER__PUBLIC_URL",
                    "ftp://kyc.example.org",
                    "server.public_url",
                ),
                (
                    "VKYC_SERVER__PUBLIC_URL",
                    "https://kyc.example.org/?a=1",
                    "server.public_url",
                ),
                ("VKYC_SERVER__HOST", "localhost", "server.host"),
                (
                    "VKYC_RTC__PUBLIC_IPS",
                    r#"["203.0.113.300"]"#,
                    "rtc.public_ips",
                ),
                (
                    "VKYC_RTC__ICE_SERVERS",
                    r#"["not a url"]"#,
                    "rtc.ice_servers",
                ),
                (
                    "VKYC_RTC__ICE_SERVERS",
                    r#"["https://stun.example.org"]"#,
                    "rtc.ice_servers",
                ),
                (
                    "VKYC_EVENTS__KAFKA__BROKERS",
                    "127.0.0.1",
                    "events.kafka.brokers",
                ),
                (
                    "VKYC_EVENTS__KAFKA__BROKERS",
                    "127.0.0.1:9092,kafka:99999",
                    "events.kafka.brokers",
                ),
                ("VKYC_EVENTS__KAFKA__ACKS", "one", "events.kafka.acks"),
                ("VKYC_EVENTS__BACKEND", "rabbitmq", "events.backend"),
                ("VKYC_STORAGE__BACKEND", "postgres", "storage.backend"),
                (
                    "VKYC_STORAGE__SCYLLA__CONTACT_POINTS",
                    r#"["10.0.0.1"]"#,
                    "storage.scylla.contact_points",
                ),
                (
                    "VKYC_STORAGE__SCYLLA__CONTACT_POINTS",
                    r#"["[::1:9042"]"#,
                    "storage.scylla.contact_points",
                ),
                (
                    "VKYC_WEBHOOKS__ALLOWED_HOSTS",
                    r#"["http://hooks.example.org/"]"#,
                    "webhooks.allowed_hosts",
                ),
                ("VKYC_LOG__LEVEL", "info,vkyc=loud", "log.level"),
                ("VKYC_LOG__FORMAT", "xml", "log.format"),
                (
                    "VKYC_LIVENESS__PASSIVE__CHANNEL_ORDER",
                    "rbg",
                    "liveness.passive.channel_order",
                ),
                ("VKYC_SERVER__PORT", "not-a-port", "server.port"),
                ("VKYC_ROOM__MAX_PEERS", "1", "room.max_peers"),
                ("VKYC_SERVER__PROT", "1", "prot"),
                (
                    "VKYC_WEBHOOKS__RETRY_SCHEDULE_SECS",
                    "[]",
                    "webhooks.retry_schedule_secs",
                ),
                ("VKYC_WEBHOOKS__RETRY_JITTER", "2", "webhooks.retry_jitter"),
            ];
            for (var, value, key) in cases {
                let err = load_with(jail, &[(var, value)]).map(|_| ()).unwrap_err();
                assert!(err.contains(key), "{var}={value}: {err}");
            }
            Ok(())
        });
    }

    #[test]
    fn unknown_profile_is_an_error() {
        let err = Config::figment("nope", None).unwrap_err().to_string();
        assert!(err.contains("VKYC_PROFILE=nope"), "{err}");
    }
}
