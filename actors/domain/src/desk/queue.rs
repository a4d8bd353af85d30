//! The queue: customers waiting for an agent, the agents on the desk, and the rules that
//! offer one to the other.
//!
//! [`Queue`] is plain data (serde), so the desk's actor saves it with the events each change
//! implies and a restarted server carries on from it. Every method takes `now` and returns
//! an [`Outcome`]: the [`DomainEvent`]s to store with the new state, and the [`Notice`]s to
//! deliver (ring an agent, stop ringing, connect a call, tell a customer their wait timed
//! out). Nothing here reads a clock or touches a socket.
//!
//! ```text
//!  enter ──▶ waiting ──route──▶ offered ──accept──▶ (gone: the call starts, agent busy)
//!              ▲  │                │
//!              │  │                ├─decline / no answer in ring_timeout (missed)──▶ waiting
//!              │  │                └─customer or agent gone, reassigned (withdrawn)─▶ waiting
//!              │  ├─leave──────────▶ (gone: abandoned)
//!              │  └─queue_timeout──▶ (gone: timed_out)
//!   reconnect ─┴─ disconnect (kept, its place too; not offered until it reconnects)
//! ```
//!
//! **Scheduled sessions** enter at their slot ([`Queue::enter_scheduled`], when the
//! lifecycle timer opens their window), before the customer's page connects: they are
//! offered as soon as an able agent is free, even while the customer is not connected yet
//! (the agent's ring says so, and the customer is connected to the assigned agent as soon as
//! their page opens). A customer who opens the page adds nothing: they are the entry.
//!
//! ## Routing ([`Queue::route`])
//!
//! Customers are taken oldest first (FIFO by the time they entered). A customer who is
//! disconnected or already being offered is skipped, and so is one no free agent can serve:
//! an older customer who needs a Tamil speaker does not hold up a younger one an English
//! speaker can take. Each customer goes to the **free able agent idle the longest**: free
//! means `available`, connected and not ringing for another customer; able means their
//! skills serve the customer's requirements ([`Skills::serves`]); idle the longest means the
//! earliest [`Presence::idle_since`] (ties by user id, so routing is deterministic). An agent
//! rings for one customer at a time and a customer rings at one agent at a time.
//!
//! **Fairness after declines and misses.** An agent who declined or missed a customer is not
//! offered that customer again while another able agent (connected, not offline) has not
//! been tried. When every such agent has declined or missed them, the customer's list starts
//! over (a new round), rather than leaving them to wait out the queue timeout — but only
//! after the customers a free agent has not tried yet were offered, and only when one of
//! those agents is free: an agent who declined a customer gets the others first, and is
//! offered the declined one again when there is nobody else for them. The count of offers
//! and misses is kept.
//!
//! ## Timers ([`Queue::tick`], [`Queue::next_deadline`])
//!
//! An offer not answered within [`Timing::ring_timeout_secs`] is missed; a customer waiting
//! longer than [`Timing::queue_timeout_secs`] leaves with `timed_out`; an agent in wrap-up
//! for [`Timing::wrap_up_secs`] becomes available; an agent whose console has been
//! disconnected for [`Timing::offline_grace_secs`] goes offline. `tick(now)` applies every
//! deadline that has passed and routes; `next_deadline()` says when to call it next.
//!
//! ## Position and estimated wait
//!
//! [`Queue::position`] is 1 + the number of connected customers who entered earlier and who
//! compete for the same agents: for whom at least one agent who could serve this customer
//! (any agent not offline) could serve them too. Customers whose requirements no shared
//! agent serves do not count, since they never take this customer's agent. With no such
//! agent on the desk yet, every earlier connected customer counts (order of arrival).
//!
//! [`Queue::estimated_wait`] is `None` when there is nothing honest to say (no agent on the
//! desk able to serve the customer, or no call has ended since the state began, so no handle
//! time is known); `0` when an agent is being rung for them or their position is within the
//! free able agents; else
//! `(position − free able agents) × average handle time / able agents at work`, where the
//! handle time of a call is its length plus the wrap-up time (the last
//! [`HANDLE_TIMES_KEPT`] calls), and the able agents at work are those `available`, `busy`
//! or in `wrap_up` (not on a break, not offline).

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use super::presence::{AgentState, Change, InvalidTransition, Presence};
use super::user::Skills;
use crate::events::{data, DomainEvent};
use crate::ids::{OfferId, SessionId, UserId};

/// How many recent calls the estimated wait averages over.
pub const HANDLE_TIMES_KEPT: usize = 20;

/// The queue's time limits, in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Timing {
    /// How long an agent's console rings before the offer counts as missed.
    pub ring_timeout_secs: u32,
    /// How long an agent stays in wrap-up after a call before becoming available.
    pub wrap_up_secs: u32,
    /// How long an agent's console may be disconnected before they go offline.
    pub offline_grace_secs: u32,
    /// How long a customer may wait before they leave the queue with `timed_out`.
    pub queue_timeout_secs: u32,
}

impl Default for Timing {
    fn default() -> Self {
        Self {
            ring_timeout_secs: 20,
            wrap_up_secs: 30,
            offline_grace_secs: 15,
            queue_timeout_secs: 900,
        }
    }
}

fn secs(s: u32) -> TimeDelta {
    TimeDelta::seconds(i64::from(s))
}

/// A customer waiting for an agent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueueEntry {
    pub session_id: SessionId,
    /// What the agent must be able to serve.
    pub requirements: Skills,
    pub entered_at: DateTime<Utc>,
    /// Offers made so far (declined, missed and withdrawn ones included).
    pub offers: u32,
    /// Offers that rang out unanswered.
    pub missed: u32,
    /// Agents who declined this customer in the current round.
    pub declined_by: BTreeSet<UserId>,
    /// Agents who let this customer's offer ring out in the current round.
    pub missed_by: BTreeSet<UserId>,
    /// Whether the customer's page is connected; a disconnected customer keeps their place
    /// but is not offered until they reconnect (unless `scheduled`).
    pub connected: bool,
    /// Entered at the session's scheduled slot: offered to an agent whether or not the
    /// customer's page is connected yet (the appointment is the agent's to keep).
    #[serde(default)]
    pub scheduled: bool,
}

impl QueueEntry {
    /// Whether the customer can be offered (an open offer aside): connected, or expected at
    /// their slot.
    fn offerable(&self) -> bool {
        self.connected || self.scheduled
    }

    fn tried(&self, agent: UserId) -> bool {
        self.declined_by.contains(&agent) || self.missed_by.contains(&agent)
    }

    /// How long the customer has waited at `now`, whole seconds.
    pub fn wait_secs(&self, now: DateTime<Utc>) -> i64 {
        (now - self.entered_at).num_seconds().max(0)
    }
}

/// An agent's call in progress.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Call {
    pub session_id: SessionId,
    pub started_at: DateTime<Utc>,
}

/// An agent on the desk.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Agent {
    pub user_id: UserId,
    pub skills: Skills,
    pub presence: Presence,
    /// Whether their console is connected.
    pub connected: bool,
    /// When their console disconnected (the grace period runs from here).
    pub disconnected_at: Option<DateTime<Utc>>,
    /// The customer they are in a call with (while `busy`).
    pub call: Option<Call>,
}

impl Agent {
    pub fn state(&self) -> AgentState {
        self.presence.state
    }
}

/// A customer offered to an agent: their console rings until `expires_at`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Offer {
    pub id: OfferId,
    pub session_id: SessionId,
    pub agent: UserId,
    pub offered_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// The customer's offer count with this one (1 for the first).
    pub attempt: u32,
    /// Whether the customer's page was connected when the offer was made (a scheduled
    /// session is offered at its slot before the customer arrives).
    #[serde(default = "yes")]
    pub customer_connected: bool,
}

fn yes() -> bool {
    true
}

/// Something to tell a customer or an agent after a change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// Ring the agent with this offer.
    Ring(Offer),
    /// Stop ringing: the offer was missed, or its customer or agent went away, or it was
    /// reassigned.
    Withdraw(Offer),
    /// The agent accepted: connect the customer and the agent.
    Connected {
        session_id: SessionId,
        agent: UserId,
        offer_id: OfferId,
    },
    /// The customer waited past the queue timeout and is no longer queued.
    TimedOut(SessionId),
    /// An agent took the waiting customer by hand: tell the customer's page to join.
    Taken(SessionId),
}

/// What a change implies: the events to store with the new state, and what to tell whom.
#[derive(Debug, Clone, Default, PartialEq)]
#[must_use]
pub struct Outcome {
    pub events: Vec<DomainEvent>,
    pub notices: Vec<Notice>,
}

impl Outcome {
    /// The offers made (the agents to ring).
    pub fn offers(&self) -> impl Iterator<Item = &Offer> {
        self.notices.iter().filter_map(|n| match n {
            Notice::Ring(o) => Some(o),
            _ => None,
        })
    }

    pub fn is_empty(&self) -> bool {
        self.events.is_empty() && self.notices.is_empty()
    }

    pub fn extend(&mut self, other: Outcome) {
        self.events.extend(other.events);
        self.notices.extend(other.notices);
    }

    fn event(&mut self, session: Option<SessionId>, data: impl Into<crate::events::EventData>) {
        self.events.push(DomainEvent::new(session, data));
    }

    fn agent_change(&mut self, user_id: UserId, c: Change) {
        self.event(
            None,
            data::AgentStateChanged {
                user_id,
                from: c.from,
                to: c.to,
                by: c.by,
                reason: c.reason,
            },
        );
    }
}

/// A queue operation refused (the edge maps [`QueueError::code`] to a 404 or 409).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueueError {
    #[error("the customer is already waiting")]
    AlreadyWaiting,
    #[error("the customer is not waiting")]
    NotWaiting,
    #[error("no such agent on the desk")]
    UnknownAgent,
    #[error("no such offer (it was answered, withdrawn or missed)")]
    UnknownOffer,
    #[error("the offer was made to another agent")]
    NotYourOffer,
    #[error("the agent is not free to take a customer")]
    AgentNotFree,
    #[error(transparent)]
    Transition(#[from] InvalidTransition),
}

impl QueueError {
    /// A stable code for the API.
    pub fn code(&self) -> &'static str {
        match self {
            QueueError::AlreadyWaiting => "already_waiting",
            QueueError::NotWaiting => "not_waiting",
            QueueError::UnknownAgent => "unknown_agent",
            QueueError::UnknownOffer => "unknown_offer",
            QueueError::NotYourOffer => "not_your_offer",
            QueueError::AgentNotFree => "agent_not_free",
            QueueError::Transition(t) => t.code(),
        }
    }
}

/// The desk's state: who waits, who works, who is being rung. See the module docs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Queue {
    /// The time limits (the actor sets them from its configuration after loading).
    pub timing: Timing,
    /// In the order they entered (oldest first).
    entries: Vec<QueueEntry>,
    agents: BTreeMap<UserId, Agent>,
    offers: Vec<Offer>,
    /// Handle times (call length + wrap-up) of the last calls, seconds.
    handle_secs: VecDeque<i64>,
}

impl Queue {
    pub fn new(timing: Timing) -> Self {
        Self {
            timing,
            ..Self::default()
        }
    }

    // ----- what the queue holds -----

    /// The waiting customers, oldest first.
    pub fn entries(&self) -> &[QueueEntry] {
        &self.entries
    }

    pub fn entry(&self, session: SessionId) -> Option<&QueueEntry> {
        self.entries.iter().find(|e| e.session_id == session)
    }

    pub fn agents(&self) -> impl Iterator<Item = &Agent> {
        self.agents.values()
    }

    pub fn agent(&self, user: UserId) -> Option<&Agent> {
        self.agents.get(&user)
    }

    /// The outstanding offers.
    pub fn offers(&self) -> &[Offer] {
        &self.offers
    }

    pub fn offer_of(&self, session: SessionId) -> Option<&Offer> {
        self.offers.iter().find(|o| o.session_id == session)
    }

    /// The average handle time of the recent calls, seconds (`None` before the first).
    pub fn average_handle_secs(&self) -> Option<f64> {
        (!self.handle_secs.is_empty())
            .then(|| self.handle_secs.iter().sum::<i64>() as f64 / self.handle_secs.len() as f64)
    }

    // ----- customers -----

    /// A customer starts waiting.
    pub fn enter(
        &mut self,
        session: SessionId,
        requirements: Skills,
        now: DateTime<Utc>,
    ) -> Result<Outcome, QueueError> {
        if self.entry(session).is_some() {
            return Err(QueueError::AlreadyWaiting);
        }
        Ok(self.push_entry(session, requirements, now, false))
    }

    /// A new entry at the end of the queue: `queue.entered`.
    fn push_entry(
        &mut self,
        session: SessionId,
        requirements: Skills,
        now: DateTime<Utc>,
        scheduled: bool,
    ) -> Outcome {
        self.entries.push(QueueEntry {
            session_id: session,
            requirements,
            entered_at: now,
            offers: 0,
            missed: 0,
            declined_by: BTreeSet::new(),
            missed_by: BTreeSet::new(),
            // A scheduled entry waits for its customer's page; any other is that page.
            connected: !scheduled,
            scheduled,
        });
        let mut out = Outcome::default();
        out.event(Some(session), data::QueueEntered {});
        out
    }

    /// A scheduled session's slot began: it waits for an agent from now, offered even before
    /// the customer's page connects. Nothing changes if it is already waiting (the customer
    /// came early and entered when the window opened).
    pub fn enter_scheduled(
        &mut self,
        session: SessionId,
        requirements: Skills,
        now: DateTime<Utc>,
    ) -> Outcome {
        if let Some(e) = self.entries.iter_mut().find(|e| e.session_id == session) {
            e.scheduled = true;
            return Outcome::default();
        }
        self.push_entry(session, requirements, now, true)
    }

    /// The customer gave up waiting (closed the page, cancelled): `queue.abandoned`.
    pub fn leave(&mut self, session: SessionId, now: DateTime<Utc>) -> Result<Outcome, QueueError> {
        let entry = self.remove_entry(session)?;
        let mut out = Outcome::default();
        self.withdraw(&mut out, |o| o.session_id == session);
        out.event(
            Some(session),
            data::QueueAbandoned {
                wait_secs: entry.wait_secs(now),
            },
        );
        Ok(out)
    }

    /// The customer's page lost its connection: they keep their place, and an offer ringing
    /// for them is withdrawn (it does not count against the agent).
    pub fn disconnect(&mut self, session: SessionId) -> Result<Outcome, QueueError> {
        self.entry_mut(session)?.connected = false;
        let mut out = Outcome::default();
        self.withdraw(&mut out, |o| o.session_id == session);
        Ok(out)
    }

    /// The customer's page is back: they are offered again, from their old place.
    pub fn reconnect(&mut self, session: SessionId) -> Result<Outcome, QueueError> {
        self.entry_mut(session)?.connected = true;
        Ok(Outcome::default())
    }

    // ----- agents -----

    /// An agent's console connected, with their current skills. A new agent starts offline
    /// (they choose `available`); one who comes back within the grace period keeps their state.
    pub fn agent_online(&mut self, user: UserId, skills: Skills, now: DateTime<Utc>) {
        let agent = self.agents.entry(user).or_insert_with(|| Agent {
            user_id: user,
            skills: Skills::default(),
            presence: Presence::offline(now),
            connected: false,
            disconnected_at: None,
            call: None,
        });
        agent.skills = skills;
        agent.connected = true;
        agent.disconnected_at = None;
    }

    /// An agent's console lost its connection: an offer ringing there is withdrawn (the
    /// customer goes to the next agent now); after the grace period the agent goes offline.
    pub fn agent_disconnected(
        &mut self,
        user: UserId,
        now: DateTime<Utc>,
    ) -> Result<Outcome, QueueError> {
        let agent = self.agents.get_mut(&user).ok_or(QueueError::UnknownAgent)?;
        agent.connected = false;
        agent.disconnected_at = Some(now);
        let mut out = Outcome::default();
        self.withdraw(&mut out, |o| o.agent == user);
        Ok(out)
    }

    /// The agent chooses `available`, `break` or `offline`. Leaving `available` withdraws an
    /// offer ringing for them (the customer goes to the next agent; no miss is counted).
    pub fn set_state(
        &mut self,
        user: UserId,
        to: AgentState,
        now: DateTime<Utc>,
    ) -> Result<Outcome, QueueError> {
        let agent = self.agents.get_mut(&user).ok_or(QueueError::UnknownAgent)?;
        let mut out = Outcome::default();
        if let Some(change) = agent.presence.choose(to, now)? {
            out.agent_change(user, change);
        }
        if to != AgentState::Available {
            self.withdraw(&mut out, |o| o.agent == user);
        }
        Ok(out)
    }

    /// The agent's call ended: `wrap_up` (then `available` after the wrap-up time).
    pub fn call_ended(&mut self, user: UserId, now: DateTime<Utc>) -> Result<Outcome, QueueError> {
        let agent = self.agents.get_mut(&user).ok_or(QueueError::UnknownAgent)?;
        let change = agent.presence.end_call(now)?;
        if let Some(call) = agent.call.take() {
            let length = (now - call.started_at).num_seconds().max(0);
            self.handle_secs
                .push_back(length + i64::from(self.timing.wrap_up_secs));
            while self.handle_secs.len() > HANDLE_TIMES_KEPT {
                self.handle_secs.pop_front();
            }
        }
        let mut out = Outcome::default();
        out.agent_change(user, change);
        Ok(out)
    }

    // ----- offers -----

    /// Offer waiting customers to free able agents (see the module docs for the rule).
    pub fn route(&mut self, now: DateTime<Utc>) -> Outcome {
        let mut out = Outcome::default();
        let waiting =
            |q: &Queue, e: &QueueEntry| e.offerable() && q.offer_of(e.session_id).is_none();
        // First the customers a free agent has not tried yet, oldest first…
        for i in 0..self.entries.len() {
            if !waiting(self, &self.entries[i]) {
                continue;
            }
            if let Some(agent) = self.longest_idle(&self.entries[i]) {
                self.offer(i, agent, now, &mut out);
            }
        }
        // …then a new round for those every able agent has declined or missed, if one of
        // them is free (an agent who declined a customer gets the others first).
        for i in 0..self.entries.len() {
            let entry = &self.entries[i];
            if !waiting(self, entry) || !self.every_able_agent_tried(entry) {
                continue;
            }
            let free = self
                .agents
                .values()
                .any(|a| self.is_free(a) && a.skills.serves(&entry.requirements));
            if free {
                let entry = &mut self.entries[i];
                entry.declined_by.clear();
                entry.missed_by.clear();
                if let Some(agent) = self.longest_idle(&self.entries[i]) {
                    self.offer(i, agent, now, &mut out);
                }
            }
        }
        out
    }

    /// A supervisor gives a waiting customer to a particular agent, who must be free
    /// (`available`, connected, not ringing). An offer ringing elsewhere for the customer is
    /// withdrawn. The supervisor's choice overrides skills and earlier declines.
    pub fn reassign(
        &mut self,
        session: SessionId,
        to: UserId,
        now: DateTime<Utc>,
    ) -> Result<Outcome, QueueError> {
        let i = self
            .entries
            .iter()
            .position(|e| e.session_id == session)
            .ok_or(QueueError::NotWaiting)?;
        let agent = self.agents.get(&to).ok_or(QueueError::UnknownAgent)?;
        let already = self.offer_of(session).is_some_and(|o| o.agent == to);
        if already {
            return Ok(Outcome::default());
        }
        if !self.is_free(agent) {
            return Err(QueueError::AgentNotFree);
        }
        let mut out = Outcome::default();
        self.withdraw(&mut out, |o| o.session_id == session);
        self.offer(i, to, now, &mut out);
        Ok(out)
    }

    /// The agent takes the customer: the customer leaves the queue, the agent is `busy`.
    pub fn accept(
        &mut self,
        offer: OfferId,
        agent: UserId,
        now: DateTime<Utc>,
    ) -> Result<Outcome, QueueError> {
        let o = self.answered(offer, agent)?;
        let a = self
            .agents
            .get_mut(&agent)
            .ok_or(QueueError::UnknownAgent)?;
        let change = a.presence.accept_call(now)?;
        a.call = Some(Call {
            session_id: o.session_id,
            started_at: now,
        });
        self.offers.retain(|x| x.id != offer);
        let entry = self.remove_entry(o.session_id)?;
        let mut out = Outcome::default();
        out.event(
            Some(o.session_id),
            data::QueueAccepted {
                offer_id: Some(offer),
                agent_id: agent,
                wait_secs: entry.wait_secs(now),
            },
        );
        out.agent_change(agent, change);
        out.notices.push(Notice::Connected {
            session_id: o.session_id,
            agent,
            offer_id: offer,
        });
        Ok(out)
    }

    /// An agent took a waiting customer by hand (picked the session in the console instead of
    /// answering an offer): the customer leaves the queue as accepted by that agent, any offer
    /// ringing for them is withdrawn, and the agent, if on the desk and free, is busy.
    pub fn take(
        &mut self,
        session: SessionId,
        agent: UserId,
        now: DateTime<Utc>,
    ) -> Result<Outcome, QueueError> {
        let entry = self.remove_entry(session)?;
        let mut out = Outcome::default();
        self.withdraw(&mut out, |o| o.session_id == session);
        if let Some(a) = self.agents.get_mut(&agent) {
            if let Ok(change) = a.presence.accept_call(now) {
                a.call = Some(Call {
                    session_id: session,
                    started_at: now,
                });
                out.agent_change(agent, change);
            }
        }
        out.event(
            Some(session),
            data::QueueAccepted {
                offer_id: None,
                agent_id: agent,
                wait_secs: entry.wait_secs(now),
            },
        );
        out.notices.push(Notice::Taken(session));
        Ok(out)
    }

    /// The agent turns the customer down: the customer goes to another agent.
    pub fn decline(&mut self, offer: OfferId, agent: UserId) -> Result<Outcome, QueueError> {
        let o = self.answered(offer, agent)?;
        self.offers.retain(|x| x.id != offer);
        self.entry_mut(o.session_id)?.declined_by.insert(agent);
        let mut out = Outcome::default();
        out.event(
            Some(o.session_id),
            data::QueueDeclined {
                offer_id: offer,
                agent_id: agent,
            },
        );
        Ok(out)
    }

    // ----- deadlines -----

    /// Offers not answered by `now` are missed: counted on the customer, the agent stops
    /// ringing and is put on a break (not ready: `agent.state_changed` with reason
    /// `missed_offer`), and the customer goes to the next agent.
    pub fn expire_offers(&mut self, now: DateTime<Utc>) -> Outcome {
        let mut out = Outcome::default();
        let (expired, kept) = std::mem::take(&mut self.offers)
            .into_iter()
            .partition(|o| o.expires_at <= now);
        self.offers = kept;
        for o in expired {
            if let Ok(entry) = self.entry_mut(o.session_id) {
                entry.missed += 1;
                entry.missed_by.insert(o.agent);
                let missed = entry.missed;
                out.event(
                    Some(o.session_id),
                    data::QueueMissed {
                        offer_id: o.id,
                        agent_id: o.agent,
                        missed,
                    },
                );
            }
            // Nobody answered at that seat: not ready until the agent says otherwise.
            if let Some(a) = self.agents.get_mut(&o.agent) {
                if let Ok(change) = a.presence.missed_offer(now) {
                    out.agent_change(o.agent, change);
                }
            }
            out.notices.push(Notice::Withdraw(o));
        }
        out
    }

    /// Customers waiting for the queue timeout or longer leave with `queue.timed_out`.
    pub fn time_out(&mut self, now: DateTime<Utc>) -> Outcome {
        let mut out = Outcome::default();
        let limit = secs(self.timing.queue_timeout_secs);
        let (gone, kept): (Vec<_>, Vec<_>) = std::mem::take(&mut self.entries)
            .into_iter()
            .partition(|e| now - e.entered_at >= limit);
        self.entries = kept;
        for e in gone {
            self.withdraw(&mut out, |o| o.session_id == e.session_id);
            out.event(
                Some(e.session_id),
                data::QueueTimedOut {
                    wait_secs: e.wait_secs(now),
                },
            );
            out.notices.push(Notice::TimedOut(e.session_id));
        }
        out
    }

    /// Agents in wrap-up for the wrap-up time become available.
    pub fn end_wrap_ups(&mut self, now: DateTime<Utc>) -> Outcome {
        let mut out = Outcome::default();
        let limit = secs(self.timing.wrap_up_secs);
        for a in self.agents.values_mut() {
            if a.state() == AgentState::WrapUp && now - a.presence.since >= limit {
                if let Ok(change) = a.presence.end_wrap_up(now) {
                    out.agent_change(a.user_id, change);
                }
            }
        }
        out
    }

    /// Agents whose console has been disconnected for the grace period go offline.
    pub fn drop_disconnected(&mut self, now: DateTime<Utc>) -> Outcome {
        let mut out = Outcome::default();
        let limit = secs(self.timing.offline_grace_secs);
        let mut gone = Vec::new();
        for a in self.agents.values_mut() {
            if a.disconnected_at.is_some_and(|at| now - at >= limit) {
                a.disconnected_at = None;
                a.call = None;
                if let Some(change) = a.presence.connection_lost(now) {
                    out.agent_change(a.user_id, change);
                }
                gone.push(a.user_id);
            }
        }
        for user in gone {
            self.withdraw(&mut out, |o| o.agent == user);
        }
        out
    }

    /// Everything due at `now` (missed offers, timed-out customers, ended wrap-ups, agents
    /// gone past the grace period), then routing.
    pub fn tick(&mut self, now: DateTime<Utc>) -> Outcome {
        let mut out = self.expire_offers(now);
        out.extend(self.time_out(now));
        out.extend(self.end_wrap_ups(now));
        out.extend(self.drop_disconnected(now));
        out.extend(self.route(now));
        out
    }

    /// The next time something falls due (when to call [`Queue::tick`] again).
    pub fn next_deadline(&self) -> Option<DateTime<Utc>> {
        let t = &self.timing;
        let offers = self.offers.iter().map(|o| o.expires_at);
        let waits = self
            .entries
            .iter()
            .map(|e| e.entered_at + secs(t.queue_timeout_secs));
        let wrap_ups = self
            .agents
            .values()
            .filter(|a| a.state() == AgentState::WrapUp)
            .map(|a| a.presence.since + secs(t.wrap_up_secs));
        let graces = self
            .agents
            .values()
            .filter_map(|a| a.disconnected_at)
            .map(|at| at + secs(t.offline_grace_secs));
        offers.chain(waits).chain(wrap_ups).chain(graces).min()
    }

    /// After a restart, from the saved state: no socket survived, so every customer is
    /// disconnected (they keep their place and are offered again when they reconnect), the
    /// offers that were ringing are withdrawn (not counted against anyone), and every agent
    /// starts their grace period (they keep their state if their console reconnects in time).
    pub fn restarted(&mut self, now: DateTime<Utc>) -> Outcome {
        let mut out = Outcome::default();
        for e in &mut self.entries {
            e.connected = false;
        }
        self.withdraw(&mut out, |_| true);
        for a in self.agents.values_mut() {
            if a.connected {
                a.connected = false;
                a.disconnected_at = Some(now);
            }
        }
        out
    }

    // ----- what a customer is told -----

    /// The customer's place in the queue (1-based), among the connected customers who
    /// compete for the same agents (see the module docs); `None` if not waiting.
    pub fn position(&self, session: SessionId) -> Option<u32> {
        let me = self.entries.iter().position(|e| e.session_id == session)?;
        let mine = &self.entries[me];
        let shared: Vec<&Agent> = self
            .agents
            .values()
            .filter(|a| a.state() != AgentState::Offline && a.skills.serves(&mine.requirements))
            .collect();
        // With no able agent on the desk yet, plain order of arrival.
        let ahead = self.entries[..me]
            .iter()
            .filter(|e| {
                e.offerable()
                    && (shared.is_empty()
                        || shared.iter().any(|a| a.skills.serves(&e.requirements)))
            })
            .count();
        Some(ahead as u32 + 1)
    }

    /// The estimated wait before an agent takes the customer, seconds (see the module docs);
    /// `None` when there is no honest estimate or the customer is not waiting.
    pub fn estimated_wait(&self, session: SessionId) -> Option<i64> {
        let position = i64::from(self.position(session)?);
        if self.offer_of(session).is_some() {
            return Some(0); // an agent is being rung for them
        }
        let needs = &self.entry(session)?.requirements;
        let able = |a: &&Agent| a.skills.serves(needs);
        let at_work = self
            .agents
            .values()
            .filter(able)
            .filter(|a| {
                matches!(
                    a.state(),
                    AgentState::Available | AgentState::Busy | AgentState::WrapUp
                )
            })
            .count() as i64;
        if at_work == 0 {
            return None;
        }
        // Free for this customer: an agent who turned them down is not offered them again
        // while others are to try, so they do not count.
        let entry = self.entry(session)?;
        let free = self
            .agents
            .values()
            .filter(able)
            .filter(|a| self.is_free(a))
            .filter(|a| {
                !entry.declined_by.contains(&a.user_id) && !entry.missed_by.contains(&a.user_id)
            })
            .count() as i64;
        if position <= free {
            return Some(0);
        }
        let handle = self.average_handle_secs()?;
        Some(((position - free) as f64 * handle / at_work as f64).ceil() as i64)
    }

    // ----- helpers -----

    fn is_free(&self, a: &Agent) -> bool {
        a.state() == AgentState::Available
            && a.connected
            && !self.offers.iter().any(|o| o.agent == a.user_id)
    }

    fn longest_idle(&self, entry: &QueueEntry) -> Option<UserId> {
        self.agents
            .values()
            .filter(|a| self.is_free(a) && a.skills.serves(&entry.requirements))
            .filter(|a| !entry.tried(a.user_id))
            .min_by_key(|a| (a.presence.idle_since, a.user_id))
            .map(|a| a.user_id)
    }

    /// Every connected, not offline agent able to serve the customer declined or missed them
    /// (and there is at least one).
    fn every_able_agent_tried(&self, entry: &QueueEntry) -> bool {
        let mut able = self
            .agents
            .values()
            .filter(|a| {
                a.connected
                    && a.state() != AgentState::Offline
                    && a.skills.serves(&entry.requirements)
            })
            .peekable();
        able.peek().is_some() && able.all(|a| entry.tried(a.user_id))
    }

    fn offer(&mut self, i: usize, agent: UserId, now: DateTime<Utc>, out: &mut Outcome) {
        let entry = &mut self.entries[i];
        entry.offers += 1;
        let offer = Offer {
            id: OfferId::new(),
            session_id: entry.session_id,
            agent,
            offered_at: now,
            expires_at: now + secs(self.timing.ring_timeout_secs),
            attempt: entry.offers,
            customer_connected: entry.connected,
        };
        out.event(
            Some(offer.session_id),
            data::QueueOffered {
                offer_id: offer.id,
                agent_id: agent,
                attempt: offer.attempt,
                expires_at: offer.expires_at,
            },
        );
        self.offers.push(offer.clone());
        out.notices.push(Notice::Ring(offer));
    }

    fn withdraw(&mut self, out: &mut Outcome, which: impl Fn(&Offer) -> bool) {
        let (gone, kept) = std::mem::take(&mut self.offers)
            .into_iter()
            .partition(|o| which(o));
        self.offers = kept;
        out.notices.extend(gone.into_iter().map(Notice::Withdraw));
    }

    fn answered(&self, offer: OfferId, agent: UserId) -> Result<Offer, QueueError> {
        let o = self
            .offers
            .iter()
            .find(|o| o.id == offer)
            .ok_or(QueueError::UnknownOffer)?;
        if o.agent != agent {
            return Err(QueueError::NotYourOffer);
        }
        Ok(o.clone())
    }

    fn entry_mut(&mut self, session: SessionId) -> Result<&mut QueueEntry, QueueError> {
        self.entries
            .iter_mut()
            .find(|e| e.session_id == session)
            .ok_or(QueueError::NotWaiting)
    }

    fn remove_entry(&mut self, session: SessionId) -> Result<QueueEntry, QueueError> {
        let i = self
            .entries
            .iter()
            .position(|e| e.session_id == session)
            .ok_or(QueueError::NotWaiting)?;
        Ok(self.entries.remove(i))
    }
}

#[cfg(test)]
#[allow(unused_must_use)] // the tests look at the outcomes that matter to them
mod tests {
    use super::*;
    use crate::desk::presence::{ChangeReason, ChangedBy};
    use crate::desk::user::Skill;
    use crate::events::{EventData, EventKind};

    fn t(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + s, 0).unwrap()
    }

    fn langs(l: &[&str]) -> Skills {
        Skills {
            languages: l.iter().map(|s| Skill::parse(s).unwrap()).collect(),
            ..Skills::default()
        }
    }

    fn kinds(out: &Outcome) -> Vec<EventKind> {
        out.events.iter().map(DomainEvent::kind).collect()
    }

    /// Agents `ids[i]` online and available at time `i` (the first one idle the longest).
    fn desk(agents: &[Skills]) -> (Queue, Vec<UserId>) {
        let mut q = Queue::new(Timing::default());
        let ids: Vec<UserId> = (0..agents.len())
            .map(|i| UserId::from_u128(i as u128 + 1))
            .collect();
        for (i, (id, skills)) in ids.iter().zip(agents).enumerate() {
            q.agent_online(*id, skills.clone(), t(i as i64));
            q.set_state(*id, AgentState::Available, t(i as i64))
                .unwrap();
        }
        (q, ids)
    }

    fn customer(q: &mut Queue, needs: Skills, at: i64) -> SessionId {
        let s = SessionId::new();
        let out = q.enter(s, needs, t(at)).unwrap();
        assert_eq!(kinds(&out), [EventKind::QueueEntered]);
        s
    }

    fn offered(out: &Outcome) -> Vec<(SessionId, UserId)> {
        out.offers().map(|o| (o.session_id, o.agent)).collect()
    }

    #[test]
    fn a_customer_goes_to_the_longest_idle_agent_with_the_skills() {
        let (mut q, a) = desk(&[langs(&["en"]), langs(&["hi", "en"]), langs(&["hi"])]);
        let hindi = customer(&mut q, langs(&["hi"]), 10);
        let out = q.route(t(10));
        assert_eq!(
            offered(&out),
            [(hindi, a[1])],
            "a[1] is idle longer than a[2]; a[0] has no Hindi"
        );
        assert_eq!(kinds(&out), [EventKind::QueueOffered]);
        let o = out.offers().next().unwrap();
        assert_eq!((o.attempt, o.expires_at), (1, t(30)));
        assert!(q.route(t(11)).is_empty(), "no double offer");

        let english = customer(&mut q, langs(&["en"]), 11);
        let anyone = customer(&mut q, Skills::default(), 12);
        let out = q.route(t(12));
        assert_eq!(
            offered(&out),
            [(english, a[0]), (anyone, a[2])],
            "a[1] is ringing already"
        );
    }

    #[test]
    fn a_scheduled_session_is_offered_at_its_slot_before_the_customer_connects() {
        let (mut q, a) = desk(&[langs(&["en"])]);
        let walk_in = SessionId::new();
        q.enter(walk_in, langs(&["en"]), t(5)).unwrap();
        q.disconnect(walk_in).unwrap();
        let booked = SessionId::new();
        let out = q.enter_scheduled(booked, langs(&["en"]), t(10));
        assert_eq!(kinds(&out), [EventKind::QueueEntered]);
        let out = q.route(t(10));
        assert_eq!(
            offered(&out),
            [(booked, a[0])],
            "the booked customer is offered though not connected; the disconnected walk-in is not"
        );
        assert!(!out.offers().next().unwrap().customer_connected);
        assert_eq!(q.position(booked), Some(1));
        // The customer's page arrives: they are the same entry, connected.
        assert_eq!(
            q.enter(booked, langs(&["en"]), t(11)),
            Err(QueueError::AlreadyWaiting)
        );
        let _ = q.reconnect(booked).unwrap();
        assert!(q.entry(booked).unwrap().connected);
        // Entering at the slot again (a second timer run) changes nothing.
        assert!(q.enter_scheduled(booked, langs(&["en"]), t(12)).is_empty());
        assert_eq!(q.entries().len(), 2);
        // A customer who came early and waits already is only marked scheduled.
        let early = customer(&mut q, langs(&["en"]), 13);
        q.disconnect(early).unwrap();
        assert!(q.enter_scheduled(early, langs(&["en"]), t(14)).is_empty());
        assert!(q.entry(early).unwrap().scheduled);
    }

    #[test]
    fn customers_are_served_oldest_first_without_one_blocking_the_others() {
        let (mut q, a) = desk(&[langs(&["en"])]);
        let tamil = customer(&mut q, langs(&["ta"]), 1);
        let first = customer(&mut q, langs(&["en"]), 2);
        let second = customer(&mut q, langs(&["en"]), 3);
        let out = q.route(t(3));
        assert_eq!(
            offered(&out),
            [(first, a[0])],
            "nobody speaks Tamil; the oldest English speaker first"
        );
        let offer = out.offers().next().unwrap().id;
        q.decline(offer, a[0]).unwrap();
        let out = q.route(t(4));
        assert_eq!(
            offered(&out),
            [(second, a[0])],
            "the decliner gets the next customer"
        );
        let offer = out.offers().next().unwrap().id;
        q.decline(offer, a[0]).unwrap();
        let out = q.route(t(5));
        assert_eq!(
            offered(&out),
            [(first, a[0])],
            "nobody else for them: a new round, oldest first"
        );
        assert!(q.entry(tamil).is_some());
    }

    #[test]
    fn a_decline_sends_the_customer_to_the_next_agent_and_not_back() {
        let (mut q, a) = desk(&[langs(&["hi"]), langs(&["hi"])]);
        let s = customer(&mut q, langs(&["hi"]), 5);
        let first = q.route(t(5)).offers().next().unwrap().clone();
        assert_eq!(first.agent, a[0]);
        assert_eq!(
            q.decline(first.id, a[1]).unwrap_err().code(),
            "not_your_offer"
        );
        let out = q.decline(first.id, a[0]).unwrap();
        assert_eq!(kinds(&out), [EventKind::QueueDeclined]);
        assert_eq!(
            q.decline(first.id, a[0]).unwrap_err().code(),
            "unknown_offer"
        );
        let out = q.route(t(6));
        assert_eq!(offered(&out), [(s, a[1])]);
        assert_eq!(out.offers().next().unwrap().attempt, 2);
    }

    #[test]
    fn when_every_able_agent_declined_the_customer_starts_a_new_round() {
        let (mut q, a) = desk(&[langs(&["hi"]), langs(&["hi"]), langs(&["en"])]);
        let s = customer(&mut q, langs(&["hi"]), 5);
        for (n, agent) in [a[0], a[1], a[0]].into_iter().enumerate() {
            let out = q.route(t(6 + n as i64));
            let o = out.offers().next().expect("offered again").clone();
            assert_eq!((o.session_id, o.agent), (s, agent), "round robin, try {n}");
            q.decline(o.id, agent).unwrap();
        }
        assert_eq!(q.entry(s).unwrap().offers, 3);
        assert_eq!(
            q.entry(s).unwrap().declined_by,
            [a[0]].into(),
            "the new round has one decline"
        );
    }

    #[test]
    fn a_decliner_is_not_rung_again_while_another_able_agent_is_only_busy() {
        let (mut q, a) = desk(&[langs(&["hi"]), langs(&["hi"])]);
        let busy = customer(&mut q, Skills::default(), 1);
        let o = q.route(t(1)).offers().next().unwrap().clone();
        assert_eq!(o.session_id, busy);
        q.accept(o.id, a[0], t(2)).unwrap();
        let s = customer(&mut q, langs(&["hi"]), 3);
        let o = q.route(t(3)).offers().next().unwrap().clone();
        assert_eq!(o.agent, a[1]);
        q.decline(o.id, a[1]).unwrap();
        assert!(
            q.route(t(4)).is_empty(),
            "a[0] (busy) has not been tried: wait for them"
        );
        q.call_ended(a[0], t(60)).unwrap();
        let out = q.tick(t(90));
        assert_eq!(offered(&out), [(s, a[0])], "after a[0]'s wrap-up");
    }

    #[test]
    fn an_unanswered_offer_is_missed_counted_and_goes_to_the_next_agent() {
        let (mut q, a) = desk(&[langs(&["en"]), langs(&["en"])]);
        let s = customer(&mut q, langs(&["en"]), 0);
        let o = q.route(t(0)).offers().next().unwrap().clone();
        assert!(q.expire_offers(t(19)).is_empty());
        assert_eq!(q.next_deadline(), Some(t(20)));
        let out = q.tick(t(20));
        assert_eq!(
            kinds(&out),
            [
                EventKind::QueueMissed,
                EventKind::AgentStateChanged,
                EventKind::QueueOffered
            ]
        );
        assert!(out.notices.contains(&Notice::Withdraw(o.clone())));
        match &out.events[0].data {
            EventData::QueueMissed(m) => assert_eq!((m.agent_id, m.missed), (a[0], 1)),
            e => panic!("{e:?}"),
        }
        // Nobody answered at that seat: the agent is not ready until they say so.
        match &out.events[1].data {
            EventData::AgentStateChanged(c) => {
                assert_eq!(
                    (c.user_id, c.to, c.reason),
                    (a[0], AgentState::Break, ChangeReason::MissedOffer)
                )
            }
            e => panic!("{e:?}"),
        }
        assert_eq!(offered(&out), [(s, a[1])]);
        let out = q.tick(t(40));
        assert!(
            offered(&out).is_empty(),
            "both missed: both on a break, nobody is rung"
        );
        assert_eq!(q.entry(s).unwrap().missed, 2);
        // Back at the desk: a new round offers the customer again.
        let out = q.set_state(a[0], AgentState::Available, t(50)).unwrap();
        assert_eq!(offered(&out).len() + offered(&q.route(t(50))).len(), 1);
    }

    #[test]
    fn accept_makes_the_agent_busy_then_wrap_up_then_available_for_the_next() {
        let (mut q, a) = desk(&[langs(&["en"])]);
        let s1 = customer(&mut q, Skills::default(), 0);
        let s2 = customer(&mut q, Skills::default(), 1);
        let o = q.route(t(1)).offers().next().unwrap().clone();
        assert_eq!(
            q.accept(o.id, UserId::new(), t(5)).unwrap_err().code(),
            "not_your_offer"
        );
        let out = q.accept(o.id, a[0], t(5)).unwrap();
        assert_eq!(
            kinds(&out),
            [EventKind::QueueAccepted, EventKind::AgentStateChanged]
        );
        match &out.events[0].data {
            EventData::QueueAccepted(x) => assert_eq!((x.agent_id, x.wait_secs), (a[0], 5)),
            e => panic!("{e:?}"),
        }
        assert!(out.notices.contains(&Notice::Connected {
            session_id: s1,
            agent: a[0],
            offer_id: o.id
        }));
        assert!(q.entry(s1).is_none());
        assert_eq!(q.agent(a[0]).unwrap().state(), AgentState::Busy);
        assert_eq!(
            q.set_state(a[0], AgentState::Break, t(6))
                .unwrap_err()
                .code(),
            "agent_in_call"
        );
        assert!(q.route(t(6)).is_empty());

        let out = q.call_ended(a[0], t(65)).unwrap();
        match &out.events[0].data {
            EventData::AgentStateChanged(c) => {
                assert_eq!(
                    (c.from, c.to, c.by, c.reason),
                    (
                        AgentState::Busy,
                        AgentState::WrapUp,
                        ChangedBy::System,
                        ChangeReason::CallEnded
                    )
                )
            }
            e => panic!("{e:?}"),
        }
        assert_eq!(
            q.average_handle_secs(),
            Some(90.0),
            "60 s call + 30 s wrap-up"
        );
        assert!(q.tick(t(94)).is_empty());
        assert_eq!(q.next_deadline(), Some(t(95)));
        let out = q.tick(t(95));
        assert_eq!(
            kinds(&out),
            [EventKind::AgentStateChanged, EventKind::QueueOffered]
        );
        assert_eq!(offered(&out), [(s2, a[0])]);
    }

    #[test]
    fn a_customer_waiting_past_the_timeout_leaves_timed_out() {
        let (mut q, a) = desk(&[langs(&["en"])]);
        q.timing.ring_timeout_secs = 1000;
        let s1 = customer(&mut q, Skills::default(), 0);
        let s2 = customer(&mut q, langs(&["ta"]), 100);
        let o = q.route(t(100)).offers().next().unwrap().clone();
        assert_eq!(o.session_id, s1);
        assert_eq!(q.next_deadline(), Some(t(900)));
        let out = q.tick(t(900));
        assert_eq!(kinds(&out), [EventKind::QueueTimedOut]);
        assert!(out.notices.contains(&Notice::TimedOut(s1)));
        assert!(
            out.notices.contains(&Notice::Withdraw(o)),
            "the ringing agent stops"
        );
        match &out.events[0].data {
            EventData::QueueTimedOut(x) => assert_eq!(x.wait_secs, 900),
            e => panic!("{e:?}"),
        }
        assert!(q.offers().is_empty());
        assert!(q.entry(s2).is_some());
        let out = q.tick(t(1000));
        assert!(out.notices.contains(&Notice::TimedOut(s2)));
        assert!(q.entries().is_empty());
        let _ = a;
    }

    #[test]
    fn leaving_abandons_and_withdraws_the_offer() {
        let (mut q, _) = desk(&[langs(&["en"])]);
        let s = customer(&mut q, Skills::default(), 0);
        let o = q.route(t(0)).offers().next().unwrap().clone();
        let out = q.leave(s, t(42)).unwrap();
        assert_eq!(kinds(&out), [EventKind::QueueAbandoned]);
        assert_eq!(out.notices, [Notice::Withdraw(o)]);
        match &out.events[0].data {
            EventData::QueueAbandoned(x) => assert_eq!(x.wait_secs, 42),
            e => panic!("{e:?}"),
        }
        assert_eq!(q.leave(s, t(43)).unwrap_err().code(), "not_waiting");
        assert_eq!(
            q.enter(SessionId::new(), Skills::default(), t(44))
                .map(|o| o.events.len()),
            Ok(1)
        );
    }

    #[test]
    fn positions_count_the_older_connected_customers_competing_for_the_same_agents() {
        let (mut q, _) = desk(&[langs(&["hi"]), langs(&["en"])]);
        q.set_state(UserId::from_u128(1), AgentState::Break, t(0))
            .unwrap();
        q.set_state(UserId::from_u128(2), AgentState::Break, t(0))
            .unwrap();
        let h1 = customer(&mut q, langs(&["hi"]), 1);
        let e1 = customer(&mut q, langs(&["en"]), 2);
        let h2 = customer(&mut q, langs(&["hi"]), 3);
        let any = customer(&mut q, Skills::default(), 4);
        assert_eq!(q.position(h1), Some(1));
        assert_eq!(
            q.position(e1),
            Some(1),
            "the Hindi customer ahead takes another agent"
        );
        assert_eq!(q.position(h2), Some(2));
        assert_eq!(
            q.position(any),
            Some(4),
            "both agents could serve them: everyone is ahead"
        );
        q.disconnect(h1).unwrap();
        assert_eq!(
            q.position(h2),
            Some(1),
            "a disconnected customer is not offered: not ahead"
        );
        q.reconnect(h1).unwrap();
        assert_eq!(q.position(h2), Some(2), "back in their old place");
        q.leave(h1, t(5)).unwrap();
        assert_eq!(q.position(h2), Some(1));
        assert_eq!(q.position(h1), None);
    }

    #[test]
    fn the_estimated_wait_comes_from_handle_times_and_agents_at_work_or_is_none() {
        let (mut q, a) = desk(&[langs(&["en"]), langs(&["en"])]);
        let s0 = customer(&mut q, Skills::default(), 0);
        assert_eq!(
            q.estimated_wait(s0),
            Some(0),
            "a free agent can take them now"
        );
        let o = q.route(t(0)).offers().next().unwrap().clone();
        assert_eq!(q.estimated_wait(s0), Some(0), "being rung");
        q.decline(o.id, o.agent).unwrap();
        // Both agents take a call; the first ends after 60 s (+30 s wrap-up = 90 s handle).
        let s1 = customer(&mut q, Skills::default(), 0);
        for o in q.route(t(0)).offers().cloned().collect::<Vec<_>>() {
            q.accept(o.id, o.agent, t(0)).unwrap();
        }
        let s2 = customer(&mut q, Skills::default(), 1);
        assert_eq!(q.estimated_wait(s2), None, "no call ended yet: no estimate");
        q.call_ended(a[0], t(60)).unwrap();
        let s3 = customer(&mut q, Skills::default(), 61);
        // s2 position 1, s3 position 2; no free agent; 2 agents at work; handle 90 s.
        assert_eq!(q.estimated_wait(s2), Some(45));
        assert_eq!(q.estimated_wait(s3), Some(90));
        let tamil = customer(&mut q, langs(&["ta"]), 62);
        assert_eq!(q.estimated_wait(tamil), None, "no agent can serve them");
        assert_eq!(q.estimated_wait(SessionId::new()), None);
        let _ = (s0, s1);
    }

    #[test]
    fn an_agent_leaving_with_an_offer_ringing_hands_the_customer_on() {
        let (mut q, a) = desk(&[langs(&["en"]), langs(&["en"])]);
        let s = customer(&mut q, Skills::default(), 0);
        let o = q.route(t(0)).offers().next().unwrap().clone();
        assert_eq!(o.agent, a[0]);
        let out = q.set_state(a[0], AgentState::Offline, t(3)).unwrap();
        assert_eq!(kinds(&out), [EventKind::AgentStateChanged]);
        assert_eq!(out.notices, [Notice::Withdraw(o)]);
        assert_eq!(q.entry(s).unwrap().missed, 0, "a withdrawal is not a miss");
        assert_eq!(offered(&q.route(t(3))), [(s, a[1])]);
    }

    #[test]
    fn a_disconnected_agent_goes_offline_after_the_grace_period_unless_back() {
        let (mut q, a) = desk(&[langs(&["en"]), langs(&["en"])]);
        let s = customer(&mut q, Skills::default(), 0);
        let o = q.route(t(0)).offers().next().unwrap().clone();
        let out = q.agent_disconnected(a[0], t(2)).unwrap();
        assert_eq!(out.notices, [Notice::Withdraw(o)]);
        let out = q.tick(t(2));
        assert_eq!(
            offered(&out),
            [(s, a[1])],
            "re-offered at once, to a connected agent"
        );
        assert_eq!(
            q.agent(a[0]).unwrap().state(),
            AgentState::Available,
            "within the grace"
        );
        let out = q.tick(t(17));
        assert_eq!(kinds(&out), [EventKind::AgentStateChanged]);
        match &out.events[0].data {
            EventData::AgentStateChanged(c) => assert_eq!(
                (c.user_id, c.to, c.by, c.reason),
                (
                    a[0],
                    AgentState::Offline,
                    ChangedBy::System,
                    ChangeReason::ConnectionLost
                )
            ),
            e => panic!("{e:?}"),
        }
        // a[1] blips and comes back within the grace: still available, idle time kept.
        let idle = q.agent(a[1]).unwrap().presence.idle_since;
        q.agent_disconnected(a[1], t(20)).unwrap();
        q.agent_online(a[1], langs(&["en"]), t(25));
        let out = q.tick(t(40));
        assert!(!kinds(&out).contains(&EventKind::AgentStateChanged));
        assert_eq!(q.agent(a[1]).unwrap().state(), AgentState::Available);
        assert_eq!(q.agent(a[1]).unwrap().presence.idle_since, idle);
    }

    #[test]
    fn a_disconnected_customer_keeps_their_place_and_is_offered_on_reconnect() {
        let (mut q, a) = desk(&[langs(&["en"])]);
        let s1 = customer(&mut q, Skills::default(), 0);
        let s2 = customer(&mut q, Skills::default(), 1);
        let o = q.route(t(1)).offers().next().unwrap().clone();
        assert_eq!(o.session_id, s1);
        let out = q.disconnect(s1).unwrap();
        assert_eq!(out.notices, [Notice::Withdraw(o)]);
        assert_eq!(offered(&q.route(t(2))), [(s2, a[0])]);
        let o2 = q.offer_of(s2).unwrap().clone();
        q.decline(o2.id, a[0]).unwrap();
        q.reconnect(s1).unwrap();
        assert_eq!(offered(&q.route(t(3))), [(s1, a[0])], "oldest first again");
    }

    #[test]
    fn a_restart_keeps_the_waiting_customers_and_offers_them_when_they_return() {
        let (mut q, a) = desk(&[langs(&["en"])]);
        let s1 = customer(&mut q, Skills::default(), 0);
        let s2 = customer(&mut q, Skills::default(), 1);
        let _ = q.route(t(1));
        let saved = serde_json::to_string(&q).unwrap();

        let mut q: Queue = serde_json::from_str(&saved).unwrap();
        let out = q.restarted(t(10));
        assert!(out.events.is_empty() && out.notices.len() == 1);
        assert!(q.offers().is_empty());
        assert!(q.route(t(10)).is_empty(), "nobody is connected");
        q.agent_online(a[0], langs(&["en"]), t(11));
        q.reconnect(s2).unwrap();
        assert_eq!(offered(&q.route(t(12))), [(s2, a[0])]);
        q.reconnect(s1).unwrap();
        assert_eq!(q.position(s1), Some(1), "their place was kept");
        assert_eq!(q.entry(s1).unwrap().entered_at, t(0));
    }

    #[test]
    fn a_supervisor_reassigns_a_customer_to_a_free_agent() {
        let (mut q, a) = desk(&[langs(&["en"]), langs(&["hi"]), langs(&["en"])]);
        let s = customer(&mut q, langs(&["en"]), 0);
        let first = q.route(t(0)).offers().next().unwrap().clone();
        assert_eq!(first.agent, a[0]);
        assert_eq!(
            q.reassign(s, UserId::new(), t(1)).unwrap_err().code(),
            "unknown_agent"
        );
        q.set_state(a[2], AgentState::Break, t(1)).unwrap();
        assert_eq!(
            q.reassign(s, a[2], t(1)).unwrap_err().code(),
            "agent_not_free"
        );
        let out = q.reassign(s, a[1], t(2)).unwrap();
        assert_eq!(kinds(&out), [EventKind::QueueOffered]);
        assert_eq!(out.notices[0], Notice::Withdraw(first));
        assert_eq!(
            offered(&out),
            [(s, a[1])],
            "the supervisor overrides skills"
        );
        assert_eq!(
            q.reassign(SessionId::new(), a[1], t(2)).unwrap_err().code(),
            "not_waiting"
        );
    }

    #[test]
    fn the_next_deadline_is_the_earliest_of_all_timers() {
        let (mut q, a) = desk(&[langs(&["en"])]);
        assert_eq!(q.next_deadline(), None);
        let _ = customer(&mut q, langs(&["ta"]), 0);
        assert_eq!(q.next_deadline(), Some(t(900)));
        q.agent_disconnected(a[0], t(10)).unwrap();
        assert_eq!(q.next_deadline(), Some(t(25)));
        assert_eq!(
            q.enter(q.entries()[0].session_id, Skills::default(), t(1))
                .unwrap_err()
                .code(),
            "already_waiting"
        );
    }
}
