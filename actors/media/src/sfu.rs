//! The WebRTC media path of the SFU (webrtc-rs 0.17).
//!
//! - [`Sfu`] builds peer connections with one shared media engine / interceptor set-up.
//! - A [`PublishedTrack`] is one track a peer sends to the server. Its RTP is read by one
//!   forwarding task ([`PublishedTrack::forward`]) and written once to a
//!   `TrackLocalStaticRTP`; every subscriber's peer connection binds that local track, so
//!   fan-out is one write per packet per subscriber inside webrtc-rs, with SSRC and payload
//!   type rewritten per binding.
//! - Keyframes: when a subscriber asks for one (PLI/FIR), [`relay_keyframe_requests`] sends a
//!   PLI to the publisher, so a late joiner gets a picture at once.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};

use serde::Deserialize;
use webrtc::api::interceptor_registry::register_default_interceptors;
use webrtc::api::media_engine::MediaEngine;
use webrtc::api::setting_engine::SettingEngine;
use webrtc::api::{APIBuilder, API};
use webrtc::ice::mdns::MulticastDnsMode;
use webrtc::ice::udp_network::{EphemeralUDP, UDPNetwork};
use webrtc::ice_transport::ice_candidate_type::RTCIceCandidateType;
use webrtc::ice_transport::ice_server::RTCIceServer;
use webrtc::interceptor::registry::Registry;
use webrtc::peer_connection::configuration::RTCConfiguration;
use webrtc::peer_connection::RTCPeerConnection;
use webrtc::rtcp::payload_feedbacks::full_intra_request::FullIntraRequest;
use webrtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use webrtc::rtp_transceiver::rtp_codec::RTPCodecType;
use webrtc::rtp_transceiver::rtp_sender::RTCRtpSender;
use webrtc::track::track_local::track_local_static_rtp::TrackLocalStaticRTP;
use webrtc::track::track_local::TrackLocalWriter;
use webrtc::track::track_remote::TrackRemote;

use vkyc_domain::{MediaKind, PeerId};

/// Media settings of the SFU (the `[rtc]` table of the server's config).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RtcConfig {
    /// First and last UDP port for ICE (0, 0 = any ephemeral port).
    pub udp_port_min: u16,
    pub udp_port_max: u16,
    /// Public addresses announced instead of the host's (1:1 NAT, e.g. a cloud VM).
    pub public_ips: Vec<std::net::IpAddr>,
    /// Offer 127.0.0.1 candidates (a browser on the same host, tests).
    pub include_loopback: bool,
    /// STUN/TURN URLs the server itself uses (clients get theirs from the pages' config).
    pub ice_servers: Vec<url::Url>,
    /// Largest SDP accepted from a client, in bytes.
    pub max_sdp_bytes: usize,
}

impl Default for RtcConfig {
    fn default() -> Self {
        Self {
            udp_port_min: 0,
            udp_port_max: 0,
            public_ips: vec![],
            include_loopback: true,
            ice_servers: vec![],
            max_sdp_bytes: 32 * 1024,
        }
    }
}

/// Builds peer connections that share one codec / interceptor / network set-up.
pub struct Sfu {
    api: API,
    config: RtcConfig,
}

impl Sfu {
    pub fn new(config: RtcConfig) -> Result<Self, webrtc::Error> {
        let mut media = MediaEngine::default();
        media.register_default_codecs()?;
        let registry = register_default_interceptors(Registry::new(), &mut media)?;
        let mut settings = SettingEngine::default();
        settings.set_include_loopback_candidate(config.include_loopback);
        // Browsers hide their host addresses behind mDNS names; we learn their real address
        // from the STUN checks (peer-reflexive), so resolving .local names is not needed.
        settings.set_ice_multicast_dns_mode(MulticastDnsMode::Disabled);
        if config.udp_port_min != 0 || config.udp_port_max != 0 {
            let udp = EphemeralUDP::new(config.udp_port_min, config.udp_port_max)?;
            settings.set_udp_network(UDPNetwork::Ephemeral(udp));
        }
        if !config.public_ips.is_empty() {
            settings.set_nat_1to1_ips(
                config.public_ips.iter().map(ToString::to_string).collect(),
                RTCIceCandidateType::Host,
            );
        }
        let api = APIBuilder::new()
            .with_media_engine(media)
            .with_interceptor_registry(registry)
            .with_setting_engine(settings)
            .build();
        Ok(Self { api, config })
    }

    pub fn config(&self) -> &RtcConfig {
        &self.config
    }

    pub async fn new_peer_connection(&self) -> Result<Arc<RTCPeerConnection>, webrtc::Error> {
        let ice_servers = if self.config.ice_servers.is_empty() {
            vec![]
        } else {
            vec![RTCIceServer {
                urls: self
                    .config
                    .ice_servers
                    .iter()
                    .map(|u| u.to_string())
                    .collect(),
                ..Default::default()
            }]
        };
        let pc = self
            .api
            .new_peer_connection(RTCConfiguration {
                ice_servers,
                ..Default::default()
            })
            .await?;
        Ok(Arc::new(pc))
    }
}

pub fn media_kind(kind: RTPCodecType) -> Option<MediaKind> {
    match kind {
        RTPCodecType::Audio => Some(MediaKind::Audio),
        RTPCodecType::Video => Some(MediaKind::Video),
        _ => None,
    }
}

/// Counters of one published track, readable while it forwards.
#[derive(Debug, Default)]
pub struct TrackCounters {
    pub received: AtomicU64,
    pub forwarded: AtomicU64,
    pub dropped_muted: AtomicU64,
    pub keyframe_requests: AtomicU64,
}

/// One track a peer publishes to the room.
pub struct PublishedTrack {
    pub publisher: PeerId,
    pub kind: MediaKind,
    /// What subscribers bind to. Its stream id is the publisher's peer id.
    pub local: Arc<TrackLocalStaticRTP>,
    remote_ssrc: u32,
    publisher_pc: Weak<RTCPeerConnection>,
    muted: AtomicBool,
    pub counters: TrackCounters,
    /// The room's recorder, when the call is recorded: gets a copy of every forwarded packet.
    pub recorder: std::sync::OnceLock<crate::recording::TrackTap>,
}

impl PublishedTrack {
    pub fn new(
        publisher: PeerId,
        remote: &TrackRemote,
        publisher_pc: &Arc<RTCPeerConnection>,
    ) -> Option<Arc<Self>> {
        let kind = media_kind(remote.kind())?;
        let local = TrackLocalStaticRTP::new(
            remote.codec().capability,
            kind.as_str().to_string(),
            publisher.to_string(),
        );
        Some(Arc::new(Self {
            publisher,
            kind,
            local: Arc::new(local),
            remote_ssrc: remote.ssrc(),
            publisher_pc: Arc::downgrade(publisher_pc),
            muted: AtomicBool::new(false),
            counters: TrackCounters::default(),
            recorder: std::sync::OnceLock::new(),
        }))
    }

    pub fn set_muted(&self, muted: bool) {
        self.muted.store(muted, Ordering::Relaxed);
    }

    pub fn is_muted(&self) -> bool {
        self.muted.load(Ordering::Relaxed)
    }

    /// Ask the publisher for a keyframe (no-op for audio or once the publisher is gone).
    pub async fn request_keyframe(&self) {
        if self.kind != MediaKind::Video {
            return;
        }
        if let Some(pc) = self.publisher_pc.upgrade() {
            self.counters
                .keyframe_requests
                .fetch_add(1, Ordering::Relaxed);
            let pli = PictureLossIndication {
                sender_ssrc: 0,
                media_ssrc: self.remote_ssrc,
            };
            if let Err(e) = pc.write_rtcp(&[Box::new(pli)]).await {
                tracing::debug!(error = %e, "PLI to publisher failed");
            }
        }
    }

    /// The forwarding loop: runs until the publisher's track ends (its connection closes).
    ///
    /// Prometheus (process-wide, by kind): `vkyc_sfu_received_packets_total`,
    /// `vkyc_sfu_received_bytes_total` (RTP payload bytes), `vkyc_sfu_forwarded_packets_total`
    /// and `vkyc_sfu_forwarded_bytes_total` (one per packet written to the forwarding track,
    /// whatever the number of subscribers it fans out to).
    pub async fn forward(self: Arc<Self>, remote: Arc<TrackRemote>) {
        let kind = self.kind.as_str();
        let rx_packets = metrics::counter!("vkyc_sfu_received_packets_total", "kind" => kind);
        let rx_bytes = metrics::counter!("vkyc_sfu_received_bytes_total", "kind" => kind);
        let fw_packets = metrics::counter!("vkyc_sfu_forwarded_packets_total", "kind" => kind);
        let fw_bytes = metrics::counter!("vkyc_sfu_forwarded_bytes_total", "kind" => kind);
        loop {
            let packet = match remote.read_rtp().await {
                Ok((packet, _)) => packet,
                Err(_) => break,
            };
            self.counters.received.fetch_add(1, Ordering::Relaxed);
            rx_packets.increment(1);
            rx_bytes.increment(packet.payload.len() as u64);
            if self.is_muted() {
                self.counters.dropped_muted.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            if let Some(tap) = self.recorder.get() {
                tap.rtp(&packet);
            }
            match self.local.write_rtp(&packet).await {
                Ok(_) => {
                    self.counters.forwarded.fetch_add(1, Ordering::Relaxed);
                    fw_packets.increment(1);
                    fw_bytes.increment(packet.payload.len() as u64);
                }
                // No subscriber bound yet, or one closing: not an error for the publisher.
                Err(webrtc::Error::ErrClosedPipe) => {}
                Err(e) => tracing::debug!(error = %e, "forward write failed"),
            }
        }
        tracing::debug!(publisher = %self.publisher, kind = self.kind.as_str(), "track forwarding ended");
    }
}

/// Read a subscriber's RTCP for one forwarded track and relay keyframe requests to the
/// publisher. Ends when the sender is removed or its connection closes.
pub async fn relay_keyframe_requests(sender: Arc<RTCRtpSender>, track: Weak<PublishedTrack>) {
    while let Ok((packets, _)) = sender.read_rtcp().await {
        let wants_keyframe = packets.iter().any(|p| {
            let any = p.as_any();
            any.is::<PictureLossIndication>() || any.is::<FullIntraRequest>()
        });
        if wants_keyframe {
            match track.upgrade() {
                Some(track) => track.request_keyframe().await,
                None => break,
            }
        }
    }
}
