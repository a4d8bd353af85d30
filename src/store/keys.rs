//! Envelope encryption of a session's files: each session has its own data key (AES-256),
//! kept only wrapped by a key-encryption key (KEK) behind the [`KeyProvider`] port, in
//! `<blob root>/keys/<session>.json`. Erasing a session destroys its data key
//! (crypto-shredding): a copy of its files made before, from a backup or a disk, no longer
//! opens. Rotating the KEK (`vkyc rotate-keys`) adds a new KEK version and rewraps every data
//! key with it; the files are untouched and stay readable.
//!
//! The port is shaped like a cloud KMS or Vault Transit (`wrap`/`unwrap` of a small key under
//! a named key version); the default [`LocalKeyring`] keeps its KEK versions in a file
//! readable by the server's user only (`storage.kek_file`, default `<data_dir>/kek.json`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use vkyc_blob::BlobError;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

fn other(e: impl std::fmt::Display) -> BlobError {
    BlobError::Backend(e.to_string())
}

/// A data key wrapped by a KEK version: what is stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WrappedKey {
    /// The KEK version that wrapped it.
    pub kek: String,
    /// Hex.
    pub nonce: String,
    /// Hex: AES-256-GCM of the data key, the session as associated data.
    pub wrapped: String,
}

/// Where key-encryption keys live: a local keyring, a cloud KMS, Vault Transit.
pub trait KeyProvider: Send + Sync + 'static {
    /// The KEK version new data keys are wrapped with.
    fn current(&self) -> String;
    /// Wraps `key` for `context` (the session) under the current KEK.
    fn wrap(&self, key: &[u8], context: &str) -> Result<WrappedKey, BlobError>;
    /// Unwraps with the KEK version the wrapped key names (old versions stay usable).
    fn unwrap_key(&self, w: &WrappedKey, context: &str) -> Result<Vec<u8>, BlobError>;
}

#[derive(Serialize, Deserialize)]
struct KeyringFile {
    keys: Vec<KeyringEntry>,
}

#[derive(Serialize, Deserialize)]
struct KeyringEntry {
    id: String,
    /// Hex, 32 bytes.
    key: String,
    created: chrono::DateTime<chrono::Utc>,
}

/// KEK versions in a local file (0600); the last is current.
pub struct LocalKeyring {
    path: PathBuf,
    keys: Vec<(String, Aes256Gcm)>,
}

impl LocalKeyring {
    /// Opens the keyring at `path`, creating it with a first KEK when there is none.
    pub fn open_or_create(path: &Path) -> std::io::Result<Self> {
        let file: KeyringFile = match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(std::io::Error::other)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let file = KeyringFile { keys: vec![] };
                let mut ring = Self::from_file(path, file)?;
                ring.rotate()?;
                return Ok(ring);
            }
            Err(e) => return Err(e),
        };
        Self::from_file(path, file)
    }

    fn from_file(path: &Path, file: KeyringFile) -> std::io::Result<Self> {
        let keys = file
            .keys
            .into_iter()
            .map(|e| {
                let key = unhex(&e.key).filter(|k| k.len() == 32).ok_or_else(|| {
                    std::io::Error::other(format!("KEK {}: not 32 hex bytes", e.id))
                })?;
                Ok((e.id, Aes256Gcm::new_from_slice(&key).expect("32 bytes")))
            })
            .collect::<std::io::Result<Vec<_>>>()?;
        Ok(Self {
            path: path.to_path_buf(),
            keys,
        })
    }

    /// Adds a new KEK version and makes it current; returns its id. The file is replaced
    /// atomically and stays readable by this user only.
    pub fn rotate(&mut self) -> std::io::Result<String> {
        let mut raw: KeyringFile = match std::fs::read(&self.path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(std::io::Error::other)?,
            Err(_) => KeyringFile { keys: vec![] },
        };
        let mut key = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut key);
        let id = format!("kek-{}", raw.keys.len() + 1);
        raw.keys.push(KeyringEntry {
            id: id.clone(),
            key: hex(&key),
            created: chrono::Utc::now(),
        });
        write_private(&self.path, &serde_json::to_vec_pretty(&raw)?)?;
        self.keys.push((
            id.clone(),
            Aes256Gcm::new_from_slice(&key).expect("32 bytes"),
        ));
        Ok(id)
    }

    fn kek(&self, id: &str) -> Result<&Aes256Gcm, BlobError> {
        self.keys
            .iter()
            .find(|(k, _)| k == id)
            .map(|(_, c)| c)
            .ok_or_else(|| other(format!("no key-encryption key {id} in the keyring")))
    }
}

/// Writes `bytes` to `path` through a synced temporary file (0600), then renames it.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension(format!("tmp{}", rand::thread_rng().next_u32()));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}

impl KeyProvider for LocalKeyring {
    fn current(&self) -> String {
        self.keys
            .last()
            .map(|(id, _)| id.clone())
            .unwrap_or_default()
    }

    fn wrap(&self, key: &[u8], context: &str) -> Result<WrappedKey, BlobError> {
        let id = self.current();
        let mut nonce = [0u8; 12];
        rand::thread_rng().fill_bytes(&mut nonce);
        let wrapped = self
            .kek(&id)?
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: key,
                    aad: context.as_bytes(),
                },
            )
            .map_err(other)?;
        Ok(WrappedKey {
            kek: id,
            nonce: hex(&nonce),
            wrapped: hex(&wrapped),
        })
    }

    fn unwrap_key(&self, w: &WrappedKey, context: &str) -> Result<Vec<u8>, BlobError> {
        let bad = || BlobError::Tampered(format!("data key of {context}"));
        let nonce = unhex(&w.nonce).filter(|n| n.len() == 12).ok_or_else(bad)?;
        let wrapped = unhex(&w.wrapped).ok_or_else(bad)?;
        self.kek(&w.kek)?
            .decrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: &wrapped,
                    aad: context.as_bytes(),
                },
            )
            .map_err(|_| bad())
    }
}

/// The sessions' data keys: created at a session's first file, cached unwrapped in memory,
/// destroyed by [`SessionKeys::shred`].
pub struct SessionKeys {
    dir: PathBuf,
    provider: Arc<dyn KeyProvider>,
    cache: Mutex<HashMap<String, Aes256Gcm>>,
}

impl SessionKeys {
    pub fn new(dir: PathBuf, provider: Arc<dyn KeyProvider>) -> Self {
        Self {
            dir,
            provider,
            cache: Mutex::default(),
        }
    }

    fn path(&self, session: &str) -> PathBuf {
        self.dir.join(format!("{session}.json"))
    }

    /// The session's cipher; a new data key when `create` and it has none. `Ok(None)`: no
    /// key (never created, or shredded).
    pub fn cipher(&self, session: &str, create: bool) -> Result<Option<Aes256Gcm>, BlobError> {
        if let Some(c) = self.cache.lock().unwrap().get(session) {
            return Ok(Some(c.clone()));
        }
        let path = self.path(session);
        let wrapped: WrappedKey = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|_| BlobError::Tampered(format!("data key of {session}")))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && create => {
                let mut key = [0u8; 32];
                rand::thread_rng().fill_bytes(&mut key);
                let w = self.provider.wrap(&key, session)?;
                std::fs::create_dir_all(&self.dir).map_err(other)?;
                // create_new: of two first writers, one key wins and the other reads it.
                match std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .open(&path)
                {
                    Ok(mut f) => {
                        use std::io::Write;
                        f.write_all(&serde_json::to_vec(&w).map_err(other)?)
                            .and_then(|_| f.sync_all())
                            .map_err(other)?;
                        w
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                        return self.cipher(session, false);
                    }
                    Err(e) => return Err(other(e)),
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(other(e)),
        };
        let key = self.provider.unwrap_key(&wrapped, session)?;
        let cipher = Aes256Gcm::new_from_slice(&key).map_err(other)?;
        let mut cache = self.cache.lock().unwrap();
        if cache.len() > 10_000 {
            cache.clear();
        }
        cache.insert(session.to_string(), cipher.clone());
        Ok(Some(cipher))
    }

    /// Destroys the session's data key; `true` when there was one.
    pub fn shred(&self, session: &str) -> Result<bool, BlobError> {
        self.cache.lock().unwrap().remove(session);
        match std::fs::remove_file(self.path(session)) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(other(e)),
        }
    }

    /// Rewraps every data key with the provider's current KEK; returns how many.
    pub fn rewrap_all(&self) -> Result<usize, BlobError> {
        let current = self.provider.current();
        let mut n = 0;
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(other(e)),
        };
        for entry in entries {
            let path = entry.map_err(other)?.path();
            let Some(session) = path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_suffix(".json"))
                .map(str::to_string)
            else {
                continue;
            };
            let w: WrappedKey = serde_json::from_slice(&std::fs::read(&path).map_err(other)?)
                .map_err(|_| BlobError::Tampered(format!("data key of {session}")))?;
            if w.kek == current {
                continue;
            }
            let key = self.provider.unwrap_key(&w, &session)?;
            let rewrapped = self.provider.wrap(&key, &session)?;
            write_private(&path, &serde_json::to_vec(&rewrapped).map_err(other)?).map_err(other)?;
            n += 1;
        }
        Ok(n)
    }
}

/// The session a blob belongs to: the second segment of its key (`captures/<session>/…`,
/// `recordings/<session>/…`, `selfrecord/<session>/…`), 32 hex digits.
pub fn session_of(key: &str) -> Option<&str> {
    let mut parts = key.split('/');
    let _kind = parts.next()?;
    let session = parts.next()?;
    parts.next()?;
    (session.len() == 32 && session.bytes().all(|b| b.is_ascii_hexdigit())).then_some(session)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::FsBlobStore;
    use vkyc_blob::BlobStore;

    const STORE_KEY: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
    const S1: &str = "0123456789abcdef0123456789abcdef";
    const S2: &str = "fedcba9876543210fedcba9876543210";

    fn store(dir: &Path) -> FsBlobStore {
        let ring = LocalKeyring::open_or_create(&dir.join("kek.json")).unwrap();
        FsBlobStore::open(dir.join("blobs"), STORE_KEY)
            .unwrap()
            .with_session_keys(Arc::new(ring))
    }

    #[tokio::test]
    async fn each_session_has_its_key_rotation_rewraps_and_shredding_destroys() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = store(dir.path());
        let (a, b) = (format!("captures/{S1}/c1"), format!("captures/{S2}/c1"));
        blobs.put(&a, b"face of one".to_vec()).await.unwrap();
        blobs.put(&b, b"face of two".to_vec()).await.unwrap();
        let mut w = blobs
            .create_stream(&format!("recordings/{S1}/r.webm"))
            .unwrap();
        w.write_at(0, b"a recording").unwrap();
        w.flush().unwrap();
        drop(w);
        let key_file = |s: &str| dir.path().join(format!("blobs/keys/{s}.json"));
        let wrapped = |s: &str| -> WrappedKey {
            serde_json::from_slice(&std::fs::read(key_file(s)).unwrap()).unwrap()
        };
        assert_eq!(wrapped(S1).kek, "kek-1");
        assert_ne!(wrapped(S1), wrapped(S2), "a key per session");
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(dir.path().join("kek.json"))
                .unwrap()
                .permissions(),
        );
        assert_eq!(mode & 0o777, 0o600);

        // Rotation: a new KEK version, every data key rewrapped, the files still read — by
        // a store opened afresh, which must unwrap with the new version.
        let mut ring = LocalKeyring::open_or_create(&dir.path().join("kek.json")).unwrap();
        assert_eq!(ring.rotate().unwrap(), "kek-2");
        let fresh = store(dir.path());
        assert_eq!(fresh.session_keys().unwrap().rewrap_all().unwrap(), 2);
        assert_eq!(wrapped(S1).kek, "kek-2");
        let reopened = store(dir.path());
        assert_eq!(reopened.get(&a).await.unwrap().unwrap(), b"face of one");
        let mut r = reopened
            .open_stream(&format!("recordings/{S1}/r.webm"))
            .unwrap()
            .unwrap();
        let mut buf = [0u8; 11];
        r.read_at(0, &mut buf).unwrap();
        assert_eq!(&buf, b"a recording");
        assert_eq!(
            reopened.session_keys().unwrap().rewrap_all().unwrap(),
            0,
            "already current"
        );

        // Crypto-shredding: session one's files no longer open, even copied; two's do.
        let copy = std::fs::read(dir.path().join("blobs").join(&a)).unwrap();
        assert!(reopened.shred(S1).unwrap());
        assert!(!key_file(S1).exists());
        let after = store(dir.path());
        assert_eq!(after.get(&a).await.unwrap(), None);
        std::fs::write(dir.path().join("blobs").join(&a), &copy).unwrap();
        assert_eq!(after.get(&a).await.unwrap(), None, "a copy made before");
        assert!(!matches!(
            after.open_stream(&format!("recordings/{S1}/r.webm")),
            Ok(Some(_))
        ));
        assert_eq!(after.get(&b).await.unwrap().unwrap(), b"face of two");
        // A keyring that is not this one cannot unwrap.
        let other = tempfile::tempdir().unwrap();
        let stranger = FsBlobStore::open(dir.path().join("blobs"), STORE_KEY)
            .unwrap()
            .with_session_keys(Arc::new(
                LocalKeyring::open_or_create(&other.path().join("kek.json")).unwrap(),
            ));
        assert!(stranger.get(&b).await.is_err());
    }

    #[test]
    fn only_session_files_name_a_session() {
        assert_eq!(session_of(&format!("captures/{S1}/c")), Some(S1));
        assert_eq!(
            session_of(&format!("selfrecord/{S1}/video/000001")),
            Some(S1)
        );
        assert_eq!(session_of(&format!("captures/{S1}")), None);
        assert_eq!(session_of("captures/not-a-session/c"), None);
    }
}
