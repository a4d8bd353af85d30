//! Retention: how long each class of a finished session's data is kept, and a legal hold that
//! stops the clock. The purge actor (`src/retention.rs`) asks [`Session::due_for_purge`]
//! which classes to delete; the stores delete them and write `data.purged` together.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::session::Session;

/// A class of data with its own retention.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
    schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum DataClass {
    /// Frames and document images captured in the call (blobs and their rows).
    Captures,
    /// The call recordings' media (the recordings' metadata stays: ids, times, roles).
    Recordings,
    /// A self-recorded video's chunks.
    SelfRecordVideos,
    /// The applicant's name, date of birth and reference, and the lender's expected answers.
    PersonalFields,
    /// The KYC case: OCR fields, scores, answers, attempts.
    CaseDocuments,
    /// The event log (not per session: events older than the retention are deleted).
    Events,
}

impl DataClass {
    /// The classes kept per session, in the order they are purged.
    pub const PER_SESSION: [DataClass; 5] = [
        DataClass::Captures,
        DataClass::Recordings,
        DataClass::SelfRecordVideos,
        DataClass::CaseDocuments,
        DataClass::PersonalFields,
    ];
}

/// How long each class is kept after its session finished; `None`: kept until erased.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RetentionPolicy {
    pub captures: Option<Duration>,
    pub recordings: Option<Duration>,
    pub self_record_videos: Option<Duration>,
    pub personal_fields: Option<Duration>,
    pub case_documents: Option<Duration>,
    pub events: Option<Duration>,
}

impl RetentionPolicy {
    pub fn of(&self, class: DataClass) -> Option<Duration> {
        match class {
            DataClass::Captures => self.captures,
            DataClass::Recordings => self.recordings,
            DataClass::SelfRecordVideos => self.self_record_videos,
            DataClass::PersonalFields => self.personal_fields,
            DataClass::CaseDocuments => self.case_documents,
            DataClass::Events => self.events,
        }
    }

    /// The shortest retention of a per-session class: sessions that finished before
    /// `now` minus this are the purge's candidates. `None`: nothing per session expires.
    pub fn shortest(&self) -> Option<Duration> {
        DataClass::PER_SESSION
            .iter()
            .filter_map(|c| self.of(*c))
            .min()
    }
}

/// A legal hold: while it is on, nothing of the session is purged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LegalHold {
    pub since: DateTime<Utc>,
    /// The case or matter reference (no personal data), 1–200 characters.
    pub reason: String,
}

impl Session {
    /// When the session finished (its final status), if it has.
    pub fn finished_at(&self) -> Option<DateTime<Utc>> {
        self.status
            .is_final()
            .then(|| self.ended_at.unwrap_or(self.updated_at))
    }

    /// The classes of this session's data whose retention has run out at `now` and that are
    /// not purged yet; none while the session is unfinished or under a legal hold.
    pub fn due_for_purge(&self, policy: &RetentionPolicy, now: DateTime<Utc>) -> Vec<DataClass> {
        let Some(finished) = self.finished_at() else {
            return vec![];
        };
        if self.legal_hold.is_some() {
            return vec![];
        }
        let age = (now - finished).to_std().unwrap_or_default();
        DataClass::PER_SESSION
            .into_iter()
            .filter(|c| !self.purged.contains(c))
            .filter(|c| policy.of(*c).is_some_and(|keep| age >= keep))
            .collect()
    }

    /// Records that `classes` were purged (the store's purge writes this with the deletes).
    pub fn mark_purged(&mut self, classes: &[DataClass], now: DateTime<Utc>) {
        for c in classes {
            if !self.purged.contains(c) {
                self.purged.push(*c);
            }
        }
        self.purged.sort();
        if classes.contains(&DataClass::PersonalFields) {
            self.applicant = crate::session::Applicant::erased();
            self.forget_expected_answers();
        }
        self.updated_at = now;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::SessionStatus;

    fn finished(ago_secs: i64) -> Session {
        let mut s: Session = serde_json::from_value(serde_json::json!({
            "id": crate::SessionId::new(), "mode": "live_agent", "status": "completed",
            "applicant": {"name": "Asha Rao"}, "external_ref": null,
            "created_at": Utc::now(), "updated_at": Utc::now(), "started_at": null,
            "ended_at": Utc::now() - chrono::Duration::seconds(ago_secs),
            "expires_at": null, "schedule": null, "video_max_duration": null,
            "self_record": null, "parent_id": null, "record": null, "question_bank": null
        }))
        .unwrap();
        s.status = SessionStatus::Completed;
        s
    }

    #[test]
    fn classes_fall_due_by_their_own_retention_unless_held_or_unfinished() {
        let policy = RetentionPolicy {
            captures: Some(Duration::from_secs(10)),
            personal_fields: Some(Duration::from_secs(100)),
            ..Default::default()
        };
        let now = Utc::now();
        assert_eq!(finished(5).due_for_purge(&policy, now), vec![]);
        assert_eq!(
            finished(50).due_for_purge(&policy, now),
            vec![DataClass::Captures]
        );
        let mut old = finished(500);
        assert_eq!(
            old.due_for_purge(&policy, now),
            vec![DataClass::Captures, DataClass::PersonalFields]
        );
        old.mark_purged(&[DataClass::Captures, DataClass::PersonalFields], now);
        assert_eq!(old.due_for_purge(&policy, now), vec![]);
        assert_eq!(old.applicant.name.as_str(), crate::session::ERASED_NAME);

        let mut held = finished(500);
        held.legal_hold = Some(LegalHold {
            since: now,
            reason: "matter 42".into(),
        });
        assert_eq!(held.due_for_purge(&policy, now), vec![]);
        let mut open = finished(500);
        open.status = SessionStatus::InProgress;
        assert_eq!(open.due_for_purge(&policy, now), vec![]);
        assert_eq!(policy.shortest(), Some(Duration::from_secs(10)));
    }
}
