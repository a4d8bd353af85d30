//! The KYC case actors: one `CaseActor` per session (under the `CaseSupervisor`) owns the
//! session's [`KycCase`]; every step run is a `StepActor` linked to it.
//!
//! ```text
//! CaseSupervisor                 map session → CaseActor; a failed case actor is dropped and
//! └── CaseActor (per session)    the next call reloads the case from the store
//!     └── StepActor × n          one per step run: runs the check (inference pools, blob
//!                                store), reports the attempt, stops
//! ```
//!
//! The case actor serialises every change to one session's case (no lost updates), saves it
//! with the event describing the change, then answers. A step actor that panics reaches the
//! case actor as `ActorFailed`: the attempt is recorded as an error (`step_failed`), the
//! caller gets an error, and the case carries on.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::Utc;
use ractor::{Actor, ActorId, ActorProcessingErr, ActorRef, RpcReplyPort, SupervisionEvent};
use serde::Deserialize;
use uuid::Uuid;
use vkyc_domain::kyc::{CaseRefusal, Change, Principal};
use vkyc_domain::SessionId;

use vkyc_blob::BlobStore;
use vkyc_domain::document::DocumentKind;
use vkyc_domain::events::{data, DomainEvent, EventData};
use vkyc_domain::kyc::*;
use vkyc_domain::step_data::{
    AnswerInput, CardPhoto, ConsentData, DocumentData, DocumentNotRead, DocumentRead, FaceData,
    LivenessData, LocationData, LocationFound, LocationUnavailable, OtpData, QuestionsData,
    SourceMatch, StepData,
};
use vkyc_domain::step_input::{ConsentVersion, NoPosition, OtpCode, Position};
use vkyc_vision::inference::{InferenceError, Pool};
use vkyc_vision::liveness::{ChallengeConfig, Move};
use vkyc_vision::verify::{
    CheckError, DocumentEngine, DocumentJob, FaceMatchEngine, FaceMatchJob, Frame, LivenessEngine,
    LivenessJob,
};

/// What a step run is given (the server resolves capture ids to their bytes).
pub enum StepInput {
    Consent {
        text_version: ConsentVersion,
        given: bool,
    },
    /// The browser's position, or why it gave none.
    Location(Result<Position, NoPosition>),
    Document {
        capture_id: Uuid,
        kind: DocumentKind,
        image: Vec<u8>,
        expected_name: String,
    },
    /// A face capture compared with the document photo and the references; with
    /// `liveness`, the frames recorded while the customer followed the session's open
    /// challenge (the probe is then the most frontal frame unless a capture is given).
    Face {
        probe: Option<(Uuid, Vec<u8>)>,
        references: Vec<(String, Vec<u8>)>,
        liveness: Option<LivenessFrames>,
    },
    /// The code the customer entered: an attempt.
    OtpVerify { code: OtpCode },
    /// The agent's record of the answers, one per question the session asks. A value that
    /// differs from the lender's expected answer (or the first one recorded) is an edit;
    /// both are kept.
    Questions { answers: Vec<AnswerInput> },
    /// Fault injection for tests: the step actor running this step panics.
    #[cfg(feature = "fault-injection")]
    Crash(StepType),
}

impl StepInput {
    pub fn step_type(&self) -> StepType {
        match self {
            StepInput::Consent { .. } => StepType::Consent,
            StepInput::Location(_) => StepType::Location,
            StepInput::Document { .. } => StepType::Document,
            StepInput::Face { .. } => StepType::Face,
            StepInput::OtpVerify { .. } => StepType::Otp,
            StepInput::Questions { .. } => StepType::Questions,
            #[cfg(feature = "fault-injection")]
            StepInput::Crash(t) => *t,
        }
    }
}

/// Frames of a head-movement challenge: `(capture id, ms since the first frame, bytes)`.
pub struct LivenessFrames {
    pub challenge_id: Uuid,
    pub frames: Vec<(Uuid, u64, Vec<u8>)>,
}

/// A head-movement challenge issued to a session's customer.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct IssuedChallenge {
    pub challenge_id: Uuid,
    pub moves: Vec<Move>,
    pub expires_in_secs: u64,
    pub min_frames: usize,
    pub max_frames: usize,
}

struct PendingChallenge {
    id: Uuid,
    moves: Vec<Move>,
    expires: std::time::Instant,
}

/// What the steps need from the node.
pub struct StepContext {
    pub blobs: Arc<dyn BlobStore>,
    pub face: Option<Pool<FaceMatchEngine>>,
    pub document: Option<Pool<DocumentEngine>>,
    pub liveness: Option<Pool<LivenessEngine>>,
    pub challenge: ChallengeConfig,
    pub region: Region,
    pub rules: RecommendationRules,
    pub otp: OtpSettings,
    pub notifier: Arc<dyn Notifier>,
    /// A case actor with nothing to do for this long is retired (its case is in the store).
    pub idle: std::time::Duration,
    /// Retakes of a step that did not pass (`kyc.max_retries`), after the first attempt.
    pub max_retries: u32,
}

/// How one-time codes behave (`[kyc.otp]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OtpSettings {
    pub digits: u32,
    pub ttl_secs: u64,
    pub max_attempts: u32,
}

/// Delivers one-time codes to the customer (SMS gateway, webhook…). The code never goes
/// into the case, the events or the logs of the case actor.
#[async_trait::async_trait]
pub trait Notifier: Send + Sync + 'static {
    async fn send_otp(&self, session_id: SessionId, code: &str) -> Result<(), String>;
}

/// A code waiting to be entered: only its hash is kept, in memory.
struct PendingOtp {
    hash: [u8; 32],
    expires: std::time::Instant,
    tries_left: u32,
}

fn otp_hash(session: SessionId, code: &str) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    Sha256::new()
        .chain_update(session.as_uuid().as_bytes())
        .chain_update(code.trim().as_bytes())
        .finalize()
        .into()
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CaseError {
    #[error("{0} is not in this session's workflow")]
    NotInWorkflow(&'static str),
    #[error("a {0} step is already running")]
    StepBusy(&'static str),
    #[error("the step failed while running; it is recorded as an error attempt")]
    StepFailed,
    #[error("no code has been sent, or it expired or was used up: send a new one")]
    NoOtp,
    #[error("the code could not be delivered: {0}")]
    Notify(String),
    #[error("no open head-movement challenge with this id: start a new one (each is used once)")]
    NoChallenge,
    #[error("the agent has not decided this case yet")]
    NotDecided,
    #[error("{0} did not pass in the attempts allowed: no more retakes; the agent decides the step or the case")]
    RetriesExhausted(&'static str),
    #[error("the case has already been decided")]
    AlreadyDecided,
    #[error("{0}")]
    Inference(String),
    #[error("the case could not be stored: {0}")]
    Store(String),
    #[error("the case is not available: {0}")]
    Unavailable(String),
}

impl From<CaseRefusal> for CaseError {
    fn from(r: CaseRefusal) -> Self {
        match r {
            CaseRefusal::NotInWorkflow(t) => CaseError::NotInWorkflow(t.as_str()),
            CaseRefusal::AlreadyDecided => CaseError::AlreadyDecided,
            CaseRefusal::NotDecided => CaseError::NotDecided,
            CaseRefusal::RetriesExhausted(t) => CaseError::RetriesExhausted(t.as_str()),
        }
    }
}

impl CaseError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotInWorkflow(_) => "step_not_in_workflow",
            Self::StepBusy(_) => "step_busy",
            Self::StepFailed => "step_failed",
            Self::NotDecided => "not_decided",
            Self::RetriesExhausted(_) => "retries_exhausted",
            Self::NoOtp => "otp_not_sent",
            Self::NoChallenge => "challenge_not_found",
            Self::Notify(_) => "otp_delivery_failed",
            Self::AlreadyDecided => "already_decided",
            Self::Inference(_) => "inference_unavailable",
            Self::Store(_) | Self::Unavailable(_) => "internal",
        }
    }
}

type Reply<T> = RpcReplyPort<Result<T, CaseError>>;

pub enum CaseMsg {
    Run {
        input: StepInput,
        by: Principal,
        reply: Reply<Attempt>,
    },
    /// Sends a one-time code; answers how long it is valid, in seconds.
    SendOtp {
        by: Principal,
        reply: Reply<u64>,
    },
    /// Issues a head-movement challenge for the face step's liveness check.
    StartChallenge {
        by: Principal,
        reply: Reply<IssuedChallenge>,
    },
    StepDone {
        step: StepType,
        attempt: Attempt,
        card_face: Option<Vec<u8>>,
    },
    DecideStep {
        step: StepType,
        verdict: Verdict,
        notes: Option<String>,
        by: Principal,
        reply: Reply<KycCase>,
    },
    Decide {
        result: CaseResult,
        notes: Option<String>,
        by: Principal,
        reply: Reply<KycCase>,
    },
    Audit {
        verdict: AuditVerdict,
        notes: Option<String>,
        by: Principal,
        reply: Reply<KycCase>,
    },
    /// Whether the case lock lets `Change` happen now (e.g. before a capture is stored).
    Check(Change, Reply<()>),
    Get(RpcReplyPort<KycCase>),
    /// Periodic: an idle case actor asks its supervisor to retire it.
    IdleCheck,
    /// From the supervisor, after that offer: stop if still idle (answers whether it stops).
    /// Everything forwarded before it has been handled by then, and nothing is forwarded
    /// while the supervisor waits for the answer, so no message is lost.
    TryRetire(RpcReplyPort<bool>),
}

// ------------------------------------------------------------------------ StepActor

struct StepActor;

struct StepArgs {
    case: ActorRef<CaseMsg>,
    step: StepType,
    n: u32,
    by: Principal,
    input: StepInput,
    ctx: Arc<StepContext>,
    card_face: Option<String>,
    /// The moves of the challenge the liveness frames answer (checked by the case actor).
    moves: Vec<Move>,
}

fn inference_err(e: InferenceError) -> CheckError {
    CheckError::new(e.code(), e.to_string())
}

async fn run_step(
    args: &mut StepArgs,
) -> (Outcome, Scores, Vec<CheckError>, StepData, Option<Vec<u8>>) {
    let mut scores = Scores::default();
    let input = std::mem::replace(&mut args.input, StepInput::Questions { answers: vec![] });
    match input {
        #[cfg(feature = "fault-injection")]
        StepInput::Crash(_) => panic!("step actor: injected fault"),
        StepInput::OtpVerify { .. } | StepInput::Questions { .. } => {
            unreachable!("handled by the case actor itself")
        }
        StepInput::Consent {
            text_version,
            given,
        } => (
            if given {
                Outcome::Passed
            } else {
                Outcome::Failed
            },
            scores,
            vec![],
            StepData::Consent(ConsentData {
                text_version: text_version.into_string(),
                given,
            }),
            None,
        ),
        StepInput::Location(Ok(Position {
            latitude: lat,
            longitude: lon,
            accuracy_m: acc,
        })) => {
            let inside = args.ctx.region.contains(lat, lon);
            let data = StepData::Location(LocationData::Found(LocationFound {
                latitude: lat,
                longitude: lon,
                accuracy_m: acc,
                region: args.ctx.region.name.clone(),
                inside_region: inside,
            }));
            let errors = if inside {
                vec![]
            } else {
                vec![CheckError {
                    code: "outside_region".into(),
                    message: format!("the location is outside {}", args.ctx.region.name),
                }]
            };
            (
                if inside {
                    Outcome::Passed
                } else {
                    Outcome::Failed
                },
                scores,
                errors,
                data,
                None,
            )
        }
        StepInput::Location(Err(why)) => {
            let why = why.into_string();
            let errors = vec![CheckError {
                code: "location_unavailable".into(),
                message: format!("no location from the browser: {why}"),
            }];
            (
                Outcome::Failed,
                scores,
                errors,
                StepData::Location(LocationData::Unavailable(LocationUnavailable {
                    error: why,
                })),
                None,
            )
        }
        StepInput::Document {
            capture_id,
            kind,
            image,
            expected_name,
        } => {
            let not_read =
                StepData::Document(DocumentData::NotRead(DocumentNotRead { capture_id }));
            let Some(pool) = &args.ctx.document else {
                return (
                    Outcome::Error,
                    scores,
                    vec![CheckError {
                        code: "inference_disabled".into(),
                        message: "verification is switched off".into(),
                    }],
                    not_read,
                    None,
                );
            };
            match pool
                .submit(DocumentJob {
                    kind,
                    image,
                    expected_name: Some(expected_name),
                })
                .await
            {
                Ok(out) => {
                    let name_match = out.name_match.unwrap_or(0);
                    scores.name_match = Some(name_match);
                    let mut errors: Vec<CheckError> = out.face_error.clone().into_iter().collect();
                    if !out.fields.has_number() {
                        errors.push(CheckError { code: "document_unreadable".into(), message: "the document number could not be read: hold the card flat, fully in frame, without glare".into() });
                    }
                    let outcome = if out.fields.has_number() && out.face.is_some() {
                        Outcome::Passed
                    } else {
                        Outcome::Failed
                    };
                    let card_face = out.face.as_ref().map(|f| CardPhoto { bbox: f.bbox });
                    let data = StepData::Document(DocumentData::Read(DocumentRead {
                        capture_id,
                        kind,
                        fields: out.fields,
                        name_match,
                        card_face,
                    }));
                    (outcome, scores, errors, data, out.face.map(|f| f.jpeg))
                }
                Err(e) => (
                    Outcome::Error,
                    scores,
                    vec![inference_err(e)],
                    not_read,
                    None,
                ),
            }
        }
        StepInput::Face {
            probe,
            mut references,
            liveness,
        } => {
            let (Some(pool), Some(live_pool)) = (&args.ctx.face, &args.ctx.liveness) else {
                return (
                    Outcome::Error,
                    scores,
                    vec![CheckError {
                        code: "inference_disabled".into(),
                        message: "verification is switched off".into(),
                    }],
                    StepData::Face(FaceData::default()),
                    None,
                );
            };
            let mut data = FaceData::default();
            let mut errors = vec![];
            let mut live = None;
            let mut probe = probe;
            if let Some(lf) = liveness {
                let ids: Vec<(Uuid, u64)> = lf.frames.iter().map(|(id, t, _)| (*id, *t)).collect();
                let frames: Vec<Frame> = lf
                    .frames
                    .iter()
                    .map(|(_, t, b)| Frame {
                        image: b.clone(),
                        t_ms: *t,
                    })
                    .collect();
                match live_pool
                    .submit(LivenessJob {
                        moves: std::mem::take(&mut args.moves),
                        frames,
                    })
                    .await
                {
                    Ok(out) => {
                        let v = &out.verdict;
                        scores.liveness = Some(v.score);
                        let best = v.active.best_frame;
                        data.liveness = Some(LivenessData {
                            challenge_id: lf.challenge_id,
                            live: v.live,
                            score: v.score,
                            moves: v.active.moves.clone(),
                            frames: ids.len(),
                            frames_with_face: v.active.frames_with_face,
                            best_frame: best.map(|b| ids[b].0),
                            passive_live_probability: v.passive_live_probability,
                            reasons: v.reasons.clone(),
                        });
                        if !v.live {
                            // Name what failed: the agent sees every move ticked and needs to know why.
                            let message = match v.why_not_live() {
                                Some(why) => format!("liveness score {}: {why}", v.score),
                                None => format!("liveness score {} below the pass score", v.score),
                            };
                            errors.push(CheckError {
                                code: "not_live".into(),
                                message,
                            });
                        }
                        live = Some(v.live);
                        if probe.is_none() {
                            probe = best.map(|b| (ids[b].0, lf.frames[b].2.clone()));
                        }
                    }
                    Err(e) => {
                        return (
                            Outcome::Error,
                            scores,
                            vec![inference_err(e)],
                            StepData::Face(data),
                            None,
                        )
                    }
                }
            }
            let Some((capture_id, image)) = probe else {
                errors.push(CheckError {
                    code: "no_probe".into(),
                    message: "no frame with a usable face to compare: capture the face again"
                        .into(),
                });
                return (Outcome::Error, scores, errors, StepData::Face(data), None);
            };
            data.capture_id = Some(capture_id);
            if let Some(key) = &args.card_face {
                if let Ok(Some(bytes)) = args.ctx.blobs.get(key).await {
                    references.insert(0, ("document_photo".into(), bytes));
                }
            }
            if references.is_empty() {
                errors.push(CheckError { code: "no_reference".into(), message: "nothing to compare with: do the document step first or upload a reference image".into() });
                return (Outcome::Error, scores, errors, StepData::Face(data), None);
            }
            let labels: Vec<String> = references.iter().map(|(l, _)| l.clone()).collect();
            let job = FaceMatchJob {
                probe: image,
                references: references.into_iter().map(|(_, b)| b).collect(),
            };
            match pool.submit(job).await {
                Ok(out) => {
                    scores.face_match = Some(out.score);
                    let matches = out
                        .references
                        .iter()
                        .map(|r| SourceMatch {
                            source: labels[r.index].clone(),
                            score: r.result.as_ref().map(|m| m.score),
                            matched: r.result.as_ref().map(|m| m.matched),
                            error: r.error.clone(),
                        })
                        .collect();
                    data.matches = Some(matches);
                    data.quality = Some(out.probe.quality);
                    let outcome = if out.matched && live != Some(false) {
                        Outcome::Passed
                    } else {
                        Outcome::Failed
                    };
                    (outcome, scores, errors, StepData::Face(data), None)
                }
                Err(e) => {
                    errors.push(inference_err(e));
                    (Outcome::Error, scores, errors, StepData::Face(data), None)
                }
            }
        }
    }
}

impl Actor for StepActor {
    type Msg = ();
    type State = Option<StepArgs>;
    type Arguments = StepArgs;

    async fn pre_start(
        &self,
        _me: ActorRef<()>,
        args: StepArgs,
    ) -> Result<Option<StepArgs>, ActorProcessingErr> {
        Ok(Some(args))
    }

    /// The work runs after start, so the case actor is not held up by it, and a panic here
    /// reaches the case actor as a supervision event.
    async fn post_start(
        &self,
        me: ActorRef<()>,
        state: &mut Option<StepArgs>,
    ) -> Result<(), ActorProcessingErr> {
        let mut args = state.take().ok_or("step started twice")?;
        let started_at = Utc::now();
        let (outcome, scores, errors, data, card_face) = run_step(&mut args).await;
        let attempt = Attempt {
            n: args.n,
            by: args.by.clone(),
            started_at,
            finished_at: Utc::now(),
            outcome,
            scores,
            errors,
            data: Some(data),
        };
        let _ = args.case.cast(CaseMsg::StepDone {
            step: args.step,
            attempt,
            card_face,
        });
        me.stop(None);
        Ok(())
    }

    async fn handle(
        &self,
        _me: ActorRef<()>,
        _msg: (),
        _state: &mut Option<StepArgs>,
    ) -> Result<(), ActorProcessingErr> {
        Ok(())
    }
}

// ------------------------------------------------------------------------ CaseActor

pub struct CaseActor;

pub struct CaseArgs {
    pub case: KycCase,
    pub store: Arc<dyn CaseStore>,
    pub ctx: Arc<StepContext>,
    pub supervisor: Option<ActorRef<CaseSupMsg>>,
}

pub struct CaseState {
    case: KycCase,
    store: Arc<dyn CaseStore>,
    ctx: Arc<StepContext>,
    /// Running step actors: which step, who asked, and where to answer.
    running: HashMap<ActorId, (StepType, u32, Principal, Reply<Attempt>)>,
    otp: Option<PendingOtp>,
    challenge: Option<PendingChallenge>,
    last_activity: std::time::Instant,
    supervisor: Option<ActorRef<CaseSupMsg>>,
}

fn card_face_key(session: SessionId, n: u32) -> String {
    format!("cardfaces/{}/{n}", session.simple())
}

impl CaseState {
    async fn save(&self, data: impl Into<EventData>) -> Result<(), CaseError> {
        let event = DomainEvent::new(Some(self.case.session_id), data);
        self.store
            .save_case(&self.case, event)
            .await
            .map_err(CaseError::Store)
    }

    /// Nothing running, nothing pending, nothing asked for `ctx.idle`.
    fn idle(&self) -> bool {
        let now = std::time::Instant::now();
        let pending = self.otp.as_ref().is_some_and(|p| p.expires > now)
            || self.challenge.as_ref().is_some_and(|c| c.expires > now);
        self.last_activity.elapsed() >= self.ctx.idle && self.running.is_empty() && !pending
    }
}

impl Actor for CaseActor {
    type Msg = CaseMsg;
    type State = CaseState;
    type Arguments = CaseArgs;

    async fn pre_start(
        &self,
        me: ActorRef<CaseMsg>,
        a: CaseArgs,
    ) -> Result<CaseState, ActorProcessingErr> {
        me.send_interval(a.ctx.idle / 5, || CaseMsg::IdleCheck);
        Ok(CaseState {
            case: a.case,
            store: a.store,
            ctx: a.ctx,
            running: HashMap::new(),
            otp: None,
            challenge: None,
            last_activity: std::time::Instant::now(),
            supervisor: a.supervisor,
        })
    }

    async fn handle(
        &self,
        me: ActorRef<CaseMsg>,
        msg: CaseMsg,
        st: &mut CaseState,
    ) -> Result<(), ActorProcessingErr> {
        if !matches!(msg, CaseMsg::IdleCheck | CaseMsg::TryRetire(_)) {
            st.last_activity = std::time::Instant::now();
        }
        match msg {
            CaseMsg::IdleCheck => {
                if st.idle() {
                    if let Some(sup) = &st.supervisor {
                        let _ = sup.cast(CaseSupMsg::Idle(st.case.session_id, me.get_id()));
                    }
                }
            }
            CaseMsg::TryRetire(reply) => {
                let stop = st.idle();
                let _ = reply.send(stop);
                if stop {
                    me.stop(Some("idle".into()));
                }
            }
            CaseMsg::Get(reply) => {
                let _ = reply.send(st.case.clone());
            }
            CaseMsg::Check(change, reply) => {
                let _ = reply.send(st.case.check(change).map_err(CaseError::from));
            }
            CaseMsg::SendOtp { by, reply } => {
                if let Err(e) = st.case.check(Change::Evidence(StepType::Otp)) {
                    let _ = reply.send(Err(e.into()));
                    return Ok(());
                }
                let s = &st.ctx.otp;
                let code: String = {
                    use rand::Rng;
                    let mut rng = rand::thread_rng();
                    (0..s.digits)
                        .map(|_| char::from(b'0' + rng.gen_range(0..10u8)))
                        .collect()
                };
                if let Err(e) = st.ctx.notifier.send_otp(st.case.session_id, &code).await {
                    let _ = reply.send(Err(CaseError::Notify(e)));
                    return Ok(());
                }
                st.otp = Some(PendingOtp {
                    hash: otp_hash(st.case.session_id, &code),
                    expires: std::time::Instant::now() + std::time::Duration::from_secs(s.ttl_secs),
                    tries_left: s.max_attempts,
                });
                let r = st
                    .save(data::OtpSent {
                        by_role: by.role_str().into(),
                    })
                    .await;
                let _ = reply.send(r.map(|_| s.ttl_secs));
            }
            CaseMsg::StartChallenge { by, reply } => {
                if let Err(e) = st.case.check(Change::Evidence(StepType::Face)) {
                    let _ = reply.send(Err(e.into()));
                    return Ok(());
                }
                let c = &st.ctx.challenge;
                let moves = vkyc_vision::liveness::random_moves(c.moves, &mut rand::thread_rng());
                let id = Uuid::new_v4();
                st.challenge = Some(PendingChallenge {
                    id,
                    moves: moves.clone(),
                    expires: std::time::Instant::now()
                        + std::time::Duration::from_secs(c.time_limit_secs),
                });
                let r = st
                    .save(data::ChallengeIssued {
                        by_role: by.role_str().into(),
                        moves: moves.len(),
                    })
                    .await;
                let issued = IssuedChallenge {
                    challenge_id: id,
                    moves,
                    expires_in_secs: c.time_limit_secs,
                    min_frames: c.min_frames,
                    max_frames: c.max_frames,
                };
                let _ = reply.send(r.map(|_| issued));
            }
            CaseMsg::Run {
                input: input @ (StepInput::OtpVerify { .. } | StepInput::Questions { .. }),
                by,
                reply,
            } => {
                // Quick steps run in the case actor itself: no inference, nothing to wait for.
                let step = input.step_type();
                if let Err(e) = st.case.check(Change::Evidence(step)) {
                    let _ = reply.send(Err(e.into()));
                    return Ok(());
                }
                let s = st
                    .case
                    .step(step)
                    .expect("checked: the step is in the workflow");
                let n = s.attempts.len() as u32 + 1;
                let now = Utc::now();
                let (outcome, errors, data) = match input {
                    StepInput::OtpVerify { code } => {
                        let Some(p) = st
                            .otp
                            .as_mut()
                            .filter(|p| p.expires > std::time::Instant::now())
                        else {
                            st.otp = None;
                            let _ = reply.send(Err(CaseError::NoOtp));
                            return Ok(());
                        };
                        p.tries_left -= 1;
                        let ok = p.hash == otp_hash(st.case.session_id, code.as_str());
                        let left = p.tries_left;
                        if ok || left == 0 {
                            st.otp = None;
                        }
                        let data = StepData::Otp(OtpData { tries_left: left });
                        if ok {
                            (Outcome::Passed, vec![], data)
                        } else if left == 0 {
                            (
                                Outcome::Failed,
                                vec![CheckError::new(
                                    "otp_attempts_exhausted",
                                    "the code was wrong too many times; send a new one",
                                )],
                                data,
                            )
                        } else {
                            (
                                Outcome::Failed,
                                vec![CheckError::new(
                                    "otp_mismatch",
                                    format!("the code is not right; {left} tries left"),
                                )],
                                data,
                            )
                        }
                    }
                    StepInput::Questions { answers } => {
                        let recorded = QuestionsData::record(
                            s.attempts.iter().filter_map(Attempt::questions),
                            answers,
                        );
                        let all = recorded.complete();
                        let errors = if all {
                            vec![]
                        } else {
                            vec![CheckError::new(
                                "answer_missing",
                                "every question needs an answer",
                            )]
                        };
                        (
                            if all {
                                Outcome::Passed
                            } else {
                                Outcome::Failed
                            },
                            errors,
                            StepData::Questions(recorded),
                        )
                    }
                    _ => unreachable!("matched above"),
                };
                let attempt = Attempt {
                    n,
                    by,
                    started_at: now,
                    finished_at: Utc::now(),
                    outcome,
                    scores: Default::default(),
                    errors,
                    data: Some(data),
                };
                let ev = data::StepCompleted {
                    step,
                    attempt: n,
                    outcome,
                    scores: None,
                };
                if let Err(e) = st.case.record_attempt(step, attempt.clone()) {
                    let _ = reply.send(Err(e.into()));
                    return Ok(());
                }
                let r = st.save(ev).await;
                let _ = reply.send(r.map(|_| attempt));
            }
            CaseMsg::Run { input, by, reply } => {
                let step = input.step_type();
                if let Err(e) = st.case.check_retake(step, st.ctx.max_retries) {
                    let _ = reply.send(Err(e.into()));
                    return Ok(());
                }
                let s = st
                    .case
                    .step(step)
                    .expect("checked: the step is in the workflow");
                if st.running.values().any(|(t, ..)| *t == step) {
                    let _ = reply.send(Err(CaseError::StepBusy(step.as_str())));
                    return Ok(());
                }
                let n = s.attempts.len() as u32 + 1;
                // Liveness frames answer the open challenge, once.
                let mut moves = vec![];
                if let StepInput::Face {
                    liveness: Some(lf), ..
                } = &input
                {
                    match st.challenge.take() {
                        Some(c)
                            if c.id == lf.challenge_id && c.expires > std::time::Instant::now() =>
                        {
                            moves = c.moves
                        }
                        other => {
                            st.challenge = other.filter(|c| c.id != lf.challenge_id);
                            let _ = reply.send(Err(CaseError::NoChallenge));
                            return Ok(());
                        }
                    }
                }
                let card_face = st
                    .case
                    .step(StepType::Document)
                    .and_then(|d| {
                        d.attempts
                            .iter()
                            .rev()
                            .find(|a| a.outcome == Outcome::Passed)
                    })
                    .map(|a| card_face_key(st.case.session_id, a.n));
                let args = StepArgs {
                    case: me.clone(),
                    step,
                    n,
                    by: by.clone(),
                    input,
                    ctx: st.ctx.clone(),
                    card_face,
                    moves,
                };
                match Actor::spawn_linked(None, StepActor, args, me.get_cell()).await {
                    Ok((actor, _)) => {
                        st.running.insert(actor.get_id(), (step, n, by, reply));
                    }
                    // A panic while starting is reported here and as a supervision event;
                    // the supervision event records the attempt.
                    Err(_) => {
                        let _ = reply.send(Err(CaseError::StepFailed));
                    }
                }
            }
            CaseMsg::StepDone {
                step,
                attempt,
                card_face,
            } => {
                let key = st
                    .running
                    .iter()
                    .find(|(_, (t, n, ..))| *t == step && *n == attempt.n)
                    .map(|(k, _)| k.clone());
                let reply = key.and_then(|k| st.running.remove(&k)).map(|(.., r)| r);
                if let Some(bytes) = card_face {
                    if let Err(e) = st
                        .ctx
                        .blobs
                        .put(&card_face_key(st.case.session_id, attempt.n), bytes)
                        .await
                    {
                        tracing::error!(error = %e, "card face could not be stored");
                    }
                }
                let ev = data::StepCompleted {
                    step,
                    attempt: attempt.n,
                    outcome: attempt.outcome,
                    scores: Some(attempt.scores),
                };
                // The case may have been decided while the step ran: the lock still holds.
                if let Err(e) = st.case.record_attempt(step, attempt.clone()) {
                    if let Some(r) = reply {
                        let _ = r.send(Err(e.into()));
                    }
                    return Ok(());
                }
                let saved = st.save(ev).await;
                if let Some(r) = reply {
                    let _ = r.send(saved.map(|_| attempt));
                }
            }
            CaseMsg::DecideStep {
                step,
                verdict,
                notes,
                by,
                reply,
            } => {
                if let Err(e) = st.case.decide_step(
                    step,
                    StepDecision {
                        verdict,
                        by,
                        at: Utc::now(),
                        notes,
                    },
                ) {
                    let _ = reply.send(Err(e.into()));
                    return Ok(());
                }
                let r = st.save(data::StepDecided { step, verdict }).await;
                let _ = reply.send(r.map(|_| st.case.clone()));
            }
            CaseMsg::Decide {
                result,
                notes,
                by,
                reply,
            } => {
                let rec = recommend(&st.case, &st.ctx.rules);
                if let Err(e) = st.case.decide(AgentDecision {
                    result,
                    by,
                    at: Utc::now(),
                    notes,
                }) {
                    let _ = reply.send(Err(e.into()));
                    return Ok(());
                }
                let r = st
                    .save(data::VideoReviewed {
                        result,
                        recommendation: rec.result,
                    })
                    .await;
                let _ = reply.send(r.map(|_| st.case.clone()));
            }
            CaseMsg::Audit {
                verdict,
                notes,
                by,
                reply,
            } => {
                if let Err(e) = st.case.audit(AuditDecision {
                    verdict,
                    by,
                    at: Utc::now(),
                    notes,
                }) {
                    let _ = reply.send(Err(e.into()));
                    return Ok(());
                }
                let r = st.save(data::CaseAudited { verdict }).await;
                let _ = reply.send(r.map(|_| st.case.clone()));
            }
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        _me: ActorRef<CaseMsg>,
        evt: SupervisionEvent,
        st: &mut CaseState,
    ) -> Result<(), ActorProcessingErr> {
        if let SupervisionEvent::ActorFailed(cell, err) = evt {
            if let Some((step, n, by, reply)) = st.running.remove(&cell.get_id()) {
                tracing::warn!(session = %st.case.session_id, step = step.as_str(), "step actor failed: {err}");
                let now = Utc::now();
                let attempt = Attempt {
                    n,
                    by,
                    started_at: now,
                    finished_at: now,
                    outcome: Outcome::Error,
                    scores: Default::default(),
                    errors: vec![CheckError::new(
                        "step_failed",
                        "the step failed while running; retake it",
                    )],
                    data: None,
                };
                if st.case.record_attempt(step, attempt).is_err() {
                    let _ = reply.send(Err(CaseError::StepFailed));
                    return Ok(());
                }
                let _ = st.save(data::StepFailed { step, attempt: n }).await;
                let _ = reply.send(Err(CaseError::StepFailed));
            }
        }
        Ok(())
    }
}

// -------------------------------------------------------------------- CaseSupervisor

pub enum CaseSupMsg {
    /// Deliver `msg` to the session's case actor, starting it (from the store) if needed.
    /// Everything goes through here, so retiring an idle actor cannot race a caller.
    Forward {
        session_id: SessionId,
        workflow: Vec<StepType>,
        msg: CaseMsg,
    },
    /// An idle case actor offers to be retired.
    Idle(SessionId, ActorId),
    /// How many case actors are live.
    Count(RpcReplyPort<usize>),
    /// Panic (fault injection, tests only): the application supervisor starts a new case
    /// supervisor, and the cases load again from the store.
    #[cfg(feature = "fault-injection")]
    InjectPanic,
}

pub struct CaseSupervisor;

pub struct CaseSupState {
    store: Arc<dyn CaseStore>,
    ctx: Arc<StepContext>,
    cases: HashMap<SessionId, ActorRef<CaseMsg>>,
}

impl Actor for CaseSupervisor {
    type Msg = CaseSupMsg;
    type State = CaseSupState;
    type Arguments = (Arc<dyn CaseStore>, Arc<StepContext>);

    async fn pre_start(
        &self,
        _me: ActorRef<CaseSupMsg>,
        (store, ctx): Self::Arguments,
    ) -> Result<CaseSupState, ActorProcessingErr> {
        Ok(CaseSupState {
            store,
            ctx,
            cases: HashMap::new(),
        })
    }

    async fn handle(
        &self,
        me: ActorRef<CaseSupMsg>,
        msg: CaseSupMsg,
        st: &mut CaseSupState,
    ) -> Result<(), ActorProcessingErr> {
        let (session_id, workflow, msg) = match msg {
            CaseSupMsg::Idle(session_id, id) => {
                if let Some(a) = st.cases.get(&session_id).filter(|a| a.get_id() == id) {
                    // Asked, not told: the actor has handled all it was sent and may have
                    // become busy since its offer (a step still running must finish).
                    if let Ok(true) = ractor::call_t!(a, CaseMsg::TryRetire, 5_000) {
                        st.cases.remove(&session_id);
                    }
                }
                return Ok(());
            }
            CaseSupMsg::Count(reply) => {
                let _ = reply.send(st.cases.len());
                return Ok(());
            }
            CaseSupMsg::Forward {
                session_id,
                workflow,
                msg,
            } => (session_id, workflow, msg),
            #[cfg(feature = "fault-injection")]
            CaseSupMsg::InjectPanic => panic!("case supervisor: injected fault"),
        };
        if let Some(a) = st.cases.get(&session_id) {
            let _ = a.cast(msg);
            return Ok(());
        }
        let case = match st.store.load_case(session_id).await {
            Ok(Some(c)) => c,
            Ok(None) => KycCase::new(session_id, workflow),
            Err(e) => {
                tracing::error!(session = %session_id, error = %e, "case could not be loaded");
                return Ok(()); // the message (and its reply port) is dropped: the caller gets an error
            }
        };
        let args = CaseArgs {
            case,
            store: st.store.clone(),
            ctx: st.ctx.clone(),
            supervisor: Some(me.clone()),
        };
        match Actor::spawn_linked(None, CaseActor, args, me.get_cell()).await {
            Ok((a, _)) => {
                let _ = a.cast(msg);
                st.cases.insert(session_id, a);
            }
            Err(e) => tracing::error!(session = %session_id, "case actor could not start: {e}"),
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        _me: ActorRef<CaseSupMsg>,
        evt: SupervisionEvent,
        st: &mut CaseSupState,
    ) -> Result<(), ActorProcessingErr> {
        match evt {
            SupervisionEvent::ActorFailed(cell, _)
            | SupervisionEvent::ActorTerminated(cell, ..) => {
                st.cases.retain(|_, a| a.get_id() != cell.get_id());
            }
            _ => {}
        }
        Ok(())
    }
}

/// The handle the server uses.
#[derive(Clone)]
pub struct Cases {
    /// The running case supervisor; replaced when the application supervisor restarts it,
    /// so every holder of this handle reaches the new one.
    sup: Arc<std::sync::RwLock<Option<ActorRef<CaseSupMsg>>>>,
    store: Arc<dyn CaseStore>,
    ctx: Arc<StepContext>,
}

const CALL_MS: u64 = 120_000;

impl Cases {
    /// The handle, with no case supervisor running yet ([`Cases::spawn_linked`] starts one).
    pub fn new(store: Arc<dyn CaseStore>, ctx: StepContext) -> Self {
        Self {
            sup: Arc::default(),
            store,
            ctx: Arc::new(ctx),
        }
    }

    /// A handle with its case supervisor running, supervised by nobody (tests).
    pub async fn start(store: Arc<dyn CaseStore>, ctx: StepContext) -> Result<Self, String> {
        let cases = Self::new(store, ctx);
        cases.spawn_linked(None).await?;
        Ok(cases)
    }

    /// Starts a case supervisor linked to `supervisor` (the application supervisor) and puts
    /// it in place of the previous one: the start function of the tree's `cases` child. The
    /// cases of the failed one are loaded again from the store when next asked for.
    pub async fn spawn_linked(
        &self,
        supervisor: Option<ractor::ActorCell>,
    ) -> Result<ractor::ActorCell, String> {
        let args = (self.store.clone(), self.ctx.clone());
        let (sup, _) = match supervisor {
            Some(cell) => Actor::spawn_linked(None, CaseSupervisor, args, cell).await,
            None => Actor::spawn(None, CaseSupervisor, args).await,
        }
        .map_err(|e| e.to_string())?;
        let cell = sup.get_cell();
        *self.sup.write().unwrap_or_else(|p| p.into_inner()) = Some(sup);
        Ok(cell)
    }

    fn sup(&self) -> Result<ActorRef<CaseSupMsg>, CaseError> {
        self.sup
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .ok_or_else(|| CaseError::Unavailable("the case supervisor is not running".into()))
    }

    /// Sends `f(reply)` to the session's case actor (through the supervisor) and waits.
    async fn call<T: Send + 'static>(
        &self,
        session_id: SessionId,
        workflow: &[StepType],
        f: impl FnOnce(RpcReplyPort<T>) -> CaseMsg,
    ) -> Result<T, CaseError> {
        let (tx, rx) = ractor::concurrency::oneshot();
        let msg = f(RpcReplyPort::from(tx));
        self.sup()?
            .cast(CaseSupMsg::Forward {
                session_id,
                workflow: workflow.to_vec(),
                msg,
            })
            .map_err(|e| CaseError::Unavailable(e.to_string()))?;
        match tokio::time::timeout(std::time::Duration::from_millis(CALL_MS), rx).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(_)) => Err(CaseError::Unavailable(
                "the case actor stopped before answering".into(),
            )),
            Err(_) => Err(CaseError::Unavailable(
                "the case actor did not answer in time".into(),
            )),
        }
    }

    async fn ask<T: Send + 'static>(
        &self,
        session_id: SessionId,
        workflow: &[StepType],
        f: impl FnOnce(Reply<T>) -> CaseMsg,
    ) -> Result<T, CaseError> {
        self.call(session_id, workflow, f).await?
    }

    /// Whether the case lock lets `change` happen now (e.g. before a capture is stored).
    pub async fn check(
        &self,
        session_id: SessionId,
        workflow: &[StepType],
        change: Change,
    ) -> Result<(), CaseError> {
        self.ask(session_id, workflow, |reply| CaseMsg::Check(change, reply))
            .await
    }

    pub async fn get(
        &self,
        session_id: SessionId,
        workflow: &[StepType],
    ) -> Result<KycCase, CaseError> {
        self.call(session_id, workflow, CaseMsg::Get).await
    }

    pub async fn run(
        &self,
        session_id: SessionId,
        workflow: &[StepType],
        input: StepInput,
        by: Principal,
    ) -> Result<Attempt, CaseError> {
        self.ask(session_id, workflow, |reply| CaseMsg::Run {
            input,
            by,
            reply,
        })
        .await
    }

    pub async fn send_otp(
        &self,
        session_id: SessionId,
        workflow: &[StepType],
        by: Principal,
    ) -> Result<u64, CaseError> {
        self.ask(session_id, workflow, |reply| CaseMsg::SendOtp { by, reply })
            .await
    }

    pub async fn start_challenge(
        &self,
        session_id: SessionId,
        workflow: &[StepType],
        by: Principal,
    ) -> Result<IssuedChallenge, CaseError> {
        self.ask(session_id, workflow, |reply| CaseMsg::StartChallenge {
            by,
            reply,
        })
        .await
    }

    pub async fn decide_step(
        &self,
        session_id: SessionId,
        workflow: &[StepType],
        step: StepType,
        verdict: Verdict,
        notes: Option<String>,
        by: Principal,
    ) -> Result<KycCase, CaseError> {
        self.ask(session_id, workflow, |reply| CaseMsg::DecideStep {
            step,
            verdict,
            notes,
            by,
            reply,
        })
        .await
    }

    pub async fn decide(
        &self,
        session_id: SessionId,
        workflow: &[StepType],
        result: CaseResult,
        notes: Option<String>,
        by: Principal,
    ) -> Result<KycCase, CaseError> {
        self.ask(session_id, workflow, |reply| CaseMsg::Decide {
            result,
            notes,
            by,
            reply,
        })
        .await
    }

    pub async fn audit(
        &self,
        session_id: SessionId,
        workflow: &[StepType],
        verdict: AuditVerdict,
        notes: Option<String>,
        by: Principal,
    ) -> Result<KycCase, CaseError> {
        self.ask(session_id, workflow, |reply| CaseMsg::Audit {
            verdict,
            notes,
            by,
            reply,
        })
        .await
    }

    /// Case actors currently in memory.
    pub async fn live(&self) -> usize {
        match self.sup() {
            Ok(sup) => ractor::call_t!(sup, CaseSupMsg::Count, CALL_MS).unwrap_or(0),
            Err(_) => 0,
        }
    }

    pub fn stop(&self) {
        if let Ok(sup) = self.sup() {
            sup.stop(None);
        }
    }
}

/// `[kyc]` config of the server.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KycConfig {
    pub region: Region,
    pub rules: RecommendationRules,
    /// Consent text versions the customer may accept.
    pub consent_versions: Vec<String>,
    /// A session whose call has not started by then expires (default 24 h).
    pub session_ttl_secs: u64,
    /// How often the expiry timer looks for sessions past their time.
    pub expiry_check_secs: u64,
    /// A session's case actor is retired after this long without activity.
    pub case_idle_secs: u64,
    pub otp: OtpSettings,
    /// `dev` (development: the code is printed on the server's terminal, or written to the
    /// outbox when there is none; never to the log) or `file` (the code is written to
    /// `<data_dir>/outbox/otp-<session>.txt` for a gateway or a test to pick up).
    pub otp_notifier: String,
    /// Retakes allowed of a step (location, document, face, consent) that did not pass;
    /// then the agent decides. OTP and questions have their own rules.
    pub max_retries: u32,
    /// The bank a session's questions step draws from when its creator names none.
    pub default_question_bank: vkyc_domain::questions::BankId,
    /// Question banks written to the store at start when it has no bank of that id (so an
    /// admin's later edits are kept across restarts).
    #[serde(default)]
    pub question_banks: Vec<vkyc_domain::questions::QuestionBank>,
    pub self_record: SelfRecordSettings,
}

pub use vkyc_domain::session::SelfRecordSettings;
