//! `vkyc-loadtest`: grows into the full load test in its own issue. Today it runs N
//! simulated two-party calls against a server for a few seconds and prints what arrived.

use std::time::{Duration, Instant};

use anyhow::Result;
use bytes::Bytes;
use vkyc_loadtest::{ApiClient, SimPeer, SimPeerOptions};

fn usage() -> ! {
    eprintln!("usage: vkyc-loadtest --url http://127.0.0.1:8080 --api-key KEY [--calls N] [--seconds S]");
    std::process::exit(2)
}

#[tokio::main]
async fn main() -> Result<()> {
    let mut url = None;
    let mut key = None;
    let mut calls = 1usize;
    let mut seconds = 5u64;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--url" => url = args.next(),
            "--api-key" => key = args.next(),
            "--calls" => calls = args.next().and_then(|v| v.parse().ok()).unwrap_or_else(|| usage()),
            "--seconds" => seconds = args.next().and_then(|v| v.parse().ok()).unwrap_or_else(|| usage()),
            _ => usage(),
        }
    }
    let (Some(url), Some(key)) = (url, key) else { usage() };
    let api = ApiClient::new(&url, &key);
    let mut peers = Vec::new();
    for i in 0..calls {
        let sid = api.create_session(&format!("Load Test {i}")).await?;
        for role in ["agent", "customer"] {
            let t = api.token(&sid, role).await?;
            peers.push(SimPeer::join(&api.ws_url(), &t.token, SimPeerOptions::default()).await?);
        }
    }
    let end = Instant::now() + Duration::from_secs(seconds);
    let mut sent = 0u64;
    while Instant::now() < end {
        for p in &peers {
            p.send_rtp("video", Bytes::from(vec![0x10u8; 1000])).await?;
            p.send_rtp("audio", Bytes::from(vec![0xf8u8; 120])).await?;
            sent += 2;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let received: usize = peers
        .iter()
        .map(|p| p.received.lock().unwrap().packets.values().map(Vec::len).sum::<usize>())
        .sum();
    println!("calls={calls} packets_sent={sent} packets_received={received}");
    for p in &peers {
        p.close().await;
    }
    Ok(())
}
