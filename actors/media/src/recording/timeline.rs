//! From RTP packets to timed, ordered frames — the recorder's logic, without sockets or files.
//!
//! Per track:
//! 1. **Jitter buffer**: packets are put in sequence order (16-bit sequence numbers extended
//!    to 64 bits); a gap is waited for up to `jitter_ms`, then declared lost.
//! 2. **Frame assembly**: the packets of one RTP timestamp are depacketized (VP8 payload
//!    descriptor stripped; Opus is one frame per packet) into one frame. A video frame with a
//!    lost packet is dropped and the track waits for the next keyframe, asking for one
//!    ([`Output::NeedKeyframe`]); so does a video track that starts on a delta frame.
//! 3. **Clock**: RTP time → wall clock. From the publisher's RTCP sender reports (NTP ↔ RTP)
//!    when one has arrived, so one participant's audio and video line up as they were
//!    captured; each publisher's clock is tied to ours by the smallest (arrival − send) seen,
//!    so participants line up too. A track with no sender report after `sr_wait_ms` falls
//!    back to arrival times.
//!
//! Then all tracks' frames go through one time-ordered queue and are released once they are
//! `output_delay_ms` old, so the muxer gets them in (nearly) global order.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap, VecDeque};

use bytes::{Bytes, BytesMut};
use webrtc::rtp::codecs::vp8::Vp8Packet;
use webrtc::rtp::packet::Packet;
use webrtc::rtp::packetizer::Depacketizer;

use super::webm::vp8_is_keyframe;
use vkyc_domain::MediaKind;

pub type TrackId = u64;

/// A sender report moves a track's RTP → wall-clock mapping only when it disagrees with it
/// by more than this (clock drift), never for the few milliseconds of reporting noise.
const SR_REANCHOR_MS: f64 = 20.0;

#[derive(Debug, Clone, Copy)]
pub struct TimelineConfig {
    /// How long a gap in sequence numbers is waited for before it counts as lost.
    pub jitter_ms: f64,
    /// How long a track waits for its first sender report before using arrival times.
    pub sr_wait_ms: f64,
    /// How old a frame must be before it is released to the muxer.
    pub output_delay_ms: f64,
    /// How often a video track that waits for a keyframe asks again.
    pub keyframe_retry_ms: f64,
}

impl Default for TimelineConfig {
    fn default() -> Self {
        Self {
            jitter_ms: 300.0,
            sr_wait_ms: 4000.0,
            output_delay_ms: 700.0,
            keyframe_retry_ms: 500.0,
        }
    }
}

/// A frame ready for the muxer.
#[derive(Debug, Clone)]
pub struct Frame {
    pub track: TrackId,
    /// Milliseconds since the timeline's epoch.
    pub ts_ms: i64,
    pub keyframe: bool,
    pub data: Bytes,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    Frame(TrackId),
    NeedKeyframe(TrackId),
}

#[derive(Debug, Default, Clone, Copy)]
pub struct TrackStats {
    pub packets: u64,
    pub frames: u64,
    pub lost_packets: u64,
    pub dropped_frames: u64,
    pub duplicates: u64,
    pub synced_by_sender_report: bool,
}

struct Unwrap {
    last: Option<i64>,
    bits: u32,
}

impl Unwrap {
    fn new(bits: u32) -> Self {
        Self { last: None, bits }
    }
    fn extend(&mut self, v: u64) -> i64 {
        let modulo = 1i64 << self.bits;
        let v = v as i64;
        let ext = match self.last {
            None => v,
            Some(last) => {
                let base = last - last.rem_euclid(modulo);
                let candidates = [base - modulo + v, base + v, base + modulo + v];
                *candidates
                    .iter()
                    .min_by_key(|c| (*c - last).abs())
                    .expect("three candidates")
            }
        };
        if self.last.is_none_or(|l| ext > l) {
            self.last = Some(ext);
        }
        ext
    }
}

struct Assembly {
    rtp_ts: i64,
    next_seq: i64,
    data: BytesMut,
    arrival_ms: f64,
    broken: bool,
}

struct RawFrame {
    rtp_ts: i64,
    arrival_ms: f64,
    keyframe: bool,
    data: Bytes,
}

struct Track {
    kind: MediaKind,
    publisher: u128,
    clock_rate: f64,
    seq: Unwrap,
    ts: Unwrap,
    buffer: BTreeMap<i64, (Packet, f64)>,
    next_seq: Option<i64>,
    assembly: Option<Assembly>,
    wants_keyframe: bool,
    /// A video frame was dropped since the last poll: ask the publisher for a keyframe.
    needs_ask: bool,
    last_keyframe_ask: f64,
    pending: VecDeque<RawFrame>,
    first_arrival: Option<f64>,
    /// (extended RTP time, sender wall clock ms) from the latest sender report.
    sender_report: Option<(i64, f64)>,
    /// Arrival-time mapping, once the track gave up waiting for a sender report.
    fallback: Option<(i64, f64)>,
    stats: TrackStats,
}

impl Track {
    fn depacketize(&self, payload: &Bytes) -> Option<Bytes> {
        match self.kind {
            MediaKind::Video => Vp8Packet::default().depacketize(payload).ok(),
            MediaKind::Audio => Some(payload.clone()),
        }
    }

    fn is_partition_head(&self, payload: &Bytes) -> bool {
        match self.kind {
            MediaKind::Video => Vp8Packet::default().is_partition_head(payload),
            MediaKind::Audio => true,
        }
    }

    /// Wall-clock ms (timeline epoch) of an RTP time, if the track has a mapping.
    fn map(&self, rtp_ts: i64, publisher_offset: Option<f64>) -> Option<f64> {
        if let Some((rtp, wall)) = self.fallback {
            return Some(wall + (rtp_ts - rtp) as f64 * 1000.0 / self.clock_rate);
        }
        let (rtp, sender_ms) = self.sender_report?;
        Some(sender_ms + (rtp_ts - rtp) as f64 * 1000.0 / self.clock_rate + publisher_offset?)
    }
}

pub struct Timeline {
    cfg: TimelineConfig,
    tracks: HashMap<TrackId, Track>,
    /// Per publisher: our clock − its clock (ms), the smallest seen.
    offsets: HashMap<u128, f64>,
    ready: BinaryHeap<Reverse<(i64, u64, TrackId)>>,
    frames: HashMap<u64, Frame>,
    order: u64,
    /// Wall clock (Unix ms) of timeline time 0.
    epoch_unix_ms: f64,
}

impl Timeline {
    pub fn new(cfg: TimelineConfig, epoch_unix_ms: f64) -> Self {
        Self {
            cfg,
            tracks: HashMap::new(),
            offsets: HashMap::new(),
            ready: BinaryHeap::new(),
            frames: HashMap::new(),
            order: 0,
            epoch_unix_ms,
        }
    }

    pub fn epoch_unix_ms(&self) -> f64 {
        self.epoch_unix_ms
    }

    pub fn add_track(&mut self, id: TrackId, kind: MediaKind, publisher: u128, clock_rate: u32) {
        self.tracks.insert(
            id,
            Track {
                kind,
                publisher,
                clock_rate: f64::from(clock_rate.max(1)),
                seq: Unwrap::new(16),
                ts: Unwrap::new(32),
                buffer: BTreeMap::new(),
                next_seq: None,
                assembly: None,
                wants_keyframe: kind == MediaKind::Video,
                needs_ask: false,
                last_keyframe_ask: f64::NEG_INFINITY,
                pending: VecDeque::new(),
                first_arrival: None,
                sender_report: None,
                fallback: None,
                stats: TrackStats::default(),
            },
        );
    }

    pub fn stats(&self, id: TrackId) -> Option<TrackStats> {
        self.tracks.get(&id).map(|t| t.stats)
    }

    /// `arrival_ms`: our wall clock at arrival, ms since the epoch.
    pub fn push_rtp(&mut self, id: TrackId, packet: Packet, arrival_ms: f64) {
        let Some(t) = self.tracks.get_mut(&id) else {
            return;
        };
        t.stats.packets += 1;
        t.first_arrival.get_or_insert(arrival_ms);
        let seq = t.seq.extend(u64::from(packet.header.sequence_number));
        if t.next_seq.is_some_and(|n| seq < n) || t.buffer.contains_key(&seq) {
            t.stats.duplicates += 1;
            return;
        }
        t.buffer.insert(seq, (packet, arrival_ms));
    }

    /// An RTCP sender report for a track: `ntp` is the NTP timestamp (64-bit fixed point).
    pub fn sender_report(&mut self, id: TrackId, ntp: u64, rtp_time: u32) {
        let Some(t) = self.tracks.get_mut(&id) else {
            return;
        };
        let secs = (ntp >> 32) as f64 + (ntp & 0xffff_ffff) as f64 / 4_294_967_296.0;
        let unix_ms = (secs - 2_208_988_800.0) * 1000.0;
        let rtp = t.ts.extend(u64::from(rtp_time));
        let sender_ms = unix_ms - self.epoch_unix_ms;
        // Keep the mapping unless the sender's clocks drifted apart by more than a frame:
        // re-anchoring on every report would make frame times jitter by the reports' noise.
        let keep = t.sender_report.is_some_and(|(r, ms)| {
            (ms + (rtp - r) as f64 * 1000.0 / t.clock_rate - sender_ms).abs() <= SR_REANCHOR_MS
        });
        if !keep {
            t.sender_report = Some((rtp, sender_ms));
        }
        t.stats.synced_by_sender_report = t.fallback.is_none();
    }

    /// Moves packets through the jitter buffers and frames into the ordered queue; returns
    /// the keyframe requests to make. `now_ms`: wall clock, ms since the epoch.
    pub fn poll(&mut self, now_ms: f64) -> Vec<TrackId> {
        let mut keyframe_requests = vec![];
        let ids: Vec<TrackId> = self.tracks.keys().copied().collect();
        for id in ids {
            self.drain_jitter(id, now_ms, false);
            let t = self.tracks.get_mut(&id).expect("listed");
            if (t.wants_keyframe || t.needs_ask)
                && now_ms - t.last_keyframe_ask >= self.cfg.keyframe_retry_ms
                && t.first_arrival.is_some()
            {
                t.last_keyframe_ask = now_ms;
                t.needs_ask = false;
                keyframe_requests.push(id);
            }
            self.map_pending(id, now_ms, false);
        }
        keyframe_requests
    }

    /// Frames old enough to be written, in time order.
    pub fn release(&mut self, now_ms: f64) -> Vec<Frame> {
        let mut horizon = now_ms - self.cfg.output_delay_ms;
        // A track still waiting for its clock will place its frames near their arrival.
        for t in self.tracks.values() {
            if let Some(f) = t.pending.front() {
                horizon = horizon.min(f.arrival_ms - self.cfg.output_delay_ms);
            }
        }
        self.pop_until(horizon)
    }

    /// Everything left, in time order (the call ended).
    pub fn finish(&mut self, now_ms: f64) -> Vec<Frame> {
        let ids: Vec<TrackId> = self.tracks.keys().copied().collect();
        for id in ids {
            self.drain_jitter(id, now_ms, true);
            self.map_pending(id, now_ms, true);
        }
        self.pop_until(f64::INFINITY)
    }

    fn pop_until(&mut self, horizon: f64) -> Vec<Frame> {
        let mut out = vec![];
        while let Some(Reverse((ts, order, _))) = self.ready.peek().copied() {
            if ts as f64 > horizon {
                break;
            }
            self.ready.pop();
            if let Some(f) = self.frames.remove(&order) {
                out.push(f);
            }
        }
        out
    }

    fn drain_jitter(&mut self, id: TrackId, now_ms: f64, flush: bool) {
        let jitter = self.cfg.jitter_ms;
        let t = self.tracks.get_mut(&id).expect("known track");
        loop {
            let Some((&seq, &(_, arrival))) = t.buffer.iter().next() else {
                break;
            };
            let next = *t.next_seq.get_or_insert(seq);
            if seq != next {
                // A gap: wait for it unless the oldest waiting packet is too old.
                if !flush && now_ms - arrival < jitter && t.buffer.len() < 1000 {
                    break;
                }
                t.stats.lost_packets += (seq - next) as u64;
                match t.assembly.as_mut() {
                    Some(a) => a.broken = true,
                    // Lost between two frames: whole frames may be gone, which the next
                    // inter frames refer to. Wait for a keyframe, as for a broken frame.
                    None if t.kind == MediaKind::Video => {
                        t.wants_keyframe = true;
                        t.needs_ask = true;
                    }
                    None => {}
                }
                t.next_seq = Some(seq);
            }
            let (packet, arrival) = t.buffer.remove(&seq).expect("peeked");
            t.next_seq = Some(seq + 1);
            let frames = assemble(t, seq, packet, arrival);
            for f in frames {
                accept_frame(t, f);
            }
        }
        if flush {
            // A frame still open at the end never got its last packet.
            if let Some(mut a) = t.assembly.take() {
                a.broken = true;
                let _ = finish_assembly(t, a);
            }
        }
    }

    fn map_pending(&mut self, id: TrackId, now_ms: f64, force: bool) {
        let sr_wait = self.cfg.sr_wait_ms;
        let t = self.tracks.get_mut(&id).expect("known track");
        if t.pending.is_empty() {
            return;
        }
        if t.sender_report.is_some()
            && t.fallback.is_none()
            && !self.offsets.contains_key(&t.publisher)
        {
            // Tie this publisher's clock to ours: the least-delayed frame seen so far.
            let (rtp, sender_ms) = t.sender_report.expect("checked");
            let offset = t
                .pending
                .iter()
                .map(|f| {
                    f.arrival_ms - (sender_ms + (f.rtp_ts - rtp) as f64 * 1000.0 / t.clock_rate)
                })
                .fold(f64::INFINITY, f64::min);
            self.offsets.insert(t.publisher, offset);
        }
        let offset = self.offsets.get(&t.publisher).copied();
        if t.map(0, offset).is_none() {
            let waited = t.first_arrival.is_some_and(|a| now_ms - a >= sr_wait);
            if !(waited || force) {
                return;
            }
            // The least-delayed frame anchors the track (so no frame lands after its arrival).
            let ms = 1000.0 / t.clock_rate;
            let anchor = t
                .pending
                .iter()
                .min_by(|a, b| {
                    (a.arrival_ms - a.rtp_ts as f64 * ms)
                        .total_cmp(&(b.arrival_ms - b.rtp_ts as f64 * ms))
                })
                .expect("not empty");
            t.fallback = Some((anchor.rtp_ts, anchor.arrival_ms));
            t.stats.synced_by_sender_report = false;
        }
        while let Some(f) = t.pending.pop_front() {
            let ts = t.map(f.rtp_ts, offset).expect("mapped above").round() as i64;
            self.order += 1;
            self.ready.push(Reverse((ts, self.order, id)));
            self.frames.insert(
                self.order,
                Frame {
                    track: id,
                    ts_ms: ts,
                    keyframe: f.keyframe,
                    data: f.data,
                },
            );
        }
    }
}

/// Feeds one in-order packet to the track's frame assembly; returns completed frames.
fn assemble(t: &mut Track, seq: i64, packet: Packet, arrival_ms: f64) -> Vec<RawFrame> {
    let mut done = vec![];
    let rtp_ts = t.ts.extend(u64::from(packet.header.timestamp));
    if let Some(a) = t.assembly.take() {
        if a.rtp_ts == rtp_ts && a.next_seq == seq {
            t.assembly = Some(a);
        } else {
            // A new timestamp (or a gap) before the frame's marker: its end was lost.
            let mut a = a;
            a.broken = true;
            done.extend(finish_assembly(t, a));
        }
    }
    if packet.payload.is_empty() {
        // Padding: it takes a sequence number but carries no media.
        if let Some(a) = t.assembly.as_mut() {
            a.next_seq = seq + 1;
        }
        return done;
    }
    let piece = t.depacketize(&packet.payload);
    let head = t.is_partition_head(&packet.payload);
    let a = t.assembly.get_or_insert_with(|| Assembly {
        rtp_ts,
        next_seq: seq,
        data: BytesMut::new(),
        arrival_ms,
        // A frame must start with its first partition; otherwise its start was lost.
        broken: !head,
    });
    match piece {
        Some(d) => a.data.extend_from_slice(&d),
        None => a.broken = true,
    }
    a.next_seq = seq + 1;
    if packet.header.marker || t.kind == MediaKind::Audio {
        if let Some(a) = t.assembly.take() {
            done.extend(finish_assembly(t, a));
        }
    }
    done
}

fn finish_assembly(t: &mut Track, a: Assembly) -> Option<RawFrame> {
    if a.broken || a.data.is_empty() {
        t.stats.dropped_frames += 1;
        if t.kind == MediaKind::Video {
            t.wants_keyframe = true;
            t.needs_ask = true;
        }
        return None;
    }
    let data = a.data.freeze();
    let keyframe = match t.kind {
        MediaKind::Video => vp8_is_keyframe(&data),
        MediaKind::Audio => true,
    };
    Some(RawFrame {
        rtp_ts: a.rtp_ts,
        arrival_ms: a.arrival_ms,
        keyframe,
        data,
    })
}

fn accept_frame(t: &mut Track, f: RawFrame) {
    if t.kind == MediaKind::Video {
        if t.wants_keyframe && !f.keyframe {
            t.stats.dropped_frames += 1;
            t.needs_ask = true;
            return;
        }
        if f.keyframe {
            t.wants_keyframe = false;
        }
    }
    t.stats.frames += 1;
    t.pending.push_back(f);
}

#[cfg(test)]
mod tests {
    use super::*;
    use webrtc::rtp::header::Header;

    fn pkt(seq: u16, ts: u32, marker: bool, payload: &[u8]) -> Packet {
        Packet {
            header: Header {
                sequence_number: seq,
                timestamp: ts,
                marker,
                ssrc: 1,
                payload_type: 96,
                version: 2,
                ..Default::default()
            },
            payload: Bytes::copy_from_slice(payload),
        }
    }

    /// A VP8 frame in two packets: descriptor 0x10 (S=1, PID 0) then 0x00.
    fn vp8_frame(seq: u16, ts: u32, key: bool) -> [Packet; 2] {
        let first = if key {
            [0x10u8, 0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, 64, 0, 48, 0]
        } else {
            [0x10u8, 0x31, 0, 0, 0, 0, 0, 0, 0, 0, 0]
        };
        [
            pkt(seq, ts, false, &first),
            pkt(seq.wrapping_add(1), ts, true, &[0x00, 0xAA, 0xBB, 0xCC]),
        ]
    }

    /// Every packet of `frame` into track 1, arriving at `at_ms`.
    fn push_frame(tl: &mut Timeline, frame: [Packet; 2], at_ms: f64) {
        for p in frame {
            tl.push_rtp(1, p, at_ms);
        }
    }

    fn ntp(unix_ms: f64) -> u64 {
        let secs = unix_ms / 1000.0 + 2_208_988_800.0;
        ((secs.floor() as u64) << 32) | ((secs.fract() * 4_294_967_296.0) as u64)
    }

    #[test]
    fn sequence_numbers_and_timestamps_unwrap() {
        let mut u = Unwrap::new(16);
        assert_eq!(u.extend(65534), 65534);
        assert_eq!(u.extend(65535), 65535);
        assert_eq!(u.extend(0), 65536);
        assert_eq!(u.extend(65535), 65535, "a late packet from before the wrap");
        assert_eq!(u.extend(2), 65538);
    }

    /// A timeline that writes at once (no sender-report wait, no output delay) with one video
    /// track: track 1, SSRC 7, 90 kHz.
    fn one_video_track() -> Timeline {
        let mut tl = Timeline::new(
            TimelineConfig {
                sr_wait_ms: 0.0,
                output_delay_ms: 0.0,
                ..Default::default()
            },
            0.0,
        );
        tl.add_track(1, MediaKind::Video, 7, 90_000);
        tl
    }

    #[test]
    fn reordered_packets_make_whole_frames_and_video_starts_at_a_keyframe() {
        let mut tl = one_video_track();
        // A delta frame first: dropped, and a keyframe is asked for.
        push_frame(&mut tl, vp8_frame(10, 0, false), 0.0);
        let [a, b] = vp8_frame(12, 3000, true);
        tl.push_rtp(1, b, 33.0); // out of order
        tl.push_rtp(1, a, 34.0);
        let [c, d] = vp8_frame(14, 6000, false);
        tl.push_rtp(1, c, 66.0);
        tl.push_rtp(1, d, 66.0);
        assert_eq!(
            tl.poll(100.0),
            vec![1],
            "video without a keyframe asks for one"
        );
        let frames = tl.release(10_000.0);
        assert_eq!(frames.len(), 2);
        assert!(frames[0].keyframe && !frames[1].keyframe);
        assert_eq!(&frames[0].data[..3], &[0x10, 0x02, 0x00]);
        assert_eq!(
            frames[0].data.len(),
            10 + 3,
            "descriptors stripped, payloads joined"
        );
        assert_eq!(
            frames[1].ts_ms - frames[0].ts_ms,
            33,
            "3000 ticks at 90 kHz"
        );
        assert_eq!(tl.stats(1).unwrap().dropped_frames, 1);
    }

    #[test]
    fn a_lost_packet_drops_the_frame_and_waits_for_a_keyframe() {
        let mut tl = Timeline::new(
            TimelineConfig {
                sr_wait_ms: 0.0,
                output_delay_ms: 0.0,
                jitter_ms: 50.0,
                ..Default::default()
            },
            0.0,
        );
        tl.add_track(1, MediaKind::Video, 7, 90_000);
        push_frame(&mut tl, vp8_frame(0, 0, true), 0.0);
        let [a, _lost] = vp8_frame(2, 3000, false);
        tl.push_rtp(1, a, 33.0);
        push_frame(&mut tl, vp8_frame(4, 6000, false), 66.0);
        push_frame(&mut tl, vp8_frame(6, 9000, true), 99.0);
        tl.poll(60.0); // the gap is not old enough yet
        let asks = tl.poll(200.0);
        assert_eq!(asks, vec![1]);
        let frames = tl.release(10_000.0);
        let kinds: Vec<bool> = frames.iter().map(|f| f.keyframe).collect();
        assert_eq!(
            kinds,
            vec![true, true],
            "the broken frame and the delta after it are dropped"
        );
        assert_eq!(tl.stats(1).unwrap().lost_packets, 1);
    }

    /// Found by fuzz_timeline_rebuilds_damaged_streams: an inter frame lost whole (all its
    /// packets, between two frames) went unnoticed, and the inter frames after it, which
    /// refer to it, were written (a picture broken until the next keyframe).
    #[test]
    fn a_whole_lost_inter_frame_waits_for_a_keyframe() {
        let mut tl = Timeline::new(
            TimelineConfig {
                sr_wait_ms: 0.0,
                output_delay_ms: 0.0,
                jitter_ms: 50.0,
                ..Default::default()
            },
            0.0,
        );
        tl.add_track(1, MediaKind::Video, 7, 90_000);
        push_frame(&mut tl, vp8_frame(0, 0, true), 0.0);
        // Frame 2-3 (ts 3000) never arrives.
        push_frame(&mut tl, vp8_frame(4, 6000, false), 66.0);
        push_frame(&mut tl, vp8_frame(6, 9000, true), 99.0);
        tl.poll(60.0);
        assert_eq!(tl.poll(200.0), vec![1], "a keyframe is asked for");
        let frames = tl.release(10_000.0);
        let times: Vec<i64> = frames.iter().map(|f| f.ts_ms).collect();
        assert_eq!(
            times,
            vec![0, 100],
            "the inter frame after the loss is not written"
        );
        assert_eq!(tl.stats(1).unwrap().lost_packets, 2);
    }

    #[test]
    fn a_frame_whose_last_packet_never_came_is_not_written() {
        let mut tl = one_video_track();
        push_frame(&mut tl, vp8_frame(0, 0, true), 0.0);
        // The next frame's first packet, then (no gap in sequence numbers) a third frame:
        // the second frame's marker packet was never sent (the sender stopped mid-frame).
        let [a, _] = vp8_frame(2, 3000, false);
        tl.push_rtp(1, a, 33.0);
        let [c, d] = vp8_frame(3, 6000, true);
        tl.push_rtp(1, c, 66.0);
        tl.push_rtp(1, d, 66.0);
        // And the call ends in the middle of a fourth frame.
        let [e, _] = vp8_frame(5, 9000, false);
        tl.push_rtp(1, e, 99.0);
        tl.poll(100.0);
        let frames = tl.finish(200.0);
        assert_eq!(frames.len(), 2, "only the two whole frames: {frames:?}");
        assert!(frames.iter().all(|f| f.keyframe && f.data.len() == 13));
        assert_eq!(tl.stats(1).unwrap().dropped_frames, 2);
    }

    #[test]
    fn sender_reports_line_up_audio_and_video_of_one_publisher() {
        // The sender's clock is 5 s ahead of ours; its audio reaches us 20 ms faster than video.
        let epoch = 1_700_000_000_000.0;
        let skew = 5000.0;
        let mut tl = Timeline::new(
            TimelineConfig {
                output_delay_ms: 0.0,
                ..Default::default()
            },
            epoch,
        );
        tl.add_track(1, MediaKind::Video, 7, 90_000);
        tl.add_track(2, MediaKind::Audio, 7, 48_000);
        // Both captured at our t=1000 ms; audio RTP base 1000, video base 5000.
        tl.sender_report(1, ntp(epoch + 1000.0 + skew), 5000);
        tl.sender_report(2, ntp(epoch + 1000.0 + skew), 1000);
        push_frame(&mut tl, vp8_frame(0, 5000, true), 1030.0);
        tl.push_rtp(2, pkt(0, 1000, true, &[0xFC, 1, 2]), 1010.0);
        tl.push_rtp(2, pkt(1, 1960, true, &[0xFC, 1, 2]), 1030.0);
        tl.poll(2000.0);
        let frames = tl.finish(2000.0);
        let video = frames.iter().find(|f| f.track == 1).unwrap();
        let audio: Vec<_> = frames.iter().filter(|f| f.track == 2).collect();
        assert_eq!(
            video.ts_ms, audio[0].ts_ms,
            "captured together, stamped together"
        );
        assert_eq!(audio[1].ts_ms - audio[0].ts_ms, 20);
        assert!(tl.stats(1).unwrap().synced_by_sender_report);
    }

    #[test]
    fn without_sender_reports_arrival_times_are_used_after_the_wait() {
        let mut tl = Timeline::new(
            TimelineConfig {
                output_delay_ms: 100.0,
                sr_wait_ms: 1000.0,
                ..Default::default()
            },
            0.0,
        );
        tl.add_track(2, MediaKind::Audio, 7, 48_000);
        tl.push_rtp(2, pkt(0, 0, true, &[1]), 500.0);
        tl.poll(900.0);
        assert!(
            tl.release(900.0).is_empty(),
            "still waiting for a sender report"
        );
        tl.push_rtp(2, pkt(1, 960, true, &[1]), 520.0);
        tl.poll(1600.0);
        let frames = tl.release(1600.0);
        assert_eq!(
            frames.iter().map(|f| f.ts_ms).collect::<Vec<_>>(),
            vec![500, 520]
        );
        assert!(!tl.stats(2).unwrap().synced_by_sender_report);
    }
}

/// Property tests of the timeline, and of the timeline and the muxer together
/// (README: Fuzzing).
#[cfg(test)]
mod fuzz {
    use super::*;
    use crate::fuzz_support::{cases, config};
    use crate::recording::webm::fuzz::{check_webm, Shape};
    use crate::recording::webm::{
        vp8_keyframe_size, ContainerMeta, TrackCodec, TrackSpec, WebmMuxer, MAX_TS_MS,
    };
    use proptest::prelude::*;
    use proptest::sample::Index;
    use webrtc::rtp::header::Header;

    fn pkt(seq: u16, ts: u32, marker: bool, payload: Vec<u8>) -> Packet {
        Packet {
            header: Header {
                version: 2,
                payload_type: 96,
                sequence_number: seq,
                timestamp: ts,
                marker,
                ssrc: 1,
                ..Default::default()
            },
            payload: Bytes::from(payload),
        }
    }

    fn ntp(unix_ms: f64) -> u64 {
        let secs = unix_ms / 1000.0 + 2_208_988_800.0;
        ((secs.floor() as u64) << 32) | ((secs.fract() * 4_294_967_296.0) as u64)
    }

    /// Writes released frames into a muxer the way the recorder's writer does (a track is
    /// added at its first frame, a video track at its first keyframe), then reads the file
    /// back: every `write_frame` succeeds and the file holds those frames, in order.
    struct Mux {
        muxer: WebmMuxer<Vec<u8>>,
        numbers: HashMap<TrackId, u64>,
        /// (webm track, time asked, data), in write order.
        written: Vec<(u64, i64, Bytes)>,
    }

    impl Mux {
        fn new() -> Self {
            let meta = ContainerMeta {
                title: "fuzz".into(),
                start_unix_ms: 1_700_000_000_000,
                tags: vec![],
            };
            Self {
                muxer: WebmMuxer::new(Vec::new(), &meta).unwrap(),
                numbers: HashMap::new(),
                written: vec![],
            }
        }

        fn write(&mut self, f: &Frame, kind: MediaKind) -> Result<(), TestCaseError> {
            let number = match self.numbers.get(&f.track) {
                Some(n) => *n,
                None => {
                    let codec = match kind {
                        MediaKind::Video => match vp8_keyframe_size(&f.data) {
                            Some((width, height)) => TrackCodec::Vp8 { width, height },
                            None => return Ok(()),
                        },
                        MediaKind::Audio => TrackCodec::Opus {
                            channels: 2,
                            sample_rate: 48_000,
                        },
                    };
                    let spec = TrackSpec {
                        name: format!("track {}", f.track),
                        codec,
                        default: true,
                    };
                    let n = self
                        .muxer
                        .add_track(spec)
                        .map_err(|e| TestCaseError::fail(e.to_string()))?;
                    self.numbers.insert(f.track, n);
                    n
                }
            };
            self.muxer
                .write_frame(number, f.ts_ms, f.keyframe, &f.data)
                .map_err(|e| {
                    TestCaseError::fail(format!("write_frame({number}, {}): {e}", f.ts_ms))
                })?;
            self.written.push((number, f.ts_ms, f.data.clone()));
            Ok(())
        }

        fn finish(self) -> Result<(), TestCaseError> {
            let duration = self.muxer.last_timestamp();
            let (bytes, _) = self
                .muxer
                .finish(duration)
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            let parsed = check_webm(&bytes, Shape::Finished).map_err(TestCaseError::fail)?;
            prop_assert_eq!(parsed.blocks.len(), self.written.len());
            for n in self.numbers.values() {
                let got = parsed.blocks.iter().filter(|b| b.track == *n);
                let want = self.written.iter().filter(|w| w.0 == *n);
                for (g, w) in got.zip(want) {
                    prop_assert_eq!(&g.data[..], &w.2[..]);
                    prop_assert!(g.ts >= w.1.clamp(0, MAX_TS_MS));
                }
            }
            Ok(())
        }
    }

    /// Checks of one `release`/`finish` answer: time order, known tracks, whole frames.
    fn check_released(
        tl: &Timeline,
        frames: &[Frame],
        kinds: &HashMap<TrackId, MediaKind>,
    ) -> Result<(), TestCaseError> {
        prop_assert!(
            frames.windows(2).all(|w| w[0].ts_ms <= w[1].ts_ms),
            "released out of time order"
        );
        for f in frames {
            let kind = kinds.get(&f.track).copied();
            prop_assert!(kind.is_some(), "a frame of unknown track {}", f.track);
            prop_assert!(!f.data.is_empty(), "an empty frame");
            match kind {
                Some(MediaKind::Video) => prop_assert_eq!(f.keyframe, vp8_is_keyframe(&f.data)),
                _ => prop_assert!(f.keyframe, "audio frames are all keyframes"),
            }
        }
        // Every queued frame is in the heap once, and nothing else is.
        prop_assert_eq!(tl.frames.len(), tl.ready.len());
        Ok(())
    }

    // ---- Anything at all.

    #[derive(Debug, Clone)]
    enum Seq {
        Near(i16),
        Any(u16),
    }

    #[derive(Debug, Clone)]
    enum TlOp {
        Rtp {
            track: TrackId,
            seq: Seq,
            ts: Option<u32>,
            ts_step: u32,
            marker: bool,
            payload: Vec<u8>,
            late_ms: f64,
        },
        SenderReport {
            track: TrackId,
            ntp: u64,
            rtp: u32,
        },
        Advance(f64),
        Poll,
        Release,
    }

    /// RTP payloads: VP8 keyframe and continuation packets, anything, or nothing.
    fn payloads() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            3 => prop::collection::vec(any::<u8>(), 0..8).prop_map(|rest| {
                let mut p = vec![0x10, 0x50, 0x02, 0x00, 0x9d, 0x01, 0x2a, 64, 0, 48, 0];
                p.extend(rest);
                p
            }),
            3 => prop::collection::vec(any::<u8>(), 3..8).prop_map(|rest| {
                let mut p = vec![0x10, 0x51];
                p.extend(rest);
                p
            }),
            3 => prop::collection::vec(any::<u8>(), 3..8).prop_map(|rest| {
                let mut p = vec![0x00];
                p.extend(rest);
                p
            }),
            3 => prop::collection::vec(any::<u8>(), 0..12),
            1 => Just(vec![]),
        ]
    }

    fn tl_ops() -> impl Strategy<Value = Vec<TlOp>> {
        let rtp = (
            1u64..=3,
            prop_oneof![8 => (-3i16..6).prop_map(Seq::Near), 1 => any::<u16>().prop_map(Seq::Any)],
            prop::option::weighted(0.1, any::<u32>()),
            prop_oneof![Just(0u32), Just(960), Just(3000), any::<u32>()],
            any::<bool>(),
            payloads(),
            prop_oneof![8 => Just(0.0f64), 1 => 0.0f64..2000.0],
        )
            .prop_map(
                |(track, seq, ts, ts_step, marker, payload, late_ms)| TlOp::Rtp {
                    track,
                    seq,
                    ts,
                    ts_step,
                    marker,
                    payload,
                    late_ms,
                },
            );
        let sr = (
            1u64..=3,
            prop_oneof![
                any::<u64>(),
                Just(0u64),
                (0xE900_0000u64 << 32)..(0xEA00_0000u64 << 32)
            ],
            any::<u32>(),
        )
            .prop_map(|(track, ntp, rtp)| TlOp::SenderReport { track, ntp, rtp });
        prop::collection::vec(
            prop_oneof![
                20 => rtp,
                1 => sr,
                3 => prop_oneof![0.0f64..50.0, 0.0f64..5000.0].prop_map(TlOp::Advance),
                3 => Just(TlOp::Poll),
                2 => Just(TlOp::Release),
            ],
            0..80,
        )
    }

    fn tl_configs() -> impl Strategy<Value = TimelineConfig> {
        (
            0.0f64..1000.0,
            prop_oneof![Just(0.0f64), 0.0..5000.0],
            0.0f64..2000.0,
            0.0f64..1000.0,
        )
            .prop_map(
                |(jitter_ms, sr_wait_ms, output_delay_ms, keyframe_retry_ms)| TimelineConfig {
                    jitter_ms,
                    sr_wait_ms,
                    output_delay_ms,
                    keyframe_retry_ms,
                },
            )
    }

    proptest! {
        // The slowest target here (up to 80 operations a case, each file read back):
        // half of `VKYC_FUZZ_CASES`.
        #![proptest_config(config(cases() / 2))]

        #[test]
        fn fuzz_timeline_any_rtp_never_panics(
            cfg in tl_configs(),
            epoch in prop_oneof![Just(0.0f64), Just(1_700_000_000_000.0)],
            rates in (prop_oneof![Just(90_000u32), Just(0), Just(1), any::<u32>()], prop_oneof![Just(48_000u32), Just(0), any::<u32>()]),
            ops in tl_ops(),
        ) {
            let mut tl = Timeline::new(cfg, epoch);
            tl.add_track(1, MediaKind::Video, 7, rates.0);
            tl.add_track(2, MediaKind::Audio, 7, rates.1);
            let kinds: HashMap<TrackId, MediaKind> = [(1, MediaKind::Video), (2, MediaKind::Audio)].into();
            let mut mux = Mux::new();
            let mut now = 0.0f64;
            let mut last_seq: HashMap<TrackId, u16> = HashMap::new();
            let mut last_ts: HashMap<TrackId, u32> = HashMap::new();
            let mut pushed: HashMap<TrackId, u64> = HashMap::new();
            let mut released: HashMap<TrackId, u64> = HashMap::new();
            let count = |frames: &[Frame], released: &mut HashMap<TrackId, u64>| {
                for f in frames {
                    *released.entry(f.track).or_default() += 1;
                }
            };
            for op in ops {
                match op {
                    TlOp::Rtp { track, seq, ts, ts_step, marker, payload, late_ms } => {
                        let prev = last_seq.get(&track).copied().unwrap_or(65_530);
                        let seq = match seq {
                            Seq::Near(d) => prev.wrapping_add(d as u16),
                            Seq::Any(s) => s,
                        };
                        let ts = ts.unwrap_or_else(|| last_ts.get(&track).copied().unwrap_or(u32::MAX - 5000).wrapping_add(ts_step));
                        last_seq.insert(track, seq);
                        last_ts.insert(track, ts);
                        *pushed.entry(track).or_default() += 1;
                        tl.push_rtp(track, pkt(seq, ts, marker, payload), now - late_ms);
                    }
                    TlOp::SenderReport { track, ntp, rtp } => tl.sender_report(track, ntp, rtp),
                    TlOp::Advance(ms) => now += ms,
                    TlOp::Poll => {
                        let asks = tl.poll(now);
                        let mut unique = asks.clone();
                        unique.sort_unstable();
                        unique.dedup();
                        prop_assert_eq!(unique.len(), asks.len(), "a track asked twice");
                        prop_assert!(asks.iter().all(|t| kinds.contains_key(t)));
                        // The jitter buffers stay bounded.
                        for t in tl.tracks.values() {
                            prop_assert!(t.buffer.len() < 1000, "{} packets buffered", t.buffer.len());
                        }
                    }
                    TlOp::Release => {
                        let frames = tl.release(now);
                        check_released(&tl, &frames, &kinds)?;
                        count(&frames, &mut released);
                        for f in &frames {
                            mux.write(f, kinds[&f.track])?;
                        }
                    }
                }
            }
            tl.poll(now);
            let frames = tl.finish(now);
            check_released(&tl, &frames, &kinds)?;
            count(&frames, &mut released);
            for f in &frames {
                mux.write(f, kinds[&f.track])?;
            }
            prop_assert!(tl.finish(now + 1.0).is_empty(), "finish leaves nothing behind");
            prop_assert!(tl.frames.is_empty() && tl.ready.is_empty());
            for id in [1, 2] {
                let s = tl.stats(id).unwrap();
                prop_assert_eq!(s.packets, pushed.get(&id).copied().unwrap_or(0));
                prop_assert!(s.duplicates <= s.packets);
                prop_assert_eq!(s.frames, released.get(&id).copied().unwrap_or(0), "every accepted frame is released once");
                prop_assert!(s.frames <= s.packets);
                prop_assert!(tl.tracks[&id].buffer.is_empty());
            }
            prop_assert!(tl.stats(3).is_none());
            mux.finish()?;
        }
    }

    // ---- A real call's streams, delayed, reordered, duplicated and lost.

    /// A participant's video (VP8, 25 fps, 90 kHz) and audio (Opus, 20 ms, 48 kHz), both
    /// starting at capture time 0, with the network's damage.
    #[derive(Debug, Clone)]
    struct Call {
        /// Per video frame: keyframe, and the pieces its packets carry.
        video: Vec<(bool, Vec<Vec<u8>>)>,
        audio: Vec<Vec<u8>>,
        seq0: (u16, u16),
        ts0: (u32, u32),
        delay_ms: (f64, f64),
        /// Sender reports at the start, from a sender clock `skew_ms` off ours.
        sender_reports: bool,
        skew_ms: f64,
        epoch: f64,
        drops: Vec<Index>,
        swaps: Vec<Index>,
        dups: Vec<(Index, usize)>,
    }

    fn calls() -> impl Strategy<Value = Call> {
        let frame = (
            prop::bool::weighted(0.15),
            prop::collection::vec(prop::collection::vec(any::<u8>(), 3..10), 1..4),
        );
        (
            (
                prop::bool::weighted(0.85),
                prop::collection::vec(frame, 0..30),
            ),
            prop::collection::vec(prop::collection::vec(any::<u8>(), 1..10), 0..60),
            (
                prop_oneof![any::<u16>(), 65_500u16..],
                prop_oneof![any::<u16>(), 65_500u16..],
            ),
            (
                prop_oneof![any::<u32>(), (u32::MAX - 100_000)..],
                prop_oneof![any::<u32>(), (u32::MAX - 50_000)..],
            ),
            (0.0f64..80.0, 0.0f64..80.0),
            (any::<bool>(), -1.0e7f64..1.0e7),
            prop_oneof![Just(0.0f64), Just(1_700_000_000_000.0)],
            prop::collection::vec(any::<Index>(), 0..4),
            prop::collection::vec(any::<Index>(), 0..4),
            prop::collection::vec((any::<Index>(), 1usize..5), 0..4),
        )
            .prop_map(
                |(
                    (first_key, mut video),
                    audio,
                    seq0,
                    ts0,
                    delay_ms,
                    (sender_reports, skew_ms),
                    epoch,
                    drops,
                    swaps,
                    dups,
                )| {
                    if let Some(f) = video.first_mut() {
                        f.0 |= first_key;
                    }
                    Call {
                        video,
                        audio,
                        seq0,
                        ts0,
                        delay_ms,
                        sender_reports,
                        skew_ms,
                        epoch,
                        drops,
                        swaps,
                        dups,
                    }
                },
            )
    }

    const VIDEO: TrackId = 1;
    const AUDIO: TrackId = 2;
    const FRAME_MS: f64 = 40.0;
    const AUDIO_MS: f64 = 20.0;

    /// One packet as sent: its track, the frame (or audio packet) it belongs to, and when it
    /// would arrive undisturbed.
    #[derive(Debug, Clone)]
    struct Sent {
        track: TrackId,
        index: usize,
        seq: u16,
        ts: u32,
        marker: bool,
        payload: Vec<u8>,
        nominal_ms: f64,
    }

    /// The frames as captured (what the recording should hold), and the packets.
    fn packetize(c: &Call) -> (Vec<(bool, Vec<u8>)>, Vec<Sent>) {
        let mut frames = vec![];
        let mut sent = vec![];
        let mut seq = c.seq0.0;
        for (i, (key, pieces)) in c.video.iter().enumerate() {
            let mut data = vec![];
            for (j, piece) in pieces.iter().enumerate() {
                let mut payload = vec![if j == 0 { 0x10 } else { 0x00 }];
                if j == 0 {
                    // The VP8 frame tag: a keyframe's start code and size, or an inter frame.
                    if *key {
                        payload.extend([0x50, 0x02, 0x00, 0x9d, 0x01, 0x2a, 64, 0, 48, 0]);
                    } else {
                        payload.extend([0x51, 0x02, 0x00]);
                    }
                }
                payload.extend(piece);
                data.extend(&payload[1..]);
                sent.push(Sent {
                    track: VIDEO,
                    index: i,
                    seq,
                    ts: c.ts0.0.wrapping_add(3600 * i as u32),
                    marker: j + 1 == pieces.len(),
                    payload,
                    nominal_ms: i as f64 * FRAME_MS + c.delay_ms.0,
                });
                seq = seq.wrapping_add(1);
            }
            frames.push((*key, data));
        }
        let mut seq = c.seq0.1;
        for (i, payload) in c.audio.iter().enumerate() {
            sent.push(Sent {
                track: AUDIO,
                index: i,
                seq,
                ts: c.ts0.1.wrapping_add(960 * i as u32),
                marker: i == 0,
                payload: payload.clone(),
                nominal_ms: i as f64 * AUDIO_MS + c.delay_ms.1,
            });
            seq = seq.wrapping_add(1);
        }
        sent.sort_by(|a, b| a.nominal_ms.total_cmp(&b.nominal_ms));
        (frames, sent)
    }

    /// The order packets arrive in, with their arrival times; and which were lost.
    fn damage(c: &Call, sent: &[Sent]) -> (Vec<(usize, f64)>, Vec<bool>) {
        let mut order: Vec<usize> = (0..sent.len()).collect();
        let mut lost = vec![false; sent.len()];
        if !order.is_empty() {
            for d in &c.drops {
                let i = d.index(sent.len());
                lost[i] = true;
            }
            order.retain(|i| !lost[*i]);
        }
        if order.len() > 1 {
            for s in &c.swaps {
                let i = s.index(order.len() - 1);
                order.swap(i, i + 1);
            }
        }
        // A track's first arrival is its lowest sequence number (a packet from before the
        // first one would be taken for a duplicate, as the jitter buffer cannot know).
        for track in [VIDEO, AUDIO] {
            let positions: Vec<usize> = (0..order.len())
                .filter(|p| sent[order[*p]].track == track)
                .collect();
            if let Some(&first) = positions.first() {
                let lowest = *positions.iter().min_by_key(|p| order[**p]).unwrap();
                order.swap(first, lowest);
            }
        }
        if !order.is_empty() {
            for (d, later) in &c.dups {
                let p = d.index(order.len());
                let at = (p + later).min(order.len());
                order.insert(at, order[p]);
            }
        }
        let mut t = f64::NEG_INFINITY;
        let arrivals = order
            .into_iter()
            .map(|i| {
                t = t.max(sent[i].nominal_ms);
                (i, t)
            })
            .collect();
        (arrivals, lost)
    }

    proptest! {
        #![proptest_config(config(cases()))]

        #[test]
        fn fuzz_timeline_rebuilds_damaged_streams(c in calls()) {
            let (frames, sent) = packetize(&c);
            let (arrivals, lost) = damage(&c, &sent);
            let cfg = TimelineConfig { jitter_ms: 500.0, sr_wait_ms: 0.0, output_delay_ms: 300.0, keyframe_retry_ms: 500.0 };
            let mut tl = Timeline::new(cfg, c.epoch);
            tl.add_track(VIDEO, MediaKind::Video, 7, 90_000);
            tl.add_track(AUDIO, MediaKind::Audio, 7, 48_000);
            let kinds: HashMap<TrackId, MediaKind> = [(VIDEO, MediaKind::Video), (AUDIO, MediaKind::Audio)].into();
            if c.sender_reports {
                let at = ntp(c.epoch + c.skew_ms);
                tl.sender_report(VIDEO, at, c.ts0.0);
                tl.sender_report(AUDIO, at, c.ts0.1);
            }
            let mut out: Vec<Frame> = vec![];
            let mut mux = Mux::new();
            let end = arrivals.last().map_or(0.0, |a| a.1) + 2000.0;
            let mut next = 0;
            let mut now = 0.0;
            while now <= end {
                while next < arrivals.len() && arrivals[next].1 <= now {
                    let (i, at) = arrivals[next];
                    let s = &sent[i];
                    tl.push_rtp(s.track, pkt(s.seq, s.ts, s.marker, s.payload.clone()), at);
                    next += 1;
                }
                tl.poll(now);
                let batch = tl.release(now);
                check_released(&tl, &batch, &kinds)?;
                for f in &batch {
                    mux.write(f, kinds[&f.track])?;
                }
                out.extend(batch);
                now += 10.0;
            }
            let batch = tl.finish(now);
            check_released(&tl, &batch, &kinds)?;
            for f in &batch {
                mux.write(f, kinds[&f.track])?;
            }
            out.extend(batch);
            mux.finish()?;

            // Which frames are whole: every packet arrived.
            let mut whole = vec![true; frames.len()];
            let mut audio_whole = vec![true; c.audio.len()];
            for (i, s) in sent.iter().enumerate() {
                if lost[i] {
                    match s.track {
                        VIDEO => whole[s.index] = false,
                        _ => audio_whole[s.index] = false,
                    }
                }
            }
            // A video frame is written when it and every frame back to its keyframe are
            // whole (an inter frame needs the frames before it); audio when it arrived.
            let mut expect_video = vec![];
            let mut chain = false;
            for (i, (key, _)) in frames.iter().enumerate() {
                chain = if *key { whole[i] } else { chain && whole[i] };
                if chain {
                    expect_video.push(i);
                }
            }
            let expect_audio: Vec<usize> = (0..c.audio.len()).filter(|i| audio_whole[*i]).collect();

            // Frames come out whole, in order, each once: match them to the sent ones by time.
            let video: Vec<&Frame> = out.iter().filter(|f| f.track == VIDEO).collect();
            let audio: Vec<&Frame> = out.iter().filter(|f| f.track == AUDIO).collect();
            prop_assert_eq!(video.len(), expect_video.len(), "video frames written");
            prop_assert_eq!(audio.len(), expect_audio.len(), "audio frames written");
            for (f, i) in video.iter().zip(&expect_video) {
                prop_assert_eq!(&f.data[..], &frames[*i].1[..], "video frame {}", i);
                prop_assert_eq!(f.keyframe, frames[*i].0);
            }
            for (f, i) in audio.iter().zip(&expect_audio) {
                prop_assert_eq!(&f.data[..], &c.audio[*i][..], "audio frame {}", i);
            }
            // Times follow the capture clock across RTP wrap-around (±1 ms of rounding).
            for (got, want, step) in [(&video, &expect_video, FRAME_MS), (&audio, &expect_audio, AUDIO_MS)] {
                for k in 1..got.len() {
                    let dt = (got[k].ts_ms - got[k - 1].ts_ms) as f64;
                    let expected = (want[k] - want[k - 1]) as f64 * step;
                    prop_assert!((dt - expected).abs() <= 1.0, "{} ms between frames captured {} ms apart", dt, expected);
                }
            }
            // With sender reports, audio and video captured together are stamped together.
            if c.sender_reports {
                for (f, i) in video.iter().zip(&expect_video) {
                    if let Some(k) = expect_audio.iter().position(|a| *a == 2 * i) {
                        prop_assert!((f.ts_ms - audio[k].ts_ms).abs() <= 1, "video {} at {}, its audio at {}", i, f.ts_ms, audio[k].ts_ms);
                    }
                }
            }
            // Losses and duplicates are counted as they happened: the packets missing between
            // the first and the last that arrived, and every second copy.
            for (track, seq0) in [(VIDEO, c.seq0.0), (AUDIO, c.seq0.1)] {
                let mut by_seq: Vec<(u16, bool)> = sent
                    .iter()
                    .zip(&lost)
                    .filter(|(s, _)| s.track == track)
                    .map(|(s, l)| (s.seq.wrapping_sub(seq0), !*l))
                    .collect();
                by_seq.sort_unstable();
                let interior_lost = match (by_seq.iter().position(|p| p.1), by_seq.iter().rposition(|p| p.1)) {
                    (Some(a), Some(b)) => by_seq[a..=b].iter().filter(|p| !p.1).count(),
                    _ => 0,
                };
                let arrived = arrivals.iter().filter(|(i, _)| sent[*i].track == track).count();
                let distinct = by_seq.iter().filter(|p| p.1).count();
                let s = tl.stats(track).unwrap();
                prop_assert_eq!(s.lost_packets, interior_lost as u64, "track {} lost", track);
                prop_assert_eq!(s.duplicates, (arrived - distinct) as u64, "track {} duplicates", track);
            }
        }
    }
}
