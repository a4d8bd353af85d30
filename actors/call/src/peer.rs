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
        // The offer stays outstanding: the client may send a corrected answer.
        let _ = state.signal.send(ServerMsg::error(
            "bad_sdp",
            format!("the answer was rejected: {e}"),
        ));
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
