//! `RoomActor`: one live call (one per session), supervising one `PeerActor` per participant.
//!
//! Holds membership and roles, fans published tracks out to the other peers, applies
//! agent-only actions (mute another peer, end the call) and turns child failures into
//! `peer.failed` events: a panicking peer is removed, its client is told to rejoin, and the
//! other peers and rooms carry on.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort, SupervisionEvent};
use serde::Serialize;
use uuid::Uuid;
use webrtc::peer_connection::RTCPeerConnection;
use webrtc::rtcp::sender_report::SenderReport;
use webrtc::rtp_transceiver::rtp_receiver::RTCRtpReceiver;
use webrtc::track::track_remote::TrackRemote;

use crate::peer::{PeerActor, PeerArgs, PeerMsg};
use crate::signal::{ServerMsg, SignalTx};
use crate::supervisor::{JoinError, JoinedPeer};
pub use vkyc_domain::call::LeaveReason;
use vkyc_domain::events::{data, emit, DomainEvent, EventData, EventSink};
use vkyc_domain::{MediaKind, PeerId, PeerInfo, Role, SessionId};
use vkyc_media::recording::{
    RecordTap, RecordingActor, RecordingArgs, RecordingMsg, RecordingSettings,
};
use vkyc_media::sfu::{PublishedTrack, Sfu};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoomError {
    Forbidden,
    UnknownPeer,
}

pub struct JoinSpec {
    /// The session the participant belongs to: the room's own, or (in a group call) the
    /// applicant's session whose call this room is.
    pub session_id: SessionId,
    pub participant_id: String,
    pub role: Role,
    pub signal: SignalTx,
    /// Record the call (used by the join that starts the room).
    pub record: bool,
}

pub enum RoomMsg {
    Join {
        spec: JoinSpec,
        reply: RpcReplyPort<Result<JoinedPeer, JoinError>>,
    },
    Leave {
        peer_id: PeerId,
        reason: LeaveReason,
    },
    /// A peer's connection received a track from its client.
    TrackPublished {
        peer_id: PeerId,
        track: Arc<TrackRemote>,
        receiver: Arc<RTCRtpReceiver>,
    },
    Mute {
        by: PeerId,
        target: PeerId,
        kind: MediaKind,
        muted: bool,
        reply: RpcReplyPort<Result<(), RoomError>>,
    },
    MediaState {
        peer_id: PeerId,
        audio: bool,
        video: bool,
    },
    /// End the call: `by` is the agent's peer id, or `None` when ended through the API.
    End {
        by: Option<PeerId>,
        reason: String,
        reply: Option<RpcReplyPort<Result<(), RoomError>>>,
    },
    Info(RpcReplyPort<RoomInfo>),
    /// Server-initiated message to the peers with one of these roles (e.g. a step prompt
    /// to the customer); the reply is how many peers it went to.
    /// Sends `msg` to the peers of session `session_id` (an applicant of a group call, or
    /// the room's own session) that have one of `roles`; answers how many received it.
    Notify {
        session_id: SessionId,
        roles: Vec<Role>,
        msg: ServerMsg,
        reply: RpcReplyPort<usize>,
    },
    /// Internal: the room has had no peer for the configured time.
    EmptyTimeout {
        since_generation: u64,
    },
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RoomInfo {
    #[schema(value_type = String, format = Uuid)]
    pub session_id: SessionId,
    pub started_at: DateTime<Utc>,
    pub peers: Vec<PeerSummary>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PeerSummary {
    #[serde(flatten)]
    pub info: PeerInfo,
    pub joined_at: DateTime<Utc>,
    pub tracks: Vec<TrackSummary>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TrackSummary {
    pub kind: MediaKind,
    pub muted: bool,
    pub packets_received: u64,
    pub packets_forwarded: u64,
}

#[derive(Clone)]
pub struct RoomSettings {
    pub max_peers: usize,
    /// End the room when it has had no peer for this long.
    pub empty_timeout: Duration,
    /// Where and how calls are recorded; `None`: never.
    pub recording: Option<RecordingSettings>,
}

pub struct RoomArgs {
    pub session_id: SessionId,
    pub sfu: Arc<Sfu>,
    pub events: Arc<dyn EventSink>,
    pub settings: RoomSettings,
    pub record: bool,
}

struct PeerEntry {
    info: PeerInfo,
    /// The session the peer joined for (see [`JoinSpec::session_id`]).
    session_id: SessionId,
    actor: ActorRef<PeerMsg>,
    pc: Arc<RTCPeerConnection>,
    signal: SignalTx,
    tracks: Vec<Arc<PublishedTrack>>,
    joined_at: DateTime<Utc>,
}

pub struct RoomState {
    session_id: SessionId,
    started_at: DateTime<Utc>,
    sfu: Arc<Sfu>,
    events: Arc<dyn EventSink>,
    settings: RoomSettings,
    peers: HashMap<PeerId, PeerEntry>,
    /// Bumped on every membership change, so a stale empty-room timer does nothing.
    generation: u64,
    recorder: Option<Recorder>,
}

struct Recorder {
    id: Uuid,
    actor: ActorRef<RecordingMsg>,
    tap: RecordTap,
}

impl RoomState {
    fn event(&self, data: impl Into<EventData>) -> DomainEvent {
        DomainEvent::new(Some(self.session_id), data)
    }

    fn broadcast(&self, except: Option<PeerId>, msg: ServerMsg) {
        for (id, p) in &self.peers {
            if Some(*id) != except {
                let _ = p.signal.send(msg.clone());
            }
        }
    }

    /// Tells the peers who may see a participant of role `about` (see [`Role::sees`]).
    fn announce(&self, about: Role, msg: ServerMsg) {
        for p in self.peers.values() {
            if p.info.role.sees(about) {
                let _ = p.signal.send(msg.clone());
            }
        }
    }

    fn all_tracks(&self) -> Vec<Arc<PublishedTrack>> {
        self.peers
            .values()
            .flat_map(|p| p.tracks.iter().cloned())
            .collect()
    }
}

pub struct RoomActor;

impl Actor for RoomActor {
    type Msg = RoomMsg;
    type State = RoomState;
    type Arguments = RoomArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<RoomMsg>,
        args: RoomArgs,
    ) -> Result<RoomState, ActorProcessingErr> {
        let recording = args.settings.recording.clone().filter(|_| args.record);
        let mut state = RoomState {
            session_id: args.session_id,
            started_at: Utc::now(),
            sfu: args.sfu,
            events: args.events,
            settings: args.settings,
            peers: HashMap::new(),
            generation: 0,
            recorder: None,
        };
        emit(&*state.events, state.event(data::RoomStarted {})).await;
        if let Some(settings) = recording {
            state.recorder = start_recorder(&myself, &state, settings).await;
        }
        Ok(state)
    }

    async fn handle(
        &self,
        myself: ActorRef<RoomMsg>,
        msg: RoomMsg,
        state: &mut RoomState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            RoomMsg::Join { spec, reply } => {
                let result = join(&myself, state, spec).await;
                let _ = reply.send(result);
            }
            RoomMsg::Leave { peer_id, reason } => {
                remove_peer(&myself, state, peer_id, reason).await;
            }
            RoomMsg::TrackPublished {
                peer_id,
                track,
                receiver,
            } => {
                let Some(entry) = state.peers.get_mut(&peer_id) else {
                    return Ok(());
                };
                let Some(published) = PublishedTrack::new(peer_id, &track, &entry.pc) else {
                    return Ok(());
                };
                if let Some(rec) = &state.recorder {
                    let clock_rate = track.codec().capability.clock_rate;
                    let tap = rec.tap.add_track(
                        &published,
                        entry.info.role,
                        &entry.info.participant_id,
                        clock_rate,
                    );
                    let _ = published.recorder.set(tap.clone());
                    // The publisher's sender reports tie the track's RTP clock to wall time.
                    tokio::spawn(async move {
                        while let Ok((packets, _)) = receiver.read_rtcp().await {
                            for p in &packets {
                                if let Some(sr) = p.as_any().downcast_ref::<SenderReport>() {
                                    tap.sender_report(sr.ntp_time, sr.rtp_time);
                                }
                            }
                        }
                    });
                }
                // A client re-publishing a kind replaces the old track of that kind.
                let kind = published.kind;
                entry.tracks.retain(|t| t.kind != kind);
                entry.tracks.push(published.clone());
                tokio::spawn(published.clone().forward(track));
                for (id, p) in &state.peers {
                    if *id != peer_id {
                        let _ = p.actor.cast(PeerMsg::Subscribe(published.clone()));
                    }
                }
            }
            RoomMsg::Mute {
                by,
                target,
                kind,
                muted,
                reply,
            } => {
                let allowed = state
                    .peers
                    .get(&by)
                    .is_some_and(|p| p.info.role.can_moderate());
                let result = if !allowed {
                    Err(RoomError::Forbidden)
                } else if let Some(t) = state.peers.get(&target) {
                    for track in t.tracks.iter().filter(|t| t.kind == kind) {
                        track.set_muted(muted);
                    }
                    state.broadcast(
                        None,
                        ServerMsg::Muted {
                            peer_id: target,
                            kind,
                            muted,
                            by,
                        },
                    );
                    let ev = state.event(data::PeerMuted {
                        peer_id: target,
                        kind,
                        muted,
                        by,
                    });
                    emit(&*state.events, ev).await;
                    Ok(())
                } else {
                    Err(RoomError::UnknownPeer)
                };
                let _ = reply.send(result);
            }
            RoomMsg::MediaState {
                peer_id,
                audio,
                video,
            } => {
                state.broadcast(
                    Some(peer_id),
                    ServerMsg::MediaState {
                        peer_id,
                        audio,
                        video,
                    },
                );
            }
            RoomMsg::Notify {
                session_id,
                roles,
                msg,
                reply,
            } => {
                let mut n = 0;
                for p in state
                    .peers
                    .values()
                    .filter(|p| p.session_id == session_id && roles.contains(&p.info.role))
                {
                    if p.signal.send(msg.clone()).is_ok() {
                        n += 1;
                    }
                }
                let _ = reply.send(n);
            }
            RoomMsg::End { by, reason, reply } => {
                if let Some(by) = by {
                    if !state
                        .peers
                        .get(&by)
                        .is_some_and(|p| p.info.role.can_moderate())
                    {
                        if let Some(reply) = reply {
                            let _ = reply.send(Err(RoomError::Forbidden));
                        }
                        return Ok(());
                    }
                }
                end(&myself, state, by, &reason).await;
                if let Some(reply) = reply {
                    let _ = reply.send(Ok(()));
                }
            }
            RoomMsg::Info(reply) => {
                let peers = state
                    .peers
                    .values()
                    .map(|p| PeerSummary {
                        info: p.info.clone(),
                        joined_at: p.joined_at,
                        tracks: p
                            .tracks
                            .iter()
                            .map(|t| TrackSummary {
                                kind: t.kind,
                                muted: t.is_muted(),
                                packets_received: t
                                    .counters
                                    .received
                                    .load(std::sync::atomic::Ordering::Relaxed),
                                packets_forwarded: t
                                    .counters
                                    .forwarded
                                    .load(std::sync::atomic::Ordering::Relaxed),
                            })
                            .collect(),
                    })
                    .collect();
                let _ = reply.send(RoomInfo {
                    session_id: state.session_id,
                    started_at: state.started_at,
                    peers,
                });
            }
            RoomMsg::EmptyTimeout { since_generation } => {
                if state.peers.is_empty() && state.generation == since_generation {
                    end(&myself, state, None, "empty").await;
                }
            }
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<RoomMsg>,
        evt: SupervisionEvent,
        state: &mut RoomState,
    ) -> Result<(), ActorProcessingErr> {
        match evt {
            SupervisionEvent::ActorFailed(cell, err)
                if state
                    .recorder
                    .as_ref()
                    .is_some_and(|r| r.actor.get_id() == cell.get_id()) =>
            {
                let rec = state.recorder.take().expect("checked");
                tracing::error!(session = %state.session_id, error = %err, "recording actor failed");
                let ev = state.event(data::RecordingFailed {
                    recording_id: rec.id,
                    reason: "actor_failed".into(),
                    bytes: None,
                });
                emit(&*state.events, ev).await;
            }
            SupervisionEvent::ActorFailed(cell, err) => {
                let failed = state
                    .peers
                    .iter()
                    .find(|(_, p)| p.actor.get_id() == cell.get_id())
                    .map(|(id, _)| *id);
                if let Some(peer_id) = failed {
                    tracing::warn!(session = %state.session_id, peer = %peer_id, error = %err, "peer actor failed");
                    if let Some(p) = state.peers.get(&peer_id) {
                        let _ = p.signal.send(ServerMsg::error(
                            "peer_failed",
                            "the server lost this connection's state; rejoin with the same link",
                        ));
                    }
                    remove_peer(&myself, state, peer_id, LeaveReason::Failed).await;
                }
            }
            // Normal exits are handled where they are caused (leave, end).
            SupervisionEvent::ActorTerminated(..) | SupervisionEvent::ActorStarted(_) => {}
            _ => {}
        }
        Ok(())
    }
}

async fn join(
    myself: &ActorRef<RoomMsg>,
    state: &mut RoomState,
    spec: JoinSpec,
) -> Result<JoinedPeer, JoinError> {
    // The same participant on a new connection replaces its old one (reconnection); a
    // participant id held by another role is not theirs to take.
    if state
        .peers
        .values()
        .any(|p| p.info.participant_id == spec.participant_id && p.info.role != spec.role)
    {
        return Err(JoinError::ParticipantTaken);
    }
    let previous = state
        .peers
        .iter()
        .find(|(_, p)| p.info.participant_id == spec.participant_id)
        .map(|(id, _)| *id);
    if let Some(old) = previous {
        if let Some(p) = state.peers.get(&old) {
            let _ = p.signal.send(ServerMsg::error(
                "replaced",
                "this participant joined again from another connection",
            ));
        }
        remove_peer(myself, state, old, LeaveReason::Replaced).await;
    }
    if state.peers.len() >= state.settings.max_peers {
        return Err(JoinError::RoomFull);
    }
    let peer_id = PeerId::new();
    let info = PeerInfo {
        peer_id,
        role: spec.role,
        participant_id: spec.participant_id,
    };
    let pc = state
        .sfu
        .new_peer_connection()
        .await
        .map_err(|e| JoinError::Internal(e.to_string()))?;
    let others: Vec<PeerInfo> = state
        .peers
        .values()
        .filter(|p| spec.role.sees(p.info.role))
        .map(|p| p.info.clone())
        .collect();
    // `joined` must reach the client before the peer's first offer.
    let _ = spec.signal.send(ServerMsg::Joined {
        peer_id,
        session_id: state.session_id,
        role: info.role,
        participant_id: info.participant_id.clone(),
        peers: others,
    });
    let args = PeerArgs {
        peer_id,
        role: spec.role,
        room: myself.clone(),
        pc: pc.clone(),
        signal: spec.signal.clone(),
        existing: state.all_tracks(),
        max_sdp_bytes: state.sfu.config().max_sdp_bytes,
    };
    let (actor, _) = match Actor::spawn_linked(None, PeerActor, args, myself.get_cell()).await {
        Ok(spawned) => spawned,
        Err(e) => {
            let _ = pc.close().await;
            return Err(JoinError::Internal(e.to_string()));
        }
    };
    state.announce(info.role, ServerMsg::PeerJoined { peer: info.clone() });
    state.peers.insert(
        peer_id,
        PeerEntry {
            info: info.clone(),
            session_id: spec.session_id,
            actor: actor.clone(),
            pc,
            signal: spec.signal,
            tracks: vec![],
            joined_at: Utc::now(),
        },
    );
    state.generation += 1;
    let ev = state.event(data::PeerJoined {
        peer_id,
        role: info.role,
        participant_id: info.participant_id,
    });
    emit(&*state.events, ev).await;
    Ok(JoinedPeer {
        peer_id,
        role: info.role,
        actor,
        room: myself.clone(),
    })
}

async fn remove_peer(
    myself: &ActorRef<RoomMsg>,
    state: &mut RoomState,
    peer_id: PeerId,
    reason: LeaveReason,
) {
    let Some(entry) = state.peers.remove(&peer_id) else {
        return;
    };
    state.generation += 1;
    entry.actor.stop(Some(reason.as_str().to_string()));
    let pc = entry.pc.clone();
    tokio::spawn(async move {
        let _ = pc.close().await;
    });
    for track in &entry.tracks {
        for p in state.peers.values() {
            let _ = p
                .actor
                .cast(PeerMsg::Unsubscribe((track.publisher, track.kind)));
        }
    }
    state.announce(
        entry.info.role,
        ServerMsg::PeerLeft {
            peer_id,
            reason: reason.as_str().to_string(),
        },
    );
    let ev = state.event(data::PeerGone {
        peer_id,
        role: entry.info.role,
        participant_id: entry.info.participant_id,
        reason,
    });
    emit(&*state.events, ev).await;
    if state.peers.is_empty() {
        let generation = state.generation;
        myself.send_after(state.settings.empty_timeout, move || {
            RoomMsg::EmptyTimeout {
                since_generation: generation,
            }
        });
    }
}

async fn end(myself: &ActorRef<RoomMsg>, state: &mut RoomState, by: Option<PeerId>, reason: &str) {
    // Persist first: once a client hears "ended", the session reads as completed.
    let duration_ms = (Utc::now() - state.started_at).num_milliseconds();
    let ev = state.event(data::RoomEnded {
        reason: reason.to_string(),
        by,
        duration_ms,
    });
    emit(&*state.events, ev).await;
    state.broadcast(
        None,
        ServerMsg::RoomEnded {
            reason: reason.to_string(),
        },
    );
    for (_, p) in state.peers.drain() {
        p.actor.stop(Some("room ended".into()));
        let pc = p.pc.clone();
        tokio::spawn(async move {
            let _ = pc.close().await;
        });
    }
    // The recording is finalized before the room is gone: it is ready when the call ends.
    if let Some(rec) = state.recorder.take() {
        let stop = |reply| RecordingMsg::Stop {
            reason: reason.to_string(),
            reply: Some(reply),
        };
        if let Err(e) = ractor::call_t!(rec.actor, stop, 35_000) {
            tracing::error!(session = %state.session_id, error = %e, "recording did not finalize");
        }
    }
    myself.stop(Some(format!("ended: {reason}")));
}

/// Starts the room's recorder; a recorder that cannot start is an event, not a failed call.
async fn start_recorder(
    myself: &ActorRef<RoomMsg>,
    state: &RoomState,
    settings: RecordingSettings,
) -> Option<Recorder> {
    let id = Uuid::now_v7();
    let (slot, tap) = tokio::sync::oneshot::channel();
    let args = RecordingArgs {
        recording_id: id,
        session_id: state.session_id,
        events: state.events.clone(),
        settings,
        tap_slot: slot,
    };
    match Actor::spawn_linked(None, RecordingActor, args, myself.get_cell()).await {
        Ok((actor, _)) => match tap.await {
            Ok(tap) => Some(Recorder { id, actor, tap }),
            Err(_) => None,
        },
        Err(e) => {
            tracing::error!(session = %state.session_id, error = %e, "recording did not start");
            None
        }
    }
}
