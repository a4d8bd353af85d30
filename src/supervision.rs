//! The one supervision tree: the [`ApplicationSupervisor`] is the root of every actor the
//! server runs, and [`Health`] is what it knows about them, reported by `/readyz`.
//!
//! ```text
//! ApplicationSupervisor
//! ├── rooms            RootSupervisor → RoomSupervisor → RoomActor → PeerActor      restarted
//! ├── cases            CaseSupervisor → CaseActor → StepActor                      restarted
//! ├── inference.*      PoolSupervisor → Worker × n (face, liveness, document)       restarted
//! ├── relay            KafkaRelay (events.backend = "kafka")                        restarted
//! ├── webhooks         WebhookSupervisor → fan-out, deliverer (webhooks.enabled)    restarted
//! ├── expiry           ExpiryActor                                                  restarted
//! ├── self_record      SelfRecordProcessor                                          restarted
//! └── retention        PurgeActor ([retention])                                     restarted
//! ```
//!
//! Policy (`handle_supervisor_evt`): a child that fails or stops on its own is marked
//! `restarting` and started again after a back-off that doubles with each failure
//! ([`Restart::Limited`]); more than `max` failures within `window` and it is `failed` for
//! good. The HTTP layer reaches the case supervisor and the inference pools through handles
//! that a restart updates ([`vkyc_case::Cases::spawn_linked`],
//! [`vkyc_vision::inference::Pool::restart_linked`]). An adopted child (`Tree::adopt`, a
//! cell started elsewhere) cannot be replaced ([`Restart::Never`]): its failure is `failed`
//! at once. Every restart is
//! published as `supervisor.restarted`. Components also report on their own parts (the
//! relay's broker connection as `relay.broker`, the dispatcher's children as
//! `webhooks.fanout` / `webhooks.deliverer`). The node is ready only while every entry is
//! `running`: a stopped relay or dispatcher, or a relay that cannot reach Kafka, is a 503
//! with the reason.
//!
//! Fault injection (`--features fault-injection`, tests only): `POST /_faults/{component}`
//! with the API key makes that component's actor panic.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;
use ractor::{Actor, ActorCell, ActorProcessingErr, ActorRef, RpcReplyPort, SupervisionEvent};
use serde::Serialize;
use vkyc_domain::events::data;
use vkyc_domain::{DomainEvent, EventSink};

/// Where a component stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    Running,
    Restarting,
    Failed,
}

#[derive(Debug, Clone, Serialize)]
pub struct Status {
    pub state: State,
    /// Why it is not running (absent while running).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Times it was started again.
    pub restarts: u32,
    /// The reason of its last failure, kept after it recovered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_failure: Option<String>,
    /// When it entered this state.
    pub since: DateTime<Utc>,
}

/// The state of every component of the tree, by name.
#[derive(Default)]
pub struct Health(RwLock<BTreeMap<String, Status>>);

impl Health {
    pub fn set(&self, name: &str, state: State, reason: Option<String>) {
        let now = Utc::now();
        let mut all = self.0.write().unwrap_or_else(|e| e.into_inner());
        let s = all.entry(name.to_string()).or_insert(Status {
            state,
            reason: None,
            restarts: 0,
            last_failure: None,
            since: now,
        });
        if s.state != state {
            s.since = now;
        }
        s.state = state;
        if state == State::Running {
            s.reason = None;
        } else {
            s.last_failure = reason.clone();
            s.reason = reason;
        }
    }

    pub fn running(&self, name: &str) {
        self.set(name, State::Running, None);
    }

    fn restarted(&self, name: &str) {
        let mut all = self.0.write().unwrap_or_else(|e| e.into_inner());
        if let Some(s) = all.get_mut(name) {
            s.restarts += 1;
        }
    }

    pub fn snapshot(&self) -> BTreeMap<String, Status> {
        self.0.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn get(&self, name: &str) -> Option<Status> {
        self.0
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
            .cloned()
    }

    /// One line per component that is not running; empty when the tree is ready.
    pub fn not_ready(&self) -> Vec<String> {
        let all = self.0.read().unwrap_or_else(|e| e.into_inner());
        all.iter()
            .filter(|(_, s)| s.state != State::Running)
            .map(|(name, s)| {
                let state = if s.state == State::Restarting {
                    "restarting"
                } else {
                    "failed"
                };
                match &s.reason {
                    Some(r) => format!("{name} {state}: {r}"),
                    None => format!("{name} {state}"),
                }
            })
            .collect()
    }
}

/// What happens when a child stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Restart {
    /// Not restarted: the node stays not ready until the process restarts.
    Never,
    /// Started again after `backoff`, doubled with each failure within `window` up to
    /// `max_backoff`; the `max + 1`-th failure within `window` is final.
    Limited {
        max: u32,
        window: Duration,
        backoff: Duration,
        max_backoff: Duration,
    },
}

impl Restart {
    pub const DEFAULT: Restart = Restart::Limited {
        max: 5,
        window: Duration::from_secs(60),
        backoff: Duration::from_millis(200),
        max_backoff: Duration::from_secs(8),
    };

    /// Records a failure at `now`; the delay before the next start, or None to give up.
    fn next(&self, failures: &mut VecDeque<Instant>, now: Instant) -> Option<Duration> {
        let Restart::Limited {
            max,
            window,
            backoff,
            max_backoff,
        } = *self
        else {
            return None;
        };
        while failures
            .front()
            .is_some_and(|t| now.duration_since(*t) > window)
        {
            failures.pop_front();
        }
        failures.push_back(now);
        let n = failures.len() as u32;
        (n <= max).then(|| {
            backoff
                .saturating_mul(1 << (n - 1).min(16))
                .min(max_backoff)
        })
    }
}

pub type StartFn = Arc<
    dyn Fn(ActorCell) -> BoxFuture<'static, Result<ActorCell, ActorProcessingErr>> + Send + Sync,
>;
pub type FaultFn = Arc<dyn Fn(&ActorCell) + Send + Sync>;

/// One child of the application supervisor.
pub struct ChildSpec {
    pub name: &'static str,
    pub restart: Restart,
    /// Spawns the child linked to the given supervisor cell.
    start: Option<StartFn>,
    #[cfg_attr(not(feature = "fault-injection"), allow(dead_code))]
    fault: Option<FaultFn>,
}

impl ChildSpec {
    pub fn new<F, Fut>(name: &'static str, restart: Restart, start: F) -> Self
    where
        F: Fn(ActorCell) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = Result<ActorCell, ActorProcessingErr>> + Send + 'static,
    {
        let start: StartFn = Arc::new(move |sup| Box::pin(start(sup)));
        Self {
            name,
            restart,
            start: Some(start),
            fault: None,
        }
    }

    /// How to make this child panic (fault injection; unused without the feature).
    pub fn with_fault(mut self, fault: impl Fn(&ActorCell) + Send + Sync + 'static) -> Self {
        self.fault = Some(Arc::new(fault));
        self
    }
}

pub enum AppMsg {
    /// Start a child (spawned linked) and keep it supervised.
    Start(ChildSpec, RpcReplyPort<Result<(), String>>),
    /// Link an actor that is already running (its start lives elsewhere): never restarted.
    Adopt(&'static str, ActorCell, RpcReplyPort<()>),
    /// The back-off of a failed child is over.
    Restart(&'static str),
    /// Fault injection: make the named child panic. Answers whether it has one.
    #[cfg(feature = "fault-injection")]
    InjectFault(String, RpcReplyPort<bool>),
}

struct Child {
    spec: ChildSpec,
    cell: Option<ActorCell>,
    failures: VecDeque<Instant>,
}

pub struct ApplicationSupervisor;

pub struct TreeState {
    health: Arc<Health>,
    events: Arc<dyn EventSink>,
    /// In start order; stopped in reverse.
    children: Vec<Child>,
}

impl TreeState {
    fn child(&mut self, name: &str) -> Option<&mut Child> {
        self.children.iter_mut().find(|c| c.spec.name == name)
    }

    /// A child is down: schedule its restart or mark it failed for good.
    fn down(&mut self, me: &ActorRef<AppMsg>, name: &'static str, why: String) {
        let health = self.health.clone();
        let Some(c) = self.child(name) else { return };
        c.cell = None;
        let delay = if c.spec.start.is_some() {
            c.spec.restart.next(&mut c.failures, Instant::now())
        } else {
            None
        };
        match delay {
            Some(delay) => {
                tracing::error!(component = name, reason = %why, delay_ms = delay.as_millis() as u64, "component stopped; restarting it");
                health.set(name, State::Restarting, Some(why));
                me.send_after(delay, move || AppMsg::Restart(name));
            }
            None => {
                tracing::error!(component = name, reason = %why, "component stopped; not restarted");
                health.set(name, State::Failed, Some(why));
            }
        }
    }
}

impl Actor for ApplicationSupervisor {
    type Msg = AppMsg;
    type State = TreeState;
    type Arguments = (Arc<Health>, Arc<dyn EventSink>);

    async fn pre_start(
        &self,
        _me: ActorRef<AppMsg>,
        (health, events): Self::Arguments,
    ) -> Result<TreeState, ActorProcessingErr> {
        Ok(TreeState {
            health,
            events,
            children: Vec::new(),
        })
    }

    async fn handle(
        &self,
        me: ActorRef<AppMsg>,
        msg: AppMsg,
        st: &mut TreeState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            AppMsg::Start(spec, reply) => {
                let name = spec.name;
                let Some(start) = spec.start.clone() else {
                    let _ = reply.send(Err("no start function".into()));
                    return Ok(());
                };
                let result = start(me.get_cell()).await;
                let cell = match result {
                    Ok(cell) => {
                        st.health.running(name);
                        let _ = reply.send(Ok(()));
                        Some(cell)
                    }
                    Err(e) => {
                        st.health
                            .set(name, State::Failed, Some(format!("did not start: {e}")));
                        let _ = reply.send(Err(e.to_string()));
                        None
                    }
                };
                st.children.push(Child {
                    spec,
                    cell,
                    failures: VecDeque::new(),
                });
            }
            AppMsg::Adopt(name, cell, reply) => {
                cell.link(me.get_cell());
                st.health.running(name);
                st.children.push(Child {
                    spec: ChildSpec {
                        name,
                        restart: Restart::Never,
                        start: None,
                        fault: None,
                    },
                    cell: Some(cell),
                    failures: VecDeque::new(),
                });
                let _ = reply.send(());
            }
            AppMsg::Restart(name) => {
                let Some(c) = st.child(name) else {
                    return Ok(());
                };
                let Some(start) = c.spec.start.clone() else {
                    return Ok(());
                };
                match start(me.get_cell()).await {
                    Ok(cell) => {
                        if let Some(c) = st.child(name) {
                            c.cell = Some(cell);
                        }
                        st.health.running(name);
                        st.health.restarted(name);
                        tracing::info!(component = name, "component restarted");
                        metrics::counter!("vkyc_supervisor_restarts_total", "component" => name)
                            .increment(1);
                        let ev = DomainEvent::new(
                            None,
                            data::SupervisorRestarted {
                                supervisor: name.to_string(),
                            },
                        );
                        vkyc_domain::events::emit(&*st.events, ev).await;
                    }
                    Err(e) => st.down(&me, name, format!("did not start again: {e}")),
                }
            }
            #[cfg(feature = "fault-injection")]
            AppMsg::InjectFault(name, reply) => {
                let hit = st
                    .children
                    .iter()
                    .find(|c| c.spec.name == name)
                    .and_then(|c| Some((c.spec.fault.clone()?, c.cell.clone()?)));
                if let Some((fault, cell)) = &hit {
                    tracing::warn!(component = %name, "fault injected");
                    fault(cell);
                }
                let _ = reply.send(hit.is_some());
            }
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        me: ActorRef<AppMsg>,
        evt: SupervisionEvent,
        st: &mut TreeState,
    ) -> Result<(), ActorProcessingErr> {
        let (id, why) = match &evt {
            SupervisionEvent::ActorFailed(cell, err) => (cell.get_id(), format!("failed: {err}")),
            SupervisionEvent::ActorTerminated(cell, _, reason) => (
                cell.get_id(),
                format!(
                    "stopped: {}",
                    reason.as_deref().unwrap_or("no reason given")
                ),
            ),
            _ => return Ok(()),
        };
        let name = st
            .children
            .iter()
            .find(|c| c.cell.as_ref().is_some_and(|c| c.get_id() == id))
            .map(|c| c.spec.name);
        if let Some(name) = name {
            st.down(&me, name, why);
        }
        Ok(())
    }

    async fn post_stop(
        &self,
        _me: ActorRef<AppMsg>,
        st: &mut TreeState,
    ) -> Result<(), ActorProcessingErr> {
        // Newest first: the lifecycle work and the outbox stop (the relay saves its cursor)
        // before the parts they use.
        for c in st.children.iter().rev() {
            if let Some(cell) = &c.cell {
                cell.stop_and_wait(Some("shutdown".into()), Some(Duration::from_secs(10)))
                    .await
                    .ok();
            }
        }
        Ok(())
    }
}

/// The handle on the tree: add children, read its health, stop it.
#[derive(Clone)]
pub struct Tree {
    sup: ActorRef<AppMsg>,
    pub health: Arc<Health>,
}

impl Tree {
    pub async fn start(events: Arc<dyn EventSink>) -> Result<Self, ActorProcessingErr> {
        let health = Arc::new(Health::default());
        let (sup, _) = Actor::spawn(None, ApplicationSupervisor, (health.clone(), events)).await?;
        Ok(Self { sup, health })
    }

    /// The supervisor's cell, for children spawned linked to it.
    pub fn cell(&self) -> ActorCell {
        self.sup.get_cell()
    }

    /// Starts `spec` under the supervisor; its start error, if it could not start.
    pub async fn start_child(&self, spec: ChildSpec) -> anyhow::Result<()> {
        let name = spec.name;
        ractor::call!(self.sup, AppMsg::Start, spec)
            .map_err(|e| anyhow::anyhow!("{name}: the application supervisor did not answer: {e}"))?
            .map_err(|e| anyhow::anyhow!("{name} failed to start: {e}"))
    }

    /// Supervises an actor started elsewhere (not restarted).
    pub async fn adopt(&self, name: &'static str, cell: ActorCell) -> anyhow::Result<()> {
        ractor::call!(self.sup, AppMsg::Adopt, name, cell)
            .map_err(|e| anyhow::anyhow!("{name}: the application supervisor did not answer: {e}"))
    }

    /// Makes the named component panic; false when it has no fault hook or is not running.
    #[cfg(feature = "fault-injection")]
    pub async fn inject_fault(&self, name: &str) -> bool {
        ractor::call!(self.sup, AppMsg::InjectFault, name.to_string()).unwrap_or(false)
    }

    /// Stops every component (newest first) and then the supervisor.
    pub async fn stop(&self) {
        let _ = self
            .sup
            .stop_and_wait(Some("shutdown".into()), Some(Duration::from_secs(30)))
            .await;
    }
}

/// `POST /_faults/{component}` (API key): that component's actor panics. Only with the
/// `fault-injection` feature; otherwise no route.
pub fn routes(cfg: &mut actix_web::web::ServiceConfig) {
    #[cfg(feature = "fault-injection")]
    cfg.route("/_faults/{component}", actix_web::web::post().to(inject));
    #[cfg(not(feature = "fault-injection"))]
    let _ = cfg;
}

#[cfg(feature = "fault-injection")]
async fn inject(
    state: actix_web::web::Data<crate::startup::AppState>,
    name: actix_web::web::Path<String>,
    _: crate::access::Backend,
) -> Result<actix_web::HttpResponse, crate::error::ApiError> {
    if state.tree.inject_fault(&name).await {
        Ok(actix_web::HttpResponse::Accepted()
            .json(serde_json::json!({"component": name.as_str(), "fault": "panic"})))
    } else {
        Err(crate::error::ApiError::not_found(
            "component_not_found",
            "no running component of that name takes injected faults",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vkyc_domain::events::MemorySink;
    use vkyc_domain::EventKind;

    /// A child that panics on `true` and counts its starts.
    struct Flaky;

    impl Actor for Flaky {
        type Msg = bool;
        type State = ();
        type Arguments = Arc<std::sync::atomic::AtomicU32>;

        async fn pre_start(
            &self,
            _me: ActorRef<bool>,
            starts: Self::Arguments,
        ) -> Result<(), ActorProcessingErr> {
            starts.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Ok(())
        }

        async fn handle(
            &self,
            _me: ActorRef<bool>,
            panic: bool,
            _st: &mut (),
        ) -> Result<(), ActorProcessingErr> {
            if panic {
                panic!("flaky: told to");
            }
            Ok(())
        }
    }

    fn flaky(restart: Restart, starts: Arc<std::sync::atomic::AtomicU32>) -> ChildSpec {
        ChildSpec::new("flaky", restart, move |sup| {
            let starts = starts.clone();
            async move {
                Ok(Actor::spawn_linked(None, Flaky, starts, sup)
                    .await?
                    .0
                    .get_cell())
            }
        })
        .with_fault(|c| {
            let _ = c.send_message(true);
        })
    }

    /// Waits (in paused time) until the component is in `state`.
    async fn until(health: &Health, state: State) -> Status {
        for _ in 0..10_000 {
            if let Some(s) = health.get("flaky").filter(|s| s.state == state) {
                return s;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        panic!("flaky never became {state:?}: {:?}", health.get("flaky"));
    }

    fn current(sup: &ActorRef<AppMsg>) -> ActorCell {
        sup.get_children()
            .into_iter()
            .next()
            .expect("the child is running")
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_child_is_restarted_with_a_growing_backoff_until_the_limit() {
        let sink = Arc::new(MemorySink::default());
        let tree = Tree::start(sink.clone()).await.unwrap();
        let starts = Arc::new(std::sync::atomic::AtomicU32::new(0));
        let restart = Restart::Limited {
            max: 2,
            window: Duration::from_secs(60),
            backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(1),
        };
        tree.start_child(flaky(restart, starts.clone()))
            .await
            .unwrap();
        assert_eq!(tree.health.not_ready(), Vec::<String>::new());

        current(&tree.sup).send_message(true).unwrap();
        let s = until(&tree.health, State::Restarting).await;
        assert!(
            s.reason.as_deref().unwrap().contains("flaky: told to"),
            "{s:?}"
        );
        assert_eq!(tree.health.not_ready().len(), 1);
        let down = tokio::time::Instant::now();
        let s = until(&tree.health, State::Running).await;
        assert!(down.elapsed() >= Duration::from_millis(100));
        assert_eq!(
            (s.restarts, starts.load(std::sync::atomic::Ordering::SeqCst)),
            (1, 2)
        );
        assert!(s
            .last_failure
            .as_deref()
            .unwrap()
            .contains("flaky: told to"));
        assert!(sink.kinds().contains(&EventKind::SupervisorRestarted));

        // The second failure waits twice as long; the third within the window is final.
        current(&tree.sup).send_message(true).unwrap();
        until(&tree.health, State::Restarting).await;
        let down = tokio::time::Instant::now();
        until(&tree.health, State::Running).await;
        assert!(down.elapsed() >= Duration::from_millis(200));
        current(&tree.sup).send_message(true).unwrap();
        let s = until(&tree.health, State::Failed).await;
        assert_eq!(s.restarts, 2);
        assert!(
            tree.health.not_ready()[0].starts_with("flaky failed: failed:"),
            "{:?}",
            tree.health.not_ready()
        );
        tree.stop().await;
    }

    #[tokio::test(start_paused = true)]
    async fn a_child_that_is_never_restarted_fails_the_node_and_adopted_ones_are_watched() {
        let tree = Tree::start(Arc::new(MemorySink::default())).await.unwrap();
        let starts = Arc::new(std::sync::atomic::AtomicU32::new(0));
        tree.start_child(flaky(Restart::Never, starts.clone()))
            .await
            .unwrap();
        current(&tree.sup).send_message(true).unwrap();
        until(&tree.health, State::Failed).await;
        assert_eq!(starts.load(std::sync::atomic::Ordering::SeqCst), 1);

        let (other, _) = Actor::spawn(None, Flaky, Arc::new(std::sync::atomic::AtomicU32::new(0)))
            .await
            .unwrap();
        tree.adopt("adopted", other.get_cell()).await.unwrap();
        assert_eq!(tree.health.get("adopted").unwrap().state, State::Running);
        other.stop(Some("gone".into()));
        for _ in 0..10_000 {
            if tree.health.get("adopted").unwrap().state == State::Failed {
                break;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        assert_eq!(
            tree.health.get("adopted").unwrap().reason.as_deref(),
            Some("stopped: gone")
        );
        tree.stop().await;
    }

    #[test]
    fn the_backoff_doubles_and_old_failures_are_forgotten() {
        let r = Restart::Limited {
            max: 3,
            window: Duration::from_secs(10),
            backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(250),
        };
        let mut f = VecDeque::new();
        let t0 = Instant::now();
        assert_eq!(r.next(&mut f, t0), Some(Duration::from_millis(100)));
        assert_eq!(r.next(&mut f, t0), Some(Duration::from_millis(200)));
        assert_eq!(r.next(&mut f, t0), Some(Duration::from_millis(250)));
        assert_eq!(r.next(&mut f, t0), None);
        let later = t0 + Duration::from_secs(11);
        assert_eq!(r.next(&mut f, later), Some(Duration::from_millis(100)));
        assert_eq!(Restart::Never.next(&mut VecDeque::new(), t0), None);
    }
}
