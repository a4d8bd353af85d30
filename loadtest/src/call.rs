//! One simulated call: a session created over the API, an agent and a customer (plus
//! observers for more participants) joining as real webrtc-rs peers over the signalling,
//! both publishing the VP8/Opus clips and receiving each other through the SFU, the
//! optional KYC step flow with captures, and the end. Everything is recorded in the
//! level's [`Metrics`].

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Result;
use async_trait::async_trait;
use bytes::Bytes;
use serde_json::{json, Value};

use crate::api::ApiClient;
use crate::media::MediaSamples;
use crate::peer::{RtpSink, SimPeer, SimPeerOptions};
use crate::stats::{Metrics, PeerSendLog, StreamRx};

/// What every call of a run does.
#[derive(Debug, Clone)]
pub struct CallProfile {
    /// 2 = agent + customer; each one more is an observer (receives only).
    pub participants: usize,
    pub audio: bool,
    pub video: bool,
    /// KYC steps run by the agent once media flows: consent, location, document, face.
    pub steps: Vec<String>,
    /// Longest wait from the token to the first remote media packet.
    pub join_timeout: Duration,
}

/// Base64 JPEGs for the step flow's captures.
#[derive(Debug, Clone)]
pub struct StepImages {
    /// The customer's face, captured by the agent for the face step.
    pub face: String,
    /// The lender's reference photo (used when the workflow has no document step).
    pub reference: String,
    /// A synthetic PAN card and the name printed on it (document step).
    pub card: Option<(String, String)>,
}

/// Where one media packet goes: a SimPeer's track, or a UDP socket (the relay baseline).
#[async_trait]
pub trait PacketWriter: Send + Sync {
    async fn write(
        &self,
        kind: &'static str,
        seq: u16,
        payload: Bytes,
        marker: bool,
        ts: u32,
    ) -> Result<()>;
}

#[async_trait]
impl PacketWriter for SimPeer {
    async fn write(
        &self,
        kind: &'static str,
        seq: u16,
        payload: Bytes,
        marker: bool,
        ts: u32,
    ) -> Result<()> {
        match self.write_packet(kind, seq, payload, marker, ts).await {
            // Not negotiated yet: the packet is simply not sent, like a muted browser track.
            Err(e) if e.to_string().contains("closed pipe") => Ok(()),
            r => r,
        }
    }
}

/// Paced sending of the clips until `stop`: video frame by frame at the clip's frame rate
/// (all packets of a frame back to back, marker on the last), audio every 20 ms. Send times
/// go to `log` just before each write.
pub async fn send_media(
    out: Arc<dyn PacketWriter>,
    kind: &'static str,
    log: Arc<PeerSendLog>,
    metrics: Arc<Metrics>,
    samples: Arc<MediaSamples>,
    stop: Arc<AtomicBool>,
) {
    let (period, ts_step, frames): (Duration, u32, Vec<&[Bytes]>) = if kind == "video" {
        let fps = samples.profile.fps.max(1);
        (
            Duration::from_secs_f64(1.0 / f64::from(fps)),
            90_000 / fps,
            samples
                .video
                .iter()
                .map(|f| f.payloads.as_slice())
                .collect(),
        )
    } else {
        (
            Duration::from_millis(20),
            960,
            samples.audio.iter().map(std::slice::from_ref).collect(),
        )
    };
    metrics
        .media(kind)
        .streams_sent
        .fetch_add(1, Ordering::Relaxed);
    let started = Instant::now();
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut ts: u32 = rand::random();
    let mut seq: u16 = rand::random();
    let mut reported = false;
    for frame in frames.iter().cycle() {
        tick.tick().await;
        if stop.load(Ordering::Relaxed) {
            break;
        }
        for (i, payload) in frame.iter().enumerate() {
            seq = seq.wrapping_add(1);
            metrics.record_sent(&log, kind, seq, payload.len(), Instant::now());
            if let Err(e) = out
                .write(kind, seq, payload.clone(), i + 1 == frame.len(), ts)
                .await
            {
                if !reported {
                    tracing::debug!(error = %e, "rtp write failed");
                    metrics.error("rtp_write_failed");
                    reported = true;
                }
            }
        }
        ts = ts.wrapping_add(ts_step);
    }
    metrics
        .media(kind)
        .sent_stream_us
        .fetch_add(started.elapsed().as_micros() as u64, Ordering::Relaxed);
}

/// A receiver's per-stream state: (publisher, kind) → loss/jitter and the publisher's log.
type RxStreams = Mutex<HashMap<(String, &'static str), (StreamRx, Option<Arc<PeerSendLog>>)>>;

/// The sink a receiving peer hands every packet to.
pub fn measuring_sink(metrics: Arc<Metrics>) -> RtpSink {
    let streams: RxStreams = Mutex::new(HashMap::new());
    RtpSink(Arc::new(
        move |stream: &str, kind: &'static str, pkt: &webrtc::rtp::packet::Packet, at: Instant| {
            let mut s = streams.lock().unwrap();
            let (rx, log) = s.entry((stream.to_string(), kind)).or_insert_with(|| {
                let clock = if kind == "video" { 90_000 } else { 48_000 };
                (
                    StreamRx::new(clock),
                    metrics.senders.lock().unwrap().get(stream).cloned(),
                )
            });
            if log.is_none() {
                *log = metrics.senders.lock().unwrap().get(stream).cloned();
            }
            metrics.record_received(
                rx,
                log.as_deref(),
                kind,
                pkt.header.sequence_number,
                pkt.header.timestamp,
                pkt.payload.len(),
                at,
            );
        },
    ))
}

/// A failed call: the error code it is counted under.
#[derive(Debug)]
pub struct CallError(pub String);

impl<E: std::fmt::Display> From<E> for CallError {
    fn from(e: E) -> Self {
        let s = e.to_string();
        let code = if s.contains("join refused") {
            "join_refused"
        } else if s.contains("websocket") {
            "signalling_connect_failed"
        } else {
            "client_error"
        };
        tracing::debug!(error = %s, code, "call error");
        CallError(code.to_string())
    }
}

/// POST through `client`, timing it under `endpoint`; HTTP errors become their error code.
pub async fn timed_post(
    metrics: &Metrics,
    client: &ApiClient,
    endpoint: &str,
    path: &str,
    body: Value,
) -> Result<Value, CallError> {
    let t = Instant::now();
    let res = client.post_raw(path, &body).await;
    let us = t.elapsed().as_micros() as u64;
    let inference = endpoint.contains("/steps/face/") || endpoint.contains("/steps/document/");
    if inference {
        let step = if endpoint.contains("/face/") {
            "face"
        } else {
            "document"
        };
        metrics.record_inference(step, us);
    } else {
        metrics.record_api(endpoint, us);
    }
    match res {
        Ok((status, v)) if (200..300).contains(&status) => Ok(v),
        Ok((status, v)) => {
            let code = v["error"]["code"]
                .as_str()
                .map_or_else(|| format!("http_{status}"), str::to_string);
            Err(CallError(code))
        }
        Err(_) => Err(CallError("http_transport_error".into())),
    }
}

/// Everything one call needs.
pub struct CallCtx {
    pub index: usize,
    pub api: ApiClient,
    pub profile: Arc<CallProfile>,
    pub samples: Arc<MediaSamples>,
    pub images: Option<Arc<StepImages>>,
    pub metrics: Arc<Metrics>,
    /// When the call hangs up.
    pub end_at: Instant,
}

/// Run one call start to end; failures are counted, never returned.
pub async fn run_call(ctx: CallCtx) {
    let m = ctx.metrics.clone();
    m.calls_started.fetch_add(1, Ordering::Relaxed);
    let mut up = false;
    let result = call_body(&ctx, &mut up).await;
    if up {
        m.calls_up.fetch_sub(1, Ordering::Relaxed);
    }
    match result {
        Ok(()) => {
            m.calls_completed.fetch_add(1, Ordering::Relaxed);
        }
        Err(CallError(code)) => {
            m.calls_failed.fetch_add(1, Ordering::Relaxed);
            m.error(&code);
        }
    }
}

async fn call_body(ctx: &CallCtx, up: &mut bool) -> Result<(), CallError> {
    let m = &ctx.metrics;
    let p = &ctx.profile;
    let mut body =
        json!({"mode": "live_agent", "applicant": {"name": format!("Load Test {}", ctx.index)}});
    if let Some((_, name)) = ctx.images.as_ref().and_then(|i| i.card.as_ref()) {
        body["applicant"]["name"] = json!(name);
    }
    if !p.steps.is_empty() {
        body["workflow"] = json!(p.steps);
    }
    let session = timed_post(m, &ctx.api, "POST /v1/sessions", "/v1/sessions", body).await?;
    let sid = session["id"]
        .as_str()
        .ok_or_else(|| CallError("bad_session_response".into()))?
        .to_string();

    let roles: Vec<&str> = (0..p.participants.max(2))
        .map(|i| ["agent", "customer"].get(i).copied().unwrap_or("observer"))
        .collect();
    let mut tokens = Vec::new();
    for role in &roles {
        let v = timed_post(
            m,
            &ctx.api,
            "POST /v1/sessions/{id}/tokens",
            &format!("/v1/sessions/{sid}/tokens"),
            json!({"role": role}),
        )
        .await?;
        tokens.push(
            v["token"]
                .as_str()
                .ok_or_else(|| CallError("bad_token_response".into()))?
                .to_string(),
        );
    }

    // Join everyone at once, as two browsers would.
    let ws = ctx.api.ws_url();
    let joins = tokens.iter().zip(&roles).map(|(t, role)| {
        let opts = SimPeerOptions {
            publish: *role != "observer",
            sink: Some(measuring_sink(m.clone())),
        };
        let ws = ws.clone();
        async move {
            let issued = Instant::now();
            let peer = SimPeer::join(&ws, t, opts).await?;
            anyhow::Ok((Arc::new(peer), issued))
        }
    });
    let mut peers = Vec::new();
    let mut failed = None;
    for r in futures_util::future::join_all(joins).await {
        match r {
            Ok(p) => peers.push(p),
            Err(e) => failed = Some(CallError::from(e)),
        }
    }
    if let Some(e) = failed {
        // Hang up whoever did join, so the room does not wait for its timeout.
        for (peer, _) in &peers {
            peer.close().await;
        }
        return Err(e);
    }

    let stop = Arc::new(AtomicBool::new(false));
    let mut senders = Vec::new();
    for ((peer, _), role) in peers.iter().zip(&roles) {
        if *role == "observer" {
            continue;
        }
        let log = m.send_log(&peer.peer_id);
        let kinds = [("video", p.video), ("audio", p.audio)];
        for (kind, on) in kinds {
            if on {
                let out: Arc<dyn PacketWriter> = peer.clone();
                senders.push(tokio::spawn(send_media(
                    out,
                    kind,
                    log.clone(),
                    m.clone(),
                    ctx.samples.clone(),
                    stop.clone(),
                )));
            }
        }
    }

    let result = async {
        // Up when every peer has media from the others.
        let deadline = Instant::now() + p.join_timeout;
        for (peer, issued) in &peers {
            loop {
                let first = peer.received.lock().unwrap().first_packet_at;
                if let Some(first) = first {
                    m.record_join(first.saturating_duration_since(*issued).as_micros() as u64);
                    break;
                }
                if Instant::now() > deadline {
                    return Err(CallError("no_media".into()));
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        m.calls_up.fetch_add(1, Ordering::Relaxed);
        *up = true;
        if let Some(images) = &ctx.images {
            run_steps(ctx, &sid, &tokens, images).await?;
        }
        tokio::time::sleep_until(ctx.end_at.into()).await;
        Ok(())
    }
    .await;

    stop.store(true, Ordering::Relaxed);
    for s in senders {
        let _ = s.await;
    }
    // Let the last packets through before hanging up.
    tokio::time::sleep(Duration::from_millis(300)).await;
    for (peer, _) in &peers {
        peer.close().await;
    }
    result
}

/// The agent runs the session's workflow steps while the call is up.
async fn run_steps(
    ctx: &CallCtx,
    sid: &str,
    tokens: &[String],
    images: &StepImages,
) -> Result<(), CallError> {
    let m = &ctx.metrics;
    let agent = ctx.api.with_bearer(&tokens[0]);
    let customer = ctx.api.with_bearer(&tokens[1]);
    let steps = format!("/v1/sessions/{sid}/steps");
    let captures = format!("/v1/sessions/{sid}/captures");
    let capture_ep = "POST /v1/sessions/{id}/captures";
    for step in &ctx.profile.steps {
        let ep = format!("POST /v1/sessions/{{id}}/steps/{step}/attempts");
        let path = format!("{steps}/{step}/attempts");
        let attempt = match step.as_str() {
            "consent" => {
                timed_post(
                    m,
                    &customer,
                    &ep,
                    &path,
                    json!({"text_version": "v1", "given": true}),
                )
                .await?
            }
            "location" => {
                timed_post(
                    m,
                    &customer,
                    &ep,
                    &path,
                    json!({"latitude": 19.07, "longitude": 72.88, "accuracy_m": 30.0}),
                )
                .await?
            }
            "document" => {
                let Some((card, _)) = &images.card else {
                    continue;
                };
                let c = timed_post(
                    m,
                    &agent,
                    capture_ep,
                    &captures,
                    json!({"kind": "document", "image": card}),
                )
                .await?;
                timed_post(
                    m,
                    &agent,
                    &ep,
                    &path,
                    json!({"capture_id": c["id"], "kind": "pan"}),
                )
                .await?
            }
            "face" => {
                if !ctx.profile.steps.iter().any(|s| s == "document") {
                    timed_post(
                        m,
                        &ctx.api,
                        capture_ep,
                        &captures,
                        json!({"kind": "reference", "image": images.reference}),
                    )
                    .await?;
                }
                let c = timed_post(
                    m,
                    &agent,
                    capture_ep,
                    &captures,
                    json!({"kind": "face", "image": images.face}),
                )
                .await?;
                timed_post(m, &agent, &ep, &path, json!({"capture_id": c["id"]})).await?
            }
            _ => continue,
        };
        // An attempt that could not run (engine busy, timeout) counts by its error code; a
        // plain "failed" (say, a weak face match) is a business outcome, not an error.
        if attempt["attempt"]["outcome"] == "error" {
            let code = attempt["attempt"]["errors"][0]["code"]
                .as_str()
                .unwrap_or("step_error");
            m.error(&format!("{step}:{code}"));
        }
    }
    Ok(())
}
