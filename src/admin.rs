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
    let data_dir = &config.storage.data_dir;
    let blob_key =
        crate::auth::secret_or_generate(config.storage.blob_key.expose(), data_dir, "blob.key")?;
    let blob_dir = if config.storage.blob_dir.is_empty() {
        data_dir.join("blobs")
    } else {
        config.storage.blob_dir.clone().into()
    };
    let blobs = crate::store::FsBlobStore::open(blob_dir, &blob_key)
        .map_err(|e| anyhow::anyhow!("blob store: {e}"))?;
    use vkyc_blob::BlobStore;
    for k in &keys {
        blobs
            .delete(k)
            .await
            .map_err(|e| anyhow::anyhow!("deleting blob {k}: {e}"))?;
    }
    Ok(Some(keys.len()))
}
