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
                if let Some(a) = t.assembly.as_mut() {
                    a.broken = true;
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
