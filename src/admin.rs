//! Operator subcommands: `vkyc migrate` (apply the ScyllaDB schema migrations) and
//! `vkyc erase --session ID` (the erasure path for a data subject's request).

use std::sync::Arc;

use vkyc_domain::SessionId;

use crate::config::{Config, StorageBackend};
use crate::store::{EmbeddedStore, ScyllaStore, Store};

/// Applies pending migrations to `[storage.scylla]`; returns (applied now, all recorded).
pub async fn migrate(config: &Config) -> anyhow::Result<(Vec<i32>, Vec<(i32, String, String)>)> {
    if config.storage.backend == StorageBackend::Embedded {
        anyhow::bail!("storage.backend is \"embedded\": migrations are for the scylla back end (the embedded store needs none)");
    }
    // Connect without the keyspace (it may not exist yet), migrate, then list.
    let session = crate::store::scylla::open_session(&config.storage.scylla).await?;
    let applied = crate::store::scylla::migrate::migrate(&session, &config.storage.scylla).await?;
    let all = crate::store::scylla::migrate::applied(&session).await?;
    Ok((applied, all))
}

/// `vkyc users add`'s arguments.
#[derive(Debug, clap::Args)]
pub struct NewAccount {
    #[arg(long)]
    pub email: String,
    #[arg(long)]
    pub name: String,
    /// agent, auditor, supervisor or admin (repeat for several).
    #[arg(long = "role", required = true)]
    pub roles: Vec<String>,
    /// Languages the agent serves (repeatable).
    #[arg(long = "language")]
    pub languages: Vec<String>,
    /// Products the agent serves (repeatable).
    #[arg(long = "product")]
    pub products: Vec<String>,
    /// Regions the agent serves (repeatable).
    #[arg(long = "region")]
    pub regions: Vec<String>,
    /// Free tags (repeatable).
    #[arg(long = "tag")]
    pub tags: Vec<String>,
}

/// Creates an account; returns it and the generated password, if one was generated.
pub async fn add_user(
    config: &Config,
    new: NewAccount,
) -> anyhow::Result<(vkyc_domain::desk::user::User, Option<String>)> {
    use std::io::IsTerminal;
    use vkyc_domain::desk::user::{Email, Skill, Skills, StaffRole, User, UserName};
    let set = |v: &[String]| {
        v.iter()
            .map(|s| Skill::parse(s))
            .collect::<Result<std::collections::BTreeSet<_>, _>>()
    };
    let skills = Skills {
        languages: set(&new.languages)?,
        products: set(&new.products)?,
        regions: set(&new.regions)?,
        tags: set(&new.tags)?,
    };
    let roles = new
        .roles
        .iter()
        .map(|r| r.parse::<StaffRole>())
        .collect::<Result<_, _>>()?;
    let user = User::new(
        Email::parse(&new.email)?,
        UserName::parse(&new.name)?,
        roles,
        skills,
        chrono::Utc::now(),
    )?;
    let mut line = String::new();
    if !std::io::stdin().is_terminal() {
        std::io::stdin().read_line(&mut line)?;
    }
    let typed = line.trim_end_matches(['\n', '\r']).to_string();
    let (password, generated) = if typed.is_empty() {
        let p = crate::desk::console::new_secret()[..20].to_string();
        (p.clone(), Some(p))
    } else {
        crate::desk::passwords::check_new(
            &typed,
            user.email.as_str(),
            config.console.password_min_length,
        )
        .map_err(anyhow::Error::msg)?;
        (typed, None)
    };
    let record = crate::store::UserRecord {
        user,
        password_hash: Some(crate::desk::passwords::hash(password).await),
        sso: None,
        generation: 0,
    };
    open_store(config).await?.create_user(&record).await?;
    Ok((record.user, generated))
}

/// The configured store (without applying migrations).
pub async fn open_store(config: &Config) -> anyhow::Result<Arc<dyn Store>> {
    Ok(match config.storage.backend {
        StorageBackend::Embedded => Arc::new(EmbeddedStore::open(&config.storage.data_dir)?),
        StorageBackend::Scylla => {
            Arc::new(ScyllaStore::connect(&config.storage.scylla, false).await?)
        }
    })
}

/// Erases a session's personal data: the applicant's details on the session, the KYC case,
/// the captures' metadata (store), then the captures', the self-recorded video's and the call
/// recordings' blobs (a recording's metadata stays: ids, roles, times, no personal data; its
/// media answers 404 `recording_file_missing` afterwards).
/// Returns the number of blobs deleted; `None`: no such session.
pub async fn erase(config: &Config, id: SessionId) -> anyhow::Result<Option<usize>> {
    let store = open_store(config).await?;
    let Some(session) = store.get_session(id).await? else {
        return Ok(None);
    };
    let Some(erased) = store.erase_session(id).await? else {
        return Ok(None);
    };
    let mut keys = erased.blob_keys;
    keys.extend(
        store
            .list_recordings(id)
            .await?
            .into_iter()
            .map(|r| r.blob_key),
    );
    if let Some(r) = &session.self_record {
        keys.extend((0..r.video_chunks).map(|n| crate::self_record::chunk_key(id, n)));
        // The submitted frame list is kept only while the checks run.
        if r.phase == vkyc_domain::session::SelfRecordPhase::Processing {
            keys.push(crate::self_record::frames_key(id));
        }
    }
    let blobs = crate::store::open_blobs(config)?;
    use vkyc_blob::BlobStore;
    for k in &keys {
        blobs
            .delete(k)
            .await
            .map_err(|e| anyhow::anyhow!("deleting blob {k}: {e}"))?;
    }
    // Crypto-shredding: whatever copy of the session's files remains no longer opens.
    blobs.shred(&id.simple().to_string())?;
    let key = crate::activity::chain_key(config)?;
    store
        .append_activity(
            &key,
            vkyc_domain::activity::NewActivity {
                session_id: id,
                actor: vkyc_domain::activity::Actor::system("vkyc erase"),
                action: vkyc_domain::activity::ActivityAction::Erased,
                target: Some(format!("{} blobs", keys.len())),
                from: None,
                at: chrono::Utc::now(),
            },
        )
        .await?;
    Ok(Some(keys.len()))
}

/// `vkyc activity verify`: every session's activity chain checked with the sealing key.
pub async fn verify_activity(config: &Config) -> anyhow::Result<crate::activity::Verified> {
    let store = open_store(config).await?;
    let key = crate::activity::chain_key(config)?;
    crate::activity::verify_all(store.as_ref(), &key).await
}

/// `vkyc rotate-keys`: a new key-encryption key version in the keyring, and every session's
/// data key rewrapped with it (the files are untouched). Returns (new KEK id, rewrapped).
pub fn rotate_keys(config: &Config) -> anyhow::Result<(String, usize)> {
    let id = crate::store::keys::LocalKeyring::open_or_create(&crate::store::kek_path(config))?
        .rotate()?;
    // Opened after the rotation: the new version is the keyring's current one.
    let blobs = crate::store::open_blobs(config)?;
    let n = blobs
        .session_keys()
        .expect("the server's blob store has session keys")
        .rewrap_all()
        .map_err(|e| anyhow::anyhow!("rewrapping: {e}"))?;
    Ok((id, n))
}
