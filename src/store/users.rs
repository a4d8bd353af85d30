//! Staff accounts, console sessions and one-time grants in the embedded store.
//!
//! - `users` (user id → [`UserRecord`] JSON) and `users_by_email` (email → user id) are
//!   written in one transaction, so an email names at most one account
//!   (`Conflict("email_taken")`); `users_by_sso` ("issuer subject" → user id) links a single
//!   sign-on identity to its account.
//! - `console_sessions` (SHA-256 of the cookie → [`ConsoleSession`]): the cookie itself is
//!   never stored, so a copy of the database signs nobody in.
//! - `grants` ((kind, SHA-256 of the secret) → [`Grant`]): single-use secrets with an expiry —
//!   the first-admin link, a pending single sign-on (its `state`). [`UserStore::take_grant`]
//!   removes the row in the transaction that reads it, so a grant is used once.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use redb::{ReadableTable, ReadableTableMetadata, TableDefinition};
use serde::{Deserialize, Serialize};
use vkyc_domain::desk::user::{Email, User};
use vkyc_domain::UserId;

use super::embedded::{backend, EmbeddedStore};
use super::rows::{self, JsonTable};
use super::StoreError;

pub(super) const USERS: JsonTable<u128> = TableDefinition::new("users");
pub(super) const USERS_BY_EMAIL: TableDefinition<&str, u128> =
    TableDefinition::new("users_by_email");
pub(super) const USERS_BY_SSO: TableDefinition<&str, u128> = TableDefinition::new("users_by_sso");
pub(super) const CONSOLE_SESSIONS: JsonTable<&str> = TableDefinition::new("console_sessions");
pub(super) const GRANTS: JsonTable<(&str, &str)> = TableDefinition::new("grants");

/// A single sign-on identity: the provider (issuer URL) and its subject id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SsoLink {
    pub issuer: String,
    pub subject: String,
}

impl SsoLink {
    fn key(&self) -> String {
        format!("{} {}", self.issuer, self.subject)
    }
}

/// An account as stored: the user and its credentials (never served by the API).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserRecord {
    pub user: User,
    /// Argon2id, in the PHC string format; `None`: single sign-on only.
    pub password_hash: Option<String>,
    pub sso: Option<SsoLink>,
    /// Bumped on a password change, a role change or disabling: console sessions signed in
    /// under an older generation end.
    #[serde(default)]
    pub generation: u32,
}

/// A signed-in console: who, since when, and the CSRF token its pages send back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConsoleSession {
    pub user_id: UserId,
    /// The account's generation when signing in.
    pub generation: u32,
    pub csrf: String,
    pub created_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    /// `password`, `sso` or `setup`.
    pub method: String,
}

/// A single-use secret's payload and expiry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Grant {
    pub expires_at: DateTime<Utc>,
    pub data: serde_json::Value,
}

/// The accounts port, implemented by both back ends.
#[async_trait]
pub trait UserStore: Send + Sync + 'static {
    /// Stores a new account; `Conflict("email_taken")` if its email (or SSO identity) is used.
    async fn create_user(&self, record: &UserRecord) -> Result<(), StoreError>;
    /// Replaces an account (same id); `Conflict("email_taken")` if the new email is another's.
    async fn update_user(&self, record: &UserRecord) -> Result<(), StoreError>;
    async fn get_user(&self, id: UserId) -> Result<Option<UserRecord>, StoreError>;
    async fn user_by_email(&self, email: &Email) -> Result<Option<UserRecord>, StoreError>;
    async fn user_by_sso(&self, link: &SsoLink) -> Result<Option<UserRecord>, StoreError>;
    /// Every account, ordered by email.
    async fn list_users(&self) -> Result<Vec<UserRecord>, StoreError>;
    async fn has_users(&self) -> Result<bool, StoreError>;

    /// `key`: the SHA-256 (hex) of the cookie.
    async fn put_console_session(
        &self,
        key: &str,
        session: &ConsoleSession,
    ) -> Result<(), StoreError>;
    async fn get_console_session(&self, key: &str) -> Result<Option<ConsoleSession>, StoreError>;
    async fn delete_console_session(&self, key: &str) -> Result<(), StoreError>;

    /// `key`: the SHA-256 (hex) of the secret.
    async fn put_grant(
        &self,
        kind: &'static str,
        key: &str,
        grant: &Grant,
    ) -> Result<(), StoreError>;
    /// Removes and returns the grant if it exists and has not expired at `now`.
    async fn take_grant(
        &self,
        kind: &'static str,
        key: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<Grant>, StoreError>;
    /// Whether an unexpired grant of `kind` exists.
    async fn has_grant(&self, kind: &'static str, now: DateTime<Utc>) -> Result<bool, StoreError>;
}

pub(super) fn create_tables(tx: &redb::WriteTransaction) -> Result<(), StoreError> {
    rows::create_tables!(
        tx,
        USERS,
        USERS_BY_EMAIL,
        USERS_BY_SSO,
        CONSOLE_SESSIONS,
        GRANTS
    );
    Ok(())
}

/// Writes `record` and its indexes; the email and the SSO identity must be free or its own.
fn put_user(
    tx: &redb::WriteTransaction,
    record: &UserRecord,
    old: Option<&UserRecord>,
) -> Result<(), StoreError> {
    let id = record.user.id.as_u128();
    let taken = || {
        StoreError::Conflict(
            "email_taken",
            "another account has this email address".into(),
        )
    };
    {
        let mut by_email = tx.open_table(USERS_BY_EMAIL).map_err(backend)?;
        if let Some(owner) = by_email
            .get(record.user.email.as_str())
            .map_err(backend)?
            .map(|v| v.value())
        {
            if owner != id {
                return Err(taken());
            }
        }
        if let Some(old) = old {
            if old.user.email != record.user.email {
                by_email.remove(old.user.email.as_str()).map_err(backend)?;
            }
        }
        by_email
            .insert(record.user.email.as_str(), id)
            .map_err(backend)?;
    }
    {
        let mut by_sso = tx.open_table(USERS_BY_SSO).map_err(backend)?;
        if let Some(link) = &record.sso {
            if let Some(owner) = by_sso
                .get(link.key().as_str())
                .map_err(backend)?
                .map(|v| v.value())
            {
                if owner != id {
                    return Err(StoreError::Conflict(
                        "sso_taken",
                        "another account is linked to this sign-on identity".into(),
                    ));
                }
            }
        }
        if let Some(old_link) = old.and_then(|o| o.sso.as_ref()) {
            if record.sso.as_ref() != Some(old_link) {
                by_sso.remove(old_link.key().as_str()).map_err(backend)?;
            }
        }
        if let Some(link) = &record.sso {
            by_sso.insert(link.key().as_str(), id).map_err(backend)?;
        }
    }
    rows::write(tx, USERS, id, record)
}

impl EmbeddedStore {
    /// The account an index (`users_by_email`, `users_by_sso`) names under `key`.
    async fn user_via(
        &self,
        index: TableDefinition<'static, &'static str, u128>,
        key: String,
    ) -> Result<Option<UserRecord>, StoreError> {
        self.read_tx(move |tx| {
            let id = tx
                .open_table(index)
                .map_err(backend)?
                .get(key.as_str())
                .map_err(backend)?
                .map(|v| v.value());
            match id {
                Some(id) => rows::get(&tx.open_table(USERS).map_err(backend)?, id),
                None => Ok(None),
            }
        })
        .await
    }
}

#[async_trait]
impl UserStore for EmbeddedStore {
    async fn create_user(&self, record: &UserRecord) -> Result<(), StoreError> {
        let record = record.clone();
        self.write_tx(move |tx| {
            if rows::read::<u128, UserRecord>(tx, USERS, record.user.id.as_u128())?.is_some() {
                return Err(StoreError::Conflict(
                    "user_exists",
                    "an account with this id exists".into(),
                ));
            }
            put_user(tx, &record, None)
        })
        .await
    }

    async fn update_user(&self, record: &UserRecord) -> Result<(), StoreError> {
        let record = record.clone();
        self.write_tx(move |tx| {
            let old: Option<UserRecord> = rows::read(tx, USERS, record.user.id.as_u128())?;
            let old = old
                .ok_or_else(|| StoreError::Conflict("user_not_found", "no such account".into()))?;
            put_user(tx, &record, Some(&old))
        })
        .await
    }

    async fn get_user(&self, id: UserId) -> Result<Option<UserRecord>, StoreError> {
        self.row(USERS, id.as_u128()).await
    }

    async fn user_by_email(&self, email: &Email) -> Result<Option<UserRecord>, StoreError> {
        self.user_via(USERS_BY_EMAIL, email.as_str().to_string())
            .await
    }

    async fn user_by_sso(&self, link: &SsoLink) -> Result<Option<UserRecord>, StoreError> {
        self.user_via(USERS_BY_SSO, link.key()).await
    }

    async fn list_users(&self) -> Result<Vec<UserRecord>, StoreError> {
        self.read_tx(|tx| {
            let by_email = tx.open_table(USERS_BY_EMAIL).map_err(backend)?;
            let users = tx.open_table(USERS).map_err(backend)?;
            let mut out = Vec::new();
            for row in by_email.iter().map_err(backend)? {
                let (_, id) = row.map_err(backend)?;
                if let Some(u) = rows::get(&users, id.value())? {
                    out.push(u);
                }
            }
            Ok(out)
        })
        .await
    }

    async fn has_users(&self) -> Result<bool, StoreError> {
        self.read_tx(|tx| {
            Ok(tx
                .open_table(USERS)
                .map_err(backend)?
                .len()
                .map_err(backend)?
                > 0)
        })
        .await
    }

    async fn put_console_session(
        &self,
        key: &str,
        session: &ConsoleSession,
    ) -> Result<(), StoreError> {
        let (key, session) = (key.to_string(), session.clone());
        self.write_tx(move |tx| rows::write(tx, CONSOLE_SESSIONS, key.as_str(), &session))
            .await
    }

    async fn get_console_session(&self, key: &str) -> Result<Option<ConsoleSession>, StoreError> {
        let key = key.to_string();
        self.read_tx(move |tx| {
            rows::get(
                &tx.open_table(CONSOLE_SESSIONS).map_err(backend)?,
                key.as_str(),
            )
        })
        .await
    }

    async fn delete_console_session(&self, key: &str) -> Result<(), StoreError> {
        let key = key.to_string();
        self.write_tx(move |tx| {
            tx.open_table(CONSOLE_SESSIONS)
                .map_err(backend)?
                .remove(key.as_str())
                .map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn put_grant(
        &self,
        kind: &'static str,
        key: &str,
        grant: &Grant,
    ) -> Result<(), StoreError> {
        let (key, grant) = (key.to_string(), grant.clone());
        self.write_tx(move |tx| rows::write(tx, GRANTS, (kind, key.as_str()), &grant))
            .await
    }

    async fn take_grant(
        &self,
        kind: &'static str,
        key: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<Grant>, StoreError> {
        let key = key.to_string();
        self.write_tx(move |tx| {
            let mut grants = tx.open_table(GRANTS).map_err(backend)?;
            let taken = grants
                .remove((kind, key.as_str()))
                .map_err(backend)?
                .map(|v| rows::decode::<Grant>(v.value()))
                .transpose()?;
            Ok(taken.filter(|g| g.expires_at > now))
        })
        .await
    }

    async fn has_grant(&self, kind: &'static str, now: DateTime<Utc>) -> Result<bool, StoreError> {
        self.read_tx(move |tx| {
            let grants = tx.open_table(GRANTS).map_err(backend)?;
            for row in grants.range((kind, "")..).map_err(backend)? {
                let (k, v) = row.map_err(backend)?;
                if k.value().0 != kind {
                    break;
                }
                if rows::decode::<Grant>(v.value())?.expires_at > now {
                    return Ok(true);
                }
            }
            Ok(false)
        })
        .await
    }
}
