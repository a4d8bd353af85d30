//! An agent's presence: what state they are in, who may change it, and since when they
//! have been idle.
//!
//! ```text
//!            agent: available / break / offline (any of them, from anything but busy)
//!   ┌──────────────────────────────────────────────────────────────────────┐
//!   ▼                                                                      │
//! offline ──agent──▶ available ──system: accept──▶ busy ──system: call end──▶ wrap_up
//!   ▲                  ▲   │                        │                          │
//!   │                  │   └──agent──▶ break        │                          │
//!   │                  └──────system: wrap-up time over (or agent: ready)──────┘
//!   └── system: the console's connection has been gone past the grace period (any state)
//! ```
//!
//! The agent chooses `available`, `break` and `offline`, except while in a call (`busy`):
//! a call ends before anything else happens. The system alone sets `busy` (the agent accepted
//! an offer), `wrap_up` (the call ended) and `available` after the wrap-up time, and takes an
//! agent `offline` when their console has been disconnected past the grace period. Every
//! change is a [`Change`], which the queue turns into an `agent.state_changed` event.
//!
//! [`Presence::idle_since`] is when the agent last became `available`: the queue offers a
//! customer to the able agent idle the longest (the smallest `idle_since`).

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// An agent's state on the desk.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
    schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum AgentState {
    /// Ready: the queue may offer them a customer.
    Available,
    /// In a call (set when they accept an offer).
    Busy,
    /// After a call, finishing its notes; available again after the wrap-up time.
    WrapUp,
    /// Signed in but not taking calls.
    Break,
    /// Not on the desk.
    Offline,
}

impl AgentState {
    pub const ALL: [AgentState; 5] = [
        AgentState::Available,
        AgentState::Busy,
        AgentState::WrapUp,
        AgentState::Break,
        AgentState::Offline,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AgentState::Available => "available",
            AgentState::Busy => "busy",
            AgentState::WrapUp => "wrap_up",
            AgentState::Break => "break",
            AgentState::Offline => "offline",
        }
    }

    /// Whether the agent may set this state themselves (`available`, `break`, `offline`).
    pub fn agent_may_choose(self) -> bool {
        matches!(
            self,
            AgentState::Available | AgentState::Break | AgentState::Offline
        )
    }
}

impl fmt::Display for AgentState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who changed an agent's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ChangedBy {
    /// The agent, from their console.
    Agent,
    /// The desk: an accepted offer, a call's end, the wrap-up time, a lost connection.
    System,
}

/// Why an agent's state changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ChangeReason {
    /// The agent chose it.
    Requested,
    /// The agent accepted an offer: a call starts.
    OfferAccepted,
    /// The agent's call ended.
    CallEnded,
    /// The wrap-up time after a call is over.
    WrapUpOver,
    /// The console's connection was gone longer than the grace period.
    ConnectionLost,
    /// The agent let an offer ring out: they are put on a break (not ready) until they say
    /// they are available again, so the desk stops ringing an empty seat.
    MissedOffer,
}

/// A state change refused (a 409 at the edge, with [`InvalidTransition::code`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidTransition {
    #[error("an agent in a call cannot change to {0} before the call ends")]
    InCall(AgentState),
    #[error("{0} is set by the desk, not by the agent")]
    SystemOnly(AgentState),
    #[error("an agent cannot go from {from} to {to} this way")]
    NotFrom { from: AgentState, to: AgentState },
}

impl InvalidTransition {
    /// A stable code for the API.
    pub fn code(&self) -> &'static str {
        match self {
            InvalidTransition::InCall(_) => "agent_in_call",
            InvalidTransition::SystemOnly(_) => "state_set_by_system",
            InvalidTransition::NotFrom { .. } => "invalid_transition",
        }
    }
}

/// One state change, as `agent.state_changed` tells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Change {
    pub from: AgentState,
    pub to: AgentState,
    pub by: ChangedBy,
    pub reason: ChangeReason,
}

/// An agent's state, since when, and since when they have been idle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Presence {
    pub state: AgentState,
    /// When the current state began.
    pub since: DateTime<Utc>,
    /// When the agent last became `available`; `None` while in any other state.
    pub idle_since: Option<DateTime<Utc>>,
}

impl Presence {
    /// A new agent on the desk: offline until they choose to be available.
    pub fn offline(now: DateTime<Utc>) -> Self {
        Self {
            state: AgentState::Offline,
            since: now,
            idle_since: None,
        }
    }

    /// The agent chooses `to` (`available`, `break` or `offline`). Choosing the state they
    /// are in changes nothing (`Ok(None)`). From `wrap_up`, `available` ends the wrap-up early.
    pub fn choose(
        &mut self,
        to: AgentState,
        now: DateTime<Utc>,
    ) -> Result<Option<Change>, InvalidTransition> {
        if !to.agent_may_choose() {
            return Err(InvalidTransition::SystemOnly(to));
        }
        if self.state == AgentState::Busy {
            return Err(InvalidTransition::InCall(to));
        }
        Ok(self.go(to, ChangedBy::Agent, ChangeReason::Requested, now))
    }

    /// The agent accepted an offer: `available` → `busy`.
    pub fn accept_call(&mut self, now: DateTime<Utc>) -> Result<Change, InvalidTransition> {
        self.system(
            AgentState::Available,
            AgentState::Busy,
            ChangeReason::OfferAccepted,
            now,
        )
    }

    /// The agent's call ended: `busy` → `wrap_up`.
    pub fn end_call(&mut self, now: DateTime<Utc>) -> Result<Change, InvalidTransition> {
        self.system(
            AgentState::Busy,
            AgentState::WrapUp,
            ChangeReason::CallEnded,
            now,
        )
    }

    /// The wrap-up time is over: `wrap_up` → `available`.
    pub fn end_wrap_up(&mut self, now: DateTime<Utc>) -> Result<Change, InvalidTransition> {
        self.system(
            AgentState::WrapUp,
            AgentState::Available,
            ChangeReason::WrapUpOver,
            now,
        )
    }

    /// The agent let an offer ring out: `available` → `break` (not ready).
    pub fn missed_offer(&mut self, now: DateTime<Utc>) -> Result<Change, InvalidTransition> {
        self.system(
            AgentState::Available,
            AgentState::Break,
            ChangeReason::MissedOffer,
            now,
        )
    }

    /// The console's connection has been gone past the grace period: any state → `offline`
    /// (`None` if already offline).
    pub fn connection_lost(&mut self, now: DateTime<Utc>) -> Option<Change> {
        self.go(
            AgentState::Offline,
            ChangedBy::System,
            ChangeReason::ConnectionLost,
            now,
        )
    }

    fn system(
        &mut self,
        from: AgentState,
        to: AgentState,
        reason: ChangeReason,
        now: DateTime<Utc>,
    ) -> Result<Change, InvalidTransition> {
        if self.state != from {
            return Err(InvalidTransition::NotFrom {
                from: self.state,
                to,
            });
        }
        Ok(self
            .go(to, ChangedBy::System, reason, now)
            .expect("from differs from to"))
    }

    fn go(
        &mut self,
        to: AgentState,
        by: ChangedBy,
        reason: ChangeReason,
        now: DateTime<Utc>,
    ) -> Option<Change> {
        if self.state == to {
            return None;
        }
        let from = self.state;
        self.state = to;
        self.since = now;
        self.idle_since = (to == AgentState::Available).then_some(now);
        Some(Change {
            from,
            to,
            by,
            reason,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeDelta;

    fn t(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + s, 0).unwrap()
    }

    #[test]
    fn states_serialise_in_snake_case_and_break_is_break() {
        for s in AgentState::ALL {
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
        assert_eq!(serde_json::to_value(AgentState::Break).unwrap(), "break");
        assert_eq!(serde_json::to_value(AgentState::WrapUp).unwrap(), "wrap_up");
        assert_eq!(
            serde_json::from_str::<AgentState>("\"break\"").unwrap(),
            AgentState::Break
        );
    }

    #[test]
    fn the_agent_chooses_available_break_and_offline_but_not_in_a_call() {
        let mut p = Presence::offline(t(0));
        let c = p.choose(AgentState::Available, t(5)).unwrap().unwrap();
        assert_eq!(
            (c.from, c.to, c.by),
            (AgentState::Offline, AgentState::Available, ChangedBy::Agent)
        );
        assert_eq!(p.idle_since, Some(t(5)));
        assert_eq!(p.choose(AgentState::Available, t(6)), Ok(None), "no change");
        assert_eq!(
            p.idle_since,
            Some(t(5)),
            "choosing available again keeps the idle time"
        );

        let e = p.choose(AgentState::Busy, t(7)).unwrap_err();
        assert_eq!(e.code(), "state_set_by_system");
        assert_eq!(
            p.choose(AgentState::WrapUp, t(7)).unwrap_err().code(),
            "state_set_by_system"
        );

        p.accept_call(t(10)).unwrap();
        assert_eq!(p.idle_since, None);
        let e = p.choose(AgentState::Break, t(11)).unwrap_err();
        assert_eq!(e, InvalidTransition::InCall(AgentState::Break));
        assert_eq!(e.code(), "agent_in_call");
        assert_eq!(
            e.to_string(),
            "an agent in a call cannot change to break before the call ends"
        );
        assert!(p.choose(AgentState::Offline, t(11)).is_err());
        assert_eq!(p.state, AgentState::Busy);
    }

    #[test]
    fn the_system_runs_a_call_through_wrap_up_back_to_available() {
        let mut p = Presence::offline(t(0));
        assert_eq!(
            p.accept_call(t(1)).unwrap_err().code(),
            "invalid_transition"
        );
        p.choose(AgentState::Available, t(1)).unwrap();
        let c = p.accept_call(t(2)).unwrap();
        assert_eq!(
            (c.to, c.by, c.reason),
            (
                AgentState::Busy,
                ChangedBy::System,
                ChangeReason::OfferAccepted
            )
        );
        assert!(p.end_wrap_up(t(3)).is_err(), "not in wrap-up");
        let c = p.end_call(t(60)).unwrap();
        assert_eq!(
            (c.from, c.to, c.reason),
            (
                AgentState::Busy,
                AgentState::WrapUp,
                ChangeReason::CallEnded
            )
        );
        assert_eq!(p.since, t(60));
        let c = p.end_wrap_up(t(90)).unwrap();
        assert_eq!(
            (c.to, c.reason),
            (AgentState::Available, ChangeReason::WrapUpOver)
        );
        assert_eq!(p.idle_since, Some(t(90)));
        assert_eq!(p.since + TimeDelta::seconds(0), t(90));
    }

    #[test]
    fn an_agent_may_end_wrap_up_early_or_take_a_break_from_it() {
        let mut p = Presence::offline(t(0));
        p.choose(AgentState::Available, t(0)).unwrap();
        p.accept_call(t(1)).unwrap();
        p.end_call(t(2)).unwrap();
        assert!(p.choose(AgentState::Available, t(3)).unwrap().is_some());
        assert_eq!(p.idle_since, Some(t(3)));
        p.choose(AgentState::Break, t(4)).unwrap();
        assert_eq!(p.idle_since, None);
    }

    #[test]
    fn a_lost_connection_takes_any_state_offline() {
        for start in [AgentState::Available, AgentState::Busy, AgentState::Break] {
            let mut p = Presence {
                state: start,
                since: t(0),
                idle_since: None,
            };
            let c = p.connection_lost(t(20)).unwrap();
            assert_eq!(
                (c.to, c.by, c.reason),
                (
                    AgentState::Offline,
                    ChangedBy::System,
                    ChangeReason::ConnectionLost
                )
            );
        }
        assert_eq!(Presence::offline(t(0)).connection_lost(t(1)), None);
    }
}
