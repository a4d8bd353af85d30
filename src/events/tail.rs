//! `vkyc events tail --topic NAME [--from-beginning] [--brokers HOST:PORT] [--max N]`: print a
//! topic's events as they arrive, one line each: `partition:offset key event-json`. It reads
//! with a throw-away consumer group, so it never moves anyone else's offsets.

use std::io::Write;
use std::time::Duration;

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::Message;

use crate::config::Brokers;

/// The arguments after `vkyc events tail`.
#[derive(Debug, Clone, clap::Args)]
pub struct TailArgs {
    /// The topic to read, e.g. vkyc.sessions (the names are in [events.kafka.topics]).
    #[arg(long, value_name = "NAME")]
    pub topic: String,
    /// Start at the topic's oldest event (default: only events published from now on).
    #[arg(long)]
    pub from_beginning: bool,
    /// Bootstrap servers, comma-separated [default: events.kafka.brokers of the configuration].
    #[arg(long, value_name = "HOST:PORT")]
    pub brokers: Option<Brokers>,
    /// Stop after this many events [default: until interrupted].
    #[arg(long, value_name = "N")]
    pub max: Option<u64>,
}

/// Prints `args.topic` from `brokers` (the `--brokers` value, else the configuration's).
pub async fn run(args: TailArgs, brokers: &Brokers) -> anyhow::Result<()> {
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers.to_string())
        .set(
            "group.id",
            format!("vkyc-tail-{}", uuid::Uuid::new_v4().simple()),
        )
        .set("enable.auto.commit", "false")
        .set(
            "auto.offset.reset",
            if args.from_beginning {
                "earliest"
            } else {
                "latest"
            },
        )
        .set("fetch.wait.max.ms", "100")
        .set("log_level", "3")
        .create()?;
    let consumer = super::GroupConsumer::new(consumer);
    consumer.subscribe(&[&args.topic])?;
    let mut seen = 0;
    while args.max.is_none_or(|m| seen < m) {
        let msg = match tokio::time::timeout(Duration::from_secs(30), consumer.recv()).await {
            Ok(m) => m?,
            Err(_) => {
                eprintln!(
                    "vkyc events tail: nothing for 30 s on {} (still waiting)",
                    args.topic
                );
                continue;
            }
        };
        let key = msg.key().map(String::from_utf8_lossy).unwrap_or_default();
        let payload = msg
            .payload()
            .map(String::from_utf8_lossy)
            .unwrap_or_default();
        let mut out = std::io::stdout().lock();
        if writeln!(out, "{}:{} {key} {payload}", msg.partition(), msg.offset())
            .and_then(|_| out.flush())
            .is_err()
        {
            break; // stdout closed (e.g. `| head`)
        }
        seen += 1;
    }
    Ok(())
}
