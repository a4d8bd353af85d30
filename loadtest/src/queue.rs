//! The queue load (`vkyc-loadtest queue`): customers arrive at a steady rate and wait in the
//! agent desk's queue; simulated agents (real staff accounts signed in over the console's
//! cookie, each on the desk's WebSocket) take every offer, hold a real call (the agent joins
//! the room over WebRTC and ends it), wrap up and take the next one.
//!
//! What it measures, on one clock (this process):
//! - **enter → offer**: from the customer's `enter` message to the agent's socket receiving
//!   the `offer` for that customer. The headline figure counts only customers who entered
//!   with an agent free for them (more simulated agents `available` than customers already
//!   waiting ahead); customers who had to wait for one are reported apart, with their waits.
//! - enter → connected (the customer's socket told an agent took the call), the longest
//!   queue seen, offers by outcome.
//!
//! Agents are accounts `lt-agent-<n>@loadtest.invalid` created (or reset) through the admin
//! API with the admin credentials given; the server should run with a short
//! `desk.wrap_up_secs` so agents come back quickly.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use futures_util::{SinkExt, StreamExt};
use serde::Serialize;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

use crate::api::ApiClient;
use crate::peer::{SimPeer, SimPeerOptions};

/// `vkyc-loadtest queue`'s settings.
#[derive(Debug, Clone)]
pub struct QueueConfig {
    pub customers: usize,
    pub agents: usize,
    /// Customers entering per second.
    pub arrival_per_sec: f64,
    /// How long each simulated call is held before the agent ends it.
    pub hold: Duration,
    pub admin_email: String,
    pub admin_password: String,
    /// Give up waiting for the last customers after this long.
    pub timeout: Duration,
}

const AGENT_PASSWORD: &str = "loadtest-agent-password";

/// Percentiles of a set of durations, milliseconds.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Percentiles {
    pub count: usize,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl Percentiles {
    fn of(mut v: Vec<f64>) -> Self {
        if v.is_empty() {
            return Self::default();
        }
        v.sort_by(|a, b| a.total_cmp(b));
        let at = |q: f64| v[((q * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1];
        Self {
            count: v.len(),
            p50_ms: at(0.50),
            p95_ms: at(0.95),
            p99_ms: at(0.99),
            max_ms: *v.last().unwrap(),
        }
    }
}

/// What a queue run measured.
#[derive(Debug, Clone, Serialize)]
pub struct QueueReport {
    pub customers: usize,
    pub agents: usize,
    pub arrival_per_sec: f64,
    pub hold_ms: u64,
    /// Enter → offer, customers who entered with an agent free (the SLO figure).
    pub enter_to_offer_free: Percentiles,
    /// Enter → offer, customers who entered with every agent busy (includes their wait).
    pub enter_to_offer_waited: Percentiles,
    /// Enter → connected (an agent accepted), every customer.
    pub enter_to_connected: Percentiles,
    pub offered: usize,
    pub connected: usize,
    pub calls_ended: usize,
    pub errors: Vec<String>,
    pub longest_queue: i64,
    pub wall_secs: f64,
}

/// A signed-in console: its HTTP client (cookie jar), CSRF token and cookie header.
struct Console {
    http: reqwest::Client,
    csrf: String,
    cookie: String,
}

async fn sign_in(base: &str, email: &str, password: &str) -> Result<Console> {
    let http = reqwest::Client::builder().cookie_store(true).build()?;
    let res = http
        .post(format!("{base}/v1/auth/login"))
        .json(&json!({"email": email, "password": password}))
        .send()
        .await?;
    if !res.status().is_success() {
        bail!("sign in {email}: HTTP {}", res.status());
    }
    let cookie = res
        .headers()
        .get("set-cookie")
        .and_then(|c| c.to_str().ok())
        .and_then(|c| c.split(';').next())
        .ok_or_else(|| anyhow!("sign in {email}: no cookie"))?
        .to_string();
    let body: Value = res.json().await?;
    let csrf = body["csrf_token"]
        .as_str()
        .ok_or_else(|| anyhow!("no csrf token"))?
        .to_string();
    Ok(Console { http, csrf, cookie })
}

impl Console {
    async fn send(
        &self,
        method: reqwest::Method,
        url: String,
        body: Value,
    ) -> Result<(u16, Value)> {
        let res = self
            .http
            .request(method, url)
            .header("x-csrf-token", &self.csrf)
            .json(&body)
            .send()
            .await?;
        let status = res.status().as_u16();
        Ok((status, res.json().await.unwrap_or(Value::Null)))
    }
}

/// Creates the agents' accounts (or resets their password and skills if they exist).
async fn ensure_agents(base: &str, admin: &Console, n: usize) -> Result<Vec<String>> {
    let (_, list) = admin
        .send(
            reqwest::Method::GET,
            format!("{base}/v1/users"),
            Value::Null,
        )
        .await?;
    let existing: HashMap<String, String> = list["users"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|u| {
                    (
                        u["email"].as_str().unwrap_or("").to_string(),
                        u["id"].as_str().unwrap_or("").to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let mut emails = Vec::new();
    for i in 0..n {
        let email = format!("lt-agent-{i}@loadtest.invalid");
        let account = json!({"name": format!("Load Agent {i}"), "roles": ["agent"], "skills": {"languages": ["en"]}, "password": AGENT_PASSWORD, "disabled": false});
        let (status, body) = match existing.get(&email) {
            Some(id) => {
                admin
                    .send(
                        reqwest::Method::PATCH,
                        format!("{base}/v1/users/{id}"),
                        account,
                    )
                    .await?
            }
            None => {
                let mut new = account;
                new["email"] = json!(email);
                new.as_object_mut().unwrap().remove("disabled");
                admin
                    .send(reqwest::Method::POST, format!("{base}/v1/users"), new)
                    .await?
            }
        };
        if !(200..300).contains(&status) {
            bail!("account {email}: HTTP {status} {body}");
        }
        emails.push(email);
    }
    Ok(emails)
}

#[derive(Default)]
struct Shared {
    /// Session id → when its customer sent `enter`, and whether an agent was free then.
    entered: Mutex<HashMap<String, (Instant, bool)>>,
    to_offer_free: Mutex<Vec<f64>>,
    to_offer_waited: Mutex<Vec<f64>>,
    to_connected: Mutex<Vec<f64>>,
    errors: Mutex<Vec<String>>,
    available: AtomicI64,
    offered: AtomicU64,
    connected: AtomicU64,
    ended: AtomicU64,
    waiting: AtomicI64,
    longest: AtomicI64,
}

impl Shared {
    fn error(&self, e: impl std::fmt::Display) {
        let mut errors = self.errors.lock().unwrap();
        if errors.len() < 20 {
            errors.push(e.to_string());
        }
    }
}

fn ws_url(base: &str, path: &str) -> String {
    format!("{}{path}", base.replacen("http", "ws", 1))
}

/// One simulated agent: available, take every offer, hold a real call, end it, repeat.
async fn agent(
    base: String,
    api: ApiClient,
    email: String,
    shared: Arc<Shared>,
    hold: Duration,
    done: Arc<tokio::sync::Notify>,
) -> Result<()> {
    let console = sign_in(&base, &email, AGENT_PASSWORD).await?;
    let mut req = ws_url(&base, "/v1/desk/ws").into_client_request()?;
    req.headers_mut().insert("cookie", console.cookie.parse()?);
    let (mut ws, _) = tokio_tungstenite::connect_async(req)
        .await
        .context("desk socket")?;
    ws.send(Message::Text(
        json!({"type": "state", "state": "available"}).to_string(),
    ))
    .await?;
    let mut state = String::from("offline");
    loop {
        let msg = tokio::select! {
            m = ws.next() => m,
            _ = done.notified() => break,
        };
        let Some(Ok(Message::Text(text))) = msg else {
            if msg.is_none() {
                break;
            }
            continue;
        };
        let v: Value = serde_json::from_str(&text)?;
        match v["type"].as_str() {
            Some("state") => {
                let new = v["state"].as_str().unwrap_or("").to_string();
                if new == "available" && state != "available" {
                    shared.available.fetch_add(1, Ordering::SeqCst);
                } else if state == "available" && new != "available" {
                    shared.available.fetch_sub(1, Ordering::SeqCst);
                }
                state = new;
            }
            Some("offer") => {
                let now = Instant::now();
                let sid = v["session_id"].as_str().unwrap_or("").to_string();
                shared.offered.fetch_add(1, Ordering::Relaxed);
                if let Some((at, free)) = shared.entered.lock().unwrap().get(&sid).copied() {
                    let ms = (now - at).as_secs_f64() * 1000.0;
                    if free {
                        shared.to_offer_free.lock().unwrap().push(ms)
                    } else {
                        shared.to_offer_waited.lock().unwrap().push(ms)
                    }
                }
                ws.send(Message::Text(
                    json!({"type": "accept", "offer_id": v["offer_id"]}).to_string(),
                ))
                .await?;
            }
            Some("connected") => {
                let sid = v["session_id"].as_str().unwrap_or("").to_string();
                let (status, token) = console
                    .send(
                        reqwest::Method::POST,
                        format!("{base}/v1/sessions/{sid}/tokens"),
                        json!({"role": "agent"}),
                    )
                    .await?;
                if status != 201 {
                    shared.error(format!("agent token: HTTP {status}"));
                    continue;
                }
                let token = token["token"].as_str().unwrap_or("").to_string();
                let (api, shared, hold) = (api.clone(), shared.clone(), hold);
                // The call runs beside the socket, which keeps answering.
                tokio::spawn(async move {
                    match SimPeer::join(&api.ws_url(), &token, SimPeerOptions::default()).await {
                        Ok(peer) => {
                            tokio::time::sleep(hold).await;
                            match api
                                .with_bearer(&token)
                                .post_raw(&format!("/v1/rooms/{sid}/end"), &Value::Null)
                                .await
                            {
                                Ok((200, _)) => {
                                    shared.ended.fetch_add(1, Ordering::Relaxed);
                                }
                                Ok((s, b)) => shared.error(format!("end call: HTTP {s} {b}")),
                                Err(e) => shared.error(format!("end call: {e}")),
                            }
                            peer.close().await;
                        }
                        Err(e) => shared.error(format!("agent join: {e}")),
                    }
                });
            }
            Some("error") => shared.error(format!("desk: {}", v["code"])),
            _ => {}
        }
    }
    Ok(())
}

/// One customer: create the session, enter the queue, wait for `connected`.
async fn customer(api: ApiClient, shared: Arc<Shared>) -> Result<()> {
    let sid = api.create_session("Load Customer").await?;
    let token = api.token(&sid, "customer").await?.token;
    let (mut ws, _) = tokio_tungstenite::connect_async(ws_url(&api.base, "/v1/queue/ws"))
        .await
        .context("queue socket")?;
    // An agent is free for this customer when more agents are available than customers
    // already wait ahead of them (FIFO: those take the free agents first).
    let free = shared.available.load(Ordering::SeqCst) > shared.waiting.load(Ordering::SeqCst);
    let at = Instant::now();
    shared
        .entered
        .lock()
        .unwrap()
        .insert(sid.clone(), (at, free));
    ws.send(Message::Text(
        json!({"type": "enter", "token": token}).to_string(),
    ))
    .await?;
    let waiting = shared.waiting.fetch_add(1, Ordering::SeqCst) + 1;
    shared.longest.fetch_max(waiting, Ordering::SeqCst);
    let result = loop {
        match ws.next().await {
            Some(Ok(Message::Text(t))) => {
                let v: Value = serde_json::from_str(&t)?;
                match v["type"].as_str() {
                    Some("connected") => {
                        shared
                            .to_connected
                            .lock()
                            .unwrap()
                            .push(at.elapsed().as_secs_f64() * 1000.0);
                        shared.connected.fetch_add(1, Ordering::Relaxed);
                        break Ok(());
                    }
                    Some("timed_out") => break Err(anyhow!("queue timed out")),
                    Some("error") => break Err(anyhow!("queue: {}", v["code"])),
                    _ => {}
                }
            }
            Some(Ok(_)) => {}
            other => break Err(anyhow!("queue socket closed: {other:?}")),
        }
    };
    shared.waiting.fetch_sub(1, Ordering::SeqCst);
    result
}

/// Runs the queue load against `api`'s server.
pub async fn run(api: ApiClient, cfg: QueueConfig) -> Result<QueueReport> {
    let base = api.base.clone();
    let admin = sign_in(&base, &cfg.admin_email, &cfg.admin_password)
        .await
        .context("the admin account (--admin-email / --admin-password)")?;
    let emails = ensure_agents(&base, &admin, cfg.agents).await?;
    let shared = Arc::new(Shared::default());
    let done = Arc::new(tokio::sync::Notify::new());
    let mut agents = Vec::new();
    for email in emails {
        agents.push(tokio::spawn(agent(
            base.clone(),
            api.clone(),
            email,
            shared.clone(),
            cfg.hold,
            done.clone(),
        )));
    }
    // Every agent available before the first customer.
    let ready = Instant::now();
    while shared.available.load(Ordering::SeqCst) < cfg.agents as i64 {
        if ready.elapsed() > Duration::from_secs(30) {
            bail!(
                "only {} of {} agents became available",
                shared.available.load(Ordering::SeqCst),
                cfg.agents
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let start = Instant::now();
    let gap = Duration::from_secs_f64(1.0 / cfg.arrival_per_sec.max(0.01));
    let mut customers = Vec::new();
    for i in 0..cfg.customers {
        tokio::time::sleep_until((start + gap * i as u32).into()).await;
        let (api, shared) = (api.clone(), shared.clone());
        customers.push(tokio::spawn(async move {
            if let Err(e) = customer(api, shared.clone()).await {
                shared.error(format!("customer: {e:#}"));
            }
        }));
    }
    let all = futures_util::future::join_all(customers);
    if tokio::time::timeout(cfg.timeout, all).await.is_err() {
        shared.error("some customers were still waiting at the timeout");
    }
    // Let the last calls end, then stop the agents.
    let settle = Instant::now();
    while shared.ended.load(Ordering::Relaxed) < shared.connected.load(Ordering::Relaxed)
        && settle.elapsed() < cfg.hold + Duration::from_secs(10)
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    done.notify_waiters();
    for a in agents {
        match tokio::time::timeout(Duration::from_secs(5), a).await {
            Ok(Ok(Err(e))) => shared.error(format!("agent: {e:#}")),
            Ok(_) => {}
            Err(_) => {}
        }
    }
    let take = |m: &Mutex<Vec<f64>>| std::mem::take(&mut *m.lock().unwrap());
    let errors = shared.errors.lock().unwrap().clone();
    Ok(QueueReport {
        customers: cfg.customers,
        agents: cfg.agents,
        arrival_per_sec: cfg.arrival_per_sec,
        hold_ms: cfg.hold.as_millis() as u64,
        enter_to_offer_free: Percentiles::of(take(&shared.to_offer_free)),
        enter_to_offer_waited: Percentiles::of(take(&shared.to_offer_waited)),
        enter_to_connected: Percentiles::of(take(&shared.to_connected)),
        offered: shared.offered.load(Ordering::Relaxed) as usize,
        connected: shared.connected.load(Ordering::Relaxed) as usize,
        calls_ended: shared.ended.load(Ordering::Relaxed) as usize,
        errors,
        longest_queue: shared.longest.load(Ordering::SeqCst),
        wall_secs: start.elapsed().as_secs_f64(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let p = Percentiles::of((1..=100).map(f64::from).collect());
        assert_eq!(
            (p.count, p.p50_ms, p.p95_ms, p.p99_ms, p.max_ms),
            (100, 50.0, 95.0, 99.0, 100.0)
        );
        assert_eq!(Percentiles::of(vec![]).count, 0);
        assert_eq!(Percentiles::of(vec![7.0]).p99_ms, 7.0);
    }
}
