//! `vkyc-loadtest`: drives real calls (WebRTC peers publishing VP8 + Opus over the real
//! signalling, the optional KYC step flow) against a running vkyc server or cluster and
//! reports what it measured. See `loadtest/README.md` and `BENCHMARKS.md`.
//!
//! - `run`: N concurrent calls, ramped, held for a duration; exit 1 when an SLO breaks.
//! - `capacity`: step the calls up until an SLO breaks; the largest passing level.
//! - `validate-report`: check a JSON report against the shipped JSON Schema.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use base64::Engine as _;
use clap::{Args, Parser, Subcommand};
use vkyc_loadtest::call::{CallProfile, StepImages};
use vkyc_loadtest::media::{self, MediaProfile};
use vkyc_loadtest::report::{self, Capacity, CapacitySearch, Machine, Profile, Report, Slo};
use vkyc_loadtest::run::{self, RunConfig};
use vkyc_loadtest::{cards, html, relay};

#[derive(Parser)]
#[command(
    name = "vkyc-loadtest",
    version,
    about = "Load test for vkyc: real WebRTC calls against a running server or cluster"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run N concurrent calls for a duration and judge them against the SLOs (exit 1 if broken).
    Run {
        #[command(flatten)]
        common: Common,
        /// Concurrent calls.
        #[arg(long, default_value_t = 10)]
        calls: u64,
        /// Seconds all calls are held after the ramp.
        #[arg(long, default_value_t = 30.0)]
        duration: f64,
    },
    /// Step the number of concurrent calls up until an SLO breaks; report the largest passing level.
    Capacity {
        #[command(flatten)]
        common: Common,
        /// First level (calls).
        #[arg(long, default_value_t = 5)]
        start: u64,
        /// Increment between levels until the first failure.
        #[arg(long, default_value_t = 5)]
        step: u64,
        /// Highest level tried.
        #[arg(long, default_value_t = 200)]
        max: u64,
        /// Bisect between the last pass and the first failure down to this many calls.
        #[arg(long, default_value_t = 1)]
        bisect_to: u64,
        /// Seconds each level is held after its ramp.
        #[arg(long, default_value_t = 20.0)]
        duration: f64,
    },
    /// The agent desk under load: customers arrive and queue, simulated agents (staff
    /// accounts made with the admin's credentials) take each offer, hold a real call, end it
    /// and wrap up. Reports enter → offer (with an agent free) and enter → connected.
    Queue {
        /// Server base URL.
        #[arg(long)]
        url: String,
        #[arg(long, env = "VKYC_API_KEY", hide_env_values = true)]
        api_key: Option<String>,
        #[arg(long)]
        api_key_file: Option<PathBuf>,
        /// An admin account (creates or resets the agents' accounts `lt-agent-N@loadtest.invalid`).
        #[arg(long, env = "VKYC_ADMIN_EMAIL")]
        admin_email: String,
        #[arg(long, env = "VKYC_ADMIN_PASSWORD", hide_env_values = true)]
        admin_password: String,
        #[arg(long, default_value_t = 200)]
        customers: usize,
        #[arg(long, default_value_t = 20)]
        agents: usize,
        /// Customers entering the queue per second.
        #[arg(long, default_value_t = 5.0)]
        arrival_rate: f64,
        /// Milliseconds each call is held before the agent ends it.
        #[arg(long, default_value_t = 500)]
        hold_ms: u64,
        /// Seconds to wait for the last customers.
        #[arg(long, default_value_t = 300)]
        timeout: u64,
        /// Fail (exit 1) when the p99 of enter → offer with an agent free exceeds this (ms).
        #[arg(long, default_value_t = 200.0)]
        slo_offer_p99_ms: f64,
        /// Write the JSON report here.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Validate a JSON report against the report's JSON Schema.
    ValidateReport { report: PathBuf },
    /// Render the HTML page of a JSON report again (e.g. after editing or merging reports).
    Html {
        report: PathBuf,
        /// Output file.
        #[arg(long, default_value = "report.html")]
        out: PathBuf,
    },
}

#[derive(Args)]
struct Common {
    /// Server base URL; repeat (or comma-separate) for a cluster: calls are spread round-robin
    /// and every server's /metrics is summed.
    #[arg(long = "url", required = true, value_delimiter = ',')]
    urls: Vec<String>,
    /// The API key (else $VKYC_API_KEY, else --api-key-file).
    #[arg(long, env = "VKYC_API_KEY", hide_env_values = true)]
    api_key: Option<String>,
    /// A file holding the API key (the server's <data_dir>/api.key).
    #[arg(long)]
    api_key_file: Option<PathBuf>,
    /// New calls per second while ramping up.
    #[arg(long, default_value_t = 5.0)]
    ramp: f64,
    /// Participants per call: agent + customer, then observers (receive only).
    #[arg(long, default_value_t = 2)]
    participants: usize,
    /// Video size, WxH.
    #[arg(long, default_value = "640x360")]
    resolution: String,
    #[arg(long, default_value_t = 30)]
    fps: u32,
    /// Video bit rate, kbit/s.
    #[arg(long, default_value_t = 500)]
    video_kbps: u32,
    /// No audio track.
    #[arg(long)]
    no_audio: bool,
    /// KYC steps the agent runs during each call, e.g. consent,location,face (face and
    /// document captures run inference on the server).
    #[arg(long, value_delimiter = ',')]
    steps: Vec<String>,
    /// Face photo captured in the face step (default: the test photos of models/setup.sh).
    #[arg(long)]
    face_photo: Option<PathBuf>,
    /// Reference photo (and the card's portrait for the document step).
    #[arg(long)]
    reference_photo: Option<PathBuf>,
    /// Seconds to wait from a token to the first remote media packet.
    #[arg(long, default_value_t = 15.0)]
    join_timeout: f64,
    /// SLO: p99 media forwarding latency, ms.
    #[arg(long, default_value_t = 50.0)]
    slo_forwarding_p99_ms: f64,
    /// SLO: packet loss, %.
    #[arg(long, default_value_t = 1.0)]
    slo_loss_pct: f64,
    /// SLO: p99 join time, ms.
    #[arg(long, default_value_t = 5000.0)]
    slo_join_p99_ms: f64,
    /// SLO: failed calls, % of started.
    #[arg(long, default_value_t = 1.0)]
    slo_failed_calls_pct: f64,
    /// SLO: p99 of the REST endpoints (not the inference steps), ms.
    #[arg(long, default_value_t = 2000.0)]
    slo_api_p99_ms: f64,
    /// Seconds of the UDP-relay baseline run after the SFU (0 = none).
    #[arg(long, default_value_t = 10.0)]
    baseline_secs: f64,
    /// Where report.json and report.html go.
    #[arg(long, default_value = "loadtest-report")]
    out: PathBuf,
    /// Where the encoded clips are cached.
    #[arg(long)]
    samples_dir: Option<PathBuf>,
}

fn machine() -> Machine {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu_model = cpuinfo
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")
                .and_then(|r| r.split(':').nth(1))
        })
        .unwrap_or("unknown")
        .trim()
        .to_string();
    let os = std::fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| {
                l.strip_prefix("PRETTY_NAME=")
                    .map(|v| v.trim_matches('"').to_string())
            })
        })
        .unwrap_or_else(|| std::env::consts::OS.to_string());
    Machine {
        cores: std::thread::available_parallelism().map_or(1, |n| n.get() as u64),
        cpu_model,
        os,
    }
}

fn photo_dir() -> PathBuf {
    std::env::var_os("VKYC_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/vkyc-test")
        })
        .join("photos")
}

fn jpeg_b64(img: &image::RgbImage) -> Result<String> {
    let mut buf = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut buf, 90).encode_image(img)?;
    Ok(base64::engine::general_purpose::STANDARD.encode(buf))
}

fn load_photo(p: &Path) -> Result<image::RgbImage> {
    let img = image::open(p).with_context(|| {
        format!(
            "{} (run `bash models/setup.sh --photos`, or pass --face-photo/--reference-photo)",
            p.display()
        )
    })?;
    // Captures as a camera frame would be: at most 1280 px wide.
    Ok(if img.width() > 1280 {
        img.resize(1280, 1280, image::imageops::FilterType::Triangle)
    } else {
        img
    }
    .to_rgb8())
}

fn step_images(c: &Common) -> Result<Option<Arc<StepImages>>> {
    if c.steps.is_empty() {
        return Ok(None);
    }
    for s in &c.steps {
        if !["consent", "location", "document", "face"].contains(&s.as_str()) {
            bail!("unknown step {s:?} (consent, location, document, face)");
        }
    }
    let face = load_photo(
        &c.face_photo
            .clone()
            .unwrap_or_else(|| photo_dir().join("person_b_2.jpg")),
    )?;
    let reference = load_photo(
        &c.reference_photo
            .clone()
            .unwrap_or_else(|| photo_dir().join("person_b_1.jpg")),
    )?;
    let card = if c.steps.iter().any(|s| s == "document") {
        let fonts = cards::Fonts::system()?;
        let (img, truth) = cards::pan_card(7, &cards::portrait_crop(&reference), &fonts);
        Some((jpeg_b64(&img)?, truth.name))
    } else {
        None
    };
    Ok(Some(Arc::new(StepImages {
        face: jpeg_b64(&face)?,
        reference: jpeg_b64(&reference)?,
        card,
    })))
}

fn api_key(c: &Common) -> Result<String> {
    if let Some(k) = &c.api_key {
        return Ok(k.clone());
    }
    if let Some(f) = &c.api_key_file {
        return Ok(std::fs::read_to_string(f)
            .with_context(|| f.display().to_string())?
            .trim()
            .to_string());
    }
    bail!("no API key: pass --api-key, set VKYC_API_KEY or pass --api-key-file <data_dir>/api.key")
}

async fn prepare(c: &Common, duration: f64) -> Result<(RunConfig, Report)> {
    let (w, h) = c
        .resolution
        .split_once('x')
        .and_then(|(w, h)| Some((w.parse().ok()?, h.parse().ok()?)))
        .context("--resolution must be WxH, e.g. 640x360")?;
    if c.participants < 2 {
        bail!("--participants must be at least 2");
    }
    if c.ramp <= 0.0 || duration <= 0.0 {
        bail!("--ramp and --duration must be positive");
    }
    let mp = MediaProfile {
        width: w,
        height: h,
        fps: c.fps,
        video_kbps: c.video_kbps,
        ..Default::default()
    };
    let dir = c
        .samples_dir
        .clone()
        .unwrap_or_else(media::default_cache_dir);
    let samples = tokio::task::spawn_blocking(move || media::load_or_generate(&dir, &mp)).await??;
    eprintln!(
        "media: VP8 {}x{} {} fps, {} frames, {:.0} kbit/s of RTP payload; Opus {} packets",
        w,
        h,
        c.fps,
        samples.video.len(),
        samples.video_kbps(),
        samples.audio.len()
    );
    let slo = Slo {
        forwarding_p99_ms: c.slo_forwarding_p99_ms,
        loss_pct: c.slo_loss_pct,
        join_p99_ms: c.slo_join_p99_ms,
        failed_calls_pct: c.slo_failed_calls_pct,
        api_p99_ms: c.slo_api_p99_ms,
    };
    let profile = CallProfile {
        participants: c.participants,
        audio: !c.no_audio,
        video: true,
        steps: c.steps.clone(),
        join_timeout: Duration::from_secs_f64(c.join_timeout),
    };
    let cfg = RunConfig {
        targets: c
            .urls
            .iter()
            .map(|u| u.trim_end_matches('/').to_string())
            .collect(),
        api_key: api_key(c)?,
        profile: Arc::new(profile),
        samples: Arc::new(samples),
        images: step_images(c)?,
        ramp: c.ramp,
        duration: Duration::from_secs_f64(duration),
        slo: slo.clone(),
        interactive: run::interactive(),
    };
    for t in &cfg.targets {
        if run::scrape(std::slice::from_ref(&vkyc_loadtest::ApiClient::new(t, "")))
            .await
            .is_none()
        {
            bail!("cannot read {t}/metrics: is the server running?");
        }
    }
    let report = Report {
        schema: report::SCHEMA_ID.into(),
        tool_version: env!("CARGO_PKG_VERSION").into(),
        started_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        targets: cfg.targets.clone(),
        machine: machine(),
        profile: Profile {
            participants: c.participants as u64,
            width: w,
            height: h,
            fps: c.fps,
            video_kbps: c.video_kbps,
            audio: !c.no_audio,
            steps: c.steps.clone(),
            ramp_calls_per_sec: c.ramp,
            duration_s: duration,
        },
        slo,
        ..Default::default()
    };
    Ok((cfg, report))
}

fn print_level(l: &report::LevelReport) {
    eprintln!(
        "level {:>4} calls: {} | up {} failed {} | fwd p50 {:.1} p99 {:.1} ms | loss {:.3}% | join p99 {:.0} ms | server {:.2} cores avg, {:.1} µs CPU/packet | load gen {:.2}, host {:.2} cores",
        l.calls,
        if l.slo.passed { "PASS" } else { "FAIL" },
        l.calls_up_peak,
        l.calls_failed,
        l.forwarding_latency.p50_ms,
        l.forwarding_latency.p99_ms,
        l.loss.pct,
        l.join.p99_ms,
        l.server.cpu_cores_avg,
        l.server.cpu_us_per_packet,
        l.loadgen_cpu_cores_avg,
        l.host_cpu_cores_avg
    );
    if l.server.recorded_packets > 0.0 {
        eprintln!(
            "    recording: {:.0} of {:.0} received packets recorded ({:.2}%), {:.0} dropped by recorders",
            l.server.recorded_packets,
            l.server.received_packets,
            100.0 * l.server.recorded_packets / l.server.received_packets.max(1.0),
            l.server.recording_dropped_packets
        );
    }
    for v in &l.slo.violations {
        eprintln!(
            "    SLO broken: {} = {:.2} (limit {:.2})",
            v.slo, v.measured, v.limit
        );
    }
    if !l.errors.is_empty() {
        eprintln!("    errors: {:?}", l.errors);
    }
}

async fn run_baseline(
    c: &Common,
    cfg: &RunConfig,
    level: &report::LevelReport,
    report: &mut Report,
) -> Result<()> {
    if c.baseline_secs <= 0.0 {
        return Ok(());
    }
    eprintln!(
        "baseline: the same media through a minimal UDP relay, {} calls for {} s",
        level.calls, c.baseline_secs
    );
    let (run, m) = relay::run_baseline(
        level.calls as usize,
        Duration::from_secs_f64(c.baseline_secs),
        cfg.samples.clone(),
        cfg.profile.audio,
        cfg.profile.video,
    )
    .await?;
    let b = run::baseline(level, &run, &m, level.calls);
    eprintln!(
        "baseline: relay {:.2} µs CPU/packet (p99 {:.2} ms), SFU {:.2} µs CPU/packet (p99 {:.2} ms): SFU/relay = {:.1}x",
        b.relay_cpu_us_per_packet, b.relay_latency.p99_ms, b.sfu_cpu_us_per_packet, b.sfu_latency.p99_ms, b.cost_ratio
    );
    report.baseline = Some(b);
    Ok(())
}

fn write_report(out: &Path, r: &Report) -> Result<()> {
    std::fs::create_dir_all(out)?;
    let json = serde_json::to_string_pretty(r)?;
    validate(&serde_json::from_str(&json)?)?;
    std::fs::write(out.join("report.json"), json)?;
    std::fs::write(out.join("report.html"), html::render(r))?;
    eprintln!(
        "report: {} and report.html",
        out.join("report.json").display()
    );
    Ok(())
}

fn validate(v: &serde_json::Value) -> Result<()> {
    let schema: serde_json::Value = serde_json::from_str(report::SCHEMA)?;
    let validator =
        jsonschema::validator_for(&schema).map_err(|e| anyhow::anyhow!("schema: {e}"))?;
    let errors: Vec<String> = validator
        .iter_errors(v)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    if !errors.is_empty() {
        bail!(
            "report does not match its schema:\n  {}",
            errors.join("\n  ")
        );
    }
    Ok(())
}

async fn main_inner(cli: Cli) -> Result<bool> {
    match cli.cmd {
        Cmd::Queue {
            url,
            api_key,
            api_key_file,
            admin_email,
            admin_password,
            customers,
            agents,
            arrival_rate,
            hold_ms,
            timeout,
            slo_offer_p99_ms,
            out,
        } => {
            let key = match (api_key, api_key_file) {
                (Some(k), _) => k,
                (None, Some(f)) => std::fs::read_to_string(&f).with_context(|| f.display().to_string())?.trim().to_string(),
                (None, None) => bail!("no API key: pass --api-key, set VKYC_API_KEY or pass --api-key-file <data_dir>/api.key"),
            };
            let cfg = vkyc_loadtest::queue::QueueConfig {
                customers,
                agents,
                arrival_per_sec: arrival_rate,
                hold: Duration::from_millis(hold_ms),
                admin_email,
                admin_password,
                timeout: Duration::from_secs(timeout),
            };
            eprintln!("queue: {customers} customers at {arrival_rate}/s, {agents} agents, calls held {hold_ms} ms, against {url}");
            let r =
                vkyc_loadtest::queue::run(vkyc_loadtest::ApiClient::new(&url, &key), cfg).await?;
            let p = |x: &vkyc_loadtest::queue::Percentiles| {
                format!(
                    "n={} p50 {:.1} ms, p95 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
                    x.count, x.p50_ms, x.p95_ms, x.p99_ms, x.max_ms
                )
            };
            println!("enter → offer, agent free:   {}", p(&r.enter_to_offer_free));
            println!(
                "enter → offer, all busy:     {}",
                p(&r.enter_to_offer_waited)
            );
            println!("enter → connected:           {}", p(&r.enter_to_connected));
            println!(
                "offered {}, connected {}, calls ended {}, longest queue {}, {:.1} s",
                r.offered, r.connected, r.calls_ended, r.longest_queue, r.wall_secs
            );
            for e in &r.errors {
                println!("error: {e}");
            }
            if let Some(out) = out {
                std::fs::write(&out, serde_json::to_string_pretty(&r)?)?;
            }
            let passed = r.errors.is_empty()
                && r.connected == customers
                && r.enter_to_offer_free.count > 0
                && r.enter_to_offer_free.p99_ms <= slo_offer_p99_ms;
            println!("{}", if passed { "PASS" } else { "FAIL" });
            Ok(passed)
        }
        Cmd::ValidateReport { report } => {
            let v: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(&report)?).context("not JSON")?;
            validate(&v)?;
            eprintln!("{}: valid ({})", report.display(), report::SCHEMA_ID);
            Ok(true)
        }
        Cmd::Html { report, out } => {
            let r: Report = serde_json::from_str(&std::fs::read_to_string(&report)?)
                .context("not a vkyc-loadtest report")?;
            std::fs::write(&out, html::render(&r))?;
            eprintln!("{}", out.display());
            Ok(true)
        }
        Cmd::Run {
            common,
            calls,
            duration,
        } => {
            let (cfg, mut report) = prepare(&common, duration).await?;
            report.mode = "run".into();
            eprintln!(
                "run: {calls} calls, ramp {} calls/s, hold {duration} s against {}",
                common.ramp,
                cfg.targets.join(", ")
            );
            let level = run::run_level(&cfg, calls).await;
            print_level(&level);
            run_baseline(&common, &cfg, &level, &mut report).await?;
            report.levels.push(level);
            report.finish();
            write_report(&common.out, &report)?;
            Ok(report.passed)
        }
        Cmd::Capacity {
            common,
            start,
            step,
            max,
            bisect_to,
            duration,
        } => {
            let (cfg, mut report) = prepare(&common, duration).await?;
            report.mode = "capacity".into();
            let mut search = CapacitySearch::new(start, step, max, bisect_to);
            while let Some(calls) = search.next_level() {
                eprintln!("capacity: level {calls} calls");
                let level = run::run_level(&cfg, calls).await;
                print_level(&level);
                search.record(calls, level.slo.passed);
                report.levels.push(level);
                // Let the server finish closing the level's rooms before the next one.
                tokio::time::sleep(Duration::from_secs(3)).await;
            }
            let largest = search.largest_pass();
            report.capacity = Some(Capacity {
                largest_passing_calls: largest,
                first_failing_calls: search.first_fail(),
                calls_per_core: largest.map(|n| n as f64 / report.machine.cores as f64),
            });
            eprintln!(
                "capacity: largest passing level {largest:?}, first failing {:?}",
                search.first_fail()
            );
            if let Some(level) =
                largest.and_then(|n| report.levels.iter().find(|l| l.calls == n).cloned())
            {
                run_baseline(&common, &cfg, &level, &mut report).await?;
            }
            report.finish();
            write_report(&common.out, &report)?;
            Ok(report.passed)
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    match rt.block_on(main_inner(cli)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => {
            eprintln!("FAILED: an SLO was broken (see the report)");
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("vkyc-loadtest: {e:#}");
            ExitCode::from(2)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
        let cli = Cli::try_parse_from([
            "vkyc-loadtest",
            "capacity",
            "--url",
            "http://a:1,http://b:2",
            "--api-key",
            "k",
            "--bisect-to",
            "2",
            "--resolution",
            "1280x720",
        ])
        .unwrap();
        let Cmd::Capacity {
            common, bisect_to, ..
        } = cli.cmd
        else {
            panic!("not capacity")
        };
        assert_eq!(common.urls, ["http://a:1", "http://b:2"]);
        assert_eq!(common.resolution, "1280x720");
        assert_eq!(bisect_to, 2);
    }
}
