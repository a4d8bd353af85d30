//! Simulated participants for vkyc: REST helpers and [`SimPeer`], a real WebRTC peer
//! (webrtc-rs) that joins a call over the real signalling protocol (PROTOCOL.md), publishes
//! RTP and records what it receives. The integration tests and the load test both use it.

pub mod api;
pub mod peer;

pub use api::{ApiClient, IssuedToken};
pub use peer::{Received, SimPeer, SimPeerOptions};
