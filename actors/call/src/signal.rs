//! Signalling messages between a client and its peer (see PROTOCOL.md at the repository root).
//!
//! The server is always the SDP offerer; the client answers. These types are the wire format:
//! the WebSocket layer only (de)serialises them.

use serde::{Deserialize, Serialize};

use vkyc_domain::{MediaKind, PeerId, PeerInfo, Role, SessionId};

/// A trickled ICE candidate, in the browser's `RTCIceCandidateInit` shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IceCandidate {
    pub candidate: String,
    #[serde(default)]
    pub sdp_mid: Option<String>,
    #[serde(default, rename = "sdpMLineIndex")]
    pub sdp_mline_index: Option<u16>,
    #[serde(default)]
    pub username_fragment: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ClientMsg {
    Join {
        token: String,
    },
    Answer {
        sdp: String,
    },
    Candidate {
        candidate: Option<IceCandidate>,
    },
    Mute {
        peer_id: PeerId,
        kind: MediaKind,
        muted: bool,
    },
    MediaState {
        audio: bool,
        video: bool,
    },
    End,
    Leave,
    Ping,
}

impl ClientMsg {
    /// The `type` values a client may send, to tell "unknown type" from "bad fields".
    pub const TYPES: &'static [&'static str] = &[
        "join",
        "answer",
        "candidate",
        "mute",
        "media_state",
        "end",
        "leave",
        "ping",
    ];
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMsg {
    Joined {
        peer_id: PeerId,
        session_id: SessionId,
        role: Role,
        participant_id: String,
        peers: Vec<PeerInfo>,
    },
    Offer {
        sdp: String,
    },
    Candidate {
        candidate: Option<IceCandidate>,
    },
    PeerJoined {
        peer: PeerInfo,
    },
    PeerLeft {
        peer_id: PeerId,
        reason: String,
    },
    Muted {
        peer_id: PeerId,
        kind: MediaKind,
        muted: bool,
        by: PeerId,
    },
    MediaState {
        peer_id: PeerId,
        audio: bool,
        video: bool,
    },
    RoomEnded {
        reason: String,
    },
    /// Something the server asks this participant to do now (a verification step's prompt,
    /// e.g. `{"kind":"liveness","challenge_id":…,"moves":[…],"seconds_per_move":N}`).
    Prompt {
        prompt: serde_json::Value,
    },
    Error {
        code: String,
        message: String,
    },
    Pong,
}

impl ServerMsg {
    pub fn error(code: &str, message: impl Into<String>) -> Self {
        ServerMsg::Error {
            code: code.to_string(),
            message: message.into(),
        }
    }
}

/// The channel a peer's outbound signalling goes into (the WebSocket writer drains it).
pub type SignalTx = tokio::sync::mpsc::UnboundedSender<ServerMsg>;
