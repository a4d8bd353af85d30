//! Server-side recording, black-box: real WebRTC peers (webrtc-rs) send real VP8 and Opus
//! (encoded by ffmpeg) through the SFU; the recording is fetched through its signed URL and
//! checked with ffprobe / ffmpeg (Debian's).

mod common;

use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use vkyc_loadtest::media::{load_or_generate, MediaProfile, MediaSamples};
use vkyc_loadtest::{SimPeer, SimPeerOptions};

fn samples() -> Arc<MediaSamples> {
    let profile = MediaProfile {
        width: 320,
        height: 240,
        fps: 30,
        video_kbps: 300,
        audio_kbps: 32,
        clip_secs: 10,
    };
    Arc::new(
        load_or_generate(&vkyc_loadtest::media::default_cache_dir(), &profile)
            .expect("media clips (needs ffmpeg)"),
    )
}

/// A publisher like a browser's encoder: paced frames with continuous RTP time; on a
/// keyframe request it jumps to the clip's next keyframe.
struct Publisher {
    stop: Arc<AtomicBool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Publisher {
    fn start(peer: Arc<SimPeer>, media: Arc<MediaSamples>) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let is_key = |f: &vkyc_loadtest::media::VideoFrame| {
            f.payloads
                .first()
                .is_some_and(|p| p.len() > 1 && p[1] & 1 == 0)
        };
        let keys: Vec<usize> = media
            .video
            .iter()
            .enumerate()
            .filter(|(_, f)| is_key(f))
            .map(|(i, _)| i)
            .collect();
        let (p, m, s) = (peer.clone(), media.clone(), stop.clone());
        let video = tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_micros(33_333)); // 3000 ticks at 90 kHz
            let (mut ts, mut seq, mut i) = (rand::random::<u32>(), rand::random::<u16>(), 0usize);
            let mut asked = p.keyframe_requests.load(Ordering::Relaxed);
            while !s.load(Ordering::Relaxed) {
                tick.tick().await;
                let now_asked = p.keyframe_requests.load(Ordering::Relaxed);
                if now_asked != asked {
                    asked = now_asked;
                    i = keys
                        .iter()
                        .copied()
                        .find(|k| *k > i % m.video.len())
                        .unwrap_or(0);
                }
                let frame = &m.video[i % m.video.len()];
                let mut sent = true;
                for (n, payload) in frame.payloads.iter().enumerate() {
                    seq = seq.wrapping_add(1);
                    sent &= p
                        .write_packet(
                            "video",
                            seq,
                            payload.clone(),
                            n + 1 == frame.payloads.len(),
                            ts,
                        )
                        .await
                        .is_ok();
                }
                ts = ts.wrapping_add(3000);
                // Like a real encoder, the first frame that goes out is a keyframe: until the
                // track is negotiated the clip does not advance.
                if sent {
                    i += 1;
                }
            }
        });
        let (p, m, s) = (peer, media, stop.clone());
        let audio = tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(20));
            let (mut ts, mut seq, mut i) = (rand::random::<u32>(), rand::random::<u16>(), 0usize);
            while !s.load(Ordering::Relaxed) {
                tick.tick().await;
                seq = seq.wrapping_add(1);
                let _ = p
                    .write_packet("audio", seq, m.audio[i % m.audio.len()].clone(), true, ts)
                    .await;
                ts = ts.wrapping_add(960);
                i += 1;
            }
        });
        Self {
            stop,
            tasks: vec![video, audio],
        }
    }

    async fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.tasks {
            let _ = t.await;
        }
    }
}

async fn join(app: &common::TestApp, sid: &str, role: &str) -> Arc<SimPeer> {
    let t = app.api.token(sid, role).await.unwrap();
    Arc::new(
        SimPeer::join(&app.ws_url(), &t.token, SimPeerOptions::default())
            .await
            .unwrap(),
    )
}

/// Waits until `rx` has received video and audio from `tx` through the SFU.
async fn flowing(rx: &SimPeer, tx: &SimPeer) {
    common::poll_until("media flows through the SFU", 20, move || async move {
        let r = rx.received.lock().unwrap();
        (r.count(&tx.peer_id, "video") > 0 && r.count(&tx.peer_id, "audio") > 0).then_some(())
    })
    .await;
}

async fn recordings(app: &common::TestApp, sid: &str) -> Vec<Value> {
    let v = app
        .api
        .get(&format!("/v1/sessions/{sid}/recordings"))
        .await
        .unwrap();
    v["recordings"].as_array().unwrap().clone()
}

async fn end_call(app: &common::TestApp, sid: &str) {
    let r = app
        .http
        .post(format!("{}/v1/rooms/{sid}/end", app.base))
        .bearer_auth(common::API_KEY)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "end: {}", r.status());
}

async fn download(app: &common::TestApp, rec_id: &str) -> (String, Vec<u8>) {
    let u = app
        .api
        .get(&format!("/v1/recordings/{rec_id}/url"))
        .await
        .unwrap();
    let path = u["path"].as_str().unwrap().to_string();
    let r = app
        .http
        .get(format!("{}{path}", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "video/webm");
    assert_eq!(r.headers()["accept-ranges"], "bytes");
    (path, r.bytes().await.unwrap().to_vec())
}

fn ffprobe(file: &std::path::Path) -> Value {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "stream=index,codec_type,codec_name,start_time:stream_tags:format=duration:format_tags",
            "-of",
            "json",
        ])
        .arg(file)
        .output()
        .expect("ffprobe (Debian ffmpeg) is installed");
    assert!(
        out.status.success(),
        "ffprobe failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Presentation times (s) of one stream's packets (`select`: an ffprobe stream specifier).
fn packet_times(file: &std::path::Path, select: &str) -> Vec<f64> {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-select_streams",
            select,
            "-show_entries",
            "packet=pts_time",
            "-of",
            "csv=p=0",
        ])
        .arg(file)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

/// What `ffmpeg -v error` says decoding the whole file, in the streams' own time base
/// (`-enc_time_base -1`: the file's 1 ms timestamps). With ffmpeg's default 1/30 s output
/// time base two video frames less than 33 ms apart (a publisher's capture jitter, or frames
/// timed by arrival before the first sender report on a busy host) collide when rounded, and
/// the null muxer logs "non monotonically increasing dts" for a file that has none (as
/// seen in CI). The file's own order is checked directly: every stream's timestamps increase
/// strictly (a real duplicate or backwards timestamp still fails here and in ffmpeg).
fn decode_errors(file: &std::path::Path) -> String {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(file)
        .args(["-enc_time_base", "-1", "-f", "null", "-"])
        .output()
        .unwrap();
    let mut errors = String::from_utf8_lossy(&out.stderr).to_string();
    for stream in 0..4 {
        let times = packet_times(file, &stream.to_string());
        if let Some(w) = times.windows(2).find(|w| w[1] <= w[0]) {
            errors.push_str(&format!(
                "stream {stream}: timestamp {} after {}\n",
                w[1], w[0]
            ));
        }
    }
    errors
}

fn tmp_file(bytes: &[u8]) -> tempfile::NamedTempFile {
    let f = tempfile::Builder::new().suffix(".webm").tempfile().unwrap();
    std::fs::write(f.path(), bytes).unwrap();
    f
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_is_recorded_live_and_ready_the_moment_it_ends() {
    let app = common::spawn_app().await;
    let media = samples();
    let sid = app.api.create_session("Recorded Person").await.unwrap();
    let before_call = Instant::now();
    let agent = join(&app, &sid, "agent").await;
    let customer = join(&app, &sid, "customer").await;
    // Tokens for the access checks after the call (none are issued once it has ended).
    let cust = app.api.token(&sid, "customer").await.unwrap();
    let auditor = app.api.token(&sid, "observer").await.unwrap();
    let pubs = [
        Publisher::start(agent.clone(), media.clone()),
        Publisher::start(customer.clone(), media.clone()),
    ];
    flowing(&agent, &customer).await;
    flowing(&customer, &agent).await;
    let media_flowing = Instant::now();
    let live = recordings(&app, &sid).await;
    assert_eq!(live.len(), 1, "one recording, started with the call");
    assert_eq!(live[0]["status"], "recording");
    let rec_id = live[0]["id"].as_str().unwrap().to_string();
    // A recording in progress has no download link yet.
    let r = app
        .http
        .get(format!("{}/v1/recordings/{rec_id}/url", app.base))
        .bearer_auth(common::API_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409);

    tokio::time::sleep(Duration::from_secs(8)).await;
    let end_at = Instant::now();
    end_call(&app, &sid).await;
    // The recording spans at least the media's flow until the end was asked for, and at most
    // the call's whole life (first join → end answered): bounds that hold however slowly
    // this host joins and finalizes.
    let (flowed_secs, call_secs) = (
        (end_at - media_flowing).as_secs_f64(),
        before_call.elapsed().as_secs_f64(),
    );
    // The end call returns once the recording is finalized: it is ready when the call ends.
    let recs = recordings(&app, &sid).await;
    println!(
        "recording ready {:?} after the end request (finalize {} ms)",
        end_at.elapsed(),
        recs[0]["finalize_ms"]
    );
    assert_eq!(recs.len(), 1);
    assert_eq!(recs[0]["status"], "ready", "{}", recs[0]);
    for p in pubs {
        p.stop().await;
    }
    let rec = &recs[0];
    let tracks = rec["tracks"].as_array().unwrap();
    assert_eq!(
        tracks.len(),
        4,
        "agent and customer, audio and video: {rec}"
    );
    for t in tracks {
        assert!(t["frames"].as_u64().unwrap() > 100, "{t}");
        assert_eq!(t["lost_packets"], 0, "{t}");
    }

    let (path, bytes) = download(&app, &rec_id).await;
    assert_eq!(bytes.len() as u64, rec["bytes"].as_u64().unwrap());
    let file = tmp_file(&bytes);
    if let Some(keep) = std::env::var_os("KEEP_RECORDING_AT") {
        std::fs::write(keep, &bytes).unwrap();
    }
    let probe = ffprobe(file.path());
    let streams = probe["streams"].as_array().unwrap();
    let kinds: Vec<(String, String)> = streams
        .iter()
        .map(|s| {
            (
                s["codec_type"].as_str().unwrap().into(),
                s["codec_name"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        kinds
            .iter()
            .filter(|k| *k == &("video".into(), "vp8".into()))
            .count(),
        2,
        "{probe}"
    );
    assert_eq!(
        kinds
            .iter()
            .filter(|k| *k == &("audio".into(), "opus".into()))
            .count(),
        2,
        "{probe}"
    );
    let duration: f64 = probe["format"]["duration"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    println!("call {call_secs:.2} s (join → end), media flowing {flowed_secs:.2} s, recording {duration:.2} s");
    assert!(
        (duration - rec["duration_ms"].as_f64().unwrap() / 1000.0).abs() < 0.5,
        "{probe}"
    );
    assert!(
        duration > flowed_secs - 0.5 && duration < call_secs + 0.5,
        "duration {duration} vs media {flowed_secs}, call {call_secs}"
    );
    // Each participant's audio and video start together (sender-report sync).
    for who in ["agent", "customer"] {
        let start = |kind: &str| -> f64 {
            let s = streams
                .iter()
                .find(|s| {
                    s["codec_type"] == kind
                        && s["tags"]["title"]
                            .as_str()
                            .unwrap_or_default()
                            .starts_with(who)
                })
                .unwrap_or_else(|| panic!("{who} {kind} in {probe}"));
            s["start_time"].as_str().unwrap().parse().unwrap()
        };
        let (a, v) = (start("audio"), start("video"));
        println!("{who}: audio starts at {a:.3} s, video at {v:.3} s");
        // This publisher's audio and video tracks go live at slightly different moments of
        // its negotiation (tens of ms, more on a busy host), so the bound here is loose; the
        // browser test (tests/browser/recording.test.mjs) holds real encoders to 100 ms.
        assert!((a - v).abs() < 0.3, "{who}: audio {a} vs video {v}");
    }
    let tags = &probe["format"]["tags"];
    assert_eq!(tags["SESSION_ID"], sid.as_str(), "{probe}");
    assert!(tags["title"].as_str().unwrap().contains(&sid));
    assert!(
        tags["creation_time"].is_string(),
        "DateUTC of the call's start: {probe}"
    );
    let errors = decode_errors(file.path());
    assert!(errors.is_empty(), "ffmpeg decode errors: {errors}");

    // Range requests (what a <video> element seeks with).
    let r = app
        .http
        .get(format!("{}{path}", app.base))
        .header("Range", "bytes=1000-1999")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 206);
    assert_eq!(
        r.headers()["content-range"],
        format!("bytes 1000-1999/{}", bytes.len()).as_str()
    );
    assert_eq!(r.bytes().await.unwrap().as_ref(), &bytes[1000..2000]);
    let r = app
        .http
        .get(format!("{}{path}", app.base))
        .header("Range", format!("bytes={}-", bytes.len()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 416);

    // Tampered or missing signatures, and the wrong callers.
    let code = |v: Value| v["error"]["code"].as_str().unwrap_or_default().to_string();
    let tampered = path.replace("expires=", "expires=9");
    let r = app
        .http
        .get(format!("{}{tampered}", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(code(r.json().await.unwrap()), "signed_url_invalid");
    let bare = path.split('?').next().unwrap();
    let r = app
        .http
        .get(format!("{}{bare}", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let other = app.api.create_session("Someone Else").await.unwrap();
    let other_agent = app.api.token(&other, "agent").await.unwrap();
    let r = app
        .http
        .get(format!("{}/v1/recordings/{rec_id}/url", app.base))
        .bearer_auth(&other_agent.token)
        .send()
        .await
        .unwrap();
    // Another session's token is told what an unknown id is told.
    assert_eq!(r.status(), 404);
    assert_eq!(code(r.json().await.unwrap()), "recording_not_found");
    let r = app
        .http
        .get(format!("{}/v1/recordings/{rec_id}/url", app.base))
        .bearer_auth(&cust.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = app
        .http
        .get(format!("{}/v1/recordings/{rec_id}", app.base))
        .bearer_auth(&auditor.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let meta: Value = r.json().await.unwrap();
    let roles: Vec<&str> = meta["participants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, vec!["agent", "customer"]);

    // Encrypted at rest: no WebM bytes in the blob directory.
    let mut found = vec![];
    for entry in walk(&app.data_dir.path().join("blobs/recordings")) {
        found.push(entry.clone());
        let raw = std::fs::read(&entry).unwrap();
        assert!(
            !raw.windows(4).any(|w| w == [0x1A, 0x45, 0xDF, 0xA3]),
            "EBML header in plaintext on disk"
        );
        assert!(
            !raw.windows(6).any(|w| w == b"V_VP8\0" || w == b"A_OPUS"),
            "codec ids in plaintext on disk"
        );
    }
    assert_eq!(found.len(), 1, "one file: {found:?}");
    // The events describe the lifecycle.
    let events = app.api.get("/v1/events?limit=1000").await.unwrap();
    let kinds: Vec<&str> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| {
            e["session_id"] == sid.as_str() && e["type"].as_str().unwrap().starts_with("recording.")
        })
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, vec!["recording.started", "recording.succeeded"]);
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = vec![];
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_participant_who_drops_and_rejoins_stays_in_the_same_file() {
    let app = common::spawn_app().await;
    let media = samples();
    let sid = app.api.create_session("Rejoining Person").await.unwrap();
    let agent = join(&app, &sid, "agent").await;
    let customer = join(&app, &sid, "customer").await;
    let a = Publisher::start(agent.clone(), media.clone());
    let c = Publisher::start(customer.clone(), media.clone());
    flowing(&agent, &customer).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    // The customer's connection drops; they come back on a new one with a new link.
    c.stop().await;
    customer.close().await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let again = join(&app, &sid, "customer").await;
    let c2 = Publisher::start(again.clone(), media.clone());
    flowing(&agent, &again).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    end_call(&app, &sid).await;
    a.stop().await;
    c2.stop().await;

    let recs = recordings(&app, &sid).await;
    assert_eq!(recs.len(), 1, "no second recording: {recs:?}");
    assert_eq!(recs[0]["status"], "ready");
    let tracks = recs[0]["tracks"].as_array().unwrap();
    assert_eq!(
        tracks.len(),
        4,
        "the rejoin continues the customer's tracks: {tracks:?}"
    );
    let rec_id = recs[0]["id"].as_str().unwrap();
    let (_, bytes) = download(&app, rec_id).await;
    let file = tmp_file(&bytes);
    let probe = ffprobe(file.path());
    assert_eq!(probe["streams"].as_array().unwrap().len(), 4, "{probe}");
    let errors = decode_errors(file.path());
    assert!(errors.is_empty(), "ffmpeg decode errors: {errors}");
    // The customer's video has frames from both connections: before and after the gap.
    let customer_video = tracks
        .iter()
        .find(|t| t["role"] == "customer" && t["kind"] == "video")
        .unwrap()["number"]
        .as_u64()
        .unwrap();
    let times = packet_times(file.path(), &(customer_video - 1).to_string());
    let gap = times.windows(2).map(|w| w[1] - w[0]).fold(0.0, f64::max);
    println!(
        "customer video: {} frames, longest gap {gap:.2} s (the rejoin)",
        times.len()
    );
    assert!(gap > 0.8, "the drop shows as a gap in one track: {gap}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_links_expire_and_sessions_can_opt_out() {
    let app = common::spawn_app_with(|f| f.merge(("recording.url_ttl_secs", 1))).await;
    let media = samples();
    let sid = app.api.create_session("Short Call").await.unwrap();
    let agent = join(&app, &sid, "agent").await;
    let p = Publisher::start(agent.clone(), media.clone());
    tokio::time::sleep(Duration::from_secs(2)).await;
    end_call(&app, &sid).await;
    p.stop().await;
    let recs = recordings(&app, &sid).await;
    assert_eq!(recs[0]["status"], "ready");
    let rec_id = recs[0]["id"].as_str().unwrap();
    let u = app
        .api
        .get(&format!("/v1/recordings/{rec_id}/url"))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let r = app
        .http
        .get(format!("{}{}", app.base, u["path"].as_str().unwrap()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "signed_url_expired");

    // A session created with record: false has no recording.
    let created = app
        .http
        .post(format!("{}/v1/sessions", app.base))
        .bearer_auth(common::API_KEY)
        .json(&json!({"mode": "live_agent", "applicant": {"name": "Unrecorded"}, "record": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let sid2 = created.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let agent2 = join(&app, &sid2, "agent").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    end_call(&app, &sid2).await;
    drop(agent2);
    assert!(recordings(&app, &sid2).await.is_empty());
    let r = app
        .http
        .get(format!(
            "{}/v1/recordings/{}",
            app.base,
            uuid::Uuid::new_v4()
        ))
        .bearer_auth(common::API_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}

/// The real binary on a data dir, printing its URL (as in tests/restart.rs).
fn start_binary(dir: &std::path::Path) -> (std::process::Child, String) {
    use std::io::{BufRead, BufReader};
    let mut child = Command::new(env!("CARGO_BIN_EXE_vkyc"))
        .env("VKYC_PROFILE", "test")
        .env("VKYC_STORAGE__DATA_DIR", dir)
        .env("VKYC_AUTH__API_KEY", common::API_KEY)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("binary starts");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().expect("a line").unwrap();
    std::thread::spawn(move || for _ in lines {});
    (
        child,
        first
            .strip_prefix("vkyc listening on ")
            .expect("listening line")
            .trim()
            .to_string(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_killed_mid_call_leaves_a_playable_file_marked_failed() {
    let dir = tempfile::tempdir().unwrap();
    let (mut server, url) = start_binary(dir.path());
    let api = vkyc_loadtest::ApiClient::new(&url, common::API_KEY);
    let sid = api.create_session("Interrupted Call").await.unwrap();
    let ws = api.ws_url();
    let media = samples();
    let mut peers = vec![];
    let mut pubs = vec![];
    for role in ["agent", "customer"] {
        let t = api.token(&sid, role).await.unwrap();
        let p = Arc::new(
            SimPeer::join(&ws, &t.token, SimPeerOptions::default())
                .await
                .unwrap(),
        );
        pubs.push(Publisher::start(p.clone(), media.clone()));
        peers.push(p);
    }
    flowing(&peers[0], &peers[1]).await;
    tokio::time::sleep(Duration::from_secs(7)).await;
    server.kill().unwrap(); // SIGKILL: no finalizing
    server.wait().unwrap();
    for p in pubs {
        p.stop().await;
    }

    let (mut again, url) = start_binary(dir.path());
    let api = vkyc_loadtest::ApiClient::new(&url, common::API_KEY);
    let recs = api
        .get(&format!("/v1/sessions/{sid}/recordings"))
        .await
        .unwrap();
    let rec = recs["recordings"][0].clone();
    assert_eq!(rec["status"], "failed", "{rec}");
    assert_eq!(rec["failure_reason"], "server_stopped_during_call");
    let u = api
        .get(&format!(
            "/v1/recordings/{}/url",
            rec["id"].as_str().unwrap()
        ))
        .await
        .unwrap();
    let bytes = reqwest::get(format!("{url}{}", u["path"].as_str().unwrap()))
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    again.kill().unwrap();
    again.wait().unwrap();
    let file = tmp_file(&bytes);
    let probe = ffprobe(file.path());
    let streams = probe["streams"].as_array().unwrap();
    assert_eq!(streams.len(), 4, "every track of the partial file: {probe}");
    let errors = decode_errors(file.path());
    assert!(
        errors.is_empty(),
        "the partial file decodes cleanly: {errors}"
    );
    // What was written up to about a second before the kill plays.
    let last = packet_times(file.path(), "a:0")
        .into_iter()
        .fold(0.0, f64::max);
    println!(
        "partial recording: {} bytes, audio up to {last:.2} s of a ~7.5 s call",
        bytes.len()
    );
    // At most the last flush interval (1 s), the output delay (0.7 s) and a step are lost.
    assert!(
        last > 4.5,
        "the call up to shortly before the kill survived: {last} s"
    );

    // The erasure path deletes the recording's file with the rest of the personal data, and
    // destroys the session's data key: a copy of the file made before no longer opens.
    let recordings_dir = dir.path().join("blobs/recordings");
    assert_eq!(walk(&recordings_dir).len(), 1);
    let file = walk(&recordings_dir).remove(0);
    let copy = std::fs::read(&file).unwrap();
    let data_key = dir
        .path()
        .join("blobs/keys")
        .join(format!("{}.json", sid.replace('-', "")));
    assert!(data_key.exists(), "the session has its own data key");
    let out = Command::new(env!("CARGO_BIN_EXE_vkyc"))
        .args(["erase", "--session", &sid])
        .env("VKYC_PROFILE", "test")
        .env("VKYC_STORAGE__DATA_DIR", dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        walk(&recordings_dir).is_empty(),
        "the recording's file is erased"
    );
    assert!(!data_key.exists(), "the data key is destroyed");
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::write(&file, &copy).unwrap();
    let config = vkyc::config::Config::extract(
        vkyc::config::Config::figment("test", None)
            .unwrap()
            .merge(("storage.data_dir", dir.path())),
    )
    .unwrap();
    let blobs = vkyc::store::open_blobs(&config).unwrap();
    let key = file
        .strip_prefix(dir.path().join("blobs"))
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    use vkyc_blob::BlobStore;
    assert!(
        !matches!(blobs.open_stream(&key), Ok(Some(_))),
        "a copy of a shredded session's file does not open"
    );
}
