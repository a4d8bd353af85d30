//! [`SimPeer`]: a WebRTC participant built with webrtc-rs that speaks vkyc's signalling.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use webrtc::api::interceptor_registry::register_default_interceptors;
use webrtc::api::media_engine::{MediaEngine, MIME_TYPE_OPUS, MIME_TYPE_VP8};
use webrtc::api::setting_engine::SettingEngine;
use webrtc::api::APIBuilder;
use webrtc::ice::mdns::MulticastDnsMode;
use webrtc::ice_transport::ice_candidate::RTCIceCandidateInit;
use webrtc::interceptor::registry::Registry;
use webrtc::peer_connection::configuration::RTCConfiguration;
use webrtc::peer_connection::sdp::session_description::RTCSessionDescription;
use webrtc::peer_connection::RTCPeerConnection;
use webrtc::rtcp::payload_feedbacks::full_intra_request::FullIntraRequest;
use webrtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use webrtc::rtp::header::Header;
use webrtc::rtp::packet::Packet;
use webrtc::rtp_transceiver::rtp_codec::{RTCRtpCodecCapability, RTPCodecType};
use webrtc::track::track_local::track_local_static_rtp::TrackLocalStaticRTP;
use webrtc::track::track_local::{TrackLocal, TrackLocalWriter};

/// Called for every RTP packet a peer receives: (publisher stream id, kind, packet, arrival).
pub type RtpSinkFn = dyn Fn(&str, &'static str, &Packet, Instant) + Send + Sync;

/// A receiver of RTP packets (the load test's measurements) instead of keeping payloads.
#[derive(Clone)]
pub struct RtpSink(pub Arc<RtpSinkFn>);

impl std::fmt::Debug for RtpSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RtpSink")
    }
}

#[derive(Debug, Clone)]
pub struct SimPeerOptions {
    /// Add an audio and a video track (as a browser would before answering).
    pub publish: bool,
    /// When set, received packets go to this sink and their payloads are not kept in
    /// [`Received::packets`] (a long load run would hold every byte otherwise).
    pub sink: Option<RtpSink>,
}

impl Default for SimPeerOptions {
    fn default() -> Self {
        Self {
            publish: true,
            sink: None,
        }
    }
}

/// Everything a peer received, per (publisher stream id, kind).
#[derive(Debug, Default)]
pub struct Received {
    pub packets: HashMap<(String, &'static str), Vec<Bytes>>,
    /// SSRC of each received track, to address keyframe requests.
    pub ssrcs: HashMap<(String, &'static str), u32>,
    pub first_packet_at: Option<Instant>,
}

impl Received {
    pub fn count(&self, stream: &str, kind: &'static str) -> usize {
        self.packets
            .get(&(stream.to_string(), kind))
            .map_or(0, Vec::len)
    }
}

pub struct SimPeer {
    pub peer_id: String,
    pub joined: Value,
    pub pc: Arc<RTCPeerConnection>,
    video: Arc<TrackLocalStaticRTP>,
    audio: Arc<TrackLocalStaticRTP>,
    pub received: Arc<Mutex<Received>>,
    out: mpsc::UnboundedSender<Value>,
    /// Server messages other than offer/candidate (peer_joined, errors, …), in order.
    events: tokio::sync::Mutex<mpsc::UnboundedReceiver<Value>>,
    seq: Mutex<HashMap<&'static str, u16>>,
    /// Keyframe requests (PLI/FIR) the server sent for this peer's published video.
    pub keyframe_requests: Arc<std::sync::atomic::AtomicU64>,
}

fn kind_str(k: RTPCodecType) -> &'static str {
    match k {
        RTPCodecType::Audio => "audio",
        RTPCodecType::Video => "video",
        _ => "other",
    }
}

impl SimPeer {
    /// Connect to `ws_url`, join with `token`, and answer the server's offers from then on.
    pub async fn join(ws_url: &str, token: &str, opts: SimPeerOptions) -> Result<SimPeer> {
        let (ws, _) = tokio_tungstenite::connect_async(ws_url)
            .await
            .context("websocket connect")?;
        let (mut sink, mut stream) = ws.split();
        sink.send(Message::Text(
            json!({"type": "join", "token": token}).to_string(),
        ))
        .await?;
        let joined = loop {
            let msg = tokio::time::timeout(Duration::from_secs(10), stream.next())
                .await
                .context("no answer to join")?
                .ok_or_else(|| anyhow!("socket closed before joined"))??;
            if let Message::Text(t) = msg {
                let v: Value = serde_json::from_str(&t)?;
                match v["type"].as_str() {
                    Some("joined") => break v,
                    Some("error") => bail!("join refused: {v}"),
                    _ => {}
                }
            }
        };
        let peer_id = joined["peer_id"].as_str().unwrap_or_default().to_string();

        let mut media = MediaEngine::default();
        media.register_default_codecs()?;
        let registry = register_default_interceptors(Registry::new(), &mut media)?;
        let mut settings = SettingEngine::default();
        settings.set_include_loopback_candidate(true);
        settings.set_ice_multicast_dns_mode(MulticastDnsMode::Disabled);
        let api = APIBuilder::new()
            .with_media_engine(media)
            .with_interceptor_registry(registry)
            .with_setting_engine(settings)
            .build();
        let pc = Arc::new(api.new_peer_connection(RTCConfiguration::default()).await?);

        let video = Arc::new(TrackLocalStaticRTP::new(
            RTCRtpCodecCapability {
                mime_type: MIME_TYPE_VP8.to_owned(),
                clock_rate: 90000,
                ..Default::default()
            },
            "video".into(),
            format!("sim-{peer_id}"),
        ));
        let audio = Arc::new(TrackLocalStaticRTP::new(
            RTCRtpCodecCapability {
                mime_type: MIME_TYPE_OPUS.to_owned(),
                clock_rate: 48000,
                channels: 2,
                ..Default::default()
            },
            "audio".into(),
            format!("sim-{peer_id}"),
        ));
        let keyframe_requests = Arc::new(std::sync::atomic::AtomicU64::new(0));
        if opts.publish {
            for t in [
                video.clone() as Arc<dyn TrackLocal + Send + Sync>,
                audio.clone(),
            ] {
                let sender = pc.add_track(t).await?;
                // Read RTCP (interceptors need it) and count keyframe requests.
                let kf = keyframe_requests.clone();
                tokio::spawn(async move {
                    while let Ok((packets, _)) = sender.read_rtcp().await {
                        for p in packets {
                            let any = p.as_any();
                            if any.is::<PictureLossIndication>() || any.is::<FullIntraRequest>() {
                                kf.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            }
                        }
                    }
                });
            }
        }

        let (out_tx, mut out_rx) = mpsc::unbounded_channel::<Value>();
        let (ev_tx, ev_rx) = mpsc::unbounded_channel::<Value>();
        let received = Arc::new(Mutex::new(Received::default()));

        let out = out_tx.clone();
        pc.on_ice_candidate(Box::new(move |c| {
            let out = out.clone();
            Box::pin(async move {
                let candidate = c.and_then(|c| c.to_json().ok()).map(|j| {
                    json!({"candidate": j.candidate, "sdpMid": j.sdp_mid, "sdpMLineIndex": j.sdp_mline_index})
                });
                let _ = out.send(json!({"type": "candidate", "candidate": candidate}));
            })
        }));
        let rec = received.clone();
        let rtp_sink = opts.sink.clone();
        pc.on_track(Box::new(move |track, _, _| {
            let rec = rec.clone();
            let rtp_sink = rtp_sink.clone();
            tokio::spawn(async move {
                let key = (track.stream_id(), kind_str(track.kind()));
                rec.lock().unwrap().ssrcs.insert(key.clone(), track.ssrc());
                while let Ok((pkt, _)) = track.read_rtp().await {
                    let now = Instant::now();
                    if let Some(rtp_sink) = &rtp_sink {
                        (rtp_sink.0)(&key.0, key.1, &pkt, now);
                        rec.lock().unwrap().first_packet_at.get_or_insert(now);
                        continue;
                    }
                    let mut r = rec.lock().unwrap();
                    r.first_packet_at.get_or_insert(now);
                    r.packets.entry(key.clone()).or_default().push(pkt.payload);
                }
            });
            Box::pin(async {})
        }));

        // Writer: everything queued for the server.
        tokio::spawn(async move {
            while let Some(v) = out_rx.recv().await {
                if sink.send(Message::Text(v.to_string())).await.is_err() {
                    break;
                }
            }
            let _ = sink.close().await;
        });
        // Reader: answer offers, apply candidates, pass the rest on.
        let pc2 = pc.clone();
        let out = out_tx.clone();
        tokio::spawn(async move {
            while let Some(Ok(msg)) = stream.next().await {
                let Message::Text(t) = msg else { continue };
                let Ok(v) = serde_json::from_str::<Value>(&t) else {
                    continue;
                };
                match v["type"].as_str() {
                    Some("offer") => {
                        let sdp = v["sdp"].as_str().unwrap_or_default().to_string();
                        if let Err(e) = answer(&pc2, sdp, &out).await {
                            let _ = ev_tx
                                .send(json!({"type": "client_error", "message": e.to_string()}));
                        }
                    }
                    Some("candidate") => {
                        if let Some(c) = v["candidate"].as_object() {
                            let init = RTCIceCandidateInit {
                                candidate: c
                                    .get("candidate")
                                    .and_then(Value::as_str)
                                    .unwrap_or_default()
                                    .to_string(),
                                sdp_mid: c
                                    .get("sdpMid")
                                    .and_then(Value::as_str)
                                    .map(str::to_string),
                                sdp_mline_index: c
                                    .get("sdpMLineIndex")
                                    .and_then(Value::as_u64)
                                    .map(|i| i as u16),
                                username_fragment: None,
                            };
                            let _ = pc2.add_ice_candidate(init).await;
                        }
                    }
                    _ => {
                        let _ = ev_tx.send(v);
                    }
                }
            }
            let _ = ev_tx.send(json!({"type": "socket_closed"}));
        });

        Ok(SimPeer {
            peer_id,
            joined,
            pc,
            video,
            audio,
            received,
            out: out_tx,
            events: tokio::sync::Mutex::new(ev_rx),
            seq: Mutex::new(HashMap::new()),
            keyframe_requests,
        })
    }

    /// Send a raw signalling message.
    pub fn send(&self, msg: Value) {
        let _ = self.out.send(msg);
    }

    /// Send one RTP packet with `payload` on the audio or video track (one packet per
    /// frame: marker set, timestamp advancing by a 30 fps / 20 ms frame).
    pub async fn send_rtp(&self, kind: &'static str, payload: Bytes) -> Result<()> {
        let seq = self.next_seq(kind);
        let ts_step = if kind == "video" { 3000u32 } else { 960u32 };
        self.write_packet(kind, seq, payload, true, (seq as u32).wrapping_mul(ts_step))
            .await
    }

    /// The next RTP sequence number of this peer's `kind` track (starting at 1).
    pub fn next_seq(&self, kind: &'static str) -> u16 {
        let mut s = self.seq.lock().unwrap();
        let e = s.entry(kind).or_insert(0);
        *e = e.wrapping_add(1);
        *e
    }

    /// Send one RTP packet with the caller's sequence number, marker and timestamp (real
    /// packetised media: several packets per video frame share a timestamp).
    pub async fn write_packet(
        &self,
        kind: &'static str,
        seq: u16,
        payload: Bytes,
        marker: bool,
        timestamp: u32,
    ) -> Result<()> {
        let track = if kind == "video" {
            &self.video
        } else {
            &self.audio
        };
        let pkt = Packet {
            header: Header {
                version: 2,
                marker,
                sequence_number: seq,
                timestamp,
                ..Default::default()
            },
            payload,
        };
        track.write_rtp(&pkt).await?;
        Ok(())
    }

    /// Ask the server for a keyframe of `publisher`'s video, as a decoder would (PLI).
    pub async fn request_keyframe(&self, publisher: &str) -> Result<()> {
        let ssrc = self
            .received
            .lock()
            .unwrap()
            .ssrcs
            .get(&(publisher.to_string(), "video"))
            .copied();
        let ssrc = ssrc.ok_or_else(|| anyhow!("no video received from {publisher}"))?;
        self.pc
            .write_rtcp(&[Box::new(PictureLossIndication {
                sender_ssrc: 0,
                media_ssrc: ssrc,
            })])
            .await?;
        Ok(())
    }

    /// The next server event (not offer/candidate) within `timeout`.
    pub async fn next_event(&self, timeout: Duration) -> Option<Value> {
        let mut rx = self.events.lock().await;
        tokio::time::timeout(timeout, rx.recv())
            .await
            .ok()
            .flatten()
    }

    /// Wait for an event of `kind`, skipping others.
    pub async fn wait_event(&self, kind: &str, timeout: Duration) -> Option<Value> {
        let deadline = Instant::now() + timeout;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.next_event(left).await {
                Some(v) if v["type"] == kind => return Some(v),
                Some(_) => continue,
                None => return None,
            }
        }
        None
    }

    pub async fn close(&self) {
        self.send(json!({"type": "leave"}));
        let _ = self.pc.close().await;
    }
}

async fn answer(
    pc: &RTCPeerConnection,
    sdp: String,
    out: &mpsc::UnboundedSender<Value>,
) -> Result<()> {
    pc.set_remote_description(RTCSessionDescription::offer(sdp)?)
        .await?;
    let answer = pc.create_answer(None).await?;
    pc.set_local_description(answer.clone()).await?;
    let _ = out.send(json!({"type": "answer", "sdp": answer.sdp}));
    Ok(())
}
