//! Simulated participants for vkyc: REST helpers and [`SimPeer`], a real WebRTC peer
//! (webrtc-rs) that joins a call over the real signalling protocol (PROTOCOL.md), publishes
//! RTP and records what it receives. The integration tests and the load test both use it.
//! [`cards`] draws synthetic ID cards (PAN, Aadhaar) with their true fields.

pub mod api;
pub mod cards;
pub mod headpose;
pub mod peer;

pub use api::{ApiClient, IssuedToken};
pub use peer::{Received, SimPeer, SimPeerOptions};
