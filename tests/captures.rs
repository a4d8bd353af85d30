//! Captures black-box: agent and customer upload frames of their session; agent and
//! auditor (observer) read them back; the blob on disk is encrypted; roles and sessions are
//! enforced; a non-image is refused with its code; the event carries no personal data.

mod common;

use common::*;
use reqwest::multipart::{Form, Part};
use serde_json::{json, Value};

#[tokio::test]
async fn captures_are_stored_encrypted_and_served_to_the_right_roles() {
    let app = spawn_app().await;
    let session = app.api.create_session("Capture Test").await.unwrap();
    let other = app.api.create_session("Someone Else").await.unwrap();
    let agent = app.api.token(&session, "agent").await.unwrap().token;
    let customer = app.api.token(&session, "customer").await.unwrap().token;
    let observer = app.api.token(&session, "observer").await.unwrap().token;
    let foreign_agent = app.api.token(&other, "agent").await.unwrap().token;
    let url = format!("{}/v1/sessions/{session}/captures", app.base);
    let face = photo_bytes("person_b_1.jpg");

    // The agent console uploads a frame (multipart); the customer a document photo (JSON).
    let form = Form::new().text("kind", "face").part(
        "image",
        Part::bytes(face.clone())
            .file_name("frame.jpg")
            .mime_str("image/jpeg")
            .unwrap(),
    );
    let r = app
        .http
        .post(&url)
        .bearer_auth(&agent)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let c1: Value = r.json().await.unwrap();
    assert_eq!(
        (
            c1["kind"].as_str(),
            c1["taken_by"].as_str(),
            c1["width"].as_u64()
        ),
        (Some("face"), Some("agent"), Some(716))
    );
    let r = app
        .http
        .post(&url)
        .bearer_auth(&customer)
        .json(&json!({"kind": "document", "image": b64(&photo_bytes("person_a_2.jpg"))}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);

    // Listed in order for the auditor; downloaded byte for byte by the agent.
    let r = app
        .http
        .get(&url)
        .bearer_auth(&observer)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let list: Value = r.json().await.unwrap();
    let kinds: Vec<&str> = list["captures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["face", "document"]);
    let r = app
        .http
        .get(format!("{url}/{}", c1["id"].as_str().unwrap()))
        .bearer_auth(&agent)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "image/jpeg");
    assert_eq!(r.bytes().await.unwrap().to_vec(), face);

    // Encrypted at rest: no file under the blob directory starts like a JPEG or holds any
    // 32-byte run of either image (ciphertext holds a given 3 bytes now and then; 32 never).
    let plain_runs: std::collections::HashSet<Vec<u8>> =
        [face.clone(), photo_bytes("person_a_2.jpg")]
            .iter()
            .flat_map(|img| img.windows(32).map(<[u8]>::to_vec).collect::<Vec<_>>())
            .collect();
    let mut files = Vec::new();
    // The captures, not the session's wrapped data key (`blobs/keys/`).
    let mut stack = vec![app.data_dir.path().join("blobs/captures")];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p)
            } else {
                files.push(p)
            }
        }
    }
    assert_eq!(files.len(), 2);
    for f in files {
        let data = std::fs::read(&f).unwrap();
        assert!(
            !data.starts_with(&[0xFF, 0xD8, 0xFF]),
            "{} starts like a plain JPEG",
            f.display()
        );
        assert!(
            !data.windows(32).any(|w| plain_runs.contains(w)),
            "{} holds plaintext image bytes",
            f.display()
        );
    }

    // Roles and sessions.
    let cases: Vec<(&str, reqwest::RequestBuilder, u16, &str)> = vec![
        (
            "customer lists",
            app.http.get(&url).bearer_auth(&customer),
            403,
            "forbidden_role",
        ),
        (
            "observer uploads",
            app.http
                .post(&url)
                .bearer_auth(&observer)
                .json(&json!({"kind": "face", "image": b64(&face)})),
            403,
            "forbidden_role",
        ),
        (
            "foreign agent uploads",
            app.http
                .post(&url)
                .bearer_auth(&foreign_agent)
                .json(&json!({"kind": "face", "image": b64(&face)})),
            403,
            "forbidden_session",
        ),
        ("no token", app.http.get(&url), 401, "missing_credentials"),
        (
            "text file",
            app.http
                .post(&url)
                .bearer_auth(&agent)
                .json(&json!({"kind": "face", "image": b64(b"plain text")})),
            422,
            "image_unsupported",
        ),
        (
            "unknown kind",
            app.http
                .post(&url)
                .bearer_auth(&agent)
                .json(&json!({"kind": "selfie", "image": b64(&face)})),
            422,
            "validation_failed",
        ),
        (
            "unknown capture",
            app.http
                .get(format!("{url}/{}", uuid::Uuid::new_v4()))
                .bearer_auth(&agent),
            404,
            "capture_not_found",
        ),
        (
            "unknown session",
            app.http
                .get(format!(
                    "{}/v1/sessions/{}/captures",
                    app.base,
                    uuid::Uuid::new_v4()
                ))
                .bearer_auth(API_KEY),
            404,
            "session_not_found",
        ),
    ];
    for (name, req, status, code) in cases {
        let r = req.send().await.unwrap();
        let s = r.status().as_u16();
        let v: Value = r.json().await.unwrap_or(Value::Null);
        assert_eq!(
            (s, v["error"]["code"].as_str().unwrap_or("")),
            (status, code),
            "{name}: {v}"
        );
    }

    // One capture.stored event per capture, with ids only.
    let events = app.api.get("/v1/events?limit=1000").await.unwrap();
    let stored: Vec<&Value> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "capture.stored")
        .collect();
    assert_eq!(stored.len(), 2);
    let text = serde_json::to_string(&stored).unwrap();
    assert!(
        !text.contains("Capture Test") && !text.contains("sha256"),
        "{text}"
    );
}
