//! What a run measures, shared by every simulated call (one [`Metrics`] per run level).
//!
//! - **Forwarding latency**: each sending track has a [`SendLog`] — a ring of the send
//!   times of its last 4096 packets, keyed by RTP sequence number (the SFU rewrites SSRC
//!   and payload type, never the sequence number or timestamp). A receiver looks up the
//!   publisher's log by the stream id (the publisher's peer id) and records
//!   `arrival − send` in µs. Everything runs in one process, so both ends read one clock.
//! - **Loss and jitter** per received stream ([`StreamRx`]), as RTCP receiver reports do:
//!   expected = highest extended sequence number − first + 1, lost = expected − received;
//!   interarrival jitter per RFC 3550 §6.4.1.
//! - Everything else (join time, API and inference latencies, errors by code) goes into
//!   named histograms and counters.
//!
//! Histograms are hdrhistogram in µs (3 significant digits). Each has a run total and a
//! window that the sampler swaps every second for the time series.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

pub const KINDS: [&str; 2] = ["audio", "video"];

fn kind_index(kind: &str) -> usize {
    usize::from(kind == "video")
}

pub fn new_hist() -> Histogram<u64> {
    // 1 µs .. 1 hour, 3 significant digits.
    Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("static bounds")
}

/// Percentiles of a histogram of µs values, in milliseconds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Percentiles {
    pub count: u64,
    pub mean_ms: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl Percentiles {
    pub fn of(h: &Histogram<u64>) -> Self {
        if h.is_empty() {
            return Self::default();
        }
        let ms = |us: u64| us as f64 / 1000.0;
        Self {
            count: h.len(),
            mean_ms: h.mean() / 1000.0,
            p50_ms: ms(h.value_at_quantile(0.50)),
            p90_ms: ms(h.value_at_quantile(0.90)),
            p99_ms: ms(h.value_at_quantile(0.99)),
            max_ms: ms(h.max()),
        }
    }
}

/// A histogram with a run total and a current window.
pub struct Windowed {
    pub total: Histogram<u64>,
    pub window: Histogram<u64>,
}

impl Default for Windowed {
    fn default() -> Self {
        Self {
            total: new_hist(),
            window: new_hist(),
        }
    }
}

impl Windowed {
    pub fn record(&mut self, us: u64) {
        let v = us.max(1);
        let _ = self.total.record(v);
        let _ = self.window.record(v);
    }

    /// The window so far, and a fresh one.
    pub fn take_window(&mut self) -> Histogram<u64> {
        std::mem::replace(&mut self.window, new_hist())
    }
}

/// Send times of a track's recent packets: slot `seq % 4096` holds `seq << 48 | µs`.
pub struct SendLog {
    slots: Box<[AtomicU64]>,
    epoch: Instant,
}

const SLOTS: usize = 4096;
const MICROS_MASK: u64 = (1 << 48) - 1;

impl SendLog {
    pub fn new(epoch: Instant) -> Self {
        Self {
            slots: (0..SLOTS).map(|_| AtomicU64::new(0)).collect(),
            epoch,
        }
    }

    pub fn sent(&self, seq: u16, at: Instant) {
        let us = (at.saturating_duration_since(self.epoch).as_micros() as u64 & MICROS_MASK).max(1);
        self.slots[seq as usize % SLOTS].store((u64::from(seq) << 48) | us, Ordering::Relaxed);
    }

    /// Microseconds from sending `seq` to `arrival`, if `seq` is still in the log.
    pub fn latency_us(&self, seq: u16, arrival: Instant) -> Option<u64> {
        let v = self.slots[seq as usize % SLOTS].load(Ordering::Relaxed);
        if v == 0 || (v >> 48) as u16 != seq {
            return None;
        }
        let sent = v & MICROS_MASK;
        let now = arrival.saturating_duration_since(self.epoch).as_micros() as u64;
        Some(now.saturating_sub(sent))
    }
}

/// The send logs of one publisher (audio, video).
pub struct PeerSendLog {
    pub logs: [SendLog; 2],
}

impl PeerSendLog {
    pub fn new(epoch: Instant) -> Self {
        Self {
            logs: [SendLog::new(epoch), SendLog::new(epoch)],
        }
    }
    pub fn kind(&self, kind: &str) -> &SendLog {
        &self.logs[kind_index(kind)]
    }
}

/// Loss and jitter of one received stream.
#[derive(Debug, Clone)]
pub struct StreamRx {
    clock_rate: f64,
    base: Option<u64>,
    highest: u64,
    pub received: u64,
    pub bytes: u64,
    last_transit: Option<f64>,
    /// RFC 3550 interarrival jitter, in seconds.
    pub jitter_s: f64,
}

impl StreamRx {
    pub fn new(clock_rate: u32) -> Self {
        Self {
            clock_rate: f64::from(clock_rate),
            base: None,
            highest: 0,
            received: 0,
            bytes: 0,
            last_transit: None,
            jitter_s: 0.0,
        }
    }

    /// Account one packet; returns how many packets this raised "expected" by.
    pub fn on_packet(&mut self, seq: u16, rtp_ts: u32, payload_len: usize, arrival_s: f64) -> u64 {
        self.received += 1;
        self.bytes += payload_len as u64;
        let grown = match self.base {
            None => {
                // Start in the middle of the extended space so early reordering cannot underflow.
                let ext = (1u64 << 32) + u64::from(seq);
                self.base = Some(ext);
                self.highest = ext;
                1
            }
            Some(_) => {
                let ext = extend_seq(self.highest, seq);
                if ext > self.highest {
                    let d = ext - self.highest;
                    self.highest = ext;
                    d
                } else {
                    0
                }
            }
        };
        let transit = arrival_s - f64::from(rtp_ts) / self.clock_rate;
        if let Some(last) = self.last_transit {
            let mut d = (transit - last).abs();
            // A timestamp wrap (every ~13 h at 90 kHz): ignore that one difference.
            if d > 1000.0 {
                d = 0.0;
            }
            self.jitter_s += (d - self.jitter_s) / 16.0;
        }
        self.last_transit = Some(transit);
        grown
    }

    pub fn expected(&self) -> u64 {
        self.base.map_or(0, |b| self.highest - b + 1)
    }

    pub fn lost(&self) -> u64 {
        self.expected().saturating_sub(self.received)
    }
}

/// The extended sequence number closest to `highest` whose low 16 bits are `seq`.
pub fn extend_seq(highest: u64, seq: u16) -> u64 {
    let cycle = highest & !0xffff;
    let candidates =
        [cycle.wrapping_sub(0x10000), cycle, cycle + 0x10000].map(|c| c | u64::from(seq));
    *candidates
        .iter()
        .min_by_key(|c| c.abs_diff(highest))
        .expect("three candidates")
}

/// Per-kind media counters of a run.
#[derive(Default)]
pub struct MediaCounters {
    pub sent_packets: AtomicU64,
    pub sent_bytes: AtomicU64,
    pub recv_packets: AtomicU64,
    pub recv_bytes: AtomicU64,
    pub expected: AtomicU64,
    /// Received packets whose send time was found (latency recorded).
    pub matched: AtomicU64,
    /// Streams sent (one per publisher) and received (one per publisher and receiver).
    pub streams_sent: AtomicU64,
    pub streams_received: AtomicU64,
    /// Sum over the sent streams of how long each was sent, µs.
    pub sent_stream_us: AtomicU64,
}

/// Everything measured in one run level.
pub struct Metrics {
    pub epoch: Instant,
    pub media: [MediaCounters; 2],
    pub latency: [Mutex<Windowed>; 2],
    pub jitter: Mutex<Windowed>,
    pub join: Mutex<Histogram<u64>>,
    pub api: Mutex<BTreeMap<String, Histogram<u64>>>,
    pub api_window: Mutex<Histogram<u64>>,
    pub inference: Mutex<BTreeMap<String, Histogram<u64>>>,
    pub errors: Mutex<BTreeMap<String, u64>>,
    pub calls_started: AtomicU64,
    pub calls_up: AtomicU64,
    pub calls_failed: AtomicU64,
    pub calls_completed: AtomicU64,
    pub senders: Mutex<HashMap<String, Arc<PeerSendLog>>>,
}

impl Metrics {
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            epoch: Instant::now(),
            media: Default::default(),
            latency: Default::default(),
            jitter: Default::default(),
            join: Mutex::new(new_hist()),
            api: Default::default(),
            api_window: Mutex::new(new_hist()),
            inference: Default::default(),
            errors: Default::default(),
            calls_started: AtomicU64::new(0),
            calls_up: AtomicU64::new(0),
            calls_failed: AtomicU64::new(0),
            calls_completed: AtomicU64::new(0),
            senders: Default::default(),
        })
    }

    pub fn media(&self, kind: &str) -> &MediaCounters {
        &self.media[kind_index(kind)]
    }

    /// A publisher's send log, created on first use.
    pub fn send_log(&self, stream: &str) -> Arc<PeerSendLog> {
        self.senders
            .lock()
            .unwrap()
            .entry(stream.to_string())
            .or_insert_with(|| Arc::new(PeerSendLog::new(self.epoch)))
            .clone()
    }

    pub fn record_sent(&self, log: &PeerSendLog, kind: &str, seq: u16, bytes: usize, at: Instant) {
        log.kind(kind).sent(seq, at);
        let m = self.media(kind);
        m.sent_packets.fetch_add(1, Ordering::Relaxed);
        m.sent_bytes.fetch_add(bytes as u64, Ordering::Relaxed);
    }

    /// One received packet of `stream`/`kind`: latency, loss and jitter accounting.
    #[allow(clippy::too_many_arguments)]
    pub fn record_received(
        &self,
        rx: &mut StreamRx,
        log: Option<&PeerSendLog>,
        kind: &str,
        seq: u16,
        ts: u32,
        len: usize,
        arrival: Instant,
    ) {
        let m = self.media(kind);
        if rx.received == 0 {
            m.streams_received.fetch_add(1, Ordering::Relaxed);
        }
        let grown = rx.on_packet(
            seq,
            ts,
            len,
            arrival.saturating_duration_since(self.epoch).as_secs_f64(),
        );
        m.recv_packets.fetch_add(1, Ordering::Relaxed);
        m.recv_bytes.fetch_add(len as u64, Ordering::Relaxed);
        m.expected.fetch_add(grown, Ordering::Relaxed);
        if let Some(us) = log.and_then(|l| l.kind(kind).latency_us(seq, arrival)) {
            m.matched.fetch_add(1, Ordering::Relaxed);
            self.latency[kind_index(kind)].lock().unwrap().record(us);
        }
        self.jitter
            .lock()
            .unwrap()
            .record((rx.jitter_s * 1e6) as u64);
    }

    pub fn record_api(&self, endpoint: &str, us: u64) {
        let _ = self
            .api
            .lock()
            .unwrap()
            .entry(endpoint.to_string())
            .or_insert_with(new_hist)
            .record(us.max(1));
        let _ = self.api_window.lock().unwrap().record(us.max(1));
    }

    pub fn record_inference(&self, step: &str, us: u64) {
        let _ = self
            .inference
            .lock()
            .unwrap()
            .entry(step.to_string())
            .or_insert_with(new_hist)
            .record(us.max(1));
    }

    pub fn record_join(&self, us: u64) {
        let _ = self.join.lock().unwrap().record(us.max(1));
    }

    pub fn error(&self, code: &str) {
        *self
            .errors
            .lock()
            .unwrap()
            .entry(code.to_string())
            .or_default() += 1;
    }

    /// Forwarding latency of both kinds together (run total).
    pub fn latency_total(&self) -> Histogram<u64> {
        let mut h = new_hist();
        for l in &self.latency {
            let _ = h.add(&l.lock().unwrap().total);
        }
        h
    }

    /// Forwarding latency of both kinds in the current window; starts a new window.
    pub fn take_latency_window(&self) -> Histogram<u64> {
        let mut h = new_hist();
        for l in &self.latency {
            let _ = h.add(l.lock().unwrap().take_window());
        }
        h
    }

    /// Sums over both kinds: (expected, received) packets.
    pub fn loss_counts(&self) -> (u64, u64) {
        self.media.iter().fold((0, 0), |(e, r), m| {
            (
                e + m.expected.load(Ordering::Relaxed),
                r + m.recv_packets.load(Ordering::Relaxed),
            )
        })
    }
}

/// Lost fraction from (expected, received); 0 when nothing was expected.
pub fn loss_ratio(expected: u64, received: u64) -> f64 {
    if expected == 0 {
        0.0
    } else {
        expected.saturating_sub(received) as f64 / expected as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn extended_sequence_numbers_wrap_forwards_and_backwards() {
        let base = 1u64 << 32;
        assert_eq!(extend_seq(base | 0xfffe, 0x0001), base + 0x10001);
        assert_eq!(extend_seq(base + 0x10001, 0xffff), base | 0xffff);
        assert_eq!(extend_seq(base | 100, 101), base | 101);
    }

    #[test]
    fn loss_counts_gaps_across_a_wrap() {
        let mut rx = StreamRx::new(90_000);
        for (i, seq) in [65_533u16, 65_534, 65_535, 1, 2].into_iter().enumerate() {
            rx.on_packet(seq, i as u32 * 3000, 100, i as f64 / 30.0);
        }
        // 65533..=2 is 6 packets (65533, 65534, 65535, 0, 1, 2); 0 is missing.
        assert_eq!(rx.expected(), 6);
        assert_eq!(rx.lost(), 1);
        assert_eq!(rx.bytes, 500);
    }

    #[test]
    fn reordered_packets_are_not_lost() {
        let mut rx = StreamRx::new(48_000);
        for seq in [10u16, 12, 11, 13] {
            rx.on_packet(seq, u32::from(seq) * 960, 10, f64::from(seq) * 0.02);
        }
        assert_eq!(rx.expected(), 4);
        assert_eq!(rx.lost(), 0);
    }

    #[test]
    fn jitter_is_zero_for_perfectly_paced_packets_and_grows_with_variation() {
        let mut even = StreamRx::new(48_000);
        let mut uneven = StreamRx::new(48_000);
        for i in 0..100u32 {
            even.on_packet(i as u16, i * 960, 10, f64::from(i) * 0.02);
            let wobble = if i % 2 == 0 { 0.005 } else { 0.0 };
            uneven.on_packet(i as u16, i * 960, 10, f64::from(i) * 0.02 + wobble);
        }
        assert!(even.jitter_s < 1e-9, "{}", even.jitter_s);
        // Alternating 5 ms offsets: |D| = 5 ms every packet → jitter converges to 5 ms.
        assert!(
            (uneven.jitter_s - 0.005).abs() < 0.0005,
            "{}",
            uneven.jitter_s
        );
    }

    #[test]
    fn send_log_matches_only_the_same_sequence_number() {
        let epoch = Instant::now();
        let log = SendLog::new(epoch);
        let t = epoch + Duration::from_millis(10);
        log.sent(5, t);
        assert_eq!(
            log.latency_us(5, t + Duration::from_micros(1500)),
            Some(1500)
        );
        // Same slot, different sequence number (4096 later): not a match.
        assert_eq!(log.latency_us(5 + 4096, t), None);
        assert_eq!(log.latency_us(6, t), None);
    }

    #[test]
    fn percentiles_are_in_milliseconds() {
        let mut h = new_hist();
        for us in 1..=1000u64 {
            h.record(us * 100).unwrap();
        }
        let p = Percentiles::of(&h);
        assert_eq!(p.count, 1000);
        assert!((p.p50_ms - 50.0).abs() < 0.1, "{p:?}");
        assert!((p.p99_ms - 99.0).abs() < 0.1, "{p:?}");
        assert!((p.max_ms - 100.0).abs() < 0.1, "{p:?}");
        assert_eq!(Percentiles::of(&new_hist()), Percentiles::default());
    }

    #[test]
    fn metrics_match_received_packets_to_their_send_times() {
        let m = Metrics::new();
        let log = m.send_log("pub-1");
        let t0 = m.epoch + Duration::from_millis(1);
        for seq in 1..=10u16 {
            m.record_sent(&log, "video", seq, 1000, t0);
        }
        let mut rx = StreamRx::new(90_000);
        for seq in [1u16, 2, 3, 5, 6, 7, 8, 9, 10] {
            m.record_received(
                &mut rx,
                Some(&log),
                "video",
                seq,
                0,
                1000,
                t0 + Duration::from_millis(2),
            );
        }
        let (e, r) = m.loss_counts();
        assert_eq!((e, r), (10, 9));
        assert!((loss_ratio(e, r) - 0.1).abs() < 1e-9);
        let lat = Percentiles::of(&m.latency_total());
        assert_eq!(lat.count, 9);
        assert!((lat.p99_ms - 2.0).abs() < 0.01, "{lat:?}");
        assert_eq!(loss_ratio(0, 0), 0.0);
    }
}
