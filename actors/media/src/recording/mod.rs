//! `RecordingActor`: one per room, supervised by it, writing the call to one WebM file live.
//!
//! ```text
//! PublishedTrack::forward ──RTP──┐            (sfu.rs: a copy of each forwarded packet)
//! RTCP reader (sender reports) ──┤  bounded channel (full → counted as recorder drops)
//! RoomActor: TrackAdded ─────────┤
//!                                ▼
//!                    writer thread: Timeline (jitter buffer, frames, clock sync, order)
//!                                 → WebmMuxer → blob stream (encrypted chunks)
//! RecordingActor: start (recording.started), Stop → finalize → recording.succeeded / failed
//! ```
//!
//! Media does not go through the actor's mailbox: the actor owns the lifecycle (states
//! `starting → recording → finalizing → ready | failed`, each an event), the writer task owns
//! the file. Tracks are keyed by (participant, kind), so a participant who drops and rejoins
//! continues in the same WebM track of the same file.

pub mod timeline;
pub mod webm;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use chrono::{DateTime, Utc};
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use serde::Deserialize;
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;
use webrtc::rtp::packet::Packet;

use self::timeline::{Timeline, TimelineConfig, TrackId};
use self::webm::{vp8_keyframe_size, ContainerMeta, TrackCodec, TrackSpec, WebmMuxer};
use crate::sfu::PublishedTrack;
use vkyc_blob::{BlobStore, StreamWriter};
use vkyc_domain::events::{data, emit, DomainEvent, EventSink};
use vkyc_domain::recording::Container;
pub use vkyc_domain::recording::{RecordedTrack, RecordingSummary};
use vkyc_domain::{MediaKind, Role, SessionId};

/// The `[recording]` table of the server's config.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RecordingConfig {
    /// Record calls unless a session says otherwise.
    pub enabled: bool,
    /// Ask for a video keyframe when a track has gone this long without one (seeking in the
    /// recording lands on keyframes). 0 = only when starting or after a loss.
    pub keyframe_interval_secs: u64,
    /// Packets queued between the SFU and the recorder before the recorder drops them.
    pub queue_packets: usize,
    pub jitter_ms: u64,
    pub sender_report_wait_ms: u64,
    pub output_delay_ms: u64,
    /// How long a signed download URL stays valid (used by the server's API).
    pub url_ttl_secs: u64,
}

impl Default for RecordingConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            keyframe_interval_secs: 10,
            queue_packets: 8192,
            jitter_ms: 300,
            sender_report_wait_ms: 4000,
            output_delay_ms: 700,
            url_ttl_secs: 3600,
        }
    }
}

/// What a room needs to record.
#[derive(Clone)]
pub struct RecordingSettings {
    pub blobs: Arc<dyn BlobStore>,
    pub config: RecordingConfig,
}

enum MediaIn {
    Track {
        id: TrackId,
        meta: TrackMeta,
    },
    Rtp {
        id: TrackId,
        packet: Packet,
        arrival_unix_ms: f64,
    },
    SenderReport {
        id: TrackId,
        ntp: u64,
        rtp_time: u32,
    },
    /// Wakes the writer when no media arrives (silence, everyone muted).
    Tick,
    Finish(oneshot::Sender<Result<RecordingSummary, String>>),
}

struct TrackMeta {
    kind: MediaKind,
    role: Role,
    participant_id: String,
    publisher: u128,
    clock_rate: u32,
    track: Weak<PublishedTrack>,
}

/// The SFU's handle on a room's recorder: cheap to clone, never blocks.
#[derive(Clone)]
pub struct RecordTap {
    tx: mpsc::Sender<MediaIn>,
    next_id: Arc<AtomicU64>,
}

/// One published track's place in the recording.
#[derive(Clone)]
pub struct TrackTap {
    tap: RecordTap,
    id: TrackId,
}

impl RecordTap {
    /// Registers a track and returns what its forwarding loop feeds.
    pub fn add_track(
        &self,
        track: &Arc<PublishedTrack>,
        role: Role,
        participant_id: &str,
        clock_rate: u32,
    ) -> TrackTap {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        let meta = TrackMeta {
            kind: track.kind,
            role,
            participant_id: participant_id.to_string(),
            publisher: track.publisher.as_u128(),
            clock_rate,
            track: Arc::downgrade(track),
        };
        // Queued ahead of the track's first packet; a full queue waits rather than dropping it.
        if let Err(mpsc::error::TrySendError::Full(msg)) =
            self.tx.try_send(MediaIn::Track { id, meta })
        {
            let tx = self.tx.clone();
            tokio::spawn(async move {
                let _ = tx.send(msg).await;
            });
        }
        TrackTap {
            tap: self.clone(),
            id,
        }
    }
}

impl TrackTap {
    pub fn rtp(&self, packet: &Packet) {
        metrics::counter!("vkyc_recording_packets_total").increment(1);
        let arrival_unix_ms = unix_ms_now();
        let msg = MediaIn::Rtp {
            id: self.id,
            packet: packet.clone(),
            arrival_unix_ms,
        };
        if self.tap.tx.try_send(msg).is_err() {
            metrics::counter!("vkyc_recording_dropped_packets_total").increment(1);
        }
    }

    pub fn sender_report(&self, ntp: u64, rtp_time: u32) {
        let _ = self.tap.tx.try_send(MediaIn::SenderReport {
            id: self.id,
            ntp,
            rtp_time,
        });
    }
}

fn unix_ms_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64() * 1000.0)
        .unwrap_or(0.0)
}

pub enum RecordingMsg {
    /// Finalize the file (the room is ending); replies once it is ready or failed.
    Stop {
        reason: String,
        reply: Option<RpcReplyPort<Result<RecordingSummary, String>>>,
    },
}

pub struct RecordingArgs {
    pub recording_id: Uuid,
    pub session_id: SessionId,
    pub events: Arc<dyn EventSink>,
    pub settings: RecordingSettings,
    /// The actor puts its tap here for the room (set before `pre_start` returns).
    pub tap_slot: oneshot::Sender<RecordTap>,
}

pub struct RecordingState {
    recording_id: Uuid,
    session_id: SessionId,
    events: Arc<dyn EventSink>,
    tx: mpsc::Sender<MediaIn>,
    task: Option<std::thread::JoinHandle<()>>,
    finished: bool,
}

pub fn blob_key(session_id: SessionId, recording_id: Uuid) -> String {
    format!(
        "recordings/{}/{}.webm",
        session_id.simple(),
        recording_id.simple()
    )
}

pub struct RecordingActor;

impl Actor for RecordingActor {
    type Msg = RecordingMsg;
    type State = RecordingState;
    type Arguments = RecordingArgs;

    async fn pre_start(
        &self,
        _me: ActorRef<RecordingMsg>,
        args: RecordingArgs,
    ) -> Result<RecordingState, ActorProcessingErr> {
        let key = blob_key(args.session_id, args.recording_id);
        let started_at = Utc::now();
        let start = |sink: Box<dyn StreamWriter>| {
            let meta = ContainerMeta {
                title: format!("vkyc call {}", args.session_id),
                start_unix_ms: started_at.timestamp_millis(),
                tags: vec![
                    ("SESSION_ID".into(), args.session_id.to_string()),
                    ("RECORDING_ID".into(), args.recording_id.to_string()),
                    (
                        "DATE_RECORDED".into(),
                        started_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                    ),
                    (
                        "ENCODER".into(),
                        "vkyc SFU recorder (no re-encoding)".into(),
                    ),
                ],
            };
            WebmMuxer::new(sink, &meta).map_err(|e| e.to_string())
        };
        let muxer = args
            .settings
            .blobs
            .create_stream(&key)
            .map_err(|e| e.to_string())
            .and_then(start);
        let muxer = match muxer {
            Ok(m) => m,
            Err(error) => {
                let failed = data::RecordingFailed {
                    recording_id: args.recording_id,
                    reason: "storage_unavailable".into(),
                    bytes: None,
                };
                let ev = DomainEvent::new(Some(args.session_id), failed);
                emit(&*args.events, ev).await;
                return Err(format!("recording could not start: {error}").into());
            }
        };
        let (tx, rx) = mpsc::channel(args.settings.config.queue_packets.max(64));
        let tap = RecordTap {
            tx: tx.clone(),
            next_id: Arc::new(AtomicU64::new(0)),
        };
        let writer = Writer::new(
            muxer,
            args.settings.config.clone(),
            started_at,
            tokio::runtime::Handle::current(),
        );
        let thread = std::thread::Builder::new()
            .name("vkyc-recorder".into())
            .spawn(move || writer.run(rx))
            .map_err(|e| format!("recorder thread: {e}"))?;
        let ticker = tx.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(STEP);
            loop {
                tick.tick().await;
                match ticker.try_send(MediaIn::Tick) {
                    Err(mpsc::error::TrySendError::Closed(_)) => break,
                    _ => continue,
                }
            }
        });
        let task = Some(thread);
        let _ = args.tap_slot.send(tap);
        let started = data::RecordingStarted {
            recording_id: args.recording_id,
            blob_key: key,
            key_id: args.settings.blobs.key_id(),
            container: Container::Webm,
            started_at,
        };
        let ev = DomainEvent::new(Some(args.session_id), started);
        emit(&*args.events, ev).await;
        Ok(RecordingState {
            recording_id: args.recording_id,
            session_id: args.session_id,
            events: args.events,
            tx,
            task,
            finished: false,
        })
    }

    async fn handle(
        &self,
        me: ActorRef<RecordingMsg>,
        msg: RecordingMsg,
        state: &mut RecordingState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            RecordingMsg::Stop { reason, reply } => {
                let result = finalize(state, &reason).await;
                if let Some(reply) = reply {
                    let _ = reply.send(result);
                }
                me.stop(Some("finalized".into()));
            }
        }
        Ok(())
    }

    async fn post_stop(
        &self,
        _me: ActorRef<RecordingMsg>,
        state: &mut RecordingState,
    ) -> Result<(), ActorProcessingErr> {
        // Stopped without a Stop message (the room failed): still finish the file.
        if !state.finished {
            let _ = finalize(state, "room_stopped").await;
        }
        Ok(())
    }
}

async fn finalize(state: &mut RecordingState, reason: &str) -> Result<RecordingSummary, String> {
    if state.finished {
        return Err("already finalized".into());
    }
    state.finished = true;
    let (tx, rx) = oneshot::channel();
    let result = match state.tx.send(MediaIn::Finish(tx)).await {
        Ok(()) => match tokio::time::timeout(Duration::from_secs(30), rx).await {
            Ok(Ok(r)) => r,
            Ok(Err(_)) => Err("recorder_crashed".to_string()),
            Err(_) => Err("finalize_timeout".to_string()),
        },
        Err(_) => Err("recorder_crashed".to_string()),
    };
    // The writer thread ends right after answering `Finish`.
    drop(state.task.take());
    let ev = match &result {
        Ok(s) => {
            let succeeded = data::RecordingSucceeded {
                recording_id: state.recording_id,
                reason: reason.to_string(),
                summary: s.clone(),
            };
            DomainEvent::new(Some(state.session_id), succeeded)
        }
        Err(e) => {
            tracing::error!(session = %state.session_id, error = %e, "recording failed");
            let failed = data::RecordingFailed {
                recording_id: state.recording_id,
                reason: e.clone(),
                bytes: None,
            };
            DomainEvent::new(Some(state.session_id), failed)
        }
    };
    emit(&*state.events, ev).await;
    result
}

/// The writer task's state: the timeline, the muxer, and which WebM track each RTP track
/// feeds.
struct Writer {
    timeline: Timeline,
    muxer: Option<WebmMuxer<Box<dyn StreamWriter>>>,
    config: RecordingConfig,
    epoch_unix_ms: f64,
    tracks: HashMap<TrackId, TrackMeta>,
    /// (participant, kind) → WebM track number, so a rejoin continues the same track.
    webm_tracks: HashMap<(String, MediaKind), u64>,
    webm_info: Vec<RecordedTrack>,
    last_keyframe_ms: HashMap<u64, i64>,
    last_ask_ms: HashMap<TrackId, f64>,
    packets: u64,
    /// For the async work the writer thread starts (keyframe requests).
    runtime: tokio::runtime::Handle,
}

/// How often the writer moves media along (and at most how long a frame waits past its
/// output delay).
const STEP: Duration = Duration::from_millis(100);

impl Writer {
    fn new(
        muxer: WebmMuxer<Box<dyn StreamWriter>>,
        config: RecordingConfig,
        started_at: DateTime<Utc>,
        runtime: tokio::runtime::Handle,
    ) -> Self {
        let epoch_unix_ms = started_at.timestamp_millis() as f64;
        let tl = TimelineConfig {
            jitter_ms: config.jitter_ms as f64,
            sr_wait_ms: config.sender_report_wait_ms as f64,
            output_delay_ms: config.output_delay_ms as f64,
            keyframe_retry_ms: 500.0,
        };
        Self {
            timeline: Timeline::new(tl, epoch_unix_ms),
            muxer: Some(muxer),
            config,
            epoch_unix_ms,
            tracks: HashMap::new(),
            webm_tracks: HashMap::new(),
            webm_info: vec![],
            last_keyframe_ms: HashMap::new(),
            last_ask_ms: HashMap::new(),
            packets: 0,
            runtime,
        }
    }

    fn now(&self) -> f64 {
        unix_ms_now() - self.epoch_unix_ms
    }

    /// The writer's loop, on its own thread: muxing, encryption and the once-a-second fsync
    /// never block the runtime threads that forward media.
    fn run(mut self, mut rx: mpsc::Receiver<MediaIn>) {
        let mut last_step = Instant::now();
        let mut last_flush = Instant::now();
        while let Some(msg) = rx.blocking_recv() {
            match msg {
                MediaIn::Track { id, meta } => {
                    self.timeline
                        .add_track(id, meta.kind, meta.publisher, meta.clock_rate);
                    let video = meta.kind == MediaKind::Video;
                    self.tracks.insert(id, meta);
                    // A video track is written from a keyframe: ask for one at once rather
                    // than after the first dropped frame.
                    if video {
                        let now = self.now();
                        self.ask_keyframe(id, now);
                    }
                }
                MediaIn::Rtp {
                    id,
                    packet,
                    arrival_unix_ms,
                } => {
                    self.packets += 1;
                    self.timeline
                        .push_rtp(id, packet, arrival_unix_ms - self.epoch_unix_ms);
                }
                MediaIn::SenderReport { id, ntp, rtp_time } => {
                    self.timeline.sender_report(id, ntp, rtp_time)
                }
                MediaIn::Tick => {}
                MediaIn::Finish(reply) => {
                    let _ = reply.send(self.finish());
                    return;
                }
            }
            if last_step.elapsed() >= STEP {
                last_step = Instant::now();
                if let Err(e) = self.step(false) {
                    tracing::error!(error = %e, "recording write failed");
                }
                if last_flush.elapsed() >= Duration::from_secs(1) {
                    last_flush = Instant::now();
                    if let Some(m) = self.muxer.as_mut() {
                        if let Err(e) = m.flush() {
                            tracing::error!(error = %e, "recording flush failed");
                        }
                    }
                }
            }
        }
        let _ = self.finish();
    }

    /// Moves media along: jitter buffers → frames → muxer; asks for keyframes.
    fn step(&mut self, finish: bool) -> std::io::Result<()> {
        let now = self.now();
        let asks = self.timeline.poll(now);
        let frames = if finish {
            self.timeline.finish(now)
        } else {
            self.timeline.release(now)
        };
        for id in asks {
            self.ask_keyframe(id, now);
        }
        for f in frames {
            let Some(meta) = self.tracks.get(&f.track) else {
                continue;
            };
            let key = (meta.participant_id.clone(), meta.kind);
            let number = match self.webm_tracks.get(&key) {
                Some(n) => *n,
                None => {
                    let codec = match meta.kind {
                        MediaKind::Video => match vp8_keyframe_size(&f.data) {
                            Some((width, height)) => TrackCodec::Vp8 { width, height },
                            None => continue, // a video track starts at a keyframe
                        },
                        MediaKind::Audio => TrackCodec::Opus {
                            channels: 2,
                            sample_rate: 48_000,
                        },
                    };
                    let spec = TrackSpec {
                        name: format!(
                            "{} {} ({})",
                            meta.role.as_str(),
                            meta.kind.as_str(),
                            meta.participant_id
                        ),
                        codec,
                        default: meta.role == Role::Customer,
                    };
                    let Some(muxer) = self.muxer.as_mut() else {
                        continue;
                    };
                    let n = muxer.add_track(spec)?;
                    self.webm_tracks.insert(key, n);
                    self.webm_info.push(RecordedTrack {
                        number: n,
                        kind: meta.kind,
                        role: meta.role,
                        participant_id: meta.participant_id.clone(),
                        frames: 0,
                        packets: 0,
                        lost_packets: 0,
                        start_ms: f.ts_ms,
                        synced_by_sender_report: false,
                    });
                    n
                }
            };
            if f.keyframe && meta.kind == MediaKind::Video {
                self.last_keyframe_ms.insert(number, f.ts_ms);
            }
            if let Some(info) = self.webm_info.iter_mut().find(|t| t.number == number) {
                info.frames += 1;
            }
            if let Some(m) = self.muxer.as_mut() {
                m.write_frame(number, f.ts_ms, f.keyframe, &f.data)?;
            }
        }
        // Periodic keyframes keep the recording seekable.
        if self.config.keyframe_interval_secs > 0 && !finish {
            let interval = (self.config.keyframe_interval_secs * 1000) as i64;
            let due: Vec<TrackId> = self
                .tracks
                .iter()
                .filter(|(_, m)| m.kind == MediaKind::Video)
                .filter(|(_, m)| {
                    let n = self
                        .webm_tracks
                        .get(&(m.participant_id.clone(), MediaKind::Video));
                    n.and_then(|n| self.last_keyframe_ms.get(n))
                        .is_some_and(|k| now as i64 - k > interval)
                })
                .map(|(id, _)| *id)
                .collect();
            for id in due {
                self.ask_keyframe(id, now);
            }
        }
        Ok(())
    }

    fn ask_keyframe(&mut self, id: TrackId, now: f64) {
        if self.last_ask_ms.get(&id).is_some_and(|t| now - t < 500.0) {
            return;
        }
        self.last_ask_ms.insert(id, now);
        if let Some(track) = self.tracks.get(&id).and_then(|m| m.track.upgrade()) {
            self.runtime
                .spawn(async move { track.request_keyframe().await });
        }
    }

    fn finish(&mut self) -> Result<RecordingSummary, String> {
        let t0 = Instant::now();
        self.step(true).map_err(|e| e.to_string())?;
        let muxer = self.muxer.take().ok_or("already finished")?;
        let clamped = muxer.clamped_frames;
        let duration_ms = (self.now() as i64).max(muxer.last_timestamp());
        let (_, bytes) = muxer.finish(duration_ms).map_err(|e| e.to_string())?;
        for (id, meta) in &self.tracks {
            let Some(stats) = self.timeline.stats(*id) else {
                continue;
            };
            let Some(n) = self
                .webm_tracks
                .get(&(meta.participant_id.clone(), meta.kind))
            else {
                continue;
            };
            if let Some(info) = self.webm_info.iter_mut().find(|t| t.number == *n) {
                info.packets += stats.packets;
                info.lost_packets += stats.lost_packets;
                info.synced_by_sender_report |= stats.synced_by_sender_report;
            }
        }
        Ok(RecordingSummary {
            duration_ms,
            bytes,
            tracks: self.webm_info.clone(),
            packets_recorded: self.packets,
            frames_clamped: clamped,
            finalize_ms: t0.elapsed().as_millis() as u64,
        })
    }
}
