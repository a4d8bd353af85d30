//! Case actors without a server: a panicking step actor is contained (the attempt is kept as
//! an error, the caller gets `step_failed`, the next step runs), one step of a type runs at
//! a time, and the case and its events go to the store together.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use uuid::Uuid;
use vkyc_domain::{Role, SessionId};

fn by(role: Role) -> Principal {
    Principal::Participant {
        role,
        id: format!("{}-1", role.as_str()),
    }
}
use vkyc_blob::{BlobError, BlobStore};
use vkyc_case::{CaseError, Cases, Notifier, OtpSettings, StepContext, StepInput};
use vkyc_domain::events::DomainEvent;
use vkyc_domain::kyc::{
    CaseStore, KycCase, Outcome, Principal, RecommendationRules, Region, StepType, DEFAULT_WORKFLOW,
};
use vkyc_domain::step_input::{ConsentVersion, Position};

/// Consent text version `v1`, as the edge checks it.
fn v1() -> ConsentVersion {
    ConsentVersion::parse("v1".into(), &["v1".into()]).unwrap()
}

#[derive(Default)]
struct Memory {
    cases: Mutex<HashMap<SessionId, KycCase>>,
    events: Mutex<Vec<DomainEvent>>,
    blobs: Mutex<HashMap<String, Vec<u8>>>,
}

#[async_trait]
impl CaseStore for Memory {
    async fn load_case(&self, id: SessionId) -> Result<Option<KycCase>, String> {
        Ok(self.cases.lock().unwrap().get(&id).cloned())
    }
    async fn save_case(&self, case: &KycCase, event: DomainEvent) -> Result<(), String> {
        self.cases
            .lock()
            .unwrap()
            .insert(case.session_id, case.clone());
        self.events.lock().unwrap().push(event);
        Ok(())
    }
}

#[async_trait]
impl Notifier for Memory {
    async fn send_otp(&self, session_id: SessionId, code: &str) -> Result<(), String> {
        self.blobs
            .lock()
            .unwrap()
            .insert(format!("otp/{session_id}"), code.as_bytes().to_vec());
        Ok(())
    }
}

#[async_trait]
impl BlobStore for Memory {
    async fn put(&self, key: &str, bytes: Vec<u8>) -> Result<(), BlobError> {
        self.blobs.lock().unwrap().insert(key.into(), bytes);
        Ok(())
    }
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, BlobError> {
        Ok(self.blobs.lock().unwrap().get(key).cloned())
    }
    async fn delete(&self, key: &str) -> Result<(), BlobError> {
        self.blobs.lock().unwrap().remove(key);
        Ok(())
    }
}

async fn start() -> (Cases, Arc<Memory>) {
    let mem = Arc::new(Memory::default());
    let ctx = StepContext {
        blobs: mem.clone(),
        face: None,
        document: None,
        liveness: None,
        challenge: Default::default(),
        region: Region {
            name: "India".into(),
            boxes: vec![[6.5, 68.0, 35.7, 97.5]],
        },
        rules: RecommendationRules::default(),
        otp: OtpSettings {
            digits: 6,
            ttl_secs: 60,
            max_attempts: 3,
        },
        notifier: mem.clone(),
        idle: std::time::Duration::from_millis(500),
        max_retries: 2,
    };
    (Cases::start(mem.clone(), ctx).await.unwrap(), mem)
}

#[cfg(feature = "fault-injection")]
#[tokio::test]
async fn a_panicking_step_is_recorded_and_the_case_carries_on() {
    let (cases, mem) = start().await;
    let sid = SessionId::new();
    let wf = DEFAULT_WORKFLOW.to_vec();
    let e = cases
        .run(
            sid,
            &wf,
            StepInput::Crash(StepType::Consent),
            by(Role::Agent),
        )
        .await
        .unwrap_err();
    assert_eq!(e, CaseError::StepFailed);
    let a = cases
        .run(
            sid,
            &wf,
            StepInput::Consent {
                text_version: v1(),
                given: true,
            },
            by(Role::Customer),
        )
        .await
        .unwrap();
    assert_eq!((a.n, a.outcome), (2, Outcome::Passed));
    let case = cases.get(sid, &wf).await.unwrap();
    let consent = case.step(StepType::Consent).unwrap();
    assert_eq!(consent.attempts.len(), 2);
    assert_eq!(consent.attempts[0].outcome, Outcome::Error);
    assert_eq!(consent.attempts[0].errors[0].code, "step_failed");
    let kinds: Vec<&str> = mem
        .events
        .lock()
        .unwrap()
        .iter()
        .map(|e| e.kind().as_str())
        .collect();
    assert_eq!(kinds, ["step.failed", "step.completed"]);
    // The stored case is what the actor holds.
    assert_eq!(mem.cases.lock().unwrap()[&sid], case);
}

#[tokio::test]
async fn steps_without_engines_are_errors_not_crashes() {
    let (cases, _) = start().await;
    let sid = SessionId::new();
    let wf = DEFAULT_WORKFLOW.to_vec();
    let a = cases
        .run(
            sid,
            &wf,
            StepInput::Face {
                probe: Some((Uuid::new_v4(), vec![1, 2, 3])),
                references: vec![],
                liveness: None,
            },
            by(Role::Agent),
        )
        .await
        .unwrap();
    assert_eq!(
        (a.outcome, a.errors[0].code.as_str()),
        (Outcome::Error, "inference_disabled")
    );
    let e = cases
        .run(
            sid,
            &[StepType::Consent],
            StepInput::Location(Ok(Position::new(19.0, 72.8, None).unwrap())),
            by(Role::Agent),
        )
        .await;
    // The case already exists with the default workflow, which has location.
    assert!(e.is_ok());
    let other = SessionId::new();
    let e = cases
        .run(
            other,
            &[StepType::Consent],
            StepInput::Location(Ok(Position::new(19.0, 72.8, None).unwrap())),
            by(Role::Agent),
        )
        .await;
    assert_eq!(e.unwrap_err(), CaseError::NotInWorkflow("location"));
}

#[tokio::test]
async fn idle_case_actors_leave_memory_and_come_back_from_the_store() {
    let (cases, _) = start().await;
    let sid = SessionId::new();
    let wf = DEFAULT_WORKFLOW.to_vec();
    cases
        .run(
            sid,
            &wf,
            StepInput::Consent {
                text_version: v1(),
                given: true,
            },
            by(Role::Customer),
        )
        .await
        .unwrap();
    assert_eq!(cases.live().await, 1);
    // Polled up to a generous deadline: how soon a busy host runs the idle timer is not the point.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while cases.live().await != 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the idle case actor was not retired"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    // Used again: reloaded from the store, history intact.
    let a = cases
        .run(
            sid,
            &wf,
            StepInput::Consent {
                text_version: v1(),
                given: false,
            },
            by(Role::Customer),
        )
        .await
        .unwrap();
    assert_eq!(a.n, 2);
    assert_eq!(cases.live().await, 1);
}
