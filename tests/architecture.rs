//! The crate graph, as Cargo resolves it (`cargo metadata`): the domain crate stays free of
//! the frameworks, and the actor crates depend on each other only in the layering drawn in
//! ARCHITECTURE.md ("The crates").

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

use serde_json::Value;

/// The host's target triple (`rustc -vV`).
fn host() -> String {
    let out = Command::new("rustc")
        .arg("-vV")
        .output()
        .expect("rustc runs");
    let v = String::from_utf8_lossy(&out.stdout);
    v.lines()
        .find_map(|l| l.strip_prefix("host: "))
        .expect("rustc -vV names the host")
        .trim()
        .to_string()
}

/// Normal (non-dev, non-build) dependencies of every package, by package name, as resolved
/// for this host. (Unfiltered, `cargo metadata` wants the manifests of the other platforms'
/// dependencies too, which a build on this host never downloads: `--frozen` then fails.)
fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args([
            "metadata",
            "--format-version",
            "1",
            "--frozen",
            "--filter-platform",
            &host(),
            "--manifest-path",
        ])
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"))
        .output()
        .expect("cargo metadata runs");
    assert!(
        out.status.success(),
        "cargo metadata: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: Value = serde_json::from_slice(&out.stdout).unwrap();
    let names: BTreeMap<&str, &str> = meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["id"].as_str().unwrap(), p["name"].as_str().unwrap()))
        .collect();
    let mut g = BTreeMap::new();
    for node in meta["resolve"]["nodes"].as_array().unwrap() {
        let deps = node["deps"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| {
                d["dep_kinds"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|k| k["kind"].is_null())
            })
            .map(|d| names[d["pkg"].as_str().unwrap()].to_string())
            .collect();
        g.insert(names[node["id"].as_str().unwrap()].to_string(), deps);
    }
    g
}

fn transitive(g: &BTreeMap<String, BTreeSet<String>>, from: &str) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut todo = vec![from.to_string()];
    while let Some(p) = todo.pop() {
        for d in g.get(&p).into_iter().flatten() {
            if seen.insert(d.clone()) {
                todo.push(d.clone());
            }
        }
    }
    seen
}

#[test]
fn the_domain_crate_depends_on_no_framework() {
    let g = graph();
    let deps = transitive(&g, "vkyc-domain");
    for framework in [
        "webrtc",
        "ort",
        "ractor",
        "redb",
        "scylla",
        "actix-web",
        "actix-http",
        "rdkafka",
        "image",
        "tokio",
    ] {
        assert!(
            !deps.contains(framework),
            "vkyc-domain depends on {framework} (through {deps:?})"
        );
    }
}

#[test]
fn the_actor_crates_follow_the_layering() {
    let g = graph();
    let ours = |p: &str| -> BTreeSet<String> {
        transitive(&g, p)
            .into_iter()
            .filter(|d| d.starts_with("vkyc"))
            .collect()
    };
    let expect = |p: &str, allowed: &[&str]| {
        let got = ours(p);
        let allowed: BTreeSet<String> = allowed.iter().map(|s| s.to_string()).collect();
        assert_eq!(got, allowed, "{p} depends on these vkyc crates");
    };
    expect("vkyc-domain", &[]);
    expect("vkyc-blob", &[]);
    expect("vkyc-vision", &["vkyc-domain"]);
    expect("vkyc-media", &["vkyc-domain", "vkyc-blob"]);
    expect("vkyc-call", &["vkyc-domain", "vkyc-blob", "vkyc-media"]);
    expect("vkyc-case", &["vkyc-domain", "vkyc-blob", "vkyc-vision"]);
    // The load test (and test kit) speaks to the server over its API only.
    expect("vkyc-loadtest", &["vkyc-domain"]);
}
