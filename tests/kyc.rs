//! The KYC workflow black-box, over HTTP with the real engines: a whole case (consent,
//! location, a synthetic PAN card, a face capture of the same person from another photo),
//! the agent's decision and the audit; a different person's face; the role matrix.

mod common;

use common::*;
use serde_json::{json, Value};
use vkyc_loadtest::cards;

struct Case {
    id: String,
    agent: String,
    customer: String,
    auditor: String,
}

async fn new_case(app: &TestApp, name: &str, workflow: Option<Value>) -> Case {
    let mut body = json!({"mode": "live_agent", "applicant": {"name": name}});
    if let Some(w) = workflow {
        body["workflow"] = w;
    }
    let r = app
        .http
        .post(format!("{}/v1/sessions", app.base))
        .bearer_auth(API_KEY)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let id = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    Case {
        agent: app.api.token(&id, "agent").await.unwrap().token,
        customer: app.api.token(&id, "customer").await.unwrap().token,
        auditor: app.api.token(&id, "observer").await.unwrap().token,
        id,
    }
}

async fn post(app: &TestApp, path: &str, token: &str, body: Value) -> (u16, Value) {
    call(app, reqwest::Method::POST, path, token, Some(body)).await
}

async fn capture(app: &TestApp, c: &Case, kind: &str, image: &[u8]) -> String {
    let (s, v) = post(
        app,
        &format!("/v1/sessions/{}/captures", c.id),
        &c.agent,
        json!({"kind": kind, "image": b64(image)}),
    )
    .await;
    assert_eq!(s, 201, "{v}");
    v["id"].as_str().unwrap().to_string()
}

fn jpeg(img: &image::RgbImage) -> Vec<u8> {
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 90)
        .encode_image(img)
        .unwrap();
    out
}

fn pan_card_of(photo: &str, seed: u64) -> (Vec<u8>, cards::CardTruth) {
    let fonts = cards::Fonts::system().expect("fonts");
    let face = cards::portrait_crop(
        &image::load_from_memory(&photo_bytes(photo))
            .unwrap()
            .to_rgb8(),
    );
    let (card, truth) = cards::pan_card(seed, &face, &fonts);
    (jpeg(&card), truth)
}

#[tokio::test]
async fn a_whole_kyc_case_is_recommended_approved_decided_and_audited() {
    let app = spawn_app_with_inference().await;
    let (card, truth) = pan_card_of("person_b_2.jpg", 11);
    let c = new_case(&app, &truth.name, None).await;
    let steps = format!("/v1/sessions/{}/steps", c.id);

    // The customer gives consent and location (Mumbai).
    let (s, v) = post(
        &app,
        &format!("{steps}/consent/attempts"),
        &c.customer,
        json!({"text_version": "v1", "given": true}),
    )
    .await;
    assert_eq!(
        (s, v["attempt"]["outcome"].as_str()),
        (201, Some("passed")),
        "{v}"
    );
    let (s, v) = post(
        &app,
        &format!("{steps}/location/attempts"),
        &c.customer,
        json!({"latitude": 19.07, "longitude": 72.88, "accuracy_m": 30.0}),
    )
    .await;
    assert_eq!(
        (s, v["attempt"]["outcome"].as_str()),
        (201, Some("passed")),
        "{v}"
    );
    assert_eq!(v["attempt"]["data"]["inside_region"], true);

    // The agent captures the PAN card.
    let doc = capture(&app, &c, "document", &card).await;
    let (s, v) = post(
        &app,
        &format!("{steps}/document/attempts"),
        &c.agent,
        json!({"capture_id": doc, "kind": "pan"}),
    )
    .await;
    assert_eq!(
        (s, v["attempt"]["outcome"].as_str()),
        (201, Some("passed")),
        "{v}"
    );
    assert_eq!(
        v["attempt"]["data"]["fields"]["pan_number"].as_str(),
        truth.pan_number.as_deref()
    );
    assert_eq!(v["attempt"]["scores"]["name_match"], 100);
    // Face: the agent starts a head-movement challenge; the customer follows it (another
    // photo of her, warped in 2.5-D); the frames go to the face step, which picks the most
    // frontal one for the face match.
    let (s, ch) = post(
        &app,
        &format!("{steps}/face/attempts"),
        &c.agent,
        json!({"action": "challenge"}),
    )
    .await;
    assert_eq!(s, 201, "{ch}");
    let moves: Vec<vkyc_loadtest::headpose::Move> =
        serde_json::from_value(ch["challenge"]["moves"].clone()).unwrap();
    let bytes = photo_bytes("person_b_1.jpg");
    let geom = face_geometry(&app, &bytes).await;
    let photo = image::load_from_memory(&bytes).unwrap().to_rgb8();
    let mut frames = vec![];
    for (i, f) in vkyc_loadtest::headpose::challenge_frames(&photo, &geom, &moves, 8, 0.6)
        .iter()
        .enumerate()
    {
        frames.push(
            json!({"capture_id": capture(&app, &c, "frame", &jpeg(f)).await, "t_ms": i * 125}),
        );
    }
    let body =
        json!({"liveness": {"challenge_id": ch["challenge"]["challenge_id"], "frames": frames}});
    let (s, v) = post(
        &app,
        &format!("{steps}/face/attempts"),
        &c.agent,
        body.clone(),
    )
    .await;
    assert_eq!(
        (s, v["attempt"]["outcome"].as_str()),
        (201, Some("passed")),
        "{v}"
    );
    assert_eq!(
        v["attempt"]["data"]["matches"][0]["source"],
        "document_photo"
    );
    assert_eq!(v["attempt"]["data"]["liveness"]["live"], true, "{v}");
    println!(
        "face match against the card photo: {}, liveness {}",
        v["attempt"]["scores"]["face_match"], v["attempt"]["scores"]["liveness"]
    );
    // A challenge answers once.
    let (s, v) = post(&app, &format!("{steps}/face/attempts"), &c.agent, body).await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (404, Some("challenge_not_found")),
        "{v}"
    );

    let (s, kyc) = call(
        &app,
        reqwest::Method::GET,
        &format!("/v1/sessions/{}/kyc", c.id),
        &c.agent,
        None,
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(kyc["recommendation"]["result"], "approved", "{kyc}");
    assert!(kyc["face_match_score"].as_u64().unwrap() >= 60);
    assert!(kyc["liveness_score"].as_u64().unwrap() >= 60);
    assert_eq!(kyc["name_match_score"], 100);
    assert_eq!(kyc["result"], Value::Null);

    // The agent decides, the auditor approves; the result document has it all.
    let (s, v) = post(
        &app,
        &format!("{steps}/face/decision"),
        &c.agent,
        json!({"verdict": "verified"}),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let (s, v) = post(
        &app,
        &format!("/v1/sessions/{}/decision", c.id),
        &c.agent,
        json!({"result": "approved", "notes": "documents in order"}),
    )
    .await;
    assert_eq!((s, v["result"].as_str()), (200, Some("approved")), "{v}");
    let (s, v) = post(
        &app,
        &format!("/v1/sessions/{}/audit", c.id),
        &c.auditor,
        json!({"verdict": "approved"}),
    )
    .await;
    assert_eq!((s, v["audited"].as_bool()), (200, Some(true)), "{v}");
    let (s, doc) = call(
        &app,
        reqwest::Method::GET,
        &format!("/v1/sessions/{}", c.id),
        API_KEY,
        None,
    )
    .await;
    assert_eq!(s, 200);
    let k = &doc["kyc"];
    assert_eq!(
        (k["result"].as_str(), k["agent_decision"]["notes"].as_str()),
        (Some("approved"), Some("documents in order"))
    );
    assert_eq!(k["steps"].as_array().unwrap().len(), 4);
    assert!(k["steps"]
        .as_array()
        .unwrap()
        .iter()
        .all(|s| s["attempts"].as_array().unwrap().len() == 1));
    // The result document follows its published schema.
    let schema: Value = app
        .http
        .get(format!("{}/v1/schema/session.json", app.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let validator = jsonschema::validator_for(&schema).expect("the schema is valid");
    let errors: Vec<String> = validator
        .iter_errors(&doc)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
    let mut broken = doc.clone();
    broken["kyc"]["steps"][0]["attempts"][0]["outcome"] = json!("maybe");
    assert!(
        !validator.is_valid(&broken),
        "the schema checks attempt outcomes"
    );
    // The customer sees the session, not the case.
    let (_, doc) = call(
        &app,
        reqwest::Method::GET,
        &format!("/v1/sessions/{}", c.id),
        &c.customer,
        None,
    )
    .await;
    assert!(doc.get("kyc").is_none());

    // Events: one per step, the decision and the audit; no personal data in them.
    let events = app.api.get("/v1/events?limit=1000").await.unwrap();
    let mine: Vec<&Value> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["session_id"] == c.id.as_str())
        .collect();
    let kinds: Vec<&str> = mine.iter().map(|e| e["type"].as_str().unwrap()).collect();
    for k in [
        "step.completed",
        "step.decided",
        "video.reviewed",
        "case.audited",
    ] {
        assert!(kinds.contains(&k), "{kinds:?}");
    }
    assert_eq!(kinds.iter().filter(|k| **k == "step.completed").count(), 4);
    // Read as parsed JSON: the location's digits may also be part of a timestamp
    // ("…T10:19:07.…Z"), which is not the location.
    let location = ["19.07", "72.88"];
    for (text, is_timestamp) in mine.iter().flat_map(|e| json_texts(e)) {
        for pii in [truth.name.as_str(), truth.pan_number.as_deref().unwrap()] {
            assert!(!text.contains(pii), "{pii} in events: {text}");
        }
        if !is_timestamp {
            for l in location {
                assert!(!text.contains(l), "the location ({l}) in events: {text}");
            }
        }
    }
}

/// Every key, string and number in a JSON value, as text, each with whether it is an
/// RFC 3339 timestamp.
fn json_texts(v: &Value) -> Vec<(String, bool)> {
    let mut out = vec![];
    let mut stack = vec![v];
    while let Some(v) = stack.pop() {
        match v {
            Value::String(s) => {
                out.push((s.clone(), chrono::DateTime::parse_from_rfc3339(s).is_ok()))
            }
            Value::Number(n) => out.push((n.to_string(), false)),
            Value::Array(a) => stack.extend(a),
            Value::Object(o) => {
                out.extend(o.keys().map(|k| (k.clone(), false)));
                stack.extend(o.values());
            }
            Value::Bool(_) | Value::Null => {}
        }
    }
    out
}

#[tokio::test]
async fn another_persons_face_is_recommended_for_rejection_and_retakes_are_kept() {
    let app = spawn_app_with_inference().await;
    let (card, truth) = pan_card_of("person_b_1.jpg", 12);
    let c = new_case(&app, &truth.name, Some(json!(["document", "face"]))).await;
    let steps = format!("/v1/sessions/{}/steps", c.id);
    let doc = capture(&app, &c, "document", &card).await;
    let (s, _) = post(
        &app,
        &format!("{steps}/document/attempts"),
        &c.agent,
        json!({"capture_id": doc, "kind": "pan"}),
    )
    .await;
    assert_eq!(s, 201);
    let impostor = capture(&app, &c, "face", &photo_bytes("impostor_2.jpg")).await;
    let (s, v) = post(
        &app,
        &format!("{steps}/face/attempts"),
        &c.agent,
        json!({"capture_id": impostor}),
    )
    .await;
    assert_eq!(
        (s, v["attempt"]["outcome"].as_str()),
        (201, Some("failed")),
        "{v}"
    );
    let (_, kyc) = call(
        &app,
        reqwest::Method::GET,
        &format!("/v1/sessions/{}/kyc", c.id),
        API_KEY,
        None,
    )
    .await;
    assert_eq!(kyc["recommendation"]["result"], "declined", "{kyc}");
    assert!(
        kyc["recommendation"]["reasons"][0]
            .as_str()
            .unwrap()
            .starts_with("face_mismatch"),
        "{kyc}"
    );

    // A retake with a picture without a face: a new attempt, the first is kept.
    let blank = capture(
        &app,
        &c,
        "face",
        &jpeg(&image::RgbImage::from_pixel(
            640,
            480,
            image::Rgb([90, 100, 110]),
        )),
    )
    .await;
    let (s, v) = post(
        &app,
        &format!("{steps}/face/attempts"),
        &c.agent,
        json!({"capture_id": blank}),
    )
    .await;
    assert_eq!(
        (
            s,
            v["attempt"]["outcome"].as_str(),
            v["attempt"]["n"].as_u64()
        ),
        (201, Some("error"), Some(2)),
        "{v}"
    );
    assert_eq!(v["attempt"]["errors"][0]["code"], "no_face");
    let (_, kyc) = call(
        &app,
        reqwest::Method::GET,
        &format!("/v1/sessions/{}/kyc", c.id),
        API_KEY,
        None,
    )
    .await;
    let face = kyc["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["type"] == "face")
        .unwrap();
    let outcomes: Vec<&str> = face["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, ["failed", "error"]);
    assert_eq!(kyc["recommendation"]["result"], "needs_review", "{kyc}");
}

#[tokio::test]
async fn every_call_checks_role_and_session() {
    let app = spawn_app().await;
    let a = new_case(&app, "Role Matrix", Some(json!(["consent", "location"]))).await;
    let b = new_case(&app, "Other Case", None).await;
    let sa = format!("/v1/sessions/{}", a.id);
    let consent = json!({"text_version": "v1", "given": true});
    let decision = json!({"result": "approved"});
    let audit = json!({"verdict": "approved"});
    #[allow(clippy::type_complexity)]
    let cases: Vec<(&str, String, &str, Value, u16, &str)> = vec![
        (
            "customer runs a document step",
            format!("{sa}/steps/document/attempts"),
            &a.customer,
            json!({}),
            403,
            "forbidden_role",
        ),
        (
            "observer runs consent",
            format!("{sa}/steps/consent/attempts"),
            &a.auditor,
            consent.clone(),
            403,
            "forbidden_role",
        ),
        (
            "customer decides",
            format!("{sa}/decision"),
            &a.customer,
            decision.clone(),
            403,
            "forbidden_role",
        ),
        (
            "customer decides a step",
            format!("{sa}/steps/consent/decision"),
            &a.customer,
            json!({"verdict": "verified"}),
            403,
            "forbidden_role",
        ),
        (
            "agent audits",
            format!("{sa}/audit"),
            &a.agent,
            audit.clone(),
            403,
            "forbidden_role",
        ),
        (
            "api key audits",
            format!("{sa}/audit"),
            API_KEY,
            audit.clone(),
            403,
            "forbidden_role",
        ),
        (
            "customer audits",
            format!("{sa}/audit"),
            &a.customer,
            audit.clone(),
            403,
            "forbidden_role",
        ),
        (
            "B's agent on A",
            format!("{sa}/steps/consent/attempts"),
            &b.agent,
            consent.clone(),
            403,
            "forbidden_session",
        ),
        (
            "B's auditor audits A",
            format!("{sa}/audit"),
            &b.auditor,
            audit.clone(),
            403,
            "forbidden_session",
        ),
        (
            "audit before a decision",
            format!("{sa}/audit"),
            &a.auditor,
            audit.clone(),
            409,
            "not_decided",
        ),
        (
            "unknown step",
            format!("{sa}/steps/selfie/attempts"),
            &a.agent,
            consent.clone(),
            404,
            "unknown_step",
        ),
        (
            "step not in workflow",
            format!("{sa}/steps/face/attempts"),
            &a.agent,
            json!({"capture_id": uuid::Uuid::new_v4()}),
            404,
            "capture_not_found",
        ),
        (
            "unknown consent text",
            format!("{sa}/steps/consent/attempts"),
            &a.customer,
            json!({"text_version": "v9", "given": true}),
            422,
            "validation_failed",
        ),
        (
            "latitude out of range",
            format!("{sa}/steps/location/attempts"),
            &a.customer,
            json!({"latitude": 95.0, "longitude": 1.0}),
            422,
            "validation_failed",
        ),
        (
            "needs_review is not a decision",
            format!("{sa}/decision"),
            &a.agent,
            json!({"result": "needs_review"}),
            422,
            "validation_failed",
        ),
        (
            "unknown session",
            format!("/v1/sessions/{}/decision", uuid::Uuid::new_v4()),
            API_KEY,
            decision.clone(),
            404,
            "session_not_found",
        ),
        (
            "customer starts a liveness challenge",
            format!("{sa}/steps/face/attempts"),
            &a.customer,
            json!({"action": "challenge"}),
            403,
            "forbidden_role",
        ),
        (
            "B's agent starts A's challenge",
            format!("{sa}/steps/face/attempts"),
            &b.agent,
            json!({"action": "challenge"}),
            403,
            "forbidden_session",
        ),
        (
            "challenge outside the workflow",
            format!("{sa}/steps/face/attempts"),
            &a.agent,
            json!({"action": "challenge"}),
            422,
            "step_not_in_workflow",
        ),
        (
            "liveness for a challenge never issued",
            format!("/v1/sessions/{}/steps/face/attempts", b.id),
            &b.agent,
            json!({"liveness": {"challenge_id": uuid::Uuid::new_v4(), "frames": []}}),
            422,
            "validation_failed",
        ),
        (
            "agent starts a self-recording",
            format!("{sa}/self-record"),
            &a.agent,
            json!({}),
            403,
            "forbidden_role",
        ),
        (
            "self-recording in a live session",
            format!("{sa}/self-record"),
            &a.customer,
            json!({}),
            409,
            "not_self_record",
        ),
        (
            "B's customer submits A's recording",
            format!("{sa}/self-record/submit"),
            &b.customer,
            json!({"frames": []}),
            403,
            "forbidden_session",
        ),
    ];
    for (name, path, token, body, status, code) in cases {
        let (s, v) = post(&app, &path, token, body).await;
        assert_eq!(
            (s, v["error"]["code"].as_str().unwrap_or("")),
            (status, code),
            "{name}: {v}"
        );
    }

    // A step outside the workflow: refused by the case itself.
    let face_capture = {
        let (s, v) = post(
            &app,
            &format!("{sa}/captures"),
            &a.agent,
            json!({"kind": "face", "image": b64(&photo_bytes("person_b_1.jpg"))}),
        )
        .await;
        assert_eq!(s, 201);
        v["id"].as_str().unwrap().to_string()
    };
    let (s, v) = post(
        &app,
        &format!("{sa}/steps/face/attempts"),
        &a.agent,
        json!({"capture_id": face_capture}),
    )
    .await;
    assert_eq!(
        (s, v["error"]["code"].as_str().unwrap()),
        (422, "step_not_in_workflow"),
        "{v}"
    );

    // Outside India, and a denied location: failed attempts with reasons, not errors.
    let (s, v) = post(
        &app,
        &format!("{sa}/steps/location/attempts"),
        &a.customer,
        json!({"latitude": 51.5, "longitude": -0.12}),
    )
    .await;
    assert_eq!(
        (
            s,
            v["attempt"]["outcome"].as_str(),
            v["attempt"]["errors"][0]["code"].as_str()
        ),
        (201, Some("failed"), Some("outside_region")),
        "{v}"
    );
    let (s, v) = post(
        &app,
        &format!("{sa}/steps/location/attempts"),
        &a.customer,
        json!({"error": "permission_denied"}),
    )
    .await;
    assert_eq!(
        (
            s,
            v["attempt"]["errors"][0]["code"].as_str(),
            v["attempt"]["n"].as_u64()
        ),
        (201, Some("location_unavailable"), Some(2)),
        "{v}"
    );

    // Decided once; a second decision is refused; the auditor then audits once.
    let (s, _) = post(&app, &format!("{sa}/decision"), &a.agent, decision.clone()).await;
    assert_eq!(s, 200);
    let (s, v) = post(&app, &format!("{sa}/decision"), API_KEY, decision.clone()).await;
    assert_eq!(
        (s, v["error"]["code"].as_str().unwrap()),
        (409, "already_decided")
    );
    let (s, _) = post(
        &app,
        &format!("{sa}/audit"),
        &a.auditor,
        json!({"verdict": "declined", "notes": "location outside India"}),
    )
    .await;
    assert_eq!(s, 200);
    let (_, kyc) = call(
        &app,
        reqwest::Method::GET,
        &format!("{sa}/kyc"),
        &a.auditor,
        None,
    )
    .await;
    assert_eq!(kyc["result"], "declined", "{kyc}");
}

#[tokio::test]
async fn otp_and_questions_keep_every_attempt_and_edit() {
    let app = spawn_app_with(|f| f.merge(("kyc.otp_notifier", "file"))).await;
    let c = new_case(&app, "Otp Person", Some(json!(["otp", "questions"]))).await;
    let steps = format!("/v1/sessions/{}/steps", c.id);
    let code_file = app
        .data_dir
        .path()
        .join("outbox")
        .join(format!("otp-{}.txt", c.id.replace('-', "")));

    let (s, v) = post(
        &app,
        &format!("{steps}/otp/attempts"),
        &c.customer,
        json!({"action": "send"}),
    )
    .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (403, Some("forbidden_role")),
        "the customer cannot send codes"
    );
    let (s, v) = post(
        &app,
        &format!("{steps}/otp/attempts"),
        &c.customer,
        json!({"code": "123456"}),
    )
    .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (409, Some("otp_not_sent")),
        "{v}"
    );
    let (s, v) = post(
        &app,
        &format!("{steps}/otp/attempts"),
        &c.customer,
        json!({"code": "12ab56"}),
    )
    .await;
    assert_eq!(
        (
            s,
            v["error"]["code"].as_str(),
            v["error"]["message"].as_str()
        ),
        (
            422,
            Some("validation_failed"),
            Some("code: exactly 6 digits")
        ),
        "{v}"
    );
    let (s, v) = post(
        &app,
        &format!("{steps}/otp/attempts"),
        &c.agent,
        json!({"action": "send"}),
    )
    .await;
    assert_eq!((s, v["sent"].as_bool()), (202, Some(true)), "{v}");
    let code = std::fs::read_to_string(&code_file).unwrap();
    assert_eq!(code.len(), 6);
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let (s, v) = post(
        &app,
        &format!("{steps}/otp/attempts"),
        &c.customer,
        json!({"code": wrong}),
    )
    .await;
    assert_eq!(
        (
            s,
            v["attempt"]["errors"][0]["code"].as_str(),
            v["attempt"]["data"]["tries_left"].as_u64()
        ),
        (201, Some("otp_mismatch"), Some(2)),
        "{v}"
    );
    let (s, v) = post(
        &app,
        &format!("{steps}/otp/attempts"),
        &c.customer,
        json!({"code": code}),
    )
    .await;
    assert_eq!(
        (
            s,
            v["attempt"]["outcome"].as_str(),
            v["attempt"]["n"].as_u64()
        ),
        (201, Some("passed"), Some(2)),
        "{v}"
    );
    // Used up: the same code does not work twice.
    let (s, _) = post(
        &app,
        &format!("{steps}/otp/attempts"),
        &c.customer,
        json!({"code": code}),
    )
    .await;
    assert_eq!(s, 409);

    // A new code, three wrong tries: exhausted, and then nothing to verify.
    post(
        &app,
        &format!("{steps}/otp/attempts"),
        &c.agent,
        json!({"action": "send"}),
    )
    .await;
    let code = std::fs::read_to_string(&code_file).unwrap();
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let mut last = Value::Null;
    for _ in 0..3 {
        last = post(
            &app,
            &format!("{steps}/otp/attempts"),
            &c.customer,
            json!({"code": wrong}),
        )
        .await
        .1;
    }
    assert_eq!(
        last["attempt"]["errors"][0]["code"], "otp_attempts_exhausted",
        "{last}"
    );
    let (s, v) = post(
        &app,
        &format!("{steps}/otp/attempts"),
        &c.customer,
        json!({"code": code}),
    )
    .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (409, Some("otp_not_sent")),
        "the right code after exhaustion is refused: {v}"
    );

    // Questions: a partial answer is recorded but does not pass; completed, then one edited
    // (sent alone: the others keep their values); the original stays beside the new value.
    let (s, v) = post(&app, &format!("{steps}/questions/attempts"), &c.agent, json!({"answers": [{"id": "purpose", "value": "Home renovation"}, {"id": "occupation", "value": "Teacher"}]})).await;
    assert_eq!(
        (
            s,
            v["attempt"]["outcome"].as_str(),
            v["attempt"]["errors"][0]["code"].as_str()
        ),
        (201, Some("failed"), Some("answer_missing")),
        "{v}"
    );
    let (s, v) = post(
        &app,
        &format!("{steps}/questions/attempts"),
        &c.agent,
        json!({"answers": [{"id": "address", "value": "12 MG Road, Pune"}]}),
    )
    .await;
    assert_eq!(
        (s, v["attempt"]["outcome"].as_str()),
        (201, Some("passed")),
        "{v}"
    );
    let (s, v) = post(
        &app,
        &format!("{steps}/questions/attempts"),
        &c.agent,
        json!({"answers": [{"id": "purpose", "value": "Home repair"}]}),
    )
    .await;
    assert_eq!(
        (s, v["attempt"]["outcome"].as_str()),
        (201, Some("passed")),
        "{v}"
    );
    let a = &v["attempt"]["data"]["answers"];
    assert_eq!(
        (
            a[0]["original"].as_str(),
            a[0]["value"].as_str(),
            a[0]["edited"].as_bool()
        ),
        (Some("Home renovation"), Some("Home repair"), Some(true)),
        "{v}"
    );
    assert_eq!(
        (a[1]["value"].as_str(), a[1]["edited"].as_bool()),
        (Some("Teacher"), Some(false))
    );
    assert_eq!(
        (a[2]["original"].as_str(), a[2]["edited"].as_bool()),
        (Some("12 MG Road, Pune"), Some(false)),
        "an empty first answer is not the original"
    );
    let (s, v) = post(
        &app,
        &format!("{steps}/questions/attempts"),
        &c.customer,
        json!({"answers": [{"id": "purpose", "value": "x"}]}),
    )
    .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (403, Some("forbidden_role"))
    );
    let (s, v) = post(
        &app,
        &format!("{steps}/questions/attempts"),
        &c.agent,
        json!({"answers": [{"id": "nope", "value": "x"}]}),
    )
    .await;
    assert_eq!(
        (
            s,
            v["error"]["code"].as_str(),
            v["error"]["message"].as_str()
        ),
        (
            422,
            Some("validation_failed"),
            Some(r#"answers: no question "nope""#)
        )
    );
    let (s, v) = post(
        &app,
        &format!("{steps}/questions/attempts"),
        &c.agent,
        json!({"answers": []}),
    )
    .await;
    assert_eq!(
        (s, v["error"]["message"].as_str()),
        (422, Some("answers: at least one"))
    );

    // Events never carry the code or the answers.
    let events = app.api.get("/v1/events?limit=1000").await.unwrap();
    let text = serde_json::to_string(&events).unwrap();
    assert!(
        !text.contains(&format!("\"{code}\"")) && !text.contains("Home re"),
        "secret or answer in events"
    );
    assert!(text.contains("otp.sent"));
}

async fn status_of(app: &TestApp, id: &str) -> String {
    app.api.get(&format!("/v1/sessions/{id}")).await.unwrap()["status"]
        .as_str()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn sessions_expire_by_timer_and_can_be_cancelled() {
    let app = spawn_app_with(|f| f.merge(("kyc.expiry_check_secs", 1))).await;
    let r = app
        .http
        .post(format!("{}/v1/sessions", app.base))
        .bearer_auth(API_KEY)
        .json(&json!({"mode": "live_agent", "applicant": {"name": "Late Person"}, "expires_in_secs": 1}))
        .send()
        .await
        .unwrap();
    let s: Value = r.json().await.unwrap();
    let id = s["id"].as_str().unwrap().to_string();
    assert_eq!(s["status"], "waiting");
    assert!(s["expires_at"].is_string());
    let (a, sid) = (&app, id.as_str());
    poll_until(
        "the expiry timer expires the session",
        60,
        move || async move { (status_of(a, sid).await == "expired").then_some(()) },
    )
    .await;
    let r = app
        .http
        .post(format!("{}/v1/sessions/{id}/tokens", app.base))
        .bearer_auth(API_KEY)
        .json(&json!({"role": "customer"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409, "no new links for an expired session");

    // Cancel: once; afterwards steps and captures are refused.
    let c = new_case(&app, "Cancel Person", None).await;
    let (s, v) = post(
        &app,
        &format!("/v1/sessions/{}/cancel", c.id),
        API_KEY,
        json!({}),
    )
    .await;
    assert_eq!((s, v["status"].as_str()), (200, Some("cancelled")), "{v}");
    let (s, v) = post(
        &app,
        &format!("/v1/sessions/{}/cancel", c.id),
        API_KEY,
        json!({}),
    )
    .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (409, Some("session_closed"))
    );
    // The cancelled session's tokens are revoked: its agent and customer are refused.
    let (s, v) = post(
        &app,
        &format!("/v1/sessions/{}/cancel", c.id),
        &c.agent,
        json!({}),
    )
    .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (401, Some("token_revoked"))
    );
    let (s, v) = post(
        &app,
        &format!("/v1/sessions/{}/steps/consent/attempts", c.id),
        &c.customer,
        json!({"text_version": "v1", "given": true}),
    )
    .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (401, Some("token_revoked"))
    );
    let (s, v) = post(
        &app,
        &format!("/v1/sessions/{}/steps/consent/attempts", c.id),
        API_KEY,
        json!({"text_version": "v1", "given": true}),
    )
    .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (409, Some("session_closed"))
    );
    let events = app.api.get("/v1/events?limit=1000").await.unwrap();
    let kinds: Vec<&str> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert!(
        kinds.contains(&"session.expired") && kinds.contains(&"session.cancelled"),
        "{kinds:?}"
    );
}

#[tokio::test]
async fn a_scheduled_session_opens_at_its_window_and_refuses_joins_before() {
    use futures_util::{SinkExt, StreamExt};
    let app = spawn_app_with(|f| f.merge(("kyc.expiry_check_secs", 1))).await;
    let now = chrono::Utc::now();
    let body = |starts: i64, ends: i64| {
        json!({"mode": "live_agent", "applicant": {"name": "Scheduled Person"},
               "schedule": {"starts_at": now + chrono::Duration::seconds(starts), "ends_at": now + chrono::Duration::seconds(ends)}})
    };
    for (name, b) in [
        ("ends before it starts", body(60, 30)),
        ("already over", body(-60, -30)),
    ] {
        let (s, v) = post(&app, "/v1/sessions", API_KEY, b).await;
        assert_eq!(
            (s, v["error"]["code"].as_str()),
            (422, Some("validation_failed")),
            "{name}: {v}"
        );
    }
    let mut both = body(60, 3600);
    both["expires_in_secs"] = json!(10);
    assert_eq!(post(&app, "/v1/sessions", API_KEY, both).await.0, 422);

    // Joining before the window opens is refused with a precise code (a window an hour
    // away: still closed however slowly this test runs).
    let (s, v) = post(&app, "/v1/sessions", API_KEY, body(3600, 7200)).await;
    assert_eq!((s, v["status"].as_str()), (201, Some("scheduled")), "{v}");
    let later = v["id"].as_str().unwrap().to_string();
    let token = app.api.token(&later, "customer").await.unwrap().token;
    let (mut ws, _) = tokio_tungstenite::connect_async(app.ws_url())
        .await
        .unwrap();
    ws.send(tokio_tungstenite::tungstenite::Message::Text(
        json!({"type": "join", "token": token}).to_string(),
    ))
    .await
    .unwrap();
    let mut code = String::new();
    while let Ok(Some(Ok(m))) =
        tokio::time::timeout(std::time::Duration::from_secs(5), ws.next()).await
    {
        if let tokio_tungstenite::tungstenite::Message::Text(t) = m {
            let v: Value = serde_json::from_str(&t).unwrap();
            if v["type"] == "error" {
                code = v["code"].as_str().unwrap().to_string();
                break;
            }
        }
    }
    assert_eq!(code, "session_not_started");
    assert_eq!(status_of(&app, &later).await, "scheduled");
    // The timer opens a window that starts in 2 s.
    let (s, v) = post(&app, "/v1/sessions", API_KEY, body(2, 3600)).await;
    assert_eq!((s, v["status"].as_str()), (201, Some("scheduled")), "{v}");
    let id = v["id"].as_str().unwrap().to_string();
    assert_eq!(v["expires_at"], v["schedule"]["ends_at"]);
    let (a, sid) = (&app, id.as_str());
    poll_until("the timer opens the window", 60, move || async move {
        (status_of(a, sid).await == "waiting").then_some(())
    })
    .await;
    let events = app.api.get("/v1/events?limit=1000").await.unwrap();
    assert!(events["events"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["type"] == "session.waiting" && e["session_id"] == id.as_str()));
}
