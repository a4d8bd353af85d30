//! Who is in a call: roles, media kinds, a peer as others see it, and why a peer left.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::ids::PeerId;

/// What a peer may do in a room.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Runs the call: publishes, may mute anyone and end the call.
    Agent,
    /// The applicant: publishes audio and video.
    Customer,
    /// Auditor or supervisor watching: subscribes only.
    Observer,
}

impl Role {
    pub fn can_publish(self) -> bool {
        matches!(self, Role::Agent | Role::Customer)
    }
    /// May mute other peers and end the call.
    pub fn can_moderate(self) -> bool {
        matches!(self, Role::Agent)
    }
    /// Whether a participant of this role is told that one of `other`'s role is in the call:
    /// a customer never learns of an observer (an auditor or supervisor watching silently).
    pub fn sees(self, other: Role) -> bool {
        !(self == Role::Customer && other == Role::Observer)
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Agent => "agent",
            Role::Customer => "customer",
            Role::Observer => "observer",
        }
    }
}

impl std::str::FromStr for Role {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        match s {
            "agent" => Ok(Role::Agent),
            "customer" => Ok(Role::Customer),
            "observer" => Ok(Role::Observer),
            _ => Err(()),
        }
    }
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum MediaKind {
    Audio,
    Video,
}

impl MediaKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MediaKind::Audio => "audio",
            MediaKind::Video => "video",
        }
    }
}

/// Why a peer is no longer in the room.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum LeaveReason {
    /// The client said `leave`.
    Left,
    /// Its signalling connection dropped (it may resume with the same token).
    Disconnected,
    /// The same participant joined again on a new connection.
    Replaced,
    /// Its actor failed (panic or error).
    Failed,
}

impl LeaveReason {
    pub fn as_str(self) -> &'static str {
        match self {
            LeaveReason::Left => "left",
            LeaveReason::Disconnected => "disconnected",
            LeaveReason::Replaced => "replaced",
            LeaveReason::Failed => "failed",
        }
    }
}

/// Who a peer is, as other peers and the API see it. Carries no personal data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PeerInfo {
    pub peer_id: PeerId,
    pub role: Role,
    pub participant_id: String,
}
