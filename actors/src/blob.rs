//! The blob store port: captures (frames, document photos) and later recordings. Keys are
//! relative paths like `captures/<session>/<capture>`; the filesystem adapter lives in the
//! server (`src/store/blob_fs.rs`), an S3-compatible one implements the same trait.

use async_trait::async_trait;

#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    #[error("invalid blob key {0:?}")]
    InvalidKey(String),
    #[error("blob storage failure: {0}")]
    Backend(String),
    #[error("blob {0} cannot be decrypted (wrong key or tampered)")]
    Tampered(String),
}

#[async_trait]
pub trait BlobStore: Send + Sync + 'static {
    async fn put(&self, key: &str, bytes: Vec<u8>) -> Result<(), BlobError>;
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, BlobError>;
    async fn delete(&self, key: &str) -> Result<(), BlobError>;
}

/// A key is 1–8 segments of `[A-Za-z0-9_.-]`, none of them `.` or `..`.
pub fn valid_key(key: &str) -> bool {
    let segs: Vec<&str> = key.split('/').collect();
    !key.is_empty()
        && segs.len() <= 8
        && segs.iter().all(|s| {
            !s.is_empty() && *s != "." && *s != ".." && s.chars().all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
        })
}

#[cfg(test)]
mod tests {
    #[test]
    fn keys_cannot_escape() {
        assert!(super::valid_key("captures/abc/def.jpg"));
        for bad in ["", "/abs", "a//b", "../x", "a/../b", "a/./b", "a b", "a\\b"] {
            assert!(!super::valid_key(bad), "{bad}");
        }
    }
}
