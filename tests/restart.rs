//! The real binary, killed and started again on the same data dir: the session is still there.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const KEY: &str = "restart-test-key-0123";

fn start(dir: &std::path::Path) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_vkyc"))
        .env("VKYC_PROFILE", "test")
        .env("VKYC_STORAGE__DATA_DIR", dir)
        .env("VKYC_AUTH__API_KEY", KEY)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("binary starts");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().expect("a line").unwrap();
    std::thread::spawn(move || for _ in lines {});
    let url = first
        .strip_prefix("vkyc listening on ")
        .expect("listening line")
        .trim()
        .to_string();
    (child, url)
}

#[tokio::test]
async fn sessions_survive_a_hard_restart() {
    let dir = tempfile::tempdir().unwrap();
    let http = reqwest::Client::new();
    let (mut first, url) = start(dir.path());
    let body = serde_json::json!({"mode": "live_agent", "applicant": {"name": "Restart Person", "reference_id": "LN-42"}});
    let created: serde_json::Value = http
        .post(format!("{url}/v1/sessions"))
        .bearer_auth(KEY)
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = created["id"].as_str().unwrap().to_string();
    first.kill().unwrap(); // SIGKILL: no graceful shutdown
    first.wait().unwrap();

    let (mut second, url) = start(dir.path());
    let resp = http
        .get(format!("{url}/v1/sessions/{id}"))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let mut after: serde_json::Value = resp.json().await.unwrap();
    // The result document adds the (still empty) KYC case to the session.
    let kyc = after
        .as_object_mut()
        .unwrap()
        .remove("kyc")
        .expect("the case is part of the result");
    assert_eq!(kyc["recommendation"]["result"], "needs_review");
    assert_eq!(after, created);
    let events: serde_json::Value = http
        .get(format!("{url}/v1/events"))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(events["events"][0]["type"], "session.created");
    assert_eq!(events["events"][0]["session_id"], id.as_str());
    second.kill().unwrap();
    second.wait().unwrap();
    let _ = Duration::ZERO;
}

#[test]
fn invalid_config_fails_at_start_naming_the_key() {
    let out = Command::new(env!("CARGO_BIN_EXE_vkyc"))
        .env("VKYC_PROFILE", "test")
        .env("VKYC_SERVER__PORT", "seventy")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("server.port"), "{err}");
}
