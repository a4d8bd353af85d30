//! # vkyc-media — the media path
//!
//! What happens to RTP between the peers of a call, with no actor of the call in its way:
//!
//! - [`sfu`]: WebRTC peer connections built with one shared media engine and interceptor
//!   set-up, the published tracks, the forwarding loop (one read, one write per packet into a
//!   local track every subscriber binds) and the keyframe (PLI) relay.
//! - [`recording`]: the tap on each forwarded packet, the timeline (jitter buffer, frame
//!   assembly, clock sync from sender reports), the WebM muxer, and the `RecordingActor` that
//!   owns one call's file; the bytes go to a [`vkyc_blob::BlobStore`] stream.
//!
//! The live call (`vkyc-call`) creates peers and recorders through this crate; nothing here
//! knows rooms or roles beyond the ids and kinds of `vkyc-domain`.

pub mod recording;
pub mod sfu;

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
