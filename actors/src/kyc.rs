//! The KYC case of a session: its workflow, the step instances with every attempt (retakes
//! are appended, never overwritten), the agent's and the auditor's decisions, and the
//! recommendation computed from the checks. Pure data and rules; the [`crate::case`] actors
//! run the steps and persist the case through [`CaseStore`].

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::verify::CheckError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
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
pub const DEFAULT_WORKFLOW: [StepType; 4] = [StepType::Consent, StepType::Location, StepType::Document, StepType::Face];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The check passed.
    Passed,
    /// The check ran and did not pass (e.g. outside the allowed region, no match).
    Failed,
    /// The check could not run on this input (no face, unreadable card, engine busy…).
    Error,
}

/// One run of a step. `data` holds the step's details (fields read, matches per source…);
/// `scores` the 0–100 figures the recommendation uses.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Attempt {
    pub n: u32,
    pub by: String,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub outcome: Outcome,
    #[serde(default)]
    pub scores: BTreeMap<String, u8>,
    #[serde(default)]
    pub errors: Vec<CheckError>,
    #[serde(default)]
    pub data: Value,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Verified,
    Declined,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StepDecision {
    pub verdict: Verdict,
    pub by: String,
    pub at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Step {
    #[serde(rename = "type")]
    pub step_type: StepType,
    /// The latest attempt is last; earlier ones are kept.
    pub attempts: Vec<Attempt>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision: Option<StepDecision>,
}

impl Step {
    pub fn latest(&self) -> Option<&Attempt> {
        self.attempts.last()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CaseResult {
    Approved,
    Declined,
    NeedsReview,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AgentDecision {
    pub result: CaseResult,
    pub by: String,
    pub at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
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
    pub by: String,
    pub at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
}

/// Everything the KYC process recorded for one session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct KycCase {
    pub session_id: Uuid,
    pub workflow: Vec<StepType>,
    pub steps: Vec<Step>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_decision: Option<AgentDecision>,
    /// Every audit, oldest first (a recapture is followed by another audit).
    #[serde(default)]
    pub audits: Vec<AuditDecision>,
}

impl KycCase {
    pub fn new(session_id: Uuid, workflow: Vec<StepType>) -> Self {
        let steps = workflow.iter().map(|&t| Step { step_type: t, attempts: Vec::new(), decision: None }).collect();
        Self { session_id, workflow, steps, agent_decision: None, audits: Vec::new() }
    }

    pub fn step(&self, t: StepType) -> Option<&Step> {
        self.steps.iter().find(|s| s.step_type == t)
    }

    pub fn step_mut(&mut self, t: StepType) -> Option<&mut Step> {
        self.steps.iter_mut().find(|s| s.step_type == t)
    }

    fn latest_score(&self, t: StepType, key: &str) -> Option<u8> {
        self.step(t).and_then(|s| s.latest()).and_then(|a| a.scores.get(key).copied())
    }

    pub fn face_match_score(&self) -> Option<u8> {
        self.latest_score(StepType::Face, "face_match")
    }

    pub fn liveness_score(&self) -> Option<u8> {
        self.latest_score(StepType::Face, "liveness")
    }

    pub fn name_match_score(&self) -> Option<u8> {
        self.latest_score(StepType::Document, "name_match")
    }
}

/// The thresholds behind the recommendation (`[kyc]` in the server config).
#[derive(Debug, Clone, Deserialize)]
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
        Self { face_match_min: 60, name_match_min: 80, name_match_reject_below: 40, require_liveness: true }
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
                    let s = a.scores.get("face_match").copied().unwrap_or(0);
                    if s < rules.face_match_min {
                        reject.push(format!("face_mismatch: face match score {s} is below {}", rules.face_match_min));
                    }
                    if a.errors.iter().any(|e| e.code == "not_live") {
                        let l = a.scores.get("liveness").copied().unwrap_or(0);
                        reject.push(format!("liveness_failed: liveness score {l}; the head-movement challenge or the anti-spoofing check did not pass"));
                    }
                } else {
                    review.push(format!("step_not_passed: the latest {t} attempt {}", if a.outcome == Outcome::Failed { "failed" } else { "could not run" }));
                }
            }
            Some(a) => {
                if step.step_type == StepType::Face && rules.require_liveness && !a.scores.contains_key("liveness") {
                    review.push("liveness_missing: the face step ran without a head-movement challenge".to_string());
                }
            }
        }
        if step.decision.as_ref().is_some_and(|d| d.verdict == Verdict::Declined) {
            review.push(format!("step_declined: the agent declined {t}"));
        }
    }
    if let Some(n) = case.name_match_score() {
        if n < rules.name_match_reject_below {
            reject.push(format!("name_mismatch: name match {n} is below {}", rules.name_match_reject_below));
        } else if n < rules.name_match_min {
            review.push(format!("name_match_low: name match {n} is below {}", rules.name_match_min));
        }
    }
    if !reject.is_empty() {
        reject.extend(review);
        return Recommendation { result: CaseResult::Declined, reasons: reject };
    }
    if !review.is_empty() {
        return Recommendation { result: CaseResult::NeedsReview, reasons: review };
    }
    Recommendation { result: CaseResult::Approved, reasons: vec!["all_checks_passed: every workflow step passed".into()] }
}

/// A geographic region as a list of (south, west, north, east) boxes, e.g. India by default.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Region {
    pub name: String,
    pub boxes: Vec<[f64; 4]>,
}

impl Region {
    pub fn contains(&self, lat: f64, lon: f64) -> bool {
        self.boxes.iter().any(|&[s, w, n, e]| lat >= s && lat <= n && lon >= w && lon <= e)
    }
}

/// Where the case is kept. Saving a case and the event that describes the change happen in
/// one store operation (the outbox shape).
#[async_trait]
pub trait CaseStore: Send + Sync + 'static {
    async fn load_case(&self, session_id: Uuid) -> Result<Option<KycCase>, String>;
    async fn save_case(&self, case: &KycCase, event: crate::events::DomainEvent) -> Result<(), String>;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attempt(outcome: Outcome, scores: &[(&str, u8)]) -> Attempt {
        Attempt {
            n: 1,
            by: "agent".into(),
            started_at: Utc::now(),
            finished_at: Utc::now(),
            outcome,
            scores: scores.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
            errors: vec![],
            data: Value::Null,
        }
    }

    fn done_case() -> KycCase {
        let mut c = KycCase::new(Uuid::new_v4(), DEFAULT_WORKFLOW.to_vec());
        c.step_mut(StepType::Consent).unwrap().attempts.push(attempt(Outcome::Passed, &[]));
        c.step_mut(StepType::Location).unwrap().attempts.push(attempt(Outcome::Passed, &[]));
        c.step_mut(StepType::Document).unwrap().attempts.push(attempt(Outcome::Passed, &[("name_match", 100)]));
        c.step_mut(StepType::Face).unwrap().attempts.push(attempt(Outcome::Passed, &[("face_match", 85), ("liveness", 90)]));
        c
    }

    #[test]
    fn the_rules() {
        let r = RecommendationRules::default();
        assert_eq!(recommend(&done_case(), &r).result, CaseResult::Approved);

        let mut c = done_case();
        c.step_mut(StepType::Face).unwrap().attempts.push(attempt(Outcome::Failed, &[("face_match", 20)]));
        let rec = recommend(&c, &r);
        assert_eq!(rec.result, CaseResult::Declined);
        assert!(rec.reasons[0].starts_with("face_mismatch"), "{rec:?}");

        // A retake that passes wins over the failed one before it.
        c.step_mut(StepType::Face).unwrap().attempts.push(attempt(Outcome::Passed, &[("face_match", 80), ("liveness", 88)]));
        assert_eq!(recommend(&c, &r).result, CaseResult::Approved);

        let mut c = done_case();
        c.step_mut(StepType::Location).unwrap().attempts.push(attempt(Outcome::Failed, &[]));
        assert_eq!(recommend(&c, &r).result, CaseResult::NeedsReview);

        let mut c = done_case();
        c.step_mut(StepType::Document).unwrap().attempts.push(attempt(Outcome::Passed, &[("name_match", 60)]));
        assert_eq!(recommend(&c, &r).result, CaseResult::NeedsReview);
        c.step_mut(StepType::Document).unwrap().attempts.push(attempt(Outcome::Passed, &[("name_match", 10)]));
        assert_eq!(recommend(&c, &r).result, CaseResult::Declined);

        let c = KycCase::new(Uuid::new_v4(), DEFAULT_WORKFLOW.to_vec());
        let rec = recommend(&c, &r);
        assert_eq!(rec.result, CaseResult::NeedsReview);
        assert_eq!(rec.reasons.len(), 4);

        let mut c = done_case();
        c.step_mut(StepType::Consent).unwrap().attempts.push(attempt(Outcome::Failed, &[]));
        assert_eq!(recommend(&c, &r).result, CaseResult::Declined);
    }

    #[test]
    fn india_region() {
        let india = Region { name: "IN".into(), boxes: vec![[6.5, 68.0, 35.7, 97.5]] };
        assert!(india.contains(19.07, 72.88)); // Mumbai
        assert!(!india.contains(51.5, -0.12)); // London
    }
}
