//! Single sign-on for the agent console over OpenID Connect: authorization code + PKCE.
//!
//! The flow, and who owns what:
//!
//! 1. At start-up the server calls [`Oidc::discover`] once: it reads the provider's discovery
//!    document and its signing keys (JWKS). An issuer that is not `https` is refused, except a
//!    loopback address (`http://127.0.0.1:…`, tests and local set-ups).
//! 2. `GET /auth/sso/start`: [`Oidc::begin`] gives the provider's authorization URL and a
//!    [`PendingLogin`] (state, nonce, PKCE verifier, time). The server keeps the pending login
//!    on its side, keyed by its `state`, for [`OidcConfig::login_ttl_secs`] at most, and
//!    redirects the browser.
//! 3. `GET /auth/sso/callback?code=…&state=…`: the server takes (removes: single use) the
//!    pending login stored under that `state` and calls [`Oidc::finish`], which exchanges the
//!    code at the token endpoint (with the PKCE verifier and the client secret), validates the
//!    ID token ([`Oidc::validate_id_token`]: signature against the JWKS, `iss`, `aud`, `azp`,
//!    `exp`, `iat`, `nonce`), reads email, name and roles from it (and from the userinfo
//!    endpoint for those it lacks) and maps the role claim to [`StaffRole`]s through
//!    [`OidcConfig::role_map`]. The result is an [`SsoIdentity`]; sessions and the user store
//!    are the server's business.
//!
//! Every refusal is an [`OidcError`] with a stable [`OidcError::code`]. Its message never
//! carries a token, a code or personal data, so it can be logged and shown as it is.
//!
//! Protocol work (discovery, the authorization request, PKCE, the code exchange, the checks
//! on the ID token) is done by the `openidconnect` crate; this module configures it strictly
//! (asymmetric signatures only, no other audiences unless configured, a bounded clock skew)
//! and adds what it leaves to the client: `azp`, the freshness of `iat`, the claims → roles
//! mapping. The HTTP client must not follow redirects ([`Oidc::http_client`] makes one).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::IpAddr;
use std::sync::{Mutex, RwLock};
use std::time::{Duration, Instant};

use base64::Engine as _;
use chrono::{DateTime, Utc};
use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreErrorResponseType, CoreIdToken, CoreJsonWebKeySet,
    CoreJwsSigningAlgorithm, CoreProviderMetadata,
};
use openidconnect::{
    AccessToken, Audience, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointMaybeSet,
    EndpointNotSet, EndpointSet, IdTokenVerifier, IssuerUrl, JsonWebKey as _, JsonWebKeySetUrl,
    JwsSigningAlgorithm as _, Nonce, OAuth2TokenResponse as _, PkceCodeChallenge, PkceCodeVerifier,
    RedirectUrl, RequestTokenError, Scope, TokenResponse as _,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use url::Url;
use vkyc_domain::desk::user::{Email, StaffRole, UserName};

use crate::config::Secret;

/// The `[sso]` table of the configuration.
///
/// ```toml
/// [sso]
/// enabled = true
/// issuer_url = "https://login.bank.example/realms/staff"
/// client_id = "vkyc-console"
/// client_secret = "…"                      # or VKYC_SSO__CLIENT_SECRET
/// redirect_url = "https://vkyc.bank.example/auth/sso/callback"
/// role_claim = "groups"
/// allowed_email_domains = ["bank.example"]
/// [sso.role_map]
/// vkyc-agents = ["agent"]
/// vkyc-auditors = ["auditor"]
/// vkyc-supervisors = ["supervisor", "agent"]
/// ```
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OidcConfig {
    /// Whether the console offers SSO at all (default false).
    pub enabled: bool,
    /// The provider's issuer identifier, exactly as in its tokens' `iss`; discovery is read
    /// from `<issuer_url>/.well-known/openid-configuration`. `https`, or `http` on a loopback
    /// address only.
    pub issuer_url: String,
    pub client_id: String,
    /// Sent to the token endpoint (HTTP Basic). Debug shows `<redacted>`.
    pub client_secret: Secret,
    /// This server's callback, registered at the provider:
    /// `https://<host>/auth/sso/callback`.
    pub redirect_url: String,
    /// Scopes asked for besides `openid` (always sent). Default: `email profile groups`;
    /// drop `groups` for a provider that refuses unknown scopes (Entra ID).
    pub scopes: Vec<String>,
    /// The claim holding the values of [`OidcConfig::role_map`] (default `groups`): a string
    /// or an array of strings. A name with dots that is not itself a claim is read as a path
    /// (`realm_access.roles`).
    pub role_claim: String,
    /// Claim value → the roles it grants. A user whose values map to no role is refused
    /// (`no_role`). Values not listed are ignored.
    pub role_map: BTreeMap<String, Vec<StaffRole>>,
    /// If not empty, only emails in these domains may sign in (`email_domain_refused`).
    pub allowed_email_domains: Vec<String>,
    /// The claim with the user's email (default `email`). An `email_verified: false` next to
    /// it is refused.
    pub email_claim: String,
    /// The claim with the user's display name (default `name`); the email when it is absent.
    pub name_claim: String,
    /// Other audiences an ID token may carry besides `client_id` (default none: a token for
    /// several audiences is refused unless every other one is listed here).
    pub trusted_audiences: Vec<String>,
    /// How long a started login may wait for its callback (default 600 s).
    pub login_ttl_secs: u64,
    /// Clock difference tolerated with the provider on `exp` and `iat` (default 60 s).
    pub clock_skew_secs: u64,
}

impl Default for OidcConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            issuer_url: String::new(),
            client_id: String::new(),
            client_secret: Secret::default(),
            redirect_url: String::new(),
            scopes: ["email", "profile", "groups"].map(String::from).to_vec(),
            role_claim: "groups".into(),
            role_map: BTreeMap::new(),
            allowed_email_domains: Vec::new(),
            email_claim: "email".into(),
            name_claim: "name".into(),
            trusted_audiences: Vec::new(),
            login_ttl_secs: 600,
            clock_skew_secs: 60,
        }
    }
}

/// A login between [`Oidc::begin`] and [`Oidc::finish`]. The server stores it on its side
/// (never in the browser), keyed by `state`, takes it out once, and drops it after
/// [`OidcConfig::login_ttl_secs`].
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct PendingLogin {
    pub state: String,
    pub nonce: String,
    pub pkce_verifier: String,
    pub created_at: DateTime<Utc>,
}

impl fmt::Debug for PendingLogin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PendingLogin")
            .field("state", &self.state)
            .field("nonce", &"<redacted>")
            .field("pkce_verifier", &"<redacted>")
            .field("created_at", &self.created_at)
            .finish()
    }
}

/// Who signed in: the provider's stable id for them (`issuer` + `subject`, what an account
/// should be linked by), their email and name, and the roles their claims map to (never
/// empty).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SsoIdentity {
    pub issuer: String,
    pub subject: String,
    pub email: Email,
    pub name: UserName,
    pub roles: BTreeSet<StaffRole>,
}

/// The claims of an ID token that passed every check of [`Oidc::validate_id_token`].
#[derive(Clone, Debug)]
pub struct VerifiedClaims {
    pub issuer: String,
    pub subject: String,
    pub expires_at: DateTime<Utc>,
    /// Every claim of the token, as signed.
    pub claims: Map<String, Value>,
}

/// Why SSO was refused or could not run. [`OidcError::code`] is stable; the message names the
/// reason only (no token, code, email or name).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OidcError {
    #[error("the SSO configuration is invalid: {0}")]
    InvalidConfig(&'static str),
    #[error("the SSO issuer must use https (plain http only on a loopback address)")]
    InsecureIssuer,
    #[error("the identity provider's discovery document or keys could not be read")]
    DiscoveryFailed,
    #[error("the sign-in state does not match the one this login started with")]
    StateMismatch,
    #[error("the sign-in took too long; start again")]
    LoginExpired,
    #[error("the identity provider refused the authorization code")]
    CodeRejected,
    #[error("the identity provider's token endpoint could not be used")]
    TokenEndpointFailed,
    #[error("the ID token is missing or malformed")]
    InvalidIdToken,
    #[error("the ID token was issued by another issuer")]
    WrongIssuer,
    #[error("the ID token is not meant for this client")]
    WrongAudience,
    #[error("the ID token has expired or is not fresh")]
    TokenExpired,
    #[error("the ID token's signature is missing or not valid")]
    BadSignature,
    #[error("the ID token's nonce does not match this login")]
    NonceMismatch,
    #[error("the identity provider's userinfo endpoint could not be used")]
    UserinfoFailed,
    #[error("the identity provider did not give an email address")]
    MissingEmail,
    #[error("the identity provider gave an email address that is not valid")]
    InvalidEmail,
    #[error("the email address is not verified at the identity provider")]
    EmailUnverified,
    #[error("this email domain may not sign in")]
    EmailDomainRefused,
    #[error("the identity provider gave no usable name")]
    InvalidName,
    #[error("the account has no role in vkyc")]
    NoRole,
}

impl OidcError {
    pub fn code(&self) -> &'static str {
        match self {
            OidcError::InvalidConfig(_) => "invalid_config",
            OidcError::InsecureIssuer => "insecure_issuer",
            OidcError::DiscoveryFailed => "discovery_failed",
            OidcError::StateMismatch => "state_mismatch",
            OidcError::LoginExpired => "login_expired",
            OidcError::CodeRejected => "code_rejected",
            OidcError::TokenEndpointFailed => "token_endpoint_failed",
            OidcError::InvalidIdToken => "invalid_id_token",
            OidcError::WrongIssuer => "wrong_issuer",
            OidcError::WrongAudience => "wrong_audience",
            OidcError::TokenExpired => "token_expired",
            OidcError::BadSignature => "bad_signature",
            OidcError::NonceMismatch => "nonce_mismatch",
            OidcError::UserinfoFailed => "userinfo_failed",
            OidcError::MissingEmail => "missing_email",
            OidcError::InvalidEmail => "invalid_email",
            OidcError::EmailUnverified => "email_unverified",
            OidcError::EmailDomainRefused => "email_domain_refused",
            OidcError::InvalidName => "invalid_name",
            OidcError::NoRole => "no_role",
        }
    }

    /// Whether the fault is on the server's or the provider's side (configuration,
    /// discovery, endpoints unreachable) rather than a refusal of this sign-in: a 502/503
    /// rather than a 403 at the edge.
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            OidcError::InvalidConfig(_)
                | OidcError::InsecureIssuer
                | OidcError::DiscoveryFailed
                | OidcError::TokenEndpointFailed
                | OidcError::UserinfoFailed
        )
    }
}

type Client = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// How often at most the JWKS is fetched again for a token signed with an unknown key id
/// (the provider rotated its keys).
const JWKS_REFRESH_INTERVAL: Duration = Duration::from_secs(60);

/// A discovered provider, ready for logins. Cheap to share behind an `Arc`.
pub struct Oidc {
    config: OidcConfig,
    http: reqwest::Client,
    client: Client,
    issuer: IssuerUrl,
    jwks_url: JsonWebKeySetUrl,
    jwks: RwLock<CoreJsonWebKeySet>,
    jwks_fetched: Mutex<Instant>,
    signing_algs: Vec<CoreJwsSigningAlgorithm>,
}

impl fmt::Debug for Oidc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Oidc")
            .field("issuer", &self.issuer.as_str())
            .field("client_id", &self.config.client_id)
            .finish_non_exhaustive()
    }
}

impl Oidc {
    /// An HTTP client fit for [`Oidc::discover`]: follows no redirects, 10 s timeout.
    pub fn http_client() -> Result<reqwest::Client, OidcError> {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|_| OidcError::InvalidConfig("the HTTP client could not be built"))
    }

    /// Reads the provider's discovery document and keys. `http` must not follow redirects
    /// (see [`Oidc::http_client`]).
    pub async fn discover(config: OidcConfig, http: reqwest::Client) -> Result<Oidc, OidcError> {
        if config.client_id.trim().is_empty() {
            return Err(OidcError::InvalidConfig("sso.client_id is empty"));
        }
        if config.client_secret.expose().is_empty() {
            return Err(OidcError::InvalidConfig("sso.client_secret is empty"));
        }
        if config.role_map.values().all(Vec::is_empty) {
            return Err(OidcError::InvalidConfig("sso.role_map grants no role"));
        }
        let issuer_url = Url::parse(&config.issuer_url)
            .map_err(|_| OidcError::InvalidConfig("sso.issuer_url is not a URL"))?;
        if !secure_or_loopback(&issuer_url) {
            return Err(OidcError::InsecureIssuer);
        }
        let redirect = Url::parse(&config.redirect_url)
            .map_err(|_| OidcError::InvalidConfig("sso.redirect_url is not a URL"))?;
        if !secure_or_loopback(&redirect) {
            return Err(OidcError::InvalidConfig(
                "sso.redirect_url must be https (or http on a loopback address)",
            ));
        }
        let issuer = IssuerUrl::new(config.issuer_url.clone())
            .map_err(|_| OidcError::InvalidConfig("sso.issuer_url is not a URL"))?;

        // Also checks that the document's `issuer` is exactly `issuer_url`.
        let metadata = CoreProviderMetadata::discover_async(issuer.clone(), &http)
            .await
            .map_err(|e| {
                tracing::warn!(error = %e, "SSO discovery failed");
                OidcError::DiscoveryFailed
            })?;
        let token_endpoint = metadata
            .token_endpoint()
            .ok_or(OidcError::DiscoveryFailed)?;
        let endpoints = [
            metadata.authorization_endpoint().url(),
            token_endpoint.url(),
            metadata.jwks_uri().url(),
        ];
        let userinfo = metadata.userinfo_endpoint().map(|u| u.url());
        if endpoints
            .into_iter()
            .chain(userinfo)
            .any(|u| !secure_or_loopback(u))
        {
            return Err(OidcError::InsecureIssuer);
        }
        // Asymmetric algorithms only: an HMAC "signature" made with the client secret proves
        // nothing about the provider, and `none` proves nothing at all.
        let mut signing_algs: Vec<CoreJwsSigningAlgorithm> = metadata
            .id_token_signing_alg_values_supported()
            .iter()
            .filter(|a| !a.uses_shared_secret() && **a != CoreJwsSigningAlgorithm::None)
            .cloned()
            .collect();
        if signing_algs.is_empty() {
            signing_algs.push(CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256);
        }
        let jwks_url = metadata.jwks_uri().clone();
        let jwks = metadata.jwks().clone();
        let client = CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(config.client_id.clone()),
            Some(ClientSecret::new(config.client_secret.expose().to_string())),
        )
        .set_redirect_uri(
            RedirectUrl::new(config.redirect_url.clone())
                .map_err(|_| OidcError::InvalidConfig("sso.redirect_url is not a URL"))?,
        );
        Ok(Oidc {
            config,
            http,
            client,
            issuer,
            jwks_url,
            jwks: RwLock::new(jwks),
            jwks_fetched: Mutex::new(Instant::now()),
            signing_algs,
        })
    }

    pub fn config(&self) -> &OidcConfig {
        &self.config
    }

    /// Starts a login: the URL to send the browser to, and what to keep until the callback.
    pub fn begin(&self) -> (Url, PendingLogin) {
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut request = self.client.authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        );
        for scope in &self.config.scopes {
            if scope != "openid" {
                request = request.add_scope(Scope::new(scope.clone()));
            }
        }
        let (url, state, nonce) = request.set_pkce_challenge(challenge).url();
        let pending = PendingLogin {
            state: state.secret().clone(),
            nonce: nonce.secret().clone(),
            pkce_verifier: verifier.secret().clone(),
            created_at: Utc::now(),
        };
        (url, pending)
    }

    /// Completes a login from the callback's `code` and `state`, with the pending login that
    /// was stored under that state (already removed from the store by the caller).
    pub async fn finish(
        &self,
        pending: PendingLogin,
        code: &str,
        returned_state: &str,
    ) -> Result<SsoIdentity, OidcError> {
        if !constant_time_eq(pending.state.as_bytes(), returned_state.as_bytes()) {
            return Err(OidcError::StateMismatch);
        }
        let now = Utc::now();
        let ttl = chrono::Duration::seconds(self.config.login_ttl_secs.min(86_400) as i64);
        if now - pending.created_at > ttl {
            return Err(OidcError::LoginExpired);
        }

        let response = self
            .client
            .exchange_code(AuthorizationCode::new(code.to_string()))
            .map_err(|_| OidcError::DiscoveryFailed)?
            .set_pkce_verifier(PkceCodeVerifier::new(pending.pkce_verifier.clone()))
            .request_async(&self.http)
            .await
            .map_err(|e| match e {
                RequestTokenError::ServerResponse(r) => {
                    tracing::info!(error = %r.error(), "SSO token endpoint refused the code");
                    match r.error() {
                        CoreErrorResponseType::InvalidClient
                        | CoreErrorResponseType::UnauthorizedClient => {
                            OidcError::TokenEndpointFailed
                        }
                        _ => OidcError::CodeRejected,
                    }
                }
                RequestTokenError::Request(e) => {
                    tracing::warn!(error = %e, "SSO token endpoint unreachable");
                    OidcError::TokenEndpointFailed
                }
                RequestTokenError::Parse(_, _) | RequestTokenError::Other(_) => {
                    tracing::warn!("SSO token endpoint answered something unreadable");
                    OidcError::TokenEndpointFailed
                }
            })?;
        let raw = response
            .id_token()
            .ok_or(OidcError::InvalidIdToken)?
            .to_string();
        let verified = self.validate_id_token(&raw, &pending.nonce, now).await?;

        let wanted = [
            &self.config.email_claim,
            &self.config.name_claim,
            &self.config.role_claim,
        ];
        let userinfo = if wanted.iter().any(|c| claim(&verified.claims, c).is_none()) {
            self.userinfo(response.access_token(), &verified.subject)
                .await?
        } else {
            None
        };
        identity(&self.config, &verified, userinfo.as_ref())
    }

    /// Checks an ID token as [`Oidc::finish`] does: signature (an asymmetric algorithm the
    /// provider advertises, a key of its JWKS), `iss`, `aud` (this client, plus only
    /// [`OidcConfig::trusted_audiences`]), `azp` (this client when present; required with
    /// several audiences), `exp` and `iat` at `now` (± the clock skew; `iat` no older than the
    /// login TTL), and `nonce`.
    pub async fn validate_id_token(
        &self,
        raw: &str,
        nonce: &str,
        now: DateTime<Utc>,
    ) -> Result<VerifiedClaims, OidcError> {
        let token: CoreIdToken = raw.parse().map_err(|_| OidcError::InvalidIdToken)?;
        let header = jwt_part(raw, 0)?;
        if let Some(kid) = header.get("kid").and_then(Value::as_str) {
            self.refresh_jwks_if_unknown(kid).await;
        }
        let jwks = self.jwks.read().unwrap_or_else(|p| p.into_inner()).clone();

        let skew = chrono::Duration::seconds(self.config.clock_skew_secs.min(600) as i64);
        let max_age = chrono::Duration::seconds(self.config.login_ttl_secs.min(86_400) as i64);
        let trusted = self.config.trusted_audiences.clone();
        let verifier = IdTokenVerifier::new_public_client(
            ClientId::new(self.config.client_id.clone()),
            self.issuer.clone(),
            jwks,
        )
        .set_allowed_algs(self.signing_algs.clone())
        .set_other_audience_verifier_fn(move |aud: &Audience| {
            trusted.iter().any(|t| t.as_str() == aud.as_str())
        })
        // `exp` is compared with `now - skew`: a token expires `skew` late at most.
        .set_time_fn(move || now - skew)
        .set_issue_time_verifier_fn(move |iat| {
            if iat > now + skew {
                Err("issued in the future".into())
            } else if iat < now - max_age - skew {
                Err("issued too long ago".into())
            } else {
                Ok(())
            }
        });
        let expected = Nonce::new(nonce.to_string());
        let claims = token.claims(&verifier, &expected).map_err(|e| {
            use openidconnect::ClaimsVerificationError as E;
            let refusal = match e {
                E::Expired(_) => OidcError::TokenExpired,
                E::InvalidAudience(_) => OidcError::WrongAudience,
                E::InvalidIssuer(_) => OidcError::WrongIssuer,
                E::InvalidNonce(_) => OidcError::NonceMismatch,
                E::SignatureVerification(_) => OidcError::BadSignature,
                _ => OidcError::InvalidIdToken,
            };
            tracing::info!(code = refusal.code(), "SSO ID token refused");
            refusal
        })?;

        // The crate leaves `azp` to the client (OpenID Connect Core 3.1.3.7, steps 4 and 5).
        let client_id = self.config.client_id.as_str();
        match claims.authorized_party() {
            Some(azp) if azp.as_str() != client_id => return Err(OidcError::WrongAudience),
            None if claims.audiences().len() > 1 => return Err(OidcError::WrongAudience),
            _ => {}
        }

        // The payload whose signature was just checked, read whole for the other claims.
        let all = jwt_part(raw, 1)?;
        Ok(VerifiedClaims {
            issuer: claims.issuer().as_str().to_string(),
            subject: claims.subject().as_str().to_string(),
            expires_at: claims.expiration(),
            claims: all,
        })
    }

    /// Fetches the JWKS again when a token names a key id it does not have (at most once a
    /// minute): the provider rotated its keys since discovery.
    async fn refresh_jwks_if_unknown(&self, kid: &str) {
        let known = self
            .jwks
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .keys()
            .iter()
            .any(|k| k.key_id().is_some_and(|id| id.as_str() == kid));
        if known {
            return;
        }
        {
            let mut last = self.jwks_fetched.lock().unwrap_or_else(|p| p.into_inner());
            if last.elapsed() < JWKS_REFRESH_INTERVAL {
                return;
            }
            *last = Instant::now();
        }
        match CoreJsonWebKeySet::fetch_async(&self.jwks_url, &self.http).await {
            Ok(keys) => *self.jwks.write().unwrap_or_else(|p| p.into_inner()) = keys,
            Err(e) => tracing::warn!(error = %e, "SSO JWKS refresh failed"),
        }
    }

    /// The userinfo claims (a JSON object whose `sub` must be the ID token's), or `None` when
    /// the provider has no userinfo endpoint.
    async fn userinfo(
        &self,
        access_token: &AccessToken,
        subject: &str,
    ) -> Result<Option<Map<String, Value>>, OidcError> {
        let Some(endpoint) = self.client.user_info_url() else {
            return Ok(None);
        };
        let response = self
            .http
            .get(endpoint.url().clone())
            .bearer_auth(access_token.secret())
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|_| OidcError::UserinfoFailed)?;
        if !response.status().is_success() {
            tracing::warn!(status = %response.status(), "SSO userinfo refused");
            return Err(OidcError::UserinfoFailed);
        }
        let claims: Map<String, Value> = response
            .json()
            .await
            .map_err(|_| OidcError::UserinfoFailed)?;
        if claims.get("sub").and_then(Value::as_str) != Some(subject) {
            return Err(OidcError::UserinfoFailed);
        }
        Ok(Some(claims))
    }
}

/// The identity from verified ID token claims and, for the claims they lack, userinfo.
fn identity(
    config: &OidcConfig,
    token: &VerifiedClaims,
    userinfo: Option<&Map<String, Value>>,
) -> Result<SsoIdentity, OidcError> {
    let lookup =
        |name: &str| claim(&token.claims, name).or_else(|| userinfo.and_then(|u| claim(u, name)));

    let raw_email = lookup(&config.email_claim)
        .and_then(Value::as_str)
        .ok_or(OidcError::MissingEmail)?;
    let email = Email::parse(raw_email).map_err(|_| OidcError::InvalidEmail)?;
    // `email_verified` is read from the same source as the email.
    let verified = if claim(&token.claims, &config.email_claim).is_some() {
        claim(&token.claims, "email_verified")
    } else {
        userinfo.and_then(|u| claim(u, "email_verified"))
    };
    if verified.and_then(Value::as_bool) == Some(false) {
        return Err(OidcError::EmailUnverified);
    }
    if !config.allowed_email_domains.is_empty() {
        let domain = email
            .as_str()
            .rsplit_once('@')
            .map(|(_, d)| d)
            .unwrap_or("");
        let allowed = config.allowed_email_domains.iter().any(|d| {
            d.trim()
                .trim_start_matches('@')
                .eq_ignore_ascii_case(domain)
        });
        if !allowed {
            return Err(OidcError::EmailDomainRefused);
        }
    }

    let name = lookup(&config.name_claim)
        .and_then(Value::as_str)
        .and_then(|n| UserName::parse(n).ok())
        .or_else(|| UserName::parse(email.as_str()).ok())
        .ok_or(OidcError::InvalidName)?;

    let roles = roles(config, lookup(&config.role_claim));
    if roles.is_empty() {
        return Err(OidcError::NoRole);
    }
    Ok(SsoIdentity {
        issuer: token.issuer.clone(),
        subject: token.subject.clone(),
        email,
        name,
        roles,
    })
}

/// The roles that a role claim's value (a string or an array of strings) maps to.
fn roles(config: &OidcConfig, value: Option<&Value>) -> BTreeSet<StaffRole> {
    let values: Vec<&str> = match value {
        Some(Value::String(s)) => vec![s.as_str()],
        Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    values
        .into_iter()
        .filter_map(|v| config.role_map.get(v))
        .flatten()
        .copied()
        .collect()
}

/// A claim by name, or else by a dotted path through nested objects.
fn claim<'a>(claims: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    if let Some(v) = claims.get(name) {
        return (!v.is_null()).then_some(v);
    }
    let mut parts = name.split('.');
    let mut current = claims.get(parts.next()?)?;
    for part in parts {
        current = current.as_object()?.get(part)?;
    }
    (!current.is_null()).then_some(current)
}

/// One part (0 header, 1 payload) of a compact JWS, as a JSON object.
fn jwt_part(raw: &str, index: usize) -> Result<Map<String, Value>, OidcError> {
    let part = raw.split('.').nth(index).ok_or(OidcError::InvalidIdToken)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| OidcError::InvalidIdToken)?;
    serde_json::from_slice(&bytes).map_err(|_| OidcError::InvalidIdToken)
}

/// `https`, or `http` to a loopback address (127.0.0.0/8, ::1, localhost).
fn secure_or_loopback(url: &Url) -> bool {
    match url.scheme() {
        "https" => true,
        "http" => match url.host() {
            Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
            Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
            Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
            None => false,
        },
        _ => false,
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn config() -> OidcConfig {
        serde_json::from_value(json!({
            "issuer_url": "https://login.bank.example",
            "client_id": "vkyc-console",
            "client_secret": "s3cret-s3cret-s3cret",
            "redirect_url": "https://vkyc.bank.example/auth/sso/callback",
            "role_map": {
                "vkyc-agents": ["agent"],
                "vkyc-supervisors": ["supervisor", "agent"],
            },
            "allowed_email_domains": ["bank.example"],
        }))
        .unwrap()
    }

    fn token(claims: Value) -> VerifiedClaims {
        VerifiedClaims {
            issuer: "https://login.bank.example".into(),
            subject: "u-1".into(),
            expires_at: Utc::now(),
            claims: claims.as_object().unwrap().clone(),
        }
    }

    #[test]
    fn defaults_ask_for_groups_and_redact_the_secret() {
        let c = config();
        assert_eq!(c.scopes, ["email", "profile", "groups"]);
        assert_eq!(c.role_claim, "groups");
        assert_eq!(
            (c.email_claim.as_str(), c.name_claim.as_str()),
            ("email", "name")
        );
        assert!(!format!("{c:?}").contains("s3cret"));
    }

    #[test]
    fn roles_are_the_union_of_the_mapped_values() {
        let c = config();
        let id = identity(
            &c,
            &token(json!({"email": "Asha@Bank.example", "name": "Asha Rao",
                "groups": ["staff", "vkyc-supervisors", "vkyc-agents"]})),
            None,
        )
        .unwrap();
        assert_eq!(id.email.as_str(), "asha@bank.example");
        assert_eq!(
            id.roles,
            BTreeSet::from([StaffRole::Agent, StaffRole::Supervisor])
        );
        let single = identity(
            &c,
            &token(json!({"email": "a@bank.example", "groups": "vkyc-agents"})),
            None,
        );
        assert_eq!(single.unwrap().name.as_str(), "a@bank.example");
    }

    #[test]
    fn refusals_have_their_codes() {
        let c = config();
        let code = |claims: Value| identity(&c, &token(claims), None).unwrap_err().code();
        assert_eq!(
            code(json!({"email": "a@bank.example", "groups": ["finance"]})),
            "no_role"
        );
        assert_eq!(code(json!({"email": "a@bank.example"})), "no_role");
        assert_eq!(code(json!({"groups": ["vkyc-agents"]})), "missing_email");
        assert_eq!(
            code(json!({"email": "nope", "groups": ["vkyc-agents"]})),
            "invalid_email"
        );
        assert_eq!(
            code(json!({"email": "a@evil.example", "groups": ["vkyc-agents"]})),
            "email_domain_refused"
        );
        assert_eq!(
            code(
                json!({"email": "a@bank.example", "email_verified": false, "groups": ["vkyc-agents"]})
            ),
            "email_unverified"
        );
    }

    #[test]
    fn userinfo_fills_what_the_id_token_lacks_and_paths_reach_nested_claims() {
        let mut c = config();
        c.role_claim = "realm_access.roles".into();
        let info = json!({"sub": "u-1", "email": "b@bank.example", "name": "B",
            "realm_access": {"roles": ["vkyc-agents"]}});
        let id = identity(&c, &token(json!({"sub": "u-1"})), info.as_object()).unwrap();
        assert_eq!(
            (id.email.as_str(), id.name.as_str()),
            ("b@bank.example", "B")
        );
        assert_eq!(id.roles, BTreeSet::from([StaffRole::Agent]));
    }

    /// The server shares one `Oidc` between workers and may spawn its futures.
    #[allow(dead_code)]
    fn shared_and_spawnable(oidc: &Oidc, pending: PendingLogin) {
        fn send_sync<T: Send + Sync>(_: &T) {}
        fn send<T: Send>(_: T) {}
        send_sync(oidc);
        send(oidc.finish(pending, "", ""));
        send(Oidc::discover(
            OidcConfig::default(),
            reqwest::Client::new(),
        ));
    }

    #[test]
    fn only_https_or_loopback_http() {
        let ok = |u: &str| secure_or_loopback(&Url::parse(u).unwrap());
        assert!(ok("https://login.bank.example"));
        assert!(ok("http://127.0.0.1:4000"));
        assert!(ok("http://[::1]:4000"));
        assert!(ok("http://localhost:4000"));
        assert!(!ok("http://login.bank.example"));
        assert!(!ok("http://10.0.0.1"));
        assert!(!ok("ftp://127.0.0.1"));
    }
}
