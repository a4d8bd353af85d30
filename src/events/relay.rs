//! The outbox relay: one actor per node tails the embedded event log from a persisted cursor
//! and publishes each event to Kafka.
//!
//! - The producer is idempotent (`enable.idempotence`, `acks=all`) and never gives a message
//!   up (`message.timeout.ms = 0`): while the broker is away librdkafka keeps the messages and
//!   retries them itself, in order and without duplicates, so one producer instance lives
//!   across an outage. The relay stops reading the log once `max_in_flight` events are
//!   waiting, and waits with a growing back-off (up to 1 s) for the first of them.
//! - The cursor (`relay_cursors["kafka"]`) only moves past an event once the broker has
//!   acknowledged it and everything before it: a crash between the ack and the cursor write
//!   publishes the tail again (at-least-once); the event `id` identifies a redelivery.
//! - The API never waits for any of this: it only writes the log.
//! - Health: every `PROBE_EVERY` the relay asks the broker for its metadata (off the actor,
//!   in a blocking task); the answer is `relay.broker` in the tree's [`Health`]: `failed`
//!   with the error while no broker answers (the node is then not ready), `running` again
//!   once one does. The relay itself is a child of the application supervisor, restarted if
//!   it fails (publishing resumes from the cursor).

use std::collections::VecDeque;
use std::time::Duration;

use futures_util::FutureExt;
use ractor::{Actor, ActorProcessingErr, ActorRef};
use rdkafka::config::ClientConfig;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord, Producer};

use super::{cloud_event, key, Family, FamilyTopic, CONTENT_TYPE};
use crate::config::KafkaConfig;
use std::sync::Arc;

use crate::store::Store;
use crate::supervision::{Health, State};

/// The relay's name in the cursor table.
pub const CURSOR: &str = "kafka";
const MAX_BACKOFF: Duration = Duration::from_secs(1);
/// Outbox entries read per store query.
const READ_BATCH: usize = 1000;
/// How often the broker connection is checked, and how long a check may take.
const PROBE_EVERY: Duration = Duration::from_millis(500);
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);
/// The relay's broker connection in the tree's health.
pub const BROKER_HEALTH: &str = "relay.broker";

/// The producer settings the relay depends on (idempotent, acks=all, never expire).
pub fn producer_config(cfg: &KafkaConfig) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", cfg.brokers.to_string())
        .set("client.id", &cfg.client_id)
        .set("enable.idempotence", "true")
        .set("acks", cfg.acks.as_str())
        .set("max.in.flight.requests.per.connection", "5")
        .set("message.timeout.ms", "0")
        .set("linger.ms", "2")
        .set("reconnect.backoff.ms", "50")
        .set("reconnect.backoff.max.ms", "1000")
        .set("log_level", "4");
    c
}

pub struct KafkaRelay;

pub enum RelayMsg {
    Tick,
    /// Time to check the broker connection.
    Probe,
    /// The check's answer: the number of brokers, or why none answered.
    Probed(Result<usize, String>),
    /// Fault injection: the relay panics.
    #[cfg(feature = "fault-injection")]
    InjectPanic,
}

pub struct RelayArgs {
    pub store: Arc<dyn Store>,
    pub cfg: KafkaConfig,
    pub health: Arc<Health>,
}

pub struct RelayState {
    store: Arc<dyn Store>,
    cfg: KafkaConfig,
    producer: FutureProducer,
    /// Persisted: every event up to here is in Kafka.
    acked: u64,
    /// The last event handed to the producer.
    sent: u64,
    inflight: VecDeque<(u64, DeliveryFuture)>,
    /// A delivery failed for good (a fatal producer error): once nothing is in flight, the
    /// producer is rebuilt and publishing resumes from `acked`.
    failed: bool,
    backoff: Duration,
    health: Arc<Health>,
    probing: bool,
}

impl RelayState {
    fn poll(&self) -> Duration {
        Duration::from_millis(self.cfg.poll_interval_ms)
    }

    /// Hand new log entries to the producer, up to the in-flight limit. Returns how many.
    async fn produce(&mut self) -> Result<usize, ActorProcessingErr> {
        let room = self
            .cfg
            .max_in_flight
            .saturating_sub(self.inflight.len())
            .min(READ_BATCH);
        if room == 0 || self.failed {
            return Ok(0);
        }
        let events = self.store.events_after(self.sent, room).await?;
        let mut n = 0;
        for e in &events {
            let payload = serde_json::to_vec(&cloud_event(e, &self.cfg.source))?;
            let k = key(e);
            let id = e.id.to_string();
            let headers = OwnedHeaders::new()
                .insert(Header {
                    key: "content-type",
                    value: Some(CONTENT_TYPE),
                })
                .insert(Header {
                    key: "ce_id",
                    value: Some(id.as_str()),
                })
                .insert(Header {
                    key: "ce_type",
                    value: Some(e.kind.as_str()),
                });
            let topic = Family::of(&e.kind).topic(&self.cfg.topics);
            let record = FutureRecord::to(topic)
                .key(&k)
                .payload(&payload)
                .headers(headers);
            match self.producer.send_result(record) {
                Ok(fut) => {
                    self.inflight.push_back((e.seq, fut));
                    self.sent = e.seq;
                    n += 1;
                }
                // The producer's own queue is full: try the rest on a later tick.
                Err((err, _)) => {
                    tracing::debug!(error = %err, "kafka producer queue full");
                    break;
                }
            }
        }
        Ok(n)
    }

    /// Take the acknowledged events off the front of the queue, waiting up to `wait` for the
    /// first. The cursor only moves over a gap-free run of acknowledged events.
    async fn collect(&mut self, wait: Duration) -> usize {
        let mut done = 0;
        while let Some((seq, mut fut)) = self.inflight.pop_front() {
            let result = if done == 0 && !wait.is_zero() {
                tokio::time::timeout(wait, &mut fut).await.ok()
            } else {
                (&mut fut).now_or_never()
            };
            let Some(result) = result else {
                // Still on its way: it stays first in line.
                self.inflight.push_front((seq, fut));
                break;
            };
            done += 1;
            match result {
                Ok(Ok(_)) if !self.failed => self.acked = seq,
                Ok(Ok(_)) => {}
                Ok(Err((e, _))) => {
                    tracing::error!(seq, error = %e, "kafka delivery failed; the producer is rebuilt and publishing resumes from the cursor");
                    self.failed = true;
                }
                Err(_) => {
                    tracing::error!(
                        seq,
                        "kafka delivery report lost; publishing resumes from the cursor"
                    );
                    self.failed = true;
                }
            }
        }
        done
    }
}

impl Actor for KafkaRelay {
    type Msg = RelayMsg;
    type State = RelayState;
    type Arguments = RelayArgs;

    async fn pre_start(
        &self,
        me: ActorRef<RelayMsg>,
        RelayArgs { store, cfg, health }: RelayArgs,
    ) -> Result<RelayState, ActorProcessingErr> {
        let acked = store.relay_cursor(CURSOR).await?;
        let producer: FutureProducer = producer_config(&cfg).create()?;
        tracing::info!(brokers = %cfg.brokers, cursor = acked, "kafka relay started");
        me.send_message(RelayMsg::Tick)?;
        me.send_message(RelayMsg::Probe)?;
        me.send_interval(PROBE_EVERY, || RelayMsg::Probe);
        let backoff = Duration::from_millis(cfg.poll_interval_ms);
        Ok(RelayState {
            store,
            cfg,
            producer,
            acked,
            sent: acked,
            inflight: VecDeque::new(),
            failed: false,
            backoff,
            health,
            probing: false,
        })
    }

    async fn handle(
        &self,
        me: ActorRef<RelayMsg>,
        msg: RelayMsg,
        st: &mut RelayState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            RelayMsg::Tick => st.tick(&me).await,
            RelayMsg::Probe => {
                if !st.probing {
                    st.probing = true;
                    let (producer, me) = (st.producer.clone(), me.clone());
                    tokio::task::spawn_blocking(move || {
                        let answer = producer.client().fetch_metadata(None, PROBE_TIMEOUT);
                        let _ = me.send_message(RelayMsg::Probed(
                            answer.map(|m| m.brokers().len()).map_err(|e| e.to_string()),
                        ));
                    });
                }
                Ok(())
            }
            RelayMsg::Probed(answer) => {
                st.probing = false;
                match answer {
                    Ok(n) if n > 0 => {
                        if st
                            .health
                            .get(BROKER_HEALTH)
                            .is_none_or(|s| s.state != State::Running)
                        {
                            tracing::info!(brokers = n, "kafka relay: broker reachable");
                        }
                        st.health.running(BROKER_HEALTH);
                    }
                    answer => {
                        let why = answer
                            .err()
                            .unwrap_or_else(|| "the metadata lists no broker".into());
                        if st
                            .health
                            .get(BROKER_HEALTH)
                            .is_none_or(|s| s.state == State::Running)
                        {
                            tracing::error!(error = %why, "kafka relay: no broker answers; events wait in the outbox");
                        }
                        st.health.set(BROKER_HEALTH, State::Failed, Some(format!("the Kafka relay cannot reach a broker ({why}); events wait in the outbox")));
                    }
                }
                Ok(())
            }
            #[cfg(feature = "fault-injection")]
            RelayMsg::InjectPanic => panic!("kafka relay: injected fault"),
        }
    }

    async fn post_stop(
        &self,
        _me: ActorRef<RelayMsg>,
        st: &mut RelayState,
    ) -> Result<(), ActorProcessingErr> {
        // Give what is in flight a moment; whatever is not acknowledged is published again
        // from the cursor at the next start.
        let _ = st.producer.flush(Duration::from_secs(2));
        st.collect(Duration::ZERO).await;
        st.store.set_relay_cursor(CURSOR, st.acked).await?;
        Ok(())
    }
}

impl RelayState {
    /// Publishes what is new and takes in the acknowledgements; schedules the next tick.
    async fn tick(&mut self, me: &ActorRef<RelayMsg>) -> Result<(), ActorProcessingErr> {
        let st = self;
        let before = st.acked;
        // A store error (disk full…) must not stop the relay: it tries again next tick.
        let produced = st.produce().await.unwrap_or_else(|e| {
            tracing::error!(error = %e, "kafka relay cannot read the outbox");
            0
        });
        let wait = if st.inflight.is_empty() {
            Duration::ZERO
        } else {
            st.backoff
        };
        let acked = st.collect(wait).await;
        if acked > 0 {
            st.backoff = st.poll();
        } else if !st.inflight.is_empty() {
            st.backoff = (st.backoff * 2).min(MAX_BACKOFF);
        }
        if st.acked > before {
            if let Err(e) = st.store.set_relay_cursor(CURSOR, st.acked).await {
                tracing::error!(error = %e, "kafka relay cannot save its cursor");
            }
        }
        metrics::gauge!("vkyc_kafka_relay_in_flight").set(st.inflight.len() as f64);
        metrics::gauge!("vkyc_kafka_relay_cursor").set(st.acked as f64);
        if st.failed && st.inflight.is_empty() {
            st.producer = producer_config(&st.cfg).create()?;
            st.sent = st.acked;
            st.failed = false;
        }
        if produced > 0 || acked > 0 || !st.inflight.is_empty() {
            me.send_message(RelayMsg::Tick)?;
        } else {
            me.send_after(st.poll(), || RelayMsg::Tick);
        }
        Ok(())
    }
}
