//! Issue 14's black-box checks that are not elsewhere: join tokens revoked with their session,
//! and the rate limits of `[limits]` (each bites, per address or per credential, with 429
//! `rate_limited` and `Retry-After`, and leaves other callers alone).

mod common;

use common::{spawn_app, spawn_app_with, API_KEY};
use reqwest::StatusCode;
use serde_json::{json, Value};

/// `common::call` with the `Retry-After` header too.
async fn send(
    app: &common::TestApp,
    method: reqwest::Method,
    path: impl Into<String>,
    bearer: impl Into<String>,
    body: Option<Value>,
) -> (u16, Value, Option<String>) {
    let (path, bearer) = (path.into(), bearer.into());
    let mut req = app
        .http
        .request(method, format!("{}{path}", app.base))
        .bearer_auth(bearer);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    let retry = res
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_string());
    (status, res.json().await.unwrap_or(Value::Null), retry)
}

async fn get(app: &common::TestApp, path: &str, bearer: &str) -> (u16, Value) {
    common::call(app, reqwest::Method::GET, path, bearer, None).await
}

#[tokio::test]
async fn tokens_of_a_cancelled_session_are_refused() {
    let app = spawn_app().await;
    let sid = app.api.create_session("Asha Rao").await.unwrap();
    let customer = app.api.token(&sid, "customer").await.unwrap().token;
    let agent = app.api.token(&sid, "agent").await.unwrap().token;
    let path = format!("/v1/sessions/{sid}");
    assert_eq!(get(&app, &path, &customer).await.0, 200);
    assert_eq!(get(&app, &path, &agent).await.0, 200);

    let (s, _, _) = send(
        &app,
        reqwest::Method::POST,
        &format!("{path}/cancel"),
        API_KEY,
        None,
    )
    .await;
    assert_eq!(s, 200);
    for token in [&customer, &agent] {
        let (s, body) = get(&app, &path, token).await;
        assert_eq!(
            (s, body["error"]["code"].as_str()),
            (401, Some("token_revoked")),
            "{body}"
        );
        let (s, body, _) = send(
            &app,
            reqwest::Method::POST,
            &format!("{path}/steps/consent/attempts"),
            token,
            Some(json!({"given": true, "text_version": "v1"})),
        )
        .await;
        assert_eq!(
            (s, body["error"]["code"].as_str()),
            (401, Some("token_revoked")),
            "{body}"
        );
    }
    // The API key still reads the session, and no new token is issued for it.
    assert_eq!(get(&app, &path, API_KEY).await.0, 200);
    let (s, body, _) = send(
        &app,
        reqwest::Method::POST,
        &format!("{path}/tokens"),
        API_KEY,
        Some(json!({"role": "customer"})),
    )
    .await;
    assert_eq!(
        (s, body["error"]["code"].as_str()),
        (409, Some("session_closed"))
    );
    // Another session's tokens are untouched.
    let other = app.api.create_session("Ravi Kumar").await.unwrap();
    let t = app.api.token(&other, "customer").await.unwrap().token;
    assert_eq!(get(&app, &format!("/v1/sessions/{other}"), &t).await.0, 200);
}

/// A name of letters only: "Applicant ab".
fn name(i: usize) -> String {
    let letter = |n: usize| (b'a' + (n % 26) as u8) as char;
    format!("Applicant {}{}", letter(i / 26), letter(i))
}

fn limited(f: figment::Figment, limits: &[(&str, u32)]) -> figment::Figment {
    limits
        .iter()
        .fold(f, |f, (k, v)| f.merge((format!("limits.{k}"), *v)))
}

fn assert_limited(what: &str, got: (u16, Value, Option<String>)) {
    let (status, body, retry) = got;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (429, Some("rate_limited")),
        "{what}: {body}"
    );
    let secs: u64 = retry
        .unwrap_or_else(|| panic!("{what}: no Retry-After"))
        .parse()
        .unwrap();
    assert!((1..=60).contains(&secs), "{what}: Retry-After {secs}");
}

#[tokio::test]
async fn wrong_credentials_from_one_address_are_limited_then_all_its_credentials() {
    let app = spawn_app_with(|f| limited(f, &[("auth_failures_per_ip", 5)])).await;
    for i in 0..5 {
        let (s, body) = get(&app, "/v1/sessions", &format!("wrong-key-{i}")).await;
        assert_eq!(s, 401, "{body}");
    }
    assert_limited(
        "a sixth wrong key",
        send(
            &app,
            reqwest::Method::GET,
            "/v1/sessions",
            "wrong-key-6",
            None,
        )
        .await,
    );
    // A right guess is not answered either, so the limit bounds the guessing.
    assert_limited(
        "the right key from the blocked address",
        send(&app, reqwest::Method::GET, "/v1/sessions", API_KEY, None).await,
    );
    // Requests without credentials are not guesses: the health probe still answers.
    let health = app
        .http
        .get(format!("{}/healthz", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), StatusCode::OK);
}

#[tokio::test]
async fn session_creation_token_issue_otp_and_verify_have_their_limits() {
    let app = spawn_app_with(|f| {
        limited(
            f,
            &[
                ("sessions_per_credential", 3),
                ("tokens_per_credential", 4),
                ("otp_per_session", 2),
                ("verify_per_credential", 2),
            ],
        )
    })
    .await;
    let mut sessions = vec![];
    for i in 0..3 {
        sessions.push(app.api.create_session(&name(i)).await.unwrap());
    }
    let create = || {
        send(
            &app,
            reqwest::Method::POST,
            "/v1/sessions",
            API_KEY,
            Some(json!({"applicant": {"name": "One Too Many"}})),
        )
    };
    assert_limited("a fourth session", create().await);

    let token = |sid: String| {
        send(
            &app,
            reqwest::Method::POST,
            format!("/v1/sessions/{sid}/tokens"),
            API_KEY,
            Some(json!({"role": "customer"})),
        )
    };
    let mut customers = vec![];
    for sid in sessions.iter().take(2) {
        for _ in 0..2 {
            let (s, body, _) = token(sid.clone()).await;
            assert_eq!(s, 201, "{body}");
            customers.push(body["token"].as_str().unwrap().to_string());
        }
    }
    assert_limited("a fifth token", token(sessions[2].clone()).await);

    // OTP attempts are counted per session: the first session's third is refused, the
    // second session's first is not.
    let otp = |sid: &str, bearer: &str| {
        send(
            &app,
            reqwest::Method::POST,
            format!("/v1/sessions/{sid}/steps/otp/attempts"),
            bearer.to_string(),
            Some(json!({"code": "123456"})),
        )
    };
    for _ in 0..2 {
        let (s, body, _) = otp(&sessions[0], &customers[0]).await;
        assert_ne!(s, 429, "{body}");
    }
    assert_limited(
        "a third code for one session",
        otp(&sessions[0], &customers[0]).await,
    );
    let (s, body, _) = otp(&sessions[1], &customers[2]).await;
    assert_ne!(s, 429, "another session: {body}");

    let verify = || {
        send(
            &app,
            reqwest::Method::POST,
            "/v1/verify/face-match",
            API_KEY,
            Some(json!({"probe": "", "references": []})),
        )
    };
    for _ in 0..2 {
        assert_ne!(verify().await.0, 429);
    }
    assert_limited("a third verify call", verify().await);
}

#[tokio::test]
async fn socket_joins_are_limited_per_address() {
    let app = spawn_app_with(|f| limited(f, &[("joins_per_ip", 2)])).await;
    let url = app.ws_url();
    for _ in 0..2 {
        tokio_tungstenite::connect_async(&url)
            .await
            .expect("a join within the limit");
    }
    match tokio_tungstenite::connect_async(&url).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(res)) => {
            assert_eq!(res.status().as_u16(), 429);
            assert!(res.headers().contains_key("retry-after"));
        }
        other => panic!("a third join: {:?}", other.map(|_| ())),
    }
}

#[tokio::test]
async fn default_limits_leave_ordinary_traffic_alone() {
    let app = spawn_app().await;
    // A burst like a lender's backend at the start of the day: 100 sessions, a token each.
    let mut handles = vec![];
    for i in 0..100 {
        let api = app.api.clone();
        handles.push(tokio::spawn(async move {
            let sid = api.create_session(&name(i)).await.unwrap();
            api.token(&sid, "customer").await.unwrap();
        }));
    }
    for h in handles {
        h.await.unwrap();
    }
}

#[tokio::test]
async fn reads_of_personal_data_and_decisions_are_in_the_activity_log() {
    let app = spawn_app().await;
    let sid = app.api.create_session("Asha Rao").await.unwrap();
    let agent = app.api.token(&sid, "agent").await.unwrap();
    let (s, cap, _) = send(
        &app,
        reqwest::Method::POST,
        format!("/v1/sessions/{sid}/captures"),
        API_KEY,
        Some(
            json!({"kind": "frame", "image": common::b64(&common::photo_bytes("person_b_1.jpg"))}),
        ),
    )
    .await;
    assert_eq!(s, 201, "{cap}");
    let cap_id = cap["id"].as_str().unwrap();
    let image = app
        .http
        .get(format!("{}/v1/sessions/{sid}/captures/{cap_id}", app.base))
        .bearer_auth(&agent.token)
        .send()
        .await
        .unwrap();
    assert_eq!(image.status(), 200);
    assert_eq!(
        get(&app, &format!("/v1/sessions/{sid}/kyc"), API_KEY)
            .await
            .0,
        200
    );
    // Reading the log is not itself logged, and a customer may not read it.
    let customer = app.api.token(&sid, "customer").await.unwrap().token;
    let (s, body) = get(&app, &format!("/v1/activity?session={sid}"), &customer).await;
    assert_eq!(
        (s, body["error"]["code"].as_str()),
        (403, Some("forbidden_role"))
    );

    let (s, log) = get(&app, &format!("/v1/activity?session={sid}"), API_KEY).await;
    assert_eq!(s, 200, "{log}");
    assert_eq!(log["intact"], json!(true), "{log}");
    let entries = log["entries"].as_array().unwrap();
    let actions: Vec<_> = entries
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["capture_read", "case_read"]);
    let first = &entries[0];
    assert_eq!(first["seq"], json!(1));
    assert_eq!(first["target"].as_str(), Some(cap_id));
    assert_eq!(first["actor"]["kind"], json!("participant"));
    assert_eq!(first["actor"]["role"], json!("agent"));
    assert_eq!(first["from"], json!("127.0.0.1"));
    assert_eq!(entries[1]["prev"], first["mac"], "chained");
    assert_eq!(entries[1]["actor"]["kind"], json!("api_key"));
    // No personal data in an entry.
    assert!(!log.to_string().contains("Asha"), "{log}");
    // Another session's log is its own (empty) chain.
    let other = app.api.create_session("Ravi Kumar").await.unwrap();
    let (_, log) = get(&app, &format!("/v1/activity?session={other}"), API_KEY).await;
    assert_eq!(
        (log["entries"].as_array().unwrap().len(), &log["intact"]),
        (0, &json!(true))
    );
}

/// The data dir's log changed behind the server's back, as someone with access to the
/// database file would: `vkyc activity verify` names the broken chain and where.
#[tokio::test]
async fn a_tampered_activity_log_is_detected_by_the_cli() {
    use redb::ReadableTable;
    use vkyc::store::activity::ACTIVITY;
    use vkyc::store::ActivityStore;
    use vkyc_domain::activity::{ActivityAction, Actor, NewActivity};

    let dir = tempfile::tempdir().unwrap();
    let config = vkyc::config::Config::extract(
        vkyc::config::Config::figment("test", None)
            .unwrap()
            .merge(("storage.data_dir", dir.path())),
    )
    .unwrap();
    let key = vkyc::activity::chain_key(&config).unwrap();
    let (kept, changed) = (vkyc_domain::SessionId::new(), vkyc_domain::SessionId::new());
    {
        let store = vkyc::store::EmbeddedStore::open(dir.path()).unwrap();
        for sid in [kept, changed] {
            for i in 0..3 {
                let new = NewActivity {
                    session_id: sid,
                    actor: Actor::system("test"),
                    action: ActivityAction::CaseRead,
                    target: Some(format!("read {i}")),
                    from: Some("127.0.0.1".into()),
                    at: chrono::Utc::now(),
                };
                store.append_activity(&key, new).await.unwrap();
            }
        }
    }
    let verify = || {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_vkyc"))
            .args(["activity", "verify"])
            .env("VKYC_PROFILE", "test")
            .env("VKYC_STORAGE__DATA_DIR", dir.path())
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).to_string(),
        )
    };
    let (code, out) = verify();
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("2 chains, 6 entries checked, 0 broken"),
        "{out}"
    );

    let db = dir.path().join("vkyc.redb");
    let edit = |f: &dyn Fn(&mut redb::Table<(u128, u64), &'static [u8]>)| {
        let db = redb::Database::open(&db).unwrap();
        let tx = db.begin_write().unwrap();
        f(&mut tx.open_table(ACTIVITY).unwrap());
        tx.commit().unwrap();
    };
    // Who read it is changed on the second entry.
    edit(&|t| {
        let k = (changed.as_u128(), 2u64);
        let bytes = t.get(k).unwrap().unwrap().value().to_vec();
        let mut e: Value = serde_json::from_slice(&bytes).unwrap();
        e["from"] = json!("127.0.0.99");
        t.insert(k, serde_json::to_vec(&e).unwrap().as_slice())
            .unwrap();
    });
    let (code, out) = verify();
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains(&format!(
            "BROKEN session {changed}: entry 2: its MAC does not match"
        )),
        "{out}"
    );
    assert!(out.contains("1 broken"), "{out}");
    // The last entry of the other chain is removed.
    edit(&|t| {
        t.remove((kept.as_u128(), 3u64)).unwrap();
    });
    let (code, out) = verify();
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains(&format!(
            "BROKEN session {kept}: the chain has 2 entries, its head says 3"
        )),
        "{out}"
    );
}

fn files_under(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| {
                    if e.path().is_dir() {
                        files_under(&e.path())
                    } else {
                        1
                    }
                })
                .sum()
        })
        .unwrap_or(0)
}

/// Retention of seconds on the embedded store: a finished session's captures (files and rows),
/// case and personal fields go, `data.purged` says so; a session under a legal hold keeps
/// everything until the hold is lifted. (The ScyllaDB adapter's purge is in the store
/// contract, against kassandra.)
#[tokio::test]
async fn expired_data_is_purged_and_a_held_session_is_kept() {
    let app = spawn_app_with(|f| {
        let f = [
            "captures",
            "recordings",
            "self_record_videos",
            "personal_fields",
            "case_documents",
        ]
        .iter()
        .fold(f, |f, k| f.merge((format!("retention.{k}"), "1s")));
        f.merge(("retention.every_secs", 1))
    })
    .await;
    let image = common::b64(&common::photo_bytes("person_b_1.jpg"));
    let mut sessions = vec![];
    for name in ["Asha Rao", "Ravi Kumar"] {
        let sid = app.api.create_session(name).await.unwrap();
        let (s, cap, _) = send(
            &app,
            reqwest::Method::POST,
            format!("/v1/sessions/{sid}/captures"),
            API_KEY,
            Some(json!({"kind": "frame", "image": image})),
        )
        .await;
        assert_eq!(s, 201, "{cap}");
        sessions.push((sid, cap["id"].as_str().unwrap().to_string()));
    }
    let (purged, held) = (&sessions[0], &sessions[1]);
    let (s, body, _) = send(
        &app,
        reqwest::Method::PUT,
        format!("/v1/sessions/{}/legal-hold", held.0),
        API_KEY,
        Some(json!({"reason": "matter 2026-114"})),
    )
    .await;
    assert_eq!(
        (s, &body["legal_hold"]["reason"]),
        (200, &json!("matter 2026-114")),
        "{body}"
    );
    for (sid, _) in &sessions {
        let (s, _, _) = send(
            &app,
            reqwest::Method::POST,
            format!("/v1/sessions/{sid}/cancel"),
            API_KEY,
            None,
        )
        .await;
        assert_eq!(s, 200);
    }
    let blobs = app.data_dir.path().join("blobs");
    let simple = |sid: &str| sid.replace('-', "");
    let dir_of = |sid: &str| blobs.join("captures").join(simple(sid));
    assert_eq!(files_under(&dir_of(&purged.0)), 1);

    let session = common::poll_until("the purge", 30, || async {
        let (_, s) = get(&app, &format!("/v1/sessions/{}", purged.0), API_KEY).await;
        (s["purged"].as_array().map_or(0, |p| p.len()) == 5).then_some(s)
    })
    .await;
    assert_eq!(
        session["purged"],
        json!([
            "captures",
            "recordings",
            "self_record_videos",
            "personal_fields",
            "case_documents"
        ])
    );
    let key_file = blobs
        .join("keys")
        .join(format!("{}.json", simple(&purged.0)));
    assert!(
        !key_file.exists(),
        "every file purged: the data key is shredded"
    );
    assert!(blobs
        .join("keys")
        .join(format!("{}.json", simple(&held.0)))
        .exists());
    assert_eq!(session["applicant"]["name"], json!("[erased]"));
    assert_eq!(
        files_under(&dir_of(&purged.0)),
        0,
        "the capture's file is gone"
    );
    let (s, body) = get(
        &app,
        &format!("/v1/sessions/{}/captures", purged.0),
        API_KEY,
    )
    .await;
    assert_eq!(
        (s, body["captures"].as_array().map(Vec::len)),
        (200, Some(0)),
        "{body}"
    );
    let (s, body) = get(
        &app,
        &format!("/v1/sessions/{}/captures/{}", purged.0, purged.1),
        API_KEY,
    )
    .await;
    assert_eq!(
        (s, body["error"]["code"].as_str()),
        (404, Some("capture_not_found"))
    );
    let (_, events) = get(&app, "/v1/events?limit=500", API_KEY).await;
    let event = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["type"] == "data.purged" && e["session_id"] == json!(purged.0))
        .unwrap_or_else(|| panic!("no data.purged: {events}"))
        .clone();
    assert_eq!(event["data"]["files"], json!(1));
    assert!(!event.to_string().contains("Asha"));
    let (_, log) = get(&app, &format!("/v1/activity?session={}", purged.0), API_KEY).await;
    assert!(
        log["entries"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "purged"),
        "{log}"
    );

    // The held session: everything kept, several runs later.
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    let (_, s) = get(&app, &format!("/v1/sessions/{}", held.0), API_KEY).await;
    assert_eq!(
        (&s["purged"], &s["applicant"]["name"]),
        (&Value::Null, &json!("Ravi Kumar"))
    );
    assert_eq!(files_under(&dir_of(&held.0)), 1);
    // Lifted, it is purged in its turn.
    let (s, _, _) = send(
        &app,
        reqwest::Method::DELETE,
        format!("/v1/sessions/{}/legal-hold", held.0),
        API_KEY,
        None,
    )
    .await;
    assert_eq!(s, 200);
    common::poll_until("the purge after the hold", 30, || async {
        (files_under(&dir_of(&held.0)) == 0).then_some(())
    })
    .await;
}

/// `vkyc rotate-keys` beside a running server: a new key-encryption key, every session's
/// data key rewrapped, the files still readable by the server and by a store opened afresh.
#[tokio::test]
async fn rotate_keys_rewraps_every_data_key_and_files_stay_readable() {
    let app = spawn_app().await;
    let sid = app.api.create_session("Asha Rao").await.unwrap();
    let (s, cap, _) = send(
        &app,
        reqwest::Method::POST,
        format!("/v1/sessions/{sid}/captures"),
        API_KEY,
        Some(
            json!({"kind": "frame", "image": common::b64(&common::photo_bytes("person_b_1.jpg"))}),
        ),
    )
    .await;
    assert_eq!(s, 201, "{cap}");
    let rotate = || {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_vkyc"))
            .arg("rotate-keys")
            .env("VKYC_PROFILE", "test")
            .env("VKYC_STORAGE__DATA_DIR", app.data_dir.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    assert!(rotate().contains("key-encryption key is now kek-2; 1 data keys rewrapped"));
    assert!(rotate().contains("kek-3; 1 data keys rewrapped"));
    let key_file = app
        .data_dir
        .path()
        .join("blobs/keys")
        .join(format!("{}.json", sid.replace('-', "")));
    let wrapped: Value = serde_json::from_slice(&std::fs::read(key_file).unwrap()).unwrap();
    assert_eq!(wrapped["kek"], json!("kek-3"));
    let image = format!(
        "/v1/sessions/{sid}/captures/{}",
        cap["id"].as_str().unwrap()
    );
    let res = app
        .http
        .get(format!("{}{image}", app.base))
        .bearer_auth(API_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let config = vkyc::config::Config::extract(
        vkyc::config::Config::figment("test", None)
            .unwrap()
            .merge(("storage.data_dir", app.data_dir.path())),
    )
    .unwrap();
    use vkyc_blob::BlobStore;
    let fresh = vkyc::store::open_blobs(&config).unwrap();
    let key = format!(
        "captures/{}/{}",
        sid.replace('-', ""),
        cap["id"].as_str().unwrap().replace('-', "")
    );
    assert_eq!(
        fresh.get(&key).await.unwrap().unwrap(),
        common::photo_bytes("person_b_1.jpg")
    );
}
