//! The baseline: the same media forwarded by a minimal UDP relay — the physical floor of
//! forwarding on this machine — measured the same way as the SFU, so the SFU's cost per
//! forwarded packet is a ratio, not an absolute time.
//!
//! Layout: the relay runs on its own OS thread (a single-threaded tokio runtime), one UDP
//! socket per direction of each call, each forwarding every datagram it receives to the
//! receiving peer's socket. Its CPU time is read from `/proc/thread-self/schedstat`
//! (nanoseconds on CPU) at the start and the end of the measured window. The senders are
//! the load test's own pacing loop ([`crate::call::send_media`]) writing plain RTP
//! (unencrypted: no SRTP, no RTCP, no congestion control — that is the point of a floor),
//! and the receivers feed the same [`Metrics`] accounting as the WebRTC peers.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use async_trait::async_trait;
use bytes::Bytes;
use tokio::net::UdpSocket;
use webrtc::rtp::header::Header;
use webrtc::rtp::packet::Packet;
use webrtc::util::{Marshal, Unmarshal};

use crate::call::{send_media, PacketWriter};
use crate::media::MediaSamples;
use crate::stats::{Metrics, StreamRx};

const PT_VIDEO: u8 = 96;
const PT_AUDIO: u8 = 111;

/// A sender's UDP socket, writing RTP to its relay flow.
struct UdpOut {
    socket: UdpSocket,
    to: SocketAddr,
    ssrc: [u32; 2],
}

#[async_trait]
impl PacketWriter for UdpOut {
    async fn write(
        &self,
        kind: &'static str,
        seq: u16,
        payload: Bytes,
        marker: bool,
        ts: u32,
    ) -> Result<()> {
        let video = kind == "video";
        let pkt = Packet {
            header: Header {
                version: 2,
                marker,
                payload_type: if video { PT_VIDEO } else { PT_AUDIO },
                sequence_number: seq,
                timestamp: ts,
                ssrc: self.ssrc[usize::from(video)],
                ..Default::default()
            },
            payload,
        };
        self.socket.send_to(&pkt.marshal()?, self.to).await?;
        Ok(())
    }
}

/// CPU time of the calling thread, in seconds (`CLOCK_THREAD_CPUTIME_ID`: exact, where
/// `/proc/thread-self/schedstat` only moves when the scheduler accounts the running thread,
/// at a tick or a switch, and so can read the same before and after a few milliseconds' work).
pub fn thread_cpu_seconds() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec for the call to fill in.
    if unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) } != 0 {
        return 0.0;
    }
    ts.tv_sec as f64 + ts.tv_nsec as f64 / 1e9
}

/// What the relay measured.
#[derive(Debug, Clone, Default)]
pub struct RelayRun {
    pub packets: u64,
    pub cpu_seconds: f64,
    pub secs: f64,
}

/// Forward `flows` (relay socket → destination) on a dedicated thread until `stop`;
/// returns each flow's relay address at once and the measurements at the end.
fn start_relay(
    dests: Vec<SocketAddr>,
    stop: Arc<AtomicBool>,
) -> Result<(Vec<SocketAddr>, std::thread::JoinHandle<RelayRun>)> {
    let (tx, rx) = std::sync::mpsc::channel();
    let handle = std::thread::Builder::new()
        .name("udp-relay".into())
        .spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("relay runtime");
            rt.block_on(async move {
                let mut sockets = Vec::new();
                for _ in &dests {
                    sockets.push(Arc::new(
                        UdpSocket::bind("127.0.0.1:0").await.expect("relay bind"),
                    ));
                }
                let _ = tx.send(
                    sockets
                        .iter()
                        .map(|s| s.local_addr().expect("bound"))
                        .collect::<Vec<_>>(),
                );
                let packets = Arc::new(AtomicU64::new(0));
                let cpu0 = thread_cpu_seconds();
                let t0 = Instant::now();
                let mut tasks = Vec::new();
                for (sock, dest) in sockets.into_iter().zip(dests) {
                    let packets = packets.clone();
                    tasks.push(tokio::spawn(async move {
                        let mut buf = vec![0u8; 2048];
                        while let Ok((n, _)) = sock.recv_from(&mut buf).await {
                            if sock.send_to(&buf[..n], dest).await.is_ok() {
                                packets.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    }));
                }
                while !stop.load(Ordering::Relaxed) {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                let run = RelayRun {
                    packets: packets.load(Ordering::Relaxed),
                    cpu_seconds: thread_cpu_seconds() - cpu0,
                    secs: t0.elapsed().as_secs_f64(),
                };
                for t in tasks {
                    t.abort();
                }
                run
            })
        })?;
    let addrs = rx
        .recv_timeout(Duration::from_secs(5))
        .context("relay did not start")?;
    Ok((addrs, handle))
}

/// Receive RTP on `socket` and account it like a WebRTC receiver does.
async fn receive(
    socket: UdpSocket,
    publisher: String,
    metrics: Arc<Metrics>,
    stop: Arc<AtomicBool>,
) {
    let mut streams = [StreamRx::new(48_000), StreamRx::new(90_000)];
    let log = metrics.send_log(&publisher);
    let mut buf = vec![0u8; 2048];
    while !stop.load(Ordering::Relaxed) {
        let Ok(Ok(n)) =
            tokio::time::timeout(Duration::from_millis(100), socket.recv(&mut buf)).await
        else {
            continue;
        };
        let at = Instant::now();
        let Ok(pkt) = Packet::unmarshal(&mut &buf[..n]) else {
            continue;
        };
        let video = pkt.header.payload_type == PT_VIDEO;
        let kind = if video { "video" } else { "audio" };
        metrics.record_received(
            &mut streams[usize::from(video)],
            Some(&log),
            kind,
            pkt.header.sequence_number,
            pkt.header.timestamp,
            pkt.payload.len(),
            at,
        );
    }
}

/// Run `calls` two-party "calls" through the relay for `duration`: each side sends the clips
/// to the other. Returns the relay's numbers and the receivers' [`Metrics`].
pub async fn run_baseline(
    calls: usize,
    duration: Duration,
    samples: Arc<MediaSamples>,
    audio: bool,
    video: bool,
) -> Result<(RelayRun, Arc<Metrics>)> {
    let metrics = Metrics::new();
    let stop_relay = Arc::new(AtomicBool::new(false));
    let stop_media = Arc::new(AtomicBool::new(false));
    // Two directions per call: a receiving socket for each.
    let mut receivers = Vec::new();
    for _ in 0..calls * 2 {
        receivers.push(UdpSocket::bind("127.0.0.1:0").await?);
    }
    let dests = receivers
        .iter()
        .map(|s| s.local_addr())
        .collect::<std::io::Result<Vec<_>>>()?;
    let (relay_addrs, relay) = start_relay(dests, stop_relay.clone())?;

    let mut tasks = Vec::new();
    for (flow, (rx_sock, relay_addr)) in receivers.into_iter().zip(relay_addrs).enumerate() {
        let publisher = format!("relay-{flow}");
        tasks.push(tokio::spawn(receive(
            rx_sock,
            publisher.clone(),
            metrics.clone(),
            stop_media.clone(),
        )));
        let out: Arc<dyn PacketWriter> = Arc::new(UdpOut {
            socket: UdpSocket::bind("127.0.0.1:0").await?,
            to: relay_addr,
            ssrc: rand::random(),
        });
        let log = metrics.send_log(&publisher);
        for (kind, on) in [("video", video), ("audio", audio)] {
            if on {
                tasks.push(tokio::spawn(send_media(
                    out.clone(),
                    kind,
                    log.clone(),
                    metrics.clone(),
                    samples.clone(),
                    stop_media.clone(),
                )));
            }
        }
    }
    tokio::time::sleep(duration).await;
    stop_media.store(true, Ordering::Relaxed);
    // Tail: let the last packets through, then stop the relay and read its CPU.
    tokio::time::sleep(Duration::from_millis(200)).await;
    stop_relay.store(true, Ordering::Relaxed);
    let run = tokio::task::spawn_blocking(move || relay.join())
        .await?
        .map_err(|_| anyhow::anyhow!("relay thread panicked"))?;
    for t in tasks {
        let _ = t.await;
    }
    Ok((run, metrics))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thread_cpu_time_grows_with_work() {
        let a = thread_cpu_seconds();
        let mut x = 0u64;
        for i in 0..20_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        std::hint::black_box(x);
        assert!(thread_cpu_seconds() > a);
    }
}
