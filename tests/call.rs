//! A real call through the SFU: two webrtc-rs peers join over the real signalling, publish
//! RTP, and each receives exactly what the other sent — through the server.

mod common;

use std::time::{Duration, Instant};

use bytes::{BufMut, Bytes, BytesMut};
use serde_json::json;
use vkyc_loadtest::{SimPeer, SimPeerOptions};

fn marked(tag: u8, kind: &str, i: u32, len: usize) -> Bytes {
    let mut b = BytesMut::with_capacity(len);
    b.put_u8(0x10); // VP8 payload descriptor: start of partition
    b.put_slice(b"VKYC");
    b.put_u8(tag);
    b.put_u8(if kind == "video" { b'v' } else { b'a' });
    b.put_u32(i);
    while b.len() < len {
        b.put_u8((b.len() % 251) as u8);
    }
    b.freeze()
}

fn is_marked(p: &Bytes) -> bool {
    p.len() > 5 && &p[1..5] == b"VKYC"
}

/// Send filler until `rx` receives both kinds from `tx`, or time out.
async fn warm_up(a: &SimPeer, b: &SimPeer) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        for p in [a, b] {
            p.send_rtp("video", Bytes::from_static(&[0x10, 0, 0, 0]))
                .await
                .unwrap();
            p.send_rtp("audio", Bytes::from_static(&[0xf8, 0xff, 0xfe]))
                .await
                .unwrap();
        }
        let ready = |rx: &SimPeer, tx: &SimPeer| {
            let r = rx.received.lock().unwrap();
            r.count(&tx.peer_id, "video") > 0 && r.count(&tx.peer_id, "audio") > 0
        };
        if ready(a, b) && ready(b, a) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "media did not start flowing through the SFU within 30 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_peers_exchange_rtp_through_the_sfu() {
    let app = common::spawn_app().await;
    let sid = app.api.create_session("Call Test").await.unwrap();
    let agent_t = app.api.token(&sid, "agent").await.unwrap();
    let cust_t = app.api.token(&sid, "customer").await.unwrap();

    let started = Instant::now();
    let agent = SimPeer::join(&app.ws_url(), &agent_t.token, SimPeerOptions::default())
        .await
        .unwrap();
    let customer = SimPeer::join(&app.ws_url(), &cust_t.token, SimPeerOptions::default())
        .await
        .unwrap();
    warm_up(&agent, &customer).await;
    println!(
        "join → first forwarded packet both ways: {:?}",
        started.elapsed()
    );

    // The measured batch: numbered payloads, 100 video + 100 audio per side.
    const N: u32 = 100;
    let mut sent = vec![];
    for i in 0..N {
        for (tag, p) in [(b'A', &agent), (b'C', &customer)] {
            let v = marked(tag, "video", i, 1000);
            let a = marked(tag, "audio", i, 160);
            p.send_rtp("video", v.clone()).await.unwrap();
            p.send_rtp("audio", a.clone()).await.unwrap();
            sent.push((tag, v, a));
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    let expect = |tag: u8, kind: &str| -> Vec<Bytes> {
        sent.iter()
            .filter(|s| s.0 == tag)
            .map(|s| {
                if kind == "video" {
                    s.1.clone()
                } else {
                    s.2.clone()
                }
            })
            .collect()
    };
    let got = |rx: &SimPeer, from: &SimPeer, kind: &'static str| -> Vec<Bytes> {
        let r = rx.received.lock().unwrap();
        r.packets
            .get(&(from.peer_id.clone(), kind))
            .map(|v| v.iter().filter(|p| is_marked(p)).cloned().collect())
            .unwrap_or_default()
    };
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let complete = got(&customer, &agent, "video").len() >= N as usize
            && got(&customer, &agent, "audio").len() >= N as usize
            && got(&agent, &customer, "video").len() >= N as usize
            && got(&agent, &customer, "audio").len() >= N as usize;
        if complete || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for (rx, from, tag) in [(&customer, &agent, b'A'), (&agent, &customer, b'C')] {
        for kind in ["video", "audio"] {
            let g = got(rx, from, kind);
            println!(
                "{} received {} {kind} packets from {}",
                rx.peer_id,
                g.len(),
                from.peer_id
            );
            assert_eq!(g.len(), N as usize, "{kind} packet count");
            assert_eq!(
                g,
                expect(tag, kind),
                "{kind} payloads differ from what was sent"
            );
        }
    }

    // Keyframes: a new subscriber made the server ask each publisher for one; a decoder's
    // PLI to the server is relayed to the publisher.
    let kf = |p: &SimPeer| {
        p.keyframe_requests
            .load(std::sync::atomic::Ordering::Relaxed)
    };
    assert!(
        kf(&agent) >= 1 && kf(&customer) >= 1,
        "no keyframe request on join: {} {}",
        kf(&agent),
        kf(&customer)
    );
    let before = kf(&agent);
    customer.request_keyframe(&agent.peer_id).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while kf(&agent) == before && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        kf(&agent) > before,
        "the customer's PLI was not relayed to the agent"
    );

    // The server saw and forwarded them (not peer-to-peer).
    let rooms = app.api.get("/v1/rooms").await.unwrap();
    let room = rooms["rooms"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["session_id"] == sid.as_str())
        .unwrap()
        .clone();
    assert_eq!(room["peers"].as_array().unwrap().len(), 2);
    for p in room["peers"].as_array().unwrap() {
        for t in p["tracks"].as_array().unwrap() {
            assert!(t["packets_forwarded"].as_u64().unwrap() >= N as u64, "{t}");
        }
    }

    agent.send(json!({"type": "end"}));
    let ended = customer
        .wait_event("room_ended", Duration::from_secs(10))
        .await;
    assert!(ended.is_some(), "customer was not told the call ended");
    let session = app.api.get(&format!("/v1/sessions/{sid}")).await.unwrap();
    assert_eq!(session["status"], "completed");
    // The call's end is also announced as ready for review.
    let events = app.api.get("/v1/events?limit=1000").await.unwrap();
    let done: Vec<&serde_json::Value> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "video.completed" && e["session_id"] == sid.as_str())
        .collect();
    assert_eq!(done.len(), 1, "one video.completed");
    assert!(done[0]["data"]["duration_secs"].as_i64().unwrap() >= 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn observer_receives_but_cannot_publish_or_moderate() {
    let app = common::spawn_app().await;
    let sid = app.api.create_session("Observer Test").await.unwrap();
    let agent = SimPeer::join(
        &app.ws_url(),
        &app.api.token(&sid, "agent").await.unwrap().token,
        SimPeerOptions::default(),
    )
    .await
    .unwrap();
    let customer = SimPeer::join(
        &app.ws_url(),
        &app.api.token(&sid, "customer").await.unwrap().token,
        SimPeerOptions::default(),
    )
    .await
    .unwrap();
    // The observer tries to publish too (adds tracks): the server offers it nothing to send on.
    let observer = SimPeer::join(
        &app.ws_url(),
        &app.api.token(&sid, "observer").await.unwrap().token,
        SimPeerOptions::default(),
    )
    .await
    .unwrap();
    // The agent is told of the observer; the customer never is (a silent observer). The
    // customer's ping is answered after anything sent to it before.
    loop {
        let joined = agent
            .wait_event("peer_joined", Duration::from_secs(5))
            .await
            .expect("the agent hears the observer join");
        if joined["peer"]["role"] == "observer" {
            break;
        }
    }
    customer.send(json!({"type": "ping"}));
    let mut seen = Vec::new();
    while let Some(e) = customer.next_event(Duration::from_secs(5)).await {
        if e["type"] == "pong" {
            break;
        }
        seen.push(e);
    }
    assert!(
        !seen.iter().any(|e| e["peer"]["role"] == "observer"),
        "the customer heard of the observer: {seen:?}"
    );
    warm_up(&agent, &customer).await;
    let (a, c, o) = (&agent, &customer, &observer);
    common::poll_until("observer receives both parties", 20, move || async move {
        for p in [a, c, o] {
            p.send_rtp("video", Bytes::from_static(&[0x10, 1, 2, 3]))
                .await
                .unwrap();
        }
        let r = o.received.lock().unwrap();
        (r.count(&a.peer_id, "video") > 0 && r.count(&c.peer_id, "video") > 0).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    for p in [&agent, &customer] {
        assert_eq!(
            p.received.lock().unwrap().count(&observer.peer_id, "video"),
            0,
            "observer media was forwarded"
        );
    }

    for msg in [
        json!({"type": "end"}),
        json!({"type": "mute", "peer_id": customer.peer_id, "kind": "audio", "muted": true}),
    ] {
        observer.send(msg.clone());
        let e = observer
            .wait_event("error", Duration::from_secs(5))
            .await
            .expect("an error reply");
        assert_eq!(e["code"], "forbidden", "{msg}: {e}");
    }
    customer.send(json!({"type": "end"}));
    assert_eq!(
        customer
            .wait_event("error", Duration::from_secs(5))
            .await
            .unwrap()["code"],
        "forbidden"
    );

    // The agent mutes the customer's audio: everyone is told.
    agent
        .send(json!({"type": "mute", "peer_id": customer.peer_id, "kind": "audio", "muted": true}));
    let m = customer
        .wait_event("muted", Duration::from_secs(5))
        .await
        .expect("muted notice");
    assert_eq!(m["peer_id"], customer.peer_id.as_str());
    assert_eq!(m["by"], agent.peer_id.as_str());
}
