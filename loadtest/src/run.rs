//! Running a load level: calls started at the ramp rate, held for the duration, a sampler
//! that scrapes the servers' `/metrics` and takes the latency windows every second (the
//! time series and the live progress line), and the level's [`LevelReport`] at the end.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

use crate::api::ApiClient;
use crate::call::{run_call, CallCtx, CallProfile, StepImages};
use crate::media::MediaSamples;
use crate::prom::ServerSnapshot;
use crate::relay::RelayRun;
use crate::report::{
    Baseline, Bitrate, InferenceServer, LevelReport, Loss, ServerUsage, Slo, TimePoint,
};
use crate::stats::{loss_ratio, Metrics, Percentiles, KINDS};

/// Everything a level needs besides its number of calls.
pub struct RunConfig {
    pub targets: Vec<String>,
    pub api_key: String,
    pub profile: Arc<CallProfile>,
    pub samples: Arc<MediaSamples>,
    pub images: Option<Arc<StepImages>>,
    /// New calls per second while ramping up.
    pub ramp: f64,
    /// How long all calls are held after the ramp.
    pub duration: Duration,
    pub slo: Slo,
    /// Show the progress bar (else a plain line every 5 s).
    pub interactive: bool,
}

impl RunConfig {
    pub fn ramp_time(&self, calls: u64) -> Duration {
        Duration::from_secs_f64(calls as f64 / self.ramp.max(0.001))
    }
}

/// The summed `/metrics` of every target; None when one cannot be read.
pub async fn scrape(clients: &[ApiClient]) -> Option<ServerSnapshot> {
    let mut total = ServerSnapshot::default();
    for c in clients {
        let text = c.get_text("/metrics").await.ok()?;
        total.add(&ServerSnapshot::from_text(&text));
    }
    Some(total)
}

/// CPU seconds of this process (utime + stime) and of the whole host (all but idle and
/// iowait), from /proc; (0, 0) where /proc is missing.
pub fn local_cpu_seconds() -> (f64, f64) {
    let tick = 100.0; // USER_HZ on Linux
    let own = std::fs::read_to_string("/proc/self/stat")
        .ok()
        .map(|s| {
            let f: Vec<f64> = s
                .rsplit(')')
                .next()
                .unwrap_or("")
                .split_whitespace()
                .map(|v| v.parse().unwrap_or(0.0))
                .collect();
            (f.get(11).unwrap_or(&0.0) + f.get(12).unwrap_or(&0.0)) / tick
        })
        .unwrap_or(0.0);
    let host = std::fs::read_to_string("/proc/stat")
        .ok()
        .and_then(|s| {
            let f: Vec<f64> = s
                .lines()
                .next()?
                .split_whitespace()
                .skip(1)
                .map(|v| v.parse().unwrap_or(0.0))
                .collect();
            let busy: f64 =
                f.iter().take(8).sum::<f64>() - f.get(3).unwrap_or(&0.0) - f.get(4).unwrap_or(&0.0);
            Some(busy / tick)
        })
        .unwrap_or(0.0);
    (own, host)
}

struct Sampler {
    timeline: Vec<TimePoint>,
    local: (Instant, (f64, f64)),
    last: Option<(Instant, ServerSnapshot)>,
    last_loss: (u64, u64),
    cpu: Vec<f64>,
    rss_peak: f64,
}

impl Sampler {
    async fn sample(&mut self, clients: &[ApiClient], m: &Metrics, t0: Instant) -> TimePoint {
        let now = Instant::now();
        let snap = scrape(clients).await;
        let mut p = TimePoint {
            t_s: now.duration_since(t0).as_secs_f64(),
            calls_up: m.calls_up.load(Ordering::Relaxed),
            ..Default::default()
        };
        let lat = Percentiles::of(&m.take_latency_window());
        p.fwd_p50_ms = lat.p50_ms;
        p.fwd_p99_ms = lat.p99_ms;
        let api = std::mem::replace(&mut *m.api_window.lock().unwrap(), crate::stats::new_hist());
        p.api_p99_ms = Percentiles::of(&api).p99_ms;
        let (e, r) = m.loss_counts();
        p.loss_pct = loss_ratio(
            e.saturating_sub(self.last_loss.0),
            r.saturating_sub(self.last_loss.1),
        ) * 100.0;
        self.last_loss = (e, r);
        let local = local_cpu_seconds();
        let dt = now.duration_since(self.local.0).as_secs_f64();
        if dt > 0.0 {
            p.loadgen_cpu_cores = ((local.0 - self.local.1 .0) / dt).max(0.0);
            p.host_cpu_cores = ((local.1 - self.local.1 .1) / dt).max(0.0);
        }
        self.local = (now, local);
        if let Some(snap) = snap {
            if let Some((t, prev)) = &self.last {
                let dt = now.duration_since(*t).as_secs_f64();
                if dt > 0.0 {
                    p.cpu_cores = ((snap.cpu_seconds - prev.cpu_seconds) / dt).max(0.0);
                    self.cpu.push(p.cpu_cores);
                }
            }
            p.rss_mb = snap.resident_bytes / 1e6;
            self.rss_peak = self.rss_peak.max(p.rss_mb);
            self.last = Some((now, snap));
        }
        self.timeline.push(p.clone());
        p
    }
}

fn progress_line(calls: u64, m: &Metrics, p: &TimePoint) -> String {
    format!(
        "calls up {}/{} failed {} | fwd p50 {:.1} ms p99 {:.1} ms | loss {:.2}% | api p99 {:.0} ms | cpu: server {:.2}, loadgen {:.2}, host {:.2} cores | server {:.0} MB",
        p.calls_up,
        calls,
        m.calls_failed.load(Ordering::Relaxed),
        p.fwd_p50_ms,
        p.fwd_p99_ms,
        p.loss_pct,
        p.api_p99_ms,
        p.cpu_cores,
        p.loadgen_cpu_cores,
        p.host_cpu_cores,
        p.rss_mb
    )
}

/// Run `calls` concurrent calls: ramp, hold, hang up; measure; judge against the SLOs.
pub async fn run_level(cfg: &RunConfig, calls: u64) -> LevelReport {
    let m = Metrics::new();
    let clients: Vec<ApiClient> = cfg
        .targets
        .iter()
        .map(|t| ApiClient::new(t, &cfg.api_key))
        .collect();
    let t0 = Instant::now();
    let ramp = cfg.ramp_time(calls);
    let end_at = t0 + ramp + cfg.duration;

    let bar = if cfg.interactive {
        let b = ProgressBar::new(calls);
        b.set_style(
            ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:20} {msg}")
                .expect("static template"),
        );
        b
    } else {
        ProgressBar::hidden()
    };

    // The sampler: every second until the calls are done.
    let sampler = Arc::new(tokio::sync::Mutex::new(Sampler {
        timeline: vec![],
        local: (Instant::now(), local_cpu_seconds()),
        last: scrape(&clients).await.map(|s| (Instant::now(), s)),
        last_loss: (0, 0),
        cpu: vec![],
        rss_peak: 0.0,
    }));
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sampler_task = {
        let (sampler, clients, m, done, bar) = (
            sampler.clone(),
            clients.clone(),
            m.clone(),
            done.clone(),
            bar.clone(),
        );
        let interactive = cfg.interactive;
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            // The first tick is immediate: skip it, so every sample covers a whole second
            // (CPU counters move in 10 ms steps).
            tick.tick().await;
            let mut n = 0u64;
            while !done.load(Ordering::Relaxed) {
                tick.tick().await;
                let p = sampler.lock().await.sample(&clients, &m, t0).await;
                bar.set_position(p.calls_up);
                bar.set_message(progress_line(calls, &m, &p));
                if !interactive && n.is_multiple_of(5) && n > 0 {
                    eprintln!("[{:>5.0}s] {}", p.t_s, progress_line(calls, &m, &p));
                }
                n += 1;
            }
        })
    };

    // The steady window: all calls up (ramp + 2 s to settle) until 0.5 s before hang-up.
    let steady = Arc::new(Mutex::new(
        None::<(f64, ServerSnapshot, u64, f64, ServerSnapshot, u64)>,
    ));
    let steady_task = {
        let (clients, m, steady) = (clients.clone(), m.clone(), steady.clone());
        let start = t0 + ramp + Duration::from_secs(2).min(cfg.duration / 4);
        let stop = end_at - Duration::from_millis(500).min(cfg.duration / 4);
        tokio::spawn(async move {
            tokio::time::sleep_until(start.into()).await;
            let delivered = |m: &Metrics| {
                m.media
                    .iter()
                    .map(|k| k.recv_packets.load(Ordering::Relaxed))
                    .sum::<u64>()
            };
            let (Some(a), da, ta) = (
                scrape(&clients).await,
                delivered(&m),
                t0.elapsed().as_secs_f64(),
            ) else {
                return;
            };
            tokio::time::sleep_until(stop.into()).await;
            let (Some(b), db, tb) = (
                scrape(&clients).await,
                delivered(&m),
                t0.elapsed().as_secs_f64(),
            ) else {
                return;
            };
            *steady.lock().unwrap() = Some((ta, a, da, tb, b, db));
        })
    };
    let before = scrape(&clients).await.unwrap_or_default();
    let inference_before = before.inference.clone();

    let mut tasks = Vec::new();
    for i in 0..calls as usize {
        let start = t0 + Duration::from_secs_f64(i as f64 / cfg.ramp.max(0.001));
        tokio::time::sleep_until(start.into()).await;
        let ctx = CallCtx {
            index: i,
            api: clients[i % clients.len()].clone(),
            profile: cfg.profile.clone(),
            samples: cfg.samples.clone(),
            images: cfg.images.clone(),
            metrics: m.clone(),
            end_at,
        };
        tasks.push(tokio::spawn(run_call(ctx)));
    }
    for t in tasks {
        let _ = t.await;
    }
    let _ = steady_task.await;
    done.store(true, Ordering::Relaxed);
    let _ = sampler_task.await;
    bar.finish_and_clear();
    let after = scrape(&clients).await.unwrap_or_default();
    let inference_after = after.inference.clone();

    let s = sampler.lock().await;
    let mut server = ServerUsage {
        cpu_cores_avg: if s.cpu.is_empty() {
            0.0
        } else {
            s.cpu.iter().sum::<f64>() / s.cpu.len() as f64
        },
        cpu_cores_peak: s.cpu.iter().copied().fold(0.0, f64::max),
        rss_mb_peak: s.rss_peak,
        received_packets: (after.sfu_received_packets - before.sfu_received_packets).max(0.0),
        recorded_packets: (after.recorded_packets - before.recorded_packets).max(0.0),
        recording_dropped_packets: (after.recording_dropped_packets
            - before.recording_dropped_packets)
            .max(0.0),
        ..Default::default()
    };
    if let Some((ta, a, da, tb, b, db)) = steady.lock().unwrap().take() {
        server.steady_secs = tb - ta;
        server.steady_cpu_seconds = (b.cpu_seconds - a.cpu_seconds).max(0.0);
        server.steady_forwarded_packets =
            (b.sfu_forwarded_packets - a.sfu_forwarded_packets).max(0.0);
        server.steady_delivered_packets = db.saturating_sub(da) as f64;
        if server.steady_delivered_packets > 0.0 {
            server.cpu_us_per_packet =
                server.steady_cpu_seconds * 1e6 / server.steady_delivered_packets;
        }
    }
    for (engine, (sum, count)) in &inference_after {
        let (s0, c0) = inference_before.get(engine).copied().unwrap_or((0.0, 0.0));
        let n = count - c0;
        if n > 0.0 {
            server.inference.insert(
                engine.clone(),
                InferenceServer {
                    count: n,
                    mean_ms: (sum - s0) * 1000.0 / n,
                },
            );
        }
    }
    let mut level = level_report(
        &m,
        calls,
        t0.elapsed().as_secs_f64(),
        server,
        s.timeline.clone(),
    );
    // Averages over the seconds with calls up (the ramp-down tail would dilute them).
    let busy: Vec<&TimePoint> = s.timeline.iter().filter(|p| p.calls_up > 0).collect();
    let avg = |f: fn(&TimePoint) -> f64| {
        if busy.is_empty() {
            0.0
        } else {
            busy.iter().map(|p| f(p)).sum::<f64>() / busy.len() as f64
        }
    };
    level.loadgen_cpu_cores_avg = avg(|p| p.loadgen_cpu_cores);
    level.host_cpu_cores_avg = avg(|p| p.host_cpu_cores);
    level.slo = cfg.slo.evaluate(&level);
    level
}

/// The level's numbers from its [`Metrics`].
pub fn level_report(
    m: &Metrics,
    calls: u64,
    secs: f64,
    server: ServerUsage,
    timeline: Vec<TimePoint>,
) -> LevelReport {
    let (expected, received) = m.loss_counts();
    // Bit rates per stream over the time the streams were sent; a received stream is a
    // (publisher, receiver) pair, so with more than two participants there are more of them.
    let mut bitrate = BTreeMap::new();
    for kind in KINDS {
        let k = m.media(kind);
        let (sent, recv) = (
            k.streams_sent.load(Ordering::Relaxed),
            k.streams_received.load(Ordering::Relaxed),
        );
        let stream_secs = k.sent_stream_us.load(Ordering::Relaxed) as f64 / 1e6;
        if sent == 0 || stream_secs <= 0.0 {
            continue;
        }
        let per_stream_secs = stream_secs / sent as f64;
        let kbps = |bytes: u64, streams: u64| {
            if streams == 0 {
                0.0
            } else {
                bytes as f64 * 8.0 / 1000.0 / per_stream_secs / streams as f64
            }
        };
        bitrate.insert(
            kind.to_string(),
            Bitrate {
                streams_sent: sent,
                sent_kbps_per_stream: kbps(k.sent_bytes.load(Ordering::Relaxed), sent),
                streams_received: recv,
                received_kbps_per_stream: kbps(k.recv_bytes.load(Ordering::Relaxed), recv),
            },
        );
    }
    LevelReport {
        calls,
        calls_started: m.calls_started.load(Ordering::Relaxed),
        calls_up_peak: timeline.iter().map(|p| p.calls_up).max().unwrap_or(0),
        calls_failed: m.calls_failed.load(Ordering::Relaxed),
        calls_completed: m.calls_completed.load(Ordering::Relaxed),
        duration_s: secs,
        join: Percentiles::of(&m.join.lock().unwrap()),
        forwarding_latency: Percentiles::of(&m.latency_total()),
        forwarding_latency_by_kind: KINDS
            .iter()
            .zip(&m.latency)
            .filter(|(_, h)| !h.lock().unwrap().total.is_empty())
            .map(|(k, h)| (k.to_string(), Percentiles::of(&h.lock().unwrap().total)))
            .collect(),
        latency_matched_packets: m
            .media
            .iter()
            .map(|k| k.matched.load(Ordering::Relaxed))
            .sum(),
        loss: Loss {
            expected,
            received,
            lost: expected.saturating_sub(received),
            pct: loss_ratio(expected, received) * 100.0,
        },
        jitter: Percentiles::of(&m.jitter.lock().unwrap().total),
        bitrate,
        api: m
            .api
            .lock()
            .unwrap()
            .iter()
            .map(|(k, h)| (k.clone(), Percentiles::of(h)))
            .collect(),
        inference: m
            .inference
            .lock()
            .unwrap()
            .iter()
            .map(|(k, h)| (k.clone(), Percentiles::of(h)))
            .collect(),
        errors: m.errors.lock().unwrap().clone(),
        server,
        loadgen_cpu_cores_avg: 0.0,
        host_cpu_cores_avg: 0.0,
        timeline,
        slo: Default::default(),
    }
}

/// The relay baseline beside a level of the SFU (same calls, same clips).
pub fn baseline(
    level: &LevelReport,
    relay: &RelayRun,
    relay_metrics: &Metrics,
    calls: u64,
) -> Baseline {
    let (e, r) = relay_metrics.loss_counts();
    let delivered: u64 = relay_metrics
        .media
        .iter()
        .map(|k| k.recv_packets.load(Ordering::Relaxed))
        .sum();
    let relay_us = if delivered == 0 {
        0.0
    } else {
        relay.cpu_seconds * 1e6 / delivered as f64
    };
    let sfu_us = level.server.cpu_us_per_packet;
    Baseline {
        calls,
        duration_s: relay.secs,
        relay_packets: relay.packets,
        relay_cpu_seconds: relay.cpu_seconds,
        relay_cpu_us_per_packet: relay_us,
        relay_latency: Percentiles::of(&relay_metrics.latency_total()),
        relay_loss_pct: loss_ratio(e, r) * 100.0,
        sfu_cpu_us_per_packet: sfu_us,
        sfu_latency: level.forwarding_latency.clone(),
        cost_ratio: if relay_us > 0.0 {
            sfu_us / relay_us
        } else {
            0.0
        },
    }
}

/// Whether to draw the progress bar: stderr is a terminal.
pub fn interactive() -> bool {
    std::io::stderr().is_terminal()
}
