//! Accounts at start: the demo accounts of a dev or test profile (`console.seed_users`), and
//! the first-admin link when there is no account yet.

use chrono::{Duration, Utc};
use vkyc_domain::desk::user::User;

use super::auth_api::SETUP_GRANT;
use super::console::key_of;
use crate::config::Config;
use crate::store::{Grant, Store, StoreError, UserRecord};

/// Creates the seeded accounts whose email is free.
pub async fn seed_users(store: &dyn Store, config: &Config) -> Result<usize, StoreError> {
    let mut created = 0;
    for seed in &config.console.seed_users {
        if store.user_by_email(&seed.email).await?.is_some() {
            continue;
        }
        let user = User::new(
            seed.email.clone(),
            seed.name.clone(),
            seed.roles.clone(),
            seed.skills.clone(),
            Utc::now(),
        )
        .map_err(|e| StoreError::Conflict("invalid_seed_user", e.to_string()))?;
        let hash = super::passwords::hash(seed.password.expose().to_string()).await;
        store
            .create_user(&UserRecord {
                user,
                password_hash: Some(hash),
                sso: None,
                generation: 0,
            })
            .await?;
        created += 1;
    }
    Ok(created)
}

/// With no account yet, a new one-time secret for the first-admin link (`/setup#token=…`);
/// `None` once an account exists.
pub async fn setup_secret(
    store: &dyn Store,
    config: &Config,
) -> Result<Option<String>, StoreError> {
    if store.has_users().await? {
        return Ok(None);
    }
    let secret = super::console::new_secret();
    let grant = Grant {
        expires_at: Utc::now() + Duration::seconds(config.console.setup_link_ttl_secs as i64),
        data: serde_json::Value::Null,
    };
    store
        .put_grant(SETUP_GRANT, &key_of(&secret), &grant)
        .await?;
    Ok(Some(secret))
}
