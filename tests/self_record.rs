//! Self-record sessions over HTTP with the real engines: consent, the script with a random
//! head-movement challenge, a resumable chunked video upload (offsets checked, resumed,
//! downloaded back byte for byte), the frames at the prompts (a real photo warped in 2.5-D
//! to follow the challenge), and the result the server sets on its own — approved for the
//! applicant; for someone else's face (never an automatic rejection) a second recording, and
//! when that fails too, a live-agent session the customer waits for in the queue.

mod common;

use common::*;
use serde_json::{json, Value};
use vkyc_loadtest::headpose::{self, Move};

struct SelfRecord {
    id: String,
    customer: String,
}

async fn new_self_record(app: &TestApp, reference: &str) -> SelfRecord {
    let body = json!({"mode": "self_record", "applicant": {"name": "Self Recorder"}, "workflow": ["consent", "face"], "video_max_duration": 45});
    let r = app
        .http
        .post(format!("{}/v1/sessions", app.base))
        .bearer_auth(API_KEY)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let s: Value = r.json().await.unwrap();
    assert_eq!(
        (s["mode"].as_str(), s["video_max_duration"].as_u64()),
        (Some("self_record"), Some(45))
    );
    let id = s["id"].as_str().unwrap().to_string();
    // The lender's photo of the applicant.
    let (st, v) = call(
        app,
        reqwest::Method::POST,
        &format!("/v1/sessions/{id}/captures"),
        API_KEY,
        Some(json!({"kind": "reference", "image": b64(&photo_bytes(reference))})),
    )
    .await;
    assert_eq!(st, 201, "{v}");
    SelfRecord {
        customer: app.api.token(&id, "customer").await.unwrap().token,
        id,
    }
}

async fn put_chunk(
    app: &TestApp,
    sr: &SelfRecord,
    video: &[u8],
    from: usize,
    to: usize,
    ctype: &str,
) -> (u16, Value) {
    let r = app
        .http
        .put(format!(
            "{}/v1/sessions/{}/self-record/video",
            app.base, sr.id
        ))
        .bearer_auth(&sr.customer)
        .header("content-type", ctype)
        .header(
            "content-range",
            format!("bytes {from}-{}/{}", to - 1, video.len()),
        )
        .body(video[from..to].to_vec())
        .send()
        .await
        .unwrap();
    let s = r.status().as_u16();
    (s, r.json().await.unwrap_or(Value::Null))
}

fn jpeg(img: &image::RgbImage) -> Vec<u8> {
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 90)
        .encode_image(img)
        .unwrap();
    out
}

/// Starts, uploads `video` in three chunks, sends frames of `photo` following the
/// challenge, waits for the result; returns the session document.
/// Consent, then one recording: the session document once its checks are done.
async fn record_and_submit(app: &TestApp, sr: &SelfRecord, photo: &str, video: &[u8]) -> Value {
    let steps = format!("/v1/sessions/{}/steps", sr.id);
    let (s, v) = call(
        app,
        reqwest::Method::POST,
        &format!("{steps}/consent/attempts"),
        &sr.customer,
        Some(json!({"text_version": "v1", "given": true})),
    )
    .await;
    assert_eq!(s, 201, "{v}");
    let st = record_once(app, sr, photo, video).await;
    assert_eq!(st["phase"], "done", "{st}");
    call(
        app,
        reqwest::Method::GET,
        &format!("/v1/sessions/{}", sr.id),
        API_KEY,
        None,
    )
    .await
    .1
}

/// Starts (again), uploads the video and the challenge frames of `photo`, submits, and waits
/// for the checks: the self-record status after them.
async fn record_once(app: &TestApp, sr: &SelfRecord, photo: &str, video: &[u8]) -> Value {
    let (s, script) = call(
        app,
        reqwest::Method::POST,
        &format!("/v1/sessions/{}/self-record", sr.id),
        &sr.customer,
        None,
    )
    .await;
    assert_eq!(s, 201, "{script}");
    assert_eq!(script["video_max_duration_secs"], 45);
    let moves: Vec<Move> = serde_json::from_value(script["challenge"]["moves"].clone()).unwrap();
    let prompt_moves: Vec<&str> = script["prompts"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["move"].as_str())
        .collect();
    assert_eq!(prompt_moves.len(), moves.len());

    let third = video.len() / 3;
    for (a, b) in [(0, third), (third, 2 * third), (2 * third, video.len())] {
        let (s, v) = put_chunk(app, sr, video, a, b, "video/webm").await;
        assert!(s == 200 || s == 201, "{s} {v}");
    }
    let bytes = photo_bytes(photo);
    let geom = face_geometry(app, &bytes).await;
    let img = image::load_from_memory(&bytes).unwrap().to_rgb8();
    let mut frames = vec![];
    for (i, f) in headpose::challenge_frames(&img, &geom, &moves, 8, 0.6)
        .iter()
        .enumerate()
    {
        let (s, c) = call(
            app,
            reqwest::Method::POST,
            &format!("/v1/sessions/{}/captures", sr.id),
            &sr.customer,
            Some(json!({"kind": "frame", "image": b64(&jpeg(f))})),
        )
        .await;
        assert_eq!(s, 201, "{c}");
        frames.push(json!({"capture_id": c["id"], "t_ms": i * 125}));
    }
    let (s, v) = call(
        app,
        reqwest::Method::POST,
        &format!("/v1/sessions/{}/self-record/submit", sr.id),
        &sr.customer,
        Some(json!({"frames": frames})),
    )
    .await;
    assert_eq!((s, v["phase"].as_str()), (202, Some("processing")), "{v}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(90);
    loop {
        let (_, st) = call(
            app,
            reqwest::Method::GET,
            &format!("/v1/sessions/{}/self-record", sr.id),
            &sr.customer,
            None,
        )
        .await;
        if st["phase"] != "processing" {
            return st;
        }
        assert!(std::time::Instant::now() < deadline, "still {st}");
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
}

#[tokio::test]
async fn a_self_recorded_session_is_uploaded_resumably_and_approved_by_the_system() {
    let app = spawn_app_with_inference().await;
    let sr = new_self_record(&app, "person_b_2.jpg").await;
    let path = format!("/v1/sessions/{}/self-record", sr.id);

    // Not before consent; not by the agent; not a live session's call.
    let (s, v) = call(&app, reqwest::Method::POST, &path, &sr.customer, None).await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (409, Some("consent_required")),
        "{v}"
    );
    let agent = app.api.token(&sr.id, "agent").await.unwrap().token;
    let (s, _) = call(&app, reqwest::Method::POST, &path, &agent, None).await;
    assert_eq!(s, 403);

    // The upload's rules, before the real run: chunks in order, a clear offset to resume.
    let video: Vec<u8> = (0..300_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    call(
        &app,
        reqwest::Method::POST,
        &format!("/v1/sessions/{}/steps/consent/attempts", sr.id),
        &sr.customer,
        Some(json!({"text_version": "v1", "given": true})),
    )
    .await;
    let (s, _) = call(&app, reqwest::Method::POST, &path, &sr.customer, None).await;
    assert_eq!(s, 201);
    let (s, v) = put_chunk(&app, &sr, &video, 0, 100_000, "video/webm").await;
    assert_eq!(
        (s, v["video_received"].as_u64()),
        (200, Some(100_000)),
        "{v}"
    );
    let (s, v) = put_chunk(&app, &sr, &video, 0, 100_000, "video/webm").await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (409, Some("upload_offset_mismatch")),
        "{v}"
    );
    let (s, v) = put_chunk(&app, &sr, &video, 200_000, 300_000, "video/webm").await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (409, Some("upload_offset_mismatch")),
        "{v}"
    );
    let (s, v) = put_chunk(&app, &sr, &video, 100_000, 200_000, "text/plain").await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (415, Some("unsupported_media_type")),
        "{v}"
    );
    let r = app
        .http
        .put(format!(
            "{}/v1/sessions/{}/self-record/video",
            app.base, sr.id
        ))
        .bearer_auth(&sr.customer)
        .header("content-type", "video/webm")
        .body(vec![1u8; 10])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let (s, v) = call(
        &app,
        reqwest::Method::POST,
        &format!("{path}/submit"),
        &sr.customer,
        Some(json!({"frames": []})),
    )
    .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (409, Some("video_incomplete")),
        "{v}"
    );
    // Resume from where the server says.
    let (_, st) = call(&app, reqwest::Method::GET, &path, &sr.customer, None).await;
    assert_eq!(
        (
            st["video_received"].as_u64(),
            st["video_complete"].as_bool()
        ),
        (Some(100_000), Some(false))
    );

    // The real run: (re)start, upload, frames, result.
    let doc = record_and_submit(&app, &sr, "person_b_1.jpg", &video).await;
    assert_eq!(doc["status"], "completed", "{doc}");
    assert_session_schema(&app, &doc).await;
    let k = &doc["kyc"];
    println!(
        "self-record: face match {}, liveness {}, result {}",
        k["face_match_score"], k["liveness_score"], k["result"]
    );
    assert_eq!(k["result"], "approved", "{k}");
    assert_eq!(k["agent_decision"]["by"], "system:self_record");
    assert!(
        k["face_match_score"].as_u64().unwrap() >= 60
            && k["liveness_score"].as_u64().unwrap() >= 60,
        "{k}"
    );
    let face = k["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["type"] == "face")
        .unwrap();
    assert_eq!(
        face["attempts"][0]["data"]["matches"][0]["source"]
            .as_str()
            .map(|s| s.starts_with("reference:")),
        Some(true)
    );

    // The video comes back as uploaded, to the lender and the auditor, not to the customer.
    let r = app
        .http
        .get(format!("{}{path}/video", app.base))
        .bearer_auth(API_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["content-type"], "video/webm");
    assert_eq!(r.bytes().await.unwrap().as_ref(), video.as_slice());
    let (s, _) = call(
        &app,
        reqwest::Method::GET,
        &format!("{path}/video"),
        &sr.customer,
        None,
    )
    .await;
    assert_eq!(s, 403);
    // Once: the submitted session is completed.
    let (s, v) = call(&app, reqwest::Method::POST, &path, &sr.customer, None).await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (409, Some("session_closed")),
        "{v}"
    );

    let events = app.api.get("/v1/events?limit=1000").await.unwrap();
    let kinds: Vec<&str> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["session_id"] == sr.id.as_str())
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    for k in [
        "self_record.started",
        "self_record.submitted",
        "self_record.completed",
        "video.completed",
        "step.completed",
        "video.reviewed",
    ] {
        assert!(kinds.contains(&k), "{k} missing from {kinds:?}");
    }
}

/// A self-record status as (phase, failed checks, session status, session mode).
fn where_it_is(st: &Value) -> (&str, u64, &str, &str) {
    (
        st["phase"].as_str().unwrap_or("-"),
        st["failed_checks"].as_u64().unwrap_or(0),
        st["status"].as_str().unwrap_or("-"),
        st["mode"].as_str().unwrap_or("-"),
    )
}

#[tokio::test]
async fn someone_elses_face_is_recorded_again_then_goes_to_a_live_agent_in_the_queue() {
    let app = spawn_app_with_inference().await;
    let sr = new_self_record(&app, "person_b_2.jpg").await;
    let steps = format!("/v1/sessions/{}/steps", sr.id);
    let (s, _) = call(
        &app,
        reqwest::Method::POST,
        &format!("{steps}/consent/attempts"),
        &sr.customer,
        Some(json!({"text_version": "v1", "given": true})),
    )
    .await;
    assert_eq!(s, 201);

    // The first video fails its checks: the customer is asked to record again.
    let st = record_once(&app, &sr, "person_a_1.jpg", &[7u8; 5000]).await;
    assert_eq!(
        where_it_is(&st),
        ("recording", 1, "in_progress", "self_record"),
        "{st}"
    );
    let doc = app
        .api
        .get(&format!("/v1/sessions/{}", sr.id))
        .await
        .unwrap();
    let k = &doc["kyc"];
    println!(
        "self-record impostor: face match {}, liveness {}, reasons {}",
        k["face_match_score"], k["liveness_score"], k["recommendation"]["reasons"]
    );
    assert!(k["agent_decision"].is_null(), "no result yet: {k}");
    assert_eq!(k["recommendation"]["result"], "declined");
    assert!(
        k["recommendation"]["reasons"][0]
            .as_str()
            .unwrap()
            .starts_with("face_mismatch"),
        "{k}"
    );

    // The second fails too: the session becomes a live-agent session, waiting.
    let st = record_once(&app, &sr, "person_a_1.jpg", &[8u8; 5000]).await;
    assert_eq!(
        where_it_is(&st),
        ("live_agent", 2, "waiting", "live_agent"),
        "{st}"
    );
    let doc = app
        .api
        .get(&format!("/v1/sessions/{}", sr.id))
        .await
        .unwrap();
    assert_eq!(
        (doc["mode"].as_str(), doc["status"].as_str()),
        (Some("live_agent"), Some("waiting"))
    );
    let face = doc["kyc"]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["type"] == "face")
        .unwrap();
    assert_eq!(
        face["attempts"].as_array().unwrap().len(),
        2,
        "both failed checks kept"
    );
    assert!(doc["kyc"]["agent_decision"].is_null(), "the agent decides");
    // No more recording; the last video stays for the agent and the auditor.
    let path = format!("/v1/sessions/{}/self-record", sr.id);
    let (s, v) = call(&app, reqwest::Method::POST, &path, &sr.customer, None).await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (409, Some("handed_to_agent")),
        "{v}"
    );
    let r = app
        .http
        .get(format!("{}{path}/video", app.base))
        .bearer_auth(API_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.bytes().await.unwrap().as_ref(), &[8u8; 5000][..]);

    // The customer's page takes them to the queue: the desk takes them as any live call.
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    let url = format!("{}/v1/queue/ws", app.ws_url().split("/v1/").next().unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    ws.send(Message::Text(
        json!({"type": "enter", "token": sr.customer}).to_string(),
    ))
    .await
    .unwrap();
    let first = loop {
        match tokio::time::timeout(std::time::Duration::from_secs(10), ws.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => break serde_json::from_str::<Value>(&t).unwrap(),
            Ok(Some(Ok(_))) => continue,
            other => panic!("no answer from the queue: {other:?}"),
        }
    };
    assert_eq!(
        (first["type"].as_str(), first["position"].as_u64()),
        (Some("queued"), Some(1)),
        "{first}"
    );

    let events = app.api.get("/v1/events?limit=1000").await.unwrap();
    let failed: Vec<&Value> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["session_id"] == sr.id.as_str() && e["type"] == "self_record.check_failed")
        .map(|e| &e["data"])
        .collect();
    assert_eq!(
        failed,
        [
            &json!({"failed_checks": 1, "next": "retry"}),
            &json!({"failed_checks": 2, "next": "live_agent"})
        ]
    );
}

/// Revocation at completion: the customer's link keeps working for
/// `auth.customer_token_grace_secs` (their page shows the result), then is refused; the
/// agent's token, issued before, still reads the session for the decision and the audit.
#[tokio::test]
async fn a_completed_sessions_customer_link_is_revoked_after_its_grace() {
    let app = spawn_app_with(|f| {
        f.merge(("inference.enabled", true))
            .merge(("auth.customer_token_grace_secs", 10))
    })
    .await;
    let sr = new_self_record(&app, "person_b_2.jpg").await;
    let agent = app.api.token(&sr.id, "agent").await.unwrap().token;
    let video: Vec<u8> = (0..200_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    let session = record_and_submit(&app, &sr, "person_b_1.jpg", &video).await;
    assert_eq!(session["status"], "completed", "{session}");
    let path = format!("/v1/sessions/{}", sr.id);
    // Within the grace the customer's page still reads the result.
    let (s, _) = call(
        &app,
        reqwest::Method::GET,
        &format!("{path}/self-record"),
        &sr.customer,
        None,
    )
    .await;
    assert_eq!(s, 200);
    // A generous grace, so a slow machine cannot spend it before the read above.
    tokio::time::sleep(std::time::Duration::from_secs(11)).await;
    let (s, v) = call(&app, reqwest::Method::GET, &path, &sr.customer, None).await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (401, Some("token_revoked")),
        "{v}"
    );
    let (s, _) = call(&app, reqwest::Method::GET, &path, &agent, None).await;
    assert_eq!(s, 200, "the agent's token stays for the decision");
}
