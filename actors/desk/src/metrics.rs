//! The desk's metrics (the server's recorder exposes them at `GET /metrics`):
//! - `vkyc_desk_queue_length` (gauge): customers waiting;
//! - `vkyc_desk_agents{state}` (gauge): agents in each state;
//! - `vkyc_desk_wait_to_offer_seconds` (histogram): from entering the queue to the first offer;
//! - `vkyc_desk_wait_to_accept_seconds` (histogram): from entering the queue to the accept;
//! - `vkyc_desk_offers_total{outcome}` (counter): offers `accepted`, `declined` or `missed`.
//!
//! All are derived from the events of a change and the state after it, so they count what
//! was saved.

use vkyc_domain::desk::presence::AgentState;
use vkyc_domain::desk::queue::Queue;
use vkyc_domain::events::{DomainEvent, EventData};

/// Records what a saved change did (`events`) and the state it left (`queue`).
pub fn record(queue: &Queue, events: &[DomainEvent]) {
    for e in events {
        match &e.data {
            EventData::QueueOffered(o) if o.attempt == 1 => {
                let entered = e
                    .session_id
                    .and_then(|s| queue.entry(s))
                    .map(|x| x.entered_at);
                let offered = queue.offers().iter().find(|x| x.id == o.offer_id);
                if let (Some(entered), Some(offered)) = (entered, offered) {
                    let secs = (offered.offered_at - entered).num_milliseconds() as f64 / 1000.0;
                    metrics::histogram!("vkyc_desk_wait_to_offer_seconds").record(secs.max(0.0));
                }
            }
            EventData::QueueAccepted(a) => {
                metrics::histogram!("vkyc_desk_wait_to_accept_seconds").record(a.wait_secs as f64);
                metrics::counter!("vkyc_desk_offers_total", "outcome" => "accepted").increment(1);
            }
            EventData::QueueDeclined(_) => {
                metrics::counter!("vkyc_desk_offers_total", "outcome" => "declined").increment(1);
            }
            EventData::QueueMissed(_) => {
                metrics::counter!("vkyc_desk_offers_total", "outcome" => "missed").increment(1);
            }
            _ => {}
        }
    }
    gauges(queue);
}

/// The queue length and the agents by state.
pub fn gauges(queue: &Queue) {
    metrics::gauge!("vkyc_desk_queue_length").set(queue.entries().len() as f64);
    for state in AgentState::ALL {
        let n = queue.agents().filter(|a| a.state() == state).count();
        metrics::gauge!("vkyc_desk_agents", "state" => state.as_str()).set(n as f64);
    }
}
