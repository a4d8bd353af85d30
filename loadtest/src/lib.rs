//! Simulated participants for vkyc and the load test built on them.
//!
//! Layout:
//! - [`api`]: a small REST client; [`peer`]: [`SimPeer`], a real WebRTC peer (webrtc-rs)
//!   that joins a call over the real signalling protocol (PROTOCOL.md), publishes RTP and
//!   records (or hands to a sink) what it receives. The integration tests use these too.
//! - [`cards`], [`headpose`]: synthetic ID cards and head-pose frames for step flows.
//! - The load test (`vkyc-loadtest`, `src/main.rs`):
//!   [`media`] (VP8/Opus clips encoded by ffmpeg, cached, packetised),
//!   [`call`] (one simulated call: session, peers, paced media, step flow),
//!   [`stats`] (forwarding latency, loss, jitter, histograms),
//!   [`prom`] (the server's `/metrics`), [`run`] (a load level: ramp, sampler, progress),
//!   [`queue`] (the agent desk under load: customers queueing, simulated agents taking calls),
//!   [`relay`] (the minimal UDP relay baseline), [`report`] (JSON report, SLO verdicts,
//!   capacity search) and [`html`] (the HTML page with its charts).

pub mod api;
pub mod call;
pub mod cards;
pub mod headpose;
pub mod html;
pub mod media;
pub mod peer;
pub mod prom;
pub mod queue;
pub mod relay;
pub mod report;
pub mod run;
pub mod stats;

pub use api::{ApiClient, IssuedToken};
pub use peer::{Received, RtpSink, SimPeer, SimPeerOptions};
