//! Small geometry: points, boxes, 2-D similarity transforms (least squares, Umeyama) and
//! bilinear affine warping into a fixed-size output. [`Point`] and [`BBox`] are the domain's
//! (a case records where a face was found), re-exported here.

use image::RgbImage;

pub use vkyc_domain::geometry::{BBox, Point};

/// A 2×3 affine matrix `[a b tx; c d ty]` mapping source → destination.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Affine(pub [f32; 6]);

impl Affine {
    pub fn apply(&self, p: Point) -> Point {
        let m = &self.0;
        Point::new(
            m[0] * p.x + m[1] * p.y + m[2],
            m[3] * p.x + m[4] * p.y + m[5],
        )
    }

    pub fn invert(&self) -> Option<Affine> {
        let [a, b, tx, c, d, ty] = self.0;
        let det = a * d - b * c;
        if det.abs() < 1e-9 {
            return None;
        }
        let (ia, ib, ic, id) = (d / det, -b / det, -c / det, a / det);
        Some(Affine([
            ia,
            ib,
            -(ia * tx + ib * ty),
            ic,
            id,
            -(ic * tx + id * ty),
        ]))
    }

    /// The least-squares similarity (rotation, uniform scale, translation) taking `src` onto
    /// `dst` (Umeyama 1991, 2-D, no reflection).
    pub fn similarity(src: &[Point], dst: &[Point]) -> Option<Affine> {
        let n = src.len().min(dst.len());
        if n < 2 {
            return None;
        }
        let nf = n as f64;
        let (mut sx, mut sy, mut dx, mut dy) = (0f64, 0f64, 0f64, 0f64);
        for i in 0..n {
            sx += src[i].x as f64;
            sy += src[i].y as f64;
            dx += dst[i].x as f64;
            dy += dst[i].y as f64;
        }
        let (sx, sy, dx, dy) = (sx / nf, sy / nf, dx / nf, dy / nf);
        // With centred points, the optimal similarity is [a -b; b a] with
        // a = Σ(s·d)/Σ|s|², b = Σ(s×d)/Σ|s|².
        let (mut num_a, mut num_b, mut den) = (0f64, 0f64, 0f64);
        for i in 0..n {
            let (px, py) = (src[i].x as f64 - sx, src[i].y as f64 - sy);
            let (qx, qy) = (dst[i].x as f64 - dx, dst[i].y as f64 - dy);
            num_a += px * qx + py * qy;
            num_b += px * qy - py * qx;
            den += px * px + py * py;
        }
        if den < 1e-12 {
            return None;
        }
        let a = num_a / den;
        let b = num_b / den;
        let tx = dx - (a * sx - b * sy);
        let ty = dy - (b * sx + a * sy);
        Some(Affine([
            a as f32, -b as f32, tx as f32, b as f32, a as f32, ty as f32,
        ]))
    }
}

/// Warps `src` by `m` (source → destination) into a `w`×`h` image, bilinear, black outside.
pub fn warp_affine(src: &RgbImage, m: &Affine, w: u32, h: u32) -> RgbImage {
    let inv = m.invert().unwrap_or(Affine([1.0, 0.0, 0.0, 0.0, 1.0, 0.0]));
    let (sw, sh) = (src.width() as i64, src.height() as i64);
    let raw = src.as_raw();
    let mut out = RgbImage::new(w, h);
    for y in 0..h {
        for x in 0..w {
            let p = inv.apply(Point::new(x as f32, y as f32));
            let (fx, fy) = (p.x.floor(), p.y.floor());
            let (x0, y0) = (fx as i64, fy as i64);
            let (ax, ay) = (p.x - fx, p.y - fy);
            let mut acc = [0f32; 3];
            for (dy, wy) in [(0i64, 1.0 - ay), (1, ay)] {
                for (dx, wx) in [(0i64, 1.0 - ax), (1, ax)] {
                    let (xx, yy) = (x0 + dx, y0 + dy);
                    if xx < 0 || yy < 0 || xx >= sw || yy >= sh {
                        continue;
                    }
                    let i = ((yy * sw + xx) * 3) as usize;
                    let wgt = wx * wy;
                    acc[0] += raw[i] as f32 * wgt;
                    acc[1] += raw[i + 1] as f32 * wgt;
                    acc[2] += raw[i + 2] as f32 * wgt;
                }
            }
            out.put_pixel(
                x,
                y,
                image::Rgb([
                    acc[0].round() as u8,
                    acc[1].round() as u8,
                    acc[2].round() as u8,
                ]),
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn similarity_recovers_a_known_transform() {
        let (s, th, tx, ty) = (1.7f32, 0.3f32, 12.0f32, -4.0f32);
        let truth = Affine([
            s * th.cos(),
            -s * th.sin(),
            tx,
            s * th.sin(),
            s * th.cos(),
            ty,
        ]);
        let src: Vec<Point> = [(1.0, 2.0), (10.0, 3.0), (5.0, 9.0), (2.0, 14.0)]
            .iter()
            .map(|&(x, y)| Point::new(x, y))
            .collect();
        let dst: Vec<Point> = src.iter().map(|&p| truth.apply(p)).collect();
        let m = Affine::similarity(&src, &dst).unwrap();
        for (a, b) in m.0.iter().zip(truth.0.iter()) {
            assert!((a - b).abs() < 1e-3, "{m:?} vs {truth:?}");
        }
        let back = m.invert().unwrap().apply(dst[2]);
        assert!(back.dist(src[2]) < 1e-3);
    }

    #[test]
    fn iou_of_boxes() {
        let a = BBox {
            x: 0.0,
            y: 0.0,
            w: 10.0,
            h: 10.0,
        };
        let b = BBox {
            x: 5.0,
            y: 0.0,
            w: 10.0,
            h: 10.0,
        };
        assert!((a.iou(&b) - 50.0 / 150.0).abs() < 1e-6);
        assert_eq!(
            a.iou(&BBox {
                x: 20.0,
                y: 20.0,
                w: 1.0,
                h: 1.0
            }),
            0.0
        );
    }
}
