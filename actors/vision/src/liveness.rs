//! Liveness: an **active** head-movement challenge verified from landmarks, plus a
//! **passive** anti-spoofing model on the best frame, combined into a 0–100 score with the
//! reasons behind it.
//!
//! The passive model shipped (`fr_liveness.onnx`) is weak on its own (see
//! ../shared/ENVIRONMENT.md), so it only moves the score and can veto with a confident spoof
//! verdict; passing requires the challenge. The passive model is pluggable: its file and
//! pre-processing come from [`PassiveConfig`].
//!
//! Head pose from five landmarks, after removing roll (the eye line made horizontal):
//! - `yaw = (nose.x − eyeL.x) / (eyeR.x − eyeL.x) − 0.5` — 0 facing the camera. A real head
//!   turning moves the protruding nose across the face; a flat photo tilted in front of the
//!   camera does not.
//! - `pitch = (nose.y − eyes.y) / (mouth.y − eyes.y)` — compared with the neutral frame.
//!
//! Directions are the person's own in an **un-mirrored** camera frame: `turn_left` moves the
//! nose toward the image's right (yaw grows), `look_up` moves it toward the eyes.

use image::imageops::{self, FilterType};
use image::RgbImage;
use ndarray::Array4;
use ort::session::Session;
use ort::value::TensorRef;
use serde::{Deserialize, Serialize};

use crate::face::Detection;
use crate::geometry::Point;
use crate::VisionError;

pub use vkyc_domain::Move;

/// Head pose proxies of one frame.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Pose {
    pub yaw: f32,
    pub pitch: f32,
    pub roll_deg: f32,
}

pub fn pose(lm: &[Point; 5]) -> Pose {
    let (el, er) = (lm[0], lm[1]);
    let roll = (er.y - el.y).atan2(er.x - el.x);
    let (s, c) = (-roll).sin_cos();
    let o = el.mid(er);
    let rot = |p: Point| Point::new(o.x + (p.x - o.x) * c - (p.y - o.y) * s, o.y + (p.x - o.x) * s + (p.y - o.y) * c);
    let [el, er, nose, ml, mr] = lm.map(rot);
    let eye_w = (er.x - el.x).abs().max(1e-3);
    let eyes_y = (el.y + er.y) / 2.0;
    let mouth_y = (ml.y + mr.y) / 2.0;
    Pose {
        yaw: (nose.x - el.x) / eye_w - 0.5,
        pitch: (nose.y - eyes_y) / (mouth_y - eyes_y).abs().max(1e-3),
        roll_deg: roll.to_degrees(),
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ChallengeConfig {
    /// How many moves a challenge asks for (distinct, random order).
    pub moves: usize,
    /// Seconds the customer has, from the challenge being issued to the frames arriving.
    pub time_limit_secs: u64,
    /// Yaw change (fraction of the eye distance) that counts as a turn.
    pub yaw_delta: f32,
    /// Pitch change (fraction of the eyes–mouth distance) that counts as looking up/down.
    pub pitch_delta: f32,
    pub min_frames: usize,
    pub max_frames: usize,
    /// Score at or above which the result is `live` (also needs the challenge passed).
    pub pass_score: u8,
}

impl Default for ChallengeConfig {
    fn default() -> Self {
        Self { moves: 3, time_limit_secs: 60, yaw_delta: 0.08, pitch_delta: 0.06, min_frames: 6, max_frames: 60, pass_score: 60 }
    }
}

/// A random challenge: distinct moves in random order.
pub fn random_moves(n: usize, rng: &mut impl rand::Rng) -> Vec<Move> {
    use rand::seq::SliceRandom;
    let mut all = Move::ALL.to_vec();
    all.shuffle(rng);
    all.truncate(n.clamp(1, Move::ALL.len()));
    all
}

/// One frame of the series after detection (None = no usable single face in it).
#[derive(Debug, Clone, Copy)]
pub struct FrameFace {
    pub t_ms: u64,
    pub detection: Option<Detection>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct MoveResult {
    #[serde(rename = "move")]
    pub mv: Move,
    pub done: bool,
    /// Index of the frame where the move reached its threshold.
    pub frame: Option<usize>,
    /// The largest change in the asked direction seen while it was expected.
    pub peak: f32,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ActiveResult {
    pub passed: bool,
    pub moves: Vec<MoveResult>,
    pub frames: usize,
    pub frames_with_face: usize,
    /// The most frontal usable frame (for the passive model and the face match).
    pub best_frame: Option<usize>,
    pub reasons: Vec<String>,
}

fn delta(mv: Move, p: Pose, neutral: Pose) -> f32 {
    match mv {
        Move::TurnLeft => p.yaw - neutral.yaw,
        Move::TurnRight => neutral.yaw - p.yaw,
        Move::LookUp => neutral.pitch - p.pitch,
        Move::LookDown => p.pitch - neutral.pitch,
    }
}

/// The neutral pose: the per-axis median over the usable frames. Each asked move is a
/// different direction and takes at most a third of the frames, so the median sits at the
/// resting pose even when the series starts mid-move (frames grabbed from a live call).
pub fn neutral_pose(usable: &[(usize, Pose)]) -> Option<Pose> {
    if usable.is_empty() {
        return None;
    }
    let median = |f: fn(&Pose) -> f32| {
        let mut v: Vec<f32> = usable.iter().map(|(_, p)| f(p)).collect();
        v.sort_by(f32::total_cmp);
        v[v.len() / 2]
    };
    Some(Pose { yaw: median(|p| p.yaw), pitch: median(|p| p.pitch), roll_deg: median(|p| p.roll_deg) })
}

/// Checks the frames against the asked moves, in order. The neutral pose is the median
/// pose ([`neutral_pose`]); each move must reach its threshold after the previous one did.
pub fn verify_active(moves: &[Move], frames: &[FrameFace], identical_frames: bool, cfg: &ChallengeConfig) -> ActiveResult {
    let mut reasons = Vec::new();
    let usable: Vec<(usize, Pose)> =
        frames.iter().enumerate().filter_map(|(i, f)| f.detection.map(|d| (i, pose(&d.landmarks)))).collect();
    let frames_with_face = usable.len();
    if frames.len() < cfg.min_frames {
        reasons.push(format!("too_few_frames: {} frames, at least {} needed", frames.len(), cfg.min_frames));
    }
    if frames_with_face * 10 < frames.len() * 8 {
        reasons.push(format!("face_lost: a single face was visible in only {frames_with_face} of {} frames", frames.len()));
    }
    if identical_frames {
        reasons.push("static_frames: the frames are identical (a still picture)".into());
    }
    let mut results: Vec<MoveResult> = moves.iter().map(|&mv| MoveResult { mv, done: false, frame: None, peak: 0.0 }).collect();
    let neutral = neutral_pose(&usable);
    // The most frontal frame: the closest to the resting pose on both axes.
    let best_frame = neutral.and_then(|n| {
        let off = |p: &Pose| (p.yaw - n.yaw).abs() / cfg.yaw_delta + (p.pitch - n.pitch).abs() / cfg.pitch_delta;
        usable.iter().min_by(|a, b| off(&a.1).total_cmp(&off(&b.1))).map(|(i, _)| *i)
    });
    if let Some(neutral) = neutral {
        let mut k = 0;
        for &(i, p) in &usable {
            if k >= results.len() {
                break;
            }
            let r = &mut results[k];
            let d = delta(r.mv, p, neutral);
            r.peak = r.peak.max(d);
            // The asked axis must move past its threshold and dominate the other axis
            // (each measured against its own threshold): a turn is not also a nod.
            let (need, other) = match r.mv {
                Move::TurnLeft | Move::TurnRight => (cfg.yaw_delta, (p.pitch - neutral.pitch).abs() / cfg.pitch_delta),
                Move::LookUp | Move::LookDown => (cfg.pitch_delta, (p.yaw - neutral.yaw).abs() / cfg.yaw_delta),
            };
            if d >= need && d / need > other {
                r.done = true;
                r.frame = Some(i);
                k += 1;
            }
        }
    }
    for r in &results {
        if !r.done {
            reasons.push(format!("move_not_seen: {} (largest change {:.3})", r.mv.as_str(), r.peak));
        }
    }
    let passed = reasons.is_empty() && results.iter().all(|r| r.done);
    if passed {
        reasons.push("challenge_completed: every requested head movement was seen in order".into());
    }
    ActiveResult { passed, moves: results, frames: frames.len(), frames_with_face, best_frame, reasons }
}

/// Channel order of a passive model's input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ChannelOrder {
    Rgb,
    Bgr,
}

/// The passive model and its pre-processing: input = crop of the face box grown by
/// `crop_scale`, resized to `input_size`², `(pixel − mean) / std` per channel in
/// `channel_order`; output = class scores (softmax applied if `softmax`), `live_index` the
/// live class.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PassiveConfig {
    /// Empty = the shipped model (`fr_liveness.onnx` from the manifest); else a file path.
    pub model_path: String,
    pub input_size: u32,
    pub crop_scale: f32,
    pub channel_order: ChannelOrder,
    pub mean: [f32; 3],
    pub std: [f32; 3],
    pub softmax: bool,
    pub live_index: usize,
    /// Below this live probability the passive model vetoes (a confident spoof verdict). Off
    /// (0) by default: the shipped model scores genuine portrait photos as low as 0.002 with
    /// its documented crop, so it may only weigh in; set it for a model you have calibrated.
    pub veto_below: f32,
    /// Weight of the passive score in the combined score (0–1).
    pub weight: f32,
}

impl Default for PassiveConfig {
    fn default() -> Self {
        Self {
            model_path: String::new(),
            input_size: 128,
            crop_scale: 2.7,
            channel_order: ChannelOrder::Rgb,
            mean: [0.0; 3],
            std: [1.0; 3],
            softmax: true,
            live_index: 0,
            veto_below: 0.0,
            weight: 0.3,
        }
    }
}

pub struct PassiveModel {
    session: Session,
    cfg: PassiveConfig,
}

impl PassiveModel {
    pub fn new(session: Session, cfg: PassiveConfig) -> Self {
        Self { session, cfg }
    }

    /// Live probability 0–1 of the face `det` in `img`.
    pub fn live_probability(&mut self, img: &RgbImage, det: &Detection) -> Result<f32, VisionError> {
        let c = &self.cfg;
        let b = det.bbox.scaled(c.crop_scale);
        let side = b.w.max(b.h);
        let ctr = b.center();
        let (x0, y0) = (ctr.x - side / 2.0, ctr.y - side / 2.0);
        // Crop (black outside the picture), then resize.
        let s = c.input_size;
        let scale = s as f32 / side.max(1.0);
        let m = crate::geometry::Affine([scale, 0.0, -x0 * scale, 0.0, scale, -y0 * scale]);
        let crop = if scale < 0.5 {
            // Downscale in two steps for less aliasing.
            let mid = crate::geometry::warp_affine(img, &crate::geometry::Affine([scale * 2.0, 0.0, -x0 * scale * 2.0, 0.0, scale * 2.0, -y0 * scale * 2.0]), s * 2, s * 2);
            imageops::resize(&mid, s, s, FilterType::Triangle)
        } else {
            crate::geometry::warp_affine(img, &m, s, s)
        };
        let mut input = Array4::<f32>::zeros((1, 3, s as usize, s as usize));
        for (x, y, p) in crop.enumerate_pixels() {
            for ch in 0..3 {
                let src = if c.channel_order == ChannelOrder::Rgb { ch } else { 2 - ch };
                input[[0, ch, y as usize, x as usize]] = (p[src] as f32 - c.mean[ch]) / c.std[ch];
            }
        }
        let outputs = self.session.run(ort::inputs![TensorRef::from_array_view(&input)?])?;
        let (_, data) = outputs[0].try_extract_tensor::<f32>()?;
        if c.live_index >= data.len() {
            return Err(VisionError::Inference(format!("passive model gives {} classes, live_index is {}", data.len(), c.live_index)));
        }
        let p = if c.softmax {
            let mx = data.iter().copied().fold(f32::MIN, f32::max);
            let sum: f32 = data.iter().map(|v| (v - mx).exp()).sum();
            (data[c.live_index] - mx).exp() / sum
        } else {
            data[c.live_index]
        };
        Ok(p.clamp(0.0, 1.0))
    }
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct LivenessVerdict {
    pub live: bool,
    pub score: u8,
    pub active: ActiveResult,
    pub passive_live_probability: Option<f32>,
    pub reasons: Vec<String>,
}

/// The combined score: `active` is 100 when the challenge passed, else 50 × (moves seen /
/// moves asked); `score = (1 − w)·active + w·100·passive`, capped at 40 when the challenge
/// failed. `live` needs the challenge passed, the passive model not vetoing, and
/// `score ≥ pass_score`.
pub fn combine(active: ActiveResult, passive: Option<f32>, ch: &ChallengeConfig, pc: &PassiveConfig) -> LivenessVerdict {
    let asked = active.moves.len().max(1) as f32;
    let seen = active.moves.iter().filter(|m| m.done).count() as f32;
    let a = if active.passed { 100.0 } else { 50.0 * seen / asked };
    let w = pc.weight.clamp(0.0, 1.0);
    let p = passive.unwrap_or(0.0);
    let mut score = (1.0 - w) * a + w * 100.0 * p;
    if !active.passed {
        score = score.min(40.0);
    }
    let score = score.round().clamp(0.0, 100.0) as u8;
    let mut reasons = active.reasons.clone();
    let veto = passive.is_some_and(|p| p < pc.veto_below);
    match passive {
        Some(p) if veto => reasons.push(format!("passive_spoof: the anti-spoofing model found the best frame likely not live ({p:.2})")),
        Some(p) => reasons.push(format!("passive_score: live probability {p:.2} on the best frame (weight {w:.2})")),
        None => reasons.push("passive_not_run: no usable frame".into()),
    }
    let live = active.passed && !veto && score >= ch.pass_score;
    LivenessVerdict { live, score, active, passive_live_probability: passive, reasons }
}

impl LivenessVerdict {
    /// The reason that explains a verdict of not live: the first reason of a failed
    /// challenge, else the passive model's (a spoof veto, or a score that kept it below the
    /// pass score). `None` when live.
    pub fn why_not_live(&self) -> Option<&str> {
        if self.live {
            None
        } else if !self.active.passed {
            self.active.reasons.first().map(String::as_str)
        } else {
            self.reasons.last().map(String::as_str)
        }
    }
}

/// True when the frames are (nearly) the same picture: mean absolute difference of small
/// grey thumbnails below 0.5 grey levels between every consecutive pair.
pub fn frames_identical(frames: &[RgbImage]) -> bool {
    let thumbs: Vec<Vec<u8>> = frames
        .iter()
        .map(|f| imageops::grayscale(&imageops::resize(f, 64, 64, FilterType::Triangle)).into_raw())
        .collect();
    thumbs.len() >= 2
        && thumbs.windows(2).all(|w| {
            let d: u64 = w[0].iter().zip(&w[1]).map(|(a, b)| a.abs_diff(*b) as u64).sum();
            (d as f64 / w[0].len() as f64) < 0.5
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geometry::BBox;

    fn face(yaw: f32, pitch: f32) -> Option<Detection> {
        // Eyes 40 px apart at y=100, mouth at y=150; nose placed by yaw/pitch.
        let lm = [
            Point::new(80.0, 100.0),
            Point::new(120.0, 100.0),
            Point::new(100.0 + yaw * 40.0, 100.0 + pitch * 50.0),
            Point::new(85.0, 150.0),
            Point::new(115.0, 150.0),
        ];
        Some(Detection { bbox: BBox { x: 60.0, y: 60.0, w: 80.0, h: 110.0 }, landmarks: lm, score: 0.9 })
    }

    fn series(poses: &[(f32, f32)]) -> Vec<FrameFace> {
        poses.iter().enumerate().map(|(i, &(y, p))| FrameFace { t_ms: i as u64 * 100, detection: face(y, p) }).collect()
    }

    #[test]
    fn pose_is_roll_invariant() {
        let d = face(0.15, 0.55).unwrap();
        let p0 = pose(&d.landmarks);
        let (s, c) = 0.4f32.sin_cos();
        let rotated = d.landmarks.map(|p| Point::new(p.x * c - p.y * s, p.x * s + p.y * c));
        let p1 = pose(&rotated);
        assert!((p0.yaw - p1.yaw).abs() < 1e-4 && (p0.pitch - p1.pitch).abs() < 1e-4);
        assert!((p0.yaw - 0.15).abs() < 1e-4);
        assert!((p1.roll_deg - 0.4f32.to_degrees()).abs() < 1e-2);
    }

    #[test]
    fn moves_in_order_pass_and_a_still_series_fails() {
        let cfg = ChallengeConfig::default();
        let moves = [Move::TurnLeft, Move::LookUp];
        let good = series(&[(0.0, 0.55), (0.0, 0.55), (0.08, 0.55), (0.16, 0.55), (0.0, 0.55), (0.0, 0.5), (0.0, 0.4), (0.0, 0.55)]);
        let r = verify_active(&moves, &good, false, &cfg);
        assert!(r.passed, "{r:?}");
        let still = series(&[(0.0, 0.55); 8]);
        let r = verify_active(&moves, &still, true, &cfg);
        assert!(!r.passed);
        assert!(r.reasons.iter().any(|s| s.starts_with("static_frames")));
        assert!(r.reasons.iter().any(|s| s.starts_with("move_not_seen: turn_left")));
    }

    #[test]
    fn wrong_order_or_direction_fails() {
        let cfg = ChallengeConfig::default();
        // Looks up first, then turns left: asked turn_left then look_up.
        let frames = series(&[(0.0, 0.55), (0.0, 0.4), (0.0, 0.55), (0.16, 0.55), (0.0, 0.55), (0.0, 0.55)]);
        assert!(!verify_active(&[Move::TurnLeft, Move::LookUp], &frames, false, &cfg).passed);
        // Turns right when asked left.
        let frames = series(&[(0.0, 0.55), (-0.1, 0.55), (-0.2, 0.55), (0.0, 0.55), (0.0, 0.55), (0.0, 0.55)]);
        assert!(!verify_active(&[Move::TurnLeft], &frames, false, &cfg).passed);
    }

    #[test]
    fn combine_needs_the_challenge_and_respects_the_veto() {
        let ch = ChallengeConfig::default();
        let pc = PassiveConfig::default();
        let moves = [Move::TurnRight];
        let good = series(&[(0.0, 0.55), (-0.05, 0.55), (-0.15, 0.55), (0.0, 0.55), (0.0, 0.55), (0.0, 0.55)]);
        let a = verify_active(&moves, &good, false, &ch);
        let v = combine(a.clone(), Some(0.5), &ch, &pc);
        assert!(v.live && v.score == 85, "{v:?}");
        let vetoing = PassiveConfig { veto_below: 0.05, ..PassiveConfig::default() };
        assert!(!combine(a.clone(), Some(0.01), &ch, &vetoing).live);
        assert!(combine(a, Some(0.01), &ch, &pc).live, "no veto by default");
        let still = verify_active(&moves, &series(&[(0.0, 0.55); 6]), true, &ch);
        let v = combine(still, Some(0.99), &ch, &pc);
        assert!(!v.live && v.score <= 40);
    }

    #[test]
    fn random_moves_are_distinct() {
        let mut rng = rand::thread_rng();
        for _ in 0..20 {
            let m = random_moves(3, &mut rng);
            assert_eq!(m.len(), 3);
            assert!(m[0] != m[1] && m[1] != m[2] && m[0] != m[2]);
        }
    }
}
