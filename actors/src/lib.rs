//! # vkyc-actors — the live side of vkyc
//!
//! Every live thing in a call is a [ractor] actor under an explicit supervisor:
//!
//! ```text
//! RootSupervisor                      (supervisor.rs)  restarts RoomSupervisor if it dies
//! └── RoomSupervisor                  (supervisor.rs)  one entry per live call, keyed by session id
//!     └── RoomActor                   (room.rs)        membership, roles, mute/end, track fan-out
//!         ├── PeerActor × n           (peer.rs)        one WebRTC peer connection + its negotiation
//!         └── RecordingActor          (recording/)     the call's WebM, written live
//! ```
//!
//! Layout:
//! - [`domain`]: ids, roles and the small value types shared by everything.
//! - [`events`]: domain events and the [`events::EventSink`] port (the server plugs in the
//!   embedded log or Kafka; tests plug in memory).
//! - [`signal`]: the signalling messages exchanged with a client (JSON over WebSocket in the
//!   server; plain channels here, so the actors are testable without sockets).
//! - [`sfu`]: the WebRTC media path: building peer connections, published tracks, the
//!   forwarding loop and keyframe (PLI) relay.
//! - [`room`], [`peer`], [`supervisor`]: the actors.
//!
//! Media never goes through an actor mailbox: a published track's RTP is read by one
//! forwarding task and written once to a `TrackLocalStaticRTP` that every subscriber's peer
//! connection is bound to. Actors handle control (join, leave, negotiation, mute, end).

pub mod blob;
pub mod case;
pub mod domain;
pub mod events;
pub mod inference;
pub mod kyc;
pub mod peer;
pub mod recording;
pub mod room;
pub mod sfu;
pub mod signal;
pub mod supervisor;
pub mod verify;
pub mod vision;

pub use domain::{MediaKind, PeerId, PeerInfo, Role, SessionId};
pub use events::{DomainEvent, EventKind, EventSink};
pub use supervisor::{JoinError, JoinedPeer, Rooms};
