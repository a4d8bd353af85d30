//! The KYC case of a session: its workflow, the step instances with every attempt (retakes
//! are appended, never overwritten), the agent's and the auditor's decisions, and the
//! recommendation computed from the checks. Pure data and rules; the case actors run the
//! steps and persist the case through [`CaseStore`].
//!
//! **The case lock.** Every change goes through [`KycCase::check`] (the mutating methods
//! call it): evidence (attempts of every step, codes, challenges, captures, step decisions,
//! answers) and the agent's decision are taken while the case is [`Stage::Open`] or
//! [`Stage::Reopened`] (after a `recapture` audit, until the agent decides again); the
//! audit only while it is [`Stage::Decided`]. Anything else is refused with
//! [`CaseRefusal::AlreadyDecided`] (409 `already_decided`) or [`CaseRefusal::NotDecided`].

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::call::Role;
use crate::ids::SessionId;
use crate::step_data::{QuestionsData, StepData};

/// What went wrong with one input of a check, with a stable code (`no_face`, `not_live`…).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct CheckError {
    pub code: String,
    pub message: String,
}

impl CheckError {
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            code: code.into(),
            message: message.into(),
        }
    }
}

/// Who made a change to a case: the lender's backend (API key) or a participant of the
/// session. Written as `backend` or `role:participant-id` (the participant id is the
/// lender's opaque reference for an agent or auditor, never the applicant's data).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Principal {
    Backend,
    Participant {
        role: Role,
        id: String,
    },
    /// vkyc itself, e.g. `system:self_record` (the automatic result of a self-recorded session).
    System(String),
}

impl Principal {
    /// The role in events (`by_role`): `backend`, `agent`, `customer`, `observer`.
    pub fn role_str(&self) -> &'static str {
        match self {
            Principal::Backend => "backend",
            Principal::Participant { role, .. } => role.as_str(),
            Principal::System(_) => "system",
        }
    }
}

impl std::fmt::Display for Principal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Principal::Backend => f.write_str("backend"),
            Principal::Participant { role, id } => write!(f, "{}:{id}", role.as_str()),
            Principal::System(what) => write!(f, "system:{what}"),
        }
    }
}

/// In the API contract a principal is its string form.
impl utoipa::PartialSchema for Principal {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        let o = utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .description(Some("Who made the change: `backend` (API key), `system:<what>`, or `<role>:<participant id>`"))
            .examples(["agent:agent-7"])
            .build();
        utoipa::openapi::schema::Schema::Object(o).into()
    }
}

impl utoipa::ToSchema for Principal {}

impl From<Principal> for String {
    fn from(p: Principal) -> String {
        p.to_string()
    }
}

impl TryFrom<String> for Principal {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        if s == "backend" {
            return Ok(Principal::Backend);
        }
        // Cases written before participant ids were kept name only the role.
        let (role, id) = s.split_once(':').unwrap_or((s.as_str(), ""));
        if role == "system" {
            return Ok(Principal::System(id.to_string()));
        }
        let role = role
            .parse::<Role>()
            .map_err(|_| format!("unknown principal {s:?}"))?;
        Ok(Principal::Participant {
            role,
            id: id.to_string(),
        })
    }
}

#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
    schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum StepType {
    Consent,
    Location,
    Otp,
    Questions,
    Document,
    Face,
}

impl StepType {
    pub fn as_str(self) -> &'static str {
        match self {
            StepType::Consent => "consent",
            StepType::Location => "location",
            StepType::Otp => "otp",
            StepType::Questions => "questions",
            StepType::Document => "document",
            StepType::Face => "face",
        }
    }
}

/// The workflow when a session is created without one.
pub const DEFAULT_WORKFLOW: [StepType; 4] = [
    StepType::Consent,
    StepType::Location,
    StepType::Document,
    StepType::Face,
];

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
pub enum Outcome {
    /// The check passed.
    Passed,
    /// The check ran and did not pass (e.g. outside the allowed region, no match).
    Failed,
    /// The check could not run on this input (no face, unreadable card, engine busy…).
    Error,
}

/// The 0–100 figures of an attempt that the recommendation uses.
// Its JSON Schema (in the `step.completed` event) says a score is present or absent, never
// null, and that any score added later is a 0–100 integer too.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
    schemars::JsonSchema,
)]
#[schemars(extend("additionalProperties" = {"type": "integer", "minimum": 0, "maximum": 100}))]
pub struct Scores {
    /// Face step: the best reference's face match score (60 and above is a match).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(required, range(max = 100))]
    pub face_match: Option<u8>,
    /// Face step: the liveness score, when a head-movement challenge ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(required, range(max = 100))]
    pub liveness: Option<u8>,
    /// Document step: how well the name read matches the applicant's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(required, range(max = 100))]
    pub name_match: Option<u8>,
}

/// One run of a step. `data` holds the step's details (fields read, matches per source…);
/// `scores` the 0–100 figures the recommendation uses.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Attempt {
    pub n: u32,
    pub by: Principal,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub outcome: Outcome,
    #[serde(default)]
    pub scores: Scores,
    #[serde(default)]
    pub errors: Vec<CheckError>,
    /// The step's details, as the step's `type` has them; null when the step crashed
    /// (`step_failed`).
    #[serde(default, deserialize_with = "data_read_with_its_step")]
    pub data: Option<StepData>,
}

impl Attempt {
    /// The answers, on an attempt of the questions step.
    pub fn questions(&self) -> Option<&QuestionsData> {
        match &self.data {
            Some(StepData::Questions(q)) => Some(q),
            _ => None,
        }
    }
}

/// An attempt read on its own has no step type to read its data by: only `null` is taken.
fn data_read_with_its_step<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<StepData>, D::Error> {
    match Value::deserialize(d)? {
        Value::Null => Ok(None),
        _ => Err(serde::de::Error::custom(
            "an attempt's data is read with its step's type",
        )),
    }
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
pub enum Verdict {
    Verified,
    Declined,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StepDecision {
    pub verdict: Verdict,
    pub by: Principal,
    pub at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
}

// Read in two passes: the `type` first, then each attempt's `data` as that type's
// [`StepData`] (the JSON has no tag of its own).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(try_from = "StoredStep")]
pub struct Step {
    #[serde(rename = "type")]
    pub step_type: StepType,
    /// The latest attempt is last; earlier ones are kept.
    pub attempts: Vec<Attempt>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision: Option<StepDecision>,
}

/// A [`Step`] as stored, before its attempts' data is read by the step's type.
#[derive(Deserialize)]
struct StoredStep {
    #[serde(rename = "type")]
    step_type: StepType,
    attempts: Vec<Value>,
    #[serde(default)]
    decision: Option<StepDecision>,
}

impl TryFrom<StoredStep> for Step {
    type Error = serde_json::Error;
    fn try_from(s: StoredStep) -> Result<Self, serde_json::Error> {
        let mut attempts = Vec::with_capacity(s.attempts.len());
        for mut a in s.attempts {
            let data = a
                .as_object_mut()
                .and_then(|m| m.remove("data"))
                .unwrap_or(Value::Null);
            let mut attempt: Attempt = serde_json::from_value(a)?;
            attempt.data = StepData::from_json(s.step_type, data)?;
            attempts.push(attempt);
        }
        Ok(Step {
            step_type: s.step_type,
            attempts,
            decision: s.decision,
        })
    }
}

impl Step {
    pub fn latest(&self) -> Option<&Attempt> {
        self.attempts.last()
    }
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
pub enum CaseResult {
    Approved,
    Declined,
    NeedsReview,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AgentDecision {
    pub result: CaseResult,
    pub by: Principal,
    pub at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
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
pub enum AuditVerdict {
    Approved,
    Declined,
    /// Send back: a step must be captured again.
    Recapture,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AuditDecision {
    pub verdict: AuditVerdict,
    pub by: Principal,
    pub at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
}

/// `face`, `document`, `frame` (any other frame of the call, e.g. a liveness frame) or
/// `reference` (the lender's photo of the applicant: api key only).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum CaptureKind {
    /// The customer's face (for face match / liveness).
    Face,
    /// An ID document held up to the camera.
    Document,
    /// Any other frame of the call.
    Frame,
    /// A reference image of the applicant from the lender (e.g. the photo on file); only
    /// the api key may upload one.
    Reference,
}

/// Everything the KYC process recorded for one session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct KycCase {
    pub session_id: SessionId,
    pub workflow: Vec<StepType>,
    pub steps: Vec<Step>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_decision: Option<AgentDecision>,
    /// Every audit, oldest first (a recapture is followed by another audit).
    #[serde(default)]
    pub audits: Vec<AuditDecision>,
}

impl KycCase {
    pub fn new(session_id: SessionId, workflow: Vec<StepType>) -> Self {
        let steps = workflow
            .iter()
            .map(|&t| Step {
                step_type: t,
                attempts: Vec::new(),
                decision: None,
            })
            .collect();
        Self {
            session_id,
            workflow,
            steps,
            agent_decision: None,
            audits: Vec::new(),
        }
    }

    pub fn step(&self, t: StepType) -> Option<&Step> {
        self.steps.iter().find(|s| s.step_type == t)
    }

    fn step_mut(&mut self, t: StepType) -> Option<&mut Step> {
        self.steps.iter_mut().find(|s| s.step_type == t)
    }

    fn latest_scores(&self, t: StepType) -> Option<Scores> {
        self.step(t).and_then(|s| s.latest()).map(|a| a.scores)
    }

    pub fn face_match_score(&self) -> Option<u8> {
        self.latest_scores(StepType::Face)
            .and_then(|s| s.face_match)
    }

    pub fn liveness_score(&self) -> Option<u8> {
        self.latest_scores(StepType::Face).and_then(|s| s.liveness)
    }

    pub fn name_match_score(&self) -> Option<u8> {
        self.latest_scores(StepType::Document)
            .and_then(|s| s.name_match)
    }

    /// Where the case is in its review (see the module doc).
    pub fn stage(&self) -> Stage {
        let Some(decision) = &self.agent_decision else {
            return Stage::Open;
        };
        match self.audits.last() {
            None => Stage::Decided,
            Some(a) if a.verdict == AuditVerdict::Recapture => {
                if a.at > decision.at {
                    Stage::Reopened
                } else {
                    Stage::Decided
                }
            }
            Some(_) => Stage::Audited,
        }
    }

    /// Whether `change` may happen now: the one rule every change to a case goes through.
    pub fn check(&self, change: Change) -> Result<(), CaseRefusal> {
        if let Change::Evidence(t) = change {
            if self.step(t).is_none() {
                return Err(CaseRefusal::NotInWorkflow(t));
            }
        }
        match (change, self.stage()) {
            (
                Change::Evidence(_) | Change::Capture | Change::Decide,
                Stage::Open | Stage::Reopened,
            ) => Ok(()),
            (Change::Audit, Stage::Decided) => Ok(()),
            (Change::Audit, Stage::Open | Stage::Reopened) => Err(CaseRefusal::NotDecided),
            _ => Err(CaseRefusal::AlreadyDecided),
        }
    }

    /// Whether step `t` may be taken (again): its attempts that did not pass are fewer than
    /// `1 + max_retries` (then the agent decides the step or the case), and the case lock
    /// allows evidence.
    pub fn check_retake(&self, t: StepType, max_retries: u32) -> Result<(), CaseRefusal> {
        self.check(Change::Evidence(t))?;
        let step = self.step(t).ok_or(CaseRefusal::NotInWorkflow(t))?;
        let not_passed = step
            .attempts
            .iter()
            .filter(|a| a.outcome != Outcome::Passed)
            .count();
        if not_passed as u64 > u64::from(max_retries) {
            return Err(CaseRefusal::RetriesExhausted(t));
        }
        Ok(())
    }

    /// The attempt number the next run of step `t` gets.
    pub fn next_attempt(&self, t: StepType) -> u32 {
        self.step(t).map_or(0, |s| s.attempts.len() as u32) + 1
    }

    /// Appends an attempt (a retake never replaces an earlier one).
    pub fn record_attempt(&mut self, t: StepType, attempt: Attempt) -> Result<(), CaseRefusal> {
        self.check(Change::Evidence(t))?;
        self.step_mut(t)
            .ok_or(CaseRefusal::NotInWorkflow(t))?
            .attempts
            .push(attempt);
        Ok(())
    }

    /// The agent's verdict on one step.
    pub fn decide_step(&mut self, t: StepType, decision: StepDecision) -> Result<(), CaseRefusal> {
        self.check(Change::Evidence(t))?;
        self.step_mut(t)
            .ok_or(CaseRefusal::NotInWorkflow(t))?
            .decision = Some(decision);
        Ok(())
    }

    /// The agent's decision on the case. Its time is after the latest audit's, so a decision
    /// that follows a `recapture` closes the case again whatever the clock did.
    pub fn decide(&mut self, mut decision: AgentDecision) -> Result<(), CaseRefusal> {
        self.check(Change::Decide)?;
        if let Some(a) = self.audits.last() {
            decision.at = decision.at.max(a.at + chrono::Duration::microseconds(1));
        }
        self.agent_decision = Some(decision);
        Ok(())
    }

    /// The auditor's verdict on the agent's decision (`recapture` reopens the case).
    pub fn audit(&mut self, mut audit: AuditDecision) -> Result<(), CaseRefusal> {
        self.check(Change::Audit)?;
        if let Some(d) = &self.agent_decision {
            audit.at = audit.at.max(d.at + chrono::Duration::microseconds(1));
        }
        self.audits.push(audit);
        Ok(())
    }
}

/// Where a case is in its review.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// Taking evidence; the agent has not decided.
    Open,
    /// The agent decided; waiting for the audit. Nothing else changes.
    Decided,
    /// Audited (approved or declined): final.
    Audited,
    /// The auditor asked for a recapture: evidence is taken again until the agent decides again.
    Reopened,
}

/// A change to a case, as the case lock sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// Anything that adds evidence to a step or changes a step: an attempt of any step type,
    /// an OTP sent or verified, a liveness challenge, the answers, a step decision.
    Evidence(StepType),
    /// A capture stored for the session (photo, frame, document image).
    Capture,
    /// The agent's decision on the case.
    Decide,
    /// The auditor's verdict.
    Audit,
}

/// Why the case lock refused a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CaseRefusal {
    #[error("{} is not in this session's workflow", .0.as_str())]
    NotInWorkflow(StepType),
    #[error("the case has already been decided")]
    AlreadyDecided,
    #[error("the agent has not decided this case yet")]
    NotDecided,
    /// Every retake of the step was used and none passed: the agent decides now.
    #[error("{} did not pass in the attempts allowed (1 + retries): no more retakes; the agent decides", .0.as_str())]
    RetriesExhausted(StepType),
}

impl CaseRefusal {
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotInWorkflow(_) => "step_not_in_workflow",
            Self::AlreadyDecided => "already_decided",
            Self::NotDecided => "not_decided",
            Self::RetriesExhausted(_) => "retries_exhausted",
        }
    }
}

/// The thresholds behind the recommendation (`[kyc]` in the server config).
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct RecommendationRules {
    /// Face match score at or above which the face step supports approval (60 = a match).
    pub face_match_min: u8,
    /// Name match score at or above which the document supports approval.
    pub name_match_min: u8,
    /// Below this name match score the recommendation is to reject.
    pub name_match_reject_below: u8,
    /// A face step without a liveness check (head-movement challenge) needs review.
    pub require_liveness: bool,
}

impl Default for RecommendationRules {
    fn default() -> Self {
        Self {
            face_match_min: 60,
            name_match_min: 80,
            name_match_reject_below: 40,
            require_liveness: true,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Recommendation {
    pub result: CaseResult,
    pub reasons: Vec<String>,
}

/// The documented rules, on the latest attempt of each step:
/// 1. **reject** when consent was refused, the face did not match (score below
///    `face_match_min` with a face found on both sides), the liveness check failed, or the
///    name read from the document scores below `name_match_reject_below`;
/// 2. otherwise **needs_review** when a workflow step has no passed attempt, the name match
///    is below `name_match_min`, the face step had no liveness check (`require_liveness`),
///    or the agent declined a step;
/// 3. otherwise **approve**.
///
/// Each reason starts with a stable code.
pub fn recommend(case: &KycCase, rules: &RecommendationRules) -> Recommendation {
    let mut reject = Vec::new();
    let mut review = Vec::new();
    for step in &case.steps {
        let t = step.step_type.as_str();
        match step.latest() {
            None => review.push(format!("step_missing: {t} was not done")),
            Some(a) if a.outcome != Outcome::Passed => {
                if step.step_type == StepType::Consent && a.outcome == Outcome::Failed {
                    reject.push("consent_refused: the customer did not give consent".to_string());
                } else if step.step_type == StepType::Face && a.outcome == Outcome::Failed {
                    let s = a.scores.face_match.unwrap_or(0);
                    if s < rules.face_match_min {
                        reject.push(format!(
                            "face_mismatch: face match score {s} is below {}",
                            rules.face_match_min
                        ));
                    }
                    if a.errors.iter().any(|e| e.code == "not_live") {
                        let l = a.scores.liveness.unwrap_or(0);
                        reject.push(format!("liveness_failed: liveness score {l}; the head-movement challenge or the anti-spoofing check did not pass"));
                    }
                } else {
                    review.push(format!(
                        "step_not_passed: the latest {t} attempt {}",
                        if a.outcome == Outcome::Failed {
                            "failed"
                        } else {
                            "could not run"
                        }
                    ));
                }
            }
            Some(a) => {
                if step.step_type == StepType::Face
                    && rules.require_liveness
                    && a.scores.liveness.is_none()
                {
                    review.push(
                        "liveness_missing: the face step ran without a head-movement challenge"
                            .to_string(),
                    );
                }
            }
        }
        if step
            .decision
            .as_ref()
            .is_some_and(|d| d.verdict == Verdict::Declined)
        {
            review.push(format!("step_declined: the agent declined {t}"));
        }
    }
    if let Some(n) = case.name_match_score() {
        if n < rules.name_match_reject_below {
            reject.push(format!(
                "name_mismatch: name match {n} is below {}",
                rules.name_match_reject_below
            ));
        } else if n < rules.name_match_min {
            review.push(format!(
                "name_match_low: name match {n} is below {}",
                rules.name_match_min
            ));
        }
    }
    if !reject.is_empty() {
        reject.extend(review);
        return Recommendation {
            result: CaseResult::Declined,
            reasons: reject,
        };
    }
    if !review.is_empty() {
        return Recommendation {
            result: CaseResult::NeedsReview,
            reasons: review,
        };
    }
    Recommendation {
        result: CaseResult::Approved,
        reasons: vec!["all_checks_passed: every workflow step passed".into()],
    }
}

/// A geographic region as a list of (south, west, north, east) boxes, e.g. India by default.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Region {
    pub name: String,
    pub boxes: Vec<[f64; 4]>,
}

impl Region {
    pub fn contains(&self, lat: f64, lon: f64) -> bool {
        self.boxes
            .iter()
            .any(|&[s, w, n, e]| lat >= s && lat <= n && lon >= w && lon <= e)
    }
}

/// Where the case is kept. Saving a case and the event that describes the change happen in
/// one store operation (the outbox shape).
#[async_trait]
pub trait CaseStore: Send + Sync + 'static {
    async fn load_case(&self, session_id: SessionId) -> Result<Option<KycCase>, String>;
    async fn save_case(
        &self,
        case: &KycCase,
        event: crate::events::DomainEvent,
    ) -> Result<(), String>;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attempt(outcome: Outcome, scores: &[(&str, u8)]) -> Attempt {
        let get = |k: &str| scores.iter().find(|(n, _)| *n == k).map(|(_, v)| *v);
        Attempt {
            n: 1,
            by: Principal::Participant {
                role: Role::Agent,
                id: "agent-1".into(),
            },
            started_at: Utc::now(),
            finished_at: Utc::now(),
            outcome,
            scores: Scores {
                face_match: get("face_match"),
                liveness: get("liveness"),
                name_match: get("name_match"),
            },
            errors: vec![],
            data: None,
        }
    }

    fn done_case() -> KycCase {
        let mut c = KycCase::new(SessionId::new(), DEFAULT_WORKFLOW.to_vec());
        c.step_mut(StepType::Consent)
            .unwrap()
            .attempts
            .push(attempt(Outcome::Passed, &[]));
        c.step_mut(StepType::Location)
            .unwrap()
            .attempts
            .push(attempt(Outcome::Passed, &[]));
        c.step_mut(StepType::Document)
            .unwrap()
            .attempts
            .push(attempt(Outcome::Passed, &[("name_match", 100)]));
        c.step_mut(StepType::Face).unwrap().attempts.push(attempt(
            Outcome::Passed,
            &[("face_match", 85), ("liveness", 90)],
        ));
        c
    }

    #[test]
    fn the_rules() {
        let r = RecommendationRules::default();
        assert_eq!(recommend(&done_case(), &r).result, CaseResult::Approved);

        let mut c = done_case();
        c.step_mut(StepType::Face)
            .unwrap()
            .attempts
            .push(attempt(Outcome::Failed, &[("face_match", 20)]));
        let rec = recommend(&c, &r);
        assert_eq!(rec.result, CaseResult::Declined);
        assert!(rec.reasons[0].starts_with("face_mismatch"), "{rec:?}");

        // A retake that passes wins over the failed one before it.
        c.step_mut(StepType::Face).unwrap().attempts.push(attempt(
            Outcome::Passed,
            &[("face_match", 80), ("liveness", 88)],
        ));
        assert_eq!(recommend(&c, &r).result, CaseResult::Approved);

        let mut c = done_case();
        c.step_mut(StepType::Location)
            .unwrap()
            .attempts
            .push(attempt(Outcome::Failed, &[]));
        assert_eq!(recommend(&c, &r).result, CaseResult::NeedsReview);

        let mut c = done_case();
        c.step_mut(StepType::Document)
            .unwrap()
            .attempts
            .push(attempt(Outcome::Passed, &[("name_match", 60)]));
        assert_eq!(recommend(&c, &r).result, CaseResult::NeedsReview);
        c.step_mut(StepType::Document)
            .unwrap()
            .attempts
            .push(attempt(Outcome::Passed, &[("name_match", 10)]));
        assert_eq!(recommend(&c, &r).result, CaseResult::Declined);

        let c = KycCase::new(SessionId::new(), DEFAULT_WORKFLOW.to_vec());
        let rec = recommend(&c, &r);
        assert_eq!(rec.result, CaseResult::NeedsReview);
        assert_eq!(rec.reasons.len(), 4);

        let mut c = done_case();
        c.step_mut(StepType::Consent)
            .unwrap()
            .attempts
            .push(attempt(Outcome::Failed, &[]));
        assert_eq!(recommend(&c, &r).result, CaseResult::Declined);
    }

    #[test]
    fn a_case_reads_back_with_its_step_data() {
        use crate::step_data::{ConsentData, FaceData, OtpData};
        let mut c = done_case();
        c.step_mut(StepType::Consent).unwrap().attempts[0].data =
            Some(StepData::Consent(ConsentData {
                text_version: "v1".into(),
                given: true,
            }));
        // The same JSON as a consent's would be a face's too: the step's type decides.
        c.step_mut(StepType::Face).unwrap().attempts[0].data = Some(StepData::Face(FaceData {
            capture_id: Some(uuid::Uuid::nil()),
            ..FaceData::default()
        }));
        let json = serde_json::to_value(&c).unwrap();
        assert_eq!(
            json["steps"][0]["attempts"][0]["data"],
            serde_json::json!({"text_version": "v1", "given": true})
        );
        assert_eq!(
            json["steps"][1]["attempts"][0]["data"],
            Value::Null,
            "no data is null, as before"
        );
        assert_eq!(serde_json::from_value::<KycCase>(json.clone()).unwrap(), c);

        // Stored without `data`, or with data of another step's shape.
        let mut old = json.clone();
        old["steps"][1]["attempts"][0]
            .as_object_mut()
            .unwrap()
            .remove("data");
        assert_eq!(serde_json::from_value::<KycCase>(old).unwrap(), c);
        let mut wrong = json.clone();
        wrong["steps"][0]["attempts"][0]["data"] =
            serde_json::to_value(OtpData { tries_left: 1 }).unwrap();
        assert!(serde_json::from_value::<KycCase>(wrong).is_err());
        // An attempt alone has no type to read its data by.
        assert!(
            serde_json::from_value::<Attempt>(json["steps"][0]["attempts"][0].clone()).is_err()
        );
        assert!(serde_json::from_value::<Attempt>(json["steps"][1]["attempts"][0].clone()).is_ok());
    }

    #[test]
    fn india_region() {
        let india = Region {
            name: "IN".into(),
            boxes: vec![[6.5, 68.0, 35.7, 97.5]],
        };
        assert!(india.contains(19.07, 72.88)); // Mumbai
        assert!(!india.contains(51.5, -0.12)); // London
    }
}

#[cfg(test)]
mod lock {
    use super::*;

    fn by(role: Role) -> Principal {
        Principal::Participant {
            role,
            id: format!("{}-1", role.as_str()),
        }
    }

    fn passed(n: u32) -> Attempt {
        let now = Utc::now();
        Attempt {
            n,
            by: by(Role::Agent),
            started_at: now,
            finished_at: now,
            outcome: Outcome::Passed,
            scores: Scores::default(),
            errors: vec![],
            data: None,
        }
    }

    fn decision() -> AgentDecision {
        AgentDecision {
            result: CaseResult::Approved,
            by: by(Role::Agent),
            at: Utc::now(),
            notes: None,
        }
    }

    fn audit(verdict: AuditVerdict) -> AuditDecision {
        AuditDecision {
            verdict,
            by: by(Role::Observer),
            at: Utc::now(),
            notes: None,
        }
    }

    /// Every kind of change × every stage of the review: what the lock allows.
    #[test]
    fn the_case_lock() {
        let open = KycCase::new(SessionId::new(), DEFAULT_WORKFLOW.to_vec());
        let mut decided = open.clone();
        decided.decide(decision()).unwrap();
        let mut audited = decided.clone();
        audited.audit(audit(AuditVerdict::Approved)).unwrap();
        let mut declined = decided.clone();
        declined.audit(audit(AuditVerdict::Declined)).unwrap();
        let mut reopened = decided.clone();
        reopened.audit(audit(AuditVerdict::Recapture)).unwrap();
        let mut redecided = reopened.clone();
        redecided.decide(decision()).unwrap();
        let stages = [
            (&open, Stage::Open),
            (&decided, Stage::Decided),
            (&audited, Stage::Audited),
            (&declined, Stage::Audited),
            (&reopened, Stage::Reopened),
            (&redecided, Stage::Decided),
        ];
        use CaseRefusal::*;
        for (case, stage) in stages {
            assert_eq!(case.stage(), stage);
            let takes_evidence = matches!(stage, Stage::Open | Stage::Reopened);
            let expect = |ok: bool, refusal: CaseRefusal| if ok { Ok(()) } else { Err(refusal) };
            for t in DEFAULT_WORKFLOW {
                assert_eq!(
                    case.check(Change::Evidence(t)),
                    expect(takes_evidence, AlreadyDecided),
                    "{stage:?} {t:?}"
                );
                let mut c = case.clone();
                assert_eq!(
                    c.record_attempt(t, passed(1)),
                    expect(takes_evidence, AlreadyDecided)
                );
                assert_eq!(
                    c.step(t).unwrap().attempts.len(),
                    usize::from(takes_evidence),
                    "a refused change changes nothing"
                );
                let mut c = case.clone();
                let d = StepDecision {
                    verdict: Verdict::Verified,
                    by: by(Role::Agent),
                    at: Utc::now(),
                    notes: None,
                };
                assert_eq!(c.decide_step(t, d), expect(takes_evidence, AlreadyDecided));
            }
            assert_eq!(
                case.check(Change::Capture),
                expect(takes_evidence, AlreadyDecided)
            );
            assert_eq!(
                case.clone().decide(decision()),
                expect(takes_evidence, AlreadyDecided)
            );
            let audit_refusal = if takes_evidence {
                NotDecided
            } else {
                AlreadyDecided
            };
            assert_eq!(
                case.clone().audit(audit(AuditVerdict::Approved)),
                expect(stage == Stage::Decided, audit_refusal)
            );
        }
        assert_eq!(
            open.check(Change::Evidence(StepType::Otp)),
            Err(NotInWorkflow(StepType::Otp))
        );
    }

    #[test]
    fn a_decision_after_a_recapture_closes_the_case_whatever_the_clock() {
        let mut c = KycCase::new(SessionId::new(), DEFAULT_WORKFLOW.to_vec());
        let t = Utc::now();
        c.decide(AgentDecision {
            at: t,
            ..decision()
        })
        .unwrap();
        // The auditor's clock is behind; the audit still counts as after the decision.
        c.audit(AuditDecision {
            at: t - chrono::Duration::seconds(5),
            ..audit(AuditVerdict::Recapture)
        })
        .unwrap();
        assert_eq!(c.stage(), Stage::Reopened);
        c.decide(AgentDecision {
            at: t - chrono::Duration::seconds(10),
            ..decision()
        })
        .unwrap();
        assert_eq!(c.stage(), Stage::Decided);
    }

    #[test]
    fn principals_keep_their_string_form() {
        for s in [
            "backend",
            "agent:agent-7",
            "observer:aud-1",
            "customer:c",
            "system:self_record",
        ] {
            let p: Principal = serde_json::from_value(serde_json::json!(s)).unwrap();
            assert_eq!(serde_json::to_value(&p).unwrap(), s);
        }
        assert_eq!(
            Principal::try_from("agent".to_string()).unwrap().role_str(),
            "agent"
        );
        assert!(Principal::try_from("root:x".to_string()).is_err());
    }
}
