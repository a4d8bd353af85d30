//! What the supervisor's view shows: the waiting customers (how long, where, SLA breached),
//! the agents by state, and the offers ringing. Built from the queue by a pure function
//! ([`DeskSnapshot::of`]), so the view is tested without an actor.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use vkyc_domain::desk::presence::AgentState;
use vkyc_domain::desk::queue::{Offer, Queue};
use vkyc_domain::desk::user::Skills;
use vkyc_domain::{SessionId, UserId};

/// The desk at one moment.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeskSnapshot {
    pub at: DateTime<Utc>,
    /// Oldest first.
    pub waiting: Vec<WaitingCustomer>,
    /// By state (available, busy, wrap_up, break, offline), then longest idle first.
    pub agents: Vec<AgentView>,
    /// How many agents are in each state.
    pub agents_by_state: BTreeMap<AgentState, usize>,
    pub offers: Vec<Offer>,
}

/// A waiting customer as the supervisor sees them (ids only: the session has the person).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WaitingCustomer {
    pub session_id: SessionId,
    pub requirements: Skills,
    pub entered_at: DateTime<Utc>,
    pub wait_secs: i64,
    /// Waiting longer than the SLA (`sla_wait_secs`).
    pub sla_breached: bool,
    pub connected: bool,
    pub position: u32,
    pub estimated_wait_secs: Option<i64>,
    pub offers: u32,
    pub missed: u32,
    /// The agent being rung for them, if any.
    pub offered_to: Option<UserId>,
}

/// An agent on the desk.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AgentView {
    pub user_id: UserId,
    pub state: AgentState,
    pub since: DateTime<Utc>,
    pub idle_since: Option<DateTime<Utc>>,
    pub skills: Skills,
    pub connected: bool,
    /// The customer of their call, while busy.
    pub in_call_with: Option<SessionId>,
}

impl DeskSnapshot {
    pub fn of(q: &Queue, now: DateTime<Utc>, sla_wait_secs: u32) -> Self {
        let waiting = q
            .entries()
            .iter()
            .map(|e| {
                let wait_secs = e.wait_secs(now);
                WaitingCustomer {
                    session_id: e.session_id,
                    requirements: e.requirements.clone(),
                    entered_at: e.entered_at,
                    wait_secs,
                    sla_breached: wait_secs > i64::from(sla_wait_secs),
                    connected: e.connected,
                    position: q.position(e.session_id).unwrap_or(0),
                    estimated_wait_secs: q.estimated_wait(e.session_id),
                    offers: e.offers,
                    missed: e.missed,
                    offered_to: q.offer_of(e.session_id).map(|o| o.agent),
                }
            })
            .collect();
        let mut agents: Vec<AgentView> = q
            .agents()
            .map(|a| AgentView {
                user_id: a.user_id,
                state: a.state(),
                since: a.presence.since,
                idle_since: a.presence.idle_since,
                skills: a.skills.clone(),
                connected: a.connected,
                in_call_with: a.call.as_ref().map(|c| c.session_id),
            })
            .collect();
        agents.sort_by_key(|a| (a.state, a.idle_since, a.user_id));
        let mut agents_by_state: BTreeMap<AgentState, usize> =
            AgentState::ALL.iter().map(|s| (*s, 0)).collect();
        for a in &agents {
            *agents_by_state.entry(a.state).or_default() += 1;
        }
        Self {
            at: now,
            waiting,
            agents,
            agents_by_state,
            offers: q.offers().to_vec(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vkyc_domain::desk::queue::Timing;

    #[test]
    fn the_view_flags_customers_past_the_sla_and_counts_agents_by_state() {
        let t = |s: i64| DateTime::from_timestamp(1_800_000_000 + s, 0).unwrap();
        let mut q = Queue::new(Timing::default());
        let (a, b) = (UserId::from_u128(1), UserId::from_u128(2));
        q.agent_online(a, Skills::default(), t(0));
        q.agent_online(b, Skills::default(), t(0));
        let _ = q.set_state(a, AgentState::Available, t(0)).unwrap();
        let (s1, s2) = (SessionId::new(), SessionId::new());
        let _ = q.enter(s1, Skills::default(), t(0)).unwrap();
        let _ = q.enter(s2, Skills::default(), t(100)).unwrap();
        let _ = q.route(t(100));
        let v = DeskSnapshot::of(&q, t(130), 120);
        assert_eq!(v.waiting.len(), 2);
        assert!(v.waiting[0].sla_breached && !v.waiting[1].sla_breached);
        assert_eq!(v.waiting[0].wait_secs, 130);
        assert_eq!(v.waiting[0].offered_to, Some(a));
        assert_eq!((v.waiting[0].position, v.waiting[1].position), (1, 2));
        assert_eq!(v.agents[0].user_id, a, "available first");
        assert_eq!(v.agents_by_state[&AgentState::Available], 1);
        assert_eq!(v.agents_by_state[&AgentState::Offline], 1);
        assert_eq!(v.agents_by_state[&AgentState::Busy], 0);
        assert_eq!(v.offers.len(), 1);
    }
}
