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

/// Property tests of the wire types (README: Fuzzing).
#[cfg(test)]
mod fuzz {
    use super::*;
    use crate::fuzz_support::{cases, config};
    use proptest::prelude::*;

    fn candidates() -> impl Strategy<Value = IceCandidate> {
        (
            any::<String>(),
            proptest::option::of(any::<String>()),
            proptest::option::of(any::<u16>()),
            proptest::option::of(any::<String>()),
        )
            .prop_map(|(candidate, sdp_mid, sdp_mline_index, username_fragment)| {
                IceCandidate {
                    candidate,
                    sdp_mid,
                    sdp_mline_index,
                    username_fragment,
                }
            })
    }

    proptest! {
        #![proptest_config(config(cases()))]

        /// What the server sends as `candidate` is what a client sends back: the same shape
        /// (`RTCIceCandidateInit`) in both directions, for any field values.
        #[test]
        fn fuzz_ice_candidate_round_trips(c in proptest::option::of(candidates())) {
            let sent = serde_json::to_string(&ServerMsg::Candidate { candidate: c.clone() }).unwrap();
            match serde_json::from_str::<ClientMsg>(&sent) {
                Ok(ClientMsg::Candidate { candidate }) => prop_assert_eq!(&candidate, &c),
                other => prop_assert!(false, "{sent} read back as {other:?}"),
            }
            if let Some(c) = c {
                let json = serde_json::to_string(&c).unwrap();
                prop_assert_eq!(serde_json::from_str::<IceCandidate>(&json).unwrap(), c);
            }
        }

        /// Deserialising any bytes as a client message or a candidate is an error or a value,
        /// never a panic.
        #[test]
        fn fuzz_client_msg_from_any_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = serde_json::from_slice::<ClientMsg>(&bytes);
            let _ = serde_json::from_slice::<IceCandidate>(&bytes);
        }

        /// Every server message serialises to one JSON object with its `type`.
        #[test]
        fn fuzz_server_msg_serialises(
            sdp in any::<String>(),
            code in any::<String>(),
            message in any::<String>(),
            c in proptest::option::of(candidates()),
            which in 0..4u8,
        ) {
            let msg = match which {
                0 => ServerMsg::Offer { sdp },
                1 => ServerMsg::Candidate { candidate: c },
                2 => ServerMsg::error(&code, message),
                _ => ServerMsg::Pong,
            };
            let v: serde_json::Value = serde_json::from_str(&serde_json::to_string(&msg).unwrap()).unwrap();
            prop_assert!(v.get("type").and_then(|t| t.as_str()).is_some(), "{v}");
        }
    }
}
