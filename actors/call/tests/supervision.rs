//! Supervision, without sockets: a panic injected into one PeerActor is contained. The room
//! sees it, marks the peer failed, tells everyone, emits `peer.failed`; the other peer and
//! another room carry on; the participant can rejoin.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use vkyc_call::peer::PeerMsg;
use vkyc_call::room::{JoinSpec, RoomSettings};
use vkyc_call::signal::ServerMsg;
use vkyc_call::Rooms;
use vkyc_domain::events::MemorySink;
use vkyc_domain::SessionId;
use vkyc_domain::{EventKind, Role};
use vkyc_media::sfu::{RtcConfig, Sfu};

type Rx = mpsc::UnboundedReceiver<ServerMsg>;

async fn join(
    rooms: &Rooms,
    session: SessionId,
    who: &str,
    role: Role,
) -> (vkyc_call::JoinedPeer, Rx) {
    let (tx, rx) = mpsc::unbounded_channel();
    let spec = JoinSpec {
        session_id: session,
        participant_id: who.to_string(),
        role,
        signal: tx,
        record: false,
    };
    (rooms.join(session, spec).await.expect("join"), rx)
}

/// The next message matching `pred`, skipping offers, candidates and the like.
async fn expect(rx: &mut Rx, what: &str, pred: impl Fn(&ServerMsg) -> bool) -> ServerMsg {
    let wait = async {
        while let Some(m) = rx.recv().await {
            if pred(&m) {
                return Some(m);
            }
        }
        None
    };
    tokio::time::timeout(Duration::from_secs(10), wait)
        .await
        .ok()
        .flatten()
        .unwrap_or_else(|| panic!("did not receive {what}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_peer_is_contained_and_can_rejoin() {
    let sink = Arc::new(MemorySink::default());
    let sfu = Arc::new(Sfu::new(RtcConfig::default()).unwrap());
    let settings = RoomSettings {
        max_peers: 4,
        empty_timeout: Duration::from_secs(60),
        recording: None,
    };
    let rooms = Rooms::start(sfu, sink.clone(), settings).await.unwrap();

    let s1 = SessionId::new();
    let s2 = SessionId::new();
    let (agent, mut agent_rx) = join(&rooms, s1, "agent", Role::Agent).await;
    let (customer, mut customer_rx) = join(&rooms, s1, "customer", Role::Customer).await;
    let (other, _other_rx) = join(&rooms, s2, "agent", Role::Agent).await;
    assert!(matches!(
        expect(&mut agent_rx, "peer_joined", |m| matches!(m, ServerMsg::PeerJoined { .. })).await,
        ServerMsg::PeerJoined { peer } if peer.peer_id == customer.peer_id
    ));

    customer.actor.cast(PeerMsg::InjectPanic).unwrap();

    // The failed client is told to rejoin; the other peer sees it leave with reason "failed".
    expect(
        &mut customer_rx,
        "peer_failed",
        |m| matches!(m, ServerMsg::Error { code, .. } if code == "peer_failed"),
    )
    .await;
    let left = expect(&mut agent_rx, "peer_left", |m| {
        matches!(m, ServerMsg::PeerLeft { .. })
    })
    .await;
    assert_eq!(
        left,
        ServerMsg::PeerLeft {
            peer_id: customer.peer_id,
            reason: "failed".into()
        }
    );

    // The room and its other peer live on; so does the other room.
    let list = rooms.list().await;
    let r1 = list
        .iter()
        .find(|r| r.session_id == s1)
        .expect("room 1 still live");
    assert_eq!(
        r1.peers.iter().map(|p| p.info.peer_id).collect::<Vec<_>>(),
        vec![agent.peer_id]
    );
    let r2 = list
        .iter()
        .find(|r| r.session_id == s2)
        .expect("room 2 still live");
    assert_eq!(
        r2.peers.iter().map(|p| p.info.peer_id).collect::<Vec<_>>(),
        vec![other.peer_id]
    );
    assert!(agent.actor.get_status() == ractor::ActorStatus::Running);
    assert_eq!(customer.actor.get_status(), ractor::ActorStatus::Stopped);
    assert!(
        sink.kinds().contains(&EventKind::PeerFailed),
        "{:?}",
        sink.kinds()
    );

    // Rejoin with the same participant id.
    let (again, _again_rx) = join(&rooms, s1, "customer", Role::Customer).await;
    assert_ne!(again.peer_id, customer.peer_id);
    let joined = expect(&mut agent_rx, "peer_joined", |m| {
        matches!(m, ServerMsg::PeerJoined { .. })
    })
    .await;
    assert!(matches!(joined, ServerMsg::PeerJoined { peer } if peer.peer_id == again.peer_id));
    let r1 = rooms
        .list()
        .await
        .into_iter()
        .find(|r| r.session_id == s1)
        .unwrap();
    assert_eq!(r1.peers.len(), 2);

    // Only the agent may end the call; ending it tells everyone and emits room.ended.
    assert!(rooms.end(s1, Some(again.peer_id), "test").await.is_err());
    assert!(rooms.end(s1, Some(agent.peer_id), "test").await.unwrap());
    expect(&mut agent_rx, "room_ended", |m| {
        matches!(m, ServerMsg::RoomEnded { .. })
    })
    .await;
    assert!(sink.kinds().contains(&EventKind::RoomEnded));
    rooms.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_room_refuses_and_a_new_connection_replaces_the_old() {
    let sink = Arc::new(MemorySink::default());
    let sfu = Arc::new(Sfu::new(RtcConfig::default()).unwrap());
    let rooms = Rooms::start(
        sfu,
        sink.clone(),
        RoomSettings {
            max_peers: 2,
            empty_timeout: Duration::from_secs(60),
            recording: None,
        },
    )
    .await
    .unwrap();
    let s = SessionId::new();
    let (_a, _arx) = join(&rooms, s, "agent", Role::Agent).await;
    let (c1, mut c1_rx) = join(&rooms, s, "customer", Role::Customer).await;
    let (tx, _rx) = mpsc::unbounded_channel();
    let full = rooms
        .join(
            s,
            JoinSpec {
                session_id: s,
                participant_id: "observer-1".into(),
                role: Role::Observer,
                signal: tx,
                record: false,
            },
        )
        .await;
    assert_eq!(full.unwrap_err(), vkyc_call::JoinError::RoomFull);
    // Same participant again (a reconnect): replaces, does not count twice.
    let (c2, _c2_rx) = join(&rooms, s, "customer", Role::Customer).await;
    assert_ne!(c1.peer_id, c2.peer_id);
    expect(
        &mut c1_rx,
        "replaced",
        |m| matches!(m, ServerMsg::Error { code, .. } if code == "replaced"),
    )
    .await;
    let list = rooms.list().await;
    let ids: Vec<_> = list[0].peers.iter().map(|p| p.info.peer_id).collect();
    assert!(
        ids.contains(&c2.peer_id) && !ids.contains(&c1.peer_id),
        "{ids:?}"
    );
    rooms.shutdown();
}
