//! # vkyc — the server
//!
//! One binary: HTTP API, signalling, web pages and the SFU. The live side (rooms, peers,
//! their supervisors and the media path) is the `vkyc-actors` crate; this crate is the edge
//! around it.
//!
//! - [`config`]: layered configuration (defaults, profile, env).
//! - The rules (sessions, the lifecycle, the KYC case and its lock, events) are in
//!   `vkyc-domain`; the store adapters and handlers here only persist and translate.
//! - [`store`]: storage and event-log ports and the embedded (redb) default.
//! - [`events`]: the Kafka relay of the event log (the outbox) and `vkyc events tail`.
//! - [`auth`]: API key and join tokens (JWT); [`access`]: the extractors that say who may
//!   call a handler (the API key, or a participant of the path's session).
//! - [`api`]: REST handlers under `/v1`; [`error`]: the error shape and codes.
//! - [`signal`]: the WebSocket signalling edge.
//! - [`captures`]: frames captured in a call, kept encrypted in the blob store.
//! - [`kyc_api`]: the KYC workflow: steps, decisions, audit, the case document.
//! - [`questions_api`]: the lender's question banks, and the bank a new session draws from.
//! - [`verify`]: `/v1/verify/*`, the verification engines (face match, liveness, document).
//! - [`webhooks`]: signed webhook subscriptions, their dispatcher and delivery log.
//! - [`web`]: the embedded pages.
//! - [`supervision`]: the application supervisor over every actor, and `/readyz`'s health.
//! - [`startup`]: wiring it all together.
//!
//! See ARCHITECTURE.md for one call followed from HTTP request to actor to store.

pub mod access;
pub mod activity;
pub mod admin;
pub mod api;
pub mod auth;
pub mod captures;
pub mod config;
pub mod desk;
pub mod error;
pub mod events;
pub mod extract;
pub mod kyc_api;
pub mod lifecycle;
pub mod limits;
pub mod metrics;
pub mod notify;
pub mod openapi;
pub mod questions_api;
pub mod recordings;
pub mod retention;
pub mod self_record;
pub mod signal;
pub mod startup;
pub mod store;
pub mod supervision;
pub mod verify;
pub mod web;
pub mod webhooks;

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

    /// A proptest config running `n` cases (a slow target asks for a fraction of [`cases`]),
    /// writing no regression files into the source tree: a failure prints its shrunk input,
    /// which becomes a named unit test with the fix.
    pub fn config(n: u32) -> proptest::test_runner::Config {
        proptest::test_runner::Config {
            cases: n.max(1),
            failure_persistence: None,
            ..Default::default()
        }
    }
}
