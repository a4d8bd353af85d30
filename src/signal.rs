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
