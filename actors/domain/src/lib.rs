//! # vkyc-domain — the rules of vkyc, once
//!
//! Everything a KYC session *is* and every rule about how it may change lives here, as
//! plain data and pure functions of events and time. The live call, the KYC actors, both
//! storage back ends and the HTTP edge call these functions; none of them decides a rule
//! of its own (a storage adapter that computes a session's next status, or a handler that
//! decides whether a case may change, is a rule that leaked).
//!
//! Layout:
//! - [`ids`]: typed ids ([`SessionId`], [`PeerId`]): a session id is never a bare `Uuid`.
//! - [`call`]: who is in a call ([`Role`], [`MediaKind`], [`PeerInfo`], [`call::LeaveReason`]).
//! - [`session`]: a session, its applicant, its validating input types, the **session
//!   lifecycle** ([`Session::apply`], [`Session::cancel`], [`Session::expire`], …) and
//!   **group admission** ([`Session::admit`]).
//! - [`kyc`]: the KYC case (steps, attempts with typed [`kyc::Scores`] and details
//!   [`step_data::StepData`], decisions, audits),
//!   **the case lock** ([`kyc::KycCase::check`]: nothing changes after the agent's decision
//!   except after a `recapture` audit) and the recommendation rules ([`kyc::recommend`]).
//! - [`events`]: [`EventKind`] — every event type with its family (its Kafka topic), whether
//!   webhooks may send it out, and its meaning — its typed payload ([`events::data`], one
//!   struct per type: [`DomainEvent`] is built from one, so its type and data never
//!   disagree), the JSON Schema derived from that payload (the Kafka contract the server
//!   writes to `src/schema/events/`), and the [`EventSink`] port.
//! - [`recording`]: a call's recording as events and stores see it ([`recording::RecordedTrack`],
//!   the recorder's [`recording::RecordingSummary`]).
//! - [`step_data`]: what an attempt of each step type recorded ([`step_data::StepData`]:
//!   consent, position, answers, fields read, face matches per source, liveness verdict).
//! - [`step_input`]: the steps' inputs, checked once where they arrive ([`step_input::OtpCode`],
//!   [`step_input::Position`]…; an [`step_input::InvalidStepInput`] is a 422 at the edge).
//! - [`desk`]: the agent desk — staff accounts and their roles ([`desk::user`]), skills and a
//!   session's requirements, agents' presence and the queue's routing rules.
//! - [`questions`]: question banks and the random, varying draw of a session's questions
//!   with the answers the lender expects.
//! - [`document`]: an ID card's kind and the fields read from it (the OCR fills them).
//! - [`geometry`]: points and boxes on an image (where a face or a card photo was found).
//! - [`challenge`]: the head movements of the active liveness challenge ([`Move`]) and how
//!   each was done ([`challenge::MoveResult`]), shared by the liveness check and the
//!   simulated participants of the load test.
//! - [`verhoeff`]: the Verhoeff check digit of Aadhaar numbers (the OCR checks it, the
//!   synthetic ID cards compute it).
//!
//! This crate must not depend on webrtc, ort, ractor, redb, scylla or actix (`cargo tree -p
//! vkyc-domain` shows it; serde, utoipa and schemars are used for their derives): it has no
//! I/O, no clocks of its own (callers pass `now`) and no actors, so every rule is unit-tested
//! without sockets.

/// The conversions of a validated text type: from a `String` through its `parse` (serde's
/// `try_from`, failing with `$err`), back into a `String` (serde's `into`), and `Display`.
macro_rules! text_newtype {
    ($name:ident, $err:ty) => {
        impl TryFrom<String> for $name {
            type Error = $err;
            fn try_from(s: String) -> Result<Self, $err> {
                $name::parse(&s)
            }
        }

        impl From<$name> for String {
            fn from(v: $name) -> String {
                v.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

pub mod activity;
pub mod call;
pub mod challenge;
pub mod desk;
pub mod document;
pub mod events;
pub mod geometry;
pub mod ids;
pub mod kyc;
pub mod questions;
pub mod recording;
pub mod retention;
pub mod session;
pub mod step_data;
pub mod step_input;
pub mod verhoeff;

pub use call::{MediaKind, PeerInfo, Role};
pub use challenge::Move;
pub use events::{DomainEvent, EventData, EventKind, EventSink, Family};
pub use ids::{OfferId, PeerId, SessionId, UserId};
pub use session::Session;
