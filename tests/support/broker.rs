//! A Kafka broker of a test's own: tansu (in-memory storage) behind a TCP proxy that the
//! test cuts and restores. To every client that is the broker going away and coming back
//! (refused connections, dropped sockets), while the broker keeps what it acknowledged
//! (restarting tansu itself would empty its in-memory topics).
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// `VKYC_TANSU_BIN`, else `~/.cargo/bin/tansu`, else `tansu` on PATH.
pub fn tansu_bin() -> String {
    if let Ok(b) = std::env::var("VKYC_TANSU_BIN") {
        return b;
    }
    let home = std::path::PathBuf::from(std::env::var_os("HOME").unwrap_or_default())
        .join(".cargo/bin/tansu");
    if home.exists() {
        home.display().to_string()
    } else {
        "tansu".into()
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A TCP forwarder in front of the broker; `stop` drops every connection and refuses new
/// ones until `start` again.
pub struct Proxy {
    listen: SocketAddr,
    target: SocketAddr,
    tasks: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>>,
}

impl Proxy {
    pub fn new(listen: SocketAddr, target: SocketAddr) -> Self {
        Self {
            listen,
            target,
            tasks: Arc::default(),
        }
    }

    pub fn start(&self) {
        let sock = tokio::net::TcpSocket::new_v4().unwrap();
        sock.set_reuseaddr(true).unwrap();
        sock.bind(self.listen).unwrap();
        let listener = sock.listen(128).unwrap();
        let (target, tasks) = (self.target, self.tasks.clone());
        let accept = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let conn = tokio::spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                tasks.lock().unwrap().push(conn);
            }
        });
        self.tasks.lock().unwrap().push(accept);
    }

    pub fn stop(&self) {
        for t in self.tasks.lock().unwrap().drain(..) {
            t.abort();
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop();
    }
}

pub struct Broker {
    child: std::process::Child,
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A tansu of this test's own (in-memory storage), listening on `port` and advertising `advertised`.
pub async fn start_tansu(port: u16, advertised: u16) -> Broker {
    let child = std::process::Command::new(tansu_bin())
        .args([
            "broker",
            "--listener-url",
            &format!("tcp://127.0.0.1:{port}"),
            "--advertised-listener-url",
            &format!("tcp://127.0.0.1:{advertised}"),
            "--storage-engine",
            "memory://tansu/",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {} (set VKYC_TANSU_BIN): {e}", tansu_bin()));
    let deadline = Instant::now() + Duration::from_secs(10);
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        assert!(Instant::now() < deadline, "tansu did not listen on {port}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Broker { child }
}

/// A test's consumer of `topics`, from their oldest records, in a throw-away group. It is a
/// [`vkyc::events::GroupConsumer`]: let go on a thread of its own, so a test that ends
/// after a broker outage, or after stopping its broker, does not hang in rdkafka's `Drop`.
pub fn topic_reader(brokers: &str, topics: &[&str]) -> vkyc::events::GroupConsumer {
    use rdkafka::consumer::Consumer;
    let consumer: rdkafka::consumer::StreamConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set(
            "group.id",
            format!("test-{}", uuid::Uuid::new_v4().simple()),
        )
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .set("fetch.wait.max.ms", "10")
        .create()
        .expect("a Kafka consumer");
    consumer.subscribe(topics).expect("subscribed");
    vkyc::events::GroupConsumer::new(consumer)
}
