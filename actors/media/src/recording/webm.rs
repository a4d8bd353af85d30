//! A live WebM (Matroska) muxer for call recordings.
//!
//! Why not the `webm` crate (libwebm): it exposes no `DateUTC`, `Title` or `Tags`, which the
//! recording must carry (the call's wall-clock start and session id), it cannot add a track
//! after the first frame (a participant who joins later), and it back-patches cluster sizes
//! with seeks all over the file. This muxer writes what a live recording needs and nothing
//! else, in a layout that is playable at every moment:
//!
//! ```text
//! EBML header
//! Segment (size "unknown" until finish)
//!   [reserved → SeekHead at finish]
//!   Info      TimestampScale=1ms, DateUTC, Title, MuxingApp, [reserved → Duration at finish]
//!   Tags      session id, recording id, call start
//!   Tracks    rewritten in place when a track is added; padded with Void
//!   Cluster*  written whole when closed (≤ 1 s, or at a video keyframe), sizes known
//!   Cues      at finish: one point per cluster that starts with / holds a video keyframe
//! ```
//!
//! Every write goes to a [`SeekSink`]: appends at the end, plus in-place rewrites of the header
//! region (Tracks when a track is added; SeekHead, Duration and the Segment size at finish).
//! If the process dies, the file written so far is a valid live WebM (unknown-size Segment,
//! no Cues), which ffmpeg and Chromium play.

use std::io;

use vkyc_blob::StreamReader;
/// Where the muxer's bytes go: appends and rewrites of already written bytes.
pub use vkyc_blob::StreamWriter as SeekSink;

mod id {
    pub const EBML: u32 = 0x1A45_DFA3;
    pub const EBML_VERSION: u32 = 0x4286;
    pub const EBML_READ_VERSION: u32 = 0x42F7;
    pub const EBML_MAX_ID_LENGTH: u32 = 0x42F2;
    pub const EBML_MAX_SIZE_LENGTH: u32 = 0x42F3;
    pub const DOC_TYPE: u32 = 0x4282;
    pub const DOC_TYPE_VERSION: u32 = 0x4287;
    pub const DOC_TYPE_READ_VERSION: u32 = 0x4285;
    pub const SEGMENT: u32 = 0x1853_8067;
    pub const SEEK_HEAD: u32 = 0x114D_9B74;
    pub const SEEK: u32 = 0x4DBB;
    pub const SEEK_ID: u32 = 0x53AB;
    pub const SEEK_POSITION: u32 = 0x53AC;
    pub const INFO: u32 = 0x1549_A966;
    pub const TIMESTAMP_SCALE: u32 = 0x2AD7B1;
    pub const DURATION: u32 = 0x4489;
    pub const DATE_UTC: u32 = 0x4461;
    pub const TITLE: u32 = 0x7BA9;
    pub const MUXING_APP: u32 = 0x4D80;
    pub const WRITING_APP: u32 = 0x5741;
    pub const TRACKS: u32 = 0x1654_AE6B;
    pub const TRACK_ENTRY: u32 = 0xAE;
    pub const TRACK_NUMBER: u32 = 0xD7;
    pub const TRACK_UID: u32 = 0x73C5;
    pub const TRACK_TYPE: u32 = 0x83;
    pub const FLAG_DEFAULT: u32 = 0x88;
    pub const FLAG_LACING: u32 = 0x9C;
    pub const NAME: u32 = 0x536E;
    pub const CODEC_ID: u32 = 0x86;
    pub const CODEC_PRIVATE: u32 = 0x63A2;
    pub const CODEC_DELAY: u32 = 0x56AA;
    pub const SEEK_PRE_ROLL: u32 = 0x56BB;
    pub const VIDEO: u32 = 0xE0;
    pub const PIXEL_WIDTH: u32 = 0xB0;
    pub const PIXEL_HEIGHT: u32 = 0xBA;
    pub const AUDIO: u32 = 0xE1;
    pub const SAMPLING_FREQUENCY: u32 = 0xB5;
    pub const CHANNELS: u32 = 0x9F;
    pub const CLUSTER: u32 = 0x1F43_B675;
    pub const TIMESTAMP: u32 = 0xE7;
    pub const SIMPLE_BLOCK: u32 = 0xA3;
    pub const CUES: u32 = 0x1C53_BB6B;
    pub const CUE_POINT: u32 = 0xBB;
    pub const CUE_TIME: u32 = 0xB3;
    pub const CUE_TRACK_POSITIONS: u32 = 0xB7;
    pub const CUE_TRACK: u32 = 0xF7;
    pub const CUE_CLUSTER_POSITION: u32 = 0xF1;
    pub const TAGS: u32 = 0x1254_C367;
    pub const TAG: u32 = 0x7373;
    pub const TARGETS: u32 = 0x63C0;
    pub const SIMPLE_TAG: u32 = 0x67C8;
    pub const TAG_NAME: u32 = 0x45A3;
    pub const TAG_STRING: u32 = 0x4487;
    pub const VOID: u32 = 0xEC;
}

/// An EBML element being built in memory.
#[derive(Default)]
struct Ebml(Vec<u8>);

impl Ebml {
    fn id(&mut self, id: u32) {
        let bytes = id.to_be_bytes();
        let skip = bytes.iter().position(|b| *b != 0).unwrap_or(3);
        self.0.extend_from_slice(&bytes[skip..]);
    }
    /// A size as the shortest EBML varint (never the reserved all-ones pattern).
    fn size(&mut self, n: u64) {
        let mut len = 1;
        while len < 8 && n >= (1u64 << (7 * len)) - 1 {
            len += 1;
        }
        self.size_fixed(n, len);
    }
    fn size_fixed(&mut self, n: u64, len: usize) {
        let v = n | (1u64 << (7 * len));
        self.0.extend_from_slice(&v.to_be_bytes()[8 - len..]);
    }
    fn uint(&mut self, id: u32, v: u64) {
        let bytes = v.to_be_bytes();
        let skip = bytes.iter().position(|b| *b != 0).unwrap_or(7);
        self.bytes(id, &bytes[skip..]);
    }
    fn int(&mut self, id: u32, v: i64) {
        self.bytes(id, &v.to_be_bytes());
    }
    fn float(&mut self, id: u32, v: f64) {
        self.bytes(id, &v.to_be_bytes());
    }
    fn string(&mut self, id: u32, s: &str) {
        self.bytes(id, s.as_bytes());
    }
    fn bytes(&mut self, id: u32, data: &[u8]) {
        self.id(id);
        self.size(data.len() as u64);
        self.0.extend_from_slice(data);
    }
    fn master(&mut self, id: u32, body: Ebml) {
        self.bytes(id, &body.0);
    }
}

/// A Void element of exactly `n` bytes (n ≥ 2).
fn void(n: usize) -> Vec<u8> {
    assert!(n >= 2, "a Void element needs at least 2 bytes");
    let mut e = Ebml::default();
    e.id(id::VOID);
    if n - 2 < 127 {
        e.size_fixed((n - 2) as u64, 1);
        e.0.resize(n, 0);
    } else {
        e.size_fixed((n - 9) as u64, 8);
        e.0.resize(n, 0);
    }
    e.0
}

/// Seconds between the Unix epoch and Matroska's (2001-01-01T00:00:00Z).
const MATROSKA_EPOCH_UNIX_SECS: i64 = 978_307_200;
const SEEK_HEAD_RESERVE: usize = 160;
const DURATION_RESERVE: usize = 11; // id (2) + size (1) + f64 (8)
const TRACKS_RESERVE: usize = 6144;
/// Start a new cluster after this long (bounds what a crash can lose and keeps block
/// timestamps well inside the cluster-relative i16).
pub const MAX_CLUSTER_MS: i64 = 1000;
const MAX_CLUSTER_BYTES: usize = 4 << 20;

/// What the recording says about itself in the container.
#[derive(Debug, Clone)]
pub struct ContainerMeta {
    pub title: String,
    /// Wall clock of media time 0, in Unix milliseconds.
    pub start_unix_ms: i64,
    pub tags: Vec<(String, String)>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum TrackCodec {
    Vp8 { width: u16, height: u16 },
    Opus { channels: u8, sample_rate: u32 },
}

#[derive(Debug, Clone)]
pub struct TrackSpec {
    pub name: String,
    pub codec: TrackCodec,
    pub default: bool,
}

struct OpenCluster {
    /// Absolute timestamp (ms) of the cluster.
    ts: i64,
    blocks: Vec<u8>,
    /// Video tracks with a keyframe in this cluster, and its time (for the cues).
    keyframe_tracks: Vec<(u64, i64)>,
}

struct CuePoint {
    ts: i64,
    track: u64,
    cluster_pos: u64,
}

/// The muxer. Timestamps are milliseconds of media time; frames of one track must come in
/// non-decreasing order, frames across tracks roughly in order (see [`WebmMuxer::write_frame`]).
pub struct WebmMuxer<S: SeekSink> {
    sink: S,
    /// End of the file: where the next append goes.
    end: u64,
    segment_size_at: u64,
    segment_data: u64,
    seek_head_at: u64,
    info_at: u64,
    duration_at: u64,
    tags_at: u64,
    tracks_at: u64,
    tracks: Vec<TrackSpec>,
    last_ts: Vec<i64>,
    cluster: Option<OpenCluster>,
    cues: Vec<CuePoint>,
    max_ts: i64,
    /// Frames whose timestamp had to be moved forward to keep the file ordered.
    pub clamped_frames: u64,
    pub frames_written: u64,
}

impl<S: SeekSink> WebmMuxer<S> {
    /// Writes the header (EBML header, Segment start, Info, Tags and an empty Tracks).
    pub fn new(mut sink: S, meta: &ContainerMeta) -> io::Result<Self> {
        let mut head = Ebml::default();
        let mut ebml = Ebml::default();
        ebml.uint(id::EBML_VERSION, 1);
        ebml.uint(id::EBML_READ_VERSION, 1);
        ebml.uint(id::EBML_MAX_ID_LENGTH, 4);
        ebml.uint(id::EBML_MAX_SIZE_LENGTH, 8);
        ebml.string(id::DOC_TYPE, "webm");
        ebml.uint(id::DOC_TYPE_VERSION, 4);
        ebml.uint(id::DOC_TYPE_READ_VERSION, 2);
        head.master(id::EBML, ebml);
        head.id(id::SEGMENT);
        let segment_size_at = head.0.len() as u64;
        head.0
            .extend_from_slice(&[0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]); // unknown
        let segment_data = head.0.len() as u64;
        let seek_head_at = segment_data;
        head.0.extend_from_slice(&void(SEEK_HEAD_RESERVE));

        let info_at = head.0.len() as u64;
        let mut info = Ebml::default();
        info.uint(id::TIMESTAMP_SCALE, 1_000_000);
        let date_ns =
            (meta.start_unix_ms - MATROSKA_EPOCH_UNIX_SECS * 1000).saturating_mul(1_000_000);
        info.int(id::DATE_UTC, date_ns);
        info.string(id::TITLE, &meta.title);
        info.string(
            id::MUXING_APP,
            concat!("vkyc-recorder ", env!("CARGO_PKG_VERSION")),
        );
        info.string(id::WRITING_APP, "vkyc");
        let duration_rel = info.0.len();
        info.0.extend_from_slice(&void(DURATION_RESERVE));
        let mut info_el = Ebml::default();
        info_el.master(id::INFO, info);
        let duration_at = info_at + header_len_of(&info_el.0) as u64 + duration_rel as u64;
        head.0.extend_from_slice(&info_el.0);

        let tags_at = head.0.len() as u64;
        let mut tag = Ebml::default();
        tag.master(id::TARGETS, Ebml::default());
        for (name, value) in &meta.tags {
            let mut simple = Ebml::default();
            simple.string(id::TAG_NAME, name);
            simple.string(id::TAG_STRING, value);
            tag.master(id::SIMPLE_TAG, simple);
        }
        let mut tags = Ebml::default();
        tags.master(id::TAG, tag);
        head.master(id::TAGS, tags);

        let tracks_at = head.0.len() as u64;
        head.0.extend_from_slice(&void(TRACKS_RESERVE));
        sink.write_at(0, &head.0)?;
        Ok(Self {
            sink,
            end: head.0.len() as u64,
            segment_size_at,
            segment_data,
            seek_head_at,
            info_at,
            duration_at,
            tags_at,
            tracks_at,
            tracks: vec![],
            last_ts: vec![],
            cluster: None,
            cues: vec![],
            max_ts: 0,
            clamped_frames: 0,
            frames_written: 0,
        })
    }

    /// Adds a track (rewriting the Tracks element in place) and returns its number (1-based).
    pub fn add_track(&mut self, spec: TrackSpec) -> io::Result<u64> {
        self.tracks.push(spec);
        self.last_ts.push(i64::MIN);
        let bytes = self.tracks_element();
        if bytes.len() + 2 > TRACKS_RESERVE {
            self.tracks.pop();
            self.last_ts.pop();
            return Err(io::Error::other(
                "too many tracks for the reserved Tracks space",
            ));
        }
        let mut region = bytes;
        region.extend_from_slice(&void(TRACKS_RESERVE - region.len()));
        self.sink.write_at(self.tracks_at, &region)?;
        Ok(self.tracks.len() as u64)
    }

    pub fn track_count(&self) -> usize {
        self.tracks.len()
    }

    fn tracks_element(&self) -> Vec<u8> {
        let mut tracks = Ebml::default();
        for (i, t) in self.tracks.iter().enumerate() {
            let number = i as u64 + 1;
            let mut e = Ebml::default();
            e.uint(id::TRACK_NUMBER, number);
            e.uint(id::TRACK_UID, number);
            e.uint(id::FLAG_LACING, 0);
            e.uint(id::FLAG_DEFAULT, u64::from(t.default));
            e.string(id::NAME, &t.name);
            match &t.codec {
                TrackCodec::Vp8 { width, height } => {
                    e.uint(id::TRACK_TYPE, 1);
                    e.string(id::CODEC_ID, "V_VP8");
                    let mut v = Ebml::default();
                    v.uint(id::PIXEL_WIDTH, u64::from(*width));
                    v.uint(id::PIXEL_HEIGHT, u64::from(*height));
                    e.master(id::VIDEO, v);
                }
                TrackCodec::Opus {
                    channels,
                    sample_rate,
                } => {
                    e.uint(id::TRACK_TYPE, 2);
                    e.string(id::CODEC_ID, "A_OPUS");
                    e.bytes(id::CODEC_PRIVATE, &opus_head(*channels, *sample_rate));
                    e.uint(id::CODEC_DELAY, 0);
                    e.uint(id::SEEK_PRE_ROLL, 80_000_000);
                    let mut a = Ebml::default();
                    a.float(id::SAMPLING_FREQUENCY, f64::from(*sample_rate));
                    a.uint(id::CHANNELS, u64::from(*channels));
                    e.master(id::AUDIO, a);
                }
            }
            tracks.master(id::TRACK_ENTRY, e);
        }
        let mut out = Ebml::default();
        out.master(id::TRACKS, tracks);
        out.0
    }

    /// Writes one frame. A frame older than its track's last one, or older than the open
    /// cluster, is moved forward to keep the file valid (counted in `clamped_frames`).
    pub fn write_frame(
        &mut self,
        track: u64,
        ts_ms: i64,
        keyframe: bool,
        data: &[u8],
    ) -> io::Result<()> {
        let idx = track
            .checked_sub(1)
            .map(|i| i as usize)
            .filter(|i| *i < self.tracks.len());
        let Some(idx) = idx else {
            return Err(io::Error::other("unknown track"));
        };
        let is_video = matches!(self.tracks[idx].codec, TrackCodec::Vp8 { .. });
        let mut ts = ts_ms.max(0);
        let needs_new = match &self.cluster {
            None => true,
            Some(c) => {
                ts - c.ts >= MAX_CLUSTER_MS
                    || c.blocks.len() > MAX_CLUSTER_BYTES
                    || (is_video && keyframe && !c.keyframe_tracks.is_empty() && ts > c.ts)
                    || (is_video && keyframe && ts - c.ts >= 200)
            }
        };
        if needs_new {
            self.close_cluster()?;
            // A cluster never starts before a frame already written.
            let start = self.max_ts.max(ts);
            self.cluster = Some(OpenCluster {
                ts: start,
                blocks: vec![],
                keyframe_tracks: vec![],
            });
        }
        let cluster = self.cluster.as_mut().expect("opened above");
        // Strictly after the track's previous frame (players reject equal timestamps).
        let floor = cluster.ts.max(self.last_ts[idx].saturating_add(1));
        if ts < floor {
            ts = floor;
            self.clamped_frames += 1;
        }
        self.last_ts[idx] = ts;
        self.max_ts = self.max_ts.max(ts);
        let rel = i16::try_from(ts - cluster.ts)
            .map_err(|_| io::Error::other("frame too far from its cluster"))?;
        let mut block = Ebml::default();
        block.size(track); // the track number as an EBML varint
        block.0.extend_from_slice(&rel.to_be_bytes());
        block
            .0
            .push(if keyframe || !is_video { 0x80 } else { 0x00 });
        block.0.extend_from_slice(data);
        let mut el = Ebml::default();
        el.bytes(id::SIMPLE_BLOCK, &block.0);
        cluster.blocks.extend_from_slice(&el.0);
        if is_video && keyframe && !cluster.keyframe_tracks.iter().any(|(t, _)| *t == track) {
            cluster.keyframe_tracks.push((track, ts));
        }
        self.frames_written += 1;
        Ok(())
    }

    fn close_cluster(&mut self) -> io::Result<()> {
        let Some(c) = self.cluster.take() else {
            return Ok(());
        };
        if c.blocks.is_empty() {
            return Ok(());
        }
        let pos = self.end - self.segment_data;
        let mut body = Ebml::default();
        body.uint(id::TIMESTAMP, c.ts as u64);
        body.0.extend_from_slice(&c.blocks);
        let mut el = Ebml::default();
        el.master(id::CLUSTER, body);
        self.sink.write_at(self.end, &el.0)?;
        self.end += el.0.len() as u64;
        let audio_only = !self
            .tracks
            .iter()
            .any(|t| matches!(t.codec, TrackCodec::Vp8 { .. }));
        if audio_only {
            self.cues.push(CuePoint {
                ts: c.ts,
                track: 1,
                cluster_pos: pos,
            });
        } else {
            for (track, ts) in c.keyframe_tracks {
                self.cues.push(CuePoint {
                    ts,
                    track,
                    cluster_pos: pos,
                });
            }
        }
        Ok(())
    }

    /// Writes out the open cluster and makes the file durable: what a crash keeps.
    pub fn flush(&mut self) -> io::Result<()> {
        self.close_cluster()?;
        self.sink.flush()
    }

    /// Media time of the last frame written, ms.
    pub fn last_timestamp(&self) -> i64 {
        self.max_ts
    }

    /// Writes the cues, the duration, the seek head and the segment size. Returns the sink and
    /// the file's length.
    pub fn finish(mut self, duration_ms: i64) -> io::Result<(S, u64)> {
        self.close_cluster()?;
        let cues_at = self.end;
        if !self.cues.is_empty() {
            let mut cues = Ebml::default();
            for cue in &self.cues {
                let mut pos = Ebml::default();
                pos.uint(id::CUE_TRACK, cue.track);
                pos.uint(id::CUE_CLUSTER_POSITION, cue.cluster_pos);
                let mut point = Ebml::default();
                point.uint(id::CUE_TIME, cue.ts as u64);
                point.master(id::CUE_TRACK_POSITIONS, pos);
                cues.master(id::CUE_POINT, point);
            }
            let mut el = Ebml::default();
            el.master(id::CUES, cues);
            self.sink.write_at(self.end, &el.0)?;
            self.end += el.0.len() as u64;
        }
        // Durable before the header points at them (SeekHead, the Segment's size): a crash in
        // between leaves a live file with its cues, never a header promising bytes that are
        // not there.
        self.sink.flush()?;
        let mut duration = Ebml::default();
        duration.float(id::DURATION, duration_ms.max(self.max_ts) as f64);
        debug_assert_eq!(duration.0.len(), DURATION_RESERVE);
        self.sink.write_at(self.duration_at, &duration.0)?;

        let mut seek_head = Ebml::default();
        let mut entries = vec![
            (id::INFO, self.info_at),
            (id::TAGS, self.tags_at),
            (id::TRACKS, self.tracks_at),
        ];
        if !self.cues.is_empty() {
            entries.push((id::CUES, cues_at));
        }
        for (element, at) in entries {
            let mut seek = Ebml::default();
            seek.bytes(id::SEEK_ID, &element.to_be_bytes());
            seek.uint(id::SEEK_POSITION, at - self.segment_data);
            seek_head.master(id::SEEK, seek);
        }
        let mut el = Ebml::default();
        el.master(id::SEEK_HEAD, seek_head);
        el.0.extend_from_slice(&void(SEEK_HEAD_RESERVE - el.0.len()));
        self.sink.write_at(self.seek_head_at, &el.0)?;

        let mut size = Ebml::default();
        size.size_fixed(self.end - self.segment_data, 8);
        self.sink.write_at(self.segment_size_at, &size.0)?;
        self.sink.flush()?;
        Ok((self.sink, self.end))
    }
}

/// An element's id and size fields read at the start of `b`: (id, size, header length);
/// the size is `None` when "unknown". `None` when `b` holds no valid header.
fn read_element_header(b: &[u8]) -> Option<(u32, Option<u64>, usize)> {
    let id_len = b.first()?.leading_zeros() as usize + 1;
    let size_first = *b.get(id_len)?;
    let size_len = size_first.leading_zeros() as usize + 1;
    if id_len > 4 || size_len > 8 || b.len() < id_len + size_len {
        return None;
    }
    let id = b[..id_len].iter().fold(0u32, |a, x| a << 8 | u32::from(*x));
    let marker = 1u64 << (7 * size_len);
    let raw = b[id_len..id_len + size_len]
        .iter()
        .fold(0u64, |a, x| a << 8 | u64::from(*x))
        ^ marker;
    let size = (raw != marker - 1).then_some(raw);
    Some((id, size, id_len + size_len))
}

/// The length of the longest prefix of a WebM file that ends on a whole element of the
/// Segment: where a recording torn by a crash is cut, so that what is kept plays and decodes
/// cleanly (a Segment of unknown size is valid live WebM; a cluster cut short is not). A file
/// that is not WebM is kept whole.
pub fn whole_elements_len(r: &mut dyn StreamReader) -> io::Result<u64> {
    let len = r.len();
    let Some((id::EBML, Some(size), data)) = element_at(r, 0)? else {
        return Ok(len);
    };
    let segment_at = data + size;
    let Some((id::SEGMENT, segment_size, mut at)) = element_at(r, segment_at)? else {
        return Ok(segment_at.min(len));
    };
    if segment_size.is_some_and(|s| at + s <= len) {
        return Ok(len); // finished: the Segment's size is known and it is all there
    }
    let mut whole = at;
    while let Some((_, Some(size), data)) = element_at(r, at)? {
        let end = data + size;
        if end > len {
            break;
        }
        (whole, at) = (end, end);
    }
    Ok(whole.min(len))
}

/// The element whose header is at `at`: (id, size, where its data starts).
fn element_at(r: &mut dyn StreamReader, at: u64) -> io::Result<Option<(u32, Option<u64>, u64)>> {
    let mut b = [0u8; 12];
    let n = r.read_at(at, &mut b)?;
    Ok(read_element_header(&b[..n]).map(|(id, size, hl)| (id, size, at + hl as u64)))
}

/// Length of an element's id and size fields.
fn header_len_of(el: &[u8]) -> usize {
    let id_len = el[0].leading_zeros() as usize + 1;
    let size_len = el[id_len].leading_zeros() as usize + 1;
    id_len + size_len
}

/// The `OpusHead` identification header that WebM carries as Opus's CodecPrivate.
fn opus_head(channels: u8, sample_rate: u32) -> Vec<u8> {
    let mut h = b"OpusHead".to_vec();
    h.push(1); // version
    h.push(channels);
    h.extend_from_slice(&0u16.to_le_bytes()); // pre-skip: none (WebRTC streams start mid-stream)
    h.extend_from_slice(&sample_rate.to_le_bytes());
    h.extend_from_slice(&0i16.to_le_bytes()); // output gain
    h.push(0); // channel mapping family 0 (mono/stereo)
    h
}

/// Reads a VP8 frame's key-frame flag and, for a key frame, its size.
pub fn vp8_keyframe_size(frame: &[u8]) -> Option<(u16, u16)> {
    if frame.len() < 10 || frame[0] & 0x01 != 0 || frame[3..6] != [0x9d, 0x01, 0x2a] {
        return None;
    }
    let w = u16::from_le_bytes([frame[6], frame[7]]) & 0x3fff;
    let h = u16::from_le_bytes([frame[8], frame[9]]) & 0x3fff;
    Some((w, h))
}

/// A key frame: the P bit clear and the key-frame start code present.
pub fn vp8_is_keyframe(frame: &[u8]) -> bool {
    vp8_keyframe_size(frame).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varint_sizes_are_shortest_and_never_all_ones() {
        let enc = |n| {
            let mut e = Ebml::default();
            e.size(n);
            e.0
        };
        assert_eq!(enc(0), vec![0x80]);
        assert_eq!(enc(126), vec![0xFE]);
        assert_eq!(enc(127), vec![0x40, 0x7F]); // 0xFF would mean "unknown"
        assert_eq!(enc(300), vec![0x41, 0x2C]);
    }

    #[test]
    fn voids_have_the_exact_length() {
        for n in [2, 11, 128, 129, 136, 160, 6144] {
            let v = void(n);
            assert_eq!(v.len(), n);
            assert_eq!(v[0], 0xEC);
        }
    }

    #[test]
    fn header_regions_keep_their_offsets_when_rewritten() {
        let meta = ContainerMeta {
            title: "t".into(),
            start_unix_ms: 1_700_000_000_000,
            tags: vec![("A".into(), "b".into())],
        };
        let mut m = WebmMuxer::new(Vec::new(), &meta).unwrap();
        let len_before = m.end;
        m.add_track(TrackSpec {
            name: "v".into(),
            codec: TrackCodec::Vp8 {
                width: 64,
                height: 48,
            },
            default: true,
        })
        .unwrap();
        m.add_track(TrackSpec {
            name: "a".into(),
            codec: TrackCodec::Opus {
                channels: 2,
                sample_rate: 48000,
            },
            default: true,
        })
        .unwrap();
        assert_eq!(
            m.end, len_before,
            "adding tracks rewrites the reserved region only"
        );
        let key = [0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, 64, 0, 48, 0];
        m.write_frame(1, 0, true, &key).unwrap();
        m.write_frame(2, 5, true, &[1, 2, 3]).unwrap();
        m.write_frame(2, 3, true, &[1, 2, 3]).unwrap(); // late: clamped
        assert_eq!(m.clamped_frames, 1);
        m.write_frame(1, 1500, false, &[1, 0, 0]).unwrap();
        let (bytes, len) = m.finish(1520).unwrap();
        assert_eq!(bytes.len() as u64, len);
        // The Duration replaced its Void inside Info.
        let d = m_find(&bytes, &[0x44, 0x89, 0x88]).expect("duration element");
        assert_eq!(
            f64::from_be_bytes(bytes[d + 3..d + 11].try_into().unwrap()),
            1520.0
        );
        assert!(
            m_find(&bytes, &[0x1C, 0x53, 0xBB, 0x6B]).is_some(),
            "cues written"
        );
    }

    /// A file in memory, read like a blob stream.
    struct Mem(Vec<u8>);

    impl StreamReader for Mem {
        fn len(&self) -> u64 {
            self.0.len() as u64
        }
        fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
            let from = (offset as usize).min(self.0.len());
            let n = buf.len().min(self.0.len() - from);
            buf[..n].copy_from_slice(&self.0[from..from + n]);
            Ok(n)
        }
    }

    #[test]
    fn a_torn_file_is_cut_after_its_last_whole_cluster_wherever_it_was_torn() {
        let meta = ContainerMeta {
            title: "t".into(),
            start_unix_ms: 1_700_000_000_000,
            tags: vec![],
        };
        let mut m = WebmMuxer::new(Vec::new(), &meta).unwrap();
        m.add_track(TrackSpec {
            name: "v".into(),
            codec: TrackCodec::Vp8 {
                width: 64,
                height: 48,
            },
            default: true,
        })
        .unwrap();
        m.add_track(TrackSpec {
            name: "a".into(),
            codec: TrackCodec::Opus {
                channels: 2,
                sample_rate: 48000,
            },
            default: true,
        })
        .unwrap();
        let key = [0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, 64, 0, 48, 0];
        // Where whole clusters end: after the header, and after each flush.
        let mut boundaries = vec![m.end];
        for i in 0..40i64 {
            if i % 10 == 0 {
                m.write_frame(1, i * 100, true, &key).unwrap();
            } else {
                m.write_frame(1, i * 100, false, &[(i as u8) << 1; 300])
                    .unwrap();
            }
            m.write_frame(2, i * 100 + 5, true, &[i as u8; 80]).unwrap();
            if i % 2 == 1 {
                m.flush().unwrap();
                boundaries.push(m.end);
            }
        }
        m.flush().unwrap();
        boundaries.push(m.end);
        let live = m.sink.clone();
        assert_eq!(
            whole_elements_len(&mut Mem(live.clone())).unwrap(),
            live.len() as u64,
            "a whole live file is kept"
        );
        for cut in boundaries[0]..=live.len() as u64 {
            let expected = boundaries
                .iter()
                .copied()
                .filter(|b| *b <= cut)
                .max()
                .unwrap();
            let got = whole_elements_len(&mut Mem(live[..cut as usize].to_vec())).unwrap();
            assert_eq!(got, expected, "torn at {cut}");
        }
        // A finished file is kept whole; torn while its cues were written, it is cut before them.
        let cues_at = m.end;
        let (done, len) = m.finish(4000).unwrap();
        assert_eq!(whole_elements_len(&mut Mem(done.clone())).unwrap(), len);
        assert_eq!(
            whole_elements_len(&mut Mem(done[..len as usize - 1].to_vec())).unwrap(),
            cues_at
        );
        // Not WebM: kept as it is.
        assert_eq!(whole_elements_len(&mut Mem(vec![0u8; 100])).unwrap(), 100);
    }

    fn m_find(hay: &[u8], needle: &[u8]) -> Option<usize> {
        hay.windows(needle.len()).position(|w| w == needle)
    }

    #[test]
    fn vp8_keyframes_are_recognised() {
        let key = [0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0xe0, 0x01];
        assert_eq!(vp8_keyframe_size(&key), Some((640, 480)));
        assert!(vp8_is_keyframe(&key));
        let inter = [0x31, 0x02, 0x00, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(vp8_keyframe_size(&inter), None);
        assert!(!vp8_is_keyframe(&inter));
    }
}
