//! The agent desk, black-box over its real sockets: customers who open their link wait in the
//! queue and are offered by skill to the longest-idle available agent; a declined or
//! unanswered offer goes on; an accepted one assigns the session and connects both; the call
//! (real WebRTC through the SFU) ends, the agent wraps up and gets the next customer; the
//! supervisor sees it all.

mod common;

use std::time::Duration;

use common::*;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use vkyc_loadtest::{SimPeer, SimPeerOptions};

const EN: &str = "en.agent@vkyc.test";
const HI: &str = "hi.agent@vkyc.test";
const SUP: &str = "sup@vkyc.test";

/// A socket whose messages are taken by kind: a message of another kind waits in `pending`
/// for its turn, so the checks do not depend on the order of notices sent together.
struct Socket {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    pending: Vec<Value>,
}

impl Socket {
    async fn open(app: &TestApp, path: &str, cookie: Option<&str>) -> Socket {
        let mut req = format!("{}{path}", app.ws_url().split("/v1/").next().unwrap())
            .into_client_request()
            .unwrap();
        if let Some(c) = cookie {
            req.headers_mut().insert("cookie", c.parse().unwrap());
        }
        let ws = tokio_tungstenite::connect_async(req)
            .await
            .expect("socket opens")
            .0;
        Socket {
            ws,
            pending: Vec::new(),
        }
    }

    async fn send(&mut self, v: Value) {
        self.ws.send(Message::Text(v.to_string())).await.unwrap();
    }

    /// The first message of `kind` (waiting or arriving) within `within`, keeping the others.
    async fn take(&mut self, kind: &str, within: Duration) -> Option<Value> {
        if let Some(i) = self.pending.iter().position(|v| v["type"] == kind) {
            return Some(self.pending.remove(i));
        }
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match tokio::time::timeout(left, self.ws.next()).await {
                Ok(Some(Ok(Message::Text(t)))) => {
                    let v: Value = serde_json::from_str(&t).unwrap();
                    if v["type"] == kind {
                        return Some(v);
                    }
                    self.pending.push(v);
                }
                Ok(Some(Ok(_))) => {}
                _ => return None,
            }
        }
    }

    /// The next message of `kind`; panics after 10 s.
    async fn next(&mut self, kind: &str) -> Value {
        match self.take(kind, Duration::from_secs(10)).await {
            Some(v) => v,
            None => panic!("waiting for {kind}; received meanwhile: {:?}", self.pending),
        }
    }

    /// Whether a message of `kind` arrives within `ms` (for "nothing happens" checks).
    async fn gets_within(&mut self, kind: &str, ms: u64) -> bool {
        self.take(kind, Duration::from_millis(ms)).await.is_some()
    }
}

async fn session(app: &TestApp, languages: &[&str]) -> (String, String) {
    let (status, s) = call(app, reqwest::Method::POST, "/v1/sessions", API_KEY, Some(json!({"mode": "live_agent", "applicant": {"name": "Test Person"}, "requirements": {"languages": languages}}))).await;
    assert_eq!(status, 201, "{s}");
    let id = s["id"].as_str().unwrap().to_string();
    let (_, t) = call(
        app,
        reqwest::Method::POST,
        &format!("/v1/sessions/{id}/tokens"),
        API_KEY,
        Some(json!({"role": "customer"})),
    )
    .await;
    (id, t["token"].as_str().unwrap().to_string())
}

async fn customer(app: &TestApp, token: &str) -> Socket {
    let mut s = Socket::open(app, "/v1/queue/ws", None).await;
    s.send(json!({"type": "enter", "token": token})).await;
    s
}

async fn agent(app: &TestApp, c: &Console) -> Socket {
    let mut s = Socket::open(app, "/v1/desk/ws", Some(&c.cookie)).await;
    assert_eq!(
        s.next("state").await["state"],
        "offline",
        "a console starts offline"
    );
    s.send(json!({"type": "state", "state": "available"})).await;
    assert_eq!(s.next("state").await["state"], "available");
    s
}

/// A live-agent session for an English speaker whose slot begins `in` from now (an hour long).
async fn scheduled_session(app: &TestApp, name: &str, starts_in: chrono::Duration) -> Value {
    let starts = chrono::Utc::now() + starts_in;
    let body = json!({"mode": "live_agent", "applicant": {"name": name},
        "requirements": {"languages": ["en"]},
        "schedule": {"starts_at": starts, "ends_at": starts + chrono::Duration::hours(1)}});
    let (status, s) = call(
        app,
        reqwest::Method::POST,
        "/v1/sessions",
        API_KEY,
        Some(body),
    )
    .await;
    assert_eq!(status, 201, "{s}");
    s
}

#[tokio::test]
async fn customers_are_routed_by_skill_declines_go_on_and_the_agent_gets_the_next_after_wrap_up() {
    let app = spawn_app_with(|f| {
        with_staff(
            f,
            &[
                (EN, &["agent"], &["en"]),
                (HI, &["agent"], &["hi"]),
                (SUP, &["supervisor"], &[]),
            ],
        )
        .merge(("desk.wrap_up_secs", 1))
        .merge(("desk.ring_timeout_secs", 2))
    })
    .await;
    let (en, hi, sup) = (
        Console::sign_in(&app, EN).await,
        Console::sign_in(&app, HI).await,
        Console::sign_in(&app, SUP).await,
    );
    let mut en_ws = agent(&app, &en).await;
    let mut hi_ws = agent(&app, &hi).await;

    // A Hindi speaker is offered to the Hindi agent only.
    let (s_hi, t_hi) = session(&app, &["hi"]).await;
    let mut c_hi = customer(&app, &t_hi).await;
    let offer = hi_ws.next("offer").await;
    assert_eq!(offer["session_id"], s_hi.as_str());
    assert_eq!(offer["applicant"], "Test Person");
    // The English speaker goes to the English agent.
    let (s_en, t_en) = session(&app, &["en"]).await;
    let mut c_en = customer(&app, &t_en).await;
    let offer_en = en_ws.next("offer").await;
    assert_eq!(offer_en["session_id"], s_en.as_str());

    // The English agent accepts at once (its offer rings for 2 s only): the session is theirs, both sides are told.
    en_ws
        .send(json!({"type": "accept", "offer_id": offer_en["offer_id"]}))
        .await;
    assert_eq!(en_ws.next("connected").await["session_id"], s_en.as_str());
    c_en.next("connected").await;
    assert_eq!(en_ws.next("state").await["state"], "busy");
    let (_, doc) = en.get(&format!("/v1/sessions/{s_en}")).await;
    assert_eq!(doc["agent"]["email"], EN);

    // The Hindi agent declines: the only able agent is offered again after the others (none).
    hi_ws
        .send(json!({"type": "decline", "offer_id": offer["offer_id"]}))
        .await;
    let again = hi_ws.next("offer").await;
    assert_eq!(again["session_id"], s_hi.as_str());
    assert_eq!(again["attempt"], 2);
    // ...and lets it ring out: missed, offered again (attempt 3).
    assert_eq!(hi_ws.next("withdrawn").await["offer_id"], again["offer_id"]);
    // Nobody answered at that seat: on a break (not ready) until the agent is back.
    assert_eq!(hi_ws.next("state").await["state"], "break");
    assert!(
        !hi_ws.gets_within("offer", 300).await,
        "an agent on a break is not rung"
    );
    hi_ws
        .send(json!({"type": "state", "state": "available"}))
        .await;
    let third = hi_ws.next("offer").await;
    assert_eq!(third["attempt"], 3);
    hi_ws
        .send(json!({"type": "accept", "offer_id": third["offer_id"]}))
        .await;
    assert_eq!(hi_ws.next("connected").await["session_id"], s_hi.as_str());
    c_hi.next("connected").await;

    // A third customer (English) waits: both agents are busy.
    let (s3, t3) = session(&app, &["en"]).await;
    let mut c3 = customer(&app, &t3).await;
    let queued = c3.next("queued").await;
    assert_eq!(queued["position"], 1);
    assert!(
        !en_ws.gets_within("offer", 300).await,
        "a busy agent is not offered"
    );
    let (status, snap) = sup.get("/v1/desk/snapshot").await;
    assert_eq!(status, 200, "{snap}");
    assert_eq!(snap["waiting"].as_array().unwrap().len(), 1);
    assert_eq!(snap["waiting"][0]["session_id"], s3.as_str());
    assert_eq!(snap["agents_by_state"]["busy"], 2);
    assert!(snap["agents"]
        .as_array()
        .unwrap()
        .iter()
        .any(|a| a["name"] == "Staff en.agent"));
    assert_eq!(
        en.get("/v1/desk/snapshot").await.0,
        403,
        "agents do not see the supervisor's view"
    );

    // The English call happens (real WebRTC through the SFU) and the agent ends it.
    let (_, at) = en
        .post(
            &format!("/v1/sessions/{s_en}/tokens"),
            json!({"role": "agent"}),
        )
        .await;
    let agent_token = at["token"].as_str().unwrap().to_string();
    let (_, ct) = call(
        &app,
        reqwest::Method::POST,
        &format!("/v1/sessions/{s_en}/tokens"),
        API_KEY,
        Some(json!({"role": "customer"})),
    )
    .await;
    let a = SimPeer::join(&app.ws_url(), &agent_token, SimPeerOptions::default())
        .await
        .unwrap();
    let c = SimPeer::join(
        &app.ws_url(),
        ct["token"].as_str().unwrap(),
        SimPeerOptions::default(),
    )
    .await
    .unwrap();
    let (status, _) = call(
        &app,
        reqwest::Method::POST,
        &format!("/v1/rooms/{s_en}/end"),
        &agent_token,
        None,
    )
    .await;
    assert_eq!(status, 200);
    a.close().await;
    c.close().await;
    // Wrap-up, then available, then the waiting English customer rings.
    assert_eq!(en_ws.next("state").await["state"], "wrap_up");
    assert_eq!(en_ws.next("state").await["state"], "available");
    assert_eq!(en_ws.next("offer").await["session_id"], s3.as_str());

    // Events: the queue's story is in the log (ids only).
    let (_, events) = call(
        &app,
        reqwest::Method::GET,
        "/v1/events?limit=1000",
        API_KEY,
        None,
    )
    .await;
    let kinds: Vec<&str> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    for k in [
        "queue.entered",
        "queue.offered",
        "queue.declined",
        "queue.missed",
        "queue.accepted",
        "agent.state_changed",
    ] {
        assert!(kinds.contains(&k), "{k} in {kinds:?}");
    }
    let text = events.to_string();
    assert!(
        !text.contains("Test Person") && !text.contains("vkyc.test"),
        "no personal data in events"
    );

    // Prometheus: queue length, waits (buckets up to the queue timeout), offers by outcome,
    // agents by state.
    let metrics = app
        .http
        .get(format!("{}/metrics", app.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for line in [
        "vkyc_desk_queue_length ",
        "vkyc_desk_wait_to_offer_seconds_bucket{le=\"900\"}",
        "vkyc_desk_offers_total{outcome=\"declined\"} 1",
        "vkyc_desk_offers_total{outcome=\"missed\"} ",
        "vkyc_desk_agents{state=\"busy\"}",
    ] {
        assert!(
            metrics.contains(line),
            "{line} in /metrics:\n{}",
            metrics
                .lines()
                .filter(|l| l.contains("desk"))
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
}

#[tokio::test]
async fn a_customer_who_closes_the_page_leaves_and_one_who_drops_keeps_their_place() {
    let app = spawn_app_with(|f| with_staff(f, &[(SUP, &["supervisor"], &[])])).await;
    let sup = Console::sign_in(&app, SUP).await;
    let (s1, t1) = session(&app, &[]).await;
    let (s2, t2) = session(&app, &[]).await;
    let mut c1 = customer(&app, &t1).await;
    assert_eq!(c1.next("queued").await["position"], 1);
    let mut c2 = customer(&app, &t2).await;
    assert_eq!(c2.next("queued").await["position"], 2);
    // No agent: no estimate rather than a made-up one.
    let snap = sup.get("/v1/desk/snapshot").await.1;
    assert_eq!(snap["waiting"][0]["estimated_wait_secs"], Value::Null);

    c1.send(json!({"type": "leave"})).await;
    assert_eq!(
        c2.next("queued").await["position"],
        1,
        "the one behind moves up"
    );
    drop(c2); // a dropped connection (network, restart): the place is kept
    tokio::time::sleep(Duration::from_millis(300)).await;
    let snap = sup.get("/v1/desk/snapshot").await.1;
    let waiting = snap["waiting"].as_array().unwrap();
    assert_eq!(waiting.len(), 1);
    assert_eq!(
        (
            waiting[0]["session_id"].as_str(),
            waiting[0]["connected"].as_bool()
        ),
        (Some(s2.as_str()), Some(false))
    );
    let mut back = customer(&app, &t2).await;
    assert_eq!(
        back.next("queued").await["position"],
        1,
        "reconnected in their place"
    );
    let _ = s1;

    // Not a customer token: refused.
    let (_, at) = call(
        &app,
        reqwest::Method::POST,
        &format!("/v1/sessions/{s2}/tokens"),
        API_KEY,
        Some(json!({"role": "agent"})),
    )
    .await;
    let mut wrong = customer(&app, at["token"].as_str().unwrap()).await;
    assert_eq!(wrong.next("error").await["code"], "forbidden_role");
    // A scheduled session waits for its slot before it can queue.
    let later = scheduled_session(&app, "Test Person", chrono::Duration::hours(1)).await;
    let path = format!("/v1/sessions/{}/tokens", later["id"].as_str().unwrap());
    let (_, lt) = call(
        &app,
        reqwest::Method::POST,
        &path,
        API_KEY,
        Some(json!({"role": "customer"})),
    )
    .await;
    let mut early = customer(&app, lt["token"].as_str().unwrap()).await;
    assert_eq!(early.next("error").await["code"], "not_yet_open");
    let mut garbage = customer(&app, "not a token").await;
    assert_eq!(garbage.next("error").await["code"], "invalid_token");
}

#[tokio::test]
async fn the_console_socket_is_for_signed_in_agents_of_this_site() {
    let app = spawn_app_with(|f| {
        with_staff(f, &[(EN, &["agent"], &["en"]), (SUP, &["supervisor"], &[])])
    })
    .await;
    let en = Console::sign_in(&app, EN).await;
    let sup = Console::sign_in(&app, SUP).await;
    let base = app.base.replace("http://", "ws://");
    let refused = |cookie: Option<String>, origin: Option<&'static str>| {
        let base = base.clone();
        async move {
            let mut req = format!("{base}/v1/desk/ws").into_client_request().unwrap();
            if let Some(c) = cookie {
                req.headers_mut().insert("cookie", c.parse().unwrap());
            }
            if let Some(o) = origin {
                req.headers_mut().insert("origin", o.parse().unwrap());
            }
            match tokio_tungstenite::connect_async(req).await {
                Err(tokio_tungstenite::tungstenite::Error::Http(r)) => r.status().as_u16(),
                Err(e) => panic!("{e}"),
                Ok(_) => 101,
            }
        }
    };
    assert_eq!(refused(None, None).await, 401);
    assert_eq!(
        refused(Some(sup.cookie.clone()), None).await,
        403,
        "a supervisor has no agent desk"
    );
    assert_eq!(
        refused(Some(en.cookie.clone()), Some("https://evil.example")).await,
        403,
        "another site's page"
    );
    assert_eq!(refused(Some(en.cookie.clone()), None).await, 101);
}

#[tokio::test]
async fn an_agent_who_takes_a_waiting_customer_by_hand_takes_them_out_of_the_queue() {
    let app = spawn_app_with(|f| {
        with_staff(f, &[(EN, &["agent"], &["en"]), (SUP, &["supervisor"], &[])])
    })
    .await;
    let (en, sup) = (
        Console::sign_in(&app, EN).await,
        Console::sign_in(&app, SUP).await,
    );
    // The agent is on the desk but on a break: the customer waits.
    let mut en_ws = agent(&app, &en).await;
    en_ws.send(json!({"type": "state", "state": "break"})).await;
    assert_eq!(en_ws.next("state").await["state"], "break");
    let (sid, token) = session(&app, &["en"]).await;
    let mut c = customer(&app, &token).await;
    assert_eq!(c.next("queued").await["position"], 1);
    // Picked in the console's list: assigned, out of the queue, the customer joins.
    let (status, _) = en.token(&sid, "agent").await;
    assert_eq!(status, 201);
    c.next("connected").await;
    let snap = sup.get("/v1/desk/snapshot").await.1;
    assert_eq!(snap["waiting"].as_array().unwrap().len(), 0, "{snap}");
    let (_, events) = call(
        &app,
        reqwest::Method::GET,
        "/v1/events?limit=1000",
        API_KEY,
        None,
    )
    .await;
    let accepted = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["type"] == "queue.accepted")
        .expect("queue.accepted");
    assert_eq!(accepted["data"]["agent_id"], en.user_id());
    assert!(
        accepted["data"].get("offer_id").is_none(),
        "taken by hand: no offer"
    );
}

#[tokio::test]
async fn a_scheduled_session_is_offered_to_an_agent_at_its_slot() {
    let app = spawn_app_with(|f| {
        with_staff(f, &[(EN, &["agent"], &["en"])]).merge(("kyc.expiry_check_secs", 1))
    })
    .await;
    let en = Console::sign_in(&app, EN).await;
    let mut ws = agent(&app, &en).await;
    // A booked call, its slot 3 s from now; the customer has not opened their link.
    let starts = chrono::Utc::now() + chrono::Duration::seconds(3);
    let s = scheduled_session(&app, "Booked Person", chrono::Duration::seconds(3)).await;
    let id = s["id"].as_str().unwrap().to_string();
    assert_eq!(s["status"], "scheduled");

    // At the slot (the lifecycle timer runs every second) the agent's console rings.
    let offer = ws.next("offer").await;
    assert!(chrono::Utc::now() >= starts, "not before the slot: {offer}");
    assert_eq!(
        (
            offer["session_id"].as_str(),
            offer["customer_connected"].as_bool(),
            offer["applicant"].as_str()
        ),
        (Some(id.as_str()), Some(false), Some("Booked Person"))
    );
    assert!(offer["scheduled_at"].is_string(), "{offer}");
    ws.send(json!({"type": "accept", "offer_id": offer["offer_id"]}))
        .await;
    assert_eq!(ws.next("connected").await["session_id"], id.as_str());
    let (_, doc) = en.get(&format!("/v1/sessions/{id}")).await;
    assert_eq!(
        doc["agent"]["email"], EN,
        "assigned to the agent who took it"
    );

    // The customer opens their link: connected to their agent at once.
    let (_, t) = call(
        &app,
        reqwest::Method::POST,
        &format!("/v1/sessions/{id}/tokens"),
        API_KEY,
        Some(json!({"role": "customer"})),
    )
    .await;
    let mut c = customer(&app, t["token"].as_str().unwrap()).await;
    c.next("connected").await;
}
