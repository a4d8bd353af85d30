//! # vkyc-call — the live call
//!
//! Every live thing in a call is a [ractor] actor under an explicit supervisor:
//!
//! ```text
//! RootSupervisor                      (supervisor.rs)  restarts RoomSupervisor if it dies
//! └── RoomSupervisor                  (supervisor.rs)  one entry per live call, keyed by session id
//!     └── RoomActor                   (room.rs)        membership, roles, mute/end, track fan-out
//!         ├── PeerActor × n           (peer.rs)        one WebRTC peer connection + its negotiation
//!         └── RecordingActor          (vkyc-media)     the call's WebM, written live
//! ```
//!
//! The rules (ids, roles, the session lifecycle, events) are in `vkyc-domain`; the media path
//! (peer connections, forwarding, recording) is in `vkyc-media`; this crate runs the call's
//! control plane over them. Layout:
//! - [`signal`]: the signalling messages exchanged with a client (JSON over WebSocket in the
//!   server; plain channels here, so the actors are testable without sockets).
//! - [`room`], [`peer`], [`supervisor`]: the actors.
//!
//! Media never goes through an actor mailbox: a published track's RTP is read by one
//! forwarding task and written once to a `TrackLocalStaticRTP` that every subscriber's peer
//! connection is bound to. Actors handle control (join, leave, negotiation, mute, end).

pub mod peer;
pub mod room;
pub mod signal;
pub mod supervisor;

pub use supervisor::{JoinError, JoinedPeer, Rooms};

/// Settings of the `fuzz_` property tests (README: Fuzzing).
#[cfg(test)]
pub(crate) mod fuzz_support {
    /// Cases per `fuzz_` target: `VKYC_FUZZ_CASES`, default 2000.
    pub fn cases() -> u32 {
        std::env::var("VKYC_FUZZ_CASES")
            .ok()
            .and_then(|v| v.trim().parse().ok())
            .filter(|n| *n > 0)
            .unwrap_or(2000)
    }

    /// A proptest config running `n` cases, writing no regression files into the tree.
    pub fn config(n: u32) -> proptest::test_runner::Config {
        proptest::test_runner::Config {
            cases: n.max(1),
            failure_persistence: None,
            ..Default::default()
        }
    }
}
