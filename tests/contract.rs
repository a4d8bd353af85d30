//! The generated contract: `src/schema/openapi.json` is what the code generates, the server
//! serves it, and the reference page renders it. To regenerate the file after changing a
//! handler or a type:
//!
//! ```text
//! WRITE_SCHEMAS=1 cargo test --test contract
//! ```

mod common;

use std::collections::BTreeSet;
use std::path::PathBuf;

use common::*;
use serde_json::Value;

const REGENERATE: &str = "WRITE_SCHEMAS=1 cargo test --test contract";

fn committed_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src/schema/openapi.json")
}

#[test]
fn the_committed_openapi_document_is_what_the_code_generates() {
    let generated = vkyc::openapi::document_json();
    let path = committed_path();
    if std::env::var_os("WRITE_SCHEMAS").is_some_and(|v| v == "1") {
        std::fs::write(&path, &generated).unwrap();
        println!("wrote {}", path.display());
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    if committed != generated {
        let first = committed.lines().zip(generated.lines()).position(|(a, b)| a != b).unwrap_or(committed.lines().count().min(generated.lines().count()));
        let line = |s: &str| s.lines().nth(first).unwrap_or("<end of file>").to_string();
        panic!(
            "src/schema/openapi.json differs from the OpenAPI document the code generates (first at line {}):\n  committed: {}\n  generated: {}\nRegenerate it with `{REGENERATE}` and commit the file.",
            first + 1,
            line(&committed),
            line(&generated),
        );
    }
}

/// Every `$ref` in a value.
fn refs(v: &Value, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(m) => {
            if let Some(Value::String(r)) = m.get("$ref") {
                out.insert(r.clone());
            }
            m.values().for_each(|v| refs(v, out));
        }
        Value::Array(a) => a.iter().for_each(|v| refs(v, out)),
        _ => {}
    }
}

#[test]
fn every_operation_is_described_completely() {
    let doc: Value = serde_json::from_str(&vkyc::openapi::document_json()).unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    let schemes: BTreeSet<&str> = doc["components"]["securitySchemes"].as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(schemes, BTreeSet::from(["api_key", "join_token"]));
    let mut ids = BTreeSet::new();
    let mut count = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        assert!(path.starts_with("/v1/"), "{path}: outside /v1");
        for (method, op) in item.as_object().unwrap() {
            let what = format!("{} {path}", method.to_uppercase());
            count += 1;
            let id = op["operationId"].as_str().unwrap_or_else(|| panic!("{what}: no operationId"));
            assert!(ids.insert(id.to_string()), "{what}: operationId {id} is used twice");
            assert!(op["tags"].as_array().is_some_and(|t| !t.is_empty()), "{what}: no tag");
            assert!(op["description"].is_string() || op["summary"].is_string(), "{what}: no description");
            // Security is always said: a list of alternatives, `[{}]` for a public endpoint.
            let security = op["security"].as_array().unwrap_or_else(|| panic!("{what}: no security requirement"));
            let responses = op["responses"].as_object().unwrap();
            let bearer = security.iter().any(|s| s.as_object().is_some_and(|o| !o.is_empty()));
            if bearer {
                for s in ["401", "403"] {
                    assert!(responses.contains_key(s), "{what}: takes a token but does not document {s}");
                    assert_eq!(responses[s]["content"]["application/json"]["schema"]["$ref"], "#/components/schemas/ErrorBody", "{what}: {s}");
                }
            }
            // Every error answer has the error body.
            for (status, r) in responses {
                if status.starts_with('4') || status.starts_with('5') {
                    let content = r["content"].as_object();
                    let json = content.and_then(|c| c.get("application/json"));
                    if let Some(json) = json {
                        assert_eq!(json["schema"]["$ref"], "#/components/schemas/ErrorBody", "{what}: {status}");
                    } else {
                        assert!(path == "/v1/rtc", "{what}: {status} has no error body");
                    }
                }
            }
            // Path parameters are declared.
            for seg in path.split('/').filter(|s| s.starts_with('{')) {
                let name = seg.trim_matches(|c| c == '{' || c == '}');
                let declared = op["parameters"].as_array().into_iter().flatten().any(|p| p["name"] == name && p["in"] == "path");
                assert!(declared, "{what}: path parameter {name} is not declared");
            }
        }
    }
    assert!(count >= 38, "only {count} operations");
    // Every reference resolves.
    let mut all = BTreeSet::new();
    refs(&doc, &mut all);
    for r in all {
        let name = r.strip_prefix("#/components/schemas/").unwrap_or_else(|| panic!("unexpected $ref {r}"));
        assert!(doc["components"]["schemas"][name].is_object(), "$ref {r} does not resolve");
    }
    // The error body, with its stable code.
    let err = &doc["components"]["schemas"]["ErrorBody"];
    assert_eq!(err["required"], serde_json::json!(["error"]));
}

#[tokio::test]
async fn the_server_serves_the_document_and_its_reference_page() {
    let app = spawn_app().await;
    let resp = app.http.get(format!("{}/v1/openapi.json", app.base)).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "application/json");
    let served = resp.text().await.unwrap();
    assert_eq!(served, vkyc::openapi::document_json(), "GET /v1/openapi.json is not the generated document");

    let page = app.http.get(format!("{}/docs/api", app.base)).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let csp = page.headers()["content-security-policy"].to_str().unwrap().to_string();
    assert!(csp.starts_with("default-src 'self'"), "{csp}");
    let html = page.text().await.unwrap();
    assert!(html.contains("/static/reference.js"), "{html}");
    // Nothing comes from another origin: no CDN.
    assert!(!html.contains("http://") && !html.contains("https://") && !html.contains("//cdn"), "{html}");
    for asset in ["reference.js", "reference.css"] {
        let r = app.http.get(format!("{}/static/{asset}", app.base)).send().await.unwrap();
        assert_eq!(r.status(), 200, "{asset}");
        let text = r.text().await.unwrap();
        assert!(!text.contains("https://") && !text.contains("http://"), "{asset} loads from another origin");
    }
}
