//! Writes a head-movement challenge sequence made from one face photo as PNGs, to look at.
//!
//! ```text
//! cargo run --release -p vkyc-loadtest --example headpose_demo -- \
//!     PHOTO  X,Y,W,H  EYE_L_X,EYE_L_Y,EYE_R_X,EYE_R_Y,NOSE_X,NOSE_Y,MOUTH_L_X,MOUTH_L_Y,MOUTH_R_X,MOUTH_R_Y \
//!     [OUT_DIR=target/headpose/demo] [AMPLITUDE_RAD=0.5] [FRAMES_PER_MOVE=16] [MOVES=turn_left,turn_right,look_up,look_down] \
//!     [flat] [depth=1.2] [height_scale=1.0] [width_scale=1.1] [nose_height=0.35] [nose_sigma=0.12]
//! ```
//!
//! The face box and landmarks are in photo pixels (what the face detector reports; "L" and
//! "R" are the image's left and right). `key=value` arguments override the head model
//! ([`HeadParams`]; `flat` starts from [`HeadParams::FLAT`] instead of the default). Besides
//! the frames it writes `peaks.png` (neutral and the four extreme poses side by side) and
//! prints, for each extreme pose, where the landmarks go and the nose ratios a head-pose
//! estimator would see: `r = (nose.x − eyeL.x)/(eyeR.x − eyeL.x)`,
//! `p = (nose.y − eyes_mid.y)/(mouth_mid.y − eyes_mid.y)`.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use image::{imageops, RgbImage};
use vkyc_loadtest::headpose::{self, FaceGeometry, HeadParams, Move};

fn numbers(s: &str, n: usize, what: &str) -> Result<Vec<f32>> {
    let v: Vec<f32> = s
        .split(',')
        .map(|t| t.trim().parse::<f32>())
        .collect::<Result<_, _>>()
        .with_context(|| format!("{what}: not a comma-separated list of numbers: {s}"))?;
    if v.len() != n {
        bail!("{what}: expected {n} numbers, got {}", v.len());
    }
    Ok(v)
}

fn main() -> Result<()> {
    let mut params = HeadParams::default();
    let mut args: Vec<String> = Vec::new();
    for a in std::env::args().skip(1) {
        if a == "flat" {
            params = HeadParams::FLAT;
            continue;
        }
        let Some((k, v)) = a.split_once('=') else {
            args.push(a);
            continue;
        };
        let v: f32 = v.parse().with_context(|| format!("{a}: not a number"))?;
        match k {
            "depth" => params.depth = v,
            "height_scale" => params.height_scale = v,
            "width_scale" => params.width_scale = v,
            "nose_height" => params.nose_height = v,
            "nose_sigma" => params.nose_sigma = v,
            _ => bail!("unknown head parameter {k}"),
        }
    }
    if args.len() < 3 {
        bail!(
            "usage: headpose_demo PHOTO X,Y,W,H EYE_L_X,EYE_L_Y,EYE_R_X,EYE_R_Y,NOSE_X,NOSE_Y,MOUTH_L_X,MOUTH_L_Y,MOUTH_R_X,MOUTH_R_Y \
             [OUT_DIR] [AMPLITUDE_RAD] [FRAMES_PER_MOVE] [MOVES]"
        );
    }
    let photo = image::open(&args[0])
        .with_context(|| format!("reading {}", args[0]))?
        .to_rgb8();
    let b = numbers(&args[1], 4, "face box")?;
    let l = numbers(&args[2], 10, "landmarks")?;
    let geom = FaceGeometry {
        bbox: (b[0], b[1], b[2], b[3]),
        landmarks: [
            (l[0], l[1]),
            (l[2], l[3]),
            (l[4], l[5]),
            (l[6], l[7]),
            (l[8], l[9]),
        ],
    };
    let out_dir = PathBuf::from(
        args.get(3)
            .map(String::as_str)
            .unwrap_or("target/headpose/demo"),
    );
    let amplitude: f32 = args.get(4).map(|s| s.parse()).transpose()?.unwrap_or(0.5);
    let per_move: usize = args.get(5).map(|s| s.parse()).transpose()?.unwrap_or(16);
    let moves: Vec<Move> = match args.get(6) {
        Some(s) => s
            .split(',')
            .map(|m| {
                serde_json::from_str(&format!("\"{}\"", m.trim()))
                    .with_context(|| format!("unknown move {m}"))
            })
            .collect::<Result<_>>()?,
        None => vec![
            Move::TurnLeft,
            Move::TurnRight,
            Move::LookUp,
            Move::LookDown,
        ],
    };
    std::fs::create_dir_all(&out_dir)?;

    println!(
        "photo {}x{}, amplitude {amplitude} rad, {params:?}",
        photo.width(),
        photo.height()
    );
    println!(
        "neutral: r = {:.3}, p = {:.3}",
        headpose::yaw_ratio(&geom.landmarks),
        headpose::pitch_ratio(&geom.landmarks)
    );
    let mut peaks = vec![photo.clone()];
    for m in [
        Move::TurnLeft,
        Move::TurnRight,
        Move::LookUp,
        Move::LookDown,
    ] {
        let (yaw, pitch) = m.angles(amplitude);
        let f = headpose::forward_landmarks(&geom, &params, yaw, pitch);
        let nose_d = ((f[2].0 - geom.landmarks[2].0).powi(2)
            + (f[2].1 - geom.landmarks[2].1).powi(2))
        .sqrt();
        let eye_d = ((f[0].0 - geom.landmarks[0].0).powi(2)
            + (f[0].1 - geom.landmarks[0].1).powi(2))
        .sqrt();
        println!(
            "{m:?} (yaw {yaw:+.2}, pitch {pitch:+.2}): r = {:.3}, p = {:.3}, nose moved {nose_d:.1} px, eye L moved {eye_d:.1} px, landmarks {:?}",
            headpose::yaw_ratio(&f),
            headpose::pitch_ratio(&f),
            f.map(|(x, y)| ((x * 10.0).round() / 10.0, (y * 10.0).round() / 10.0)),
        );
        let t = Instant::now();
        peaks.push(headpose::render_with(&photo, &geom, &params, yaw, pitch));
        println!("    rendered in {:.2} ms", t.elapsed().as_secs_f64() * 1e3);
    }

    // Contact sheet of the extremes (cropped around the head, scaled to 240 px high).
    let (bx, by, bw, bh) = geom.bbox;
    let cx0 = (bx - 0.6 * bw).max(0.0) as u32;
    let cy0 = (by - 0.5 * bh).max(0.0) as u32;
    let cw = ((2.2 * bw) as u32).min(photo.width() - cx0);
    let ch = ((2.0 * bh) as u32).min(photo.height() - cy0);
    let th = 240u32;
    let tw = (cw as f32 * th as f32 / ch as f32).round() as u32;
    let mut sheet = RgbImage::new(tw * peaks.len() as u32, th);
    for (i, p) in peaks.iter().enumerate() {
        let crop = imageops::crop_imm(p, cx0, cy0, cw, ch).to_image();
        let small = imageops::resize(&crop, tw, th, imageops::FilterType::Triangle);
        imageops::replace(&mut sheet, &small, (i as u32 * tw) as i64, 0);
    }
    sheet.save(out_dir.join("peaks.png"))?;

    let t = Instant::now();
    let frames =
        headpose::challenge_frames_with(&photo, &geom, &params, &moves, per_move, amplitude);
    let el = t.elapsed();
    println!(
        "{} frames in {:.1} ms ({:.2} ms/frame at {}x{})",
        frames.len(),
        el.as_secs_f64() * 1e3,
        el.as_secs_f64() * 1e3 / frames.len() as f64,
        photo.width(),
        photo.height()
    );
    for (i, f) in frames.iter().enumerate() {
        f.save(out_dir.join(format!("frame_{i:03}.png")))?;
    }
    println!(
        "wrote {} frames and peaks.png to {}",
        frames.len(),
        out_dir.display()
    );
    Ok(())
}
