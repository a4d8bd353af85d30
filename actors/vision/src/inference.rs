//! Inference actors: a supervised pool of dedicated workers per engine (face, liveness,
//! document), each worker owning its ONNX sessions (loaded once, when it starts).
//!
//! ```text
//! Pool<E> (handle: bounded slots) ──cast──► PoolSupervisor<E> ──► Worker<E> × n
//!                                               least-loaded dispatch; restarts a failed worker
//! ```
//!
//! - **Bounded**: a pool admits at most `workers × queue_per_worker` jobs (running or
//!   queued). When full, [`Pool::submit`] fails at once with [`InferenceError::Busy`] (the API
//!   answers 429 with `Retry-After`), never an unbounded wait. A slot is held by the job
//!   itself, so it is freed when the worker is done with it, even if the caller went away.
//! - **Blocking work off the async threads**: a worker moves its engine into
//!   `spawn_blocking` for each job and gets it back afterwards.
//! - **Failure**: a panic in a job fails that worker (ractor turns it into `ActorFailed`);
//!   the supervisor starts a new one with fresh sessions. The caller's reply channel is
//!   dropped with the failed worker, so it gets [`InferenceError::WorkerFailed`], not a hang.

use std::sync::Arc;
use std::time::Duration;

use ractor::{Actor, ActorProcessingErr, ActorRef, SupervisionEvent};
use tokio::sync::{oneshot, OwnedSemaphorePermit, Semaphore};

use crate::runtime::ModelError;
use crate::VisionError;

/// An engine: built once per worker (loading its models), then runs jobs one at a time.
pub trait Engine: Send + 'static {
    type Job: Send + 'static;
    type Output: Send + 'static;
    /// What every worker is built from (model handles, config). Cloned per worker.
    type Init: Clone + Send + Sync + 'static;
    const NAME: &'static str;

    fn build(init: &Self::Init) -> Result<Self, ModelError>
    where
        Self: Sized;
    fn run(&mut self, job: Self::Job) -> Result<Self::Output, VisionError>;
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum InferenceError {
    #[error("the {engine} engine is busy; retry in {retry_after_secs} s")]
    Busy {
        engine: &'static str,
        retry_after_secs: u64,
    },
    #[error("the {0} worker failed while handling this request")]
    WorkerFailed(&'static str),
    #[error("the {0} engine did not answer in time")]
    Timeout(&'static str),
    #[error(transparent)]
    Vision(#[from] VisionError),
}

impl InferenceError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::Busy { .. } => "busy",
            Self::WorkerFailed(_) => "worker_failed",
            Self::Timeout(_) => "inference_timeout",
            Self::Vision(v) => v.code(),
        }
    }
}

/// A job on its way to a worker, with its reply channel and its pool slot.
pub struct Envelope<E: Engine> {
    job: E::Job,
    reply: oneshot::Sender<Result<E::Output, VisionError>>,
    _slot: OwnedSemaphorePermit,
}

pub enum WorkerMsg<E: Engine> {
    Run(Envelope<E>),
    /// Fault injection: the worker panics while handling this message.
    #[cfg(feature = "fault-injection")]
    Crash,
}

pub enum PoolMsg<E: Engine> {
    Submit(Envelope<E>),
    Done(usize),
    #[cfg(feature = "fault-injection")]
    Crash(usize),
    /// The pool supervisor itself panics (fault injection): the application supervisor
    /// starts a new pool in its place ([`Pool::restart_linked`]).
    #[cfg(feature = "fault-injection")]
    Panic,
}

// ------------------------------------------------------------------------- Worker

pub struct Worker<E: Engine>(std::marker::PhantomData<fn() -> E>);

pub struct WorkerArgs<E: Engine> {
    index: usize,
    init: E::Init,
    pool: ActorRef<PoolMsg<E>>,
}

pub struct WorkerState<E: Engine> {
    index: usize,
    engine: Option<E>,
    pool: ActorRef<PoolMsg<E>>,
}

impl<E: Engine> Actor for Worker<E> {
    type Msg = WorkerMsg<E>;
    type State = WorkerState<E>;
    type Arguments = WorkerArgs<E>;

    async fn pre_start(
        &self,
        _me: ActorRef<Self::Msg>,
        args: WorkerArgs<E>,
    ) -> Result<WorkerState<E>, ActorProcessingErr> {
        let init = args.init.clone();
        let engine = tokio::task::spawn_blocking(move || E::build(&init)).await??;
        Ok(WorkerState {
            index: args.index,
            engine: Some(engine),
            pool: args.pool,
        })
    }

    async fn handle(
        &self,
        _me: ActorRef<Self::Msg>,
        msg: Self::Msg,
        state: &mut WorkerState<E>,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            #[cfg(feature = "fault-injection")]
            WorkerMsg::Crash => panic!("{} worker {}: injected fault", E::NAME, state.index),
            WorkerMsg::Run(env) => {
                let mut engine = state.engine.take().ok_or("engine lost")?;
                let Envelope { job, reply, _slot } = env;
                // A panic inside the job comes back as a JoinError: this worker then fails
                // (its state, engine included, is gone) and the supervisor replaces it.
                let (engine, result) = tokio::task::spawn_blocking(move || {
                    let r = engine.run(job);
                    (engine, r)
                })
                .await
                .map_err(|e| format!("{} worker {} failed: {e}", E::NAME, state.index))?;
                state.engine = Some(engine);
                let _ = reply.send(result);
                drop(_slot);
                let _ = state.pool.cast(PoolMsg::Done(state.index));
            }
        }
        Ok(())
    }
}

// --------------------------------------------------------------- PoolSupervisor

pub struct PoolSupervisor<E: Engine>(std::marker::PhantomData<fn() -> E>);

pub struct PoolState<E: Engine> {
    init: E::Init,
    workers: Vec<Option<ActorRef<WorkerMsg<E>>>>,
    inflight: Vec<usize>,
    restarts: u64,
}

impl<E: Engine> PoolSupervisor<E> {
    async fn spawn_worker(
        me: &ActorRef<PoolMsg<E>>,
        index: usize,
        init: &E::Init,
    ) -> Result<ActorRef<WorkerMsg<E>>, ActorProcessingErr> {
        let args = WorkerArgs {
            index,
            init: init.clone(),
            pool: me.clone(),
        };
        let (w, _) = Actor::spawn_linked(
            None,
            Worker::<E>(std::marker::PhantomData),
            args,
            me.get_cell(),
        )
        .await?;
        Ok(w)
    }
}

impl<E: Engine> Actor for PoolSupervisor<E> {
    type Msg = PoolMsg<E>;
    type State = PoolState<E>;
    type Arguments = (usize, E::Init);

    async fn pre_start(
        &self,
        me: ActorRef<Self::Msg>,
        (n, init): (usize, E::Init),
    ) -> Result<PoolState<E>, ActorProcessingErr> {
        let mut workers = Vec::with_capacity(n);
        for i in 0..n {
            workers.push(Some(Self::spawn_worker(&me, i, &init).await?));
        }
        Ok(PoolState {
            init,
            workers,
            inflight: vec![0; n],
            restarts: 0,
        })
    }

    async fn handle(
        &self,
        _me: ActorRef<Self::Msg>,
        msg: Self::Msg,
        state: &mut PoolState<E>,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            PoolMsg::Submit(env) => {
                let pick = (0..state.workers.len())
                    .filter(|&i| state.workers[i].is_some())
                    .min_by_key(|&i| state.inflight[i]);
                match pick {
                    Some(i) => {
                        state.inflight[i] += 1;
                        if let Some(w) = &state.workers[i] {
                            // On a send failure the envelope (and its reply) is dropped:
                            // the caller sees WorkerFailed.
                            let _ = w.cast(WorkerMsg::Run(env));
                        }
                    }
                    None => drop(env),
                }
            }
            PoolMsg::Done(i) => {
                if let Some(n) = state.inflight.get_mut(i) {
                    *n = n.saturating_sub(1);
                }
            }
            #[cfg(feature = "fault-injection")]
            PoolMsg::Crash(i) => {
                if let Some(Some(w)) = state.workers.get(i) {
                    let _ = w.cast(WorkerMsg::Crash);
                }
            }
            #[cfg(feature = "fault-injection")]
            PoolMsg::Panic => panic!("{} pool: injected fault", E::NAME),
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        me: ActorRef<Self::Msg>,
        evt: SupervisionEvent,
        state: &mut PoolState<E>,
    ) -> Result<(), ActorProcessingErr> {
        let (cell, why) = match evt {
            SupervisionEvent::ActorFailed(cell, e) => (cell, e.to_string()),
            SupervisionEvent::ActorTerminated(cell, _, r) => {
                (cell, r.unwrap_or_else(|| "stopped".into()))
            }
            _ => return Ok(()),
        };
        let Some(i) = state
            .workers
            .iter()
            .position(|w| w.as_ref().is_some_and(|w| w.get_id() == cell.get_id()))
        else {
            return Ok(());
        };
        state.restarts += 1;
        metrics::counter!("vkyc_inference_worker_restarts_total", "engine" => E::NAME).increment(1);
        tracing::warn!(
            engine = E::NAME,
            worker = i,
            restarts = state.restarts,
            "inference worker failed ({why}); starting a new one"
        );
        state.workers[i] = None;
        state.inflight[i] = 0;
        match Self::spawn_worker(&me, i, &state.init).await {
            Ok(w) => state.workers[i] = Some(w),
            Err(e) => tracing::error!(
                engine = E::NAME,
                worker = i,
                "inference worker could not be restarted: {e}"
            ),
        }
        Ok(())
    }
}

// ------------------------------------------------------------------------- Pool

/// The handle callers use. Cheap to clone. The pool supervisor behind it can be replaced
/// ([`Pool::restart_linked`]); every clone reaches the new one.
pub struct Pool<E: Engine> {
    sup: Arc<std::sync::RwLock<ActorRef<PoolMsg<E>>>>,
    workers: usize,
    init: E::Init,
    slots: Arc<Semaphore>,
    timeout: Duration,
    retry_after_secs: u64,
}

impl<E: Engine> Clone for Pool<E> {
    fn clone(&self) -> Self {
        Self {
            sup: self.sup.clone(),
            workers: self.workers,
            init: self.init.clone(),
            slots: self.slots.clone(),
            timeout: self.timeout,
            retry_after_secs: self.retry_after_secs,
        }
    }
}

impl<E: Engine> Pool<E> {
    /// Starts `workers` workers (each builds its engine: a model error stops the start).
    pub async fn start(
        workers: usize,
        queue_per_worker: usize,
        timeout: Duration,
        init: E::Init,
    ) -> Result<Self, String> {
        let workers = workers.max(1);
        let (sup, _) = Actor::spawn(
            None,
            PoolSupervisor::<E>(std::marker::PhantomData),
            (workers, init.clone()),
        )
        .await
        .map_err(|e| format!("{} pool: {e}", E::NAME))?;
        Ok(Self {
            sup: Arc::new(std::sync::RwLock::new(sup)),
            workers,
            init,
            slots: Arc::new(Semaphore::new(workers * queue_per_worker.max(1))),
            timeout,
            retry_after_secs: 1,
        })
    }

    /// Starts a new pool supervisor and its workers, linked to `supervisor`, in place of the
    /// current one (which is stopped if it still runs): what the application supervisor
    /// does after the pool failed. Jobs in flight on the old pool fail (`worker_failed`);
    /// the job slots are the same.
    pub async fn restart_linked(
        &self,
        supervisor: ractor::ActorCell,
    ) -> Result<ractor::ActorCell, String> {
        let (sup, _) = Actor::spawn_linked(
            None,
            PoolSupervisor::<E>(std::marker::PhantomData),
            (self.workers, self.init.clone()),
            supervisor,
        )
        .await
        .map_err(|e| format!("{} pool: {e}", E::NAME))?;
        let cell = sup.get_cell();
        let old = std::mem::replace(
            &mut *self.sup.write().unwrap_or_else(|p| p.into_inner()),
            sup,
        );
        old.stop(None);
        Ok(cell)
    }

    fn sup(&self) -> ActorRef<PoolMsg<E>> {
        self.sup.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Runs `job` on a worker. Metrics: `vkyc_inference_seconds{engine,outcome}` (queue +
    /// run time as the caller sees it) and `vkyc_inference_in_flight{engine}`.
    pub async fn submit(&self, job: E::Job) -> Result<E::Output, InferenceError> {
        let started = std::time::Instant::now();
        let result = self.submit_inner(job).await;
        let outcome = match &result {
            Ok(_) => "ok",
            Err(e) => e.code(),
        };
        metrics::histogram!("vkyc_inference_seconds", "engine" => E::NAME, "outcome" => outcome)
            .record(started.elapsed().as_secs_f64());
        result
    }

    async fn submit_inner(&self, job: E::Job) -> Result<E::Output, InferenceError> {
        let slot = self
            .slots
            .clone()
            .try_acquire_owned()
            .map_err(|_| InferenceError::Busy {
                engine: E::NAME,
                retry_after_secs: self.retry_after_secs,
            })?;
        let (reply, rx) = oneshot::channel();
        let gauge = metrics::gauge!("vkyc_inference_in_flight", "engine" => E::NAME);
        gauge.increment(1.0);
        let sent = self.sup().cast(PoolMsg::Submit(Envelope {
            job,
            reply,
            _slot: slot,
        }));
        let r = match sent {
            Err(_) => Err(InferenceError::WorkerFailed(E::NAME)),
            Ok(()) => match tokio::time::timeout(self.timeout, rx).await {
                Ok(Ok(r)) => r.map_err(InferenceError::Vision),
                Ok(Err(_)) => Err(InferenceError::WorkerFailed(E::NAME)),
                Err(_) => Err(InferenceError::Timeout(E::NAME)),
            },
        };
        gauge.decrement(1.0);
        r
    }

    /// Fault injection (tests, chaos drills): worker `index` panics on its next message.
    #[cfg(feature = "fault-injection")]
    pub fn inject_panic(&self, index: usize) {
        let _ = self.sup().cast(PoolMsg::Crash(index));
    }

    /// Free job slots right now.
    pub fn available(&self) -> usize {
        self.slots.available_permits()
    }

    pub fn stop(&self) {
        self.sup().stop(None);
    }

    /// The current pool supervisor's cell (to link it under the application supervisor).
    pub fn cell(&self) -> ractor::ActorCell {
        self.sup().get_cell()
    }
}
