//! Reading the server's Prometheus `/metrics`: a small parser of the text exposition format
//! (enough for what vkyc renders) and the snapshot the load test samples every second.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One sample line: name, labels, value.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// Parse the text format; comment lines and lines that do not parse are skipped.
pub fn parse(text: &str) -> Vec<Sample> {
    text.lines().filter_map(parse_line).collect()
}

fn parse_line(line: &str) -> Option<Sample> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let (name, rest, labels) = match line.find('{') {
        Some(open) => {
            let close = line.rfind('}')?;
            (
                &line[..open],
                &line[close + 1..],
                parse_labels(&line[open + 1..close]),
            )
        }
        None => {
            let sp = line.find(char::is_whitespace)?;
            (&line[..sp], &line[sp..], BTreeMap::new())
        }
    };
    let value = rest.split_whitespace().next()?;
    let value = match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        v => v.parse().ok()?,
    };
    Some(Sample {
        name: name.to_string(),
        labels,
        value,
    })
}

fn parse_labels(s: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut chars = s.chars().peekable();
    loop {
        while matches!(chars.peek(), Some(',') | Some(' ')) {
            chars.next();
        }
        let key: String = chars.by_ref().take_while(|&c| c != '=').collect();
        if key.is_empty() || chars.next() != Some('"') {
            break;
        }
        let mut val = String::new();
        while let Some(c) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some('n') => val.push('\n'),
                    Some(o) => val.push(o),
                    None => break,
                },
                '"' => break,
                c => val.push(c),
            }
        }
        out.insert(key.trim().to_string(), val);
    }
    out
}

/// Sum of every series named `name`.
pub fn sum(samples: &[Sample], name: &str) -> f64 {
    samples
        .iter()
        .filter(|s| s.name == name)
        .map(|s| s.value)
        .sum()
}

/// Sum of the series named `name` grouped by the value of `label`.
pub fn sum_by(samples: &[Sample], name: &str, label: &str) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    for s in samples.iter().filter(|s| s.name == name) {
        *out.entry(s.labels.get(label).cloned().unwrap_or_default())
            .or_insert(0.0) += s.value;
    }
    out
}

/// What the load test reads from a server (or the sum over a cluster's servers).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ServerSnapshot {
    pub cpu_seconds: f64,
    pub resident_bytes: f64,
    pub sfu_received_packets: f64,
    pub sfu_forwarded_packets: f64,
    pub sfu_forwarded_bytes: f64,
    /// Packets handed to call recorders, and those a recorder's full queue dropped.
    #[serde(default)]
    pub recorded_packets: f64,
    #[serde(default)]
    pub recording_dropped_packets: f64,
    /// Inference: engine → (sum of seconds, count).
    pub inference: BTreeMap<String, (f64, f64)>,
}

impl ServerSnapshot {
    pub fn from_text(text: &str) -> Self {
        let s = parse(text);
        let sums = sum_by(&s, "vkyc_inference_seconds_sum", "engine");
        let counts = sum_by(&s, "vkyc_inference_seconds_count", "engine");
        Self {
            cpu_seconds: sum(&s, "vkyc_process_cpu_seconds_total"),
            resident_bytes: sum(&s, "vkyc_process_resident_bytes"),
            sfu_received_packets: sum(&s, "vkyc_sfu_received_packets_total"),
            sfu_forwarded_packets: sum(&s, "vkyc_sfu_forwarded_packets_total"),
            sfu_forwarded_bytes: sum(&s, "vkyc_sfu_forwarded_bytes_total"),
            recorded_packets: sum(&s, "vkyc_recording_packets_total"),
            recording_dropped_packets: sum(&s, "vkyc_recording_dropped_packets_total"),
            inference: sums
                .into_iter()
                .map(|(k, v)| (k.clone(), (v, counts.get(&k).copied().unwrap_or(0.0))))
                .collect(),
        }
    }

    /// Sum over several servers.
    pub fn add(&mut self, o: &ServerSnapshot) {
        self.cpu_seconds += o.cpu_seconds;
        self.resident_bytes += o.resident_bytes;
        self.sfu_received_packets += o.sfu_received_packets;
        self.sfu_forwarded_packets += o.sfu_forwarded_packets;
        self.sfu_forwarded_bytes += o.sfu_forwarded_bytes;
        self.recorded_packets += o.recorded_packets;
        self.recording_dropped_packets += o.recording_dropped_packets;
        for (k, (s, c)) in &o.inference {
            let e = self.inference.entry(k.clone()).or_insert((0.0, 0.0));
            e.0 += s;
            e.1 += c;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = r#"# TYPE vkyc_http_requests_total counter
vkyc_http_requests_total{method="POST",route="/v1/sessions",status="201"} 12
vkyc_http_requests_total{method="GET",route="/v1/sessions/{id}",status="200"} 3
vkyc_process_cpu_seconds_total 4.25
vkyc_process_resident_bytes 123456789
vkyc_sfu_forwarded_packets_total{kind="audio"} 100
vkyc_sfu_forwarded_packets_total{kind="video"} 250
vkyc_inference_seconds_bucket{engine="face",outcome="ok",le="+Inf"} 4
vkyc_inference_seconds_sum{engine="face",outcome="ok"} 0.4
vkyc_inference_seconds_count{engine="face",outcome="ok"} 4
weird{a="x\"y, z",b="2"} 1e3
"#;

    #[test]
    fn parses_names_labels_and_values() {
        let s = parse(TEXT);
        assert_eq!(sum(&s, "vkyc_http_requests_total"), 15.0);
        let w = s.iter().find(|x| x.name == "weird").unwrap();
        assert_eq!(w.labels["a"], "x\"y, z");
        assert_eq!(w.labels["b"], "2");
        assert_eq!(w.value, 1000.0);
        let inf = s
            .iter()
            .find(|x| x.name == "vkyc_inference_seconds_bucket")
            .unwrap();
        assert_eq!(inf.labels["le"], "+Inf");
    }

    #[test]
    fn snapshot_reads_the_server_metrics_and_adds_up_servers() {
        let mut a = ServerSnapshot::from_text(TEXT);
        assert_eq!(a.cpu_seconds, 4.25);
        assert_eq!(a.sfu_forwarded_packets, 350.0);
        assert_eq!(a.inference["face"], (0.4, 4.0));
        let b = a.clone();
        a.add(&b);
        assert_eq!(a.cpu_seconds, 8.5);
        assert_eq!(a.inference["face"], (0.8, 8.0));
    }
}
