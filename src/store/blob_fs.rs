//! The filesystem blob store, encrypted at rest: each blob is `nonce (12 bytes) ‖
//! AES-256-GCM(ciphertext + tag)` under a key from config (`storage.blob_key`, or generated
//! on first start into `<data_dir>/blob.key`). The blob key (its path) is the associated
//! data, so a file moved to another name does not decrypt. Writes go to a temporary file
//! that is synced and renamed.

use std::path::PathBuf;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use async_trait::async_trait;
use rand::RngCore;
use vkyc_blob::{valid_key, BlobError, BlobStore, StreamReader, StreamWriter};

use super::blob_stream::{repair, ChunkReader, ChunkWriter};

#[derive(Clone)]
pub struct FsBlobStore {
    root: PathBuf,
    cipher: Aes256Gcm,
    /// First 8 bytes of SHA-256(key), hex: names the key without revealing it.
    key_id: String,
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
        })
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
        let sealed = self
            .cipher
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
        if data.len() < 12 + 16 {
            return Err(BlobError::Tampered(key.to_string()));
        }
        let (nonce, sealed) = data.split_at(12);
        self.cipher
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
        let w = ChunkWriter::create(&self.path(key)?, self.cipher.clone(), key, &self.key_id)
            .map_err(io)?;
        Ok(Box::new(w))
    }

    fn open_stream(&self, key: &str) -> Result<Option<Box<dyn StreamReader>>, BlobError> {
        match ChunkReader::open(&self.path(key)?, self.cipher.clone(), key) {
            Ok(r) => Ok(r.map(|r| Box::new(r) as Box<dyn StreamReader>)),
            Err(e) if e.kind() == std::io::ErrorKind::InvalidData => {
                Err(BlobError::Tampered(key.to_string()))
            }
            Err(e) => Err(io(e)),
        }
    }

    fn repair_stream(&self, key: &str) -> Result<Option<u64>, BlobError> {
        repair(&self.path(key)?, &self.cipher, key).map_err(io)
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
