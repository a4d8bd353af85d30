//! Synthetic head movements from one face photo, for testing the active liveness challenge.
//!
//! The liveness check estimates head pose from the five facial landmarks (eyes, nose tip,
//! mouth corners): when a real head turns, the nose tip — which sticks out towards the
//! camera — moves across the face further than the eyes and mouth do. A flat 2-D rotation
//! or a perspective warp of a photo moves all points of the face together, so it cannot
//! fake that. This module makes a **2.5-D warp** instead:
//!
//! - **Depth model.** The head is an ellipsoid centred on the face box `(x, y, w, h)` with
//!   semi-axes `rx = 0.55·w`, `ry = 0.5·h`, `rz = 1.2·rx` by default ([`HeadParams`]; the
//!   default is deeper than a first guess of `ry = 0.65·h`, `rz = 0.8·rx` would be — see
//!   there why), plus a Gaussian bump for the nose centred on the nose-tip landmark (height
//!   `0.35·rx`, sigma `0.12·w`). Near the rim (from 0.8× the ellipse outwards) the ellipsoid
//!   profile is continued by a monotone cubic that reaches zero with zero slope at 1.475×
//!   the ellipse and is never steeper than the ellipsoid at 0.8×, so depth has no vertical
//!   walls: it is 0 outside the head and the warp is continuous, without tearing. (It does
//!   fold — the far side turning out of sight — beyond ~0.55 rad of yaw and ~0.65 rad of
//!   pitch with the default head; the renderer handles that.)
//! - **Rotation.** A surface point `(X, Y, Z) = (x − cx, y − cy, z(x, y))` is rotated by yaw θ
//!   about the vertical axis through the head centre, then by pitch φ about the horizontal
//!   axis, and projected orthographically:
//!   `x' = cx + X·cosθ + Z·sinθ`, `Z₁ = −X·sinθ + Z·cosθ`, `y' = cy + Y·cosφ + Z₁·sinφ`.
//!   That displacement `D(p) = p' − p` is faded out by a smooth weight outside the head (1
//!   inside 1.1× the ellipse, 0 beyond 2×), so the background stays where it is.
//! - **Rendering** is by inverse mapping — every output pixel is sampled (bilinearly) at the
//!   photo position that lands on it — but the positions are not found by solving
//!   `p + D(p) = p'` per pixel with a fixed-point iteration: beyond about 0.55 rad (default
//!   head) the far cheek folds behind the front of the face, the equation has three
//!   solutions there and the iteration lands on any of them (tried: speckled, torn bands
//!   along the far cheek at 0.7 rad). Instead a mesh of the photo (vertices ≤ 4 px apart) is warped
//!   forward and rasterised with a depth buffer, so each output pixel gets the source
//!   position of the front-most surface over it, interpolated linearly inside a triangle
//!   (< 0.1 px from the exact map). A 640×480 frame takes a few ms.
//!
//! What a landmark detector makes of the frames is another matter: the forward map moves
//! the landmark *points* as a real head would (see [`forward_landmarks`]), but YuNet places
//! its landmarks largely from the face's outline and shading, so on rendered frames it
//! reports less movement than that, least for looking up. Measured on six test photos
//! (eight frames: 640×480 composites and two full-size photos), as the largest change of
//! the liveness module's yaw/pitch ratios over each move, against its 0.09 threshold: at an
//! amplitude of 0.5 rad 26 of 32 moves register with the default head (look-up misses 5,
//! with changes of 0.03–0.09), 13 of 32 with [`HeadParams::FLAT`]; at 0.6 rad 30 of 32.
//! Use 0.5–0.6 rad; above ~0.65 rad looking down folds the mouth under the nose.
//!
//! # Sign conventions
//!
//! Image coordinates: x to the right, y down, an **un-mirrored** camera frame (as the
//! camera sends it, not a selfie preview).
//!
//! - Positive `yaw_rad` moves the nose tip towards the image's **right** (x increasing).
//!   That is [`Move::TurnLeft`]: the person turns to *their* left. [`Move::TurnRight`] is
//!   negative yaw (nose towards the image's left).
//! - Positive `pitch_rad` moves the nose tip **down** in the image (towards the mouth):
//!   [`Move::LookDown`]. [`Move::LookUp`] is negative pitch (nose tip moves up, towards the
//!   eyes).
//!
//! [`challenge_frames`] turns a list of [`Move`]s into a smooth frame sequence;
//! [`still_frames`] is the "photo held up to the camera" attack (no movement at all).

use image::{Rgb, RgbImage};
use serde::{Deserialize, Serialize};

/// Where the face is in the photo, in image pixels, as the face detector reports it.
/// `bbox` is `(x, y, w, h)`; `landmarks` are, in this order: the eye on the image's left,
/// the eye on the image's right, the nose tip, the mouth corner on the image's left, the
/// mouth corner on the image's right.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FaceGeometry {
    pub bbox: (f32, f32, f32, f32),
    pub landmarks: [(f32, f32); 5],
}

/// One head movement of the active liveness challenge (see the module doc for the signs).
pub use vkyc_domain::Move;

/// Shape of the head model, relative to the face box `(x, y, w, h)`: semi-axes
/// `rx = 0.5·w·width_scale`, `ry = 0.5·h·height_scale`, `rz = depth·rx`, and a Gaussian nose
/// bump of height `nose_height·rx` and sigma `nose_sigma·w` at the nose-tip landmark.
///
/// The default is a **deep** head (`depth` 1.2, `height_scale` 1.0) rather than the flatter
/// `depth` 0.8, `height_scale` 1.3 one might start from: anatomically the eyes sit ~8 cm in
/// front of the neck's yaw axis against a half face width of ~7 cm, and, measured with YuNet
/// on rendered 640×480 frames of six test photos, the flat head's turns and tilts are mostly
/// *not* seen by the detector (it places the nose largely from the face outline, so the
/// features have to move relative to the outline). See [`HeadParams::FLAT`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct HeadParams {
    pub width_scale: f32,
    pub height_scale: f32,
    pub depth: f32,
    pub nose_height: f32,
    pub nose_sigma: f32,
}

impl HeadParams {
    /// The flatter head (`rz = 0.8·rx`, `ry = 0.65·h`): frames look a little more natural in
    /// pitch, but YuNet registers only 13 of 32 test moves at 0.5 rad (see the module doc).
    pub const FLAT: HeadParams = HeadParams {
        width_scale: 1.1,
        height_scale: 1.3,
        depth: 0.8,
        nose_height: 0.35,
        nose_sigma: 0.12,
    };
    /// The default (see the type's doc).
    pub const DEEP: HeadParams = HeadParams {
        width_scale: 1.1,
        height_scale: 1.0,
        depth: 1.2,
        nose_height: 0.35,
        nose_sigma: 0.12,
    };
}

impl Default for HeadParams {
    fn default() -> Self {
        Self::DEEP
    }
}

// Depth-profile constants (in units of the normalised ellipse radius u).
/// Below this u the profile is the exact ellipsoid `sqrt(1 − u²)`.
const RIM_START: f32 = 0.8;
/// Where the rim cubic reaches zero depth (with zero slope): `RIM_START + 1.5·p0/s0` with
/// `p0 = sqrt(1 − RIM_START²)` = 0.6 and the ellipsoid slope there `s0 = RIM_START/p0` = 4/3.
/// With that length the cubic's slope is largest at its start, so the whole profile is
/// never steeper than 4/3 (in units of rz per unit of u).
const RIM_END: f32 = 1.475;
/// The displacement is applied fully inside this u …
const WEIGHT_IN: f32 = 1.1;
/// … and fades to nothing at this u.
const WEIGHT_OUT: f32 = 2.0;

/// The 2.5-D head model built from a [`FaceGeometry`].
#[derive(Debug, Clone, Copy)]
struct HeadModel {
    cx: f32,
    cy: f32,
    inv_rx: f32,
    inv_ry: f32,
    rx: f32,
    ry: f32,
    rz: f32,
    nose: (f32, f32),
    nose_h: f32,
    inv_2sig2: f32,
}

/// Precomputed sines and cosines of one pose.
#[derive(Debug, Clone, Copy)]
struct Pose {
    cos_y: f32,
    sin_y: f32,
    cos_p: f32,
    sin_p: f32,
}

impl Pose {
    fn new(yaw: f32, pitch: f32) -> Self {
        Self {
            cos_y: yaw.cos(),
            sin_y: yaw.sin(),
            cos_p: pitch.cos(),
            sin_p: pitch.sin(),
        }
    }
}

fn smoothstep(e0: f32, e1: f32, x: f32) -> f32 {
    let t = ((x - e0) / (e1 - e0)).clamp(0.0, 1.0);
    t * t * (3.0 - 2.0 * t)
}

/// The ellipsoid profile in units of rz: `sqrt(1 − u²)` up to [`RIM_START`], then a cubic
/// Hermite that continues it with matching value and slope down to zero (zero slope) at
/// [`RIM_END`]. Monotone decreasing, C¹, max |slope| = 4/3.
fn profile(u: f32) -> f32 {
    if u <= RIM_START {
        (1.0 - u * u).max(0.0).sqrt()
    } else if u >= RIM_END {
        0.0
    } else {
        // Hermite with p1 = m1 = 0 and m0 = −1.5·p0 (in t units): h(t) = p0·(0.5t³ − 1.5t + 1),
        // h'(t) = 1.5·p0·(t² − 1), steepest at t = 0 where it matches the ellipsoid.
        let p0 = (1.0 - RIM_START * RIM_START).sqrt();
        let t = (u - RIM_START) / (RIM_END - RIM_START);
        p0 * (0.5 * t * t * t - 1.5 * t + 1.0)
    }
}

impl HeadModel {
    fn new(g: &FaceGeometry, hp: &HeadParams) -> Self {
        let (bx, by, bw, bh) = g.bbox;
        let bw = bw.max(1.0);
        let bh = bh.max(1.0);
        let rx = 0.5 * bw * hp.width_scale;
        let ry = 0.5 * bh * hp.height_scale;
        let rz = hp.depth * rx;
        let sigma = (hp.nose_sigma * bw).max(0.5);
        Self {
            cx: bx + 0.5 * bw,
            cy: by + 0.5 * bh,
            inv_rx: 1.0 / rx,
            inv_ry: 1.0 / ry,
            rx,
            ry,
            rz,
            nose: g.landmarks[2],
            nose_h: hp.nose_height * rx,
            inv_2sig2: 1.0 / (2.0 * sigma * sigma),
        }
    }

    /// Normalised ellipse radius of an image point.
    fn u(&self, x: f32, y: f32) -> f32 {
        let a = (x - self.cx) * self.inv_rx;
        let b = (y - self.cy) * self.inv_ry;
        (a * a + b * b).sqrt()
    }

    /// Height of the head surface above the image plane through the head centre (pixels).
    fn depth_u(&self, x: f32, y: f32, u: f32) -> f32 {
        let dx = x - self.nose.0;
        let dy = y - self.nose.1;
        let bump = self.nose_h * (-(dx * dx + dy * dy) * self.inv_2sig2).exp();
        // The nose belongs to the face: fade it out with the head so nothing sticks out of
        // the background even for odd geometry.
        let head = 1.0 - smoothstep(1.0, RIM_END, u);
        self.rz * profile(u) + bump * head
    }

    /// Where an image point goes for a pose, and its depth towards the camera there (for
    /// hiding what turns behind the head): `(x', y', depth)`.
    #[inline]
    fn warp(&self, x: f32, y: f32, pose: &Pose) -> (f32, f32, f32) {
        let u = self.u(x, y);
        if u >= WEIGHT_OUT {
            return (x, y, 0.0);
        }
        let w = 1.0 - smoothstep(WEIGHT_IN, WEIGHT_OUT, u);
        let z = self.depth_u(x, y, u);
        let xx = x - self.cx;
        let yy = y - self.cy;
        let x1 = xx * pose.cos_y + z * pose.sin_y;
        let z1 = -xx * pose.sin_y + z * pose.cos_y;
        let y2 = yy * pose.cos_p + z1 * pose.sin_p;
        let z2 = -yy * pose.sin_p + z1 * pose.cos_p;
        (x + w * (x1 - xx), y + w * (y2 - yy), z + w * (z2 - z))
    }

    /// Displacement `D(p)` of an image point for a pose: `p + D(p)` is where it appears.
    #[inline]
    fn displacement(&self, x: f32, y: f32, pose: &Pose) -> (f32, f32) {
        let (xo, yo, _) = self.warp(x, y, pose);
        (xo - x, yo - y)
    }

    /// Output-space rectangle outside which nothing moves: `(x0, y0, x1, y1)`. (Sources
    /// outside the ellipse `u < WEIGHT_OUT` do not move at all; the margin bounds how far
    /// the ones inside can.)
    fn influence_rect(&self, pose: &Pose) -> (f32, f32, f32, f32) {
        let xm = self.rx * WEIGHT_OUT;
        let ym = self.ry * WEIGHT_OUT;
        let zm = self.rz + self.nose_h;
        let mx = xm * (1.0 - pose.cos_y) + zm * pose.sin_y.abs() + 2.0;
        let my = ym * (1.0 - pose.cos_p) + (xm + zm) * pose.sin_p.abs() + 2.0;
        (
            self.cx - xm - mx,
            self.cy - ym - my,
            self.cx + xm + mx,
            self.cy + ym + my,
        )
    }
}

/// Where an image point of the photo appears after turning the head by `yaw_rad` and
/// `pitch_rad` (the forward map the renderer inverts), with the default [`HeadParams`].
/// Useful to see where the landmark detector should find a point on a rendered frame.
pub fn forward_point(
    geom: &FaceGeometry,
    p: (f32, f32),
    yaw_rad: f32,
    pitch_rad: f32,
) -> (f32, f32) {
    forward_point_with(geom, &HeadParams::default(), p, yaw_rad, pitch_rad)
}

/// [`forward_point`] with explicit head-model parameters.
pub fn forward_point_with(
    geom: &FaceGeometry,
    params: &HeadParams,
    p: (f32, f32),
    yaw_rad: f32,
    pitch_rad: f32,
) -> (f32, f32) {
    let m = HeadModel::new(geom, params);
    let (dx, dy) = m.displacement(p.0, p.1, &Pose::new(yaw_rad, pitch_rad));
    (p.0 + dx, p.1 + dy)
}

/// The five landmarks of `geom` mapped through [`forward_point_with`].
pub fn forward_landmarks(
    geom: &FaceGeometry,
    params: &HeadParams,
    yaw_rad: f32,
    pitch_rad: f32,
) -> [(f32, f32); 5] {
    geom.landmarks
        .map(|p| forward_point_with(geom, params, p, yaw_rad, pitch_rad))
}

/// Bilinear sample with edge clamping; pixel centres are at integer coordinates.
#[inline]
fn sample(img: &RgbImage, x: f32, y: f32) -> Rgb<u8> {
    let (w, h) = img.dimensions();
    let x = x.clamp(0.0, (w - 1) as f32);
    let y = y.clamp(0.0, (h - 1) as f32);
    let x0 = x.floor() as u32;
    let y0 = y.floor() as u32;
    let x1 = (x0 + 1).min(w - 1);
    let y1 = (y0 + 1).min(h - 1);
    let fx = x - x0 as f32;
    let fy = y - y0 as f32;
    let raw = img.as_raw();
    let stride = w as usize * 3;
    let at = |xx: u32, yy: u32| yy as usize * stride + xx as usize * 3;
    let (i00, i10, i01, i11) = (at(x0, y0), at(x1, y0), at(x0, y1), at(x1, y1));
    let mut out = [0u8; 3];
    for (c, o) in out.iter_mut().enumerate() {
        let top = raw[i00 + c] as f32 * (1.0 - fx) + raw[i10 + c] as f32 * fx;
        let bot = raw[i01 + c] as f32 * (1.0 - fx) + raw[i11 + c] as f32 * fx;
        *o = (top * (1.0 - fy) + bot * fy + 0.5).clamp(0.0, 255.0) as u8;
    }
    Rgb(out)
}

/// The photo with the head turned by `yaw_rad` and tilted by `pitch_rad` (signs: see the
/// module doc), with the default [`HeadParams`]. Same size as the input; pixels far from
/// the head are copied unchanged.
pub fn render(photo: &RgbImage, geom: &FaceGeometry, yaw_rad: f32, pitch_rad: f32) -> RgbImage {
    render_with(photo, geom, &HeadParams::default(), yaw_rad, pitch_rad)
}

/// [`render`] with explicit head-model parameters.
pub fn render_with(
    photo: &RgbImage,
    geom: &FaceGeometry,
    params: &HeadParams,
    yaw_rad: f32,
    pitch_rad: f32,
) -> RgbImage {
    let mut out = photo.clone();
    let (w, h) = photo.dimensions();
    if w == 0 || h == 0 || (yaw_rad == 0.0 && pitch_rad == 0.0) {
        return out;
    }
    let model = HeadModel::new(geom, params);
    let pose = Pose::new(yaw_rad, pitch_rad);
    let Some(map) = source_map(&model, &pose, w, h, mesh_step(geom)) else {
        return out;
    };
    for y in 0..map.h {
        for x in 0..map.w {
            if let Some((sx, sy)) = map.src[y * map.w + x] {
                out.put_pixel(map.x0 + x as u32, map.y0 + y as u32, sample(photo, sx, sy));
            }
        }
    }
    out
}

/// Mesh spacing: ≤ 1/50 of the face width (the map's curvature scales with the face), so
/// linear interpolation stays within 0.1 px of the exact map; 1 to 4 px.
fn mesh_step(geom: &FaceGeometry) -> f32 {
    (0.02 * geom.bbox.2).floor().clamp(1.0, 4.0)
}

/// For the output pixels that can change (a rectangle at `(x0, y0)` of `w × h`), where in
/// the photo each one comes from; `None` where nothing moved onto the pixel.
struct SourceMap {
    x0: u32,
    y0: u32,
    w: usize,
    h: usize,
    src: Vec<Option<(f32, f32)>>,
}

/// Inverse mapping by forward-warping a mesh of the photo (vertices `step` px apart) and
/// rasterising it with a depth buffer: every output pixel gets the source position of the
/// front-most surface over it, linearly interpolated inside each triangle. Unlike solving
/// `p + D(p) = p'` per pixel, this stays right where the far side of the head folds behind
/// the near side (beyond ~0.55 rad with the default head): what is hidden is hidden.
fn source_map(model: &HeadModel, pose: &Pose, w: u32, h: u32, step: f32) -> Option<SourceMap> {
    // Output pixels that can change.
    let (rx0, ry0, rx1, ry1) = model.influence_rect(pose);
    let ox0 = rx0.floor().max(0.0) as u32;
    let oy0 = ry0.floor().max(0.0) as u32;
    let ox1 = (rx1.ceil().max(0.0) as u32).min(w);
    let oy1 = (ry1.ceil().max(0.0) as u32).min(h);
    if ox0 >= ox1 || oy0 >= oy1 {
        return None;
    }
    let (ow, oh) = ((ox1 - ox0) as usize, (oy1 - oy0) as usize);
    // Source mesh: the part of the moving ellipse that can land in the picture (its points
    // move by less than the influence margin), vertices `step` px apart.
    let (mx, my) = (rx1 - rx0, ry1 - ry0); // generous bound on any displacement
    let sx0 = (model.cx - model.rx * WEIGHT_OUT).max(-mx).floor();
    let sy0 = (model.cy - model.ry * WEIGHT_OUT).max(-my).floor();
    let sx1 = (model.cx + model.rx * WEIGHT_OUT).min(w as f32 + mx).ceil();
    let sy1 = (model.cy + model.ry * WEIGHT_OUT).min(h as f32 + my).ceil();
    if sx0 >= sx1 || sy0 >= sy1 {
        return None;
    }
    let nx = ((sx1 - sx0) / step).ceil() as usize + 1;
    let ny = ((sy1 - sy0) / step).ceil() as usize + 1;
    // Vertices: source position, warped position and depth.
    let mut verts = Vec::with_capacity(nx * ny);
    for j in 0..ny {
        let y = sy0 + j as f32 * step;
        for i in 0..nx {
            let x = sx0 + i as f32 * step;
            let (xo, yo, z) = model.warp(x, y, pose);
            verts.push(Vertex {
                sx: x,
                sy: y,
                x: xo,
                y: yo,
                z,
            });
        }
    }
    // Rasterise the warped mesh with a depth buffer: each covered output pixel gets the
    // source position of the front-most surface over it.
    let mut depth = vec![f32::NEG_INFINITY; ow * oh];
    let mut src = vec![(0.0f32, 0.0f32); ow * oh];
    let clip = (ox0 as f32, oy0 as f32, (ox1 - 1) as f32, (oy1 - 1) as f32);
    for j in 0..ny - 1 {
        for i in 0..nx - 1 {
            let a = &verts[j * nx + i];
            let b = &verts[j * nx + i + 1];
            let c = &verts[(j + 1) * nx + i + 1];
            let d = &verts[(j + 1) * nx + i];
            if [a, b, c, d].iter().all(|v| v.x == v.sx && v.y == v.sy) {
                continue; // unmoved quad: `out` already holds the photo there
            }
            for tri in [[a, b, c], [a, c, d]] {
                raster_triangle(tri, clip, |px, py, sx, sy, z| {
                    let k = (py - oy0) as usize * ow + (px - ox0) as usize;
                    if z > depth[k] {
                        depth[k] = z;
                        src[k] = (sx, sy);
                    }
                });
            }
        }
    }
    let src = depth
        .iter()
        .zip(src)
        .map(|(&z, s)| (z > f32::NEG_INFINITY).then_some(s))
        .collect();
    Some(SourceMap {
        x0: ox0,
        y0: oy0,
        w: ow,
        h: oh,
        src,
    })
}

/// A mesh vertex: source position, warped position, depth towards the camera.
#[derive(Debug, Clone, Copy)]
struct Vertex {
    sx: f32,
    sy: f32,
    x: f32,
    y: f32,
    z: f32,
}

/// Calls `f(px, py, src_x, src_y, depth)` for every pixel centre inside the warped
/// triangle (within `clip` = `(x0, y0, x1, y1)`, inclusive), with the source position and
/// depth interpolated linearly. Triangles facing away (the middle layer of a fold, where
/// the surface turns behind itself) and degenerate ones are skipped. Pixel centres on a
/// shared edge go to both triangles, so the mesh leaves no cracks.
#[inline]
fn raster_triangle(
    t: [&Vertex; 3],
    clip: (f32, f32, f32, f32),
    mut f: impl FnMut(u32, u32, f32, f32, f32),
) {
    let [a, b, c] = t;
    let area = (b.x - a.x) * (c.y - a.y) - (b.y - a.y) * (c.x - a.x);
    if area <= 1e-6 {
        return;
    }
    let inv = 1.0 / area;
    let x0 = a.x.min(b.x).min(c.x).ceil().max(clip.0);
    let x1 = a.x.max(b.x).max(c.x).floor().min(clip.2);
    let y0 = a.y.min(b.y).min(c.y).ceil().max(clip.1);
    let y1 = a.y.max(b.y).max(c.y).floor().min(clip.3);
    if x0 > x1 || y0 > y1 {
        return;
    }
    let eps = -1e-5;
    let mut py = y0;
    while py <= y1 {
        let mut px = x0;
        while px <= x1 {
            // Barycentric weights of a, b, c.
            let wa = ((b.x - px) * (c.y - py) - (b.y - py) * (c.x - px)) * inv;
            let wb = ((c.x - px) * (a.y - py) - (c.y - py) * (a.x - px)) * inv;
            let wc = 1.0 - wa - wb;
            if wa >= eps && wb >= eps && wc >= eps {
                let sx = wa * a.sx + wb * b.sx + wc * c.sx;
                let sy = wa * a.sy + wb * b.sy + wc * c.sy;
                let z = wa * a.z + wb * b.z + wc * c.z;
                f(px as u32, py as u32, sx, sy, z);
            }
            px += 1.0;
        }
        py += 1.0;
    }
}

/// Ease-out-and-back envelope of one move over `t ∈ [0, 1]`: 0 at both ends, 1 in the
/// middle 30 % (a short hold at the full amplitude), smoothstep ramps, C¹ throughout.
fn envelope(t: f32) -> f32 {
    const RAMP: f32 = 0.35;
    if t <= RAMP {
        smoothstep(0.0, RAMP, t)
    } else if t >= 1.0 - RAMP {
        1.0 - smoothstep(1.0 - RAMP, 1.0, t)
    } else {
        1.0
    }
}

/// The `(yaw, pitch)` of every frame of [`challenge_frames`], without rendering.
pub fn challenge_angles(
    moves: &[Move],
    frames_per_move: usize,
    amplitude_rad: f32,
) -> Vec<(f32, f32)> {
    let neutral = (frames_per_move / 4).max(3);
    let mut out = vec![(0.0, 0.0); neutral];
    for &m in moves {
        let (yaw, pitch) = m.angles(amplitude_rad);
        for i in 0..frames_per_move {
            // i = 0 is the first step away from neutral, the last frame is back at neutral.
            let t = (i + 1) as f32 / frames_per_move as f32;
            let e = envelope(t);
            out.push((yaw * e, pitch * e));
        }
    }
    out
}

/// A smooth sequence: a few neutral frames (`max(3, frames_per_move / 4)`), then for each
/// move an ease out to `amplitude_rad`, a short hold, and back to neutral,
/// `frames_per_move` frames each (the last one neutral; use at least 4, 12–16 look smooth).
/// Signs: [`Move::angles`]. 0.5–0.6 rad is a good amplitude (see the module doc).
pub fn challenge_frames(
    photo: &RgbImage,
    geom: &FaceGeometry,
    moves: &[Move],
    frames_per_move: usize,
    amplitude_rad: f32,
) -> Vec<RgbImage> {
    challenge_frames_with(
        photo,
        geom,
        &HeadParams::default(),
        moves,
        frames_per_move,
        amplitude_rad,
    )
}

/// [`challenge_frames`] with explicit head-model parameters.
pub fn challenge_frames_with(
    photo: &RgbImage,
    geom: &FaceGeometry,
    params: &HeadParams,
    moves: &[Move],
    frames_per_move: usize,
    amplitude_rad: f32,
) -> Vec<RgbImage> {
    challenge_angles(moves, frames_per_move, amplitude_rad)
        .into_iter()
        .map(|(yaw, pitch)| render_with(photo, geom, params, yaw, pitch))
        .collect()
}

/// The same picture `n` times: a photo held up to the camera, which must fail the challenge.
pub fn still_frames(photo: &RgbImage, n: usize) -> Vec<RgbImage> {
    vec![photo.clone(); n]
}

/// Nose position across the eyes, `(nose.x − eyeL.x) / (eyeR.x − eyeL.x)` (≈ 0.5 frontal).
pub fn yaw_ratio(l: &[(f32, f32); 5]) -> f32 {
    (l[2].0 - l[0].0) / (l[1].0 - l[0].0)
}

/// Nose position between eyes and mouth,
/// `(nose.y − eyes_mid.y) / (mouth_mid.y − eyes_mid.y)`.
pub fn pitch_ratio(l: &[(f32, f32); 5]) -> f32 {
    let eyes = 0.5 * (l[0].1 + l[1].1);
    let mouth = 0.5 * (l[3].1 + l[4].1);
    (l[2].1 - eyes) / (mouth - eyes)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A frontal face in a 640×480 frame (proportions of a typical YuNet detection).
    fn geom() -> FaceGeometry {
        FaceGeometry {
            bbox: (250.0, 140.0, 140.0, 180.0),
            landmarks: [
                (290.0, 210.0),
                (350.0, 210.0),
                (320.0, 245.0),
                (295.0, 280.0),
                (345.0, 280.0),
            ],
        }
    }

    /// A textured test picture (smooth gradients plus a checker) so warps are visible.
    fn picture(w: u32, h: u32) -> RgbImage {
        RgbImage::from_fn(w, h, |x, y| {
            let c = if ((x / 16) + (y / 16)) % 2 == 0 {
                40
            } else {
                0
            };
            Rgb([
                (x * 255 / w) as u8 / 2 + c,
                (y * 255 / h) as u8 / 2 + c,
                128,
            ])
        })
    }

    fn dist(a: (f32, f32), b: (f32, f32)) -> f32 {
        ((a.0 - b.0).powi(2) + (a.1 - b.1).powi(2)).sqrt()
    }

    #[test]
    fn zero_rotation_is_identity() {
        let img = picture(640, 480);
        let out = render(&img, &geom(), 0.0, 0.0);
        assert_eq!(out.dimensions(), img.dimensions());
        for (a, b) in img.pixels().zip(out.pixels()) {
            for c in 0..3 {
                assert!((a[c] as i32 - b[c] as i32).abs() <= 1);
            }
        }
        // A vanishingly small rotation goes through the full warp path and is still identity.
        let out = render(&img, &geom(), 1e-6, -1e-6);
        for (a, b) in img.pixels().zip(out.pixels()) {
            for c in 0..3 {
                assert!((a[c] as i32 - b[c] as i32).abs() <= 1);
            }
        }
    }

    #[test]
    fn output_size_equals_input_size() {
        for (w, h) in [(640, 480), (100, 300), (33, 17)] {
            let img = picture(w, h);
            let out = render(&img, &geom(), 0.4, -0.3);
            assert_eq!(out.dimensions(), (w, h));
        }
    }

    #[test]
    fn profile_is_continuous_and_monotone() {
        let mut prev = profile(0.0);
        assert!((prev - 1.0).abs() < 1e-6);
        let mut u = 0.0f32;
        while u < 1.5 {
            u += 0.001;
            let v = profile(u);
            assert!(v <= prev + 1e-6, "not monotone at {u}");
            assert!(prev - v < 0.001 * 4.0 / 3.0 + 1e-4, "too steep at {u}");
            prev = v;
        }
        assert_eq!(profile(RIM_END), 0.0);
    }

    #[test]
    fn yaw_moves_nose_further_than_eyes() {
        let g = geom();
        let [el, er, nose, ml, mr] = g.landmarks;
        let d = |p| dist(forward_point(&g, p, 0.5, 0.0), p);
        // A real nose tip is ~1.4× as far in front of the neck axis as the eyes.
        assert!(d(nose) > 1.25 * d(el), "nose {} vs eye {}", d(nose), d(el));
        assert!(d(nose) > 1.25 * d(er));
        assert!(d(nose) > d(ml) && d(nose) > d(mr));
        // TurnLeft: nose to the image's right, and further right than the eye midpoint moves.
        let f = forward_landmarks(&g, &HeadParams::default(), 0.5, 0.0);
        assert!(f[2].0 > nose.0);
        assert!(yaw_ratio(&f) > yaw_ratio(&g.landmarks) + 0.1);
        let f = forward_landmarks(&g, &HeadParams::default(), -0.5, 0.0);
        assert!(yaw_ratio(&f) < yaw_ratio(&g.landmarks) - 0.1);
    }

    #[test]
    fn pitch_moves_nose_between_eyes_and_mouth() {
        let g = geom();
        let p0 = pitch_ratio(&g.landmarks);
        let down = forward_landmarks(&g, &HeadParams::default(), 0.0, 0.4);
        let up = forward_landmarks(&g, &HeadParams::default(), 0.0, -0.4);
        assert!(down[2].1 > g.landmarks[2].1 && up[2].1 < g.landmarks[2].1);
        assert!(
            pitch_ratio(&down) > p0 + 0.1,
            "{} vs {p0}",
            pitch_ratio(&down)
        );
        assert!(pitch_ratio(&up) < p0 - 0.1, "{} vs {p0}", pitch_ratio(&up));
    }

    #[test]
    fn background_stays_put() {
        let g = geom();
        for p in [(5.0, 5.0), (630.0, 20.0), (10.0, 470.0), (320.0, 475.0)] {
            assert_eq!(forward_point(&g, p, 0.5, 0.4), p);
        }
    }

    /// The rendered picture really moves a dot drawn at the nose tip to where the forward
    /// map says, and further than a dot at an eye.
    #[test]
    fn rendered_dots_follow_forward_map() {
        let g = geom();
        let mut img = RgbImage::from_pixel(640, 480, Rgb([0, 0, 0]));
        let dots = [g.landmarks[0], g.landmarks[2]];
        for (i, &(cx, cy)) in dots.iter().enumerate() {
            for y in -2..=2 {
                for x in -2..=2 {
                    let px = (cx as i32 + x) as u32;
                    let py = (cy as i32 + y) as u32;
                    img.get_pixel_mut(px, py)[i] = 255;
                }
            }
        }
        let out = render(&img, &g, 0.5, 0.0);
        for (i, &p) in dots.iter().enumerate() {
            let (mut sx, mut sy, mut n) = (0.0, 0.0, 0.0);
            for (x, y, px) in out.enumerate_pixels() {
                let v = px[i] as f32 / 255.0;
                sx += v * x as f32;
                sy += v * y as f32;
                n += v;
            }
            let c = (sx / n, sy / n);
            let want = forward_point(&g, p, 0.5, 0.0);
            assert!(dist(c, want) < 1.0, "dot {i}: {c:?} vs {want:?}");
        }
    }

    /// Every output pixel inside the moving region gets a source (the warped mesh leaves no
    /// holes), also at large angles where the far side of the head folds behind the front.
    #[test]
    fn warped_mesh_covers_the_moving_region() {
        let g = geom();
        let m = HeadModel::new(&g, &HeadParams::default());
        for (yaw, pitch) in [
            (0.5, 0.0),
            (-0.8, 0.0),
            (0.0, 0.8),
            (0.0, -0.5),
            (0.6, -0.6),
        ] {
            let pose = Pose::new(yaw, pitch);
            let map = source_map(&m, &pose, 640, 480, 2.0).expect("a moving region");
            let mut holes = Vec::new();
            for y in 0..map.h {
                for x in 0..map.w {
                    let (px, py) = ((map.x0 + x as u32) as f32, (map.y0 + y as u32) as f32);
                    // Inside the ellipse that moves, something must have landed on the pixel
                    // (points outside it stay put, so they cannot be what is seen here).
                    if m.u(px, py) < WEIGHT_OUT - 0.01 && map.src[y * map.w + x].is_none() {
                        holes.push((px, py));
                    }
                }
            }
            assert!(
                holes.is_empty(),
                "{} holes at {yaw},{pitch}, e.g. {:?}",
                holes.len(),
                &holes[..holes.len().min(5)]
            );
        }
    }

    /// The mesh's linear interpolation is close to the exact map: mapping the source found
    /// for a pixel forward lands back on that pixel.
    #[test]
    fn mesh_interpolation_is_accurate() {
        let small = geom();
        let mut large = small;
        large.bbox = (100.0, 40.0, 280.0, 360.0);
        large.landmarks = small
            .landmarks
            .map(|(x, y)| (2.0 * x - 400.0, 2.0 * y - 240.0));
        for g in [small, large] {
            let m = HeadModel::new(&g, &HeadParams::default());
            let step = mesh_step(&g);
            for (yaw, pitch) in [(0.4, 0.0), (-0.4, 0.0), (0.0, 0.4), (0.0, -0.4), (0.3, 0.3)] {
                let pose = Pose::new(yaw, pitch);
                let map = source_map(&m, &pose, 640, 480, step).unwrap();
                let mut worst = 0.0f32;
                for y in 0..map.h {
                    for x in 0..map.w {
                        if let Some(s) = map.src[y * map.w + x] {
                            let q = forward_point(&g, s, yaw, pitch);
                            let p = ((map.x0 + x as u32) as f32, (map.y0 + y as u32) as f32);
                            worst = worst.max(dist(p, q));
                        }
                    }
                }
                assert!(
                    worst < 0.1,
                    "worst {worst} px at {yaw},{pitch}, step {step}"
                );
            }
        }
    }

    /// Beyond the fold angle the nose tip is still the front-most thing where it lands, and
    /// nothing of the face is thrown far out of the head.
    #[test]
    fn large_angles_fold_cleanly() {
        let g = geom();
        let m = HeadModel::new(&g, &HeadParams::default());
        for (yaw, pitch) in [(0.8, 0.0), (-0.8, 0.0), (0.0, 0.8), (0.0, -0.8)] {
            let pose = Pose::new(yaw, pitch);
            let map = source_map(&m, &pose, 640, 480, 2.0).unwrap();
            let q = forward_point(&g, g.landmarks[2], yaw, pitch);
            let (qx, qy) = (q.0.round() as u32 - map.x0, q.1.round() as u32 - map.y0);
            let s = map.src[qy as usize * map.w + qx as usize].expect("covered");
            assert!(
                dist(s, g.landmarks[2]) < 2.0,
                "nose pixel shows {s:?} at {yaw},{pitch}"
            );
            for y in 0..map.h {
                for x in 0..map.w {
                    let (px, py) = ((map.x0 + x as u32) as f32, (map.y0 + y as u32) as f32);
                    if let Some(s) = map.src[y * map.w + x] {
                        // Face (u < 1) never lands well outside the head.
                        assert!(
                            !(m.u(s.0, s.1) < 1.0 && m.u(px, py) > 1.6),
                            "{s:?} -> {px},{py} at {yaw},{pitch}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn challenge_sequence_shape() {
        let moves = [Move::TurnLeft, Move::LookUp];
        let a = challenge_angles(&moves, 12, 0.5);
        assert_eq!(a.len(), 3 + 2 * 12);
        assert_eq!(a[0], (0.0, 0.0));
        assert_eq!(a[3 + 11], (0.0, 0.0));
        assert_eq!(*a.last().unwrap(), (0.0, 0.0));
        assert!(a[3..15].iter().any(|&(y, _)| (y - 0.5).abs() < 1e-6));
        assert!(a[15..].iter().any(|&(_, p)| (p + 0.5).abs() < 1e-6));
        // Smooth: no big jumps between frames.
        for w in a.windows(2) {
            assert!((w[1].0 - w[0].0).abs() < 0.2 && (w[1].1 - w[0].1).abs() < 0.2);
        }
        let img = picture(64, 48);
        assert_eq!(challenge_frames(&img, &geom(), &moves, 4, 0.5).len(), 3 + 8);
        assert_eq!(still_frames(&img, 5).len(), 5);
    }

    #[test]
    fn move_serde_is_snake_case() {
        assert_eq!(
            serde_json::to_string(&Move::TurnLeft).unwrap(),
            "\"turn_left\""
        );
        assert_eq!(
            serde_json::from_str::<Move>("\"look_down\"").unwrap(),
            Move::LookDown
        );
    }
}
