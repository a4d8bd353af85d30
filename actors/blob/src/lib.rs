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

    /// Destroys the data key of a session's files (crypto-shredding): whatever copy of them
    /// remains no longer opens. `Ok(false)`: the session had no key of its own.
    fn shred(&self, _session: &str) -> Result<bool, BlobError> {
        Ok(false)
    }

    /// A blob written while it is produced (a call recording): appends, and rewrites of bytes
    /// already written. Each `flush` makes what was written so far durable. Blocking I/O: call
    /// from a blocking-tolerant context (the recorder's own task).
    fn create_stream(&self, key: &str) -> Result<Box<dyn StreamWriter>, BlobError> {
        Err(BlobError::Backend(format!(
            "this blob store cannot stream {key}"
        )))
    }
    /// Random access to a streamed blob (for range requests); `None` if there is none.
    fn open_stream(&self, key: &str) -> Result<Option<Box<dyn StreamReader>>, BlobError> {
        Err(BlobError::Backend(format!(
            "this blob store cannot stream {key}"
        )))
    }
    /// After a crash: drops a torn last chunk so the rest reads; returns the plaintext length.
    fn repair_stream(&self, key: &str) -> Result<Option<u64>, BlobError> {
        Err(BlobError::Backend(format!(
            "this blob store cannot stream {key}"
        )))
    }
    /// Identifies the encryption key the store writes with (stored with each recording).
    fn key_id(&self) -> String {
        "none".into()
    }
}

/// Writing side of a streamed blob (see [`BlobStore::create_stream`]).
pub trait StreamWriter: Send {
    fn write_at(&mut self, offset: u64, data: &[u8]) -> std::io::Result<()>;
    fn flush(&mut self) -> std::io::Result<()>;
}

/// Reading side of a streamed blob.
pub trait StreamReader: Send {
    /// Plaintext length.
    fn len(&self) -> u64;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Fills `buf` from `offset` (short only at the end); `Ok(0)` past the end.
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> std::io::Result<usize>;
}

impl StreamWriter for Vec<u8> {
    fn write_at(&mut self, offset: u64, data: &[u8]) -> std::io::Result<()> {
        let end = offset as usize + data.len();
        if self.len() < end {
            self.resize(end, 0);
        }
        self[offset as usize..end].copy_from_slice(data);
        Ok(())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl StreamWriter for Box<dyn StreamWriter> {
    fn write_at(&mut self, offset: u64, data: &[u8]) -> std::io::Result<()> {
        (**self).write_at(offset, data)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        (**self).flush()
    }
}

/// A key is 1–8 segments of `[A-Za-z0-9_.-]`, none of them `.` or `..`.
pub fn valid_key(key: &str) -> bool {
    let segs: Vec<&str> = key.split('/').collect();
    !key.is_empty()
        && segs.len() <= 8
        && segs.iter().all(|s| {
            !s.is_empty()
                && *s != "."
                && *s != ".."
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
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

/// AES-256-GCM sealing of one chunk of a streamed blob (used by the filesystem store's chunk
/// format). It lives in this crate because generic crypto code is compiled where it is
/// called, and this crate is optimised even in debug builds: sealing a call's recording in
/// unoptimised code cost more CPU than the rest of the recorder.
pub mod chunk_crypto {
    use std::io;

    use aes_gcm::aead::{Aead, Payload};
    use aes_gcm::{Aes256Gcm, Nonce};
    use rand::RngCore;

    /// Bytes a sealed chunk adds: nonce (12) and tag (16).
    pub const OVERHEAD: usize = 12 + 16;

    /// Where a chunk stands, sealed into its associated data (the STREAM construction): a
    /// file cut after a whole chunk lacks its final chunk, one reordered has chunks at the
    /// wrong index, and both fail to authenticate. `Legacy`: the first format, without the
    /// flag, still read.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Position {
        Middle,
        Final,
        Legacy,
    }

    fn aad(key: &str, index: u64, pos: Position) -> Vec<u8> {
        let mut a = key.as_bytes().to_vec();
        a.extend_from_slice(&index.to_be_bytes());
        match pos {
            Position::Middle => a.push(0),
            Position::Final => a.push(1),
            Position::Legacy => {}
        }
        a
    }

    pub fn seal(
        cipher: &Aes256Gcm,
        key: &str,
        index: u64,
        pos: Position,
        plain: &[u8],
    ) -> io::Result<Vec<u8>> {
        let mut nonce = [0u8; 12];
        rand::thread_rng().fill_bytes(&mut nonce);
        let sealed = cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plain,
                    aad: &aad(key, index, pos),
                },
            )
            .map_err(|e| io::Error::other(e.to_string()))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    pub fn open_record(
        cipher: &Aes256Gcm,
        key: &str,
        index: u64,
        pos: Position,
        record: &[u8],
    ) -> io::Result<Vec<u8>> {
        if record.len() < OVERHEAD {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "short record"));
        }
        let (nonce, sealed) = record.split_at(12);
        cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: sealed,
                    aad: &aad(key, index, pos),
                },
            )
            .map_err(|_| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("chunk {index} of {key} does not authenticate"),
                )
            })
    }
}
