//! The events' JSON Schemas (draft 2020-12): the contract of the Kafka topics, generated.
//!
//! `src/schema/events/` holds one file per event type plus the envelope, all written from
//! here: the envelope is the CloudEvents form [`super::cloud_event`] produces; each type's
//! file refers to it (`allOf`) and pins `type` and `dataschema`, requires `subject` when the
//! type always belongs to a session, and takes `data` from the type's payload in the domain
//! crate ([`EventKind::data_schema`], derived with `schemars`). `tests/contract.rs` fails when
//! a committed file differs from [`schemas`]; `WRITE_SCHEMAS=1 cargo test --test contract`
//! rewrites them.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{json, Value};
use vkyc_domain::events::{EventKind, Scope};

use super::{dataschema, SCHEMA_BASE};

const META_SCHEMA: &str = "https://json-schema.org/draft/2020-12/schema";
/// The envelope's file; every event type's schema refers to it.
pub const ENVELOPE_FILE: &str = "envelope.schema.json";

/// The schema of every event: a CloudEvents 1.0 event in structured JSON mode.
pub fn envelope() -> Value {
    json!({
        "$schema": META_SCHEMA,
        "$id": format!("{SCHEMA_BASE}{ENVELOPE_FILE}"),
        "title": "vkyc event envelope (CloudEvents 1.0, structured JSON mode)",
        "description": "Every vkyc event on Kafka: a CloudEvents 1.0 JSON event. id is stable per event (a redelivery carries the same id); subject is the session id and also the Kafka key (node-level events have no subject and the key \"node\"); sequence is the position in the node's outbox (per-session order follows it). Version 1; fields are only ever added.",
        "type": "object",
        "required": ["specversion", "id", "source", "type", "time", "datacontenttype", "dataschema", "sequence", "data"],
        "properties": {
            "specversion": {"const": "1.0"},
            "id": {"type": "string", "format": "uuid"},
            "source": {"type": "string", "minLength": 1},
            "type": {"type": "string", "pattern": "^[a-z_]+\\.[a-z_.]+$"},
            "subject": {"type": "string", "format": "uuid"},
            "time": {"type": "string", "format": "date-time"},
            "datacontenttype": {"const": "application/json"},
            "dataschema": {"type": "string", "format": "uri"},
            "sequence": {"type": "integer", "minimum": 1},
            "data": {"type": "object"},
        },
    })
}

/// The schema of one event type: the envelope, with this type's `type`, `dataschema`, and
/// `data` as its payload serialises.
pub fn schema(kind: EventKind) -> Value {
    let id = dataschema(kind.as_str());
    let mut v = json!({
        "$schema": META_SCHEMA,
        "$id": id,
        "title": format!("vkyc event {kind}"),
        "description": format!("{} Data carries ids, roles and reasons only, never personal data.", kind.description()),
        "allOf": [{"$ref": ENVELOPE_FILE}],
        "properties": {
            "type": {"const": kind.as_str()},
            "dataschema": {"const": id},
            "data": kind.data_schema(),
        },
    });
    if kind.scope() == Scope::Session {
        v["required"] = json!(["subject"]);
    }
    v
}

/// Every schema file of `src/schema/events/`: file name → schema.
pub fn schemas() -> BTreeMap<String, Value> {
    let types = EventKind::ALL.iter().map(|k| (k.schema_file(), schema(*k)));
    std::iter::once((ENVELOPE_FILE.to_string(), envelope()))
        .chain(types)
        .collect()
}

/// A schema as its file holds it: pretty JSON with a final newline.
pub fn file_text(schema: &Value) -> String {
    let mut s = serde_json::to_string_pretty(schema).expect("a JSON value serialises");
    s.push('\n');
    s
}

/// Writes [`schemas`] into `dir` and removes the `*.schema.json` files that no event type
/// has any more; returns the names written.
pub fn write(dir: &Path) -> std::io::Result<Vec<String>> {
    let all = schemas();
    for entry in std::fs::read_dir(dir)? {
        let name = entry?.file_name().to_string_lossy().into_owned();
        if name.ends_with(".schema.json") && !all.contains_key(&name) {
            std::fs::remove_file(dir.join(&name))?;
        }
    }
    for (name, schema) in &all {
        std::fs::write(dir.join(name), file_text(schema))?;
    }
    Ok(all.into_keys().collect())
}
