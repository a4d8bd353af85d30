//! The report: its JSON shape (validated against `loadtest/report.schema.json`), the SLO
//! verdict of a level, and the capacity search's choice of the next level. No timing in
//! here — all of it is plain functions of the numbers, so it is unit-tested.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::stats::Percentiles;

pub const SCHEMA_ID: &str = "vkyc-loadtest/report/v1";
/// The JSON Schema of [`Report`].
pub const SCHEMA: &str = include_str!("../report.schema.json");

/// SLO thresholds; a level passes when every measured value is within its limit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Slo {
    /// p99 media forwarding latency through the server (send → receive), ms.
    pub forwarding_p99_ms: f64,
    /// Lost media packets, % of expected.
    pub loss_pct: f64,
    /// p99 join time (token issued → first remote media packet), ms.
    pub join_p99_ms: f64,
    /// Calls that failed (could not join, no media, an API error), % of calls started.
    pub failed_calls_pct: f64,
    /// p99 latency of the plain REST endpoints (not the inference steps), ms.
    pub api_p99_ms: f64,
}

impl Default for Slo {
    fn default() -> Self {
        Self {
            forwarding_p99_ms: 50.0,
            loss_pct: 1.0,
            join_p99_ms: 5000.0,
            failed_calls_pct: 1.0,
            api_p99_ms: 2000.0,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Violation {
    pub slo: String,
    pub limit: f64,
    pub measured: f64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SloResult {
    pub passed: bool,
    pub violations: Vec<Violation>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Loss {
    pub expected: u64,
    pub received: u64,
    pub lost: u64,
    pub pct: f64,
}

/// Average RTP payload bit rate per stream, sent and received, kbit/s.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Bitrate {
    pub streams_sent: u64,
    pub sent_kbps_per_stream: f64,
    pub streams_received: u64,
    pub received_kbps_per_stream: f64,
}

/// The server side of a level, from `/metrics`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ServerUsage {
    /// CPU used by the server process(es), in cores (1.0 = one core busy).
    pub cpu_cores_avg: f64,
    pub cpu_cores_peak: f64,
    pub rss_mb_peak: f64,
    /// Over the steady window (all calls up): CPU seconds and packets the SFU wrote.
    pub steady_secs: f64,
    pub steady_cpu_seconds: f64,
    pub steady_forwarded_packets: f64,
    /// Packets the peers received in the steady window.
    pub steady_delivered_packets: f64,
    /// CPU µs per delivered packet in the steady window.
    pub cpu_us_per_packet: f64,
    /// Server-side inference: engine → mean ms and count over the level.
    pub inference: BTreeMap<String, InferenceServer>,
    /// Over the whole level: RTP packets the SFU received from publishers, packets it handed
    /// to call recorders, and packets a recorder dropped (its queue full). With recording on,
    /// recorded = received (muted tracks aside) and dropped = 0 is the goal.
    #[serde(default)]
    pub received_packets: f64,
    #[serde(default)]
    pub recorded_packets: f64,
    #[serde(default)]
    pub recording_dropped_packets: f64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct InferenceServer {
    pub count: f64,
    pub mean_ms: f64,
}

/// One sample of the time series (every second).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TimePoint {
    pub t_s: f64,
    pub calls_up: u64,
    pub fwd_p50_ms: f64,
    pub fwd_p99_ms: f64,
    pub loss_pct: f64,
    pub api_p99_ms: f64,
    pub cpu_cores: f64,
    pub rss_mb: f64,
    /// CPU of the load test's own process, and of the whole host (all processes), in cores.
    pub loadgen_cpu_cores: f64,
    pub host_cpu_cores: f64,
}

/// One load level: `calls` concurrent calls for the level's duration.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LevelReport {
    pub calls: u64,
    pub calls_started: u64,
    pub calls_up_peak: u64,
    pub calls_failed: u64,
    pub calls_completed: u64,
    pub duration_s: f64,
    pub join: Percentiles,
    pub forwarding_latency: Percentiles,
    pub forwarding_latency_by_kind: BTreeMap<String, Percentiles>,
    /// Received packets whose send time was found (the latency sample size).
    pub latency_matched_packets: u64,
    pub loss: Loss,
    pub jitter: Percentiles,
    pub bitrate: BTreeMap<String, Bitrate>,
    pub api: BTreeMap<String, Percentiles>,
    /// Client-side latency of the steps that run inference (face, document).
    pub inference: BTreeMap<String, Percentiles>,
    pub errors: BTreeMap<String, u64>,
    pub server: ServerUsage,
    /// Average CPU of the load generator and of the whole host over the level, in cores:
    /// when the host is saturated, the generator is part of what broke.
    pub loadgen_cpu_cores_avg: f64,
    pub host_cpu_cores_avg: f64,
    pub timeline: Vec<TimePoint>,
    pub slo: SloResult,
}

/// The minimal UDP relay run beside the SFU, and the cost ratio.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Baseline {
    pub calls: u64,
    pub duration_s: f64,
    pub relay_packets: u64,
    pub relay_cpu_seconds: f64,
    pub relay_cpu_us_per_packet: f64,
    pub relay_latency: Percentiles,
    pub relay_loss_pct: f64,
    pub sfu_cpu_us_per_packet: f64,
    pub sfu_latency: Percentiles,
    /// SFU CPU per packet ÷ relay CPU per packet.
    pub cost_ratio: f64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Capacity {
    pub largest_passing_calls: Option<u64>,
    pub first_failing_calls: Option<u64>,
    pub calls_per_core: Option<f64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Machine {
    pub cores: u64,
    pub cpu_model: String,
    pub os: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Profile {
    pub participants: u64,
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    pub video_kbps: u32,
    pub audio: bool,
    pub steps: Vec<String>,
    pub ramp_calls_per_sec: f64,
    pub duration_s: f64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub schema: String,
    pub tool_version: String,
    pub started_at: String,
    pub mode: String,
    pub targets: Vec<String>,
    pub machine: Machine,
    pub profile: Profile,
    pub slo: Slo,
    pub levels: Vec<LevelReport>,
    pub capacity: Option<Capacity>,
    pub baseline: Option<Baseline>,
    pub passed: bool,
}

impl Slo {
    /// The verdict on a level's numbers.
    pub fn evaluate(&self, l: &LevelReport) -> SloResult {
        let mut violations = Vec::new();
        let mut check = |slo: &str, limit: f64, measured: f64| {
            if measured > limit || measured.is_nan() {
                violations.push(Violation {
                    slo: slo.to_string(),
                    limit,
                    measured,
                });
            }
        };
        check(
            "forwarding_p99_ms",
            self.forwarding_p99_ms,
            l.forwarding_latency.p99_ms,
        );
        check("loss_pct", self.loss_pct, l.loss.pct);
        check("join_p99_ms", self.join_p99_ms, l.join.p99_ms);
        let failed = if l.calls_started == 0 {
            100.0
        } else {
            l.calls_failed as f64 * 100.0 / l.calls_started as f64
        };
        check("failed_calls_pct", self.failed_calls_pct, failed);
        let api_p99 = l.api.values().map(|p| p.p99_ms).fold(0.0, f64::max);
        check("api_p99_ms", self.api_p99_ms, api_p99);
        // No media measured at all is a failure, not a pass by default.
        if l.forwarding_latency.count == 0 {
            violations.push(Violation {
                slo: "media_received".into(),
                limit: 1.0,
                measured: 0.0,
            });
        }
        SloResult {
            passed: violations.is_empty(),
            violations,
        }
    }
}

/// Step the load up until a level fails, then bisect between the last pass and the first
/// failure down to `resolution` calls.
#[derive(Debug, Clone)]
pub struct CapacitySearch {
    pub start: u64,
    pub step: u64,
    pub max: u64,
    pub resolution: u64,
    pub results: BTreeMap<u64, bool>,
}

impl CapacitySearch {
    pub fn new(start: u64, step: u64, max: u64, resolution: u64) -> Self {
        Self {
            start: start.max(1),
            step: step.max(1),
            max: max.max(start),
            resolution: resolution.max(1),
            results: BTreeMap::new(),
        }
    }

    pub fn record(&mut self, calls: u64, passed: bool) {
        self.results.insert(calls, passed);
    }

    pub fn largest_pass(&self) -> Option<u64> {
        // The largest passing level below the first failure.
        let fail = self.first_fail();
        self.results
            .iter()
            .filter(|&(&c, &p)| p && fail.is_none_or(|f| c < f))
            .map(|(&c, _)| c)
            .max()
    }

    pub fn first_fail(&self) -> Option<u64> {
        self.results.iter().find(|(_, &p)| !p).map(|(&c, _)| c)
    }

    /// The next level to run, or None when the search is over.
    pub fn next_level(&self) -> Option<u64> {
        match (self.largest_pass(), self.first_fail()) {
            (None, None) => Some(self.start),
            (Some(p), None) => {
                let n = (p + self.step).min(self.max);
                (n > p).then_some(n)
            }
            (None, Some(f)) => {
                // Even the first level failed: try lower, down to one call.
                let n = f / 2;
                (n >= 1 && f > 1 && !self.results.contains_key(&n)).then_some(n)
            }
            (Some(p), Some(f)) => {
                let n = p + (f - p) / 2;
                (f - p > self.resolution && n > p && !self.results.contains_key(&n)).then_some(n)
            }
        }
    }
}

impl Report {
    /// The whole run passes when every level it was asked to run passes (in capacity mode:
    /// when some level passed).
    pub fn finish(&mut self) {
        self.passed = match &self.capacity {
            Some(c) => c.largest_passing_calls.is_some(),
            None => !self.levels.is_empty() && self.levels.iter().all(|l| l.slo.passed),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pct(p99: f64) -> Percentiles {
        Percentiles {
            count: 100,
            mean_ms: p99 / 2.0,
            p50_ms: p99 / 2.0,
            p90_ms: p99 * 0.8,
            p99_ms: p99,
            max_ms: p99 * 1.2,
        }
    }

    fn good_level() -> LevelReport {
        LevelReport {
            calls: 10,
            calls_started: 10,
            calls_up_peak: 10,
            calls_completed: 10,
            forwarding_latency: pct(5.0),
            join: pct(800.0),
            loss: Loss {
                expected: 1000,
                received: 999,
                lost: 1,
                pct: 0.1,
            },
            api: [("POST /v1/sessions".to_string(), pct(20.0))].into(),
            ..Default::default()
        }
    }

    #[test]
    fn a_level_within_all_limits_passes() {
        let r = Slo::default().evaluate(&good_level());
        assert!(r.passed, "{r:?}");
    }

    #[test]
    fn each_broken_threshold_is_named() {
        let mut l = good_level();
        l.forwarding_latency = pct(51.0);
        l.loss.pct = 1.5;
        l.calls_failed = 1;
        l.api
            .insert("POST /v1/sessions/{id}/tokens".into(), pct(2500.0));
        let r = Slo::default().evaluate(&l);
        assert!(!r.passed);
        let names: Vec<&str> = r.violations.iter().map(|v| v.slo.as_str()).collect();
        assert_eq!(
            names,
            [
                "forwarding_p99_ms",
                "loss_pct",
                "failed_calls_pct",
                "api_p99_ms"
            ]
        );
        assert_eq!(r.violations[0].measured, 51.0);
        assert_eq!(r.violations[0].limit, 50.0);
    }

    #[test]
    fn no_media_or_no_calls_fails() {
        let mut l = good_level();
        l.forwarding_latency = Percentiles::default();
        assert!(!Slo::default().evaluate(&l).passed);
        let mut l = good_level();
        l.calls_started = 0;
        assert!(!Slo::default().evaluate(&l).passed);
    }

    /// Runs a search against a node whose real capacity is `capacity` calls: the levels it
    /// ran, and the search.
    fn search(mut s: CapacitySearch, capacity: u64) -> (Vec<u64>, CapacitySearch) {
        let mut ran = Vec::new();
        while let Some(n) = s.next_level() {
            ran.push(n);
            s.record(n, n <= capacity);
        }
        (ran, s)
    }

    #[test]
    fn capacity_search_steps_up_then_bisects() {
        // The real capacity is 13 calls.
        let (ran, s) = search(CapacitySearch::new(4, 4, 100, 1), 13);
        assert_eq!(ran, [4, 8, 12, 16, 14, 13]);
        assert_eq!(s.largest_pass(), Some(13));
        assert_eq!(s.first_fail(), Some(14));
    }

    #[test]
    fn capacity_search_stops_at_max_and_when_nothing_passes() {
        let (_, s) = search(CapacitySearch::new(5, 5, 12, 1), u64::MAX);
        assert_eq!(s.largest_pass(), Some(12));
        assert_eq!(s.first_fail(), None);

        let (ran, s) = search(CapacitySearch::new(8, 4, 50, 1), 0);
        assert_eq!(ran, [8, 4, 2, 1]);
        assert_eq!(s.largest_pass(), None);
    }

    #[test]
    fn capacity_search_resolution_ends_the_bisection_early() {
        let (ran, s) = search(CapacitySearch::new(10, 10, 100, 5), 33);
        // 30 passed, 35 failed: a gap of 5 is the resolution asked for.
        assert_eq!(ran, [10, 20, 30, 40, 35]);
        assert_eq!(s.largest_pass(), Some(30));
    }

    fn validate(v: &serde_json::Value) -> Vec<String> {
        let schema: serde_json::Value = serde_json::from_str(SCHEMA).unwrap();
        let validator = jsonschema::validator_for(&schema).unwrap();
        validator
            .iter_errors(v)
            .map(|e| format!("{e} at {}", e.instance_path()))
            .collect()
    }

    fn full_report() -> Report {
        let mut level = good_level();
        level
            .forwarding_latency_by_kind
            .insert("video".into(), pct(6.0));
        level.bitrate.insert(
            "video".into(),
            Bitrate {
                streams_sent: 20,
                sent_kbps_per_stream: 500.0,
                streams_received: 20,
                received_kbps_per_stream: 499.0,
            },
        );
        level.inference.insert("face".into(), pct(300.0));
        level.errors.insert("no_media".into(), 1);
        level.server.inference.insert(
            "face".into(),
            InferenceServer {
                count: 10.0,
                mean_ms: 80.0,
            },
        );
        level.timeline.push(TimePoint {
            t_s: 1.0,
            calls_up: 3,
            fwd_p50_ms: 1.0,
            fwd_p99_ms: 4.0,
            api_p99_ms: 9.0,
            cpu_cores: 0.5,
            rss_mb: 60.0,
            ..Default::default()
        });
        level.slo = Slo::default().evaluate(&level);
        let mut r = Report {
            schema: SCHEMA_ID.into(),
            tool_version: "0.1.0".into(),
            started_at: "2026-11-30T10:00:00Z".into(),
            mode: "capacity".into(),
            targets: vec!["http://127.0.0.1:8080".into()],
            machine: Machine {
                cores: 2,
                cpu_model: "x".into(),
                os: "linux".into(),
            },
            profile: Profile {
                participants: 2,
                width: 640,
                height: 360,
                fps: 30,
                video_kbps: 500,
                audio: true,
                steps: vec!["face".into()],
                ramp_calls_per_sec: 5.0,
                duration_s: 20.0,
            },
            slo: Slo::default(),
            levels: vec![level],
            capacity: Some(Capacity {
                largest_passing_calls: Some(10),
                first_failing_calls: None,
                calls_per_core: Some(5.0),
            }),
            baseline: Some(Baseline {
                calls: 10,
                relay_latency: pct(0.3),
                sfu_latency: pct(5.0),
                cost_ratio: 12.0,
                ..Default::default()
            }),
            passed: false,
        };
        r.finish();
        r
    }

    #[test]
    fn reports_match_the_shipped_schema() {
        let r = full_report();
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(validate(&v), Vec::<String>::new());
        // Without capacity and baseline (run mode) too.
        let mut run = r.clone();
        run.mode = "run".into();
        run.capacity = None;
        run.baseline = None;
        assert_eq!(
            validate(&serde_json::to_value(&run).unwrap()),
            Vec::<String>::new()
        );
        // And it round-trips.
        let back: Report = serde_json::from_value(v).unwrap();
        assert_eq!(back, r);
    }

    #[test]
    fn the_schema_rejects_broken_reports() {
        let mut v = serde_json::to_value(full_report()).unwrap();
        v["levels"][0]["loss"]["pct"] = serde_json::json!(150.0);
        v["mode"] = serde_json::json!("soak");
        v["levels"][0].as_object_mut().unwrap().remove("join");
        let errors = validate(&v);
        assert_eq!(errors.len(), 3, "{errors:#?}");
    }

    #[test]
    fn run_verdict() {
        let mut r = Report {
            levels: vec![good_level()],
            ..Default::default()
        };
        r.levels[0].slo = Slo::default().evaluate(&r.levels[0]);
        r.finish();
        assert!(r.passed);
        r.levels[0].slo.passed = false;
        r.finish();
        assert!(!r.passed);
        r.capacity = Some(Capacity {
            largest_passing_calls: Some(3),
            ..Default::default()
        });
        r.finish();
        assert!(r.passed);
    }
}
