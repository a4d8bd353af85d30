//! `PeerActor`: one participant's WebRTC connection to the SFU.
//!
//! Owns the negotiation of its peer connection. The server is always the offerer: the peer
//! sends an offer when it starts and again whenever its set of subscribed tracks changes; an
//! offer made while an earlier one is unanswered is deferred until the answer arrives (no
//! glare). Tracks the client publishes are handed to the room, which fans them out.
//!
//! Its supervisor is the [`crate::room::RoomActor`]; a panic here is seen by the room, which
//! marks the peer failed and tells the client to rejoin.

use std::collections::HashMap;
use std::sync::Arc;

use ractor::{Actor, ActorProcessingErr, ActorRef};
use webrtc::ice_transport::ice_candidate::RTCIceCandidateInit;
use webrtc::peer_connection::peer_connection_state::RTCPeerConnectionState;
use webrtc::peer_connection::sdp::session_description::RTCSessionDescription;
use webrtc::peer_connection::signaling_state::RTCSignalingState;
use webrtc::peer_connection::RTCPeerConnection;
use webrtc::rtp_transceiver::rtp_codec::RTPCodecType;
use webrtc::rtp_transceiver::rtp_sender::RTCRtpSender;
use webrtc::rtp_transceiver::rtp_transceiver_direction::RTCRtpTransceiverDirection;
use webrtc::rtp_transceiver::RTCRtpTransceiverInit;
use webrtc::track::track_local::TrackLocal;

use crate::room::RoomMsg;
use crate::signal::{IceCandidate, ServerMsg, SignalTx};
use vkyc_domain::{PeerId, Role};
use vkyc_media::sfu::{relay_keyframe_requests, PublishedTrack};

/// Identifies a published track inside a room: its publisher and kind.
pub type TrackKey = (PeerId, vkyc_domain::MediaKind);

#[allow(clippy::manual_non_exhaustive)] // the hidden variant is fault injection, not future-proofing
pub enum PeerMsg {
    /// The client's answer to our latest offer.
    Answer(String),
    /// A trickled candidate from the client (`None` = end of candidates).
    Candidate(Option<IceCandidate>),
    /// Start forwarding this track to the client (renegotiates).
    Subscribe(Arc<PublishedTrack>),
    /// Stop forwarding this track (renegotiates).
    Unsubscribe(TrackKey),
    /// Internal: the peer connection's state changed.
    ConnectionState(RTCPeerConnectionState),
    /// Fault injection for supervision tests: makes the handler panic. Not reachable from
    /// the network; only built with the `fault-injection` feature.
    #[cfg(feature = "fault-injection")]
    #[doc(hidden)]
    InjectPanic,
}

pub struct PeerArgs {
    pub peer_id: PeerId,
    pub role: Role,
    pub room: ActorRef<RoomMsg>,
    pub pc: Arc<RTCPeerConnection>,
    pub signal: SignalTx,
    /// Tracks already published in the room when this peer joins.
    pub existing: Vec<Arc<PublishedTrack>>,
    pub max_sdp_bytes: usize,
}

pub struct PeerState {
    peer_id: PeerId,
    pc: Arc<RTCPeerConnection>,
    signal: SignalTx,
    senders: HashMap<TrackKey, (Arc<RTCRtpSender>, Arc<PublishedTrack>)>,
    /// An offer is out and unanswered.
    awaiting_answer: bool,
    /// Something changed while an offer was out: offer again after the answer.
    renegotiate: bool,
    /// Candidates that arrived before the first answer.
    early_candidates: Vec<IceCandidate>,
    max_sdp_bytes: usize,
    /// Subscribed tracks that have not had a keyframe requested for this peer yet: asked
    /// for as soon as the connection is up and the subscription negotiated.
    needs_keyframe: Vec<TrackKey>,
}

pub struct PeerActor;

impl Actor for PeerActor {
    type Msg = PeerMsg;
    type State = PeerState;
    type Arguments = PeerArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<PeerMsg>,
        args: PeerArgs,
    ) -> Result<PeerState, ActorProcessingErr> {
        let pc = args.pc.clone();

        // Our ICE candidates go straight to the client.
        let signal = args.signal.clone();
        pc.on_ice_candidate(Box::new(move |c| {
            let signal = signal.clone();
            Box::pin(async move {
                let candidate = c.and_then(|c| c.to_json().ok()).map(|j| IceCandidate {
                    candidate: j.candidate,
                    sdp_mid: j.sdp_mid,
                    sdp_mline_index: j.sdp_mline_index,
                    username_fragment: j.username_fragment,
                });
                let _ = signal.send(ServerMsg::Candidate { candidate });
            })
        }));

        let me = myself.clone();
        pc.on_peer_connection_state_change(Box::new(move |s| {
            let _ = me.cast(PeerMsg::ConnectionState(s));
            Box::pin(async {})
        }));

        // What the client publishes goes to the room, which fans it out.
        let room = args.room.clone();
        let peer_id = args.peer_id;
        let can_publish = args.role.can_publish();
        pc.on_track(Box::new(move |track, receiver, _transceiver| {
            if can_publish {
                let _ = room.cast(RoomMsg::TrackPublished {
                    peer_id,
                    track,
                    receiver,
                });
            }
            Box::pin(async {})
        }));

        // Publishers get one receive slot per kind; observers none (they cannot publish).
        if args.role.can_publish() {
            for kind in [RTPCodecType::Audio, RTPCodecType::Video] {
                pc.add_transceiver_from_kind(
                    kind,
                    Some(RTCRtpTransceiverInit {
                        direction: RTCRtpTransceiverDirection::Recvonly,
                        send_encodings: vec![],
                    }),
                )
                .await?;
            }
        }

        let mut state = PeerState {
            peer_id: args.peer_id,
            pc,
            signal: args.signal,
            senders: HashMap::new(),
            awaiting_answer: false,
            renegotiate: false,
            early_candidates: vec![],
            max_sdp_bytes: args.max_sdp_bytes,
            needs_keyframe: vec![],
        };
        for track in args.existing {
            add_subscription(&mut state, track).await?;
        }
        Ok(state)
    }

    async fn post_start(
        &self,
        _myself: ActorRef<PeerMsg>,
        state: &mut PeerState,
    ) -> Result<(), ActorProcessingErr> {
        negotiate(state).await
    }

    async fn handle(
        &self,
        _myself: ActorRef<PeerMsg>,
        msg: PeerMsg,
        state: &mut PeerState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            PeerMsg::Answer(sdp) => on_answer(state, sdp).await?,
            PeerMsg::Candidate(c) => on_candidate(state, c).await,
            PeerMsg::Subscribe(track) => {
                add_subscription(state, track).await?;
                negotiate(state).await?;
            }
            PeerMsg::Unsubscribe(key) => {
                if let Some((sender, _)) = state.senders.remove(&key) {
                    if let Err(e) = state.pc.remove_track(&sender).await {
                        tracing::debug!(error = %e, "remove_track failed");
                    }
                    negotiate(state).await?;
                }
            }
            PeerMsg::ConnectionState(s) => {
                tracing::debug!(peer = %state.peer_id, state = %s, "peer connection state");
                match s {
                    // A fresh subscriber needs a keyframe from every publisher it sees.
                    RTCPeerConnectionState::Connected => request_keyframes(state).await,
                    RTCPeerConnectionState::Failed => {
                        return Err("ICE/DTLS connection failed".into());
                    }
                    _ => {}
                }
            }
            #[cfg(feature = "fault-injection")]
            PeerMsg::InjectPanic => panic!("injected fault in PeerActor {}", state.peer_id),
        }
        Ok(())
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<PeerMsg>,
        state: &mut PeerState,
    ) -> Result<(), ActorProcessingErr> {
        let _ = state.pc.close().await;
        Ok(())
    }
}

/// A subscriber that just started receiving needs a keyframe from each new publisher.
async fn request_keyframes(state: &mut PeerState) {
    for key in std::mem::take(&mut state.needs_keyframe) {
        if let Some((_, track)) = state.senders.get(&key) {
            track.request_keyframe().await;
        }
    }
}

async fn add_subscription(
    state: &mut PeerState,
    track: Arc<PublishedTrack>,
) -> Result<(), ActorProcessingErr> {
    let key = (track.publisher, track.kind);
    if state.senders.contains_key(&key) || track.publisher == state.peer_id {
        return Ok(());
    }
    let local: Arc<dyn TrackLocal + Send + Sync> = track.local.clone();
    // Send-only: a client cannot push media back on a forwarded track's m-line.
    let init = RTCRtpTransceiverInit {
        direction: RTCRtpTransceiverDirection::Sendonly,
        send_encodings: vec![],
    };
    let sender = state
        .pc
        .add_transceiver_from_track(local, Some(init))
        .await?
        .sender()
        .await;
    tokio::spawn(relay_keyframe_requests(
        sender.clone(),
        Arc::downgrade(&track),
    ));
    state.senders.insert(key, (sender, track));
    state.needs_keyframe.push(key);
    Ok(())
}

/// Send an offer now, or remember to once the outstanding one is answered.
async fn negotiate(state: &mut PeerState) -> Result<(), ActorProcessingErr> {
    if state.awaiting_answer || state.pc.signaling_state() != RTCSignalingState::Stable {
        state.renegotiate = true;
        return Ok(());
    }
    state.renegotiate = false;
    // Nothing to negotiate yet (an observer in a room where nobody publishes): an offer
    // without media sections carries no ICE credentials. Offer at the first subscription.
    if state.pc.get_transceivers().await.is_empty() {
        return Ok(());
    }
    let offer = state.pc.create_offer(None).await?;
    state.pc.set_local_description(offer.clone()).await?;
    state.awaiting_answer = true;
    let _ = state.signal.send(ServerMsg::Offer { sdp: offer.sdp });
    Ok(())
}

async fn on_answer(state: &mut PeerState, sdp: String) -> Result<(), ActorProcessingErr> {
    if !state.awaiting_answer {
        let _ = state.signal.send(ServerMsg::error(
            "bad_sdp",
            "no offer is waiting for an answer",
        ));
        return Ok(());
    }
    if sdp.len() > state.max_sdp_bytes {
        let _ = state.signal.send(ServerMsg::error(
            "sdp_too_large",
            format!(
                "the answer is {} bytes; at most {} are accepted",
                sdp.len(),
                state.max_sdp_bytes
            ),
        ));
        return Ok(());
    }
    let applied = match RTCSessionDescription::answer(sdp) {
        Ok(desc) => state.pc.set_remote_description(desc).await,
        Err(e) => Err(e),
    };
    if let Err(e) = applied {
        let _ = state.signal.send(ServerMsg::error(
            "bad_sdp",
            format!("the answer was rejected: {e}"),
        ));
        // The offer stays outstanding: the client may send a corrected answer. (webrtc-rs
        // refuses some answers only after applying them in part — no ICE credentials, no
        // codec in common — and then no corrected answer can follow: see issue 15's note.)
        return Ok(());
    }
    state.awaiting_answer = false;
    if state.pc.connection_state() == RTCPeerConnectionState::Connected {
        request_keyframes(state).await;
    }
    for c in std::mem::take(&mut state.early_candidates) {
        on_candidate(state, Some(c)).await;
    }
    if state.renegotiate {
        negotiate(state).await?;
    }
    Ok(())
}

async fn on_candidate(state: &mut PeerState, candidate: Option<IceCandidate>) {
    let Some(c) = candidate else { return };
    if state.pc.remote_description().await.is_none() {
        if state.early_candidates.len() < 64 {
            state.early_candidates.push(c);
        }
        return;
    }
    if c.candidate.len() > 1024 {
        let _ = state
            .signal
            .send(ServerMsg::error("bad_candidate", "candidate too long"));
        return;
    }
    let init = RTCIceCandidateInit {
        candidate: c.candidate,
        sdp_mid: c.sdp_mid,
        sdp_mline_index: c.sdp_mline_index,
        username_fragment: c.username_fragment,
    };
    if let Err(e) = state.pc.add_ice_candidate(init).await {
        let _ = state.signal.send(ServerMsg::error(
            "bad_candidate",
            format!("candidate rejected: {e}"),
        ));
    }
}

/// Property tests of what a client sends this actor: its SDP answers and trickled ICE
/// candidates (README: Fuzzing). Parsing them is webrtc-rs's; these tests hold the actor's
/// promise that a malformed answer or candidate is an `error` message to the client, never a
/// panic (which would fail the peer and drop the customer from the call).
#[cfg(test)]
mod fuzz {
    use super::*;
    use crate::fuzz_support::{cases, config};
    use proptest::prelude::*;
    use proptest::test_runner::TestRunner;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::Duration;
    use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver};
    use vkyc_media::sfu::{RtcConfig, Sfu};
    use webrtc::api::media_engine::{MIME_TYPE_OPUS, MIME_TYPE_VP8};
    use webrtc::ice::candidate::candidate_base::unmarshal_candidate;
    use webrtc::ice::candidate::Candidate;
    use webrtc::rtp_transceiver::rtp_codec::RTCRtpCodecCapability;
    use webrtc::track::track_local::track_local_static_sample::TrackLocalStaticSample;

    // ---- Inputs.

    /// One edit of a text made of `\r\n`-separated lines (an SDP).
    #[derive(Debug, Clone)]
    enum Edit {
        DeleteLine(prop::sample::Index),
        DuplicateLine(prop::sample::Index),
        SwapLines(prop::sample::Index, prop::sample::Index),
        InsertLine(prop::sample::Index, String),
        /// The first run of digits in a line replaced by this.
        Renumber(prop::sample::Index, String),
        /// Text inserted at a character position.
        Splice(prop::sample::Index, String),
        Truncate(prop::sample::Index),
        /// `\n` line ends instead of `\r\n`.
        BareNewlines,
    }

    /// SDP-like lines: the types and attributes an answer carries, with odd values.
    fn sdp_line() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-z]=[ -~]{0,24}",
            "a=[a-z\\-]{1,14}(:[ -~]{0,30})?",
            "m=(audio|video|application|x) [0-9]{1,6}(/[0-9]{1,3})? [A-Z/]{0,20}( [0-9]{1,4}){0,4}",
            "c=IN IP[46x] [0-9a-f.:]{0,20}",
            "a=rtpmap:[0-9]{1,4} [A-Za-z0-9]{0,8}/[0-9]{0,7}(/[0-9]{1,2})?",
            "a=fmtp:[0-9]{1,4} [a-z\\-]{1,20}=[0-9a-z;=\\-]{0,20}",
            "a=rtcp-fb:[0-9*]{1,4}( [a-z\\-]{0,10}){0,2}",
            "a=ssrc:[0-9]{0,12}( [a-z]{0,6}:[ -~]{0,10})?",
            "a=ssrc-group:FID( [0-9]{0,11}){0,3}",
            "a=extmap:[0-9]{0,5}(/[a-z]{0,8})? [ -~]{0,30}",
            "a=candidate:[0-9]{1,10} [0-9]{1,2} (udp|tcp) [0-9]{1,10} (127\\.0\\.0\\.1|::1|[g-z]{1,8}\\.local|[g-z]{0,6}) [0-9]{1,6} typ (host|srflx|relay|prflx|x)",
            "a=mid:[ -~]{0,8}",
            "a=group:BUNDLE( [ -~]{0,4}){0,4}",
            "a=fingerprint:(sha-256|sha-1|md5|x) [0-9A-F:]{0,100}",
            "a=setup:(active|passive|actpass|holdconn|x)",
            "a=ice-(ufrag|pwd|options):[ -~]{0,30}",
            "a=(sendrecv|sendonly|recvonly|inactive|rtcp-mux|rtcp-rsize|end-of-candidates)",
            "a=(rid|simulcast|msid|msid-semantic):[ -~]{0,30}",
            "[bkrtuz]=[0-9 ]{0,20}",
            "[ -~]{0,40}",
        ]
    }

    fn edit() -> impl Strategy<Value = Edit> {
        use prop::sample::Index;
        prop_oneof![
            2 => any::<Index>().prop_map(Edit::DeleteLine),
            1 => any::<Index>().prop_map(Edit::DuplicateLine),
            1 => (any::<Index>(), any::<Index>()).prop_map(|(a, b)| Edit::SwapLines(a, b)),
            3 => (any::<Index>(), sdp_line()).prop_map(|(i, l)| Edit::InsertLine(i, l)),
            3 => (any::<Index>(), prop_oneof!["[0-9]{0,25}", "-[0-9]{1,5}", "[0-9]{1,3}\\.[0-9]{1,3}"])
                .prop_map(|(i, n)| Edit::Renumber(i, n)),
            2 => (any::<Index>(), "[ -~]{0,12}|\\PC{0,4}").prop_map(|(i, s)| Edit::Splice(i, s)),
            1 => any::<Index>().prop_map(Edit::Truncate),
            1 => Just(Edit::BareNewlines),
        ]
    }

    fn apply(seed: &str, edits: &[Edit]) -> String {
        let mut lines: Vec<String> = seed
            .split("\r\n")
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect();
        let mut eol = "\r\n";
        let mut cut: Option<prop::sample::Index> = None;
        for e in edits {
            let n = lines.len();
            match e {
                Edit::DeleteLine(i) if n > 0 => {
                    lines.remove(i.index(n));
                }
                Edit::DuplicateLine(i) if n > 0 => {
                    let l = lines[i.index(n)].clone();
                    lines.insert(i.index(n), l);
                }
                Edit::SwapLines(a, b) if n > 0 => lines.swap(a.index(n), b.index(n)),
                Edit::InsertLine(i, l) => lines.insert(i.index(n + 1), l.clone()),
                Edit::Renumber(i, to) if n > 0 => {
                    let l = &mut lines[i.index(n)];
                    if let Some(start) = l.find(|c: char| c.is_ascii_digit()) {
                        let end = l[start..]
                            .find(|c: char| !c.is_ascii_digit())
                            .map_or(l.len(), |e| start + e);
                        l.replace_range(start..end, to);
                    }
                }
                Edit::Splice(i, s) if n > 0 => {
                    let l = &mut lines[i.index(n)];
                    let at = l
                        .char_indices()
                        .map(|(p, _)| p)
                        .chain([l.len()])
                        .collect::<Vec<_>>();
                    let at = at[i.index(at.len())];
                    l.insert_str(at, s);
                }
                Edit::Truncate(i) => cut = Some(*i),
                Edit::BareNewlines => eol = "\n",
                _ => {}
            }
        }
        let mut text = lines.join(eol) + eol;
        if let Some(i) = cut {
            let at: Vec<usize> = text.char_indices().map(|(p, _)| p).collect();
            if !at.is_empty() {
                text.truncate(at[i.index(at.len())]);
            }
        }
        text
    }

    /// A candidate line's address: one the tests may send STUN checks to (loopback), or one
    /// that does not parse. (No routable address: the checks would leave the machine.)
    fn safe_address() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("127.0.0.1".to_string()),
            Just("::1".to_string()),
            Just("[::1]".to_string()),
            Just("127.0.0.1:9".to_string()),
            Just("300.1.2.3".to_string()),
            Just("".to_string()),
            "[g-z]{1,10}(\\.local)?",
            "[g-z:]{1,12}",
        ]
    }

    /// Any address, for the parser alone (nothing is sent).
    fn any_address() -> impl Strategy<Value = String> {
        prop_oneof![
            safe_address(),
            any::<u32>().prop_map(|v| std::net::Ipv4Addr::from(v).to_string()),
            any::<u128>().prop_map(|v| std::net::Ipv6Addr::from(v).to_string()),
            "[0-9a-f.:%]{0,40}",
        ]
    }

    /// A candidate attribute as browsers trickle it, with each field sometimes wrong.
    fn candidate_line(addr: BoxedStrategy<String>) -> impl Strategy<Value = String> {
        let number = |max: &'static str| {
            prop_oneof![
                4 => Just(max.to_string()),
                2 => any::<u32>().prop_map(|v| v.to_string()),
                1 => "[0-9]{0,22}",
                1 => "-[0-9]{1,3}|[a-z+]{1,3}",
            ]
        };
        let tail = (
            prop_oneof![
                3 => Just(String::new()),
                2 => (addr.clone(), number("9")).prop_map(|(a, p)| format!(" raddr {a} rport {p}")),
                1 => addr.clone().prop_map(|a| format!(" raddr {a}")),
                1 => Just(" raddr".to_string()),
                1 => "( tcptype (active|passive|so|[a-z]{0,4}))?",
                1 => Just(" tcptype".to_string()),
            ],
            "( generation [0-9]{1,3})?( ufrag [a-zA-Z0-9+/]{0,8})?( network-id [0-9]{1,3})?( network-cost [0-9]{1,3})?",
        );
        (
            prop_oneof![3 => Just("candidate:"), 1 => Just(""), 1 => Just("a=candidate:"), 1 => Just("candidate: ")],
            "[0-9a-zA-Z+/]{0,12}",
            number("1"),
            prop_oneof![Just("udp"), Just("UDP"), Just("tcp"), Just("ssltcp"), Just("")],
            number("2122260223"),
            addr,
            number("54400"),
            prop_oneof![6 => Just("typ"), 1 => Just(""), 1 => Just("type")],
            prop_oneof![Just("host"), Just("srflx"), Just("prflx"), Just("relay"), Just(""), Just("HOST")],
            tail,
            prop_oneof![6 => Just(" "), 1 => Just("  "), 1 => Just("\t")],
        )
            .prop_map(|(prefix, f, comp, proto, prio, addr, port, typ_kw, typ, (tail, ext), sep)| {
                let line = [f, comp, proto.to_string(), prio, addr, port, typ_kw.to_string(), typ.to_string()].join(sep);
                format!("{prefix}{line}{tail}{ext}")
            })
    }

    /// A well-formed candidate (what a browser sends), for the round trip.
    #[derive(Debug, Clone)]
    struct GoodCandidate {
        foundation: String,
        component: u16,
        tcp: bool,
        priority: u32,
        address: String,
        port: u16,
        typ: &'static str,
        related: (String, u16),
    }

    impl GoodCandidate {
        fn line(&self) -> String {
            let mut l = format!(
                "{} {} {} {} {} {} typ {}",
                self.foundation,
                self.component,
                if self.tcp { "tcp" } else { "udp" },
                self.priority,
                self.address,
                self.port,
                self.typ
            );
            if self.typ != "host" {
                l += &format!(" raddr {} rport {}", self.related.0, self.related.1);
            }
            l
        }
    }

    fn good_candidate() -> impl Strategy<Value = GoodCandidate> {
        good_candidate_at(
            prop_oneof![
                any::<u32>().prop_map(|v| std::net::Ipv4Addr::from(v).to_string()),
                any::<u128>().prop_map(|v| std::net::Ipv6Addr::from(v).to_string()),
            ]
            .boxed(),
        )
    }

    /// A well-formed candidate at one of `addresses`.
    fn good_candidate_at(addresses: BoxedStrategy<String>) -> impl Strategy<Value = GoodCandidate> {
        let ip = || addresses.clone();
        (
            "[0-9a-zA-Z+/]{1,12}",
            1u16..=2,
            any::<bool>(),
            1u32..,
            ip(),
            any::<u16>(),
            prop::sample::select(vec!["host", "srflx", "prflx", "relay"]),
            (ip(), any::<u16>()),
        )
            .prop_map(
                |(foundation, component, tcp, priority, address, port, typ, related)| {
                    GoodCandidate {
                        foundation,
                        component,
                        tcp,
                        priority,
                        address,
                        port,
                        typ,
                        related,
                    }
                },
            )
    }

    // ---- The parsers alone.

    /// A real answer (webrtc-rs answering the offer this actor makes) and its offer.
    struct Fixture {
        sfu: Sfu,
        answer: String,
    }

    async fn offering_peer(sfu: &Sfu) -> Arc<RTCPeerConnection> {
        let pc = sfu.new_peer_connection().await.unwrap();
        for kind in [RTPCodecType::Audio, RTPCodecType::Video] {
            pc.add_transceiver_from_kind(
                kind,
                Some(RTCRtpTransceiverInit {
                    direction: RTCRtpTransceiverDirection::Recvonly,
                    send_encodings: vec![],
                }),
            )
            .await
            .unwrap();
        }
        pc
    }

    async fn fixture() -> Fixture {
        let sfu = Sfu::new(RtcConfig::default()).unwrap();
        let server = offering_peer(&sfu).await;
        let offer = server.create_offer(None).await.unwrap();
        server.set_local_description(offer.clone()).await.unwrap();
        let client = sfu.new_peer_connection().await.unwrap();
        client.set_remote_description(offer).await.unwrap();
        for (mime, clock_rate, channels, id) in [
            (MIME_TYPE_OPUS, 48_000, 2, "audio"),
            (MIME_TYPE_VP8, 90_000, 0, "video"),
        ] {
            let codec = RTCRtpCodecCapability {
                mime_type: mime.to_string(),
                clock_rate,
                channels,
                ..Default::default()
            };
            let track = Arc::new(TrackLocalStaticSample::new(codec, id.into(), "fuzz".into()));
            client.add_track(track).await.unwrap();
        }
        let answer = client.create_answer(None).await.unwrap();
        let mut gathered = client.gathering_complete_promise().await;
        client.set_local_description(answer).await.unwrap();
        let _ = tokio::time::timeout(Duration::from_secs(5), gathered.recv()).await;
        let answer = client.local_description().await.unwrap().sdp;
        let _ = client.close().await;
        let _ = server.close().await;
        Fixture { sfu, answer }
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name(WORKER)
            .enable_all()
            .build()
            .unwrap()
    }

    /// The threads of the tests' runtime.
    const WORKER: &str = "fuzz-peer-worker";

    /// A panic in a task (webrtc-rs runs tasks of its own), which would otherwise go unseen,
    /// fails the case it happened in. (On the test's own thread a panic fails it anyway.)
    static PANICKED: AtomicBool = AtomicBool::new(false);

    fn watch_panics() {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if std::thread::current().name() == Some(WORKER) {
                PANICKED.store(true, Ordering::SeqCst);
            }
            previous(info);
        }));
    }

    #[test]
    fn fuzz_sdp_answer_parse_never_panics() {
        let fx = runtime().block_on(fixture());
        assert!(
            RTCSessionDescription::answer(fx.answer.clone()).is_ok(),
            "{}",
            fx.answer
        );
        let inputs = prop_oneof![
            4 => prop::collection::vec(edit(), 0..8).prop_map(Some),
            1 => Just(None),
        ];
        let text = prop_oneof![4 => Just(None), 1 => any::<String>().prop_map(Some)];
        let mut runner = TestRunner::new(config(cases()));
        runner
            .run(&(inputs, text), |(edits, text)| {
                let sdp = match (edits, text) {
                    (_, Some(t)) => t,
                    (Some(e), None) => apply(&fx.answer, &e),
                    (None, None) => fx.answer.clone(),
                };
                if let Ok(desc) = RTCSessionDescription::answer(sdp.clone()) {
                    // What parsed can be written again and read back.
                    let parsed = desc
                        .unmarshal()
                        .map_err(|e| TestCaseError::fail(format!("{e}")))?;
                    let again = parsed.marshal();
                    prop_assert!(RTCSessionDescription::answer(again).is_ok());
                }
                Ok(())
            })
            .unwrap();
    }

    proptest! {
        #![proptest_config(config(cases()))]

        #[test]
        fn fuzz_ice_candidate_parse_never_panics(line in candidate_line(any_address().boxed())) {
            // What add_ice_candidate does with the text: strip `candidate:`, then parse.
            let value = line.strip_prefix("candidate:").unwrap_or(&line);
            if let Ok(c) = unmarshal_candidate(value) {
                let _ = c.marshal();
            }
        }

        #[test]
        fn fuzz_ice_candidate_parse_any_text(text in any::<String>()) {
            let _ = unmarshal_candidate(&text);
        }

        #[test]
        fn fuzz_ice_candidate_round_trips(good in good_candidate()) {
            let line = good.line();
            let c = unmarshal_candidate(&line).map_err(|e| TestCaseError::fail(format!("{line}: {e}")))?;
            prop_assert_eq!(c.address(), good.address.clone());
            prop_assert_eq!(c.port(), good.port);
            prop_assert_eq!(c.component(), good.component);
            prop_assert_eq!(c.priority(), good.priority);
            prop_assert_eq!(c.foundation(), good.foundation.clone());
            prop_assert_eq!(c.candidate_type().to_string(), good.typ);
            let again = c.marshal();
            let d = unmarshal_candidate(&again).map_err(|e| TestCaseError::fail(format!("{again}: {e}")))?;
            prop_assert_eq!(d.marshal(), again);
        }
    }

    // ---- The actor's handlers, on a real peer connection.

    #[derive(Debug, Clone)]
    enum AnswerText {
        Real,
        Edited(Vec<Edit>),
        Any(String),
        /// The real answer padded past the size limit.
        Oversize(usize),
    }

    #[derive(Debug, Clone)]
    enum Op {
        Answer(AnswerText),
        Candidate(Option<IceCandidate>),
    }

    fn ops() -> impl Strategy<Value = Vec<Op>> {
        let answer = prop_oneof![
            2 => Just(AnswerText::Real),
            4 => prop::collection::vec(edit(), 1..6).prop_map(AnswerText::Edited),
            1 => any::<String>().prop_map(AnswerText::Any),
            1 => (1usize..4096).prop_map(AnswerText::Oversize),
        ];
        let candidate = (
            prop_oneof![
                4 => good_candidate_at(prop_oneof![Just("127.0.0.1".to_string()), Just("::1".to_string())].boxed())
                    .prop_map(|g| format!("candidate:{}", g.line())),
                4 => candidate_line(safe_address().boxed()),
                1 => "[ -~]{1025,1100}",
                1 => any::<String>(),
            ],
            prop::option::of(prop_oneof![Just("0".to_string()), Just("1".to_string()), ".{0,6}"]),
            prop::option::of(prop_oneof![0u16..3, any::<u16>()]),
            prop::option::of("[a-zA-Z0-9+/]{0,8}"),
        )
            .prop_map(|(candidate, sdp_mid, sdp_mline_index, username_fragment)| IceCandidate {
                candidate,
                sdp_mid,
                sdp_mline_index,
                username_fragment,
            });
        prop::collection::vec(
            prop_oneof![
                1 => answer.prop_map(Op::Answer),
                2 => prop::option::weighted(0.9, candidate).prop_map(Op::Candidate),
            ],
            1..8,
        )
    }

    const MAX_SDP: usize = 16 * 1024;

    fn drain(rx: &mut UnboundedReceiver<ServerMsg>) -> Vec<(String, String)> {
        let mut out = vec![];
        while let Ok(m) = rx.try_recv() {
            match m {
                ServerMsg::Error { code, message } => out.push((code, message)),
                other => out.push(("not an error".into(), format!("{other:?}"))),
            }
        }
        out
    }

    /// What the cases did, to see that they reach past the parsers (printed at the end).
    #[derive(Default, Debug)]
    struct Seen {
        answers_applied: std::cell::Cell<u32>,
        answers_refused: std::cell::Cell<u32>,
        peers_failed: std::cell::Cell<u32>,
        candidates_applied: std::cell::Cell<u32>,
        candidates_refused: std::cell::Cell<u32>,
    }

    fn bump(c: &std::cell::Cell<u32>) {
        c.set(c.get() + 1);
    }

    async fn one_case(fx: &Fixture, ops: Vec<Op>, seen: &Seen) -> Result<(), TestCaseError> {
        let pc = offering_peer(&fx.sfu).await;
        let (tx, mut rx) = unbounded_channel();
        let mut state = PeerState {
            peer_id: PeerId::new(),
            pc: pc.clone(),
            signal: tx,
            senders: HashMap::new(),
            awaiting_answer: false,
            renegotiate: false,
            early_candidates: vec![],
            max_sdp_bytes: MAX_SDP,
            needs_keyframe: vec![],
        };
        negotiate(&mut state)
            .await
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        let offer = rx.try_recv();
        let result = async {
            let offered = matches!(offer, Ok(ServerMsg::Offer { .. }));
            prop_assert!(offered && state.awaiting_answer, "no offer made");
            // An answer applied in part, then refused, leaves no offer to answer.
            let mut spoiled = false;
            for op in ops {
                let had_remote = state.pc.remote_description().await.is_some();
                let waiting = state.awaiting_answer;
                let buffered = state.early_candidates.len();
                match op {
                    Op::Answer(text) => {
                        let sdp = match text {
                            AnswerText::Real => fx.answer.clone(),
                            AnswerText::Edited(e) => apply(&fx.answer, &e),
                            AnswerText::Any(s) => s,
                            AnswerText::Oversize(n) => {
                                let mut s = fx.answer.clone();
                                while s.len() <= MAX_SDP {
                                    s += &format!("a=x-pad:{}\r\n", "p".repeat(n.min(MAX_SDP)));
                                }
                                s
                            }
                        };
                        let len = sdp.len();
                        let real = sdp == fx.answer;
                        let r = on_answer(&mut state, sdp).await;
                        let msgs = drain(&mut rx);
                        for (code, message) in &msgs {
                            prop_assert!(
                                message.len() <= len + 512,
                                "{code}: a {}-byte message",
                                message.len()
                            );
                        }
                        let codes: Vec<&str> = msgs.iter().map(|(c, _)| c.as_str()).collect();
                        prop_assert!(r.is_ok(), "a client's answer never fails the peer");
                        if !waiting {
                            prop_assert_eq!(codes, vec!["bad_sdp"]);
                        } else if len > MAX_SDP {
                            prop_assert_eq!(codes, vec!["sdp_too_large"]);
                            prop_assert!(state.awaiting_answer);
                        } else if state.awaiting_answer {
                            bump(&seen.answers_refused);
                            prop_assert!(!real || spoiled, "the real answer was refused: {msgs:?}");
                            prop_assert_eq!(codes, vec!["bad_sdp"]);
                            if !spoiled
                                && state.pc.signaling_state() != RTCSignalingState::HaveLocalOffer
                            {
                                // Applied in part, then refused by webrtc-rs (see
                                // an_answer_applied_in_part_is_refused).
                                spoiled = true;
                                bump(&seen.peers_failed);
                            }
                        } else {
                            bump(&seen.answers_applied);
                            // Accepted: the candidates that came early were applied, each
                            // accepted or answered with `bad_candidate`.
                            prop_assert!(
                                codes.len() <= buffered
                                    && codes.iter().all(|c| *c == "bad_candidate"),
                                "{msgs:?}"
                            );
                            prop_assert!(state.early_candidates.is_empty());
                        }
                    }
                    Op::Candidate(c) => {
                        let too_long = c.as_ref().is_some_and(|c| c.candidate.len() > 1024);
                        let len = c.as_ref().map_or(0, |c| c.candidate.len());
                        let some = c.is_some();
                        on_candidate(&mut state, c).await;
                        let msgs = drain(&mut rx);
                        for (code, message) in &msgs {
                            prop_assert!(
                                message.len() <= len + 512,
                                "{code}: a {}-byte message",
                                message.len()
                            );
                        }
                        let codes: Vec<&str> = msgs.iter().map(|(c, _)| c.as_str()).collect();
                        if !some {
                            prop_assert!(codes.is_empty());
                        } else if !had_remote {
                            prop_assert!(codes.is_empty());
                            prop_assert_eq!(state.early_candidates.len(), (buffered + 1).min(64));
                        } else if too_long {
                            prop_assert_eq!(codes, vec!["bad_candidate"]);
                        } else {
                            prop_assert!(
                                codes.is_empty() || codes == ["bad_candidate"],
                                "{msgs:?}"
                            );
                            bump(if codes.is_empty() {
                                &seen.candidates_applied
                            } else {
                                &seen.candidates_refused
                            });
                        }
                    }
                }
                prop_assert!(state.early_candidates.len() <= 64);
                prop_assert!(!PANICKED.load(Ordering::SeqCst), "a task panicked");
            }
            Ok::<(), TestCaseError>(())
        }
        .await;
        let _ = pc.close().await;
        prop_assert!(!PANICKED.load(Ordering::SeqCst), "a task panicked");
        result
    }

    /// (Not a fuzz target: a known limitation it found.) An answer without ICE credentials
    /// is refused by webrtc-rs after it has been applied in part: the client is told
    /// `bad_sdp` and the peer stays, but the offer is no longer outstanding, so a corrected
    /// answer is refused in turn. Failing the peer instead (the client rejoins) is a choice
    /// for issue 15 (calls that survive networks); today the peer is kept.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_answer_applied_in_part_is_refused() {
        let fx = fixture().await;
        let pc = offering_peer(&fx.sfu).await;
        let (tx, mut rx) = unbounded_channel();
        let mut state = PeerState {
            peer_id: PeerId::new(),
            pc: pc.clone(),
            signal: tx,
            senders: HashMap::new(),
            awaiting_answer: false,
            renegotiate: false,
            early_candidates: vec![],
            max_sdp_bytes: MAX_SDP,
            needs_keyframe: vec![],
        };
        negotiate(&mut state).await.unwrap();
        assert!(matches!(rx.try_recv(), Ok(ServerMsg::Offer { .. })));
        // A truncated answer: unusable, but the offer stays outstanding.
        on_answer(&mut state, fx.answer[..40].to_string())
            .await
            .unwrap();
        assert_eq!(drain(&mut rx)[0].0, "bad_sdp");
        assert_eq!(pc.signaling_state(), RTCSignalingState::HaveLocalOffer);
        // No ICE credentials: applied in part, then refused; the peer is kept.
        let no_ice: String = fx
            .answer
            .split_inclusive("\r\n")
            .filter(|l| !l.starts_with("a=ice-ufrag") && !l.starts_with("a=ice-pwd"))
            .collect();
        assert!(on_answer(&mut state, no_ice).await.is_ok());
        assert_eq!(drain(&mut rx)[0].0, "bad_sdp");
        let _ = pc.close().await;
    }

    /// Slow (a peer connection per case, its ICE gathering, applying the answer):
    /// `VKYC_FUZZ_CASES / 10` cases.
    #[test]
    fn fuzz_peer_answers_and_candidates_never_panic() {
        watch_panics();
        let rt = runtime();
        let fx = rt.block_on(fixture());
        let mut runner = TestRunner::new(config(cases() / 10));
        let seen = Seen::default();
        runner
            .run(&ops(), |ops| rt.block_on(one_case(&fx, ops, &seen)))
            .unwrap();
        eprintln!("{seen:?}");
    }
}
