//! The HTML report: one self-contained page (inline SVG charts and CSS, no scripts, nothing
//! fetched) for people, made from the same [`Report`] as the JSON.
//!
//! The charts are drawn here as plain SVG — axes, 1-2-5 ticks, lines or points, an SLO
//! line — rather than with a plotting crate: the browser lays out the text, so no font file
//! is needed at run time, and the page stays small.

use std::fmt::Write as _;

use crate::report::{LevelReport, Report};
use crate::stats::Percentiles;

pub struct Series {
    pub name: String,
    pub color: &'static str,
    pub points: Vec<(f64, f64)>,
}

pub struct Chart {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub series: Vec<Series>,
    /// A horizontal threshold line (value, label).
    pub limit: Option<(f64, String)>,
    /// Points instead of lines.
    pub scatter: bool,
    /// Top of the y axis at most this (higher values are drawn at the top edge), so one
    /// stall does not flatten the rest of the series.
    pub y_cap: Option<f64>,
}

const W: f64 = 560.0;
const H: f64 = 300.0;
const L: f64 = 60.0;
const R: f64 = 20.0;
const T: f64 = 34.0;
const B: f64 = 46.0;

pub fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Tick positions covering [lo, hi] with a 1-2-5 step, about `n` of them.
pub fn ticks(lo: f64, hi: f64, n: usize) -> Vec<f64> {
    if hi.partial_cmp(&lo) != Some(std::cmp::Ordering::Greater)
        || !lo.is_finite()
        || !hi.is_finite()
    {
        return vec![lo];
    }
    let raw = (hi - lo) / n.max(1) as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag);
    let mut v = (lo / step).ceil() * step;
    let mut out = Vec::new();
    while v <= hi + step * 1e-9 {
        out.push(if v.abs() < step * 1e-9 { 0.0 } else { v });
        v += step;
    }
    out
}

fn fmt_num(v: f64) -> String {
    if v.abs() >= 100.0 || v == v.trunc() {
        format!("{v:.0}")
    } else if v.abs() >= 1.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

impl Chart {
    pub fn svg(&self) -> String {
        let pts = self
            .series
            .iter()
            .flat_map(|s| s.points.iter())
            .filter(|(x, y)| x.is_finite() && y.is_finite());
        let (mut x0, mut x1, mut y1) = (f64::MAX, f64::MIN, 0.0f64);
        for &(x, y) in pts {
            x0 = x0.min(x);
            x1 = x1.max(x);
            y1 = y1.max(y);
        }
        if x0 > x1 {
            (x0, x1) = (0.0, 1.0);
        }
        if x1 <= x0 {
            x1 = x0 + 1.0;
        }
        if let Some((lim, _)) = &self.limit {
            y1 = y1.max(*lim * 1.1);
        }
        let mut clipped = false;
        if let Some(cap) = self.y_cap {
            if y1 > cap {
                y1 = cap;
                clipped = true;
            }
        }
        if y1 <= 0.0 {
            y1 = 1.0;
        }
        y1 *= 1.05;
        let px = |x: f64| L + (x - x0) / (x1 - x0) * (W - L - R);
        let py = |y: f64| H - B - y.min(y1) / y1 * (H - T - B);
        let mut s = String::new();
        let _ = write!(
            s,
            r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}" width="{W}" height="{H}" class="chart">"#
        );
        let title = if clipped {
            format!("{} (axis cut at {})", self.title, fmt_num(y1 / 1.05))
        } else {
            self.title.clone()
        };
        let _ = write!(
            s,
            r#"<text x="{}" y="20" class="title">{}</text>"#,
            W / 2.0,
            esc(&title)
        );
        for t in ticks(0.0, y1, 5) {
            let y = py(t);
            let _ = write!(
                s,
                r##"<line x1="{L}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" class="grid"/><text x="{:.1}" y="{:.1}" class="ytick">{}</text>"##,
                W - R,
                L - 6.0,
                y + 4.0,
                fmt_num(t)
            );
        }
        for t in ticks(x0, x1, 6) {
            let x = px(t);
            let _ = write!(
                s,
                r#"<line x1="{x:.1}" y1="{:.1}" x2="{x:.1}" y2="{:.1}" class="axis"/><text x="{x:.1}" y="{:.1}" class="xtick">{}</text>"#,
                H - B,
                H - B + 4.0,
                H - B + 16.0,
                fmt_num(t)
            );
        }
        let _ = write!(
            s,
            r#"<line x1="{L}" y1="{:.1}" x2="{:.1}" y2="{:.1}" class="axis"/><line x1="{L}" y1="{T}" x2="{L}" y2="{:.1}" class="axis"/>"#,
            H - B,
            W - R,
            H - B,
            H - B
        );
        let _ = write!(
            s,
            r#"<text x="{:.1}" y="{:.1}" class="xlabel">{}</text>"#,
            (L + W - R) / 2.0,
            H - 8.0,
            esc(&self.x_label)
        );
        let _ = write!(
            s,
            r#"<text x="14" y="{:.1}" class="ylabel" transform="rotate(-90 14 {:.1})">{}</text>"#,
            (T + H - B) / 2.0,
            (T + H - B) / 2.0,
            esc(&self.y_label)
        );
        if let Some((lim, label)) = self.limit.as_ref().filter(|(lim, _)| *lim <= y1) {
            let y = py(*lim);
            let _ = write!(
                s,
                r#"<line x1="{L}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" class="limit"/><text x="{:.1}" y="{:.1}" class="limitlabel">{}</text>"#,
                W - R,
                W - R - 4.0,
                y - 4.0,
                esc(label)
            );
        }
        for (i, ser) in self.series.iter().enumerate() {
            let finite: Vec<(f64, f64)> = ser
                .points
                .iter()
                .copied()
                .filter(|(x, y)| x.is_finite() && y.is_finite())
                .collect();
            if self.scatter {
                for (x, y) in &finite {
                    let _ = write!(
                        s,
                        r#"<circle cx="{:.1}" cy="{:.1}" r="3" fill="{}" fill-opacity="0.6"/>"#,
                        px(*x),
                        py(*y),
                        ser.color
                    );
                }
            } else if !finite.is_empty() {
                let path: Vec<String> = finite
                    .iter()
                    .map(|(x, y)| format!("{:.1},{:.1}", px(*x), py(*y)))
                    .collect();
                let _ = write!(
                    s,
                    r#"<polyline points="{}" fill="none" stroke="{}" stroke-width="1.8"/>"#,
                    path.join(" "),
                    ser.color
                );
            }
            let lx = L + 10.0 + i as f64 * 110.0;
            let _ = write!(
                s,
                r#"<rect x="{lx:.1}" y="{:.1}" width="10" height="10" fill="{}"/><text x="{:.1}" y="{:.1}" class="legend">{}</text>"#,
                T - 2.0,
                ser.color,
                lx + 14.0,
                T + 7.0,
                esc(&ser.name)
            );
        }
        s.push_str("</svg>");
        s
    }
}

fn pct_row(name: &str, p: &Percentiles) -> String {
    format!(
        "<tr><td>{}</td><td>{}</td><td>{:.1}</td><td>{:.1}</td><td>{:.1}</td><td>{:.1}</td><td>{:.1}</td></tr>",
        esc(name),
        p.count,
        p.mean_ms,
        p.p50_ms,
        p.p90_ms,
        p.p99_ms,
        p.max_ms
    )
}

const PCT_HEAD: &str =
    "<tr><th></th><th>count</th><th>mean</th><th>p50</th><th>p90</th><th>p99</th><th>max</th></tr>";

fn level_section(l: &LevelReport) -> String {
    let mut s = String::new();
    let verdict = if l.slo.passed {
        "<span class=pass>PASS</span>"
    } else {
        "<span class=fail>FAIL</span>"
    };
    let _ = write!(s, "<h3>{} calls — {verdict}</h3>", l.calls);
    if !l.slo.violations.is_empty() {
        s.push_str("<ul>");
        for v in &l.slo.violations {
            let _ = write!(
                s,
                "<li class=fail>{}: measured {:.2}, limit {:.2}</li>",
                esc(&v.slo),
                v.measured,
                v.limit
            );
        }
        s.push_str("</ul>");
    }
    let _ = write!(
        s,
        "<p>started {} · up (peak) {} · failed {} · completed {} · {:.1} s · loss {:.3}% ({} of {}) · latency samples {}</p>",
        l.calls_started, l.calls_up_peak, l.calls_failed, l.calls_completed, l.duration_s, l.loss.pct, l.loss.lost, l.loss.expected, l.latency_matched_packets
    );
    let _ = write!(s, "<table><caption>latencies (ms)</caption>{PCT_HEAD}");
    s.push_str(&pct_row("media forwarding (all)", &l.forwarding_latency));
    for (k, p) in &l.forwarding_latency_by_kind {
        s.push_str(&pct_row(&format!("media forwarding ({k})"), p));
    }
    s.push_str(&pct_row("jitter (RFC 3550)", &l.jitter));
    s.push_str(&pct_row("join (token → first remote packet)", &l.join));
    for (k, p) in &l.api {
        s.push_str(&pct_row(k, p));
    }
    for (k, p) in &l.inference {
        s.push_str(&pct_row(&format!("step with inference: {k}"), p));
    }
    s.push_str("</table>");
    s.push_str("<table><caption>bit rate per stream (kbit/s)</caption><tr><th></th><th>streams sent</th><th>sent</th><th>streams received</th><th>received</th></tr>");
    for (k, b) in &l.bitrate {
        let _ = write!(
            s,
            "<tr><td>{k}</td><td>{}</td><td>{:.0}</td><td>{}</td><td>{:.0}</td></tr>",
            b.streams_sent, b.sent_kbps_per_stream, b.streams_received, b.received_kbps_per_stream
        );
    }
    s.push_str("</table>");
    let sv = &l.server;
    let _ = write!(
        s,
        "<table><caption>server (from /metrics)</caption><tr><td>CPU avg / peak</td><td>{:.2} / {:.2} cores</td></tr><tr><td>RSS peak</td><td>{:.0} MB</td></tr>\
         <tr><td>steady window</td><td>{:.1} s, {:.2} CPU s, {:.0} packets forwarded, {:.0} delivered</td></tr><tr><td>CPU per delivered packet</td><td>{:.1} µs</td></tr><tr><td>load generator / host CPU avg</td><td>{:.2} / {:.2} cores</td></tr>",
        sv.cpu_cores_avg, sv.cpu_cores_peak, sv.rss_mb_peak, sv.steady_secs, sv.steady_cpu_seconds, sv.steady_forwarded_packets, sv.steady_delivered_packets, sv.cpu_us_per_packet, l.loadgen_cpu_cores_avg, l.host_cpu_cores_avg
    );
    for (e, i) in &sv.inference {
        let _ = write!(
            s,
            "<tr><td>inference {}</td><td>{} runs, mean {:.1} ms</td></tr>",
            esc(e),
            i.count,
            i.mean_ms
        );
    }
    s.push_str("</table>");
    if !l.errors.is_empty() {
        s.push_str("<table><caption>errors by code</caption>");
        for (c, n) in &l.errors {
            let _ = write!(s, "<tr><td>{}</td><td>{n}</td></tr>", esc(c));
        }
        s.push_str("</table>");
    }
    s
}

/// The time series of all levels one after another (x = seconds since the first level).
fn charts(r: &Report) -> String {
    let mut offset = 0.0;
    let (mut p50, mut p99, mut calls, mut cpu, mut loss, mut scatter) =
        (vec![], vec![], vec![], vec![], vec![], vec![]);
    let (mut gen, mut host) = (vec![], vec![]);
    for l in &r.levels {
        for p in &l.timeline {
            let t = offset + p.t_s;
            if p.fwd_p99_ms > 0.0 {
                p50.push((t, p.fwd_p50_ms));
                p99.push((t, p.fwd_p99_ms));
            }
            calls.push((t, p.calls_up as f64));
            cpu.push((t, p.cpu_cores));
            gen.push((t, p.loadgen_cpu_cores));
            host.push((t, p.host_cpu_cores));
            loss.push((t, p.loss_pct));
            if p.cpu_cores > 0.0 {
                scatter.push((p.calls_up as f64, p.cpu_cores));
            }
        }
        offset += l.duration_s;
    }
    let s = |name: &str, color: &'static str, points: Vec<(f64, f64)>| Series {
        name: name.into(),
        color,
        points,
    };
    let time = "time (s)".to_string();
    [
        Chart {
            title: "Media forwarding latency (per second)".into(),
            x_label: time.clone(),
            y_label: "ms".into(),
            series: vec![s("p50", "#2b7bba", p50), s("p99", "#d9480f", p99)],
            limit: Some((
                r.slo.forwarding_p99_ms,
                format!("SLO p99 {} ms", r.slo.forwarding_p99_ms),
            )),
            scatter: false,
            y_cap: Some(r.slo.forwarding_p99_ms * 4.0),
        },
        Chart {
            title: "Concurrent calls".into(),
            x_label: time.clone(),
            y_label: "calls up".into(),
            series: vec![s("calls up", "#2f9e44", calls)],
            limit: None,
            scatter: false,
            y_cap: None,
        },
        Chart {
            title: "CPU: server, load generator, whole host".into(),
            x_label: time.clone(),
            y_label: "cores".into(),
            series: vec![
                s("server", "#862e9c", cpu),
                s("load generator", "#f08c00", gen),
                s("host", "#495057", host),
            ],
            limit: Some((r.machine.cores as f64, format!("{} cores", r.machine.cores))),
            scatter: false,
            y_cap: None,
        },
        Chart {
            title: "Server CPU vs concurrent calls".into(),
            x_label: "calls up".into(),
            y_label: "CPU (cores)".into(),
            series: vec![s("one second", "#862e9c", scatter)],
            limit: Some((r.machine.cores as f64, format!("{} cores", r.machine.cores))),
            scatter: true,
            y_cap: None,
        },
        Chart {
            title: "Packet loss (per second)".into(),
            x_label: time,
            y_label: "%".into(),
            series: vec![s("loss", "#e03131", loss)],
            limit: Some((r.slo.loss_pct, format!("SLO {}%", r.slo.loss_pct))),
            scatter: false,
            y_cap: Some(r.slo.loss_pct * 10.0),
        },
    ]
    .iter()
    .map(Chart::svg)
    .collect::<Vec<_>>()
    .join("\n")
}

pub fn render(r: &Report) -> String {
    let mut s = String::new();
    let verdict = if r.passed {
        "<span class=pass>PASSED</span>"
    } else {
        "<span class=fail>FAILED</span>"
    };
    let _ = write!(
        s,
        "<!doctype html><html><head><meta charset=utf-8><title>vkyc load test — {}</title><style>{CSS}</style></head><body>\
         <h1>vkyc load test — {verdict}</h1>",
        esc(&r.started_at)
    );
    let p = &r.profile;
    let _ = write!(
        s,
        "<p>{} · mode <b>{}</b> · targets {} · machine: {} cores, {} ({})</p>\
         <p>profile: {} participants, VP8 {}×{} {} fps ~{} kbit/s{}, steps [{}], ramp {} calls/s, hold {} s</p>\
         <p>SLOs: forwarding p99 ≤ {} ms · loss ≤ {}% · join p99 ≤ {} ms · failed calls ≤ {}% · API p99 ≤ {} ms</p>",
        esc(&r.started_at),
        esc(&r.mode),
        esc(&r.targets.join(", ")),
        r.machine.cores,
        esc(&r.machine.cpu_model),
        esc(&r.machine.os),
        p.participants,
        p.width,
        p.height,
        p.fps,
        p.video_kbps,
        if p.audio { " + Opus" } else { "" },
        esc(&p.steps.join(", ")),
        p.ramp_calls_per_sec,
        p.duration_s,
        r.slo.forwarding_p99_ms,
        r.slo.loss_pct,
        r.slo.join_p99_ms,
        r.slo.failed_calls_pct,
        r.slo.api_p99_ms
    );
    if let Some(c) = &r.capacity {
        let f = |v: Option<u64>| v.map_or("—".to_string(), |v| v.to_string());
        let _ = write!(
            s,
            "<h2>Capacity</h2><p class=big>largest passing level: <b>{}</b> concurrent calls (first failing: {}) — {} calls per core</p>",
            f(c.largest_passing_calls),
            f(c.first_failing_calls),
            c.calls_per_core.map_or("—".into(), |v| format!("{v:.1}"))
        );
        s.push_str("<table><tr><th>calls</th><th>verdict</th><th>fwd p99 ms</th><th>loss %</th><th>join p99 ms</th><th>failed</th><th>server CPU cores</th><th>load gen CPU cores</th><th>host CPU cores</th><th>server CPU µs/packet</th></tr>");
        for l in &r.levels {
            let _ = write!(
                s,
                "<tr><td>{}</td><td>{}</td><td>{:.1}</td><td>{:.3}</td><td>{:.0}</td><td>{}</td><td>{:.2}</td><td>{:.2}</td><td>{:.2}</td><td>{:.1}</td></tr>",
                l.calls,
                if l.slo.passed { "<span class=pass>pass</span>" } else { "<span class=fail>fail</span>" },
                l.forwarding_latency.p99_ms,
                l.loss.pct,
                l.join.p99_ms,
                l.calls_failed,
                l.server.cpu_cores_avg,
                l.loadgen_cpu_cores_avg,
                l.host_cpu_cores_avg,
                l.server.cpu_us_per_packet
            );
        }
        s.push_str("</table>");
    }
    if let Some(b) = &r.baseline {
        let _ = write!(
            s,
            "<h2>SFU vs minimal UDP relay ({} calls)</h2><table><tr><th></th><th>CPU µs per delivered packet</th><th>latency p50 / p99 ms</th><th>loss %</th></tr>\
             <tr><td>vkyc SFU</td><td>{:.2}</td><td>{:.2} / {:.2}</td><td>—</td></tr><tr><td>UDP relay</td><td>{:.2}</td><td>{:.2} / {:.2}</td><td>{:.3}</td></tr></table>\
             <p class=big>SFU cost per forwarded packet = <b>{:.1}×</b> the relay's</p>",
            b.calls,
            b.sfu_cpu_us_per_packet,
            b.sfu_latency.p50_ms,
            b.sfu_latency.p99_ms,
            b.relay_cpu_us_per_packet,
            b.relay_latency.p50_ms,
            b.relay_latency.p99_ms,
            b.relay_loss_pct,
            b.cost_ratio
        );
    }
    s.push_str("<h2>Over time</h2><div class=charts>");
    s.push_str(&charts(r));
    s.push_str("</div><h2>Levels</h2>");
    for l in &r.levels {
        s.push_str(&level_section(l));
    }
    s.push_str("</body></html>\n");
    s
}

const CSS: &str = "body{font-family:system-ui,sans-serif;margin:24px;color:#222;max-width:1200px}\
h1{font-size:22px}h2{font-size:18px;margin-top:28px}h3{font-size:15px}\
.pass{color:#2f9e44;font-weight:bold}.fail{color:#e03131;font-weight:bold}.big{font-size:16px}\
table{border-collapse:collapse;margin:8px 16px 8px 0;display:inline-table;vertical-align:top;font-size:13px}\
caption{text-align:left;font-weight:bold;padding:4px 0}td,th{border:1px solid #ddd;padding:3px 8px;text-align:right}\
td:first-child{text-align:left}.charts{display:flex;flex-wrap:wrap;gap:12px}\
.chart{background:#fafafa;border:1px solid #e5e5e5}.chart text{font-size:11px;fill:#333}\
.chart .title{font-size:13px;font-weight:bold;text-anchor:middle}.ytick{text-anchor:end}.xtick{text-anchor:middle}\
.xlabel{text-anchor:middle}.ylabel{text-anchor:middle}.grid{stroke:#e8e8e8}.axis{stroke:#888}\
.limit{stroke:#e03131;stroke-dasharray:5 4}.chart .limitlabel{text-anchor:end;fill:#e03131}";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_use_round_steps() {
        assert_eq!(ticks(0.0, 10.0, 5), vec![0.0, 2.0, 4.0, 6.0, 8.0, 10.0]);
        assert_eq!(ticks(0.0, 0.9, 3), vec![0.0, 0.5]);
        assert_eq!(ticks(3.0, 3.0, 5), vec![3.0]);
    }

    #[test]
    fn chart_escapes_text_and_draws_each_series() {
        let c = Chart {
            title: "a<b".into(),
            x_label: "x".into(),
            y_label: "y".into(),
            series: vec![Series {
                name: "s1".into(),
                color: "#000",
                points: vec![(0.0, 1.0), (1.0, 2.0), (2.0, f64::NAN)],
            }],
            limit: Some((5.0, "limit".into())),
            scatter: false,
            y_cap: Some(1.5),
        };
        let svg = c.svg();
        assert!(svg.contains("a&lt;b"));
        assert_eq!(svg.matches("<polyline").count(), 1);
        assert!(!svg.contains("NaN"));
        // The limit (5) is above the cap (1.5): the axis is cut and says so, and the limit
        // line is not drawn where it is not.
        assert!(svg.contains("(axis cut at 1.5)"), "{svg}");
        assert!(!svg.contains("class=\"limit\""));
    }

    #[test]
    fn page_renders_an_empty_report() {
        let html = render(&Report::default());
        assert!(html.starts_with("<!doctype html>"));
        assert!(!html.contains("<script"));
    }
}
