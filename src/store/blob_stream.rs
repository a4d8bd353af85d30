//! Streamed blobs (call recordings) on the filesystem, encrypted at rest in fixed-size chunks.
//!
//! File layout:
//!
//! ```text
//! header (64 bytes): "VKYCSTR2" ‖ chunk size (u32 LE) ‖ key id (16 ASCII bytes) ‖ zeros
//! record 0:  nonce (12) ‖ AES-256-GCM(chunk 0) ‖ tag (16)     at 64 + 0·(C+28)
//! record 1:  …                                               at 64 + 1·(C+28)
//! …          the last record holds the last, possibly short, chunk
//! ```
//!
//! Each chunk is sealed with a fresh nonce and `blob key ‖ chunk index ‖ final flag` as
//! associated data (the STREAM construction): chunks cannot be swapped or moved to another
//! file, and only the last chunk carries the final flag, so a file cut after a whole chunk
//! (its new last chunk is not final) or grown by a chunk from elsewhere does not open
//! ([`ChunkReader::open`] checks the last chunk first). Files of the first format
//! (`VKYCSTR1`, no flag) are still read. Random access (HTTP range requests) decrypts only
//! the chunks it needs. The writer keeps the first chunk (the WebM header, which is
//! rewritten when tracks are added and at the end) and the growing last chunk in memory and
//! rewrites their records on `flush`, the last one final; a full chunk is sealed for good,
//! not final, once data goes past it, and chunk 0 goes to disk before any later chunk (so
//! the header on disk always describes what follows it). What a crash leaves is a prefix of
//! the stream, of which only the record being written can be torn, and whose last record
//! may not be final: [`repair`] drops a last record that no longer authenticates, seals the
//! last one final, then cuts the recording after its last whole WebM element (a cluster half
//! written when the process died does not decode).

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;

use aes_gcm::Aes256Gcm;
use vkyc_blob::{StreamReader, StreamWriter};

const MAGIC: &[u8; 8] = b"VKYCSTR2";
/// The first format: no final flag.
const MAGIC_V1: &[u8; 8] = b"VKYCSTR1";
pub const HEADER: u64 = 64;
pub const CHUNK: usize = 64 * 1024;

fn record_at(index: u64, chunk: usize) -> u64 {
    HEADER + index * (chunk + OVERHEAD) as u64
}

use vkyc_blob::chunk_crypto::{open_record, seal, Position, OVERHEAD};

/// Opens a record that may be either final or not (the last one during a repair), or, in a
/// first-format file, has no flag.
fn open_any(
    cipher: &Aes256Gcm,
    key: &str,
    index: u64,
    flagged: bool,
    record: &[u8],
) -> io::Result<(Vec<u8>, Position)> {
    if !flagged {
        return open_record(cipher, key, index, Position::Legacy, record)
            .map(|p| (p, Position::Legacy));
    }
    open_record(cipher, key, index, Position::Final, record)
        .map(|p| (p, Position::Final))
        .or_else(|_| {
            open_record(cipher, key, index, Position::Middle, record).map(|p| (p, Position::Middle))
        })
}

pub struct ChunkWriter {
    file: File,
    cipher: Aes256Gcm,
    key: String,
    /// Chunk 0's plaintext (rewritten often: the WebM header lives there).
    first: Vec<u8>,
    first_dirty: bool,
    /// Chunk 0 is on disk sealed final (nothing after it yet).
    first_final: bool,
    /// The growing last chunk (index ≥ 1).
    tail_index: u64,
    tail: Vec<u8>,
    tail_dirty: bool,
}

impl ChunkWriter {
    pub fn create(path: &Path, cipher: Aes256Gcm, key: &str, key_id: &str) -> io::Result<Self> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(path)?;
        let mut header = [0u8; HEADER as usize];
        header[..8].copy_from_slice(MAGIC);
        header[8..12].copy_from_slice(&(CHUNK as u32).to_le_bytes());
        let id = key_id.as_bytes();
        header[12..12 + id.len().min(16)].copy_from_slice(&id[..id.len().min(16)]);
        file.write_all_at(&header, 0)?;
        Ok(Self {
            file,
            cipher,
            key: key.to_string(),
            first: vec![],
            first_dirty: true,
            first_final: false,
            tail_index: 1,
            tail: vec![],
            tail_dirty: false,
        })
    }

    fn write_record(&self, index: u64, pos: Position, plain: &[u8]) -> io::Result<()> {
        let record = seal(&self.cipher, &self.key, index, pos, plain)?;
        self.file.write_all_at(&record, record_at(index, CHUNK))
    }

    /// Writes chunk 0 if it changed since it was last written; full-size once anything is
    /// past it (`past_first`).
    fn write_first(&mut self, past_first: bool) -> io::Result<()> {
        if self.first_dirty || (past_first && self.first_final) {
            let mut first = self.first.clone();
            let pos = if past_first {
                first.resize(CHUNK, 0);
                Position::Middle
            } else {
                Position::Final
            };
            self.write_record(0, pos, &first)?;
            self.first_dirty = false;
            self.first_final = !past_first;
        }
        Ok(())
    }

    /// Plaintext of a chunk that is neither the first nor the tail (a rare rewrite).
    fn read_chunk(&self, index: u64) -> io::Result<Vec<u8>> {
        let mut record = vec![0u8; CHUNK + OVERHEAD];
        let n = read_full_at(&self.file, &mut record, record_at(index, CHUNK))?;
        record.truncate(n);
        open_record(&self.cipher, &self.key, index, Position::Middle, &record)
    }
}

fn read_full_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    let mut done = 0;
    while done < buf.len() {
        match file.read_at(&mut buf[done..], offset + done as u64)? {
            0 => break,
            n => done += n,
        }
    }
    Ok(done)
}

impl StreamWriter for ChunkWriter {
    fn write_at(&mut self, offset: u64, data: &[u8]) -> io::Result<()> {
        let mut pos = offset;
        let mut rest = data;
        while !rest.is_empty() {
            let index = pos / CHUNK as u64;
            let within = (pos % CHUNK as u64) as usize;
            let n = rest.len().min(CHUNK - within);
            let (piece, next) = rest.split_at(n);
            if index == 0 {
                patch(&mut self.first, within, piece);
                self.first_dirty = true;
            } else if index == self.tail_index {
                patch(&mut self.tail, within, piece);
                self.tail_dirty = true;
            } else if index > self.tail_index {
                // The tail is complete: seal it for good and start the next chunk. The header
                // goes first: a crash must not leave clusters of a track it does not list yet.
                self.write_first(true)?;
                if !self.tail.is_empty() || self.tail_dirty {
                    let mut full = std::mem::take(&mut self.tail);
                    full.resize(CHUNK, 0);
                    self.write_record(self.tail_index, Position::Middle, &full)?;
                }
                for gap in self.tail_index + 1..index {
                    self.write_record(gap, Position::Middle, &vec![0u8; CHUNK])?;
                }
                self.tail_index = index;
                self.tail.clear();
                patch(&mut self.tail, within, piece);
                self.tail_dirty = true;
            } else {
                let mut chunk = self.read_chunk(index)?;
                patch(&mut chunk, within, piece);
                self.write_record(index, Position::Middle, &chunk)?;
            }
            pos += n as u64;
            rest = next;
        }
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.write_first(self.tail_index > 1 || !self.tail.is_empty())?;
        if self.tail_dirty {
            self.write_record(self.tail_index, Position::Final, &self.tail)?;
            // A shorter record than before leaves stale bytes: cut the file at this record.
            let end = record_at(self.tail_index, CHUNK) + (self.tail.len() + OVERHEAD) as u64;
            self.file.set_len(end)?;
            self.tail_dirty = false;
        }
        self.file.sync_data()
    }
}

fn patch(buf: &mut Vec<u8>, at: usize, data: &[u8]) {
    if buf.len() < at + data.len() {
        buf.resize(at + data.len(), 0);
    }
    buf[at..at + data.len()].copy_from_slice(data);
}

pub struct ChunkReader {
    file: File,
    cipher: Aes256Gcm,
    key: String,
    len: u64,
    /// The second format: chunks carry the final flag.
    flagged: bool,
    /// The index of the last record.
    last: u64,
    cached: Option<(u64, Vec<u8>)>,
}

impl ChunkReader {
    pub fn open(path: &Path, cipher: Aes256Gcm, key: &str) -> io::Result<Option<Self>> {
        let file = match File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let flagged = stream_format(&file)?;
        let size = file.metadata()?.len();
        let len = plain_len(size);
        let last = records(size).saturating_sub(1);
        let mut reader = Self {
            file,
            cipher,
            key: key.to_string(),
            len,
            flagged,
            last,
            cached: None,
        };
        // The final chunk first: a file cut after a whole chunk, or grown, is refused here.
        if flagged {
            if size <= HEADER {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "the stream has no final chunk (cut)",
                ));
            }
            reader.chunk(last).map_err(|_| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    "the stream's last chunk is not its final chunk (cut, grown or damaged)",
                )
            })?;
        }
        Ok(Some(reader))
    }

    fn chunk(&mut self, index: u64) -> io::Result<&[u8]> {
        if self.cached.as_ref().is_none_or(|(i, _)| *i != index) {
            let mut record = vec![0u8; CHUNK + OVERHEAD];
            let n = read_full_at(&self.file, &mut record, record_at(index, CHUNK))?;
            record.truncate(n);
            let pos = match (self.flagged, index == self.last) {
                (false, _) => Position::Legacy,
                (true, true) => Position::Final,
                (true, false) => Position::Middle,
            };
            let plain = open_record(&self.cipher, &self.key, index, pos, &record)?;
            self.cached = Some((index, plain));
        }
        Ok(&self.cached.as_ref().expect("filled").1)
    }
}

/// Whether a stream file is of the second (flagged) format; an error if it is no stream.
fn stream_format(file: &File) -> io::Result<bool> {
    let mut header = [0u8; HEADER as usize];
    if read_full_at(file, &mut header, 0)? < HEADER as usize {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "not a vkyc stream",
        ));
    }
    match &header[..8] {
        m if m == MAGIC => Ok(true),
        m if m == MAGIC_V1 => Ok(false),
        _ => Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "not a vkyc stream",
        )),
    }
}

/// How many records a stream file of `size` bytes holds (the last may be short).
fn records(size: u64) -> u64 {
    size.saturating_sub(HEADER)
        .div_ceil((CHUNK + OVERHEAD) as u64)
}

/// Plaintext length of a stream file of `size` bytes.
fn plain_len(size: u64) -> u64 {
    if size <= HEADER {
        return 0;
    }
    let body = size - HEADER;
    let rec = (CHUNK + OVERHEAD) as u64;
    let full = body / rec;
    let last = body % rec;
    full * CHUNK as u64 + last.saturating_sub(OVERHEAD as u64)
}

impl StreamReader for ChunkReader {
    fn len(&self) -> u64 {
        self.len
    }

    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        let mut done = 0;
        while done < buf.len() && offset + (done as u64) < self.len {
            let pos = offset + done as u64;
            let index = pos / CHUNK as u64;
            let within = (pos % CHUNK as u64) as usize;
            let chunk = self.chunk(index)?;
            if within >= chunk.len() {
                break;
            }
            let n = (chunk.len() - within).min(buf.len() - done);
            buf[done..done + n].copy_from_slice(&chunk[within..within + n]);
            done += n;
        }
        Ok(done)
    }
}

/// After a crash: drops a torn last record (one the crash cut while it was being written),
/// then cuts the recording after its last whole WebM element, so what is kept decodes
/// cleanly. Returns the plaintext length that remains.
pub fn repair(path: &Path, cipher: &Aes256Gcm, key: &str) -> io::Result<Option<u64>> {
    let file = match OpenOptions::new().read(true).write(true).open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let flagged = stream_format(&file)?;
    let size = file.metadata()?.len();
    if size > HEADER {
        let last = records(size) - 1;
        let start = record_at(last, CHUNK);
        let mut record = vec![0u8; (size - start) as usize];
        read_full_at(&file, &mut record, start)?;
        if open_any(cipher, key, last, flagged, &record).is_err() {
            file.set_len(start)?;
        }
    }
    // What remains ends with a final chunk (an empty chunk 0 if nothing does).
    seal_last_final(&file, cipher, key, flagged)?;
    file.sync_data()?;
    let Some(mut reader) = ChunkReader::open(path, cipher.clone(), key)? else {
        return Ok(None);
    };
    let len = reader.len();
    let keep = vkyc_media::recording::webm::whole_elements_len(&mut reader)?;
    if keep < len {
        cut(&file, cipher, key, flagged, keep)?;
    }
    Ok(Some(keep))
}

/// Re-seals the file's last record as final (a flagged file), or writes an empty final
/// chunk 0 into a file that has no record.
fn seal_last_final(file: &File, cipher: &Aes256Gcm, key: &str, flagged: bool) -> io::Result<()> {
    if !flagged {
        return Ok(());
    }
    let size = file.metadata()?.len();
    if size <= HEADER {
        file.set_len(HEADER)?;
        return file.write_all_at(&seal(cipher, key, 0, Position::Final, &[])?, HEADER);
    }
    let last = records(size) - 1;
    let at = record_at(last, CHUNK);
    let mut record = vec![0u8; (size - at) as usize];
    read_full_at(file, &mut record, at)?;
    let (plain, pos) = open_any(cipher, key, last, true, &record)?;
    if pos != Position::Final {
        file.write_all_at(&seal(cipher, key, last, Position::Final, &plain)?, at)?;
    }
    Ok(())
}

/// Shortens a stream file to `len` bytes of plaintext (re-sealing its new last chunk, final).
fn cut(file: &File, cipher: &Aes256Gcm, key: &str, flagged: bool, len: u64) -> io::Result<()> {
    let index = len / CHUNK as u64;
    let keep = (len % CHUNK as u64) as usize;
    let at = record_at(index, CHUNK);
    if keep > 0 {
        let mut record = vec![0u8; CHUNK + OVERHEAD];
        let n = read_full_at(file, &mut record, at)?;
        record.truncate(n);
        let (mut plain, _) = open_any(cipher, key, index, flagged, &record)?;
        plain.truncate(keep);
        let pos = if flagged {
            Position::Final
        } else {
            Position::Legacy
        };
        // Cut first: a crash before the shorter record is written loses this chunk, never
        // leaves stale bytes after it.
        file.set_len(at)?;
        file.write_all_at(&seal(cipher, key, index, pos, &plain)?, at)?;
    } else {
        file.set_len(at)?;
        seal_last_final(file, cipher, key, flagged)?;
    }
    file.sync_data()
}

#[cfg(test)]
mod tests {
    use super::*;
    use aes_gcm::KeyInit;

    fn cipher() -> Aes256Gcm {
        Aes256Gcm::new_from_slice(&[7u8; 32]).unwrap()
    }

    #[test]
    fn appends_rewrites_and_random_reads_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r/x.webm");
        let key = "recordings/s/x.webm";
        let mut w = ChunkWriter::create(&path, cipher(), key, "k1").unwrap();
        let mut model = Vec::new();
        let data: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
        // Appends in uneven pieces, with flushes between, and header rewrites.
        let mut at = 0;
        for (i, size) in [100usize, 70_000, 5, 131_072, 98_823].iter().enumerate() {
            w.write_at(at, &data[at as usize..at as usize + size])
                .unwrap();
            model
                .write_at(at, &data[at as usize..at as usize + size])
                .unwrap();
            at += *size as u64;
            if i % 2 == 0 {
                w.flush().unwrap();
            }
            w.write_at(10, b"HEADER").unwrap();
            model.write_at(10, b"HEADER").unwrap();
        }
        w.write_at(70_000, b"middle").unwrap(); // a sealed chunk, rewritten
        model.write_at(70_000, b"middle").unwrap();
        w.flush().unwrap();
        let raw = std::fs::read(&path).unwrap();
        assert!(!raw.windows(6).any(|x| x == b"HEADER"), "plaintext on disk");
        let mut r = ChunkReader::open(&path, cipher(), key).unwrap().unwrap();
        assert_eq!(r.len(), model.len() as u64);
        let mut all = vec![0u8; model.len()];
        assert_eq!(r.read_at(0, &mut all).unwrap(), model.len());
        assert_eq!(all, model);
        let mut part = vec![0u8; 1000];
        assert_eq!(r.read_at(65_000, &mut part).unwrap(), 1000);
        assert_eq!(part, model[65_000..66_000]);
        assert_eq!(r.read_at(model.len() as u64 - 10, &mut part).unwrap(), 10);
        // Under another name the chunks do not authenticate (the last one, checked at open).
        assert!(ChunkReader::open(&path, cipher(), "recordings/s/y.webm").is_err());
    }

    /// The STREAM property: a stream cut after a whole chunk, or with two chunks swapped, or
    /// grown by a copy of its last chunk, does not open; the untouched stream does.
    #[test]
    fn a_cut_reordered_or_grown_stream_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r/x.webm");
        let key = "recordings/s/x.webm";
        let mut w = ChunkWriter::create(&path, cipher(), key, "k1").unwrap();
        let data: Vec<u8> = (0..(3 * CHUNK + 500) as u32)
            .map(|i| (i % 253) as u8)
            .collect();
        w.write_at(0, &data).unwrap();
        w.flush().unwrap();
        let raw = std::fs::read(&path).unwrap();
        let rec = CHUNK + OVERHEAD;
        let opens = |bytes: &[u8]| {
            let p = dir.path().join("probe");
            std::fs::write(&p, bytes).unwrap();
            ChunkReader::open(&p, cipher(), key).map(|r| r.is_some())
        };
        assert!(opens(&raw).unwrap(), "the stream as written");
        let whole = HEADER as usize + 3 * rec;
        assert!(opens(&raw[..whole]).is_err(), "cut after chunk 2");
        assert!(
            opens(&raw[..HEADER as usize + rec]).is_err(),
            "cut after chunk 0"
        );
        assert!(opens(&raw[..HEADER as usize]).is_err(), "cut to the header");
        let mut swapped = raw.clone();
        let (a, b) = (HEADER as usize + rec, HEADER as usize + 2 * rec);
        let one = raw[a..a + rec].to_vec();
        swapped[a..a + rec].copy_from_slice(&raw[b..b + rec]);
        swapped[b..b + rec].copy_from_slice(&one);
        std::fs::write(dir.path().join("probe"), &swapped).unwrap();
        let mut r = ChunkReader::open(&dir.path().join("probe"), cipher(), key)
            .unwrap()
            .unwrap();
        let mut buf = vec![0u8; CHUNK];
        assert!(
            r.read_at(CHUNK as u64, &mut buf).is_err(),
            "chunks 1 and 2 swapped"
        );
        let mut grown = raw.clone();
        grown.extend_from_slice(&raw[whole..]);
        assert!(opens(&grown).is_err(), "the last chunk copied after itself");
    }

    #[test]
    fn the_header_chunk_reaches_the_disk_before_any_chunk_after_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x");
        let mut w = ChunkWriter::create(&path, cipher(), "k", "id").unwrap();
        w.write_at(0, b"old header").unwrap();
        w.write_at(10, &vec![1u8; CHUNK]).unwrap();
        w.flush().unwrap();
        // A track is added (the header changes), then media fills two more chunks; the
        // process dies before the next flush.
        w.write_at(0, b"new header").unwrap();
        w.write_at(CHUNK as u64 + 10, &vec![2u8; 2 * CHUNK])
            .unwrap();
        drop(w);
        // What the crash left ends in a chunk not sealed final: repair's first step seals it.
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .unwrap();
        assert!(
            ChunkReader::open(&path, cipher(), "k").is_err(),
            "no final chunk"
        );
        seal_last_final(&file, &cipher(), "k", true).unwrap();
        let mut r = ChunkReader::open(&path, cipher(), "k").unwrap().unwrap();
        assert_eq!(r.len(), 3 * CHUNK as u64, "chunks 0 to 2 are on disk");
        let mut head = [0u8; 10];
        r.read_at(0, &mut head).unwrap();
        assert_eq!(
            &head, b"new header",
            "the header on disk describes what follows it"
        );
    }

    /// Writes to the stream file and keeps the bytes as written, for comparison.
    struct Tee(ChunkWriter, std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl StreamWriter for Tee {
        fn write_at(&mut self, offset: u64, data: &[u8]) -> io::Result<()> {
            self.1.lock().unwrap().write_at(offset, data)?;
            self.0.write_at(offset, data)
        }
        fn flush(&mut self) -> io::Result<()> {
            self.0.flush()
        }
    }

    #[test]
    fn a_recording_torn_by_a_crash_is_cut_after_its_last_whole_element() {
        use vkyc_media::recording::webm::{
            whole_elements_len, ContainerMeta, TrackCodec, TrackSpec, WebmMuxer,
        };
        let meta = ContainerMeta {
            title: "t".into(),
            start_unix_ms: 1_700_000_000_000,
            tags: vec![],
        };
        let video = TrackSpec {
            name: "v".into(),
            codec: TrackCodec::Vp8 {
                width: 64,
                height: 48,
            },
            default: true,
        };
        let audio = TrackSpec {
            name: "a".into(),
            codec: TrackCodec::Opus {
                channels: 2,
                sample_rate: 48000,
            },
            default: true,
        };
        let key_frame = [0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, 64, 0, 48, 0];
        for crash_after in [40, 95, 150, 333] {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("r.webm");
            let written = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
            let sink = Tee(
                ChunkWriter::create(&path, cipher(), "k", "id").unwrap(),
                written.clone(),
            );
            let mut m = WebmMuxer::new(sink, &meta).unwrap();
            m.add_track(video.clone()).unwrap();
            let mut flushed = 0;
            for i in 0..crash_after {
                if i == 60 {
                    m.add_track(audio.clone()).unwrap(); // a participant who joins later
                }
                let ts = i as i64 * 33;
                if i % 30 == 0 {
                    m.write_frame(1, ts, true, &[&key_frame[..], &[7u8; 2990][..]].concat())
                        .unwrap();
                } else {
                    m.write_frame(1, ts, false, &[(i as u8) | 1; 3000]).unwrap();
                }
                if i >= 60 {
                    m.write_frame(2, ts + 5, true, &[i as u8; 120]).unwrap();
                }
                if i % 33 == 32 {
                    m.flush().unwrap();
                    flushed = written.lock().unwrap().len();
                }
            }
            drop(m); // the process dies: no flush, no finish
            let kept = repair(&path, &cipher(), "k").unwrap().unwrap();
            let mut r = ChunkReader::open(&path, cipher(), "k").unwrap().unwrap();
            assert_eq!(r.len(), kept);
            let mut disk = vec![0u8; kept as usize];
            assert_eq!(r.read_at(0, &mut disk).unwrap(), kept as usize);
            let written = written.lock().unwrap();
            assert!(
                kept as usize >= flushed,
                "{crash_after}: what was flushed is kept ({kept} < {flushed})"
            );
            assert!(
                disk[..] == written[..kept as usize],
                "{crash_after}: the recording as written, header included"
            );
            assert_eq!(
                whole_elements_len(&mut r).unwrap(),
                kept,
                "{crash_after}: it ends on a whole element"
            );
        }
    }

    #[test]
    fn a_torn_last_record_is_dropped_by_repair() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x");
        let mut w = ChunkWriter::create(&path, cipher(), "k", "id").unwrap();
        w.write_at(0, &vec![1u8; CHUNK + 5000]).unwrap();
        w.flush().unwrap();
        drop(w);
        // Simulate a crash in the middle of rewriting the tail record.
        let f = OpenOptions::new().write(true).open(&path).unwrap();
        f.write_all_at(&[0xAB; 100], record_at(1, CHUNK) + 20)
            .unwrap();
        assert_eq!(repair(&path, &cipher(), "k").unwrap(), Some(CHUNK as u64));
        let mut r = ChunkReader::open(&path, cipher(), "k").unwrap().unwrap();
        let mut buf = vec![0u8; CHUNK];
        assert_eq!(r.read_at(0, &mut buf).unwrap(), CHUNK);
        assert!(buf.iter().all(|b| *b == 1));
    }
}

/// Property tests of the chunk format (README: Fuzzing): any sequence of writes and flushes
/// reads back as written, and any damage to a stream's records — a byte changed, the file
/// cut anywhere, records swapped or appended — is an error when it is read, never a panic
/// or other bytes.
#[cfg(test)]
mod fuzz {
    use super::*;
    use crate::fuzz_support::{cases, config};
    use aes_gcm::KeyInit;
    use proptest::prelude::*;

    fn cipher() -> Aes256Gcm {
        Aes256Gcm::new_from_slice(&[9u8; 32]).unwrap()
    }

    #[derive(Debug, Clone)]
    enum Op {
        /// Bytes at an offset within (or just past) what was written.
        Write(u32, Vec<u8>),
        /// Appended past the end (a gap of zeros when the offset is beyond it).
        Append(u32, usize),
        Flush,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            3 => (any::<u32>(), prop::collection::vec(any::<u8>(), 1..300)).prop_map(|(o, b)| Op::Write(o, b)),
            3 => (0u32..3000, 1usize..(CHUNK + 5000)).prop_map(|(g, n)| Op::Append(g, n)),
            2 => Just(Op::Flush),
        ]
    }

    fn read_all(path: &Path, key: &str) -> io::Result<Vec<u8>> {
        let mut r =
            ChunkReader::open(path, cipher(), key)?.ok_or_else(|| io::Error::other("gone"))?;
        let mut out = vec![0u8; r.len() as usize];
        let n = r.read_at(0, &mut out)?;
        out.truncate(n);
        Ok(out)
    }

    /// A stream written by `ops` (then flushed) and the bytes it holds.
    fn written(dir: &Path, ops: &[Op]) -> (std::path::PathBuf, Vec<u8>) {
        let path = dir.join("s");
        let mut w = ChunkWriter::create(&path, cipher(), "k", "id").unwrap();
        let mut model: Vec<u8> = vec![];
        for op in ops {
            match op {
                Op::Write(o, b) => {
                    let at = if model.is_empty() {
                        0
                    } else {
                        *o as usize % (model.len() + 1)
                    };
                    w.write_at(at as u64, b).unwrap();
                    patch(&mut model, at, b);
                }
                Op::Append(gap, n) => {
                    let at = model.len() + *gap as usize;
                    let b: Vec<u8> = (0..*n).map(|i| (i % 251) as u8 ^ 0x5a).collect();
                    w.write_at(at as u64, &b).unwrap();
                    patch(&mut model, at, &b);
                }
                Op::Flush => w.flush().unwrap(),
            }
        }
        w.flush().unwrap();
        (path, model)
    }

    proptest! {
        #![proptest_config(config(cases() / 10))]

        /// Slow-ish (files of up to a few hundred KiB): `VKYC_FUZZ_CASES / 10` cases.
        #[test]
        fn fuzz_chunk_stream_round_trips(ops in prop::collection::vec(op(), 0..12)) {
            let dir = tempfile::tempdir().unwrap();
            let (path, model) = written(dir.path(), &ops);
            prop_assert_eq!(read_all(&path, "k").unwrap(), model);
        }

        #[test]
        fn fuzz_chunk_stream_damage_is_an_error(
            ops in prop::collection::vec(op(), 1..8),
            damage in 0u8..4,
            at in any::<prop::sample::Index>(),
            other in any::<prop::sample::Index>(),
            flip in 1u8..=255,
        ) {
            let dir = tempfile::tempdir().unwrap();
            let (path, model) = written(dir.path(), &ops);
            let raw = std::fs::read(&path).unwrap();
            let body = raw.len() - HEADER as usize;
            prop_assume!(body > 0);
            let rec = CHUNK + OVERHEAD;
            let mut bad = raw.clone();
            match damage {
                // A byte of a record changed.
                0 => bad[HEADER as usize + at.index(body)] ^= flip,
                // Cut anywhere inside the records (not nothing).
                1 => bad.truncate(HEADER as usize + at.index(body)),
                // Two different records swapped.
                2 => {
                    let n = body.div_ceil(rec);
                    prop_assume!(n >= 2);
                    let (i, j) = (at.index(n), other.index(n));
                    prop_assume!(i != j);
                    let span = |k: usize| {
                        let s = HEADER as usize + k * rec;
                        s..(s + rec).min(raw.len())
                    };
                    let (a, b) = (raw[span(i)].to_vec(), raw[span(j)].to_vec());
                    prop_assume!(a.len() == rec && b.len() == rec);
                    bad[span(i)].copy_from_slice(&b);
                    bad[span(j)].copy_from_slice(&a);
                }
                // Bytes appended: a copy of a record, or of some of the file.
                _ => {
                    let s = HEADER as usize + at.index(body);
                    let tail = raw[s..].to_vec();
                    bad.extend_from_slice(&tail);
                }
            }
            std::fs::write(&path, &bad).unwrap();
            let got = read_all(&path, "k");
            prop_assert!(got.is_err(), "damage {} read back {} bytes (had {})", damage, got.map(|g| g.len()).unwrap_or(0), model.len());
        }

        #[test]
        fn fuzz_chunk_reader_any_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..2000), magic in any::<bool>()) {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("s");
            let mut file = bytes;
            if magic && file.len() >= 8 {
                file[..8].copy_from_slice(MAGIC);
            }
            std::fs::write(&path, &file).unwrap();
            let _ = read_all(&path, "k");
            let _ = repair(&path, &cipher(), "k");
        }
    }
}
