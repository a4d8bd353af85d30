//! The `QueueRouter` actor: one per node, owning the desk's [`Queue`].
//!
//! Each message is one change of the queue, applied the same way ([`RouterState::apply`]):
//! on a copy of the queue, the domain method for the message, then [`Queue::tick`] (every
//! deadline that has passed, then routing); the new state and its events are saved in one
//! store call; only then does the copy become the state, the metrics move, the notifier
//! tells customers and agents, and one timer is set for [`Queue::next_deadline`] (its `Tick`
//! is a change like any other). A change the store refuses is not applied: the caller gets
//! the error and the queue stays as it was saved.
//!
//! Time is the actor's [`Clock`]: the wall clock when it started plus tokio's monotonic time
//! since, so a test with paused tokio time moves the queue's clock too.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use ractor::{Actor, ActorProcessingErr, ActorRef, MessagingErr, RpcReplyPort};
use tokio::task::JoinHandle;
use vkyc_domain::desk::presence::AgentState;
use vkyc_domain::desk::queue::{Notice, Outcome, Queue, QueueError};
use vkyc_domain::desk::user::Skills;
use vkyc_domain::events::EventData;
use vkyc_domain::{OfferId, SessionId, UserId};

use crate::ports::{DeskNotifier, DeskStore};
use crate::snapshot::DeskSnapshot;
use crate::{metrics, DeskConfig, DeskError};

/// Where an answer goes.
pub type Reply<T> = RpcReplyPort<Result<T, DeskError>>;

/// What the desk is told. Messages with a reply port are the ones a caller waits on (an HTTP
/// request or a console command); the others come from sockets opening and closing.
pub enum DeskMsg {
    /// A customer starts waiting for an agent who serves `requirements`.
    CustomerEnter {
        session_id: SessionId,
        requirements: Skills,
        reply: Reply<()>,
    },
    /// A scheduled session's slot began: it waits for an agent from now, offered before the
    /// customer's page connects.
    ScheduledSlot {
        session_id: SessionId,
        requirements: Skills,
        reply: Reply<()>,
    },
    /// The customer gave up (`queue.abandoned`).
    CustomerLeave {
        session_id: SessionId,
        reply: Reply<()>,
    },
    /// The customer's page lost its connection: they keep their place.
    CustomerDisconnected { session_id: SessionId },
    /// The customer's page is back: they are offered again.
    CustomerReconnected {
        session_id: SessionId,
        reply: Reply<()>,
    },
    /// An agent's console connected, with their current skills.
    AgentConnected { user_id: UserId, skills: Skills },
    /// An agent's console lost its connection (offline after the grace period).
    AgentDisconnected { user_id: UserId },
    /// The agent chooses `available`, `break` or `offline`.
    SetState {
        user_id: UserId,
        state: AgentState,
        reply: Reply<()>,
    },
    /// The agent takes the offer: the answer is the customer's session.
    Accept {
        offer_id: OfferId,
        user_id: UserId,
        reply: Reply<SessionId>,
    },
    Decline {
        offer_id: OfferId,
        user_id: UserId,
        reply: Reply<()>,
    },
    /// The agent's call ended: wrap-up, then available after `wrap_up_secs`.
    CallEnded { user_id: UserId, reply: Reply<()> },
    /// An agent took a waiting customer by hand (from the console's list).
    Taken {
        session_id: SessionId,
        user_id: UserId,
        reply: Reply<()>,
    },
    /// A supervisor gives a waiting customer to a free agent.
    Reassign {
        session_id: SessionId,
        to: UserId,
        reply: Reply<()>,
    },
    /// The supervisor's view.
    Snapshot(RpcReplyPort<DeskSnapshot>),
    /// A deadline passed (the actor's own timer).
    Tick,
}

/// The queue's time: the wall clock at the start plus tokio's monotonic time since.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    wall: DateTime<Utc>,
    start: tokio::time::Instant,
}

impl Clock {
    pub fn start() -> Self {
        Self {
            wall: Utc::now(),
            start: tokio::time::Instant::now(),
        }
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.wall + TimeDelta::from_std(self.start.elapsed()).unwrap_or(TimeDelta::MAX)
    }
}

pub struct QueueRouter;

pub struct RouterArgs {
    pub config: DeskConfig,
    pub store: Arc<dyn DeskStore>,
    pub notifier: Arc<dyn DeskNotifier>,
}

pub struct RouterState {
    queue: Queue,
    config: DeskConfig,
    store: Arc<dyn DeskStore>,
    notifier: Arc<dyn DeskNotifier>,
    clock: Clock,
    /// The one pending `Tick`.
    timer: Option<JoinHandle<Result<(), MessagingErr<DeskMsg>>>>,
    /// The position and estimate each connected customer was last told.
    told: HashMap<SessionId, (u32, Option<i64>)>,
}

type Change<T> = Result<(Outcome, T), QueueError>;

impl RouterState {
    /// Applies one change (see the module docs).
    async fn apply<T>(
        &mut self,
        me: &ActorRef<DeskMsg>,
        op: impl FnOnce(&mut Queue, DateTime<Utc>) -> Change<T>,
    ) -> Result<T, DeskError> {
        let now = self.clock.now();
        let mut next = self.queue.clone();
        let (mut out, value) = op(&mut next, now)?;
        out.extend(next.tick(now));
        if next != self.queue || !out.events.is_empty() {
            self.store
                .save(&next, &out.events)
                .await
                .map_err(DeskError::Store)?;
        }
        self.queue = next;
        metrics::record(&self.queue, &out.events);
        self.tell(&out).await;
        self.schedule(me, now);
        Ok(value)
    }

    /// Tells customers and agents what the change means for them.
    async fn tell(&mut self, out: &Outcome) {
        let n = &self.notifier;
        // An agent hears their new state before what it brings (available, then the ring).
        for e in &out.events {
            if let EventData::AgentStateChanged(c) = &e.data {
                n.agent_state(c.user_id, c.to).await;
            }
        }
        for notice in &out.notices {
            match notice {
                Notice::Ring(o) => n.ring(o).await,
                Notice::Withdraw(o) => n.withdraw(o).await,
                Notice::Connected {
                    session_id,
                    agent,
                    offer_id,
                } => n.connected(*session_id, *agent, *offer_id).await,
                Notice::TimedOut(s) => n.timed_out(*s).await,
                Notice::Taken(s) => n.taken(*s).await,
            }
        }

        let q = &self.queue;
        self.told
            .retain(|s, _| q.entry(*s).is_some_and(|e| e.connected));
        for e in q.entries().iter().filter(|e| e.connected) {
            let Some(position) = q.position(e.session_id) else {
                continue;
            };
            let now = (position, q.estimated_wait(e.session_id));
            if self.told.get(&e.session_id) != Some(&now) {
                self.told.insert(e.session_id, now);
                n.position(e.session_id, now.0, now.1).await;
            }
        }
    }

    /// One timer, for the next deadline.
    fn schedule(&mut self, me: &ActorRef<DeskMsg>, now: DateTime<Utc>) {
        if let Some(t) = self.timer.take() {
            t.abort();
        }
        if let Some(at) = self.queue.next_deadline() {
            let wait = (at - now).to_std().unwrap_or_default() + Duration::from_millis(1);
            self.timer = Some(me.send_after(wait, || DeskMsg::Tick));
        }
    }
}

fn no_change<T>(r: Result<Outcome, QueueError>, v: T) -> Change<T> {
    r.map(|o| (o, v))
}

/// Answers a caller; a caller that gave up is no error of the desk's.
fn answer<T>(reply: Reply<T>, r: Result<T, DeskError>) {
    let _ = reply.send(r);
}

impl Actor for QueueRouter {
    type Msg = DeskMsg;
    type State = RouterState;
    type Arguments = RouterArgs;

    /// Loads the saved queue (a restart: [`Queue::restarted`]) or starts an empty one.
    async fn pre_start(
        &self,
        me: ActorRef<DeskMsg>,
        args: RouterArgs,
    ) -> Result<RouterState, ActorProcessingErr> {
        let clock = Clock::start();
        let now = clock.now();
        let queue = match args.store.load().await? {
            Some(mut q) => {
                q.timing = args.config.timing();
                let _withdrawn = q.restarted(now); // nobody is connected to be told
                args.store.save(&q, &[]).await?;
                tracing::info!(
                    waiting = q.entries().len(),
                    agents = q.agents().count(),
                    "desk queue loaded"
                );
                q
            }
            None => Queue::new(args.config.timing()),
        };
        metrics::gauges(&queue);
        let mut st = RouterState {
            queue,
            config: args.config,
            store: args.store,
            notifier: args.notifier,
            clock,
            timer: None,
            told: HashMap::new(),
        };
        st.schedule(&me, now);
        Ok(st)
    }

    async fn post_stop(
        &self,
        _me: ActorRef<DeskMsg>,
        st: &mut RouterState,
    ) -> Result<(), ActorProcessingErr> {
        if let Some(t) = st.timer.take() {
            t.abort();
        }
        Ok(())
    }

    async fn handle(
        &self,
        me: ActorRef<DeskMsg>,
        msg: DeskMsg,
        st: &mut RouterState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            DeskMsg::CustomerEnter {
                session_id,
                requirements,
                reply,
            } => {
                let r = st
                    .apply(&me, |q, now| {
                        no_change(q.enter(session_id, requirements, now), ())
                    })
                    .await;
                answer(reply, r);
            }
            DeskMsg::ScheduledSlot {
                session_id,
                requirements,
                reply,
            } => {
                let r = st
                    .apply(&me, |q, now| {
                        Ok((q.enter_scheduled(session_id, requirements, now), ()))
                    })
                    .await;
                answer(reply, r);
            }
            DeskMsg::CustomerLeave { session_id, reply } => {
                let r = st
                    .apply(&me, |q, now| no_change(q.leave(session_id, now), ()))
                    .await;
                answer(reply, r);
            }
            DeskMsg::CustomerDisconnected { session_id } => {
                let r = st
                    .apply(&me, |q, _| no_change(q.disconnect(session_id), ()))
                    .await;
                if let Err(e) = r {
                    tracing::debug!(session = %session_id, code = e.code(), "customer disconnect: {e}");
                }
            }
            DeskMsg::CustomerReconnected { session_id, reply } => {
                let r = st
                    .apply(&me, |q, _| no_change(q.reconnect(session_id), ()))
                    .await;
                answer(reply, r);
            }
            DeskMsg::AgentConnected { user_id, skills } => {
                let r = st
                    .apply(&me, |q, now| {
                        q.agent_online(user_id, skills, now);
                        Ok((Outcome::default(), ()))
                    })
                    .await;
                if let Err(e) = r {
                    tracing::warn!(agent = %user_id, code = e.code(), "agent connect: {e}");
                }
            }
            DeskMsg::AgentDisconnected { user_id } => {
                let r = st
                    .apply(&me, |q, now| {
                        no_change(q.agent_disconnected(user_id, now), ())
                    })
                    .await;
                if let Err(e) = r {
                    tracing::debug!(agent = %user_id, code = e.code(), "agent disconnect: {e}");
                }
            }
            DeskMsg::SetState {
                user_id,
                state,
                reply,
            } => {
                let r = st
                    .apply(&me, |q, now| {
                        no_change(q.set_state(user_id, state, now), ())
                    })
                    .await;
                answer(reply, r);
            }
            DeskMsg::Accept {
                offer_id,
                user_id,
                reply,
            } => {
                let r = st
                    .apply(&me, |q, now| {
                        let session = q
                            .offers()
                            .iter()
                            .find(|o| o.id == offer_id)
                            .map(|o| o.session_id);
                        let out = q.accept(offer_id, user_id, now)?;
                        Ok((out, session.expect("an accepted offer existed")))
                    })
                    .await;
                answer(reply, r);
            }
            DeskMsg::Decline {
                offer_id,
                user_id,
                reply,
            } => {
                let r = st
                    .apply(&me, |q, _| no_change(q.decline(offer_id, user_id), ()))
                    .await;
                answer(reply, r);
            }
            DeskMsg::CallEnded { user_id, reply } => {
                let r = st
                    .apply(&me, |q, now| no_change(q.call_ended(user_id, now), ()))
                    .await;
                answer(reply, r);
            }
            DeskMsg::Taken {
                session_id,
                user_id,
                reply,
            } => {
                let r = st
                    .apply(&me, |q, now| {
                        no_change(q.take(session_id, user_id, now), ())
                    })
                    .await;
                answer(reply, r);
            }
            DeskMsg::Reassign {
                session_id,
                to,
                reply,
            } => {
                let r = st
                    .apply(&me, |q, now| no_change(q.reassign(session_id, to, now), ()))
                    .await;
                answer(reply, r);
            }
            DeskMsg::Snapshot(reply) => {
                let view = DeskSnapshot::of(&st.queue, st.clock.now(), st.config.sla_wait_secs);
                let _ = reply.send(view);
            }
            DeskMsg::Tick => {
                if let Err(e) = st.apply(&me, |_, _| Ok((Outcome::default(), ()))).await {
                    // The store refused: try again shortly rather than lose the deadline.
                    tracing::error!(code = e.code(), "desk tick: {e}");
                    st.timer = Some(me.send_after(Duration::from_secs(1), || DeskMsg::Tick));
                }
            }
        }
        Ok(())
    }
}
