//! The filesystem blob store, encrypted at rest. A session's file (`captures/<session>/…`,
//! `recordings/<session>/…`, `selfrecord/<session>/…`) is sealed with the session's own data
//! key ([`super::keys`]: envelope encryption, crypto-shredding at erasure): `"VKB2" ‖ nonce
//! (12 bytes) ‖ AES-256-GCM(ciphertext + tag)`; a streamed one names `session-key` in its
//! header. Other files, and those written before data keys, use the store key from config
//! (`storage.blob_key`, or generated on first start into `<data_dir>/blob.key`): `nonce ‖
//! AES-256-GCM(…)`. The blob key (its path) is the associated data, so a file moved to
//! another name does not decrypt. Writes go to a temporary file that is synced and renamed.

use std::path::PathBuf;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use async_trait::async_trait;
use rand::RngCore;
use vkyc_blob::{valid_key, BlobError, BlobStore, StreamReader, StreamWriter};

use super::blob_stream::{repair, ChunkReader, ChunkWriter};
use super::keys::{session_of, KeyProvider, SessionKeys};

/// The start of a file sealed with its session's data key.
const SESSION_SEALED: &[u8; 4] = b"VKB2";
/// The key id a streamed file sealed with its session's data key names in its header.
const SESSION_KEY_ID: &str = "session-key";

#[derive(Clone)]
pub struct FsBlobStore {
    root: PathBuf,
    cipher: Aes256Gcm,
    /// First 8 bytes of SHA-256(key), hex: names the key without revealing it.
    key_id: String,
    /// The sessions' data keys; `None`: every file under the store key.
    keys: Option<std::sync::Arc<SessionKeys>>,
}

/// The server's blob store from config: `storage.blob_dir` (default `<data_dir>/blobs`), the
/// store key (`storage.blob_key`) and the sessions' data keys wrapped by the local keyring
/// (`storage.kek_file`, default `<data_dir>/kek.json`).
pub fn open_from_config(config: &crate::config::Config) -> anyhow::Result<FsBlobStore> {
    let data_dir = &config.storage.data_dir;
    let blob_key =
        crate::auth::secret_or_generate(config.storage.blob_key.expose(), data_dir, "blob.key")?;
    let blob_dir = if config.storage.blob_dir.is_empty() {
        data_dir.join("blobs")
    } else {
        config.storage.blob_dir.clone().into()
    };
    let kek_file = kek_path(config);
    let keyring = super::keys::LocalKeyring::open_or_create(&kek_file)
        .map_err(|e| anyhow::anyhow!("storage.kek_file ({}): {e}", kek_file.display()))?;
    Ok(FsBlobStore::open(blob_dir, &blob_key)
        .map_err(|e| anyhow::anyhow!("storage.blob_key / blob_dir: {e}"))?
        .with_session_keys(std::sync::Arc::new(keyring)))
}

/// The keyring of key-encryption keys: `storage.kek_file`, default `<data_dir>/kek.json`.
pub fn kek_path(config: &crate::config::Config) -> std::path::PathBuf {
    if config.storage.kek_file.is_empty() {
        config.storage.data_dir.join("kek.json")
    } else {
        config.storage.kek_file.clone().into()
    }
}

impl FsBlobStore {
    /// `key_hex`: 64 hex characters (32 bytes).
    pub fn open(root: PathBuf, key_hex: &str) -> Result<Self, String> {
        let key = (0..key_hex.len())
            .step_by(2)
            .map(|i| {
                key_hex
                    .get(i..i + 2)
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
            })
            .collect::<Option<Vec<u8>>>()
            .filter(|k| k.len() == 32)
            .ok_or("storage.blob_key must be 64 hex characters (32 bytes)")?;
        std::fs::create_dir_all(&root)
            .map_err(|e| format!("cannot create {}: {e}", root.display()))?;
        let cipher = Aes256Gcm::new_from_slice(&key).map_err(|e| e.to_string())?;
        let digest = <sha2::Sha256 as sha2::Digest>::digest(&key);
        let key_id = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
        Ok(Self {
            root,
            cipher,
            key_id,
            keys: None,
        })
    }

    /// Seals each session's files with its own data key, wrapped by `provider`'s KEK; the
    /// wrapped keys live in `<root>/keys/`.
    pub fn with_session_keys(mut self, provider: std::sync::Arc<dyn KeyProvider>) -> Self {
        self.keys = Some(std::sync::Arc::new(SessionKeys::new(
            self.root.join("keys"),
            provider,
        )));
        self
    }

    /// The session data keys, for rotation.
    pub fn session_keys(&self) -> Option<&SessionKeys> {
        self.keys.as_deref()
    }

    /// The cipher of the session `key` belongs to (a new data key when `create`); `Ok(None)`
    /// for a file that is no session's, or when data keys are off.
    fn session_cipher(
        &self,
        key: &str,
        create: bool,
    ) -> Result<Option<Option<Aes256Gcm>>, BlobError> {
        match (&self.keys, session_of(key)) {
            (Some(keys), Some(session)) => keys.cipher(session, create).map(Some),
            _ => Ok(None),
        }
    }

    /// The cipher of a stream file, by the key id in its header: `Ok(None)` when it is
    /// sealed with a session key that was shredded.
    fn stream_cipher(&self, key: &str) -> Result<Option<Aes256Gcm>, BlobError> {
        let mut header = [0u8; 64];
        let n = match std::fs::File::open(self.path(key)?) {
            Ok(f) => {
                use std::os::unix::fs::FileExt;
                f.read_at(&mut header, 0).map_err(io)?
            }
            Err(_) => 0,
        };
        let named = n >= 28 && header[12..28].starts_with(SESSION_KEY_ID.as_bytes());
        if named {
            return match self.session_cipher(key, false)? {
                // `None` inside: shredded.
                Some(c) => Ok(c),
                None => Err(BlobError::Tampered(key.to_string())),
            };
        }
        Ok(Some(self.cipher.clone()))
    }

    fn path(&self, key: &str) -> Result<PathBuf, BlobError> {
        if !valid_key(key) {
            return Err(BlobError::InvalidKey(key.to_string()));
        }
        Ok(self.root.join(key))
    }
}

fn io(e: std::io::Error) -> BlobError {
    BlobError::Backend(e.to_string())
}

#[async_trait]
impl BlobStore for FsBlobStore {
    async fn put(&self, key: &str, bytes: Vec<u8>) -> Result<(), BlobError> {
        let path = self.path(key)?;
        let mut nonce = [0u8; 12];
        rand::thread_rng().fill_bytes(&mut nonce);
        let (cipher, prefix): (Aes256Gcm, &[u8]) = match self.session_cipher(key, true)? {
            Some(Some(c)) => (c, SESSION_SEALED),
            _ => (self.cipher.clone(), b""),
        };
        let sealed = cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: &bytes,
                    aad: key.as_bytes(),
                },
            )
            .map_err(|e| BlobError::Backend(e.to_string()))?;
        tokio::task::spawn_blocking(move || {
            use std::io::Write;
            let dir = path.parent().expect("keys have a parent");
            std::fs::create_dir_all(dir).map_err(io)?;
            let tmp = path.with_extension(format!("tmp{}", rand::thread_rng().next_u32()));
            let mut f = std::fs::File::create(&tmp).map_err(io)?;
            f.write_all(prefix).map_err(io)?;
            f.write_all(&nonce).map_err(io)?;
            f.write_all(&sealed).map_err(io)?;
            f.sync_all().map_err(io)?;
            std::fs::rename(&tmp, &path).map_err(io)
        })
        .await
        .map_err(|e| BlobError::Backend(e.to_string()))?
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, BlobError> {
        let path = self.path(key)?;
        let data = match tokio::fs::read(&path).await {
            Ok(d) => d,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io(e)),
        };
        let (cipher, data) = match data.strip_prefix(SESSION_SEALED) {
            Some(rest) => match self.session_cipher(key, false)? {
                Some(Some(c)) => (c, rest),
                // Its session's data key was destroyed (crypto-shredded): gone.
                Some(None) => return Ok(None),
                None => return Err(BlobError::Tampered(key.to_string())),
            },
            None => (self.cipher.clone(), &data[..]),
        };
        if data.len() < 12 + 16 {
            return Err(BlobError::Tampered(key.to_string()));
        }
        let (nonce, sealed) = data.split_at(12);
        cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: sealed,
                    aad: key.as_bytes(),
                },
            )
            .map(Some)
            .map_err(|_| BlobError::Tampered(key.to_string()))
    }

    async fn delete(&self, key: &str) -> Result<(), BlobError> {
        match tokio::fs::remove_file(self.path(key)?).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io(e)),
        }
    }

    fn create_stream(&self, key: &str) -> Result<Box<dyn StreamWriter>, BlobError> {
        let (cipher, key_id) = match self.session_cipher(key, true)? {
            Some(Some(c)) => (c, SESSION_KEY_ID),
            _ => (self.cipher.clone(), self.key_id.as_str()),
        };
        let w = ChunkWriter::create(&self.path(key)?, cipher, key, key_id).map_err(io)?;
        Ok(Box::new(w))
    }

    fn open_stream(&self, key: &str) -> Result<Option<Box<dyn StreamReader>>, BlobError> {
        let cipher = match self.stream_cipher(key) {
            Ok(Some(c)) => c,
            Ok(None) => return Ok(None),
            Err(e) => return Err(e),
        };
        match ChunkReader::open(&self.path(key)?, cipher, key) {
            Ok(r) => Ok(r.map(|r| Box::new(r) as Box<dyn StreamReader>)),
            Err(e) if e.kind() == std::io::ErrorKind::InvalidData => {
                Err(BlobError::Tampered(key.to_string()))
            }
            Err(e) => Err(io(e)),
        }
    }

    fn repair_stream(&self, key: &str) -> Result<Option<u64>, BlobError> {
        let Some(cipher) = self.stream_cipher(key)? else {
            return Ok(None);
        };
        repair(&self.path(key)?, &cipher, key).map_err(io)
    }

    fn shred(&self, session: &str) -> Result<bool, BlobError> {
        match &self.keys {
            Some(keys) => keys.shred(session),
            None => Ok(false),
        }
    }

    fn key_id(&self) -> String {
        self.key_id.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

    #[tokio::test]
    async fn round_trip_encrypted_at_rest_and_tamper_evident() {
        let dir = tempfile::tempdir().unwrap();
        let store = FsBlobStore::open(dir.path().to_path_buf(), KEY).unwrap();
        let secret = b"a face capture, personal data".to_vec();
        store.put("captures/s1/c1", secret.clone()).await.unwrap();
        assert_eq!(store.get("captures/s1/c1").await.unwrap().unwrap(), secret);
        let on_disk = std::fs::read(dir.path().join("captures/s1/c1")).unwrap();
        assert!(
            !on_disk.windows(9).any(|w| w == b"personal "),
            "plaintext on disk"
        );
        // Moved to another key: the associated data no longer matches.
        std::fs::create_dir_all(dir.path().join("captures/s2")).unwrap();
        std::fs::copy(
            dir.path().join("captures/s1/c1"),
            dir.path().join("captures/s2/c1"),
        )
        .unwrap();
        assert!(matches!(
            store.get("captures/s2/c1").await,
            Err(BlobError::Tampered(_))
        ));
        // Another key cannot read it.
        let other = FsBlobStore::open(dir.path().to_path_buf(), &KEY.replace("00", "ff")).unwrap();
        assert!(matches!(
            other.get("captures/s1/c1").await,
            Err(BlobError::Tampered(_))
        ));
        assert!(store.get("captures/s1/none").await.unwrap().is_none());
        assert!(matches!(
            store.put("../escape", vec![1]).await,
            Err(BlobError::InvalidKey(_))
        ));
        store.delete("captures/s1/c1").await.unwrap();
        assert!(store.get("captures/s1/c1").await.unwrap().is_none());
    }

    #[test]
    fn a_bad_key_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        assert!(FsBlobStore::open(dir.path().to_path_buf(), "abc").is_err());
    }
}
