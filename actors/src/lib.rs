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
//! The rules (ids, the session lifecycle, the KYC case and its lock, events) are in
//! `vkyc-domain`; this crate runs them. Layout:
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
pub mod inference;
pub mod peer;
pub mod recording;
pub mod room;
pub mod sfu;
pub mod signal;
pub mod supervisor;
pub mod verify;
pub mod vision;

// The domain types this crate's API speaks, under the paths the server has always used.
pub use vkyc_domain::{events, kyc};
pub use vkyc_domain::{DomainEvent, EventKind, EventSink, MediaKind, PeerId, PeerInfo, Role, SessionId};
/// Ids and call roles (from `vkyc-domain`).
pub mod domain {
    pub use vkyc_domain::call::*;
    pub use vkyc_domain::ids::*;
}
pub use supervisor::{JoinError, JoinedPeer, Rooms};
