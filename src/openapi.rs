//! The OpenAPI 3.1 document of `/v1`, generated from the handlers' `#[utoipa::path]`
//! annotations and their types. The paths are collected from the services as the server
//! registers them ([`crate::api::v1`] under `utoipa_actix_web::scope`), so the server and the
//! document share one route table: an endpoint cannot be served without being documented.
//!
//! Served at `GET /v1/openapi.json`, rendered by the page at `/docs/api`, committed as
//! `src/schema/openapi.json` (`tests/contract.rs` fails when the file and the code differ).
//!
//! The `*Doc` types below describe answers the handlers build as JSON objects (and types of
//! the store, which carries no schema derive); the role matrix test validates every answer it
//! gets against the documented schema of its status, so they cannot drift from what is sent.

use std::sync::LazyLock;

use actix_web::{get, HttpResponse};
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};
use utoipa_actix_web::AppExt;
use uuid::Uuid;
use vkyc_case::IssuedChallenge;
use vkyc_domain::kyc::{
    AgentDecision, AuditDecision, CaseResult, Recommendation, Stage, Step, StepType,
};
use vkyc_domain::questions::AskedQuestion;
use vkyc_domain::Role;
use vkyc_vision::geometry::BBox;
use vkyc_vision::idcard::DocumentFields;
use vkyc_vision::liveness::Move;
use vkyc_vision::verify::{CheckError, FaceMatchOutcome};

pub use crate::store::{
    Attempt as DeliveryAttempt, Capture, CaptureKind, DeliveryState, EventEnvelope, Recording,
    RecordingStatus,
};

use vkyc_domain::session::{Applicant, SelfRecordPhase, SessionStatus};

/// The security scheme names used by the operations.
pub const API_KEY: &str = "api_key";
pub const JOIN_TOKEN: &str = "join_token";
pub const CONSOLE: &str = "console";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "vkyc",
        description = "The REST API of the vkyc video-KYC server. Authentication, the WebSocket signalling protocol and the meaning of results are described in PROTOCOL.md. Every error answers `{\"error\":{\"code\",\"message\"}}` (schema `ErrorBody`) with a stable `code`; the codes of each operation are listed with its responses.",
    ),
    modifiers(&Security),
    components(schemas(crate::error::ErrorBody)),
    tags(
        (name = "sessions", description = "Sessions, join tokens, rooms and the event log"),
        (name = "captures", description = "Frames captured in a call or uploaded, stored encrypted"),
        (name = "kyc", description = "The KYC workflow: step attempts, decisions, the audit and the case"),
        (name = "questions", description = "The lender's question banks: a session draws its questions at random from one"),
        (name = "self-record", description = "Self-recorded sessions: the customer records a video, the server decides"),
        (name = "recordings", description = "Call recordings and their signed media URLs"),
        (name = "verify", description = "The verification engines, callable directly"),
        (name = "audit", description = "The activity log: every read of personal data and every decision, hash-chained"),
        (name = "webhooks", description = "Signed webhook subscriptions and their delivery log"),
        (name = "console", description = "Staff accounts and signed-in consoles (agents, auditors, supervisors, admins)"),
        (name = "contract", description = "This document and the session result's JSON Schema"),
    )
)]
struct Base;

struct Security;

impl Modify for Security {
    fn modify(&self, api: &mut utoipa::openapi::OpenApi) {
        let components = api.components.get_or_insert_with(Default::default);
        let mut key = Http::new(HttpAuthScheme::Bearer);
        key.description = Some("The API key (`auth.api_key`): the lender's backend only (no page uses it). `Authorization: Bearer <api key>`.".into());
        components.add_security_scheme(API_KEY, SecurityScheme::Http(key));
        let mut token = Http::new(HttpAuthScheme::Bearer);
        token.bearer_format = Some("JWT".into());
        token.description = Some(
            "A join token of one session (HS256 JWT, from `POST /v1/sessions/{id}/tokens`) with its role: agent, customer or observer. `Authorization: Bearer <token>`. Each operation says which roles it accepts; a token of another session gets 403 `forbidden_session`.".into(),
        );
        components.add_security_scheme(JOIN_TOKEN, SecurityScheme::Http(token));
        let mut console = utoipa::openapi::security::ApiKeyValue::new(crate::desk::console::COOKIE);
        console.description = Some("A signed-in console (a staff account): the `vkyc_console` cookie set by `POST /v1/auth/login`, `/v1/auth/setup` or single sign-on. Changes also send the console's CSRF token as `X-CSRF-Token`. The scopes name the account roles admitted (none: any).".into());
        components.add_security_scheme(
            CONSOLE,
            SecurityScheme::ApiKey(utoipa::openapi::security::ApiKey::Cookie(console)),
        );
    }
}

/// The document, as the routes register it.
pub fn document() -> utoipa::openapi::OpenApi {
    let (_, api) = actix_web::App::new()
        .into_utoipa_app()
        .openapi(Base::openapi())
        .service(crate::api::v1_scope())
        .split_for_parts();
    api
}

/// The document as pretty JSON with a final newline: what `src/schema/openapi.json` holds.
pub fn document_json() -> String {
    let mut s = document()
        .to_pretty_json()
        .expect("the OpenAPI document serialises");
    s.push('\n');
    s
}

static DOCUMENT: LazyLock<String> = LazyLock::new(document_json);

/// This document.
#[utoipa::path(tag = "contract", operation_id = "openapi_document", security(()),
    responses((status = 200, description = "The OpenAPI 3.1 document of this API", content_type = "application/json", body = serde_json::Value)))]
#[get("/openapi.json")]
pub async fn openapi_json() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(DOCUMENT.as_str())
}

// ------------------------------------------------------------------ sessions

/// A session as the API key, the agent and the observer see it: the session, its KYC case
/// document and, on a group's parent, the group.
#[derive(Serialize, ToSchema)]
#[schema(as = SessionDocument)]
pub struct SessionDocumentDoc {
    #[serde(flatten)]
    pub session: vkyc_domain::session::Session,
    /// Not for the customer's token.
    pub kyc: Option<CaseDocumentDoc>,
    /// A group's parent (not for the customer's token).
    pub group: Option<GroupDoc>,
}

#[derive(Serialize, ToSchema)]
#[schema(as = SessionList)]
pub struct SessionListDoc {
    /// Newest first.
    pub sessions: Vec<vkyc_domain::session::Session>,
}

/// A join token and the customer's join link.
#[derive(Serialize, ToSchema)]
#[schema(as = IssuedToken)]
pub struct IssuedTokenDoc {
    pub token: String,
    pub role: Role,
    pub participant_id: String,
    pub session_id: Uuid,
    pub expires_at: DateTime<Utc>,
    /// `{public_url}/join#token=…`
    pub join_url: String,
}

#[derive(Serialize, ToSchema)]
#[schema(as = RoomList)]
pub struct RoomListDoc {
    pub rooms: Vec<vkyc_call::room::RoomInfo>,
}

#[derive(Serialize, ToSchema)]
#[schema(as = RoomEnded)]
pub struct RoomEndedDoc {
    pub ended: bool,
}

#[derive(Serialize, ToSchema)]
#[schema(as = EventPage)]
pub struct EventPageDoc {
    /// Oldest first.
    pub events: Vec<EventEnvelope>,
    /// The `seq` of the last event (or `after` when there was none): the next `?after=`.
    pub next_cursor: u64,
}

// ------------------------------------------------------------------ captures

#[derive(Serialize, ToSchema)]
#[schema(as = CaptureList)]
pub struct CaptureListDoc {
    /// Oldest first.
    pub captures: Vec<Capture>,
}

/// A capture as a JSON body.
#[derive(Serialize, ToSchema)]
#[schema(as = NewCapture)]
pub struct NewCaptureDoc {
    pub kind: CaptureKind,
    /// Base64 (plain or a `data:` URL) of a JPEG, PNG or WebP image.
    pub image: String,
}

/// A capture as `multipart/form-data`.
#[derive(Serialize, ToSchema)]
#[schema(as = NewCaptureForm)]
pub struct NewCaptureFormDoc {
    pub kind: CaptureKind,
    #[schema(value_type = String, format = Binary)]
    pub image: Vec<u8>,
}

// ------------------------------------------------------------------ kyc

/// The KYC case with what a lender needs at a glance.
#[derive(Serialize, ToSchema)]
#[schema(as = CaseDocument)]
pub struct CaseDocumentDoc {
    /// The result so far: the agent's decision, unless an audit declined it or asked for a
    /// recapture (`needs_review`); null before the decision.
    pub result: Option<CaseResult>,
    /// An auditor approved or declined the case (a recapture is not an audit result).
    pub audited: bool,
    /// Where the case is in its review; evidence and the agent's decision are taken only
    /// while `open` or `reopened` (after a `recapture` audit), the audit only while `decided`.
    pub stage: Stage,
    pub recommendation: Recommendation,
    pub face_match_score: Option<u8>,
    pub liveness_score: Option<u8>,
    pub name_match_score: Option<u8>,
    pub workflow: Vec<StepType>,
    pub steps: Vec<Step>,
    pub agent_decision: Option<AgentDecision>,
    pub audits: Vec<AuditDecision>,
    /// `GET …/kyc` only: the questions the agent asks in this session (drawn from its bank
    /// when it was created), with the answers the lender expects.
    pub questions: Option<Vec<AskedQuestion>>,
}

/// A group call's consolidated view on the parent.
#[derive(Serialize, ToSchema)]
#[schema(as = Group)]
pub struct GroupDoc {
    pub participants: Vec<GroupMemberDoc>,
    /// The most severe recommendation of all the applicants'.
    pub recommendation: CaseResult,
}

#[derive(Serialize, ToSchema)]
#[schema(as = GroupMember)]
pub struct GroupMemberDoc {
    pub session_id: Uuid,
    pub applicant: Applicant,
    pub status: SessionStatus,
    pub workflow: Vec<StepType>,
    pub result: Option<CaseResult>,
    pub recommendation: Recommendation,
    pub face_match_score: Option<u8>,
    pub liveness_score: Option<u8>,
    pub name_match_score: Option<u8>,
}

/// What a step attempt answered: the attempt, the OTP sent, or a liveness challenge issued.
#[derive(Serialize, ToSchema)]
#[schema(as = StepRun)]
#[serde(untagged)]
pub enum StepRunDoc {
    Attempt(AttemptRecordedDoc),
    Challenge(ChallengeIssuedDoc),
}

#[derive(Serialize, ToSchema)]
#[schema(as = AttemptRecorded)]
pub struct AttemptRecordedDoc {
    pub step: StepType,
    pub attempt: vkyc_domain::kyc::Attempt,
}

/// `{"action":"challenge"}` on the face step: the customers in the call get a `prompt`.
#[derive(Serialize, ToSchema)]
#[schema(as = ChallengeIssued)]
pub struct ChallengeIssuedDoc {
    pub step: StepType,
    pub challenge: IssuedChallenge,
    pub seconds_per_move: u64,
    /// How many customers' pages were sent the prompt.
    pub customers_prompted: usize,
}

/// `{"action":"send"}` on the OTP step: the code went out through `kyc.otp_notifier`.
#[derive(Serialize, ToSchema)]
#[schema(as = OtpSent)]
pub struct OtpSentDoc {
    pub step: StepType,
    pub sent: bool,
    pub expires_in_secs: u64,
}

// ------------------------------------------------------------------ self-record

#[derive(Serialize, ToSchema)]
#[schema(as = SelfRecordScript)]
pub struct SelfRecordScriptDoc {
    pub challenge: IssuedChallenge,
    /// What the page asks, in order: the introduction, facing the camera, then each move.
    pub prompts: Vec<SelfRecordPromptDoc>,
    pub video_max_duration_secs: Option<u32>,
    pub max_video_bytes: u64,
    pub max_chunk_bytes: u64,
}

#[derive(Serialize, ToSchema)]
#[schema(as = SelfRecordPrompt)]
pub struct SelfRecordPromptDoc {
    /// `intro`, `centre` or the move.
    pub id: String,
    pub text: Option<String>,
    #[serde(rename = "move")]
    pub mv: Option<Move>,
    pub seconds: u64,
    /// Frames to capture during this prompt.
    pub frames: Option<u32>,
}

/// Where a self-recorded session's upload and processing are.
#[derive(Serialize, ToSchema)]
#[schema(as = SelfRecordStatus)]
pub struct SelfRecordStatusDoc {
    /// Null before the recording starts.
    pub phase: Option<SelfRecordPhase>,
    pub status: SessionStatus,
    pub video_type: Option<String>,
    pub video_total: Option<u64>,
    pub video_received: u64,
    pub video_complete: bool,
    pub started_at: Option<DateTime<Utc>>,
    pub submitted_at: Option<DateTime<Utc>>,
    pub processed_at: Option<DateTime<Utc>>,
    /// Submitted videos whose checks did not pass; phase `recording` again after one means
    /// "record again", phase `live_agent` that the session went to a live agent.
    pub failed_checks: Option<u32>,
    /// The session's mode now (`live_agent` once handed to an agent).
    pub mode: Option<vkyc_domain::session::SessionMode>,
}

#[derive(Serialize, ToSchema)]
#[schema(as = UploadProgress)]
pub struct UploadProgressDoc {
    pub video_received: u64,
    pub video_total: Option<u64>,
    pub video_complete: bool,
}

#[derive(Serialize, ToSchema)]
#[schema(as = SelfRecordSubmitted)]
pub struct SelfRecordSubmittedDoc {
    pub phase: SelfRecordPhase,
}

// ------------------------------------------------------------------ recordings

/// A recording with who was in it and where the customer was.
#[derive(Serialize, ToSchema)]
#[schema(as = RecordingDocument)]
pub struct RecordingDocumentDoc {
    #[serde(flatten)]
    pub recording: Recording,
    /// The location step's last passing attempt's data (a position inside the region), or null.
    pub location: Option<vkyc_domain::step_data::LocationFound>,
    pub participants: Vec<RecordingParticipantDoc>,
}

#[derive(Serialize, ToSchema)]
#[schema(as = RecordingParticipant)]
pub struct RecordingParticipantDoc {
    pub participant_id: String,
    pub role: Role,
}

#[derive(Serialize, ToSchema)]
#[schema(as = RecordingList)]
pub struct RecordingListDoc {
    pub recordings: Vec<Recording>,
}

/// A signed media URL, valid until `expires_at` (`recording.url_ttl_secs`).
#[derive(Serialize, ToSchema)]
#[schema(as = SignedUrl)]
pub struct SignedUrlDoc {
    pub url: String,
    /// The same without the server's base URL.
    pub path: String,
    pub expires_at: DateTime<Utc>,
    pub status: RecordingStatus,
}

// ------------------------------------------------------------------ verify

/// A face match as `multipart/form-data`.
#[derive(Serialize, ToSchema)]
#[schema(as = FaceMatchForm)]
pub struct FaceMatchFormDoc {
    #[schema(value_type = String, format = Binary)]
    pub probe: Vec<u8>,
    /// 1 to 5 files.
    #[schema(value_type = Vec<String>, format = Binary)]
    pub reference: Vec<Vec<u8>>,
}

/// A liveness check as `multipart/form-data`.
#[derive(Serialize, ToSchema)]
#[schema(as = LivenessForm)]
pub struct LivenessFormDoc {
    pub challenge_id: Uuid,
    /// The frames, in order.
    #[schema(value_type = Vec<String>, format = Binary)]
    pub frame: Vec<Vec<u8>>,
    /// `0,100,…`: one time per frame, ms (default 100 ms apart).
    pub frame_times_ms: Option<String>,
}

/// A document check as `multipart/form-data`.
#[derive(Serialize, ToSchema)]
#[schema(as = DocumentForm)]
pub struct DocumentFormDoc {
    pub kind: vkyc_vision::idcard::DocumentKind,
    #[schema(value_type = String, format = Binary)]
    pub image: Vec<u8>,
    pub applicant_name: Option<String>,
    #[schema(value_type = Option<String>, format = Binary)]
    pub probe: Option<Vec<u8>>,
}

/// A head-movement challenge for `POST /v1/verify/liveness`.
#[derive(Serialize, ToSchema)]
#[schema(as = LivenessChallenge)]
pub struct LivenessChallengeDoc {
    pub challenge_id: Uuid,
    pub moves: Vec<Move>,
    pub expires_in_secs: u64,
    pub min_frames: usize,
    pub max_frames: usize,
    pub instructions: String,
}

/// What was read from an ID card.
#[derive(Serialize, ToSchema)]
#[schema(as = DocumentResult)]
pub struct DocumentResultDoc {
    pub fields: DocumentFields,
    /// 0–100: the name read against `applicant_name`.
    pub name_match: Option<u8>,
    /// The photo printed on the card.
    pub face: Option<CardFaceDoc>,
    pub face_error: Option<CheckError>,
    /// Given a `probe`: the probe against the card's photo.
    pub face_match: Option<FaceMatchOutcome>,
}

#[derive(Serialize, ToSchema)]
#[schema(as = CardFace)]
pub struct CardFaceDoc {
    pub bbox: BBox,
    pub detector_score: f32,
    /// The face crop, JPEG.
    pub image_jpeg_base64: String,
}

// ------------------------------------------------------------------ webhooks

#[derive(Serialize, ToSchema)]
#[schema(as = Webhook)]
pub struct WebhookDoc {
    pub id: Uuid,
    pub url: String,
    pub event_types: Vec<String>,
    pub created_at: DateTime<Utc>,
}

/// A new subscription, with its secret: shown only here.
#[derive(Serialize, ToSchema)]
#[schema(as = WebhookCreated)]
pub struct WebhookCreatedDoc {
    pub id: Uuid,
    pub url: String,
    pub event_types: Vec<String>,
    pub created_at: DateTime<Utc>,
    /// `whsec_` + base64 of the key.
    pub secret: String,
}

#[derive(Serialize, ToSchema)]
#[schema(as = WebhookList)]
pub struct WebhookListDoc {
    pub webhooks: Vec<WebhookDoc>,
}

#[derive(Serialize, ToSchema)]
#[schema(as = WebhookDeleted)]
pub struct WebhookDeletedDoc {
    pub deleted: bool,
    pub id: Uuid,
}

/// One event for one subscription, with its attempts.
#[derive(Serialize, ToSchema)]
#[schema(as = Delivery)]
pub struct DeliveryDoc {
    /// Also the `webhook-id` header: the same on every attempt.
    pub id: Uuid,
    pub subscription_id: Uuid,
    pub event_id: Uuid,
    pub event_type: String,
    pub state: DeliveryState,
    pub attempts: Vec<DeliveryAttempt>,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

#[derive(Serialize, ToSchema)]
#[schema(as = DeliveryList)]
pub struct DeliveryListDoc {
    /// Newest first.
    pub deliveries: Vec<DeliveryDoc>,
}
