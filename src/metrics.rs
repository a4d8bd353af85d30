//! Prometheus metrics at `GET /metrics` (text exposition format).
//!
//! One recorder per process (the `metrics` facade is global), shared by every server
//! started in it. What is measured:
//! - `vkyc_http_requests_total{method,route,status}` and `vkyc_http_request_seconds{method,route}`
//!   (route = the matched pattern, e.g. `/v1/sessions/{id}`, never a raw path with ids);
//! - `vkyc_inference_seconds{engine,outcome}`, `vkyc_inference_in_flight{engine}`,
//!   `vkyc_inference_worker_restarts_total{engine}` (from the inference pools);
//! - `vkyc_process_resident_bytes`, `vkyc_process_cpu_seconds_total` (read from /proc at
//!   scrape time, for the load test's CPU/memory sampling);
//! - `vkyc_sfu_received_packets_total{kind}`, `vkyc_sfu_received_bytes_total{kind}`,
//!   `vkyc_sfu_forwarded_packets_total{kind}`, `vkyc_sfu_forwarded_bytes_total{kind}` (the
//!   media path, counted in `vkyc_media::sfu`; the load test divides CPU by packets).

use std::sync::OnceLock;
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::HttpResponse;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the recorder on first use; later calls share it.
pub fn handle() -> PrometheusHandle {
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets(&[
                    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
                ])
                .expect("static buckets are valid")
                // Queue waits run from milliseconds (an agent free) to the queue timeout.
                .set_buckets_for_metric(
                    metrics_exporter_prometheus::Matcher::Prefix("vkyc_desk_wait".into()),
                    &[
                        0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
                        120.0, 300.0, 600.0, 900.0,
                    ],
                )
                .expect("static buckets are valid")
                .build_recorder();
            let handle = recorder.handle();
            // Another recorder may already be installed (a host program's): then ours only
            // renders what is recorded through its own handle.
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}

pub async fn record(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let method = req.method().to_string();
    let route = req.match_pattern().unwrap_or_else(|| "unmatched".into());
    let res = next.call(req).await?;
    let status = res.status().as_u16().to_string();
    metrics::counter!("vkyc_http_requests_total", "method" => method.clone(), "route" => route.clone(), "status" => status).increment(1);
    metrics::histogram!("vkyc_http_request_seconds", "method" => method, "route" => route)
        .record(started.elapsed().as_secs_f64());
    Ok(res)
}

fn process_stats() {
    // /proc/self/stat: utime and stime (fields 14, 15) in clock ticks; statm: resident pages.
    if let Ok(stat) = std::fs::read_to_string("/proc/self/stat") {
        let fields: Vec<&str> = stat
            .rsplit(')')
            .next()
            .unwrap_or("")
            .split_whitespace()
            .collect();
        let ticks = |i: usize| {
            fields
                .get(i)
                .and_then(|v| v.parse::<f64>().ok())
                .unwrap_or(0.0)
        };
        // Fields after the command name start at field 3; utime is field 14 → index 11.
        metrics::gauge!("vkyc_process_cpu_seconds_total").set((ticks(11) + ticks(12)) / 100.0);
    }
    if let Ok(statm) = std::fs::read_to_string("/proc/self/statm") {
        if let Some(pages) = statm
            .split_whitespace()
            .nth(1)
            .and_then(|v| v.parse::<f64>().ok())
        {
            metrics::gauge!("vkyc_process_resident_bytes").set(pages * 4096.0);
        }
    }
}

pub async fn scrape() -> HttpResponse {
    process_stats();
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(handle().render())
}
