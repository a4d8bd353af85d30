//! The top of the actor tree, and [`Rooms`], the handle the server uses to reach it.
//!
//! `RootSupervisor` starts the `RoomSupervisor` and starts a new one if it fails (the
//! failure is published as `supervisor.restarted`). `RoomSupervisor` owns the map from
//! session id to live `RoomActor`; a room that fails is dropped from the map and published
//! as `room.failed`, and the next join for that session starts a fresh room.
//!
//! In the server, `RootSupervisor` is a child of the application supervisor
//! ([`Rooms::spawn_root`] with its cell), which starts a new root if this one fails.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use ractor::{call_t, Actor, ActorProcessingErr, ActorRef, RpcReplyPort, SupervisionEvent};

use crate::peer::PeerMsg;
use crate::room::{JoinSpec, RoomActor, RoomArgs, RoomError, RoomInfo, RoomMsg, RoomSettings};
use crate::signal::ServerMsg;
use vkyc_domain::events::{data, emit, DomainEvent, EventSink};
use vkyc_domain::{PeerId, Role, SessionId};
use vkyc_media::sfu::Sfu;

const CALL_TIMEOUT_MS: u64 = 10_000;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JoinError {
    #[error("the room is full")]
    RoomFull,
    #[error("the call has ended")]
    RoomEnded,
    /// A participant id belongs to one role within a call: another role's peer holds it.
    #[error("this participant id belongs to another role in this call")]
    ParticipantTaken,
    #[error("internal error: {0}")]
    Internal(String),
}

/// A peer that joined: the handles its signalling connection talks to.
#[derive(Debug, Clone)]
pub struct JoinedPeer {
    pub peer_id: PeerId,
    pub role: Role,
    pub actor: ActorRef<PeerMsg>,
    pub room: ActorRef<RoomMsg>,
}

#[derive(Clone)]
pub struct Shared {
    pub sfu: Arc<Sfu>,
    pub events: Arc<dyn EventSink>,
    pub settings: RoomSettings,
}

// ---------------------------------------------------------------- RoomSupervisor

pub enum RoomSupMsg {
    GetOrCreate {
        session_id: SessionId,
        record: bool,
        reply: RpcReplyPort<Result<ActorRef<RoomMsg>, JoinError>>,
    },
    Get {
        session_id: SessionId,
        reply: RpcReplyPort<Option<ActorRef<RoomMsg>>>,
    },
    List(RpcReplyPort<Vec<ActorRef<RoomMsg>>>),
}

pub struct RoomSupervisor;

pub struct RoomSupState {
    shared: Shared,
    rooms: HashMap<SessionId, ActorRef<RoomMsg>>,
}

impl Actor for RoomSupervisor {
    type Msg = RoomSupMsg;
    type State = RoomSupState;
    type Arguments = Shared;

    async fn pre_start(
        &self,
        _myself: ActorRef<RoomSupMsg>,
        shared: Shared,
    ) -> Result<RoomSupState, ActorProcessingErr> {
        Ok(RoomSupState {
            shared,
            rooms: HashMap::new(),
        })
    }

    async fn handle(
        &self,
        myself: ActorRef<RoomSupMsg>,
        msg: RoomSupMsg,
        state: &mut RoomSupState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            RoomSupMsg::GetOrCreate {
                session_id,
                record,
                reply,
            } => {
                if let Some(room) = state.rooms.get(&session_id) {
                    let _ = reply.send(Ok(room.clone()));
                    return Ok(());
                }
                let args = RoomArgs {
                    session_id,
                    sfu: state.shared.sfu.clone(),
                    events: state.shared.events.clone(),
                    settings: state.shared.settings.clone(),
                    record,
                };
                let result =
                    match Actor::spawn_linked(None, RoomActor, args, myself.get_cell()).await {
                        Ok((room, _)) => {
                            state.rooms.insert(session_id, room.clone());
                            Ok(room)
                        }
                        Err(e) => Err(JoinError::Internal(e.to_string())),
                    };
                let _ = reply.send(result);
            }
            RoomSupMsg::Get { session_id, reply } => {
                let _ = reply.send(state.rooms.get(&session_id).cloned());
            }
            RoomSupMsg::List(reply) => {
                let _ = reply.send(state.rooms.values().cloned().collect());
            }
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        _myself: ActorRef<RoomSupMsg>,
        evt: SupervisionEvent,
        state: &mut RoomSupState,
    ) -> Result<(), ActorProcessingErr> {
        let (cell, failure) = match evt {
            SupervisionEvent::ActorTerminated(cell, _, _) => (cell, None),
            SupervisionEvent::ActorFailed(cell, err) => (cell, Some(err.to_string())),
            _ => return Ok(()),
        };
        let session = state
            .rooms
            .iter()
            .find(|(_, r)| r.get_id() == cell.get_id())
            .map(|(s, _)| *s);
        if let Some(session_id) = session {
            state.rooms.remove(&session_id);
            if let Some(error) = failure {
                tracing::error!(session = %session_id, %error, "room actor failed");
                let ev = DomainEvent::new(
                    Some(session_id),
                    data::RoomFailed {
                        error_kind: "actor_failed".into(),
                    },
                );
                emit(&*state.shared.events, ev).await;
            }
        }
        Ok(())
    }
}

// ---------------------------------------------------------------- RootSupervisor

pub struct RootSupervisor;

type Slot = Arc<RwLock<Option<ActorRef<RoomSupMsg>>>>;

pub struct RootState {
    shared: Shared,
    slot: Slot,
}

async fn start_room_supervisor(
    root: &ActorRef<()>,
    shared: &Shared,
    slot: &Slot,
) -> Result<(), ActorProcessingErr> {
    let (rooms, _) =
        Actor::spawn_linked(None, RoomSupervisor, shared.clone(), root.get_cell()).await?;
    *slot.write().unwrap() = Some(rooms);
    Ok(())
}

impl Actor for RootSupervisor {
    type Msg = ();
    type State = RootState;
    type Arguments = (Shared, Slot);

    async fn pre_start(
        &self,
        myself: ActorRef<()>,
        (shared, slot): (Shared, Slot),
    ) -> Result<RootState, ActorProcessingErr> {
        start_room_supervisor(&myself, &shared, &slot).await?;
        Ok(RootState { shared, slot })
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<()>,
        evt: SupervisionEvent,
        state: &mut RootState,
    ) -> Result<(), ActorProcessingErr> {
        if let SupervisionEvent::ActorFailed(_, err) = evt {
            // The live rooms were lost with it; new joins get a fresh supervisor.
            tracing::error!(error = %err, "room supervisor failed; starting a new one");
            start_room_supervisor(&myself, &state.shared, &state.slot).await?;
            let ev = DomainEvent::new(
                None,
                data::SupervisorRestarted {
                    supervisor: "rooms".into(),
                },
            );
            emit(&*state.shared.events, ev).await;
        }
        Ok(())
    }
}

// ---------------------------------------------------------------- Rooms (the handle)

/// The server's handle on the live side: join, list, end.
#[derive(Clone)]
pub struct Rooms {
    root: Arc<RwLock<Option<ActorRef<()>>>>,
    slot: Slot,
    shared: Shared,
}

impl Rooms {
    /// The handle, with nothing started yet: see [`Rooms::spawn_root`].
    pub fn new(sfu: Arc<Sfu>, events: Arc<dyn EventSink>, settings: RoomSettings) -> Self {
        Self {
            root: Arc::default(),
            slot: Arc::new(RwLock::new(None)),
            shared: Shared {
                sfu,
                events,
                settings,
            },
        }
    }

    /// A standalone tree (tests): the root has no supervisor.
    pub async fn start(
        sfu: Arc<Sfu>,
        events: Arc<dyn EventSink>,
        settings: RoomSettings,
    ) -> Result<Self, ActorProcessingErr> {
        let rooms = Self::new(sfu, events, settings);
        rooms.spawn_root(None).await?;
        Ok(rooms)
    }

    /// Starts the root (again), linked to `supervisor` when given; this handle then reaches
    /// the new one. Returns the root's cell.
    pub async fn spawn_root(
        &self,
        supervisor: Option<ractor::ActorCell>,
    ) -> Result<ractor::ActorCell, ActorProcessingErr> {
        let args = (self.shared.clone(), self.slot.clone());
        let (root, _) = match supervisor {
            Some(sup) => Actor::spawn_linked(None, RootSupervisor, args, sup).await?,
            None => Actor::spawn(None, RootSupervisor, args).await?,
        };
        let cell = root.get_cell();
        *self.root.write().unwrap() = Some(root);
        Ok(cell)
    }

    fn supervisor(&self) -> Option<ActorRef<RoomSupMsg>> {
        self.slot.read().unwrap().clone()
    }

    /// Join the session's room, starting it if it is not live.
    pub async fn join(
        &self,
        session_id: SessionId,
        spec: JoinSpec,
    ) -> Result<JoinedPeer, JoinError> {
        let sup = self
            .supervisor()
            .ok_or_else(|| JoinError::Internal("no room supervisor".into()))?;
        let record = spec.record;
        let room = call_t!(
            sup,
            |reply| RoomSupMsg::GetOrCreate {
                session_id,
                record,
                reply
            },
            CALL_TIMEOUT_MS
        )
        .map_err(|e| JoinError::Internal(e.to_string()))??;
        // A room that stops between lookup and join has just ended.
        call_t!(room, |reply| RoomMsg::Join { spec, reply }, CALL_TIMEOUT_MS)
            .map_err(|_| JoinError::RoomEnded)?
    }

    pub async fn room(&self, session_id: SessionId) -> Option<ActorRef<RoomMsg>> {
        let sup = self.supervisor()?;
        call_t!(
            sup,
            |reply| RoomSupMsg::Get { session_id, reply },
            CALL_TIMEOUT_MS
        )
        .ok()
        .flatten()
    }

    /// Every live room, with its peers.
    pub async fn list(&self) -> Vec<RoomInfo> {
        let Some(sup) = self.supervisor() else {
            return vec![];
        };
        let rooms = call_t!(sup, RoomSupMsg::List, CALL_TIMEOUT_MS).unwrap_or_default();
        let mut out = Vec::with_capacity(rooms.len());
        for room in rooms {
            // A room ending right now is simply not listed.
            if let Ok(info) = call_t!(room, RoomMsg::Info, CALL_TIMEOUT_MS) {
                out.push(info);
            }
        }
        out.sort_by_key(|r| r.started_at);
        out
    }

    /// End the session's live room. `Ok(false)` when it has none.
    pub async fn end(
        &self,
        session_id: SessionId,
        by: Option<PeerId>,
        reason: &str,
    ) -> Result<bool, RoomError> {
        let Some(room) = self.room(session_id).await else {
            return Ok(false);
        };
        let reason = reason.to_string();
        match call_t!(
            room,
            |reply| RoomMsg::End {
                by,
                reason,
                reply: Some(reply)
            },
            CALL_TIMEOUT_MS
        ) {
            Ok(result) => result.map(|_| true),
            Err(_) => Ok(false),
        }
    }

    /// Sends `msg` to the peers in the live call of room `room_id` that joined for session
    /// `session_id` (the room's own, or an applicant's in a group call) with one of `roles`.
    /// Returns how many received it (0 when there is no live call).
    pub async fn notify(
        &self,
        room_id: SessionId,
        session_id: SessionId,
        roles: &[Role],
        msg: ServerMsg,
    ) -> usize {
        let Some(room) = self.room(room_id).await else {
            return 0;
        };
        let roles = roles.to_vec();
        call_t!(
            room,
            |reply| RoomMsg::Notify {
                session_id,
                roles,
                msg,
                reply
            },
            CALL_TIMEOUT_MS
        )
        .unwrap_or(0)
    }

    pub fn shutdown(&self) {
        if let Some(root) = self.root.read().unwrap().as_ref() {
            root.stop(Some("shutdown".into()));
        }
    }
}
