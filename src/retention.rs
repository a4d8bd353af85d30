//! The retention purge: a supervised actor (`retention` in the tree) that wakes every
//! `retention.every_secs` and deletes what `[retention]` says has been kept long enough.
//!
//! One run: the store's finished sessions older than the shortest per-session retention;
//! for each, the classes due ([`Session::due_for_purge`]: none under a legal hold); their
//! files deleted first (captures, recordings' media, self-recorded video chunks), then the
//! store's purge (rows deleted, personal fields overwritten, the classes marked, and
//! `data.purged`, together), then an activity-log entry; once every class of file is purged,
//! the session's data key is destroyed as well. A failure leaves the session for
//! the next run, which repeats only what is still due (deleting a file already gone is not
//! an error). Then the events older than `retention.events` that every reader of the log
//! (the Kafka relay, the webhook fan-out) has taken.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use ractor::{Actor, ActorProcessingErr, ActorRef};
use vkyc_domain::activity::{ActivityAction, Actor as Who, NewActivity};
use vkyc_domain::retention::{DataClass, RetentionPolicy};
use vkyc_domain::session::Session;

use crate::startup::AppState;

pub struct PurgeActor;

pub enum PurgeMsg {
    Tick,
    /// Fault injection: the timer panics.
    #[cfg(feature = "fault-injection")]
    InjectPanic,
}

/// What one run deleted.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Swept {
    pub sessions: usize,
    pub files: u32,
    pub events: u64,
}

/// The files of `classes` of a session.
async fn files_of(
    app: &AppState,
    s: &Session,
    classes: &[DataClass],
) -> anyhow::Result<Vec<String>> {
    let mut keys = Vec::new();
    if classes.contains(&DataClass::Captures) {
        keys.extend(
            app.store
                .list_captures(s.id)
                .await?
                .iter()
                .map(|c| c.blob_key()),
        );
    }
    if classes.contains(&DataClass::Recordings) {
        keys.extend(
            app.store
                .list_recordings(s.id)
                .await?
                .into_iter()
                .map(|r| r.blob_key),
        );
    }
    if classes.contains(&DataClass::SelfRecordVideos) {
        if let Some(r) = &s.self_record {
            keys.extend((0..r.video_chunks).map(|n| crate::self_record::chunk_key(s.id, n)));
            keys.push(crate::self_record::frames_key(s.id));
        }
    }
    Ok(keys)
}

/// Purges what is due in one session; `Ok(0)`-file purges still mark their classes.
async fn purge(app: &AppState, s: &Session, classes: Vec<DataClass>) -> anyhow::Result<u32> {
    let keys = files_of(app, s, &classes).await?;
    for k in &keys {
        app.blobs.delete(k).await?;
    }
    let files = keys.len() as u32;
    match app.store.purge_session(s.id, classes.clone(), files).await {
        Ok(_) => {}
        // Held since it was read: left alone.
        Err(crate::store::StoreError::Conflict("legal_hold", _)) => return Ok(0),
        Err(e) => return Err(e.into()),
    }
    let entry = NewActivity {
        session_id: s.id,
        actor: Who::system("retention"),
        action: ActivityAction::Purged,
        target: Some(
            classes
                .iter()
                .map(crate::activity::wire_name)
                .collect::<Vec<_>>()
                .join(","),
        ),
        from: None,
        at: Utc::now(),
    };
    app.store.append_activity(&app.activity_key, entry).await?;
    // Every class of file gone: the session's data key goes too (crypto-shredding), so no
    // copy of them (a backup, a disk) opens again.
    let gone = |c: &DataClass| s.purged.contains(c) || classes.contains(c);
    if [
        DataClass::Captures,
        DataClass::Recordings,
        DataClass::SelfRecordVideos,
    ]
    .iter()
    .all(gone)
    {
        app.blobs.shred(&s.id.simple().to_string())?;
    }
    Ok(files)
}

/// One run of the purge at `now`.
pub async fn sweep(app: &AppState, now: chrono::DateTime<Utc>) -> anyhow::Result<Swept> {
    let policy = app.config.retention.policy();
    let mut out = Swept::default();
    if let Some(shortest) = policy.shortest() {
        let before = now - chrono::Duration::from_std(shortest)?;
        for s in app.store.finished_before(before).await? {
            let due = s.due_for_purge(&policy, now);
            if due.is_empty() {
                continue;
            }
            match purge(app, &s, due).await {
                Ok(files) => {
                    out.sessions += 1;
                    out.files += files;
                }
                Err(e) => {
                    tracing::error!(session = %s.id, error = %e, "purge failed; retried next run")
                }
            }
        }
    }
    if let Some(keep) = policy.events {
        // Never an event a reader of the log has not taken yet.
        let mut readers = vec![];
        if app.config.events.backend == crate::config::EventsBackend::Kafka {
            readers.push(crate::events::relay::CURSOR);
        }
        if app.config.webhooks.enabled {
            readers.push(crate::webhooks::dispatcher::CURSOR);
        }
        let mut up_to = None;
        for r in readers {
            let at = app.store.relay_cursor(r).await?;
            up_to = Some(up_to.map_or(at, |u: u64| u.min(at)));
        }
        out.events = app
            .store
            .purge_events_before(now - chrono::Duration::from_std(keep)?, up_to)
            .await?;
    }
    Ok(out)
}

impl Actor for PurgeActor {
    type Msg = PurgeMsg;
    type State = Arc<AppState>;
    type Arguments = (Arc<AppState>, Duration);

    async fn pre_start(
        &self,
        me: ActorRef<PurgeMsg>,
        (app, every): Self::Arguments,
    ) -> Result<Self::State, ActorProcessingErr> {
        me.send_interval(every, || PurgeMsg::Tick);
        Ok(app)
    }

    async fn handle(
        &self,
        _me: ActorRef<PurgeMsg>,
        msg: PurgeMsg,
        app: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            PurgeMsg::Tick => match sweep(app, Utc::now()).await {
                Ok(s) if s != Swept::default() => tracing::info!(
                    sessions = s.sessions,
                    files = s.files,
                    events = s.events,
                    "retention purge"
                ),
                Ok(_) => {}
                // A store hiccup must not stop the timer: the next run tries again.
                Err(e) => tracing::error!(error = %e, "retention purge failed"),
            },
            #[cfg(feature = "fault-injection")]
            PurgeMsg::InjectPanic => panic!("retention purge: injected fault"),
        }
        Ok(())
    }
}

/// `[retention]`: a duration is `"<n>d"`, `"<n>h"`, `"<n>m"` or `"<n>s"`; `""`: kept until
/// erased.
pub fn parse_retention(s: &str) -> Result<Option<Duration>, String> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(None);
    }
    let (n, unit) = s.split_at(s.len() - 1);
    let n: u64 = n
        .parse()
        .map_err(|_| format!("{s:?}: a number then d, h, m or s (\"90d\"), or \"\""))?;
    let secs = match unit {
        "d" => n * 86_400,
        "h" => n * 3_600,
        "m" => n * 60,
        "s" => n,
        _ => return Err(format!("{s:?}: the unit is d, h, m or s")),
    };
    Ok(Some(Duration::from_secs(secs)))
}

impl crate::config::RetentionConfig {
    pub fn policy(&self) -> RetentionPolicy {
        let p = |s: &str| parse_retention(s).ok().flatten();
        RetentionPolicy {
            captures: p(&self.captures),
            recordings: p(&self.recordings),
            self_record_videos: p(&self.self_record_videos),
            personal_fields: p(&self.personal_fields),
            case_documents: p(&self.case_documents),
            events: p(&self.events),
        }
    }
}

// ---------------------------------------------------------------------------------------
// The legal hold: `PUT` / `DELETE /v1/sessions/{id}/legal-hold` (the API key, or a signed-in
// auditor or admin).

use actix_web::{delete, put, web, HttpRequest, HttpResponse};
use vkyc_domain::desk::user::StaffRole;
use vkyc_domain::retention::LegalHold;
use vkyc_domain::SessionId;

use crate::access::Caller;
use crate::error::{ApiError, AuthErrors, BodyErrors, ErrorBody};
use crate::extract::ValidJson;

/// A legal hold's reason: the matter's reference.
#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HoldBody {
    /// The case or matter reference, 1–200 characters, no control characters (no personal data).
    reason: String,
}

async fn set_hold(
    state: &AppState,
    req: &HttpRequest,
    caller: &Caller,
    id: SessionId,
    hold: Option<LegalHold>,
) -> Result<Session, ApiError> {
    caller.require_key_or_staff(&[StaffRole::Auditor, StaffRole::Admin])?;
    let changed = state
        .store
        .update_session(id, move |s| {
            s.legal_hold = hold.clone();
            s.updated_at = Utc::now();
            Ok::<_, ()>((s.clone(), None))
        })
        .await
        .map_err(|e| ApiError::internal("legal_hold", e))?
        .ok_or_else(ApiError::session_not_found)?
        .map_err(|_| ApiError::internal("legal_hold", "refused"))?;
    let what = changed
        .legal_hold
        .as_ref()
        .map(|_| "held")
        .unwrap_or("released");
    crate::activity::record(
        state,
        req,
        caller,
        id,
        ActivityAction::LegalHoldChanged,
        Some(what.into()),
    )
    .await?;
    Ok(changed)
}

/// Places a legal hold on a session: while it is on, the retention purge deletes nothing of
/// it (erasure by `vkyc erase` stays an operator's decision).
#[utoipa::path(tag = "sessions", params(("id" = Uuid, Path, description = "The session")), request_body = HoldBody, security(("api_key" = []), ("console" = [])),
    responses((status = 200, description = "The session, held", body = Session), AuthErrors, BodyErrors, (status = 404, description = "`session_not_found`", body = ErrorBody)))]
#[put("/sessions/{id}/legal-hold")]
async fn place_hold(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<SessionId>,
    caller: Caller,
    ValidJson(body): ValidJson<HoldBody>,
) -> Result<HttpResponse, ApiError> {
    let reason = body.reason.trim().to_string();
    if reason.is_empty() || reason.chars().count() > 200 || reason.chars().any(char::is_control) {
        return Err(ApiError::validation(
            "reason: 1 to 200 characters, no control characters",
        ));
    }
    let hold = LegalHold {
        since: Utc::now(),
        reason,
    };
    let s = set_hold(&state, &req, &caller, id.into_inner(), Some(hold)).await?;
    Ok(HttpResponse::Ok().json(s))
}

/// Lifts a session's legal hold: its data is purged again when its retention has run out.
#[utoipa::path(tag = "sessions", params(("id" = Uuid, Path, description = "The session")), security(("api_key" = []), ("console" = [])),
    responses((status = 200, description = "The session, released", body = Session), AuthErrors, (status = 404, description = "`session_not_found`", body = ErrorBody)))]
#[delete("/sessions/{id}/legal-hold")]
async fn lift_hold(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<SessionId>,
    caller: Caller,
) -> Result<HttpResponse, ApiError> {
    let s = set_hold(&state, &req, &caller, id.into_inner(), None).await?;
    Ok(HttpResponse::Ok().json(s))
}

pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(place_hold).service(lift_hold);
}
