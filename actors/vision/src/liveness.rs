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

pub use vkyc_domain::challenge::{Move, MoveResult};

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
    let rot = |p: Point| {
        Point::new(
            o.x + (p.x - o.x) * c - (p.y - o.y) * s,
            o.y + (p.x - o.x) * s + (p.y - o.y) * c,
        )
    };
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
        Self {
            moves: 3,
            time_limit_secs: 60,
            yaw_delta: 0.08,
            pitch_delta: 0.06,
            min_frames: 6,
            max_frames: 60,
            pass_score: 60,
        }
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
    Some(Pose {
        yaw: median(|p| p.yaw),
        pitch: median(|p| p.pitch),
        roll_deg: median(|p| p.roll_deg),
    })
}

/// Checks the frames against the asked moves, in order. The neutral pose is the median
/// pose ([`neutral_pose`]); each move must reach its threshold after the previous one did.
///
/// The best frame (for the passive model, the face match and the identity check) is the most
/// frontal of the frames whose face is at least `min_face_px` wide, when there is one: at
/// the start of a call the picture is often still small (the sender's bandwidth estimate is
/// ramping up), and a frontal face of 50 px says little about who it is.
pub fn verify_active(
    moves: &[Move],
    frames: &[FrameFace],
    identical_frames: bool,
    cfg: &ChallengeConfig,
    min_face_px: f32,
) -> ActiveResult {
    let mut reasons = Vec::new();
    let usable: Vec<(usize, Pose)> = frames
        .iter()
        .enumerate()
        .filter_map(|(i, f)| f.detection.map(|d| (i, pose(&d.landmarks))))
        .collect();
    let frames_with_face = usable.len();
    if frames.len() < cfg.min_frames {
        reasons.push(format!(
            "too_few_frames: {} frames, at least {} needed",
            frames.len(),
            cfg.min_frames
        ));
    }
    if frames_with_face * 10 < frames.len() * 8 {
        reasons.push(format!(
            "face_lost: a single face was visible in only {frames_with_face} of {} frames",
            frames.len()
        ));
    }
    if identical_frames {
        reasons.push("static_frames: the frames are identical (a still picture)".into());
    }
    let mut results: Vec<MoveResult> = moves
        .iter()
        .map(|&mv| MoveResult {
            mv,
            done: false,
            frame: None,
            peak: 0.0,
        })
        .collect();
    let neutral = neutral_pose(&usable);
    // The most frontal frame: the closest to the resting pose on both axes, among the
    // detailed frames if there are any.
    let detailed: Vec<(usize, Pose)> = usable
        .iter()
        .copied()
        .filter(|(i, _)| detailed_face(&frames[*i], min_face_px))
        .collect();
    let candidates = if detailed.is_empty() {
        &usable
    } else {
        &detailed
    };
    let best_frame = neutral.and_then(|n| {
        candidates
            .iter()
            .min_by(|a, b| off_neutral(&a.1, n, cfg).total_cmp(&off_neutral(&b.1, n, cfg)))
            .map(|(i, _)| *i)
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
                Move::TurnLeft | Move::TurnRight => (
                    cfg.yaw_delta,
                    (p.pitch - neutral.pitch).abs() / cfg.pitch_delta,
                ),
                Move::LookUp | Move::LookDown => {
                    (cfg.pitch_delta, (p.yaw - neutral.yaw).abs() / cfg.yaw_delta)
                }
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
            reasons.push(format!(
                "move_not_seen: {} (largest change {:.3})",
                r.mv.as_str(),
                r.peak
            ));
        }
    }
    let passed = reasons.is_empty() && results.iter().all(|r| r.done);
    if passed {
        reasons.push("challenge_completed: every requested head movement was seen in order".into());
    }
    ActiveResult {
        passed,
        moves: results,
        frames: frames.len(),
        frames_with_face,
        best_frame,
        reasons,
    }
}

/// How far a pose is from the resting pose, in thresholds: 1.0 = one move's worth on one axis.
pub fn off_neutral(p: &Pose, neutral: Pose, cfg: &ChallengeConfig) -> f32 {
    (p.yaw - neutral.yaw).abs() / cfg.yaw_delta + (p.pitch - neutral.pitch).abs() / cfg.pitch_delta
}

/// A face is detailed enough to say who it is when its box is at least `min_face_px` wide
/// (the face match's own floor for a live probe, `face.min_face_px`).
fn detailed_face(f: &FrameFace, min_face_px: f32) -> bool {
    f.detection.is_some_and(|d| d.bbox.w >= min_face_px)
}

/// The frames that show the person stayed the same, to be compared with the best frame.
///
/// The series is cut at each completed move: before the first, between moves, after the
/// last. Of each part's detailed faces (at least `min_face_px` wide), up to three are
/// compared: the most frontal, however far it is from the resting pose (another person's
/// face has another resting pose, so a swapped-in face often looks "turned"; the frames
/// where a move reached its threshold are left out), and the
/// first and last near-frontal ones (turned or nodding faces embed poorly even for one
/// person). A part is confirmed when at least half of them match the best frame: one
/// blurred or badly compressed frame does not make a different person; a face that is
/// the only one compared in its part, or outvoted, does. A part without a detailed face is
/// not judged: when no part other than the best frame's own could be (a call whose
/// picture sharpened only after the moves), [`judge_identity`] says so without failing
/// the check; the agent, who watches the video, sees the note.
#[derive(Debug, Clone, PartialEq)]
pub struct IdentityPlan {
    pub best: usize,
    /// Per part: the frames to compare (none = the part could not be judged).
    pub parts: Vec<Vec<usize>>,
    /// Index of the part that holds the best frame.
    pub best_part: usize,
}

/// Near frontal for the identity check: at most one move's worth from the resting pose.
const IDENTITY_MAX_OFF: f32 = 1.0;

pub fn identity_plan(
    active: &ActiveResult,
    frames: &[FrameFace],
    cfg: &ChallengeConfig,
    min_face_px: f32,
) -> Option<IdentityPlan> {
    let best = active.best_frame?;
    let usable: Vec<(usize, Pose)> = frames
        .iter()
        .enumerate()
        .filter_map(|(i, f)| f.detection.map(|d| (i, pose(&d.landmarks))))
        .collect();
    let neutral = neutral_pose(&usable)?;
    let mut cuts: Vec<usize> = vec![0];
    cuts.extend(active.moves.iter().filter_map(|m| m.frame.map(|f| f + 1)));
    cuts.push(usize::MAX);
    // The frame where a move reached its threshold shows the head turned, by definition.
    let completions: Vec<usize> = active.moves.iter().filter_map(|m| m.frame).collect();
    let mut parts = Vec::new();
    let mut best_part = 0;
    for (k, w) in cuts.windows(2).enumerate() {
        if (w[0]..w[1]).contains(&best) {
            best_part = k;
        }
        let part: Vec<(usize, Pose)> = usable
            .iter()
            .copied()
            .filter(|&(i, _)| {
                i >= w[0]
                    && i < w[1]
                    && i != best
                    && !completions.contains(&i)
                    && detailed_face(&frames[i], min_face_px)
            })
            .collect();
        let mut picks: Vec<usize> = Vec::new();
        if let Some(frontal) = part.iter().min_by(|a, b| {
            off_neutral(&a.1, neutral, cfg).total_cmp(&off_neutral(&b.1, neutral, cfg))
        }) {
            picks.push(frontal.0);
        }
        let near: Vec<usize> = part
            .iter()
            .filter(|(_, p)| off_neutral(p, neutral, cfg) <= IDENTITY_MAX_OFF)
            .map(|(i, _)| *i)
            .collect();
        for i in [near.first(), near.last()].into_iter().flatten() {
            if !picks.contains(i) {
                picks.push(*i);
            }
        }
        parts.push(picks);
    }
    Some(IdentityPlan {
        best,
        parts,
        best_part,
    })
}

/// What [`judge_identity`] found.
#[derive(Debug, Clone, PartialEq)]
pub enum Identity {
    /// The compared frames show the person of the best frame.
    Same,
    /// No frame away from the best frame's part was detailed enough to compare
    /// (`identity_unchecked: …`, a note, not a failure).
    Unchecked(String),
    /// Someone else (`face_changed: …`): the challenge fails.
    Changed(String),
}

/// Runs the plan with `embed(frame)` (the face embedding of a frame). `Changed` when fewer
/// than half of a part's frames match the best frame, or when two compared frames match
/// each other but neither matches the best frame (a second person, whichever of the two the
/// best frame shows); `Unchecked` when no part other than the best frame's own could be
/// judged.
pub fn judge_identity<E>(
    plan: &IdentityPlan,
    threshold: f32,
    mut embed: impl FnMut(usize) -> Result<Vec<f32>, E>,
) -> Result<Identity, E> {
    let reference = embed(plan.best)?;
    let mut compared: Vec<(usize, Vec<f32>, f32)> = Vec::new();
    let mut judged = 0;
    for (k, picks) in plan.parts.iter().enumerate() {
        if picks.is_empty() {
            continue;
        }
        let mut unlike: Option<(usize, f32)> = None;
        let mut matched = 0;
        for &i in picks {
            let e = embed(i)?;
            let c = crate::face::cosine(&reference, &e);
            if c >= threshold {
                matched += 1;
            } else if unlike.is_none_or(|(_, u)| c < u) {
                unlike = Some((i, c));
            }
            compared.push((i, e, c));
        }
        if let Some((i, c)) = unlike.filter(|_| matched * 2 < picks.len()) {
            return Ok(Identity::Changed(format!(
                "face_changed: frame {i} shows a different face than frame {} (similarity {c:.2})",
                plan.best
            )));
        }
        if k != plan.best_part {
            judged += 1;
        }
    }
    let strangers: Vec<&(usize, Vec<f32>, f32)> =
        compared.iter().filter(|(_, _, c)| *c < threshold).collect();
    for (n, a) in strangers.iter().enumerate() {
        for b in &strangers[n + 1..] {
            if crate::face::cosine(&a.1, &b.1) >= threshold {
                return Ok(Identity::Changed(format!(
                    "face_changed: frames {} and {} show the same face, and not the face of frame {} (similarity {:.2}, {:.2})",
                    a.0, b.0, plan.best, a.2, b.2
                )));
            }
        }
    }
    if judged == 0 && plan.parts.len() > 1 {
        return Ok(Identity::Unchecked(format!(
            "identity_unchecked: no frame away from frame {} showed the face large and frontal enough to confirm that the same person stayed in front of the camera",
            plan.best
        )));
    }
    Ok(Identity::Same)
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
    pub fn live_probability(
        &mut self,
        img: &RgbImage,
        det: &Detection,
    ) -> Result<f32, VisionError> {
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
            let mid = crate::geometry::warp_affine(
                img,
                &crate::geometry::Affine([
                    scale * 2.0,
                    0.0,
                    -x0 * scale * 2.0,
                    0.0,
                    scale * 2.0,
                    -y0 * scale * 2.0,
                ]),
                s * 2,
                s * 2,
            );
            imageops::resize(&mid, s, s, FilterType::Triangle)
        } else {
            crate::geometry::warp_affine(img, &m, s, s)
        };
        let mut input = Array4::<f32>::zeros((1, 3, s as usize, s as usize));
        for (x, y, p) in crop.enumerate_pixels() {
            for ch in 0..3 {
                let src = if c.channel_order == ChannelOrder::Rgb {
                    ch
                } else {
                    2 - ch
                };
                input[[0, ch, y as usize, x as usize]] = (p[src] as f32 - c.mean[ch]) / c.std[ch];
            }
        }
        let outputs = self
            .session
            .run(ort::inputs![TensorRef::from_array_view(&input)?])?;
        let (_, data) = outputs[0].try_extract_tensor::<f32>()?;
        if c.live_index >= data.len() {
            return Err(VisionError::Inference(format!(
                "passive model gives {} classes, live_index is {}",
                data.len(),
                c.live_index
            )));
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
pub fn combine(
    active: ActiveResult,
    passive: Option<f32>,
    ch: &ChallengeConfig,
    pc: &PassiveConfig,
) -> LivenessVerdict {
    let asked = active.moves.len().max(1) as f32;
    let seen = active.moves.iter().filter(|m| m.done).count() as f32;
    let a = if active.passed {
        100.0
    } else {
        50.0 * seen / asked
    };
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
        Some(p) if veto => reasons.push(format!(
            "passive_spoof: the anti-spoofing model found the best frame likely not live ({p:.2})"
        )),
        Some(p) => reasons.push(format!(
            "passive_score: live probability {p:.2} on the best frame (weight {w:.2})"
        )),
        None => reasons.push("passive_not_run: no usable frame".into()),
    }
    let live = active.passed && !veto && score >= ch.pass_score;
    LivenessVerdict {
        live,
        score,
        active,
        passive_live_probability: passive,
        reasons,
    }
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
            let d: u64 = w[0]
                .iter()
                .zip(&w[1])
                .map(|(a, b)| a.abs_diff(*b) as u64)
                .sum();
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
        Some(Detection {
            bbox: BBox {
                x: 60.0,
                y: 60.0,
                w: 80.0,
                h: 110.0,
            },
            landmarks: lm,
            score: 0.9,
        })
    }

    fn series(poses: &[(f32, f32)]) -> Vec<FrameFace> {
        poses
            .iter()
            .enumerate()
            .map(|(i, &(y, p))| FrameFace {
                t_ms: i as u64 * 100,
                detection: face(y, p),
            })
            .collect()
    }

    #[test]
    fn pose_is_roll_invariant() {
        let d = face(0.15, 0.55).unwrap();
        let p0 = pose(&d.landmarks);
        let (s, c) = 0.4f32.sin_cos();
        let rotated = d
            .landmarks
            .map(|p| Point::new(p.x * c - p.y * s, p.x * s + p.y * c));
        let p1 = pose(&rotated);
        assert!((p0.yaw - p1.yaw).abs() < 1e-4 && (p0.pitch - p1.pitch).abs() < 1e-4);
        assert!((p0.yaw - 0.15).abs() < 1e-4);
        assert!((p1.roll_deg - 0.4f32.to_degrees()).abs() < 1e-2);
    }

    #[test]
    fn moves_in_order_pass_and_a_still_series_fails() {
        let cfg = ChallengeConfig::default();
        let moves = [Move::TurnLeft, Move::LookUp];
        let good = series(&[
            (0.0, 0.55),
            (0.0, 0.55),
            (0.08, 0.55),
            (0.16, 0.55),
            (0.0, 0.55),
            (0.0, 0.5),
            (0.0, 0.4),
            (0.0, 0.55),
        ]);
        let r = verify_active(&moves, &good, false, &cfg, 64.0);
        assert!(r.passed, "{r:?}");
        let still = series(&[(0.0, 0.55); 8]);
        let r = verify_active(&moves, &still, true, &cfg, 64.0);
        assert!(!r.passed);
        assert!(r.reasons.iter().any(|s| s.starts_with("static_frames")));
        assert!(r
            .reasons
            .iter()
            .any(|s| s.starts_with("move_not_seen: turn_left")));
    }

    #[test]
    fn wrong_order_or_direction_fails() {
        let cfg = ChallengeConfig::default();
        // Looks up first, then turns left: asked turn_left then look_up.
        let frames = series(&[
            (0.0, 0.55),
            (0.0, 0.4),
            (0.0, 0.55),
            (0.16, 0.55),
            (0.0, 0.55),
            (0.0, 0.55),
        ]);
        assert!(!verify_active(&[Move::TurnLeft, Move::LookUp], &frames, false, &cfg, 64.0).passed);
        // Turns right when asked left.
        let frames = series(&[
            (0.0, 0.55),
            (-0.1, 0.55),
            (-0.2, 0.55),
            (0.0, 0.55),
            (0.0, 0.55),
            (0.0, 0.55),
        ]);
        assert!(!verify_active(&[Move::TurnLeft], &frames, false, &cfg, 64.0).passed);
    }

    /// A turn to the right and back, then still.
    const TURN_RIGHT: [(f32, f32); 6] = [
        (0.0, 0.55),
        (-0.05, 0.55),
        (-0.15, 0.55),
        (0.0, 0.55),
        (0.0, 0.55),
        (0.0, 0.55),
    ];

    /// The active check of a one-move (turn right) challenge on a series of poses.
    fn asked_to_turn_right(poses: &[(f32, f32)], static_frames: bool) -> ActiveResult {
        verify_active(
            &[Move::TurnRight],
            &series(poses),
            static_frames,
            &ChallengeConfig::default(),
            64.0,
        )
    }

    #[test]
    fn combine_needs_the_challenge_and_respects_the_veto() {
        let (ch, pc) = (ChallengeConfig::default(), PassiveConfig::default());
        let a = asked_to_turn_right(&TURN_RIGHT, false);
        let v = combine(a.clone(), Some(0.5), &ch, &pc);
        assert!(v.live && v.score == 85, "{v:?}");
        let vetoing = PassiveConfig {
            veto_below: 0.05,
            ..PassiveConfig::default()
        };
        assert!(!combine(a.clone(), Some(0.01), &ch, &vetoing).live);
        assert!(combine(a, Some(0.01), &ch, &pc).live, "no veto by default");
        let v = combine(
            asked_to_turn_right(&[(0.0, 0.55); 6], true),
            Some(0.99),
            &ch,
            &pc,
        );
        assert!(!v.live && v.score <= 40);
    }

    fn small(mut f: FrameFace) -> FrameFace {
        if let Some(d) = f.detection.as_mut() {
            d.bbox.w = 40.0;
        }
        f
    }

    /// Frames 0–2 small and exactly neutral, then a turn left and a look up (completed at
    /// frames 4 and 7), back to neutral.
    fn ramping_series() -> Vec<FrameFace> {
        let mut f = series(&[
            (0.0, 0.55),
            (0.0, 0.55),
            (0.0, 0.55),
            (0.01, 0.55),
            (0.16, 0.55),
            (0.01, 0.56),
            (0.0, 0.5),
            (0.0, 0.4),
            (0.01, 0.55),
            (0.0, 0.56),
        ]);
        for x in &mut f[..3] {
            *x = small(*x);
        }
        f
    }

    #[test]
    fn the_best_frame_and_the_identity_checks_use_detailed_near_frontal_faces() {
        let cfg = ChallengeConfig::default();
        let frames = ramping_series();
        let r = verify_active(&[Move::TurnLeft, Move::LookUp], &frames, false, &cfg, 64.0);
        assert!(r.passed, "{r:?}");
        assert!(
            r.best_frame.is_some_and(|b| b >= 3),
            "the small frontal frames are not the best: {:?}",
            r.best_frame
        );
        let plan = identity_plan(&r, &frames, &cfg, 64.0).unwrap();
        // Cut after frame 4 (turn) and 7 (look up); the small faces and the moves are left out.
        assert_eq!(plan.parts.len(), 3);
        let all: Vec<usize> = plan.parts.iter().flatten().copied().collect();
        assert!(
            all.iter()
                .all(|&i| i >= 3 && i != 4 && i != 7 && i != plan.best),
            "{plan:?}"
        );
        assert!(
            plan.parts
                .iter()
                .enumerate()
                .all(|(k, p)| k == plan.best_part || !p.is_empty()),
            "{plan:?}"
        );
        // Without a size floor the best frame may be a small one.
        let r0 = verify_active(&[Move::TurnLeft, Move::LookUp], &frames, false, &cfg, 0.0);
        assert_eq!(r0.best_frame, Some(0));
    }

    /// The reason, if any.
    fn judge(plan: &IdentityPlan, faces: &dyn Fn(usize) -> [f32; 3]) -> Option<String> {
        match judge_identity::<()>(plan, 0.4, |i| Ok(faces(i).to_vec())).unwrap() {
            Identity::Same => None,
            Identity::Unchecked(why) | Identity::Changed(why) => Some(why),
        }
    }

    #[test]
    fn one_unclear_frame_is_tolerated_and_a_second_person_is_not() {
        const A: [f32; 3] = [1.0, 0.0, 0.0];
        const B: [f32; 3] = [0.0, 1.0, 0.0];
        const BLUR: [f32; 3] = [0.3, 0.0, 0.95]; // like A a little (cos 0.30), like B not at all
        let plan = IdentityPlan {
            best: 3,
            parts: vec![vec![5], vec![8, 9, 10], vec![12, 14]],
            best_part: 0,
        };
        assert_eq!(judge(&plan, &|_| A), None);
        // One poor frame in a part that also shows the person.
        assert_eq!(judge(&plan, &|i| if i == 9 { BLUR } else { A }), None);
        // Someone else for a whole part.
        let why = judge(&plan, &|i| if i >= 12 { B } else { A }).unwrap();
        assert!(why.starts_with("face_changed: frame 12"), "{why}");
        // The best frame shows the other person, and so do most frames of each part: every
        // part is confirmed, but the frames that do not match are one face.
        let why = judge(&plan, &|i| {
            if [3, 5, 8, 10, 12].contains(&i) {
                B
            } else {
                A
            }
        })
        .unwrap();
        assert!(why.starts_with("face_changed: frames"), "{why}");
        // Two poor frames that are not alike are not a second person.
        const BLUR2: [f32; 3] = [0.3, -0.95, 0.0];
        assert_eq!(
            judge(&plan, &|i| match i {
                9 => BLUR,
                12 => BLUR2,
                _ => A,
            }),
            None
        );
        // Nothing away from the best frame's part could be compared.
        let unclear = IdentityPlan {
            best: 3,
            parts: vec![vec![1], vec![], vec![]],
            best_part: 0,
        };
        let v = judge_identity::<()>(&unclear, 0.4, |_| Ok(A.to_vec())).unwrap();
        assert!(
            matches!(&v, Identity::Unchecked(why) if why.starts_with("identity_unchecked")),
            "{v:?}"
        );
        let v = judge_identity::<()>(&unclear, 0.4, |i| Ok(if i == 1 { B } else { A }.to_vec()))
            .unwrap();
        assert!(
            matches!(v, Identity::Changed(_)),
            "the best frame's own part still counts: {v:?}"
        );
    }

    #[test]
    fn why_not_live_names_the_failed_challenge_first_then_the_passive_model() {
        let (ch, pc) = (ChallengeConfig::default(), PassiveConfig::default());
        let live = combine(asked_to_turn_right(&TURN_RIGHT, false), Some(0.5), &ch, &pc);
        assert_eq!(live.why_not_live(), None);
        let still = combine(
            asked_to_turn_right(&[(0.0, 0.55); 6], true),
            Some(0.9),
            &ch,
            &pc,
        );
        assert!(
            still.why_not_live().unwrap().starts_with("static_frames"),
            "{:?}",
            still.reasons
        );
        let vetoing = PassiveConfig {
            veto_below: 0.05,
            ..PassiveConfig::default()
        };
        let spoof = combine(
            asked_to_turn_right(&TURN_RIGHT, false),
            Some(0.01),
            &ch,
            &vetoing,
        );
        assert!(
            spoof.why_not_live().unwrap().starts_with("passive_spoof"),
            "{:?}",
            spoof.reasons
        );
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
