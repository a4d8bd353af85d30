//! Signalling over WebSocket (`GET /v1/rtc`): the wire edge of the live side.
//!
//! One task per connection: it waits for `join` (token check, session check), joins the
//! room, then shuttles client messages to the peer/room actors and the actors' messages to
//! the client, with a heartbeat. All logic lives in the actors; this file only parses,
//! authorises and forwards.

use std::time::{Duration, Instant};

use actix_web::{web, HttpRequest, HttpResponse};
use actix_ws::{AggregatedMessage, CloseCode, CloseReason, Session as WsSession};
use futures_util::StreamExt;
use ractor::call_t;
use tokio::sync::mpsc;
use vkyc_call::peer::PeerMsg;
use vkyc_call::room::{JoinSpec, LeaveReason, RoomError, RoomMsg};
use vkyc_call::signal::{ClientMsg, ServerMsg};
use vkyc_call::{JoinError, JoinedPeer};

use crate::startup::AppState;

pub async fn rtc(
    req: HttpRequest,
    body: web::Payload,
    state: web::Data<AppState>,
) -> actix_web::Result<HttpResponse> {
    let (response, session, stream) = actix_ws::handle(&req, body)?;
    let max = state.config.signalling.max_message_bytes;
    let stream = stream
        .max_frame_size(max)
        .aggregate_continuations()
        .max_continuation_size(max);
    actix_web::rt::spawn(run(state.into_inner(), session, stream));
    Ok(response)
}

/// Parse one client frame: `bad_message` for anything that is not a well-formed message,
/// `unknown_type` for a well-formed message of a type we do not have.
pub fn parse(text: &str) -> Result<ClientMsg, ServerMsg> {
    let value: serde_json::Value = serde_json::from_str(text)
        .map_err(|_| ServerMsg::error("bad_message", "not a JSON object"))?;
    let Some(kind) = value
        .get("type")
        .and_then(|t| t.as_str())
        .map(str::to_string)
    else {
        return Err(ServerMsg::error("bad_message", "missing \"type\""));
    };
    if !ClientMsg::TYPES.contains(&kind.as_str()) {
        return Err(ServerMsg::error(
            "unknown_type",
            format!("unknown message type {:?}", truncate(&kind, 40)),
        ));
    }
    serde_json::from_value(value)
        .map_err(|e| ServerMsg::error("bad_message", format!("invalid {kind} message: {e}")))
}

fn truncate(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}

struct Conn {
    ws: WsSession,
}

impl Conn {
    async fn send(&mut self, msg: &ServerMsg) -> bool {
        match serde_json::to_string(msg) {
            Ok(text) => self.ws.text(text).await.is_ok(),
            Err(_) => false,
        }
    }

    async fn fail(self, msg: ServerMsg) {
        let mut this = self;
        let code = match &msg {
            ServerMsg::Error { code, .. } => code.clone(),
            _ => String::new(),
        };
        this.send(&msg).await;
        let _ = this
            .ws
            .close(Some(CloseReason {
                code: CloseCode::Policy,
                description: Some(code),
            }))
            .await;
    }
}

async fn run(
    state: std::sync::Arc<AppState>,
    ws: WsSession,
    mut stream: actix_ws::AggregatedMessageStream,
) {
    let cfg = &state.config.signalling;
    let mut conn = Conn { ws };
    let (tx, mut rx) = mpsc::unbounded_channel::<ServerMsg>();

    // ---- Phase 1: wait for `join`.
    let deadline = tokio::time::sleep(Duration::from_secs(cfg.join_timeout_secs));
    tokio::pin!(deadline);
    let joined: JoinedPeer = loop {
        tokio::select! {
            _ = &mut deadline => {
                conn.fail(ServerMsg::error("join_timeout", "send join within the time limit")).await;
                return;
            }
            frame = stream.next() => {
                let text = match frame {
                    Some(Ok(AggregatedMessage::Text(t))) => t,
                    Some(Ok(AggregatedMessage::Ping(p))) => { let _ = conn.ws.pong(&p).await; continue; }
                    Some(Ok(AggregatedMessage::Binary(_))) => {
                        conn.send(&ServerMsg::error("bad_message", "binary frames are not accepted")).await;
                        continue;
                    }
                    Some(Ok(AggregatedMessage::Pong(_))) => continue,
                    Some(Err(e)) => {
                        conn.fail(ServerMsg::error("message_too_large", format!("frame rejected: {e}"))).await;
                        return;
                    }
                    Some(Ok(AggregatedMessage::Close(_))) | None => return,
                };
                match parse(&text) {
                    Ok(ClientMsg::Join { token }) => match join(&state, &token, tx.clone()).await {
                        Ok(j) => break j,
                        Err(e) => { conn.fail(e).await; return; }
                    },
                    Ok(ClientMsg::Ping) => { conn.send(&ServerMsg::Pong).await; }
                    Ok(_) => { conn.send(&ServerMsg::error("not_joined", "send join first")).await; }
                    Err(e) => { conn.send(&e).await; }
                }
            }
        }
    };

    // ---- Phase 2: in the call.
    let mut heartbeat = tokio::time::interval(Duration::from_secs(cfg.heartbeat_secs));
    let timeout = Duration::from_secs(cfg.client_timeout_secs);
    let mut last_seen = Instant::now();
    let mut reason = LeaveReason::Disconnected;
    loop {
        tokio::select! {
            out = rx.recv() => {
                let Some(msg) = out else { break };
                let closing = matches!(&msg, ServerMsg::RoomEnded { .. })
                    || matches!(&msg, ServerMsg::Error { code, .. } if code == "peer_failed" || code == "replaced");
                if closing {
                    conn.fail(msg).await;
                    return;
                }
                if !conn.send(&msg).await { break; }
            }
            frame = stream.next() => {
                last_seen = Instant::now();
                let text = match frame {
                    Some(Ok(AggregatedMessage::Text(t))) => t,
                    Some(Ok(AggregatedMessage::Ping(p))) => { let _ = conn.ws.pong(&p).await; continue; }
                    Some(Ok(AggregatedMessage::Pong(_))) => continue,
                    Some(Ok(AggregatedMessage::Binary(_))) => {
                        conn.send(&ServerMsg::error("bad_message", "binary frames are not accepted")).await;
                        continue;
                    }
                    Some(Err(e)) => {
                        conn.send(&ServerMsg::error("message_too_large", format!("frame rejected: {e}"))).await;
                        break;
                    }
                    Some(Ok(AggregatedMessage::Close(_))) | None => break,
                };
                match parse(&text) {
                    Ok(msg) => {
                        if let Some(reply) = dispatch(&joined, msg, &mut reason).await {
                            conn.send(&reply).await;
                        }
                        if reason == LeaveReason::Left { break; }
                    }
                    Err(e) => { conn.send(&e).await; }
                }
            }
            _ = heartbeat.tick() => {
                if last_seen.elapsed() > timeout {
                    tracing::info!(peer = %joined.peer_id, "signalling heartbeat timed out");
                    break;
                }
                if conn.ws.ping(b"").await.is_err() { break; }
            }
        }
    }
    let _ = joined.room.cast(RoomMsg::Leave {
        peer_id: joined.peer_id,
        reason,
    });
    let _ = conn.ws.close(None).await;
}

async fn join(
    state: &AppState,
    token: &str,
    tx: vkyc_call::signal::SignalTx,
) -> Result<JoinedPeer, ServerMsg> {
    let claims = state
        .auth
        .verify(token)
        .map_err(|e| ServerMsg::error(e.code, e.message))?;
    let session = match state.store.get_session(claims.sid).await {
        Ok(Some(s)) => s,
        Ok(None) => {
            return Err(ServerMsg::error(
                "session_not_found",
                "no session with this id",
            ))
        }
        Err(e) => {
            tracing::error!(error = %e, "store failure at join");
            return Err(ServerMsg::error(
                "internal",
                "internal error; it has been logged",
            ));
        }
    };
    if session.status.is_final() {
        return Err(ServerMsg::error("room_ended", "this call has ended"));
    }
    if session.status == vkyc_domain::session::SessionStatus::Scheduled {
        return Err(ServerMsg::error(
            "session_not_started",
            "the call's window has not opened yet",
        ));
    }
    // A group's applicant joins the parent's call, as a participant of their own session.
    let participant_id = match session.parent_id {
        Some(_) => format!("{}@{}", claims.sub, &session.id.simple().to_string()[..8]),
        None => claims.sub.clone(),
    };
    let record = match session.parent_id {
        // The room is the parent's: its choice counts.
        Some(parent) => match state.store.get_session(parent).await {
            Ok(Some(p)) => p.record,
            _ => session.record,
        },
        None => session.record,
    }
    .unwrap_or(state.config.recording.enabled);
    let spec = JoinSpec {
        session_id: session.id,
        participant_id,
        role: claims.role,
        signal: tx,
        record,
    };
    state
        .rooms
        .join(session.room_id(), spec)
        .await
        .map_err(|e| match e {
            JoinError::RoomFull => ServerMsg::error(
                "room_full",
                "the call has the maximum number of participants",
            ),
            JoinError::RoomEnded => ServerMsg::error("room_ended", "this call has ended"),
            JoinError::ParticipantTaken => ServerMsg::error(
                "participant_taken",
                "this participant id belongs to another role in this call",
            ),
            JoinError::Internal(e) => {
                tracing::error!(error = %e, "join failed");
                ServerMsg::error("internal", "internal error; it has been logged")
            }
        })
}

/// Route one client message; returns an immediate reply for the client, if any.
async fn dispatch(
    peer: &JoinedPeer,
    msg: ClientMsg,
    reason: &mut LeaveReason,
) -> Option<ServerMsg> {
    match msg {
        ClientMsg::Join { .. } => Some(ServerMsg::error(
            "already_joined",
            "this connection has joined already",
        )),
        ClientMsg::Answer { sdp } => {
            let _ = peer.actor.cast(PeerMsg::Answer(sdp));
            None
        }
        ClientMsg::Candidate { candidate } => {
            let _ = peer.actor.cast(PeerMsg::Candidate(candidate));
            None
        }
        ClientMsg::Mute {
            peer_id,
            kind,
            muted,
        } => {
            if !peer.role.can_moderate() {
                return Some(ServerMsg::error(
                    "forbidden",
                    "only the agent may mute other participants",
                ));
            }
            let by = peer.peer_id;
            match call_t!(
                peer.room,
                |reply| RoomMsg::Mute {
                    by,
                    target: peer_id,
                    kind,
                    muted,
                    reply
                },
                5000
            ) {
                Ok(Ok(())) => None,
                Ok(Err(RoomError::UnknownPeer)) => Some(ServerMsg::error(
                    "unknown_peer",
                    "no such peer in this call",
                )),
                Ok(Err(RoomError::Forbidden)) => {
                    Some(ServerMsg::error("forbidden", "only the agent may mute"))
                }
                Err(_) => Some(ServerMsg::error("room_ended", "this call has ended")),
            }
        }
        ClientMsg::MediaState { audio, video } => {
            let _ = peer.room.cast(RoomMsg::MediaState {
                peer_id: peer.peer_id,
                audio,
                video,
            });
            None
        }
        ClientMsg::End => {
            if !peer.role.can_moderate() {
                return Some(ServerMsg::error(
                    "forbidden",
                    "only the agent may end the call",
                ));
            }
            let _ = peer.room.cast(RoomMsg::End {
                by: Some(peer.peer_id),
                reason: "ended_by_agent".into(),
                reply: None,
            });
            None
        }
        ClientMsg::Leave => {
            *reason = LeaveReason::Left;
            None
        }
        ClientMsg::Ping => Some(ServerMsg::Pong),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_tells_bad_from_unknown() {
        let code = |t: &str| match parse(t) {
            Err(ServerMsg::Error { code, .. }) => code,
            Ok(_) => "ok".into(),
            Err(_) => unreachable!(),
        };
        assert_eq!(code("{\"type\":\"ping\"}"), "ok");
        assert_eq!(code("not json"), "bad_message");
        assert_eq!(code("[1,2]"), "bad_message");
        assert_eq!(code("{\"sdp\":\"x\"}"), "bad_message");
        assert_eq!(code("{\"type\":\"dance\"}"), "unknown_type");
        assert_eq!(code("{\"type\":\"answer\"}"), "bad_message");
        assert_eq!(code("{\"type\":\"answer\",\"sdp\":5}"), "bad_message");
        assert_eq!(
            code("{\"type\":\"mute\",\"peer_id\":\"nope\",\"kind\":\"audio\",\"muted\":true}"),
            "bad_message"
        );
    }
}

/// Property tests of the signalling parser (README: Fuzzing).
#[cfg(test)]
mod fuzz {
    use super::*;
    use crate::fuzz_support::{cases, config};
    use proptest::prelude::*;
    use serde_json::{json, Map, Value};

    /// What a parsed message says, as JSON with every field written out (`ClientMsg` has no
    /// `Serialize`: this is the reference the generated messages are compared with).
    fn said(msg: &ClientMsg) -> Value {
        match msg {
            ClientMsg::Join { token } => json!({"type": "join", "token": token}),
            ClientMsg::Answer { sdp } => json!({"type": "answer", "sdp": sdp}),
            ClientMsg::Candidate { candidate } => {
                json!({"type": "candidate", "candidate": candidate.as_ref().map(|c| json!({
                    "candidate": c.candidate,
                    "sdpMid": c.sdp_mid,
                    "sdpMLineIndex": c.sdp_mline_index,
                    "usernameFragment": c.username_fragment,
                }))})
            }
            ClientMsg::Mute {
                peer_id,
                kind,
                muted,
            } => {
                json!({"type": "mute", "peer_id": peer_id, "kind": kind, "muted": muted})
            }
            ClientMsg::MediaState { audio, video } => {
                json!({"type": "media_state", "audio": audio, "video": video})
            }
            ClientMsg::End => json!({"type": "end"}),
            ClientMsg::Leave => json!({"type": "leave"}),
            ClientMsg::Ping => json!({"type": "ping"}),
        }
    }

    /// Any JSON value, nested a few levels.
    fn any_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(Value::from),
            ".{0,12}".prop_map(Value::from),
            prop::sample::select(ClientMsg::TYPES).prop_map(Value::from),
        ];
        leaf.prop_recursive(3, 24, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::btree_map(keys(), inner, 0..5)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    /// Field names of the protocol, and others.
    fn keys() -> impl Strategy<Value = String> {
        prop_oneof![
            3 => prop::sample::select(vec![
                "type", "token", "sdp", "candidate", "sdpMid", "sdpMLineIndex",
                "usernameFragment", "peer_id", "kind", "muted", "audio", "video",
            ])
            .prop_map(str::to_string),
            1 => ".{0,8}",
        ]
    }

    /// An optional field of a candidate: absent, null, or a value.
    fn opt_field(v: impl Strategy<Value = Value>) -> impl Strategy<Value = Option<Value>> {
        prop_oneof![Just(None), Just(Some(Value::Null)), v.prop_map(Some)]
    }

    /// A well-formed client message (every type, any field values).
    fn valid_message() -> impl Strategy<Value = Value> {
        let candidate = (
            any::<String>(),
            opt_field(any::<String>().prop_map(Value::from)),
            opt_field(any::<u16>().prop_map(Value::from)),
            opt_field(any::<String>().prop_map(Value::from)),
        )
            .prop_map(|(c, mid, index, ufrag)| {
                let mut m = Map::new();
                m.insert("candidate".into(), Value::from(c));
                for (k, v) in [
                    ("sdpMid", mid),
                    ("sdpMLineIndex", index),
                    ("usernameFragment", ufrag),
                ] {
                    if let Some(v) = v {
                        m.insert(k.into(), v);
                    }
                }
                Value::Object(m)
            });
        prop_oneof![
            any::<String>().prop_map(|token| json!({"type": "join", "token": token})),
            any::<String>().prop_map(|sdp| json!({"type": "answer", "sdp": sdp})),
            prop::option::of(candidate).prop_map(|c| json!({"type": "candidate", "candidate": c})),
            (any::<u128>(), any::<bool>(), any::<bool>()).prop_map(|(id, video, muted)| json!({
                "type": "mute",
                "peer_id": uuid::Uuid::from_u128(id),
                "kind": if video { "video" } else { "audio" },
                "muted": muted,
            })),
            (any::<bool>(), any::<bool>()).prop_map(
                |(audio, video)| json!({"type": "media_state", "audio": audio, "video": video})
            ),
            Just(json!({"type": "end"})),
            Just(json!({"type": "leave"})),
            Just(json!({"type": "ping"})),
        ]
    }

    /// A message with its optional candidate fields written out (null when absent).
    fn normalised(v: &Value) -> Value {
        let mut v = v.clone();
        if let Some(c) = v.get_mut("candidate").and_then(Value::as_object_mut) {
            for k in ["sdpMid", "sdpMLineIndex", "usernameFragment"] {
                c.entry(k).or_insert(Value::Null);
            }
        }
        v
    }

    /// The invariant of every answer: a message, or one of the two error codes with a message
    /// no longer than the frame that caused it (plus the fixed wording).
    fn check(text: &str, r: &Result<ClientMsg, ServerMsg>) -> Result<(), TestCaseError> {
        match r {
            Ok(_) => {}
            Err(ServerMsg::Error { code, message }) => {
                prop_assert!(
                    code == "bad_message" || code == "unknown_type",
                    "code {code}"
                );
                prop_assert!(
                    message.len() <= text.len() + 256,
                    "a {}-byte error for a {}-byte frame",
                    message.len(),
                    text.len()
                );
                if code == "unknown_type" {
                    prop_assert!(
                        message.len() <= 512,
                        "the unknown type is cut to 40 characters"
                    );
                }
            }
            Err(other) => prop_assert!(false, "not an error: {other:?}"),
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(config(cases()))]

        #[test]
        fn fuzz_signal_parse_never_panics_on_any_text(text in any::<String>()) {
            let r = parse(&text);
            check(&text, &r)?;
        }

        #[test]
        fn fuzz_signal_parse_never_panics_on_any_bytes(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
            // A text frame is UTF-8 by the time it is parsed; invalid bytes arrive replaced.
            let text = String::from_utf8_lossy(&bytes);
            let r = parse(&text);
            check(&text, &r)?;
        }

        #[test]
        fn fuzz_signal_parse_classifies_any_json(v in any_json()) {
            let text = v.to_string();
            let r = parse(&text);
            check(&text, &r)?;
            let code = match &r {
                Err(ServerMsg::Error { code, .. }) => Some(code.as_str()),
                _ => None,
            };
            match v.get("type") {
                Some(Value::String(t)) if ClientMsg::TYPES.contains(&t.as_str()) => {
                    // A known type: a message, or bad fields.
                    if let Ok(msg) = &r {
                        let said = said(msg);
                        prop_assert_eq!(said["type"].as_str(), Some(t.as_str()));
                    } else {
                        prop_assert_eq!(code, Some("bad_message"));
                    }
                }
                Some(Value::String(_)) => prop_assert_eq!(code, Some("unknown_type")),
                _ => prop_assert_eq!(code, Some("bad_message")),
            }
        }

        #[test]
        fn fuzz_signal_parse_round_trips_valid_messages(v in valid_message(), pretty in any::<bool>()) {
            let text = if pretty { serde_json::to_string_pretty(&v).unwrap() } else { v.to_string() };
            let msg = parse(&text);
            check(&text, &msg)?;
            let msg = msg.map_err(|e| TestCaseError::fail(format!("{text} refused: {e:?}")))?;
            prop_assert_eq!(said(&msg), normalised(&v));
        }

        #[test]
        fn fuzz_signal_parse_refuses_damaged_messages(
            v in valid_message(),
            extra in prop::sample::select(vec!["zzz", "Type", "sdp_mid", "peerId"]),
            extra_value in any_json(),
            drop_field in any::<prop::sample::Index>(),
        ) {
            let fields: Vec<String> = v.as_object().unwrap().keys().filter(|k| *k != "type").cloned().collect();
            let bad = |v: &Value| -> Result<(), TestCaseError> {
                let text = v.to_string();
                let r = parse(&text);
                check(&text, &r)?;
                prop_assert!(
                    matches!(&r, Err(ServerMsg::Error { code, .. }) if code == "bad_message"),
                    "{text} gave {r:?}"
                );
                Ok(())
            };
            // A field the message type does not have. (Only types with fields: serde lets
            // `end`, `leave` and `ping` carry any, `deny_unknown_fields` or not — harmless.)
            if !fields.is_empty() {
                let mut with_extra = v.clone();
                with_extra.as_object_mut().unwrap().insert(extra.to_string(), extra_value);
                bad(&with_extra)?;
            }
            // A required field missing. (Not `candidate`: it is an `Option`, and serde reads a
            // missing one as null, "end of candidates" — lenient, and harmless.)
            let fields: Vec<String> = fields.into_iter().filter(|f| f != "candidate").collect();
            if !fields.is_empty() {
                let mut without = v.clone();
                without.as_object_mut().unwrap().remove(&fields[drop_field.index(fields.len())]);
                bad(&without)?;
            }
        }
    }
}
