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
/// Latest accepted frame time (ms; later ones are moved back to it): far past any recording,
/// and far enough from `i64::MAX` that a track's next time (`last + 1`) never saturates.
pub(crate) const MAX_TS_MS: i64 = i64::MAX / 2;

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
    /// cluster, is moved forward to keep the file valid (counted in `clamped_frames`); times
    /// before 0 or after `MAX_TS_MS` are taken as those.
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
        let mut ts = ts_ms.clamp(0, MAX_TS_MS);
        // Where the frame will go at the earliest: strictly after its track's previous one.
        let earliest = ts.max(self.last_ts[idx].saturating_add(1));
        let needs_new = match &self.cluster {
            None => true,
            Some(c) => {
                earliest - c.ts >= MAX_CLUSTER_MS
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
        let mut entries = vec![(id::INFO, self.info_at), (id::TAGS, self.tags_at)];
        // Without a track the Tracks region is still all Void: no Tracks element to point at.
        if !self.tracks.is_empty() {
            entries.push((id::TRACKS, self.tracks_at));
        }
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

    fn opus(name: &str) -> TrackSpec {
        TrackSpec {
            name: name.into(),
            codec: TrackCodec::Opus {
                channels: 2,
                sample_rate: 48_000,
            },
            default: true,
        }
    }

    fn empty_meta() -> ContainerMeta {
        ContainerMeta {
            title: "t".into(),
            start_unix_ms: 0,
            tags: vec![],
        }
    }

    /// Found while writing the muxer's fuzz target (whose bursts stay shorter, for speed): a
    /// stuck clock (more than `i16::MAX` frames of one track at the same time) pushed the
    /// clamped times past what a block can say relative to its cluster, and `write_frame`
    /// failed ("frame too far from its cluster"), failing the recording.
    #[test]
    fn a_stuck_clock_keeps_writing() {
        let mut m = WebmMuxer::new(Vec::new(), &empty_meta()).unwrap();
        m.add_track(opus("a")).unwrap();
        for i in 0..40_000u32 {
            m.write_frame(1, 5, true, &[1, 2, 3])
                .unwrap_or_else(|e| panic!("frame {i}: {e}"));
        }
        let (bytes, _) = m.finish(0).unwrap();
        let parsed = super::fuzz::check_webm(&bytes, super::fuzz::Shape::Finished).unwrap();
        assert_eq!(parsed.blocks.len(), 40_000);
        assert_eq!(parsed.blocks.last().unwrap().ts, 5 + 39_999);
    }

    /// Found by fuzz_webm_muxer_output_is_well_formed: a recording finished without a track
    /// had a seek entry for Tracks pointing at the Void that reserves its place.
    #[test]
    fn a_file_without_tracks_seeks_to_no_tracks() {
        let (bytes, _) = WebmMuxer::new(Vec::new(), &empty_meta())
            .unwrap()
            .finish(0)
            .unwrap();
        super::fuzz::check_webm(&bytes, super::fuzz::Shape::Finished).unwrap();
    }

    /// Found by fuzz_webm_torn_files_are_cut_on_whole_elements: two frames of a track at
    /// `i64::MAX` (a wild sender report maps there) got the same time.
    #[test]
    fn frames_at_the_end_of_time_stay_in_order() {
        let mut m = WebmMuxer::new(Vec::new(), &empty_meta()).unwrap();
        m.add_track(opus("a")).unwrap();
        for _ in 0..3 {
            m.write_frame(1, i64::MAX, true, &[1]).unwrap();
        }
        let (bytes, _) = m.finish(0).unwrap();
        let parsed = super::fuzz::check_webm(&bytes, super::fuzz::Shape::Finished).unwrap();
        let ts: Vec<i64> = parsed.blocks.iter().map(|b| b.ts).collect();
        assert_eq!(ts, vec![MAX_TS_MS, MAX_TS_MS + 1, MAX_TS_MS + 2]);
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

/// Property tests of the muxer and of the torn-file cut (README: Fuzzing), and a reader of
/// what the muxer writes that checks its structure (used by the timeline's tests too).
#[cfg(test)]
pub(crate) mod fuzz {
    use super::*;
    use crate::fuzz_support::{cases, config};
    use proptest::prelude::*;
    use std::collections::HashMap;

    /// A file in memory, read like a blob stream.
    pub(crate) struct Mem(pub Vec<u8>);

    impl StreamReader for Mem {
        fn len(&self) -> u64 {
            self.0.len() as u64
        }
        fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
            let from = usize::try_from(offset)
                .unwrap_or(usize::MAX)
                .min(self.0.len());
            let n = buf.len().min(self.0.len() - from);
            buf[..n].copy_from_slice(&self.0[from..from + n]);
            Ok(n)
        }
    }

    /// One SimpleBlock, at its absolute time.
    #[derive(Debug, Clone, PartialEq)]
    pub(crate) struct Block {
        pub track: u64,
        pub ts: i64,
        pub keyframe: bool,
        pub data: Vec<u8>,
    }

    /// What a file holds, as read back.
    #[derive(Debug, Default)]
    pub(crate) struct Parsed {
        /// Track number → is it video.
        pub tracks: HashMap<u64, bool>,
        pub cluster_ts: Vec<i64>,
        pub blocks: Vec<Block>,
        pub duration: Option<f64>,
    }

    /// How much of a file is there.
    #[derive(Debug, Clone, Copy, PartialEq)]
    pub(crate) enum Shape {
        /// `finish`ed: the Segment's size is known and covers the rest of the file, with
        /// cues, duration and seek head.
        Finished,
        /// Being written (or cut by [`whole_elements_len`]): whole elements up to the end.
        Live,
    }

    /// (id, size, where the data starts) of the element at `at`; `None` size = unknown.
    fn header(b: &[u8], at: usize) -> Result<(u32, Option<u64>, usize), String> {
        let (id, size, len) = read_element_header(b.get(at..).unwrap_or_default())
            .ok_or_else(|| format!("no element header at {at}"))?;
        Ok((id, size, at + len))
    }

    /// The children of a master element's data `b[from..to]`: (id, data start, data end,
    /// element start). They must tile it exactly, each with a known size.
    fn children(
        b: &[u8],
        from: usize,
        to: usize,
    ) -> Result<Vec<(u32, usize, usize, usize)>, String> {
        let mut out = vec![];
        let mut at = from;
        while at < to {
            let (id, size, data) = header(&b[..to], at)?;
            let size = size.ok_or_else(|| format!("element {id:#x} at {at}: unknown size"))?;
            let end = usize::try_from(size)
                .ok()
                .and_then(|s| data.checked_add(s))
                .filter(|e| *e <= to)
                .ok_or_else(|| {
                    format!("element {id:#x} at {at} overruns its parent ({size} bytes)")
                })?;
            out.push((id, data, end, at));
            at = end;
        }
        Ok(out)
    }

    fn uint(d: &[u8]) -> Result<u64, String> {
        if d.len() > 8 {
            return Err(format!("a {}-byte unsigned integer", d.len()));
        }
        Ok(d.iter().fold(0u64, |a, x| a << 8 | u64::from(*x)))
    }

    /// Reads a file the muxer wrote and checks what it promises: EBML header and Segment;
    /// every element whole and inside its parent; tracks numbered 1..n; clusters in time
    /// order, each block of a known track at or after its cluster's time, each track's blocks
    /// strictly increasing; and, finished, a Segment size that is the rest of the file, a
    /// duration no shorter than the last block, cues that point at clusters holding the
    /// keyframe they name, and a seek head that points at the elements it names.
    pub(crate) fn check_webm(b: &[u8], shape: Shape) -> Result<Parsed, String> {
        let mut p = Parsed::default();
        let (ebml_id, ebml_size, ebml_data) = header(b, 0)?;
        if ebml_id != id::EBML {
            return Err("not an EBML file".into());
        }
        let ebml_end = ebml_data + ebml_size.ok_or("EBML header of unknown size")? as usize;
        if ebml_end > b.len() {
            return Err("EBML header cut".into());
        }
        let doc = children(b, ebml_data, ebml_end)?;
        if !doc
            .iter()
            .any(|(i, d, e, _)| *i == id::DOC_TYPE && &b[*d..*e] == b"webm")
        {
            return Err("DocType is not webm".into());
        }
        if shape == Shape::Live && ebml_end == b.len() {
            return Ok(p); // cut right after the EBML header
        }
        let (seg_id, seg_size, seg_data) = header(b, ebml_end)?;
        if seg_id != id::SEGMENT {
            return Err("no Segment after the EBML header".into());
        }
        match (shape, seg_size) {
            (Shape::Finished, Some(s)) if s == (b.len() - seg_data) as u64 => {}
            (Shape::Finished, s) => {
                return Err(format!(
                    "finished Segment size {s:?}, {} bytes follow",
                    b.len() - seg_data
                ))
            }
            (Shape::Live, _) => {}
        }
        let top = children(b, seg_data, b.len())?;
        let mut last_ts: HashMap<u64, i64> = HashMap::new();
        // Position (from the Segment's data) → the cluster's time and its blocks.
        let mut clusters_at: HashMap<u64, (i64, std::ops::Range<usize>)> = HashMap::new();
        let mut cues = vec![];
        let mut seeks = vec![];
        for (el, data, end, start) in &top {
            let (el, data, end, start) = (*el, *data, *end, *start);
            match el {
                id::VOID | id::TAGS => {}
                id::INFO => {
                    for (c, d, e, _) in children(b, data, end)? {
                        match c {
                            id::TIMESTAMP_SCALE if uint(&b[d..e])? != 1_000_000 => {
                                return Err("TimestampScale is not 1 ms".into())
                            }
                            id::DURATION => {
                                let raw: [u8; 8] =
                                    b[d..e].try_into().map_err(|_| "Duration is not an f64")?;
                                p.duration = Some(f64::from_be_bytes(raw));
                            }
                            _ => {}
                        }
                    }
                }
                id::TRACKS => {
                    for (c, d, e, _) in children(b, data, end)? {
                        if c != id::TRACK_ENTRY {
                            return Err(format!("{c:#x} in Tracks"));
                        }
                        let entry = children(b, d, e)?;
                        let field = |want: u32| {
                            entry
                                .iter()
                                .find(|(i, ..)| *i == want)
                                .map(|(_, d, e, _)| uint(&b[*d..*e]))
                                .transpose()
                        };
                        let number = field(id::TRACK_NUMBER)?.ok_or("a track without a number")?;
                        let kind = field(id::TRACK_TYPE)?.ok_or("a track without a type")?;
                        p.tracks.insert(number, kind == 1);
                    }
                    let n = p.tracks.len() as u64;
                    if (1..=n).any(|t| !p.tracks.contains_key(&t)) {
                        return Err(format!("tracks are not numbered 1..{n}: {:?}", p.tracks));
                    }
                }
                id::CLUSTER => {
                    let kids = children(b, data, end)?;
                    let Some((id::TIMESTAMP, d, e, _)) = kids.first().copied() else {
                        return Err(format!(
                            "a cluster at {start} does not start with its Timestamp"
                        ));
                    };
                    let cts = uint(&b[d..e])? as i64;
                    if p.cluster_ts.last().is_some_and(|prev| cts < *prev) {
                        return Err(format!(
                            "cluster time {cts} after {:?}",
                            p.cluster_ts.last()
                        ));
                    }
                    p.cluster_ts.push(cts);
                    let first = p.blocks.len();
                    for (c, d, e, _) in &kids[1..] {
                        if *c != id::SIMPLE_BLOCK {
                            return Err(format!("{c:#x} in a cluster"));
                        }
                        let blk = &b[*d..*e];
                        let tl = blk.first().map_or(9, |x| x.leading_zeros() as usize + 1);
                        if tl > 8 || blk.len() < tl + 3 {
                            return Err("a short SimpleBlock".into());
                        }
                        let track = uint(&blk[..tl])? ^ (1u64 << (7 * tl));
                        let rel = i16::from_be_bytes([blk[tl], blk[tl + 1]]);
                        if rel < 0 {
                            return Err(format!("a block {rel} ms before its cluster"));
                        }
                        let Some(video) = p.tracks.get(&track).copied() else {
                            return Err(format!("a block of unknown track {track}"));
                        };
                        let keyframe = blk[tl + 2] & 0x80 != 0;
                        if !video && !keyframe {
                            return Err("an audio block not marked a keyframe".into());
                        }
                        let ts = cts + i64::from(rel);
                        if let Some(prev) = last_ts.insert(track, ts) {
                            if ts <= prev {
                                return Err(format!("track {track}: block at {ts} after {prev}"));
                            }
                        }
                        p.blocks.push(Block {
                            track,
                            ts,
                            keyframe,
                            data: blk[tl + 3..].to_vec(),
                        });
                    }
                    if p.blocks.len() == first {
                        return Err(format!("an empty cluster at {start}"));
                    }
                    clusters_at.insert((start - seg_data) as u64, (cts, first..p.blocks.len()));
                }
                id::CUES => {
                    for (c, d, e, _) in children(b, data, end)? {
                        let point = children(b, d, e)?;
                        if c != id::CUE_POINT {
                            return Err(format!("{c:#x} in Cues"));
                        }
                        let time = point
                            .iter()
                            .find(|(i, ..)| *i == id::CUE_TIME)
                            .ok_or("a cue without a time")?;
                        let time = uint(&b[time.1..time.2])? as i64;
                        let pos = point
                            .iter()
                            .find(|(i, ..)| *i == id::CUE_TRACK_POSITIONS)
                            .ok_or("a cue without positions")?;
                        let pos = children(b, pos.1, pos.2)?;
                        let get = |want: u32| -> Result<u64, String> {
                            let (_, d, e, _) = pos
                                .iter()
                                .find(|(i, ..)| *i == want)
                                .ok_or("a cue field is missing")?;
                            uint(&b[*d..*e])
                        };
                        cues.push((time, get(id::CUE_TRACK)?, get(id::CUE_CLUSTER_POSITION)?));
                    }
                }
                id::SEEK_HEAD => {
                    for (_, d, e, _) in children(b, data, end)? {
                        let seek = children(b, d, e)?;
                        let sid = seek
                            .iter()
                            .find(|(i, ..)| *i == id::SEEK_ID)
                            .ok_or("a seek without an id")?;
                        let spos = seek
                            .iter()
                            .find(|(i, ..)| *i == id::SEEK_POSITION)
                            .ok_or("a seek without a position")?;
                        seeks.push((uint(&b[sid.1..sid.2])? as u32, uint(&b[spos.1..spos.2])?));
                    }
                }
                other => return Err(format!("{other:#x} in the Segment")),
            }
        }
        if shape == Shape::Finished {
            let last = p.blocks.iter().map(|b| b.ts).max();
            let duration = p.duration.ok_or("no Duration")?;
            if last.is_some_and(|l| duration < l as f64) {
                return Err(format!("Duration {duration} < last block {last:?}"));
            }
            for (time, track, pos) in &cues {
                let (cts, blocks) = clusters_at
                    .get(pos)
                    .ok_or(format!("a cue points at {pos}, not at a cluster"))?;
                // A keyframe of the cue's track, or (written while there was no video) the
                // cluster's start.
                let holds = time == cts
                    || p.blocks[blocks.clone()]
                        .iter()
                        .any(|blk| blk.track == *track && blk.ts == *time && blk.keyframe);
                if !holds {
                    return Err(format!(
                        "cue ({time}, track {track}) names no keyframe of its cluster"
                    ));
                }
            }
            for (sid, pos) in seeks {
                let at = seg_data + pos as usize;
                let (found, _, _) = header(b, at)?;
                if found != sid {
                    return Err(format!(
                        "the seek head says {sid:#x} at {pos}; it is {found:#x}"
                    ));
                }
            }
        }
        Ok(p)
    }

    // ---- The muxer.

    #[derive(Debug, Clone)]
    enum Ts {
        /// Relative to the previous frame's time.
        After(i64),
        At(i64),
    }

    #[derive(Debug, Clone)]
    enum MuxOp {
        AddTrack {
            video: bool,
            name: String,
        },
        Frame {
            track: u64,
            ts: Ts,
            keyframe: bool,
            data: Vec<u8>,
        },
        /// Many frames of one track at the same time (a stuck clock).
        Burst {
            track: u64,
            n: u16,
        },
        Flush,
    }

    fn mux_ops() -> impl Strategy<Value = Vec<MuxOp>> {
        let op = prop_oneof![
            2 => (any::<bool>(), prop_oneof![20 => ".{0,12}", 1 => "x{6000,7000}"])
                .prop_map(|(video, name)| MuxOp::AddTrack { video, name }),
            20 => (
                0u64..5,
                prop_oneof![
                    20 => (-100i64..1300).prop_map(Ts::After),
                    1 => any::<i64>().prop_map(Ts::At),
                    1 => prop_oneof![Just(i64::MIN), Just(i64::MAX), Just(0i64), Just(-1i64)].prop_map(Ts::At),
                ],
                any::<bool>(),
                prop_oneof![10 => 0usize..40, 1 => 0usize..3000],
                any::<u8>(),
            )
                // The bytes only need to come back as they went in: a pattern, quick to make.
                .prop_map(|(track, ts, keyframe, len, seed)| MuxOp::Frame {
                    track,
                    ts,
                    keyframe,
                    data: (0..len).map(|i| seed.wrapping_add((i * 7) as u8)).collect(),
                }),
            1 => (1u64..4, 1u16..400).prop_map(|(track, n)| MuxOp::Burst { track, n }),
            2 => Just(MuxOp::Flush),
        ];
        prop::collection::vec(op, 0..40)
    }

    fn meta(title: String, start_unix_ms: i64, tags: Vec<(String, String)>) -> ContainerMeta {
        ContainerMeta {
            title,
            start_unix_ms,
            tags,
        }
    }

    /// A written frame: track, requested time, keyframe, data.
    type Written = (u64, i64, bool, Vec<u8>);

    fn compare(parsed: &Parsed, written: &[Written]) -> Result<(), TestCaseError> {
        prop_assert_eq!(parsed.blocks.len(), written.len());
        let tracks: std::collections::BTreeSet<u64> = written.iter().map(|w| w.0).collect();
        for t in tracks {
            let got: Vec<&Block> = parsed.blocks.iter().filter(|b| b.track == t).collect();
            let want: Vec<&Written> = written.iter().filter(|w| w.0 == t).collect();
            prop_assert_eq!(got.len(), want.len());
            for (g, w) in got.iter().zip(want) {
                prop_assert_eq!(&g.data, &w.3, "track {}: data differs", t);
                // A frame may move later, never earlier (and not before 0).
                prop_assert!(
                    g.ts >= w.1.clamp(0, MAX_TS_MS),
                    "track {t}: written at {} for {}",
                    g.ts,
                    w.1
                );
                if parsed.tracks[&t] {
                    prop_assert_eq!(g.keyframe, w.2);
                }
            }
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(config(cases()))]

        #[test]
        fn fuzz_webm_muxer_output_is_well_formed(
            ops in mux_ops(),
            title in ".{0,30}",
            start in prop_oneof![any::<i64>(), Just(1_700_000_000_000i64)],
            tags in prop::collection::vec((".{0,10}", ".{0,20}"), 0..3),
            duration in prop_oneof![any::<i64>(), 0i64..100_000],
        ) {
            let mut m = WebmMuxer::new(Vec::new(), &meta(title, start, tags)).unwrap();
            let mut written: Vec<Written> = vec![];
            let mut clock = 0i64;
            for op in ops {
                match op {
                    MuxOp::AddTrack { video, name } => {
                        let before = m.track_count();
                        let codec = if video {
                            TrackCodec::Vp8 { width: 640, height: 480 }
                        } else {
                            TrackCodec::Opus { channels: 2, sample_rate: 48_000 }
                        };
                        match m.add_track(TrackSpec { name, codec, default: true }) {
                            Ok(n) => prop_assert_eq!(n, before as u64 + 1),
                            Err(_) => prop_assert_eq!(m.track_count(), before),
                        }
                    }
                    MuxOp::Frame { track, ts, keyframe, data } => {
                        let ts = match ts {
                            Ts::After(d) => clock.saturating_add(d),
                            Ts::At(t) => t,
                        };
                        clock = ts;
                        let known = track >= 1 && track <= m.track_count() as u64;
                        let r = m.write_frame(track, ts, keyframe, &data);
                        prop_assert_eq!(r.is_ok(), known, "track {} of {}: {:?}", track, m.track_count(), r);
                        if known {
                            written.push((track, ts, keyframe, data));
                        }
                    }
                    MuxOp::Burst { track, n } => {
                        if track <= m.track_count() as u64 {
                            for i in 0..n {
                                let data = vec![i as u8; 3];
                                let r = m.write_frame(track, clock, false, &data);
                                prop_assert!(r.is_ok(), "frame {i} of a burst at {clock}: {r:?}");
                                written.push((track, clock, false, data));
                            }
                        }
                    }
                    MuxOp::Flush => {
                        m.flush().unwrap();
                        // What a crash would leave now is a valid live file, kept whole.
                        let live = m.sink.clone();
                        check_webm(&live, Shape::Live).map_err(TestCaseError::fail)?;
                        prop_assert_eq!(whole_elements_len(&mut Mem(live.clone())).unwrap(), live.len() as u64);
                    }
                }
            }
            prop_assert_eq!(m.frames_written, written.len() as u64);
            let clamped = m.clamped_frames;
            let max_ts = m.last_timestamp();
            let (bytes, len) = m.finish(duration).unwrap();
            prop_assert_eq!(bytes.len() as u64, len);
            let parsed = check_webm(&bytes, Shape::Finished).map_err(TestCaseError::fail)?;
            compare(&parsed, &written)?;
            prop_assert_eq!(parsed.duration, Some(duration.max(max_ts) as f64));
            // `clamped_frames` counts exactly the frames written later than asked.
            let mut moved = 0u64;
            for t in parsed.tracks.keys() {
                let got = parsed.blocks.iter().filter(|b| b.track == *t);
                let want = written.iter().filter(|w| w.0 == *t);
                moved += got.zip(want).filter(|(g, w)| g.ts != w.1.clamp(0, MAX_TS_MS)).count() as u64;
            }
            prop_assert_eq!(clamped, moved);
            prop_assert_eq!(whole_elements_len(&mut Mem(bytes.clone())).unwrap(), len);
        }

        #[test]
        fn fuzz_webm_torn_files_are_cut_on_whole_elements(
            ops in mux_ops(),
            finished in any::<bool>(),
            cut in any::<prop::sample::Index>(),
        ) {
            let mut m = WebmMuxer::new(Vec::new(), &meta("t".into(), 0, vec![])).unwrap();
            let mut clock = 0i64;
            for op in ops {
                match op {
                    MuxOp::AddTrack { video, name } => {
                        let codec = if video {
                            TrackCodec::Vp8 { width: 64, height: 48 }
                        } else {
                            TrackCodec::Opus { channels: 1, sample_rate: 48_000 }
                        };
                        let _ = m.add_track(TrackSpec { name, codec, default: false });
                    }
                    MuxOp::Frame { track, ts, keyframe, data } => {
                        clock = match ts {
                            Ts::After(d) => clock.saturating_add(d),
                            Ts::At(t) => t,
                        };
                        let _ = m.write_frame(track, clock, keyframe, &data);
                    }
                    MuxOp::Burst { .. } => {}
                    MuxOp::Flush => m.flush().unwrap(),
                }
            }
            let bytes = if finished {
                m.finish(0).unwrap().0
            } else {
                m.flush().unwrap();
                m.sink.clone()
            };
            let at = cut.index(bytes.len() + 1);
            let torn = bytes[..at].to_vec();
            let keep = whole_elements_len(&mut Mem(torn.clone())).unwrap();
            prop_assert!(keep <= at as u64);
            // What is kept reads as a live file: whole elements only.
            let header_end = {
                let (_, size, data) = header(&bytes, 0).unwrap();
                data + size.unwrap() as usize
            };
            if at >= header_end {
                check_webm(&torn[..keep as usize], Shape::Live).map_err(TestCaseError::fail)?;
            }
        }

        #[test]
        fn fuzz_webm_whole_elements_len_any_bytes(
            prefix in prop_oneof![Just(vec![]), Just(vec![0x1A, 0x45, 0xDF, 0xA3]), Just(vec![0x1A, 0x45, 0xDF, 0xA3, 0x80, 0x18, 0x53, 0x80, 0x67])],
            body in prop::collection::vec(any::<u8>(), 0..200),
        ) {
            let mut b = prefix;
            b.extend(body);
            let keep = whole_elements_len(&mut Mem(b.clone())).unwrap();
            prop_assert!(keep <= b.len() as u64);
            let _ = read_element_header(&b);
        }

        #[test]
        fn fuzz_vp8_keyframe_header_any_bytes(frame in prop::collection::vec(any::<u8>(), 0..16)) {
            let size = vp8_keyframe_size(&frame);
            prop_assert_eq!(size.is_some(), vp8_is_keyframe(&frame));
            if let Some((w, h)) = size {
                prop_assert!(w < 1 << 14 && h < 1 << 14);
                prop_assert!(frame.len() >= 10 && frame[0] & 1 == 0);
            }
        }
    }
}
