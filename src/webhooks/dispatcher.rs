//! The webhook dispatcher: a `WebhookSupervisor` (a child of the application supervisor,
//! restarted by it if it fails) with two linked children, restarted if they fail (and said
//! so with `supervisor.restarted`); their state is `webhooks.fanout` / `webhooks.deliverer`
//! in the tree's health, so the node is not ready while one is down:
//!
//! - **Fan-out** turns events into delivery rows, one per matching subscription.
//!   - [`LogFanout`] (`events.backend = "embedded"`): tails the embedded event log from its
//!     own cursor (`relay_cursors["webhooks"]`). The delivery rows of a batch and the cursor
//!     move are one store transaction, so a crash loses nothing and duplicates nothing.
//!   - [`KafkaFanout`] (`events.backend = "kafka"`): a consumer in the group
//!     `webhooks.kafka_group_id` reading the event topics, so several nodes share the
//!     partitions. Offsets are committed only after the rows are written; a replay after a
//!     crash finds the (event, subscription) key already taken and adds nothing.
//! - **[`Deliverer`]** POSTs due deliveries (at most `max_in_flight` at once, each in its own
//!   task), records every attempt and schedules the next one or dead-letters the delivery.
//!   A delivery that is pending when the process dies is attempted again at the next start
//!   (at-least-once; `webhook-id` lets the receiver drop the duplicate).
//!
//! Every destination is checked again before each attempt: an IP literal against the
//! [`DestinationPolicy`], a host name by the HTTP client's own resolver, which refuses the
//! connection if any address is internal (so a DNS change after subscribing cannot reach an
//! internal address). Redirects are not followed. Logs carry ids, status and timing only.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use ractor::{Actor, ActorProcessingErr, ActorRef, SupervisionEvent};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::{Message, Offset, TopicPartitionList};
use serde_json::Value;
use uuid::Uuid;
use vkyc_domain::events::data;
use vkyc_domain::{DomainEvent, EventSink};

use super::{retry_delay, DestinationPolicy, EventFilter, WebhookError, WebhookSecret, WebhookUrl};
use crate::config::{EventsBackend, EventsConfig, WebhooksConfig};
use crate::store::{Attempt, Delivery, NextStep, Store, Subscription};

/// The fan-out's name in the cursor table.
pub const CURSOR: &str = "webhooks";
/// Events read per store query / Kafka messages per batch.
const BATCH: usize = 500;
/// A failed child is started again after this long.
const RESTART_DELAY: Duration = Duration::from_millis(500);

#[derive(Clone)]
pub struct DispatcherArgs {
    pub store: std::sync::Arc<dyn Store>,
    pub cfg: WebhooksConfig,
    pub events: EventsConfig,
    pub health: Arc<crate::supervision::Health>,
}

impl DispatcherArgs {
    fn poll(&self) -> Duration {
        Duration::from_millis(self.cfg.poll_interval_ms)
    }
}

/// The deliveries of one event: one per subscription that asked for its type and existed
/// when it happened (a new subscription gets no history).
fn deliveries_for(
    subs: &[Subscription],
    id: Uuid,
    kind: &str,
    time: chrono::DateTime<Utc>,
    session: Option<vkyc_domain::SessionId>,
    payload: &str,
) -> Vec<Delivery> {
    let now = Utc::now();
    subs.iter()
        .filter(|s| time >= s.created_at && EventFilter::matches(&s.event_types, kind))
        .map(|s| Delivery::new(s.id, id, kind, session, payload.to_string(), now))
        .collect()
}

// ---------------------------------------------------------------- supervisor

pub struct WebhookSupervisor;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Child {
    Fanout,
    Deliverer,
}

impl Child {
    /// Its name in events and in the tree's health.
    pub fn name(self) -> &'static str {
        match self {
            Child::Fanout => "webhooks.fanout",
            Child::Deliverer => "webhooks.deliverer",
        }
    }
}

pub enum SupMsg {
    Start(Child),
    /// Fault injection: the dispatcher's supervisor panics.
    #[cfg(feature = "fault-injection")]
    InjectPanic,
}

pub struct SupState {
    args: DispatcherArgs,
    children: HashMap<ractor::ActorId, Child>,
}

async fn start_child(
    me: &ActorRef<SupMsg>,
    args: &DispatcherArgs,
    child: Child,
) -> Result<ractor::ActorId, ActorProcessingErr> {
    let cell = me.get_cell();
    let id = match (child, args.events.backend) {
        (Child::Fanout, EventsBackend::Embedded) => {
            Actor::spawn_linked(None, LogFanout, args.clone(), cell)
                .await?
                .0
                .get_id()
        }
        (Child::Fanout, EventsBackend::Kafka) => {
            Actor::spawn_linked(None, KafkaFanout, args.clone(), cell)
                .await?
                .0
                .get_id()
        }
        (Child::Deliverer, _) => Actor::spawn_linked(None, Deliverer, args.clone(), cell)
            .await?
            .0
            .get_id(),
    };
    Ok(id)
}

impl Actor for WebhookSupervisor {
    type Msg = SupMsg;
    type State = SupState;
    type Arguments = DispatcherArgs;

    async fn pre_start(
        &self,
        me: ActorRef<SupMsg>,
        args: DispatcherArgs,
    ) -> Result<SupState, ActorProcessingErr> {
        let mut children = HashMap::new();
        for child in [Child::Fanout, Child::Deliverer] {
            children.insert(start_child(&me, &args, child).await?, child);
            args.health.running(child.name());
        }
        tracing::info!(mode = ?args.events.backend, "webhook dispatcher started");
        Ok(SupState { args, children })
    }

    async fn handle(
        &self,
        me: ActorRef<SupMsg>,
        msg: SupMsg,
        st: &mut SupState,
    ) -> Result<(), ActorProcessingErr> {
        let child = match msg {
            SupMsg::Start(child) => child,
            #[cfg(feature = "fault-injection")]
            SupMsg::InjectPanic => panic!("webhook dispatcher: injected fault"),
        };
        match start_child(&me, &st.args, child).await {
            Ok(id) => {
                st.children.insert(id, child);
                st.args.health.running(child.name());
                let ev = DomainEvent::new(
                    None,
                    data::SupervisorRestarted {
                        supervisor: child.name().to_string(),
                    },
                );
                vkyc_domain::events::emit(&*st.args.store as &dyn EventSink, ev).await;
            }
            Err(e) => {
                tracing::error!(?child, error = %e, "webhook dispatcher child cannot start; trying again");
                st.args.health.set(
                    child.name(),
                    crate::supervision::State::Restarting,
                    Some(format!("did not start again: {e}")),
                );
                me.send_after(RESTART_DELAY * 4, move || SupMsg::Start(child));
            }
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        me: ActorRef<SupMsg>,
        evt: SupervisionEvent,
        st: &mut SupState,
    ) -> Result<(), ActorProcessingErr> {
        let (id, why) = match &evt {
            SupervisionEvent::ActorFailed(cell, err) => (cell.get_id(), err.to_string()),
            SupervisionEvent::ActorTerminated(cell, _, reason) => (
                cell.get_id(),
                reason.clone().unwrap_or_else(|| "stopped".into()),
            ),
            _ => return Ok(()),
        };
        if let Some(child) = st.children.remove(&id) {
            tracing::error!(?child, reason = %why, "webhook dispatcher child stopped; starting a new one");
            st.args.health.set(
                child.name(),
                crate::supervision::State::Restarting,
                Some(why),
            );
            me.send_after(RESTART_DELAY, move || SupMsg::Start(child));
        }
        Ok(())
    }
}

// ---------------------------------------------------------------- fan-out from the log

pub struct LogFanout;

pub enum FanoutMsg {
    Tick,
}

pub struct LogFanoutState {
    args: DispatcherArgs,
    cursor: u64,
}

impl LogFanoutState {
    /// One batch; returns whether there may be more.
    async fn step(&mut self) -> Result<bool, ActorProcessingErr> {
        let events = self.args.store.events_after(self.cursor, BATCH).await?;
        let Some(last) = events.last().map(|e| e.seq) else {
            return Ok(false);
        };
        let subs = self.args.store.list_subscriptions().await?;
        let mut deliveries = Vec::new();
        for e in &events {
            if subs
                .iter()
                .any(|s| EventFilter::matches(&s.event_types, &e.kind))
            {
                let payload = serde_json::to_string(&crate::events::cloud_event(
                    e,
                    &self.args.events.kafka.source,
                ))?;
                deliveries.extend(deliveries_for(
                    &subs,
                    e.id,
                    &e.kind,
                    e.time,
                    e.session_id,
                    &payload,
                ));
            }
        }
        let new = self
            .args
            .store
            .enqueue_deliveries(deliveries, Some((CURSOR, last)))
            .await?;
        self.cursor = last;
        metrics::gauge!("vkyc_webhook_fanout_cursor").set(last as f64);
        if new > 0 {
            metrics::counter!("vkyc_webhook_deliveries_created_total").increment(new as u64);
        }
        Ok(events.len() == BATCH)
    }
}

impl Actor for LogFanout {
    type Msg = FanoutMsg;
    type State = LogFanoutState;
    type Arguments = DispatcherArgs;

    async fn pre_start(
        &self,
        me: ActorRef<FanoutMsg>,
        args: DispatcherArgs,
    ) -> Result<LogFanoutState, ActorProcessingErr> {
        let cursor = args.store.relay_cursor(CURSOR).await?;
        me.send_message(FanoutMsg::Tick)?;
        Ok(LogFanoutState { args, cursor })
    }

    async fn handle(
        &self,
        me: ActorRef<FanoutMsg>,
        msg: FanoutMsg,
        st: &mut LogFanoutState,
    ) -> Result<(), ActorProcessingErr> {
        let FanoutMsg::Tick = msg;
        match st.step().await {
            Ok(true) => me.send_message(FanoutMsg::Tick)?,
            Ok(false) => {
                me.send_after(st.args.poll(), || FanoutMsg::Tick);
            }
            // A store error (disk full…) must not lose events: the cursor did not move, the
            // same batch is read again.
            Err(e) => {
                tracing::error!(error = %e, "webhook fan-out cannot read or write the store");
                me.send_after(st.args.poll() * 4, || FanoutMsg::Tick);
            }
        }
        Ok(())
    }
}

// ---------------------------------------------------------------- fan-out from Kafka

pub struct KafkaFanout;

pub struct KafkaFanoutState {
    args: DispatcherArgs,
    consumer: crate::events::GroupConsumer,
}

/// The consumer of the fan-out: its group shares the partitions among the nodes; offsets are
/// committed by hand once the deliveries are written.
pub fn consumer_config(args: &DispatcherArgs) -> ClientConfig {
    let k = &args.events.kafka;
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", k.brokers.to_string())
        .set("client.id", format!("{}-webhooks", k.client_id))
        .set("group.id", &args.cfg.kafka_group_id)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        // A new group starts at the beginning; events older than a subscription are not
        // delivered to it, so this only replays what may still be owed.
        .set("auto.offset.reset", "earliest")
        .set("fetch.wait.max.ms", "50")
        .set("reconnect.backoff.max.ms", "1000")
        .set("log_level", "4");
    c
}

/// The topics that carry public event types (all families but stats and webhooks).
pub fn fanout_topics(events: &EventsConfig) -> Vec<String> {
    let t = &events.kafka.topics;
    vec![
        t.sessions.clone(),
        t.rooms.clone(),
        t.steps.clone(),
        t.recordings.clone(),
        t.desk.clone(),
    ]
}

struct Received {
    topic: String,
    partition: i32,
    offset: i64,
    payload: Option<Vec<u8>>,
}

impl KafkaFanoutState {
    async fn batch(&mut self) -> Result<Vec<Received>, ActorProcessingErr> {
        let mut out = Vec::new();
        let deadline =
            tokio::time::Instant::now() + self.args.poll().max(Duration::from_millis(100));
        while out.len() < BATCH {
            let wait = if out.is_empty() {
                deadline
            } else {
                tokio::time::Instant::now() + Duration::from_millis(5)
            };
            match tokio::time::timeout_at(wait, self.consumer.recv()).await {
                Err(_) => break,
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "webhook fan-out: kafka consumer error");
                    break;
                }
                Ok(Ok(m)) => out.push(Received {
                    topic: m.topic().to_string(),
                    partition: m.partition(),
                    offset: m.offset(),
                    payload: m.payload().map(<[u8]>::to_vec),
                }),
            }
        }
        Ok(out)
    }

    async fn step(&mut self) -> Result<(), ActorProcessingErr> {
        let batch = self.batch().await?;
        if batch.is_empty() {
            return Ok(());
        }
        let subs = self.args.store.list_subscriptions().await?;
        let mut deliveries = Vec::new();
        for r in &batch {
            let Some(v) = r
                .payload
                .as_deref()
                .and_then(|p| serde_json::from_slice::<Value>(p).ok())
            else {
                continue;
            };
            let (Some(kind), Some(id)) = (
                v["type"].as_str(),
                v["id"].as_str().and_then(|s| s.parse::<Uuid>().ok()),
            ) else {
                continue;
            };
            let time = v["time"]
                .as_str()
                .and_then(|t| t.parse::<chrono::DateTime<Utc>>().ok())
                .unwrap_or_else(Utc::now);
            let session = v["subject"].as_str().and_then(|s| s.parse::<Uuid>().ok());
            let payload = String::from_utf8_lossy(r.payload.as_deref().unwrap_or_default());
            deliveries.extend(deliveries_for(
                &subs,
                id,
                kind,
                time,
                session.map(vkyc_domain::SessionId::from_uuid),
                &payload,
            ));
        }
        let new = self.args.store.enqueue_deliveries(deliveries, None).await?;
        if new > 0 {
            metrics::counter!("vkyc_webhook_deliveries_created_total").increment(new as u64);
        }
        let mut next: HashMap<(String, i32), i64> = HashMap::new();
        for r in &batch {
            let e = next
                .entry((r.topic.clone(), r.partition))
                .or_insert(r.offset + 1);
            *e = (*e).max(r.offset + 1);
        }
        let mut tpl = TopicPartitionList::new();
        for ((topic, partition), offset) in next {
            tpl.add_partition_offset(&topic, partition, Offset::Offset(offset))?;
        }
        self.consumer.commit(&tpl, CommitMode::Async)?;
        Ok(())
    }
}

impl Actor for KafkaFanout {
    type Msg = FanoutMsg;
    type State = KafkaFanoutState;
    type Arguments = DispatcherArgs;

    async fn pre_start(
        &self,
        me: ActorRef<FanoutMsg>,
        args: DispatcherArgs,
    ) -> Result<KafkaFanoutState, ActorProcessingErr> {
        let consumer: StreamConsumer = consumer_config(&args).create()?;
        let topics = fanout_topics(&args.events);
        let names: Vec<&str> = topics.iter().map(String::as_str).collect();
        consumer.subscribe(&names)?;
        tracing::info!(group = %args.cfg.kafka_group_id, "webhook fan-out consuming the event topics");
        me.send_message(FanoutMsg::Tick)?;
        Ok(KafkaFanoutState {
            args,
            consumer: crate::events::GroupConsumer::new(consumer),
        })
    }

    async fn handle(
        &self,
        me: ActorRef<FanoutMsg>,
        msg: FanoutMsg,
        st: &mut KafkaFanoutState,
    ) -> Result<(), ActorProcessingErr> {
        let FanoutMsg::Tick = msg;
        // A store failure after messages were read must not skip them: the actor fails, and
        // its successor's consumer starts again from the committed offsets.
        st.step().await?;
        me.send_message(FanoutMsg::Tick)?;
        Ok(())
    }
}

// ---------------------------------------------------------------- delivery worker

/// The HTTP client's resolver: a host name whose addresses include an internal one (unless
/// allowed) does not resolve, so no connection is ever made to it.
struct GuardedResolver(Arc<DestinationPolicy>);

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = self.0.clone();
        let host = name.as_str().to_string();
        Box::pin(async move {
            let addrs = policy
                .resolve(&host, 0)
                .await
                .map_err(|e| Box::new(e) as Box<dyn std::error::Error + Send + Sync>)?;
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

pub fn http_client(
    cfg: &WebhooksConfig,
    policy: Arc<DestinationPolicy>,
) -> reqwest::Result<reqwest::Client> {
    let timeout = Duration::from_millis(cfg.request_timeout_ms);
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(5)))
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .dns_resolver(Arc::new(GuardedResolver(policy)))
        .user_agent(concat!("vkyc-webhooks/", env!("CARGO_PKG_VERSION")))
        .build()
}

/// The error kind of a failed request.
fn error_kind(e: &reqwest::Error) -> String {
    let mut src: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = src {
        if let Some(w) = s.downcast_ref::<WebhookError>() {
            return w.code().to_string();
        }
        src = s.source();
    }
    if e.is_timeout() {
        "timeout".into()
    } else if e.is_connect() {
        "connect".into()
    } else {
        "request".into()
    }
}

/// One attempt: (status, error kind).
async fn send(
    client: &reqwest::Client,
    policy: &DestinationPolicy,
    sub: &Subscription,
    d: &Delivery,
) -> (Option<u16>, Option<String>) {
    let url = match WebhookUrl::parse(&sub.url) {
        Ok(u) => u,
        Err(e) => return (None, Some(e.code().into())),
    };
    if let Some(ip) = url.ip() {
        if let Err(e) = policy.check_ip(&url.host(), ip) {
            return (None, Some(e.code().into()));
        }
    }
    let secret = match WebhookSecret::parse(&sub.secret) {
        Ok(s) => s,
        Err(e) => return (None, Some(e.code().into())),
    };
    let id = d.id.to_string();
    let ts = Utc::now().timestamp();
    let signature = secret.sign(&id, ts, d.payload.as_bytes());
    let req = client
        .post(url.url().clone())
        .header("webhook-id", &id)
        .header("webhook-timestamp", ts.to_string())
        .header("webhook-signature", signature)
        .header("content-type", "application/json")
        .body(d.payload.clone());
    match req.send().await {
        Ok(resp) => {
            let status = resp.status();
            // The body is not read: nothing in it is used, and it may be large.
            (
                Some(status.as_u16()),
                (!status.is_success()).then(|| "http_status".to_string()),
            )
        }
        Err(e) => (None, Some(error_kind(&e))),
    }
}

#[derive(Clone)]
struct Worker {
    store: std::sync::Arc<dyn Store>,
    cfg: WebhooksConfig,
    policy: Arc<DestinationPolicy>,
    client: reqwest::Client,
}

impl Worker {
    async fn attempt(&self, sub: Subscription, d: Delivery) {
        let n = d.attempts.len() as u32 + 1;
        let at = Utc::now();
        let started = Instant::now();
        let (status, error) = send(&self.client, &self.policy, &sub, &d).await;
        let latency_ms = started.elapsed().as_millis() as u64;
        let next = if error.is_none() {
            NextStep::Succeeded
        } else {
            match retry_delay(
                &self.cfg.retry_schedule_secs,
                self.cfg.retry_jitter,
                d.run_attempts + 1,
            ) {
                Some(wait) => NextStep::Retry(
                    Utc::now() + chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::MAX),
                ),
                None => NextStep::Dead,
            }
        };
        let outcome = match next {
            NextStep::Succeeded => "succeeded",
            NextStep::Retry(_) => "retry",
            NextStep::Dead => "dead",
        };
        metrics::counter!("vkyc_webhook_attempts_total", "outcome" => outcome).increment(1);
        metrics::histogram!("vkyc_webhook_attempt_seconds").record(latency_ms as f64 / 1000.0);
        tracing::info!(delivery = %d.id, subscription = %sub.id, event_type = %d.event_type, attempt = n, status, error = error.as_deref(), latency_ms, outcome, "webhook attempt");
        let attempt = Attempt {
            attempt: n,
            at,
            status,
            error,
            latency_ms,
        };
        if let Err(e) = self.store.record_attempt(d.id, attempt, next).await {
            // The delivery stays due and is attempted again.
            tracing::error!(delivery = %d.id, error = %e, "webhook attempt could not be recorded");
        }
    }
}

pub struct Deliverer;

pub enum DeliverMsg {
    Tick,
    Done(Uuid),
}

pub struct DelivererState {
    worker: Worker,
    inflight: HashSet<Uuid>,
}

impl Actor for Deliverer {
    type Msg = DeliverMsg;
    type State = DelivererState;
    type Arguments = DispatcherArgs;

    async fn pre_start(
        &self,
        me: ActorRef<DeliverMsg>,
        args: DispatcherArgs,
    ) -> Result<DelivererState, ActorProcessingErr> {
        let policy = Arc::new(DestinationPolicy::from_config(&args.cfg));
        let client = http_client(&args.cfg, policy.clone())?;
        me.send_interval(args.poll(), || DeliverMsg::Tick);
        let worker = Worker {
            store: args.store,
            cfg: args.cfg,
            policy,
            client,
        };
        Ok(DelivererState {
            worker,
            inflight: HashSet::new(),
        })
    }

    async fn handle(
        &self,
        me: ActorRef<DeliverMsg>,
        msg: DeliverMsg,
        st: &mut DelivererState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            DeliverMsg::Done(id) => {
                st.inflight.remove(&id);
            }
            DeliverMsg::Tick => {
                let room = st
                    .worker
                    .cfg
                    .max_in_flight
                    .saturating_sub(st.inflight.len());
                if room == 0 {
                    return Ok(());
                }
                let due = match st
                    .worker
                    .store
                    .due_deliveries(Utc::now(), room + st.inflight.len())
                    .await
                {
                    Ok(d) => d,
                    Err(e) => {
                        tracing::error!(error = %e, "webhook worker cannot read the due deliveries");
                        return Ok(());
                    }
                };
                let mut subs: HashMap<Uuid, Option<Subscription>> = HashMap::new();
                let fresh: Vec<Delivery> = due
                    .into_iter()
                    .filter(|d| !st.inflight.contains(&d.id))
                    .take(room)
                    .collect();
                for d in fresh {
                    if !subs.contains_key(&d.subscription_id) {
                        let s = st
                            .worker
                            .store
                            .get_subscription(d.subscription_id)
                            .await
                            .unwrap_or(None);
                        subs.insert(d.subscription_id, s);
                    }
                    // Deleted subscriptions take their deliveries with them.
                    let Some(Some(sub)) = subs.get(&d.subscription_id).cloned() else {
                        continue;
                    };
                    st.inflight.insert(d.id);
                    let (worker, me, id) = (st.worker.clone(), me.clone(), d.id);
                    tokio::spawn(async move {
                        worker.attempt(sub, d).await;
                        let _ = me.send_message(DeliverMsg::Done(id));
                    });
                }
                metrics::gauge!("vkyc_webhook_in_flight").set(st.inflight.len() as f64);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    /// The destination is checked again at delivery time, whatever was checked when the
    /// subscription was made: an IP literal against the policy, a host name in the client's
    /// resolver. No connection reaches the refused address.
    #[tokio::test]
    async fn destinations_are_checked_again_before_each_attempt() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let accepted = Arc::new(AtomicUsize::new(0));
        let seen = accepted.clone();
        tokio::spawn(async move {
            while let Ok((mut sock, _)) = listener.accept().await {
                seen.fetch_add(1, Ordering::SeqCst);
                let mut buf = vec![0u8; 16384];
                let _ = sock.read(&mut buf).await;
                let _ = sock
                    .write_all(b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n")
                    .await;
            }
        });
        // Built by hand, not from the environment (other unit tests set VKYC_* variables).
        let cfg = WebhooksConfig {
            enabled: true,
            allow_private: false,
            allowed_hosts: vec![],
            retry_schedule_secs: vec![1.0],
            retry_jitter: 0.0,
            request_timeout_ms: 2000,
            poll_interval_ms: 50,
            max_in_flight: 4,
            max_subscriptions: 10,
            kafka_group_id: "g".into(),
        };
        let sub = |url: String| Subscription {
            id: Uuid::new_v4(),
            url,
            secret: WebhookSecret::generate().expose(),
            event_types: vec!["*".into()],
            created_at: Utc::now(),
        };
        let d = Delivery::new(
            Uuid::new_v4(),
            Uuid::new_v4(),
            "video.completed",
            None,
            "{}".into(),
            Utc::now(),
        );

        let strict = Arc::new(DestinationPolicy::default());
        let client = http_client(&cfg, strict.clone()).unwrap();
        for url in [
            format!("http://127.0.0.1:{port}/"),
            format!("http://localhost:{port}/"),
            format!("http://[::ffff:127.0.0.1]:{port}/"),
        ] {
            let (status, error) = send(&client, &strict, &sub(url.clone()), &d).await;
            assert_eq!(
                (status, error.as_deref()),
                (None, Some("webhook_destination_forbidden")),
                "{url}"
            );
        }
        assert_eq!(
            accepted.load(Ordering::SeqCst),
            0,
            "no connection to a refused destination"
        );

        let allowed = Arc::new(DestinationPolicy {
            allow_private: false,
            allowed_hosts: vec!["127.0.0.1".into()],
        });
        let client = http_client(&cfg, allowed.clone()).unwrap();
        let (status, error) = send(
            &client,
            &allowed,
            &sub(format!("http://127.0.0.1:{port}/")),
            &d,
        )
        .await;
        assert_eq!((status, error), (Some(204), None));
        assert_eq!(accepted.load(Ordering::SeqCst), 1);
    }
}
