//! The agent desk: who works in vkyc and how a waiting customer reaches one of them.
//!
//! - [`user`]: staff accounts ([`user::User`]), their roles ([`user::StaffRole`]: agent,
//!   auditor, supervisor, admin), validated emails and names, and an agent's [`user::Skills`].
//! - [`presence`]: an agent's state ([`presence::AgentState`]: available, busy, wrap_up,
//!   break, offline), who may change it to what ([`presence::Presence`]: the agent chooses
//!   available, break and offline; the desk sets busy, wrap_up, and available or offline when
//!   a time runs out), and since when they are idle.
//! - [`queue`]: the waiting customers and the agents on the desk ([`queue::Queue`], plain
//!   data saved by the desk's actor), and the routing rules: oldest customer first, to the
//!   able agent idle the longest; declines, misses, timeouts, position and estimated wait.
//!   Each change returns the `queue.*` and `agent.state_changed` events it implies.

pub mod presence;
pub mod queue;
pub mod user;
