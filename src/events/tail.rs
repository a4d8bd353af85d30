//! `vkyc events tail --topic NAME [--from-beginning] [--brokers HOST:PORT] [--max N]`: print a
//! topic's events as they arrive, one line each: `partition:offset key event-json`. It reads
//! with a throw-away consumer group, so it never moves anyone else's offsets.

use std::io::Write;
use std::time::Duration;

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::Message;

pub struct TailArgs {
    pub topic: String,
    pub brokers: String,
    pub from_beginning: bool,
    /// Stop after this many events (None = until interrupted).
    pub max: Option<u64>,
}

impl TailArgs {
    /// Parses the arguments after `events tail`; `brokers` defaults to the configuration's.
    pub fn parse(args: &[String], default_brokers: impl FnOnce() -> Result<String, String>) -> Result<Self, String> {
        let (mut topic, mut brokers, mut from_beginning, mut max) = (None, None, false, None);
        let mut it = args.iter();
        while let Some(a) = it.next() {
            let mut value = |name: &str| it.next().cloned().ok_or_else(|| format!("{name} needs a value"));
            match a.as_str() {
                "--topic" => topic = Some(value("--topic")?),
                "--brokers" => brokers = Some(value("--brokers")?),
                "--max" => max = Some(value("--max")?.parse::<u64>().map_err(|_| "--max needs a number".to_string())?),
                "--from-beginning" => from_beginning = true,
                other => return Err(format!("unknown argument {other}")),
            }
        }
        let topic = topic.ok_or("--topic NAME is required")?;
        let brokers = match brokers {
            Some(b) => b,
            None => default_brokers()?,
        };
        Ok(Self { topic, brokers, from_beginning, max })
    }
}

pub async fn run(args: TailArgs) -> anyhow::Result<()> {
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", &args.brokers)
        .set("group.id", format!("vkyc-tail-{}", uuid::Uuid::new_v4().simple()))
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", if args.from_beginning { "earliest" } else { "latest" })
        .set("fetch.wait.max.ms", "100")
        .set("log_level", "3")
        .create()?;
    consumer.subscribe(&[&args.topic])?;
    let mut seen = 0;
    while args.max.is_none_or(|m| seen < m) {
        let msg = match tokio::time::timeout(Duration::from_secs(30), consumer.recv()).await {
            Ok(m) => m?,
            Err(_) => {
                eprintln!("vkyc events tail: nothing for 30 s on {} (still waiting)", args.topic);
                continue;
            }
        };
        let key = msg.key().map(String::from_utf8_lossy).unwrap_or_default();
        let payload = msg.payload().map(String::from_utf8_lossy).unwrap_or_default();
        let mut out = std::io::stdout().lock();
        if writeln!(out, "{}:{} {key} {payload}", msg.partition(), msg.offset()).and_then(|_| out.flush()).is_err() {
            break; // stdout closed (e.g. `| head`)
        }
        seen += 1;
    }
    Ok(())
}
