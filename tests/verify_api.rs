//! `/v1/verify/*` black-box: the real server on a random port with its real engines, JSON
//! and multipart bodies, the error codes of bad input, auth, and 429 when saturated.

mod common;

use common::*;
use reqwest::multipart::{Form, Part};
use serde_json::{json, Value};

async fn post_json(app: &TestApp, path: &str, body: &Value) -> (u16, Value, Option<String>) {
    let r = app
        .http
        .post(format!("{}{path}", app.base))
        .bearer_auth(API_KEY)
        .json(body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let retry = r
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_string());
    (status, r.json().await.unwrap_or(Value::Null), retry)
}

#[tokio::test]
async fn face_match_by_json_and_by_multipart() {
    let app = spawn_app_with_inference().await;
    let (s, v, _) = post_json(
        &app,
        "/v1/verify/face-match",
        &json!({"probe": b64(&photo_bytes("person_b_1.jpg")), "references": [b64(&photo_bytes("person_b_2.jpg")), b64(&photo_bytes("impostor_2.jpg"))]}),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["matched"], true, "{v}");
    assert!(v["score"].as_u64().unwrap() >= 60);
    assert_eq!(v["references"][0]["matched"], true);
    assert_eq!(v["references"][1]["matched"], false);
    assert!(v["probe"]["quality"]["sharpness"].as_f64().unwrap() > 10.0);

    let form = Form::new()
        .part(
            "probe",
            Part::bytes(photo_bytes("person_a_2.jpg"))
                .file_name("probe.jpg")
                .mime_str("image/jpeg")
                .unwrap(),
        )
        .part(
            "reference",
            Part::bytes(photo_bytes("person_b_2.jpg"))
                .file_name("ref.jpg")
                .mime_str("image/jpeg")
                .unwrap(),
        );
    let r = app
        .http
        .post(format!("{}/v1/verify/face-match", app.base))
        .bearer_auth(API_KEY)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["matched"], false, "{v}");
    assert!(v["score"].as_u64().unwrap() < 60);

    // Both calls are in the Prometheus metrics, by route (never a raw path) and engine.
    let text = app
        .http
        .get(format!("{}/metrics", app.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let line = |prefix: &str| {
        text.lines()
            .find(|l| {
                l.starts_with(prefix)
                    && l.contains("engine=\"face\"")
                    && l.contains("outcome=\"ok\"")
            })
            .map(str::to_string)
    };
    let count = line("vkyc_inference_seconds_count")
        .unwrap_or_else(|| panic!("no inference metric in:\n{text}"));
    assert!(
        count.rsplit(' ').next().unwrap().parse::<f64>().unwrap() >= 2.0,
        "{count}"
    );
    assert!(
        text.lines()
            .any(|l| l.starts_with("vkyc_http_requests_total")
                && l.contains("route=\"/v1/verify/face-match\"")
                && l.contains("status=\"200\"")),
        "{text}"
    );
    assert!(text.contains("vkyc_process_resident_bytes"));
}

#[tokio::test]
async fn bad_requests_get_precise_codes_and_the_server_keeps_working() {
    let app = spawn_app_with_inference().await;
    let good = b64(&photo_bytes("person_b_1.jpg"));
    let text = b64(b"just some text, not an image");
    let full = photo_bytes("person_b_2.jpg");
    let truncated = b64(&full[..full.len() / 2]);
    let cases: Vec<(&str, Value, u16, &str)> = vec![
        (
            "empty probe",
            json!({"probe": "", "references": [good]}),
            422,
            "image_empty",
        ),
        (
            "text file",
            json!({"probe": text, "references": [good]}),
            422,
            "image_unsupported",
        ),
        (
            "truncated jpeg",
            json!({"probe": truncated, "references": [good]}),
            422,
            "image_corrupt",
        ),
        (
            "no face",
            json!({"probe": b64(&blank_png()), "references": [good]}),
            422,
            "no_face",
        ),
        (
            "not base64",
            json!({"probe": "%%%", "references": [good]}),
            422,
            "invalid_base64",
        ),
        (
            "no references",
            json!({"probe": good, "references": []}),
            422,
            "validation_failed",
        ),
        (
            "wrong field type",
            json!({"probe": 5, "references": [good]}),
            422,
            "validation_failed",
        ),
    ];
    for (name, body, status, code) in cases {
        let (s, v, _) = post_json(&app, "/v1/verify/face-match", &body).await;
        assert_eq!(
            (s, v["error"]["code"].as_str().unwrap_or("")),
            (status, code),
            "{name}: {v}"
        );
    }
    // Wrong content type, malformed JSON, an oversized body, no key, a participant's token.
    let url = format!("{}/v1/verify/face-match", app.base);
    let r = app
        .http
        .post(&url)
        .bearer_auth(API_KEY)
        .header("content-type", "text/plain")
        .body("hello")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 415);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"]["code"],
        "unsupported_media_type"
    );
    let r = app
        .http
        .post(&url)
        .bearer_auth(API_KEY)
        .header("content-type", "application/json")
        .body("{\"probe\":")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"]["code"],
        "malformed_json"
    );
    let r = app
        .http
        .post(&url)
        .bearer_auth(API_KEY)
        .header("content-type", "application/json")
        .body(vec![b' '; 27 * 1024 * 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    let r = app.http.post(&url).json(&json!({})).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let session = app.api.create_session("Verify Test").await.unwrap();
    let token = app.api.token(&session, "customer").await.unwrap();
    let r = app
        .http
        .post(&url)
        .bearer_auth(&token.token)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    // Still answering correctly afterwards.
    let (s, v, _) = post_json(
        &app,
        "/v1/verify/face-match",
        &json!({"probe": good, "references": [b64(&photo_bytes("person_b_2.jpg"))]}),
    )
    .await;
    assert_eq!((s, v["matched"].as_bool()), (200, Some(true)), "{v}");
}

#[tokio::test]
async fn a_saturated_engine_answers_429_with_retry_after() {
    let app = spawn_app_with(|f| {
        f.merge(("inference.enabled", true))
            .merge(("inference.queue_per_worker", 1))
    })
    .await;
    let body = json!({"probe": b64(&photo_bytes("person_a_2.jpg")), "references": vec![b64(&photo_bytes("person_b_2.jpg")); 5]});
    let calls = (0..6).map(|_| {
        let (http, url, body) = (
            app.http.clone(),
            format!("{}/v1/verify/face-match", app.base),
            body.clone(),
        );
        tokio::spawn(async move {
            let r = http
                .post(url)
                .bearer_auth(API_KEY)
                .json(&body)
                .send()
                .await
                .unwrap();
            (
                r.status().as_u16(),
                r.headers()
                    .get("retry-after")
                    .map(|v| v.to_str().unwrap().to_string()),
            )
        })
    });
    let mut results = Vec::new();
    for c in calls.collect::<Vec<_>>() {
        results.push(c.await.unwrap());
    }
    println!("statuses: {results:?}");
    assert!(results.iter().any(|(s, _)| *s == 200), "{results:?}");
    assert!(
        results
            .iter()
            .any(|(s, r)| *s == 429 && r.as_deref() == Some("1")),
        "{results:?}"
    );
    assert!(
        results.iter().all(|(s, _)| *s == 200 || *s == 429),
        "{results:?}"
    );
}

#[tokio::test]
async fn verification_disabled_is_a_clear_503() {
    let app = spawn_app().await;
    let (s, v, _) = post_json(
        &app,
        "/v1/verify/face-match",
        &json!({"probe": "", "references": []}),
    )
    .await;
    assert_eq!(
        (s, v["error"]["code"].as_str().unwrap()),
        (503, "inference_disabled")
    );
}

fn blank_png() -> Vec<u8> {
    let img = image::RgbImage::from_pixel(400, 300, image::Rgb([90, 120, 150]));
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

async fn start_error(models_dir: &std::path::Path) -> String {
    let data_dir = tempfile::tempdir().unwrap();
    let fig = vkyc::config::Config::figment("test", None)
        .unwrap()
        .merge(("storage.data_dir", data_dir.path()))
        .merge(("inference.enabled", true))
        .merge(("inference.models_dir", models_dir));
    let config = vkyc::config::Config::extract(fig).unwrap();
    match vkyc::startup::Application::build(config).await {
        Ok(_) => panic!("the server started without its models"),
        Err(e) => format!("{e:#}"),
    }
}

#[tokio::test]
async fn a_missing_or_wrong_model_stops_the_start_naming_the_file() {
    let empty = tempfile::tempdir().unwrap();
    let e = start_error(empty.path()).await;
    println!("{e}");
    assert!(
        e.contains("is missing")
            && e.contains("libonnxruntime.so.1.31.1")
            && e.contains("models/setup.sh"),
        "{e}"
    );

    // Every file present (links to the real ones) but one with the wrong bytes.
    let real = vkyc_vision::runtime::default_models_dir();
    let dir = tempfile::tempdir().unwrap();
    for m in vkyc_vision::runtime::manifest().unwrap() {
        std::os::unix::fs::symlink(real.join(&m.file), dir.path().join(&m.file)).unwrap();
    }
    std::fs::remove_file(dir.path().join("fr_liveness.onnx")).unwrap();
    std::fs::write(dir.path().join("fr_liveness.onnx"), b"not a model").unwrap();
    let e = start_error(dir.path()).await;
    println!("{e}");
    assert!(
        e.contains("fr_liveness.onnx") && e.contains("SHA-256"),
        "{e}"
    );
}

fn jpeg(img: &image::RgbImage) -> Vec<u8> {
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 90)
        .encode_image(img)
        .unwrap();
    out
}

#[tokio::test]
async fn liveness_challenge_over_http_passes_once_and_cannot_be_replayed() {
    use vkyc_loadtest::headpose::{self, Move};
    let app = spawn_app_with_inference().await;
    let bytes = photo_bytes("person_b_1.jpg");
    let photo = image::load_from_memory(&bytes).unwrap().to_rgb8();
    let geom = face_geometry(&app, &bytes).await;

    let (s, ch, _) = post_json(&app, "/v1/verify/liveness/challenges", &json!({})).await;
    assert_eq!(s, 201, "{ch}");
    let moves: Vec<Move> = serde_json::from_value(ch["moves"].clone()).unwrap();
    assert_eq!(moves.len(), 3);
    let frames = headpose::challenge_frames(&photo, &geom, &moves, 8, 0.6);
    let body = json!({
        "challenge_id": ch["challenge_id"],
        "frames": frames.iter().enumerate().map(|(i, f)| json!({"image": b64(&jpeg(f)), "t_ms": i * 100})).collect::<Vec<_>>(),
    });
    let (s, v, _) = post_json(&app, "/v1/verify/liveness", &body).await;
    assert_eq!(s, 200, "{v}");
    println!(
        "moves {moves:?}: live={} score={} reasons={}",
        v["live"], v["score"], v["reasons"]
    );
    assert_eq!(v["live"], true, "{v}");
    assert!(v["score"].as_u64().unwrap() >= 60);

    // The same challenge again: gone.
    let (s, v, _) = post_json(&app, "/v1/verify/liveness", &body).await;
    assert_eq!(
        (s, v["error"]["code"].as_str().unwrap()),
        (404, "challenge_not_found")
    );

    // A still photo against a fresh challenge: answered, and not live.
    let (_, ch, _) = post_json(&app, "/v1/verify/liveness/challenges", &json!({})).await;
    let still = json!({
        "challenge_id": ch["challenge_id"],
        "frames": (0..10).map(|i| json!({"image": b64(&bytes), "t_ms": i * 100})).collect::<Vec<_>>(),
    });
    let (s, v, _) = post_json(&app, "/v1/verify/liveness", &still).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["live"], false, "{v}");
    assert!(
        v["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r.as_str().unwrap().starts_with("static_frames")),
        "{v}"
    );

    // Too few frames is a validation error, and does not use the challenge up.
    let (_, ch, _) = post_json(&app, "/v1/verify/liveness/challenges", &json!({})).await;
    let few =
        json!({"challenge_id": ch["challenge_id"], "frames": [{"image": b64(&bytes), "t_ms": 0}]});
    let (s, v, _) = post_json(&app, "/v1/verify/liveness", &few).await;
    assert_eq!(
        (s, v["error"]["code"].as_str().unwrap()),
        (422, "validation_failed")
    );
}

#[tokio::test]
async fn a_pan_card_is_read_and_its_photo_matches_another_photo_of_the_holder() {
    use vkyc_loadtest::cards;
    let app = spawn_app_with_inference().await;
    let fonts = cards::Fonts::system().expect("fonts");
    let face = cards::portrait_crop(
        &image::load_from_memory(&photo_bytes("person_b_1.jpg"))
            .unwrap()
            .to_rgb8(),
    );
    let (card, truth) = cards::pan_card(7, &face, &fonts);
    let body = json!({
        "kind": "pan",
        "image": b64(&jpeg(&card)),
        "applicant_name": truth.name.to_lowercase(),
        "probe": b64(&photo_bytes("person_b_2.jpg")),
    });
    let (s, v, _) = post_json(&app, "/v1/verify/document", &body).await;
    assert_eq!(s, 200, "{v}");
    println!(
        "fields {} name_match {} face_match score {}",
        v["fields"], v["name_match"], v["face_match"]["score"]
    );
    assert_eq!(
        v["fields"]["pan_number"].as_str(),
        truth.pan_number.as_deref(),
        "{v}"
    );
    assert_eq!(
        v["fields"]["date_of_birth"].as_str(),
        Some(truth.date_of_birth.as_str()),
        "{v}"
    );
    assert!(v["name_match"].as_u64().unwrap() >= 90, "{v}");
    assert_eq!(v["face_match"]["matched"], true, "{v}");
    assert!(v["face"]["image_jpeg_base64"].as_str().unwrap().len() > 1000);

    // Someone else's selfie against the card: no match. A text file as the card: its code.
    let body = json!({"kind": "pan", "image": b64(&jpeg(&card)), "probe": b64(&photo_bytes("impostor_2.jpg"))});
    let (s, v, _) = post_json(&app, "/v1/verify/document", &body).await;
    assert_eq!(
        (s, v["face_match"]["matched"].as_bool()),
        (200, Some(false)),
        "{v}"
    );
    let (s, v, _) = post_json(
        &app,
        "/v1/verify/document",
        &json!({"kind": "pan", "image": b64(b"hello")}),
    )
    .await;
    assert_eq!(
        (s, v["error"]["code"].as_str().unwrap()),
        (422, "image_unsupported")
    );
    let (s, v, _) = post_json(
        &app,
        "/v1/verify/document",
        &json!({"kind": "passport", "image": b64(b"hello")}),
    )
    .await;
    assert_eq!(
        (s, v["error"]["code"].as_str().unwrap()),
        (422, "validation_failed")
    );
}

/// The passive model is pluggable: a model file and its pre-processing come from config.
/// (Here the shipped file again, but loaded through `liveness.passive.model_path` with other
/// pre-processing, which changes its output.)
#[tokio::test]
async fn a_passive_model_from_config_is_loaded_and_used() {
    let shipped = vkyc_vision::runtime::default_models_dir().join("fr_liveness.onnx");
    let app = spawn_app_with(|f| {
        f.merge(("inference.enabled", true))
            .merge(("liveness.passive.model_path", shipped.to_str().unwrap()))
            .merge(("liveness.passive.channel_order", "bgr"))
            .merge(("liveness.passive.crop_scale", 1.5))
    })
    .await;
    let bytes = photo_bytes("person_b_1.jpg");
    let (_, ch, _) = post_json(&app, "/v1/verify/liveness/challenges", &json!({})).await;
    let still = json!({"challenge_id": ch["challenge_id"], "frames": (0..6).map(|i| json!({"image": b64(&bytes), "t_ms": i * 100})).collect::<Vec<_>>()});
    let (s, v, _) = post_json(&app, "/v1/verify/liveness", &still).await;
    assert_eq!(s, 200, "{v}");
    // With this crop the model calls the genuine photo live (0.999 measured; 0.002 with the default crop).
    let p = v["passive_live_probability"].as_f64().unwrap();
    assert!(p > 0.9, "{v}");

    // A configured model file that does not exist stops the start with its name.
    let data_dir = tempfile::tempdir().unwrap();
    let fig = vkyc::config::Config::figment("test", None)
        .unwrap()
        .merge(("storage.data_dir", data_dir.path()))
        .merge(("inference.enabled", true))
        .merge((
            "liveness.passive.model_path",
            "/nonexistent/better_liveness.onnx",
        ));
    let e = match vkyc::startup::Application::build(vkyc::config::Config::extract(fig).unwrap())
        .await
    {
        Ok(_) => panic!("started without the configured model"),
        Err(e) => format!("{e:#}"),
    };
    assert!(e.contains("/nonexistent/better_liveness.onnx"), "{e}");
}
