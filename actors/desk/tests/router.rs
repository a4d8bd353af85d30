//! The queue router without a server: agents and customers come and go through the [`Desk`]
//! handle, time is tokio's paused clock, and [`MemoryDesk`] records what was saved and whom
//! was told what.

use std::sync::Arc;
use std::time::Duration;

use vkyc_desk::{Desk, DeskConfig, MemoryDesk, Notified};
use vkyc_domain::desk::presence::{AgentState, ChangeReason};
use vkyc_domain::desk::queue::Offer;
use vkyc_domain::desk::user::{Skill, Skills};
use vkyc_domain::events::{EventData, EventKind};
use vkyc_domain::{SessionId, UserId};

fn langs(l: &[&str]) -> Skills {
    Skills {
        languages: l.iter().map(|s| Skill::parse(s).unwrap()).collect(),
        ..Skills::default()
    }
}

async fn start(mem: &Arc<MemoryDesk>) -> Desk {
    Desk::start(DeskConfig::default(), mem.clone(), mem.clone())
        .await
        .unwrap()
}

/// An agent with `skills`, connected and available (in this order: the first is idle longest).
async fn agent(desk: &Desk, n: u128, skills: Skills) -> UserId {
    let id = UserId::from_u128(n);
    desk.agent_connected(id, skills);
    desk.set_state(id, AgentState::Available).await.unwrap();
    tokio::time::sleep(Duration::from_millis(10)).await;
    id
}

async fn customer(desk: &Desk, needs: Skills) -> SessionId {
    let s = SessionId::new();
    desk.enter(s, needs).await.unwrap();
    s
}

fn rung(offers: &[Offer]) -> Vec<(SessionId, UserId)> {
    offers.iter().map(|o| (o.session_id, o.agent)).collect()
}

fn count(mem: &MemoryDesk, kind: EventKind) -> usize {
    mem.kinds().into_iter().filter(|k| *k == kind).count()
}

#[tokio::test(start_paused = true)]
async fn customers_are_routed_by_skill_to_hindi_and_english_agents() {
    let mem = Arc::new(MemoryDesk::default());
    let desk = start(&mem).await;
    let hindi = agent(&desk, 1, langs(&["hi"])).await;
    let english = agent(&desk, 2, langs(&["en"])).await;
    mem.take_notified();

    let c1 = customer(&desk, langs(&["hi"])).await;
    let c2 = customer(&desk, langs(&["en"])).await;
    let c3 = customer(&desk, langs(&["hi"])).await;
    let notified = mem.take_notified();
    let rings: Vec<Offer> = notified
        .iter()
        .filter_map(|n| match n {
            Notified::Ring(o) => Some(o.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(rung(&rings), [(c1, hindi), (c2, english)]);
    assert!(
        notified.contains(&Notified::Position {
            session: c3,
            position: 2,
            estimated_wait_secs: None
        }),
        "c3 waits behind c1 for the Hindi agent; no call has ended, so no estimate: {notified:?}"
    );
    assert_eq!(count(&mem, EventKind::QueueEntered), 3);
    assert_eq!(count(&mem, EventKind::QueueOffered), 2);

    let view = desk.snapshot().await.unwrap();
    assert_eq!(view.waiting.len(), 3);
    assert_eq!(view.waiting[2].offered_to, None);
    assert_eq!(view.offers.len(), 2);
    assert_eq!(view.agents_by_state[&AgentState::Available], 2);
}

#[tokio::test(start_paused = true)]
async fn a_declined_customer_is_offered_to_the_other_agent() {
    let mem = Arc::new(MemoryDesk::default());
    let desk = start(&mem).await;
    let a = agent(&desk, 1, langs(&["hi", "en"])).await;
    let b = agent(&desk, 2, langs(&["hi", "en"])).await;
    mem.take_notified();
    let c = customer(&desk, langs(&["en"])).await;
    let first = mem.take_rings();
    assert_eq!(rung(&first), [(c, a)], "a is idle the longest");

    assert_eq!(
        desk.decline(first[0].id, b).await.unwrap_err().code(),
        "not_your_offer"
    );
    desk.decline(first[0].id, a).await.unwrap();
    let second = mem.take_rings();
    assert_eq!(rung(&second), [(c, b)]);
    assert_eq!(second[0].attempt, 2);
    assert_eq!(count(&mem, EventKind::QueueDeclined), 1);
}

#[tokio::test(start_paused = true)]
async fn an_unanswered_offer_is_missed_and_offered_to_the_next_agent() {
    let mem = Arc::new(MemoryDesk::default());
    let desk = start(&mem).await;
    let a = agent(&desk, 1, langs(&["en"])).await;
    let b = agent(&desk, 2, langs(&["en"])).await;
    let c = customer(&desk, Skills::default()).await;
    let first = mem.take_rings();
    assert_eq!(rung(&first), [(c, a)]);

    tokio::time::sleep(Duration::from_secs(19)).await;
    assert!(mem.take_rings().is_empty(), "still ringing");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let notified = mem.take_notified();
    assert!(notified.contains(&Notified::Withdraw(first[0].clone())));
    let again: Vec<_> = notified
        .iter()
        .filter_map(|n| match n {
            Notified::Ring(o) => Some((o.session_id, o.agent)),
            _ => None,
        })
        .collect();
    assert_eq!(again, [(c, b)]);
    let events = mem.events.lock().unwrap().clone();
    let missed: Vec<_> = events
        .iter()
        .filter_map(|e| match &e.data {
            EventData::QueueMissed(m) => Some((e.session_id, m.agent_id, m.missed)),
            _ => None,
        })
        .collect();
    assert_eq!(missed, [(Some(c), a, 1)]);
    let view = desk.snapshot().await.unwrap();
    assert_eq!((view.waiting[0].missed, view.waiting[0].offers), (1, 2));
}

#[tokio::test(start_paused = true)]
async fn accept_busy_call_end_wrap_up_available_then_the_next_customer() {
    let mem = Arc::new(MemoryDesk::default());
    let desk = start(&mem).await;
    let a = agent(&desk, 1, langs(&["en"])).await;
    let c1 = customer(&desk, Skills::default()).await;
    let c2 = customer(&desk, Skills::default()).await;
    let offer = mem.take_rings().remove(0);
    assert_eq!(offer.session_id, c1);

    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(desk.accept(offer.id, a).await.unwrap(), c1);
    let notified = mem.take_notified();
    assert!(notified.contains(&Notified::Connected {
        session: c1,
        agent: a,
        offer: offer.id
    }));
    assert!(notified.contains(&Notified::AgentState(a, AgentState::Busy)));
    assert_eq!(
        desk.set_state(a, AgentState::Break)
            .await
            .unwrap_err()
            .code(),
        "agent_in_call"
    );

    tokio::time::sleep(Duration::from_secs(60)).await;
    desk.call_ended(a).await.unwrap();
    assert!(mem
        .take_notified()
        .contains(&Notified::AgentState(a, AgentState::WrapUp)));
    assert_eq!(
        desk.snapshot().await.unwrap().agents[0].state,
        AgentState::WrapUp
    );
    tokio::time::sleep(Duration::from_secs(29)).await;
    assert!(mem.take_rings().is_empty(), "still wrapping up");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let notified = mem.take_notified();
    assert!(notified.contains(&Notified::AgentState(a, AgentState::Available)));
    let rings: Vec<_> = notified
        .iter()
        .filter_map(|n| match n {
            Notified::Ring(o) => Some((o.session_id, o.agent)),
            _ => None,
        })
        .collect();
    assert_eq!(rings, [(c2, a)]);
    let accepted = mem
        .events
        .lock()
        .unwrap()
        .iter()
        .find_map(|e| match &e.data {
            EventData::QueueAccepted(x) => Some(x.wait_secs),
            _ => None,
        });
    assert_eq!(accepted, Some(5));
}

#[tokio::test(start_paused = true)]
async fn an_agent_gone_past_the_grace_period_goes_offline_and_their_offer_moves_on() {
    let mem = Arc::new(MemoryDesk::default());
    let desk = start(&mem).await;
    let a = agent(&desk, 1, langs(&["en"])).await;
    let b = agent(&desk, 2, langs(&["en"])).await;
    let c = customer(&desk, Skills::default()).await;
    let offer = mem.take_rings().remove(0);
    assert_eq!(offer.agent, a);

    desk.agent_disconnected(a);
    let view = desk.snapshot().await.unwrap();
    assert_eq!(view.offers[0].agent, b, "re-offered to the connected agent");
    let notified = mem.take_notified();
    assert!(notified.contains(&Notified::Withdraw(offer)));
    assert!(!notified.contains(&Notified::AgentState(a, AgentState::Offline)));

    tokio::time::sleep(Duration::from_secs(16)).await;
    assert!(mem
        .take_notified()
        .contains(&Notified::AgentState(a, AgentState::Offline)));
    let lost = mem.events.lock().unwrap().iter().any(|e| {
        matches!(&e.data, EventData::AgentStateChanged(x)
            if x.user_id == a && x.to == AgentState::Offline && x.reason == ChangeReason::ConnectionLost)
    });
    assert!(lost);
    let view = desk.snapshot().await.unwrap();
    assert_eq!(view.waiting[0].session_id, c);
    assert_eq!(view.agents_by_state[&AgentState::Offline], 1);
}

#[tokio::test(start_paused = true)]
async fn a_restarted_router_keeps_the_waiting_customers_and_offers_them_on_reconnect() {
    let mem = Arc::new(MemoryDesk::default());
    let desk = start(&mem).await;
    let a = agent(&desk, 1, langs(&["en"])).await;
    let c1 = customer(&desk, Skills::default()).await;
    let c2 = customer(&desk, Skills::default()).await;
    assert_eq!(mem.take_rings().len(), 1);
    desk.stop();
    tokio::time::sleep(Duration::from_millis(50)).await;

    let desk = start(&mem).await;
    let view = desk.snapshot().await.unwrap();
    let waiting: Vec<_> = view
        .waiting
        .iter()
        .map(|w| (w.session_id, w.connected))
        .collect();
    assert_eq!(waiting, [(c1, false), (c2, false)], "kept, in order");
    assert!(
        view.offers.is_empty(),
        "the old offer went with the old sockets"
    );

    desk.agent_connected(a, langs(&["en"]));
    desk.customer_reconnected(c2).await.unwrap();
    assert_eq!(
        rung(&mem.take_rings()),
        [(c2, a)],
        "the agent kept their state through the restart"
    );
    desk.customer_reconnected(c1).await.unwrap();
    let view = desk.snapshot().await.unwrap();
    assert_eq!(view.waiting[0].position, 1, "c1 kept their place");
}

#[tokio::test(start_paused = true)]
async fn a_customer_waiting_past_the_queue_timeout_is_told_and_leaves() {
    let mem = Arc::new(MemoryDesk::default());
    let desk = start(&mem).await;
    let c = customer(&desk, langs(&["ta"])).await;
    tokio::time::sleep(Duration::from_secs(901)).await;
    assert!(mem.take_notified().contains(&Notified::TimedOut(c)));
    assert_eq!(count(&mem, EventKind::QueueTimedOut), 1);
    assert!(desk.snapshot().await.unwrap().waiting.is_empty());
    assert_eq!(desk.leave(c).await.unwrap_err().code(), "not_waiting");
}

#[tokio::test(start_paused = true)]
async fn a_change_the_store_refuses_is_not_applied() {
    let mem = Arc::new(MemoryDesk::default());
    let desk = start(&mem).await;
    *mem.fail_saves.lock().unwrap() = Some("disk full".into());
    let e = desk
        .enter(SessionId::new(), Skills::default())
        .await
        .unwrap_err();
    assert_eq!(e.code(), "desk_store_unavailable");
    assert!(desk.snapshot().await.unwrap().waiting.is_empty());
    *mem.fail_saves.lock().unwrap() = None;
    let c = customer(&desk, Skills::default()).await;
    assert_eq!(desk.snapshot().await.unwrap().waiting[0].session_id, c);
}
