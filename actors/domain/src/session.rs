//! Sessions and the applicant's inputs, as types that validate on construction (a value of
//! these types is known-good, so handlers never re-check), the session lifecycle as a pure
//! function of events, and the admission of a group's applicants.
//!
//! ```text
//!  scheduled ──window opens──► waiting ──room.started / self_record.started──► in_progress
//!      │                          │                                              │
//!      └──────── expires ─────────┴──► expired          room.ended / self_record.submitted
//!  (any status but a final one) ──cancel──► cancelled                            ▼
//!                                                                             completed
//! ```
//!
//! Both storage back ends read a session, call these methods, and write what they return
//! with the events they return, in one operation: no back end decides a status itself.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::desk::user::{Skills, UserRef};
use crate::events::{data, DomainEvent, EventKind};
use crate::ids::{SessionId, UserId};
use crate::kyc::{StepType, DEFAULT_WORKFLOW};
use crate::questions::{AskedQuestion, BankId, ExpectedAnswers, QuestionBank, QuestionRequest};

/// A session input that breaks a rule; the message says which field and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidSession(pub String);

fn invalid(msg: impl Into<String>) -> InvalidSession {
    InvalidSession(msg.into())
}

#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
    schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum SessionMode {
    LiveAgent,
    SelfRecord,
}

#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
    schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum SessionStatus {
    Scheduled,
    Waiting,
    InProgress,
    Completed,
    Expired,
    Cancelled,
}

impl SessionStatus {
    /// No call can happen in this session any more.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            SessionStatus::Completed | SessionStatus::Expired | SessionStatus::Cancelled
        )
    }
}

/// An applicant's name: Unicode NFC, every kind of space as one ordinary space, 1–200
/// characters after trimming. Refused: control characters, invisible format characters
/// (zero-width space, bidi overrides and isolates, soft hyphen, BOM…), line and paragraph
/// separators, private-use, surrogate and unassigned code points. The zero-width joiner and
/// non-joiner stay allowed between two letters or marks, where Indic scripts need them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(try_from = "String", into = "String")]
pub struct PersonName(String);

impl TryFrom<String> for PersonName {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        use unicode_general_category::{get_general_category, GeneralCategory as G};
        use unicode_normalization::UnicodeNormalization;
        let nfc: Vec<char> = s.nfc().collect();
        let is_letter_or_mark = |c: Option<&char>| {
            c.is_some_and(|&c| {
                matches!(
                    get_general_category(c),
                    G::UppercaseLetter
                        | G::LowercaseLetter
                        | G::TitlecaseLetter
                        | G::ModifierLetter
                        | G::OtherLetter
                        | G::NonspacingMark
                        | G::SpacingMark
                        | G::EnclosingMark
                )
            })
        };
        let mut out = String::with_capacity(s.len());
        for (i, &c) in nfc.iter().enumerate() {
            match get_general_category(c) {
                G::Control => return Err("name contains control characters".into()),
                G::Format
                    if matches!(c, '\u{200C}' | '\u{200D}')
                        && is_letter_or_mark(i.checked_sub(1).and_then(|j| nfc.get(j)))
                        && is_letter_or_mark(nfc.get(i + 1)) =>
                {
                    out.push(c)
                }
                G::Format => {
                    return Err(format!(
                        "name contains an invisible formatting character (U+{:04X})",
                        c as u32
                    ))
                }
                G::LineSeparator | G::ParagraphSeparator => {
                    return Err("name contains a line or paragraph separator".into())
                }
                G::PrivateUse | G::Surrogate | G::Unassigned => {
                    return Err(format!(
                        "name contains a private-use or unassigned character (U+{:04X})",
                        c as u32
                    ))
                }
                G::SpaceSeparator => {
                    if !out.ends_with(' ') {
                        out.push(' ');
                    }
                }
                _ => out.push(c),
            }
        }
        let t = out.trim();
        if t.is_empty() {
            return Err("name must not be empty".into());
        }
        if t.chars().count() > 200 {
            return Err("name is longer than 200 characters".into());
        }
        Ok(Self(t.to_string()))
    }
}

impl From<PersonName> for String {
    fn from(n: PersonName) -> String {
        n.0
    }
}

impl PersonName {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An opaque reference (loan number, customer id): 1–64 of `A-Z a-z 0-9 - _ . / :`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(try_from = "String", into = "String")]
pub struct Reference(String);

impl TryFrom<String> for Reference {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        if s.is_empty() || s.len() > 64 {
            return Err("reference must be 1 to 64 characters".into());
        }
        if !s
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:".contains(c))
        {
            return Err("reference may only contain letters, digits and - _ . / :".into());
        }
        Ok(Self(s))
    }
}

impl From<Reference> for String {
    fn from(r: Reference) -> String {
        r.0
    }
}

/// A date of birth: exactly `YYYY-MM-DD` (four-digit year, two-digit month and day), in the
/// past, after 1900-01-01.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(try_from = "String", into = "String")]
pub struct DateOfBirth(NaiveDate);

impl TryFrom<String> for DateOfBirth {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        let b = s.as_bytes();
        let shape = b.len() == 10
            && b.iter().enumerate().all(|(i, &c)| {
                if i == 4 || i == 7 {
                    c == b'-'
                } else {
                    c.is_ascii_digit()
                }
            });
        if !shape {
            return Err("date_of_birth must be YYYY-MM-DD".into());
        }
        let d = NaiveDate::parse_from_str(&s, "%Y-%m-%d")
            .map_err(|_| "date_of_birth must be YYYY-MM-DD".to_string())?;
        let min = NaiveDate::from_ymd_opt(1900, 1, 1).unwrap();
        if d < min || d >= Utc::now().date_naive() {
            return Err("date_of_birth must be after 1900-01-01 and in the past".into());
        }
        Ok(Self(d))
    }
}

impl From<DateOfBirth> for String {
    fn from(d: DateOfBirth) -> String {
        d.0.format("%Y-%m-%d").to_string()
    }
}

/// What the lender tells us about the applicant. Personal data: never logged, never in events.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Applicant {
    pub name: PersonName,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date_of_birth: Option<DateOfBirth>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference_id: Option<Reference>,
}

/// What an erased (or purged) session keeps in place of the applicant's name.
pub const ERASED_NAME: &str = "[erased]";

impl Applicant {
    /// The applicant of an erased session: a placeholder name and nothing else.
    pub fn erased() -> Self {
        Self {
            name: PersonName::try_from(ERASED_NAME.to_string()).expect("a valid name"),
            date_of_birth: None,
            reference_id: None,
        }
    }
}

/// `POST /v1/sessions` body. Deserialising it validates it.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSession {
    pub mode: SessionMode,
    pub applicant: Applicant,
    #[serde(default)]
    pub external_ref: Option<Reference>,
    /// The ordered verification steps; default consent, location, document, face.
    #[serde(default)]
    pub workflow: Option<Vec<StepType>>,
    /// Seconds until an unfinished session expires (default `kyc.session_ttl_secs`).
    #[serde(default)]
    pub expires_in_secs: Option<u64>,
    /// A window for the call: the session is `scheduled` until `starts_at` (joining is
    /// refused) and expires at `ends_at` if the call has not started.
    #[serde(default)]
    pub schedule: Option<Schedule>,
    /// `self_record` only: the longest video the customer's page records (default
    /// `kyc.self_record.video_max_duration_secs`).
    #[serde(default)]
    pub video_max_duration: Option<u32>,
    /// Another applicant in an existing live call: the session of that call (the group's
    /// parent). Each applicant has their own workflow and case; the agent decides the parent.
    #[serde(default)]
    pub parent_id: Option<SessionId>,
    /// What the call needs of its agent (languages the customer speaks, the product, the
    /// region, tags): the queue offers it only to agents with these skills.
    #[serde(default)]
    pub requirements: Skills,
    /// The question bank the questions step draws from, and the answers the lender expects
    /// (default: the server's default bank, no expected answers). Only with a questions step.
    #[serde(default)]
    pub questions: Option<QuestionRequest>,
    /// Record the call on the server (default `recording.enabled`). A group's applicants are
    /// in the parent's recording.
    #[serde(default)]
    pub record: Option<bool>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Schedule {
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
}

#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Session {
    pub id: SessionId,
    pub mode: SessionMode,
    pub status: SessionStatus,
    pub applicant: Applicant,
    pub external_ref: Option<Reference>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
    #[serde(default = "default_workflow")]
    pub workflow: Vec<StepType>,
    /// When a session that has not started its call expires (the link stops working).
    pub expires_at: Option<DateTime<Utc>>,
    pub schedule: Option<Schedule>,
    /// `self_record` sessions: the longest video, in seconds.
    pub video_max_duration: Option<u32>,
    /// `self_record` sessions: the recording's upload and processing state.
    pub self_record: Option<SelfRecordState>,
    /// A group's other applicant: the parent session, whose call it shares.
    pub parent_id: Option<SessionId>,
    /// A group's parent: the other applicants' sessions, in the order they were added.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub participants: Vec<SessionId>,
    /// Whether the call is recorded; `None`: the server's default.
    pub record: Option<bool>,
    /// What the call needs of its agent (see [`NewSession::requirements`]).
    #[serde(default, skip_serializing_if = "Skills::is_empty")]
    pub requirements: Skills,
    /// The staff agent the session is assigned to (by the queue, or the agent who took it in
    /// the console): only they act as its agent, and they cannot audit it.
    #[serde(default)]
    pub agent: Option<UserRef>,
    /// The bank the questions were drawn from.
    pub question_bank: Option<BankId>,
    /// The questions step's questions, drawn when the session was created (random choice
    /// and order), with the answers the lender expects. Never shown to the customer.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub questions: Vec<AskedQuestion>,
    /// A legal hold: while set, the retention purge leaves the session alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub legal_hold: Option<crate::retention::LegalHold>,
    /// The classes of this session's data the retention purge deleted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub purged: Vec<crate::retention::DataClass>,
}

/// A session assigned to another agent (403 `assigned_to_another_agent` at the edge).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("this session is assigned to another agent")]
pub struct AssignedElsewhere;

impl Session {
    /// Whether a join token of `role` still opens this session at `now` (token revocation,
    /// kept with the session's status in the store). Every token of a cancelled or expired
    /// session is revoked; once the session has completed, the customer's too, `grace` after
    /// it finished (their page shows the result meanwhile), while the agent's and the
    /// observers' stay valid, until they expire, for the decision and the audit.
    pub fn admits_token(
        &self,
        role: crate::call::Role,
        now: DateTime<Utc>,
        grace: std::time::Duration,
    ) -> bool {
        match self.status {
            SessionStatus::Cancelled | SessionStatus::Expired => false,
            SessionStatus::Completed if role == crate::call::Role::Customer => {
                let finished = self.ended_at.unwrap_or(self.updated_at);
                now < finished + chrono::Duration::from_std(grace).unwrap_or_default()
            }
            _ => true,
        }
    }

    /// Assigns the session to `agent` unless another agent has it; `Ok(true)` when this
    /// changed the session (it had no agent).
    pub fn assign(
        &mut self,
        agent: &UserRef,
        now: DateTime<Utc>,
    ) -> Result<bool, AssignedElsewhere> {
        match &self.agent {
            Some(a) if a.id == agent.id => Ok(false),
            Some(_) => Err(AssignedElsewhere),
            None => {
                self.agent = Some(agent.clone());
                self.updated_at = now;
                Ok(true)
            }
        }
    }

    /// Whether `user` is the session's assigned agent (the maker, who may not be its checker).
    pub fn is_agent(&self, user: UserId) -> bool {
        self.agent.as_ref().is_some_and(|a| a.id == user)
    }

    /// Forgets the lender's expected answers (personal data: the erasure path); the
    /// questions themselves stay, as the record of what was asked.
    pub fn forget_expected_answers(&mut self) {
        for q in &mut self.questions {
            q.expected = None;
        }
    }

    /// Draws this session's questions from `bank` (see [`QuestionBank::draw`]); a session
    /// without a questions step asks none.
    pub fn ask(
        &mut self,
        bank: &QuestionBank,
        expected: &ExpectedAnswers,
        rng: &mut impl rand::Rng,
    ) -> Result<(), InvalidSession> {
        if !self.workflow.contains(&StepType::Questions) {
            return Err(invalid(
                "questions: only for a session whose workflow has a questions step",
            ));
        }
        self.questions = bank.draw(expected, rng).map_err(|e| InvalidSession(e.0))?;
        self.question_bank = Some(bank.id.clone());
        Ok(())
    }
}

impl Session {
    /// The session whose room the call happens in (the parent's, for a group's applicant).
    pub fn room_id(&self) -> SessionId {
        self.parent_id.unwrap_or(self.id)
    }
}

/// Where a self-recorded session is: recording → uploaded (video complete) → processing
/// (frames submitted; face match and liveness running) → done; a failed check goes back to
/// recording, or, after `max_failed_checks` failures, to `live_agent`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SelfRecordPhase {
    Recording,
    Processing,
    Done,
    /// Handed to a live agent: the session is a live-agent session now, waiting in the queue.
    LiveAgent,
}

/// What follows a self-record check that did not pass.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
    schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum AfterFailedCheck {
    /// The customer records again.
    Retry,
    /// The session became a live-agent session; the customer waits for an agent.
    LiveAgent,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SelfRecordState {
    pub phase: SelfRecordPhase,
    pub challenge_id: uuid::Uuid,
    pub started_at: DateTime<Utc>,
    /// The video upload: bytes received of `total` (known from the first chunk), in
    /// `chunks` stored pieces.
    pub video_type: Option<String>,
    pub video_total: Option<u64>,
    pub video_received: u64,
    pub video_chunks: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub submitted_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub processed_at: Option<DateTime<Utc>>,
    /// Submitted videos whose checks did not pass (the customer recorded again after each).
    #[serde(default)]
    pub failed_checks: u32,
}

impl SelfRecordState {
    pub fn video_complete(&self) -> bool {
        self.video_total
            .is_some_and(|t| t > 0 && self.video_received == t)
    }
}

/// A self-record change that does not apply: the session is not self-recorded or not
/// processing a submitted video.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the session is not processing a self-recorded video")]
pub struct NotProcessing;

impl Session {
    fn processing(&mut self) -> Result<&mut SelfRecordState, NotProcessing> {
        if self.mode != SessionMode::SelfRecord || self.status.is_final() {
            return Err(NotProcessing);
        }
        match self.self_record.as_mut() {
            Some(r) if r.phase == SelfRecordPhase::Processing => Ok(r),
            _ => Err(NotProcessing),
        }
    }

    /// The checks of the submitted video are done and the system set `result`: the session
    /// is complete (through the event, as every completion).
    pub fn self_record_completed(
        &mut self,
        result: crate::kyc::CaseResult,
        now: DateTime<Utc>,
    ) -> Result<DomainEvent, NotProcessing> {
        let r = self.processing()?;
        r.phase = SelfRecordPhase::Done;
        r.processed_at = Some(now);
        Ok(DomainEvent::new(
            Some(self.id),
            data::SelfRecordCompleted { result },
        ))
    }

    /// The checks of the submitted video did not pass. Before `max_failed_checks` failures
    /// the customer records again (the next start begins a new upload); at the limit the
    /// session becomes a live-agent session, `waiting`, so the customer's page takes them to
    /// the queue and an agent verifies them on a call (the failed attempts stay in the case).
    pub fn self_record_failed(
        &mut self,
        max_failed_checks: u32,
        now: DateTime<Utc>,
    ) -> Result<DomainEvent, NotProcessing> {
        let r = self.processing()?;
        r.failed_checks += 1;
        r.processed_at = Some(now);
        let failed_checks = r.failed_checks;
        let next = if failed_checks < max_failed_checks {
            r.phase = SelfRecordPhase::Recording;
            r.submitted_at = None;
            AfterFailedCheck::Retry
        } else {
            r.phase = SelfRecordPhase::LiveAgent;
            self.mode = SessionMode::LiveAgent;
            self.status = SessionStatus::Waiting;
            AfterFailedCheck::LiveAgent
        };
        self.updated_at = now;
        Ok(DomainEvent::new(
            Some(self.id),
            data::SelfRecordCheckFailed {
                failed_checks,
                next,
            },
        ))
    }
}

/// The steps a self-record session can hold (no agent is there to capture a document).
pub const SELF_RECORD_STEPS: [StepType; 3] =
    [StepType::Consent, StepType::Location, StepType::Face];

fn default_workflow() -> Vec<StepType> {
    DEFAULT_WORKFLOW.to_vec()
}

impl Session {
    pub fn create(
        new: NewSession,
        default_ttl_secs: u64,
        sr: &SelfRecordSettings,
        now: DateTime<Utc>,
    ) -> Result<Self, InvalidSession> {
        let ttl = new.expires_in_secs.unwrap_or(default_ttl_secs);
        if ttl == 0 || ttl > 90 * 86_400 {
            return Err(invalid("expires_in_secs: 1 second to 90 days"));
        }
        let video_max_duration = match (new.mode, new.video_max_duration) {
            (SessionMode::LiveAgent, None) => None,
            (SessionMode::LiveAgent, Some(_)) => {
                return Err(invalid("video_max_duration: only for self_record sessions"))
            }
            (SessionMode::SelfRecord, d) => {
                let d = d.unwrap_or(sr.video_max_duration_secs);
                if !(15..=sr.max_video_duration_secs).contains(&d) {
                    return Err(invalid(format!(
                        "video_max_duration: 15 to {} seconds",
                        sr.max_video_duration_secs
                    )));
                }
                Some(d)
            }
        };
        if new.parent_id.is_some() && (new.mode != SessionMode::LiveAgent || new.schedule.is_some())
        {
            return Err(invalid("parent_id: only for live_agent sessions without their own schedule (the call is the parent's)"));
        }
        let workflow = match new.mode {
            SessionMode::LiveAgent => new.workflow.unwrap_or_else(default_workflow),
            SessionMode::SelfRecord => {
                let w = new.workflow.unwrap_or_else(|| SELF_RECORD_STEPS.to_vec());
                if w.iter().any(|t| !SELF_RECORD_STEPS.contains(t)) || !w.contains(&StepType::Face)
                {
                    return Err(invalid("workflow: a self_record session has a face step and otherwise only consent and location"));
                }
                w
            }
        };
        if workflow.is_empty() || workflow.len() > 10 {
            return Err(invalid("workflow: 1 to 10 steps"));
        }
        if (1..workflow.len()).any(|i| workflow[..i].contains(&workflow[i])) {
            return Err(invalid("workflow: each step type at most once"));
        }
        if new.questions.is_some() && !workflow.contains(&StepType::Questions) {
            return Err(invalid(
                "questions: only for a session whose workflow has a questions step",
            ));
        }
        let (status, expires_at) = match new.schedule {
            None => (
                SessionStatus::Waiting,
                now + chrono::Duration::seconds(ttl as i64),
            ),
            Some(w) => {
                if new.expires_in_secs.is_some() {
                    return Err(invalid("give schedule or expires_in_secs, not both: a scheduled session expires at schedule.ends_at"));
                }
                if w.starts_at >= w.ends_at
                    || w.ends_at <= now
                    || w.ends_at - w.starts_at > chrono::Duration::days(90)
                {
                    return Err(invalid("schedule: starts_at before ends_at, ends_at in the future, at most 90 days apart"));
                }
                (
                    if w.starts_at > now {
                        SessionStatus::Scheduled
                    } else {
                        SessionStatus::Waiting
                    },
                    w.ends_at,
                )
            }
        };
        Ok(Self {
            id: SessionId::new(),
            mode: new.mode,
            status,
            applicant: new.applicant,
            external_ref: new.external_ref,
            created_at: now,
            updated_at: now,
            started_at: None,
            ended_at: None,
            workflow,
            expires_at: Some(expires_at),
            schedule: new.schedule,
            video_max_duration,
            self_record: None,
            parent_id: new.parent_id,
            participants: vec![],
            record: new.record,
            requirements: new.requirements,
            agent: None,
            question_bank: None,
            questions: vec![],
            legal_hold: None,
            purged: vec![],
        })
    }
}

/// Self-record sessions (`[kyc.self_record]`): the customer records a video alone.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SelfRecordSettings {
    /// Default and largest `video_max_duration_secs` of a session.
    pub video_max_duration_secs: u32,
    pub max_video_duration_secs: u32,
    /// Largest video file, and largest chunk of its resumable upload.
    pub max_video_bytes: u64,
    pub max_chunk_bytes: u64,
    /// Submitted videos that may fail their automatic checks before the session goes to a
    /// live agent (the customer records again after each earlier failure).
    #[serde(default = "two")]
    pub max_failed_checks: u32,
}

fn two() -> u32 {
    2
}

// ------------------------------------------------------------------------ lifecycle

/// Where an event moves the session it names (and, for a group's parent, every applicant
/// with it): `None` for events that do not move a session.
pub fn status_after(kind: EventKind) -> Option<SessionStatus> {
    match kind {
        EventKind::RoomStarted | EventKind::SelfRecordStarted => Some(SessionStatus::InProgress),
        EventKind::RoomEnded | EventKind::SelfRecordCompleted => Some(SessionStatus::Completed),
        _ => None,
    }
}

/// A session that has already finished (completed, expired or cancelled) cannot change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the session has already finished")]
pub struct AlreadyFinal;

impl Session {
    /// The change `event` implies for this session (the call started or ended), applied at
    /// `now`. Returns whether the session changed and the events that follow from the change
    /// (`video.completed` when the call is over: the case is ready for review). A final
    /// session does not change. For a group's parent the caller applies the same event to
    /// each of [`Session::participants`].
    pub fn apply(&mut self, event: EventKind, now: DateTime<Utc>) -> (bool, Vec<DomainEvent>) {
        let Some(next) = status_after(event) else {
            return (false, vec![]);
        };
        if self.status.is_final() {
            return (false, vec![]);
        }
        self.status = next;
        self.updated_at = now;
        let mut follow = vec![];
        match next {
            SessionStatus::InProgress => self.started_at = self.started_at.or(Some(now)),
            _ => {
                self.ended_at = Some(now);
                let duration = self.started_at.map(|t| (now - t).num_seconds());
                follow.push(DomainEvent::new(
                    Some(self.id),
                    data::VideoCompleted {
                        duration_secs: duration,
                    },
                ));
            }
        }
        (true, follow)
    }

    /// Cancels a session that has not finished.
    pub fn cancel(&mut self, now: DateTime<Utc>) -> Result<DomainEvent, AlreadyFinal> {
        if self.status.is_final() {
            return Err(AlreadyFinal);
        }
        self.status = SessionStatus::Cancelled;
        self.updated_at = now;
        self.ended_at = self.ended_at.or(Some(now));
        Ok(DomainEvent::new(Some(self.id), data::SessionCancelled {}))
    }

    /// A scheduled session whose window has opened becomes `waiting`.
    pub fn open_window(&mut self, now: DateTime<Utc>) -> Option<DomainEvent> {
        if self.status != SessionStatus::Scheduled {
            return None;
        }
        self.status = SessionStatus::Waiting;
        self.updated_at = now;
        Some(DomainEvent::new(Some(self.id), data::SessionWaiting {}))
    }

    /// A session past its `expires_at` whose call has not started becomes `expired`.
    pub fn expire(&mut self, now: DateTime<Utc>) -> Option<DomainEvent> {
        if !matches!(
            self.status,
            SessionStatus::Waiting | SessionStatus::Scheduled
        ) || self.expires_at.is_some_and(|at| at > now)
        {
            return None;
        }
        self.status = SessionStatus::Expired;
        self.updated_at = now;
        Some(DomainEvent::new(
            Some(self.id),
            data::SessionExpired { expired_at: now },
        ))
    }

    /// The `session.created` event of a new session.
    pub fn created_event(&self) -> DomainEvent {
        DomainEvent::new(
            Some(self.id),
            data::SessionCreated {
                mode: self.mode,
                status: self.status,
            },
        )
    }
}

// ------------------------------------------------------------------------ groups

/// The most applicants in one call (the parent and its participants).
pub const MAX_GROUP: usize = 10;

/// Why an applicant cannot join a group's call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdmissionError {
    #[error("no session with this parent_id")]
    ParentNotFound,
    #[error("parent_id must be the group's first session, not another applicant's")]
    ParentIsChild,
    #[error("the parent session is not an open live call")]
    ParentClosed,
    #[error("a call holds at most {MAX_GROUP} applicants")]
    TooManyParticipants,
}

impl AdmissionError {
    /// The stable error code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::ParentNotFound => "parent_not_found",
            Self::ParentIsChild => "parent_is_child",
            Self::ParentClosed => "parent_closed",
            Self::TooManyParticipants => "too_many_participants",
        }
    }
}

impl Session {
    /// Admits `child` (a new session naming this one as `parent_id`) to this session's call:
    /// the parent lists it, and a child joining a call already on starts with it. Stores call
    /// this inside the operation that writes both, so two admissions cannot both take the
    /// last place. Admitting the same child again changes nothing.
    pub fn admit(&mut self, child: &mut Session, now: DateTime<Utc>) -> Result<(), AdmissionError> {
        if self.parent_id.is_some() {
            return Err(AdmissionError::ParentIsChild);
        }
        if self.mode != SessionMode::LiveAgent || self.status.is_final() {
            return Err(AdmissionError::ParentClosed);
        }
        if !self.participants.contains(&child.id) {
            if self.participants.len() + 1 >= MAX_GROUP {
                return Err(AdmissionError::TooManyParticipants);
            }
            self.participants.push(child.id);
            self.updated_at = now;
        }
        if self.status == SessionStatus::InProgress {
            child.status = SessionStatus::InProgress;
            child.started_at = child.started_at.or(Some(now));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(v: serde_json::Value) -> Result<NewSession, String> {
        serde_json::from_value(v).map_err(|e| e.to_string())
    }

    fn session(new: serde_json::Value) -> Session {
        let sr = SelfRecordSettings {
            video_max_duration_secs: 60,
            max_video_duration_secs: 300,
            max_video_bytes: 1 << 20,
            max_chunk_bytes: 1 << 16,
            max_failed_checks: 2,
        };
        Session::create(parse(new).unwrap(), 3600, &sr, Utc::now()).unwrap()
    }

    #[test]
    fn names_are_normalised_and_hide_nothing() {
        let name = |s: &str| PersonName::try_from(s.to_string()).map(|n| n.as_str().to_string());
        // NFC: "e" + combining acute becomes "é"; any space becomes one ordinary space.
        assert_eq!(
            name("Rene\u{301}e\u{00A0}\u{00A0}Dupont ").unwrap(),
            "Renée Dupont"
        );
        // Indic names keep the joiners they need, between letters and marks.
        assert_eq!(name("क्\u{200D}ष").unwrap(), "क्\u{200D}ष");
        assert!(name("अनु\u{200C}राग").is_ok());
        for (bad, why) in [
            ("Asha\u{200B}Rao", "invisible"),
            ("Asha \u{202E}oaR", "invisible"),
            ("\u{2066}Asha\u{2069}", "invisible"),
            ("\u{FEFF}Asha", "invisible"),
            ("As\u{00AD}ha", "invisible"),
            ("\u{200D}Asha", "invisible"),
            ("Asha\u{2028}Rao", "separator"),
            ("Asha\u{E000}", "private-use"),
            ("Asha\tRao", "control"),
            (" \u{3000} ", "empty"),
        ] {
            let e = name(bad).unwrap_err();
            assert!(e.contains(why), "{bad:?}: {e}");
        }
    }

    #[test]
    fn a_date_of_birth_is_exactly_yyyy_mm_dd() {
        let dob = |s: &str| DateOfBirth::try_from(s.to_string());
        assert!(dob("1990-01-05").is_ok());
        for bad in [
            "1990-1-5",
            "+1990-01-01",
            "1990-01-5",
            " 1990-01-05",
            "19900105",
            "1990/01/05",
            "1899-12-31",
            "1990-02-30",
        ] {
            assert!(dob(bad).is_err(), "{bad}");
        }
    }

    /// A self-record session with a submitted video being checked.
    fn processing() -> Session {
        let mut s = session(json_self_record());
        s.status = SessionStatus::InProgress;
        s.self_record = Some(SelfRecordState {
            phase: SelfRecordPhase::Processing,
            challenge_id: uuid::Uuid::nil(),
            started_at: Utc::now(),
            video_type: Some("video/webm".into()),
            video_total: Some(10),
            video_received: 10,
            video_chunks: 1,
            submitted_at: Some(Utc::now()),
            processed_at: None,
            failed_checks: 0,
        });
        s
    }

    fn json_self_record() -> serde_json::Value {
        serde_json::json!({"mode": "self_record", "applicant": {"name": "Asha Rao"}})
    }

    #[test]
    fn a_self_record_that_fails_twice_goes_to_a_live_agent() {
        let mut s = processing();
        let ev = s.self_record_failed(2, Utc::now()).unwrap();
        assert_eq!(ev.kind(), EventKind::SelfRecordCheckFailed);
        assert_eq!(ev.data_json()["next"], "retry");
        let r = s.self_record.as_ref().unwrap();
        assert_eq!((r.phase, r.failed_checks), (SelfRecordPhase::Recording, 1));
        assert_eq!(
            (s.mode, s.status),
            (SessionMode::SelfRecord, SessionStatus::InProgress)
        );
        assert_eq!(
            s.self_record_failed(2, Utc::now()),
            Err(NotProcessing),
            "only a submitted video fails"
        );

        s.self_record.as_mut().unwrap().phase = SelfRecordPhase::Processing;
        let ev = s.self_record_failed(2, Utc::now()).unwrap();
        assert_eq!(
            (
                ev.data_json()["next"].as_str(),
                ev.data_json()["failed_checks"].as_u64()
            ),
            (Some("live_agent"), Some(2))
        );
        assert_eq!(
            (s.mode, s.status, s.self_record.as_ref().unwrap().phase),
            (
                SessionMode::LiveAgent,
                SessionStatus::Waiting,
                SelfRecordPhase::LiveAgent
            ),
            "a live-agent session waiting for the queue"
        );
        assert_eq!(
            s.self_record_completed(crate::kyc::CaseResult::Approved, Utc::now()),
            Err(NotProcessing)
        );
    }

    #[test]
    fn a_self_record_that_passes_completes_through_its_event() {
        let mut s = processing();
        let ev = s
            .self_record_completed(crate::kyc::CaseResult::Approved, Utc::now())
            .unwrap();
        assert_eq!(s.self_record.as_ref().unwrap().phase, SelfRecordPhase::Done);
        assert_eq!(
            s.status,
            SessionStatus::InProgress,
            "the event completes it"
        );
        let (changed, follow) = s.apply(ev.kind(), Utc::now());
        assert!(changed);
        assert_eq!(s.status, SessionStatus::Completed);
        assert_eq!(follow[0].kind(), EventKind::VideoCompleted);
        assert_eq!(
            status_after(EventKind::SelfRecordSubmitted),
            None,
            "a submitted video is checked before the session completes"
        );
    }

    #[test]
    fn a_session_is_assigned_to_one_agent() {
        let mut s = live();
        let a = UserRef {
            id: UserId::new(),
            name: "A".into(),
            email: "a@b.co".into(),
        };
        let b = UserRef {
            id: UserId::new(),
            name: "B".into(),
            email: "b@b.co".into(),
        };
        let now = Utc::now();
        assert_eq!(s.assign(&a, now), Ok(true));
        assert_eq!(s.assign(&a, now), Ok(false));
        assert_eq!(s.assign(&b, now), Err(AssignedElsewhere));
        assert!(s.is_agent(a.id) && !s.is_agent(b.id));
    }

    fn live() -> Session {
        session(serde_json::json!({"mode":"live_agent","applicant":{"name":"A"}}))
    }

    #[test]
    fn tokens_are_revoked_with_the_session_and_the_customers_after_completion() {
        use crate::call::Role::{Agent, Customer, Observer};
        let mut s = live();
        let now = Utc::now();
        s.ended_at = Some(now - chrono::Duration::seconds(60));
        let grace = std::time::Duration::from_secs(600);
        for (status, agent, customer, observer) in [
            (SessionStatus::Scheduled, true, true, true),
            (SessionStatus::Waiting, true, true, true),
            (SessionStatus::InProgress, true, true, true),
            (SessionStatus::Completed, true, true, true),
            (SessionStatus::Cancelled, false, false, false),
            (SessionStatus::Expired, false, false, false),
        ] {
            s.status = status;
            let admits = |r| s.admits_token(r, now, grace);
            assert_eq!(
                (admits(Agent), admits(Customer), admits(Observer)),
                (agent, customer, observer),
                "{status:?}"
            );
        }
        s.status = SessionStatus::Completed;
        let later = now + chrono::Duration::seconds(600);
        assert!(!s.admits_token(Customer, later, grace), "past the grace");
        assert!(s.admits_token(Agent, later, grace) && s.admits_token(Observer, later, grace));
    }

    #[test]
    fn the_call_moves_the_session_once_and_a_final_session_stays() {
        let mut s = live();
        assert_eq!(s.status, SessionStatus::Waiting);
        let t0 = Utc::now();
        assert_eq!(s.apply(EventKind::PeerJoined, t0), (false, vec![]));
        let (changed, follow) = s.apply(EventKind::RoomStarted, t0);
        assert!(changed && follow.is_empty());
        assert_eq!(
            (s.status, s.started_at),
            (SessionStatus::InProgress, Some(t0))
        );
        let t1 = t0 + chrono::Duration::seconds(90);
        let (changed, follow) = s.apply(EventKind::RoomEnded, t1);
        assert!(changed);
        assert_eq!(s.status, SessionStatus::Completed);
        assert_eq!(follow.len(), 1);
        assert_eq!(follow[0].kind(), EventKind::VideoCompleted);
        assert_eq!(follow[0].data_json()["duration_secs"], 90);
        // Completed is final: a late room.started, a cancel and expiry change nothing.
        assert_eq!(s.apply(EventKind::RoomStarted, t1), (false, vec![]));
        assert_eq!(s.cancel(t1).map(|e| e.kind()), Err(AlreadyFinal));
        assert!(s.expire(t1 + chrono::Duration::days(2)).is_none());
        assert_eq!(s.status, SessionStatus::Completed);
    }

    #[test]
    fn expiry_and_windows() {
        let mut s = live();
        assert!(s.expire(Utc::now()).is_none(), "not yet due");
        let later = s.expires_at.unwrap() + chrono::Duration::seconds(1);
        assert_eq!(
            s.expire(later).map(|e| e.kind()),
            Some(EventKind::SessionExpired)
        );
        assert_eq!(s.status, SessionStatus::Expired);

        let now = Utc::now();
        let w = serde_json::json!({"starts_at": now + chrono::Duration::hours(1), "ends_at": now + chrono::Duration::hours(2)});
        let mut s = session(
            serde_json::json!({"mode":"live_agent","applicant":{"name":"A"},"schedule": w}),
        );
        assert_eq!(s.status, SessionStatus::Scheduled);
        assert_eq!(
            s.open_window(now).map(|e| e.kind()),
            Some(EventKind::SessionWaiting)
        );
        assert!(s.open_window(now).is_none());
        let mut s = live();
        s.apply(EventKind::RoomStarted, now);
        assert!(
            s.expire(now + chrono::Duration::days(3)).is_none(),
            "a call that started does not expire"
        );
        assert_eq!(
            s.cancel(now).map(|e| e.kind()),
            Ok(EventKind::SessionCancelled)
        );
    }

    #[test]
    fn group_admission() {
        let now = Utc::now();
        let mut parent = live();
        let mut child = live();
        parent.admit(&mut child, now).unwrap();
        parent.admit(&mut child, now).unwrap();
        assert_eq!(parent.participants, vec![child.id]);
        assert_eq!(child.status, SessionStatus::Waiting);
        let mut grandchild = live();
        child.parent_id = Some(parent.id);
        assert_eq!(
            child.admit(&mut grandchild, now),
            Err(AdmissionError::ParentIsChild)
        );
        parent.apply(EventKind::RoomStarted, now);
        let mut late = live();
        parent.admit(&mut late, now).unwrap();
        assert_eq!(
            late.status,
            SessionStatus::InProgress,
            "joins a call that is on"
        );
        while parent.participants.len() + 1 < MAX_GROUP {
            parent.admit(&mut live(), now).unwrap();
        }
        let e = parent.admit(&mut live(), now).unwrap_err();
        assert_eq!(e.code(), "too_many_participants");
        assert_eq!(parent.participants.len() + 1, MAX_GROUP);
        parent.apply(EventKind::RoomEnded, now);
        assert_eq!(
            parent.admit(&mut live(), now),
            Err(AdmissionError::ParentClosed)
        );
        let mut sr = session(serde_json::json!({"mode":"self_record","applicant":{"name":"A"}}));
        assert_eq!(
            sr.admit(&mut live(), now),
            Err(AdmissionError::ParentClosed)
        );
    }

    #[test]
    fn valid_session_parses() {
        let s = parse(serde_json::json!({"mode":"live_agent","applicant":{"name":"  Asha Rao ","date_of_birth":"1990-02-28","reference_id":"LN-1"}})).unwrap();
        assert_eq!(s.applicant.name.as_str(), "Asha Rao");
    }

    #[test]
    fn invalid_inputs_are_rejected_with_a_reason() {
        let cases = [
            (
                serde_json::json!({"mode":"live_agent","applicant":{"name":""}}),
                "empty",
            ),
            (
                serde_json::json!({"mode":"live_agent","applicant":{"name":"a\u{0007}b"}}),
                "control",
            ),
            (
                serde_json::json!({"mode":"live_agent","applicant":{"name":"x".repeat(201)}}),
                "200",
            ),
            (
                serde_json::json!({"mode":"live_agent","applicant":{"name":"A","date_of_birth":"31-01-1990"}}),
                "YYYY-MM-DD",
            ),
            (
                serde_json::json!({"mode":"live_agent","applicant":{"name":"A","date_of_birth":"2999-01-01"}}),
                "past",
            ),
            (
                serde_json::json!({"mode":"live_agent","applicant":{"name":"A","reference_id":"a b"}}),
                "reference",
            ),
            (
                serde_json::json!({"mode":"video","applicant":{"name":"A"}}),
                "unknown variant",
            ),
            (
                serde_json::json!({"mode":"live_agent","applicant":{"name":"A"},"extra":1}),
                "unknown field",
            ),
        ];
        for (input, why) in cases {
            let err = parse(input.clone()).unwrap_err();
            assert!(err.contains(why), "{input}: {err}");
        }
    }
}
