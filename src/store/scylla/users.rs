//! Staff accounts, console sessions and grants on ScyllaDB ([`UserStore`]).
//!
//! Tables (migration 0003): `users` (by id, the [`UserRecord`] as JSON), `users_by_email`,
//! `users_by_sso`, `users_list` (one partition by email, the admin's list), `console_sessions`
//! and `grants` (both written with a TTL, so expired rows leave by themselves).
//!
//! **Uniqueness**: an email (or SSO identity) is checked against its index at `LOCAL_QUORUM`
//! before the logged batch that writes the account and its indexes. Two admins creating the
//! same email at the same instant could both pass the check (no lightweight transaction
//! here); accounts are created by people, rarely, and the later write wins the index.
//! **Single use**: a grant is read and deleted; the secrets are random 256-bit values that
//! only their holder knows, so two concurrent uses would be the holder racing themselves.

use chrono::{DateTime, Utc};
use scylla::client::session::Session as CqlSession;
use scylla::statement::prepared::PreparedStatement;
use scylla::statement::Consistency::LocalQuorum as QUORUM;
use uuid::Uuid;
use vkyc_domain::desk::user::Email;
use vkyc_domain::UserId;

use super::{backend, corrupt, prep, ScyllaStore, Tx};
use crate::store::users::{ConsoleSession, Grant, SsoLink, UserRecord, UserStore};
use crate::store::StoreError;

const LIST: &str = "all";

pub(super) struct Statements {
    insert: PreparedStatement,
    get: PreparedStatement,
    insert_email: PreparedStatement,
    get_email: PreparedStatement,
    delete_email: PreparedStatement,
    insert_sso: PreparedStatement,
    get_sso: PreparedStatement,
    delete_sso: PreparedStatement,
    insert_list: PreparedStatement,
    delete_list: PreparedStatement,
    list: PreparedStatement,
    put_session: PreparedStatement,
    get_session: PreparedStatement,
    delete_session: PreparedStatement,
    put_grant: PreparedStatement,
    get_grant: PreparedStatement,
    list_grants: PreparedStatement,
    delete_grant: PreparedStatement,
}

pub(super) async fn prepare(s: &CqlSession) -> Result<Statements, StoreError> {
    Ok(Statements {
        insert: prep(s, "INSERT INTO users (id, doc) VALUES (?, ?)", QUORUM).await?,
        get: prep(s, "SELECT doc FROM users WHERE id = ?", QUORUM).await?,
        insert_email: prep(
            s,
            "INSERT INTO users_by_email (email, id) VALUES (?, ?)",
            QUORUM,
        )
        .await?,
        get_email: prep(s, "SELECT id FROM users_by_email WHERE email = ?", QUORUM).await?,
        delete_email: prep(s, "DELETE FROM users_by_email WHERE email = ?", QUORUM).await?,
        insert_sso: prep(
            s,
            "INSERT INTO users_by_sso (link, id) VALUES (?, ?)",
            QUORUM,
        )
        .await?,
        get_sso: prep(s, "SELECT id FROM users_by_sso WHERE link = ?", QUORUM).await?,
        delete_sso: prep(s, "DELETE FROM users_by_sso WHERE link = ?", QUORUM).await?,
        insert_list: prep(
            s,
            "INSERT INTO users_list (scope, email, id) VALUES (?, ?, ?)",
            QUORUM,
        )
        .await?,
        delete_list: prep(
            s,
            "DELETE FROM users_list WHERE scope = ? AND email = ?",
            QUORUM,
        )
        .await?,
        list: prep(s, "SELECT id FROM users_list WHERE scope = ?", QUORUM).await?,
        put_session: prep(
            s,
            &format!(
                "INSERT INTO console_sessions (key, doc) VALUES (?, ?) USING TTL {ROW_TTL_SECS}"
            ),
            QUORUM,
        )
        .await?,
        get_session: prep(s, "SELECT doc FROM console_sessions WHERE key = ?", QUORUM).await?,
        delete_session: prep(s, "DELETE FROM console_sessions WHERE key = ?", QUORUM).await?,
        put_grant: prep(
            s,
            &format!(
                "INSERT INTO grants (kind, key, doc) VALUES (?, ?, ?) USING TTL {ROW_TTL_SECS}"
            ),
            QUORUM,
        )
        .await?,
        get_grant: prep(
            s,
            "SELECT doc FROM grants WHERE kind = ? AND key = ?",
            QUORUM,
        )
        .await?,
        list_grants: prep(s, "SELECT doc FROM grants WHERE kind = ?", QUORUM).await?,
        delete_grant: prep(s, "DELETE FROM grants WHERE kind = ? AND key = ?", QUORUM).await?,
    })
}

/// How long a console session's or a grant's row outlives its writing: longer than any
/// timeout the configuration allows (a console's absolute timeout is at most 7 days); the
/// server checks the real expiry itself on every read.
const ROW_TTL_SECS: u32 = 8 * 86_400;

fn sso_key(link: &SsoLink) -> String {
    format!("{} {}", link.issuer, link.subject)
}

impl ScyllaStore {
    async fn owner(&self, st: &PreparedStatement, key: &str) -> Result<Option<Uuid>, StoreError> {
        let rows: Vec<(Option<Uuid>,)> = self.rows(st, (key,)).await?;
        Ok(rows.into_iter().next().and_then(|r| r.0))
    }

    pub(super) async fn text_doc<T: serde::de::DeserializeOwned>(
        &self,
        st: &PreparedStatement,
        key: impl scylla::serialize::row::SerializeRow,
    ) -> Result<Option<T>, StoreError> {
        let rows: Vec<(Option<String>,)> = self.rows(st, key).await?;
        rows.into_iter()
            .next()
            .and_then(|r| r.0)
            .map(|d| serde_json::from_str(&d).map_err(corrupt))
            .transpose()
    }

    /// Checks the record's email and SSO identity are free (or its own), then writes the
    /// account and its indexes in one logged batch, dropping the old ones of `old`.
    async fn put_user(
        &self,
        record: &UserRecord,
        old: Option<&UserRecord>,
    ) -> Result<(), StoreError> {
        let st = &self.inner.st.users;
        let id = record.user.id.into_uuid();
        let email = record.user.email.as_str().to_string();
        if self
            .owner(&st.get_email, &email)
            .await?
            .is_some_and(|o| o != id)
        {
            return Err(StoreError::Conflict(
                "email_taken",
                "another account has this email address".into(),
            ));
        }
        if let Some(link) = &record.sso {
            if self
                .owner(&st.get_sso, &sso_key(link))
                .await?
                .is_some_and(|o| o != id)
            {
                return Err(StoreError::Conflict(
                    "sso_taken",
                    "another account is linked to this sign-on identity".into(),
                ));
            }
        }
        let mut tx = Tx::new();
        if let Some(old) = old {
            if old.user.email != record.user.email {
                tx.push(&st.delete_email, (old.user.email.as_str().to_string(),));
                tx.push(&st.delete_list, (LIST, old.user.email.as_str().to_string()));
            }
            if let Some(link) = old.sso.as_ref().filter(|l| record.sso.as_ref() != Some(*l)) {
                tx.push(&st.delete_sso, (sso_key(link),));
            }
        }
        tx.push(
            &st.insert,
            (id, serde_json::to_string(record).map_err(backend)?),
        );
        tx.push(&st.insert_email, (email.clone(), id));
        tx.push(&st.insert_list, (LIST, email, id));
        if let Some(link) = &record.sso {
            tx.push(&st.insert_sso, (sso_key(link), id));
        }
        self.run(tx).await
    }

    async fn user_at(&self, id: Option<Uuid>) -> Result<Option<UserRecord>, StoreError> {
        match id {
            Some(id) => self.text_doc(&self.inner.st.users.get, (id,)).await,
            None => Ok(None),
        }
    }
}

#[async_trait::async_trait]
impl UserStore for ScyllaStore {
    async fn create_user(&self, record: &UserRecord) -> Result<(), StoreError> {
        if self
            .user_at(Some(record.user.id.into_uuid()))
            .await?
            .is_some()
        {
            return Err(StoreError::Conflict(
                "user_exists",
                "an account with this id exists".into(),
            ));
        }
        self.put_user(record, None).await
    }

    async fn update_user(&self, record: &UserRecord) -> Result<(), StoreError> {
        let old = self.user_at(Some(record.user.id.into_uuid())).await?;
        let old =
            old.ok_or_else(|| StoreError::Conflict("user_not_found", "no such account".into()))?;
        self.put_user(record, Some(&old)).await
    }

    async fn get_user(&self, id: UserId) -> Result<Option<UserRecord>, StoreError> {
        self.user_at(Some(id.into_uuid())).await
    }

    async fn user_by_email(&self, email: &Email) -> Result<Option<UserRecord>, StoreError> {
        let id = self
            .owner(&self.inner.st.users.get_email, email.as_str())
            .await?;
        self.user_at(id).await
    }

    async fn user_by_sso(&self, link: &SsoLink) -> Result<Option<UserRecord>, StoreError> {
        let id = self
            .owner(&self.inner.st.users.get_sso, &sso_key(link))
            .await?;
        self.user_at(id).await
    }

    async fn list_users(&self) -> Result<Vec<UserRecord>, StoreError> {
        let ids: Vec<(Uuid,)> = self.rows(&self.inner.st.users.list, (LIST,)).await?;
        let mut out = Vec::with_capacity(ids.len());
        for (id,) in ids {
            if let Some(u) = self.user_at(Some(id)).await? {
                out.push(u);
            }
        }
        Ok(out)
    }

    async fn has_users(&self) -> Result<bool, StoreError> {
        let ids: Vec<(Uuid,)> = self.rows(&self.inner.st.users.list, (LIST,)).await?;
        Ok(!ids.is_empty())
    }

    async fn put_console_session(
        &self,
        key: &str,
        session: &ConsoleSession,
    ) -> Result<(), StoreError> {
        let doc = serde_json::to_string(session).map_err(backend)?;
        self.inner
            .session
            .execute_unpaged(&self.inner.st.users.put_session, (key, doc))
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn get_console_session(&self, key: &str) -> Result<Option<ConsoleSession>, StoreError> {
        self.text_doc(&self.inner.st.users.get_session, (key,))
            .await
    }

    async fn delete_console_session(&self, key: &str) -> Result<(), StoreError> {
        self.inner
            .session
            .execute_unpaged(&self.inner.st.users.delete_session, (key,))
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn put_grant(
        &self,
        kind: &'static str,
        key: &str,
        grant: &Grant,
    ) -> Result<(), StoreError> {
        let doc = serde_json::to_string(grant).map_err(backend)?;
        self.inner
            .session
            .execute_unpaged(&self.inner.st.users.put_grant, (kind, key, doc))
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn take_grant(
        &self,
        kind: &'static str,
        key: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<Grant>, StoreError> {
        let grant: Option<Grant> = self
            .text_doc(&self.inner.st.users.get_grant, (kind, key))
            .await?;
        if grant.is_some() {
            self.inner
                .session
                .execute_unpaged(&self.inner.st.users.delete_grant, (kind, key))
                .await
                .map_err(backend)?;
        }
        Ok(grant.filter(|g| g.expires_at > now))
    }

    async fn has_grant(&self, kind: &'static str, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let docs: Vec<(Option<String>,)> =
            self.rows(&self.inner.st.users.list_grants, (kind,)).await?;
        for (doc,) in docs {
            let Some(doc) = doc else { continue };
            let g: Grant = serde_json::from_str(&doc).map_err(corrupt)?;
            if g.expires_at > now {
                return Ok(true);
            }
        }
        Ok(false)
    }
}

/// The desk's queue document (`desk_state`, one row), written with its events in one batch.
pub(super) struct DeskStatements {
    get: PreparedStatement,
    put: PreparedStatement,
}

pub(super) async fn prepare_desk(s: &CqlSession) -> Result<DeskStatements, StoreError> {
    Ok(DeskStatements {
        get: prep(s, "SELECT doc FROM desk_state WHERE scope = ?", QUORUM).await?,
        put: prep(
            s,
            "INSERT INTO desk_state (scope, doc) VALUES (?, ?)",
            QUORUM,
        )
        .await?,
    })
}

const QUEUE: &str = "queue";

#[async_trait::async_trait]
impl crate::store::DeskStateStore for ScyllaStore {
    async fn load_queue(&self) -> Result<Option<vkyc_domain::desk::queue::Queue>, StoreError> {
        self.text_doc(&self.inner.st.desk.get, (QUEUE,)).await
    }

    async fn save_queue(
        &self,
        queue: &vkyc_domain::desk::queue::Queue,
        events: &[vkyc_domain::DomainEvent],
    ) -> Result<(), StoreError> {
        let mut tx = Tx::new();
        tx.push(
            &self.inner.st.desk.put,
            (QUEUE, serde_json::to_string(queue).map_err(backend)?),
        );
        self.push_events(&mut tx, events)?;
        self.run(tx).await
    }
}
