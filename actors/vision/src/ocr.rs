//! Text reading with PaddleOCR PP-OCRv4 (mobile): DB text detection, then CRNN/SVTR line
//! recognition with greedy CTC decoding.
//!
//! ```text
//! RgbImage ─► resize (long side = det_long_side) ─► pad to ×32 ─► BGR, (x/255−0.5)/0.5
//!          ─► det ─► probability map ─► DB post-processing:
//!                threshold ─► contours ─► min-area (rotated) rectangle ─► mean-probability
//!                score ─► unclip (grow by area × ratio / perimeter)
//!          ─► each rotated box cropped upright from the full-resolution image
//!          ─► height 48, width proportional (batched by aspect ratio, padded right)
//!          ─► rec ─► per-step softmax over 6,625 classes ─► greedy CTC (+ space re-insertion)
//!          ─► lines in reading order (rows top to bottom, then left to right, measured
//!             along the page's dominant text angle so a tilted card still reads in rows)
//! ```
//!
//! The recogniser's character dictionary is stored in the rec model itself (ONNX metadata key
//! `character`, one entry a line); the classes are: CTC blank, the dictionary, a space.
//!
//! PP-OCRv4 tends to drop the space between upper-case words (`POOJA AGARWAL` →
//! `POOJAAGARWAL`) while still giving the space class a small probability there: a space is
//! re-inserted between two characters when the space probability in the frames between them
//! exceeds `space_threshold` (see [`ctc_decode`]).

use image::imageops::{self, FilterType};
use image::{GrayImage, Luma, RgbImage};
use imageproc::contours::{find_contours, BorderType};
use imageproc::geometry::min_area_rect;
use imageproc::point::Point as IpPoint;
use ndarray::{Array4, ArrayView2, Ix3};
use ort::session::Session;
use ort::value::TensorRef;
use serde::{Deserialize, Serialize};

use crate::geometry::{warp_affine, Affine, BBox};
use crate::VisionError;

/// Tunables of the OCR pipeline. The defaults are PaddleOCR's, except the detector input size.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OcrConfig {
    /// The image is resized so its longer side is this many pixels for detection (then padded
    /// to multiples of 32). Larger finds smaller text, at a quadratic cost.
    pub det_long_side: u32,
    /// Probability above which a pixel of the detector's map is text.
    pub det_threshold: f32,
    /// Mean probability inside a candidate box needed to keep it.
    pub box_threshold: f32,
    /// Boxes are grown by `area × unclip_ratio / perimeter` on every side (DB shrinks text
    /// regions during training; this undoes it).
    pub unclip_ratio: f32,
    /// Boxes whose shorter side is below this (detector pixels) are noise.
    pub min_box_side: f32,
    /// Lines recognised per model run.
    pub rec_batch: usize,
    /// Widest recogniser input (pixels at height 48); longer lines are squeezed.
    pub rec_max_width: u32,
    /// Space-class probability between two characters above which a space is re-inserted.
    pub space_threshold: f32,
    /// Lines recognised with a lower mean character probability are dropped.
    pub min_confidence: f32,
}

impl Default for OcrConfig {
    fn default() -> Self {
        Self {
            det_long_side: 640,
            det_threshold: 0.3,
            box_threshold: 0.5,
            unclip_ratio: 1.6,
            min_box_side: 3.0,
            rec_batch: 6,
            rec_max_width: 1600,
            space_threshold: 0.015,
            min_confidence: 0.5,
        }
    }
}

impl OcrConfig {
    pub fn validate(&self) -> Result<(), String> {
        crate::within("ocr.det_long_side", self.det_long_side, 128..=2048)?;
        for (key, v) in [
            ("ocr.det_threshold", self.det_threshold),
            ("ocr.box_threshold", self.box_threshold),
            ("ocr.space_threshold", self.space_threshold),
            ("ocr.min_confidence", self.min_confidence),
        ] {
            crate::within(key, v, 0.0..1.0)?;
        }
        crate::within("ocr.unclip_ratio", self.unclip_ratio, 1.0..=4.0)?;
        if self.rec_batch == 0 || self.rec_max_width < REC_MIN_WIDTH {
            return Err(format!(
                "ocr.rec_batch must be ≥ 1 and ocr.rec_max_width ≥ {REC_MIN_WIDTH}"
            ));
        }
        Ok(())
    }
}

/// One line of text read from the image; `bbox` is the axis-aligned box around the (possibly
/// tilted) detected line, in pixels of the input image.
#[derive(Debug, Clone, Serialize)]
pub struct TextLine {
    pub text: String,
    /// Mean probability of the characters read, 0–1.
    pub confidence: f32,
    pub bbox: BBox,
}

/// Recogniser input height.
const REC_HEIGHT: u32 = 48;
/// PaddleOCR pads every recogniser batch to at least 320 px (a 48×320 line), the shape it
/// was trained with.
const REC_MIN_WIDTH: u32 = 320;

/// A rotated rectangle: centre, size and the angle (radians, image coordinates: y down,
/// positive = clockwise) of its `w` side. `w` is the side closer to horizontal.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RotatedRect {
    pub cx: f32,
    pub cy: f32,
    pub w: f32,
    pub h: f32,
    pub angle: f32,
}

impl RotatedRect {
    /// From four corners in order around the rectangle (as `min_area_rect` returns them).
    pub fn from_corners(c: [(f32, f32); 4]) -> Self {
        let cx = c.iter().map(|p| p.0).sum::<f32>() / 4.0;
        let cy = c.iter().map(|p| p.1).sum::<f32>() / 4.0;
        let side = |a: (f32, f32), b: (f32, f32)| {
            let (dx, dy) = (b.0 - a.0, b.1 - a.1);
            // Direction folded into (-90°, 90°]: a side has no orientation.
            let mut ang = dy.atan2(dx);
            if ang > std::f32::consts::FRAC_PI_2 {
                ang -= std::f32::consts::PI;
            } else if ang <= -std::f32::consts::FRAC_PI_2 {
                ang += std::f32::consts::PI;
            }
            ((dx * dx + dy * dy).sqrt(), ang)
        };
        let (l1, a1) = side(c[0], c[1]);
        let (l2, a2) = side(c[1], c[2]);
        if a1.abs() <= a2.abs() {
            Self {
                cx,
                cy,
                w: l1,
                h: l2,
                angle: a1,
            }
        } else {
            Self {
                cx,
                cy,
                w: l2,
                h: l1,
                angle: a2,
            }
        }
    }

    /// Is the point inside (or on the edge)?
    pub fn contains(&self, x: f32, y: f32) -> bool {
        let (s, c) = self.angle.sin_cos();
        let (dx, dy) = (x - self.cx, y - self.cy);
        let u = dx * c + dy * s;
        let v = -dx * s + dy * c;
        u.abs() <= self.w / 2.0 + 1e-3 && v.abs() <= self.h / 2.0 + 1e-3
    }

    pub fn corners(&self) -> [(f32, f32); 4] {
        let (s, c) = self.angle.sin_cos();
        let (hw, hh) = (self.w / 2.0, self.h / 2.0);
        [(-hw, -hh), (hw, -hh), (hw, hh), (-hw, hh)]
            .map(|(u, v)| (self.cx + u * c - v * s, self.cy + u * s + v * c))
    }

    /// The axis-aligned box around it.
    pub fn bbox(&self) -> BBox {
        let pts = self.corners();
        let (x0, x1) = pts
            .iter()
            .fold((f32::MAX, f32::MIN), |(a, b), p| (a.min(p.0), b.max(p.0)));
        let (y0, y1) = pts
            .iter()
            .fold((f32::MAX, f32::MIN), |(a, b), p| (a.min(p.1), b.max(p.1)));
        BBox {
            x: x0,
            y: y0,
            w: x1 - x0,
            h: y1 - y0,
        }
    }

    /// Grown by `d` on every side (the offset polygon of a rectangle, corners squared).
    pub fn grown(&self, d: f32) -> Self {
        Self {
            w: self.w + 2.0 * d,
            h: self.h + 2.0 * d,
            ..*self
        }
    }

    pub fn scaled(&self, s: f32) -> Self {
        Self {
            cx: self.cx * s,
            cy: self.cy * s,
            w: self.w * s,
            h: self.h * s,
            angle: self.angle,
        }
    }

    /// The affine map taking this rectangle onto the upright `w`×`h` image `[0,w)×[0,h)`.
    fn upright(&self, out_w: f32, out_h: f32) -> Affine {
        let (s, c) = self.angle.sin_cos();
        Affine([
            c,
            s,
            out_w / 2.0 - (c * self.cx + s * self.cy),
            -s,
            c,
            out_h / 2.0 - (-s * self.cx + c * self.cy),
        ])
    }
}

/// PP-OCRv4 detector + recogniser, with the recogniser's dictionary.
pub struct OcrEngine {
    det: Session,
    rec: Session,
    /// Class index → text: `""` for the CTC blank (0), the dictionary, `" "` last.
    charset: Vec<String>,
    config: OcrConfig,
}

impl OcrEngine {
    /// Takes the two sessions (`ocr_det`, `ocr_rec` in `models/manifest.toml`); reads the
    /// dictionary from the rec model's metadata.
    pub fn new(det: Session, rec: Session) -> Result<Self, VisionError> {
        let dict = rec.metadata()?.custom("character").ok_or_else(|| {
            VisionError::Inference(
                "the OCR rec model has no `character` metadata (dictionary)".into(),
            )
        })?;
        let charset = charset_from_dictionary(&dict);
        if charset.len() < 3 {
            return Err(VisionError::Inference(
                "the OCR rec model's dictionary is empty".into(),
            ));
        }
        Ok(Self {
            det,
            rec,
            charset,
            config: OcrConfig::default(),
        })
    }

    pub fn with_config(mut self, config: OcrConfig) -> Self {
        self.config = config;
        self
    }

    pub fn config(&self) -> &OcrConfig {
        &self.config
    }

    /// Number of recogniser classes (blank + dictionary + space).
    pub fn classes(&self) -> usize {
        self.charset.len()
    }

    /// All lines of text, in reading order (top to bottom, then left to right).
    pub fn read(&mut self, img: &RgbImage) -> Result<Vec<TextLine>, VisionError> {
        if img.width() == 0 || img.height() == 0 {
            return Err(VisionError::ImageEmpty);
        }
        let boxes = self.detect(img)?;
        let order = reading_order(&boxes);
        let boxes: Vec<RotatedRect> = order.into_iter().map(|i| boxes[i]).collect();
        let crops: Vec<RgbImage> = boxes
            .iter()
            .map(|b| crop_line(img, b, self.config.rec_max_width))
            .collect();
        let texts = self.recognize(&crops)?;
        Ok(boxes
            .iter()
            .zip(texts)
            .filter(|(_, (text, conf))| !text.is_empty() && *conf >= self.config.min_confidence)
            .map(|(b, (text, confidence))| TextLine {
                text,
                confidence,
                bbox: b.bbox(),
            })
            .collect())
    }

    /// Text boxes in pixels of `img` (unordered).
    pub fn detect(&mut self, img: &RgbImage) -> Result<Vec<RotatedRect>, VisionError> {
        let cfg = &self.config;
        let (w, h) = img.dimensions();
        let scale = cfg.det_long_side as f32 / w.max(h) as f32;
        let rw = ((w as f32 * scale).round() as u32).max(1);
        let rh = ((h as f32 * scale).round() as u32).max(1);
        let resized = imageops::resize(img, rw, rh, FilterType::Triangle);
        let (pw, ph) = (rw.div_ceil(32) * 32, rh.div_ceil(32) * 32);
        // NCHW BGR, normalised to [-1, 1]; the padding is 0 (mid-grey).
        let (pwu, phu) = (pw as usize, ph as usize);
        let mut input = Array4::<f32>::zeros((1, 3, phu, pwu));
        {
            let data = input.as_slice_mut().expect("standard layout");
            let plane = phu * pwu;
            for (x, y, p) in resized.enumerate_pixels() {
                let i = y as usize * pwu + x as usize;
                data[i] = normalise(p[2]);
                data[plane + i] = normalise(p[1]);
                data[2 * plane + i] = normalise(p[0]);
            }
        }
        let outputs = self
            .det
            .run(ort::inputs![TensorRef::from_array_view(&input)?])?;
        let map = outputs[0].try_extract_array::<f32>()?;
        let shape = map.shape().to_vec();
        if shape.len() != 4 || shape[2] != phu || shape[3] != pwu {
            return Err(VisionError::Inference(format!(
                "OCR det output shape {shape:?}, expected [1, 1, {ph}, {pw}]"
            )));
        }
        // The map of the real (unpadded) image only.
        let (rwu, rhu) = (rw as usize, rh as usize);
        let mut prob = Vec::with_capacity(rwu * rhu);
        for y in 0..rhu {
            for x in 0..rwu {
                prob.push(map[[0, 0, y, x]]);
            }
        }
        drop(outputs);
        Ok(db_boxes(&prob, rwu, rhu, cfg)
            .into_iter()
            .map(|b| b.scaled(1.0 / scale))
            .collect())
    }

    /// Text and confidence of each upright line crop (height 48), in the given order.
    pub fn recognize(&mut self, crops: &[RgbImage]) -> Result<Vec<(String, f32)>, VisionError> {
        let mut out = vec![(String::new(), 0.0); crops.len()];
        // Similar widths together: less padding per batch.
        let mut order: Vec<usize> = (0..crops.len()).collect();
        order.sort_by_key(|&i| crops[i].width());
        for chunk in order.chunks(self.config.rec_batch.max(1)) {
            let width = chunk
                .iter()
                .map(|&i| crops[i].width())
                .max()
                .unwrap_or(0)
                .max(REC_MIN_WIDTH) as usize;
            let hgt = REC_HEIGHT as usize;
            let mut input = Array4::<f32>::zeros((chunk.len(), 3, hgt, width));
            {
                let data = input.as_slice_mut().expect("standard layout");
                let plane = hgt * width;
                for (n, &i) in chunk.iter().enumerate() {
                    let base = n * 3 * plane;
                    for (x, y, p) in crops[i].enumerate_pixels() {
                        let j = base + y as usize * width + x as usize;
                        data[j] = normalise(p[2]);
                        data[plane + j] = normalise(p[1]);
                        data[2 * plane + j] = normalise(p[0]);
                    }
                }
            }
            let outputs = self
                .rec
                .run(ort::inputs![TensorRef::from_array_view(&input)?])?;
            let probs = outputs[0]
                .try_extract_array::<f32>()?
                .into_dimensionality::<Ix3>()
                .map_err(|e| VisionError::Inference(format!("OCR rec output: {e}")))?;
            if probs.shape()[0] != chunk.len() || probs.shape()[2] != self.charset.len() {
                return Err(VisionError::Inference(format!(
                    "OCR rec output shape {:?}: expected {} lines × {} classes (dictionary size + 2)",
                    probs.shape(),
                    chunk.len(),
                    self.charset.len()
                )));
            }
            for (n, &i) in chunk.iter().enumerate() {
                out[i] = ctc_decode(
                    probs.index_axis(ndarray::Axis(0), n),
                    &self.charset,
                    self.config.space_threshold,
                );
            }
        }
        Ok(out)
    }
}

fn normalise(v: u8) -> f32 {
    (v as f32 / 255.0 - 0.5) / 0.5
}

/// Class list from the `character` metadata: blank first, one class per dictionary line,
/// space last.
pub fn charset_from_dictionary(dict: &str) -> Vec<String> {
    let mut cs = vec![String::new()];
    cs.extend(dict.lines().map(|l| l.trim_end_matches('\r').to_string()));
    // A trailing newline gives no extra line with `lines()`; a trailing empty entry would.
    while cs.len() > 1 && cs.last().is_some_and(|s| s.is_empty()) {
        cs.pop();
    }
    cs.push(" ".to_string());
    cs
}

/// DB post-processing of a `w`×`h` probability map: rotated text boxes in map pixels.
pub fn db_boxes(prob: &[f32], w: usize, h: usize, cfg: &OcrConfig) -> Vec<RotatedRect> {
    let bitmap = GrayImage::from_fn(w as u32, h as u32, |x, y| {
        Luma([if prob[y as usize * w + x as usize] > cfg.det_threshold {
            255
        } else {
            0
        }])
    });
    let mut boxes = Vec::new();
    for contour in find_contours::<i32>(&bitmap) {
        if contour.border_type != BorderType::Outer || contour.points.len() < 3 {
            continue;
        }
        let pts: Vec<IpPoint<f64>> = contour
            .points
            .iter()
            .map(|p| IpPoint::new(p.x as f64, p.y as f64))
            .collect();
        let c = min_area_rect(&pts);
        let rect = RotatedRect::from_corners(c.map(|p| (p.x as f32, p.y as f32)));
        if rect.w.min(rect.h) < cfg.min_box_side {
            continue;
        }
        if mean_inside(prob, w, h, &rect) < cfg.box_threshold {
            continue;
        }
        let d = rect.w * rect.h * cfg.unclip_ratio / (2.0 * (rect.w + rect.h));
        let grown = rect.grown(d);
        if grown.w.min(grown.h) < cfg.min_box_side + 2.0 {
            continue;
        }
        boxes.push(grown);
    }
    boxes
}

/// Mean of the map over the pixels whose centre lies in `r`.
fn mean_inside(prob: &[f32], w: usize, h: usize, r: &RotatedRect) -> f32 {
    let b = r.bbox();
    let x0 = b.x.floor().max(0.0) as usize;
    let y0 = b.y.floor().max(0.0) as usize;
    let x1 = ((b.x + b.w).ceil() as usize).min(w.saturating_sub(1));
    let y1 = ((b.y + b.h).ceil() as usize).min(h.saturating_sub(1));
    let (mut sum, mut n) = (0f32, 0u32);
    for y in y0..=y1 {
        for x in x0..=x1 {
            if r.contains(x as f32, y as f32) {
                sum += prob[y * w + x];
                n += 1;
            }
        }
    }
    if n == 0 {
        0.0
    } else {
        sum / n as f32
    }
}

/// The line in `r` cut out upright and scaled to height 48 (width proportional, at most
/// `max_width`).
pub fn crop_line(img: &RgbImage, r: &RotatedRect, max_width: u32) -> RgbImage {
    let cw = r.w.round().max(1.0) as u32;
    let ch = r.h.round().max(1.0) as u32;
    let upright = warp_affine(img, &r.upright(cw as f32, ch as f32), cw, ch);
    let width = ((cw as f32 * REC_HEIGHT as f32 / ch as f32).ceil() as u32).clamp(1, max_width);
    imageops::resize(&upright, width, REC_HEIGHT, FilterType::Triangle)
}

/// Greedy CTC over a `T`×`C` matrix of per-step class probabilities (`charset[0]` = blank,
/// the last class = space): the best class per step, repeats collapsed, blanks dropped.
///
/// Space re-insertion: between two emitted characters, if the space class's probability in
/// a step between them exceeds `space_threshold`, a space is inserted (PP-OCRv4 often lets
/// the blank win over the space between upper-case words). On a line where the model did
/// emit spaces itself it is not dropping them, so only a ten times likelier space is
/// re-inserted there (wide letter spacing otherwise splits words: `Pal lavi`).
///
/// Returns the text (trimmed, single spaces) and the mean probability of the emitted
/// characters (0 when nothing was read).
pub fn ctc_decode(
    probs: ArrayView2<f32>,
    charset: &[String],
    space_threshold: f32,
) -> (String, f32) {
    let space = charset.len() - 1;
    // Emitted tokens: a character (with the best space probability in the gap before it), or
    // a space the model emitted.
    enum Tok {
        Char(usize, f32),
        Space,
    }
    let mut toks = Vec::new();
    let mut confs = Vec::new();
    let mut prev = 0usize;
    let mut gap_space = 0f32;
    for row in probs.outer_iter() {
        let (best, p) = argmax(row);
        if best != 0 && best != prev {
            if best == space {
                toks.push(Tok::Space);
            } else {
                toks.push(Tok::Char(best, gap_space));
                confs.push(p);
            }
            gap_space = 0.0;
        } else if best == 0 {
            // A blank: part of the gap before the next character.
            gap_space = gap_space.max(row.get(space).copied().unwrap_or(0.0));
        }
        prev = best;
    }
    let emits_spaces = toks.iter().any(|t| matches!(t, Tok::Space));
    let threshold = if emits_spaces {
        10.0 * space_threshold
    } else {
        space_threshold
    };
    let mut text = String::new();
    for t in toks {
        let (ch, space_before) = match t {
            Tok::Space => (None, true),
            Tok::Char(c, gap) => (Some(c), gap > threshold),
        };
        if space_before && !text.is_empty() && !text.ends_with(' ') {
            text.push(' ');
        }
        if let Some(s) = ch.and_then(|c| charset.get(c)) {
            text.push_str(s);
        }
    }
    let text = text.trim_end().to_string();
    let conf = if confs.is_empty() {
        0.0
    } else {
        confs.iter().sum::<f32>() / confs.len() as f32
    };
    (text, conf)
}

/// Index and value of the largest element (the first of equals); `(0, -inf)` when empty.
fn argmax(row: ndarray::ArrayView1<f32>) -> (usize, f32) {
    let mut best = (0, f32::NEG_INFINITY);
    match row.as_slice() {
        Some(xs) => {
            for (i, &v) in xs.iter().enumerate() {
                if v > best.1 {
                    best = (i, v);
                }
            }
        }
        None => {
            for (i, &v) in row.iter().enumerate() {
                if v > best.1 {
                    best = (i, v);
                }
            }
        }
    }
    best
}

/// Reading order of boxes: rows top to bottom, each left to right. Positions are measured
/// along the dominant text angle (the median angle of the line-shaped boxes), so the rows of
/// a tilted page are not interleaved. Two boxes are on the same row when their centres are
/// less than half the smaller box height apart across the text direction.
pub fn reading_order(boxes: &[RotatedRect]) -> Vec<usize> {
    let mut angles: Vec<f32> = boxes
        .iter()
        .filter(|b| b.w > 2.0 * b.h)
        .map(|b| b.angle)
        .collect();
    angles.sort_by(f32::total_cmp);
    let theta = if angles.is_empty() {
        0.0
    } else {
        angles[angles.len() / 2]
    };
    let (s, c) = theta.sin_cos();
    // (along, across) the text direction.
    let pos: Vec<(f32, f32)> = boxes
        .iter()
        .map(|b| (b.cx * c + b.cy * s, -b.cx * s + b.cy * c))
        .collect();
    let mut idx: Vec<usize> = (0..boxes.len()).collect();
    idx.sort_by(|&a, &b| pos[a].1.total_cmp(&pos[b].1));
    let mut rows: Vec<Vec<usize>> = Vec::new();
    for i in idx {
        match rows.last_mut() {
            Some(row)
                if {
                    let first = row[0];
                    (pos[i].1 - pos[first].1).abs() < 0.5 * boxes[i].h.min(boxes[first].h)
                } =>
            {
                row.push(i)
            }
            _ => rows.push(vec![i]),
        }
    }
    rows.into_iter()
        .flat_map(|mut row| {
            row.sort_by(|&a, &b| pos[a].0.total_cmp(&pos[b].0));
            row
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;

    fn charset() -> Vec<String> {
        charset_from_dictionary("A\nB\nC\n1\n")
    }

    /// A probability matrix where step t's best class is `seq[t]` with probability 0.9, and
    /// the space class gets `space[t]`.
    fn steps(seq: &[usize], space: &[f32]) -> Array2<f32> {
        let cs = charset();
        let mut m = Array2::<f32>::from_elem((seq.len(), cs.len()), 0.001);
        for (t, &k) in seq.iter().enumerate() {
            m[[t, k]] = 0.9;
            if k != cs.len() - 1 {
                m[[t, cs.len() - 1]] = space.get(t).copied().unwrap_or(0.0);
            }
        }
        m
    }

    #[test]
    fn dictionary_gets_blank_first_and_space_last() {
        let cs = charset();
        assert_eq!(cs, vec!["", "A", "B", "C", "1", " "]);
        assert_eq!(charset_from_dictionary("x\r\ny").len(), 4);
    }

    #[test]
    fn ctc_collapses_repeats_and_drops_blanks() {
        let cs = charset();
        // A A _ A B B _ _ C  → "AABC"
        let m = steps(&[1, 1, 0, 1, 2, 2, 0, 0, 3], &[]);
        let (text, conf) = ctc_decode(m.view(), &cs, 0.015);
        assert_eq!(text, "AABC");
        assert!((conf - 0.9).abs() < 1e-6);
        let (empty, conf) = ctc_decode(steps(&[0, 0, 0], &[]).view(), &cs, 0.015);
        assert_eq!((empty.as_str(), conf), ("", 0.0));
    }

    #[test]
    fn ctc_emits_real_spaces_once_and_trims() {
        let cs = charset();
        let sp = cs.len() - 1;
        let (text, _) = ctc_decode(
            steps(&[sp, 1, sp, sp, 0, sp, 2, sp], &[]).view(),
            &cs,
            0.015,
        );
        assert_eq!(text, "A B");
    }

    #[test]
    fn ctc_reinserts_a_likely_space_in_a_blank_gap() {
        let cs = charset();
        // A _ _ B: the gap's space probability decides.
        let seq = [1, 0, 0, 2];
        let (with, _) = ctc_decode(steps(&seq, &[0.0, 0.02, 0.01, 0.0]).view(), &cs, 0.015);
        assert_eq!(with, "A B");
        let (without, _) = ctc_decode(steps(&seq, &[0.0, 0.01, 0.01, 0.0]).view(), &cs, 0.015);
        assert_eq!(without, "AB");
        // On a line with spaces of its own, a faint gap space is not enough.
        let sp = cs.len() - 1;
        let (mixed, _) = ctc_decode(
            steps(&[1, 0, 2, sp, 3], &[0.0, 0.05, 0.0, 0.0, 0.0]).view(),
            &cs,
            0.015,
        );
        assert_eq!(mixed, "AB C");
        let (strong, _) = ctc_decode(
            steps(&[1, 0, 2, sp, 3], &[0.0, 0.3, 0.0, 0.0, 0.0]).view(),
            &cs,
            0.015,
        );
        assert_eq!(strong, "A B C");
        // Nothing is inserted before the first character.
        let (lead, _) = ctc_decode(steps(&[0, 1], &[0.5, 0.0]).view(), &cs, 0.015);
        assert_eq!(lead, "A");
    }

    fn rect(cx: f32, cy: f32, w: f32, h: f32, deg: f32) -> RotatedRect {
        RotatedRect {
            cx,
            cy,
            w,
            h,
            angle: deg.to_radians(),
        }
    }

    #[test]
    fn rotated_rect_from_corners_takes_the_flatter_side_as_width() {
        let r = rect(100.0, 50.0, 120.0, 20.0, 3.0);
        for rot in 0..4 {
            let mut c = r.corners();
            c.rotate_left(rot);
            let back = RotatedRect::from_corners(c);
            assert!(
                (back.w - 120.0).abs() < 1e-3 && (back.h - 20.0).abs() < 1e-3,
                "{back:?}"
            );
            assert!(
                (back.angle - r.angle).abs() < 1e-4 && (back.cx - 100.0).abs() < 1e-3,
                "{back:?}"
            );
        }
        assert!(r.contains(100.0 + 55.0 * r.angle.cos(), 50.0 + 55.0 * r.angle.sin()));
        assert!(!r.contains(100.0, 50.0 + 15.0));
    }

    #[test]
    fn reading_order_rows_then_columns() {
        // Two rows of two boxes plus a lone line below, given shuffled.
        let boxes = [
            rect(300.0, 52.0, 100.0, 20.0, 0.0),
            rect(500.0, 200.0, 400.0, 24.0, 0.0),
            rect(80.0, 50.0, 100.0, 20.0, 0.0),
            rect(90.0, 100.0, 100.0, 20.0, 0.0),
            rect(310.0, 98.0, 100.0, 20.0, 0.0),
        ];
        assert_eq!(reading_order(&boxes), vec![2, 0, 3, 4, 1]);
        assert!(reading_order(&[]).is_empty());
    }

    #[test]
    fn reading_order_follows_a_tilted_page() {
        // A page rotated by 4°: the right end of row 1 is lower than the left end of row 2
        // would be in plain y order.
        let th = 4f32.to_radians();
        let place = |x: f32, y: f32| {
            let (s, c) = th.sin_cos();
            rect(x * c - y * s, x * s + y * c, 150.0, 24.0, 4.0)
        };
        let boxes = [
            place(800.0, 100.0),
            place(100.0, 140.0),
            place(100.0, 100.0),
            place(800.0, 140.0),
        ];
        assert!(
            boxes[0].cy > boxes[1].cy,
            "the test needs the tilt to matter"
        );
        assert_eq!(reading_order(&boxes), vec![2, 0, 1, 3]);
    }

    #[test]
    fn db_finds_a_tilted_bar_and_grows_it() {
        let (w, h) = (200usize, 100usize);
        let bar = rect(100.0, 50.0, 120.0, 14.0, 3.0);
        let prob: Vec<f32> = (0..w * h)
            .map(|i| {
                if bar.contains((i % w) as f32, (i / w) as f32) {
                    0.9
                } else {
                    0.02
                }
            })
            .collect();
        let boxes = db_boxes(&prob, w, h, &OcrConfig::default());
        assert_eq!(boxes.len(), 1, "{boxes:?}");
        let b = boxes[0];
        assert!((b.angle.to_degrees() - 3.0).abs() < 1.0, "{b:?}");
        assert!(
            (b.cx - 100.0).abs() < 1.5 && (b.cy - 50.0).abs() < 1.5,
            "{b:?}"
        );
        // Grown by area·1.6/perimeter ≈ 10 px a side.
        assert!(b.w > 130.0 && b.h > 25.0 && b.h < 45.0, "{b:?}");
        // Faint regions are not text.
        let faint: Vec<f32> = prob
            .iter()
            .map(|&p| if p > 0.5 { 0.35 } else { p })
            .collect();
        assert!(db_boxes(&faint, w, h, &OcrConfig::default()).is_empty());
    }

    #[test]
    fn crop_line_straightens_a_tilted_line() {
        // A dark tilted bar on white: the upright crop is dark in the middle row throughout.
        let bar = rect(150.0, 80.0, 200.0, 30.0, -3.0);
        let img = RgbImage::from_fn(300, 160, |x, y| {
            if bar.contains(x as f32, y as f32) {
                image::Rgb([0, 0, 0])
            } else {
                image::Rgb([255, 255, 255])
            }
        });
        let crop = crop_line(&img, &bar.grown(6.0), 1600);
        assert_eq!(crop.height(), 48);
        let mid = 24;
        let dark = (8..crop.width() - 8)
            .filter(|&x| crop.get_pixel(x, mid)[0] < 60)
            .count();
        assert!(
            dark as u32 >= crop.width() - 16 - 2,
            "{dark} of {}",
            crop.width()
        );
        assert!(crop.get_pixel(crop.width() / 2, 2)[0] > 200);
    }
}
