//! Call recordings over HTTP.
//!
//! | route | who |
//! |---|---|
//! | `GET /v1/sessions/{id}/recordings` | api key; the session's agent or observer (auditor) |
//! | `GET /v1/recordings/{id}` | same: metadata, tracks (roles), the session's location |
//! | `GET /v1/recordings/{id}/url` | same: a signed media URL valid for `recording.url_ttl_secs` |
//! | `GET /v1/recordings/{id}/media?expires=&sig=` | anyone holding a valid signed URL |
//!
//! The media endpoint decrypts the file chunk by chunk as it streams, and answers `Range`
//! requests (206) so a `<video>` element can seek. A signed URL is
//! `HMAC-SHA256(url key, "{recording id}.{expires}")`, hex; the URL key is derived from the
//! server's token secret. Expired → 403 `signed_url_expired`; anything else wrong → 403
//! `signed_url_invalid`.

use actix_web::http::header;
use actix_web::{get, web, HttpRequest, HttpResponse};
use chrono::Utc;
use futures_util::stream;
use hmac::{Hmac, Mac};
use serde::Deserialize;
use serde_json::json;
use sha2::Sha256;
use utoipa::IntoParams;
use uuid::Uuid;
use vkyc_domain::kyc::StepType;
use vkyc_domain::Role;

use crate::access::{AgentOrObserver, Caller, RoleSet, SessionCaller};
use crate::error::{ApiError, AuthErrors, ErrorBody};
use crate::openapi::*;
use crate::startup::AppState;
use crate::store::{Recording, RecordingStatus};
use vkyc_domain::activity::ActivityAction;

pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(list)
        .service(get)
        .service(signed_url)
        .service(media);
}

/// Who may read a session's recordings (besides the API key).
const READERS: &[Role] = AgentOrObserver::ROLES;

fn not_found() -> ApiError {
    ApiError::not_found("recording_not_found", "no recording with this id")
}

async fn load(state: &AppState, id: Uuid) -> Result<Recording, ApiError> {
    state
        .store
        .get_recording(id)
        .await
        .map_err(|e| ApiError::internal("get_recording", e))?
        .ok_or_else(not_found)
}

/// A session's call recordings.
#[utoipa::path(tag = "recordings", operation_id = "list_recordings", params(("id" = Uuid, Path, description = "The session")), security(("api_key" = []), ("join_token" = ["agent", "observer"])),
    responses((status = 200, description = "The recordings", body = RecordingListDoc), AuthErrors, (status = 404, description = "`session_not_found`", body = ErrorBody)))]
#[get("/sessions/{id}/recordings")]
async fn list(
    state: web::Data<AppState>,
    SessionCaller { session, .. }: SessionCaller<AgentOrObserver>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(json!({"recordings": state.store.list_recordings(session.id).await.map_err(|e| ApiError::internal("list_recordings", e))?})))
}

/// Who may read a recording: the api key, or the agent / observer of its session (for a
/// group call, of the parent session whose room was recorded, or of an applicant in it).
/// Another session's token gets the answer an unknown id gets (404 `recording_not_found`):
/// whether a recording exists is not told to whoever may not read it.
async fn authorize(caller: &Caller, state: &AppState, rec: &Recording) -> Result<(), ApiError> {
    authorize_session(caller, state, rec).await.map_err(|e| {
        if e.code == "forbidden_session" {
            not_found()
        } else {
            e
        }
    })
}

async fn authorize_session(
    caller: &Caller,
    state: &AppState,
    rec: &Recording,
) -> Result<(), ApiError> {
    if caller.require_session(rec.session_id, READERS).is_ok() {
        return Ok(());
    }
    if let Caller::Participant(c) = caller {
        if let Ok(Some(s)) = state.store.get_session(c.sid).await {
            if s.parent_id == Some(rec.session_id) {
                return caller.require_session(c.sid, READERS);
            }
        }
    }
    caller.require_session(rec.session_id, READERS)
}

/// A recording with who was in the call and where the customer was. A group applicant's
/// agent or observer token may read the parent's recording.
#[utoipa::path(tag = "recordings", operation_id = "get_recording", params(("id" = Uuid, Path, description = "The recording")), security(("api_key" = []), ("join_token" = ["agent", "observer"])),
    responses((status = 200, description = "The recording", body = RecordingDocumentDoc), AuthErrors, (status = 404, description = "`recording_not_found`", body = ErrorBody)))]
#[get("/recordings/{id}")]
async fn get(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    caller: Caller,
) -> Result<HttpResponse, ApiError> {
    // Authenticated first: without a valid token nothing is said about the recording.
    let rec = load(&state, id.into_inner()).await?;
    authorize(&caller, &state, &rec).await?;
    // The document tells where the customer was.
    crate::activity::record(
        &state,
        &req,
        &caller,
        rec.session_id,
        ActivityAction::RecordingRead,
        Some(format!("{} document", rec.id)),
    )
    .await?;
    let session = crate::api::load_session(&state, rec.session_id).await?;
    let case = crate::kyc_api::stored_case(&state, &session).await?;
    // Where the customer was: the location step's last passing attempt.
    let location = case
        .steps
        .iter()
        .find(|s| s.step_type == StepType::Location)
        .and_then(|s| {
            s.attempts
                .iter()
                .rev()
                .find(|a| a.outcome == vkyc_domain::kyc::Outcome::Passed)
        })
        .and_then(|a| a.data.as_ref());
    let mut doc =
        serde_json::to_value(&rec).map_err(|e| ApiError::internal("recording json", e))?;
    doc["location"] = json!(location);
    doc["participants"] = json!(rec
        .tracks
        .iter()
        .map(|t| (t.participant_id.clone(), t.role.as_str()))
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .map(|(participant_id, role)| json!({"participant_id": participant_id, "role": role}))
        .collect::<Vec<_>>());
    Ok(HttpResponse::Ok().json(doc))
}

fn signature(key: &[u8], id: Uuid, expires: i64) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("any key length");
    mac.update(format!("{id}.{expires}").as_bytes());
    mac
}

/// A signed URL of the recording's media, valid for `recording.url_ttl_secs`.
#[utoipa::path(tag = "recordings", params(("id" = Uuid, Path, description = "The recording")), security(("api_key" = []), ("join_token" = ["agent", "observer"])),
    responses((status = 200, description = "The signed URL", body = SignedUrlDoc), AuthErrors, (status = 404, description = "`recording_not_found`", body = ErrorBody), (status = 409, description = "`recording_in_progress`: the call is still being recorded", body = ErrorBody)))]
#[get("/recordings/{id}/url")]
async fn signed_url(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    caller: Caller,
) -> Result<HttpResponse, ApiError> {
    // Authenticated first: without a valid token nothing is said about the recording.
    let rec = load(&state, id.into_inner()).await?;
    authorize(&caller, &state, &rec).await?;
    if rec.status == RecordingStatus::Recording {
        return Err(ApiError::conflict(
            "recording_in_progress",
            "the call is still being recorded",
        ));
    }
    let expires = Utc::now().timestamp() + state.config.recording.url_ttl_secs as i64;
    let sig = signature(&state.recording_url_key, rec.id, expires)
        .finalize()
        .into_bytes();
    let sig: String = sig.iter().map(|b| format!("{b:02x}")).collect();
    crate::activity::record(
        &state,
        &req,
        &caller,
        rec.session_id,
        ActivityAction::RecordingLinkIssued,
        Some(format!("{} link {}", rec.id, &sig[..16])),
    )
    .await?;
    let path = format!(
        "/v1/recordings/{}/media?expires={expires}&sig={sig}",
        rec.id
    );
    Ok(HttpResponse::Ok().json(json!({
        "url": format!("{}{path}", state.public_url.trim_end_matches('/')),
        "path": path,
        "expires_at": chrono::DateTime::from_timestamp(expires, 0),
        "status": rec.status,
    })))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct MediaQuery {
    /// Unix seconds, from the signed URL.
    expires: Option<i64>,
    /// Hex HMAC-SHA256, from the signed URL.
    sig: Option<String>,
}

fn hex_decode(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// A parsed `Range: bytes=…` header: the inclusive byte range to send, or why it can't be.
#[derive(Debug, PartialEq)]
enum RangeReq {
    Whole,
    Part(u64, u64),
    Unsatisfiable,
}

fn parse_range(header: Option<&str>, len: u64) -> RangeReq {
    let Some(h) = header else {
        return RangeReq::Whole;
    };
    let Some(spec) = h.trim().strip_prefix("bytes=") else {
        return RangeReq::Whole;
    };
    // One range only; a multi-range request gets the whole file (allowed by RFC 9110).
    if spec.contains(',') {
        return RangeReq::Whole;
    }
    let Some((a, b)) = spec.split_once('-') else {
        return RangeReq::Unsatisfiable;
    };
    let (a, b) = (a.trim(), b.trim());
    let range = match (a.parse::<u64>().ok(), b.parse::<u64>().ok()) {
        (Some(start), Some(end)) if start <= end => Some((start, end.min(len.saturating_sub(1)))),
        (Some(start), None) if b.is_empty() => Some((start, len.saturating_sub(1))),
        (None, Some(n)) if a.is_empty() && n > 0 => {
            Some((len.saturating_sub(n), len.saturating_sub(1)))
        }
        _ => None,
    };
    match range {
        Some((start, end)) if start < len && start <= end => RangeReq::Part(start, end),
        _ => RangeReq::Unsatisfiable,
    }
}

/// The recording's WebM, decrypted as it streams. No bearer token: the signed URL is the
/// credential. `Range: bytes=…` is answered with 206 so a `<video>` can seek.
#[utoipa::path(tag = "recordings", operation_id = "recording_media", params(("id" = Uuid, Path, description = "The recording"), MediaQuery), security(()),
    responses((status = 200, description = "The whole file", content_type = "video/webm"), (status = 206, description = "The requested byte range (`Content-Range`)", content_type = "video/webm"), (status = 400, description = "`invalid_query`, `invalid_path`", body = ErrorBody), (status = 403, description = "`signed_url_invalid`, `signed_url_expired`", body = ErrorBody), (status = 404, description = "`recording_not_found`, `recording_file_missing`", body = ErrorBody), (status = 416, description = "`range_not_satisfiable`", body = ErrorBody)))]
#[get("/recordings/{id}/media")]
async fn media(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    q: web::Query<MediaQuery>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let invalid = || {
        ApiError::forbidden(
            "signed_url_invalid",
            "this link is not valid for this recording",
        )
    };
    let (Some(expires), Some(sig)) = (q.expires, q.sig.as_deref()) else {
        return Err(invalid());
    };
    let sig = hex_decode(sig).ok_or_else(invalid)?;
    signature(&state.recording_url_key, id, expires)
        .verify_slice(&sig)
        .map_err(|_| invalid())?;
    if Utc::now().timestamp() > expires {
        return Err(ApiError::forbidden(
            "signed_url_expired",
            "this link has expired; ask for a new one",
        ));
    }
    let rec = load(&state, id).await?;
    let blobs = state.blobs.clone();
    let key = rec.blob_key.clone();
    let reader = web::block(move || blobs.open_stream(&key))
        .await
        .map_err(|e| ApiError::internal("open recording", e))?
        .map_err(|e| ApiError::internal("open recording", e))?
        .ok_or_else(|| {
            ApiError::not_found(
                "recording_file_missing",
                "the recording's file is not in the blob store",
            )
        })?;
    let len = reader.len();
    let range = parse_range(
        req.headers()
            .get(header::RANGE)
            .and_then(|v| v.to_str().ok()),
        len,
    );
    // One entry per playback, not per range a player asks for: the read from byte 0.
    if matches!(range, RangeReq::Whole | RangeReq::Part(0, _)) {
        let link = vkyc_domain::activity::Actor {
            kind: "signed_url".into(),
            id: q.sig.as_deref().unwrap_or("").chars().take(16).collect(),
            email: None,
            role: None,
        };
        crate::activity::record_as(
            &state,
            &req,
            link,
            rec.session_id,
            ActivityAction::RecordingRead,
            Some(rec.id.to_string()),
        )
        .await?;
    }
    let (start, end, mut resp) = match range {
        RangeReq::Whole if len == 0 => {
            return Ok(HttpResponse::Ok().content_type("video/webm").finish())
        }
        RangeReq::Whole => (0, len - 1, HttpResponse::Ok()),
        RangeReq::Part(a, b) => {
            let mut r = HttpResponse::PartialContent();
            r.insert_header((header::CONTENT_RANGE, format!("bytes {a}-{b}/{len}")));
            (a, b, r)
        }
        RangeReq::Unsatisfiable => {
            return Ok(HttpResponse::RangeNotSatisfiable()
                .insert_header((header::CONTENT_RANGE, format!("bytes */{len}")))
                .json(json!({"error": {"code": "range_not_satisfiable", "message": format!("the file has {len} bytes")}})));
        }
    };
    const PIECE: u64 = 256 * 1024;
    let body = stream::unfold((reader, start), move |(mut reader, pos)| async move {
        if pos > end {
            return None;
        }
        let n = (end + 1 - pos).min(PIECE) as usize;
        let read = tokio::task::spawn_blocking(move || {
            let mut buf = vec![0u8; n];
            let got = reader.read_at(pos, &mut buf);
            (reader, buf, got)
        })
        .await;
        match read {
            Ok((reader, mut buf, Ok(got))) if got > 0 => {
                buf.truncate(got);
                Some((
                    Ok::<_, actix_web::Error>(web::Bytes::from(buf)),
                    (reader, pos + got as u64),
                ))
            }
            Ok((_, _, Err(e))) => {
                tracing::error!(error = %e, "recording read failed");
                Some((
                    Err(actix_web::error::ErrorInternalServerError("read failed")),
                    (noop_reader(), end + 1),
                ))
            }
            _ => None,
        }
    });
    Ok(resp
        .content_type("video/webm")
        .insert_header((header::ACCEPT_RANGES, "bytes"))
        .insert_header((header::CACHE_CONTROL, "private, no-store"))
        .no_chunking(end + 1 - start)
        .streaming(body))
}

/// Stands in for a reader after an error (the stream ends right after).
fn noop_reader() -> Box<dyn vkyc_blob::StreamReader> {
    struct Done;
    impl vkyc_blob::StreamReader for Done {
        fn len(&self) -> u64 {
            0
        }
        fn read_at(&mut self, _: u64, _: &mut [u8]) -> std::io::Result<usize> {
            Ok(0)
        }
    }
    Box::new(Done)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_parse_like_rfc_9110() {
        assert_eq!(parse_range(None, 100), RangeReq::Whole);
        assert_eq!(parse_range(Some("bytes=0-"), 100), RangeReq::Part(0, 99));
        assert_eq!(
            parse_range(Some("bytes=10-19"), 100),
            RangeReq::Part(10, 19)
        );
        assert_eq!(
            parse_range(Some("bytes=90-200"), 100),
            RangeReq::Part(90, 99)
        );
        assert_eq!(parse_range(Some("bytes=-10"), 100), RangeReq::Part(90, 99));
        assert_eq!(
            parse_range(Some("bytes=100-"), 100),
            RangeReq::Unsatisfiable
        );
        assert_eq!(
            parse_range(Some("bytes=20-10"), 100),
            RangeReq::Unsatisfiable
        );
        assert_eq!(parse_range(Some("bytes=x-y"), 100), RangeReq::Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=0-1,5-6"), 100), RangeReq::Whole);
    }

    #[test]
    fn signatures_bind_the_recording_and_the_expiry() {
        let id = Uuid::new_v4();
        let sig = signature(b"k", id, 100).finalize().into_bytes();
        assert!(signature(b"k", id, 100).verify_slice(&sig).is_ok());
        assert!(signature(b"k", id, 101).verify_slice(&sig).is_err());
        assert!(signature(b"k", Uuid::new_v4(), 100)
            .verify_slice(&sig)
            .is_err());
        assert!(signature(b"other", id, 100).verify_slice(&sig).is_err());
    }
}

/// Property tests of the `Range` parser (README: Fuzzing).
#[cfg(test)]
mod fuzz {
    use super::*;
    use crate::fuzz_support::{cases, config};
    use proptest::prelude::*;

    /// A file length: empty, tiny, ordinary, or at the top of `u64`.
    fn lens() -> impl Strategy<Value = u64> {
        prop_oneof![
            Just(0u64),
            Just(1u64),
            2u64..1000,
            any::<u64>(),
            Just(u64::MAX),
            Just(u64::MAX - 1),
        ]
    }

    /// A position near `len` (or anywhere), as the number it is.
    fn positions() -> impl Strategy<Value = u64> {
        prop_oneof![0u64..2000, any::<u64>(), Just(u64::MAX)]
    }

    /// The decimal form of a position, sometimes past `u64` (which must not parse).
    #[derive(Debug, Clone)]
    enum Num {
        N(u64),
        TooBig(String),
    }

    impl Num {
        fn text(&self) -> String {
            match self {
                Num::N(n) => n.to_string(),
                Num::TooBig(s) => s.clone(),
            }
        }
        fn value(&self) -> Option<u64> {
            match self {
                Num::N(n) => Some(*n),
                Num::TooBig(_) => None,
            }
        }
    }

    fn nums() -> impl Strategy<Value = Num> {
        prop_oneof![
            8 => positions().prop_map(Num::N),
            1 => "[1-9][0-9]{20,24}".prop_map(Num::TooBig),
            1 => Just(Num::TooBig("18446744073709551616".into())),
        ]
    }

    #[derive(Debug, Clone)]
    enum Spec {
        Both(Num, Num),
        From(Num),
        Suffix(Num),
    }

    fn specs() -> impl Strategy<Value = Spec> {
        prop_oneof![
            (nums(), nums()).prop_map(|(a, b)| Spec::Both(a, b)),
            nums().prop_map(Spec::From),
            nums().prop_map(Spec::Suffix),
        ]
    }

    /// What RFC 9110 §14.1.2 says one range of a file of `len` bytes selects.
    fn model(spec: &Spec, len: u64) -> RangeReq {
        let part = |start: u64, end: u64| {
            if start < len && start <= end {
                RangeReq::Part(start, end)
            } else {
                RangeReq::Unsatisfiable
            }
        };
        match spec {
            Spec::Both(a, b) => match (a.value(), b.value()) {
                (Some(a), Some(b)) if a <= b => part(a, b.min(len.saturating_sub(1))),
                _ => RangeReq::Unsatisfiable,
            },
            Spec::From(a) => match a.value() {
                Some(a) => part(a, len.saturating_sub(1)),
                None => RangeReq::Unsatisfiable,
            },
            Spec::Suffix(n) => match n.value() {
                Some(n) if n > 0 && len > 0 => part(len - n.min(len), len - 1),
                _ => RangeReq::Unsatisfiable,
            },
        }
    }

    /// Whitespace the parser tolerates (around the header and the numbers).
    fn pad() -> impl Strategy<Value = &'static str> {
        prop_oneof![4 => Just(""), 1 => Just(" "), 1 => Just("\t"), 1 => Just("  ")]
    }

    /// The invariant of every answer: a part lies inside the file, start ≤ end, and the
    /// length the response announces (`end + 1 - start`) neither overflows nor exceeds it.
    fn check_inside(r: &RangeReq, len: u64) -> Result<(), TestCaseError> {
        if let RangeReq::Part(start, end) = *r {
            prop_assert!(start <= end, "start {start} > end {end}");
            prop_assert!(end < len, "end {end} outside a file of {len} bytes");
            let n = (end - start).checked_add(1);
            prop_assert!(n.is_some_and(|n| n <= len));
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(config(cases()))]

        #[test]
        fn fuzz_parse_range_never_panics_on_any_header(header in any::<String>(), len in lens()) {
            let r = parse_range(Some(&header), len);
            check_inside(&r, len)?;
            // Anything but a `bytes=` header is ignored (the whole file).
            if !header.trim().starts_with("bytes=") {
                prop_assert_eq!(r, RangeReq::Whole);
            }
        }

        #[test]
        fn fuzz_parse_range_never_panics_on_range_like_text(
            body in "[0-9 ,=+\\-\t]{0,40}",
            len in lens(),
        ) {
            let header = format!("bytes={body}");
            let r = parse_range(Some(&header), len);
            check_inside(&r, len)?;
            if body.contains(',') {
                prop_assert_eq!(r, RangeReq::Whole, "several ranges: the whole file");
            }
        }

        #[test]
        fn fuzz_parse_range_matches_rfc_9110(
            spec in specs(),
            len in lens(),
            (p0, p1, p2, p3) in (pad(), pad(), pad(), pad()),
        ) {
            let (a, b) = match &spec {
                Spec::Both(a, b) => (a.text(), b.text()),
                Spec::From(a) => (a.text(), String::new()),
                Spec::Suffix(n) => (String::new(), n.text()),
            };
            let header = format!("{p0}bytes={p1}{a}{p2}-{p3}{b}{p0}");
            let got = parse_range(Some(&header), len);
            check_inside(&got, len)?;
            prop_assert_eq!(&got, &model(&spec, len), "{:?}", header);
            // The header we answer with says the same range again.
            if let RangeReq::Part(start, end) = got {
                let again = parse_range(Some(&format!("bytes={start}-{end}")), len);
                prop_assert_eq!(again, RangeReq::Part(start, end));
            }
        }
    }
}
