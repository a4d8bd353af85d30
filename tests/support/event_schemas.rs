//! The events' JSON Schemas as validators, for the tests that check events against them
//! (`tests/kafka.rs` against the committed files, `tests/contract.rs` against the generated
//! ones; the drift test keeps the two equal).

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

use serde_json::Value;
use vkyc::events::schema::ENVELOPE_FILE;

/// `src/schema/events/`.
pub fn committed_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src/schema/events")
}

/// Every file of `src/schema/events/`: name → text.
pub fn committed() -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for entry in std::fs::read_dir(committed_dir()).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_string();
        out.insert(name, std::fs::read_to_string(&path).unwrap());
    }
    out
}

/// One validator per event type (`session.created` → …) from `files` (file name → schema);
/// the types' `$ref` to the envelope resolves to `files["envelope.schema.json"]`.
pub fn validators(files: &BTreeMap<String, Value>) -> HashMap<String, jsonschema::Validator> {
    struct Local(Value);
    impl jsonschema::Retrieve for Local {
        fn retrieve(
            &self,
            uri: &jsonschema::Uri<String>,
        ) -> Result<Value, Box<dyn std::error::Error + Send + Sync>> {
            if uri.as_str() == vkyc::events::SCHEMA_BASE.to_string() + ENVELOPE_FILE {
                Ok(self.0.clone())
            } else {
                Err(format!("no local schema {uri}").into())
            }
        }
    }
    let envelope = files
        .get(ENVELOPE_FILE)
        .expect("the envelope's schema")
        .clone();
    let mut out = HashMap::new();
    for (name, schema) in files {
        let Some(kind) = name.strip_suffix(".schema.json") else {
            continue;
        };
        if name == ENVELOPE_FILE {
            continue;
        }
        let v = jsonschema::options()
            .with_retriever(Local(envelope.clone()))
            .build(schema)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        out.insert(kind.to_string(), v);
    }
    out
}

/// Why `event` does not satisfy `v` (empty when it does).
pub fn errors(v: &jsonschema::Validator, event: &Value) -> Vec<String> {
    v.iter_errors(event)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect()
}
