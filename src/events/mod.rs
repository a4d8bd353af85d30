//! Domain events on Kafka. The embedded store's ordered event log is the outbox: every event
//! is written in the same transaction as the state change it describes; the [`relay`] actor
//! publishes it, once, to the topic of its aggregate family and then moves its cursor.
//!
//! On the wire an event is a CloudEvents 1.0 JSON object (structured mode): `id` (stable per
//! event, so a redelivery is recognisable), `source`, `type`, `subject` (the session id),
//! `time`, `datacontenttype`, `dataschema` (a JSON Schema in `src/schema/events/`, generated
//! by [`schema`] from the events' typed payloads), `sequence` (position in the outbox) and
//! `data`. The Kafka key is the session id, so one session's events stay ordered within a
//! topic; node-level events use the key [`NODE_KEY`].

pub mod consumer;
pub mod relay;
pub mod schema;
pub mod tail;

pub use consumer::GroupConsumer;
pub use schema::schemas;

use serde_json::{json, Value};

use crate::config::KafkaTopics;
use crate::store::{EventEnvelope, EVENT_SCHEMA_VERSION};

/// Kafka key of the events that belong to no session (e.g. `supervisor.restarted`).
pub const NODE_KEY: &str = "node";
/// Where the per-type JSON Schemas are published (their `$id`s; files in `src/schema/events/`).
pub const SCHEMA_BASE: &str = "https://vkyc.dev/schema/v1/events/";
/// The `content-type` header of every record (CloudEvents Kafka binding, structured mode).
pub const CONTENT_TYPE: &str = "application/cloudevents+json; charset=UTF-8";

pub use vkyc_domain::Family;

/// The topic of each family in the configuration.
pub trait FamilyTopic {
    fn topic(self, topics: &KafkaTopics) -> &str;
}

impl FamilyTopic for Family {
    fn topic(self, topics: &KafkaTopics) -> &str {
        match self {
            Family::Sessions => &topics.sessions,
            Family::Rooms => &topics.rooms,
            Family::Steps => &topics.steps,
            Family::Recordings => &topics.recordings,
            Family::Stats => &topics.stats,
            Family::Webhooks => &topics.webhooks,
            Family::Desk => &topics.desk,
        }
    }
}

/// Every topic of the configuration, in a fixed order.
pub fn all_topics(topics: &KafkaTopics) -> [&str; 7] {
    [
        &topics.sessions,
        &topics.rooms,
        &topics.steps,
        &topics.recordings,
        &topics.stats,
        &topics.webhooks,
        &topics.desk,
    ]
}

/// The Kafka key of an event: its session id, or [`NODE_KEY`].
pub fn key(e: &EventEnvelope) -> String {
    e.session_id
        .map(|s| s.to_string())
        .unwrap_or_else(|| NODE_KEY.to_string())
}

/// The JSON Schema URI of an event type at the current schema version.
pub fn dataschema(kind: &str) -> String {
    debug_assert_eq!(EVENT_SCHEMA_VERSION, 1, "SCHEMA_BASE names v1");
    format!("{SCHEMA_BASE}{kind}.schema.json")
}

/// The CloudEvents form of an outbox entry.
pub fn cloud_event(e: &EventEnvelope, source: &str) -> Value {
    let mut v = json!({
        "specversion": "1.0",
        "id": e.id,
        "source": source,
        "type": e.kind,
        "time": e.time,
        "datacontenttype": "application/json",
        "dataschema": dataschema(&e.kind),
        "sequence": e.seq,
        "data": e.data,
    });
    if let Some(s) = e.session_id {
        v["subject"] = json!(s);
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_form() {
        let e = EventEnvelope {
            seq: 7,
            id: uuid::Uuid::new_v4(),
            kind: "supervisor.restarted".into(),
            version: 1,
            time: chrono::Utc::now(),
            session_id: None,
            data: json!({"supervisor": "rooms"}),
        };
        let v = cloud_event(&e, "/vkyc");
        assert_eq!(v["specversion"], "1.0");
        assert_eq!(v["sequence"], 7);
        assert!(v.get("subject").is_none());
        assert_eq!(key(&e), NODE_KEY);
        assert_eq!(
            v["dataschema"],
            "https://vkyc.dev/schema/v1/events/supervisor.restarted.schema.json"
        );
    }
}
